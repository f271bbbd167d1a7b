#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# SIGTERM while strangers flood the server with over-long request heads
# (one 300 KB header line each, no ticket): the server stops with status
# 0, never a crash.  libmicrohttpd 0.9.75 crashes if its daemon is marked
# as stopping while a connection thread answers such a head with 431;
# the server therefore closes every connection before it stops the
# daemons (limits_close_all).  Before that, 4 of 12 such stops ended in
# SIGSEGV, and this test failed 2 of 3 runs of 8 rounds; 16 rounds make
# a miss unlikely (each round takes about half a second).
# ROUNDS=N sets the count (default 16).
source "$(dirname "$0")/functions.sh"
requires_cmd /usr/bin/python3

rounds=${ROUNDS:-16}
for i in $(seq "$rounds"); do
  start_server --tcp 127.0.0.1:0 --no-tls
  /usr/bin/python3 "$SRCDIR/tests/data/abandon.py" "127.0.0.1:$server_port" \
    bighead:300000 2000 20 > "$tmpdir/flood.out" 2>&1 &
  flood=$!
  cleanup_fn kill_quiet "$flood"
  # SIGTERM when libmicrohttpd has begun answering 431s, mid-flood.
  wait_until 10 grep -q 'response code is 431' "$server_log" ||
    fail "round $i: no 431 from libmicrohttpd within 10 s"
  sleep 0.$(( RANDOM % 4 ))
  stop_server
  kill_quiet "$flood"
  wait "$flood" 2>/dev/null || true
  [ "$server_status" -eq 0 ] ||
    { tail -n 20 "$server_log" >&2; fail "round $i: the server exited with status $server_status on SIGTERM mid-flood"; }
  echo "round $i: $(count_log 'response code is 431') heads refused with 431, stopped with status 0" >&2
done
