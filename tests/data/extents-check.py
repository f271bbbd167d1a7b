#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Checks an imageio extents document for the server tests.

  extents-check.py EXTENTS.json END zero [QEMU_MAP.json]
      the document is a sorted, contiguous list from 0 to END of
      {start, length, zero, hole} with booleans; with QEMU_MAP (the output
      of `qemu-img map --output=json` of the same image) the runs of
      (zero, hole) must equal qemu's runs of (zero, not present)
  extents-check.py EXTENTS.json END zero-nohole
      as zero, and no extent is a hole (raw images)
  extents-check.py EXTENTS.json END dirty DIRTY_START DIRTY_END
      {start, length, dirty, zero} without hole; exactly DIRTY_START..
      DIRTY_END (exclusive) is dirty
Prints the reason and exits 1 on a mismatch.
"""
import json
import sys


def die(msg):
    print("extents-check: " + msg, file=sys.stderr)
    sys.exit(1)


def runs(items, key):
    """Merges adjacent items with equal key(item) into [start, end, key]."""
    out = []
    for it in items:
        k = key(it)
        s, e = it["start"], it["start"] + it["length"]
        if out and out[-1][1] == s and out[-1][2] == k:
            out[-1][1] = e
        else:
            out.append([s, e, k])
    return out


def main():
    path, end, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    try:
        doc = json.load(open(path))
    except ValueError as e:
        die("not JSON: %s" % e)
    if not isinstance(doc, list) or not doc:
        die("not a non-empty list")
    keys = {"start", "length", "dirty", "zero"} if mode == "dirty" \
        else {"start", "length", "zero", "hole"}
    pos = 0
    for i, it in enumerate(doc):
        if not isinstance(it, dict) or set(it) != keys:
            die("item %d has keys %s, expected %s" % (i, sorted(it), sorted(keys)))
        for k in ("start", "length"):
            if type(it[k]) is not int or it[k] < 0:
                die("item %d: bad %s %r" % (i, k, it[k]))
        for k in keys - {"start", "length"}:
            if type(it[k]) is not bool:
                die("item %d: %s is not a boolean: %r" % (i, k, it[k]))
        if it["length"] == 0:
            die("item %d has length 0" % i)
        if it["start"] != pos:
            die("item %d starts at %d, expected %d (unsorted, gap or overlap)"
                % (i, it["start"], pos))
        pos += it["length"]
    if pos != end:
        die("the list ends at %d, expected %d" % (pos, end))

    if mode == "zero-nohole":
        if any(it["hole"] for it in doc):
            die("a hole in an image that has none")
    elif mode == "zero" and len(sys.argv) > 4:
        qemu = json.load(open(sys.argv[4]))
        want = runs(qemu, lambda m: (m["zero"], not m["present"]))
        got = runs(doc, lambda it: (it["zero"], it["hole"]))
        if want != got:
            die("runs of (zero, hole) differ from qemu-img map:\n  got  %s\n  want %s"
                % (got, want))
    elif mode == "dirty":
        ds, de = int(sys.argv[4]), int(sys.argv[5])
        got = [r for r in runs(doc, lambda it: it["dirty"]) if r[2]]
        if got != [[ds, de, True]]:
            die("dirty runs %s, expected [[%d, %d, True]]" % (got, ds, de))


main()
