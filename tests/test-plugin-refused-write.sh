#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A 403 outside an outage is no restart (issue 17): with writes unflushed,
# a write the server refuses (the ticket was deleted) fails at once, the
# loss is sticky (one "data safety" error; every later write and flush
# fails with EIO), and the summary says FAILED.  No waiting: the refusal
# comes well within retry_timeout.
source "$(dirname "$0")/functions.sh"
requires_cmd nbdkit curl timeout
requires /usr/bin/python3 -c 'import nbd'

size=$(( 4 * 1024 * 1024 ))
truncate -s $size "$tmpdir/disk.raw"
t=$(random_ticket)
make_ticket "$tmpdir/t.json" "$t" $size "file://$tmpdir/disk.raw" read,write
ctl=$tmpdir/control.sock
start_server --tcp 127.0.0.1:0 --no-tls --ticket "$tmpdir/t.json" --control "$ctl"
start_nbdkit "$IMAGEIO_PLUGIN" url="http://localhost:$server_port/images/$t"
export ctl t
t0=$(_now_ms)
# The DELETE waits until the server has ended the first PUT (the ticket
# is no longer "active"; the client has its answer a moment before): a
# DELETE earlier stops that request and closes its connection, an outage,
# after which a 403 may be a restarted daemon without its ticket yet
# (test-faults-outage), so it is retried.
timeout 60 /usr/bin/python3 -m nbd -u "$uri" -c '
import errno, json, os, subprocess, time
h.pwrite(b"\x01" * 65536, 0)
def active():
    out = subprocess.run(["curl", "-sS", "--unix-socket", os.environ["ctl"],
                          "http://localhost/tickets/" + os.environ["t"]],
                         check=True, stdout=subprocess.PIPE).stdout
    return json.loads(out)["active"]
deadline = time.monotonic() + 10
while active():
    assert time.monotonic() < deadline, "the first PUT did not end"
    time.sleep(0.02)
subprocess.run(["curl", "-sS", "--unix-socket", os.environ["ctl"], "-X", "DELETE",
                "http://localhost/tickets/" + os.environ["t"]], check=True)
for what, f in (("pwrite", lambda: h.pwrite(b"\x02" * 65536, 65536)),
                ("flush", lambda: h.flush()),
                ("pwrite again", lambda: h.pwrite(b"\x03" * 65536, 0))):
    try:
        f()
    except nbd.Error as e:
        print(what, "failed as expected:", e.string)
        continue
    raise AssertionError(what + " succeeded after the ticket was deleted")
' || { cat "$nbdkit_log" >&2; fail "unexpected result"; }
el=$(( $(_now_ms) - t0 ))
[ "$(count_log 'canceled, stopping')" -eq 0 ] ||
  fail "the DELETE stopped a request: this was an outage, not a plain refusal"
[ "$el" -lt 10000 ] ||
  { cat "$nbdkit_log" >&2; fail "the refusal took ${el} ms: it waited for retry_timeout"; }
stop_nbdkit "$nbdkit_pid" || true
[ "$(grep -c 'data safety: ' "$nbdkit_log")" -eq 1 ] ||
  { cat "$nbdkit_log" >&2; fail "not exactly one 'data safety' error"; }
grep 'transfer summary' "$nbdkit_log" | grep -E -q 'result: FAILED \(.*403.*, 65536 bytes may be lost\)$' ||
  { cat "$nbdkit_log" >&2; fail "the summary does not say FAILED"; }
grep 'transfer summary' "$nbdkit_log"
expect_log_redacted "$t"
