/* hist.c — see hist.h for the layout and the error bound. */
#include "hist.h"

#include <math.h>
#include <string.h>

void hist_init(hist *h) {
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
}

void hist_merge(hist *dst, const hist *src) {
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        dst->n[i] += src->n[i];
    dst->count += src->count;
    if (src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
}

void hist_bucket_range(unsigned i, uint64_t *lo, uint64_t *width) {
    if (i < 2 * HIST_SUB) {
        *lo = i;
        *width = 1;
        return;
    }
    unsigned shift = i / HIST_SUB - 1;
    uint64_t top = i - shift * HIST_SUB; /* in [128, 256) */
    *lo = top << shift;
    *width = (uint64_t)1 << shift;
}

uint64_t hist_quantile(const hist *h, double q) {
    if (h->count == 0)
        return 0;
    if (q < 0)
        q = 0;
    if (q > 1)
        q = 1;
    uint64_t rank = (uint64_t)ceil(q * (double)h->count);
    if (rank <= 1)
        return h->min; /* the extremes are known exactly */
    if (rank >= h->count)
        return h->max;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->n[i];
        if (seen >= rank) {
            uint64_t lo, width;
            hist_bucket_range(i, &lo, &width);
            uint64_t v = lo + width / 2;
            if (v < h->min)
                v = h->min;
            if (v > h->max)
                v = h->max;
            return v;
        }
    }
    return h->max;
}
