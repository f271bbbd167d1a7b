#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A URL naming the host (as oVirt's do) works in every nbdkit mode:
# background (nbdkit forks after .get_ready), --run, -f and
# --exit-with-parent.  The extent map is the proof: before issue 19 a name
# looked up before the fork (glibc's getaddrinfo_a) made every lookup in
# the child time out, and the map fell back to "all data" after 10 s.
# Then a name with several addresses (IPv6 and IPv4 loopback, the first
# refusing), and a name that stops resolving mid-transfer: a clear error
# within the deadline, not a hang.  Map times are printed (not asserted:
# the machine is shared).
source "$(dirname "$0")/functions.sh"
requires_cmd nbdkit nbdinfo nbdcopy qemu-img qemu-nbd timeout
getent hosts localhost >/dev/null || { echo "$_test_name: SKIP: localhost does not resolve" >&2; exit 77; }
[ -f "$FAKE_RESOLVER" ] || fail "FAKE_RESOLVER '$FAKE_RESOLVER' is missing"

# 8 MiB: data at 1 MiB and 5 MiB, holes elsewhere.
size=$(( 8 * 1024 * 1024 ))
img=$tmpdir/disk.raw
truncate -s $size "$img"
for mb in 1 5; do
  dd if=/dev/urandom of="$img" bs=1M count=1 seek=$mb conv=notrunc status=none
done
# Served by qemu-nbd, which reports the holes as imageio's NBD backend does.
start_qemu_nbd "$img" raw
t=$(random_ticket)
make_ticket "$tmpdir/t.json" "$t" $size "nbd:unix:$nbd_sock" read,write
start_server --tcp 127.0.0.1:0 --no-tls --ticket "$tmpdir/t.json"
port=$server_port

# check_map WHAT MAPFILE LOG: the map shows the holes (type 2 or 3 runs
# covering the 6 MiB that hold no data) and the log has no fallback.
check_map ()
{
  local what=$1 map=$2 log=$3 zero
  zero=$(awk '$3 != 0 { n += $2 } END { print n + 0 }' "$map")
  [ "$zero" -eq $(( 6 * 1024 * 1024 )) ] ||
    { cat "$map" "$log" >&2; fail "$what: map has $zero bytes of zero, expected 6 MiB"; }
  ! grep -q -E 'whole image as data|name lookup' "$log" ||
    { cat "$log" >&2; fail "$what: the map fell back"; }
}

# ms_since START_MS: milliseconds since START_MS.
ms_since () { echo $(( $(_now_ms) - $1 )); }

url=http://localhost:$port/images/$t

# 1. --run (nbdkit forks: the server is the child).
export map=$tmpdir/map-run
t0=$(_now_ms)
timeout 60 nbdkit -U - -r "$IMAGEIO_PLUGIN" url="$url" \
  --run 'nbdinfo --map "$uri" > "$map"' 2>"$tmpdir/run.log" ||
  { cat "$tmpdir/run.log" >&2; fail "--run failed"; }
echo "host name map, --run: $(ms_since "$t0") ms"
check_map --run "$map" "$tmpdir/run.log"

# 2. Background (the default): nbdkit returns once it serves.
sock=$tmpdir/bg.sock
t0=$(_now_ms)
timeout 60 nbdkit -U "$sock" -P "$tmpdir/bg.pid" -r "$IMAGEIO_PLUGIN" url="$url" \
  2>"$tmpdir/bg.log" || { cat "$tmpdir/bg.log" >&2; fail "background start failed"; }
# nbdkit's parent may return before its child has written the pidfile.
for _ in $(seq 100); do
  [ -s "$tmpdir/bg.pid" ] && break
  sleep 0.1
done
[ -s "$tmpdir/bg.pid" ] || fail "background: no pidfile after 10 s"
bgpid=$(cat "$tmpdir/bg.pid")
cleanup_fn _kill_wait "$bgpid"
timeout 60 nbdinfo --map "nbd+unix:///?socket=$sock" > "$tmpdir/map-bg" ||
  fail "background: nbdinfo --map failed"
echo "host name map, background: $(ms_since "$t0") ms"
_kill_wait "$bgpid" || true
check_map background "$tmpdir/map-bg" "$tmpdir/bg.log"

