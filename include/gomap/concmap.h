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
 * clear do nothing, concmap_variant returns NULL, and every function returning
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

/* The variant names concmap_new accepts, NULL-terminated, in the order of
 * the table above: "rw", "shard", "sync", "cow".  A program that loops over
 * it covers every variant of the library it runs with. */
GOMAP_API extern const char *const concmap_variants[];

/* Creates a map of the named variant.  opts may be NULL.  Returns 0 and sets
 * *out, or EINVAL (unknown name, bad config; *out = NULL) or ENOMEM. */
GOMAP_API int concmap_new(concmap **out, const char *variant, const gomap_config *cfg,
                          const concmap_options *opts);

/* The variant's name, as given to concmap_new (the same pointer as its
 * entry in concmap_variants); NULL for a NULL handle. */
GOMAP_API const char *concmap_variant(const concmap *m);

/* Deprecated names of concmap_variants and concmap_variant, kept so that code
 * written against them still builds and links: concmap_kinds is the same
 * array, concmap_kind the same function.  ("Kind" is the key kind of
 * gomap_config; a map's variant is a different thing.) */
GOMAP_API extern const char *const concmap_kinds[]
    __attribute__((deprecated("use concmap_variants")));
GOMAP_API const char *concmap_kind(const concmap *m)
    __attribute__((deprecated("use concmap_variant")));

/* Frees the map.  No other thread may be using it.  NULL is allowed. */
GOMAP_API void concmap_free(concmap *m);

/* Copies the key's value to value_out (if not NULL) and returns true, or
 * returns false when the key is absent. */
GOMAP_API bool concmap_load(concmap *m, const void *key, void *value_out);

/* Sets the key's value (insert or overwrite).  0 or ENOMEM. */
GOMAP_API int concmap_store(concmap *m, const void *key, const void *value);

/* Stores n keys: keys is an array of n keys as the other functions take them
 * (n uint64_t, uint32_t or gomap_str, or n key_size-byte keys back to back),
 * values n * value_size bytes (NULL: every value zero).  The result is that
 * of concmap_store of each key in order (a key given twice keeps its last
 * value).  Returns 0; EINVAL, nothing stored, when keys is NULL with n > 0
 * or one of the keys is one no map can hold (above); or ENOMEM.
 * What a batch costs and what others see, by variant:
 *   cow          one copy of the map for the whole batch, O(len + n), instead
 *                of one per key; readers see all n stores at once or none;
 *                ENOMEM stores nothing.
 *   rw, shard,   n stores one after another (each linearizable, each taking
 *   sync         its lock as concmap_store does), O(n) expected; other
 *                threads may see the batch in part while it runs.
 *                rw, shard: ENOMEM leaves the map as it was: the batch
 *                allocates an undo record of n values first (ENOMEM if it
 *                cannot), and when a store fails it takes back the ones
 *                before it, last to first, each only if the key still holds
 *                the batch's value (a store another thread made meanwhile
 *                stays).  Others may have seen those stores meanwhile.
 *                sync: ENOMEM stops at the key whose store failed: the keys
 *                before it are stored, it and the ones after are not (taking
 *                a value back would itself need memory there).  A store is
 *                idempotent, so calling again with the same batch finishes
 *                it.
 * Thread-safe as concmap_store; n 0 does nothing and returns 0. */
GOMAP_API int concmap_store_many(concmap *m, size_t n, const void *keys, const void *values);

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

/* What a compute function asks concmap_compute to do with the key. */
typedef enum concmap_action {
    CONCMAP_KEEP = 0, /* leave the map as it was (an absent key stays absent) */
    CONCMAP_STORE,    /* store the buffer as the key's value (insert or overwrite) */
    CONCMAP_DELETE,   /* delete the key (a no-op when absent) */
} concmap_action;

/* A read-modify-write step.  `value` is a value_size-byte buffer holding the
 * key's current value when `loaded` is true, zero bytes when the key is
 * absent; fn may change it in place and returns what to do. */
typedef concmap_action (*concmap_compute_fn)(void *value, bool loaded, void *ctx);

