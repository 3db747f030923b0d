/* map_iter_test.c — Go's iteration rules: each entry exactly once, deletes
 * and growth and clear during iteration, random order per map and per
 * iteration, values modified through the iterator. */
#include "check.h"
#include "map_test_util.h"

/* A map of n keys of `kind`, key i holding value i. */
static gomap *filled(gomap_key_kind kind, uint64_t n) {
    gomap *m = tu_new_map(kind, 8);
    struct tu_key k;
    for (uint64_t i = 0; m && i < n; i++) {
        tu_key_make(&k, kind, i);
        if (gomap_set(m, tu_key_ptr(&k), &i) != 0) {
            gomap_free(m);
            return NULL;
        }
    }
    return m;
}

static void each_entry_once(gomap_key_kind kind, uint64_t n) {
    gomap *m = filled(kind, n);
    REQUIRE(m != NULL);
    unsigned char *seen = calloc(n + 1, 1);
    REQUIRE(seen);
    gomap_iter it;
    gomap_iter_init(&it, m);
    const void *kp;
    void *vp;
    uint64_t count = 0;
    while (gomap_iter_next(&it, &kp, &vp)) {
        uint64_t i = tu_key_index(kind, kp);
        REQUIRE(i < n);
        CHECK_EQ(*(uint64_t *)vp, i);
        CHECK_EQ(seen[i], 0);
        seen[i] = 1;
        count++;
    }
    CHECK_EQ(count, n);
    /* Finished iterators stay finished. */
    CHECK(!gomap_iter_next(&it, &kp, &vp));
    free(seen);
    gomap_free(m);
}

TEST(each_entry_exactly_once) {
    static const uint64_t sizes[] = {0, 1, 2, 7, 8, 9, 13, 14, 52, 53, 100, 1000, 70000};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        each_entry_once(GOMAP_KEY_U64, sizes[s]);
        each_entry_once(GOMAP_KEY_STRING, sizes[s] > 5000 ? 5000 : sizes[s]);
        each_entry_once(GOMAP_KEY_BYTES, sizes[s] > 5000 ? 5000 : sizes[s]);
    }
    each_entry_once(GOMAP_KEY_U32, 3000);
}

/* An owned string map's keys come back with their bytes and length from
 * the inline step, the library's step and a mix of both, in every form the
 * map stores them: inline (0 to 16 bytes, a 16-byte key's last byte being
 * its tag) and on the heap (longer keys, and 16-byte keys whose last byte
 * reads as a length or as the heap mark). */
TEST(owned_string_keys_every_form) {
    enum { NKEYS = 64 };
    static char bytes[NKEYS][40];
    gomap_str keys[NKEYS];
    for (int i = 0; i < NKEYS; i++) {
        size_t len = i < 41 ? (size_t)i : 16;
        for (size_t j = 0; j < len; j++)
            bytes[i][j] = (char)('a' + (i * 7 + (int)j) % 26);
        if (i >= 41) /* 16 bytes, last byte 0..15 (a length) or 0xff (the mark) */
            bytes[i][15] = (char)(i < 57 ? i - 41 : 0xff);
        if (i >= 57) /* distinct first bytes for the seven 0xff keys */
            bytes[i][0] = (char)('A' + i - 57);
        keys[i].ptr = bytes[i];
        keys[i].len = len;
    }
    bool (*lib_step)(gomap_iter *, const void **, void **) = gomap_iter_next;
    for (int how = 0; how < 3; how++) {
        gomap *m = tu_new_map(GOMAP_KEY_STRING, 8);
        REQUIRE(m != NULL);
        for (uint64_t i = 0; i < NKEYS; i++)
            REQUIRE(gomap_set(m, &keys[i], &i) == 0);
        REQUIRE(gomap_len(m) == NKEYS);
        unsigned char seen[NKEYS] = {0};
        gomap_iter it;
        gomap_iter_init(&it, m);
        const void *kp;
        void *vp;
        for (unsigned step = 0;; step++) {
            bool more = how == 0               ? gomap_iter_next(&it, &kp, &vp)
                        : how == 1 || step % 2 ? lib_step(&it, &kp, &vp)
                                               : gomap_iter_next(&it, &kp, &vp);
            if (!more)
                break;
            uint64_t i = *(const uint64_t *)vp;
            REQUIRE(i < NKEYS);
            const gomap_str *k = kp;
            CHECK_EQ(k->len, keys[i].len);
            CHECK(k->len == 0 || memcmp(k->ptr, keys[i].ptr, k->len) == 0);
            CHECK_EQ(seen[i], 0);
            seen[i] = 1;
        }
        for (int i = 0; i < NKEYS; i++)
            CHECK_EQ(seen[i], 1);
        gomap_free(m);
    }
}

