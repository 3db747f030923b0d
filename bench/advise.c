/*
 * advise.c — `gomap-bench advise` (a short trial of the user's profile on
 * every variant, and a recommendation), the default run (a curated matrix,
 * a recommendation per mix, the targets of docs/benchmarks.md and the
 * memory limit), and the decision rule they share (adv_choose, unit-tested
 * apart from any timing).
 */
#include "mix.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- the decision --------------------------------------------------------- */

typedef struct adv_rank_ctx {
    const adv_candidate *c;
    double floor; /* throughput at or above which a candidate is a contender */
} adv_rank_ctx;

/* Contenders (within the tie band of the best throughput) come first, ranked
 * by p99 latency, then bytes per entry, then throughput; the others follow by
 * throughput.  An unmeasured p99 or size ranks after a measured one. */
static int adv_cmp(const adv_rank_ctx *x, int a, int b) {
    const adv_candidate *A = &x->c[a], *B = &x->c[b];
    bool ca = A->mops >= x->floor, cb = B->mops >= x->floor;
    if (ca != cb)
        return ca ? -1 : 1;
    if (ca) {
        double pa = A->p99_ns < 0 ? INFINITY : A->p99_ns, pb = B->p99_ns < 0 ? INFINITY : B->p99_ns;
        if (pa != pb)
            return pa < pb ? -1 : 1;
        double ba = A->bytes_per_entry < 0 ? INFINITY : A->bytes_per_entry;
        double bb = B->bytes_per_entry < 0 ? INFINITY : B->bytes_per_entry;
        if (ba != bb)
            return ba < bb ? -1 : 1;
    }
    if (A->mops != B->mops)
        return A->mops > B->mops ? -1 : 1;
    return a - b;
}

int adv_choose(const adv_candidate *c, int n, double tie, int *best, int *runner_up) {
    *best = *runner_up = -1;
    double top = 0;
    int usable = 0;
    for (int i = 0; i < n; i++) {
        if (c[i].mops > 0) {
            usable++;
            if (c[i].mops > top)
                top = c[i].mops;
        }
    }
    adv_rank_ctx x = {c, top * (1 - tie)};
    for (int i = 0; i < n; i++) {
        if (c[i].mops <= 0)
            continue;
        if (*best < 0 || adv_cmp(&x, i, *best) < 0) {
            *runner_up = *best;
            *best = i;
        } else if (*runner_up < 0 || adv_cmp(&x, i, *runner_up) < 0) {
            *runner_up = i;
        }
    }
    return usable;
}

/* The community's decision tree, for comparison: "reads >= 90%: sync.Map;
 * otherwise map + RWMutex". */
static const char *folklore(double reads) {
    return reads >= 0.90 ? "syncmap" : "rwmap";
}

/* docs/choosing.md's "Measured" table: mix and measured pick.  Update both
 * together when the default run is retaken (bench_mix_test compares them). */
static const struct {
    const char *mix, *pick;
} reference_picks[] = {
    {"read100", "shardmap"}, {"read90", "shardmap"},    {"read75", "shardmap"},
    {"read50", "shardmap"},  {"update100", "shardmap"},
};

const char *adv_reference_pick(double reads, const char **mix) {
    size_t best = 0;
    double dist = INFINITY;
    for (size_t i = 0; i < sizeof reference_picks / sizeof reference_picks[0]; i++) {
        const wl_mix *m = wl_mix_find(reference_picks[i].mix);
        double d = m ? fabs((double)m->read_bp / 10000.0 - reads) : INFINITY;
        if (d < dist) {
            dist = d;
            best = i;
        }
    }
    if (mix)
        *mix = reference_picks[best].mix;
    return reference_picks[best].pick;
}

/* Fills candidates from the gomap rows of one (mix, dist, threads) cell. */
static int gather(const mix_results *rs, const char *mix, const char *dist, unsigned threads,
                  adv_candidate *c, int max) {
    int n = 0;
    for (size_t i = 0; i < rs->n && n < max; i++) {
        const mix_result *r = &rs->r[i];
        if (strcmp(r->kind, "mix") || !mix_is_gomap(r->map) || strcmp(r->mix, mix) ||
            strcmp(r->dist, dist) || r->threads != threads)
            continue;
        const mix_result *l = mix_results_find(rs, "latency", r->map, mix, dist, threads);
        c[n].name = r->map;
        c[n].mops = r->mops;
        c[n].p99_ns = l ? l->p99 : -1;
        c[n].bytes_per_entry = r->bytes_per_entry;
        n++;
    }
    return n;
}

static void describe(FILE *f, const adv_candidate *c, const mix_result *r) {
    fprintf(f, "%s: %.2f Mops/s", c->name, c->mops);
    if (r && r->mops_max > 0)
        fprintf(f, " (reps %.2f..%.2f)", r->mops_min, r->mops_max);
    if (c->p99_ns >= 0)
        fprintf(f, ", p99 %.0f ns", c->p99_ns);
    if (c->bytes_per_entry >= 0)
        fprintf(f, ", %.1f B/entry", c->bytes_per_entry);
    if (r && r->allocs_per_op >= 0)
        fprintf(f, ", %.3f allocs/op", r->allocs_per_op);
}

