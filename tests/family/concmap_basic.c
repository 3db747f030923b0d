/*
 * concmap_basic.c — every method of every thread-safe variant, one thread:
 * Go's sync.Map semantics (sync/map.go, go1.19) for each, over u64 and
 * string keys and 8- and 24-byte values; creation errors; allocation
 * failure.  Variants come from concmap_variants, so each new one is covered.
 */
#include <errno.h>

#include "check.h"
#include "concmap_util.h"

/* Runs body for each variant and shape, naming them when a check fails. */
#define FOR_EACH_VARIANT_SHAPE(kind, sh, body)                                                     \
    FOR_EACH_VARIANT(kind) {                                                                       \
        for (int sh##_i = 0; sh##_i < FAM_NSHAPES; sh##_i++) {                                     \
            const struct fam_shape *sh = &fam_shapes[sh##_i];                                      \
            int before_ = check_case_failed;                                                       \
            body;                                                                                  \
            if (check_case_failed != before_)                                                      \
                fprintf(stderr, "  (variant %s, %s)\n", kind, sh->name);                           \
        }                                                                                          \
    }

static concmap *make(const char *kind, const struct fam_shape *sh) {
    gomap_config cfg = fam_config(sh->kind, sh->value_size);
    concmap *m = NULL;
    int err = concmap_new(&m, kind, &cfg, NULL);
    CHECK_EQ(err, 0);
    return m;
}

/* Loads key id and returns its value's integer, or ABSENT. */
static uint64_t get(concmap *m, const struct fam_shape *sh, uint64_t id) {
    return fam_load_id(m, sh->kind, sh->value_size, id);
}
#define ABSENT FAM_ABSENT

static int put(concmap *m, const struct fam_shape *sh, uint64_t id, uint64_t val) {
    struct fam_key k;
    unsigned char v[FAM_MAX_VALUE];
    fam_val(v, sh->value_size, val);
    return concmap_store(m, fam_key(&k, sh->kind, id), v);
}

static void methods(const char *kind, const struct fam_shape *sh) {
    concmap *m = make(kind, sh);
    if (!m)
        return;
    size_t vs = sh->value_size;
    struct fam_key k;
    unsigned char v[FAM_MAX_VALUE], w[FAM_MAX_VALUE], out[FAM_MAX_VALUE];
    bool flag;

    CHECK(strcmp(concmap_variant(m), kind) == 0);
    CHECK_EQ(concmap_len(m), 0);
    CHECK(!concmap_load(m, fam_key(&k, sh->kind, 1), out));
    CHECK(!concmap_load(m, fam_key(&k, sh->kind, 1), NULL));

    /* store / load / overwrite */
    CHECK_EQ(put(m, sh, 1, 100), 0);
    CHECK_EQ(get(m, sh, 1), 100);
    CHECK(concmap_load(m, fam_key(&k, sh->kind, 1), NULL));
    CHECK_EQ(put(m, sh, 1, 101), 0);
    CHECK_EQ(get(m, sh, 1), 101);
    CHECK_EQ(concmap_len(m), 1);

    /* load_or_store: present -> the existing value, loaded, no change */
    fam_val(v, vs, 555);
    flag = false;
    CHECK_EQ(concmap_load_or_store(m, fam_key(&k, sh->kind, 1), v, out, &flag), 0);
    CHECK(flag);
    CHECK_EQ(fam_val_id(out, vs), 101);
    CHECK_EQ(get(m, sh, 1), 101);
    /* absent -> stores, returns the stored value, not loaded */
    flag = true;
    CHECK_EQ(concmap_load_or_store(m, fam_key(&k, sh->kind, 2), v, out, &flag), 0);
    CHECK(!flag);
    CHECK_EQ(fam_val_id(out, vs), 555);
    CHECK_EQ(get(m, sh, 2), 555);
    CHECK_EQ(concmap_len(m), 2);
    /* out-pointers may be NULL */
    CHECK_EQ(concmap_load_or_store(m, fam_key(&k, sh->kind, 2), v, NULL, NULL), 0);

    /* swap: present -> previous value, loaded; absent -> loaded false */
    fam_val(v, vs, 777);
    CHECK_EQ(concmap_swap(m, fam_key(&k, sh->kind, 2), v, out, &flag), 0);
    CHECK(flag);
    CHECK_EQ(fam_val_id(out, vs), 555);
    CHECK_EQ(get(m, sh, 2), 777);
    flag = true;
    CHECK_EQ(concmap_swap(m, fam_key(&k, sh->kind, 3), v, out, &flag), 0);
    CHECK(!flag);
    CHECK_EQ(get(m, sh, 3), 777);
    CHECK_EQ(concmap_len(m), 3);

    /* compare_and_swap: absent key never swaps (and stores nothing) */
    fam_val(v, vs, 0);
    fam_val(w, vs, 1);
    flag = true;
    CHECK_EQ(concmap_compare_and_swap(m, fam_key(&k, sh->kind, 9), v, w, &flag), 0);
    CHECK(!flag);
    CHECK_EQ(get(m, sh, 9), ABSENT);
    /* wrong old value: no swap */
    fam_val(v, vs, 776);
    flag = true;
    CHECK_EQ(concmap_compare_and_swap(m, fam_key(&k, sh->kind, 3), v, w, &flag), 0);
    CHECK(!flag);
    CHECK_EQ(get(m, sh, 3), 777);
    /* right old value: swaps */
    fam_val(v, vs, 777);
    CHECK_EQ(concmap_compare_and_swap(m, fam_key(&k, sh->kind, 3), v, w, &flag), 0);
    CHECK(flag);
    CHECK_EQ(get(m, sh, 3), 1);
    /* a 24-byte value differing only in its last word does not match */
    if (vs == 24) {
        fam_val(v, vs, 1);
        v[23] ^= 1;
        CHECK_EQ(concmap_compare_and_swap(m, fam_key(&k, sh->kind, 3), v, w, &flag), 0);
        CHECK(!flag);
    }

    /* compare_and_delete: wrong value keeps the key; right value deletes */
    fam_val(v, vs, 2);
    CHECK(!concmap_compare_and_delete(m, fam_key(&k, sh->kind, 3), v));
    CHECK_EQ(get(m, sh, 3), 1);
    CHECK(!concmap_compare_and_delete(m, fam_key(&k, sh->kind, 42), v));
    fam_val(v, vs, 1);
    CHECK(concmap_compare_and_delete(m, fam_key(&k, sh->kind, 3), v));
    CHECK_EQ(get(m, sh, 3), ABSENT);
    CHECK_EQ(concmap_len(m), 2);

    /* load_and_delete */
    CHECK(concmap_load_and_delete(m, fam_key(&k, sh->kind, 2), out));
    CHECK_EQ(fam_val_id(out, vs), 777);
    CHECK(!concmap_load_and_delete(m, fam_key(&k, sh->kind, 2), out));
    CHECK_EQ(get(m, sh, 2), ABSENT);
    CHECK_EQ(concmap_len(m), 1);

    /* delete: present, then absent (a no-op) */
    concmap_delete(m, fam_key(&k, sh->kind, 1));
    CHECK_EQ(get(m, sh, 1), ABSENT);
    concmap_delete(m, fam_key(&k, sh->kind, 1));
    concmap_delete(m, fam_key(&k, sh->kind, 12345));
    CHECK_EQ(concmap_len(m), 0);

    /* a deleted key can come back */
    CHECK_EQ(put(m, sh, 1, 5), 0);
    CHECK_EQ(get(m, sh, 1), 5);
    CHECK_EQ(concmap_len(m), 1);
    concmap_free(m);
}

TEST(every_method_go_semantics) {
    FOR_EACH_VARIANT_SHAPE(kind, sh, methods(kind, sh));
}

/* ---- range ----------------------------------------------------------------- */

/* Sizes stay modest: cowmap copies the whole map on every write (O(n)). */
enum { RANGE_N = 1000 };

struct seen {
    const struct fam_shape *sh;
    unsigned char count[RANGE_N];
    unsigned char deleted[RANGE_N]; /* deleted by the callback */
    size_t calls;
    size_t stop_after; /* 0: never stop */
    bool bad;
    concmap *m; /* for callbacks that call the map */
};

static bool count_cb(const void *key, const void *value, void *ctx) {
    struct seen *s = ctx;
    uint64_t id = fam_key_id(s->sh->kind, key);
    uint64_t v = fam_val_id(value, s->sh->value_size);
    if (id >= RANGE_N || v != id * 3)
        s->bad = true;
    else
        s->count[id]++;
    s->calls++;
    return !(s->stop_after && s->calls == s->stop_after);
}

static void range_all(const char *kind, const struct fam_shape *sh) {
    concmap *m = make(kind, sh);
    if (!m)
        return;
    for (uint64_t i = 0; i < RANGE_N; i++)
        CHECK_EQ(put(m, sh, i, i * 3), 0);
    CHECK_EQ(concmap_len(m), RANGE_N);
    static struct seen s;
    memset(&s, 0, sizeof s);
    s.sh = sh;
    concmap_range(m, count_cb, &s);
    CHECK(!s.bad);
    CHECK_EQ(s.calls, RANGE_N);
    for (uint64_t i = 0; i < RANGE_N; i++)
        CHECK_EQ(s.count[i], 1);

    /* early stop: exactly stop_after calls */
    memset(&s, 0, sizeof s);
    s.sh = sh;
    s.stop_after = 10;
    concmap_range(m, count_cb, &s);
    CHECK_EQ(s.calls, 10);

    /* delete every odd key; range sees the even ones once each */
    struct fam_key k;
    for (uint64_t i = 1; i < RANGE_N; i += 2)
        concmap_delete(m, fam_key(&k, sh->kind, i));
    CHECK_EQ(concmap_len(m), RANGE_N / 2);
    memset(&s, 0, sizeof s);
    s.sh = sh;
    concmap_range(m, count_cb, &s);
    CHECK(!s.bad);
    CHECK_EQ(s.calls, RANGE_N / 2);
    for (uint64_t i = 0; i < RANGE_N; i++)
        CHECK_EQ(s.count[i], i % 2 == 0);

    /* range after clear sees nothing; the map is usable afterwards */
    concmap_clear(m);
    CHECK_EQ(concmap_len(m), 0);
    memset(&s, 0, sizeof s);
    s.sh = sh;
    concmap_range(m, count_cb, &s);
    CHECK_EQ(s.calls, 0);
    CHECK_EQ(get(m, sh, 4), ABSENT);
    CHECK_EQ(put(m, sh, 4, 12), 0);
    CHECK_EQ(get(m, sh, 4), 12);
    CHECK_EQ(concmap_len(m), 1);
    concmap_clear(m);
    concmap_clear(m); /* clearing an empty map */
    CHECK_EQ(concmap_len(m), 0);
    concmap_free(m);
}

TEST(range_each_key_once_early_stop_after_clear) {
    FOR_EACH_VARIANT_SHAPE(kind, sh, range_all(kind, sh));
}

/* The callback calls the map: it loads and rewrites the visited key, deletes
 * the next one, and stores a new key (ids >= RANGE_N / 2 + 1000).  No lock
 * may be held across the callback, so none of this may deadlock. */
static bool reentrant_cb(const void *key, const void *value, void *ctx) {
    struct seen *s = ctx;
    const struct fam_shape *sh = s->sh;
    uint64_t id = fam_key_id(sh->kind, key);
    (void)value;
    if (id >= RANGE_N) {
        s->calls++;
        return true;
    }
    s->count[id]++;
    struct fam_key k;
    unsigned char v[FAM_MAX_VALUE];
    /* A key deleted by an earlier call may still be visited (from a
     * snapshot taken before the delete); then it is absent now. */
    if (concmap_load(s->m, fam_key(&k, sh->kind, id), v)) {
        if (fam_val_id(v, sh->value_size) != id)
            s->bad = true;
    } else if (!s->deleted[id]) {
        s->bad = true;
    }
    fam_val(v, sh->value_size, id + 1);
    if (concmap_store(s->m, fam_key(&k, sh->kind, id), v) != 0)
        s->bad = true;
    concmap_delete(s->m, fam_key(&k, sh->kind, (id + 1) % 200));
    s->deleted[(id + 1) % 200] = 1;
    if (concmap_store(s->m, fam_key(&k, sh->kind, RANGE_N + id), v) != 0)
        s->bad = true;
    bool loaded;
    (void)concmap_len(s->m);
    if (concmap_load_or_store(s->m, fam_key(&k, sh->kind, id), v, NULL, &loaded) != 0 || !loaded)
        s->bad = true;
    s->calls++;
    return true;
}

static void range_reentrant(const char *kind, const struct fam_shape *sh) {
    concmap *m = make(kind, sh);
    if (!m)
        return;
    for (uint64_t i = 0; i < 200; i++)
        CHECK_EQ(put(m, sh, i, i), 0);
    static struct seen s;
    memset(&s, 0, sizeof s);
    s.sh = sh;
    s.m = m;
    concmap_range(m, reentrant_cb, &s);
    CHECK(!s.bad);
    for (uint64_t i = 0; i < 200; i++)
        CHECK(s.count[i] <= 1); /* each key at most once, even when rewritten */
    /* every key the callback saw now holds id+1; its "new" key exists */
    size_t visited = 0;
    for (uint64_t i = 0; i < 200; i++) {
        if (!s.count[i])
            continue;
        visited++;
        CHECK_EQ(get(m, sh, RANGE_N + i), i + 1);
    }
    CHECK(visited > 0);
    concmap_free(m);
}

TEST(range_callback_calls_the_map) {
    FOR_EACH_VARIANT_SHAPE(kind, sh, range_reentrant(kind, sh));
}

/* ---- the deprecated names ------------------------------------------------- */

/* concmap_kinds and concmap_kind are the old names of concmap_variants and
 * concmap_variant: code written against them must still build, link and get
 * the same answers. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
TEST(deprecated_variant_names) {
    size_t n = 0;
    while (concmap_variants[n]) {
        CHECK(concmap_kinds[n] == concmap_variants[n]);
        n++;
    }
    CHECK(n > 0);
    CHECK(concmap_kinds[n] == NULL);
    CHECK(concmap_kind(NULL) == NULL);
    CHECK(concmap_variant(NULL) == NULL);
    FOR_EACH_VARIANT(kind) {
        concmap *m = make(kind, &fam_shapes[0]);
        if (!m)
            continue;
        CHECK(strcmp(concmap_kind(m), kind) == 0);
        CHECK(concmap_kind(m) == concmap_variant(m));
        concmap_free(m);
    }
}
#pragma GCC diagnostic pop

/* ---- creation -------------------------------------------------------------- */

TEST(variants_and_creation_errors) {
    size_t n = 0;
    bool has_rw = false, has_shard = false;
    FOR_EACH_VARIANT(kind) {
        n++;
        has_rw |= strcmp(kind, "rw") == 0;
        has_shard |= strcmp(kind, "shard") == 0;
    }
    CHECK(n >= 2);
    CHECK(has_rw && has_shard);
    gomap_config cfg = fam_config(GOMAP_KEY_U64, 8);
    concmap *m = (concmap *)&cfg;
    CHECK_EQ(concmap_new(&m, "nope", &cfg, NULL), EINVAL);
    CHECK(m == NULL);
    CHECK_EQ(concmap_new(&m, NULL, &cfg, NULL), EINVAL);
    CHECK_EQ(concmap_new(NULL, "rw", &cfg, NULL), EINVAL);
    FOR_EACH_VARIANT(kind) {
        m = (concmap *)&cfg;
        CHECK_EQ(concmap_new(&m, kind, NULL, NULL), EINVAL);
        CHECK(m == NULL);
        gomap_config bad = fam_config(GOMAP_KEY_U64, GOMAP_MAX_VALUE_SIZE + 1);
        CHECK_EQ(concmap_new(&m, kind, &bad, NULL), EINVAL);
        /* shard_bits: a valid value works everywhere, an absurd one fails
         * for the variant that reads it */
        concmap_options o = {.shard_bits = 3};
        REQUIRE_EQ(concmap_new(&m, kind, &cfg, &o), 0);
        CHECK_EQ(put(m, &fam_shapes[0], 7, 8), 0);
        CHECK_EQ(get(m, &fam_shapes[0], 7), 8);
        concmap_free(m);
    }
    concmap_options huge = {.shard_bits = 40};
    CHECK_EQ(concmap_new(&m, "shard", &cfg, &huge), EINVAL);
    concmap_free(NULL);
    CHECK(concmap_variant(NULL) == NULL);
}

/* A hint and many keys: growth under every variant, then every key back.
 * (3000 inserts: quadratic for cowmap, so not more.) */
enum { GROW_N = 3000 };
TEST(hint_and_growth) {
    FOR_EACH_VARIANT(kind) {
        for (int hinted = 0; hinted < 2; hinted++) {
            gomap_config cfg = fam_config(GOMAP_KEY_U64, 8);
            cfg.hint = hinted ? 1000 : 0;
            concmap *m;
            REQUIRE_EQ(concmap_new(&m, kind, &cfg, NULL), 0);
            for (uint64_t i = 0; i < GROW_N; i++)
                CHECK_EQ(put(m, &fam_shapes[0], i, i ^ 0x55), 0);
            CHECK_EQ(concmap_len(m), GROW_N);
            for (uint64_t i = 0; i < GROW_N; i++)
                if (get(m, &fam_shapes[0], i) != (i ^ 0x55)) {
                    CHECK_EQ(get(m, &fam_shapes[0], i), i ^ 0x55);
                    break;
                }
            concmap_free(m);
        }
    }
}

/* ---- allocation failure ------------------------------------------------------ */

/* An allocator that fails every allocation while `failing` is set. */
struct failing_alloc {
    bool failing;
    size_t fails;
};
static void *fa_alloc(size_t size, void *ctx) {
    struct failing_alloc *f = ctx;
    if (f->failing) {
        f->fails++;
        return NULL;
    }
    return malloc(size);
}
static void fa_free(void *p, size_t size, void *ctx) {
    (void)size;
    (void)ctx;
    free(p);
}

static bool sum_cb(const void *key, const void *value, void *ctx) {
    uint64_t *acc = ctx;
    uint64_t id = *(const uint64_t *)key;
    acc[0]++;
    acc[1] += id;
    acc[2] += fam_val_id(value, 8) == id;
    return true;
}

/* While memory is exhausted, writes that need memory return ENOMEM and leave
 * the map exactly as it was; the rest keep working; range still visits every
 * entry once (it cannot report ENOMEM, so it must not need memory to work). */
/* A u64 -> 8-byte map of the variant over *al (which must outlive it), with
 * keys 0 .. n - 1 stored, key i's value i * mult.  NULL on failure. */
static concmap *make_filled(const char *kind, const gomap_allocator *al, uint64_t n,
                            uint64_t mult) {
    gomap_config cfg = fam_config(GOMAP_KEY_U64, 8);
    cfg.allocator = al;
    concmap *m = NULL;
    CHECK_EQ(concmap_new(&m, kind, &cfg, NULL), 0);
    for (uint64_t i = 0; m && i < n; i++)
        CHECK_EQ(put(m, &fam_shapes[0], i, i * mult), 0);
    return m;
}

TEST(allocation_failure_leaves_map_unchanged) {
    FOR_EACH_VARIANT(kind) {
        struct failing_alloc fa = {false, 0};
        gomap_allocator al = {fa_alloc, fa_free, &fa};
        enum { N = 2000 };
        concmap *m = make_filled(kind, &al, N, 1);
        REQUIRE(m != NULL);
        const struct fam_shape *sh = &fam_shapes[0];
        fa.failing = true;
        /* Insert until memory is needed: each either succeeds or fails
         * cleanly. */
        size_t inserted = 0, refused = 0;
        for (uint64_t i = N; i < 4 * N; i++) {
            int err = put(m, sh, i, i);
            if (err == 0) {
                inserted++;
                CHECK_EQ(get(m, sh, i), i);
            } else {
                CHECK_EQ(err, ENOMEM);
                refused++;
                CHECK_EQ(get(m, sh, i), ABSENT);
            }
            unsigned char v[8], out[8];
            bool loaded = true;
            fam_val(v, 8, i);
            struct fam_key k;
            err = concmap_load_or_store(m, fam_key(&k, sh->kind, i + 100000), v, out, &loaded);
            if (err) {
                CHECK_EQ(err, ENOMEM);
                CHECK_EQ(get(m, sh, i + 100000), ABSENT);
            } else {
                concmap_delete(m, fam_key(&k, sh->kind, i + 100000));
            }
        }
        CHECK_EQ(concmap_len(m), N + inserted);
        /* the old entries are intact and updatable in place */
        for (uint64_t i = 0; i < N; i += 97)
            CHECK_EQ(get(m, sh, i), i);
        uint64_t acc[3] = {0, 0, 0};
        concmap_range(m, sum_cb, acc);
        CHECK_EQ(acc[0], N + inserted);
        CHECK_EQ(acc[2], N + inserted);
        fa.failing = false;
        CHECK_EQ(put(m, sh, 999999, 1), 0);
        CHECK_EQ(get(m, sh, 999999), 1);
        concmap_free(m);
        if (refused == 0)
            printf("  note: variant %s never needed memory for %d inserts\n", kind, 3 * N);
    }
}

/* A batch of keys ids first .. first + n - 1 as concmap_store_many takes
 * them (n keys of the map's kind back to back), with values id * 3; the
 * string keys point into `keys`, which must outlive the batch. */
enum { BATCH_MAX = 6001 };
struct batch {
    struct fam_key keys[BATCH_MAX];
    union {
        uint64_t u[BATCH_MAX];
        gomap_str s[BATCH_MAX];
    } k;
    unsigned char v[BATCH_MAX * FAM_MAX_VALUE];
};

static void batch_make(struct batch *b, const struct fam_shape *sh, uint64_t first, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const void *key = fam_key(&b->keys[i], sh->kind, first + i);
        if (sh->kind == GOMAP_KEY_STRING)
            b->k.s[i] = *(const gomap_str *)key;
        else
            b->k.u[i] = *(const uint64_t *)key;
        fam_val(b->v + i * sh->value_size, sh->value_size, (first + i) * 3);
    }
}

