/*
 * syncmap.h — Go's sync.Map (the go1.19 read/dirty design), in C.
 *
 * Safe for concurrent use by any number of threads.  Built for two cases
 * (Go's own advice): keys written once and read many times (caches that only
 * grow), and threads that read, write and overwrite disjoint sets of keys.
 * For other workloads an rwmap or shardmap is usually faster; gomap-bench
 * measures which.
 *
 * Design (from Go's sync/map.go, written anew):
 *   - a read map: an immutable core gomap from key to entry, with an
 *     "amended" bit saying that the dirty map holds keys it lacks.  Reaching
 *     it costs one atomic load; reading it takes no lock;
 *   - a dirty map under a mutex, holding every live key (the read map's
 *     entries that are not deleted, plus new keys) while it exists;
 *   - each entry holds an atomic pointer to an immutable copy of its value,
 *     or NULL (deleted), or the "expunged" mark (deleted and absent from the
 *     dirty map).  Loads, overwrites and deletes of keys present in the read
 *     map touch only that pointer, with no lock;
 *   - loads that miss the read map and find the dirty map's lock count a
 *     miss; when misses reach the dirty map's length, the dirty map becomes
 *     the read map (promotion) and the next new key rebuilds a dirty map.
 *
 * Memory: old read maps, dead entries and replaced value copies are freed
 * with RCU (liburcu, memb flavour) once no thread can still be reading them;
 * see "Threads and reclamation" below.  Values of 1 to 8 bytes live in
 * their key's slot of the read map, beside the key, with a word that holds
 * the entry's state (present, deleted, expunged): no store allocates, a load
 * follows no pointer past the read map, and writers of one key serialise on
 * a bit of that word (loads never wait for it).  A promotion copies each of
 * the read map's slots into the new read map (O(n) under the lock, as the
 * dirty map's rebuild already is).  Per key: a 32-byte slot in the read map
 * and one in the dirty map.  Larger values:
 * each key costs an entry of 32 + value_size bytes that also holds the key's
 * first value (write-once keys need one allocation, and a load finds the
 * value beside the entry); every later value of a key is a separate block of
 * 32 + value_size bytes (the entry's inline bytes then go unused).  Plus the
 * key's slots in the read and dirty maps.
 *
 * Threads and reclamation.  No registration by hand: the first syncmap or
 * cowmap call a thread makes registers it with liburcu, and it is
 * unregistered when the thread exits.  Two rules remain for the user:
 *   1. a range callback runs inside a read-side section: while it runs (or
 *      blocks), no memory retired by any syncmap/cowmap in the process is
 *      freed — it is queued and freed once the callback returns;
 *   2. a program that registers its own threads with liburcu's memb flavour
 *      must not call syncmap/cowmap from those threads (urcu-memb cannot
 *      register a thread twice).
 * Retired memory is freed by one gomap thread per process (started the
 * first time it is needed, it takes no signals), through the map's
 * allocator hook: a custom allocator must be thread-safe.  While a single
 * thread uses syncmaps and cowmaps (no other thread that used them is
 * alive), no grace period is needed: that thread frees what it retires
 * itself, at the end of the call, and the gomap thread is not started.
 * Process events: a forked child may use, create and free maps of every
 * variant (not a map another thread was writing at the fork); TLS
 * destructors may use the maps; once a thread has used them, libgomap.so
 * is never unloaded by dlclose.  docs/errors.md has the details.
 *
 * Blocking and allocation, per function (the summary; details below):
 *   function            lock                          allocates
 *   load                never                         never
 *   store, swap         only for a key absent from    a value copy if value_size
 *                       the read map                  > 8 (plus an entry for a
 *                                                     new key; a dirty-map
 *                                                     rebuild, O(n), after a
 *                                                     promotion)
 *   load_or_store       only if the key is absent     only when it stores
 *                       from the read map
 *   load_and_delete,    only for a key absent from    never
 *   delete,             the read map while the map
 *   compare_and_delete  is amended
 *   compare_and_swap    as compare_and_delete         a value copy when the
 *                                                     comparison succeeds and
 *                                                     value_size > 8
 *   range               once, if amended (promotes)   never
 *   clear               yes                           never
 *   len                 never                         never
 * "Lock" is the map's one mutex: a locked call may wait for another; an
 * unlocked call never waits for anything.
 *
 * Semantics follow concmap.h (Go's sync.Map method set): values are copied
 * in and out, compared by bytes, and every single-key operation is
 * linearizable.  Errors: ENOMEM leaves the map unchanged.
 */
#ifndef GOMAP_SYNCMAP_H
#define GOMAP_SYNCMAP_H

#include <gomap/concmap.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct syncmap syncmap;

/* Creates an empty syncmap with cfg's key kind, value_size, hash functions
 * and allocator (cfg->hint sizes the first dirty map).  0 and *out, or
 * EINVAL / ENOMEM with *out = NULL. */
GOMAP_API int syncmap_new(syncmap **out, const gomap_config *cfg);

/* When the dirty map is promoted to the read map.  Every load of a key that
 * only the dirty map holds takes the lock and counts a miss; promotion ends
 * those misses, but the next new key must then copy the whole read map into
 * a new dirty map (O(len)).
 *   SYNCMAP_PROMOTE_GO        Go's rule: promote when misses reach
 *                             len(dirty), so a copy is paid for by as many
 *                             locked misses.  The default.
 *   SYNCMAP_PROMOTE_ADAPTIVE  follow the ratio of new keys to misses since
 *                             the last promotion: promote when
 *                             misses >= len(dirty) x inserts / (inserts +
 *                             misses).  When the lock sees mostly misses (a
 *                             few new keys read many times) promotion comes
 *                             early (after about sqrt(len) misses for one new
 *                             key), so readers stop taking the lock soon; when
 *                             it sees mostly new keys (churn) it approaches
 *                             Go's rule, so copies stay rare.  Never later
 *                             than Go's rule. */
