#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Makes a test image with a reproducible pattern of data and zero runs, for
# the extents tests.
#
#   make-pattern.sh FORMAT FILE SIZE RUNS SEED
#
#   FORMAT raw:   a sparse file of SIZE bytes; RUNS runs of random data
#                 written with dd at random offsets (multiples of 512), then
#                 RUNS/2 holes punched at random 4 KiB-aligned offsets.
#   FORMAT qcow2: a qcow2 image of SIZE bytes; RUNS runs of patterned data,
#                 then RUNS/2 zero runs (write -z: zero clusters where
#                 aligned) and RUNS/4 discards (unallocated clusters), all
#                 at random offsets (multiples of 512).
#   Every run is 4 KiB .. 1 MiB long and clipped to the image; runs overlap
#   freely.  The same SEED gives the same layout.  FILE is replaced.
#   RUNS=all writes random data over the whole image instead.
set -euo pipefail

[ $# -eq 5 ] || { echo "usage: $0 raw|qcow2 FILE SIZE RUNS|all SEED" >&2; exit 2; }
format=$1 file=$2 size=$3 runs=$4 seed=$5
RANDOM=$seed

# Sets r to a 30-bit random number (bash's RANDOM has 15 bits).  Not via
# $(...): a subshell reseeds RANDOM, and the layout would not repeat.
rand30 ()
{
  r=$(( (RANDOM << 15) | RANDOM ))
}

# Sets off and len for one run: len 4 KiB .. 1 MiB, off a multiple of
# ALIGN below SIZE, len clipped to the end of the image.
pick ()
{
  local align=$1
  rand30
  len=$(( 4096 + r % (1048576 - 4096 + 1) ))
  rand30
  off=$(( (r % (size / align)) * align ))
  [ $(( off + len )) -le "$size" ] || len=$(( size - off ))
}

rm -f "$file"
case "$format" in
  raw)
    truncate -s "$size" "$file"
    if [ "$runs" = all ]; then
      head -c "$size" /dev/urandom | dd of="$file" bs=1M iflag=fullblock \
        conv=notrunc status=none
      exit 0
    fi
    for (( i = 0; i < runs; i++ )); do
      pick 512
      head -c "$len" /dev/urandom |
        dd of="$file" bs=64K iflag=fullblock seek="$off" oflag=seek_bytes \
           conv=notrunc status=none
    done
    for (( i = 0; i < runs / 2; i++ )); do
      pick 4096
      fallocate -p -o "$off" -l "$len" "$file"
    done
    ;;
  qcow2)
    qemu-img create -q -f qcow2 "$file" "$size"
    cmds=()
    if [ "$runs" = all ]; then
      # Patterned, not random: qemu-io writes fast and every cluster differs.
      for (( off = 0; off < size; off += 1048576 )); do
        len=$(( size - off < 1048576 ? size - off : 1048576 ))
        cmds+=(-c "write -P $(( (off / 1048576) % 255 + 1 )) $off $len")
      done
    else
      for (( i = 0; i < runs; i++ )); do
        pick 512
        cmds+=(-c "write -P $(( i % 255 + 1 )) $off $len")
      done
      for (( i = 0; i < runs / 2; i++ )); do
        pick 512
        cmds+=(-c "write -z $off $len")
      done
      for (( i = 0; i < runs / 4; i++ )); do
        pick 512
        cmds+=(-c "discard $off $len")
      done
    fi
    qemu-io -f qcow2 "${cmds[@]}" "$file" >/dev/null
    ;;
  *)
    echo "$0: unknown format $format" >&2
    exit 2
    ;;
esac
