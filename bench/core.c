/*
 * core.c — `gomap-bench core`: the single-thread core operations on gomap,
 * gomap without detection, Go's map and abseil's flat_hash_map, each run as
 * a process of its own (`core --peer`, this file for the first two).
 * bench/README.md specifies the workload; every contestant follows it step
 * for step, so their checksums must agree.
 */
#include "bench.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The name this binary's own measurements carry: gomap-bench-nodetect is the
 * same code linked against the library without detection. */
#ifndef BENCH_SELF_NAME
#define BENCH_SELF_NAME "gomap"
#endif

enum { MAX_SIZES = 16 };

typedef struct core_opts {
    uint64_t sizes[MAX_SIZES];
    int nsizes;
    const char *key_kinds; /* "u64,str" (kind_names) */
    const char *maps;      /* NULL = every contestant */
    int reps;
    uint64_t seed;
    bool json;
    const char *out;
    bool peer;      /* run only this binary's own map and print JSON lines */
    bool no_memory; /* skip the memory pass (bytes_per_entry null) */
    bool stat_min;  /* the table shows the minimum instead of the median */
} core_opts;

/* The operations, in the order the table lists them. */
/* count_upsert and count_get_set are gomap's alone (the peers print "-"): the
 * counting idiom with gomap_upsert against gomap_get then gomap_set. */
enum core_op {
    OP_INSERT,
    OP_GET_HIT,
    OP_GET_MISS,
    OP_DELETE,
    OP_ITERATE,
    OP_GET_MANY,
    OP_COUNT_UPSERT,
    OP_COUNT_GET_SET,
    NOPS
};
static const char *const op_names[NOPS] = {"insert",  "get_hit",  "get_miss",     "delete",
                                           "iterate", "get_many", "count_upsert", "count_get_set"};

/* The key/value kinds: u64 -> u64, 16-byte string -> u64, and u64 -> a
 * 64-byte value (the large-value case; only on request). */
enum core_kind { KIND_U64, KIND_STR, KIND_V64, NKINDS };
static const char *const kind_names[NKINDS] = {"u64", "str", "u64v64"};
enum { V64_WORDS = 8 };

/* Ratio targets (gomap time / peer time; docs/benchmarks.md, "Targets");
 * 0 = no target. */
static const double target_vs_go[NOPS] = {0.5, 0.5, 0.5, 0.5, 0.5, 0, 0, 0};
static const double target_vs_absl[NOPS] = {1.2, 1.0, 1.0, 0, 0, 0, 0, 0};
/* get_many (the hits, looked up MANY_BATCH keys per call) against single
 * gets of the same keys: at least twice as fast per key on maps larger than
 * the caches.  Only gomap has a batched lookup: its row's peer columns
 * compare with the peers' single hits. */
enum { MANY_BATCH = 64 };
static const double target_many_vs_hit = 0.5;
static const uint64_t target_many_min_keys = 1048576;
static const double target_detect = 1.03;

/* ---- the workload ------------------------------------------------------------ */

/* One (key kind, N) cell of the matrix.  Keys 0..n-1 are inserted; keys
 * n..2n-1 (the same stream, continued) are the misses.  The value stored
 * for key i is bench_key_u64(seed, i), so every checksum depends on the
 * key stream. */
typedef struct workload {
    int kind; /* enum core_kind */
    uint64_t n, seed;
    uint64_t rounds; /* how many times each op runs per repetition */
    uint64_t *u64;   /* 2n u64 keys (also the values) */
    char *strbuf;    /* 2n string keys of BENCH_STR_KEY_LEN bytes, when str */
    gomap_str *strs; /* the same keys as gomap_str, for get_many */
} workload;

/* Small maps would be timed over a few microseconds; each op is repeated
 * `rounds` times per repetition so that every sample covers >= 2^18 ops.
 * The peers use the same formula: checksums accumulate over rounds. */
static uint64_t rounds_for(uint64_t n) {
    uint64_t r = ((uint64_t)1 << 18) / (n ? n : 1);
    return r ? r : 1;
}

static int workload_init(workload *w, int kind, uint64_t n, uint64_t seed) {
    memset(w, 0, sizeof *w);
    w->kind = kind;
    w->n = n;
    w->seed = seed;
    w->rounds = rounds_for(n);
    w->u64 = malloc(2 * n * sizeof *w->u64);
    if (!w->u64)
        return -1;
    for (uint64_t i = 0; i < 2 * n; i++)
        w->u64[i] = bench_key_u64(seed, i);
    if (kind == KIND_STR) {
        w->strbuf = malloc(2 * n * BENCH_STR_KEY_LEN);
        if (!w->strbuf)
            return -1;
        for (uint64_t i = 0; i < 2 * n; i++)
            bench_key_str(seed, i, w->strbuf + i * BENCH_STR_KEY_LEN);
        w->strs = malloc(2 * n * sizeof *w->strs);
        if (!w->strs)
            return -1;
        for (uint64_t i = 0; i < 2 * n; i++) {
            w->strs[i].ptr = w->strbuf + i * BENCH_STR_KEY_LEN;
            w->strs[i].len = BENCH_STR_KEY_LEN;
        }
    }
    return 0;
}

