#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# ovirt-imageio's own client (ovirt_imageio.client, from the peer's copy,
# run with /usr/bin/python3) against imageio-server, and the same calls
# against the real daemon as the control:
#  - upload of a qcow2 to raw and qcow2 images behind qemu-nbd and to a
#    file backend (targets filled with a pattern first);
#  - download as qcow2 and as raw;
#  - info of the download (its virtual size);
#  - checksum: the client's checksum of the local image equals the
#    server's GET .../checksum of the uploaded one;
#  - download(..., incremental=True) of a dirty-bitmap ticket (context=
#    dirty): on top of the full backup it gives the current image.
# The client switches to the server's Unix socket by itself (same host).
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/realimageio-functions.sh"
requires_cmd qemu-img qemu-io qemu-nbd jq curl
realimageio_require

size=$(( 64 * 1048576 ))
mkpat="$SRCDIR/tests/data/make-pattern.sh"
bash "$mkpat" qcow2 "$tmpdir/src.qcow2" $size 60 91
bash "$mkpat" qcow2 "$tmpdir/dl.qcow2" $size 60 92
# The incremental case: a full backup, then a bitmap and changes after it.
bash "$mkpat" qcow2 "$tmpdir/inc.qcow2" $size 40 93
qemu-img convert -f qcow2 -O raw "$tmpdir/inc.qcow2" "$tmpdir/inc-full.raw"
qemu-img bitmap --add "$tmpdir/inc.qcow2" b0
qemu-io -f qcow2 -c 'write -P 0x61 1M 3M' -c 'write -z 10M 2M' \
  -c 'write -P 0x62 33M 64k' -c 'discard 40M 4M' -c 'write -P 0x63 60M 1M' \
  "$tmpdir/inc.qcow2" >/dev/null

cat > "$tmpdir/client.py" <<'PY'
import json, sys
from ovirt_imageio import client
op, args = sys.argv[1], sys.argv[2:]
if op == "upload":
    src, url, ca = args
    client.upload(src, url, ca)
elif op == "download":
    url, dst, ca, fmt = args[:4]
    kw = {}
    if len(args) > 4:
        kw = dict(incremental=True, backing_file=args[4], backing_format="raw")
    client.download(url, dst, ca, fmt=fmt, **kw)
elif op == "info":
    print(json.dumps(client.info(args[0])))
elif op == "checksum":
    print(json.dumps(client.checksum(args[0])))
PY
pyclient () { imageio_python "$tmpdir/client.py" "$@"; }

