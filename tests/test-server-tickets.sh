#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Control service (PUT/GET/PATCH/DELETE /tickets/ID), invalid tickets,
# expiry (403 and connection closed), activity extending a ticket,
# read-only tickets refusing PUT and PATCH.
source "$(dirname "$0")/functions.sh"
requires_cmd curl jq

size=1048576
truncate -s $size "$tmpdir/disk.img"
ctl_sock=$tmpdir/control.sock
start_server_unix --control "$ctl_sock"
u=(--unix-socket "$server_sock")
c=(--unix-socket "$ctl_sock")
ctl=http://localhost/tickets

t=$(random_ticket)
url=http://localhost/images/$t

# Unknown ticket: 404 on the control service, 403 on the image service.
request "${c[@]}" "$ctl/$t"
expect_status 404 "GET unknown ticket"
request "${u[@]}" -X OPTIONS "$url"
expect_status 403 "OPTIONS before the ticket is added"

# Add.
make_ticket "$tmpdir/t.json" "$t" $size "file://$tmpdir/disk.img" read,write \
  '"sparse": false, "transfer_id": "transfer-1", "filename": "disk.raw"'
request "${c[@]}" -X PUT --data-binary @"$tmpdir/t.json" "$ctl/$t"
expect_status 200 "PUT ticket"
request "${c[@]}" "$ctl/$t"
expect_status 200 "GET ticket"
jq -e --arg t "$t" ".uuid == \$t and .size == $size and (.ops | sort) == [\"read\", \"write\"]" \
  "$resp_body" >/dev/null || fail "GET ticket: $(cat "$resp_body")"
case "$(header content-type)" in application/json*) ;; *) fail "GET ticket Content-Type '$(header content-type)'" ;; esac

# Usable now.
request "${u[@]}" -X OPTIONS "$url"
expect_status 200 "OPTIONS after PUT /tickets"
head -c 4096 /dev/urandom > "$tmpdir/d4k"
request "${u[@]}" -X PUT --data-binary @"$tmpdir/d4k" "$url"
expect_status 200 "PUT data"
request "${u[@]}" -H "Range: bytes=0-4095" "$url"
expect_status 206 "GET data"
cmp -s "$tmpdir/d4k" "$resp_body" || fail "data differs"
# filename goes into Content-Disposition.
header content-disposition | grep -q 'disk\.raw' || fail "Content-Disposition '$(header content-disposition)'"

# Extend with PATCH.
request "${c[@]}" -X PATCH -H 'Content-Type: application/json' --data-binary '{"timeout": 300}' "$ctl/$t"
expect_status 200 "PATCH ticket timeout"
for body in '{"timeout": "x"}' '{}' 'garbage' '{"timeout": -1}'; do
  request "${c[@]}" -X PATCH -H 'Content-Type: application/json' --data-binary "$body" "$ctl/$t"
  expect_status 400 "PATCH ticket '$body'"
  [ "$(wc -l < "$resp_body")" = 1 ] || fail "PATCH ticket '$body': body not one line"
done
request "${c[@]}" -X PATCH -H 'Content-Type: application/json' --data-binary '{"timeout": 300}' "$ctl/$(random_ticket)"
expect_status 404 "PATCH unknown ticket"

# Replace: a new size is visible.
make_ticket "$tmpdir/t2.json" "$t" 4096 "file://$tmpdir/disk.img" read,write
request "${c[@]}" -X PUT --data-binary @"$tmpdir/t2.json" "$ctl/$t"
expect_status 200 "PUT replacing ticket"
request "${c[@]}" "$ctl/$t"
[ "$(jq .size "$resp_body")" = 4096 ] || fail "replaced ticket: $(cat "$resp_body")"
request "${u[@]}" -H "Range: bytes=4096-" "$url"
expect_status 416 "GET past the replaced size"