/* gomap_iter_next is an inline step that hands the uncommon cases to the
 * library's function, which `(gomap_iter_next)` and a function pointer
 * call directly.  Steps of the two kinds, in any mix, on one iteration that
 * deletes and inserts between steps, keep Go's rules: every key present
 * throughout comes exactly once, a key deleted before its turn never. */
TEST(inline_and_library_steps_mix) {
    bool (*lib_step)(gomap_iter *, const void **, void **) = gomap_iter_next;
    for (uint64_t pattern = 0; pattern < 4; pattern++) {
        const uint64_t n = 3000;
        gomap *m = tu_new_map(GOMAP_KEY_U64, 8);
        REQUIRE(m != NULL);
        for (uint64_t k = 0; k < n; k++)
            REQUIRE(gomap_set(m, &k, &k) == 0);
        unsigned char *seen = calloc(n, 1);
        unsigned char *gone = calloc(n, 1);
        REQUIRE(seen && gone);
        gomap_iter it;
        gomap_iter_init(&it, m);
        const void *kp;
        void *vp;
        uint64_t step = 0, del = n;
        for (;;) {
            bool more;
            switch ((step * (pattern + 1) + step / 7) % 3) {
            case 0:
                more = gomap_iter_next(&it, &kp, &vp);
                break;
            case 1:
                more = (gomap_iter_next)(&it, &kp, &vp);
                break;
            default:
                more = lib_step(&it, &kp, &vp);
            }
            if (!more)
                break;
            uint64_t k;
            memcpy(&k, kp, sizeof k);
            if (k >= n) /* inserted during the iteration: may come */
                continue;
            CHECK_EQ(*(uint64_t *)vp, k);
            CHECK_EQ(seen[k], 0);
            CHECK_EQ(gone[k], 0);
            seen[k] = 1;
            /* Between steps: delete a key from the end (seen or not), and
             * now and then insert a new one. */
            if (del > 0 && step % 2 == 0) {
                del--;
                CHECK(gomap_delete(m, &del));
                gone[del] = 1;
            }
            if (step % 5 == pattern) {
                uint64_t nk = n + step;
                CHECK_EQ(gomap_set(m, &nk, &nk), 0);
            }
            step++;
        }
        for (uint64_t k = 0; k < n; k++)
            if (!gone[k])
                CHECK_EQ(seen[k], 1);
        free(seen);
        free(gone);
        gomap_free(m);
    }
}

TEST(optional_out_pointers) {
    gomap *m = filled(GOMAP_KEY_U64, 100);
    REQUIRE(m != NULL);
    gomap_iter it;
    gomap_iter_init(&it, m);
    const void *kp;
    void *vp;
    int n = 0;
    while (n % 3 == 0
               ? gomap_iter_next(&it, NULL, NULL)
               : (n % 3 == 1 ? gomap_iter_next(&it, &kp, NULL) : gomap_iter_next(&it, NULL, &vp)))
        n++;
    CHECK_EQ(n, 100);
    gomap_free(m);
}

