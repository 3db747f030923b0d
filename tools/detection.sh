#!/usr/bin/env bash
# Reproduces the detection table of docs/detection.md: how often the two
# classic crash programs are stopped with Go's message, for gomap's C
# examples and for Go's own maps, and how often a correctly synchronized
# version reports anything (must be never).
#
#   tools/detection.sh [--runs N] [--build DIR]
#
#   --runs N     runs per program (default 100)
#   --build DIR  a gomap build with the examples (default build; configured
#                and built here if the examples are missing)
#   --only TEXT  run only the rows whose label holds TEXT
#
# Then the survive modes (the examples under GOMAP_DEBUG=conflict=report and
# count must end complete and correct in every run) and the compile-time
# check (clang -Wthread-safety with gomap/annotate.h, beside go vet), and the
# cost table of tools/detect_cost.sh (--only cost).
#
# Go programs (examples/go/) are built offline with the installed toolchain
# (GOPROXY=off; they have no dependencies).  Each run has a 30 s limit: a
# run that hangs (a corrupted, undetected map can loop) counts as "hung".
# Prints a markdown table; the machine's load matters (detection depends on
# the threads overlapping), so note it beside the figures.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=100
build=build
only=
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

examples="crash_writes crash_readwrite crash_writes_mutex crash_readwrite_mutex
          crash_writes_concmap crash_readwrite_concmap"
[ -f "$build/CMakeCache.txt" ] || cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
# shellcheck disable=SC2086
cmake --build "$build" -j2 --target $examples hard_classic >/dev/null
classic=$build/tests/hard_classic

