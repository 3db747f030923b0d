/*
 * crash_readwrite_concmap.c — crash_readwrite.c, fixed with a thread-safe map.
 *
 *   ./crash_readwrite_concmap rw      readers share a reader-writer lock
 *   ./crash_readwrite_concmap shard   readers and the writer meet only on a shard
 *   ./crash_readwrite_concmap sync    readers take no lock at all (sync.Map)
 */
#include <gomap/concmap.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* The reader reads the keys until it has found all of them PASSES times;
 * the writer writes its keys, and writes them again (overwriting) until the
 * reader has finished, so the two threads run at the same time even on a
 * busy machine. */
enum { KEYS = 1000, PASSES = 50 };

static concmap *m;
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
            uint64_t v = k * k;
            if (concmap_store(m, &k, &v) != 0) /* FIX: a map made for threads */
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
            bool ok = concmap_load(m, &k, &v); /* copies the value out */
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
    uint64_t found = 0;
    pthread_t w, r;
    pthread_create(&w, NULL, writer, NULL);
    pthread_create(&r, NULL, reader, &found);
    pthread_join(w, NULL);
    pthread_join(r, NULL);
    size_t n = concmap_len(m);
    printf("%s: final count: %zu (expected %d)\n", kind, n, KEYS);
    concmap_free(m);
    return n == KEYS ? 0 : 1;
}
