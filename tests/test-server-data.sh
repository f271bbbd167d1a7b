#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Data round trips with checksums: random data PUT in pieces (flush=n then
# PATCH flush), in one request, and from 4 parallel connections; read back
# whole and in odd ranges; file, nbd raw and nbd qcow2 backends; the backend
# image is compared with the source afterwards.
source "$(dirname "$0")/functions.sh"
requires_cmd curl qemu-img qemu-nbd cmp

mib=1048576
size=$(( 6 * mib + 4096 ))
random_file "$tmpdir/src" $size
want=$(sha "$tmpdir/src")

truncate -s $size "$tmpdir/file.img"
truncate -s $size "$tmpdir/raw.img"
qemu-img create -q -f qcow2 "$tmpdir/q.qcow2" $size
start_qemu_nbd "$tmpdir/raw.img" raw; s_raw=$nbd_sock
start_qemu_nbd "$tmpdir/q.qcow2" qcow2; s_q=$nbd_sock

t_file=$(random_ticket) t_raw=$(random_ticket) t_q=$(random_ticket)
make_ticket "$tmpdir/file.json" "$t_file" $size "file://$tmpdir/file.img" read,write
make_ticket "$tmpdir/raw.json" "$t_raw" $size "nbd:unix:$s_raw" read,write
make_ticket "$tmpdir/q.json" "$t_q" $size "nbd:unix:$s_q" read,write '"sparse": true'
start_server_unix --ticket "$tmpdir/file.json" --ticket "$tmpdir/raw.json" --ticket "$tmpdir/q.json"
u=(--unix-socket "$server_sock")

# The bytes [OFF, OFF+LEN) of the source.
piece ()
{
  dd if="$tmpdir/src" bs=1M iflag=skip_bytes,count_bytes skip="$1" count="$2" status=none
}

zero_all ()
{
  request "${u[@]}" -X PATCH -H 'Content-Type: application/json' \
    --data-binary "{\"op\": \"zero\", \"size\": $size, \"flush\": true}" "$1"
  expect_status 200 "zero the image"
  request "${u[@]}" "$1"
  expect_status 200 "GET zeroed image"
  cmp -s "$resp_body" <(head -c $size /dev/zero) || fail "zeroed image is not zero"
}

read_back ()
{
  local url=$1 what=$2
  request "${u[@]}" "$url"
  expect_status 200 "GET $what"
  [ "$(sha "$resp_body")" = "$want" ] || fail "$what: checksum differs"
  # Odd ranges, both edges.
  for r in "0 1" "1 1048577" "1048575 2" "$(( size - 4097 )) 4097" "3000000 1234567"; do
    set -- $r
    request "${u[@]}" -H "Range: bytes=$1-$(( $1 + $2 - 1 ))" "$url"
    expect_status 206 "GET $what range $1+$2"
    [ "$(sha "$resp_body")" = "$(piece "$1" "$2" | sha256sum | cut -d' ' -f1)" ] ||
      fail "$what: range $1+$2 differs"
  done
}

for t in "$t_file" "$t_raw" "$t_q"; do
  url=http://localhost/images/$t

  # 1 MiB pieces with flush=n, then one PATCH flush on the same connection.
  args=()
  for (( off = 0; off < size; off += mib )); do
    len=$(( size - off < mib ? size - off : mib ))
    piece $off $len > "$tmpdir/p.$off"
    args+=("${u[@]}" -X PUT -H "Content-Range: bytes $off-$(( off + len - 1 ))/*" -H "Expect:"
           --data-binary @"$tmpdir/p.$off" -o /dev/null -w '%{http_code}\n' "$url?flush=n" --next)
  done
  args+=("${u[@]}" -X PATCH -H 'Content-Type: application/json' --data-binary '{"op": "flush"}'
         -o /dev/null -w '%{http_code}\n' "$url")
  opens=$(count_log 'conn=[0-9]+ open')
  icurl "${args[@]}" > "$tmpdir/codes"
  [ "$(count_log 'conn=[0-9]+ open')" -eq $(( opens + 1 )) ] || fail "piecewise upload used several connections"
  [ "$(sort -u "$tmpdir/codes")" = 200 ] || fail "piecewise upload: $(paste -sd' ' "$tmpdir/codes")"
  read_back "$url" "piecewise upload ($t)"

  # One request with the whole image, flush=y.
  zero_all "$url"
  request "${u[@]}" -X PUT --data-binary @"$tmpdir/src" "$url?flush=y"
  expect_status 200 "PUT whole image"
  read_back "$url" "single upload"

  # 4 connections in parallel, each writing a quarter, flush=y.
  zero_all "$url"
  q=$(( size / 4 ))
  pids=()
  for i in 0 1 2 3; do
    off=$(( i * q )); len=$(( i == 3 ? size - off : q ))
    piece $off $len > "$tmpdir/q.$i"
    icurl "${u[@]}" -X PUT -H "Content-Range: bytes $off-$(( off + len - 1 ))/*" \
      --data-binary @"$tmpdir/q.$i" -o /dev/null -w '%{http_code}\n' "$url?flush=y" > "$tmpdir/code.$i" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || fail "parallel PUT failed"; done
  [ "$(cat "$tmpdir"/code.* | sort -u)" = 200 ] || fail "parallel PUT: $(cat "$tmpdir"/code.*)"
  read_back "$url" "parallel upload"
done

# What reached the backends.
cmp "$tmpdir/src" "$tmpdir/file.img" || fail "file.img differs"
cmp "$tmpdir/src" "$tmpdir/raw.img" || fail "raw.img differs"
qemu-img compare -q -U -f raw -F qcow2 "$tmpdir/src" "$tmpdir/q.qcow2" || fail "q.qcow2 differs"

stop_server
[ "$server_status" -eq 0 ] || fail "server exit status $server_status"
expect_log_redacted "$t_file" "$t_raw" "$t_q"
