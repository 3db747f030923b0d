/*
 * fuzz_iter.c — libFuzzer target for the iteration rules: iterate a gomap
 * (or range over a concmap) while the input mutates the map between steps
 * (inside the range callback for a concmap).
 *
 * gomap, Go's rules (runtime/map.go, the language spec):
 *   - an entry present for the whole iteration is returned exactly once;
 *   - an entry deleted before it is reached is not returned: every returned
 *     entry is live when returned, with its current value;
 *   - an entry added during the iteration is returned at most once (a key
 *     deleted and re-added may legitimately come back: it is a new entry).
 * concmap, sync.Map's Range rules: no key is visited more than once; a key
 *   not written during the range and present at its start is visited exactly
 *   once with its value; a written key may show any value it had during the
 *   range (never one older than at the start).
 *
 * Input layout: byte 0 bit 7 chooses gomap (0) or concmap (1); bits 0-1 key
 * kind; bits 2-4 hash mode (gomap) / variant index (concmap).  Byte 1: the
 * prefill count / 2.  Then one action byte (and its operands) per step.
 */
#include "fuzz_common.h"

struct fz_iter_state {
    struct fz_in *in;
    enum hard_kind kind;
    struct fz_ref *r;
    gomap *m; /* one of m, cm */
    concmap *cm;
    bool at_start[FZ_NIDS];
    uint32_t start_version[FZ_NIDS];
    uint32_t start_global;
    bool touched[FZ_NIDS]; /* deleted (or, for concmap, written) during the iteration */
    uint8_t returned[FZ_NIDS];
    bool written[FZ_NIDS]; /* stored or deleted during the round: checked after it */
};

/* Compares key id with the reference before it is written (fuzz_common.h's
 * incremental checks), and marks it for the check after the round. */
FZ_UNTRACED static void fz_it_before_write(struct fz_iter_state *s, uint32_t id) {
    if (s->m)
        fz_check_gomap_id(s->m, s->kind, 8, s->r, id, "an earlier operation");
    else
        fz_check_concmap_id(s->cm, s->kind, s->r, id, "an earlier operation");
    s->written[id] = true;
}

/* The whole table: after a round with a clear, and at the end. */
FZ_UNTRACED static void fz_it_check_all(struct fz_iter_state *s, const char *after) {
    if (s->m)
        fz_check_gomap(s->m, s->kind, 8, s->r, after);
    else
        fz_check_concmap(s->cm, s->kind, s->r, after);
}

/* Before a clear, which erases every key's state: the whole table is
 * compared, and every present key counts as touched and every key as
 * written.  (Untraced: the loop reads only the reference, 512 times per
 * clear, and its comparison tracing was a few percent of the target's
 * time.) */
FZ_UNTRACED static void fz_it_before_clear(struct fz_iter_state *s) {
    fz_it_check_all(s, "an earlier operation");
    for (uint32_t i = 0; i < FZ_NIDS; i++) {
        if (s->r->present[i])
            s->touched[i] = true;
        s->written[i] = true;
    }
}

static void fz_it_set(struct fz_iter_state *s, uint32_t id) {
    fz_it_before_write(s, id);
    fz_ops++;
    uint64_t v = fz_value(s->r, id);
    const void *key = fz_key(s->kind, id);
    int rc = s->m ? gomap_set(s->m, key, &v) : concmap_store(s->cm, key, &v);
    FUZZ_CHECK(rc == 0, "set during iteration: %d", rc);
    fz_ref_set(s->r, id, v);
    if (s->cm)
        s->touched[id] = true;
}

/* A concmap's many inserts inside a range: the absent keys of ids id,
 * id + 1, ... (n of them, each id once), each compared first, stored with
 * one concmap_store_many.  A cowmap then copies itself once for the batch,
 * not once per key (a copy of the whole map per key was most of the
 * target's time); single stores inside a range, with a copy each, are still
 * made by the other actions. */
static void fz_it_set_many(struct fz_iter_state *s, uint32_t id, uint32_t n) {
    static unsigned char keys[FZ_NIDS * HARD_BYTES_KEY_SIZE];
    static uint64_t vals[FZ_NIDS];
    static uint32_t ids[FZ_NIDS];
    uint32_t nids = s->r->nids, k = 0;
    size_t stride = fz_key_stride(s->kind);
    for (uint32_t i = 0; i < n && i < nids; i++) {
        uint32_t j = (id + i) % nids;
        if (s->r->present[j])
            continue;
        fz_it_before_write(s, j);
        memcpy(keys + k * stride, fz_key(s->kind, j), stride);
        vals[k] = fz_value(s->r, j);
        ids[k++] = j;
    }
    fz_ops += k;
    int rc = concmap_store_many(s->cm, k, keys, vals);
    FUZZ_CHECK(rc == 0, "bulk store during range: %d", rc);
    for (uint32_t i = 0; i < k; i++) {
        fz_ref_set(s->r, ids[i], vals[i]);
        s->touched[ids[i]] = true;
    }
}

