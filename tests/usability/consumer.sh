#!/usr/bin/env bash
# consumer.sh <source dir> <build dir> <work dir>
#
# What README's "Use the library only" promises, end to end: configures,
# builds and installs the library alone (the benchmark, tests, examples and
# tools off, so neither Go nor abseil nor TBB is needed) into a prefix under
# <work dir>; then builds tests/usability/consumer/count.c against that prefix through
# the CMake package (find_package(gomap CONFIG) -> gomap::gomap and
# gomap::gomap_static) and through pkg-config, and runs each program.
# Finally installs <build dir> (the full build) and checks that gomap-bench
# is installed and runs.
set -euo pipefail
src=$1 build=$2 work=$3
cc=${CC:-cc}
rm -rf "$work"
mkdir -p "$work"
prefix=$work/prefix
quiet() { "$@" >"$work/log" 2>&1 || { cat "$work/log"; echo "FAILED: $*"; exit 1; }; }

echo "== the library alone, installed into $prefix"
quiet cmake -S "$src" -B "$work/lib" -DCMAKE_BUILD_TYPE=Release -DGOMAP_BUILD_TESTS=OFF \
  -DGOMAP_BUILD_BENCH=OFF -DGOMAP_BUILD_EXAMPLES=OFF -DGOMAP_BUILD_TOOLS=OFF \
  -DCMAKE_C_COMPILER="$cc" -DCMAKE_INSTALL_PREFIX="$prefix"
quiet cmake --build "$work/lib" -j2
quiet cmake --install "$work/lib"
if grep -q CMAKE_CXX_COMPILER:FILEPATH "$work/lib/CMakeCache.txt"; then
  echo "FAILED: the library-only build asked for a C++ compiler"
  exit 1
fi

echo "== CMake consumer: find_package(gomap CONFIG)"
quiet cmake -S "$src/tests/usability/consumer/cmake" -B "$work/cm" -DCMAKE_C_COMPILER="$cc" \
  -DCMAKE_PREFIX_PATH="$prefix"
quiet cmake --build "$work/cm"
"$work/cm/count"
"$work/cm/count_static"

echo "== pkg-config consumer"
pcdir=$(dirname "$(find "$prefix" -name gomap.pc | head -n1)")
libdir=$(PKG_CONFIG_PATH=$pcdir pkg-config --variable=libdir gomap)
# shellcheck disable=SC2046
"$cc" -o "$work/count_pc" "$src/tests/usability/consumer/count.c" \
  $(PKG_CONFIG_PATH=$pcdir pkg-config --cflags --libs gomap) -Wl,-rpath,"$libdir"
"$work/count_pc"

echo "== gomap-bench installed with the full build"
quiet cmake --install "$build" --prefix "$work/full"
test -x "$work/full/bin/gomap-bench"
test -x "$work/full/bin/gomap-bench-nodetect"
quiet "$work/full/bin/gomap-bench" core --keys 1k --key u64 --reps 1 --maps gomap,gomap-nodetect
grep -q "count_upsert" "$work/log"
echo "consumers: ok"
