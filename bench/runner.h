/*
 * runner.h — the timed loops of the concurrent mixes, shared by gomap-bench
 * (mix.c, over concmap) and the C/C++ peers (bench/peers/mixpeer.c), so that
 * every contestant in C or C++ runs the same loop and pays the same one
 * indirect call per operation.
 *
 * Throughput (closed loop): threads replay their traces as fast as they can
 * until a stop flag, checked every 64 operations, is raised.
 * Latency (open loop): operation i of a thread is due at t0 + i / rate and
 * its latency is measured from that intended start, so a stall is charged
 * to every operation queued behind it (no coordinated omission).
 */
#ifndef GOMAP_BENCH_RUNNER_H
#define GOMAP_BENCH_RUNNER_H

#include <stdbool.h>
#include <stdint.h>

#include "hist.h"
#include "workload.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { RUN_MAX_THREADS = 64 };

/* A contestant, seen by the loops.  Every function is called concurrently
 * from the worker threads. */
typedef struct run_map {
    void *m;
    bool (*load)(void *m, uint64_t key, uint64_t *value);
    void (*store)(void *m, uint64_t key, uint64_t value);
    void (*del)(void *m, uint64_t key);
    void (*thread_enter)(void); /* optional: called in each worker first */
    void (*thread_exit)(void);  /* optional: called in each worker last */
    /* Optional: loads keys[0..n) at once, values[i] and found[i] for each.
     * When set, throughput runs hand each run of up to RUN_BATCH consecutive
     * reads of a trace to it (a write ends a run and is performed alone, in
     * trace order), so the checksum is the same as one load per read. */
    void (*load_many)(void *m, const uint64_t *keys, size_t n, uint64_t *values, bool *found);
} run_map;

enum { RUN_BATCH = 64 };

/* Performs trace entry e as operation number i of its thread; returns what
 * it adds to the checksum (workload.h). */
static inline uint64_t run_op(const run_map *c, uint64_t seed, uint32_t e, uint64_t i) {
    uint64_t key = wl_key(seed, e & WL_IDX_MASK);
    uint64_t v;
    switch (e >> WL_IDX_BITS) {
    case WL_READ:
        return c->load(c->m, key, &v) ? v : WL_MISS_MARK;
    case WL_UPDATE:
    case WL_INSERT:
        c->store(c->m, key, key + i);
        return 0;
    default:
        c->del(c->m, key);
        return 0;
    }
}

/* Single-threaded, in the calling thread: ops operations of trace tr,
 * cyclically.  Returns the checksum. */
uint64_t run_serial(const run_map *c, uint64_t seed, const wl_trace *tr, uint64_t ops);

/* Like run_serial, but stops early once max_ns have passed (checked every
 * 64 operations): the counting passes of slow contestants (a copy-on-write
 * map copies itself on every write) stay bounded.  *done receives the
 * operations performed. */
uint64_t run_serial_bounded(const run_map *c, uint64_t seed, const wl_trace *tr, uint64_t ops,
                            uint64_t max_ns, uint64_t *done);

/* Runs `threads` workers, worker t over tr[t].  Throughput mode (h NULL):
 * returns Mops/s over duration_ms.  Latency mode (h not NULL): each worker
 * runs at `rate` ops/s for duration_ms, and every latency is added to *h;
 * a worker that falls so far behind that the wall clock reaches twice the
 * run's length stops issuing (then *ops is below rate * duration * threads,
 * which the caller reports as a rate not sustained).
 * *ops and *sum receive the operations done and the checksum. */
double run_threads(const run_map *c, uint64_t seed, const wl_trace *tr, unsigned threads,
                   uint64_t duration_ms, uint64_t rate, hist *h, uint64_t *ops, uint64_t *sum);

/* The CPU (sched_getcpu) that worker 0 of the last run_threads call was on
 * when it finished, or -1.  With the calling thread pinned to one CPU before
 * the call (the workers inherit its affinity), this is the CPU the run was
 * pinned to: gomap-bench records it beside each paired repetition. */
int run_last_cpu(void);

/* A latency cell's measurement: `runs` open-loop runs of run_threads in
 * latency mode, of which the one whose p99 is the median (the lower one of
 * an even count) is left in *h, its operations in *ops and checksum in *sum.
 * One run's p99 is a few dozen operations (at 10,000 ops/s per thread for
 * 0.5 s, the 50th-worst of 5,000), so one stall of the machine lasting a few
 * milliseconds (the thread preempted by an unrelated process) decides it;
 * the median decides by a stall only when most runs had one.  *h is
 * overwritten.  0, or -1 out of memory or for runs outside [1, 100]. */
int run_latency(const run_map *c, uint64_t seed, const wl_trace *tr, unsigned threads,
                uint64_t duration_ms, uint64_t rate, unsigned runs, hist *h, uint64_t *ops,
                uint64_t *sum);

/* Prefills keys [0, n) of seed with wl_value0 values. */
void run_prefill(const run_map *c, uint64_t seed, uint64_t n);

/* The warm-up every contestant gets after its prefill, before anything is
 * measured: one load of each key [0, n), in index order, in the calling
 * thread.  A map whose layout settles on reads reaches its steady state here
 * rather than inside the first timed mix: a sync.Map-style map (Go's
 * sync.Map, syncmap) holds a fresh prefill in its dirty map, and the n
 * misses of this pass promote it to the read map.  Returns the checksum of
 * the values read (for the caller to keep). */
uint64_t run_warm(const run_map *c, uint64_t seed, uint64_t n);

#ifdef __cplusplus
}
#endif
#endif /* GOMAP_BENCH_RUNNER_H */
