/*
 * gomap-soak — a mixed concurrent workload on every thread-safe variant for a
 * given time, checking invariants all along and sampling memory.
 *
 *   gomap-soak [--seconds S] [--variant NAME|all] [--threads T] [--keys K]
 *              [--counters C] [--sample-ms M] [--csv FILE] [--quiet]
 *
 * Workload, per variant (S seconds each):
 *   - T writer threads.  Writer w owns the keys (w+1) << 40 | n and keeps a
 *     private shadow of the K keys in its window [lo, lo+K): every load,
 *     load_and_delete, swap, compare_and_swap (with the right and a wrong old
 *     value), compare_and_delete and load_or_store is checked against the
 *     shadow the moment it returns, since no other thread writes those keys.
 *     The window slides (delete key lo, lo++), so the map sees new keys
 *     forever: syncmap promotions and expunged entries, cowmap copies,
 *     shardmap growth and same-size regrowth.
 *   - the same threads CAS-increment C shared counter keys and count their
 *     successes; at the end each counter equals the increments it received.
 *   - one range thread walks the map continuously: each value must belong to
 *     its key, no key may be visited twice in one walk.
 *   - the main thread samples RSS (/proc/self/statm), the bytes the map holds
 *     (through the allocator hook) and len every M ms.
 * Memory must stay bounded: the live key set is bounded (T*K + C), so the
 * bytes the map holds (counted by its allocator hook) and RSS must show no
 * trend: averaged over the last quarter of the run they may not exceed 1.5
 * times their average over the second quarter (plus 1 MiB for the map, 16
 * MiB for RSS); runs shorter than 20 s are not judged (warm-up).  And the
 * memory retired but not yet freed must stay small: the most the map held
 * at any sample may not exceed 4 times what it holds at rest (once the
 * workload stops and reclamation has caught up) plus 1 MiB.  The printed
 * line gives min, max per half and quarter averages, for docs/hardening.md.
 *
 * Exit status: 0 when every invariant held, 1 on the first violation (which
 * is printed), 2 on bad usage.
 */
#include "hard_util.h"

#include <gomap/concmap.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct {
    double seconds;
    const char *variant;
    unsigned threads, keys, counters, sample_ms;
    const char *csv;
    bool quiet;
} opt = {10, "all", 4, 1000, 8, 100, NULL, false};

static concmap *map;
static atomic_bool stop;
static atomic_ullong total_ops, total_checks;
static FILE *csv;

#define COUNTER_BASE 0xC000000000000000ULL

__attribute__((format(printf, 1, 2))) static _Noreturn void violated(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "soak [%s]: INVARIANT VIOLATED: ", map ? concmap_variant(map) : "?");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    fflush(NULL);
    exit(1);
}

static inline uint64_t value_for(uint64_t key, uint32_t version) {
    return (uint64_t)version << 32 | (uint32_t)hard_mix(key);
}
static inline bool value_matches(uint64_t key, uint64_t v) {
    return (uint32_t)v == (uint32_t)hard_mix(key);
}

static inline uint64_t rng_next(uint64_t *s) {
    *s += 0x9e3779b97f4a7c15ULL;
    return hard_mix(*s);
}

struct writer {
    pthread_t th;
    unsigned id;
    uint64_t *val; /* shadow, indexed by key % K; 0 = absent (values are never 0) */
    uint64_t lo;   /* window start */
    uint32_t version;
    unsigned long long *incr; /* successful increments, per counter */
    unsigned long long ops;
};

static uint64_t wkey(const struct writer *w, uint64_t n) {
    return (uint64_t)(w->id + 1) << 40 | n;
}

static void check_load(struct writer *w, uint64_t n) {
    uint64_t key = wkey(w, n), out = 0;
    bool ok = concmap_load(map, &key, &out);
    uint64_t want = w->val[n % opt.keys];
    if (ok != (want != 0) || (ok && out != want))
        violated("load %" PRIx64 ": got %" PRIx64 ", shadow %" PRIx64, key, ok ? out : 0, want);
}

