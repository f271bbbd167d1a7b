#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Partial extents (beyond imageio; its issue #83): GET
# /images/TICKET/extents?start=S&length=L answers the extents covering
# [S, S+L) only, the first and last clipped to it, and the nbd backend asks
# block status for that range only.  Checked against the whole list (itself
# checked against qemu-img map) for ranges that start and end inside
# extents, on extent edges, at 0 and at the end; start= alone runs to the
# end.  Bad values are 400 with one line, ranges past the image 416 with
# Content-Range; --fault extents-whole ignores the parameters (as imageio
# does).  OPTIONS reports size, sparse, dirty and transfer_id (imageio
# issue #67).
source "$(dirname "$0")/functions.sh"
requires_cmd curl jq qemu-img qemu-io qemu-nbd nbdkit

mib=1048576
size=$(( 8 * mib ))

# qcow2: data, holes, a zero cluster, data at the end.
q=$tmpdir/q.qcow2
qemu-img create -q -f qcow2 "$q" $size
qemu-io -f qcow2 -c 'write -P 1 0 64k' -c 'write -z 1M 64k' \
  -c 'write -P 2 2M 192k' -c 'write -P 3 3M 4k' -c 'write -P 4 5M 1M' \
  -c 'write -P 5 8128k 64k' "$q" >/dev/null
qemu-img map --output=json -f qcow2 "$q" > "$tmpdir/q.map"
start_qemu_nbd "$q" qcow2 -r; s_q=$nbd_sock

# A raw file behind nbdkit's log filter: the block status requests the
# server makes are logged.
raw=$tmpdir/raw.img
truncate -s $size "$raw"
for o in 0 3 40 100; do
  head -c 4096 /dev/urandom | dd of="$raw" bs=4096 seek=$(( o * 16 )) conv=notrunc status=none
