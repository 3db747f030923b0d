/*
 * hard_defects.c — inputs an adversarial user of the public headers tried,
 * each with the outcome docs/errors.md promises: a config whose allocator
 * has no functions, an empty string key whose pointer is NULL, a syncmap
 * hint no memory can hold, a range callback that reads the map while range
 * has run out of memory, the checkfree debug mode with an allocator that
 * dies with its map, NULL iterators, callbacks and streams, and string keys
 * whose length no object can have.
 *
 * Cases that could crash or hang run in a child process (run_in_child) with
 * an alarm: a child ending by a signal other than the expected SIGABRT, or
 * by a sanitizer report, is a failure of that case.
 */
#include "check.h"
#include "hard_util.h"

#include <gomap/concmap.h>
#include <gomap/cowmap.h>
#include <gomap/metrics.h>
#include <gomap/rwmap.h>
#include <gomap/shardmap.h>
#include <gomap/syncmap.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>

static const gomap_config strcfg = {GOMAP_KEY_STRING, 0, 8, 0, 0, 0, 0, 0};

/* The child must have exited 0 (fn checked everything and returned). */
static void expect_clean_child(void (*fn)(void *), void *arg, const char *const *env,
                               const char *what) {
    static struct child_result r;
    run_in_child(fn, arg, env, &r);
    if (!(r.exited && r.status == 0) || strstr(r.err, "runtime error") ||
        strstr(r.err, "Sanitizer")) {
        char msg[600];
        snprintf(msg, sizeof msg, "%s: child ended by %s %d, stderr: %.400s", what,
                 r.exited ? "exit" : "signal", r.status, r.err);
        check_fail(__FILE__, __LINE__, msg);
    }
}

/* The child must have died of SIGABRT with `text` on stderr. */
static void expect_fatal_text(void (*fn)(void *), void *arg, const char *const *env,
                              const char *text, const char *what) {
    static struct child_result r;
    run_in_child(fn, arg, env, &r);
    if (r.exited || r.status != SIGABRT || !strstr(r.err, text) || strstr(r.err, "Sanitizer")) {
        char msg[600];
        snprintf(msg, sizeof msg, "%s: want SIGABRT with \"%s\"; got %s %d, stderr: %.300s", what,
                 text, r.exited ? "exit" : "signal", r.status, r.err);
        check_fail(__FILE__, __LINE__, msg);
    }
}

/* In a child: exits with `code` unless cond holds. */
#define CHILD_CHECK(cond, code)                                                                    \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "child check failed: %s\n", #cond);                                    \
            _exit(code);                                                                           \
        }                                                                                          \
    } while (0)

/* ---- an allocator hook without functions ---------------------------------- */

static void null_allocator(void *arg) {
    (void)arg;
    gomap_allocator none = {NULL, NULL, NULL};
    gomap_config cfg = {GOMAP_KEY_U64, 0, 8, 0, 0, 0, 0, &none};
    for (const char *const *k = concmap_variants; *k; k++) {
        concmap *c = (concmap *)&c;
        CHILD_CHECK(concmap_new(&c, *k, &cfg, NULL) == EINVAL && c == NULL, 10);
    }
    rwmap *rw = (rwmap *)&rw;
    CHILD_CHECK(rwmap_new(&rw, &cfg) == EINVAL && rw == NULL, 11);
    shardmap *sh = (shardmap *)&sh;
    CHILD_CHECK(shardmap_new(&sh, &cfg, 0) == EINVAL && sh == NULL, 12);
    syncmap *sy = (syncmap *)&sy;
    CHILD_CHECK(syncmap_new(&sy, &cfg) == EINVAL && sy == NULL, 13);
    cowmap *co = (cowmap *)&co;
    CHILD_CHECK(cowmap_new(&co, &cfg) == EINVAL && co == NULL, 14);
    gomap *g = (gomap *)&g;
    CHILD_CHECK(gomap_new(&g, &cfg) == EINVAL && g == NULL, 15);
}

TEST(allocator_without_functions_is_einval_for_every_map) {
    expect_clean_child(null_allocator, NULL, NULL, "allocator {NULL, NULL}");
    /* Half a hook: a working alloc and no free.  Nothing may be allocated
     * through it (it could never be freed). */
    struct hard_alloc a;
    gomap_allocator hook;
    hard_alloc_init(&a, &hook);
    hook.free = NULL;
    gomap_config cfg = {GOMAP_KEY_U64, 0, 8, 0, 0, 0, 0, &hook};
    for (const char *const *k = concmap_variants; *k; k++) {
        concmap *c = (concmap *)&c;
        CHECK_EQ(concmap_new(&c, *k, &cfg, NULL), EINVAL);
        CHECK(c == NULL);
    }
    rwmap *rw;
    CHECK_EQ(rwmap_new(&rw, &cfg), EINVAL);
    shardmap *sh;
    CHECK_EQ(shardmap_new(&sh, &cfg, 2), EINVAL);
    CHECK_EQ(hard_attempts(&a), 0);
}

