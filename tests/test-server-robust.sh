#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Robustness: garbage, unknown paths and methods, huge headers, clients that
# vanish mid-body or mid-answer; the server keeps answering and exits 0 on
# SIGTERM (and on SIGINT).
source "$(dirname "$0")/functions.sh"
requires_cmd curl qemu-img qemu-nbd cmp

size=4194304
random_file "$tmpdir/orig" $size
cp "$tmpdir/orig" "$tmpdir/disk.img"
qemu-img convert -q -f raw -O qcow2 "$tmpdir/orig" "$tmpdir/disk.qcow2"
start_qemu_nbd "$tmpdir/disk.qcow2" qcow2
t=$(random_ticket) t_nbd=$(random_ticket)
make_ticket "$tmpdir/t.json" "$t" $size "file://$tmpdir/disk.img" read,write
make_ticket "$tmpdir/nbd.json" "$t_nbd" $size "nbd:unix:$nbd_sock" read,write
start_server_unix --ticket "$tmpdir/t.json" --ticket "$tmpdir/nbd.json"
u=(--unix-socket "$server_sock")
url=http://localhost/images/$t
addr=unix:$server_sock

# The server is alive and serves the right data.
healthy ()
{
  server_alive || fail "server died: $1"
  request "${u[@]}" -X OPTIONS "$url"
  expect_status 200 "OPTIONS after $1"
  request "${u[@]}" "$url"
  expect_status 200 "GET after $1"
  cmp -s "$tmpdir/orig" "$resp_body" || fail "data changed after $1"
}

# Unknown paths: 404.
for p in /foo /images /images/ "/images/$t/unknown" "/images/$t/extents/x" /tickets/$t; do
  request "${u[@]}" "http://localhost$p"
  expect_status 404 "GET $p"
done
request "${u[@]}" "http://localhost/foo"
expect_status 404 "GET /foo"
# Unknown methods: 405.
for m in DELETE POST TRACE PROPFIND; do
  request "${u[@]}" -X "$m" "$url"
  expect_status 405 "$m on an image"
done
healthy "unknown paths and methods"

# Garbage request lines: a line that is no request line is not answered
# (libmicrohttpd closes: rawhttp exit 2, "EOF without answer"); an unknown
# HTTP version gets 505 and a close.
# expect_raw NAME EXIT [STATUS_LINE_ERE] < request bytes
expect_raw ()
{
  local name=$1 want=$2 line=${3:-} rc=0
  rawhttp "$addr" send --shutdown --timeout 5 > "$tmpdir/$name" || rc=$?
  [ "$rc" -eq "$want" ] ||
    fail "$name: rawhttp exit $rc, expected $want ('$(head -n 1 "$tmpdir/$name")')"
  [ -z "$line" ] || head -n 1 "$tmpdir/$name" | grep -q -E "$line" ||
    fail "$name answered '$(head -n 1 "$tmpdir/$name")', expected /$line/"
}
printf 'GARBAGE\r\n\r\n' | expect_raw garbage-line 2
printf 'GET\r\n\r\n' | expect_raw method-only 2
printf 'GET /images/%s HTTP/9.9\r\n\r\n' "$t" |
  expect_raw http-9.9 0 '^HTTP/1\.1 505 '
printf '\r\n\r\n\r\n' | expect_raw empty-lines 2
# 64 KiB of binary bytes (fixed, so the answer is too): no request line.
/usr/bin/python3 -c 'import sys; sys.stdout.buffer.write(bytes(range(256)) * 256)' |
  expect_raw binary-bytes 0 '^HTTP/1\.1 400 '
healthy "garbage"

# Headers: a 100 KiB header value, 2000 headers, a header without colon.
big=$(head -c 102400 /dev/zero | tr '\0' a)
request "${u[@]}" -H "X-Big: $big" -X OPTIONS "$url"
expect_status 200 "a 100 KiB header value"
hdrs=()
for i in $(seq 2000); do hdrs+=(-H "X-H$i: $i"); done
request "${u[@]}" "${hdrs[@]}" -X OPTIONS "$url"
expect_status 200 "2000 headers"
printf 'OPTIONS /images/%s HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n' "$t" |
  expect_raw no-colon 0 '^HTTP/1\.1 400 '
