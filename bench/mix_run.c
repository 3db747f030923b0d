/*
 * mix_run.c — running `gomap-bench mix`: every selected gomap variant in this
 * process (through concmap) and every selected peer program, which reads
 * the same arguments and prints the same JSON lines, one mix at a time in
 * alternating order (mix_run).  The workloads are specified in workload.h
 * and docs/workloads.md.
 *
 * Throughput runs are closed-loop: T threads replay their traces as fast as
 * they can for --duration-ms, checking a stop flag every 64 operations; the
 * cell's figure is the median over --reps repetitions (the fastest one in
 * the tables and targets, with mix_plan.fastest).  With mix_plan.pin a
 * variant's repetitions alternate with its Go analog's, and TBB's and
 * liburcu's run in rounds with every variant (round_cell).
 *
 * Latency runs are open-loop: operation i of a thread is due at
 * t0 + i / rate, and its latency is measured from that intended start, not
 * from when the thread got round to it.  A thread that falls behind does not
 * skip or slow its schedule, so a stall shows up in the latency of every
 * operation that queued behind it (Gil Tene's "coordinated omission").
 *
 * Memory and allocations are measured in separate untimed passes through a
 * gate in front of bench.h's counting allocator: counting touches one shared
 * cache line, so it is switched on only while nobody is being timed.
 */
#include "mix_impl.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gomap/concmap.h>
#include <gomap/rwmap.h>
#include <gomap/shardmap.h>

#include "hist.h"
#include "runner.h"

/* cowmap copies the whole map on every write, so prefilling it key by key
 * through concmap (which has no bulk load) costs N copies, N^2/2 inserts
 * (docs/benchmarks.md gives the time).  Above this many keys it is left out. */
enum { COW_MAX_KEYS = 1 << 13 };

/* ---- the counting gate ------------------------------------------------------ */

static bench_counter gate_counter;
/* Written only by the main thread while no worker runs (the thread create
 * and join order it with the workers); workers only read it. */
static atomic_bool gate_on;

static void *gate_alloc(size_t size, void *ctx) {
    (void)ctx;
    void *p = atomic_load_explicit(&gate_on, memory_order_relaxed)
                  ? bench_counter_alloc(&gate_counter, size)
                  : malloc(size);
    bench_advise_huge(p, size);
    return p;
}

static void gate_free(void *ptr, size_t size, void *ctx) {
    (void)ctx;
    (void)size;
    if (atomic_load_explicit(&gate_on, memory_order_relaxed))
        bench_counter_free(&gate_counter, ptr);
    else
        free(ptr);
}

static const gomap_allocator gate_allocator = {gate_alloc, gate_free, NULL};

/* ---- concmap as a run_map ---------------------------------------------------- */

/* Values are value_size bytes (8 to GOMAP_MAX_VALUE_SIZE); the workload's u64
 * is their first 8 bytes, the rest stays zero. */
static bool cm_load(void *m, uint64_t key, uint64_t *value) {
    uint64_t buf[GOMAP_MAX_VALUE_SIZE / 8];
    if (!concmap_load(m, &key, buf))
        return false;
    *value = buf[0];
    return true;
}

static void cm_store(void *m, uint64_t key, uint64_t value) {
    uint64_t buf[GOMAP_MAX_VALUE_SIZE / 8] = {value};
    (void)concmap_store(m, &key, buf); /* ENOMEM: the op is simply lost */
}

static void cm_del(void *m, uint64_t key) {
    concmap_delete(m, &key);
}

/* ---- the batched configurations -------------------------------------------------
 *
 * concmap has no batched load, so rwmap-batch and shardmap-batch run on the
 * variant's own map: its functions behind one table, and its load_many
 * serving the runner's runs of reads. */

typedef struct batch_ops {
    int (*create)(void **m, const gomap_config *cfg, const concmap_options *opts);
    void (*destroy)(void *m);
    bool (*load)(void *m, const void *key, void *value_out);
    int (*store)(void *m, const void *key, const void *value);
    void (*del)(void *m, const void *key);
    size_t (*len)(void *m);
    void (*range)(void *m, concmap_range_fn fn, void *ctx);
    size_t (*load_many)(void *m, const void *keys, size_t n, void *values_out, bool *found_out);
} batch_ops;

static int rw_create(void **m, const gomap_config *cfg, const concmap_options *opts) {
    (void)opts;
    return rwmap_new((rwmap **)m, cfg);
}
static void rw_destroy(void *m) {
    rwmap_free(m);
}
static bool rw_load(void *m, const void *k, void *v) {
    return rwmap_load(m, k, v);
}
static int rw_store(void *m, const void *k, const void *v) {
    return rwmap_store(m, k, v);
}
static void rw_del(void *m, const void *k) {
    rwmap_delete(m, k);
}
static size_t rw_len(void *m) {
    return rwmap_len(m);
}
static void rw_range(void *m, concmap_range_fn fn, void *ctx) {
    rwmap_range(m, fn, ctx);
}
static size_t rw_many(void *m, const void *k, size_t n, void *v, bool *f) {
    return rwmap_load_many(m, k, n, v, f);
}
static const batch_ops RW_BATCH = {rw_create, rw_destroy, rw_load,  rw_store,
                                   rw_del,    rw_len,     rw_range, rw_many};

static int sh_create(void **m, const gomap_config *cfg, const concmap_options *opts) {
    return shardmap_new((shardmap **)m, cfg, opts->shard_bits);
}
static void sh_destroy(void *m) {
    shardmap_free(m);
}
static bool sh_load(void *m, const void *k, void *v) {
    return shardmap_load(m, k, v);
}
static int sh_store(void *m, const void *k, const void *v) {
    return shardmap_store(m, k, v);
}
static void sh_del(void *m, const void *k) {
    shardmap_delete(m, k);
}
static size_t sh_len(void *m) {
    return shardmap_len(m);
}
static void sh_range(void *m, concmap_range_fn fn, void *ctx) {
    shardmap_range(m, fn, ctx);
}
static size_t sh_many(void *m, const void *k, size_t n, void *v, bool *f) {
    return shardmap_load_many(m, k, n, v, f);
}
static const batch_ops SHARD_BATCH = {sh_create, sh_destroy, sh_load,  sh_store,
                                      sh_del,    sh_len,     sh_range, sh_many};

/* A gomap contestant's map: a concmap handle, or (batched configurations)
 * the variant's own map and its table. */
