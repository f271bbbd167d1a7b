#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Requests whose client goes away before the answer, for the server tests.

  abandon.py ADDR KIND COUNT [SECONDS]

ADDR is HOST:PORT or a Unix socket path.  KIND:

  checksum:FILE  GET /images/ID/checksum (ID read from FILE, so that it is
                 not in any command line), the connection closed 0.05 s
                 after the request was sent
  longquery:N[:S] a request whose query string is N bytes of short
                 arguments (more than libmicrohttpd's memory pool holds:
                 it answers 431 itself), the connection closed at once,
                 or S seconds after the batch was sent (a slow server,
                 e.g. under valgrind, reads none of them otherwise)
  bighead:N      a request head with one N-byte header line (over
                 libmicrohttpd's 256 KiB pool: it answers 431 itself), the
                 connection closed at once
  halfhead:N:S   longquery's request without the blank line that ends
                 its head (the server has its request line, then waits
                 for the rest), the connection closed S seconds after the
                 batch was sent

Sends COUNT such requests (up to 50 at a time) within SECONDS (default
60), then prints sent=N.  Bounded in count and time; loopback or Unix
sockets only.
"""
import socket
import sys
import time


def connect(addr):
    if addr.startswith("/"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(addr)
    else:
        host, port = addr.rsplit(":", 1)
        s = socket.create_connection((host, int(port)), timeout=5)
    return s


def main():
    addr, kind, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    seconds = float(sys.argv[4]) if len(sys.argv) > 4 else 60.0
    name, _, arg = kind.partition(":")
    if name == "checksum":
        with open(arg) as f:
            ticket = f.read().strip()
        req = ("GET /images/%s/checksum HTTP/1.1\r\nHost: localhost\r\n\r\n"
               % ticket).encode()
        linger = 0.05
    elif name in ("longquery", "halfhead"):
        n, _, wait = arg.partition(":")
        n = int(n)
        query = b"&".join(b"a%d=b" % i for i in range(n // 4))[:n]
        req = (b"GET /images/x?" + query
               + b" HTTP/1.1\r\nHost: localhost\r\n")
        if name == "longquery":
            req += b"\r\n"
        linger = float(wait) if wait else 0.0
    elif name == "bighead":
        req = (b"GET /images/x HTTP/1.1\r\nHost: localhost\r\nX-Big: "
               + b"a" * int(arg) + b"\r\n\r\n")
        linger = 0.0
    else:
        sys.exit("unknown kind %r" % kind)
    deadline = time.monotonic() + seconds
    sent = 0
    while sent < count and time.monotonic() < deadline:
        batch = []
        for _ in range(min(50, count - sent)):
            try:
                s = connect(addr)
                s.sendall(req)
            except OSError:
                continue
            batch.append(s)
            sent += 1
        if linger:
            time.sleep(linger)
        for s in batch:
            s.close()
    print("sent=%d" % sent)


if __name__ == "__main__":
    main()
