/*
 * hard_badinput.c — bad input: every misuse gets a
 * documented error code or a clear fatal message, never undefined behaviour
 * inside the library.  docs/errors.md lists each case with its outcome; the
 * cases here are that table's proof.
 *
 * Cases that may crash run in a child process (run_in_child), so that a
 * segfault is reported as a failure of that case instead of ending the run.
 * A child that dies by SIGSEGV/SIGBUS (or an ASan report) is undefined
 * behaviour: always a failure.  A fatal error must be SIGABRT with the
 * expected "fatal error: ..." (or "gomap: ...") text on stderr.
 */
#include "check.h"
#include "hard_util.h"

#include <gomap/concmap.h>

#include <errno.h>
#include <signal.h>

static const gomap_config u64cfg = {GOMAP_KEY_U64, 0, 8, 0, 0, 0, 0, 0};
static const gomap_config strcfg = {GOMAP_KEY_STRING, 0, 8, 0, 0, 0, 0, 0};

/* gomap_new(&m, cfg) must fail with `want` (or one of two codes) and NULL. */
static void expect_new_error(const gomap_config *cfg, int want, int alt, const char *what) {
    gomap *m = (gomap *)&m;
    int rc = gomap_new(&m, cfg);
    if (!(rc == want || (alt && rc == alt)) || m != NULL) {
        char msg[200];
        snprintf(msg, sizeof msg, "%s: gomap_new returned %d (want %d), out %p", what, rc, want,
                 (void *)m);
        check_fail(__FILE__, __LINE__, msg);
        if (rc == 0)
            gomap_free(m);
    }
}

TEST(new_rejects_null_arguments) {
    gomap *m = (gomap *)&m;
    CHECK_EQ(gomap_new(NULL, &u64cfg), EINVAL);
    CHECK_EQ(gomap_new(&m, NULL), EINVAL);
    CHECK(m == NULL);
}

TEST(new_rejects_bad_sizes_and_kinds) {
    gomap_config c = u64cfg;
    c.key_kind = (gomap_key_kind)99;
    expect_new_error(&c, EINVAL, 0, "unknown key kind");
    c.key_kind = (gomap_key_kind)-1;
    expect_new_error(&c, EINVAL, 0, "negative key kind");

    c = u64cfg;
    c.key_kind = GOMAP_KEY_BYTES;
    c.key_size = 0;
    expect_new_error(&c, EINVAL, 0, "bytes key of size 0");
    c.key_size = GOMAP_MAX_KEY_SIZE + 1;
    expect_new_error(&c, EINVAL, 0, "bytes key over the maximum");
    c.key_size = SIZE_MAX;
    expect_new_error(&c, EINVAL, 0, "bytes key of SIZE_MAX");

    c = u64cfg;
    c.value_size = GOMAP_MAX_VALUE_SIZE + 1;
    expect_new_error(&c, EINVAL, 0, "value over the maximum");
    c.value_size = SIZE_MAX;
    expect_new_error(&c, EINVAL, 0, "value of SIZE_MAX");
}

TEST(new_rejects_half_a_user_hash) {
    struct hard_hash_ctx hctx = {HARD_BYTES, HARD_HASH_USER_GOOD};
    gomap_config c = {GOMAP_KEY_BYTES, 16, 8, 0, hard_user_hash, NULL, &hctx, 0};
    expect_new_error(&c, EINVAL, 0, "bytes key, hash without equal");
    c.hash = NULL;
    c.equal = hard_user_equal;
    expect_new_error(&c, EINVAL, 0, "bytes key, equal without hash");
}

TEST(new_rejects_an_allocator_without_functions) {
    gomap_allocator none = {NULL, NULL, NULL};
    gomap_config c = u64cfg;
    c.allocator = &none;
    expect_new_error(&c, EINVAL, 0, "allocator with NULL functions");
}

