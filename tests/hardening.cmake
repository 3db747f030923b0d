# Hardening (issue 6): fuzz targets replayed as regression tests, allocation
# failure everywhere, hash flooding and quality, bad input, a short soak.
# tests/CMakeLists.txt may include an area file more than once.
include_guard(GLOBAL)

# --- fuzz targets, as plain regression tests ----------------------------------
# Each replays its committed corpus (tests/fuzz/corpus/<target>/) and a fixed
# set of pseudo-random inputs.
set(GOMAP_FUZZ_TARGETS fuzz_core fuzz_concmap fuzz_iter)
foreach(t ${GOMAP_FUZZ_TARGETS})
  gomap_test(hard_${t} SOURCES fuzz/${t}.c fuzz/replay.c LABELS hardening)
  target_compile_definitions(hard_${t} PRIVATE
    GOMAP_FUZZ_CORPUS="${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/${t}")
endforeach()

# --- allocation failure, hashing, bad input ------------------------------------
gomap_test(hard_alloc SOURCES hard_alloc.c LABELS hardening)
gomap_test(hard_hash SOURCES hard_hash.c LIBS m LABELS hardening)
gomap_test(hard_badinput SOURCES hard_badinput.c LABELS hardening)
gomap_test(hard_defects SOURCES hard_defects.c LABELS hardening TIMEOUT 300)

# The classic crash programs shaped exactly like Go's (one pass), for
# tools/detection.sh; a program, not a test.
add_executable(hard_classic hard_classic.c)
target_compile_options(hard_classic PRIVATE ${GOMAP_WARNINGS})
target_link_libraries(hard_classic PRIVATE gomap_static Threads::Threads)
set_target_properties(hard_classic PROPERTIES ENABLE_EXPORTS ON)

# --- soak: a short run of tools/soak per variant -------------------------------
set(GOMAP_SOAK_SECONDS 3 CACHE STRING "Seconds per variant of the soak in the test suite")
add_executable(hard_soak ${PROJECT_SOURCE_DIR}/tools/soak/soak.c)
target_compile_options(hard_soak PRIVATE ${GOMAP_WARNINGS})
target_compile_definitions(hard_soak PRIVATE _GNU_SOURCE)
target_link_libraries(hard_soak PRIVATE gomap_static Threads::Threads)
foreach(kind rw shard sync cow)
  add_test(NAME hard_soak_${kind}
           COMMAND hard_soak --seconds ${GOMAP_SOAK_SECONDS} --variant ${kind} --threads 3)
  set_tests_properties(hard_soak_${kind} PROPERTIES LABELS "hardening;soak" TIMEOUT 300)
endforeach()

# --- the real fuzzers (clang + libFuzzer) -------------------------------------
# tools/fuzz.sh configures a build with these options (and the library
# instrumented with -fsanitize=fuzzer-no-link) and runs each fuzzer for a
# bounded time.  `ctest -L fuzz` does the same from such a build.
option(GOMAP_FUZZ "Build the libFuzzer targets (clang only)" OFF)
set(GOMAP_FUZZ_SECONDS 60 CACHE STRING "Seconds each fuzzer runs under ctest -L fuzz")
if(GOMAP_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "GOMAP_FUZZ needs clang (cmake -DCMAKE_C_COMPILER=clang)")
  endif()
  foreach(t ${GOMAP_FUZZ_TARGETS})
    add_executable(${t} fuzz/${t}.c)
    target_include_directories(${t} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR} ${PROJECT_SOURCE_DIR}/src)
    target_compile_options(${t} PRIVATE ${GOMAP_WARNINGS} -fsanitize=fuzzer)
    target_compile_definitions(${t} PRIVATE _GNU_SOURCE)
    target_link_options(${t} PRIVATE -fsanitize=fuzzer)
    target_link_libraries(${t} PRIVATE gomap_static Threads::Threads)
    # The working corpus lives in the build dir; the committed seeds are read
    # as a second, read-only corpus directory.
    add_test(NAME ${t}_run
             COMMAND sh -c "mkdir -p work/${t} crashes/${t} && exec \"$0\" -max_total_time=${GOMAP_FUZZ_SECONDS} -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix=crashes/${t}/ work/${t} \"$1\""
                     $<TARGET_FILE:${t}> ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/${t})
    set_tests_properties(${t}_run PROPERTIES LABELS fuzz TIMEOUT 900)
  endforeach()
endif()
