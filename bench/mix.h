/*
 * mix.h — the concurrent-mix runner of gomap-bench, shared by `mix`,
 * `advise`, `targets` and the default run: mix_cli.c (the command line),
 * mix_run.c (running), mix_report.c (table, CSV, plots), mix_contestants.c
 * (who takes part; mix_impl.h shares them among these files) and advise.c.
 */
#ifndef GOMAP_BENCH_MIX_H
#define GOMAP_BENCH_MIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bench.h"
#include "hist.h"
#include "workload.h"

enum { MIX_MAX_THREADS = 64, MIX_MAX_LIST = 16, MIX_MAX_REPS = 100 };

/* One measurement: a throughput cell (kind "mix"), a latency cell ("latency")
 * or a deterministic verification run ("verify"), from gomap or a peer. */
typedef struct mix_result {
    char kind[12];
    char map[32];
    char mix[16];
    char dist[8];
    unsigned threads;
    uint64_t keys;
    double mops, mops_min, mops_max;  /* median over reps (the fastest: mix_results.fastest) */
    double allocs_per_op;             /* < 0: not measured */
    double bytes_per_entry;           /* < 0: not measured */
    uint64_t rate;                    /* latency: ops/s per thread */
    double p50, p90, p99, p999, pmax; /* latency, ns */
    uint64_t checksum, final_len, final_sum, ops;
    uint64_t scheduled; /* latency: operations the rate asked for */
    unsigned reps;
    uint64_t duration_ms, seed;
    /* A peer's line: the CPU its worker 0 finished its last repetition on
     * ("cpu"), or -1. */
    int cpu;
    /* A paired throughput cell (mix_plan.pin): the contestant it alternated
     * with, whether the pairs were pinned, and per repetition in run order
     * its Mops/s, the CPU its worker 0 was on, and whether it ran first in
     * its pair.  A paired latency cell: the contestant it alternated with
     * and each run's p99 in run order (`reps` runs). */
    bool paired, pinned;
    char paired_with[32];
    /* A throughput cell run in rounds (mix_plan.pin, with a peer of
     * mix_peer.rounds selected): every contestant of the round, comma list
     * in round order; repetition k of each ran in round k (rep_first: it ran
     * in the round's first half).  Empty otherwise. */
    char round_with[160];
    double rep_mops[MIX_MAX_REPS];
    double rep_p99[MIX_MAX_REPS];
    int16_t rep_cpu[MIX_MAX_REPS];
    bool rep_first[MIX_MAX_REPS];
} mix_result;

typedef struct mix_results {
    mix_result *r;
    size_t n, cap;
    /* A throughput record ("mix", or the memory limit) added while this is
     * set keeps its fastest repetition as its figure (`mops` = `mops_max`):
     * mix_plan.fastest. */
    bool fastest;
} mix_results;

/* results.c: building, printing and parsing records (no libgomap needed). */
void mix_result_init(mix_result *r, const char *kind); /* unmeasured fields < 0 */
void mix_result_cell(mix_result *r, const char *kind, const char *map, const char *mix,
                     const char *dist, unsigned threads, uint64_t keys, uint64_t seed);
/* Sorts mops[0..reps) and records median, min and max. */
void mix_result_throughput(mix_result *r, double *mops, unsigned reps, uint64_t duration_ms);
void mix_result_latency(mix_result *r, const hist *h, uint64_t rate, uint64_t scheduled);
void mix_result_emit(bench_output *out, const mix_result *r); /* one JSON line */
void mix_results_add(mix_results *rs, const mix_result *r);
void mix_results_free(mix_results *rs);
/* Parses one JSON line (ours or a peer's); false when it is not a mix line. */
bool mix_result_parse(const char *line, mix_result *r);
const mix_result *mix_results_find(const mix_results *rs, const char *kind, const char *map,
                                   const char *mix, const char *dist, unsigned threads);

/* What to run. */
typedef struct mix_plan {
    const char *maps; /* comma list of contestants; NULL = all */
    const wl_mix *mixes[MIX_MAX_LIST];
    int nmixes;
    wl_dist dists[2];
    int ndists;
    unsigned threads[MIX_MAX_LIST];
    int nthreads;
    uint64_t keys, seed;
    uint64_t duration_ms; /* per repetition */
    unsigned reps;
    /* The tables, targets and advice take each throughput cell's fastest
     * repetition instead of the median (--stat max; the default is
     * median): on a virtual machine whose CPUs the host slows at times, a
     * repetition runs on a fast or a slow CPU, and the median of 5 can fall
     * on either (docs/benchmarks.md).  The JSON lines carry median, min and
     * max either way. */
    bool fastest;
    /* Fair pairs (--pin on, the default): each throughput cell of a gomap
     * variant and the same cell of its Go analog run repetition by
     * repetition, alternating (A,B then B,A), each side with its own
     * warm-up before each repetition, the peer as one program run per
     * repetition; at 1 thread each pair is pinned to one CPU of the
     * process's affinity, the next pair to the next CPU.  The host may run
     * the CPUs at different speeds that change by the minute, so an unpinned
     * repetition's figure depends on where it landed (docs/benchmarks.md).
     * Latency cells alternate the same way, run by run (--lat-runs of each
     * side, one peer program run per run), unpinned: the host's stalls,
     * which set every p99, come and go over minutes.  With a peer of
     * mix_peer.rounds selected (TBB, liburcu), each cell's throughput runs in
     * rounds instead: round k runs repetition k of every gomap variant (each
     * beside its Go analog), then of each such peer, the order reversed in
     * odd rounds, the whole round on one CPU at 1 thread (mix_run.c,
     * round_cell). */
    bool pin;
    size_t trace_len;
    size_t value_size;
    bool throughput, latency;
    const char *latency_mixes; /* latency runs only for these mixes; NULL = all */
    uint64_t rate;             /* latency runs: ops/s per thread */
    uint64_t lat_ms;           /* latency run length */
    unsigned lat_runs;         /* latency runs per cell; the median-p99 one is kept */
    uint64_t verify_ops;       /* > 0: verification runs instead (single thread) */
    bool peers;                /* run the peer programs too */
    bool quiet;                /* no notices on stderr */
} mix_plan;

