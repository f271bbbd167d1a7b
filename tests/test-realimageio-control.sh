#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Differential conformance of the control service (/tickets), the
# manager's side: the same sequence (tickets added, bad ones refused, read
# back, extended, used, their "transferred", deleted one by one and all at
# once) sent to the real ovirt-imageio daemon and to imageio-server, each
# over its own writable 1 MiB image behind qemu-nbd; the answers must agree
# (tests/data/conformance-control.py says what is compared), but for the
# deliberate differences of docs/protocol.md it names.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/realimageio-functions.sh"
requires_cmd qemu-nbd
realimageio_require

truncate -s 1M "$tmpdir/real.raw" "$tmpdir/ours.raw"
start_imageio
start_imageio_qemu_nbd "$tmpdir/real.raw" raw
real_nbd=$nbd_sock
start_imageio_qemu_nbd "$tmpdir/ours.raw" raw
ours_nbd=$nbd_sock
ours_ctl=$tmpdir/ours-control.sock
start_server_unix --control "$ours_ctl"

# Every deliberate difference the script allows is written down.
for name in $(/usr/bin/python3 -c '
import sys; sys.path.insert(0, sys.argv[1]); import importlib
m = importlib.import_module("conformance-control")
print("\n".join(sorted(set(v[0] for v in m.ALLOWED.values()))))' "$SRCDIR/tests/data"); do
  grep -q -F "[$name]" "$SRCDIR/docs/protocol.md" ||
    fail "conformance-control.py allows '$name', which docs/protocol.md does not list"
done

PYTHONPATH=$SRCDIR/tests/data /usr/bin/python3 "$SRCDIR/tests/data/conformance-control.py" \
  "unix:$imageio_ctl" "unix:$imageio_local" "$real_nbd" \
  "unix:$ours_ctl" "unix:$server_sock" "$ours_nbd" "$@" ||
  fail "imageio-server's control service answers differently from the real daemon"
# Both images took the same writes.
cmp "$tmpdir/real.raw" "$tmpdir/ours.raw" || fail "the images differ after the same requests"
