#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The whole ticket id never appears in the server log: every endpoint, every
# kind of error, the control service, unknown tickets, TLS and Unix.  The
# redacted form (first 8 characters and "...") does.
source "$(dirname "$0")/functions.sh"
requires_cmd curl qemu-img qemu-nbd

size=1048576
truncate -s $size "$tmpdir/disk.img"
qemu-img create -q -f qcow2 "$tmpdir/q.qcow2" $size
start_qemu_nbd "$tmpdir/q.qcow2" qcow2
make_cert "$tmpdir/pki"
t=$(random_ticket) t_nbd=$(random_ticket) t_ctl=$(random_ticket)
t_missing=$(random_ticket) t_bad=$(random_ticket) t_exp=$(random_ticket)
make_ticket "$tmpdir/t.json" "$t" $size "file://$tmpdir/disk.img" read,write
make_ticket "$tmpdir/nbd.json" "$t_nbd" $size "nbd:unix:$nbd_sock" read,write
ctl=$tmpdir/control.sock
start_server --unix "$tmpdir/imageio.sock" --tcp 127.0.0.1:0 --tls-cert "$tmpdir/pki/server.pem" \
  --tls-key "$tmpdir/pki/server-key.pem" --control "$ctl" --ticket "$tmpdir/t.json" --ticket "$tmpdir/nbd.json"
u=(--unix-socket "$tmpdir/imageio.sock")
c=(--unix-socket "$ctl")
tls=(--cacert "$tmpdir/pki/ca.pem")

for tk in "$t" "$t_nbd" "$t_missing"; do
  for base in "http://localhost/images/$tk" "https://localhost:$server_port/images/$tk"; do
    if [[ $base == https* ]]; then a=("${tls[@]}"); else a=("${u[@]}"); fi
    request "${a[@]}" -X OPTIONS "$base"
    request "${a[@]}" -H "Range: bytes=0-4095" "$base"
    request "${a[@]}" -H "Range: bytes=$size-" "$base"
    request "${a[@]}" -H "Range: bytes=-5" "$base"
    request "${a[@]}" -X PUT --data-binary x "$base?flush=n"
    request "${a[@]}" -X PUT --data-binary x "$base?flush=x"
    request "${a[@]}" -X PUT -H "Content-Range: bytes $size-$size/*" --data-binary x "$base"
    request "${a[@]}" -X PATCH -H 'Content-Type: application/json' --data-binary '{"op": "zero", "size": 512}' "$base"
    request "${a[@]}" -X PATCH -H 'Content-Type: application/json' --data-binary '{"op": "flush"}' "$base"
    request "${a[@]}" -X PATCH -H 'Content-Type: application/json' --data-binary '{"op": "trim"}' "$base"
    request "${a[@]}" "$base/extents"
    request "${a[@]}" "$base/extents?context=dirty"
    request "${a[@]}" "$base/extents?context=x"
    request "${a[@]}" "$base/nothing"
    request "${a[@]}" -X DELETE "$base"
  done
done
# The control service.
make_ticket "$tmpdir/ctl.json" "$t_ctl" $size "file://$tmpdir/disk.img" read
request "${c[@]}" -X PUT --data-binary @"$tmpdir/ctl.json" "http://localhost/tickets/$t_ctl"
request "${c[@]}" "http://localhost/tickets/$t_ctl"
request "${c[@]}" -X PATCH --data-binary '{"timeout": 100}' "http://localhost/tickets/$t_ctl"
request "${c[@]}" -X PATCH --data-binary '{"timeout": "x"}' "http://localhost/tickets/$t_ctl"
request "${c[@]}" -X DELETE "http://localhost/tickets/$t_ctl"
request "${c[@]}" "http://localhost/tickets/$t_ctl"
# An invalid ticket whose uuid differs from the path.
make_ticket "$tmpdir/bad.json" "$t_bad" $size "file://$tmpdir/disk.img" read
request "${c[@]}" -X PUT --data-binary @"$tmpdir/bad.json" "http://localhost/tickets/$t_missing"
# An expiring ticket.
make_ticket "$tmpdir/exp.json" "$t_exp" $size "file://$tmpdir/disk.img" read '"timeout": 1'
request "${c[@]}" -X PUT --data-binary @"$tmpdir/exp.json" "http://localhost/tickets/$t_exp"
request "${u[@]}" -X OPTIONS "http://localhost/images/$t_exp"
sleep 1.5
request "${u[@]}" -X OPTIONS "http://localhost/images/$t_exp"
expect_status 403 "expired ticket"

stop_server
[ "$server_status" -eq 0 ] || fail "server exit status $server_status"

expect_log_redacted "$t" "$t_nbd" "$t_ctl" "$t_missing" "$t_bad" "$t_exp"
# Not even 9 characters of a ticket, anywhere.
for tk in "$t" "$t_nbd" "$t_ctl" "$t_missing" "$t_bad" "$t_exp"; do
  ! grep -q -F -- "${tk:0:9}" "$server_log" || fail "more than 8 characters of a ticket logged"
  ! grep -q -F -- "${tk:8}" "$server_log" || fail "the tail of a ticket logged"
done
# The redacted form is there.
for tk in "$t" "$t_nbd" "$t_ctl"; do
  grep -q -F -- "${tk:0:8}..." "$server_log" || fail "redacted ticket ${tk:0:8}... not in the log"
done
