#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# --put-memory bounds what all PUT buffers take together.  8 clients each
# PUT 16 MiB and keep their connection open until all 8 are answered (a
# connection keeps its buffer until it closes), so the 8 buffers of 4 MiB
# are held at once however the uploads are scheduled: under the default
# budget the server reports 8 buffers at most at once and its peak memory
# grows by them; under --put-memory 4 it reports 1 (the others write
# through).  Every byte arrives either way.
source "$(dirname "$0")/functions.sh"
requires_cmd cmp /usr/bin/python3

size=$(( 16 * 1024 * 1024 )) n=8
for i in $(seq $n); do random_file "$tmpdir/src$i" $size; done

# Uploads the 8 sources into 8 images with server ARGS; sets peak to the
# server's peak RSS in KiB and held to the most KiB its PUT buffers held
# at once.  (Not run in a $(...) subshell: there start_server's counter
# would not advance, and the second server would reuse the first one's
# pid file and be taken as ready too early.)
run ()
{
  local i
  for i in $(seq $n); do
    truncate -s $size "$tmpdir/img$i"
    random_ticket > "$tmpdir/id$i"
    make_ticket "$tmpdir/t$i.json" "$(cat "$tmpdir/id$i")" $size "file://$tmpdir/img$i" read,write
  done
  start_server_unix $(for i in $(seq $n); do echo --ticket "$tmpdir/t$i.json"; done) "$@"
  timeout 120 /usr/bin/python3 - "$server_sock" "$tmpdir" $n <<'PY' || fail "the uploads failed ($*)"
import socket, sys
path, tmp, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
socks = []
for i in range(1, n + 1):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(60)
    s.connect(path)
    ticket = open("%s/id%d" % (tmp, i)).read().strip()
    body = open("%s/src%d" % (tmp, i), "rb").read()
    s.sendall(b"PUT /images/%s?flush=n HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
              % (ticket.encode(), len(body)) + body)
    head = b""
    while b"\r\n\r\n" not in head:
        d = s.recv(4096)
        if not d:
            sys.exit("upload %d: connection closed" % i)
        head += d
    status = head.split(b" ", 2)[1]
    if status != b"200":
        sys.exit("upload %d: status %s" % (i, status.decode()))
    socks.append(s)  # kept open: its connection keeps its buffer
for s in socks:
    s.close()
PY
  for i in $(seq $n); do
    cmp -s "$tmpdir/src$i" "$tmpdir/img$i" || fail "upload $i: wrong data ($*)"
  done
  peak=$(awk '/^VmHWM:/ { print $2 }' "/proc/$server_pid/status")
  stop_server
  [ "$server_status" -eq 0 ] || fail "server exit status $server_status"
  held=$(sed -n -E 's/.*PUT buffers: at most ([0-9]+) KiB of the [0-9]+ KiB budget at once$/\1/p' "$server_log")
  [ -n "$held" ] || fail "the server did not report its PUT buffers ($*)"
}

run --put-memory 4
small=$peak small_held=$held
run
big=$peak big_held=$held
echo "PUT buffers held at once: --put-memory 4: $small_held KiB, default: $big_held KiB" >&2
echo "peak RSS: --put-memory 4: $small KiB, default: $big KiB" >&2
[ "$small_held" -eq 4096 ] || fail "--put-memory 4: $small_held KiB of buffers at once, expected one 4 MiB buffer"
[ "$big_held" -eq $(( n * 4096 )) ] || fail "default budget: $big_held KiB of buffers at once, expected $n of 4 MiB"
# The 7 more buffers the default budget allows show in the server's
# memory (28 MiB; 8 MiB asked, for the noise of a loaded machine).
[ $(( big - small )) -ge $(( 8 * 1024 )) ] ||
  fail "peak RSS $small KiB with --put-memory 4 vs $big KiB by default: the buffers do not show"
