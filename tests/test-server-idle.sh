#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# inactivity_timeout: the server closes a connection idle for the ticket's
# inactivity timeout (2 s here) by itself, and logs "conn=N close" without
# any client action; a busy connection and one under the default (60 s)
# stay open.
source "$(dirname "$0")/functions.sh"
requires_cmd curl

truncate -s 1M "$tmpdir/disk.img"
t2=$(random_ticket) t60=$(random_ticket)
make_ticket "$tmpdir/t2.json" "$t2" 1048576 "file://$tmpdir/disk.img" read,write '"inactivity_timeout": 2'
make_ticket "$tmpdir/t60.json" "$t60" 1048576 "file://$tmpdir/disk.img" read,write
start_server_unix --ticket "$tmpdir/t2.json" --ticket "$tmpdir/t60.json"

# One request, then silence: closed after about 2 s.
out=$(rawhttp "unix:$server_sock" idle "/images/$t2" 10) || fail "idle connection not closed in 10 s"
awk -v t="$out" 'BEGIN { exit !(t >= 1.5 && t <= 4.5) }' ||
  fail "idle connection closed after $out s, expected about 2"
echo "idle connection closed after $out s" >&2

# The server logged the close by itself: start a connection, note its id,
# and wait for its close line while the client does nothing.
more_lines ()
{
  [ "$(count_log "$1")" -gt "$2" ]
}
pat="conn=[0-9]+ method=OPTIONS ticket=${t2:0:8}\.\.\. op=options"
n0=$(count_log "$pat")
rawhttp "unix:$server_sock" idle "/images/$t2" 10 > /dev/null &
client=$!
cleanup_fn kill_quiet "$client"
wait_until 5 more_lines "$pat" "$n0"
id=$(grep -E "$pat" "$server_log" | tail -n 1 | sed -E 's/.*conn=([0-9]+) .*/\1/')
[ "$(count_log "conn=$id close")" -eq 0 ] || fail "conn=$id closed at once"
wait_for_log "conn=$id close" 5
wait "$client" || fail "client saw no close"

# Busy: requests every 0.7 s for about 3.5 s on one connection all answered.
rawhttp "unix:$server_sock" requests "/images/$t2" 6 0.7 > "$tmpdir/busy.out" ||
  fail "a busy connection was closed: $(cat "$tmpdir/busy.out")"
[ "$(sort -u "$tmpdir/busy.out")" = 200 ] || fail "busy: $(paste -sd' ' "$tmpdir/busy.out")"

# Default timeout (60 s): still open after 3 s idle.
rawhttp "unix:$server_sock" requests "/images/$t60" 2 3 > "$tmpdir/def.out" ||
  fail "a connection with the default timeout was closed within 3 s"

# Also over TCP.
stop_server
start_server --tcp 127.0.0.1:0 --no-tls --ticket "$tmpdir/t2.json"
out=$(rawhttp "tcp:127.0.0.1:$server_port" idle "/images/$t2" 10) || fail "idle TCP connection not closed in 10 s"
awk -v t="$out" 'BEGIN { exit !(t >= 1.5 && t <= 4.5) }' ||
  fail "idle TCP connection closed after $out s, expected about 2"

stop_server
[ "$server_status" -eq 0 ] || fail "server exit status $server_status"
expect_log_redacted "$t2" "$t60"
