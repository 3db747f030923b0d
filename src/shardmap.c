/*
 * shardmap.c — 2^k core maps, each behind its own lock, picked by hash bits
 * the maps do not use.  The contract is in include/gomap/shardmap.h.
 */
#include <gomap/shardmap.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "concmap_impl.h"
#include "locked.h"
#include "map_internal.h"

/*
 * The shard lock.  Three candidates, selected at compile time
 * (-DGOMAP_SHARD_LOCK=n) so that one measuring program can compare them:
 *   SHARD_LOCK_MUTEX  pthread_mutex_t: futex-based, sleeps when contended.
 *   SHARD_LOCK_RW     pthread_rwlock_t: readers share, but every reader
 *                     writes the lock's reader count (one contended line).
 *   SHARD_LOCK_SPIN   test-and-test-and-set with pause, yielding after a
 *                     while: cheapest uncontended, but a preempted holder
 *                     makes waiters burn their time slice.
 * Measured (2-core machine shared with ~15 other runnable threads, so only
 * CPU time per operation means anything: best of 5 runs of 0.5 s, u64 keys,
 * uniform, 8 shards; cpu-ns/op, mutex / rwlock / spin):
 *   1024 keys (in cache, the lock's cost shows)
 *     read100 1 thread  20.4 / 21.4 / 17.3    2 threads  20.5 / 22.4 / 19.2
 *     read90  1 thread  23.6 / 25.4 / 19.4    2 threads  21.1 / 31.7 / 21.6
 *   1M keys: 210-400 for all three, dominated by the DRAM miss; no
 *   difference above the noise.
 * The rwlock is slowest, most under read90 with two threads (its shared
 * reader count bounces between cores, FIELD.md's point); the spin lock is
 * 2-4 ns ahead when uncontended and within noise at two threads, and it is
 * the one that degrades when the machine is oversubscribed, as this one is.
 * So: the mutex.
 */
#define SHARD_LOCK_MUTEX 1
#define SHARD_LOCK_RW    2
#define SHARD_LOCK_SPIN  3
#ifndef GOMAP_SHARD_LOCK
#define GOMAP_SHARD_LOCK SHARD_LOCK_MUTEX
#endif

#if GOMAP_SHARD_LOCK == SHARD_LOCK_MUTEX
typedef pthread_mutex_t shard_lock;
#define SHARED_READS 0
#elif GOMAP_SHARD_LOCK == SHARD_LOCK_RW
typedef pthread_rwlock_t shard_lock;
#define SHARED_READS 1
#elif GOMAP_SHARD_LOCK == SHARD_LOCK_SPIN
typedef _Atomic int shard_lock;
#define SHARED_READS 0
#else
#error "GOMAP_SHARD_LOCK must be 1 (mutex), 2 (rwlock) or 3 (spin)"
#endif

/*
 * One shard.  Invariants:
 *   - `map` is read and written only under `lock` (shared mode suffices for
 *     reads when the lock has one); the pointer itself never changes.
 *   - `len` equals gomap_len(map) whenever the lock is free: every write
 *     stores it before unlocking.  It is the only field read without the lock.
 *   - A key lives in shard (hash >> shift) & mask for the map's whole life:
 *     all shards share one seed, so the hash never changes.
 * Aligned to a cache line so that two shards never share one (false sharing
 * between a hot shard's lock and its neighbour's would serialize them).
 */
struct shard {
    _Alignas(64) shard_lock lock;
    gomap *map;
    _Atomic size_t len;
};

/* Every field is written once, at creation, and only read afterwards, so
 * this struct's cache line stays shared by all cores. */
struct shardmap {
    struct shard *shards; /* 2^bits of them, inside `raw` */
    gomap *hasher;        /* an empty map with the shards' seed, never written:
                             hashing through it reads no line that a shard's
                             writers write (a shard map's header holds its
                             count and flags next to its seed) */
    void *raw;            /* the allocation holding the shards (for alignment) */
    size_t raw_size;
    unsigned bits;
    unsigned shift; /* hash >> shift, masked, is the shard index */
    size_t mask;
    gomap_config cfg; /* immutable after creation */
};

static const char SHARD_NAME[] = "shard";

/* ---- the lock ------------------------------------------------------------- */

static void lock_init(shard_lock *l) {
#if GOMAP_SHARD_LOCK == SHARD_LOCK_MUTEX
    pthread_mutex_init(l, NULL);
#elif GOMAP_SHARD_LOCK == SHARD_LOCK_RW
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(l, &attr);
    pthread_rwlockattr_destroy(&attr);
#else
    atomic_init(l, 0);
#endif
}

