/*
 * lock_trace.h — the lock_wait / lock_hold probes around the family's locks,
 * with the clock read only while a tracer is attached, and the one traced
 * mutex of the maps that serialize their writers on a pthread mutex
 * (syncmap.c, cowmap.c).  rwmap.c and shardmap.c time their own locks with
 * gomap__lock_acquire_traced / gomap__lock_release_traced.
 */
#ifndef GOMAP_LOCK_TRACE_H
#define GOMAP_LOCK_TRACE_H

#include <pthread.h>
#include <stdint.h>

#include "probes.h"

/* True while a tracer watches lock waits or holds: only then is the clock read. */
#define GOMAP__LOCK_TRACED() (GOMAP_PROBE_ENABLED(lock_wait) || GOMAP_PROBE_ENABLED(lock_hold))

/* Acquires a lock with `acquire(lock)`, firing lock_wait(map, name, ns,
 * exclusive).  Returns the time the lock was acquired (never 0), for
 * gomap__lock_release_traced.  Called only when GOMAP__LOCK_TRACED(). */
uint64_t gomap__lock_acquire_traced(const void *map, const char *name, int exclusive,
                                    void (*acquire)(void *lock), void *lock);

/* Fires lock_hold(map, name, ns, exclusive) if `acquired` is not 0 (the lock
 * was taken traced).  Call just before releasing the lock. */
void gomap__lock_release_traced(const void *map, const char *name, int exclusive,
                                uint64_t acquired);

/* A pthread mutex whose acquisitions fire lock_wait and lock_hold (always
 * exclusive) naming `owner` and `name`.  Invariants: owner and name are set
 * by gomap__traced_mutex_init and never change; locked_at is read and
 * written only by the holder of mu (0: this hold was not traced, so its
 * release fires nothing). */
struct gomap__traced_mutex {
    pthread_mutex_t mu;
    uint64_t locked_at;
    const void *owner; /* the map the probes name */
    const char *name;  /* its variant's name (concmap_variants) */
};

void gomap__traced_mutex_init(struct gomap__traced_mutex *t, const void *owner, const char *name);
void gomap__traced_mutex_destroy(struct gomap__traced_mutex *t);

/* The traced half of gomap__traced_mutex_lock. */
void gomap__traced_mutex_lock_traced(struct gomap__traced_mutex *t);

static inline void gomap__traced_mutex_lock(struct gomap__traced_mutex *t) {
    if (!GOMAP__LOCK_TRACED()) {
        pthread_mutex_lock(&t->mu);
        t->locked_at = 0;
        return;
    }
    gomap__traced_mutex_lock_traced(t);
}

static inline void gomap__traced_mutex_unlock(struct gomap__traced_mutex *t) {
    if (t->locked_at)
        gomap__lock_release_traced(t->owner, t->name, 1, t->locked_at);
    pthread_mutex_unlock(&t->mu);
}

#endif /* GOMAP_LOCK_TRACE_H */
