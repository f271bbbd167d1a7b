#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Zero elision.  (a)/(b) nbdcopy uploads an image with about 10% data to an
# empty qcow2 target (as virt-v2v does, without --target-is-zero, so every
# zero region becomes zero requests): with zero_elision=true far fewer
# PATCH op=zero reach the server than with zero_elision=false, and both
# targets equal the source.  (c) One nbdsh session: once the map is known,
# a zero over a hole or a zero range sends nothing, a zero over data sends
# one PATCH, the same zero again sends nothing, and the range reads back
# as zeroes.
source "$(dirname "$0")/functions.sh"
requires_cmd nbdkit nbdcopy nbdinfo nbdsh qemu-img qemu-io qemu-nbd jq fallocate timeout

mib=1048576

# True when every connection opened in the server log is closed.
all_closed ()
{
  [ "$(count_log ' open transport=')" -eq "$(count_log 'conn=[0-9]+ close$')" ]
}

# Serves a new empty qcow2 target $1 of size $2 with qemu-nbd and a server;
# sets url.
serve_target ()
{
  qemu-img create -q -f qcow2 "$1" "$2"
  start_qemu_nbd "$1" qcow2
  t=$(random_ticket)
  make_ticket "$tmpdir/t.json" "$t" "$2" "nbd:unix:$nbd_sock" read,write
  start_server --tcp 127.0.0.1:0 --no-tls --ticket "$tmpdir/t.json"
  url=http://127.0.0.1:$server_port/images/$t
}

# ---- (a), (b): nbdcopy upload ----------------------------------------------

size=$(( 128 * mib ))
src=$tmpdir/src.img
bash "$SRCDIR/tests/data/make-pattern.sh" raw "$src" $size 32 61
data=$(qemu-img map --output=json -f raw "$src" | jq '[.[] | select(.data) | .length] | add')
echo "source $size bytes, data $data bytes"
[ "$data" -gt $(( size / 20 )) ] && [ "$data" -lt $(( size / 5 )) ] ||
  fail "the source has $data bytes of data, wanted about 10%"

declare -A zeros
export src
for elision in true false; do
  dst=$tmpdir/dst-$elision.qcow2
  serve_target "$dst" $size
  # With elision, the map is loaded first (nbdinfo --map), so that what is
  # elided does not depend on how fast the background fetch that the first
  # zero starts wins its race with the copy on a loaded machine.
  preload=
  [ $elision = false ] || preload='nbdinfo --map "$uri" > /dev/null && '
  # Fixed 1 GiB windows: one GET for this image, which this test counts.
  timeout 120 nbdkit -U - -D imageio.extents_window_mib=1024 "$IMAGEIO_PLUGIN" \
    url="$url" zero_elision=$elision --run "$preload"'nbdcopy -- "$src" "$uri"' 2> "$tmpdir/nbdkit-$elision.log" ||
    { cat "$tmpdir/nbdkit-$elision.log" >&2; fail "zero_elision=$elision: nbdcopy failed"; }
  if grep -q -i error "$tmpdir/nbdkit-$elision.log"; then
    cat "$tmpdir/nbdkit-$elision.log" >&2
    fail "zero_elision=$elision: nbdkit logged an error"
  fi
  wait_until 10 all_closed
  zeros[$elision]=$(count_log 'method=PATCH .* op=zero .*status=200')
  writes=$(count_log 'method=PUT .* op=write .*status=200')
  gets=$(count_log ' op=extents ')
  echo "zero_elision=$elision: ${zeros[$elision]} PATCH op=zero, $writes PUT, $gets GET extents"
  [ "$(count_log 'status=[45]')" -eq 0 ] || fail "zero_elision=$elision: failed requests"
  if [ $elision = true ]; then
    [ "$gets" -eq 1 ] || fail "zero_elision=true: $gets GET extents, expected 1"
  else
    [ "$gets" -eq 0 ] || fail "zero_elision=false: $gets GET extents, expected none"
  fi
  expect_log_redacted "$t"
  stop_server
  qemu-img compare -U -f raw -F qcow2 "$src" "$dst" ||
    fail "zero_elision=$elision: the target differs from the source"