static void lock_destroy(shard_lock *l) {
#if GOMAP_SHARD_LOCK == SHARD_LOCK_MUTEX
    pthread_mutex_destroy(l);
#elif GOMAP_SHARD_LOCK == SHARD_LOCK_RW
    pthread_rwlock_destroy(l);
#else
    (void)l;
#endif
}

#if GOMAP_SHARD_LOCK != SHARD_LOCK_SPIN
static void check(int err, const char *what) {
    if (err)
        gomap__locked_internal_error(what, err);
}
#endif

static void acquire_exclusive(void *arg) {
    shard_lock *l = arg;
#if GOMAP_SHARD_LOCK == SHARD_LOCK_MUTEX
    check(pthread_mutex_lock(l), "shardmap: pthread_mutex_lock failed");
#elif GOMAP_SHARD_LOCK == SHARD_LOCK_RW
    check(pthread_rwlock_wrlock(l), "shardmap: pthread_rwlock_wrlock failed");
#else
    /* Acquire pairs with the release in release(): the holder's writes to
     * the shard are visible to the next holder. */
    unsigned spins = 0;
    while (atomic_exchange_explicit(l, 1, memory_order_acquire)) {
        while (atomic_load_explicit(l, memory_order_relaxed)) {
            if (++spins > 64)
                sched_yield(); /* the holder may be preempted */
#if defined(__x86_64__) || defined(__i386__)
            else
                __builtin_ia32_pause();
#endif
        }
    }
#endif
}

static void acquire_shared(void *arg) {
#if SHARED_READS
    check(pthread_rwlock_rdlock(arg), "shardmap: pthread_rwlock_rdlock failed");
#else
    acquire_exclusive(arg);
#endif
}

static void release(void *arg) {
    shard_lock *l = arg;
#if GOMAP_SHARD_LOCK == SHARD_LOCK_MUTEX
    check(pthread_mutex_unlock(l), "shardmap: pthread_mutex_unlock failed");
#elif GOMAP_SHARD_LOCK == SHARD_LOCK_RW
    check(pthread_rwlock_unlock(l), "shardmap: pthread_rwlock_unlock failed");
#else
    atomic_store_explicit(l, 0, memory_order_release);
#endif
}

/* Takes a shard's lock; returns the traced acquisition time, or 0 without
 * reading the clock when no tracer is attached. */
static inline uint64_t lock_shard(shardmap *m, struct shard *s, int exclusive) {
    void (*acquire)(void *) = exclusive ? acquire_exclusive : acquire_shared;
    if (!GOMAP__LOCK_TRACED()) {
        acquire(&s->lock);
        return 0;
    }
    return gomap__lock_acquire_traced(m, SHARD_NAME, exclusive || !SHARED_READS, acquire, &s->lock);
}

static inline void unlock_shard(shardmap *m, struct shard *s, uint64_t t, int exclusive) {
    if (t)
        gomap__lock_release_traced(m, SHARD_NAME, exclusive || !SHARED_READS, t);
    release(&s->lock);
}

/* Relaxed: len is a standalone number; nothing is read through it. */
static inline void publish_len(struct shard *s) {
    atomic_store_explicit(&s->len, gomap_len(s->map), memory_order_relaxed);
}

/* ---- shard choice --------------------------------------------------------- */

/* Hashes once; the shard's map gets the same hash (all shards share the
 * seed, so any shard's map computes it). */
static inline struct shard *pick(shardmap *m, const void *key, uint64_t *h) {
    *h = gomap__hash(m->hasher, key);
    return &m->shards[(size_t)(*h >> m->shift) & m->mask];
}

static unsigned default_bits(void) {
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (ncpu < 1)
        ncpu = 1;
    unsigned bits = 0;
    while (bits < SHARDMAP_DEFAULT_MAX_BITS && ((size_t)1 << bits) < (size_t)ncpu * 4)
        bits++;
    return bits;
}

/* ---- life cycle ----------------------------------------------------------- */

static void destroy(shardmap *m, size_t made) {
    gomap_free(m->hasher);
    for (size_t i = 0; i < made; i++) {
        lock_destroy(&m->shards[i].lock);
        gomap_free(m->shards[i].map);
    }
    gomap__locked_free(m->cfg.allocator, m->raw, m->raw_size);
    gomap__locked_free(m->cfg.allocator, m, sizeof *m);
}

