/*
 * crash_writes_mutex.c — crash_writes.c, fixed with one mutex around the map.
 *
 * The simplest cure: every access to the map holds one lock.  The detector
 * never fires in a correctly locked program.
 *
 * The lock is a gomap_mutex and the map is declared GOMAP_GUARDED_BY it
 * (gomap/annotate.h): built with clang -Wthread-safety, any access to `m`
 * without holding `mu` is a compile-time warning — the mistake of
 * crash_writes.c is caught before the program runs.
 */
#include <gomap/annotate.h>
#include <gomap/gomap.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

enum { THREADS = 10, KEYS_PER_THREAD = 1000 };

static gomap_mutex mu = GOMAP_MUTEX_INIT;
static gomap_u64u64 *m GOMAP_GUARDED_BY(mu);
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

void *writer(void *arg) {
    uint64_t base = (uint64_t)(uintptr_t)arg * KEYS_PER_THREAD;
    bool counted = false;
    start_together(THREADS);
    do {
        for (uint64_t i = 0; i < KEYS_PER_THREAD; i++) {
            gomap_mutex_lock(&mu); /* FIX: one writer at a time */
            int rc = gomap_u64u64_set(m, base + i, i);
            gomap_mutex_unlock(&mu);
            if (rc != 0) {
                fprintf(stderr, "out of memory\n");
                return NULL;
            }
        }
    } while (!all_done_once(&counted));
    return NULL;
}

int main(void) {
    /* Locked even before the threads exist: the analysis checks each
     * function on its own and does not know they do not exist yet. */
    gomap_mutex_lock(&mu);
    m = gomap_u64u64_new(0);
    bool made = m != NULL;
    gomap_mutex_unlock(&mu);
    if (!made)
        return 1;
    pthread_t t[THREADS];
    for (uintptr_t i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, writer, (void *)i);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    gomap_mutex_lock(&mu);
    size_t n = gomap_u64u64_len(m);
    printf("final count: %zu (expected %d)\n", n, THREADS * KEYS_PER_THREAD);
    gomap_u64u64_free(m);
    gomap_mutex_unlock(&mu);
    return n == THREADS * KEYS_PER_THREAD ? 0 : 1;
}
