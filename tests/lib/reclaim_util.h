/*
 * reclaim_util.h — a counting allocator hook for the syncmap/cowmap tests.
 *
 * Thread-safe (frees arrive from liburcu's call_rcu thread).  Every block
 * carries a header with a live mark and its size: a free of a block that is
 * not live (double free) or with the wrong size is counted in `bad` instead
 * of being passed on.  Freed bytes are overwritten with 0xDD first, so a
 * reader that touches a value freed too early sees garbage its checksum
 * rejects, even in the build without AddressSanitizer.
 */
#ifndef GOMAP_TESTS_RECLAIM_UTIL_H
#define GOMAP_TESTS_RECLAIM_UTIL_H

#include <gomap/gomap.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct tally {
    atomic_long allocs, frees, live_bytes, bad;
    atomic_long peak_bytes; /* the most live_bytes has been (reset by a store) */
    gomap_allocator hook;
};

enum { TALLY_LIVE = 0x11u, TALLY_DEAD = 0xdeu };

struct tally_hdr {
    uint64_t mark;
    uint64_t size;
};

void *tally_alloc(size_t size, void *ctx);

void tally_free(void *p, size_t size, void *ctx);

void tally_init(struct tally *t);

/* A 16-byte value that proves its own integrity: check = f(key, seq). */
struct tval {
    uint64_t seq;
    uint64_t check;
};

static inline uint64_t tval_check(uint64_t key, uint64_t seq) {
    return (key * 0x9e3779b97f4a7c15u) ^ (seq * 0xc2b2ae3d27d4eb4fu) ^ 0x5bd1e995u;
}

static inline struct tval tval_make(uint64_t key, uint64_t seq) {
    struct tval v = {seq, tval_check(key, seq)};
    return v;
}

static inline int tval_ok(uint64_t key, const struct tval *v) {
    return v->check == tval_check(key, v->seq);
}

static inline uint64_t tally_rng(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

#endif /* GOMAP_TESTS_RECLAIM_UTIL_H */
