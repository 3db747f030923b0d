#!/usr/bin/env bash
# Installs what is needed, then builds and runs the whole test suite three
# times: a normal build, AddressSanitizer+UBSan, and ThreadSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
jobs=$(nproc)
status=0
for flavour in normal address thread; do
  dir=build-ci-$flavour
  san=$([ "$flavour" = normal ] && echo "" || echo "$flavour")
  echo "=== $flavour build ==="
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGOMAP_SANITIZE="$san" >/dev/null
  cmake --build "$dir" -j"$jobs" >/dev/null
  ctest --test-dir "$dir" --output-on-failure -j"$jobs" || status=1
done
exit $status
