# The core map's tests (issue 2): one program per concern.
gomap_test(map_api_test SOURCES map_api_test.c LABELS core)
gomap_test(map_iter_test SOURCES map_iter_test.c LABELS core)
gomap_test(map_diff_test SOURCES map_diff_test.c LABELS core)
gomap_test(map_alloc_test SOURCES map_alloc_test.c LABELS core)
gomap_test(hash_test SOURCES hash_test.c LABELS core)
gomap_test(map_fatal_test SOURCES map_fatal_test.c LABELS core TIMEOUT 900)
# -rdynamic: the conflict reports' stacks must name the test's functions.
set_target_properties(map_fatal_test PROPERTIES ENABLE_EXPORTS ON)
if(NOT GOMAP_DETECT)
  target_compile_definitions(map_fatal_test PRIVATE GOMAP_TEST_NO_DETECT=1)
endif()

# The examples' crash programs and their fixed versions.
if(GOMAP_BUILD_EXAMPLES)
  gomap_test(map_examples_test SOURCES map_examples_test.c LABELS core examples)
  target_compile_definitions(map_examples_test PRIVATE
                             EXAMPLES_DIR="$<TARGET_FILE_DIR:crash_writes>")
  if(NOT GOMAP_DETECT)
    target_compile_definitions(map_examples_test PRIVATE GOMAP_TEST_NO_DETECT=1)
  endif()
  add_dependencies(map_examples_test crash_writes crash_writes_mutex crash_writes_concmap
                   crash_readwrite crash_readwrite_mutex crash_readwrite_concmap)
endif()
