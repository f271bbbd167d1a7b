#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# PUT /images/TICKET: Content-Range offsets, Content-Length required,
# flush=y|n|other, writes past the end (416, connection closed), ?close=y,
# short bodies from a client that goes away; file and nbd backends.
source "$(dirname "$0")/functions.sh"
requires_cmd curl qemu-img qemu-nbd cmp

size=1048576
truncate -s $size "$tmpdir/disk.img"
qemu-img create -q -f qcow2 "$tmpdir/disk.qcow2" $size
start_qemu_nbd "$tmpdir/disk.qcow2" qcow2

t_file=$(random_ticket); t_nbd=$(random_ticket)
make_ticket "$tmpdir/file.json" "$t_file" $size "file://$tmpdir/disk.img" read,write
make_ticket "$tmpdir/nbd.json" "$t_nbd" $size "nbd:unix:$nbd_sock" read,write
start_server_unix --ticket "$tmpdir/file.json" --ticket "$tmpdir/nbd.json"
u=(--unix-socket "$server_sock")

# The expected image, kept up to date with each successful write.
truncate -s $size "$tmpdir/want"

# Writes FILE at OFFSET of the expected image.
want_write ()
{
  dd if="$1" of="$tmpdir/want" bs=1 seek="$2" conv=notrunc status=none
}

check_image ()
{
  request "${u[@]}" "$1"
  expect_status 200 "GET whole image"
  cmp "$tmpdir/want" "$resp_body" || fail "$2: image differs from what was written"
}

random_file "$tmpdir/d4k" 4096
random_file "$tmpdir/d1" 1
random_file "$tmpdir/d20" 20
random_file "$tmpdir/d3000" 3000

