#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Transports: HTTPS with a throw-away CA, plain TCP (--no-tls), IPv6, a Unix
# path and an abstract socket (@NAME); OPTIONS reports unix_socket; data
# written on one transport is read on another.
source "$(dirname "$0")/functions.sh"
requires_cmd curl jq openssl cmp

size=1048576
random_file "$tmpdir/orig" $size
cp "$tmpdir/orig" "$tmpdir/disk.img"
t=$(random_ticket)
make_ticket "$tmpdir/t.json" "$t" $size "file://$tmpdir/disk.img" read,write
make_cert "$tmpdir/pki"
head -c 65536 /dev/urandom > "$tmpdir/d64k"

# --- HTTPS and a Unix path on one server.
start_server --tcp 127.0.0.1:0 --tls-cert "$tmpdir/pki/server.pem" \
  --tls-key "$tmpdir/pki/server-key.pem" --unix "$tmpdir/imageio.sock" --ticket "$tmpdir/t.json"
https=https://localhost:$server_port/images/$t
tls=(--cacert "$tmpdir/pki/ca.pem")

request "${tls[@]}" -X OPTIONS "$https"
expect_status 200 "OPTIONS over TLS"
[ "$(jq -r .unix_socket "$resp_body")" = "$tmpdir/imageio.sock" ] || fail "unix_socket: $(cat "$resp_body")"
request "${tls[@]}" -H "Range: bytes=0-65535" "$https"
expect_status 206 "GET over TLS"
head -c 65536 "$tmpdir/orig" | cmp -s - "$resp_body" || fail "GET over TLS: wrong data"
# By IP address (the certificate names 127.0.0.1 too).
request "${tls[@]}" -X OPTIONS "https://127.0.0.1:$server_port/images/$t"
expect_status 200 "OPTIONS over TLS to 127.0.0.1"
# Write over TLS, read over the Unix socket.
request "${tls[@]}" -X PUT -H "Content-Range: bytes 65536-131071/*" --data-binary @"$tmpdir/d64k" "$https?flush=y"
expect_status 200 "PUT over TLS"
request --unix-socket "$tmpdir/imageio.sock" -H "Range: bytes=65536-131071" "http://localhost/images/$t"
expect_status 206 "GET over the Unix path"
cmp -s "$tmpdir/d64k" "$resp_body" || fail "data written over TLS not read back over Unix"
# Keep-alive over TLS: two requests, one connection.
opens=$(count_log 'conn=[0-9]+ open transport=tls')
icurl "${tls[@]}" -o /dev/null -H "Range: bytes=0-0" "$https" -o /dev/null "$https"
[ "$(count_log 'conn=[0-9]+ open transport=tls')" -eq $(( opens + 1 )) ] ||
  fail "keep-alive over TLS: a new connection per request"
# A client that does not trust the CA is refused by curl (the server really
# speaks TLS with that certificate).
if icurl -o /dev/null -X OPTIONS "$https" 2>/dev/null; then
  fail "TLS without the CA succeeded"
fi
# Plain HTTP to the TLS port gets no HTTP answer.
status=$(icurl --max-time 5 -o /dev/null -w '%{http_code}' -X OPTIONS "http://localhost:$server_port/images/$t" 2>/dev/null || true)
[ "$status" != 200 ] || fail "plain HTTP answered on the TLS port"
server_alive || fail "server died after a plain HTTP request on the TLS port"
[ "$(count_log 'conn=[0-9]+ open transport=tls')" -ge 3 ] || fail "no transport=tls log line"
[ "$(count_log 'conn=[0-9]+ open transport=unix')" -ge 1 ] || fail "no transport=unix log line"
stop_server
[ "$server_status" -eq 0 ] || fail "TLS server exit status $server_status"