# Invalid tickets: 400 with a one-line reason, nothing added.
t_bad=$(random_ticket)
bad=(
  "{\"uuid\": \"$(random_ticket)\", \"size\": 1, \"url\": \"file://$tmpdir/disk.img\", \"ops\": [\"read\"], \"timeout\": 60}"
  "{\"uuid\": \"$t_bad\", \"url\": \"file://$tmpdir/disk.img\", \"ops\": [\"read\"], \"timeout\": 60}"
  "{\"uuid\": \"$t_bad\", \"size\": 1, \"ops\": [\"read\"], \"timeout\": 60}"
  "{\"uuid\": \"$t_bad\", \"size\": 1, \"url\": \"file://$tmpdir/disk.img\", \"timeout\": 60}"
  "{\"uuid\": \"$t_bad\", \"size\": 1, \"url\": \"file://$tmpdir/disk.img\", \"ops\": [\"read\"]}"
  "{\"uuid\": \"$t_bad\", \"size\": -1, \"url\": \"file://$tmpdir/disk.img\", \"ops\": [\"read\"], \"timeout\": 60}"
  "{\"uuid\": \"$t_bad\", \"size\": \"1\", \"url\": \"file://$tmpdir/disk.img\", \"ops\": [\"read\"], \"timeout\": 60}"
  "{\"uuid\": \"$t_bad\", \"size\": 1, \"url\": \"file://$tmpdir/disk.img\", \"ops\": [\"fly\"], \"timeout\": 60}"
  "{\"uuid\": \"$t_bad\", \"size\": 1, \"url\": \"file://$tmpdir/disk.img\", \"ops\": \"read\", \"timeout\": 60}"
  "{\"uuid\": \"$t_bad\", \"size\": 1, \"url\": \"http://example.com/x\", \"ops\": [\"read\"], \"timeout\": 60}"
  "{\"uuid\": \"$t_bad\", \"size\": 1, \"url\": \"file://$tmpdir/disk.img\", \"ops\": [\"read\"], \"timeout\": 60, \"sparse\": \"yes\"}"
  "{\"uuid\": \"$t_bad\", \"size\": 1, \"url\": \"file://$tmpdir/disk.img\", \"ops\": [\"read\"], \"timeout\": 60, \"inactivity_timeout\": \"x\"}"
  "not json"
  "[1, 2]"
  ""
)
for body in "${bad[@]}"; do
  request "${c[@]}" -X PUT --data-binary "$body" "$ctl/$t_bad"
  expect_status 400 "PUT invalid ticket: $body"
  [ "$(wc -l < "$resp_body")" = 1 ] || fail "invalid ticket: body not one line: $(cat "$resp_body")"
done
request "${c[@]}" "$ctl/$t_bad"
expect_status 404 "an invalid ticket was added"

# Unknown control resources and methods.
request "${c[@]}" "http://localhost/nothing"
expect_status 404 "control: unknown path"
request "${c[@]}" -X POST --data-binary '{}' "$ctl/$t"
expect_status 405 "control: POST"

# Delete: 204, then gone everywhere.
request "${c[@]}" -X DELETE "$ctl/$t"
expect_status 204 "DELETE ticket"
request "${c[@]}" "$ctl/$t"
expect_status 404 "GET deleted ticket"
request "${u[@]}" -X OPTIONS "$url"
expect_status 403 "OPTIONS deleted ticket"
[ "$(header connection | tr A-Z a-z)" = close ] || fail "403 without Connection: close"
# Deleting again is not an error in imageio (assumed: 204, or 404).
request "${c[@]}" -X DELETE "$ctl/$t"
expect_status 204 "DELETE deleted ticket"

