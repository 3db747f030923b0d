# gomap-bench's concurrent mixes (`mix`), the advisor (`advise`) and the
# default run, and the peers that run the same mixes: Go (map+RWMutex,
# sync.Map, 32 shards, copy-on-write), abseil flat_hash_map behind a
# std::shared_mutex, TBB's concurrent_hash_map and liburcu's lock-free hash
# table.  Each peer is built only when its Debian package is found.

set(BENCH_MIX_SOURCES ${BENCH_DIR}/mix_cli.c ${BENCH_DIR}/mix_run.c ${BENCH_DIR}/mix_report.c
                      ${BENCH_DIR}/mix_contestants.c ${BENCH_DIR}/advise.c ${BENCH_DIR}/workload.c
                      ${BENCH_DIR}/hist.c ${BENCH_DIR}/runner.c ${BENCH_DIR}/results.c
                      ${BENCH_DIR}/limit.c)
# What the C/C++ peers share: the workload, the histogram, the loops and the
# peer driver (bench/peers/mixpeer.c).
set(BENCH_PEER_SOURCES ${BENCH_DIR}/common.c ${BENCH_DIR}/workload.c ${BENCH_DIR}/hist.c
                       ${BENCH_DIR}/runner.c ${BENCH_DIR}/results.c
                       ${BENCH_DIR}/peers/mixpeer.c)
target_sources(gomap-bench PRIVATE ${BENCH_MIX_SOURCES})
target_compile_definitions(gomap-bench PRIVATE BENCH_HAVE_MIX=1)

# The gnuplot scripts travel beside the executable (mix_write_plots).
foreach(gp throughput latency memory)
  configure_file(${BENCH_DIR}/plot/${gp}.gp ${CMAKE_CURRENT_BINARY_DIR}/plot/${gp}.gp COPYONLY)
endforeach()

bench_go_peer(peer-go-mix mix)

# A C/C++ peer built on the shared peer driver.
function(bench_mix_peer target pkg)
  add_executable(${target} ${ARGN} ${BENCH_PEER_SOURCES})
  target_include_directories(${target} PRIVATE ${BENCH_DIR} ${BENCH_DIR}/peers
                                               ${PROJECT_SOURCE_DIR}/include)
  target_compile_options(${target} PRIVATE ${GOMAP_WARNINGS})
  target_compile_definitions(${target} PRIVATE _GNU_SOURCE)
  target_link_libraries(${target} PRIVATE ${pkg} Threads::Threads m)
  add_dependencies(gomap-bench ${target})
endfunction()

if(BENCH_HAVE_ABSL)
  bench_mix_peer(peer-absl-mix PkgConfig::BENCH_ABSL ${BENCH_DIR}/peers/absl/mix.cc)
endif()

pkg_check_modules(BENCH_TBB IMPORTED_TARGET tbb)
if(BENCH_TBB_FOUND)
  bench_mix_peer(peer-tbb-mix PkgConfig::BENCH_TBB ${BENCH_DIR}/peers/tbb/mix.cc)
else()
  message(STATUS "gomap-bench: TBB not found; peer tbb-chm skipped (apt-get install libtbb-dev)")
endif()

pkg_check_modules(BENCH_URCU_CDS IMPORTED_TARGET liburcu-memb liburcu-cds)
if(GOMAP_SANITIZE STREQUAL "thread")
  # liburcu is not built for ThreadSanitizer, which cannot see the ordering of
  # its membarrier-based grace periods and reports races inside the library.
  message(STATUS "gomap-bench: peer urcu-lfht skipped in the ThreadSanitizer build")
elseif(BENCH_URCU_CDS_FOUND)
  bench_mix_peer(peer-urcu-mix PkgConfig::BENCH_URCU_CDS ${BENCH_DIR}/peers/urcu/mix.c)
else()
  message(STATUS "gomap-bench: liburcu not found; peer urcu-lfht skipped (apt-get install liburcu-dev)")
endif()
