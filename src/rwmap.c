/*
 * rwmap.c — a core map behind one reader-writer lock (Go's map + RWMutex).
 * The contract is in include/gomap/rwmap.h.
 */
#include <gomap/rwmap.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "concmap_impl.h"
#include "family.h"
#include "guarded.h"
#include "lock_trace.h"
#include "map_internal.h"
#include "rwspin.h"
#include "snapshot.h"

/*
 * Invariants:
 *   - `lock` guards `g` (guarded.h states what it guards and how): written
 *     under the exclusive lock; read under the shared one (range, load_many,
 *     a load that falls back) or optimistically (below); the map's seed
 *     never changes, so a key is hashed before the lock is taken.
 *   - `seq` is odd exactly while a writer may be changing g.map (changed
 *     only under the exclusive lock): with `optimistic`, a load reads the
 *     map without the lock and keeps the result only if seq was even and
 *     unchanged (gomap__guarded_load_optimistic), and the map allocates
 *     through `deferred`, so what such a load reads is never freed under it.
 *   - `cfg` and `optimistic` are set at creation, immutable: the allocator
 *     hook is read from cfg without the lock.
 */
struct rwmap {
    struct gomap__rwspin lock; /* see rwspin.h for why not pthread_rwlock */
    _Atomic uint32_t seq;
    bool optimistic;
    struct gomap__guarded g;
    gomap_config cfg;
    struct gomap__deferred deferred; /* its counter a line away from the above */
};

#define RW_NAME GOMAP__VARIANT_NAME(RW)

/* ---- locking -------------------------------------------------------------- */

static void acquire_shared(void *l) {
    gomap__rwspin_read_lock(l);
}

static void acquire_exclusive(void *l) {
    gomap__rwspin_write_lock(l);
}

/* Takes the lock; returns the traced acquisition time or 0 (untraced: no
 * clock read at all). */
static inline uint64_t lock_shared(rwmap *m) {
    if (!GOMAP__LOCK_TRACED()) {
        acquire_shared(&m->lock);
        return 0;
    }
    return gomap__lock_acquire_traced(m, RW_NAME, 0, acquire_shared, &m->lock);
}

static inline uint64_t lock_exclusive(rwmap *m) {
    if (!GOMAP__LOCK_TRACED()) {
        acquire_exclusive(&m->lock);
        return 0;
    }
    return gomap__lock_acquire_traced(m, RW_NAME, 1, acquire_exclusive, &m->lock);
}

static inline void unlock(rwmap *m, uint64_t t, int exclusive) {
    if (t)
        gomap__lock_release_traced(m, RW_NAME, exclusive, t);
    if (exclusive)
        gomap__rwspin_write_unlock(&m->lock);
    else
        gomap__rwspin_read_unlock(&m->lock);
}

/* ---- life cycle ----------------------------------------------------------- */

int rwmap_new(rwmap **out, const gomap_config *cfg) {
    if (!out)
        return EINVAL;
    *out = NULL;
    if (gomap__config_check(cfg) != 0)
        return EINVAL;
    rwmap *m = gomap__family_alloc(cfg->allocator, sizeof *m);
    if (!m)
        return ENOMEM;
    memset(m, 0, sizeof *m);
    gomap__deferred_init(&m->deferred, cfg->allocator);
    /* Whether loads may go without the lock is the core map's to say (key
     * kinds compared by their bytes, the built-in hash): asked of an empty
     * map of the same config, before the real one picks its allocator. */
    gomap_config pcfg = *cfg;
    pcfg.hint = 0;
    gomap *probe;
    int err = gomap_new(&probe, &pcfg);
    if (err) {
        gomap__family_free(cfg->allocator, m, sizeof *m);
        return err;
    }
    m->optimistic = GOMAP__OPTIMISTIC_BUILD && !GOMAP__TSAN_RUNNING() &&
                    gomap__optimistic_ok(probe) && cfg->value_size <= GOMAP__OPTIMISTIC_MAX_VALUE;
    gomap_free(probe);
    gomap_config mcfg = *cfg;
    if (m->optimistic)
        mcfg.allocator = &m->deferred.hook;
    err = gomap_new(&m->g.map, &mcfg);
    if (err) {
        gomap__family_free(cfg->allocator, m, sizeof *m);
        return err;
    }
    /* Writer-preferring, as Go's RWMutex: a waiting writer holds back new
     * readers, so readers cannot starve it (docs/design-family.md has the
     * measurement that chose it). */
    atomic_init(&m->lock.state, 0);
    atomic_init(&m->seq, 0);
    m->g.value_size = cfg->value_size;
    m->g.key_u64 = gomap__optimistic_u64(m->g.map);
    m->cfg = *cfg;
    atomic_init(&m->g.len, gomap_len(m->g.map));
    *out = m;
    return 0;
}

void rwmap_free(rwmap *m) {
    if (!m)
        return;
    gomap__range_free_check(m, "rwmap_free");
    gomap_free(m->g.map);
    gomap__deferred_drain(&m->deferred, "rwmap_free"); /* its frees use m->deferred */
    gomap__family_free(m->cfg.allocator, m, sizeof *m);
}

