#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The Debian packages: builds them with `dpkg-buildpackage -us -uc -b` in a
# copy of the source tree (the package's own check skipped:
# DEB_BUILD_OPTIONS=nocheck), runs lintian (errors fail, warnings are
# shown), unpacks both .debs into a scratch root with `dpkg -x` (the system
# is not touched), checks their file lists, uploads and downloads an
# image through the installed plugin against the installed server, then
# deploys the server as its man page says: the user and directories from
# the installed sysusers.d and tmpfiles.d files (into the scratch root), a
# TLS certificate in /etc/pki/imageio, the unit's ExecStart run as written
# (outside systemd, its paths remapped into the scratch root, its port
# made a free loopback one), a ticket added on its control socket, and an
# image copied through the plugin.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/package-source.sh"
requires_cmd dpkg-buildpackage dpkg-deb dpkg-parsechangelog dh pkg-config nbdkit \
  qemu-img openssl timeout

# Only installed binaries and the system's libraries: no library from the
# build tree (meson test points LD_LIBRARY_PATH there).
unset LD_LIBRARY_PATH

version=$(project_version)
[ -n "$version" ] || fail "no version in meson.build"
src=$tmpdir/src/nbdkit-imageio-$version
copy_source "$src"

deb_version=$(cd "$src" && dpkg-parsechangelog -S Version)
[ "$deb_version" = "$version" ] ||
  fail "debian/changelog is at $deb_version, meson.build at $version"

if ! (cd "$src" && dpkg-checkbuilddeps) 2>"$tmpdir/builddeps"; then
  cat "$tmpdir/builddeps" >&2
  echo "$_test_name: SKIP: build dependencies missing (scripts/setup-deps.sh installs them)" >&2
  exit 77
fi

start=$SECONDS
(cd "$src" && DEB_BUILD_OPTIONS="nocheck parallel=2" \
   timeout 240 dpkg-buildpackage -us -uc -b) > "$tmpdir/build.log" 2>&1 ||
  { tail -n 60 "$tmpdir/build.log" >&2; fail "dpkg-buildpackage failed"; }
echo "dpkg-buildpackage: $((SECONDS - start)) s"
grep -q "meson test" "$tmpdir/build.log" && fail "nocheck did not skip the package's tests"

arch=$(dpkg --print-architecture)
plugin_deb=$tmpdir/src/nbdkit-plugin-imageio_${version}_$arch.deb
server_deb=$tmpdir/src/imageio-server_${version}_$arch.deb
[ -f "$plugin_deb" ] && [ -f "$server_deb" ] ||
  { ls -l "$tmpdir/src" >&2; fail "the two .debs were not built"; }

# lintian: errors fail the test, everything else is shown.
if command -v lintian >/dev/null; then
  start=$SECONDS
  lintian --fail-on error --display-info --show-overrides \
    "$tmpdir/src/nbdkit-imageio_${version}_$arch.changes" > "$tmpdir/lintian.log" 2>&1 ||
    { cat "$tmpdir/lintian.log" >&2; fail "lintian reports errors"; }
  echo "lintian ($((SECONDS - start)) s):"
  grep -v "running with root privileges" "$tmpdir/lintian.log" | sed 's/^/  /'
else
  echo "lintian not installed: not run"
fi

# The plugin must depend on nbdkit.
# (Outputs go to variables or files first: grep -q may exit before the
# writer, and with pipefail the writer's SIGPIPE would fail the check.)
depends=$(dpkg-deb -f "$plugin_deb" Depends)
grep -qE '(^|, )nbdkit($| |,)' <<<"$depends" ||
  fail "nbdkit-plugin-imageio does not depend on nbdkit"

# File lists: exactly these files, besides /usr/share/doc and lintian's
# overrides.
plugindir=$(pkg-config --variable=plugindir nbdkit)
list_files ()
{
  dpkg-deb -c "$1" | awk '$1 !~ /^d/ { print $6 }' | sed 's|^\./|/|' |
    grep -v -e '^/usr/share/doc/[^/]*/\(changelog\|copyright\)' \
      -e '^/usr/share/lintian/overrides/' | sort
}
printf '%s\n' "$plugindir/nbdkit-imageio-plugin.so" \
  /usr/share/man/man1/nbdkit-imageio-plugin.1.gz > "$tmpdir/want-plugin"
diff -u "$tmpdir/want-plugin" <(list_files "$plugin_deb") ||
  fail "nbdkit-plugin-imageio: unexpected file list"
list_files "$server_deb" > "$tmpdir/got-server"
printf '%s\n' /lib/systemd/system/imageio-server.service /usr/bin/imageio-server \
  /usr/lib/sysusers.d/imageio-server.conf /usr/lib/tmpfiles.d/imageio-server.conf \
  /usr/share/doc/imageio-server/examples/local-only.conf \
  /usr/share/doc/imageio-server/examples/ticket.json \
  /usr/share/doc/imageio-server/imageio-server-security.md \
  /usr/share/man/man8/imageio-server.8.gz | sort > "$tmpdir/want-server"
