/*
 * syncmap.c — Go's sync.Map (go1.19 sync/map.go, plus Swap, CompareAndSwap,
 * CompareAndDelete from go1.20 and Clear from go1.23), written anew in C on
 * the core gomap, with RCU (reclaim.h) where Go has a garbage collector.
 *
 * The structure.
 *
 *   read     an atomic word: a pointer to an immutable table (a core gomap
 *            from key to struct sm_entry *) with the "amended" flag in its low
 *            bit.  NULL table = empty.  Stored only under mu.  A table is
 *            never written after it is published here, so any number of
 *            threads read it at once without locks (the core map allows
 *            concurrent reads; its misuse detection sees no writer).
 *   dirty    a table under mu, or NULL.  While it exists it holds every entry
 *            of the read table that is not expunged, plus the new keys
 *            (amended is set iff it holds a key the read table lacks).  It
 *            becomes the read table when misses reach its length
 *            (promotion) and is then NULL until the next new key rebuilds it
 *            from the read table (dirty_locked), O(len).
 *   entry    one per key; its atomic p is:
 *              a value copy   the key is present, with that value;
 *              NULL           deleted, and the entry is in dirty if dirty
 *                             exists (so a store may revive it in place);
 *              EXPUNGED       deleted, dirty exists and lacks the entry:
 *                             only mu's holder may revive it, by first
 *                             putting it back in dirty.
 *            An entry in both tables is the same object, so a store through
 *            the read table without the lock is seen through dirty too.
 *   values   immutable heap copies (struct sm_value), swapped in and out of
 *            entries by compare-and-swap.  For value_size 0 every present
 *            entry points to one static PRESENT copy.
 *   small    for value_size 1..8 there are no entries and no copies: the
 *            tables map a key to a slot {state, value} and the read table's
 *            slot is the key's entry (see "small values" below; the rest of
 *            this comment is about the other sizes).
 *
 * Reclamation.  An object is retired (gomap__rcu_retire) only after it has
 * been unlinked, i.e. once no thread that enters a section afterwards can
 * reach it; every operation runs inside a section, so whatever it loaded
 * stays valid until it returns.  The unlink points:
 *   - a value copy: when a CAS/exchange replaces it in its entry (the thread
 *     whose atomic step removed it retires it: exactly one thread per copy);
 *   - a table: when read stops pointing to it (promotion, clear); a dirty
 *     table is retired as read table later, or freed at syncmap_free;
 *   - an entry: (a) at promotion, the entries of the old read table that are
 *     expunged (they are in no other table: R \ D = the expunged entries,
 *     which dirty_locked links on m->expunged as it marks them); (b) when a
 *     slow-path delete removes from dirty a key the read table lacks; (c) at
 *     clear, all of them.  An expunged entry that is no longer in the read
 *     table can never be revived (reviving needs a lookup in the current read
 *     table under mu), so its p stays EXPUNGED; an entry removed from dirty
 *     under (b) is in no read table, so nothing can store into it again.
 *     Its callback frees whatever value it still points to.
 * Since a retired object is not freed before every section that could hold
 * it has ended, a pointer loaded inside a section is never reused for
 * another object during that section: the CAS loops below are free of ABA.
 *
 * Len: `live` counts entries whose p holds a value.  Each transition of p
 * between "no value" (NULL, EXPUNGED) and "a value" is one atomic step whose
 * result tells the thread which way it went; that thread then adjusts live.
 */
#include <gomap/syncmap.h>

#include "compute.h"
#include "concmap_impl.h"
#include "detect.h"
#include "family.h"
#include "lock_trace.h"
#include "map_internal.h"
#include "probes.h"
#include "reclaim.h"
#include "reclaim_inline.h"
#include "syncmap_internal.h"
#include "tsan.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The head of every object syncmap retires: the RCU link, and the owner with
 * the object's type in its two low bits (a syncmap is at least 8-aligned), so
 * that one callback frees any of them with the owner's allocator. */
struct sm_obj {
    union {
        struct gomap__rcu_head rcu; /* once retired */
        struct sm_entry *chain;     /* entries, while linked: m->expunged or a
                                       to-retire list; under mu */
    };
    uintptr_t owner_type;
};

enum sm_obj_type { SM_VALUE, SM_ENTRY, SM_TABLE };

/* An immutable copy of a value, in its own allocation (type SM_VALUE) or
 * inline: the value a key was created with lives in the entry's allocation
 * right after the entry, and the entry's address serves as the copy's (so
 * its type reads SM_ENTRY: not freed on its own, but with the entry, which
 * outlives every reader of the entry, hence of the copy).  The bytes are at
 * vdata(v) either way. */
struct sm_value {
    struct sm_obj obj;
    _Alignas(16) unsigned char data[];
};

/* The two marks: never allocated, never freed. */
static struct sm_value sm_expunged_mark;
static struct sm_value sm_present_mark;
#define EXPUNGED (&sm_expunged_mark)
#define PRESENT  (&sm_present_mark)

struct sm_entry {
    struct sm_obj obj;
    _Atomic(struct sm_value *) p; /* value copy, NULL or EXPUNGED (see above) */
    /* followed by the inline copy's bytes (value_size > 0) */
};

_Static_assert(sizeof(struct sm_entry) == offsetof(struct sm_value, data),
               "an inline copy's bytes must sit where a copy's data does");

static unsigned char *vdata(struct sm_value *v) {
    return v->data;
}

static const unsigned char *vdata_const(const struct sm_value *v) {
    return v->data;
}

/* A read or dirty table: a core map from key to struct sm_entry *, hashed
 * with the syncmap's seed so that one hash serves both tables. */
struct sm_table {
    struct sm_obj obj;
    gomap *m;
    size_t bytes; /* once retired: its estimated size (table_bytes) */
};

struct syncmap {
    /* Read by every operation; stored under mu (see the file comment). */
    _Atomic uintptr_t read;
    /* Immutable after syncmap_new. */
    gomap *hasher;                /* an empty map with the seed: computes key hashes */
    struct gomap__family_hash fh; /* the hash of `hasher`, inline for u64 keys */
    gomap_config tcfg;            /* the tables' config: value = struct sm_entry * */
    size_t vsize;                 /* the user's value_size */
    bool small;                   /* 1 <= vsize <= 8: values live in the tables' slots */
    uint64_t seed;
    struct gomap__reclaim reclaim;
    char pad0[64];
    atomic_long live; /* see "Len" above; its own cache line: every write touches it */
    char pad1[64];
    /* Under mu. */
    struct gomap__traced_mutex mu;
    struct sm_table *dirty;
    size_t misses;
    size_t inserts;            /* new keys added to dirty since the last promotion */
    syncmap_promotion rule;    /* see syncmap.h */
    struct sm_entry *expunged; /* entries dirty_locked expunged (some since revived) */
};

/* ---- memory --------------------------------------------------------------- */

static void *sm_alloc(const syncmap *m, size_t n) {
    return gomap__family_alloc(m->tcfg.allocator, n);
}

static void sm_dealloc(const syncmap *m, void *p, size_t n) {
    gomap__family_free(m->tcfg.allocator, p, n);
}

static bool value_live(const struct sm_value *v) {
    return v != NULL && v != EXPUNGED;
}

static size_t value_bytes(const syncmap *m) {
    return sizeof(struct sm_value) + m->vsize;
}

static size_t entry_bytes(const syncmap *m) {
    return sizeof(struct sm_entry) + m->vsize;
}

/* The estimated size of a table of n keys (its slot value is the entry
 * pointer or the inline value, tcfg.value_size). */
static size_t table_bytes(const syncmap *m, size_t n) {
    return gomap__estimated_map_bytes(gomap__key_arg_size(m->hasher), m->tcfg.value_size, n);
}

static void *obj_new(syncmap *m, enum sm_obj_type type, size_t size) {
    struct sm_obj *o = sm_alloc(m, size);
    if (o)
        o->owner_type = (uintptr_t)m | (uintptr_t)type;
    return o;
}

/* The type obj_new stored in the low bits of owner_type. */
static enum sm_obj_type obj_type(const struct sm_obj *o) {
    return (enum sm_obj_type)(o->owner_type & 3);
}

static void value_free_now(syncmap *m, struct sm_value *v);

/* Frees an object that nobody can reach any more (after a grace period, or
 * never published, or at syncmap_free). */
static void obj_free_now(syncmap *m, struct sm_obj *o) {
    switch (obj_type(o)) {
    case SM_VALUE:
        sm_dealloc(m, o, value_bytes(m));
        break;
    case SM_ENTRY: {
        struct sm_entry *e = (struct sm_entry *)o;
        /* Relaxed sees the final p: the grace period (or the exclusive
         * owner at free) ordered every access to it before this. */
        struct sm_value *v = atomic_load_explicit(&e->p, memory_order_relaxed);
        value_free_now(m, v);
        sm_dealloc(m, e, entry_bytes(m));
        break;
    }
    case SM_TABLE: {
        struct sm_table *t = (struct sm_table *)o;
        gomap_free(t->m);
        sm_dealloc(m, o, sizeof(struct sm_table));
        break;
    }
    }
}

