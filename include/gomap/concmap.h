/*
 * concmap.h — one interface over gomap's thread-safe maps.
 *
 * The method set is Go's sync.Map (Load, Store, LoadOrStore, LoadAndDelete,
 * Delete, Swap, CompareAndSwap, CompareAndDelete, Range, Clear) plus Len.
 * Four variants implement it, each with its own header and its own prefix:
 *
 *   name     header       Go analog                        for
 *   "rw"     rwmap.h      map + sync.RWMutex               general use, frequent writes
 *   "shard"  shardmap.h   the common sharded map           write-heavy, uniform keys
 *   "sync"   syncmap.h    sync.Map (read/dirty, go1.19)    read-mostly, write-once keys
 *   "cow"    cowmap.h     atomic.Value holding a map       rare writes, lock-free reads
 *
 * A concmap handle reaches any of them by name chosen at run time; it costs
 * one indirect call per operation over calling the variant directly.
 *
 * Keys and values follow gomap.h: keys are passed as `const void *key` of the
 * configured kind (a gomap_str for strings), values are value_size bytes
 * copied in (from `value`) and out (to `*_out` buffers, which may be NULL when
 * the caller does not want the value).  Values compare by bytes
 * (compare_and_swap, compare_and_delete).
 *
 * Errors: functions that may allocate return 0 or ENOMEM (the map unchanged);
 * functions that cannot fail return their result directly.  A key no map
 * can hold (a NULL key pointer, or a string longer than 2^47 - 1 bytes) is
 * absent from every map, and a store of it returns EINVAL.  A NULL range
 * callback visits nothing.  A NULL handle
 * reads as an empty map that cannot be written: load, load_and_delete and
 * compare_and_delete return false, len 0, range calls nothing, delete and
 * clear do nothing, concmap_kind returns NULL, and every function returning
 * an int returns EINVAL (nothing else is touched).  Every function is
 * safe to call from any number of threads at once, and every single-key
 * operation is linearizable.  Blocking, allocation, what range sees during
 * writes and how len behaves are documented per variant in its header.
 */
#ifndef GOMAP_CONCMAP_H
#define GOMAP_CONCMAP_H

#include <gomap/gomap.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct concmap concmap;

/* Options beyond gomap_config that only some variants read. */
typedef struct concmap_options {
    unsigned shard_bits;     /* shardmap: 2^shard_bits shards; 0 = default */
    unsigned sync_promotion; /* syncmap: a syncmap_promotion; 0 = Go's rule */
} concmap_options;

/* The names concmap_new accepts, NULL-terminated: "rw", "shard", "sync", "cow". */
GOMAP_API extern const char *const concmap_kinds[];

/* Creates a map of the named variant.  opts may be NULL.  Returns 0 and sets
 * *out, or EINVAL (unknown name, bad config; *out = NULL) or ENOMEM. */
GOMAP_API int concmap_new(concmap **out, const char *kind, const gomap_config *cfg,
                          const concmap_options *opts);

/* The variant's name, as given to concmap_new. */
GOMAP_API const char *concmap_kind(const concmap *m);

/* Frees the map.  No other thread may be using it.  NULL is allowed. */
GOMAP_API void concmap_free(concmap *m);

/* Copies the key's value to value_out (if not NULL) and returns true, or
 * returns false when the key is absent. */
GOMAP_API bool concmap_load(concmap *m, const void *key, void *value_out);

/* Sets the key's value (insert or overwrite).  0 or ENOMEM. */
GOMAP_API int concmap_store(concmap *m, const void *key, const void *value);

/* If the key is present, copies its value to actual_out and sets *loaded =
 * true; otherwise stores `value`, copies it to actual_out, and sets *loaded =
 * false.  0 or ENOMEM (nothing stored). */
GOMAP_API int concmap_load_or_store(concmap *m, const void *key, const void *value,
                                    void *actual_out, bool *loaded);

/* Deletes the key, copying its previous value to value_out; returns whether
 * it was present. */
GOMAP_API bool concmap_load_and_delete(concmap *m, const void *key, void *value_out);

/* Deletes the key; a no-op when absent. */
GOMAP_API void concmap_delete(concmap *m, const void *key);

/* Stores `value` and copies the previous value to previous_out; *loaded says
 * whether there was one.  0 or ENOMEM (nothing changed). */
GOMAP_API int concmap_swap(concmap *m, const void *key, const void *value, void *previous_out,
                           bool *loaded);

/* Stores `new_value` if the key is present with a value equal (by bytes) to
 * `old_value`; *swapped says whether it did.  An absent key never swaps.
 * 0 or ENOMEM (nothing changed). */
GOMAP_API int concmap_compare_and_swap(concmap *m, const void *key, const void *old_value,
                                       const void *new_value, bool *swapped);

/* Deletes the key if its value equals `old_value` by bytes; returns whether it
 * did. */
GOMAP_API bool concmap_compare_and_delete(concmap *m, const void *key, const void *old_value);

/* Calls fn for each entry; stops early when fn returns false.  Each key is
 * visited at most once; fn may call any method of the same map.  The key and
 * value pointers are valid only during the call. */
typedef bool (*concmap_range_fn)(const void *key, const void *value, void *ctx);
GOMAP_API void concmap_range(concmap *m, concmap_range_fn fn, void *ctx);

/* Deletes every entry. */
GOMAP_API void concmap_clear(concmap *m);

/* The number of entries (exact or approximate: see the variant's header). */
GOMAP_API size_t concmap_len(concmap *m);

#ifdef __cplusplus
}
#endif
#endif /* GOMAP_CONCMAP_H */
