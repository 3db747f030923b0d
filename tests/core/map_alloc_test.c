/* map_alloc_test.c — allocation failure.  An allocator hook fails the Nth
 * allocation of one operation, for N = 1, 2, ... until the operation
 * succeeds (boost's exception tests do the same).  Every failure must return
 * ENOMEM, leave the map's contents exactly as they were, leave the map
 * working, and leak nothing (the allocator counts live bytes). */
#include "check.h"
#include "map_test_util.h"

#include <errno.h>

enum { MAX_N = 10000 }; /* no operation makes this many allocations */

static struct tu_alloc A;
static const gomap_allocator AL = {tu_alloc_fn, tu_free_fn, &A};

static gomap *new_map(gomap_key_kind kind, size_t value_size, size_t hint) {
    gomap_config cfg = tu_config(kind, value_size);
    cfg.allocator = &AL;
    cfg.hint = hint;
    gomap *m = NULL;
    tu_alloc_arm(&A, 0);
    if (gomap_new(&m, &cfg) != 0)
        return NULL;
    return m;
}

/* The contents we build: keys 0..n-1 (plus `extra`, when not UINT64_MAX),
 * key i with value tu_fill(i). */
static bool set_key(gomap *m, gomap_key_kind kind, size_t vs, uint64_t i) {
    struct tu_key k;
    unsigned char v[GOMAP_MAX_VALUE_SIZE];
    tu_key_make(&k, kind, i);
    tu_fill(v, vs, i);
    return gomap_set(m, tu_key_ptr(&k), v) == 0;
}

/* Checks that m holds exactly keys lo..hi-1 (and `extra` if not UINT64_MAX)
 * with their values, by lookups and by one full iteration. */
static bool holds_exactly(const gomap *m, gomap_key_kind kind, size_t vs, uint64_t lo, uint64_t hi,
                          uint64_t extra) {
    uint64_t n = hi - lo + (extra != UINT64_MAX);
    if (gomap_len(m) != n)
        return false;
    struct tu_key k;
    unsigned char v[GOMAP_MAX_VALUE_SIZE];
    for (uint64_t i = lo; i <= hi; i++) {
        uint64_t key = i < hi ? i : extra;
        if (key == UINT64_MAX)
            continue;
        tu_key_make(&k, kind, key);
        const void *p = gomap_get(m, tu_key_ptr(&k));
        tu_fill(v, vs, key);
        if (!p || memcmp(p, v, vs) != 0)
            return false;
    }
    gomap_iter it;
    gomap_iter_init(&it, m);
    const void *kp;
    void *vp;
    uint64_t seen = 0;
    while (gomap_iter_next(&it, &kp, &vp)) {
        uint64_t i = tu_key_index(kind, kp);
        if (!((i >= lo && i < hi) || i == extra))
            return false;
        tu_fill(v, vs, i);
        if (memcmp(vp, v, vs) != 0)
            return false;
        seen++;
    }
    return seen == n;
}

/* Fails each allocation of one set in turn: the set inserts key `c` into a
 * map holding keys 0..c-1.  Returns how many allocations the set made. */
static uint64_t set_fails_cleanly(gomap_key_kind kind, size_t vs, uint64_t c, size_t hint) {
    for (uint64_t n = 1; n < MAX_N; n++) {
        gomap *m = new_map(kind, vs, hint);
        if (!m) {
            CHECK_FAIL("setup");
            return 0;
        }
        for (uint64_t i = 0; i < c; i++)
            if (!set_key(m, kind, vs, i)) {
                CHECK_FAIL("setup");
                gomap_free(m);
                return 0;
            }
        struct tu_key k;
        unsigned char v[GOMAP_MAX_VALUE_SIZE];
        tu_key_make(&k, kind, c);
        tu_fill(v, vs, c);
        tu_alloc_arm(&A, n);
        int rc = gomap_set(m, tu_key_ptr(&k), v);
        uint64_t calls = A.calls;
        tu_alloc_arm(&A, 0);
        bool ok;
        if (rc == 0) {
            ok = holds_exactly(m, kind, vs, 0, c + 1, UINT64_MAX);
        } else {
            CHECK_EQ(rc, ENOMEM);
            CHECK(calls >= n);
            /* Unchanged contents.  (Memory the attempt allocated may stay
             * with the map, unseen; gomap_free must return it.) */
            ok = holds_exactly(m, kind, vs, 0, c, UINT64_MAX);
            /* And still working: the same insert, then more. */
            ok = ok && gomap_set(m, tu_key_ptr(&k), v) == 0;
            for (uint64_t i = c + 1; ok && i < c + 40; i++)
                ok = set_key(m, kind, vs, i);
            ok = ok && holds_exactly(m, kind, vs, 0, c + 40, UINT64_MAX);
        }
        if (!ok) {
            fprintf(stderr,
                    "  kind %d, value size %zu, %llu keys, hint %zu: failing allocation %llu\n",
                    (int)kind, vs, (unsigned long long)c, hint, (unsigned long long)n);
            CHECK_FAIL("map changed or broken after ENOMEM");
        }
        gomap_free(m);
        CHECK_EQ(A.live_bytes, 0);
        CHECK_EQ(A.live_blocks, 0);
        CHECK_EQ(A.bad_frees, 0);
        if (rc == 0 || check_case_failed)
            return n - 1;
    }
    CHECK_FAIL("set never succeeded");
    return 0;
}

