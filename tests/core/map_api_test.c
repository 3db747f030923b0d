/* map_api_test.c — every public function of gomap.h and Go's map semantics:
 * get/contains/set/overwrite/delete, len, clear, clone, the nil map, every key
 * kind, value sizes, the typed helpers and gomap_new's argument checks. */
#include "check.h"
#include "map_test_util.h"

#include <errno.h>

/* Inserts, reads back, overwrites and deletes n keys of one kind, checking
 * len and Go's `v, ok` at every step. */
static void exercise_kind(gomap_key_kind kind, size_t value_size, uint64_t n) {
    gomap *m = tu_new_map(kind, value_size);
    REQUIRE(m != NULL);
    unsigned char v[GOMAP_MAX_VALUE_SIZE], w[GOMAP_MAX_VALUE_SIZE];
    struct tu_key k;
    for (uint64_t i = 0; i < n; i++) {
        tu_key_make(&k, kind, i);
        CHECK(!gomap_contains(m, tu_key_ptr(&k)));
        tu_fill(v, value_size, i);
        REQUIRE_EQ(gomap_set(m, tu_key_ptr(&k), v), 0);
        REQUIRE_EQ(gomap_len(m), i + 1);
    }
    for (uint64_t i = 0; i < n; i++) {
        tu_key_make(&k, kind, i);
        const unsigned char *p = (const unsigned char *)gomap_get(m, tu_key_ptr(&k));
        REQUIRE(p != NULL);
        tu_fill(v, value_size, i);
        CHECK(memcmp(p, v, value_size) == 0);
        CHECK(gomap_contains(m, tu_key_ptr(&k)));
    }
    tu_key_make(&k, kind, n + 5);
    CHECK(gomap_get(m, tu_key_ptr(&k)) == NULL);
    /* Overwrite: same len, new value. */
    for (uint64_t i = 0; i < n; i += 2) {
        tu_key_make(&k, kind, i);
        tu_fill(w, value_size, i + 1000000);
        REQUIRE_EQ(gomap_set(m, tu_key_ptr(&k), w), 0);
    }
    CHECK_EQ(gomap_len(m), n);
    for (uint64_t i = 0; i < n; i++) {
        tu_key_make(&k, kind, i);
        const unsigned char *p = (const unsigned char *)gomap_get(m, tu_key_ptr(&k));
        REQUIRE(p != NULL);
        tu_fill(v, value_size, i % 2 == 0 ? i + 1000000 : i);
        CHECK(memcmp(p, v, value_size) == 0);
    }
    /* Delete present and absent keys. */
    for (uint64_t i = 0; i < n; i += 3) {
        tu_key_make(&k, kind, i);
        CHECK(gomap_delete(m, tu_key_ptr(&k)));
        CHECK(!gomap_delete(m, tu_key_ptr(&k)));
        CHECK(gomap_get(m, tu_key_ptr(&k)) == NULL);
    }
    tu_key_make(&k, kind, n + 7);
    CHECK(!gomap_delete(m, tu_key_ptr(&k)));
    CHECK_EQ(gomap_len(m), n - (n + 2) / 3);
    for (uint64_t i = 0; i < n; i++) {
        tu_key_make(&k, kind, i);
        CHECK_EQ(gomap_contains(m, tu_key_ptr(&k)), i % 3 != 0);
    }
    /* Re-insert the deleted ones. */
    for (uint64_t i = 0; i < n; i += 3) {
        tu_key_make(&k, kind, i);
        tu_fill(v, value_size, i + 7);
        REQUIRE_EQ(gomap_set(m, tu_key_ptr(&k), v), 0);
    }
    CHECK_EQ(gomap_len(m), n);
    gomap_clear(m);
    CHECK_EQ(gomap_len(m), 0);
    for (uint64_t i = 0; i < n; i++) {
        tu_key_make(&k, kind, i);
        CHECK(!gomap_contains(m, tu_key_ptr(&k)));
    }
    /* Usable after clear. */
    tu_key_make(&k, kind, 3);
    REQUIRE_EQ(gomap_set(m, tu_key_ptr(&k), NULL), 0);
    CHECK_EQ(gomap_len(m), 1);
    const unsigned char *p = (const unsigned char *)gomap_get(m, tu_key_ptr(&k));
    REQUIRE(p != NULL);
    memset(v, 0, sizeof v);
    CHECK(memcmp(p, v, value_size) == 0); /* NULL value: zero-filled */
    gomap_free(m);
}