# Expiry: timeout 2 s; used once, then left alone: 403 and closed.
t_exp=$(random_ticket)
make_ticket "$tmpdir/exp.json" "$t_exp" $size "file://$tmpdir/disk.img" read '"timeout": 2'
request "${c[@]}" -X PUT --data-binary @"$tmpdir/exp.json" "$ctl/$t_exp"
expect_status 200 "PUT expiring ticket"
request "${u[@]}" -X OPTIONS "http://localhost/images/$t_exp"
expect_status 200 "OPTIONS before expiry"
# Activity extends the ticket: 6 requests 0.5 s apart on one connection
# span 2.5 s, more than the timeout.
rawhttp "unix:$server_sock" requests "/images/$t_exp" 6 0.5 > "$tmpdir/keep.out" ||
  fail "requests on a used ticket failed: $(cat "$tmpdir/keep.out")"
[ "$(sort -u "$tmpdir/keep.out")" = 200 ] || fail "activity did not extend the ticket: $(paste -sd' ' "$tmpdir/keep.out")"
# Now idle past the timeout (a deliberate wait: this tests a timeout).
sleep 2.6
request "${u[@]}" -X OPTIONS "http://localhost/images/$t_exp"
expect_status 403 "OPTIONS after expiry"
[ "$(header connection | tr A-Z a-z)" = close ] || fail "expired: 403 without Connection: close"
printf 'GET /images/%s HTTP/1.1\r\nHost: x\r\nRange: bytes=0-0\r\n\r\n' "$t_exp" |
  expect_answer_then_close "unix:$server_sock" 403
request "${u[@]}" -H "Range: bytes=0-0" "http://localhost/images/$t_exp"
expect_status 403 "GET after expiry"
# PATCH on the control service revives it (assumed: an expired ticket is
# kept until deleted, as imageio does); only informative.
request "${c[@]}" -X PATCH -H 'Content-Type: application/json' --data-binary '{"timeout": 60}' "$ctl/$t_exp"
echo "note: PATCH of an expired ticket: status $status" >&2

# Read-only ticket: GET works; PUT and PATCH are refused with 403.
t_ro=$(random_ticket)
make_ticket "$tmpdir/ro.json" "$t_ro" $size "file://$tmpdir/disk.img" read
request "${c[@]}" -X PUT --data-binary @"$tmpdir/ro.json" "$ctl/$t_ro"
expect_status 200 "PUT read-only ticket"
ro=http://localhost/images/$t_ro
request "${u[@]}" -X OPTIONS "$ro"
expect_status 200 "OPTIONS read-only"
[ "$(header allow | tr -d ' ')" = "OPTIONS,GET" ] || fail "read-only Allow '$(header allow)'"
jq -e '.features | (index("zero") == null and index("flush") == null)' "$resp_body" >/dev/null ||
  fail "read-only features: $(cat "$resp_body")"
request "${u[@]}" -H "Range: bytes=0-4095" "$ro"
expect_status 206 "GET read-only"
cmp -s "$tmpdir/d4k" "$resp_body" || fail "read-only GET data"
request "${u[@]}" -X PUT --data-binary @"$tmpdir/d4k" "$ro"
expect_status 403 "PUT on a read-only ticket"
request "${u[@]}" -X PATCH -H 'Content-Type: application/json' --data-binary '{"op": "zero", "size": 4096}' "$ro"
expect_status 403 "PATCH zero on a read-only ticket"
request "${u[@]}" -X PATCH -H 'Content-Type: application/json' --data-binary '{"op": "flush"}' "$ro"
expect_status 403 "PATCH flush on a read-only ticket"
request "${u[@]}" -H "Range: bytes=0-4095" "$ro"
cmp -s "$tmpdir/d4k" "$resp_body" || fail "a read-only ticket was written"

# Control log lines.
[ "$(count_log "method=PUT path=/tickets/${t:0:8}\.\.\. status=(200|204)")" -ge 1 ] || fail "no control PUT log line"
[ "$(count_log "method=DELETE path=/tickets/${t:0:8}\.\.\. status=204")" -ge 1 ] || fail "no control DELETE log line"

stop_server
[ "$server_status" -eq 0 ] || fail "server exit status $server_status"
expect_log_redacted "$t" "$t_bad" "$t_exp" "$t_ro"
