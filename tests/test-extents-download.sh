#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Download of a sparse image with nbdcopy: the copy equals the source and
# is sparse, and thanks to the extents only the data is read from the
# server (bytes of GET op=read in the server log, about the data size).
# The same copy through --filter=noextents reads the whole image, which
# shows the counting works.
source "$(dirname "$0")/functions.sh"
requires_cmd nbdkit nbdcopy qemu-img qemu-nbd fallocate timeout jq

mib=1048576
size=$(( 256 * mib ))
src=$tmpdir/src.img
# About 5% data: random runs of 4 KiB .. 1 MiB, some holes punched again.
bash "$SRCDIR/tests/data/make-pattern.sh" raw "$src" $size 24 41
data=$(qemu-img map --output=json -f raw "$src" | jq '[.[] | select(.data) | .length] | add')
echo "image $size bytes, data $data bytes"
[ "$data" -gt $(( size / 100 )) ] && [ "$data" -lt $(( size / 10 )) ] ||
  fail "the source has $data bytes of data, wanted about 5%"

start_qemu_nbd "$src" raw -r
t=$(random_ticket)
make_ticket "$tmpdir/t.json" "$t" $size "nbd:unix:$nbd_sock" read
start_server --tcp 127.0.0.1:0 --no-tls --ticket "$tmpdir/t.json"
url=http://127.0.0.1:$server_port/images/$t

# Sum of length= of the GET op=read lines after line $1 of the server log.
read_bytes_after ()
{
  tail -n +"$(( $1 + 1 ))" "$server_log" |
    awk '/ op=read / && / status=206/ {
           for (i = 1; i <= NF; i++)
             if ($i ~ /^length=/) { sub(/^length=/, "", $i); n += $i }
         }
         END { printf "%d\n", n }'
}

# True when every connection opened after line $1 of the log is closed.
all_closed_after ()
{
  local opened closed
  opened=$(tail -n +"$(( $1 + 1 ))" "$server_log" | grep -c ' open transport=' || true)
  closed=$(tail -n +"$(( $1 + 1 ))" "$server_log" | grep -c -E 'conn=[0-9]+ close$' || true)
  [ "$opened" -eq "$closed" ]
}

# Copies through nbdkit with extra nbdkit args $2..; $1 names the copy.
download ()
{
  local name=$1; shift
  dst=$tmpdir/dst-$name.img
  export dst
  mark=$(wc -l < "$server_log")
  timeout 120 nbdkit -U - -r "$@" "$IMAGEIO_PLUGIN" url="$url" \
    --run 'nbdcopy -- "$uri" "$dst"' 2> "$tmpdir/nbdkit-$name.log" ||
    { cat "$tmpdir/nbdkit-$name.log" >&2; fail "$name: nbdcopy failed"; }
  if grep -q -i error "$tmpdir/nbdkit-$name.log"; then
    cat "$tmpdir/nbdkit-$name.log" >&2
    fail "$name: nbdkit logged an error"
  fi
  qemu-img compare -f raw -F raw "$src" "$dst" || fail "$name: the copy differs"
  # The server logs a request just after answering it: wait until it has
  # logged the close of every connection nbdkit opened.
  wait_until 10 all_closed_after "$mark"
  read_bytes=$(read_bytes_after "$mark")
  extents_gets=$(tail -n +"$(( mark + 1 ))" "$server_log" | grep -c ' op=extents ' || true)
  echo "$name: read $read_bytes bytes, $extents_gets GET extents," \
    "copy allocates $(( $(stat -c %b "$dst") * 512 )) bytes"
}

# Fixed 1 GiB windows: one GET for this image, which this test counts
# (windows sized by density: test-extents-adaptive.sh).
download extents -D imageio.extents_window_mib=1024
[ "$extents_gets" -eq 1 ] || fail "extents: $extents_gets GET extents, expected 1"
# Reads are whole nbdcopy requests around the data, so allow some slack.
[ "$read_bytes" -ge "$data" ] || fail "extents: read $read_bytes bytes, less than the data ($data)"
[ "$read_bytes" -le $(( data + data / 2 + 4 * mib )) ] ||
  fail "extents: read $read_bytes bytes for $data bytes of data"
# The copy is sparse.
alloc=$(( $(stat -c %b "$dst") * 512 ))
[ "$alloc" -le $(( data + data / 2 + 4 * mib )) ] ||
  fail "extents: the copy allocates $alloc bytes for $data bytes of data"

download noextents --filter=noextents
[ "$extents_gets" -eq 0 ] || fail "noextents: $extents_gets GET extents, expected 0"
[ "$read_bytes" -ge "$size" ] || fail "noextents: read $read_bytes bytes, less than the image"
expect_log_redacted "$t"
