/*
 * map_shrink_test.c — gomap_shrink and the automatic shrink: contents kept,
 * memory given back, Go's iteration guarantees across a shrink (an entry
 * present for the whole iteration is returned exactly once, one deleted
 * before it is reached is not returned), and ENOMEM leaving the map as it was.
 */
#include "check.h"
#include "map_internal.h"
#include "map_test_util.h"

#include <errno.h>

/* The map holds exactly the keys i in [0, n) with live[i], value i * 3. */
static void check_contents(gomap *m, gomap_key_kind kind, const bool *live, size_t n) {
    size_t want = 0;
    for (size_t i = 0; i < n; i++) {
        struct tu_key k;
        tu_key_make(&k, kind, i);
        const uint64_t *v = gomap_get(m, tu_key_ptr(&k));
        if (live[i]) {
            want++;
            REQUIRE(v != NULL);
            CHECK_EQ(*v, (uint64_t)i * 3);
        } else {
            CHECK(v == NULL);
        }
    }
    CHECK_EQ(gomap_len(m), want);
    size_t seen = 0;
    gomap_iter it;
    gomap_iter_init(&it, m);
    const void *key;
    void *val;
    while (gomap_iter_next(&it, &key, &val)) {
        uint64_t i = tu_key_index(kind, key);
        REQUIRE(i < n);
        CHECK(live[i]);
        CHECK_EQ(*(uint64_t *)val, i * 3);
        seen++;
    }
    CHECK_EQ(seen, want);
}

static void put(gomap *m, gomap_key_kind kind, uint64_t i) {
    struct tu_key k;
    tu_key_make(&k, kind, i);
    uint64_t v = i * 3;
    REQUIRE_EQ(gomap_set(m, tu_key_ptr(&k), &v), 0);
}

static bool del(gomap *m, gomap_key_kind kind, uint64_t i) {
    struct tu_key k;
    tu_key_make(&k, kind, i);
    return gomap_delete(m, tu_key_ptr(&k));
}

static size_t map_bytes(const gomap *m) {
    gomap__stats_t st;
    gomap__stats(m, 0, &st);
    return st.bytes;
}

static unsigned map_B(const gomap *m) {
    gomap__stats_t st;
    gomap__stats(m, 0, &st);
    return st.B;
}

enum { N = 20000 };

static void shrink_keeps_contents(gomap_key_kind kind) {
    gomap *m = tu_new_map(kind, sizeof(uint64_t));
    REQUIRE(m != NULL);
    static bool live[N];
    for (uint64_t i = 0; i < N; i++) {
        put(m, kind, i);
        live[i] = true;
    }
    for (uint64_t i = 0; i < N; i++)
        if (i % 10) {
            CHECK(del(m, kind, i));
            live[i] = false;
        }
    size_t before = map_bytes(m);
    unsigned B0 = map_B(m);
    REQUIRE_EQ(gomap_shrink(m), 0);
    size_t after = map_bytes(m);
    CHECK(map_B(m) + 3 <= B0); /* a tenth of the entries: 8x fewer buckets */
    CHECK(after * 4 < before);
    check_contents(m, kind, live, N);
    /* Shrinking again changes nothing; the map grows again normally. */
    REQUIRE_EQ(gomap_shrink(m), 0);
    CHECK_EQ(map_bytes(m), after);
    for (uint64_t i = 0; i < N; i++)
        if (!live[i] && i % 3 == 0) {
            put(m, kind, i);
            live[i] = true;
        }
    check_contents(m, kind, live, N);
    /* Emptied, it shrinks to one bucket. */
    for (uint64_t i = 0; i < N; i++)
        if (live[i]) {
            CHECK(del(m, kind, i));
            live[i] = false;
        }
    REQUIRE_EQ(gomap_shrink(m), 0);
    CHECK_EQ(map_B(m), 0u);
    check_contents(m, kind, live, N);
    put(m, kind, 7);
    live[7] = true;
    check_contents(m, kind, live, N);
    gomap_free(m);
}