int shardmap_new(shardmap **out, const gomap_config *cfg, unsigned shard_bits) {
    if (!out)
        return EINVAL;
    *out = NULL;
    if (gomap__config_check(cfg) != 0 || shard_bits > SHARDMAP_MAX_BITS)
        return EINVAL;
    unsigned bits = shard_bits ? shard_bits : default_bits();
    size_t n = (size_t)1 << bits;
    shardmap *m = gomap__locked_alloc(cfg->allocator, sizeof *m);
    if (!m)
        return ENOMEM;
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    m->bits = bits;
    /* Bits 56-k .. 55: the map uses the top 8 (tophash) and the low B; see
     * gomap__map_hash_bits.  With k = 0 the mask is 0 and the shift unused. */
    m->shift = 56 - (bits ? bits : 1);
    m->mask = n - 1;
    m->raw_size = n * sizeof(struct shard) + 63;
    m->raw = gomap__locked_alloc(cfg->allocator, m->raw_size);
    if (!m->raw) {
        gomap__locked_free(cfg->allocator, m, sizeof *m);
        return ENOMEM;
    }
    m->shards = (struct shard *)(((uintptr_t)m->raw + 63) & ~(uintptr_t)63);
    memset(m->shards, 0, n * sizeof(struct shard));

    gomap_config scfg = *cfg;
    size_t per = cfg->hint >> bits;
    scfg.hint = per ? per + per / 8 + 8 : cfg->hint ? 8 : 0; /* room for uneven shards */
    uint64_t seed = gomap__random64();
    gomap_config hcfg = *cfg;
    hcfg.hint = 0;
    for (size_t i = 0; i < n; i++) {
        int err = gomap__new_seeded(&m->shards[i].map, &scfg, seed);
        if (err) {
            destroy(m, i);
            return err;
        }
        lock_init(&m->shards[i].lock);
        atomic_init(&m->shards[i].len, 0);
    }
    int err = gomap__new_seeded(&m->hasher, &hcfg, seed);
    if (err) {
        destroy(m, n);
        return err;
    }
    *out = m;
    return 0;
}

void shardmap_free(shardmap *m) {
    if (m)
        destroy(m, m->mask + 1);
}

size_t shardmap_shards(const shardmap *m) {
    return m->mask + 1;
}

/* ---- single-key operations ------------------------------------------------ */

bool shardmap_load(shardmap *m, const void *key, void *value_out) {
    uint64_t h;
    struct shard *s = pick(m, key, &h);
    uint64_t t = lock_shard(m, s, 0);
    const void *v = gomap__get_hashed(s->map, key, h);
    if (v)
        gomap__copy_out(value_out, v, m->cfg.value_size);
    unlock_shard(m, s, t, 0);
    return v != NULL;
}

static int upsert(struct shard *s, const void *key, uint64_t h, void **slot, bool *inserted) {
    int err = gomap__upsert(s->map, key, h, slot, inserted);
    if (!err && *inserted)
        publish_len(s);
    return err;
}

int shardmap_store(shardmap *m, const void *key, const void *value) {
    uint64_t h;
    struct shard *s = pick(m, key, &h);
    uint64_t t = lock_shard(m, s, 1);
    void *slot;
    bool inserted;
    int err = upsert(s, key, h, &slot, &inserted);
    if (!err)
        gomap__copy_in(slot, value, m->cfg.value_size);
    unlock_shard(m, s, t, 1);
    return err;
}

int shardmap_load_or_store(shardmap *m, const void *key, const void *value, void *actual_out,
                           bool *loaded) {
    uint64_t h;
    struct shard *s = pick(m, key, &h);
    uint64_t t = lock_shard(m, s, 1);
    void *slot;
    bool inserted;
    int err = upsert(s, key, h, &slot, &inserted);
    if (!err) {
        if (inserted)
            gomap__copy_in(slot, value, m->cfg.value_size);
        gomap__copy_out(actual_out, slot, m->cfg.value_size);
        if (loaded)
            *loaded = !inserted;
    }
    unlock_shard(m, s, t, 1);
    return err;
}

bool shardmap_load_and_delete(shardmap *m, const void *key, void *value_out) {
    uint64_t h;
    struct shard *s = pick(m, key, &h);
    uint64_t t = lock_shard(m, s, 1);
    const void *v = gomap__get_hashed(s->map, key, h);
    if (v) {
        gomap__copy_out(value_out, v, m->cfg.value_size);
        gomap__delete_hashed(s->map, key, h);
        publish_len(s);
    }
    unlock_shard(m, s, t, 1);
    return v != NULL;
}