/* The tie band: throughputs this close are within the noise of a short run. */
#define ADV_TIE 0.05

/* ---- advise ----------------------------------------------------------------- */

static void advise_usage(FILE *f) {
    fprintf(f, "usage: gomap-bench advise [--reads 0.95] [--keys 1000000] [--threads N]\n"
               "         [--dist uniform|zipf] [--value-size 8] [--json]\n"
               "Runs a short trial (under a minute) of the profile on every gomap variant\n"
               "and recommends one, with the measurements behind the choice.\n");
}

int bench_advise_main(int argc, char **argv) {
    mix_plan p;
    mix_plan_defaults(&p);
    double reads = 0.9;
    bool json = false;
    p.duration_ms = 300;
    p.reps = 3;
    p.lat_ms = 500;
    p.latency = true;
    p.peers = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--reads") == 0 && i + 1 < argc) {
            char *end;
            reads = strtod(argv[++i], &end);
            if (*end || reads < 0 || reads > 1) {
                fprintf(stderr, "gomap-bench advise: --reads is a fraction in [0, 1]\n");
                return 2;
            }
            continue;
        }
        if (strcmp(argv[i], "--json") == 0) {
            json = true;
            continue;
        }
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            advise_usage(stdout);
            return 0;
        }
        int r = mix_plan_option(&p, argc, argv, &i);
        if (r <= 0) {
            fprintf(stderr, "gomap-bench advise: bad option %s\n", argv[i]);
            advise_usage(stderr);
            return 2;
        }
    }
    /* One thread count: --threads' last, or by default the largest of the
     * default list (powers of two up to the core count), the count the
     * reference picks were measured at on a 2-core machine. */
    static wl_mix profile;
    profile.name = "profile";
    profile.read_bp = (unsigned)lround(reads * 10000);
    profile.churn = false;
    p.mixes[0] = &profile;
    p.nmixes = 1;
    p.ndists = 1;
    unsigned T = p.threads[p.nthreads - 1];
    p.threads[0] = T;
    p.nthreads = 1;
    /* Short traces keep the trial short; 256K entries per thread still
     * cover the hot set of any profile. */
    if (p.trace_len > (1u << 18))
        p.trace_len = 1u << 18;
    bench_output out;
    if (bench_output_open(&out, json, NULL) != 0)
        return 1;
    mix_results rs = {0};
    fprintf(stderr,
            "gomap-bench advise: %.1f%% reads (the rest overwrite existing keys), %llu keys, "
            "%u threads, %s keys, %zu-byte values\n",
            reads * 100, (unsigned long long)p.keys, T, wl_dist_name(p.dists[0]), p.value_size);
    int rc = mix_run(&p, &out, &rs);
    adv_candidate c[8];
    int n = gather(&rs, "profile", wl_dist_name(p.dists[0]), T, c, 8);
    int best, second;
    adv_choose(c, n, ADV_TIE, &best, &second);
    FILE *f = json ? stderr : stdout;
    if (!json)
        mix_print_table(&rs, stdout);
    if (best < 0) {
        fprintf(f, "no variant could be measured\n");
        rc = 1;
    } else {
        const char *dn = wl_dist_name(p.dists[0]);
        fprintf(f, "\nrecommended: ");
        describe(f, &c[best], mix_results_find(&rs, "mix", c[best].name, "profile", dn, T));
        fprintf(f, "\n");
        if (second >= 0) {
            fprintf(f, "runner-up:   ");
            describe(f, &c[second], mix_results_find(&rs, "mix", c[second].name, "profile", dn, T));
            fprintf(f, " (%.2fx the recommended throughput)\n", c[second].mops / c[best].mops);
        }
        const char *folk = folklore(reads);
        fprintf(f, "folklore (reads >= 90%% -> sync.Map, else map+RWMutex) says %s: %s\n", folk,
                strcmp(folk, c[best].name) == 0 ? "the measurement agrees"
                                                : "the measurement disagrees");
        const char *ref_mix, *ref = adv_reference_pick(reads, &ref_mix);
        fprintf(f,
                "docs/choosing.md's measured pick for %s (default run, 2 threads, 1M uniform "
                "keys) is %s: %s\n",
                ref_mix, ref,
                strcmp(ref, c[best].name) == 0 ? "this trial agrees"
                                               : "this trial differs (its profile, size, threads "
                                                 "or machine differ)");
        fprintf(f,
                "rule: highest throughput; variants within %.0f%% of it are ranked by p99 "
                "latency (open loop, %llu ops/s per thread), then bytes per entry\n",
                ADV_TIE * 100, (unsigned long long)p.rate);
        if (json) {
            bench_json j;
            bench_json_begin(&j);
            bench_json_str(&j, "kind", "advice");
            bench_json_f64(&j, "reads", reads);
            bench_json_u64(&j, "keys", p.keys);
            bench_json_u64(&j, "threads", T);
            bench_json_str(&j, "dist", dn);
            bench_json_str(&j, "recommended", c[best].name);
            bench_json_str(&j, "runner_up", second >= 0 ? c[second].name : "");
            bench_json_str(&j, "folklore", folk);
            bench_json_str(&j, "reference", ref);
            bench_output_emit(&out, bench_json_end(&j));
        }
    }
    mix_results_free(&rs);
    bench_output_close(&out);
    return rc;
}

