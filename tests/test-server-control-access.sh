#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Who may reach the control service: its socket is created mode 0600 even
# under umask 000, so another uid cannot even connect; if the socket's mode
# is opened up anyway, a peer of another uid gets 403 and changes nothing;
# --control-uid lets that uid in; --control @NAME is refused.
source "$(dirname "$0")/functions.sh"
requires_cmd curl setpriv stat
[ "$(id -u)" -eq 0 ] || { echo "$_test_name: SKIP: needs root to run a second uid" >&2; exit 77; }
other=65534

truncate -s 1M "$tmpdir/disk.img"
# The other uid must be able to reach the socket's directory.
chmod 0711 "$tmpdir"
mkdir -m 0755 "$tmpdir/run"
ctl=$tmpdir/run/control.sock
t=$(random_ticket)
make_ticket "$tmpdir/t.json" "$t" 1048576 "file://$tmpdir/disk.img" read
chmod 0644 "$tmpdir/t.json"

as_other ()
{
  setpriv --reuid=$other --regid=$other --clear-groups "$@"
}

# Control request as the other uid: sets status and writes $tmpdir/o.body.
other_request ()
{
  status=$(as_other curl --max-time 10 -sS -o "$tmpdir/o.body" -w '%{http_code}' \
             --unix-socket "$ctl" "$@" 2>"$tmpdir/o.err") || true
  [ -n "$status" ] || status=000
}
: > "$tmpdir/o.body"; chmod 0666 "$tmpdir/o.body"
: > "$tmpdir/o.err"; chmod 0666 "$tmpdir/o.err"

old_umask=$(umask)
umask 000
start_server_unix --control "$ctl"
umask "$old_umask"

mode=$(stat -c %a "$ctl")
[ "$mode" = 600 ] || fail "control socket mode $mode under umask 000, expected 600"

# The other uid cannot connect at all.
other_request -X PUT --data-binary @"$tmpdir/t.json" "http://localhost/tickets/$t"
[ "$status" = 000 ] || fail "uid $other reached the 0600 control socket (status $status)"
grep -q -i "permission denied\|couldn't connect\|Failed to connect" "$tmpdir/o.err" ||
  fail "unexpected error for uid $other: $(cat "$tmpdir/o.err")"

# Even with the socket opened up, the peer check refuses it.
chmod 0666 "$ctl"
other_request -X PUT --data-binary @"$tmpdir/t.json" "http://localhost/tickets/$t"
[ "$status" = 403 ] || fail "uid $other on an open control socket: status $status, expected 403"
grep -q "Forbidden" "$tmpdir/o.body" || fail "403 body: $(cat "$tmpdir/o.body")"
other_request "http://localhost/tickets/$t"
[ "$status" = 403 ] || fail "uid $other GET: status $status, expected 403"
request --unix-socket "$ctl" "http://localhost/tickets/$t"
expect_status 404 "the refused PUT added no ticket"
request --unix-socket "$server_sock" -X OPTIONS "http://localhost/images/$t"
expect_status 403 "the refused PUT made no image reachable"
# The server's own uid is served.
request --unix-socket "$ctl" -X PUT --data-binary @"$tmpdir/t.json" "http://localhost/tickets/$t"
expect_status 200 "PUT as the server's uid"
other_request -X DELETE "http://localhost/tickets/$t"
[ "$status" = 403 ] || fail "uid $other DELETE: status $status, expected 403"
request --unix-socket "$ctl" "http://localhost/tickets/$t"
expect_status 200 "the ticket survived the refused DELETE"
grep -q "control: refused a request from uid $other" "$server_log" ||
  fail "refusals are not logged"
stop_server
[ "$server_status" -eq 0 ] || fail "server exit status $server_status"
[ ! -e "$ctl" ] || fail "control socket left behind"

# --control-uid lets the other uid in.
start_server_unix --control "$ctl" --control-uid $other
chmod 0666 "$ctl"
other_request -X PUT --data-binary @"$tmpdir/t.json" "http://localhost/tickets/$t"
[ "$status" = 200 ] || fail "uid $other with --control-uid: status $status, expected 200"
request --unix-socket "$server_sock" -X OPTIONS "http://localhost/images/$t"
expect_status 200 "ticket added by the allowed uid"
stop_server
[ "$server_status" -eq 0 ] || fail "server exit status $server_status"

# An abstract control socket is refused at start-up.
st=0
timeout 10 "$IMAGEIO_SERVER" --unix "$tmpdir/x.sock" --control @imageio-test-$$ \
  > "$tmpdir/abstract.log" 2>&1 || st=$?
[ "$st" -ne 0 ] && [ "$st" -ne 124 ] || fail "--control @NAME: status $st, expected a usage error"
grep -q "abstract" "$tmpdir/abstract.log" || fail "--control @NAME: $(cat "$tmpdir/abstract.log")"

expect_log_redacted "$t"
