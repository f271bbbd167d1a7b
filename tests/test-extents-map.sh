#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The plugin's block status equals what qemu-nbd knows about the image:
# raw and qcow2 images with random data, zero and unallocated runs, all
# empty, all data, a qcow2 overlay served with and without its backing
# chain, and sizes that are not a multiple of 64 KiB or of 512.
#
# Truth is read from qemu-nbd directly: base:allocation gives the zero
# bit, qemu:allocation-depth the hole bit (imageio reports a hole only
# where nothing in the chain is allocated, depth 0; a raw file or an
# allocated zero cluster is "zero", not a hole).  So through the plugin
#   type = (zero ? 2 : 0) | (zero && depth == 0 ? 1 : 0)
# for `nbdinfo --map`, and for `qemu-img map --output=json` the zero flag
# equals qemu-img map on qemu-nbd and data is "not a hole" by that rule.
# qemu-nbd exports the size rounded up to 512; its maps are clipped.
source "$(dirname "$0")/functions.sh"
requires_cmd nbdkit nbdinfo qemu-img qemu-io qemu-nbd fallocate timeout

mib=1048576
mkpat="$SRCDIR/tests/data/make-pattern.sh"

# name format file size types [qemu-nbd filename]
# TYPES: the NBD extent types the image must show (0 data, 2 zero, 3 hole).
images=()
add_image ()
{
  images+=("$*")
}

# Raw: random data runs and punched holes; empty; all data; odd size.
bash "$mkpat" raw "$tmpdir/r-runs.img" $(( 64 * mib )) 60 11
add_image r-runs raw "$tmpdir/r-runs.img" $(( 64 * mib )) 02
truncate -s $(( 16 * mib )) "$tmpdir/r-empty.img"
add_image r-empty raw "$tmpdir/r-empty.img" $(( 16 * mib )) 2
bash "$mkpat" raw "$tmpdir/r-full.img" $(( 8 * mib )) all 12
add_image r-full raw "$tmpdir/r-full.img" $(( 8 * mib )) 0
odd=52441145
bash "$mkpat" raw "$tmpdir/r-odd.img" $odd 30 13
# Data in the last, partial 512-byte block too.
printf 'tail' | dd of="$tmpdir/r-odd.img" bs=1 seek=$(( odd - 4 )) conv=notrunc status=none
add_image r-odd raw "$tmpdir/r-odd.img" $odd 02
# Odd size ending in a hole.
bash "$mkpat" raw "$tmpdir/r-odd2.img" $(( 3 * mib + 777 )) 6 14
fallocate -p -o $(( 3 * mib - 65536 )) -l $(( 65536 + 777 )) "$tmpdir/r-odd2.img"
add_image r-odd2 raw "$tmpdir/r-odd2.img" $(( 3 * mib + 777 )) 02

# qcow2: data, zero clusters, discarded clusters; empty; all data; a size
# that is a multiple of 512 but not of the 64 KiB cluster.
bash "$mkpat" qcow2 "$tmpdir/q-runs.qcow2" $(( 64 * mib )) 60 21
add_image q-runs qcow2 "$tmpdir/q-runs.qcow2" $(( 64 * mib )) 023
qemu-img create -q -f qcow2 "$tmpdir/q-empty.qcow2" $(( 16 * mib ))
add_image q-empty qcow2 "$tmpdir/q-empty.qcow2" $(( 16 * mib )) 3
bash "$mkpat" qcow2 "$tmpdir/q-full.qcow2" $(( 8 * mib )) all 22
add_image q-full qcow2 "$tmpdir/q-full.qcow2" $(( 8 * mib )) 0
qsize=$(( 10 * mib + 1536 ))
bash "$mkpat" qcow2 "$tmpdir/q-odd.qcow2" $qsize 20 23
qemu-io -f qcow2 -c "write -P 9 $(( qsize - 1024 )) 1024" "$tmpdir/q-odd.qcow2" >/dev/null
add_image q-odd qcow2 "$tmpdir/q-odd.qcow2" $qsize 023

