#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Parameters: each bad one stops nbdkit at start-up (non-zero exit, nothing
# served) with a message naming it, the value and the expected form; an
# unknown one names the closest known parameter; url= from a file, a
# descriptor and standard input (a pipe); --dump-plugin prints
# imageio_version=.  (--help, the man page and the README: test-plugin-docs.sh.)
source "$(dirname "$0")/functions.sh"
requires_cmd nbdkit timeout

truncate -s 1M "$tmpdir/disk.raw"
t=$(random_ticket)
make_ticket "$tmpdir/t.json" "$t" 1048576 "file://$tmpdir/disk.raw" read,write
start_server --tcp 127.0.0.1:0 --no-tls --ticket "$tmpdir/t.json"
url=http://localhost:$server_port/images/$t

# Runs nbdkit with the plugin and ARGS; sets st, and the output in
# $tmpdir/out (stdout) and $tmpdir/err (stderr).
run ()
{
  st=0
  timeout 30 nbdkit -U - "$IMAGEIO_PLUGIN" "$@" --run 'echo served' \
    >"$tmpdir/out" 2>"$tmpdir/err" || st=$?
}

# The good parameters work (so the failures below are the parameters').
run url="$url" connections=2 timeout=30 insecure=false is_ovirt_host=false \
  size=1M idle_flush=5 zero_elision=false max_unflushed=64M retry_timeout=10
[ "$st" -eq 0 ] && grep -q served "$tmpdir/out" ||
  { cat "$tmpdir/err" >&2; fail "good parameters: status $st"; }
# url= may be omitted.
run "$url"
[ "$st" -eq 0 ] || { cat "$tmpdir/err" >&2; fail "URL without url=: status $st"; }

# expect_bad PATTERN ARGS...: nbdkit fails, stderr matches ERE PATTERN.
expect_bad ()
{
  local pat=$1; shift
  run "$@"
  if [ "$st" -eq 0 ] || [ "$st" -eq 124 ] || grep -q served "$tmpdir/out"; then
    cat "$tmpdir/err" >&2
    fail "'${*//$t/${t:0:8}...}': status $st, expected a start-up failure"
  fi
  grep -q -E -- "$pat" "$tmpdir/err" ||
    { cat "$tmpdir/err" >&2; fail "'${*//$t/${t:0:8}...}': message does not match '$pat'"; }
  ! grep -q -F -- "$t" "$tmpdir/err" || fail "'${*//$t/${t:0:8}...}': the whole ticket is in the message"
}

expect_bad 'url' connections=2
expect_bad 'url=ftp://' "url=ftp://127.0.0.1/images/$t"
expect_bad 'url=.*(path|/images)' "url=http://127.0.0.1:$server_port"
expect_bad 'url=.*port' "url=http://127.0.0.1:99999/images/$t"
expect_bad 'url=.*port' "url=http://127.0.0.1:abc/images/$t"
expect_bad 'connections=0: must be between 1 and 64 connections' url="$url" connections=0
expect_bad '^nbdkit: error: connections=abc: expecting a whole number of connections from 1 to 64, e.g. connections=10$' url="$url" connections=abc
expect_bad 'connections=-1: expecting a whole number' url="$url" connections=-1
expect_bad 'timeout=0: must be between 1 and 3600 seconds' url="$url" timeout=0
expect_bad '^nbdkit: error: timeout=abc: expecting a whole number of seconds from 1 to 3600, e.g. timeout=10$' url="$url" timeout=abc
expect_bad 'timeout=99999999999999999999: must be between' url="$url" timeout=99999999999999999999
expect_bad 'timeout= : expecting a whole number' url="$url" "timeout= "
expect_bad 'idle_flush=0: must be between' url="$url" idle_flush=0
expect_bad 'extents_timeout=1h: expecting a whole number of seconds' url="$url" extents_timeout=1h
expect_bad 'insecure' url="$url" insecure=maybe
expect_bad 'is_ovirt_host' url="$url" is_ovirt_host=maybe
expect_bad 'zero_elision' url="$url" zero_elision=maybe
# nbdkit's own message ("could not parse size string") does not say which
# parameter; the plugin must.
expect_bad 'size=abc' url="$url" size=abc
expect_bad 'size=0' url="$url" size=0
expect_bad 'cafile' url="$url" cafile=
expect_bad "^nbdkit: error: unknown parameter 'foo' \(nbdkit imageio --help lists them\)$" url="$url" foo=bar
expect_bad "unknown parameter 'conections': did you mean 'connections'\?" url="$url" conections=2
expect_bad "unknown parameter 'timout': did you mean 'timeout'\?" url="$url" timout=2
expect_bad "unknown parameter 'ca_file': did you mean 'cafile'\?" url="$url" ca_file=x
expect_bad "unknown parameter 'insecur': did you mean 'insecure'\?" url="$url" insecur=true
expect_bad "unknown parameter 'max-unflushed': did you mean 'max_unflushed'\?" url="$url" max-unflushed=0
expect_bad "unknown parameter 'extents-timeout': did you mean 'extents_timeout'\?" url="$url" extents-timeout=5
expect_bad "unknown parameter 'URL': did you mean 'url'\?" URL="$url"
expect_bad 'max_unflushed=abc' url="$url" max_unflushed=abc
expect_bad 'max_unflushed=100G' url="$url" max_unflushed=100G
expect_bad 'retry_timeout' url="$url" retry_timeout=abc
expect_bad 'retry_timeout' url="$url" retry_timeout=100000
# A CA file that cannot be read is a mistake even when it would not be
# used (insecure=true, or an http:// URL).
expect_bad 'cafile=.*cannot read' url="$url" cafile="$tmpdir/no-such-ca.pem" insecure=true
expect_bad 'cafile=.*cannot read' url="$url" cafile="$tmpdir/no-such-dir/ca.pem"

