/*
 * hard_util.h — shared pieces of the hardening tests (the hard_ tests,
 * the fuzz targets, tools/soak): an allocator hook that counts live bytes and
 * fails on request, the key families the tests draw from, and deliberately
 * bad user hashes.
 *
 * Everything is static: each test program includes it once.
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

/* 1 in sanitizer builds (2-15x slower), where tests shrink their loops
 * while keeping the minimum counts their issue names. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define HARD_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define HARD_SANITIZED 1
#endif
#endif
#ifndef HARD_SANITIZED
#define HARD_SANITIZED 0
#endif

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

static void *hard_alloc_fn(size_t size, void *ctx) {
    struct hard_alloc *a = (struct hard_alloc *)ctx;
    atomic_fetch_add_explicit(&a->attempts, 1, memory_order_relaxed);
    if (atomic_load_explicit(&a->fail_all, memory_order_relaxed)) {
        atomic_fetch_add_explicit(&a->failed, 1, memory_order_relaxed);
        return NULL;
    }
    long long n = atomic_load_explicit(&a->fail_at, memory_order_relaxed);
    if (n > 0) {
        if (atomic_fetch_sub_explicit(&a->fail_at, 1, memory_order_relaxed) == 1) {
            atomic_fetch_add_explicit(&a->failed, 1, memory_order_relaxed);
            return NULL;
        }
    }
    if (size > ((size_t)1 << 40))
        return NULL; /* absurd requests fail as a real allocator would */
    struct hard_block_header *h = (struct hard_block_header *)malloc(HARD_HDR + size);
    if (!h)
        return NULL;
    h->size = size;
    h->magic = HARD_BLOCK_MAGIC;
    atomic_fetch_add_explicit(&a->allocs, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&a->live_blocks, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&a->live_bytes, (long long)size, memory_order_relaxed);
    return (char *)h + HARD_HDR;
}

static void hard_free_fn(void *p, size_t size, void *ctx) {
    struct hard_alloc *a = (struct hard_alloc *)ctx;
    if (!p)
        return;
    struct hard_block_header *h = (struct hard_block_header *)((char *)p - HARD_HDR);
    if (h->magic != HARD_BLOCK_MAGIC || h->size != size)
        atomic_fetch_add_explicit(&a->bad_frees, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&a->live_blocks, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&a->live_bytes, (long long)h->size, memory_order_relaxed);
    h->magic = 0;
    free(h);
}

static inline void hard_alloc_init(struct hard_alloc *a, gomap_allocator *hook) {
    memset(a, 0, sizeof *a);
    hook->alloc = hard_alloc_fn;
    hook->free = hard_free_fn;
    hook->ctx = a;
}

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

static const char *const hard_kind_names[HARD_KINDS] = {"u64", "u32", "string", "bytes"};

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
static inline const void *hard_key_make(struct hard_key *k, enum hard_kind kind, uint32_t id) {
    switch (kind) {
    case HARD_U64:
        k->u64 = id == 0 ? 0 : hard_mix(id);
        return &k->u64;
    case HARD_U32:
        k->u32 = id == 0 ? 0 : (uint32_t)hard_mix(id);
        return &k->u32;
    case HARD_BYTES:
        memset(k->bytes, 0, sizeof k->bytes);
        memcpy(k->bytes, &id, sizeof id);
        k->bytes[HARD_BYTES_KEY_SIZE - 1] = (unsigned char)(id * 7);
        return k->bytes;
    case HARD_STRING:
    default: {
        size_t len = (size_t)(hard_mix(id + 1000) % HARD_STR_MAX);
        if (id == 0)
            len = 0;
        int n = snprintf(k->buf, sizeof k->buf, "%u:", id);
        for (size_t i = (size_t)n; i < len; i++)
            k->buf[i] = (char)('a' + (id + i) % 26);
        if (len < (size_t)n)
            len = id == 0 ? 0 : (size_t)n; /* keep distinct ids distinct */
        k->str.ptr = k->buf;
        k->str.len = len;
        return &k->str;
    }
    }
}

