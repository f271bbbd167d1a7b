#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A whole backup chain through the plugin with stock tools only, as the
# man page's BACKUPS section tells it:
#   1. a qcow2 disk with data, zero clusters and holes, and a bitmap b1;
#   2. a full backup: qemu-img convert -O qcow2 "$uri" full.qcow2;
#   3. writes of data, zeroes and discards to the disk, a bitmap b2 added;
#   4. an incremental backup with extents=dirty from a ticket with
#      "dirty": true whose qemu-nbd exports b1 (-B b1):
#      qemu-img convert -O qcow2 -B full.qcow2 -F qcow2 "$uri" incr1.qcow2;
#   5. more writes, a second incremental on top of the first (b2).
# Each backup is compared with the disk at that time (qemu-img compare of
# the whole chain: identical), and each overlay's own data (depth 0 in
# qemu-img map) must hold the dirty data and not much more: far less than
# the disk's data.  Also: extents=dirty refuses a ticket without dirty
# extents (404, imageio's text) and a writable transfer, each with one
# clear start-up error; extents=bogus is refused.
source "$(dirname "$0")/functions.sh"
requires_cmd nbdkit qemu-img qemu-io qemu-nbd jq timeout

mib=1048576
size=$(( 192 * mib ))   # more than one extents window (64 MiB first)
disk=$tmpdir/disk.qcow2

# 1. The disk: 24 MiB of random data, a zero cluster, a pattern, holes.
qemu-img create -q -f qcow2 "$disk" $size
head -c $(( 24 * mib )) /dev/urandom > "$tmpdir/rand"
qemu-io -f qcow2 -c "write -s $tmpdir/rand 0 24M" -c 'write -z 30M 1M' \
  -c 'write -P 0x5a 40M 4M' "$disk" >/dev/null
qemu-img bitmap --add "$disk" b1

make_cert "$tmpdir/pki"
ca=$tmpdir/pki/ca.pem

# Serves the disk (qemu-nbd ARGS...) behind a ticket with EXTRA json,
# through a new server; sets url.
serve ()
{
  local ops=$1 extra=$2; shift 2
  start_qemu_nbd "$disk" qcow2 -e 16 "$@"
  qnbd_pid=$nbd_pid
  t=$(random_ticket)
  make_ticket "$tmpdir/t.json" "$t" $size "nbd:unix:$nbd_sock" "$ops" "$extra"
  start_server --tcp 127.0.0.1:0 --tls-cert "$tmpdir/pki/server.pem" \
    --tls-key "$tmpdir/pki/server-key.pem" --ticket "$tmpdir/t.json"
  url=https://localhost:$server_port/images/$t
}

unserve ()
{
  stop_server
  [ "$server_status" -eq 0 ] || fail "server exit status $server_status"
  expect_log_redacted "$t"
  _kill_wait "$qnbd_pid" || true
}

# Runs qemu-img convert ARGS... "$uri" DST through the plugin (PARAMS in
# $params); fails with nbdkit's log.
backup ()
{
  local what=$1; shift
  # shellcheck disable=SC2086 # params is a list of words
  timeout 120 nbdkit -U - -r "$IMAGEIO_PLUGIN" url="$url" cafile="$ca" \
    $params --run "qemu-img convert -f raw $* " 2>"$tmpdir/nbdkit.log" ||
    { cat "$tmpdir/nbdkit.log" >&2; fail "$what: the copy failed"; }
}

# Bytes of data (and of zero clusters) in IMAGE's own layer.
own_data () { qemu-img map --output=json "$1" | jq '[.[] | select(.depth == 0 and .data) | .length] | add // 0'; }
own_zero () { qemu-img map --output=json "$1" | jq '[.[] | select(.depth == 0 and .zero and (.data | not)) | .length] | add // 0'; }

# 2. Full backup.
serve read ''
params=
backup "full backup" -O qcow2 '"$uri"' "$tmpdir/full.qcow2"
qemu-img compare -U -f qcow2 -F qcow2 "$tmpdir/full.qcow2" "$disk" ||
  fail "full backup differs from the disk"
# Holes stay holes: the full backup holds the disk's data, no more.
full_data=$(own_data "$tmpdir/full.qcow2")
[ "$full_data" -ge $(( 28 * mib )) ] && [ "$full_data" -le $(( 30 * mib )) ] ||
  fail "full backup holds $full_data bytes of data, expected 28 MiB"

# extents=dirty on a ticket that is not part of a backup: 404 at start-up.
if timeout 60 nbdkit -U - -r "$IMAGEIO_PLUGIN" url="$url" cafile="$ca" \
     extents=dirty --run 'true' 2>"$tmpdir/nodirty.log"; then
  fail "extents=dirty started on a ticket without dirty extents"
fi
grep -q 'extents=dirty: the server has no dirty extents for this transfer' "$tmpdir/nodirty.log" &&
  grep -q '404' "$tmpdir/nodirty.log" &&
  grep -q 'Ticket does not support dirty extents' "$tmpdir/nodirty.log" ||
  { cat "$tmpdir/nodirty.log" >&2; fail "extents=dirty without dirty extents: unclear error"; }
[ "$(grep -c 'error' "$tmpdir/nodirty.log")" -le 2 ] ||
  { cat "$tmpdir/nodirty.log" >&2; fail "more than one error for one cause"; }
