#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# FUA and flush reach the server: a FUA write is PUT ?flush=y, a plain one
# ?flush=n; NBD flush (and a client's disconnect without one) sends PATCH
# op=flush on exactly the connections that wrote without flushing since the
# last flush; zero with FUA is PATCH zero with flush true.  The data written
# is then checked.
source "$(dirname "$0")/functions.sh"
requires_cmd nbdkit nbdsh qemu-img qemu-nbd timeout

size=$(( 16 * 1024 * 1024 ))
qemu-img create -q -f qcow2 "$tmpdir/disk.qcow2" $size
# -e 16: the server opens an NBD connection per HTTP connection (qemu-nbd allows 1 by default).
start_qemu_nbd "$tmpdir/disk.qcow2" qcow2 -e 16
t=$(random_ticket)
make_ticket "$tmpdir/t.json" "$t" $size "nbd:unix:$nbd_sock" read,write
start_server --tcp 127.0.0.1:0 --no-tls --ticket "$tmpdir/t.json"
start_nbdkit "$IMAGEIO_PLUGIN" url="http://127.0.0.1:$server_port/images/$t" connections=4

# What the disk must hold, kept in step with every write below.
truncate -s $size "$tmpdir/want"
want_write () # FILE OFFSET
{
  dd if="$1" of="$tmpdir/want" bs=64K seek="$2" oflag=seek_bytes conv=notrunc status=none
}
want_zero () # OFFSET LENGTH
{
  dd if=/dev/zero of="$tmpdir/want" bs="$2" count=1 seek="$1" oflag=seek_bytes \
    conv=notrunc status=none
}

export d1="$tmpdir/d1" d2="$tmpdir/d2" d4m="$tmpdir/d4m"
random_file "$d1" 65536
random_file "$d2" 65536
random_file "$d4m" $(( 4 * 1024 * 1024 ))

nbdsh_c ()
{
  timeout 60 nbdsh -u "$uri" -c "import os
$1" || fail "nbdsh failed: $1"
}

# Number of lines in the server log now.
mark ()
{
  wc -l < "$server_log"
}

# Prints the sorted conn ids of lines after line MARK matching ERE.
conns_after ()
{
  tail -n +"$(( $1 + 1 ))" "$server_log" | { grep -E -- "$2" || true; } |
    { grep -o -E 'conn=[0-9]+' || true; } | sort -u | paste -sd' ' -
}

# After a flush: the connections that got PATCH op=flush since MARK are
# exactly those that wrote or zeroed with flush=n since MARK.
check_flush_sets ()
{
  local m=$1 w f i
  # The server logs a request just after answering it: poll (5 s at most).
  for (( i = 0; i < 100; i++ )); do
    w=$(conns_after "$m" ' op=(write|zero) .*flush=n status=2')
    f=$(conns_after "$m" ' op=flush status=200')
    [ -n "$w" ] && [ "$f" = "$w" ] && break
    sleep 0.05
  done
  [ -n "$w" ] || fail "no flush=n write since line $m"
  [ "$f" = "$w" ] || fail "flushed connections '$f', wrote with flush=n on '$w'"
  [ "$(tail -n +"$(( m + 1 ))" "$server_log" | grep -c ' op=flush ')" -eq "$(wc -w <<<"$w")" ] ||
    fail "more than one flush per connection"
  echo "flush on: $f"
}

# 1. FUA write: PUT ?flush=y.
nbdsh_c 'h.pwrite(open(os.environ["d1"], "rb").read(), 0, nbd.CMD_FLAG_FUA)'
want_write "$d1" 0
wait_for_log 'method=PUT ticket=.* op=write offset=0 length=65536 flush=y status=200' 5
[ "$(count_log ' op=write offset=0 length=65536 flush=n')" -eq 0 ] || fail "FUA write sent with flush=n"

# 2. Plain write: PUT ?flush=n, no flush while the client is connected
# and has not asked; then flush.
m=$(mark)
export server_log m
nbdsh_c 'h.pwrite(open(os.environ["d2"], "rb").read(), 1048576)
lines = open(os.environ["server_log"]).read().splitlines()[int(os.environ["m"]):]
assert not [l for l in lines if " op=flush " in l], "a flush was sent before the client asked"
h.flush()'
want_write "$d2" 1048576
wait_for_log 'method=PUT ticket=.* op=write offset=1048576 length=65536 flush=n status=200' 5
check_flush_sets "$m"

# 2b. A client that disconnects without flushing: the plugin flushes at
# close, on exactly the connection that wrote.
m=$(mark)
nbdsh_c 'h.pwrite(open(os.environ["d2"], "rb").read(), 2097152)'
want_write "$d2" 2097152
check_flush_sets "$m"

# 3. Sixteen writes at once, spread over the pool; then one flush.
m=$(mark)
nbdsh_c '
data = open(os.environ["d4m"], "rb").read()
bs = 256 * 1024
for i in range(len(data) // bs):
    h.aio_pwrite(nbd.Buffer.from_bytearray(bytearray(data[i*bs:(i+1)*bs])), 4194304 + i*bs)
while h.aio_in_flight() > 0:
    h.poll(-1)
h.flush()
'
want_write "$d4m" 4194304
check_flush_sets "$m"

# 4. Zero with FUA: PATCH zero flush=y; without: flush=n, then flush.
m=$(mark)
nbdsh_c 'h.zero(65536, 0, nbd.CMD_FLAG_FUA)'
want_zero 0 65536
wait_for_log 'method=PATCH ticket=.* op=zero offset=0 length=65536 flush=y status=200' 5
m=$(mark)
nbdsh_c 'h.zero(32768, 1048576 + 16384)
h.flush()'
want_zero $(( 1048576 + 16384 )) 32768
wait_for_log 'method=PATCH ticket=.* op=zero offset=1064960 length=32768 flush=n status=200' 5
check_flush_sets "$m"

# The data, through the plugin and on the disk.
export want="$tmpdir/want"
nbdsh_c '
got = h.pread(h.get_size(), 0)
assert got == open(os.environ["want"], "rb").read(), "read back differs"
'
stop_nbdkit "$nbdkit_pid" || fail "nbdkit exit status $?"
qemu-img compare -U -f raw -F qcow2 "$tmpdir/want" "$tmpdir/disk.qcow2" ||
  fail "the disk differs from what was written"
expect_log_redacted "$t"
