#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Every --fault mode is observable from a client: old OPTIONS answers,
# missing features, corrupt extents documents, delays, dropped connections,
# injected errors, max_readers/max_writers overrides.
source "$(dirname "$0")/functions.sh"
requires_cmd curl jq qemu-img qemu-io qemu-nbd

mib=1048576
size=$(( 4 * mib ))
q=$tmpdir/q.qcow2
qemu-img create -q -f qcow2 "$q" $size
qemu-io -f qcow2 -c 'write -P 1 0 64k' -c 'write -P 2 1M 64k' -c 'write -P 3 3M 64k' "$q" >/dev/null
start_qemu_nbd "$q" qcow2
t=$(random_ticket)
make_ticket "$tmpdir/t.json" "$t" $size "nbd:unix:$nbd_sock" read,write
url=http://localhost/images/$t

with_fault ()
{
  [ -z "${server_pid:-}" ] || stop_server
  start_server_unix --ticket "$tmpdir/t.json" "$@"
  u=(--unix-socket "$server_sock")
}

patch ()
{
  request "${u[@]}" -X PATCH -H 'Content-Type: application/json' --data-binary "$1" "$url"
}

has_feature ()
{
  jq -e --arg f "$1" '.features | index($f) != null' "$resp_body" >/dev/null
}

# Baseline: no fault.
with_fault
request "${u[@]}" -X OPTIONS "$url"
expect_status 200 "OPTIONS without faults"
for f in extents flush zero; do has_feature $f || fail "no fault: lacks $f"; done
request "${u[@]}" "$url/extents"
expect_status 200 "extents without faults"
/usr/bin/python3 "$SRCDIR/tests/data/extents-check.py" "$resp_body" $size zero || fail "extents without faults"
n_ext=$(jq length "$resp_body")
[ "$n_ext" -ge 4 ] || fail "the test image should have several extents, got $n_ext"

# options=405: an old daemon; GET and PUT still work.
with_fault --fault options=405
request "${u[@]}" -X OPTIONS "$url"
expect_status 405 "options=405"
request "${u[@]}" -H "Range: bytes=0-0" "$url"
expect_status 206 "GET with options=405"
request "${u[@]}" -X PUT -H "Content-Range: bytes 0-0/*" --data-binary x "$url"
expect_status 200 "PUT with options=405"

# options=204: an old proxy, empty body.
with_fault --fault options=204
request "${u[@]}" -X OPTIONS "$url"
expect_status 204 "options=204"
[ ! -s "$resp_body" ] || fail "options=204 with a body"

# no-zero: no "zero" feature, PATCH zero 405, flush works.
with_fault --fault no-zero
request "${u[@]}" -X OPTIONS "$url"
expect_status 200 "OPTIONS with no-zero"
has_feature zero && fail "no-zero: zero still listed"
has_feature flush || fail "no-zero: flush missing"
has_feature extents || fail "no-zero: extents missing"
patch '{"op": "zero", "size": 4096}'
expect_status 405 "PATCH zero with no-zero"
patch '{"op": "flush"}'
expect_status 200 "PATCH flush with no-zero"

# no-extents: no "extents" feature, GET /extents 404.
with_fault --fault no-extents
request "${u[@]}" -X OPTIONS "$url"
has_feature extents && fail "no-extents: extents still listed"
has_feature zero || fail "no-extents: zero missing"
request "${u[@]}" "$url/extents"
expect_status 404 "extents with no-extents"

# extents=KIND: the document is wrong in exactly that way.
check_corrupt ()
{
  /usr/bin/python3 - "$1" "$2" "$size" <<'PY'
import json, sys
kind, path, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
text = open(path).read()
try:
    doc = json.loads(text)
except ValueError:
    sys.exit(0 if kind == "garbage" else "not JSON")
if kind == "garbage":
    sys.exit("garbage: the document is valid JSON")
if not isinstance(doc, list) or not doc:
    sys.exit("not a list")
starts = [e["start"] for e in doc]
ok = {
  "unsorted": starts != sorted(starts),
  "gap": any(b["start"] > a["start"] + a["length"] for a, b in zip(doc, doc[1:])),
  "overlap": any(b["start"] < a["start"] + a["length"] for a, b in zip(doc, doc[1:])),
  "short": doc[-1]["start"] + doc[-1]["length"] < size
           and starts == sorted(starts),
  "negative": any(e["start"] < 0 or e["length"] < 0 for e in doc),
  "badflag": any(e.get("zero") == "yes" for e in doc),
}[kind]
sys.exit(0 if ok else "%s: not visible in %s" % (kind, text[:500]))
PY
}
for kind in unsorted gap overlap short garbage negative badflag; do
  with_fault --fault "extents=$kind"
  request "${u[@]}" "$url/extents"
  expect_status 200 "extents=$kind"
  check_corrupt "$kind" "$resp_body" || fail "extents=$kind"
done

# extents-delay=MS.
with_fault --fault extents-delay=1000
t0=$(_now_ms)
request "${u[@]}" "$url/extents"
expect_status 200 "extents-delay"
el=$(( $(_now_ms) - t0 ))
[ "$el" -ge 950 ] || fail "extents-delay=1000 answered in $el ms"
[ "$el" -lt 10000 ] || fail "extents-delay=1000 took $el ms"

# drop=2: the second image request (counting OPTIONS) gets no answer.
with_fault --fault drop=2
request "${u[@]}" -X OPTIONS "$url"
expect_status 200 "drop=2: request 1"
request "${u[@]}" -H "Range: bytes=0-0" "$url"
[ "$status" = 000 ] || fail "drop=2: request 2 answered $status"
request "${u[@]}" -H "Range: bytes=0-0" "$url"
expect_status 206 "drop=2: request 3"
server_alive || fail "drop=2: server died"

# error=N:STATUS: the Nth image request gets STATUS and a text body.
with_fault --fault error=3:500
request "${u[@]}" -X OPTIONS "$url"
expect_status 200 "error=3:500: request 1"
request "${u[@]}" -X PUT --data-binary x "$url"
expect_status 200 "error=3:500: request 2"
request "${u[@]}" -H "Range: bytes=0-0" "$url"
expect_status 500 "error=3:500: request 3"
[ -s "$resp_body" ] || fail "error=3:500: empty body"
case "$(header content-type)" in text/plain*) ;; *) fail "error body Content-Type '$(header content-type)'" ;; esac
request "${u[@]}" -H "Range: bytes=0-0" "$url"
expect_status 206 "error=3:500: request 4"
with_fault --fault error=1:503
request "${u[@]}" "$url/extents"
expect_status 503 "error=1:503"

# max-writers / max-readers, and several faults at once.
with_fault --fault max-writers=3 --fault max-readers=5 --fault no-zero
request "${u[@]}" -X OPTIONS "$url"
expect_status 200 "OPTIONS with max-*"
[ "$(jq .max_writers "$resp_body")" = 3 ] || fail "max-writers=3: $(cat "$resp_body")"
[ "$(jq .max_readers "$resp_body")" = 5 ] || fail "max-readers=5: $(cat "$resp_body")"
has_feature zero && fail "no-zero with max-*: zero listed"

stop_server
[ "$server_status" -eq 0 ] || fail "server exit status $server_status"
expect_log_redacted "$t"
