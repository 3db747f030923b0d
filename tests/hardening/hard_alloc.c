/*
 * hard_alloc.c — allocation failure everywhere.
 *
 * For every public operation that may allocate, of the core map and of every
 * thread-safe variant, fail the Nth allocation it makes for N = 1, 2, ...
 * until the operation succeeds (boost's exception_test idea, written anew):
 * each failure must return ENOMEM, leave the contents exactly as before
 * (checked key by key against a reference), leak nothing (the allocator
 * hook counts live bytes), and leave the map working.  Operations documented
 * not to fail are run with every allocation failing and must still give the
 * right answer.  The number of failure points exercised is printed.
 */
#include "check.h"
#include "../fuzz/fuzz_common.h"

#include <errno.h>

static unsigned long long points_total;

/* ---- core map ---------------------------------------------------------------- */

struct core_run {
    struct hard_alloc a;
    gomap_allocator hook;
    struct hard_hash_ctx hctx;
    gomap_config cfg;
    enum hard_kind kind;
    gomap *m;
    struct fz_ref r;
    unsigned long long points, kept;
};

/* Sets id to a new value, failing the 1st, 2nd, ... allocation until the set
 * succeeds.  Returns the number of injected failures. */
static unsigned core_set_every_n(struct core_run *c, uint32_t id) {
    struct hard_key k;
    const void *key = hard_key_make(&k, c->kind, id);
    unsigned fails = 0;
    for (long long n = 1;; n++) {
        uint64_t v = fz_value(&c->r, id);
        long long live = hard_live(&c->a);
        long long failed0 = hard_failed(&c->a);
        hard_fail_nth(&c->a, n);
        int rc = gomap_set(c->m, key, &v);
        bool injected = hard_failed(&c->a) > failed0;
        hard_fail_off(&c->a);
        if (rc == 0) {
            fz_ref_set(&c->r, id, v);
            break;
        }
        FUZZ_CHECK(rc == ENOMEM, "gomap_set returned %d", rc);
        FUZZ_CHECK(injected, "gomap_set returned ENOMEM without a failed allocation");
        /* A failed set may have made invisible progress first: finished an
         * evacuation (old buckets freed: live drops) or started the growth
         * its insert needs (the new bucket array is the map's, reused by the
         * retry and freed with the map: live grows, counted as "kept").
         * Either way the contents are unchanged; a real leak shows up when
         * the map is freed (live must then be 0). */
        if (hard_live(&c->a) > live)
            c->kept++;
        fz_check_gomap(c->m, c->kind, 8, &c->r, "failed gomap_set");
        fails++;
        FUZZ_CHECK(n < 1000, "gomap_set never succeeds");
    }
    c->points += fails;
    return fails;
}

/* Reads and deletes must work with every allocation failing. */
static void core_no_alloc_ops(struct core_run *c, uint32_t del_id) {
    atomic_store(&c->a.fail_all, true);
    fz_check_gomap(c->m, c->kind, 8, &c->r, "reads with allocation failing");
    fz_check_gomap_iter(c->m, c->kind, 8, &c->r);
    struct hard_key k;
    FUZZ_CHECK(gomap_delete(c->m, hard_key_make(&k, c->kind, del_id)) == c->r.present[del_id],
               "delete with allocation failing");
    fz_ref_del(&c->r, del_id);
    hard_fail_off(&c->a);
}

static void core_clone_every_n(struct core_run *c) {
    for (long long n = 1;; n++) {
        long long live = hard_live(&c->a);
        hard_fail_nth(&c->a, n);
        gomap *copy = (gomap *)&c->r;
        int rc = gomap_clone(c->m, &copy);
        hard_fail_off(&c->a);
        if (rc == 0) {
            fz_check_gomap(copy, c->kind, 8, &c->r, "clone");
            gomap_free(copy);
            FUZZ_CHECK(hard_live(&c->a) == live, "clone + free leaked");
            break;
        }
        FUZZ_CHECK(rc == ENOMEM && copy == NULL, "gomap_clone returned %d", rc);
        FUZZ_CHECK(hard_live(&c->a) == live, "failed gomap_clone leaked %lld bytes",
                   hard_live(&c->a) - live);
        fz_check_gomap(c->m, c->kind, 8, &c->r, "failed gomap_clone");
        c->points++;
    }
}

