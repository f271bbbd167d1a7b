#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# One brace style: every C source and header is as clang-format makes it
# with the project's .clang-format (GNU-like, as nbdkit).  Fix a failure
# with: clang-format -i --style=file FILE
source "$(dirname "$0")/functions.sh"
requires_cmd clang-format

cd "$SRCDIR"
bad=()
for f in common/*.[ch] plugin/*.[ch] server/*.[ch] tests/unit/*.[ch] \
         tests/fuzz/*.c bench/*.c; do
  clang-format --style=file --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
[ ${#bad[@]} -eq 0 ] || fail "not formatted: ${bad[*]}"
echo "$(ls common/*.[ch] plugin/*.[ch] server/*.[ch] tests/unit/*.[ch] tests/fuzz/*.c bench/*.c | wc -l) files formatted"
