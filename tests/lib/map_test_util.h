/*
 * map_test_util.h — helpers shared by the core map's tests (map_*_test.c):
 * a counting allocator that can fail the Nth allocation, deterministic
 * random numbers, and keys of every kind derived from a small integer, so
 * that a test can keep its reference model indexed by that integer.
 */
#ifndef GOMAP_TESTS_MAP_TEST_UTIL_H
#define GOMAP_TESTS_MAP_TEST_UTIL_H

#include <gomap/gomap.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- deterministic randomness -------------------------------------------- */

/* splitmix64: a tiny generator whose whole state is one word, so a failing
 * seed can be replayed by hand. */
static inline uint64_t tu_next(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline uint64_t tu_below(uint64_t *state, uint64_t n) {
    return n ? tu_next(state) % n : 0;
}

/* Fills `size` bytes with a pattern that depends on every bit of `tag`, so
 * two values with different tags differ in their first bytes. */
static inline void tu_fill(void *dst, size_t size, uint64_t tag) {
    uint64_t s = tag;
    unsigned char *p = (unsigned char *)dst;
    for (size_t i = 0; i < size; i++) {
        if (i % 8 == 0)
            s = tu_next(&s) ^ tag;
        p[i] = (unsigned char)(s >> (8 * (i % 8)));
    }
}

/* ---- a counting, failing allocator ---------------------------------------- */

/* Every block carries a 16-byte header with its size, so free can check that
 * gomap passes back the size it asked for, and live bytes can be counted. */
struct tu_alloc {
    size_t live_bytes;
    size_t live_blocks;
    uint64_t calls;   /* allocations attempted since the last tu_alloc_arm */
    uint64_t fail_at; /* the allocation (1-based, since arming) to fail; 0 = never */
    uint64_t failed;  /* how many allocations were refused */
    uint64_t bad_frees;
};

enum { TU_HDR = 16 };

void *tu_alloc_fn(size_t size, void *ctx);

void tu_free_fn(void *ptr, size_t size, void *ctx);

/* Fails the fail_at-th allocation from now on (0: never fail). */
static inline void tu_alloc_arm(struct tu_alloc *a, uint64_t fail_at) {
    a->calls = 0;
    a->fail_at = fail_at;
}

/* ---- keys derived from an index ------------------------------------------ */

/* A key of any kind built from index i; decode_key maps it back.  The bytes
 * a key points to live in the struct, so it must outlive its use. */
struct tu_key {
    gomap_key_kind kind;
    uint64_t u64;
    uint32_t u32;
    gomap_str str;
    char buf[160]; /* string bytes or BYTES key bytes */
};

enum { TU_BYTES_KEY_SIZE = 24 };

/* String of index i: "k<i>" padded with a length that varies with i, index 0
 * is the empty string, and every third key holds NUL bytes. */
void tu_key_make(struct tu_key *k, gomap_key_kind kind, uint64_t i);

static inline const void *tu_key_ptr(const struct tu_key *k) {
    switch (k->kind) {
    case GOMAP_KEY_U32:
        return &k->u32;
    case GOMAP_KEY_U64:
        return &k->u64;
    case GOMAP_KEY_STRING:
    case GOMAP_KEY_STRING_BORROWED:
        return &k->str;
    default:
        return k->buf;
    }
}

/* The index of a key as returned by gomap_iter_next. */
uint64_t tu_key_index(gomap_key_kind kind, const void *key);

/* A config for a key kind with the given value size. */
static inline gomap_config tu_config(gomap_key_kind kind, size_t value_size) {
    gomap_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.key_kind = kind;
    cfg.key_size = kind == GOMAP_KEY_BYTES ? TU_BYTES_KEY_SIZE : 0;
    cfg.value_size = value_size;
    return cfg;
}

/* A map with malloc and the built-in hash; NULL if gomap_new fails. */
gomap *tu_new_map(gomap_key_kind kind, size_t value_size);

#endif /* GOMAP_TESTS_MAP_TEST_UTIL_H */
