#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# imageio-server(8) and the example systemd unit stay true: the POD is
# valid and built, it documents every option --help lists (and no other),
# and the unit uses only options the server has (systemd-analyze verify
# when present); the grace a stop gives connections is the code's.
source "$(dirname "$0")/functions.sh"
requires_cmd podchecker

pod=$SRCDIR/docs/imageio-server.pod
unit=$SRCDIR/docs/imageio-server.service
podchecker "$pod" >/dev/null 2>"$tmpdir/podchecker.log" ||
  { cat "$tmpdir/podchecker.log" >&2; fail "podchecker"; }
if command -v pod2man >/dev/null; then
  man=$BUILDDIR/docs/imageio-server.8
  [ -s "$man" ] || fail "$man was not built"
  grep -q -i -E '^\.TH "?imageio-server"? 8 ' "$man" || fail "$man: not section 8: $(grep '^\.TH' "$man")"
fi

help=$("$IMAGEIO_SERVER" --help)
# Long options of the main list (lines starting with two spaces and --).
sed -n 's/^  \(-[a-zA-Z], \)\{0,1\}\(--[a-z-]*\).*/\2/p' <<< "$help" | sort -u > "$tmpdir/help.opts"
[ "$(wc -l < "$tmpdir/help.opts")" -ge 15 ] || fail "too few options in --help: $(cat "$tmpdir/help.opts")"
sed -n 's/^=item B<\(-[a-zA-Z]\)>, B<\(--[a-z-]*\)>.*/\2/p; s/^=item B<\(--[a-z-]*\)>.*/\1/p' "$pod" |
  sort -u > "$tmpdir/pod.opts"
diff -u "$tmpdir/help.opts" "$tmpdir/pod.opts" >&2 ||
  fail "options in --help and in imageio-server.pod differ (- help, + pod)"

# The unit's ExecStart (continued lines joined) names only real options.
execstart=$(sed -n '/^ExecStart=/,/[^\\]$/p' "$unit" | tr -d '\\\n')
[ -n "$execstart" ] || fail "no ExecStart in the unit"
for o in $(grep -o -- '--[a-z-]*' <<< "$execstart"); do
  grep -q -x -- "$o" "$tmpdir/help.opts" || fail "the unit uses $o, which --help does not list"
done
grep -q '^Documentation=man:imageio-server(8)' "$unit" || fail "the unit does not point at the man page"
grep -q 'imageio-server\.service' "$pod" || fail "the man page does not mention the unit"
# The grace a stop gives open connections, as the code has it.
grace=$(sed -n 's/^#define STOP_GRACE_SECONDS \([0-9]*\)$/\1/p' "$SRCDIR/server/main.c")
[ -n "$grace" ] || fail "no STOP_GRACE_SECONDS in server/main.c"
tr '\n' ' ' < "$pod" | grep -q "threads get $grace seconds at most" ||
  fail "the man page does not say that a stop gives connections $grace seconds"
grep -q "waits ($grace s at most)" "$SRCDIR/docs/imageio-server-security.md" ||
  fail "docs/imageio-server-security.md does not say that a stop waits $grace s"

if command -v systemd-analyze >/dev/null; then
  sed "s|/usr/bin/imageio-server|$IMAGEIO_SERVER|" "$unit" > "$tmpdir/imageio-server.service"
  # Only the man page (not installed here) may be missing.
  systemd-analyze verify "$tmpdir/imageio-server.service" > "$tmpdir/verify.log" 2>&1 || true
  if grep -v -E "Command 'man .*' failed|^$" "$tmpdir/verify.log" | grep -q .; then
    cat "$tmpdir/verify.log" >&2
    fail "systemd-analyze verify"
  fi
fi
