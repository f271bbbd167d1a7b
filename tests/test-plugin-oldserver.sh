#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Old servers.  OPTIONS answering 405 (old daemon) or 204 without a body
# (old proxy): the plugin uses one connection, no extents (everything
# reads as data), no PATCH, and an upload still round-trips.  A server
# without the zero feature: zeroes become PUTs of zeroes, flush still
# PATCH, data identical.
source "$(dirname "$0")/functions.sh"
requires_cmd nbdkit nbdinfo qemu-img qemu-io qemu-nbd timeout

size=$(( 16 * 1024 * 1024 ))
truncate -s $size "$tmpdir/src.raw"
dd if=/dev/urandom of="$tmpdir/src.raw" bs=1M count=2 seek=1 conv=notrunc status=none
dd if=/dev/urandom of="$tmpdir/src.raw" bs=4K count=3 seek=2000 conv=notrunc status=none
dd if=/dev/urandom of="$tmpdir/src.raw" bs=1M count=1 seek=15 conv=notrunc status=none
export src=$tmpdir/src.raw

# Starts a server with FAULT on a garbage-filled qcow2 target; sets t,
# url, target.
setup ()
{
  local name=$1 fault=$2
  target=$tmpdir/$name.qcow2
  qemu-img create -q -f qcow2 "$target" $size
  qemu-io -f qcow2 -c "write -P 0xa5 0 $size" "$target" >/dev/null
  # -e 16: the server opens an NBD connection per HTTP connection (qemu-nbd allows 1 by default).
  start_qemu_nbd "$target" qcow2 -e 16
  t=$(random_ticket)
  make_ticket "$tmpdir/$name.json" "$t" $size "nbd:unix:$nbd_sock" read,write
  start_server --tcp 127.0.0.1:0 --no-tls --ticket "$tmpdir/$name.json" --fault "$fault"
  url=http://127.0.0.1:$server_port/images/$t
}

upload ()
{
  timeout 120 nbdkit -U - "$IMAGEIO_PLUGIN" url="$url" \
    --run 'qemu-img convert -n -f raw -O raw "$src" "$uri"' 2>"$tmpdir/$1.nbdkit.log" ||
    { cat "$tmpdir/$1.nbdkit.log" >&2; fail "$1: upload failed"; }
  settle_log
  qemu-img compare -U -f raw -F qcow2 "$src" "$target" || fail "$1: target differs from the source"
}

for fault in options=405 options=204; do
  name=${fault/=/-}
  setup "$name" "$fault"

  # No extents: the whole disk is reported as data.
  timeout 30 nbdkit -U - "$IMAGEIO_PLUGIN" url="$url" \
    --run 'nbdinfo --map --json "$uri"' > "$tmpdir/$name.map" 2>"$tmpdir/$name.map.err" ||
    { cat "$tmpdir/$name.map.err" >&2; fail "$name: nbdinfo --map failed"; }
  /usr/bin/python3 - "$tmpdir/$name.map" $size <<'PY' || fail "$name: extents reported"
import json, sys
m = json.load(open(sys.argv[1]))
assert all(e["type"] == 0 for e in m), m
assert sum(e["length"] for e in m) == int(sys.argv[2]), m
PY

  m0=$(count_log 'open transport=')
  upload "$name"
  opens=$(( $(count_log 'open transport=') - m0 ))
  writers=$(grep -E ' op=write ' "$server_log" | grep -o -E 'conn=[0-9]+' | sort -u | wc -l)
  echo "$name: $opens connections for the upload, writes on $writers"
  [ "$opens" -le 2 ] || fail "$name: $opens connections opened (probe + 1 expected)"
  [ "$writers" -eq 1 ] || fail "$name: writes on $writers connections, expected 1"
  [ "$(count_log 'method=PATCH')" -eq 0 ] || fail "$name: PATCH sent to an old server"
  [ "$(count_log 'op=extents')" -eq 0 ] || fail "$name: extents asked from an old server"
  [ "$(count_log 'method=PUT .* status=200')" -gt 0 ] || fail "$name: no PUT"
done

# No zero feature: zeroes are PUTs; flush is still PATCH.
setup no-zero no-zero
upload no-zero
puts=$(count_log 'method=PUT .*op=write .*status=200')
zeros=$(count_log 'method=PATCH .*op=zero')
flushes=$(count_log 'method=PATCH .*op=flush status=200')
echo "no-zero: $puts PUT, $zeros PATCH zero, $flushes PATCH flush"
[ "$zeros" -eq 0 ] || fail "no-zero: $zeros PATCH op=zero sent"
[ "$flushes" -gt 0 ] || fail "no-zero: no PATCH flush"
# The 12 MiB of zeroes need more PUTs than the 4 MiB of data alone.
put_bytes=$(grep -E 'method=PUT .*op=write .*status=200' "$server_log" |
  sed -E 's/.* length=([0-9]+) .*/\1/' | awk '{ s += $1 } END { print s + 0 }')
[ "$put_bytes" -ge $size ] || fail "no-zero: only $put_bytes bytes PUT, the zeroes were not written"
expect_log_redacted "$t"
