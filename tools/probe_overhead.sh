#!/usr/bin/env bash
# probe_overhead.sh [BUILD_WITH] [BUILD_WITHOUT] — what gomap's USDT probes cost
# when nobody traces them, as callgrind instruction counts of a fixed core-map
# workload (tests/observability/obs_overhead.c): instructions are stable on a busy machine,
# where timings are not.  Configures and builds the two trees if needed
# (default build-probes-on / build-probes-off, -DGOMAP_PROBES=ON / OFF).
# Prints both counts and the ratio; the target is <= 1.01.
set -euo pipefail
cd "$(dirname "$0")/.."
on=${1:-build-probes-on} off=${2:-build-probes-off}
command -v valgrind >/dev/null || { echo "needs valgrind"; exit 2; }
for pair in "$on:ON" "$off:OFF"; do
    dir=${pair%%:*} flag=${pair##*:}
    [ -f "$dir/CMakeCache.txt" ] ||
        cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGOMAP_PROBES="$flag" \
            -DGOMAP_BUILD_BENCH=OFF -DGOMAP_BUILD_EXAMPLES=OFF -DGOMAP_BUILD_TOOLS=OFF >/dev/null
    cmake --build "$dir" -j2 --target obs_overhead >/dev/null
done
count() {
    local out
    out=$(mktemp)
    valgrind --tool=callgrind --callgrind-out-file="$out" "$1/tests/obs_overhead" >/dev/null 2>&1
    awk '/^summary:/ { print $2 }' "$out"
    rm -f "$out"
}
with=$(count "$on")
without=$(count "$off")
echo "instructions with probes:    $with"
echo "instructions without probes: $without"
awk -v a="$with" -v b="$without" 'BEGIN { printf "ratio: %.4f (%+.2f%%)\n", a / b, (a / b - 1) * 100 }'
