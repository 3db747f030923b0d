#!/usr/bin/env bash
# detect_cost.sh [BUILD] — what concurrent-misuse detection costs per core-map
# operation, as callgrind instruction counts (stable on a busy machine, where
# timings are not): tools/detect_cost/detect_cost.c linked against the
# library with detection and against gomap_nodetect (detection compiled out),
# each operation on N=200000 u64 keys.  BUILD (default build-cost) is
# configured with -DGOMAP_PROBES=OFF, so that both sides lack the USDT probes
# and the difference is detection alone.
#
# An operation's count depends on where its keys land, that is on the map's
# hash seed, by about as much as detection costs: each operation runs once
# per seed of SEEDS (default 1 2 3 4 5), with the same seed on both sides,
# and the table gives the mean over the seeds and the spread of the cost
# (min..max), which is what a goal must hold for.  OPS (default all five)
# picks operations, to split a long run.  Prints a markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-cost}
n=${N:-200000}
seeds=${SEEDS:-1 2 3 4 5}
ops=${OPS:-insert hit miss delete iterate}
command -v valgrind >/dev/null || { echo "needs valgrind"; exit 2; }
[ -f "$build/CMakeCache.txt" ] ||
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGOMAP_PROBES=OFF \
        -DGOMAP_BUILD_TESTS=OFF -DGOMAP_BUILD_BENCH=OFF -DGOMAP_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$build" -j2 --target detect_cost detect_cost_nodetect >/dev/null
count() {
    local out
    out=$(mktemp)
    valgrind --tool=callgrind --collect-atstart=no --callgrind-out-file="$out" "$@" >/dev/null 2>&1
    awk '/^summary:/ { print $2 }' "$out"
    rm -f "$out"
}
nseeds=$(wc -w <<<"$seeds")
echo "| operation ($n u64 keys, $nseeds seeds) | detection in | compiled out | cost (mean) | cost (min..max) |"
echo "|---|---|---|---|---|"
for op in $ops; do
    for seed in $seeds; do
        echo "$(count "$build/tools/detect_cost/detect_cost" "$op" "$n" "$seed")" \
            "$(count "$build/tools/detect_cost/detect_cost_nodetect" "$op" "$n" "$seed")"
    done | awk -v op="$op" -v n="$n" '
        { a += $1; b += $2; c = ($1 / $2 - 1) * 100
          if (NR == 1 || c < lo) lo = c
          if (NR == 1 || c > hi) hi = c }
        END { printf "| %s | %.1f | %.1f | %+.2f%% | %+.2f%%..%+.2f%% |\n",
                     op, a / (n * NR), b / (n * NR), (a / b - 1) * 100, lo, hi }'
done
