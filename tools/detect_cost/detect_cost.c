/*
 * detect_cost.c — one core-map operation, repeated, for counting what misuse
 * detection costs in instructions (tools/detect_cost.sh runs it under
 * callgrind, linked once against the library with detection and once
 * against gomap_nodetect, and divides by the operation count).
 *
 *   detect_cost insert|hit|miss|delete|iterate [N [SEED]]
 *
 * SEED fixes the map's hash seed (otherwise drawn at random, as every map's
 * is), so that the build with detection and the one without it place the
 * keys alike: the instruction count of an insert, a lookup or a delete
 * depends on where its key lands (its bucket's fill, overflow chains), and
 * varies with the seed by about as much as detection costs.
 *
 * The map is built before the counted part; callgrind counts only between
 * the two CALLGRIND_TOGGLE_COLLECT marks (run with --collect-atstart=no).
 * Without callgrind the marks do nothing and the program just runs.
 */
#include <gomap/gomap.h>

#include "map_internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <valgrind/callgrind.h>

static uint64_t key(uint64_t i) {
    return i * 0x9e3779b97f4a7c15u;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s insert|hit|miss|delete|iterate [N [SEED]]\n", argv[0]);
        return 2;
    }
    const char *op = argv[1];
    uint64_t n = argc > 2 ? strtoull(argv[2], NULL, 10) : 200000;
    /* gomap_u64u64_new's map, with the seed given. */
    gomap_config cfg = {GOMAP_KEY_U64, 0, sizeof(uint64_t), 0, NULL, NULL, NULL, NULL};
    gomap *raw;
    int rc = argc > 3 ? gomap__new_seeded(&raw, &cfg, strtoull(argv[3], NULL, 0))
                      : gomap_new(&raw, &cfg);
    if (rc != 0)
        return 1;
    gomap_u64u64 *m = (gomap_u64u64 *)raw;
    bool fill = strcmp(op, "insert") != 0;
    for (uint64_t i = 0; fill && i < n; i++)
        if (gomap_u64u64_set(m, key(i), i) != 0)
            return 1;
    uint64_t sum = 0;
    CALLGRIND_TOGGLE_COLLECT;
    if (!strcmp(op, "insert")) {
        for (uint64_t i = 0; i < n; i++)
            sum += (uint64_t)gomap_u64u64_set(m, key(i), i);
    } else if (!strcmp(op, "hit")) {
        for (uint64_t i = 0; i < n; i++)
            sum += gomap_u64u64_get(m, key(i), NULL);
    } else if (!strcmp(op, "miss")) {
        for (uint64_t i = 0; i < n; i++)
            sum += gomap_u64u64_get(m, key(i) + 1, NULL);
    } else if (!strcmp(op, "delete")) {
        for (uint64_t i = 0; i < n; i++)
            sum += gomap_u64u64_delete(m, key(i));
    } else if (!strcmp(op, "iterate")) {
        gomap_iter it;
        const void *k;
        void *v;
        gomap_iter_init(&it, gomap_u64u64_map(m));
        while (gomap_iter_next(&it, &k, &v))
            sum += *(const uint64_t *)v;
    } else {
        fprintf(stderr, "unknown operation %s\n", op);
        return 2;
    }
    CALLGRIND_TOGGLE_COLLECT;
    printf("%s %llu: %llu\n", op, (unsigned long long)n, (unsigned long long)sum);
    gomap_u64u64_free(m);
    return 0;
}
