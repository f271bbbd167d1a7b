#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""The control service (/tickets) of two imageio servers, compared.

  conformance-control.py REAL_CONTROL REAL_IMAGES REAL_NBD \
                         OURS_CONTROL OURS_IMAGES OURS_NBD [--dump]

Each address is unix:PATH.  *_NBD is the NBD socket (a writable 1 MiB
image) the tickets point at on that server.  The same sequence runs on
both: tickets added (good, bad JSON, a missing field, an id that does not
match the path), read back, extended, used through the images service (a
read-only ticket read twice over overlapping ranges, a write-only ticket
written, zeroed and read), read back again (their "transferred"), deleted
one by one and all at once (DELETE /tickets/).  Answers are compared as in
conformance.py; a ticket's description must agree in every value but
expires and idle_time (clocks) and url (each server's own socket).  A
difference fails unless ALLOWED names it (each in docs/protocol.md).
Ticket ids here are made up, not secrets.
"""
import json
import sys
import time

import conformance as c

R = "11111111-2222-4333-8444-555555555555"
W = "22222222-2222-4333-8444-555555555555"
UNKNOWN = "00000000-0000-4000-8000-000000000000"
OTHER = "33333333-2222-4333-8444-555555555555"
JSON = {"Content-Type": "application/json"}

ALLOWED = {
    "PUT ticket, id not the path's": ("ticket-id-mismatch",
                                      {"status", "type", "text"}),
    "POST ticket": ("allow-on-405", {"allow"}),
    "OPTIONS write-only ticket": ("options-image-facts", {"json-shape"}),
}


def ticket(uuid, ops, nbd):
    return json.dumps({"uuid": uuid, "size": 1048576, "url": "nbd:unix:" + nbd,
                       "ops": ops, "timeout": 300, "inactivity_timeout": 60,
                       "sparse": True, "dirty": False})


def steps(nbd):
    """(name, service, method, path, body, headers): service is "ctl" or
    "img"."""
    t = "/tickets/"
    return [
        ("GET unknown ticket", "ctl", "GET", t + UNKNOWN, None, {}),
        ("GET /tickets/", "ctl", "GET", t, None, {}),
        ("PUT read-only ticket", "ctl", "PUT", t + R, ticket(R, ["read"], nbd), JSON),
        ("PUT write-only ticket", "ctl", "PUT", t + W, ticket(W, ["write"], nbd), JSON),
        ("PUT ticket, bad JSON", "ctl", "PUT", t + OTHER, "{bad", JSON),
        ("PUT ticket, no size", "ctl", "PUT", t + OTHER,
         json.dumps({k: v for k, v in json.loads(ticket(OTHER, ["read"], nbd)).items()
                     if k != "size"}), JSON),
        ("PUT ticket, id not the path's", "ctl", "PUT", t + UNKNOWN,
         ticket(OTHER, ["read"], nbd), JSON),
        ("GET read-only ticket", "ctl", "GET", t + R, None, {}),
        ("GET write-only ticket", "ctl", "GET", t + W, None, {}),
        ("read 0-64K", "img", "GET", "/images/" + R, None, {"Range": "bytes=0-65535"}),
        ("read 32K-96K", "img", "GET", "/images/" + R, None,
         {"Range": "bytes=32768-98303"}),
        ("read 0-64K again", "img", "GET", "/images/" + R, None,
         {"Range": "bytes=0-65535"}),
        ("write 0-4K", "img", "PUT", "/images/" + W, b"\x61" * 4096,
         {"Content-Range": "bytes 0-4095/*"}),
        ("zero 8K at 8K", "img", "PATCH", "/images/" + W,
         json.dumps({"op": "zero", "offset": 8192, "size": 8192}), JSON),
        ("read a write-only ticket", "img", "GET", "/images/" + W, None,
         {"Range": "bytes=0-4095"}),
        ("OPTIONS write-only ticket", "img", "OPTIONS", "/images/" + W, None, {}),
        ("GET read-only ticket, read", "ctl", "GET", t + R, None, {}),
        ("GET write-only ticket, written", "ctl", "GET", t + W, None, {}),
        ("PATCH timeout", "ctl", "PATCH", t + R, json.dumps({"timeout": 600}), JSON),
        ("PATCH bad JSON", "ctl", "PATCH", t + R, "{bad", JSON),
        ("PATCH no timeout", "ctl", "PATCH", t + R, json.dumps({"x": 1}), JSON),
        ("PATCH unknown ticket", "ctl", "PATCH", t + UNKNOWN,
         json.dumps({"timeout": 600}), JSON),
        ("GET read-only ticket, extended", "ctl", "GET", t + R, None, {}),
        ("POST ticket", "ctl", "POST", t + R, "{}", JSON),
        ("GET other path", "ctl", "GET", "/foo", None, {}),
        ("DELETE read-only ticket", "ctl", "DELETE", t + R, None, {}),
        ("DELETE it again", "ctl", "DELETE", t + R, None, {}),
        ("GET deleted ticket", "ctl", "GET", t + R, None, {}),
        ("read deleted ticket", "img", "GET", "/images/" + R, None,
         {"Range": "bytes=0-511"}),
        ("PUT read-only ticket again", "ctl", "PUT", t + R,
         ticket(R, ["read"], nbd), JSON),
        ("DELETE /tickets/", "ctl", "DELETE", t, None, {}),
        ("GET read-only ticket after DELETE /tickets/", "ctl", "GET", t + R, None, {}),
        ("GET write-only ticket after DELETE /tickets/", "ctl", "GET", t + W, None, {}),
    ]


def settled(a):
    """True unless A describes a ticket with a connection or a request
    still counted: both servers count a request's bytes in "transferred",
    and drop its connection, only after the client has its whole answer,
    so a GET sent at once may see them a moment early (as under load)."""
    j = a.get("json")
    return not (isinstance(j, dict) and (j.get("connections") or j.get("active")))


def run(ctl, img, nbd):
    out = []
    for name, service, method, path, body, headers in steps(nbd):
        addr = ctl if service == "ctl" else img
        a = c.answer(addr, method, path, body, headers)
        # Asked again until settled, 5 s at most: a server that never
        # settles is then compared as it is.
        deadline = time.monotonic() + 5
        while (service == "ctl" and method == "GET" and not settled(a)
               and time.monotonic() < deadline):
            time.sleep(0.02)
            a = c.answer(addr, method, path, body, headers)
        out.append((name, a))
    return out


def info_diffs(a, b):
    """Values of two ticket descriptions that must agree but do not."""
    ja, jb = a.get("json"), b.get("json")
    if not isinstance(ja, dict) or not isinstance(jb, dict):
        return []
    return [("json-values", "%s: real %r, ours %r" % (k, ja.get(k), jb.get(k)))
            for k in sorted(set(ja) | set(jb))
            if k not in ("expires", "idle_time", "url") and ja.get(k) != jb.get(k)]


def main():
    real = run(*sys.argv[1:4])
    ours = run(*sys.argv[4:7])
    dump = "--dump" in sys.argv
    failed = 0
    for (name, a), (_, b) in zip(real, ours):
        diffs = c.compare(name, a, b) if isinstance(a["status"], int) else []
        if name.startswith("GET") and "ticket" in name and not diffs:
            diffs = info_diffs(a, b)
        if dump:
            print("%-45s real: %s" % (name, c.brief(a)))
            print("%-45s ours: %s" % ("", c.brief(b)))
        failed += c.judge(name, a, b, diffs, ALLOWED.get(name))
    if failed:
        sys.exit("%d control requests answered differently" % failed)


if __name__ == "__main__":
    main()
