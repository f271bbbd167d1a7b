#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# GET /images/TICKET: inclusive ranges at both edges, open ranges, whole
# image, every 416 case, HEAD 405, headers; file and nbd (raw) backends.
# The image size is odd so the nbd export (rounded up to 512) is larger than
# the ticket: the ticket size must win.
source "$(dirname "$0")/functions.sh"
requires_cmd curl qemu-nbd cmp

size=1048583
img=$tmpdir/disk.img
random_file "$img" $size
start_qemu_nbd "$img" raw -r

t_file=$(random_ticket); t_nbd=$(random_ticket); t_missing=$(random_ticket)
make_ticket "$tmpdir/file.json" "$t_file" $size "file://$img" read
make_ticket "$tmpdir/nbd.json" "$t_nbd" $size "nbd:unix:$nbd_sock" read
start_server_unix --ticket "$tmpdir/file.json" --ticket "$tmpdir/nbd.json"
u=(--unix-socket "$server_sock")

# The bytes FIRST..LAST (inclusive) of the image.
slice ()
{
  dd if="$img" bs=1M iflag=skip_bytes,count_bytes skip="$1" count=$(( $2 - $1 + 1 )) status=none
}

# GET with Range: bytes=SPEC, expecting 206 with FIRST..LAST.
get_ok ()
{
  local url=$1 spec=$2 first=$3 last=$4
  request "${u[@]}" -H "Range: bytes=$spec" "$url"
  expect_status 206 "GET bytes=$spec"
  [ "$(header content-range)" = "bytes $first-$last/$size" ] ||
    fail "bytes=$spec: Content-Range '$(header content-range)', expected 'bytes $first-$last/$size'"
  [ "$(header content-length)" = $(( last - first + 1 )) ] ||
    fail "bytes=$spec: Content-Length '$(header content-length)'"
  slice "$first" "$last" > "$tmpdir/want"
  cmp -s "$tmpdir/want" "$resp_body" || fail "bytes=$spec: wrong data"
  case "$(header content-type)" in application/octet-stream*) ;;
    *) fail "bytes=$spec: Content-Type '$(header content-type)'" ;; esac
}

# GET with Range: RANGE (whole value), expecting 416 whose body matches the
# case-insensitive ERE WHY.
get_416 ()
{
  local url=$1 range=$2 why=$3
  request "${u[@]}" -H "Range: $range" "$url"
  expect_status 416 "GET Range: $range"
  grep -q -i -E -- "$why" "$resp_body" ||
    fail "Range: $range: 416 body '$(cat "$resp_body")' does not match /$why/"
  [ "$(wc -l < "$resp_body")" = 1 ] || fail "Range: $range: body is not one line"
  local cr; cr=$(header content-range)
  [ -z "$cr" ] || [ "$cr" = "bytes */$size" ] ||
    fail "Range: $range: Content-Range '$cr', expected 'bytes */$size'"
}

for t in "$t_file" "$t_nbd"; do
  url=http://localhost/images/$t

  # No Range: 200 and the whole image.
  request "${u[@]}" "$url"
  expect_status 200 "GET without Range"
  [ "$(header content-length)" = $size ] || fail "whole GET Content-Length '$(header content-length)'"
  [ "$(sha "$resp_body")" = "$(sha "$img")" ] || fail "whole GET: wrong data"
  case "$(header content-disposition)" in attachment*) ;;
    *) fail "Content-Disposition '$(header content-disposition)'" ;; esac

  # Both edges of inclusive ranges.
  get_ok "$url" 0-0 0 0
  get_ok "$url" 0-511 0 511
  get_ok "$url" 1-1 1 1
  get_ok "$url" 511-512 511 512
  get_ok "$url" 4096-8191 4096 8191
  get_ok "$url" $(( size - 1 ))-$(( size - 1 )) $(( size - 1 )) $(( size - 1 ))
  get_ok "$url" $(( size - 7 ))-$(( size - 1 )) $(( size - 7 )) $(( size - 1 ))
  get_ok "$url" 0-$(( size - 1 )) 0 $(( size - 1 ))
  # bytes=FIRST- runs to the end.
  get_ok "$url" 1000- 1000 $(( size - 1 ))
  get_ok "$url" 0- 0 $(( size - 1 ))
  get_ok "$url" $(( size - 1 ))- $(( size - 1 )) $(( size - 1 ))
  # 416: any byte at or past the end of the ticket, as imageio (RFC 9110
  # would clip LAST; the nbd export is larger, up to the next multiple of
  # 512, but the ticket wins).
  for spec in "$size-" "$size-$size" "$(( size + 1 ))-$(( size + 100 ))" \
              "1048000-$(( size + 100 ))" "0-$size" \
              "1049000-1049087" "99999999999-"; do
    get_416 "$url" "bytes=$spec" "out of allowed range"
    [ "$(header content-range)" = "bytes */$size" ] ||
      fail "bytes=$spec: Content-Range '$(header content-range)', expected 'bytes */$size'"
  done
  get_416 "$url" "bytes=0-1,4-5" "multiple"
  get_416 "$url" "bytes=0-0, 10-20" "multiple"
  get_416 "$url" "bytes=-512" "suffix"
  get_416 "$url" "items=0-1" "unit"
  get_416 "$url" "bytes=10-5" "before first|reversed"
  get_416 "$url" "bytes=abc" "invalid|malformed"
  get_416 "$url" "bytes=1-x" "invalid|malformed"
  get_416 "$url" "bytes=99999999999999999999999-" "invalid|malformed"

  # HEAD: 405.
  status=$(icurl "${u[@]}" -I -o /dev/null -w '%{http_code}' "$url" || true)
  [ "$status" = 405 ] || fail "HEAD: status $status, expected 405"

  # The server still answers on this ticket after all the errors.
  get_ok "$url" 100-199 100 199
done

# Missing ticket: 403, connection closed.
request "${u[@]}" -H "Range: bytes=0-511" "http://localhost/images/$t_missing"
expect_status 403 "GET missing ticket"
[ "$(header connection | tr A-Z a-z)" = close ] || fail "403 without Connection: close"

# Log lines.
[ "$(count_log "method=GET ticket=${t_file:0:8}\.\.\. op=read offset=4096 length=4096 status=206")" -ge 1 ] ||
  fail "no GET log line for offset=4096 length=4096"
[ "$(count_log "method=GET ticket=${t_nbd:0:8}\.\.\. op=read offset=0 length=$size status=200")" -ge 1 ] ||
  fail "no GET log line for the whole image"
[ "$(count_log 'method=GET .*status=416 .*error="')" -ge 1 ] || fail "no 416 log line with error="

stop_server
[ "$server_status" -eq 0 ] || fail "server exit status $server_status"
expect_log_redacted "$t_file" "$t_nbd" "$t_missing"
