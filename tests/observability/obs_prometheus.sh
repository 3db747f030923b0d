#!/usr/bin/env bash
# obs_prometheus.sh — a real Prometheus scraping gomap-watch, end to end.
#
#   obs_prometheus.sh GOMAP_WATCH OBS_TARGET PROMETHEUS RULES DASHBOARD
#
# Two targets wait (OBS_GO) for the daemon: A makes conflicts (report mode)
# and core-map work (growth), B the thread-safe maps (lock waits, syncmap
# misses); both repeat their work for a few seconds.  gomap-watch attaches to
# both; a Prometheus of our own (own config and data directory in a temporary
# directory, loopback port, 1 s scrape and rule evaluation, the alert rules
# RULES) scrapes it.  Once Prometheus sees the daemon up, the targets run.
# The test then asks Prometheus's HTTP API for the series (labels, values),
# waits for the conflict alert to fire with its map and call site, and
# evaluates every PromQL expression of the Grafana dashboard DASHBOARD, each
# of which must return data.  Exit 77 (ctest SKIP_RETURN_CODE) only where
# eBPF is refused.
set -u
watch=$1 target=$2 prometheus=$3 rules=$4 dashboard=$5

obs_name=prometheus obs_logs="watch.log a.out b.out prometheus.log"
. "$(dirname "$0")/obs_lib.sh"
require_root_and_curl
command -v jq >/dev/null || skip "jq is not installed"

