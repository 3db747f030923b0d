/* map_diff_test.c — a randomized differential test: long random sequences of
 * set/get/contains/delete/len/clear/clone/iterate on a gomap, each result
 * compared with a trivial reference model (a present flag and a value tag per
 * key index), over many seeds, key kinds, value sizes, key-space sizes (down
 * to one key) and hash functions: the built-in ones, a constant hash (one
 * overflow chain), a hash that keeps 3 bits, a hash shared by runs of 32
 * consecutive keys, and one whose top byte (the tophash) takes every value.
 *
 * A last mode slides a window of 400 live keys through the map with a hash
 * shared by runs of 512 keys: the window's keys fill one bucket's overflow
 * chain (about 50 buckets long), then the next bucket's, and so on, so that
 * without same-size growth every bucket would keep such a chain, emptied:
 * memory would grow about 20-fold.  That memory stays bounded is the
 * behavioural proof that same-size growth happens (checked by disabling
 * too_many_overflow in a copy of map.c: this test then fails). */
#include "check.h"
#include "map_test_util.h"

#include <errno.h>

enum hash_mode { H_BUILTIN, H_CONST, H_LOW3, H_GROUP32, H_TOPBYTE, H_GROUP512, H_MODES };
static const char *const hash_names[] = {"builtin", "const",   "low3",
                                         "group32", "topbyte", "group512"};

struct run {
    gomap_key_kind kind;
    size_t value_size;
    enum hash_mode hash;
    uint64_t keys; /* key space: indexes 0 .. keys-1 */
    uint64_t ops;
    uint64_t seed;
};

/* The reference model. */
struct model {
    uint64_t keys, count;
    unsigned char *present;
    uint64_t *tag;  /* the value of key i is tu_fill(tag[i]) */
    uint32_t *seen; /* iteration stamps */
    uint32_t stamp;
    struct tu_key *kb; /* borrowed string keys live here, one per index */
};

static uint64_t total_ops;
static int sweeps_done; /* the suite's bar: >= 1,000,000 operations over all sweeps */

static void sweep_done(void) {
    if (++sweeps_done == 6) {
        printf("  total: %llu operations\n", (unsigned long long)total_ops);
        CHECK(total_ops >= 1000000);
    }
}

static uint64_t user_hash(const void *key, uint64_t seed, void *ctx) {
    const struct run *r = (const struct run *)ctx;
    uint64_t i = tu_key_index(r->kind, key);
    (void)seed;
    switch (r->hash) {
    case H_CONST:
        return 0x5555555555555555ull;
    case H_LOW3: {
        uint64_t s = i;
        return tu_next(&s) & 7;
    }
    case H_GROUP32:
        return i >> 5;
    case H_TOPBYTE: /* every top byte in turn, the reserved marks 0..4 and 0x80+ too */
        return (i * 0x9d) << 56 | (i >> 2);
    default:
        return i >> 9;
    }
}

static bool bytes_equal(const void *a, const void *b, void *ctx) {
    (void)ctx;
    return memcmp(a, b, TU_BYTES_KEY_SIZE) == 0;
}

static const void *key_of(struct model *md, struct tu_key *tmp, gomap_key_kind kind, uint64_t i) {
    if (kind == GOMAP_KEY_STRING_BORROWED)
        return tu_key_ptr(&md->kb[i]);
    tu_key_make(tmp, kind, i);
    return tu_key_ptr(tmp);
}

/* Checks the whole map against the model by iterating it and by len. */
static void compare_all(const gomap *m, struct model *md, const struct run *r) {
    unsigned char want[GOMAP_MAX_VALUE_SIZE];
    md->stamp++;
    uint64_t n = 0;
    gomap_iter it;
    gomap_iter_init(&it, m);
    const void *kp;
    void *vp;
    while (gomap_iter_next(&it, &kp, &vp)) {
        uint64_t i = tu_key_index(r->kind, kp);
        REQUIRE(i < md->keys);
        REQUIRE(md->present[i]);
        REQUIRE(md->seen[i] != md->stamp); /* no duplicates */
        md->seen[i] = md->stamp;
        tu_fill(want, r->value_size, md->tag[i]);
        REQUIRE(memcmp(vp, want, r->value_size) == 0);
        n++;
    }
    REQUIRE_EQ(n, md->count);
    REQUIRE_EQ(gomap_len(m), md->count);
}

/* One random run; a mismatch is recorded as a failure with the run's parameters. */
/* REQUIRE for run_one: on failure, name the run and clean up. */
#define DREQ(cond)                                                                                 \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            check_fail(__FILE__, __LINE__, #cond);                                                 \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)
#define DREQ_EQ(a, b)                                                                              \
    do {                                                                                           \
        int dreq_before_ = check_case_failed;                                                      \
        CHECK_EQ(a, b);                                                                            \
        if (check_case_failed != dreq_before_)                                                     \
            goto fail;                                                                             \
    } while (0)

