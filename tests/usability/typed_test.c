/*
 * typed_test.c — GOMAP_DEFINE_TYPED and CONCMAP_DEFINE_TYPED: the ready
 * instances (string -> u64, u64 -> pointer, u32 -> u32), a user-defined
 * instance with a struct key (GOMAP_KEY_BYTES, padding zeroed as gomap.h
 * asks), and the typed concmap functions over every variant.
 */
#include <errno.h>

#include <gomap/concmap.h>
#include <gomap/gomap.h>

#include "check.h"

TEST(stru64_counts_words) {
    gomap_stru64 *m = gomap_stru64_new(0);
    REQUIRE(m != NULL);
    const char *text[] = {"a", "b", "a", "c", "a", "b"};
    for (size_t i = 0; i < 6; i++) {
        bool inserted;
        uint64_t *n = gomap_stru64_upsert(m, gomap_cstr(text[i]), &inserted);
        REQUIRE(n != NULL);
        CHECK_EQ(inserted, *n == 0);
        ++*n;
    }
    uint64_t v = 0;
    CHECK(gomap_stru64_get(m, gomap_cstr("a"), &v));
    CHECK_EQ(v, 3);
    CHECK(gomap_stru64_get(m, gomap_cstr("b"), NULL));
    CHECK(!gomap_stru64_get(m, gomap_cstr("z"), &v));
    CHECK_EQ(gomap_stru64_len(m), 3);
    uint64_t total = 0;
    size_t seen = 0;
    gomap_stru64_iter it;
    gomap_str k;
    uint64_t *pv;
    gomap_stru64_iter_init(&it, m);
    while (gomap_stru64_iter_next(&it, &k, &pv)) {
        total += *pv;
        seen++;
        CHECK(k.len == 1);
    }
    CHECK_EQ(total, 6);
    CHECK_EQ(seen, 3);
    CHECK(gomap_stru64_delete(m, gomap_cstr("c")));
    CHECK(!gomap_stru64_delete(m, gomap_cstr("c")));
    CHECK_EQ(gomap_stru64_set(m, gomap_cstr("d"), 9), 0);
    CHECK(gomap_stru64_get(m, gomap_cstr("d"), &v) && v == 9);
    CHECK_EQ(gomap_len(gomap_stru64_map(m)), 3);
    gomap_stru64_free(m);
}

TEST(u64ptr_and_u32u32) {
    gomap_u64ptr *p = gomap_u64ptr_new(16);
    REQUIRE(p != NULL);
    static int objs[100];
    for (uint64_t i = 0; i < 100; i++)
        REQUIRE_EQ(gomap_u64ptr_set(p, i, &objs[i]), 0);
    for (uint64_t i = 0; i < 100; i++) {
        void *o = NULL;
        CHECK(gomap_u64ptr_get(p, i, &o) && o == &objs[i]);
    }
    gomap_u64ptr_iter it;
    uint64_t key;
    void **slot;
    size_t n = 0;
    gomap_u64ptr_iter_init(&it, p);
    while (gomap_u64ptr_iter_next(&it, &key, &slot)) {
        CHECK(*slot == &objs[key]);
        n++;
    }
    CHECK_EQ(n, 100);
    gomap_u64ptr_free(p);

    gomap_u32u32 *q = gomap_u32u32_new(0);
    REQUIRE(q != NULL);
    for (uint32_t i = 0; i < 1000; i++)
        REQUIRE_EQ(gomap_u32u32_set(q, i, i * 3), 0);
    for (uint32_t i = 0; i < 1000; i += 2)
        CHECK(gomap_u32u32_delete(q, i));
    CHECK_EQ(gomap_u32u32_len(q), 500);
    uint32_t v;
    CHECK(gomap_u32u32_get(q, 7, &v) && v == 21);
    CHECK(!gomap_u32u32_get(q, 8, &v));
    /* iter_stop ends an iteration left early */
    gomap_u32u32_iter qi;
    gomap_u32u32_iter_init(&qi, q);
    CHECK(gomap_u32u32_iter_next(&qi, NULL, NULL));
    gomap_u32u32_iter_stop(&qi);
    gomap_u32u32_free(q);

    /* u64u64 and strptr, the earlier helpers, keep working */
    gomap_u64u64 *a = gomap_u64u64_new(0);
    REQUIRE(a != NULL);
    CHECK_EQ(gomap_u64u64_set(a, 1, 2), 0);
    uint64_t w;
    CHECK(gomap_u64u64_get(a, 1, &w) && w == 2);
    gomap_u64u64_free(a);
    gomap_strptr *sp = gomap_strptr_new(0);
    REQUIRE(sp != NULL);
    CHECK_EQ(gomap_strptr_set(sp, "k", 1, &objs[1]), 0);
    void *o;
    CHECK(gomap_strptr_get(sp, "k", 1, &o) && o == &objs[1]);
    gomap_strptr_free(sp);
}

/* A struct key for a typed map: its keys travel by value and C keeps no
 * padding bytes across a copy, so the gap after `tag` is a named field,
 * always 0 (gomap.h, GOMAP_DEFINE_TYPED). */