TEST(u64_keys) {
    exercise_kind(GOMAP_KEY_U64, 8, 5000);
}
TEST(u32_keys) {
    exercise_kind(GOMAP_KEY_U32, 8, 5000);
}
TEST(string_keys) {
    exercise_kind(GOMAP_KEY_STRING, 8, 5000);
}
TEST(string_borrowed_keys) {
    exercise_kind(GOMAP_KEY_STRING_BORROWED, 8, 0); /* lifetime-safe keys below */
}
TEST(bytes_keys_default_hash) {
    exercise_kind(GOMAP_KEY_BYTES, 8, 5000);
}

TEST(value_sizes) {
    static const size_t sizes[] = {0, 1, 8, 13, 64, 128};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        exercise_kind(GOMAP_KEY_U64, sizes[i], 700);
        exercise_kind(GOMAP_KEY_STRING, sizes[i], 300);
        exercise_kind(GOMAP_KEY_BYTES, sizes[i], 300);
    }
}

TEST(value_size_zero_is_a_set) {
    gomap *m = tu_new_map(GOMAP_KEY_U64, 0);
    REQUIRE(m != NULL);
    uint64_t k = 42;
    CHECK(gomap_get(m, &k) == NULL);
    REQUIRE_EQ(gomap_set(m, &k, NULL), 0);
    CHECK(gomap_get(m, &k) != NULL); /* a non-NULL dummy */
    REQUIRE_EQ(gomap_set(m, &k, NULL), 0);
    CHECK_EQ(gomap_len(m), 1);
    gomap_free(m);
}

TEST(bytes_key_sizes) {
    static const size_t sizes[] = {1, 2, 3, 4, 7, 8, 9, 13, 16, 31, 64, 127, 128};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t ks = sizes[s];
        gomap_config cfg = tu_config(GOMAP_KEY_BYTES, 4);
        cfg.key_size = ks;
        gomap *m;
        REQUIRE_EQ(gomap_new(&m, &cfg), 0);
        unsigned n = ks == 1 ? 256 : 2000;
        unsigned char key[128];
        for (unsigned i = 0; i < n; i++) {
            memset(key, 0xab, sizeof key);
            /* Vary the last byte most: a key that differs only at its end. */
            key[ks - 1] = (unsigned char)i;
            if (ks > 1)
                key[0] = (unsigned char)(i >> 8);
            uint32_t v = i;
            REQUIRE_EQ(gomap_set(m, key, &v), 0);
        }
        CHECK_EQ(gomap_len(m), n);
        for (unsigned i = 0; i < n; i++) {
            memset(key, 0xab, sizeof key);
            key[ks - 1] = (unsigned char)i;
            if (ks > 1)
                key[0] = (unsigned char)(i >> 8);
            const uint32_t *p = (const uint32_t *)gomap_get(m, key);
            REQUIRE(p != NULL);
            CHECK_EQ(*p, i);
        }
        gomap_free(m);
    }
}

/* User hash and equality: keys compare case-insensitively, so "ABC" and
 * "abc" are one key.  Proves the map uses the user's functions, not bytes. */
