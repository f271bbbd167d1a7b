#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The transfer summary (issue 17): exactly one line when nbdkit ends, with
# what every client did together (bytes read, written and zeroed, zero
# requests not sent) and how it ended, "result: ok" or "result: FAILED
# (<reason>, <N> bytes may be lost)"; none when nbdkit moved no data.
# Cases: two clients then SIGTERM; nbdkit --run (repeated: the line was
# missing in 8 of 30 runs before); a probe that moves nothing; a failed
# copy; a final flush that fails when the client disconnects, and one
# that fails at SIGTERM (nbdkit's exit status is then 1).
source "$(dirname "$0")/functions.sh"
requires_cmd nbdkit nbdsh nbdcopy nbdinfo timeout

size=$(( 4 * 1024 * 1024 ))
truncate -s $size "$tmpdir/disk.raw"
t=$(random_ticket)
make_ticket "$tmpdir/t.json" "$t" $size "file://$tmpdir/disk.raw" read,write
start_server --tcp 127.0.0.1:0 --no-tls --ticket "$tmpdir/t.json"
url="http://localhost:$server_port/images/$t"
summaries () { grep -c 'transfer summary' "$1" || true; }

# 1. Two clients, then SIGTERM: one line for both.
start_nbdkit "$IMAGEIO_PLUGIN" url="$url"
timeout 60 nbdsh -u "$uri" -c '
h.pwrite(b"\x01" * 65536, 0)
h.pread(131072, 0)
h.zero(65536, 1048576)
h.flush()
' || fail "nbdsh failed"
timeout 60 nbdsh -u "$uri" -c 'h.pread(4096, 0)' || fail "second nbdsh failed"
[ "$(summaries "$nbdkit_log")" -eq 0 ] || fail "a summary before nbdkit ended"
stop_nbdkit "$nbdkit_pid" || fail "nbdkit exit status $?"
[ "$(summaries "$nbdkit_log")" -eq 1 ] || { cat "$nbdkit_log" >&2; fail "not exactly one summary after SIGTERM"; }
line=$(grep 'transfer summary' "$nbdkit_log")
echo "$line"
for want in "read 135168 bytes" "wrote 65536 bytes" "zeroed 65536 bytes" \
            "0 requests sent again" "0 replays" "result: ok"; do
  grep -q -F "$want" <<<"$line" || fail "summary lacks '$want'"
done

# 2. nbdkit --run, five times: one line each time.
head -c $size /dev/urandom > "$tmpdir/src.raw"
for i in 1 2 3 4 5; do
  log=$tmpdir/run-$i.log
  timeout 60 nbdkit -U - "$IMAGEIO_PLUGIN" url="$url" \
    --run "nbdcopy --flush '$tmpdir/src.raw' \"\$uri\"" >"$log" 2>&1 ||
    { cat "$log" >&2; fail "nbdkit --run $i failed"; }
  [ "$(summaries "$log")" -eq 1 ] || { cat "$log" >&2; fail "--run $i: not exactly one summary"; }
  grep 'transfer summary' "$log" | grep -q -F "wrote $size bytes" || fail "--run $i: wrong count"
  grep 'transfer summary' "$log" | grep -q 'result: ok$' || fail "--run $i: not ok"
done
cmp "$tmpdir/src.raw" "$tmpdir/disk.raw" || fail "the copies differ"

# 3. A probe that moves no data: no line.
log=$tmpdir/probe.log
timeout 60 nbdkit -U - "$IMAGEIO_PLUGIN" url="$url" --run 'nbdinfo --size "$uri"' \
  >"$log" 2>&1 || { cat "$log" >&2; fail "nbdinfo failed"; }
[ "$(summaries "$log")" -eq 0 ] || { cat "$log" >&2; fail "a summary for a probe"; }

# 4. A failed copy: the backend fails past retry_timeout.  One line, FAILED.
stop_server "$server_pid"
start_server --tcp 127.0.0.1:0 --no-tls --ticket "$tmpdir/t.json" \
  --fault backend-restart=8:600000
