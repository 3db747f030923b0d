/*
 * concmap.c — the concmap.h handle: a variant's ops table and its map, with
 * every call forwarded through the table.
 */
#include <gomap/concmap.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "concmap_impl.h"
#include "detect.h"
#include "family.h"
#include "map_internal.h"
#include "metrics.h"
#include "probes.h"

/* The variants come from GOMAP__VARIANTS (concmap_impl.h), in its order. */
#define NAME_OF(id, name, ops) name,
#define OPS_OF(id, name, ops)  &ops,

const char *const concmap_variants[] = {GOMAP__VARIANTS(NAME_OF) NULL};

/* The deprecated name of the same array (concmap.h): one object, two symbols. */
extern const char *const concmap_kinds[GOMAP__NVARIANTS + 1]
    __attribute__((alias("concmap_variants")));

static const struct concmap_ops *const variants[] = {GOMAP__VARIANTS(OPS_OF)};

_Static_assert(sizeof variants / sizeof variants[0] == GOMAP__NVARIANTS, "one ops per variant");

/* Invariant: ops is variants[i] and name concmap_variants[i] for one i, impl
 * the map ops created; all fixed for the handle's life.  The handle is
 * allocated with the map's allocator hook, kept in `alloc` to free it. */
struct concmap {
    const struct concmap_ops *ops;
    const char *name;
    void *impl;
    const gomap_allocator *alloc;
    /* From the map's config: the key kind, the size of one key in a key
     * array (gomap__key_stride) and of one value, for concmap_store_many. */
    gomap_key_kind key_kind;
    size_t key_stride, value_size;
    /* NULL until concmap_metrics_enable (which says the ordering); the
     * counter block of metrics.c, freed with the handle. */
    _Atomic(struct gomap__metrics *) metrics;
};

/* A NULL handle reads as an empty map that cannot be written: reads find
 * nothing, len is 0, range visits nothing, delete and clear do nothing, and
 * every function that returns an int returns EINVAL (unlike Go's nil map,
 * whose writes panic: in C a recoverable errno is the gentler contract, and
 * the caller already checks these codes for ENOMEM).  The check is one
 * predictable branch, taken before TRACE dereferences the handle. */
#define NULL_HANDLE(m, ret)                                                                        \
    do {                                                                                           \
        if (__builtin_expect((m) == NULL, 0))                                                      \
            return ret;                                                                            \
    } while (0)

/* concmap_op probe's op codes (probes.h). */
enum { OP_LOAD = 0, OP_STORE = 1, OP_DELETE = 2, OP_OTHER = 3 };

/* Untraced, a USDT probe is one nop; its arguments are already in
 * registers, so no GOMAP_PROBE_ENABLED guard is needed. */
/* Metrics off, the hook is one load and a predictable branch; acquire pairs
 * with the release that publishes the block (concmap_metrics_enable). */
#define TRACE(m, op)                                                                               \
    do {                                                                                           \
        GOMAP_PROBE3(concmap_op, (m)->impl, (m)->name, op);                                        \
        struct gomap__metrics *mx_ = atomic_load_explicit(&(m)->metrics, memory_order_acquire);    \
        if (__builtin_expect(mx_ != NULL, 0))                                                      \
            gomap__metrics_count(mx_, op);                                                         \
    } while (0)

int concmap_metrics_enable(concmap *m, const char *name) {
    if (!m || !name)
        return EINVAL;
    size_t len = strlen(name);
    if (len == 0 || len > GOMAP_METRICS_NAME_MAX)
        return EINVAL;
    if (atomic_load_explicit(&m->metrics, memory_order_relaxed))
        return EBUSY;
    struct gomap__metrics *mx;
    int err = gomap__metrics_register(name, m->name, &mx);
    if (err)
        return err;
    /* Release on success: pairs with the acquire load in TRACE, which then
     * sees the zeroed block.  Failure: another enable of m won meanwhile;
     * its block stays, this one goes (it was listed for that moment). */
    struct gomap__metrics *none = NULL;
    if (!atomic_compare_exchange_strong_explicit(&m->metrics, &none, mx, memory_order_release,
                                                 memory_order_relaxed)) {
        gomap__metrics_release(mx);
        return EBUSY;
    }
    return 0;
}