/* Recovers the id from a key of the map (for iteration checks). */
static inline uint32_t hard_key_id(enum hard_kind kind, const void *key, uint32_t nids) {
    struct hard_key probe;
    switch (kind) {
    case HARD_BYTES: {
        uint32_t id;
        memcpy(&id, key, sizeof id);
        return id;
    }
    case HARD_STRING: {
        const gomap_str *s = (const gomap_str *)key;
        if (s->len == 0)
            return 0;
        return (uint32_t)strtoul(s->ptr, NULL, 10);
    }
    default:
        /* integer keys are scrambled: search (the tests keep nids small) */
        for (uint32_t id = 0; id < nids; id++) {
            hard_key_make(&probe, kind, id);
            if (kind == HARD_U64 ? probe.u64 == *(const uint64_t *)key
                                 : probe.u32 == *(const uint32_t *)key)
                return id;
        }
        return UINT32_MAX;
    }
}

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

static const char *const hard_hash_names[HARD_HASH_MODES] = {"builtin", "user-good", "constant",
                                                             "low3", "top8"};

struct hard_hash_ctx {
    enum hard_kind kind;
    enum hard_hash_mode mode;
};

static inline uint64_t hard_hash_good(const struct hard_hash_ctx *c, const void *key,
                                      uint64_t seed) {
    switch (c->kind) {
    case HARD_U64:
        return gomap_hash_u64(*(const uint64_t *)key, seed);
    case HARD_U32:
        return gomap_hash_u64(*(const uint32_t *)key, seed);
    case HARD_BYTES:
        return gomap_hash_bytes(key, HARD_BYTES_KEY_SIZE, seed);
    case HARD_STRING:
    default: {
        const gomap_str *s = (const gomap_str *)key;
        return gomap_hash_bytes(s->ptr, s->len, seed);
    }
    }
}

static uint64_t hard_user_hash(const void *key, uint64_t seed, void *ctx) {
    const struct hard_hash_ctx *c = (const struct hard_hash_ctx *)ctx;
    uint64_t h = hard_hash_good(c, key, seed);
    switch (c->mode) {
    case HARD_HASH_CONSTANT:
        return 42;
    case HARD_HASH_LOW3:
        return h & 7;
    case HARD_HASH_TOP8:
        return h & 0xff00000000000000ULL;
    default:
        return h;
    }
}

static bool hard_user_equal(const void *a, const void *b, void *ctx) {
    const struct hard_hash_ctx *c = (const struct hard_hash_ctx *)ctx;
    switch (c->kind) {
    case HARD_U64:
        return *(const uint64_t *)a == *(const uint64_t *)b;
    case HARD_U32:
        return *(const uint32_t *)a == *(const uint32_t *)b;
    case HARD_BYTES:
        return memcmp(a, b, HARD_BYTES_KEY_SIZE) == 0;
    case HARD_STRING:
    default: {
        const gomap_str *x = (const gomap_str *)a, *y = (const gomap_str *)b;
        return x->len == y->len && (x->len == 0 || memcmp(x->ptr, y->ptr, x->len) == 0);
    }
    }
}

/* Fills a config for a key kind and hash mode.  ctx must outlive the map. */
static inline void hard_config(gomap_config *cfg, enum hard_kind kind, enum hard_hash_mode mode,
                               struct hard_hash_ctx *ctx, size_t value_size,
                               const gomap_allocator *alloc) {
    memset(cfg, 0, sizeof *cfg);
    static const gomap_key_kind kinds[HARD_KINDS] = {GOMAP_KEY_U64, GOMAP_KEY_U32, GOMAP_KEY_STRING,
                                                     GOMAP_KEY_BYTES};
    cfg->key_kind = kinds[kind];
    cfg->key_size = kind == HARD_BYTES ? HARD_BYTES_KEY_SIZE : 0;
    cfg->value_size = value_size;
    cfg->allocator = alloc;
    ctx->kind = kind;
    ctx->mode = mode;
    if (mode != HARD_HASH_BUILTIN) {
        cfg->hash = hard_user_hash;
        cfg->equal = hard_user_equal;
        cfg->fn_ctx = ctx;
    }
}

#endif /* GOMAP_TESTS_HARD_UTIL_H */
