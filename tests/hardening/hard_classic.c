/*
 * hard_classic.c — the two classic crash programs written exactly as Go's
 * (examples/go/), for the like-for-like rows of docs/detection.md
 * (tools/detection.sh runs it; it is not a test case).  The examples in
 * examples/ repeat their writes 100 or 1000 times so a reader sees the crash;
 * these make one pass by default, as the Go programs do.
 *
 *   hard_classic writes    [--rounds N] [--together] [--mutex]
 *   hard_classic readwrite [--rounds N] [--together] [--mutex]
 *
 * writes: ten threads write 1000 keys each into one gomap.  readwrite: one
 * thread writes keys 0..999 while another reads them (one pass each, or with
 * --together the reader reads until the writer is done).  --together
 * releases the threads from a spinning start line; --mutex guards the map
 * (must never report anything).
 */
#include <gomap/gomap.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { WRITERS = 10, KEYS = 1000 };

static gomap_u64u64 *m;
static int rounds = 1;
static bool together, use_mutex;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_int arrived;
static atomic_bool writer_done;

static void start_line(int n) {
    if (!together)
        return;
    atomic_fetch_add(&arrived, 1);
    while (atomic_load(&arrived) < n)
        sched_yield();
}

static void *writer(void *arg) {
    uint64_t base = (uint64_t)(uintptr_t)arg;
    start_line(WRITERS);
    for (int r = 0; r < rounds; r++)
        for (uint64_t i = 0; i < KEYS; i++) {
            if (use_mutex)
                pthread_mutex_lock(&mu);
            gomap_u64u64_set(m, base + i, i);
            if (use_mutex)
                pthread_mutex_unlock(&mu);
        }
    return NULL;
}

static void *rw_writer(void *arg) {
    (void)arg;
    start_line(2);
    for (int r = 0; r < rounds; r++)
        for (uint64_t k = 0; k < KEYS; k++) {
            if (use_mutex)
                pthread_mutex_lock(&mu);
            gomap_u64u64_set(m, k, k * k);
            if (use_mutex)
                pthread_mutex_unlock(&mu);
        }
    atomic_store(&writer_done, true);
    return NULL;
}

static void *rw_reader(void *arg) {
    uint64_t *found = (uint64_t *)arg;
    start_line(2);
    for (int pass = 0;; pass++) {
        if (together ? atomic_load(&writer_done) : pass == 1)
            break;
        for (uint64_t k = 0; k < KEYS; k++) {
            if (use_mutex)
                pthread_mutex_lock(&mu);
            *found += gomap_u64u64_get(m, k, NULL);
            if (use_mutex)
                pthread_mutex_unlock(&mu);
        }
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2 || (strcmp(argv[1], "writes") && strcmp(argv[1], "readwrite"))) {
        fprintf(stderr, "usage: %s writes|readwrite [--rounds N] [--together] [--mutex]\n",
                argv[0]);
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--together"))
            together = true;
        else if (!strcmp(argv[i], "--mutex"))
            use_mutex = true;
    }
    m = gomap_u64u64_new(0);
    if (!m)
        return 1;
    if (!strcmp(argv[1], "writes")) {
        pthread_t t[WRITERS];
        for (uintptr_t i = 0; i < WRITERS; i++)
            pthread_create(&t[i], NULL, writer, (void *)(i * KEYS));
        for (int i = 0; i < WRITERS; i++)
            pthread_join(t[i], NULL);
        printf("final count: %zu (expected %d)\n", gomap_u64u64_len(m), WRITERS * KEYS);
    } else {
        uint64_t found = 0;
        pthread_t w, r;
        pthread_create(&w, NULL, rw_writer, NULL);
        pthread_create(&r, NULL, rw_reader, &found);
        pthread_join(w, NULL);
        pthread_join(r, NULL);
        printf("final count: %zu (expected %d), reads found %llu\n", gomap_u64u64_len(m), KEYS,
               (unsigned long long)found);
    }
    gomap_u64u64_free(m);
    return 0;
}
