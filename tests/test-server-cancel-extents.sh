#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A long extents list does not outlive its client or its ticket (issue 20):
# a client that stops reading a 40,000-extent list (2.4 MB of JSON, far
# more than the socket buffers hold) holds the request until DELETE of
# the ticket, which stops it and answers 204 at once (in 12 ms; without
# the cancellation, once the client read again); a client that leaves
# in the middle of the list ends its request, so the ticket is free (the
# DELETE that follows stops nothing).  Loopback Unix sockets only.
source "$(dirname "$0")/functions.sh"
requires_cmd curl jq qemu-nbd /usr/bin/python3

# 4 KiB of data every 8 KiB: 40,000 extents over 160 MB (80 MB of data).
pairs=20000
size=$(( pairs * 8192 ))
img=$tmpdir/frag.img
/usr/bin/python3 "$SRCDIR/tests/data/make-fragmented.py" "$img" $pairs
start_qemu_nbd "$img" raw -r
t=$(random_ticket)
printf '%s\n' "$t" > "$tmpdir/ticket"
make_ticket "$tmpdir/t.json" "$t" $size "nbd:unix:$nbd_sock" read
ctl=$tmpdir/control.sock
start_server_unix --control "$ctl" --ticket "$tmpdir/t.json"
url=http://localhost/images/$t/extents

# The whole list, for its length.
icurl --unix-socket "$server_sock" -o "$tmpdir/extents.json" "$url" ||
  fail "GET extents failed"
full=$(stat -c %s "$tmpdir/extents.json")
[ "$full" -gt $(( 2 * 1024 * 1024 )) ] || fail "the list is only $full bytes"

# Reads the first 64 KiB of the list, then MODE: "stall" stops reading
# for 6 s, then reads what is left (until the server ends it); "leave"
# closes the connection.  Prints got=BYTES.
slow_client ()
{
  /usr/bin/python3 "$SRCDIR/tests/data/slow-get.py" "$server_sock" \
    "$tmpdir/ticket" /extents "$1" 6
}

# 1. A stalled list stops when its ticket is deleted.
slow_client stall > "$tmpdir/stall.out" &
pid=$!
cleanup_fn kill_quiet "$pid"
wait_until 10 ticket_active "$ctl" "$t"
timed_delete "$ctl" "$t"
expect_status 204 "DELETE of a ticket with an extents list stalled"
echo "DELETE with a stalled extents list answered in $del_ms ms" >&2
# Not a speed target: without the cancellation the DELETE waits for the
# client to read again (5 s here).
[ "$del_ms" -lt 3000 ] || fail "DELETE took $del_ms ms: it waited for the client"
[ "$(count_log 'canceled, stopping 1 requests')" -eq 1 ] ||
  fail "the DELETE did not stop the extents request"
wait_until 40 _pid_exited "$pid"
wait "$pid" || true
got=$(sed -n 's/^got=//p' "$tmpdir/stall.out")
[ -n "$got" ] && [ "$got" -lt "$full" ] ||
  fail "the stalled client got $got bytes of the $full-byte list"
wait_for_log 'op=extents .* error=' 10
echo "stalled client: $got of $full bytes before the DELETE ended the list" >&2

# 2. A client that leaves mid-list frees the ticket.
request --unix-socket "$ctl" -X PUT --data-binary @"$tmpdir/t.json" "http://localhost/tickets/$t"
expect_status 200 "PUT of the ticket again"
slow_client leave > "$tmpdir/leave.out" || fail "the leaving client failed"
# Its request ends (an error logged, its connection closed: the close is
# logged after the request let go of the ticket) without the ticket being
# deleted.
settle_log
[ "$(count_log 'op=extents .* error=')" -eq 2 ] || fail "the leaving client's request logged no error"
request --unix-socket "$ctl" -X DELETE "http://localhost/tickets/$t"
expect_status 204 "DELETE after the client left"
[ "$(count_log 'canceled, stopping')" -eq 1 ] ||
  fail "the request of the client that left was still running at the DELETE"
server_alive || fail "the server died"
expect_log_redacted "$t"
