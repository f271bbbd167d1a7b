#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A qemu-nbd at its client limit (-e 1) accepts no second NBD connection.
# The server opens one per HTTP connection, so a second HTTP connection
# must get a 500 with a clear reason within the connect timeout (10 s),
# not hang, while the first connection keeps working.
source "$(dirname "$0")/functions.sh"
requires_cmd curl qemu-nbd timeout
requires /usr/bin/python3 -c 'import socket'

size=1048576
truncate -s $size "$tmpdir/d.raw"
# -e 1 after start_qemu_nbd's own -e: the last one wins.
start_qemu_nbd "$tmpdir/d.raw" raw -e 1
t=$(random_ticket)
make_ticket "$tmpdir/t.json" "$t" $size "nbd:unix:$nbd_sock" read,write
start_server_unix --ticket "$tmpdir/t.json"

# The first HTTP connection takes qemu-nbd's only client slot and holds it
# (kept alive) until the file $tmpdir/done appears (20 s at most).
/usr/bin/python3 - "$server_sock" "$t" "$tmpdir/done" "$tmpdir/first" <<'PY' &
import os, socket, sys, time
path, ticket, done, out = sys.argv[1:]
s = socket.socket(socket.AF_UNIX)
s.settimeout(20)
s.connect(path)
req = ("GET /images/%s HTTP/1.1\r\nHost: x\r\nRange: bytes=0-0\r\n\r\n" % ticket).encode()
s.sendall(req)
first = s.recv(4096)
with open(out + ".tmp", "wb") as f:
    f.write(first)
os.rename(out + ".tmp", out)
deadline = time.time() + 20
while not os.path.exists(done) and time.time() < deadline:
    time.sleep(0.05)
s.sendall(req)      # still served on its own NBD connection
# Everything both answers sent: two 206 status lines.
data = first
while data.count(b"HTTP/1.1 206") < 2 and time.time() < deadline + 10:
    more = s.recv(4096)
    if not more:
        break
    data += more
with open(out + "2", "wb") as f:
    f.write(data)
PY
holder=$!
wait_until 10 test -s "$tmpdir/first"
grep -q "^HTTP/1.1 206" "$tmpdir/first" || fail "first connection: $(head -1 "$tmpdir/first")"

start=$(_now_ms)
request --unix-socket "$server_sock" -r 0-0 "http://localhost/images/$t"
took=$(( $(_now_ms) - start ))
expect_status 500 "second connection while qemu-nbd is full"
grep -q "client limit" "$resp_body" || fail "500 without the reason: $(cat "$resp_body")"
[ "$took" -lt 20000 ] || fail "the 500 took $took ms"
echo "second connection: 500 after $took ms: $(cat "$resp_body")"

touch "$tmpdir/done"
wait "$holder" || fail "the first connection failed"
[ "$(grep -c "^HTTP/1.1 206" "$tmpdir/first2")" -eq 2 ] ||
  fail "first connection stopped working: $(head -c 300 "$tmpdir/first2" | tr -d "\r")"