TEST(shrink_u64) {
    shrink_keeps_contents(GOMAP_KEY_U64);
}
TEST(shrink_u32) {
    shrink_keeps_contents(GOMAP_KEY_U32);
}
TEST(shrink_owned_strings) {
    shrink_keeps_contents(GOMAP_KEY_STRING);
}
TEST(shrink_bytes) {
    shrink_keeps_contents(GOMAP_KEY_BYTES);
}

TEST(shrink_nil_and_empty) {
    CHECK_EQ(gomap_shrink(NULL), 0);
    gomap_auto_shrink(NULL, true);
    gomap *m = tu_new_map(GOMAP_KEY_U64, 8);
    REQUIRE(m != NULL);
    CHECK_EQ(gomap_shrink(m), 0);
    CHECK_EQ(gomap_len(m), (size_t)0);
    gomap_free(m);
}

/* An iteration across shrinks (and regrowth): every entry present
 * throughout is returned exactly once; entries deleted before being reached
 * never are.  Run with the shrink at every point of the iteration. */
static void iterate_across_shrink(gomap_key_kind kind, uint64_t seed, bool mid_growth) {
    enum { M = 3000 };
    gomap *m = tu_new_map(kind, sizeof(uint64_t));
    REQUIRE(m != NULL);
    uint64_t rs = seed;
    static bool live[M], throughout[M];
    static int returned[M];
    memset(live, 0, sizeof live);
    for (uint64_t i = 0; i < M; i++) {
        put(m, kind, i);
        live[i] = true;
    }
    /* Delete most, so a shrink has work to do. */
    for (uint64_t i = 0; i < M; i++)
        if (tu_below(&rs, 4) != 0) {
            del(m, kind, i);
            live[i] = false;
        }
    if (mid_growth) {
        /* Insert past the load factor so a growth is in progress when the
         * iteration starts (its keys become the iteration's keys too). */
        for (uint64_t i = 0; i < M; i++) {
            if (gomap__growing(m))
                break;
            if (!live[i]) {
                put(m, kind, i);
                live[i] = true;
            }
        }
    }
    memcpy(throughout, live, sizeof live);
    memset(returned, 0, sizeof returned);
    size_t at = (size_t)tu_below(&rs, gomap_len(m) + 1);
    size_t steps = 0;
    gomap_iter it;
    gomap_iter_init(&it, m);
    const void *key;
    while (gomap_iter_next(&it, &key, NULL)) {
        uint64_t i = tu_key_index(kind, key);
        REQUIRE(i < M);
        CHECK(live[i]);
        returned[i]++;
        if (++steps == at) {
            /* Delete some keys (reached or not), shrink, then regrow a bit
             * and shrink again. */
            for (uint64_t j = 0; j < M; j++)
                if (live[j] && tu_below(&rs, 3) == 0) {
                    CHECK(del(m, kind, j));
                    live[j] = throughout[j] = false;
                }
            REQUIRE_EQ(gomap_shrink(m), 0);
            for (uint64_t j = 0; j < M; j += 7)
                if (!live[j]) {
                    put(m, kind, j); /* new during the iteration: may or may not */
                    live[j] = true;
                }
            REQUIRE_EQ(gomap_shrink(m), 0);
        }
    }
    for (uint64_t i = 0; i < M; i++) {
        if (throughout[i])
            CHECK_EQ(returned[i], 1);
        else if (!live[i])
            CHECK(returned[i] <= 1); /* deleted for good: at most once, before */
    }
    static bool vals[M];
    for (uint64_t i = 0; i < M; i++)
        vals[i] = live[i];
    check_contents(m, kind, vals, M);
    gomap_free(m);
}

