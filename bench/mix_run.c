/*
 * mix.c — `gomap-bench mix`: concurrent mixes over a prefilled key set, on
 * every gomap variant (through concmap) and on the peer programs, which read
 * the same arguments and print the same JSON lines.  The workloads are
 * specified in workload.h and docs/workloads.md.
 *
 * Throughput runs are closed-loop: T threads replay their traces as fast as
 * they can for --duration-ms, checking a stop flag every 64 operations; the
 * cell's figure is the median over --reps repetitions.
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
#include "mix.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gomap/concmap.h>
#include <gomap/syncmap.h>

#include "hist.h"
#include "runner.h"

/* ---- contestants ---------------------------------------------------------- */

/* gomap's variants: the name concmap_new takes, the name in results, the Go
 * analog, the options; `on_request` ones run only when --maps names them
 * (configurations of a variant, not variants). */
static const struct {
    const char *kind, *name, *analog;
    concmap_options opts;
    bool on_request;
} variants[] = {
    {"rw", "rwmap", "go-rwmutex-map", {0}, false},
    {"shard", "shardmap", "go-shard-map", {0}, false},
    {"sync", "syncmap", "go-sync-map", {0}, false},
    {"cow", "cowmap", "go-cow-map", {0}, false},
    {"sync", "syncmap-adaptive", "go-sync-map", {.sync_promotion = SYNCMAP_PROMOTE_ADAPTIVE}, true},
};
enum { NVARIANTS = sizeof variants / sizeof variants[0] };

/* The peer programs and the contestants each one runs. */
static const struct {
    const char *program;
    const char *maps[5];
} peers[] = {
    {"peer-go-mix", {"go-rwmutex-map", "go-shard-map", "go-sync-map", "go-cow-map", NULL}},
    {"peer-absl-mix", {"absl-rwlock", NULL}},
    {"peer-tbb-mix", {"tbb-chm", NULL}},
    {"peer-urcu-mix", {"urcu-lfht", NULL}},
};
enum { NPEERS = sizeof peers / sizeof peers[0] };

const char *mix_go_analog(const char *map) {
    for (int i = 0; i < NVARIANTS; i++)
        if (strcmp(variants[i].name, map) == 0)
            return variants[i].analog;
    return NULL;
}

bool mix_is_gomap(const char *map) {
    return mix_go_analog(map) != NULL;
}

/* Whether the plan selects a variant (by its concmap name or result name). */
static bool plan_has(const mix_plan *p, const char *kind, const char *name) {
    return !p->maps || bench_list_has(p->maps, name) || (kind && bench_list_has(p->maps, kind));
}

/* cowmap copies the whole map on every write, so prefilling it key by key
 * through concmap (which has no bulk load) costs N copies, N^2/2 inserts:
 * about 3 s at 8192 keys on this machine, minutes at 50,000.  Above this many
 * keys it is left out. */
enum { COW_MAX_KEYS = 1 << 13 };

/* ---- the counting gate ------------------------------------------------------ */

static bench_counter gate_counter;
/* Written only by the main thread while no worker runs (the thread create
 * and join order it with the workers); workers only read it. */
static atomic_bool gate_on;