# run_all NAME: every client call against the server whose tickets are
# added by add_ticket and whose URLs come from url_of.
run_all ()
{
  local who=$1 t
  # Uploads.
  for t in raw qcow2 file; do
    local target=$tmpdir/$who-up-$t.img fmt=raw
    [ $t = qcow2 ] && fmt=qcow2
    qemu-img create -q -f $fmt "$target" $size
    qemu-io -f $fmt -c "write -P 0x5a 0 $size" "$target" >/dev/null
    local ticket url
    ticket=$(random_ticket)
    if [ $t = file ]; then
      url="file://$target"
    else
      start_imageio_qemu_nbd "$target" $fmt
      url="nbd:unix:$nbd_sock"
    fi
    make_ticket "$tmpdir/$who-up-$t.json" "$ticket" $size "$url" read,write \
      '"sparse": true, "dirty": false, "inactivity_timeout": 60'
    add_ticket "$tmpdir/$who-up-$t.json"
    pyclient upload "$tmpdir/src.qcow2" "$(url_of "$ticket")" "$imageio_pki/ca.pem" ||
      fail "$who: upload to $t failed"
    qemu-img compare -q -U -f qcow2 -F $fmt "$tmpdir/src.qcow2" "$target" ||
      fail "$who: the upload to $t differs from its source"
    # checksum: the client's, of the local image, equals the server's.
    if [ $t = raw ]; then
      local local_sum server_sum
      local_sum=$(pyclient checksum "$tmpdir/src.qcow2") || fail "client.checksum failed"
      server_sum=$(get_json "$ticket" checksum) || fail "$who: GET checksum failed"
      [ "$(jq -cS . <<<"$local_sum")" = "$(jq -cS . <<<"$server_sum")" ] ||
        fail "$who: checksum: client $local_sum, server $server_sum"
    fi
  done
  # Downloads, as qcow2 and as raw.
  start_imageio_qemu_nbd "$tmpdir/dl.qcow2" qcow2 --read-only --allocation-depth
  ticket=$(random_ticket)
  make_ticket "$tmpdir/$who-dl.json" "$ticket" $size "nbd:unix:$nbd_sock" read \
    '"sparse": true, "dirty": false, "inactivity_timeout": 60'
  add_ticket "$tmpdir/$who-dl.json"
  for fmt in qcow2 raw; do
    pyclient download "$(url_of "$ticket")" "$tmpdir/$who-dl.$fmt" "$imageio_pki/ca.pem" $fmt ||
      fail "$who: download as $fmt failed"
    qemu-img compare -q -U -f qcow2 -F $fmt "$tmpdir/dl.qcow2" "$tmpdir/$who-dl.$fmt" ||
      fail "$who: the download as $fmt differs from the image"
  done
  local vsize
  vsize=$(pyclient info "$tmpdir/$who-dl.qcow2" | jq '.["virtual-size"]') ||
    fail "client.info failed"
  [ "$vsize" = $size ] || fail "$who: client.info virtual-size $vsize, expected $size"
  # Incremental download of the changes since bitmap b0.
  start_imageio_qemu_nbd "$tmpdir/inc.qcow2" qcow2 --read-only --allocation-depth --bitmap=b0
  ticket=$(random_ticket)
  make_ticket "$tmpdir/$who-inc.json" "$ticket" $size "nbd:unix:$nbd_sock" read \
    '"sparse": true, "dirty": true, "inactivity_timeout": 60'
  add_ticket "$tmpdir/$who-inc.json"
  rm -f "$tmpdir/$who-inc.qcow2"
  if pyclient download "$(url_of "$ticket")" "$tmpdir/$who-inc.qcow2" "$imageio_pki/ca.pem" \
       qcow2 "$tmpdir/inc-full.raw" 2>"$tmpdir/$who-inc.err"; then
    qemu-img compare -q -U -f qcow2 -F qcow2 "$tmpdir/inc.qcow2" "$tmpdir/$who-inc.qcow2" ||
      fail "$who: full backup + incremental download differs from the image"
    # Only the changed clusters were downloaded.
    local alloc
    alloc=$(qemu-img map --output=json -f qcow2 "$tmpdir/$who-inc.qcow2" |
              jq '[.[] | select(.depth == 0 and .data) | .length] | add // 0')
    [ "$alloc" -le $(( 6 * 1048576 )) ] ||
      fail "$who: the incremental download holds $alloc bytes of data, more than the changes"
    echo "$who: incremental download: identical, $alloc bytes of data"
  else
    tail -n 3 "$tmpdir/$who-inc.err" >&2
    fail "$who: download(..., incremental=True) failed"
  fi
  echo "$who: upload (raw, qcow2, file), download (qcow2, raw), info, checksum: identical"
}

# The real daemon first: the control, showing the test is right.
start_imageio
add_ticket () { imageio_ticket "$1"; }
url_of () { imageio_url "$1"; }
get_json ()
{
  curl -sS --fail --max-time 60 --cacert "$imageio_pki/ca.pem" \
    "https://localhost:$imageio_port/images/$1/$2"
}
run_all real

# imageio-server, HTTPS with the same test certificate, its control socket
# and a Unix socket the client switches to.
start_server --tcp 127.0.0.1:0 --tls-cert "$imageio_pki/cert.pem" \
  --tls-key "$imageio_pki/key.pem" --unix "$tmpdir/ours-local.sock" \
  --control "$tmpdir/ours-ctl.sock"
add_ticket ()
{
  local id code
  id=$(jq -r .uuid "$1")
  code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 30 \
           --unix-socket "$tmpdir/ours-ctl.sock" -X PUT --upload-file "$1" \
           "http://localhost/tickets/$id") || true
  [ "$code" = 200 ] || fail "imageio-server: adding a ticket: status $code"
}
url_of () { printf 'https://localhost:%s/images/%s\n' "$server_port" "$1"; }
get_json ()
{
  curl -sS --fail --max-time 60 --cacert "$imageio_pki/ca.pem" \
    "https://localhost:$server_port/images/$1/$2"
}
run_all ours
[ "$(count_log 'open transport=unix')" -ge 1 ] ||
  fail "the client never used imageio-server's Unix socket"