grep -q "$t" "$tmpdir/nodirty.log" && fail "the ticket id was printed"
unserve

# 3. Changes after the full backup: data over data and over holes, zeroes
# over data, a discard, a new bitmap for the second incremental.
head -c $(( 2 * mib )) /dev/urandom > "$tmpdir/rand2"
qemu-io -f qcow2 -c "write -s $tmpdir/rand2 1M 2M" -c 'write -P 0x77 50M 1M' \
  -c 'write -z 8M 2M' -c 'discard 16M 1M' -c 'write -P 0x78 41M 64k' \
  -c 'write -P 0x79 150M 1M' "$disk" >/dev/null
qemu-img bitmap --add "$disk" b2
cp "$disk" "$tmpdir/disk-at-incr1.qcow2"
dirty1=$(( 4 * mib + 64 * 1024 ))   # data written: 2M + 1M + 64k + 1M
zeroed1=$(( 3 * mib ))               # zeroes written or discarded

# extents=dirty on a writable transfer: refused at start-up.
serve read,write '"dirty": true' -B b1
if timeout 60 nbdkit -U - "$IMAGEIO_PLUGIN" url="$url" cafile="$ca" \
     extents=dirty --run 'true' 2>"$tmpdir/rw.log"; then
  fail "extents=dirty started on a writable transfer"
fi
grep -q 'extents=dirty is for a backup.s download: this transfer allows writing' "$tmpdir/rw.log" ||
  { cat "$tmpdir/rw.log" >&2; fail "extents=dirty on a writable transfer: unclear error"; }
unserve
# A bad value.
if nbdkit -U - "$IMAGEIO_PLUGIN" url=https://localhost:1/images/x extents=bogus \
     --run true 2>"$tmpdir/bogus.log"; then
  fail "extents=bogus accepted"
fi
grep -q 'extents=bogus: expecting zero' "$tmpdir/bogus.log" ||
  { cat "$tmpdir/bogus.log" >&2; fail "extents=bogus: unclear error"; }

# 4. First incremental: the ticket's qemu-nbd exports b1.
serve read '"dirty": true' -B b1
params=extents=dirty
backup "first incremental" -O qcow2 -B "$tmpdir/full.qcow2" -F qcow2 '"$uri"' \
  "$tmpdir/incr1.qcow2"
grep -qi 'error' "$tmpdir/nbdkit.log" && { cat "$tmpdir/nbdkit.log" >&2; fail "errors in the first incremental"; }
# Windows of dirty extents (our server serves them), not the whole list.
[ "$(count_log 'op=extents context=dirty count=[0-9]+ offset=[0-9]+ length=[0-9]+ status=200')" -ge 2 ] ||
  fail "the dirty extents were not fetched in windows"
unserve
qemu-img compare -U -f qcow2 -F qcow2 "$tmpdir/incr1.qcow2" "$tmpdir/disk-at-incr1.qcow2" ||
  fail "full + incr1 differs from the disk at the first incremental"
[ "$(qemu-img info --output=json "$tmpdir/incr1.qcow2" | jq -r '."backing-filename"')" = "$tmpdir/full.qcow2" ] ||
  fail "incr1's backing file is not full.qcow2"
d=$(own_data "$tmpdir/incr1.qcow2") z=$(own_zero "$tmpdir/incr1.qcow2")
# qemu's bitmap granularity is 64 KiB: the dirty data is exact here.
[ "$d" -ge $dirty1 ] && [ "$d" -le $(( dirty1 + mib )) ] ||
  fail "incr1 holds $d bytes of data, expected about $dirty1 (the dirty data), not $full_data"
[ "$z" -ge $zeroed1 ] || fail "incr1 has $z bytes of zero clusters, expected $zeroed1"

# 5. More changes, the second incremental on top of the first.
qemu-io -f qcow2 -c 'write -P 0x99 60M 512k' -c 'write -z 40M 1M' \
  -c "write -s $tmpdir/rand2 20M 1M" "$disk" >/dev/null
cp "$disk" "$tmpdir/disk-at-incr2.qcow2"
dirty2=$(( 512 * 1024 + mib ))
serve read '"dirty": true' -B b2
backup "second incremental" -O qcow2 -B "$tmpdir/incr1.qcow2" -F qcow2 '"$uri"' \
  "$tmpdir/incr2.qcow2"
unserve
qemu-img compare -U -f qcow2 -F qcow2 "$tmpdir/incr2.qcow2" "$tmpdir/disk-at-incr2.qcow2" ||
  fail "full + incr1 + incr2 differs from the disk at the second incremental"
d=$(own_data "$tmpdir/incr2.qcow2")
[ "$d" -ge $dirty2 ] && [ "$d" -le $(( dirty2 + mib )) ] ||
  fail "incr2 holds $d bytes of data, expected about $dirty2"
# The earlier layers are untouched: incr1 still equals the disk then.
qemu-img compare -U -f qcow2 -F qcow2 "$tmpdir/incr1.qcow2" "$tmpdir/disk-at-incr1.qcow2" ||
  fail "incr1 changed"
# Restore: a flat copy of the chain is the disk.
qemu-img convert -f qcow2 -O qcow2 "$tmpdir/incr2.qcow2" "$tmpdir/restored.qcow2"
qemu-img compare -U -f qcow2 -F qcow2 "$tmpdir/restored.qcow2" "$disk" ||
  fail "the restored disk differs"