static void core_scenario(enum hard_kind kind, enum hard_hash_mode mode, size_t hint,
                          uint32_t nkeys) {
    static struct core_run c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    hard_alloc_init(&c.a, &c.hook);
    hard_config(&c.cfg, kind, mode, &c.hctx, 8, &c.hook);
    c.cfg.hint = hint;

    /* gomap_new */
    for (long long n = 1;; n++) {
        hard_fail_nth(&c.a, n);
        c.m = (gomap *)&c;
        int rc = gomap_new(&c.m, &c.cfg);
        hard_fail_off(&c.a);
        if (rc == 0)
            break;
        CHECK_EQ(rc, ENOMEM);
        CHECK(c.m == NULL);
        CHECK_EQ(hard_live(&c.a), 0);
        c.points++;
        REQUIRE(n < 1000);
    }

    /* inserts (through every growth step), overwrites during growth,
     * deletes, clones at a few sizes */
    for (uint32_t i = 0; i < nkeys; i++) {
        core_set_every_n(&c, i);
        if (i % 3 == 0)
            core_set_every_n(&c, i / 2); /* overwrite: may evacuate */
        if (i % 7 == 6)
            core_no_alloc_ops(&c, i - 3);
        if (i % 7 == 0 && i)
            core_set_every_n(&c, i - 3); /* re-insert into a freed slot */
        if (i == 0 || i == 9 || i == nkeys / 2 || i == nkeys - 1)
            core_clone_every_n(&c);
    }
    /* clear never allocates */
    atomic_store(&c.a.fail_all, true);
    gomap_clear(c.m);
    fz_ref_clear(&c.r);
    fz_check_gomap(c.m, kind, 8, &c.r, "clear with allocation failing");
    hard_fail_off(&c.a);
    core_set_every_n(&c, 1);
    fz_check_gomap(c.m, kind, 8, &c.r, "set after clear");

    gomap_free(c.m);
    CHECK_EQ(hard_live(&c.a), 0);
    CHECK_EQ(atomic_load(&c.a.bad_frees), 0);
    printf("  gomap %-6s %-9s hint %-4zu %4u keys: %llu failure points (%llu kept a started "
           "growth)\n",
           hard_kind_names[kind], hard_hash_names[mode], hint, nkeys, c.points, c.kept);
    points_total += c.points;
}

TEST(gomap_every_allocation_fails_once) {
    for (int kind = 0; kind < HARD_KINDS; kind++) {
        core_scenario((enum hard_kind)kind, HARD_HASH_BUILTIN, 0, 400);
        core_scenario((enum hard_kind)kind, HARD_HASH_BUILTIN, 100, 200);
        core_scenario((enum hard_kind)kind, HARD_HASH_CONSTANT, 0, 60);
        core_scenario((enum hard_kind)kind, HARD_HASH_LOW3, 0, 150);
    }
}

TEST(gomap_new_with_hints) {
    static const size_t hints[] = {1, 8, 9, 53, 1000, 100000};
    unsigned long long points = 0;
    for (size_t h = 0; h < sizeof hints / sizeof hints[0]; h++) {
        struct hard_alloc a;
        gomap_allocator hook;
        hard_alloc_init(&a, &hook);
        gomap_config cfg = {GOMAP_KEY_STRING, 0, 8, hints[h], 0, 0, 0, &hook};
        for (long long n = 1;; n++) {
            gomap *m = (gomap *)&a;
            hard_fail_nth(&a, n);
            int rc = gomap_new(&m, &cfg);
            hard_fail_off(&a);
            if (rc == 0) {
                CHECK_EQ(gomap_len(m), 0);
                CHECK_EQ(gomap_set(m, &(gomap_str){"x", 1}, NULL), 0);
                gomap_free(m);
                break;
            }
            CHECK_EQ(rc, ENOMEM);
            CHECK(m == NULL);
            points++;
            REQUIRE(n < 1000);
        }
        CHECK_EQ(hard_live(&a), 0);
    }
    printf("  gomap_new with hints: %llu failure points\n", points);
    points_total += points;
}

/* ---- thread-safe variants -------------------------------------------------- */