/* The bytes a retired object counts in the map's pending bytes, the same at
 * its retirement and its free: a value copy's or an entry's allocation (an
 * entry's separate value copy, if it still has one when freed, is left
 * out), or a table's estimate, fixed when it was retired. */
static size_t obj_bytes(const syncmap *m, const struct sm_obj *o) {
    switch (obj_type(o)) {
    case SM_VALUE:
        return value_bytes(m);
    case SM_ENTRY:
        return entry_bytes(m);
    case SM_TABLE:
        return ((const struct sm_table *)o)->bytes;
    }
    return 0;
}

static void obj_free_cb(struct gomap__rcu_head *h) {
    struct sm_obj *o = GOMAP__CONTAINER_OF(h, struct sm_obj, rcu);
    gomap__rcu_callback_begin(h);
    syncmap *m = (syncmap *)(o->owner_type & ~(uintptr_t)3);
    size_t bytes = obj_bytes(m, o);
    obj_free_now(m, o);
    gomap__rcu_reclaimed_sized(&m->reclaim, bytes); /* the last access to m */
}

/* Retires an object this thread just unlinked (now: the map is being freed
 * and nobody can read it, free at once). */
static void obj_retire(syncmap *m, struct sm_obj *o, bool now) {
    if (now) {
        obj_free_now(m, o);
        return;
    }
    if (obj_type(o) == SM_TABLE)
        ((struct sm_table *)o)->bytes = table_bytes(m, gomap_len(((struct sm_table *)o)->m));
    gomap__rcu_retire_sized(&m->reclaim, &o->rcu, obj_free_cb, obj_bytes(m, o));
}

/* A new copy of `value` (NULL: zeros), or NULL on ENOMEM. */
static struct sm_value *value_new(syncmap *m, const void *value) {
    if (m->vsize == 0)
        return PRESENT;
    struct sm_value *v = obj_new(m, SM_VALUE, value_bytes(m));
    if (v)
        gomap__copy_in(vdata(v), value, m->vsize);
    return v;
}

/* A copy with its own allocation (not a mark, not inline in an entry). */
static bool value_owned(const struct sm_value *v) {
    return value_live(v) && v != PRESENT && obj_type((const struct sm_obj *)v) == SM_VALUE;
}

/* Frees a copy that was never published (or whose entry is being freed). */
static void value_free_now(syncmap *m, struct sm_value *v) {
    if (value_owned(v))
        obj_free_now(m, &v->obj);
}

/* Retires a copy that an atomic step of this thread just unlinked.  An
 * inline copy is not retired: it dies with its entry, which outlives every
 * reader of the entry, hence of the copy. */
static void value_retire(syncmap *m, struct sm_value *v, bool now) {
    if (value_owned(v))
        obj_retire(m, &v->obj, now);
}

static void copy_out(const syncmap *m, void *dst, const struct sm_value *v) {
    gomap__copy_out(dst, vdata_const(v), m->vsize);
}

/* By bytes; old NULL means all-zero bytes (concmap's rule, family.h). */
static bool value_equal(const syncmap *m, const struct sm_value *v, const void *old) {
    return gomap__value_equal(vdata_const(v), old, m->vsize);
}

/* A new entry holding a copy of `value` (NULL: zeros) in its own
 * allocation: a key written once and read many times (sync.Map's first use
 * case) costs one allocation, and a load finds the value next to the entry
 * instead of one more dependent cache miss away. */
static struct sm_entry *entry_new(syncmap *m, const void *value) {
    struct sm_entry *e = obj_new(m, SM_ENTRY, entry_bytes(m));
    if (!e)
        return NULL;
    struct sm_value *v = PRESENT;
    if (m->vsize) {
        v = (struct sm_value *)(void *)e;
        gomap__copy_in(vdata(v), value, m->vsize);
    }
    atomic_init(&e->p, v);
    e->obj.chain = NULL;
    return e;
}

static struct sm_table *table_new(syncmap *m, size_t hint) {
    struct sm_table *t = obj_new(m, SM_TABLE, sizeof *t);
    if (!t)
        return NULL;
    t->bytes = 0;
    gomap_config cfg = m->tcfg;
    cfg.hint = hint;
    if (gomap__new_seeded(&t->m, &cfg, m->seed) != 0) {
        sm_dealloc(m, t, sizeof *t);
        return NULL;
    }
    return t;
}

/* The key's entry in t, or NULL.  t may be NULL (empty). */
static struct sm_entry *table_find(const struct sm_table *t, const void *key, uint64_t h) {
    if (!t)
        return NULL;
    struct sm_entry *const *slot = gomap__get_hashed(t->m, key, h);
    return slot ? *slot : NULL;
}

/* ---- the read word ------------------------------------------------------- */

static struct sm_table *rd_table(uintptr_t r) {
    return (struct sm_table *)(r & ~(uintptr_t)1);
}

static bool rd_amended(uintptr_t r) {
    return (r & 1) != 0;
}

/* Acquire: pairs with the release stores of rd_publish, so the table's
 * contents (written while it was the dirty table) are visible. */
static uintptr_t rd_load(syncmap *m) {
    uintptr_t r = atomic_load_explicit(&m->read, memory_order_acquire);
    if (rd_table(r))
        GOMAP__HB_ACQUIRE(rd_table(r)); /* the same edge, told to TSan (tsan.h) */
    return r;
}

/* Under mu, the holder's own stores are the latest: relaxed suffices. */
static uintptr_t rd_locked(syncmap *m) {
    return atomic_load_explicit(&m->read, memory_order_relaxed);
}

static void rd_publish(syncmap *m, struct sm_table *t, bool amended) {
    if (t)
        GOMAP__HB_RELEASE(t);
    atomic_store_explicit(&m->read, (uintptr_t)t | (amended ? 1u : 0u), memory_order_release);
}

/* ---- Go's entry methods --------------------------------------------------- */

/* The release and acquire halves of the entry CASes below, told to TSan
 * (tsan.h): a copy's bytes are published by the atomic that installs it
 * (value_publish, before it) and read after an atomic that loaded it
 * (value_seen, after it). */
static inline void value_publish(const struct sm_value *nv) {
    if (value_live(nv))
        GOMAP__HB_RELEASE(nv);
}
static inline void value_seen(const struct sm_value *p) {
    if (value_live(p))
        GOMAP__HB_ACQUIRE(p);
}

static void live_add(syncmap *m, long d) {
    /* Relaxed: len orders nothing (see syncmap_len). */
    atomic_fetch_add_explicit(&m->live, d, memory_order_relaxed);
}

/* The entry's value, or NULL when deleted/expunged.  Acquire pairs with the
 * release half of the CAS/exchange that stored the copy, so its bytes (written
 * before) are visible. */
static struct sm_value *entry_load(struct sm_entry *e) {
    struct sm_value *v = atomic_load_explicit(&e->p, memory_order_acquire);
    value_seen(v);
    return value_live(v) ? v : NULL;
}

enum { SM_SLOW = -1 }; /* "the entry is expunged: retry under mu" */

/* Go's tryStore/trySwap: replaces p with nv unless expunged.  Returns false
 * (nothing done) when expunged; else stores the previous p in *old.
 * acq_rel: release publishes nv's bytes, acquire makes the old copy's bytes
 * readable for the caller's copy-out. */
static bool entry_try_swap(syncmap *m, struct sm_entry *e, struct sm_value *nv,
                           struct sm_value **old) {
    struct sm_value *p = atomic_load_explicit(&e->p, memory_order_acquire);
    value_publish(nv);
    for (;;) {
        if (p == EXPUNGED)
            return false;
        if (atomic_compare_exchange_weak_explicit(&e->p, &p, nv, memory_order_acq_rel,
                                                  memory_order_acquire)) {
            value_seen(p);
            if (p == NULL)
                live_add(m, 1);
            *old = p;
            return true;
        }
    }
}

/* Under mu, with e known not to be expunged (and mu keeps it so). */
static struct sm_value *entry_swap_locked(syncmap *m, struct sm_entry *e, struct sm_value *nv) {
    value_publish(nv);
    struct sm_value *old = atomic_exchange_explicit(&e->p, nv, memory_order_acq_rel);
    value_seen(old);
    if (old == NULL)
        live_add(m, 1);
    return old;
}

/* Go's unexpungeLocked, made failure-atomic: if e (found in the read table
 * under mu) is expunged, first makes room for it in dirty, then revives it
 * as NULL.  ENOMEM: nothing changed. */
