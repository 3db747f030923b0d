/*
 * crash_writes_mutex.c — crash_writes.c, fixed with one mutex around the map.
 *
 * The simplest cure: every access to the map holds one lock.  The detector
 * never fires in a correctly locked program.
 */
#include <gomap/gomap.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

enum { THREADS = 10, KEYS_PER_THREAD = 1000 };

static gomap_u64u64 *m;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
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

void *writer(void *arg) {
    uint64_t base = (uint64_t)(uintptr_t)arg * KEYS_PER_THREAD;
    bool counted = false;
    start_together(THREADS);
    do {
        for (uint64_t i = 0; i < KEYS_PER_THREAD; i++) {
            pthread_mutex_lock(&mu); /* FIX: one writer at a time */
            int rc = gomap_u64u64_set(m, base + i, i);
            pthread_mutex_unlock(&mu);
            if (rc != 0) {
                fprintf(stderr, "out of memory\n");
                return NULL;
            }
        }
    } while (!all_done_once(&counted));
    return NULL;
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
    size_t n = gomap_u64u64_len(m);
    printf("final count: %zu (expected %d)\n", n, THREADS * KEYS_PER_THREAD);
    gomap_u64u64_free(m);
    return n == THREADS * KEYS_PER_THREAD ? 0 : 1;
}
