/* syncmap's own mechanics (Go's sync.Map design): misses and promotion, the
 * amended flag, the expunge path, nested range, loads that allocate nothing,
 * len.  The family-wide tests (concmap_*.c) cover the shared semantics. */
#include <gomap/syncmap.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>

#include "check.h"
#include "reclaim_util.h"
#include "syncmap_internal.h"

static syncmap *new_u64(struct tally *t, size_t value_size) {
    gomap_config cfg = {0};
    cfg.value_size = value_size;
    cfg.allocator = t ? &t->hook : NULL;
    syncmap *m = NULL;
    if (syncmap_new(&m, &cfg) != 0)
        return NULL;
    return m;
}

static struct gomap__syncmap_state state(syncmap *m) {
    struct gomap__syncmap_state s;
    gomap__syncmap_state(m, &s);
    return s;
}

TEST(new_keys_go_to_dirty_and_amend) {
    syncmap *m = new_u64(NULL, 8);
    REQUIRE(m);
    struct gomap__syncmap_state s = state(m);
    CHECK(!s.amended && !s.has_dirty && s.read_len == 0);
    for (uint64_t k = 0; k < 10; k++)
        REQUIRE(syncmap_store(m, &k, &k) == 0);
    s = state(m);
    CHECK(s.amended);
    CHECK(s.has_dirty);
    CHECK_EQ(s.dirty_len, 10);
    CHECK_EQ(s.read_len, 0);
    CHECK_EQ(syncmap_len(m), 10);
    syncmap_free(m);
}

TEST(promotion_after_len_dirty_misses) {
    syncmap *m = new_u64(NULL, 8);
    REQUIRE(m);
    enum { N = 20 };
    for (uint64_t k = 0; k < N; k++)
        REQUIRE(syncmap_store(m, &k, &k) == 0);
    /* Each load of a dirty-only key is a miss; the N-th promotes. */
    for (uint64_t k = 0; k < N; k++) {
        uint64_t v = 0;
        CHECK(syncmap_load(m, &k, &v));
        CHECK_EQ(v, k);
        struct gomap__syncmap_state s = state(m);
        if (k + 1 < N) {
            CHECK(s.amended);
            CHECK_EQ(s.misses, k + 1);
        } else {
            CHECK(!s.amended);
            CHECK(!s.has_dirty);
            CHECK_EQ(s.read_len, N);
            CHECK_EQ(s.misses, 0);
        }
    }
    /* A miss for an absent key counts too. */
    uint64_t k = 1000;
    CHECK(!syncmap_load(m, &k, NULL)); /* not amended: no lock, no miss */
    CHECK_EQ(state(m).misses, 0);
    REQUIRE(syncmap_store(m, &k, &k) == 0); /* rebuilds dirty from read */
    struct gomap__syncmap_state s = state(m);
    CHECK(s.amended && s.has_dirty);
    CHECK_EQ(s.dirty_len, N + 1);
    uint64_t absent = 2000;
    CHECK(!syncmap_load(m, &absent, NULL));
    CHECK_EQ(state(m).misses, 1);
    syncmap_free(m);
}

static bool count_none(const void *key, const void *value, void *ctx) {
    (void)key;
    (void)value;
    (void)ctx;
    return true;
}

/* Misses it takes, after one new key joins a promoted map of n keys, until
 * the dirty map is promoted again. */
