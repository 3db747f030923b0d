/*
 * shardmap_test.c — the lock-free loads of shardmap (and of rwmap, which
 * loads the same way: one seqlock over its one map) against writers that
 * grow, shrink, overwrite and clear the very shards being read.
 *
 * A load that races a writer must never return a value the key never had
 * (a torn or stale copy that slipped past the sequence check), never read
 * freed memory (AddressSanitizer would stop it: the maps' frees wait for an
 * RCU grace period), and never miss a key no writer touches.  The writers
 * keep every value a function of its key, so each load can check itself.
 */
#include <gomap/rwmap.h>
#include <gomap/shardmap.h>
#include <pthread.h>
#include <stdatomic.h>

#include "check.h"
#include "concmap_util.h"

/* Values are VWORDS words, each a function of the key, so that a copy mixing
 * two writes of different keys or a half-written slot is detectable. */
enum { VWORDS = 4 };
struct val {
    uint64_t w[VWORDS];
};

static struct val val_of(uint64_t k, uint64_t gen) {
    struct val v;
    for (unsigned i = 0; i < VWORDS; i++)
        v.w[i] = (k * 0x9e3779b97f4a7c15ull) ^ (gen << 8) ^ i;
    return v;
}

/* Whether v is val_of(k, gen) for some gen. */
static bool val_ok(uint64_t k, const struct val *v) {
    uint64_t gen = ((v->w[0] ^ (k * 0x9e3779b97f4a7c15ull)) >> 8);
    struct val want = val_of(k, gen);
    return memcmp(&want, v, sizeof want) == 0;
}

enum { CHURN_KEYS = 4096, STABLE_KEYS = 256 };

#if CHECK_SANITIZED
enum { WRITER_OPS = 60000, READER_OPS = 60000 };
#else
enum { WRITER_OPS = 600000, READER_OPS = 600000 };
#endif

/* The calls the races make, on a shardmap or an rwmap. */
struct api {
    int (*store)(void *m, const void *k, const void *v);
    void (*del)(void *m, const void *k);
    void (*clear)(void *m);
    bool (*load)(void *m, const void *k, void *v);
    size_t (*load_many)(void *m, const void *k, size_t n, void *v, bool *f);
};

static int sh_store(void *m, const void *k, const void *v) {
    return shardmap_store(m, k, v);
}
static void sh_del(void *m, const void *k) {
    shardmap_delete(m, k);
}
static void sh_clear(void *m) {
    shardmap_clear(m);
}
static bool sh_load(void *m, const void *k, void *v) {
    return shardmap_load(m, k, v);
}
static size_t sh_many(void *m, const void *k, size_t n, void *v, bool *f) {
    return shardmap_load_many(m, k, n, v, f);
}
static const struct api SHARD_API = {sh_store, sh_del, sh_clear, sh_load, sh_many};

static int rw_store(void *m, const void *k, const void *v) {
    return rwmap_store(m, k, v);
}
static void rw_del(void *m, const void *k) {
    rwmap_delete(m, k);
}
static void rw_clear(void *m) {
    rwmap_clear(m);
}
static bool rw_load(void *m, const void *k, void *v) {
    return rwmap_load(m, k, v);
}
static size_t rw_many(void *m, const void *k, size_t n, void *v, bool *f) {
    return rwmap_load_many(m, k, n, v, f);
}
static const struct api RW_API = {rw_store, rw_del, rw_clear, rw_load, rw_many};

struct race {
    void *m;
    const struct api *api;
    bool clears; /* writers clear the map now and then */
    bool many;   /* readers use shardmap_load_many */
    atomic_long bad_value;
    atomic_long stable_missing; /* without clears: a stable key not found */
    atomic_int writers_left;
    uint64_t seed;
};

/* Churn keys are CHURN_KEYS.. (stored, overwritten, deleted, cleared);
 * stable keys 0..STABLE_KEYS-1 are stored once and never touched again —
 * except by clear, which the stable checks account for by re-storing. */
static void *writer(void *arg) {
    struct race *r = arg;
    uint64_t st = __atomic_add_fetch(&r->seed, 0x1234567, __ATOMIC_RELAXED);
    for (long i = 0; i < WRITER_OPS; i++) {
        uint64_t k = STABLE_KEYS + fam_rand(&st) % CHURN_KEYS;
        unsigned op = (unsigned)(fam_rand(&st) % 100);
        if (op < 60) {
            struct val v = val_of(k, (uint64_t)i);
            CHECK_EQ(r->api->store(r->m, &k, &v), 0);
        } else {
            r->api->del(r->m, &k);
        }
        if (r->clears && i % (WRITER_OPS / 6) == WRITER_OPS / 12) {
            /* Rarely: empty every shard (their arrays are reset and their
             * overflow buckets reused), then re-store the stable keys. */
            r->api->clear(r->m);
            for (uint64_t s = 0; s < STABLE_KEYS; s++) {
                struct val v = val_of(s, 0);
                CHECK_EQ(r->api->store(r->m, &s, &v), 0);
            }
        }
    }
    atomic_fetch_sub(&r->writers_left, 1);
    return NULL;
}

