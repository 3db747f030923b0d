/*
 * fuzz_common.h — what the fuzz targets share: a cursor over the input bytes,
 * a flat reference map indexed by key id, and the differential checks that
 * compare a gomap or a concmap against it.
 *
 * A failed check prints what differed and aborts, which libFuzzer reports as
 * a crash (and saves the input) and the replay test reports as a failure.
 *
 * The idea of checking a table against a flat prediction after every
 * operation follows OpenSSL's fuzz/hashtable.c; the code is our own.
 */
#ifndef GOMAP_FUZZ_COMMON_H
#define GOMAP_FUZZ_COMMON_H

#include "hard_util.h"

#include <gomap/concmap.h>

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz check failed at %s:%d: %s\n  ", __FILE__, __LINE__, #cond);      \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* The checking code (the key tables and the comparisons with the reference)
 * gets no coverage instrumentation in the fuzz build (untraced.txt, passed
 * as -fsanitize-coverage-ignorelist): its branches say whether the map
 * agreed with the reference, not which path the input took, and its
 * comparisons are of map results, never of input bytes, so neither its
 * edges nor its comparison hints help the fuzzer, and they cost a third of
 * its time.  Kept out of line, so that the instrumented callers do not take
 * it back in; ASan and UBSan check it as everything else. */
#define FZ_UNTRACED __attribute__((noinline, unused))

/* ---- input cursor ---------------------------------------------------------- */

struct fz_in {
    const uint8_t *p;
    size_t n;
};

static inline bool fz_more(const struct fz_in *in) {
    return in->n > 0;
}
/* The next byte, or 0 once the input is exhausted (so decoding never fails). */
static inline uint8_t fz_u8(struct fz_in *in) {
    if (in->n == 0)
        return 0;
    in->n--;
    return *in->p++;
}

/* Key ids run over [0, FZ_NIDS).  Values are 8 bytes: the low 32 bits hold
 * the key's id and the high 32 bits a version, so an entry returned by
 * iteration names its key, and a stale value is told from the current one. */
enum { FZ_NIDS = 512 };

/* Key ids of a map whose user hash collides on purpose (constant, low3,
 * top8: one long chain, or a few): every lookup there walks the chain, so
 * with FZ_NIDS keys each check would cost thousands of key comparisons and
 * an input tens of milliseconds.  64 keys still make chains of 8 overflow
 * buckets, grow the map through several sizes and same-size regrowths, and
 * fill tophash-equal runs: the same code paths, at a cost that lets the
 * fuzzer run thousands of inputs a second. */
enum { FZ_NIDS_COLLIDING = 64 };

static inline uint32_t fz_nids_for(enum hard_hash_mode mode) {
    return mode == HARD_HASH_BUILTIN || mode == HARD_HASH_USER_GOOD ? FZ_NIDS : FZ_NIDS_COLLIDING;
}

/* A cowmap copies the whole map on every write, so at FZ_NIDS keys each
 * write costs hundreds of allocations; its own code (copy, publish, retire,
 * pacing) runs the same with FZ_NIDS_COLLIDING keys (a map of several
 * sizes), and fuzz_core drives the copied core map at FZ_NIDS. */
static inline uint32_t fz_nids_for_variant(const char *variant, enum hard_hash_mode mode) {
    return strcmp(variant, "cow") == 0 ? FZ_NIDS_COLLIDING : fz_nids_for(mode);
}

/* Decodes an operation: an opcode byte (low 4 bits the operation, bit 4 the
 * key id's high bit) and the key id's low byte.  Returns the key id, below
 * nids. */
static inline uint32_t fz_next_op(struct fz_in *in, uint8_t *op, uint32_t nids) {
    *op = fz_u8(in);
    return ((uint32_t)(*op >> 4 & 1) << 8 | fz_u8(in)) % nids;
}

/* ---- work per input ---------------------------------------------------------- */

/* The map operations the inputs asked for: one per operation decoded, one
 * per key of a bulk operation, and in fuzz_iter one per entry an iteration
 * or range returned and one per write it made.  The checks' own lookups are
 * not counted.  A fuzzer prints the total at exit (stat::map_operations,
 * beside libFuzzer's stat::number_of_executed_units), so that a rate of
 * executions per second can be read with the work each execution did:
 * tools/fuzz.sh prints both.  Unused in a test that borrows only the
 * model and the key helpers (hard_alloc). */
