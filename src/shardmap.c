/*
 * shardmap.c — 2^k core maps, each behind its own lock, picked by hash bits
 * the maps do not use.  The contract is in include/gomap/shardmap.h.
 */
#include <gomap/shardmap.h>

#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "concmap_impl.h"
#include "family.h"
#include "guarded.h"
#include "lock_trace.h"
#include "map_internal.h"
#include "reclaim.h"
#include "reclaim_inline.h"
#include "rwspin.h"
#include "snapshot.h"
#include "tsan.h"

/*
 * One shard.  Invariants:
 *   - `word` is the shard's lock and its sequence counter in one (see "the
 *     lock" below): HELD is set while someone holds the lock, WRITING while
 *     the holder may change g.map (so the word is odd exactly then, as a
 *     seqcount's), and the bits above count the writes;
 *   - the lock guards `g` (guarded.h): every write, every read that does not
 *     go optimistic, range and clear hold it;
 *   - an optimistic reader accepts what it read only if the word was even
 *     before and unchanged after (guarded.h);
 *   - a key lives in shard (hash >> shift) & mask for the map's whole life:
 *     all shards share one seed, so the hash never changes.
 * Two cache lines: the word, written by every write, in the first (beside
 * `owner`, written once and read only by a load that the fast attempt
 * handed on, shard_load_undecided), and g, read by every operation and
 * written only when the count changes, in the second.  Apart, a reader or
 * writer finds the map (and starts its misses on the map's header and
 * bucket) without waiting for the word's line, which the last writer on
 * another core may hold; and no two shards share a line (false sharing
 * between a hot shard's lock and its neighbour's would serialize them).
 */
struct shard {
    _Alignas(64) _Atomic uint32_t word;
    struct shardmap *owner;
    _Alignas(64) struct gomap__guarded g;
};

/* Every field but `deferred.reclaim` is written once, at creation, and only
 * read afterwards, so their cache line stays shared by all cores; `reclaim`
 * (written by every retirement) is kept a line away. */
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
    bool optimistic;              /* loads try gomap__guarded_load_optimistic first */
    bool optimistic_u64v8;        /* ... and u64 keys with 8-byte values take its
                                     leaner form, gomap__guarded_load_optimistic_u64v8;
                                     implies fh.u64 (the key hashed inline) */
    bool store_u64v8;             /* stores take shard_store_u64v8: u64 keys with the
                                     built-in hash, 8-byte values */
    struct gomap__family_hash fh; /* the shards' hash, through `hasher` */
    gomap_config cfg;             /* immutable after creation */
    /* With optimistic loads, the shards' maps allocate through this hook
     * (guarded.h), whose frees wait for an RCU grace period. */
    struct gomap__deferred deferred;
};

#define SHARD_NAME GOMAP__VARIANT_NAME(SHARD)

/* ---- the lock ------------------------------------------------------------- */

/*
 * The shard's lock and its seqcount are one word, so that a write costs one
 * atomic read-modify-write (the acquiring CAS, which also makes the word
 * odd) and one plain store (the release, which makes it even and counts the
 * write), where a mutex beside a counter cost two of each; the
 * measurements are in docs/design-family.md.  A reader that falls back to
 * the lock, range and nothing else hold it with HELD alone: they change
 * nothing, so the optimistic loads of the shard go on meanwhile.  The same
 * word with CLHT's per-bucket lock and version is the idea of David,
 * Guerraoui and Trigonakis, "Asynchronized concurrency", ASPLOS 2015.
 *
 * A waiter spins, then yields its CPU (gomap__spin_wait, rwspin.h), as
 * rwmap's lock and TBB's spin mutexes do: the holder holds the lock for one
 * map operation, and behind a preempted holder (more threads than CPUs) the
 * yield gives the holder the CPU.  A release is a plain store only because
 * no waiter sleeps in the kernel: a futex wake would need the release to
 * read the word back (an atomic exchange).
 */