typedef struct gm_map {
    concmap *cm;
    void *typed;
    const batch_ops *b;
    size_t value_size;
} gm_map;

/* The runner's calls for a batched configuration (m is the gm_map). */
static bool bt_load(void *m, uint64_t key, uint64_t *value) {
    const gm_map *g = m;
    uint64_t buf[GOMAP_MAX_VALUE_SIZE / 8];
    if (!g->b->load(g->typed, &key, buf))
        return false;
    *value = buf[0];
    return true;
}

static void bt_store(void *m, uint64_t key, uint64_t value) {
    const gm_map *g = m;
    uint64_t buf[GOMAP_MAX_VALUE_SIZE / 8] = {value};
    (void)g->b->store(g->typed, &key, buf); /* ENOMEM: the op is simply lost */
}

static void bt_del(void *m, uint64_t key) {
    const gm_map *g = m;
    g->b->del(g->typed, &key);
}

/* Values of value_size bytes land in a scratch array, of which the first 8
 * bytes of each are the workload's u64. */
static void bt_load_many(void *m, const uint64_t *keys, size_t n, uint64_t *values, bool *found) {
    const gm_map *g = m;
    unsigned char buf[RUN_BATCH * GOMAP_MAX_VALUE_SIZE];
    g->b->load_many(g->typed, keys, n, buf, found);
    for (size_t j = 0; j < n; j++) {
        values[j] = 0;
        if (found[j])
            memcpy(&values[j], buf + j * g->value_size, sizeof values[j]);
    }
}

static run_map gm_run_map(gm_map *g) {
    if (g->cm) {
        run_map r = {g->cm, cm_load, cm_store, cm_del, NULL, NULL, NULL};
        return r;
    }
    run_map r = {g, bt_load, bt_store, bt_del, NULL, NULL, bt_load_many};
    return r;
}

static size_t gm_len(const gm_map *g) {
    return g->cm ? concmap_len(g->cm) : g->b->len(g->typed);
}

static void gm_range(const gm_map *g, concmap_range_fn fn, void *ctx) {
    if (g->cm)
        concmap_range(g->cm, fn, ctx);
    else
        g->b->range(g->typed, fn, ctx);
}

static void gm_free(gm_map *g) {
    if (g->cm)
        concmap_free(g->cm);
    else if (g->typed)
        g->b->destroy(g->typed);
    *g = (gm_map){0};
}

static bool gm_made(const gm_map *g) {
    return g->cm || g->typed;
}

/* ---- one variant ---------------------------------------------------------------- */

static int new_map(const mix_plan *p, const mix_variant *var, gm_map *g) {
    gomap_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.key_kind = GOMAP_KEY_U64;
    cfg.value_size = p->value_size;
    cfg.hint = p->keys; /* every contestant is pre-sized for the key set */
    cfg.allocator = &gate_allocator;
    *g = (gm_map){0};
    if (!var->batch)
        return concmap_new(&g->cm, var->kind, &cfg, &var->opts);
    g->b = strcmp(var->kind, "rw") == 0 ? &RW_BATCH : &SHARD_BATCH;
    g->value_size = p->value_size;
    int err = g->b->create(&g->typed, &cfg, &var->opts);
    if (err)
        *g = (gm_map){0};
    return err;
}

/* Creates a variant's map, stores the key set [0, keys) and warms it up
 * (run_warm), with the counting gate open from before the map's first
 * allocation; returns the bytes per entry the map holds afterwards.  Variants that free through RCU
 * (syncmap, cowmap, shardmap) hand old memory to a reclamation thread: the gate stays open a little
 * longer so those frees are counted. */
static int create_prefilled(const mix_plan *p, const mix_variant *var, gm_map *m, double *bpe) {
    bench_counter_reset(&gate_counter);
    atomic_store_explicit(&gate_on, true, memory_order_relaxed);
    int err = new_map(p, var, m);
    if (err == 0) {
        run_map c = gm_run_map(m);
        run_prefill(&c, p->seed, p->keys);
        bench_keep(run_warm(&c, p->seed, p->keys)); /* runner.h: why */
        struct timespec ts = {0, 100 * 1000000};
        nanosleep(&ts, NULL);
    }
    atomic_store_explicit(&gate_on, false, memory_order_relaxed);
    /* relaxed atomic load: a reclamation thread may still be counting a free */
    int64_t live = __atomic_load_n(&gate_counter.live_bytes, __ATOMIC_RELAXED);
    *bpe = p->keys ? (double)live / (double)p->keys : 0;
    return err;
}

/* Allocations per operation of a trace, single-threaded, counted; the
 * checksum of the reads goes to *sum.  Bounded: at most 1 s of operations. */
static double count_allocs(gm_map *m, uint64_t seed, const wl_trace *tr, uint64_t ops, bool bounded,
                           uint64_t *sum) {
    run_map c = gm_run_map(m);
    bench_counter_reset(&gate_counter);
    atomic_store_explicit(&gate_on, true, memory_order_relaxed);
    uint64_t done = ops;
    if (bounded)
        *sum = run_serial_bounded(&c, seed, tr, ops, 1000000000u, &done);
    else
        *sum = run_serial(&c, seed, tr, ops);
    atomic_store_explicit(&gate_on, false, memory_order_relaxed);
    uint64_t allocs = __atomic_load_n(&gate_counter.allocs, __ATOMIC_RELAXED);
    return done ? (double)allocs / (double)done : 0;
}

static bool sum_range(const void *key, const void *value, void *ctx) {
    (void)key;
    uint64_t v;
    memcpy(&v, value, sizeof v);
    *(uint64_t *)ctx += v;
    return true;
}

/* ---- running gomap's variants --------------------------------------------------- */

typedef struct traces {
    wl_trace tr[MIX_MAX_THREADS];
    unsigned n;
} traces;

static int traces_build(traces *ts, const mix_plan *p, const wl_mix *m, wl_dist d, unsigned n) {
    ts->n = 0;
    size_t len = p->verify_ops && p->verify_ops < p->trace_len ? p->verify_ops : p->trace_len;
    for (unsigned t = 0; t < n; t++) {
        if (wl_trace_build(&ts->tr[t], m, d, p->keys, p->seed, t, len) != 0)
            return ENOMEM;
        ts->n++;
    }
    return 0;
}

static void traces_free(traces *ts) {
    for (unsigned t = 0; t < ts->n; t++)
        wl_trace_free(&ts->tr[t]);
    ts->n = 0;
}

