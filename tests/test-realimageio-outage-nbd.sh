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

# outage NAME FORMAT SECONDS_DOWN
outage ()
{
  local name=$1 fmt=$2 down=$3
  local sock=$tmpdir/$name-nbd.sock before
  before=$(imageio_writes)
  start_slow_upload "$name" "$fmt" "$sock"
  kill -KILL "$nbd_pid"
  wait "$nbd_pid" 2>/dev/null || true   # reaped here: no "Killed" line
  sleep "$down"
  IMAGEIO_NBD_SOCK=$sock start_imageio_qemu_nbd "$upload_target" "$fmt"
  echo "$name: qemu-nbd killed and restarted after ${down} s, at write $(( $(imageio_writes) - before ))"
  finish_slow_upload "$name" "$fmt" "qemu-nbd was down ${down} s"
}

outage qcow2-0.2s qcow2 0.2
outage qcow2-2s qcow2 2
outage raw-2s raw 2