TEST(modify_values_through_iterator) {
    gomap *m = filled(GOMAP_KEY_U64, 5000);
    REQUIRE(m != NULL);
    gomap_iter it;
    gomap_iter_init(&it, m);
    const void *kp;
    void *vp;
    while (gomap_iter_next(&it, &kp, &vp))
        *(uint64_t *)vp += 1000000;
    struct tu_key k;
    for (uint64_t i = 0; i < 5000; i++) {
        tu_key_make(&k, GOMAP_KEY_U64, i);
        const uint64_t *p = (const uint64_t *)gomap_get(m, tu_key_ptr(&k));
        REQUIRE(p != NULL);
        CHECK_EQ(*p, i + 1000000);
    }
    gomap_free(m);
}

/* Deletes keys (not yet seen, already seen, and the current one) during the
 * iteration: a key deleted before it is reached is never returned, every
 * other key exactly once. */
static void delete_during(gomap_key_kind kind, uint64_t n, uint64_t seed) {
    gomap *m = filled(kind, n);
    REQUIRE(m != NULL);
    unsigned char *seen = calloc(n, 1), *deleted = calloc(n, 1);
    REQUIRE(seen && deleted);
    uint64_t rng = seed;
    gomap_iter it;
    gomap_iter_init(&it, m);
    const void *kp;
    void *vp;
    struct tu_key k;
    while (gomap_iter_next(&it, &kp, &vp)) {
        uint64_t i = tu_key_index(kind, kp);
        REQUIRE(i < n);
        CHECK(!deleted[i]);
        CHECK(!seen[i]);
        seen[i] = 1;
        /* Delete the current entry sometimes, and a couple of random ones. */
        if (tu_below(&rng, 4) == 0) {
            tu_key_make(&k, kind, i);
            CHECK(gomap_delete(m, tu_key_ptr(&k)));
            deleted[i] = 2; /* deleted after being seen: fine */
        }
        for (int d = 0; d < 2; d++) {
            uint64_t j = tu_below(&rng, n);
            if (deleted[j])
                continue;
            tu_key_make(&k, kind, j);
            CHECK(gomap_delete(m, tu_key_ptr(&k)));
            deleted[j] = seen[j] ? 2 : 1;
        }
    }
    for (uint64_t i = 0; i < n; i++)
        CHECK(seen[i] || deleted[i] == 1);
    free(seen);
    free(deleted);
    gomap_free(m);
}

TEST(delete_during_iteration) {
    for (uint64_t s = 1; s <= 20; s++) {
        delete_during(GOMAP_KEY_U64, 1 + s * 37, s);
        delete_during(GOMAP_KEY_STRING, 1 + s * 37, s);
    }
    delete_during(GOMAP_KEY_U64, 20000, 99);
}

/* Deleting everything at the first step leaves nothing to return. */
TEST(delete_all_during_iteration) {
    gomap *m = filled(GOMAP_KEY_U64, 500);
    REQUIRE(m != NULL);
    gomap_iter it;
    gomap_iter_init(&it, m);
    const void *kp;
    REQUIRE(gomap_iter_next(&it, &kp, NULL));
    struct tu_key k;
    for (uint64_t i = 0; i < 500; i++) {
        tu_key_make(&k, GOMAP_KEY_U64, i);
        gomap_delete(m, tu_key_ptr(&k));
    }
    CHECK(!gomap_iter_next(&it, &kp, NULL));
    gomap_free(m);
}

/* Inserts many keys mid-iteration, so the map grows (doubles, several times)
 * while the iteration runs.  Every key present before the iteration started
 * and not deleted is returned exactly once; no key is returned twice; new keys
 * may or may not appear. */