# 3. -f and 4. --exit-with-parent (foreground, no fork).
for mode in -f --exit-with-parent; do
  n=${mode//-/}
  sock=$tmpdir/$n.sock
  t0=$(_now_ms)
  nbdkit $mode -U "$sock" -P "$tmpdir/$n.pid" -r "$IMAGEIO_PLUGIN" url="$url" \
    </dev/null >"$tmpdir/$n.log" 2>&1 &
  pid=$!
  cleanup_fn _kill_wait "$pid"
  _wait_serving nbdkit "$pid" "$tmpdir/$n.pid" "$sock" "$tmpdir/$n.log" 30
  timeout 60 nbdinfo --map "nbd+unix:///?socket=$sock" > "$tmpdir/map-$n" ||
    fail "$mode: nbdinfo --map failed"
  echo "host name map, $mode: $(ms_since "$t0") ms"
  _kill_wait "$pid" || true
  check_map "$mode" "$tmpdir/map-$n" "$tmpdir/$n.log"
done

# 5. One name, two addresses, the first refusing: IPv6 loopback first
# (nothing listens there), then IPv4 where the server is; the data too.
name=imageio-test.example
export out=$tmpdir/out.raw
LD_PRELOAD=$FAKE_RESOLVER FAKE_RESOLVER_NAME=$name FAKE_RESOLVER_ADDRS="::1 127.0.0.1" \
  timeout 60 nbdkit -U - -r "$IMAGEIO_PLUGIN" url="http://$name:$port/images/$t" \
  --run 'nbdinfo --map "$uri" > "$map" && nbdcopy -- "$uri" "$out"' 2>"$tmpdir/multi.log" ||
  { cat "$tmpdir/multi.log" >&2; fail "two addresses: failed"; }
check_map "two addresses" "$map" "$tmpdir/multi.log"
cmp "$img" "$out" || fail "two addresses: the download differs"
# The other way round: the server on IPv6 loopback only, IPv4 refusing.
start_server --tcp "[::1]:0" --no-tls --ticket "$tmpdir/t.json"
rm -f "$out"
LD_PRELOAD=$FAKE_RESOLVER FAKE_RESOLVER_NAME=$name FAKE_RESOLVER_ADDRS="127.0.0.1 ::1" \
  timeout 60 nbdkit -U - -r "$IMAGEIO_PLUGIN" url="http://$name:$server_port/images/$t" \
  --run 'nbdinfo --map "$uri" > "$map" && nbdcopy -- "$uri" "$out"' 2>"$tmpdir/multi6.log" ||
  { cat "$tmpdir/multi6.log" >&2; fail "two addresses, IPv6 server: failed"; }
check_map "two addresses, IPv6 server" "$map" "$tmpdir/multi6.log"
cmp "$img" "$out" || fail "two addresses, IPv6 server: the download differs"

# 6. A name that stops resolving mid-transfer: after the start-up lookup
# every lookup fails (or hangs); the server drops a connection during the
# upload, so the plugin must look the name up again.  The upload fails
# with the lookup named, within its deadline (timeout=2: connect within
# 2 s, retries within 2 * timeout), and never reports success.
cp "$img" "$tmpdir/src.raw"    # qemu-nbd holds a lock on $img
export src=$tmpdir/src.raw
for then in fail hang; do
  target=$tmpdir/target-$then.raw
  truncate -s $size "$target"
  t2=$(random_ticket)
  make_ticket "$tmpdir/t2-$then.json" "$t2" $size "file://$target" read,write
  start_server --tcp 127.0.0.1:0 --no-tls --ticket "$tmpdir/t2-$then.json" --fault drop=4
  st=0
  t0=$(_now_ms)
  LD_PRELOAD=$FAKE_RESOLVER FAKE_RESOLVER_NAME=$name FAKE_RESOLVER_ADDRS=127.0.0.1 \
    FAKE_RESOLVER_GOOD=1 FAKE_RESOLVER_THEN=$then \
    timeout 120 nbdkit -U - "$IMAGEIO_PLUGIN" url="http://$name:$server_port/images/$t2" \
    timeout=2 connections=1 \
    --run 'qemu-img convert -n -f raw -O raw "$src" "$uri"' >"$tmpdir/gone-$then.log" 2>&1 || st=$?
  ms=$(ms_since "$t0")
  echo "name gone ($then): status $st after $ms ms"
  [ "$st" -ne 0 ] && [ "$st" -ne 124 ] ||
    { cat "$tmpdir/gone-$then.log" >&2; fail "name gone ($then): status $st, expected a failure"; }
  case $then in
    fail) pat="name lookup of $name failed" ;;
    hang) pat="name lookup of $name timed out" ;;
  esac
  grep -q -F "$pat" "$tmpdir/gone-$then.log" ||
    { cat "$tmpdir/gone-$then.log" >&2; fail "name gone ($then): no '$pat'"; }
  ! grep -q -F -- "$t2" "$tmpdir/gone-$then.log" || fail "name gone ($then): the whole ticket is in the output"
done
expect_log_redacted "$t"
