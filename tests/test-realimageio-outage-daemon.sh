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

writes () { grep -c '\] WRITE ' "$imageio_log" || true; }

# restart NAME FORMAT SIGNAL
restart ()
{
  local name=$1 fmt=$2 sig=$3
  local target=$tmpdir/$name.$fmt
  qemu-img create -q -f "$fmt" "$target" $size
  qemu-io -f "$fmt" -c "write -P 0x5a 0 $size" "$target" >/dev/null
  start_imageio_qemu_nbd "$target" "$fmt"
  local ticket
  ticket=$(random_ticket)
  make_ticket "$tmpdir/$name.json" "$ticket" $size "nbd:unix:$nbd_sock" read,write \
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
  proc_running "$copy_pid" || fail "$name: the upload ended before the restart (test not testing)"
  local t0=$(_now_ms)
  if [ "$sig" = KILL ]; then
    kill -KILL "$imageio_pid"
  fi
  stop_imageio
  start_imageio
  imageio_ticket "$tmpdir/$name.json"
  echo "$name: daemon restarted (SIG$sig), ticket added again after $(( $(_now_ms) - t0 )) ms"
  before=0
  local st=0
  wait "$copy_pid" || st=$?
  if [ "$st" -ne 0 ]; then
    cat "$tmpdir/$name-copy.log" >&2
    grep -E ': error: ' "$nbdkit_log" | head -n 5 >&2
    fail "$name: the upload failed (status $st) after the daemon restarted"
  fi
  st=0
  stop_nbdkit "$nbdkit_pid" || st=$?
  [ "$st" -eq 0 ] || fail "$name: nbdkit exit status $st"
  _kill_wait "$nbd_pid" || true
  qemu-img compare -q -f raw -F "$fmt" "$tmpdir/src.raw" "$target" ||
    fail "$name: the image differs from its source after the restart"
  echo "$name: identical"
}

restart qcow2-term qcow2 TERM
restart raw-kill raw KILL
