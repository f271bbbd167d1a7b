#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The plugin and the real ovirt-imageio daemon's tickets:
#  - a read-only ticket gives a read-only export: reads equal the image,
#    a write fails and the image is unchanged;
#  - a ticket deleted in the middle of an upload: the next write fails with
#    EPERM and a message that says the ticket is gone (no retrying for
#    minutes, no whole ticket id);
#  - idle past the ticket's inactivity_timeout (the daemon closes the
#    connections) with writes not yet flushed: later writes and the flush
#    succeed and the image holds every byte written.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/realimageio-functions.sh"
requires_cmd nbdkit qemu-img qemu-io qemu-nbd jq timeout
requires /usr/bin/python3 -c 'import nbd'
realimageio_require

mib=1048576 size=$(( 64 * 1048576 ))
start_imageio

new_ticket ()  # NAME OPS [EXTRA]: qemu-nbd on $tmpdir/NAME.raw and a ticket
{
  start_imageio_qemu_nbd "$tmpdir/$1.raw" raw
  ticket=$(random_ticket)
  make_ticket "$tmpdir/$1.json" "$ticket" $size "nbd:unix:$nbd_sock" "$2" \
    "\"sparse\": true, \"dirty\": false${3:+, $3}"
  imageio_ticket "$tmpdir/$1.json"
}

# ---- read-only ticket
bash "$SRCDIR/tests/data/make-pattern.sh" raw "$tmpdir/ro.raw" $size 40 51
sum=$(sha "$tmpdir/ro.raw")
new_ticket ro read
start_plugin "$ticket"
timeout 60 qemu-img convert -f raw -O raw "$nbdkit_uri" "$tmpdir/ro-copy.raw" ||
  { cat "$nbdkit_log" >&2; fail "read-only: download failed"; }
cmp "$tmpdir/ro.raw" "$tmpdir/ro-copy.raw" || fail "read-only: download differs"
if timeout 60 qemu-io -f raw -c "write -P 7 0 64k" "$nbdkit_uri" >"$tmpdir/ro-write.out" 2>&1; then
  cat "$tmpdir/ro-write.out" >&2
  fail "read-only: a write succeeded"
fi
grep -q -i 'read-only\|permission\|not permitted' "$tmpdir/ro-write.out" ||
  { cat "$tmpdir/ro-write.out" >&2; fail "read-only: the write failed without saying why"; }
stop_nbdkit "$nbdkit_pid" || fail "read-only: nbdkit exit status $?"
[ "$(sha "$tmpdir/ro.raw")" = "$sum" ] || fail "read-only: the image changed"
echo "read-only ticket: reads equal, write refused"

# ---- ticket deleted mid-transfer
truncate -s $size "$tmpdir/del.raw"
new_ticket del read,write
del_ticket=$ticket
start_plugin "$ticket"
cat > "$tmpdir/delete.py" <<'PY'
import errno, subprocess, sys, time
import nbd
uri, delete_cmd = sys.argv[1], sys.argv[2:]
h = nbd.NBD()
h.connect_uri(uri)
buf = b"\x33" * (4 << 20)
for i in range(4):
    h.pwrite(buf, i << 22)
h.flush()
subprocess.run(delete_cmd, check=True)
t0 = time.monotonic()
try:
    for i in range(4, 8):
        h.pwrite(buf, i << 22)
    h.flush()
except nbd.Error as e:
    took = time.monotonic() - t0
    print("after delete: %s (errno %s) in %.1f s" % (e.string, e.errnum, took))
    if e.errnum != errno.EPERM:
        sys.exit("expected EPERM, got errno %s" % e.errnum)
    if took > 30:
        sys.exit("the failure took %.1f s" % took)
    sys.exit(0)
sys.exit("writes after the ticket was deleted succeeded")
PY
timeout 120 /usr/bin/python3 "$tmpdir/delete.py" "$nbdkit_uri" \
  curl -sS --max-time 90 --unix-socket "$imageio_ctl" -o /dev/null -X DELETE \
  "http://localhost/tickets/$ticket" ||
  { cat "$nbdkit_log" >&2; fail "deleted ticket: wrong outcome"; }
