#!/usr/bin/env bash
# Installs what is needed, checks the sources' formatting (clang-format),
# then builds and runs the whole test suite three
# times: a normal build, AddressSanitizer+UBSan, and ThreadSanitizer (all
# with -Werror, which a user's own build leaves off); builds the library, its
# tests and examples as Release with gcc and with clang (-O3 finds warnings
# -O2 does not); then soaks every thread-safe map for a minute (invariants and bounded memory
# under churn) and fuzzes each libFuzzer target for 150 s (clang).
# GOMAP_QUICK=1 skips the soak and the fuzzing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
jobs=$(nproc)
status=0
stage() { echo "=== $* (at ${SECONDS} s) ==="; } # the elapsed time shows where a run's time goes
# Every C/C++ source must be as clang-format (.clang-format) leaves it.
stage clang-format
git ls-files -z '*.c' '*.h' '*.cc' '*.cpp' '*.hpp' | xargs -0 clang-format --dry-run -Werror || status=1
build() { # build <flavour>: configures and builds build-ci-<flavour>
  local san=$([ "$1" = normal ] && echo "" || echo "$1")
  cmake -S . -B "build-ci-$1" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGOMAP_WERROR=ON \
    -DGOMAP_SANITIZE="$san" >/dev/null
  cmake --build "build-ci-$1" -j"$jobs" >/dev/null
}
release() { # release <cc> <c++>: a Release build of what a user builds, warnings as errors
  stage "Release build, $1"
  CC=$1 CXX=$2 cmake -S . -B "build-ci-release-$1" -DCMAKE_BUILD_TYPE=Release -DGOMAP_WERROR=ON \
    -DGOMAP_BUILD_BENCH=OFF -DGOMAP_BUILD_TOOLS=OFF >/dev/null
  cmake --build "build-ci-release-$1" -j"$jobs" >/dev/null
}
release gcc g++ || status=1
release clang clang++ || status=1
if [ "${GOMAP_QUICK:-0}" != 1 ]; then
  build normal
  stage "soak: 60 s per thread-safe map"
  build-ci-normal/tools/soak/gomap-soak --seconds 60 --variant all --threads 3 || status=1
  stage "fuzz: 150 s per target"
  FUZZ_BUILD=build-ci-fuzz tools/fuzz.sh --seconds 150 || status=1
fi
# The test suite last.  The eBPF end-to-end tests (label obs: bpftrace,
# gomap-watch, Prometheus) run one at a time, never two together (their
# CMakeLists say why), and mostly wait: for scrapes, alerts and the targets'
# paced rounds.  Run in the suite they held it for a minute and a half per
# flavour with one core idle; so each flavour's obs tests run in the
# background, beside the rest of its suite and the next flavour's build, and
# the next flavour's start only after them (still one eBPF test at a time).
obs_pid="" obs_log=""
obs_wait() { # waits for the background obs tests, prints their output
  [ -n "$obs_pid" ] || return 0
  wait "$obs_pid" || status=1
  cat "$obs_log"
  obs_pid=""
}
for flavour in normal address thread; do
  stage "$flavour build"
  build "$flavour"
  obs_wait
  stage "$flavour obs tests (in the background)"
  obs_log=build-ci-$flavour/ctest-obs.log
  ctest --test-dir "build-ci-$flavour" --output-on-failure -L '^obs$' -j1 >"$obs_log" 2>&1 &
  obs_pid=$!
  stage "$flavour tests"
  ctest --test-dir "build-ci-$flavour" --output-on-failure -LE '^obs$' -j"$jobs" 2>&1 |
    tee "build-ci-$flavour/ctest-suite.log" || status=1
done
obs_wait
# The output closes with every ctest summary, as the background runs print
# theirs out of order.
stage "summary: each build's suite, then its eBPF tests"
for flavour in normal address thread; do
  for part in suite obs; do
    echo "$flavour $part: $(grep -h 'tests passed' "build-ci-$flavour/ctest-$part.log" 2>/dev/null ||
      echo 'no ctest summary')"
  done
done
exit $status
