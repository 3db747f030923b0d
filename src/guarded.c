/* guarded.c — the deferred-free allocator hook of the maps with optimistic
 * loads (guarded.h says why; rwmap.c and shardmap.c use it). */
#include "guarded.h"

/* What precedes every block: the link for the reclaimer and what the final
 * free needs.  32 bytes, so the block keeps malloc's 16-byte alignment. */
struct deferred_block {
    struct gomap__rcu_head head;
    size_t size;
    struct gomap__deferred *owner;
};

static void *deferred_alloc(size_t size, void *ctx) {
    struct gomap__deferred *d = ctx;
    struct deferred_block *b = gomap__family_alloc(d->user, sizeof *b + size);
    /* rwmap's and shardmap's arrays come from here, not from the core map's
     * own malloc: on the default allocator they get the same huge-page
     * advice as its large arrays.  A user's allocator decides for itself. */
    if (!d->user)
        gomap__advise_huge(b, sizeof *b + size);
    if (!b)
        return NULL;
    b->size = size;
    b->owner = d;
    return b + 1;
}

static void deferred_reclaim(struct gomap__rcu_head *head) {
    gomap__rcu_callback_begin(head);
    struct deferred_block *b = GOMAP__CONTAINER_OF(head, struct deferred_block, head);
    struct gomap__deferred *d = b->owner;
    gomap__family_free(d->user, b, sizeof *b + b->size);
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
    gomap__reclaim_init(&d->reclaim);
}

void gomap__deferred_drain(struct gomap__deferred *d, const char *who) {
    gomap__rcu_drain(&d->reclaim, who);
}
