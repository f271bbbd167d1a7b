#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The outage suite (issue 17): uploads through `nbdkit imageio` while
# imageio-server restarts the way ovirt-imageio does (see `imageio-server
# --help`): a server restart (unflushed data lost, every open connection
# dropped, nothing answered for MS ms), a backend restart (unflushed data
# lost, every connection opened before answers 500 until it is closed, new
# ones 500 for MS ms), and a flaky backend (500 on every 9th request).
#
# Matrix (representative, to keep CI time small): outages of 0.2 s and 2 s
# for both restarts under every client; 10 s once per restart kind (one
# client each); 500-every-9th under every client; and one outage longer
# than retry_timeout= per restart kind, which must fail loudly.  Clients:
#   qemu-img     qemu-img convert -n
#   v2v          nbdcopy in virt-v2v's shape (nbdkit --threads 8,
#                --request-size=4194304 --requests=16 --flush)
#   nbdcopy      nbdcopy without --flush
#   download     nbdcopy from the server to a local file (reads ride out
#                the outage too; nothing is at risk, so no replay)
# Each run uploads a pattern image to a target pre-filled with 0x55 and is
#   survived        exit 0, target identical, summary "result: ok"
#   failed loudly   exit not 0 (and the summary says FAILED)
#   silently wrong  exit 0 and the target differs (must never happen)
# Inside the window every run must survive; past it every run must fail
# loudly.  The last line:
#   outage suite: survived S/N inside the window, failed loudly L/M past
#   it, silently wrong W
# and for each run the recovery time the summary reports (its longest
# outage ridden out).
#
# Environment: OUTAGE_SUITE_CASES (an ERE on "kind/ms/client") picks runs.
source "$(dirname "$0")/functions.sh"
requires_cmd nbdkit nbdcopy qemu-img timeout

mib=1048576
size=$(( 64 * mib ))
src=$tmpdir/src.raw
bash "$SRCDIR/tests/data/make-pattern.sh" raw "$src" $size 120 1717
filter=${OUTAGE_SUITE_CASES:-.}
run_timeout=60

inside=0 survived=0 past=0 loud=0 wrong=0
problems=()
t0=$(_now_ms)

# run KIND MS CLIENT WINDOW: one upload; WINDOW is retry_timeout=.
run ()
{
  local kind=$1 ms=$2 client=$3 window=$4
  local name="$kind/$ms/$client" target t url st log fault cmd result rec
  local -a nbdkit_opts=()
  local nproblems=${#problems[@]}
  [[ $name =~ $filter ]] || return 0
  target=$tmpdir/target.raw
  if [ "$client" = download ]; then
    cp "$src" "$target"
  else
    head -c $size /dev/zero | tr '\0' '\125' > "$target"
  fi
  t=$(random_ticket)
  make_ticket "$tmpdir/t.json" "$t" $size "file://$target" read,write
  case "$kind" in
    restart) fault="restart=6:$ms" ;;
    backend-restart) fault="backend-restart=6:$ms" ;;
    error-every) fault="error-every=9:500" ;;
  esac
  start_server --tcp 127.0.0.1:0 --no-tls --ticket "$tmpdir/t.json" \
    --fault max-writers=4 --fault "$fault"
  # A host name: every reconnect during the outage looks it up again in
  # nbdkit's forked child.
  url=http://localhost:$server_port/images/$t
  case "$client" in
    qemu-img) cmd="qemu-img convert -n -f raw '$src' -O raw \"\$uri\"" ;;
    v2v) nbdkit_opts=(--threads 8)
         cmd="nbdcopy --request-size=4194304 --requests=16 --flush '$src' \"\$uri\"" ;;
    nbdcopy) cmd="nbdcopy '$src' \"\$uri\"" ;;
    download) rm -f "$tmpdir/out.raw"
              cmd="nbdcopy \"\$uri\" '$tmpdir/out.raw'" ;;
  esac
  log=$tmpdir/run.log
  st=0
  timeout $run_timeout nbdkit -U - "${nbdkit_opts[@]}" "$IMAGEIO_PLUGIN" \
    url="$url" retry_timeout="$window" --run "$cmd" >"$log" 2>&1 || st=$?
  stop_server
  [ "$(count_log '^imageio-server: fault: ')" -gt 0 ] ||
    problems+=("$name: no fault injected")
  rec=$(sed -n 's/.*longest outage ridden out \([0-9.]*\) s.*/\1/p' "$log")
  if [ "$st" -ne 0 ]; then
    result="failed loudly (exit $st)"
    grep 'transfer summary' "$log" | grep -q 'result: FAILED' ||
      problems+=("$name: failed, but the summary does not say FAILED")
  elif [ "$client" = download ] && cmp -s "$src" "$tmpdir/out.raw"; then
    result=survived
  elif [ "$client" != download ] && cmp -s "$src" "$target"; then
    result=survived
    grep 'transfer summary' "$log" | grep -q 'result: ok$' ||
      problems+=("$name: survived, but the summary does not say ok")
  else
    result="SILENTLY WRONG"
    wrong=$(( wrong + 1 ))
    problems+=("$name silently wrong")
  fi
  [ "$(grep -c 'transfer summary' "$log")" -eq 1 ] ||
    problems+=("$name: not exactly one summary line")
  if [ "$ms" = past ] || [ "$window" -lt 5 ]; then
    past=$(( past + 1 ))
    if [ "$st" -ne 0 ]; then loud=$(( loud + 1 )); else problems+=("$name: survived past the window"); fi
  else
    inside=$(( inside + 1 ))
    [ "$result" = survived ] && survived=$(( survived + 1 ))
    [ "$result" = survived ] || problems+=("$name: $result inside the window")
  fi
  printf '%-16s %6s ms %-9s window %2ss: %-22s recovery %5ss\n' \
    "$kind" "$ms" "$client" "$window" "$result" "${rec:-?}"
  if { [ "$result" != survived ] && [ "$window" -ge 5 ]; } ||
     [ "${#problems[@]}" -gt "$nproblems" ]; then
    tail -n 25 "$log" | sed 's/^/  /'
  fi
  : > "$server_log"
}

for ms in 200 2000; do
  for kind in restart backend-restart; do
    for client in qemu-img v2v nbdcopy; do
      run $kind $ms $client 30
    done
  done
done
run restart 10000 qemu-img 30
run backend-restart 10000 v2v 30
run restart 2000 download 30
run backend-restart 2000 download 30
for client in qemu-img v2v nbdcopy; do
  run error-every - $client 30
done
# Past the window: an outage of 8 s against retry_timeout=2.
run restart 8000 nbdcopy 2
run backend-restart 8000 v2v 2

el=$(( $(_now_ms) - t0 ))
echo "outage suite: survived $survived/$inside inside the window, failed loudly $loud/$past past it, silently wrong $wrong ($(( el / 1000 ))s)"
[ $(( inside + past )) -gt 0 ] || fail "no run selected"
if [ "${#problems[@]}" -gt 0 ]; then
  printf '  %s\n' "${problems[@]}" >&2
  fail "${#problems[@]} problems"
fi