static void absurd_hints(void *arg) {
    (void)arg;
    alarm(20); /* an overflowing size computation may loop forever */
    struct hard_alloc a;
    gomap_allocator hook;
    hard_alloc_init(&a, &hook);
    static const size_t hints[] = {SIZE_MAX, SIZE_MAX / 2, (size_t)1 << 62, (size_t)1 << 48};
    for (size_t i = 0; i < sizeof hints / sizeof hints[0]; i++) {
        gomap_config c = u64cfg;
        c.allocator = &hook;
        c.hint = hints[i];
        gomap *m = (gomap *)&m;
        int rc = gomap_new(&m, &c);
        if ((rc != ENOMEM && rc != EINVAL) || m != NULL || hard_live(&a) != 0)
            exit(10 + (int)i);
    }
    /* the same with malloc: must fail cleanly, not overflow a size */
    gomap_config c = u64cfg;
    c.hint = SIZE_MAX;
    gomap *m = (gomap *)&m;
    int rc = gomap_new(&m, &c);
    if ((rc != ENOMEM && rc != EINVAL) || m != NULL)
        exit(20);
}

TEST(absurd_hint_is_enomem_not_overflow) {
    static struct child_result r;
    run_in_child(absurd_hints, NULL, NULL, &r);
    if (!(r.exited && r.status == 0)) {
        char msg[512];
        snprintf(msg, sizeof msg,
                 "gomap_new with hint SIZE_MAX etc.: want ENOMEM/EINVAL; got %s %d (SIGALRM=%d: "
                 "looped), stderr: %.200s",
                 r.exited ? "exit" : "signal", r.status, SIGALRM, r.err);
        check_fail(__FILE__, __LINE__, msg);
    }
}

TEST(key_size_given_for_a_fixed_kind_is_ignored_or_rejected) {
    gomap_config c = u64cfg;
    c.key_size = 4; /* mismatch: u64 keys are 8 bytes */
    gomap *m = NULL;
    int rc = gomap_new(&m, &c);
    CHECK(rc == 0 || rc == EINVAL);
    if (rc == 0) {
        uint64_t k = 0x1122334455667788ULL, v = 1;
        CHECK_EQ(gomap_set(m, &k, &v), 0);
        k ^= 0xff00000000000000ULL; /* differs only in the high bytes */
        CHECK(gomap_get(m, &k) == NULL);
        gomap_free(m);
    }
}

TEST(nil_map_reads_as_empty) {
    uint64_t k = 1;
    CHECK(gomap_get(NULL, &k) == NULL);
    CHECK(!gomap_contains(NULL, &k));
    CHECK_EQ(gomap_len(NULL), 0);
    CHECK(!gomap_delete(NULL, &k));
    gomap_clear(NULL);
    gomap_free(NULL);
    gomap *c = (gomap *)&c;
    CHECK_EQ(gomap_clone(NULL, &c), 0);
    CHECK(c == NULL);
    gomap_iter it;
    gomap_iter_init(&it, NULL);
    CHECK(!gomap_iter_next(&it, NULL, NULL));
}

TEST(clone_rejects_null_out) {
    gomap *m = NULL;
    REQUIRE_EQ(gomap_new(&m, &u64cfg), 0);
    CHECK_EQ(gomap_clone(m, NULL), EINVAL);
    gomap_free(m);
}

TEST(null_value_zero_fills) {
    gomap *m = NULL;
    REQUIRE_EQ(gomap_new(&m, &u64cfg), 0);
    uint64_t k = 3, v = 77;
    CHECK_EQ(gomap_set(m, &k, &v), 0);
    CHECK_EQ(gomap_set(m, &k, NULL), 0);
    const uint64_t *p = (const uint64_t *)gomap_get(m, &k);
    CHECK(p && *p == 0);
    gomap_free(m);
}

/* ---- cases that may end the process ------------------------------------------- */

