#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Raw HTTP/1.1 client for the server tests: what curl cannot do.

Sends exact bytes on one connection (garbage, short bodies, idle pauses,
half-closes) and reports what came back.  Every wait is bounded.

  rawhttp.py ADDR send [--shutdown] [--timeout S]      < request bytes
      send stdin, optionally half-close, print the answer up to EOF/timeout
      exit 0 answer and EOF (server closed), 4 answer but still open at the
      timeout, 2 EOF without answer, 3 timeout without answer
  rawhttp.py ADDR requests PATH N DELAY
      N GET-less OPTIONS requests for PATH on one connection, DELAY s apart;
      prints one status per line; exit 1 if the connection broke
  rawhttp.py ADDR idle PATH MAXWAIT
      one OPTIONS request, then wait for the server to close; prints the
      seconds from the answer to EOF; exit 3 if still open after MAXWAIT
  rawhttp.py ADDR shortbody PATH LENGTH SENT [--shutdown]
      PUT with Content-Length LENGTH but only SENT bytes, then close (or
      half-close and print the answer)

ADDR is unix:PATH, abstract:NAME or tcp:HOST:PORT.
"""
import socket
import sys
import time


def connect(addr, timeout):
    kind, _, rest = addr.partition(":")
    if kind == "unix":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(rest)
    elif kind == "abstract":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect("\0" + rest)
    elif kind == "tcp":
        host, _, port = rest.rpartition(":")
        s = socket.create_connection((host.strip("[]"), int(port)), timeout)
    else:
        raise SystemExit("bad address " + addr)
    return s


def read_answer(s):
    """Reads one answer (headers and Content-Length body).  Returns
    (status, headers dict, body) or None on EOF before any byte."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            if buf:
                raise EOFError("EOF inside headers: %r" % buf[:200])
            return None
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "0"))
    while len(body) < n:
        chunk = s.recv(65536)
        if not chunk:
            raise EOFError("EOF inside body")
        body += chunk
    return status, headers, body[:n]


def options_request(path):
    return ("OPTIONS %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % path).encode()


def cmd_send(addr, args):
    timeout = 10.0
    shutdown = "--shutdown" in args
    if "--timeout" in args:
        timeout = float(args[args.index("--timeout") + 1])
    data = sys.stdin.buffer.read()
    s = connect(addr, timeout)
    try:
        s.sendall(data)
    except OSError as e:
        print("send failed: %s" % e, file=sys.stderr)
    if shutdown:
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
    got = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    except socket.timeout:
        sys.stdout.buffer.write(got)
        return 4 if got else 3
    except OSError as e:
        print("recv: %s" % e, file=sys.stderr)
    sys.stdout.buffer.write(got)
    return 0 if got else 2


def cmd_requests(addr, args):
    path, n, delay = args[0], int(args[1]), float(args[2])
    s = connect(addr, 10)
    for i in range(n):
        if i:
            time.sleep(delay)
        try:
            s.sendall(options_request(path))
            a = read_answer(s)
        except (OSError, EOFError) as e:
            print("request %d: %s" % (i + 1, e), file=sys.stderr)
            return 1
        if a is None:
            print("request %d: connection closed" % (i + 1), file=sys.stderr)
            return 1
        print(a[0])
    return 0


def cmd_idle(addr, args):
    path, maxwait = args[0], float(args[1])
    s = connect(addr, 10)
    s.sendall(options_request(path))
    a = read_answer(s)
    if a is None:
        print("no answer", file=sys.stderr)
        return 1
    t0 = time.monotonic()
    s.settimeout(maxwait)
    try:
        chunk = s.recv(1)
    except socket.timeout:
        print("still open after %.1f s" % maxwait, file=sys.stderr)
        return 3
    except ConnectionResetError:
        chunk = b""
    if chunk:
        print("unexpected data %r" % chunk, file=sys.stderr)
        return 1
    print("%.2f" % (time.monotonic() - t0))
    return 0


def cmd_shortbody(addr, args):
    path, length, sent = args[0], int(args[1]), int(args[2])
    shutdown = "--shutdown" in args
    s = connect(addr, 10)
    head = ("PUT %s HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n"
            "Content-Range: bytes 0-%d/*\r\n\r\n" % (path, length, length - 1))
    try:
        s.sendall(head.encode() + b"\x55" * sent)
    except OSError as e:
        print("send: %s" % e, file=sys.stderr)
    if not shutdown:
        s.close()
        return 0
    try:
        s.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    got = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    except (socket.timeout, OSError):
        pass
    sys.stdout.buffer.write(got)
    return 0


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 1
    addr, cmd, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    return {"send": cmd_send, "requests": cmd_requests, "idle": cmd_idle,
            "shortbody": cmd_shortbody}[cmd](addr, args)


if __name__ == "__main__":
    sys.exit(main())
