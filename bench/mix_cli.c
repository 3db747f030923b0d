/*
 * mix_cli.c — the command line of `gomap-bench mix` (and of `advise` and the
 * default run, which take the same options): the plan's defaults, one table
 * row per option, the output options, and the command itself.
 */
#include "mix_impl.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gomap/gomap.h>

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
    p->fastest = false;
    p->pin = true;
    p->trace_len = 1u << 20;
    p->value_size = 8;
    p->throughput = true;
    p->latency = false;
    p->rate = 10000;
    p->lat_ms = 1000;
    p->lat_runs = 1;
    p->peers = true;
}

static int parse_u64(const char *s, uint64_t *out) {
    uint64_t v[1];
    if (bench_parse_u64_list(s, v, 1) != 1)
        return -1;
    *out = v[0];
    return 0;
}

/* ---- options that take a list or a unit ------------------------------------- */

static int opt_maps(mix_plan *p, const char *v) {
    p->maps = strcmp(v, "all") == 0 ? NULL : v;
    return 0;
}

static int opt_mixes(mix_plan *p, const char *v) {
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
    return 0;
}

static int opt_dist(mix_plan *p, const char *v) {
    p->ndists = 0;
    if (strstr(v, "uniform"))
        p->dists[p->ndists++] = WL_UNIFORM;
    if (strstr(v, "zipf"))
        p->dists[p->ndists++] = WL_ZIPF;
    if (!p->ndists) {
        fprintf(stderr, "gomap-bench: --dist is uniform, zipf or uniform,zipf\n");
        return -1;
    }
    return 0;
}

static int opt_threads(mix_plan *p, const char *v) {
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
    return 0;
}

/* "1s", "200ms" or a number of milliseconds. */
static int opt_duration(mix_plan *p, const char *v) {
    char *end;
    double d = strtod(v, &end);
    if (end == v || d <= 0)
        return -1;
    if (strcmp(end, "s") == 0)
        d *= 1000;
    else if (*end && strcmp(end, "ms") != 0)
        return -1;
    p->duration_ms = (uint64_t)d;
    return 0;
}

static int opt_latency_mixes(mix_plan *p, const char *v) {
    p->latency = true;
    p->latency_mixes = v;
    return 0;
}

/* ---- flags ------------------------------------------------------------------ */

static int opt_latency(mix_plan *p, const char *v) {
    (void)v;
    p->latency = true;
    return 0;
}

static int opt_latency_only(mix_plan *p, const char *v) {
    (void)v;
    p->latency = true;
    p->throughput = false;
    return 0;
}

static int opt_no_peers(mix_plan *p, const char *v) {
    (void)v;
    p->peers = false;
    return 0;
}

static int opt_stat(mix_plan *p, const char *v) {
    if (strcmp(v, "max") != 0 && strcmp(v, "median") != 0)
        return -1;
    p->fastest = strcmp(v, "max") == 0;
    return 0;
}

static int opt_pin(mix_plan *p, const char *v) {
    if (strcmp(v, "on") != 0 && strcmp(v, "off") != 0)
        return -1;
    p->pin = strcmp(v, "on") == 0;
    return 0;
}

static int opt_quiet(mix_plan *p, const char *v) {
    (void)v;
    p->quiet = true;
    return 0;
}

/* ---- the option table ------------------------------------------------------- */

/* What an option's value is: none (a flag), a number stored in a field of the
 * plan (of type uint64_t, unsigned or size_t) within [min, max], or anything
 * its own function reads. */
typedef enum { OPT_FLAG, OPT_U64, OPT_UNSIGNED, OPT_SIZE, OPT_FN } opt_type;

typedef struct mix_option {
    const char *name;
    opt_type type;
    size_t field; /* numbers: offsetof(mix_plan, field) */
    uint64_t min, max;
    int (*set)(mix_plan *p, const char *v); /* flags and OPT_FN: 0, or -1 if bad */
} mix_option;

#define OPT_NUM(name, type, field, min, max)                                                       \
    { name, type, offsetof(mix_plan, field), min, max, NULL }
#define OPT_CALL(name, type, fn)                                                                   \
    { name, type, 0, 0, 0, fn }

