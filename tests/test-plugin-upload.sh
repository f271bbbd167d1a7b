#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Upload through the plugin with qemu-img convert: raw and qcow2 sources
# with data, allocated zeroes and holes, to the nbd backend (qemu-nbd
# serving a qcow2 target) and to the file backend, over TLS, plain HTTP, a
# Unix path socket and an abstract socket (is_ovirt_host=true).  Every
# target starts full of garbage, so zero regions must really be written.
source "$(dirname "$0")/functions.sh"
requires_cmd nbdkit qemu-img qemu-io qemu-nbd openssl timeout

size=$(( 32 * 1024 * 1024 ))

# Random data at several offsets (some not cluster aligned), allocated
# zeroes and holes, the last 64 KiB data.
make_source_raw ()
{
  local f=$1
  truncate -s "$size" "$f"
  dd if=/dev/urandom of="$f" bs=1M count=2 seek=0 conv=notrunc status=none
  dd if=/dev/urandom of="$f" bs=4096 count=3 seek=$(( 5 * 256 + 1 )) conv=notrunc status=none
  dd if=/dev/zero of="$f" bs=1M count=2 seek=8 conv=notrunc status=none
  dd if=/dev/urandom of="$f" bs=512 count=1 seek=$(( 12 * 2048 + 3 )) conv=notrunc status=none
  dd if=/dev/urandom of="$f" bs=1M count=3 seek=16 conv=notrunc status=none
  dd if=/dev/urandom of="$f" bs=64K count=1 seek=$(( size / 65536 - 1 )) conv=notrunc status=none
}

make_source_raw "$tmpdir/src.raw"
qemu-img convert -q -f raw -O qcow2 "$tmpdir/src.raw" "$tmpdir/src.qcow2"
# A zero cluster over data, and a data cluster in a hole.
qemu-io -f qcow2 -c 'write -z 16M 64k' -c 'write -P 0x3c 26M 64k' \
  "$tmpdir/src.qcow2" >/dev/null

make_cert "$tmpdir/pki"
tls=(--tls-cert "$tmpdir/pki/server.pem" --tls-key "$tmpdir/pki/server-key.pem")
abstract="@/org/ovirt/imageio-test-$$-$RANDOM"

# One case per line: NAME TRANSPORT BACKEND SOURCE_FORMAT.
cases=(
  "tls-nbd-raw      tls      nbd  raw"
  "tls-nbd-qcow2    tls      nbd  qcow2"
  "tls-file-qcow2   tls      file qcow2"
  "http-nbd-qcow2   http     nbd  qcow2"
  "http-file-raw    http     file raw"
  "unix-nbd-raw     unix     nbd  raw"
  "unix-file-qcow2  unix     file qcow2"
  "abs-nbd-qcow2    abstract nbd  qcow2"
  "abs-file-raw     abstract file raw"
)

declare -A ticket target target_fmt
tickets_tls=() tickets_http=()
for c in "${cases[@]}"; do
  read -r name transport backend fmt <<<"$c"
  t=$(random_ticket)
  ticket[$name]=$t
  if [ "$backend" = nbd ]; then
    target[$name]=$tmpdir/$name.qcow2
    target_fmt[$name]=qcow2
    qemu-img create -q -f qcow2 "${target[$name]}" $size
    qemu-io -f qcow2 -c "write -P 0xa5 0 $size" "${target[$name]}" >/dev/null
    # -e 16: the server opens an NBD connection per HTTP connection (qemu-nbd allows 1 by default).
    start_qemu_nbd "${target[$name]}" qcow2 -e 16
    make_ticket "$tmpdir/$name.json" "$t" $size "nbd:unix:$nbd_sock" read,write
  else
    target[$name]=$tmpdir/$name.raw
    target_fmt[$name]=raw
    head -c $size /dev/urandom > "${target[$name]}"
    make_ticket "$tmpdir/$name.json" "$t" $size "file://${target[$name]}" read,write
  fi
  case "$transport" in
    tls|unix) tickets_tls+=(--ticket "$tmpdir/$name.json") ;;
    *) tickets_http+=(--ticket "$tmpdir/$name.json") ;;
  esac
done

# Server A: HTTPS and a Unix path socket.  Server B: HTTP and an abstract
# socket.
start_server_unix --tcp 127.0.0.1:0 "${tls[@]}" "${tickets_tls[@]}"
log_a=$server_log port_a=$server_port
start_server --tcp 127.0.0.1:0 --no-tls --unix "$abstract" "${tickets_http[@]}"
log_b=$server_log port_b=$server_port

# Checks that every write and zero of ticket T in LOG went through a Unix
# connection, and that there was at least one.
check_unix_only ()
{
  local t=$1 log=$2 out
  out=$(awk -v t="ticket=${t:0:8}..." '
    / open transport=unix/ { match($0, /conn=[0-9]+/); unix[substr($0, RSTART, RLENGTH)] = 1 }
    index($0, t) && / op=(write|zero|flush) / {
      match($0, /conn=[0-9]+/)
      if (substr($0, RSTART, RLENGTH) in unix) u++; else o++
    }
    END { printf "%d %d\n", u, o }' "$log")
  read -r on_unix on_other <<<"$out"
  [ "$on_unix" -gt 0 ] || fail "no write went through the Unix socket (log $log)"
  [ "$on_other" -eq 0 ] || fail "$on_other writes did not go through the Unix socket"
}

for c in "${cases[@]}"; do
  read -r name transport backend fmt <<<"$c"
  t=${ticket[$name]}
  case "$transport" in
    tls) args=("url=https://127.0.0.1:$port_a/images/$t" "cafile=$tmpdir/pki/ca.pem") ;;
    unix) args=("url=https://localhost:$port_a/images/$t" "cafile=$tmpdir/pki/ca.pem"
                is_ovirt_host=true) ;;
    http) args=("url=http://127.0.0.1:$port_b/images/$t") ;;
    abstract) args=("url=http://localhost:$port_b/images/$t" is_ovirt_host=true) ;;
  esac
  export src=$tmpdir/src.$fmt src_fmt=$fmt
  echo "== $name: ${args[*]/$t/${t:0:8}...}"
  timeout 120 nbdkit -U - "$IMAGEIO_PLUGIN" "${args[@]}" \
    --run 'qemu-img convert -n -f "$src_fmt" -O raw "$src" "$uri"' \
    2>"$tmpdir/$name.nbdkit.log" ||
    { cat "$tmpdir/$name.nbdkit.log" >&2; fail "$name: upload failed"; }
  qemu-img compare -U -f "$fmt" -F "${target_fmt[$name]}" "$src" "${target[$name]}" ||
    fail "$name: target differs from the source"
  case "$transport" in
    unix) check_unix_only "$t" "$log_a" ;;
    abstract) check_unix_only "$t" "$log_b" ;;
  esac
  # The plugin never prints a whole ticket.
  ! grep -q -F -- "$t" "$tmpdir/$name.nbdkit.log" || fail "$name: whole ticket in nbdkit's log"
done

[ "$(count_log ' open transport=tls' "$log_a")" -gt 0 ] || fail "no TLS connection on server A"
[ "$(count_log ' open transport=unix' "$log_b")" -gt 0 ] || fail "no unix connection on server B"
stop_server
expect_log_redacted "${ticket[@]}"
