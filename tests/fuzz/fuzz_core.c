/*
 * fuzz_core.c — libFuzzer target: a sequence of operations on one gomap,
 * checked against a flat reference around every operation (fuzz_common.h:
 * each key before it is written; len and the touched keys after; the full
 * table around a clear, after a shrink, on a clone's copy and at the end).
 *
 * Input layout:
 *   byte 0   key kind (bits 0-1), hash mode (bits 2-4, mod HARD_HASH_MODES),
 *            value size 0 instead of 8 (bit 5)
 *   byte 1   size hint / 4 (0: none)
 *   then     operations: one opcode byte (low 4 bits: the operation; bit 4:
 *            the high bit of the key id), then the operation's bytes.
 * Allocation failures are injected on request (opcodes 13, 14), so the
 * ENOMEM paths are fuzzed together with everything else.
 */
#include "fuzz_common.h"

/* GOMAP_FUZZ_PLANTED_BUG builds a copy of this target around a map that is
 * wrong on purpose, rarely, so that a test can show that the model checks
 * catch such a map (tests/fuzz/CMakeLists.txt, fuzz_core_planted*).  Both
 * bugs change only values, which no operation's own result reveals (get,
 * contains and delete report presence): only the comparisons with the
 * reference can.  Once the map holds over 40 entries, on every write whose
 * value's version is a multiple of 97,
 *   1  an overwrite of a present key is lost (the old value stays);
 *   2  the write also changes the value of the key 100 ids further on, a key
 *      the operation does not touch (only the check before that key's next
 *      write or a whole-table comparison can see it). */
/* Inlined, so that v is a variable of the caller's frame (ASan poisons it
 * again when its block ends: use-after-scope) rather than the only local of
 * a function of its own, which passing its address on gives an ASan fake
 * stack frame on every call. */
