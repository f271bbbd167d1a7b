#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The cached map stays exact under writes and zeroes, without fetching it
# again.  One nbdsh session interleaves pwrite, zero and block status (some
# writes before the map is first loaded), checking after every operation
# that block status over the whole image equals a model: written ranges are
# data, zeroed ranges "zero" (2, not a hole), holes in the rest of the
# 2 MiB blocks they touch "zero" (qcow2 may have allocated their
# clusters), the rest as it was.  With
# zero_elision=true a zero over a range that already reads as zeroes is
# not sent, and the map keeps what it had there (a hole stays a hole).
# Then several nbdsh processes at once (multi-conn), each writing, zeroing
# and mapping its own region, and a final map of the whole image.  Every
# run makes exactly one GET extents, and the data equals the model.
source "$(dirname "$0")/functions.sh"
requires_cmd nbdkit nbdsh qemu-img qemu-io qemu-nbd timeout

mib=1048576

# A qcow2 image with data, a zero cluster and holes; its runs
# ("start end type") and its content.
make_image ()
{
  local f=$1 size=$2
  qemu-img create -q -f qcow2 "$f" "$size"
  qemu-io -f qcow2 -c 'write -P 1 0 2M' -c 'write -z 4M 1M' -c 'write -P 2 8M 1M' \
    "$f" >/dev/null
}
initial_runs ()
{
  local size=$1
  echo "0 $(( 2 * mib )) 0
$(( 2 * mib )) $(( 4 * mib )) 3
$(( 4 * mib )) $(( 5 * mib )) 2
$(( 5 * mib )) $(( 8 * mib )) 3
$(( 8 * mib )) $(( 9 * mib )) 0
$(( 9 * mib )) $size 3"
}

# The model and the checks, shared by every nbdsh below.
cat > "$tmpdir/model.py" <<'EOF'
import os, random

