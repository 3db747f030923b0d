/*
 * guarded.h — the single-key operations of the lock-based maps (rwmap.c,
 * shardmap.c), written once.
 *
 * Both maps keep the same state behind a lock: a core map and its published
 * length (struct gomap__guarded).  They differ only in how a key finds its
 * lock (rwmap: one lock for all keys; shardmap: the lock of the key's shard)
 * and in how a load is answered (rwmap: under the shared lock; shardmap:
 * optimistically, without any lock).  A variant describes that in a
 * `static const struct gomap__locking`; the operations below are
 * always-inlined, so the compiler sees the constant table and calls the
 * variant's functions directly (no indirect call on any path).
 */
#ifndef GOMAP_GUARDED_H
#define GOMAP_GUARDED_H

#include <errno.h>
#include <gomap/concmap.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "compute.h"
#include "family.h"
#include "lock_trace.h"
#include "map_internal.h"
#include "reclaim.h"
#include "reclaim_inline.h"
#include "tsan.h"

#define GOMAP__GUARDED_INLINE static inline __attribute__((always_inline))

/* The state a lock guards.  Invariants:
 *   - `map` is read under the lock (or optimistically, see shardmap.c) and
 *     written only under it exclusively, with the core map's locked writes
 *     (map_internal.h: the lock, not the writing word, excludes misuse);
 *     the pointer never changes;
 *   - `len` equals gomap_len(map) whenever no writer holds the lock: every
 *     write that changes the count stores it before unlocking.  It is the
 *     only field read without the lock;
 *   - `value_size` is the map's, immutable;
 *   - `key_u64` is gomap__optimistic_u64(map), immutable: optimistic loads
 *     take gomap__get_optimistic_u64. */
struct gomap__guarded {
    gomap *map;
    _Atomic size_t len;
    size_t value_size;
    bool key_u64;
};

/* How a variant finds and takes the lock of a key.  All functions take the
 * variant's own handle as `owner`. */
struct gomap__locking {
    /* The key's hash (the core map's, computed without any lock). */
    uint64_t (*hash)(void *owner, const void *key);
    /* Takes the lock guarding hash's key for a write and returns the state
     * it guards; *token receives what unlock_write needs (the traced
     * acquisition time, or 0). */
    struct gomap__guarded *(*lock_write)(void *owner, uint64_t hash, uint64_t *token);
    void (*unlock_write)(void *owner, struct gomap__guarded *g, uint64_t token);
    /* A load with a known hash: copies the value out and returns whether
     * the key is present, linearizably. */
    bool (*load)(void *owner, const void *key, uint64_t hash, void *value_out);
};

/* ---- optimistic loads: a seqlock over the guarded map ----------------------
 *
 * A map whose loads take no lock (shardmap's shards, rwmap) keeps, beside its
 * lock, a sequence counter that is odd exactly while a writer may be changing
 * the map (changed only under the lock); a load keeps what it read only if
 * the counter was even before and unchanged after (Linux's seqcount; the
 * fences follow Boehm, "Can seqlocks get along with programming language
 * memory models?", 2012).  The map allocates through a gomap__deferred hook,
 * whose frees wait for an RCU grace period, and a load runs inside a
 * read-side section, so it never reads freed memory (map_internal.h,
 * gomap__get_optimistic, says what else makes the racing lookup safe).
 *
 * ThreadSanitizer cannot be told that a failed check discards the racing
 * reads, so TSan builds, and programs running under TSan, load under the lock
 * (GOMAP__OPTIMISTIC_BUILD, and the callers' gomap__optimistic_ok checks). */
#ifdef GOMAP__TSAN
#define GOMAP__OPTIMISTIC_BUILD 0
#else
#define GOMAP__OPTIMISTIC_BUILD 1
#endif

/* Largest value an optimistic load copies (into a stack buffer, since a copy
 * that fails its check must not reach the caller's buffer).  Larger values
 * are loaded under the lock. */
#define GOMAP__OPTIMISTIC_MAX_VALUE 128

/* Attempts before a load takes the lock: each attempt that finds a writer
 * inside (an odd sequence) pauses once.  A writer holds the lock for one map
 * operation, so a few pauses usually outlast it; a load that keeps losing to
 * writers falls back to the lock, which queues it fairly. */
