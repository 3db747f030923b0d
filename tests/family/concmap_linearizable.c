/*
 * concmap_linearizable.c — every variant's histories are linearizable.
 *
 * Many small runs (4 threads, 3 keys, 100 random operations per thread, all
 * ten methods) record each operation's call and return time on the monotonic
 * clock with its arguments and results; lincheck.h checks each history
 * against a sequential one-key register, key by key.  The checker is itself
 * tested first: on hand-made histories (a stale read, a lost update, a
 * double load_or_store store, which it must reject; overlapping operations
 * it must accept) and on a deliberately broken map (loads that sometimes
 * return the thread's own stale copy), whose histories it must reject.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "check.h"
#include "concmap_util.h"
#include "lincheck.h"

enum { LT = 4, LKEYS = 3, LOPS = 100, LVALS = 3 };

/* ---- the checker on hand-made histories ------------------------------------ */

#define OP(c, r, k, key_, a_, b_, ok_, out_)                                                       \
    (struct lin_op) {                                                                              \
        c, r, k, key_, a_, b_, ok_, out_                                                           \
    }

TEST(checker_accepts_and_rejects) {
    /* Sequential and correct. */
    struct lin_op good[] = {
        OP(1, 2, LIN_STORE, 0, 5, 0, 0, 0),   OP(3, 4, LIN_LOAD, 0, 0, 0, true, 5),
        OP(5, 6, LIN_CAS, 0, 5, 7, true, 0),  OP(7, 8, LIN_LOS, 0, 1, 0, true, 7),
        OP(9, 10, LIN_CAD, 0, 7, 0, true, 0), OP(11, 12, LIN_LOAD, 0, 0, 0, false, 0),
    };
    CHECK_EQ(lin_check(good, 6, 1), -1);

    /* A stale read: the load starts after the second store returned, yet
     * sees the first value. */
    struct lin_op stale[] = {
        OP(1, 2, LIN_STORE, 0, 1, 0, 0, 0),
        OP(3, 4, LIN_STORE, 0, 2, 0, 0, 0),
        OP(5, 6, LIN_LOAD, 0, 0, 0, true, 1),
    };
    CHECK_EQ(lin_check(stale, 3, 1), 0);
    /* The same read overlapping the second store is fine. */
    stale[2].call = 3;
    CHECK_EQ(lin_check(stale, 3, 1), -1);
    /* ... and equal timestamps count as overlapping, not ordered. */
    stale[2].call = 4;
    CHECK_EQ(lin_check(stale, 3, 1), -1);

    /* A lost update: two overlapping increments by CAS both succeed from 0. */
    struct lin_op lost[] = {
        OP(1, 2, LIN_STORE, 1, 0, 0, 0, 0),
        OP(3, 6, LIN_CAS, 1, 0, 1, true, 0),
        OP(4, 7, LIN_CAS, 1, 0, 1, true, 0),
    };
    CHECK_EQ(lin_check(lost, 3, 2), 1);

    /* Two load_or_store calls both claim to have stored. */
    struct lin_op twice[] = {
        OP(1, 5, LIN_LOS, 0, 1, 0, false, 1),
        OP(2, 6, LIN_LOS, 0, 2, 0, false, 2),
    };
    CHECK_EQ(lin_check(twice, 2, 1), 0);

    /* Overlap that needs a non-obvious order: the load (called first) must
     * be linearized after the store that was called later. */
    struct lin_op order[] = {
        OP(1, 10, LIN_LOAD, 0, 0, 0, true, 3),
        OP(2, 3, LIN_STORE, 0, 3, 0, 0, 0),
        OP(4, 5, LIN_SWAP, 0, 4, 0, true, 3),
        OP(6, 7, LIN_LAD, 0, 0, 0, true, 4),
    };
    CHECK_EQ(lin_check(order, 4, 1), -1);
    /* A range that saw the key after a clear that finished before it. */
    struct lin_op cleared[] = {
        OP(1, 2, LIN_STORE, 2, 1, 0, 0, 0),
        OP(3, 4, LIN_CLEAR, 2, 0, 0, 0, 0),
        OP(5, 6, LIN_RANGE, 2, 0, 0, true, 1),
    };
    CHECK_EQ(lin_check(cleared, 3, 3), 2);
}