static void misses_to_promote(syncmap_promotion rule, uint64_t n, size_t *out) {
    *out = 0;
    syncmap *m = new_u64(NULL, 8);
    REQUIRE(m);
    REQUIRE(syncmap_set_promotion(m, rule) == 0);
    for (uint64_t k = 0; k < n; k++)
        REQUIRE(syncmap_store(m, &k, &k) == 0);
    syncmap_range(m, count_none, NULL); /* promotes: read holds all n */
    REQUIRE(!state(m).amended);
    uint64_t fresh = n; /* one new key: dirty rebuilt with n + 1 */
    REQUIRE(syncmap_store(m, &fresh, &fresh) == 0);
    REQUIRE(state(m).amended);
    size_t misses = 0;
    while (state(m).amended && misses <= n + 1) {
        uint64_t v = 0;
        CHECK(syncmap_load(m, &fresh, &v)); /* a miss until promoted */
        CHECK_EQ(v, fresh);
        misses++;
    }
    CHECK(!state(m).amended);
    CHECK_EQ(state(m).read_len, n + 1);
    syncmap_free(m);
    *out = misses;
}

/* Go's rule waits for len(dirty) misses; the adaptive rule, with one new key
 * and nothing but misses after it, promotes once misses * (1 + misses) >=
 * len(dirty): after about sqrt(len(dirty)) of them. */
TEST(adaptive_promotion_follows_the_miss_share) {
    size_t go, adaptive;
    misses_to_promote(SYNCMAP_PROMOTE_GO, 400, &go);
    misses_to_promote(SYNCMAP_PROMOTE_ADAPTIVE, 400, &adaptive);
    CHECK_EQ(go, 401);
    CHECK_EQ(adaptive, 20); /* 20 * 21 >= 401 > 19 * 20 */
    syncmap *m = new_u64(NULL, 8);
    REQUIRE(m);
    CHECK_EQ(syncmap_set_promotion(m, (syncmap_promotion)7), EINVAL);
    syncmap_free(m);
}

/* Under churn (as many new keys as misses) the adaptive rule waits about as
 * long as Go's: half of len(dirty) misses or more, never more than Go. */
TEST(adaptive_promotion_under_churn_stays_near_go) {
    syncmap *m = new_u64(NULL, 8);
    REQUIRE(m);
    REQUIRE(syncmap_set_promotion(m, SYNCMAP_PROMOTE_ADAPTIVE) == 0);
    enum { N = 200 };
    for (uint64_t k = 0; k < N; k++)
        REQUIRE(syncmap_store(m, &k, &k) == 0);
    syncmap_range(m, count_none, NULL);
    size_t misses = 0;
    uint64_t next = N;
    do {
        REQUIRE(syncmap_store(m, &next, &next) == 0); /* one new key ... */
        CHECK(syncmap_load(m, &next, NULL));          /* ... and one miss */
        next++;
        misses++;
    } while (state(m).amended && misses < 4 * N);
    CHECK(!state(m).amended);
    /* misses = inserts = i: promoted when i * 2i >= (N + i) * i, i = N */
    CHECK(misses >= N / 2);
    CHECK(misses <= (size_t)(next - N) + N);
    syncmap_free(m);
}

static bool count_fn(const void *key, const void *value, void *ctx) {
    (void)key;
    (void)value;
    ++*(int *)ctx;
    return true;
}

