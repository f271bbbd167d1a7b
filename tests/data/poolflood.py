#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Connection-pool flood for the server tests: silent connections from many
loopback addresses, reopened as soon as the server closes them.

  poolflood.py HOST PORT FIRST NADDR PER_ADDR SECONDS READYFILE

Keeps PER_ADDR connections open to HOST:PORT from each of NADDR source
addresses 127.0.0.FIRST, 127.0.0.FIRST+1, ...; a connection sends nothing
(on a TLS port it never starts its handshake), and whenever the server
closes one it is opened again at once.  Writes READYFILE once every
connection was opened the first time.  Runs SECONDS, then prints, as
key=value lines:

  opened   connections opened in all
  closed   connections the server closed
  open     connections open at the end

Bounded: SECONDS of run time, at most 200000 connections, reopened at
most 1000 a second (a flood fast enough to keep every slot it can take,
slow enough not to take the test machine).
"""
import errno
import selectors
import socket
import sys
import time

MAX_OPENED = 200000
REOPEN_PER_TICK = 100  # per 0.1 s


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    first, naddr, per = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    seconds, ready = float(sys.argv[6]), sys.argv[7]
    t0 = time.monotonic()
    sel = selectors.DefaultSelector()
    stats = {"opened": 0, "closed": 0}

    def open_one(src):
        if stats["opened"] >= MAX_OPENED:
            return
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.bind((src, 0))
            err = s.connect_ex((host, port))
        except OSError:
            s.close()
            return
        if err not in (0, errno.EINPROGRESS):
            s.close()
            return
        stats["opened"] += 1
        sel.register(s, selectors.EVENT_READ, src)

    srcs = ["127.0.0.%d" % (first + i) for i in range(naddr)]
    for src in srcs:
        for _ in range(per):
            open_one(src)
    with open(ready, "w") as f:
        f.write("%d\n" % stats["opened"])
    want = {src: per for src in srcs}
    while time.monotonic() - t0 < seconds:
        tick = time.monotonic() + 0.1
        for key, _ in sel.select(0.1):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if not data:
                stats["closed"] += 1
                sel.unregister(s)
                s.close()
        # Reopen what was closed (or could not be opened), in turn.
        have = {src: 0 for src in srcs}
        for key in sel.get_map().values():
            have[key.data] += 1
        budget = REOPEN_PER_TICK
        for src in srcs:
            for _ in range(want[src] - have[src]):
                if budget == 0:
                    break
                open_one(src)
                budget -= 1
        delay = tick - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    print("opened=%d" % stats["opened"])
    print("closed=%d" % stats["closed"])
    print("open=%d" % len(sel.get_map()))


if __name__ == "__main__":
    main()