healthy "huge headers"

# Clients that go away: mid-headers, mid-body (file and nbd), mid-answer.
printf 'PUT /images/%s HTTP/1.1\r\nHost: x\r\nContent-Le' "$t" | rawhttp "$addr" send --timeout 0.3 > /dev/null || true
for tk in "$t" "$t_nbd"; do
  # Bodies of the original data so the image stays as it was.
  for n in 1 1000 1048576; do
    { printf 'PUT /images/%s?flush=n HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n' "$tk" $size
      head -c $n "$tmpdir/orig"; } | rawhttp "$addr" send --timeout 0.3 > /dev/null || true
  done
done
for tk in "$t" "$t_nbd"; do
  printf 'GET /images/%s HTTP/1.1\r\nHost: x\r\n\r\n' "$tk" |
    /usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1])
s.sendall(sys.stdin.buffer.read()); s.recv(10); s.close()' "$server_sock"
done
# Many connections opened and dropped at once.
pids=()
for i in $(seq 20); do
  printf 'OPTIONS /images/%s HTTP/1.1\r\nHost: x\r\n\r\n' "$t" | rawhttp "$addr" send --timeout 0.2 > /dev/null &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || true; done
healthy "vanishing clients"
request "${u[@]}" "http://localhost/images/$t_nbd"
expect_status 200 "GET nbd"
cmp -s "$tmpdir/orig" "$resp_body" || fail "nbd data changed"

# Plain HTTP/1.0 works.
printf 'OPTIONS /images/%s HTTP/1.0\r\n\r\n' "$t" | rawhttp "$addr" send --timeout 5 > "$tmpdir/h10"
head -n 1 "$tmpdir/h10" | grep -q -E '^HTTP/1\.[01] 200 ' || fail "HTTP/1.0: '$(head -n 1 "$tmpdir/h10")'"

# Clean exit on SIGTERM, then on SIGINT with a connection open.
stop_server
[ "$server_status" -eq 0 ] || fail "exit status $server_status on SIGTERM"
start_server_unix --ticket "$tmpdir/t.json"
rawhttp "unix:$server_sock" requests "/images/$t" 1 0 > /dev/null
kill -INT "$server_pid"
wait_until 10 _pid_exited "$server_pid"
st=0; wait "$server_pid" || st=$?
unset "_server_running[$server_pid]"
[ "$st" -eq 0 ] || fail "exit status $st on SIGINT"
[ "$(count_log 'AddressSanitizer|runtime error|Segmentation')" -eq 0 ] || fail "sanitizer report in the log"

# A bad ticket file or option: a non-zero exit, quickly.
echo '{"uuid": "x"' > "$tmpdir/bad.json"
st=0; timeout 10 "$IMAGEIO_SERVER" --unix "$tmpdir/x.sock" --ticket "$tmpdir/bad.json" >/dev/null 2>&1 || st=$?
[ "$st" -ne 0 ] && [ "$st" -ne 124 ] || fail "bad --ticket: status $st"
st=0; timeout 10 "$IMAGEIO_SERVER" --unix "$tmpdir/x.sock" --no-such-option >/dev/null 2>&1 || st=$?
[ "$st" -ne 0 ] && [ "$st" -ne 124 ] || fail "unknown option: status $st"
st=0; timeout 10 "$IMAGEIO_SERVER" --unix "$tmpdir/x.sock" --fault bogus >/dev/null 2>&1 || st=$?
[ "$st" -ne 0 ] && [ "$st" -ne 124 ] || fail "bad --fault: status $st"
timeout 10 "$IMAGEIO_SERVER" --help > "$tmpdir/help" 2>&1 || fail "--help failed"
grep -q -- --unix "$tmpdir/help" || fail "--help does not mention --unix"

expect_log_redacted "$t" "$t_nbd"