static void workload_free(workload *w) {
    free(w->u64);
    free(w->strbuf);
    free(w->strs);
}

/* The key argument gomap takes for key i: a uint64_t, or a gomap_str built in
 * *tmp.  Inlined into loops where `kind` is a constant, so the branch folds. */
static inline const void *key_at(const workload *w, int kind, uint64_t i, gomap_str *tmp) {
    if (kind != KIND_STR)
        return &w->u64[i];
    tmp->ptr = w->strbuf + i * BENCH_STR_KEY_LEN;
    tmp->len = BENCH_STR_KEY_LEN;
    return tmp;
}

static gomap *new_map(int kind, const gomap_allocator *a) {
    gomap_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.key_kind = kind == KIND_STR ? GOMAP_KEY_STRING : GOMAP_KEY_U64;
    cfg.value_size = kind == KIND_V64 ? V64_WORDS * sizeof(uint64_t) : sizeof(uint64_t);
    cfg.allocator = a;
    gomap *m;
    if (gomap_new(&m, &cfg) != 0) {
        fprintf(stderr, "gomap-bench: gomap_new failed\n");
        exit(1);
    }
    return m;
}

/* Inserts keys 0..n-1.  The value of key i is its u64 key k; a 64-byte
 * value is the words k ^ 0 .. k ^ 7, built as it is stored (every contestant
 * does the same), so checksums, which read the first word, do not change. */
static inline void fill(gomap *m, const workload *w, int kind) {
    gomap_str tmp;
    for (uint64_t i = 0; i < w->n; i++) {
        uint64_t big[V64_WORDS];
        const void *value = &w->u64[i];
        if (kind == KIND_V64) {
            for (uint64_t j = 0; j < V64_WORDS; j++)
                big[j] = w->u64[i] ^ j;
            value = big;
        }
        if (gomap_set(m, key_at(w, kind, i, &tmp), value) != 0) {
            fprintf(stderr, "gomap-bench: gomap_set failed\n");
            exit(1);
        }
    }
}

/* One repetition: every op `rounds` times; ns[op] gets the time per op and
 * sum[op] the op's checksum (README: what each checksum adds up). */