/* Atomically reads, changes and writes one key: fn sees the key's value (or
 * its absence) and its decision is applied with no other write to that key in
 * between — no lost update (a concurrent counter:
 *     static concmap_action inc(void *v, bool loaded, void *ctx) {
 *         (void)loaded; (void)ctx; ++*(uint64_t *)v; return CONCMAP_STORE;
 *     }
 *     concmap_compute(m, &key, inc, NULL);
 * never loses an increment).  Returns 0, ENOMEM (the map unchanged: the
 * decision was not applied) or EINVAL (fn NULL, or a NULL handle).
 * How each variant does it: rw and shard run fn under the key's exclusive
 * lock (the map's, or its shard's), cow under its writer mutex (a change
 * copies the map, as any cow write: O(len)), sync in a compare-and-swap loop
 * (lock-free for a key of the read table), where fn may run more than once
 * and only its last decision is applied.  So fn must be quick, must not call
 * any method of the same map (under a lock that deadlocks), and must tolerate
 * being called again (keep its side effects in the buffer, or in ctx fields
 * that it overwrites rather than accumulates).  O(1) expected, plus fn. */
GOMAP_API int concmap_compute(concmap *m, const void *key, concmap_compute_fn fn, void *ctx);

/* Deletes every entry. */
GOMAP_API void concmap_clear(concmap *m);

/* The number of entries (exact or approximate: see the variant's header). */
GOMAP_API size_t concmap_len(concmap *m);

/* ---- typed maps ------------------------------------------------------------ */

/*
 * CONCMAP_DEFINE_TYPED(name, key_type, value_type, key_kind) is
 * GOMAP_DEFINE_TYPED (gomap.h) for the thread-safe maps: a type `name` and
 * inline wrappers of the concmap_* functions of the same names (same
 * contracts), keys and values by value:
 *
 *   name *name_new(const char *variant, size_t hint)  NULL on failure, errno
 *                                          EINVAL (unknown variant, key_type
 *                                          does not fit key_kind) or ENOMEM
 *   void  name_free(name *m)
 *   concmap *name_concmap(name *m)
 *   bool  name_load(name *m, K key, V *value)         value may be NULL
 *   int   name_store(name *m, K key, V value)         0 or ENOMEM
 *   int   name_load_or_store(name *m, K key, V value, V *actual, bool *loaded)
 *   bool  name_load_and_delete(name *m, K key, V *value)
 *   void  name_delete(name *m, K key)
 *   int   name_compute(name *m, K key, name_compute_fn fn, void *ctx)
 *           with concmap_action name_compute_fn(V *value, bool loaded, void *ctx)
 *   void  name_range(name *m, name_range_fn fn, void *ctx)
 *           with bool name_range_fn(K key, V value, void *ctx)
 *   void  name_clear(name *m)
 *   size_t name_len(name *m)
 *
 * Ready instances: concmap_stru64, concmap_u64ptr, concmap_u32u32.
 */
