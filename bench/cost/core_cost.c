/*
 * core_cost.c — one core-map operation over gomap-bench's core keys, for
 * counting its instructions and cache misses under callgrind
 * (bench/cost/core_cost.sh runs it and its abseil twin, core_cost_absl.cc,
 * and prints the table of docs/benchmarks.md).
 *
 *   gomap-cost u64|str insert|hit|miss|delete|iterate|iterkeys|many N
 *
 * Keys are bench_key_u64 / bench_key_str of seed 1, as `gomap-bench core`
 * uses: keys 0..N-1 are inserted, keys N..2N-1 are the misses.  u64 lookups
 * use the typed helper (inline in this loop, as abseil's find is in its
 * twin); string lookups call gomap_get.  The map is built before the counted
 * part; `many` looks the hits up 64 keys per gomap_get_many call, as
 * gomap-bench core's get_many row does.  Callgrind counts only between the
 * two CALLGRIND_TOGGLE_COLLECT marks (run with --collect-atstart=no).
 * Without callgrind the marks do nothing.
 */
#include <gomap/gomap.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <valgrind/callgrind.h>

#include "bench.h"

int main(int argc, char **argv) {
    if (argc != 4 || (strcmp(argv[1], "u64") != 0 && strcmp(argv[1], "str") != 0)) {
        fprintf(stderr, "usage: %s u64|str insert|hit|miss|delete|iterate|iterkeys|many N\n",
                argv[0]);
        return 2;
    }
    bool str = strcmp(argv[1], "str") == 0;
    const char *op = argv[2];
    uint64_t n = strtoull(argv[3], NULL, 10);
    uint64_t *ku = malloc(2 * n * sizeof *ku);
    gomap_str *ks = malloc(2 * n * sizeof *ks);
    char *buf = malloc(2 * n * BENCH_STR_KEY_LEN);
    if (!ku || !ks || !buf || n == 0)
        return 1;
    for (uint64_t i = 0; i < 2 * n; i++) {
        ku[i] = bench_key_u64(1, i);
        bench_key_str(1, i, buf + i * BENCH_STR_KEY_LEN);
        ks[i].ptr = buf + i * BENCH_STR_KEY_LEN;
        ks[i].len = BENCH_STR_KEY_LEN;
    }
    gomap_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.key_kind = str ? GOMAP_KEY_STRING : GOMAP_KEY_U64;
    cfg.value_size = sizeof(uint64_t);
    gomap *m;
    if (gomap_new(&m, &cfg) != 0)
        return 1;
    const gomap_u64u64 *typed = (const gomap_u64u64 *)m;
#define KEY(i) (str ? (const void *)&ks[i] : (const void *)&ku[i])
    bool fill = strcmp(op, "insert") != 0;
    for (uint64_t i = 0; fill && i < n; i++)
        if (gomap_set(m, KEY(i), &ku[i]) != 0)
            return 1;
    uint64_t sum = 0;
    CALLGRIND_TOGGLE_COLLECT;
    if (!strcmp(op, "insert")) {
        for (uint64_t i = 0; i < n; i++)
            sum += (uint64_t)gomap_set(m, KEY(i), &ku[i]);
    } else if (!strcmp(op, "hit") || !strcmp(op, "miss")) {
        uint64_t from = op[0] == 'h' ? 0 : n;
        if (str) {
            for (uint64_t i = from; i < from + n; i++) {
                const uint64_t *v = gomap_get(m, &ks[i]);
                sum += v ? *v : 0;
            }
        } else {
            for (uint64_t i = from; i < from + n; i++) {
                uint64_t v;
                sum += gomap_u64u64_get(typed, ku[i], &v) ? v : 0;
            }
        }
    } else if (!strcmp(op, "many")) {
        for (uint64_t i = 0; i < n; i += 64) {
            void *out[64];
            size_t g = n - i < 64 ? (size_t)(n - i) : 64;
            gomap_get_many(m, KEY(i), g, out);
            for (size_t j = 0; j < g; j++)
                sum += out[j] ? *(const uint64_t *)out[j] : 0;
        }
    } else if (!strcmp(op, "delete")) {
        for (uint64_t i = 0; i < n; i++)
            sum += gomap_delete(m, KEY(i));
    } else if (!strcmp(op, "iterate")) {
        gomap_iter it;
        void *v;
        gomap_iter_init(&it, m);
        while (gomap_iter_next(&it, NULL, &v))
            sum += *(const uint64_t *)v;
    } else if (!strcmp(op, "iterkeys")) {
        /* Keys too: a string map's key is a view the iterator builds. */
        gomap_iter it;
        const void *k;
        void *v;
        gomap_iter_init(&it, m);
        while (gomap_iter_next(&it, &k, &v)) {
            const gomap_str *s = k;
            sum += *(const uint64_t *)v +
                   (str ? s->len + (unsigned char)s->ptr[0] : *(const uint64_t *)k);
        }
    } else {
        fprintf(stderr, "unknown operation %s\n", op);
        return 2;
    }
    CALLGRIND_TOGGLE_COLLECT;
    printf("%s %s %llu: %llu\n", argv[1], op, (unsigned long long)n, (unsigned long long)sum);
    gomap_free(m);
    free(ku);
    free(ks);
    free(buf);
    return 0;
}