typedef struct point {
    int32_t tag;
    int32_t unused;
    int64_t x;
} point;
GOMAP_DEFINE_TYPED(point_map, point, double, GOMAP_KEY_BYTES);

static point mkpoint(int32_t tag, int64_t x) {
    point p = {tag, 0, x};
    return p;
}

TEST(struct_keys) {
    point_map *m = point_map_new(0);
    REQUIRE(m != NULL);
    for (int i = 0; i < 200; i++)
        REQUIRE_EQ(point_map_set(m, mkpoint(i % 7, i), i * 0.5), 0);
    double d;
    CHECK(point_map_get(m, mkpoint(3, 10), &d) && d == 5.0);
    CHECK(!point_map_get(m, mkpoint(4, 10), &d));
    double *slot = point_map_upsert(m, mkpoint(3, 10), NULL);
    REQUIRE(slot != NULL);
    *slot += 1;
    CHECK(point_map_get(m, mkpoint(3, 10), &d) && d == 6.0);
    CHECK_EQ(point_map_len(m), 200);
    point_map_free(m);
}

/* A key type that does not fit its kind is refused. */
GOMAP_DEFINE_TYPED(bad_map, uint16_t, uint64_t, GOMAP_KEY_U64);
TEST(mismatched_key_type_is_einval) {
    errno = 0;
    CHECK(bad_map_new(0) == NULL);
    CHECK_EQ(errno, EINVAL);
}

static concmap_action add(uint64_t *v, bool loaded, void *ctx) {
    (void)loaded;
    *v += *(const uint64_t *)ctx;
    return CONCMAP_STORE;
}

static bool sum_range(gomap_str key, uint64_t value, void *ctx) {
    CHECK(key.len > 0);
    *(uint64_t *)ctx += value;
    return true;
}

static concmap_action double_it(uint32_t *v, bool loaded, void *ctx) {
    (void)ctx;
    if (!loaded)
        return CONCMAP_KEEP;
    *v *= 2;
    return CONCMAP_STORE;
}

static bool count_range(uint64_t key, void *value, void *ctx) {
    CHECK(value == (void *)(uintptr_t)(key + 1));
    ++*(size_t *)ctx;
    return true;
}

TEST(concmap_typed_every_variant) {
    for (const char *const *kind = concmap_variants; *kind; kind++) {
        concmap_stru64 *m = concmap_stru64_new(*kind, 0);
        REQUIRE(m != NULL);
        uint64_t three = 3, got = 0, total = 0;
        CHECK_EQ(concmap_stru64_compute(m, gomap_cstr("x"), add, &three), 0);
        CHECK_EQ(concmap_stru64_compute(m, gomap_cstr("x"), add, &three), 0);
        CHECK(concmap_stru64_load(m, gomap_cstr("x"), &got) && got == 6);
        CHECK_EQ(concmap_stru64_store(m, gomap_cstr("y"), 4), 0);
        bool loaded;
        CHECK_EQ(concmap_stru64_load_or_store(m, gomap_cstr("y"), 5, &got, &loaded), 0);
        CHECK(loaded && got == 4);
        concmap_stru64_range(m, sum_range, &total);
        CHECK_EQ(total, 10);
        CHECK_EQ(concmap_stru64_len(m), 2);
        CHECK(concmap_stru64_load_and_delete(m, gomap_cstr("y"), &got) && got == 4);
        concmap_stru64_delete(m, gomap_cstr("x"));
        CHECK_EQ(concmap_stru64_len(m), 0);
        CHECK_EQ(concmap_stru64_compute(m, gomap_cstr("x"), NULL, NULL), EINVAL);
        CHECK(strcmp(concmap_variant(concmap_stru64_concmap(m)), *kind) == 0);
        concmap_stru64_free(m);

        concmap_u64ptr *p = concmap_u64ptr_new(*kind, 0);
        REQUIRE(p != NULL);
        for (uint64_t i = 0; i < 50; i++)
            REQUIRE_EQ(concmap_u64ptr_store(p, i, (void *)(uintptr_t)(i + 1)), 0);
        size_t n = 0;
        concmap_u64ptr_range(p, count_range, &n);
        CHECK_EQ(n, 50);
        concmap_u64ptr_clear(p);
        CHECK_EQ(concmap_u64ptr_len(p), 0);
        concmap_u64ptr_free(p);

        concmap_u32u32 *q = concmap_u32u32_new(*kind, 0);
        REQUIRE(q != NULL);
        REQUIRE_EQ(concmap_u32u32_store(q, 1, 21), 0);
        CHECK_EQ(concmap_u32u32_compute(q, 1, double_it, NULL), 0);
        CHECK_EQ(concmap_u32u32_compute(q, 2, double_it, NULL), 0);
        uint32_t v;
        CHECK(concmap_u32u32_load(q, 1, &v) && v == 42);
        CHECK(!concmap_u32u32_load(q, 2, &v));
        concmap_u32u32_free(q);
    }
    errno = 0;
    CHECK(concmap_u32u32_new("no-such-variant", 0) == NULL);
    CHECK_EQ(errno, EINVAL);
}

TEST_MAIN()
