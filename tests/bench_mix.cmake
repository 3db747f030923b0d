# gomap-bench's own logic: the workload generator (deterministic, and equal
# to the Go peer's), the latency histogram, the advisor's decision rule, and
# that every contestant really performs the operations (equal checksums).
if(GOMAP_BUILD_BENCH)
  set(_bench ${PROJECT_SOURCE_DIR}/bench)
  gomap_test(bench_mix_test
             SOURCES bench_mix_test.c ${_bench}/workload.c ${_bench}/hist.c ${_bench}/mix.c
                     ${_bench}/advise.c ${_bench}/runner.c ${_bench}/results.c
                     ${_bench}/common.c
             LIBS m TIMEOUT 900)
  target_include_directories(bench_mix_test PRIVATE ${_bench})
  target_compile_definitions(bench_mix_test PRIVATE BENCH_BIN_DIR="${CMAKE_BINARY_DIR}/bench")
  add_dependencies(bench_mix_test gomap-bench)
endif()