static void *writer_main(void *arg) {
    struct writer *w = (struct writer *)arg;
    uint64_t rng = w->id * 1000003ULL + 17;
    const unsigned K = opt.keys;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        for (int batch = 0; batch < 64; batch++) {
            uint64_t r = rng_next(&rng);
            uint64_t n = w->lo + (r >> 8) % K;
            uint64_t key = wkey(w, n);
            uint64_t *slot = &w->val[n % K];
            uint64_t v = value_for(key, ++w->version), out = 0;
            bool flag = false;
            unsigned op = (unsigned)(r & 0xff) % 100;
            if (op < 30) {
                check_load(w, n);
            } else if (op < 50) {
                if (concmap_store(map, &key, &v) != 0)
                    violated("store %" PRIx64 " failed", key);
                *slot = v;
            } else if (op < 58) {
                concmap_delete(map, &key);
                *slot = 0;
            } else if (op < 63) {
                bool had = concmap_load_and_delete(map, &key, &out);
                if (had != (*slot != 0) || (had && out != *slot))
                    violated("load_and_delete %" PRIx64 ": got %" PRIx64 ", shadow %" PRIx64, key,
                             had ? out : 0, *slot);
                *slot = 0;
            } else if (op < 68) {
                if (concmap_load_or_store(map, &key, &v, &out, &flag) != 0)
                    violated("load_or_store %" PRIx64 " failed", key);
                if (flag != (*slot != 0) || out != (flag ? *slot : v))
                    violated("load_or_store %" PRIx64 ": got %" PRIx64 ", shadow %" PRIx64, key,
                             out, *slot);
                if (!flag)
                    *slot = v;
            } else if (op < 73) {
                if (concmap_swap(map, &key, &v, &out, &flag) != 0)
                    violated("swap %" PRIx64 " failed", key);
                if (flag != (*slot != 0) || (flag && out != *slot))
                    violated("swap %" PRIx64 ": previous %" PRIx64 ", shadow %" PRIx64, key, out,
                             *slot);
                *slot = v;
            } else if (op < 78) {
                uint64_t old = (r & 0x100) ? *slot : *slot ^ 0x100000000ULL;
                if (concmap_compare_and_swap(map, &key, &old, &v, &flag) != 0)
                    violated("compare_and_swap %" PRIx64 " failed", key);
                bool want = *slot != 0 && old == *slot;
                if (flag != want)
                    violated("compare_and_swap %" PRIx64 ": swapped %d, expected %d", key, flag,
                             want);
                if (flag)
                    *slot = v;
            } else if (op < 81) {
                uint64_t old = (r & 0x100) ? *slot : *slot ^ 0x100000000ULL;
                bool want = *slot != 0 && old == *slot;
                if (concmap_compare_and_delete(map, &key, &old) != want)
                    violated("compare_and_delete %" PRIx64 ": expected %d", key, want);
                if (want)
                    *slot = 0;
            } else if (op < 88) {
                /* slide the window: the oldest key goes for good */
                uint64_t gone = wkey(w, w->lo);
                concmap_delete(map, &gone);
                w->val[w->lo % K] = 0;
                w->lo++;
            } else if (op < 93 && opt.counters) {
                unsigned c = (unsigned)(r >> 40) % opt.counters;
                uint64_t ck = COUNTER_BASE + c, cur = 0, next;
                for (;;) {
                    if (!concmap_load(map, &ck, &cur))
                        violated("counter %u vanished", c);
                    next = cur + 1;
                    if (concmap_compare_and_swap(map, &ck, &cur, &next, &flag) != 0)
                        violated("counter CAS failed");
                    if (flag)
                        break;
                }
                w->incr[c]++;
            } else {
                check_load(w, n);
                check_load(w, w->lo + (r >> 20) % K);
            }
            w->ops++;
        }
        atomic_fetch_add_explicit(&total_ops, 64, memory_order_relaxed);
    }
    return NULL;
}

/* ---- range thread ----------------------------------------------------------- */

struct walk {
    uint64_t *keys;
    size_t n, cap;
};