void mix_plan_defaults(mix_plan *p);

/* Parses one option of the mix family at argv[*i] (advancing *i past its
 * value).  Returns 1 if consumed, 0 if not a mix option, -1 on a bad value. */
int mix_plan_option(mix_plan *p, int argc, char **argv, int *i);

/* Whether the mix's contestant rows cover the library's variants exactly
 * (concmap_variants): each listed variant has a row of its own and each row
 * runs a listed variant.  Names what does not match on f. */
bool mix_variants_match_library(FILE *f);

/* Runs the plan: every selected gomap variant in this process, then every
 * selected peer program (with mix_plan.pin, the Go analogs beside their
 * variants and TBB and liburcu in rounds with them); each result is emitted
 * on out and appended to rs. */
int mix_run(const mix_plan *p, bench_output *out, mix_results *rs);

/* limit.c: the memory limit: `threads` threads run the mixes' throughput
 * loop over read100 traces (uniform keys of nkeys, seed, trace_len), each
 * operation one random access it depends on into an array of `bytes` bytes,
 * the operations independent of each other.  mops[0..reps) receives each
 * run's Mops/s.  0, or -1 when it cannot run. */
int mix_memory_limit(uint64_t bytes, uint64_t nkeys, uint64_t seed, size_t trace_len,
                     unsigned threads, uint64_t duration_ms, unsigned reps, double *mops);
/* The open loop of the latency runs (threads at rate ops/s each for lat_ms)
 * with an operation that does nothing, `runs` times (run_latency): *h
 * receives the latencies the machine alone causes in the run of median p99.
 * 0, or -1 when it could not run. */
int mix_pause_floor(unsigned threads, uint64_t rate, uint64_t lat_ms, unsigned runs, uint64_t seed,
                    hist *h);

/* The Go analog of a gomap variant ("syncmap" -> "go-sync-map"), or NULL. */
const char *mix_go_analog(const char *map);
bool mix_is_gomap(const char *map);
/* Whether the plan's --maps selects contestant `name` (by its name, or a
 * gomap variant by its concmap kind as well); every one when --maps is not
 * given. */
bool mix_plan_selects(const mix_plan *p, const char *name);

/* The table a person reads (gomap variants beside their Go analogs). */
void mix_print_table(const mix_results *rs, FILE *f);
int mix_write_csv(const mix_results *rs, const char *path);
int mix_write_plots(const mix_results *rs, const char *dir);

/* Where results go besides the table: --json, --out FILE, --csv FILE,
 * --plot DIR, --markdown FILE. */
typedef struct mix_outputs {
    bool json;
    const char *out, *csv, *plot, *markdown;
} mix_outputs;

/* Parses one output option at argv[*i]; 1 if consumed, 0 if not one. */
int mix_output_option(mix_outputs *o, int argc, char **argv, int *i);

/* Writes the CSV and the plots asked for; returns 0 or -1.  Reports the
 * plots written on f. */
int mix_write_outputs(const mix_outputs *o, const mix_results *rs, FILE *f);

/* ---- the advisor's decision, apart from any timing ----------------------- */

typedef struct adv_candidate {
    const char *name;
    double mops;            /* throughput, higher is better; <= 0: not measured */
    double p99_ns;          /* < 0: not measured */
    double bytes_per_entry; /* < 0: not measured */
} adv_candidate;

/* Picks the best candidate and the runner-up (indices; -1 when none).  The
 * highest throughput wins; candidates within `tie` (e.g. 0.05 = 5%) of the
 * best throughput are ranked by p99 latency, then by bytes per entry.
 * Returns the number of usable candidates. */
int adv_choose(const adv_candidate *c, int n, double tie, int *best, int *runner_up);

/* docs/choosing.md's measured picks (the default run, 2 threads, 1M uniform
 * keys), which the advisor prints beside its own trial: the pick for the
 * mix of the table whose read share is nearest `reads` (a fraction), with
 * that mix's name in *mix.  The table in advise.c and the one in
 * docs/choosing.md are checked against each other by bench_mix_test. */
const char *adv_reference_pick(double reads, const char **mix);

/* The best gomap variant of one throughput cell against `peer` (the target
 * lines against TBB and liburcu).  When the peer's cell ran in rounds with
 * the variants (mix_result.round_with), the variant of the highest median of
 * its pairs' own ratios (its repetition k over the peer's repetition k) wins
 * and *ratio is that median; otherwise the variant of the highest figure, and
 * *ratio is the ratio of the two figures.  *sides is always the ratio of the
 * two figures (medians, or the fastest with mix_plan.fastest).  NULL (and
 * *ratio -1) when the peer or every variant is missing. */
const mix_result *adv_best_against(const mix_results *rs, const char *mix, const char *dist,
                                   unsigned threads, const char *peer, double *ratio, double *sides,
                                   bool *by_pairs);

int bench_mix_main(int argc, char **argv);
int bench_advise_main(int argc, char **argv);
int bench_default_main(int argc, char **argv);

#endif /* GOMAP_BENCH_MIX_H */
