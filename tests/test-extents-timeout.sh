#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The extents download has its own deadline, extents_timeout=, separate from
# timeout= (the longest wait of any other request).  The server sleeps
# before answering GET extents (--fault extents-delay=MS), as a real daemon
# may for minutes on a big fragmented image:
#   - a delay longer than timeout= but shorter than extents_timeout= still
#     gives the real map (equal to qemu-nbd's), with no error;
#   - past extents_timeout= the block status answers at the deadline, not
#     when the server does, with the whole image as data and exactly one
#     error naming extents_timeout;
#   - a server that sends its document one byte every 100 ms (each wait
#     short, the whole endless) is cut at the deadline the same way;
#   - bad values are refused.
source "$(dirname "$0")/functions.sh"
requires_cmd nbdkit nbdinfo qemu-img qemu-io qemu-nbd timeout

mib=1048576
size=$(( 8 * mib ))
img=$tmpdir/disk.qcow2
qemu-img create -q -f qcow2 "$img" $size
qemu-io -f qcow2 -c 'write -P 1 0 1M' -c 'write -P 2 4M 1M' \
  -c 'write -z 6M 1M' "$img" >/dev/null
start_qemu_nbd "$img" qcow2 -r
t=$(random_ticket)
make_ticket "$tmpdir/t.json" "$t" $size "nbd:unix:$nbd_sock" read
url="http://127.0.0.1:PORT/images/$t"

# Merged runs [start, end, type] of an `nbdinfo --map --json` output.
map_runs ()
{
  /usr/bin/python3 -c '
import json, sys
out = []
for e in json.load(open(sys.argv[1])):
    s, n, t = e["offset"], e["length"], e["type"]
    if out and out[-1][2] == t and out[-1][1] == s:
        out[-1][1] = s + n
    else:
        out.append([s, s + n, t])
print(out)' "$1"
}
# What the image holds (data, hole, data, hole, an allocated zero, hole),
# checked against qemu-nbd: the zero bit from base:allocation, the hole bit
# where qemu:allocation-depth is 0 (see test-extents-map.sh).
want='[[0, 1048576, 0], [1048576, 4194304, 3], [4194304, 5242880, 0], [5242880, 6291456, 3], [6291456, 7340032, 2], [7340032, 8388608, 3]]'
nuri="nbd+unix:///?socket=$nbd_sock"
nbdinfo --map --json "$nuri" > "$tmpdir/base.json"
nbdinfo --map=qemu:allocation-depth --json "$nuri" > "$tmpdir/depth.json"
[ "$(map_runs "$tmpdir/base.json")" = \
  '[[0, 1048576, 0], [1048576, 4194304, 3], [4194304, 5242880, 0], [5242880, 8388608, 3]]' ] ||
  fail "qemu-nbd base:allocation: $(map_runs "$tmpdir/base.json")"
[ "$(map_runs "$tmpdir/depth.json")" = \
  '[[0, 1048576, 1], [1048576, 4194304, 0], [4194304, 5242880, 1], [5242880, 6291456, 0], [6291456, 7340032, 1], [7340032, 8388608, 0]]' ] ||
  fail "qemu-nbd qemu:allocation-depth: $(map_runs "$tmpdir/depth.json")"

# Runs nbdinfo --map through the plugin with ARGS; sets elapsed_ms and
# leaves the map in $tmpdir/plugin.json and the log in $tmpdir/nbdkit.log.
map_through_plugin ()
{
  local t0
  t0=$(_now_ms)
  timeout 120 nbdkit -U - -r "$IMAGEIO_PLUGIN" "$@" \
    --run "nbdinfo --map --json \"\$uri\" > $tmpdir/plugin.json" \
    2> "$tmpdir/nbdkit.log" ||
    { cat "$tmpdir/nbdkit.log" >&2; fail "nbdinfo --map through the plugin failed ($*)"; }
  elapsed_ms=$(( $(_now_ms) - t0 ))
}

# 1. Delay 3 s > timeout=1, < extents_timeout=30: the real map.
start_server --tcp 127.0.0.1:0 --no-tls --ticket "$tmpdir/t.json" \
  --fault extents-delay=3000
map_through_plugin url="${url/PORT/$server_port}" timeout=1 extents_timeout=30
if grep -q -i error "$tmpdir/nbdkit.log"; then
  cat "$tmpdir/nbdkit.log" >&2
  fail "nbdkit logged an error with a delay shorter than extents_timeout"