static void growth_during(gomap_key_kind kind, uint64_t n, uint64_t add, uint64_t seed,
                          bool with_deletes) {
    gomap *m = filled(kind, n);
    REQUIRE(m != NULL);
    uint64_t total = n + add;
    unsigned char *seen = calloc(total, 1), *deleted = calloc(total, 1);
    REQUIRE(seen && deleted);
    uint64_t rng = seed, added = 0;
    gomap_iter it;
    gomap_iter_init(&it, m);
    const void *kp;
    void *vp;
    struct tu_key k;
    uint64_t steps = 0;
    while (gomap_iter_next(&it, &kp, &vp)) {
        uint64_t i = tu_key_index(kind, kp);
        REQUIRE(i < total);
        CHECK_EQ(*(uint64_t *)vp, i);
        CHECK(!seen[i]);
        CHECK(deleted[i] != 1);
        seen[i] = 1;
        steps++;
        /* Grow in bursts at a few points of the iteration. */
        uint64_t burst = (steps == 1 || steps == n / 3 || steps == n / 2) ? add / 3 + 1 : 0;
        for (uint64_t b = 0; b < burst && added < add; b++, added++) {
            uint64_t j = n + added;
            tu_key_make(&k, kind, j);
            REQUIRE_EQ(gomap_set(m, tu_key_ptr(&k), &j), 0);
        }
        if (with_deletes && tu_below(&rng, 3) == 0) {
            uint64_t j = tu_below(&rng, n + added);
            if (!deleted[j]) {
                tu_key_make(&k, kind, j);
                CHECK(gomap_delete(m, tu_key_ptr(&k)));
                deleted[j] = seen[j] ? 2 : 1;
            }
        }
    }
    for (uint64_t i = 0; i < n; i++)
        CHECK(seen[i] || deleted[i] == 1);
    uint64_t ndeleted = 0;
    for (uint64_t i = 0; i < total; i++)
        ndeleted += deleted[i] != 0;
    CHECK_EQ(gomap_len(m), n + added - ndeleted);
    free(seen);
    free(deleted);
    gomap_free(m);
}

TEST(growth_during_iteration) {
    for (uint64_t s = 1; s <= 30; s++) {
        growth_during(GOMAP_KEY_U64, 8 + s * 13, 2000, s, false);
        growth_during(GOMAP_KEY_U64, 8 + s * 13, 2000, s, true);
    }
    growth_during(GOMAP_KEY_STRING, 500, 5000, 7, true);
    growth_during(GOMAP_KEY_BYTES, 500, 5000, 8, false);
    growth_during(GOMAP_KEY_U64, 20000, 100000, 9, true);
}

/* User hashes that make keys collide: groups of 2^shift consecutive keys
 * share a hash (shift 63: all keys share one). */
static uint64_t group_hash(const void *key, uint64_t seed, void *ctx) {
    (void)seed;
    unsigned shift = *(const unsigned *)ctx;
    uint64_t i = tu_key_index(GOMAP_KEY_U64, key);
    return shift >= 63 ? 0x77 : i >> shift;
}

/* Iterates while keys churn through the map: each step inserts `per_step`
 * new keys and deletes the `per_step` oldest.  With keys grouped by the hash,
 * each group fills a fresh overflow chain and the emptied chains pile up, so
 * the map grows to the same size (repacks) while the iteration runs; with one
 * shared hash it doubles with one long chain.  Go's rules still hold: every
 * key present at the start and not deleted comes exactly once, a key deleted
 * before it is reached never comes, no key comes twice. */
/* Counts allocations of at least 1 KB: bucket arrays (a growth), not the
 * single overflow buckets (a few hundred bytes here). */
static uint64_t big_allocs;
static void *counting_alloc(size_t size, void *ctx) {
    (void)ctx;
    big_allocs += size >= 1024;
    return malloc(size);
}
static void counting_free(void *p, size_t size, void *ctx) {
    (void)size;
    (void)ctx;
    free(p);
}

