#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A read-only ticket (ops: read) gives a read-only export: nbdinfo shows it,
# a write fails, reads return the disk's data, and nbdkit says at start-up
# that the export is read-only and why (a client's write otherwise fails
# with nothing but "Permission denied").  nbdkit -r on a writable ticket:
# the upload fails, the disk is unchanged, and the plugin names -r.
source "$(dirname "$0")/functions.sh"
requires_cmd nbdkit nbdinfo nbdsh nbdcopy qemu-img timeout

size=$(( 16 * 1024 * 1024 ))
truncate -s $size "$tmpdir/disk.raw"
dd if=/dev/urandom of="$tmpdir/disk.raw" bs=1M count=2 seek=1 conv=notrunc status=none
dd if=/dev/urandom of="$tmpdir/disk.raw" bs=4K count=1 seek=3000 conv=notrunc status=none
cp "$tmpdir/disk.raw" "$tmpdir/orig.raw"

t=$(random_ticket)
make_ticket "$tmpdir/t.json" "$t" $size "file://$tmpdir/disk.raw" read
start_server --tcp 127.0.0.1:0 --no-tls --ticket "$tmpdir/t.json"
# Without -r: the plugin itself must say the export is read-only.
start_nbdkit "$IMAGEIO_PLUGIN" url="http://localhost:$server_port/images/$t"
ro_log=$nbdkit_log
grep -q -F 'nbdkit: imageio: the export is read-only: the ticket does not allow writing (the server allows' "$ro_log" ||
  { cat "$ro_log" >&2; fail "no start-up line saying the export is read-only"; }

timeout 30 nbdinfo --json "$uri" > "$tmpdir/info.json" || fail "nbdinfo failed"
grep -q '"is_read_only": true' "$tmpdir/info.json" ||
  { cat "$tmpdir/info.json" >&2; fail "export is not read-only"; }

timeout 30 nbdsh -u "$uri" -c '
assert h.is_read_only(), "is_read_only false"
assert not h.can_zero() or h.is_read_only()
try:
    h.pwrite(b"x" * 4096, 0)
    raise SystemExit("a write on a read-only export succeeded")
except nbd.Error as e:
    print("write refused as expected:", e)
data = h.pread(4096, 3000 * 4096)
assert data == open("'"$tmpdir/orig.raw"'", "rb").read()[3000*4096:3001*4096], "pread differs"
' || fail "nbdsh checks failed"

timeout 60 nbdcopy -- "$uri" "$tmpdir/copy.raw" || fail "nbdcopy failed"
cmp "$tmpdir/copy.raw" "$tmpdir/orig.raw" || fail "the copy differs"
cmp "$tmpdir/disk.raw" "$tmpdir/orig.raw" || fail "the disk changed"
[ "$(count_log 'method=(PUT|PATCH)')" -eq 0 ] || fail "the plugin sent PUT or PATCH"
stop_nbdkit "$nbdkit_pid" || fail "nbdkit exit status $?"
[ "$(grep -c 'the export is read-only' "$ro_log")" -eq 1 ] ||
  { cat "$ro_log" >&2; fail "the read-only line is not said exactly once"; }

# An upload with -r on a writable ticket.
t2=$(random_ticket)
make_ticket "$tmpdir/t2.json" "$t2" $size "file://$tmpdir/disk.raw" read,write
start_server --tcp 127.0.0.1:0 --no-tls --ticket "$tmpdir/t2.json"
head -c $size /dev/urandom > "$tmpdir/new.raw"
export new=$tmpdir/new.raw
st=0
timeout 60 nbdkit -U - -r "$IMAGEIO_PLUGIN" url="http://localhost:$server_port/images/$t2" \
  --run 'qemu-img convert -n -f raw -O raw "$new" "$uri"' >"$tmpdir/r.log" 2>&1 || st=$?
[ "$st" -ne 0 ] && [ "$st" -ne 124 ] || { cat "$tmpdir/r.log" >&2; fail "-r upload: status $st, expected a failure"; }
grep -q -F 'nbdkit: imageio: the export is read-only: nbdkit runs with -r (the ticket allows writing)' "$tmpdir/r.log" ||
  { cat "$tmpdir/r.log" >&2; fail "-r upload: no line naming -r"; }
cmp "$tmpdir/disk.raw" "$tmpdir/orig.raw" || fail "-r upload: the disk changed"
[ "$(count_log 'method=(PUT|PATCH)')" -eq 0 ] || fail "-r upload: the plugin sent PUT or PATCH"
expect_log_redacted "$t" "$t2"