static unsigned plan_max_threads(const mix_plan *p) {
    unsigned T = 1;
    for (int i = 0; i < p->nthreads; i++)
        if (p->threads[i] > T)
            T = p->threads[i];
    return T;
}

/* Progress units: one per throughput repetition or latency run. */
static uint64_t plan_units(const mix_plan *p, int nvariants) {
    uint64_t cells = (uint64_t)nvariants * (uint64_t)p->nmixes * (uint64_t)p->ndists;
    if (p->verify_ops)
        return cells;
    uint64_t units = p->throughput ? cells * (uint64_t)p->nthreads * p->reps : 0;
    for (int i = 0; p->latency && i < p->nmixes; i++)
        if (bench_list_has(p->latency_mixes, p->mixes[i]->name))
            units += (uint64_t)nvariants * (uint64_t)p->ndists * (uint64_t)p->nthreads;
    return units;
}

static void emit(bench_output *out, mix_results *rs, const mix_result *r) {
    mix_result_emit(out, r);
    mix_results_add(rs, r);
}

/* One gomap variant across the plan's cells: whether it takes part, and its
 * prefilled map (made at its first cell, shared by the cells after). */
typedef struct variant_run {
    const mix_variant *var;
    bool selected;
    gm_map map;
    double bpe; /* bytes per entry after the prefill */
} variant_run;

/* Whether the plan selects a variant: one that runs on request only when
 * --maps names it, the others as mix_plan_has says. */
static bool variant_selected(const mix_plan *p, const mix_variant *var) {
    return var->on_request ? p->maps && bench_list_has(p->maps, var->name)
                           : mix_plan_has(p, var->kind, var->name);
}

/* Whether a variant runs in the plan: selected, buildable here, and (for
 * cowmap) not above COW_MAX_KEYS keys outside verification. */
static bool variant_usable(const mix_plan *p, const mix_variant *var) {
    if (!variant_selected(p, var))
        return false;
    gm_map probe;
    int err = new_map(p, var, &probe);
    if (err) {
        if (!p->quiet)
            fprintf(stderr, "gomap-bench: %s: not available (%s); skipped\n", var->name,
                    strerror(err));
        return false;
    }
    gm_free(&probe);
    if (strcmp(var->kind, "cow") == 0 && p->keys > COW_MAX_KEYS && !p->verify_ops) {
        if (!p->quiet)
            fprintf(stderr,
                    "gomap-bench: cowmap: skipped above %d keys (every write copies the "
                    "map: prefilling %llu keys would copy it %llu times)\n",
                    COW_MAX_KEYS, (unsigned long long)p->keys, (unsigned long long)p->keys);
        return false;
    }
    return true;
}

/* The peer program that runs contestant name, or NULL. */
static const mix_peer *peer_running(const char *name) {
    for (int k = 0; k < MIX_NPEERS; k++)
        for (int j = 0; mix_peers[k].maps[j]; j++)
            if (strcmp(mix_peers[k].maps[j], name) == 0)
                return &mix_peers[k];
    return NULL;
}

/* Whether variant var's cells, throughput and latency, run paired with its
 * Go analog's (mix_plan.pin): timed runs with peers, the analog selected
 * and its program built, and var the first variant selected with that
 * analog (the others with the same analog, such as shardmap-32 beside
 * shardmap, run alone).  run_gomap and run_peers both ask, so the two sides
 * agree. */
static bool variant_paired(const mix_plan *p, const mix_variant *var) {
    if (!p->pin || !p->peers || p->verify_ops || !var->analog ||
        !mix_plan_has(p, NULL, var->analog))
        return false;
    const mix_peer *pk = peer_running(var->analog);
    char path[4096];
    if (!pk || !bench_peer_path(pk->program, path, sizeof path))
        return false;
    for (int v = 0; v < MIX_NVARIANTS; v++) {
        const mix_variant *o = &mix_variants[v];
        bool fits = strcmp(o->kind, "cow") != 0 || p->keys <= COW_MAX_KEYS;
        if (strcmp(o->analog, var->analog) == 0 && variant_selected(p, o) && fits)
            return o == var;
    }
    return false;
}

/* Whether the Go contestant `name` runs its cells paired (all of them,
 * inside run_gomap). */
static bool analog_paired(const mix_plan *p, const char *name) {
    for (int v = 0; v < MIX_NVARIANTS; v++)
        if (strcmp(mix_variants[v].analog, name) == 0 && variant_paired(p, &mix_variants[v]))
            return true;
    return false;
}

/* The verification run of one variant on one (mix, dist): a fresh map,
 * thread 0's trace for verify_ops operations, single-threaded. */
static void verify_one(const mix_plan *p, const mix_variant *var, const wl_mix *m, wl_dist d,
                       const traces *ts, bench_output *out, mix_results *rs) {
    gm_map map;
    double bpe;
    if (create_prefilled(p, var, &map, &bpe) != 0)
        return;
    uint64_t sum;
    double apo = count_allocs(&map, p->seed, &ts->tr[0], p->verify_ops, false, &sum);
    mix_result r;
    mix_result_cell(&r, "verify", var->name, m->name, wl_dist_name(d), 1, p->keys, p->seed);
    r.ops = p->verify_ops;
    r.checksum = sum;
    r.allocs_per_op = apo;
    r.bytes_per_entry = bpe;
    r.final_len = gm_len(&map);
    gm_range(&map, sum_range, &r.final_sum);
    gm_free(&map);
    emit(out, rs, &r);
}

/* What one cell of a variant measures on, beside the plan. */
typedef struct cell {
    const variant_run *vr;
    const wl_mix *m;
    wl_dist d;
    const traces *ts;
    double apo; /* allocations per operation, counted before the timed runs */
    run_map rm; /* the variant's map */
} cell;

/* The untimed run before a cell's timed repetitions (a fifth of
 * --duration): caches, and syncmap's first promotion. */
static void warm_up(const mix_plan *p, const cell *c, const run_map *rm, unsigned th) {
    uint64_t o, s;
    run_threads(rm, p->seed, c->ts->tr, th, p->duration_ms / 5 + 1, 0, NULL, &o, &s);
}

