#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# TLS 1.2 is the minimum: openssl s_client -tls1 and -tls1_1 fail to
# handshake, -tls1_2 and -tls1_3 succeed and are served.  The client is
# run with OPENSSL_CONF=/dev/null and @SECLEVEL=0 so that it does offer
# the old versions (Debian's defaults would refuse them on the client side,
# and the test would prove nothing); against a server without the
# restriction these same commands complete a TLS 1.0/1.1 handshake.
source "$(dirname "$0")/functions.sh"
requires_cmd openssl curl

truncate -s 1M "$tmpdir/disk.img"
t=$(random_ticket)
make_ticket "$tmpdir/t.json" "$t" 1048576 "file://$tmpdir/disk.img" read
make_cert "$tmpdir/pki"
start_server --tcp 127.0.0.1:0 --tls-cert "$tmpdir/pki/server.pem" \
  --tls-key "$tmpdir/pki/server-key.pem" --ticket "$tmpdir/t.json"

# Runs s_client with VERSION-FLAG; prints the negotiated protocol or NONE.
handshake ()
{
  local out
  out=$(printf 'OPTIONS /images/%s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' "$t" |
        OPENSSL_CONF=/dev/null timeout 10 openssl s_client "$1" -cipher 'ALL:@SECLEVEL=0' \
          -CAfile "$tmpdir/pki/ca.pem" -connect "127.0.0.1:$server_port" \
          -servername localhost -ign_eof 2>&1) || true
  printf '%s\n' "$out" > "$tmpdir/s_client$1.out"
  if grep -q -E '^New, TLSv1\.[0-3], Cipher is [A-Z0-9]' <<<"$out" &&
     ! grep -q 'Cipher is (NONE)' <<<"$out"; then
    sed -n -E 's/^New, (TLSv1\.[0-3]), Cipher is .*/\1/p' <<<"$out" | head -n 1
  else
    echo NONE
  fi
}

for v in -tls1 -tls1_1; do
  got=$(handshake "$v")
  [ "$got" = NONE ] || fail "openssl s_client $v negotiated $got"
done
got=$(handshake -tls1_2)
[ "$got" = TLSv1.2 ] || { cat "$tmpdir/s_client-tls1_2.out" >&2; fail "s_client -tls1_2: $got"; }
grep -q -E '^HTTP/1\.1 200 ' "$tmpdir/s_client-tls1_2.out" || fail "no answer over TLS 1.2"
got=$(handshake -tls1_3)
[ "$got" = TLSv1.3 ] || { cat "$tmpdir/s_client-tls1_3.out" >&2; fail "s_client -tls1_3: $got"; }
request --cacert "$tmpdir/pki/ca.pem" -X OPTIONS "https://localhost:$server_port/images/$t"
expect_status 200 "curl over TLS"

stop_server
[ "$server_status" -eq 0 ] || fail "server exit status $server_status"
expect_log_redacted "$t"
