/*
 * map_internal.h — the core map's internal interface, for the thread-safe
 * maps built on it (rwmap.c, shardmap.c, syncmap.c, cowmap.c).
 *
 * These functions behave as their public counterparts in gomap.h (same
 * detection of concurrent misuse, same ENOMEM contract: on failure the map is
 * unchanged), but let the caller hash a key once and reuse the hash: a
 * shardmap hashes to pick a shard and then looks up in it with the same hash.
 *
 * Which hash bits the map uses.  A map with 2^B buckets picks a key's bucket
 * with the low B bits of its hash (hash & (2^B - 1)) and its tophash byte
 * with the top 8 bits (hash >> 56).  B never exceeds 47 on a 64-bit machine
 * with a realistic amount of memory, so bits 48..55 are never looked at by
 * the map: a shardmap may pick its shard with them (e.g. (hash >> 48) & (2^k
 * - 1) for k <= 8) without making the keys of one shard collide inside its
 * map.  gomap__map_hash_bits() is the exact contract.
 *
 * A hash passed to a *_hashed function MUST be gomap__hash(m, key) of the same
 * map (or of a map created by gomap__new_seeded with the same seed and the
 * same config): the map stores and compares it.
 */
#ifndef GOMAP_MAP_INTERNAL_H
#define GOMAP_MAP_INTERNAL_H

#include <gomap/gomap.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Whether this is a ThreadSanitizer build (gcc says so with a macro, clang
 * with a feature test): the code paths that race on purpose (optimistic
 * reads, prefetches) are left out of it. */
#if defined(__SANITIZE_THREAD__)
#define GOMAP__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GOMAP__TSAN 1
#endif
#endif

/* The longest string key accepted: 2^47 - 1 bytes.  x86-64 gives user space
 * 2^47 bytes, so no object there is longer: a longer length is a bogus one,
 * and hashing it would read far past the caller's bytes.  It also fits the
 * 56 bits a heap key's length keeps. */
#define GOMAP__MAX_STR_LEN ((((uint64_t)1) << 47) - 1)

/* Whether a string key is one no map holds: longer than GOMAP__MAX_STR_LEN,
 * or a NULL pointer with a length.  Every map finds it absent and refuses to
 * store it (EINVAL); a batch checks all its keys with this before storing. */
static inline bool gomap__str_key_absurd(const gomap_str *s) {
    return s->len > GOMAP__MAX_STR_LEN || (s->ptr == NULL && s->len != 0);
}

/* The allocator of a map whose config names none: malloc and free.  Also
 * the last resort of a range snapshot for one oversized entry. */
extern const gomap_allocator gomap__malloc_allocator;

/* Asks for transparent huge pages over the 2 MiB-aligned pages inside a
 * block of `bytes` from malloc, if it is as large as the core map's arrays
 * that get them (map.c says which); otherwise, or with p NULL, does nothing.
 * For the arrays of a map whose memory comes from malloc, whoever takes it. */
void gomap__advise_huge(void *p, size_t bytes);

/* The map's hash of a key (its seed, its key kind, the user hash if any).
 * Calls the user hash function, if any, exactly once.  m must not be NULL. */
uint64_t gomap__hash(const gomap *m, const void *key);

/* gomap_get with a precomputed hash.  m may be NULL (nil map: NULL). */
void *gomap__get_hashed(const gomap *m, const void *key, uint64_t hash);

/* gomap_get_many for keys given by pointer with precomputed hashes: values[i]
 * (NULL allowed: only count) receives gomap__get_hashed(m, keys[i],
 * hashes[i]); returns how many were found.  m may be NULL. */
size_t gomap__get_many_hashed(const gomap *m, const void *const *keys, const uint64_t *hashes,
                              size_t n, void **values);

/* The size of one key as the API takes it (what gomap_get's `key` points
 * to), so the n-th key of an array of keys (a get_many or store_many batch)
 * is at n times it.  The one definition: gomap__key_arg_size and the map's
 * own batched lookups derive theirs from it. */
