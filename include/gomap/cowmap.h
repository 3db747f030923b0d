/*
 * cowmap.h — a copy-on-write map: Go's atomic.Value holding a map that
 * writers replace with a modified copy (the DeepCopyMap of Go's
 * sync/map_reference_test.go).
 *
 * Safe for concurrent use by any number of threads.  For configuration-like
 * data: read very often, written rarely.  Readers never wait and never
 * write shared memory: a load is one atomic load of the current map plus a
 * lookup in it.  Every write that changes the map copies the WHOLE map:
 * O(n) time and a full second copy of the memory, under one writers' mutex
 * (so writes are serialised).  With n = 1M entries one store costs
 * milliseconds (docs/design-family.md has the figures); use an rwmap,
 * shardmap or syncmap when writes are not rare.
 *
 * Memory: the replaced map is freed with RCU (liburcu, memb flavour) once no
 * thread can still be reading it.  While a reader stalls (a long range
 * callback), every map replaced in the meantime stays allocated.
 *
 * Threads and reclamation: as syncmap.h says — no registration by hand (a
 * thread is registered on its first call and unregistered at its exit); a
 * range callback holds a read-side section, delaying all reclamation in the
 * process while it runs, and must not free a syncmap or cowmap; a program
 * that registers its own threads with liburcu's memb flavour must not call
 * cowmap from them; the allocator hook must be thread-safe (frees run on
 * gomap's reclaimer thread, or on the calling thread while it is the only
 * one using these maps, see syncmap.h).
 *
 * Per function:
 *   function            lock                        allocates, cost
 *   load                never                       never; O(1)
 *   store_many          the writers' mutex          one copy for the batch
 *   store, swap         the writers' mutex          a full copy, O(n) — except
 *                                                   a store of the value the
 *                                                   key already has: no copy
 *   load_or_store       only when the key is absent a full copy when it stores
 *   load_and_delete,    only when the key is        a full copy when it
 *   delete              present                     deletes
 *   compare_and_swap,   only when the comparison    a full copy when it
 *   compare_and_delete  holds                       succeeds
 *   range               never                       never; O(n)
 *   clear               the writers' mutex          never; O(1) (the old map
 *                                                   is freed later, O(n))
 *   len                 never                       never; O(1)
 * Calls that find nothing to change decide on the current map without the
 * mutex, and are linearized at their atomic load.
 *
 * Range iterates one version of the map: a consistent snapshot, taken at its
 * start; writes during the call (its own included) are not seen.  Len is the
 * exact length of the current version (linearizable).  Semantics otherwise
 * follow concmap.h.  ENOMEM leaves the map unchanged.
 */
#ifndef GOMAP_COWMAP_H
#define GOMAP_COWMAP_H

#include <gomap/concmap.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cowmap cowmap;

/* Creates an empty cowmap with cfg's key kind, value size, hash functions and
 * allocator.  0 and *out, or EINVAL / ENOMEM with *out = NULL.  Allocates
 * no map until the first write. */
GOMAP_API int cowmap_new(cowmap **out, const gomap_config *cfg);

/* Frees the map and every replaced version once no thread can still read
 * it.  No other thread may be using the map.  Blocks for a grace period when
 * versions are still queued and other threads use syncmaps or cowmaps; fatal error inside a range
 * callback.  NULL is allowed. */
GOMAP_API void cowmap_free(cowmap *m);

/* Copies the key's value to value_out (if not NULL); returns whether present.
 * Never blocks, never allocates. */
GOMAP_API bool cowmap_load(cowmap *m, const void *key, void *value_out);

/* Sets the key's value: copies the map, O(n).  0 or ENOMEM. */
GOMAP_API int cowmap_store(cowmap *m, const void *key, const void *value);

/* Go's LoadOrStore; copies the map only when it stores.  0 or ENOMEM. */
GOMAP_API int cowmap_load_or_store(cowmap *m, const void *key, const void *value, void *actual_out,
                                   bool *loaded);

/* Deletes the key (copying the map) and copies its previous value to
 * value_out; returns whether it deleted.  No copy when absent.  Allocation
 * failure while copying: returns false with the key kept. */
GOMAP_API bool cowmap_load_and_delete(cowmap *m, const void *key, void *value_out);

/* Deletes the key; no copy when absent.  An allocation failure while copying
 * leaves the key in place (delete cannot report it; use load_and_delete
 * and check). */
GOMAP_API void cowmap_delete(cowmap *m, const void *key);

/* Stores `value`, returning the previous one.  0 or ENOMEM. */
GOMAP_API int cowmap_swap(cowmap *m, const void *key, const void *value, void *previous_out,
                          bool *loaded);

/* Stores n keys at once, paying for one copy of the map instead of n:
 * O(len + n).  keys is an array of n keys as the other functions take them
 * (uint64_t, uint32_t, gomap_str, or key_size-byte keys, back to back);
 * values is n * value_size bytes (NULL: zeros).  A key given twice keeps
 * its last value.  Readers see all n stores at once or none.  0, ENOMEM,
 * or EINVAL (keys NULL with n > 0, or a key no map can hold: see
 * concmap.h); nothing is stored on an error. */
GOMAP_API int cowmap_store_many(cowmap *m, size_t n, const void *keys, const void *values);

/* Replaces the value if it equals old_value by bytes.  0 or ENOMEM. */
GOMAP_API int cowmap_compare_and_swap(cowmap *m, const void *key, const void *old_value,
                                      const void *new_value, bool *swapped);

/* Deletes the key if its value equals old_value by bytes; returns whether it
 * did.  Allocation failure while copying: returns false, key kept. */
GOMAP_API bool cowmap_compare_and_delete(cowmap *m, const void *key, const void *old_value);

/* Calls fn for each entry of the version current at the call's start (a
 * snapshot).  fn may call any method of the map except cowmap_free. */
GOMAP_API void cowmap_range(cowmap *m, concmap_range_fn fn, void *ctx);

/* concmap_compute (concmap.h): an atomic read-modify-write of one key, with
 * fn called once under the writer mutex.  A decision that changes the map
 * copies it (O(len)); KEEP, deleting an absent key and storing the bytes the
 * key already has copy nothing.  0, ENOMEM or EINVAL. */
GOMAP_API int cowmap_compute(cowmap *m, const void *key, concmap_compute_fn fn, void *ctx);

/* Deletes every entry: publishes an empty version.  Never allocates. */
GOMAP_API void cowmap_clear(cowmap *m);

/* The exact number of entries of the current version.  O(1). */
GOMAP_API size_t cowmap_len(cowmap *m);

#ifdef __cplusplus
}
#endif
#endif /* GOMAP_COWMAP_H */
