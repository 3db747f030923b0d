/* guarded.c — the deferred-free allocator hook of the maps with optimistic
 * loads (guarded.h says why; rwmap.c and shardmap.c use it). */
#include "guarded.h"

#include <stdint.h>

/* What precedes every block: the link for the reclaimer and what the final
 * free needs.  32 bytes, so the block keeps malloc's 16-byte alignment.
 * `owner` is the block's gomap__deferred, or, with bit 0 set, the slab the
 * block was carved from (both are at least 8-byte aligned). */
struct deferred_block {
    struct gomap__rcu_head head;
    size_t size;
    uintptr_t owner;
};

#define OWNER_SLAB ((uintptr_t)1)

/*
 * A slab: the first bucket arrays of a shardmap's shards in one allocation.
 *
 * Why: a map of a million keys spread over 64 shards gives each shard's map
 * an array of about 600 KiB, and an array below 2 MiB cannot be backed by a
 * transparent huge page, so every lookup of a large shardmap walked 4 KiB
 * pages: a TLB miss on almost every operation, and under a hypervisor a
 * two-dimensional page walk.  Carved from one allocation of count x 600 KiB,
 * which gets the huge-page advice of a large array (map.c's
 * gomap__advise_huge, or a user allocator's own), the same arrays sit on
 * 2 MiB pages.  Go's runtime gets the same effect for a sharded Go map from
 * its heap, which it advises as a whole.  docs/design-family.md has the
 * measurements.
 *
 * Only the maps' first arrays, taken while the shardmap is created (a
 * hint sizes them all alike), come from the slab: an array from a later
 * growth is allocated alone (slabs for growth were measured and bought
 * nothing: docs/design-family.md, "Growth's arrays stay out of the slab"),
 * and the slab is freed when the last array carved from it has been freed.
 */
struct gomap__deferred_slab {
    struct gomap__deferred *owner;
    /* Blocks handed out and not yet reclaimed, plus one while the batch is
     * open: the allocation goes when it drops to 0. */
    _Atomic size_t refs;
    void *raw; /* the allocation, `bytes` long */
    size_t bytes;
    size_t block;  /* the size of every block (the first request's) */
    size_t stride; /* from one block to the next, header included */
    size_t left;   /* blocks not yet handed out (the creating thread's) */
    char *next;    /* the next block's data (the creating thread's) */
};

/* A slab is opened only when it reaches the size from which a large array
 * gets huge-page advice (map.c's HUGE_ARRAY_MIN). */
#define SLAB_MIN ((size_t)4 << 20)

void gomap__deferred_batch_begin(struct gomap__deferred *d, size_t count) {
    d->batch = count;
    d->slab = NULL;
}

/* Drops one reference.  acq_rel: each block's last use (the release of a
 * decrement) happens-before the free made by whoever drops the last one
 * (its acquire), the usual reference count. */
static void slab_release(struct gomap__deferred_slab *s) {
    if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
        gomap__family_free(s->owner->user, s->raw, s->bytes);
}

void gomap__deferred_batch_end(struct gomap__deferred *d) {
    struct gomap__deferred_slab *s = d->slab;
    d->batch = 0;
    d->slab = NULL;
    if (s)
        slab_release(s); /* the batch's own reference */
}

/* A block of the batch's slab for a request of `size` bytes, opening the
 * slab on the first large enough request; NULL when the request is not the
 * slab's (another size, the slab used up, too small a batch, no memory):
 * the caller allocates it alone. */
static void *slab_alloc(struct gomap__deferred *d, size_t size) {
    struct gomap__deferred_slab *s = d->slab;
    const size_t hdr = sizeof(struct deferred_block);
    if (!s) {
        if (size < 4096 || size > SIZE_MAX / 2 / d->batch || d->batch * (size + hdr) < SLAB_MIN)
            return NULL;
        /* Each block's data starts a cache line in (as malloc's large
         * blocks do, near enough), its header in the 32 bytes before. */
        size_t stride = (size + hdr + 63) & ~(size_t)63;
        size_t bytes = sizeof *s + hdr + 64 + d->batch * stride;
        char *raw = gomap__family_alloc(d->user, bytes);
        if (!raw) {
            d->batch = 0; /* each array alone, as without a batch */
            return NULL;
        }
        if (!d->user)
            gomap__advise_huge(raw, bytes);
        s = (struct gomap__deferred_slab *)raw;
        s->owner = d;
        atomic_init(&s->refs, 1); /* the batch's */
        s->raw = raw;
        s->bytes = bytes;
        s->block = size;
        s->stride = stride;
        s->left = d->batch;
        s->next = (char *)(((uintptr_t)(s + 1) + hdr + 63) & ~(uintptr_t)63);
        d->slab = s;
    }
    if (size != s->block || s->left == 0)
        return NULL;
    struct deferred_block *b = (struct deferred_block *)s->next - 1;
    s->next += s->stride;
    s->left--;
    /* Relaxed: the block's reclaim, the only decrement that pairs with
     * this increment, comes after the block is freed, which the map's own
     * ordering puts after this. */
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    b->size = size;
    b->owner = (uintptr_t)s | OWNER_SLAB;
    return b + 1;
}

static void *deferred_alloc(size_t size, void *ctx) {
    struct gomap__deferred *d = ctx;
    if (d->batch) {
        void *p = slab_alloc(d, size);
        if (p)
            return p;
    }
    struct deferred_block *b = gomap__family_alloc(d->user, sizeof *b + size);
    /* rwmap's and shardmap's arrays come from here, not from the core map's
     * own malloc: on the default allocator they get the same huge-page
     * advice as its large arrays.  A user's allocator decides for itself. */
    if (!d->user)
        gomap__advise_huge(b, sizeof *b + size);
    if (!b)
        return NULL;
    b->size = size;
    b->owner = (uintptr_t)d;
    return b + 1;
}

static void deferred_reclaim(struct gomap__rcu_head *head) {
    gomap__rcu_callback_begin(head);
    struct deferred_block *b = GOMAP__CONTAINER_OF(head, struct deferred_block, head);
    struct gomap__deferred *d;
    if (b->owner & OWNER_SLAB) {
        struct gomap__deferred_slab *s = (struct gomap__deferred_slab *)(b->owner & ~OWNER_SLAB);
        d = s->owner;
        slab_release(s);
    } else {
        d = (struct gomap__deferred *)b->owner;
        gomap__family_free(d->user, b, sizeof *b + b->size);
    }
    gomap__rcu_reclaimed(&d->reclaim); /* the last access to d */
}

/* The map no longer links the block, but a reader that found it before may
 * still read it: free it after a grace period. */
static void deferred_free(void *p, size_t size, void *ctx) {
    (void)size;
    struct gomap__deferred *d = ctx;
    struct deferred_block *b = (struct deferred_block *)p - 1;
    gomap__rcu_retire(&d->reclaim, &b->head, deferred_reclaim);
}

void gomap__deferred_init(struct gomap__deferred *d, const gomap_allocator *user) {
    d->hook = (gomap_allocator){deferred_alloc, deferred_free, d};
    d->user = user;
    d->slab = NULL;
    d->batch = 0;
    gomap__reclaim_init(&d->reclaim);
}

void gomap__deferred_drain(struct gomap__deferred *d, const char *who) {
    gomap__rcu_drain(&d->reclaim, who);
}
