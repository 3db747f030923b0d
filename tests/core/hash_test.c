/* hash_test.c — the built-in hashes and per-map seeds: keys chosen to
 * collide (same bucket and same tophash) under one seed do not collide under
 * another; every map draws its own seed; basic hash quality (no collisions
 * among sequential keys, avalanche, even bucket spread). */
#include "check.h"
#include "map_internal.h"
#include "map_test_util.h"

/* What the map looks at for a table of 2^10 buckets: the low 10 bits (the
 * bucket) and the top 8 (the tophash). */
static uint32_t signature(uint64_t h) {
    return (uint32_t)((h & 1023) | ((h >> 56) << 10));
}

struct sig_key {
    uint32_t sig;
    uint32_t key;
};

static int by_sig(const void *a, const void *b) {
    const struct sig_key *x = (const struct sig_key *)a, *y = (const struct sig_key *)b;
    return x->sig < y->sig ? -1 : x->sig > y->sig;
}

/* 16-byte string keys for key number i. */
static void str_key(char out[16], uint32_t i) {
    snprintf(out, 16, "user:%010u", i);
}

typedef uint64_t (*keyed_hash)(uint32_t key, uint64_t seed, const void *ctx);

static uint64_t hash_u64_key(uint32_t key, uint64_t seed, const void *ctx) {
    (void)ctx;
    return gomap_hash_u64(key, seed);
}
static uint64_t hash_str_key(uint32_t key, uint64_t seed, const void *ctx) {
    (void)ctx;
    char s[16];
    str_key(s, key);
    return gomap_hash_bytes(s, 15, seed);
}
/* The map's own hash (seed ignored: the map brings its own). */
static uint64_t hash_map_key(uint32_t key, uint64_t seed, const void *ctx) {
    (void)seed;
    uint64_t k = key;
    return gomap__hash((const gomap *)ctx, &k);
}

/* Finds every pair of keys among 2^18 with the same signature under (h, s1,
 * ctx1) (about 131,000 pairs, by the birthday bound), and counts how many
 * still collide under (h, s2, ctx2): about 0.5 expected for a good seeded hash. */
static void collisions_do_not_transfer(keyed_hash h1, uint64_t s1, const void *c1, keyed_hash h2,
                                       uint64_t s2, const void *c2) {
    enum { N = 1 << 18 };
    struct sig_key *v = malloc(N * sizeof *v);
    REQUIRE(v);
    for (uint32_t i = 0; i < N; i++) {
        v[i].sig = signature(h1(i, s1, c1));
        v[i].key = i;
    }
    qsort(v, N, sizeof *v, by_sig);
    uint64_t pairs = 0, still = 0;
    for (uint32_t i = 0; i < N;) {
        uint32_t j = i + 1;
        while (j < N && v[j].sig == v[i].sig)
            j++;
        for (uint32_t a = i; a < j; a++) {
            for (uint32_t b = a + 1; b < j; b++) {
                pairs++;
                still += signature(h2(v[a].key, s2, c2)) == signature(h2(v[b].key, s2, c2));
            }
        }
        i = j;
    }
    free(v);
    CHECK(pairs > 100000); /* the first seed really collides that much */
    CHECK(still < 20);     /* the second seed breaks those collisions up */
    if (check_case_failed)
        fprintf(stderr, "  %llu colliding pairs, %llu still colliding\n", (unsigned long long)pairs,
                (unsigned long long)still);
}

TEST(u64_collisions_depend_on_seed) {
    collisions_do_not_transfer(hash_u64_key, 1, NULL, hash_u64_key, 2, NULL);
    collisions_do_not_transfer(hash_u64_key, 0x123456789abcdefull, NULL, hash_u64_key,
                               0x123456789abcdeeull, NULL);
}

TEST(bytes_collisions_depend_on_seed) {
    collisions_do_not_transfer(hash_str_key, 1, NULL, hash_str_key, 2, NULL);
    collisions_do_not_transfer(hash_str_key, 0, NULL, hash_str_key, (uint64_t)1 << 63, NULL);
}

/* The same, through two real maps and their random seeds. */
TEST(map_collisions_depend_on_map) {
    gomap_config cfg = tu_config(GOMAP_KEY_U64, 8);
    gomap *a, *b;
    REQUIRE_EQ(gomap_new(&a, &cfg), 0);
    REQUIRE_EQ(gomap_new(&b, &cfg), 0);
    collisions_do_not_transfer(hash_map_key, 0, a, hash_map_key, 0, b);
    gomap_free(a);
    gomap_free(b);
}

/* Every map draws its own seed: 200 maps, 200 different seeds.  A clone keeps
 * its source's seed (gomap.h: it is copied bucket by bucket). */
TEST(maps_have_different_seeds) {
    enum { N = 200 };
    uint64_t seeds[N];
    gomap *m[N];
    gomap_config cfg = tu_config(GOMAP_KEY_STRING, 0);
    for (int i = 0; i < N; i++) {
        REQUIRE_EQ(gomap_new(&m[i], &cfg), 0);
        seeds[i] = gomap__seed(m[i]);
        for (int j = 0; j < i; j++)
            CHECK(seeds[i] != seeds[j]);
    }
    gomap *c;
    REQUIRE_EQ(gomap_clone(m[0], &c), 0);
    CHECK(gomap__seed(c) == seeds[0]);
    /* The seed changes the hash of the same key. */
    gomap_str k = gomap_cstr("same key");
    CHECK(gomap__hash(m[0], &k) != gomap__hash(m[1], &k));
    CHECK(gomap__hash(m[0], &k) == gomap__hash(m[0], &k));
    gomap_free(c);
    for (int i = 0; i < N; i++)
        gomap_free(m[i]);
}

