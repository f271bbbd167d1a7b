#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""A raw image of PAIRS x 8 KiB: 4 KiB of data (0x5a) then a 4 KiB hole,
so 2 x PAIRS extents, for the tests of long extent lists.

  make-fragmented.py PATH PAIRS
"""
import os
import sys

path, pairs = sys.argv[1], int(sys.argv[2])
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.ftruncate(fd, pairs * 8192)
buf = b"\x5a" * 4096
for i in range(pairs):
    os.pwrite(fd, buf, i * 8192)
os.close(fd)