TEST(expunge_then_store_after_promotion) {
    struct tally t;
    tally_init(&t);
    syncmap *m = new_u64(&t, 8);
    REQUIRE(m);
    uint64_t a = 1, b = 2, c = 3, v;
    REQUIRE(syncmap_store(m, &a, &a) == 0);
    /* Promote: one miss on a 1-entry dirty table. */
    CHECK(syncmap_load(m, &a, &v));
    CHECK(!state(m).amended);
    CHECK_EQ(state(m).read_len, 1);
    /* Delete a through the read table (no lock): p becomes NULL. */
    syncmap_delete(m, &a);
    CHECK(!syncmap_load(m, &a, NULL));
    CHECK_EQ(syncmap_len(m), 0);
    /* A new key rebuilds dirty: a is expunged, not copied. */
    REQUIRE(syncmap_store(m, &b, &b) == 0);
    struct gomap__syncmap_state s = state(m);
    CHECK_EQ(s.expunged, 1);
    CHECK_EQ(s.dirty_len, 1);
    CHECK(s.amended);
    /* Storing a again revives the expunged entry into dirty. */
    uint64_t a2 = 42;
    REQUIRE(syncmap_store(m, &a, &a2) == 0);
    s = state(m);
    CHECK_EQ(s.expunged, 0);
    CHECK_EQ(s.dirty_len, 2);
    CHECK(syncmap_load(m, &a, &v));
    CHECK_EQ(v, 42);
    /* Expunge again and promote: the expunged entry is retired. */
    syncmap_delete(m, &a);
    REQUIRE(syncmap_store(m, &c, &c) == 0);
    CHECK_EQ(state(m).dirty_len, 3); /* a stays in dirty, deleted (NULL) */
    CHECK_EQ(syncmap_len(m), 2);
    /* Range promotes an amended map at once. */
    int calls = 0;
    syncmap_range(m, count_fn, &calls);
    CHECK_EQ(calls, 2);
    s = state(m);
    CHECK(!s.amended);
    CHECK(!s.has_dirty);
    CHECK(syncmap_load(m, &b, &v) && v == 2);
    CHECK(syncmap_load(m, &c, &v) && v == 3);
    CHECK(!syncmap_load(m, &a, NULL));
    syncmap_free(m);
    CHECK_EQ(atomic_load(&t.bad), 0);
    CHECK_EQ(atomic_load(&t.allocs), atomic_load(&t.frees));
    CHECK_EQ(atomic_load(&t.live_bytes), 0);
}

struct nested {
    syncmap *m;
    int outer, inner, errors;
};

static bool inner_fn(const void *key, const void *value, void *ctx) {
    struct nested *n = ctx;
    uint64_t v = 0, k42 = 42, dummy = 7, got = 0;
    n->inner++;
    /* Go's TestMapRangeNestedCall: the offered key loads with its value... */
    if (!syncmap_load(n->m, key, &v) || memcmp(&v, value, 8) != 0)
        n->errors++;
    /* ...42 was never kept, so load_or_store stores... */
    bool loaded = true;
    if (syncmap_load_or_store(n->m, &k42, &dummy, &got, &loaded) != 0 || loaded)
        n->errors++;
    /* ...and store + load_and_delete leave it absent again. */
    uint64_t val = 0x5157;
    if (syncmap_store(n->m, &k42, &val) != 0)
        n->errors++;
    if (!syncmap_load_and_delete(n->m, &k42, &got) || got != val)
        n->errors++;
    return true;
}

static bool outer_fn(const void *key, const void *value, void *ctx) {
    struct nested *n = ctx;
    (void)key;
    (void)value;
    n->outer++;
    syncmap_range(n->m, inner_fn, n);
    return true;
}

TEST(range_nested_call) {
    syncmap *m = new_u64(NULL, 8);
    REQUIRE(m);
    for (uint64_t k = 0; k < 3; k++) {
        uint64_t v = 100 + k;
        REQUIRE(syncmap_store(m, &k, &v) == 0);
    }
    struct nested n = {m, 0, 0, 0};
    syncmap_range(m, outer_fn, &n);
    CHECK_EQ(n.errors, 0);
    CHECK_EQ(n.outer, 3);
    CHECK_EQ(n.inner, 9);
    CHECK_EQ(syncmap_len(m), 3);
    uint64_t k42 = 42;
    CHECK(!syncmap_load(m, &k42, NULL));
    syncmap_free(m);
}

static bool stop_after_one(const void *key, const void *value, void *ctx) {
    (void)key;
    (void)value;
    ++*(int *)ctx;
    return false;
}