/* Batches of keys through shardmap_load_many: the same checks per key, and a
 * key found absent keeps the filler its value slot had. */
enum { BATCH = 48 };

static void read_batch(struct race *r, uint64_t *st) {
    uint64_t keys[BATCH];
    struct val v[BATCH];
    bool found[BATCH];
    for (unsigned j = 0; j < BATCH; j++)
        keys[j] = fam_rand(st) % (STABLE_KEYS + CHURN_KEYS);
    memset(v, 0xa5, sizeof v);
    size_t n = r->api->load_many(r->m, keys, BATCH, v, found);
    size_t count = 0;
    struct val filler;
    memset(&filler, 0xa5, sizeof filler);
    for (unsigned j = 0; j < BATCH; j++) {
        count += found[j];
        if (found[j] && !val_ok(keys[j], &v[j]))
            atomic_fetch_add(&r->bad_value, 1);
        if (!found[j] && memcmp(&v[j], &filler, sizeof filler) != 0)
            atomic_fetch_add(&r->bad_value, 1);
        if (!found[j] && keys[j] < STABLE_KEYS && !r->clears)
            atomic_fetch_add(&r->stable_missing, 1);
    }
    CHECK_EQ(n, count);
}

static void *reader(void *arg) {
    struct race *r = arg;
    uint64_t st = __atomic_add_fetch(&r->seed, 0x7654321, __ATOMIC_RELAXED);
    if (r->many) {
        for (long i = 0; i < READER_OPS || atomic_load(&r->writers_left) > 0; i += BATCH) {
            read_batch(r, &st);
            if (i >= 4 * READER_OPS)
                break;
        }
        return NULL;
    }
    for (long i = 0; i < READER_OPS || atomic_load(&r->writers_left) > 0; i++) {
        uint64_t k = fam_rand(&st) % (STABLE_KEYS + CHURN_KEYS);
        struct val v;
        memset(&v, 0xa5, sizeof v);
        bool found = r->api->load(r->m, &k, &v);
        if (found && !val_ok(k, &v))
            atomic_fetch_add(&r->bad_value, 1);
        if (!found && k < STABLE_KEYS && !r->clears)
            atomic_fetch_add(&r->stable_missing, 1);
        if (i >= 4 * READER_OPS)
            break;
    }
    return NULL;
}

/* Few shards, an empty start: the shards grow (arrays retired under the
 * readers), chains form and are cleared, and writers and readers meet in
 * the same shard all the time. */
/* shard_bits < 0: an rwmap. */
static void race_run_with(int shard_bits, bool clears, bool many) {
    struct race r;
    memset(&r, 0, sizeof r);
    r.clears = clears;
    r.many = many;
    r.api = shard_bits < 0 ? &RW_API : &SHARD_API;
    gomap_config cfg = fam_config(GOMAP_KEY_U64, sizeof(struct val));
    if (shard_bits < 0)
        REQUIRE_EQ(rwmap_new((rwmap **)&r.m, &cfg), 0);
    else
        REQUIRE_EQ(shardmap_new((shardmap **)&r.m, &cfg, (unsigned)shard_bits), 0);
    for (uint64_t s = 0; s < STABLE_KEYS; s++) {
        struct val v = val_of(s, 0);
        REQUIRE_EQ(r.api->store(r.m, &s, &v), 0);
    }
    atomic_store(&r.writers_left, 2);
    pthread_t t[4];
    pthread_create(&t[0], NULL, writer, &r);
    pthread_create(&t[1], NULL, writer, &r);
    pthread_create(&t[2], NULL, reader, &r);
    pthread_create(&t[3], NULL, reader, &r);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    CHECK_EQ(atomic_load(&r.bad_value), 0);
    CHECK_EQ(atomic_load(&r.stable_missing), 0);
    /* Quiet now: every stable key is there with its first value. */
    for (uint64_t s = 0; s < STABLE_KEYS; s++) {
        struct val v;
        CHECK(r.api->load(r.m, &s, &v));
        CHECK(val_ok(s, &v));
    }
    if (shard_bits < 0)
        rwmap_free(r.m);
    else
        shardmap_free(r.m);
}

static void race_run(int shard_bits, bool clears) {
    race_run_with(shard_bits, clears, false);
}

TEST(loads_race_growth_deletes_and_clears_one_shard) {
    race_run(0, true);
}

TEST(loads_race_growth_deletes_and_clears_four_shards) {
    race_run(2, true);
}

/* Without clears every stable key is present throughout: a load during
 * growth must find it in its old bucket or its new one, never neither. */
TEST(loads_during_growth_find_every_untouched_key) {
    race_run(0, false);
    race_run(3, false);
}

/* rwmap's loads: the same races on its one map (load_many takes its shared
 * lock, and races the writers only through the lock). */
TEST(rwmap_loads_race_growth_deletes_and_clears) {
    race_run(-1, true);
    race_run(-1, false);
    race_run_with(-1, true, true);
}