static void run_one(const struct run *r, bool window) {
    struct tu_alloc a = {0};
    gomap_allocator al = {tu_alloc_fn, tu_free_fn, &a};
    gomap_config cfg = tu_config(r->kind, r->value_size);
    cfg.allocator = &al;
    struct run hash_ctx = *r; /* what user_hash reads, as the void * it gets */
    if (r->hash != H_BUILTIN) {
        cfg.hash = user_hash;
        cfg.fn_ctx = &hash_ctx;
        if (r->kind == GOMAP_KEY_BYTES)
            cfg.equal = bytes_equal;
    }
    struct model md = {0};
    md.keys = r->keys;
    md.present = calloc(r->keys, 1);
    md.tag = calloc(r->keys, sizeof *md.tag);
    md.seen = calloc(r->keys, sizeof *md.seen);
    if (r->kind == GOMAP_KEY_STRING_BORROWED) {
        md.kb = calloc(r->keys, sizeof *md.kb);
        for (uint64_t i = 0; md.kb && i < r->keys; i++)
            tu_key_make(&md.kb[i], GOMAP_KEY_STRING, i);
    }
    gomap *m = NULL;
    int rc = gomap_new(&m, &cfg);
    if (rc != 0 || !md.present || !md.tag || !md.seen ||
        (r->kind == GOMAP_KEY_STRING_BORROWED && !md.kb)) {
        CHECK_FAIL("setup failed");
        goto out;
    }

    uint64_t rng = r->seed * 0x2545f4914f6cdd1dull + r->keys + 1;
    unsigned char v[GOMAP_MAX_VALUE_SIZE], want[GOMAP_MAX_VALUE_SIZE];
    struct tu_key kt;
    uint64_t head = 0, tail = 0; /* window mode: live keys are [tail, head) */
    const uint64_t W = 400;
    size_t warm_peak = 0, late_peak = 0;
    for (uint64_t op = 0; op < r->ops; op++) {
        uint64_t dice = tu_below(&rng, 1000);
        uint64_t i = tu_below(&rng, r->keys);
        if (window) {
            /* Insert at the head, delete at the tail: keys flow through
             * the map, so with group32 each 32 keys fill a fresh chain. */
            uint64_t live = head - tail;
            if (dice < 450 && live < W)
                i = head++ % r->keys, dice = 0;
            else if (dice < 900 && live > W / 2)
                i = tail++ % r->keys, dice = 500;
            else
                i = (tail + tu_below(&rng, live + 1)) % r->keys, dice = 900;
        }
        const void *kp = key_of(&md, &kt, r->kind, i);
        if (dice < 400) { /* set */
            uint64_t tag = tu_next(&rng);
            tu_fill(v, r->value_size, tag);
            rc = gomap_set(m, kp, tu_below(&rng, 8) == 0 && r->value_size == 0 ? NULL : v);
            DREQ_EQ(rc, 0);
            if (!md.present[i]) {
                md.present[i] = 1;
                md.count++;
            }
            md.tag[i] = tag;
        } else if (dice < 650) { /* delete */
            bool was = gomap_delete(m, kp);
            DREQ_EQ(was, md.present[i]);
            if (was) {
                md.present[i] = 0;
                md.count--;
            }
        } else if (dice < 900) { /* get */
            const void *p = gomap_get(m, kp);
            DREQ_EQ(p != NULL, md.present[i]);
            if (p) {
                tu_fill(want, r->value_size, md.tag[i]);
                DREQ(memcmp(p, want, r->value_size) == 0);
            }
        } else if (dice < 980) { /* contains */
            DREQ_EQ(gomap_contains(m, kp), md.present[i]);
        } else if (dice < 987) { /* a batch of up to 16 keys from i on */
            struct tu_key bk[16];
            unsigned char args[16 * sizeof(struct tu_key)];
            void *out[16];
            size_t nb = 1 + (size_t)tu_below(&rng, 16), found = 0;
            size_t stride = r->kind == GOMAP_KEY_U64     ? 8
                            : r->kind == GOMAP_KEY_U32   ? 4
                            : r->kind == GOMAP_KEY_BYTES ? TU_BYTES_KEY_SIZE
                                                         : sizeof(gomap_str);
            for (size_t j = 0; j < nb; j++) {
                const void *bp = key_of(&md, &bk[j], r->kind, (i + j) % r->keys);
                memcpy(args + j * stride, bp, stride);
                found += md.present[(i + j) % r->keys];
            }
            DREQ_EQ(gomap_get_many(m, args, nb, out), found);
            for (size_t j = 0; j < nb; j++) {
                uint64_t ij = (i + j) % r->keys;
                DREQ_EQ(out[j] != NULL, md.present[ij]);
                if (out[j]) {
                    tu_fill(want, r->value_size, md.tag[ij]);
                    DREQ(memcmp(out[j], want, r->value_size) == 0);
                }
            }
        } else if (dice < 990) { /* shrink (an explicit one; or turn the automatic one on) */
            if (tu_below(&rng, 4) == 0)
                gomap_auto_shrink(m, true);
            DREQ_EQ(gomap_shrink(m), 0);
        } else if (dice < 996) { /* iterate and compare */
            if (md.count < 20000 || tu_below(&rng, 20) == 0) {
                int before = check_case_failed;
                compare_all(m, &md, r);
                if (check_case_failed != before)
                    goto fail;
            }
        } else if (dice < 998 && !window) { /* clone: continue with either copy */
            gomap *c = NULL;
            DREQ_EQ(gomap_clone(m, &c), 0);
            int before = check_case_failed;
            compare_all(c, &md, r);
            if (check_case_failed != before) {
                gomap_free(c);
                goto fail;
            }
            if (tu_below(&rng, 2)) {
                gomap_free(m);
                m = c;
            } else {
                gomap_free(c);
            }
        } else if (!window) { /* clear (not in window mode: it would hide a leak) */
            gomap_clear(m);
            memset(md.present, 0, r->keys);
            md.count = 0;
        }
        DREQ_EQ(gomap_len(m), md.count);
        if (window && op >= 2000 && op < 6000 && a.live_bytes > warm_peak)
            warm_peak = a.live_bytes;
        if (window && op >= 6000 && a.live_bytes > late_peak)
            late_peak = a.live_bytes;
    }
    {
        int before = check_case_failed;
        compare_all(m, &md, r);
        if (check_case_failed != before)
            goto fail;
    }
    if (window && r->ops > 6000) {
        /* Keys flow through a window of at most W: without same-size growth
         * the emptied overflow chains would pile up in bucket after bucket. */
        if (late_peak > 3 * warm_peak + 4096) {
            fprintf(stderr, "  memory grew: %zu bytes after warm-up, %zu later\n", warm_peak,
                    late_peak);
            CHECK_FAIL("window churn: overflow buckets not reclaimed (no same-size growth?)");
        }
    }
    total_ops += r->ops;
    goto out;
fail:
    fprintf(stderr, "  in run kind=%d value_size=%zu hash=%s keys=%llu seed=%llu window=%d\n",
            (int)r->kind, r->value_size, hash_names[r->hash], (unsigned long long)r->keys,
            (unsigned long long)r->seed, window);
out:
    gomap_free(m);
    CHECK_EQ(a.live_bytes, 0);
    CHECK_EQ(a.live_blocks, 0);
    CHECK_EQ(a.bad_frees, 0);
    free(md.present);
    free(md.tag);
    free(md.seen);
    free(md.kb);
}

