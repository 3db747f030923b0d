/*
 * family.h — what every thread-safe variant (rwmap.c, shardmap.c, syncmap.c,
 * cowmap.c) shares besides its plug-in table (concmap_impl.h): memory through
 * the user's allocator hook, the value copies of concmap's contract, and the
 * macro that turns a variant's public functions into its concmap ops table.
 */
#ifndef GOMAP_FAMILY_H
#define GOMAP_FAMILY_H

#include <gomap/concmap.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "concmap_impl.h"
#include "hash.h"
#include "map_internal.h"

/* ---- allocation ----------------------------------------------------------- */

/* alloc/free through the hook (NULL = malloc/free). */
void *gomap__family_alloc(const gomap_allocator *a, size_t size);
void gomap__family_free(const gomap_allocator *a, void *p, size_t size);

/* ---- value copies (value_size bytes; NULL-safe) --------------------------- */

/* Copies a value out to a caller buffer that may be NULL ("not wanted"). */
static inline void gomap__copy_out(void *dst, const void *src, size_t n) {
    if (dst && n)
        memcpy(dst, src, n);
}

/* Sets a map slot to `value`, or zero-fills it when value is NULL. */
static inline void gomap__copy_in(void *slot, const void *value, size_t n) {
    if (!n)
        return;
    if (value)
        memcpy(slot, value, n);
    else
        memset(slot, 0, n);
}

/* Byte equality of a stored value with `old` (NULL: all zero bytes), as
 * compare_and_swap and compare_and_delete define it. */