class Model:
    """Runs [start, end, type] covering the image, and its content."""
    def __init__(self, text, size, elision):
        self.r = [list(map(int, l.split())) for l in text.splitlines()]
        self.size = size
        self.elision = elision
        self.data = bytearray(size)
        self.data[0:2 << 20] = b"\x01" * (2 << 20)
        self.data[8 << 20:9 << 20] = b"\x02" * (1 << 20)

    def set(self, s, e, t):
        out = [[a, min(b, s), ty] for a, b, ty in self.r if a < s]
        out.append([s, e, t])
        out += [[max(a, e), b, ty] for a, b, ty in self.r if b > e]
        self.r = merge(out)

    def clip(self, s, e):
        return merge([[max(a, s), min(b, e), ty] for a, b, ty in self.r
                      if a < e and b > s])

    def reads_as_zero(self, s, e):
        return all(ty & 2 for _, _, ty in self.clip(s, e))

    def update(self, s, e, t, map_known=True):
        """What the plugin does to its map after a write (T=0) or zero
        (T=2): the range becomes T, and the holes in the rest of the 2 MiB
        blocks it touches (qcow2 may have allocated their clusters) become
        zero.  Before the map is known the server's document has it all."""
        self.set(s, e, t)
        if not map_known:
            return
        blk = 2 << 20
        for a, b in ((s // blk * blk, s), (e, min(-(-e // blk) * blk, self.size))):
            for ra, rb, ty in self.clip(a, b):
                if ty == 3:
                    self.set(ra, rb, 2)

    def write(self, h, off, n, map_known=True):
        buf = os.urandom(n)
        h.pwrite(buf, off)
        self.data[off:off + n] = buf
        self.update(off, off + n, 0, map_known)

    def zero(self, h, off, n, map_known):
        h.zero(n, off)
        # Elided: not sent, the map unchanged.  Else zero (never a hole).
        if not (self.elision and map_known and self.reads_as_zero(off, off + n)):
            self.update(off, off + n, 2, map_known)
        self.data[off:off + n] = bytes(n)

def merge(runs):
    out = []
    for a, b, t in runs:
        if a >= b:
            continue
        if out and out[-1][2] == t and out[-1][1] == a:
            out[-1][1] = b
        else:
            out.append([a, b, t])
    return out

def block_status(h, s, e):
    """Merged runs from the plugin over [s, e), in as many calls as needed."""
    got, pos = [], s
    while pos < e:
        exts = []
        def cb(ctx, off, entries, err):
            if ctx == nbd.CONTEXT_BASE_ALLOCATION:
                assert off == pos, "reply for %d, asked %d" % (off, pos)
                exts.extend(entries)
            return 0
        h.block_status(e - pos, pos, cb)
        assert exts, "no extents at %d" % pos
        for i in range(0, len(exts), 2):
            n, t = exts[i], exts[i + 1]
            got.append([pos, min(pos + n, e), t])
            pos += n
            if pos >= e:
                break
    return merge(got)

def check_map(h, model, s, e, what):
    got, want = block_status(h, s, e), model.clip(s, e)
    if got != want:
        raise AssertionError("%s: map over %d..%d\n  got:  %s\n  want: %s"
                             % (what, s, e, got[:30], want[:30]))

def random_ops(h, model, s, e, nops, seed, map_known, what):
    """NOPS random writes and zeroes inside [s, e), checking the map of
    [s, e) after each one."""
    rnd = random.Random(seed)
    for i in range(nops):
        # Mostly aligned, sometimes not; 1 byte .. 2 MiB.
        align = rnd.choice([1, 512, 4096, 65536])
        n = max(1, rnd.randint(1, 2 << 20) // align * align)
        n = min(n, e - s)
        off = s + rnd.randint(0, (e - s - n) // align) * align
        op = rnd.choice(["write", "zero", "zero"])
        if op == "write":
            model.write(h, off, n)
        else:
            model.zero(h, off, n, map_known)
        check_map(h, model, s, e, "%s op %d: %s %d+%d" % (what, i, op, off, n))
EOF

# ---- 1. One session, zero_elision=false then true ---------------------------

size=$(( 16 * mib ))
cat > "$tmpdir/single.py" <<'EOF'
exec(open(os.environ["MODEL"]).read())
size = h.get_size()
model = Model(os.environ["RUNS"], size, os.environ["ELISION"] == "true")
# Before the map is loaded: zero_elision=false fetches nothing yet, so
# these updates are in the server's document; with elision, the zero
# starts the fetch in the background and may race with the writes.  Whole
# qcow2 clusters: the document then shows exactly these ranges.  The zero
# is inside data whose 2 MiB block holds no hole, so whether it reaches
# the map before or after the document does not matter.
model.write(h, 3 << 20, 65536, False)
model.write(h, 12 << 20, 3 * 65536, False)
model.zero(h, 1 << 20, 65536, False)
check_map(h, model, 0, size, "first map")
# A hole zeroed becomes "zero"; data zeroed becomes "zero"; written zero
# bytes are data; and the holes of the 2 MiB blocks around are "zero".
model.zero(h, 6 << 20, 65536, True)
model.zero(h, 0, 4096, True)
h.pwrite(bytes(8192), 11 << 20)
model.data[11 << 20:(11 << 20) + 8192] = bytes(8192)
model.update(11 << 20, (11 << 20) + 8192, 0)
check_map(h, model, 0, size, "after fixed ops")
random_ops(h, model, 0, size, 150, 7, True, "single")
assert h.pread(size, 0) == bytes(model.data), "read back differs from the model"
open(os.environ["WANT"], "wb").write(model.data)
print("single session ok, %d runs at the end" % len(model.r))
EOF

for elision in false true; do
  img=$tmpdir/single-$elision.qcow2
  make_image "$img" $size
  start_qemu_nbd "$img" qcow2
  t=$(random_ticket)
  make_ticket "$tmpdir/t.json" "$t" $size "nbd:unix:$nbd_sock" read,write
  start_server --tcp 127.0.0.1:0 --no-tls --ticket "$tmpdir/t.json"
  MODEL=$tmpdir/model.py RUNS=$(initial_runs $size) ELISION=$elision \
    WANT=$tmpdir/want-$elision.raw \
    timeout 120 nbdkit -U - "$IMAGEIO_PLUGIN" connections=4 zero_elision=$elision \
      url="http://127.0.0.1:$server_port/images/$t" \
      --run "/usr/bin/python3 -m nbd --base-allocation -u \"\$uri\" -c 'exec(open(\"$tmpdir/single.py\").read())'" \
      2> "$tmpdir/nbdkit-single.log" ||
    { cat "$tmpdir/nbdkit-single.log" >&2; fail "single session, zero_elision=$elision"; }
  n=$(count_log 'op=extents')
  [ "$n" -eq 1 ] || fail "zero_elision=$elision: $n GET extents, expected exactly 1"
  [ "$(count_log 'op=extents .*status=200')" -eq 1 ] || fail "GET extents failed"
  # The zero over the hole at 6 MiB is sent only without elision.
  n=$(count_log 'op=zero offset=6291456 length=65536 ')
  if [ $elision = true ]; then want=0; else want=1; fi
  [ "$n" -eq $want ] || fail "zero_elision=$elision: zero over a hole sent $n times"
  if grep -q -i error "$tmpdir/nbdkit-single.log"; then
    cat "$tmpdir/nbdkit-single.log" >&2
    fail "zero_elision=$elision: nbdkit logged an error"
  fi
  expect_log_redacted "$t"
  stop_server
  qemu-img compare -U -f raw -F qcow2 "$tmpdir/want-$elision.raw" "$img" ||
    fail "zero_elision=$elision: the disk differs from the model"
done

# ---- 2. Several writers and mappers at once ---------------------------------

size=$(( 32 * mib ))
nproc=4
region=$(( size / nproc ))
img=$tmpdir/multi.qcow2
make_image "$img" $size
start_qemu_nbd "$img" qcow2
t=$(random_ticket)
make_ticket "$tmpdir/t.json" "$t" $size "nbd:unix:$nbd_sock" read,write
start_server --tcp 127.0.0.1:0 --no-tls --ticket "$tmpdir/t.json"
start_nbdkit "$IMAGEIO_PLUGIN" connections=4 url="http://127.0.0.1:$server_port/images/$t"

# Each process owns region I: random writes and zeroes there, each followed
# by a map of its region; saves its part of the model.
cat > "$tmpdir/worker.py" <<'EOF'
import json, threading
exec(open(os.environ["MODEL"]).read())
size = h.get_size()
i, region = int(os.environ["I"]), int(os.environ["REGION"])
s, e = i * region, (i + 1) * region
model = Model(os.environ["RUNS"], size, True)
# Two threads on the same handle: one does the ops and checks, one maps
# the region over and over (its answers are not checked: they race).
# The first map waits for the document: from then on the map is known.
check_map(h, model, s, e, "worker %d first map" % i)
stop = False
def mapper():
    while not stop:
        block_status(h, s, e)
t = threading.Thread(target=mapper)
t.start()
try:
    random_ops(h, model, s, e, 60, 100 + i, True, "worker %d" % i)
finally:
    stop = True
    t.join()
assert h.pread(e - s, s) == bytes(model.data[s:e]), "worker %d: data differs" % i
json.dump(model.clip(s, e), open(os.environ["OUT"], "w"))
open(os.environ["OUT"] + ".data", "wb").write(model.data[s:e])
EOF

pids=()
for (( i = 0; i < nproc; i++ )); do
  MODEL=$tmpdir/model.py RUNS=$(initial_runs $size) I=$i REGION=$region \
    OUT=$tmpdir/worker-$i.json \
    timeout 120 /usr/bin/python3 -m nbd --base-allocation -u "$uri" \
      -c "exec(open('$tmpdir/worker.py').read())" \
      > "$tmpdir/worker-$i.log" 2>&1 &
  pids+=($!)
done
for (( i = 0; i < nproc; i++ )); do
  wait "${pids[i]}" || { cat "$tmpdir/worker-$i.log" >&2; fail "worker $i failed"; }
done

# The whole map, on a new connection, equals the workers' models together.
cat > "$tmpdir/final.py" <<'EOF'
import json
exec(open(os.environ["MODEL"]).read())
size = h.get_size()
model = Model(os.environ["RUNS"], size, True)
model.r = merge([r for i in range(int(os.environ["N"]))
                 for r in json.load(open("%s/worker-%d.json" % (os.environ["D"], i)))])
check_map(h, model, 0, size, "final map")
print("final map ok, %d runs" % len(model.r))
EOF
MODEL=$tmpdir/model.py RUNS=$(initial_runs $size) N=$nproc D=$tmpdir \
  timeout 60 /usr/bin/python3 -m nbd --base-allocation -u "$uri" \
    -c "exec(open('$tmpdir/final.py').read())" || fail "final map differs"
stop_nbdkit "$nbdkit_pid" || fail "nbdkit exit status $?"
if grep -q -i error "$nbdkit_log"; then
  cat "$nbdkit_log" >&2
  fail "nbdkit logged an error"
fi
n=$(count_log 'op=extents')
[ "$n" -eq 1 ] || fail "multi-conn: $n GET extents, expected exactly 1"
for (( i = 0; i < nproc; i++ )); do
  cat "$tmpdir/worker-$i.json.data"
done > "$tmpdir/want-multi.raw"
qemu-img compare -U -f raw -F qcow2 "$tmpdir/want-multi.raw" "$img" ||
  fail "multi-conn: the disk differs from the model"
expect_log_redacted "$t"
