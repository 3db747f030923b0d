/*
 * cowmap.c — a copy-on-write map: an atomic pointer to an immutable core
 * gomap ("version"); writers copy it under a mutex, change the copy, publish
 * it with a release store and retire the old version with RCU (reclaim.h).
 * The idea is the DeepCopyMap of Go's sync/map_reference_test.go (an
 * atomic.Value holding a map), written anew.
 *
 * Invariants:
 *   - cur is NULL (empty) or a version that is never written after it was
 *     published: any number of threads read it at once (the core map allows
 *     concurrent reads, and sees no writer);
 *   - cur is stored only under mu; a version leaves cur only under mu, and is
 *     then retired by that holder, exactly once;
 *   - every access to a version happens inside a read-side section, or under
 *     mu for the current version (which only mu's holder can retire).
 */
#include <gomap/cowmap.h>

#include "compute.h"
#include "concmap_impl.h"
#include "family.h"
#include "lock_trace.h"
#include "map_internal.h"
#include "reclaim.h"
#include "tsan.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdatomic.h>
#include <string.h>

/* Old versions a map may have waiting for reclamation before its writers
 * are paced (gomap__rcu_throttle).  The goal is retired memory within a
 * small multiple of the map's own size: at any moment a map holds its
 * current version, the copy a writer is making, and what is pending; so
 * the pending versions are limited to COWMAP_RETIRED_SLACK bytes' worth, but
 * never fewer than 2 (the peak then stays near 4 copies of the map plus the
 * slack) nor more than 32 (a small map's writers then rarely wait: one grace
 * period frees a whole batch before they notice).  The size of a version is
 * estimated from its length (gomap__estimated_map_bytes). */
#define COWMAP_MAX_RETIRED_VERSIONS 32
#define COWMAP_MIN_RETIRED_VERSIONS 2
#define COWMAP_RETIRED_SLACK        ((size_t)256 * 1024)

struct cm_version {
    gomap *m;
    struct cowmap *owner;
    struct gomap__rcu_head rcu;
};

struct cowmap {
    _Atomic(struct cm_version *) cur;
    gomap_config cfg; /* immutable */
    struct gomap__reclaim reclaim;
    struct gomap__traced_mutex mu;
};

static void cm_lock(cowmap *m) {
    gomap__traced_mutex_lock(&m->mu);
}

static void cm_unlock(cowmap *m) {
    gomap__traced_mutex_unlock(&m->mu);
}

/* Acquire: pairs with the release store in cm_publish, so the version's
 * contents, written before publication, are visible. */
static struct cm_version *cm_current(cowmap *m) {
    struct cm_version *v = atomic_load_explicit(&m->cur, memory_order_acquire);
    if (v)
        GOMAP__HB_ACQUIRE(v); /* the same edge, told to TSan (tsan.h) */
    return v;
}

static void cm_version_free(cowmap *m, struct cm_version *v) {
    gomap_free(v->m);
    gomap__family_free(m->cfg.allocator, v, sizeof *v);
}

static void cm_version_free_cb(struct gomap__rcu_head *h) {
    gomap__rcu_callback_begin(h);
    struct cm_version *v = GOMAP__CONTAINER_OF(h, struct cm_version, rcu);
    cowmap *m = v->owner;
    cm_version_free(m, v);
    gomap__rcu_reclaimed(&m->reclaim); /* the last access to m */
}

/* See COWMAP_MAX_RETIRED_VERSIONS.  v is the current version (NULL: empty),
 * read inside the writer's section. */
static size_t cm_retired_limit(const cowmap *m, const struct cm_version *v) {
    if (!v)
        return COWMAP_MAX_RETIRED_VERSIONS;
    size_t bytes =
        gomap__estimated_map_bytes(gomap__key_arg_size(v->m), m->cfg.value_size, gomap_len(v->m));
    size_t n = COWMAP_RETIRED_SLACK / bytes;
    return n < COWMAP_MIN_RETIRED_VERSIONS   ? COWMAP_MIN_RETIRED_VERSIONS
           : n > COWMAP_MAX_RETIRED_VERSIONS ? COWMAP_MAX_RETIRED_VERSIONS
                                             : n;
}

