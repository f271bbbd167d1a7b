#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Extents windows sized by density, with the default settings: a 64 GiB
# sparse raw image with a few data blocks and a dense region (256 MiB of
# alternating 4 KiB data and holes: 65,536 extents) at 1 GiB.
#   - nbdinfo --map through the plugin equals qemu-nbd's own map (data or
#     zero, merged);
#   - the first window asks for 64 MiB at most, later ones grow on sparse
#     parts and shrink after the dense one, and the whole map takes a
#     handful of requests (fixed 1 GiB windows took 64);
#   - every window goes over one kept-alive connection: the server sees
#     two connections in all (the start-up one and the extents one), not
#     one per window.
source "$(dirname "$0")/functions.sh"
requires_cmd nbdkit nbdinfo qemu-nbd jq timeout
requires /usr/bin/python3 -c 'import os'

gib=1073741824
size=$(( 64 * gib ))
img=$tmpdir/sparse.img
truncate -s $size "$img"
/usr/bin/python3 - "$img" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
b = b"\x5a" * 4096
for i in range(0, 256 << 20, 8192):          # the dense region at 1 GiB
    os.pwrite(fd, b, (1 << 30) + i)
for off in (0, 20 << 30, 40 << 30, (64 << 30) - 4096):
    os.pwrite(fd, b, off)
os.close(fd)
PY
[ "$(stat -c %b "$img")" -le $(( 2 * 256 * 1024 * 1024 / 512 )) ] ||
  { echo "$(basename "$0"): the file system does not keep holes, skipping"; exit 77; }

start_qemu_nbd "$img" raw -r
q_sock=$nbd_sock
t=$(random_ticket)
make_ticket "$tmpdir/t.json" "$t" $size "nbd:unix:$q_sock" read
start_server --tcp 127.0.0.1:0 --no-tls --ticket "$tmpdir/t.json"
url=http://localhost:$server_port/images/$t

all_closed ()
{
  [ "$(count_log ' open transport=')" -eq "$(count_log 'conn=[0-9]+ close$')" ]
}

# data/zero runs, merged, as "offset length zero" lines.
norm ()
{
  jq -r 'reduce .[] as $e ([]; ($e.type / 2 | floor % 2) as $z |
           if length > 0 and .[-1].z == $z then .[-1].l += $e.length
           else . + [{o: $e.offset, l: $e.length, z: $z}] end) |
         .[] | "\(.o) \(.l) \(.z)"'
}

nbdinfo --map --json "nbd+unix:///?socket=$q_sock" | norm > "$tmpdir/want.map"
timeout 120 nbdkit -U - -r -D imageio.extents=1 "$IMAGEIO_PLUGIN" url="$url" \
  --run 'nbdinfo --map --json "$uri"' > "$tmpdir/got.json" 2> "$tmpdir/nbdkit.log" ||
  { cat "$tmpdir/nbdkit.log" >&2; fail "nbdinfo --map through the plugin failed"; }
norm < "$tmpdir/got.json" > "$tmpdir/got.map"
if grep -q -i error "$tmpdir/nbdkit.log"; then
  cat "$tmpdir/nbdkit.log" >&2
  fail "nbdkit logged an error"
fi
[ "$(wc -l < "$tmpdir/want.map")" -ge 65536 ] || fail "qemu-nbd's map is too short: $(wc -l < "$tmpdir/want.map") runs"
cmp -s "$tmpdir/want.map" "$tmpdir/got.map" ||
  { diff "$tmpdir/want.map" "$tmpdir/got.map" | head -n 10 >&2; fail "the plugin's map differs from qemu-nbd's"; }

wait_until 10 all_closed
# The windows asked for, in order.
grep -o 'op=extents context=zero count=[0-9]* offset=[0-9]* length=[0-9]*' "$server_log" |
  sed 's/.*count=\([0-9]*\) offset=\([0-9]*\) length=\([0-9]*\)/\2 \3 \1/' > "$tmpdir/windows" || true
[ "$(count_log 'op=extents')" -eq "$(wc -l < "$tmpdir/windows")" ] ||
  fail "a GET extents without start= and length="
sed 's/^/  window (offset length extents): /' "$tmpdir/windows"
n=$(wc -l < "$tmpdir/windows")
[ "$n" -ge 3 ] && [ "$n" -le 10 ] || fail "$n windows for the whole map, expected 3 to 10"
first_len=$(head -n 1 "$tmpdir/windows" | cut -d' ' -f2)
[ "$first_len" -le $(( 64 * 1024 * 1024 )) ] || fail "first window of $first_len bytes"
# Contiguous from 0 to the end (a sequential map), growing, and smaller
# after the window that held the dense region.
/usr/bin/python3 - "$tmpdir/windows" $size <<'PY' || fail "windows not as expected"
import sys
w = [tuple(map(int, l.split()))[:2] for l in open(sys.argv[1])]
size = int(sys.argv[2])
pos = 0
for o, l in w:
    assert o == pos, "window at %d, expected %d" % (o, pos)
    pos += l
assert pos == size, "windows end at %d" % pos
dense = [i for i, (o, l) in enumerate(w) if o <= (1 << 30) + (128 << 20) < o + l][0]
assert w[1][1] > w[0][1], "no growth after the first window"
assert dense + 1 < len(w) and w[dense + 1][1] < w[dense][1], \
    "no shrink after the dense window: %r" % w
PY
opened=$(grep -c ' open transport=' "$server_log")
[ "$opened" -le 2 ] || fail "$opened connections for $n windows, expected 2 (start-up, extents)"
stop_server
[ "$server_status" -eq 0 ] || fail "server exit status $server_status"
expect_log_redacted "$t"
