#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A read-only ticket (ops: read) gives a read-only export: nbdinfo shows it,
# a write fails, reads return the disk's data.
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
start_nbdkit "$IMAGEIO_PLUGIN" url="http://127.0.0.1:$server_port/images/$t"

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
expect_log_redacted "$t"