tmp=$(mktemp -d)
apid="" bpid="" wpid="" ppid_=""
cleanup() {
    # OBS_KEEP=DIR keeps the outputs (docs/observability.md quotes them).
    [ -n "${OBS_KEEP:-}" ] && mkdir -p "$OBS_KEEP" &&
        cp "$tmp"/*.out "$tmp"/*.log "$tmp"/*.json "$OBS_KEEP/" 2>/dev/null
    for p in $ppid_ $wpid $apid $bpid; do kill "$p" 2>/dev/null; done
    for p in $ppid_ $wpid $apid $bpid; do wait "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT

rounds=4
common=(OBS_REPEAT=$rounds OBS_PAUSE_MS=600)
env "${common[@]}" OBS_GO=$tmp/goa OBS_PHASES=conflicts,core OBS_SEMS=conflict,op,grow_start \
    GOMAP_DEBUG=conflict=report "$target" >"$tmp/a.out" 2>"$tmp/a.err" &
apid=$!
env "${common[@]}" OBS_GO=$tmp/gob OBS_PHASES=concmap OBS_SEMS=concmap_op,lock_wait,syncmap_miss \
    "$target" >"$tmp/b.out" 2>"$tmp/b.err" &
bpid=$!
wait_for waiting 30 "$tmp/a.out" "$apid" && wait_for waiting 30 "$tmp/b.out" "$bpid" ||
    fail "targets did not start"

wport=$(free_port 0)
"$watch" --port "$wport" --ready-file "$tmp/ready" "$apid" "$bpid" >"$tmp/watch.log" 2>&1 &
wpid=$!
wait_ready "$tmp/ready" "$wpid" 60 || watch_not_ready
curl -sf "http://127.0.0.1:$wport/healthz" | grep -q "^ok" || fail "/healthz of gomap-watch is not ok"

# Prometheus: its own configuration and storage, on loopback only.
pport=$(free_port 1)
cp "$rules" "$tmp/gomap.rules.yml"
cat >"$tmp/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - $tmp/gomap.rules.yml
scrape_configs:
  - job_name: gomap-watch
    static_configs:
      - targets: ['127.0.0.1:$wport']
EOF
"$prometheus" --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/data" \
    --web.listen-address="127.0.0.1:$pport" --log.level=warn >"$tmp/prometheus.log" 2>&1 &
ppid_=$!
api="http://127.0.0.1:$pport/api/v1"

# query EXPR -> the JSON result vector (fails the test when the API errs)
query() {
    local out
    out=$(curl -sf --get --data-urlencode "query=$1" "$api/query") || fail "query failed: $1"
    [ "$(jq -r .status <<<"$out")" = success ] || fail "query error: $1: $out"
    jq -c .data.result <<<"$out"
}
# value EXPR -> the first sample's value (empty when no series)
value() { query "$1" | jq -r '.[0].value[1] // empty'; }
# eventually SECONDS EXPR JQ-TEST: polls until the result passes the jq test
eventually() {
    local i
    for ((i = 0; i < $1 * 2; i++)); do
        query "$2" | jq -e "$3" >/dev/null && return 0
        alive "$ppid_" || fail "prometheus exited"
        alive "$wpid" || fail "gomap-watch exited"
        sleep 0.5
    done
    return 1
}

for ((i = 0; i < 300; i++)); do
    curl -sf "http://127.0.0.1:$pport/-/ready" >/dev/null && break
    alive "$ppid_" || fail "prometheus did not start"
    sleep 0.1
done
eventually 30 'up{job="gomap-watch"}' 'length == 1 and .[0].value[1] == "1"' ||
    fail "prometheus does not see gomap-watch up"

# The first scrapes saw zero; now the work runs, sampled every second.
touch "$tmp/goa" "$tmp/gob"
wait_for "obs_target: done" 120 "$tmp/a.out" "$apid" || fail "target A did not finish: $(cat "$tmp/a.err")"
wait_for "obs_target: done" 120 "$tmp/b.out" "$bpid" || fail "target B did not finish: $(cat "$tmp/b.err")"

# The last counts reach Prometheus with a scrape after the work, and a
# scrape due every second can come late on a loaded machine (and the
# conflict sites come from gomap-watch's ring buffer, read on its own time):
# each check polls (eventually), for up to 30 s, until the value is the one
# expected.
# Counters only grow, so a wrong count still fails (at the end of the wait).
expect() { sed -n "s/^obs_target: expect $2 //p" "$tmp/$1.out"; }
A="pid=\"$apid\",comm=\"obs_target\"" B="pid=\"$bpid\",comm=\"obs_target\""
settled() { # expr, jq test on its value $v (a string, as Prometheus gives it), what was expected
    eventually 30 "$1" "(.[0].value[1] // empty) as \$v | $2" ||
        fail "$1 is '$(value "$1")', expected $3"
}
is() { settled "$1" "\$v == \"$2\"" "$2"; }
at_least() { settled "$1" "(\$v | tonumber) >= $2" ">= $2"; }
between() { # (NaN is in no range)
    settled "$1" "(\$v | tonumber) as \$n | \$n >= $2 and \$n <= $3" "in [$2, $3]"
}
cmap=$(sed -n 's/^obs_target: conflict map //p' "$tmp/a.out")
is "up{job=\"gomap-watch\"}" 1
is "gomap_watch_target_up{$A}" 1
is "gomap_conflicts_total{$A,kind=\"read_write\"}" "$(expect a conflicts_read_write)"
is "gomap_conflicts_total{$A,kind=\"iter_write\"}" "$(expect a conflicts_iter_write)"
is "gomap_conflicts_total{$A,kind=\"writes\"}" 0
is "gomap_conflict_sites_total{$A,kind=\"read_write\",map=\"$cmap\",site=\"reader_main\"}" \
    "$(expect a conflicts_read_write)"
is "gomap_ops_total{$A,op=\"set\"}" $((rounds * $(expect a core_set) + 1 + $(expect a conflicts_read_write) + $(expect a conflicts_iter_write)))
is "gomap_ops_total{$A,op=\"delete\"}" $((rounds * $(expect a core_delete)))
is "gomap_grows_total{$A,kind=\"double\"}" $((rounds * 11))
at_least "gomap_evacuations_total{$A}" "$rounds"
is "gomap_concmap_ops_total{$B,variant=\"rw\",op=\"store\"}" $((rounds * $(expect b concmap_rw_store)))
at_least "gomap_lock_wait_seconds_count{$B,variant=\"rw\",mode=\"exclusive\"}" "$rounds"
at_least "gomap_syncmap_misses_total{$B}" "$rounds"
at_least "gomap_syncmap_promotions_total{$B}" "$rounds"
# Plausible rates and latencies over the run: the ops happened within the last
# minute; a lock wait's p99 is between 100 ns and 1 s; rates are positive.
at_least "sum(increase(gomap_ops_total{$A}[1m]))" 1
between "histogram_quantile(0.99, sum by (le) (rate(gomap_lock_wait_seconds_bucket{$B,variant=\"rw\"}[1m])))" 1e-7 1
between "histogram_quantile(0.5, sum by (le) (rate(gomap_evacuation_seconds_bucket{$A}[1m])))" 1e-8 1
is "sum(gomap_watch_dropped_total)" 0

# The conflict alert fires, naming the map and the call site.
alerts() { curl -sf "$api/alerts" | jq -c '.data.alerts'; }
for ((i = 0; i < 60; i++)); do
    alerts >"$tmp/alerts.json" || fail "GET /api/v1/alerts failed"
    jq -e --arg m "$cmap" --arg p "$apid" 'any(.[]; .labels.alertname == "GomapConflict" and
        .state == "firing" and .labels.map == $m and .labels.site == "reader_main" and
        .labels.pid == $p and .labels.kind == "read_write")' "$tmp/alerts.json" >/dev/null && break
    sleep 0.5
done
[ "$i" -lt 60 ] || fail "GomapConflict did not fire: $(cat "$tmp/alerts.json")"
jq -e 'all(.[] | select(.state == "firing"); .labels.alertname == "GomapConflict")' "$tmp/alerts.json" >/dev/null ||
    fail "an alert other than GomapConflict fired: $(cat "$tmp/alerts.json")"

# Every dashboard panel's query returns data.
n=0
while IFS= read -r expr; do
    res=$(query "$expr")
    [ "$(jq length <<<"$res")" -gt 0 ] || fail "dashboard query returns nothing: $expr"
    jq -e 'any(.[]; .value[1] != "NaN")' <<<"$res" >/dev/null ||
        fail "dashboard query returns only NaN: $expr"
    n=$((n + 1))
done < <(jq -r '.panels[].targets[].expr' "$dashboard")
[ "$n" -ge 10 ] || fail "only $n dashboard queries"
query 'sum by (comm, pid, kind, map, site) (gomap_conflict_sites_total)' >"$tmp/sites.json"

touch "$tmp/goa.stop" "$tmp/gob.stop"
wait "$apid" || fail "target A failed: $(cat "$tmp/a.err")"
wait "$bpid" || fail "target B failed: $(cat "$tmp/b.err")"
apid="" bpid=""
echo "PASS (prometheus): $n dashboard queries with data; firing:"
jq -r '.[] | "\(.labels.alertname) kind=\(.labels.kind) map=\(.labels.map) site=\(.labels.site) \(.state)"' \
    "$tmp/alerts.json"
exit 0