gobin=$build/detection-go
mkdir -p "$gobin"
export GOPROXY=off GOFLAGS= GOCACHE=${GOCACHE:-$PWD/$build/detection-go/cache}
for p in crash_writes crash_readwrite; do
  (cd "examples/go/$p" && go build -o "../../../$gobin/$p" main.go)
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# run_many LABEL PATTERN CMD...: runs CMD $runs times; a run "reports" when its
# stderr holds PATTERN.  Prints one table row.
run_many() {
  local label=$1 pattern=$2
  shift 2
  [[ -z $only || $label == *"$only"* ]] || return 0
  local detected=0 clean=0 hung=0 other=0 i rc
  for ((i = 0; i < runs; i++)); do
    rc=0
    # the braces take bash's own "Aborted" notice of a killed child
    { timeout 30 "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?; } 2>/dev/null
    if grep -q "$pattern" "$tmp/err"; then
      detected=$((detected + 1))
    elif [ "$rc" -eq 124 ]; then
      hung=$((hung + 1))
    elif [ "$rc" -eq 0 ]; then
      clean=$((clean + 1))
    else
      other=$((other + 1))
      cp "$tmp/err" "$tmp/other-$label" 2>/dev/null || true
    fi
  done
  printf '| %-58s | %4d | %8d (%3d%%) | %5d | %4d | %5d |\n' "$label" "$runs" "$detected" \
    $((100 * detected / runs)) "$clean" "$hung" "$other"
}

echo "Detection over $runs runs each ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg))"
echo
echo '| program | runs | reported | ran clean | hung | other |'
echo '|---|---|---|---|---|---|'
fatal='fatal error: concurrent map'
run_many "C gomap: ten writers, classic (1 pass; tests/hard_classic)" "$fatal" "$classic" writes
run_many "Go map: ten writers, classic (1 pass)" "$fatal" "$gobin/crash_writes"
run_many "C gomap: ten writers, 1 pass, start line" "$fatal" "$classic" writes --together
run_many "Go map: ten writers, 1 pass, start line" "$fatal" "$gobin/crash_writes" -together
run_many "C gomap: examples/crash_writes (10 threads, 100 passes)" "$fatal" "$build/examples/crash_writes"
run_many "Go map: ten writers, like the C example (100 passes, start line)" "$fatal" \
  "$gobin/crash_writes" -rounds 100 -together
run_many "C gomap: writer + reader, classic (1 pass each; tests/hard_classic)" "$fatal" \
  "$classic" readwrite
run_many "Go map: writer + reader, classic (1 pass each)" "$fatal" "$gobin/crash_readwrite"
run_many "C gomap: writer + reader, 1 pass, start line" "$fatal" "$classic" readwrite --together
run_many "Go map: writer + reader, 1 pass, start line" "$fatal" "$gobin/crash_readwrite" -together
run_many "C gomap: examples/crash_readwrite (1000 passes, reader until done)" "$fatal" \
  "$build/examples/crash_readwrite"
run_many "Go map: writer + reader, like the C example (1000 passes, start line)" "$fatal" \
  "$gobin/crash_readwrite" -rounds 1000 -together
echo
echo 'Correctly synchronized versions (any report is a false report):'
echo
echo '| program | runs | reported | ran clean | hung | other |'
echo '|---|---|---|---|---|---|'
any='fatal error\|concurrent map\|gomap:'
run_many "C gomap + mutex: ten writers, classic (tests/hard_classic --mutex)" "$any" \
  "$classic" writes --mutex --together
run_many "C gomap + mutex: writer + reader (tests/hard_classic --mutex)" "$any" \
  "$classic" readwrite --mutex --together --rounds 100
run_many "C gomap + mutex: examples/crash_writes_mutex" "$any" "$build/examples/crash_writes_mutex"
run_many "C concmap: examples/crash_writes_concmap" "$any" "$build/examples/crash_writes_concmap"
run_many "C gomap + mutex: examples/crash_readwrite_mutex" "$any" "$build/examples/crash_readwrite_mutex"
run_many "C concmap: examples/crash_readwrite_concmap" "$any" "$build/examples/crash_readwrite_concmap"
run_many "Go map + Mutex: ten writers (100 passes, start line)" "$any" \
  "$gobin/crash_writes" -mutex -rounds 100 -together
run_many "Go map + RWMutex: writer + reader (1000 passes, start line)" "$any" \
  "$gobin/crash_readwrite" -mutex -rounds 1000 -together
# survive_many LABEL WANT ENV CMD...: runs CMD $runs times with GOMAP_DEBUG=ENV;
# a run "survives" when it exits 0 and its stdout holds WANT (the example's
# final count, complete, every key with its value).  The examples print what
# the mode counted ("conflicts counted: N"): the row gives the runs that
# counted any and the total.  Prints one table row.
survive_many() {
  local label=$1 want=$2 env=$3
  shift 3
  [[ -z $only || $label == *"$only"* ]] || return 0
  local ok=0 wrong=0 crashed=0 hung=0 reported=0 counted=0 total=0 n i rc
  for ((i = 0; i < runs; i++)); do
    rc=0
    { GOMAP_DEBUG=$env timeout 60 "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?; } 2>/dev/null
    grep -q 'fatal error: concurrent map' "$tmp/err" && reported=$((reported + 1))
    n=$(sed -n 's/^conflicts counted: \([0-9]*\)$/\1/p' "$tmp/out")
    if [ -n "$n" ]; then
      total=$((total + n))
      [ "$n" -gt 0 ] && counted=$((counted + 1))
    fi
    if [ "$rc" -eq 124 ]; then
      hung=$((hung + 1))
    elif [ "$rc" -ne 0 ]; then
      crashed=$((crashed + 1))
      cp "$tmp/err" "$tmp/other-$label" 2>/dev/null || true
    elif grep -qF "$want" "$tmp/out"; then
      ok=$((ok + 1))
    else
      wrong=$((wrong + 1))
      cp "$tmp/out" "$tmp/other-$label" 2>/dev/null || true
    fi
  done
  local counts=-
  grep -q 'conflicts counted' "$tmp/out" && counts="$counted runs; $total in all"
  printf '| %-58s | %4d | %8d (%3d%%) | %5d | %7d | %4d | %8d | %s |\n' "$label" "$runs" "$ok" \
    $((100 * ok / runs)) "$wrong" "$crashed" "$hung" "$reported" "$counts"
}

echo
echo 'Survive modes (GOMAP_DEBUG=conflict=report|count: the program goes on, the map must stay'
echo 'correct; Go has no such mode, its conflicts are always fatal):'
echo
echo '| program | runs | complete and correct | wrong result | crashed | hung | printed a report | conflicts counted |'
echo '|---|---|---|---|---|---|---|---|'
writes_ok="final count: 10000 (expected 10000), keys missing or wrong: 0"
readwrite_ok="final count: 1000 (expected 1000), keys missing or wrong: 0"
survive_many "examples/crash_writes, conflict=report (all 10,000 keys)" \
  "$writes_ok" conflict=report "$build/examples/crash_writes"
survive_many "examples/crash_writes, conflict=count (all 10,000 keys)" \
  "$writes_ok" conflict=count "$build/examples/crash_writes"
survive_many "examples/crash_readwrite, conflict=report" \
  "$readwrite_ok" conflict=report "$build/examples/crash_readwrite"
survive_many "examples/crash_readwrite, conflict=count" \
  "$readwrite_ok" conflict=count "$build/examples/crash_readwrite"
survive_many "hard_classic writes --together, conflict=report" \
  "final count: 10000 (expected 10000)" conflict=report "$classic" writes --together
survive_many "hard_classic writes --together, conflict=count" \
  "final count: 10000 (expected 10000)" conflict=count "$classic" writes --together

# The compile-time check: clang's thread-safety analysis with
# gomap/annotate.h, and what Go's vet says about the Go programs of the same
# bugs (it has no check for unsynchronized map use).
echo
echo 'Compile-time detection (before the program runs):'
echo
echo '| check | program | finds |'
echo '|---|---|---|'
if command -v clang >/dev/null; then
  want=$(grep -c 'WARN: ' tests/core/annotate_warns.c)
  got=$(clang -Wthread-safety -fsyntax-only -I include tests/core/annotate_warns.c 2>&1 |
    grep -c 'annotate_warns.c:[0-9]*:[0-9]*: warning:' || true)
  printf '| clang -Wthread-safety + gomap/annotate.h | tests/core/annotate_warns.c (%d unguarded uses) | %d warnings |\n' \
    "$want" "$got"
  for ex in crash_writes_mutex crash_readwrite_mutex; do
    got=$(clang -Wthread-safety -D_POSIX_C_SOURCE=200809L -fsyntax-only -I include \
      "examples/$ex.c" 2>&1 | grep -c 'warning:' || true)
    printf '| clang -Wthread-safety + gomap/annotate.h | examples/%s.c (the cure) | %d warnings |\n' \
      "$ex" "$got"
  done
fi
for p in crash_writes crash_readwrite; do
  got=$( (cd "examples/go/$p" && go vet main.go 2>&1) | grep -c ':[0-9]*:[0-9]*: ' || true)
  printf '| go vet | examples/go/%s (the same bug in Go) | %d diagnostics |\n' "$p" "$got"
done

# What detection costs per operation (callgrind instruction counts, which do
# not depend on the load): Go has no build without its check to compare with.
if [[ -z $only || "cost" == *"$only"* ]] && command -v valgrind >/dev/null; then
  echo
  echo 'What detection costs (tools/detect_cost.sh, callgrind instructions per operation):'
  echo
  tools/detect_cost.sh
fi

for f in "$tmp"/other-*; do
  [ -e "$f" ] || continue
  echo
  echo "stderr of one 'other' run of ${f#"$tmp"/other-}:"
  head -5 "$f"
done