int concmap_metrics_read(const concmap *m, gomap_metrics_counts *out) {
    if (!m || !out)
        return EINVAL;
    /* Acquire: pairs with the release in concmap_metrics_enable. */
    struct gomap__metrics *mx = atomic_load_explicit(&m->metrics, memory_order_acquire);
    if (!mx)
        return ENOENT;
    gomap__metrics_read(mx, out);
    return 0;
}

int concmap_new(concmap **out, const char *variant, const gomap_config *cfg,
                const concmap_options *opts) {
    if (!out)
        return EINVAL;
    *out = NULL;
    if (!variant || gomap__config_check(cfg) != 0)
        return EINVAL;
    size_t i = 0;
    while (i < GOMAP__NVARIANTS && strcmp(concmap_variants[i], variant) != 0)
        i++;
    if (i == GOMAP__NVARIANTS)
        return EINVAL;
    const struct concmap_ops *ops = variants[i];
    concmap *m = gomap__family_alloc(cfg->allocator, sizeof *m);
    if (!m)
        return ENOMEM;
    m->ops = ops;
    m->name = concmap_variants[i];
    m->alloc = cfg->allocator;
    m->key_kind = cfg->key_kind;
    m->key_stride = gomap__key_stride(cfg);
    m->value_size = cfg->value_size;
    atomic_init(&m->metrics, NULL);
    int err = ops->create(&m->impl, cfg, opts);
    if (err) {
        gomap__family_free(cfg->allocator, m, sizeof *m);
        return err;
    }
    *out = m;
    return 0;
}

const char *concmap_variant(const concmap *m) {
    return m ? m->name : NULL;
}

/* The deprecated name of concmap_variant (concmap.h). */
const char *concmap_kind(const concmap *m) {
    return concmap_variant(m);
}

void concmap_free(concmap *m) {
    if (!m)
        return;
    m->ops->destroy(m->impl);
    gomap__metrics_release(atomic_load_explicit(&m->metrics, memory_order_relaxed));
    gomap__family_free(m->alloc, m, sizeof *m);
}

bool concmap_load(concmap *m, const void *key, void *value_out) {
    NULL_HANDLE(m, false);
    TRACE(m, OP_LOAD);
    return m->ops->load(m->impl, key, value_out);
}

int concmap_store(concmap *m, const void *key, const void *value) {
    NULL_HANDLE(m, EINVAL);
    TRACE(m, OP_STORE);
    return m->ops->store(m->impl, key, value);
}

/* Whether every map refuses the key (concmap.h): a NULL key pointer or an
 * absurd string (map_internal.h), the rule each store applies, checked here
 * for a whole batch before any of it is stored. */
static bool key_refused(gomap_key_kind kind, const void *key) {
    if (!key)
        return true;
    if (kind != GOMAP_KEY_STRING && kind != GOMAP_KEY_STRING_BORROWED)
        return false;
    return gomap__str_key_absurd((const gomap_str *)key);
}

/* rw's and shard's batch (concmap.h): on ENOMEM it takes back what it
 * stored, so the map is left as it was.  Each key is stored with swap, which
 * returns the key's previous value (or that it was absent) atomically with
 * the store, into an undo record allocated before the first store.  When a
 * store fails, the stores before it are undone last to first (so a key given
 * twice gets back the value it had before the batch), each only if the key
 * still holds the batch's value: compare_and_swap back to the previous value,
 * or compare_and_delete a key the batch added.  A store another thread made
 * meanwhile is newer than the batch's and stays.  In rw and shard neither
 * undo step allocates (compare_and_swap copies the value into the key's slot;
 * a delete allocates nothing), so the undo cannot fail.  A variant whose
 * compare_and_swap may allocate (undo_allocates in its ops: syncmap's
 * allocates a new value box for a large value) could not take its stores
 * back, so it keeps the stores made before the failure (concmap.h). */
