#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Nothing outlives its client (issue 20): checksums whose client went away
# stop (the server's CPU time stops growing), checksums are limited per
# ticket (503 with Retry-After), DELETE of a ticket with a checksum running
# stops it and answers 204 once it stopped (the ticket is gone), a large
# GET stops when its ticket is deleted, and SIGTERM ends the server while
# checksums run.  Times are reported, not asserted (but for generous
# bounds that only a request left running would exceed).
source "$(dirname "$0")/functions.sh"
requires_cmd curl jq /usr/bin/python3

# A sparse 8 GiB file: the file backend reports it all as data, so a
# checksum reads and hashes all of it (many seconds on this machine).
size=$(( 8 * 1024 * 1024 * 1024 ))
truncate -s $size "$tmpdir/disk.img"
t=$(random_ticket)
printf '%s\n' "$t" > "$tmpdir/ticket"
make_ticket "$tmpdir/t.json" "$t" $size "file://$tmpdir/disk.img" read
ctl=$tmpdir/control.sock
start_server_unix --control "$ctl" --ticket "$tmpdir/t.json"
u=(--unix-socket "$server_sock")
url=http://localhost/images/$t

# Server CPU seconds (user + system) so far.
cpu ()
{
  local st
  st=$(cat "/proc/$server_pid/stat")
  st=${st##*) }
  awk -v s="$st" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { split(s, f, " "); printf "%.2f\n", (f[12] + f[13]) / hz }'
}
# Polls until the server's CPU time grows by less than 0.2 s in 1 s; fails
# after SECONDS.  Prints how long it took.
wait_idle ()
{
  local secs=$1 t0 a b
  t0=$(_now_ms)
  a=$(cpu)
  while :; do
    sleep 1
    b=$(cpu)
    awk -v a="$a" -v b="$b" 'BEGIN { exit !(b - a < 0.2) }' && break
    [ $(( $(_now_ms) - t0 )) -lt $(( secs * 1000 )) ] ||
      fail "the server still burns CPU after $secs s ($a -> $b s)"
    a=$b
  done
  echo "$(( $(_now_ms) - t0 ))"
}

# 1. Abandoned checksums stop.
c0=$(cpu)
/usr/bin/python3 "$SRCDIR/tests/data/abandon.py" "$server_sock" \
  "checksum:$tmpdir/ticket" 40 20 >&2
ms=$(wait_idle 20)
c1=$(cpu)
echo "40 abandoned checksums: CPU $c0 -> $c1 s; idle again $ms ms later" >&2
# One full checksum of the image costs far more than this.
awk -v a="$c0" -v b="$c1" 'BEGIN { exit !(b - a < 10) }' ||
  fail "40 abandoned checksums cost $(awk -v a="$c0" -v b="$c1" 'BEGIN { print b - a }') CPU seconds"
[ "$(count_log 'op=checksum .*error="checksum stopped at offset [0-9]+: client went away"')" -ge 1 ] ||
  fail "no checksum logged as stopped because its client went away"
server_alive || fail "the server died"

# 2. At most 2 checksums per ticket: a third is answered 503.
icurl "${u[@]}" --max-time 60 -o /dev/null "$url/checksum" 2>/dev/null &
c1_pid=$!
icurl "${u[@]}" --max-time 60 -o /dev/null "$url/checksum" 2>/dev/null &
c2_pid=$!
cleanup_fn kill_quiet "$c1_pid"
cleanup_fn kill_quiet "$c2_pid"
# Both hold the ticket (its "connections"); a moment later both run.
two_on_ticket ()
{
  request --unix-socket "$ctl" "http://localhost/tickets/$t"
  jq -e '.connections == 2' "$resp_body" >/dev/null
}
wait_until 20 two_on_ticket
# A third is refused once both run; one admitted before that leaves
# after 1 s, which stops it.
third_refused ()
{
  request "${u[@]}" --max-time 1 "$url/checksum"
  [ "$status" = 503 ]
}
wait_until 20 third_refused
expect_status 503 "a third checksum on the ticket"
[ "$(header Retry-After)" = 2 ] || fail "503 without Retry-After: 2"
grep -q 'Too many checksums' "$resp_body" || fail "503 body: $(cat "$resp_body")"

# 3. DELETE of the ticket stops both and answers 204 once they stopped.
timed_delete "$ctl" "$t"
expect_status 204 "DELETE of a ticket with checksums running"
echo "DELETE with 2 checksums running answered in $del_ms ms" >&2
[ "$del_ms" -lt 10000 ] || fail "DELETE took $del_ms ms"
wait_until 5 _pid_exited "$c1_pid"
wait_until 5 _pid_exited "$c2_pid"
! wait "$c1_pid" || fail "a canceled checksum was answered"
request --unix-socket "$ctl" "http://localhost/tickets/$t"
expect_status 404 "GET of the deleted ticket"
request "${u[@]}" -X OPTIONS "$url"
expect_status 403 "OPTIONS on the deleted ticket"
ms=$(wait_idle 10)
echo "idle $ms ms after the DELETE" >&2

# 4. A large GET whose client does not read stops when its ticket is
# deleted; a request on the canceled ticket is refused meanwhile.
make_ticket "$tmpdir/t.json" "$t" $size "file://$tmpdir/disk.img" read
request --unix-socket "$ctl" -X PUT --data-binary @"$tmpdir/t.json" "http://localhost/tickets/$t"
expect_status 200 "PUT of the ticket again"
# (The client lets the server block on a full socket for 2 s.)
/usr/bin/python3 "$SRCDIR/tests/data/slow-get.py" "$server_sock" "$tmpdir/ticket" \
  "" stall 2 > "$tmpdir/slowget.out" &
get_pid=$!
cleanup_fn kill_quiet "$get_pid"
wait_until 10 ticket_active "$ctl" "$t"
timed_delete "$ctl" "$t"
expect_status 204 "DELETE of a ticket with a GET stalled"
echo "DELETE with a stalled 8 GiB GET answered in $del_ms ms" >&2
wait_until 40 _pid_exited "$get_pid"
wait "$get_pid" || true
got=$(sed -n 's/^got=//p' "$tmpdir/slowget.out")
[ -n "$got" ] && [ "$got" -lt "$size" ] || fail "the GET got $got bytes of $size"

# 5. SIGTERM while checksums run ends the server promptly.
request --unix-socket "$ctl" -X PUT --data-binary @"$tmpdir/t.json" "http://localhost/tickets/$t"
expect_status 200 "PUT of the ticket again"
icurl "${u[@]}" --max-time 60 -o /dev/null "$url/checksum" 2>/dev/null &
cleanup_fn kill_quiet $!
icurl "${u[@]}" --max-time 60 -o /dev/null "$url/checksum" 2>/dev/null &
cleanup_fn kill_quiet $!
sleep 1
t0=$(_now_ms)
stop_server
stop_ms=$(( $(_now_ms) - t0 ))
[ "$server_status" -eq 0 ] || fail "server exit status $server_status"
echo "SIGTERM with 2 checksums running: exited in $stop_ms ms" >&2
[ "$stop_ms" -lt 8000 ] || fail "the server took $stop_ms ms to stop"
expect_log_redacted "$t"
[ -z "${KEEP_LOG:-}" ] || cp "$server_log" "$KEEP_LOG"
