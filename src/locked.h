/*
 * locked.h — what the two lock-based maps (rwmap.c, shardmap.c) share:
 *
 *   - lock acquisition timed for the lock_wait / lock_hold probes, reading the
 *     clock only while a tracer is attached;
 *   - the range snapshot: entries copied out under the lock so that the
 *     callback runs with no lock held and may call the map;
 *   - allocation through the user's allocator hook.
 *
 * Why a snapshot and not an iterator kept across unlocks: the core map's
 * iterator follows Go's rules, under which a key deleted and stored again
 * after it was returned may be returned again (it lands in a slot the
 * iteration has not reached).  sync.Map's Range promises each key at most
 * once; copying the entries while the lock is held is the simplest way to
 * keep that promise and gives a consistent snapshot besides.
 */
#ifndef GOMAP_LOCKED_H
#define GOMAP_LOCKED_H

#include <gomap/concmap.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "concmap_impl.h"
#include "probes.h"

/* ---- allocation ----------------------------------------------------------- */

/* alloc/free through the hook (NULL = malloc/free). */
void *gomap__locked_alloc(const gomap_allocator *a, size_t size);
void gomap__locked_free(const gomap_allocator *a, void *p, size_t size);

/* ---- value copies (value_size bytes; NULL-safe) --------------------------- */

/* Copies a value out to a caller buffer that may be NULL ("not wanted"). */
static inline void gomap__copy_out(void *dst, const void *src, size_t n) {
    if (dst && n)
        memcpy(dst, src, n);
}

/* Sets a map slot to `value`, or zero-fills it when value is NULL. */
static inline void gomap__copy_in(void *slot, const void *value, size_t n) {
    if (!n)
        return;
    if (value)
        memcpy(slot, value, n);
    else
        memset(slot, 0, n);
}

/* Byte equality of a stored value with `old` (NULL: all zero bytes), as
 * compare_and_swap and compare_and_delete define it. */
