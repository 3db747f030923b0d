/* cowmap's own behaviour: range is a snapshot, calls that change nothing
 * copy nothing, store_many publishes a batch at once, len is exact.  The
 * family-wide tests (concmap_*.c) cover the shared semantics. */
#include <gomap/cowmap.h>
#include <errno.h>
#include <pthread.h>

#include "check.h"
#include "reclaim.h"
#include "reclaim_util.h"

static cowmap *new_u64(struct tally *t) {
    gomap_config cfg = {0};
    cfg.value_size = 8;
    cfg.allocator = t ? &t->hook : NULL;
    cowmap *m = NULL;
    return cowmap_new(&m, &cfg) == 0 ? m : NULL;
}

struct snap {
    cowmap *m;
    int seen;
    int wrong;
};

/* Writes during the range (its own) are not seen: it iterates one version. */
static bool snapshot_fn(const void *key, const void *value, void *ctx) {
    struct snap *s = ctx;
    uint64_t k, v;
    memcpy(&k, key, 8);
    memcpy(&v, value, 8);
    if (v != k || k >= 100)
        s->wrong++;
    s->seen++;
    uint64_t nk = 1000 + k, nv = 0;
    if (cowmap_store(s->m, &nk, &nv) != 0)
        s->wrong++;
    uint64_t bumped = k + 1;
    if (cowmap_store(s->m, &k, &bumped) != 0)
        s->wrong++;
    return true;
}

TEST(range_is_a_snapshot) {
    cowmap *m = new_u64(NULL);
    REQUIRE(m);
    for (uint64_t k = 0; k < 100; k++)
        REQUIRE(cowmap_store(m, &k, &k) == 0);
    struct snap s = {m, 0, 0};
    cowmap_range(m, snapshot_fn, &s);
    CHECK_EQ(s.seen, 100);
    CHECK_EQ(s.wrong, 0);
    CHECK_EQ(cowmap_len(m), 200);
    uint64_t v = 0, k = 5;
    CHECK(cowmap_load(m, &k, &v) && v == 6);
    cowmap_free(m);
}

TEST(unchanged_calls_copy_nothing) {
    struct tally t;
    tally_init(&t);
    cowmap *m = new_u64(&t);
    REQUIRE(m);
    for (uint64_t k = 0; k < 50; k++)
        REQUIRE(cowmap_store(m, &k, &k) == 0);
    long before = atomic_load(&t.allocs);
    uint64_t k = 7, same = 7, other = 8, absent = 999, out;
    bool flag = true;
    REQUIRE(cowmap_store(m, &k, &same) == 0); /* the value it has */
    REQUIRE(cowmap_load_or_store(m, &k, &other, &out, &flag) == 0);
    CHECK(flag && out == 7);
    cowmap_delete(m, &absent);
    CHECK(!cowmap_load_and_delete(m, &absent, &out));
    REQUIRE(cowmap_compare_and_swap(m, &k, &other, &other, &flag) == 0);
    CHECK(!flag);
    CHECK(!cowmap_compare_and_delete(m, &k, &other));
    CHECK(cowmap_load(m, &k, &out) && out == 7);
    CHECK_EQ(atomic_load(&t.allocs), before);
    /* A real change copies. */
    REQUIRE(cowmap_store(m, &k, &other) == 0);
    CHECK(atomic_load(&t.allocs) > before);
    cowmap_free(m);
    CHECK_EQ(atomic_load(&t.allocs), atomic_load(&t.frees));
    CHECK_EQ(atomic_load(&t.live_bytes), 0);
    CHECK_EQ(atomic_load(&t.bad), 0);
}

TEST(store_many_publishes_a_batch) {
    cowmap *m = new_u64(NULL);
    REQUIRE(m);
    enum { N = 5000 };
    static uint64_t keys[N], vals[N];
    for (uint64_t i = 0; i < N; i++) {
        keys[i] = i % 4000; /* 1000 keys twice: the last value wins */
        vals[i] = i;
    }
    REQUIRE(cowmap_store_many(m, N, keys, vals) == 0);
    CHECK_EQ(cowmap_len(m), 4000);
    uint64_t k = 10, v = 0;
    CHECK(cowmap_load(m, &k, &v) && v == 4010);
    k = 3999;
    CHECK(cowmap_load(m, &k, &v) && v == 3999);
    REQUIRE(cowmap_store_many(m, 0, NULL, NULL) == 0);
    /* string keys: the stride is a gomap_str */
    gomap_config cfg = {0};
    cfg.key_kind = GOMAP_KEY_STRING;
    cfg.value_size = 4;
    cowmap *s = NULL;
    REQUIRE(cowmap_new(&s, &cfg) == 0);
    gomap_str sk[3] = {gomap_cstr("a"), gomap_cstr("bb"), gomap_cstr("a-rather-long-key")};
    uint32_t sv[3] = {1, 2, 3};
    REQUIRE(cowmap_store_many(s, 3, sk, sv) == 0);
    uint32_t got = 0;
    CHECK(cowmap_load(s, &sk[2], &got) && got == 3);
    CHECK_EQ(cowmap_len(s), 3);
    cowmap_free(s);
    cowmap_free(m);
}

