/*
 * syncmap_internal.h — a view of a syncmap's internal state, for tests that
 * check Go's mechanics (misses, promotion, the amended flag, expunging).
 */
#ifndef GOMAP_SYNCMAP_INTERNAL_H
#define GOMAP_SYNCMAP_INTERNAL_H

#include <gomap/syncmap.h>

struct gomap__syncmap_state {
    size_t read_len;  /* keys in the read table (live or not) */
    bool amended;     /* the dirty table holds keys the read table lacks */
    bool has_dirty;   /* a dirty table exists */
    size_t dirty_len; /* keys in the dirty table (0 without one) */
    size_t misses;    /* the miss counter */
    size_t expunged;  /* read-table entries currently expunged */
};

/* Takes the map's lock for a consistent view. */
void gomap__syncmap_state(syncmap *m, struct gomap__syncmap_state *s);

/* Takes / releases the map's mutex (tests: proving which paths never wait
 * for it). */
void gomap__syncmap_lock(syncmap *m);
void gomap__syncmap_unlock(syncmap *m);

#endif /* GOMAP_SYNCMAP_INTERNAL_H */
