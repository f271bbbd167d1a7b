#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Errors an NBD client understands, within bounded time.
# (1) A server that accepts and never answers: nbdkit fails at start-up,
#     within the start-up bound (here timeout=2), saying it timed out.
# (2) A request the server never answers: the client gets EIO after the
#     request's deadline (nbdkit would turn ETIMEDOUT into EINVAL), and
#     nbdkit keeps serving.
# (3) A server message quoting the whole ticket id (as imageio's do): the
#     plugin's log shows only its first 8 characters, and a 403 "forbids
#     write" says the ticket is read-only, with EPERM.
# (4) http:// to a TLS port and https:// to a plain one say which scheme
#     to use.
# (5) A server that speaks only TLS 1.1 is refused, even with
#     insecure=true.
source "$(dirname "$0")/functions.sh"
requires_cmd nbdkit nbdsh timeout python3

size=$(( 4 * 1024 * 1024 ))
t=$(random_ticket)

# fake MODE: starts tests/data/fake-imageio.py; sets fake_port.
_fake_n=0
fake ()
{
  _fake_n=$(( _fake_n + 1 ))
  local pf=$tmpdir/fake-$_fake_n.port
  python3 "$SRCDIR/tests/data/fake-imageio.py" "$pf" "$@" &
  cleanup_fn kill_quiet $!
  wait_until 10 test -s "$pf" || fail "fake server did not start"
  fake_port=$(cat "$pf")
}

# (1)
fake mute
start=$SECONDS
st=0
timeout 60 nbdkit -U - "$IMAGEIO_PLUGIN" url="http://localhost:$fake_port/images/$t" timeout=2 \
  --run 'echo served' >"$tmpdir/out" 2>"$tmpdir/err" || st=$?
took=$(( SECONDS - start ))
cat "$tmpdir/err"
[ "$st" -ne 0 ] && [ "$st" -ne 124 ] && ! grep -q served "$tmpdir/out" ||
  fail "mute server: status $st"
[ "$took" -le 10 ] || fail "mute server: start-up took ${took}s"
grep -q 'OPTIONS .*timed out' "$tmpdir/err" || fail "mute server: no 'timed out' message"

# (2)
fake stall $size
# retry_timeout=4: a stalled server is retried as an outage (issue 17).
start_nbdkit "$IMAGEIO_PLUGIN" url="http://localhost:$fake_port/images/$t" timeout=2 \
  retry_timeout=4
start=$SECONDS
timeout 60 nbdsh -u "$uri" -c '
import errno
for what, fn in (("pread", lambda: h.pread(512, 0)),
                 ("pwrite", lambda: h.pwrite(b"x" * 512, 0))):
    try:
        fn()
        raise SystemExit(what + " succeeded against a stalled server")
    except nbd.Error as e:
        print(what, "failed as expected:", e.string)
        assert e.errnum == errno.EIO, what + ": errno %s, expected EIO" % e.errno
' || { cat "$nbdkit_log" >&2; fail "stalled server: unexpected result"; }
took=$(( SECONDS - start ))
# Each request: its first timeout, retries for retry_timeout, and the
# try under way when the window ends.
[ "$took" -le 30 ] || fail "stalled server: the requests took ${took}s"
grep -q 'timed out' "$nbdkit_log" || { cat "$nbdkit_log" >&2; fail "stalled server: no 'timed out'"; }
proc_running "$nbdkit_pid" || fail "nbdkit died"
stop_nbdkit "$nbdkit_pid"

# (3)
fake quote $size
start_nbdkit "$IMAGEIO_PLUGIN" url="http://localhost:$fake_port/images/$t"
timeout 60 nbdsh -u "$uri" -c '
import errno
try:
    h.pwrite(b"x" * 512, 0)
    raise SystemExit("pwrite succeeded")
except nbd.Error as e:
    assert e.errnum == errno.EPERM, "errno %s, expected EPERM" % e.errno
' || { cat "$nbdkit_log" >&2; fail "403 forbids write: unexpected result"; }
stop_nbdkit "$nbdkit_pid"
cat "$nbdkit_log"
grep -q 'the ticket is read-only' "$nbdkit_log" || fail "403 forbids write: no 'read-only' message"
grep -q -F "ticket/${t:0:8}..." "$nbdkit_log" || fail "the server's text is not quoted"
! grep -q -F -- "${t:0:9}" "$nbdkit_log" || fail "more than 8 characters of the ticket in nbdkit's log"

# (4)
make_cert "$tmpdir/pki"
truncate -s $size "$tmpdir/disk.raw"
make_ticket "$tmpdir/t.json" "$t" $size "file://$tmpdir/disk.raw" read,write
start_server --tcp 127.0.0.1:0 --tls-cert "$tmpdir/pki/server.pem" \
  --tls-key "$tmpdir/pki/server-key.pem" --ticket "$tmpdir/t.json"
tls_port=$server_port
start_server --tcp 127.0.0.1:0 --no-tls --ticket "$tmpdir/t.json"
plain_port=$server_port
st=0
timeout 60 nbdkit -U - "$IMAGEIO_PLUGIN" url="http://localhost:$tls_port/images/$t" \
  --run 'echo served' >"$tmpdir/out" 2>"$tmpdir/err" || st=$?
cat "$tmpdir/err"
[ "$st" -ne 0 ] && ! grep -q served "$tmpdir/out" || fail "http:// to a TLS port: status $st"
grep -q 'use an https:// URL' "$tmpdir/err" || fail "http:// to a TLS port: no hint"
st=0
timeout 60 nbdkit -U - "$IMAGEIO_PLUGIN" url="https://127.0.0.1:$plain_port/images/$t" \
  cafile="$tmpdir/pki/ca.pem" --run 'echo served' >"$tmpdir/out" 2>"$tmpdir/err" || st=$?
cat "$tmpdir/err"
[ "$st" -ne 0 ] && ! grep -q served "$tmpdir/out" || fail "https:// to a plain port: status $st"
grep -q 'does not speak TLS on this port: use an http:// URL' "$tmpdir/err" ||
  fail "https:// to a plain port: no hint"

# (5)
if command -v openssl >/dev/null; then
  timeout 30 openssl s_server -accept 127.0.0.1:0 -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' \
    -cert "$tmpdir/pki/server.pem" -key "$tmpdir/pki/server-key.pem" -naccept 1 \
    >"$tmpdir/s_server.log" 2>&1 &
  cleanup_fn kill_quiet $!
  wait_until 10 grep -q '^ACCEPT' "$tmpdir/s_server.log" || fail "openssl s_server did not start"
  old_port=$(sed -n 's/^ACCEPT .*:\([0-9]*\)$/\1/p' "$tmpdir/s_server.log")
  st=0
  timeout 60 nbdkit -U - "$IMAGEIO_PLUGIN" url="https://127.0.0.1:$old_port/images/$t" \
    insecure=true --run 'echo served' >"$tmpdir/out" 2>"$tmpdir/err" || st=$?
  cat "$tmpdir/err"
  [ "$st" -ne 0 ] && ! grep -q served "$tmpdir/out" || fail "TLS 1.1 server: status $st"
  grep -q 'TLS handshake .* failed' "$tmpdir/err" ||
    fail "TLS 1.1 server: no handshake failure message"
fi
expect_log_redacted "$t"