static inline bool gomap__value_equal(const void *slot, const void *old, size_t n) {
    if (!n)
        return true;
    if (old)
        return memcmp(slot, old, n) == 0;
    const unsigned char *p = slot;
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

/* ---- hashing ------------------------------------------------------------- */

/* The hash of a variant's keys, computed once per operation outside any
 * lock.  For u64 keys with the library's hash it is computed inline from
 * the secrets, without gomap__hash's call and kind dispatch.  Invariant:
 * `u64` is set only when the inline hash was checked, at creation, to equal
 * gomap__hash of the variant's hasher map (the core maps rehash their keys
 * when they grow, so any other hash would lose keys). */
struct gomap__family_hash {
    bool u64;
    gomap_hash_secret sec;
};

/* Sets fh up for maps created with cfg and seed; `hasher` is such a map. */
static inline void gomap__family_hash_init(struct gomap__family_hash *fh, const gomap *hasher,
                                           const gomap_config *cfg, uint64_t seed) {
    fh->sec = gomap__hash_secret(seed);
    fh->u64 = false;
    if (cfg->key_kind == GOMAP_KEY_U64 && !cfg->hash && !cfg->equal) {
        uint64_t probe = 0x0123456789abcdefull;
        fh->u64 = gomap__hash(hasher, &probe) == gomap__hash_u64_secret(probe, fh->sec);
    }
}

/* The inline hash of a u64 key: only when fh->u64 is set and key is not
 * NULL. */
static inline __attribute__((always_inline)) uint64_t
gomap__family_hash_u64(const struct gomap__family_hash *fh, const void *key) {
    uint64_t k;
    memcpy(&k, key, sizeof k);
    return gomap__hash_u64_secret(k, fh->sec);
}

/* gomap__hash(hasher, key); a NULL key takes gomap__hash's path, whose
 * value every operation then rejects. */
static inline __attribute__((always_inline)) uint64_t
gomap__family_hash(const struct gomap__family_hash *fh, const gomap *hasher, const void *key) {
    if (__builtin_expect(fh->u64 && key != NULL, 1))
        return gomap__family_hash_u64(fh, key);
    return gomap__hash(hasher, key);
}

/* ---- the concmap face ----------------------------------------------------- */

/* Defines `const struct concmap_ops OPS` for a variant whose public functions
 * are PREFIX_load, PREFIX_store, ... taking `TYPE *`, and whose creation from
 * concmap_new goes through CREATE(void **out, cfg, opts).  STORE_MANY and
 * UNDO_ALLOCATES are the ops fields of those names (concmap_impl.h).  The wrappers only
 * convert the handle type (calling a function through a pointer of another
 * type would be undefined behaviour).  The variant's name is not here: it is
 * written once, in GOMAP__VARIANTS (concmap_impl.h). */
#define GOMAP__DEFINE_CONCMAP_OPS(OPS, TYPE, PREFIX, CREATE, STORE_MANY, UNDO_ALLOCATES)           \
    static void PREFIX##_ops_destroy(void *m) {                                                    \
        PREFIX##_free((TYPE *)m);                                                                  \
    }                                                                                              \
    static bool PREFIX##_ops_load(void *m, const void *k, void *out) {                             \
        return PREFIX##_load((TYPE *)m, k, out);                                                   \
    }                                                                                              \
    static int PREFIX##_ops_store(void *m, const void *k, const void *v) {                         \
        return PREFIX##_store((TYPE *)m, k, v);                                                    \
    }                                                                                              \
    static int PREFIX##_ops_load_or_store(void *m, const void *k, const void *v, void *out,        \
                                          bool *loaded) {                                          \
        return PREFIX##_load_or_store((TYPE *)m, k, v, out, loaded);                               \
    }                                                                                              \
    static bool PREFIX##_ops_load_and_delete(void *m, const void *k, void *out) {                  \
        return PREFIX##_load_and_delete((TYPE *)m, k, out);                                        \
    }                                                                                              \
    static void PREFIX##_ops_delete(void *m, const void *k) {                                      \
        PREFIX##_delete((TYPE *)m, k);                                                             \
    }                                                                                              \
    static int PREFIX##_ops_swap(void *m, const void *k, const void *v, void *prev,                \
                                 bool *loaded) {                                                   \
        return PREFIX##_swap((TYPE *)m, k, v, prev, loaded);                                       \
    }                                                                                              \
    static int PREFIX##_ops_cas(void *m, const void *k, const void *o, const void *n,              \
                                bool *swapped) {                                                   \
        return PREFIX##_compare_and_swap((TYPE *)m, k, o, n, swapped);                             \
    }                                                                                              \
    static bool PREFIX##_ops_cad(void *m, const void *k, const void *o) {                          \
        return PREFIX##_compare_and_delete((TYPE *)m, k, o);                                       \
    }                                                                                              \
    static void PREFIX##_ops_range(void *m, concmap_range_fn fn, void *ctx) {                      \
        PREFIX##_range((TYPE *)m, fn, ctx);                                                        \
    }                                                                                              \
    static void PREFIX##_ops_clear(void *m) {                                                      \
        PREFIX##_clear((TYPE *)m);                                                                 \
    }                                                                                              \
    static size_t PREFIX##_ops_len(void *m) {                                                      \
        return PREFIX##_len((TYPE *)m);                                                            \
    }                                                                                              \
    static int PREFIX##_ops_compute(void *m, const void *k, concmap_compute_fn fn, void *ctx) {    \
        return PREFIX##_compute((TYPE *)m, k, fn, ctx);                                            \
    }                                                                                              \
    const struct concmap_ops OPS = {                                                               \
        .create = CREATE,                                                                          \
        .destroy = PREFIX##_ops_destroy,                                                           \
        .load = PREFIX##_ops_load,                                                                 \
        .store = PREFIX##_ops_store,                                                               \
        .load_or_store = PREFIX##_ops_load_or_store,                                               \
        .load_and_delete = PREFIX##_ops_load_and_delete,                                           \
        .delete_ = PREFIX##_ops_delete,                                                            \
        .swap = PREFIX##_ops_swap,                                                                 \
        .compare_and_swap = PREFIX##_ops_cas,                                                      \
        .compare_and_delete = PREFIX##_ops_cad,                                                    \
        .range = PREFIX##_ops_range,                                                               \
        .clear = PREFIX##_ops_clear,                                                               \
        .len = PREFIX##_ops_len,                                                                   \
        .compute = PREFIX##_ops_compute,                                                           \
        .store_many = STORE_MANY,                                                                  \
        .undo_allocates = UNDO_ALLOCATES,                                                          \
    }

#endif /* GOMAP_FAMILY_H */
