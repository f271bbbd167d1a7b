#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Every header compiles on its own: a file that includes only it builds,
# so no header relies on what its includer happened to include first.
source "$(dirname "$0")/functions.sh"
requires_cmd cc pkg-config

cflags=$(pkg-config --cflags nbdkit openssl yajl libmicrohttpd libnbd)
n=0
for h in "$SRCDIR"/common/*.h "$SRCDIR"/plugin/*.h "$SRCDIR"/server/*.h; do
  printf '#include "%s"\n' "$(basename "$h")" > "$tmpdir/one.c"
  # shellcheck disable=SC2086
  cc -std=gnu11 -D_GNU_SOURCE -Wall -Werror -fsyntax-only $cflags \
    -I"$SRCDIR/common" -I"$(dirname "$h")" "$tmpdir/one.c" 2>"$tmpdir/err" ||
    { cat "$tmpdir/err" >&2; fail "${h#$SRCDIR/} does not compile on its own"; }
  n=$(( n + 1 ))
done
echo "$n headers compile on their own"
