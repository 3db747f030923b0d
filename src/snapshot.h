/*
 * snapshot.h — the range of the lock-based maps (rwmap.c, shardmap.c): the
 * entries are copied out under the lock, so that the callback runs with no
 * lock held and may call the map.
 *
 * Why a snapshot and not an iterator kept across unlocks: the core map's
 * iterator follows Go's rules, under which a key deleted and stored again
 * after it was returned may be returned again (it lands in a slot the
 * iteration has not reached).  sync.Map's Range promises each key at most
 * once; copying the entries while the lock is held is the simplest way to
 * keep that promise and gives a consistent snapshot besides.
 */
#ifndef GOMAP_SNAPSHOT_H
#define GOMAP_SNAPSHOT_H

#include <gomap/concmap.h>
#include <stdbool.h>
#include <stddef.h>

/* A growable buffer of copied entries.  Records are laid out as
 *   [key, padded to 16][value, padded to 16]
 * where a string key is stored as its length (size_t) followed by its bytes,
 * and any other key as its key_size bytes; 16-byte alignment keeps the key and
 * value pointers handed to the callback aligned for any scalar type.
 * Invariant: used <= cap, count records fill buf[0..used). */
struct gomap__snapshot {
    unsigned char *buf;
    size_t cap;
    size_t used;
    size_t count;
    const gomap_allocator *alloc;
    gomap_key_kind key_kind;
    size_t key_size; /* fixed-size kinds only */
    size_t value_size;
};

/* Initialises an empty snapshot for maps of this config (no allocation). */
void gomap__snapshot_init(struct gomap__snapshot *s, const gomap_config *cfg);

/* Frees the buffer. */
void gomap__snapshot_destroy(struct gomap__snapshot *s);

/* Empties the snapshot, keeping its buffer. */
static inline void gomap__snapshot_reset(struct gomap__snapshot *s) {
    s->used = 0;
    s->count = 0;
}

/* The lock operations a range needs. */
struct gomap__range_lock {
    void (*lock)(void *arg);
    void (*unlock)(void *arg);
    void *arg;
};

/* Visits every entry of m, whose lock `lk` guards it, with the lock released
 * while fn runs.  With memory for a full snapshot (the usual case): a
 * consistent snapshot of m taken under one lock hold, so each key is visited
 * at most once.  When that allocation fails (range has no way to report
 * ENOMEM, and skipping entries would be worse): chunks of a
 * GOMAP__SNAPSHOT_MIN-byte stack buffer taken under successive lock holds, in
 * which a key deleted and stored again after it was visited may be visited
 * again; a single entry too large for that buffer gets its own allocation
 * (the allocator hook, else malloc, else a fatal out-of-memory error), so fn
 * never runs with the lock held and may read the map in every path.
 * Returns false if fn stopped the visit. */
bool gomap__snapshot_range(struct gomap__snapshot *s, const gomap *m,
                           const struct gomap__range_lock *lk, concmap_range_fn fn, void *ctx);

enum { GOMAP__SNAPSHOT_MIN = 4096 };

/* The ranges the calling thread is inside, innermost first (a callback may
 * range over another map).  A map freed from its own range callback would
 * leave the range walking freed memory (the next shard, the snapshot's
 * config) when the callback returns; the free looks itself up here and
 * makes that Go-style fatal, whether or not it had memory queued.  Each
 * frame lives on its range's stack; only its own thread reads the list. */
struct gomap__range_frame {
    const void *map;
    struct gomap__range_frame *outer;
};

/* Pushes f (for map) on the calling thread's list; gomap__range_leave pops
 * it when the range returns, whether fn stopped it or not. */
void gomap__range_enter(struct gomap__range_frame *f, const void *map);
void gomap__range_leave(struct gomap__range_frame *f);

/* The first call of rwmap_free and shardmap_free (`who` names it): fatal
 * when the calling thread is inside a range of map. */
void gomap__range_free_check(const void *map, const char *who);

#endif /* GOMAP_SNAPSHOT_H */
