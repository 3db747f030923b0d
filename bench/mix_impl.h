/*
 * mix_impl.h — what the parts of `gomap-bench mix` share among themselves
 * (mix_contestants.c, mix_cli.c, mix_run.c, mix_report.c); the interface to
 * the rest of gomap-bench is mix.h.
 */
#ifndef GOMAP_BENCH_MIX_IMPL_H
#define GOMAP_BENCH_MIX_IMPL_H

#include <stdbool.h>
#include <stddef.h>

#include <gomap/concmap.h>

#include "mix.h"

/* gomap's variants: the name concmap_new takes, the name in results, the Go
 * peer's contestant that plays the same role, the options; `on_request` ones
 * run only when --maps names them (configurations of a variant, not
 * variants); `batch` ones (rw and shard only) serve runs of consecutive reads
 * with the variant's load_many (runner.h's run_map.load_many). */
typedef struct mix_variant {
    const char *kind, *name, *analog;
    concmap_options opts;
    bool on_request;
    bool batch;
} mix_variant;

enum { MIX_NVARIANTS = 9 };
extern const mix_variant mix_variants[MIX_NVARIANTS];

/* A peer program and the contestants it runs (NULL-terminated).  `rounds`:
 * with --pin on, its throughput cells run in rounds with gomap's variants
 * (mix_plan.pin), the program serving one repetition per request (its
 * --serve); the targets judge the best variant against it. */
typedef struct mix_peer {
    const char *program;
    const char *maps[5];
    bool rounds;
} mix_peer;

enum { MIX_NPEERS = 4 };
extern const mix_peer mix_peers[MIX_NPEERS];

/* Every contestant in table order, each gomap variant beside its Go analog;
 * NULL-terminated. */
extern const char *const mix_table_order[];

/* Whether the plan selects a contestant (by its concmap name `kind`, which
 * may be NULL, or its result name). */
bool mix_plan_has(const mix_plan *p, const char *kind, const char *name);

/* Appends item to the comma list in buf (of n bytes). */
void mix_list_append(char *buf, size_t n, const char *item);

#endif /* GOMAP_BENCH_MIX_IMPL_H */
