/*
 * concmap_model.c — a reference-model test in the spirit of Go's
 * sync/map_reference_test.go: random sequences of all ten sync.Map
 * operations plus len, on a tiny key space, applied both to a variant and to
 * a trivially correct model (an array under a mutex); every result, every
 * len and every range is compared.  Every variant, every key/value shape,
 * many seeds.
 *
 * Ranges may call the map from the callback (stores and deletes, applied to
 * the model too).  A range is then checked against what sync.Map promises:
 * each key at most once; a visited key shows a value it had at some point
 * during the range; a key present and untouched for the whole range is
 * visited (unless the callback stopped the range early).
 */
#include <pthread.h>

#include "check.h"
#include "concmap_util.h"

enum { NKEYS = 6, NVALS = 4, STEPS = 300 };

/* The reference: a present flag and a small value per key. */
struct model {
    pthread_mutex_t mu;
    bool present[NKEYS];
    uint64_t val[NKEYS];
};

static void model_set(struct model *md, int k, bool present, uint64_t v) {
    pthread_mutex_lock(&md->mu);
    md->present[k] = present;
    md->val[k] = v;
    pthread_mutex_unlock(&md->mu);
}

static bool model_get(struct model *md, int k, uint64_t *v) {
    pthread_mutex_lock(&md->mu);
    bool p = md->present[k];
    *v = md->val[k];
    pthread_mutex_unlock(&md->mu);
    return p;
}

static size_t model_len(struct model *md) {
    size_t n = 0;
    pthread_mutex_lock(&md->mu);
    for (int k = 0; k < NKEYS; k++)
        n += md->present[k];
    pthread_mutex_unlock(&md->mu);
    return n;
}

/* What a range may see of each key: bit v for "present with value v", bit
 * NVALS for "absent", accumulated over the range. */
struct range_ctx {
    concmap *m;
    struct model *md;
    const struct fam_shape *sh;
    uint64_t *rng;
    unsigned allowed[NKEYS];
    bool touched[NKEYS];
    int visits[NKEYS];
    size_t calls, stop_after;
    bool mutate;
    bool bad;
};

static unsigned state_bit(struct model *md, int k) {
    uint64_t v;
    return model_get(md, k, &v) ? 1u << v : 1u << NVALS;
}

static bool range_cb(const void *key, const void *value, void *arg) {
    struct range_ctx *c = arg;
    uint64_t id = fam_key_id(c->sh->kind, key);
    uint64_t v = fam_val_id(value, c->sh->value_size);
    if (id >= NKEYS || v >= NVALS || !(c->allowed[id] & (1u << v)) || ++c->visits[id] > 1)
        c->bad = true;
    c->calls++;
    if (c->mutate && fam_rand(c->rng) % 2) {
        /* The callback writes the map: a store or a delete of a random key. */
        int k = (int)(fam_rand(c->rng) % NKEYS);
        struct fam_key kb;
        const void *kp = fam_key(&kb, c->sh->kind, (uint64_t)k);
        if (fam_rand(c->rng) % 2) {
            uint64_t nv = fam_rand(c->rng) % NVALS;
            unsigned char buf[FAM_MAX_VALUE];
            fam_val(buf, c->sh->value_size, nv);
            if (concmap_store(c->m, kp, buf) != 0)
                c->bad = true;
            model_set(c->md, k, true, nv);
        } else {
            concmap_delete(c->m, kp);
            model_set(c->md, k, false, 0);
        }
        c->touched[k] = true;
        c->allowed[k] |= state_bit(c->md, k);
    }
    return !(c->stop_after && c->calls >= c->stop_after);
}

static void check_range(concmap *m, struct model *md, const struct fam_shape *sh, uint64_t *rng,
                        bool mutate) {
    struct range_ctx c;
    memset(&c, 0, sizeof c);
    c.m = m;
    c.md = md;
    c.sh = sh;
    c.rng = rng;
    c.mutate = mutate;
    c.stop_after = fam_rand(rng) % 4 == 0 ? 1 + fam_rand(rng) % 3 : 0;
    bool present_at_start[NKEYS];
    for (int k = 0; k < NKEYS; k++) {
        c.allowed[k] = state_bit(md, k);
        present_at_start[k] = !(c.allowed[k] & (1u << NVALS));
    }
    concmap_range(m, range_cb, &c);
    CHECK(!c.bad);
    bool stopped = c.stop_after && c.calls >= c.stop_after;
    if (!stopped)
        for (int k = 0; k < NKEYS; k++)
            if (present_at_start[k] && !c.touched[k])
                CHECK_EQ(c.visits[k], 1);
    if (stopped)
        CHECK_EQ(c.calls, c.stop_after);
}

