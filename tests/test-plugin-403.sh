#!/usr/bin/env bash
# Tickets the server does not know.  An unknown ticket stops nbdkit at once
# with "ticket not found or expired", and no message shows more than the
# first 8 characters of the ticket.  A ticket that expires while nbdkit
# serves makes reads and writes fail with a clear error, without hanging.
source "$(dirname "$0")/functions.sh"
requires nbdkit nbdsh timeout

# True while PID runs (not gone, not a zombie).
proc_running ()
{
  local st
  st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  st=${st##*) }
  [ "${st%% *}" != Z ]
}

# SIGTERM, at most 10 s (then SIGKILL); returns nbdkit's exit status.
stop_nbdkit ()
{
  local pid=$1 i st=0
  kill -TERM "$pid" 2>/dev/null || true
  for (( i = 0; i < 200; i++ )); do
    proc_running "$pid" || break
    sleep 0.05
  done
  if proc_running "$pid"; then
    echo "nbdkit pid $pid ignored SIGTERM for 10s, killing" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || st=$?
  return "$st"
}

# Starts nbdkit -f with the plugin and ARGS on a private socket, waits
# (30 s at most) for its pid file; sets nbdkit_pid, nbdkit_log and uri.
_nbdkit_n=0
start_nbdkit ()
{
  _nbdkit_n=$(( _nbdkit_n + 1 ))
  local sock="$tmpdir/nbdkit-$_nbdkit_n.sock" pidf="$tmpdir/nbdkit-$_nbdkit_n.pid" i
  nbdkit_log=$tmpdir/nbdkit-$_nbdkit_n.log
  nbdkit -f -U "$sock" -P "$pidf" "$IMAGEIO_PLUGIN" "$@" </dev/null >"$nbdkit_log" 2>&1 &
  nbdkit_pid=$!
  cleanup_fn stop_nbdkit "$nbdkit_pid"
  for (( i = 0; i < 600; i++ )); do
    [ -s "$pidf" ] && break
    if ! proc_running "$nbdkit_pid"; then
      cat "$nbdkit_log" >&2
      fail "nbdkit exited at start-up"
    fi
    sleep 0.05
  done
  [ -s "$pidf" ] || fail "nbdkit not ready in 30s"
  uri="nbd+unix:///?socket=$sock"
}

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
grep -q 'ticket not found or expired' "$tmpdir/err" || fail "unknown ticket: no clear message"
! grep -q -F -- "$unknown" "$tmpdir/err" || fail "the whole ticket id is in nbdkit's messages"
# Nothing longer than the first 8 characters either.
! grep -q -F -- "${unknown:0:9}" "$tmpdir/err" || fail "more than 8 characters of the ticket shown"

# 2. Expiry during use.
start_nbdkit "https://127.0.0.1:$server_port/images/$t" cafile="$tmpdir/pki/ca.pem"
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
grep -E 'error: .*(pread|pwrite).*403.*ticket not found or expired' "$nbdkit_log" ||
  { cat "$nbdkit_log" >&2; fail "no clear error in nbdkit's log"; }
proc_running "$nbdkit_pid" || fail "nbdkit died"
stop_nbdkit "$nbdkit_pid" || echo "note: nbdkit exit status $? after the ticket expired"
! grep -q -F -- "$t" "$nbdkit_log" || fail "the whole ticket id is in nbdkit's log"
expect_log_redacted "$t" "$unknown"