/* shardmap_load_many reads the same way, in chunks under the sequence
 * counter: the same races, through batches, all in one shard (where a
 * chunk meets a writer most often: with the sequence check removed the
 * first case sees torn values). */
TEST(load_many_races_growth_deletes_and_clears) {
    for (int i = 0; i < 3; i++)
        race_run_with(0, true, true);
    race_run_with(0, false, true);
}

/* An allocator that counts, to show that every block a shard's map freed
 * (deferred past a grace period) has been freed when shardmap_free returns. */
struct counting {
    atomic_long blocks;
    atomic_long bytes;
};

static void *count_alloc(size_t size, void *ctx) {
    struct counting *c = ctx;
    void *p = malloc(size);
    if (p) {
        atomic_fetch_add(&c->blocks, 1);
        atomic_fetch_add(&c->bytes, (long)size);
    }
    return p;
}

static void count_free(void *p, size_t size, void *ctx) {
    struct counting *c = ctx;
    if (!p)
        return;
    atomic_fetch_sub(&c->blocks, 1);
    atomic_fetch_sub(&c->bytes, (long)size);
    free(p);
}

/* A shardmap of 4 shards (u64 keys, 8-byte values, the given hint) that
 * allocates through *al, set up to count into *c; NULL if it cannot be
 * made. */
static shardmap *counted_shardmap(struct counting *c, gomap_allocator *al, size_t hint) {
    *al = (gomap_allocator){count_alloc, count_free, c};
    gomap_config cfg = fam_config(GOMAP_KEY_U64, 8);
    cfg.allocator = al;
    cfg.hint = hint;
    shardmap *m = NULL;
    return shardmap_new(&m, &cfg, 2) == 0 ? m : NULL;
}

TEST(free_waits_for_deferred_frees) {
    struct counting c = {0};
    gomap_allocator al;
    shardmap *m = counted_shardmap(&c, &al, 0);
    REQUIRE(m != NULL);
    /* Growth from empty retires every smaller array; deletes and a clear
     * free overflow buckets. */
    for (uint64_t k = 0; k < 20000; k++)
        REQUIRE_EQ(shardmap_store(m, &k, &k), 0);
    for (uint64_t k = 0; k < 20000; k += 2)
        shardmap_delete(m, &k);
    shardmap_clear(m);
    for (uint64_t k = 0; k < 5000; k++)
        REQUIRE_EQ(shardmap_store(m, &k, &k), 0);
    CHECK_EQ(shardmap_len(m), 5000);
    shardmap_free(m);
    CHECK_EQ(atomic_load(&c.blocks), 0);
    CHECK_EQ(atomic_load(&c.bytes), 0);
}

/* A hint large enough puts the shards' first arrays in one allocation (a
 * slab, guarded.c): fewer blocks than one array per shard; the slab goes
 * when the last shard has grown out of it, or when the map is freed. */
TEST(hinted_arrays_share_one_allocation) {
    for (int grow = 0; grow < 2; grow++) {
        struct counting c = {0};
        gomap_allocator al;
        shardmap *m = counted_shardmap(&c, &al, 200000);
        REQUIRE(m != NULL);
        /* 4 map headers, the hasher, the shards, the handle and the slab;
         * 4 arrays besides without it (TSan builds load under the lock
         * and allocate no slab) */
        if (!CHECK_UNDER_TSAN)
            CHECK(atomic_load(&c.blocks) < 9);
        uint64_t n = grow ? 1000000 : 200000;
        for (uint64_t k = 0; k < n; k++)
            REQUIRE_EQ(shardmap_store(m, &k, &k), 0);
        for (uint64_t k = 0; k < n; k += 7) {
            uint64_t v = 0;
            CHECK(shardmap_load(m, &k, &v));
            CHECK_EQ(v, k);
        }
        CHECK_EQ(shardmap_len(m), n);
        shardmap_free(m);
        CHECK_EQ(atomic_load(&c.blocks), 0);
        CHECK_EQ(atomic_load(&c.bytes), 0);
    }
}

/* Maps the optimistic path does not serve (owned strings) still answer
 * through the lock: same results as a u64 map. */
TEST(string_keys_load_under_the_lock) {
    gomap_config cfg = fam_config(GOMAP_KEY_STRING, 8);
    shardmap *m;
    REQUIRE_EQ(shardmap_new(&m, &cfg, 3), 0);
    struct fam_key kb;
    for (uint64_t i = 0; i < 1000; i++)
        REQUIRE_EQ(shardmap_store(m, fam_key(&kb, GOMAP_KEY_STRING, i), &i), 0);
    for (uint64_t i = 0; i < 1000; i++) {
        uint64_t v = 0;
        CHECK(shardmap_load(m, fam_key(&kb, GOMAP_KEY_STRING, i), &v));
        CHECK_EQ(v, i);
    }
    uint64_t absent = 5000;
    CHECK(!shardmap_load(m, fam_key(&kb, GOMAP_KEY_STRING, absent), NULL));
    shardmap_free(m);
}

TEST_MAIN()