diff -u "$tmpdir/want-server" "$tmpdir/got-server" ||
  fail "imageio-server: unexpected file list"
for deb in "$plugin_deb" "$server_deb"; do
  dpkg-deb -c "$deb" > "$tmpdir/contents"
  grep -q "/usr/share/doc/.*/copyright$" "$tmpdir/contents" || fail "$deb: no copyright file"
done

# Installed into a scratch root.
root=$tmpdir/root
dpkg -x "$plugin_deb" "$root"
dpkg -x "$server_deb" "$root"
so=$root$plugindir/nbdkit-imageio-plugin.so
IMAGEIO_SERVER=$(ls "$root"/usr/*bin/imageio-server)
[ -x "$IMAGEIO_SERVER" ] || fail "imageio-server is not executable"
gzip -dc "$root/usr/share/man/man1/nbdkit-imageio-plugin.1.gz" > "$tmpdir/man.1"
grep -q '^\.TH' "$tmpdir/man.1" ||
  fail "the man page is not a man page"

# `nbdkit imageio` finds the plugin in the plugindir nbdkit was built with,
# which must be the package's; here the plugin is under the scratch root, so
# nbdkit gets its path.
nbdkit --dump-config > "$tmpdir/config"
grep -qx "plugindir=$plugindir" "$tmpdir/config" ||
  fail "nbdkit looks for plugins in $(grep '^plugindir=' "$tmpdir/config"), the package installs into $plugindir"
nbdkit "$so" --dump-plugin > "$tmpdir/dump" || fail "nbdkit --dump-plugin failed"
grep -qx "name=imageio" "$tmpdir/dump" || fail "plugin name is not imageio"
grep -qx "imageio_version=$version" "$tmpdir/dump" ||
  { cat "$tmpdir/dump" >&2; fail "the plugin does not say version $version"; }

# One upload and one download over HTTPS, installed binaries only.
size=$(( 8 * 1024 * 1024 ))
random_file "$tmpdir/upload.raw" $size
head -c $size /dev/zero > "$tmpdir/target.raw"
make_cert "$tmpdir/pki"
ticket=$(random_ticket)
make_ticket "$tmpdir/ticket.json" "$ticket" $size "file://$tmpdir/target.raw" read,write
start_server --tcp 127.0.0.1:0 --tls-cert "$tmpdir/pki/server.pem" \
  --tls-key "$tmpdir/pki/server-key.pem" --ticket "$tmpdir/ticket.json"
args=("url=https://127.0.0.1:$server_port/images/$ticket" "cafile=$tmpdir/pki/ca.pem")
export upload=$tmpdir/upload.raw download=$tmpdir/download.raw
timeout 60 nbdkit -U - "$so" "${args[@]}" \
  --run 'qemu-img convert -n -f raw -O raw "$upload" "$uri"' ||
  fail "upload through the installed plugin failed"
cmp "$tmpdir/upload.raw" "$tmpdir/target.raw" || fail "uploaded image differs"
timeout 60 nbdkit -U - -r "$so" "${args[@]}" \
  --run 'qemu-img convert -f raw -O raw "$uri" "$download"' ||
  fail "download through the installed plugin failed"
cmp "$tmpdir/upload.raw" "$tmpdir/download.raw" || fail "downloaded image differs"
stop_server
echo "upload and download through the installed packages: OK"

# ---- Deployed as the man page's DEPLOYING says, from the unit ----
# The unit is installed but neither enabled nor started: debhelper's
# --no-enable snippet (it enables only what the admin enabled before) and
# no deb-systemd-invoke.
dpkg-deb -e "$server_deb" "$tmpdir/server-control"
grep -q "deb-systemd-helper debian-installed 'imageio-server.service'" "$tmpdir/server-control/postinst" ||
  { cat "$tmpdir/server-control/postinst" >&2; fail "postinst may enable the unit"; }
! grep -q "deb-systemd-invoke" "$tmpdir/server-control/postinst" || fail "postinst starts the unit"
unit=$root/lib/systemd/system/imageio-server.service
[ -f "$unit" ] || fail "no unit installed"
# systemd-analyze verify finds nothing in it (the binary and the man page
# taken from the scratch root).
if command -v systemd-analyze >/dev/null; then
  sed "s|/usr/bin/imageio-server|$root/usr/bin/imageio-server|" "$unit" > "$tmpdir/imageio-server.service"
  MANPATH=$root/usr/share/man systemd-analyze verify "$tmpdir/imageio-server.service" \
    > "$tmpdir/verify.log" 2>&1 ||
    { cat "$tmpdir/verify.log" >&2; fail "systemd-analyze verify of the installed unit"; }
  [ ! -s "$tmpdir/verify.log" ] || { cat "$tmpdir/verify.log" >&2; fail "systemd-analyze verify warns"; }
  echo "systemd-analyze verify of the installed unit: clean"
fi
# The user and the directories, as the packaged files say, in the scratch
# root (its own /etc/passwd).
if command -v systemd-sysusers >/dev/null && command -v systemd-tmpfiles >/dev/null; then
  mkdir -p "$root/etc"
  systemd-sysusers --root="$root" > "$tmpdir/sysusers.log" 2>&1 ||
    { cat "$tmpdir/sysusers.log" >&2; fail "systemd-sysusers on the packaged file"; }
  grep -q '^imageio:x:[0-9]*:[0-9]*:imageio-server:/var/lib/imageio:' "$root/etc/passwd" ||
    fail "sysusers made no user imageio: $(cat "$root/etc/passwd")"
  systemd-tmpfiles --root="$root" --create > "$tmpdir/tmpfiles.log" 2>&1 ||
    { cat "$tmpdir/tmpfiles.log" >&2; fail "systemd-tmpfiles on the packaged file"; }
  [ "$(stat -c %a "$root/var/lib/imageio")" = 750 ] || fail "/var/lib/imageio is not 0750"
  [ "$(stat -c %a "$root/etc/pki/imageio")" = 750 ] || fail "/etc/pki/imageio is not 0750"
else
  mkdir -p "$root/var/lib/imageio" "$root/etc/pki/imageio"
fi
mkdir -p "$root/run/imageio"   # the unit's RuntimeDirectory
cp "$tmpdir/pki/server.pem" "$root/etc/pki/imageio/server.pem"
cp "$tmpdir/pki/server-key.pem" "$root/etc/pki/imageio/server-key.pem"
# ExecStart as written (continuation lines joined), paths remapped.
execstart=$(sed -n '/^ExecStart=/,/[^\\]$/p' "$unit" | sed 's/\\$//' | tr '\n' ' ')
execstart=${execstart#ExecStart=}
read -r -a cmd <<< "$execstart"
[ "${cmd[0]}" = /usr/bin/imageio-server ] || fail "ExecStart runs ${cmd[0]}"
args=()
for a in "${cmd[@]:1}"; do
  case "$a" in
    0.0.0.0:54322) a=127.0.0.1:0 ;;                         # loopback, a free port
    @/org/ovirt/imageio) a=@/org/ovirt/imageio-test-$$ ;;    # not a real imageio's
    /etc/pki/imageio/*|/run/imageio|/run/imageio/*|/var/lib/imageio) a=$root$a ;;
    /*) fail "ExecStart names $a, which this test does not remap" ;;
  esac
  args+=("$a")
done
printf 'ExecStart, remapped:'; printf ' %q' "${args[@]}"; echo
IMAGEIO_SERVER=$root/usr/bin/imageio-server
start_server "${args[@]}"
grep -q "ready (version $version): tls=127.0.0.1:$server_port unix=@/org/ovirt/imageio-test-$$ control=$root/run/imageio/control.sock" "$server_log" ||
  fail "unexpected ready line: $(grep ready "$server_log")"
# A ticket added on the control socket, as the man page says.
ticket=$(random_ticket)
random_file "$tmpdir/upload.raw" $size
truncate -s $size "$root/var/lib/imageio/disk.img"
make_ticket "$tmpdir/ticket.json" "$ticket" $size "file://$root/var/lib/imageio/disk.img" read,write
request --unix-socket "$root/run/imageio/control.sock" -X PUT \
  --data-binary @"$tmpdir/ticket.json" "http://localhost/tickets/$ticket"
expect_status 200 "PUT /tickets/ID on the deployed server's control socket"
args=("url=https://localhost:$server_port/images/$ticket" "cafile=$tmpdir/pki/ca.pem")
timeout 60 nbdkit -U - "$so" "${args[@]}" \
  --run 'qemu-img convert -n -f raw -O raw "$upload" "$uri"' ||
  fail "upload to the deployed server failed"
cmp "$tmpdir/upload.raw" "$root/var/lib/imageio/disk.img" || fail "deployed server: uploaded image differs"
rm -f "$download"
timeout 60 nbdkit -U - -r "$so" "${args[@]}" \
  --run 'qemu-img convert -f raw -O raw "$uri" "$download"' ||
  fail "download from the deployed server failed"
cmp "$tmpdir/upload.raw" "$download" || fail "deployed server: downloaded image differs"
stop_server
[ "$server_status" -eq 0 ] || fail "deployed server: exit status $server_status"
[ ! -e "$root/run/imageio/control.sock" ] || fail "the control socket was not removed"
expect_log_redacted "$ticket"
echo "deployed from the unit's ExecStart, ticket added, copied through the plugin: OK"
