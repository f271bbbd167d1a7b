#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The plugin run exactly as virt-v2v runs its Python plugin (its
# output_ovirt_upload.ml and lib/nbdkit.ml): one nbdkit per disk with
#   nbdkit --exit-with-parent --foreground --pidfile F --unix S --threads 8
#     -D nbdkit.backend.datapath=0 imageio size=N url=U cafile=C insecure=true
#     [is_ovirt_host=true]
# LANG=C, waiting at most 30 s for the pidfile, copying with
#   nbdcopy SRC nbd+unix:///?socket=S --request-size=4194304 --requests=16 --flush
# then SIGTERM.  Disk 0 goes over HTTPS to a raw file; disk 1 gets the keys
# of both disks on its command line, as virt-v2v passes them (the last
# value of each key wins), goes through the server's abstract Unix socket
# (is_ovirt_host) to qemu-nbd serving a qcow2.  Each target is compared
# with its source.
source "$(dirname "$0")/functions.sh"
requires_cmd nbdkit nbdcopy qemu-img qemu-nbd timeout

export LANG=C
size0=$(( 24 * 1024 * 1024 )) size1=$(( 40 * 1024 * 1024 ))
bash "$SRCDIR/tests/data/make-pattern.sh" raw "$tmpdir/src0.raw" $size0 20 11
bash "$SRCDIR/tests/data/make-pattern.sh" raw "$tmpdir/src1.raw" $size1 30 12
truncate -s $size0 "$tmpdir/disk0.raw"
qemu-img create -q -f qcow2 "$tmpdir/disk1.qcow2" $size1
start_qemu_nbd "$tmpdir/disk1.qcow2" qcow2 -e 16
t0=$(random_ticket) t1=$(random_ticket)
make_ticket "$tmpdir/t0.json" "$t0" $size0 "file://$tmpdir/disk0.raw" read,write
make_ticket "$tmpdir/t1.json" "$t1" $size1 "nbd:unix:$nbd_sock" read,write
make_cert "$tmpdir/pki"
start_server --tcp 127.0.0.1:0 --tls-cert "$tmpdir/pki/server.pem" \
  --tls-key "$tmpdir/pki/server-key.pem" --unix "@imageio-v2v-test-$$" \
  --ticket "$tmpdir/t0.json" --ticket "$tmpdir/t1.json"
u0=https://127.0.0.1:$server_port/images/$t0
u1=https://127.0.0.1:$server_port/images/$t1

# copy_disk N ARGS...: one nbdkit, as virt-v2v starts it, and one nbdcopy.
copy_disk ()
{
  local n=$1 i; shift
  local pidf=$tmpdir/nbdkit$n.pid sock=$tmpdir/out$n log=$tmpdir/nbdkit$n.log
  nbdkit --exit-with-parent --foreground --pidfile "$pidf" --unix "$sock" \
    --threads 8 -D nbdkit.backend.datapath=0 "$IMAGEIO_PLUGIN" "$@" \
    </dev/null >"$log" 2>&1 &
  local pid=$!
  cleanup_fn _kill_wait "$pid"
  # virt-v2v waits 30 s for the pidfile.
  for (( i = 0; i < 300; i++ )); do
    [ -s "$pidf" ] && break
    proc_running "$pid" || { cat "$log" >&2; fail "disk $n: nbdkit exited"; }
    sleep 0.1
  done
  [ -s "$pidf" ] || fail "disk $n: no pidfile within 30 s"
  timeout 120 nbdcopy "$tmpdir/src$n.raw" "nbd+unix:///?socket=$sock" \
    --request-size=4194304 --requests=16 --flush ||
    { cat "$log" >&2; fail "disk $n: nbdcopy failed"; }
  kill -TERM "$pid"
  for (( i = 0; i < 300; i++ )); do
    proc_running "$pid" || break
    sleep 0.1
  done
  proc_running "$pid" && fail "disk $n: nbdkit still running 30 s after SIGTERM"
  wait "$pid" || { cat "$log" >&2; fail "disk $n: nbdkit exit status $?"; }
  ! grep -q 'error' "$log" || { cat "$log" >&2; fail "disk $n: nbdkit logged an error"; }
  grep -q 'transfer summary: .*wrote [1-9]' "$log" ||
    { cat "$log" >&2; fail "disk $n: no transfer summary"; }
}

copy_disk 0 size=$size0 url="$u0" cafile="$tmpdir/pki/ca.pem" insecure=true
copy_disk 1 size=$size0 url="$u0" cafile="$tmpdir/pki/ca.pem" insecure=true \
  size=$size1 url="$u1" cafile="$tmpdir/pki/ca.pem" insecure=true is_ovirt_host=true

qemu-img compare -q -f raw -F raw "$tmpdir/src0.raw" "$tmpdir/disk0.raw" ||
  fail "disk 0 differs from its source"
qemu-img compare -q -U -f raw -F qcow2 "$tmpdir/src1.raw" "$tmpdir/disk1.qcow2" ||
  fail "disk 1 differs from its source"
[ "$(count_log 'open transport=unix')" -ge 1 ] || fail "disk 1 did not use the Unix socket"
expect_log_redacted "$t0" "$t1"
