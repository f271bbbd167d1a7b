#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The test command (README, .ci/run): installs what is missing, builds, and
# runs every test: unit tests and end-to-end shell tests in a normal build
# (valgrind tests included), then unit and server tests again in an
# ASan+UBSan build, then a short libFuzzer run of every parser.
# Ends with one line "N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/setup-deps.sh || { echo "0 passed, 1 failed"; exit 1; }

status=0
pass=0 fail=0 skip=0

# Runs the suites of one build directory and adds its results to the counts.
run_build () {
  local dir=$1; shift
  local setup_args=("$@")
  if ! scripts/build.sh "$dir" "${setup_args[@]}"; then
    echo "build failed in $dir"
    fail=$((fail + 1)); status=1
    return
  fi
  meson test -C "$dir" --print-errorlogs --num-processes 2 $test_args \
    || status=1
  local log=$dir/meson-logs/testlog.json
  if [ -f "$log" ]; then
    pass=$((pass + $(jq -s '[.[] | select(.result == "OK")] | length' "$log")))
    skip=$((skip + $(jq -s '[.[] | select(.result == "SKIP")] | length' "$log")))
    fail=$((fail + $(jq -s '[.[] | select(.result != "OK" and .result != "SKIP")] | length' "$log")))
  fi
}

test_args=""
run_build build
# The sanitizer build runs the unit tests (the HTTP client's included) and
# the server suites.  The plugin runs inside nbdkit, which is not built with
# ASan (preloading libasan also reaches qemu-img, whose coroutines ASan
# cannot follow), so the plugin is checked under valgrind instead, by the
# valgrind suite of the first build.
test_args="--suite unit --suite server"
run_build build-asan -Db_sanitize=address,undefined -Db_lundef=false

# Every parser of network input under libFuzzer (clang), briefly.
test_args="--suite fuzz"
CC=clang run_build build-fuzz -Dfuzz=true

echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ] || status=1
exit $status
