#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Where tickets may point: a file:// ticket outside every --file-root is
# refused (a plain path, "..", a symlink out), and so is an nbd:unix:
# socket outside every --nbd-root; a file swapped for a symlink after its
# ticket was added is not served; a FIFO does not hang the server; a
# --ticket file outside the roots stops the server at start-up.
source "$(dirname "$0")/functions.sh"
requires_cmd curl mkfifo

size=4096
root=$tmpdir/root outside=$tmpdir/outside
mkdir -p "$root" "$outside"
printf 'OUTSIDE-SECRET-%04d\n' $(seq 300) > "$outside/secret.img"
truncate -s $size "$outside/secret.img"
random_file "$root/disk.img" $size
ctl=$tmpdir/control.sock
start_server_unix --control "$ctl" --file-root "$root" --nbd-root "$root"
u=(--unix-socket "$server_sock")

# PUT /tickets/ID with URL; sets status (body in $resp_body).
put_ticket ()
{
  local id=$1 url=$2
  make_ticket "$tmpdir/t.json" "$id" $size "$url" read,write
  request --unix-socket "$ctl" -X PUT --data-binary @"$tmpdir/t.json" \
    "http://localhost/tickets/$id"
}

# Fails unless a ticket for URL is refused with 400 and not reachable.
expect_refused ()
{
  local url=$1 why=$2 id
  id=$(random_ticket)
  put_ticket "$id" "$url"
  expect_status 400 "ticket for $why"
  grep -q "not allowed" "$resp_body" || fail "$why: body $(cat "$resp_body")"
  request "${u[@]}" "http://localhost/images/$id"
  expect_status 403 "GET on the refused ticket for $why"
  ! grep -q OUTSIDE-SECRET "$resp_body" || fail "$why: outside data served"
}

expect_refused "file:///etc/passwd" "/etc/passwd"
expect_refused "file://$outside/secret.img" "a file outside the root"
expect_refused "file://$root/../outside/secret.img" "'..' out of the root"
expect_refused "file://$root/sub/../../outside/secret.img" "'..' through a missing directory"
ln -s "$outside/secret.img" "$root/link.img"
expect_refused "file://$root/link.img" "a symlink out of the root"
ln -s "$outside" "$root/linkdir"
expect_refused "file://$root/linkdir/secret.img" "a directory symlink out of the root"
expect_refused "file://$root" "the root itself"
expect_refused "nbd:unix:$outside/nbd.sock" "an NBD socket outside --nbd-root"
expect_refused "nbd:unix:$root/../outside/nbd.sock:exportname=x" "an NBD socket via '..'"

# Inside the root: accepted and served.
ok=$(random_ticket)
put_ticket "$ok" "file://$root/disk.img"
expect_status 200 "ticket inside the root"
request "${u[@]}" "http://localhost/images/$ok"
expect_status 200 "GET inside the root"
cmp -s "$resp_body" "$root/disk.img" || fail "wrong data inside the root"

# The file swapped for a symlink out of the root after the ticket was
# added: the open is refused (500), never the outside data.
mv "$root/disk.img" "$root/disk.orig"
ln -s "$outside/secret.img" "$root/disk.img"
request "${u[@]}" --http1.1 -H 'Connection: close' "http://localhost/images/$ok"
expect_status 500 "GET after the file became a symlink out of the root"
! grep -q OUTSIDE-SECRET "$resp_body" || fail "outside data served through a swapped symlink"
grep -q "not under a --file-root" "$resp_body" || fail "swap: body $(cat "$resp_body")"

# A FIFO inside the root fails at once instead of hanging the open.
mkfifo "$root/fifo"
fifo=$(random_ticket)
put_ticket "$fifo" "file://$root/fifo"
expect_status 200 "ticket for a FIFO (the path is under the root)"
start=$(_now_ms)
request "${u[@]}" "http://localhost/images/$fifo"
expect_status 500 "GET on a FIFO"
[ $(( $(_now_ms) - start )) -lt 5000 ] || fail "GET on a FIFO took $(( $(_now_ms) - start )) ms"

stop_server
[ "$server_status" -eq 0 ] || fail "server exit status $server_status"

# Without any --file-root no file ticket is accepted.
start_server_unix --control "$ctl" --nbd-root "$root"
put_ticket "$(random_ticket)" "file://$root/disk.orig"
expect_status 400 "file ticket without --file-root"
stop_server

# A --ticket file outside the roots stops the server at start-up.
make_ticket "$tmpdir/bad.json" "$(random_ticket)" $size "file://$outside/secret.img" read
st=0
timeout 10 "$IMAGEIO_SERVER" --unix "$tmpdir/x.sock" --file-root "$root" \
  --ticket "$tmpdir/bad.json" > "$tmpdir/bad.log" 2>&1 || st=$?
[ "$st" -ne 0 ] && [ "$st" -ne 124 ] || fail "--ticket outside the root: status $st"
grep -q "not under a --file-root" "$tmpdir/bad.log" || fail "--ticket outside: $(cat "$tmpdir/bad.log")"
# A --file-root that does not exist is an error too.
st=0
timeout 10 "$IMAGEIO_SERVER" --unix "$tmpdir/x.sock" --file-root "$tmpdir/nowhere" \
  > /dev/null 2>&1 || st=$?
[ "$st" -ne 0 ] && [ "$st" -ne 124 ] || fail "missing --file-root: status $st"
