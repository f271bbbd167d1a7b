#!/usr/bin/env bash
# `meson install` puts the plugin into nbdkit's plugindir (from pkg-config),
# so that `nbdkit imageio url=...` finds it, plus imageio-server and the
# man page.  Installed into a private DESTDIR; the system is not touched.
source "$(dirname "$0")/functions.sh"
requires meson pkg-config nbdkit

plugindir=$(pkg-config --variable=plugindir nbdkit)
[ -n "$plugindir" ] || fail "pkg-config knows no plugindir for nbdkit"
meson install -C "$BUILDDIR" --no-rebuild --destdir "$tmpdir/inst" \
  > "$tmpdir/install.log" 2>&1 || { cat "$tmpdir/install.log" >&2; fail "meson install failed"; }

so=$tmpdir/inst$plugindir/nbdkit-imageio-plugin.so
[ -f "$so" ] || { cat "$tmpdir/install.log" >&2; fail "no plugin at $plugindir"; }
nbdkit "$so" --dump-plugin > "$tmpdir/dump" || fail "--dump-plugin failed"
grep -q "^name=imageio$" "$tmpdir/dump" || fail "plugin name is not imageio"
grep -q "^imageio_version=" "$tmpdir/dump" || fail "no imageio_version"
find "$tmpdir/inst" -name imageio-server -perm -u+x | grep -q . ||
  fail "imageio-server not installed"
if command -v pod2man >/dev/null; then
  find "$tmpdir/inst" -name nbdkit-imageio-plugin.1 | grep -q . ||
    fail "man page not installed"
fi
