/*
 * concmap_util.h — what the thread-safe family's tests share: keys and
 * values of every tested shape made from small integers, and the loop over
 * every variant in concmap_variants (so a variant added to the table is tested
 * by every family test with no test change).
 */
#ifndef GOMAP_TESTS_CONCMAP_UTIL_H
#define GOMAP_TESTS_CONCMAP_UTIL_H

#include <gomap/concmap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* For every variant name in concmap_variants. */
#define FOR_EACH_VARIANT(k)                                                                        \
    for (const char *const *k##_p = concmap_variants, *k; (k = *k##_p); k##_p++)

/* A key of either tested kind, built from an integer id.  String keys are
 * "key:<id>:" followed by id % 41 'x's, so lengths run from 7 to past 48
 * bytes (inline and long strings alike). */
struct fam_key {
    uint64_t u;
    gomap_str s;
    char buf[80];
};

const void *fam_key(struct fam_key *k, gomap_key_kind kind, uint64_t id);

/* The id a key was built from (UINT64_MAX for a malformed key). */
uint64_t fam_key_id(gomap_key_kind kind, const void *key);

/* Values of 8 or 24 bytes from an integer: 24-byte values carry the integer
 * and two words derived from it, so a torn or mixed copy is detected. */
enum { FAM_MAX_VALUE = 24 };

static inline void fam_val(void *out, size_t size, uint64_t v) {
    uint64_t w[3] = {v, v * 0x9e3779b97f4a7c15u + 1, ~v};
    memcpy(out, w, size);
}

/* The integer a value was built from, or UINT64_MAX if the value is not one
 * fam_val makes. */
static inline uint64_t fam_val_id(const void *p, size_t size) {
    uint64_t w[3], want[3];
    memcpy(w, p, size);
    fam_val(want, size, w[0]);
    return memcmp(w, want, size) == 0 ? w[0] : UINT64_MAX;
}

/* Loads key id and returns its value's integer, or FAM_ABSENT if absent. */
#define FAM_ABSENT (UINT64_MAX - 1)
static inline uint64_t fam_load_id(concmap *m, gomap_key_kind kind, size_t value_size,
                                   uint64_t id) {
    struct fam_key k;
    unsigned char v[FAM_MAX_VALUE];
    if (!concmap_load(m, fam_key(&k, kind, id), v))
        return FAM_ABSENT;
    return fam_val_id(v, value_size);
}

static inline gomap_config fam_config(gomap_key_kind kind, size_t value_size) {
    gomap_config c;
    memset(&c, 0, sizeof c);
    c.key_kind = kind;
    c.value_size = value_size;
    return c;
}

/* The key/value shapes every single-threaded test runs over. */
struct fam_shape {
    gomap_key_kind kind;
    size_t value_size;
    const char *name;
};
enum { FAM_NSHAPES = 4 };
extern const struct fam_shape fam_shapes[FAM_NSHAPES];

/* A small deterministic generator (splitmix64), seedable per test. */
static inline uint64_t fam_rand(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static inline uint64_t fam_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif /* GOMAP_TESTS_CONCMAP_UTIL_H */
