/*
 * workload.h — the concurrent mixes of gomap-bench, specified once and
 * generated bit for bit the same by every contestant (docs/workloads.md).
 *
 * A workload is a key set and, per thread, a trace of operations over it.
 *
 *   keys     index i in [0, N) is key bench_key_u64(seed, i) (bench.h: a
 *            splitmix64 stream, so keys are distinct and look random).  The
 *            map is prefilled with indices [0, N), value wl_value0(key).
 *            churn draws indices from [0, 2N), so about half its inserts
 *            are new keys and half its deletes hit.
 *   choosers uniform: index = high 64 bits of r * n (Lemire's multiply-shift).
 *            zipf(theta): the generator of Gray et al. ("Quickly generating
 *            billion-record synthetic databases", SIGMOD'94) as YCSB uses it;
 *            index 0 is the hottest key.  Its pow/log/exp are written here
 *            with + - * / only, in a fixed order, so that C, Go and C++
 *            compute identical doubles (libm and Go's math.Pow differ in
 *            the last bit, which would move a key now and then).
 *   trace    thread t draws from splitmix64 starting at state
 *            seed + (t+1) * 0xd1b54a32d192ed03: first r1 (the key), then r2
 *            (the operation): bp = ((r2 >> 32) * 10000) >> 32 in
 *            [0, 10000); bp < read_bp -> read, else the mix's write op
 *            (churn: bp < 5000 -> insert, else delete).  An entry packs op << 30 | idx.
 *            Threads replay their trace cyclically; the i-th operation of a
 *            thread (counting from 0 across wraps) that writes stores the
 *            value key + i.
 *   checksum the sum (mod 2^64) of every value a read returned, plus
 *            WL_MISS_MARK per read that found nothing.
 *
 * Everything here is deterministic for a given seed and single-threaded
 * unless said otherwise.
 */
#ifndef GOMAP_BENCH_WORKLOAD_H
#define GOMAP_BENCH_WORKLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bench.h"

#ifdef __cplusplus
extern "C" {
#endif

enum wl_op { WL_READ = 0, WL_UPDATE = 1, WL_INSERT = 2, WL_DELETE = 3 };

enum {
    WL_IDX_BITS = 30,      /* an index takes the low 30 bits of a trace entry */
    WL_MAX_KEYS = 1u << 28 /* so that churn's 2N indices fit */
};
#define WL_IDX_MASK   ((1u << WL_IDX_BITS) - 1)
#define WL_MISS_MARK  0x9e3779b97f4a7c15u
#define WL_VALUE0_XOR 0x5851f42d4c957f2du
#define WL_STREAM_INC 0xd1b54a32d192ed03u
#define WL_ZIPF_THETA 0.99

typedef struct wl_mix {
    const char *name;
    unsigned read_bp; /* reads per 10,000 operations */
    bool churn;       /* writes are insert/delete over [0, 2N) instead of updates */
} wl_mix;

/* read100, read99, read90, read75, read50, update100, churn; NULL-terminated. */
extern const wl_mix wl_mixes[];
const wl_mix *wl_mix_find(const char *name); /* NULL when unknown */

typedef enum wl_dist { WL_UNIFORM = 0, WL_ZIPF = 1 } wl_dist;
const char *wl_dist_name(wl_dist d);
int wl_dist_parse(const char *s, wl_dist *out); /* 0, or -1 when unknown */

/* The value the prefill stores for a key. */
static inline uint64_t wl_value0(uint64_t key) {
    return key ^ WL_VALUE0_XOR;
}

static inline uint64_t wl_key(uint64_t seed, uint64_t idx) {
    return bench_key_u64(seed, idx);
}

static inline uint64_t wl_uniform(uint64_t r, uint64_t n) {
    return (uint64_t)(((unsigned __int128)r * n) >> 64);
}

/* The portable elementary functions (see above).  wl_log needs x > 0;
 * wl_pow(x, y) = exp(y * log(x)) for x > 0, 0 for x == 0. */
double wl_log(double x);
double wl_exp(double y);
double wl_pow(double x, double y);

typedef struct wl_zipf {
    uint64_t n;
    double theta, alpha, zetan, eta, one_plus_half_pow;
} wl_zipf;

/* zeta(n) costs n pow calls (about 0.1 s per million); results are cached
 * for the last few n. */
void wl_zipf_init(wl_zipf *z, uint64_t n, double theta);
uint64_t wl_zipf_next(const wl_zipf *z, uint64_t r);

/* The range keys are drawn from for a mix over N prefilled keys. */
static inline uint64_t wl_key_range(const wl_mix *m, uint64_t nkeys) {
    return m->churn ? 2 * nkeys : nkeys;
}

typedef struct wl_trace {
    uint32_t *e; /* op << 30 | idx */
    size_t len;
} wl_trace;

/* Builds thread t's trace of len entries.  Returns 0 or ENOMEM. */
int wl_trace_build(wl_trace *tr, const wl_mix *m, wl_dist d, uint64_t nkeys, uint64_t seed,
                   unsigned t, size_t len);
void wl_trace_free(wl_trace *tr);

/* A checksum of the trace itself (FNV-1a over the entries), which the tests
 * compare with the Go and C++ generators'. */
uint64_t wl_trace_digest(const wl_trace *tr);

#ifdef __cplusplus
}
#endif
#endif /* GOMAP_BENCH_WORKLOAD_H */
