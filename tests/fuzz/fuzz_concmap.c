/*
 * fuzz_concmap.c — libFuzzer target: a sequence of sync.Map-style operations
 * on one thread-safe map (any variant in concmap_variants), checked against a
 * flat reference around every operation (fuzz_common.h: each key before it
 * is written; len and the touched keys after; the full table around a
 * clear and at the end).
 *
 * Input layout:
 *   byte 0   variant (index into concmap_variants, mod their number)
 *   byte 1   key kind (bits 0-1), hash mode (bits 2-4, mod HARD_HASH_MODES)
 *   byte 2   shard_bits option (mod 5)
 *   then     operations: opcode byte (low 4 bits: the operation; bit 4: high
 *            bit of the key id), key id byte, then the operation's bytes.
 * Single-threaded: this checks the sequential semantics of every method
 * (including ENOMEM paths, by injected allocation failures); the soak tool
 * and the family's tests cover concurrency.
 */
#include "fuzz_common.h"

struct fz_range_stop {
    enum hard_kind kind;
    const struct fz_ref *r;
    uint8_t seen[FZ_NIDS];
    size_t count, limit;
};

FZ_UNTRACED static bool fz_range_stop_fn(const void *key, const void *value, void *ctx) {
    struct fz_range_stop *s = (struct fz_range_stop *)ctx;
    uint32_t id = fz_entry_id(s->kind, 8, key, value);
    uint64_t v;
    memcpy(&v, value, 8);
    FUZZ_CHECK(s->r->present[id] && v == s->r->val[id], "range (early stop): key %u", id);
    FUZZ_CHECK(!s->seen[id], "range (early stop) visited key %u twice", id);
    FUZZ_CHECK(s->count < s->limit, "range went on after fn returned false");
    s->seen[id] = 1;
    return ++s->count < s->limit;
}

#ifdef GOMAP_FUZZ_PLANTED_BUG
/* GOMAP_FUZZ_PLANTED_BUG builds a copy of this target around a map that is
 * wrong on purpose, rarely, so that a test can show that the model checks
 * catch such a map (tests/fuzz/CMakeLists.txt, fuzz_concmap_planted*), as
 * fuzz_core's planted bugs do for the core map.  Once the map holds over 40
 * entries, on every store whose value's version is a multiple of 97,
 *   1  an overwrite of a present key is lost (the old value stays, and the
 *      store reports success);
 *   2  the store also flips a bit of the value of the key half the ids
 *      further on, a key the operation does not touch.
 * A store reports nothing, so only the comparisons with the reference can
 * see either.  Returns whether the store is to be dropped. */
static bool fz_planted_bug(concmap *m, enum hard_kind kind, const void *key, uint32_t id,
                           const struct fz_ref *r, uint64_t v) {
    if (concmap_len(m) <= 40 || (v >> 32) % 97 != 0)
        return false;
    if (GOMAP_FUZZ_PLANTED_BUG == 1)
        return concmap_load(m, key, NULL);
    const void *other = fz_key(kind, (id + r->nids / 2) % r->nids);
    uint64_t ov;
    if (concmap_load(m, other, &ov)) {
        ov ^= (uint64_t)1 << 40;
        (void)concmap_store(m, other, &ov); /* failing (ENOMEM) changes nothing */
    }
    return false;
}
#endif

/* Runs one allocating operation; returns its error code and updates the
 * reference only when it succeeded. */
