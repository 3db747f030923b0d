/*
 * concmap_impl.h — how a thread-safe variant plugs into concmap.h.
 *
 * Each variant (rwmap.c, shardmap.c, syncmap.c, cowmap.c) defines one
 * `const struct concmap_ops` whose functions take the variant's own handle
 * as `void *`.  concmap.c keeps the table of variants and forwards each call;
 * the signatures mirror concmap.h exactly, so a variant's public functions
 * can be its ops directly.
 */
#ifndef GOMAP_CONCMAP_IMPL_H
#define GOMAP_CONCMAP_IMPL_H

#include <gomap/concmap.h>

struct concmap_ops {
    const char *name; /* as given to concmap_new: "rw", "shard", "sync", "cow" */
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
};

/* The variants, defined in their own files. */
extern const struct concmap_ops gomap_rwmap_ops;
extern const struct concmap_ops gomap_shardmap_ops;
extern const struct concmap_ops gomap_syncmap_ops;
extern const struct concmap_ops gomap_cowmap_ops;

#endif /* GOMAP_CONCMAP_IMPL_H */
