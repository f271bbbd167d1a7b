# SPDX-License-Identifier: BSD-3-Clause
# Helpers of the package tests (tests/test-package-*.sh), sourced after
# functions.sh.  Not a test itself: meson runs only tests/test-*.sh.

# The project version, from meson.build's project().
project_version ()
{
  sed -n "s/^ *version *: *'\([^']*\)'.*/\1/p" "$SRCDIR/meson.build" | head -n 1
}

# Copies the source tree into DEST (created): the files git knows or would
# add (tracked, plus untracked ones not ignored, so uncommitted work is
# packaged too), or, outside git, everything but VCS data and build
# directories (any directory holding a build.ninja: meson build dirs and
# debhelper's obj-*).
copy_source ()
{
  local dest=$1 list=$tmpdir/source-files
  mkdir -p "$dest"
  if git -C "$SRCDIR" ls-files -z -co --exclude-standard > "$list" 2>/dev/null &&
     [ -s "$list" ]; then
    # Deleted but still tracked files are listed too; skip them.
    (cd "$SRCDIR" && tar --null -T "$list" --ignore-failed-read -cf - 2>/dev/null) |
      tar -xf - -C "$dest"
  else
    tar -C "$SRCDIR" --exclude-vcs --exclude-tag-all=build.ninja -cf - . |
      tar -xf - -C "$dest"
  fi
  [ -f "$dest/meson.build" ] || fail "copying the source tree to $dest failed"
}