struct conc_run {
    struct hard_alloc a;
    gomap_allocator hook;
    struct hard_hash_ctx hctx;
    gomap_config cfg;
    enum hard_kind kind;
    concmap *m;
    const char *name;
    struct fz_ref r;
    unsigned long long points, kept, kept_deletes;
    unsigned long long per_op[4];
};

static const char *const conc_op_names[4] = {"store", "load_or_store", "swap", "compare_and_swap"};

/* Runs one allocating method (0 store, 1 load_or_store, 2 swap, 3 CAS) on id,
 * failing the Nth allocation for N = 1, 2, ... until it succeeds. */
static void conc_every_n(struct conc_run *c, unsigned op, uint32_t id) {
    struct hard_key k;
    const void *key = hard_key_make(&k, c->kind, id);
    for (long long n = 1;; n++) {
        uint64_t v = fz_value(&c->r, id), out = 0;
        uint64_t old = c->r.present[id] ? c->r.val[id] : 0;
        bool flag = false;
        long long live = hard_live(&c->a);
        long long failed0 = hard_failed(&c->a);
        hard_fail_nth(&c->a, n);
        int rc;
        switch (op) {
        case 0:
            rc = concmap_store(c->m, key, &v);
            break;
        case 1:
            rc = concmap_load_or_store(c->m, key, &v, &out, &flag);
            break;
        case 2:
            rc = concmap_swap(c->m, key, &v, &out, &flag);
            break;
        default:
            rc = concmap_compare_and_swap(c->m, key, &old, &v, &flag);
            break;
        }
        bool injected = hard_failed(&c->a) > failed0;
        hard_fail_off(&c->a);
        if (rc == 0) {
            bool was = c->r.present[id];
            switch (op) {
            case 1:
                FUZZ_CHECK(flag == was, "%s load_or_store: loaded", c->name);
                if (!was)
                    fz_ref_set(&c->r, id, v);
                FUZZ_CHECK(out == c->r.val[id], "%s load_or_store: actual", c->name);
                break;
            case 2:
                FUZZ_CHECK(flag == was && (!was || out == c->r.val[id]), "%s swap: previous",
                           c->name);
                fz_ref_set(&c->r, id, v);
                break;
            case 3:
                FUZZ_CHECK(flag == was, "%s compare_and_swap: swapped", c->name);
                if (was)
                    c->r.val[id] = v;
                break;
            default:
                fz_ref_set(&c->r, id, v);
            }
            break;
        }
        FUZZ_CHECK(rc == ENOMEM, "%s %s returned %d", c->name, conc_op_names[op], rc);
        FUZZ_CHECK(injected, "%s %s: ENOMEM without a failed allocation", c->name,
                   conc_op_names[op]);
        /* As for gomap_set: the underlying map may keep a growth it
         * started, and deferred reclamation may free earlier garbage
         * meanwhile; leaks show when the map is freed. */
        if (hard_live(&c->a) > live)
            c->kept++;
        fz_check_concmap(c->m, c->kind, &c->r, "failed operation");
        c->points++;
        c->per_op[op]++;
        FUZZ_CHECK(n < 1000, "%s %s never succeeds", c->name, conc_op_names[op]);
    }
}

/* The methods that return no error must work with every allocation failing. */
static void conc_no_alloc_ops(struct conc_run *c, uint32_t base) {
    struct hard_key k;
    atomic_store(&c->a.fail_all, true);
    /* repeated loads: a syncmap promotes its dirty map after enough misses */
    for (int rep = 0; rep < 3; rep++)
        fz_check_concmap(c->m, c->kind, &c->r, "loads with allocation failing");
    fz_check_concmap_range(c->m, c->kind, &c->r);
    /* cowmap's deletes copy the map, and cannot report ENOMEM: documented
     * (cowmap.h) to keep the key and return false.  Accept exactly that. */
    bool cow = strcmp(c->name, "cow") == 0;
    uint64_t out = 0, v = 0;
    uint32_t id = base % FZ_NIDS;
    bool had = c->r.present[id];
    bool got = concmap_load_and_delete(c->m, hard_key_make(&k, c->kind, id), &out);
    if (got == had)
        fz_ref_del(&c->r, id);
    else
        FUZZ_CHECK(cow && had && !got, "%s load_and_delete with allocation failing", c->name);
    c->kept_deletes += got != had;

    id = (base + 1) % FZ_NIDS;
    concmap_delete(c->m, hard_key_make(&k, c->kind, id));
    if (!concmap_load(c->m, hard_key_make(&k, c->kind, id), &v) || !cow)
        fz_ref_del(&c->r, id);
    else
        c->kept_deletes++;

    id = (base + 2) % FZ_NIDS;
    uint64_t old = c->r.val[id];
    bool want = c->r.present[id];
    got = concmap_compare_and_delete(c->m, hard_key_make(&k, c->kind, id), &old);
    if (got == want) {
        if (want)
            fz_ref_del(&c->r, id);
    } else {
        FUZZ_CHECK(cow && want && !got, "%s compare_and_delete with allocation failing", c->name);
        c->kept_deletes++;
    }
    fz_check_concmap(c->m, c->kind, &c->r, "deletes with allocation failing");
    hard_fail_off(&c->a);
}