static int store_many_or_undo(concmap *m, size_t n, const char *k, const char *v,
                              const char *zeros) {
    size_t vs = m->value_size;
    if (n > (SIZE_MAX - 1) / (vs + 1))
        return ENOMEM;
    /* old[i * vs]: key i's value before its store; was[i]: it had one. */
    size_t bytes = n * (vs + 1);
    char *old = gomap__family_alloc(m->alloc, bytes);
    if (!old)
        return ENOMEM;
    bool *was = (bool *)(old + n * vs);
    int rc = 0;
    size_t done = 0;
    for (; done < n; done++) {
        const char *val = v ? v + done * vs : zeros;
        rc = m->ops->swap(m->impl, k + done * m->key_stride, val, old + done * vs, &was[done]);
        if (rc != 0)
            break;
    }
    while (rc != 0 && done-- > 0) {
        const void *key = k + done * m->key_stride;
        const char *val = v ? v + done * vs : zeros;
        if (was[done]) {
            int undo = m->ops->compare_and_swap(m->impl, key, val, old + done * vs, NULL);
            GOMAP_ASSERT(undo == 0);
            (void)undo;
        } else {
            (void)m->ops->compare_and_delete(m->impl, key, val);
        }
    }
    gomap__family_free(m->alloc, old, bytes);
    return rc;
}

int concmap_store_many(concmap *m, size_t n, const void *keys, const void *values) {
    NULL_HANDLE(m, EINVAL);
    if (n == 0)
        return 0;
    if (!keys)
        return EINVAL;
    TRACE(m, OP_STORE);
    if (m->ops->store_many)
        return m->ops->store_many(m->impl, n, keys, values);
    const char *k = (const char *)keys, *v = (const char *)values;
    for (size_t i = 0; i < n; i++)
        if (key_refused(m->key_kind, k + i * m->key_stride))
            return EINVAL;
    static const char zeros[GOMAP_MAX_VALUE_SIZE];
    if (m->ops->undo_allocates) {
        for (size_t i = 0; i < n; i++) {
            int rc =
                m->ops->store(m->impl, k + i * m->key_stride, v ? v + i * m->value_size : zeros);
            if (rc != 0)
                return rc;
        }
        return 0;
    }
    return store_many_or_undo(m, n, k, v, zeros);
}

int concmap_load_or_store(concmap *m, const void *key, const void *value, void *actual_out,
                          bool *loaded) {
    NULL_HANDLE(m, EINVAL);
    TRACE(m, OP_OTHER);
    return m->ops->load_or_store(m->impl, key, value, actual_out, loaded);
}

bool concmap_load_and_delete(concmap *m, const void *key, void *value_out) {
    NULL_HANDLE(m, false);
    TRACE(m, OP_DELETE);
    return m->ops->load_and_delete(m->impl, key, value_out);
}

void concmap_delete(concmap *m, const void *key) {
    NULL_HANDLE(m, );
    TRACE(m, OP_DELETE);
    m->ops->delete_(m->impl, key);
}

int concmap_swap(concmap *m, const void *key, const void *value, void *previous_out, bool *loaded) {
    NULL_HANDLE(m, EINVAL);
    TRACE(m, OP_STORE);
    return m->ops->swap(m->impl, key, value, previous_out, loaded);
}

int concmap_compare_and_swap(concmap *m, const void *key, const void *old_value,
                             const void *new_value, bool *swapped) {
    NULL_HANDLE(m, EINVAL);
    TRACE(m, OP_OTHER);
    return m->ops->compare_and_swap(m->impl, key, old_value, new_value, swapped);
}

bool concmap_compare_and_delete(concmap *m, const void *key, const void *old_value) {
    NULL_HANDLE(m, false);
    TRACE(m, OP_DELETE);
    return m->ops->compare_and_delete(m->impl, key, old_value);
}

void concmap_range(concmap *m, concmap_range_fn fn, void *ctx) {
    NULL_HANDLE(m, );
    if (!fn)
        return;
    TRACE(m, OP_OTHER);
    m->ops->range(m->impl, fn, ctx);
}

int concmap_compute(concmap *m, const void *key, concmap_compute_fn fn, void *ctx) {
    NULL_HANDLE(m, EINVAL);
    if (!fn)
        return EINVAL;
    TRACE(m, OP_STORE);
    return m->ops->compute(m->impl, key, fn, ctx);
}

void concmap_clear(concmap *m) {
    NULL_HANDLE(m, );
    TRACE(m, OP_OTHER);
    m->ops->clear(m->impl);
}

size_t concmap_len(concmap *m) {
    NULL_HANDLE(m, 0);
    TRACE(m, OP_OTHER);
    return m->ops->len(m->impl);
}
