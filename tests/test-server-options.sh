#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# OPTIONS /images/TICKET and /images/*: Allow header, features, max_readers/
# max_writers per backend, unix_socket, read-only tickets, missing tickets.
source "$(dirname "$0")/functions.sh"
requires_cmd curl jq qemu-img qemu-nbd

# Sorted, comma-separated members of the Allow header of the last answer.
allow_set ()
{
  header allow | tr -d ' ' | tr ',' '\n' | sort | paste -sd, -
}

features ()
{
  jq -r '.features | sort | join(",")' "$resp_body"
}

truncate -s 1M "$tmpdir/disk.img"
qemu-img create -q -f qcow2 "$tmpdir/disk.qcow2" 1M
start_qemu_nbd "$tmpdir/disk.qcow2" qcow2

t_file=$(random_ticket); t_nbd=$(random_ticket); t_ro=$(random_ticket)
t_wo=$(random_ticket); t_missing=$(random_ticket)
make_ticket "$tmpdir/file.json" "$t_file" 1048576 "file://$tmpdir/disk.img" read,write
make_ticket "$tmpdir/nbd.json" "$t_nbd" 1048576 "nbd:unix:$nbd_sock" read,write
make_ticket "$tmpdir/ro.json" "$t_ro" 1048576 "file://$tmpdir/disk.img" read
make_ticket "$tmpdir/wo.json" "$t_wo" 1048576 "nbd:unix:$nbd_sock" write

start_server_unix --ticket "$tmpdir/file.json" --ticket "$tmpdir/nbd.json" \
  --ticket "$tmpdir/ro.json" --ticket "$tmpdir/wo.json"
u=(--unix-socket "$server_sock")
base=http://localhost/images

# File backend, read-write.
request "${u[@]}" -X OPTIONS "$base/$t_file"
expect_status 200 "OPTIONS file ticket"
[ "$(allow_set)" = "GET,OPTIONS,PATCH,PUT" ] || fail "file Allow: '$(header allow)'"
case "$(header content-type)" in application/json*) ;; *) fail "content-type '$(header content-type)'" ;; esac
[ "$(tail -c 1 "$resp_body" | od -An -c | tr -d ' ')" = '\n' ] || fail "JSON body does not end in a newline"
for f in extents flush zero; do
  jq -e --arg f "$f" '.features | index($f) != null' "$resp_body" >/dev/null ||
    fail "file ticket lacks feature $f: $(cat "$resp_body")"
done
[ "$(jq .max_readers "$resp_body")" = 8 ] || fail "file max_readers: $(cat "$resp_body")"
[ "$(jq .max_writers "$resp_body")" = 1 ] || fail "file max_writers: $(cat "$resp_body")"
[ "$(jq -r .unix_socket "$resp_body")" = "$server_sock" ] || fail "unix_socket: $(cat "$resp_body")"
[ "$(header connection | tr A-Z a-z)" != close ] || fail "OPTIONS closed the connection"

# nbd backend: 8 and 8.
request "${u[@]}" -X OPTIONS "$base/$t_nbd"
expect_status 200 "OPTIONS nbd ticket"
[ "$(allow_set)" = "GET,OPTIONS,PATCH,PUT" ] || fail "nbd Allow: '$(header allow)'"
[ "$(jq .max_readers "$resp_body")" = 8 ] || fail "nbd max_readers: $(cat "$resp_body")"
[ "$(jq .max_writers "$resp_body")" = 8 ] || fail "nbd max_writers: $(cat "$resp_body")"
for f in extents flush zero; do
  jq -e --arg f "$f" '.features | index($f) != null' "$resp_body" >/dev/null ||
    fail "nbd ticket lacks feature $f"
done

# Read-only: Allow OPTIONS,GET; no zero or flush.
request "${u[@]}" -X OPTIONS "$base/$t_ro"
expect_status 200 "OPTIONS read-only ticket"
[ "$(allow_set)" = "GET,OPTIONS" ] || fail "read-only Allow: '$(header allow)'"
jq -e '.features | (index("zero") == null and index("flush") == null)' "$resp_body" >/dev/null ||
  fail "read-only features: $(cat "$resp_body")"
jq -e '.features | index("extents") != null' "$resp_body" >/dev/null ||
  fail "read-only ticket lacks extents: $(cat "$resp_body")"

# Write-only ticket: write implies read, so everything is allowed.
request "${u[@]}" -X OPTIONS "$base/$t_wo"
expect_status 200 "OPTIONS write-only ticket"
[ "$(allow_set)" = "GET,OPTIONS,PATCH,PUT" ] || fail "write-only Allow: '$(header allow)'"

# /images/*: every feature the server has, no max_* keys.
request "${u[@]}" -X OPTIONS "$base/*"
expect_status 200 "OPTIONS *"
for f in extents flush zero; do
  jq -e --arg f "$f" '.features | index($f) != null' "$resp_body" >/dev/null ||
    fail "OPTIONS * lacks feature $f: $(cat "$resp_body")"
done
jq -e 'has("max_readers") or has("max_writers") | not' "$resp_body" >/dev/null ||
  fail "OPTIONS * has max_* keys: $(cat "$resp_body")"
[ "$(jq -r .unix_socket "$resp_body")" = "$server_sock" ] || fail "OPTIONS * unix_socket: $(cat "$resp_body")"

# Missing ticket: 403 and the connection is closed.
request "${u[@]}" -X OPTIONS "$base/$t_missing"
expect_status 403 "OPTIONS missing ticket"
[ "$(header connection | tr A-Z a-z)" = close ] || fail "403 without Connection: close"
case "$(header content-type)" in text/plain*) ;; *) fail "403 content-type '$(header content-type)'" ;; esac
[ "$(wc -l < "$resp_body")" = 1 ] || fail "403 body is not one line: $(cat "$resp_body")"
printf 'OPTIONS /images/%s HTTP/1.1\r\nHost: x\r\n\r\n' "$t_missing" |
  expect_answer_then_close "unix:$server_sock" 403

# Two requests on one connection: one "open" for both (keep-alive).
opens=$(count_log 'conn=[0-9]+ open')
icurl "${u[@]}" -X OPTIONS -o /dev/null "$base/$t_file" -o /dev/null "$base/$t_nbd"
wait_for_log "ticket=${t_nbd:0:8}\.\.\. op=options status=200"
[ "$(count_log 'conn=[0-9]+ open')" -eq $(( opens + 1 )) ] || fail "keep-alive: a new connection per request"

# Log lines: redacted ticket, op=options.
[ "$(count_log "method=OPTIONS ticket=${t_file:0:8}\.\.\. op=options status=200")" -ge 1 ] ||
  fail "no OPTIONS log line"
[ "$(count_log 'status=403')" -ge 1 ] || fail "no 403 log line"
[ "$(count_log 'conn=[0-9]+ open transport=unix')" -ge 1 ] || fail "no open transport=unix line"

# A server without --unix reports no unix_socket.
start_server --tcp 127.0.0.1:0 --no-tls --ticket "$tmpdir/file.json"
request -X OPTIONS "http://127.0.0.1:$server_port/images/$t_file"
expect_status 200 "OPTIONS over TCP"
jq -e 'has("unix_socket") | not' "$resp_body" >/dev/null || fail "unix_socket without --unix: $(cat "$resp_body")"

stop_server
[ "$server_status" -eq 0 ] || fail "server exit status $server_status"
expect_log_redacted "$t_file" "$t_nbd" "$t_ro" "$t_wo" "$t_missing"
