#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Idle connections.  The server closes a connection idle for the ticket's
# inactivity_timeout.  (a) After write + flush and a pause that outlasts
# it, reads, writes and flush go on without error (the plugin reconnects).
# (b) A write NOT flushed, then a pause until the server closed its
# connection: the flush sends the write again from the journal, then
# succeeds.  (b0) The same with max_unflushed=0 (no journal): the flush
# fails with EIO, and so does every later write and flush (sticky).  (c) As (b) with idle_flush=1: the keeper flushed before
# the server closed, so flush succeeds.
source "$(dirname "$0")/functions.sh"
requires_cmd nbdkit nbdsh timeout

size=$(( 16 * 1024 * 1024 ))
export server_log

# (a) and (b) pause for an inactivity_timeout of 2 s.  (c) uses 3 s: the
# keeper checks once a second, so with idle_flush=1 it flushes 1 to 2 s
# after the write, and 2 s would leave no margin against the server.
declare -A inact=([a]=2 [b]=2 [b0]=2 [c]=3) ticket
tickets=()
for c in a b b0 c; do
  truncate -s $size "$tmpdir/disk-$c.raw"
  ticket[$c]=$(random_ticket)
  make_ticket "$tmpdir/$c.json" "${ticket[$c]}" $size "file://$tmpdir/disk-$c.raw" read,write \
    "\"inactivity_timeout\": ${inact[$c]}"
  tickets+=(--ticket "$tmpdir/$c.json")
done
start_server --tcp 127.0.0.1:0 --no-tls "${tickets[@]}"

# Helpers for the nbdsh scripts: log polling (bounded) and the data check.
cat > "$tmpdir/prelude.py" <<'PY'
import errno, os, re, time
log = os.environ["server_log"]
T = "ticket=" + os.environ["T"][:8] + r"\.\.\."
disk = os.environ["disk"]
want = bytearray(h.get_size())

def lines():
    with open(log) as f:
        return f.read().splitlines()

def find(pat):
    """Index of the last log line matching pat, or -1."""
    ls = lines()
    for i in range(len(ls) - 1, -1, -1):
        if re.search(pat, ls[i]):
            return i
    return -1

def wait_log(pat, secs):
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        i = find(pat)
        if i >= 0:
            return i
        time.sleep(0.05)
    raise Exception("timed out after %ds waiting for log line /%s/" % (secs, pat))

def conn_of(pat):
    i = wait_log(pat, 5)
    return re.search(r"conn=(\d+)", lines()[i]).group(1)

def write(off, n, flags=0):
    data = os.urandom(n)
    h.pwrite(data, off, flags)
    want[off:off + n] = data
    return conn_of(T + r" op=write offset=%d length=%d " % (off, n))

def wait_closed(c):
    t0 = time.monotonic()
    wait_log(r"conn=%s close" % c, 15)
    print("server closed conn=%s after %.1fs" % (c, time.monotonic() - t0))

def check():
    assert h.pread(len(want), 0) == bytes(want), "read back differs"
    with open(disk, "rb") as f:
        assert f.read() == bytes(want), "the disk differs"
PY

# run_case CASE PLUGIN_ARGS... < script
run_case ()
{
  local c=$1; shift
  start_nbdkit "$IMAGEIO_PLUGIN" url="http://127.0.0.1:$server_port/images/${ticket[$c]}" "$@"
  T=${ticket[$c]} disk=$tmpdir/disk-$c.raw timeout 90 \
    nbdsh -u "$uri" -c "$(cat "$tmpdir/prelude.py" -)" || fail "case $c failed"
  stop_nbdkit "$nbdkit_pid" || fail "case $c: nbdkit exit status $?"
}

echo "== (a) write, flush, idle, then more I/O"
run_case a <<'PY'
c = write(0, 65536)
h.flush()
wait_closed(c)
assert h.pread(65536, 0) == bytes(want[0:65536])
write(1048576, 131072)
write(65536, 4096)
h.flush()
check()
PY
! grep -q 'error' "$nbdkit_log" || { cat "$nbdkit_log" >&2; fail "(a): errors logged"; }

echo "== (b) write without flush, idle, then flush: the write is sent again"
run_case b <<'PY'
c = write(0, 65536)
wait_closed(c)
h.flush()
puts = [l for l in lines() if re.search(T + r" op=write offset=0 length=65536 flush=n status=200", l)]
assert len(puts) == 2, "the unflushed write was not sent again: %d PUTs" % len(puts)
check()
PY
! grep -q 'error' "$nbdkit_log" || { cat "$nbdkit_log" >&2; fail "(b): errors logged"; }

echo "== (b0) as (b) without the journal: flush fails, and so does every later write"
run_case b0 max_unflushed=0 <<'PY'
c = write(0, 65536)
wait_closed(c)
for what, op in (("flush", lambda: h.flush()),
                 ("write", lambda: h.pwrite(b"x" * 512, 0)),
                 ("flush again", lambda: h.flush())):
    try:
        op()
        raise SystemExit(what + " succeeded after unflushed writes may have been lost")
    except nbd.Error as e:
        print(what, "failed as expected:", e.string)
        assert e.errnum == errno.EIO, "errno %s, expected EIO" % e.errno
# Reads still work.
assert h.pread(65536, 0) == bytes(want[0:65536])
PY
[ "$(grep -c 'data safety: ' "$nbdkit_log")" -eq 1 ] ||
  { cat "$nbdkit_log" >&2; fail "(b0): not exactly one 'data safety' error"; }

echo "== (c) write without flush, idle_flush=1 keeps it safe"
run_case c idle_flush=1 <<'PY'
c = write(0, 65536)
k = wait_log(r"conn=%s method=PATCH %s op=flush status=200" % (c, T), 10)
wait_closed(c)
assert k < find(r"conn=%s close" % c), "the keeper flushed after the close"
h.flush()
write(65536, 65536)
h.flush()
check()
PY
! grep -q 'error' "$nbdkit_log" || { cat "$nbdkit_log" >&2; fail "(c): errors logged"; }
expect_log_redacted "${ticket[@]}"