static inline __attribute__((always_inline)) void run_rep(const workload *w, int kind,
                                                          double ns[NOPS], uint64_t sum[NOPS]) {
    const uint64_t n = w->n, rounds = w->rounds;
    const double ops = (double)n * (double)rounds;
    gomap_str tmp;
    gomap *m = NULL;
    uint64_t t, elapsed = 0, s = 0;

    for (uint64_t r = 0; r < rounds; r++) {
        if (m)
            gomap_free(m);
        t = bench_now_ns();
        m = new_map(kind, NULL);
        fill(m, w, kind);
        elapsed += bench_now_ns() - t;
        s += gomap_len(m);
    }
    ns[OP_INSERT] = (double)elapsed / ops;
    sum[OP_INSERT] = s;

    /* u64 -> u64 lookups use the typed helper, which runs inline in this
     * loop (as abseil's find does in its peer); the others call gomap_get. */
    const gomap_u64u64 *typed = (const gomap_u64u64 *)m;
    s = 0;
    t = bench_now_ns();
    for (uint64_t r = 0; r < rounds; r++)
        for (uint64_t i = 0; i < n; i++) {
            if (kind == KIND_U64) {
                uint64_t v;
                s += gomap_u64u64_get(typed, w->u64[i], &v) ? v : 0;
                continue;
            }
            const uint64_t *v = gomap_get(m, key_at(w, kind, i, &tmp));
            s += v ? *v : 0;
        }
    ns[OP_GET_HIT] = (double)(bench_now_ns() - t) / ops;
    sum[OP_GET_HIT] = s;
    bench_keep(s);

    s = 0;
    t = bench_now_ns();
    for (uint64_t r = 0; r < rounds; r++)
        for (uint64_t i = n; i < 2 * n; i++) {
            if (kind == KIND_U64) {
                uint64_t v;
                s += gomap_u64u64_get(typed, w->u64[i], &v) ? v + 1 : 0;
                continue;
            }
            const uint64_t *v = gomap_get(m, key_at(w, kind, i, &tmp));
            s += v ? *v + 1 : 0;
        }
    ns[OP_GET_MISS] = (double)(bench_now_ns() - t) / ops;
    sum[OP_GET_MISS] = s;
    bench_keep(s);

    /* The hits again, MANY_BATCH keys per gomap_get_many call; the same
     * checksum as get_hit. */
    s = 0;
    t = bench_now_ns();
    for (uint64_t r = 0; r < rounds; r++)
        for (uint64_t i = 0; i < n; i += MANY_BATCH) {
            void *out[MANY_BATCH];
            size_t g = n - i < MANY_BATCH ? (size_t)(n - i) : MANY_BATCH;
            const void *keys = kind == KIND_STR ? (const void *)&w->strs[i] : &w->u64[i];
            gomap_get_many(m, keys, g, out);
            for (size_t j = 0; j < g; j++)
                s += out[j] ? *(const uint64_t *)out[j] : 0;
        }
    ns[OP_GET_MANY] = (double)(bench_now_ns() - t) / ops;
    sum[OP_GET_MANY] = s;
    bench_keep(s);

    s = 0;
    t = bench_now_ns();
    for (uint64_t r = 0; r < rounds; r++) {
        gomap_iter it;
        void *v;
        gomap_iter_init(&it, m);
        while (gomap_iter_next(&it, NULL, &v))
            s += *(const uint64_t *)v;
    }
    ns[OP_ITERATE] = (double)(bench_now_ns() - t) / ops;
    sum[OP_ITERATE] = s;
    bench_keep(s);

    s = 0;
    elapsed = 0;
    for (uint64_t r = 0; r < rounds; r++) {
        if (r > 0)
            fill(m, w, kind); /* untimed: put back what the last round deleted */
        t = bench_now_ns();
        for (uint64_t i = 0; i < n; i++)
            s += gomap_delete(m, key_at(w, kind, i, &tmp));
        elapsed += bench_now_ns() - t;
    }
    ns[OP_DELETE] = (double)elapsed / ops;
    sum[OP_DELETE] = s;
    gomap_free(m);

    /* Counting: keys 0..N-1 counted twice into an empty map, so the first
     * pass misses (an insert) and the second hits; ns/op is per count. */
    for (int op = OP_COUNT_UPSERT; op <= OP_COUNT_GET_SET; op++) {
        s = 0;
        elapsed = 0;
        for (uint64_t r = 0; r < rounds; r++) {
            m = new_map(kind, NULL);
            t = bench_now_ns();
            for (int pass = 0; pass < 2; pass++)
                for (uint64_t i = 0; i < n; i++) {
                    const void *k = key_at(w, kind, i, &tmp);
                    uint64_t *v =
                        op == OP_COUNT_UPSERT ? gomap_upsert(m, k, NULL) : gomap_get(m, k);
                    if (v) {
                        s += ++*v;
                        continue;
                    }
                    /* get + set's miss: a second lookup, inserting 1. */
                    const uint64_t one[V64_WORDS] = {1};
                    if (op == OP_COUNT_UPSERT || gomap_set(m, k, one) != 0) {
                        fprintf(stderr, "gomap-bench: out of memory while counting\n");
                        exit(1);
                    }
                    s += 1;
                }
            elapsed += bench_now_ns() - t;
            gomap_free(m);
        }
        ns[op] = (double)elapsed / (2 * ops);
        sum[op] = s;
        bench_keep(s);
    }
}

/* The memory pass, untimed: bytes per entry and allocations per insert of a
 * map grown from empty to n entries. */
static void measure_memory(const workload *w, int kind, double *bytes_per_entry,
                           double *allocs_per_insert) {
    bench_counter c;
    bench_counter_reset(&c);
    gomap_allocator a = bench_counting_allocator(&c);
    gomap *m = new_map(kind, &a);
    uint64_t allocs0 = c.allocs;
    fill(m, w, kind);
    *bytes_per_entry = (double)c.live_bytes / (double)w->n;
    *allocs_per_insert = (double)(c.allocs - allocs0) / (double)w->n;
    gomap_free(m);
}

/* Runs one cell on this binary's map and appends its JSON lines to *lines. */
static void run_self(const core_opts *o, int kind, uint64_t n, bench_lines *lines) {
    workload w;
    if (workload_init(&w, kind, n, o->seed) != 0) {
        fprintf(stderr, "gomap-bench: out of memory for %" PRIu64 " keys\n", n);
        exit(1);
    }
    double bpe = NAN, apo = -1;
    if (!o->no_memory)
        measure_memory(&w, kind, &bpe, &apo);
    double *samples = malloc((size_t)o->reps * NOPS * sizeof *samples);
    uint64_t sum[NOPS], first[NOPS];
    bool stable = true;
    if (!samples)
        exit(1);
    for (int rep = 0; rep < o->reps; rep++) {
        double ns[NOPS];
        /* One copy of run_rep per kind, the kind a constant in each. */
        if (kind == KIND_STR)
            run_rep(&w, KIND_STR, ns, sum);
        else if (kind == KIND_V64)
            run_rep(&w, KIND_V64, ns, sum);
        else
            run_rep(&w, KIND_U64, ns, sum);
        for (int op = 0; op < NOPS; op++) {
            samples[op * o->reps + rep] = ns[op];
            if (rep == 0)
                first[op] = sum[op];
            else if (sum[op] != first[op])
                stable = false;
        }
    }
    if (!stable)
        fprintf(stderr, "gomap-bench: %s: checksums differ between repetitions\n", BENCH_SELF_NAME);
    for (int op = 0; op < NOPS; op++) {
        bench_core_line r = {BENCH_SELF_NAME,
                             op_names[op],
                             kind_names[kind],
                             n,
                             bench_summarize(&samples[op * o->reps], (size_t)o->reps),
                             bpe,
                             op == OP_INSERT ? apo : -1,
                             first[op],
                             o->reps,
                             w.rounds,
                             o->seed};
        bench_json j;
        bench_lines_add(lines, bench_core_json(&j, &r));
        bench_sink(first[op]);
    }
    free(samples);
    workload_free(&w);
}