static void fz_it_del(struct fz_iter_state *s, uint32_t id) {
    fz_it_before_write(s, id);
    fz_ops++;
    const void *key = fz_key(s->kind, id);
    if (s->m)
        FUZZ_CHECK(gomap_delete(s->m, key) == s->r->present[id], "delete during iteration");
    else
        concmap_delete(s->cm, key);
    fz_ref_del(s->r, id);
    s->touched[id] = true;
}

/* The first present key not yet returned, from id on (cyclically), or
 * UINT32_MAX.  Its search reads the reference, not the input. */
FZ_UNTRACED static uint32_t fz_it_unreached(const struct fz_iter_state *s, uint32_t id) {
    uint32_t nids = s->r->nids;
    for (uint32_t i = 0; i < nids; i++) {
        uint32_t j = (id + i) % nids;
        if (s->r->present[j] && !s->returned[j])
            return j;
    }
    return UINT32_MAX;
}

/* One mutation between steps, chosen by the input. */
static void fz_it_act(struct fz_iter_state *s, uint32_t just_returned) {
    uint8_t act = fz_u8(s->in);
    uint32_t nids = s->r->nids;
    uint32_t id = fz_u8(s->in) % nids;
    switch (act & 15) {
    case 4:
        fz_it_del(s, id);
        break;
    case 5: { /* delete a key not yet reached */
        uint32_t j = fz_it_unreached(s, id);
        if (j < nids)
            fz_it_del(s, j);
        break;
    }
    case 6: /* insert a new key */
        if (!s->r->present[id])
            fz_it_set(s, id);
        break;
    case 7: /* overwrite */
        if (s->r->present[id])
            fz_it_set(s, id);
        break;
    case 8: { /* many inserts: growth during the iteration */
        uint32_t n = fz_u8(s->in);
        if (s->cm)
            fz_it_set_many(s, id, n);
        else
            for (uint32_t i = 0; i < n; i++)
                if (!s->r->present[(id + i) % nids])
                    fz_it_set(s, (id + i) % nids);
        break;
    }
    case 9: {
        uint8_t c = fz_u8(s->in);
        if (c >= 16 && c < 64 && s->m) { /* shrink during the iteration */
            if (c & 1)
                gomap_auto_shrink(s->m, true);
            FUZZ_CHECK(gomap_shrink(s->m) == 0, "shrink during iteration");
        }
        if (c < 16) {
            fz_it_before_clear(s);
            if (s->m)
                gomap_clear(s->m);
            else
                concmap_clear(s->cm);
            fz_ref_clear(s->r);
        }
        break;
    }
    case 10:
        if (just_returned < FZ_NIDS)
            fz_it_del(s, just_returned);
        break;
    case 11: /* delete and re-add */
        fz_it_del(s, id);
        fz_it_set(s, id);
        break;
    default:
        break;
    }
}

/* The state at a round's start, from the reference (untraced: no branch
 * here depends on the input). */
FZ_UNTRACED static void fz_it_begin(struct fz_iter_state *s) {
    for (uint32_t i = 0; i < FZ_NIDS; i++) {
        s->at_start[i] = s->r->present[i];
        s->start_version[i] = (uint32_t)(s->r->val[i] >> 32);
    }
    s->start_global = s->r->version;
    memset(s->touched, 0, sizeof s->touched);
    memset(s->returned, 0, sizeof s->returned);
    memset(s->written, 0, sizeof s->written);
}

/* After a round: len, and every key written during it. */
FZ_UNTRACED static void fz_it_check_written(struct fz_iter_state *s, const char *after) {
    size_t len = s->m ? gomap_len(s->m) : concmap_len(s->cm);
    FUZZ_CHECK(len == s->r->n, "after %s: len %zu, reference %zu", after, len, s->r->n);
    uint64_t got;
    for (uint32_t i = 0; i < s->r->nids; i++) {
        if (!s->written[i])
            continue;
        if (s->m)
            fz_check_gomap_id(s->m, s->kind, 8, s->r, i, after);
        else
            fz_check_concmap_id_to(s->cm, s->kind, s->r, i, after, &got);
    }
}

