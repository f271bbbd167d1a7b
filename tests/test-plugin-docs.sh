#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The docs match the code.  Every parameter .config accepts (each
# `strcmp (key, "NAME")` in plugin/*.c, so a new one is found without
# editing this test) appears in --help, in the man page's SYNOPSIS and
# PARAMETERS, in the README's parameter list, and in the README's
# comparison table unless the Python plugin has it too; every url= form
# that works is documented in all three; the man page says -D needs -v.
# And the connection count the man page states is the one measured: a
# download with connections=N opens N + 1 HTTP connections, as the server
# counts them and as the transfer summary says.
source "$(dirname "$0")/functions.sh"
requires_cmd nbdkit nbdcopy timeout

pod=$SRCDIR/docs/nbdkit-imageio-plugin.pod
readme=$SRCDIR/README.md
mapfile -t params < <(grep -h -o 'strcmp (key, "[a-z_]*")' "$SRCDIR"/plugin/*.c |
                      sed 's/.*"\(.*\)".*/\1/' | sort -u)
[ "${#params[@]}" -ge 11 ] || fail "found only ${#params[@]} parameters in plugin/*.c: ${params[*]}"

nbdkit "$IMAGEIO_PLUGIN" --help > "$tmpdir/help" 2>&1 || fail "--help failed"
# The man page's SYNOPSIS section; the README's "Parameters:" paragraph
# and its comparison table's parameters row.
sed -n '/^=head1 SYNOPSIS/,/^=head1 DESCRIPTION/p' "$pod" > "$tmpdir/synopsis"
sed -n '/^=head1 PARAMETERS/,/^=head1 CONNECTIONS/p' "$pod" > "$tmpdir/parameters"
sed -n '/^Parameters: /,/^$/p' "$readme" | tr '\n' ' ' > "$tmpdir/readme-list"
grep '^| parameters |' "$readme" > "$tmpdir/readme-table" || fail "README: no parameters row in the table"
[ -s "$tmpdir/synopsis" ] && [ -s "$tmpdir/parameters" ] && [ -s "$tmpdir/readme-list" ] ||
  fail "a docs section was not found"
# The Python plugin's own parameters: the table's middle column.
python_params=$(cut -d'|' -f3 "$tmpdir/readme-table")

missing=()
for p in "${params[@]}"; do
  grep -q -E "^$p=" "$tmpdir/help" || missing+=("--help: $p=")
  grep -q -E "(^|[^a-z_])$p=" "$tmpdir/synopsis" || missing+=("man SYNOPSIS: $p=")
  grep -q -E "B<$p=" "$tmpdir/parameters" || missing+=("man PARAMETERS: B<$p=")
  grep -q -E "\`$p\`" "$tmpdir/readme-list" || missing+=("README parameter list: \`$p\`")
  if ! grep -q -w -- "$p" <<<"$python_params"; then
    grep -q -w -- "$p" "$tmpdir/readme-table" || missing+=("README table: $p")
  fi
done
# The url= forms that work (test-plugin-params.sh runs each).
for form in 'url=+' 'url=-FD' 'url=-'; do
  case $form in
    url=+) h='url=\+'; m='url=\+'; r='url=\+' ;;
    url=-FD) h='-FD'; m='url=-(>)?FD'; r='url=-FD' ;;
    url=-) h='\|-( |$)'; m='url=-( |$|\|)'; r='`url=-`' ;;
  esac
  grep -q -E -- "$h" "$tmpdir/help" || missing+=("--help: $form")
  grep -q -E -- "$m" "$tmpdir/synopsis" || missing+=("man SYNOPSIS: $form")
  grep -q -E -- "$r" "$tmpdir/readme-list" || missing+=("README parameter list: $form")
done
grep -q -E 'B<url=->FD' "$tmpdir/parameters" || missing+=("man PARAMETERS: url=-FD")
grep -q -E 'B<url=->$' "$tmpdir/parameters" || missing+=("man PARAMETERS: url=-")
sed -n '/^=head1 DEBUG FLAGS/,/^=over/p' "$pod" | grep -q -F 'C<-v>' ||
  missing+=("man DEBUG FLAGS: that -D needs -v")
grep -q -E -- '-D .*-v' "$tmpdir/help" || missing+=("--help: that -D needs -v")
if [ "${#missing[@]}" -gt 0 ]; then
  printf '  missing: %s\n' "${missing[@]}" >&2
  fail "${#missing[@]} documentation gaps"
fi
echo "${#params[@]} parameters documented everywhere: ${params[*]}"

# The connection count: "a transfer opens C<connections> + 1 connections".
grep -q -F 'So a transfer opens C<connections> + 1 connections' "$pod" ||
  fail "the man page no longer states connections + 1: update this test with it"
size=$(( 8 * 1024 * 1024 ))
head -c $size /dev/urandom > "$tmpdir/disk.raw"
t=$(random_ticket)
make_ticket "$tmpdir/t.json" "$t" $size "file://$tmpdir/disk.raw" read
start_server --tcp 127.0.0.1:0 --no-tls --ticket "$tmpdir/t.json"
export out=$tmpdir/out.raw
n=3
timeout 60 nbdkit -U - -r "$IMAGEIO_PLUGIN" url="http://localhost:$server_port/images/$t" \
  connections=$n --run 'nbdcopy --connections=4 --requests=8 -- "$uri" "$out"' \
  2>"$tmpdir/nbdkit.log" || { cat "$tmpdir/nbdkit.log" >&2; fail "download failed"; }
cmp "$tmpdir/disk.raw" "$out" || fail "the download differs"
opened=$(count_log 'open transport=')
echo "connections=$n: the server saw $opened connections"
[ "$opened" -eq $(( n + 1 )) ] || fail "connections=$n opened $opened HTTP connections, the man page says $(( n + 1 ))"
grep -q -F "$(( n + 1 )) HTTP connections opened" "$tmpdir/nbdkit.log" ||
  { cat "$tmpdir/nbdkit.log" >&2; fail "the transfer summary does not say $(( n + 1 )) connections"; }
expect_log_redacted "$t"
