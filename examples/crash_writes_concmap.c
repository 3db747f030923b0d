/*
 * crash_writes_concmap.c — crash_writes.c, fixed with a thread-safe map.
 *
 *   ./crash_writes_concmap rw      a map and a reader-writer lock
 *   ./crash_writes_concmap shard   many maps, one lock each, picked by hash
 *   ./crash_writes_concmap sync    Go's sync.Map design (lock-free reads)
 *
 * (cow works too, but copies the whole map on every write: it is made for
 * rare writes, the opposite of this program.)
 *
 * The threads need no lock of their own: every concmap function is safe to
 * call from any number of threads.  The variant is chosen by name at run
 * time; a program that knows its variant can include its header (rwmap.h,
 * shardmap.h, syncmap.h) and call it directly.
 */
#include <gomap/concmap.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

enum { THREADS = 10, KEYS_PER_THREAD = 1000 };

static concmap *m;
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
            uint64_t k = base + i;
            if (concmap_store(m, &k, &i) != 0) { /* FIX: a map made for threads */
                fprintf(stderr, "out of memory\n");
                return NULL;
            }
        }
    } while (!all_done_once(&counted));
    return NULL;
}

int main(int argc, char **argv) {
    const char *kind = argc > 1 ? argv[1] : "rw";
    gomap_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.key_kind = GOMAP_KEY_U64;
    cfg.value_size = sizeof(uint64_t);
    if (concmap_new(&m, kind, &cfg, NULL) != 0) {
        fprintf(stderr, "unknown variant \"%s\"; try one of:", kind);
        for (const char *const *k = concmap_variants; *k; k++)
            fprintf(stderr, " %s", *k);
        fprintf(stderr, "\n");
        return 2;
    }
    pthread_t t[THREADS];
    for (uintptr_t i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, writer, (void *)i);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    size_t n = concmap_len(m);
    printf("%s: final count: %zu (expected %d)\n", kind, n, THREADS * KEYS_PER_THREAD);
    concmap_free(m);
    return n == THREADS * KEYS_PER_THREAD ? 0 : 1;
}
