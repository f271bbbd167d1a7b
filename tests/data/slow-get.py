#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""A client that stops reading, or leaves, in the middle of an answer.

  slow-get.py SOCKET TICKET_FILE SUFFIX MODE [SECONDS]

Sends GET /images/ID SUFFIX (ID read from TICKET_FILE, so that it is in
no command line; SUFFIX e.g. "" or "/extents") on the Unix socket
SOCKET, reads the first 64 KiB of the answer, then per MODE: "stall"
stops reading for SECONDS (default 2), then reads what is left until the
server ends it (30 s at most); "leave" closes the connection.  Prints
got=BYTES.
"""
import socket
import sys
import time

path, ticket_file, suffix, mode = sys.argv[1:5]
pause = float(sys.argv[5]) if len(sys.argv) > 5 else 2.0
s = socket.socket(socket.AF_UNIX)
s.connect(path)
t = open(ticket_file).read().strip()
s.sendall(("GET /images/%s%s HTTP/1.1\r\nHost: localhost\r\n\r\n"
           % (t, suffix)).encode())
s.settimeout(30)
got = len(s.recv(65536))
if mode == "leave":
    s.close()
else:
    time.sleep(pause)
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < 30:
            d = s.recv(1 << 20)
            if not d:
                break
            got += len(d)
    except OSError:
        pass
print("got=%d" % got)
