#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Deadlines: a connection that sends nothing is closed after --idle-timeout;
# one that sends its request head a byte at a time (each byte well within
# the idle timeout) is closed at --head-timeout; a TLS client that never
# finishes the handshake is closed by the earlier of the two; a connection that named a valid ticket
# may then stay idle for the ticket's inactivity_timeout instead.
source "$(dirname "$0")/functions.sh"
requires_cmd curl /usr/bin/python3

truncate -s 1M "$tmpdir/disk.img"
t=$(random_ticket)
make_ticket "$tmpdir/t.json" "$t" 1048576 "file://$tmpdir/disk.img" read '"inactivity_timeout": 30'
make_cert "$tmpdir/pki"
start_server --tcp 127.0.0.1:0 --tls-cert "$tmpdir/pki/server.pem" \
  --tls-key "$tmpdir/pki/server-key.pem" --unix "$tmpdir/imageio.sock" \
  --ticket "$tmpdir/t.json" --idle-timeout 1 --head-timeout 2

# Prints how long (s) the server took to close a connection that does
# MODE: "silent" (connect only), "drip" (a request head, one byte every
# 0.25 s), "tls-silent" (TLS port, no ClientHello) or "tls-drip" (a
# ClientHello-like start, one byte every 0.25 s).  Gives up after 12 s.
closed_after ()
{
  /usr/bin/python3 - "$1" "$2" <<'EOF'
import socket, sys, time
mode, addr = sys.argv[1], sys.argv[2]
if addr.startswith("unix:"):
    s = socket.socket(socket.AF_UNIX); s.connect(addr[5:])
else:
    host, port = addr.split(":"); s = socket.create_connection((host, int(port)))
t0 = time.monotonic()
data = b""
if mode == "drip":
    data = b"OPTIONS /images/* HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"a" * 100
elif mode == "tls-drip":
    data = bytes.fromhex("160301") + b"\x02\x00" + b"\x01" * 512
s.settimeout(0.25)
i = 0
while time.monotonic() - t0 < 12:
    if data and i < len(data):
        try:
            s.send(data[i:i + 1]); i += 1
        except OSError:
            break
    try:
        got = s.recv(4096)
        if not got:
            break
        if not mode.startswith("tls"):
            print("unexpected answer %r" % got[:40], file=sys.stderr); sys.exit(1)
    except socket.timeout:
        continue
    except OSError:
        break
print("%.2f" % (time.monotonic() - t0))
EOF
}

within ()
{
  awk -v t="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(t >= lo && t <= hi) }'
}

tcp=127.0.0.1:$server_port
for addr in "unix:$tmpdir/imageio.sock"; do
  secs=$(closed_after silent "$addr")
  within "$secs" 0.7 2.0 || fail "$addr: silent connection closed after $secs s, expected about 1"
  echo "$addr: silent connection closed after $secs s" >&2
  secs=$(closed_after drip "$addr")
  within "$secs" 1.7 3.2 || fail "$addr: dripping head closed after $secs s, expected about 2"
  echo "$addr: dripping request head closed after $secs s" >&2
done
secs=$(closed_after tls-silent "$tcp")
within "$secs" 0.7 2.0 || fail "TLS without a ClientHello closed after $secs s, expected about 1"
# libmicrohttpd does not count handshake bytes as activity, so the idle
# timeout may end a dripping handshake before the head timeout does.
secs=$(closed_after tls-drip "$tcp")
within "$secs" 0.7 3.2 || fail "dripping TLS handshake closed after $secs s, expected 1 to 2"
echo "TLS: dripping handshake closed after $secs s" >&2
[ "$(count_log 'closed: no request head in time')" -ge 1 ] || fail "the log shows no deadline closes"

# A connection that named a valid ticket stays open past --idle-timeout
# (its ticket allows 30 s)...
rawhttp "unix:$tmpdir/imageio.sock" requests "/images/$t" 2 1.6 > "$tmpdir/ok.out" ||
  fail "a connection with a valid ticket was closed within 1.6 s"
[ "$(sort -u "$tmpdir/ok.out")" = 200 ] || fail "ticket connection: $(paste -sd' ' "$tmpdir/ok.out")"
# ...but one that only asked about "*" does not.
st=0; rawhttp "unix:$tmpdir/imageio.sock" requests "/images/*" 2 1.6 > /dev/null 2>&1 || st=$?
[ "$st" -eq 1 ] || fail "a connection without a valid ticket stayed open past --idle-timeout"
# And TLS clients are served.
request --cacert "$tmpdir/pki/ca.pem" -X OPTIONS "https://localhost:$server_port/images/$t"
expect_status 200 "OPTIONS over TLS"

stop_server
[ "$server_status" -eq 0 ] || fail "server exit status $server_status"
expect_log_redacted "$t"
