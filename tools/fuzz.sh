#!/usr/bin/env bash
# Fuzzes each libFuzzer target for a bounded time and prints a summary.
#
#   tools/fuzz.sh [--seconds N] [--merge] [TARGET...]
#
#   --seconds N   time per target (default 60)
#   --merge       afterwards, add what the run found to the committed corpus
#                 (tests/fuzz/corpus/<target>/found-*): of the inputs that add
#                 coverage (libFuzzer -merge=1), the smallest $FUZZ_KEEP (40),
#                 so the regression tests replay them
#   TARGET        fuzz_core, fuzz_concmap, fuzz_iter (default: all)
#
# Environment: FUZZ_BUILD (build dir, default build-fuzz), FUZZ_JOBS (build
# parallelism, default 2), FUZZ_CFLAGS (extra compile flags, e.g.
# -fno-sanitize=pointer-overflow to fuzz on past a known UBSan finding),
# FUZZ_CC (the clang to build with, default clang-19, else clang).  Needs
# clang and its libFuzzer (Debian clang-19 and libclang-rt-19-dev, which
# scripts/deps.sh installs).  clang-19 is preferred because libFuzzer 14's
# entropic scheduling searched its list of rare features linearly for every
# feature of every input: with libFuzzer 19 a replay of the same inputs
# takes a third less CPU (docs/hardening.md).  The library is built with
# -fsanitize=fuzzer-no-link and ASan+UBSan (set here, not by GOMAP_SANITIZE,
# so that FUZZ_CFLAGS comes last and can switch a check off), the targets
# with -fsanitize=fuzzer.
#
# Before fuzzing, the fuzz_check tests (tests/fuzz/CMakeLists.txt) show that
# the checks catch a map with a planted bug.  Exit status 0 when they pass
# and no target crashed.  A crash leaves its input in
# $FUZZ_BUILD/fuzz-crashes/<target>/; replay it with
#   $FUZZ_BUILD/tests/hard_<target> <crash file>
# which runs with ASan's defaults, so with the allocation and free stacks
# that the fuzzers' own ASan options (tests/fuzz/fuzz_options.c; a user's
# ASAN_OPTIONS overrides them) leave out of their reports.
# Then copy it into tests/fuzz/corpus/<target>/ once the bug is fixed.
#
# libFuzzer's options (-timeout, -rss_limit_mb, -reload=0, ...) are read from
# tests/fuzz/fuzz_flags.txt, which ctest's fuzz runs read too.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=60
merge=0
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --merge) merge=1; shift ;;
    -h|--help) sed -n '2,40p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_core fuzz_concmap fuzz_iter)
build=${FUZZ_BUILD:-build-fuzz}
jobs=${FUZZ_JOBS:-2}
cc=${FUZZ_CC:-clang-19}
command -v "$cc" >/dev/null || cc=clang
cxx=${cc/clang/clang++}
# CMake keeps the compiler a build dir was first configured with: start the
# dir afresh when it was made with another one.
if [ -f "$build/CMakeCache.txt" ] &&
  ! grep -qx "CMAKE_C_COMPILER:[A-Z]*=$(command -v "$cc")" "$build/CMakeCache.txt"; then
  rm -rf "$build/CMakeCache.txt" "$build/CMakeFiles"
fi

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER="$(command -v "$cc")" -DCMAKE_CXX_COMPILER="$(command -v "$cxx")" \
  -DGOMAP_SANITIZE= -DGOMAP_FUZZ=ON \
  "-DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined ${FUZZ_CFLAGS:-}" \
  "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=address,undefined" \
  -DGOMAP_BUILD_BENCH=OFF -DGOMAP_BUILD_EXAMPLES=OFF -DGOMAP_BUILD_TOOLS=OFF >/dev/null
build_targets=(fuzz_core_planted1 fuzz_core_planted2 fuzz_concmap_planted1 fuzz_concmap_planted2)
for t in "${targets[@]}"; do build_targets+=("$t" "hard_$t"); done
cmake --build "$build" -j"$jobs" --target "${build_targets[@]}" >/dev/null