done
[ "${zeros[false]}" -ge 20 ] ||
  fail "zero_elision=false sent only ${zeros[false]} zeroes: the test shows nothing"
[ $(( zeros[true] * 4 )) -le "${zeros[false]}" ] ||
  fail "zero_elision=true sent ${zeros[true]} zeroes, not far fewer than ${zeros[false]}"

# ---- (c): one request at a time ---------------------------------------------

size=$(( 16 * mib ))
dst=$tmpdir/dst-c.qcow2
serve_target "$dst" $size
# Data at 1 MiB .. 2 MiB and 8 MiB .. 9 MiB, zeroes at 4 MiB, written
# through qemu-nbd (which holds the image).
timeout 30 /usr/bin/python3 -m nbd -u "nbd+unix:///?socket=$nbd_sock" -c '
h.pwrite(b"\x31" * 1048576, 1048576)
h.pwrite(b"\x32" * 1048576, 8388608)
h.zero(65536, 4194304)
h.flush()' || fail "preparing the target failed"

cat > "$tmpdir/c.py" <<'EOF'
mib = 1 << 20
# Load the map.
h.block_status(h.get_size(), 0, lambda *a: 0)
h.zero(mib, 12 * mib)                   # a hole: not sent
h.zero(65536, 4 * mib)                  # a zero cluster: not sent
h.zero(128 * 1024, mib + 65536)         # data: sent
h.zero(128 * 1024, mib + 65536)         # now zero: not sent
h.zero(mib + 512 * 1024, 7 * mib)       # 7 .. 8.5 MiB, hole then data: sent
h.zero(mib, 7 * mib)                    # 7 .. 8 MiB, all zero: not sent
assert h.pread(128 * 1024, mib + 65536) == bytes(128 * 1024), "zeroed data reads back"
assert h.pread(65536, mib) == b"\x31" * 65536, "data before the zero"
assert h.pread(mib - 192 * 1024, mib + 192 * 1024) == b"\x31" * (mib - 192 * 1024), \
    "data after the zero"
assert h.pread(2 * mib, 7 * mib) == bytes(3 << 19) + b"\x32" * (512 * 1024), "7 .. 9 MiB"
print("nbdsh steps ok")
EOF
timeout 60 nbdkit -U - "$IMAGEIO_PLUGIN" url="$url" \
  --run "/usr/bin/python3 -m nbd --base-allocation -u \"\$uri\" -c 'exec(open(\"$tmpdir/c.py\").read())'" \
  2> "$tmpdir/nbdkit-c.log" ||
  { cat "$tmpdir/nbdkit-c.log" >&2; fail "(c): nbdsh failed"; }
wait_until 10 all_closed
grep -E ' op=zero ' "$server_log" | sed 's/^/  /'
n=$(count_log ' op=zero ')
[ "$n" -eq 2 ] || fail "(c): $n PATCH op=zero, expected 2"
[ "$(count_log " op=zero offset=$(( mib + 65536 )) length=131072 .*status=200")" -eq 1 ] ||
  fail "(c): the zero over data was not sent exactly once"
[ "$(count_log " op=zero offset=$(( 7 * mib )) length=$(( mib + 512 * 1024 )) .*status=200")" -eq 1 ] ||
  fail "(c): the zero over hole and data was not sent"
expect_log_redacted "$t"
stop_server

# The disk: 0x31 at 1 MiB .. 2 MiB but 128 KiB zeroed at 1 MiB + 64 KiB,
# 0x32 at 8.5 MiB .. 9 MiB, zeroes elsewhere.
truncate -s $size "$tmpdir/want.raw"
qemu-io -f raw -c 'write -P 0x31 1M 1M' -c "write -z $(( mib + 65536 )) 128k" \
  -c "write -P 0x32 $(( 8 * mib + 512 * 1024 )) 512k" \
  "$tmpdir/want.raw" >/dev/null
qemu-img compare -U -f raw -F qcow2 "$tmpdir/want.raw" "$dst" ||
  fail "(c): the target differs from what was written"