static int entry_unexpunge_locked(syncmap *m, struct sm_entry *e, const void *key, uint64_t h) {
    /* Only mu's holder writes EXPUNGED or replaces it: relaxed reads it. */
    if (atomic_load_explicit(&e->p, memory_order_relaxed) != EXPUNGED)
        return 0;
    void *slot;
    if (gomap__upsert_locked(m->dirty->m, key, h, &slot, NULL) != 0)
        return ENOMEM;
    memcpy(slot, &e, sizeof e);
    /* Relaxed: NULL publishes no data; a lock-free writer that sees it only
     * CASes its own copy in. */
    atomic_store_explicit(&e->p, NULL, memory_order_relaxed);
    return 0;
}

/* Go's tryLoadOrStore.  0 (done: *loaded, actual_out set), SM_SLOW or ENOMEM
 * (nothing changed).  The copy is allocated only once it may be stored. */
static int entry_try_load_or_store(syncmap *m, struct sm_entry *e, const void *value,
                                   void *actual_out, bool *loaded) {
    struct sm_value *p = atomic_load_explicit(&e->p, memory_order_acquire), *nv = NULL;
    for (;;) {
        if (p == EXPUNGED) {
            value_free_now(m, nv);
            return SM_SLOW;
        }
        if (p) {
            value_seen(p);
            value_free_now(m, nv);
            copy_out(m, actual_out, p);
            *loaded = true;
            return 0;
        }
        if (!nv && !(nv = value_new(m, value)))
            return ENOMEM;
        value_publish(nv);
        /* acq_rel as in entry_try_swap; on failure p gets the current copy,
         * acquired for the copy-out. */
        if (atomic_compare_exchange_weak_explicit(&e->p, &p, nv, memory_order_acq_rel,
                                                  memory_order_acquire)) {
            live_add(m, 1);
            copy_out(m, actual_out, nv);
            *loaded = false;
            return 0;
        }
    }
}

/* Go's tryCompareAndSwap (go1.20).  0 or ENOMEM; *swapped.  The copy is
 * allocated only once the comparison has held. */
static int entry_try_cas(syncmap *m, struct sm_entry *e, const void *old, const void *new_value,
                         bool *swapped) {
    struct sm_value *p = atomic_load_explicit(&e->p, memory_order_acquire), *nv = NULL;
    *swapped = false;
    for (;;) {
        value_seen(p);
        if (!value_live(p) || !value_equal(m, p, old)) {
            value_free_now(m, nv);
            return 0;
        }
        if (!nv && !(nv = value_new(m, new_value)))
            return ENOMEM;
        value_publish(nv);
        if (atomic_compare_exchange_weak_explicit(&e->p, &p, nv, memory_order_acq_rel,
                                                  memory_order_acquire)) {
            value_retire(m, p, false);
            *swapped = true;
            return 0;
        }
    }
}

/* Go's entry.delete, with an optional comparison (CompareAndDelete).
 * Returns whether this call removed a value (copied to value_out). */
static bool entry_delete(syncmap *m, struct sm_entry *e, bool compare, const void *expect,
                         void *value_out) {
    struct sm_value *p = atomic_load_explicit(&e->p, memory_order_acquire);
    for (;;) {
        value_seen(p);
        if (!value_live(p) || (compare && !value_equal(m, p, expect)))
            return false;
        /* acq_rel: acquire for reading p's bytes (copy-out, comparison); the
         * release orders nothing we wrote but keeps one ordering for all of
         * p's transitions. */
        if (atomic_compare_exchange_weak_explicit(&e->p, &p, NULL, memory_order_acq_rel,
                                                  memory_order_acquire)) {
            live_add(m, -1);
            copy_out(m, value_out, p);
            value_retire(m, p, false);
            return true;
        }
    }
}

/* ---- Go's Map methods on mu ---------------------------------------------- */

static void sm_lock(syncmap *m) {
    gomap__traced_mutex_lock(&m->mu);
}

static void sm_unlock(syncmap *m) {
    gomap__traced_mutex_unlock(&m->mu);
}

/* The dirty table becomes the read table (Go's missLocked tail, and Range's
 * promotion).  Requires dirty != NULL. */
static void ss_promote_locked(syncmap *m);

static void promote_locked(syncmap *m) {
    if (m->small) {
        ss_promote_locked(m);
        return;
    }
    struct sm_table *old = rd_table(rd_locked(m));
    struct sm_table *d = m->dirty;
    GOMAP_PROBE2(syncmap_promote, m, gomap_len(d->m));
    rd_publish(m, d, false);
    m->dirty = NULL;
    m->misses = 0;
    m->inserts = 0;
    /* Unlinked now: the old table and its expunged entries (R \ D). */
    struct sm_entry *e = m->expunged;
    m->expunged = NULL;
    while (e) {
        struct sm_entry *next = e->obj.chain;
        e->obj.chain = NULL;
        if (atomic_load_explicit(&e->p, memory_order_relaxed) == EXPUNGED)
            obj_retire(m, &e->obj, false);
        e = next;
    }
    if (old)
        obj_retire(m, &old->obj, false);
}

/* Go's missLocked: counts a miss and promotes when misses reach len(dirty)
 * (or, under the adaptive rule, len(dirty) scaled by the share of new keys
 * among the lock's recent work; syncmap.h).  Requires dirty != NULL (the read
 * word was amended). */
static void miss_locked(syncmap *m) {
    m->misses++;
    size_t dlen = gomap_len(m->dirty->m);
    GOMAP_PROBE3(syncmap_miss, m, m->misses, dlen);
    if (m->rule == SYNCMAP_PROMOTE_ADAPTIVE) {
        /* misses >= dlen * ins / (ins + misses), without a division; in
         * double, since the products may pass 64 bits only in theory. */
        double ins = (double)m->inserts, mi = (double)m->misses;
        if (mi * (ins + mi) < (double)dlen * ins)
            return;
    } else if (m->misses < dlen) {
        return;
    }
    promote_locked(m);
}

/* Go's tryExpungeLocked: turns NULL into EXPUNGED; reports whether e is
 * expunged.  The CAS races only with lock-free writers storing a value
 * (NULL -> copy); relaxed suffices, EXPUNGED publishes nothing. */
static bool entry_try_expunge_locked(struct sm_entry *e) {
    struct sm_value *p = atomic_load_explicit(&e->p, memory_order_relaxed);
    while (p == NULL) {
        if (atomic_compare_exchange_weak_explicit(&e->p, &p, EXPUNGED, memory_order_relaxed,
                                                  memory_order_relaxed))
            return true;
    }
    return p == EXPUNGED;
}

/* One layout's step of Go's dirtyLocked, for one slot of the read table:
 * expunges it (false), or writes the dirty table's slot for it to `out`
 * (true).  And the undo of every expunge of a walk that ran out of memory. */
typedef bool (*sm_dirty_step)(syncmap *m, void *slot, void *out);
typedef void (*sm_dirty_undo)(syncmap *m, struct sm_table *r);

/* Go's dirtyLocked, for either layout: builds dirty from the read table by
 * one walk, `step` for each slot.  0, or ENOMEM with every expunge undone
 * and no dirty table. */
static int dirty_build_locked(syncmap *m, sm_dirty_step step, sm_dirty_undo undo) {
    if (m->dirty)
        return 0;
    struct sm_table *r = rd_table(rd_locked(m));
    struct sm_table *d = table_new(m, r ? gomap_len(r->m) : m->tcfg.hint);
    if (!d)
        return ENOMEM;
    if (r) {
        gomap_iter it;
        const void *key;
        void *slot;
        uint64_t out[2]; /* either layout's slot: an entry pointer, an ss_slot */
        gomap_iter_init(&it, r->m);
        while (gomap_iter_next(&it, &key, &slot)) {
            if (step(m, slot, out) && gomap_set(d->m, key, out) != 0) {
                undo(m, r);
                obj_free_now(m, &d->obj);
                return ENOMEM;
            }
        }
    }
    m->dirty = d;
    return 0;
}

/* The entry layout's step: a deleted entry is expunged and linked on
 * m->expunged; a live one is shared by both tables. */
static bool entry_dirty_step(syncmap *m, void *slot, void *out) {
    struct sm_entry *e;
    memcpy(&e, slot, sizeof e);
    if (entry_try_expunge_locked(e)) {
        e->obj.chain = m->expunged;
        m->expunged = e;
        return false;
    }
    memcpy(out, &e, sizeof e);
    return true;
}

/* Revives the entries the walk expunged (back to NULL). */
static void entry_dirty_undo(syncmap *m, struct sm_table *r) {
    (void)r;
    for (struct sm_entry *e = m->expunged; e; e = m->expunged) {
        m->expunged = e->obj.chain;
        e->obj.chain = NULL;
        atomic_store_explicit(&e->p, NULL, memory_order_relaxed);
    }
}

