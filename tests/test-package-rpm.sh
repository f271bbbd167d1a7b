#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The RPM spec (nbdkit-imageio.spec, for Fedora and EL): `rpmbuild -bs`
# accepts it with Source0 made from a copy of the tree, and `rpmbuild -ts`
# with the spec inside the tarball (the README's way).  Then, when the
# build dependencies are here, the binary RPMs are built with Fedora's
# meson macros (and its doc directory names) spelled out (Debian's rpm has
# none) and the plugindir made
# nbdkit's, so that %files is checked against what meson installs (rpm
# fails on files installed but not packaged, and on packaged but missing).
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/package-source.sh"
requires_cmd rpmbuild rpmspec rpm tar gzip

version=$(project_version)
[ -n "$version" ] || fail "no version in meson.build"
spec_version=$(rpmspec -q --srpm --qf '%{version}' "$SRCDIR/nbdkit-imageio.spec")
[ "$spec_version" = "$version" ] ||
  fail "nbdkit-imageio.spec is at $spec_version, meson.build at $version"

top=$tmpdir/rpm
mkdir -p "$top/SOURCES"
source0=$(rpmspec -P "$SRCDIR/nbdkit-imageio.spec" | awk '$1 == "Source0:" { print $2 }')
[ "$source0" = "nbdkit-imageio-$version.tar.gz" ] || fail "unexpected Source0 '$source0'"
copy_source "$tmpdir/src/nbdkit-imageio-$version"
tar -C "$tmpdir/src" -czf "$top/SOURCES/$source0" "nbdkit-imageio-$version"

rpmbuild -bs --define "_topdir $top" "$tmpdir/src/nbdkit-imageio-$version/nbdkit-imageio.spec" \
  > "$tmpdir/bs.log" 2>&1 || { cat "$tmpdir/bs.log" >&2; fail "rpmbuild -bs failed"; }
srpm=$(ls "$top"/SRPMS/nbdkit-imageio-"$version"-1*.src.rpm)
# (Lists go to files first: grep -q may exit before the writer, and with
# pipefail the writer's SIGPIPE would fail the check.)
rpm -qpl "$srpm" > "$tmpdir/srpm.list"
grep -qx "$source0" "$tmpdir/srpm.list" || fail "the SRPM lacks $source0"
grep -qx nbdkit-imageio.spec "$tmpdir/srpm.list" || fail "the SRPM lacks the spec"
echo "rpmbuild -bs: $(basename "$srpm")"

rm -rf "$top/SRPMS"
rpmbuild -ts --define "_topdir $top" "$top/SOURCES/$source0" > "$tmpdir/ts.log" 2>&1 ||
  { cat "$tmpdir/ts.log" >&2; fail "rpmbuild -ts failed"; }
ls "$top"/SRPMS/nbdkit-imageio-"$version"-1*.src.rpm >/dev/null || fail "rpmbuild -ts made no SRPM"
echo "rpmbuild -ts: OK"

# Binary RPMs, when this machine can build the project.
if ! command -v meson >/dev/null || ! command -v pkg-config >/dev/null ||
   ! pkg-config --exists nbdkit openssl yajl libnbd libmicrohttpd; then
  echo "build dependencies missing: binary RPMs not built"
  exit 0
fi
plugindir=$(pkg-config --variable=plugindir nbdkit)
libdir=${plugindir%/nbdkit/plugins}
b=rpmbuild-meson
rpmbuild -bb --nodeps --define "_topdir $top" \
  --define "_libdir $libdir" \
  --define "meson meson setup --buildtype=plain --prefix=%{_prefix} --libdir=%{_libdir} --bindir=%{_bindir} --mandir=%{_mandir} $b" \
  --define "meson_build meson compile -C $b" \
  --define "meson_install DESTDIR=%{buildroot} meson install -C $b --no-rebuild" \
  --define "meson_test meson test -C $b --print-errorlogs" \
  --define "debug_package %{nil}" \
  --define "_docdir_fmt %%{NAME}" \
  "$tmpdir/src/nbdkit-imageio-$version/nbdkit-imageio.spec" > "$tmpdir/bb.log" 2>&1 ||
  { tail -n 60 "$tmpdir/bb.log" >&2; fail "rpmbuild -bb failed"; }
plugin_rpm=$(ls "$top"/RPMS/*/nbdkit-imageio-plugin-"$version"-1*.rpm)
server_rpm=$(ls "$top"/RPMS/*/imageio-server-"$version"-1*.rpm)
rpm -qpl "$plugin_rpm" > "$tmpdir/plugin.list"
rpm -qp --requires "$plugin_rpm" > "$tmpdir/plugin.requires"
rpm -qpl "$server_rpm" > "$tmpdir/server.list"
grep -qx "$plugindir/nbdkit-imageio-plugin.so" "$tmpdir/plugin.list" ||
  fail "nbdkit-imageio-plugin: no plugin in $plugindir"
grep -q "/man1/nbdkit-imageio-plugin.1" "$tmpdir/plugin.list" ||
  fail "nbdkit-imageio-plugin: no man page"
grep -q '^nbdkit-server' "$tmpdir/plugin.requires" ||
  fail "nbdkit-imageio-plugin does not require nbdkit-server"
grep -qx /usr/bin/imageio-server "$tmpdir/server.list" || fail "imageio-server: no binary"
# What deploying it as a service needs (imageio-server(8), DEPLOYING).
for f in /usr/lib/systemd/system/imageio-server.service \
         /usr/lib/sysusers.d/imageio-server.conf /usr/lib/tmpfiles.d/imageio-server.conf \
         /usr/share/doc/imageio-server/imageio-server-security.md \
         /usr/share/doc/imageio-server/examples/ticket.json \
         /usr/share/doc/imageio-server/examples/local-only.conf; do
  grep -qx "$f" "$tmpdir/server.list" || fail "imageio-server: no $f"
done
rpm -qp --scripts "$server_rpm" > "$tmpdir/server.scripts"
grep -q 'useradd -r -g imageio' "$tmpdir/server.scripts" || fail "imageio-server: no user made in %pre"
echo "rpmbuild -bb: $(basename "$plugin_rpm") $(basename "$server_rpm")"
