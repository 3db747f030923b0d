/*
 * metrics.c — opt-in per-map counters for the thread-safe maps, and their
 * Prometheus text exposition (include/gomap/metrics.h).
 *
 * It knows nothing of the maps: concmap.c registers a block per map that
 * enables metrics and counts into it.
 *
 * Each enabled map has one block: a name, the variant, and STRIPES counter
 * stripes of one cache line each.  A thread picks its stripe once (round
 * robin, kept in a thread-local) and only ever increments that stripe, so up
 * to STRIPES threads count without sharing a line; more threads share
 * stripes, still correct (the increments are atomic).  A read sums the
 * stripes.  The idea is the striped counter of java.util.concurrent's
 * LongAdder (and Linux's percpu_counter), written here for this use.
 */
#include <gomap/metrics.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

enum { STRIPES = 16, OPS = 4 };

struct stripe {
    /* Relaxed increments and loads: each counter is an independent
     * statistic, ordered with nothing else; atomicity is all it needs. */
    _Atomic uint64_t n[OPS];
} __attribute__((aligned(64)));

/* Invariant: on the registry list (under registry_lock) from enable until
 * release; name unique on the list; name and variant fixed for its life. */
struct gomap__metrics {
    struct stripe stripes[STRIPES];
    struct gomap__metrics *next;
    const char *variant; /* the map's variant name, a string that outlives the block */
    char name[GOMAP_METRICS_NAME_MAX + 1];
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct gomap__metrics *registry; /* guarded by registry_lock */

static atomic_uint next_stripe;                /* relaxed: only spreads threads */
static _Thread_local unsigned my_stripe = -1u; /* -1: not chosen yet */

void gomap__metrics_count(struct gomap__metrics *mx, int op) {
    unsigned s = my_stripe;
    if (__builtin_expect(s == -1u, 0))
        s = my_stripe = atomic_fetch_add_explicit(&next_stripe, 1, memory_order_relaxed) % STRIPES;
    atomic_fetch_add_explicit(&mx->stripes[s].n[op & (OPS - 1)], 1, memory_order_relaxed);
}

static void sum(const struct gomap__metrics *mx, uint64_t out[OPS]) {
    for (int op = 0; op < OPS; op++) {
        out[op] = 0;
        for (int s = 0; s < STRIPES; s++)
            out[op] += atomic_load_explicit(&mx->stripes[s].n[op], memory_order_relaxed);
    }
}

int gomap__metrics_register(const char *name, const char *variant, struct gomap__metrics **out) {
    size_t len = strlen(name);
    struct gomap__metrics *mx = aligned_alloc(64, sizeof *mx);
    if (!mx)
        return ENOMEM;
    memset(mx, 0, sizeof *mx);
    memcpy(mx->name, name, len + 1);
    mx->variant = variant;
    int err = 0;
    pthread_mutex_lock(&registry_lock);
    for (struct gomap__metrics *o = registry; o && !err; o = o->next)
        if (strcmp(o->name, name) == 0)
            err = EEXIST;
    if (!err) {
        mx->next = registry;
        registry = mx;
    }
    pthread_mutex_unlock(&registry_lock);
    if (err) {
        free(mx);
        return err;
    }
    *out = mx;
    return 0;
}

void gomap__metrics_release(struct gomap__metrics *mx) {
    if (!mx)
        return;
    pthread_mutex_lock(&registry_lock);
    struct gomap__metrics **p = &registry;
    while (*p && *p != mx)
        p = &(*p)->next;
    if (*p)
        *p = mx->next;
    pthread_mutex_unlock(&registry_lock);
    free(mx);
}

void gomap__metrics_read(const struct gomap__metrics *mx, gomap_metrics_counts *out) {
    uint64_t n[OPS];
    sum(mx, n);
    out->load = n[0];
    out->store = n[1];
    out->delete_ = n[2];
    out->other = n[3];
}

/* Writes a label value with the exposition format's three escapes. */
static void put_label(FILE *out, const char *s) {
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            fprintf(out, "\\%c", *s);
        else if (*s == '\n')
            fputs("\\n", out);
        else
            fputc(*s, out);
    }
}

int gomap_metrics_write_prometheus(FILE *out) {
    if (!out)
        return EINVAL;
    static const char *const conflict_labels[GOMAP_CONFLICT_TYPES] = {"writes", "read_write",
                                                                      "iter_write"};
    static const char *const ops[OPS] = {"load", "store", "delete", "other"};
    fputs("# HELP gomap_conflicts_total Concurrent map misuse detected in this process, by "
          "kind.\n# TYPE gomap_conflicts_total counter\n",
          out);
    for (int k = 0; k < GOMAP_CONFLICT_TYPES; k++)
        fprintf(out, "gomap_conflicts_total{kind=\"%s\"} %" PRIu64 "\n", conflict_labels[k],
                gomap_conflict_count((gomap_conflict_type)k));
    fputs("# HELP gomap_concmap_ops_total Operations on thread-safe maps with metrics, by map "
          "and kind.\n# TYPE gomap_concmap_ops_total counter\n",
          out);
    pthread_mutex_lock(&registry_lock);
    for (struct gomap__metrics *mx = registry; mx; mx = mx->next) {
        uint64_t n[OPS];
        sum(mx, n);
        for (int op = 0; op < OPS; op++) {
            fputs("gomap_concmap_ops_total{map=\"", out);
            put_label(out, mx->name);
            fprintf(out, "\",variant=\"%s\",op=\"%s\"} %" PRIu64 "\n", mx->variant, ops[op], n[op]);
        }
    }
    pthread_mutex_unlock(&registry_lock);
    return ferror(out) ? EIO : 0;
}
