/*
 * mix_contestants.c — who takes part in `gomap-bench mix`: gomap's variants
 * (run in this process through concmap), the peer programs and the
 * contestants each one runs, and the order the table shows them in.
 */
#include "mix_impl.h"

#include <stdio.h>
#include <string.h>

#include <gomap/syncmap.h>

const mix_variant mix_variants[MIX_NVARIANTS] = {
    {"rw", "rwmap", "go-rwmutex-map", {0}, false, false},
    {"shard", "shardmap", "go-shard-map", {0}, false, false},
    {"sync", "syncmap", "go-sync-map", {0}, false, false},
    {"cow", "cowmap", "go-cow-map", {0}, false, false},
    {"sync",
     "syncmap-adaptive",
     "go-sync-map",
     {.sync_promotion = SYNCMAP_PROMOTE_ADAPTIVE},
     true,
     false},
    {"rw", "rwmap-batch", "go-rwmutex-map", {0}, true, true},
    {"shard", "shardmap-batch", "go-shard-map", {0}, true, true},
    /* Shard counts beside the default: 2 (the nearest to rwmap with lock-free
     * loads) and Go's sharded map's 32. */
    {"shard", "shardmap-2", "go-shard-map", {.shard_bits = 1}, true, false},
    {"shard", "shardmap-32", "go-shard-map", {.shard_bits = 5}, true, false},
};

const mix_peer mix_peers[MIX_NPEERS] = {
    {"peer-go-mix", {"go-rwmutex-map", "go-shard-map", "go-sync-map", "go-cow-map", NULL}, false},
    {"peer-absl-mix", {"absl-rwlock", NULL}, false},
    {"peer-tbb-mix", {"tbb-chm", NULL}, true},
    {"peer-urcu-mix", {"urcu-lfht", NULL}, true},
};

const char *const mix_table_order[] = {
    "rwmap",  "go-rwmutex-map", "shardmap",    "go-shard-map", "syncmap",   "go-sync-map",
    "cowmap", "go-cow-map",     "absl-rwlock", "tbb-chm",      "urcu-lfht", NULL,
};

const char *mix_go_analog(const char *map) {
    for (int i = 0; i < MIX_NVARIANTS; i++)
        if (strcmp(mix_variants[i].name, map) == 0)
            return mix_variants[i].analog;
    return NULL;
}

bool mix_variants_match_library(FILE *f) {
    bool ok = true;
    for (const char *const *v = concmap_variants; *v; v++) {
        bool row = false;
        for (int i = 0; i < MIX_NVARIANTS; i++)
            row |= !mix_variants[i].on_request && strcmp(mix_variants[i].kind, *v) == 0;
        if (!row) {
            fprintf(f, "gomap-bench mix: variant \"%s\" has no contestant row\n", *v);
            ok = false;
        }
    }
    for (int i = 0; i < MIX_NVARIANTS; i++) {
        bool listed = false;
        for (const char *const *v = concmap_variants; *v; v++)
            listed |= strcmp(mix_variants[i].kind, *v) == 0;
        if (!listed) {
            fprintf(f, "gomap-bench mix: contestant %s runs \"%s\", not a variant of the library\n",
                    mix_variants[i].name, mix_variants[i].kind);
            ok = false;
        }
    }
    return ok;
}

bool mix_is_gomap(const char *map) {
    return mix_go_analog(map) != NULL;
}

bool mix_plan_has(const mix_plan *p, const char *kind, const char *name) {
    return !p->maps || bench_list_has(p->maps, name) || (kind && bench_list_has(p->maps, kind));
}

bool mix_plan_selects(const mix_plan *p, const char *name) {
    for (int i = 0; i < MIX_NVARIANTS; i++)
        if (strcmp(mix_variants[i].name, name) == 0)
            return mix_plan_has(p, mix_variants[i].kind, name);
    return mix_plan_has(p, NULL, name);
}

void mix_list_append(char *buf, size_t n, const char *item) {
    size_t len = strlen(buf);
    snprintf(buf + len, n - len, "%s%s", len ? "," : "", item);
}
