#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The URL's shape is checked at start-up: [/PREFIX]/images/TICKET with
# nothing after the ticket, no query, an http(s) scheme.  Each of these
# malformed URLs (mistakes a user makes pasting a transfer URL) stops
# nbdkit at start-up with a message saying what is expected, and no output
# ever shows the ticket: not whole, not 9 characters of it, not its tail,
# whatever the path looks like.  A URL without a port names 54322 when the
# connection is refused.
source "$(dirname "$0")/functions.sh"
requires_cmd nbdkit timeout

truncate -s 1M "$tmpdir/disk.raw"
t=$(random_ticket)
make_ticket "$tmpdir/t.json" "$t" 1048576 "file://$tmpdir/disk.raw" read,write
start_server --tcp 127.0.0.1:0 --no-tls --ticket "$tmpdir/t.json"
h=localhost:$server_port

# A port where nothing listens (bound then closed), for the refused case.
closed_port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

n=0
# bad PATTERN URL: nbdkit fails at start-up, stderr matches ERE PATTERN,
# and neither stdout nor stderr holds any 9 characters of the ticket.
bad ()
{
  local pat=$1 url=$2 st=0 out=$tmpdir/out-$n err=$tmpdir/err-$n
  n=$(( n + 1 ))
  timeout 30 nbdkit -U - "$IMAGEIO_PLUGIN" "url=$url" --run 'echo served' \
    >"$out" 2>"$err" || st=$?
  if [ "$st" -eq 0 ] || [ "$st" -eq 124 ] || grep -q served "$out"; then
    cat "$err" >&2
    fail "URL $n: status $st, expected a start-up failure"
  fi
  grep -q -E -- "$pat" "$err" || { cat "$err" >&2; fail "URL $n: message does not match '$pat'"; }
  for piece in "$t" "${t:0:9}" "${t:8}" "${t:27}"; do
    ! grep -q -F -- "$piece" "$out" "$err" || { cat "$err" >&2; fail "URL $n: the ticket shows"; }
  done
  sed "s/^/  URL $n: /" "$err"
}

shape='expecting https://HOST:54322/images/TICKET'
bad "/image/${t:0:8}\.\.\.: the path is not /images/TICKET; $shape" "http://$h/image/$t"
bad "'/extents' follows the ticket; $shape" "http://$h/images/$t/extents"
bad "follows the ticket" "http://$h/images/$t/"
bad "follows the ticket" "http://$h/images/$t/images/$t"
bad "no query or fragment" "http://$h/images/$t?flush=y"
bad "no query or fragment" "http://$h/images/$t#frag"
bad "no query or fragment" "http://$h/images/?ticket=$t"
bad "the path is not /images/TICKET" "http://$h/$t"
bad "the path is not /images/TICKET" "http://$h/IMAGES/$t"
bad "the path is not /images/TICKET" "http://$h/tickets/$t"
bad "the path is not /images/TICKET" "http://$h/images-$t"
bad "no ticket after /images/" "http://$h/images//$t"
bad "space in the path" "http://$h/images/$t x"
bad "expecting an https:// or http:// URL" "$h/images/$t"
bad "expecting an https:// or http:// URL" "ftp://$h/images/$t"
bad "expecting an https:// or http:// URL" "https:/$h/images/$t"
bad "expecting an https:// or http:// URL" "$t"
bad "user information" "http://user:$t@$h/images/$t"
bad "unterminated IPv6" "http://[::1:$server_port/images/$t"
bad "invalid port" "http://localhost:$t/images/$t"
# Well formed, but not a ticket the server knows: its 404 is quoted with
# the URL shortened (a proxy prefix is accepted by the shape check).
bad "OPTIONS http://$h/proxy/images/${t:0:8}\.\.\.: 404" "http://$h/proxy/images/$t"
# The TLS port given as http:// and the other way round.
bad "use an http:// URL" "https://$h/images/$t"
# No port: the scheme's default, and a hint naming 54322 when refused.
# (http:// to localhost port 80 when nothing listens there.)
if ! (exec 3<>/dev/tcp/127.0.0.1/80) 2>/dev/null; then
  bad "Connection refused; the URL has no port, so the scheme's default was used: imageio listens on 54322" \
    "http://localhost/images/$t"
fi
bad "Connection refused\$" "http://localhost:$closed_port/images/$t"
[ "$n" -ge 20 ] || fail "only $n URLs tried"
expect_log_redacted "$t"
