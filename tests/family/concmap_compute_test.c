/*
 * concmap_compute_test.c — concmap_compute in every variant: each decision
 * (store, keep, delete) on a present and an absent key, over the shapes of
 * concmap_basic; its errors; and a concurrent counter that must not lose an
 * increment (threads computing +1 on a few shared keys, with stores and
 * deletes of other keys going on beside them).
 */
#include <errno.h>
#include <pthread.h>

#include "check.h"
#include "concmap_util.h"

/* ctx of `step`: what to decide, and what the call saw. */
struct step {
    concmap_action action;
    uint64_t add; /* added to the value's integer before storing */
    size_t value_size;
    bool saw_loaded;
    uint64_t saw; /* the integer of the value fn was given */
    int calls;
};

static concmap_action step_fn(void *value, bool loaded, void *ctx) {
    struct step *s = ctx;
    s->calls++;
    s->saw_loaded = loaded;
    s->saw = loaded ? fam_val_id(value, s->value_size) : 0;
    if (!loaded) { /* an absent key comes as zero bytes */
        static const unsigned char zero[FAM_MAX_VALUE];
        CHECK(memcmp(value, zero, s->value_size) == 0);
    }
    fam_val(value, s->value_size, s->saw + s->add);
    return s->action;
}

static int compute(concmap *m, const struct fam_shape *sh, uint64_t id, concmap_action a,
                   uint64_t add, struct step *s) {
    struct fam_key k;
    memset(s, 0, sizeof *s);
    s->action = a;
    s->add = add;
    s->value_size = sh->value_size;
    return concmap_compute(m, fam_key(&k, sh->kind, id), step_fn, s);
}

static uint64_t get(concmap *m, const struct fam_shape *sh, uint64_t id) {
    return fam_load_id(m, sh->kind, sh->value_size, id);
}
#define ABSENT FAM_ABSENT

static void decisions(const char *kind, const struct fam_shape *sh) {
    gomap_config cfg = fam_config(sh->kind, sh->value_size);
    concmap *m = NULL;
    REQUIRE_EQ(concmap_new(&m, kind, &cfg, NULL), 0);
    struct step s;

    /* absent + KEEP: stays absent */
    CHECK_EQ(compute(m, sh, 1, CONCMAP_KEEP, 5, &s), 0);
    CHECK(!s.saw_loaded);
    CHECK_EQ(get(m, sh, 1), ABSENT);
    CHECK_EQ(concmap_len(m), 0);
    /* absent + DELETE: a no-op */
    CHECK_EQ(compute(m, sh, 1, CONCMAP_DELETE, 0, &s), 0);
    CHECK_EQ(concmap_len(m), 0);
    /* absent + STORE: inserts fn's value */
    CHECK_EQ(compute(m, sh, 1, CONCMAP_STORE, 5, &s), 0);
    CHECK(!s.saw_loaded);
    CHECK_EQ(get(m, sh, 1), 5);
    CHECK_EQ(concmap_len(m), 1);
    /* present + STORE: fn sees the value and replaces it */
    CHECK_EQ(compute(m, sh, 1, CONCMAP_STORE, 3, &s), 0);
    CHECK(s.saw_loaded);
    CHECK_EQ(s.saw, 5);
    CHECK_EQ(get(m, sh, 1), 8);
    /* present + KEEP: what fn wrote in its buffer is dropped */
    CHECK_EQ(compute(m, sh, 1, CONCMAP_KEEP, 100, &s), 0);
    CHECK_EQ(s.saw, 8);
    CHECK_EQ(get(m, sh, 1), 8);
    /* present + STORE of the same bytes */
    CHECK_EQ(compute(m, sh, 1, CONCMAP_STORE, 0, &s), 0);
    CHECK_EQ(get(m, sh, 1), 8);
    CHECK_EQ(concmap_len(m), 1);
    /* present + DELETE */
    CHECK_EQ(compute(m, sh, 2, CONCMAP_STORE, 9, &s), 0);
    CHECK_EQ(concmap_len(m), 2);
    CHECK_EQ(compute(m, sh, 1, CONCMAP_DELETE, 0, &s), 0);
    CHECK(s.saw_loaded);
    CHECK_EQ(get(m, sh, 1), ABSENT);
    CHECK_EQ(get(m, sh, 2), 9);
    CHECK_EQ(concmap_len(m), 1);
    /* Uncontended, fn runs exactly once in every variant. */
    CHECK_EQ(s.calls, 1);
    /* After the other methods: compute sees what store wrote. */
    for (uint64_t id = 10; id < 300; id++) {
        struct fam_key k;
        unsigned char v[FAM_MAX_VALUE];
        fam_val(v, sh->value_size, id);
        REQUIRE_EQ(concmap_store(m, fam_key(&k, sh->kind, id), v), 0);
    }
    for (uint64_t id = 10; id < 300; id++)
        CHECK_EQ(compute(m, sh, id, CONCMAP_STORE, 1, &s), 0);
    for (uint64_t id = 10; id < 300; id++)
        CHECK_EQ(get(m, sh, id), id + 1);
    CHECK_EQ(concmap_len(m), 291);
    concmap_free(m);
}