static bool walk_fn(const void *key, const void *value, void *ctx) {
    struct walk *wk = (struct walk *)ctx;
    uint64_t k, v;
    memcpy(&k, key, 8);
    memcpy(&v, value, 8);
    if (k < COUNTER_BASE && !value_matches(k, v))
        violated("range: key %" PRIx64 " has value %" PRIx64 ", which belongs to another key", k,
                 v);
    if (wk->n == wk->cap) {
        wk->cap = wk->cap ? wk->cap * 2 : 4096;
        wk->keys = (uint64_t *)realloc(wk->keys, wk->cap * sizeof *wk->keys);
        if (!wk->keys)
            violated("out of memory in the checker");
    }
    wk->keys[wk->n++] = k;
    return true;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static atomic_ullong walks;

static void *ranger_main(void *arg) {
    (void)arg;
    struct walk wk = {0};
    size_t bound = (size_t)opt.threads * opt.keys + opt.counters;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        wk.n = 0;
        concmap_range(map, walk_fn, &wk);
        qsort(wk.keys, wk.n, sizeof *wk.keys, cmp_u64);
        for (size_t i = 1; i < wk.n; i++)
            if (wk.keys[i] == wk.keys[i - 1])
                violated("range visited key %" PRIx64 " twice", wk.keys[i]);
        /* every key a walk can see was live at some point during it: at most
         * the bounded live set plus the keys written while it ran */
        if (wk.n > 4 * bound + 100000)
            violated("range saw %zu keys, live set is at most %zu", wk.n, bound);
        size_t len = concmap_len(map);
        if (len > 4 * bound + 100000)
            violated("len %zu, live set is at most %zu", len, bound);
        atomic_fetch_add_explicit(&walks, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&total_checks, wk.n, memory_order_relaxed);
    }
    free(wk.keys);
    return NULL;
}

/* ---- memory sampling ---------------------------------------------------------- */

static long long rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long long size = 0, res = 0;
    if (f) {
        if (fscanf(f, "%lld %lld", &size, &res) != 2)
            res = 0;
        fclose(f);
    }
    return res * sysconf(_SC_PAGESIZE);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

struct sample {
    double t;
    long long rss, live;
    size_t len;
};

