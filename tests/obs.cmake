# Observability (issue 5): the probes, the bpftrace tools and gomap-watch.
#
# obs_target does a fixed amount of map work (tests/obs_target.c); run alone
# it is a plain test (conflicts in report mode, every variant exercised).  The
# tools' tests start it under a tracer and check what the tracer prints; they
# skip (exit 77) only where the kernel refuses eBPF.
gomap_test(obs_target SOURCES obs_target.c TIMEOUT 300)
if(NOT GOMAP_PROBES)
  target_compile_definitions(obs_target PRIVATE GOMAP_NO_PROBES=1)
endif()

# The Prometheus exposition-format checker: its own test, and the tool the
# gomap-watch test runs on each scrape.
gomap_test(obs_expfmt SOURCES obs_expfmt.c LIBS m)

# In-process metrics (include/gomap/metrics.h).
if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/obs_metrics.c)
  gomap_test(obs_metrics SOURCES obs_metrics.c)
endif()

if(GOMAP_PROBES)
  # Every probe probes.h declares is in the built library, with a semaphore.
  add_test(NAME obs_probes
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/obs_probes.sh
                   ${PROJECT_SOURCE_DIR}/src/probes.h $<TARGET_FILE:gomap>)

  # tool -> the probes whose semaphores the target checks once attached.
  set(GOMAP_OBS_TOOLS
      "conflicts=conflict,op"
      "ops=op,concmap_op"
      "growth=grow_start,evacuate"
      "locks=lock_wait,lock_hold,syncmap_miss,syncmap_promote")
  foreach(tool ${GOMAP_OBS_TOOLS})
    string(REPLACE "=" ";" parts ${tool})
    list(GET parts 0 script)
    list(GET parts 1 sems)
    add_test(NAME obs_trace_${script}
             COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/obs_trace.sh
                     ${PROJECT_SOURCE_DIR}/tools/trace/${script}.bt $<TARGET_FILE:obs_target>
                     ${sems})
    # RUN_SERIAL: eBPF tests in parallel could make the kernel skip each
    # other's programs (docs/observability.md, "Counts are lower bounds").
    set_tests_properties(obs_trace_${script} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300
                                                        RUN_SERIAL TRUE LABELS obs)
  endforeach()
endif()

# The probes' cost, untraced: a fixed core workload (tools/probe_overhead.sh
# counts its instructions with and without probes).
gomap_test(obs_overhead SOURCES obs_overhead.c)
