/*
 * crash_writes.c — the classic crash: ten threads write one map at once.
 *
 * A gomap, like Go's map, is not safe for concurrent use.  Go detects this
 * misuse and stops the program with "fatal error: concurrent map writes";
 * gomap does the same, and its report also names the other thread.  Compare
 * the fixed versions: crash_writes_mutex.c (one lock around the map) and
 * crash_writes_concmap.c (a thread-safe map: rw, shard or sync).
 *
 * Run it: ./crash_writes          (aborts with the report)
 *         GOMAP_DEBUG=conflict=report,writerstack=1 ./crash_writes
 *                                 (prints the conflict with both stacks and
 *                                  carries on: the conflicting writes wait
 *                                  for each other, so all 10,000 keys end
 *                                  up in the map)
 */
#include <gomap/gomap.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

enum { THREADS = 10, KEYS_PER_THREAD = 1000 };

static gomap_u64u64 *m;
/* A start line: each thread waits (spinning, so it is running, not asleep)
 * until all have arrived, so they really run at the same time. */
static atomic_int arrived;
static void start_together(int threads) {
    atomic_fetch_add(&arrived, 1);
    while (atomic_load(&arrived) < threads)
        sched_yield();
}

/* Each thread writes its 1000 keys, then writes them again (overwriting)
 * until every thread has written its keys once: so all the threads are
 * writing at the same time, even on a busy machine where one thread could
 * finish its keys before the next one is scheduled. */
static atomic_int threads_done_once;
static bool all_done_once(bool *counted) {
    if (!*counted) {
        atomic_fetch_add(&threads_done_once, 1);
        *counted = true;
    }
    return atomic_load(&threads_done_once) == THREADS;
}

/* Not static: the conflict report's stack names these functions. */
void *writer(void *arg);

/* Each thread writes its own 1000 keys: no two threads ever touch the same
 * key, and still the map's shared structure (buckets, growth) is corrupted
 * without a lock.  That is what the detector catches. */
void *writer(void *arg) {
    uint64_t base = (uint64_t)(uintptr_t)arg * KEYS_PER_THREAD;
    bool counted = false;
    start_together(THREADS);
    do {
        for (uint64_t i = 0; i < KEYS_PER_THREAD; i++)
            gomap_u64u64_set(m, base + i, i); /* BUG: no lock */
    } while (!all_done_once(&counted));
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
    pthread_t t[THREADS];
    for (uintptr_t i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, writer, (void *)i);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    /* Reached when no conflict was caught (detection is best-effort), or
     * under GOMAP_DEBUG=conflict=report|count, where every key must be
     * there with its value. */
    size_t missing = 0;
    for (uint64_t k = 0; k < THREADS * KEYS_PER_THREAD; k++) {
        uint64_t v;
        if (!gomap_u64u64_get(m, k, &v) || v != k % KEYS_PER_THREAD)
            missing++;
    }
    printf("final count: %zu (expected %d), keys missing or wrong: %zu\n", gomap_u64u64_len(m),
           THREADS * KEYS_PER_THREAD, missing);
    printf("conflicts counted: %llu\n", (unsigned long long)conflicts_counted());
    gomap_u64u64_free(m);
    return 0;
}