url="http://localhost:$server_port/images/$t"
log=$tmpdir/failed.log
st=0
timeout 60 nbdkit -U - "$IMAGEIO_PLUGIN" url="$url" retry_timeout=1 \
  --run "nbdcopy --flush '$tmpdir/src.raw' \"\$uri\"" >"$log" 2>&1 || st=$?
[ "$st" -ne 0 ] || { cat "$log" >&2; fail "a copy that failed ended with status 0"; }
[ "$(summaries "$log")" -eq 1 ] || { cat "$log" >&2; fail "failed copy: not exactly one summary"; }
grep 'transfer summary' "$log" | grep -E -q 'result: FAILED \(.*500.*, [0-9]+ bytes may be lost\)$' ||
  { grep 'transfer summary' "$log" >&2; fail "failed copy: the summary does not say FAILED"; }
grep 'transfer summary' "$log"

# 5. Unflushed writes, then the server goes away before the client
# disconnects: the final flush fails, and the line says so.
stop_server "$server_pid"
start_server --tcp 127.0.0.1:0 --no-tls --ticket "$tmpdir/t.json"
url="http://127.0.0.1:$server_port/images/$t"
start_nbdkit "$IMAGEIO_PLUGIN" url="$url" retry_timeout=1
timeout 60 nbdsh -u "$uri" -c '
import time
h.pwrite(b"\x02" * 65536, 0)
time.sleep(2)
' &
client=$!
wait_until 10 grep -q 'op=write' "$server_log"
stop_server "$server_pid"
wait "$client" || true
st=0
stop_nbdkit "$nbdkit_pid" || st=$?
# No client could hear of this loss: nbdkit's exit status says it.
[ "$st" -ne 0 ] || { cat "$nbdkit_log" >&2; fail "lost flush: nbdkit exit status 0"; }
[ "$(summaries "$nbdkit_log")" -eq 1 ] || { cat "$nbdkit_log" >&2; fail "lost flush: not exactly one summary"; }
grep 'transfer summary' "$nbdkit_log" | grep -E -q 'result: FAILED \(.*Connection refused.*, 65536 bytes may be lost\)$' ||
  { cat "$nbdkit_log" >&2; fail "lost flush: the summary does not say FAILED"; }
grep 'transfer summary' "$nbdkit_log"

# 6. SIGTERM while the client is still connected with writes unflushed,
# the server gone: the final flush fails at unload; the error, the
# summary and nbdkit's exit status all say so.
start_server --tcp 127.0.0.1:0 --no-tls --ticket "$tmpdir/t.json"
url="http://127.0.0.1:$server_port/images/$t"
start_nbdkit "$IMAGEIO_PLUGIN" url="$url" retry_timeout=1
timeout 60 nbdsh -u "$uri" -c '
import time
h.pwrite(b"\x03" * 65536, 0)
time.sleep(5)
' >/dev/null 2>&1 &
client=$!
wait_until 10 grep -q 'op=write' "$server_log"
stop_server "$server_pid"
st=0
stop_nbdkit "$nbdkit_pid" || st=$?
wait "$client" || true
[ "$st" -ne 0 ] || { cat "$nbdkit_log" >&2; fail "SIGTERM, final flush lost: nbdkit exit status 0"; }
grep -q 'error: unloading: the final flush failed' "$nbdkit_log" ||
  { cat "$nbdkit_log" >&2; fail "SIGTERM: no error for the final flush"; }
[ "$(summaries "$nbdkit_log")" -eq 1 ] || { cat "$nbdkit_log" >&2; fail "SIGTERM: not exactly one summary"; }
grep 'transfer summary' "$nbdkit_log" | grep -E -q 'result: FAILED \(.*, 65536 bytes may be lost\)$' ||
  { cat "$nbdkit_log" >&2; fail "SIGTERM: the summary does not say FAILED"; }
echo "SIGTERM with the final flush lost: nbdkit exit status $st"
expect_log_redacted "$t"
