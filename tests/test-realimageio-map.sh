#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# `nbdinfo --map` through the plugin on the real ovirt-imageio daemon equals
# what qemu-nbd itself reports, for a raw and a qcow2 image of more than
# 20,000 extents (sparse: 4 KiB of data every 16 KiB).  qemu-nbd runs as
# imageio's host side runs it, with --allocation-depth, so the daemon
# reports holes; the truth is read from the same qemu-nbd:
#   type = (zero ? 2 : 0) | (zero && depth == 0 ? 1 : 0)
# (a raw file is allocated everywhere, so it never shows a hole).
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/realimageio-functions.sh"
requires_cmd nbdkit nbdinfo qemu-img qemu-io qemu-nbd jq timeout
realimageio_require

size=$(( 160 * 1048576 ))
# 10,240 runs of data and as many holes.
/usr/bin/python3 - "$tmpdir/many.raw" $size <<'PY'
import os, sys
path, size = sys.argv[1], int(sys.argv[2])
with open(path, "wb") as f:
    f.truncate(size)
    block = bytes(range(256)) * 16
    for off in range(0, size, 16384):
        f.seek(off)
        f.write(block)
PY
# The same layout in qcow2 with 4 KiB clusters, and 300 of its holes made
# allocated zero clusters (type 2, not a hole).
qemu-img convert -q -f raw -O qcow2 -o cluster_size=4096 "$tmpdir/many.raw" "$tmpdir/many.qcow2"
cmds=()
for (( i = 0; i < 300; i++ )); do
  cmds+=(-c "write -z $(( i * 7 * 16384 + 8192 )) 4096")
done
qemu-io -f qcow2 "${cmds[@]}" "$tmpdir/many.qcow2" >/dev/null

start_imageio
cat > "$tmpdir/compare.py" <<'PY'
import json, sys

size, d, min_runs, kinds_want = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]

def runs(items, val, exact, what):
    """[[start, end, value]] merged, contiguous from 0, clipped to size."""
    out, pos = [], 0
    for it in items:
        s, n = it["offset"], it["length"]
        if s != pos or n <= 0:
            sys.exit("%s: not contiguous at %d: %r" % (what, pos, it))
        pos = s + n
        if s >= size:
            break
        v = val(it)
        e = min(pos, size)
        if out and out[-1][2] == v:
            out[-1][1] = e
        else:
            out.append([s, e, v])
    if pos < size or (exact and pos != size):
        sys.exit("%s: covers 0..%d, image size %d" % (what, pos, size))
    return out

def combine(a, b, f):
    out, i, j, pos = [], 0, 0, 0
    while pos < size:
        while a[i][1] <= pos: i += 1
        while b[j][1] <= pos: j += 1
        e = min(a[i][1], b[j][1])
        v = f(a[i][2], b[j][2])
        if out and out[-1][2] == v:
            out[-1][1] = e
        else:
            out.append([pos, e, v])
        pos = e
    return out

load = lambda n: json.load(open("%s/%s" % (d, n)))
base = runs(load("base.json"), lambda it: it["type"] & 2, False, "qemu-nbd base:allocation")
depth = runs(load("depth.json"), lambda it: it["type"], False, "qemu-nbd qemu:allocation-depth")
want = combine(base, depth, lambda z, dp: z | (1 if z and dp == 0 else 0))
got = runs(load("plugin.json"), lambda it: it["type"], True, "plugin nbdinfo --map")
if got != want:
    for k, (g, w) in enumerate(zip(got, want)):
        if g != w:
            sys.exit("run %d differs: plugin %r, qemu-nbd %r (%d vs %d runs)"
                     % (k, g, w, len(got), len(want)))
    sys.exit("plugin has %d runs, qemu-nbd %d" % (len(got), len(want)))
kinds = "".join(sorted(set(str(r[2]) for r in want)))
if len(want) < min_runs or kinds != kinds_want:
    sys.exit("the image has %d runs of types %s, made for %d+ of %s"
             % (len(want), kinds, min_runs, kinds_want))
print("%d runs of types %s, equal" % (len(want), kinds))
PY

for fmt in raw qcow2; do
  start_imageio_qemu_nbd "$tmpdir/many.$fmt" $fmt --read-only --allocation-depth
  ticket=$(random_ticket)
  make_ticket "$tmpdir/t-$fmt.json" "$ticket" $size "nbd:unix:$nbd_sock" read \
    '"sparse": true, "dirty": false, "inactivity_timeout": 60'
  imageio_ticket "$tmpdir/t-$fmt.json"
  d=$tmpdir/out-$fmt
  mkdir "$d"
  nuri="nbd+unix:///?socket=$nbd_sock"
  timeout 60 nbdinfo --map --json "$nuri" > "$d/base.json" ||
    fail "$fmt: nbdinfo --map on qemu-nbd failed"
  timeout 60 nbdinfo --map=qemu:allocation-depth --json "$nuri" > "$d/depth.json" ||
    fail "$fmt: nbdinfo --map=qemu:allocation-depth on qemu-nbd failed"
  start_plugin "$ticket" -r
  timeout 120 nbdinfo --map --json "$nbdkit_uri" > "$d/plugin.json" ||
    { cat "$nbdkit_log" >&2; fail "$fmt: nbdinfo --map through the plugin failed"; }
  stop_nbdkit "$nbdkit_pid" || { cat "$nbdkit_log" >&2; fail "$fmt: nbdkit exit status $?"; }
  ! grep -q -E ': error: ' "$nbdkit_log" || { cat "$nbdkit_log" >&2; fail "$fmt: nbdkit logged an error"; }
  echo -n "$fmt: "
  kinds=02; [ $fmt = qcow2 ] && kinds=023
  /usr/bin/python3 "$tmpdir/compare.py" $size "$d" 20000 $kinds ||
    fail "$fmt: the plugin's map differs from qemu-nbd's"
done