/* Under mu: a private copy of `cur` (NULL: a new empty map).  O(len). */
static struct cm_version *cm_copy(cowmap *m, const struct cm_version *cur) {
    struct cm_version *v = gomap__family_alloc(m->cfg.allocator, sizeof *v);
    if (!v)
        return NULL;
    int rc = cur ? gomap_clone(cur->m, &v->m) : gomap_new(&v->m, &m->cfg);
    if (rc != 0) {
        gomap__family_free(m->cfg.allocator, v, sizeof *v);
        return NULL;
    }
    v->owner = m;
    return v;
}

/* Under mu, inside a section: makes nv (NULL: empty) current and retires
 * old.  Returns the pacing limit for the writer (cm_retired_limit). */
static size_t cm_publish(cowmap *m, struct cm_version *old, struct cm_version *nv) {
    if (nv)
        GOMAP__HB_RELEASE(nv);
    atomic_store_explicit(&m->cur, nv, memory_order_release);
    if (old)
        gomap__rcu_retire(&m->reclaim, &old->rcu, cm_version_free_cb);
    return cm_retired_limit(m, nv);
}

/* The write operations, decided on one version and applied to a copy. */
enum cm_op { CM_SWAP, CM_LOAD_OR_STORE, CM_DELETE, CM_CAS, CM_CAD };

struct cm_call {
    enum cm_op op;
    const void *key;
    const void *value;  /* SWAP, LOAD_OR_STORE, CAS: the value to store */
    const void *expect; /* CAS, CAD */
    void *out;          /* SWAP: previous; LOAD_OR_STORE: actual; DELETE: previous */
    bool result;        /* SWAP: loaded; LOAD_OR_STORE: loaded; others: done */
};

/* Decides the call on version v (NULL: empty).  Returns true when the map
 * must change (outputs then describe the change); false when the call is
 * complete as it is (outputs set). */
static bool cm_decide(const cowmap *m, const struct cm_version *v, struct cm_call *c) {
    const void *slot = v ? gomap_get(v->m, c->key) : NULL;
    size_t n = m->cfg.value_size;
    switch (c->op) {
    case CM_SWAP:
        c->result = slot != NULL;
        if (slot)
            gomap__copy_out(c->out, slot, n);
        /* Storing the bytes the key already has changes nothing. */
        return !(slot && gomap__value_equal(slot, c->value, n));
    case CM_LOAD_OR_STORE:
        c->result = slot != NULL;
        if (slot) {
            gomap__copy_out(c->out, slot, n);
            return false;
        }
        if (c->out)
            gomap__copy_in(c->out, c->value, n);
        return true;
    case CM_DELETE:
        c->result = slot != NULL;
        if (slot)
            gomap__copy_out(c->out, slot, n);
        return slot != NULL;
    case CM_CAS:
    case CM_CAD:
        c->result = slot && gomap__value_equal(slot, c->expect, n);
        return c->result;
    }
    return false;
}

/* Runs a write operation.  0 or ENOMEM (map unchanged; c->result false for
 * the operations that report success through it). */
static int cm_write(cowmap *m, struct cm_call *c) {
    int rc = 0;
    size_t limit = COWMAP_MAX_RETIRED_VERSIONS;
    gomap__rcu_enter();
    /* Lock-free first: a call that changes nothing is linearized at this
     * load and never takes the mutex. */
    if (cm_decide(m, cm_current(m), c)) {
        cm_lock(m);
        struct cm_version *cur = atomic_load_explicit(&m->cur, memory_order_relaxed);
        if (cm_decide(m, cur, c)) {
            struct cm_version *nv = cm_copy(m, cur);
            if (!nv) {
                rc = ENOMEM;
            } else if (c->op == CM_DELETE || c->op == CM_CAD) {
                gomap_delete(nv->m, c->key);
            } else {
                rc = gomap_set(nv->m, c->key, c->value);
            }
            if (rc == 0)
                limit = cm_publish(m, cur, nv);
            else if (nv)
                cm_version_free(m, nv);
        }
        cm_unlock(m);
    }
    gomap__rcu_exit();
    /* Every changing write retires a whole version: without pacing, a
     * writer in a loop outruns the grace periods and the old versions pile
     * up (hundreds of MiB for a 3,000-key map in tools/soak). */
    gomap__rcu_throttle(&m->reclaim, limit);
    if (rc != 0 && c->op != CM_SWAP && c->op != CM_LOAD_OR_STORE)
        c->result = false;
    return rc;
}

