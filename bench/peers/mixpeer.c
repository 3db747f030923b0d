/* mixpeer.c — see mixpeer.h.  The arguments are gomap-bench mix's (as
 * bench/mix.c passes them to every peer); the JSON lines are bench/mix.c's. */
#include "mixpeer.h"

#include "mix.h"

#include <malloc.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static atomic_bool counting;
static atomic_uint_fast64_t allocs;

void mixpeer_count_alloc(void) {
    /* relaxed: switched only while no timed worker runs */
    if (atomic_load_explicit(&counting, memory_order_relaxed))
        atomic_fetch_add_explicit(&allocs, 1, memory_order_relaxed);
}

static void count_on(void) {
    atomic_store_explicit(&allocs, 0, memory_order_relaxed);
    atomic_store_explicit(&counting, true, memory_order_relaxed);
}

static uint64_t count_off(void) {
    atomic_store_explicit(&counting, false, memory_order_relaxed);
    return atomic_load_explicit(&allocs, memory_order_relaxed);
}

/* Bytes the C heap holds (what malloc handed out, mmap'd blocks included). */
static int64_t heap_bytes(void) {
    struct mallinfo2 mi = mallinfo2();
    return (int64_t)(mi.uordblks + mi.hblkhd);
}

typedef struct opts {
    const char *maps, *mixes, *dists, *latency_mixes;
    uint64_t threads[16];
    int nthreads;
    uint64_t keys, seed, dur_ms, reps, trace_len, rate, lat_ms, lat_runs, verify_ops;
    bool throughput, latency, serve;
} opts;

/* Every line goes to stdout, where gomap-bench reads it. */
static bench_output json_out = {true, NULL};

/* Mixes in run order: churn changes the key set, so it comes last. */
static int ordered_mixes(const char *list, const wl_mix **out) {
    int n = 0;
    for (int pass = 0; pass < 2; pass++)
        for (const wl_mix *m = wl_mixes; m->name; m++)
            if (m->churn == (pass == 1) && bench_list_has(list, m->name))
                out[n++] = m;
    return n;
}

static int dist_list(const char *list, wl_dist *out) {
    int n = 0;
    if (bench_list_has(list, "uniform"))
        out[n++] = WL_UNIFORM;
    if (bench_list_has(list, "zipf"))
        out[n++] = WL_ZIPF;
    return n;
}

static size_t trace_len(const opts *o) {
    return o->verify_ops && o->verify_ops < o->trace_len ? o->verify_ops : o->trace_len;
}

static void verify(const opts *o, const mixpeer_contestant *c) {
    const wl_mix *ms[8];
    wl_dist ds[2];
    int nm = ordered_mixes(o->mixes, ms), nd = dist_list(o->dists, ds);
    for (int mi = 0; mi < nm; mi++) {
        for (int di = 0; di < nd; di++) {
            run_map r = c->ops;
            int64_t before = heap_bytes();
            r.m = c->create(o->keys);
            run_prefill(&r, o->seed, o->keys);
            bench_keep(run_warm(&r, o->seed, o->keys));
            double bpe = (double)(heap_bytes() - before) / (double)o->keys;
            wl_trace tr;
            if (wl_trace_build(&tr, ms[mi], ds[di], o->keys, o->seed, 0, trace_len(o)))
                exit(1);
            count_on();
            uint64_t sum = run_serial(&r, o->seed, &tr, o->verify_ops);
            uint64_t a = count_off();
            uint64_t len = 0, fsum = 0;
            c->range_sum(r.m, &len, &fsum);
            mix_result res;
            mix_result_cell(&res, "verify", c->name, ms[mi]->name, wl_dist_name(ds[di]), 1, o->keys,
                            o->seed);
            res.final_len = len;
            res.final_sum = fsum;
            res.ops = o->verify_ops;
            res.allocs_per_op = (double)a / (double)o->verify_ops;
            res.bytes_per_entry = bpe;
            res.checksum = sum;
            mix_result_emit(&json_out, &res);
            wl_trace_free(&tr);
            c->destroy(r.m);
        }
    }
}

