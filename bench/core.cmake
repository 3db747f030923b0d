# gomap-bench (core.c: the single-thread core benchmark, and the skeleton the
# other bench/*.cmake files extend with target_sources) and the core peers.
#
# For the other bench/*.cmake files (included after this one):
#   bench_go_peer(<target> <package>)  builds bench/peers/go/<package> (a Go
#       main package of the module in bench/peers/go) into
#       <build>/bench/<target> with the local toolchain, offline; does nothing
#       when `go` is missing (BENCH_HAVE_GO is then false).
#   bench_absl_peer(<target> <sources...>)  a C++17 program linked with
#       abseil's hash tables and bench/common.c (so it can use bench.h);
#       does nothing when abseil is missing (BENCH_HAVE_ABSL false).
# Every peer is placed next to gomap-bench, which finds it there
# (bench_peer_path), and gomap-bench depends on it.

set(BENCH_DIR ${CMAKE_CURRENT_SOURCE_DIR})
set(BENCH_CORE_SOURCES ${BENCH_DIR}/main.c ${BENCH_DIR}/common.c ${BENCH_DIR}/core.c)

function(bench_c_program target lib)
  add_executable(${target} ${BENCH_CORE_SOURCES})
  target_include_directories(${target} PRIVATE ${BENCH_DIR} ${PROJECT_SOURCE_DIR}/include)
  target_compile_options(${target} PRIVATE ${GOMAP_WARNINGS})
  target_compile_definitions(${target} PRIVATE _GNU_SOURCE)
  target_link_libraries(${target} PRIVATE ${lib} Threads::Threads m)
endfunction()

bench_c_program(gomap-bench gomap_static)
# The same program on the library without detection (and without probes):
# `core` runs it as the contestant "gomap-nodetect" to price detection.
bench_c_program(gomap-bench-nodetect gomap_nodetect)
# GOMAP_NO_DETECT also drops the writing-flag check of gomap.h's inline lookup.
target_compile_definitions(gomap-bench-nodetect PRIVATE BENCH_SELF_NAME="gomap-nodetect"
                                                        GOMAP_NO_DETECT)
add_dependencies(gomap-bench gomap-bench-nodetect)
# Installed side by side: `core` finds gomap-bench-nodetect next to itself.
# (The Go/abseil/TBB peers are not installed; installed runs show them as not
# built.)
install(TARGETS gomap-bench gomap-bench-nodetect RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# ---- Go peers ----------------------------------------------------------------
find_program(BENCH_GO_EXECUTABLE go)
if(BENCH_GO_EXECUTABLE)
  set(BENCH_HAVE_GO TRUE)
else()
  set(BENCH_HAVE_GO FALSE)
  message(STATUS "gomap-bench: go not found; the Go peers are skipped (apt-get install golang-go)")
endif()

function(bench_go_peer target pkg)
  if(NOT BENCH_HAVE_GO)
    return()
  endif()
  set(moddir ${BENCH_DIR}/peers/go)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/${target})
  file(GLOB_RECURSE srcs CONFIGURE_DEPENDS ${moddir}/*.go)
  # Offline and self-contained: the module has no dependencies, the caches
  # live in the build tree, the proxy is off and no toolchain is fetched.
  # CGO is off so the sanitizer flags of the C build never reach it.
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -E env GOCACHE=${CMAKE_CURRENT_BINARY_DIR}/go-cache
            GOPATH=${CMAKE_CURRENT_BINARY_DIR}/go-path GOPROXY=off GOTOOLCHAIN=local
            GOFLAGS= GO111MODULE=on CGO_ENABLED=0
            ${BENCH_GO_EXECUTABLE} build -trimpath -o ${out} ./${pkg}
    WORKING_DIRECTORY ${moddir}
    DEPENDS ${srcs} ${moddir}/go.mod
    COMMENT "go build ${pkg} -> ${target}"
    VERBATIM)
  add_custom_target(bench_${target} ALL DEPENDS ${out})
  add_dependencies(gomap-bench bench_${target})
endfunction()

# ---- abseil peers ------------------------------------------------------------
pkg_check_modules(BENCH_ABSL IMPORTED_TARGET absl_flat_hash_map absl_hash absl_raw_hash_set)
if(BENCH_ABSL_FOUND)
  set(BENCH_HAVE_ABSL TRUE)
else()
  set(BENCH_HAVE_ABSL FALSE)
  message(STATUS "gomap-bench: abseil not found; the abseil peers are skipped (apt-get install libabsl-dev)")
endif()

function(bench_absl_peer target)
  if(NOT BENCH_HAVE_ABSL)
    return()
  endif()
  add_executable(${target} ${ARGN} ${BENCH_DIR}/common.c)
  target_include_directories(${target} PRIVATE ${BENCH_DIR} ${PROJECT_SOURCE_DIR}/include)
  target_compile_options(${target} PRIVATE ${GOMAP_WARNINGS})
  target_compile_definitions(${target} PRIVATE _GNU_SOURCE)
  target_link_libraries(${target} PRIVATE PkgConfig::BENCH_ABSL Threads::Threads m)
  add_dependencies(gomap-bench ${target})
endfunction()

bench_go_peer(peer-go-core core)
bench_absl_peer(peer-absl-core ${BENCH_DIR}/peers/absl/core.cc)

# ---- instruction counts ------------------------------------------------------
# gomap-cost and peer-absl-cost: one operation of the core workload between
# callgrind marks, for bench/cost/core_cost.sh (needs valgrind's header).
if(EXISTS /usr/include/valgrind/callgrind.h)
  add_executable(gomap-cost ${BENCH_DIR}/cost/core_cost.c ${BENCH_DIR}/common.c)
  target_include_directories(gomap-cost PRIVATE ${BENCH_DIR} ${PROJECT_SOURCE_DIR}/include)
  target_compile_options(gomap-cost PRIVATE ${GOMAP_WARNINGS})
  target_compile_definitions(gomap-cost PRIVATE _GNU_SOURCE)
  target_link_libraries(gomap-cost PRIVATE gomap_static Threads::Threads m)
  bench_absl_peer(peer-absl-cost ${BENCH_DIR}/cost/core_cost_absl.cc)
endif()
