/*
 * limit.c — the memory limit of the concurrent mixes: the throughput of a
 * loop that does nothing but what every lookup in a table larger than the
 * caches must do, one random access to DRAM per operation.
 *
 * Each thread walks an array as large as the map: every step loads one
 * random cache line whose index depends on the previous load's value, so the
 * loads cannot overlap within a thread (a lookup's bucket depends on its key,
 * and the benchmark's next operation starts when the previous one returned).
 * No map can do a lookup with fewer DRAM round trips, so a variant's
 * throughput over this figure says how far it is from the floor: 1.0 would
 * be one miss per operation and nothing else.
 *
 * And the pause floor of the latency runs: the same open loop with an
 * operation that does nothing.  Its p99 is what the machine alone adds
 * (interrupts, other processes, a hypervisor taking the CPU): a contestant's
 * p99 near it measures the machine's pauses, not the map.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "mix.h"
#include "runner.h"

struct limit_arg {
    const uint64_t *lines; /* nlines lines of 8 words; word 0 is read */
    uint64_t nlines;       /* a power of two */
    uint64_t seed;
    uint64_t deadline_ns;
    uint64_t ops;
};

static void *limit_thread(void *p) {
    struct limit_arg *a = p;
    uint64_t x = a->seed, ops = 0, mask = a->nlines - 1;
    for (;;) {
        /* 1024 dependent loads between clock reads (the clock costs about
         * one load's time; checked rarely, it is noise). */
        for (int i = 0; i < 1024; i++) {
            uint64_t v = a->lines[(x & mask) * 8];
            /* The next index depends on the loaded word: a true chain. */
            x = (x ^ v) * 0x9e3779b97f4a7c15ull;
            x ^= x >> 29;
        }
        ops += 1024;
        if (bench_now_ns() >= a->deadline_ns)
            break;
    }
    bench_keep(x);
    a->ops = ops;
    return NULL;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double mix_memory_limit(uint64_t bytes, unsigned threads, uint64_t duration_ms, unsigned reps) {
    if (threads == 0 || threads > MIX_MAX_THREADS || reps == 0 || reps > 64)
        return -1;
    uint64_t nlines = 1;
    while (nlines * 64 < bytes)
        nlines <<= 1;
    /* The next power of two above the map's size: at most twice as large,
     * so never friendlier to the caches than the map itself. */
    uint64_t *lines = aligned_alloc(64, nlines * 64);
    if (!lines)
        return -1;
    uint64_t s = 0x2545f4914f6cdd1dull;
    for (uint64_t i = 0; i < nlines; i++) {
        memset(&lines[i * 8], 0, 64);
        lines[i * 8] = bench_splitmix64(&s);
    }
    double mops[64];
    for (unsigned r = 0; r < reps; r++) {
        struct limit_arg a[MIX_MAX_THREADS];
        pthread_t t[MIX_MAX_THREADS];
        uint64_t t0 = bench_now_ns();
        unsigned started = 0;
        for (unsigned i = 0; i < threads; i++) {
            a[i] = (struct limit_arg){lines, nlines, (uint64_t)(i + 1) * 0x632be59bd9b4e019ull + r,
                                      t0 + duration_ms * 1000000u, 0};
            if (pthread_create(&t[i], NULL, limit_thread, &a[i]) != 0)
                break;
            started++;
        }
        uint64_t ops = 0;
        for (unsigned i = 0; i < started; i++) {
            pthread_join(t[i], NULL);
            ops += a[i].ops;
        }
        double secs = (double)(bench_now_ns() - t0) / 1e9;
        if (started < threads) {
            free(lines);
            return -1;
        }
        mops[r] = (double)ops / secs / 1e6;
    }
    free(lines);
    qsort(mops, reps, sizeof mops[0], cmp_double);
    return mops[reps / 2];
}

static bool null_load(void *m, uint64_t key, uint64_t *value) {
    (void)m, (void)key, (void)value;
    return false;
}

static void null_store(void *m, uint64_t key, uint64_t value) {
    (void)m, (void)key, (void)value;
}

static void null_del(void *m, uint64_t key) {
    (void)m, (void)key;
}

int mix_pause_floor(unsigned threads, uint64_t rate, uint64_t lat_ms, uint64_t seed, hist *h) {
    if (threads == 0 || threads > MIX_MAX_THREADS)
        return -1;
    wl_trace tr[MIX_MAX_THREADS];
    const wl_mix *m = wl_mix_find("read100");
    unsigned built = 0;
    int rc = 0;
    for (; built < threads; built++)
        if (!m || wl_trace_build(&tr[built], m, WL_UNIFORM, 1024, seed, built, 1024) != 0) {
            rc = -1;
            break;
        }
    if (rc == 0) {
        run_map c = {NULL, null_load, null_store, null_del, NULL, NULL, NULL};
        uint64_t ops, sum;
        hist_init(h);
        run_threads(&c, seed, tr, threads, lat_ms, rate, h, &ops, &sum);
    }
    for (unsigned t = 0; t < built; t++)
        wl_trace_free(&tr[t]);
    return rc;
}