/* Fills the measurement's common fields and prints its line. */
static void emit_cell(mix_result *res, uint64_t ops, uint64_t sum, double apo, double bpe) {
    res->ops = ops;
    res->checksum = sum;
    res->allocs_per_op = apo;
    res->bytes_per_entry = bpe;
    mix_result_emit(&json_out, res);
}

/* The largest thread count asked for, at most RUN_MAX_THREADS. */
static unsigned max_threads(const opts *o) {
    unsigned T = 1;
    for (int i = 0; i < o->nthreads; i++)
        if (o->threads[i] > T)
            T = (unsigned)o->threads[i];
    return T > RUN_MAX_THREADS ? RUN_MAX_THREADS : T;
}

/* Makes c's map into r->m, stores the key set and warms it up; returns the
 * bytes per entry the heap grew by. */
static double prefilled(const opts *o, const mixpeer_contestant *c, run_map *r) {
    int64_t before = heap_bytes();
    r->m = c->create(o->keys);
    run_prefill(r, o->seed, o->keys);
    bench_keep(run_warm(r, o->seed, o->keys));
    return (double)(heap_bytes() - before) / (double)o->keys;
}

/* The T threads' traces of cell (m, d) into tr, then, untimed and single
 * threaded, the allocations per operation of its first trace on r. */
static double cell_traces(const opts *o, run_map *r, const wl_mix *m, wl_dist d, unsigned T,
                          wl_trace *tr) {
    for (unsigned t = 0; t < T; t++)
        if (wl_trace_build(&tr[t], m, d, o->keys, o->seed, t, trace_len(o)))
            exit(1);
    count_on();
    uint64_t done;
    bench_keep(run_serial_bounded(r, o->seed, &tr[0], 20000, 1000000000u, &done));
    return done ? (double)count_off() / (double)done : 0;
}

static void run(const opts *o, const mixpeer_contestant *c) {
    const wl_mix *ms[8];
    wl_dist ds[2];
    int nm = ordered_mixes(o->mixes, ms), nd = dist_list(o->dists, ds);
    unsigned T = max_threads(o);
    run_map r = c->ops;
    double bpe = prefilled(o, c, &r);
    for (int mi = 0; mi < nm; mi++) {
        for (int di = 0; di < nd; di++) {
            wl_trace tr[RUN_MAX_THREADS];
            double apo = cell_traces(o, &r, ms[mi], ds[di], T, tr);
            for (int ti = 0; ti < o->nthreads; ti++) {
                unsigned th = (unsigned)o->threads[ti];
                mix_result res;
                if (o->throughput) {
                    double mops[100];
                    uint64_t ops = 0, sum = 0, op, su;
                    run_threads(&r, o->seed, tr, th, o->dur_ms / 5 + 1, 0, NULL, &op, &su);
                    for (uint64_t k = 0; k < o->reps; k++) {
                        mops[k] = run_threads(&r, o->seed, tr, th, o->dur_ms, 0, NULL, &op, &su);
                        ops += op;
                        sum += su;
                    }
                    mix_result_cell(&res, "mix", c->name, ms[mi]->name, wl_dist_name(ds[di]), th,
                                    o->keys, o->seed);
                    mix_result_throughput(&res, mops, (unsigned)o->reps, o->dur_ms);
                    emit_cell(&res, ops, sum, apo, bpe);
                }
                if (o->latency && bench_list_has(o->latency_mixes, ms[mi]->name)) {
                    hist *h = malloc(sizeof *h);
                    if (!h)
                        exit(1);
                    uint64_t ops, sum;
                    if (run_latency(&r, o->seed, tr, th, o->lat_ms, o->rate, (unsigned)o->lat_runs,
                                    h, &ops, &sum) != 0)
                        exit(1);
                    mix_result_cell(&res, "latency", c->name, ms[mi]->name, wl_dist_name(ds[di]),
                                    th, o->keys, o->seed);
                    mix_result_latency(&res, h, o->rate, th * (o->lat_ms * o->rate / 1000));
                    emit_cell(&res, ops, sum, apo, bpe);
                    free(h);
                }
            }
            for (unsigned t = 0; t < T; t++)
                wl_trace_free(&tr[t]);
        }
    }
    c->destroy(r.m);
}

