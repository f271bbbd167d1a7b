#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# GET /images/TICKET/checksum and /checksum/algorithms as imageio answers
# them: the value is checked against Python's hashlib (tests/data/blkhash.py,
# which reads every byte) on images with data, holes and allocated zeroes,
# through the file and nbd backends (raw and qcow2 with zero and
# unallocated clusters), whole and partial last blocks, every allowed
# algorithm and several block sizes; a 64 GiB empty image proves that zero
# blocks are not read; block_size and algorithm errors give imageio's 400
# texts; OPTIONS lists the feature; no whole ticket id in the log.
source "$(dirname "$0")/functions.sh"
requires_cmd curl jq qemu-img qemu-io qemu-nbd

mib=1048576
blkhash ()
{
  /usr/bin/python3 "$SRCDIR/tests/data/blkhash.py" "$@"
}

# 10 MiB + 8.5 KiB (a multiple of 512, so qemu-nbd exports exactly it, and
# of no block size): data, a hole, allocated zeroes, a partial data block,
# data in the last bytes.
size=$(( 10 * mib + 8192 + 512 ))
raw=$tmpdir/raw.img
truncate -s $size "$raw"
head -c $mib /dev/urandom | dd of="$raw" conv=notrunc status=none
head -c 4096 /dev/urandom | dd of="$raw" bs=1 seek=$(( 4 * mib + 100000 )) conv=notrunc status=none
dd if=/dev/zero of="$raw" bs=$mib seek=6 count=2 conv=notrunc status=none
head -c 512 /dev/urandom | dd of="$raw" bs=512 seek=$(( size / 512 - 1 )) conv=notrunc status=none

# qcow2 of the same bytes, plus a zero cluster written over data at 0.5M
# and an unallocated range.
q=$tmpdir/q.qcow2
qemu-img convert -q -f raw -O qcow2 "$raw" "$q"
qemu-io -f qcow2 -c 'write -z 512k 64k' "$q" >/dev/null
qemu-img convert -q -f qcow2 -O raw "$q" "$tmpdir/q.raw"
cmp -s "$raw" "$tmpdir/q.raw" && fail "the qcow2 should differ from the raw image"

# 64 GiB, nothing allocated: reading it would take minutes.
big=$tmpdir/big.qcow2 big_size=$(( 64 * 1024 * mib ))
qemu-img create -q -f qcow2 "$big" $big_size

start_qemu_nbd "$raw" raw -r; s_raw=$nbd_sock
start_qemu_nbd "$q" qcow2 -r; s_q=$nbd_sock
start_qemu_nbd "$big" qcow2 -r; s_big=$nbd_sock

t_file=$(random_ticket) t_raw=$(random_ticket) t_q=$(random_ticket)
t_big=$(random_ticket) t_wo=$(random_ticket) t_short=$(random_ticket)
make_ticket "$tmpdir/t_file.json" "$t_file" $size "file://$raw" read
make_ticket "$tmpdir/t_raw.json" "$t_raw" $size "nbd:unix:$s_raw" read
make_ticket "$tmpdir/t_q.json" "$t_q" $size "nbd:unix:$s_q" read
make_ticket "$tmpdir/t_big.json" "$t_big" $big_size "nbd:unix:$s_big" read
# write implies read: a write ticket may ask for a checksum.
cp "$raw" "$tmpdir/rw.img"
make_ticket "$tmpdir/t_wo.json" "$t_wo" $size "file://$tmpdir/rw.img" write
# A file ticket not a multiple of 512 (file backend only).
make_ticket "$tmpdir/t_short.json" "$t_short" $(( size - 300 )) "file://$raw" read
args=()
for f in "$tmpdir"/t_*.json; do args+=(--ticket "$f"); done
start_server_unix "${args[@]}"
u=(--unix-socket "$server_sock")
img=http://localhost/images

# checksum TICKET ALGORITHM BLOCK_SIZE: the server's value (both
# parameters given), after checking the answer's shape.
checksum ()
{
  request "${u[@]}" "$img/$1/checksum?algorithm=$2&block_size=$3"
  expect_status 200 "checksum $2 $3"
  case "$(header content-type)" in application/json*) ;;
    *) fail "checksum Content-Type '$(header content-type)'" ;; esac
  jq -e --arg a "$2" --argjson bs "$3" \
    '(keys == ["algorithm", "block_size", "checksum"]) and .algorithm == $a
     and .block_size == $bs and (.checksum | test("^[0-9a-f]{64}$"))' \
    "$resp_body" >/dev/null || fail "checksum answer: $(cat "$resp_body")"
  jq -r .checksum "$resp_body"
}