/* Map sizes around Go's growth points (load 6.5: 8, 13, 26, 52, 104, 208 ...
 * entries) so that the failing set is the one that starts a growth, or one
 * made while a growth is still evacuating, or a plain one. */
static const uint64_t counts[] = {0,   1,   7,   8,   9,    12,   13,   14,   25,   26,   27,
                                  51,  52,  53,  54,  55,   56,   103,  104,  105,  106,  107,
                                  207, 208, 209, 210, 1663, 1664, 1665, 1666, 6656, 6657, 6658};

static void set_sweep(gomap_key_kind kind, size_t vs) {
    uint64_t most = 0;
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        uint64_t n = set_fails_cleanly(kind, vs, counts[i], 0);
        if (n > most)
            most = n;
        if (check_case_failed)
            return;
    }
    CHECK(most >= 1); /* the sweep did fail some allocations */
    printf("  kind %d, value size %zu: at most %llu allocations in one set\n", (int)kind, vs,
           (unsigned long long)most);
}

TEST(set_u64_fails_cleanly) {
    set_sweep(GOMAP_KEY_U64, 8);
}
TEST(set_u32_fails_cleanly) {
    set_sweep(GOMAP_KEY_U32, 0);
}
TEST(set_string_fails_cleanly) {
    set_sweep(GOMAP_KEY_STRING, 13); /* the key copy is an allocation too */
}
TEST(set_bytes_fails_cleanly) {
    set_sweep(GOMAP_KEY_BYTES, 128);
}
TEST(set_with_hint_fails_cleanly) {
    set_fails_cleanly(GOMAP_KEY_U64, 8, 0, 1000);
    set_fails_cleanly(GOMAP_KEY_U64, 8, 999, 1000);
    set_fails_cleanly(GOMAP_KEY_STRING, 8, 500, 1000);
}

/* Long string keys: the map must copy 10 KB. */
TEST(set_long_string_fails_cleanly) {
    size_t L = 10 * 1024;
    char *s = malloc(L);
    REQUIRE(s);
    memset(s, 'q', L);
    for (uint64_t n = 1; n < MAX_N; n++) {
        gomap *m = new_map(GOMAP_KEY_STRING, 8, 0);
        REQUIRE(m);
        for (uint64_t i = 0; i < 20; i++)
            REQUIRE(set_key(m, GOMAP_KEY_STRING, 8, i));
        gomap_str k = {s, L};
        uint64_t v = 5;
        tu_alloc_arm(&A, n);
        int rc = gomap_set(m, &k, &v);
        tu_alloc_arm(&A, 0);
        if (rc != 0) {
            CHECK_EQ(rc, ENOMEM);
            CHECK(holds_exactly(m, GOMAP_KEY_STRING, 8, 0, 20, UINT64_MAX));
            CHECK(!gomap_contains(m, &k));
        } else {
            CHECK_EQ(*(uint64_t *)gomap_get(m, &k), 5);
            CHECK_EQ(gomap_len(m), 21);
        }
        gomap_free(m);
        CHECK_EQ(A.live_bytes, 0);
        if (rc == 0 || check_case_failed)
            break;
    }
    free(s);
}

/* Overwriting a present key, deleting, getting and iterating never need
 * memory: with every allocation failing, they all work. */