#define GOMAP__OPTIMISTIC_TRIES 8

GOMAP__GUARDED_INLINE void gomap__cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* The writer's half, under the lock (the reader's is map_internal.h's
 * gomap__seq_read_begin/_end).  The odd value is stored before any
 * change to the map: the release fence orders it before the map's stores,
 * pairing with the reader's acquire fence before its second load (a reader
 * that read any of those stores sees seq changed).  The final even value is
 * stored with release, pairing with the reader's first (acquire) load: a
 * reader that starts on it sees the whole write. */
GOMAP__GUARDED_INLINE void gomap__seq_begin_write(_Atomic uint32_t *seq) {
#if GOMAP__OPTIMISTIC_BUILD /* no optimistic reader to tell (and TSan rejects fences) */
    uint32_t q = atomic_load_explicit(seq, memory_order_relaxed);
    atomic_store_explicit(seq, q + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
#else
    (void)seq;
#endif
}

GOMAP__GUARDED_INLINE void gomap__seq_end_write(_Atomic uint32_t *seq) {
#if GOMAP__OPTIMISTIC_BUILD
    uint32_t q = atomic_load_explicit(seq, memory_order_relaxed);
    atomic_store_explicit(seq, q + 1, memory_order_release);
#else
    (void)seq;
#endif
}

/* The racing lookup of an optimistic load (map_internal.h): u64 keys take
 * the specialised walk. */
GOMAP__GUARDED_INLINE const void *gomap__guarded_get_optimistic(const struct gomap__guarded *g,
                                                                const void *key, uint64_t h,
                                                                bool *retry) {
    return g->key_u64 ? gomap__get_optimistic_u64(g->map, key, h, retry)
                      : gomap__get_optimistic(g->map, key, h, retry);
}

/* A load without the lock: 1 present (value copied out), 0 absent, -1
 * undecided (the caller takes the lock).  The reader's half is
 * map_internal.h's gomap__seq_read_begin/_end: the first load of seq is
 * acquire, pairing with gomap__seq_end_write's release; the acquire fence
 * before the second load pairs with gomap__seq_begin_write's release fence.
 * The read-side section keeps every block the lookup may reach allocated
 * (gomap__deferred). */
GOMAP__GUARDED_INLINE int gomap__guarded_load_optimistic(_Atomic uint32_t *seq,
                                                         const struct gomap__guarded *g,
                                                         const void *key, uint64_t h,
                                                         void *value_out) {
#if !GOMAP__OPTIMISTIC_BUILD
    (void)seq, (void)g, (void)key, (void)h, (void)value_out;
    return -1;
#else
    unsigned char buf[GOMAP__OPTIMISTIC_MAX_VALUE];
    size_t vs = value_out ? g->value_size : 0;
    int r = -1;
    gomap__rcu_enter_inline(); /* a third of an in-cache load as a call */
    for (unsigned i = 0; i < GOMAP__OPTIMISTIC_TRIES; i++) {
        uint32_t q = gomap__seq_read_begin(seq);
        if (q & 1) {
            gomap__cpu_relax(); /* a writer is inside */
            continue;
        }
        bool retry;
        const void *v = gomap__guarded_get_optimistic(g, key, h, &retry);
        if (retry)
            break;
        if (v && vs == 8)
            memcpy(buf, v, 8); /* the common size, without a call */
        else if (v && vs)
            memcpy(buf, v, vs); /* may be torn; kept only if seq says not */
        if (gomap__seq_read_end(seq, q)) {
            r = v != NULL;
            break;
        }
    }
    gomap__rcu_exit_inline();
    if (r == 1 && vs == 8)
        memcpy(value_out, buf, 8);
    else if (r == 1 && vs)
        memcpy(value_out, buf, vs);
    return r;
#endif
}

/* One attempt of gomap__guarded_load_optimistic for the common case, a u64
 * key and an 8-byte value read into value_out (not NULL), with the map's u64
 * walk: the same protocol and fences, without the generic copy's size tests,
 * stack buffer and retry loop.  A load the attempt cannot decide (a writer
 * inside, a changed sequence, a long chain) is undecided's, the caller's
 * generic load, which retries and falls back to the lock; it gets the same
 * arguments, the hash among them, so the caller can make this its tail call
 * and keep nothing for the fallback.  At 1M keys a load waits on DRAM for
 * its bucket, and the fewer instructions each load takes, the sooner the
 * next independent load's miss can start behind it (docs/design-family.md
 * has the counts). */
GOMAP__GUARDED_INLINE bool
gomap__guarded_load_optimistic_u64v8(_Atomic uint32_t *seq, const gomap *map, const void *key,
                                     uint64_t h, void *value_out,
                                     gomap__load_undecided_fn undecided) {
#if !GOMAP__OPTIMISTIC_BUILD
    (void)map;
    return undecided(seq, key, h, value_out);
#else
    /* In map.c, where the walk inlines into it: gomap__seq_end_write's
     * release pairs with its first (acquire) load of seq, and
     * gomap__seq_begin_write's release fence with its acquire fence. */
    return gomap__load_seq_u64v8(seq, map, key, h, value_out, undecided);
#endif
}

/* The allocator hook of a map with optimistic loads: the user's allocator
 * (or malloc), with every free deferred past an RCU grace period, so that a
 * reader racing a writer never reads freed memory.  Each block carries a
 * 32-byte header (the reclaimer's link, its size, the owner), which keeps
 * malloc's 16-byte alignment.  `reclaim` counts the blocks still queued;
 * it is written by every deferred free, so it sits a line away from the
 * owner's read-mostly fields.  `slab` and `batch` are the creating thread's
 * alone, between gomap__deferred_batch_begin and _end (guarded.c). */
struct gomap__deferred {
    gomap_allocator hook;        /* what the map is created with */
    const gomap_allocator *user; /* where blocks come from and go to */
    struct gomap__deferred_slab *slab;
    size_t batch;
    char pad_[64];
    struct gomap__reclaim reclaim;
};

/* Sets d up over the user's allocator (NULL: malloc). */
void gomap__deferred_init(struct gomap__deferred *d, const gomap_allocator *user);

/* Between these two calls, made by the thread that creates `count` maps
 * over d before any other thread sees them (shardmap_new), the maps' first
 * bucket arrays (equal requests, `count` of them) are carved from one
 * allocation when together they fill at least 4 MiB: one block that huge
 * pages can back, where `count` separate arrays each below 2 MiB could not
 * be (guarded.c says why that matters).  The allocation is freed when the
 * last array carved from it is (past its grace period). */
void gomap__deferred_batch_begin(struct gomap__deferred *d, size_t count);
void gomap__deferred_batch_end(struct gomap__deferred *d);

/* Waits until every block freed through d has been freed for good (after the
 * maps using d are freed, before d's memory goes). */
void gomap__deferred_drain(struct gomap__deferred *d, const char *who);

/* Publishes the count before the writer unlocks.  Relaxed: len is a
 * standalone number, nothing is read through it. */
GOMAP__GUARDED_INLINE void gomap__guarded_publish_len(struct gomap__guarded *g) {
    atomic_store_explicit(&g->len, gomap_len(g->map), memory_order_relaxed);
}

/* A lookup under a lock the caller holds (shared suffices). */
GOMAP__GUARDED_INLINE bool gomap__guarded_get(struct gomap__guarded *g, const void *key, uint64_t h,
                                              void *value_out) {
    const void *v = gomap__get_hashed(g->map, key, h);
    if (v)
        gomap__copy_out(value_out, v, g->value_size);
    return v != NULL;
}

/* The batched loads' last step (rwmap_load_many, shardmap_load_many): for
 * each of the n keys whose lookup gave v[j], at position pos[j] of the
 * caller's arrays (pos NULL: j itself), copies the value to values_out (when
 * not NULL) and marks found_out (when not NULL).  Returns how many were
 * found. */
GOMAP__GUARDED_INLINE size_t gomap__guarded_many_out(const struct gomap__guarded *g, void *const *v,
                                                     const size_t *pos, size_t n, void *values_out,
                                                     bool *found_out) {
    size_t found = 0;
    for (size_t j = 0; j < n; j++) {
        if (!v[j])
            continue;
        size_t at = pos ? pos[j] : j;
        if (values_out)
            gomap__copy_out((char *)values_out + at * g->value_size, v[j], g->value_size);
        if (found_out)
            found_out[at] = true;
        found++;
    }
    return found;
}

/* Finds or inserts the key under the write lock (held by the caller). */
GOMAP__GUARDED_INLINE int gomap__guarded_upsert(struct gomap__guarded *g, const void *key,
                                                uint64_t h, void **slot, bool *inserted) {
    int err = gomap__upsert_locked(g->map, key, h, slot, inserted);
    if (!err && *inserted)
        gomap__guarded_publish_len(g);
    return err;
}

GOMAP__GUARDED_INLINE int gomap__guarded_store(const struct gomap__locking *L, void *owner,
                                               const void *key, const void *value) {
    uint64_t h = L->hash(owner, key), t;
    struct gomap__guarded *g = L->lock_write(owner, h, &t);
    void *slot;
    bool inserted;
    int err = gomap__guarded_upsert(g, key, h, &slot, &inserted);
    if (!err && value && g->value_size == 8)
        memcpy(slot, value, 8); /* the common size, without a call */
    else if (!err)
        gomap__copy_in(slot, value, g->value_size);
    L->unlock_write(owner, g, t);
    return err;
}

GOMAP__GUARDED_INLINE int gomap__guarded_load_or_store(const struct gomap__locking *L, void *owner,
                                                       const void *key, const void *value,
                                                       void *actual_out, bool *loaded) {
    uint64_t h = L->hash(owner, key), t;
    /* A hit is a read: answered without the write lock, as sync.Map answers
     * LoadOrStore of a present key from its read map.  The write path below
     * looks again, so a key stored meanwhile is loaded, not overwritten. */
    if (L->load(owner, key, h, actual_out)) {
        if (loaded)
            *loaded = true;
        return 0;
    }
    struct gomap__guarded *g = L->lock_write(owner, h, &t);
    void *slot;
    bool inserted;
    int err = gomap__guarded_upsert(g, key, h, &slot, &inserted);
    if (!err) {
        if (inserted)
            gomap__copy_in(slot, value, g->value_size);
        gomap__copy_out(actual_out, slot, g->value_size);
        if (loaded)
            *loaded = !inserted;
    }
    L->unlock_write(owner, g, t);
    return err;
}

GOMAP__GUARDED_INLINE bool gomap__guarded_load_and_delete(const struct gomap__locking *L,
                                                          void *owner, const void *key,
                                                          void *value_out) {
    uint64_t h = L->hash(owner, key), t;
    struct gomap__guarded *g = L->lock_write(owner, h, &t);
    bool found = gomap__guarded_get(g, key, h, value_out);
    if (found) {
        gomap__delete_hashed_locked(g->map, key, h);
        gomap__guarded_publish_len(g);
    }
    L->unlock_write(owner, g, t);
    return found;
}

GOMAP__GUARDED_INLINE void gomap__guarded_delete(const struct gomap__locking *L, void *owner,
                                                 const void *key) {
    uint64_t h = L->hash(owner, key), t;
    struct gomap__guarded *g = L->lock_write(owner, h, &t);
    if (gomap__delete_hashed_locked(g->map, key, h))
        gomap__guarded_publish_len(g);
    L->unlock_write(owner, g, t);
}

GOMAP__GUARDED_INLINE int gomap__guarded_swap(const struct gomap__locking *L, void *owner,
                                              const void *key, const void *value,
                                              void *previous_out, bool *loaded) {
    uint64_t h = L->hash(owner, key), t;
    struct gomap__guarded *g = L->lock_write(owner, h, &t);
    void *slot;
    bool inserted;
    int err = gomap__guarded_upsert(g, key, h, &slot, &inserted);
    if (!err) {
        if (!inserted)
            gomap__copy_out(previous_out, slot, g->value_size);
        gomap__copy_in(slot, value, g->value_size);
        if (loaded)
            *loaded = !inserted;
    }
    L->unlock_write(owner, g, t);
    return err;
}

GOMAP__GUARDED_INLINE int gomap__guarded_compare_and_swap(const struct gomap__locking *L,
                                                          void *owner, const void *key,
                                                          const void *old_value,
                                                          const void *new_value, bool *swapped) {
    uint64_t h = L->hash(owner, key), t;
    struct gomap__guarded *g = L->lock_write(owner, h, &t);
    void *slot = gomap__get_hashed(g->map, key, h);
    bool ok = slot && gomap__value_equal(slot, old_value, g->value_size);
    if (ok)
        gomap__copy_in(slot, new_value, g->value_size);
    L->unlock_write(owner, g, t);
    if (swapped)
        *swapped = ok;
    return 0;
}

GOMAP__GUARDED_INLINE bool gomap__guarded_compare_and_delete(const struct gomap__locking *L,
                                                             void *owner, const void *key,
                                                             const void *old_value) {
    uint64_t h = L->hash(owner, key), t;
    struct gomap__guarded *g = L->lock_write(owner, h, &t);
    const void *slot = gomap__get_hashed(g->map, key, h);
    bool ok = slot && gomap__value_equal(slot, old_value, g->value_size);
    if (ok) {
        gomap__delete_hashed_locked(g->map, key, h);
        gomap__guarded_publish_len(g);
    }
    L->unlock_write(owner, g, t);
    return ok;
}

/* concmap_compute: fn runs once under the key's write lock (compute.h). */
GOMAP__GUARDED_INLINE int gomap__guarded_compute(const struct gomap__locking *L, void *owner,
                                                 const void *key, concmap_compute_fn fn,
                                                 void *ctx) {
    if (!fn)
        return EINVAL;
    uint64_t h = L->hash(owner, key), t;
    struct gomap__guarded *g = L->lock_write(owner, h, &t);
    bool len_changed;
    int err = gomap__compute_locked(g->map, key, h, g->value_size, fn, ctx, &len_changed);
    if (len_changed)
        gomap__guarded_publish_len(g);
    L->unlock_write(owner, g, t);
    return err;
}

/* The public functions of a variant PREFIX (PREFIX_store ... PREFIX_
 * compare_and_delete, PREFIX_compute) over its locking table L, each one
 * line; PREFIX_load is the variant's own.  A variant with a store of its
 * own (shardmap.c) takes GOMAP__DEFINE_GUARDED_WRITES_BUT_STORE. */
#define GOMAP__DEFINE_GUARDED_WRITES(PREFIX, TYPE, L)                                              \
    int PREFIX##_store(TYPE *m, const void *key, const void *value) {                              \
        return gomap__guarded_store(&L, m, key, value);                                            \
    }                                                                                              \
    GOMAP__DEFINE_GUARDED_WRITES_BUT_STORE(PREFIX, TYPE, L)