/* Returns how many bucket arrays were allocated during the iteration. */
static uint64_t churn_during(unsigned shift, uint64_t n, uint64_t per_step, uint64_t seed) {
    gomap_allocator al = {counting_alloc, counting_free, NULL};
    gomap_config cfg = tu_config(GOMAP_KEY_U64, 8);
    cfg.hash = group_hash;
    cfg.fn_ctx = &shift;
    cfg.allocator = &al;
    gomap *m;
    if (gomap_new(&m, &cfg) != 0) {
        CHECK_FAIL("gomap_new");
        return 0;
    }
    const uint64_t cap = n + 4096 * per_step; /* bounds the key space */
    unsigned char *seen = calloc(cap, 1), *deleted = calloc(cap, 1);
    if (!seen || !deleted) {
        CHECK_FAIL("calloc");
        return 0;
    }
    struct tu_key k;
    for (uint64_t i = 0; i < n; i++) {
        tu_key_make(&k, GOMAP_KEY_U64, i);
        CHECK_EQ(gomap_set(m, tu_key_ptr(&k), &i), 0);
    }
    big_allocs = 0;
    int failed_before = check_case_failed;
    uint64_t head = n, tail = 0, rng = seed;
    gomap_iter it;
    gomap_iter_init(&it, m);
    const void *kp;
    void *vp;
    while (gomap_iter_next(&it, &kp, &vp)) {
        uint64_t i = tu_key_index(GOMAP_KEY_U64, kp);
        if (i >= head) {
            CHECK_FAIL("unknown key");
            break;
        }
        CHECK_EQ(*(uint64_t *)vp, i);
        CHECK(!seen[i]);
        CHECK(deleted[i] != 1);
        seen[i] = 1;
        for (uint64_t s = 0; s < per_step && head < cap; s++) {
            tu_key_make(&k, GOMAP_KEY_U64, head);
            CHECK_EQ(gomap_set(m, tu_key_ptr(&k), &head), 0);
            head++;
            /* Delete the oldest, or now and then a random live key. */
            uint64_t j = tu_below(&rng, 8) == 0 ? tail + tu_below(&rng, head - tail) : tail;
            if (!deleted[j]) {
                tu_key_make(&k, GOMAP_KEY_U64, j);
                CHECK(gomap_delete(m, tu_key_ptr(&k)));
                deleted[j] = seen[j] ? 2 : 1;
            }
            while (tail < head && deleted[tail])
                tail++;
        }
        if (check_case_failed != failed_before)
            break;
    }
    for (uint64_t i = 0; i < n; i++)
        CHECK(seen[i] || deleted[i] == 1);
    uint64_t live = 0;
    for (uint64_t i = 0; i < head; i++)
        live += !deleted[i];
    CHECK_EQ(gomap_len(m), live);
    uint64_t grown = big_allocs;
    free(seen);
    free(deleted);
    gomap_free(m);
    return grown;
}

TEST(churn_with_colliding_hashes_during_iteration) {
    for (uint64_t seed = 1; seed <= 3; seed++) {
        /* 64 keys per hash; 300 live keys fit 2^6 buckets at load 6.5 and
         * stay 300, so a bucket array allocated now is a same-size growth. */
        CHECK(churn_during(6, 300, 3, seed) >= 1);
        churn_during(9, 400, 4, seed);   /* 512 keys per hash: long chains */
        churn_during(3, 200, 2, seed);   /* 8 keys per hash: one bucket each */
        churn_during(63, 40, 1, seed);   /* one hash for all: a single chain */
        churn_during(63, 100, 10, seed); /* ... that doubles while iterated */
    }
}

/* Starts iterating while the map is mid-growth (just past a doubling
 * threshold), then keeps writing. */
TEST(iteration_started_mid_growth) {
    static const uint64_t sizes[] = {9, 14, 27, 53, 105, 209, 417, 833, 1665, 3329, 6657};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (uint64_t seed = 0; seed < 4; seed++)
            growth_during(GOMAP_KEY_U64, sizes[s], sizes[s] * 3, seed, seed % 2 == 1);
}

