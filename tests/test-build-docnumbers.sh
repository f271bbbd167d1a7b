#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Every number the man page states about defaults, bounds, retries,
# checkpoints, windows and connection counts is the one in the code: each
# is read from its constant in plugin/ and looked for, in the sentence
# that states it, in docs/nbdkit-imageio-plugin.pod (issue 22).  A changed
# constant without the docs (or the reverse) fails here.
source "$(dirname "$0")/functions.sh"
requires_cmd /usr/bin/python3

/usr/bin/python3 - "$SRCDIR" <<'PY'
import re, sys

src = sys.argv[1]
def read(p):
    with open(src + "/" + p) as f:
        return f.read()

code = {p: read("plugin/" + p) for p in
        ("config.c", "config.h", "replay.c", "extents.c", "imageio.c")}
pod = " ".join(read("docs/nbdkit-imageio-plugin.pod").split())

def define(name):
    for text in code.values():
        m = re.search(r"^#define %s (.+?)\s*(/\*.*)?$" % name, text, re.M)
        if m:
            # Constant expressions of numbers, shifts and products only.
            expr = m.group(1).replace("ULL", "").replace("LL", "")
            if not re.fullmatch(r"[0-9()<>* ]+", expr):
                sys.exit("cannot evaluate %s = %s" % (name, expr))
            return eval(expr)
    sys.exit("no #define %s in plugin/" % name)

def default(field):
    m = re.search(r"^\s*\.%s = ([0-9]+),$" % field, code["config.c"], re.M)
    if not m:
        sys.exit("no default for %s in plugin/config.c" % field)
    return int(m.group(1))

def parse_max(key):
    m = re.search(r'"%s"\) == 0\)\s*return parse_uint_param \(key, value, '
                  r'[0-9]+, ([A-Z_0-9]+),' % key, code["config.c"])
    if not m:
        sys.exit("no parse_uint_param for %s in plugin/config.c" % key)
    v = m.group(1)
    return int(v) if v.isdigit() else define(v)

MiB, GiB = 1 << 20, 1 << 30
words = {2: "twice", 4: "fourfold", 8: "eightfold", 16: "sixteenfold"}
def ms_as_s(ms):
    return ("%g" % (ms / 1000)) if ms % 1000 else "%d" % (ms // 1000)

checks = [
    ("connections default", "Number of HTTP connections (default %d)" % default("connections")),
    ("timeout default", "The longest time one request may take, start to end (default %d)" % default("timeout")),
    ("idle_flush default", "stayed idle this long (default %d)" % default("idle_flush")),
    ("extents_timeout default and bound", "(default %d, at most %d)" % (default("extents_timeout"), parse_max("extents_timeout"))),
    ("retry_timeout default", "Default %d:" % define("DEFAULT_RETRY_TIMEOUT")),
    ("retry_timeout bound", "once more without waiting. At most %d." % parse_max("retry_timeout")),
    ("retry_timeout default, DATA SAFETY", "for C<retry_timeout> seconds (%d by default)" % define("DEFAULT_RETRY_TIMEOUT")),
    ("max_unflushed default", "The most memory (default %dM)" % (define("DEFAULT_MAX_UNFLUSHED") // MiB)),
    ("max_unflushed bound", "every later write and flush fail. At most %dG." % (define("MAX_MAX_UNFLUSHED") // GiB)),
    ("backoff", "with waits of %d ms doubling up to %s s" % (define("BACKOFF_FIRST_MS"), ms_as_s(define("BACKOFF_MAX_MS")))),
    ("recovery lag", "recovery ends at most about half a second after" if define("BACKOFF_MAX_MS") == 500 else "BACKOFF_MAX_MS changed: update this check"),
    ("checkpoint", "it flushes after every %d MiB resent" % (define("CHECKPOINT_BYTES") // MiB)),
    ("first window", "the first is %d MiB" % (define("EXTENTS_FIRST_WINDOW") // MiB)),
    ("window target", "to hold about {:,} extents".format(define("EXTENTS_TARGET"))),
    ("window growth", "growing at most %s" % words.get(define("EXTENTS_GROWTH"), "?")),
    ("windows' memory", "The maps kept take at most %d MiB" % (define("EXTENTS_MEMORY_BUDGET") // MiB)),
    ("extents wait", "waits at most %d minutes" % (define("EXTENTS_WAIT_SECONDS") // 60)),
    ("start-up deadline", "Start-up (C<OPTIONS> and the size) ends within %d seconds" % (define("STARTUP_TIMEOUT_MS") // 1000)),
]
bad = 0
for what, phrase in checks:
    if phrase not in pod:
        print("man page does not say %r (%s, from the code)" % (phrase, what), file=sys.stderr)
        bad += 1
print("%d numbers checked, %d wrong" % (len(checks), bad))
sys.exit(1 if bad else 0)
PY
