#!/usr/bin/env bash
# core_cost.sh [BUILD] — instructions and cache misses per core-map operation,
# gomap against abseil's flat_hash_map, counted by callgrind (repeatable on a
# busy machine, where timings are not).  Runs bench/cost/core_cost.c
# (gomap-cost) and its abseil twin (peer-absl-cost) from BUILD (default
# build, a RelWithDebInfo build with the benchmarks) on gomap-bench core's
# keys.  KEYS (default "1024 1048576"), KINDS (default "u64 str") and OPS
# (default "insert hit miss delete iterate") choose the cells (OPS=many
# counts gomap_get_many, 64 keys per call, against abseil's single hits;
# OPS=iterkeys iterates reading keys as well as values); CACHE=1 adds
# callgrind's cache simulation (D1 and last-level misses per op).  Prints a
# markdown table.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
command -v valgrind >/dev/null || { echo "needs valgrind" >&2; exit 2; }
cmake --build "$build" -j2 --target gomap-cost peer-absl-cost >/dev/null
cache=()
[ "${CACHE:-0}" = 1 ] && cache=(--cache-sim=yes)
# count BIN ARGS... -> "Ir D1mr+D1mw DLmr+DLmw" of the counted part
count() {
    local out
    out=$(mktemp)
    valgrind --tool=callgrind --collect-atstart=no "${cache[@]}" --callgrind-out-file="$out" \
        "$@" >/dev/null 2>&1
    awk '/^events:/ { for (i = 2; i <= NF; i++) ev[ev_n++] = $i }
         /^summary:/ { for (i = 2; i <= NF; i++) v[ev[i - 2]] = $i }
         END { printf "%s %s %s\n", v["Ir"], v["D1mr"] + v["D1mw"], v["DLmr"] + v["DLmw"] }' "$out"
    rm -f "$out"
}
if [ "${CACHE:-0}" = 1 ]; then
    echo "| keys | kind | op | gomap instr | abseil instr | gomap D1 / LL misses | abseil D1 / LL misses |"
    echo "|---|---|---|---|---|---|---|"
else
    echo "| keys | kind | op | gomap instr | abseil instr | gomap/abseil |"
    echo "|---|---|---|---|---|---|"
fi
for n in ${KEYS:-1024 1048576}; do
    for kind in ${KINDS:-u64 str}; do
        for op in ${OPS:-insert hit miss delete iterate}; do
            g=$(count "$build/bench/gomap-cost" "$kind" "$op" "$n")
            a=$(count "$build/bench/peer-absl-cost" "$kind" "${op/#many/hit}" "$n")
            awk -v n="$n" -v kind="$kind" -v op="$op" -v g="$g" -v a="$a" -v c="${CACHE:-0}" 'BEGIN {
                split(g, G, " "); split(a, A, " ")
                if (c == 1)
                    printf "| %d | %s | %s | %.1f | %.1f | %.2f / %.2f | %.2f / %.2f |\n", n, kind, op,
                        G[1] / n, A[1] / n, G[2] / n, G[3] / n, A[2] / n, A[3] / n
                else
                    printf "| %d | %s | %s | %.1f | %.1f | %.2f |\n", n, kind, op, G[1] / n, A[1] / n,
                        G[1] / A[1] }'
        done
    done
done
