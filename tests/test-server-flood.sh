#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# 1500 slow connections from one address (127.0.0.2, each sending its
# request head one byte every 0.5 s) do not lock a legitimate client
# (127.0.0.1) out: it is served, right data, well before a flood connection
# could be cut to make room for it (2.5 s, under --head-timeout), while the
# server holds at most --max-per-ip of the flood's connections and cuts
# each after --head-timeout.  Loopback only; bounded in count and time.
source "$(dirname "$0")/functions.sh"
requires_cmd curl cmp /usr/bin/python3

flood=1500 per_ip=64 head=3 run=8
# The flood needs a descriptor per connection.
ulimit -n 4096 2>/dev/null || true
[ "$(ulimit -n)" -ge $(( flood + 100 )) ] ||
  { echo "$_test_name: SKIP: ulimit -n $(ulimit -n) is too low" >&2; exit 77; }
/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.2", 0))' 2>/dev/null ||
  { echo "$_test_name: SKIP: cannot bind 127.0.0.2" >&2; exit 77; }

size=1048576
random_file "$tmpdir/disk.img" $size
t=$(random_ticket)
make_ticket "$tmpdir/t.json" "$t" $size "file://$tmpdir/disk.img" read
start_server --tcp 127.0.0.1:0 --no-tls --ticket "$tmpdir/t.json" \
  --max-per-ip $per_ip --head-timeout $head
url=http://127.0.0.1:$server_port/images/$t

/usr/bin/python3 "$SRCDIR/tests/data/slowflood.py" 127.0.0.1 "$server_port" \
  127.0.0.2 $flood $run 0.5 "$tmpdir/flood.ready" > "$tmpdir/flood.out" &
flood_pid=$!
cleanup_fn kill_quiet "$flood_pid"
wait_until 10 test -s "$tmpdir/flood.ready"
sleep 1   # let the server accept what it takes

# The legitimate client, three times during the flood.
for i in 1 2 3; do
  request --interface 127.0.0.1 -X OPTIONS "$url"
  expect_status 200 "OPTIONS under the flood ($i)"
  : > "$tmpdir/got"
  secs=$(icurl --interface 127.0.0.1 -o "$tmpdir/got" -w '%{time_total}' "$url") ||
    fail "GET under the flood ($i) failed"
  cmp -s "$tmpdir/got" "$tmpdir/disk.img" || fail "GET under the flood ($i): wrong data"
  # Not a speed target: a client locked out would wait for a cut (3 s) or
  # for ever; 2.5 s leaves a loaded machine (ASan build) room.
  awk -v t="$secs" 'BEGIN { exit !(t < 2.5) }' ||
    fail "GET under the flood ($i) took $secs s, expected under 2.5 s"
  echo "legitimate GET $i under the flood: $secs s" >&2
  sleep 1
done

wait "$flood_pid" || fail "flood client failed"
cat "$tmpdir/flood.out" >&2
val () { sed -n "s/^$1=//p" "$tmpdir/flood.out"; }
[ "$(val attempted)" -ge 1400 ] || fail "the flood opened only $(val attempted) connections"
[ "$(val held)" -le "$per_ip" ] || fail "the server held $(val held) connections from one address, limit $per_ip"
[ "$(val held)" -ge 1 ] || fail "the server held none of the flood's connections"
[ "$(val open_at_end)" -eq 0 ] || fail "$(val open_at_end) slow connections still open after $run s"
awk -v t="$(val max_life)" -v h=$head 'BEGIN { exit !(t >= h - 0.5 && t <= h + 1.5) }' ||
  fail "slow connections lived up to $(val max_life) s, expected about $head"

stop_server
[ "$server_status" -eq 0 ] || fail "server exit status $server_status"
expect_log_redacted "$t"