static inline bool gomap__value_equal(const void *slot, const void *old, size_t n) {
    if (!n)
        return true;
    if (old)
        return memcmp(slot, old, n) == 0;
    const unsigned char *p = slot;
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

/* ---- probes --------------------------------------------------------------- */

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

/* ---- range snapshots ------------------------------------------------------ */

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

/* A writer-preferring reader-writer lock that spins, then yields, instead of
 * sleeping in the kernel.  Why not pthread_rwlock: with 10% writes on two
 * threads, glibc's rwlock (either preference) puts a reader to sleep behind
 * every writer and wakes it with a futex call, so each operation pays a
 * context switch (docs/design-family.md, "rwmap's lock", has the
 * measurements).  Critical sections here are a single map operation (tens to hundreds of
 * nanoseconds), the case spinning is made for; after GOMAP__SPIN_LIMIT
 * spins a waiter yields its CPU, which keeps oversubscribed runs moving.
 *
 * state: bits 0..29 the number of readers inside, WRITER set while a writer
 * is inside, WAITING set while a writer waits (new readers hold back, so
 * writers are not starved, as with Go's RWMutex). */
struct gomap__rwspin {
    _Atomic uint32_t state;
};

void gomap__rwspin_read_lock(struct gomap__rwspin *l);
void gomap__rwspin_read_unlock(struct gomap__rwspin *l);
void gomap__rwspin_write_lock(struct gomap__rwspin *l);
void gomap__rwspin_write_unlock(struct gomap__rwspin *l);

/* The lock operations a locked range needs. */
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
bool gomap__locked_range(struct gomap__snapshot *s, const gomap *m,
                         const struct gomap__range_lock *lk, concmap_range_fn fn, void *ctx);

enum { GOMAP__SNAPSHOT_MIN = 4096 };

/* ---- the concmap face ----------------------------------------------------- */

/* Defines `const struct concmap_ops OPS` for a variant whose public functions
 * are PREFIX_load, PREFIX_store, ... taking `TYPE *`, and whose creation from
 * concmap_new goes through CREATE(void **out, cfg, opts).  The wrappers only
 * convert the handle type (calling a function through a pointer of another
 * type would be undefined behaviour). */
#define GOMAP__DEFINE_CONCMAP_OPS(OPS, NAME, TYPE, PREFIX, CREATE)                                 \
    static void PREFIX##_ops_destroy(void *m) {                                                    \
        PREFIX##_free((TYPE *)m);                                                                  \
    }                                                                                              \
    static bool PREFIX##_ops_load(void *m, const void *k, void *out) {                             \
        return PREFIX##_load((TYPE *)m, k, out);                                                   \
    }                                                                                              \
    static int PREFIX##_ops_store(void *m, const void *k, const void *v) {                         \
        return PREFIX##_store((TYPE *)m, k, v);                                                    \
    }                                                                                              \
    static int PREFIX##_ops_load_or_store(void *m, const void *k, const void *v, void *out,        \
                                          bool *loaded) {                                          \
        return PREFIX##_load_or_store((TYPE *)m, k, v, out, loaded);                               \
    }                                                                                              \
    static bool PREFIX##_ops_load_and_delete(void *m, const void *k, void *out) {                  \
        return PREFIX##_load_and_delete((TYPE *)m, k, out);                                        \
    }                                                                                              \
    static void PREFIX##_ops_delete(void *m, const void *k) {                                      \
        PREFIX##_delete((TYPE *)m, k);                                                             \
    }                                                                                              \
    static int PREFIX##_ops_swap(void *m, const void *k, const void *v, void *prev,                \
                                 bool *loaded) {                                                   \
        return PREFIX##_swap((TYPE *)m, k, v, prev, loaded);                                       \
    }                                                                                              \
    static int PREFIX##_ops_cas(void *m, const void *k, const void *o, const void *n,              \
                                bool *swapped) {                                                   \
        return PREFIX##_compare_and_swap((TYPE *)m, k, o, n, swapped);                             \
    }                                                                                              \
    static bool PREFIX##_ops_cad(void *m, const void *k, const void *o) {                          \
        return PREFIX##_compare_and_delete((TYPE *)m, k, o);                                       \
    }                                                                                              \
    static void PREFIX##_ops_range(void *m, concmap_range_fn fn, void *ctx) {                      \
        PREFIX##_range((TYPE *)m, fn, ctx);                                                        \
    }                                                                                              \
    static void PREFIX##_ops_clear(void *m) {                                                      \
        PREFIX##_clear((TYPE *)m);                                                                 \
    }                                                                                              \
    static size_t PREFIX##_ops_len(void *m) {                                                      \
        return PREFIX##_len((TYPE *)m);                                                            \
    }                                                                                              \
    static int PREFIX##_ops_compute(void *m, const void *k, concmap_compute_fn fn, void *ctx) {    \
        return PREFIX##_compute((TYPE *)m, k, fn, ctx);                                            \
    }                                                                                              \
    const struct concmap_ops OPS = {                                                               \
        .name = NAME,                                                                              \
        .create = CREATE,                                                                          \
        .destroy = PREFIX##_ops_destroy,                                                           \
        .load = PREFIX##_ops_load,                                                                 \
        .store = PREFIX##_ops_store,                                                               \
        .load_or_store = PREFIX##_ops_load_or_store,                                               \
        .load_and_delete = PREFIX##_ops_load_and_delete,                                           \
        .delete_ = PREFIX##_ops_delete,                                                            \
        .swap = PREFIX##_ops_swap,                                                                 \
        .compare_and_swap = PREFIX##_ops_cas,                                                      \
        .compare_and_delete = PREFIX##_ops_cad,                                                    \
        .range = PREFIX##_ops_range,                                                               \
        .clear = PREFIX##_ops_clear,                                                               \
        .len = PREFIX##_ops_len,                                                                   \
        .compute = PREFIX##_ops_compute,                                                           \
    }

#endif /* GOMAP_LOCKED_H */
