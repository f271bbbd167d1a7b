#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Ticket ids stay shortened in every log line and every error body whatever
# the path looks like: /IMAGES/<id>, /Images/<id>/extents, unknown paths
# holding an id anywhere, refused targets, the control service's paths in
# any case.  Not even 9 characters of an id appear.
source "$(dirname "$0")/functions.sh"
requires_cmd curl

truncate -s 1M "$tmpdir/disk.img"
t=$(random_ticket)
make_ticket "$tmpdir/t.json" "$t" 1048576 "file://$tmpdir/disk.img" read,write
ctl=$tmpdir/control.sock
start_server_unix --control "$ctl" --ticket "$tmpdir/t.json"
u=(--unix-socket "$server_sock")
c=(--unix-socket "$ctl")
: > "$tmpdir/bodies"

# Requests PATH on the service given by the curl args before it, keeping
# every answer body.
ask ()
{
  request "$@"
  cat "$resp_body" >> "$tmpdir/bodies"
}

for p in "/IMAGES/$t" "/Images/$t/extents" "/iMaGeS/$t?flush=n" "/foo/$t" "/$t" \
         "/images-x/$t" "/foo/bar$t/baz" "/TICKETS/$t" "/tickets/$t/x" "/images/$t/nothing" \
         "/images/$t%2fextents" "/images/$t%00" "/x?ticket=$t"; do
  ask "${u[@]}" "http://localhost$p"
  case "$p" in
    *%2f*|*%00) expect_status 400 "GET $p" ;;   # encoded '/' or NUL
    *) expect_status 404 "GET $p" ;;
  esac
  ask "${u[@]}" -X PUT --data-binary x "http://localhost$p"
  ask "${c[@]}" "http://localhost$p"
  ask "${c[@]}" -X PUT --data-binary '{}' "http://localhost$p"
done
ask "${c[@]}" "http://localhost/TICKETS/$t"
ask "${c[@]}" "http://localhost/tickets/$t"
expect_status 200 "control GET of the ticket"

stop_server
[ "$server_status" -eq 0 ] || fail "server exit status $server_status"
# The control GET answers the ticket itself: take it out before checking.
grep -v '"uuid"' "$tmpdir/bodies" > "$tmpdir/errors" || true
expect_log_redacted "$t"
for f in "$server_log" "$tmpdir/errors"; do
  ! grep -q -F -- "${t:0:9}" "$f" || { grep -n -F -- "${t:0:9}" "$f" | head -n 3 >&2; fail "9 characters of the ticket in $(basename "$f")"; }
  ! grep -q -F -- "${t:8}" "$f" || fail "the tail of the ticket in $(basename "$f")"
done
grep -q -F -- "${t:0:8}..." "$server_log" || fail "the shortened id is not in the log"
