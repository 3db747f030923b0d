# The thread-safe family (rwmap, shardmap, syncmap, cowmap) through concmap.h.
# Every program loops over concmap_kinds, so a variant added to concmap.c's
# table is covered by all of them.
gomap_test(concmap_basic SOURCES concmap_basic.c LABELS family)
gomap_test(concmap_model SOURCES concmap_model.c LABELS family)
gomap_test(concmap_linearizable SOURCES concmap_linearizable.c LABELS family)

# The concurrent tests: one program, one ctest entry per case (each case is
# >= 10^6 operations per variant), so that they run in parallel and each stays
# within its time limit under ThreadSanitizer.
add_executable(concmap_concurrent concmap_concurrent.c)
target_include_directories(concmap_concurrent PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}
                                                      ${PROJECT_SOURCE_DIR}/src)
target_compile_options(concmap_concurrent PRIVATE ${GOMAP_WARNINGS})
target_compile_definitions(concmap_concurrent PRIVATE _GNU_SOURCE)
target_link_libraries(concmap_concurrent PRIVATE gomap_static Threads::Threads)
foreach(case no_lost_update load_or_store range_during_stores clear_during_stores)
  add_test(NAME concmap_concurrent_${case} COMMAND concmap_concurrent ${case})
  set_tests_properties(concmap_concurrent_${case} PROPERTIES TIMEOUT 900 LABELS family)
endforeach()