for t in "$t_file" "$t_nbd"; do
  url=http://localhost/images/$t
  truncate -s 0 "$tmpdir/want"; truncate -s $size "$tmpdir/want"
  # Start from zeroes (the file image may hold the previous round's data).
  request "${u[@]}" -X PATCH -H 'Content-Type: application/json' \
    --data-binary "{\"op\": \"zero\", \"offset\": 0, \"size\": $size, \"flush\": true}" "$url"
  expect_status 200 "PATCH zero all"

  # Content-Range gives the offset; 200 with Content-Length: 0.
  request "${u[@]}" -X PUT -H "Content-Range: bytes 8192-12287/*" \
    --data-binary @"$tmpdir/d4k" "$url?flush=n"
  expect_status 200 "PUT 4096 at 8192"
  [ "$(header content-length)" = 0 ] || fail "PUT answer Content-Length '$(header content-length)'"
  [ ! -s "$resp_body" ] || fail "PUT answer has a body"
  want_write "$tmpdir/d4k" 8192

  # No Content-Range: offset 0.
  request "${u[@]}" -X PUT --data-binary @"$tmpdir/d3000" "$url"
  expect_status 200 "PUT without Content-Range"
  want_write "$tmpdir/d3000" 0

  # Both edges: the last byte, and a write ending exactly at the end.
  request "${u[@]}" -X PUT -H "Content-Range: bytes $(( size - 1 ))-$(( size - 1 ))/*" \
    --data-binary @"$tmpdir/d1" "$url?flush=y"
  expect_status 200 "PUT the last byte"
  want_write "$tmpdir/d1" $(( size - 1 ))
  request "${u[@]}" -X PUT -H "Content-Range: bytes $(( size - 4096 ))-$(( size - 1 ))/$size" \
    --data-binary @"$tmpdir/d4k" "$url"
  expect_status 200 "PUT the last 4096 bytes"
  want_write "$tmpdir/d4k" $(( size - 4096 ))

  # Only FIRST of Content-Range is used (imageio ignores LAST).
  request "${u[@]}" -X PUT -H "Content-Range: bytes 20000-20001/*" \
    --data-binary @"$tmpdir/d20" "$url"
  expect_status 200 "PUT with a short Content-Range"
  want_write "$tmpdir/d20" 20000

  # Large body with Expect: 100-continue (curl's default above 1 KiB).
  random_file "$tmpdir/d256k" 262144
  request "${u[@]}" -X PUT -H "Expect: 100-continue" -H "Content-Range: bytes 65536-327679/*" \
    --data-binary @"$tmpdir/d256k" "$url?flush=n"
  expect_status 200 "PUT with Expect: 100-continue"
  want_write "$tmpdir/d256k" 65536

  check_image "$url" "after writes"

  # flush: anything but y or n is 400 with imageio's message.
  request "${u[@]}" -X PUT --data-binary @"$tmpdir/d1" "$url?flush=x"
  expect_status 400 "PUT flush=x"
  expect_body "Unsupported value 'x' for 'flush', expecting one of ['n', 'y']"
  case "$(header content-type)" in text/plain*) ;; *) fail "400 Content-Type '$(header content-type)'" ;; esac

  # Chunked upload (no Content-Length): 400.
  request "${u[@]}" -X PUT -H "Transfer-Encoding: chunked" --data-binary @"$tmpdir/d4k" "$url"
  expect_status 400 "chunked PUT"
  grep -q "Content-Length header is required" "$resp_body" ||
    fail "chunked PUT: body '$(cat "$resp_body")'"
  # No body, no Content-Length: 400.
  request "${u[@]}" -X PUT "$url"
  expect_status 400 "PUT without Content-Length"
  grep -q "Content-Length header is required" "$resp_body" ||
    fail "PUT without Content-Length: body '$(cat "$resp_body")'"

  # A malformed Content-Range: 400 (assumed; imageio documents no status).
  for cr in "bytes abc-def/*" "items 0-19/*" "bytes 10-5/*"; do
    request "${u[@]}" -X PUT -H "Content-Range: $cr" --data-binary @"$tmpdir/d20" "$url"
    expect_status 400 "PUT Content-Range: $cr"
  done

  # Past the end: 416 and Connection: close; nothing written.
  for cr in "bytes $(( size - 10 ))-$(( size + 9 ))/*" "bytes $size-$(( size + 19 ))/*" \
            "bytes 99999999999-100000000018/*"; do
    request "${u[@]}" -X PUT -H "Content-Range: $cr" --data-binary @"$tmpdir/d20" "$url"
    expect_status 416 "PUT Content-Range: $cr"
    [ "$(header connection | tr A-Z a-z)" = close ] || fail "PUT 416 without Connection: close"
  done
  # ... and the server really closes the connection.
  printf 'PUT /images/%s HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\nContent-Range: bytes %d-%d/*\r\n\r\n%s' \
    "$t" $(( size - 10 )) $(( size + 9 )) 01234567890123456789 |
    expect_answer_then_close "unix:$server_sock" 416
  check_image "$url" "after refused writes"

  # ?close=y: the server closes the connection after answering.
  request "${u[@]}" -X PUT --data-binary @"$tmpdir/d20" "$url?close=y&flush=n"
  expect_status 200 "PUT close=y"
  [ "$(header connection | tr A-Z a-z)" = close ] || fail "close=y without Connection: close"
  want_write "$tmpdir/d20" 0

  # A client sending less than Content-Length and going away: the server
  # survives.  With a half-close it closes without an answer (libmicrohttpd
  # drops a request whose body ends early; imageio answers 400:
  # docs/protocol.md, "Deliberate differences").
  rawhttp "unix:$server_sock" shortbody "/images/$t?flush=n" 65536 1000
  rawhttp "unix:$server_sock" shortbody "/images/$t?flush=n" 65536 1000 --shutdown > "$tmpdir/short.out"
  [ ! -s "$tmpdir/short.out" ] ||
    fail "short body: answer '$(head -n 1 "$tmpdir/short.out")', expected a close"
  rawhttp "unix:$server_sock" shortbody "/images/$t?flush=n" 8388608 1048576
  server_alive || fail "server died after a short body"
  # The short writes may or may not have landed; rewrite 0..65535 to know.
  random_file "$tmpdir/d64k" 65536
  request "${u[@]}" -X PUT --data-binary @"$tmpdir/d64k" "$url?flush=y"
  expect_status 200 "PUT after short bodies"
  want_write "$tmpdir/d64k" 0
  check_image "$url" "after short bodies"
  cp "$tmpdir/want" "$tmpdir/want-$t"
done

# Log lines: offset, length and flush of each write.
[ "$(count_log "method=PUT ticket=${t_file:0:8}\.\.\. op=write offset=8192 length=4096 flush=n status=200")" -eq 1 ] ||
  fail "no PUT log line for offset=8192 length=4096 flush=n"
[ "$(count_log "method=PUT ticket=${t_nbd:0:8}\.\.\. op=write offset=$(( size - 1 )) length=1 flush=y status=200")" -eq 1 ] ||
  fail "no PUT log line for the last byte"
# flush defaults to y.
[ "$(count_log "method=PUT ticket=${t_nbd:0:8}\.\.\. op=write offset=0 length=3000 flush=y status=200")" -eq 1 ] ||
  fail "flush does not default to y"
[ "$(count_log 'method=PUT .*status=416')" -ge 6 ] || fail "no 416 PUT log lines"

stop_server
[ "$server_status" -eq 0 ] || fail "server exit status $server_status"
expect_log_redacted "$t_file" "$t_nbd"

# The file backend wrote through to the file.
cmp "$tmpdir/want-$t_file" "$tmpdir/disk.img" || fail "disk.img differs from what was written"
