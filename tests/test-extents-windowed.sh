#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The windowed extent cache against both kinds of server: ours, which
# serves partial extents (start=, length=), and ours under --fault
# extents-whole, which ignores them as real imageio does.  The plugin runs
# with 4 MiB windows and at most 2 kept (-D imageio.extents_window_mib=4
# -D imageio.extents_max_windows=2), so a 64 MiB qcow2 image has 16
# windows and most are dropped and fetched again.
#
# One nbdsh session per server checks, against qemu-nbd's own block status
# (base:allocation and qemu:allocation-depth read directly): ranges that
# start and end inside extents and across window edges, in random order
# (windows fetched on demand, out of order, dropped, fetched again), with
# writes and zeroes between window fetches (into windows known, not yet
# fetched, and across a window edge), then a sequential walk over the whole
# image.  The map must equal qemu's except inside the 2 MiB blocks an
# update touched, where a hole may be reported as "zero" (the plugin's
# conservative rule) and data as "zero" when its bytes do read as zeroes
# (qcow2 allocated the cluster around a write, or zeroes were written into
# an allocated one): never "zero" for bytes that are not.  Then nbdinfo --map equals qemu-nbd's
# map for both servers, and the server's log shows windows asked for (ours)
# or a single whole-list request (extents-whole).
source "$(dirname "$0")/functions.sh"
requires_cmd nbdkit nbdinfo qemu-img qemu-io qemu-nbd timeout
requires /usr/bin/python3 -c 'import nbd'

mib=1048576
size=$(( 64 * mib ))
mkpat="$SRCDIR/tests/data/make-pattern.sh"

cat > "$tmpdir/check.py" <<'PY'
import os, random, sys
import nbd

SIZE = int(os.environ["SIZE"])
BLK = 2 << 20

plug = nbd.NBD()
plug.add_meta_context("base:allocation")
plug.connect_uri(os.environ["uri"])
truth = nbd.NBD()
truth.add_meta_context("base:allocation")
truth.add_meta_context("qemu:allocation-depth")
truth.connect_uri(os.environ["QURI"])
touched = set()                 # 2 MiB blocks an update touched

def reads_as_zero(a, b):
    return truth.pread(b - a, a) == bytes(b - a)

def runs_of(h, ctxs, off, length):
    """{ctx: [(start, end, flags)]} covering [off, off+length)."""
    out = {c: [] for c in ctxs}
    for c in ctxs:
        pos = off
        n = 0
        while pos < off + length:
            got = []
            def cb(meta, o, entries, err, c=c, got=got):
                if meta == c:
                    got.extend(entries)
            h.block_status(min(off + length - pos, 1 << 30), pos, cb)
            if not got:
                sys.exit("no %s extents at %d" % (c, pos))
            for i in range(0, len(got), 2):
                l, f = got[i], got[i + 1]
                out[c].append((pos, pos + l, f))
                pos += l
                if pos >= off + length:
                    break
            n += 1
            if n > 100000:
                sys.exit("block status loop at %d" % pos)
    return out

def pointwise(lists, off, end, f):
    """Runs of f(flags...) over [off, end) for several run lists."""
    cuts = {off, end}
    for l in lists:
        for s, e, _ in l:
            if off < s < end: cuts.add(s)
            if off < e < end: cuts.add(e)
    cuts = sorted(cuts)
    out = []
    for a, b in zip(cuts, cuts[1:]):
        vals = [next(fl for s, e, fl in l if s <= a < e) for l in lists]
        out.append((a, b, f(*vals)))
    return out

