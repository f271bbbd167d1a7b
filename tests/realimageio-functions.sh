# SPDX-License-Identifier: BSD-3-Clause
# Helpers for the tests against the real ovirt-imageio daemon
# (tests/test-realimageio-*.sh); sourced after tests/functions.sh.
#
# The daemon is a test peer in ../shared/peers/ovirt-imageio (or
# $IMAGEIO_PEERS/ovirt-imageio): it is RUN from a writable copy, never
# copied into the project.  Without the peers the test skips (77) with one
# line; with them, anything missing to run them is a failure.
#
#   realimageio_require         find the peer, build (or reuse) its copy;
#                               sets imageio_tree, imageio_pki
#   start_imageio [KEY=VALUE]   start the daemon (TLS on localhost, local
#                               Unix socket, control socket); sets
#                               imageio_pid, imageio_port, imageio_ctl,
#                               imageio_local, imageio_log.  Restarting
#                               keeps the port.  KEY=VALUE: daemon options
#                               (inactivity_timeout=N, max_connections=N,
#                               local=abstract: the local socket is an
#                               abstract one as in oVirt; imageio_local is
#                               then @NAME).
#   stop_imageio                SIGTERM, bounded wait
#   imageio_ticket FILE         PUT FILE (make_ticket's JSON) on the control
#                               socket; fails unless 200
#   imageio_delete_ticket ID    DELETE the ticket
#   start_imageio_qemu_nbd IMAGE FORMAT [ARGS...]
#                               qemu-nbd as imageio's vdsm runs it; sets
#                               nbd_sock, nbd_pid
#   imageio_url TICKET          https://localhost:PORT/images/TICKET
#   imageio_python ARGS...      /usr/bin/python3 with the copy on PYTHONPATH
#   start_plugin TICKET [ARGS...]   nbdkit -v --threads 8 with the plugin
#                               on TICKET's URL (from a file)
#   start_slow_upload NAME FORMAT [SOCK], finish_slow_upload NAME FORMAT WHAT
#                               a few seconds' upload in virt-v2v's shape to
#                               break in the middle, then checked (outages)

# A test may run with any python3 first on PATH; the daemon needs Debian's.
_imageio_python=/usr/bin/python3

_realimageio_skip ()
{
  echo "$_test_name: SKIP: $*" >&2
  exit 77
}

# Builds the C extension in a copy of the peer, once per version of its
# source: the copy lives in the build directory under a hash of the source,
# so every test of a run (and later runs) reuses it.  Parallel tests wait on
# a lock instead of building twice.
realimageio_require ()
{
  local peers=${IMAGEIO_PEERS:-$SRCDIR/../shared/peers} origin
  # A clone made elsewhere (git clone . /tmp/x) looks beside the checkout
  # it was cloned from.
  origin=$(git -C "$SRCDIR" config remote.origin.url 2>/dev/null || true)
  if [ -z "${IMAGEIO_PEERS:-}" ] && [ ! -d "$peers" ] && [ -d "$origin/../shared/peers" ]; then
    peers=$origin/../shared/peers
  fi
  local src=$peers/ovirt-imageio
  if [ ! -f "$src/ovirt-imageio" ] || [ ! -d "$src/ovirt_imageio" ]; then
    # CI (.ci/run) has the peers beside the checkout and must not skip.
    [ -z "${IMAGEIO_PEERS_REQUIRED:-}" ] ||
      fail "the real ovirt-imageio is not in $peers, and IMAGEIO_PEERS_REQUIRED is set (CI runs it)"
    _realimageio_skip "the real ovirt-imageio is not in $peers (set IMAGEIO_PEERS)"
  fi
  # From here on the peer is present: what is missing to run it fails.
  [ -x "$_imageio_python" ] || fail "$_imageio_python is needed to run ovirt-imageio (scripts/setup-deps.sh)"
  local key
  key=$(cd "$src" && find setup.py ovirt-imageio ovirt_imageio test/pki -type f \
          ! -name '*.pyc' ! -name '*.so' -print0 | LC_ALL=C sort -z |
          xargs -0 sha256sum | sha256sum | cut -c1-16)
  local cache=$BUILDDIR/realimageio/$key
  mkdir -p "$BUILDDIR/realimageio"
  (
    flock -w 300 9 || fail "waited 300 s for another test's build of ovirt-imageio"
    if [ ! -f "$cache/.built" ]; then
      rm -rf "$cache"
      mkdir -p "$cache"
      cp -r "$src" "$cache/ovirt-imageio"
      chmod -R u+w "$cache/ovirt-imageio"
      if ! (cd "$cache/ovirt-imageio" &&
              "$_imageio_python" setup.py build_ext --build-lib . ) \
             >"$cache/build.log" 2>&1; then
        tail -n 20 "$cache/build.log" >&2
        fail "building ovirt-imageio's C extension failed (needs python3-dev, python3-setuptools, gcc: scripts/setup-deps.sh)"
      fi
      touch "$cache/.built"
    fi
  ) 9>"$BUILDDIR/realimageio/.lock"
  imageio_tree=$cache/ovirt-imageio
  imageio_pki=$imageio_tree/test/pki/system
  "$_imageio_python" -c 'import sys; sys.path.insert(0, sys.argv[1]); import ovirt_imageio._internal.ioutil' \
    "$imageio_tree" 2>"$tmpdir/import.err" ||
    { cat "$tmpdir/import.err" >&2; fail "ovirt-imageio does not import from $imageio_tree"; }
}