/* ---- the cells beyond the matrix ----------------------------------------------------- */

/* The default run's matrix is its mixes at uniform keys.  The targets also
 * name cells outside it, which the run measures after the matrix, in parts
 * with only the contestants their lines compare (docs/benchmarks.md,
 * "Targets"):
 *   - shardmap beside Go's sharded map, in pairs, on churn (uniform and Zipf
 *     keys) and on the run's mixes with Zipf keys, at 1 and 2 threads;
 *   - the best gomap variant beside TBB and liburcu on Zipf keys at 2 threads
 *     (that part also holds the 2-thread shardmap pairs);
 *   - the same at SMALL_KEYS keys (in cache), uniform and Zipf.
 * cowmap is not among them: it is left out above 8192 keys (mix_run.c).  A
 * part whose cells the matrix already has (--dist with zipf, --mixes with
 * churn, --keys SMALL_KEYS) is left out, and each keeps to the contestants
 * --maps selects. */
enum { SMALL_KEYS = 10000, MAX_PARTS = 4 };

typedef struct run_part {
    mix_plan plan;
    bool small; /* at SMALL_KEYS keys: its results apart from the matrix's */
    char maps[160];
} run_part;

typedef struct default_run {
    const mix_plan *p; /* the matrix */
    /* --cells: the matrix runs (all, matrix), the parts run (all, others) */
    bool matrix, others;
    run_part part[MAX_PARTS];
    int nparts;
    mix_results rs;    /* the matrix's cells and the parts' at its keys */
    mix_results small; /* the parts' at SMALL_KEYS */
} default_run;

static bool plan_has_dist(const mix_plan *p, wl_dist d) {
    for (int i = 0; i < p->ndists; i++)
        if (p->dists[i] == d)
            return true;
    return false;
}

/* Adds a part of the contestants in names that the run selects, unless none
 * of them is a gomap variant. */
static void add_part(default_run *d, const mix_plan *q, const char *const *names, bool small) {
    run_part *pt = &d->part[d->nparts];
    pt->plan = *q;
    pt->small = small;
    pt->maps[0] = '\0';
    bool variant = false;
    for (; *names; names++) {
        if (!mix_plan_selects(d->p, *names))
            continue;
        size_t len = strlen(pt->maps);
        snprintf(pt->maps + len, sizeof pt->maps - len, "%s%s", len ? "," : "", *names);
        variant |= mix_is_gomap(*names);
    }
    if (!variant)
        return;
    pt->plan.maps = pt->maps;
    d->nparts++;
}

static void plan_parts(default_run *d) {
    static const char *const pair[] = {"shardmap", "go-shard-map", NULL};
    static const char *const best[] = {"rwmap",   "shardmap",  "syncmap", "go-shard-map",
                                       "tbb-chm", "urcu-lfht", NULL};
    static const char *const best_small[] = {"rwmap",   "shardmap",  "syncmap",
                                             "tbb-chm", "urcu-lfht", NULL};
    const mix_plan *p = d->p;
    mix_plan q = *p;
    q.latency = false;
    /* the matrix's mixes without churn, which has a part of its own */
    q.nmixes = 0;
    bool churn = false;
    for (int i = 0; i < p->nmixes; i++) {
        churn |= p->mixes[i]->churn;
        if (!p->mixes[i]->churn)
            q.mixes[q.nmixes++] = p->mixes[i];
    }
    d->nparts = 0;
    if (!d->others)
        return;
    if (!churn) {
        mix_plan c = q;
        c.mixes[0] = wl_mix_find("churn");
        c.nmixes = 1;
        c.dists[0] = WL_UNIFORM, c.dists[1] = WL_ZIPF, c.ndists = 2;
        c.threads[0] = 1, c.threads[1] = 2, c.nthreads = 2;
        add_part(d, &c, pair, false);
    }
    if (!plan_has_dist(p, WL_ZIPF) && q.nmixes > 0) {
        mix_plan z = q;
        z.dists[0] = WL_ZIPF, z.ndists = 1;
        z.threads[0] = 1, z.nthreads = 1;
        add_part(d, &z, pair, false);
        z.threads[0] = 2;
        add_part(d, &z, best, false);
    }
    if (p->keys != SMALL_KEYS && q.nmixes > 0) {
        mix_plan s = q;
        s.keys = SMALL_KEYS;
        s.dists[0] = WL_UNIFORM, s.dists[1] = WL_ZIPF, s.ndists = 2;
        s.threads[0] = 2, s.nthreads = 1;
        add_part(d, &s, best_small, true);
    }
}

