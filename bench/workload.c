/*
 * workload.c — key choosers and operation traces (the specification is in
 * workload.h and docs/workloads.md; bench/peers/go/mix/workload.go is the
 * same code in Go and must change with it).
 */
#include "workload.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const wl_mix wl_mixes[] = {
    {"read100", 10000, false}, {"read99", 9900, false}, {"read90", 9000, false},
    {"read75", 7500, false},   {"read50", 5000, false}, {"update100", 0, false},
    {"churn", 0, true},        {NULL, 0, false},
};

const wl_mix *wl_mix_find(const char *name) {
    for (const wl_mix *m = wl_mixes; m->name; m++)
        if (strcmp(m->name, name) == 0)
            return m;
    return NULL;
}

const char *wl_dist_name(wl_dist d) {
    return d == WL_ZIPF ? "zipf" : "uniform";
}

int wl_dist_parse(const char *s, wl_dist *out) {
    if (strcmp(s, "uniform") == 0)
        *out = WL_UNIFORM;
    else if (strcmp(s, "zipf") == 0)
        *out = WL_ZIPF;
    else
        return -1;
    return 0;
}

/* Written as literals (not as constant expressions), so that every language
 * rounds them once, from the same decimal text, to the same double. */
static const double wl_ln2 = 0.6931471805599453;
static const double wl_sqrt2 = 1.4142135623730951;
static const double wl_sqrt_half = 0.7071067811865476;

/* log(x) = e*ln2 + 2*atanh(s), s = (m-1)/(m+1), x = m * 2^e with m in
 * [sqrt(1/2), sqrt(2)]: |s| <= 0.172, so 14 terms of the atanh series leave
 * an error below 2^-60.  Halving and doubling are exact. */
double wl_log(double x) {
    int e = 0;
    double m = x;
    while (m > wl_sqrt2) {
        m = m * 0.5;
        e++;
    }
    while (m < wl_sqrt_half) {
        m = m * 2.0;
        e--;
    }
    double s = (m - 1.0) / (m + 1.0);
    double s2 = s * s;
    double term = s;
    double sum = 0.0;
    for (int k = 0; k < 14; k++) {
        sum = sum + term / (double)(2 * k + 1);
        term = term * s2;
    }
    return 2.0 * sum + (double)e * wl_ln2;
}

/* exp(y) = 2^k * exp(r), r = y - k*ln2 in [-0.35, 0.35]: 18 Taylor terms.
 * The scaling by 2^k is done by exact halvings and doublings. */
double wl_exp(double y) {
    if (y < -745.0)
        return 0.0;
    if (y > 709.0)
        return HUGE_VAL;
    double q = y / wl_ln2 + 0.5;
    long k = (long)q;
    if ((double)k > q)
        k--; /* floor for negative q */
    double r = y - (double)k * wl_ln2;
    double sum = 1.0;
    double term = 1.0;
    for (int i = 1; i <= 18; i++) {
        term = term * r / (double)i;
        sum = sum + term;
    }
    for (; k > 0; k--)
        sum = sum * 2.0;
    for (; k < 0; k++)
        sum = sum * 0.5;
    return sum;
}

double wl_pow(double x, double y) {
    if (x == 0.0)
        return 0.0;
    return wl_exp(y * wl_log(x));
}

static double wl_zeta(uint64_t n, double theta) {
    double sum = 0.0;
    for (uint64_t i = 1; i <= n; i++)
        sum = sum + 1.0 / wl_pow((double)i, theta);
    return sum;
}

/* A few (n, theta) -> zeta(n) results: a run builds many traces over the same
 * key range. */
static struct {
    uint64_t n;
    double theta, zeta;
} wl_zeta_cache[4];
static unsigned wl_zeta_next;

static double wl_zeta_cached(uint64_t n, double theta) {
    for (unsigned i = 0; i < 4; i++)
        if (wl_zeta_cache[i].n == n && wl_zeta_cache[i].theta == theta)
            return wl_zeta_cache[i].zeta;
    double z = wl_zeta(n, theta);
    unsigned i = wl_zeta_next++ % 4;
    wl_zeta_cache[i].n = n;
    wl_zeta_cache[i].theta = theta;
    wl_zeta_cache[i].zeta = z;
    return z;
}

void wl_zipf_init(wl_zipf *z, uint64_t n, double theta) {
    z->n = n;
    z->theta = theta;
    z->alpha = 1.0 / (1.0 - theta);
    z->zetan = wl_zeta_cached(n, theta);
    double zeta2 = wl_zeta(2, theta);
    z->eta = (1.0 - wl_pow(2.0 / (double)n, 1.0 - theta)) / (1.0 - zeta2 / z->zetan);
    z->one_plus_half_pow = 1.0 + wl_pow(0.5, theta);
}

uint64_t wl_zipf_next(const wl_zipf *z, uint64_t r) {
    double u = (double)(r >> 11) * (1.0 / 9007199254740992.0); /* [0, 1), 53 bits */
    double uz = u * z->zetan;
    if (uz < 1.0)
        return 0;
    if (uz < z->one_plus_half_pow)
        return 1 < z->n ? 1 : 0;
    double v = (double)z->n * wl_pow(z->eta * u - z->eta + 1.0, z->alpha);
    uint64_t idx = (uint64_t)v;
    return idx < z->n ? idx : z->n - 1;
}

int wl_trace_build(wl_trace *tr, const wl_mix *m, wl_dist d, uint64_t nkeys, uint64_t seed,
                   unsigned t, size_t len) {
    tr->e = malloc(len * sizeof *tr->e);
    tr->len = len;
    if (!tr->e)
        return ENOMEM;
    uint64_t range = wl_key_range(m, nkeys);
    wl_zipf z;
    if (d == WL_ZIPF)
        wl_zipf_init(&z, range, WL_ZIPF_THETA);
    uint64_t state = seed + (uint64_t)(t + 1) * WL_STREAM_INC;
    for (size_t i = 0; i < len; i++) {
        uint64_t r1 = bench_splitmix64(&state);
        uint64_t r2 = bench_splitmix64(&state);
        uint64_t idx = d == WL_ZIPF ? wl_zipf_next(&z, r1) : wl_uniform(r1, range);
        unsigned bp = (unsigned)(((r2 >> 32) * 10000) >> 32);
        unsigned op;
        if (m->churn)
            op = bp < 5000 ? WL_INSERT : WL_DELETE;
        else
            op = bp < m->read_bp ? WL_READ : WL_UPDATE;
        tr->e[i] = (uint32_t)(op << WL_IDX_BITS) | (uint32_t)idx;
    }
    return 0;
}

void wl_trace_free(wl_trace *tr) {
    free(tr->e);
    tr->e = NULL;
    tr->len = 0;
}

uint64_t wl_trace_digest(const wl_trace *tr) {
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < tr->len; i++) {
        h ^= tr->e[i];
        h *= 0x100000001b3u;
    }
    return h;
}