/* --serve 1: repetitions on request, for gomap-bench's rounds
 * (docs/benchmarks.md, "Rounds").  The map is made and prefilled once and
 * a line says so; then each line on stdin, "<mix> <dist> <threads> <cpu>",
 * runs one repetition of that cell, after its own warm-up (a fifth of
 * --duration-ms), pinned to CPU <cpu> when it is not -1, and prints its
 * JSON line (reps 1, "cpu" the CPU worker 0 finished on).  A cell's
 * allocations per operation are counted, untimed, at its first request.
 * The end of stdin ends the program. */
static int serve(const opts *o, const mixpeer_contestant *c) {
    unsigned T = max_threads(o);
    run_map r = c->ops;
    double bpe = prefilled(o, c, &r);
    printf("{\"kind\":\"ready\",\"map\":\"%s\"}\n", c->name);
    fflush(stdout);
    wl_trace tr[RUN_MAX_THREADS];
    const wl_mix *cur = NULL;
    wl_dist cur_d = WL_UNIFORM;
    double apo = 0;
    char line[256], mix[32], dist[16];
    unsigned th;
    int cpu;
    while (fgets(line, sizeof line, stdin)) {
        if (sscanf(line, "%31s %15s %u %d", mix, dist, &th, &cpu) != 4 || th < 1 || th > T) {
            fprintf(stderr, "%s: bad request %s", c->name, line);
            return 2;
        }
        const wl_mix *m = wl_mix_find(mix);
        wl_dist d;
        if (!m || wl_dist_parse(dist, &d) != 0) {
            fprintf(stderr, "%s: unknown %s %s\n", c->name, m ? "dist" : "mix", m ? dist : mix);
            return 2;
        }
        if (m != cur || d != cur_d) {
            for (unsigned t = 0; cur && t < T; t++)
                wl_trace_free(&tr[t]);
            apo = cell_traces(o, &r, m, d, T, tr);
            cur = m, cur_d = d;
        }
        cpu_set_t saved, one;
        bool pin = cpu >= 0 && cpu < CPU_SETSIZE && sched_getaffinity(0, sizeof saved, &saved) == 0;
        if (pin) {
            CPU_ZERO(&one);
            CPU_SET((size_t)cpu, &one);
            pin = sched_setaffinity(0, sizeof one, &one) == 0;
        }
        uint64_t ops, sum;
        run_threads(&r, o->seed, tr, th, o->dur_ms / 5 + 1, 0, NULL, &ops, &sum);
        double mops = run_threads(&r, o->seed, tr, th, o->dur_ms, 0, NULL, &ops, &sum);
        mix_result res;
        mix_result_cell(&res, "mix", c->name, m->name, wl_dist_name(d), th, o->keys, o->seed);
        mix_result_throughput(&res, &mops, 1, o->dur_ms);
        res.cpu = run_last_cpu();
        if (pin)
            (void)sched_setaffinity(0, sizeof saved, &saved);
        emit_cell(&res, ops, sum, apo, bpe);
        fflush(stdout);
    }
    for (unsigned t = 0; cur && t < T; t++)
        wl_trace_free(&tr[t]);
    c->destroy(r.m);
    return 0;
}

static bool u64_arg(const char *v, uint64_t *out) {
    uint64_t x[1];
    if (bench_parse_u64_list(v, x, 1) != 1)
        return false;
    *out = x[0];
    return true;
}

