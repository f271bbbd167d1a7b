#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The faults that lose data really lose it: after ack-then-drop,
# drop-before-answer, put-500, stall, flush-500, flush-drop and idle-close
# the connection's unflushed ranges read as 0xEE, while what was flushed
# before (on that connection), what another connection wrote later, and
# what a connection without unflushed writes holds, is kept.  lose=ticket
# takes every connection's unflushed ranges; WHEN repeats; bad specs are
# refused.  File backend, and once the nbd backend (qemu-nbd).
source "$(dirname "$0")/functions.sh"
requires_cmd qemu-nbd timeout

K=65536
size=$(( 16 * K ))
img=$tmpdir/img.raw
t=$(random_ticket)

# server FAULT...: a fresh zeroed image and a server with these faults.
server ()
{
  [ -z "${server_pid:-}" ] || stop_server
  [ "${server_status:-0}" -eq 0 ] || fail "server exit status $server_status"
  rm -f "$img"
  truncate -s $size "$img"
  make_ticket "$tmpdir/t.json" "$t" $size "${ticket_url:-file://$img}" read,write
  local a args=()
  for a in "$@"; do args+=(--fault "$a"); done
  start_server_unix --ticket "$tmpdir/t.json" "${args[@]}"
}

# run WHAT STEP...: runs lossclient.py steps; then expect OUT... compares
# its output lines.
run ()
{
  what=$1; shift
  timeout 60 /usr/bin/python3 "$SRCDIR/tests/data/lossclient.py" \
    "unix:$server_sock" "/images/$t" "$@" > "$tmpdir/lc.out" ||
    fail "$what: lossclient.py failed"
}

expect ()
{
  if ! diff -u <(printf '%s\n' "$@") "$tmpdir/lc.out" >&2; then
    fail "$what: unexpected answers"
  fi
}

# is OFFSET_IN_K LENGTH_IN_K BYTE: the range of the image holds BYTE.
is ()
{
  /usr/bin/python3 "$SRCDIR/tests/data/lossclient.py" check "$img" \
    $(( $1 * K )) $(( $2 * K )) "$3" >&2 ||
    fail "$what: [$1K, $(( $1 + $2 ))K) should be 0x$3"
}

faults_logged ()
{
  count_log "fault: $1 "
}

# 1. No fault: nothing is tracked or lost.
server
run "no fault" c1:put:0:$K:n:11 c1:put:$K:$K:n:22
expect "c1 put 200" "c1 put 200"
is 0 1 11; is 1 1 22
[ "$(count_log 'fault:')" -eq 0 ] || fail "no fault: a fault was logged"

# 2. put-500: the connection's unflushed writes are lost (this PUT's
# included), what it flushed before is kept, the connection stays usable.
server put-500=3
run "put-500" c1:put:0:$K:n:11 c1:flush c1:put:$K:$K:n:22 c1:put:$(( 2 * K )):$K:n:33 \
  c1:put:$(( 3 * K )):$K:n:44
expect "c1 put 200" "c1 flush 200" "c1 put 200" "c1 put 500" "c1 put 200"
is 0 1 11; is 1 1 ee; is 2 1 ee; is 3 1 44
[ "$(count_log 'open transport=')" -eq 1 ] || fail "put-500 closed the connection"
[ "$(faults_logged put-500)" -eq 1 ] || fail "put-500: not logged once"
grep -q -E 'fault: put-500 conn=[0-9]+ ticket=[^ ]+ nth=3: lost ranges=1 bytes=131072 lose=conn$' \
  "$server_log" || fail "put-500: log line"

# 3. ack-then-drop: answered 200, then lost, and the connection is closed
# (the next request on it gets no answer).
server ack-then-drop=2
run "ack-then-drop" c1:put:0:$K:n:11 c1:put:$K:$K:n:22 c1:put:$(( 2 * K )):$K:n:33 \
  c2:put:$(( 3 * K )):$K:n:44
expect "c1 put 200" "c1 put 200" "c1 put eof" "c2 put 200"
is 0 2 ee; is 2 1 00; is 3 1 44
grep -q 'fault: ack-then-drop .*, closing' "$server_log" || fail "ack-then-drop: log line"

# 4. drop-before-answer: written, lost, no answer.
server drop-before-answer=1
run "drop-before-answer" c1:put:0:$K:n:11 c1:put:$K:$K:n:22
expect "c1 put eof" "c1 put 200"
is 0 1 ee; is 1 1 22

# 5. stall: lost at once, the client gives up; other connections go on.
server stall=1:2000
run "stall" --timeout 1 c1:put:0:$K:n:11 c2:put:$K:$K:y:22
expect "c1 put timeout" "c2 put 200"
is 0 1 ee; is 1 1 22
# c2 was answered while c1 still stalled (a request is logged when it ends).
wait_for_log 'error="fault stall"' 10
first=$(grep -n -E 'offset=65536 .*status=200|error="fault stall"' "$server_log" | head -n 1)
case "$first" in *offset=65536*) ;; *) fail "stall: the other connection waited" ;; esac