/* ---- targets ------------------------------------------------------------------ */

static int targets_met, targets_missed, targets_unmeasured;

/* One target line: the ratio judged and, when aside is not empty, another
 * statistic of the same cells after it. */
static void target_line(FILE *f, const char *what, double ratio, double need, const char *aside) {
    if (ratio < 0 || isnan(ratio)) {
        fprintf(f, "  %-58s %8s  (not measured)\n", what, "-");
        targets_unmeasured++;
        return;
    }
    bool met = ratio >= need;
    fprintf(f, "  %-58s %7.2fx  need >= %.1fx  %s%s\n", what, ratio, need, met ? "met" : "MISSED",
            aside);
    if (met)
        targets_met++;
    else
        targets_missed++;
}

/* The median of the pairs' own ratios num[k] / den[k], k < n (a zero
 * denominator counts as 1). */
static double pairs_median(const double *num, const double *den, unsigned n) {
    double r[MIX_MAX_REPS];
    for (unsigned k = 0; k < n; k++)
        r[k] = num[k] / (den[k] > 0 ? den[k] : 1);
    return bench_median(r, n);
}

/* Whether x and y are the two sides of one paired cell. */
static bool paired(const mix_result *x, const mix_result *y) {
    return x->paired && y->paired && !strcmp(x->paired_with, y->map) &&
           !strcmp(y->paired_with, x->map) && x->reps == y->reps && x->reps > 0 &&
           x->reps <= MIX_MAX_REPS;
}

/* a's throughput over b's in one cell, -1 when either is missing.  When the
 * two ran in pairs (mix_plan.pin) it is the median of the pairs' own ratios,
 * and the ratio of the two sides' figures (medians, or with --stat max the
 * fastest) goes into aside; otherwise it is that ratio, and aside is empty. */
static double ratio_of(const mix_results *rs, const char *a, const char *b, const char *mix,
                       const char *dist, unsigned th, char *aside, size_t n) {
    const mix_result *x = mix_results_find(rs, "mix", a, mix, dist, th);
    const mix_result *y = mix_results_find(rs, "mix", b, mix, dist, th);
    aside[0] = '\0';
    if (!x || !y || y->mops <= 0)
        return -1;
    if (!paired(x, y))
        return x->mops / y->mops;
    snprintf(aside, n, "  (sides' %s %.2fx)", rs->fastest ? "fastest" : "medians",
             x->mops / y->mops);
    return pairs_median(x->rep_mops, y->rep_mops, x->reps);
}

/* Whether x and y ran in the same rounds (mix_plan.pin with a round peer):
 * each names the other among its round's contestants, with as many
 * repetitions. */
static bool in_rounds(const mix_result *x, const mix_result *y) {
    return x->round_with[0] && y->round_with[0] && bench_list_has(x->round_with, y->map) &&
           bench_list_has(y->round_with, x->map) && x->reps == y->reps && x->reps > 0 &&
           x->reps <= MIX_MAX_REPS;
}

const mix_result *adv_best_against(const mix_results *rs, const char *mix, const char *dist,
                                   unsigned threads, const char *peer, double *ratio, double *sides,
                                   bool *by_pairs) {
    const mix_result *y = mix_results_find(rs, "mix", peer, mix, dist, threads);
    *ratio = *sides = -1;
    *by_pairs = false;
    if (!y || y->mops <= 0)
        return NULL;
    /* by pairs when the peer ran in rounds with any variant; else (or when
     * none did) by the figures */
    const mix_result *best = NULL;
    for (int pass = y->round_with[0] ? 0 : 1; pass < 2 && !best; pass++) {
        for (size_t i = 0; i < rs->n; i++) {
            const mix_result *r = &rs->r[i];
            if (strcmp(r->kind, "mix") || !mix_is_gomap(r->map) || strcmp(r->mix, mix) ||
                strcmp(r->dist, dist) || r->threads != threads || r->mops <= 0)
                continue;
            if (pass == 0 && !in_rounds(r, y))
                continue;
            double q =
                pass == 0 ? pairs_median(r->rep_mops, y->rep_mops, r->reps) : r->mops / y->mops;
            if (!best || q > *ratio) {
                best = r;
                *ratio = q;
                *by_pairs = pass == 0;
            }
        }
    }
    if (best)
        *sides = best->mops / y->mops;
    return best;
}

/* Threads beyond the cores share them: such runs measure how a variant
 * behaves when a lock holder can be preempted, and are marked. */
static const char *oversubscribed(unsigned th) {
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    return ncpu > 0 && th > (unsigned)ncpu ? " (oversubscribed)" : "";
}

