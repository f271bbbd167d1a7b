#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""A misbehaving imageio server for the plugin's error tests: what our own
server will not do.  Listens on 127.0.0.1, writes the port to PORTFILE,
serves one thread per connection, and stops by itself after 120 s.

  fake-imageio.py PORTFILE mute
      accept connections and never answer
  fake-imageio.py PORTFILE stall SIZE
      answer OPTIONS (writable, all features) and GET bytes=0-0 (the size
      probe) like imageio; never answer any other request
  fake-imageio.py PORTFILE quote SIZE
      as stall, but answer every other request with 403 and a body that
      quotes the whole ticket id, as imageio does
"""
import json
import socket
import sys
import threading
import time

portfile, mode = sys.argv[1], sys.argv[2]
size = int(sys.argv[3]) if len(sys.argv) > 3 else 0


def answer(c, status, reason, body=b"", headers=()):
    head = "HTTP/1.1 %d %s\r\ncontent-length: %d\r\n" % (status, reason, len(body))
    for h in headers:
        head += h + "\r\n"
    c.sendall(head.encode() + b"\r\n" + body)


def serve(c):
    c.settimeout(120)
    buf = b""
    try:
        while True:
            while b"\r\n\r\n" not in buf:
                chunk = c.recv(65536)
                if not chunk:
                    return
                buf += chunk
            head, _, buf = buf.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target = lines[0].split()[:2]
            hdrs = {k.strip().lower(): v.strip() for k, _, v in
                    (l.partition(":") for l in lines[1:])}
            n = int(hdrs.get("content-length", "0"))
            while len(buf) < n:
                chunk = c.recv(65536)
                if not chunk:
                    return
                buf += chunk
            buf = buf[n:]
            if mode == "mute":
                time.sleep(120)
                return
            if method == "OPTIONS":
                body = json.dumps({"features": ["extents", "zero", "flush"],
                                   "max_readers": 8, "max_writers": 8}).encode()
                answer(c, 200, "OK", body,
                       ["allow: OPTIONS,GET,PUT,PATCH",
                        "content-type: application/json"])
            elif method == "GET" and hdrs.get("range") == "bytes=0-0":
                answer(c, 206, "Partial Content", b"\0",
                       ["content-range: bytes 0-0/%d" % size])
            elif mode == "quote":
                ticket = target.split("?")[0].split("/")[2]
                text = ("You are not allowed to access this resource: "
                        "Transfer=(ticket/%s) forbids write\n" % ticket)
                answer(c, 403, "Forbidden", text.encode())
            else:
                time.sleep(120)
                return
    except OSError:
        pass
    finally:
        c.close()


s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0))
s.listen(64)
with open(portfile + ".tmp", "w") as f:
    f.write(str(s.getsockname()[1]))
import os
os.rename(portfile + ".tmp", portfile)
s.settimeout(1)
end = time.monotonic() + 120
while time.monotonic() < end:
    try:
        c, _ = s.accept()
    except socket.timeout:
        continue
    threading.Thread(target=serve, args=(c,), daemon=True).start()
