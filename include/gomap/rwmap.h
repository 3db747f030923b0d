/*
 * rwmap.h — a gomap guarded by one reader-writer lock: Go's `map` + `sync.RWMutex`.
 *
 * The general-purpose thread-safe map: every operation is linearizable, len
 * is exact, range sees a consistent snapshot.  Writes take the lock alone.
 * Loads of maps with fixed-size keys (u64, u32, bytes), the built-in hash and
 * values of up to 128 bytes take no lock and write nothing shared: they read
 * the map under a sequence counter that writers make odd while they change
 * it, and keep what they read only if it did not change (a seqlock, as
 * shardmap's shards do; the map's frees wait for an RCU grace period so such
 * a load never reads freed memory).  A load that keeps meeting writers, and
 * every load of other maps (string keys, user hash functions) and of
 * programs running under ThreadSanitizer, takes the lock shared.  The limit
 * is the one lock for writers (use shardmap.h for write throughput with many
 * threads, syncmap.h for read-mostly data with stable keys).
 *
 * The lock is writer-preferring, as Go's RWMutex is: once a writer waits, new
 * readers wait behind it, so a steady stream of readers cannot starve writers.
 *
 * Keys, values, the allocator hook and the error contract are the core
 * map's (gomap.h); the method set is concmap.h's, with the same meaning, and
 * a rwmap is also reachable as concmap_new("rw", ...).  Every function is
 * safe to call from any number of threads at once.  The key's hash is
 * computed before the lock is taken, so a user hash function never runs
 * under it.
 *
 * "Blocking" below means: may wait for the lock (readers wait only for a
 * writer holding or waiting for it; writers wait for everyone).  The lock is
 * never held while user code other than the hash/equality functions runs.
 */
#ifndef GOMAP_RWMAP_H
#define GOMAP_RWMAP_H

#include <gomap/concmap.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rwmap rwmap;

/* Creates a map.  0 and *out set, or EINVAL (bad config, out NULL; *out =
 * NULL) or ENOMEM.  Allocates (the handle, and cfg->hint entries). */
GOMAP_API int rwmap_new(rwmap **out, const gomap_config *cfg);

/* Frees the map.  No other thread may be using it.  NULL is allowed. */
GOMAP_API void rwmap_free(rwmap *m);

/* Copies the key's value to value_out (if not NULL) and returns whether the
 * key is present.  Lock-free while no write runs (see above); otherwise, or
 * for maps without lock-free loads, takes the shared lock and blocks only
 * behind a writer.  Never allocates. */
GOMAP_API bool rwmap_load(rwmap *m, const void *key, void *value_out);

/* Loads n keys at once.  keys: n key arguments in a row, as for
 * gomap_get_many (uint64_t, uint32_t, gomap_str or key_size bytes each).
 * Key i's value is copied to values_out + i * value_size (values_out may be
 * NULL) and found_out[i] (may be NULL) says whether it is present; returns
 * how many are.  The keys are hashed outside the lock and looked up in
 * groups of 256 under one shared-lock acquisition each, with the core map's
 * batched lookup; each key's load is linearizable, the batch as a whole is
 * not one atomic snapshot across groups.  Never allocates. */
GOMAP_API size_t rwmap_load_many(rwmap *m, const void *keys, size_t n, void *values_out,
                                 bool *found_out);

/* Inserts or overwrites.  0, or ENOMEM with the map unchanged.  Exclusive
 * lock.  Allocates when the key is new and the map must grow. */
GOMAP_API int rwmap_store(rwmap *m, const void *key, const void *value);

/* The existing value (loaded = true) or stores `value` (loaded = false);
 * actual_out receives the value now in the map.  Tries a shared-lock lookup
 * first, so a hit never takes the lock exclusively; a miss takes it
 * exclusively and looks again.  0, or ENOMEM (nothing stored).  Allocates
 * only when it inserts. */
GOMAP_API int rwmap_load_or_store(rwmap *m, const void *key, const void *value, void *actual_out,
                                  bool *loaded);

/* Deletes the key, copying its value out; returns whether it was present.
 * Exclusive lock.  Never allocates. */
GOMAP_API bool rwmap_load_and_delete(rwmap *m, const void *key, void *value_out);

/* Deletes the key (a no-op when absent).  Exclusive lock.  Never allocates. */
GOMAP_API void rwmap_delete(rwmap *m, const void *key);

/* Stores `value`, copying the previous one to previous_out; *loaded says
 * whether there was one.  0, or ENOMEM (nothing changed).  Exclusive lock.
 * Allocates only when the key is new. */
GOMAP_API int rwmap_swap(rwmap *m, const void *key, const void *value, void *previous_out,
                         bool *loaded);

/* Replaces the value if it equals old_value by bytes; an absent key never
 * swaps.  Exclusive lock.  Never allocates (the value is replaced in
 * place), so it always returns 0. */
GOMAP_API int rwmap_compare_and_swap(rwmap *m, const void *key, const void *old_value,
                                     const void *new_value, bool *swapped);

/* Deletes the key if its value equals old_value by bytes; returns whether it
 * did.  Exclusive lock.  Never allocates. */
GOMAP_API bool rwmap_compare_and_delete(rwmap *m, const void *key, const void *old_value);

/* Calls fn(key, value, ctx) for each entry until fn returns false.
 *
 * What it sees: a consistent snapshot — the entries present at one instant
 * (taken under one shared lock hold, so it is linearizable as a whole-map
 * read); each key at most once; stores and deletes made by others (or by fn)
 * after that instant are not seen.  fn runs with no lock held and may call
 * any function of this map except rwmap_free (a fatal error there).  Key
 * and value pointers point into the snapshot, valid during the call.
 *
 * Cost: copies every entry (O(len) time under the shared lock, and a buffer
 * of about len * (key + value) bytes through the allocator hook, freed before
 * returning).  If that buffer cannot be allocated, range cannot report ENOMEM
 * and does not skip entries: it falls back to copying 4 KiB chunks under
 * successive lock holds, where a key deleted and stored again after it was
 * visited may be visited again; an entry whose string key alone exceeds
 * 4 KiB is copied into a buffer of its own (from the allocator hook, or if
 * that fails from malloc).  fn never runs with the lock held.  Only when
 * even malloc fails does range stop the program ("fatal error: out of
 * memory"), as Go does when memory runs out. */
GOMAP_API void rwmap_range(rwmap *m, concmap_range_fn fn, void *ctx);

/* concmap_compute (concmap.h): an atomic read-modify-write of one key, with
 * fn called once under the exclusive lock.  0, ENOMEM or EINVAL. */
GOMAP_API int rwmap_compute(rwmap *m, const void *key, concmap_compute_fn fn, void *ctx);

/* Deletes every entry, keeping the allocated buckets.  Exclusive lock;
 * O(buckets).  Never allocates. */
GOMAP_API void rwmap_clear(rwmap *m);

/* The number of entries: exact and linearizable (a counter written under
 * the exclusive lock, read with one atomic load).  Never blocks. */
GOMAP_API size_t rwmap_len(rwmap *m);

#ifdef __cplusplus
}
#endif
#endif /* GOMAP_RWMAP_H */
