/*
 * obs_overhead.c — a fixed, deterministic core-map workload for measuring what
 * the USDT probes cost when nobody traces them: tools/probe_overhead.sh runs
 * it under callgrind against a library built with probes and one without, and
 * compares instruction counts (stable on a shared machine, unlike time).
 * Run alone (ctest obs_overhead) it checks its own results.
 */
#include "check.h"

#include <gomap/gomap.h>

enum { N = 100000, ROUNDS = 3 };

TEST(core_workload) {
    uint64_t sum = 0;
    for (int r = 0; r < ROUNDS; r++) {
        gomap_u64u64 *m = gomap_u64u64_new(0);
        REQUIRE(m != NULL);
        for (uint64_t i = 0; i < N; i++)
            REQUIRE(gomap_u64u64_set(m, i * 0x9e3779b97f4a7c15u, i) == 0);
        for (uint64_t i = 0; i < N; i++) {
            uint64_t v;
            if (gomap_u64u64_get(m, i * 0x9e3779b97f4a7c15u, &v))
                sum += v;
            sum += gomap_u64u64_get(m, i * 0x9e3779b97f4a7c15u + 1, NULL);
        }
        gomap_iter it;
        const void *k;
        void *v;
        gomap_iter_init(&it, gomap_u64u64_map(m));
        while (gomap_iter_next(&it, &k, &v))
            sum += *(const uint64_t *)v;
        for (uint64_t i = 0; i < N; i += 2)
            CHECK(gomap_u64u64_delete(m, i * 0x9e3779b97f4a7c15u));
        CHECK_EQ(gomap_u64u64_len(m), N / 2);
        gomap_u64u64_free(m);
    }
    /* Each round: the lookups' hits, then the iteration, sum 0..N-1 each. */
    CHECK_EQ(sum, (uint64_t)ROUNDS * 2 * ((uint64_t)N * (N - 1) / 2));
}

TEST_MAIN()
