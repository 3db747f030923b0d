/*
 * loadfactor.c — measures the core map at its maximum load, for the
 * load-factor table of docs/design.md (Go keeps the same table in map.go).
 *
 * It fills a u64 -> u64 map to just below the growth threshold (the state
 * with the longest chains), then reports % overflow buckets (per bucket),
 * bytes per entry, and per lookup of a present / absent key the bucket
 * headers read and the key comparisons made (a tophash match is followed by
 * a key comparison; for a miss every comparison is a false positive).
 *
 * The load factor is a compile-time constant of map.c, so docs/design.md's
 * command builds this once per value:
 *     for lf in 8 9 10 11 12 13 14 15 16; do
 *       cc -O2 -std=c11 -D_GNU_SOURCE -DGOMAP_LOAD_FACTOR_NUM=$lf -DGOMAP_LOAD_FACTOR_DEN=2 \
 *          -Iinclude -Isrc tools/loadfactor/loadfactor.c src/map.c src/detect.c \
 *          src/probes.c src/hash.c -o /tmp/lf && /tmp/lf $lf
 *     done
 */
#include "map_internal.h"

#include <gomap/gomap.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    double lf = argc > 1 ? atof(argv[1]) / 2 : 6.5;
    unsigned B = argc > 2 ? (unsigned)atoi(argv[2]) : 16;
    int trials = 5;
    double ovf = 0, bpe = 0, hb = 0, hc = 0, mb = 0, mc = 0;
    for (int t = 0; t < trials; t++) {
        gomap_config cfg = {0};
        cfg.value_size = 8;
        gomap *m;
        if (gomap_new(&m, &cfg))
            return 1;
        /* The largest count a 2^B map holds without growing. */
        size_t n = (size_t)(lf * (double)((size_t)1 << B));
        gomap__stats_t st;
        for (size_t i = 0; i < n; i++) {
            uint64_t k = gomap__random64(), v = i;
            if (gomap_set(m, &k, &v))
                return 1;
        }
        /* Finish any growth still running so the table is in one array. */
        for (uint64_t k = 0; k < ((uint64_t)1 << (B + 1)); k++) {
            if (!gomap__growing(m))
                break;
            uint64_t key = ~k, v = 0;
            gomap_set(m, &key, &v);
            gomap_delete(m, &key);
        }
        gomap__stats(m, 1000000, &st);
        if (st.B != B || st.growing) {
            fprintf(stderr, "map has B=%u (wanted %u)%s\n", st.B, B, st.growing ? ", growing" : "");
            return 1;
        }
        ovf += 100.0 * (double)st.overflow / (double)st.buckets;
        bpe += (double)st.bytes / (double)st.count;
        hb += st.hit_buckets;
        hc += st.hit_compares;
        mb += st.miss_buckets;
        mc += st.miss_compares;
        gomap_free(m);
    }
    printf("| %5.2f | %8.2f | %8.2f | %6.3f | %6.3f | %6.3f | %6.4f |\n", lf, ovf / trials,
           bpe / trials, hb / trials, hc / trials, mb / trials, mc / trials);
    return 0;
}