fi
got=$(map_runs "$tmpdir/plugin.json")
[ "$got" = "$want" ] || fail "map after a 3 s delay: got $got, want $want"
[ "$elapsed_ms" -ge 2500 ] || fail "the map came in $elapsed_ms ms, the delay is 3000"
echo "delay 3 s, timeout=1, extents_timeout=30: real map in $elapsed_ms ms"
stop_server

# 2. Delay 6 s > extents_timeout=1: all data, answered at the deadline.
start_server --tcp 127.0.0.1:0 --no-tls --ticket "$tmpdir/t.json" \
  --fault extents-delay=6000
map_through_plugin url="${url/PORT/$server_port}" extents_timeout=1
cat "$tmpdir/nbdkit.log"
got=$(map_runs "$tmpdir/plugin.json")
[ "$got" = "[[0, $size, 0]]" ] || fail "map past the deadline: got $got, want all data"
[ "$elapsed_ms" -lt 4500 ] ||
  fail "block status answered after $elapsed_ms ms; extents_timeout=1, delay 6000"
n=$(grep -c 'error.*extents:.*within extents_timeout=1 seconds.*reporting the whole image as data' "$tmpdir/nbdkit.log" || true)
[ "$n" -eq 1 ] || fail "$n fallback messages, expected 1"
[ "$(grep -c -i error "$tmpdir/nbdkit.log")" -eq 1 ] || fail "more than one error logged"
grep -q "$t" "$tmpdir/nbdkit.log" && fail "the log holds the whole ticket id"
echo "delay 6 s, extents_timeout=1: all data in $elapsed_ms ms"
stop_server

# 3. A trickling document: a minimal imageio answering OPTIONS, the size
# probe and reads, and GET extents with a valid start, then one space every
# 100 ms of a 1 MiB Content-Length.
cat > "$tmpdir/trickle.py" <<'EOF'
import http.server, os, sys, time

SIZE = 1 << 20

class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body, headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_OPTIONS(self):
        self.answer(200, b'{"features": ["extents"], "max_readers": 8}\n',
                    [("Allow", "OPTIONS,GET")])

    def do_GET(self):
        if self.path.endswith("/extents"):
            head = b'[{"start": 0, "length": %d, "zero": true, "hole": true}' % SIZE
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(SIZE))
            self.end_headers()
            self.wfile.write(head)
            try:
                for _ in range(SIZE - len(head)):
                    self.wfile.flush()
                    time.sleep(0.1)
                    self.wfile.write(b" ")
            except OSError:
                pass
            return
        rng = self.headers.get("Range", "bytes=0-").split("=")[1]
        first, _, last = rng.partition("-")
        first, last = int(first), int(last) if last else SIZE - 1
        self.answer(206, bytes(last - first + 1),
                    [("Content-Range", "bytes %d-%d/%d" % (first, last, SIZE))])

srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
srv.daemon_threads = True
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
srv.serve_forever()
EOF
/usr/bin/python3 "$tmpdir/trickle.py" "$tmpdir/trickle.port" &
trickle_pid=$!
cleanup_fn _kill_wait "$trickle_pid"
wait_until 10 test -s "$tmpdir/trickle.port"
port=$(cat "$tmpdir/trickle.port")
map_through_plugin url="${url/PORT/$port}" timeout=1 extents_timeout=2
cat "$tmpdir/nbdkit.log"
got=$(map_runs "$tmpdir/plugin.json")
[ "$got" = "[[0, 1048576, 0]]" ] || fail "map of a trickled document: got $got, want all data"
[ "$elapsed_ms" -lt 5000 ] ||
  fail "block status answered after $elapsed_ms ms; extents_timeout=2"
n=$(grep -c 'error.*extents:.*within extents_timeout=2 seconds.*reporting the whole image as data' "$tmpdir/nbdkit.log" || true)
[ "$n" -eq 1 ] || fail "$n fallback messages for the trickled document, expected 1"
echo "trickled document, extents_timeout=2: all data in $elapsed_ms ms"

# 4. Bad values.
for v in 0 -1 abc 86401; do
  if nbdkit -U - -r "$IMAGEIO_PLUGIN" url=http://127.0.0.1:9/images/x \
       extents_timeout=$v --run true 2> "$tmpdir/bad.log"; then
    fail "extents_timeout=$v was accepted"
  fi
  grep -q 'extents_timeout' "$tmpdir/bad.log" ||
    { cat "$tmpdir/bad.log" >&2; fail "extents_timeout=$v: message does not name it"; }
done
nbdkit "$IMAGEIO_PLUGIN" --help | grep -q 'extents_timeout=' ||
  fail "--help does not list extents_timeout="
