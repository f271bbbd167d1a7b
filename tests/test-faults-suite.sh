#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The fault suite (issue 7): uploads through `nbdkit imageio` while
# imageio-server injects faults that really lose unflushed data (see
# `imageio-server --help`, "Faults that lose data"), and checks that no
# transfer ends in success with a wrong image.
#
# For each case (a fault kind, with its server and plugin settings) and
# each client (qemu-img convert -n, nbdcopy --flush, nbdcopy; the last case
# qemu-img convert -t writethrough) it uploads a
# pattern image to a fresh target pre-filled with 0x55 bytes, then
# classifies the run:
#   survived        client exit 0 and the target identical to the source
#   failed loudly   client exit status not 0 (a hang, killed by timeout,
#                   is counted here and reported as hung)
#   silently wrong  client exit 0 and the target differs (must be 0)
# and prints one summary line:
#   fault suite: injected N, survived S, failed loudly F, silently wrong W
# It fails when W > 0, when a run hung, or when a case injected no fault
# (the server logs one "fault:" line per fault it injected, so the suite
# cannot pass vacuously).
#
# Environment:
#   PLUGIN_ARGS          more plugin parameters for every run, e.g.
#                        PLUGIN_ARGS="max_unflushed=0"
#   FAULT_SUITE_EXPECT   "loud": a run that survived fails the suite too
#                        (what PLUGIN_ARGS=max_unflushed=0 should give:
#                        nothing can be sent again, so every fault must
#                        fail the transfer)
#   FAULT_SUITE_CASES    an ERE: run only the cases whose name matches
#   FAULT_SUITE_CLIENTS  an ERE: run only the clients whose name matches
#   FAULT_SUITE_BUDGET   seconds (240): runs that would start later are
#                        skipped and fail the suite
source "$(dirname "$0")/functions.sh"
requires_cmd nbdkit nbdcopy qemu-img qemu-nbd timeout
requires nbdkit --filter=delay null --dump-plugin

mib=1048576
size=$(( 16 * mib ))
src=$tmpdir/src.raw
# About a third data (17 runs, 4 KiB .. 1 MiB merged), spread over the image, so
# faults land mid-upload between data and zero requests.
bash "$SRCDIR/tests/data/make-pattern.sh" raw "$src" $size 60 4242
export src

read -r -a plugin_args <<< "${PLUGIN_ARGS:-}"
expect=${FAULT_SUITE_EXPECT:-}
case_filter=${FAULT_SUITE_CASES:-.}
client_filter=${FAULT_SUITE_CLIENTS:-.}
# Bounds: one run (a hang counts as a failure) and the whole suite (meson
# stops a test after 300 s); runs past the budget are not started.
run_timeout=30
budget_ms=$(( ${FAULT_SUITE_BUDGET:-240} * 1000 ))

injected=0 survived=0 loud=0 wrong=0 hung=0 runs=0 not_injected=0
problems=()
t0=$(_now_ms)

# A source that answers each read after 200 ms, for idle-close: copying
# one request at a time leaves the connections idle between writes.
slow_src ()
{
  if [ -z "${slow_uri:-}" ]; then
    start_nbdkit --filter=delay file "$src" rdelay=200ms
    slow_uri=$nbdkit_uri
  fi
}

# client_cmd CLIENT SLOW: the command run by nbdkit --run ($uri is the
# target).  With SLOW the source is the delayed NBD export, copied one
# request at a time.
client_cmd ()
{
  local client=$1 slow=$2 s='"$src"' q='' c=''
  if [ "$slow" = slow ]; then
    s="'$slow_uri'"
    q=' -m 1'
    c=' --requests=1 --connections=1 --request-size=1048576'
  fi
  case "$client" in
    qemu-img) echo "qemu-img convert -n$q -f raw $s -O raw \"\$uri\"" ;;
    # Writethrough: every write is FUA (flush=y), nothing is left unflushed.
    qemu-img-wt) echo "qemu-img convert -n$q -t writethrough -f raw $s -O raw \"\$uri\"" ;;
    nbdcopy-flush) echo "nbdcopy --flush$c -- $s \"\$uri\"" ;;
    nbdcopy) echo "nbdcopy$c -- $s \"\$uri\"" ;;
  esac
}