/* store_many stores every key of the batch as concmap_store would (the last
 * value of a repeated key wins, NULL values are zeros), and refuses a batch
 * with a bad key or no keys without storing any of it. */
static void store_many(const char *kind, const struct fam_shape *sh) {
    static struct batch b;
    concmap *m = make(kind, sh);
    if (!m)
        return;
    enum { N = 300 };
    size_t vs = sh->value_size;
    batch_make(&b, sh, 0, N);
    CHECK_EQ(concmap_store_many(m, N, &b.k, b.v), 0);
    CHECK_EQ(concmap_len(m), N);
    for (uint64_t i = 0; i < N; i++)
        CHECK_EQ(get(m, sh, i), i * 3);
    /* overwrites, and key 5 twice: its second value wins */
    batch_make(&b, sh, 0, 11);
    fam_val(b.v + 4 * vs, vs, 444);
    if (sh->kind == GOMAP_KEY_STRING)
        b.k.s[10] = b.k.s[5];
    else
        b.k.u[10] = b.k.u[5];
    fam_val(b.v + 10 * vs, vs, 777);
    CHECK_EQ(concmap_store_many(m, 11, &b.k, b.v), 0);
    CHECK_EQ(concmap_len(m), N);
    CHECK_EQ(get(m, sh, 4), 444);
    CHECK_EQ(get(m, sh, 5), 777);
    CHECK_EQ(get(m, sh, 6), 18);
    /* NULL values store zeros */
    batch_make(&b, sh, 5000, 2);
    CHECK_EQ(concmap_store_many(m, 2, &b.k, NULL), 0);
    unsigned char out[FAM_MAX_VALUE], zero[FAM_MAX_VALUE] = {0};
    struct fam_key k;
    CHECK(concmap_load(m, fam_key(&k, sh->kind, 5001), out));
    CHECK(memcmp(out, zero, vs) == 0);
    CHECK_EQ(concmap_len(m), N + 2);
    /* nothing to store; no keys; a NULL handle */
    CHECK_EQ(concmap_store_many(m, 0, NULL, NULL), 0);
    CHECK_EQ(concmap_store_many(m, 3, NULL, b.v), EINVAL);
    CHECK_EQ(concmap_store_many(NULL, 3, &b.k, b.v), EINVAL);
    /* a key no map can hold, after good ones: nothing is stored */
    if (sh->kind == GOMAP_KEY_STRING) {
        batch_make(&b, sh, 6000, 4);
        b.k.s[3] = (gomap_str){NULL, 5};
        CHECK_EQ(concmap_store_many(m, 4, &b.k, b.v), EINVAL);
        b.k.s[3] = (gomap_str){"x", (size_t)1 << 47};
        CHECK_EQ(concmap_store_many(m, 4, &b.k, b.v), EINVAL);
        CHECK_EQ(get(m, sh, 6000), ABSENT);
        CHECK_EQ(concmap_len(m), N + 2);
    }
    concmap_free(m);
}