imageio_python ()
{
  PYTHONPATH=$imageio_tree "$_imageio_python" "$@"
}

imageio_port=
_imageio_n=0
_imageio_running=

start_imageio ()
{
  [ -n "${imageio_tree:-}" ] || realimageio_require
  local inactivity=60 maxconn=8 kv abstract=0
  for kv in "$@"; do
    case "$kv" in
      inactivity_timeout=*) inactivity=${kv#*=} ;;
      max_connections=*) maxconn=${kv#*=} ;;
      local=abstract) abstract=1 ;;
      *) fail "start_imageio: unknown option $kv" ;;
    esac
  done
  _imageio_n=$(( _imageio_n + 1 ))
  local conf=$tmpdir/imageio-conf
  mkdir -p "$conf/conf.d" "$tmpdir/imageio-run"
  imageio_ctl=$tmpdir/imageio-ctl.sock
  imageio_local=$tmpdir/imageio-local.sock
  # oVirt's local socket is abstract (\0/org/ovirt/imageio); a test's own
  # name keeps parallel tests apart.  The config file holds the NUL byte.
  local local_conf=$imageio_local
  if [ "$abstract" = 1 ]; then
    imageio_local="@/org/ovirt/imageio-test-$$-${tmpdir##*.}"
    local_conf=$'\x01'${imageio_local#@}
  fi
  imageio_log=$tmpdir/imageio-$_imageio_n.log
  rm -f "$imageio_ctl" "$imageio_local"
  # port 0 the first time; a restart listens where the clients connect.
  cat >"$conf/conf.d/daemon.conf" <<EOF
[daemon]
drop_privileges = false
systemd_enable = false
run_dir = $tmpdir/imageio-run
inactivity_timeout = $inactivity
max_connections = $maxconn
poll_interval = 0.2

[tls]
enable = true
key_file = $imageio_pki/key.pem
cert_file = $imageio_pki/cert.pem
ca_file = $imageio_pki/ca.pem

[remote]
host = 127.0.0.1
port = ${imageio_port:-0}

[local]
enable = true
socket = $local_conf

[control]
transport = unix
socket = $imageio_ctl

[profile]
filename = $tmpdir/imageio-run/profile

[loggers]
keys = root

[handlers]
keys = stderr

[formatters]
keys = long

[logger_root]
level = DEBUG
handlers = stderr
propagate = 0

[handler_stderr]
keyword__class = logging.StreamHandler
args = ()
level = DEBUG
formatter = long
EOF
  # imageio logs ticket ids whole: the log keeps only their first 8
  # characters, so that a failed test never prints a bearer secret.
  # The abstract name's leading NUL, which bash cannot hold in a string.
  sed -i 's/\x01/\x00/' "$conf/conf.d/daemon.conf"
  "$_imageio_python" "$imageio_tree/ovirt-imageio" -c "$conf" </dev/null \
    > >(sed -u -E 's/([0-9a-f]{8})-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/\1-(redacted)/g' \
          >"$imageio_log") 2>&1 &
  imageio_pid=$!
  _imageio_running=$imageio_pid
  _server_logs+=("$imageio_log")
  cleanup_fn _stop_imageio_at_exit "$imageio_pid"
  local deadline=$(( $(_now_ms) + 30000 )) code
  while :; do
    if _pid_exited "$imageio_pid"; then
      sleep 0.2; cat "$imageio_log" >&2
      fail "ovirt-imageio exited at start-up"
    fi
    if [ -S "$imageio_ctl" ] && { [ "$abstract" = 1 ] || [ -S "$imageio_local" ]; }; then
      code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
               --unix-socket "$imageio_ctl" http://localhost/tickets/x) || true
      [ "${code:-000}" != 000 ] && break
    fi
    [ "$(_now_ms)" -lt "$deadline" ] || fail "ovirt-imageio not ready in 30 s"
    sleep 0.1
  done
  if [ -z "$imageio_port" ]; then
    imageio_port=$(sed -n "s/.*remote.service listening on ('127.0.0.1', \([0-9]*\)).*/\1/p" \
                     "$imageio_log" | tail -n 1)
    [ -n "$imageio_port" ] || { cat "$imageio_log" >&2; fail "no port in ovirt-imageio's log"; }
  fi
}