TEST(range_stops_and_skips_deleted) {
    syncmap *m = new_u64(NULL, 8);
    REQUIRE(m);
    for (uint64_t k = 0; k < 50; k++)
        REQUIRE(syncmap_store(m, &k, &k) == 0);
    int calls = 0;
    syncmap_range(m, stop_after_one, &calls);
    CHECK_EQ(calls, 1);
    for (uint64_t k = 0; k < 50; k += 2)
        syncmap_delete(m, &k);
    CHECK_EQ(syncmap_len(m), 25);
    syncmap_clear(m);
    calls = 0;
    syncmap_range(m, stop_after_one, &calls);
    CHECK_EQ(calls, 0);
    CHECK_EQ(syncmap_len(m), 0);
    syncmap_free(m);
}

TEST(load_allocates_nothing) {
    struct tally t;
    tally_init(&t);
    syncmap *m = new_u64(&t, 16);
    REQUIRE(m);
    /* Half the keys in the read table, half only in dirty (amended). */
    for (uint64_t k = 0; k < 1000; k++) {
        struct tval v = tval_make(k, 1);
        REQUIRE(syncmap_store(m, &k, &v) == 0);
    }
    syncmap_range(m, stop_after_one, &(int){0}); /* promote */
    for (uint64_t k = 1000; k < 2000; k++) {
        struct tval v = tval_make(k, 1);
        REQUIRE(syncmap_store(m, &k, &v) == 0);
    }
    long before = atomic_load(&t.allocs);
    long found = 0;
    for (int round = 0; round < 20; round++)
        for (uint64_t k = 0; k < 3000; k++) { /* hits (read, dirty) and misses */
            struct tval v;
            if (syncmap_load(m, &k, &v))
                found += tval_ok(k, &v);
        }
    CHECK_EQ(atomic_load(&t.allocs), before);
    CHECK_EQ(found, 20 * 2000);
    syncmap_free(m);
    CHECK_EQ(atomic_load(&t.allocs), atomic_load(&t.frees));
}

/* Values of up to 8 bytes live in the tables' slots: overwriting, swapping,
 * compare-and-swapping, deleting and reviving a key of the read table
 * allocate nothing, and every answer is the value last written. */
TEST(small_values_are_stored_in_place) {
    struct tally t;
    tally_init(&t);
    syncmap *m = new_u64(&t, 8);
    REQUIRE(m);
    for (uint64_t k = 0; k < 500; k++)
        REQUIRE(syncmap_store(m, &k, &k) == 0);
    syncmap_range(m, stop_after_one, &(int){0}); /* promote: read holds all */
    long before = atomic_load(&t.allocs);
    for (uint64_t round = 1; round <= 10; round++)
        for (uint64_t k = 0; k < 500; k++) {
            uint64_t v = k * 1000 + round, prev = 0, got = 0;
            bool loaded = false, sw = false;
            CHECK(syncmap_swap(m, &k, &v, &prev, &loaded) == 0);
            CHECK(loaded);
            CHECK_EQ(prev, round == 1 ? k : k * 1000 + round - 1);
            CHECK(syncmap_load(m, &k, &got));
            CHECK_EQ(got, v);
            uint64_t next = v + 1;
            CHECK(syncmap_compare_and_swap(m, &k, &v, &next, &sw) == 0);
            CHECK(sw);
            CHECK(syncmap_compare_and_swap(m, &k, &v, &next, &sw) == 0);
            CHECK(!sw);
            CHECK(syncmap_load_and_delete(m, &k, &got));
            CHECK_EQ(got, next);
            CHECK(!syncmap_load(m, &k, NULL));
            /* revived in place (the slot is still in the read table) */
            CHECK(syncmap_store(m, &k, &v) == 0);
        }
    CHECK_EQ(atomic_load(&t.allocs), before);
    CHECK_EQ(syncmap_len(m), 500);
    /* a 4-byte value keeps its bytes and only them */
    syncmap *m4 = new_u64(&t, 4);
    REQUIRE(m4);
    uint32_t a = 0xdeadbeef, b = 0;
    uint64_t key = 7;
    REQUIRE(syncmap_store(m4, &key, &a) == 0);
    CHECK(syncmap_load(m4, &key, &b));
    CHECK_EQ(b, 0xdeadbeef);
    syncmap_free(m4);
    syncmap_free(m);
    CHECK_EQ(atomic_load(&t.allocs), atomic_load(&t.frees));
}

