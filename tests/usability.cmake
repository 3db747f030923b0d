# What a user meets first: the typed maps, the headers from C++.
# tests/CMakeLists.txt may include an area file more than once.
include_guard(GLOBAL)

# The typed maps (gomap.h, concmap.h) from C.
gomap_test(typed_test SOURCES typed_test.c LABELS usability)

# The public headers as C++, with -Wzero-as-null-pointer-constant an error.
gomap_test(headers_cxx SOURCES headers_cxx.cpp LABELS usability)
target_compile_options(headers_cxx PRIVATE -Wzero-as-null-pointer-constant -Werror)