/* The throughput cell at th threads: a warm-up, then --reps timed runs. */
static void throughput_cell(const mix_plan *p, const cell *c, const run_map *rm, unsigned th,
                            bench_output *out, mix_results *rs) {
    double mops[100];
    uint64_t ops = 0, sum = 0, o, s;
    warm_up(p, c, rm, th);
    for (unsigned k = 0; k < p->reps; k++) {
        mops[k] = run_threads(rm, p->seed, c->ts->tr, th, p->duration_ms, 0, NULL, &o, &s);
        ops += o;
        sum += s;
        bench_progress_add(1, c->vr->var->name);
    }
    mix_result r;
    mix_result_cell(&r, "mix", c->vr->var->name, c->m->name, wl_dist_name(c->d), th, p->keys,
                    p->seed);
    mix_result_throughput(&r, mops, p->reps, p->duration_ms);
    r.ops = ops;
    r.checksum = sum;
    r.allocs_per_op = c->apo;
    r.bytes_per_entry = c->vr->bpe;
    emit(out, rs, &r);
}

/* The latency cell at th threads: --lat-runs open-loop runs at --rate, the
 * one of median p99 kept (run_latency). */
static int latency_cell(const mix_plan *p, const cell *c, const run_map *rm, unsigned th,
                        bench_output *out, mix_results *rs) {
    hist *h = malloc(sizeof *h);
    if (!h)
        return 1;
    uint64_t o, s;
    if (run_latency(rm, p->seed, c->ts->tr, th, p->lat_ms, p->rate, p->lat_runs, h, &o, &s) != 0) {
        free(h);
        return 1;
    }
    bench_progress_add(1, c->vr->var->name);
    mix_result r;
    mix_result_cell(&r, "latency", c->vr->var->name, c->m->name, wl_dist_name(c->d), th, p->keys,
                    p->seed);
    mix_result_latency(&r, h, p->rate, th * (p->lat_ms * p->rate / 1000));
    r.ops = o;
    r.checksum = s;
    r.allocs_per_op = c->apo;
    r.bytes_per_entry = c->vr->bpe;
    free(h);
    emit(out, rs, &r);
    return 0;
}

static int peer_rep(const mix_plan *p, const char *program, const char *path, const char *map,
                    const wl_mix *m, wl_dist d, unsigned th, bool latency, mix_result *r,
                    char **line);

/* The k-th CPU of the calling thread's affinity, cyclically, into *one, and
 * the whole affinity into *saved; false when it cannot be read. */
static bool pair_cpu(unsigned k, cpu_set_t *saved, cpu_set_t *one) {
    size_t cpus[CPU_SETSIZE];
    unsigned ncpu = 0;
    if (sched_getaffinity(0, sizeof *saved, saved) != 0)
        return false;
    for (size_t i = 0; i < CPU_SETSIZE; i++)
        if (CPU_ISSET(i, saved))
            cpus[ncpu++] = i;
    if (ncpu == 0)
        return false;
    CPU_ZERO(one);
    CPU_SET(cpus[k % ncpu], one);
    return true;
}

/* The arguments of a peer program's run: the plan's, for the contestants
 * in maps, the mixes, dists and threads given as comma lists; throughput,
 * latency and reps as given; the strings live in *pa. */
typedef struct peer_args {
    const char *argv[44];
    char keys[32], seed[32], dur[32], reps[16], tlen[32], rate[32], latms[32], latruns[16],
        vops[32];
} peer_args;

/* A peer contestant whose throughput cells run in rounds (mix_peer.rounds):
 * its program, started once per run_gomap call at its first round, serves
 * one repetition per request (bench_peer_serve). */
typedef struct round_peer {
    const char *name;
    const mix_peer *pk;
    char path[4096];
    bench_served s;
    bool started, failed;
} round_peer;

static void peer_args_build(peer_args *pa, const mix_plan *p, const char *program, const char *maps,
                            const char *mixes, const char *dists, const char *threads,
                            bool throughput, bool latency, unsigned reps);
static void plan_lists(const mix_plan *p, char *mixes, size_t nm, char *dists, size_t nd,
                       char *threads, size_t nt);

/* Starts a round peer's program for the plan's cells: prefilled once, it
 * then serves each repetition on request. */
static bool round_peer_start(const mix_plan *p, round_peer *r) {
    if (r->started || r->failed)
        return r->started;
    char mixes[256] = "", dists[32] = "", threads[128] = "";
    plan_lists(p, mixes, sizeof mixes, dists, sizeof dists, threads, sizeof threads);
    peer_args pa;
    peer_args_build(&pa, p, r->pk->program, r->name, mixes, dists, threads, true, false, 1);
    int a = 0;
    while (pa.argv[a])
        a++;
    pa.argv[a++] = "--serve", pa.argv[a++] = "1", pa.argv[a] = NULL;
    if (!p->quiet)
        fprintf(stderr, "gomap-bench: running %s (%s) in rounds\n", r->pk->program, r->name);
    r->started = bench_peer_serve(&r->s, r->path, pa.argv) == 0;
    r->failed = !r->started;
    if (r->failed)
        fprintf(stderr, "gomap-bench: %s (%s) did not start\n", r->pk->program, r->name);
    return r->started;
}

/* One repetition of a round peer in cell (m, d, th), pinned to cpu unless
 * it is -1; its record in *r.  0, or -1 (the peer then drops out). */
static int round_peer_rep(round_peer *rp, const wl_mix *m, wl_dist d, unsigned th, int cpu,
                          mix_result *r) {
    char req[96];
    snprintf(req, sizeof req, "%s %s %u %d", m->name, wl_dist_name(d), th, cpu);
    char *line = bench_peer_ask(&rp->s, req);
    bool ok = line && mix_result_parse(line, r) && strcmp(r->kind, "mix") == 0;
    free(line);
    if (!ok) {
        fprintf(stderr, "gomap-bench: %s (%s) gave no result for %s\n", rp->pk->program, rp->name,
                req);
        rp->failed = true;
        bench_peer_stop(&rp->s);
        rp->started = false;
    }
    return ok ? 0 : -1;
}

/* The CPU number in a set of one. */
static int only_cpu(const cpu_set_t *one) {
    for (size_t i = 0; i < CPU_SETSIZE; i++)
        if (CPU_ISSET(i, one))
            return (int)i;
    return -1;
}

/* Who runs in a round, in round order: each variant and right after it its
 * Go analog (when the two are paired), then the round peers. */
typedef struct round_slot {
    int kind; /* 0: variant, 1: its analog, 2: a round peer */
    int i;    /* index into the cells or the round peers */
} round_slot;