# --- Plain TCP without TLS; no --unix, so no unix_socket.
start_server --tcp 127.0.0.1:0 --no-tls --ticket "$tmpdir/t.json"
http=http://127.0.0.1:$server_port/images/$t
request -X OPTIONS "$http"
expect_status 200 "OPTIONS over TCP"
jq -e 'has("unix_socket") | not' "$resp_body" >/dev/null || fail "TCP only: unix_socket reported"
request -H "Range: bytes=65536-131071" "$http"
expect_status 206 "GET over TCP"
cmp -s "$tmpdir/d64k" "$resp_body" || fail "GET over TCP: wrong data"
[ "$(count_log 'conn=[0-9]+ open transport=tcp')" -ge 1 ] || fail "no transport=tcp log line"
# HTTPS to a plain port fails on the client side.
if icurl --max-time 5 "${tls[@]}" -o /dev/null -X OPTIONS "https://localhost:$server_port/images/$t" 2>/dev/null; then
  fail "HTTPS to a --no-tls port succeeded"
fi
server_alive || fail "server died after a TLS hello on a plain port"
stop_server
[ "$server_status" -eq 0 ] || fail "TCP server exit status $server_status"

# --- IPv6 loopback, when the host has it.
if /usr/bin/python3 -c 'import socket; s = socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null; then
  start_server --tcp "[::1]:0" --no-tls --ticket "$tmpdir/t.json"
  request -X OPTIONS "http://[::1]:$server_port/images/$t"
  expect_status 200 "OPTIONS over IPv6"
  stop_server
  [ "$server_status" -eq 0 ] || fail "IPv6 server exit status $server_status"
else
  echo "note: no IPv6 loopback, skipping [::1]" >&2
fi

# --- Abstract Unix socket: OPTIONS shows it as "\u0000NAME".
name="/org/ovirt/imageio-test-$(random_ticket | cut -c1-8)"
start_server --unix "@$name" --ticket "$tmpdir/t.json"
a=(--abstract-unix-socket "$name")
request "${a[@]}" -X OPTIONS "http://localhost/images/$t"
expect_status 200 "OPTIONS over the abstract socket"
grep -q -F "\"unix_socket\": \"\\u0000$name\"" "$resp_body" ||
  grep -q -F "\"unix_socket\":\"\\u0000$name\"" "$resp_body" ||
  fail "abstract unix_socket: $(cat "$resp_body")"
[ "$(jq -r .unix_socket "$resp_body" | od -An -tx1 | head -n 1 | awk '{print $1}')" = 00 ] ||
  fail "unix_socket does not start with NUL"
request "${a[@]}" -X PUT --data-binary @"$tmpdir/d64k" "http://localhost/images/$t?flush=y"
expect_status 200 "PUT over the abstract socket"
request "${a[@]}" -H "Range: bytes=0-65535" "http://localhost/images/$t"
expect_status 206 "GET over the abstract socket"
cmp -s "$tmpdir/d64k" "$resp_body" || fail "abstract socket: wrong data"
# Raw client on the abstract name, two requests on one connection.
rawhttp "abstract:$name" requests "/images/$t" 2 0 > "$tmpdir/two.out" || fail "abstract keep-alive"
[ "$(paste -sd' ' "$tmpdir/two.out")" = "200 200" ] || fail "abstract keep-alive: $(cat "$tmpdir/two.out")"
[ "$(count_log 'conn=[0-9]+ open transport=unix')" -ge 3 ] || fail "no transport=unix log line for @name"
stop_server
[ "$server_status" -eq 0 ] || fail "abstract server exit status $server_status"

# --- Invalid command lines: no listener, --tcp without a certificate.
for args in "" "--tcp 127.0.0.1:0" "--tcp 127.0.0.1:0 --tls-cert $tmpdir/pki/server.pem" \
            "--tcp 127.0.0.1:0 --tls-cert /nonexistent --tls-key /nonexistent"; do
  st=0
  # shellcheck disable=SC2086
  timeout 10 "$IMAGEIO_SERVER" $args --ticket "$tmpdir/t.json" </dev/null >"$tmpdir/bad.log" 2>&1 || st=$?
  [ "$st" -ne 0 ] && [ "$st" -ne 124 ] || fail "imageio-server $args: status $st, expected a usage error"
done

expect_log_redacted "$t"