static inline size_t gomap__key_stride(const gomap_config *cfg) {
    switch (cfg->key_kind) {
    case GOMAP_KEY_U32:
        return sizeof(uint32_t);
    case GOMAP_KEY_STRING:
    case GOMAP_KEY_STRING_BORROWED:
        return sizeof(gomap_str);
    case GOMAP_KEY_BYTES:
        return cfg->key_size;
    case GOMAP_KEY_U64:
        break;
    }
    return sizeof(uint64_t);
}

/* gomap__key_stride of the configuration the map was created with. */
size_t gomap__key_arg_size(const gomap *m);

/* The estimated bytes of a core map of n keys whose key argument
 * (gomap__key_stride) and value take the given sizes: three times its slot
 * bytes (key argument, value, tophash), about what Go's buckets average
 * between growths with their overflow pointers and padding, plus 1 KiB for
 * its header.  The one estimate the reclamation pacing of cowmap (a
 * version) and syncmap (a retired read table) uses, so the two cannot
 * drift apart. */
static inline size_t gomap__estimated_map_bytes(size_t key_arg_size, size_t value_size, size_t n) {
    return 1024 + 3 * (key_arg_size + value_size + 1) * n;
}

/* Keys per group of the thread-safe maps' load_many: each group is hashed
 * outside the lock, then looked up under one (per shard) acquisition. */
#define GOMAP__LOAD_MANY_GROUP 256

/* gomap_set with a precomputed hash: 0 or ENOMEM (map unchanged).
 * m NULL: fatal "assignment to entry in nil map". */
int gomap__set_hashed(gomap *m, const void *key, uint64_t hash, const void *value);

/* gomap_delete with a precomputed hash.  Never allocates. */
bool gomap__delete_hashed(gomap *m, const void *key, uint64_t hash);

/* Finds the key or inserts it with a zero-filled value, in one lookup.
 * Returns 0 and sets *value_slot to the key's value (value_size bytes,
 * writable until the next write to the map; a non-NULL dummy when value_size
 * is 0) and *inserted to whether the key was new; or ENOMEM with the map
 * unchanged (*value_slot = NULL).  Either out pointer may be NULL.
 * A write (detected as one). */
int gomap__upsert(gomap *m, const void *key, uint64_t hash, void **value_slot, bool *inserted);

/* Locked writes: gomap__upsert, gomap__set_hashed and gomap__delete_hashed
 * for a map whose owner's lock serializes every write and every locked read
 * of it (rwmap's and shardmap's maps, syncmap's dirty table).  They leave the
 * writing word alone: the lock rules out the misuse it detects, and not
 * storing it keeps the header's first line, which every lookup (optimistic
 * ones included) reads, shared between cores.  Everything else is the same.
 * A map written this way must not also be written through the public
 * functions without the same lock. */
int gomap__upsert_locked(gomap *m, const void *key, uint64_t hash, void **value_slot,
                         bool *inserted);
int gomap__set_hashed_locked(gomap *m, const void *key, uint64_t hash, const void *value);
bool gomap__delete_hashed_locked(gomap *m, const void *key, uint64_t hash);

/* 0 if gomap_new would accept cfg (kind, sizes, user hash pair, allocator
 * functions), else EINVAL.  Allocates nothing: the thread-safe maps call it
 * before allocating their handle through cfg's allocator hook. */
int gomap__config_check(const gomap_config *cfg);

/* Starts loading the lines a lookup of this hash will read (its tophash word
 * and its bucket's first slots), without waiting for them.  May be called
 * without the map's lock, concurrently with writers (it only reads header
 * fields and never faults); the lock-based maps call it before taking their
 * lock, so the DRAM misses overlap the lock's atomic operations.  A no-op
 * under ThreadSanitizer (its racy reads would be reported). */