/* The child must have died of SIGABRT with `text` on stderr. */
static void expect_fatal(void (*fn)(void *), void *arg, const char *const *env, const char *text,
                         const char *what) {
    static struct child_result r;
    run_in_child(fn, arg, env, &r);
    bool ok = !r.exited && r.status == SIGABRT && strstr(r.err, text) != NULL;
    if (!ok) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s: want SIGABRT with \"%s\"; got %s %d, stderr: %.200s", what,
                 text, r.exited ? "exit" : "signal", r.status, r.err);
        check_fail(__FILE__, __LINE__, msg);
    }
}

/* The child must have ended normally (the function checked the outcome and
 * exited 0), or by SIGABRT with a clear gomap message; never by another
 * signal (segfault, ASan's report).  Returns 1 for a normal end, 2 for a
 * fatal message, 0 for a failure. */
static int expect_defined(void (*fn)(void *), void *arg, const char *what) {
    static struct child_result r;
    run_in_child(fn, arg, NULL, &r);
    if (r.exited && r.status == 0)
        return 1;
    if (!r.exited && r.status == SIGABRT &&
        (strstr(r.err, "fatal error:") || strstr(r.err, "gomap:")) && !strstr(r.err, "Sanitizer"))
        return 2;
    char msg[512];
    snprintf(msg, sizeof msg, "%s: undefined behaviour: %s %d, stderr: %.300s", what,
             r.exited ? "exit" : "signal", r.status, r.err);
    check_fail(__FILE__, __LINE__, msg);
    return 0;
}

static void set_nil(void *arg) {
    (void)arg;
    uint64_t k = 1, v = 2;
    gomap_set(NULL, &k, &v);
}

TEST(nil_map_write_is_fatal) {
    expect_fatal(set_nil, NULL, NULL, "fatal error: assignment to entry in nil map",
                 "gomap_set(NULL)");
}

/* A string key whose length no memory can hold: the map must not read it. */
static char tiny[4] = "abc";

static void huge_string_ops(void *arg) {
    size_t len = *(size_t *)arg;
    gomap *m = NULL;
    if (gomap_new(&m, &strcfg) != 0)
        exit(3);
    gomap_str ok = {"ok", 2};
    uint64_t v = 5;
    if (gomap_set(m, &ok, &v) != 0)
        exit(4);
    gomap_str k = {tiny, len};
    int rc = gomap_set(m, &k, &v);
    if (rc != EINVAL && rc != ENOMEM)
        exit(10);
    if (gomap_get(m, &k) != NULL)
        exit(11);
    if (gomap_contains(m, &k))
        exit(12);
    if (gomap_delete(m, &k))
        exit(13);
    if (gomap_len(m) != 1 || !gomap_get(m, &ok))
        exit(14);
    gomap_free(m);
}

TEST(string_key_longer_than_memory) {
    /* longer than PTRDIFF_MAX: no object can be that long */
    static size_t lens[] = {SIZE_MAX, (size_t)PTRDIFF_MAX + 1};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "string key of length %zu", lens[i]);
        static struct child_result r;
        run_in_child(huge_string_ops, &lens[i], NULL, &r);
        if (!(r.exited && r.status == 0)) {
            char msg[512];
            snprintf(
                msg, sizeof msg,
                "%s: want EINVAL/ENOMEM from set and absent from reads; got %s %d, stderr: %.300s",
                what, r.exited ? "exit" : "signal", r.status, r.err);
            check_fail(__FILE__, __LINE__, msg);
        }
    }
}

static void null_key(void *arg) {
    (void)arg;
    gomap *m = NULL;
    if (gomap_new(&m, &u64cfg) != 0)
        exit(3);
    uint64_t v = 1;
    int rc = gomap_set(m, NULL, &v);
    if (rc != EINVAL)
        exit(10);
    if (gomap_get(m, NULL) != NULL)
        exit(11);
    if (gomap_delete(m, NULL))
        exit(12);
    gomap_free(m);
}

