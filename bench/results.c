/*
 * results.c — measurement records of the concurrent mixes: built, printed
 * as JSON lines and parsed back, the same way by gomap-bench and by the C/C++
 * peers (which link this file but not libgomap).
 */
#include "mix.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* ---- results ------------------------------------------------------------- */

void mix_results_add(mix_results *rs, const mix_result *r) {
    if (rs->n == rs->cap) {
        size_t cap = rs->cap ? 2 * rs->cap : 64;
        mix_result *nr = realloc(rs->r, cap * sizeof *nr);
        if (!nr)
            return;
        rs->r = nr;
        rs->cap = cap;
    }
    rs->r[rs->n] = *r;
    if (rs->fastest && (strcmp(r->kind, "mix") == 0 || strcmp(r->kind, "limit") == 0) &&
        r->mops_max > 0)
        rs->r[rs->n].mops = r->mops_max;
    rs->n++;
}

void mix_results_free(mix_results *rs) {
    free(rs->r);
    memset(rs, 0, sizeof *rs);
}

void mix_result_init(mix_result *r, const char *kind) {
    memset(r, 0, sizeof *r);
    snprintf(r->kind, sizeof r->kind, "%s", kind);
    r->allocs_per_op = -1;
    r->bytes_per_entry = -1;
    r->p50 = r->p90 = r->p99 = r->p999 = r->pmax = -1;
    r->cpu = -1;
}

bool mix_result_parse(const char *line, mix_result *r) {
    char kind[sizeof r->kind];
    if (!bench_json_get_str(line, "kind", kind, sizeof kind))
        return false;
    if (strcmp(kind, "mix") != 0 && strcmp(kind, "latency") != 0 && strcmp(kind, "verify") != 0)
        return false;
    mix_result_init(r, kind);
    double d;
    bench_json_get_str(line, "map", r->map, sizeof r->map);
    bench_json_get_str(line, "mix", r->mix, sizeof r->mix);
    bench_json_get_str(line, "dist", r->dist, sizeof r->dist);
    if (bench_json_get_f64(line, "threads", &d))
        r->threads = (unsigned)d;
    bench_json_get_u64(line, "keys", &r->keys);
    bench_json_get_f64(line, "mops", &r->mops);
    bench_json_get_f64(line, "mops_min", &r->mops_min);
    bench_json_get_f64(line, "mops_max", &r->mops_max);
    bench_json_get_f64(line, "allocs_per_op", &r->allocs_per_op);
    bench_json_get_f64(line, "bytes_per_entry", &r->bytes_per_entry);
    bench_json_get_u64(line, "rate", &r->rate);
    bench_json_get_f64(line, "p50_ns", &r->p50);
    bench_json_get_f64(line, "p90_ns", &r->p90);
    bench_json_get_f64(line, "p99_ns", &r->p99);
    bench_json_get_f64(line, "p999_ns", &r->p999);
    bench_json_get_f64(line, "max_ns", &r->pmax);
    bench_json_get_u64(line, "checksum", &r->checksum);
    bench_json_get_u64(line, "final_len", &r->final_len);
    bench_json_get_u64(line, "final_sum", &r->final_sum);
    bench_json_get_u64(line, "ops", &r->ops);
    bench_json_get_u64(line, "scheduled", &r->scheduled);
    bench_json_get_u64(line, "seed", &r->seed);
    if (bench_json_get_f64(line, "reps", &d))
        r->reps = (unsigned)d;
    bench_json_get_u64(line, "duration_ms", &r->duration_ms);
    if (bench_json_get_f64(line, "cpu", &d))
        r->cpu = (int)d;
    return true;
}

void mix_result_cell(mix_result *r, const char *kind, const char *map, const char *mix,
                     const char *dist, unsigned threads, uint64_t keys, uint64_t seed) {
    mix_result_init(r, kind);
    snprintf(r->map, sizeof r->map, "%s", map);
    snprintf(r->mix, sizeof r->mix, "%s", mix);
    snprintf(r->dist, sizeof r->dist, "%s", dist);
    r->threads = threads;
    r->keys = keys;
    r->seed = seed;
}

void mix_result_throughput(mix_result *r, double *mops, unsigned reps, uint64_t duration_ms) {
    qsort(mops, reps, sizeof mops[0], cmp_double);
    r->mops = bench_median(mops, reps);
    r->mops_min = mops[0];
    r->mops_max = mops[reps - 1];
    r->reps = reps;
    r->duration_ms = duration_ms;
}

void mix_result_latency(mix_result *r, const hist *h, uint64_t rate, uint64_t scheduled) {
    r->rate = rate;
    r->scheduled = scheduled;
    r->p50 = (double)hist_quantile(h, 0.50);
    r->p90 = (double)hist_quantile(h, 0.90);
    r->p99 = (double)hist_quantile(h, 0.99);
    r->p999 = (double)hist_quantile(h, 0.999);
    r->pmax = (double)h->max;
}