# libFuzzer's options for every run (comments and blank lines left out).
mapfile -t fuzz_flags < <(grep '^-' tests/fuzz/fuzz_flags.txt)

status=0
summary=()
# First, that the checks still catch a wrong map: fuzz_core and fuzz_concmap
# built around a map with a planted bug must stop with the checks' message
# (seconds).
if ! ctest --test-dir "$build" -L fuzz_check --output-on-failure >"$build/fuzz-check.log" 2>&1; then
  status=1
  echo "!!! the planted-bug checks failed (log $build/fuzz-check.log):"
  grep -E 'Failed|not caught' "$build/fuzz-check.log" | head -5 || true
fi
summary+=("planted bugs caught: $(grep -c 'Passed' "$build/fuzz-check.log" || true) of 4")
for t in "${targets[@]}"; do
  work=$build/fuzz-work/$t
  crashes=$build/fuzz-crashes/$t
  log=$build/fuzz-$t.log
  rm -rf "$crashes"
  mkdir -p "$work" "$crashes"
  echo "=== $t: fuzzing for ${seconds}s"
  rc=0
  "$build/tests/$t" -max_total_time="$seconds" "${fuzz_flags[@]}" \
    -artifact_prefix="$crashes/" "$work" "tests/fuzz/corpus/$t" \
    >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  # The map operations those executions ran (fuzz_common.h), per second of
  # the run (execs / rate), so that the work per execution shows too.
  mops=$(sed -n 's/^stat::map_operations: *//p' "$log" | tail -1)
  opsrate=$(awk -v o="${mops:-0}" -v e="${execs:-0}" -v r="${rate:-0}" \
    'BEGIN { if (e > 0 && r > 0) printf "%d", o * r / e; else print "?" }')
  cov=$( (grep -o 'cov: [0-9]*' "$log" || true) | tail -1 | cut -d' ' -f2)
  ncorp=$(find "$work" -type f | wc -l)
  ncrash=$(find "$crashes" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
    -o -name 'oom-*' \) | wc -l)
  if [ "$rc" -ne 0 ] || [ "$ncrash" -ne 0 ]; then
    status=1
    echo "!!! $t: crash (exit $rc); inputs in $crashes/, log $log:"
    grep -E 'fuzz check failed|ERROR: |SUMMARY' "$log" | head -5 || true
  fi
  summary+=("$(printf '%-14s %6ss %12s execs %8s/s  ops %9s/s  cov %6s  corpus %6s  crashes %s' \
    "$t" "$seconds" "${execs:-?}" "${rate:-?}" "$opsrate" "${cov:-?}" "$ncorp" "$ncrash")")
  if [ "$merge" = 1 ] && [ "$rc" -eq 0 ]; then
    # Keep the committed corpus small (the sanitizer suites replay it): of
    # the inputs that add coverage to it, take the smallest $keep.
    fresh=$build/fuzz-merge/$t
    rm -rf "$fresh" && mkdir -p "$fresh"
    "$build/tests/$t" -merge=1 "$fresh" "tests/fuzz/corpus/$t" "$work" >/dev/null 2>&1
    for f in "tests/fuzz/corpus/$t"/*; do rm -f "$fresh/$(sha1sum "$f" | cut -d' ' -f1)"; done
    find "$fresh" -type f -printf '%s %p\n' | sort -n | head -"${FUZZ_KEEP:-40}" |
      while read -r _ f; do cp "$f" "tests/fuzz/corpus/$t/found-$(basename "$f" | cut -c1-16)"; done
    echo "    merged: tests/fuzz/corpus/$t now has $(ls "tests/fuzz/corpus/$t" | wc -l) inputs"
  fi
done
echo
echo "=== fuzz summary ($(date -u +%Y-%m-%dT%H:%MZ))"
printf '%s\n' "${summary[@]}"
exit $status
