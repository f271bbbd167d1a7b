#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A bad extents document from the server (--fault extents=unsorted, gap,
# overlap, short, garbage, negative, badflag): block status still works and
# reports the whole image as data (always safe), nbdkit logs exactly one
# clear error about the extents, the document is not fetched again, and
# reads are right.  A server without the extents feature (--fault
# no-extents): nothing is fetched and everything is data.
source "$(dirname "$0")/functions.sh"
requires_cmd nbdkit nbdinfo nbdcopy qemu-img qemu-nbd jq timeout

mib=1048576
size=$(( 8 * mib ))
# Raw, mostly a hole: a correct map would show zero extents.
img=$tmpdir/disk.img
truncate -s $size "$img"
head -c $(( 256 * 1024 )) /dev/urandom | dd of="$img" bs=64K seek=16 conv=notrunc status=none
head -c 4096 /dev/urandom | dd of="$img" bs=4096 seek=1500 conv=notrunc status=none
start_qemu_nbd "$img" raw -r
t=$(random_ticket)
make_ticket "$tmpdir/t.json" "$t" $size "nbd:unix:$nbd_sock" read

# Maps twice and copies through the plugin, against a server started with
# --fault $1; checks the map is one data extent and the copy is right.
export tmpdir
run_with_fault ()
{
  local fault=$1
  start_server --tcp 127.0.0.1:0 --no-tls --ticket "$tmpdir/t.json" --fault "$fault"
  rm -f "$tmpdir"/map1.json "$tmpdir"/map2.json "$tmpdir"/dst.img
  timeout 60 nbdkit -U - -r "$IMAGEIO_PLUGIN" \
    url="http://127.0.0.1:$server_port/images/$t" \
    --run 'nbdinfo --map --json "$uri" > "$tmpdir/map1.json" &&
           nbdinfo --map --json "$uri" > "$tmpdir/map2.json" &&
           nbdcopy -- "$uri" "$tmpdir/dst.img"' \
    2> "$tmpdir/nbdkit.log" ||
    { cat "$tmpdir/nbdkit.log" >&2; fail "$fault: nbdinfo --map or nbdcopy through the plugin failed"; }
  for m in map1 map2; do
    got=$(jq -c '[.[] | [.offset, .length, .type]]' "$tmpdir/$m.json")
    [ "$got" = "[[0,$size,0]]" ] ||
      { cat "$tmpdir/nbdkit.log" >&2; fail "$fault: the map is $got, expected all data"; }
  done
  qemu-img compare -f raw -F raw "$img" "$tmpdir/dst.img" || fail "$fault: the copy differs"
}

for bad in unsorted gap overlap short garbage negative badflag; do
  run_with_fault extents=$bad
  n=$(grep -c -i 'error' "$tmpdir/nbdkit.log" || true)
  if [ "$n" -ne 1 ] || ! grep -i 'error' "$tmpdir/nbdkit.log" | grep -q -i 'extents'; then
    cat "$tmpdir/nbdkit.log" >&2
    fail "extents=$bad: expected exactly one error line about the extents, got $n"
  fi
  echo "extents=$bad: $(grep -i error "$tmpdir/nbdkit.log")"
  [ "$(count_log ' op=extents ')" -eq 1 ] ||
    fail "extents=$bad: $(count_log ' op=extents ') GET extents, expected 1 (no retry)"
  stop_server
done

# No extents feature: nothing fetched, no error, all data.
run_with_fault no-extents
[ "$(count_log ' op=extents ')" -eq 0 ] || fail "no-extents: the plugin asked for extents"
if grep -q -i error "$tmpdir/nbdkit.log"; then
  cat "$tmpdir/nbdkit.log" >&2
  fail "no-extents: nbdkit logged an error"
fi
stop_server
expect_log_redacted "$t"
