/*
 * mix_report.c — what `gomap-bench mix` shows a person and writes beside its
 * JSON lines: the table (gomap variants beside their Go analogs), the CSV and
 * the gnuplot plots.
 */
#include "mix_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int order_of(const char *map) {
    for (int i = 0; mix_table_order[i]; i++)
        if (strcmp(mix_table_order[i], map) == 0)
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

/* The throughput plot of one (mix, dist): its data file and its gnuplot run.
 * Returns 1 if a plot was made, 0 if none (no cell, or gnuplot failed), -1 if
 * the data file could not be written. */
static int write_tput_plot(const mix_results *rs, const char *dir, const char *script_dir,
                           const wl_mix *m, const char *dn) {
    bool any = false;
    for (size_t i = 0; i < rs->n; i++)
        any |= !strcmp(rs->r[i].kind, "mix") && !strcmp(rs->r[i].mix, m->name) &&
               !strcmp(rs->r[i].dist, dn);
    if (!any)
        return 0;
    char path[4400], cmd[16384];
    snprintf(path, sizeof path, "%s/tput-%s-%s.dat", dir, m->name, dn);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    char titles[512] = "";
    for (int o = 0; mix_table_order[o]; o++) {
        bool hdr = false;
        for (unsigned th = 1; th <= MIX_MAX_THREADS; th++) {
            const mix_result *r = mix_results_find(rs, "mix", mix_table_order[o], m->name, dn, th);
            if (!r)
                continue;
            if (!hdr) {
                fprintf(f, "# %s\n", mix_table_order[o]);
                mix_list_append(titles, sizeof titles, mix_table_order[o]);
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
             "keys: throughput vs threads'\" '%s/throughput.gp' 2>>'%s/gnuplot.log'",
             path, dir, m->name, dn, titles, m->name, dn, script_dir, dir);
    return system(cmd) == 0;
}

/* Writes gnuplot's data files into dir and runs the scripts of bench/plot/
 * (installed beside the executable as plot/).  gnuplot's warnings (a
 * contestant with no point in a plot) go to dir/gnuplot.log, not into the
 * report the run prints; a failed run still counts as no plot.  Data layout, one file each:
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
            int rc = write_tput_plot(rs, dir, script_dir, m, wl_dist_name((wl_dist)d));
            if (rc < 0)
                return -1;
            made += rc;
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
        snprintf(cmd, sizeof cmd,
                 "gnuplot -e \"data='%s'; out='%s/latency'\" '%s/latency.gp' 2>>'%s/gnuplot.log'",
                 path, dir, script_dir, dir);
        if (system(cmd) == 0)
            made++;
    }
    snprintf(path, sizeof path, "%s/memory.dat", dir);
    f = fopen(path, "w");
    if (!f)
        return -1;
    int nmem = 0;
    for (int o = 0; mix_table_order[o]; o++) {
        for (size_t i = 0; i < rs->n; i++) {
            const mix_result *r = &rs->r[i];
            if (strcmp(r->map, mix_table_order[o]) || r->bytes_per_entry < 0)
                continue;
            fprintf(f, "\"%s\" %.1f\n", r->map, r->bytes_per_entry);
            nmem++;
            break;
        }
    }
    fclose(f);
    if (nmem) {
        snprintf(cmd, sizeof cmd,
                 "gnuplot -e \"data='%s'; out='%s/memory'\" '%s/memory.gp' 2>>'%s/gnuplot.log'",
                 path, dir, script_dir, dir);
        if (system(cmd) == 0)
            made++;
    }
    return made;
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
