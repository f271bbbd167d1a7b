# SPDX-License-Identifier: BSD-3-Clause
# Shared helpers for the shell tests; every tests/test-*.sh sources this.
#
# Contract with the tests (keep these names and meanings stable; the server
# and plugin tests both rely on them):
#
#   requires_cmd CMD...        exit 77 (skip) unless every CMD is on PATH
#   requires CMD ARGS...       exit 77 unless the command runs successfully
#                              (nbdkit's tests/functions.sh meaning)
#   cleanup_fn CMD ARGS...     run CMD ARGS at exit (any exit path), in
#                              reverse order of registration
#   $tmpdir / tmpdir           private `mktemp -d` directory, removed at exit
#                              (the function prints it)
#   fail MSG...                print MSG and exit 1
#   make_cert DIR              DIR/ca.pem ca-key.pem server.pem server-key.pem
#   make_ticket FILE UUID SIZE URL OPS [EXTRA_JSON]
#   random_ticket              print a random 36-character uuid
#   start_qemu_nbd IMAGE FORMAT [qemu-nbd args...]   sets nbd_sock, nbd_pid
#   start_server [imageio-server args...]
#                              sets server_pid, server_log, server_port (with
#                              --tcp); -v and --pid-file are added, and
#                              --file-root/--nbd-root $tmpdir unless ARGS
#                              name a root themselves
#   start_server_unix [args...] as start_server with --unix $tmpdir/imageio-N.sock;
#                              sets server_sock
#   stop_server [PID]          SIGTERM, bounded wait; sets server_status
#   server_alive [PID]         true while the server runs
#   expect_status CODE [WHAT]  fail unless the last request got CODE
#   expect_body TEXT           fail unless the last body is TEXT + newline
#   expect_log_redacted ID...  fail if a whole ticket id is in a server log
#   expect_answer_then_close ADDR CODE   < request bytes
#   sha FILE, random_file FILE SIZE, kill_quiet PID, rawhttp ADDR CMD ...
#   icurl ARGS...              curl with timeouts (--max-time 30 -sS)
#   request ARGS...            icurl keeping the answer: sets status and
#                              writes $resp_headers and $resp_body
#   header NAME                value of header NAME in the last answer
#   count_log PATTERN [LOG]    number of lines matching the ERE in the log
#   wait_for_log PATTERN [SECONDS] [LOG]   poll until the log matches
#   wait_until SECONDS CMD...  poll until CMD succeeds, fail at the deadline
#
# Everything that waits is bounded in time; readiness is a pid or port file,
# never a fixed sleep.  Tests run with `set -euo pipefail`.

set -euo pipefail

# Debian's python3 has the nbd module; some environments put another first.
export PATH="/usr/sbin:/usr/bin:$PATH"

: "${SRCDIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
: "${BUILDDIR:=$SRCDIR/build}"
: "${IMAGEIO_SERVER:=$BUILDDIR/server/imageio-server}"
: "${IMAGEIO_PLUGIN:=$BUILDDIR/plugin/nbdkit-imageio-plugin.so}"
# LD_PRELOAD shim: a made-up host name with chosen addresses (tests/fake-resolver.c).
: "${FAKE_RESOLVER:=$BUILDDIR/tests/fake-resolver.so}"
export SRCDIR BUILDDIR IMAGEIO_SERVER IMAGEIO_PLUGIN FAKE_RESOLVER

_test_name="$(basename "$0")"

fail ()
{
  echo "$_test_name: FAIL: $*" >&2
  exit 1
}

# Skips the test unless every named command exists.
requires_cmd ()
{
  local c
  for c in "$@"; do
    if ! command -v "$c" >/dev/null 2>&1; then
      echo "$_test_name: SKIP: '$c' is needed" >&2
      exit 77
    fi
  done
}

# Skips the test unless the command succeeds (e.g. requires qemu-nbd --version),
# as nbdkit's requires does.
requires ()
{
  if ! "$@" </dev/null >/dev/null 2>&1; then
    echo "$_test_name: SKIP: '$*' failed" >&2
    exit 77
  fi
}

# ---- teardown --------------------------------------------------------------

_cleanup_cmds=()

# Registers a command run at exit, in reverse order of registration.
# Arguments are kept exactly (quoted), so paths with spaces are fine.
cleanup_fn ()
{
  local q
  printf -v q '%q ' "$@"
  _cleanup_cmds+=("$q")
}