#define SHARD_WRITING 1u /* the seqcount's odd bit */
#define SHARD_HELD    2u
#define SHARD_WRITE   4u /* one write, in the count above the two flags */
_Static_assert((SHARD_HELD | SHARD_WRITING) + 1 == SHARD_WRITE,
               "adding one to a writer's word clears both flags and counts the write");

/* Takes the lock, setting `bits` (SHARD_HELD, plus SHARD_WRITING for a
 * writer).  Acquire on success: the last holder's writes to the shard
 * happen-before this holder's reads (pairs with the release stores of
 * shard_release). */
static inline void shard_acquire(_Atomic uint32_t *w, uint32_t bits) {
    unsigned spins = 0;
    uint32_t c = atomic_load_explicit(w, memory_order_relaxed);
    for (;;) {
        if (!(c & SHARD_HELD)) {
            if (atomic_compare_exchange_weak_explicit(w, &c, c | bits, memory_order_acquire,
                                                      memory_order_relaxed))
                break;
            continue;
        }
        gomap__spin_wait(&spins);
        c = atomic_load_explicit(w, memory_order_relaxed);
    }
    GOMAP__HB_ACQUIRE(w); /* the acquire above, told to TSan (tsan.h) */
}

static void shard_acquire_write(void *w) {
    shard_acquire(w, SHARD_HELD | SHARD_WRITING);
#if GOMAP__OPTIMISTIC_BUILD
    /* The seqcount writer's fence (gomap__seq_begin_write): orders the odd
     * word before the map's stores, for a reader's acquire fence that sees
     * one of them. */
    atomic_thread_fence(memory_order_release);
#endif
}

static void shard_acquire_read(void *w) {
    shard_acquire(w, SHARD_HELD);
}

/* Releases the lock: a writer's word has both flags set, so adding one
 * clears them and counts the write; a reader's has HELD alone.  Only the
 * holder writes the word, so the relaxed load reads back what it stored.
 * Release: pairs with the next holder's acquire and with an optimistic
 * reader's first (acquire) load, which then sees the whole write. */
static inline void shard_release(_Atomic uint32_t *w, bool write) {
    GOMAP__HB_RELEASE(w); /* the release below, told to TSan */
    uint32_t c = atomic_load_explicit(w, memory_order_relaxed);
    atomic_store_explicit(w, write ? c + 1 : c - SHARD_HELD, memory_order_release);
}

/* Takes a shard's lock for a write, or for reading under the lock (range,
 * a load that gave up on the optimistic path); returns the traced acquisition time, or 0 without
 * reading the clock when no tracer is attached. */
static inline uint64_t lock_shard(shardmap *m, struct shard *s, bool write) {
    if (!GOMAP__LOCK_TRACED()) {
        if (write)
            shard_acquire_write(&s->word);
        else
            shard_acquire_read(&s->word);
        return 0;
    }
    return gomap__lock_acquire_traced(m, SHARD_NAME, 1,
                                      write ? shard_acquire_write : shard_acquire_read, &s->word);
}

static inline void unlock_shard(shardmap *m, struct shard *s, bool write, uint64_t t) {
    if (t)
        gomap__lock_release_traced(m, SHARD_NAME, 1, t);
    shard_release(&s->word, write);
}

/* ---- shard choice --------------------------------------------------------- */

static inline struct shard *shard_of(shardmap *m, uint64_t h) {
    return &m->shards[(size_t)(h >> m->shift) & m->mask];
}

/* Hashes once; the shard's map gets the same hash (all shards share the
 * seed, so any shard's map computes it). */
GOMAP__GUARDED_INLINE uint64_t shard_hash(void *owner, const void *key) {
    shardmap *m = owner;
    return gomap__family_hash(&m->fh, m->hasher, key);
}

/* At least 64 shards, and 16 per CPU: with loads optimistic, what shards
 * buy is how rarely two operations meet in one (a write makes the loads of
 * its shard retry, two writes queue on its lock).  Measured against other
 * counts in docs/design-family.md. */
static unsigned default_bits(void) {
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (ncpu < 1)
        ncpu = 1;
    size_t want = (size_t)ncpu * 16 < 64 ? 64 : (size_t)ncpu * 16;
    unsigned bits = 0;
    while (bits < SHARDMAP_DEFAULT_MAX_BITS && ((size_t)1 << bits) < want)
        bits++;
    return bits;
}