TEST(store_many_stores_the_batch_or_refuses_it_whole) {
    FOR_EACH_VARIANT_SHAPE(kind, sh, store_many(kind, sh));
}

/* Without memory, rw's, shard's and cow's batch stores nothing; sync's stops
 * at the key whose store failed (the keys before it stored, it and the rest
 * not); and the same call, repeated once memory is back, completes the
 * batch. */
TEST(store_many_without_memory) {
    static struct batch b;
    FOR_EACH_VARIANT(kind) {
        struct failing_alloc fa = {false, 0};
        gomap_allocator al = {fa_alloc, fa_free, &fa};
        enum { N = 2000, M = 3 * N };
        concmap *m = make_filled(kind, &al, N, 3);
        REQUIRE(m != NULL);
        const struct fam_shape *sh = &fam_shapes[0];
        batch_make(&b, sh, N, M);
        fa.failing = true;
        int err = concmap_store_many(m, M, &b.k, b.v);
        fa.failing = false;
        size_t stored = 0;
        while (stored < M && get(m, sh, N + stored) == (N + stored) * 3)
            stored++;
        if (err == 0) {
            CHECK_EQ(stored, M);
            printf("  note: variant %s never needed memory for %d stores\n", kind, M);
        } else {
            CHECK_EQ(err, ENOMEM);
            if (strcmp(kind, "sync") != 0)
                CHECK_EQ(stored, 0);
            CHECK(stored < M);
            for (size_t i = stored; i < M; i++)
                CHECK_EQ(get(m, sh, N + i), ABSENT);
            CHECK_EQ(concmap_len(m), N + stored);
        }
        CHECK_EQ(concmap_store_many(m, M, &b.k, b.v), 0);
        CHECK_EQ(concmap_len(m), N + M);
        for (uint64_t i = 0; i < N + M; i += 7)
            CHECK_EQ(get(m, sh, i), i * 3);
        concmap_free(m);
        if (check_case_failed)
            fprintf(stderr, "  (variant %s)\n", kind);
    }
}

