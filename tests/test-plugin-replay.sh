#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Replay keeps the newest data.  Writes to the same range go out on
# different connections (four at a time, the pool spreads them), each
# round overwriting the range with new data; then the server fails a
# request (500, then a dropped connection).  The plugin sends its journal
# again in acknowledgement order: the range must hold the LAST round's
# data, never an earlier one, on the disk behind the server.
source "$(dirname "$0")/functions.sh"
requires_cmd nbdkit nbdsh qemu-img qemu-nbd timeout

size=$(( 16 * 1024 * 1024 ))
export want=$tmpdir/want server_log

# run NAME FAULT [MORE_FAULT [NBDKIT_ARGS...]]: one upload of 8 rounds,
# then a read that meets FAULT.
run ()
{
  local name=$1 fault=$2 more=${3:-}
  shift 3 || shift $#
  local -a extra=()
  [ -z "$more" ] || extra=(--fault "$more")
  local target=$tmpdir/$name.qcow2
  qemu-img create -q -f qcow2 "$target" $size
  start_qemu_nbd "$target" qcow2 -e 16
  t=$(random_ticket)
  make_ticket "$tmpdir/$name.json" "$t" $size "nbd:unix:$nbd_sock" read,write
  # Requests: OPTIONS, size GET, 8 rounds of 4 writes = 34; the 35th is
  # the read that fails.
  start_server --tcp 127.0.0.1:0 --no-tls --ticket "$tmpdir/$name.json" --fault "$fault" \
    "${extra[@]}"
  start_nbdkit "$@" "$IMAGEIO_PLUGIN" url="http://127.0.0.1:$server_port/images/$t" connections=4
  timeout 60 nbdsh -u "$uri" -c '
import os
R = 1048576            # the contested range
want = bytearray(h.get_size())
for rnd in range(8):
    bufs = []
    for k in range(4):
        off = R if k == 0 else (8 + rnd * 4 + k) * 262144
        d = bytes([rnd * 16 + k + 1]) * 65536
        want[off:off + 65536] = d
        bufs.append(h.aio_pwrite(nbd.Buffer.from_bytearray(bytearray(d)), off))
    while h.aio_in_flight() > 0:
        h.poll(-1)
    for c in bufs:
        assert h.aio_command_completed(c)
# This read meets the fault: the journal is sent again, then the read.
assert h.pread(65536, R) == bytes(want[R:R + 65536]), "read back differs"
h.flush()
assert h.pread(len(want), 0) == bytes(want), "image read back differs"
open(os.environ["want"], "wb").write(want)
' || { cat "$nbdkit_log" >&2; fail "$name: upload failed"; }
  stop_nbdkit "$nbdkit_pid" || fail "$name: nbdkit exit status $?"
  qemu-img compare -U -f raw -F qcow2 "$want" "$target" ||
    fail "$name: the disk does not hold the newest data"
  # The contested range was written on more than one connection, and
  # sent again (8 rounds + 8 resends).
  local conns puts
  conns=$(grep -E "op=write offset=1048576 length=65536 flush=n status=200" "$server_log" |
    grep -o -E 'conn=[0-9]+' | sort -u | wc -l)
  puts=$(count_log "op=write offset=1048576 length=65536 flush=n status=200")
  echo "$name: range written on $conns connections, $puts PUTs"
  [ "$conns" -ge 2 ] || fail "$name: all writes to the range went on one connection"
  [ "$puts" -eq 16 ] || {
    grep -E "offset=1048576 |status=5|close" "$server_log" >&2
    fail "$name: $puts PUTs to the range, expected 8 and 8 resent"
  }
  stop_server "$server_pid"
  summary=$(grep 'transfer summary' "$nbdkit_log")
}

run error500 error=35:500
run drop drop=35
# Checkpoints (issue 17): a flush after every entry resent
# (-D imageio.checkpoint=1: every byte), and a second 500 in the middle of
# the replay (request 46: the 6th entry resent): the replay resumes from
# the last checkpoint, not from the first entry, so far fewer than 2 x 32
# entries are resent, and later writes to the range still win.
run checkpoint error=35:500 error=46:500 -D imageio.checkpoint=1
echo "$summary"
resent=$(sed -n 's/.*(\([0-9]*\) writes resent, \([0-9]*\) checkpoint flushes).*/\1 \2/p' <<<"$summary")
read -r nresent ncp <<<"$resent"
[ "${ncp:-0}" -ge 30 ] || fail "checkpoint: ${ncp:-?} checkpoint flushes, expected one per entry"
[ "${nresent:-99}" -le 34 ] || fail "checkpoint: $nresent writes resent: the replay started over"
grep -q 'result: ok$' <<<"$summary" || fail "checkpoint: the summary does not say ok"
expect_log_redacted