static uint64_t ci_hash(const void *key, uint64_t seed, void *ctx) {
    (*(int *)ctx)++;
    const unsigned char *p = (const unsigned char *)key;
    uint64_t h = seed ^ 1469598103934665603ull;
    for (int i = 0; i < 16; i++) {
        unsigned char c = p[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        h = (h ^ c) * 1099511628211ull;
    }
    return h ^ (h >> 29);
}
static bool ci_equal(const void *a, const void *b, void *ctx) {
    (void)ctx;
    const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;
    for (int i = 0; i < 16; i++) {
        unsigned char c = x[i], d = y[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        if (d >= 'A' && d <= 'Z')
            d = (unsigned char)(d - 'A' + 'a');
        if (c != d)
            return false;
    }
    return true;
}

/* A map of 16-byte case-insensitive keys to u64; *calls counts hash calls. */
static gomap *new_ci_map(int *calls) {
    gomap_config cfg = tu_config(GOMAP_KEY_BYTES, 8);
    cfg.key_size = 16;
    cfg.hash = ci_hash;
    cfg.equal = ci_equal;
    cfg.fn_ctx = calls;
    gomap *m = NULL;
    return gomap_new(&m, &cfg) == 0 ? m : NULL;
}

TEST(bytes_keys_user_hash_and_equal) {
    int calls = 0;
    gomap *m = new_ci_map(&calls);
    REQUIRE(m != NULL);
    char a[16] = "Hello, World", b[16] = "hello, world", c[16] = "HELLO, WORLD!";
    uint64_t v = 1;
    REQUIRE_EQ(gomap_set(m, a, &v), 0);
    CHECK(calls > 0);
    const uint64_t *p = (const uint64_t *)gomap_get(m, b);
    REQUIRE(p != NULL);
    CHECK_EQ(*p, 1);
    v = 2;
    REQUIRE_EQ(gomap_set(m, b, &v), 0);
    CHECK_EQ(gomap_len(m), 1);
    p = (const uint64_t *)gomap_get(m, a);
    REQUIRE(p != NULL);
    CHECK_EQ(*p, 2);
    CHECK(gomap_get(m, c) == NULL);
    /* Many keys, to cross growth with user functions. */
    for (uint64_t i = 0; i < 3000; i++) {
        char k[16];
        memset(k, 0, sizeof k);
        snprintf(k, sizeof k, "Key%llu", (unsigned long long)i);
        REQUIRE_EQ(gomap_set(m, k, &i), 0);
    }
    CHECK_EQ(gomap_len(m), 3001);
    for (uint64_t i = 0; i < 3000; i++) {
        char k[16];
        memset(k, 0, sizeof k);
        snprintf(k, sizeof k, "kEY%llu", (unsigned long long)i);
        p = (const uint64_t *)gomap_get(m, k);
        REQUIRE(p != NULL);
        CHECK_EQ(*p, i);
    }
    CHECK(gomap_delete(m, "HELLO, world\0\0\0"));
    CHECK_EQ(gomap_len(m), 3000);
    gomap_free(m);
}

/* A user hash for u64 keys may be given without an equality function. */
static uint64_t mod_hash(const void *key, uint64_t seed, void *ctx) {
    (void)ctx;
    return (*(const uint64_t *)key % 97) ^ seed;
}
TEST(u64_keys_user_hash_only) {
    gomap_config cfg = tu_config(GOMAP_KEY_U64, 8);
    cfg.hash = mod_hash;
    gomap *m;
    REQUIRE_EQ(gomap_new(&m, &cfg), 0);
    for (uint64_t i = 0; i < 2000; i++)
        REQUIRE_EQ(gomap_set(m, &i, &i), 0);
    for (uint64_t i = 0; i < 2000; i++) {
        const uint64_t *p = (const uint64_t *)gomap_get(m, &i);
        REQUIRE(p != NULL);
        CHECK_EQ(*p, i);
    }
    CHECK_EQ(gomap_len(m), 2000);
    gomap_free(m);
}

TEST(string_special_keys) {
    gomap *m = tu_new_map(GOMAP_KEY_STRING, 4);
    REQUIRE(m != NULL);
    /* The empty string, with and without a pointer, is one key. */
    gomap_str e1 = {NULL, 0}, e2 = {"", 0}, e3 = {"xyz", 0};
    uint32_t v = 1;
    REQUIRE_EQ(gomap_set(m, &e1, &v), 0);
    CHECK(gomap_contains(m, &e2));
    CHECK(gomap_contains(m, &e3));
    v = 2;
    REQUIRE_EQ(gomap_set(m, &e2, &v), 0);
    CHECK_EQ(gomap_len(m), 1);
    /* NUL bytes are part of the key. */
    gomap_str n1 = {"a\0b", 3}, n2 = {"a\0c", 3}, n3 = {"a", 1}, n4 = {"a\0", 2};
    v = 3;
    REQUIRE_EQ(gomap_set(m, &n1, &v), 0);
    CHECK(!gomap_contains(m, &n2));
    CHECK(!gomap_contains(m, &n3));
    CHECK(!gomap_contains(m, &n4));
    v = 4;
    REQUIRE_EQ(gomap_set(m, &n4, &v), 0);
    CHECK_EQ(gomap_len(m), 3);
    CHECK_EQ(*(uint32_t *)gomap_get(m, &n1), 3);
    CHECK_EQ(*(uint32_t *)gomap_get(m, &n4), 4);
    /* Long keys (10 KB) differing only in their last byte, or their first. */
    size_t L = 10 * 1024;
    char *a = malloc(L), *b = malloc(L);
    REQUIRE(a && b);
    memset(a, 'x', L);
    memset(b, 'x', L);
    b[L - 1] = 'y';
    gomap_str la = {a, L}, lb = {b, L}, lshort = {a, L - 1};
    v = 5;
    REQUIRE_EQ(gomap_set(m, &la, &v), 0);
    CHECK(!gomap_contains(m, &lb));
    CHECK(!gomap_contains(m, &lshort));
    v = 6;
    REQUIRE_EQ(gomap_set(m, &lb, &v), 0);
    /* The map owns copies: changing or freeing the caller's bytes changes nothing. */
    memset(a, 'z', L);
    free(b);
    CHECK(!gomap_contains(m, &la)); /* now "zzz...": not a key */
    memset(a, 'x', L);
    CHECK_EQ(*(uint32_t *)gomap_get(m, &la), 5);
    char *b2 = malloc(L);
    REQUIRE(b2);
    memset(b2, 'x', L);
    b2[L - 1] = 'y';
    gomap_str lb2 = {b2, L};
    CHECK_EQ(*(uint32_t *)gomap_get(m, &lb2), 6);
    CHECK_EQ(gomap_len(m), 5);
    /* Iteration hands out the map's own copies, intact. */
    gomap_iter it;
    gomap_iter_init(&it, m);
    const void *kp;
    void *vp;
    int longs = 0;
    while (gomap_iter_next(&it, &kp, &vp)) {
        const gomap_str *s = (const gomap_str *)kp;
        if (s->len == L) {
            longs++;
            CHECK(s->ptr != a && s->ptr != b2);
            CHECK(memcmp(s->ptr, *(uint32_t *)vp == 5 ? a : b2, L) == 0);
        }
    }
    CHECK_EQ(longs, 2);
    CHECK(gomap_delete(m, &la));
    CHECK(gomap_delete(m, &lb2));
    CHECK_EQ(gomap_len(m), 3);
    free(a);
    free(b2);
    gomap_free(m);
}

/* One hash for every key: each lookup compares its key's bytes with every
 * stored key of the same length (the comparison of keys of 8 to 16 bytes
 * loads two overlapping words, so a difference in any byte must show). */
static uint64_t same_hash(const void *key, uint64_t seed, void *ctx) {
    (void)key, (void)ctx;
    return seed;
}
TEST(string_keys_differing_in_one_byte) {
    gomap_key_kind kinds[] = {GOMAP_KEY_STRING, GOMAP_KEY_STRING_BORROWED};
    for (int kk = 0; kk < 2; kk++) {
        gomap_config cfg = tu_config(kinds[kk], 4);
        cfg.hash = same_hash;
        gomap *m;
        REQUIRE_EQ(gomap_new(&m, &cfg), 0);
        static char base[24][24], probe[24];
        uint32_t v;
        for (size_t len = 1; len < 24; len++) {
            memset(base[len], 'a', len);
            v = (uint32_t)len;
            gomap_str k = {base[len], len};
            REQUIRE_EQ(gomap_set(m, &k, &v), 0);
        }
        for (size_t len = 1; len < 24; len++) {
            memcpy(probe, base[len], len);
            gomap_str k = {probe, len};
            const uint32_t *p = (const uint32_t *)gomap_get(m, &k);
            REQUIRE(p != NULL);
            CHECK_EQ(*p, (uint32_t)len);
            for (size_t at = 0; at < len; at++) {
                probe[at] = 'b';
                CHECK(!gomap_contains(m, &k));
                probe[at] = 'a';
            }
        }
        CHECK_EQ(gomap_len(m), 23);
        gomap_free(m);
    }
}

/* 16-byte owned keys are stored inline unless their last byte is 0..15 or
 * 0xff (then on the heap): every last byte, either form, with the default
 * hash and with every key in one chain (so keys of both forms are compared
 * with each other), through growth, iteration, clone and delete. */
static void sixteen_key(char out[16], unsigned i) {
    memcpy(out, "0123456789abcde", 15);
    out[0] = (char)('a' + i / 256 % 26);
    out[15] = (char)(i % 256);
}

TEST(string_keys_of_16_bytes_every_last_byte) {
    for (int collide = 0; collide < 2; collide++) {
        gomap_config cfg = tu_config(GOMAP_KEY_STRING, 4);
        if (collide)
            cfg.hash = same_hash;
        gomap *m;
        REQUIRE_EQ(gomap_new(&m, &cfg), 0);
        unsigned n = collide ? 512 : 4096;
        char k16[16], k15[16];
        for (unsigned i = 0; i < n; i++) {
            sixteen_key(k16, i);
            gomap_str k = {k16, 16};
            uint32_t v = i;
            REQUIRE_EQ(gomap_set(m, &k, &v), 0);
        }
        /* The first 15 bytes alone, and those bytes with a NUL or the
         * length appended, are other keys. */
        sixteen_key(k15, 15);
        gomap_str s15 = {k15, 15};
        CHECK(!gomap_contains(m, &s15));
        uint32_t v15 = 99999;
        REQUIRE_EQ(gomap_set(m, &s15, &v15), 0);
        gomap *c;
        REQUIRE_EQ(gomap_clone(m, &c), 0);
        for (unsigned i = 0; i < n; i++) {
            sixteen_key(k16, i);
            gomap_str k = {k16, 16};
            const uint32_t *p = (const uint32_t *)gomap_get(m, &k);
            REQUIRE(p != NULL);
            CHECK_EQ(*p, i);
            p = (const uint32_t *)gomap_get(c, &k);
            REQUIRE(p != NULL);
            CHECK_EQ(*p, i);
            k16[8] ^= 1; /* one byte off: absent */
            CHECK(!gomap_contains(m, &k));
        }
        CHECK_EQ(*(const uint32_t *)gomap_get(m, &s15), 99999);
        /* Iteration hands out each key's 16 bytes. */
        unsigned seen = 0;
        gomap_iter it;
        const void *kp;
        void *vp;
        for (gomap_iter_init(&it, m); gomap_iter_next(&it, &kp, &vp);) {
            uint32_t v = *(const uint32_t *)vp;
            const gomap_str *s = (const gomap_str *)kp;
            if (v == 99999) {
                CHECK_EQ(s->len, 15);
                continue;
            }
            REQUIRE_EQ(s->len, 16);
            sixteen_key(k16, v);
            CHECK(memcmp(s->ptr, k16, 16) == 0);
            seen++;
        }
        CHECK_EQ(seen, n);
        for (unsigned i = 0; i < n; i += 2) {
            sixteen_key(k16, i);
            gomap_str k = {k16, 16};
            CHECK(gomap_delete(m, &k));
        }
        for (unsigned i = 0; i < n; i++) {
            sixteen_key(k16, i);
            gomap_str k = {k16, 16};
            CHECK_EQ(gomap_contains(m, &k), i % 2 == 1);
            CHECK(gomap_contains(c, &k));
        }
        CHECK_EQ(gomap_len(m), n / 2 + 1);
        gomap_free(c);
        gomap_free(m);
    }
}

TEST(string_borrowed_semantics) {
    gomap *m = tu_new_map(GOMAP_KEY_STRING_BORROWED, 8);
    REQUIRE(m != NULL);
    enum { N = 3000 };
    static char bufs[N][80];
    static gomap_str keys[N];
    for (uint64_t i = 0; i < N; i++) {
        struct tu_key k;
        tu_key_make(&k, GOMAP_KEY_STRING, i);
        memcpy(bufs[i], k.str.ptr, k.str.len);
        keys[i].ptr = bufs[i];
        keys[i].len = k.str.len;
        REQUIRE_EQ(gomap_set(m, &keys[i], &i), 0);
    }
    CHECK_EQ(gomap_len(m), N);
    for (uint64_t i = 0; i < N; i++) {
        /* Look up through a different buffer with the same bytes. */
        struct tu_key k;
        tu_key_make(&k, GOMAP_KEY_STRING, i);
        const uint64_t *p = (const uint64_t *)gomap_get(m, &k.str);
        REQUIRE(p != NULL);
        CHECK_EQ(*p, i);
    }
    gomap_iter it;
    gomap_iter_init(&it, m);
    const void *kp;
    void *vp;
    size_t seen = 0;
    while (gomap_iter_next(&it, &kp, &vp)) {
        const gomap_str *s = (const gomap_str *)kp;
        uint64_t i = *(uint64_t *)vp;
        REQUIRE(i < N);
        CHECK_EQ(s->len, keys[i].len);
        CHECK(memcmp(s->ptr, bufs[i], s->len) == 0);
        seen++;
    }
    CHECK_EQ(seen, N);
    for (uint64_t i = 0; i < N; i += 2)
        CHECK(gomap_delete(m, &keys[i]));
    CHECK_EQ(gomap_len(m), N / 2);
    gomap_free(m);
}

TEST(nil_map_reads_as_empty) {
    uint64_t k = 1;
    CHECK(gomap_get(NULL, &k) == NULL);
    CHECK(!gomap_contains(NULL, &k));
    CHECK_EQ(gomap_len(NULL), 0);
    CHECK(!gomap_delete(NULL, &k)); /* delete on nil: no-op */
    gomap_clear(NULL);
    gomap_free(NULL);
    gomap_iter it;
    gomap_iter_init(&it, NULL);
    const void *kp = &k;
    void *vp = &k;
    CHECK(!gomap_iter_next(&it, &kp, &vp));
    CHECK(!gomap_iter_next(&it, NULL, NULL));
    gomap *c = (gomap *)&k;
    CHECK_EQ(gomap_clone(NULL, &c), 0);
    CHECK(c == NULL);
}

TEST(empty_map_operations) {
    gomap *m = tu_new_map(GOMAP_KEY_U64, 8);
    REQUIRE(m != NULL);
    uint64_t k = 9;
    CHECK(gomap_get(m, &k) == NULL);
    CHECK(!gomap_delete(m, &k));
    gomap_clear(m);
    CHECK_EQ(gomap_len(m), 0);
    gomap_iter it;
    gomap_iter_init(&it, m);
    CHECK(!gomap_iter_next(&it, NULL, NULL));
    gomap *c;
    REQUIRE_EQ(gomap_clone(m, &c), 0);
    REQUIRE(c != NULL);
    CHECK_EQ(gomap_len(c), 0);
    REQUIRE_EQ(gomap_set(c, &k, &k), 0);
    CHECK_EQ(gomap_len(m), 0);
    gomap_free(c);
    gomap_free(m);
}

static void check_clone_kind(gomap_key_kind kind, uint64_t n) {
    gomap *m = tu_new_map(kind, 8);
    REQUIRE(m != NULL);
    struct tu_key k;
    for (uint64_t i = 0; i < n; i++) {
        tu_key_make(&k, kind, i);
        REQUIRE_EQ(gomap_set(m, tu_key_ptr(&k), &i), 0);
    }
    gomap *c = NULL;
    REQUIRE_EQ(gomap_clone(m, &c), 0);
    REQUIRE(c != NULL);
    CHECK_EQ(gomap_len(c), n);
    for (uint64_t i = 0; i < n; i++) {
        tu_key_make(&k, kind, i);
        const uint64_t *p = (const uint64_t *)gomap_get(c, tu_key_ptr(&k));
        REQUIRE(p != NULL);
        CHECK_EQ(*p, i);
    }
    /* Independent afterwards, both ways. */
    for (uint64_t i = 0; i < n; i += 2) {
        tu_key_make(&k, kind, i);
        CHECK(gomap_delete(m, tu_key_ptr(&k)));
        uint64_t v = i + 100;
        REQUIRE_EQ(gomap_set(c, tu_key_ptr(&k), &v), 0);
    }
    tu_key_make(&k, kind, n + 1);
    REQUIRE_EQ(gomap_set(c, tu_key_ptr(&k), &n), 0);
    CHECK(!gomap_contains(m, tu_key_ptr(&k)));
    CHECK_EQ(gomap_len(m), n / 2);
    CHECK_EQ(gomap_len(c), n + 1);
    /* The clone owns its string keys: it survives the original. */
    gomap_free(m);
    for (uint64_t i = 0; i < n; i++) {
        tu_key_make(&k, kind, i);
        const uint64_t *p = (const uint64_t *)gomap_get(c, tu_key_ptr(&k));
        REQUIRE(p != NULL);
        CHECK_EQ(*p, i % 2 == 0 ? i + 100 : i);
    }
    gomap_iter it;
    gomap_iter_init(&it, c);
    size_t seen = 0;
    while (gomap_iter_next(&it, NULL, NULL))
        seen++;
    CHECK_EQ(seen, n + 1);
    gomap_free(c);
}

TEST(clone_is_independent) {
    check_clone_kind(GOMAP_KEY_U64, 1000);
    check_clone_kind(GOMAP_KEY_U32, 10);
    check_clone_kind(GOMAP_KEY_STRING, 1000);
    check_clone_kind(GOMAP_KEY_BYTES, 1000);
}

TEST(clone_mid_growth_and_user_functions) {
    int calls = 0;
    gomap *m = new_ci_map(&calls);
    REQUIRE(m != NULL);
    /* 53 entries: just past 6.5 * 8, the map is (in Go's rules) mid-growth. */
    for (uint64_t i = 0; i < 53; i++) {
        char k[16] = {0};
        snprintf(k, sizeof k, "K%llu", (unsigned long long)i);
        REQUIRE_EQ(gomap_set(m, k, &i), 0);
    }
    gomap *c;
    REQUIRE_EQ(gomap_clone(m, &c), 0);
    CHECK_EQ(gomap_len(c), 53);
    for (uint64_t i = 0; i < 53; i++) {
        char k[16] = {0};
        snprintf(k, sizeof k, "k%llu", (unsigned long long)i); /* lower case: user equality */
        const uint64_t *p = (const uint64_t *)gomap_get(c, k);
        REQUIRE(p != NULL);
        CHECK_EQ(*p, i);
    }
    gomap_free(m);
    gomap_free(c);
}

TEST(clone_bad_args) {
    gomap *m = tu_new_map(GOMAP_KEY_U64, 8);
    REQUIRE(m != NULL);
    CHECK_EQ(gomap_clone(m, NULL), EINVAL);
    gomap_free(m);
}

TEST(hint_preallocates) {
    struct tu_alloc a = {0};
    gomap_allocator al = {tu_alloc_fn, tu_free_fn, &a};
    gomap_config cfg = tu_config(GOMAP_KEY_U64, 8);
    cfg.allocator = &al;
    cfg.hint = 10000;
    gomap *m;
    REQUIRE_EQ(gomap_new(&m, &cfg), 0);
    size_t after_new = a.live_bytes;
    CHECK(after_new >= 10000 * 16); /* room for 10000 keys and values */
    for (uint64_t i = 0; i < 10000; i++)
        REQUIRE_EQ(gomap_set(m, &i, &i), 0);
    /* No doubling: the hint made room (an overflow bucket here and there is fine). */
    CHECK(a.live_bytes < after_new + after_new / 2);
    CHECK_EQ(gomap_len(m), 10000);
    gomap_free(m);
    CHECK_EQ(a.live_bytes, 0);
    CHECK_EQ(a.bad_frees, 0);

    /* hint 0 allocates nothing until the first insert (beyond the header). */
    cfg.hint = 0;
    REQUIRE_EQ(gomap_new(&m, &cfg), 0);
    size_t header = a.live_bytes;
    CHECK(header < 1024);
    gomap_free(m);
    CHECK_EQ(a.live_bytes, 0);
}

TEST(new_rejects_bad_config) {
    gomap *m = (gomap *)&m;
    gomap_config cfg = tu_config(GOMAP_KEY_U64, 8);
    CHECK_EQ(gomap_new(&m, NULL), EINVAL);
    CHECK(m == NULL);
    CHECK_EQ(gomap_new(NULL, &cfg), EINVAL);

    m = (gomap *)&m;
    cfg.value_size = GOMAP_MAX_VALUE_SIZE + 1;
    CHECK_EQ(gomap_new(&m, &cfg), EINVAL);
    CHECK(m == NULL);
    cfg.value_size = (size_t)-1;
    CHECK_EQ(gomap_new(&m, &cfg), EINVAL);

    cfg = tu_config(GOMAP_KEY_BYTES, 8);
    cfg.key_size = 0;
    m = (gomap *)&m;
    CHECK_EQ(gomap_new(&m, &cfg), EINVAL);
    CHECK(m == NULL);
    cfg.key_size = GOMAP_MAX_KEY_SIZE + 1;
    CHECK_EQ(gomap_new(&m, &cfg), EINVAL);

    cfg = tu_config(GOMAP_KEY_U64, 8);
    cfg.key_kind = (gomap_key_kind)99;
    m = (gomap *)&m;
    CHECK_EQ(gomap_new(&m, &cfg), EINVAL);
    CHECK(m == NULL);
    cfg.key_kind = (gomap_key_kind)-1;
    CHECK_EQ(gomap_new(&m, &cfg), EINVAL);

    cfg = tu_config(GOMAP_KEY_BYTES, 8);
    cfg.key_size = 16;
    cfg.hash = ci_hash;
    m = (gomap *)&m;
    CHECK_EQ(gomap_new(&m, &cfg), EINVAL); /* hash without equal */
    CHECK(m == NULL);
    cfg.hash = NULL;
    cfg.equal = ci_equal;
    CHECK_EQ(gomap_new(&m, &cfg), EINVAL); /* equal without hash */

    /* The edges of the valid ranges are accepted. */
    cfg = tu_config(GOMAP_KEY_BYTES, GOMAP_MAX_VALUE_SIZE);
    cfg.key_size = GOMAP_MAX_KEY_SIZE;
    REQUIRE_EQ(gomap_new(&m, &cfg), 0);
    gomap_free(m);
    cfg.key_size = 1;
    cfg.value_size = 0;
    REQUIRE_EQ(gomap_new(&m, &cfg), 0);
    gomap_free(m);

    /* A zero config is a u64 set. */
    gomap_config zero;
    memset(&zero, 0, sizeof zero);
    REQUIRE_EQ(gomap_new(&m, &zero), 0);
    uint64_t k = 5;
    REQUIRE_EQ(gomap_set(m, &k, NULL), 0);
    CHECK(gomap_contains(m, &k));
    gomap_free(m);
}

TEST(config_is_copied) {
    gomap_config *cfg = malloc(sizeof *cfg);
    REQUIRE(cfg);
    *cfg = tu_config(GOMAP_KEY_STRING, 8);
    gomap *m;
    REQUIRE_EQ(gomap_new(&m, cfg), 0);
    memset(cfg, 0xff, sizeof *cfg);
    free(cfg);
    gomap_str k = gomap_cstr("key");
    uint64_t v = 77;
    REQUIRE_EQ(gomap_set(m, &k, &v), 0);
    CHECK_EQ(*(uint64_t *)gomap_get(m, &k), 77);
    gomap_free(m);
}

TEST(cstr) {
    gomap_str s = gomap_cstr("hello");
    CHECK_EQ(s.len, 5);
    CHECK(memcmp(s.ptr, "hello", 5) == 0);
    s = gomap_cstr("");
    CHECK_EQ(s.len, 0);
}

TEST(typed_u64u64) {
    gomap_u64u64 *m = gomap_u64u64_new(0);
    REQUIRE(m != NULL);
    uint64_t v = 0;
    CHECK(!gomap_u64u64_get(m, 1, &v));
    for (uint64_t i = 0; i < 10000; i++)
        REQUIRE_EQ(gomap_u64u64_set(m, i, i * i), 0);
    CHECK_EQ(gomap_u64u64_len(m), 10000);
    CHECK(gomap_u64u64_get(m, 99, &v));
    CHECK_EQ(v, 99 * 99);
    CHECK(gomap_u64u64_get(m, 98, NULL));
    REQUIRE_EQ(gomap_u64u64_set(m, 99, 1), 0);
    CHECK(gomap_u64u64_get(m, 99, &v));
    CHECK_EQ(v, 1);
    CHECK(gomap_u64u64_delete(m, 99));
    CHECK(!gomap_u64u64_delete(m, 99));
    CHECK(!gomap_u64u64_get(m, 99, &v));
    CHECK_EQ(gomap_u64u64_len(m), 9999);
    CHECK_EQ(gomap_len(gomap_u64u64_map(m)), 9999);
    gomap_u64u64_free(m);

    m = gomap_u64u64_new(100000);
    REQUIRE(m != NULL);
    CHECK_EQ(gomap_u64u64_len(m), 0);
    gomap_u64u64_free(m);
    CHECK_EQ(gomap_u64u64_len(NULL), 0);
    CHECK(!gomap_u64u64_get(NULL, 1, &v));
}

TEST(typed_strptr) {
    gomap_strptr *m = gomap_strptr_new(4);
    REQUIRE(m != NULL);
    int objs[100];
    char name[32];
    for (int i = 0; i < 100; i++) {
        int n = snprintf(name, sizeof name, "object-%d", i);
        REQUIRE_EQ(gomap_strptr_set(m, name, (size_t)n, &objs[i]), 0);
    }
    CHECK_EQ(gomap_strptr_len(m), 100);
    void *p = NULL;
    CHECK(gomap_strptr_get(m, "object-42", 9, &p));
    CHECK(p == &objs[42]);
    CHECK(!gomap_strptr_get(m, "object-42x", 10, &p));
    /* A NULL value is a value: present, and NULL. */
    REQUIRE_EQ(gomap_strptr_set(m, "null", 4, NULL), 0);
    p = &objs[0];
    CHECK(gomap_strptr_get(m, "null", 4, &p));
    CHECK(p == NULL);
    CHECK(gomap_strptr_get(m, "null", 4, NULL));
    CHECK(gomap_strptr_delete(m, "null", 4));
    CHECK(!gomap_strptr_delete(m, "null", 4));
    CHECK(gomap_strptr_delete(m, "object-0", 8));
    CHECK_EQ(gomap_strptr_len(m), 99);
    CHECK_EQ(gomap_len(gomap_strptr_map(m)), 99);
    gomap_strptr_free(m);
}

/* Growth to a large map and back: every key survives every doubling. */
TEST(large_map) {
    gomap_u64u64 *m = gomap_u64u64_new(0);
    REQUIRE(m != NULL);
    const uint64_t n = 200000;
    for (uint64_t i = 0; i < n; i++) {
        REQUIRE_EQ(gomap_u64u64_set(m, i * 0x10001, i), 0);
        if ((i & (i - 1)) == 0) { /* at powers of two, check everything so far */
            for (uint64_t j = 0; j <= i; j++) {
                uint64_t v;
                if (!gomap_u64u64_get(m, j * 0x10001, &v) || v != j) {
                    CHECK_FAIL("key lost during growth");
                    gomap_u64u64_free(m);
                    return;
                }
            }
        }
    }
    CHECK_EQ(gomap_u64u64_len(m), n);
    for (uint64_t i = 0; i < n; i++)
        REQUIRE(gomap_u64u64_delete(m, i * 0x10001));
    CHECK_EQ(gomap_u64u64_len(m), 0);
    gomap_u64u64_free(m);
}

TEST_MAIN()