static void conc_scenario(const char *name, enum hard_kind kind, enum hard_hash_mode mode,
                          uint32_t nkeys) {
    static struct conc_run c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    c.name = name;
    hard_alloc_init(&c.a, &c.hook);
    hard_config(&c.cfg, kind, mode, &c.hctx, 8, &c.hook);
    c.cfg.hint = 0;

    for (long long n = 1;; n++) {
        hard_fail_nth(&c.a, n);
        c.m = (concmap *)&c;
        int rc = concmap_new(&c.m, name, &c.cfg, NULL);
        hard_fail_off(&c.a);
        if (rc == 0)
            break;
        CHECK_EQ(rc, ENOMEM);
        CHECK(c.m == NULL);
        CHECK_EQ(hard_live(&c.a), 0);
        c.points++;
        REQUIRE(n < 1000);
    }

    for (uint32_t i = 0; i < nkeys; i++) {
        conc_every_n(&c, i % 4 == 1 ? 1 : 0, i); /* new keys: store / load_or_store */
        if (i % 2 == 0)
            conc_every_n(&c, 2, i / 2); /* swap an existing key */
        if (i % 3 == 0)
            conc_every_n(&c, 3, i / 3); /* CAS an existing key */
        if (i % 5 == 0)
            conc_every_n(&c, 1, i / 5); /* load_or_store an existing key */
        if (i % 11 == 10)
            conc_no_alloc_ops(&c, i - 9);
        if (i % 11 == 0 && i)
            conc_every_n(&c, 0, i - 10); /* re-store a deleted key (syncmap: expunged) */
    }
    atomic_store(&c.a.fail_all, true);
    concmap_clear(c.m);
    fz_ref_clear(&c.r);
    fz_check_concmap(c.m, kind, &c.r, "clear with allocation failing");
    hard_fail_off(&c.a);
    conc_every_n(&c, 0, 7);
    fz_check_concmap(c.m, kind, &c.r, "store after clear");

    concmap_free(c.m);
    CHECK_EQ(hard_live(&c.a), 0);
    CHECK_EQ(atomic_load(&c.a.bad_frees), 0);
    printf("  %-5s %-6s %-9s %4u keys: %llu failure points (store %llu, load_or_store %llu, "
           "swap %llu, cas %llu; %llu kept a started growth; %llu deletes refused for lack of "
           "memory)\n",
           name, hard_kind_names[kind], hard_hash_names[mode], nkeys, c.points, c.per_op[0],
           c.per_op[1], c.per_op[2], c.per_op[3], c.kept, c.kept_deletes);
    points_total += c.points;
}

TEST(concmap_every_allocation_fails_once) {
    for (const char *const *kind = concmap_variants; *kind; kind++) {
        /* string keys: every copy of a key is an allocation that can fail,
         * so sync and cow have tens of thousands of failure points */
        conc_scenario(*kind, HARD_U64, HARD_HASH_BUILTIN, 300);
        conc_scenario(*kind, HARD_STRING, HARD_HASH_BUILTIN, CHECK_SANITIZED ? 100 : 200);
        conc_scenario(*kind, HARD_BYTES, HARD_HASH_LOW3, 100);
    }
}

TEST(summary) {
    printf("  failure points covered in total: %llu\n", points_total);
    CHECK(points_total > 0);
}

TEST_MAIN()
