#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The plugin keeps its connections alive: over a whole upload the server
# accepts exactly the connections the code opens (the pool, whose first
# connection is the one that probed the server at start-up, and one for the
# extents document), however many requests are sent.  Over TCP and over an
# abstract Unix socket (is_ovirt_host).
source "$(dirname "$0")/functions.sh"
requires_cmd nbdkit nbdcopy qemu-img qemu-nbd timeout

size=$(( 32 * 1024 * 1024 ))
pool=4

# Data and holes: nbdcopy writes the data and zeroes the holes, so the
# plugin fetches the extent map (at the first zero) on a connection of its
# own.
truncate -s $size "$tmpdir/src.raw"
for mb in 0 3 4 9 10 11 17 24 25 31; do
  dd if=/dev/urandom of="$tmpdir/src.raw" bs=1M count=1 seek=$mb conv=notrunc status=none
done
export src=$tmpdir/src.raw

# Uploads src through a fresh qcow2 target and server with ARGS... for the
# server; PLUGIN_ARGS holds the plugin's; sets t and the server variables.
upload ()
{
  local name=$1; shift
  qemu-img create -q -f qcow2 "$tmpdir/$name.qcow2" $size
  # -e 16: the server opens an NBD connection per HTTP connection (qemu-nbd allows 1 by default).
  start_qemu_nbd "$tmpdir/$name.qcow2" qcow2 -e 16
  t=$(random_ticket)
  make_ticket "$tmpdir/$name.json" "$t" $size "nbd:unix:$nbd_sock" read,write
  start_server --tcp 127.0.0.1:0 --no-tls --ticket "$tmpdir/$name.json" "$@"
  timeout 120 nbdkit -U - "$IMAGEIO_PLUGIN" "url=http://127.0.0.1:$server_port/images/$t" \
    connections=$pool "${plugin_args[@]}" \
    --run 'nbdcopy --connections=4 --requests=16 -- "$src" "$uri"' \
    2>"$tmpdir/$name.nbdkit.log" ||
    { cat "$tmpdir/$name.nbdkit.log" >&2; fail "$name: upload failed"; }
  qemu-img compare -U -f raw -F qcow2 "$src" "$tmpdir/$name.qcow2" ||
    fail "$name: target differs from the source"
}

# Prints "OPENS REQUESTS" for transport TR in the last server's log.
opens ()
{
  count_log "conn=[0-9]+ open transport=$1"
}
requests ()
{
  count_log "method=(GET|PUT|PATCH|OPTIONS) ticket="
}

# TCP: the pool (the first one also sent OPTIONS and the size GET) + 1 for
# the extents.
plugin_args=()
upload tcp
tcp_opens=$(opens tcp); reqs=$(requests)
echo "tcp: $tcp_opens connections, $reqs requests"
[ "$(count_log 'op=extents')" -eq 1 ] || fail "expected one extents request, got $(count_log 'op=extents')"
[ "$tcp_opens" -eq $(( pool + 1 )) ] ||
  fail "tcp: $tcp_opens connections opened, expected $(( pool + 1 ))"
[ "$(count_log 'conn=[0-9]+ open transport=')" -eq "$tcp_opens" ] || fail "tcp: other transports used"
[ "$reqs" -ge $(( 5 * tcp_opens )) ] || fail "tcp: only $reqs requests for $tcp_opens connections"
# Every pool connection carried several writes.
busy=$(grep -E ' op=write ' "$server_log" | grep -o -E 'conn=[0-9]+' | sort | uniq -c | awk '$1 >= 2' | wc -l)
[ "$busy" -eq "$pool" ] || fail "tcp: $busy connections carried 2 or more writes, expected $pool"

# Abstract socket: the TCP probe, then on the socket the pool (the first one
# probed the socket) + 1 for the extents.
abstract="@/org/ovirt/imageio-test-$$-$RANDOM"
plugin_args=(is_ovirt_host=true)
upload abstract --unix "$abstract"
tcp_opens=$(opens tcp); unix_opens=$(opens unix); reqs=$(requests)
echo "abstract: $tcp_opens tcp + $unix_opens unix connections, $reqs requests"
[ "$tcp_opens" -eq 1 ] || fail "abstract: $tcp_opens TCP connections, expected 1 (the probe)"
[ "$unix_opens" -eq $(( pool + 1 )) ] ||
  fail "abstract: $unix_opens unix connections opened, expected $(( pool + 1 ))"
[ "$reqs" -ge $(( 5 * unix_opens )) ] || fail "abstract: only $reqs requests for $unix_opens connections"
expect_log_redacted "$t"
