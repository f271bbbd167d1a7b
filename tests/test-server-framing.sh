#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Request framing and targets: a request with two Content-Length fields
# (equal or not), Content-Length with Transfer-Encoding, a Transfer-Encoding
# other than chunked, or a malformed Content-Length gets 400 and the
# connection closes, so a second request smuggled in its body is never
# answered (nor its ticket touched); a raw NUL, %00 or an encoded '/' in
# the target gets 400 (404 for the rest), never the ticket's data.
source "$(dirname "$0")/functions.sh"
requires_cmd /usr/bin/python3 curl cmp

size=65536
printf 'IMAGE-DATA-%05d\n' $(seq 4000) > "$tmpdir/disk.img"
truncate -s $size "$tmpdir/disk.img"
cp "$tmpdir/disk.img" "$tmpdir/orig.img"
t=$(random_ticket) t2=$(random_ticket)
make_ticket "$tmpdir/t.json" "$t" $size "file://$tmpdir/disk.img" read,write
make_ticket "$tmpdir/t2.json" "$t2" $size "file://$tmpdir/disk.img" read,write
start_server_unix --ticket "$tmpdir/t.json" --ticket "$tmpdir/t2.json"
addr=unix:$server_sock

# Sends stdin on one connection; fails unless exactly one answer came, with
# status WANT, and the server closed the connection.
expect_one_answer_closed ()
{
  local want=$1 what=$2 st=0
  rawhttp "$addr" send --timeout 5 > "$tmpdir/raw.out" || st=$?
  [ "$st" -eq 0 ] || fail "$what: connection not closed (rawhttp status $st)"
  head -n 1 "$tmpdir/raw.out" | grep -q -E "^HTTP/1\.1 $want " ||
    fail "$what: got '$(head -n 1 "$tmpdir/raw.out" | tr -d '\r')', expected $want"
  [ "$(grep -a -c -E '^HTTP/1\.[01] ' "$tmpdir/raw.out")" -eq 1 ] ||
    fail "$what: more than one answer: $(grep -a -E '^HTTP/' "$tmpdir/raw.out" | tr -d '\r' | paste -sd'|')"
  ! grep -a -q IMAGE-DATA "$tmpdir/raw.out" || fail "$what: image data in the answer"
}

