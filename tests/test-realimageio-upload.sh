#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Uploads through the plugin to the real ovirt-imageio daemon: qemu-img
# convert and nbdcopy in virt-v2v's shape (nbdkit --threads 8, nbdcopy
# --request-size=4194304 --requests=16 --flush), to raw and qcow2 images
# behind qemu-nbd and to a file backend, over HTTPS and over the daemon's
# local socket (is_ovirt_host=true).  Every target is first filled with a
# pattern, so a range the upload skipped (a zero run not written) shows up
# in qemu-img compare.  The daemon's local socket is abstract, as in oVirt.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/realimageio-functions.sh"
requires_cmd nbdkit nbdcopy qemu-img qemu-io qemu-nbd jq timeout
realimageio_require

export LANG=C
mib=1048576 size=$(( 64 * 1048576 ))
# Half data: random runs and holes; the holes must overwrite the pattern.
bash "$SRCDIR/tests/data/make-pattern.sh" raw "$tmpdir/src.raw" $size 60 31
# The local socket abstract, as oVirt's (\0/org/ovirt/imageio): OPTIONS
# reports it as "\u0000/...".  (The download test uses a path.)
start_imageio local=abstract
all_tickets=()

# new_target NAME FORMAT: an image of SIZE full of 0x5a, not sparse.
new_target ()
{
  local f=$tmpdir/$1.$2
  qemu-img create -q -f "$2" "$f" $size
  qemu-io -f "$2" -c "write -P 0x5a 0 $size" "$f" >/dev/null
}

# nbd_ticket NAME FORMAT: target NAME behind qemu-nbd and a read-write
# ticket for it; sets ticket.
nbd_ticket ()
{
  new_target "$1" "$2"
  start_imageio_qemu_nbd "$tmpdir/$1.$2" "$2"
  ticket=$(random_ticket)
  make_ticket "$tmpdir/$1.json" "$ticket" $size "nbd:unix:$nbd_sock" read,write \
    '"sparse": true, "dirty": false, "inactivity_timeout": 60'
  imageio_ticket "$tmpdir/$1.json"
  all_tickets+=("$ticket")
}

file_ticket ()
{
  new_target "$1" raw
  ticket=$(random_ticket)
  make_ticket "$tmpdir/$1.json" "$ticket" $size "file://$tmpdir/$1.raw" read,write \
    '"sparse": true, "dirty": false, "inactivity_timeout": 60'
  imageio_ticket "$tmpdir/$1.json"
  all_tickets+=("$ticket")
}

# finish NAME: stop nbdkit (it must exit 0 and log no error).
finish ()
{
  local st=0
  stop_nbdkit "$nbdkit_pid" || st=$?
  [ "$st" -eq 0 ] || { cat "$nbdkit_log" >&2; fail "$1: nbdkit exit status $st"; }
  ! grep -q -E ': error: ' "$nbdkit_log" || { cat "$nbdkit_log" >&2; fail "$1: nbdkit logged an error"; }
}

# check NAME FORMAT: the target equals the source.
check ()
{
  qemu-img compare -q -U -f raw -F "$2" "$tmpdir/src.raw" "$tmpdir/$1.$2" ||
    fail "$1: the uploaded image differs from its source"
  echo "$1: identical"
}

# qemu-img convert over HTTPS: raw, qcow2 and file backends.
for t in raw:raw qcow2:qcow2 file:raw; do
  name=qi-${t%%:*} fmt=${t#*:}
  if [ "${t%%:*}" = file ]; then file_ticket $name; else nbd_ticket $name $fmt; fi
  start_plugin "$ticket"
  timeout 120 qemu-img convert -n -f raw -O raw "$tmpdir/src.raw" "$nbdkit_uri" ||
    { cat "$nbdkit_log" >&2; fail "$name: qemu-img convert failed"; }
  finish $name
  check $name $fmt
done

# nbdcopy in virt-v2v's shape: HTTPS with insecure=true, and the local
# socket with is_ovirt_host=true, to raw, qcow2 and file backends.
for t in raw:raw:https qcow2:qcow2:local file:raw:local raw:raw:local; do
  IFS=: read -r kind fmt via <<<"$t"
  name=nc-$kind-$via
  if [ "$kind" = file ]; then file_ticket $name; else nbd_ticket $name $fmt; fi
  args=(size=$size insecure=true)
  [ "$via" = local ] && args+=(is_ovirt_host=true)
  start_plugin "$ticket" -D nbdkit.backend.datapath=0 "${args[@]}"
  timeout 120 nbdcopy "$tmpdir/src.raw" "$nbdkit_uri" \
    --request-size=4194304 --requests=16 --flush ||
    { cat "$nbdkit_log" >&2; fail "$name: nbdcopy failed"; }
  if [ "$via" = local ]; then
    grep -q -F "is_ovirt_host: using the server's Unix socket $imageio_local" "$nbdkit_log" ||
      { cat "$nbdkit_log" >&2; fail "$name: the plugin did not use the local socket"; }
  fi
  finish $name
  check $name $fmt
done
expect_nbdkit_logs_redacted "${all_tickets[@]}"
