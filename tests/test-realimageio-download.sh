#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Downloads through the plugin from the real ovirt-imageio daemon, on
# download (read-only) tickets as oVirt makes them: qemu-img convert and
# nbdcopy (virt-v2v's request size and queue depth), from raw and qcow2
# images behind qemu-nbd and from a file backend, over HTTPS and the local
# socket.  Each local target is first filled with a pattern, so that a
# zero range the copy skipped shows in qemu-img compare.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/realimageio-functions.sh"
requires_cmd nbdkit nbdcopy qemu-img qemu-io qemu-nbd jq timeout
realimageio_require

export LANG=C
size=$(( 64 * 1048576 ))
mkpat="$SRCDIR/tests/data/make-pattern.sh"
bash "$mkpat" raw "$tmpdir/s-raw.raw" $size 60 41
bash "$mkpat" qcow2 "$tmpdir/s-qcow2.qcow2" $size 60 42
bash "$mkpat" raw "$tmpdir/s-file.raw" $size 60 43
start_imageio

declare -A tickets fmts
for kind in raw qcow2 file; do
  fmt=raw; [ $kind = qcow2 ] && fmt=qcow2
  fmts[$kind]=$fmt
  src=$tmpdir/s-$kind.$fmt
  if [ $kind = file ]; then
    url="file://$src"
  else
    start_imageio_qemu_nbd "$src" $fmt --read-only
    url="nbd:unix:$nbd_sock"
  fi
  tickets[$kind]=$(random_ticket)
  make_ticket "$tmpdir/t-$kind.json" "${tickets[$kind]}" $size "$url" read \
    '"sparse": true, "dirty": false, "inactivity_timeout": 60'
  imageio_ticket "$tmpdir/t-$kind.json"
done

# new_target FILE: SIZE bytes of 0xa5, not sparse.
new_target ()
{
  rm -f "$1"
  qemu-img create -q -f raw "$1" $size
  qemu-io -f raw -c "write -P 0xa5 0 $size" "$1" >/dev/null
}

finish ()
{
  local st=0
  stop_nbdkit "$nbdkit_pid" || st=$?
  [ "$st" -eq 0 ] || { cat "$nbdkit_log" >&2; fail "$1: nbdkit exit status $st"; }
  ! grep -q -E ': error: ' "$nbdkit_log" || { cat "$nbdkit_log" >&2; fail "$1: nbdkit logged an error"; }
}

for kind in raw qcow2 file; do
  src=$tmpdir/s-$kind.${fmts[$kind]}
  for via in https local; do
    args=()
    [ $via = local ] && args+=(is_ovirt_host=true)

    name=qi-$kind-$via
    new_target "$tmpdir/$name.raw"
    start_plugin "${tickets[$kind]}" "${args[@]}"
    timeout 120 qemu-img convert -n -f raw -O raw "$nbdkit_uri" "$tmpdir/$name.raw" ||
      { cat "$nbdkit_log" >&2; fail "$name: qemu-img convert failed"; }
    finish $name
    qemu-img compare -q -U -f ${fmts[$kind]} -F raw "$src" "$tmpdir/$name.raw" ||
      fail "$name: the download differs from the image"

    name=nc-$kind-$via
    new_target "$tmpdir/$name.raw"
    start_plugin "${tickets[$kind]}" -D nbdkit.backend.datapath=0 insecure=true "${args[@]}"
    timeout 120 nbdcopy "$nbdkit_uri" "$tmpdir/$name.raw" \
      --request-size=4194304 --requests=16 ||
      { cat "$nbdkit_log" >&2; fail "$name: nbdcopy failed"; }
    if [ $via = local ]; then
      grep -q -F "is_ovirt_host: using the server's Unix socket $imageio_local" "$nbdkit_log" ||
        { cat "$nbdkit_log" >&2; fail "$name: the plugin did not use the local socket"; }
    fi
    finish $name
    qemu-img compare -q -U -f ${fmts[$kind]} -F raw "$src" "$tmpdir/$name.raw" ||
      fail "$name: the download differs from the image"
    echo "$kind via $via: identical (qemu-img convert, nbdcopy)"
  done
done
expect_nbdkit_logs_redacted "${tickets[@]}"