/* One random sequence on m (empty); returns false at the first mismatch. */
static bool run_sequence(concmap *m, const struct fam_shape *sh, uint64_t seed) {
    struct model md;
    memset(&md, 0, sizeof md);
    pthread_mutex_init(&md.mu, NULL);
    uint64_t rng = seed;
    size_t vs = sh->value_size;
    int before = check_case_failed;
    for (int step = 0; step < STEPS && check_case_failed == before; step++) {
        int k = (int)(fam_rand(&rng) % NKEYS);
        uint64_t a = fam_rand(&rng) % NVALS, b = fam_rand(&rng) % NVALS;
        struct fam_key kb;
        const void *key = fam_key(&kb, sh->kind, (uint64_t)k);
        unsigned char va[FAM_MAX_VALUE], vb[FAM_MAX_VALUE], out[FAM_MAX_VALUE];
        fam_val(va, vs, a);
        fam_val(vb, vs, b);
        uint64_t mv;
        bool mp = model_get(&md, k, &mv);
        bool flag = !mp;
        switch (fam_rand(&rng) % 11) {
        case 0: /* load */
            CHECK_EQ(concmap_load(m, key, out), mp);
            if (mp)
                CHECK_EQ(fam_val_id(out, vs), mv);
            break;
        case 1: /* store */
            CHECK_EQ(concmap_store(m, key, va), 0);
            model_set(&md, k, true, a);
            break;
        case 2: /* load_or_store */
            CHECK_EQ(concmap_load_or_store(m, key, va, out, &flag), 0);
            CHECK_EQ(flag, mp);
            CHECK_EQ(fam_val_id(out, vs), mp ? mv : a);
            if (!mp)
                model_set(&md, k, true, a);
            break;
        case 3: /* load_and_delete */
            CHECK_EQ(concmap_load_and_delete(m, key, out), mp);
            if (mp)
                CHECK_EQ(fam_val_id(out, vs), mv);
            model_set(&md, k, false, 0);
            break;
        case 4: /* delete */
            concmap_delete(m, key);
            model_set(&md, k, false, 0);
            break;
        case 5: /* swap */
            CHECK_EQ(concmap_swap(m, key, va, out, &flag), 0);
            CHECK_EQ(flag, mp);
            if (mp)
                CHECK_EQ(fam_val_id(out, vs), mv);
            model_set(&md, k, true, a);
            break;
        case 6: /* compare_and_swap */
            CHECK_EQ(concmap_compare_and_swap(m, key, va, vb, &flag), 0);
            CHECK_EQ(flag, mp && mv == a);
            if (mp && mv == a)
                model_set(&md, k, true, b);
            break;
        case 7: /* compare_and_delete */
            CHECK_EQ(concmap_compare_and_delete(m, key, va), mp && mv == a);
            if (mp && mv == a)
                model_set(&md, k, false, 0);
            break;
        case 8: /* range, sometimes writing from the callback */
            check_range(m, &md, sh, &rng, fam_rand(&rng) % 2);
            break;
        case 9: /* clear (rarely, so the map fills up) */
            if (fam_rand(&rng) % 4 == 0) {
                concmap_clear(m);
                for (int i = 0; i < NKEYS; i++)
                    model_set(&md, i, false, 0);
            }
            break;
        default: /* len */
            CHECK_EQ(concmap_len(m), model_len(&md));
            break;
        }
    }
    /* The final contents, by a range without writes and by loads. */
    check_range(m, &md, sh, &rng, false);
    for (int k = 0; k < NKEYS; k++) {
        struct fam_key kb;
        unsigned char out[FAM_MAX_VALUE];
        uint64_t mv;
        bool mp = model_get(&md, k, &mv);
        CHECK_EQ(concmap_load(m, fam_key(&kb, sh->kind, (uint64_t)k), out), mp);
        if (mp)
            CHECK_EQ(fam_val_id(out, vs), mv);
    }
    CHECK_EQ(concmap_len(m), model_len(&md));
    pthread_mutex_destroy(&md.mu);
    return check_case_failed == before;
}

/* One map per variant and shape, cleared between seeds: creating and freeing
 * thousands of maps would mostly measure the RCU variants' free (which waits
 * for their queued reclamations). */
TEST(random_sequences_match_reference) {
    int seeds = CHECK_SANITIZED ? 150 : 600;
    FOR_EACH_VARIANT(kind) {
        for (int s = 0; s < FAM_NSHAPES; s++) {
            gomap_config cfg = fam_config(fam_shapes[s].kind, fam_shapes[s].value_size);
            concmap *m;
            REQUIRE_EQ(concmap_new(&m, kind, &cfg, NULL), 0);
            for (int seed = 1; seed <= seeds; seed++) {
                if (!run_sequence(m, &fam_shapes[s], (uint64_t)seed * 7919)) {
                    fprintf(stderr, "  variant %s, %s, seed %d\n", kind, fam_shapes[s].name, seed);
                    break;
                }
                concmap_clear(m);
            }
            concmap_free(m);
        }
    }
}

TEST_MAIN()
