#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# `meson install` puts the plugin into nbdkit's plugindir (from pkg-config)
# when the prefix is nbdkit's, so that `nbdkit imageio url=...` finds it,
# else into LIBDIR/nbdkit/plugins under the prefix; -Dplugindir= overrides
# both.  Plus imageio-server and the man page.  Installed into a private
# DESTDIR; the system is not touched.  Other prefixes are checked with
# `meson introspect --installed` on a configured (not compiled) build dir.
source "$(dirname "$0")/functions.sh"
requires_cmd meson pkg-config nbdkit jq

plugindir=$(pkg-config --variable=plugindir nbdkit)
nbdkit_prefix=$(pkg-config --variable=prefix nbdkit)
[ -n "$plugindir" ] || fail "pkg-config knows no plugindir for nbdkit"

# The value of build option NAME in build dir DIR.
build_option ()
{
  meson introspect --buildoptions "$1" |
    jq -r --arg n "$2" '.[] | select(.name == $n) | .value'
}

# Where the default rule puts the plugin for PREFIX and LIBDIR.
expected_dir ()
{
  if [ "$1" = "$nbdkit_prefix" ]; then
    echo "$plugindir"
  else
    case "$2" in
      /*) echo "$2/nbdkit/plugins" ;;
      *) echo "$1/$2/nbdkit/plugins" ;;
    esac
  fi
}

# Fails unless build dir DIR installs the plugin as WANT (a full path).
expect_installed_plugin ()
{
  local dir=$1 want=$2 got
  got=$(meson introspect --installed "$dir" |
          jq -r 'to_entries[] | select(.key | endswith("/nbdkit-imageio-plugin.so")) | .value')
  [ "$got" = "$want" ] || fail "$dir: plugin installed as '$got', expected '$want'"
}

# This build, installed for real into a DESTDIR.
prefix=$(build_option "$BUILDDIR" prefix)
libdir=$(build_option "$BUILDDIR" libdir)
option=$(build_option "$BUILDDIR" plugindir)
if [ -n "$option" ]; then
  case "$option" in /*) dir=$option ;; *) dir=$prefix/$option ;; esac
else
  dir=$(expected_dir "$prefix" "$libdir")
fi
meson install -C "$BUILDDIR" --no-rebuild --destdir "$tmpdir/inst" \
  > "$tmpdir/install.log" 2>&1 || { cat "$tmpdir/install.log" >&2; fail "meson install failed"; }

so=$tmpdir/inst$dir/nbdkit-imageio-plugin.so
[ -f "$so" ] || { cat "$tmpdir/install.log" >&2; fail "no plugin at $dir"; }
nbdkit "$so" --dump-plugin > "$tmpdir/dump" || fail "--dump-plugin failed"
grep -q "^name=imageio$" "$tmpdir/dump" || fail "plugin name is not imageio"
grep -q "^imageio_version=" "$tmpdir/dump" || fail "no imageio_version"
find "$tmpdir/inst" -name imageio-server -perm -u+x | grep -q . ||
  fail "imageio-server not installed"
if command -v pod2man >/dev/null; then
  find "$tmpdir/inst" -name nbdkit-imageio-plugin.1 | grep -q . ||
    fail "man page not installed"
fi

# Other prefixes: configure only, read the install plan.
# Name PREFIX [meson options...], one line each.
cases=(
  "nbdkit-prefix $nbdkit_prefix"
  "opt           /opt/x"
  "explicit      /opt/x -Dplugindir=/srv/nbdkit-plugins"
  "relative      /opt/x -Dplugindir=share/np"
)
for c in "${cases[@]}"; do
  read -r name pfx opts <<<"$c"
  b=$tmpdir/build-$name
  # shellcheck disable=SC2086  # opts is a list of words
  meson setup "$b" "$SRCDIR" --prefix="$pfx" -Dbench=disabled $opts \
    > "$tmpdir/setup-$name.log" 2>&1 ||
    { cat "$tmpdir/setup-$name.log" >&2; fail "$name: meson setup failed"; }
  case "$name" in
    explicit) want=/srv/nbdkit-plugins ;;
    relative) want=/opt/x/share/np ;;
    *) want=$(expected_dir "$pfx" "$(build_option "$b" libdir)") ;;
  esac
  expect_installed_plugin "$b" "$want/nbdkit-imageio-plugin.so"
  echo "$name: $want"
done
# The rule itself, spelled out: nbdkit's prefix gets nbdkit's plugindir, and
# /opt/x stays under /opt/x.
expect_installed_plugin "$tmpdir/build-nbdkit-prefix" "$plugindir/nbdkit-imageio-plugin.so"
case $(meson introspect --installed "$tmpdir/build-opt" | jq -r '.[]' | grep plugin.so) in
  /opt/x/lib*/nbdkit/plugins/nbdkit-imageio-plugin.so) ;;
  *) fail "-Dprefix=/opt/x does not put the plugin under /opt/x/lib*/nbdkit/plugins" ;;
esac