TEST(clear_during_iteration) {
    for (int variant = 0; variant < 3; variant++) {
        gomap *m = filled(GOMAP_KEY_U64, 1000);
        REQUIRE(m != NULL);
        gomap_iter it;
        gomap_iter_init(&it, m);
        const void *kp;
        int n = 0;
        while (n < 10 && gomap_iter_next(&it, &kp, NULL))
            n++;
        CHECK_EQ(n, 10);
        gomap_clear(m);
        CHECK_EQ(gomap_len(m), 0);
        struct tu_key k;
        if (variant >= 1) { /* refill with new keys after the clear */
            for (uint64_t i = 5000; i < 5000 + (variant == 1 ? 10 : 3000); i++) {
                tu_key_make(&k, GOMAP_KEY_U64, i);
                REQUIRE_EQ(gomap_set(m, tu_key_ptr(&k), &i), 0);
            }
        }
        /* The header: iterators in progress see no entry after a clear. */
        int after = 0;
        while (gomap_iter_next(&it, &kp, NULL)) {
            CHECK(tu_key_index(GOMAP_KEY_U64, kp) >= 5000); /* never an old key */
            after++;
        }
        CHECK_EQ(after, 0);
        gomap_free(m);
    }
}

/* A step compares only the low 24 bits of the map's count of clears (with
 * the writing word, in one load).  After exactly 2^24 clears between two
 * steps those bits are back to what the iterator saw: it may still return
 * the rest of its current bucket (entries inserted after the clears, as an
 * entry added during an iteration may be), and no more: the step that
 * leaves the bucket checks the whole count. */
TEST(clear_count_wraps_between_steps) {
    gomap *m = filled(GOMAP_KEY_U64, 10);
    REQUIRE(m != NULL);
    gomap_iter it;
    gomap_iter_init(&it, m);
    const void *kp;
    REQUIRE(gomap_iter_next(&it, &kp, NULL));
    for (uint32_t i = 0; i < (UINT32_C(1) << 24); i++)
        gomap_clear(m);
    struct tu_key k;
    for (uint64_t i = 5000; i < 5010; i++) {
        tu_key_make(&k, GOMAP_KEY_U64, i);
        REQUIRE_EQ(gomap_set(m, tu_key_ptr(&k), &i), 0);
    }
    int after = 0;
    while (gomap_iter_next(&it, &kp, NULL)) {
        CHECK(tu_key_index(GOMAP_KEY_U64, kp) >= 5000); /* never an old key */
        after++;
    }
    CHECK(after <= 7);
    gomap_free(m);
}

TEST(clear_mid_growth_then_iterate) {
    gomap *m = filled(GOMAP_KEY_U64, 53);
    REQUIRE(m != NULL);
    gomap_clear(m);
    gomap_iter it;
    gomap_iter_init(&it, m);
    CHECK(!gomap_iter_next(&it, NULL, NULL));
    struct tu_key k;
    for (uint64_t i = 0; i < 200; i++) {
        tu_key_make(&k, GOMAP_KEY_U64, i);
        REQUIRE_EQ(gomap_set(m, tu_key_ptr(&k), &i), 0);
    }
    CHECK_EQ(gomap_len(m), 200);
    gomap_iter_init(&it, m);
    int n = 0;
    while (gomap_iter_next(&it, NULL, NULL))
        n++;
    CHECK_EQ(n, 200);
    gomap_free(m);
}

/* The key order of one iteration, as indexes. */
static void iteration_order(const gomap *m, gomap_key_kind kind, uint64_t *out, size_t n) {
    gomap_iter it;
    gomap_iter_init(&it, m);
    const void *kp;
    size_t i = 0;
    while (gomap_iter_next(&it, &kp, NULL) && i < n)
        out[i++] = tu_key_index(kind, kp);
}

/* Over many tries, the order is not always the same: between two iterations
 * of one map, and between two maps with the same contents.  (Each pair may
 * coincide by chance; all 50 pairs coinciding would mean no randomness.) */
