/* map_test_util.c — the compiled half of map_test_util.h (see there). */
#include "map_test_util.h"

void *tu_alloc_fn(size_t size, void *ctx) {
    struct tu_alloc *a = (struct tu_alloc *)ctx;
    a->calls++;
    if (a->fail_at && a->calls == a->fail_at) {
        a->failed++;
        return NULL;
    }
    unsigned char *p = (unsigned char *)malloc(size + TU_HDR);
    if (!p)
        return NULL;
    memcpy(p, &size, sizeof size);
    a->live_bytes += size;
    a->live_blocks++;
    return p + TU_HDR;
}

void tu_free_fn(void *ptr, size_t size, void *ctx) {
    struct tu_alloc *a = (struct tu_alloc *)ctx;
    if (!ptr)
        return;
    unsigned char *p = (unsigned char *)ptr - TU_HDR;
    size_t stored;
    memcpy(&stored, p, sizeof stored);
    if (stored != size) {
        fprintf(stderr, "  allocator: free of %zu bytes with size %zu\n", stored, size);
        a->bad_frees++;
    }
    a->live_bytes -= stored;
    a->live_blocks--;
    free(p);
}

void tu_key_make(struct tu_key *k, gomap_key_kind kind, uint64_t i) {
    k->kind = kind;
    switch (kind) {
    case GOMAP_KEY_U32:
        k->u32 = (uint32_t)(i * 2654435761u);
        break;
    case GOMAP_KEY_U64:
        k->u64 = i * 0x9e3779b97f4a7c15ull;
        break;
    case GOMAP_KEY_STRING:
    case GOMAP_KEY_STRING_BORROWED: {
        if (i == 0) {
            k->str.ptr = k->buf;
            k->str.len = 0;
            break;
        }
        int n = snprintf(k->buf, sizeof k->buf, "k%llu", (unsigned long long)i);
        size_t len = (size_t)n + (i * 7) % 41; /* 2 .. ~60 bytes: short and long */
        memset(k->buf + n, i % 3 == 0 ? '\0' : '.', len - (size_t)n);
        k->buf[len] = '|';
        k->str.ptr = k->buf;
        k->str.len = len + 1;
        break;
    }
    case GOMAP_KEY_BYTES:
        memset(k->buf, 0, TU_BYTES_KEY_SIZE);
        memcpy(k->buf, &i, sizeof i);
        k->buf[TU_BYTES_KEY_SIZE - 1] = (char)(i * 31);
        break;
    }
}

uint64_t tu_key_index(gomap_key_kind kind, const void *key) {
    switch (kind) {
    case GOMAP_KEY_U32:
        return (uint32_t)(*(const uint32_t *)key * 244002641u); /* inverse of 2654435761 */
    case GOMAP_KEY_U64:
        return *(const uint64_t *)key * 0xf1de83e19937733dull; /* inverse mod 2^64 */
    case GOMAP_KEY_STRING:
    case GOMAP_KEY_STRING_BORROWED: {
        const gomap_str *s = (const gomap_str *)key;
        if (s->len == 0)
            return 0;
        return strtoull(s->ptr + 1, NULL, 10);
    }
    default: {
        uint64_t i;
        memcpy(&i, key, sizeof i);
        return i;
    }
    }
}

gomap *tu_new_map(gomap_key_kind kind, size_t value_size) {
    gomap_config cfg = tu_config(kind, value_size);
    gomap *m = NULL;
    return gomap_new(&m, &cfg) == 0 ? m : NULL;
}