FZ_UNTRACED static void fz_it_end(struct fz_iter_state *s, const char *what) {
    for (uint32_t i = 0; i < FZ_NIDS; i++)
        if (s->at_start[i] && !s->touched[i])
            FUZZ_CHECK(s->returned[i] == 1, "%s: key %u present throughout, returned %u times",
                       what, i, s->returned[i]);
}

/* The checks of one entry a gomap iteration returned; its id.  (The
 * comparisons here are of map results: untraced, as fuzz_common.h says.) */
FZ_UNTRACED static uint32_t fz_it_check_iter_entry(struct fz_iter_state *s, const void *key,
                                                   const void *value) {
    uint32_t id = fz_entry_id(s->kind, 8, key, value);
    uint64_t v;
    memcpy(&v, value, 8);
    FUZZ_CHECK(s->r->present[id], "iteration returned key %u, deleted before it was reached", id);
    FUZZ_CHECK(v == s->r->val[id], "iteration returned key %u with a stale value", id);
    FUZZ_CHECK(s->touched[id] || s->returned[id] == 0,
               "iteration returned key %u twice (never deleted)", id);
    if (s->returned[id] < 255)
        s->returned[id]++;
    return id;
}

/* As fz_it_check_iter_entry, for an entry a concmap range visited. */
FZ_UNTRACED static uint32_t fz_it_check_range_entry(struct fz_iter_state *s, const void *key,
                                                    const void *value) {
    uint32_t id = fz_entry_id(s->kind, 8, key, value);
    uint64_t v;
    memcpy(&v, value, 8);
    uint32_t ver = (uint32_t)(v >> 32);
    FUZZ_CHECK(!s->returned[id], "range visited key %u twice", id);
    s->returned[id] = 1;
    if (!s->touched[id]) {
        FUZZ_CHECK(s->r->present[id] && v == s->r->val[id], "range: untouched key %u value", id);
    } else {
        FUZZ_CHECK(s->at_start[id] ? ver >= s->start_version[id] : ver > s->start_global,
                   "range: key %u shows a value older than the range", id);
    }
    return id;
}

static bool fz_range_fn(const void *key, const void *value, void *ctx) {
    struct fz_iter_state *s = (struct fz_iter_state *)ctx;
    fz_ops++;
    fz_it_act(s, fz_it_check_range_entry(s, key, value));
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct fz_in in = {data, size};
    uint8_t h = fz_u8(&in);
    enum hard_kind kind = (enum hard_kind)(h & 3);
    bool conc = h & 0x80;
    unsigned sel = (h >> 2) & 7;
    uint32_t prefill = (uint32_t)fz_u8(&in) * 2;

    struct hard_alloc a;
    gomap_allocator hook;
    hard_alloc_init(&a, &hook);
    struct hard_hash_ctx hctx;
    gomap_config cfg;
    enum hard_hash_mode mode =
        conc ? HARD_HASH_BUILTIN : (enum hard_hash_mode)(sel % HARD_HASH_MODES);
    hard_config(&cfg, kind, mode, &hctx, 8, &hook);

    static struct fz_ref r;
    memset(&r, 0, sizeof r);
    const char *variant = concmap_variants[sel % fz_nkinds()];
    r.nids = conc ? fz_nids_for_variant(variant, mode) : fz_nids_for(mode);
    static struct fz_iter_state s;
    memset(&s, 0, sizeof s);
    s.in = &in;
    s.kind = kind;
    s.r = &r;
    int rc = conc ? concmap_new(&s.cm, variant, &cfg, NULL) : gomap_new(&s.m, &cfg);
    FUZZ_CHECK(rc == 0, "new: %d", rc);
    for (uint32_t i = 0; i < prefill && i < r.nids; i++)
        fz_it_set(&s, (uint32_t)(hard_mix(i) % r.nids));

    for (int round = 0; fz_more(&in) && round < 16; round++) {
        fz_it_begin(&s);
        if (conc) {
            concmap_range(s.cm, fz_range_fn, &s);
            fz_it_end(&s, "range");
            fz_it_check_written(&s, "range with writes");
            continue;
        }
        gomap_iter it;
        gomap_iter_init(&it, s.m);
        const void *key;
        void *value;
        while (gomap_iter_next(&it, &key, &value)) {
            fz_ops++;
            fz_it_act(&s, fz_it_check_iter_entry(&s, key, value));
        }
        fz_it_end(&s, "iteration");
        fz_it_check_written(&s, "iteration with writes");
    }
    fz_it_check_all(&s, "the last round");
    if (conc)
        concmap_free(s.cm);
    else
        gomap_free(s.m);
    FUZZ_CHECK(hard_live(&a) == 0, "%lld bytes leaked", hard_live(&a));
    return 0;
}