void gomap__prefetch(const gomap *m, uint64_t hash);

/* Optimistic reads, for a map that takes no lock for its readers
 * (shardmap.c).  The caller keeps, around every write of m, a sequence
 * counter that is odd while the write runs; a reader loads the counter,
 * calls gomap__get_optimistic, copies the value out, and accepts the result
 * only if the counter was even and has not changed (a seqlock: Linux's
 * seqcount; Boehm, "Can seqlocks get along with programming language memory
 * models?", 2012, for the fences).
 *
 * What makes the racing lookup safe, not just usually right:
 *   - everything it reads stays allocated while it reads: the map must be
 *     created with an allocator whose free waits for an RCU grace period,
 *     and the reader must be inside a read-side section (reclaim.h);
 *   - it reads the bucket array's own descriptor (whose geometry never
 *     changes), not the header fields a growing writer updates one by one,
 *     so every index stays inside the array it loaded;
 *   - each word it reads (tophash word, overflow pointer) is loaded once,
 *     so a pointer tested non-NULL is the pointer followed;
 *   - it walks at most a bounded number of buckets (a chain relinked under
 *     it could otherwise loop);
 *   - it compares keys by bytes inside the slot (fixed-size kinds only: an
 *     owned string's pointer could be torn; a user function could see a
 *     half-written key): gomap__optimistic_ok says whether m qualifies.
 * It checks no writing flag (the whole point is to run beside a writer) and
 * sets *retry, returning NULL, when it cannot answer (the chain was too
 * long): the caller then takes its lock.  Otherwise it
 * returns the value's slot or NULL, both meaningful only if the sequence
 * check passes. */
bool gomap__optimistic_ok(const gomap *m);
void *gomap__get_optimistic(const gomap *m, const void *key, uint64_t hash, bool *retry);

/* gomap__get_optimistic for a map whose gomap__optimistic_u64 is true (u64
 * keys with the built-in hash): the same walk and the same guarantees,
 * without the dispatch on the key kind and with the key compared as one
 * word, so the lookup calls nothing and saves fewer registers. */
bool gomap__optimistic_u64(const gomap *m);
void *gomap__get_optimistic_u64(const gomap *m, const void *key, uint64_t hash, bool *retry);

#ifndef GOMAP__TSAN /* (TSan builds read under the lock, and TSan rejects fences) */
/* The reader's half of the seqlock that guards a map with optimistic reads,
 * written once for every optimistic reader (gomap__load_seq_u64v8 below,
 * guarded.h's gomap__guarded_load_optimistic, shardmap's batched loads).
 * The writer's half is guarded.h's gomap__seq_begin_write/_end_write and
 * shardmap.c's lock word.  A reader reads q = gomap__seq_read_begin(seq),
 * gives up if q is odd (a writer is inside), reads the map, then keeps what
 * it read only if gomap__seq_read_end(seq, q).
 *
 * Acquire: pairs with the writer's release store that made seq even, so a
 * reader that starts on it sees the whole of that write. */
static inline uint32_t gomap__seq_read_begin(_Atomic uint32_t *seq) {
    return atomic_load_explicit(seq, memory_order_acquire);
}

/* The acquire fence before the check: pairs with the writer's release fence
 * after it made seq odd, so a reader that read any of the write's stores
 * sees seq changed; it also keeps every read of the map before the reload.
 * A no-op on x86 (loads are not reordered with loads), a compiler barrier. */
static inline void gomap__seq_read_fence(void) {
    atomic_thread_fence(memory_order_acquire);
}

/* Whether seq still holds q, after gomap__seq_read_fence.  Relaxed: the
 * fence orders it. */
static inline bool gomap__seq_read_unchanged(_Atomic uint32_t *seq, uint32_t q) {
    return atomic_load_explicit(seq, memory_order_relaxed) == q;
}