static const mix_option mix_options[] = {
    OPT_CALL("--maps", OPT_FN, opt_maps),
    OPT_CALL("--mixes", OPT_FN, opt_mixes),
    OPT_CALL("--dist", OPT_FN, opt_dist),
    OPT_CALL("--threads", OPT_FN, opt_threads),
    OPT_NUM("--keys", OPT_U64, keys, 1, WL_MAX_KEYS),
    OPT_NUM("--seed", OPT_U64, seed, 0, UINT64_MAX),
    OPT_CALL("--duration", OPT_FN, opt_duration),
    OPT_CALL("--duration-ms", OPT_FN, opt_duration),
    OPT_NUM("--reps", OPT_UNSIGNED, reps, 1, 100),
    OPT_NUM("--trace-len", OPT_SIZE, trace_len, 64, SIZE_MAX),
    OPT_NUM("--value-size", OPT_SIZE, value_size, 8, GOMAP_MAX_VALUE_SIZE),
    OPT_NUM("--rate", OPT_U64, rate, 1, UINT64_MAX),
    OPT_NUM("--lat-ms", OPT_U64, lat_ms, 1, UINT64_MAX),
    OPT_NUM("--lat-runs", OPT_UNSIGNED, lat_runs, 1, 100),
    OPT_NUM("--verify-ops", OPT_U64, verify_ops, 1, UINT64_MAX),
    OPT_CALL("--latency", OPT_FLAG, opt_latency),
    OPT_CALL("--latency-mixes", OPT_FN, opt_latency_mixes),
    OPT_CALL("--latency-only", OPT_FLAG, opt_latency_only),
    OPT_CALL("--no-peers", OPT_FLAG, opt_no_peers),
    OPT_CALL("--quiet", OPT_FLAG, opt_quiet),
    OPT_CALL("--stat", OPT_FN, opt_stat),
    OPT_CALL("--pin", OPT_FN, opt_pin),
};
enum { MIX_NOPTIONS = sizeof mix_options / sizeof mix_options[0] };

/* Stores number v in the plan's field that o names. */
static int opt_set_number(mix_plan *p, const mix_option *o, const char *v) {
    uint64_t u;
    if (parse_u64(v, &u) || u < o->min || u > o->max)
        return -1;
    char *field = (char *)p + o->field;
    if (o->type == OPT_UNSIGNED) {
        unsigned x = (unsigned)u;
        memcpy(field, &x, sizeof x);
    } else if (o->type == OPT_SIZE) {
        size_t x = (size_t)u;
        memcpy(field, &x, sizeof x);
    } else {
        memcpy(field, &u, sizeof u);
    }
    return 0;
}

int mix_plan_option(mix_plan *p, int argc, char **argv, int *i) {
    const char *a = argv[*i];
    const mix_option *o = NULL;
    for (int k = 0; k < MIX_NOPTIONS && !o; k++)
        if (strcmp(a, mix_options[k].name) == 0)
            o = &mix_options[k];
    if (!o)
        return 0;
    if (o->type == OPT_FLAG)
        return o->set(p, NULL) == 0 ? 1 : -1;
    if (*i + 1 >= argc) {
        fprintf(stderr, "gomap-bench: %s needs a value\n", a);
        return -1;
    }
    const char *v = argv[++*i];
    int rc = o->type == OPT_FN ? o->set(p, v) : opt_set_number(p, o, v);
    return rc == 0 ? 1 : -1;
}

/* ---- the command -------------------------------------------------------------- */

static void mix_usage(FILE *f) {
    char variants[128] = "";
    for (const char *const *v = concmap_variants; *v; v++)
        mix_list_append(variants, sizeof variants, *v);
    fprintf(f,
            "usage: gomap-bench mix [--json] [--out FILE] [--csv FILE] [--plot DIR]\n"
            "         [--maps %s,go-sync-map,...|all] [--mixes read100,read90,...]\n"
            "         [--dist uniform|zipf|uniform,zipf] [--threads 1,2,...] [--keys N]\n"
            "         [--duration 1s] [--reps 5] [--stat max|median] [--pin on|off]\n"
            "         [--seed S] [--value-size 8]\n"
            "         [--latency | --latency-only | --latency-mixes read90,...]\n"
            "         [--rate 10000] [--lat-ms 1000] [--lat-runs 1]\n"
            "         [--verify-ops N] [--no-peers]\n"
            "mixes: read100 read99 read90 read75 read50 update100 churn (docs/workloads.md)\n"
            "peers: go-rwmutex-map go-shard-map go-sync-map go-cow-map absl-rwlock tbb-chm "
            "urcu-lfht\n"
            "--pin on (default): each variant's throughput and latency cells alternate\n"
            "         with its Go analog's run by run; throughput pairs at 1 thread pinned\n"
            "         to one CPU per pair, the CPU rotating; with tbb-chm or urcu-lfht\n"
            "         selected, each throughput cell runs in rounds: round k runs repetition\n"
            "         k of every variant, its analog and those peers (docs/benchmarks.md)\n"
            "on request: syncmap-adaptive (syncmap with SYNCMAP_PROMOTE_ADAPTIVE),\n"
            "            rwmap-batch, shardmap-batch (runs of up to 64 consecutive reads\n"
            "            through rwmap_load_many / shardmap_load_many),\n"
            "            shardmap-2, shardmap-32 (shardmap with 2 or 32 shards)\n",
            variants);
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

int bench_mix_main(int argc, char **argv) {
    mix_plan p;
    mix_plan_defaults(&p);
    mix_outputs o = {0};
    if (!mix_variants_match_library(stderr))
        return 2;
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