# The smuggled request: a PUT of "SMUGGLED" over the start of the image
# through the other ticket.
smuggled="PUT /images/$t2?flush=y HTTP/1.1"$'\r\n'"Host: x"$'\r\n'"Content-Length: 8"$'\r\n\r\n'"SMUGGLED"
n=${#smuggled}

printf 'PUT /images/%s?flush=n HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: %d\r\n\r\n%s' \
  "$t" "$n" "$smuggled" | expect_one_answer_closed 400 "Content-Length 0 then $n"
printf 'PUT /images/%s?flush=n HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nContent-Length: 0\r\n\r\n%s' \
  "$t" "$n" "$smuggled" | expect_one_answer_closed 400 "Content-Length $n then 0"
printf 'PUT /images/%s?flush=n HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello' \
  "$t" | expect_one_answer_closed 400 "equal Content-Length twice"
grep -q "More than one Content-Length" "$tmpdir/raw.out" || fail "no reason given: $(tail -n 1 "$tmpdir/raw.out")"
printf 'PATCH /images/%s HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n%s' \
  "$t" "$smuggled" | expect_one_answer_closed 400 "Content-Length with Transfer-Encoding"
printf 'GET /images/%s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n0\r\n\r\n%s' \
  "$t" "$smuggled" | expect_one_answer_closed 400 "GET with Transfer-Encoding and Content-Length"
printf 'PUT /images/%s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n%s' \
  "$t" "$smuggled" | expect_one_answer_closed 400 "Transfer-Encoding gzip"
printf 'PUT /images/%s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n%s' \
  "$t" "$smuggled" | expect_one_answer_closed 400 "Transfer-Encoding twice"
printf 'PUT /images/%s HTTP/1.1\r\nHost: x\r\nContent-Length : %d\r\n\r\n%s' \
  "$t" "$n" "$smuggled" | expect_one_answer_closed 400 "space before the colon"
# A malformed Content-Length is libmicrohttpd's to refuse (before any
# handler runs); 0.9.75 repeats its 400 header block, but nothing else is
# answered and the connection closes.
for cl in 5x -1 '+8' '0x8' ''; do
  st=0
  printf 'PUT /images/%s HTTP/1.1\r\nHost: x\r\nContent-Length: %s\r\n\r\n%s' \
    "$t" "$cl" "$smuggled" | rawhttp "$addr" send --timeout 5 > "$tmpdir/raw.out" || st=$?
  [ "$st" -eq 0 ] || fail "Content-Length '$cl': connection not closed (rawhttp status $st)"
  [ "$(grep -a -E '^HTTP/1\.[01] ' "$tmpdir/raw.out" | grep -a -c -v -E '^HTTP/1\.[01] 400 ')" -eq 0 ] &&
    grep -a -q -E '^HTTP/1\.[01] 400 ' "$tmpdir/raw.out" ||
    fail "Content-Length '$cl': $(grep -a -E '^HTTP/' "$tmpdir/raw.out" | tr -d '\r' | paste -sd'|')"
done

# Nothing was written, and the second ticket was never used.
cmp -s "$tmpdir/disk.img" "$tmpdir/orig.img" || fail "the image changed"
[ "$(count_log "ticket=${t2:0:8}")" -eq 0 ] || fail "a smuggled request reached the second ticket"

# A plain pipelined pair still works (keep-alive is not broken).
printf 'OPTIONS /images/%s HTTP/1.1\r\nHost: x\r\n\r\nOPTIONS /images/%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' \
  "$t" "$t2" | rawhttp "$addr" send --timeout 5 > "$tmpdir/pipe.out" || true
[ "$(grep -a -c -E '^HTTP/1\.1 200 ' "$tmpdir/pipe.out")" -eq 2 ] || fail "pipelined requests: $(grep -a '^HTTP' "$tmpdir/pipe.out" | tr -d '\r')"

# Targets: never the ticket's data.
for target in "/images/$t%00" "/images/$t%00x" "/images/${t}%2fextents" "/images/${t}%2Fextents" \
              "/images/${t}%5cx" "/images/$t?flush=y%00" "/images/$t%zz" "/images/$t%0"; do
  printf 'GET %s HTTP/1.1\r\nHost: x\r\nRange: bytes=0-99\r\n\r\n' "$target" |
    expect_one_answer_closed 400 "target $target"
done
printf 'GET /images/%s\0x HTTP/1.1\r\nHost: x\r\nRange: bytes=0-99\r\n\r\n' "$t" |
  expect_one_answer_closed 400 "raw NUL in the target"
printf 'GET /images/%s\0 HTTP/1.1\r\nHost: x\r\nRange: bytes=0-99\r\n\r\n' "$t" |
  expect_one_answer_closed 400 "raw NUL at the end of the target"
printf 'GET /images/%s/%%2e%%2e/%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' "$t2" "$t" |
  rawhttp "$addr" send --timeout 5 > "$tmpdir/raw.out" || true
head -n 1 "$tmpdir/raw.out" | grep -q -E '^HTTP/1\.1 404 ' || fail "dot-dot target: $(head -n 1 "$tmpdir/raw.out")"
! grep -a -q IMAGE-DATA "$tmpdir/raw.out" || fail "dot-dot target: image data"
# A long target and a large head (the NUL check compares positions in
# libmicrohttpd's buffer, which grows) are still served.
hdrs=()
for i in $(seq 120); do hdrs+=(-H "X-H$i: $(printf '%01000d' 0)"); done
request --unix-socket "$server_sock" "${hdrs[@]}" -X OPTIONS \
  "http://localhost/images/$t?x=$(printf '%030000d' 0)"
expect_status 200 "OPTIONS with a 120 KB head"
# The same requests without the tricks are served.
request --unix-socket "$server_sock" -H 'Range: bytes=0-99' "http://localhost/images/$t"
expect_status 206 "plain GET"
grep -q IMAGE-DATA "$resp_body" || fail "plain GET: no data"

stop_server
[ "$server_status" -eq 0 ] || fail "server exit status $server_status"
expect_log_redacted "$t" "$t2"
