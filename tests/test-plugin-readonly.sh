#!/usr/bin/env bash
# A read-only ticket (ops: read) gives a read-only export: nbdinfo shows it,
# a write fails, reads return the disk's data.
source "$(dirname "$0")/functions.sh"
requires nbdkit nbdinfo nbdsh nbdcopy qemu-img timeout

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
truncate -s $size "$tmpdir/disk.raw"
dd if=/dev/urandom of="$tmpdir/disk.raw" bs=1M count=2 seek=1 conv=notrunc status=none
dd if=/dev/urandom of="$tmpdir/disk.raw" bs=4K count=1 seek=3000 conv=notrunc status=none
cp "$tmpdir/disk.raw" "$tmpdir/orig.raw"

t=$(random_ticket)
make_ticket "$tmpdir/t.json" "$t" $size "file://$tmpdir/disk.raw" read
start_server --tcp 127.0.0.1:0 --no-tls --ticket "$tmpdir/t.json"
# Without -r: the plugin itself must say the export is read-only.
start_nbdkit url="http://127.0.0.1:$server_port/images/$t"

timeout 30 nbdinfo --json "$uri" > "$tmpdir/info.json" || fail "nbdinfo failed"
grep -q '"is_read_only": true' "$tmpdir/info.json" ||
  { cat "$tmpdir/info.json" >&2; fail "export is not read-only"; }

timeout 30 nbdsh -u "$uri" -c '
assert h.is_read_only(), "is_read_only false"
assert not h.can_zero() or h.is_read_only()
try:
    h.pwrite(b"x" * 4096, 0)
    raise SystemExit("a write on a read-only export succeeded")
except nbd.Error as e:
    print("write refused as expected:", e)
data = h.pread(4096, 3000 * 4096)
assert data == open("'"$tmpdir/orig.raw"'", "rb").read()[3000*4096:3001*4096], "pread differs"
' || fail "nbdsh checks failed"

timeout 60 nbdcopy -- "$uri" "$tmpdir/copy.raw" || fail "nbdcopy failed"
cmp "$tmpdir/copy.raw" "$tmpdir/orig.raw" || fail "the copy differs"
cmp "$tmpdir/disk.raw" "$tmpdir/orig.raw" || fail "the disk changed"
[ "$(count_log 'method=(PUT|PATCH)')" -eq 0 ] || fail "the plugin sent PUT or PATCH"
stop_nbdkit "$nbdkit_pid" || fail "nbdkit exit status $?"
expect_log_redacted "$t"