__attribute__((unused)) static unsigned long long fz_ops;

#ifdef GOMAP_FUZZ_STATS
__attribute__((destructor)) static void fz_print_ops(void) {
    fprintf(stderr, "stat::map_operations: %llu\n", fz_ops);
}
#endif

/* ---- keys ------------------------------------------------------------------- */

/* The key of each id, built once for every kind before main (hard_key_make
 * formats strings with snprintf: building keys took a fifth of the fuzzers'
 * time), so that fz_key is a load from a table, with no branch and no call:
 * the checks fetch a key for every lookup they make.  The storage is
 * static, so a string key's bytes stay put. */
static struct hard_key fz_key_store[HARD_KINDS][FZ_NIDS];
static const void *fz_key_tab[HARD_KINDS][FZ_NIDS];

__attribute__((constructor)) FZ_UNTRACED static void fz_key_build(void) {
    for (int kind = 0; kind < HARD_KINDS; kind++)
        for (uint32_t id = 0; id < FZ_NIDS; id++)
            fz_key_tab[kind][id] = hard_key_make(&fz_key_store[kind][id], (enum hard_kind)kind, id);
}

static inline const void *fz_key(enum hard_kind kind, uint32_t id) {
    return fz_key_tab[kind][id];
}

/* The size of one key of the kind in a key array (concmap_store_many). */
static inline size_t fz_key_stride(enum hard_kind kind) {
    static const size_t stride[HARD_KINDS] = {sizeof(uint64_t), sizeof(uint32_t), sizeof(gomap_str),
                                              HARD_BYTES_KEY_SIZE};
    return stride[kind];
}

FZ_UNTRACED static uint64_t fz_int_key_of(enum hard_kind kind, const void *key) {
    if (kind == HARD_U64) {
        uint64_t k;
        memcpy(&k, key, 8);
        return k;
    }
    uint32_t k;
    memcpy(&k, key, 4);
    return k;
}

/* Integer keys scramble their id (hard_mix), so an id is found from its key
 * in a table built once per kind: open addressing over the key's low bits
 * (random, as hard_mix's output), FZ_INT_SLOTS slots for FZ_NIDS keys, so a
 * lookup reads one or two slots.  A slot holds id + 1 (0: empty). */
enum { FZ_INT_SLOTS = 4 * FZ_NIDS };

/* The id of a key of the map (UINT32_MAX if it is no id's key). */
FZ_UNTRACED static uint32_t fz_key_id(enum hard_kind kind, const void *key) {
    if (kind != HARD_U64 && kind != HARD_U32)
        return hard_key_id(kind, key, FZ_NIDS);
    static uint16_t slots[2][FZ_INT_SLOTS];
    static bool built[2];
    uint16_t *t = slots[kind == HARD_U32];
    if (!built[kind == HARD_U32]) {
        for (uint32_t id = 0; id < FZ_NIDS; id++) {
            uint64_t k = fz_int_key_of(kind, fz_key(kind, id));
            size_t i = k % FZ_INT_SLOTS;
            while (t[i])
                i = (i + 1) % FZ_INT_SLOTS;
            t[i] = (uint16_t)(id + 1);
        }
        built[kind == HARD_U32] = true;
    }
    uint64_t k = fz_int_key_of(kind, key);
    for (size_t i = k % FZ_INT_SLOTS; t[i]; i = (i + 1) % FZ_INT_SLOTS)
        if (fz_int_key_of(kind, fz_key(kind, t[i] - 1u)) == k)
            return t[i] - 1u;
    return UINT32_MAX;
}

/* ---- reference -------------------------------------------------------------- */

struct fz_ref {
    uint32_t nids; /* ids in use: FZ_NIDS, or fewer (fz_nids_for) */
    bool present[FZ_NIDS];
    uint64_t val[FZ_NIDS];
    /* written[id]: id was stored, overwritten or deleted since the live map
     * was last compared whole (fz_ref_compared; all false for a new map).
     * The whole-table checks look these ids up beside the present ones. */
    bool written[FZ_NIDS];
    size_t n;
    uint32_t version;
};

static inline uint64_t fz_value(struct fz_ref *r, uint32_t id) {
    return (uint64_t)++r->version << 32 | id;
}