TEST(no_allocation_without_insert) {
    gomap_key_kind kinds[] = {GOMAP_KEY_U64, GOMAP_KEY_STRING, GOMAP_KEY_BYTES};
    for (int k = 0; k < 3; k++) {
        gomap *m = new_map(kinds[k], 8, 0);
        REQUIRE(m);
        for (uint64_t i = 0; i < 1000; i++)
            REQUIRE(set_key(m, kinds[k], 8, i));
        tu_alloc_arm(&A, 1);
        struct tu_key key;
        unsigned char v[8];
        for (uint64_t i = 0; i < 1000; i++) {
            tu_key_make(&key, kinds[k], i);
            tu_fill(v, 8, i);
            CHECK_EQ(gomap_set(m, tu_key_ptr(&key), v), 0);
            CHECK(gomap_get(m, tu_key_ptr(&key)) != NULL);
        }
        gomap_iter it;
        gomap_iter_init(&it, m);
        while (gomap_iter_next(&it, NULL, NULL)) {
        }
        for (uint64_t i = 0; i < 1000; i += 2) {
            tu_key_make(&key, kinds[k], i);
            CHECK(gomap_delete(m, tu_key_ptr(&key)));
        }
        CHECK_EQ(A.calls, 0);
        gomap_clear(m);
        CHECK_EQ(A.calls, 0);
        tu_alloc_arm(&A, 0);
        gomap_free(m);
        CHECK_EQ(A.live_bytes, 0);
    }
}

/* Fails each allocation of a clone in turn. */
static void clone_fails_cleanly(gomap_key_kind kind, size_t vs, uint64_t c) {
    gomap *m = new_map(kind, vs, 0);
    REQUIRE(m);
    for (uint64_t i = 0; i < c; i++)
        REQUIRE(set_key(m, kind, vs, i));
    size_t live = A.live_bytes;
    for (uint64_t n = 1; n < MAX_N; n++) {
        gomap *out = (gomap *)&out;
        tu_alloc_arm(&A, n);
        int rc = gomap_clone(m, &out);
        tu_alloc_arm(&A, 0);
        CHECK(holds_exactly(m, kind, vs, 0, c, UINT64_MAX));
        if (rc == 0) {
            REQUIRE(out != NULL);
            CHECK(holds_exactly(out, kind, vs, 0, c, UINT64_MAX));
            gomap_free(out);
            CHECK_EQ(A.live_bytes, live);
            break;
        }
        CHECK_EQ(rc, ENOMEM);
        CHECK(out == NULL);
        CHECK_EQ(A.live_bytes, live); /* the partial copy was freed */
        if (check_case_failed) {
            fprintf(stderr, "  clone of %llu keys, failing allocation %llu\n",
                    (unsigned long long)c, (unsigned long long)n);
            break;
        }
    }
    /* The original still works. */
    CHECK(set_key(m, kind, vs, c));
    CHECK(holds_exactly(m, kind, vs, 0, c + 1, UINT64_MAX));
    gomap_free(m);
    CHECK_EQ(A.live_bytes, 0);
    CHECK_EQ(A.bad_frees, 0);
}

TEST(clone_fails_cleanly) {
    static const uint64_t sizes[] = {0, 1, 9, 53, 54, 300, 3000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        clone_fails_cleanly(GOMAP_KEY_U64, 8, sizes[i]);
        /* Each string key is an allocation of its own: clone makes about
         * one per key, and the sweep is quadratic, so keep these smaller. */
        clone_fails_cleanly(GOMAP_KEY_STRING, 13, sizes[i] > 300 ? 300 : sizes[i]);
        clone_fails_cleanly(GOMAP_KEY_BYTES, 0, sizes[i] > 300 ? 300 : sizes[i]);
    }
}

/* Fails each allocation of gomap_new in turn. */
TEST(new_fails_cleanly) {
    static const size_t hints[] = {0, 1, 8, 9, 100, 10000, 100000};
    gomap_key_kind kinds[] = {GOMAP_KEY_U64, GOMAP_KEY_STRING, GOMAP_KEY_BYTES};
    for (int k = 0; k < 3; k++) {
        for (size_t h = 0; h < sizeof hints / sizeof hints[0]; h++) {
            gomap_config cfg = tu_config(kinds[k], 8);
            cfg.allocator = &AL;
            cfg.hint = hints[h];
            for (uint64_t n = 1; n < MAX_N; n++) {
                gomap *m = (gomap *)&m;
                tu_alloc_arm(&A, n);
                int rc = gomap_new(&m, &cfg);
                tu_alloc_arm(&A, 0);
                if (rc == 0) {
                    REQUIRE(m != NULL);
                    CHECK(set_key(m, kinds[k], 8, 1));
                    CHECK(holds_exactly(m, kinds[k], 8, 1, 2, UINT64_MAX));
                    gomap_free(m);
                    CHECK_EQ(A.live_bytes, 0);
                    break;
                }
                CHECK_EQ(rc, ENOMEM);
                CHECK(m == NULL);
                CHECK_EQ(A.live_bytes, 0);
                CHECK_EQ(A.live_blocks, 0);
                if (check_case_failed)
                    return;
            }
        }
    }
}