TEST(null_key_pointer) {
    expect_defined(null_key, NULL, "NULL key pointer");
}

static void iter_after_free(void *arg) {
    (void)arg;
    gomap *m = NULL;
    if (gomap_new(&m, &u64cfg) != 0)
        exit(3);
    for (uint64_t k = 0; k < 100; k++)
        gomap_set(m, &k, &k);
    gomap_iter it;
    gomap_iter_init(&it, m);
    (void)gomap_iter_next(&it, NULL, NULL);
    gomap_free(m);
    (void)gomap_iter_next(&it, NULL, NULL); /* use after free */
    exit(20);                               /* not detected */
}

/* The debug mode that checks for use of a freed map (docs/errors.md). */
#define HARD_DEBUG_FREED_ENV "GOMAP_DEBUG=checkfree=1"

TEST(iterator_used_after_the_map_was_freed_debug_mode) {
    static const char *const env[] = {HARD_DEBUG_FREED_ENV, NULL};
    static struct child_result r;
    run_in_child(iter_after_free, NULL, env, &r);
    /* "concurrent map iteration and map write" would be an accident of
     * reading freed memory, not a diagnosis */
    bool ok = !r.exited && r.status == SIGABRT && strstr(r.err, "fatal error:") &&
              strstr(r.err, "freed") && !strstr(r.err, "Sanitizer");
    if (!ok) {
        char msg[512];
        snprintf(msg, sizeof msg,
                 "gomap_iter_next after gomap_free (%s): want SIGABRT and a fatal error naming "
                 "the freed map; got %s %d, stderr: %.200s",
                 HARD_DEBUG_FREED_ENV, r.exited ? "exit" : "signal", r.status, r.err);
        check_fail(__FILE__, __LINE__, msg);
    }
}

/* A hash function that calls into the map it serves. */
static gomap *reentrant_map;
static uint64_t reentrant_hash(const void *key, uint64_t seed, void *ctx) {
    (void)ctx;
    if (reentrant_map) {
        uint64_t k = 12345;
        (void)gomap_get(reentrant_map, &k);
    }
    return gomap_hash_u64(*(const uint64_t *)key, seed);
}
static bool u64_equal(const void *a, const void *b, void *ctx) {
    (void)ctx;
    return *(const uint64_t *)a == *(const uint64_t *)b;
}

static void reentrant_set(void *arg) {
    (void)arg;
    gomap_config c = {GOMAP_KEY_U64, 0, 8, 0, reentrant_hash, u64_equal, NULL, 0};
    gomap *m = NULL;
    if (gomap_new(&m, &c) != 0)
        exit(3);
    reentrant_map = m;
    uint64_t k = 1, v = 1;
    gomap_set(m, &k, &v);
    k = 2;
    gomap_set(m, &k, &v);
    exit(20);
}

TEST(hash_function_calling_into_its_map_is_detected) {
    /* the hash runs inside the write (the writing flag is set), so the read
     * it makes is a "concurrent" read during a write */
    expect_fatal(reentrant_set, NULL, NULL, "fatal error: concurrent map read and map write",
                 "user hash reading its own map during a set");
}

/* ---- concmap ------------------------------------------------------------------ */

TEST(concmap_new_rejects_bad_arguments) {
    concmap *m = (concmap *)&m;
    CHECK_EQ(concmap_new(NULL, "rw", &u64cfg, NULL), EINVAL);
    CHECK_EQ(concmap_new(&m, NULL, &u64cfg, NULL), EINVAL);
    CHECK(m == NULL);
    m = (concmap *)&m;
    CHECK_EQ(concmap_new(&m, "nope", &u64cfg, NULL), EINVAL);
    CHECK(m == NULL);
    CHECK_EQ(concmap_new(&m, "", &u64cfg, NULL), EINVAL);
    for (const char *const *k = concmap_variants; *k; k++) {
        m = (concmap *)&m;
        CHECK_EQ(concmap_new(&m, *k, NULL, NULL), EINVAL);
        CHECK(m == NULL);
        gomap_config c = u64cfg;
        c.value_size = SIZE_MAX;
        m = (concmap *)&m;
        CHECK_EQ(concmap_new(&m, *k, &c, NULL), EINVAL);
        CHECK(m == NULL);
        c = u64cfg;
        c.key_kind = (gomap_key_kind)99;
        CHECK_EQ(concmap_new(&m, *k, &c, NULL), EINVAL);
    }
    concmap_free(NULL);
}