/* ---- life cycle ----------------------------------------------------------- */

static void destroy(shardmap *m, size_t made) {
    gomap_free(m->hasher);
    for (size_t i = 0; i < made; i++)
        gomap_free(m->shards[i].g.map);
    /* The maps' deferred frees use m->deferred. */
    gomap__deferred_drain(&m->deferred, "shardmap_free");
    gomap__family_free(m->cfg.allocator, m->raw, m->raw_size);
    gomap__family_free(m->cfg.allocator, m, sizeof *m);
}

int shardmap_new(shardmap **out, const gomap_config *cfg, unsigned shard_bits) {
    if (!out)
        return EINVAL;
    *out = NULL;
    if (gomap__config_check(cfg) != 0 || shard_bits > SHARDMAP_MAX_BITS)
        return EINVAL;
    unsigned bits = shard_bits ? shard_bits : default_bits();
    size_t n = (size_t)1 << bits;
    shardmap *m = gomap__family_alloc(cfg->allocator, sizeof *m);
    if (!m)
        return ENOMEM;
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    m->bits = bits;
    gomap__deferred_init(&m->deferred, cfg->allocator);
    /* Bits 56-k .. 55: the map uses the top 8 (tophash) and the low B; see
     * gomap__map_hash_bits.  With k = 0 the mask is 0 and the shift unused. */
    m->shift = 56 - (bits ? bits : 1);
    m->mask = n - 1;
    m->raw_size = n * sizeof(struct shard) + 63;
    m->raw = gomap__family_alloc(cfg->allocator, m->raw_size);
    if (!m->raw) {
        gomap__family_free(cfg->allocator, m, sizeof *m);
        return ENOMEM;
    }
    m->shards = (struct shard *)(((uintptr_t)m->raw + 63) & ~(uintptr_t)63);
    memset(m->shards, 0, n * sizeof(struct shard));

    uint64_t seed = gomap__random64();
    gomap_config hcfg = *cfg;
    hcfg.hint = 0;
    int err = gomap__new_seeded(&m->hasher, &hcfg, seed);
    if (err) {
        destroy(m, 0);
        return err;
    }
    gomap__family_hash_init(&m->fh, m->hasher, cfg, seed);
    m->optimistic = GOMAP__OPTIMISTIC_BUILD && !GOMAP__TSAN_RUNNING() &&
                    gomap__optimistic_ok(m->hasher) &&
                    cfg->value_size <= GOMAP__OPTIMISTIC_MAX_VALUE;
    m->store_u64v8 = gomap__optimistic_u64(m->hasher) && cfg->value_size == 8;
    /* (fh.u64 too, so that shardmap_load can hash inline without a test.) */
    m->optimistic_u64v8 = m->optimistic && m->store_u64v8 && m->fh.u64;
    gomap_config scfg = *cfg;
    if (m->optimistic)
        scfg.allocator = &m->deferred.hook;
    size_t per = cfg->hint >> bits;
    scfg.hint = per ? per + per / 8 + 8 : cfg->hint ? 8 : 0; /* room for uneven shards */
    /* The shards' first arrays, all of one size, in one allocation that
     * huge pages can back (gomap__deferred_batch_begin). */
    if (m->optimistic)
        gomap__deferred_batch_begin(&m->deferred, n);
    for (size_t i = 0; i < n; i++) {
        struct shard *s = &m->shards[i];
        err = gomap__new_seeded(&s->g.map, &scfg, seed);
        if (err) {
            gomap__deferred_batch_end(&m->deferred);
            destroy(m, i);
            return err;
        }
        atomic_init(&s->word, 0);
        s->owner = m;
        atomic_init(&s->g.len, 0);
        s->g.value_size = cfg->value_size;
        s->g.key_u64 = gomap__optimistic_u64(s->g.map);
    }
    gomap__deferred_batch_end(&m->deferred);
    *out = m;
    return 0;
}