done
nbdlog=$tmpdir/nbdkit-block-status.log
start_nbdkit --filter=log file "$raw" logfile="$nbdlog"
s_raw=${nbdkit_uri#nbd+unix:///?socket=}

t_q=$(random_ticket) t_raw=$(random_ticket) t_file=$(random_ticket)
make_ticket "$tmpdir/t_q.json" "$t_q" $size "nbd:unix:$s_q" read \
  '"transfer_id": "tx-range-1", "sparse": true'
make_ticket "$tmpdir/t_raw.json" "$t_raw" $size "nbd:unix:$s_raw" read
make_ticket "$tmpdir/t_file.json" "$t_file" $size "file://$raw" read,write
start_server_unix --nbd-root "$tmpdir" --file-root "$tmpdir" \
  --ticket "$tmpdir/t_q.json" --ticket "$tmpdir/t_raw.json" --ticket "$tmpdir/t_file.json"
u=(--unix-socket "$server_sock")
img=http://localhost/images

get ()
{
  request "${u[@]}" "$img/$1"
  expect_status 200 "GET $1"
}

# The whole list, checked against qemu.
get "$t_q/extents"
cp "$resp_body" "$tmpdir/whole.json"
/usr/bin/python3 "$SRCDIR/tests/data/extents-check.py" "$tmpdir/whole.json" $size zero "$tmpdir/q.map" ||
  fail "whole list differs from qemu-img map"

cat > "$tmpdir/clip.py" <<'PY'
import json, sys
whole = json.load(open(sys.argv[1]))
got = json.load(open(sys.argv[2]))
s, e = int(sys.argv[3]), int(sys.argv[4])
want = []
for x in whole:
    a, b = max(x["start"], s), min(x["start"] + x["length"], e)
    if a < b:
        y = dict(x)
        y["start"], y["length"] = a, b - a
        want.append(y)
if got != want:
    sys.exit("range %d-%d:\n  got  %s\n  want %s" % (s, e, got, want))
PY

# Ranges: inside one extent, across several with both ends inside
# extents, on edges, the first byte, the last byte, the whole image.
k=4096
ranges=("100 200" "$(( 65536 - 1 )) 2" "1000 $(( 3 * mib ))"
        "$(( 1 * mib )) 65536" "$(( 2 * mib + 5 )) $(( 3 * mib + 777 ))"
        "0 1" "$(( size - 1 )) 1" "0 $size" "$(( 3 * mib + 3 * k )) $(( 2 * mib ))"
        "$(( 8128 * 1024 - 1 )) 2")
for r in "${ranges[@]}"; do
  read -r s l <<<"$r"
  get "$t_q/extents?start=$s&length=$l"
  /usr/bin/python3 "$tmpdir/clip.py" "$tmpdir/whole.json" "$resp_body" $s $(( s + l )) ||
    fail "start=$s length=$l"
done
# Random ranges (seeded, bounded count).
RANDOM=12
for i in $(seq 1 40); do
  s=$(( (RANDOM * 32768 + RANDOM) % size ))
  l=$(( 1 + (RANDOM * 32768 + RANDOM) % (size - s) ))
  get "$t_q/extents?context=zero&start=$s&length=$l"
  /usr/bin/python3 "$tmpdir/clip.py" "$tmpdir/whole.json" "$resp_body" $s $(( s + l )) ||
    fail "random range $i: start=$s length=$l"
done
# start= alone runs to the end; length= alone starts at 0.
get "$t_q/extents?start=$(( 2 * mib + 1 ))"
/usr/bin/python3 "$tmpdir/clip.py" "$tmpdir/whole.json" "$resp_body" $(( 2 * mib + 1 )) $size ||
  fail "start= alone"
get "$t_q/extents?length=$(( mib + 10 ))"
/usr/bin/python3 "$tmpdir/clip.py" "$tmpdir/whole.json" "$resp_body" 0 $(( mib + 10 )) ||
  fail "length= alone"
# start=0 without length: the whole list, byte for byte.
get "$t_q/extents?start=0"
cmp -s "$resp_body" "$tmpdir/whole.json" || fail "start=0 differs from the whole list"
# The log says which range was described.
[ "$(count_log "op=extents context=zero count=[0-9]+ offset=100 length=200 status=200")" -ge 1 ] ||
  fail "no log line with the range"

# Bad values: 400, one line, saying which.
for q in start=abc start=-1 start= start=1.5 "start=1e3" length=0 length=x length=-5 \
         "start=99999999999999999999999"; do
  request "${u[@]}" "$img/$t_q/extents?$q"
  expect_status 400 "$q"
  [ "$(wc -l < "$resp_body")" = 1 ] || fail "$q: body not one line"
  grep -q "^Invalid ${q%%=*}: " "$resp_body" || fail "$q: body '$(cat "$resp_body")'"
done
# Past the image: 416 with Content-Range.
for q in "start=$size" "start=$(( size + 1 ))" "start=$(( size - 1 ))&length=2" \
         "length=$(( size + 1 ))" "start=18446744073709551615&length=1"; do
  request "${u[@]}" "$img/$t_q/extents?$q"
  expect_status 416 "$q"
  [ "$(header content-range)" = "bytes */$size" ] || fail "$q: Content-Range '$(header content-range)'"
done

# The nbd backend asks block status for the range only.
: > "$nbdlog.mark"
from=$(( $(wc -l < "$nbdlog") + 1 ))
get "$t_raw/extents?start=$(( 3 * mib + 100 ))&length=$(( mib ))"
/usr/bin/python3 - "$nbdlog" "$from" $(( 3 * mib + 100 )) $(( 4 * mib + 100 )) <<'PY' ||
import re, sys
lines = open(sys.argv[1]).read().splitlines()[int(sys.argv[2]) - 1:]
s, e = int(sys.argv[3]), int(sys.argv[4])
asked = [(int(m.group(1), 16), int(m.group(2), 16)) for m in
         (re.search(r" Extents id=\d+ offset=(0x[0-9a-f]+) count=(0x[0-9a-f]+)", l) for l in lines) if m]
if not asked:
    sys.exit("no block status request logged")
for o, c in asked:
    if o < s or o + c > e:
        sys.exit("block status %d+%d outside %d-%d" % (o, c, s, e))
print("block status requests: %s" % asked)
PY
  fail "the nbd backend asked outside the range"
get "$t_raw/extents"
/usr/bin/python3 - "$resp_body" <<'PY' || fail "raw whole list"
import json, sys
d = json.load(open(sys.argv[1]))
assert d[0]["start"] == 0 and sum(x["length"] for x in d) == 8 << 20, d
PY

# File backend: one data extent, clipped to the range.
get "$t_file/extents?start=5&length=10"
[ "$(jq -c . "$resp_body")" = '[{"start":5,"length":10,"zero":false,"hole":false}]' ] ||
  fail "file backend range: $(cat "$resp_body")"

# OPTIONS: the image facts.
request "${u[@]}" -X OPTIONS "$img/$t_q"
expect_status 200 "OPTIONS"
jq -e --argjson s $size '.size == $s and .sparse == true and .dirty == false
  and .transfer_id == "tx-range-1" and (has("minimum_block_size") | not)' "$resp_body" >/dev/null ||
  fail "OPTIONS facts (nbd): $(cat "$resp_body")"
request "${u[@]}" -X OPTIONS "$img/$t_file"
jq -e --argjson s $size '.size == $s and .sparse == false and .minimum_block_size == 1
  and (has("transfer_id") | not)' "$resp_body" >/dev/null ||
  fail "OPTIONS facts (file): $(cat "$resp_body")"
request "${u[@]}" -X OPTIONS "$img/*"
jq -e 'has("size") | not' "$resp_body" >/dev/null || fail "OPTIONS * has a size: $(cat "$resp_body")"
stop_server
[ "$server_status" -eq 0 ] || fail "server exit status $server_status"

# --fault extents-whole: the parameters are ignored, the whole list comes
# back (what real imageio does).
start_server_unix --nbd-root "$tmpdir" --ticket "$tmpdir/t_q.json" --fault extents-whole
u=(--unix-socket "$server_sock")
get "$t_q/extents?start=100&length=200"
cmp -s "$resp_body" "$tmpdir/whole.json" || fail "extents-whole: not the whole list"
get "$t_q/extents?start=abc"
stop_server
[ "$server_status" -eq 0 ] || fail "server exit status $server_status"
expect_log_redacted "$t_q" "$t_raw" "$t_file"
