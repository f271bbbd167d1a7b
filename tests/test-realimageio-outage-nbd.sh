#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The real outage of issue 17: the qemu-nbd behind an ovirt-imageio ticket
# is killed (SIGKILL) in the middle of a virt-v2v-shaped upload (nbdkit
# --threads 8, nbdcopy --request-size=4194304 --requests=16 --flush) and
# started again on the same socket after 0.2 s or 2 s.  The real daemon
# then answers 500 on every connection that was open before, and qemu-nbd
# lost whatever it had not flushed (qcow2 metadata included): the upload
# must still end with status 0 and an image identical to its source.
#
# Fails with the plugin before issue 17 (no replay after the 500s); passes
# with issue 17's recovery.
#
# The source is read through nbdkit's rate filter so that the upload lasts
# a few seconds; the kill comes after the daemon has logged some writes.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/realimageio-functions.sh"
requires_cmd nbdkit nbdcopy qemu-img qemu-io qemu-nbd jq timeout
realimageio_require

export LANG=C
size=$(( 128 * 1048576 ))
bash "$SRCDIR/tests/data/make-pattern.sh" raw "$tmpdir/src.raw" $size 120 61
start_imageio

writes () { grep -c '\] WRITE ' "$imageio_log" || true; }

# outage NAME FORMAT SECONDS_DOWN
outage ()
{
  local name=$1 fmt=$2 down=$3
  local target=$tmpdir/$name.$fmt sock=$tmpdir/$name-nbd.sock
  qemu-img create -q -f "$fmt" "$target" $size
  qemu-io -f "$fmt" -c "write -P 0x5a 0 $size" "$target" >/dev/null
  IMAGEIO_NBD_SOCK=$sock start_imageio_qemu_nbd "$target" "$fmt"
  local ticket
  ticket=$(random_ticket)
  make_ticket "$tmpdir/$name.json" "$ticket" $size "nbd:unix:$sock" read,write \
    '"sparse": true, "dirty": false, "inactivity_timeout": 60'
  imageio_ticket "$tmpdir/$name.json"
  start_plugin "$ticket" -D nbdkit.backend.datapath=0 size=$size insecure=true
  local before
  before=$(writes)
  # 64 Mbit/s from the source: about 4 s for the data of this image.
  timeout 180 nbdkit -r -U - --filter=rate file "$tmpdir/src.raw" rate=64M \
    --run "nbdcopy \"\$uri\" '$nbdkit_uri' --request-size=4194304 --requests=16 --flush" \
    >"$tmpdir/$name-copy.log" 2>&1 &
  local copy_pid=$!
  cleanup_fn kill_quiet "$copy_pid"
  wait_until 60 eval '[ $(( $(writes) - before )) -ge 6 ]'
  proc_running "$copy_pid" || fail "$name: the upload ended before the outage (test not testing)"
  kill -KILL "$nbd_pid"
  wait "$nbd_pid" 2>/dev/null || true   # reaped here: no "Killed" line
  sleep "$down"
  IMAGEIO_NBD_SOCK=$sock start_imageio_qemu_nbd "$target" "$fmt"
  echo "$name: qemu-nbd killed and restarted after ${down} s, at write $(( $(writes) - before ))"
  local st=0
  wait "$copy_pid" || st=$?
  if [ "$st" -ne 0 ]; then
    cat "$tmpdir/$name-copy.log" >&2
    grep -E ': error: ' "$nbdkit_log" | head -n 5 >&2
    fail "$name: the upload failed (status $st) after qemu-nbd was down ${down} s"
  fi
  st=0
  stop_nbdkit "$nbdkit_pid" || st=$?
  [ "$st" -eq 0 ] || fail "$name: nbdkit exit status $st"
  _kill_wait "$nbd_pid" || true
  qemu-img compare -q -f raw -F "$fmt" "$tmpdir/src.raw" "$target" ||
    fail "$name: the image differs from its source after the outage"
  echo "$name: identical"
}

outage qcow2-0.2s qcow2 0.2
outage qcow2-2s qcow2 2
outage raw-2s raw 2
