#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Configures (once) and builds the project in BUILDDIR (default: build).
# Extra arguments go to `meson setup`, e.g. -Db_sanitize=address,undefined.
set -euo pipefail
cd "$(dirname "$0")/.."
builddir=${1:-build}
shift || true
if [ ! -f "$builddir/build.ninja" ]; then
  meson setup "$builddir" --werror "$@" >/dev/null
fi
meson compile -C "$builddir" >/dev/null
