/*
 * map_many_test.c — batched lookups (gomap_get_many, rwmap_load_many,
 * shardmap_load_many) agree with one lookup per key, for every key kind,
 * across growth, for absent and absurd keys, keys sharing a tophash, NULL maps
 * and a NULL output array.
 */
#include "check.h"
#include "map_test_util.h"

#include <gomap/rwmap.h>
#include <signal.h>
#include <gomap/shardmap.h>

enum { N = 3000 };

/* n keys of `kind` (indexes base, base+step, ...) laid out as gomap_get_many
 * takes them; the tu_key array keeps string bytes alive. */
struct batch {
    struct tu_key *k;
    char *arg;
    size_t stride;
};

static size_t arg_size(gomap_key_kind kind) {
    switch (kind) {
    case GOMAP_KEY_U32:
        return sizeof(uint32_t);
    case GOMAP_KEY_U64:
        return sizeof(uint64_t);
    case GOMAP_KEY_STRING:
    case GOMAP_KEY_STRING_BORROWED:
        return sizeof(gomap_str);
    default:
        return TU_BYTES_KEY_SIZE;
    }
}

static void batch_make(struct batch *b, gomap_key_kind kind, const uint64_t *idx, size_t n) {
    b->k = calloc(n ? n : 1, sizeof *b->k);
    b->stride = arg_size(kind);
    b->arg = calloc(n ? n : 1, b->stride);
    for (size_t i = 0; i < n; i++) {
        tu_key_make(&b->k[i], kind, idx[i]);
        memcpy(b->arg + i * b->stride, tu_key_ptr(&b->k[i]), b->stride);
    }
}

static void batch_free(struct batch *b) {
    free(b->k);
    free(b->arg);
}

static gomap *make_map(gomap_key_kind kind, size_t value_size) {
    gomap_config cfg = {
        kind, kind == GOMAP_KEY_BYTES ? TU_BYTES_KEY_SIZE : 0, value_size, 0, 0, 0, 0, 0};
    gomap *m = NULL;
    if (gomap_new(&m, &cfg) != 0)
        return NULL;
    return m;
}

/* Checks gomap_get_many on idx[0..n) against gomap_get, in batches of `bs`. */
static void check_many(const gomap *m, gomap_key_kind kind, const uint64_t *idx, size_t n,
                       size_t bs) {
    struct batch b;
    batch_make(&b, kind, idx, n);
    void **out = calloc(n ? n : 1, sizeof *out);
    for (size_t at = 0; at < n; at += bs) {
        size_t g = n - at < bs ? n - at : bs;
        size_t want = 0;
        size_t got = gomap_get_many(m, b.arg + at * b.stride, g, out + at);
        for (size_t i = at; i < at + g; i++) {
            void *single = gomap_get(m, tu_key_ptr(&b.k[i]));
            want += single != NULL;
            CHECK(out[i] == single);
        }
        CHECK_EQ(got, want);
        CHECK_EQ(gomap_get_many(m, b.arg + at * b.stride, g, NULL), want);
    }
    free(out);
    batch_free(&b);
}

static void run_kind(gomap_key_kind kind) {
    gomap *m = make_map(kind, sizeof(uint64_t));
    REQUIRE(m != NULL);
    uint64_t *idx = malloc(2 * N * sizeof *idx);
    for (size_t i = 0; i < 2 * N; i++)
        idx[i] = i;
    /* Empty map, then while growing (checked every 97 inserts), then full. */
    check_many(m, kind, idx, 100, 16);
    /* Borrowed string keys must outlive the map. */
    static struct tu_key stored[N];
    for (uint64_t i = 0; i < N; i++) {
        tu_key_make(&stored[i], kind, 2 * i);
        uint64_t v = i;
        REQUIRE_EQ(gomap_set(m, tu_key_ptr(&stored[i]), &v), 0);
        if (i % 97 == 0)
            check_many(m, kind, idx, 2 * i + 2, 33);
    }
    for (size_t bs = 1; bs <= 2 * N; bs = bs * 3 + 2)
        check_many(m, kind, idx, 2 * N, bs);
    /* The values are the ones stored. */
    struct batch b;
    batch_make(&b, kind, idx, 2 * N);
    void **out = calloc(2 * N, sizeof *out);
    CHECK_EQ(gomap_get_many(m, b.arg, 2 * N, out), (size_t)N);
    for (size_t i = 0; i < 2 * N; i++) {
        if (i % 2) {
            CHECK(out[i] == NULL);
        } else {
            REQUIRE(out[i] != NULL);
            CHECK_EQ(*(uint64_t *)out[i], (uint64_t)(i / 2));
        }
    }
    free(out);
    batch_free(&b);
    free(idx);
    gomap_free(m);
    memset(stored, 0, sizeof stored);
}

TEST(get_many_u64) {
    run_kind(GOMAP_KEY_U64);
}
TEST(get_many_u32) {
    run_kind(GOMAP_KEY_U32);
}
TEST(get_many_string) {
    run_kind(GOMAP_KEY_STRING);
}
TEST(get_many_borrowed_string) {
    run_kind(GOMAP_KEY_STRING_BORROWED);
}
TEST(get_many_bytes) {
    run_kind(GOMAP_KEY_BYTES);
}