/* The throughput cell at th threads of cells c[0..nc) and of round peers
 * rp[0..nrp), as rounds (mix_plan.pin): round k runs repetition k of every
 * one of them, each variant after its own warm-up and right beside its Go
 * analog (one peer run with one repetition, its own warm-up in it), each
 * round peer's repetition served by its program after its own warm-up; in
 * odd rounds the order is reversed, so every one runs first in its pair and
 * before the others in half the rounds and a steady drift of the machine
 * favours no side.  At 1 thread the calling thread pins itself to the k-th
 * CPU of its affinity (cyclically) for the whole round: the worker it starts
 * and the Go peer it spawns inherit that affinity, and the round peers pin
 * their own repetition to it.  So repetition k of every contestant met the
 * same CPU or the same stretch of time, and the ratio of two of them divides
 * out the machine's speed at that moment (docs/benchmarks.md, "Rounds").
 * With one variant and no round peer this is the fair pair of
 * docs/benchmarks.md.  Emits each contestant's record with its repetitions
 * in run order. */
static void round_cell(const mix_plan *p, const cell *c, int nc, round_peer *rp, int nrp,
                       unsigned th, bench_output *out, mix_results *rs) {
    enum { MAX_SLOTS = 2 * MIX_NVARIANTS + MIX_NPEERS };
    mix_result *g = calloc((size_t)(2 * nc + nrp), sizeof *g);
    if (!g)
        return;
    mix_result *a = g + nc, *pr = g + 2 * nc;
    bool ok[2 * MIX_NVARIANTS + MIX_NPEERS];
    char paths[MIX_NVARIANTS][4096];
    round_slot slot[MAX_SLOTS];
    int ns = 0;
    char with[sizeof g->round_with] = "";
    for (int i = 0; i < nc; i++) {
        const mix_variant *var = c[i].vr->var;
        mix_result_cell(&g[i], "mix", var->name, c[i].m->name, wl_dist_name(c[i].d), th, p->keys,
                        p->seed);
        ok[i] = true;
        slot[ns++] = (round_slot){0, i};
        mix_list_append(with, sizeof with, var->name);
        const mix_peer *pk = variant_paired(p, var) ? peer_running(var->analog) : NULL;
        ok[nc + i] = pk && bench_peer_path(pk->program, paths[i], sizeof paths[i]);
        if (!ok[nc + i])
            continue;
        mix_result_cell(&a[i], "mix", var->analog, c[i].m->name, wl_dist_name(c[i].d), th, p->keys,
                        p->seed);
        g[i].paired = a[i].paired = true;
        snprintf(g[i].paired_with, sizeof g[i].paired_with, "%s", var->analog);
        snprintf(a[i].paired_with, sizeof a[i].paired_with, "%s", var->name);
        slot[ns++] = (round_slot){1, i};
        mix_list_append(with, sizeof with, var->analog);
    }
    for (int j = 0; j < nrp; j++) {
        ok[2 * nc + j] = round_peer_start(p, &rp[j]);
        if (!ok[2 * nc + j])
            continue;
        mix_result_cell(&pr[j], "mix", rp[j].name, c[0].m->name, wl_dist_name(c[0].d), th, p->keys,
                        p->seed);
        slot[ns++] = (round_slot){2, j};
        mix_list_append(with, sizeof with, rp[j].name);
    }
    cpu_set_t saved, one;
    bool pin = th == 1 && pair_cpu(0, &saved, &one);
    for (int i = 0; i < 2 * nc + nrp; i++) {
        g[i].pinned = pin;
        if (nrp > 0)
            snprintf(g[i].round_with, sizeof g[i].round_with, "%s", with);
    }
    for (unsigned k = 0; k < p->reps; k++) {
        int cpu = -1;
        if (pin && pair_cpu(k, &saved, &one)) {
            cpu = only_cpu(&one);
            if (sched_setaffinity(0, sizeof one, &one) != 0)
                perror("gomap-bench: sched_setaffinity");
        }
        bool forward = k % 2 == 0;
        for (int n = 0; n < ns; n++) {
            const round_slot *sl = &slot[forward ? n : ns - 1 - n];
            int i = sl->i;
            /* g holds the variants, then their analogs (a), then the round
             * peers (pr); ok is indexed alike */
            int idx = sl->kind == 0 ? i : sl->kind == 1 ? nc + i : 2 * nc + i;
            mix_result *r = &g[idx];
            if (!ok[idx])
                continue;
            /* variants ran first in even rounds, the others in odd ones */
            r->rep_first[k] = (sl->kind == 0) == forward;
            mix_result one_rep;
            if (sl->kind == 0) {
                uint64_t o, s;
                warm_up(p, &c[i], &c[i].rm, th);
                r->rep_mops[k] = run_threads(&c[i].rm, p->seed, c[i].ts->tr, th, p->duration_ms, 0,
                                             NULL, &o, &s);
                r->rep_cpu[k] = (int16_t)run_last_cpu();
                r->ops += o;
                r->checksum += s;
                continue;
            }
            if (sl->kind == 1)
                ok[idx] =
                    peer_rep(p, peer_running(c[i].vr->var->analog)->program, paths[i],
                             c[i].vr->var->analog, c[i].m, c[i].d, th, false, &one_rep, NULL) == 0;
            else
                ok[idx] = round_peer_rep(&rp[i], c[0].m, c[0].d, th, cpu, &one_rep) == 0;
            if (!ok[idx])
                continue;
            r->rep_mops[k] = one_rep.mops;
            r->rep_cpu[k] = (int16_t)one_rep.cpu;
            r->ops += one_rep.ops;
            r->checksum += one_rep.checksum;
            r->allocs_per_op = one_rep.allocs_per_op;
            r->bytes_per_entry = one_rep.bytes_per_entry;
        }
        if (pin && sched_setaffinity(0, sizeof saved, &saved) != 0)
            perror("gomap-bench: sched_setaffinity");
        for (int i = 0; i < nc; i++)
            bench_progress_add(1, c[i].vr->var->name);
    }
    double mops[MIX_MAX_REPS];
    for (int i = 0; i < 2 * nc + nrp; i++) {
        /* the order of the records: each variant, then its analog; the
         * round peers last */
        int idx = i < 2 * nc ? (i % 2 == 0 ? i / 2 : nc + i / 2) : i;
        if (!ok[idx])
            continue;
        memcpy(mops, g[idx].rep_mops, p->reps * sizeof mops[0]);
        mix_result_throughput(&g[idx], mops, p->reps, p->duration_ms);
        if (idx < nc) {
            g[idx].allocs_per_op = c[idx].apo;
            g[idx].bytes_per_entry = c[idx].vr->bpe;
        }
        emit(out, rs, &g[idx]);
    }
    free(g);
}