stop_imageio ()
{
  [ -n "$_imageio_running" ] || return 0
  local pid=$_imageio_running
  _imageio_running=
  _kill_wait "$pid" || true
}

_stop_imageio_at_exit ()
{
  [ "$_imageio_running" = "$1" ] && stop_imageio
  return 0
}

imageio_url ()
{
  printf 'https://localhost:%s/images/%s\n' "$imageio_port" "$1"
}

# PUT a ticket (a JSON file) on the control socket.
imageio_ticket ()
{
  local file=$1 id code
  id=$(jq -r .uuid "$file")
  code=$(curl -sS -o "$tmpdir/ctl.out" -w '%{http_code}' --max-time 30 \
           --unix-socket "$imageio_ctl" -X PUT --upload-file "$file" \
           "http://localhost/tickets/$id") || true
  [ "$code" = 200 ] || { cat "$tmpdir/ctl.out" >&2; fail "adding ticket ${id:0:8}: status $code"; }
}

imageio_delete_ticket ()
{
  local code
  code=$(curl -sS -o "$tmpdir/ctl.out" -w '%{http_code}' --max-time 90 \
           --unix-socket "$imageio_ctl" -X DELETE "http://localhost/tickets/$1") || true
  [ "$code" = 204 ] || { cat "$tmpdir/ctl.out" >&2; fail "deleting ticket ${1:0:8}: status $code"; }
}

# qemu-nbd with the options imageio's host side (vdsm) uses; sets nbd_sock,
# nbd_pid.  A fixed socket name per image lets a test restart it in place.
start_imageio_qemu_nbd ()
{
  requires_cmd qemu-nbd
  local image=$1 format=$2; shift 2
  _nbd_n=$(( _nbd_n + 1 ))
  local sock=${IMAGEIO_NBD_SOCK:-$tmpdir/nbd-$_nbd_n.sock}
  local pidf="$tmpdir/nbd-$_nbd_n.pid" log="$tmpdir/nbd-$_nbd_n.log"
  rm -f "$sock" "$pidf"
  qemu-nbd --socket="$sock" --export-name= --persistent --shared=8 \
    --cache=writeback --aio=threads --discard=unmap --detect-zeroes=unmap \
    --format="$format" --pid-file="$pidf" "$@" "$image" \
    </dev/null >"$log" 2>&1 &
  nbd_pid=$!
  cleanup_fn _kill_wait "$nbd_pid"
  _wait_serving qemu-nbd "$nbd_pid" "$pidf" "$sock" "$log" 10
  nbd_sock=$sock
}