/* The fence and the check, for a reader of one key. */
static inline bool gomap__seq_read_end(_Atomic uint32_t *seq, uint32_t q) {
    gomap__seq_read_fence();
    return gomap__seq_read_unchanged(seq, q);
}
#endif

/* What gomap__load_seq_u64v8 hands a load it cannot decide to: the caller's
 * generic load (retries, then the lock), given the same arguments. */
typedef bool (*gomap__load_undecided_fn)(_Atomic uint32_t *seq, const void *key, uint64_t hash,
                                         void *value_out);

/* A shard's optimistic load of a u64 key with an 8-byte value, in one
 * function: gomap__get_optimistic_u64's walk (with the slot size and value
 * offset of that map as constants) inside the protocol of guarded.h's
 * gomap__guarded_load_optimistic_u64v8 (an RCU read-side section, seq even
 * before and unchanged after).  The map's value_size must be 8.  Returns
 * whether the key is present (its value copied to value_out); a load the
 * attempt cannot decide (a writer inside, a changed sequence, a long chain,
 * a thread not yet registered with the reclaimer, a TSan build) is
 * undecided's, as its tail call.  So the caller can make this its own tail
 * call and keep nothing for a fallback, and this function calls nothing on
 * its way (the rare wake-up of a grace period is a tail call too). */
bool gomap__load_seq_u64v8(_Atomic uint32_t *seq, const gomap *m, const void *key, uint64_t hash,
                           void *value_out, gomap__load_undecided_fn undecided);

/* The value slot of a u64 key in m (gomap__optimistic_u64 true, value_size
 * 8), for overwriting it in place under the lock that serializes m's writers
 * (shardmap's store of a key already present): gomap__get_optimistic_u64's
 * walk with the slot size and value offset as constants.  NULL when the key
 * is absent, when m is growing (an update then goes through the insert
 * path, which moves the key's bucket along, so that updates alone finish a
 * growth, as Go's assignments do) and for a chain too long for the walk. */
void *gomap__find_u64v8_locked(const gomap *m, const void *key, uint64_t hash);

/* gomap_new with a given seed instead of a random one, so that several maps
 * (the shards of a shardmap, a cowmap's generations) hash alike. */
int gomap__new_seeded(gomap **out, const gomap_config *cfg, uint64_t seed);

/* The map's seed (for creating maps that hash alike). */
uint64_t gomap__seed(const gomap *m);

/* 64 random bits: a per-thread generator seeded from the OS.  Not for
 * cryptography.  Thread-safe. */
uint64_t gomap__random64(void);

/* The hash bits a map of this many buckets-log (B) looks at: the low B bits
 * and the top 8.  Everything else is free for the caller. */
static inline uint64_t gomap__map_hash_bits(unsigned B) {
    return (B >= 56 ? ~(uint64_t)0 : (((uint64_t)1 << B) - 1)) | ((uint64_t)0xff << 56);
}

/* Shape of a map, for tools/loadfactor and tests.  O(buckets + nmiss). */
typedef struct gomap__stats_t {
    size_t count;         /* entries */
    unsigned B;           /* log2 buckets */
    bool growing;         /* probe figures are only computed when not growing */
    size_t buckets;       /* 2^B */
    size_t overflow;      /* overflow buckets in use (current array) */
    size_t bytes;         /* everything allocated for the map */
    double hit_buckets;   /* bucket headers read per lookup of a present key */
    double hit_compares;  /* key comparisons per lookup of a present key */
    double miss_buckets;  /* bucket headers read per lookup of an absent key */
    double miss_compares; /* key comparisons (tophash false positives) per miss */
} gomap__stats_t;
void gomap__stats(const gomap *m, size_t nmiss, gomap__stats_t *st);

/* Whether a growth is in progress (gomap__stats' `growing`, in O(1)). */
bool gomap__growing(const gomap *m);

#endif /* GOMAP_MAP_INTERNAL_H */