/* ---- the empty string with a NULL pointer --------------------------------- */

/* gomap.h: a gomap_str's ptr may be NULL when len is 0.  The UB this guards
 * against (memcmp with a NULL argument) shows in the ASan+UBSan build. */
TEST(empty_string_key_with_a_null_pointer) {
    const gomap_str nul = {NULL, 0}, empty = {"", 0};
    for (int kind = GOMAP_KEY_STRING; kind <= GOMAP_KEY_STRING_BORROWED; kind++) {
        gomap_config cfg = {(gomap_key_kind)kind, 0, 8, 0, 0, 0, 0, 0};
        gomap *m;
        REQUIRE_EQ(gomap_new(&m, &cfg), 0);
        uint64_t v = 7;
        CHECK_EQ(gomap_set(m, &empty, &v), 0);
        CHECK(gomap_get(m, &nul) != NULL);
        CHECK(gomap_delete(m, &nul));
        CHECK_EQ(gomap_set(m, &nul, &v), 0);
        CHECK(gomap_get(m, &empty) != NULL);
        CHECK_EQ(gomap_len(m), 1);
        gomap_free(m);
    }
    for (const char *const *k = concmap_variants; *k; k++) {
        concmap *c;
        REQUIRE_EQ(concmap_new(&c, *k, &strcfg, NULL), 0);
        uint64_t v = 9, out = 0;
        CHECK_EQ(concmap_store(c, &empty, &v), 0);
        CHECK(concmap_load(c, &nul, &out) && out == 9);
        CHECK(concmap_load_and_delete(c, &nul, NULL));
        CHECK_EQ(concmap_store(c, &nul, &v), 0);
        CHECK(concmap_load(c, &empty, NULL));
        CHECK_EQ(concmap_len(c), 1);
        concmap_free(c);
    }
}

/* ---- syncmap hints no memory can hold ------------------------------------- */

TEST(syncmap_absurd_hint_is_enomem_at_creation) {
    const size_t hints[] = {SIZE_MAX, (size_t)1 << 62, (size_t)1 << 45};
    for (size_t i = 0; i < sizeof hints / sizeof hints[0]; i++) {
        gomap_config cfg = {GOMAP_KEY_U64, 0, 8, hints[i], 0, 0, 0, 0};
        syncmap *s = (syncmap *)&s;
        CHECK_EQ(syncmap_new(&s, &cfg), ENOMEM);
        CHECK(s == NULL);
        concmap *c = (concmap *)&c;
        CHECK_EQ(concmap_new(&c, "sync", &cfg, NULL), ENOMEM);
        CHECK(c == NULL);
    }
    /* A real hint still makes a working map, with nothing leaked. */
    struct hard_alloc a;
    gomap_allocator hook;
    hard_alloc_init(&a, &hook);
    gomap_config cfg = {GOMAP_KEY_U64, 0, 8, 1000, 0, 0, 0, &hook};
    syncmap *s;
    REQUIRE_EQ(syncmap_new(&s, &cfg), 0);
    for (uint64_t k = 0; k < 2000; k++)
        CHECK_EQ(syncmap_store(s, &k, &k), 0);
    for (uint64_t k = 0; k < 2000; k++) {
        uint64_t v = 0;
        CHECK(syncmap_load(s, &k, &v) && v == k);
    }
    CHECK_EQ(syncmap_len(s), 2000);
    syncmap_free(s);
    CHECK_EQ(hard_live(&a), 0);
}

/* ---- range's out-of-memory path with a callback that reads ---------------- */

/* One key longer than range's 4 KiB stack chunk, so that with every
 * allocation failing range has to find memory for that entry alone. */
enum { BIG_KEY = 9000 };
static char big_key_bytes[BIG_KEY];

struct range_read {
    concmap *m;
    struct hard_alloc *a;
    atomic_bool writer_go, stop;
    int visits, reads_ok;
};

static bool range_reads_fn(const void *key, const void *value, void *ctx) {
    struct range_read *r = ctx;
    (void)value;
    r->visits++;
    /* Let the writer start waiting for the lock range may still hold. */
    atomic_store(&r->writer_go, true);
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
    uint64_t v = 0;
    if (concmap_load(r->m, key, &v) && concmap_len(r->m) == 3)
        r->reads_ok++;
    return true;
}

