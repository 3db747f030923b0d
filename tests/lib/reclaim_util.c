/* reclaim_util.c — the compiled half of reclaim_util.h (see there). */
#include "reclaim_util.h"

void *tally_alloc(size_t size, void *ctx) {
    struct tally *t = ctx;
    struct tally_hdr *h = malloc(sizeof *h + size);
    if (!h)
        return NULL;
    h->mark = TALLY_LIVE;
    h->size = size;
    atomic_fetch_add(&t->allocs, 1);
    long live = atomic_fetch_add(&t->live_bytes, (long)size) + (long)size;
    long peak = atomic_load(&t->peak_bytes);
    while (live > peak && !atomic_compare_exchange_weak(&t->peak_bytes, &peak, live))
        ;
    return h + 1;
}

void tally_free(void *p, size_t size, void *ctx) {
    struct tally *t = ctx;
    if (!p)
        return;
    struct tally_hdr *h = (struct tally_hdr *)p - 1;
    if (h->mark != TALLY_LIVE || h->size != size) {
        atomic_fetch_add(&t->bad, 1);
        return;
    }
    h->mark = TALLY_DEAD;
    memset(p, 0xdd, size);
    atomic_fetch_add(&t->frees, 1);
    atomic_fetch_sub(&t->live_bytes, (long)size);
    free(h);
}

void tally_init(struct tally *t) {
    memset(t, 0, sizeof *t);
    t->hook.alloc = tally_alloc;
    t->hook.free = tally_free;
    t->hook.ctx = t;
}