/* ---- options ------------------------------------------------------------------ */

static void core_usage(FILE *f) {
    fprintf(f, "usage: gomap-bench core [OPTIONS]\n"
               "  --keys N[,N...]   map sizes (default 1024,1048576; k/m suffixes allowed)\n"
               "  --key LIST        key kinds among u64, str (16-byte strings) and u64v64\n"
               "                    (u64 keys, 64-byte values); default u64,str\n"
               "  --reps R          repetitions, the median is reported (default 5)\n"
               "  --seed S          key stream seed (default 1)\n"
               "  --maps LIST       contestants among gomap,gomap-nodetect,go,absl (default all)\n"
               "  --json            JSON lines only on stdout\n"
               "  --out FILE        also write the JSON lines to FILE\n"
               "  --stat min        the table shows the fastest repetition instead of the\n"
               "                    median (on a busy machine; the JSON lines carry both)\n"
               "  --peer            run only this binary's map, JSON lines on stdout\n"
               "  --no-memory       (with --peer) skip the memory pass\n");
}

/* Takes the value of option `name` at argv[*i] ("--name v" or "--name=v"). */
static const char *opt_value(int argc, char **argv, int *i, const char *name) {
    size_t len = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, len) != 0)
        return NULL;
    if (a[len] == '=')
        return a + len + 1;
    if (a[len] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        fprintf(stderr, "gomap-bench: %s needs a value\n", name);
        exit(2);
    }
    return argv[++*i];
}

static int parse_opts(int argc, char **argv, core_opts *o) {
    memset(o, 0, sizeof *o);
    o->sizes[0] = 1024;
    o->sizes[1] = 1048576;
    o->nsizes = 2;
    o->key_kinds = "u64,str";
    o->reps = 5;
    o->seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if ((v = opt_value(argc, argv, &i, "--keys"))) {
            o->nsizes = bench_parse_u64_list(v, o->sizes, MAX_SIZES);
            for (int k = 0; k < o->nsizes; k++)
                if (o->sizes[k] == 0)
                    o->nsizes = -1;
            if (o->nsizes <= 0) {
                fprintf(stderr, "gomap-bench: bad --keys '%s'\n", v);
                return 2;
            }
        } else if ((v = opt_value(argc, argv, &i, "--key"))) {
            o->key_kinds = v;
        } else if ((v = opt_value(argc, argv, &i, "--reps"))) {
            o->reps = atoi(v);
            if (o->reps < 1) {
                fprintf(stderr, "gomap-bench: bad --reps '%s'\n", v);
                return 2;
            }
        } else if ((v = opt_value(argc, argv, &i, "--seed"))) {
            o->seed = strtoull(v, NULL, 0);
        } else if ((v = opt_value(argc, argv, &i, "--maps"))) {
            o->maps = v;
        } else if ((v = opt_value(argc, argv, &i, "--out"))) {
            o->out = v;
        } else if (strcmp(argv[i], "--json") == 0) {
            o->json = true;
        } else if (strcmp(argv[i], "--peer") == 0) {
            o->peer = true;
        } else if (strcmp(argv[i], "--no-memory") == 0) {
            o->no_memory = true;
        } else if ((v = opt_value(argc, argv, &i, "--stat"))) {
            if (strcmp(v, "min") != 0 && strcmp(v, "median") != 0) {
                fprintf(stderr, "gomap-bench: --stat takes median or min\n");
                return 2;
            }
            o->stat_min = strcmp(v, "min") == 0;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            core_usage(stdout);
            return 1;
        } else {
            fprintf(stderr, "gomap-bench core: unknown option '%s'\n", argv[i]);
            core_usage(stderr);
            return 2;
        }
    }
    for (const char *p = o->key_kinds; *p;) {
        size_t len = strcspn(p, ",");
        bool known = false;
        for (int k = 0; k < NKINDS; k++)
            known |= strlen(kind_names[k]) == len && strncmp(p, kind_names[k], len) == 0;
        if (!known) {
            fprintf(stderr, "gomap-bench: --key takes a list of u64, str, u64v64\n");
            return 2;
        }
        p += len + (p[len] == ',');
    }
    return 0;
}

