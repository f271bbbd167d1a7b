#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Reference for GET /images/TICKET/checksum, computed independently of
the server with Python's hashlib: every BLOCK_SIZE block of the file (the
last one shorter) is hashed with ALGORITHM at a 32-byte digest, and the
checksum is the same hash of the concatenated block digests.

  blkhash.py FILE ALGORITHM BLOCK_SIZE [SIZE]
      prints the hex checksum of the first SIZE bytes of FILE (default:
      the whole file; bytes past its end count as zeroes)
  blkhash.py --zeroes SIZE ALGORITHM BLOCK_SIZE
      the checksum of SIZE zero bytes (hashes one zero block, then reuses
      its digest: the same value, fast for large sizes)
"""
import hashlib
import sys


def func(algorithm):
    return lambda data=b"": getattr(hashlib, algorithm)(data, digest_size=32)


def file_checksum(path, algorithm, block_size, size=None):
    h = func(algorithm)()
    with open(path, "rb") as f:
        if size is None:
            f.seek(0, 2)
            size = f.tell()
            f.seek(0)
        left = size
        while left > 0:
            n = min(block_size, left)
            block = f.read(n)
            block += b"\0" * (n - len(block))
            h.update(func(algorithm)(block).digest())
            left -= n
    return h.hexdigest()


def zero_checksum(size, algorithm, block_size):
    h = func(algorithm)()
    full = func(algorithm)(b"\0" * block_size).digest()
    for _ in range(size // block_size):
        h.update(full)
    if size % block_size:
        h.update(func(algorithm)(b"\0" * (size % block_size)).digest())
    return h.hexdigest()


if sys.argv[1] == "--zeroes":
    print(zero_checksum(int(sys.argv[2]), sys.argv[3], int(sys.argv[4])))
else:
    size = int(sys.argv[4]) if len(sys.argv) > 4 else None
    print(file_checksum(sys.argv[1], sys.argv[2], int(sys.argv[3]), size))