FZ_UNTRACED static void fz_ref_set(struct fz_ref *r, uint32_t id, uint64_t v) {
    if (!r->present[id])
        r->n++;
    r->present[id] = true;
    r->val[id] = v;
    r->written[id] = true;
}

FZ_UNTRACED static bool fz_ref_del(struct fz_ref *r, uint32_t id) {
    if (!r->present[id])
        return false;
    r->present[id] = false;
    r->written[id] = true;
    r->n--;
    return true;
}

FZ_UNTRACED static void fz_ref_clear(struct fz_ref *r) {
    for (uint32_t id = 0; id < r->nids; id++)
        r->written[id] |= r->present[id];
    memset(r->present, 0, sizeof r->present);
    r->n = 0;
}

/* The live map has just been compared whole with the reference. */
static inline void fz_ref_compared(struct fz_ref *r) {
    memset(r->written, 0, sizeof r->written);
}

/* Whether a key of the map equals the key of id. */
FZ_UNTRACED static bool fz_key_is(enum hard_kind kind, const void *key, uint32_t id) {
    /* The context hard_user_equal reads is a static table, not a local: a
     * local whose address is passed on gets ASan's fake stack frame (for
     * use-after-return checks) on every call, and this runs for every
     * entry an iteration or range returns.  The table is never written. */
    static struct hard_hash_ctx ctx[HARD_KINDS] = {
        [HARD_U64] = {HARD_U64, HARD_HASH_BUILTIN},
        [HARD_U32] = {HARD_U32, HARD_HASH_BUILTIN},
        [HARD_STRING] = {HARD_STRING, HARD_HASH_BUILTIN},
        [HARD_BYTES] = {HARD_BYTES, HARD_HASH_BUILTIN},
    };
    return hard_user_equal(key, fz_key(kind, id), &ctx[kind]);
}

/* ---- checks against a gomap ------------------------------------------------- */

FZ_UNTRACED static void fz_check_gomap_id(const gomap *m, enum hard_kind kind, size_t value_size,
                                          const struct fz_ref *r, uint32_t id, const char *after) {
    const void *v = gomap_get(m, fz_key(kind, id));
    if (r->present[id]) {
        FUZZ_CHECK(v != NULL, "after %s: key %u missing", after, id);
        if (value_size == 8) {
            uint64_t got;
            memcpy(&got, v, 8);
            FUZZ_CHECK(got == r->val[id], "after %s: key %u value %llx, reference %llx", after, id,
                       (unsigned long long)got, (unsigned long long)r->val[id]);
        }
    } else {
        FUZZ_CHECK(v == NULL, "after %s: key %u present, reference absent", after, id);
    }
}

/* Every id: present with the right value, or absent; and len. */
FZ_UNTRACED static void fz_check_gomap(const gomap *m, enum hard_kind kind, size_t value_size,
                                       const struct fz_ref *r, const char *after) {
    FUZZ_CHECK(gomap_len(m) == r->n, "after %s: len %zu, reference %zu", after, gomap_len(m), r->n);
    for (uint32_t id = 0; id < r->nids; id++)
        fz_check_gomap_id(m, kind, value_size, r, id, after);
}

/* The checks are incremental (docs/hardening.md argues that they catch
 * every divergence the full comparison after every operation caught, in
 * the same input):
 *   - before an operation writes a key, that key is compared (its state
 *     before the write), so a wrong entry is caught before a write could
 *     overwrite it;
 *   - after every operation, len and each key the operation touched;
 *   - the whole table (fz_check_gomap_whole: len, a lookup of each id
 *     present or written since the last whole comparison, and a full
 *     iteration) before and after a clear, after a shrink that ran, on a
 *     clone's copy, and at the end of every input, when the map is freed.
 * A key the operation did not touch is not looked up after it: a wrong
 * entry there stays wrong until one of the points above, which sees it. */
FZ_UNTRACED static void fz_check_gomap_step(const gomap *m, enum hard_kind kind, size_t value_size,
                                            const struct fz_ref *r, uint32_t touched,
                                            const char *after) {
    FUZZ_CHECK(gomap_len(m) == r->n, "after %s: len %zu, reference %zu", after, gomap_len(m), r->n);
    fz_check_gomap_id(m, kind, value_size, r, touched, after);
}