# nbdkit -v with the plugin against the real daemon, 8 threads as
# virt-v2v runs it; ARGS are more plugin parameters.  The URL of TICKET is
# given in a file (url=+FILE), so that nbdkit -v does not log the ticket.
# Sets what start_nbdkit sets.
_url_n=0
start_plugin ()
{
  local ticket=$1; shift
  _url_n=$(( _url_n + 1 ))
  imageio_url "$ticket" >"$tmpdir/url-$_url_n"
  start_nbdkit -v --threads 8 "$IMAGEIO_PLUGIN" url=+"$tmpdir/url-$_url_n" \
    cafile="$imageio_pki/ca.pem" "$@"
}

# Fails if a whole ticket id given is in any nbdkit log of this test (the
# plugin runs with -v).
expect_nbdkit_logs_redacted ()
{
  local id log
  for id in "$@"; do
    for log in "$tmpdir"/nbdkit-*.log; do
      [ -e "$log" ] || continue
      grep -q -F -- "$id" "$log" && fail "whole ticket id found in $(basename "$log")"
    done
  done
  return 0
}

# PUTs the daemon has logged so far.
imageio_writes () { grep -c '\] WRITE ' "$imageio_log" || true; }

# An upload in virt-v2v's shape (nbdkit --threads 8, nbdcopy
# --request-size=4194304 --requests=16 --flush) of $tmpdir/src.raw ($size
# bytes) to a new image NAME.FORMAT pre-filled with 0x5a, behind qemu-nbd
# on SOCK (default: the harness's), read at 64 Mbit/s so that it lasts a
# few seconds.  Returns once the daemon has logged 6 of its writes, with
# the copy running; sets upload_target, upload_ticket_file, upload_pid.
# For the outage tests: break something, then finish_slow_upload.
start_slow_upload ()
{
  local name=$1 fmt=$2 sock=${3:-}
  upload_target=$tmpdir/$name.$fmt
  upload_ticket_file=$tmpdir/$name.json
  qemu-img create -q -f "$fmt" "$upload_target" $size
  qemu-io -f "$fmt" -c "write -P 0x5a 0 $size" "$upload_target" >/dev/null
  IMAGEIO_NBD_SOCK=$sock start_imageio_qemu_nbd "$upload_target" "$fmt"
  local ticket before
  ticket=$(random_ticket)
  make_ticket "$upload_ticket_file" "$ticket" $size "nbd:unix:$nbd_sock" read,write \
    '"sparse": true, "dirty": false, "inactivity_timeout": 60'
  imageio_ticket "$upload_ticket_file"
  start_plugin "$ticket" -D nbdkit.backend.datapath=0 size=$size insecure=true
  before=$(imageio_writes)
  timeout 180 nbdkit -r -U - --filter=rate file "$tmpdir/src.raw" rate=64M \
    --run "nbdcopy \"\$uri\" '$nbdkit_uri' --request-size=4194304 --requests=16 --flush" \
    >"$tmpdir/$name-copy.log" 2>&1 &
  upload_pid=$!
  cleanup_fn kill_quiet "$upload_pid"
  wait_until 60 eval '[ $(( $(imageio_writes) - before )) -ge 6 ]'
  proc_running "$upload_pid" || fail "$name: the upload ended before the fault (test not testing)"
}

# Waits for the upload of start_slow_upload NAME FORMAT: it must end with
# status 0, nbdkit too, and the image must equal its source.  WHAT says
# what happened to it, for the messages.
finish_slow_upload ()
{
  local name=$1 fmt=$2 what=$3 st=0
  wait "$upload_pid" || st=$?
  if [ "$st" -ne 0 ]; then
    cat "$tmpdir/$name-copy.log" >&2
    grep -E ': error: ' "$nbdkit_log" | head -n 5 >&2
    fail "$name: the upload failed (status $st) after $what"
  fi
  st=0
  stop_nbdkit "$nbdkit_pid" || st=$?
  [ "$st" -eq 0 ] || fail "$name: nbdkit exit status $st"
  _kill_wait "$nbd_pid" || true
  qemu-img compare -q -f raw -F "$fmt" "$tmpdir/src.raw" "$upload_target" ||
    fail "$name: the image differs from its source after $what"
  echo "$name: identical"
}