struct lockfree_run {
    syncmap *m;
    atomic_int done;
    long hits;
};

static void *lockfree_worker(void *arg) {
    struct lockfree_run *r = arg;
    for (int round = 0; round < 50; round++)
        for (uint64_t k = 0; k < 100; k++) {
            uint64_t v = 0, nv = k + 1000;
            r->hits += syncmap_load(r->m, &k, &v) && (v == k || v == k + 1000);
            /* Overwrites of read-table keys are lock-free too. */
            if (syncmap_store(r->m, &k, &nv) != 0)
                r->hits = -1000000;
        }
    atomic_store(&r->done, 1);
    return NULL;
}

/* Loads (and overwrites) of keys in the read table complete while another
 * thread holds the map's mutex: they never wait for it. */
TEST(read_table_paths_take_no_lock) {
    syncmap *m = new_u64(NULL, 8);
    REQUIRE(m);
    for (uint64_t k = 0; k < 100; k++)
        REQUIRE(syncmap_store(m, &k, &k) == 0);
    syncmap_range(m, stop_after_one, &(int){0}); /* promote: all in the read table */
    REQUIRE(!state(m).amended);
    struct lockfree_run r = {m, 0, 0};
    gomap__syncmap_lock(m);
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, lockfree_worker, &r) == 0);
    /* Waits on a condition, not a time: a blocked worker hangs the test
     * (ctest's timeout reports it). */
    while (!atomic_load(&r.done))
        sched_yield();
    gomap__syncmap_unlock(m);
    pthread_join(th, NULL);
    CHECK_EQ(r.hits, 50 * 100);
    syncmap_free(m);
}

/* Promotions while keys are written: the keys have one writer, which checks
 * every answer against its own last write, while another thread promotes
 * over and over (a new key, then a range) and deletes what it added.  A
 * promotion freezes the old read table's slots and copies them: a write
 * lost there, or a write to a frozen slot, shows as a wrong answer. */
enum { OWN_KEYS = 64, OWN_PROMOTIONS = 5000 };

struct owner_run {
    syncmap *m;
    long wrong;
    uint64_t rounds;
    atomic_int started, stop;
};

static void *owner_worker(void *arg) {
    struct owner_run *o = arg;
    atomic_store(&o->started, 1);
    uint64_t round = 0;
    while (!atomic_load(&o->stop)) {
        round++;
        for (uint64_t k = 0; k < OWN_KEYS; k++) {
            uint64_t v = k << 32 | round, got = 0, next = v + 1;
            bool sw = false;
            o->wrong += syncmap_store(o->m, &k, &v) != 0;
            o->wrong += !syncmap_load(o->m, &k, &got) || got != v;
            o->wrong += syncmap_compare_and_swap(o->m, &k, &v, &next, &sw) != 0 || !sw;
            o->wrong += !syncmap_load(o->m, &k, &got) || got != next;
            if ((round + k) % 5 == 0) {
                o->wrong += !syncmap_load_and_delete(o->m, &k, &got) || got != next;
                o->wrong += syncmap_load(o->m, &k, &got);
            }
        }
    }
    o->rounds = round;
    return NULL;
}

