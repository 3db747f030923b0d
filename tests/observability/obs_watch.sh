#!/usr/bin/env bash
# obs_watch.sh — gomap-watch end to end.
#
#   obs_watch.sh GOMAP_WATCH OBS_TARGET EXPFMT_CHECK
#
# Two targets wait (OBS_GO) for the daemon: A does the conflict rounds and the
# core-map work, B the thread-safe maps.  gomap-watch attaches to both and
# writes its ready file; the targets then run, and /metrics (scraped with
# curl) must show exactly their counts.  Then both exit: the daemon must
# report it (gomap_watch_target_up 0) and keep serving the same counts.
# Every scrape must pass the exposition-format checker.  Exit 77 (ctest
# SKIP_RETURN_CODE) only where eBPF is refused.
set -u
watch=$1 target=$2 check=$3

obs_name=gomap-watch obs_logs="watch.log a.out b.out metrics.txt" obs_lines=150
. "$(dirname "$0")/obs_lib.sh"
require_root_and_curl

tmp=$(mktemp -d)
apid="" bpid="" wpid=""
cleanup() {
    # OBS_KEEP=DIR keeps the outputs (docs/observability.md quotes them).
    [ -n "${OBS_KEEP:-}" ] && mkdir -p "$OBS_KEEP" &&
        cp "$tmp"/*.out "$tmp"/watch.log "$tmp"/metrics.* "$OBS_KEEP/" 2>/dev/null
    for p in $wpid $apid $bpid; do kill "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT

OBS_GO=$tmp/goa OBS_PHASES=conflicts,core OBS_SEMS=conflict,op GOMAP_DEBUG=conflict=report \
    "$target" >"$tmp/a.out" 2>"$tmp/a.err" &
apid=$!
OBS_GO=$tmp/gob OBS_PHASES=concmap OBS_SEMS=concmap_op,lock_hold "$target" >"$tmp/b.out" \
    2>"$tmp/b.err" &
bpid=$!
wait_for waiting 30 "$tmp/a.out" "$apid" && wait_for waiting 30 "$tmp/b.out" "$bpid" || fail "targets did not start"

port=$(free_port)
"$watch" --port "$port" --ready-file "$tmp/ready" "$apid" "$bpid" >"$tmp/watch.log" 2>&1 &
wpid=$!
wait_ready "$tmp/ready" "$wpid" 60 || watch_not_ready
touch "$tmp/goa" "$tmp/gob"
wait_for "obs_target: done" 120 "$tmp/a.out" "$apid" || fail "target A did not finish: $(cat "$tmp/a.err")"
wait_for "obs_target: done" 120 "$tmp/b.out" "$bpid" || fail "target B did not finish: $(cat "$tmp/b.err")"
# The counters are read from the BPF maps at each scrape, but the conflict
# sites (and the last conflict's time) come from the ring buffer, which the
# daemon reads on its own time, later on a loaded machine: wait until it
# has logged every conflict (it logs each after counting its site).
conflicts() { grep -c "conflict: pid" "$tmp/watch.log"; }
nconflicts=$(($(sed -n 's/^obs_target: expect conflicts_read_write //p' "$tmp/a.out") +
    $(sed -n 's/^obs_target: expect conflicts_iter_write //p' "$tmp/a.out")))
for ((i = 0; i < 300 && $(conflicts) < nconflicts; i++)); do
    sleep 0.1
done

scrape() {
    curl -sf "http://127.0.0.1:$port/metrics" >"$tmp/metrics.txt" || fail "curl /metrics failed"
    "$check" "$tmp/metrics.txt" || fail "the exposition format check failed"
}
expect() { sed -n "s/^obs_target: expect $2 //p" "$tmp/$1.out"; }
value() { # metric-with-labels regex -> value (first match)
    grep -E "^$1 " "$tmp/metrics.txt" | head -1 | awk '{print $2}'
}
is() { # series regex, expected value
    local v
    v=$(value "$1")
    [ "$v" = "$2" ] || fail "$1 is '${v}', expected $2"
}
positive() {
    local v
    v=$(value "$1")
    [ -n "$v" ] && awk -v v="$v" 'BEGIN{exit !(v > 0)}' || fail "$1 is '${v}', expected > 0"
}

check_counts() {
    local A="pid=\"$apid\",comm=\"obs_target\"" B="pid=\"$bpid\",comm=\"obs_target\""
    is "gomap_conflicts_total\{$A,kind=\"read_write\"\}" "$(expect a conflicts_read_write)"
    is "gomap_conflicts_total\{$A,kind=\"iter_write\"\}" "$(expect a conflicts_iter_write)"
    is "gomap_conflicts_total\{$A,kind=\"writes\"\}" 0
    is "gomap_conflicts_total\{$B,kind=\"read_write\"\}" 0
    is "gomap_ops_total\{$A,op=\"set\"\}" "$(expect a process_core_set)"
    local gets
    gets=$(value "gomap_ops_total\{$A,op=\"get\"\}")
    [ -n "$gets" ] && [ "$gets" -ge "$(expect a process_core_get_min)" ] &&
        [ "$gets" -le "$(expect a process_core_get_max)" ] ||
        fail "gomap_ops_total{op=get} of A is '$gets', expected $(expect a process_core_get_min)..$(expect a process_core_get_max)"
    is "gomap_ops_total\{$A,op=\"delete\"\}" "$(expect a process_core_delete)"
    # Target A inserts NSET keys into one map from empty: 11 doublings.
    is "gomap_grows_total\{$A,kind=\"double\"\}" 11
    positive "gomap_evacuations_total\{$A\}"
    positive "gomap_evacuation_seconds_count\{$A\}"
    positive "gomap_last_conflict_timestamp_seconds\{$A\}"
    # Each conflict's call site: the reader thread's function in obs_target.
    local cmap
    cmap=$(sed -n 's/^obs_target: conflict map //p' "$tmp/a.out")
    is "gomap_conflict_sites_total\{$A,kind=\"read_write\",map=\"$cmap\",site=\"reader_main\"\}" "$(expect a conflicts_read_write)"
    is "gomap_conflict_sites_total\{$A,kind=\"iter_write\",map=\"$cmap\",site=\"reader_main\"\}" "$(expect a conflicts_iter_write)"
    is "gomap_watch_dropped_total\{what=\"sites\"\}" 0
    local kind
    for kind in shard sync cow; do
        grep -q "^obs_target: concmap $kind 0x" "$tmp/b.out" || continue
        is "gomap_concmap_ops_total\{$B,variant=\"$kind\",op=\"store\"\}" "$(expect b concmap_store)"
        is "gomap_concmap_ops_total\{$B,variant=\"$kind\",op=\"load\"\}" "$(expect b concmap_load)"
        is "gomap_concmap_ops_total\{$B,variant=\"$kind\",op=\"delete\"\}" "$(expect b concmap_delete)"
    done
    if grep -q "^obs_target: concmap rw 0x" "$tmp/b.out"; then
        is "gomap_concmap_ops_total\{$B,variant=\"rw\",op=\"store\"\}" "$(expect b concmap_rw_store)"
        is "gomap_concmap_ops_total\{$B,variant=\"rw\",op=\"load\"\}" "$(expect b concmap_rw_load)"
        positive "gomap_lock_hold_seconds_count\{$B,variant=\"rw\",mode=\"exclusive\"\}"
    fi
    if grep -q "^obs_target: concmap sync 0x" "$tmp/b.out"; then
        positive "gomap_syncmap_misses_total\{$B\}"
        positive "gomap_syncmap_promotions_total\{$B\}"
    fi
}

scrape
is "gomap_watch_target_up\{pid=\"$apid\",comm=\"obs_target\"\}" 1
curl -sf "http://127.0.0.1:$port/healthz" | grep -qx "ok: 2 target(s) watched, 2 running" ||
    fail "/healthz did not answer ok for 2 running targets"
check_counts
cp "$tmp/metrics.txt" "$tmp/metrics.live"

# The targets exit; the daemon notices, says so, and keeps the values.
touch "$tmp/goa.stop" "$tmp/gob.stop"
wait "$apid" || fail "target A failed: $(cat "$tmp/a.err")"
wait "$bpid" || fail "target B failed: $(cat "$tmp/b.err")"
apid_done=$apid bpid_done=$bpid
wait_for "pid $apid_done \(obs_target\) exited" 30 "$tmp/watch.log" || fail "exit of A not reported"
wait_for "pid $bpid_done \(obs_target\) exited" 30 "$tmp/watch.log" || fail "exit of B not reported"
scrape
is "gomap_watch_target_up\{pid=\"$apid_done\",comm=\"obs_target\"\}" 0
is "gomap_watch_target_up\{pid=\"$bpid_done\",comm=\"obs_target\"\}" 0
curl -sf "http://127.0.0.1:$port/healthz" | grep -qx "ok: 2 target(s) watched, 0 running" ||
    fail "/healthz did not stay ok once the targets exited"
check_counts
apid="" bpid=""
[ "$(conflicts)" = "$nconflicts" ] ||
    fail "gomap-watch did not log each conflict from its ring buffer"

kill -INT "$wpid"
wait "$wpid" || fail "gomap-watch exited with an error"
wpid=""
echo "PASS (gomap-watch): $(grep -vc '^#' "$tmp/metrics.txt") series; excerpt:"
grep -E 'conflicts_total|ops_total\{.*op="set"|grows_total\{.*double|target_up' "$tmp/metrics.live" | head -12
exit 0