/* ---- recording runs ---------------------------------------------------------- */

/* A target: a real concmap, or the broken wrapper around one. */
struct target {
    concmap *m;
    bool broken;
    /* broken only: each thread's last seen value per key */
    bool cached[LT][LKEYS];
    uint64_t cache[LT][LKEYS];
};

struct range_obs {
    int visits[LKEYS];
    uint64_t val[LKEYS];
    bool bad;
};

static bool obs_cb(const void *key, const void *value, void *ctx) {
    struct range_obs *o = ctx;
    uint64_t k = *(const uint64_t *)key;
    if (k >= LKEYS) {
        o->bad = true;
        return true;
    }
    o->visits[k]++;
    memcpy(&o->val[k], value, 8);
    return true;
}

struct run {
    struct target *t;
    atomic_int gate;
    struct lin_op ops[LT][LOPS * LKEYS]; /* range and clear make one per key */
    size_t nops[LT];
    bool bad_range;
};

struct lworker {
    pthread_t th;
    int index;
    struct run *r;
};

/* Executes one random operation and records it (one record per key for the
 * whole-map operations). */
static void one_op(struct run *r, int t, uint64_t *rng) {
    struct target *tg = r->t;
    int kind = (int)(fam_rand(rng) % LIN_KINDS);
    if (kind == LIN_CLEAR && fam_rand(rng) % 3)
        kind = LIN_STORE; /* clears are rarer, so keys have a history */
    struct lin_op op = {
        0,     0, kind, (int)(fam_rand(rng) % LKEYS), fam_rand(rng) % LVALS, fam_rand(rng) % LVALS,
        false, 0};
    uint64_t key = (uint64_t)op.key, out = 0;
    struct range_obs obs;
    memset(&obs, 0, sizeof obs);
    op.call = fam_now_ns();
    switch (kind) {
    case LIN_LOAD:
        if (tg->broken && tg->cached[t][op.key] && fam_rand(rng) % 2) {
            op.ok = true; /* the bug: answer from a stale private copy */
            out = tg->cache[t][op.key];
        } else {
            op.ok = concmap_load(tg->m, &key, &out);
        }
        break;
    case LIN_STORE:
        concmap_store(tg->m, &key, &op.a);
        break;
    case LIN_LOS:
        concmap_load_or_store(tg->m, &key, &op.a, &out, &op.ok);
        break;
    case LIN_LAD:
        op.ok = concmap_load_and_delete(tg->m, &key, &out);
        break;
    case LIN_DELETE:
        concmap_delete(tg->m, &key);
        break;
    case LIN_SWAP:
        concmap_swap(tg->m, &key, &op.a, &out, &op.ok);
        break;
    case LIN_CAS:
        concmap_compare_and_swap(tg->m, &key, &op.a, &op.b, &op.ok);
        break;
    case LIN_CAD:
        op.ok = concmap_compare_and_delete(tg->m, &key, &op.a);
        break;
    case LIN_RANGE:
        concmap_range(tg->m, obs_cb, &obs);
        break;
    case LIN_CLEAR:
        concmap_clear(tg->m);
        break;
    }
    op.ret = fam_now_ns();
    op.out = op.ok ? out : 0;
    if (kind == LIN_LOS && !op.ok)
        op.out = out;
    if (tg->broken && op.ok && (kind == LIN_LOAD || kind == LIN_LOS)) {
        tg->cached[t][op.key] = true;
        tg->cache[t][op.key] = op.out;
    }
    if (kind == LIN_RANGE || kind == LIN_CLEAR) {
        if (obs.bad)
            r->bad_range = true;
        for (int k = 0; k < LKEYS; k++) {
            if (obs.visits[k] > 1)
                r->bad_range = true;
            struct lin_op per = op;
            per.key = k;
            per.ok = obs.visits[k] == 1;
            per.out = per.ok ? obs.val[k] : 0;
            r->ops[t][r->nops[t]++] = per;
        }
    } else {
        r->ops[t][r->nops[t]++] = op;
    }
}