/* Case-insensitive byte keys: the batch must use the user's functions. */
static uint64_t ci_hash(const void *key, uint64_t seed, void *ctx) {
    (void)ctx;
    const unsigned char *p = key;
    uint64_t h = seed;
    for (size_t i = 0; i < 8; i++)
        h = (h ^ (uint64_t)(p[i] | 0x20)) * 0x100000001b3ull;
    return h;
}
static bool ci_equal(const void *a, const void *b, void *ctx) {
    (void)ctx;
    const unsigned char *x = a, *y = b;
    for (size_t i = 0; i < 8; i++)
        if ((x[i] | 0x20) != (y[i] | 0x20))
            return false;
    return true;
}

TEST(get_many_user_functions) {
    gomap_config cfg = {GOMAP_KEY_BYTES, 8, sizeof(uint64_t), 0, ci_hash, ci_equal, 0, 0};
    gomap *m;
    REQUIRE_EQ(gomap_new(&m, &cfg), 0);
    char keys[200][8];
    for (int i = 0; i < 200; i++) {
        snprintf(keys[i], 8, "k%06d", i);
        uint64_t v = (uint64_t)i;
        if (i % 2 == 0)
            REQUIRE_EQ(gomap_set(m, keys[i], &v), 0);
        keys[i][0] = 'K'; /* the batch asks in upper case */
    }
    void *out[200];
    CHECK_EQ(gomap_get_many(m, keys, 200, out), (size_t)100);
    for (int i = 0; i < 200; i++) {
        if (i % 2) {
            CHECK(out[i] == NULL);
        } else {
            REQUIRE(out[i] != NULL);
            CHECK_EQ(*(uint64_t *)out[i], (uint64_t)i);
        }
    }
    gomap_free(m);
}

/* One hash for every key: every key shares one tophash and one chain of
 * overflow buckets, so the first tophash match of a batched lookup is
 * usually another key's slot and the rest of the chain must be searched. */
static uint64_t same_hash(const void *key, uint64_t seed, void *ctx) {
    (void)key, (void)seed, (void)ctx;
    return 0x5eed5eed5eed5eedull;
}
static bool u64_equal(const void *a, const void *b, void *ctx) {
    (void)ctx;
    return memcmp(a, b, 8) == 0;
}

TEST(get_many_one_chain_of_shared_tophashes) {
    gomap_config cfg = {GOMAP_KEY_BYTES, 8, sizeof(uint64_t), 0, same_hash, u64_equal, 0, 0};
    gomap *m;
    REQUIRE_EQ(gomap_new(&m, &cfg), 0);
    uint64_t keys[60];
    for (uint64_t i = 0; i < 60; i++) {
        keys[i] = i * 7919;
        if (i % 2)
            REQUIRE_EQ(gomap_set(m, &keys[i], &keys[i]), 0);
    }
    void *out[60];
    CHECK_EQ(gomap_get_many(m, keys, 60, out), (size_t)30);
    for (size_t i = 0; i < 60; i++) {
        if (i % 2 == 0) {
            CHECK(out[i] == NULL);
        } else {
            REQUIRE(out[i] != NULL);
            CHECK_EQ(*(uint64_t *)out[i], keys[i]);
        }
    }
    gomap_free(m);
}

/* Strings that no map can hold (a NULL pointer with a length, a length
 * past the limit) are absent in a batch, and do not disturb their
 * neighbours. */
TEST(get_many_absurd_strings_are_absent) {
    gomap *m = make_map(GOMAP_KEY_STRING, sizeof(uint64_t));
    REQUIRE(m != NULL);
    char bytes[40][8];
    gomap_str keys[40];
    for (int i = 0; i < 40; i++) {
        snprintf(bytes[i], sizeof bytes[i], "s%05d", i);
        keys[i].ptr = bytes[i];
        keys[i].len = strlen(bytes[i]);
        uint64_t v = (uint64_t)i;
        REQUIRE_EQ(gomap_set(m, &keys[i], &v), 0);
    }
    for (int i = 0; i < 40; i += 5) {
        if (i % 2) {
            keys[i].ptr = NULL;
            keys[i].len = 3;
        } else {
            keys[i].len = (size_t)1 << 50;
        }
    }
    void *out[40];
    CHECK_EQ(gomap_get_many(m, keys, 40, out), (size_t)32);
    for (int i = 0; i < 40; i++) {
        if (i % 5 == 0) {
            CHECK(out[i] == NULL);
        } else {
            REQUIRE(out[i] != NULL);
            CHECK_EQ(*(uint64_t *)out[i], (uint64_t)i);
        }
    }
    gomap_free(m);
}

TEST(get_many_nil_map_and_empty_batch) {
    uint64_t keys[3] = {1, 2, 3};
    void *out[3] = {&keys[0], &keys[1], &keys[2]};
    CHECK_EQ(gomap_get_many(NULL, keys, 3, out), (size_t)0);
    CHECK(out[0] == NULL && out[1] == NULL && out[2] == NULL);
    gomap *m = make_map(GOMAP_KEY_U64, 8);
    REQUIRE(m != NULL);
    CHECK_EQ(gomap_get_many(m, keys, 0, NULL), (size_t)0);
    CHECK_EQ(gomap_get_many(m, NULL, 3, out), (size_t)0);
    gomap_free(m);
}