/* Go's dirtyLocked for the entry layout. */
static int dirty_locked(syncmap *m) {
    return dirty_build_locked(m, entry_dirty_step, entry_dirty_undo);
}

/* Adds a new key with `value` to dirty (Go's "else" branch of Store).  r is
 * the read word as seen under mu.  0 or ENOMEM (nothing stored). */
static int insert_new_locked(syncmap *m, const void *key, uint64_t h, const void *value,
                             uintptr_t r) {
    if (!rd_amended(r)) {
        int rc = dirty_locked(m);
        if (rc)
            return rc;
    }
    struct sm_entry *e = entry_new(m, value);
    if (!e)
        return ENOMEM;
    int rc = gomap__set_hashed_locked(m->dirty->m, key, h, &e);
    if (rc != 0) { /* ENOMEM, or EINVAL for a key no map can hold */
        obj_free_now(m, &e->obj);
        return rc;
    }
    live_add(m, 1);
    m->inserts++;
    if (!rd_amended(r))
        rd_publish(m, rd_table(r), true);
    return 0;
}

/* Removes every entry; under mu, or with exclusive access at free (now). */
static void ss_clear_locked(syncmap *m, bool now);

static void clear_locked(syncmap *m, bool now) {
    if (m->small) {
        ss_clear_locked(m, now);
        return;
    }
    struct sm_entry *doomed = NULL, *e, *next;
    /* The read table's expunged entries: in no other table. */
    for (e = m->expunged; e; e = next) {
        next = e->obj.chain;
        e->obj.chain = NULL;
        if (atomic_load_explicit(&e->p, memory_order_relaxed) == EXPUNGED) {
            e->obj.chain = doomed;
            doomed = e;
        }
    }
    m->expunged = NULL;
    /* Every other entry is in dirty, or (no dirty) in the read table.  Each
     * is expunged for good: a lock-free writer holding it then fails and
     * retries under mu, where it no longer finds it. */
    uintptr_t r = rd_locked(m);
    struct sm_table *src = m->dirty ? m->dirty : rd_table(r);
    if (src) {
        gomap_iter it;
        void *slot;
        gomap_iter_init(&it, src->m);
        while (gomap_iter_next(&it, NULL, &slot)) {
            memcpy(&e, slot, sizeof e);
            /* acq_rel: acquire so the copy we retire is fully ours; the
             * release half publishes nothing. */
            struct sm_value *old = atomic_exchange_explicit(&e->p, EXPUNGED, memory_order_acq_rel);
            value_seen(old);
            if (value_live(old)) {
                live_add(m, -1);
                value_retire(m, old, now);
            }
            e->obj.chain = doomed;
            doomed = e;
        }
    }
    /* Unlink, then retire. */
    if (r != 0)
        rd_publish(m, NULL, false);
    if (m->dirty)
        gomap_clear(m->dirty->m);
    m->misses = 0;
    m->inserts = 0;
    for (e = doomed; e; e = next) {
        next = e->obj.chain;
        obj_retire(m, &e->obj, now);
    }
    if (rd_table(r))
        obj_retire(m, &rd_table(r)->obj, now);
}

/* ---- small values: the value in the table's slot --------------------------
 *
 * For value_size 1 to 8 there are no entries and no copies: each table maps
 * a key to a struct ss_slot, and a key's value lives in the read table's
 * slot itself, beside the key a lookup has just compared, so a load follows
 * no pointer past the table.  (Go's sync.Map reaches a value through a
 * pointer to an entry, then to the value; xsync's MapOf through a pointer to
 * an immutable key-value entry.  Here the entry's states move into a word
 * beside the value instead.)
 *
 * A slot is {tag, val}.  tag's low two bits are the state of Go's entry:
 *   SS_DELETED  Go's nil: no value;
 *   SS_LIVE     val holds the value's bits;
 *   SS_EXPUNGED deleted, and the dirty table lacks the key (Go's expunged);
 * with three flags:
 *   SS_BUSY     a writer owns the slot: other writers wait, readers do not;
 *   SS_MOVED    frozen: the slot's table stopped being the read table (a
 *               promotion copied the slot into its successor, or clear
 *               emptied the map); it never changes again;
 *   SS_SHADOW   (dirty table only) the key's state and value are in the read
 *               table's slot whose address is val.
 *
 * Invariants.
 *  - While a key is in the read table, that table's slot is its only state:
 *    the dirty table (if any) holds a SHADOW slot pointing there, unless the
 *    slot is EXPUNGED.  A key only in the dirty table has a slot of its own
 *    there, DELETED or LIVE.  Dirty slots are touched only under mu.
 *  - A published read table gets no inserts (Go's read map is immutable), so
 *    its slots never move while anyone can reach the table.
 *  - A read slot's tag changes by: a writer's CAS that adds BUSY to a state
 *    that is not EXPUNGED and has no flag (ss_lock); the BUSY holder's
 *    release store of the new state (ss_unlock); under mu, DELETED ->
 *    EXPUNGED by CAS (ss_dirty_locked) and EXPUNGED -> DELETED by store (a
 *    revival: only mu's holder moves a slot out of EXPUNGED); and the freeze,
 *    under mu: a CAS that adds MOVED to a state without BUSY (ss_freeze).
 *  - val is written only by the BUSY holder, or under mu in a slot no other
 *    thread can reach (a dirty slot, a table not yet published).
 *  - Every non-EXPUNGED slot of a read table is frozen before that table
 *    stops being the read table: a writer that reaches a table that is no
 *    longer the read table finds MOVED or EXPUNGED and retries under mu.
 *
 * Linearization: a store that revives a key (DELETED -> LIVE) and a delete
 * take effect at the holder's unlock; an overwrite of a LIVE value at its
 * store to val.  A reader (ss_read) sees LIVE, then val, then LIVE again:
 * the bits it read were the value at some instant between the two tag loads
 * (written while LIVE: the value from then on; written by a reviver while
 * DELETED: the value from its unlock, which the second load saw).  A reader
 * of a frozen slot (it loaded the read word before the promotion published
 * the successor) gets the value the slot held at the freeze, which stayed
 * the value until the first write to the successor, after the publication:
 * a moment inside the reader's call. */

enum {
    SS_DELETED = 0,
    SS_LIVE = 1,
    SS_EXPUNGED = 2,
    SS_STATE = 3,
    SS_BUSY = 4,
    SS_MOVED = 8,
    SS_SHADOW = 16,
};

struct ss_slot {
    _Atomic uint64_t tag;
    _Atomic uint64_t val;
};
_Static_assert(sizeof(struct ss_slot) <= 2 * sizeof(uint64_t),
               "dirty_build_locked's slot buffer holds an ss_slot");

/* What ss_lock found when it could not take the slot. */
enum ss_lock_result { SS_TAKEN, SS_GONE /* expunged */, SS_STALE /* moved */ };

/* A value's bits (NULL: zeros, as gomap__copy_in); bytes past vsize are 0. */
static uint64_t small_bits(const syncmap *m, const void *value) {
    uint64_t b = 0;
    if (value && m->vsize == 8)
        memcpy(&b, value, 8); /* the common size, without a call */
    else if (value)
        memcpy(&b, value, m->vsize);
    return b;
}

static void small_out(const syncmap *m, void *dst, uint64_t b) {
    if (dst && m->vsize == 8)
        memcpy(dst, &b, 8);
    else if (dst)
        memcpy(dst, &b, m->vsize);
}

/* The key's slot in t, or NULL.  t may be NULL (empty). */
static struct ss_slot *ss_find(const struct sm_table *t, const void *key, uint64_t h) {
    return t ? gomap__get_hashed(t->m, key, h) : NULL;
}

static inline void ss_pause(unsigned *spins) {
    if (++*spins > 64)
        sched_yield(); /* the holder may be preempted */
#if defined(__x86_64__) || defined(__i386__)
    else
        __builtin_ia32_pause();
#endif
}

/* The lock-free read: true and *bits when the slot holds a value. */
static inline bool ss_read(struct ss_slot *s, uint64_t *bits) {
    /* Acquire: pairs with the release store (ss_unlock) that made the state
     * LIVE, so the bits written before it are visible. */
    uint64_t t = atomic_load_explicit(&s->tag, memory_order_acquire);
    if ((t & SS_STATE) != SS_LIVE)
        return false;
    /* Acquire: pairs with ss_put's release, so the tag load below sees the
     * BUSY that writer took (or later); and keeps that load after this one. */
    uint64_t b = atomic_load_explicit(&s->val, memory_order_acquire);
    t = atomic_load_explicit(&s->tag, memory_order_relaxed);
    if ((t & SS_STATE) != SS_LIVE)
        return false; /* deleted meanwhile: absent at the second load */
    *bits = b;
    return true;
}

