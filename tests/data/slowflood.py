#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Slow-connection flood for the server tests: many TCP connections from
one source address, each sending a request head one byte at a time.

  slowflood.py HOST PORT SRC COUNT SECONDS INTERVAL READYFILE

Opens COUNT connections to HOST:PORT bound to the source address SRC
(127.0.0.2 keeps the flood apart from a legitimate client on 127.0.0.1),
then sends one byte of a request head on every open connection each
INTERVAL seconds, for SECONDS at most.  Writes READYFILE once every
connection was attempted.  Prints, as key=value lines:

  attempted   connections attempted
  refused     closed by the server within 1.5 s of opening (over a limit;
              held ones live for the head timeout, 3 s in the test)
  held        kept open longer than that
  cut         held ones the server closed before the end
  max_life    longest life of a held connection the server closed (s)
  open_at_end held ones still open when SECONDS ran out

Bounded: COUNT connections, SECONDS of run time.
"""
import errno
import os
import selectors
import socket
import sys
import time

HEAD = (b"GET /images/00000000-0000-0000-0000-000000000000 HTTP/1.1\r\n"
        b"Host: localhost\r\nX-Slow: " + b"a" * 4000 + b"\r\n\r\n")


def main():
    host, port, src = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    count, seconds, interval = int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
    ready = sys.argv[7]
    t0 = time.monotonic()
    sel = selectors.DefaultSelector()
    conns = {}  # socket -> [opened_at, bytes_sent, closed_at]
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.bind((src, 0))
            s.connect_ex((host, port))
        except OSError:
            s.close()
            continue
        conns[s] = [time.monotonic(), 0, None]
        sel.register(s, selectors.EVENT_READ)
        if time.monotonic() - t0 > seconds / 2:
            break
    with open(ready, "w") as f:
        f.write("%d\n" % len(conns))
    next_send = time.monotonic()
    while time.monotonic() - t0 < seconds:
        timeout = max(0.0, min(next_send - time.monotonic(), 0.1))
        for key, _ in sel.select(timeout):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if not data:
                conns[s][2] = time.monotonic()
                sel.unregister(s)
                s.close()
        if time.monotonic() >= next_send:
            next_send += interval
            for s, st in conns.items():
                if st[2] is not None:
                    continue
                try:
                    s.send(HEAD[st[1] % len(HEAD):st[1] % len(HEAD) + 1])
                    st[1] += 1
                except OSError as e:
                    if e.errno not in (errno.EAGAIN, errno.ENOTCONN):
                        st[2] = time.monotonic()
                        sel.unregister(s)
                        s.close()
    refused = held = cut = open_at_end = 0
    max_life = 0.0
    for s, (opened, _, closed) in conns.items():
        if closed is not None and closed - opened < 1.5:
            refused += 1
            continue
        held += 1
        if closed is None:
            open_at_end += 1
            s.close()
        else:
            cut += 1
            max_life = max(max_life, closed - opened)
    print("attempted=%d" % len(conns))
    print("refused=%d" % refused)
    print("held=%d" % held)
    print("cut=%d" % cut)
    print("max_life=%.2f" % max_life)
    print("open_at_end=%d" % open_at_end)
    return 0


if __name__ == "__main__":
    sys.exit(main())
