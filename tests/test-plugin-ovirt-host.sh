#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# is_ovirt_host=true when the Unix socket that OPTIONS reports does not
# answer (here: its file was removed): the plugin falls back to the URL,
# quietly (no error line), and the upload is still identical.
source "$(dirname "$0")/functions.sh"
requires_cmd nbdkit qemu-img timeout

size=$(( 8 * 1024 * 1024 ))
random_file "$tmpdir/src.raw" $size
truncate -s $size "$tmpdir/disk.raw"
t=$(random_ticket)
make_ticket "$tmpdir/t.json" "$t" $size "file://$tmpdir/disk.raw" read,write
start_server --tcp 127.0.0.1:0 --no-tls --unix "$tmpdir/gone.sock" \
  --ticket "$tmpdir/t.json"
rm "$tmpdir/gone.sock"

export src=$tmpdir/src.raw
timeout 60 nbdkit -U - -v "$IMAGEIO_PLUGIN" is_ovirt_host=true \
  url="http://127.0.0.1:$server_port/images/$t" \
  --run 'qemu-img convert -n -f raw -O raw "$src" "$uri"' \
  2> "$tmpdir/nbdkit.log" || { cat "$tmpdir/nbdkit.log" >&2; fail "upload failed"; }
grep -q "Unix socket does not answer, using the URL" "$tmpdir/nbdkit.log" ||
  fail "no fallback message in nbdkit's debug output"
if grep -q "error" "$tmpdir/nbdkit.log"; then
  grep "error" "$tmpdir/nbdkit.log" >&2
  fail "the fallback logged an error"
fi
qemu-img compare -q -f raw -F raw "$tmpdir/src.raw" "$tmpdir/disk.raw" ||
  fail "the disk differs from the source"
[ "$(count_log 'open transport=unix')" -eq 0 ] || fail "a Unix connection was made"
