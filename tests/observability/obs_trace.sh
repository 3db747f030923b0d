#!/usr/bin/env bash
# obs_trace.sh — runs one of tools/trace/*.bt against a live obs_target and
# checks what the script prints.
#
#   obs_trace.sh SCRIPT TARGET SEMAPHORES LIBRARY
#
# (LIBRARY: libgomap, whose functions tools/trace/heatmap tells from the
# target's.)
# The target waits (OBS_GO) until bpftrace has printed its BEGIN line — which
# bpftrace does only after every probe is attached — so no event is missed;
# it then checks that the semaphores in SEMAPHORES were raised (exit 3 if
# not), does its fixed workload, calls obs_target_done() (where a uprobe the
# test adds makes bpftrace exit) and stays alive until bpftrace has printed
# its summary (user stacks are symbolized from the live process).  Exit 77 (ctest SKIP_RETURN_CODE) only where eBPF is refused.
set -u
script=$1 target=$2 sems=$3 library=$4
name=$(basename "$script" .bt)

. "$(dirname "$0")/obs_lib.sh"
# This test's own failure report: bpftrace's output, then the target's.
fail() {
    echo "FAIL ($name): $*"
    echo "--- bpftrace output ---"
    cat "$tmp/bt.out" "$tmp/bt.err" 2>/dev/null | head -200
    echo "--- target output ---"
    cat "$tmp/target.out" 2>/dev/null | head -50
    tail -20 "$tmp/target.err" 2>/dev/null
    exit 1
}

[ "$(id -u)" = 0 ] || skip "eBPF needs root (uid $(id -u))"
command -v bpftrace >/dev/null || skip "bpftrace is not installed"
if [ ! -e /sys/kernel/tracing/uprobe_events ] && [ ! -e /sys/kernel/debug/tracing/uprobe_events ]; then
    mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null ||
        skip "tracefs is not mounted and cannot be mounted"
fi
ulimit -l unlimited 2>/dev/null || true