#define GOMAP__DEFINE_GUARDED_WRITES_BUT_STORE(PREFIX, TYPE, L)                                    \
    int PREFIX##_load_or_store(TYPE *m, const void *key, const void *value, void *actual_out,      \
                               bool *loaded) {                                                     \
        return gomap__guarded_load_or_store(&L, m, key, value, actual_out, loaded);                \
    }                                                                                              \
    bool PREFIX##_load_and_delete(TYPE *m, const void *key, void *value_out) {                     \
        return gomap__guarded_load_and_delete(&L, m, key, value_out);                              \
    }                                                                                              \
    void PREFIX##_delete(TYPE *m, const void *key) {                                               \
        gomap__guarded_delete(&L, m, key);                                                         \
    }                                                                                              \
    int PREFIX##_swap(TYPE *m, const void *key, const void *value, void *previous_out,             \
                      bool *loaded) {                                                              \
        return gomap__guarded_swap(&L, m, key, value, previous_out, loaded);                       \
    }                                                                                              \
    int PREFIX##_compare_and_swap(TYPE *m, const void *key, const void *old_value,                 \
                                  const void *new_value, bool *swapped) {                          \
        return gomap__guarded_compare_and_swap(&L, m, key, old_value, new_value, swapped);         \
    }                                                                                              \
    bool PREFIX##_compare_and_delete(TYPE *m, const void *key, const void *old_value) {            \
        return gomap__guarded_compare_and_delete(&L, m, key, old_value);                           \
    }                                                                                              \
    int PREFIX##_compute(TYPE *m, const void *key, concmap_compute_fn fn, void *ctx) {             \
        return gomap__guarded_compute(&L, m, key, fn, ctx);                                        \
    }

#endif /* GOMAP_GUARDED_H */