/* rwmap_load_many and shardmap_load_many copy the same values as single
 * loads, and fill found_out. */
TEST(load_many_rwmap_and_shardmap) {
    gomap_config cfg = {GOMAP_KEY_U64, 0, sizeof(uint64_t), 0, 0, 0, 0, 0};
    rwmap *rw;
    shardmap *sh;
    REQUIRE_EQ(rwmap_new(&rw, &cfg), 0);
    REQUIRE_EQ(shardmap_new(&sh, &cfg, 4), 0);
    for (uint64_t i = 0; i < N; i += 3) {
        uint64_t v = i * 10;
        REQUIRE_EQ(rwmap_store(rw, &i, &v), 0);
        REQUIRE_EQ(shardmap_store(sh, &i, &v), 0);
    }
    static uint64_t keys[N], vals[N];
    static bool found[N];
    for (uint64_t i = 0; i < N; i++)
        keys[i] = (i * 7919) % N;
    size_t want = (N + 2) / 3;
    for (int which = 0; which < 2; which++) {
        memset(vals, 0xff, sizeof vals);
        size_t got = which == 0 ? rwmap_load_many(rw, keys, N, vals, found)
                                : shardmap_load_many(sh, keys, N, vals, found);
        CHECK_EQ(got, want);
        for (size_t i = 0; i < N; i++) {
            bool present = keys[i] % 3 == 0;
            CHECK_EQ(found[i], present);
            if (present)
                CHECK_EQ(vals[i], keys[i] * 10);
        }
        got = which == 0 ? rwmap_load_many(rw, keys, 5, NULL, NULL)
                         : shardmap_load_many(sh, keys, 5, NULL, NULL);
        size_t w5 = 0;
        for (int i = 0; i < 5; i++)
            w5 += keys[i] % 3 == 0;
        CHECK_EQ(got, w5);
    }
    rwmap_free(rw);
    shardmap_free(sh);
}

/* gomap_u64u64_get runs inline (gomap.h): it must agree with gomap_get on
 * hits and misses, across growth (when it defers to the library), overflow
 * chains and deletes. */
TEST(typed_inline_get_matches_gomap_get) {
    gomap_u64u64 *t = gomap_u64u64_new(0);
    REQUIRE(t != NULL);
    gomap *m = gomap_u64u64_map(t);
    uint64_t v = 0;
    CHECK(!gomap_u64u64_get(t, 1, &v));
    CHECK(!gomap_u64u64_get(NULL, 1, &v));
    for (uint64_t i = 0; i < 40000; i++) {
        REQUIRE_EQ(gomap_u64u64_set(t, i * 0x9e3779b97f4a7c15ull, i), 0);
        if (i % 997 == 0)
            for (uint64_t j = 0; j < 2 * i + 2; j += 7) {
                uint64_t k = j * 0x9e3779b97f4a7c15ull;
                const uint64_t *p = gomap_get(m, &k);
                bool got = gomap_u64u64_get(t, k, &v);
                CHECK_EQ(got, p != NULL);
                if (got && p)
                    CHECK_EQ(v, *p);
            }
    }
    for (uint64_t i = 0; i < 40000; i += 3)
        CHECK(gomap_u64u64_delete(t, i * 0x9e3779b97f4a7c15ull));
    for (uint64_t i = 0; i < 80000; i++) {
        bool got = gomap_u64u64_get(t, i * 0x9e3779b97f4a7c15ull, &v);
        CHECK_EQ(got, i < 40000 && i % 3 != 0);
        if (got)
            CHECK_EQ(v, i);
    }
    CHECK(gomap_u64u64_get(t, 3, NULL) == false);
    gomap_u64u64_free(t);
}

/* The inline get checks the writing flag like gomap_get: a get on a map
 * freed under GOMAP_DEBUG=checkfree=1 (whose flag the free holds) stops. */
static void inline_get_after_free(void *arg) {
    (void)arg;
    gomap_u64u64 *t = gomap_u64u64_new(0);
    if (!t)
        exit(3);
    for (uint64_t k = 0; k < 100; k++)
        gomap_u64u64_set(t, k, k);
    gomap_u64u64_free(t);
    uint64_t v;
    (void)gomap_u64u64_get(t, 5, &v); /* use after free */
    exit(20);                         /* not detected */
}

TEST(typed_inline_get_checks_the_writing_flag) {
#ifndef GOMAP_TEST_NO_DETECT
    static const char *const env[] = {"GOMAP_DEBUG=checkfree=1", NULL};
    static struct child_result r;
    run_in_child(inline_get_after_free, NULL, env, &r);
    CHECK(!r.exited && r.status == SIGABRT);
    CHECK(strstr(r.err, "fatal error:") != NULL && strstr(r.err, "freed") != NULL);
#endif
}

TEST_MAIN()
