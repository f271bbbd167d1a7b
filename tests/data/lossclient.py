#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Scripted imageio client on several named connections, for the loss
tests (tests/test-server-faults-loss.sh): what one curl cannot do (keep a
connection open and idle while another writes).

  lossclient.py ADDR PATH [--timeout S] STEP...
      runs the STEPs in order and prints one line per request step:
      "CONN OP STATUS", STATUS being the HTTP status, "eof" (closed without
      an answer) or "timeout" (no answer within S seconds, default 5)
  lossclient.py check FILE OFFSET LENGTH BYTE
      exit 0 if every byte of FILE in [OFFSET, OFFSET+LENGTH) is BYTE
      (hex, e.g. ee), else print the first difference and exit 1

STEPs (CONN is any name; a connection opens at its first use and, once it
broke, opens again at the next):
  CONN:put:OFFSET:LENGTH:FLUSH:BYTE   PUT LENGTH bytes of BYTE (hex), flush y|n
  CONN:zero:OFFSET:LENGTH             PATCH zero, flush false
  CONN:flush                          PATCH flush
  CONN:close                          close the connection
  sleep:SECONDS

ADDR is unix:PATH or tcp:HOST:PORT (see rawhttp.py).  Every wait is
bounded by the timeout.
"""
import json
import os
import socket
import time
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rawhttp  # noqa: E402


def request(method, path, headers, body):
    head = "%s %s HTTP/1.1\r\nHost: localhost\r\n" % (method, path)
    for k, v in headers.items():
        head += "%s: %s\r\n" % (k, v)
    head += "Content-Length: %d\r\n\r\n" % len(body)
    return head.encode() + body


def run(addr, path, timeout, steps):
    conns = {}
    for step in steps:
        f = step.split(":")
        if f[0] == "sleep":
            time.sleep(float(f[1]))
            continue
        name, op = f[0], f[1]
        if op == "close":
            if name in conns:
                conns.pop(name).close()
            continue
        if op == "put":
            off, length, flush, byte = int(f[2]), int(f[3]), f[4], int(f[5], 16)
            data = request("PUT", "%s?flush=%s" % (path, flush),
                           {"Content-Range": "bytes %d-%d/*"
                            % (off, off + length - 1)},
                           bytes([byte]) * length)
        elif op == "zero":
            body = json.dumps({"op": "zero", "offset": int(f[2]),
                               "size": int(f[3]), "flush": False}).encode()
            data = request("PATCH", path,
                           {"Content-Type": "application/json"}, body)
        elif op == "flush":
            data = request("PATCH", path,
                           {"Content-Type": "application/json"},
                           b'{"op": "flush"}')
        else:
            raise SystemExit("unknown step " + step)
        if name not in conns:
            conns[name] = rawhttp.connect(addr, timeout)
        s = conns[name]
        try:
            s.sendall(data)
            a = rawhttp.read_answer(s)
            result = "eof" if a is None else str(a[0])
            if a is not None and a[1].get("connection", "").lower() == "close":
                conns.pop(name).close()
        except socket.timeout:
            result = "timeout"
        except (OSError, EOFError):
            result = "eof"
        if result in ("eof", "timeout"):
            conns.pop(name).close()
        print("%s %s %s" % (name, op, result), flush=True)
    return 0


def check(path, off, length, byte):
    want = int(byte, 16)
    with open(path, "rb") as fh:
        fh.seek(off)
        got = fh.read(length)
    if len(got) < length:
        got += b"\0" * (length - len(got))
    for i, b in enumerate(got):
        if b != want:
            print("offset %d: 0x%02x, expected 0x%02x" % (off + i, b, want))
            return 1
    return 0


def main():
    a = sys.argv[1:]
    if len(a) >= 5 and a[0] == "check":
        return check(a[1], int(a[2]), int(a[3]), a[4])
    if len(a) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    addr, path, rest = a[0], a[1], a[2:]
    timeout = 5.0
    if rest[0] == "--timeout":
        timeout = float(rest[1])
        rest = rest[2:]
    return run(addr, path, timeout, rest)


if __name__ == "__main__":
    sys.exit(main())