TEST(clear_and_len) {
    cowmap *m = new_u64(NULL);
    REQUIRE(m);
    CHECK_EQ(cowmap_len(m), 0);
    cowmap_clear(m); /* empty: nothing to do */
    for (uint64_t k = 0; k < 10; k++)
        REQUIRE(cowmap_store(m, &k, &k) == 0);
    CHECK_EQ(cowmap_len(m), 10);
    cowmap_clear(m);
    CHECK_EQ(cowmap_len(m), 0);
    uint64_t k = 3;
    CHECK(!cowmap_load(m, &k, NULL));
    REQUIRE(cowmap_store(m, &k, &k) == 0);
    CHECK_EQ(cowmap_len(m), 1);
    cowmap_free(m);
}

TEST(bad_config) {
    cowmap *m = (cowmap *)1;
    gomap_config cfg = {0};
    cfg.value_size = GOMAP_MAX_VALUE_SIZE + 1;
    CHECK_EQ(cowmap_new(&m, &cfg), EINVAL);
    CHECK(m == NULL);
    CHECK_EQ(cowmap_new(&m, NULL), EINVAL);
    cowmap_free(NULL);
}

/* Writers in a loop retire a whole version per write, faster than grace
 * periods free them; the map paces them (gomap__rcu_throttle), so the memory
 * it holds stays within a few dozen versions however long they write.
 * Before pacing, tools/soak saw hundreds of MiB for a 3,000-key map. */
enum { FLOOD_KEYS = 1000, FLOOD_WRITERS = 2, FLOOD_WRITES = 3000 };

struct flood {
    cowmap *m;
    struct tally *t;
    atomic_long peak;
    atomic_int done;
};

static void *flood_writer(void *arg) {
    struct flood *f = arg;
    for (uint64_t i = 0; i < FLOOD_WRITES; i++) {
        uint64_t k = i % FLOOD_KEYS, v = i;
        if (cowmap_store(f->m, &k, &v) != 0)
            atomic_fetch_add(&f->t->bad, 1);
        long live = atomic_load(&f->t->live_bytes), peak = atomic_load(&f->peak);
        while (live > peak && !atomic_compare_exchange_weak(&f->peak, &peak, live)) {
        }
    }
    atomic_fetch_add(&f->done, 1);
    return NULL;
}

TEST(writers_are_paced_so_retired_versions_stay_bounded) {
    struct tally t;
    tally_init(&t);
    struct flood f = {.t = &t};
    f.m = new_u64(&t);
    REQUIRE(f.m);
    for (uint64_t k = 0; k < FLOOD_KEYS; k++)
        REQUIRE(cowmap_store(f.m, &k, &k) == 0);
    gomap__rcu_barrier();
    long version = atomic_load(&t.live_bytes); /* one version, and the handle */
    pthread_t th[FLOOD_WRITERS];
    for (int i = 0; i < FLOOD_WRITERS; i++)
        REQUIRE(pthread_create(&th[i], NULL, flood_writer, &f) == 0);
    for (int i = 0; i < FLOOD_WRITERS; i++)
        pthread_join(th[i], NULL);
    /* 6,000 versions were retired; at most ~32 (+ one per writer in flight,
     * + slack for a batch being freed) may wait at any time. */
    long peak = atomic_load(&f.peak);
    fprintf(stderr, "peak %.1f versions (bound 64)\n", (double)peak / (double)version);
    CHECK(peak <= 64 * version);
    cowmap_free(f.m);
    CHECK_EQ(atomic_load(&t.bad), 0);
    CHECK_EQ(atomic_load(&t.live_bytes), 0);
}

TEST_MAIN()