int cowmap_new(cowmap **out, const gomap_config *cfg) {
    if (out)
        *out = NULL;
    if (!out || !cfg)
        return EINVAL;
    /* Validates the config the way every version will be built. */
    gomap *probe;
    int rc = gomap_new(&probe, &(gomap_config){.key_kind = cfg->key_kind,
                                               .key_size = cfg->key_size,
                                               .value_size = cfg->value_size,
                                               .hash = cfg->hash,
                                               .equal = cfg->equal,
                                               .fn_ctx = cfg->fn_ctx,
                                               .allocator = cfg->allocator});
    if (rc)
        return rc;
    gomap_free(probe);
    cowmap *m = gomap__family_alloc(cfg->allocator, sizeof *m);
    if (!m)
        return ENOMEM;
    memset(m, 0, sizeof *m);
    atomic_init(&m->cur, NULL);
    m->cfg = *cfg;
    m->cfg.hint = 0; /* copies size themselves from the current version */
    gomap__reclaim_init(&m->reclaim);
    gomap__traced_mutex_init(&m->mu, m, GOMAP__VARIANT_NAME(COW));
    *out = m;
    return 0;
}

void cowmap_free(cowmap *m) {
    if (!m)
        return;
    gomap__rcu_free_check("cowmap_free");
    gomap__rcu_drain(&m->reclaim, "cowmap_free");
    struct cm_version *v = atomic_load_explicit(&m->cur, memory_order_relaxed);
    if (v)
        cm_version_free(m, v);
    gomap__traced_mutex_destroy(&m->mu);
    gomap__family_free(m->cfg.allocator, m, sizeof *m);
}

bool cowmap_load(cowmap *m, const void *key, void *value_out) {
    gomap__rcu_enter();
    struct cm_version *v = cm_current(m);
    const void *slot = v ? gomap_get(v->m, key) : NULL;
    if (slot)
        gomap__copy_out(value_out, slot, m->cfg.value_size);
    gomap__rcu_exit();
    return slot != NULL;
}

int cowmap_swap(cowmap *m, const void *key, const void *value, void *previous_out, bool *loaded) {
    struct cm_call c = {.op = CM_SWAP, .key = key, .value = value, .out = previous_out};
    int rc = cm_write(m, &c);
    if (rc == 0 && loaded)
        *loaded = c.result;
    return rc;
}

int cowmap_store(cowmap *m, const void *key, const void *value) {
    return cowmap_swap(m, key, value, NULL, NULL);
}

int cowmap_store_many(cowmap *m, size_t n, const void *keys, const void *values) {
    if (n == 0)
        return 0;
    if (!keys)
        return EINVAL;
    size_t ks = gomap__key_stride(&m->cfg), vs = m->cfg.value_size;
    int rc = 0;
    gomap__rcu_enter();
    cm_lock(m);
    struct cm_version *cur = atomic_load_explicit(&m->cur, memory_order_relaxed);
    struct cm_version *nv = cm_copy(m, cur);
    if (!nv)
        rc = ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = gomap_set(nv->m, (const char *)keys + i * ks,
                       values ? (const char *)values + i * vs : NULL);
    if (rc == 0)
        cm_publish(m, cur, nv);
    else if (nv)
        cm_version_free(m, nv);
    cm_unlock(m);
    gomap__rcu_exit();
    return rc;
}

int cowmap_load_or_store(cowmap *m, const void *key, const void *value, void *actual_out,
                         bool *loaded) {
    struct cm_call c = {.op = CM_LOAD_OR_STORE, .key = key, .value = value, .out = actual_out};
    int rc = cm_write(m, &c);
    if (rc == 0 && loaded)
        *loaded = c.result;
    return rc;
}