/* Runs the workload on one variant; returns 0 when every check held. */
static int soak_variant(const char *kind) {
    struct hard_alloc alloc;
    gomap_allocator hook;
    hard_alloc_init(&alloc, &hook);
    gomap_config cfg = {GOMAP_KEY_U64, 0, 8, 0, 0, 0, 0, &hook};
    int rc = concmap_new(&map, kind, &cfg, NULL);
    if (rc != 0) {
        fprintf(stderr, "soak: concmap_new(%s): %s\n", kind, strerror(rc));
        return 1;
    }
    for (unsigned c = 0; c < opt.counters; c++) {
        uint64_t k = COUNTER_BASE + c, zero = 0;
        if (concmap_store(map, &k, &zero) != 0)
            violated("counter store failed");
    }
    atomic_store(&stop, false);
    atomic_store(&total_ops, 0);
    atomic_store(&total_checks, 0);
    atomic_store(&walks, 0);
    struct writer *ws = (struct writer *)calloc(opt.threads, sizeof *ws);
    for (unsigned i = 0; i < opt.threads; i++) {
        ws[i].id = i;
        ws[i].val = (uint64_t *)calloc(opt.keys, sizeof(uint64_t));
        ws[i].incr = (unsigned long long *)calloc(opt.counters + 1, sizeof(unsigned long long));
        pthread_create(&ws[i].th, NULL, writer_main, &ws[i]);
    }
    pthread_t ranger;
    pthread_create(&ranger, NULL, ranger_main, NULL);

    size_t cap = (size_t)(opt.seconds * 1000 / opt.sample_ms) + 16, ns = 0;
    struct sample *s = (struct sample *)calloc(cap, sizeof *s);
    double t0 = now_s(), t;
    while ((t = now_s() - t0) < opt.seconds) {
        usleep(opt.sample_ms * 1000);
        if (ns < cap) {
            s[ns].t = now_s() - t0;
            s[ns].rss = rss_bytes();
            s[ns].live = hard_live(&alloc);
            s[ns].len = concmap_len(map);
            if (csv)
                fprintf(csv, "%s,%.3f,%lld,%lld,%zu,%llu\n", kind, s[ns].t, s[ns].rss, s[ns].live,
                        s[ns].len, (unsigned long long)atomic_load(&total_ops));
            ns++;
        }
    }
    atomic_store(&stop, true);
    for (unsigned i = 0; i < opt.threads; i++)
        pthread_join(ws[i].th, NULL);
    pthread_join(ranger, NULL);
    double elapsed = now_s() - t0;

    /* final state: every shadow exact, every counter exact */
    unsigned long long final_checks = 0;
    size_t expect_len = opt.counters;
    for (unsigned i = 0; i < opt.threads; i++) {
        for (uint64_t n = ws[i].lo; n < ws[i].lo + opt.keys; n++) {
            check_load(&ws[i], n);
            expect_len += ws[i].val[n % opt.keys] != 0;
            final_checks++;
        }
    }
    for (unsigned c = 0; c < opt.counters; c++) {
        unsigned long long sum = 0;
        for (unsigned i = 0; i < opt.threads; i++)
            sum += ws[i].incr[c];
        uint64_t k = COUNTER_BASE + c, v = 0;
        if (!concmap_load(map, &k, &v) || v != sum)
            violated("counter %u is %" PRIu64 ", increments made %llu", c, v, sum);
    }
    if (concmap_len(map) != expect_len)
        violated("final len %zu, expected %zu", concmap_len(map), expect_len);

    /* the map at rest: no writer runs, so once the reclaimer has freed what
     * was retired the bytes it holds stop changing (20 samples 10 ms apart
     * alike; at most 5 s, which a stalled reclaimer would exceed: then the
     * last figure stands, and the bound below judges it) */
    long long rest = hard_live(&alloc);
    for (int same = 0, tries = 0; same < 20 && tries < 500; tries++) {
        usleep(10000);
        long long now = hard_live(&alloc);
        same = now == rest ? same + 1 : 0;
        rest = now;
    }

    /* memory: the curve must be flat after warm-up.  A trend (memory that
     * grows with time while the live set does not) shows as the last
     * quarter's average well above the second quarter's; fluctuations
     * (reclamation batches) average out.  Maxima are printed for the record. */
    long long rss1 = 0, rss2 = 0, live1 = 0, live2 = 0, rss_min = -1;
    double q2_live = 0, q4_live = 0, q2_rss = 0, q4_rss = 0;
    size_t n2 = 0, n4 = 0;
    for (size_t i = 0; i < ns; i++) {
        bool second = s[i].t > elapsed / 2;
        long long *r = second ? &rss2 : &rss1, *l = second ? &live2 : &live1;
        if (s[i].rss > *r)
            *r = s[i].rss;
        if (s[i].live > *l)
            *l = s[i].live;
        if (rss_min < 0 || s[i].rss < rss_min)
            rss_min = s[i].rss;
        int q = (int)(4 * s[i].t / elapsed);
        if (q == 1) {
            q2_live += (double)s[i].live;
            q2_rss += (double)s[i].rss;
            n2++;
        } else if (q >= 3) {
            q4_live += (double)s[i].live;
            q4_rss += (double)s[i].rss;
            n4++;
        }
    }
    if (n2)
        q2_live /= (double)n2, q2_rss /= (double)n2;
    if (n4)
        q4_live /= (double)n4, q4_rss /= (double)n4;
    /* A run shorter than 20 s is mostly warm-up (syncmap promotions, the
     * first reclamation batches): its trend says nothing, so only longer
     * runs are judged (the suite's short runs check the invariants and the
     * leak count; tools/soak's minute-long runs judge memory). */
    bool judged = elapsed >= 20;
    bool bounded =
        !judged || (q4_live <= 1.5 * q2_live + (1 << 20) && q4_rss <= 1.5 * q2_rss + (16 << 20));
    long long peak = live1 > live2 ? live1 : live2, peak_bound = 4 * rest + (1 << 20);
    bool within = !judged || peak <= peak_bound;
    unsigned long long ops = atomic_load(&total_ops);
    printf("%-5s %6.1fs %u thr %10llu ops (%8.0f/s) %6llu walks | rss MiB min %.1f, max "
           "%.1f / %.1f, avg Q2 %.1f Q4 %.1f | map KiB max %lld / %lld, avg Q2 %.0f Q4 %.0f, "
           "end %lld, at rest %lld, bound %lld | %s%s\n",
           kind, elapsed, opt.threads, ops, (double)ops / elapsed,
           (unsigned long long)atomic_load(&walks), (double)rss_min / 1048576.0,
           (double)rss1 / 1048576.0, (double)rss2 / 1048576.0, q2_rss / 1048576.0,
           q4_rss / 1048576.0, live1 / 1024, live2 / 1024, q2_live / 1024, q4_live / 1024,
           hard_live(&alloc) / 1024, rest / 1024, peak_bound / 1024,
           !judged   ? "memory not judged (< 20 s)"
           : bounded ? "bounded"
                     : "GROWING",
           judged && !within ? ", PEAK OVER BOUND" : "");
    fflush(stdout);

    concmap_free(map);
    map = NULL;
    long long leaked = hard_live(&alloc);
    for (unsigned i = 0; i < opt.threads; i++) {
        free(ws[i].val);
        free(ws[i].incr);
    }
    free(ws);
    free(s);
    if (leaked != 0) {
        fprintf(stderr, "soak [%s]: %lld bytes still allocated after concmap_free\n", kind, leaked);
        return 1;
    }
    if (!bounded) {
        fprintf(stderr, "soak [%s]: memory kept growing under churn\n", kind);
        return 1;
    }
    if (!within) {
        fprintf(stderr,
                "soak [%s]: the map held %lld KiB at its peak, over the bound of 4 x its %lld KiB "
                "at rest + 1 MiB = %lld KiB (memory retired faster than it was freed)\n",
                kind, peak / 1024, rest / 1024, peak_bound / 1024);
        return 1;
    }
    (void)final_checks;
    return 0;
}

