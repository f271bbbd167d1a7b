#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The export size: learned from the server (the ticket size, from OPTIONS:
# no probe) without size=;
# a smaller size= is used as given and works; a larger one stops nbdkit at
# start-up with a message.
source "$(dirname "$0")/functions.sh"
requires_cmd nbdkit nbdinfo nbdcopy timeout

# The ticket allows less than the file holds, and not a power of two.
file_size=$(( 16 * 1024 * 1024 ))
tsize=$(( 12 * 1024 * 1024 + 4096 ))
head -c $file_size /dev/urandom > "$tmpdir/disk.raw"
t=$(random_ticket)
make_ticket "$tmpdir/t.json" "$t" $tsize "file://$tmpdir/disk.raw" read,write
start_server --tcp 127.0.0.1:0 --no-tls --ticket "$tmpdir/t.json"
url=http://127.0.0.1:$server_port/images/$t

got=$(timeout 30 nbdkit -U - "$IMAGEIO_PLUGIN" url="$url" --run 'nbdinfo --size "$uri"') ||
  fail "nbdinfo --size failed"
[ "$got" = "$tsize" ] || fail "size without size=: $got, expected the ticket size $tsize"
# Our server reports the size in OPTIONS: no one-byte GET to probe it.
[ "$(count_log 'method=GET .*op=read offset=0 length=1 ')" -eq 0 ] ||
  fail "the size was probed although OPTIONS reported it"

small=$(( 4 * 1024 * 1024 + 512 ))
export out=$tmpdir/out.raw
got=$(timeout 30 nbdkit -U - "$IMAGEIO_PLUGIN" url="$url" size=$small \
  --run 'nbdinfo --size "$uri" && nbdcopy -- "$uri" "$out"') || fail "size=$small failed"
[ "$got" = "$small" ] || fail "size=$small: export size $got"
head -c $small "$tmpdir/disk.raw" | cmp - "$out" || fail "size=$small: data differs"

# size= with a suffix, equal to the ticket size, is accepted.
got=$(timeout 30 nbdkit -U - "$IMAGEIO_PLUGIN" url="$url" size=12292k --run 'nbdinfo --size "$uri"') ||
  fail "size=12292k (the ticket size) failed"
[ "$got" = "$tsize" ] || fail "size=12292k: export size $got"

for big in $(( tsize + 1 )) 16M; do
  bytes=$big; [ "$big" != 16M ] || bytes=$file_size
  st=0
  timeout 30 nbdkit -U - "$IMAGEIO_PLUGIN" url="$url" size=$big --run 'echo served' \
    >"$tmpdir/big.out" 2>"$tmpdir/big.err" || st=$?
  [ "$st" -ne 0 ] && [ "$st" -ne 124 ] || fail "size=$big: nbdkit exit status $st"
  ! grep -q served "$tmpdir/big.out" || fail "size=$big: nbdkit served"
  grep -q -E "size=($big|$bytes)( |:).*larger than the image" "$tmpdir/big.err" ||
    { cat "$tmpdir/big.err" >&2; fail "size=$big: no clear message"; }
done
expect_log_redacted "$t"