static void *gate_alloc(size_t size, void *ctx) {
    (void)ctx;
    if (atomic_load_explicit(&gate_on, memory_order_relaxed))
        return bench_counter_alloc(&gate_counter, size);
    return malloc(size);
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

static run_map cm_run_map(concmap *m) {
    run_map r = {m, cm_load, cm_store, cm_del, NULL, NULL};
    return r;
}

/* ---- one variant ---------------------------------------------------------------- */

static int new_map(const mix_plan *p, int v, concmap **m) {
    gomap_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.key_kind = GOMAP_KEY_U64;
    cfg.value_size = p->value_size;
    cfg.hint = p->keys; /* every contestant is pre-sized for the key set */
    cfg.allocator = &gate_allocator;
    return concmap_new(m, variants[v].kind, &cfg, &variants[v].opts);
}

/* Creates a variant's map and stores the key set [0, keys), with the counting
 * gate open from before the map's first allocation; returns the bytes per
 * entry the map holds afterwards.  Variants that free through RCU (syncmap,
 * cowmap, shardmap) hand old memory to a reclamation thread: the gate stays open a
 * little longer so those frees are counted. */
static int create_prefilled(const mix_plan *p, int v, concmap **m, double *bpe) {
    bench_counter_reset(&gate_counter);
    atomic_store_explicit(&gate_on, true, memory_order_relaxed);
    int err = new_map(p, v, m);
    if (err == 0) {
        run_map c = cm_run_map(*m);
        run_prefill(&c, p->seed, p->keys);
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
static double count_allocs(concmap *m, uint64_t seed, const wl_trace *tr, uint64_t ops,
                           bool bounded, uint64_t *sum) {
    run_map c = cm_run_map(m);
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

/* ---- the plan ------------------------------------------------------------------ */

void mix_plan_defaults(mix_plan *p) {
    memset(p, 0, sizeof *p);
    static const char *const def_mixes[] = {"read100", "read99",    "read90", "read75",
                                            "read50",  "update100", "churn"};
    for (int i = 0; i < 7; i++)
        p->mixes[p->nmixes++] = wl_mix_find(def_mixes[i]);
    p->dists[p->ndists++] = WL_UNIFORM;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned T = cores > 0 ? (unsigned)cores : 1;
    if (T > MIX_MAX_THREADS)
        T = MIX_MAX_THREADS;
    for (unsigned t = 1; t <= T && p->nthreads < MIX_MAX_LIST; t *= 2)
        p->threads[p->nthreads++] = t;
    if (p->threads[p->nthreads - 1] != T && p->nthreads < MIX_MAX_LIST)
        p->threads[p->nthreads++] = T;
    p->keys = 1u << 20;
    p->seed = 42;
    p->duration_ms = 1000;
    p->reps = 5;
    p->trace_len = 1u << 20;
    p->value_size = 8;
    p->throughput = true;
    p->latency = false;
    p->rate = 10000;
    p->lat_ms = 1000;
    p->peers = true;
}

static int parse_u64(const char *s, uint64_t *out) {
    uint64_t v[1];
    if (bench_parse_u64_list(s, v, 1) != 1)
        return -1;
    *out = v[0];
    return 0;
}

int mix_plan_option(mix_plan *p, int argc, char **argv, int *i) {
    const char *a = argv[*i];
    const char *v = *i + 1 < argc ? argv[*i + 1] : NULL;
    uint64_t u;
#define NEED_VALUE()                                                                               \
    do {                                                                                           \
        if (!v) {                                                                                  \
            fprintf(stderr, "gomap-bench: %s needs a value\n", a);                                 \
            return -1;                                                                             \
        }                                                                                          \
        (*i)++;                                                                                    \
    } while (0)
    if (strcmp(a, "--maps") == 0) {
        NEED_VALUE();
        p->maps = strcmp(v, "all") == 0 ? NULL : v;
    } else if (strcmp(a, "--mixes") == 0) {
        NEED_VALUE();
        p->nmixes = 0;
        char buf[256];
        snprintf(buf, sizeof buf, "%s", v);
        for (char *save, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            const wl_mix *m = wl_mix_find(t);
            if (!m || p->nmixes == MIX_MAX_LIST) {
                fprintf(stderr, "gomap-bench: unknown mix %s\n", t);
                return -1;
            }
            p->mixes[p->nmixes++] = m;
        }
    } else if (strcmp(a, "--dist") == 0) {
        NEED_VALUE();
        p->ndists = 0;
        if (strstr(v, "uniform"))
            p->dists[p->ndists++] = WL_UNIFORM;
        if (strstr(v, "zipf"))
            p->dists[p->ndists++] = WL_ZIPF;
        if (!p->ndists) {
            fprintf(stderr, "gomap-bench: --dist is uniform, zipf or uniform,zipf\n");
            return -1;
        }
    } else if (strcmp(a, "--threads") == 0) {
        NEED_VALUE();
        uint64_t t[MIX_MAX_LIST];
        int n = bench_parse_u64_list(v, t, MIX_MAX_LIST);
        if (n <= 0)
            return -1;
        p->nthreads = 0;
        for (int k = 0; k < n; k++) {
            if (t[k] < 1 || t[k] > MIX_MAX_THREADS) {
                fprintf(stderr, "gomap-bench: threads must be 1..%d\n", MIX_MAX_THREADS);
                return -1;
            }
            p->threads[p->nthreads++] = (unsigned)t[k];
        }
    } else if (strcmp(a, "--keys") == 0) {
        NEED_VALUE();
        if (parse_u64(v, &p->keys) || p->keys < 1 || p->keys > WL_MAX_KEYS)
            return -1;
    } else if (strcmp(a, "--seed") == 0) {
        NEED_VALUE();
        if (parse_u64(v, &p->seed))
            return -1;
    } else if (strcmp(a, "--duration") == 0 || strcmp(a, "--duration-ms") == 0) {
        NEED_VALUE();
        /* --duration takes "1s", "200ms" or a number of milliseconds. */
        char *end;
        double d = strtod(v, &end);
        if (end == v || d <= 0)
            return -1;
        if (strcmp(end, "s") == 0)
            d *= 1000;
        else if (*end && strcmp(end, "ms") != 0)
            return -1;
        p->duration_ms = (uint64_t)d;
    } else if (strcmp(a, "--reps") == 0) {
        NEED_VALUE();
        if (parse_u64(v, &u) || u < 1 || u > 100)
            return -1;
        p->reps = (unsigned)u;
    } else if (strcmp(a, "--trace-len") == 0) {
        NEED_VALUE();
        if (parse_u64(v, &u) || u < 64)
            return -1;
        p->trace_len = (size_t)u;
    } else if (strcmp(a, "--value-size") == 0) {
        NEED_VALUE();
        if (parse_u64(v, &u) || u < 8 || u > GOMAP_MAX_VALUE_SIZE)
            return -1;
        p->value_size = (size_t)u;
    } else if (strcmp(a, "--rate") == 0) {
        NEED_VALUE();
        if (parse_u64(v, &p->rate) || p->rate < 1)
            return -1;
    } else if (strcmp(a, "--lat-ms") == 0) {
        NEED_VALUE();
        if (parse_u64(v, &p->lat_ms) || p->lat_ms < 1)
            return -1;
    } else if (strcmp(a, "--verify-ops") == 0) {
        NEED_VALUE();
        if (parse_u64(v, &p->verify_ops) || p->verify_ops < 1)
            return -1;
    } else if (strcmp(a, "--latency") == 0) {
        p->latency = true;
    } else if (strcmp(a, "--latency-mixes") == 0) {
        NEED_VALUE();
        p->latency = true;
        p->latency_mixes = v;
    } else if (strcmp(a, "--latency-only") == 0) {
        p->latency = true;
        p->throughput = false;
    } else if (strcmp(a, "--no-peers") == 0) {
        p->peers = false;
    } else if (strcmp(a, "--quiet") == 0) {
        p->quiet = true;
    } else {
        return 0;
    }
#undef NEED_VALUE
    return 1;
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
    uint64_t units = p->throughput ? cells * p->nthreads * p->reps : 0;
    for (int i = 0; p->latency && i < p->nmixes; i++)
        if (bench_list_has(p->latency_mixes, p->mixes[i]->name))
            units += (uint64_t)nvariants * p->ndists * p->nthreads;
    return units;
}

/* The verification run of one variant on one (mix, dist): a fresh map,
 * thread 0's trace for verify_ops operations, single-threaded. */
static void verify_one(const mix_plan *p, int v, const wl_mix *m, wl_dist d, const traces *ts,
                       bench_output *out, mix_results *rs) {
    concmap *map;
    double bpe;
    if (create_prefilled(p, v, &map, &bpe) != 0)
        return;
    uint64_t sum;
    double apo = count_allocs(map, p->seed, &ts->tr[0], p->verify_ops, false, &sum);
    mix_result r;
    mix_result_cell(&r, "verify", variants[v].name, m->name, wl_dist_name(d), 1, p->keys, p->seed);
    r.ops = p->verify_ops;
    r.checksum = sum;
    r.allocs_per_op = apo;
    r.bytes_per_entry = bpe;
    r.final_len = concmap_len(map);
    concmap_range(map, sum_range, &r.final_sum);
    concmap_free(map);
    mix_result_emit(out, &r);
    mix_results_add(rs, &r);
}

static int run_gomap(const mix_plan *p, bench_output *out, mix_results *rs) {
    bool sel[NVARIANTS];
    concmap *maps[NVARIANTS] = {0};
    double bpe[NVARIANTS];
    int nsel = 0;
    for (int v = 0; v < NVARIANTS; v++) {
        sel[v] = variants[v].on_request ? p->maps && bench_list_has(p->maps, variants[v].name)
                                        : plan_has(p, variants[v].kind, variants[v].name);
        if (!sel[v])
            continue;
        concmap *probe;
        int err = new_map(p, v, &probe);
        if (err) {
            if (!p->quiet)
                fprintf(stderr, "gomap-bench: %s: not available (concmap_new: %s); skipped\n",
                        variants[v].name, strerror(err));
            sel[v] = false;
            continue;
        }
        concmap_free(probe);
        if (strcmp(variants[v].kind, "cow") == 0 && p->keys > COW_MAX_KEYS && !p->verify_ops) {
            if (!p->quiet)
                fprintf(stderr,
                        "gomap-bench: cowmap: skipped above %d keys (every write copies the "
                        "map: prefilling %llu keys would copy it %llu times)\n",
                        COW_MAX_KEYS, (unsigned long long)p->keys, (unsigned long long)p->keys);
            sel[v] = false;
            continue;
        }
        nsel++;
    }
    if (!nsel)
        return 0;
    unsigned T = plan_max_threads(p);
    bench_progress_start(plan_units(p, nsel), "gomap");
    for (int mi = 0; mi < p->nmixes; mi++) {
        const wl_mix *m = p->mixes[mi];
        for (int di = 0; di < p->ndists; di++) {
            wl_dist d = p->dists[di];
            traces ts;
            if (traces_build(&ts, p, m, d, p->verify_ops ? 1 : T) != 0) {
                traces_free(&ts);
                fprintf(stderr, "gomap-bench: out of memory building traces\n");
                return 1;
            }
            for (int v = 0; v < NVARIANTS; v++) {
                if (!sel[v])
                    continue;
                if (p->verify_ops) {
                    verify_one(p, v, m, d, &ts, out, rs);
                    bench_progress_add(1, variants[v].name);
                    continue;
                }
                if (!maps[v] && create_prefilled(p, v, &maps[v], &bpe[v]) != 0) {
                    sel[v] = false;
                    continue;
                }
                run_map c = cm_run_map(maps[v]);
                uint64_t junk;
                /* untimed, single-threaded, counted: allocations per op */
                double apo = count_allocs(maps[v], p->seed, &ts.tr[0], 20000, true, &junk);
                for (int ti = 0; ti < p->nthreads; ti++) {
                    unsigned th = p->threads[ti];
                    mix_result r;
                    if (p->throughput) {
                        double mops[100];
                        uint64_t ops = 0, sum = 0, o, s;
                        /* warm-up: caches, and syncmap's first promotion */
                        run_threads(&c, p->seed, ts.tr, th, p->duration_ms / 5 + 1, 0, NULL, &o,
                                    &s);
                        for (unsigned k = 0; k < p->reps; k++) {
                            mops[k] = run_threads(&c, p->seed, ts.tr, th, p->duration_ms, 0, NULL,
                                                  &o, &s);
                            ops += o;
                            sum += s;
                            bench_progress_add(1, variants[v].name);
                        }
                        mix_result_cell(&r, "mix", variants[v].name, m->name, wl_dist_name(d), th,
                                        p->keys, p->seed);
                        mix_result_throughput(&r, mops, p->reps, p->duration_ms);
                        r.ops = ops;
                        r.checksum = sum;
                        r.allocs_per_op = apo;
                        r.bytes_per_entry = bpe[v];
                        mix_result_emit(out, &r);
                        mix_results_add(rs, &r);
                    }
                    if (p->latency && bench_list_has(p->latency_mixes, m->name)) {
                        hist *h = malloc(sizeof *h);
                        if (!h)
                            return 1;
                        hist_init(h);
                        uint64_t o, s;
                        run_threads(&c, p->seed, ts.tr, th, p->lat_ms, p->rate, h, &o, &s);
                        bench_progress_add(1, variants[v].name);
                        mix_result_cell(&r, "latency", variants[v].name, m->name, wl_dist_name(d),
                                        th, p->keys, p->seed);
                        mix_result_latency(&r, h, p->rate, th * (p->lat_ms * p->rate / 1000));
                        r.ops = o;
                        r.checksum = s;
                        r.allocs_per_op = apo;
                        r.bytes_per_entry = bpe[v];
                        free(h);
                        mix_result_emit(out, &r);
                        mix_results_add(rs, &r);
                    }
                }
            }
            traces_free(&ts);
        }
    }
    for (int v = 0; v < NVARIANTS; v++)
        concmap_free(maps[v]);
    bench_progress_done();
    return 0;
}

/* ---- running the peers ------------------------------------------------------------ */

static void list_append(char *buf, size_t n, const char *item) {
    size_t len = strlen(buf);
    snprintf(buf + len, n - len, "%s%s", len ? "," : "", item);
}

static int run_peers(const mix_plan *p, bench_output *out, mix_results *rs) {
    char mixes[256] = "", dists[32] = "", threads[128] = "";
    for (int i = 0; i < p->nmixes; i++)
        list_append(mixes, sizeof mixes, p->mixes[i]->name);
    for (int i = 0; i < p->ndists; i++)
        list_append(dists, sizeof dists, wl_dist_name(p->dists[i]));
    for (int i = 0; i < p->nthreads; i++) {
        char t[16];
        snprintf(t, sizeof t, "%u", p->threads[i]);
        list_append(threads, sizeof threads, t);
    }
    char keys[32], seed[32], dur[32], reps[16], tlen[32], rate[32], latms[32], vops[32];
    snprintf(keys, sizeof keys, "%llu", (unsigned long long)p->keys);
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)p->seed);
    snprintf(dur, sizeof dur, "%llu", (unsigned long long)p->duration_ms);
    snprintf(reps, sizeof reps, "%u", p->reps);
    snprintf(tlen, sizeof tlen, "%zu", p->trace_len);
    snprintf(rate, sizeof rate, "%llu", (unsigned long long)p->rate);
    snprintf(latms, sizeof latms, "%llu", (unsigned long long)p->lat_ms);
    snprintf(vops, sizeof vops, "%llu", (unsigned long long)p->verify_ops);
    for (int k = 0; k < NPEERS; k++) {
        char maps[256] = "";
        for (int j = 0; peers[k].maps[j]; j++)
            if (plan_has(p, NULL, peers[k].maps[j]))
                list_append(maps, sizeof maps, peers[k].maps[j]);
        if (!maps[0])
            continue;
        char path[4096];
        if (!bench_peer_path(peers[k].program, path, sizeof path)) {
            if (!p->quiet)
                fprintf(stderr,
                        "gomap-bench: %s: not built (its package is missing, or this build leaves "
                        "it out); skipped\n",
                        peers[k].program);
            continue;
        }
        char *argv[40];
        int a = 0;
        argv[a++] = (char *)peers[k].program;
        argv[a++] = "--maps", argv[a++] = maps;
        argv[a++] = "--mixes", argv[a++] = mixes;
        argv[a++] = "--dist", argv[a++] = dists;
        argv[a++] = "--threads", argv[a++] = threads;
        argv[a++] = "--keys", argv[a++] = keys;
        argv[a++] = "--seed", argv[a++] = seed;
        argv[a++] = "--duration-ms", argv[a++] = dur;
        argv[a++] = "--reps", argv[a++] = reps;
        argv[a++] = "--trace-len", argv[a++] = tlen;
        argv[a++] = "--rate", argv[a++] = rate;
        argv[a++] = "--lat-ms", argv[a++] = latms;
        argv[a++] = "--throughput", argv[a++] = p->throughput ? "1" : "0";
        argv[a++] = "--latency", argv[a++] = p->latency ? "1" : "0";
        argv[a++] = "--verify-ops", argv[a++] = vops;
        if (p->latency_mixes)
            argv[a++] = "--latency-mixes", argv[a++] = (char *)p->latency_mixes;
        argv[a] = NULL;
        if (!p->quiet)
            fprintf(stderr, "gomap-bench: running %s (%s)\n", peers[k].program, maps);
        bench_lines lines = {0};
        int st = bench_run_peer(path, argv, &lines);
        if (st != 0)
            fprintf(stderr, "gomap-bench: %s exited with status %d\n", peers[k].program, st);
        for (size_t i = 0; i < lines.len; i++) {
            mix_result r;
            if (!mix_result_parse(lines.line[i], &r))
                continue;
            bench_output_emit(out, lines.line[i]);
            mix_results_add(rs, &r);
        }
        bench_lines_free(&lines);
    }
    return 0;
}

int mix_run(const mix_plan *p, bench_output *out, mix_results *rs) {
    /* churn changes the key set, so it runs last on the shared prefilled maps */
    mix_plan q = *p;
    int n = 0;
    for (int i = 0; i < p->nmixes; i++)
        if (!p->mixes[i]->churn)
            q.mixes[n++] = p->mixes[i];
    for (int i = 0; i < p->nmixes; i++)
        if (p->mixes[i]->churn)
            q.mixes[n++] = p->mixes[i];
    int rc = run_gomap(&q, out, rs);
    if (rc == 0 && q.peers)
        rc = run_peers(&q, out, rs);
    return rc;
}

/* ---- output for people --------------------------------------------------------------- */

/* Contestants in table order: each gomap variant beside its Go analog. */
static const char *const table_order[] = {
    "rwmap",  "go-rwmutex-map", "shardmap",    "go-shard-map", "syncmap",   "go-sync-map",
    "cowmap", "go-cow-map",     "absl-rwlock", "tbb-chm",      "urcu-lfht", NULL,
};

static int order_of(const char *map) {
    for (int i = 0; table_order[i]; i++)
        if (strcmp(table_order[i], map) == 0)
            return i;
    return 99;
}

static int cmp_rows(const void *a, const void *b) {
    const mix_result *x = *(const mix_result *const *)a, *y = *(const mix_result *const *)b;
    const wl_mix *mx = wl_mix_find(x->mix), *my = wl_mix_find(y->mix);
    int c = (int)(mx ? mx - wl_mixes : 99) - (int)(my ? my - wl_mixes : 99);
    if (c)
        return c;
    if ((c = strcmp(x->dist, y->dist)))
        return -c; /* uniform first */
    if (x->threads != y->threads)
        return x->threads < y->threads ? -1 : 1;
    return order_of(x->map) - order_of(y->map);
}

void mix_print_table(const mix_results *rs, FILE *f) {
    const mix_result **rows = malloc((rs->n + 1) * sizeof *rows);
    if (!rows)
        return;
    size_t n = 0;
    for (size_t i = 0; i < rs->n; i++)
        if (strcmp(rs->r[i].kind, "mix") == 0 || strcmp(rs->r[i].kind, "verify") == 0)
            rows[n++] = &rs->r[i];
    qsort(rows, n, sizeof *rows, cmp_rows);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    bool any_lat = false, over = false, any_behind = false;
    for (size_t i = 0; i < rs->n; i++)
        any_lat |= strcmp(rs->r[i].kind, "latency") == 0;
    const char *h_lat[] = {"mix",   "dist",      "thr",     "map",    "Mops/s", "min..max",
                           "vs Go", "allocs/op", "B/entry", "p50 ns", "p99 ns", "p999 ns"};
    bench_table *t = bench_table_new(any_lat ? 12 : 9, h_lat);
    const char *prev = NULL;
    unsigned prev_t = 0;
    const char *prev_d = NULL;
    for (size_t i = 0; i < n; i++) {
        const mix_result *r = rows[i];
        if (prev && (strcmp(prev, r->mix) || prev_t != r->threads || strcmp(prev_d, r->dist)))
            bench_table_rule(t);
        prev = r->mix;
        prev_t = r->threads;
        prev_d = r->dist;
        bool os = cores > 0 && r->threads > (unsigned long)cores;
        over |= os;
        bench_table_cell(t, "%s", r->mix);
        bench_table_cell(t, "%s", r->dist);
        bench_table_cell(t, "%u%s", r->threads, os ? "*" : "");
        bench_table_cell(t, "%s", r->map);
        if (strcmp(r->kind, "verify") == 0) {
            bench_table_cell(t, "%s", "verify");
            bench_table_cell(t, "sum %llu", (unsigned long long)r->checksum);
            bench_table_cell(t, "len %llu", (unsigned long long)r->final_len);
        } else {
            /* three decimals below 1: a copy-on-write map's writes are slow */
            int dec = r->mops < 1 ? 3 : 2;
            bench_table_cell(t, "%.*f", dec, r->mops);
            bench_table_cell(t, "%.*f..%.*f", dec, r->mops_min, dec, r->mops_max);
            const char *an = mix_go_analog(r->map);
            const mix_result *g =
                an ? mix_results_find(rs, "mix", an, r->mix, r->dist, r->threads) : NULL;
            if (g && g->mops > 0)
                bench_table_cell(t, "%.2fx", r->mops / g->mops);
            else
                bench_table_cell(t, "%s", "");
        }
        if (r->allocs_per_op >= 0)
            bench_table_cell(t, "%.3f", r->allocs_per_op);
        else
            bench_table_cell(t, "%s", "-");
        if (r->bytes_per_entry >= 0)
            bench_table_cell(t, "%.1f", r->bytes_per_entry);
        else
            bench_table_cell(t, "%s", "-");
        if (any_lat) {
            const mix_result *l =
                mix_results_find(rs, "latency", r->map, r->mix, r->dist, r->threads);
            if (l) {
                /* '!': the contestant fell behind the rate (see below) */
                bool behind = l->scheduled && l->ops < l->scheduled * 99 / 100;
                any_behind |= behind;
                bench_table_cell(t, "%.0f%s", l->p50, behind ? "!" : "");
                bench_table_cell(t, "%.0f%s", l->p99, behind ? "!" : "");
                bench_table_cell(t, "%.0f%s", l->p999, behind ? "!" : "");
            } else {
                bench_table_cell(t, "%s", "");
                bench_table_cell(t, "%s", "");
                bench_table_cell(t, "%s", "");
            }
        }
    }
    /* latency cells without a throughput row of their own */
    for (size_t i = 0; i < rs->n; i++) {
        const mix_result *l = &rs->r[i];
        if (strcmp(l->kind, "latency") ||
            mix_results_find(rs, "mix", l->map, l->mix, l->dist, l->threads))
            continue;
        bench_table_cell(t, "%s", l->mix);
        bench_table_cell(t, "%s", l->dist);
        bench_table_cell(t, "%u", l->threads);
        bench_table_cell(t, "%s", l->map);
        for (int k = 0; k < 5; k++)
            bench_table_cell(t, "%s", "");
        bench_table_cell(t, "%.0f", l->p50);
        bench_table_cell(t, "%.0f", l->p99);
        bench_table_cell(t, "%.0f", l->p999);
    }
    bench_table_print(t, f);
    bench_table_free(t);
    if (over)
        fprintf(f, "* oversubscribed: more threads than the %ld cores\n", cores);
    if (any_lat)
        fprintf(f, "latency: open loop at a fixed rate per thread, from each operation's "
                   "intended start\n");
    if (any_behind)
        fprintf(f, "! fell behind: fewer operations than the rate scheduled (gave up at twice "
                   "the run's length)\n");
    free(rows);
}

int mix_write_csv(const mix_results *rs, const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "gomap-bench: %s: %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(f, "kind,map,mix,dist,threads,keys,mops,mops_min,mops_max,allocs_per_op,"
               "bytes_per_entry,rate,p50_ns,p90_ns,p99_ns,p999_ns,max_ns,checksum\n");
    for (size_t i = 0; i < rs->n; i++) {
        const mix_result *r = &rs->r[i];
        fprintf(f,
                "%s,%s,%s,%s,%u,%llu,%.4f,%.4f,%.4f,%.4f,%.1f,%llu,%.0f,%.0f,%.0f,%.0f,%.0f,%llu\n",
                r->kind, r->map, r->mix, r->dist, r->threads, (unsigned long long)r->keys, r->mops,
                r->mops_min, r->mops_max, r->allocs_per_op, r->bytes_per_entry,
                (unsigned long long)r->rate, r->p50, r->p90, r->p99, r->p999, r->pmax,
                (unsigned long long)r->checksum);
    }
    return fclose(f) == 0 ? 0 : -1;
}

/* ---- plots ------------------------------------------------------------------------------ */

/* Writes gnuplot's data files into dir and runs the scripts of bench/plot/
 * (installed beside the executable as plot/).  Data layout, one file each:
 *   tput-<mix>-<dist>.dat   blocks per contestant: "threads mops" lines
 *   latency.dat             "map mix p50 p90 p99 p999" per latency cell
 *   memory.dat              "map bytes_per_entry" */
int mix_write_plots(const mix_results *rs, const char *dir) {
    char exe[4096], script_dir[4200], path[4400], cmd[16384];
    if (!bench_exe_dir(exe, sizeof exe))
        return -1;
    snprintf(script_dir, sizeof script_dir, "%s/plot", exe);
    mkdir(dir, 0777);
    int made = 0;
    for (const wl_mix *m = wl_mixes; m->name; m++) {
        for (int d = 0; d < 2; d++) {
            const char *dn = wl_dist_name((wl_dist)d);
            bool any = false;
            for (size_t i = 0; i < rs->n; i++)
                any |= !strcmp(rs->r[i].kind, "mix") && !strcmp(rs->r[i].mix, m->name) &&
                       !strcmp(rs->r[i].dist, dn);
            if (!any)
                continue;
            snprintf(path, sizeof path, "%s/tput-%s-%s.dat", dir, m->name, dn);
            FILE *f = fopen(path, "w");
            if (!f)
                return -1;
            char titles[512] = "";
            for (int o = 0; table_order[o]; o++) {
                bool hdr = false;
                for (unsigned th = 1; th <= MIX_MAX_THREADS; th++) {
                    const mix_result *r =
                        mix_results_find(rs, "mix", table_order[o], m->name, dn, th);
                    if (!r)
                        continue;
                    if (!hdr) {
                        fprintf(f, "# %s\n", table_order[o]);
                        list_append(titles, sizeof titles, table_order[o]);
                    }
                    hdr = true;
                    fprintf(f, "%u %.4f\n", th, r->mops);
                }
                if (hdr)
                    fprintf(f, "\n\n");
            }
            fclose(f);
            for (char *c = titles; *c; c++)
                if (*c == ',')
                    *c = ' ';
            snprintf(cmd, sizeof cmd,
                     "gnuplot -e \"data='%s'; out='%s/tput-%s-%s'; titles='%s'; title_text='%s, %s "
                     "keys: throughput vs threads'\" '%s/throughput.gp'",
                     path, dir, m->name, dn, titles, m->name, dn, script_dir);
            if (system(cmd) == 0)
                made++;
        }
    }
    snprintf(path, sizeof path, "%s/latency.dat", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int nlat = 0;
    for (size_t i = 0; i < rs->n; i++) {
        const mix_result *r = &rs->r[i];
        if (strcmp(r->kind, "latency"))
            continue;
        fprintf(f, "\"%s %s/%s/%u\" %.0f %.0f %.0f %.0f\n", r->map, r->mix, r->dist, r->threads,
                r->p50, r->p90, r->p99, r->p999);
        nlat++;
    }
    fclose(f);
    if (nlat) {
        snprintf(cmd, sizeof cmd, "gnuplot -e \"data='%s'; out='%s/latency'\" '%s/latency.gp'",
                 path, dir, script_dir);
        if (system(cmd) == 0)
            made++;
    }
    snprintf(path, sizeof path, "%s/memory.dat", dir);
    f = fopen(path, "w");
    if (!f)
        return -1;
    int nmem = 0;
    for (int o = 0; table_order[o]; o++) {
        for (size_t i = 0; i < rs->n; i++) {
            const mix_result *r = &rs->r[i];
            if (strcmp(r->map, table_order[o]) || r->bytes_per_entry < 0)
                continue;
            fprintf(f, "\"%s\" %.1f\n", r->map, r->bytes_per_entry);
            nmem++;
            break;
        }
    }
    fclose(f);
    if (nmem) {
        snprintf(cmd, sizeof cmd, "gnuplot -e \"data='%s'; out='%s/memory'\" '%s/memory.gp'", path,
                 dir, script_dir);
        if (system(cmd) == 0)
            made++;
    }
    return made;
}

/* ---- the command ------------------------------------------------------------------------ */

static void mix_usage(FILE *f) {
    fprintf(f,
            "usage: gomap-bench mix [--json] [--out FILE] [--csv FILE] [--plot DIR]\n"
            "         [--maps rw,shard,sync,cow,go-sync-map,...|all] [--mixes read100,read90,...]\n"
            "         [--dist uniform|zipf|uniform,zipf] [--threads 1,2,...] [--keys N]\n"
            "         [--duration 1s] [--reps 5] [--seed S] [--value-size 8]\n"
            "         [--latency | --latency-only | --latency-mixes read90,...]\n"
            "         [--rate 10000] [--lat-ms 1000]\n"
            "         [--verify-ops N] [--no-peers]\n"
            "mixes: read100 read99 read90 read75 read50 update100 churn (docs/workloads.md)\n"
            "peers: go-rwmutex-map go-shard-map go-sync-map go-cow-map absl-rwlock tbb-chm "
            "urcu-lfht\n"
            "on request: syncmap-adaptive (syncmap with SYNCMAP_PROMOTE_ADAPTIVE)\n");
}

int mix_output_option(mix_outputs *o, int argc, char **argv, int *i) {
    const char *a = argv[*i];
    const char **slot = NULL;
    if (strcmp(a, "--json") == 0) {
        o->json = true;
        return 1;
    }
    if (strcmp(a, "--out") == 0)
        slot = &o->out;
    else if (strcmp(a, "--csv") == 0)
        slot = &o->csv;
    else if (strcmp(a, "--plot") == 0)
        slot = &o->plot;
    else if (strcmp(a, "--markdown") == 0)
        slot = &o->markdown;
    if (!slot || *i + 1 >= argc)
        return 0;
    *slot = argv[++*i];
    return 1;
}

int mix_write_outputs(const mix_outputs *o, const mix_results *rs, FILE *f) {
    int rc = 0;
    if (o->csv && mix_write_csv(rs, o->csv) != 0)
        rc = -1;
    if (o->plot) {
        int made = mix_write_plots(rs, o->plot);
        if (made < 0)
            rc = -1;
        fprintf(f, "plots: %d written to %s/\n", made < 0 ? 0 : made, o->plot);
    }
    return rc;
}

int bench_mix_main(int argc, char **argv) {
    mix_plan p;
    mix_plan_defaults(&p);
    mix_outputs o = {0};
    for (int i = 1; i < argc; i++) {
        int r = mix_plan_option(&p, argc, argv, &i);
        if (r < 0) {
            fprintf(stderr, "gomap-bench mix: bad value for %s\n", argv[i]);
            return 2;
        }
        if (r > 0 || mix_output_option(&o, argc, argv, &i))
            continue;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            mix_usage(stdout);
            return 0;
        }
        fprintf(stderr, "gomap-bench mix: unknown option %s\n", argv[i]);
        mix_usage(stderr);
        return 2;
    }
    bench_output out;
    if (bench_output_open(&out, o.json, o.out) != 0)
        return 1;
    mix_results rs = {0};
    int rc = mix_run(&p, &out, &rs);
    if (!o.json)
        mix_print_table(&rs, stdout);
    if (mix_write_outputs(&o, &rs, o.json ? stderr : stdout) != 0)
        rc = 1;
    mix_results_free(&rs);
    bench_output_close(&out);
    return rc;
}