int mixpeer_main(int argc, char **argv, const mixpeer_contestant *cs, int n) {
    opts o = {.mixes = "read100,read90,read50",
              .dists = "uniform",
              .threads = {1, 2},
              .nthreads = 2,
              .keys = 1u << 20,
              .seed = 42,
              .dur_ms = 1000,
              .reps = 5,
              .trace_len = 1u << 20,
              .rate = 10000,
              .lat_ms = 1000,
              .lat_runs = 1,
              .throughput = true};
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i];
        if (i + 1 == argc) {
            bool help = !strcmp(a, "--help");
            fprintf(
                help ? stdout : stderr,
                "usage: %s [--maps LIST] [--mixes LIST] [--dist LIST] [--threads LIST]\n"
                "         [--keys N] [--seed N] [--duration-ms N] [--reps N] [--trace-len N]\n"
                "         [--throughput 0|1] [--latency 0|1] [--latency-mixes LIST]\n"
                "         [--rate N] [--lat-ms N] [--lat-runs N] [--verify-ops N] [--serve 0|1]\n"
                "gomap-bench mix starts this program; every option takes a value%s%s\n",
                argv[0], help ? "" : ": no value after ", help ? "" : a);
            return help ? 0 : 2;
        }
        const char *v = argv[i + 1];
        uint64_t x = 0;
        bool ok = true;
        if (!strcmp(a, "--maps"))
            o.maps = v;
        else if (!strcmp(a, "--mixes"))
            o.mixes = v;
        else if (!strcmp(a, "--dist"))
            o.dists = v;
        else if (!strcmp(a, "--latency-mixes"))
            o.latency_mixes = v;
        else if (!strcmp(a, "--threads"))
            ok = (o.nthreads = bench_parse_u64_list(v, o.threads, 16)) > 0;
        else if (!strcmp(a, "--keys"))
            ok = u64_arg(v, &o.keys) && o.keys > 0 && o.keys <= WL_MAX_KEYS;
        else if (!strcmp(a, "--seed"))
            ok = u64_arg(v, &o.seed);
        else if (!strcmp(a, "--duration-ms"))
            ok = u64_arg(v, &o.dur_ms);
        else if (!strcmp(a, "--reps"))
            ok = u64_arg(v, &o.reps) && o.reps >= 1 && o.reps <= 100;
        else if (!strcmp(a, "--trace-len"))
            ok = u64_arg(v, &o.trace_len) && o.trace_len >= 1;
        else if (!strcmp(a, "--rate"))
            ok = u64_arg(v, &o.rate) && o.rate >= 1;
        else if (!strcmp(a, "--lat-ms"))
            ok = u64_arg(v, &o.lat_ms);
        else if (!strcmp(a, "--lat-runs"))
            ok = u64_arg(v, &o.lat_runs) && o.lat_runs >= 1 && o.lat_runs <= 100;
        else if (!strcmp(a, "--verify-ops"))
            ok = u64_arg(v, &o.verify_ops);
        else if (!strcmp(a, "--throughput"))
            ok = u64_arg(v, &x), o.throughput = x != 0;
        else if (!strcmp(a, "--latency"))
            ok = u64_arg(v, &x), o.latency = x != 0;
        else if (!strcmp(a, "--serve"))
            ok = u64_arg(v, &x), o.serve = x != 0;
        else
            ok = false;
        if (!ok) {
            fprintf(stderr, "%s: bad option %s %s\n", argv[0], a, v);
            return 2;
        }
    }
    for (int k = 0; k < n; k++) {
        if (!bench_list_has(o.maps, cs[k].name))
            continue;
        if (o.serve)
            return serve(&o, &cs[k]);
        if (o.verify_ops)
            verify(&o, &cs[k]);
        else
            run(&o, &cs[k]);
    }
    return 0;
}
