/*
 * concmap_impl.h — how a thread-safe variant plugs into concmap.h.
 *
 * Each variant (rwmap.c, shardmap.c, syncmap.c, cowmap.c) defines one
 * `const struct concmap_ops` whose functions take the variant's own handle
 * as `void *` (family.h's GOMAP__DEFINE_CONCMAP_OPS writes it from the
 * variant's public functions).  concmap.c keeps the table of variants and
 * forwards each call; the signatures mirror concmap.h exactly.
 */
#ifndef GOMAP_CONCMAP_IMPL_H
#define GOMAP_CONCMAP_IMPL_H

#include <gomap/concmap.h>

/*
 * ==== THE VARIANTS =========================================================
 * One line per variant: its id, its name (as concmap_new takes it and
 * concmap_variants lists it, in this order) and its ops table (defined in the
 * variant's own file).  This is the only place the names are written: a
 * variant names itself as GOMAP__VARIANT_NAME(id) (its probes), and the
 * benchmark, the tests and the tools read concmap_variants.  Adding a variant
 * is one line here.
 */
#define GOMAP__VARIANTS(X)                                                                         \
    X(RW, "rw", gomap_rwmap_ops)                                                                   \
    X(SHARD, "shard", gomap_shardmap_ops)                                                          \
    X(SYNC, "sync", gomap_syncmap_ops)                                                             \
    X(COW, "cow", gomap_cowmap_ops)
/* ========================================================================== */

#define GOMAP__VARIANT_ID(id, name, ops) GOMAP__VARIANT_##id,
enum gomap__variant { GOMAP__VARIANTS(GOMAP__VARIANT_ID) GOMAP__NVARIANTS };
#undef GOMAP__VARIANT_ID

/* A variant's name, e.g. GOMAP__VARIANT_NAME(SYNC) is "sync". */
#define GOMAP__VARIANT_NAME(id) (concmap_variants[GOMAP__VARIANT_##id])

struct concmap_ops {
    int (*create)(void **out, const gomap_config *cfg, const concmap_options *opts);
    void (*destroy)(void *m);
    bool (*load)(void *m, const void *key, void *value_out);
    int (*store)(void *m, const void *key, const void *value);
    int (*load_or_store)(void *m, const void *key, const void *value, void *actual_out,
                         bool *loaded);
    bool (*load_and_delete)(void *m, const void *key, void *value_out);
    void (*delete_)(void *m, const void *key);
    int (*swap)(void *m, const void *key, const void *value, void *previous_out, bool *loaded);
    int (*compare_and_swap)(void *m, const void *key, const void *old_value, const void *new_value,
                            bool *swapped);
    bool (*compare_and_delete)(void *m, const void *key, const void *old_value);
    void (*range)(void *m, concmap_range_fn fn, void *ctx);
    void (*clear)(void *m);
    size_t (*len)(void *m);
    int (*compute)(void *m, const void *key, concmap_compute_fn fn, void *ctx);
    /* NULL: concmap_store_many stores the keys one at a time through swap,
     * and takes them back if one fails (see undo_allocates). */
    int (*store_many)(void *m, size_t n, const void *keys, const void *values);
    /* Whether compare_and_swap may allocate, so that taking back a failed
     * batch's stores could itself fail: concmap_store_many then stores the
     * keys one at a time through store and keeps the prefix stored before a
     * failure (concmap.h).  Unused when store_many is set. */
    bool undo_allocates;
};

/* The variants' tables, defined in their own files. */
#define GOMAP__VARIANT_OPS(id, name, ops) extern const struct concmap_ops ops;
GOMAP__VARIANTS(GOMAP__VARIANT_OPS)
#undef GOMAP__VARIANT_OPS

#endif /* GOMAP_CONCMAP_IMPL_H */
