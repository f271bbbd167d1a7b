#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Tickets the server does not know.  An unknown ticket stops nbdkit at once
# with "ticket not found, expired or canceled", and no message shows more than the
# first 8 characters of the ticket.  A ticket that expires while nbdkit
# serves makes reads and writes fail with a clear error, without hanging.
source "$(dirname "$0")/functions.sh"
requires_cmd nbdkit nbdsh timeout

size=$(( 16 * 1024 * 1024 ))
head -c $size /dev/urandom > "$tmpdir/disk.raw"
t=$(random_ticket)
# The ticket expires 3 s after its last use.
make_ticket "$tmpdir/t.json" "$t" $size "file://$tmpdir/disk.raw" read,write '"timeout": 3'
make_cert "$tmpdir/pki"
start_server --tcp 127.0.0.1:0 --tls-cert "$tmpdir/pki/server.pem" \
  --tls-key "$tmpdir/pki/server-key.pem" --ticket "$tmpdir/t.json"

# 1. Unknown ticket: non-zero exit at once, clear message, ticket redacted.
unknown=$(random_ticket)
st=0
start=$SECONDS
timeout 30 nbdkit -U - "$IMAGEIO_PLUGIN" "https://127.0.0.1:$server_port/images/$unknown" \
  cafile="$tmpdir/pki/ca.pem" --run 'echo served' >"$tmpdir/out" 2>"$tmpdir/err" || st=$?
cat "$tmpdir/err"
[ "$st" -ne 0 ] && [ "$st" -ne 124 ] || fail "unknown ticket: nbdkit exit status $st"
[ $(( SECONDS - start )) -le 10 ] || fail "unknown ticket: nbdkit took $(( SECONDS - start ))s to fail"
! grep -q served "$tmpdir/out" || fail "unknown ticket: nbdkit served"
grep -q 'ticket not found, expired or canceled' "$tmpdir/err" || fail "unknown ticket: no clear message"
! grep -q -F -- "$unknown" "$tmpdir/err" || fail "the whole ticket id is in nbdkit's messages"
# Nothing longer than the first 8 characters either.
! grep -q -F -- "${unknown:0:9}" "$tmpdir/err" || fail "more than 8 characters of the ticket shown"

# 2. Expiry during use.
start_nbdkit "$IMAGEIO_PLUGIN" "https://127.0.0.1:$server_port/images/$t" cafile="$tmpdir/pki/ca.pem"
timeout 30 nbdsh -u "$uri" -c '
data = h.pread(65536, 0)
assert data == open("'"$tmpdir/disk.raw"'", "rb").read(65536)
' || fail "read before expiry failed"
# Let the ticket expire: 3 s after its last use, with a margin.
sleep 5
start=$SECONDS
timeout 60 nbdsh -u "$uri" -c '
import errno
for what, fn in (("pread", lambda: h.pread(65536, 1048576)),
                 ("pwrite", lambda: h.pwrite(b"x" * 65536, 1048576))):
    try:
        fn()
        raise SystemExit(what + " succeeded on an expired ticket")
    except nbd.Error as e:
        print(what, "failed as expected:", e.string, e.errno)
        assert e.errnum in (errno.EPERM, errno.EACCES), what + ": errno " + str(e.errno)
' || fail "I/O on an expired ticket did not fail as expected"
[ $(( SECONDS - start )) -le 20 ] || fail "I/O on an expired ticket took $(( SECONDS - start ))s"
grep -E 'error: .*(pread|pwrite).*403.*ticket not found, expired or canceled' "$nbdkit_log" ||
  { cat "$nbdkit_log" >&2; fail "no clear error in nbdkit's log"; }
proc_running "$nbdkit_pid" || fail "nbdkit died"
stop_nbdkit "$nbdkit_pid" || echo "note: nbdkit exit status $? after the ticket expired"
! grep -q -F -- "$t" "$nbdkit_log" || fail "the whole ticket id is in nbdkit's log"
expect_log_redacted "$t" "$unknown"
