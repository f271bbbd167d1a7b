#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Sends the same requests to two imageio servers and compares the answers.

  conformance.py REAL OURS RW_TICKET RO_TICKET SIZE DIRTY_TICKET [--dump]

REAL and OURS are unix:PATH (plain HTTP on a Unix socket) or
https:HOST:PORT:CAFILE.  Both serve the same tickets (same ids) on identical
images of SIZE bytes: RW_TICKET read-write, RO_TICKET read-only, and
DIRTY_TICKET a read-only ticket with "dirty": true on a qcow2 image served
with a dirty bitmap (an incremental backup).  For each
request the comparison covers the status, the headers a client reads
(Content-Type, Content-Range, Allow, Connection, Content-Length where the
body is data)
and the body's shape (JSON: keys and value types, and values where they
must agree; text: present or not; data: the bytes).

A difference fails, unless it is one of ALLOWED below, each the name of an
entry in docs/protocol.md's "Deliberate differences" (the shell test checks
the names are there).  Prints one line per request; ticket ids are never
printed whole.
"""
import http.client
import json
import socket
import ssl
import sys


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.path)
        self.sock = s


def connect(addr):
    kind, rest = addr.split(":", 1)
    if kind == "unix":
        return UnixConnection(rest)
    host, port, cafile = rest.split(":", 2)
    ctx = ssl.create_default_context(cafile=cafile)
    return http.client.HTTPSConnection(host, int(port), context=ctx, timeout=30)


def shape(v):
    """The type structure of a JSON value."""
    if isinstance(v, dict):
        return {k: shape(x) for k, x in sorted(v.items())}
    if isinstance(v, list):
        # A list's shape: the set of its items' shapes.
        out = []
        for x in v:
            s = shape(x)
            if s not in out:
                out.append(s)
        return ["list"] + out
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if v is None:
        return "null"
    return "string"


def norm_allow(v):
    return ",".join(sorted(x.strip().upper() for x in v.split(","))) if v else None


def answer(addr, method, path, body=None, headers=None):
    c = connect(addr)
    try:
        try:
            c.request(method, path, body=body, headers=headers or {})
        except (BrokenPipeError, ConnectionResetError):
            # The server answered without reading the whole body and
            # closed: its answer may still be there to read.
            pass
        r = c.getresponse()
        data = r.read()
    except (OSError, http.client.HTTPException) as e:
        return {"status": "no answer (%s)" % type(e).__name__}
    finally:
        c.close()
    ctype = (r.getheader("Content-Type") or "").split(";")[0].strip().lower()
    a = {"status": r.status}
    a["content-range"] = r.getheader("Content-Range")
    a["allow"] = norm_allow(r.getheader("Allow"))
    a["connection"] = (r.getheader("Connection") or "").lower() or None
    if ctype == "application/json":
        a["type"] = "json"
        try:
            a["json"] = json.loads(data)
        except ValueError:
            a["json"] = "<invalid JSON>"
        a["shape"] = shape(a["json"])
    elif ctype == "application/octet-stream" or (200 <= r.status < 300 and method == "GET"):
        a["type"] = ctype or "none"
        a["data"] = data
        a["content-length"] = r.getheader("Content-Length")
    else:
        a["type"] = ctype or "none"
        a["text"] = bool(data.strip())
    return a


# name -> (method, path template, body, headers, what must agree beyond shape)
def requests(rw, ro, size, dirty):
    img = "/images/" + rw
    dimg = "/images/" + dirty
    rimg = "/images/" + ro
    unknown = "/images/00000000-0000-4000-8000-000000000000"
    zero = lambda off, n, flush=False: json.dumps(
        {"op": "zero", "offset": off, "size": n, "flush": flush})
    return [
        ("OPTIONS *", "OPTIONS", "/images/*", None, {}),
        ("OPTIONS ticket", "OPTIONS", img, None, {}),
        ("OPTIONS read-only ticket", "OPTIONS", rimg, None, {}),
        ("OPTIONS unknown ticket", "OPTIONS", unknown, None, {}),
        ("GET range", "GET", img, None, {"Range": "bytes=0-65535"}),
        ("GET range middle", "GET", img, None, {"Range": "bytes=1000-5000"}),
        ("GET range to end", "GET", img, None, {"Range": "bytes=%d-" % (size - 4096)}),
        ("GET whole", "GET", img, None, {}),
        ("GET read-only ticket", "GET", rimg, None, {"Range": "bytes=0-4095"}),
        ("GET range past end", "GET", img, None, {"Range": "bytes=%d-%d" % (size, size + 10)}),
        ("GET range crossing end", "GET", img, None, {"Range": "bytes=%d-%d" % (size - 10, size + 10)}),
        ("GET bad range", "GET", img, None, {"Range": "bytes=abc"}),
        ("GET reversed range", "GET", img, None, {"Range": "bytes=10-5"}),
        ("GET range from end", "GET", img, None, {"Range": "bytes=%d-" % size}),
        ("GET suffix range", "GET", img, None, {"Range": "bytes=-512"}),
        ("GET multiple ranges", "GET", img, None, {"Range": "bytes=0-1,4-5"}),
        ("GET range unit", "GET", img, None, {"Range": "items=0-1"}),
        ("GET range huge", "GET", img, None, {"Range": "bytes=99999999999999999999999-"}),
        ("GET unknown ticket", "GET", unknown, None, {"Range": "bytes=0-511"}),
        ("PUT", "PUT", img + "?flush=n", b"\x11" * 4096,
         {"Content-Range": "bytes 4096-8191/*"}),
        ("PUT flush", "PUT", img + "?flush=y", b"\x12" * 4096,
         {"Content-Range": "bytes 8192-12287/*"}),
        ("PUT without Content-Range", "PUT", img, b"\x13" * 4096, {}),
        ("PUT past end", "PUT", img, b"\x14" * 4096,
         {"Content-Range": "bytes %d-%d/*" % (size, size + 4095)}),
        ("PUT crossing end", "PUT", img, b"\x14" * 4096,
         {"Content-Range": "bytes %d-%d/*" % (size - 2048, size + 2047)}),
        ("PUT bad Content-Range", "PUT", img, b"\x15" * 16,
         {"Content-Range": "bytes x-y/*"}),
        ("PUT read-only ticket", "PUT", rimg, b"\x16" * 4096,
         {"Content-Range": "bytes 0-4095/*"}),
        ("PUT unknown ticket", "PUT", unknown, b"\x17" * 4096,
         {"Content-Range": "bytes 0-4095/*"}),
        ("PATCH zero", "PATCH", img, zero(65536, 65536), {"Content-Type": "application/json"}),
        ("PATCH zero flush", "PATCH", img, zero(131072, 4096, True), {"Content-Type": "application/json"}),
        ("PATCH zero past end", "PATCH", img, zero(size, 4096), {"Content-Type": "application/json"}),
        ("PATCH zero crossing end", "PATCH", img, zero(size - 512, 4096), {"Content-Type": "application/json"}),
        ("PATCH zero negative", "PATCH", img, zero(-1, 4096), {"Content-Type": "application/json"}),
        ("PATCH zero no size", "PATCH", img, json.dumps({"op": "zero", "offset": 0}),
         {"Content-Type": "application/json"}),
        ("PATCH flush", "PATCH", img, json.dumps({"op": "flush"}), {"Content-Type": "application/json"}),
        ("PATCH unknown op", "PATCH", img, json.dumps({"op": "shred"}), {"Content-Type": "application/json"}),
        ("PATCH bad JSON", "PATCH", img, b"{\"op\": ", {"Content-Type": "application/json"}),
        ("PATCH JSON array", "PATCH", img, b"[1, 2]", {"Content-Type": "application/json"}),
        ("PATCH read-only ticket", "PATCH", rimg, zero(0, 4096), {"Content-Type": "application/json"}),
        ("PATCH unknown ticket", "PATCH", unknown, json.dumps({"op": "flush"}),
         {"Content-Type": "application/json"}),
        ("GET extents", "GET", img + "/extents", None, {}),
        ("GET extents zero", "GET", img + "/extents?context=zero", None, {}),
        ("GET extents dirty, not a dirty ticket", "GET", img + "/extents?context=dirty", None, {}),
        ("GET extents bad context", "GET", img + "/extents?context=bogus", None, {}),
        ("GET extents start length", "GET", img + "/extents?start=65536&length=65536", None, {}),
        ("GET extents bad start", "GET", img + "/extents?start=x", None, {}),
        ("OPTIONS dirty ticket", "OPTIONS", dimg, None, {}),
        ("GET extents dirty", "GET", dimg + "/extents?context=dirty", None, {}),
        ("GET extents zero, dirty ticket", "GET", dimg + "/extents?context=zero", None, {}),
        ("GET extents, dirty ticket", "GET", dimg + "/extents", None, {}),
        ("GET range, dirty ticket", "GET", dimg, None, {"Range": "bytes=0-1048575"}),
        ("GET extents read-only ticket", "GET", rimg + "/extents", None, {}),
        ("GET extents unknown ticket", "GET", unknown + "/extents", None, {}),
        ("GET checksum", "GET", img + "/checksum", None, {}),
        ("GET checksum sha1", "GET", img + "/checksum?algorithm=sha1", None, {}),
        ("GET checksum block_size", "GET", img + "/checksum?block_size=1048576", None, {}),
        ("GET checksum bad algorithm", "GET", img + "/checksum?algorithm=bogus", None, {}),
        ("GET checksum bad block_size", "GET", img + "/checksum?block_size=100", None, {}),
        ("GET checksum unknown ticket", "GET", unknown + "/checksum", None, {}),
        ("GET checksum algorithms", "GET", "/images/*/checksum/algorithms", None, {}),
        ("GET unknown resource", "GET", "/nothing", None, {}),
        ("DELETE image", "DELETE", img, None, {}),
        ("POST image", "POST", img, b"x", {}),
    ]


# Differences allowed, each named after its entry in docs/protocol.md
# ("Deliberate differences", the name in brackets): request name ->
# (doc name, the fields that differ).  Exactly those fields must differ:
# an allowed difference that went away is reported too, so that the list
# stays true.
ALLOWED = {
    "OPTIONS ticket": ("options-image-facts", {"json-shape"}),
    "OPTIONS read-only ticket": ("options-image-facts", {"json-shape"}),
    "OPTIONS dirty ticket": ("options-image-facts", {"json-shape"}),
    "GET range from end": ("range-from-end",
                           {"status", "type", "content-range", "content-length", "data", "text"}),
    "GET range huge": ("range-huge", {"status", "content-range"}),
    "PATCH JSON array": ("patch-json-array", {"status"}),
    "GET extents start length": ("partial-extents", {"json-values"}),
    "GET extents bad start": ("partial-extents", {"status", "type", "json-shape", "text"}),
    "GET checksum sha1": ("checksum-algorithms", {"status", "type", "json-shape", "text"}),
    "GET checksum algorithms": ("checksum-algorithms", {"json-values"}),
    "GET checksum unknown ticket": ("checksum-403-close", {"connection"}),
    "DELETE image": ("allow-on-405", {"allow"}),
    "POST image": ("allow-on-405", {"allow"}),
}


# Differences allowed in any request: field -> doc name.
ALLOWED_EVERYWHERE = {
    "extents-merged": "merged-extents",
}


def merge_extents(items):
    """Adjacent extents with the same values but start and length, merged."""
    out = []
    for it in items:
        if not isinstance(it, dict):
            return items
        rest = {k: v for k, v in it.items() if k not in ("start", "length")}
        if out and out[-1][1] == rest and out[-1][0]["end"] == it.get("start"):
            out[-1][0]["end"] += it.get("length", 0)
        else:
            out.append(({"start": it.get("start"), "end": it.get("start", 0) + it.get("length", 0)}, rest))
    return out


def compare(name, a, b):
    """[(field, message)] where answers a (real) and b (ours) differ."""
    diffs = []
    for k in ("status", "type", "content-range", "allow", "content-length", "connection"):
        if a.get(k) != b.get(k):
            diffs.append((k, "%s: real %r, ours %r" % (k, a.get(k), b.get(k))))
    if "shape" in a or "shape" in b:
        ja, jb = a.get("json"), b.get("json")
        if a.get("shape") != b.get("shape"):
            diffs.append(("json-shape", "json shape: real %s, ours %s"
                          % (json.dumps(a.get("shape")), json.dumps(b.get("shape")))))
        elif (name.startswith("GET extents") and ja != jb and isinstance(ja, list)
              and isinstance(jb, list) and merge_extents(ja) == merge_extents(jb)):
            diffs.append(("extents-merged", "the same extents, split differently: "
                          "real %d, ours %d items" % (len(ja), len(jb))))
        elif name.startswith(("GET extents", "GET checksum")) and ja != jb:
            diffs.append(("json-values", "json values: real %s, ours %s"
                          % (json.dumps(ja)[:200], json.dumps(jb)[:200]) + (("\n  first difference: real %s, ours %s" % next(((x, y) for x, y in zip(ja, jb) if x != y), (None, None))) if isinstance(ja, list) and isinstance(jb, list) else "")))
        elif name.startswith("OPTIONS") and isinstance(ja, dict):
            # unix_socket names each server's own socket.
            for k in sorted(set(ja) | set(jb)):
                if k != "unix_socket" and ja.get(k) != jb.get(k):
                    diffs.append(("json-values", "OPTIONS %s: real %r, ours %r"
                                  % (k, ja.get(k), jb.get(k))))
    if ("data" in a or "data" in b) and a.get("data") != b.get("data"):
        diffs.append(("data", "data: real %s, ours %s"
                      % (len(a["data"]) if "data" in a else "none",
                         len(b["data"]) if "data" in b else "none")))
    if ("text" in a or "text" in b) and a.get("text") != b.get("text"):
        diffs.append(("text", "error text: real %s, ours %s" % (a.get("text"), b.get("text"))))
    return diffs


def brief(a):
    out = "%s %s" % (a["status"], a.get("type", ""))
    if a.get("connection"):
        out += " Connection=" + a["connection"]
    if a.get("content-range"):
        out += " CR=" + a["content-range"]
    if a.get("allow"):
        out += " Allow=" + a["allow"]
    if "json" in a:
        out += " " + json.dumps(a["json"])[:160]
    return out


def loud(line):
    """Prints a failing verdict on stdout, in order, and on stderr too, which
    meson shows in full when it cuts a long log to its last 100 lines."""
    print(line)
    sys.stdout.flush()
    print(line, file=sys.stderr)


def judge(name, a, b, diffs, allowed, quiet_same=False):
    """Prints one line on request NAME, answered A by the real daemon and B
    by ours, which differ in DIFFS ([(field, message)]); ALLOWED: the
    deliberate difference (name, fields) for NAME, or None.  Returns 1 when
    the answers differ in a way not allowed, else 0."""
    if not isinstance(a["status"], int):
        # Both silent would compare equal: that is no test.
        loud("NO ANSWER %s from the real daemon: %s" % (name, a["status"]))
        return 1
    fields = set(f for f, _ in diffs)
    text = "; ".join(m for _, m in diffs)
    if not diffs and not allowed:
        if not quiet_same:
            print("same      %s: %s" % (name, brief(a)[:120]))
    elif allowed and fields == allowed[1]:
        print("allowed   %s [%s]: %s" % (name, allowed[0], text))
    elif allowed:
        loud("CHANGED   %s: allowed [%s] differs in %s, now in %s: %s"
             % (name, allowed[0], sorted(allowed[1]), sorted(fields), text or "nothing"))
        return 1
    else:
        loud("DIFFERENT %s: %s" % (name, text))
        return 1
    return 0


def main():
    real, ours, rw, ro, size, dirty = sys.argv[1:7]
    size = int(size)
    dump = "--dump" in sys.argv
    failed = 0
    for name, method, path, body, headers in requests(rw, ro, size, dirty):
        a = answer(real, method, path, body, headers)
        b = answer(ours, method, path, body, headers)
        diffs = compare(name, a, b) if isinstance(a["status"], int) else []
        if dump:
            print("%-40s real: %s" % (name, brief(a)))
            print("%-40s ours: %s" % ("", brief(b)))
        everywhere = [(f, m) for f, m in diffs if f in ALLOWED_EVERYWHERE]
        diffs = [(f, m) for f, m in diffs if f not in ALLOWED_EVERYWHERE]
        for f, m in everywhere:
            print("allowed   %s [%s]: %s" % (name, ALLOWED_EVERYWHERE[f], m))
        failed += judge(name, a, b, diffs, ALLOWED.get(name), bool(everywhere))
    if failed:
        sys.exit("%d requests answered differently" % failed)


if __name__ == "__main__":
    main()