void shardmap_delete(shardmap *m, const void *key) {
    uint64_t h;
    struct shard *s = pick(m, key, &h);
    uint64_t t = lock_shard(m, s, 1);
    if (gomap__delete_hashed(s->map, key, h))
        publish_len(s);
    unlock_shard(m, s, t, 1);
}

int shardmap_swap(shardmap *m, const void *key, const void *value, void *previous_out,
                  bool *loaded) {
    uint64_t h;
    struct shard *s = pick(m, key, &h);
    uint64_t t = lock_shard(m, s, 1);
    void *slot;
    bool inserted;
    int err = upsert(s, key, h, &slot, &inserted);
    if (!err) {
        if (!inserted)
            gomap__copy_out(previous_out, slot, m->cfg.value_size);
        gomap__copy_in(slot, value, m->cfg.value_size);
        if (loaded)
            *loaded = !inserted;
    }
    unlock_shard(m, s, t, 1);
    return err;
}

int shardmap_compare_and_swap(shardmap *m, const void *key, const void *old_value,
                              const void *new_value, bool *swapped) {
    uint64_t h;
    struct shard *s = pick(m, key, &h);
    uint64_t t = lock_shard(m, s, 1);
    void *slot = gomap__get_hashed(s->map, key, h);
    bool ok = slot && gomap__value_equal(slot, old_value, m->cfg.value_size);
    if (ok)
        gomap__copy_in(slot, new_value, m->cfg.value_size);
    unlock_shard(m, s, t, 1);
    if (swapped)
        *swapped = ok;
    return 0;
}

bool shardmap_compare_and_delete(shardmap *m, const void *key, const void *old_value) {
    uint64_t h;
    struct shard *s = pick(m, key, &h);
    uint64_t t = lock_shard(m, s, 1);
    const void *slot = gomap__get_hashed(s->map, key, h);
    bool ok = slot && gomap__value_equal(slot, old_value, m->cfg.value_size);
    if (ok) {
        gomap__delete_hashed(s->map, key, h);
        publish_len(s);
    }
    unlock_shard(m, s, t, 1);
    return ok;
}

/* ---- whole-map operations ------------------------------------------------- */

struct range_arg {
    shardmap *m;
    struct shard *s;
};

static void range_lock(void *arg) {
    struct range_arg *a = arg;
    if (GOMAP__LOCK_TRACED()) /* waits only; a hold would span fn in the fallback */
        (void)gomap__lock_acquire_traced(a->m, SHARD_NAME, !SHARED_READS, acquire_shared,
                                         &a->s->lock);
    else
        acquire_shared(&a->s->lock);
}

static void range_unlock(void *arg) {
    release(&((struct range_arg *)arg)->s->lock);
}

void shardmap_range(shardmap *m, concmap_range_fn fn, void *ctx) {
    struct gomap__snapshot snap; /* one buffer, reused shard after shard */
    gomap__snapshot_init(&snap, &m->cfg);
    size_t start = (size_t)gomap__random64() & m->mask; /* random order, as Go's */
    for (size_t i = 0; i <= m->mask; i++) {
        struct range_arg a = {m, &m->shards[(start + i) & m->mask]};
        struct gomap__range_lock lk = {range_lock, range_unlock, &a};
        if (!gomap__locked_range(&snap, a.s->map, &lk, fn, ctx))
            break;
    }
    gomap__snapshot_destroy(&snap);
}

void shardmap_clear(shardmap *m) {
    for (size_t i = 0; i <= m->mask; i++) {
        struct shard *s = &m->shards[i];
        uint64_t t = lock_shard(m, s, 1);
        gomap_clear(s->map);
        publish_len(s);
        unlock_shard(m, s, t, 1);
    }
}

size_t shardmap_len(shardmap *m) {
    size_t n = 0;
    for (size_t i = 0; i <= m->mask; i++)
        n += atomic_load_explicit(&m->shards[i].len, memory_order_relaxed);
    return n;
}

/* ---- the concmap face ----------------------------------------------------- */

static int ops_create(void **out, const gomap_config *cfg, const concmap_options *opts) {
    return shardmap_new((shardmap **)out, cfg, opts ? opts->shard_bits : 0);
}
GOMAP__DEFINE_CONCMAP_OPS(gomap_shardmap_ops, SHARD_NAME, shardmap, shardmap, ops_create);
