#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Server faults.  --fault drop=N closes the connection without answering
# the Nth image request (OPTIONS counts): the plugin sends it again on a
# new connection, so downloads and uploads still succeed and are
# identical; when the dropped connection held unflushed writes, they are
# sent again from the journal first (without it, max_unflushed=0, the
# flush and every later write fail with EIO).  --fault error=N:500: the
# journal and the request are sent again and the upload succeeds; a 500 on
# every request fails the client, and nbdkit keeps serving.
source "$(dirname "$0")/functions.sh"
requires_cmd nbdkit nbdsh nbdcopy nbdinfo qemu-img qemu-nbd timeout

size=$(( 16 * 1024 * 1024 ))
truncate -s $size "$tmpdir/src.raw"
for mb in 0 1 4 7 8 12 15; do
  dd if=/dev/urandom of="$tmpdir/src.raw" bs=1M count=1 seek=$mb conv=notrunc status=none
done
export src=$tmpdir/src.raw

# setup NAME FAULT [OPS]: a server with FAULT and one ticket on a fresh
# qcow2 target (NAME.qcow2) served by qemu-nbd; sets url and target.
setup ()
{
  local name=$1 fault=$2
  target=$tmpdir/$name.qcow2
  qemu-img create -q -f qcow2 "$target" $size
  # -e 16: the server opens an NBD connection per HTTP connection (qemu-nbd allows 1 by default).
  start_qemu_nbd "$target" qcow2 -e 16
  t=$(random_ticket)
  make_ticket "$tmpdir/$name.json" "$t" $size "nbd:unix:$nbd_sock" read,write
  start_server --tcp 127.0.0.1:0 --no-tls --ticket "$tmpdir/$name.json" --fault "$fault"
  url=http://127.0.0.1:$server_port/images/$t
}

# With connections=1 the server sees one connection (it probed the server
# at start-up, then serves as the pool); a drop adds one more.
expect_opens ()
{
  local n
  n=$(count_log 'open transport=')
  [ "$n" -eq "$2" ] || fail "$1: $n connections opened, expected $2"
}

# 1. Upload, the first request after start-up (on a fresh connection)
# dropped.
setup up-drop3 drop=3
timeout 120 nbdkit -U - "$IMAGEIO_PLUGIN" url="$url" \
  --run 'qemu-img convert -n -f raw -O raw "$src" "$uri"' 2>"$tmpdir/up3.log" ||
  { cat "$tmpdir/up3.log" >&2; fail "upload with drop=3 failed"; }
qemu-img compare -U -f raw -F qcow2 "$src" "$target" || fail "upload with drop=3 differs"

# 2. Download, a read in the middle dropped.
setup down-drop drop=9
qemu-img convert -n -f raw -O raw "$src" "nbd+unix:///?socket=$nbd_sock"
export out=$tmpdir/out.raw
timeout 120 nbdkit -U - -r "$IMAGEIO_PLUGIN" url="$url" connections=2 \
  --run 'nbdcopy -- "$uri" "$out"' 2>"$tmpdir/down.log" ||
  { cat "$tmpdir/down.log" >&2; fail "download with drop=9 failed"; }
cmp "$src" "$out" || fail "download with drop=9 differs"

# 3. FUA writes (the server flushed each): a dropped write is sent again
# and the flush succeeds.  Requests: 1 OPTIONS, 2 size GET, then writes.
setup fua-drop drop=5
start_nbdkit "$IMAGEIO_PLUGIN" url="$url" connections=1
export want=$tmpdir/fua-want
timeout 60 nbdsh -u "$uri" -c '
import os
want = bytearray(h.get_size())
for i in range(6):
    d = os.urandom(65536)
    h.pwrite(d, i * 1048576, nbd.CMD_FLAG_FUA)
    want[i * 1048576:i * 1048576 + 65536] = d
h.flush()
assert h.pread(len(want), 0) == bytes(want), "read back differs"
open(os.environ["want"], "wb").write(want)
' || { cat "$nbdkit_log" >&2; fail "FUA writes with a drop failed"; }
stop_nbdkit "$nbdkit_pid" || fail "nbdkit exit status $?"
qemu-img compare -U -f raw -F qcow2 "$want" "$target" || fail "FUA writes with a drop: disk differs"
expect_opens "FUA writes drop=5" 2

