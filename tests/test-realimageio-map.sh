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
  /usr/bin/python3 "$SRCDIR/tests/data/compare-map.py" $size "$d" $kinds 20000 ||
    fail "$fmt: the plugin's map differs from qemu-nbd's"
done