static void *lin_worker(void *arg) {
    struct lworker *w = arg;
    uint64_t rng = fam_now_ns() ^ ((uint64_t)w->index << 56);
    atomic_fetch_add(&w->r->gate, 1);
    while (atomic_load(&w->r->gate) < LT)
        sched_yield();
    for (int i = 0; i < LOPS; i++) {
        one_op(w->r, w->index, &rng);
        if (fam_rand(&rng) % 8 == 0)
            sched_yield(); /* widen the windows on a 2-core machine */
    }
    return NULL;
}

/* Operations recorded, and how many overlapped an operation of another
 * thread (the checker has something to decide only for those). */
static long stat_ops, stat_overlapping;

static void count_overlaps(const struct run *r) {
    for (int t = 0; t < LT; t++)
        for (size_t i = 0; i < r->nops[t]; i++) {
            const struct lin_op *a = &r->ops[t][i];
            bool overlaps = false;
            for (int u = 0; u < LT && !overlaps; u++)
                for (size_t j = 0; u != t && j < r->nops[u] && !overlaps; j++)
                    overlaps = r->ops[u][j].call <= a->ret && a->call <= r->ops[u][j].ret;
            stat_ops++;
            stat_overlapping += overlaps;
        }
}

/* Records one run on tg and checks it; returns -1 if linearizable, else the
 * offending key (LKEYS for a range that visited a key twice). */
static int record_and_check(struct target *tg) {
    static struct run r;
    memset(&r, 0, sizeof r);
    r.t = tg;
    struct lworker w[LT];
    for (int i = 0; i < LT; i++) {
        w[i].index = i;
        w[i].r = &r;
        pthread_create(&w[i].th, NULL, lin_worker, &w[i]);
    }
    for (int i = 0; i < LT; i++)
        pthread_join(w[i].th, NULL);
    count_overlaps(&r);
    if (r.bad_range)
        return LKEYS;
    static struct lin_op all[LT * LOPS * LKEYS];
    size_t n = 0;
    for (int i = 0; i < LT; i++)
        for (size_t j = 0; j < r.nops[i]; j++)
            all[n++] = r.ops[i][j];
    return lin_check(all, n, LKEYS);
}

/* One map per variant, cleared between runs (so every history starts from
 * the empty map the checker assumes). */
static struct target *new_target(concmap *m, bool broken) {
    static struct target tg;
    memset(&tg, 0, sizeof tg);
    concmap_clear(m);
    tg.m = m;
    tg.broken = broken;
    return &tg;
}

static concmap *new_map(const char *kind) {
    gomap_config cfg = fam_config(GOMAP_KEY_U64, 8);
    concmap *m = NULL;
    CHECK_EQ(concmap_new(&m, kind, &cfg, NULL), 0);
    return m;
}

TEST(checker_rejects_a_broken_map) {
    int runs = 40, rejected = 0;
    concmap *m = new_map("rw");
    REQUIRE(m);
    for (int i = 0; i < runs; i++)
        if (record_and_check(new_target(m, true)) >= 0)
            rejected++;
    concmap_free(m);
    printf("  broken map: %d of %d histories rejected\n", rejected, runs);
    CHECK(rejected > 0);
}

TEST(every_variant_is_linearizable) {
    int runs = CHECK_SANITIZED ? 100 : 400;
    FOR_EACH_VARIANT(kind) {
        int failed = 0;
        stat_ops = stat_overlapping = 0;
        concmap *m = new_map(kind);
        REQUIRE(m);
        for (int i = 0; i < runs; i++) {
            int bad = record_and_check(new_target(m, false));
            if (bad >= 0) {
                fprintf(stderr, "  variant %s: run %d not linearizable (key %d)\n", kind, i, bad);
                failed++;
            }
        }
        concmap_free(m);
        printf("  %s: %d histories, %ld operations, %ld (%.0f%%) overlapping another thread's\n",
               kind, runs, stat_ops, stat_overlapping,
               100.0 * (double)stat_overlapping / (double)stat_ops);
        CHECK_EQ(failed, 0);
    }
}

TEST_MAIN()