# 4. Plain writes: the dropped connection held unflushed writes, so the
# plugin sends them again from its journal before the dropped request;
# the flush succeeds and the data is safe.
setup dirty-drop drop=5
start_nbdkit "$IMAGEIO_PLUGIN" url="$url" connections=1
export want=$tmpdir/dirty-want
timeout 60 nbdsh -u "$uri" -c '
import os
want = bytearray(h.get_size())
for i in range(6):
    d = os.urandom(65536)
    h.pwrite(d, i * 1048576)
    want[i * 1048576:i * 1048576 + 65536] = d
h.flush()
assert h.pread(len(want), 0) == bytes(want), "read back differs"
open(os.environ["want"], "wb").write(want)
' || { cat "$nbdkit_log" >&2; fail "plain writes with a drop failed"; }
stop_nbdkit "$nbdkit_pid" || fail "nbdkit exit status $?"
qemu-img compare -U -f raw -F qcow2 "$want" "$target" || fail "plain writes with a drop: disk differs"
expect_opens "plain writes drop=5" 2
# Requests 3 and 4 were acknowledged, 5 dropped: 3 and 4 are sent again.
[ "$(count_log 'method=PUT .* offset=0 length=65536 flush=n status=200')" -eq 2 ] ||
  fail "plain writes with a drop: the first write was not sent again"

# 4b. The same without the journal (max_unflushed=0): nothing can be sent
# again, so the flush fails with EIO, and so do later writes and flushes
# (sticky), with one clear error.
setup dirty-drop-nojournal drop=5
start_nbdkit "$IMAGEIO_PLUGIN" url="$url" connections=1 max_unflushed=0
timeout 60 nbdsh -u "$uri" -c '
import errno, os
for i in range(6):
    try:
        h.pwrite(os.urandom(65536), i * 1048576)
    except nbd.Error as e:
        assert e.errnum == errno.EIO, "errno %s" % e.errno
        break
for what, op in (("flush", h.flush), ("write", lambda: h.pwrite(b"x" * 512, 0)),
                 ("flush again", h.flush)):
    try:
        op()
        raise SystemExit(what + " succeeded after unflushed writes were lost")
    except nbd.Error as e:
        print(what, "failed as expected:", e.string)
        assert e.errnum == errno.EIO, "errno %s" % e.errno
' || { cat "$nbdkit_log" >&2; fail "plain writes with a drop, no journal: unexpected result"; }
[ "$(grep -c 'data safety: ' "$nbdkit_log")" -eq 1 ] ||
  { cat "$nbdkit_log" >&2; fail "no journal: not exactly one 'data safety' error"; }
stop_nbdkit "$nbdkit_pid"

# 5. A 500 in the middle of an upload: the server may have lost what was
# not flushed, so the plugin sends its journal again, then the failed
# request; qemu-img never notices, and the target is identical.
# The source is all data, so every request after the probe is a PUT.
head -c $size /dev/urandom > "$tmpdir/full.raw"
src=$tmpdir/full.raw
setup error500 error=6:500
start_nbdkit "$IMAGEIO_PLUGIN" url="$url"
timeout 120 qemu-img convert -n -f raw -O raw "$src" "$uri" ||
  { cat "$nbdkit_log" >&2; fail "upload with a 500 failed"; }
[ "$(count_log 'method=PUT .*status=500')" -eq 1 ] || fail "the 500 was not on a PUT"
stop_nbdkit "$nbdkit_pid" || fail "nbdkit exit status $? after a 500"
qemu-img compare -U -f raw -F qcow2 "$src" "$target" || fail "upload with a 500 differs"

# 5b. A server that fails every request from the 6th on, for longer than
# retry_timeout= (issue 17: shorter failures are ridden out): qemu-img
# fails, nbdkit keeps serving and says why once.
setup error500-all error=6:500
stop_server "$server_pid"
start_server --tcp 127.0.0.1:0 --no-tls --ticket "$tmpdir/error500-all.json" \
  --fault backend-restart=6:600000
url=http://127.0.0.1:$server_port/images/$t
start_nbdkit "$IMAGEIO_PLUGIN" url="$url" timeout=5 retry_timeout=2
st=0
timeout 120 qemu-img convert -n -f raw -O raw "$src" "$uri" 2>"$tmpdir/qemu-img.err" || st=$?
cat "$tmpdir/qemu-img.err"
[ "$st" -ne 0 ] && [ "$st" -ne 124 ] || fail "qemu-img convert: status $st with 500 on every request"
grep -q -E 'error: .*500' "$nbdkit_log" || { cat "$nbdkit_log" >&2; fail "no 500 in nbdkit's log"; }
proc_running "$nbdkit_pid" || fail "nbdkit died after 500s"
stop_nbdkit "$nbdkit_pid"
