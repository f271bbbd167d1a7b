#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Download through the plugin: a qcow2 disk served by qemu-nbd (data, zero
# clusters, holes), read with nbdcopy over 1 and 4 NBD connections and 1
# and 4 plugin connections, and with qemu-img convert; each copy must equal
# the source.
source "$(dirname "$0")/functions.sh"
requires_cmd nbdkit nbdcopy qemu-img qemu-io qemu-nbd timeout

size=$(( 48 * 1024 * 1024 ))

qemu-img create -q -f qcow2 "$tmpdir/src.qcow2" $size
qemu-io -f qcow2 \
  -c 'write -P 0x11 0 3M' \
  -c 'write -P 0x22 5M 64k' \
  -c 'write -z 6M 1M' \
  -c 'write -P 0x33 9000k 4k' \
  -c 'write -P 0x00 12M 1M' \
  -c 'write -P 0x44 20M 8M' \
  -c 'write -z 22M 512k' \
  -c 'write -P 0x55 47M 1M' \
  "$tmpdir/src.qcow2" >/dev/null
# Random data too, so a misplaced block cannot look right by chance.
head -c 2M /dev/urandom > "$tmpdir/rand"
qemu-io -f qcow2 -c "write -s $tmpdir/rand 30M 2M" "$tmpdir/src.qcow2" >/dev/null

# -e 16: the server opens an NBD connection per HTTP connection (qemu-nbd allows 1 by default).
start_qemu_nbd "$tmpdir/src.qcow2" qcow2 -r -e 16
t=$(random_ticket)
make_ticket "$tmpdir/t.json" "$t" $size "nbd:unix:$nbd_sock" read
make_cert "$tmpdir/pki"
start_server --tcp 127.0.0.1:0 --tls-cert "$tmpdir/pki/server.pem" \
  --tls-key "$tmpdir/pki/server-key.pem" --ticket "$tmpdir/t.json"
url=https://127.0.0.1:$server_port/images/$t
export dst

check ()
{
  qemu-img compare -U -f raw -F qcow2 "$dst" "$tmpdir/src.qcow2" ||
    fail "$1: the copy differs from the source"
  rm -f "$dst"
}

for nbdconns in 1 4; do
  for pconns in 1 4; do
    dst=$tmpdir/dst-$nbdconns-$pconns.raw
    export nbdconns
    timeout 120 nbdkit -U - -r "$IMAGEIO_PLUGIN" url="$url" \
      cafile="$tmpdir/pki/ca.pem" connections=$pconns \
      --run 'nbdcopy --connections=$nbdconns -- "$uri" "$dst"' \
      2>"$tmpdir/nbdkit.log" ||
      { cat "$tmpdir/nbdkit.log" >&2; fail "nbdcopy --connections=$nbdconns, connections=$pconns failed"; }
    check "nbdcopy --connections=$nbdconns connections=$pconns"
  done
done

dst=$tmpdir/dst-qemu-img.raw
timeout 120 nbdkit -U - -r "$IMAGEIO_PLUGIN" url="$url" cafile="$tmpdir/pki/ca.pem" \
  --run 'qemu-img convert -f raw -O raw "$uri" "$dst"' 2>"$tmpdir/nbdkit.log" ||
  { cat "$tmpdir/nbdkit.log" >&2; fail "qemu-img convert download failed"; }
check "qemu-img convert"

# Every read was a ranged GET on this ticket; nothing was written.
[ "$(count_log 'method=GET .*op=read .*status=206')" -gt 0 ] || fail "no GET op=read in the server log"
[ "$(count_log 'method=(PUT|PATCH)')" -eq 0 ] || fail "a download sent PUT or PATCH"
expect_log_redacted "$t"