def check(off, length, what):
    end = min(off + length, SIZE)
    t = runs_of(truth, ["base:allocation", "qemu:allocation-depth"], off, end - off)
    want = pointwise([t["base:allocation"], t["qemu:allocation-depth"]], off, end,
                     lambda z, d: (2 if z & 2 else 0) | (1 if z & 2 and d == 0 else 0))
    got = runs_of(plug, ["base:allocation"], off, end - off)["base:allocation"]
    for a, b, (g, w) in pointwise([got, want], off, end, lambda g, w: (g, w)):
        if g == w:
            continue
        # Split by 2 MiB blocks: a hole reported as zero only where an
        # update touched the block.
        p = a
        while p < b:
            q = min(b, (p // BLK + 1) * BLK)
            if not (p // BLK in touched
                    and ((w == 3 and g == 2)
                         or (w == 0 and g == 2 and reads_as_zero(p, q)))):
                sys.exit("%s: %d-%d: plugin type %d, qemu %d (touched %s)"
                         % (what, p, q, g, w, sorted(touched)))
            p = q

def touch(off, length):
    for b in range(off // BLK, (off + length - 1) // BLK + 1):
        touched.add(b)

def write(off, length, what):
    plug.pwrite(bytes([0x5a]) * length, off)
    touch(off, length)
    check(max(0, off - 3 * BLK), 7 * BLK, what)

def zero(off, length, what):
    plug.zero(length, off)
    touch(off, length)
    check(max(0, off - 3 * BLK), 7 * BLK, what)

rnd = random.Random(7)
W = 4 << 20
checks = 0
# Ranges in random order, starting and ending inside extents and windows.
for i in range(60):
    off = rnd.randrange(0, SIZE - 1)
    length = rnd.randrange(1, min(SIZE - off, 3 * W) + 1)
    check(off, length, "random range %d (%d+%d)" % (i, off, length))
    checks += 1
# Exact window edges.
for w in (1, 5, 15):
    check(w * W - 1, 2, "edge of window %d" % w)
    check(w * W, 1, "start of window %d" % w)
    checks += 2
# Updates between window fetches: in a window just queried, in windows not
# fetched (or dropped), across a window edge, a zero over a hole.
check(8 * W, W, "window 8")
write(8 * W + 12345, 70000, "write in a known window")
write(13 * W + 4096, 8192, "write in a window not fetched")
zero(11 * W + 100000, 3 << 20, "zero in a window not fetched")
write(3 * W - 65536, 131072, "write across a window edge")
zero(6 * W - 512, 1024, "zero across a window edge")
check(0, SIZE, "whole image after the updates")
# A sequential walk in nbdcopy-sized steps.
for off in range(0, SIZE, 1 << 20):
    check(off, 1 << 20, "sequential %d" % off)
    checks += 1
print("checks: %d ranges, %d updates touched %d blocks" % (checks, 5, len(touched)))
PY

run_arm ()
{
  local arm=$1; shift
  local img=$tmpdir/$arm.qcow2 log=$tmpdir/nbdkit-$arm.log t
  bash "$mkpat" qcow2 "$img" $size 120 41
  start_qemu_nbd "$img" qcow2
  t=$(random_ticket)
  make_ticket "$tmpdir/t-$arm.json" "$t" $size "nbd:unix:$nbd_sock" read,write
  start_server --tcp 127.0.0.1:0 --no-tls --nbd-root "$tmpdir" \
    --ticket "$tmpdir/t-$arm.json" "$@"
  local from; from=$(( $(wc -l < "$server_log") + 1 ))
  # url=+FILE: nbdkit -v does not echo the ticket.
  printf 'http://127.0.0.1:%s/images/%s' "$server_port" "$t" > "$tmpdir/url-$arm"
  export SIZE=$size QURI="nbd+unix:///?socket=$nbd_sock"
  timeout 240 nbdkit -U - -v -D imageio.extents=1 -D imageio.extents_window_mib=4 \
    -D imageio.extents_max_windows=2 "$IMAGEIO_PLUGIN" \
    url=+"$tmpdir/url-$arm" \
    --run "uri=\"\$uri\" /usr/bin/python3 $tmpdir/check.py" \
    2> "$log" || { tail -30 "$log" >&2; fail "$arm: checks through the plugin failed"; }
  # A fresh plugin: nbdinfo --map, window by window (or the whole list).
  timeout 120 nbdkit -U - -v -D imageio.extents=1 -D imageio.extents_window_mib=4 \
    -D imageio.extents_max_windows=2 "$IMAGEIO_PLUGIN" url=+"$tmpdir/url-$arm" \
    --run "nbdinfo --map --json \"\$uri\" > $tmpdir/map-$arm.json" 2>> "$log" ||
    { tail -30 "$log" >&2; fail "$arm: nbdinfo --map through the plugin failed"; }
  grep -q 'nbdkit: .*error' "$log" && { grep error "$log" >&2; fail "$arm: nbdkit logged an error"; }
  # nbdinfo --map equals qemu-nbd's.
  nbdinfo --map --json "$QURI" > "$tmpdir/truth-$arm.json"
  nbdinfo --map=qemu:allocation-depth --json "$QURI" > "$tmpdir/depth-$arm.json"
  /usr/bin/python3 - "$tmpdir/map-$arm.json" "$tmpdir/truth-$arm.json" "$tmpdir/depth-$arm.json" <<'PY' || fail "$arm: nbdinfo --map differs from qemu-nbd's"
import json, sys
def at(items, x):
    for it in items:
        if it["offset"] <= x < it["offset"] + it["length"]:
            return it["type"]
    sys.exit("no extent at %d" % x)
got, base, depth = (json.load(open(f)) for f in sys.argv[1:4])
cuts = sorted({it["offset"] for l in (got, base, depth) for it in l})
n = 0
for x in cuts:
    z = at(base, x) & 2
    want = z | (1 if z and at(depth, x) == 0 else 0)
    if at(got, x) != want:
        sys.exit("at %d: plugin type %d, qemu %d" % (x, at(got, x), want))
    n += 1
print("nbdinfo --map: %d extents, equal at %d boundaries" % (len(got), n))
PY
  settle_log
  windows=$(tail -n +"$from" "$server_log" | grep -cE 'op=extents context=zero count=[0-9]+ offset=[0-9]+ length=[0-9]+ status=200' || true)
  whole=$(tail -n +"$from" "$server_log" | grep -E 'op=extents .*status=200' | grep -vc 'offset=' || true)
  dropped=$(grep -c 'extents: dropped window' "$log" || true)
  echo "$arm: $windows window requests, $whole whole-list requests, $dropped windows dropped"
  stop_server
  [ "$server_status" -eq 0 ] || fail "$arm: server exit status $server_status"
  expect_log_redacted "$t"
}

# Our server: windows.
run_arm windowed
[ "$windows" -ge 16 ] || fail "windowed: only $windows window requests"
[ "$whole" -eq 0 ] || fail "windowed: $whole whole-list requests"
[ "$dropped" -ge 1 ] || fail "windowed: no window was dropped"
grep -q 'the server serves partial extents' "$tmpdir/nbdkit-windowed.log" ||
  fail "windowed: no detection message"

# A server that ignores the parameters: the whole list, once per plugin run.
run_arm whole --fault extents-whole
[ "$whole" -eq 2 ] || fail "whole: $whole whole-list requests (expected one per plugin run, 2)"
[ "$windows" -eq 0 ] || fail "whole: $windows window requests"
[ "$dropped" -eq 0 ] || fail "whole: the whole list was dropped"
grep -q 'the server answered the whole list' "$tmpdir/nbdkit-whole.log" ||
  fail "whole: no detection message"
