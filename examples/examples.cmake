# The classic crash programs and their fixed versions (see each file's header).
# ENABLE_EXPORTS links with -rdynamic, so the conflict report's stack traces
# name the examples' own functions (writer, reader), not just addresses.
foreach(ex crash_writes crash_writes_mutex crash_writes_concmap
           crash_readwrite crash_readwrite_mutex crash_readwrite_concmap)
  add_executable(${ex} ${CMAKE_CURRENT_SOURCE_DIR}/${ex}.c)
  target_compile_options(${ex} PRIVATE ${GOMAP_WARNINGS})
  target_link_libraries(${ex} PRIVATE gomap_static Threads::Threads)
  target_compile_definitions(${ex} PRIVATE _POSIX_C_SOURCE=200809L)
  set_target_properties(${ex} PROPERTIES ENABLE_EXPORTS ON)
endforeach()
