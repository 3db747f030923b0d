/*
 * hist.h — a log-linear latency histogram with bounded relative error, in the
 * spirit of Gil Tene's HdrHistogram (written anew; nothing here is HDR's
 * code or its encoding).
 *
 * Values are unsigned 64-bit (nanoseconds in gomap-bench).  Values below
 * 2^(HIST_SUB_BITS+1) = 256 are counted exactly; above, each power of two
 * [2^k, 2^(k+1)) is split into 2^HIST_SUB_BITS = 128 equal sub-buckets, so a
 * bucket's width is at most 1/128 of its lower bound.  A percentile is
 * reported as the midpoint of the bucket holding the rank, clamped to the
 * exact minimum and maximum seen, so:
 *
 *     |reported - true| <= true / 256    (relative error at most 0.4%)
 *
 * where "true" is the value of that rank in the sorted sample (the nearest-
 * rank definition: the smallest value with at least ceil(p * count) values
 * at or below it).  Recording is O(1) and allocation-free; a histogram is
 * 7424 counters (58 KiB), one per thread, merged at the end.
 */
#ifndef GOMAP_BENCH_HIST_H
#define GOMAP_BENCH_HIST_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    HIST_SUB_BITS = 7,
    HIST_SUB = 1 << HIST_SUB_BITS,
    HIST_BUCKETS = (64 - HIST_SUB_BITS + 1) * HIST_SUB /* index of 2^64-1 is 7423 */
};

typedef struct hist {
    uint64_t count;
    uint64_t min, max;
    uint64_t n[HIST_BUCKETS];
} hist;

void hist_init(hist *h);

/* The bucket of v: v itself below 256; above, shift*128 + (v >> shift) with
 * shift = msb(v) - 7, whose top is in [128, 256). */
static inline unsigned hist_index(uint64_t v) {
    if (v < (2u * HIST_SUB))
        return (unsigned)v;
    unsigned shift = (unsigned)(63 - __builtin_clzll(v)) - HIST_SUB_BITS;
    return shift * HIST_SUB + (unsigned)(v >> shift);
}

static inline void hist_record(hist *h, uint64_t v) {
    h->n[hist_index(v)]++;
    h->count++;
    if (v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
}

/* Adds every count of src to dst. */
void hist_merge(hist *dst, const hist *src);

/* The lowest value of bucket i and its width. */
void hist_bucket_range(unsigned i, uint64_t *lo, uint64_t *width);

/* The value at quantile q in [0, 1] (0.99 = p99), within the bound above;
 * 0 for an empty histogram. */
uint64_t hist_quantile(const hist *h, double q);

#ifdef __cplusplus
}
#endif
#endif /* GOMAP_BENCH_HIST_H */
