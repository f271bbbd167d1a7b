#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Every -D imageio.NAME debug flag is named in a comment just above its
# definition in plugin/*.c, and the man page lists exactly the flags the
# code defines (issue 22).
source "$(dirname "$0")/functions.sh"

pod=$SRCDIR/docs/nbdkit-imageio-plugin.pod
code=$(cd "$SRCDIR/plugin" &&
  grep -h -o -E '^NBDKIT_DLL_PUBLIC int imageio_debug_[a-z0-9_]+' ./*.c |
  sed 's/.*imageio_debug_//' | sort -u)
[ -n "$code" ] || fail "no debug flags found in plugin/*.c"
man=$(grep -o -E '^=item B<-D imageio\.[a-z0-9_]+' "$pod" | sed 's/.*imageio\.//' | sort -u)

bad=0
for f in $code; do
  # The comment ending on the line above the definition names the flag.
  above=$(cd "$SRCDIR/plugin" && grep -h -B4 -E "^NBDKIT_DLL_PUBLIC int imageio_debug_$f = " ./*.c)
  grep -q -E -- "-D imageio\.$f(=|\b)" <<<"$above" ||
    { echo "plugin: imageio_debug_$f has no comment naming -D imageio.$f above it" >&2; bad=1; }
done
missing=$(comm -23 <(echo "$code") <(echo "$man"))
extra=$(comm -13 <(echo "$code") <(echo "$man"))
[ -z "$missing" ] || { echo "man page lacks: $missing" >&2; bad=1; }
[ -z "$extra" ] || { echo "man page lists flags the code lacks: $extra" >&2; bad=1; }
[ "$bad" -eq 0 ] || fail "debug flags and their docs disagree"
echo "debug flags: $(echo $code)"
