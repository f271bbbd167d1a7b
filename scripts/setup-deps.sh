#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Installs every Debian 12 package the project needs to build, test and benchmark.
# Idempotent: when everything is present it only checks and prints nothing.
set -euo pipefail

packages=(
  build-essential meson ninja-build pkg-config
  libssl-dev libyajl-dev libmicrohttpd-dev libnbd-dev libcurl4-openssl-dev
  libb2-dev     # imageio-server: BLAKE2 for GET .../checksum
  nbdkit nbdkit-plugin-dev libnbd-bin python3-libnbd qemu-utils
  curl openssl valgrind clang libclang-rt-14-dev clang-format perl jq
  gnuplot-nox   # bench/ charts
  python3-dev python3-setuptools   # tests/test-realimageio-*.sh build the real daemon's C extension
  nbdkit-plugin-python   # bench/run-peers runs virt-v2v's Python plugins
  dpkg-dev debhelper lintian rpm   # tests/test-package-*.sh
  systemd       # systemd-analyze verify, systemd-sysusers/-tmpfiles --root (tests)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "setup-deps: installing ${missing[*]}" >&2
sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