/* Takes the slot for a write.  SS_TAKEN with its state in *state, or
 * SS_GONE / SS_STALE (nothing done).  t is the tag as last seen.  Acquire
 * pairs with the previous holder's release unlock, so its val is visible to
 * this one. */
static __attribute__((noinline)) enum ss_lock_result ss_lock_slow(struct ss_slot *s, uint64_t t,
                                                                  uint64_t *state) {
    unsigned spins = 0;
    for (;;) {
        if (t & SS_MOVED)
            return SS_STALE;
        if (t == SS_EXPUNGED)
            return SS_GONE;
        if (t & SS_BUSY) {
            ss_pause(&spins);
            t = atomic_load_explicit(&s->tag, memory_order_relaxed);
            continue;
        }
        if (atomic_compare_exchange_weak_explicit(&s->tag, &t, t | SS_BUSY, memory_order_acquire,
                                                  memory_order_relaxed)) {
            *state = t;
            return SS_TAKEN;
        }
    }
}

/* A write's first try on a slot: a CAS from LIVE, the common state, with no
 * load of the tag before it (a failed CAS loads the tag, which ss_lock_slow
 * starts from).  Acquire on success, as there; relaxed on failure: the tag
 * it loads only steers ss_lock_slow, whose own CAS acquires. */
static inline __attribute__((always_inline)) bool ss_take_live(struct ss_slot *s, uint64_t *t) {
    *t = SS_LIVE;
    return atomic_compare_exchange_strong_explicit(&s->tag, t, SS_LIVE | SS_BUSY,
                                                   memory_order_acquire, memory_order_relaxed);
}

/* ss_lock_slow with its first try inline (ss_take_live). */
static inline __attribute__((always_inline)) enum ss_lock_result ss_lock(struct ss_slot *s,
                                                                         uint64_t *state) {
    uint64_t t;
    if (__builtin_expect(ss_take_live(s, &t), 1)) {
        *state = SS_LIVE;
        return SS_TAKEN;
    }
    return ss_lock_slow(s, t, state);
}

/* Release: publishes the holder's val to readers (ss_read's first load) and
 * to the next holder (ss_lock, ss_freeze). */
static void ss_unlock(struct ss_slot *s, uint64_t state) {
    atomic_store_explicit(&s->tag, state, memory_order_release);
}

/* The holder's write of the value.  Release: pairs with ss_read's acquire
 * load of val (see there). */
static void ss_put(struct ss_slot *s, uint64_t bits) {
    atomic_store_explicit(&s->val, bits, memory_order_release);
}

/* The value, read by the slot's holder (or under mu in a dirty slot):
 * relaxed, nobody else writes it meanwhile. */
static uint64_t ss_get(struct ss_slot *s) {
    return atomic_load_explicit(&s->val, memory_order_relaxed);
}

/* Under mu: freezes a read slot for good, after its holder (if any) is done.
 * Returns the state it froze.  Acquire pairs with the last holder's release
 * unlock, so val is final and visible. */
static uint64_t ss_freeze(struct ss_slot *s) {
    unsigned spins = 0;
    uint64_t t = atomic_load_explicit(&s->tag, memory_order_relaxed);
    for (;;) {
        if (t & SS_MOVED)
            return t & SS_STATE;
        if (t & SS_BUSY) {
            ss_pause(&spins);
            t = atomic_load_explicit(&s->tag, memory_order_relaxed);
            continue;
        }
        if (atomic_compare_exchange_weak_explicit(&s->tag, &t, t | SS_MOVED, memory_order_acquire,
                                                  memory_order_relaxed))
            return t & SS_STATE;
    }
}

/* Writes a slot of a table nobody else can reach yet (a dirty table):
 * relaxed, the publication of the table (rd_publish) orders them. */
static void ss_init(struct ss_slot *s, uint64_t tag, uint64_t val) {
    atomic_store_explicit(&s->tag, tag, memory_order_relaxed);
    atomic_store_explicit(&s->val, val, memory_order_relaxed);
}

/* The operations on a taken slot.  Each ends with the unlock and adjusts
 * live when the state changed between value and no value. */

/* Swap: *had and *old report the previous value. */
static void ss_swap_taken(syncmap *m, struct ss_slot *s, uint64_t st, uint64_t nb, uint64_t *old,
                          bool *had) {
    *had = st == SS_LIVE;
    if (*had)
        *old = ss_get(s);
    ss_put(s, nb);
    ss_unlock(s, SS_LIVE);
    if (!*had)
        live_add(m, 1);
}

static void ss_load_or_store_taken(syncmap *m, struct ss_slot *s, uint64_t st, uint64_t nb,
                                   void *actual_out, bool *loaded) {
    *loaded = st == SS_LIVE;
    if (*loaded) {
        small_out(m, actual_out, ss_get(s));
        ss_unlock(s, st);
        return;
    }
    ss_put(s, nb);
    ss_unlock(s, SS_LIVE);
    live_add(m, 1);
    small_out(m, actual_out, nb);
}

static bool ss_cas_taken(struct ss_slot *s, uint64_t st, uint64_t ob, uint64_t nb) {
    bool ok = st == SS_LIVE && ss_get(s) == ob;
    if (ok)
        ss_put(s, nb);
    ss_unlock(s, st);
    return ok;
}

static bool ss_delete_taken(syncmap *m, struct ss_slot *s, uint64_t st, bool compare, uint64_t eb,
                            void *value_out) {
    bool ok = st == SS_LIVE && (!compare || ss_get(s) == eb);
    if (ok)
        small_out(m, value_out, ss_get(s));
    ss_unlock(s, ok ? SS_DELETED : st);
    if (ok)
        live_add(m, -1);
    return ok;
}

/* Under mu: the slot holding the key's state in the read word r: the read
 * table's (an expunged one is first revived into dirty), or NULL.  ENOMEM
 * when the revival could not add the key to dirty (nothing changed). */
static int ss_read_slot_locked(syncmap *m, uintptr_t r, const void *key, uint64_t h,
                               struct ss_slot **out) {
    struct ss_slot *s = ss_find(rd_table(r), key, h);
    *out = s;
    /* Only mu's holder moves a slot out of EXPUNGED: relaxed reads it. */
    if (!s || atomic_load_explicit(&s->tag, memory_order_relaxed) != SS_EXPUNGED)
        return 0;
    void *slot;
    if (gomap__upsert_locked(m->dirty->m, key, h, &slot, NULL) != 0)
        return ENOMEM;
    ss_init(slot, SS_SHADOW, (uint64_t)(uintptr_t)s);
    /* Relaxed: DELETED publishes nothing; a writer that takes the slot
     * writes its own bits. */
    atomic_store_explicit(&s->tag, SS_DELETED, memory_order_relaxed);
    return 0;
}

/* Under mu: takes a slot of the current read table or of dirty (never
 * stale, never expunged after ss_read_slot_locked). */
static uint64_t ss_lock_locked(struct ss_slot *s) {
    uint64_t st;
    if (ss_lock(s, &st) != SS_TAKEN)
        gomap__internal_error("syncmap: a current slot expunged or frozen under mu");
    return st;
}

/* Under mu: the small layout's step of Go's dirtyLocked: a DELETED read
 * slot is expunged; any other gets a SHADOW slot in dirty, pointing at it. */
static bool ss_dirty_step(syncmap *m, void *slot, void *out) {
    (void)m;
    struct ss_slot *s = slot;
    /* Relaxed: the CAS races only with writers that take a DELETED slot;
     * EXPUNGED publishes nothing (Go's tryExpungeLocked). */
    uint64_t t = atomic_load_explicit(&s->tag, memory_order_relaxed);
    while (t == SS_DELETED)
        if (atomic_compare_exchange_weak_explicit(&s->tag, &t, SS_EXPUNGED, memory_order_relaxed,
                                                  memory_order_relaxed))
            return false;
    struct ss_slot sh = {SS_SHADOW, (uint64_t)(uintptr_t)s};
    memcpy(out, &sh, sizeof sh);
    return true;
}

/* Turns the walk's EXPUNGED read slots back into DELETED ones. */
static void ss_dirty_undo(syncmap *m, struct sm_table *r) {
    (void)m;
    gomap_iter it;
    void *slot;
    gomap_iter_init(&it, r->m);
    while (gomap_iter_next(&it, NULL, &slot)) {
        struct ss_slot *s = slot;
        if (atomic_load_explicit(&s->tag, memory_order_relaxed) == SS_EXPUNGED)
            atomic_store_explicit(&s->tag, SS_DELETED, memory_order_relaxed);
    }
}

/* Under mu: the dirty table from the read table (Go's dirtyLocked), every
 * slot a SHADOW of its read slot but the deleted ones, which are expunged.
 * 0, or ENOMEM with the expunged slots restored and no dirty table. */