void shardmap_free(shardmap *m) {
    if (!m)
        return;
    gomap__range_free_check(m, "shardmap_free");
    destroy(m, m->mask + 1);
}

size_t shardmap_shards(const shardmap *m) {
    return m->mask + 1;
}

/* ---- single-key operations ------------------------------------------------ */

/* A load under the shard's lock: maps without optimistic loads, and the
 * optimistic load's fallback.  Out of line, so that the optimistic path
 * saves no registers for it. */
static __attribute__((noinline)) bool
shard_load_locked(shardmap *m, struct shard *s, const void *key, uint64_t h, void *value_out) {
    gomap__prefetch(s->g.map, h);
    uint64_t t = lock_shard(m, s, false);
    bool found = gomap__guarded_get(&s->g, key, h, value_out);
    unlock_shard(m, s, false, t);
    return found;
}

/* The load after the fast attempt (shard_load): the generic optimistic
 * load with its retries, then the lock.  Out of line, so that the fast
 * attempt saves no registers for it. */
static __attribute__((noinline)) bool shard_load_slow(shardmap *m, struct shard *s, const void *key,
                                                      uint64_t h, void *value_out) {
    if (m->optimistic) {
        int r = gomap__guarded_load_optimistic(&s->word, &s->g, key, h, value_out);
        if (r >= 0)
            return r;
    }
    return shard_load_locked(m, s, key, h, value_out);
}

/* A load the fast attempt (gomap__guarded_load_optimistic_u64v8) could not
 * decide, with the attempt's arguments: the shard from its word, and the
 * hash as the attempt had it, so nothing is hashed twice. */
static bool shard_load_undecided(_Atomic uint32_t *seq, const void *key, uint64_t h,
                                 void *value_out) {
    /* (Through an integer: a cast of the pointer would drop _Atomic.) */
    struct shard *s = (struct shard *)((uintptr_t)seq - offsetof(struct shard, word));
    return shard_load_slow(s->owner, s, key, h, value_out);
}

GOMAP__GUARDED_INLINE bool shard_load(void *owner, const void *key, uint64_t h, void *value_out) {
    shardmap *m = owner;
    struct shard *s = shard_of(m, h);
    if (__builtin_expect(m->optimistic_u64v8 && value_out != NULL, 1))
        return gomap__guarded_load_optimistic_u64v8(&s->word, s->g.map, key, h, value_out,
                                                    shard_load_undecided);
    return shard_load_slow(m, s, key, h, value_out);
}

GOMAP__GUARDED_INLINE struct gomap__guarded *shard_lock_write(void *owner, uint64_t h,
                                                              uint64_t *t) {
    shardmap *m = owner;
    struct shard *s = shard_of(m, h);
    /* The word's line was likely last written on another core: fetched for
     * writing now, its miss overlaps the map's header's and bucket's. */
    __builtin_prefetch(&s->word, 1);
    gomap__prefetch(s->g.map, h);
    *t = lock_shard(m, s, true);
    return &s->g;
}

GOMAP__GUARDED_INLINE void shard_unlock_write(void *owner, struct gomap__guarded *g, uint64_t t) {
    struct shard *s = GOMAP__CONTAINER_OF(g, struct shard, g);
    unlock_shard(owner, s, true, t);
}

static const struct gomap__locking SHARD_LOCKING = {shard_hash, shard_lock_write,
                                                    shard_unlock_write, shard_load};

/* shardmap_load without a fast attempt: out of line, so that the fast
 * attempt keeps nothing for it. */
static __attribute__((noinline)) bool shardmap_load_slow(shardmap *m, const void *key,
                                                         void *value_out) {
    uint64_t h = shard_hash(m, key);
    return shard_load_slow(m, shard_of(m, h), key, h, value_out);
}

/* The fast attempt is the tail call: a load it cannot decide goes on to
 * shard_load_undecided from there. */
