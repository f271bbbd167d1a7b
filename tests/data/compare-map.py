#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Compares the plugin's block status with what qemu-nbd knows, for the
map tests (test-extents-map.sh, test-realimageio-map.sh).

  compare-map.py SIZE DIR TYPES [MIN_RUNS]

DIR holds, from qemu-nbd: base.json (nbdinfo --map --json) and depth.json
(nbdinfo --map=qemu:allocation-depth --json); through the plugin:
plugin.json (nbdinfo --map --json).  Optionally qimg-truth.json and
qimg-plugin.json (qemu-img map --output=json on each): their zero and
data flags are compared too.  imageio reports a hole only where nothing
in the chain is allocated, so through the plugin
  type = (zero ? 2 : 0) | (zero && depth == 0 ? 1 : 0)
TYPES: the extent types the image must show (e.g. 023); MIN_RUNS: the
fewest runs it must have.  qemu-nbd's maps are clipped to SIZE (it rounds
up to 512); the plugin's must end exactly at SIZE.
"""
import json
import os
import sys

size, d, types_want = int(sys.argv[1]), sys.argv[2], sys.argv[3]
min_runs = int(sys.argv[4]) if len(sys.argv) > 4 else 0


def runs(items, skey, lkey, val, exact=False, what=""):
    """[[start, end, value]] merged, contiguous from 0, clipped to size."""
    out, pos = [], 0
    for it in items:
        s, n = it[skey], it[lkey]
        if s != pos or n <= 0:
            sys.exit("%s: not contiguous at %d: %r" % (what, pos, it))
        pos = s + n
        if s >= size:
            break
        e = min(pos, size)
        v = val(it)
        if out and out[-1][2] == v:
            out[-1][1] = e
        else:
            out.append([s, e, v])
    if pos < size or (exact and pos != size):
        sys.exit("%s: covers 0..%d, image size %d" % (what, pos, size))
    return out


def combine(a, b, f):
    """Pointwise f over two run lists covering [0, size)."""
    out, i, j, pos = [], 0, 0, 0
    while pos < size:
        while a[i][1] <= pos:
            i += 1
        while b[j][1] <= pos:
            j += 1
        e = min(a[i][1], b[j][1])
        v = f(a[i][2], b[j][2])
        if out and out[-1][2] == v:
            out[-1][1] = e
        else:
            out.append([pos, e, v])
        pos = e
    return out


def load(name):
    with open(os.path.join(d, name)) as f:
        return json.load(f)


def check(what, got, want):
    if got != want:
        for k, (g, w) in enumerate(zip(got, want)):
            if g != w:
                sys.exit("%s differs at run %d: plugin %r, qemu-nbd %r "
                         "(%d vs %d runs)" % (what, k, g, w, len(got), len(want)))
        sys.exit("%s differs: plugin has %d runs, qemu-nbd %d"
                 % (what, len(got), len(want)))


base = runs(load("base.json"), "offset", "length", lambda it: it["type"] & 2,
            what="qemu-nbd base:allocation")
depth = runs(load("depth.json"), "offset", "length", lambda it: it["type"],
             what="qemu-nbd qemu:allocation-depth")
want = combine(base, depth, lambda z, dp: z | (1 if z and dp == 0 else 0))
got = runs(load("plugin.json"), "offset", "length", lambda it: it["type"],
           exact=True, what="plugin nbdinfo --map")
check("nbdinfo --map through the plugin", got, want)

if os.path.exists(os.path.join(d, "qimg-truth.json")):
    qt, qp = load("qimg-truth.json"), load("qimg-plugin.json")
    check("qemu-img map zero flags",
          runs(qp, "start", "length", lambda it: it["zero"], what="qemu-img map plugin"),
          runs(qt, "start", "length", lambda it: it["zero"], what="qemu-img map qemu-nbd"))
    check("qemu-img map data flags",
          runs(qp, "start", "length", lambda it: it["data"], what="qemu-img map plugin"),
          combine(want, want, lambda a, b: not (a & 1)))

# The image must show the kinds (and number) of extents it was made for.
kinds = "".join(sorted(set(str(r[2]) for r in want)))
if kinds != types_want or len(want) < min_runs:
    sys.exit("the image has %d runs of types %s, made for %d+ of %s"
             % (len(want), kinds, min_runs, types_want))
print("%d extents, %d runs, types %s, equal"
      % (len(load("plugin.json")), len(want), kinds))
