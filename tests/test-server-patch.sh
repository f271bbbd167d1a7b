#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# PATCH /images/TICKET: zero (offset default, flush) and flush, every
# validation message, bad and oversized JSON; file and nbd backends.
source "$(dirname "$0")/functions.sh"
requires_cmd curl qemu-img qemu-nbd cmp

size=1048576
random_file "$tmpdir/orig" $size
cp "$tmpdir/orig" "$tmpdir/disk.img"
qemu-img convert -q -f raw -O qcow2 "$tmpdir/orig" "$tmpdir/disk.qcow2"
start_qemu_nbd "$tmpdir/disk.qcow2" qcow2

t_file=$(random_ticket); t_nbd=$(random_ticket)
make_ticket "$tmpdir/file.json" "$t_file" $size "file://$tmpdir/disk.img" read,write
make_ticket "$tmpdir/nbd.json" "$t_nbd" $size "nbd:unix:$nbd_sock" read,write '"sparse": true'
start_server_unix --ticket "$tmpdir/file.json" --ticket "$tmpdir/nbd.json"
u=(--unix-socket "$server_sock")

patch ()
{
  request "${u[@]}" -X PATCH -H 'Content-Type: application/json' --data-binary "$2" "$1"
}

# PATCH BODY expecting 400 with exactly MESSAGE.
patch_400 ()
{
  patch "$1" "$2"
  expect_status 400 "PATCH $2"
  expect_body "$3"
  case "$(header content-type)" in text/plain*) ;; *) fail "400 Content-Type '$(header content-type)'" ;; esac
}

want_zero ()
{
  dd if=/dev/zero of="$tmpdir/want" bs=1 seek="$1" count="$2" conv=notrunc status=none
}

check_image ()
{
  request "${u[@]}" "$1"
  expect_status 200 "GET whole image"
  cmp "$tmpdir/want" "$resp_body" || fail "$2: image differs"
}

for t in "$t_file" "$t_nbd"; do
  url=http://localhost/images/$t
  cp "$tmpdir/orig" "$tmpdir/want"

  # Zero a range inside the image: exactly that range reads as zeroes.
  patch "$url" '{"op": "zero", "offset": 4096, "size": 8192, "flush": false}'
  expect_status 200 "PATCH zero"
  [ ! -s "$resp_body" ] || fail "PATCH zero answer has a body: $(cat "$resp_body")"
  want_zero 4096 8192
  # Unaligned both edges, flush true.
  patch "$url" '{"op": "zero", "offset": 100001, "size": 3, "flush": true}'
  expect_status 200 "PATCH zero unaligned"
  want_zero 100001 3
  # offset defaults to 0.
  patch "$url" '{"op": "zero", "size": 10}'
  expect_status 200 "PATCH zero without offset"
  want_zero 0 10
  # The last bytes of the image.
  patch "$url" "{\"op\": \"zero\", \"offset\": $(( size - 65536 )), \"size\": 65536}"
  expect_status 200 "PATCH zero at the end"
  want_zero $(( size - 65536 )) 65536
  check_image "$url" "after zero"

  # flush; offset and size are ignored.
  patch "$url" '{"op": "flush"}'
  expect_status 200 "PATCH flush"
  [ ! -s "$resp_body" ] || fail "PATCH flush answer has a body"
  patch "$url" '{"op": "flush", "offset": 0, "size": 99999999999}'
  expect_status 200 "PATCH flush with offset and size"

  # Zero past the end: 416, nothing zeroed.
  patch "$url" "{\"op\": \"zero\", \"offset\": $(( size - 10 )), \"size\": 20}"
  expect_status 416 "PATCH zero past the end"
  patch "$url" "{\"op\": \"zero\", \"offset\": $size, \"size\": 1}"
  expect_status 416 "PATCH zero at the end"
  check_image "$url" "after refused zero"

  # Validation: imageio's one-line messages.
  patch_400 "$url" '{"op": "zero"}' "Missing required value for 'size'"
  patch_400 "$url" '{"size": 10}' "Missing required value for 'op'"
  patch_400 "$url" '{}' "Missing required value for 'op'"
  patch_400 "$url" '{"op": "zero", "size": "4096"}' "Integer required '4096'"
  patch_400 "$url" '{"op": "zero", "size": 1.5}' "Integer required 1.5"
  patch "$url" '{"op": "zero", "size": null}'
  expect_status 400 "PATCH size null"
  patch_400 "$url" '{"op": "zero", "size": 10, "offset": "0"}' "Integer required '0'"
  patch_400 "$url" '{"op": "zero", "size": 10, "flush": "yes"}' "Boolean required 'yes'"
  patch_400 "$url" '{"op": "zero", "size": 10, "flush": 1}' "Boolean required 1"
  patch_400 "$url" '{"op": "zero", "size": -1}' "Invalid value -1 < 0"
  patch_400 "$url" '{"op": "zero", "offset": -1, "size": 10}' "Invalid value -1 < 0"
  patch_400 "$url" '{"op": "trim"}' "Unsupported value 'trim' for 'op', expecting one of ['flush', 'zero']"
  patch_400 "$url" '{"op": "ZERO", "size": 1}' "Unsupported value 'ZERO' for 'op', expecting one of ['flush', 'zero']"

  # Not a JSON object: 400 with one line (imageio says 500 for an array).
  for body in 'garbage' '{"op": "zero", "size": 1' '[1, 2]' '"zero"' '42' 'null' '' \
              '{"op": "zero", "size": 1}}' $'{"op": "zero",\n "size": 1 '; do
    patch "$url" "$body"
    expect_status 400 "PATCH body '$body'"
    [ "$(wc -l < "$resp_body")" = 1 ] || fail "PATCH '$body': body not one line: $(cat "$resp_body")"
  done
  patch "$url" '{"op": 5}'
  expect_status 400 "PATCH op 5"

  # Oversized body (4 MiB of JSON): refused (400 or 413), server survives.
  { printf '{"op": "flush", "pad": "'; head -c 4194304 /dev/zero | tr '\0' a; printf '"}'; } > "$tmpdir/big.json"
  request "${u[@]}" -X PATCH -H 'Content-Type: application/json' --data-binary @"$tmpdir/big.json" "$url"
  expect_status 413 "PATCH 4 MiB JSON"

  check_image "$url" "after bad requests"
done

# The nbd backend wrote through: compare the qcow2 with the expectation.
qemu-img compare -q -U -f raw -F qcow2 "$tmpdir/want" "$tmpdir/disk.qcow2" ||
  fail "disk.qcow2 differs from the expected image"

# Log lines.
[ "$(count_log "method=PATCH ticket=${t_file:0:8}\.\.\. op=zero offset=4096 length=8192 flush=n status=200")" -eq 1 ] ||
  fail "no PATCH zero log line (flush=n)"
[ "$(count_log "method=PATCH ticket=${t_nbd:0:8}\.\.\. op=zero offset=100001 length=3 flush=y status=200")" -eq 1 ] ||
  fail "no PATCH zero log line (flush=y)"
[ "$(count_log "method=PATCH ticket=${t_nbd:0:8}\.\.\. op=flush status=200")" -ge 2 ] ||
  fail "no PATCH flush log line"
[ "$(count_log 'method=PATCH .*status=400 .*error="Missing required value for '"'"'size'"'"'"')" -ge 2 ] ||
  fail "no PATCH 400 log line with the error"

stop_server
[ "$server_status" -eq 0 ] || fail "server exit status $server_status"
expect_log_redacted "$t_file" "$t_nbd"
cmp "$tmpdir/want" "$tmpdir/disk.img" || fail "disk.img differs from the expected image"