# 6. flush-500 and flush-drop: the flush is not done, the data is lost.
server flush-500=1
run "flush-500" c1:put:0:$K:n:11 c1:flush c1:put:0:$K:n:12 c1:flush
expect "c1 put 200" "c1 flush 500" "c1 put 200" "c1 flush 200"
is 0 1 12
server flush-500=1
run "flush-500 (image)" c1:put:0:$K:n:11 c1:flush
is 0 1 ee
server flush-drop=2
run "flush-drop" c1:put:0:$K:n:11 c1:flush c1:put:$K:$K:n:22 c1:flush
expect "c1 put 200" "c1 flush 200" "c1 put 200" "c1 flush eof"
is 0 1 11; is 1 1 ee

# 7. idle-close: only the idle connection holding unflushed writes is
# closed and loses them.
server idle-close=300
run "idle-close" c1:put:0:$K:n:11 c2:put:$K:$K:n:22 c2:flush sleep:1 \
  c1:put:$(( 2 * K )):$K:n:33 c2:put:$(( 3 * K )):$K:n:44
expect "c1 put 200" "c2 put 200" "c2 flush 200" "c1 put eof" "c2 put 200"
is 0 1 ee; is 1 1 22; is 2 1 00; is 3 1 44
[ "$(faults_logged idle-close)" -eq 1 ] || fail "idle-close: not logged once"
# idle-close=MSxCOUNT closes COUNT times at most.
server idle-close=100x1
run "idle-close x1" c1:put:0:$K:n:11 sleep:0.5 c1:put:$K:$K:n:22 sleep:0.5 \
  c1:put:$(( 2 * K )):$K:n:33 sleep:0.5 c1:flush
expect "c1 put 200" "c1 put eof" "c1 put 200" "c1 flush 200"
is 0 1 ee; is 1 1 00; is 2 1 33
[ "$(faults_logged idle-close)" -eq 1 ] || fail "idle-close=100x1: not logged once"

# 8. lose=ticket loses the other connections' unflushed writes too;
# lose=conn (the default) keeps them.
server ack-then-drop=2 lose=ticket
run "lose=ticket" c1:put:0:$K:n:11 c2:put:$K:$K:n:22
is 0 1 ee; is 1 1 ee
server ack-then-drop=2 lose=conn
run "lose=conn" c1:put:0:$K:n:11 c2:put:$K:$K:n:22
is 0 1 11; is 1 1 ee

# 9. The newest writer owns the bytes: another connection's flushed write
# over c1's unflushed range survives c1's loss.
server put-500=3
run "newest writer" c1:put:0:$(( 2 * K )):n:11 c2:put:$K:$K:y:22 c1:put:$(( 3 * K )):$K:n:33
expect "c1 put 200" "c2 put 200" "c1 put 500"
is 0 1 ee; is 1 1 22; is 3 1 ee

# 10. An unflushed zero is lost as well (PATCH zero does not count as PUT).
server put-500=2
run "zero" c1:put:0:$(( 2 * K )):y:11 c1:zero:0:$K c1:put:$(( 4 * K )):$K:n:22
expect "c1 put 200" "c1 zero 200" "c1 put 500"
is 0 1 ee; is 1 1 11; is 4 1 ee

# 11. WHEN repeats: put-500=2+2x2 fires on PUTs 2 and 4 only.
server put-500=2+2x2
steps=()
for i in 0 1 2 3 4 5; do steps+=(c1:put:$(( i * K )):$K:y:$(( i + 1 ))$(( i + 1 ))); done
run "repeat" "${steps[@]}"
expect "c1 put 200" "c1 put 500" "c1 put 200" "c1 put 500" "c1 put 200" "c1 put 200"
is 0 1 11; is 1 1 ee; is 2 1 33; is 3 1 ee; is 4 1 55; is 5 1 66

# 12. The nbd backend loses too (through qemu-nbd).
truncate -s $size "$tmpdir/nbd.raw"
start_qemu_nbd "$tmpdir/nbd.raw" raw
ticket_url="nbd:unix:$nbd_sock"
server put-500=2
run "nbd" c1:put:0:$K:n:11 c1:put:$K:$K:n:22 c1:put:$(( 2 * K )):$K:y:33
expect "c1 put 200" "c1 put 500" "c1 put 200"
img=$tmpdir/nbd.raw
is 0 2 ee; is 2 1 33
unset ticket_url
img=$tmpdir/img.raw

# 13. Bad specs are refused.
for spec in ack-then-drop=0 ack-then-drop ack-then-drop=x put-500=1+0 \
            put-500=2+3x0 put-500=2+ stall=1 stall=1:x idle-close=5 \
            idle-close=700000 idle-close=100x0 idle-close=100x lose=disk flush-drop=-1; do
  st=0
  timeout 10 "$IMAGEIO_SERVER" --fault "$spec" --unix "$tmpdir/bad.sock" \
    >"$tmpdir/bad.log" 2>&1 || st=$?
  [ "$st" -eq 1 ] || { cat "$tmpdir/bad.log" >&2; fail "--fault $spec: status $st"; }
  grep -q "invalid --fault" "$tmpdir/bad.log" || fail "--fault $spec: no message"
done

stop_server
[ "$server_status" -eq 0 ] || fail "server exit status $server_status"
expect_log_redacted "$t"