/* The memory limit (limit.c) and each variant's share of it, per mix. */
static void print_limit(const mix_results *rs, const mix_plan *p, FILE *f) {
    for (size_t i = 0; i < rs->n; i++) {
        const mix_result *l = &rs->r[i];
        if (strcmp(l->kind, "limit"))
            continue;
        fprintf(f,
                "  memory limit: %u threads, one random access per op into %.0f MiB, ops "
                "overlapping: %.2f Mops/s\n",
                l->threads, (double)l->keys * l->bytes_per_entry / 1048576.0, l->mops);
        for (int mi = 0; mi < p->nmixes; mi++) {
            fprintf(f, "    %-9s", p->mixes[mi]->name);
            for (size_t j = 0; j < rs->n; j++) {
                const mix_result *r = &rs->r[j];
                if (!strcmp(r->kind, "mix") && !strcmp(r->mix, p->mixes[mi]->name) &&
                    !strcmp(r->dist, "uniform") && r->threads == l->threads && l->mops > 0)
                    fprintf(f, " %s %.2f", r->map, r->mops / l->mops);
            }
            fprintf(f, "\n");
        }
    }
}

/* shardmap against Go's sharded map on every cell of plan q. */
static void shard_lines(const mix_results *rs, const mix_plan *q, FILE *f) {
    char what[160], aside[64];
    for (int mi = 0; mi < q->nmixes; mi++)
        for (int di = 0; di < q->ndists; di++)
            for (int ti = 0; ti < q->nthreads; ti++) {
                const char *mix = q->mixes[mi]->name, *dist = wl_dist_name(q->dists[di]);
                unsigned t = q->threads[ti];
                snprintf(what, sizeof what, "shardmap %s %s@%u / go-shard-map%s", mix, dist, t,
                         oversubscribed(t));
                double r =
                    ratio_of(rs, "shardmap", "go-shard-map", mix, dist, t, aside, sizeof aside);
                target_line(f, what, r, 1.2, aside);
            }
}

/* The best gomap variant of each cell of plan q at th threads against TBB
 * and liburcu (adv_best_against: by the pairs' median when the peer ran in
 * rounds with the variants, the sides' ratio beside it); size names the key
 * count when it is not the run's. */
static void best_lines(const mix_results *rs, const mix_plan *q, unsigned th, const char *size,
                       FILE *f) {
    char what[160], aside[64];
    for (int mi = 0; mi < q->nmixes; mi++)
        for (int di = 0; di < q->ndists; di++) {
            const char *mix = q->mixes[mi]->name, *dist = wl_dist_name(q->dists[di]);
            const char *peers[] = {"tbb-chm", "urcu-lfht"};
            for (int k = 0; k < 2; k++) {
                double r, sides;
                bool by_pairs;
                const mix_result *b =
                    adv_best_against(rs, mix, dist, th, peers[k], &r, &sides, &by_pairs);
                snprintf(what, sizeof what, "best gomap %s %s%s (%s) / %s", mix, dist, size,
                         b ? b->map : "-", peers[k]);
                aside[0] = '\0';
                if (by_pairs)
                    snprintf(aside, sizeof aside, "  (sides' %s %.2fx)",
                             rs->fastest ? "fastest" : "medians", sides);
                target_line(f, what, r, 1.0, aside);
            }
        }
}

