#!/usr/bin/env bash
# Installs what is needed, builds gomap and its benchmark peers, and runs
# gomap-bench on its default workload (extra arguments are passed on).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGOMAP_WERROR=ON >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
exec build/bench/gomap-bench "$@"