TEST(iterator_across_shrink) {
    for (uint64_t s = 1; s <= 20; s++) {
        iterate_across_shrink(GOMAP_KEY_U64, s, false);
        iterate_across_shrink(GOMAP_KEY_STRING, s + 100, s % 2 == 0);
        iterate_across_shrink(GOMAP_KEY_U32, s + 200, true);
    }
}

/* Automatic shrink: deleting most keys gives memory back, without changing
 * what the map holds; deleting every entry the iterator returns, with
 * shrinks happening mid-iteration, still returns each entry once. */
TEST(auto_shrink) {
    gomap *m = tu_new_map(GOMAP_KEY_U64, sizeof(uint64_t));
    REQUIRE(m != NULL);
    gomap_auto_shrink(m, true);
    static bool live[N];
    for (uint64_t i = 0; i < N; i++) {
        put(m, GOMAP_KEY_U64, i);
        live[i] = true;
    }
    unsigned B0 = map_B(m);
    size_t bytes0 = map_bytes(m);
    for (uint64_t i = 0; i < N; i++)
        if (i % 20) {
            del(m, GOMAP_KEY_U64, i);
            live[i] = false;
        }
    CHECK(map_B(m) + 3 <= B0);
    CHECK(map_bytes(m) * 6 < bytes0);
    check_contents(m, GOMAP_KEY_U64, live, N);
    /* A clone shrinks too. */
    gomap *c;
    REQUIRE_EQ(gomap_clone(m, &c), 0);
    for (uint64_t i = 0; i < N; i += 20)
        del(c, GOMAP_KEY_U64, i);
    CHECK(map_B(c) <= 4); /* maps of fewer than 32 buckets stay as they are */
    gomap_free(c);
    /* Refill, then delete while iterating. */
    for (uint64_t i = 0; i < N; i++)
        if (!live[i]) {
            put(m, GOMAP_KEY_U64, i);
            live[i] = true;
        }
    static int returned[N];
    memset(returned, 0, sizeof returned);
    gomap_iter it;
    gomap_iter_init(&it, m);
    const void *key;
    unsigned Bmax = map_B(m);
    while (gomap_iter_next(&it, &key, NULL)) {
        uint64_t i = tu_key_index(GOMAP_KEY_U64, key);
        REQUIRE(i < N);
        returned[i]++;
        CHECK(del(m, GOMAP_KEY_U64, i));
    }
    for (uint64_t i = 0; i < N; i++)
        CHECK_EQ(returned[i], 1);
    CHECK_EQ(gomap_len(m), (size_t)0);
    CHECK(map_B(m) < Bmax);
    gomap_free(m);
}

/* ENOMEM from a shrink leaves the contents as they were, and leaks nothing. */
TEST(shrink_enomem) {
    for (uint64_t fail = 1; fail <= 40; fail++) {
        struct tu_alloc a = {0};
        gomap_allocator hook = {tu_alloc_fn, tu_free_fn, &a};
        gomap_config cfg = tu_config(GOMAP_KEY_STRING, sizeof(uint64_t));
        cfg.allocator = &hook;
        gomap *m;
        REQUIRE_EQ(gomap_new(&m, &cfg), 0);
        static bool live[2000];
        for (uint64_t i = 0; i < 2000; i++) {
            put(m, GOMAP_KEY_STRING, i);
            live[i] = true;
        }
        for (uint64_t i = 0; i < 2000; i++)
            if (i % 5) {
                del(m, GOMAP_KEY_STRING, i);
                live[i] = false;
            }
        tu_alloc_arm(&a, fail);
        int r = gomap_shrink(m);
        CHECK(r == 0 || r == ENOMEM);
        tu_alloc_arm(&a, 0);
        check_contents(m, GOMAP_KEY_STRING, live, 2000);
        gomap_free(m);
        CHECK_EQ(a.live_blocks, (size_t)0);
        CHECK_EQ(a.bad_frees, (uint64_t)0);
    }
}

TEST_MAIN()
