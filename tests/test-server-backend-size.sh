#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Smaller items of issue 20: a ticket larger than its NBD export is refused
# when the backend opens, with a clear 500 (never a 200 or 206 with a
# short body); no answer shows a filesystem path (the log keeps them);
# every -v request line names the peer (address and port on TCP, uid on
# the Unix socket).
source "$(dirname "$0")/functions.sh"
requires_cmd curl qemu-img

size=1048576
random_file "$tmpdir/disk.img" $size
start_qemu_nbd "$tmpdir/disk.img" raw
t_big=$(random_ticket) t_ok=$(random_ticket) t_gone=$(random_ticket)
make_ticket "$tmpdir/big.json" "$t_big" $(( 2 * size )) "nbd:unix:$nbd_sock" read
make_ticket "$tmpdir/ok.json" "$t_ok" $size "nbd:unix:$nbd_sock" read
make_ticket "$tmpdir/gone.json" "$t_gone" $size "file://$tmpdir/missing.img" read
start_server_unix --tcp 127.0.0.1:0 --no-tls \
  --ticket "$tmpdir/big.json" --ticket "$tmpdir/ok.json" --ticket "$tmpdir/gone.json"
u=(--unix-socket "$server_sock")

# The ticket is twice the export: every read is refused, past the export's
# end or not, before any byte is sent.
for range in "" "-H Range:bytes=$(( size - 10 ))-$(( size + 9 ))" "-H Range:bytes=0-99"; do
  # shellcheck disable=SC2086
  request "${u[@]}" $range "http://localhost/images/$t_big"
  expect_status 500 "GET ${range:-(whole)} on a ticket larger than its export"
  grep -q "larger than the NBD export (1048576 bytes)" "$resp_body" ||
    fail "500 body: $(cat "$resp_body")"
done
request "${u[@]}" "http://localhost/images/$t_big/checksum"
expect_status 500 "checksum on a ticket larger than its export"
# The right size is served, and the data is right.
request "${u[@]}" "http://localhost/images/$t_ok"
expect_status 200 "GET on a ticket of the export's size"
cmp -s "$resp_body" "$tmpdir/disk.img" || fail "wrong data"

# A backend that cannot be opened: the answer names no path.
request "${u[@]}" "http://localhost/images/$t_gone"
expect_status 500 "GET on a missing file"
grep -q "Cannot open backend: open <path>: No such file or directory" "$resp_body" ||
  fail "500 body: $(cat "$resp_body")"
! grep -q -F "$tmpdir" "$resp_body" "$tmpdir/resp.headers" || fail "a path in the answer: $(cat "$resp_body")"
grep -q -F "$tmpdir/missing.img" "$server_log" || fail "the log lacks the path"

# -v lines name the peer.
request "http://127.0.0.1:$server_port/images/$t_ok" -H 'Range: bytes=0-0'
expect_status 206 "GET over TCP"
settle_log
[ "$(count_log "conn=[0-9]+ method=GET ticket=${t_ok:0:8}\.\.\. .* status=206 .* peer=127\.0\.0\.1:[0-9]+")" -eq 1 ] ||
  fail "no TCP request line with the peer's address"
[ "$(count_log "open transport=tcp peer=127\.0\.0\.1:[0-9]+")" -ge 1 ] || fail "no open line with the peer"
[ "$(count_log "status=200 .* peer=uid=$(id -u)")" -ge 1 ] || fail "no Unix request line with the peer's uid"

stop_server
[ "$server_status" -eq 0 ] || fail "server exit status $server_status"
expect_log_redacted "$t_big" "$t_ok" "$t_gone"