static void order_varies(uint64_t n) {
    uint64_t *a = calloc(n, sizeof *a), *b = calloc(n, sizeof *b);
    REQUIRE(a && b);
    gomap *m = filled(GOMAP_KEY_U64, n);
    REQUIRE(m != NULL);
    int differ_iter = 0, differ_maps = 0, differ_first = 0;
    for (int t = 0; t < 50; t++) {
        iteration_order(m, GOMAP_KEY_U64, a, n);
        iteration_order(m, GOMAP_KEY_U64, b, n);
        differ_iter += memcmp(a, b, n * sizeof *a) != 0;
        differ_first += a[0] != b[0];
        gomap *m2 = filled(GOMAP_KEY_U64, n);
        REQUIRE(m2 != NULL);
        iteration_order(m2, GOMAP_KEY_U64, b, n);
        differ_maps += memcmp(a, b, n * sizeof *a) != 0;
        gomap_free(m2);
    }
    CHECK(differ_iter > 0);
    CHECK(differ_maps > 0);
    CHECK(differ_first > 0); /* the start point moves, not just the tail */
    gomap_free(m);
    free(a);
    free(b);
}

TEST(iteration_order_is_random) {
    order_varies(3); /* one bucket: the start offset is random too */
    order_varies(8);
    order_varies(100);
    order_varies(5000);
}

/* Every key of a small map comes first in some iteration: the random start
 * covers all entries, not just a few. */
TEST(every_entry_can_come_first) {
    gomap *m = filled(GOMAP_KEY_U64, 6);
    REQUIRE(m != NULL);
    int first[6] = {0};
    for (int t = 0; t < 2000; t++) {
        uint64_t o[6];
        iteration_order(m, GOMAP_KEY_U64, o, 6);
        REQUIRE(o[0] < 6);
        first[o[0]]++;
    }
    for (int i = 0; i < 6; i++)
        CHECK(first[i] > 0);
    gomap_free(m);
}

TEST(iterate_value_size_zero) {
    gomap *m = tu_new_map(GOMAP_KEY_STRING, 0);
    REQUIRE(m != NULL);
    struct tu_key k;
    for (uint64_t i = 0; i < 300; i++) {
        tu_key_make(&k, GOMAP_KEY_STRING, i);
        REQUIRE_EQ(gomap_set(m, tu_key_ptr(&k), NULL), 0);
    }
    unsigned char seen[300] = {0};
    gomap_iter it;
    gomap_iter_init(&it, m);
    const void *kp;
    void *vp;
    int n = 0;
    while (gomap_iter_next(&it, &kp, &vp)) {
        uint64_t i = tu_key_index(GOMAP_KEY_STRING, kp);
        REQUIRE(i < 300);
        tu_key_make(&k, GOMAP_KEY_STRING, i);
        const gomap_str *s = (const gomap_str *)kp;
        CHECK_EQ(s->len, k.str.len);
        CHECK(s->len == 0 || memcmp(s->ptr, k.str.ptr, s->len) == 0);
        CHECK(!seen[i]);
        seen[i] = 1;
        n++;
    }
    CHECK_EQ(n, 300);
    gomap_free(m);
}

/* Two iterators over one map at once, interleaved. */
TEST(nested_iterators) {
    gomap *m = filled(GOMAP_KEY_U64, 300);
    REQUIRE(m != NULL);
    gomap_iter a, b;
    gomap_iter_init(&a, m);
    uint64_t outer = 0, inner = 0;
    const void *kp;
    while (gomap_iter_next(&a, &kp, NULL)) {
        outer++;
        if (outer % 50 == 0) {
            gomap_iter_init(&b, m);
            while (gomap_iter_next(&b, &kp, NULL))
                inner++;
        }
    }
    CHECK_EQ(outer, 300);
    CHECK_EQ(inner, 6 * 300);
    gomap_free(m);
}

