#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The extents download rides out an outage (issue 17) as reads do: with
# 2 MiB windows, `nbdinfo --map` through the plugin while imageio-server
# restarts (every connection dropped, nothing answered for 1 s) or its
# backend restarts (the kept-alive extents connection answers 500 until
# it is closed) still equals qemu-nbd's map, with no error: the window
# that failed is fetched again on a new connection.  Before, one failure
# made the map "all data" for the rest of the run (zero elision lost).
# Past retry_timeout= the map falls back to data, loudly, which is safe.
source "$(dirname "$0")/functions.sh"
requires_cmd nbdkit nbdinfo qemu-nbd timeout

mib=1048576
size=$(( 64 * mib ))
img=$tmpdir/img.raw
truncate -s $size "$img"
# Data in every other MiB: 64 extents, several per 2 MiB window.
for i in $(seq 0 2 63); do
  dd if=/dev/urandom of="$img" bs=1M count=1 seek="$i" conv=notrunc status=none
done
start_qemu_nbd "$img" raw -r -e 16
nuri="nbd+unix:///?socket=$nbd_sock"
timeout 60 nbdinfo --map --json "$nuri" > "$tmpdir/base.json"
timeout 60 nbdinfo --map=qemu:allocation-depth --json "$nuri" > "$tmpdir/depth.json"

# run KIND MS RETRY_TIMEOUT: nbdinfo --map through the plugin, the fault
# at the 4th image request (the 4th window); the map into plugin.json, the
# log into nbdkit.log; sets st to nbdkit's exit status.
run ()
{
  local kind=$1 ms=$2 rt=$3 t
  t=$(random_ticket)
  make_ticket "$tmpdir/t.json" "$t" $size "nbd:unix:$nbd_sock" read
  start_server --tcp 127.0.0.1:0 --no-tls --ticket "$tmpdir/t.json" \
    --fault "$kind=4:$ms"
  st=0
  timeout 120 nbdkit -v -U - -r -D imageio.extents_window_mib=2 \
    "$IMAGEIO_PLUGIN" url="http://localhost:$server_port/images/$t" \
    retry_timeout="$rt" \
    --run "nbdinfo --map --json \"\$uri\" > '$tmpdir/plugin.json'" \
    2> "$tmpdir/nbdkit.log" || st=$?
  stop_server
  expect_log_redacted "$t"
}

for kind in restart backend-restart; do
  run "$kind" 1000 30
  [ "$st" -eq 0 ] || { tail -n 20 "$tmpdir/nbdkit.log" >&2; fail "$kind: nbdkit exited with $st"; }
  if grep -q 'error:' "$tmpdir/nbdkit.log"; then
    grep 'error:' "$tmpdir/nbdkit.log" >&2
    fail "$kind: the plugin logged an error"
  fi
  grep -q 'GET extents.*sending again' "$tmpdir/nbdkit.log" ||
    fail "$kind: the outage did not hit the extents download"
  echo -n "$kind, 1 s: " >&2
  /usr/bin/python3 "$SRCDIR/tests/data/compare-map.py" $size "$tmpdir" 02 64 >&2 ||
    fail "$kind: the map differs from qemu-nbd's after the outage"
done

# Past the window: one error, the rest of the map "data" (safe: a copy
# reads it all), never a hole or zero where the image has data.
run restart 3000 1
[ "$st" -eq 0 ] || fail "past the window: nbdkit exited with $st"
grep -q 'error: extents: .*reporting the whole image as data' "$tmpdir/nbdkit.log" ||
  { tail -n 20 "$tmpdir/nbdkit.log" >&2; fail "past the window: no error said the map fell back"; }
/usr/bin/python3 - "$tmpdir/plugin.json" "$tmpdir/base.json" <<'PY' ||
import json, sys
plugin = json.load(open(sys.argv[1]))
base = json.load(open(sys.argv[2]))
data = [(e["offset"], e["offset"] + e["length"]) for e in base
        if not e["type"] & 2]
for e in plugin:
    if e["type"] & 2:
        s, t = e["offset"], e["offset"] + e["length"]
        for a, b in data:
            if s < b and a < t:
                sys.exit("zero reported at %d-%d, data at %d-%d" % (s, t, a, b))
PY
  fail "past the window: the map reports zeroes over data"
echo "past the window: fell back to data, loudly" >&2