grep -E ': error: ' "$nbdkit_log" | grep -q -E '403' ||
  { cat "$nbdkit_log" >&2; fail "deleted ticket: no error naming the 403"; }
! grep -q -F -- "$del_ticket" "$nbdkit_log" || fail "deleted ticket: the whole ticket id is in nbdkit's log"
stop_nbdkit "$nbdkit_pid" || true
# What was flushed before the delete is in the image.
qemu-io -f raw -c "read -P 0x33 0 16M" "$tmpdir/del.raw" >/dev/null ||
  fail "deleted ticket: data flushed before the delete is missing"
echo "deleted ticket: EPERM, data flushed before it intact"

# ---- ticket deleted while nbdcopy uploads (virt-v2v's shape, the source
# slowed by the rate filter): the copy fails, soon, and says why.
truncate -s $size "$tmpdir/del2.raw"
bash "$SRCDIR/tests/data/make-pattern.sh" raw "$tmpdir/del2-src.raw" $size 40 52
new_ticket del2 read,write
del2_ticket=$ticket
start_plugin "$ticket" size=$size insecure=true
timeout 120 nbdkit -r -U - --filter=rate file "$tmpdir/del2-src.raw" rate=32M \
  --run "nbdcopy \"\$uri\" '$nbdkit_uri' --request-size=4194304 --requests=16 --flush" \
  >"$tmpdir/del2-copy.log" 2>&1 &
copy_pid=$!
cleanup_fn kill_quiet "$copy_pid"
wait_until 60 grep -q '\] WRITE ' "$imageio_log"
imageio_delete_ticket "$ticket"
t0=$(_now_ms)
st=0
wait "$copy_pid" || st=$?
took=$(( $(_now_ms) - t0 ))
[ "$st" -ne 0 ] || fail "deleted ticket: the copy succeeded after the ticket was deleted"
[ "$took" -lt 60000 ] || fail "deleted ticket: the copy took ${took} ms to fail"
grep -E ': error: ' "$nbdkit_log" | grep -q -E '403' ||
  { cat "$nbdkit_log" >&2; fail "deleted ticket: nbdkit logged no error naming the 403"; }
! grep -q -F -- "$del2_ticket" "$nbdkit_log" "$tmpdir/del2-copy.log" ||
  fail "deleted ticket: a whole ticket id was printed"
stop_nbdkit "$nbdkit_pid" || true
echo "ticket deleted during nbdcopy: the copy failed in ${took} ms: $(grep -E ': error: ' "$nbdkit_log" | head -n 1)"

# ---- idle past inactivity_timeout with unflushed writes
truncate -s $size "$tmpdir/idle.raw"
new_ticket idle read,write '"inactivity_timeout": 3'
start_plugin "$ticket"
cat > "$tmpdir/idle.py" <<'PY'
import sys, time
import nbd
uri, expect = sys.argv[1], sys.argv[2]
h = nbd.NBD()
h.connect_uri(uri)
for i in range(8):
    h.pwrite(bytes([i + 1]) * (1 << 20), i << 20)
time.sleep(6)          # the daemon closes idle connections after 3 s
for i in range(8, 16):
    h.pwrite(bytes([i + 1]) * (1 << 20), i << 20)
time.sleep(6)
h.flush()
h.shutdown()
with open(expect, "wb") as f:
    f.truncate(64 << 20)
    for i in range(16):
        f.seek(i << 20)
        f.write(bytes([i + 1]) * (1 << 20))
PY
timeout 120 /usr/bin/python3 "$tmpdir/idle.py" "$nbdkit_uri" "$tmpdir/idle-want.raw" ||
  { cat "$nbdkit_log" >&2; fail "idle: writes or the flush failed"; }
stop_nbdkit "$nbdkit_pid" || { cat "$nbdkit_log" >&2; fail "idle: nbdkit exit status $?"; }
grep -q 'Timeout reading or writing to socket' "$imageio_log" ||
  fail "idle: the daemon never closed an idle connection (test not testing)"
cmp "$tmpdir/idle-want.raw" "$tmpdir/idle.raw" || fail "idle: the image differs from what was written"
echo "idle past inactivity_timeout: data intact"
