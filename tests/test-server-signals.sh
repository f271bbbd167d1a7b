#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# SIGHUP, SIGTERM and SIGINT each stop the server with status 0 and remove
# its Unix sockets (the local service's and the control service's), also
# with a connection open.
source "$(dirname "$0")/functions.sh"
requires_cmd curl

truncate -s 1M "$tmpdir/disk.img"
t=$(random_ticket)
make_ticket "$tmpdir/t.json" "$t" 1048576 "file://$tmpdir/disk.img" read

more_opens ()
{
  [ "$(count_log 'open transport=unix')" -gt "$1" ]
}

for sig in HUP TERM INT; do
  ctl=$tmpdir/control-$sig.sock
  start_server_unix --control "$ctl" --ticket "$tmpdir/t.json"
  [ -S "$server_sock" ] && [ -S "$ctl" ] || fail "$sig: sockets missing at start"
  request --unix-socket "$server_sock" -X OPTIONS "http://localhost/images/$t"
  expect_status 200 "$sig: OPTIONS before the signal"
  # A connection left open across the signal.
  rawhttp "unix:$server_sock" requests "/images/$t" 1 0 > /dev/null
  n0=$(count_log 'open transport=unix')
  /usr/bin/python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); time.sleep(10)' "$server_sock" &
  holder=$!
  cleanup_fn kill_quiet "$holder"
  wait_until 5 more_opens "$n0"
  unset "_server_running[$server_pid]"
  kill -"$sig" "$server_pid"
  wait_until 10 _pid_exited "$server_pid"
  st=0; wait "$server_pid" || st=$?
  [ "$st" -eq 0 ] || fail "SIG$sig: exit status $st"
  [ ! -e "$server_sock" ] || fail "SIG$sig: $server_sock left behind"
  [ ! -e "$ctl" ] || fail "SIG$sig: $ctl left behind"
  grep -q "stopping (signal" "$server_log" || fail "SIG$sig: no stop logged"
  kill_quiet "$holder"
done
expect_log_redacted "$t"