typedef enum syncmap_promotion {
    SYNCMAP_PROMOTE_GO = 0,
    SYNCMAP_PROMOTE_ADAPTIVE = 1,
} syncmap_promotion;

/* Sets the promotion rule (takes effect at the next miss).  0, or EINVAL
 * for an unknown rule.  Thread-safe (takes the lock).  concmap_new sets it
 * from concmap_options.sync_promotion. */
GOMAP_API int syncmap_set_promotion(syncmap *m, syncmap_promotion rule);

/* Frees the map and, once no thread can still read them, everything it
 * retired.  No other thread may be using the map.  Blocks for a grace
 * period when some of its memory is still queued for reclamation; calling it
 * from inside a range callback (of any syncmap or cowmap) is a fatal error.
 * NULL is allowed. */
GOMAP_API void syncmap_free(syncmap *m);

/* Copies the key's value to value_out (if not NULL) and returns true, or
 * returns false.  Lock-free when the key is in the read map or the map is not
 * amended; otherwise takes the lock once and counts a miss (which may promote
 * the dirty map).  Never allocates. */
GOMAP_API bool syncmap_load(syncmap *m, const void *key, void *value_out);

/* Sets the key's value.  An existing key of the read map is overwritten with
 * one compare-and-swap, without the map's lock; a new key takes the lock.
 * Allocates the value copy when value_size > 8; 0 or ENOMEM. */
GOMAP_API int syncmap_store(syncmap *m, const void *key, const void *value);

/* Go's LoadOrStore: the existing value (*loaded = true) or stores `value`
 * (*loaded = false); actual_out (if not NULL) receives the value now mapped.
 * Allocates only when storing; 0 or ENOMEM. */
GOMAP_API int syncmap_load_or_store(syncmap *m, const void *key, const void *value,
                                    void *actual_out, bool *loaded);

/* Deletes the key and copies its previous value to value_out (if not NULL);
 * returns whether it was present.  Never allocates. */
GOMAP_API bool syncmap_load_and_delete(syncmap *m, const void *key, void *value_out);

/* Deletes the key; a no-op when absent.  Never allocates. */
GOMAP_API void syncmap_delete(syncmap *m, const void *key);

/* Stores `value`, copying the previous one to previous_out (if not NULL);
 * *loaded (if not NULL) says whether there was one.  0 or ENOMEM. */
GOMAP_API int syncmap_swap(syncmap *m, const void *key, const void *value, void *previous_out,
                           bool *loaded);

/* Replaces the value with new_value if it equals old_value by bytes.
 * *swapped says whether it did; an absent key never swaps.  0 or ENOMEM. */
GOMAP_API int syncmap_compare_and_swap(syncmap *m, const void *key, const void *old_value,
                                       const void *new_value, bool *swapped);

/* Deletes the key if its value equals old_value by bytes; returns whether it
 * did.  Never allocates. */
GOMAP_API bool syncmap_compare_and_delete(syncmap *m, const void *key, const void *old_value);

/* Calls fn(key, value, ctx) for each live key until fn returns false.  If the
 * map is amended, first promotes the dirty map (under the lock, once; Go does
 * the same: range is O(n) anyway), then iterates the read map without the
 * lock.  What it sees while others write (Go's rule): no key twice, and every
 * key present for the whole call exactly once (unless fn stops early); a key
 * stored or deleted during the call may or may not be seen, and a value
 * changed during the call may be seen at any state it had during the call.
 * It is not a snapshot.  fn may call any method of this map (and of others),
 * except syncmap_free/cowmap_free; key and value point into the map and are
 * valid only during the call.  Never allocates.  O(n) even if fn stops
 * early. */
GOMAP_API void syncmap_range(syncmap *m, concmap_range_fn fn, void *ctx);

/* concmap_compute (concmap.h): an atomic read-modify-write of one key, as a
 * compare-and-swap loop over load, compare_and_swap, load_or_store and
 * compare_and_delete (each lock-free for a key of the read map).  fn runs
 * with no lock held and may run more than once (another write to the key
 * between its read and its decision makes it start over); only its last
 * decision is applied.  0, ENOMEM or EINVAL. */
GOMAP_API int syncmap_compute(syncmap *m, const void *key, concmap_compute_fn fn, void *ctx);

/* Deletes every key (Go 1.23's Clear): empties the read map and the dirty
 * map under the lock.  Per key it is atomic: a store racing with clear lands
 * either before it (and is cleared) or after it.  Across keys it is not a
 * snapshot: a concurrent reader may see one key already gone and another
 * not yet.  O(n) (each entry and value is retired).  Never
 * allocates. */
GOMAP_API void syncmap_clear(syncmap *m);

/* The number of live keys: one atomic load, no lock, O(1).  Kept by a
 * counter that every write which makes a key live (absent -> present) or dead
 * (present -> absent) adjusts right after its atomic step.  With no write in
 * flight it is exact; while writes run it may differ from the true count by
 * at most the number of writes in flight (never below 0).  Not a
 * linearizable read: use it for statistics and sizing, not to decide. */
GOMAP_API size_t syncmap_len(syncmap *m);

#ifdef __cplusplus
}
#endif
#endif /* GOMAP_SYNCMAP_H */