/* The id of an entry returned by iteration (from its value when values
 * carry ids, else from the key), checked against the key. */
FZ_UNTRACED static uint32_t fz_entry_id(enum hard_kind kind, size_t value_size, const void *key,
                                        const void *value) {
    uint32_t id;
    if (value_size == 8) {
        uint64_t v;
        memcpy(&v, value, 8);
        id = (uint32_t)v;
    } else {
        id = fz_key_id(kind, key);
    }
    FUZZ_CHECK(id < FZ_NIDS && fz_key_is(kind, key, id), "iteration returned a foreign key (id %u)",
               id);
    return id;
}

/* A full iteration without writes returns exactly the reference's entries. */
FZ_UNTRACED static void fz_check_gomap_iter(const gomap *m, enum hard_kind kind, size_t value_size,
                                            const struct fz_ref *r) {
    static uint8_t seen[FZ_NIDS];
    memset(seen, 0, sizeof seen);
    gomap_iter it;
    gomap_iter_init(&it, m);
    const void *key;
    void *value;
    size_t count = 0;
    while (gomap_iter_next(&it, &key, &value)) {
        uint32_t id = fz_entry_id(kind, value_size, key, value);
        FUZZ_CHECK(r->present[id], "iteration returned absent key %u", id);
        FUZZ_CHECK(!seen[id], "iteration returned key %u twice", id);
        if (value_size == 8) {
            uint64_t v;
            memcpy(&v, value, 8);
            FUZZ_CHECK(v == r->val[id], "iteration: key %u stale value", id);
        }
        seen[id] = 1;
        count++;
    }
    FUZZ_CHECK(count == r->n, "iteration returned %zu entries, reference %zu", count, r->n);
}

/* The whole table, without looking up every id: len; by lookup, each id
 * present in the reference or written since the live map was last compared
 * whole; and a full iteration, which must return exactly the reference's
 * entries with their values.  Together they see every divergence the lookup
 * of every id saw (docs/hardening.md): the iteration sees each entry's
 * presence and value, so an id left out of the lookups (absent since the
 * last whole comparison) differs only if a lookup would find an entry that
 * neither the iteration nor len counts.  For 512 ids and a map of a few
 * dozen keys this is a fraction of the lookups. */
FZ_UNTRACED static void fz_check_gomap_whole(const gomap *m, enum hard_kind kind, size_t value_size,
                                             const struct fz_ref *r, const char *after) {
    FUZZ_CHECK(gomap_len(m) == r->n, "after %s: len %zu, reference %zu", after, gomap_len(m), r->n);
    for (uint32_t id = 0; id < r->nids; id++)
        if (r->present[id] || r->written[id])
            fz_check_gomap_id(m, kind, value_size, r, id, after);
    fz_check_gomap_iter(m, kind, value_size, r);
}

/* ---- checks against a concmap ----------------------------------------------- */

/* The comparison of one id, loading into the caller's *got.  The checks
 * that compare many ids in a loop pass one variable for all of them: a local
 * whose address is passed on gets an ASan fake stack frame (for
 * use-after-return checks) each time its function is entered, so a
 * function per id made one frame per id.  Inlined only into untraced
 * functions (untraced.txt), so it adds no coverage. */
__attribute__((always_inline)) static inline void
fz_check_concmap_id_to(concmap *m, enum hard_kind kind, const struct fz_ref *r, uint32_t id,
                       const char *after, uint64_t *got) {
    *got = 0;
    bool ok = concmap_load(m, fz_key(kind, id), got);
    FUZZ_CHECK(ok == r->present[id], "%s after %s: key %u present %d, reference %d",
               concmap_variant(m), after, id, ok, r->present[id]);
    if (ok)
        FUZZ_CHECK(*got == r->val[id], "%s after %s: key %u value %llx, reference %llx",
                   concmap_variant(m), after, id, (unsigned long long)*got,
                   (unsigned long long)r->val[id]);
}

FZ_UNTRACED static void fz_check_concmap_id(concmap *m, enum hard_kind kind, const struct fz_ref *r,
                                            uint32_t id, const char *after) {
    uint64_t got;
    fz_check_concmap_id_to(m, kind, r, id, after, &got);
}