# url=+FILE reads the URL from a file, so that nbdkit -v, which echoes
# every parameter, and ps do not show the ticket.
printf '%s\n' "$url" > "$tmpdir/url"
st=0
timeout 30 nbdkit -v -U - "$IMAGEIO_PLUGIN" url=+"$tmpdir/url" --run 'echo served' \
  >"$tmpdir/out" 2>"$tmpdir/err" || st=$?
[ "$st" -eq 0 ] && grep -q served "$tmpdir/out" ||
  { cat "$tmpdir/err" >&2; fail "url=+FILE: status $st"; }
grep -q -F -- "key=url, value=+$tmpdir/url" "$tmpdir/err" || fail "url=+FILE: nbdkit -v did not echo the parameter"
! grep -q -F -- "$t" "$tmpdir/err" || fail "url=+FILE: the whole ticket is in nbdkit -v's output"
expect_bad 'url' url=+"$tmpdir/no-such-file"

# url=- reads standard input: a pipe (as documented) ...
st=0
printf '%s\n' "$url" | timeout 30 nbdkit -U - "$IMAGEIO_PLUGIN" url=- --run 'echo served' \
  >"$tmpdir/out" 2>"$tmpdir/err" || st=$?
[ "$st" -eq 0 ] && grep -q served "$tmpdir/out" ||
  { cat "$tmpdir/err" >&2; fail "url=- from a pipe: status $st"; }
# ... and only its first line: what follows stays for the --run command.
st=0
printf '%s\nnext line\n' "$url" | timeout 30 nbdkit -U - "$IMAGEIO_PLUGIN" url=- --run 'cat' \
  >"$tmpdir/out" 2>"$tmpdir/err" || st=$?
[ "$st" -eq 0 ] && [ "$(cat "$tmpdir/out")" = "next line" ] ||
  { cat "$tmpdir/err" "$tmpdir/out" >&2; fail "url=- took more than its line"; }
expect_bad '^nbdkit: error: url=-: the URL read is empty$' url=- </dev/null
# Blanks around the URL (a paste into a file) are not part of it.
printf '  %s \t\r\n' "$url" > "$tmpdir/url-blanks"
run url=+"$tmpdir/url-blanks"
[ "$st" -eq 0 ] || { cat "$tmpdir/err" >&2; fail "url=+FILE with blanks: status $st"; }
# url=-FD: a descriptor the caller opened (3 here).
st=0
timeout 30 nbdkit -U - "$IMAGEIO_PLUGIN" url=-3 --run 'echo served' \
  3<"$tmpdir/url" >"$tmpdir/out" 2>"$tmpdir/err" || st=$?
[ "$st" -eq 0 ] && grep -q served "$tmpdir/out" ||
  { cat "$tmpdir/err" >&2; fail "url=-3: status $st"; }
expect_bad 'url=-0: cannot read the URL \(url=\+FILE reads a file, url=-FD a descriptor above 2, url=- standard input\)' url=-0
# With -s standard input is the NBD connection.
st=0
timeout 30 nbdkit -s "$IMAGEIO_PLUGIN" url=- </dev/null >"$tmpdir/out" 2>"$tmpdir/err" || st=$?
[ "$st" -ne 0 ] && grep -q -F 'url=-: standard input is the NBD connection (nbdkit -s): use url=+FILE or url=-FD' "$tmpdir/err" ||
  { cat "$tmpdir/err" >&2; fail "url=- with -s: status $st"; }
# --help lists every parameter.
nbdkit "$IMAGEIO_PLUGIN" --help > "$tmpdir/help" 2>&1 || fail "--help failed"
for p in url size cafile insecure is_ovirt_host connections timeout idle_flush zero_elision \
         max_unflushed retry_timeout; do
  grep -q -E "(^|[^a-z_])$p=" "$tmpdir/help" || { cat "$tmpdir/help" >&2; fail "--help lacks $p="; }
done

nbdkit "$IMAGEIO_PLUGIN" --dump-plugin > "$tmpdir/dump" 2>&1 || fail "--dump-plugin failed"
grep -q -E '^imageio_version=[0-9]' "$tmpdir/dump" || { cat "$tmpdir/dump" >&2; fail "no imageio_version="; }
grep -q '^name=imageio$' "$tmpdir/dump" || fail "--dump-plugin: name is not imageio"
expect_log_redacted "$t"
