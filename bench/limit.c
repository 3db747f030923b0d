/*
 * limit.c — the memory limit of the concurrent mixes: the throughput of a
 * contestant that does nothing but what every lookup in a table larger than
 * the caches must do, one random access per operation into memory as large
 * as the table.
 *
 * It runs in the mixes' own loop (runner.c: the same traces of read100 keys,
 * drawn as the mixes draw them, the same indirect call per operation, the
 * same checksum).  Its load reads the one word of the line its key selects
 * and returns it, so each operation depends on its access (the value is
 * summed into the checksum), while the operations do not depend on each
 * other: the CPU may overlap the misses of consecutive operations, as it
 * does for a map's lookups of independent keys.  A map that touches memory
 * at least once per operation, in the same loop, cannot do more operations
 * per second; a variant's throughput over this figure says how far it is
 * from that ceiling.  (An earlier form chained each access on the previous
 * one's value; no map's operations are chained like that, so maps read
 * above it.)
 *
 * And the pause floor of the latency runs: the same open loop with an
 * operation that does nothing.  Its p99 is what the machine alone adds
 * (interrupts, other processes, a hypervisor taking the CPU): a contestant's
 * p99 near it measures the machine's pauses, not the map.
 */
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "mix.h"
#include "runner.h"

/* The operations of the pause floor, and the limit's writes (it runs
 * read100 only). */
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

/* The array the limit reads: nlines lines of 64 bytes, word 0 of each read. */
typedef struct limit_array {
    const uint64_t *lines;
    uint64_t nlines;
} limit_array;

/* The line of a key: keys are splitmix64 outputs, uniform over 64 bits, so
 * the multiply-shift spreads them evenly over the lines with no hashing. */
static bool limit_load(void *m, uint64_t key, uint64_t *value) {
    const limit_array *a = m;
    *value = a->lines[wl_uniform(key, a->nlines) * 8];
    return true;
}

int mix_memory_limit(uint64_t bytes, uint64_t nkeys, uint64_t seed, size_t trace_len,
                     unsigned threads, uint64_t duration_ms, unsigned reps, double *mops) {
    if (threads == 0 || threads > MIX_MAX_THREADS || threads > RUN_MAX_THREADS || reps == 0 ||
        nkeys == 0 || nkeys > WL_MAX_KEYS || trace_len == 0 || bytes == 0)
        return -1;
    /* Exactly the map's size in lines, with the map's huge-page advice:
     * neither friendlier to the caches and the TLB than the map, nor less
     * friendly. */
    uint64_t nlines = (bytes + 63) / 64;
    uint64_t *lines = aligned_alloc(64, nlines * 64);
    if (!lines)
        return -1;
    bench_advise_huge(lines, nlines * 64);
    uint64_t s = 0x2545f4914f6cdd1dull;
    for (uint64_t i = 0; i < nlines; i++) {
        memset(&lines[i * 8], 0, 64);
        lines[i * 8] = bench_splitmix64(&s);
    }
    wl_trace tr[MIX_MAX_THREADS];
    const wl_mix *m = wl_mix_find("read100");
    unsigned built = 0;
    int rc = 0;
    for (; built < threads; built++)
        if (!m || wl_trace_build(&tr[built], m, WL_UNIFORM, nkeys, seed, built, trace_len) != 0) {
            rc = -1;
            break;
        }
    limit_array a = {lines, nlines};
    run_map c = {&a, limit_load, null_store, null_del, NULL, NULL, NULL};
    for (unsigned r = 0; r < reps && rc == 0; r++) {
        uint64_t ops, sum;
        mops[r] = run_threads(&c, seed, tr, threads, duration_ms, 0, NULL, &ops, &sum);
        bench_keep(sum);
        if (mops[r] <= 0)
            rc = -1;
    }
    for (unsigned t = 0; t < built; t++)
        wl_trace_free(&tr[t]);
    free(lines);
    return rc;
}

int mix_pause_floor(unsigned threads, uint64_t rate, uint64_t lat_ms, unsigned runs, uint64_t seed,
                    hist *h) {
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
        rc = run_latency(&c, seed, tr, threads, lat_ms, rate, runs, h, &ops, &sum);
    }
    for (unsigned t = 0; t < built; t++)
        wl_trace_free(&tr[t]);
    return rc;
}