/* An allocator that allows `left` more allocations, then fails them all. */
struct budget_alloc {
    size_t left;
};
static void *ba_alloc(size_t size, void *ctx) {
    struct budget_alloc *b = ctx;
    if (b->left == 0)
        return NULL;
    b->left--;
    return malloc(size);
}

/* A batch that overwrites keys, adds keys and names one key twice, run out
 * of memory at each allocation it makes in turn: rw, shard and cow return
 * ENOMEM with the map as it was (every key's value, len), or 0 with the
 * whole batch stored. */
TEST(store_many_without_memory_leaves_the_map_unchanged) {
    static struct batch b;
    FOR_EACH_VARIANT(kind) {
        if (strcmp(kind, "sync") == 0)
            continue; /* keeps the stores before the failure (concmap.h) */
        enum { N = 200, FIRST = 100, M = 400 };
        struct budget_alloc ba = {SIZE_MAX};
        gomap_allocator al = {ba_alloc, fa_free, &ba};
        concmap *m = make_filled(kind, &al, N, 3);
        REQUIRE(m != NULL);
        int failed_before = check_case_failed;
        const struct fam_shape *sh = &fam_shapes[0];
        batch_make(&b, sh, FIRST, M); /* keys 100..199 present, 200..499 new */
        for (size_t i = 0; i < M; i++)
            fam_val(b.v + i * 8, 8, (FIRST + i) * 5);
        b.k.u[M - 1] = b.k.u[0]; /* key 100 twice, its last value 499 * 5 */
        size_t failures = 0;
        for (size_t budget = 0;; budget++) {
            ba.left = budget;
            int err = concmap_store_many(m, M, &b.k, b.v);
            ba.left = SIZE_MAX;
            if (err == 0)
                break;
            CHECK_EQ(err, ENOMEM);
            failures++;
            CHECK_EQ(concmap_len(m), N);
            for (uint64_t id = 0; id < FIRST + M; id++)
                CHECK_EQ(get(m, sh, id), id < N ? id * 3 : ABSENT);
            if (check_case_failed != failed_before)
                break;
        }
        CHECK(failures > 0);
        CHECK_EQ(concmap_len(m), FIRST + M - 1);
        CHECK_EQ(get(m, sh, FIRST), (FIRST + M - 1) * 5);
        for (uint64_t id = 0; id < FIRST + M; id++)
            if (id != FIRST)
                CHECK_EQ(get(m, sh, id), id < FIRST           ? id * 3
                                         : id < FIRST + M - 1 ? id * 5
                                                              : ABSENT);
        concmap_free(m);
        if (check_case_failed != failed_before)
            fprintf(stderr, "  (variant %s)\n", kind);
    }
}

