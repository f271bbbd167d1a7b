#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# imageio-server as a tool: --version, the line saying where it listens
# (the bound port, not the 0 asked for; printed without -v), GET /info/,
# and the Server header on every kind of answer.
source "$(dirname "$0")/functions.sh"
requires_cmd curl jq openssl

version=$(sed -n "s/^ *version : '\([^']*\)'.*/\1/p" "$SRCDIR/meson.build" | head -n 1)
[ -n "$version" ] || fail "no version in meson.build"

# --version, -V, --help.
out=$("$IMAGEIO_SERVER" --version) || fail "--version failed"
[ "$out" = "imageio-server $version" ] || fail "--version printed '$out'"
[ "$("$IMAGEIO_SERVER" -V)" = "$out" ] || fail "-V differs from --version"
help=$("$IMAGEIO_SERVER" --help) || fail "--help failed"
grep -q -- '--version' <<< "$help" || fail "--help does not mention --version"

# Without -v: one line, with the bound port.
pidf=$tmpdir/quiet.pid portf=$tmpdir/quiet.port log=$tmpdir/quiet.log
abstract=imageio-test-$$-$RANDOM
"$IMAGEIO_SERVER" --tcp 127.0.0.1:0 --no-tls --unix "@$abstract" \
  --control "$tmpdir/control.sock" --pid-file "$pidf" --port-file "$portf" \
  </dev/null >"$log" 2>&1 &
quiet_pid=$!
cleanup_fn _kill_wait "$quiet_pid"
wait_until 10 test -s "$pidf"
port=$(<"$portf")
[ "$port" -gt 0 ] || fail "port file says '$port'"
want="imageio-server: ready (version $version): tcp=127.0.0.1:$port unix=@$abstract control=$tmpdir/control.sock"
[ "$(cat "$log")" = "$want" ] || { cat "$log" >&2; fail "expected exactly: $want"; }
_kill_wait "$quiet_pid" || fail "quiet server exit status $?"
[ "$(wc -l < "$log")" = 1 ] || { cat "$log" >&2; fail "more than one line without -v"; }

# IPv6, when the host has it.
if curl -sS -o /dev/null --max-time 2 "http://[::1]:1/" 2>&1 | grep -q -i 'not supported\|no address\|Cannot assign'; then
  echo "no IPv6 loopback: skipping the [::1] case" >&2
else
  start_server --tcp '[::1]:0' --no-tls
  grep -q -F "ready (version $version): tcp=[::1]:$server_port" "$server_log" ||
    fail "IPv6 ready line: $(grep ready "$server_log")"
  stop_server
fi

# HTTPS and a Unix path, with -v: the same line names tls=.
make_cert "$tmpdir/pki"
size=1048576
truncate -s $size "$tmpdir/disk.img"
t=$(random_ticket)
make_ticket "$tmpdir/t.json" "$t" $size "file://$tmpdir/disk.img" read,write
start_server --tcp 127.0.0.1:0 --tls-cert "$tmpdir/pki/server.pem" \
  --tls-key "$tmpdir/pki/server-key.pem" --unix "$tmpdir/imageio.sock" \
  --control "$tmpdir/ctl.sock" --ticket "$tmpdir/t.json"
[ "$(count_log "^imageio-server: ready \(version $version\): tls=127\.0\.0\.1:$server_port unix=$tmpdir/imageio\.sock control=$tmpdir/ctl\.sock$")" = 1 ] ||
  fail "TLS ready line: $(grep ready "$server_log")"
tls=(--cacert "$tmpdir/pki/ca.pem")
https=https://localhost:$server_port
u=(--unix-socket "$tmpdir/imageio.sock")
c=(--unix-socket "$tmpdir/ctl.sock")

expect_server_header ()
{
  [ "$(header server)" = "imageio-server/$version" ] ||
    fail "$1: Server header '$(header server)'"
}

# GET /info/ on both image services.
for where in "${tls[*]} $https" "${u[*]} http://localhost"; do
  read -r -a a <<< "$where"
  base=${a[-1]}; unset 'a[-1]'
  request "${a[@]}" "$base/info/"
  expect_status 200 "GET /info/"
  jq -e --arg v "$version" '. == {"version": $v}' "$resp_body" >/dev/null ||
    fail "/info/: $(cat "$resp_body")"
  case "$(header content-type)" in application/json*) ;;
    *) fail "/info/ Content-Type '$(header content-type)'" ;; esac
  expect_server_header "GET /info/"
done
request "${u[@]}" -X POST --data-binary x http://localhost/info/
expect_status 405 "POST /info/"
expect_server_header "405"
request "${u[@]}" http://localhost/info
expect_status 404 "GET /info (imageio serves /info/ only)"
expect_server_header "404"
request "${c[@]}" http://localhost/info/
expect_status 404 "GET /info/ on the control service"
expect_server_header "control 404"

# The header on answers of every kind.
img=http://localhost/images/$t
request "${u[@]}" -X OPTIONS "$img"
expect_status 200 OPTIONS; expect_server_header OPTIONS
request "${u[@]}" -H "Range: bytes=0-511" "$img"
expect_status 206 GET; expect_server_header GET
request "${u[@]}" -H "Range: bytes=$size-" "$img"
expect_status 416 "GET past the end"; expect_server_header 416
request "${u[@]}" -X PATCH -H 'Content-Type: application/json' --data-binary '{"op": "zap"}' "$img"
expect_status 400 "PATCH zap"; expect_server_header 400
request "${u[@]}" -X PATCH -H 'Content-Type: application/json' --data-binary '{"op": "flush"}' "$img"
expect_status 200 "PATCH flush"; expect_server_header "PATCH flush"
request "${u[@]}" -X PUT --data-binary @"$tmpdir/t.json" "$img"
expect_status 200 PUT; expect_server_header PUT
request "${u[@]}" "http://localhost/images/$(random_ticket)"
expect_status 403 "missing ticket"; expect_server_header 403
request "${c[@]}" "http://localhost/tickets/$t"
expect_status 200 "control GET"; expect_server_header "control GET"

stop_server
[ "$server_status" -eq 0 ] || fail "server exit status $server_status"
expect_log_redacted "$t"
