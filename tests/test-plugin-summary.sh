#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The transfer summary: when the last NBD connection closes, one line on
# standard error with exactly what the client did (bytes read, written and
# zeroed, zero requests not sent), and it starts again with the next
# connection.
source "$(dirname "$0")/functions.sh"
requires_cmd nbdkit nbdsh timeout

size=$(( 4 * 1024 * 1024 ))
truncate -s $size "$tmpdir/disk.raw"
t=$(random_ticket)
make_ticket "$tmpdir/t.json" "$t" $size "file://$tmpdir/disk.raw" read,write
start_server --tcp 127.0.0.1:0 --no-tls --ticket "$tmpdir/t.json"
start_nbdkit "$IMAGEIO_PLUGIN" url="http://127.0.0.1:$server_port/images/$t"

timeout 60 nbdsh -u "$uri" -c '
h.pwrite(b"\x01" * 65536, 0)
h.pread(131072, 0)
h.zero(65536, 1048576)
h.flush()
' || fail "nbdsh failed"
wait_until 10 grep -q 'transfer summary' "$nbdkit_log" || { cat "$nbdkit_log" >&2; fail "no summary"; }
line=$(grep 'transfer summary' "$nbdkit_log")
echo "$line"
for want in "read 131072 bytes" "wrote 65536 bytes" "zeroed 65536 bytes" \
            "0 requests sent again" "0 replays"; do
  grep -q -F "$want" <<<"$line" || fail "summary lacks '$want'"
done
[ "$(grep -c 'transfer summary' "$nbdkit_log")" -eq 1 ] || fail "not exactly one summary"

# A second client: a summary of its own, counted from zero.
timeout 60 nbdsh -u "$uri" -c 'h.pread(4096, 0)' || fail "second nbdsh failed"
summaries () { [ "$(grep -c 'transfer summary' "$nbdkit_log")" -eq "$1" ]; }
wait_until 10 summaries 2
grep 'transfer summary' "$nbdkit_log" | tail -n 1 | grep -q -F "read 4096 bytes, wrote 0 bytes" ||
  { grep 'transfer summary' "$nbdkit_log" >&2; fail "the second summary is not counted from zero"; }
expect_log_redacted "$t"
