/*
 * family_cost.c — one operation of a thread-safe map, repeated, for counting
 * its instructions under callgrind (docs/design-family.md quotes the counts):
 *
 *   valgrind --tool=callgrind --collect-atstart=no \
 *       build/tools/family_cost/family_cost shard|rw|sync load|store|load_many [N]
 *
 * The map (u64 keys, 8-byte values, N keys, default 100000) is filled and
 * read once before the counted part; callgrind counts only between the two
 * CALLGRIND_TOGGLE_COLLECT marks, so the count divided by N is the cost of
 * one call (load_many: of one key, in calls of 256 keys).  The program links
 * the shared library, as a user's program would: calls into liburcu and
 * thread-local accesses cost what they cost there.
 */
#include <gomap/rwmap.h>
#include <gomap/shardmap.h>
#include <gomap/syncmap.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <valgrind/callgrind.h>

enum { BATCH = 256 };

static uint64_t key(uint64_t i) {
    return i * 0x9e3779b97f4a7c15u;
}

/* One variant behind three functions. */
struct fam {
    void *m;
    bool (*load)(void *m, const void *key, void *value_out);
    int (*store)(void *m, const void *key, const void *value);
    size_t (*load_many)(void *m, const void *keys, size_t n, void *values_out, bool *found_out);
};

static bool sh_load(void *m, const void *k, void *v) {
    return shardmap_load(m, k, v);
}
static int sh_store(void *m, const void *k, const void *v) {
    return shardmap_store(m, k, v);
}
static size_t sh_many(void *m, const void *k, size_t n, void *v, bool *f) {
    return shardmap_load_many(m, k, n, v, f);
}
static bool rw_load(void *m, const void *k, void *v) {
    return rwmap_load(m, k, v);
}
static int rw_store(void *m, const void *k, const void *v) {
    return rwmap_store(m, k, v);
}
static size_t rw_many(void *m, const void *k, size_t n, void *v, bool *f) {
    return rwmap_load_many(m, k, n, v, f);
}
static bool sy_load(void *m, const void *k, void *v) {
    return syncmap_load(m, k, v);
}
static int sy_store(void *m, const void *k, const void *v) {
    return syncmap_store(m, k, v);
}

static int make(const char *kind, const gomap_config *cfg, struct fam *f) {
    if (!strcmp(kind, "shard")) {
        *f = (struct fam){NULL, sh_load, sh_store, sh_many};
        return shardmap_new((shardmap **)&f->m, cfg, 0);
    }
    if (!strcmp(kind, "rw")) {
        *f = (struct fam){NULL, rw_load, rw_store, rw_many};
        return rwmap_new((rwmap **)&f->m, cfg);
    }
    if (!strcmp(kind, "sync")) {
        *f = (struct fam){NULL, sy_load, sy_store, NULL};
        return syncmap_new((syncmap **)&f->m, cfg);
    }
    return -1;
}

static void destroy(const char *kind, void *m) {
    if (!strcmp(kind, "shard"))
        shardmap_free(m);
    else if (!strcmp(kind, "rw"))
        rwmap_free(m);
    else
        syncmap_free(m);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s shard|rw|sync load|store|load_many [N]\n", argv[0]);
        return 2;
    }
    const char *kind = argv[1], *op = argv[2];
    uint64_t n = argc > 3 ? strtoull(argv[3], NULL, 10) : 100000;
    n = (n + BATCH - 1) / BATCH * BATCH;
    gomap_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.key_kind = GOMAP_KEY_U64;
    cfg.value_size = 8;
    cfg.hint = n;
    struct fam f;
    if (make(kind, &cfg, &f) != 0) {
        fprintf(stderr, "unknown or failed map %s\n", kind);
        return 2;
    }
    uint64_t sum = 0, v;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t k = key(i);
        if (f.store(f.m, &k, &i) != 0)
            return 1;
    }
    for (uint64_t i = 0; i < n; i++) { /* warm: a syncmap promotes here */
        uint64_t k = key(i);
        sum += f.load(f.m, &k, &v);
    }
    int bad = 0;
    CALLGRIND_TOGGLE_COLLECT;
    if (!strcmp(op, "load")) {
        for (uint64_t i = 0; i < n; i++) {
            uint64_t k = key(i);
            if (f.load(f.m, &k, &v))
                sum += v;
        }
    } else if (!strcmp(op, "store")) {
        for (uint64_t i = 0; i < n; i++) {
            uint64_t k = key(i);
            sum += (uint64_t)f.store(f.m, &k, &i);
        }
    } else if (!strcmp(op, "load_many") && f.load_many) {
        uint64_t ks[BATCH], vs[BATCH];
        bool found[BATCH];
        for (uint64_t b = 0; b < n; b += BATCH) {
            for (uint64_t j = 0; j < BATCH; j++)
                ks[j] = key(b + j);
            sum += f.load_many(f.m, ks, BATCH, vs, found);
        }
    } else {
        bad = 1;
    }
    CALLGRIND_TOGGLE_COLLECT;
    destroy(kind, f.m);
    if (bad) {
        fprintf(stderr, "unknown operation %s for %s\n", op, kind);
        return 2;
    }
    printf("%s %s %llu: %llu\n", kind, op, (unsigned long long)n, (unsigned long long)sum);
    return 0;
}
