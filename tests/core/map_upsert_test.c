/*
 * map_upsert_test.c — gomap_upsert: find-or-insert in one lookup, the slot it
 * returns, and its errors (EINVAL, ENOMEM with the map unchanged, the nil-map
 * fatal error), checked against gomap_get and a plain array.
 */
#include <errno.h>

#include <gomap/gomap.h>

#include "check.h"

static gomap *new_map(gomap_key_kind kind, size_t value_size, const gomap_allocator *a) {
    gomap_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.key_kind = kind;
    cfg.value_size = value_size;
    cfg.allocator = a;
    gomap *m = NULL;
    CHECK_EQ(gomap_new(&m, &cfg), 0);
    return m;
}

TEST(insert_then_find) {
    gomap *m = new_map(GOMAP_KEY_U64, sizeof(uint64_t), NULL);
    uint64_t k = 42;
    bool inserted = false;
    uint64_t *v = gomap_upsert(m, &k, &inserted);
    REQUIRE(v != NULL);
    CHECK(inserted);
    CHECK_EQ(*v, 0); /* a new key's value is zero-filled */
    *v = 7;
    CHECK_EQ(gomap_len(m), 1);
    uint64_t *again = gomap_upsert(m, &k, &inserted);
    REQUIRE(again != NULL);
    CHECK(!inserted);
    CHECK_EQ(*again, 7);
    CHECK(again == (uint64_t *)gomap_get(m, &k)); /* the slot gomap_get finds */
    CHECK_EQ(gomap_len(m), 1);
    CHECK(gomap_upsert(m, &k, NULL) != NULL); /* inserted may be NULL */
    gomap_free(m);
}

/* Counting, the idiom upsert exists for, across growth: every count matches
 * a plain array's. */
TEST(counts_across_growth) {
    enum { KEYS = 5000, ROUNDS = 7 };
    static uint64_t want[KEYS];
    memset(want, 0, sizeof want);
    gomap *m = new_map(GOMAP_KEY_U32, sizeof(uint64_t), NULL);
    size_t new_keys = 0;
    for (uint32_t r = 0; r < ROUNDS; r++)
        for (uint32_t i = 0; i < KEYS; i++) {
            uint32_t k = (i * 2654435761u + r) % KEYS;
            bool inserted;
            uint64_t *v = gomap_upsert(m, &k, &inserted);
            REQUIRE(v != NULL);
            CHECK_EQ(inserted, want[k] == 0);
            new_keys += inserted;
            ++*v;
            want[k]++;
        }
    CHECK_EQ(gomap_len(m), new_keys);
    for (uint32_t k = 0; k < KEYS; k++) {
        const uint64_t *v = gomap_get(m, &k);
        if (want[k] == 0) {
            CHECK(v == NULL);
        } else {
            REQUIRE(v != NULL);
            CHECK_EQ(*v, want[k]);
        }
    }
    gomap_free(m);
}

TEST(string_keys_are_copied) {
    gomap *m = new_map(GOMAP_KEY_STRING, sizeof(uint64_t), NULL);
    const char *words[] = {"the", "cat", "the", "hat", "the", "cat"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        char buf[16];
        strcpy(buf, words[i]);
        gomap_str k = gomap_cstr(buf);
        uint64_t *n = gomap_upsert(m, &k, NULL);
        REQUIRE(n != NULL);
        ++*n;
        memset(buf, 'z', sizeof buf); /* the map owns its own copy */
    }
    CHECK_EQ(gomap_len(m), 3);
    gomap_str the = gomap_cstr("the"), cat = gomap_cstr("cat"), hat = gomap_cstr("hat");
    CHECK_EQ(*(uint64_t *)gomap_get(m, &the), 3);
    CHECK_EQ(*(uint64_t *)gomap_get(m, &cat), 2);
    CHECK_EQ(*(uint64_t *)gomap_get(m, &hat), 1);
    gomap_free(m);
}

TEST(set_has_a_dummy_slot) {
    gomap *m = new_map(GOMAP_KEY_U64, 0, NULL);
    uint64_t k = 1;
    bool inserted;
    CHECK(gomap_upsert(m, &k, &inserted) != NULL);
    CHECK(inserted);
    CHECK(gomap_upsert(m, &k, &inserted) != NULL);
    CHECK(!inserted);
    CHECK(gomap_contains(m, &k));
    gomap_free(m);
}

TEST(bad_key_is_einval) {
    gomap *m = new_map(GOMAP_KEY_STRING, 8, NULL);
    bool inserted = true;
    errno = 0;
    CHECK(gomap_upsert(m, NULL, &inserted) == NULL);
    CHECK_EQ(errno, EINVAL);
    CHECK(!inserted);
    gomap_str huge = {"x", SIZE_MAX};
    errno = 0;
    CHECK(gomap_upsert(m, &huge, &inserted) == NULL);
    CHECK_EQ(errno, EINVAL);
    CHECK_EQ(gomap_len(m), 0);
    gomap_free(m);
}

/* An allocator that fails once its budget of calls is spent. */
static void *budget_alloc(size_t size, void *ctx) {
    int *budget = ctx;
    if (*budget <= 0)
        return NULL;
    --*budget;
    return malloc(size);
}
static void budget_free(void *p, size_t size, void *ctx) {
    (void)size;
    (void)ctx;
    free(p);
}

TEST(enomem_leaves_map_unchanged) {
    int budget = 1 << 30;
    gomap_allocator a = {budget_alloc, budget_free, &budget};
    gomap *m = new_map(GOMAP_KEY_STRING, sizeof(uint64_t), &a);
    char buf[32];
    uint64_t i = 0;
    /* Fill until a growth or a key copy needs memory the budget refuses. */
    budget = 40;
    for (;; i++) {
        snprintf(buf, sizeof buf, "key-%llu", (unsigned long long)i);
        gomap_str k = gomap_cstr(buf);
        size_t before = gomap_len(m);
        bool inserted = true;
        errno = 0;
        uint64_t *v = gomap_upsert(m, &k, &inserted);
        if (!v) {
            CHECK_EQ(errno, ENOMEM);
            CHECK(!inserted);
            CHECK_EQ(gomap_len(m), before);
            CHECK(gomap_get(m, &k) == NULL);
            break;
        }
        *v = i;
        REQUIRE(i < 100000);
    }
    for (uint64_t j = 0; j < i; j++) { /* every earlier key kept its value */
        snprintf(buf, sizeof buf, "key-%llu", (unsigned long long)j);
        gomap_str k = gomap_cstr(buf);
        const uint64_t *v = gomap_get(m, &k);
        REQUIRE(v != NULL);
        CHECK_EQ(*v, j);
    }
    gomap_free(m);
}

static void upsert_nil(void *arg) {
    (void)arg;
    uint64_t k = 1;
    (void)gomap_upsert(NULL, &k, NULL);
}

TEST(nil_map_is_fatal) {
    struct child_result r;
    run_in_child(upsert_nil, NULL, NULL, &r);
    CHECK(!r.exited);
    CHECK(strstr(r.err, "fatal error: assignment to entry in nil map") != NULL);
}

TEST_MAIN()