bool cowmap_load_and_delete(cowmap *m, const void *key, void *value_out) {
    struct cm_call c = {.op = CM_DELETE, .key = key, .out = value_out};
    (void)cm_write(m, &c);
    return c.result;
}

void cowmap_delete(cowmap *m, const void *key) {
    (void)cowmap_load_and_delete(m, key, NULL);
}

int cowmap_compare_and_swap(cowmap *m, const void *key, const void *old_value,
                            const void *new_value, bool *swapped) {
    struct cm_call c = {.op = CM_CAS, .key = key, .value = new_value, .expect = old_value};
    int rc = cm_write(m, &c);
    if (swapped)
        *swapped = rc == 0 && c.result;
    return rc;
}

bool cowmap_compare_and_delete(cowmap *m, const void *key, const void *old_value) {
    struct cm_call c = {.op = CM_CAD, .key = key, .expect = old_value};
    (void)cm_write(m, &c);
    return c.result;
}

/* fn runs once under mu, on the current version (which only mu's holder
 * replaces), so its decision is applied to exactly what it saw. */
int cowmap_compute(cowmap *m, const void *key, concmap_compute_fn fn, void *ctx) {
    if (!fn)
        return EINVAL;
    size_t n = m->cfg.value_size;
    gomap__value_buf buf;
    int rc = 0;
    bool changed = false;
    size_t limit = COWMAP_MAX_RETIRED_VERSIONS;
    gomap__rcu_enter();
    cm_lock(m);
    struct cm_version *cur = atomic_load_explicit(&m->cur, memory_order_relaxed);
    const void *slot = cur ? gomap_get(cur->m, key) : NULL;
    if (slot)
        memcpy(buf.bytes, slot, n);
    else
        memset(buf.bytes, 0, n);
    concmap_action act = fn(buf.bytes, slot != NULL, ctx);
    if ((act == CONCMAP_STORE && !(slot && memcmp(slot, buf.bytes, n) == 0)) ||
        (act == CONCMAP_DELETE && slot)) {
        struct cm_version *nv = cm_copy(m, cur);
        if (!nv)
            rc = ENOMEM;
        else if (act == CONCMAP_DELETE)
            gomap_delete(nv->m, key);
        else
            rc = gomap_set(nv->m, key, buf.bytes);
        if (rc == 0) {
            limit = cm_publish(m, cur, nv);
            changed = true;
        } else if (nv) {
            cm_version_free(m, nv);
        }
    }
    cm_unlock(m);
    gomap__rcu_exit();
    if (changed)
        gomap__rcu_throttle(&m->reclaim, limit);
    return rc;
}

void cowmap_range(cowmap *m, concmap_range_fn fn, void *ctx) {
    gomap__rcu_enter();
    struct cm_version *v = cm_current(m);
    if (v) {
        gomap_iter it;
        const void *key;
        void *value;
        gomap_iter_init(&it, v->m);
        while (gomap_iter_next(&it, &key, &value))
            if (!fn(key, value, ctx))
                break;
        gomap_iter_stop(&it);
    }
    gomap__rcu_exit();
}

void cowmap_clear(cowmap *m) {
    if (!cm_current(m))
        return;
    gomap__rcu_enter();
    cm_lock(m);
    struct cm_version *cur = atomic_load_explicit(&m->cur, memory_order_relaxed);
    if (cur)
        cm_publish(m, cur, NULL);
    cm_unlock(m);
    gomap__rcu_exit();
}

size_t cowmap_len(cowmap *m) {
    gomap__rcu_enter();
    struct cm_version *v = cm_current(m);
    size_t n = v ? gomap_len(v->m) : 0;
    gomap__rcu_exit();
    return n;
}

static int ops_create(void **out, const gomap_config *cfg, const concmap_options *opts) {
    (void)opts;
    return cowmap_new((cowmap **)out, cfg);
}

static int ops_store_many(void *m, size_t n, const void *keys, const void *values) {
    return cowmap_store_many((cowmap *)m, n, keys, values);
}

GOMAP__DEFINE_CONCMAP_OPS(gomap_cowmap_ops, cowmap, cowmap, ops_create, ops_store_many, false);
