#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The README's main job, end to end on this machine: installs what is
# missing, builds, makes a sample qcow2 with data and zero regions, serves an
# empty qcow2 target through qemu-nbd and imageio-server (HTTPS, with a
# throw-away CA), uploads the sample through `nbdkit imageio` with qemu-img
# convert, downloads it back with nbdcopy, verifies both with qemu-img
# compare and prints the throughput.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

scripts/setup-deps.sh
scripts/build.sh build
server_bin=$top/build/server/imageio-server
plugin=$top/build/plugin/nbdkit-imageio-plugin.so
export PATH=/usr/sbin:/usr/bin:$PATH

work=$(mktemp -d /tmp/imageio-demo.XXXXXX)
pids=()
cleanup () {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# Waits (at most 10 s) for FILE to appear.
wait_for () {
  for _ in $(seq 100); do [ -s "$1" ] && return 0; sleep 0.1; done
  echo "demo: timed out waiting for $1" >&2; exit 1
}

size_mib=1024
echo "== Making a ${size_mib} MiB sample qcow2: 8 data regions of 32 MiB, the rest zero"
truncate -s ${size_mib}M "$work/sample.raw"
for i in 0 1 2 3 4 5 6 7; do
  dd if=/dev/urandom of="$work/sample.raw" bs=1M count=32 seek=$((i * 128)) \
     conv=notrunc status=none
done
qemu-img convert -f raw -O qcow2 "$work/sample.raw" "$work/sample.qcow2"
rm "$work/sample.raw"
qemu-img create -q -f qcow2 "$work/target.qcow2" ${size_mib}M

# qemu-nbd allows 8 clients, as in oVirt: the server opens one NBD
# connection per HTTP connection.
# The URL names the host, as oVirt's transfer URLs do (localhost, served on
# 127.0.0.1).
echo "== Starting qemu-nbd and imageio-server (HTTPS on localhost)"
qemu-nbd -t -e 8 -A -f qcow2 -k "$work/nbd.sock" --pid-file "$work/nbd.pid" \
  "$work/target.qcow2" & pids+=($!)
wait_for "$work/nbd.pid"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -days 1 -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
  -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
ticket=$(cat /proc/sys/kernel/random/uuid)
cat > "$work/ticket.json" <<JSON
{"uuid": "$ticket", "size": $((size_mib * 1024 * 1024)),
 "url": "nbd:unix:$work/nbd.sock", "ops": ["read", "write"], "timeout": 3600}
JSON
"$server_bin" --tcp 127.0.0.1:0 --tls-cert "$work/cert.pem" \
  --tls-key "$work/key.pem" --port-file "$work/port" \
  --pid-file "$work/server.pid" --nbd-root "$work" \
  --ticket "$work/ticket.json" \
  2>"$work/server.log" & pids+=($!)
wait_for "$work/server.pid"
url="https://localhost:$(cat "$work/port")/images/$ticket"

# Runs "$@" and prints MiB/s of the sample's data regions (256 MiB).
timed () {
  local start end
  start=$(date +%s.%N)
  "$@"
  end=$(date +%s.%N)
  awk -v s="$start" -v e="$end" \
    'BEGIN { printf "   %.2f s, %.0f MiB/s of data (256 MiB), %.0f MiB/s of image (1024 MiB)\n", e - s, 256 / (e - s), 1024 / (e - s) }'
}

echo "== Upload: qemu-img convert -p sample.qcow2 -> nbdkit imageio"
timed nbdkit -U - "$plugin" url="$url" cafile="$work/cert.pem" \
  --run 'qemu-img convert -p -n -f qcow2 -O raw '"$work/sample.qcow2"' "$uri"'

echo "== Download: nbdkit imageio -> nbdcopy --progress"
timed nbdkit -U - -r "$plugin" url="$url" cafile="$work/cert.pem" \
  --run 'nbdcopy --progress "$uri" '"$work/download.raw"

echo "== Verify"
qemu-img compare -q "$work/sample.qcow2" "$work/download.raw" &&
  echo "   download identical to the sample"
# Stop the server, then qemu-nbd, so the target image is closed.
kill "${pids[1]}"; wait "${pids[1]}" 2>/dev/null || true
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true
qemu-img compare -q "$work/sample.qcow2" "$work/target.qcow2" &&
  echo "   target image identical to the sample"
used_mib=$(du -m "$work/download.raw" | cut -f1)
echo "   download uses $used_mib MiB on disk (sparse)"
# Sparse only when the extent map worked (with a host name too).
[ "$used_mib" -lt $((size_mib / 2)) ] ||
  { echo "demo: the download is not sparse: the extent map failed" >&2; exit 1; }
echo "== Demo OK"
