#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Parameters: each bad one stops nbdkit at start-up (non-zero exit, nothing
# served) with a message naming it; --help lists every parameter;
# --dump-plugin prints imageio_version=.
source "$(dirname "$0")/functions.sh"
requires_cmd nbdkit timeout

truncate -s 1M "$tmpdir/disk.raw"
t=$(random_ticket)
make_ticket "$tmpdir/t.json" "$t" 1048576 "file://$tmpdir/disk.raw" read,write
start_server --tcp 127.0.0.1:0 --no-tls --ticket "$tmpdir/t.json"
url=http://127.0.0.1:$server_port/images/$t

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
expect_bad 'connections' url="$url" connections=0
expect_bad 'connections' url="$url" connections=abc
expect_bad 'connections' url="$url" connections=-1
expect_bad 'timeout' url="$url" timeout=0
expect_bad 'timeout' url="$url" timeout=abc
expect_bad 'idle_flush' url="$url" idle_flush=0
expect_bad 'insecure' url="$url" insecure=maybe
expect_bad 'is_ovirt_host' url="$url" is_ovirt_host=maybe
expect_bad 'zero_elision' url="$url" zero_elision=maybe
# nbdkit's own message ("could not parse size string") does not say which
# parameter; the plugin must.
expect_bad 'size=abc' url="$url" size=abc
expect_bad 'size=0' url="$url" size=0
expect_bad 'cafile' url="$url" cafile=
expect_bad "unknown.*'?foo'?" url="$url" foo=bar
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
