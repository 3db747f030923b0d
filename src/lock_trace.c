/*
 * lock_trace.c — lock timing for the lock_wait / lock_hold probes and the
 * traced mutex.  See lock_trace.h.
 */
#include "lock_trace.h"

#include <time.h>

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t gomap__lock_acquire_traced(const void *map, const char *name, int exclusive,
                                    void (*acquire)(void *lock), void *lock) {
    uint64_t start = now_ns();
    acquire(lock);
    uint64_t got = now_ns();
    GOMAP_PROBE4(lock_wait, map, name, got - start, exclusive);
    return got ? got : 1; /* 0 means "not traced" to the release side */
}

void gomap__lock_release_traced(const void *map, const char *name, int exclusive,
                                uint64_t acquired) {
    if (acquired && GOMAP_PROBE_ENABLED(lock_hold)) {
        uint64_t held = now_ns() - acquired;
        GOMAP_PROBE4(lock_hold, map, name, held, exclusive);
    }
}

/* ---- the traced mutex ----------------------------------------------------- */

void gomap__traced_mutex_init(struct gomap__traced_mutex *t, const void *owner, const char *name) {
    pthread_mutex_init(&t->mu, NULL);
    t->locked_at = 0;
    t->owner = owner;
    t->name = name;
}

void gomap__traced_mutex_destroy(struct gomap__traced_mutex *t) {
    pthread_mutex_destroy(&t->mu);
}

static void mutex_acquire(void *mu) {
    pthread_mutex_lock(mu);
}

void gomap__traced_mutex_lock_traced(struct gomap__traced_mutex *t) {
    uint64_t at = gomap__lock_acquire_traced(t->owner, t->name, 1, mutex_acquire, &t->mu);
    t->locked_at = at; /* now under mu */
}
