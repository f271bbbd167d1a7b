#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# --put-memory bounds what all PUT buffers take together: with 8 parallel
# 16 MiB uploads the server's peak memory grows by the 8 gathering buffers
# (4 MiB each) under the default budget, but not under --put-memory 4 (one
# buffer; the others write through), and every byte arrives either way.
source "$(dirname "$0")/functions.sh"
requires_cmd curl cmp

size=$(( 16 * 1024 * 1024 )) n=8
for i in $(seq $n); do random_file "$tmpdir/src$i" $size; done

# Uploads the 8 sources in parallel into 8 images with server ARGS; sets
# peak to the server's peak RSS in KiB.  (Not run in a $(...) subshell:
# there start_server's counter would not advance, and the second server
# would reuse the first one's pid file and be taken as ready too early.)
run ()
{
  local i pids=() tickets=()
  for i in $(seq $n); do
    truncate -s $size "$tmpdir/img$i"
    tickets[i]=$(random_ticket)
    make_ticket "$tmpdir/t$i.json" "${tickets[i]}" $size "file://$tmpdir/img$i" read,write
  done
  start_server_unix $(for i in $(seq $n); do echo --ticket "$tmpdir/t$i.json"; done) "$@"
  for i in $(seq $n); do
    icurl --unix-socket "$server_sock" -X PUT -H 'Expect:' --data-binary @"$tmpdir/src$i" \
      -o /dev/null -w '%{http_code}\n' "http://localhost/images/${tickets[i]}?flush=n" \
      > "$tmpdir/st$i" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || fail "an upload failed"; done
  for i in $(seq $n); do
    [ "$(cat "$tmpdir/st$i")" = 200 ] || fail "upload $i: status $(cat "$tmpdir/st$i") ($*)"
    cmp -s "$tmpdir/src$i" "$tmpdir/img$i" || fail "upload $i: wrong data ($*)"
  done
  peak=$(awk '/^VmHWM:/ { print $2 }' "/proc/$server_pid/status")
  stop_server
  [ "$server_status" -eq 0 ] || fail "server exit status $server_status"
}

run --put-memory 4
small=$peak
run
big=$peak
echo "peak RSS: --put-memory 4: $small KiB, default: $big KiB" >&2
# Up to 7 buffers of 4 MiB more under the default when the uploads
# overlap; at least 2 more even when the scheduler serializes some of them.
[ $(( big - small )) -ge $(( 8 * 1024 )) ] ||
  fail "peak RSS $small KiB with --put-memory 4 vs $big KiB by default: no bound visible"