/* Churn (a sliding window of keys, so the map keeps growing to the same
 * size) with an iteration over the map between rounds, ended either by
 * running out or by gomap_iter_stop: what the map keeps for iterators must be
 * freed again, so live memory stays within a small multiple of the first
 * round's, however many rounds run.  An iteration is also kept running across
 * a growth each round, to exercise retiring and then freeing. */
static size_t churn_with_iterations(gomap_key_kind kind, bool stop_early, unsigned rounds) {
    struct tu_alloc a = {0};
    gomap_allocator al = {tu_alloc_fn, tu_free_fn, &a};
    gomap_config c = tu_config(kind, 8);
    c.allocator = &al;
    gomap *m = NULL;
    if (gomap_new(&m, &c) != 0)
        return SIZE_MAX;
    enum { WINDOW = 2000 };
    size_t peak_first = 0, peak = 0;
    uint64_t next = 0;
    for (unsigned r = 0; r < rounds; r++) {
        gomap_iter it;
        gomap_iter_init(&it, m);
        bool running = true;
        for (unsigned step = 0; step < WINDOW; step++, next++) {
            struct tu_key k;
            tu_key_make(&k, kind, next);
            uint64_t v = next;
            if (gomap_set(m, tu_key_ptr(&k), &v) != 0)
                return SIZE_MAX;
            if (next >= WINDOW) {
                tu_key_make(&k, kind, next - WINDOW);
                gomap_delete(m, tu_key_ptr(&k));
            }
            if (running && step % 4 == 0)
                running = gomap_iter_next(&it, NULL, NULL);
            if (running && stop_early && step == WINDOW / 2) {
                gomap_iter_stop(&it);
                running = false;
            }
        }
        while (running)
            running = gomap_iter_next(&it, NULL, NULL);
        if (r == 1)
            peak_first = a.live_bytes;
        if (a.live_bytes > peak)
            peak = a.live_bytes;
    }
    gomap_free(m);
    if (a.live_bytes != 0)
        return SIZE_MAX;
    return peak_first ? peak / peak_first : SIZE_MAX;
}

/* 1000 rounds: 2,000,000 inserts through a 2,000-key window.  When retired
 * arrays were kept until clear, the peak grew with the number of rounds
 * (about 20x the second round's for u64 keys, 200x for strings); now it stays
 * within a small multiple.  Under ThreadSanitizer 100 rounds: the test is
 * single-threaded, so it has no race to find, and every round takes the same
 * path (churn, an iteration across a growth, retiring and freeing); that is
 * too few rounds for the old growth to pass the bound in every case, which
 * the other builds, with 1000, judge on the same code. */
enum { CHURN_ROUNDS = CHECK_UNDER_TSAN ? 100 : 1000 };

TEST(memory_kept_for_iterators_is_freed_after_they_end) {
    gomap_key_kind kinds[] = {GOMAP_KEY_U64, GOMAP_KEY_STRING};
    for (size_t i = 0; i < 2; i++) {
        CHECK(churn_with_iterations(kinds[i], false, CHURN_ROUNDS) <= 8);
        CHECK(churn_with_iterations(kinds[i], true, CHURN_ROUNDS) <= 8);
    }
}

TEST(iter_stop_is_idempotent_and_safe_on_empty_iterations) {
    gomap_iter it;
    gomap_iter_init(&it, NULL);
    gomap_iter_stop(&it);
    gomap_iter_stop(&it);
    CHECK(!gomap_iter_next(&it, NULL, NULL));
    gomap *m = tu_new_map(GOMAP_KEY_U64, 8);
    REQUIRE(m);
    uint64_t k = 1, v = 2;
    REQUIRE(gomap_set(m, &k, &v) == 0);
    gomap_iter_init(&it, m);
    gomap_iter_stop(&it);
    gomap_iter_stop(&it);
    CHECK(!gomap_iter_next(&it, NULL, NULL));
    gomap_free(m);
}
TEST_MAIN()