/* ---- contestants and the table -------------------------------------------------- */

enum { C_SELF, C_NODETECT, C_GO, C_ABSL, NCONTESTANTS };

typedef struct contestant {
    const char *name; /* the "map" field of its JSON lines */
    const char *exe;  /* executable next to gomap-bench; NULL = this one */
    const char *why;  /* why it may be missing */
    char path[4096];
    bool on;
} contestant;

static contestant contestants[NCONTESTANTS] = {
    {BENCH_SELF_NAME, NULL, NULL, "", false},
    {"gomap-nodetect", "gomap-bench-nodetect", "not built", "", false},
    {"go", "peer-go-core", "not built: is golang-go installed?", "", false},
    {"absl", "peer-absl-core", "not built: is libabsl-dev installed?", "", false},
};

/* The line of `map` for (op, key, n) among lines, or NULL. */
static const char *find_line(const bench_lines *lines, const char *map, const char *op,
                             const char *key, uint64_t n) {
    char buf[64];
    for (size_t i = 0; i < lines->len; i++) {
        const char *l = lines->line[i];
        uint64_t keys;
        if (bench_json_get_str(l, "map", buf, sizeof buf) && strcmp(buf, map) == 0 &&
            bench_json_get_str(l, "op", buf, sizeof buf) && strcmp(buf, op) == 0 &&
            bench_json_get_str(l, "key", buf, sizeof buf) && strcmp(buf, key) == 0 &&
            bench_json_get_u64(l, "keys", &keys) && keys == n)
            return l;
    }
    return NULL;
}

static double field(const char *line, const char *name) {
    double v;
    return line && bench_json_get_f64(line, name, &v) ? v : -1;
}

/* Writes a ratio cell: "-" when a side is missing, a trailing '!' when the
 * target is missed.  Counts targets met and missed. */
static void ratio_cell(bench_table *t, double num, double den, double target, int *met,
                       int *missed) {
    if (num < 0 || den <= 0) {
        bench_table_cell(t, "-");
        return;
    }
    double r = num / den;
    if (target > 0 && r > target) {
        (*missed)++;
        bench_table_cell(t, "%.2f!", r);
    } else {
        if (target > 0)
            (*met)++;
        bench_table_cell(t, "%.2f", r);
    }
}

/* Memory given back: bytes per remaining entry of a map of n keys after 90%
 * of them are deleted, before and after gomap_shrink, and with the automatic
 * shrink on.  Allocator-counted, untimed, run in this process. */
static void print_shrink_table(const core_opts *o) {
    static const char *const hdr[] = {"key",          "keys",        "after delete B/entry",
                                      "after shrink", "auto shrink", "shrink ms"};
    bench_table *t = bench_table_new(6, hdr);
    int rows = 0;
    for (int k = 0; k < NKINDS; k++) {
        if (!bench_list_has(o->key_kinds, kind_names[k]) || k == KIND_V64)
            continue;
        for (int s = 0; s < o->nsizes; s++) {
            uint64_t n = o->sizes[s];
            workload w;
            if (workload_init(&w, k, n, o->seed) != 0)
                exit(1);
            double bpe[3], ms = 0;
            for (int pass = 0; pass < 2; pass++) {
                bench_counter c;
                bench_counter_reset(&c);
                gomap_allocator a = bench_counting_allocator(&c);
                gomap *m = new_map(k, &a);
                if (pass == 1)
                    gomap_auto_shrink(m, true);
                fill(m, &w, k);
                gomap_str tmp;
                for (uint64_t i = 0; i < n; i++)
                    if (i % 10 != 0)
                        gomap_delete(m, key_at(&w, k, i, &tmp));
                double left = (double)gomap_len(m);
                if (pass == 0) {
                    bpe[0] = (double)c.live_bytes / left;
                    uint64_t t0 = bench_now_ns();
                    if (gomap_shrink(m) != 0)
                        exit(1);
                    ms = (double)(bench_now_ns() - t0) / 1e6;
                    bpe[1] = (double)c.live_bytes / left;
                } else {
                    bpe[2] = (double)c.live_bytes / left;
                }
                gomap_free(m);
            }
            workload_free(&w);
            bench_table_rule(t);
            bench_table_cell(t, "%s", kind_names[k]);
            bench_table_cell(t, "%" PRIu64, n);
            bench_table_cell(t, "%.1f", bpe[0]);
            bench_table_cell(t, "%.1f", bpe[1]);
            bench_table_cell(t, "%.1f", bpe[2]);
            bench_table_cell(t, "%.2f", ms);
            rows++;
        }
    }
    if (rows) {
        printf("\nmemory after deleting 90%% of N keys (bytes per remaining entry; Go's map\n"
               "never gives memory back: it stays at its full-map bytes over the remaining\n"
               "entries)\n\n");
        bench_table_print(t, stdout);
    }
    bench_table_free(t);
}