/* ---- single-key operations ------------------------------------------------ */

GOMAP__GUARDED_INLINE uint64_t rw_hash(void *owner, const void *key) {
    return gomap__hash(((rwmap *)owner)->g.map, key);
}

GOMAP__GUARDED_INLINE struct gomap__guarded *rw_lock_write(void *owner, uint64_t h, uint64_t *t) {
    rwmap *m = owner;
    gomap__prefetch(m->g.map, h); /* the misses overlap the lock's atomics */
    *t = lock_exclusive(m);
    gomap__seq_begin_write(&m->seq);
    return &m->g;
}

GOMAP__GUARDED_INLINE void rw_unlock_write(void *owner, struct gomap__guarded *g, uint64_t t) {
    (void)g;
    rwmap *m = owner;
    gomap__seq_end_write(&m->seq);
    unlock(m, t, 1);
}

GOMAP__GUARDED_INLINE bool rw_load(void *owner, const void *key, uint64_t h, void *value_out) {
    rwmap *m = owner;
    if (m->optimistic) {
        int r = gomap__guarded_load_optimistic(&m->seq, &m->g, key, h, value_out);
        if (r >= 0)
            return r;
    }
    gomap__prefetch(m->g.map, h);
    uint64_t t = lock_shared(m);
    bool found = gomap__guarded_get(&m->g, key, h, value_out);
    unlock(m, t, 0);
    return found;
}

static const struct gomap__locking RW_LOCKING = {rw_hash, rw_lock_write, rw_unlock_write, rw_load};

bool rwmap_load(rwmap *m, const void *key, void *value_out) {
    return rw_load(m, key, rw_hash(m, key), value_out);
}

GOMAP__DEFINE_GUARDED_WRITES(rwmap, rwmap, RW_LOCKING)

/* ---- whole-map operations ------------------------------------------------- */

static void range_lock(void *arg) {
    rwmap *m = arg;
    if (GOMAP__LOCK_TRACED()) /* waits only; a hold spans fn in the fallback */
        (void)gomap__lock_acquire_traced(m, RW_NAME, 0, acquire_shared, &m->lock);
    else
        acquire_shared(&m->lock);
}

static void range_unlock(void *arg) {
    gomap__rwspin_read_unlock(&((rwmap *)arg)->lock);
}

void rwmap_range(rwmap *m, concmap_range_fn fn, void *ctx) {
    /* Each call has its own snapshot, so concurrent ranges never share one. */
    struct gomap__snapshot s;
    gomap__snapshot_init(&s, &m->cfg);
    struct gomap__range_lock lk = {range_lock, range_unlock, m};
    struct gomap__range_frame frame;
    gomap__range_enter(&frame, m);
    gomap__snapshot_range(&s, m->g.map, &lk, fn, ctx);
    gomap__range_leave(&frame);
    gomap__snapshot_destroy(&s);
}

void rwmap_clear(rwmap *m) {
    uint64_t t = lock_exclusive(m);
    gomap__seq_begin_write(&m->seq);
    gomap_clear(m->g.map);
    gomap__guarded_publish_len(&m->g);
    gomap__seq_end_write(&m->seq);
    unlock(m, t, 1);
}

size_t rwmap_len(rwmap *m) {
    return atomic_load_explicit(&m->g.len, memory_order_relaxed);
}

/* ---- the concmap face ----------------------------------------------------- */

static int ops_create(void **out, const gomap_config *cfg, const concmap_options *opts) {
    (void)opts;
    return rwmap_new((rwmap **)out, cfg);
}
GOMAP__DEFINE_CONCMAP_OPS(gomap_rwmap_ops, rwmap, rwmap, ops_create, NULL, false);

/* ---- batched loads ---------------------------------------------------------- */

size_t rwmap_load_many(rwmap *m, const void *keys, size_t n, void *values_out, bool *found_out) {
    if (found_out && n)
        memset(found_out, 0, n * sizeof *found_out);
    if (m == NULL || keys == NULL)
        return 0;
    size_t stride = gomap__key_arg_size(m->g.map);
    size_t found = 0;
    for (size_t base = 0; base < n; base += GOMAP__LOAD_MANY_GROUP) {
        size_t g = n - base < GOMAP__LOAD_MANY_GROUP ? n - base : GOMAP__LOAD_MANY_GROUP;
        const void *kp[GOMAP__LOAD_MANY_GROUP];
        uint64_t h[GOMAP__LOAD_MANY_GROUP];
        void *v[GOMAP__LOAD_MANY_GROUP];
        /* Hashed before the lock, so a user hash function never runs under it. */
        for (size_t j = 0; j < g; j++) {
            kp[j] = (const char *)keys + (base + j) * stride;
            h[j] = gomap__hash(m->g.map, kp[j]);
        }
        uint64_t t = lock_shared(m);
        (void)gomap__get_many_hashed(m->g.map, kp, h, g, v);
        found += gomap__guarded_many_out(
            &m->g, v, NULL, g, values_out ? (char *)values_out + base * m->g.value_size : NULL,
            found_out ? found_out + base : NULL);
        unlock(m, t, 0);
    }
    return found;
}