static int ss_dirty_locked(syncmap *m) {
    return dirty_build_locked(m, ss_dirty_step, ss_dirty_undo);
}

/* Under mu: dirty becomes the read table.  Every SHADOW slot first takes
 * the state and value of the read slot it stands for, which is frozen; the
 * read table's other slots are EXPUNGED.  Then the table is published
 * (release: the copies are visible to whoever acquires it) and the old one
 * retired. */
static void ss_promote_locked(syncmap *m) {
    struct sm_table *old = rd_table(rd_locked(m));
    struct sm_table *d = m->dirty;
    GOMAP_PROBE2(syncmap_promote, m, gomap_len(d->m));
    gomap_iter it;
    void *slot;
    gomap_iter_init(&it, d->m);
    while (gomap_iter_next(&it, NULL, &slot)) {
        struct ss_slot *s = slot;
        if (atomic_load_explicit(&s->tag, memory_order_relaxed) != SS_SHADOW)
            continue;
        struct ss_slot *src = (struct ss_slot *)(uintptr_t)ss_get(s);
        uint64_t st = ss_freeze(src);
        ss_init(s, st, ss_get(src));
    }
    rd_publish(m, d, false);
    m->dirty = NULL;
    m->misses = 0;
    m->inserts = 0;
    if (old)
        obj_retire(m, &old->obj, false);
}

/* Under mu: adds a new key to dirty (Go's "else" branch of Store). */
static int ss_insert_new_locked(syncmap *m, const void *key, uint64_t h, uint64_t nb, uintptr_t r) {
    if (!rd_amended(r)) {
        int rc = ss_dirty_locked(m);
        if (rc)
            return rc;
    }
    struct ss_slot s = {SS_LIVE, nb};
    int rc = gomap__set_hashed_locked(m->dirty->m, key, h, &s);
    if (rc != 0)
        return rc;
    live_add(m, 1);
    m->inserts++;
    if (!rd_amended(r))
        rd_publish(m, rd_table(r), true);
    return 0;
}

/* Under mu, or with exclusive access at free (now): removes every key.  The
 * read slots are frozen (a writer holding the old table retries under mu and
 * finds the map empty; a reader sees the state at the freeze). */
static void ss_clear_locked(syncmap *m, bool now) {
    uintptr_t r = rd_locked(m);
    long gone = 0;
    if (rd_table(r)) {
        gomap_iter it;
        void *slot;
        gomap_iter_init(&it, rd_table(r)->m);
        while (gomap_iter_next(&it, NULL, &slot))
            gone += ss_freeze(slot) == SS_LIVE;
    }
    if (m->dirty) {
        gomap_iter it;
        void *slot;
        gomap_iter_init(&it, m->dirty->m);
        while (gomap_iter_next(&it, NULL, &slot))
            gone += atomic_load_explicit(&((struct ss_slot *)slot)->tag, memory_order_relaxed) ==
                    SS_LIVE;
        gomap_clear(m->dirty->m);
    }
    live_add(m, -gone);
    if (r != 0)
        rd_publish(m, NULL, false);
    m->misses = 0;
    m->inserts = 0;
    if (rd_table(r))
        obj_retire(m, &rd_table(r)->obj, now);
}

static bool ss_load(syncmap *m, const void *key, uint64_t h, void *value_out) {
    gomap__rcu_enter_inline(); /* reclaim_inline.h */
    uintptr_t r = rd_load(m);
    struct ss_slot *s = ss_find(rd_table(r), key, h);
    uint64_t b;
    bool found;
    if (s) {
        found = ss_read(s, &b);
    } else if (!rd_amended(r)) {
        found = false;
    } else {
        sm_lock(m);
        r = rd_locked(m);
        s = ss_find(rd_table(r), key, h);
        if (s) {
            found = ss_read(s, &b);
        } else {
            found = false;
            if (rd_amended(r)) {
                s = ss_find(m->dirty, key, h);
                found = s && ss_read(s, &b);
                miss_locked(m);
            }
        }
        sm_unlock(m);
    }
    if (found)
        small_out(m, value_out, b);
    gomap__rcu_exit_inline();
    return found;
}

/* Inline in syncmap_swap and syncmap_store, where a store's NULL outputs
 * fold away. */
static inline __attribute__((always_inline)) int ss_swap(syncmap *m, const void *key, uint64_t h,
                                                         const void *value, void *previous_out,
                                                         bool *loaded) {
    int rc = 0;
    uint64_t nb = small_bits(m, value), old = 0, st;
    bool had = false;
    gomap__rcu_enter_inline();
    struct ss_slot *s = ss_find(rd_table(rd_load(m)), key, h);
    if (__builtin_expect(s != NULL && ss_take_live(s, &st), 1)) {
        /* The overwrite of a present key, inline: syncmap_store asks for no
         * previous value, so nothing is read back, and the state stays LIVE,
         * so live does not change. */
        had = true;
        if (previous_out)
            old = ss_get(s);
        ss_put(s, nb);
        ss_unlock(s, SS_LIVE);
    } else if (s && ss_lock_slow(s, st, &st) == SS_TAKEN) {
        ss_swap_taken(m, s, st, nb, &old, &had);
    } else {
        sm_lock(m);
        uintptr_t r = rd_locked(m);
        rc = ss_read_slot_locked(m, r, key, h, &s);
        if (rc == 0 && (s || (s = ss_find(m->dirty, key, h))))
            ss_swap_taken(m, s, ss_lock_locked(s), nb, &old, &had);
        else if (rc == 0)
            rc = ss_insert_new_locked(m, key, h, nb, r);
        sm_unlock(m);
    }
    if (rc == 0) {
        if (loaded)
            *loaded = had;
        if (had)
            small_out(m, previous_out, old);
    }
    gomap__rcu_exit_inline();
    return rc;
}

static int ss_load_or_store(syncmap *m, const void *key, uint64_t h, const void *value,
                            void *actual_out, bool *loaded) {
    int rc = 0;
    uint64_t nb = small_bits(m, value), st;
    bool was = false;
    gomap__rcu_enter_inline();
    struct ss_slot *s = ss_find(rd_table(rd_load(m)), key, h);
    if (s && ss_lock(s, &st) == SS_TAKEN) {
        ss_load_or_store_taken(m, s, st, nb, actual_out, &was);
    } else {
        sm_lock(m);
        uintptr_t r = rd_locked(m);
        rc = ss_read_slot_locked(m, r, key, h, &s);
        if (rc == 0 && s) {
            ss_load_or_store_taken(m, s, ss_lock_locked(s), nb, actual_out, &was);
        } else if (rc == 0 && (s = ss_find(m->dirty, key, h))) {
            ss_load_or_store_taken(m, s, ss_lock_locked(s), nb, actual_out, &was);
            miss_locked(m);
        } else if (rc == 0) {
            rc = ss_insert_new_locked(m, key, h, nb, r);
            if (rc == 0)
                small_out(m, actual_out, nb);
        }
        sm_unlock(m);
    }
    gomap__rcu_exit_inline();
    if (rc == 0 && loaded)
        *loaded = was;
    return rc;
}

/* The delete family (Go's LoadAndDelete, CompareAndDelete): lock-free in
 * the read table, else under mu in dirty (counting a miss).  A key found
 * only in dirty is removed from it unless `compare` (Go keeps it there: the
 * comparison may fail; it is expunged at the next rebuild). */
static bool ss_delete(syncmap *m, const void *key, uint64_t h, bool compare, uint64_t eb,
                      void *value_out) {
    bool ok = false;
    uint64_t st;
    gomap__rcu_enter_inline();
    uintptr_t r = rd_load(m);
    struct ss_slot *s = ss_find(rd_table(r), key, h);
    enum ss_lock_result lr = s ? ss_lock(s, &st) : SS_STALE;
    if (lr == SS_TAKEN) {
        ok = ss_delete_taken(m, s, st, compare, eb, value_out);
    } else if (lr == SS_STALE && (s || rd_amended(r))) {
        sm_lock(m);
        r = rd_locked(m);
        /* An expunged slot is a deleted key: not revived here. */
        if ((s = ss_find(rd_table(r), key, h))) {
            if (ss_lock(s, &st) == SS_TAKEN)
                ok = ss_delete_taken(m, s, st, compare, eb, value_out);
        } else if (rd_amended(r) && (s = ss_find(m->dirty, key, h))) {
            ok = ss_delete_taken(m, s, ss_lock_locked(s), compare, eb, value_out);
            if (!compare)
                gomap__delete_hashed_locked(m->dirty->m, key, h);
            miss_locked(m);
        }
        sm_unlock(m);
    }
    gomap__rcu_exit_inline();
    return ok;
}