/* The latency cell at th threads as fair pairs (mix_plan.pin): --lat-runs
 * runs of the variant and as many of its Go analog (one peer run each),
 * alternating run by run (A,B then B,A), so that both sides sample the
 * machine's stalls over the same stretch of time.  Nothing is pinned: an
 * operation costs about a microsecond against 100 us between two, so a
 * CPU's speed hardly shows in a p99, while a thread pinned to a CPU that a
 * kernel thread or another program takes waits out its whole time slice
 * instead of moving to the other CPU (docs/benchmarks.md).  Each side keeps
 * its run of median p99 (run_latency's rule), and its line lists every run's
 * p99 (rep_p99) for the pairs' own ratios.  Run apart, a side's --lat-runs runs fall in one stretch
 * of a minute and its analog's in another, and the host's stalls, which come and go over such
 * stretches, decided the ratio (docs/benchmarks.md). */
static void paired_latency_cell(const mix_plan *p, const cell *c, const run_map *rm, unsigned th,
                                bench_output *out, mix_results *rs) {
    enum { MAX_RUNS = 100 };
    const mix_variant *var = c->vr->var;
    const mix_peer *pk = peer_running(var->analog);
    char path[4096];
    unsigned runs = p->lat_runs < MAX_RUNS ? p->lat_runs : MAX_RUNS;
    hist *hs = malloc(runs * sizeof *hs);
    if (!hs || !pk || !bench_peer_path(pk->program, path, sizeof path)) {
        free(hs);
        return;
    }
    uint64_t o[MAX_RUNS], s[MAX_RUNS];
    mix_result pr[MAX_RUNS];
    bool peer_ok = true;
    for (unsigned k = 0; k < runs; k++) {
        bool gomap_first = k % 2 == 0;
        for (int side = 0; side < 2; side++) {
            if ((side == 0) == gomap_first) {
                hist_init(&hs[k]);
                run_threads(rm, p->seed, c->ts->tr, th, p->lat_ms, p->rate, &hs[k], &o[k], &s[k]);
            } else if (peer_ok) {
                peer_ok = peer_rep(p, pk->program, path, var->analog, c->m, c->d, th, true, &pr[k],
                                   NULL) == 0;
            }
        }
    }
    /* each side's run of median p99 (the lower middle one of an even count) */
    unsigned order[MAX_RUNS], porder[MAX_RUNS];
    for (unsigned k = 0; k < runs; k++) {
        unsigned j = k;
        for (; j > 0 && hist_quantile(&hs[order[j - 1]], 0.99) > hist_quantile(&hs[k], 0.99); j--)
            order[j] = order[j - 1];
        order[j] = k;
        for (j = k; peer_ok && j > 0 && pr[porder[j - 1]].p99 > pr[k].p99; j--)
            porder[j] = porder[j - 1];
        porder[j] = k;
    }
    unsigned mid = order[(runs - 1) / 2];
    bench_progress_add(1, var->name);
    mix_result r;
    mix_result_cell(&r, "latency", var->name, c->m->name, wl_dist_name(c->d), th, p->keys, p->seed);
    mix_result_latency(&r, &hs[mid], p->rate, th * (p->lat_ms * p->rate / 1000));
    r.ops = o[mid];
    r.checksum = s[mid];
    r.allocs_per_op = c->apo;
    r.bytes_per_entry = c->vr->bpe;
    /* both sides record every run's p99 in run order, for the pairs' own
     * ratios (the targets) */
    r.paired = peer_ok;
    r.reps = runs;
    snprintf(r.paired_with, sizeof r.paired_with, "%s", var->analog);
    for (unsigned k = 0; k < runs; k++)
        r.rep_p99[k] = (double)hist_quantile(&hs[k], 0.99);
    emit(out, rs, &r);
    if (peer_ok) {
        mix_result a = pr[porder[(runs - 1) / 2]];
        a.paired = true;
        a.reps = runs;
        snprintf(a.paired_with, sizeof a.paired_with, "%s", var->name);
        for (unsigned k = 0; k < runs; k++)
            a.rep_p99[k] = pr[k].p99;
        emit(out, rs, &a);
    }
    free(hs);
}

/* Whether the plan has a gomap variant to run (selected, and cowmap not
 * above COW_MAX_KEYS keys). */
static bool plan_has_variant(const mix_plan *p) {
    for (int v = 0; v < MIX_NVARIANTS; v++) {
        const mix_variant *o = &mix_variants[v];
        if (variant_selected(p, o) && (strcmp(o->kind, "cow") != 0 || p->keys <= COW_MAX_KEYS))
            return true;
    }
    return false;
}

/* Whether peer contestant `name`'s throughput cells run in rounds with
 * gomap's variants (mix_peer.rounds, mix_plan.pin): timed throughput runs
 * with peers, the contestant selected and its program built, and a variant
 * to run beside it.  run_gomap and run_peers both ask, so the two sides
 * agree. */
static bool peer_in_rounds(const mix_plan *p, const char *name) {
    const mix_peer *pk = peer_running(name);
    char path[4096];
    return p->pin && p->peers && !p->verify_ops && p->throughput && pk && pk->rounds &&
           mix_plan_has(p, NULL, name) && bench_peer_path(pk->program, path, sizeof path) &&
           plan_has_variant(p);
}

/* The round peers of the plan into rp (at most MIX_NPEERS); their count. */
static int round_peers(const mix_plan *p, round_peer *rp) {
    int n = 0;
    for (int k = 0; k < MIX_NPEERS; k++)
        for (int j = 0; mix_peers[k].maps[j]; j++)
            if (peer_in_rounds(p, mix_peers[k].maps[j]) && n < MIX_NPEERS) {
                rp[n] = (round_peer){.name = mix_peers[k].maps[j], .pk = &mix_peers[k]};
                rp[n].s.pid = -1;
                bench_peer_path(mix_peers[k].program, rp[n].path, sizeof rp[n].path);
                n++;
            }
    return n;
}

/* Every cell of the selected variants on one (mix, dist): each thread count,
 * for throughput (with the round peers in rounds, or each variant beside its
 * Go analog in pairs, or alone) and latency as the plan asks.  A variant's
 * map is made and prefilled at its first cell; a variant whose map cannot
 * be made drops out. */