static void usage(void) {
    fprintf(stderr, "usage: gomap-soak [--seconds S] [--variant NAME|all] [--threads T] "
                    "[--keys K] [--counters C] [--sample-ms M] [--csv FILE] [--quiet]\n");
    exit(2);
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--quiet")) {
            opt.quiet = true;
            continue;
        }
        if (!v)
            usage();
        i++;
        if (!strcmp(a, "--seconds"))
            opt.seconds = atof(v);
        else if (!strcmp(a, "--variant"))
            opt.variant = v;
        else if (!strcmp(a, "--threads"))
            opt.threads = (unsigned)atoi(v);
        else if (!strcmp(a, "--keys"))
            opt.keys = (unsigned)atoi(v);
        else if (!strcmp(a, "--counters"))
            opt.counters = (unsigned)atoi(v);
        else if (!strcmp(a, "--sample-ms"))
            opt.sample_ms = (unsigned)atoi(v);
        else if (!strcmp(a, "--csv"))
            opt.csv = v;
        else
            usage();
    }
    if (opt.seconds <= 0 || opt.threads == 0 || opt.keys == 0 || opt.sample_ms == 0)
        usage();
    if (opt.csv) {
        csv = fopen(opt.csv, "w");
        if (!csv) {
            perror(opt.csv);
            return 2;
        }
        fprintf(csv, "variant,t,rss_bytes,map_bytes,len,ops\n");
    }
    int bad = 0, ran = 0;
    for (const char *const *k = concmap_variants; *k; k++) {
        if (strcmp(opt.variant, "all") && strcmp(opt.variant, *k))
            continue;
        ran++;
        bad |= soak_variant(*k);
    }
    if (csv)
        fclose(csv);
    if (!ran) {
        fprintf(stderr, "soak: unknown variant '%s'\n", opt.variant);
        return 2;
    }
    if (!opt.quiet)
        printf("%s\n", bad ? "soak: FAILED" : "soak: every invariant held");
    return bad;
}