TEST(promotion_keeps_concurrent_small_writes) {
    syncmap *m = new_u64(NULL, 8);
    REQUIRE(m);
    struct owner_run o = {m, 0, 0, 0, 0};
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, owner_worker, &o) == 0);
    while (!atomic_load(&o.started))
        sched_yield();
    for (uint64_t fresh = 1u << 20; fresh < (1u << 20) + OWN_PROMOTIONS; fresh++) {
        REQUIRE(syncmap_store(m, &fresh, &fresh) == 0);
        syncmap_range(m, stop_after_one, &(int){0}); /* promotes the new key */
        CHECK(syncmap_load_and_delete(m, &fresh, NULL));
    }
    atomic_store(&o.stop, 1);
    pthread_join(th, NULL);
    CHECK_EQ(o.wrong, 0);
    /* The last answers: every key holds the owner's last write, or was
     * deleted by it. */
    size_t live = 0;
    for (uint64_t k = 0; k < OWN_KEYS; k++) {
        uint64_t got = 0, last = (k << 32 | o.rounds) + 1;
        bool deleted = (o.rounds + k) % 5 == 0;
        if (syncmap_load(m, &k, &got)) {
            CHECK(!deleted && got == last);
            live++;
        } else {
            CHECK(deleted);
        }
    }
    CHECK_EQ(syncmap_len(m), live);
    printf("  %llu rounds of the writer\n", (unsigned long long)o.rounds);
    syncmap_free(m);
}

TEST(len_exact_when_quiet) {
    syncmap *m = new_u64(NULL, 8);
    REQUIRE(m);
    uint64_t seed = 12345;
    uint64_t present[64] = {0};
    size_t count = 0;
    for (int i = 0; i < 20000; i++) {
        uint64_t k = tally_rng(&seed) % 64, v = k;
        bool ok = false;
        switch (tally_rng(&seed) % 5) {
        case 0:
            REQUIRE(syncmap_store(m, &k, &v) == 0);
            count += !present[k];
            present[k] = 1;
            break;
        case 1:
            REQUIRE(syncmap_load_or_store(m, &k, &v, NULL, &ok) == 0);
            count += !present[k];
            present[k] = 1;
            break;
        case 2:
            syncmap_delete(m, &k);
            count -= present[k];
            present[k] = 0;
            break;
        case 3:
            if (syncmap_compare_and_delete(m, &k, &v)) {
                CHECK(present[k]);
                count--;
                present[k] = 0;
            }
            break;
        case 4:
            (void)syncmap_load(m, &k, NULL);
            break;
        }
        if (i % 5000 == 4999) {
            syncmap_clear(m);
            memset(present, 0, sizeof present);
            count = 0;
        }
        REQUIRE_EQ(syncmap_len(m), count);
    }
    syncmap_free(m);
}

TEST(string_keys_and_sets) {
    gomap_config cfg = {0};
    cfg.key_kind = GOMAP_KEY_STRING;
    cfg.value_size = 0;
    syncmap *m = NULL;
    REQUIRE(syncmap_new(&m, &cfg) == 0);
    char buf[32];
    for (int i = 0; i < 200; i++) {
        snprintf(buf, sizeof buf, "key-%d-with-a-long-tail", i);
        gomap_str k = gomap_cstr(buf);
        REQUIRE(syncmap_store(m, &k, NULL) == 0);
    }
    for (int i = 0; i < 200; i++) {
        snprintf(buf, sizeof buf, "key-%d-with-a-long-tail", i);
        gomap_str k = gomap_cstr(buf);
        CHECK(syncmap_load(m, &k, NULL));
        bool sw = false;
        REQUIRE(syncmap_compare_and_swap(m, &k, NULL, NULL, &sw) == 0);
        CHECK(sw);
    }
    gomap_str missing = gomap_cstr("nope");
    CHECK(!syncmap_load(m, &missing, NULL));
    CHECK_EQ(syncmap_len(m), 200);
    syncmap_free(m);
}

TEST(bad_config) {
    syncmap *m = (syncmap *)1;
    gomap_config cfg = {0};
    cfg.value_size = GOMAP_MAX_VALUE_SIZE + 1;
    CHECK_EQ(syncmap_new(&m, &cfg), EINVAL);
    CHECK(m == NULL);
    CHECK_EQ(syncmap_new(&m, NULL), EINVAL);
    syncmap_free(NULL);
}

TEST_MAIN()