static int run_cells(const mix_plan *p, variant_run *vr, const wl_mix *m, wl_dist d,
                     const traces *ts, round_peer *rp, int nrp, bench_output *out,
                     mix_results *rs) {
    cell cs[MIX_NVARIANTS];
    int nc = 0;
    for (int v = 0; v < MIX_NVARIANTS; v++) {
        if (!vr[v].selected)
            continue;
        if (p->verify_ops) {
            verify_one(p, vr[v].var, m, d, ts, out, rs);
            bench_progress_add(1, vr[v].var->name);
            continue;
        }
        if (!gm_made(&vr[v].map) && create_prefilled(p, vr[v].var, &vr[v].map, &vr[v].bpe) != 0) {
            vr[v].selected = false;
            continue;
        }
        uint64_t junk;
        /* untimed, single-threaded, counted: allocations per op */
        cs[nc] = (cell){&vr[v],
                        m,
                        d,
                        ts,
                        count_allocs(&vr[v].map, p->seed, &ts->tr[0], 20000, true, &junk),
                        gm_run_map(&vr[v].map)};
        nc++;
    }
    if (p->verify_ops || nc == 0)
        return 0;
    bool latency = p->latency && bench_list_has(p->latency_mixes, m->name);
    for (int ti = 0; ti < p->nthreads; ti++) {
        unsigned th = p->threads[ti];
        if (p->throughput && nrp > 0)
            round_cell(p, cs, nc, rp, nrp, th, out, rs);
        for (int i = 0; p->throughput && nrp == 0 && i < nc; i++) {
            if (variant_paired(p, cs[i].vr->var))
                round_cell(p, &cs[i], 1, NULL, 0, th, out, rs);
            else
                throughput_cell(p, &cs[i], &cs[i].rm, th, out, rs);
        }
        for (int i = 0; latency && i < nc; i++) {
            if (variant_paired(p, cs[i].vr->var))
                paired_latency_cell(p, &cs[i], &cs[i].rm, th, out, rs);
            else if (latency_cell(p, &cs[i], &cs[i].rm, th, out, rs) != 0)
                return 1;
        }
    }
    return 0;
}

static int run_gomap(const mix_plan *p, bench_output *out, mix_results *rs) {
    variant_run vr[MIX_NVARIANTS];
    int nsel = 0;
    for (int v = 0; v < MIX_NVARIANTS; v++) {
        vr[v] = (variant_run){&mix_variants[v], variant_usable(p, &mix_variants[v]), {0}, 0};
        nsel += vr[v].selected;
    }
    if (!nsel)
        return 0;
    round_peer rp[MIX_NPEERS];
    int nrp = round_peers(p, rp);
    unsigned T = plan_max_threads(p);
    bench_progress_start(plan_units(p, nsel), "gomap");
    int rc = 0;
    for (int mi = 0; mi < p->nmixes && rc == 0; mi++) {
        for (int di = 0; di < p->ndists && rc == 0; di++) {
            traces ts;
            if (traces_build(&ts, p, p->mixes[mi], p->dists[di], p->verify_ops ? 1 : T) != 0) {
                traces_free(&ts);
                fprintf(stderr, "gomap-bench: out of memory building traces\n");
                rc = 1;
                break;
            }
            rc = run_cells(p, vr, p->mixes[mi], p->dists[di], &ts, rp, nrp, out, rs);
            traces_free(&ts);
        }
    }
    for (int j = 0; j < nrp; j++)
        if (rp[j].started)
            bench_peer_stop(&rp[j].s);
    for (int v = 0; v < MIX_NVARIANTS; v++)
        gm_free(&vr[v].map);
    if (rc == 0)
        bench_progress_done();
    return rc;
}

/* ---- running the peers ------------------------------------------------------------ */

static void peer_args_build(peer_args *pa, const mix_plan *p, const char *program, const char *maps,
                            const char *mixes, const char *dists, const char *threads,
                            bool throughput, bool latency, unsigned reps) {
    snprintf(pa->keys, sizeof pa->keys, "%llu", (unsigned long long)p->keys);
    snprintf(pa->seed, sizeof pa->seed, "%llu", (unsigned long long)p->seed);
    snprintf(pa->dur, sizeof pa->dur, "%llu", (unsigned long long)p->duration_ms);
    snprintf(pa->reps, sizeof pa->reps, "%u", reps);
    snprintf(pa->tlen, sizeof pa->tlen, "%zu", p->trace_len);
    snprintf(pa->rate, sizeof pa->rate, "%llu", (unsigned long long)p->rate);
    snprintf(pa->latms, sizeof pa->latms, "%llu", (unsigned long long)p->lat_ms);
    snprintf(pa->latruns, sizeof pa->latruns, "%u", p->lat_runs);
    snprintf(pa->vops, sizeof pa->vops, "%llu", (unsigned long long)p->verify_ops);
    const char **argv = pa->argv;
    int a = 0;
    argv[a++] = program;
    argv[a++] = "--maps", argv[a++] = maps;
    argv[a++] = "--mixes", argv[a++] = mixes;
    argv[a++] = "--dist", argv[a++] = dists;
    argv[a++] = "--threads", argv[a++] = threads;
    argv[a++] = "--keys", argv[a++] = pa->keys;
    argv[a++] = "--seed", argv[a++] = pa->seed;
    argv[a++] = "--duration-ms", argv[a++] = pa->dur;
    argv[a++] = "--reps", argv[a++] = pa->reps;
    argv[a++] = "--trace-len", argv[a++] = pa->tlen;
    argv[a++] = "--rate", argv[a++] = pa->rate;
    argv[a++] = "--lat-ms", argv[a++] = pa->latms;
    argv[a++] = "--lat-runs", argv[a++] = pa->latruns;
    argv[a++] = "--throughput", argv[a++] = throughput ? "1" : "0";
    argv[a++] = "--latency", argv[a++] = latency ? "1" : "0";
    argv[a++] = "--verify-ops", argv[a++] = pa->vops;
    if (latency && p->latency_mixes)
        argv[a++] = "--latency-mixes", argv[a++] = p->latency_mixes;
    argv[a] = NULL;
}