static void shard_bits_absurd(void *arg) {
    concmap_options o = {.shard_bits = *(unsigned *)arg};
    concmap *m = NULL;
    int rc = concmap_new(&m, "shard", &u64cfg, &o);
    if (rc != 0 && rc != EINVAL && rc != ENOMEM)
        exit(10);
    if (rc == 0) {
        uint64_t k = 1, v = 2, out = 0;
        if (concmap_store(m, &k, &v) != 0 || !concmap_load(m, &k, &out) || out != 2)
            exit(11);
        concmap_free(m);
    }
}

TEST(shardmap_absurd_shard_bits) {
    static unsigned bits[] = {20, 31, 32, 63, 64, 1000, UINT32_MAX};
    for (size_t i = 0; i < sizeof bits / sizeof bits[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "shard_bits %u", bits[i]);
        CHECK_EQ(expect_defined(shard_bits_absurd, &bits[i], what), 1);
    }
}

static void concmap_null_handle(void *arg) {
    const char *op = (const char *)arg;
    uint64_t k = 1, v = 1;
    bool b;
    if (!strcmp(op, "load"))
        (void)concmap_load(NULL, &k, &v);
    else if (!strcmp(op, "store"))
        (void)concmap_store(NULL, &k, &v);
    else if (!strcmp(op, "len"))
        (void)concmap_len(NULL);
    else if (!strcmp(op, "delete"))
        concmap_delete(NULL, &k);
    else if (!strcmp(op, "swap"))
        (void)concmap_swap(NULL, &k, &v, &v, &b);
    exit(0);
}

TEST(concmap_null_handle_is_not_a_segfault) {
    static char ops[][8] = {"load", "store", "len", "delete", "swap"};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "concmap_%s(NULL)", ops[i]);
        expect_defined(concmap_null_handle, ops[i], what);
    }
}

static void concmap_huge_string(void *arg) {
    const char *kind = (const char *)arg;
    concmap *m = NULL;
    if (concmap_new(&m, kind, &strcfg, NULL) != 0)
        exit(3);
    gomap_str k = {tiny, SIZE_MAX};
    uint64_t v = 1, out;
    bool b;
    int rc = concmap_store(m, &k, &v);
    if (rc != EINVAL && rc != ENOMEM)
        exit(10);
    if (concmap_load(m, &k, &out))
        exit(11);
    rc = concmap_load_or_store(m, &k, &v, &out, &b);
    if (rc != EINVAL && rc != ENOMEM)
        exit(12);
    concmap_delete(m, &k);
    if (concmap_len(m) != 0)
        exit(13);
    concmap_free(m);
}

TEST(concmap_string_key_longer_than_memory) {
    for (const char *const *k = concmap_variants; *k; k++) {
        char what[64];
        snprintf(what, sizeof what, "%s: string key of length SIZE_MAX", *k);
        static struct child_result r;
        char variant[32];
        snprintf(variant, sizeof variant, "%s", *k);
        run_in_child(concmap_huge_string, variant, NULL, &r);
        if (!(r.exited && r.status == 0)) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s: got %s %d, stderr: %.300s", what,
                     r.exited ? "exit" : "signal", r.status, r.err);
            check_fail(__FILE__, __LINE__, msg);
        }
    }
}

TEST_MAIN()
