#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A real server restart (issue 17), as ovirt-imageio's is seen: the server
# process is killed in the middle of an upload, connections are refused
# while it is down, it comes back on the same port knowing no ticket (403
# "No such ticket"), and the ticket is added again a moment later, as the
# engine does.  The plugin must ride it out: exit 0, identical data,
# summary "result: ok" with the outage it rode out.  Then the same with
# the ticket never added again: past retry_timeout the copy fails loudly.
source "$(dirname "$0")/functions.sh"
requires_cmd nbdkit qemu-img curl timeout
requires nbdkit --filter=delay null --dump-plugin

mib=1048576
size=$(( 64 * mib ))
src=$tmpdir/src.raw
head -c $size /dev/urandom > "$src"
# A slow source read one request at a time: the copy takes about 3 s, so
# the restart lands in its middle.
start_nbdkit --filter=delay file "$src" rdelay=100ms
slow_uri=$nbdkit_uri
ctl=$tmpdir/control.sock
writes_at_least () { [ "$(count_log 'op=write')" -ge "$1" ]; }

# upload NAME READD: kills the server after 8 writes, starts it again on
# the same port after 0.5 s; with READD, adds the ticket after 1 s more.
upload ()
{
  local name=$1 readd=$2 target=$tmpdir/$1.raw t port st log
  head -c $size /dev/zero | tr '\0' '\125' > "$target"
  t=$(random_ticket)
  make_ticket "$tmpdir/t.json" "$t" $size "file://$target" read,write
  start_server --tcp 127.0.0.1:0 --no-tls --ticket "$tmpdir/t.json" --control "$ctl"
  port=$server_port
  log=$tmpdir/$name.log
  # A host name: every reconnect after the restart looks it up again in
  # nbdkit's forked child.
  timeout 120 nbdkit -U - "$IMAGEIO_PLUGIN" url="http://${RESTART_HOST:-localhost}:$port/images/$t" \
    retry_timeout=5 --run "qemu-img convert -n -m 1 -f raw '$slow_uri' -O raw \"\$uri\"" \
    >"$log" 2>&1 &
  local client=$!
  wait_until 30 writes_at_least 8 || fail "$name: the upload did not start"
  kill -KILL "$server_pid"
  stop_server "$server_pid"
  sleep 0.5
  start_server --tcp "127.0.0.1:$port" --no-tls --control "$ctl"
  if [ "$readd" = yes ]; then
    sleep 1
    request --unix-socket "$ctl" -X PUT --data-binary @"$tmpdir/t.json" \
      "http://localhost/tickets/$t"
    [ "$status" = 200 ] || fail "$name: adding the ticket again: $status"
  fi
  st=0
  wait "$client" || st=$?
  grep 'transfer summary' "$log" || true
  [ "$(grep -c 'transfer summary' "$log")" -eq 1 ] || { cat "$log" >&2; fail "$name: not one summary"; }
  if [ "$readd" = yes ]; then
    [ "$st" -eq 0 ] || { cat "$log" >&2; fail "$name: exit status $st"; }
    cmp "$src" "$target" || fail "$name: the target differs"
    grep 'transfer summary' "$log" | grep -q 'result: ok$' || fail "$name: not ok"
    grep 'transfer summary' "$log" | grep -q -E 'longest outage ridden out ([1-9]|0\.[5-9])' ||
      fail "$name: no outage ridden out"
  else
    [ "$st" -ne 0 ] || fail "$name: succeeded without its ticket"
    grep 'transfer summary' "$log" | grep -q -E 'result: FAILED \(.*403.*bytes may be lost\)$' ||
      { cat "$log" >&2; fail "$name: the summary does not say FAILED with the 403"; }
  fi
  stop_server
  expect_log_redacted "$t"
}

upload readded yes
upload never-readded no