/* Runs a peer program and adds every result line it prints to out and rs. */
static void peer_invoke(const mix_plan *p, const char *program, const char *path,
                        const peer_args *pa, const char *maps, bench_output *out, mix_results *rs) {
    if (!p->quiet)
        fprintf(stderr, "gomap-bench: running %s (%s)\n", program, maps);
    bench_lines lines = {0};
    int st = bench_run_peer(path, pa->argv, &lines);
    if (st != 0)
        fprintf(stderr, "gomap-bench: %s exited with status %d\n", program, st);
    for (size_t i = 0; i < lines.len; i++) {
        mix_result r;
        if (!mix_result_parse(lines.line[i], &r))
            continue;
        bench_output_emit(out, lines.line[i]);
        mix_results_add(rs, &r);
    }
    bench_lines_free(&lines);
}

/* One repetition of a paired cell on the peer's side: the program run for
 * contestant map with one repetition of throughput only (round_cell), or
 * with one latency run and no throughput (paired_latency_cell); its record
 * in *r and, when line is not NULL, its JSON line in *line (malloc'd).  0,
 * or -1 when it printed none. */
static int peer_rep(const mix_plan *p, const char *program, const char *path, const char *map,
                    const wl_mix *m, wl_dist d, unsigned th, bool latency, mix_result *r,
                    char **line) {
    char threads[16];
    snprintf(threads, sizeof threads, "%u", th);
    mix_plan one = *p;
    if (latency) {
        one.lat_runs = 1;
        one.latency_mixes = NULL;
    }
    peer_args pa;
    peer_args_build(&pa, &one, program, map, m->name, wl_dist_name(d), threads, !latency, latency,
                    1);
    const char *kind = latency ? "latency" : "mix";
    bench_lines lines = {0};
    int st = bench_run_peer(path, pa.argv, &lines);
    int rc = -1;
    if (line)
        *line = NULL;
    for (size_t i = 0; i < lines.len && rc != 0; i++)
        if (mix_result_parse(lines.line[i], r) && strcmp(r->kind, kind) == 0 &&
            strcmp(r->map, map) == 0 && (!line || (*line = strdup(lines.line[i]))))
            rc = 0;
    bench_lines_free(&lines);
    if (rc != 0)
        fprintf(stderr, "gomap-bench: %s (%s) exited with status %d and no %sresult\n", program,
                map, st, latency ? "latency " : "");
    return rc;
}

/* The plan's mixes, dists and thread counts as comma lists. */
static void plan_lists(const mix_plan *p, char *mixes, size_t nm, char *dists, size_t nd,
                       char *threads, size_t nt) {
    for (int i = 0; i < p->nmixes; i++)
        mix_list_append(mixes, nm, p->mixes[i]->name);
    for (int i = 0; i < p->ndists; i++)
        mix_list_append(dists, nd, wl_dist_name(p->dists[i]));
    for (int i = 0; i < p->nthreads; i++) {
        char t[16];
        snprintf(t, sizeof t, "%u", p->threads[i]);
        mix_list_append(threads, nt, t);
    }
}

static int run_peers(const mix_plan *p, bench_output *out, mix_results *rs) {
    char mixes[256] = "", dists[32] = "", threads[128] = "";
    plan_lists(p, mixes, sizeof mixes, dists, sizeof dists, threads, sizeof threads);
    bool latency = false;
    for (int i = 0; p->latency && i < p->nmixes; i++)
        latency |= bench_list_has(p->latency_mixes, p->mixes[i]->name);
    for (int k = 0; k < MIX_NPEERS; k++) {
        /* the contestants whose cells run paired (round_cell,
         * paired_latency_cell) have run beside their variants already; those
         * whose throughput ran in rounds (round_cell) run their latency cells
         * here */
        char maps[256] = "";
        bool rounds = false;
        for (int j = 0; mix_peers[k].maps[j]; j++) {
            const char *name = mix_peers[k].maps[j];
            if (mix_plan_has(p, NULL, name) && !analog_paired(p, name) &&
                (!peer_in_rounds(p, name) || latency)) {
                mix_list_append(maps, sizeof maps, name);
                rounds |= peer_in_rounds(p, name);
            }
        }
        if (!maps[0])
            continue;
        char path[4096];
        if (!bench_peer_path(mix_peers[k].program, path, sizeof path)) {
            if (!p->quiet)
                fprintf(stderr,
                        "gomap-bench: %s: not built (its package is missing, or this build leaves "
                        "it out); skipped\n",
                        mix_peers[k].program);
            continue;
        }
        peer_args pa;
        /* a program's contestants either all run in rounds or none (one
         * contestant per program of mix_peer.rounds) */
        peer_args_build(&pa, p, mix_peers[k].program, maps, mixes, dists, threads,
                        p->throughput && !rounds, p->latency, p->reps);
        peer_invoke(p, mix_peers[k].program, path, &pa, maps, out, rs);
    }
    return 0;
}

int mix_run(const mix_plan *p, bench_output *out, mix_results *rs) {
    /* churn changes the key set, so it runs last (without peers, the
     * variants' prefilled maps are shared by all the mixes) */
    mix_plan q = *p;
    rs->fastest = p->fastest;
    int n = 0;
    for (int i = 0; i < p->nmixes; i++)
        if (!p->mixes[i]->churn)
            q.mixes[n++] = p->mixes[i];
    for (int i = 0; i < p->nmixes; i++)
        if (p->mixes[i]->churn)
            q.mixes[n++] = p->mixes[i];
    if (!q.peers || q.verify_ops) {
        int rc = run_gomap(&q, out, rs);
        if (rc == 0 && q.peers)
            rc = run_peers(&q, out, rs);
        return rc;
    }
    /* Timed runs with peers go one mix at a time: gomap's cells of the mix,
     * then the peers' cells of the same mix (each side on freshly prefilled
     * maps), and the next mix in the other order.  Run all of gomap first
     * and the peers minutes later, and a drift of the machine's memory speed
     * in between lands in every ratio of the targets; interleaved, a cell
     * and the cell it is compared with run within a minute of each other,
     * and a steady drift favours neither side.  The work per cell (warm-up,
     * --reps repetitions, the median) is the same either way. */
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        mix_plan one = q;
        one.mixes[0] = q.mixes[i];
        one.nmixes = 1;
        if (i % 2 == 0) {
            rc = run_gomap(&one, out, rs);
            if (rc == 0)
                rc = run_peers(&one, out, rs);
        } else {
            rc = run_peers(&one, out, rs);
            if (rc == 0)
                rc = run_gomap(&one, out, rs);
        }
    }
    return rc;
}