static bool ss_compare_and_swap(syncmap *m, const void *key, uint64_t h, const void *old_value,
                                const void *new_value) {
    bool ok = false;
    uint64_t st, ob = small_bits(m, old_value), nb = small_bits(m, new_value);
    gomap__rcu_enter_inline();
    uintptr_t r = rd_load(m);
    struct ss_slot *s = ss_find(rd_table(r), key, h);
    enum ss_lock_result lr = s ? ss_lock(s, &st) : SS_STALE;
    if (lr == SS_TAKEN) {
        ok = ss_cas_taken(s, st, ob, nb);
    } else if (lr == SS_STALE && (s || rd_amended(r))) {
        sm_lock(m);
        r = rd_locked(m);
        if ((s = ss_find(rd_table(r), key, h))) {
            if (ss_lock(s, &st) == SS_TAKEN) /* expunged: no value to compare */
                ok = ss_cas_taken(s, st, ob, nb);
        } else if (rd_amended(r) && (s = ss_find(m->dirty, key, h))) {
            ok = ss_cas_taken(s, ss_lock_locked(s), ob, nb);
            miss_locked(m);
        }
        sm_unlock(m);
    }
    gomap__rcu_exit_inline();
    return ok;
}

/* Range over the read table (after promoting an amended dirty table). */
static void ss_range(syncmap *m, uintptr_t r, concmap_range_fn fn, void *ctx) {
    struct sm_table *t = rd_table(r);
    if (!t)
        return;
    gomap_iter it;
    const void *key;
    void *slot;
    gomap_iter_init(&it, t->m);
    while (gomap_iter_next(&it, &key, &slot)) {
        uint64_t b;
        unsigned char buf[sizeof b];
        if (!ss_read(slot, &b))
            continue;
        small_out(m, buf, b);
        if (!fn(key, buf, ctx))
            break;
    }
    gomap_iter_stop(&it);
}

/* ---- public API ----------------------------------------------------------- */

int syncmap_new(syncmap **out, const gomap_config *cfg) {
    if (out)
        *out = NULL;
    if (!out || !cfg || cfg->value_size > GOMAP_MAX_VALUE_SIZE)
        return EINVAL;
    gomap_config tcfg = *cfg;
    bool small = cfg->value_size >= 1 && cfg->value_size <= sizeof(uint64_t);
    tcfg.value_size = small ? sizeof(struct ss_slot) : sizeof(struct sm_entry *);
    uint64_t seed = gomap__random64();
    gomap *hasher;
    tcfg.hint = 0;
    int rc = gomap__new_seeded(&hasher, &tcfg, seed);
    if (rc)
        return rc;
    tcfg.hint = cfg->hint;
    syncmap *m = gomap__family_alloc(cfg->allocator, sizeof *m);
    if (!m) {
        gomap_free(hasher);
        return ENOMEM;
    }
    memset(m, 0, sizeof *m);
    atomic_init(&m->read, 0);
    m->hasher = hasher;
    gomap__family_hash_init(&m->fh, hasher, cfg, seed);
    m->tcfg = tcfg;
    m->vsize = cfg->value_size;
    m->small = small;
    m->seed = seed;
    gomap__reclaim_init(&m->reclaim);
    atomic_init(&m->live, 0);
    gomap__traced_mutex_init(&m->mu, m, GOMAP__VARIANT_NAME(SYNC));
    /* The hint sizes the first dirty table.  Built now, so that a hint no
     * memory can hold is ENOMEM here (as for the other variants) rather
     * than on every store; an empty dirty table with amended clear is a
     * valid state (dirty holds every read entry: none). */
    if (cfg->hint) {
        m->dirty = table_new(m, cfg->hint);
        if (!m->dirty) {
            gomap__traced_mutex_destroy(&m->mu);
            gomap_free(hasher);
            sm_dealloc(m, m, sizeof *m);
            return ENOMEM;
        }
    }
    *out = m;
    return 0;
}

void syncmap_free(syncmap *m) {
    if (!m)
        return;
    gomap__rcu_free_check("syncmap_free");
    /* The caller guarantees exclusive use: free what is linked at once, then
     * wait for what was retired earlier (its callbacks use m). */
    clear_locked(m, true);
    gomap__rcu_drain(&m->reclaim, "syncmap_free");
    if (m->dirty)
        obj_free_now(m, &m->dirty->obj);
    gomap_free(m->hasher);
    gomap__traced_mutex_destroy(&m->mu);
    sm_dealloc(m, m, sizeof *m);
}

bool syncmap_load(syncmap *m, const void *key, void *value_out) {
    uint64_t h = gomap__family_hash(&m->fh, m->hasher, key);
    if (m->small)
        return ss_load(m, key, h, value_out);
    gomap__rcu_enter_inline(); /* reclaim_inline.h */
    uintptr_t r = rd_load(m);
    struct sm_entry *e = table_find(rd_table(r), key, h);
    if (!e && rd_amended(r)) {
        sm_lock(m);
        /* Go: avoid a spurious miss if dirty was promoted while we waited. */
        r = rd_locked(m);
        e = table_find(rd_table(r), key, h);
        if (!e && rd_amended(r)) {
            e = table_find(m->dirty, key, h);
            miss_locked(m);
        }
        sm_unlock(m);
    }
    struct sm_value *v = e ? entry_load(e) : NULL;
    if (v)
        copy_out(m, value_out, v);
    gomap__rcu_exit_inline();
    return v != NULL;
}

/* The bytes of retired objects (value copies, entries, old tables) a map
 * may have waiting for reclamation before its writers are paced: twice the
 * estimated size of its live contents (a table of its keys and their
 * entries) plus SYNCMAP_RETIRED_SLACK, so that retired memory stays within
 * a small multiple of the map.  Counted in bytes, not objects: an old table
 * is one object but the size of the map, and since the tables hold small
 * values in their slots a retired table is the larger part of what waits.
 * Called after the section, outside any lock (gomap__rcu_throttle_bytes may
 * wait for the reclaimer). */
#define SYNCMAP_RETIRED_SLACK ((size_t)256 * 1024)

static void sm_pace(syncmap *m) {
    long live = atomic_load_explicit(&m->live, memory_order_relaxed);
    size_t n = live > 0 ? (size_t)live : 0;
    size_t limit = 2 * (table_bytes(m, n) + n * entry_bytes(m)) + SYNCMAP_RETIRED_SLACK;
    gomap__rcu_throttle_bytes(&m->reclaim, limit);
}

/* syncmap_swap in the entry layout. */
static int entry_swap(syncmap *m, const void *key, uint64_t h, const void *value,
                      void *previous_out, bool *loaded) {
    int rc = 0;
    struct sm_value *old = NULL, *nv = NULL;
    gomap__rcu_enter();
    struct sm_entry *e = table_find(rd_table(rd_load(m)), key, h);
    if (e && !(nv = value_new(m, value))) {
        rc = ENOMEM;
    } else if (!e || !entry_try_swap(m, e, nv, &old)) {
        sm_lock(m);
        uintptr_t r = rd_locked(m);
        struct sm_entry *in_read = table_find(rd_table(r), key, h);
        if ((e = in_read ? in_read : table_find(m->dirty, key, h))) {
            /* A copy is needed now (a new key's goes inline instead). */
            if (!nv && !(nv = value_new(m, value)))
                rc = ENOMEM;
            else if (in_read)
                rc = entry_unexpunge_locked(m, e, key, h);
            if (rc == 0)
                old = entry_swap_locked(m, e, nv);
        } else {
            rc = insert_new_locked(m, key, h, value, r);
            value_free_now(m, nv); /* unused: stored inline */
            nv = NULL;
        }
        sm_unlock(m);
    }
    if (rc) {
        value_free_now(m, nv);
    } else {
        if (loaded)
            *loaded = value_live(old);
        if (value_live(old)) {
            copy_out(m, previous_out, old);
            value_retire(m, old, false);
        }
    }
    gomap__rcu_exit();
    sm_pace(m);
    return rc;
}

int syncmap_swap(syncmap *m, const void *key, const void *value, void *previous_out, bool *loaded) {
    uint64_t h = gomap__family_hash(&m->fh, m->hasher, key);
    if (m->small)
        return ss_swap(m, key, h, value, previous_out, loaded);
    return entry_swap(m, key, h, value, previous_out, loaded);
}

int syncmap_store(syncmap *m, const void *key, const void *value) {
    uint64_t h = gomap__family_hash(&m->fh, m->hasher, key);
    if (m->small)
        return ss_swap(m, key, h, value, NULL, NULL);
    return entry_swap(m, key, h, value, NULL, NULL);
}