n=0
for alg in blake2b blake2s; do
  for bs in $mib 1052672 $(( 4 * mib )) $(( 16 * mib )); do
    want=$(blkhash "$raw" $alg $bs)
    want_q=$(blkhash "$tmpdir/q.raw" $alg $bs)
    for t in "$t_file" "$t_raw" "$t_wo"; do
      got=$(checksum "$t" $alg $bs)
      [ "$got" = "$want" ] || fail "$alg block_size=$bs ticket ${t:0:8}: $got, hashlib says $want"
      n=$(( n + 1 ))
    done
    got=$(checksum "$t_q" $alg $bs)
    [ "$got" = "$want_q" ] || fail "qcow2 $alg block_size=$bs: $got, hashlib says $want_q"
    want=$(blkhash "$raw" $alg $bs $(( size - 300 )))
    got=$(checksum "$t_short" $alg $bs)
    [ "$got" = "$want" ] || fail "short ticket $alg block_size=$bs: $got, hashlib says $want"
    n=$(( n + 2 ))
  done
done
echo "checksums equal to hashlib's: $n"

# Defaults: blake2b, 4 MiB.
request "${u[@]}" "$img/$t_q/checksum"
expect_status 200 "checksum with defaults"
jq -e --arg c "$(blkhash "$tmpdir/q.raw" blake2b $(( 4 * mib )))" \
  '.algorithm == "blake2b" and .block_size == 4194304 and .checksum == $c' \
  "$resp_body" >/dev/null || fail "default checksum: $(cat "$resp_body")"
[ "$(tail -c 1 "$resp_body" | od -An -c | tr -d ' ')" = '\n' ] || fail "JSON body does not end in a newline"

# Zero blocks come from extents: 64 GiB in far less than reading would take.
start=$(_now_ms)
request "${u[@]}" "$img/$t_big/checksum"
expect_status 200 "checksum of 64 GiB of holes"
elapsed=$(( $(_now_ms) - start ))
[ "$(jq -r .checksum "$resp_body")" = "$(blkhash --zeroes $big_size blake2b $(( 4 * mib )))" ] ||
  fail "64 GiB empty image: $(cat "$resp_body")"
[ "$elapsed" -lt 20000 ] || fail "64 GiB of holes took ${elapsed} ms: zero blocks were read"
echo "64 GiB empty image: ${elapsed} ms"

# Algorithms: no ticket needed, sorted.
for id in "$t_file" nosuchticket; do
  request "${u[@]}" "$img/$id/checksum/algorithms"
  expect_status 200 "algorithms"
  jq -e '(keys == ["algorithms"]) and (.algorithms | length > 0)
         and .algorithms == (.algorithms | sort)
         and (.algorithms | index("blake2b") != null)' "$resp_body" >/dev/null ||
    fail "algorithms: $(cat "$resp_body")"
done
request "${u[@]}" -X PUT --data-binary x "$img/$t_file/checksum/algorithms"
expect_status 405 "PUT algorithms"

# imageio's 400 texts; the parameters are checked before the ticket.
bad_bs ()
{
  request "${u[@]}" -G --data-urlencode "block_size=$1" "$img/$2/checksum"
  expect_status 400 "block_size='$1'"
  expect_body "$3"
}
for id in "$t_file" "$(random_ticket)"; do
  bad_bs x "$id" "Invalid block size: 'x'"
  bad_bs 4k "$id" "Invalid block size: '4k'"
  bad_bs "" "$id" "Invalid block size: ''"
  bad_bs 1048575 "$id" "Block size out of allowed range: 1048576-16777216"
done
bad_bs 16781312 "$t_file" "Block size out of allowed range: 1048576-16777216"
bad_bs -4194304 "$t_file" "Block size out of allowed range: 1048576-16777216"
bad_bs 99999999999999999999999 "$t_file" "Block size out of allowed range: 1048576-16777216"
bad_bs 1052673 "$t_file" "Block size is not aligned to 4096"
bad_bs 4196352 "$t_file" "Block size is not aligned to 4096"
request "${u[@]}" "$img/$t_file/checksum?algorithm=md5"
expect_status 400 "algorithm=md5"
alg_list=$(jq -c '.algorithms' <(icurl "${u[@]}" "$img/x/checksum/algorithms") | sed "s/\"/'/g; s/,/, /g")
expect_body "Unsupported value 'md5' for 'algorithm', expecting one of $alg_list"

# The ticket: missing is 403 and closes the connection; a bad method 405.
request "${u[@]}" "$img/$(random_ticket)/checksum"
expect_status 403 "checksum of a missing ticket"
[ "$(header connection | tr A-Z a-z)" = close ] || fail "403 without Connection: close"
request "${u[@]}" -X PUT --data-binary x "$img/$t_file/checksum"
expect_status 405 "PUT checksum"

# OPTIONS names the feature, for a ticket and for "*".
for id in "$t_file" "$t_raw" '*'; do
  request "${u[@]}" -X OPTIONS "$img/$id"
  expect_status 200 "OPTIONS $id"
  jq -e '.features | index("checksum") != null' "$resp_body" >/dev/null ||
    fail "OPTIONS $id features: $(cat "$resp_body")"
done

[ "$(count_log "op=checksum offset=0 length=$size status=200")" -ge 1 ] || fail "no checksum log line"
stop_server
[ "$server_status" -eq 0 ] || fail "server exit status $server_status"
expect_log_redacted "$t_file" "$t_raw" "$t_q" "$t_big" "$t_wo" "$t_short"
