#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A map of more extents than one block status reply holds (the plugin
# bounds a reply to 65536 extents, as qemu-nbd does): one request over the
# whole image gets a reply that ends early, at an extent boundary, and
# nbdinfo --map, which asks again from there, still sees every extent.
source "$(dirname "$0")/functions.sh"
requires_cmd nbdkit nbdinfo qemu-nbd timeout
requires /usr/bin/python3 -c 'import nbd'

# 4 KiB of data every 8 KiB: 150,000 extents over 600 MB (300 MB of data).
pairs=75000
size=$(( pairs * 8192 ))
img=$tmpdir/frag.img
/usr/bin/python3 "$SRCDIR/tests/data/make-fragmented.py" "$img" $pairs

start_qemu_nbd "$img" raw -r
t=$(random_ticket)
make_ticket "$tmpdir/t.json" "$t" $size "nbd:unix:$nbd_sock" read
start_server --tcp 127.0.0.1:0 --no-tls --ticket "$tmpdir/t.json"
url=http://127.0.0.1:$server_port/images/$t

export size
timeout 120 nbdkit -U - -r "$IMAGEIO_PLUGIN" url="$url" --run '
  nbdinfo --map "$uri" > "'"$tmpdir"'/map.txt" &&
  /usr/bin/python3 -m nbd --base-allocation -u "$uri" -c "
import os
size = int(os.environ[\"size\"])
got = []
def cb(meta, offset, entries, err):
    if meta == \"base:allocation\":
        got.extend(entries)
h.block_status(size, 0, cb)
n = len(got) // 2
end = sum(got[0::2])
print(\"one reply:\", n, \"extents, up to\", end)
assert n <= 65536, n
assert 0 < end < size, end
assert end % 4096 == 0, end
assert got[1::2][:2] == [0, 2], got[:4]
"' 2> "$tmpdir/nbdkit.log" || { cat "$tmpdir/nbdkit.log" >&2; fail "nbdkit failed"; }

lines=$(wc -l < "$tmpdir/map.txt")
[ "$lines" -eq $(( pairs * 2 )) ] ||
  fail "nbdinfo --map shows $lines extents, expected $(( pairs * 2 ))"
# Data at every 8 KiB, zero (raw: never a hole) in between, to the end.
awk -v size=$size '
  { expect = (NR - 1) * 4096
    if ($1 != expect || $2 != 4096) { print "bad line " NR ": " $0; exit 1 }
    if (NR % 2 == 1 && $3 != 0) { print "line " NR " not data: " $0; exit 1 }
    if (NR % 2 == 0 && $3 != 2) { print "line " NR " not zero: " $0; exit 1 } }
  END { if ((NR) * 4096 != size) { print "ends at " NR * 4096; exit 1 } }' \
  "$tmpdir/map.txt" || fail "nbdinfo --map through the plugin is wrong"
echo "nbdinfo --map: $lines extents, all correct"