bool shardmap_load(shardmap *m, const void *key, void *value_out) {
    if (__builtin_expect(m->optimistic_u64v8 && key != NULL && value_out != NULL, 1)) {
        /* shard_hash's u64 case without its call for other keys, which
         * would make this function save registers */
        uint64_t h = gomap__family_hash_u64(&m->fh, key);
        struct shard *s = shard_of(m, h);
        return gomap__guarded_load_optimistic_u64v8(&s->word, s->g.map, key, h, value_out,
                                                    shard_load_undecided);
    }
    return shardmap_load_slow(m, key, value_out);
}

GOMAP__DEFINE_GUARDED_WRITES_BUT_STORE(shardmap, shardmap, SHARD_LOCKING)

/* Every store but shard_store_u64v8's: the family's, out of line so that
 * the fast store saves no registers for it. */
static __attribute__((noinline)) int shard_store_generic(shardmap *m, const void *key,
                                                         const void *value) {
    return gomap__guarded_store(&SHARD_LOCKING, m, key, value);
}

/* The store of a u64 key with an 8-byte value, under the shard's lock.  A
 * key already present (an update, the commonest store) has its value
 * overwritten where it lies, found by the map's u64 walk
 * (gomap__find_u64v8_locked): the core map's insert path
 * (gomap__upsert_locked) also looks for room to insert and for growth to
 * do, which an update needs neither of.  While the map grows, and for a
 * chain too long for the walk, the insert path answers.  The word is odd
 * meanwhile (shard_acquire_write), so an optimistic load racing the value's
 * store discards what it read. */
static inline int shard_store_u64v8(shardmap *m, const void *key, uint64_t h, const void *value) {
    struct shard *s = shard_of(m, h);
    __builtin_prefetch(&s->word, 1); /* as shard_lock_write */
    gomap__prefetch(s->g.map, h);
    uint64_t t = lock_shard(m, s, true);
    void *slot = gomap__find_u64v8_locked(s->g.map, key, h);
    int err = 0;
    if (__builtin_expect(slot == NULL, 0)) {
        bool inserted;
        err = gomap__guarded_upsert(&s->g, key, h, &slot, &inserted);
    }
    if (__builtin_expect(err == 0, 1))
        memcpy(slot, value, 8);
    unlock_shard(m, s, true, t);
    return err;
}

int shardmap_store(shardmap *m, const void *key, const void *value) {
    if (__builtin_expect(m->store_u64v8 && value != NULL, 1))
        return shard_store_u64v8(m, key, shard_hash(m, key), value);
    return shard_store_generic(m, key, value);
}

/* ---- whole-map operations ------------------------------------------------- */

struct range_arg {
    shardmap *m;
    struct shard *s;
};

/* Range holds the lock for reading: it changes nothing, so optimistic
 * loads of the shard go on meanwhile. */
static void range_lock(void *arg) {
    struct range_arg *a = arg;
    if (GOMAP__LOCK_TRACED()) /* waits only; a hold would span fn in the fallback */
        (void)gomap__lock_acquire_traced(a->m, SHARD_NAME, 1, shard_acquire_read, &a->s->word);
    else
        shard_acquire_read(&a->s->word);
}

static void range_unlock(void *arg) {
    shard_release(&((struct range_arg *)arg)->s->word, false);
}

void shardmap_range(shardmap *m, concmap_range_fn fn, void *ctx) {
    struct gomap__snapshot snap; /* one buffer, reused shard after shard */
    gomap__snapshot_init(&snap, &m->cfg);
    struct gomap__range_frame frame;
    gomap__range_enter(&frame, m);
    size_t start = (size_t)gomap__random64() & m->mask; /* random order, as Go's */
    for (size_t i = 0; i <= m->mask; i++) {
        struct range_arg a = {m, &m->shards[(start + i) & m->mask]};
        struct gomap__range_lock lk = {range_lock, range_unlock, &a};
        if (!gomap__snapshot_range(&snap, a.s->g.map, &lk, fn, ctx))
            break;
    }
    gomap__range_leave(&frame);
    gomap__snapshot_destroy(&snap);
}

void shardmap_clear(shardmap *m) {
    for (size_t i = 0; i <= m->mask; i++) {
        struct shard *s = &m->shards[i];
        uint64_t t = lock_shard(m, s, true);
        gomap_clear(s->g.map);
        gomap__guarded_publish_len(&s->g);
        unlock_shard(m, s, true, t);
    }
}