static void print_tables(const core_opts *o, const bench_lines *lines) {
    const char *stat = o->stat_min ? "ns_min" : "ns_per_op";
    static const char *const hdr[] = {"key",         "keys",       "op",      "gomap ns",
                                      "nodetect ns", "go ns",      "absl ns", "detect cost",
                                      "gomap/go",    "gomap/absl", "checksum"};
    bench_table *t = bench_table_new(11, hdr);
    static const char *const mhdr[] = {"key",
                                       "keys",
                                       "gomap B/entry",
                                       "go B/entry",
                                       "absl B/entry",
                                       "gomap/go",
                                       "gomap allocs/insert",
                                       "go allocs/insert",
                                       "absl allocs/insert"};
    bench_table *mt = bench_table_new(9, mhdr);
    int met = 0, missed = 0, bad_sums = 0;
    char many_lines[16][96];
    int nmany = 0;
    const char *const *kinds = kind_names;
    for (int k = 0; k < NKINDS; k++) {
        if (!bench_list_has(o->key_kinds, kinds[k]))
            continue;
        for (int s = 0; s < o->nsizes; s++) {
            uint64_t n = o->sizes[s];
            const char *l[NCONTESTANTS];
            bench_table_rule(t);
            for (int op = 0; op < NOPS; op++) {
                for (int c = 0; c < NCONTESTANTS; c++)
                    l[c] = find_line(lines, contestants[c].name, op_names[op], kinds[k], n);
                if (op == OP_GET_MANY) {
                    /* The peers have no batched lookup: their single hits. */
                    l[C_GO] = find_line(lines, contestants[C_GO].name, "get_hit", kinds[k], n);
                    l[C_ABSL] = find_line(lines, contestants[C_ABSL].name, "get_hit", kinds[k], n);
                    const char *hit =
                        find_line(lines, contestants[C_SELF].name, "get_hit", kinds[k], n);
                    double r = field(hit, stat) > 0 && field(l[C_SELF], stat) > 0
                                   ? field(l[C_SELF], stat) / field(hit, stat)
                                   : -1;
                    if (r >= 0 && n >= target_many_min_keys) {
                        if (r <= target_many_vs_hit)
                            met++;
                        else
                            missed++;
                    }
                    if (r >= 0 && nmany < (int)(sizeof many_lines / sizeof many_lines[0]))
                        snprintf(many_lines[nmany++], sizeof many_lines[0],
                                 "  %s %" PRIu64 ": get_many/get_hit = %.2f%s\n", kinds[k], n, r,
                                 n < target_many_min_keys  ? ""
                                 : r <= target_many_vs_hit ? " (target <= 0.50: met)"
                                                           : " (target <= 0.50: MISSED)");
                }
                bench_table_cell(t, "%s", kinds[k]);
                bench_table_cell(t, "%" PRIu64, n);
                bench_table_cell(t, "%s", op_names[op]);
                for (int c = 0; c < NCONTESTANTS; c++) {
                    if (l[c])
                        bench_table_cell(t, "%.1f", field(l[c], stat));
                    else
                        bench_table_cell(t, "-");
                }
                double g = field(l[C_SELF], stat);
                ratio_cell(t, g, field(l[C_NODETECT], stat), target_detect, &met, &missed);
                ratio_cell(t, g, field(l[C_GO], stat), target_vs_go[op], &met, &missed);
                ratio_cell(t, g, field(l[C_ABSL], stat), target_vs_absl[op], &met, &missed);
                /* Every contestant that ran must report the same checksum. */
                uint64_t ref = 0, sum;
                int seen = 0;
                bool same = true;
                for (int c = 0; c < NCONTESTANTS; c++) {
                    if (!l[c] || !bench_json_get_u64(l[c], "checksum", &sum))
                        continue;
                    if (seen++ == 0)
                        ref = sum;
                    else if (sum != ref)
                        same = false;
                }
                if (!same)
                    bad_sums++;
                bench_table_cell(t, "%s", seen == 0 ? "-" : same ? "same" : "DIFFERENT");
            }
            const char *ins[NCONTESTANTS];
            for (int c = 0; c < NCONTESTANTS; c++)
                ins[c] = find_line(lines, contestants[c].name, "insert", kinds[k], n);
            bench_table_cell(mt, "%s", kinds[k]);
            bench_table_cell(mt, "%" PRIu64, n);
            const int mem_cols[3] = {C_SELF, C_GO, C_ABSL};
            for (int c = 0; c < 3; c++) {
                double b = field(ins[mem_cols[c]], "bytes_per_entry");
                if (b >= 0)
                    bench_table_cell(mt, "%.1f", b);
                else
                    bench_table_cell(mt, "-");
            }
            /* The memory target is for 1M u64 -> u64 (docs/benchmarks.md). */
            double mem_target = (k == 0 && n >= 1048576) ? 1.0 : 0;
            ratio_cell(mt, field(ins[C_SELF], "bytes_per_entry"),
                       field(ins[C_GO], "bytes_per_entry"), mem_target, &met, &missed);
            for (int c = 0; c < 3; c++) {
                double a = field(ins[mem_cols[c]], "allocs_per_op");
                if (a >= 0)
                    bench_table_cell(mt, "%.4f", a);
                else
                    bench_table_cell(mt, "-");
            }
        }
    }
    printf("gomap-bench core: ns per op, %s of %d repetitions (seed %" PRIu64 ")\n\n",
           o->stat_min ? "minimum" : "median", o->reps, o->seed);
    bench_table_print(t, stdout);
    printf("\nmemory after inserting N keys into an empty map (allocator-counted bytes)\n\n");
    bench_table_print(mt, stdout);
    printf("\nbatched lookups (get_many: the hits, %d keys per call; its go and absl columns\n"
           "are their single hits), per key against gomap's single gets:\n",
           MANY_BATCH);
    for (int i = 0; i < nmany; i++)
        fputs(many_lines[i], stdout);
    print_shrink_table(o);
    printf("\nratios are gomap's time (or bytes) over the other's: below 1 gomap is better.\n"
           "'!' marks a missed target (detect cost <= %.2f; vs go <= 0.5; vs absl <= 1.0 for\n"
           "lookups and <= 1.2 for insert; bytes/entry vs go <= 1.0 at 1M u64; get_many <= 0.5 x\n"
           "get_hit from 1M keys).\n"
           "targets: %d met, %d missed.%s\n",
           target_detect, met, missed,
           bad_sums ? "  CHECKSUMS DIFFER: some contestant did not do the same work." : "");
    bench_table_free(t);
    bench_table_free(mt);
}

