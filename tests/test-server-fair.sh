#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Fair connection limits (issue 20): floods of silent, reconnecting
# connections from 5 and from 50 loopback addresses (60 each: under
# --max-per-ip, over --max-connections together), on plain HTTP and on
# TLS, lock out neither a client with a ticket on TCP (127.0.0.1) nor one
# on the local Unix socket: every request is served with the right data.
# Latencies are reported (median and worst), not asserted.
source "$(dirname "$0")/functions.sh"
requires_cmd curl cmp openssl /usr/bin/python3

per=60 rounds=${FAIR_ROUNDS:-8}
ulimit -n 8192 2>/dev/null || true
[ "$(ulimit -n)" -ge $(( 50 * per + 200 )) ] ||
  { echo "$_test_name: SKIP: ulimit -n $(ulimit -n) is too low" >&2; exit 77; }
/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.60", 0))' 2>/dev/null ||
  { echo "$_test_name: SKIP: cannot bind 127.0.0.60" >&2; exit 77; }

size=1048576
random_file "$tmpdir/disk.img" $size
t=$(random_ticket)
make_ticket "$tmpdir/t.json" "$t" $size "file://$tmpdir/disk.img" read
make_cert "$tmpdir/pki"

# Runs REQUESTS legitimate GETs (a new connection each) with curl ARGS
# against URL, checks every answer, prints the latencies in ms sorted.
legit ()
{
  local what=$1 url=$2; shift 2
  local i secs
  for (( i = 0; i < rounds; i++ )); do
    : > "$tmpdir/got"
    secs=$(icurl "$@" -o "$tmpdir/got" -w '%{time_total}' "$url") ||
      fail "$what: GET $i under the flood failed"
    cmp -s "$tmpdir/got" "$tmpdir/disk.img" || fail "$what: GET $i under the flood: wrong data"
    awk -v s="$secs" 'BEGIN { printf "%d\n", s * 1000 }'
    sleep 0.2
  done | sort -n > "$tmpdir/lat"
  [ "$(wc -l < "$tmpdir/lat")" -eq "$rounds" ] || fail "$what: not every request was served"
  echo "$what: served $rounds/$rounds, median $(sed -n "$(( (rounds + 1) / 2 ))p" "$tmpdir/lat") ms, worst $(tail -n 1 "$tmpdir/lat") ms"
}

for mode in plain tls; do
  if [ $mode = tls ]; then
    tcp_args=(--tls-cert "$tmpdir/pki/server.pem" --tls-key "$tmpdir/pki/server-key.pem")
    scheme=https curl_tls=(--cacert "$tmpdir/pki/ca.pem")
  else
    tcp_args=(--no-tls) scheme=http curl_tls=()
  fi
  start_server_unix --tcp 127.0.0.1:0 "${tcp_args[@]}" --ticket "$tmpdir/t.json"
  for naddr in 5 50; do
    rm -f "$tmpdir/flood.ready"
    /usr/bin/python3 "$SRCDIR/tests/data/poolflood.py" 127.0.0.1 "$server_port" \
      2 $naddr $per 30 "$tmpdir/flood.ready" > "$tmpdir/flood.out" &
    flood_pid=$!
    cleanup_fn kill_quiet "$flood_pid"
    wait_until 20 test -s "$tmpdir/flood.ready"
    sleep 2   # the server is full: every new connection pushes one out
    legit "$mode, $naddr addresses x $per: TCP" \
      "$scheme://localhost:$server_port/images/$t" "${curl_tls[@]}" --interface 127.0.0.1 >&2
    legit "$mode, $naddr addresses x $per: Unix socket" \
      "http://localhost/images/$t" --unix-socket "$server_sock" >&2
    kill_quiet "$flood_pid"
    wait "$flood_pid" 2>/dev/null || true
    server_alive || fail "the server died under the flood"
  done
  cut=$(count_log 'cut to make room')
  [ "$cut" -ge 1 ] || fail "$mode: no flood connection was cut to make room"
  echo "$mode: $cut flood connections cut to make room" >&2
  stop_server
  [ "$server_status" -eq 0 ] || fail "server exit status $server_status"
  expect_log_redacted "$t"
done
