/* hard_util.c — the compiled half of hard_util.h (see there). */
#include "hard_util.h"

void *hard_alloc_fn(size_t size, void *ctx) {
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

void hard_free_fn(void *p, size_t size, void *ctx) {
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

void hard_alloc_init(struct hard_alloc *a, gomap_allocator *hook) {
    memset(a, 0, sizeof *a);
    hook->alloc = hard_alloc_fn;
    hook->free = hard_free_fn;
    hook->ctx = a;
}

const char *const hard_kind_names[HARD_KINDS] = {"u64", "u32", "string", "bytes"};

const void *hard_key_make(struct hard_key *k, enum hard_kind kind, uint32_t id) {
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

uint32_t hard_key_id(enum hard_kind kind, const void *key, uint32_t nids) {
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

const char *const hard_hash_names[HARD_HASH_MODES] = {"builtin", "user-good", "constant", "low3",
                                                      "top8"};

uint64_t hard_hash_good(const struct hard_hash_ctx *c, const void *key, uint64_t seed) {
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

uint64_t hard_user_hash(const void *key, uint64_t seed, void *ctx) {
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

bool hard_user_equal(const void *a, const void *b, void *ctx) {
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

void hard_config(gomap_config *cfg, enum hard_kind kind, enum hard_hash_mode mode,
                 struct hard_hash_ctx *ctx, size_t value_size, const gomap_allocator *alloc) {
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