/* One (key kind, N) cell over every contestant.  Each repetition runs in a
 * fresh process per contestant (`core --peer --reps 1`), the contestants
 * taking turns, starting one further along at each repetition: a drift in
 * the machine's load then spreads over all of them instead of falling on
 * one, which matters most for gomap/gomap-nodetect, whose target is 3%.
 * The memory pass runs in the first repetition only.  The medians are taken
 * here and appended to *lines as one line per contestant and op. */
static void run_cell(const core_opts *o, const char *kind, uint64_t n, bench_lines *lines) {
    char nbuf[32], sbuf[32];
    snprintf(nbuf, sizeof nbuf, "%" PRIu64, n);
    snprintf(sbuf, sizeof sbuf, "%" PRIu64, o->seed);
    double *ns = calloc((size_t)NCONTESTANTS * NOPS * (size_t)o->reps, sizeof *ns);
    bench_lines first = {0}; /* each contestant's lines of the first repetition */
    int got[NCONTESTANTS][NOPS] = {{0}};
    if (!ns)
        exit(1);
    for (int rep = 0; rep < o->reps; rep++) {
        for (int turn = 0; turn < NCONTESTANTS; turn++) {
            const int c = (turn + rep) % NCONTESTANTS;
            contestant *ct = &contestants[c];
            if (!ct->on)
                continue;
            char what[96];
            snprintf(what, sizeof what, "%s %s %s", ct->name, kind, nbuf);
            bench_progress_add(0, what);
            const char *pargv[] = {ct->exe ? ct->exe : "gomap-bench",
                                   "core",
                                   "--peer",
                                   "--key",
                                   kind,
                                   "--keys",
                                   nbuf,
                                   "--reps",
                                   "1",
                                   "--seed",
                                   sbuf,
                                   rep ? "--no-memory" : NULL,
                                   NULL};
            bench_lines out = {0};
            int st = bench_run_peer(ct->path, pargv, &out);
            if (st != 0)
                fprintf(stderr, "gomap-bench: %s exited with status %d\n", ct->name, st);
            for (int op = 0; op < NOPS; op++) {
                const char *l = find_line(&out, ct->name, op_names[op], kind, n);
                double v;
                uint64_t sum, sum0;
                if (!l || !bench_json_get_f64(l, "ns_per_op", &v))
                    continue;
                ns[((size_t)c * NOPS + (size_t)op) * (size_t)o->reps + (size_t)got[c][op]++] = v;
                if (rep == 0) {
                    bench_lines_add(&first, l);
                } else {
                    const char *l0 = find_line(&first, ct->name, op_names[op], kind, n);
                    if (l0 && bench_json_get_u64(l0, "checksum", &sum0) &&
                        bench_json_get_u64(l, "checksum", &sum) && sum != sum0)
                        fprintf(stderr,
                                "gomap-bench: %s %s %s: checksums differ between "
                                "repetitions\n",
                                ct->name, kind, op_names[op]);
                }
            }
            bench_lines_free(&out);
            bench_progress_add(1, what);
        }
    }
    for (int c = 0; c < NCONTESTANTS; c++)
        for (int op = 0; op < NOPS; op++) {
            const char *l0 = find_line(&first, contestants[c].name, op_names[op], kind, n);
            if (!l0 || got[c][op] == 0)
                continue;
            bench_core_line r;
            memset(&r, 0, sizeof r);
            r.map = contestants[c].name;
            r.op = op_names[op];
            r.key = kind;
            r.keys = n;
            r.ns = bench_summarize(&ns[((size_t)c * NOPS + (size_t)op) * (size_t)o->reps],
                                   (size_t)got[c][op]);
            if (!bench_json_get_f64(l0, "bytes_per_entry", &r.bytes_per_entry))
                r.bytes_per_entry = NAN;
            if (!bench_json_get_f64(l0, "allocs_per_op", &r.allocs_per_op))
                r.allocs_per_op = -1;
            bench_json_get_u64(l0, "checksum", &r.checksum);
            bench_json_get_u64(l0, "rounds", &r.rounds);
            r.reps = got[c][op];
            r.seed = o->seed;
            bench_json j;
            bench_lines_add(lines, bench_core_json(&j, &r));
        }
    bench_lines_free(&first);
    free(ns);
}

