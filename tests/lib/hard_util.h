/*
 * hard_util.h — shared pieces of the hardening tests (the hard_ tests,
 * the fuzz targets, tools/soak): an allocator hook that counts live bytes and
 * fails on request, the key families the tests draw from, and deliberately
 * bad user hashes.
 *
 * The functions are compiled once, in hard_util.c (the tests' helper library).
 */
#ifndef GOMAP_TESTS_HARD_UTIL_H
#define GOMAP_TESTS_HARD_UTIL_H

#include <gomap/gomap.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a counting, failing allocator --------------------------------------- */

/* Counts every allocation made through it and the bytes still live, and can
 * fail on purpose: fail_at = N makes the Nth allocation from now return NULL
 * (once); fail_all makes every allocation fail.  The counters are atomic
 * because the thread-safe maps may free from another thread (an RCU callback
 * thread, for instance); relaxed order suffices, as the tests only read them
 * after joining or after the map's own free has waited for its callbacks. */
struct hard_alloc {
    atomic_llong live_bytes;
    atomic_llong live_blocks;
    atomic_llong allocs;   /* successful allocations */
    atomic_llong attempts; /* every call, failed or not */
    atomic_llong failed;   /* calls that returned NULL on purpose */
    atomic_llong fail_at;  /* 0: off; N: the Nth attempt from arming fails */
    atomic_bool fail_all;
    atomic_llong bad_frees; /* frees whose size did not match the allocation */
};

/* Each block carries a header recording its size, so that a free with the
 * wrong size (a library bug) is counted instead of silently accepted. */
struct hard_block_header {
    size_t size;
    size_t magic;
};
#define HARD_BLOCK_MAGIC ((size_t)0x60a1b10cULL)
#define HARD_HDR         (sizeof(struct hard_block_header) < 16 ? 16 : sizeof(struct hard_block_header))

void *hard_alloc_fn(size_t size, void *ctx);

void hard_free_fn(void *p, size_t size, void *ctx);

void hard_alloc_init(struct hard_alloc *a, gomap_allocator *hook);

/* Arms the allocator so that the nth attempt from now fails (n >= 1). */
static inline void hard_fail_nth(struct hard_alloc *a, long long n) {
    atomic_store_explicit(&a->fail_at, n, memory_order_relaxed);
}
static inline void hard_fail_off(struct hard_alloc *a) {
    atomic_store_explicit(&a->fail_at, 0, memory_order_relaxed);
    atomic_store_explicit(&a->fail_all, false, memory_order_relaxed);
}
static inline long long hard_live(struct hard_alloc *a) {
    return atomic_load_explicit(&a->live_bytes, memory_order_relaxed);
}
static inline long long hard_attempts(struct hard_alloc *a) {
    return atomic_load_explicit(&a->attempts, memory_order_relaxed);
}
static inline long long hard_failed(struct hard_alloc *a) {
    return atomic_load_explicit(&a->failed, memory_order_relaxed);
}

/* ---- key families --------------------------------------------------------- */

/* The tests name keys by a small id and derive the key of each kind from it,
 * so that one reference table (indexed by id) serves every key kind. */
enum hard_kind { HARD_U64, HARD_U32, HARD_STRING, HARD_BYTES, HARD_KINDS };

extern const char *const hard_kind_names[HARD_KINDS];

enum { HARD_BYTES_KEY_SIZE = 24, HARD_STR_MAX = 80 };

/* Storage for one key of any kind.  For strings, `str` points into `buf`. */
struct hard_key {
    uint64_t u64;
    uint32_t u32;
    unsigned char bytes[HARD_BYTES_KEY_SIZE];
    gomap_str str;
    char buf[HARD_STR_MAX];
};

static inline uint64_t hard_mix(uint64_t x) {
    x ^= x >> 31;
    x *= 0x7fb5d329728ea185ULL;
    x ^= x >> 27;
    x *= 0x81dadef4bc2dd44dULL;
    x ^= x >> 33;
    return x;
}

/* Builds the key for id.  Integer keys spread the id over all bits (and
 * include 0); string keys have lengths 0 .. HARD_STR_MAX-1 so that both short
 * and long strings, and the empty string, occur. */
const void *hard_key_make(struct hard_key *k, enum hard_kind kind, uint32_t id);

/* Recovers the id from a key of the map (for iteration checks). */
uint32_t hard_key_id(enum hard_kind kind, const void *key, uint32_t nids);

/* ---- user hash modes ------------------------------------------------------- */

/* How a map hashes: the built-in hash, or a user hash that is good (seeded
 * built-in), constant (every key collides), or truncated to a few bits (low
 * bits only: few buckets used; or top byte only: every tophash differs but
 * every key lands in bucket 0). */
enum hard_hash_mode {
    HARD_HASH_BUILTIN,
    HARD_HASH_USER_GOOD,
    HARD_HASH_CONSTANT,
    HARD_HASH_LOW3,
    HARD_HASH_TOP8,
    HARD_HASH_MODES
};

extern const char *const hard_hash_names[HARD_HASH_MODES];

struct hard_hash_ctx {
    enum hard_kind kind;
    enum hard_hash_mode mode;
};

uint64_t hard_hash_good(const struct hard_hash_ctx *c, const void *key, uint64_t seed);

uint64_t hard_user_hash(const void *key, uint64_t seed, void *ctx);

bool hard_user_equal(const void *a, const void *b, void *ctx);

/* Fills a config for a key kind and hash mode.  ctx must outlive the map. */
void hard_config(gomap_config *cfg, enum hard_kind kind, enum hard_hash_mode mode,
                 struct hard_hash_ctx *ctx, size_t value_size, const gomap_allocator *alloc);

#endif /* GOMAP_TESTS_HARD_UTIL_H */