static void *range_writer(void *arg) {
    struct range_read *r = arg;
    while (!atomic_load(&r->writer_go))
        sched_yield();
    gomap_str k = {"a", 1}; /* present: the store takes the write lock */
    uint64_t v = 1;
    while (!atomic_load(&r->stop))
        (void)concmap_store(r->m, &k, &v);
    return NULL;
}

static void range_reads_under_oom(void *arg) {
    const char *kind = arg;
    alarm(30); /* a deadlock ends the child by SIGALRM: a failure */
    static struct hard_alloc a;
    gomap_allocator hook;
    hard_alloc_init(&a, &hook);
    gomap_config cfg = {GOMAP_KEY_STRING, 0, 8, 0, 0, 0, 0, &hook};
    static struct range_read r;
    memset(&r, 0, sizeof r);
    r.a = &a;
    CHILD_CHECK(
        concmap_new(&r.m, kind, &cfg,
                    strcmp(kind, "shard") == 0 ? &(concmap_options){.shard_bits = 0} : NULL) == 0,
        10);
    memset(big_key_bytes, 'x', sizeof big_key_bytes);
    gomap_str keys[3] = {{big_key_bytes, BIG_KEY}, {"a", 1}, {"b", 1}};
    for (int i = 0; i < 3; i++) {
        uint64_t v = (uint64_t)i;
        CHILD_CHECK(concmap_store(r.m, &keys[i], &v) == 0, 11);
    }
    pthread_t t;
    CHILD_CHECK(pthread_create(&t, NULL, range_writer, &r) == 0, 12);
    atomic_store(&a.fail_all, true);
    concmap_range(r.m, range_reads_fn, &r);
    atomic_store(&a.fail_all, false);
    atomic_store(&r.writer_go, true);
    atomic_store(&r.stop, true);
    pthread_join(t, NULL);
    CHILD_CHECK(r.visits == 3, 13);
    CHILD_CHECK(r.reads_ok == 3, 14);
    concmap_free(r.m);
    CHILD_CHECK(hard_live(&a) == 0, 15);
}

TEST(range_callback_reads_while_range_is_out_of_memory) {
#if CHECK_UNDER_TSAN
    /* ThreadSanitizer cannot start threads in a child of a multi-threaded
     * fork ("dup thread with used id"); the normal and ASan builds run it. */
    puts("  (skipped under ThreadSanitizer)");
    return;
#endif
    expect_clean_child(range_reads_under_oom, (void *)"rw", NULL,
                       "rwmap range, allocation failing");
    expect_clean_child(range_reads_under_oom, (void *)"shard", NULL,
                       "shardmap range, allocation failing");
}

/* ---- checkfree and allocators that die with their map --------------------- */

static const char *const checkfree_env[] = {"GOMAP_DEBUG=checkfree=1", NULL};

struct mortal {
    bool dead;
    long calls_after_death;
};
static void *mortal_alloc(size_t n, void *ctx) {
    struct mortal *a = ctx;
    if (a->dead)
        a->calls_after_death++;
    return malloc(n);
}
static void mortal_free(void *p, size_t n, void *ctx) {
    struct mortal *a = ctx;
    (void)n;
    if (a->dead)
        a->calls_after_death++;
    free(p);
}

static void checkfree_dead_allocator(void *arg) {
    (void)arg;
    static struct mortal a;
    gomap_allocator hook = {mortal_alloc, mortal_free, &a};
    gomap_config cfg = {GOMAP_KEY_U64, 0, 8, 0, 0, 0, 0, &hook};
    gomap *m;
    CHILD_CHECK(gomap_new(&m, &cfg) == 0, 10);
    for (uint64_t k = 0; k < 100; k++)
        CHILD_CHECK(gomap_set(m, &k, &k) == 0, 11);
    gomap_free(m);
    a.dead = true; /* the allocator's context is gone once free returned */
    /* Enough frees of unrelated maps to turn the quarantine over. */
    gomap_config plain = {GOMAP_KEY_U64, 0, 8, 0, 0, 0, 0, 0};
    for (int i = 0; i < 1100; i++) {
        gomap *o;
        CHILD_CHECK(gomap_new(&o, &plain) == 0, 12);
        gomap_free(o);
    }
    CHILD_CHECK(a.calls_after_death == 0, 13);
}

TEST(checkfree_never_calls_an_allocator_after_its_map_was_freed) {
    expect_clean_child(checkfree_dead_allocator, NULL, checkfree_env,
                       "checkfree, allocator gone after gomap_free");
}

static gomap *freed_map(void) {
    gomap_config plain = {GOMAP_KEY_U64, 0, 8, 0, 0, 0, 0, 0};
    gomap *m;
    CHILD_CHECK(gomap_new(&m, &plain) == 0, 10);
    for (uint64_t k = 0; k < 10; k++)
        CHILD_CHECK(gomap_set(m, &k, &k) == 0, 11);
    return m;
}

