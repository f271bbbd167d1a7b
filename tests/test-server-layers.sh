#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# imageio-server's layering: the HTTP layer (server/http.c, http.h)
# includes no service or backend header (services register routes on it),
# no server header includes itself back through another (no include
# cycle), and the binary does not link OpenSSL (TLS is GnuTLS inside
# libmicrohttpd; checksums use libb2).
source "$(dirname "$0")/functions.sh"
requires_cmd readelf

for f in "$SRCDIR/server/http.c" "$SRCDIR/server/http.h"; do
  bad=$(grep -n -E '#include "(images|control|backend|tickets|extents-json|faults|checksum)\.h"' "$f" || true)
  [ -z "$bad" ] || fail "$(basename "$f") includes a service header: $bad"
done

# Nor does it declare their functions (the old circle: http.h declared
# images_handle and control_handle, and images.c included http.h).
bad=$(grep -n -E '\b(images|control)_[a-z_]+ \(' "$SRCDIR/server/http.h" || true)
[ -z "$bad" ] || fail "http.h declares service functions: $bad"

# Include graph of server/*.h and server/*.c (local headers only): no
# cycle among headers, and no .c file's header includes another .c file's
# service header that includes it back.
/usr/bin/python3 - "$SRCDIR/server" <<'PY' || fail "include cycle in server/"
import os, re, sys
d = sys.argv[1]
graph = {}
for name in os.listdir(d):
    if name.endswith((".c", ".h")):
        with open(os.path.join(d, name)) as f:
            graph[name] = [m for m in re.findall(r'#include "([^"]+)"', f.read())
                           if os.path.exists(os.path.join(d, m))]
# A .c file "uses" its own header; treat X.c and X.h as one node.
def node(n):
    return n[:-2]
edges = {}
for src, incs in graph.items():
    for h in incs:
        if node(h) != node(src):
            edges.setdefault(node(src), set()).add(node(h))
seen, stack = set(), []
def visit(n, path):
    if n in path:
        print("cycle: " + " -> ".join(path[path.index(n):] + [n]))
        sys.exit(1)
    if n in seen:
        return
    for m in sorted(edges.get(n, ())):
        visit(m, path + [n])
    seen.add(n)
for n in sorted(edges):
    visit(n, [])
PY

needed=$(readelf -d "$IMAGEIO_SERVER" | grep NEEDED || true)
if grep -q -E 'libssl|libcrypto' <<< "$needed"; then
  fail "imageio-server links OpenSSL: $needed"
fi
grep -q 'MHD_OPTION_ARRAY' "$SRCDIR/server/http.c" || fail "http.c does not build its options as an array"
