#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# GET /images/TICKET/extents: file backend (one data extent), nbd raw (no
# holes), qcow2 with unallocated and zero clusters and a backing file
# (hole: true exactly where qemu-img map says "present": false), a
# 52441145-byte image (the list runs to 52441600), context=dirty, bad
# contexts, Range ignored.  nbd extents are compared with
# `qemu-img map --output=json` of the same image.
source "$(dirname "$0")/functions.sh"
requires_cmd curl jq qemu-img qemu-io qemu-nbd

check ()
{
  /usr/bin/python3 "$SRCDIR/tests/data/extents-check.py" "$@" ||
    { echo "document: $(head -c 2000 "$1")" >&2; fail "extents check failed: ${*:2}"; }
}

mib=1048576
# Raw, sparse, data in two places.
raw=$tmpdir/raw.img
truncate -s $(( 4 * mib )) "$raw"
head -c 4096 /dev/urandom | dd of="$raw" bs=4096 seek=256 conv=notrunc status=none
head -c 65536 /dev/urandom | dd of="$raw" bs=65536 seek=50 conv=notrunc status=none
qemu-img map --output=json -f raw "$raw" > "$tmpdir/raw.map"

# qcow2: data, unallocated clusters, an allocated zero cluster, data.
q=$tmpdir/q.qcow2
qemu-img create -q -f qcow2 "$q" $(( 4 * mib ))
qemu-io -f qcow2 -c 'write -P 0xab 0 64k' -c 'write -z 1M 64k' \
  -c 'write -P 1 2M 128k' -c 'write -P 2 3968k 64k' "$q" >/dev/null
qemu-img map --output=json -f qcow2 "$q" > "$tmpdir/q.map"

# qcow2 overlay: backing data is not a hole, unallocated in both is.
base=$tmpdir/base.qcow2 top=$tmpdir/top.qcow2
qemu-img create -q -f qcow2 "$base" $(( 4 * mib ))
qemu-io -f qcow2 -c 'write -P 3 0 1M' "$base" >/dev/null
qemu-img create -q -f qcow2 -b "$base" -F qcow2 "$top"
qemu-io -f qcow2 -c 'write -P 4 512k 64k' -c 'write -P 5 3M 64k' "$top" >/dev/null
qemu-img map --output=json -f qcow2 "$top" > "$tmpdir/top.map"

# An odd size: the export is rounded up to 52441600.
odd=$tmpdir/odd.img odd_size=52441145
truncate -s $odd_size "$odd"
printf 'tail' | dd of="$odd" bs=1 seek=$(( odd_size - 4 )) conv=notrunc status=none
head -c 65536 /dev/urandom | dd of="$odd" conv=notrunc status=none
qemu-img map --output=json -f raw "$odd" > "$tmpdir/odd.map"

# Dirty bitmap: only what was written after the bitmap was added is dirty.
d=$tmpdir/dirty.qcow2
qemu-img create -q -f qcow2 "$d" $(( 4 * mib ))
qemu-io -f qcow2 -c 'write -P 6 0 1M' "$d" >/dev/null
qemu-img bitmap --add "$d" b0
qemu-io -f qcow2 -c 'write -P 7 2M 128k' "$d" >/dev/null

start_qemu_nbd "$raw" raw -r; s_raw=$nbd_sock
start_qemu_nbd "$q" qcow2 -r; s_q=$nbd_sock
start_qemu_nbd "$top" qcow2 -r; s_top=$nbd_sock
start_qemu_nbd "$odd" raw -r; s_odd=$nbd_sock
start_qemu_nbd "$d" qcow2 -r -B b0; s_d=$nbd_sock

t_file=$(random_ticket) t_raw=$(random_ticket) t_q=$(random_ticket)
t_top=$(random_ticket) t_odd=$(random_ticket) t_d=$(random_ticket)
make_ticket "$tmpdir/t_file.json" "$t_file" $(( 4 * mib )) "file://$raw" read
make_ticket "$tmpdir/t_raw.json" "$t_raw" $(( 4 * mib )) "nbd:unix:$s_raw" read
make_ticket "$tmpdir/t_q.json" "$t_q" $(( 4 * mib )) "nbd:unix:$s_q" read
make_ticket "$tmpdir/t_top.json" "$t_top" $(( 4 * mib )) "nbd:unix:$s_top" read
make_ticket "$tmpdir/t_odd.json" "$t_odd" $odd_size "nbd:unix:$s_odd" read
make_ticket "$tmpdir/t_d.json" "$t_d" $(( 4 * mib )) "nbd:unix:$s_d" read '"dirty": true'
# Dirty tickets whose export has no bitmap (nbd, then file).
t_dn=$(random_ticket) t_df=$(random_ticket)
make_ticket "$tmpdir/t_dn.json" "$t_dn" $(( 4 * mib )) "nbd:unix:$s_q" read '"dirty": true'
make_ticket "$tmpdir/t_df.json" "$t_df" $(( 4 * mib )) "file://$raw" read '"dirty": true'
args=()
for f in "$tmpdir"/t_*.json; do args+=(--ticket "$f"); done
start_server_unix "${args[@]}"
u=(--unix-socket "$server_sock")
img=http://localhost/images