/* A user hash receives a seed, and different maps pass different ones. */
static uint64_t recording_hash(const void *key, uint64_t seed, void *ctx) {
    *(uint64_t *)ctx = seed;
    return gomap_hash_bytes(key, 4, seed);
}
static bool eq4(const void *a, const void *b, void *ctx) {
    (void)ctx;
    return memcmp(a, b, 4) == 0;
}
TEST(user_hash_gets_the_map_seed) {
    uint64_t seen1 = 0, seen2 = 0;
    gomap_config cfg = tu_config(GOMAP_KEY_BYTES, 0);
    cfg.key_size = 4;
    cfg.hash = recording_hash;
    cfg.equal = eq4;
    gomap *a, *b;
    cfg.fn_ctx = &seen1;
    REQUIRE_EQ(gomap_new(&a, &cfg), 0);
    cfg.fn_ctx = &seen2;
    REQUIRE_EQ(gomap_new(&b, &cfg), 0);
    uint32_t k = 7;
    REQUIRE_EQ(gomap_set(a, &k, NULL), 0);
    REQUIRE_EQ(gomap_set(b, &k, NULL), 0);
    CHECK(seen1 != seen2);
    gomap_free(a);
    gomap_free(b);
}

TEST(hashes_are_deterministic_and_seeded) {
    for (uint64_t k = 0; k < 1000; k++) {
        CHECK_EQ(gomap_hash_u64(k, 42), gomap_hash_u64(k, 42));
        CHECK(gomap_hash_u64(k, 42) != gomap_hash_u64(k, 43));
    }
    const char *s = "the quick brown fox jumps over the lazy dog";
    for (size_t len = 0; len <= strlen(s); len++) {
        CHECK_EQ(gomap_hash_bytes(s, len, 9), gomap_hash_bytes(s, len, 9));
        CHECK(gomap_hash_bytes(s, len, 9) != gomap_hash_bytes(s, len, 10));
    }
    /* The empty string hashes by seed alone; a NULL pointer with length 0 is fine. */
    CHECK_EQ(gomap_hash_bytes(NULL, 0, 5), gomap_hash_bytes("", 0, 5));
    CHECK(gomap_hash_bytes(NULL, 0, 5) != gomap_hash_bytes(NULL, 0, 6));
}

/* Prefixes of one string (lengths 0..300, all bytes equal) hash apart: the
 * length counts, and zero bytes are not ignored. */
TEST(bytes_hash_sees_length_and_zeros) {
    static char zeros[301];
    uint64_t h[301];
    for (size_t len = 0; len <= 300; len++) {
        h[len] = gomap_hash_bytes(zeros, len, 77);
        for (size_t j = 0; j < len; j++)
            CHECK(h[len] != h[j]);
    }
}

static int by_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* No full 64-bit collision among a million sequential keys, and their low 12
 * bits spread evenly (mean 256 per bucket; Poisson tails are far inside
 * 160..360). */
TEST(sequential_keys_spread) {
    enum { N = 1 << 20, B = 4096 };
    uint64_t *h = malloc(N * sizeof *h);
    unsigned *count = calloc(B, sizeof *count);
    REQUIRE(h && count);
    for (uint64_t k = 0; k < N; k++) {
        h[k] = gomap_hash_u64(k, 0x5eed);
        count[h[k] % B]++;
    }
    for (int b = 0; b < B; b++)
        CHECK(count[b] > 160 && count[b] < 360);
    qsort(h, N, sizeof *h, by_u64);
    uint64_t dups = 0;
    for (uint64_t k = 1; k < N; k++)
        dups += h[k] == h[k - 1];
    CHECK_EQ(dups, 0);
    free(h);
    free(count);
}

/* Avalanche: flipping one input bit flips about half of the output bits. */
static void avalanche(bool bytes) {
    uint64_t rng = 3, flips = 0, trials = 0;
    for (int t = 0; t < 2000; t++) {
        uint64_t k = tu_next(&rng), seed = tu_next(&rng);
        uint64_t base = bytes ? gomap_hash_bytes(&k, 8, seed) : gomap_hash_u64(k, seed);
        for (int bit = 0; bit < 64; bit++) {
            uint64_t k2 = k ^ ((uint64_t)1 << bit);
            uint64_t h = bytes ? gomap_hash_bytes(&k2, 8, seed) : gomap_hash_u64(k2, seed);
            flips += (uint64_t)__builtin_popcountll(h ^ base);
            trials++;
        }
    }
    double mean = (double)flips / (double)trials;
    CHECK(mean > 30.0 && mean < 34.0);
    if (check_case_failed)
        fprintf(stderr, "  mean flipped bits %.2f\n", mean);
}
TEST(avalanche_u64) {
    avalanche(false);
}
TEST(avalanche_bytes) {
    avalanche(true);
}

TEST_MAIN()