size_t shardmap_len(shardmap *m) {
    size_t n = 0;
    for (size_t i = 0; i <= m->mask; i++)
        n += atomic_load_explicit(&m->shards[i].g.len, memory_order_relaxed);
    return n;
}

/* ---- the concmap face ----------------------------------------------------- */

static int ops_create(void **out, const gomap_config *cfg, const concmap_options *opts) {
    return shardmap_new((shardmap **)out, cfg, opts ? opts->shard_bits : 0);
}
GOMAP__DEFINE_CONCMAP_OPS(gomap_shardmap_ops, shardmap, shardmap, ops_create, NULL, false);

/* ---- batched loads ---------------------------------------------------------- */

/* Orders the keys of a group by shard: idx[] lists 0..g-1 sorted by sh[]
 * (an LSD radix sort on the shard index, one pass per 8 bits of it). */
static void sort_by_shard(const uint32_t *sh, size_t g, unsigned bits, uint16_t *idx) {
    uint16_t tmp[GOMAP__LOAD_MANY_GROUP];
    for (size_t j = 0; j < g; j++)
        idx[j] = (uint16_t)j;
    for (unsigned shift = 0; shift < bits; shift += 8) {
        size_t count[257] = {0};
        for (size_t j = 0; j < g; j++)
            count[((sh[idx[j]] >> shift) & 0xff) + 1]++;
        for (size_t d = 0; d < 256; d++)
            count[d + 1] += count[d];
        for (size_t j = 0; j < g; j++)
            tmp[count[(sh[idx[j]] >> shift) & 0xff]++] = idx[j];
        memcpy(idx, tmp, g * sizeof *idx);
    }
}

/* Keys per step of shardmap_load_many's optimistic path (many_optimistic):
 * enough for their cache misses to overlap, few enough for their lines to
 * still be cached when their lookups come. */
#define OPTIMISTIC_MANY 16

/* The path of maps without optimistic loads: in groups, sorted by shard,
 * each shard's keys looked up with the core map's batched lookup under one
 * acquisition of its lock. */
static size_t load_many_locked(shardmap *m, const void *keys, size_t n, void *values_out,
                               bool *found_out) {
    size_t stride = gomap__key_arg_size(m->hasher);
    size_t found = 0;
    for (size_t base = 0; base < n; base += GOMAP__LOAD_MANY_GROUP) {
        size_t g = n - base < GOMAP__LOAD_MANY_GROUP ? n - base : GOMAP__LOAD_MANY_GROUP;
        const void *kp[GOMAP__LOAD_MANY_GROUP];
        uint64_t h[GOMAP__LOAD_MANY_GROUP];
        uint32_t sh[GOMAP__LOAD_MANY_GROUP];
        uint16_t idx[GOMAP__LOAD_MANY_GROUP];
        /* Hashed before any lock, so a user hash function never runs under one. */
        for (size_t j = 0; j < g; j++) {
            const void *k = (const char *)keys + (base + j) * stride;
            h[j] = shard_hash(m, k);
            sh[j] = (uint32_t)(shard_of(m, h[j]) - m->shards);
        }
        sort_by_shard(sh, g, m->bits, idx);
        /* One run per shard: its keys' pointers, hashes and positions
         * gathered in shard order. */
        uint64_t hs[GOMAP__LOAD_MANY_GROUP];
        size_t pos[GOMAP__LOAD_MANY_GROUP];
        void *v[GOMAP__LOAD_MANY_GROUP];
        for (size_t j = 0; j < g; j++) {
            kp[j] = (const char *)keys + (base + idx[j]) * stride;
            hs[j] = h[idx[j]];
            pos[j] = base + idx[j];
        }
        for (size_t r = 0; r < g;) {
            size_t e = r + 1;
            while (e < g && sh[idx[e]] == sh[idx[r]])
                e++;
            struct shard *s = &m->shards[sh[idx[r]]];
            uint64_t t = lock_shard(m, s, false);
            (void)gomap__get_many_hashed(s->g.map, kp + r, hs + r, e - r, v + r);
            found += gomap__guarded_many_out(&s->g, v + r, pos + r, e - r, values_out, found_out);
            unlock_shard(m, s, false, t);
            r = e;
        }
    }
    return found;
}