FZ_UNTRACED static void fz_check_concmap(concmap *m, enum hard_kind kind, const struct fz_ref *r,
                                         const char *after) {
    FUZZ_CHECK(concmap_len(m) == r->n, "%s after %s: len %zu, reference %zu", concmap_variant(m),
               after, concmap_len(m), r->n);
    uint64_t got;
    for (uint32_t id = 0; id < r->nids; id++)
        fz_check_concmap_id_to(m, kind, r, id, after, &got);
}

/* len and the keys of ids first, first + step, ... (n of them, mod nids:
 * the keys a bulk operation touched; with step 3 and 512 or 64 ids, n
 * distinct keys up to nids). */
FZ_UNTRACED static void fz_check_gomap_run(const gomap *m, enum hard_kind kind, size_t value_size,
                                           const struct fz_ref *r, uint32_t first, uint32_t n,
                                           uint32_t step, const char *after) {
    for (uint32_t i = 1; i < n && i < r->nids; i++) /* i = 0: in the step check */
        fz_check_gomap_id(m, kind, value_size, r, (first + i * step) % r->nids, after);
    fz_check_gomap_step(m, kind, value_size, r, first, after);
}

/* As fz_check_gomap_step. */
FZ_UNTRACED static void fz_check_concmap_step(concmap *m, enum hard_kind kind,
                                              const struct fz_ref *r, uint32_t touched,
                                              const char *after) {
    FUZZ_CHECK(concmap_len(m) == r->n, "%s after %s: len %zu, reference %zu", concmap_variant(m),
               after, concmap_len(m), r->n);
    fz_check_concmap_id(m, kind, r, touched, after);
}

/* As fz_check_gomap_run. */
FZ_UNTRACED static void fz_check_concmap_run(concmap *m, enum hard_kind kind,
                                             const struct fz_ref *r, uint32_t first, uint32_t n,
                                             const char *after) {
    uint64_t got;
    for (uint32_t i = 1; i < n && i < r->nids; i++) /* i = 0: in the step check */
        fz_check_concmap_id_to(m, kind, r, (first + i) % r->nids, after, &got);
    fz_check_concmap_step(m, kind, r, first, after);
}

struct fz_range_all {
    enum hard_kind kind;
    const struct fz_ref *r;
    uint8_t seen[FZ_NIDS];
    size_t count;
};

FZ_UNTRACED static bool fz_range_all_fn(const void *key, const void *value, void *ctx) {
    struct fz_range_all *a = (struct fz_range_all *)ctx;
    uint32_t id = fz_entry_id(a->kind, 8, key, value);
    uint64_t v;
    memcpy(&v, value, 8);
    FUZZ_CHECK(a->r->present[id], "range returned absent key %u", id);
    FUZZ_CHECK(!a->seen[id], "range returned key %u twice", id);
    FUZZ_CHECK(v == a->r->val[id], "range: key %u stale value", id);
    a->seen[id] = 1;
    a->count++;
    return true;
}

/* A full range without writes visits exactly the reference's entries. */
FZ_UNTRACED static void fz_check_concmap_range(concmap *m, enum hard_kind kind,
                                               const struct fz_ref *r) {
    static struct fz_range_all a;
    memset(&a, 0, sizeof a);
    a.kind = kind;
    a.r = r;
    concmap_range(m, fz_range_all_fn, &a);
    FUZZ_CHECK(a.count == r->n, "%s: range visited %zu, reference %zu", concmap_variant(m), a.count,
               r->n);
}

/* As fz_check_gomap_whole, with a range for the iteration. */
FZ_UNTRACED static void fz_check_concmap_whole(concmap *m, enum hard_kind kind,
                                               const struct fz_ref *r, const char *after) {
    FUZZ_CHECK(concmap_len(m) == r->n, "%s after %s: len %zu, reference %zu", concmap_variant(m),
               after, concmap_len(m), r->n);
    uint64_t got;
    for (uint32_t id = 0; id < r->nids; id++)
        if (r->present[id] || r->written[id])
            fz_check_concmap_id_to(m, kind, r, id, after, &got);
    fz_check_concmap_range(m, kind, r);
}

static inline size_t fz_nkinds(void) {
    size_t n = 0;
    while (concmap_variants[n])
        n++;
    return n;
}

#endif /* GOMAP_FUZZ_COMMON_H */
