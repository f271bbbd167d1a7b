#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# After a write or a zero inside a hole of a qcow2 image, the plugin's map
# never claims a hole where qemu has allocated: qcow2 allocates whole
# clusters (64 KiB by default, up to 2 MiB), so the rest of the written
# cluster is no longer a hole.  The plugin calls the holes in the rest of
# the 2 MiB block around each update "zero".
#
# For qcow2 images with 64 KiB and 2 MiB clusters, served by qemu-nbd -A
# behind imageio-server, an nbdsh session through the plugin writes 4 KiB
# in the middle of a hole, 8 KiB across a 2 MiB boundary, zeroes 4 KiB of a
# hole and writes 512 bytes at the end, with the map loaded first (updates
# applied at once) and, on a second server that answers GET extents after
# a delay, with the map still downloading (updates queued).  After each
# phase the plugin's map is compared with the truth read from qemu-nbd
# directly:
#   - where the plugin says hole (3), qemu:allocation-depth is 0;
#   - where it says zero (2 or 3), the image reads as zeroes;
#   - written ranges are data (0);
#   - holes outside the 2 MiB blocks of the updates stay holes.
source "$(dirname "$0")/functions.sh"
requires_cmd nbdkit nbdsh qemu-img qemu-io qemu-nbd timeout
requires /usr/bin/python3 -c 'import nbd'

mib=1048576
size=$(( 32 * mib ))

cat > "$tmpdir/check.py" <<'EOF'
import os

MIB = 1 << 20
size = h.get_size()

def runs(hh, ctx):
    """Merged [start, end, value] of metadata context CTX over the image."""
    out, pos = [], 0
    while pos < size:
        got = []
        def cb(metactx, off, entries, err):
            if metactx == ctx:
                got.extend(entries)
            return 0
        hh.block_status(min(size - pos, 1 << 30), pos, cb)
        assert got, "no %s extents at %d" % (ctx, pos)
        for i in range(0, len(got), 2):
            n = min(got[i], size - pos)
            if out and out[-1][2] == got[i + 1] and out[-1][1] == pos:
                out[-1][1] = pos + n
            else:
                out.append([pos, pos + n, got[i + 1]])
            pos += n
            if pos >= size:
                break
    return out

def type_at(rs, x):
    return next(t for a, b, t in rs if a <= x < b)

q = nbd.NBD()
q.add_meta_context("qemu:allocation-depth")
q.connect_unix(os.environ["QSOCK"])

def check(what, written, untouched):
    plugin = runs(h, nbd.CONTEXT_BASE_ALLOCATION)
    depth = runs(q, "qemu:allocation-depth")
    bad = []
    for a, b, t in plugin:
        if t == 3:
            for da, db, d in depth:
                if da < b and db > a and d != 0:
                    bad.append("hole %d..%d but qemu allocated %d..%d"
                               % (a, b, max(a, da), min(b, db)))
        if t & 2:
            for x in range(a, b, 4 * MIB):
                n = min(b, x + 4 * MIB) - x
                if q.pread(n, x) != bytes(n):
                    bad.append("zero %d..%d does not read as zeroes" % (a, b))
                    break
    for a, b in written:
        for t in set(t for ra, rb, t in plugin if ra < b and rb > a):
            if t != 0:
                bad.append("written %d..%d is type %d" % (a, b, t))
    for x in untouched:
        if type_at(plugin, x) != 3:
            bad.append("%d, far from every update, is type %d, not a hole"
                       % (x, type_at(plugin, x)))
    if bad:
        print("%s: plugin map %s" % (what, plugin[:40]))
        print("%s: qemu allocation depth %s" % (what, depth[:40]))
        raise AssertionError("%s: %s" % (what, "; ".join(bad[:10])))
    print("%s: ok, plugin %d runs, qemu depth %d runs" % (what, len(plugin), len(depth)))

def updates(base):
    """Writes and a zero in holes of [BASE, BASE + 16 MiB); returns the
    written ranges."""
    h.pwrite(b"\x55" * 4096, base + 3 * MIB + 12288)      # mid-hole
    h.pwrite(b"\x66" * 8192, base + 6 * MIB - 4096)       # across 2 MiB
    h.zero(4096, base + 9 * MIB + 4096)                   # unaligned zero
    return [(base + 3 * MIB + 12288, base + 3 * MIB + 16384),
            (base + 6 * MIB - 4096, base + 6 * MIB + 4096)]

phase = os.environ["PHASE"]
if phase == "1":
    # The map first, then the updates (applied to it at once).
    runs(h, nbd.CONTEXT_BASE_ALLOCATION)
    written = updates(0)
    h.pwrite(b"\x77" * 512, size - 512)
    written.append((size - 512, size))
    h.flush()
    check("map loaded first", written, [12 * MIB, 20 * MIB, 28 * MIB])
else:
    # The first zero starts the (delayed) download in the background; the
    # updates are queued and applied to the document when it arrives.
    h.zero(65536, 0)
    written = updates(16 * MIB)
    h.flush()
    check("updates during the download", written, [12 * MIB + 1, 28 * MIB])
EOF

for cluster in 65536 2097152; do
  img=$tmpdir/disk-$cluster.qcow2
  qemu-img create -q -f qcow2 -o cluster_size=$cluster "$img" $size
  # Data at 0-1 MiB (so zeroes there are elided or sent: either is fine).
  qemu-io -f qcow2 -c 'write -P 1 0 1M' "$img" >/dev/null
  start_qemu_nbd "$img" qcow2
  t=$(random_ticket)
  make_ticket "$tmpdir/t.json" "$t" $size "nbd:unix:$nbd_sock" read,write
  for phase in 1 2; do
    # Phase 1 sends every zero (elision would skip a zero over a known
    # hole); phase 2 needs elision: its first zero starts the download.
    if [ $phase = 1 ]; then
      start_server --tcp 127.0.0.1:0 --no-tls --ticket "$tmpdir/t.json"
      elision=false
    else
      start_server --tcp 127.0.0.1:0 --no-tls --ticket "$tmpdir/t.json" \
        --fault extents-delay=1500
      elision=true
    fi
    echo "cluster_size=$cluster, phase $phase:"
    QSOCK=$nbd_sock PHASE=$phase \
      timeout 120 nbdkit -U - -v -D imageio.extents=1 "$IMAGEIO_PLUGIN" \
        zero_elision=$elision \
        url="http://127.0.0.1:$server_port/images/$t" \
        --run "/usr/bin/python3 -m nbd --base-allocation -u \"\$uri\" -c 'exec(open(\"$tmpdir/check.py\").read())'" \
        2> "$tmpdir/nbdkit.log" ||
      { cat "$tmpdir/nbdkit.log" >&2; fail "cluster_size=$cluster, phase $phase"; }
    # -v for the debug lines below; only nbdkit_error lines say "error:".
    if grep -q 'error:' "$tmpdir/nbdkit.log"; then
      cat "$tmpdir/nbdkit.log" >&2
      fail "cluster_size=$cluster, phase $phase: nbdkit logged an error"
    fi
    if [ $phase = 2 ]; then
      # The updates really were queued during the download.
      grep -q 'extents: written .*(queued)' "$tmpdir/nbdkit.log" || {
        cat "$tmpdir/nbdkit.log" >&2
        fail "cluster_size=$cluster: no write was queued during the download"
      }
    fi
    expect_log_redacted "$t"
    stop_server
  done
done
