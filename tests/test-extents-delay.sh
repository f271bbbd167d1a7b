#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The map download does not hold up I/O: with --fault extents-delay=3000
# the server answers GET extents after 3 s; while one connection's block
# status waits for it, reads, writes and zeroes on another connection keep
# completing quickly (each well under 1.5 s, many of them during the
# download).  Writes and zeroes made during the download are in the map
# once it arrives: the final map equals a model (up to holes reported as
# zero next to updates), and so does the data.
source "$(dirname "$0")/functions.sh"
requires_cmd nbdkit nbdsh qemu-img qemu-io qemu-nbd timeout

mib=1048576
size=$(( 32 * mib ))
delay_ms=3000
img=$tmpdir/disk.qcow2
qemu-img create -q -f qcow2 "$img" $size
qemu-io -f qcow2 -c 'write -P 1 0 4M' -c 'write -P 2 16M 2M' "$img" >/dev/null

start_qemu_nbd "$img" qcow2
t=$(random_ticket)
make_ticket "$tmpdir/t.json" "$t" $size "nbd:unix:$nbd_sock" read,write
start_server --tcp 127.0.0.1:0 --no-tls --ticket "$tmpdir/t.json" \
  --fault extents-delay=$delay_ms

cat > "$tmpdir/delay.py" <<'EOF'
import os, random, threading, time

mib = 1 << 20
size = h.get_size()
delay = int(os.environ["DELAY_MS"]) / 1000
# Model: runs [start, end, type] and content.
runs = [[0, 4 * mib, 0], [4 * mib, 16 * mib, 3], [16 * mib, 18 * mib, 0],
        [18 * mib, size, 3]]
data = bytearray(size)
data[0:4 * mib] = b"\x01" * (4 * mib)
data[16 * mib:18 * mib] = b"\x02" * (2 * mib)

def merge(rs):
    out = []
    for a, b, t in rs:
        if a < b:
            if out and out[-1][2] == t and out[-1][1] == a:
                out[-1][1] = b
            else:
                out.append([a, b, t])
    return out

touched = set()      # 2 MiB blocks a write or zero touched

def set_type(s, e, t):
    global runs
    touched.update(range(s >> 21, ((e - 1) >> 21) + 1))
    out = [[a, min(b, s), ty] for a, b, ty in runs if a < s] + [[s, e, t]]
    out += [[max(a, e), b, ty] for a, b, ty in runs if b > e]
    runs = merge(out)

def block_status(hh):
    got, pos = [], 0
    while pos < size:
        exts = []
        def cb(ctx, off, entries, err):
            if ctx == nbd.CONTEXT_BASE_ALLOCATION:
                exts.extend(entries)
            return 0
        hh.block_status(size - pos, pos, cb)
        assert exts, "no extents at %d" % pos
        for i in range(0, len(exts), 2):
            got.append([pos, min(pos + exts[i], size), exts[i + 1]])
            pos += exts[i]
            if pos >= size:
                break
    return merge(got)

# Connection 2 maps in a thread: its first block status waits for the
# download.
h2 = nbd.NBD()
h2.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
h2.connect_uri(os.environ["URI"])
result = {}
def mapper():
    t0 = time.monotonic()
    try:
        result["map"] = block_status(h2)
    except Exception as e:
        result["error"] = e
    result["start"], result["end"] = t0, time.monotonic()
th = threading.Thread(target=mapper)
th.start()

# Connection 1: reads, writes and zeroes of whole 64 KiB clusters (so the
# server's document, whenever it is made, agrees with the model) until the
# map is in, each one timed.
rnd = random.Random(5)
lat = []       # (start, end, what)
t_begin = time.monotonic()
while th.is_alive() and time.monotonic() - t_begin < 30:
    n = rnd.randint(1, 16) * 65536
    off = rnd.randrange(0, (size - n) // 65536 + 1) * 65536
    op = rnd.choice(["read", "write", "zero"])
    # Zero only ranges holding some data: those are never elided, so the
    # model does not depend on when exactly the map arrived.
    if op == "zero" and all(t & 2 for a, b, t in runs if a < off + n and b > off):
        op = "write"
    t0 = time.monotonic()
    if op == "read":
        assert h.pread(n, off) == bytes(data[off:off + n]), "read %d+%d differs" % (off, n)
    elif op == "write":
        buf = os.urandom(n)
        h.pwrite(buf, off)
        data[off:off + n] = buf
        set_type(off, off + n, 0)
    else:
        h.zero(n, off)
        data[off:off + n] = bytes(n)
        set_type(off, off + n, 2)
    lat.append((t0, time.monotonic(), "%s %d+%d" % (op, off, n)))
th.join()
if "error" in result:
    raise result["error"]

took = result["end"] - result["start"]
during = [l for l in lat if l[0] >= result["start"] and l[1] <= result["end"]]
worst = max(lat, key=lambda l: l[1] - l[0])
print("map took %.2f s; %d ops, %d during the download; slowest %s %.3f s"
      % (took, len(lat), len(during), worst[2], worst[1] - worst[0]))
assert took >= delay * 0.8, "the map came in %.2f s, the delay is %.2f s" % (took, delay)
assert len(during) >= 10, "only %d ops completed during the download" % len(during)
assert worst[1] - worst[0] < 1.5, "%s took %.2f s" % (worst[2], worst[1] - worst[0])

# The map includes every write and zero, also those made while it was
# downloading.
def same_map(got, what):
    """GOT equals the model, except that a hole in a 2 MiB block a write
    or zero touched may be reported as zero (the plugin's conservative
    rule: qcow2 may have allocated it), as the server's document, made at
    the end of the download, still shows the holes next to the clusters
    written during it."""
    cuts = sorted({a for a, b, t in got} | {a for a, b, t in runs} | {size})
    def at(rs, x):
        return next(t for a, b, t in rs if a <= x < b)
    for a, b in zip(cuts, cuts[1:]):
        g, w = at(got, a), at(runs, a)
        for blk in range(a >> 21, ((b - 1) >> 21) + 1):
            assert g == w or (g == 2 and w == 3 and blk in touched), \
                "%s: %d-%d: plugin type %d, model %d" % (what, a, b, g, w)

same_map(block_status(h), "final map")
same_map(block_status(h2), "final map on connection 2")
assert h.pread(size, 0) == bytes(data), "read back differs from the model"
open(os.environ["WANT"], "wb").write(data)
h2.shutdown()
print("final map ok, %d runs" % len(runs))
EOF

export DELAY_MS=$delay_ms WANT=$tmpdir/want.raw
timeout 120 nbdkit -U - "$IMAGEIO_PLUGIN" connections=4 \
  url="http://127.0.0.1:$server_port/images/$t" \
  --run "URI=\"\$uri\" /usr/bin/python3 -m nbd --base-allocation -u \"\$uri\" -c 'exec(open(\"$tmpdir/delay.py\").read())'" \
  2> "$tmpdir/nbdkit.log" ||
  { cat "$tmpdir/nbdkit.log" >&2; fail "nbdsh failed"; }
if grep -q -i error "$tmpdir/nbdkit.log"; then
  cat "$tmpdir/nbdkit.log" >&2
  fail "nbdkit logged an error"
fi
[ "$(count_log ' op=extents .*status=200')" -eq 1 ] ||
  fail "$(count_log ' op=extents ') GET extents, expected exactly 1"
expect_log_redacted "$t"
stop_server
qemu-img compare -U -f raw -F qcow2 "$tmpdir/want.raw" "$img" ||
  fail "the disk differs from the model"