static const size_t value_sizes[] = {0, 1, 8, 13, 64, 128};

/* Runs every key kind with one hash mode over key spaces from 1 key to many. */
static void sweep(enum hash_mode h) {
    static const gomap_key_kind kinds[] = {GOMAP_KEY_U64, GOMAP_KEY_U32, GOMAP_KEY_STRING,
                                           GOMAP_KEY_STRING_BORROWED, GOMAP_KEY_BYTES};
    static const uint64_t spaces[] = {1, 2, 3, 9, 16, 60, 200, 1000, 5000, 60000};
    uint64_t before = total_ops;
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        for (size_t s = 0; s < sizeof spaces / sizeof spaces[0]; s++) {
            uint64_t keys = spaces[s];
            /* A constant or 3-bit hash makes every op O(n): keep those small. */
            if ((h == H_CONST || h == H_LOW3) && keys > 1000)
                continue;
            if (kinds[k] == GOMAP_KEY_STRING_BORROWED && keys > 5000)
                continue;
            for (uint64_t seed = 1; seed <= 2; seed++) {
                struct run r = {kinds[k], value_sizes[(s + seed + k) % 6], h,
                                keys,     keys >= 5000 ? 24000 : 5000,     seed * 1000 + h};
                run_one(&r, false);
                if (check_case_failed)
                    return;
            }
        }
    }
    printf("  hash %s: %llu operations\n", hash_names[h], (unsigned long long)(total_ops - before));
    sweep_done();
}

TEST(differential_builtin_hash) {
    sweep(H_BUILTIN);
}
TEST(differential_constant_hash) {
    sweep(H_CONST);
}
TEST(differential_low3_hash) {
    sweep(H_LOW3);
}
TEST(differential_group32_hash) {
    sweep(H_GROUP32);
}
TEST(differential_topbyte_hash) {
    sweep(H_TOPBYTE);
}

/* Keys flow through the map (insert at the head, delete at the tail): memory
 * stays bounded, which needs same-size growth when the hash groups keys.
 * 80,000 operations insert about 36,000 keys: 70 runs of 512, more than one
 * per bucket of the 64 the map has. */
TEST(differential_window_same_size_growth) {
    static const gomap_key_kind kinds[] = {GOMAP_KEY_U64, GOMAP_KEY_STRING, GOMAP_KEY_BYTES};
    uint64_t before = total_ops;
    for (size_t k = 0; k < 3; k++) {
        for (int h = 0; h < 2; h++) {
            for (uint64_t seed = 1; seed <= 2; seed++) {
                struct run r = {kinds[k],
                                value_sizes[(k + seed) % 6],
                                h ? H_GROUP512 : H_BUILTIN,
                                1 << 16,
                                80000,
                                seed + 77};
                run_one(&r, true);
                if (check_case_failed)
                    return;
            }
        }
    }
    printf("  window: %llu operations\n", (unsigned long long)(total_ops - before));
    sweep_done();
}

TEST_MAIN()