tmp=$(mktemp -d)
tpid="" bpid=""
cleanup() {
    # OBS_KEEP=DIR keeps the outputs (docs/observability.md quotes them).
    [ -n "${OBS_KEEP:-}" ] && mkdir -p "$OBS_KEEP" && cp "$tmp"/*.out "$OBS_KEEP/" 2>/dev/null
    [ -n "$bpid" ] && kill "$bpid" 2>/dev/null
    [ -n "$tpid" ] && kill "$tpid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

# A private copy of the target: uprobes attach to a file (an inode), so the
# tool sees this test's process only, whatever else runs in parallel.
cp "$target" "$tmp/obs_target"
target=$tmp/obs_target
OBS_GO=$tmp/go OBS_SEMS=$sems GOMAP_DEBUG=conflict=report "$target" >"$tmp/target.out" \
    2>"$tmp/target.err" &
tpid=$!
wait_for "waiting" 30 "$tmp/target.out" "$tpid" || fail "the target did not start"

# The tool, plus one probe that ends it the way Ctrl-C would (END, then the
# maps), once the target has done its work: exit() goes through bpftrace's
# event stream, after every event the work produced.
{
    cat "$script"
    printf '\nuprobe:%s:obs_target_done\n{\n\texit();\n}\n' "$target"
} >"$tmp/tool.bt"
# Run through the script's own first line, which sets
# BPFTRACE_CACHE_USER_SYMBOLS=1: without it bpftrace 0.17 builds a symbol
# cache per thread id and, on this machine, at random closed descriptors of
# its own maps ("failed to look up stack id ...: -9", END never printed).
# Attached by path rather than -p: -p mode enables the semaphores through
# bcc and its detach then fails with EBADF now and then (docs/observability.md).
head -1 "$tmp/tool.bt" | grep -q "BPFTRACE_CACHE_USER_SYMBOLS=1 bpftrace" ||
    fail "$script does not set BPFTRACE_CACHE_USER_SYMBOLS=1 on its first line"
chmod +x "$tmp/tool.bt"
"$tmp/tool.bt" "$target" >"$tmp/bt.out" 2>"$tmp/bt.err" &
bpid=$!
if ! wait_for "tracing" 60 "$tmp/bt.out" "$bpid"; then
    if grep -qiE "permission|not permitted|EPERM|lockdown" "$tmp/bt.err"; then
        skip "the kernel refused eBPF: $(grep -iE 'permission|not permitted|EPERM|lockdown' "$tmp/bt.err" | head -1)"
    fi
    fail "bpftrace did not attach"
fi
touch "$tmp/go"
wait_for "obs_target: done" 120 "$tmp/target.out" "$tpid" || {
    grep -q "was not raised" "$tmp/target.err" && fail "$(cat "$tmp/target.err")"
    fail "the target did not finish"
}
for ((i = 0; i < 1200; i++)); do
    alive "$bpid" || break
    sleep 0.1
done
alive "$bpid" && fail "bpftrace did not exit after the target's work"
wait "$bpid"
bpid=""
grep -q "^=== " "$tmp/bt.out" || fail "bpftrace did not run its END block"
touch "$tmp/go.stop"
wait "$tpid"
trc=$?
tpid=""
[ "$trc" = 0 ] || fail "the target exited with status $trc"

out=$tmp/bt.out
expect() { sed -n "s/^obs_target: expect $1 //p" "$tmp/target.out"; }
tpid_of() { sed -n 's/^obs_target: pid \([0-9]*\) waiting/\1/p' "$tmp/target.out"; }
has() { grep -qE "$1" "$out" || fail "no line matching: $1"; }
P=$(tpid_of)

case $name in
conflicts)
    rw=$(expect conflicts_read_write) it=$(expect conflicts_iter_write)
    has "^@conflicts: $((rw + it))\$"
    has "^@by_kind\[concurrent map read and map write\]: $rw\$"
    has "^@by_kind\[concurrent map iteration and map write\]: $it\$"
    # Each conflict names both threads: the reader detected it, the writer
    # held the writing flag.
    while read -r _ _ i _ _ w _ _ r; do
        has "detector tid $r writer tid $w\$"
    done < <(grep '^obs_target: conflict [0-9]* writer tid' "$tmp/target.out")
    # Both stacks: the detecting one runs through reader_main, the writer's
    # through writer_main; the heat map credits reader_main once per conflict.
    has "^ +reader_main\+"
    has "^ +writer_main\+"
    heat=$(awk -F': ' '/^@heat\[[0-9]+, reader_main, 0x/ { n += $2 } END { print n + 0 }' "$out")
    [ "$heat" = $((rw + it)) ] || fail "the heat map credits reader_main with $heat conflicts"
    # The heat map as a picture (tools/trace/heatmap): one row per call site
    # of each thread, each with every conflict.
    "$(dirname "$script")/heatmap" --library "$library" "$out" "$tmp/heat" >"$tmp/heatmap.out" 2>&1 ||
        fail "heatmap failed: $(cat "$tmp/heatmap.out")"
    grep -q "^ *$((rw + it))  detecting: reader_main\$" "$tmp/heatmap.out" ||
        fail "heatmap: no row 'detecting: reader_main' with $((rw + it)): $(cat "$tmp/heatmap.out")"
    grep -q "^ *$((rw + it))  writer: writer_main\$" "$tmp/heatmap.out" ||
        fail "heatmap: no row 'writer: writer_main' with $((rw + it)): $(cat "$tmp/heatmap.out")"
    grep -q "detecting: reader_main ($((rw + it)))" "$tmp/heat.svg" || fail "heatmap: the SVG lacks the reader_main row"
    grep -q "^<svg" "$tmp/heat.svg" || fail "heatmap: no SVG"
    head -c 8 "$tmp/heat.png" | od -An -c | grep -q "P   N   G" || fail "heatmap: no PNG"
    [ "$(awk '{ for (i = 1; i <= NF; i++) n += $i } END { print n }' "$tmp/heat.dat")" = $((2 * (rw + it))) ] ||
        fail "heatmap: the matrix does not hold every conflict twice (both threads)"
    ;;
ops)
    m=$(sed -n 's/^obs_target: core map //p' "$tmp/target.out")
    has "^@ops\[$P, $m, set\]: $(expect core_set)\$"
    has "^@ops\[$P, $m, get\]: $(expect core_get)\$"
    has "^@ops\[$P, $m, delete\]: $(expect core_delete)\$"
    has "^@read_pct\[$P, $m\]: [0-9]+\$"
    has "^@thread_ops\[$P, [0-9]+, get\]: [0-9]+\$"
    for kind in shard sync cow; do
        grep -q "^obs_target: concmap $kind 0x" "$tmp/target.out" || continue
        has "^@concmap_kind_ops\[$P, $kind, store\]: $(expect concmap_store)\$"
        has "^@concmap_kind_ops\[$P, $kind, load\]: $(expect concmap_load)\$"
        has "^@concmap_kind_ops\[$P, $kind, delete\]: $(expect concmap_delete)\$"
    done
    ;;
growth)
    m=$(sed -n 's/^obs_target: core map //p' "$tmp/target.out")
    # NSET inserts from empty: B goes 0 -> 11 by doublings (6.5 * 2^11 >= 10000).
    has "^[0-9:]+ grow: pid $P map $m B 10 -> 11 \(doubling"
    has "^@grows_per_map\[$P, $m\]: 11\$"
    has "^@evacuations\[$P\]: [0-9]+\$"
    has "^@evacuate_ns\[$P\]:"
    ;;
locks)
    for kind in rw shard; do
        grep -q "^obs_target: concmap $kind 0x" "$tmp/target.out" || continue
        has "^@holds\[$P, $kind, exclusive\]: [0-9]+\$"
        has "^@hold_ns\[$kind, (exclusive|shared)\]:"
    done
    if grep -q "^obs_target: concmap sync 0x" "$tmp/target.out"; then
        has "^@syncmap_misses\[$P, 0x[0-9a-f]+\]: [0-9]+\$"
        has "^@syncmap_promotions\[$P, 0x[0-9a-f]+\]: [0-9]+\$"
    fi
    ;;
*) fail "no checks for $name" ;;
esac
echo "PASS ($name): $(grep -c . "$out") lines of output checked"
exit 0
