/*
 * shardmap.h — 2^k independent gomaps, each with its own lock: the common
 * sharded map of the Go world (concurrent-map and its kin), in C.
 *
 * A key's hash, computed once, picks its shard with bits the shard's own map
 * never looks at (bits 56-k .. 55: below the tophash byte, far above any
 * bucket index a real machine can hold), and the shard's map reuses the same
 * hash.  All shards share one random seed.  Each shard sits in its own cache
 * lines (64-byte aligned), so threads working on different shards share
 * nothing; two threads contend only when their keys fall in the same shard.
 *
 * Loads take no lock and write nothing shared: a load reads the shard's
 * map optimistically between two reads of the shard's sequence counter,
 * which every write makes odd while it changes the map, and keeps the result
 * only if the counter was even and unchanged (a seqlock); memory the map
 * frees is freed only after every load that might still read it has ended
 * (RCU, as syncmap).  After a few attempts that meet a writer, a load takes
 * the lock instead.  That path applies to keys of fixed size (u64, u32,
 * bytes) with the built-in hash and values of at most 128 bytes; other maps
 * (strings, user functions, larger values) and ThreadSanitizer builds load
 * under the lock.  Writes take the shard's lock, which is the same word as
 * its sequence counter: a waiter spins briefly, then yields its CPU (as
 * rwmap's lock and TBB's spin mutexes do).  docs/design-family.md has the
 * measurements behind both choices.
 *
 * Every single-key operation is linearizable (it touches one shard under its
 * lock).  Range and clear walk the shards one at a time and are therefore
 * not atomic across shards; len sums per-shard counters (see each function).
 *
 * Keys, values, the allocator hook and the error contract are the core
 * map's (gomap.h); the method set is concmap.h's, and a shardmap is also
 * reachable as concmap_new("shard", ...).  Every function is safe to call
 * from any number of threads at once.  "Blocking" below means: may wait for
 * the lock of the key's shard, held by another thread for one operation.  No
 * lock is held while user code other than hash/equality runs.  With
 * optimistic loads, the allocator hook's free runs later, on gomap's
 * reclaimer thread (the hook must be thread-safe, as it already must be for
 * shards written at once), and shardmap_free waits for those frees; while
 * the calling thread is the only one using gomap's RCU maps (syncmap.h) it
 * runs at once, on that thread.
 */
#ifndef GOMAP_SHARDMAP_H
#define GOMAP_SHARDMAP_H

#include <gomap/concmap.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct shardmap shardmap;

enum {
    /* Most shard bits accepted (65536 shards). */
    SHARDMAP_MAX_BITS = 16,
    /* The default never exceeds this many bits (256 shards). */
    SHARDMAP_DEFAULT_MAX_BITS = 8
};

/* Creates a map of 2^shard_bits shards.  shard_bits 0 picks the default: the
 * smallest power of two >= 16 x the number of online CPUs and >= 64, at most
 * 2^SHARDMAP_DEFAULT_MAX_BITS (a 2-CPU machine gets 64 shards).  The hint is
 * spread over the shards.  0 and *out set; EINVAL (bad config, out NULL,
 * shard_bits > SHARDMAP_MAX_BITS; *out = NULL) or ENOMEM.  Allocates
 * 64 bytes per shard plus each shard's map. */
GOMAP_API int shardmap_new(shardmap **out, const gomap_config *cfg, unsigned shard_bits);

/* Frees the map.  No other thread may be using it.  NULL is allowed. */
GOMAP_API void shardmap_free(shardmap *m);

/* The number of shards (a power of two). */
GOMAP_API size_t shardmap_shards(const shardmap *m);

/* Copies the key's value to value_out (if not NULL); returns whether the key
 * is present.  Lock-free while no write runs in the key's shard; otherwise
 * (or for maps without optimistic loads) blocking.  Never allocates. */
GOMAP_API bool shardmap_load(shardmap *m, const void *key, void *value_out);

/* Loads n keys at once.  keys: n key arguments in a row, as for
 * gomap_get_many (uint64_t, uint32_t, gomap_str or key_size bytes each).
 * Key i's value is copied to values_out + i * value_size (values_out may be
 * NULL) and found_out[i] (may be NULL) says whether it is present; returns
 * how many are; an absent key's value slot is left as it was.  With
 * optimistic loads (see shardmap_load), keys are loaded as shardmap_load
 * loads one, without a lock, 16 at a time: hashed, their shards' sequence
 * counters read and their lines prefetched before the first lookup, so that
 * their cache misses overlap; a key a writer keeps undecided is loaded alone
 * (retries, then its shard's lock).  Otherwise, in groups of
 * 256 keys hashed outside any lock and sorted by shard, each shard's keys are
 * looked up with the core map's batched lookup under one acquisition of the
 * shard's lock.  Each key's load is linearizable; the batch is not one
 * atomic snapshot.  Lock-free while no write runs in the keys' shards;
 * otherwise (or for maps without optimistic loads) blocking.
 * Never allocates. */
