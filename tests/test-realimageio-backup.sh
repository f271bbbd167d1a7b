#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The backup chain of test-extents-backup.sh against the real imageio
# daemon (ovirt-imageio 2.5.3 from ../shared/peers, run from a scratch
# copy with /usr/bin/python3, as its README says): a full backup, data,
# zeroes and discards written, an incremental backup with extents=dirty
# from a ticket with "dirty": true whose qemu-nbd (run as imageio runs it)
# exports the bitmap; the chain compared with the disk, the overlay's data
# about the dirty data.  Also the daemon's 404s for context=dirty become
# one clear start-up error.  Skips without the peers.
source "$(dirname "$0")/functions.sh"
requires_cmd nbdkit qemu-img qemu-io qemu-nbd jq curl timeout

source "$(dirname "$0")/realimageio-functions.sh"
realimageio_require

mib=1048576
size=$(( 64 * mib ))
start_imageio

# qemu-nbd as imageio runs it (plus -r: a backup only reads); ARGS added.
# Sets q_sock, q_pid.
imageio_nbd ()
{
  start_imageio_qemu_nbd "$disk" qcow2 --allocation-depth -r "$@"
  q_sock=$nbd_sock q_pid=$nbd_pid
}

# Adds a ticket for q_sock with DIRTY (true|false); sets t and url.
add_ticket ()
{
  t=$(random_ticket)
  printf '{"uuid": "%s", "size": %s, "url": "nbd:unix:%s", "ops": ["read"], "timeout": 3000, "sparse": true, "dirty": %s}' \
    "$t" $size "$q_sock" "$1" > "$tmpdir/ticket.json"
  imageio_ticket "$tmpdir/ticket.json"
  url=$(imageio_url "$t")
}

run_plugin ()
{
  local what=$1; shift
  timeout 120 nbdkit -U - -r "$IMAGEIO_PLUGIN" url="$url" cafile="$imageio_pki/ca.pem" "$@" \
    2>"$tmpdir/nbdkit.log" || { cat "$tmpdir/nbdkit.log" >&2; fail "$what failed"; }
  grep -q -F "$t" "$tmpdir/nbdkit.log" && fail "$what: the ticket id was printed"
  return 0
}
own_data () { qemu-img map --output=json "$1" | jq '[.[] | select(.depth == 0 and .data) | .length] | add // 0'; }

disk=$tmpdir/disk.qcow2
qemu-img create -q -f qcow2 "$disk" $size
head -c $(( 16 * mib )) /dev/urandom > "$tmpdir/rand"
qemu-io -f qcow2 -c "write -s $tmpdir/rand 0 16M" -c 'write -P 0x5a 40M 4M' "$disk" >/dev/null
qemu-img bitmap --add "$disk" b1

# Full backup.
imageio_nbd
add_ticket false
run_plugin "full backup" --run "qemu-img convert -f raw -O qcow2 \"\$uri\" $tmpdir/full.qcow2"
qemu-img compare -U -q -f qcow2 -F qcow2 "$tmpdir/full.qcow2" "$disk" || fail "full backup differs"
# extents=dirty on it: the daemon's 404, one start-up error.
if timeout 60 nbdkit -U - -r "$IMAGEIO_PLUGIN" url="$url" cafile="$imageio_pki/ca.pem" \
     extents=dirty --run true 2>"$tmpdir/nodirty.log"; then
  fail "extents=dirty started on a ticket without dirty extents"
fi
grep -q '404 Not Found: Ticket does not support dirty extents' "$tmpdir/nodirty.log" ||
  { cat "$tmpdir/nodirty.log" >&2; fail "no clear error for a ticket without dirty extents"; }
# A dirty ticket whose qemu-nbd has no bitmap.
add_ticket true
if timeout 60 nbdkit -U - -r "$IMAGEIO_PLUGIN" url="$url" cafile="$imageio_pki/ca.pem" \
     extents=dirty --run true 2>"$tmpdir/nobitmap.log"; then
  fail "extents=dirty started on an export without a bitmap"
fi
grep -q "404 Not Found: Operation not supported: NBD export '' does not support dirty extents" "$tmpdir/nobitmap.log" ||
  { cat "$tmpdir/nobitmap.log" >&2; fail "no clear error for an export without a bitmap"; }
_kill_wait "$q_pid" || true

# Changes, then the incremental backup.
qemu-io -f qcow2 -c "write -s $tmpdir/rand 1M 2M" -c 'write -P 0x77 50M 1M' \
  -c 'write -z 8M 2M' -c 'discard 12M 1M' "$disk" >/dev/null
imageio_nbd --bitmap=b1
add_ticket true
run_plugin "incremental backup" extents=dirty \
  --run "qemu-img convert -f raw -O qcow2 -B $tmpdir/full.qcow2 -F qcow2 \"\$uri\" $tmpdir/incr.qcow2"
grep -qi error "$tmpdir/nbdkit.log" && { cat "$tmpdir/nbdkit.log" >&2; fail "errors in the incremental backup"; }
_kill_wait "$q_pid" || true
qemu-img compare -U -q -f qcow2 -F qcow2 "$tmpdir/incr.qcow2" "$disk" ||
  fail "full + incremental differs from the disk"
d=$(own_data "$tmpdir/incr.qcow2")
[ "$d" -ge $(( 3 * mib )) ] && [ "$d" -le $(( 4 * mib )) ] ||
  fail "the incremental holds $d bytes of data, expected 3 MiB (the dirty data)"
# The daemon served the dirty list once (it answers the whole list).
[ "$(grep -c 'EXTENTS .*context=dirty' "$imageio_log")" -ge 1 ] ||
  fail "the daemon logged no dirty extents request"
