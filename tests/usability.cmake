# What a user of the installed library meets first: a ThreadSanitizer build of
# their own program against the ordinary library.
# tests/CMakeLists.txt may include an area file more than once.
include_guard(GLOBAL)

# tsan_user: the user's program is instrumented, the library is not (it is the
# ordinary shared library, as installed).  Correct use must give no report;
# the race planted in the program's own code must still be reported.  Only in
# the ordinary build: in the TSan build the library is instrumented itself.
if(GOMAP_SANITIZE STREQUAL "")
  add_executable(tsan_user tsan_user.c)
  target_compile_options(tsan_user PRIVATE ${GOMAP_WARNINGS} -fsanitize=thread -O1 -g)
  target_link_options(tsan_user PRIVATE -fsanitize=thread)
  target_link_libraries(tsan_user PRIVATE gomap Threads::Threads)
  add_test(NAME tsan_user_correct COMMAND tsan_user correct)
  set_tests_properties(tsan_user_correct PROPERTIES
    ENVIRONMENT "TSAN_OPTIONS=halt_on_error=0"
    PASS_REGULAR_EXPRESSION "core: done"
    FAIL_REGULAR_EXPRESSION "ThreadSanitizer"
    LABELS usability TIMEOUT 300)
  add_test(NAME tsan_user_race COMMAND tsan_user race)
  set_tests_properties(tsan_user_race PROPERTIES
    ENVIRONMENT "TSAN_OPTIONS=halt_on_error=0"
    PASS_REGULAR_EXPRESSION "SUMMARY: ThreadSanitizer: data race [^\n]*tsan_user.c:[0-9]+ in work"
    LABELS usability TIMEOUT 300)
endif()

# The typed maps (gomap.h, concmap.h) from C.
gomap_test(typed_test SOURCES typed_test.c LABELS usability)

# The public headers as C++, with -Wzero-as-null-pointer-constant an error.
gomap_test(headers_cxx SOURCES headers_cxx.cpp LABELS usability)
target_compile_options(headers_cxx PRIVATE -Wzero-as-null-pointer-constant -Werror)

# Packaging: the library alone installed into a prefix, used by a CMake and a
# pkg-config consumer (tests/consumer.sh).  Ordinary build only: the consumers
# are plain builds.
if(GOMAP_SANITIZE STREQUAL "" AND GOMAP_BUILD_BENCH)
  add_test(NAME consumer_install
           COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/consumer.sh ${PROJECT_SOURCE_DIR}
                   ${PROJECT_BINARY_DIR} ${CMAKE_CURRENT_BINARY_DIR}/consumer)
  set_tests_properties(consumer_install PROPERTIES
    ENVIRONMENT "CC=${CMAKE_C_COMPILER}" PASS_REGULAR_EXPRESSION "consumers: ok"
    LABELS usability TIMEOUT 600)
endif()

# Every ```c block of the README and docs/ compiles and runs against this build
# (tests/doc_examples.sh).  Ordinary build only: the examples are plain
# programs linked with the shared library.
if(GOMAP_SANITIZE STREQUAL "")
  add_test(NAME doc_examples
           COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/doc_examples.sh ${PROJECT_SOURCE_DIR}
                   $<TARGET_FILE_DIR:gomap> ${CMAKE_CURRENT_BINARY_DIR}/doc_examples)
  set_tests_properties(doc_examples PROPERTIES ENVIRONMENT "CC=${CMAKE_C_COMPILER}"
                       LABELS usability TIMEOUT 300)
endif()