/* ---- entry points -------------------------------------------------------------------- */

int bench_core_main(int argc, char **argv) {
    core_opts o;
    int rc = parse_opts(argc, argv, &o);
    if (rc)
        return rc == 1 ? 0 : rc;
    const char *const *kinds = kind_names;
    bench_lines lines = {0};

    if (o.peer) {
        for (int k = 0; k < NKINDS; k++)
            for (int s = 0; s < o.nsizes && bench_list_has(o.key_kinds, kinds[k]); s++)
                run_self(&o, k, o.sizes[s], &lines);
        for (size_t i = 0; i < lines.len; i++)
            printf("%s\n", lines.line[i]);
        bench_lines_free(&lines);
        return 0;
    }

    bench_output out;
    if (bench_output_open(&out, o.json, o.out) != 0)
        return 1;
    int ncont = 0;
    for (int c = 0; c < NCONTESTANTS; c++) {
        contestant *ct = &contestants[c];
        ct->on = bench_list_has(o.maps, ct->name);
        if (!ct->on)
            continue;
        if (!ct->exe) { /* this program, run again as a peer */
            ssize_t len = readlink("/proc/self/exe", ct->path, sizeof ct->path - 1);
            if (len <= 0) {
                fprintf(stderr, "gomap-bench: cannot find my own executable\n");
                return 1;
            }
            ct->path[len] = '\0';
        } else if (!bench_peer_path(ct->exe, ct->path, sizeof ct->path)) {
            fprintf(stderr, "gomap-bench: skipping %s (%s %s)\n", ct->name, ct->exe, ct->why);
            ct->on = false;
        }
        ncont += ct->on;
    }

    int ncells = 0;
    for (int k = 0; k < NKINDS; k++)
        ncells += bench_list_has(o.key_kinds, kinds[k]) ? o.nsizes : 0;
    bench_progress_start((uint64_t)ncells * (uint64_t)ncont * (uint64_t)o.reps, "core");
    for (int k = 0; k < NKINDS; k++) {
        if (!bench_list_has(o.key_kinds, kinds[k]))
            continue;
        for (int s = 0; s < o.nsizes; s++) {
            size_t before = lines.len;
            run_cell(&o, kinds[k], o.sizes[s], &lines);
            for (size_t i = before; i < lines.len; i++)
                bench_output_emit(&out, lines.line[i]);
        }
    }
    bench_progress_done();
    if (!o.json)
        print_tables(&o, &lines);
    bench_output_close(&out);
    bench_lines_free(&lines);
    return 0;
}

int bench_keys_main(int argc, char **argv) {
    uint64_t seed = 1, count = 8;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if ((v = opt_value(argc, argv, &i, "--seed")))
            seed = strtoull(v, NULL, 0);
        else if ((v = opt_value(argc, argv, &i, "--count")))
            count = strtoull(v, NULL, 0);
        else {
            fprintf(stderr, "usage: gomap-bench keys [--seed S] [--count N]\n");
            return 2;
        }
    }
    for (uint64_t i = 0; i < count; i++) {
        char s[BENCH_STR_KEY_LEN];
        bench_key_str(seed, i, s);
        printf("%" PRIu64 " %" PRIu64 " %.*s\n", i, bench_key_u64(seed, i), BENCH_STR_KEY_LEN, s);
    }
    return 0;
}