#define CONCMAP_DEFINE_TYPED(name, key_type, value_type, key_kind)                                 \
    typedef struct name name;                                                                      \
    typedef key_type name##_key;                                                                   \
    typedef value_type name##_value;                                                               \
    typedef concmap_action (*name##_compute_fn)(name##_value * value, bool loaded, void *ctx);     \
    typedef bool (*name##_range_fn)(name##_key key, name##_value value, void *ctx);                \
    GOMAP_MAYBE_UNUSED static inline name *name##_new(const char *variant, size_t hint) {          \
        gomap_config cfg = gomap__typed_config(                                                    \
            key_kind, GOMAP__TYPED_KEY_SIZE(key_kind, name##_key), sizeof(name##_value), hint);    \
        concmap *m = GOMAP_NULL;                                                                   \
        int err = GOMAP__TYPED_KEY_OK(key_kind, name##_key)                                        \
                      ? concmap_new(&m, variant, &cfg, GOMAP_NULL)                                 \
                      : EINVAL;                                                                    \
        return (name *)gomap__typed_result(err, m);                                                \
    }                                                                                              \
    GOMAP_MAYBE_UNUSED static inline void name##_free(name *m) {                                   \
        concmap_free((concmap *)m);                                                                \
    }                                                                                              \
    GOMAP_MAYBE_UNUSED static inline concmap *name##_concmap(name *m) {                            \
        return (concmap *)m;                                                                       \
    }                                                                                              \
    GOMAP_MAYBE_UNUSED static inline bool name##_load(name *m, name##_key key,                     \
                                                      name##_value *value) {                       \
        return concmap_load((concmap *)m, &key, value);                                            \
    }                                                                                              \
    GOMAP_MAYBE_UNUSED static inline int name##_store(name *m, name##_key key,                     \
                                                      name##_value value) {                        \
        return concmap_store((concmap *)m, &key, &value);                                          \
    }                                                                                              \
    GOMAP_MAYBE_UNUSED static inline int name##_load_or_store(                                     \
        name *m, name##_key key, name##_value value, name##_value *actual, bool *loaded) {         \
        return concmap_load_or_store((concmap *)m, &key, &value, actual, loaded);                  \
    }                                                                                              \
    GOMAP_MAYBE_UNUSED static inline bool name##_load_and_delete(name *m, name##_key key,          \
                                                                 name##_value *value) {            \
        return concmap_load_and_delete((concmap *)m, &key, value);                                 \
    }                                                                                              \
    GOMAP_MAYBE_UNUSED static inline void name##_delete(name *m, name##_key key) {                 \
        concmap_delete((concmap *)m, &key);                                                        \
    }                                                                                              \
    struct name##_fn_ctx_ {                                                                        \
        name##_compute_fn compute;                                                                 \
        name##_range_fn range;                                                                     \
        void *ctx;                                                                                 \
    };                                                                                             \
    GOMAP_MAYBE_UNUSED static inline concmap_action name##_compute_tramp_(                         \
        void *value, bool loaded, void *ctx) {                                                     \
        const struct name##_fn_ctx_ *c = (const struct name##_fn_ctx_ *)ctx;                       \
        return c->compute((name##_value *)value, loaded, c->ctx);                                  \
    }                                                                                              \
    GOMAP_MAYBE_UNUSED static inline int name##_compute(name *m, name##_key key,                   \
                                                        name##_compute_fn fn, void *ctx) {         \
        struct name##_fn_ctx_ c = {fn, GOMAP_NULL, ctx};                                           \
        return fn ? concmap_compute((concmap *)m, &key, name##_compute_tramp_, &c) : EINVAL;       \
    }                                                                                              \
    GOMAP_MAYBE_UNUSED static inline bool name##_range_tramp_(const void *key, const void *value,  \
                                                              void *ctx) {                         \
        const struct name##_fn_ctx_ *c = (const struct name##_fn_ctx_ *)ctx;                       \
        return c->range(*(const name##_key *)key, *(const name##_value *)value, c->ctx);           \
    }                                                                                              \
    GOMAP_MAYBE_UNUSED static inline void name##_range(name *m, name##_range_fn fn, void *ctx) {   \
        struct name##_fn_ctx_ c = {GOMAP_NULL, fn, ctx};                                           \
        if (fn)                                                                                    \
            concmap_range((concmap *)m, name##_range_tramp_, &c);                                  \
    }                                                                                              \
    GOMAP_MAYBE_UNUSED static inline void name##_clear(name *m) {                                  \
        concmap_clear((concmap *)m);                                                               \
    }                                                                                              \
    GOMAP_MAYBE_UNUSED static inline size_t name##_len(name *m) {                                  \
        return concmap_len((concmap *)m);                                                          \
    }                                                                                              \
    typedef int name##_defined_ /* so that a use ends with a semicolon */

CONCMAP_DEFINE_TYPED(concmap_stru64, gomap_str, uint64_t, GOMAP_KEY_STRING);
CONCMAP_DEFINE_TYPED(concmap_u64ptr, uint64_t, void *, GOMAP_KEY_U64);
CONCMAP_DEFINE_TYPED(concmap_u32u32, uint32_t, uint32_t, GOMAP_KEY_U32);

#ifdef __cplusplus
}
#endif
#endif /* GOMAP_CONCMAP_H */