TEST(decisions_every_variant) {
    FOR_EACH_VARIANT(kind) {
        for (int i = 0; i < FAM_NSHAPES; i++) {
            int before = check_case_failed;
            decisions(kind, &fam_shapes[i]);
            if (check_case_failed != before)
                fprintf(stderr, "  (variant %s, %s)\n", kind, fam_shapes[i].name);
        }
    }
}

static concmap_action keep_fn(void *value, bool loaded, void *ctx) {
    (void)value;
    (void)loaded;
    (void)ctx;
    return CONCMAP_KEEP;
}

TEST(errors) {
    uint64_t k = 1;
    CHECK_EQ(concmap_compute(NULL, &k, keep_fn, NULL), EINVAL);
    FOR_EACH_VARIANT(kind) {
        gomap_config cfg = fam_config(GOMAP_KEY_U64, 8);
        concmap *m = NULL;
        REQUIRE_EQ(concmap_new(&m, kind, &cfg, NULL), 0);
        CHECK_EQ(concmap_compute(m, &k, NULL, NULL), EINVAL);
        CHECK_EQ(concmap_len(m), 0);
        concmap_free(m);
    }
}

/* ---- concurrent counter -------------------------------------------------- */

enum { COUNTERS = 4, THREADS = 4 };
#if CHECK_SANITIZED
enum { INCREMENTS = 5000 };
#else
enum { INCREMENTS = 50000 };
#endif

struct worker {
    concmap *m;
    unsigned id;
    pthread_t t;
};

static concmap_action inc_fn(void *value, bool loaded, void *ctx) {
    (void)loaded;
    (void)ctx;
    uint64_t n;
    memcpy(&n, value, sizeof n);
    n++;
    memcpy(value, &n, sizeof n);
    return CONCMAP_STORE;
}

static void *counter_worker(void *arg) {
    struct worker *w = arg;
    uint64_t rng = w->id + 1;
    for (unsigned i = 0; i < INCREMENTS; i++) {
        uint64_t k = i % COUNTERS;
        if (concmap_compute(w->m, &k, inc_fn, NULL) != 0)
            abort();
        /* Churn on other keys, so that syncmap promotes and rebuilds its
         * dirty map and the locked maps grow, while the counters run. */
        uint64_t other = 1000 + fam_rand(&rng) % 64, v = i;
        if (i % 3 == 0)
            concmap_delete(w->m, &other);
        else if (concmap_store(w->m, &other, &v) != 0)
            abort();
    }
    return NULL;
}

TEST(concurrent_counter_loses_nothing) {
    FOR_EACH_VARIANT(kind) {
        gomap_config cfg = fam_config(GOMAP_KEY_U64, sizeof(uint64_t));
        concmap *m = NULL;
        REQUIRE_EQ(concmap_new(&m, kind, &cfg, NULL), 0);
        struct worker w[THREADS];
        for (unsigned i = 0; i < THREADS; i++) {
            w[i].m = m;
            w[i].id = i;
            REQUIRE_EQ(pthread_create(&w[i].t, NULL, counter_worker, &w[i]), 0);
        }
        for (unsigned i = 0; i < THREADS; i++)
            pthread_join(w[i].t, NULL);
        uint64_t total = 0;
        for (uint64_t k = 0; k < COUNTERS; k++) {
            uint64_t v = 0;
            CHECK(concmap_load(m, &k, &v));
            CHECK_EQ(v, (uint64_t)THREADS * INCREMENTS / COUNTERS);
            total += v;
        }
        CHECK_EQ(total, (uint64_t)THREADS * INCREMENTS);
        if (total != (uint64_t)THREADS * INCREMENTS)
            fprintf(stderr, "  (variant %s)\n", kind);
        concmap_free(m);
    }
}

TEST_MAIN()
