#!/usr/bin/env bash
# detect_cost.sh [BUILD] — what concurrent-misuse detection costs per core-map
# operation, as callgrind instruction counts (stable on a busy machine, where
# timings are not): tools/detect_cost/detect_cost.c linked against the
# library with detection and against gomap_nodetect (detection compiled out),
# each operation on N=200000 u64 keys.  BUILD (default build-cost) is
# configured with -DGOMAP_PROBES=OFF, so that both sides lack the USDT probes
# and the difference is detection alone.  Prints a markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-cost}
n=${N:-200000}
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
echo "| operation ($n u64 keys) | detection in | compiled out | cost |"
echo "|---|---|---|---|"
for op in insert hit miss delete iterate; do
    with=$(count "$build/tools/detect_cost/detect_cost" "$op" "$n")
    without=$(count "$build/tools/detect_cost/detect_cost_nodetect" "$op" "$n")
    awk -v op="$op" -v a="$with" -v b="$without" -v n="$n" 'BEGIN {
        printf "| %s | %.1f | %.1f | %+.1f%% |\n", op, a / n, b / n, (a / b - 1) * 100 }'
done
