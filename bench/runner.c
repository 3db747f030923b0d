/* runner.c — the loops of runner.h. */
#include "runner.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* With c->load_many: performs, as operations i, i+1, ..., the run of reads
 * that starts at trace position pos (up to RUN_BATCH and max operations, not
 * past the trace's end) as one call, or the entry at pos alone when it is no
 * read.  Adds to *sum what one operation per entry would; returns how many
 * operations it performed. */
static size_t run_batch_step(const run_map *c, uint64_t seed, const uint32_t *e, size_t len,
                             size_t pos, uint64_t i, uint64_t max, uint64_t *sum) {
    uint64_t keys[RUN_BATCH], vals[RUN_BATCH];
    bool found[RUN_BATCH];
    size_t n = 0;
    while (n < RUN_BATCH && n < max && pos + n < len && (e[pos + n] >> WL_IDX_BITS) == WL_READ) {
        keys[n] = wl_key(seed, e[pos + n] & WL_IDX_MASK);
        n++;
    }
    if (n == 0) {
        *sum += run_op(c, seed, e[pos], i);
        return 1;
    }
    c->load_many(c->m, keys, n, vals, found);
    for (size_t j = 0; j < n; j++)
        *sum += found[j] ? vals[j] : WL_MISS_MARK;
    return n;
}

uint64_t run_serial(const run_map *c, uint64_t seed, const wl_trace *tr, uint64_t ops) {
    uint64_t sum = 0;
    if (c->load_many) {
        for (uint64_t i = 0; i < ops;)
            i += run_batch_step(c, seed, tr->e, tr->len, i % tr->len, i, ops - i, &sum);
        return sum;
    }
    for (uint64_t i = 0; i < ops; i++)
        sum += run_op(c, seed, tr->e[i % tr->len], i);
    return sum;
}

uint64_t run_serial_bounded(const run_map *c, uint64_t seed, const wl_trace *tr, uint64_t ops,
                            uint64_t max_ns, uint64_t *done) {
    uint64_t sum = 0, i = 0, end = bench_now_ns() + max_ns;
    for (; i < ops; i++) {
        if (i % 64 == 0 && i && bench_now_ns() >= end)
            break;
        sum += run_op(c, seed, tr->e[i % tr->len], i);
    }
    *done = i;
    return sum;
}

void run_prefill(const run_map *c, uint64_t seed, uint64_t n) {
    for (uint64_t i = 0; i < n; i++) {
        uint64_t k = wl_key(seed, i);
        c->store(c->m, k, wl_value0(k));
    }
}

uint64_t run_warm(const run_map *c, uint64_t seed, uint64_t n) {
    uint64_t sum = 0, v;
    for (uint64_t i = 0; i < n; i++)
        if (c->load(c->m, wl_key(seed, i), &v))
            sum += v;
    return sum;
}

typedef struct worker {
    pthread_t th;
    const run_map *c;
    uint64_t seed;
    const wl_trace *tr;
    pthread_barrier_t *bar;
    atomic_bool *stop;
    uint64_t interval_ns, t0, t_end, t_give_up; /* latency mode */
    hist *h;                                    /* latency mode: this worker's */
    uint64_t ops, sum;
    bool first; /* worker 0: records run_last_cpu */
} worker;

static void throughput_loop(worker *w) {
    const uint32_t *e = w->tr->e;
    size_t len = w->tr->len, pos = 0;
    uint64_t i = 0, sum = 0;
    /* relaxed: the flag only has to be seen eventually; pthread_join orders
     * the results with the reader. */
    while (!atomic_load_explicit(w->stop, memory_order_relaxed)) {
        for (int k = 0; k < 64; k++) {
            sum += run_op(w->c, w->seed, e[pos], i);
            i++;
            if (++pos == len)
                pos = 0;
        }
    }
    w->ops = i;
    w->sum = sum;
}

/* throughput_loop with c->load_many (run_batch_step at each position).  The
 * stop flag is checked after every 64 or more operations. */
static void throughput_loop_batched(worker *w) {
    const uint32_t *e = w->tr->e;
    size_t len = w->tr->len, pos = 0;
    uint64_t i = 0, sum = 0;
    while (!atomic_load_explicit(w->stop, memory_order_relaxed)) {
        for (uint64_t until = i + 64; i < until;) {
            size_t n = run_batch_step(w->c, w->seed, e, len, pos, i, RUN_BATCH, &sum);
            i += n;
            pos += n;
            if (pos == len)
                pos = 0;
        }
    }
    w->ops = i;
    w->sum = sum;
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#else
    __asm__ __volatile__("" ::: "memory");
#endif
}

static void latency_loop(worker *w) {
    const uint32_t *e = w->tr->e;
    size_t len = w->tr->len, pos = 0;
    uint64_t i = 0, sum = 0;
    for (;; i++) {
        uint64_t due = w->t0 + i * w->interval_ns;
        if (due >= w->t_end)
            break;
        uint64_t now;
        while ((now = bench_now_ns()) < due)
            cpu_relax();
        if (now >= w->t_give_up)
            break;
        sum += run_op(w->c, w->seed, e[pos], i);
        hist_record(w->h, bench_now_ns() - due);
        if (++pos == len)
            pos = 0;
    }
    w->ops = i;
    w->sum = sum;
}

/* The CPU worker 0 of the last run_threads finished on (run_last_cpu).
 * Written by worker 0 only, read by the caller after pthread_join, which
 * orders the two. */
static int last_cpu = -1;

int run_last_cpu(void) {
    return last_cpu;
}

static void *worker_main(void *arg) {
    worker *w = arg;
    if (w->c->thread_enter)
        w->c->thread_enter();
    pthread_barrier_wait(w->bar);
    if (w->h)
        latency_loop(w);
    else if (w->c->load_many)
        throughput_loop_batched(w);
    else
        throughput_loop(w);
    if (w->first)
        last_cpu = sched_getcpu();
    if (w->c->thread_exit)
        w->c->thread_exit();
    return NULL;
}

double run_threads(const run_map *c, uint64_t seed, const wl_trace *tr, unsigned threads,
                   uint64_t duration_ms, uint64_t rate, hist *h, uint64_t *ops_out,
                   uint64_t *sum_out) {
    worker w[RUN_MAX_THREADS];
    hist *hs = NULL;
    pthread_barrier_t bar;
    atomic_bool stop;
    bool latency = h != NULL;
    if (threads > RUN_MAX_THREADS)
        threads = RUN_MAX_THREADS;
    if (latency && !(hs = malloc(threads * sizeof *hs)))
        return 0;
    atomic_init(&stop, false);
    pthread_barrier_init(&bar, NULL, threads + 1);
    uint64_t t0 = bench_now_ns() + 2000000; /* 2 ms for the threads to start */
    for (unsigned t = 0; t < threads; t++) {
        memset(&w[t], 0, sizeof w[t]);
        w[t].c = c;
        w[t].seed = seed;
        w[t].tr = &tr[t];
        w[t].bar = &bar;
        w[t].stop = &stop;
        w[t].first = t == 0;
        if (latency) {
            hist_init(&hs[t]);
            w[t].h = &hs[t];
            w[t].interval_ns = 1000000000u / (rate ? rate : 1);
            w[t].t0 = t0;
            w[t].t_end = t0 + duration_ms * 1000000u;
            w[t].t_give_up = t0 + 2 * duration_ms * 1000000u;
        }
        pthread_create(&w[t].th, NULL, worker_main, &w[t]);
    }
    pthread_barrier_wait(&bar);
    uint64_t start = bench_now_ns();
    if (!latency) {
        struct timespec ts = {(time_t)(duration_ms / 1000), (long)(duration_ms % 1000) * 1000000};
        nanosleep(&ts, NULL);
        atomic_store_explicit(&stop, true, memory_order_relaxed);
    }
    uint64_t ops = 0, sum = 0;
    for (unsigned t = 0; t < threads; t++) {
        pthread_join(w[t].th, NULL);
        ops += w[t].ops;
        sum += w[t].sum;
        if (latency)
            hist_merge(h, &hs[t]);
    }
    uint64_t elapsed = bench_now_ns() - start;
    pthread_barrier_destroy(&bar);
    free(hs);
    *ops_out = ops;
    *sum_out = sum;
    return elapsed ? (double)ops * 1e3 / (double)elapsed : 0;
}

int run_latency(const run_map *c, uint64_t seed, const wl_trace *tr, unsigned threads,
                uint64_t duration_ms, uint64_t rate, unsigned runs, hist *h, uint64_t *ops,
                uint64_t *sum) {
    enum { MAX_RUNS = 100 };
    if (runs == 0 || runs > MAX_RUNS)
        return -1;
    hist *hs = malloc(runs * sizeof *hs);
    if (!hs)
        return -1;
    uint64_t o[MAX_RUNS], s[MAX_RUNS], p99[MAX_RUNS];
    unsigned order[MAX_RUNS];
    for (unsigned k = 0; k < runs; k++) {
        hist_init(&hs[k]);
        run_threads(c, seed, tr, threads, duration_ms, rate, &hs[k], &o[k], &s[k]);
        p99[k] = hist_quantile(&hs[k], 0.99);
        /* insertion sort of the runs by p99: runs is small */
        unsigned j = k;
        for (; j > 0 && p99[order[j - 1]] > p99[k]; j--)
            order[j] = order[j - 1];
        order[j] = k;
    }
    unsigned mid = order[(runs - 1) / 2];
    memcpy(h, &hs[mid], sizeof *h);
    *ops = o[mid];
    *sum = s[mid];
    free(hs);
    return 0;
}