static void print_targets(const default_run *d, FILE *f) {
    const mix_results *rs = &d->rs;
    const mix_plan *p = d->p;
    unsigned th = 2;
    char what[160], aside[64];
    targets_met = targets_missed = targets_unmeasured = 0;
    fprintf(f,
            "\ntargets (%s of %u reps, one run; %u threads unless said; a throughput cell run "
            "in pairs with its Go analog, or in rounds with TBB and liburcu, is judged by the "
            "median of the pairs' own ratios; the best variant against a peer is the one of the "
            "highest such median):\n",
            p->fastest ? "fastest" : "median", p->reps, th);
    /* syncmap against the design it follows */
    const char *sy[] = {"read100", "read90", "read75", "read50"};
    for (int i = 0; i < 4 && d->matrix; i++) {
        snprintf(what, sizeof what, "syncmap %s / go-sync-map", sy[i]);
        double r =
            ratio_of(rs, "syncmap", "go-sync-map", sy[i], "uniform", th, aside, sizeof aside);
        target_line(f, what, r, i == 0 ? 1.5 : 1.0, aside);
    }
    /* shardmap against Go's sharded map: every mix, distribution and
     * thread count of the run, then the parts' cells */
    if (d->matrix)
        shard_lines(rs, p, f);
    for (int i = 0; i < d->nparts; i++)
        if (!d->part[i].small)
            shard_lines(rs, &d->part[i].plan, f);
    const char *sm[] = {"read90", "read50"};
    for (int i = 0; i < 2 && d->matrix; i++) {
        snprintf(what, sizeof what, "shardmap %s / go-rwmutex-map", sm[i]);
        double r =
            ratio_of(rs, "shardmap", "go-rwmutex-map", sm[i], "uniform", th, aside, sizeof aside);
        target_line(f, what, r, 2.0, aside);
    }
    if (d->matrix)
        best_lines(rs, p, th, "", f);
    for (int i = 0; i < d->nparts; i++) {
        const run_part *pt = &d->part[i];
        if (!bench_list_has(pt->plan.maps, "tbb-chm") &&
            !bench_list_has(pt->plan.maps, "urcu-lfht"))
            continue;
        char size[32] = "";
        if (pt->small)
            snprintf(size, sizeof size, " %lluK", (unsigned long long)pt->plan.keys / 1000);
        best_lines(pt->small ? &d->small : rs, &pt->plan, th, size, f);
    }
    /* p99: the analog's p99 over the variant's, so >= 1 means "no worse" */
    for (size_t i = 0; i < rs->n; i++) {
        const mix_result *l = &rs->r[i];
        if (strcmp(l->kind, "latency") || !mix_is_gomap(l->map))
            continue;
        const mix_result *g =
            mix_results_find(rs, "latency", mix_go_analog(l->map), l->mix, l->dist, l->threads);
        const mix_result *fl =
            mix_results_find(rs, "floor", "pause-floor", "-", "uniform", l->threads);
        snprintf(what, sizeof what, "p99 %s %s@%u: %s %.0f ns vs %.0f ns (floor %.0f)", l->mix,
                 l->dist, l->threads, l->map, l->p99, g ? g->p99 : NAN, fl ? fl->p99 : NAN);
        /* judged by each side's run of median p99, not by the pairs' own
         * ratios: a 1-thread p99 is set by the host's stalls, which two
         * runs of a pair do not share (docs/benchmarks.md, "Which statistic
         * the target lines judge"); the pairs' median is printed beside */
        double r = g && l->p99 > 0 ? g->p99 / l->p99 : -1;
        aside[0] = '\0';
        if (r >= 0 && paired(l, g))
            snprintf(aside, sizeof aside, "  (pairs' median %.2fx)",
                     pairs_median(g->rep_p99, l->rep_p99, l->reps));
        target_line(f, what, r, 1.0, aside);
    }
    for (size_t i = 0; i < rs->n; i++) {
        const mix_result *r = &rs->r[i];
        if (strcmp(r->kind, "mix") || strcmp(r->mix, "read100") || r->allocs_per_op < 0 ||
            strcmp(r->dist, "uniform") || r->threads != th)
            continue;
        bool zero = r->allocs_per_op == 0;
        if (mix_is_gomap(r->map)) {
            fprintf(f, "  load allocations: %-40s %.4f/op  need 0  %s\n", r->map, r->allocs_per_op,
                    zero ? "met" : "MISSED");
            zero ? targets_met++ : targets_missed++;
        } else {
            fprintf(f, "  load allocations: %-40s %.4f/op  (peer, for reference)\n", r->map,
                    r->allocs_per_op);
        }
    }
    print_limit(rs, p, f);
    for (size_t i = 0; i < rs->n; i++)
        if (!strcmp(rs->r[i].kind, "floor"))
            fprintf(f,
                    "  pause floor: %u threads, an empty operation on the latency runs' schedule: "
                    "p50 %.0f ns, p99 %.0f ns, p999 %.0f ns (the p99 lines' \"floor\": what the "
                    "machine alone adds)\n",
                    rs->r[i].threads, rs->r[i].p50, rs->r[i].p99, rs->r[i].p999);
    fprintf(f, "targets: %d met, %d missed, %d not measured\n", targets_met, targets_missed,
            targets_unmeasured);
}

/* Adds a pause-floor record (limit.c) for each thread count of the latency
 * runs, taken right after them. */
static void add_pause_floor(mix_results *rs, const mix_plan *p) {
    if (!p->latency)
        return;
    hist *h = malloc(sizeof *h);
    if (!h)
        return;
    for (int i = 0; i < p->nthreads; i++) {
        unsigned th = p->threads[i];
        if (mix_pause_floor(th, p->rate, p->lat_ms, p->lat_runs, p->seed, h) != 0)
            continue;
        mix_result r;
        mix_result_cell(&r, "floor", "pause-floor", "-", "uniform", th, 0, p->seed);
        mix_result_latency(&r, h, p->rate, th * (p->lat_ms * p->rate / 1000));
        mix_results_add(rs, &r);
    }
    free(h);
}

/* Adds the memory-limit record (limit.c): an array as large as the table of
 * a locked map (rwmap's bytes per entry, else 38, the core map's at 1M u64
 * keys), read by as many threads as the run's largest thread count up to 2,
 * over the run's keys, seed and trace length. */
