# gomap-bench core (issue 2, "Benchmark"): the benchmark's own logic — the key
# stream, the JSON lines, the statistics — and that every contestant really
# does the same work (same keys, same checksums).  No test here times anything.
include_guard(GLOBAL)

if(GOMAP_BUILD_BENCH)
  gomap_test(bench_core_test
             SOURCES bench_core_test.c ${PROJECT_SOURCE_DIR}/bench/common.c
             LIBS m LABELS bench)
  target_include_directories(bench_core_test PRIVATE ${PROJECT_SOURCE_DIR}/bench)
  # The programs under test, and whether the build made each peer (a peer is
  # skipped when its toolchain or library is missing; then so is its check).
  target_compile_definitions(bench_core_test PRIVATE
    BENCH_EXE="$<TARGET_FILE:gomap-bench>"
    BENCH_NODETECT_EXE="$<TARGET_FILE:gomap-bench-nodetect>"
    BENCH_GO_EXE="$<TARGET_FILE_DIR:gomap-bench>/peer-go-core"
    BENCH_HAVE_GO=$<TARGET_EXISTS:bench_peer-go-core>
    BENCH_ABSL_EXE="$<TARGET_FILE_DIR:gomap-bench>/peer-absl-core"
    BENCH_HAVE_ABSL=$<TARGET_EXISTS:peer-absl-core>)
endif()