# Runs every registered command once, newest first, whatever they return;
# on a failed test shows the tail of each server log first (TAIL_LINES
# lines, 40 unless set).
_run_cleanup ()
{
  local status=$1 i cmd log
  trap - EXIT INT TERM
  set +e
  if [ "$status" -ne 0 ] && [ "$status" -ne 77 ]; then
    for log in "${_server_logs[@]}"; do
      if [ -s "$log" ]; then
        echo "---- last lines of $(basename "$log") ----" >&2
        tail -n "${TAIL_LINES:-40}" "$log" >&2
      fi
    done
  fi
  for (( i = ${#_cleanup_cmds[@]} - 1; i >= 0; i-- )); do
    cmd=${_cleanup_cmds[i]}
    eval "$cmd"
  done
  _cleanup_cmds=()
  # A server that crashed or failed to exit 0 on SIGTERM fails the test.
  if [ "$status" -eq 0 ] && [ "$_server_bad" -ne 0 ]; then
    status=1
  fi
  exit "$status"
}

trap '_run_cleanup $?' EXIT
trap '_run_cleanup 130' INT
trap '_run_cleanup 143' TERM

# ---- private directory -----------------------------------------------------

tmpdir="$(mktemp -d "${TMPDIR:-/tmp}/imageio-test.XXXXXX")"
cleanup_fn rm -rf "$tmpdir"

# Prints the private directory (the variable $tmpdir holds the same).
tmpdir ()
{
  printf '%s\n' "$tmpdir"
}

# ---- bounded waiting -------------------------------------------------------

# Monotonic-enough clock in milliseconds.
_now_ms ()
{
  local s=${EPOCHREALTIME/./}
  echo $(( s / 1000 ))
}

# Polls CMD every 50 ms until it succeeds; fails the test after SECONDS.
wait_until ()
{
  local secs=$1; shift
  local deadline=$(( $(_now_ms) + secs * 1000 ))
  until "$@"; do
    if [ "$(_now_ms)" -ge "$deadline" ]; then
      fail "timed out after ${secs}s waiting for: $*"
    fi
    sleep 0.05
  done
}

# True while PID runs (not gone, not a zombie).
proc_running ()
{
  ! _pid_exited "$1"
}

# True when PID is gone or a zombie (exited but not yet reaped).
_pid_exited ()
{
  local st
  # The process may exit between any two steps: a failed read means gone.
  st=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
  st=${st##*) }
  [ "${st%% *}" = Z ]
}

# ---- certificates, tickets -------------------------------------------------

# A throw-away CA and a server certificate for localhost, 127.0.0.1 and ::1
# signed by it (EC P-256, fast).
make_cert ()
{
  local d=$1
  mkdir -p "$d"
  {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
      -out "$d/ca-key.pem"
    openssl req -x509 -new -key "$d/ca-key.pem" -sha256 -days 2 \
      -subj "/CN=imageio test CA" \
      -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -out "$d/ca.pem"
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
      -out "$d/server-key.pem"
    openssl req -new -key "$d/server-key.pem" -subj "/CN=localhost" \
      -out "$d/server.csr"
    printf '%s\n' \
      "basicConstraints=CA:FALSE" \
      "keyUsage=critical,digitalSignature" \
      "extendedKeyUsage=serverAuth" \
      "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" > "$d/server.ext"
    openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" \
      -CAkey "$d/ca-key.pem" -set_serial "0x$(openssl rand -hex 8)" \
      -sha256 -days 2 -extfile "$d/server.ext" -out "$d/server.pem"
  } >"$d/openssl.log" 2>&1 || { cat "$d/openssl.log" >&2; fail "make_cert failed"; }
  rm -f "$d/server.csr" "$d/server.ext"
}

# Writes a ticket. OPS is comma separated (read,write); EXTRA_JSON is
# inserted as more members, e.g. '"sparse": true, "inactivity_timeout": 2'.
make_ticket ()
{
  local file=$1 uuid=$2 size=$3 url=$4 ops=$5 extra=${6:-}
  local op json_ops="" sep=""
  local IFS=,
  for op in $ops; do
    json_ops+="$sep\"$op\""
    sep=", "
  done
  unset IFS
  # An explicit timeout in EXTRA_JSON replaces the default.
  local timeout='"timeout": 3600, '
  case "$extra" in *'"timeout"'*) timeout="" ;; esac
  printf '{"uuid": "%s", "size": %s, "url": "%s", "ops": [%s]%s%s}\n' \
    "$uuid" "$size" "$url" "$json_ops" "${timeout:+, ${timeout%, }}" \
    "${extra:+, $extra}" > "$file"
}

random_ticket ()
{
  cat /proc/sys/kernel/random/uuid
}

# ---- processes -------------------------------------------------------------

_nbd_n=0

# Serves IMAGE with qemu-nbd on a private Unix socket (with
# qemu:allocation-depth); sets nbd_sock and nbd_pid.  Like oVirt, it allows
# several clients at once (-e 16): the server opens one NBD connection per
# HTTP connection, and qemu-nbd's default of 1 would make the second wait.
start_qemu_nbd ()
{
  requires_cmd qemu-nbd
  local image=$1 format=$2; shift 2
  _nbd_n=$(( _nbd_n + 1 ))
  local sock="$tmpdir/nbd-$_nbd_n.sock" pidf="$tmpdir/nbd-$_nbd_n.pid"
  local log="$tmpdir/nbd-$_nbd_n.log"
  qemu-nbd -t -e 16 -A -f "$format" -k "$sock" --pid-file "$pidf" "$@" "$image" \
    </dev/null >"$log" 2>&1 &
  nbd_pid=$!
  cleanup_fn _kill_wait "$nbd_pid"
  _wait_serving qemu-nbd "$nbd_pid" "$pidf" "$sock" "$log" 10
  nbd_sock=$sock
}

# Waits until the process NAME (PID) wrote PIDFILE and listens on SOCK, at
# most SECONDS; fails, showing LOG, if it exits first.
_wait_serving ()
{
  local name=$1 pid=$2 pidf=$3 sock=$4 log=$5 seconds=$6
  local deadline=$(( $(_now_ms) + seconds * 1000 ))
  until [ -s "$pidf" ] && [ -S "$sock" ]; do
    if _pid_exited "$pid"; then
      cat "$log" >&2
      fail "$name exited at start-up"
    fi
    [ "$(_now_ms)" -lt "$deadline" ] || fail "$name not ready in ${seconds}s"
    sleep 0.02
  done
}

# SIGTERM, then SIGKILL after 10 s; reaps the process.  Returns its status.
_kill_wait ()
{
  local pid=$1 deadline
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$(( $(_now_ms) + 10000 ))
  while ! _pid_exited "$pid"; do
    if [ "$(_now_ms)" -ge "$deadline" ]; then
      echo "$_test_name: pid $pid ignored SIGTERM for 10s, killing" >&2
      kill -KILL "$pid" 2>/dev/null || true
      deadline=$(( $(_now_ms) + 10000 ))
    fi
    sleep 0.02
  done
  local st=0
  wait "$pid" 2>/dev/null || st=$?
  return "$st"
}

_nbdkit_n=0

# Starts nbdkit -f with ARGS (plugin and parameters, e.g. "$IMAGEIO_PLUGIN"
# url=...) on a private socket and waits (30 s at most) until it serves.
# Sets nbdkit_pid, nbdkit_log and nbdkit_uri (also as uri, the name
# nbdkit --run uses).  Teardown is registered; stop_nbdkit PID stops it
# earlier and returns its exit status.
start_nbdkit ()
{
  _nbdkit_n=$(( _nbdkit_n + 1 ))
  local sock="$tmpdir/nbdkit-$_nbdkit_n.sock" pidf="$tmpdir/nbdkit-$_nbdkit_n.pid"
  nbdkit_log="$tmpdir/nbdkit-$_nbdkit_n.log"
  nbdkit -f -U "$sock" -P "$pidf" "$@" </dev/null >"$nbdkit_log" 2>&1 &
  nbdkit_pid=$!
  cleanup_fn _kill_wait "$nbdkit_pid"
  _wait_serving nbdkit "$nbdkit_pid" "$pidf" "$sock" "$nbdkit_log" 30
  nbdkit_uri="nbd+unix:///?socket=$sock"
  uri=$nbdkit_uri
}

stop_nbdkit ()
{
  _kill_wait "$1"
}

_server_n=0
_server_logs=()
_server_bad=0
declare -A _server_running=()

# Starts $IMAGEIO_SERVER -v with ARGS and waits (10 s at most) for its pid
# file (and port file with --tcp).  Sets server_pid, server_log, and
# server_port when --tcp is given.
start_server ()
{
  [ -x "$IMAGEIO_SERVER" ] || fail "IMAGEIO_SERVER '$IMAGEIO_SERVER' is not executable"
  _server_n=$(( _server_n + 1 ))
  local n=$_server_n a tcp=0 roots=0
  local pidf="$tmpdir/server-$n.pid" portf="$tmpdir/server-$n.port"
  local -a extra=(--pid-file "$pidf")
  for a in "$@"; do
    [ "$a" = --tcp ] && tcp=1
    case "$a" in
      --tcp=*) tcp=1 ;;
      --file-root|--file-root=*|--nbd-root|--nbd-root=*) roots=1 ;;
    esac
  done
  # Tickets may point at files and NBD sockets in the test's directory.
  [ "$roots" -eq 1 ] || extra+=(--file-root "$tmpdir" --nbd-root "$tmpdir")
  [ "$tcp" -eq 1 ] && extra+=(--port-file "$portf")
  server_log="$tmpdir/server-$n.log"
  _server_logs+=("$server_log")
  "$IMAGEIO_SERVER" -v "${extra[@]}" "$@" </dev/null >"$server_log" 2>&1 &
  server_pid=$!
  _server_running[$server_pid]=1
  cleanup_fn _stop_server_at_exit "$server_pid"
  local deadline=$(( $(_now_ms) + 10000 ))
  until [ -s "$pidf" ] && { [ "$tcp" -eq 0 ] || [ -s "$portf" ]; }; do
    if _pid_exited "$server_pid"; then
      local st=0
      wait "$server_pid" || st=$?
      unset "_server_running[$server_pid]"
      cat "$server_log" >&2
      fail "imageio-server exited early (status $st): $*"
    fi
    [ "$(_now_ms)" -lt "$deadline" ] || fail "imageio-server not ready in 10s: $*"
    sleep 0.02
  done
  if [ "$tcp" -eq 1 ]; then
    server_port=$(<"$portf")
    server_port=${server_port%%[!0-9]*}
    [ -n "$server_port" ] || fail "empty port file"
  fi
}

# start_server with a private Unix socket; sets server_sock.
start_server_unix ()
{
  server_sock="$tmpdir/imageio-$(( _server_n + 1 )).sock"
  start_server --unix "$server_sock" "$@"
}

# Stops a server (default: the last one started) with SIGTERM, waits at most
# 10 s (then SIGKILL), sets server_status to its exit status.  Returns 0.
stop_server ()
{
  local pid=${1:-$server_pid}
  server_status=0
  if [ -z "${_server_running[$pid]:-}" ]; then
    return 0
  fi
  unset "_server_running[$pid]"
  _kill_wait "$pid" || server_status=$?
  return 0
}

_stop_server_at_exit ()
{
  local pid=$1
  [ -n "${_server_running[$pid]:-}" ] || return 0
  stop_server "$pid"
  if [ "$server_status" -ne 0 ]; then
    echo "$_test_name: imageio-server pid $pid exited with status $server_status on SIGTERM" >&2
    _server_bad=1
  fi
}

# kill that ignores a process already gone (for cleanup_fn).
kill_quiet ()
{
  kill "$@" 2>/dev/null || true
}

# True if the server process PID (default the last) is still running.
server_alive ()
{
  ! _pid_exited "${1:-$server_pid}"
}

# ---- HTTP ------------------------------------------------------------------

icurl ()
{
  curl --max-time 30 --connect-timeout 10 -sS "$@"
}

resp_headers="$tmpdir/resp.headers"
resp_body="$tmpdir/resp.body"

# Runs icurl ARGS, keeps the last answer's headers and body in
# $resp_headers and $resp_body, sets status (000 when no answer).  Never
# fails by itself: the test checks status.
request ()
{
  : >"$resp_headers"
  : >"$resp_body"
  status=$(icurl -D "$resp_headers" -o "$resp_body" -w '%{http_code}' "$@" \
             2>"$tmpdir/resp.err") || true
  [ -n "$status" ] || status=000
}

# Prints the value of header NAME (case-insensitive) in the last answer of
# request, or nothing.  With several answers (redirects), the last wins.
header ()
{
  awk -v name="$(printf '%s' "$1" | tr 'A-Z' 'a-z')" '
    BEGIN { FS = ":" }
    /^HTTP\// { v = ""; found = 0; next }
    {
      sub(/\r$/, "")
      n = tolower($1)
      if (n == name) {
        v = substr($0, length($1) + 2)
        sub(/^[ \t]+/, "", v); sub(/[ \t]+$/, "", v)
        found = 1
      }
    }
    END { if (found) print v }' "$resp_headers"
}

# Fails unless the last answer had status WANT; shows the body otherwise.
expect_status ()
{
  local want=$1; shift
  if [ "$status" != "$want" ]; then
    echo "---- answer headers ----" >&2; cat "$resp_headers" >&2
    echo "---- answer body ----" >&2; head -c 2000 "$resp_body" >&2; echo >&2
    [ -s "$tmpdir/resp.err" ] && cat "$tmpdir/resp.err" >&2
    fail "${*:-request}: status $status, expected $want"
  fi
}

# Fails unless the last answer body is exactly TEXT plus a newline.
expect_body ()
{
  local want=$1
  if [ "$(cat "$resp_body"; echo x)" != "$want"$'\n'x ]; then
    printf 'got body: %q\n' "$(cat "$resp_body")" >&2
    fail "expected body: $want"
  fi
}

# ---- logs ------------------------------------------------------------------

count_log ()
{
  grep -c -E -- "$1" "${2:-$server_log}" || true
}

# The server logs a request just after its client has the answer, and a
# connection's close after its last request.  Once the clients are gone
# (nbdkit exited, curl returned), waits (10 s at most) until every
# connection opened in LOG has its close line, so that counts taken next
# see every request.
settle_log ()
{
  wait_until 10 _log_settled "${1:-$server_log}"
}

_log_settled ()
{
  [ "$(count_log 'conn=[0-9]+ open ' "$1")" -eq "$(count_log 'conn=[0-9]+ close$' "$1")" ]
}

# DELETE of ticket ID on the control service's Unix socket CTL, through
# request (status, answer); sets del_ms to how long it took.
timed_delete ()
{
  local t0
  t0=$(_now_ms)
  request --unix-socket "$1" -X DELETE "http://localhost/tickets/$2"
  del_ms=$(( $(_now_ms) - t0 ))
}

# True while the control service on Unix socket CTL shows ticket ID as
# "active" (a request on it running).  Needs jq.
ticket_active ()
{
  curl -sS --max-time 5 --unix-socket "$1" "http://localhost/tickets/$2" |
    jq -e '.active == true' >/dev/null
}

# Polls until the log has a line matching the ERE, at most SECONDS (10).
wait_for_log ()
{
  local pat=$1 secs=${2:-10} log=${3:-$server_log}
  wait_until "$secs" grep -q -E -- "$pat" "$log"
}

# Fails if any whole ticket id given appears in any server log of this test.
expect_log_redacted ()
{
  local id log
  for id in "$@"; do
    for log in "${_server_logs[@]}"; do
      if grep -q -F -- "$id" "$log"; then
        grep -n -F -- "$id" "$log" | head -n 5 | sed 's/^/  /' >&2
        fail "whole ticket id found in $(basename "$log")"
      fi
    done
  done
}

# ---- misc ------------------------------------------------------------------

sha ()
{
  sha256sum "$1" | cut -d' ' -f1
}

# The raw-socket client for what curl cannot send (tests/data/rawhttp.py).
rawhttp ()
{
  /usr/bin/python3 "$SRCDIR/tests/data/rawhttp.py" "$@"
}

# Writes SIZE random bytes to FILE.
random_file ()
{
  head -c "$2" /dev/urandom > "$1"
}

# Sends stdin as one request on a new connection to ADDR (unix:PATH,
# abstract:NAME, tcp:HOST:PORT); fails unless the answer has status WANT
# and the server then closes the connection (within 5 s).
expect_answer_then_close ()
{
  local addr=$1 want=$2 st=0
  rawhttp "$addr" send --timeout 5 > "$tmpdir/raw.out" || st=$?
  head -n 1 "$tmpdir/raw.out" | grep -q -E "^HTTP/1\.[01] $want " ||
    fail "expected $want, got '$(head -n 1 "$tmpdir/raw.out" | tr -d '\r')'"
  [ "$st" -eq 0 ] || fail "connection still open 5 s after a $want answer"
}
