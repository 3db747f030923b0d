#!/usr/bin/env bash
# obs_watch_caps.sh — gomap-watch as its systemd unit runs it: --all, as an
# unprivileged user holding only the unit's AmbientCapabilities.
#
#   obs_watch_caps.sh GOMAP_WATCH OBS_TARGET_SHARED LIBGOMAP UNIT
#
# The daemon starts first (uid 65534, the capabilities of UNIT, --all
# restricted with --library to a private copy of LIBGOMAP so that no other
# process on the machine is watched); then a target linked with that copy
# starts; the daemon must find it within its scan period, attach, and count
# its operations exactly.  Exit 77 only where eBPF is refused even to root,
# or where setpriv is missing.
set -u
watch=$1 target=$2 lib=$3 unit=$4

obs_name="gomap-watch as a service" obs_logs="watch.log t.out metrics.txt" obs_lines=40
. "$(dirname "$0")/obs_lib.sh"
require_root_and_curl
command -v setpriv >/dev/null && command -v capsh >/dev/null || skip "setpriv/capsh not installed"

tmp=$(mktemp -d)
chmod 755 "$tmp"
tpid="" wpid=""
cleanup() {
    for p in $wpid $tpid; do kill "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT

# The unit's capabilities, in setpriv's syntax; one this test's own bounding
# set lacks (a container may withhold some) is left out and said so.
bounding=$(capsh --decode="$(awk '/^CapBnd/ { print $2 }' /proc/self/status)" | tr ',' '\n')
caps=""
for c in $(sed -n 's/^AmbientCapabilities=//p' "$unit"); do
    c=$(tr 'A-Z' 'a-z' <<<"$c")
    if grep -qx "$c" <<<"$bounding"; then
        caps="$caps${caps:+,}+${c#cap_}"
    else
        echo "note: $c is not in this test's bounding set; running without it"
    fi
done
[ -n "$caps" ] || fail "no AmbientCapabilities in $unit"

mkdir "$tmp/lib" "$tmp/run"
chmod 777 "$tmp/run"
cp "$lib" "$tmp/lib/libgomap.so.0"
port=$(free_port)
setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps="$caps" --ambient-caps="$caps" \
    "$watch" --all --library "$tmp/lib/libgomap.so.0" --port "$port" --ready-file "$tmp/run/ready" \
    >"$tmp/watch.log" 2>&1 &
wpid=$!
if ! wait_ready "$tmp/run/ready" "$wpid" 30; then
    grep -qiE "permission|not permitted" "$tmp/watch.log" &&
        fail "the unit's capabilities ($caps) do not let gomap-watch load its BPF programs"
    fail "gomap-watch did not start"
fi
grep -q '^Uid:[[:space:]]*65534' "/proc/$wpid/status" || fail "gomap-watch does not run as uid 65534"

LD_LIBRARY_PATH=$tmp/lib OBS_GO=$tmp/go OBS_PHASES=core "$target" >"$tmp/t.out" 2>&1 &
tpid=$!
wait_for waiting 30 "$tmp/t.out" "$tpid" || fail "the target did not start"
grep -q "$tmp/lib/libgomap.so.0" "/proc/$tpid/maps" || fail "the target does not map the private libgomap"
# --all scans every 2 s; attaching takes a while more on a loaded machine.
wait_for "pid $tpid \(obs_target_shar\): .*: [1-9][0-9]* probes attached" 60 "$tmp/watch.log" "$wpid" ||
    fail "gomap-watch --all did not attach to the new process"
grep -q "pid $tpid: .*not attached" "$tmp/watch.log" && fail "some probes were not attached"
touch "$tmp/go"
wait_for "obs_target: done" 60 "$tmp/t.out" "$tpid" || fail "the target did not finish"
expect() { sed -n "s/^obs_target: expect $1 //p" "$tmp/t.out"; }
curl -sf "http://127.0.0.1:$port/metrics" >"$tmp/metrics.txt" || fail "curl /metrics failed"
L="pid=\"$tpid\",comm=\"obs_target_shar\""
for op in set delete; do
    v=$(grep -F "gomap_ops_total{$L,op=\"$op\"} " "$tmp/metrics.txt" | awk '{print $2}')
    [ "$v" = "$(expect "process_core_$op")" ] || fail "gomap_ops_total{op=$op} is '$v', expected $(expect "process_core_$op")"
done
grep -qF "gomap_grows_total{$L,kind=\"double\"} 11" "$tmp/metrics.txt" || fail "growth not counted"
curl -sf "http://127.0.0.1:$port/healthz" | grep -qx "ok: 1 target(s) watched, 1 running" || fail "/healthz"
touch "$tmp/go.stop"
wait "$tpid" || fail "the target failed"
tpid=""
kill -TERM "$wpid"
wait "$wpid" || fail "gomap-watch did not stop cleanly on SIGTERM"
wpid=""
echo "PASS (gomap-watch as a service): uid 65534 with $caps found and counted the new process"
exit 0
