/*
 * crash_readwrite_mutex.c — crash_readwrite.c, fixed with one mutex.
 *
 * Readers take the lock too.  (A reader-writer lock, gomap_rwlock, would let
 * readers share it; that is what rwmap does for you — see
 * crash_readwrite_concmap.c.)
 *
 * The map is declared GOMAP_GUARDED_BY the lock (gomap/annotate.h): built
 * with clang -Wthread-safety, a read or write of `m` without holding `mu`
 * — the mistake of crash_readwrite.c — is a compile-time warning.
 */
#include <gomap/annotate.h>
#include <gomap/gomap.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

/* The reader reads the keys until it has found all of them PASSES times;
 * the writer writes its keys, and writes them again (overwriting) until the
 * reader has finished, so the two threads run at the same time even on a
 * busy machine. */
enum { KEYS = 1000, PASSES = 50 };

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
static atomic_bool reader_done;

/* Not static: the conflict report's stack names these functions. */
void *writer(void *arg);
void *reader(void *arg);

void *writer(void *arg) {
    (void)arg;
    start_together(2);
    do {
        for (uint64_t k = 0; k < KEYS; k++) {
            gomap_mutex_lock(&mu); /* FIX */
            int rc = gomap_u64u64_set(m, k, k * k);
            gomap_mutex_unlock(&mu);
            if (rc != 0)
                fprintf(stderr, "out of memory\n");
        }
    } while (!atomic_load(&reader_done));
    return NULL;
}

void *reader(void *arg) {
    uint64_t *found = (uint64_t *)arg;
    start_together(2);
    for (int full = 0; full < PASSES;) {
        uint64_t hits = 0;
        for (uint64_t k = 0; k < KEYS; k++) {
            uint64_t v;
            gomap_mutex_lock(&mu); /* FIX: readers lock too */
            bool ok = gomap_u64u64_get(m, k, &v);
            gomap_mutex_unlock(&mu);
            if (ok && v != k * k)
                fprintf(stderr, "key %llu: wrong value\n", (unsigned long long)k);
            hits += ok;
        }
        full += hits == KEYS;
        *found += hits;
    }
    atomic_store(&reader_done, true);
    return NULL;
}

int main(void) {
    /* Locked even before the threads exist: the analysis checks each
     * function on its own. */
    gomap_mutex_lock(&mu);
    m = gomap_u64u64_new(0);
    bool made = m != NULL;
    gomap_mutex_unlock(&mu);
    if (!made)
        return 1;
    uint64_t found = 0;
    pthread_t w, r;
    pthread_create(&w, NULL, writer, NULL);
    pthread_create(&r, NULL, reader, &found);
    pthread_join(w, NULL);
    pthread_join(r, NULL);
    gomap_mutex_lock(&mu);
    size_t n = gomap_u64u64_len(m);
    printf("final count: %zu (expected %d)\n", n, KEYS);
    gomap_u64u64_free(m);
    gomap_mutex_unlock(&mu);
    return n == KEYS ? 0 : 1;
}
