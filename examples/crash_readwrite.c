/*
 * crash_readwrite.c — the other classic crash: one thread writes a map while
 * another reads it.
 *
 * Reading is not safe while someone writes: the writer may be moving entries
 * to a bigger table under the reader's feet.  Go stops such a program with
 * "fatal error: concurrent map read and map write", and so does gomap.
 * Fixed versions: crash_readwrite_mutex.c and crash_readwrite_concmap.c.
 *
 * Run it: ./crash_readwrite       (aborts with the report)
 *         GOMAP_DEBUG=conflict=report ./crash_readwrite
 *                                 (prints the conflict and carries on: the
 *                                  reader waits for the write to end, so it
 *                                  never reads a half-changed map)
 */
#include <gomap/gomap.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

/* The writer writes its keys PASSES times (overwriting after the first);
 * the reader reads them until the writer is done — the same shape as the Go
 * program examples/go/crash_readwrite run with -rounds 1000 -together, so
 * docs/detection.md compares like with like. */
enum { KEYS = 1000, PASSES = 1000 };

static gomap_u64u64 *m;
/* A start line: each thread waits (spinning, so it is running, not asleep)
 * until all have arrived, so they really run at the same time. */
static atomic_int arrived;
static void start_together(int threads) {
    atomic_fetch_add(&arrived, 1);
    while (atomic_load(&arrived) < threads)
        sched_yield();
}
static atomic_bool writer_done;

/* Not static: the conflict report's stack names these functions. */
void *writer(void *arg);
void *reader(void *arg);

void *writer(void *arg) {
    (void)arg;
    start_together(2);
    for (int pass = 0; pass < PASSES; pass++)
        for (uint64_t k = 0; k < KEYS; k++)
            gomap_u64u64_set(m, k, k * k); /* BUG: no lock */
    atomic_store(&writer_done, true);
    return NULL;
}

/* Reads the keys over and over (absent ones too, until they are written). */
void *reader(void *arg) {
    uint64_t *found = (uint64_t *)arg;
    start_together(2);
    do {
        for (uint64_t k = 0; k < KEYS; k++)
            *found += gomap_u64u64_get(m, k, NULL); /* BUG: no lock */
    } while (!atomic_load(&writer_done));
    return NULL;
}

/* What GOMAP_DEBUG=conflict=report|count counted (0 in the default mode,
 * which stops the program at the first one). */
static uint64_t conflicts_counted(void) {
    uint64_t n = 0;
    for (int type = 0; type < GOMAP_CONFLICT_TYPES; type++)
        n += gomap_conflict_count((gomap_conflict_type)type);
    return n;
}

int main(void) {
    m = gomap_u64u64_new(0);
    if (!m)
        return 1;
    uint64_t found = 0;
    pthread_t w, r;
    pthread_create(&w, NULL, writer, NULL);
    pthread_create(&r, NULL, reader, &found);
    pthread_join(w, NULL);
    pthread_join(r, NULL);
    /* Reached when no conflict was caught (detection is best-effort), or
     * under GOMAP_DEBUG=conflict=report|count, where every key must be
     * there with its value. */
    size_t missing = 0;
    for (uint64_t k = 0; k < KEYS; k++) {
        uint64_t v;
        if (!gomap_u64u64_get(m, k, &v) || v != k * k)
            missing++;
    }
    printf("final count: %zu (expected %d), keys missing or wrong: %zu\n", gomap_u64u64_len(m),
           KEYS, missing);
    printf("conflicts counted: %llu\n", (unsigned long long)conflicts_counted());
    gomap_u64u64_free(m);
    return 0;
}