__attribute__((always_inline)) static inline void fz_must_set(gomap *m, enum hard_kind kind,
                                                              size_t value_size, uint32_t nids,
                                                              uint32_t id, uint64_t v,
                                                              const char *what) {
#ifdef GOMAP_FUZZ_PLANTED_BUG
    if (value_size == 8 && gomap_len(m) > 40 && (v >> 32) % 97 == 0) {
        if (GOMAP_FUZZ_PLANTED_BUG == 1 && gomap_contains(m, fz_key(kind, id)))
            return;
        uint64_t *other = gomap_get(m, fz_key(kind, (id + 100) % nids));
        if (GOMAP_FUZZ_PLANTED_BUG == 2 && other)
            *other ^= (uint64_t)1 << 40;
    }
#else
    (void)value_size;
    (void)nids;
#endif
    int rc = gomap_set(m, fz_key(kind, id), &v);
    FUZZ_CHECK(rc == 0, "%s: gomap_set returned %d", what, rc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct fz_in in = {data, size};
    uint8_t h = fz_u8(&in);
    enum hard_kind kind = (enum hard_kind)(h & 3);
    enum hard_hash_mode mode = (enum hard_hash_mode)(((h >> 2) & 7) % HARD_HASH_MODES);
    size_t value_size = (h & 0x20) ? 0 : 8;
    size_t hint = (size_t)fz_u8(&in) * 4;

    struct hard_alloc a;
    gomap_allocator hook;
    hard_alloc_init(&a, &hook);
    struct hard_hash_ctx hctx;
    gomap_config cfg;
    hard_config(&cfg, kind, mode, &hctx, value_size, &hook);
    cfg.hint = hint;

    gomap *m = NULL;
    int rc = gomap_new(&m, &cfg);
    FUZZ_CHECK(rc == 0 && m, "gomap_new: %d", rc);

    static struct fz_ref r;
    memset(&r, 0, sizeof r);
    r.nids = fz_nids_for(mode);
    size_t ops = 0;
    while (fz_more(&in) && ops++ < 2000) {
        uint8_t op;
        uint32_t id = fz_next_op(&in, &op, r.nids);
        const void *key = fz_key(kind, id);
        const char *what = "?";
        /* what to check afterwards: the whole table, or keys id, id + step,
         * ... (n of them) */
        bool full = false;
        uint32_t n = 1, step = 1;
        switch (op & 15) {
        case 0:
        case 1:
        case 2:
        case 3: {
            what = "set";
            fz_check_gomap_id(m, kind, value_size, &r, id, "an earlier operation");
            uint64_t v = fz_value(&r, id);
            fz_must_set(m, kind, value_size, r.nids, id, v, what);
            fz_ref_set(&r, id, v);
            break;
        }
        case 4:
            what = "contains";
            FUZZ_CHECK(gomap_contains(m, key) == r.present[id], "contains %u", id);
            break;
        case 5:
        case 6:
            what = "delete";
            fz_check_gomap_id(m, kind, value_size, &r, id, "an earlier operation");
            FUZZ_CHECK(gomap_delete(m, key) == r.present[id], "delete %u", id);
            fz_ref_del(&r, id);
            break;
        case 7:
            /* clear is rare: it would hide most other state */
            what = "clear";
            uint8_t c = fz_u8(&in);
            if (c < 24) {
                /* the clear erases every key's state: compare it first */
                fz_check_gomap_whole(m, kind, value_size, &r, "an earlier operation");
                gomap_clear(m);
                fz_ref_clear(&r);
                full = true;
            } else if (c < 64) {
                what = "shrink";
                if (c & 1)
                    gomap_auto_shrink(m, true);
                rc = gomap_shrink(m);
                FUZZ_CHECK(rc == 0, "shrink: %d", rc);
                full = true; /* it may move every entry */
            }
            break;
        case 8: {
            what = "clone";
            gomap *copy = NULL;
            rc = gomap_clone(m, &copy);
            FUZZ_CHECK(rc == 0 && copy, "clone: %d", rc);
            fz_check_gomap_whole(copy, kind, value_size, &r, "clone (copy)");
            if (fz_u8(&in) & 1) {
                /* continue with the copy: the original's state is compared
                 * before it goes, as at the end of an input */
                fz_check_gomap_whole(m, kind, value_size, &r, "an earlier operation");
                gomap_free(m);
                m = copy;
                fz_ref_compared(&r);
            } else {
                gomap_free(copy);
            }
            break;
        }
        case 9: {
            what = "bulk insert";
            n = fz_u8(&in);
            if (n > r.nids) /* more would only set the same keys again */
                n = r.nids;
            for (uint32_t i = 0; i < n; i++) {
                uint32_t j = (id + i) % r.nids;
                fz_check_gomap_id(m, kind, value_size, &r, j, "an earlier operation");
                uint64_t v = fz_value(&r, j);
                fz_must_set(m, kind, value_size, r.nids, j, v, what);
                fz_ref_set(&r, j, v);
            }
            break;
        }
        case 10: {
            what = "bulk delete";
            n = fz_u8(&in);
            step = 3;
            for (uint32_t i = 0; i < n; i++) {
                uint32_t j = (id + i * 3) % r.nids;
                fz_check_gomap_id(m, kind, value_size, &r, j, "an earlier operation");
                FUZZ_CHECK(gomap_delete(m, fz_key(kind, j)) == r.present[j], "bulk delete %u", j);
                fz_ref_del(&r, j);
            }
            break;
        }
        case 11:
            what = "iterate";
            fz_check_gomap_iter(m, kind, value_size, &r);
            break;
        case 12: {
            /* overwrite through the pointer gomap_get returns */
            what = "write via get";
            fz_check_gomap_id(m, kind, value_size, &r, id, "an earlier operation");
            void *p = gomap_get(m, key);
            FUZZ_CHECK((p != NULL) == r.present[id], "get %u", id);
            if (p && value_size == 8) {
                uint64_t v = fz_value(&r, id);
                memcpy(p, &v, 8);
                fz_ref_set(&r, id, v);
            }
            break;
        }
        case 13: {
            what = "set with a failing allocation";
            fz_check_gomap_id(m, kind, value_size, &r, id, "an earlier operation");
            long long live = hard_live(&a);
            hard_fail_nth(&a, 1 + fz_u8(&in) % 8);
            uint64_t v = fz_value(&r, id);
            rc = gomap_set(m, key, &v);
            bool failed = hard_failed(&a) > 0 && atomic_load(&a.fail_at) == 0;
            hard_fail_off(&a);
            if (rc == 0) {
                fz_ref_set(&r, id, v);
            } else {
                FUZZ_CHECK(rc == ENOMEM && failed, "set returned %d", rc);
                /* a write may make invisible progress before its own
                 * allocation fails (finish an evacuation, start a growth):
                 * live bytes may change; leaks show when the map is freed */
                (void)live;
            }
            atomic_store(&a.failed, 0);
            break;
        }
        case 14: {
            what = "clone with a failing allocation";
            long long live = hard_live(&a);
            hard_fail_nth(&a, 1 + fz_u8(&in) % 8);
            gomap *copy = (gomap *)&r; /* must be overwritten */
            rc = gomap_clone(m, &copy);
            hard_fail_off(&a);
            if (rc == 0) {
                fz_check_gomap_whole(copy, kind, value_size, &r, "clone (copy)");
                gomap_free(copy);
            } else {
                FUZZ_CHECK(rc == ENOMEM && copy == NULL, "clone returned %d, out %p", rc,
                           (void *)copy);
            }
            FUZZ_CHECK(hard_live(&a) == live, "clone leaked %lld bytes", hard_live(&a) - live);
            atomic_store(&a.failed, 0);
            break;
        }
        default:
            what = "get";
            FUZZ_CHECK((gomap_get(m, key) != NULL) == r.present[id], "get %u", id);
            break;
        }
        fz_ops += n;
        if (full) {
            fz_check_gomap_whole(m, kind, value_size, &r, what);
            fz_ref_compared(&r);
        } else
            fz_check_gomap_run(m, kind, value_size, &r, id, n, step, what);
    }
    fz_check_gomap_whole(m, kind, value_size, &r, "the last operation");
    gomap_free(m);
    FUZZ_CHECK(hard_live(&a) == 0, "%lld bytes leaked", hard_live(&a));
    FUZZ_CHECK(atomic_load(&a.bad_frees) == 0, "frees with a wrong size");
    return 0;
}