const mix_result *mix_results_find(const mix_results *rs, const char *kind, const char *map,
                                   const char *mix, const char *dist, unsigned threads) {
    for (size_t i = 0; i < rs->n; i++) {
        const mix_result *r = &rs->r[i];
        if (strcmp(r->kind, kind) == 0 && strcmp(r->map, map) == 0 &&
            (!mix || strcmp(r->mix, mix) == 0) && (!dist || strcmp(r->dist, dist) == 0) &&
            (!threads || r->threads == threads))
            return r;
    }
    return NULL;
}

/* v[0..n) as a comma list in buf, each with prec decimals (the flat reader
 * reads strings, not arrays). */
static void join_f64(char *buf, size_t size, const double *v, unsigned n, int prec) {
    buf[0] = '\0';
    for (unsigned k = 0; k < n && k < MIX_MAX_REPS; k++) {
        size_t a = strlen(buf);
        snprintf(buf + a, size - a, "%s%.*f", k ? "," : "", prec, v[k]);
    }
}

/* A paired cell's or a round's repetitions as comma lists, in run order. */
static void emit_pairs(bench_json *j, const mix_result *r) {
    char mops[512], cpu[256] = "", first[256] = "";
    join_f64(mops, sizeof mops, r->rep_mops, r->reps, 4);
    for (unsigned k = 0; k < r->reps && k < MIX_MAX_REPS; k++) {
        const char *sep = k ? "," : "";
        size_t b = strlen(cpu), c = strlen(first);
        snprintf(cpu + b, sizeof cpu - b, "%s%d", sep, r->rep_cpu[k]);
        snprintf(first + c, sizeof first - c, "%s%d", sep, r->rep_first[k]);
    }
    if (r->paired)
        bench_json_str(j, "paired_with", r->paired_with);
    if (r->round_with[0])
        bench_json_str(j, "round_with", r->round_with);
    bench_json_bool(j, "pinned", r->pinned);
    bench_json_str(j, "rep_cpu", cpu);
    bench_json_str(j, "rep_first", first);
    bench_json_str(j, "rep_mops", mops);
}

void mix_result_emit(bench_output *out, const mix_result *r) {
    bench_json j;
    bench_json_begin(&j);
    bench_json_str(&j, "kind", r->kind);
    bench_json_str(&j, "map", r->map);
    bench_json_str(&j, "mix", r->mix);
    bench_json_str(&j, "dist", r->dist);
    bench_json_u64(&j, "threads", r->threads);
    bench_json_u64(&j, "keys", r->keys);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    bench_json_bool(&j, "oversubscribed", cores > 0 && r->threads > (unsigned long)cores);
    if (strcmp(r->kind, "mix") == 0) {
        bench_json_f64(&j, "mops", r->mops);
        bench_json_f64(&j, "mops_min", r->mops_min);
        bench_json_f64(&j, "mops_max", r->mops_max);
        bench_json_u64(&j, "reps", r->reps);
        bench_json_u64(&j, "duration_ms", r->duration_ms);
        if (r->paired || r->round_with[0])
            emit_pairs(&j, r);
        /* a served repetition (mixpeer.c): the CPU its worker 0 finished on */
        if (r->cpu >= 0)
            bench_json_u64(&j, "cpu", (uint64_t)r->cpu);
    } else if (strcmp(r->kind, "latency") == 0) {
        bench_json_u64(&j, "rate", r->rate);
        /* fewer ops than scheduled: the contestant could not sustain the rate */
        bench_json_u64(&j, "scheduled", r->scheduled);
        bench_json_f64(&j, "p50_ns", r->p50);
        bench_json_f64(&j, "p90_ns", r->p90);
        bench_json_f64(&j, "p99_ns", r->p99);
        bench_json_f64(&j, "p999_ns", r->p999);
        bench_json_f64(&j, "max_ns", r->pmax);
        if (r->paired) {
            /* each run's p99, in run order, beside the run kept */
            char p99[512];
            join_f64(p99, sizeof p99, r->rep_p99, r->reps, 0);
            bench_json_str(&j, "paired_with", r->paired_with);
            bench_json_u64(&j, "runs", r->reps);
            bench_json_str(&j, "rep_p99", p99);
        }
    } else {
        bench_json_u64(&j, "final_len", r->final_len);
        bench_json_u64(&j, "final_sum", r->final_sum);
    }
    bench_json_u64(&j, "ops", r->ops);
    if (r->allocs_per_op >= 0)
        bench_json_f64(&j, "allocs_per_op", r->allocs_per_op);
    if (r->bytes_per_entry >= 0)
        bench_json_f64(&j, "bytes_per_entry", r->bytes_per_entry);
    bench_json_u64(&j, "checksum", r->checksum);
    bench_json_u64(&j, "seed", r->seed);
    bench_output_emit(out, bench_json_end(&j));
}