static int fz_alloc_op(concmap *m, enum hard_kind kind, unsigned which, const void *key,
                       uint32_t id, struct fz_ref *r, uint8_t arg) {
    uint64_t v = fz_value(r, id), out = 0;
    bool flag = false;
    int rc;
    switch (which % 4) {
    case 0:
#ifdef GOMAP_FUZZ_PLANTED_BUG
        if (fz_planted_bug(m, kind, key, id, r, v)) {
            fz_ref_set(r, id, v); /* the store reports success */
            return 0;
        }
#else
        (void)kind;
#endif
        rc = concmap_store(m, key, &v);
        if (rc == 0)
            fz_ref_set(r, id, v);
        return rc;
    case 1:
        rc = concmap_load_or_store(m, key, &v, &out, &flag);
        if (rc == 0) {
            FUZZ_CHECK(flag == r->present[id], "load_or_store %u: loaded %d", id, flag);
            if (!flag)
                fz_ref_set(r, id, v);
            FUZZ_CHECK(out == r->val[id], "load_or_store %u: actual value", id);
        }
        return rc;
    case 2:
        rc = concmap_swap(m, key, &v, &out, &flag);
        if (rc == 0) {
            FUZZ_CHECK(flag == r->present[id], "swap %u: loaded %d", id, flag);
            if (flag)
                FUZZ_CHECK(out == r->val[id], "swap %u: previous value", id);
            fz_ref_set(r, id, v);
        }
        return rc;
    default: {
        uint64_t old = (arg & 1) && r->present[id] ? r->val[id] : v ^ 1;
        rc = concmap_compare_and_swap(m, key, &old, &v, &flag);
        if (rc == 0) {
            bool want = r->present[id] && r->val[id] == old;
            FUZZ_CHECK(flag == want, "compare_and_swap %u: swapped %d, expected %d", id, flag,
                       want);
            if (flag) /* swapped: present */
                fz_ref_set(r, id, v);
        }
        return rc;
    }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct fz_in in = {data, size};
    const char *kindname = concmap_variants[fz_u8(&in) % fz_nkinds()];
    uint8_t h = fz_u8(&in);
    enum hard_kind kind = (enum hard_kind)(h & 3);
    enum hard_hash_mode mode = (enum hard_hash_mode)(((h >> 2) & 7) % HARD_HASH_MODES);
    concmap_options opts = {.shard_bits = fz_u8(&in) % 5u};

    struct hard_alloc a;
    gomap_allocator hook;
    hard_alloc_init(&a, &hook);
    struct hard_hash_ctx hctx;
    gomap_config cfg;
    hard_config(&cfg, kind, mode, &hctx, 8, &hook);

    concmap *m = NULL;
    int rc = concmap_new(&m, kindname, &cfg, &opts);
    FUZZ_CHECK(rc == 0 && m, "concmap_new(%s): %d", kindname, rc);

    static struct fz_ref r;
    memset(&r, 0, sizeof r);
    r.nids = fz_nids_for_variant(kindname, mode);
    size_t ops = 0;
    while (fz_more(&in) && ops++ < 2000) {
        uint8_t op;
        uint32_t id = fz_next_op(&in, &op, r.nids);
        const void *key = fz_key(kind, id);
        const char *what = "?";
        uint64_t out = 0;
        /* what to check afterwards: the whole table, or keys id, id + 1, ...
         * (n of them) */
        bool full = false;
        uint32_t n = 1;
        /* every operation but the loads and ranges writes the key: compare
         * it first (load_and_delete, swap and load_or_store compare what
         * they return, the others only report presence) */
        unsigned o = op & 15;
        if (o <= 7 || o == 11 || o == 12)
            fz_check_concmap_id(m, kind, &r, id, "an earlier operation");
        switch (o) {
        case 0:
        case 1:
            what = "store";
            rc = fz_alloc_op(m, kind, 0, key, id, &r, 0);
            FUZZ_CHECK(rc == 0, "store: %d", rc);
            break;
        case 2:
            what = "load_or_store";
            rc = fz_alloc_op(m, kind, 1, key, id, &r, 0);
            FUZZ_CHECK(rc == 0, "load_or_store: %d", rc);
            break;
        case 3:
            what = "swap";
            rc = fz_alloc_op(m, kind, 2, key, id, &r, 0);
            FUZZ_CHECK(rc == 0, "swap: %d", rc);
            break;
        case 4:
            what = "compare_and_swap";
            rc = fz_alloc_op(m, kind, 3, key, id, &r, fz_u8(&in));
            FUZZ_CHECK(rc == 0, "compare_and_swap: %d", rc);
            break;
        case 5:
            what = "load_and_delete";
            FUZZ_CHECK(concmap_load_and_delete(m, key, &out) == r.present[id], "load_and_delete %u",
                       id);
            if (r.present[id])
                FUZZ_CHECK(out == r.val[id], "load_and_delete %u: value", id);
            fz_ref_del(&r, id);
            break;
        case 6:
            what = "delete";
            concmap_delete(m, key);
            fz_ref_del(&r, id);
            break;
        case 7: {
            what = "compare_and_delete";
            uint64_t old = (fz_u8(&in) & 1) && r.present[id] ? r.val[id] : r.val[id] ^ 2;
            bool want = r.present[id] && r.val[id] == old;
            FUZZ_CHECK(concmap_compare_and_delete(m, key, &old) == want, "compare_and_delete %u",
                       id);
            if (want)
                fz_ref_del(&r, id);
            break;
        }
        case 8:
            what = "range";
            fz_check_concmap_range(m, kind, &r);
            break;
        case 9: {
            what = "range with early stop";
            static struct fz_range_stop s;
            memset(&s, 0, sizeof s);
            s.kind = kind;
            s.r = &r;
            s.limit = 1 + fz_u8(&in) % 16;
            concmap_range(m, fz_range_stop_fn, &s);
            size_t want = r.n < s.limit ? r.n : s.limit;
            FUZZ_CHECK(s.count == want, "range (early stop) visited %zu, expected %zu", s.count,
                       want);
            break;
        }
        case 10:
            what = "clear";
            if (fz_u8(&in) < 24) {
                /* the clear erases every key's state: compare it first */
                fz_check_concmap_whole(m, kind, &r, "an earlier operation");
                concmap_clear(m);
                fz_ref_clear(&r);
                full = true;
            }
            break;
        case 11:
        case 12: {
            what = "operation with a failing allocation";
            uint8_t sub = fz_u8(&in);
            hard_fail_nth(&a, 1 + sub % 8);
            atomic_store(&a.failed, 0);
            rc = fz_alloc_op(m, kind, sub >> 3, key, id, &r, sub >> 5);
            bool injected = hard_failed(&a) > 0;
            hard_fail_off(&a);
            FUZZ_CHECK(rc == 0 || (rc == ENOMEM && injected), "%s: returned %d", what, rc);
            break;
        }
        case 13: {
            what = "bulk store";
            n = fz_u8(&in);
            if (n > r.nids) /* more would only store the same keys again */
                n = r.nids;
            /* one concmap_store_many of keys id, id + 1, ... (distinct): a
             * cowmap copies itself once for the batch, not once per key */
            static unsigned char keys[FZ_NIDS * HARD_BYTES_KEY_SIZE];
            static uint64_t vals[FZ_NIDS];
            size_t stride = fz_key_stride(kind);
            for (uint32_t i = 0; i < n; i++) {
                uint32_t j = (id + i) % r.nids;
                fz_check_concmap_id(m, kind, &r, j, "an earlier operation");
                memcpy(keys + i * stride, fz_key(kind, j), stride);
                vals[i] = fz_value(&r, j);
            }
            rc = concmap_store_many(m, n, keys, vals);
            FUZZ_CHECK(rc == 0, "bulk store: %d", rc);
            for (uint32_t i = 0; i < n; i++)
                fz_ref_set(&r, (id + i) % r.nids, vals[i]);
            break;
        }
        default:
            what = "load";
            FUZZ_CHECK(concmap_load(m, key, &out) == r.present[id], "load %u", id);
            if (r.present[id])
                FUZZ_CHECK(out == r.val[id], "load %u: value", id);
            break;
        }
        fz_ops += n;
        if (full) {
            fz_check_concmap_whole(m, kind, &r, what);
            fz_ref_compared(&r);
        } else
            fz_check_concmap_run(m, kind, &r, id, n, what);
    }
    fz_check_concmap_whole(m, kind, &r, "the last operation");
    concmap_free(m);
    FUZZ_CHECK(hard_live(&a) == 0, "%s: %lld bytes leaked", kindname, hard_live(&a));
    FUZZ_CHECK(atomic_load(&a.bad_frees) == 0, "%s: frees with a wrong size", kindname);
    return 0;
}