#if GOMAP__OPTIMISTIC_BUILD /* (TSan builds load under the lock) */
/* shardmap_load_many's optimistic path for keys[0..n), n <= OPTIMISTIC_MANY,
 * inside the caller's read-side section: gomap__guarded_load_optimistic's protocol for all
 * of them at once, so their cache misses overlap.  (1) hash each key, read
 * its shard's sequence (acquire) and prefetch its lines; (2) look each up
 * without any lock and copy its value to a stack buffer; (3) one acquire
 * fence, then each key whose sequence was even and is unchanged is decided
 * (its value copied out); (4) each other key is loaded alone (shard_load:
 * retries, then the lock).  The fence pairs as there: it keeps
 * every read of (2) before the sequence reloads of (3). */
static size_t many_optimistic(shardmap *m, const char *keys, size_t stride, size_t n,
                              char *values_out, bool *found_out) {
    unsigned char buf[OPTIMISTIC_MANY * GOMAP__OPTIMISTIC_MAX_VALUE];
    uint64_t h[OPTIMISTIC_MANY];
    struct shard *sh[OPTIMISTIC_MANY];
    uint32_t q[OPTIMISTIC_MANY];
    const void *v[OPTIMISTIC_MANY];
    bool decided[OPTIMISTIC_MANY];
    size_t vs = values_out ? m->cfg.value_size : 0;
    for (size_t j = 0; j < n; j++) {
        h[j] = shard_hash(m, keys + j * stride);
        sh[j] = shard_of(m, h[j]);
        q[j] = gomap__seq_read_begin(&sh[j]->word);
        gomap__prefetch(sh[j]->g.map, h[j]);
    }
    for (size_t j = 0; j < n; j++) {
        bool retry = q[j] & 1; /* a writer is inside: decided in (4) */
        v[j] = retry ? NULL
                     : gomap__guarded_get_optimistic(&sh[j]->g, keys + j * stride, h[j], &retry);
        decided[j] = !retry;
        if (v[j] && vs)
            memcpy(buf + j * vs, v[j], vs); /* may be torn; kept only if seq says not */
    }
    gomap__seq_read_fence();
    size_t found = 0;
    for (size_t j = 0; j < n; j++) {
        bool f;
        if (decided[j] && gomap__seq_read_unchanged(&sh[j]->word, q[j])) {
            f = v[j] != NULL;
            if (f && vs)
                memcpy(values_out + j * vs, buf + j * vs, vs);
        } else {
            f = shard_load(m, keys + j * stride, h[j], vs ? values_out + j * vs : NULL);
        }
        if (found_out)
            found_out[j] = f;
        found += f;
    }
    return found;
}
#endif

size_t shardmap_load_many(shardmap *m, const void *keys, size_t n, void *values_out,
                          bool *found_out) {
    if (found_out && n)
        memset(found_out, 0, n * sizeof *found_out);
    if (m == NULL || keys == NULL)
        return 0;
#if GOMAP__OPTIMISTIC_BUILD
    if (!m->optimistic)
        return load_many_locked(m, keys, n, values_out, found_out);
    size_t stride = gomap__key_arg_size(m->hasher);
    size_t vsize = m->cfg.value_size;
    size_t found = 0;
    gomap__rcu_enter_inline();
    for (size_t base = 0; base < n; base += OPTIMISTIC_MANY) {
        size_t g = n - base < OPTIMISTIC_MANY ? n - base : OPTIMISTIC_MANY;
        found += many_optimistic(m, (const char *)keys + base * stride, stride, g,
                                 values_out ? (char *)values_out + base * vsize : NULL,
                                 found_out ? found_out + base : NULL);
    }
    gomap__rcu_exit_inline();
    return found;
#else
    return load_many_locked(m, keys, n, values_out, found_out);
#endif
}