static bool long_key_cb(const void *key, const void *value, void *ctx) {
    size_t *seen = ctx; /* [0] short keys, [1] the long key, [2] bad */
    const gomap_str *k = key;
    uint64_t v;
    memcpy(&v, value, 8);
    if (k->len == 5000)
        seen[1] += v == 5000 && k->ptr[0] == 'L' && k->ptr[4999] == 'L';
    else if (k->len < 5000 && v == k->len)
        seen[0]++;
    else
        seen[2]++;
    return true;
}

/* Range without memory on a string map whose one key is longer than any
 * fixed buffer a range could fall back to: still every entry, once. */
TEST(range_without_memory_long_string_key) {
    FOR_EACH_VARIANT(kind) {
        struct failing_alloc fa = {false, 0};
        gomap_allocator al = {fa_alloc, fa_free, &fa};
        gomap_config cfg = fam_config(GOMAP_KEY_STRING, 8);
        cfg.allocator = &al;
        concmap *m;
        REQUIRE_EQ(concmap_new(&m, kind, &cfg, NULL), 0);
        static char buf[5000];
        memset(buf, 'L', sizeof buf);
        for (uint64_t len = 1; len <= 300; len++) {
            gomap_str k = {buf, len};
            REQUIRE_EQ(concmap_store(m, &k, &len), 0);
        }
        gomap_str lk = {buf, sizeof buf};
        uint64_t lv = sizeof buf;
        REQUIRE_EQ(concmap_store(m, &lk, &lv), 0);
        fa.failing = true;
        size_t seen[3] = {0, 0, 0};
        concmap_range(m, long_key_cb, seen);
        CHECK_EQ(seen[0], 300);
        CHECK_EQ(seen[1], 1);
        CHECK_EQ(seen[2], 0);
        fa.failing = false;
        concmap_free(m);
        if (check_case_failed)
            fprintf(stderr, "  (variant %s)\n", kind);
    }
}

TEST_MAIN()
