#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# GET /tickets/ID on the control service reports what imageio reports:
# active (a request running), canceled, connections (connections holding
# the ticket's backend), expires (the monotonic clock, in whole seconds, at
# which it expires), idle_time and transfer_id ("(ticket/" + the id's first
# 18 characters + ")" unless given).
source "$(dirname "$0")/functions.sh"
requires_cmd curl jq

size=$(( 4 * 1048576 ))
truncate -s $size "$tmpdir/disk.img"
ctl_sock=$tmpdir/control.sock
start_server_unix --control "$ctl_sock"
c=(--unix-socket "$ctl_sock")
ctl=http://localhost/tickets

mono ()
{
  /usr/bin/python3 -c 'import time; print(int(time.monotonic()))'
}

# info TICKET: the control answer in $resp_body.
info ()
{
  request "${c[@]}" "$ctl/$1"
  expect_status 200 "GET ticket"
}

field ()
{
  jq -r ".$1" "$resp_body"
}

t=$(random_ticket) t_named=$(random_ticket)
make_ticket "$tmpdir/t.json" "$t" $size "file://$tmpdir/disk.img" read,write '"timeout": 300'
make_ticket "$tmpdir/n.json" "$t_named" $size "file://$tmpdir/disk.img" read '"transfer_id": "transfer-42"'
for f in t n; do
  request "${c[@]}" -X PUT --data-binary @"$tmpdir/$f.json" "$ctl/$(jq -r .uuid "$tmpdir/$f.json")"
  expect_status 200 "PUT ticket $f"
done

# A fresh ticket.
now=$(mono)
info "$t"
jq -e --arg tid "(ticket/${t:0:18})" '.active == false and .canceled == false
  and .connections == 0 and .transfer_id == $tid
  and (.idle_time | type == "number") and .idle_time <= 1
  and (.expires | type == "number") and (.expires | floor) == .expires' \
  "$resp_body" >/dev/null || fail "fresh ticket: $(cat "$resp_body")"
exp=$(field expires)
[ "$exp" -ge $(( now + 300 - 2 )) ] && [ "$exp" -le $(( now + 300 + 1 )) ] ||
  fail "expires $exp, monotonic now $now, timeout 300"
info "$t_named"
[ "$(field transfer_id)" = transfer-42 ] || fail "given transfer_id: $(cat "$resp_body")"

# A PUT whose body is half sent: active, idle_time 0; a second connection
# that read and stays open: connections counts both.
/usr/bin/python3 - "$server_sock" "$t" "$tmpdir" <<'PY' &
import os, socket, sys, time
sock, ticket, tmp = sys.argv[1:4]

def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    s.connect(sock)
    return s

def answer(s):
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise SystemExit("EOF")
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v)
    while len(body) < length:
        body += s.recv(65536)
    return int(head.split()[1])

def wait_file(name):
    deadline = time.monotonic() + 20
    while not os.path.exists(os.path.join(tmp, name)):
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for " + name)
        time.sleep(0.02)

reader = conn()
reader.sendall(b"GET /images/%s HTTP/1.1\r\nHost: x\r\nRange: bytes=0-0\r\n\r\n" % ticket.encode())
assert answer(reader) == 206
writer = conn()
body = b"x" * 65536
writer.sendall(b"PUT /images/%s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
               % (ticket.encode(), len(body)) + body[:1000])
open(os.path.join(tmp, "half-sent"), "w").close()
wait_file("finish-put")
writer.sendall(body[1000:])
assert answer(writer) == 200
open(os.path.join(tmp, "put-done"), "w").close()
wait_file("close")
reader.close()
writer.close()
PY
helper=$!
cleanup_fn kill_quiet "$helper"
wait_until 20 test -e "$tmpdir/half-sent"
# The server sees the PUT once its head is in: poll briefly for it.
wait_until 10 sh -c "curl -sS --max-time 5 --unix-socket '$ctl_sock' '$ctl/$t' | jq -e '.active == true' >/dev/null"
info "$t"
jq -e '.active == true and .idle_time == 0 and .connections == 2' "$resp_body" >/dev/null ||
  fail "during a PUT: $(cat "$resp_body")"
touch "$tmpdir/finish-put"
wait_until 20 test -e "$tmpdir/put-done"
# The request ends a moment after the client has its answer: poll.
wait_until 10 sh -c "curl -sS --max-time 5 --unix-socket '$ctl_sock' '$ctl/$t' | jq -e '.active == false' >/dev/null"
info "$t"
jq -e '.active == false and .connections == 2' "$resp_body" >/dev/null ||
  fail "after the PUT, connections open: $(cat "$resp_body")"
now=$(mono); exp=$(field expires)
[ "$exp" -ge $(( now + 300 - 2 )) ] && [ "$exp" -le $(( now + 300 + 1 )) ] ||
  fail "activity did not extend expires: $exp, now $now"

# Idle: idle_time counts the seconds since the last request ended (a
# deliberate wait: this measures time).
sleep 2.2
info "$t"
idle=$(field idle_time)
[ "$idle" -ge 2 ] && [ "$idle" -le 4 ] || fail "idle_time $idle after 2.2 s"

# Connections closed: 0 again (the server notices the close at once, but
# poll a little).
touch "$tmpdir/close"
wait "$helper" || fail "helper failed"
wait_until 10 sh -c "curl -sS --max-time 5 --unix-socket '$ctl_sock' '$ctl/$t' | jq -e '.connections == 0' >/dev/null"

# PATCH {"timeout": N} moves expires to now + N.
request "${c[@]}" -X PATCH -H 'Content-Type: application/json' --data-binary '{"timeout": 1000}' "$ctl/$t"
expect_status 200 "PATCH timeout"
now=$(mono)
info "$t"
exp=$(field expires)
[ "$exp" -ge $(( now + 1000 - 2 )) ] && [ "$exp" -le $(( now + 1000 + 1 )) ] ||
  fail "expires after PATCH: $exp, now $now"

stop_server
[ "$server_status" -eq 0 ] || fail "server exit status $server_status"
expect_log_redacted "$t" "$t_named"