static void len_after_free(void *arg) {
    (void)arg;
    gomap *m = freed_map();
    gomap_free(m);
    (void)gomap_len(m);
    _exit(20); /* not diagnosed */
}

static void iter_stop_after_free(void *arg) {
    (void)arg;
    gomap *m = freed_map();
    gomap_iter it;
    gomap_iter_init(&it, m);
    CHILD_CHECK(gomap_iter_next(&it, NULL, NULL), 12);
    gomap_free(m);
    gomap_iter_stop(&it);
    _exit(20); /* not diagnosed */
}

TEST(checkfree_diagnoses_len_and_iter_stop_on_a_freed_map) {
    expect_fatal_text(len_after_free, NULL, checkfree_env, "freed map", "gomap_len after free");
    expect_fatal_text(iter_stop_after_free, NULL, checkfree_env, "freed map",
                      "gomap_iter_stop after free");
}

/* ---- NULL iterators, callbacks and streams -------------------------------- */

static void null_arguments(void *arg) {
    (void)arg;
    for (const char *const *k = concmap_variants; *k; k++) {
        concmap *c;
        CHILD_CHECK(concmap_new(&c, *k, &strcfg, NULL) == 0, 10);
        gomap_str key = {"k", 1};
        CHILD_CHECK(concmap_store(c, &key, NULL) == 0, 11);
        concmap_range(c, NULL, NULL);
        concmap_free(c);
    }
    CHILD_CHECK(gomap_metrics_write_prometheus(NULL) == EINVAL, 12);
    gomap *m = freed_map();
    gomap_iter_init(NULL, m);
    CHILD_CHECK(!gomap_iter_next(NULL, NULL, NULL), 13);
    gomap_iter_stop(NULL);
    gomap_free(m);
}

TEST(null_iterator_callback_and_stream) {
    expect_clean_child(null_arguments, NULL, NULL, "NULL iterator / range fn / FILE");
}

/* ---- string lengths no object can have ------------------------------------ */

static void bogus_lengths(void *arg) {
    (void)arg;
    /* A pointer that is not readable: hashing any of its bytes crashes. */
    const char *bogus = (const char *)(uintptr_t)16;
    const size_t lens[] = {(size_t)1 << 47,       (size_t)1 << 48, (size_t)1 << 52,
                           ((size_t)1 << 56) - 1, (size_t)1 << 56, SIZE_MAX};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        gomap_str k = {bogus, lens[i]};
        uint64_t v = 1;
        gomap *m;
        CHILD_CHECK(gomap_new(&m, &strcfg) == 0, 10);
        CHILD_CHECK(gomap_set(m, &k, &v) == EINVAL, 11);
        CHILD_CHECK(gomap_get(m, &k) == NULL && !gomap_contains(m, &k), 12);
        CHILD_CHECK(!gomap_delete(m, &k) && gomap_len(m) == 0, 13);
        gomap_free(m);
        for (const char *const *kind = concmap_variants; *kind; kind++) {
            concmap *c;
            CHILD_CHECK(concmap_new(&c, *kind, &strcfg, NULL) == 0, 14);
            CHILD_CHECK(concmap_store(c, &k, &v) == EINVAL, 15);
            CHILD_CHECK(concmap_load_or_store(c, &k, &v, NULL, NULL) == EINVAL, 16);
            CHILD_CHECK(!concmap_load(c, &k, NULL), 17);
            CHILD_CHECK(!concmap_load_and_delete(c, &k, NULL), 18);
            concmap_delete(c, &k);
            CHILD_CHECK(concmap_len(c) == 0, 19);
            concmap_free(c);
        }
    }
}

TEST(string_key_longer_than_any_object_is_rejected) {
    expect_clean_child(bogus_lengths, NULL, NULL, "string keys of length 2^47..SIZE_MAX");
}

/* cowmap_store_many's documented errors: EINVAL for a key no map can hold
 * or a NULL key array, and then nothing is stored. */
TEST(cowmap_store_many_rejects_bad_keys_and_stores_nothing) {
    cowmap *m;
    REQUIRE_EQ(cowmap_new(&m, &strcfg), 0);
    gomap_str keys[2] = {{"good", 4}, {NULL, 5}};
    uint64_t vals[2] = {1, 2};
    CHECK_EQ(cowmap_store_many(m, 2, keys, vals), EINVAL);
    CHECK_EQ(cowmap_len(m), 0);
    CHECK_EQ(cowmap_store_many(m, 2, NULL, vals), EINVAL);
    CHECK_EQ(cowmap_store_many(m, 1, keys, vals), 0);
    CHECK_EQ(cowmap_len(m), 1);
    cowmap_free(m);
}

TEST_MAIN()