# An overlay on a backing file, with and without the chain.
bash "$mkpat" qcow2 "$tmpdir/base.qcow2" $(( 32 * mib )) 30 31
qemu-img create -q -f qcow2 -b "$tmpdir/base.qcow2" -F qcow2 "$tmpdir/top.qcow2"
qemu-io -f qcow2 -c 'write -P 0x71 512k 64k' -c 'write -z 4M 1M' \
  -c 'write -P 0x72 20M 3M' -c 'write -z 30M 100k' -c 'discard 6M 2M' \
  "$tmpdir/top.qcow2" >/dev/null
add_image top-chain qcow2 "$tmpdir/top.qcow2" $(( 32 * mib )) 023
add_image top-alone qcow2 "$tmpdir/top.qcow2" $(( 32 * mib )) 023 \
  "json:{\"file\": {\"driver\": \"file\", \"filename\": \"$tmpdir/top.qcow2\"}, \"backing\": null}"

# One qemu-nbd per image, one server for all.
declare -A sock ticket size
args=()
for img in "${images[@]}"; do
  read -r name format file sz types qname <<<"$img"
  start_qemu_nbd "${qname:-$file}" "$format" -r
  sock[$name]=$nbd_sock
  ticket[$name]=$(random_ticket)
  size[$name]=$sz
  make_ticket "$tmpdir/t-$name.json" "${ticket[$name]}" "$sz" "nbd:unix:$nbd_sock" read
  args+=(--ticket "$tmpdir/t-$name.json")
done
start_server --tcp 127.0.0.1:0 --no-tls "${args[@]}"

for img in "${images[@]}"; do
  read -r name format file sz types qname <<<"$img"
  d=$tmpdir/out-$name
  mkdir "$d"
  nuri="nbd+unix:///?socket=${sock[$name]}"
  timeout 60 nbdinfo --map --json "$nuri" > "$d/base.json" ||
    fail "$name: nbdinfo --map on qemu-nbd failed"
  timeout 60 nbdinfo --map=qemu:allocation-depth --json "$nuri" > "$d/depth.json" ||
    fail "$name: nbdinfo --map=qemu:allocation-depth on qemu-nbd failed"
  timeout 60 qemu-img map --output=json -f raw "$nuri" > "$d/qimg-truth.json" ||
    fail "$name: qemu-img map on qemu-nbd failed"
  export d
  timeout 120 nbdkit -U - -r "$IMAGEIO_PLUGIN" \
    url="http://127.0.0.1:$server_port/images/${ticket[$name]}" \
    --run 'nbdinfo --map --json "$uri" > "$d/plugin.json" &&
           qemu-img map --output=json -f raw "$uri" > "$d/qimg-plugin.json"' \
    2> "$d/nbdkit.log" ||
    { cat "$d/nbdkit.log" >&2; fail "$name: nbdinfo/qemu-img map through the plugin failed"; }
  if grep -q -i 'error' "$d/nbdkit.log"; then
    cat "$d/nbdkit.log" >&2
    fail "$name: nbdkit logged an error"
  fi
  echo -n "$name ($format, ${size[$name]} bytes): "
  /usr/bin/python3 "$SRCDIR/tests/data/compare-map.py" "${size[$name]}" "$d" "$types" ||
    fail "$name: the plugin's map differs from qemu-nbd's"
done

# Each map came from one GET extents per nbdkit run: nbdinfo and qemu-img
# ran in the same nbdkit, so one document per image.
settle_log
n=$(count_log 'op=extents .*status=200')
[ "$n" -eq "${#images[@]}" ] ||
  fail "$n GET extents for ${#images[@]} images (expected one per nbdkit run)"
for img in "${images[@]}"; do
  read -r name _ <<<"$img"
  expect_log_redacted "${ticket[$name]}"
done