GOMAP_API size_t shardmap_load_many(shardmap *m, const void *keys, size_t n, void *values_out,
                                    bool *found_out);

/* Inserts or overwrites.  0, or ENOMEM with the map unchanged.  Blocking.
 * Allocates when the key is new and its shard must grow. */
GOMAP_API int shardmap_store(shardmap *m, const void *key, const void *value);

/* The existing value (loaded = true) or stores `value` (loaded = false);
 * actual_out receives the value now in the map.  0, or ENOMEM (nothing
 * stored).  Blocking.  Allocates only when it inserts. */
GOMAP_API int shardmap_load_or_store(shardmap *m, const void *key, const void *value,
                                     void *actual_out, bool *loaded);

/* Deletes the key, copying its value out; returns whether it was present.
 * Blocking.  Never allocates. */
GOMAP_API bool shardmap_load_and_delete(shardmap *m, const void *key, void *value_out);

/* Deletes the key (a no-op when absent).  Blocking.  Never allocates. */
GOMAP_API void shardmap_delete(shardmap *m, const void *key);

/* Stores `value`, copying the previous one to previous_out; *loaded says
 * whether there was one.  0, or ENOMEM (nothing changed).  Blocking.
 * Allocates only when the key is new. */
GOMAP_API int shardmap_swap(shardmap *m, const void *key, const void *value, void *previous_out,
                            bool *loaded);

/* Replaces the value if it equals old_value by bytes; an absent key never
 * swaps.  Blocking.  Never allocates; always returns 0. */
GOMAP_API int shardmap_compare_and_swap(shardmap *m, const void *key, const void *old_value,
                                        const void *new_value, bool *swapped);

/* Deletes the key if its value equals old_value by bytes; returns whether it
 * did.  Blocking.  Never allocates. */
GOMAP_API bool shardmap_compare_and_delete(shardmap *m, const void *key, const void *old_value);

/* Calls fn(key, value, ctx) for each entry until fn returns false.
 *
 * What it sees: the shards one after another (starting at a random one),
 * each as a consistent snapshot taken under that shard's lock.  So each key
 * is visited at most once (a key lives in one shard for ever), a key present
 * and untouched for the whole call is visited, and a key stored or deleted
 * during the call may or may not be seen, with any value it had during the
 * call — sync.Map's Range contract.  It is not one snapshot of the whole map:
 * of two keys in different shards, range may see a later store to one and
 * miss an earlier store to the other.  fn runs with no lock held and may call
 * any function of this map except shardmap_free (a fatal error there).
 * Pointers are valid during the call.
 *
 * Cost: copies one shard at a time (O(shard len) under that shard's lock)
 * into a buffer allocated through the hook and freed before returning.  When
 * that allocation fails it degrades exactly as rwmap_range does (rwmap.h). */
GOMAP_API void shardmap_range(shardmap *m, concmap_range_fn fn, void *ctx);

/* concmap_compute (concmap.h): an atomic read-modify-write of one key, with
 * fn called once under the key's shard lock.  0, ENOMEM or EINVAL. */
GOMAP_API int shardmap_compute(shardmap *m, const void *key, concmap_compute_fn fn, void *ctx);

/* Deletes every entry, one shard at a time: each shard is emptied
 * atomically, but a store to a shard already cleared survives, so a
 * concurrent range or load may see entries after clear has started.  When no
 * write runs concurrently, the map is empty on return.  Blocking (each
 * shard's lock in turn).  Never allocates. */
GOMAP_API void shardmap_clear(shardmap *m);

/* The sum of per-shard counters, read one after another without locks.
 * Exact when no write runs concurrently.  Under concurrent writes each term
 * is exact at the moment it is read, so the sum is off from the size at any
 * single instant of the call by at most the number of writes that ran during
 * it (it is not linearizable).  O(shards).  Never blocks, never allocates. */
GOMAP_API size_t shardmap_len(shardmap *m);

#ifdef __cplusplus
}
#endif
#endif /* GOMAP_SHARDMAP_H */
