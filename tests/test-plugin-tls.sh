#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# TLS verification.  A certificate from another CA stops nbdkit at start-up
# with a verification message that names cafile= and insecure=true (what to
# do); insecure=true accepts it; the right cafile works; a certificate for
# another host name is refused, saying so (and accepted with insecure=true).
# URLs name the host (localhost), as oVirt's do.
source "$(dirname "$0")/functions.sh"
requires_cmd nbdkit nbdinfo openssl timeout

size=$(( 16 * 1024 * 1024 ))
head -c $size /dev/urandom > "$tmpdir/disk.raw"
t=$(random_ticket)
make_ticket "$tmpdir/t.json" "$t" $size "file://$tmpdir/disk.raw" read,write

make_cert "$tmpdir/pki"
make_cert "$tmpdir/other"       # a second, unrelated CA

# A certificate from the right CA for another name only.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
  -out "$tmpdir/pki/wrong-key.pem" 2>/dev/null
openssl req -new -key "$tmpdir/pki/wrong-key.pem" -subj "/CN=other.example" \
  -out "$tmpdir/pki/wrong.csr" 2>/dev/null
printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature" \
  "extendedKeyUsage=serverAuth" "subjectAltName=DNS:other.example,IP:192.0.2.1" \
  > "$tmpdir/pki/wrong.ext"
openssl x509 -req -in "$tmpdir/pki/wrong.csr" -CA "$tmpdir/pki/ca.pem" \
  -CAkey "$tmpdir/pki/ca-key.pem" -set_serial 0x1234 -sha256 -days 2 \
  -extfile "$tmpdir/pki/wrong.ext" -out "$tmpdir/pki/wrong.pem" 2>/dev/null

start_server --tcp 127.0.0.1:0 --tls-cert "$tmpdir/pki/server.pem" \
  --tls-key "$tmpdir/pki/server-key.pem" --ticket "$tmpdir/t.json"
url=https://localhost:$server_port/images/$t
url_ip=https://127.0.0.1:$server_port/images/$t
log_good=$server_log
start_server --tcp 127.0.0.1:0 --tls-cert "$tmpdir/pki/wrong.pem" \
  --tls-key "$tmpdir/pki/wrong-key.pem" --ticket "$tmpdir/t.json"
url_wrong_name=https://localhost:$server_port/images/$t

# works ARGS...: nbdkit serves and nbdinfo reads the size.
works ()
{
  local got
  got=$(timeout 30 nbdkit -U - "$IMAGEIO_PLUGIN" "$@" --run 'nbdinfo --size "$uri"' \
          2>"$tmpdir/err") || { cat "$tmpdir/err" >&2; fail "'${*//$t/${t:0:8}...}' failed"; }
  [ "$got" = "$size" ] || fail "'${*//$t/${t:0:8}...}': size $got"
}

# refused PATTERN ARGS...: nbdkit fails at start-up, stderr matches PATTERN.
refused ()
{
  local pat=$1 st=0 start=$SECONDS; shift
  timeout 30 nbdkit -U - "$IMAGEIO_PLUGIN" "$@" --run 'echo served' \
    >"$tmpdir/out" 2>"$tmpdir/err" || st=$?
  cat "$tmpdir/err"
  [ "$st" -ne 0 ] && [ "$st" -ne 124 ] || fail "'${*//$t/${t:0:8}...}': exit status $st, expected a failure"
  ! grep -q served "$tmpdir/out" || fail "'${*//$t/${t:0:8}...}': nbdkit served"
  [ $(( SECONDS - start )) -le 15 ] || fail "'${*//$t/${t:0:8}...}': took $(( SECONDS - start ))s to fail"
  grep -q -i -E -- "$pat" "$tmpdir/err" || fail "'${*//$t/${t:0:8}...}': message does not match '$pat'"
  ! grep -q -F -- "$t" "$tmpdir/err" || fail "'${*//$t/${t:0:8}...}': the whole ticket is in the message"
}

works url="$url" cafile="$tmpdir/pki/ca.pem"
works url="$url_ip" cafile="$tmpdir/pki/ca.pem"
refused 'certificate verify failed.*the CA in cafile= did not sign.*cafile=FILE.*insecure=true' \
  url="$url" cafile="$tmpdir/other/ca.pem"
works url="$url" cafile="$tmpdir/other/ca.pem" insecure=true
works url="$url" insecure=true
# Not in the system trust store either.
refused 'certificate verify failed.*give the CA .* with cafile=FILE.*insecure=true' url="$url"
refused 'certificate verify failed.*give the CA .* with cafile=FILE.*insecure=true' url="$url_ip"
# Right CA, wrong name.
refused 'certificate verify failed.*does not name this host.*insecure=true' \
  url="$url_wrong_name" cafile="$tmpdir/pki/ca.pem"
works url="$url_wrong_name" cafile="$tmpdir/pki/ca.pem" insecure=true

[ "$(count_log 'open transport=tls' "$log_good")" -gt 0 ] || fail "no TLS connection logged"
expect_log_redacted "$t"