get_extents ()
{
  request "${u[@]}" "$@"
  expect_status 200 "GET $*"
  case "$(header content-type)" in application/json*) ;;
    *) fail "extents Content-Type '$(header content-type)'" ;; esac
  cp "$resp_body" "$tmpdir/ext.json"
}

# File backend: one data extent for the whole image, even when sparse.
get_extents "$img/$t_file/extents"
check "$tmpdir/ext.json" $(( 4 * mib )) zero-nohole
[ "$(jq length "$tmpdir/ext.json")" = 1 ] && [ "$(jq '.[0].zero' "$tmpdir/ext.json")" = false ] ||
  fail "file backend: $(cat "$tmpdir/ext.json")"

# nbd raw: zero where qemu says so, never a hole.
get_extents "$img/$t_raw/extents"
check "$tmpdir/ext.json" $(( 4 * mib )) zero-nohole
check "$tmpdir/ext.json" $(( 4 * mib )) zero "$tmpdir/raw.map"
# context=zero is the default.
get_extents "$img/$t_raw/extents?context=zero"
check "$tmpdir/ext.json" $(( 4 * mib )) zero "$tmpdir/raw.map"

# qcow2 with unallocated clusters: hole: true there.
get_extents "$img/$t_q/extents"
check "$tmpdir/ext.json" $(( 4 * mib )) zero "$tmpdir/q.map"
jq -e 'map(select(.hole)) | length > 0' "$tmpdir/ext.json" >/dev/null || fail "qcow2: no hole reported"
# The allocated zero cluster at 1M is zero but not a hole.
jq -e 'map(select(.start <= 1048576 and .start + .length > 1048576))[0] | .zero and (.hole | not)' \
  "$tmpdir/ext.json" >/dev/null || fail "qcow2: zero cluster at 1M: $(cat "$tmpdir/ext.json")"

# qcow2 over a backing file: data from the backing file is not a hole.
get_extents "$img/$t_top/extents"
check "$tmpdir/ext.json" $(( 4 * mib )) zero "$tmpdir/top.map"

# 52441145 bytes: the list runs to the export size 52441600; a GET there
# is still 416.
get_extents "$img/$t_odd/extents"
check "$tmpdir/ext.json" 52441600 zero-nohole
check "$tmpdir/ext.json" 52441600 zero "$tmpdir/odd.map"
request "${u[@]}" -H "Range: bytes=$odd_size-52441599" "$img/$t_odd"
expect_status 416 "GET past the ticket size inside the export"
request "${u[@]}" -H "Range: bytes=$(( odd_size - 4 ))-" "$img/$t_odd"
expect_status 206 "GET the last 4 bytes"
[ "$(cat "$resp_body")" = tail ] || fail "last 4 bytes: '$(cat "$resp_body")'"

# A Range header is ignored (start= and length= are not: see
# test-server-extents-range.sh).
get_extents "$img/$t_q/extents"
cp "$tmpdir/ext.json" "$tmpdir/ext-all.json"
get_extents -H "Range: bytes=0-4095" "$img/$t_q/extents"
cmp -s "$tmpdir/ext.json" "$tmpdir/ext-all.json" || fail "Range changed the extents"

# Dirty extents.
get_extents "$img/$t_d/extents?context=dirty"
check "$tmpdir/ext.json" $(( 4 * mib )) dirty $(( 2 * mib )) $(( 2 * mib + 131072 ))
get_extents "$img/$t_d/extents?context=zero"
check "$tmpdir/ext.json" $(( 4 * mib )) zero
# Not a dirty ticket: 404 with imageio's message.
request "${u[@]}" "$img/$t_q/extents?context=dirty"
expect_status 404 "context=dirty on a ticket without dirty"
expect_body "Ticket does not support dirty extents"
# A dirty ticket without a bitmap: 404 with imageio 2.5.3's words (seen by
# running it).
request "${u[@]}" "$img/$t_dn/extents?context=dirty"
expect_status 404 "context=dirty on a dirty ticket without a bitmap"
expect_body "Operation not supported: NBD export '' does not support dirty extents"
request "${u[@]}" "$img/$t_df/extents?context=dirty"
expect_status 404 "context=dirty on a dirty file ticket"
expect_body "Operation not supported: Backend file does not support dirty extents"
# ... and their zero extents still work.
get_extents "$img/$t_dn/extents"
# Another context: 400.
for c in bogus ZERO ""; do
  request "${u[@]}" "$img/$t_q/extents?context=$c"
  expect_status 400 "context=$c"
  [ "$(wc -l < "$resp_body")" = 1 ] || fail "context=$c: body not one line"
done

# Missing ticket: 403.
request "${u[@]}" "$img/$(random_ticket)/extents"
expect_status 403 "extents of a missing ticket"

# Log line: op=extents context=zero count=N.
n=$(jq length "$tmpdir/ext-all.json")
[ "$(count_log "method=GET ticket=${t_q:0:8}\.\.\. op=extents context=zero count=$n status=200")" -ge 1 ] ||
  fail "no extents log line with count=$n"
[ "$(count_log "op=extents context=dirty count=[0-9]+ status=200")" -ge 1 ] ||
  fail "no dirty extents log line"

stop_server
[ "$server_status" -eq 0 ] || fail "server exit status $server_status"
expect_log_redacted "$t_file" "$t_raw" "$t_q" "$t_top" "$t_odd" "$t_d" "$t_dn" "$t_df"