static void add_memory_limit(mix_results *rs, const mix_plan *p) {
    unsigned th = 0;
    for (int i = 0; i < p->nthreads; i++)
        if (p->threads[i] <= 2 && p->threads[i] > th)
            th = p->threads[i];
    if (!p->throughput || th == 0)
        return;
    const mix_result *rw = NULL;
    for (size_t i = 0; i < rs->n && !rw; i++)
        if (!strcmp(rs->r[i].kind, "mix") && !strcmp(rs->r[i].map, "rwmap") &&
            rs->r[i].bytes_per_entry > 0)
            rw = &rs->r[i];
    double bpe = rw ? rw->bytes_per_entry : 38.0;
    mix_result r;
    mix_result_init(&r, "limit");
    mix_result_cell(&r, "limit", "memory-limit", "-", "uniform", th, p->keys, p->seed);
    double mops[64];
    unsigned reps = p->reps < 64 ? p->reps : 64;
    if (mix_memory_limit((uint64_t)((double)p->keys * bpe), p->keys, p->seed, p->trace_len, th,
                         p->duration_ms, reps, mops) != 0)
        return;
    mix_result_throughput(&r, mops, reps, p->duration_ms);
    r.bytes_per_entry = bpe;
    if (r.mops > 0)
        mix_results_add(rs, &r);
}

/* ---- the default run --------------------------------------------------------- */

/* The machine, for the record: the CPU model and the core count. */
static void machine(char *buf, size_t n) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[256];
    snprintf(buf, n, "unknown CPU");
    while (f && fgets(line, sizeof line, f)) {
        char *c = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && c) {
            c[strcspn(c, "\n")] = '\0';
            snprintf(buf, n, "%s", c + 2);
            break;
        }
    }
    if (f)
        fclose(f);
    size_t len = strlen(buf);
    snprintf(buf + len, n - len, ", %ld cores", sysconf(_SC_NPROCESSORS_ONLN));
}

static void recommend_per_mix(const mix_results *rs, const mix_plan *p, FILE *f);
static void print_tables(const default_run *d, FILE *f);

/* docs/benchmarks.md's results: the command, the machine, the table, the
 * recommendations, the targets and the plots, as one markdown file. */
static int write_markdown(const char *path, const default_run *d, const mix_outputs *o, int argc,
                          char **argv, double secs) {
    const mix_results *rs = &d->rs;
    const mix_plan *p = d->p;
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "gomap-bench: %s: cannot write\n", path);
        return -1;
    }
    char m[256];
    machine(m, sizeof m);
    time_t now = time(NULL);
    char date[64];
    strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&now));
    fprintf(f, "# gomap-bench results\n\nGenerated %s on %s in %.0f s by\n\n    gomap-bench", date,
            m, secs);
    for (int i = 1; i < argc; i++)
        fprintf(f, " %s", argv[i]);
    fprintf(f, "\n\n%llu keys, %llu ms x %u repetitions per cell (%s shown)",
            (unsigned long long)p->keys, (unsigned long long)p->duration_ms, p->reps,
            p->fastest ? "the fastest" : "median");
    if (p->latency)
        fprintf(f, "; latency %llu ms x %u open-loop runs per cell (the run of median p99 shown)",
                (unsigned long long)p->lat_ms, p->lat_runs);
    fprintf(f, ".\n\n```\n");
    print_tables(d, f);
    fprintf(f, "```\n\n```");
    if (d->matrix)
        recommend_per_mix(rs, p, f);
    print_targets(d, f);
    fprintf(f, "```\n");
    if (o->plot) {
        /* links relative to the markdown file when the plots sit beside it */
        const char *slash = strrchr(path, '/');
        size_t dirlen = slash ? (size_t)(slash - path) : 0;
        const char *rel = o->plot;
        if (dirlen && strncmp(o->plot, path, dirlen) == 0 && o->plot[dirlen] == '/')
            rel = o->plot + dirlen + 1;
        else if (!dirlen || strncmp(o->plot, path, dirlen) == 0)
            rel = dirlen ? "." : o->plot;
        fprintf(f, "\n## Plots\n\n");
        /* a plot per mix and distribution with a cell at the run's keys
         * (mix_write_plots) */
        for (const wl_mix *w = wl_mixes; w->name; w++)
            for (int di = 0; di < 2; di++) {
                const char *dn = wl_dist_name((wl_dist)di);
                bool any = false;
                for (size_t i = 0; i < rs->n; i++)
                    any |= !strcmp(rs->r[i].kind, "mix") && !strcmp(rs->r[i].mix, w->name) &&
                           !strcmp(rs->r[i].dist, dn);
                if (any)
                    fprintf(f, "![%s %s](%s/tput-%s-%s.svg)\n", w->name, dn, rel, w->name, dn);
            }
        fprintf(f, "![latency](%s/latency.svg)\n![memory](%s/memory.svg)\n", rel, rel);
    }
    return fclose(f) == 0 ? 0 : -1;
}

/* The table of the run's keys, and the one of the parts at SMALL_KEYS. */
static void print_tables(const default_run *d, FILE *f) {
    mix_print_table(&d->rs, f);
    if (d->small.n) {
        fprintf(f, "\n%d keys, %u threads (the best-gomap target lines at this size):\n",
                SMALL_KEYS, 2u);
        mix_print_table(&d->small, f);
    }
}

