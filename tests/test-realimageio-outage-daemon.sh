#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The real outage of issue 17: the ovirt-imageio daemon itself restarts in
# the middle of a virt-v2v-shaped upload (nbdkit --threads 8, nbdcopy
# --request-size=4194304 --requests=16 --flush) and the ticket is added
# again as soon as it answers (tickets live in its memory; oVirt's engine
# adds them again).  Once stopped with SIGTERM (systemctl restart), once
# killed with SIGKILL (a crash).  qemu-nbd keeps running.  The upload must
# end with status 0 and an image identical to its source.  Fails with the
# plugin before issue 17; passes with issue 17's recovery.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/realimageio-functions.sh"
requires_cmd nbdkit nbdcopy qemu-img qemu-io qemu-nbd jq timeout
realimageio_require

export LANG=C
size=$(( 128 * 1048576 ))
bash "$SRCDIR/tests/data/make-pattern.sh" raw "$tmpdir/src.raw" $size 120 71
start_imageio

# restart NAME FORMAT SIGNAL
restart ()
{
  local name=$1 fmt=$2 sig=$3
  start_slow_upload "$name" "$fmt"
  local t0=$(_now_ms)
  if [ "$sig" = KILL ]; then
    kill -KILL "$imageio_pid"
  fi
  stop_imageio
  start_imageio
  imageio_ticket "$upload_ticket_file"
  echo "$name: daemon restarted (SIG$sig), ticket added again after $(( $(_now_ms) - t0 )) ms"
  finish_slow_upload "$name" "$fmt" "the daemon restarted"
}

restart qcow2-term qcow2 TERM
restart raw-kill raw KILL
