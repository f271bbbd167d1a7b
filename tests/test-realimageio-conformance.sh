#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Differential conformance: the same requests (every method, every error)
# sent to the real ovirt-imageio daemon and to imageio-server, each serving
# the same tickets on identical images behind qemu-nbd; the answers must
# agree (tests/data/conformance.py says what is compared).  The only
# differences allowed are the deliberate ones of docs/protocol.md, each
# named in conformance.py; this test checks that every name it allows is
# in docs/protocol.md.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/realimageio-functions.sh"
requires_cmd qemu-img qemu-nbd jq
realimageio_require

size=$(( 8 * 1048576 + 65536 ))
# Each server gets its own copy, both made the same way (cp
# --sparse=always): qemu reports a qcow2 cluster whose host blocks are a
# hole as zero, so copies must match in sparseness, not only in content.
bash "$SRCDIR/tests/data/make-pattern.sh" raw "$tmpdir/master.raw" $size 12 81
cp --sparse=always "$tmpdir/master.raw" "$tmpdir/real.raw"
cp --sparse=always "$tmpdir/master.raw" "$tmpdir/ours.raw"
rw=$(random_ticket) ro=$(random_ticket) dirty=$(random_ticket)
# An incremental backup: a qcow2 with a bitmap and changes after it.
bash "$SRCDIR/tests/data/make-pattern.sh" qcow2 "$tmpdir/master.qcow2" $size 20 82
qemu-img bitmap --add "$tmpdir/master.qcow2" b0
qemu-io -f qcow2 -c 'write -P 0x61 1M 1M' -c 'write -z 3M 512k' -c 'discard 5M 1M' \
  -c 'write -P 0x62 7M 64k' "$tmpdir/master.qcow2" >/dev/null
cp --sparse=always "$tmpdir/master.qcow2" "$tmpdir/real-inc.qcow2"

start_imageio
start_imageio_qemu_nbd "$tmpdir/real.raw" raw --allocation-depth
for t in rw ro; do
  ops=read; [ $t = rw ] && ops=read,write
  make_ticket "$tmpdir/real-$t.json" "${!t}" $size "nbd:unix:$nbd_sock" $ops \
    '"sparse": true, "dirty": false, "inactivity_timeout": 60'
  imageio_ticket "$tmpdir/real-$t.json"
done
start_imageio_qemu_nbd "$tmpdir/real-inc.qcow2" qcow2 --read-only --allocation-depth --bitmap=b0
make_ticket "$tmpdir/real-dirty.json" "$dirty" $size "nbd:unix:$nbd_sock" read \
  '"sparse": true, "dirty": true, "inactivity_timeout": 60'
imageio_ticket "$tmpdir/real-dirty.json"
# Read-only: both servers read it through the same qemu-nbd.
dirty_sock=$nbd_sock

start_imageio_qemu_nbd "$tmpdir/ours.raw" raw --allocation-depth
for t in rw ro; do
  ops=read; [ $t = rw ] && ops=read,write
  make_ticket "$tmpdir/ours-$t.json" "${!t}" $size "nbd:unix:$nbd_sock" $ops \
    '"sparse": true, "dirty": false, "inactivity_timeout": 60'
done
make_ticket "$tmpdir/ours-dirty.json" "$dirty" $size "nbd:unix:$dirty_sock" read \
  '"sparse": true, "dirty": true, "inactivity_timeout": 60'
# Ours on HTTPS with the daemon's own test certificate (CN localhost).
start_server_unix --ticket "$tmpdir/ours-rw.json" --ticket "$tmpdir/ours-ro.json" \
  --ticket "$tmpdir/ours-dirty.json" \
  --tcp 127.0.0.1:0 --tls-cert "$imageio_pki/cert.pem" --tls-key "$imageio_pki/key.pem"

# Every deliberate difference the script allows is written down.
for name in $(/usr/bin/python3 -c '
import sys; sys.path.insert(0, sys.argv[1]); import conformance
print("\n".join(sorted(set([v[0] for v in conformance.ALLOWED.values()]
                           + list(conformance.ALLOWED_EVERYWHERE.values())))))' "$SRCDIR/tests/data"); do
  grep -q -F "[$name]" "$SRCDIR/docs/protocol.md" ||
    fail "conformance.py allows '$name', which docs/protocol.md does not list"
done

echo "---- local service (HTTP on the Unix socket)"
/usr/bin/python3 "$SRCDIR/tests/data/conformance.py" "unix:$imageio_local" \
  "unix:$server_sock" "$rw" "$ro" $size "$dirty" "$@" ||
  fail "imageio-server answers differently from the real daemon (Unix socket)"
echo "---- remote service (HTTPS on localhost)"
/usr/bin/python3 "$SRCDIR/tests/data/conformance.py" \
  "https:localhost:$imageio_port:$imageio_pki/ca.pem" \
  "https:localhost:$server_port:$imageio_pki/ca.pem" "$rw" "$ro" $size "$dirty" "$@" ||
  fail "imageio-server answers differently from the real daemon (HTTPS)"
# Both images took the same writes.
cmp "$tmpdir/real.raw" "$tmpdir/ours.raw" || fail "the images differ after the same requests"
expect_log_redacted "$rw" "$ro" "$dirty"