static void recommend_per_mix(const mix_results *rs, const mix_plan *p, FILE *f) {
    fprintf(f,
            "\nrecommendation per mix (highest throughput; within %.0f%%: lower p99, then "
            "fewer bytes):\n",
            ADV_TIE * 100);
    for (int mi = 0; mi < p->nmixes; mi++) {
        for (int di = 0; di < p->ndists; di++) {
            for (int ti = 0; ti < p->nthreads; ti++) {
                const char *mix = p->mixes[mi]->name, *dn = wl_dist_name(p->dists[di]);
                unsigned th = p->threads[ti];
                adv_candidate c[8];
                int n = gather(rs, mix, dn, th, c, 8), best, second;
                if (adv_choose(c, n, ADV_TIE, &best, &second) == 0)
                    continue;
                fprintf(f, "  %-9s %-7s %2u thr: %-9s %6.2f Mops/s", mix, dn, th, c[best].name,
                        c[best].mops);
                if (second >= 0)
                    fprintf(f, "   runner-up %-9s %6.2f (%.2fx)", c[second].name, c[second].mops,
                            c[second].mops / c[best].mops);
                fprintf(f, "\n");
            }
        }
    }
}

int bench_default_main(int argc, char **argv) {
    mix_plan p;
    mix_plan_defaults(&p);
    static const char *const mixes[] = {"read100", "read90", "read75", "read50", "update100"};
    p.nmixes = 0;
    for (int i = 0; i < 5; i++)
        p.mixes[p.nmixes++] = wl_mix_find(mixes[i]);
    p.threads[0] = 2;
    p.nthreads = 1;
    p.duration_ms = 200;
    p.reps = 5;
    p.trace_len = 1u << 19;
    /* latency: read90 and read50, open loop, at the same thread counts; the
     * median-p99 run of 5 (run_latency: one run's p99 is one stall) */
    p.latency = true;
    p.latency_mixes = "read90,read50";
    p.lat_ms = 500;
    p.lat_runs = 5;
    mix_outputs o = {0};
    default_run d = {.p = &p, .matrix = true, .others = true};
    for (int i = 1; i < argc; i++) {
        int r = mix_plan_option(&p, argc, argv, &i);
        if (r < 0)
            return 2;
        if (r > 0 || mix_output_option(&o, argc, argv, &i))
            continue;
        /* --cells all|matrix|others: the matrix and the cells beyond it
         * (plan_parts), or one of the two */
        if (strcmp(argv[i], "--cells") == 0 && i + 1 < argc) {
            const char *v = argv[++i];
            d.matrix = strcmp(v, "others") != 0;
            d.others = strcmp(v, "matrix") != 0;
            if (d.matrix && d.others && strcmp(v, "all") != 0) {
                fprintf(stderr, "gomap-bench: --cells is all, matrix or others\n");
                return 2;
            }
            continue;
        }
        fprintf(stderr, "gomap-bench: unknown option %s (gomap-bench help)\n", argv[i]);
        return 2;
    }
    bench_output out;
    if (bench_output_open(&out, o.json, o.out) != 0)
        return 1;
    uint64_t t0 = bench_now_ns();
    int rc = 0;
    if (d.matrix) {
        rc = mix_run(&p, &out, &d.rs);
        add_memory_limit(&d.rs, &p);
        add_pause_floor(&d.rs, &p);
    }
    uint64_t t1 = bench_now_ns();
    plan_parts(&d);
    for (int i = 0; i < d.nparts && rc == 0; i++)
        rc = mix_run(&d.part[i].plan, &out, d.part[i].small ? &d.small : &d.rs);
    uint64_t t2 = bench_now_ns();
    double secs = (double)(t2 - t0) / 1e9;
    FILE *f = o.json ? stderr : stdout;
    if (!o.json)
        print_tables(&d, stdout);
    if (d.matrix)
        recommend_per_mix(&d.rs, &p, f);
    print_targets(&d, f);
    fprintf(f,
            "(%.0f s: the matrix %.0f s, the other cells %.0f s; %llu keys, %llu ms x %u reps "
            "per cell; latency %llu ms x %u runs)\n",
            secs, (double)(t1 - t0) / 1e9, (double)(t2 - t1) / 1e9, (unsigned long long)p.keys,
            (unsigned long long)p.duration_ms, p.reps, (unsigned long long)p.lat_ms, p.lat_runs);
    /* the CSV holds every cell (its keys column tells the sizes apart); the
     * plots only the run's keys */
    mix_results all = {0};
    for (size_t i = 0; i < d.rs.n; i++)
        mix_results_add(&all, &d.rs.r[i]);
    for (size_t i = 0; i < d.small.n; i++)
        mix_results_add(&all, &d.small.r[i]);
    mix_outputs csv = o, plots = o;
    csv.plot = NULL;
    plots.csv = NULL;
    if (mix_write_outputs(&csv, &all, f) != 0)
        rc = 1;
    if (mix_write_outputs(&plots, &d.rs, f) != 0)
        rc = 1;
    if (o.markdown && write_markdown(o.markdown, &d, &o, argc, argv, secs) != 0)
        rc = 1;
    mix_results_free(&all);
    mix_results_free(&d.rs);
    mix_results_free(&d.small);
    bench_output_close(&out);
    return rc;
}