# run_case NAME BACKEND SLOW PLUGIN_PARAMS FAULTS...
#   BACKEND file (with max-writers=4: the plugin opens 4 connections) or
#   nbd (qemu-nbd, raw); SLOW slow|-; PLUGIN_PARAMS space separated.
#   The clients are $clients.
clients="qemu-img nbdcopy-flush nbdcopy"
run_case ()
{
  local name=$1 backend=$2 slow=$3 pparams=$4; shift 4
  local client target t url st n bytes result cmd log a
  local -a faults=() pp=()
  [[ $name =~ $case_filter ]] || return 0
  for a in "$@"; do faults+=(--fault "$a"); done
  read -r -a pp <<< "$pparams"
  [ "$slow" = slow ] && slow_src
  for client in $clients; do
    [[ $client =~ $client_filter ]] || continue
    if [ $(( $(_now_ms) - t0 )) -ge "$budget_ms" ]; then
      problems+=("$name/$client not run: over the time budget")
      continue
    fi
    runs=$(( runs + 1 ))
    target=$tmpdir/$name-$client.raw
    head -c $size /dev/zero | tr '\0' '\125' > "$target"
    t=$(random_ticket)
    if [ "$backend" = nbd ]; then
      start_qemu_nbd "$target" raw
      make_ticket "$tmpdir/t.json" "$t" $size "nbd:unix:$nbd_sock" read,write
      start_server --tcp 127.0.0.1:0 --no-tls --ticket "$tmpdir/t.json" "${faults[@]}"
    else
      make_ticket "$tmpdir/t.json" "$t" $size "file://$target" read,write
      start_server --tcp 127.0.0.1:0 --no-tls --ticket "$tmpdir/t.json" \
        --fault max-writers=4 "${faults[@]}"
    fi
    url=http://127.0.0.1:$server_port/images/$t
    cmd=$(client_cmd "$client" "$slow")
    log=$tmpdir/$name-$client.log
    st=0
    timeout $run_timeout nbdkit -U - "$IMAGEIO_PLUGIN" url="$url" \
      "${pp[@]}" "${plugin_args[@]}" --run "$cmd" >"$log" 2>&1 || st=$?
    stop_server
    [ "$server_status" -eq 0 ] ||
      fail "$name/$client: imageio-server exit status $server_status"
    # (qemu-nbd, raw, has no cache of its own: the file is up to date.)
    expect_log_redacted "$t"
    n=$(count_log '^imageio-server: fault: ')
    bytes=$(awk '/^imageio-server: fault: /{
                   for (i = 1; i <= NF; i++) if ($i ~ /^bytes=/) s += substr($i, 7)
                 } END { print s + 0 }' "$server_log")
    injected=$(( injected + n ))
    if [ "$st" -eq 124 ] || [ "$st" -eq 137 ]; then
      result="FAILED LOUDLY (hung, killed after ${run_timeout}s)"
      loud=$(( loud + 1 )); hung=$(( hung + 1 ))
      problems+=("$name/$client hung")
    elif [ "$st" -ne 0 ]; then
      result="failed loudly (exit $st)"
      loud=$(( loud + 1 ))
    elif cmp -s "$src" "$target"; then
      result="survived"
      survived=$(( survived + 1 ))
      [ "$expect" != loud ] || [ "$name" = control ] ||
        problems+=("$name/$client survived (FAULT_SUITE_EXPECT=loud)")
    else
      result="SILENTLY WRONG ($(cmp "$src" "$target" 2>&1 | sed 's/.*: //' || true))"
      wrong=$(( wrong + 1 ))
      problems+=("$name/$client silently wrong")
    fi
    if [ "$name" = control ]; then
      # Not a fault case: the tracker is on, no fault fires, and the copy
      # must be exact, or the checks above cannot be trusted.
      runs=$(( runs - 1 ))
      case "$result" in
        survived) survived=$(( survived - 1 )) ;;
        *) problems+=("control/$client (no fault): $result") ;;
      esac
      [ "$n" -eq 0 ] || problems+=("control/$client: $n faults injected")
    elif [ "$n" -eq 0 ]; then
      not_injected=$(( not_injected + 1 ))
      problems+=("$name/$client: no fault injected")
    fi
    printf '%-20s %-14s injected %2d, lost %9d bytes: %s\n' \
      "$name" "$client" "$n" "$bytes" "$result"
    case "$result" in
      SILENTLY*|*hung*)
        { echo "  ---- nbdkit and client output ----"
          tail -n 20 "$log" | sed 's/^/  /'; } ;;
    esac
    rm -f "$target"
    # Only the logs of runs that went wrong are shown at the end.
    case "$result" in
      SILENTLY*|*hung*) ;;
      *) : > "$server_log" ;;
    esac
  done
}

# Faults repeat (N+STEPxCOUNT) so each upload meets several; a PUT or a
# flush sent again counts again.
run_case control           file - "" put-500=1000000
run_case ack-then-drop     file - "" ack-then-drop=2+5x3
run_case drop-before-answer file - "" drop-before-answer=3+5x2
run_case put-500           file - "" put-500=2+6x2
run_case stall             file - "timeout=2" stall=3:2500
run_case flush-500         file - "" flush-500=1
run_case flush-drop        file - "" flush-drop=1
run_case idle-close        file slow "" idle-close=100x4
run_case ticket-loss-nbd   nbd  - "" ack-then-drop=3+4x2 lose=ticket
# A client that leaves nothing unflushed survives dropped connections even
# without a journal: the suite can tell survival from loss.
clients=qemu-img-wt
run_case writethrough      file - "" ack-then-drop=2+5x3 drop-before-answer=4+5x2

el=$(( $(_now_ms) - t0 ))
echo "fault suite: injected $injected, survived $survived, failed loudly $loud, silently wrong $wrong" \
  "($runs runs in $(( el / 1000 )).$(( el % 1000 / 100 ))s${PLUGIN_ARGS:+, PLUGIN_ARGS=$PLUGIN_ARGS})"
[ "$runs" -gt 0 ] || fail "no case selected"
[ "$injected" -gt 0 ] || fail "no fault was injected"
if [ "${#problems[@]}" -gt 0 ]; then
  printf '  %s\n' "${problems[@]}" >&2
  fail "$wrong silently wrong, $hung hung, $not_injected runs without a fault"
fi