/* Hints too large to satisfy: gomap_new returns ENOMEM (or, as Go's
 * makemap does with an absurd hint, ignores it), never crashes or wraps a
 * size computation around to a small table that it then overruns.  The
 * allocator refuses anything over 1 GB, as a real one would fail. */
static void *capped_alloc(size_t size, void *ctx) {
    return size > ((size_t)1 << 30) ? NULL : tu_alloc_fn(size, ctx);
}
static void absurd_hint_child(void *arg) {
    static const gomap_allocator capped = {capped_alloc, tu_free_fn, &A};
    alarm(10); /* a size computation that loops forever fails the test */
    gomap_config cfg = tu_config(GOMAP_KEY_BYTES, 128);
    cfg.key_size = 128;
    cfg.allocator = &capped;
    cfg.hint = *(const size_t *)arg;
    gomap *m = (gomap *)&m;
    int rc = gomap_new(&m, &cfg);
    if (rc == 0) {
        if (!m || !set_key(m, GOMAP_KEY_BYTES, 128, 1) ||
            !holds_exactly(m, GOMAP_KEY_BYTES, 128, 1, 2, UINT64_MAX))
            printf("map broken\n");
        gomap_free(m);
    } else if (rc != ENOMEM || m != NULL) {
        printf("rc %d\n", rc);
    }
    if (A.live_bytes != 0)
        printf("leaked %zu bytes\n", A.live_bytes);
}

/* Each in a child process, so that a hang ends in SIGALRM, not a stuck suite. */
TEST(absurd_hints) {
    static const size_t hints[] = {(size_t)1 << 28, (size_t)1 << 40, (size_t)1 << 56,
                                   (size_t)1 << 62, SIZE_MAX / 2,    SIZE_MAX};
    static struct child_result r;
    for (size_t h = 0; h < sizeof hints / sizeof hints[0]; h++) {
        size_t hint = hints[h];
        run_in_child(absurd_hint_child, &hint, NULL, &r);
        if (!r.exited || r.status != 0 || r.err[0]) {
            fprintf(stderr, "  hint %zu: %s %d, output:\n%.2000s\n", hints[h],
                    r.exited ? "exit" : "signal", r.status, r.err);
            CHECK_FAIL("gomap_new with an absurd hint: ENOMEM or a working map");
        }
    }
}

/* Random failures over a long random run (Verstable's approach): every failed
 * set leaves the map as the model says. */
TEST(random_failures) {
    uint64_t rng = 12345;
    const uint64_t K = 3000;
    unsigned char *present = calloc(K, 1);
    REQUIRE(present);
    gomap *m = new_map(GOMAP_KEY_STRING, 8, 0);
    REQUIRE(m);
    uint64_t count = 0, failures = 0;
    for (int op = 0; op < 200000; op++) {
        uint64_t i = tu_below(&rng, K);
        struct tu_key k;
        tu_key_make(&k, GOMAP_KEY_STRING, i);
        if (tu_below(&rng, 3) == 0) {
            bool was = gomap_delete(m, tu_key_ptr(&k));
            REQUIRE_EQ(was, present[i]);
            count -= was;
            present[i] = 0;
            continue;
        }
        unsigned char v[8];
        tu_fill(v, 8, i);
        tu_alloc_arm(&A, tu_below(&rng, 4) == 0 ? 1 : 0); /* a quarter of sets: no memory */
        int rc = gomap_set(m, tu_key_ptr(&k), v);
        tu_alloc_arm(&A, 0);
        if (rc == ENOMEM) {
            failures++;
            REQUIRE(!present[i]); /* only an insert may need memory */
            REQUIRE(!gomap_contains(m, tu_key_ptr(&k)));
        } else {
            REQUIRE_EQ(rc, 0);
            if (!present[i])
                count++;
            present[i] = 1;
        }
        REQUIRE_EQ(gomap_len(m), count);
        if (op % 20000 == 0) {
            gomap_iter it;
            gomap_iter_init(&it, m);
            const void *kp;
            uint64_t n = 0;
            while (gomap_iter_next(&it, &kp, NULL)) {
                REQUIRE(present[tu_key_index(GOMAP_KEY_STRING, kp)]);
                n++;
            }
            REQUIRE_EQ(n, count);
        }
    }
    CHECK(failures > 0);
    gomap_free(m);
    CHECK_EQ(A.live_bytes, 0);
    free(present);
}

TEST_MAIN()