int syncmap_load_or_store(syncmap *m, const void *key, const void *value, void *actual_out,
                          bool *loaded) {
    uint64_t h = gomap__family_hash(&m->fh, m->hasher, key);
    if (m->small) {
        int rc = ss_load_or_store(m, key, h, value, actual_out, loaded);
        sm_pace(m);
        return rc;
    }
    bool was = false;
    gomap__rcu_enter();
    struct sm_entry *e = table_find(rd_table(rd_load(m)), key, h);
    int rc = e ? entry_try_load_or_store(m, e, value, actual_out, &was) : SM_SLOW;
    if (rc == SM_SLOW) {
        sm_lock(m);
        uintptr_t r = rd_locked(m);
        if ((e = table_find(rd_table(r), key, h))) {
            rc = entry_unexpunge_locked(m, e, key, h);
            if (rc == 0)
                rc = entry_try_load_or_store(m, e, value, actual_out, &was);
        } else if ((e = table_find(m->dirty, key, h))) {
            rc = entry_try_load_or_store(m, e, value, actual_out, &was);
            miss_locked(m);
        } else {
            rc = insert_new_locked(m, key, h, value, r);
            if (rc == 0 && actual_out)
                gomap__copy_in(actual_out, value, m->vsize);
        }
        sm_unlock(m);
    }
    gomap__rcu_exit();
    sm_pace(m);
    if (rc == 0 && loaded)
        *loaded = was;
    return rc;
}

/* Finds the key's entry for the delete family: lock-free in the read table,
 * else under mu in dirty (counting a miss).  With detach, a key found only in
 * dirty is removed from it and returned in *detached for retirement. */
static struct sm_entry *find_for_delete(syncmap *m, const void *key, uint64_t h, bool detach,
                                        struct sm_entry **detached) {
    uintptr_t r = rd_load(m);
    struct sm_entry *e = table_find(rd_table(r), key, h);
    if (!e && rd_amended(r)) {
        sm_lock(m);
        r = rd_locked(m);
        e = table_find(rd_table(r), key, h);
        if (!e && rd_amended(r)) {
            e = table_find(m->dirty, key, h);
            if (e && detach) {
                gomap__delete_hashed_locked(m->dirty->m, key, h);
                *detached = e;
            }
            miss_locked(m);
        }
        sm_unlock(m);
    }
    return e;
}

bool syncmap_load_and_delete(syncmap *m, const void *key, void *value_out) {
    uint64_t h = gomap__family_hash(&m->fh, m->hasher, key);
    if (m->small) {
        bool ok = ss_delete(m, key, h, false, 0, value_out);
        sm_pace(m);
        return ok;
    }
    struct sm_entry *detached = NULL;
    gomap__rcu_enter();
    struct sm_entry *e = find_for_delete(m, key, h, true, &detached);
    bool ok = e && entry_delete(m, e, false, NULL, value_out);
    if (detached)
        obj_retire(m, &detached->obj, false);
    gomap__rcu_exit();
    sm_pace(m);
    return ok;
}

void syncmap_delete(syncmap *m, const void *key) {
    (void)syncmap_load_and_delete(m, key, NULL);
}

int syncmap_compare_and_swap(syncmap *m, const void *key, const void *old_value,
                             const void *new_value, bool *swapped) {
    uint64_t h = gomap__family_hash(&m->fh, m->hasher, key);
    bool sw = false;
    int rc = 0;
    if (m->small) {
        sw = ss_compare_and_swap(m, key, h, old_value, new_value);
        sm_pace(m);
        if (swapped)
            *swapped = sw;
        return 0;
    }
    gomap__rcu_enter();
    uintptr_t r = rd_load(m);
    struct sm_entry *e = table_find(rd_table(r), key, h);
    if (e) {
        rc = entry_try_cas(m, e, old_value, new_value, &sw);
    } else if (rd_amended(r)) {
        sm_lock(m);
        r = rd_locked(m);
        if ((e = table_find(rd_table(r), key, h))) {
            rc = entry_try_cas(m, e, old_value, new_value, &sw);
        } else if ((e = table_find(m->dirty, key, h))) {
            rc = entry_try_cas(m, e, old_value, new_value, &sw);
            miss_locked(m);
        }
        sm_unlock(m);
    }
    gomap__rcu_exit();
    sm_pace(m);
    if (swapped)
        *swapped = sw;
    return rc;
}

bool syncmap_compare_and_delete(syncmap *m, const void *key, const void *old_value) {
    uint64_t h = gomap__family_hash(&m->fh, m->hasher, key);
    if (m->small)
        return ss_delete(m, key, h, true, small_bits(m, old_value), NULL);
    gomap__rcu_enter();
    /* Go: a key found only in dirty stays there (the comparison may fail);
     * it is expunged at the next rebuild. */
    struct sm_entry *e = find_for_delete(m, key, h, false, NULL);
    bool ok = e && entry_delete(m, e, true, old_value, NULL);
    gomap__rcu_exit();
    return ok;
}

/* syncmap's writes of a present key are CASes on its entry, taken without mu
 * (Go's design), so holding mu would not exclude them: compute is a CAS loop
 * over the map's own conditional writes instead (compute.c). */
int syncmap_compute(syncmap *m, const void *key, concmap_compute_fn fn, void *ctx) {
    if (!fn)
        return EINVAL;
    return gomap__compute_cas(&gomap_syncmap_ops, m, key, m->vsize, fn, ctx);
}

void syncmap_range(syncmap *m, concmap_range_fn fn, void *ctx) {
    gomap__rcu_enter();
    uintptr_t r = rd_load(m);
    if (rd_amended(r)) {
        sm_lock(m);
        if (rd_amended(rd_locked(m)))
            promote_locked(m);
        r = rd_locked(m);
        sm_unlock(m);
    }
    struct sm_table *t = rd_table(r);
    if (m->small)
        ss_range(m, r, fn, ctx);
    else if (t) {
        gomap_iter it;
        const void *key;
        void *slot;
        gomap_iter_init(&it, t->m);
        while (gomap_iter_next(&it, &key, &slot)) {
            struct sm_entry *e;
            memcpy(&e, slot, sizeof e);
            struct sm_value *v = entry_load(e);
            if (v && !fn(key, vdata(v), ctx))
                break;
        }
        gomap_iter_stop(&it);
    }
    gomap__rcu_exit();
}

void syncmap_clear(syncmap *m) {
    /* Go: nothing to do when the read table is empty and not amended (then
     * dirty, if any, is empty too). */
    if (rd_load(m) == 0)
        return;
    gomap__rcu_enter();
    sm_lock(m);
    clear_locked(m, false);
    sm_unlock(m);
    gomap__rcu_exit();
}

size_t syncmap_len(syncmap *m) {
    long n = atomic_load_explicit(&m->live, memory_order_relaxed);
    return n > 0 ? (size_t)n : 0;
}

void gomap__syncmap_state(syncmap *m, struct gomap__syncmap_state *s) {
    memset(s, 0, sizeof *s);
    sm_lock(m);
    uintptr_t r = rd_locked(m);
    s->amended = rd_amended(r);
    if (rd_table(r)) {
        s->read_len = gomap_len(rd_table(r)->m);
        gomap_iter it;
        void *slot;
        gomap_iter_init(&it, rd_table(r)->m);
        while (gomap_iter_next(&it, NULL, &slot)) {
            struct sm_entry *e;
            if (m->small) {
                s->expunged += atomic_load_explicit(&((struct ss_slot *)slot)->tag,
                                                    memory_order_relaxed) == SS_EXPUNGED;
                continue;
            }
            memcpy(&e, slot, sizeof e);
            s->expunged += atomic_load_explicit(&e->p, memory_order_relaxed) == EXPUNGED;
        }
    }
    s->has_dirty = m->dirty != NULL;
    s->dirty_len = m->dirty ? gomap_len(m->dirty->m) : 0;
    s->misses = m->misses;
    sm_unlock(m);
}

int syncmap_set_promotion(syncmap *m, syncmap_promotion rule) {
    if (!m || (rule != SYNCMAP_PROMOTE_GO && rule != SYNCMAP_PROMOTE_ADAPTIVE))
        return EINVAL;
    sm_lock(m);
    m->rule = rule;
    sm_unlock(m);
    return 0;
}

void gomap__syncmap_lock(syncmap *m) {
    sm_lock(m);
}

void gomap__syncmap_unlock(syncmap *m) {
    sm_unlock(m);
}

/* ---- concmap glue --------------------------------------------------------- */

static int ops_create(void **out, const gomap_config *cfg, const concmap_options *opts) {
    if (opts && opts->sync_promotion != SYNCMAP_PROMOTE_GO &&
        opts->sync_promotion != SYNCMAP_PROMOTE_ADAPTIVE)
        return EINVAL;
    int rc = syncmap_new((syncmap **)out, cfg);
    if (rc == 0 && opts)
        ((syncmap *)*out)->rule = (syncmap_promotion)opts->sync_promotion;
    return rc;
}

GOMAP__DEFINE_CONCMAP_OPS(gomap_syncmap_ops, syncmap, syncmap, ops_create, NULL, true);
