#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# NBD block status through the plugin, request by request (nbdsh): with
# REQ_ONE exactly one extent starting at the requested offset, clipped to
# the request; without it, every extent of the range, the first one from
# the requested offset even inside an extent (unaligned too), the last
# one possibly running past the request but not past its run; ranges
# ending at the end of the image, including an image whose size is not a
# multiple of 512 (the server's list runs past it and is clipped).
source "$(dirname "$0")/functions.sh"
requires_cmd nbdkit nbdsh qemu-img qemu-io qemu-nbd fallocate timeout

mib=1048576
k64=65536

# qcow2, 8 MiB: data, unallocated (hole), zero cluster, data, zero,
# hole, and data in the last cluster.
q=$tmpdir/q.qcow2
qemu-img create -q -f qcow2 "$q" $(( 8 * mib ))
qemu-io -f qcow2 -c 'write -P 1 0 1M' -c 'write -z 2M 64k' \
  -c 'write -P 2 4M 2M' -c 'write -z 6M 1M' -c "write -P 3 $(( 8 * mib - k64 )) 64k" \
  "$q" >/dev/null
q_runs="0 $mib 0
$mib $(( 2 * mib )) 3
$(( 2 * mib )) $(( 2 * mib + k64 )) 2
$(( 2 * mib + k64 )) $(( 4 * mib )) 3
$(( 4 * mib )) $(( 6 * mib )) 0
$(( 6 * mib )) $(( 7 * mib )) 2
$(( 7 * mib )) $(( 8 * mib - k64 )) 3
$(( 8 * mib - k64 )) $(( 8 * mib )) 0"

# raw, 1 MiB + 777 bytes: data in the first 64 KiB, the rest a hole (raw
# holes are "zero", never "hole").
r=$tmpdir/r.img
rsize=$(( mib + 777 ))
truncate -s $rsize "$r"
head -c $k64 /dev/urandom | dd of="$r" conv=notrunc status=none
r_runs="0 $k64 0
$k64 $rsize 2"

start_qemu_nbd "$q" qcow2 -r; s_q=$nbd_sock
start_qemu_nbd "$r" raw -r; s_r=$nbd_sock
t_q=$(random_ticket) t_r=$(random_ticket)
make_ticket "$tmpdir/tq.json" "$t_q" $(( 8 * mib )) "nbd:unix:$s_q" read
make_ticket "$tmpdir/tr.json" "$t_r" $rsize "nbd:unix:$s_r" read
start_server --tcp 127.0.0.1:0 --no-tls --ticket "$tmpdir/tq.json" --ticket "$tmpdir/tr.json"

# The checks, run in nbdsh against the plugin.  RUNS: "start end type"
# lines, the whole image.  QUERIES: "offset count" lines.
cat > "$tmpdir/check.py" <<'EOF'
import os

runs = [tuple(map(int, l.split())) for l in os.environ["RUNS"].splitlines()]
size = h.get_size()
assert size == runs[-1][1], "size %d, expected %d" % (size, runs[-1][1])
assert h.can_meta_context(nbd.CONTEXT_BASE_ALLOCATION), "no base:allocation"

def expected(off, cnt):
    out = []
    for s, e, t in runs:
        s, e = max(s, off), min(e, off + cnt)
        if s < e:
            out.append((e - s, t))
    return out

def block_status(off, cnt, flags):
    calls = []
    def cb(ctx, o, entries, err):
        calls.append((ctx, o, list(entries), err.value))
        return 0
    h.block_status(cnt, off, cb, flags)
    base = [c for c in calls if c[0] == nbd.CONTEXT_BASE_ALLOCATION]
    assert len(base) == 1, "%d base:allocation replies" % len(base)
    ctx, o, entries, err = base[0]
    assert o == off, "reply for offset %d, asked %d" % (o, off)
    assert err == 0, "error %d" % err
    return [(entries[i], entries[i + 1]) for i in range(0, len(entries), 2)]

def merge(exts):
    out = []
    for n, t in exts:
        if out and out[-1][1] == t:
            out[-1] = (out[-1][0] + n, t)
        else:
            out.append((n, t))
    return out

n = 0
for line in os.environ["QUERIES"].splitlines():
    off, cnt = map(int, line.split())
    want = expected(off, cnt)
    # REQ_ONE: one extent, from OFF, the first run clipped to the request.
    got = block_status(off, cnt, nbd.CMD_FLAG_REQ_ONE)
    assert got == want[:1], \
        "REQ_ONE at %d+%d: got %s, expected %s" % (off, cnt, got, want[:1])
    # Without: all of the range, first extent from OFF.  The last one may
    # run past the request (the NBD spec allows it when the server knows),
    # but not past the end of its run.
    got = merge(block_status(off, cnt, 0))
    full = expected(off, size - off)
    last = len(want) - 1
    ok = got[:last] == want[:last] and len(got) == len(want) and \
        got[last][1] == want[last][1] and \
        want[last][0] <= got[last][0] <= full[last][0]
    assert ok, "at %d+%d: got %s, expected %s" % (off, cnt, got, want)
    n += 1
print("%d queries ok" % n)
EOF

# Runs check.py through a fresh nbdkit for ticket $1 with RUNS and QUERIES.
run_checks ()
{
  local t=$1
  export RUNS QUERIES
  timeout 120 nbdkit -U - -r "$IMAGEIO_PLUGIN" \
    url="http://127.0.0.1:$server_port/images/$t" \
    --run "/usr/bin/python3 -m nbd --base-allocation -u \"\$uri\" -c 'exec(open(\"$tmpdir/check.py\").read())'" \
    2> "$tmpdir/nbdkit.log" ||
    { cat "$tmpdir/nbdkit.log" >&2; fail "block status checks failed (ticket ${t:0:8}...)"; }
  if grep -q -i error "$tmpdir/nbdkit.log"; then
    cat "$tmpdir/nbdkit.log" >&2
    fail "nbdkit logged an error"
  fi
}

s=$(( 8 * mib ))
RUNS=$q_runs
# The first query loads the map mid-image; the rest hit the cache.
QUERIES="$(( 512 * 1024 )) $(( 4 * mib ))
0 $s
0 1
$(( mib + 12345 )) $(( 3 * mib ))
$(( 2 * mib + 1000 )) 10
$(( 2 * mib + k64 - 1 )) 2
$(( 4 * mib - 1 )) 3
$(( 6 * mib + k64 )) $(( 2 * mib - k64 ))
$(( 7 * mib + 333 )) $(( mib - 333 ))
$(( s - k64 - 1 )) $(( k64 + 1 ))
$(( s - 100 * 1024 )) $(( 100 * 1024 ))
$(( s - 1 )) 1
$(( 3 * mib )) $(( 5 * mib ))"
run_checks "$t_q"

s=$rsize
RUNS=$r_runs
QUERIES="$(( s - 100 )) 100
$(( s - 1 )) 1
$(( s - 777 )) 777
$(( mib - 512 )) $(( 512 + 777 ))
$(( k64 - 1 )) 2
$(( 60 * 1024 )) $(( s - 60 * 1024 ))
0 $s
1 $(( s - 1 ))"
run_checks "$t_r"

# One document per nbdkit run.
settle_log
[ "$(count_log 'op=extents .*status=200')" -eq 2 ] ||
  fail "$(count_log 'op=extents')" "GET extents for two runs, expected 2"
expect_log_redacted "$t_q" "$t_r"
