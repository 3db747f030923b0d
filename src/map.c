/*
 * map.c — Go's classic runtime map (go1.19 runtime/map.go), written anew in C.
 *
 * This file implements gomap.h.  The algorithm is Go's; the physical layout
 * is ours, chosen by measurement (docs/design.md has the figures).
 *
 * A map is an array of 2^B buckets.  Each bucket holds up to 8 key/value
 * slots.  The low B bits of a key's hash select its bucket; the top 8 bits
 * (the "tophash") are kept per slot so a lookup compares full keys only where
 * the tophash byte matches.  A bucket that fills up gets an overflow bucket,
 * chained from it.
 *
 * Layout.  Go keeps, inside each bucket, 8 tophash bytes, then 8 keys, then 8
 * values, then the overflow pointer.  We split each bucket in two:
 *   - its header, 16 bytes: the 8 tophash bytes as one little-endian 64-bit
 *     word (byte i is slot i) and the overflow pointer.  The headers of all
 *     the buckets of an array sit together, four to a cache line;
 *   - its 8 slots, each a key followed by its value, in a second array.
 * A miss reads one header line and, when the bucket is not full, nothing
 * else: the tophash word says whether the chain goes on.  A hit reads the
 * header line and the one slot line holding both key and value.  The
 * 8 tophash bytes are matched together with SWAR arithmetic on the word.
 * Overflow buckets carry their header in front of their slots.
 *
 * Growth.  When the average load passes 6.5 entries per bucket, the map
 * allocates an array twice as big and copies ("evacuates") the old buckets
 * into it incrementally: each write evacuates the old bucket of the key it
 * writes and one more, in order, so no write pays for the whole table.  Old
 * bucket i splits into new buckets i ("X") and i + 2^oldB ("Y") by hash bit
 * oldB.  When overflow buckets pile up (as many as buckets, up to 2^15)
 * without the load being high (many deletes), the map grows to the same size
 * instead, which packs the entries tightly again.  While growing, lookups
 * look in the old bucket if it has not been evacuated yet, else in the new.
 *
 * Tophash marks.  Tophash values below MIN_TOPHASH are reserved: they say a
 * slot is empty, and for an evacuated old bucket where its entry went.  A
 * real tophash below MIN_TOPHASH is bumped up by MIN_TOPHASH.
 *
 * Keys never move inside a bucket array.  An iterator remembers a bucket and
 * a slot index; if keys moved inside a bucket (compaction on delete, say), an
 * iterator could return a key twice or never.  So a delete only marks its
 * slot empty, and only growth moves keys, into a new array, leaving the old
 * array's keys where they were (evacuation marks the old slots but does not
 * erase them), so an iterator walking the old array can still read them and
 * look up where their current value is.
 *
 * The writing flag.  A write sets it for its whole duration (from before
 * hashing the key, so a hash function that calls back into the map is caught
 * too).  A write, read or iterator step that finds it set is concurrent
 * misuse, reported by detect.c.
 *
 * Memory kept for iterators.  Go's iterator keeps an old bucket array alive
 * through the garbage collector; we keep it alive ourselves: a map remembers
 * (iters->flags) whether an iterator may still hold its current or its old
 * array, and when a growth finishes with such an iterator possible, the old
 * array is retired (kept, on the map's `retired` list) instead of freed.
 * Iterations are counted from start to end (gomap_iter_next returning false,
 * or gomap_iter_stop), in two cohorts, and a write frees what no running
 * iteration can still read, in the manner of RCU's grace periods (see
 * drop_iterator_memory): under churn with iterations that end, kept memory
 * stays bounded.  An abandoned iterator is never seen to end, so its cohort
 * keeps memory until gomap_clear or gomap_free.  A map that is never iterated
 * while it grows retires nothing.
 */
#include "detect.h"
#include "hash.h"
#include "map_internal.h"
#include "probes.h"
#include "reclaim_inline.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define likely(x)     __builtin_expect(!!(x), 1)
#define unlikely(x)   __builtin_expect(!!(x), 0)
#define ALWAYS_INLINE static inline __attribute__((always_inline))
#define NOINLINE      static __attribute__((noinline))

/* ---- constants ------------------------------------------------------------ */

/* Slots per bucket: 8, so a bucket's tophash bytes fill one 64-bit word and
 * are matched in a few instructions.  Go's value, for the same reason. */
#define BUCKET_SHIFT 3
#define BUCKET_CNT   (1 << BUCKET_SHIFT)

/* Maximum average load of a bucket that triggers growth: 6.5 = 13/2.  Go
 * chose it from a table of overflow %, bytes/entry and probes per lookup;
 * docs/design.md has that table measured on this map.  Higher: longer
 * overflow chains; lower: more memory per entry. */
#ifndef GOMAP_LOAD_FACTOR_NUM /* overridable only to measure the table */
#define GOMAP_LOAD_FACTOR_NUM 13
#define GOMAP_LOAD_FACTOR_DEN 2
#endif
#define LOAD_FACTOR_NUM GOMAP_LOAD_FACTOR_NUM
#define LOAD_FACTOR_DEN GOMAP_LOAD_FACTOR_DEN

/* Reserved tophash values.  Each is a state of one slot. */
enum {
    EMPTY_REST = 0,      /* empty, and so is every later slot and overflow bucket */
    EMPTY_ONE = 1,       /* empty */
    EVACUATED_X = 2,     /* evacuated to the first half of the larger array */
    EVACUATED_Y = 3,     /* evacuated to the second half */
    EVACUATED_EMPTY = 4, /* empty, and the bucket is evacuated */
    MIN_TOPHASH = 5,     /* smallest tophash of a live entry */
};
/* The evacuation marks a slot EVACUATED_X + y, y the half its entry went to
 * (Go's evacuatedX + useY). */
_Static_assert(EVACUATED_Y == EVACUATED_X + 1, "evacuation marks");

/* Largest B a hint may ask for: 2^40 buckets of 8 slots is 2^43 entries,
 * terabytes for the smallest slots; far above it, 2^B * 13 would overflow. */
#define MAX_B 40

/* Growth copies at most this many already-evacuated old buckets past the
 * evacuation cursor in one write, bounding its work (Go's bound). */
#define EVACUATION_SCAN_LIMIT 1024

enum { WSLOW_CB = 1, WSLOW_STACK = 2, WSLOW_SERIAL = 4, WSLOW_TID = 8 }; /* gomap.wslow bits */

/* iter_registry.flags bits: whether an iterator may hold pointers into an array. */
enum {
    ITER_NEW = 1, /* into `arr` (set by gomap_iter_init) */
    ITER_OLD = 2, /* into `oldarr` (carried over from ITER_NEW by a growth, or
                     set by an iterator reading an old bucket) */
};

/* Key kinds as the hot paths see them (`kind`): the public gomap_key_kind
 * the map was created with (`config_kind`), except that every map with a
 * user hash or equality function is K_GEN.  The hot paths are instantiated
 * once per kind, so the built-in kinds make no indirect call.  KEY_KINDS is
 * the one list of them: X(name, K_kind); the enum, the per-kind functions
 * and key_ops_table are all generated from it. */
#define KEY_KINDS(X)                                                                               \
    X(u64, K_U64) X(u32, K_U32) X(str, K_STR) X(bstr, K_BSTR) X(bytes, K_BYTES) X(gen, K_GEN)
#define KEY_KIND_ENUM(name, k) k,
enum { KEY_KINDS(KEY_KIND_ENUM) NKEY_KINDS };

/* Each key kind's instance of the hot paths (see "dispatch" below).  The map
 * keeps its kind, and an operation calls key_ops_table[m->kind].op. */
typedef struct key_ops {
    void *(*get)(const gomap *m, const void *key);
    void *(*get_hashed)(const gomap *m, const void *key, uint64_t hash);
    int (*set)(gomap *m, const void *key, uint64_t hash, bool have_hash, const void *value,
               void **value_out, bool *inserted_out);
    bool (*del)(gomap *m, const void *key, uint64_t hash, bool have_hash);
    /* The locked writes (set_impl's SET_LOCKED), hash given. */
    int (*set_locked)(gomap *m, const void *key, uint64_t hash, const void *value, void **value_out,
                      bool *inserted_out);
    bool (*del_locked)(gomap *m, const void *key, uint64_t hash);
    bool (*iter)(gomap_iter *it, const void **key, void **value);
    int (*evacuate)(gomap *m, uintptr_t ob);
    uint64_t (*hash)(const gomap *m, const void *key);
    size_t (*get_many)(const gomap *m, const void *keys, size_t n, void **out);
    size_t (*get_many_hashed)(const gomap *m, const void *const *keyv, const uint64_t *hashes,
                              size_t n, void **out);
} key_ops;
static const key_ops key_ops_table[NKEY_KINDS];

/* An owned string key (GOMAP_KEY_STRING) occupies 16 bytes in its slot, and
 * its byte 15 (the tag) says which of three forms it takes:
 * - 0..15: a string of that many bytes, stored inline in bytes 0..14
 *   (zero-padded);
 * - 0xff: a string on the heap (one allocation of exactly its length, at
 *   least 16 bytes): bytes 0..7 hold the pointer, bytes 8..15 the length with
 *   the top byte 0xff;
 * - any other value: a 16-byte string stored inline, all 16 bytes, its last
 *   byte being the tag.  A 16-byte string whose last byte is 0..15 or 0xff
 *   takes the heap form, so the tag stays unambiguous and each string has
 *   exactly one form.
 * Inline storage saves an allocation and a dependent load per short key;
 * 16 bytes is a common key length (two words: hex digests, UUIDs' halves,
 * the benchmark's keys), whose last byte is rarely a control byte.
 * docs/design.md has the figures. */
#ifndef GOMAP_SSO_MAX /* overridable (down to 0) only to measure the choice */
#define GOMAP_SSO_MAX 15
#endif
#define SSO_MAX  GOMAP_SSO_MAX
#define SSO_HEAP GOMAP__SSO_HEAP
/* Whether 16-byte strings may be inline (only with the full inline form). */
#define SSO_16 (SSO_MAX == 15)
typedef struct skey {
    union {
        char b[16];
        struct {
            char *ptr;
            uint64_t len_tag;
        } h;
    } u;
} skey;
#define HEAP_LEN_MASK GOMAP__SSO_LEN_MASK

/* ---- data structures ---------------------------------------------------- */

/* Each bucket has a tophash word (byte i = slot i) and an overflow pointer.
 * For the buckets of an array they live in two dense arrays, `tops` and
 * `nexts`, apart from the slots; an overflow bucket carries both in front of
 * its slots.  Invariant: if byte 7 of a tophash word is EMPTY_REST, the
 * bucket's overflow pointer is NULL or heads a chain of empty buckets, so a
 * lookup stops there without reading it. */
typedef struct obucket {
    uint64_t top;
    struct obucket *next;
} obucket;

/* One bucket array: one allocation holding this descriptor, 2^B headers, 2^B
 * buckets' slots, and a pool of preallocated overflow buckets (Go's
 * makeBucketArray idea: 2^(B-4) of them from B = 4), which growth and
 * inserts use before calling the allocator.  Pool buckets are freed with the
 * array, never one by one. */
typedef struct barray {
    struct barray *retired_next; /* on the map's retired list */
    size_t bytes;                /* size of the allocation */
    uintptr_t nbuckets;
    uint64_t *tops;  /* nbuckets tophash words */
    obucket **nexts; /* nbuckets overflow pointers */
    char *slots;     /* nbuckets * 8 slots */
    char *pool;      /* first pool bucket */
    char *pool_next; /* next unused pool bucket */
    char *pool_end;
} barray;

/* Where an array's headers start in its allocation: after the descriptor,
 * on a cache line.  So an array is known by its `tops` alone (an iterator
 * keeps only that, see array_of). */
#define ARRAY_HEAD ((sizeof(barray) + 63) & ~(size_t)63)
static inline const barray *array_of(const void *tops) {
    return (const barray *)(const void *)((const char *)tops - ARRAY_HEAD);
}

/* What iterations record in a map.  An iteration takes a const gomap *
 * (gomap.h): it changes none of the map's entries or shape, only this
 * bookkeeping, so the bookkeeping is kept apart and reached through the
 * non-const pointer gomap.iters; it is the only part of a map that an
 * operation on a const map writes.  Atomic because concurrent iterations of
 * one map (readers) update it together; relaxed, see cohort_live and
 * mark_iter. */
typedef struct iter_registry {
    _Atomic uint8_t flags; /* ITER_*; see "Memory kept for iterators" */
    /* Iterations started and not yet ended (by gomap_iter_next returning
     * false or by gomap_iter_stop), in two cohorts: an iteration joins
     * cohort gomap.iter_phase when it starts. */
    _Atomic uint32_t live[2];
} iter_registry;

/* A deferred-free heap string (see gomap_delete): the string's own first 16
 * bytes hold the link, so deferring never allocates. */
typedef struct dstr {
    struct dstr *next;
    size_t len;
} dstr;

struct gomap {
    /* Hot: everything a lookup reads is in this first cache line.  Its
     * fields up to `sec` are also read by the typed helpers' inline lookup
     * (struct gomap__view in gomap.h; the offsets are checked below), so
     * they keep their places in every build, the detection fields too. */
    /* The low 24 bits of clear_seq (its bytes in memory order, from
     * store_clear24), first in the head word, so that the rest of the word
     * is a compare against 2^24 (see view_slow): an iteration step compares
     * the whole head word with the value it expects (head_expected: writing
     * word 0, the shape and clear24 it last saw) — one test for a write
     * running (Go's mapiternext check), a serializing or freed map, a growth
     * begun or ended, and a clear. */
    uint8_t clear24[3];
    /* 0 when gomap.h's inline u64 lookup may run on this map: u64 keys, the
     * library's own hash and equality, 8-byte values (so a slot is 16 bytes,
     * the value at 8: the inline code uses those constants) and no growth
     * in progress.  Kept by update_view_slow wherever one of those changes:
     * VIEW_SHAPE set when the shape is another, VIEW_GROWING while a growth
     * is in progress (an insert into a map of the inline shape then takes
     * set_grow_u64).  With `writing` it makes the last 5 bytes of the head word (the
     * header's first 8 bytes), all zero exactly when the inline lookup may
     * run and no write runs: the head word is then below 2^24 (clear24
     * alone), which the inline lookup and the writes' entry checks test
     * with one compare of the word in memory and a branch. */
    uint8_t view_slow;
    /* The writing flag (Go's hashWriting): 0, or the id of the thread that is
     * writing — flag and writer in one word, so a write stores once; in a
     * serializing map GOMAP__SERIAL is always set (detect.h lists the
     * values).  In the default mode the accesses are relaxed: detection is
     * best effort and publishes nothing (no data is read because of the
     * flag's value); relaxed loads and stores are plain moves on x86, and
     * being atomic keeps the deliberately racing tests meaningful under
     * TSan.  A serializing map uses it as a lock (see "survive modes"). */
    _Atomic int writing;
    uint8_t B;         /* log2 of the bucket count; 0 before the first insert */
    uint8_t kind;      /* K_* */
    uint8_t same_size; /* growing to the same size (valid while oldarr) */
    /* Why a write takes its slow path even without a conflict: WSLOW_CB, the
     * map has a user hash or equal function (check reentrancy); WSLOW_STACK,
     * record the writer's stack (GOMAP_DEBUG=writerstack=1); WSLOW_SERIAL,
     * the map serializes conflicting calls; WSLOW_TID, the fast path's
     * thread id read (gomap__tid_fs) was not verified (detect.h).  One byte, so the fast path
     * tests it once. */
    uint8_t wslow;
    uint16_t voff; /* offset of the value in a slot */
    uint32_t slot_size;
    uint32_t vsize;
    size_t count;          /* live entries; gomap_len */
    uintptr_t mask;        /* 2^B - 1 */
    uint64_t *tops;        /* arr->tops, or empty_tops before the first insert */
    obucket **nexts;       /* arr->nexts */
    char *slots;           /* arr->slots */
    uint64_t *oldtops;     /* oldarr->tops while growing, else NULL */
    obucket **oldnexts;    /* oldarr->nexts */
    char *oldslots;        /* oldarr->slots */
    gomap_hash_secret sec; /* derived from seed for the integer hash */
    /* The op probe's semaphore (never 0 without probes: see new_map), for
     * gomap.h's inline lookup, which leaves the op probe to gomap_get while
     * a tracer is attached.  An address the library takes of its own copy:
     * exporting the variable instead would let the executable's copy
     * relocation hide the count the kernel raises. */
    const volatile unsigned short *op_traced;
    /* Bumped by gomap_clear; iterators stop when it changes.  Read by
     * gomap.h's inline iteration step, through the view. */
    uint64_t clear_seq;
    uint64_t seed;        /* the per-map random hash seed */
    uint32_t ksize;       /* GOMAP_KEY_BYTES key size, else the slot key size */
    uint8_t config_kind;  /* the public gomap_key_kind it was created with */
    uint8_t iter_phase;   /* changed only by writes */
    iter_registry *iters; /* &iters_store, set at creation; see iter_registry */
#ifndef GOMAP_NO_DETECT
    _Atomic int *readers; /* &readers_store, set at creation; see "Survive modes" */
#endif
    bool auto_shrink; /* gomap_auto_shrink: deletes may shrink the array */
    /* Cold. */
    barray *arr;
    barray *oldarr;
    uintptr_t nevacuate; /* old buckets below this are all evacuated */
    size_t noverflow;    /* overflow buckets hanging off arr (pool ones included) */
    /* Go's growth triggers for the current B, kept by set_B: an insert of
     * a new key into a map that is not growing grows it when count >=
     * grow_count or noverflow >= grow_noverflow. */
    size_t grow_count;
    size_t grow_noverflow;
    /* The count below which an insert's fast path (set_home_u64) adds a new
     * key without testing those triggers: grow_count while the map has an
     * array and fewer than grow_noverflow overflow buckets, else 0 (every
     * new key then goes to the general insert, which tests them).  One
     * compare on the fast path where the array and both triggers were
     * three.  Kept by update_fast_limit wherever one of them changes. */
    size_t fast_limit;
    barray *retired;     /* arrays kept for iterators of either cohort */
    dstr *deferred;      /* heap key strings kept likewise */
    barray *retired_old; /* arrays kept only for cohort iter_phase ^ 1 */
    dstr *deferred_old;  /* heap key strings kept likewise */
    gomap_hash_fn hash_fn;
    gomap_equal_fn equal_fn;
    void *fn_ctx;
    gomap_allocator alloc;
    /* The header itself came from malloc, not from alloc: so it is under
     * GOMAP_DEBUG=checkfree, whose quarantine frees headers long after
     * gomap_free returned, when the user's allocator may be gone. */
    bool header_malloc;
    iter_registry iters_store;
#ifndef GOMAP_NO_DETECT
    /* Serializing maps only: readers and iterator steps inside the map now
     * (see "survive modes"), through `readers` (set at creation, so a const
     * map's readers can count themselves).  Always 0 in other maps. */
    _Atomic int readers_store;
#endif
};

/* The inline lookup of gomap.h reads these fields through struct
 * gomap__view, and overflow buckets as a tophash word, a pointer and the
 * slots: the two layouts must agree. */
#define VIEW_SAME(f, g)                                                                            \
    _Static_assert(offsetof(struct gomap, f) == offsetof(struct gomap__view, g), "view: " #f)
VIEW_SAME(clear24, head);
/* The head word (see view_slow) is exactly clear24, view_slow and
 * writing. */
_Static_assert(sizeof(int) == 4 && offsetof(struct gomap, view_slow) == 3 &&
                   offsetof(struct gomap, writing) == 4 && offsetof(struct gomap, B) == 8,
               "view: head word");
VIEW_SAME(mask, mask);
VIEW_SAME(tops, tops);
VIEW_SAME(nexts, nexts);
VIEW_SAME(slots, slots);
VIEW_SAME(oldtops, oldtops_);
VIEW_SAME(sec.s0, s0);
VIEW_SAME(sec.s1, s1);
VIEW_SAME(op_traced, op_traced);
VIEW_SAME(clear_seq, clear_seq);
VIEW_SAME(slot_size, slot_size);
VIEW_SAME(voff, voff);
_Static_assert(sizeof(obucket) == 16 && offsetof(obucket, next) == 8, "view: overflow bucket");

static const volatile unsigned short *op_semaphore(void) {
#ifdef GOMAP_HAVE_PROBES
    return &gomap_op_semaphore;
#else
    static const volatile unsigned short never;
    return &never;
#endif
}

/* ---- allocation --------------------------------------------------------- */

static void *sys_alloc(size_t size, void *ctx) {
    (void)ctx;
    return malloc(size);
}
static void sys_free(void *p, size_t size, void *ctx) {
    (void)size;
    (void)ctx;
    free(p);
}
const gomap_allocator gomap__malloc_allocator = {sys_alloc, sys_free, NULL};

static inline void *m_alloc(const gomap *m, size_t n) {
    return m->alloc.alloc(n, m->alloc.ctx);
}
static inline void m_free(const gomap *m, void *p, size_t n) {
    if (p)
        m->alloc.free(p, n, m->alloc.ctx);
}

/* ---- random ------------------------------------------------------------- */

/* A per-thread wyrand generator (Wang Yi's, as Go's fastrand uses), seeded
 * from getrandom once per thread. */
static __thread uint64_t rand_state;

/* A forked child must not draw its parent's next seeds: the child's copy of
 * the forking thread's state is reset, so it reseeds from getrandom. */
static void rand_atfork_child(void) {
    rand_state = 0;
}
static pthread_once_t rand_atfork_once = PTHREAD_ONCE_INIT;
static void rand_register_atfork(void) {
    pthread_atfork(NULL, NULL, rand_atfork_child);
}

uint64_t gomap__random64(void) {
    uint64_t s = rand_state;
    if (unlikely(s == 0)) {
        pthread_once(&rand_atfork_once, rand_register_atfork);
        if (getrandom(&s, sizeof s, 0) != (ssize_t)sizeof s) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            s = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)(uintptr_t)&s;
        }
        s |= 1;
    }
    s += 0xa0761d6478bd642full;
    rand_state = s;
    return gomap__mum(s, s ^ 0xe7037ed1a0b428dbull);
}

/* ---- tophash words -------------------------------------------------------- */

#define BYTES_01 0x0101010101010101ull
#define BYTES_80 0x8080808080808080ull

static inline uint8_t tophash(uint64_t hash) {
    uint8_t t = (uint8_t)(hash >> 56);
    return t < MIN_TOPHASH ? (uint8_t)(t + MIN_TOPHASH) : t;
}

#if defined(__SSE2__)
/* With SSE2 (every x86-64), the 8 tophash bytes are compared at once with
 * one pcmpeqb against want (the wanted tophash in every byte), and pmovmskb
 * gives one bit per slot: bit i = slot i.  The word sits in the low 8 bytes
 * of the register; the high 8 are zero. */
static inline uint64_t match_want(uint64_t top, uint64_t want) {
    __m128i w = _mm_cvtsi64_si128((long long)top);
    __m128i b = _mm_cvtsi64_si128((long long)want);
    /* The high bytes (0 == 0) match too: keep the low 8 bits. */
    return (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(w, b)) & 0xffu;
}

/* Empty slots (EMPTY_REST or EMPTY_ONE: the byte is 0 or 1). */
static inline uint64_t match_empty(uint64_t top) {
    __m128i w = _mm_cvtsi64_si128((long long)(top & ~BYTES_01));
    return (uint64_t)(_mm_movemask_epi8(_mm_cmpeq_epi8(w, _mm_setzero_si128())) & 0xff);
}

static inline unsigned first_slot(uint64_t mask) {
    return (unsigned)__builtin_ctz((unsigned)mask); /* the mask has 8 bits */
}

/* The highest slot of a non-empty mask of match_top's form. */
static inline unsigned last_slot(uint64_t mask) {
    return 63u - (unsigned)__builtin_clzll(mask);
}

/* The mask, of match_top's form, of the slots below slot i (i <= 7). */
static inline uint64_t slots_below(unsigned i) {
    return ((uint64_t)1 << i) - 1;
}
#else
/* Elsewhere, SWAR: 0x80 in each byte of w that is zero ("Bit Twiddling
 * Hacks", determine if a word has a zero byte).  This short form can also
 * flag a byte that is 0x01 when a lower byte is zero (the borrow
 * propagates); the callers below are safe with that: see each. */
static inline uint64_t zero_bytes(uint64_t w) {
    return (w - BYTES_01) & ~w & BYTES_80;
}

/* Slots of a tophash word whose byte equals t, as 0x80 bits (want is t in
 * every byte).  A false
 * positive is a byte equal to t ^ 1; since t >= MIN_TOPHASH, t ^ 1 is either
 * a live tophash (the key comparison then fails, as for any tophash
 * collision) or, for t == 5, EVACUATED_EMPTY, which only evacuated old
 * buckets hold and lookups never scan (the iterator does not use this). */
static inline uint64_t match_want(uint64_t top, uint64_t want) {
    return zero_bytes(top ^ want);
}

/* Empty slots (EMPTY_REST or EMPTY_ONE: the byte is 0 or 1).  Exact: after
 * clearing bit 0 every byte is even, so none is 0x01. */
static inline uint64_t match_empty(uint64_t top) {
    return zero_bytes(top & ~BYTES_01);
}

static inline unsigned first_slot(uint64_t mask) {
    return (unsigned)__builtin_ctzll(mask) >> 3;
}

static inline unsigned last_slot(uint64_t mask) {
    return (63u - (unsigned)__builtin_clzll(mask)) >> 3;
}

static inline uint64_t slots_below(unsigned i) {
    return (((uint64_t)1 << (8 * i)) - 1) & BYTES_80;
}
#endif

/* Slots whose tophash byte is t, in match_want's form. */
static inline uint64_t match_top(uint64_t top, uint8_t t) {
    return match_want(top, BYTES_01 * t);
}

/* Slots holding an entry, live or evacuated (not EMPTY_REST, EMPTY_ONE or
 * EVACUATED_EMPTY), one bit per slot: bit i = slot i.  The iterator walks
 * these instead of testing the 8 bytes one by one. */
static inline unsigned occupied_slots(uint64_t top) {
#if defined(__SSE2__)
    __m128i w = _mm_cvtsi64_si128((long long)top);
    __m128i empty = _mm_cmpeq_epi8(_mm_and_si128(w, _mm_set1_epi8(~1)), _mm_setzero_si128());
    __m128i evac_empty = _mm_cmpeq_epi8(w, _mm_set1_epi8(EVACUATED_EMPTY));
    return ~(unsigned)_mm_movemask_epi8(_mm_or_si128(empty, evac_empty)) & 0xffu;
#else
    /* 0x80 in each byte that is 0/1 (exact, see match_empty) or 4 (a bucket
     * holding a 4 is evacuated: no byte above it is 5, so the short zero-byte
     * test's false positive t ^ 1 cannot occur), gathered to bits 0..7. */
    uint64_t skip = match_empty(top) | zero_bytes(top ^ (BYTES_01 * EVACUATED_EMPTY));
    return ~(unsigned)(((skip >> 7) * 0x0102040810204080ull) >> 56) & 0xffu;
#endif
}

static inline uint8_t top_at(uint64_t top, unsigned i) {
    return (uint8_t)(top >> (i * 8));
}
static inline void set_top(uint64_t *top, unsigned i, uint8_t t) {
    *top = (*top & ~((uint64_t)0xff << (i * 8))) | ((uint64_t)t << (i * 8));
}

/* set_top on a word in memory as one byte store (byte i of the
 * little-endian word is slot i), which the insert pays instead of a load,
 * a mask and a merge. */
static inline void store_top(uint64_t *top, unsigned i, uint8_t t) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    ((unsigned char *)top)[i] = t;
#else
    set_top(top, i, t);
#endif
}

/* store_top of slot d % BUCKET_CNT of the bucket d / BUCKET_CNT whose
 * tophash word is tops[d / BUCKET_CNT]: on a little-endian machine byte d
 * of the array, one store addressed by d. */
static inline void store_top_at(uint64_t *tops, uintptr_t d, uint8_t t) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    ((unsigned char *)tops)[d] = t;
#else
    store_top(&tops[d / BUCKET_CNT], (unsigned)(d % BUCKET_CNT), t);
#endif
}

/* top_at of a word in memory as one byte load (see store_top), for a loop
 * that visits a bucket's slots in turn: a load where top_at is a copy, a
 * shift and its count. */
static inline uint8_t load_top(const uint64_t *top, unsigned i) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return ((const unsigned char *)top)[i];
#else
    return top_at(*top, i);
#endif
}

/* The tophash word whose slot i holds b[i]: on a little-endian machine the
 * bytes as they lie (byte i of the word is slot i, as for store_top). */
static inline uint64_t top_word_of(const uint8_t b[BUCKET_CNT]) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t w;
    memcpy(&w, b, sizeof w);
    return w;
#else
    uint64_t w = 0;
    for (unsigned i = 0; i < BUCKET_CNT; i++)
        w |= (uint64_t)b[i] << (i * 8);
    return w;
#endif
}

/* Whether the chain of this bucket ends at it: its last slot is EMPTY_REST. */
static inline bool chain_ends(uint64_t top) {
    return (top >> 56) == EMPTY_REST;
}

/* An old bucket is evacuated when its first slot holds an evacuation mark
 * (evacuation marks every slot of the bucket, empty ones included). */
static inline bool evacuated(uint64_t top) {
    uint8_t t = (uint8_t)top;
    return t > EMPTY_ONE && t < MIN_TOPHASH;
}

/* ---- geometry ------------------------------------------------------------- */

static inline size_t bucket_bytes(const gomap *m) {
    return (size_t)m->slot_size * BUCKET_CNT;
}
static inline size_t obucket_bytes(const gomap *m) {
    return sizeof(obucket) + bucket_bytes(m);
}
static inline char *oslots(obucket *o) {
    return (char *)(o + 1);
}
static inline bool growing(const gomap *m) {
    return m->oldtops != NULL;
}
static inline uintptr_t bucket_mask(unsigned B) {
    return ((uintptr_t)1 << B) - 1;
}
/* Go's overLoadFactor: more than 8 entries and more than 6.5 per bucket. */
static inline bool over_load_factor(size_t count, unsigned B) {
    return count > BUCKET_CNT && count > (((size_t)1 << B) * LOAD_FACTOR_NUM) / LOAD_FACTOR_DEN;
}
/* Sets B, the mask and the growth triggers that follow from it, computed
 * once here rather than on every insert: grow_count is the count from
 * which over_load_factor(count + 1, B) holds; grow_noverflow is Go's
 * tooManyOverflowBuckets limit, as many overflow buckets as buckets,
 * counting at most 2^15 (above that, 2^15 overflow buckets are already a
 * sign of deletes leaving holes, and a same-size grow will repack them). */
static void update_fast_limit(gomap *m);
static void set_B(gomap *m, unsigned B) {
    m->mask = bucket_mask(B);
    m->B = (uint8_t)B;
    size_t load = (((size_t)1 << B) * LOAD_FACTOR_NUM) / LOAD_FACTOR_DEN;
    m->grow_count = load > BUCKET_CNT ? load : BUCKET_CNT;
    m->grow_noverflow = (size_t)1 << (B > 15 ? 15 : B);
    update_fast_limit(m);
}

/* Recomputes fast_limit (see the field) after the array, B or noverflow
 * changed. */
static void update_fast_limit(gomap *m) {
    m->fast_limit = m->arr != NULL && m->noverflow < m->grow_noverflow ? m->grow_count : 0;
}

/* Sets noverflow, and fast_limit with it. */
static void set_noverflow(gomap *m, size_t n) {
    m->noverflow = n;
    update_fast_limit(m);
}

/* The bucket of a map that has none yet (B = 0, before the first insert):
 * one empty tophash word, so a lookup needs no special case.  Never written
 * (a write allocates a real array first), but not const: the map's array
 * pointers, which also point into real arrays, point here. */
static uint64_t empty_tops[1];
static obucket *empty_nexts[1];
/* Its slots: never read (the tophash word says every slot is empty), but a
 * real address, since even NULL + 0 is undefined in C (clang's UBSan stops on
 * it; found by tests/fuzz/fuzz_iter). */
static char empty_slots[1];

/* A bucket: its tophash word, its overflow pointer and its slots. */
typedef struct bref {
    uint64_t *top;
    obucket **next;
    char *s;
} bref;

static inline bref bucket_at(const gomap *m, uint64_t *tops, obucket **nexts, char *slots,
                             uintptr_t i) {
    bref b = {&tops[i], &nexts[i], slots + i * bucket_bytes(m)};
    return b;
}
static inline bref arr_bucket(const gomap *m, const barray *a, uintptr_t i) {
    return bucket_at(m, a->tops, a->nexts, a->slots, i);
}
static inline bref obucket_ref(obucket *o) {
    bref b = {&o->top, &o->next, oslots(o)};
    return b;
}
/* The next bucket of a chain; .top NULL at the end. */
static inline bref next_bucket(bref b) {
    if (*b.next)
        return obucket_ref(*b.next);
    bref n = {NULL, NULL, NULL};
    return n;
}

/* Makes `a` the map's current array: the map caches its parts in its first
 * cache line for lookups.  NULL installs the empty bucket (no array yet). */
static void install_array(gomap *m, barray *a) {
    m->arr = a;
    m->tops = a ? a->tops : empty_tops;
    m->nexts = a ? a->nexts : empty_nexts;
    m->slots = a ? a->slots : empty_slots;
    update_fast_limit(m);
}

/* The bits of view_slow. */
enum { VIEW_SHAPE = 1, VIEW_GROWING = 2 };

/* Recomputes view_slow (see the field) after its kind, layout or growth
 * changed. */
static void update_view_slow(gomap *m) {
    uint8_t slow =
        (uint8_t)((m->kind == K_U64 && m->vsize == 8 && m->voff == 8 && m->slot_size == 16
                       ? 0
                       : VIEW_SHAPE) |
                  (m->oldtops != NULL ? VIEW_GROWING : 0));
    /* A relaxed atomic store: a reader's check loads the whole head word
     * atomically, also while a write runs (then only to see the writing
     * word set and take the slow path, which in the survive modes waits),
     * and the head's other bytes must not be plain stores racing with it. */
    __atomic_store_n(&m->view_slow, slow, __ATOMIC_RELAXED);
}

/* Copies clear_seq's low 24 bits into clear24 (see the field), after a
 * clear. */
static void store_clear24(gomap *m) {
    uint64_t c = m->clear_seq;
    for (int i = 0; i < 3; i++) /* relaxed atomic stores: see update_view_slow */
        __atomic_store_n(&m->clear24[i], (uint8_t)(c >> (8 * i)), __ATOMIC_RELAXED);
}

/* Makes `a` the map's old array (being evacuated); NULL: not growing. */
static void install_old_array(gomap *m, barray *a) {
    m->oldarr = a;
    m->oldtops = a ? a->tops : NULL;
    m->oldnexts = a ? a->nexts : NULL;
    m->oldslots = a ? a->slots : NULL;
    update_view_slow(m);
}

/* Bucket arrays from this size up ask for transparent huge pages.  A
 * lookup in a large map touches a random header line and a random slot
 * line; with 4 KiB pages nearly every slot line also misses the TLB (a
 * 1M-entry u64 map's slots span 32 MiB, 8192 pages), and the page walk,
 * not the cache miss, limits how many lookups overlap.  Smaller arrays
 * are left alone: their pages fit the TLB, and a huge page would give
 * them memory they do not use. */
#define HUGE_ARRAY_MIN ((size_t)4 << 20)

/* Advises the 2 MiB-aligned pages inside a fresh block of the system
 * allocator's, whose memory the caller owns until it frees it, to be huge
 * pages when the block is an array of at least HUGE_ARRAY_MIN bytes.  Advice
 * only: when the kernel declines (THP off, no huge page free) the block keeps
 * its small pages and nothing else changes.  Also used by the deferred-free
 * hook (guarded.c), through which rwmap and shardmap take their arrays. */
#if defined(__linux__) && defined(MADV_HUGEPAGE)
void gomap__advise_huge(void *p, size_t bytes) {
    const uintptr_t huge = (uintptr_t)2 << 20;
    uintptr_t lo = ((uintptr_t)p + huge - 1) & ~(huge - 1);
    uintptr_t hi = ((uintptr_t)p + bytes) & ~(huge - 1);
    if (p && bytes >= HUGE_ARRAY_MIN && hi > lo)
        (void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
}
#else
void gomap__advise_huge(void *p, size_t bytes) {
    (void)p;
    (void)bytes;
}
#endif

/* Allocates a bucket array of 2^B buckets with its overflow pool, all
 * headers zero (every slot EMPTY_REST).  NULL on allocation failure. */
static barray *new_array(const gomap *m, unsigned B) {
    uintptr_t nb = (uintptr_t)1 << B;
    uintptr_t npool = B >= 4 ? (uintptr_t)1 << (B - 4) : 0;
    size_t head = ARRAY_HEAD;
    size_t hdrs = nb * (sizeof(uint64_t) + sizeof(obucket *));
    size_t slots = nb * bucket_bytes(m);
    size_t pool = npool * obucket_bytes(m);
    size_t bytes = head + hdrs + slots + pool;
    /* Only the headers need zeroing (pool buckets are initialised when taken,
     * slots when filled).  A large array from malloc gets its pages already
     * zero from the kernel through calloc instead of writing them; a smaller
     * one comes from the heap, where calloc would clear the slots too (8/9
     * of the array: most of a small map's growth cost), so only its headers
     * are cleared. */
    char *p;
    if (m->alloc.alloc == sys_alloc && bytes >= HUGE_ARRAY_MIN) {
        p = calloc(1, bytes);
        if (p)
            gomap__advise_huge(p, bytes);
    } else {
        p = m_alloc(m, bytes);
        if (p)
            memset(p, 0, head + hdrs);
    }
    if (!p)
        return NULL;
    barray *a = (barray *)p;
    a->retired_next = NULL;
    a->bytes = bytes;
    a->nbuckets = nb;
    a->tops = (uint64_t *)(p + head);
    a->nexts = (obucket **)(p + head + nb * sizeof(uint64_t));
    a->slots = p + head + hdrs;
    a->pool = a->slots + slots;
    a->pool_next = a->pool;
    a->pool_end = a->pool + pool;
    return a;
}

static inline bool in_pool(const barray *a, const obucket *o) {
    return (const char *)o >= a->pool && (const char *)o < a->pool_end;
}

/* ---- keys ----------------------------------------------------------------- */

/* The key size in a slot, per public kind. */
static size_t slot_key_size(gomap_key_kind k, size_t key_size) {
    switch (k) {
    case GOMAP_KEY_U64:
        return 8;
    case GOMAP_KEY_U32:
        return 4;
    case GOMAP_KEY_STRING:
        return sizeof(skey);
    case GOMAP_KEY_STRING_BORROWED:
        return sizeof(gomap_str);
    case GOMAP_KEY_BYTES:
        return key_size;
    }
    return 0;
}

/* Natural alignment of an object of this size: its largest power-of-two
 * divisor, at most 16 (what malloc guarantees). */
static size_t natural_align(size_t size) {
    size_t a = 1;
    while (a < 16 && size % (a * 2) == 0)
        a *= 2;
    return a;
}

/* Whether a 16-byte string whose last byte is `last` is stored inline: its
 * last byte is then the tag, which must not read as a length or the heap
 * mark. */
static inline bool sso16_tag(uint8_t last) {
    return last >= 16 && last != SSO_HEAP;
}

/* A string slot's bytes and length (gomap.h's inline iteration step reads
 * the same layout). */
static inline gomap_str skey_view(const skey *k) {
    return gomap__owned_key_view(k->u.b);
}

/* Whether a map's keys are strings (a caller passes a gomap_str), owned or
 * borrowed.  With kind a constant this folds to a constant, except for
 * K_GEN, which asks the map; pass K_GEN where the kind is not known. */
ALWAYS_INLINE bool string_keys(const gomap *m, int kind) {
    return kind == K_STR || kind == K_BSTR ||
           (kind == K_GEN &&
            (m->config_kind == GOMAP_KEY_STRING || m->config_kind == GOMAP_KEY_STRING_BORROWED));
}

/* Whether the map owns its keys' bytes (GOMAP_KEY_STRING: it copies them in
 * and frees them).  kind as for string_keys. */
ALWAYS_INLINE bool owns_keys(const gomap *m, int kind) {
    return kind == K_STR || (kind == K_GEN && m->config_kind == GOMAP_KEY_STRING);
}

/* The gomap_str view of a stored string key of either string kind. */
static inline gomap_str slot_str(const gomap *m, const char *slot) {
    if (owns_keys(m, K_GEN))
        return skey_view((const skey *)slot);
    gomap_str s;
    memcpy(&s, slot, sizeof s);
    return s;
}

/* Calls a user function with the reentrancy marker set: a write to this map
 * from inside it is detected (see map_write_begin). */
#ifndef GOMAP_NO_DETECT
static __thread const gomap *in_callback __attribute__((tls_model("initial-exec")));
#endif

static uint64_t user_hash(const gomap *m, const void *key) {
#ifndef GOMAP_NO_DETECT
    const gomap *saved = in_callback;
    in_callback = m;
    uint64_t h = m->hash_fn(key, m->seed, m->fn_ctx);
    in_callback = saved;
    return h;
#else
    return m->hash_fn(key, m->seed, m->fn_ctx);
#endif
}

static bool user_equal(const gomap *m, const void *a, const void *b) {
#ifndef GOMAP_NO_DETECT
    const gomap *saved = in_callback;
    in_callback = m;
    bool r = m->equal_fn(a, b, m->fn_ctx);
    in_callback = saved;
    return r;
#else
    return m->equal_fn(a, b, m->fn_ctx);
#endif
}

/* Hash of a key of a built-in kind (pointing to a uint64_t, uint32_t,
 * gomap_str, or key_size bytes). */
ALWAYS_INLINE uint64_t hash_builtin(const gomap *m, const void *key, int kind) {
    switch (kind) {
    case K_U64: {
        uint64_t k;
        memcpy(&k, key, 8);
        return gomap__hash_u64_secret(k, m->sec);
    }
    case K_U32: {
        uint32_t k;
        memcpy(&k, key, 4);
        return gomap__hash_u64_secret(k, m->sec);
    }
    case K_STR:
    case K_BSTR: {
        const gomap_str *s = key;
        return gomap__hash_bytes(s->ptr, s->len, m->seed);
    }
    default:
        return gomap__hash_bytes(key, m->ksize, m->seed);
    }
}

/* Hash of a caller's key; K_GEN decides by the map's configuration.  Not
 * written as a call to itself: an always-inline function that calls itself
 * does not compile without optimization. */
ALWAYS_INLINE uint64_t hash_key(const gomap *m, const void *key, int kind) {
    if (kind != K_GEN)
        return hash_builtin(m, key, kind);
    if (m->hash_fn)
        return user_hash(m, key);
    switch (m->config_kind) {
    case GOMAP_KEY_U64:
        return hash_builtin(m, key, K_U64);
    case GOMAP_KEY_U32:
        return hash_builtin(m, key, K_U32);
    case GOMAP_KEY_STRING:
    case GOMAP_KEY_STRING_BORROWED:
        return hash_builtin(m, key, K_STR);
    default:
        return hash_builtin(m, key, K_BYTES);
    }
}

/* Hash of a stored key (a slot's key part). */
ALWAYS_INLINE uint64_t hash_slot(const gomap *m, const char *slot, int kind) {
    if (string_keys(m, kind)) {
        gomap_str s = slot_str(m, slot);
        return hash_key(m, &s, kind);
    }
    return hash_key(m, slot, kind);
}

/* memcmp for string keys: a gomap_str of length 0 may have a NULL ptr
 * (gomap.h), and memcmp's arguments must not be NULL even for 0 bytes.
 * Keys of 8 to 16 bytes, the commonest, are compared inline as two
 * overlapping 8-byte words (the first 8 bytes and the last 8), as abseil's
 * and xxHash's short paths load them: no call, and no registers to save
 * around one in the caller's probe loop. */
ALWAYS_INLINE bool bytes_equal(const void *a, const void *b, size_t n) {
    if (likely(n - 8 <= 8)) {
        uint64_t a0, a1, b0, b1;
        memcpy(&a0, a, 8);
        memcpy(&b0, b, 8);
        memcpy(&a1, (const char *)a + n - 8, 8);
        memcpy(&b1, (const char *)b + n - 8, 8);
        return ((a0 ^ b0) | (a1 ^ b1)) == 0;
    }
    return n == 0 || memcmp(a, b, n) == 0;
}

/* Whether a stored key equals a caller's key. */
ALWAYS_INLINE bool key_equal(const gomap *m, const char *slot, const void *key, int kind) {
    switch (kind) {
    case K_U64:
        return memcmp(slot, key, 8) == 0;
    case K_U32:
        return memcmp(slot, key, 4) == 0;
    case K_STR: {
        const gomap_str *k = key;
        gomap_str s = skey_view((const skey *)slot);
        return s.len == k->len && bytes_equal(s.ptr, k->ptr, k->len);
    }
    case K_BSTR: {
        const gomap_str *k = key;
        const gomap_str *s = (const gomap_str *)slot;
        return s->len == k->len && (s->ptr == k->ptr || bytes_equal(s->ptr, k->ptr, k->len));
    }
    case K_BYTES:
        return memcmp(slot, key, m->ksize) == 0;
    default:
        if (string_keys(m, K_GEN)) {
            gomap_str s = slot_str(m, slot);
            if (m->equal_fn)
                return user_equal(m, &s, key);
            const gomap_str *k = key;
            return s.len == k->len && bytes_equal(s.ptr, k->ptr, k->len);
        }
        if (m->equal_fn)
            return user_equal(m, slot, key);
        return memcmp(slot, key, m->ksize) == 0;
    }
}

/* Whether a caller's key is NULL or an absurd string (map_internal.h).
 * Such a key is absent from every map, and a set of it is EINVAL. */
ALWAYS_INLINE bool absurd_key(const gomap *m, const void *key, int kind) {
    if (unlikely(key == NULL))
        return true;
    if (string_keys(m, kind)) {
        return unlikely(gomap__str_key_absurd(key));
    }
    return false;
}

/* A key as it will be stored, prepared before the map is changed so that its
 * allocation (a long owned string) can fail harmlessly. */
typedef struct kstore {
    union {
        skey s;
        char b[GOMAP_MAX_KEY_SIZE];
    } u;
} kstore;

static int prepare_key(const gomap *m, const void *key, kstore *ks) {
    if (owns_keys(m, K_GEN)) {
        const gomap_str *k = key;
        memset(&ks->u.s, 0, sizeof ks->u.s);
        if (k->len <= SSO_MAX) {
            if (k->len)
                memcpy(ks->u.s.u.b, k->ptr, k->len);
            ks->u.s.u.b[15] = (char)k->len;
        } else if (SSO_16 && k->len == 16 && sso16_tag((uint8_t)k->ptr[15])) {
            memcpy(ks->u.s.u.b, k->ptr, 16);
        } else {
            char *p = m_alloc(m, k->len);
            if (!p)
                return ENOMEM;
            memcpy(p, k->ptr, k->len);
            ks->u.s.u.h.ptr = p;
            ks->u.s.u.h.len_tag = (uint64_t)k->len | ((uint64_t)SSO_HEAP << 56);
        }
    } else {
        memcpy(ks->u.b, key, m->ksize);
    }
    return 0;
}

static void unprepare_key(const gomap *m, kstore *ks) {
    if (owns_keys(m, K_GEN) && (uint8_t)ks->u.s.u.b[15] == SSO_HEAP)
        m_free(m, ks->u.s.u.h.ptr, ks->u.s.u.h.len_tag & HEAP_LEN_MASK);
}

/* Frees the heap bytes of an owned string key in a slot. */
static void free_key(const gomap *m, char *slot) {
    skey *k = (skey *)slot;
    if ((uint8_t)k->u.b[15] == SSO_HEAP)
        m_free(m, k->u.h.ptr, k->u.h.len_tag & HEAP_LEN_MASK);
}

/* Whether some iteration may still be running.  Relaxed: iterators and
 * writes are ordered by the map's contract (a write never runs concurrently
 * with an iterator step), so the count only has to be exact, which the
 * atomic read-modify-writes of concurrent iterators keep it. */
static inline uint32_t cohort_live(const gomap *m, unsigned cohort) {
    return atomic_load_explicit(&m->iters->live[cohort], memory_order_relaxed);
}

static inline bool iterations_live(const gomap *m) {
    return cohort_live(m, 0) + cohort_live(m, 1) != 0;
}

/* Whether an iterator may read a deleted key's bytes later: it walks an
 * array whose evacuated slots still name the key, and looks it up. */
static inline bool keys_may_be_read_stale(const gomap *m) {
    return iterations_live(m) &&
           (m->retired != NULL || m->retired_old != NULL ||
            (growing(m) &&
             (atomic_load_explicit(&m->iters->flags, memory_order_relaxed) & ITER_OLD)));
}

/* Frees, or defers freeing, the heap bytes of a deleted owned key. */
static void drop_iterator_memory(gomap *m);

static void release_key(gomap *m, char *slot) {
    skey *k = (skey *)slot;
    if ((uint8_t)k->u.b[15] != SSO_HEAP)
        return;
    drop_iterator_memory(m);
    if (keys_may_be_read_stale(m)) {
        dstr *d = (dstr *)k->u.h.ptr;
        d->len = k->u.h.len_tag & HEAP_LEN_MASK;
        d->next = m->deferred;
        m->deferred = d;
        return;
    }
    free_key(m, slot);
}

ALWAYS_INLINE void copy_value(void *dst, const void *src, size_t vsize) {
    if (src == NULL) {
        memset(dst, 0, vsize);
        return;
    }
    switch (vsize) {
    case 0:
        break;
    case 4:
        memcpy(dst, src, 4);
        break;
    case 8:
        memcpy(dst, src, 8);
        break;
    case 16:
        memcpy(dst, src, 16);
        break;
    default:
        memcpy(dst, src, vsize);
    }
}

/* Copies a whole slot; constant sizes for the common ones, so evacuation does
 * not call memcpy per entry. */
ALWAYS_INLINE void copy_slot(void *dst, const void *src, size_t ss) {
    switch (ss) {
    case 8:
        memcpy(dst, src, 8);
        break;
    case 16:
        memcpy(dst, src, 16);
        break;
    case 24:
        memcpy(dst, src, 24);
        break;
    case 32:
        memcpy(dst, src, 32);
        break;
    default:
        memcpy(dst, src, ss);
    }
}

/* ---- detection ------------------------------------------------------------ */

/* How a read entered the map: unchecked or reported (PLAIN), counted in a
 * serializing map's readers (ANNOUNCED), or not at all (SKIP: a nested read
 * from the writer's own callback). */
enum read_entry { READ_PLAIN, READ_ANNOUNCED, READ_SKIP };

/* What a write's mid check (write_check_mid) expects in the word, an
 * int64_t `own`: OWN_NONE, no check (a locked write, which leaves the word
 * alone); OWN_ID, the writer's id (a claim of write_begin or
 * write_begin_slow, with or without mode bits); otherwise the stack
 * pointer of a write_claim_sp, whose low 32 bits are its token (the whole
 * register is passed, which saves the zero-extension of its low half at
 * each call; a user-space address is positive, so never OWN_NONE or
 * OWN_ID).  The check runs in a callee of the
 * claiming frame, whose stack pointer is not the claim's: write_own turns
 * the way a write claimed the word (CLAIM_*) into `own`, in the claiming
 * frame itself (an insert's set_impl, into which assign_impl is inlined),
 * at the call that may reach the check. */
#define OWN_NONE ((int64_t)-1)
#define OWN_ID   ((int64_t)-2)
enum { CLAIM_NONE, CLAIM_ID, CLAIM_SP, CLAIM_GIVEN };

#ifndef GOMAP_NO_DETECT
static inline int writer_of(const gomap *m) {
    return atomic_load_explicit(&m->writing, memory_order_relaxed);
}

/* The writing word of m when no write runs: its mode bits (detect.h). */
static inline int idle_word(const gomap *m) {
    return ((m->wslow & WSLOW_SERIAL) ? GOMAP__SERIAL : 0) |
           ((m->wslow & (WSLOW_CB | WSLOW_STACK | WSLOW_TID)) ? GOMAP__SLOW : 0);
}

/* Whether a reader must take the slow path: a write is running, or the map
 * serializes (or was freed).  The same test any inline lookup in a public
 * header must make before reading the map (GOMAP__WRITING_WORD_SET). */
static inline bool writing_now(const gomap *m) {
    return GOMAP__WRITING_WORD_SET(&m->writing);
}

/* The writer a word w other than the idle one names, for a report: w
 * without the map's mode bits — a thread id, or in a default-mode map also
 * an insert's or delete's stack token (write_claim_sp), which uses all 32
 * bits and so
 * is passed whole (the idle word is 0 there). */
static inline int holder_of(const gomap *m, int w) {
    return w == GOMAP__FREED_WRITER ? w : w & ~idle_word(m);
}

/* The head word (the header's first 8 bytes), loaded whole through a
 * may_alias type (its fields are an int and bytes), as one atomic access
 * like gomap.h's inline lookup's. */
typedef uint64_t __attribute__((may_alias)) head_word;

/* Whether the head word's writing word and shape byte are 0 (see struct
 * gomap's view_slow): no write running, a map in the default mode, and the
 * shape of gomap.h's inline lookup, whose u64 keys (K_U64) need no
 * dispatch.  An insert and a delete pick their path with it: Go's entry
 * check and the choice of the u64 path in one compare and a branch, as many
 * as the shape test alone.  Relaxed, like the entry check.  With
 * GOMAP__SP_TOKEN (x86-64 with glibc, outside ThreadSanitizer, which must
 * see the access) the compare is made with the word in memory, one
 * instruction fewer (the compiler loads an atomic into a register first);
 * an aligned 8-byte load is atomic on x86-64, as the relaxed load is. */
static inline bool head_idle_set(const gomap *m) {
#if defined(GOMAP__SP_TOKEN)
    __asm__ goto("cmpq $0xffffff, %0\n\tja %l[busy]"
                 :
                 : "m"(*(const head_word *)(const void *)m)
                 : "cc"
                 : busy);
    return true;
busy:
    return false;
#else
    uint64_t h = __atomic_load_n((const head_word *)(const void *)m, __ATOMIC_RELAXED);
    return GOMAP__HEAD_HIGH5(h) == 0;
#endif
}

/*
 * Survive modes.  With GOMAP_DEBUG=conflict=report or count a map created
 * then (WSLOW_SERIAL) keeps the program and the map correct after a
 * conflict: the conflicting call is reported (or counted) and then waits
 * for the other party instead of racing with it.  Its writing word always
 * holds GOMAP__SERIAL, so every read, write and iterator step takes its
 * slow path, which makes the word a lock:
 *   - a writer claims it by compare-and-swap from GOMAP__SERIAL to
 *     GOMAP__SERIAL | tid (acquire: it sees everything the previous writer
 *     wrote, pairing with that writer's release in write_end_slow), then
 *     waits until no reader is inside;
 *   - a reader (or iterator step) announces itself in `readers`, then looks
 *     at the word; if a writer holds it, it withdraws, waits and retries.
 *     The announcement and the writer's claim are sequentially consistent,
 *     so of a reader and a writer arriving together at least one sees the
 *     other (Dekker): never both inside.  The reader's withdrawal is a
 *     release, pairing with the writer's load of `readers`.
 * The default mode keeps its fast paths: none of this is reached there.
 * A call the map makes into a user function, that calls back into the map,
 * cannot wait for its own thread: it is reported and goes on, as before.
 */
static enum read_entry read_begin_serial(const gomap *m, gomap_conflict_type conflict);

/* The slow path of a read or iterator step that found the word nonzero. */
NOINLINE enum read_entry read_begin_slow(const gomap *m, gomap_conflict_type conflict) {
    int w = writer_of(m);
    /* Whether the map serializes is its wslow, not the word's SERIAL bit: a
     * nested write's end clears that bit for a moment (see write_end). */
    if (w != GOMAP__FREED_WRITER && (m->wslow & WSLOW_SERIAL))
        return read_begin_serial(m, conflict);
    if (w == idle_word(m))
        return READ_PLAIN;
    gomap__conflict(m, conflict, holder_of(m, w), false);
    /* A nested read from the writer's own callback (report mode) must not
     * look: the write may be half done, and a hash function reading its own
     * map would recurse without end. */
    return (w & GOMAP__TID_MASK) == gomap__tid() ? READ_SKIP : READ_PLAIN;
}

/* A serializing map's reader: announce, then look for a writer. */
static enum read_entry read_begin_serial(const gomap *m, gomap_conflict_type conflict) {
    bool reported = false;
    unsigned spins = 0;
    for (;;) {
        atomic_fetch_add_explicit(m->readers, 1, memory_order_seq_cst);
        int w = atomic_load_explicit(&m->writing, memory_order_seq_cst);
        if (!(w & GOMAP__TID_MASK))
            return READ_ANNOUNCED;
        atomic_fetch_sub_explicit(m->readers, 1, memory_order_release);
        if ((w & GOMAP__TID_MASK) == gomap__tid()) {
            gomap__conflict(m, conflict, holder_of(m, w), false);
            return READ_SKIP;
        }
        if (!reported) {
            gomap__conflict(m, conflict, holder_of(m, w), true);
            reported = true;
        }
        while (atomic_load_explicit(&m->writing, memory_order_relaxed) & GOMAP__TID_MASK)
            gomap__conflict_wait(&spins);
    }
}

static inline void read_end(const gomap *m, enum read_entry e) {
    if (e == READ_ANNOUNCED)
        atomic_fetch_sub_explicit(m->readers, 1, memory_order_release);
}

/* A read (or iterator step) that cannot retry its work checks the flag at
 * its start and end: gomap_clone. */
static inline enum read_entry read_begin(const gomap *m, gomap_conflict_type conflict) {
    return unlikely(writing_now(m)) ? read_begin_slow(m, conflict) : READ_PLAIN;
}

/* A serializing map's write: claims the word, then waits for readers. */
static int write_begin_serial(gomap *m) {
    int me = gomap__tid();
    bool reported = false;
    unsigned spins = 0;
    int idle = idle_word(m);
    for (;;) {
        int w = idle;
        if (atomic_compare_exchange_strong_explicit(&m->writing, &w, idle | me,
                                                    memory_order_seq_cst, memory_order_relaxed))
            break;
        if (w == GOMAP__FREED_WRITER || (w & GOMAP__TID_MASK) == me) {
            /* Freed (fatal), or a write from inside this thread's own
             * write (a callback): it cannot wait for itself, and its end
             * must leave the outer write's claim (the token says so). */
            gomap__conflict(m, GOMAP_CONFLICT_WRITES, holder_of(m, w), false);
            return GOMAP__SERIAL;
        }
        if (!reported) {
            gomap__conflict(m, GOMAP_CONFLICT_WRITES, holder_of(m, w), true);
            reported = true;
        }
        gomap__conflict_wait(&spins);
    }
    /* A write from inside a read's callback on this thread: its own read
     * is counted in `readers` and would never leave. */
    if ((m->wslow & WSLOW_CB) && in_callback == m) {
        gomap__conflict(m, GOMAP_CONFLICT_READ_WRITE, me, false);
    } else {
        reported = false;
        while (atomic_load_explicit(m->readers, memory_order_seq_cst) != 0) {
            if (!reported) {
                gomap__conflict(m, GOMAP_CONFLICT_READ_WRITE, GOMAP__READERS, true);
                reported = true;
            }
            gomap__conflict_wait(&spins);
        }
    }
    if (m->wslow & WSLOW_STACK)
        gomap__record_writer_stack();
    return 0;
}

NOINLINE int write_begin_slow(gomap *m) {
    if (m->wslow & WSLOW_SERIAL)
        return write_begin_serial(m);
    int w = writer_of(m);
    /* Any value but the idle one is a writer: a write's stack token may
     * have no bit of GOMAP__TID_MASK set. */
    if (w != idle_word(m))
        gomap__conflict(m, GOMAP_CONFLICT_WRITES, holder_of(m, w), false);
    else if ((m->wslow & WSLOW_CB) && in_callback == m)
        /* A write from inside a hash or equality function the map called
         * during a read of itself (a write's own callbacks find the flag). */
        gomap__conflict(m, GOMAP_CONFLICT_READ_WRITE, gomap__tid(), false);
    if (m->wslow & WSLOW_STACK)
        gomap__record_writer_stack();
    atomic_store_explicit(&m->writing, idle_word(m) | gomap__tid(), memory_order_relaxed);
    return 0;
}

/*
 * The write protocol's fast path, for a map in the default mode (its word
 * 0 when idle).  Go's two checks, and the writer's id in the word so that
 * a report can name it:
 *   write_begin: the word must be 0 (Go's entry check); then it holds the
 *     writer's thread id.  Any other value (a conflict, a map with mode
 *     bits) takes write_begin_slow.
 *   write_end: the word must still be the writer's id (Go's end check);
 *     then it is 0 again.
 * The token write_begin returns is what write_end takes away from the
 * word: the id on the fast path; 0 from the slow paths, whose word holds
 * mode bits or a conflict, so that write_end changes nothing and goes slow;
 * GOMAP__SERIAL from a nested write of a serializing map (see
 * write_begin_serial), whose end restores the outer write's claim.
 *
 * On x86-64 (not under TSan, which must see C atomics) each check is one
 * instruction and its branch: a compare of the word with 0 in memory, and
 * at the end an exclusive-or of the token into the word, which leaves 0
 * exactly when the word was the token — check and clear in one
 * instruction.  With the id one load (gomap__tid_fs) and its store, the
 * protocol is six instructions per write.  The exclusive-or is a plain
 * read-modify-write, not a locked one: like every access to the word in
 * the default mode it orders nothing and is best effort (Go's own flag
 * update is a plain read-modify-write too); a racing store it overwrites
 * was a conflict already under way, which the other party's end check
 * then finds.  What it leaves behind when the word was not the token (the
 * word exclusive-or the token, for the few instructions until
 * write_end_slow stores the right value) is only ever seen by a conflict's
 * report, which then may name no live thread.  The word is an aligned
 * 4-byte field accessed by single instructions: no access to it tears.
 */
#if defined(GOMAP__TID_FS) && !defined(GOMAP__TSAN)
#define WRITE_PROTOCOL_ASM 1
#endif

/* The two halves of write_begin.  A delete calls them apart: when the
 * entry check fails it takes a separate path of its own, so its common path
 * makes no call it returns from before the end check and saves no
 * registers for one, and it checks the count between them.  write_busy:
 * Go's entry check failed, the word is not 0.  write_claim: the writer's id
 * in the word, returned as the token for write_end.  Relaxed: see the
 * field. */
static inline bool write_busy(const gomap *m) {
#ifdef WRITE_PROTOCOL_ASM
    /* A jump, not a flag output: the compiler then keeps no value of the
     * test alive past it (it would reuse it as a constant). */
    __asm__ goto("cmpl $0, %0\n\tjne %l[busy]" : : "m"(m->writing) : "cc" : busy);
    return false;
busy:
    return true;
#else
    return atomic_load_explicit(&m->writing, memory_order_relaxed) != 0;
#endif
}

static inline int write_claim(gomap *m) {
#ifdef WRITE_PROTOCOL_ASM
    int me = gomap__tid_fs();
#else
    int me = gomap__tid();
#endif
    atomic_store_explicit(&m->writing, me, memory_order_relaxed);
    return me;
}

/* Go's entry check, then the writer's id in the word; returns the token
 * for write_end. */
static inline int write_begin(gomap *m) {
    if (unlikely(write_busy(m)))
        return write_begin_slow(m);
    return write_claim(m);
}

#ifndef GOMAP__SP_TOKEN
/* write_claim's token again, for the write_end of an insert or delete
 * where it has no stack token (write_end_sp): read anew rather than kept
 * in a register across the write, which has none to spare. */
static inline int write_claimed_token(void) {
    return gomap__tid();
}
#endif

/*
 * The writer token of an insert and a delete: the low 32 bits of the
 * stack pointer.
 *
 * write_claim stores the thread id, which costs a load (gomap__tid_fs) at
 * the claim and another at the end check, or a register kept across the
 * write (a delete would spill one): of the protocol's six instructions on
 * an insert, five on a delete.  The stack pointer is a register every thread
 * has, and at any moment no two threads have the same one (their stacks
 * are disjoint), so it can be stored and checked directly:
 * `mov %esp, word` at the claim, `xor %esp, word` and its branch at the end
 * — three instructions.  That needs the stack pointer to be the same at
 * both, which holds because both are in one function (del_impl and
 * set_impl are always inlined into their callers) and between its prologue
 * and epilogue the compiler keeps %rsp fixed: neither write has an alloca
 * or a variable-length array, and none makes a call with arguments on the
 * stack between the two (the insert's call of its slow path, which passes
 * one, is made instead of the claim).  The compiler knows both
 * statements read %rsp (gomap__sp, a global register variable, is their
 * operand, rather than "%esp" in the asm's text that it could not see), so
 * it places the frame's setup before the claim (also when it shrink-wraps
 * the prologue onto the paths that need it) and its teardown after the
 * check.  Should some compiler still move %rsp in between, the end check
 * fails and write_end_slow sees a token of the same frame
 * (sp_token_same_frame): no false report, only a slow write.  An insert's
 * growth checks the word again in a callee (write_check_mid), with the
 * token taken in the claiming frame (write_own).
 *
 * What the token guarantees, beside Go's flag bit:
 *   - nonzero while the write runs (unless the stack pointer's low 32 bits
 *     are 0: one 16-byte slot in 4 GiB of address space; that write then
 *     goes unseen, as a missed detection, never a false one);
 *   - the entry checks of every other call (a read, a write, an iterator
 *     step) test the word against 0, so they catch a write in progress
 *     whatever its token is, exactly as with the id;
 *   - the end check leaves 0 exactly when the word is the token.  Two
 *     threads whose stack pointers agree in their low 32 bits (their stacks
 *     4 GiB apart, each at the matching depth) look alike to it: if both
 *     entered together (both passed the entry check, the race Go's end
 *     check exists for), the first to end clears the word as if it were
 *     its own and the second then finds 0, which is a conflict: detected
 *     one end check later, as Go's flag (toggled twice) is.  It never turns
 *     a correct program's write into a report: a write that no other
 *     call overlapped finds its own token.
 * The report maps a token back to a thread from the stack it lies in
 * (gomap__conflict in detect.c): a glibc thread's descriptor, with its
 * kernel id, sits at the top of its stack, and the main thread's stack is
 * the process's [stack].  A token in a stack of neither kind (a signal
 * handler's alternate stack, a coroutine's) is reported as such with the
 * writer unknown.  Only the fast paths of a default-mode map's insert and
 * delete use it: every other write (and an insert or delete that found
 * the word set, on its slow path), and every map with mode bits (survive modes, writerstack=1, user
 * functions), keeps the thread id, so the survive modes' word-as-lock
 * protocol is untouched.  Relaxed, as the id's store and check.
 */
#ifdef GOMAP__SP_TOKEN
register uintptr_t gomap__sp __asm__("rsp");

static inline void write_claim_sp(gomap *m) {
    __asm__ volatile("movl %k1, %0" : "=m"(m->writing) : "r"(gomap__sp));
}

/* Whether a word w that failed the end check of the write whose token is
 * `token` is still that write's own claim, made at a stack pointer within
 * a page of the end's (see above): the low 32 bits compared modulo 2^32. */
static inline bool sp_token_same_frame(int w, int token) {
    return token != 0 && (uint32_t)w - (uint32_t)token + 4096u < 8192u;
}
#else
#define write_claim_sp(m)             ((void)write_claim(m))
#define sp_token_same_frame(w, token) false
#endif

/* The word was not the token at the end of a write (w: its value before
 * the end).  Either another writer ran meanwhile (it cleared the flag, 0,
 * or holds it now, its id), or the write began on a slow path (the map has
 * mode bits: the word is idle | its id).  Either way the word goes back to
 * the map's idle value; release order, pairing with the next claimant's
 * acquire in a serializing map. */
NOINLINE void write_end_slow(gomap *m, int token, int w) {
    if (token == GOMAP__SERIAL && (m->wslow & WSLOW_SERIAL)) {
        /* A nested write (see write_begin_serial): the outer write holds
         * the word, w.  (A write's stack token may have this value too,
         * in a default-mode map.) */
        atomic_store_explicit(&m->writing, w, memory_order_relaxed);
        return;
    }
    int idle = idle_word(m);
    int me = token ? token : gomap__tid();
    /* Its own claim at another stack pointer happens only if the compiler
     * moved %rsp between a write's claim and its end check (see
     * write_claim_sp): the asserting builds check that it does not. */
    bool own = sp_token_same_frame(w, token);
    GOMAP_ASSERT(!own);
    if (w != (idle | me) && !own)
        gomap__conflict(m, GOMAP_CONFLICT_WRITES, holder_of(m, w), false);
    atomic_store_explicit(&m->writing, idle, memory_order_release);
}

/* A third check, in a write that has just allocated a bucket array and is
 * about to install it (the map's first array, or a growth): the word must
 * still hold the writer's id.  Two writers that both found the word 0 and
 * entered together (threads released at once onto an empty map) would
 * otherwise both install arrays and may crash before either reaches its
 * end-of-write check; by the time an allocation returns, the later one's
 * id has replaced the earlier one's, which this check sees.  Go checks
 * only at a write's two ends; this costs a load and a test once per
 * growth, nothing on the common write. */
NOINLINE void write_mid_slow(const gomap *m, int w) {
    gomap__conflict(m, GOMAP_CONFLICT_WRITES, holder_of(m, w), false);
}

/* See OWN_NONE. */
static inline int64_t write_own(int claim) {
#ifdef GOMAP__SP_TOKEN
    if (claim == CLAIM_SP)
        return (int64_t)gomap__sp;
#endif
    return claim == CLAIM_NONE ? OWN_NONE : OWN_ID;
}

static inline void write_check_mid(const gomap *m, int64_t own) {
    if (own == OWN_NONE)
        return;
    int w = writer_of(m);
    bool ok;
    if (own == OWN_ID) {
        ok = (w & GOMAP__TID_MASK) == gomap__tid();
    } else {
        /* As at the end (write_end_slow), a token of the same frame would
         * mean the compiler moved %rsp after the claim: never a report. */
        bool frame = sp_token_same_frame(w, (int)(uint32_t)own);
        GOMAP_ASSERT(w == (int)(uint32_t)own || !frame);
        ok = w == (int)(uint32_t)own || frame;
    }
    if (unlikely(!ok))
        write_mid_slow(m, w);
}

/* Go's end check, and the word back to 0 (see write_begin). */
static inline void write_end(gomap *m, int token) {
#ifdef WRITE_PROTOCOL_ASM
    bool bad;
    __asm__ volatile("xorl %2, %1" : "=@ccnz"(bad), "+m"(m->writing) : "r"(token));
    if (unlikely(bad))
        write_end_slow(m, token, atomic_load_explicit(&m->writing, memory_order_relaxed) ^ token);
#else
    int w = atomic_load_explicit(&m->writing, memory_order_relaxed);
    if (unlikely(w != token)) {
        write_end_slow(m, token, w);
        return;
    }
    atomic_store_explicit(&m->writing, 0, memory_order_relaxed);
#endif
}

/* write_end for a write_claim_sp: Go's end check and the clear in one
 * exclusive-or of the stack pointer's low 32 bits into the word, as
 * write_end's of the id. */
static inline void write_end_sp(gomap *m) {
#ifdef GOMAP__SP_TOKEN
    bool bad;
    __asm__ volatile("xorl %k2, %1" : "=@ccnz"(bad), "+m"(m->writing) : "r"(gomap__sp));
    if (unlikely(bad)) {
        int token = (int)(uint32_t)gomap__sp;
        write_end_slow(m, token, atomic_load_explicit(&m->writing, memory_order_relaxed) ^ token);
    }
#else
    write_end(m, write_claimed_token());
#endif
}

/* write_end_sp's check in a callee of the claiming frame, which passes
 * write_own(CLAIM_SP) as `own`: its stack token, or OWN_ID where the
 * claim stored the thread id. */
static inline void write_end_own(gomap *m, int64_t own) {
#ifdef GOMAP__SP_TOKEN
    write_end(m, (int)(uint32_t)own);
#else
    (void)own;
    write_end(m, write_claimed_token());
#endif
}
#else
#define writing_now(m)        false
#define read_begin(m, kind)   READ_PLAIN
#define read_end(m, e)        ((void)(e))
#define write_begin(m)        0
#define write_busy(m)         false
#define write_claim(m)        0
#define write_claimed_token() 0
#define write_begin_slow(m)   0
#define write_end(m, me)      ((void)(me))
#define write_claim_sp(m)     ((void)(m))
#define write_end_sp(m)       ((void)(m))
#define write_check_mid(m, o) ((void)(m), (void)(o))
#define write_own(claim)      ((void)(claim), OWN_NONE)
#define write_end_own(m, o)   ((void)(m), (void)(o))
#endif

/* ---- lookup ---------------------------------------------------------------- */

/* A key's home bucket as an index (a batched lookup keeps this between its
 * passes): its bucket in the current array, or, while the map grows and
 * the key's old bucket has not been evacuated, that old bucket's index with
 * OLD_ARRAY set.  `grow` is growing(m). */
#define OLD_ARRAY ((uintptr_t)1 << (sizeof(uintptr_t) * 8 - 1))

ALWAYS_INLINE uintptr_t home_index(const gomap *m, uint64_t hash, bool grow) {
    uintptr_t mask = m->mask;
    if (grow) {
        uintptr_t oi = hash & (m->same_size ? mask : mask >> 1);
        if (!evacuated(m->oldtops[oi]))
            return oi | OLD_ARRAY;
    }
    return hash & mask;
}

/* The bucket of a home_index (`grow` as there). */
ALWAYS_INLINE bref index_bucket(const gomap *m, uintptr_t idx, bool grow) {
    if (grow && (idx & OLD_ARRAY))
        return bucket_at(m, m->oldtops, m->oldnexts, m->oldslots, idx & ~OLD_ARRAY);
    return bucket_at(m, m->tops, m->nexts, m->slots, idx);
}

/* The first bucket of a key's chain: in the old array while its old bucket
 * has not been evacuated, else in the current one. */
ALWAYS_INLINE bref home_bucket(const gomap *m, uint64_t hash) {
    bool grow = unlikely(growing(m));
    return index_bucket(m, home_index(m, hash, grow), grow);
}

/* Finds a key's slot in the chain starting at bucket b, whose tophash word
 * is `top` and whose candidate slots are `mt`.  Returns the slot or NULL. */
ALWAYS_INLINE char *find_in_chain(const gomap *m, const void *key, uint8_t t, bref b, uint64_t top,
                                  uint64_t mt, int kind) {
    size_t ss = m->slot_size;
    for (;;) {
        for (; mt; mt &= mt - 1) {
            char *slot = b.s + first_slot(mt) * ss;
            if (likely(key_equal(m, slot, key, kind)))
                return slot;
        }
        if (chain_ends(top) || !*b.next)
            return NULL;
        b = next_bucket(b);
        top = *b.top;
        mt = match_top(top, t);
    }
}

/* Finds a key's slot, in the old bucket if it has not been evacuated yet.
 * Returns the slot or NULL. */
ALWAYS_INLINE char *find_slot(const gomap *m, const void *key, uint64_t hash, int kind) {
    uint8_t t = tophash(hash);
    bref b = home_bucket(m, hash);
    uint64_t top = *b.top;
    return find_in_chain(m, key, t, b, top, match_top(top, t), kind);
}

/* A lookup without the misuse checks. */
ALWAYS_INLINE void *lookup(const gomap *m, const void *key, uint64_t hash, bool have_hash,
                           int kind) {
    if (!have_hash)
        hash = hash_key(m, key, kind);
    char *slot = find_slot(m, key, hash, kind);
    return slot ? slot + m->voff : NULL;
}

#ifndef GOMAP_NO_DETECT
/* The slow path of a read that found the writing word set (see "Survive
 * modes").  Out of line and reached by a tail call, so the fast path of a
 * lookup saves no registers; the kind is a variable here. */
NOINLINE void *get_slow(const gomap *m, const void *key, uint64_t hash, bool have_hash, int kind) {
    enum read_entry e = read_begin_slow(m, GOMAP_CONFLICT_READ_WRITE);
    void *r = NULL;
    if (e != READ_SKIP && !absurd_key(m, key, kind))
        r = lookup(m, key, hash, have_hash, kind);
    read_end(m, e);
    return r;
}
#endif

/* Go's mapaccess.  Checks the writing flag before the lookup, as Go does:
 * a write running then is caught before the lookup touches a bucket it may
 * be changing, and a serializing map (survive modes) waits there.  The
 * check is one relaxed load of the header's first word and a branch. */
ALWAYS_INLINE void *get_impl(const gomap *m, const void *key, uint64_t hash, bool have_hash,
                             int kind) {
    GOMAP_PROBE2(op, (const void *)m, 0);
#ifndef GOMAP_NO_DETECT
    if (unlikely(writing_now(m)))
        return get_slow(m, key, hash, have_hash, kind);
#endif
    if (absurd_key(m, key, kind))
        return NULL;
    return lookup(m, key, hash, have_hash, kind);
}

/* ---- batched lookup ---------------------------------------------------------- */

/* Keys per group of a batched lookup: with the three-stage pipeline of
 * lookup_many, about three groups' lines are in flight at once, around the
 * 10-12 line fills a core keeps outstanding; a group's state stays in L1. */
#ifndef MANY_GROUP
#define MANY_GROUP 16
#endif

/* The size of the key argument of gomap_get (gomap__key_stride).  A
 * built-in kind fixes the public kind, so the stride of an instantiated hot
 * path is a constant; K_GEN (a user hash) asks the map. */
ALWAYS_INLINE size_t key_arg_size(const gomap *m, int kind) {
    static const gomap_key_kind config_of_kind[] = {
        [K_U64] = GOMAP_KEY_U64,     [K_U32] = GOMAP_KEY_U32,
        [K_STR] = GOMAP_KEY_STRING,  [K_BSTR] = GOMAP_KEY_STRING_BORROWED,
        [K_BYTES] = GOMAP_KEY_BYTES,
    };
    gomap_config cfg = {.key_kind =
                            kind == K_GEN ? (gomap_key_kind)m->config_kind : config_of_kind[kind],
                        .key_size = m->ksize};
    return gomap__key_stride(&cfg);
}

/* The state of one group of a batched lookup between its passes: per key,
 * its home bucket's index (with OLD_ARRAY set when that bucket is in the
 * old array of a growth not yet evacuated), its tophash in every byte (the
 * `want` of match_want, kept whole so that pass 2 does not rebuild it; 0
 * for an absurd key, which is absent: no real tophash is 0, see
 * MIN_TOPHASH), and the slot of its first tophash match in the home bucket,
 * or NULL.  The key is read again where it is needed: recomputing its
 * address is cheaper than storing and reloading it. */
typedef struct many_group {
    uintptr_t idx[MANY_GROUP];
    char *cand[MANY_GROUP];
    uint64_t want[MANY_GROUP];
} many_group;

/* The key of index i of a batch. */
ALWAYS_INLINE const void *many_key(const char *keys, const void *const *keyv, size_t i,
                                   size_t stride) {
    return keyv ? keyv[i] : keys + i * stride;
}

/* Whether a batch may hold absurd keys: a contiguous array of a fixed-size
 * kind cannot (its key pointers are not NULL), so the tests fold away. */
ALWAYS_INLINE bool many_may_be_absurd(const gomap *m, const void *const *keyv, int kind) {
    return keyv || string_keys(m, kind);
}

/* Pass 1 of a group: hash each key, find its home bucket (home_index),
 * prefetch the bucket's tophash line.  (Prefetching the bucket's
 * first slot line here too, before the tophash says which slot, was
 * measured slower: the extra lines cost more bandwidth than the overlap
 * saves.) */
ALWAYS_INLINE void many_hash(const gomap *m, many_group *gr, const char *keys,
                             const void *const *keyv, const uint64_t *hashes, size_t base, size_t g,
                             size_t stride, int kind, bool grow) {
    for (size_t j = 0; j < g; j++) {
        const void *k = many_key(keys, keyv, base + j, stride);
        if (many_may_be_absurd(m, keyv, kind) && absurd_key(m, k, kind)) {
            gr->want[j] = 0;
            gr->idx[j] = 0;
            continue;
        }
        uint64_t h = hashes ? hashes[base + j] : hash_key(m, k, kind);
        uintptr_t idx = home_index(m, h, grow);
        gr->want[j] = BYTES_01 * tophash(h);
        gr->idx[j] = idx;
        __builtin_prefetch(index_bucket(m, idx, grow).top);
    }
}

/* Pass 2: match each key's tophash word, note and prefetch the slot of its
 * first candidate. */
ALWAYS_INLINE void many_match(const gomap *m, many_group *gr, const void *const *keyv, size_t g,
                              int kind, bool grow) {
    size_t ss = m->slot_size;
    for (size_t j = 0; j < g; j++) {
        bref b = index_bucket(m, gr->idx[j], grow);
        uint64_t mt = match_want(*b.top, gr->want[j]);
        char *c = NULL;
        if (mt && !(many_may_be_absurd(m, keyv, kind) && !gr->want[j])) {
            c = b.s + (size_t)first_slot(mt) * ss;
            __builtin_prefetch(c);
        }
        gr->cand[j] = c;
    }
}

/* Pass 3's search of key j's chain, when its candidate slot is not the key
 * (a miss, or a tophash shared with another key): as a single lookup
 * does.  Kept out of pass 3's loop, whose registers it would take. */
NOINLINE char *many_chain(const gomap *m, const many_group *gr, size_t j, const void *k,
                          bool may_be_absurd, int kind, bool grow) {
    uint8_t t = (uint8_t)gr->want[j];
    if (may_be_absurd && !t)
        return NULL;
    bref b = index_bucket(m, gr->idx[j], grow);
    uint64_t top = *b.top;
    return find_in_chain(m, k, t, b, top, match_top(top, t), kind);
}

/* Pass 3: compare each key with its candidate slot, else search its chain;
 * store the value pointers (or NULL) in out[0..g). */
ALWAYS_INLINE size_t many_probe(const gomap *m, const many_group *gr, const char *keys,
                                const void *const *keyv, size_t base, size_t g, size_t stride,
                                void **out, int kind, bool grow) {
    size_t found = 0;
    size_t voff = m->voff;
    for (size_t j = 0; j < g; j++) {
        const void *k = many_key(keys, keyv, base + j, stride);
        char *slot = gr->cand[j];
        if (unlikely(!slot || !key_equal(m, slot, k, kind)))
            slot = many_chain(m, gr, j, k, many_may_be_absurd(m, keyv, kind), kind, grow);
        out[j] = slot ? slot + voff : NULL;
        found += slot != NULL;
    }
    return found;
}

/* Looks up n keys in three passes over groups of MANY_GROUP keys, so the
 * cache misses of a group overlap instead of following one another (the
 * idea of boost's bulk visit and of abseil's prefetch-then-find): (1) hash
 * the keys and prefetch their tophash lines; (2) match the tophash words and
 * prefetch the candidate slots; (3) compare keys.  The passes run as a
 * software pipeline over the groups: step s runs pass 1 of group s, pass 2
 * of group s - 1 and pass 3 of group s - 2, so that between a prefetch and
 * its use there are the other passes of a step.  The keys are either
 * contiguous (`keys`, `stride` apart) or given by pointer (`keyv`), with
 * their hashes (`hashes`) or not.  Stores each value pointer (or NULL) in
 * out[i]; returns how many keys were found.  No misuse checks. */
ALWAYS_INLINE size_t lookup_many_in(const gomap *m, const char *keys, const void *const *keyv,
                                    const uint64_t *hashes, size_t n, void **out, int kind,
                                    bool grow) {
    size_t stride = key_arg_size(m, kind);
    size_t found = 0;
    size_t ngroups = (n + MANY_GROUP - 1) / MANY_GROUP;
    many_group gr[3];
    /* The groups in passes 1, 2 and 3 of a step, rotated after each step
     * (cheaper than indexing by step % 3). */
    many_group *g1 = &gr[0], *g2 = &gr[2], *g3 = &gr[1];
    /* Where pass 3 stores the value pointers when the caller wants none. */
    void *discard[MANY_GROUP];
#define MANY_SIZE(i) (n - (i)*MANY_GROUP < MANY_GROUP ? n - (i)*MANY_GROUP : MANY_GROUP)
    for (size_t step = 0; step < ngroups + 2; step++) {
        if (step < ngroups)
            many_hash(m, g1, keys, keyv, hashes, step * MANY_GROUP, MANY_SIZE(step), stride, kind,
                      grow);
        if (step >= 1 && step - 1 < ngroups)
            many_match(m, g2, keyv, MANY_SIZE(step - 1), kind, grow);
        if (step >= 2) {
            size_t base = (step - 2) * MANY_GROUP;
            found += many_probe(m, g3, keys, keyv, base, MANY_SIZE(step - 2), stride,
                                out ? out + base : discard, kind, grow);
        }
        many_group *free_group = g3;
        g3 = g2;
        g2 = g1;
        g1 = free_group;
    }
#undef MANY_SIZE
    return found;
}

/* lookup_many_in with the growth test made once per batch (a read sees no
 * growth start or end). */
ALWAYS_INLINE size_t lookup_many(const gomap *m, const char *keys, const void *const *keyv,
                                 const uint64_t *hashes, size_t n, void **out, int kind) {
    if (unlikely(growing(m)))
        return lookup_many_in(m, keys, keyv, hashes, n, out, kind, true);
    return lookup_many_in(m, keys, keyv, hashes, n, out, kind, false);
}

#ifndef GOMAP_NO_DETECT
/* The slow path of a batched read that found the writing word set, as
 * get_slow is for one key (see "Survive modes"). */
NOINLINE size_t get_many_slow(const gomap *m, const char *keys, const void *const *keyv,
                              const uint64_t *hashes, size_t n, void **out, int kind) {
    enum read_entry e = read_begin_slow(m, GOMAP_CONFLICT_READ_WRITE);
    size_t r = 0;
    if (e != READ_SKIP)
        r = lookup_many(m, keys, keyv, hashes, n, out, kind);
    else if (out)
        memset(out, 0, n * sizeof *out);
    read_end(m, e);
    return r;
}
#endif

/* A batched read: the misuse checks of get_impl, once per batch. */
ALWAYS_INLINE size_t get_many_impl(const gomap *m, const char *keys, const void *const *keyv,
                                   const uint64_t *hashes, size_t n, void **out, int kind) {
    GOMAP_PROBE2(op, (const void *)m, 0);
#ifndef GOMAP_NO_DETECT
    if (unlikely(writing_now(m)))
        return get_many_slow(m, keys, keyv, hashes, n, out, kind);
#endif
    return lookup_many(m, keys, keyv, hashes, n, out, kind);
}

/* ---- growth ----------------------------------------------------------------- */

/* A supply of overflow buckets for one operation: the pool of the current
 * array first, then buckets allocated beforehand (so that running out cannot
 * happen halfway through a change). */
typedef struct osupply {
    obucket *extra; /* allocated, linked through h.next */
} osupply;

static void supply_free(const gomap *m, osupply *sup) {
    while (sup->extra) {
        obucket *o = sup->extra;
        sup->extra = o->next;
        m_free(m, o, obucket_bytes(m));
    }
}

/* Makes sure `n` overflow buckets are available (pool + extra). */
static int supply_reserve(const gomap *m, osupply *sup, size_t n) {
    barray *a = m->arr;
    size_t in_pool_left = (size_t)(a->pool_end - a->pool_next) / obucket_bytes(m);
    for (size_t have = in_pool_left; have < n; have++) {
        obucket *o = m_alloc(m, obucket_bytes(m));
        if (!o) {
            supply_free(m, sup);
            return ENOMEM;
        }
        o->next = sup->extra;
        sup->extra = o;
    }
    return 0;
}

/* Takes a reserved overflow bucket, empty. */
static obucket *supply_take(gomap *m, osupply *sup) {
    barray *a = m->arr;
    obucket *o;
    if (a->pool_next < a->pool_end) {
        o = (obucket *)a->pool_next;
        a->pool_next += obucket_bytes(m);
    } else if (sup->extra) {
        o = sup->extra;
        sup->extra = o->next;
    } else {
        gomap__internal_error("overflow bucket supply exhausted");
    }
    o->top = 0;
    o->next = NULL;
    set_noverflow(m, m->noverflow + 1);
    return o;
}

/* Frees the non-pool overflow buckets of one bucket's chain and unlinks it. */
static void free_chain(const gomap *m, const barray *a, obucket **head) {
    obucket *o = *head;
    *head = NULL;
    while (o) {
        obucket *n = o->next;
        if (!in_pool(a, o))
            m_free(m, o, obucket_bytes(m));
        o = n;
    }
}

/* Frees the heap strings of the live slots of one chain. */
static void free_chain_keys(const gomap *m, bref b) {
    while (b.top) {
        for (unsigned i = 0; i < BUCKET_CNT; i++)
            if (top_at(*b.top, i) >= MIN_TOPHASH)
                free_key(m, b.s + i * m->slot_size);
        b = next_bucket(b);
    }
}

/* Frees an array's overflow chains and, if live_keys, the heap strings of
 * its live slots. */
static void free_chains(const gomap *m, barray *a, bool live_keys) {
    for (uintptr_t i = 0; i < a->nbuckets; i++) {
        if (live_keys && owns_keys(m, K_GEN))
            free_chain_keys(m, arr_bucket(m, a, i));
        free_chain(m, a, &a->nexts[i]);
    }
}

/* Frees a whole array. */
static void free_array(const gomap *m, barray *a, bool live_keys) {
    free_chains(m, a, live_keys);
    m_free(m, a, a->bytes);
}

static void free_kept(gomap *m, barray **arrays, dstr **strings) {
    while (*arrays) {
        barray *a = *arrays;
        *arrays = a->retired_next;
        free_array(m, a, false);
    }
    while (*strings) {
        dstr *d = *strings;
        *strings = d->next;
        m_free(m, d, d->len);
    }
}

/* Frees everything kept for iterators (clear and free: no iterator will read
 * the arrays again). */
static void free_retired(gomap *m) {
    free_kept(m, &m->retired, &m->deferred);
    free_kept(m, &m->retired_old, &m->deferred_old);
}

/* Frees what was kept for iterators that have all ended, in the manner of
 * RCU's two-phase grace periods: memory kept at time t can be read only by
 * iterations started before t.  Memory moves to the `_old` lists at a phase
 * change, which happens only when the other cohort is empty, so every
 * iteration that might read it is then in cohort iter_phase, which becomes
 * the old cohort; no iteration joins that cohort again until the next phase
 * change, which waits for it to drain and frees the `_old` lists first.  So
 * with iterations started and ended steadily, kept memory is bounded by what
 * two phases retire; an abandoned iterator (never ended) keeps its cohort
 * alive and the map keeps memory until clear or free, as gomap.h says. */
static void drop_iterator_memory(gomap *m) {
    if (!m->retired && !m->deferred && !m->retired_old && !m->deferred_old)
        return;
    if (!iterations_live(m)) {
        free_retired(m);
        return;
    }
    unsigned old = m->iter_phase ^ 1u;
    if (cohort_live(m, old) != 0)
        return;
    free_kept(m, &m->retired_old, &m->deferred_old);
    m->retired_old = m->retired;
    m->deferred_old = m->deferred;
    m->retired = NULL;
    m->deferred = NULL;
    m->iter_phase = (uint8_t)old;
}

/* Go's hashGrow: allocates the new array and makes the current one old.
 * Evacuation happens later, in growWork.  ENOMEM: nothing changed.  `own`:
 * whose claim the word must hold, checked again here (write_check_mid). */
static int hash_grow(gomap *m, int64_t own) {
    GOMAP_ASSERT(!growing(m));
    unsigned bigger = over_load_factor(m->count + 1, m->B) ? 1 : 0;
    unsigned newB = m->B + bigger;
    barray *a = new_array(m, newB);
    if (!a)
        return ENOMEM;
    write_check_mid(m, own);
    GOMAP_PROBE5(grow_start, (void *)m, (unsigned)m->B, newB, !bigger, m->count);
    drop_iterator_memory(m);
    if (!iterations_live(m))
        atomic_store_explicit(&m->iters->flags, 0, memory_order_relaxed);
    uint8_t f = atomic_load_explicit(&m->iters->flags, memory_order_relaxed);
    atomic_store_explicit(&m->iters->flags, (f & ITER_NEW) ? ITER_OLD : 0, memory_order_relaxed);
    install_old_array(m, m->arr);
    install_array(m, a);
    set_B(m, newB);
    m->same_size = !bigger;
    m->nevacuate = 0;
    set_noverflow(m, 0);
    return 0;
}

static inline uintptr_t old_nbuckets(const gomap *m) {
    return m->same_size ? ((uintptr_t)1 << m->B) : ((uintptr_t)1 << (m->B - 1));
}

/* Ends a growth: frees the old array, or retires it if an iterator may hold
 * it.  Without ITER_OLD every old chain was freed when it was evacuated, so
 * this is O(1). */
static void finish_growth(gomap *m) {
    barray *old = m->oldarr;
    GOMAP_ASSERT(old != NULL && m->nevacuate == old_nbuckets(m));
    if (atomic_load_explicit(&m->iters->flags, memory_order_relaxed) & ITER_OLD) {
        if (iterations_live(m)) {
            old->retired_next = m->retired;
            m->retired = old;
        } else {
            /* Marked, but every iteration has ended since: the chains the
             * evacuation kept for them can go now, with the array. */
            free_array(m, old, false);
        }
    } else {
        m_free(m, old, old->bytes);
    }
    uint8_t f = atomic_load_explicit(&m->iters->flags, memory_order_relaxed);
    atomic_store_explicit(&m->iters->flags, f & (uint8_t)~ITER_OLD, memory_order_relaxed);
    install_old_array(m, NULL);
    m->same_size = 0;
    drop_iterator_memory(m);
}

/* Go's advanceEvacuationMark.  Returns 0, so that an evacuation ends with
 * it as a tail call. */
static int advance_evacuation_mark(gomap *m, uintptr_t newbit) {
    m->nevacuate++;
    uintptr_t stop = m->nevacuate + EVACUATION_SCAN_LIMIT;
    if (stop > newbit)
        stop = newbit;
    while (m->nevacuate != stop && evacuated(m->oldtops[m->nevacuate]))
        m->nevacuate++;
    if (m->nevacuate == newbit)
        finish_growth(m);
    return 0;
}

/* Evacuation destination: a bucket being filled, its next free slot and its
 * tophash word as built so far (stored when the bucket is left or the
 * evacuation ends: the word is written once per bucket, not once per
 * entry). */
typedef struct evacdst {
    bref b;
    unsigned i;
    uint64_t top;
} evacdst;

/* Starts filling bucket b, which must be empty (all EMPTY_REST): nothing
 * is put into a new bucket before the old bucket it receives from is
 * evacuated, and an overflow bucket is fresh. */
static inline void evacdst_start(evacdst *d, bref b) {
    GOMAP_ASSERT(*b.top == 0);
    d->b = b;
    d->i = 0;
    d->top = 0;
}

/* Puts an entry (its slot and tophash t) into d's bucket, first chaining
 * a reserved overflow bucket to it when it is full. */
ALWAYS_INLINE void evacdst_put(gomap *m, evacdst *d, osupply *sup, const char *slot, uint64_t t,
                               size_t ss) {
    if (unlikely(d->i == BUCKET_CNT)) {
        *d->b.top = d->top;
        obucket *o = supply_take(m, sup);
        *d->b.next = o;
        evacdst_start(d, obucket_ref(o));
    }
    copy_slot(d->b.s + d->i * ss, slot, ss);
    d->top |= t << (d->i * 8);
    d->i++;
}

/* The commonest evacuation: a doubling growth, old bucket `ob` has no
 * overflow bucket, so its at most 8 entries fit in new buckets ob (X) and
 * ob + newbit (Y) without one.  The same moves and marks as the general
 * loop below, with the slot size `ss` a constant where the caller makes it
 * one and both destination words built in registers. */
ALWAYS_INLINE void evacuate_single(gomap *m, uintptr_t ob, uintptr_t newbit, size_t ss, int kind) {
    uint64_t *otop = &m->oldtops[ob];
    const char *os = m->oldslots + ob * ss * BUCKET_CNT;
    uint64_t top = *otop;
    /* Branch-free: the half an entry goes to is a bit of its hash, as
     * likely one as the other, so a branch on it would be mispredicted for
     * half the entries.  Each half's next slot is a slot index into the
     * new array (bucket * BUCKET_CNT + slot) indexed by that bit: the
     * slot's address and its tophash byte's (store_top_at, straight into
     * the new bucket's word, which is empty) both follow from it, so one
     * index per half is kept and advanced where a slot pointer and a
     * pointer to a tophash byte built on the stack were.  The old bucket's
     * marks are bytes (mk), and each entry's tophash is loaded from the
     * old word as a byte: fewer instructions than shifting both in and
     * out of registers. */
    char *ns = m->slots;
    uint64_t *nt = m->tops;
    uintptr_t next[2] = {ob * BUCKET_CNT, (ob + newbit) * BUCKET_CNT};
    unsigned oldb = (unsigned)__builtin_ctzll(newbit); /* the half's hash bit */
    uint8_t mk[BUCKET_CNT];
    const uint64_t all_empty = BYTES_01 * EVACUATED_EMPTY;
    memcpy(mk, &all_empty, sizeof mk);
    GOMAP_ASSERT(m->tops[ob] == 0 && m->tops[ob + newbit] == 0);
    for (unsigned occ = occupied_slots(top); occ; occ &= occ - 1) {
        unsigned i = (unsigned)__builtin_ctz(occ);
        uint8_t t = load_top(otop, i);
        if (unlikely(t < MIN_TOPHASH))
            gomap__internal_error("bad map state: evacuating an evacuated slot");
        const char *slot = os + i * ss;
        unsigned y = (unsigned)(hash_slot(m, slot, kind) >> oldb) & 1u;
        mk[i] = (uint8_t)(EVACUATED_X + y);
        uintptr_t d = next[y]++;
        copy_slot(ns + d * ss, slot, ss);
        store_top_at(nt, d, t);
    }
    *otop = top_word_of(mk);
}

/* How many buckets of an old chain the evacuation's counting pass
 * remembers the X/Y split of (see evacuate_impl). */
#define EVAC_MEMO 8

/* A doubling growth's old chain of at most EVAC_MEMO buckets from *at,
 * whose entries fit one bucket in each half by evacuate_chain's counting
 * pass: omemo[k] the occupied slots of its k-th bucket as counted (and
 * 1 << BUCKET_CNT, which no bucket's slots are, after the last), ymemo[k]
 * those whose entries go to Y.  The moves and marks of evacuate_single,
 * without hashing again.
 *
 * The move trusts the count only as far as the chain still matches it: a
 * bucket is moved only if its occupied slots are those counted (so no
 * bucket past the counted ones is), so each half receives at most the
 * entries counted for it (at most BUCKET_CNT) and every index below stays
 * within its bucket and its stack array, whatever the chain holds
 * meanwhile.  A chain that changed after the count (possible only if
 * another thread writes the map at the same time, the misuse detection
 * reports) is left to the general move, which checks each destination
 * bucket as it fills: returns false, with *at and *k the first bucket not
 * moved and its index in the chain, and dx, dy the destinations as filled
 * so far.  Returns true when the whole chain moved. */
ALWAYS_INLINE bool evacuate_split(gomap *m, uintptr_t ob, uintptr_t newbit, bref *at, unsigned *k,
                                  const uint8_t ymemo[EVAC_MEMO],
                                  const uint16_t omemo[EVAC_MEMO + 1], size_t ss, evacdst *dx,
                                  evacdst *dy) {
    char *dst[2] = {m->slots + ob * ss * BUCKET_CNT, m->slots + (ob + newbit) * ss * BUCKET_CNT};
    uint8_t tb[2][BUCKET_CNT] = {{0}};
    uint8_t *tp[2] = {tb[0], tb[1]};
    GOMAP_ASSERT(m->tops[ob] == 0 && m->tops[ob + newbit] == 0);
    const uint64_t all_empty = BYTES_01 * EVACUATED_EMPTY;
    bref b = *at;
    unsigned n = 0;
    for (; b.top; b = next_bucket(b), n++) {
        unsigned occ = occupied_slots(*b.top);
        if (unlikely(occ != omemo[n])) /* also a bucket past those counted */
            goto changed;
        unsigned ym = ymemo[n];
        uint8_t mk[BUCKET_CNT]; /* the bucket's marks, as in evacuate_single */
        memcpy(mk, &all_empty, sizeof mk);
        for (; occ; occ &= occ - 1) {
            unsigned i = (unsigned)__builtin_ctz(occ);
            uint8_t t = load_top(b.top, i);
            if (unlikely(t < MIN_TOPHASH))
                gomap__internal_error("bad map state: evacuating an evacuated slot");
            unsigned y = (ym >> i) & 1u;
            mk[i] = (uint8_t)(EVACUATED_X + y);
            copy_slot(dst[y], b.s + i * ss, ss);
            dst[y] += ss;
            *tp[y]++ = t;
        }
        *b.top = top_word_of(mk);
    }
    m->tops[ob] = top_word_of(tb[0]);
    m->tops[ob + newbit] = top_word_of(tb[1]);
    return true;
changed:
    dx->b = arr_bucket(m, m->arr, ob);
    dx->i = (unsigned)(tp[0] - tb[0]);
    dx->top = top_word_of(tb[0]);
    dy->b = arr_bucket(m, m->arr, ob + newbit);
    dy->i = (unsigned)(tp[1] - tb[1]);
    dy->top = top_word_of(tb[1]);
    *at = b;
    *k = n;
    return false;
}

/* Go's evacuate of old bucket `ob` in every case but evacuate_impl's: a
 * bucket with overflow buckets, a same-size growth, or a bucket evacuated
 * already (only the mark's gets here: it advances the mark).  Allocates
 * every overflow bucket it may need before moving anything, so ENOMEM
 * leaves the map unchanged.  `ss` is the slot size, a constant where the
 * caller makes it one. */
ALWAYS_INLINE int evacuate_chain(gomap *m, uintptr_t ob, size_t ss, int kind) {
    uintptr_t newbit = old_nbuckets(m);
    if (!evacuated(m->oldtops[ob])) {
        bref first = arr_bucket(m, m->oldarr, ob);
        osupply sup = {NULL};
        /* ymemo[n]: the slots of the chain's n-th bucket whose entries go
         * to Y, found while counting, so the move does not hash them
         * again (chains longer than EVAC_MEMO buckets are rare: the move
         * hashes the rest); omemo[n]: its occupied slots as counted, and
         * after the last bucket counted a value no bucket's slots have
         * (see evacuate_split). */
        uint8_t ymemo[EVAC_MEMO];
        uint16_t omemo[EVAC_MEMO + 1];
        bool memo = m->oldnexts[ob] != NULL;
        /* Two named destinations, not an array indexed by the entry's
         * half: the compiler keeps each in registers. */
        evacdst dx, dy = {.i = 0}; /* dy unused by a same-size growth */
        bref b = first;            /* the next bucket to move */
        unsigned n = 0;            /* its index in the chain */
        if (memo) {
            /* A chain: count where its entries go to reserve destinations.
             * Without a branch on the half (as likely one as the other: a
             * branch on it would be mispredicted for half the entries). */
            size_t nall = 0, ny = 0;
            unsigned nb = 0;
            for (bref c = first; c.top; c = next_bucket(c), nb++) {
                unsigned ym = 0;
                unsigned occ = occupied_slots(*c.top);
                for (unsigned o = occ; o; o &= o - 1) {
                    unsigned i = (unsigned)__builtin_ctz(o);
                    unsigned y = !m->same_size && (hash_slot(m, c.s + i * ss, kind) & newbit);
                    ym |= y << i;
                    ny += y;
                    nall++;
                }
                if (nb < EVAC_MEMO) {
                    ymemo[nb] = (uint8_t)ym;
                    omemo[nb] = (uint16_t)occ;
                }
            }
            size_t nx = nall - ny;
            /* The commonest chain of a doubling growth: each half fits one
             * bucket, so the move needs no overflow bucket and runs
             * without a branch on the half (evacuate_split). */
            if (!m->same_size && nb <= EVAC_MEMO && nx <= BUCKET_CNT && ny <= BUCKET_CNT) {
                omemo[nb] = 1u << BUCKET_CNT; /* occupied_slots is below this */
                if (likely(evacuate_split(m, ob, newbit, &b, &n, ymemo, omemo, ss, &dx, &dy)))
                    goto moved;
                /* The chain changed under the move: the rest goes by the
                 * checked move below, from where the split stopped,
                 * hashing each entry again. */
                memo = false;
                goto move;
            }
            size_t need = (nx > BUCKET_CNT ? (nx - 1) / BUCKET_CNT : 0) +
                          (ny > BUCKET_CNT ? (ny - 1) / BUCKET_CNT : 0);
            if (need && supply_reserve(m, &sup, need))
                return ENOMEM;
        }
        evacdst_start(&dx, arr_bucket(m, m->arr, ob));
        if (!m->same_size)
            evacdst_start(&dy, arr_bucket(m, m->arr, ob + newbit));
    move:
        for (; b.top; b = next_bucket(b), n++) {
            uint64_t top = *b.top;
            /* Every slot ends evacuated: EVACUATED_EMPTY where it was
             * empty, EVACUATED_X/Y where its entry went.  Only slots
             * holding an entry are visited. */
            uint64_t marks = BYTES_01 * EVACUATED_EMPTY;
            for (unsigned occ = occupied_slots(top); occ; occ &= occ - 1) {
                unsigned i = (unsigned)__builtin_ctz(occ);
                uint8_t t = top_at(top, i);
                if (unlikely(t < MIN_TOPHASH))
                    gomap__internal_error("bad map state: evacuating an evacuated slot");
                char *slot = b.s + i * ss;
                unsigned y = 0;
                if (!m->same_size)
                    y = memo && n < EVAC_MEMO
                            ? ((unsigned)ymemo[n] >> i) & 1u
                            : (unsigned)((hash_slot(m, slot, kind) & newbit) != 0);
                marks ^= (uint64_t)((EVACUATED_X + y) ^ EVACUATED_EMPTY) << (i * 8);
                if (y)
                    evacdst_put(m, &dy, &sup, slot, t, ss);
                else
                    evacdst_put(m, &dx, &sup, slot, t, ss);
            }
            *b.top = marks;
        }
        *dx.b.top = dx.top;
        if (!m->same_size)
            *dy.b.top = dy.top;
        supply_free(m, &sup);
    moved:
        if (m->oldnexts[ob] &&
            !(atomic_load_explicit(&m->iters->flags, memory_order_relaxed) & ITER_OLD))
            free_chain(m, m->oldarr, &m->oldnexts[ob]);
    }
    if (ob == m->nevacuate)
        return advance_evacuation_mark(m, newbit);
    return 0;
}

/* Go's evacuate: moves the entries of old bucket `ob` into the new array.
 * The commonest case, a doubling growth's old bucket without overflow
 * (evacuate_single, which allocates nothing), runs here; every other one
 * in the kind's out-of-line `chain` (evacuate_chain), reached by a tail
 * call, so that this path keeps a small frame: it runs for two old
 * buckets of every insert while the map grows.  `ss` is the slot size, a
 * constant where the caller makes it one. */
ALWAYS_INLINE int evacuate_impl(gomap *m, uintptr_t ob, size_t ss, int kind,
                                int (*chain)(gomap *m, uintptr_t ob)) {
    if (unlikely(evacuated(m->oldtops[ob]) || m->oldnexts[ob] || m->same_size))
        return chain(m, ob);
    uintptr_t newbit = (uintptr_t)1 << (m->B - 1);
    evacuate_single(m, ob, newbit, ss, kind);
    if (ob == m->nevacuate)
        return advance_evacuation_mark(m, newbit);
    return 0;
}

#define DEFINE_EVACUATE_FN(name, k)                                                                \
    NOINLINE int evacuate_chain_##name(gomap *m, uintptr_t ob) {                                   \
        return m->slot_size == 16 ? evacuate_chain(m, ob, 16, k)                                   \
                                  : evacuate_chain(m, ob, m->slot_size, k);                        \
    }                                                                                              \
    NOINLINE int evacuate_##name(gomap *m, uintptr_t ob) {                                         \
        return m->slot_size == 16 ? evacuate_impl(m, ob, 16, k, evacuate_chain_##name)             \
                                  : evacuate_impl(m, ob, m->slot_size, k, evacuate_chain_##name);  \
    }
KEY_KINDS(DEFINE_EVACUATE_FN)

static int evacuate_kind(gomap *m, uintptr_t ob) {
    return key_ops_table[m->kind].evacuate(m, ob);
}

/* Evacuates old bucket ob by the kind's evacuate, timed for the probe
 * while a tracer is attached (the clock is read only then). */
static int evacuate(gomap *m, uintptr_t ob) {
    if (GOMAP_PROBE_ENABLED(evacuate)) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int r = evacuate_kind(m, ob);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long ns = (long)(t1.tv_sec - t0.tv_sec) * 1000000000L + (t1.tv_nsec - t0.tv_nsec);
        GOMAP_PROBE3(evacuate, (void *)m, (long)ob, ns);
        return r;
    }
    return evacuate_kind(m, ob);
}

/* evacuate_u64 for a map of the inline shape (16-byte slots), inlined
 * into set_grow_u64 so that the commonest evacuation (evacuate_single)
 * pays no call and no frame of its own; timed through evacuate while a
 * tracer is attached to the probe. */
ALWAYS_INLINE int evacuate_shape_u64(gomap *m, uintptr_t ob) {
    if (GOMAP_PROBE_ENABLED(evacuate))
        return evacuate(m, ob);
    return evacuate_impl(m, ob, 16, K_U64, evacuate_chain_u64);
}

/* Go's growWork: evacuates the old bucket the caller is about to use, and one
 * more to make progress, each with `fn` (evacuate, or an inlined evacuation
 * of one key kind and shape that keeps the probe's timing, as
 * evacuate_shape_u64). */
ALWAYS_INLINE int grow_work_with(gomap *m, uintptr_t bucket, int (*fn)(gomap *m, uintptr_t ob)) {
    uintptr_t oldmask = old_nbuckets(m) - 1;
    /* An evacuated old bucket other than the mark's is not passed to
     * evacuate, which would find nothing to do after the dispatch on the
     * key kind (for the mark's, it advances the mark). */
    uintptr_t ob = bucket & oldmask;
    int r = evacuated(m->oldtops[ob]) && ob != m->nevacuate ? 0 : fn(m, ob);
    if (r)
        return r;
    if (growing(m))
        r = fn(m, m->nevacuate);
    return r;
}

static int grow_work(gomap *m, uintptr_t bucket) {
    return grow_work_with(m, bucket, evacuate);
}

/* ---- shrink ----------------------------------------------------------------- */

/* Go's map never gives memory back after deletes; gomap_shrink (and, when the
 * config asks, a delete that leaves the load below SHRINK_LOAD_DIV-th of the
 * maximum) moves the entries into a smaller array.  It keeps Go's iteration
 * guarantees the way growth does: the entries are copied, never moved, and
 * every slot of the array left behind is marked evacuated (live ones
 * EVACUATED_X, empty ones EVACUATED_EMPTY) with its key bytes in place, so an
 * iterator still walking that array (kept for it, as after a growth) looks
 * each key up in the current map: it returns the live entry or skips a
 * deleted one.  Any growth in progress is finished first, so the array an
 * iterator reads holds every entry.  Unlike growth, a shrink is not
 * incremental: it costs O(buckets + len) at once. */

/* Automatic shrink: when a delete leaves fewer than 1/SHRINK_LOAD_DIV of the
 * entries the array may hold (6.5 per bucket), the array shrinks to the
 * smallest one that holds them at half the maximum load, so inserts may
 * double the count before the map grows again and deletes halve it before it
 * shrinks again: each resize is paid for by as many operations as it moves
 * entries.  Small arrays are left alone (below 2^SHRINK_MIN_B buckets the
 * saving is a few kilobytes). */
#define SHRINK_LOAD_DIV 4
#define SHRINK_MIN_B    5

/* The smallest B whose array holds `count` entries at a load of at most
 * 6.5 / div per bucket. */
static unsigned b_for_count(size_t count, unsigned div) {
    unsigned B = 0;
    while (B < MAX_B && over_load_factor(count * div, B))
        B++;
    return B;
}

/* An overflow bucket for building array `a`: from its pool, else allocated
 * (linked on *extra by the caller's chain; counted in *nover). */
static obucket *shrink_take(const gomap *m, barray *a, size_t *nover) {
    obucket *o;
    if (a->pool_next < a->pool_end) {
        o = (obucket *)a->pool_next;
        a->pool_next += obucket_bytes(m);
    } else {
        o = m_alloc(m, obucket_bytes(m));
        if (!o)
            return NULL;
    }
    o->top = 0;
    o->next = NULL;
    (*nover)++;
    return o;
}

/* Copies every live entry of the current array into a new array of 2^newB
 * buckets, then makes it current.  ENOMEM: nothing changed. */
static int rebuild(gomap *m, unsigned newB) {
    barray *a = new_array(m, newB);
    if (!a)
        return ENOMEM;
    uintptr_t mask = bucket_mask(newB);
    size_t ss = m->slot_size;
    size_t nover = 0;
    barray *old = m->arr;
    for (uintptr_t bi = 0; bi < old->nbuckets; bi++) {
        for (bref b = arr_bucket(m, old, bi); b.top; b = next_bucket(b)) {
            uint64_t top = *b.top;
            for (unsigned i = 0; i < BUCKET_CNT; i++) {
                uint8_t t = top_at(top, i);
                if (t < MIN_TOPHASH)
                    continue;
                char *slot = b.s + i * ss;
                bref d = arr_bucket(m, a, hash_slot(m, slot, K_GEN) & mask);
                while (*d.next)
                    d = obucket_ref(*d.next);
                uint64_t em = match_empty(*d.top);
                if (!em) {
                    obucket *o = shrink_take(m, a, &nover);
                    if (!o) {
                        free_array(m, a, false);
                        return ENOMEM;
                    }
                    *d.next = o;
                    d = obucket_ref(o);
                    em = 1;
                }
                unsigned j = first_slot(em);
                copy_slot(d.s + j * ss, slot, ss);
                set_top(d.top, j, t);
            }
        }
    }
    /* Success: mark the old array evacuated for the iterators that may walk
     * it, and keep it for them (as finish_growth does) or free it. */
    for (uintptr_t bi = 0; bi < old->nbuckets; bi++) {
        for (bref b = arr_bucket(m, old, bi); b.top; b = next_bucket(b)) {
            uint64_t top = *b.top;
            for (unsigned i = 0; i < BUCKET_CNT; i++)
                set_top(&top, i, top_at(top, i) >= MIN_TOPHASH ? EVACUATED_X : EVACUATED_EMPTY);
            *b.top = top;
        }
    }
    drop_iterator_memory(m);
    if ((atomic_load_explicit(&m->iters->flags, memory_order_relaxed) & ITER_NEW) &&
        iterations_live(m)) {
        old->retired_next = m->retired;
        m->retired = old;
    } else {
        free_array(m, old, false);
    }
    atomic_store_explicit(&m->iters->flags, 0, memory_order_relaxed);
    install_array(m, a);
    set_B(m, newB);
    set_noverflow(m, nover);
    return 0;
}

/* Shrinks to the smallest array holding the entries at a load of at most
 * 6.5 / div, or repacks at the same size if overflow buckets remain.  Runs
 * under the writing flag.  ENOMEM: the contents are unchanged (a growth in
 * progress may have been finished). */
static int shrink(gomap *m, unsigned div) {
    if (m->arr == NULL)
        return 0;
    while (growing(m)) {
        int r = evacuate(m, m->nevacuate);
        if (r)
            return r;
    }
    unsigned newB = b_for_count(m->count, div);
    if (newB > m->B)
        newB = m->B;
    if (newB == m->B && m->noverflow == 0)
        return 0;
    return rebuild(m, newB);
}

/* After a delete: the automatic shrink, if the config asked for it.  A
 * failed allocation only means the map stays large. */
static void maybe_shrink(gomap *m) {
    if (m->B >= SHRINK_MIN_B && !growing(m) &&
        (size_t)SHRINK_LOAD_DIV * m->count * LOAD_FACTOR_DEN <
            (((size_t)1 << m->B) * LOAD_FACTOR_NUM))
        (void)shrink(m, 2);
}

/* ---- insert ----------------------------------------------------------------- */

/* Allocates the first bucket array of a map: at creation (with a hint,
 * own OWN_NONE), or in its first insert (under the writing flag: `own`,
 * checked again before the array is installed, see write_check_mid). */
static int first_array(gomap *m, int64_t own) {
    barray *a = new_array(m, m->B);
    if (!a)
        return ENOMEM;
    write_check_mid(m, own);
    install_array(m, a);
    return 0;
}

/* Go's mapassign: finds the key or inserts it.  Returns 0 with *slot_out the
 * key's slot and *inserted whether it is new (its value then uninitialised),
 * or ENOMEM with the map unchanged.  Runs under the writing flag, claimed
 * as `claim` says, or (CLAIM_NONE) under the owner's lock (set_impl).
 * `grown`: the caller has done the growth work of this insert already
 * (set_grow_u64), so a growth in progress is not advanced again, unless
 * this insert starts one. */
ALWAYS_INLINE int assign_impl(gomap *m, const void *key, uint64_t hash, char **slot_out,
                              bool *inserted, int kind, int claim, int64_t own, bool grown) {
    /* The claim's token, for the mid checks: `own` when the caller passes
     * it (CLAIM_GIVEN), else taken here, in the claiming frame. */
#define OWN_OF_CLAIM() (claim == CLAIM_GIVEN ? own : write_own(claim))
    if (unlikely(m->arr == NULL) && first_array(m, OWN_OF_CLAIM()))
        return ENOMEM;
    uint8_t t = tophash(hash);
    size_t ss = m->slot_size;
again:;
    uintptr_t idx = hash & m->mask;
    if (unlikely(growing(m)) && !grown && grow_work(m, idx))
        return ENOMEM;
    bref b = bucket_at(m, m->tops, m->nexts, m->slots, idx);
    uint64_t *ins_top = NULL;
    char *ins_s = NULL;
    unsigned ins_i = 0;
    for (;;) {
        uint64_t top = *b.top;
        for (uint64_t mt = match_top(top, t); mt; mt &= mt - 1) {
            char *slot = b.s + first_slot(mt) * ss;
            if (likely(key_equal(m, slot, key, kind))) {
                *slot_out = slot;
                *inserted = false;
                return 0;
            }
        }
        if (!ins_top) {
            uint64_t em = match_empty(top);
            if (em) {
                ins_top = b.top;
                ins_s = b.s;
                ins_i = first_slot(em);
            }
        }
        if (chain_ends(top) || !*b.next)
            break;
        b = next_bucket(b);
    }
    /* Not found.  Grow first if this insert would overload the map, then
     * start over: the key's bucket changes. */
    if (unlikely(!growing(m) && (m->count >= m->grow_count || m->noverflow >= m->grow_noverflow))) {
        if (hash_grow(m, OWN_OF_CLAIM()))
            return ENOMEM;
        grown = false;
        goto again;
    }
    kstore ks;
    if (owns_keys(m, kind)) {
        if (prepare_key(m, key, &ks))
            return ENOMEM;
    }
    if (unlikely(!ins_top)) {
        osupply sup = {NULL};
        if (supply_reserve(m, &sup, 1)) {
            if (owns_keys(m, kind))
                unprepare_key(m, &ks);
            return ENOMEM;
        }
        obucket *o = supply_take(m, &sup);
        *b.next = o;
        ins_top = &o->top;
        ins_s = oslots(o);
        ins_i = 0;
    }
    char *slot = ins_s + ins_i * ss;
    switch (kind) {
    case K_U64:
        memcpy(slot, key, 8);
        break;
    case K_U32:
        memcpy(slot, key, 4);
        break;
    case K_STR:
        memcpy(slot, &ks.u.s, sizeof(skey));
        break;
    case K_BSTR:
        memcpy(slot, key, sizeof(gomap_str));
        break;
    case K_BYTES:
        memcpy(slot, key, m->ksize);
        break;
    default:
        if (owns_keys(m, K_GEN))
            memcpy(slot, &ks.u.s, sizeof(skey));
        else
            memcpy(slot, key, m->ksize);
    }
    store_top(ins_top, ins_i, t);
    m->count++;
    *slot_out = slot;
    *inserted = true;
    return 0;
#undef OWN_OF_CLAIM
}

/* ---- delete ----------------------------------------------------------------- */

/* Go's walk back after a delete left slot i of bucket b followed only by
 * empty slots, in the general case (the walk leaves b for the buckets
 * before it in the chain starting at `first`): slot i and the EMPTY_ONE
 * slots before it, across buckets, become EMPTY_REST. */
NOINLINE void delete_walk_back(bref first, bref b, unsigned i) {
    bref cur = b;
    int j = (int)i;
    for (;;) {
        set_top(cur.top, (unsigned)j, EMPTY_REST);
        if (j == 0) {
            if (cur.top == first.top)
                break;
            bref prev = first;
            while (*prev.next != (obucket *)((char *)cur.top - offsetof(obucket, top)))
                prev = next_bucket(prev);
            cur = prev;
            j = BUCKET_CNT - 1;
        } else {
            j--;
        }
        if (top_at(*cur.top, (unsigned)j) != EMPTY_ONE)
            break;
    }
}

/* The tophash word of a bucket after its slot i (tophash t) is deleted:
 * `top` is the word before, `followed` whether a live entry may follow the
 * slot in the chain.  Built from the word loaded, to be stored once.  If
 * the slot is now followed only by empties, it and the EMPTY_ONE slots
 * before it become EMPTY_REST (Go's walk back): within this bucket that
 * keeps its bytes up to the last one below i that is not EMPTY_ONE (every
 * byte above i is EMPTY_REST already).  0 when the walk empties the whole
 * bucket: the caller then walks on into the buckets before it, if any
 * (delete_walk_back). */
ALWAYS_INLINE uint64_t deleted_top(uint64_t top, unsigned i, uint8_t t, bool followed) {
    if (followed) /* byte i holds t (it matched): flip it to EMPTY_ONE */
        return top ^ ((uint64_t)(t ^ EMPTY_ONE) << (8 * i));
    uint64_t keep = ~match_top(top, EMPTY_ONE) & slots_below(i);
    if (!keep)
        return 0;
    unsigned last = last_slot(keep);
    return top & (((uint64_t)1 << (8 * (last + 1))) - 1);
}

/* Go's mapdelete.  Does not evacuate (a delete never allocates; evacuation
 * may need overflow buckets): it deletes wherever the key lives, in the old
 * bucket if that is not evacuated yet. */
ALWAYS_INLINE bool delete_impl(gomap *m, const void *key, uint64_t hash, int kind) {
    uint8_t t = tophash(hash);
    bref first = home_bucket(m, hash);
    bref b = first;
    size_t ss = m->slot_size;
    for (;;) {
        uint64_t top = *b.top;
        for (uint64_t mt = match_top(top, t); mt; mt &= mt - 1) {
            unsigned i = first_slot(mt);
            char *slot = b.s + i * ss;
            if (!key_equal(m, slot, key, kind))
                continue;
            if (owns_keys(m, kind))
                release_key(m, slot);
            bool followed = i == BUCKET_CNT - 1
                                ? (*b.next && top_at((*b.next)->top, 0) != EMPTY_REST)
                                : top_at(top, i + 1) != EMPTY_REST;
            uint64_t nt = deleted_top(top, i, t, followed);
            /* Only a walk that empties the whole bucket and has buckets
             * before it leaves the word. */
            if (nt == 0 && b.top != first.top)
                delete_walk_back(first, b, i);
            else
                *b.top = nt;
            GOMAP_ASSERT(m->count > 0);
            m->count--;
            return true;
        }
        if (chain_ends(top) || !*b.next)
            return false;
        b = next_bucket(b);
    }
}

/* ---- dispatch: one instance of each hot path per key kind ------------------ */

/* How set_impl treats the writing word, a constant in each instance:
 *   SET_LOCKED: a locked write (gomap__upsert_locked and the other
 *     *_locked entry points of map_internal.h), which leaves the word
 *     alone.  Its caller's lock already serializes every write and every
 *     locked read of the map, so no misuse is left to detect, and the
 *     word's line is the header's first, which every lookup reads: not
 *     storing to it twice per write keeps that line shared between the
 *     cores.
 *   SET_CHECKED: the write protocol's fast path with the stack token
 *     (write_claim_sp, as a delete's); when the entry check fails it goes
 *     to SET_SLOW, the kind's out-of-line insert, so that the fast path's
 *     end knows its claim without keeping anything for it.
 *   SET_SLOW: begins with write_begin_slow and keeps the thread id (a map
 *     with mode bits, or a conflict). */
enum { SET_LOCKED, SET_CHECKED, SET_SLOW };

#define DECLARE_SET_SLOW(name, k)                                                                  \
    NOINLINE int set_slow_##name(gomap *m, const void *key, uint64_t hash, bool have_hash,         \
                                 const void *value, void **value_out, bool *inserted_out);
KEY_KINDS(DECLARE_SET_SLOW)
#define SET_SLOW_ENTRY(name, k) [k] = set_slow_##name,
static int (*const set_slow_fns[NKEY_KINDS])(gomap *, const void *, uint64_t, bool, const void *,
                                             void **, bool *) = {KEY_KINDS(SET_SLOW_ENTRY)};

ALWAYS_INLINE int set_impl(gomap *m, const void *key, uint64_t hash, bool have_hash,
                           const void *value, void **value_out, bool *inserted_out, int kind,
                           int mode) {
    if (unlikely(m == NULL))
        gomap__fatal("assignment to entry in nil map");
    if (absurd_key(m, key, kind)) {
        if (value_out)
            *value_out = NULL;
        return EINVAL;
    }
    if (mode == SET_CHECKED && unlikely(write_busy(m)))
        return set_slow_fns[kind](m, key, hash, have_hash, value, value_out, inserted_out);
    int wtok = mode == SET_SLOW ? write_begin_slow(m) : 0;
    if (mode == SET_CHECKED)
        write_claim_sp(m);
    GOMAP_PROBE2(op, (void *)m, 1);
    if (!have_hash)
        hash = hash_key(m, key, kind);
    char *slot;
    bool inserted;
    int r = assign_impl(m, key, hash, &slot, &inserted, kind,
                        mode == SET_LOCKED    ? CLAIM_NONE
                        : mode == SET_CHECKED ? CLAIM_SP
                                              : CLAIM_ID,
                        0, false);
    if (likely(r == 0)) {
        if (value_out) {
            if (inserted)
                memset(slot + m->voff, 0, m->vsize);
            *value_out = slot + m->voff;
        } else {
            copy_value(slot + m->voff, value, m->vsize);
        }
        if (inserted_out)
            *inserted_out = inserted;
    } else if (value_out) {
        *value_out = NULL;
    }
    if (mode == SET_CHECKED)
        write_end_sp(m);
    else if (mode == SET_SLOW)
        write_end(m, wtok);
    return r;
}

/* How del_impl treats the writing word: DEL_LOCKED leaves it alone (see
 * SET_LOCKED); DEL_CHECKED runs the write protocol, and when the
 * entry check fails goes to DEL_SLOW, the kind's out-of-line delete that
 * begins with write_begin_slow.  (gomap_delete of a u64 key runs its own
 * copy of DEL_CHECKED: del_fast_u64.) */
enum { DEL_LOCKED, DEL_CHECKED, DEL_SLOW };

#define DECLARE_DEL_SLOW(name, k)                                                                  \
    NOINLINE bool del_slow_##name(gomap *m, const void *key, uint64_t hash, bool have_hash);
KEY_KINDS(DECLARE_DEL_SLOW)
#define DEL_SLOW_ENTRY(name, k) [k] = del_slow_##name,
static bool (*const del_slow_fns[NKEY_KINDS])(gomap *, const void *, uint64_t,
                                              bool) = {KEY_KINDS(DEL_SLOW_ENTRY)};

/* Go's mapdelete with its checks.  As in Go, an empty map returns before
 * the writing word is set, and the flag is set only around the part that
 * may change the map; unlike Go the entry check comes first (a serializing
 * map's count may be read only under its lock).  The common path (the word
 * 0) calls nothing it returns from but the rare walk back and shrink, and
 * its end check is write_end's. */
ALWAYS_INLINE bool del_impl(gomap *m, const void *key, uint64_t hash, bool have_hash, int kind,
                            int mode) {
    if (m == NULL)
        return false;
    if (absurd_key(m, key, kind))
        return false;
    if (mode == DEL_CHECKED && unlikely(write_busy(m)))
        return del_slow_fns[kind](m, key, hash, have_hash);
    int wtok = mode == DEL_SLOW ? write_begin_slow(m) : 0;
    GOMAP_PROBE2(op, (void *)m, 2);
    if (m->count == 0) {
        if (mode == DEL_SLOW)
            write_end(m, wtok);
        return false;
    }
    if (mode == DEL_CHECKED)
        write_claim_sp(m);
    if (!have_hash)
        hash = hash_key(m, key, kind);
    bool r = delete_impl(m, key, hash, kind);
    if (r && unlikely(m->auto_shrink))
        maybe_shrink(m);
    if (mode == DEL_CHECKED)
        write_end_sp(m);
    else if (mode == DEL_SLOW)
        write_end(m, wtok);
    return r;
}

/* Each kind gets its own copy of get, set, delete, hash (and evacuate and
 * iterate, above and below), compiled with the kind a constant: no indirect
 * call and no kind test inside, and small functions whose registers are
 * allocated for their kind alone.  The public functions dispatch through
 * key_ops_table, indexed by the map's kind (one indirect jump, well
 * predicted: a program uses few kinds). */
#define DEFINE_KIND_FNS(name, k)                                                                   \
    NOINLINE void *get_##name(const gomap *m, const void *key) {                                   \
        return get_impl(m, key, 0, false, k);                                                      \
    }                                                                                              \
    NOINLINE void *get_hashed_##name(const gomap *m, const void *key, uint64_t hash) {             \
        return get_impl(m, key, hash, true, k);                                                    \
    }                                                                                              \
    NOINLINE int set_##name(gomap *m, const void *key, uint64_t hash, bool have_hash,              \
                            const void *value, void **value_out, bool *inserted_out) {             \
        return set_impl(m, key, hash, have_hash, value, value_out, inserted_out, k, SET_CHECKED);  \
    }                                                                                              \
    NOINLINE int set_slow_##name(gomap *m, const void *key, uint64_t hash, bool have_hash,         \
                                 const void *value, void **value_out, bool *inserted_out) {        \
        return set_impl(m, key, hash, have_hash, value, value_out, inserted_out, k, SET_SLOW);     \
    }                                                                                              \
    NOINLINE bool del_##name(gomap *m, const void *key, uint64_t hash, bool have_hash) {           \
        return del_impl(m, key, hash, have_hash, k, DEL_CHECKED);                                  \
    }                                                                                              \
    NOINLINE bool del_slow_##name(gomap *m, const void *key, uint64_t hash, bool have_hash) {      \
        return del_impl(m, key, hash, have_hash, k, DEL_SLOW);                                     \
    }                                                                                              \
    NOINLINE int set_locked_##name(gomap *m, const void *key, uint64_t hash, const void *value,    \
                                   void **value_out, bool *inserted_out) {                         \
        return set_impl(m, key, hash, true, value, value_out, inserted_out, k, SET_LOCKED);        \
    }                                                                                              \
    NOINLINE bool del_locked_##name(gomap *m, const void *key, uint64_t hash) {                    \
        return del_impl(m, key, hash, true, k, DEL_LOCKED);                                        \
    }                                                                                              \
    NOINLINE uint64_t hash_##name(const gomap *m, const void *key) {                               \
        return hash_key(m, key, k);                                                                \
    }
KEY_KINDS(DEFINE_KIND_FNS)

/* Calls the map's kind's instance of a hot path. */
#define DISPATCH(m, fn, ...) return key_ops_table[(m)->kind].fn(__VA_ARGS__)

uint64_t gomap__hash(const gomap *m, const void *key) {
    if (absurd_key(m, key, K_GEN))
        return 0; /* any value: every operation rejects the key */
    /* u64 and string keys, the commonest kinds, skip the dispatch. */
    if (likely(m->kind == K_U64))
        return hash_key(m, key, K_U64);
    if (m->kind == K_STR || m->kind == K_BSTR)
        return hash_key(m, key, K_STR);
    DISPATCH(m, hash, m, key);
}

static void *get_other(const gomap *m, const void *key) {
    DISPATCH(m, get, m, key);
}

#define DEFINE_MANY_FN(name, k)                                                                    \
    NOINLINE size_t get_many_##name(const gomap *m, const void *keys, size_t n, void **out) {      \
        return get_many_impl(m, keys, NULL, NULL, n, out, k);                                      \
    }                                                                                              \
    NOINLINE size_t get_many_hashed_##name(const gomap *m, const void *const *keyv,                \
                                           const uint64_t *hashes, size_t n, void **out) {         \
        return get_many_impl(m, NULL, keyv, hashes, n, out, k);                                    \
    }
KEY_KINDS(DEFINE_MANY_FN)

GOMAP_API size_t gomap_get_many(const gomap *m, const void *keys, size_t n, void **values) {
    if (n == 0)
        return 0;
    if (m == NULL || keys == NULL) {
        if (values)
            memset(values, 0, n * sizeof *values);
        return 0;
    }
    DISPATCH(m, get_many, m, keys, n, values);
}

size_t gomap__key_arg_size(const gomap *m) {
    return key_arg_size(m, K_GEN);
}

size_t gomap__get_many_hashed(const gomap *m, const void *const *keys, const uint64_t *hashes,
                              size_t n, void **values) {
    if (n == 0)
        return 0;
    if (m == NULL) {
        if (values)
            memset(values, 0, n * sizeof *values);
        return 0;
    }
    DISPATCH(m, get_many_hashed, m, keys, hashes, n, values);
}

GOMAP_API void *gomap_get(const gomap *m, const void *key) {
    if (m == NULL)
        return NULL;
    /* u64 keys, the commonest kind, skip the dispatch. */
    if (likely(m->kind == K_U64))
        return get_impl(m, key, 0, false, K_U64);
    return get_other(m, key);
}

GOMAP_API void *gomap__get_u64(const gomap *m, uint64_t k) {
    return gomap_get(m, &k);
}

void *gomap__get_hashed(const gomap *m, const void *key, uint64_t hash) {
    if (m == NULL)
        return NULL;
    DISPATCH(m, get_hashed, m, key, hash);
}

GOMAP_API bool gomap_contains(const gomap *m, const void *key) {
    return gomap_get(m, key) != NULL;
}

/* gomap_set of a u64 key past its fast path (set_fast_u64): the whole insert
 * (assign_impl, from the start) under the claim the fast path made, whose
 * token it passes as `own`, and the end check. */
ALWAYS_INLINE int set_rest_impl(gomap *m, uint64_t k, uint64_t hash, const void *value, int64_t own,
                                bool grown) {
    char *slot;
    bool inserted;
    int r = assign_impl(m, &k, hash, &slot, &inserted, K_U64, CLAIM_GIVEN, own, grown);
    if (likely(r == 0))
        copy_value(slot + m->voff, value, m->vsize);
    write_end_own(m, own);
    return r;
}
NOINLINE int set_rest_u64(gomap *m, uint64_t k, uint64_t hash, const void *value, int64_t own) {
    return set_rest_impl(m, k, hash, value, own, false);
}

/* The first empty slot (EMPTY_REST or EMPTY_ONE) of a bucket whose chain
 * ends at it (chain_ends(top): its last byte is EMPTY_REST, so there is
 * one), as a 64-bit index for the slot and tophash addresses.  With SSE2
 * the bytes at most 1 are those equal to their minimum with 1 (pminub,
 * pcmpeqb: one constant, no clearing of bit 0); the high 8 bytes of the
 * register (0) match too, above the slot found. */
static inline size_t first_empty_of_ended(uint64_t top) {
#if defined(__SSE2__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    __m128i w = _mm_cvtsi64_si128((long long)top);
    unsigned em = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(w, _mm_set1_epi8(1)), w));
    return (unsigned)__builtin_ctz(em);
#else
    return first_slot(match_empty(top));
#endif
}

/* The slot holding u64 key k among the tophash matches (t) of a bucket
 * whose word is top and whose 16-byte slots start at s, or NULL. */
ALWAYS_INLINE char *find_u64_16(uint64_t top, uint8_t t, char *s, uint64_t k) {
    for (uint64_t mt = match_top(top, t); mt; mt &= mt - 1) {
        char *slot = s + first_slot(mt) * 16;
        uint64_t sk;
        memcpy(&sk, slot, 8);
        if (likely(sk == k))
            return slot;
    }
    return NULL;
}

/* set_rest_u64 for an insert whose growth work is done (set_grow_u64):
 * the general insert without evacuating again, so that no insert moves
 * more than two old chains. */
NOINLINE int set_rest_grown_u64(gomap *m, uint64_t k, uint64_t hash, const void *value,
                                int64_t own) {
    return set_rest_impl(m, k, hash, value, own, true);
}

/* The insert of a u64 key past its home bucket in a map of the inline
 * shape (16-byte slots, the value at 8) that is not growing, or whose
 * growth work for this insert is done (`grown`): the walk of the home
 * bucket's chain, and the insert into its first empty slot or into a new
 * overflow bucket, with constant slot arithmetic where the general insert
 * reads the slot size and dispatches on the key kind.  A new key that
 * meets a growth trigger (count >= fast_limit) goes to the general insert
 * (set_rest_u64 or set_rest_grown_u64), which starts the growth or tests
 * the triggers exactly.  Under the claim of set_fast_u64, whose token is
 * `own`. */
ALWAYS_INLINE int set_chain_impl(gomap *m, uint64_t k, uint64_t hash, const void *value,
                                 int64_t own, bool grown) {
    if (unlikely(m->arr == NULL))
        return set_rest_u64(m, k, hash, value, own);
    uint8_t t = tophash(hash);
    uintptr_t idx = hash & m->mask;
    uint64_t *tp = &m->tops[idx];
    obucket **np = &m->nexts[idx];
    char *s = m->slots + idx * (16 * BUCKET_CNT);
    uint64_t *ins_top = NULL;
    char *ins_s = NULL;
    unsigned ins_i = 0;
    char *slot;
    for (;;) {
        uint64_t top = *tp;
        slot = find_u64_16(top, t, s, k);
        if (slot)
            goto found;
        if (!ins_top) {
            uint64_t em = match_empty(top);
            if (em) {
                ins_top = tp;
                ins_s = s;
                ins_i = first_slot(em);
            }
        }
        if (chain_ends(top) || !*np)
            break;
        obucket *o = *np;
        tp = &o->top;
        np = &o->next;
        s = oslots(o);
    }
    if (unlikely(m->count >= m->fast_limit)) {
        if (grown)
            return set_rest_grown_u64(m, k, hash, value, own);
        return set_rest_u64(m, k, hash, value, own);
    }
    if (!ins_top) {
        /* The chain is full and ends at the bucket whose next pointer is
         * *np (a bucket whose last byte is EMPTY_REST has an empty slot). */
        osupply sup = {NULL};
        if (supply_reserve(m, &sup, 1)) {
            write_end_own(m, own);
            return ENOMEM;
        }
        obucket *o = supply_take(m, &sup);
        *np = o;
        ins_top = &o->top;
        ins_s = oslots(o);
        ins_i = 0;
    }
    slot = ins_s + ins_i * 16;
    memcpy(slot, &k, 8);
    store_top(ins_top, ins_i, t);
    m->count++;
found:
    copy_value(slot + 8, value, 8);
    write_end_own(m, own);
    return 0;
}

/* set_chain_impl from set_home_u64 on the fast path, hashing the key
 * again: set_home_u64 keeps no register for the hash past the tophash and
 * the bucket (the fast path's registers are then all caller-saved), so
 * the rarer chain insert pays the hash's few instructions a second time. */
NOINLINE int set_chain_u64(gomap *m, uint64_t k, const void *value, int64_t own) {
    return set_chain_impl(m, k, gomap__hash_u64_secret(k, m->sec), value, own, false);
}

/* set_chain_impl after set_grow_u64's growth work. */
NOINLINE int set_chain_grown_u64(gomap *m, uint64_t k, uint64_t hash, const void *value,
                                 int64_t own) {
    return set_chain_impl(m, k, hash, value, own, true);
}

/* gomap_set of a u64 key that found the writing word set: the kind's slow
 * insert, called with three arguments, so that set_fast_u64 passes none on the
 * stack and keeps no frame for it. */
#ifndef GOMAP_NO_DETECT
NOINLINE int set_busy_u64(gomap *m, const void *key, const void *value) {
    return set_slow_u64(m, key, 0, false, value, NULL, NULL);
}
#endif

/* gomap_set of a u64 key with a NULL value (which zeroes it): copy_value
 * into its slot, then the end check, out of set_fast_u64's frame (`own` as
 * for set_rest_u64). */
NOINLINE int set_value_rest_u64(gomap *m, char *slot, const void *value, int64_t own) {
    copy_value(slot + m->voff, value, m->vsize);
    write_end_own(m, own);
    return 0;
}

/* gomap_set of another kind of key: the dispatch to its kind's insert,
 * with three arguments, reached by a tail call. */
NOINLINE int set_other(gomap *m, const void *key, const void *value) {
    DISPATCH(m, set, m, key, 0, false, value, NULL, NULL);
}

/* The end of set_fast_u64 (set_fast_end, returning 0) and of del_fast_u64
 * (del_fast_end, returning r): write_end_sp, whose rare report or repair
 * is a tail call of write_end_slow through a function that returns the
 * fast path's own type (an int converted to bool after the call would
 * keep it from being a tail call, and every path would then align the
 * frame for it). */
#if defined(GOMAP__SP_TOKEN) && !defined(GOMAP_NO_DETECT)
NOINLINE int set_end_slow(gomap *m, int token, int w) {
    write_end_slow(m, token, w);
    return 0;
}
NOINLINE bool del_end_slow(gomap *m, int token, int w, bool r) {
    write_end_slow(m, token, w);
    return r;
}
#define FAST_END(m, slow, ...)                                                                     \
    do {                                                                                           \
        bool bad_;                                                                                 \
        __asm__ volatile("xorl %k2, %1" : "=@ccnz"(bad_), "+m"((m)->writing) : "r"(gomap__sp));    \
        if (unlikely(bad_)) {                                                                      \
            int token_ = (int)(uint32_t)gomap__sp;                                                 \
            return slow((m), token_,                                                               \
                        atomic_load_explicit(&(m)->writing, memory_order_relaxed) ^ token_,        \
                        ##__VA_ARGS__);                                                            \
        }                                                                                          \
    } while (0)
#else
#define FAST_END(m, slow, ...) write_end_sp(m)
#endif

ALWAYS_INLINE int set_fast_end(gomap *m) {
    FAST_END(m, set_end_slow);
    return 0;
}

ALWAYS_INLINE bool del_fast_end(gomap *m, bool r) {
    FAST_END(m, del_end_slow, r);
    return r;
}
#undef FAST_END

/* The insert of a u64 key into its home bucket in a map of the inline
 * lookup's shape (16-byte slots with the value at 8, so the slot arithmetic
 * has constants), with its common cases inline and calling nothing it
 * returns from: the key found in its home bucket, or inserted into the home
 * bucket's first empty slot when that bucket ends its chain (its last byte
 * EMPTY_REST: no overflow bucket and no entry after it, so the key is in no
 * other bucket) and the insert triggers no growth.  Every other case
 * tail-calls the general insert under the same claim.  `grown` (a
 * constant): called by set_grow_u64 after its growth work, whose own
 * token is `own` (else the claim is this frame's: write_own, set_fast_end). */
ALWAYS_INLINE int set_home_u64(gomap *m, uint64_t k, uint64_t hash, const void *value, bool grown,
                               int64_t own) {
#define OWN_HERE() (grown ? own : write_own(CLAIM_SP))
    uintptr_t idx = hash & m->mask;
    uint64_t *tp = &m->tops[idx];
    uint64_t top = *tp;
    uint8_t t = tophash(hash);
    char *s = m->slots + idx * (16 * BUCKET_CNT);
    char *slot;
    slot = find_u64_16(top, t, s, k);
    if (slot)
        goto found;
    if (likely(chain_ends(top) && m->count < m->fast_limit)) {
        size_t i = first_empty_of_ended(top);
        slot = s + i * 16;
        memcpy(slot, &k, 8);
        store_top_at(tp, i, t);
        m->count++;
        goto found;
    }
    if (0) {
    found:
        if (unlikely(value == NULL))
            return set_value_rest_u64(m, slot, value, OWN_HERE());
        memcpy(slot + 8, value, 8);
        if (grown) {
            write_end_own(m, own);
            return 0;
        }
        return set_fast_end(m);
    }
    if (grown)
        return set_chain_grown_u64(m, k, hash, value, own);
    return set_chain_u64(m, k, value, OWN_HERE());
#undef OWN_HERE
}

/* gomap_set of a u64 key into a map of the inline shape while it grows
 * (view_slow VIEW_GROWING alone): Go's growth work (the key's old bucket
 * and the mark's, by the u64 evacuation without the kind dispatch), then
 * the home bucket's insert of set_home_u64, where the general insert
 * would search again from the start.  Any other map goes to the general
 * insert.  Under the claim of set_fast_u64, whose token is `own`. */
NOINLINE int set_grow_u64(gomap *m, uint64_t k, uint64_t hash, const void *value, int64_t own) {
    if (m->view_slow != VIEW_GROWING)
        return set_rest_u64(m, k, hash, value, own);
    int r = grow_work_with(m, hash & m->mask, evacuate_shape_u64);
    if (unlikely(r)) {
        write_end_own(m, own);
        return r;
    }
    return set_home_u64(m, k, hash, value, true, own);
}

/* gomap_set of a u64 key: set_impl's SET_CHECKED path, its common cases
 * inline (set_home_u64) and calling nothing it returns from (no saved
 * registers, no frame).  A map that set_home_u64 does not handle (no array
 * yet, another shape) goes to the general insert (set_rest_u64), one that
 * grows to set_grow_u64, each under the same claim. */
ALWAYS_INLINE int set_fast_u64(gomap *m, const void *key, const void *value) {
    if (absurd_key(m, key, K_U64))
        return EINVAL;
#ifndef GOMAP_NO_DETECT
    /* Go's entry check and the shape test below in one load, shift and
     * branch (head_idle_set), where they were a compare and branch each;
     * only a map whose shape the inline path does not handle (a growth in
     * progress) tests the writing word on its own. */
    if (unlikely(!head_idle_set(m))) {
        if (unlikely(write_busy(m)))
            return set_busy_u64(m, key, value);
        write_claim_sp(m);
        GOMAP_PROBE2(op, (void *)m, 1);
        uint64_t k;
        memcpy(&k, key, 8);
        return set_grow_u64(m, k, gomap__hash_u64_secret(k, m->sec), value, write_own(CLAIM_SP));
    }
#endif
    write_claim_sp(m);
    GOMAP_PROBE2(op, (void *)m, 1);
    /* The key is read once, for the hash and the compares. */
    uint64_t k;
    memcpy(&k, key, 8);
    uint64_t hash = gomap__hash_u64_secret(k, m->sec);
    /* view_slow 0 (tested with the writing word above, with detection):
     * not growing, and the inline lookup's shape. */
#ifdef GOMAP_NO_DETECT
    if (unlikely(m->view_slow != 0))
        return set_grow_u64(m, k, hash, value, write_own(CLAIM_SP));
#endif
    /* A map without an array yet reads the empty bucket (B and the mask
     * are then 0), and its fast_limit of 0 sends the key to the general
     * insert, which allocates the array. */
    return set_home_u64(m, k, hash, value, false, 0);
}

GOMAP_API int gomap_set(gomap *m, const void *key, const void *value) {
    if (unlikely(m == NULL))
        gomap__fatal("assignment to entry in nil map");
    /* u64 keys skip the dispatch and run set_u64's inline fast path. */
    if (likely(m->kind == K_U64))
        return set_fast_u64(m, key, value);
    return set_other(m, key, value);
}

int gomap__set_hashed(gomap *m, const void *key, uint64_t hash, const void *value) {
    if (unlikely(m == NULL))
        gomap__fatal("assignment to entry in nil map");
    DISPATCH(m, set, m, key, hash, true, value, NULL, NULL);
}

static int upsert(gomap *m, const void *key, uint64_t hash, void **value_slot, bool *inserted) {
    DISPATCH(m, set, m, key, hash, true, NULL, value_slot, inserted);
}

int gomap__upsert(gomap *m, const void *key, uint64_t hash, void **value_slot, bool *inserted) {
    if (unlikely(m == NULL))
        gomap__fatal("assignment to entry in nil map");
    void *vs = NULL;
    bool ins = false;
    int r = upsert(m, key, hash, &vs, &ins);
    if (value_slot)
        *value_slot = vs;
    if (inserted)
        *inserted = r == 0 && ins;
    return r;
}

static int upsert_unhashed(gomap *m, const void *key, void **value_slot, bool *inserted) {
    DISPATCH(m, set, m, key, 0, false, NULL, value_slot, inserted);
}

GOMAP_API void *gomap_upsert(gomap *m, const void *key, bool *inserted) {
    if (unlikely(m == NULL))
        gomap__fatal("assignment to entry in nil map");
    void *vs = NULL;
    bool ins = false;
    int r = upsert_unhashed(m, key, &vs, &ins);
    if (inserted)
        *inserted = r == 0 && ins;
    if (r != 0) {
        errno = r;
        return NULL;
    }
    return vs;
}

/* gomap_delete of a u64 key past its fast path (del_fast_u64): the
 * general delete (delete_impl, from the start, the key hashed again) and
 * the automatic shrink, under the claim the fast path made, whose token it
 * passes as `own`, and the end check.  The key comes by value and is hashed
 * again here, so that the fast path keeps neither its address nor the hash
 * in a register for this rare call. */
NOINLINE bool del_rest_u64(gomap *m, uint64_t k, int64_t own) {
    bool r = delete_impl(m, &k, gomap__hash_u64_secret(k, m->sec), K_U64);
    if (r && unlikely(m->auto_shrink))
        maybe_shrink(m);
    write_end_own(m, own);
    return r;
}

/* gomap_delete in a map not of the inline lookup's shape, or whose writing
 * word is set: the dispatch to its kind's delete (which makes the entry
 * check itself), reached by a tail call. */
NOINLINE bool del_other(gomap *m, const void *key) {
    DISPATCH(m, del, m, key, 0, false);
}

/* gomap_delete in a map whose head word says no write runs and the map has
 * the inline lookup's shape (u64 keys, not growing, 16-byte slots with the
 * value at 8): del_impl's DEL_CHECKED path (the entry check made by the
 * caller) with its common cases inline and calling nothing it returns from: the key found in its
 * home bucket, whose word is rebuilt there (a walk back that empties the home bucket ends in it,
 * the first of its chain), and the key absent from a home bucket that ends its chain.  A key not in
 * the home bucket of a chain that goes on, and a map that shrinks automatically, tail-call
 * del_rest_u64, which runs the general delete under the same claim.  Few values live across the
 * search (the slots' address is computed at each match, the bucket's word
 * is addressed by its index again at the store, the general path gets the
 * key by value and hashes it again), so that nearly all of them fit in
 * the registers a call may clobber. */
ALWAYS_INLINE bool del_fast_u64(gomap *m, const void *key) {
    if (absurd_key(m, key, K_U64))
        return false;
    GOMAP_PROBE2(op, (void *)m, 2);
    if (m->count == 0)
        return false;
    write_claim_sp(m);
    uint64_t k;
    memcpy(&k, key, 8);
    uint64_t hash = gomap__hash_u64_secret(k, m->sec);
    uintptr_t idx = hash & m->mask;
    uint64_t top = m->tops[idx];
    uint8_t t = tophash(hash);
    for (uint64_t mt = match_top(top, t); mt; mt &= mt - 1) {
        unsigned i = first_slot(mt);
        uint64_t sk;
        memcpy(&sk, m->slots + idx * (16 * BUCKET_CNT) + i * 16, 8);
        if (unlikely(sk != k))
            continue;
        if (unlikely(m->auto_shrink))
            break;
        bool followed = i == BUCKET_CNT - 1
                            ? (m->nexts[idx] && top_at(m->nexts[idx]->top, 0) != EMPTY_REST)
                            : top_at(top, i + 1) != EMPTY_REST;
        m->tops[idx] = deleted_top(top, i, t, followed);
        GOMAP_ASSERT(m->count > 0);
        m->count--;
        return del_fast_end(m, true);
    }
    if (likely(chain_ends(top)) && likely(!m->auto_shrink))
        return del_fast_end(m, false);
    return del_rest_u64(m, k, write_own(CLAIM_SP));
}

/* The maps of the inline lookup's shape (u64 keys among them) skip the
 * dispatch.  With detection Go's entry check is made by the same test: the
 * head word's first 5 bytes are 0.  Any other map, and a map whose writing
 * word is set, goes through the dispatch to its kind's delete, which makes
 * the entry check itself. */
GOMAP_API bool gomap_delete(gomap *m, const void *key) {
    if (m == NULL)
        return false;
#ifndef GOMAP_NO_DETECT
    if (likely(head_idle_set(m))) {
#else
    if (likely(m->view_slow == 0)) {
#endif
        GOMAP_ASSERT(m->kind == K_U64);
        return del_fast_u64(m, key);
    }
    return del_other(m, key);
}

bool gomap__delete_hashed(gomap *m, const void *key, uint64_t hash) {
    if (m == NULL)
        return false;
    DISPATCH(m, del, m, key, hash, true);
}

int gomap__upsert_locked(gomap *m, const void *key, uint64_t hash, void **value_slot,
                         bool *inserted) {
    if (unlikely(m == NULL))
        gomap__fatal("assignment to entry in nil map");
    void *vs = NULL;
    bool ins = false;
    /* u64 keys, the commonest kind, without the dispatch's call (the
     * family's every write comes here). */
    int r = likely(m->kind == K_U64)
                ? set_impl(m, key, hash, true, NULL, &vs, &ins, K_U64, SET_LOCKED)
                : key_ops_table[m->kind].set_locked(m, key, hash, NULL, &vs, &ins);
    if (value_slot)
        *value_slot = vs;
    if (inserted)
        *inserted = r == 0 && ins;
    return r;
}

int gomap__set_hashed_locked(gomap *m, const void *key, uint64_t hash, const void *value) {
    if (unlikely(m == NULL))
        gomap__fatal("assignment to entry in nil map");
    DISPATCH(m, set_locked, m, key, hash, value, NULL, NULL);
}

bool gomap__delete_hashed_locked(gomap *m, const void *key, uint64_t hash) {
    if (m == NULL)
        return false;
    DISPATCH(m, del_locked, m, key, hash);
}

/* ---- optimistic reads ------------------------------------------------------- */

/* Racy loads for gomap__get_optimistic: each value is loaded exactly once
 * (the compiler may not reload it and see another), and torn values cannot
 * happen for aligned words.  Relaxed: the caller's sequence check orders the
 * whole lookup (map_internal.h). */
#define RACY_LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)

/* Longest chain (home bucket + overflow buckets) an optimistic lookup
 * follows.  Go's growth rules keep chains short; a longer walk means the
 * chain is being relinked under the reader (pool buckets are reused after
 * a clear), and the caller falls back to its lock. */
#define OPTIMISTIC_CHAIN_LIMIT 32

/* Starts loading the first two lines of a bucket's slots (bbytes of them).
 * The tophash word and the slots live in different arrays, so a lookup in a
 * large map pays two DRAM misses, the second only after the first (the slot
 * is known only once the tophash byte matched); the bucket's address is
 * known from the hash alone, so both misses can overlap.  Two lines hold a
 * whole bucket of 16-byte slots (u64 -> u64). */
static inline void prefetch_bucket(const char *slots, size_t bbytes) {
    __builtin_prefetch(slots);
    if (bbytes > 64)
        __builtin_prefetch(slots + 64);
}

static inline void prefetch_slots(const gomap *m, const char *slots) {
    prefetch_bucket(slots, bucket_bytes(m));
}

void gomap__prefetch(const gomap *m, uint64_t hash) {
#ifndef GOMAP__TSAN
    /* Header fields only (the header outlives every array), read racily:
     * a stale or mixed value only prefetches a useless line, and a prefetch
     * never faults. */
    uintptr_t i = hash & RACY_LOAD(&m->mask);
    const uint64_t *tops = RACY_LOAD(&m->tops);
    const char *slots = RACY_LOAD(&m->slots);
    __builtin_prefetch(tops + i);
    prefetch_slots(m, slots + i * bucket_bytes(m));
#else
    (void)m;
    (void)hash;
#endif
}

bool gomap__optimistic_ok(const gomap *m) {
    return m && (m->kind == K_U64 || m->kind == K_U32 || m->kind == K_BYTES);
}

bool gomap__optimistic_u64(const gomap *m) {
    return m && m->kind == K_U64;
}

/* gomap__get_optimistic's walk for one key kind and slot size (constants in
 * each caller, so the key comparison compiles to a word compare, without a
 * call, and a fixed slot size to shifts): the slot is ss bytes, the value
 * at voff in it. */
ALWAYS_INLINE void *get_optimistic_sized(const gomap *m, const void *key, uint64_t hash,
                                         bool *retry, int kind, size_t ss, size_t voff) {
    *retry = false;
    /* The array descriptor, not the header's cached tops/mask/slots: a
     * growing writer changes those one by one, while a barray's geometry
     * never changes, so these four fields always agree. */
    const barray *a = RACY_LOAD(&m->arr);
    if (!a)
        return NULL; /* nothing inserted yet */
    uintptr_t i = hash & (a->nbuckets - 1);
    /* Growing: the key is still in its old bucket unless that bucket was
     * evacuated (home_bucket's rule; the old index is hash & (old buckets -
     * 1) for a doubling and a same-size grow alike). */
    const barray *o = RACY_LOAD(&m->oldarr);
    if (o) {
        uintptr_t oi = hash & (o->nbuckets - 1);
        if (!evacuated(RACY_LOAD(&o->tops[oi]))) {
            a = o;
            i = oi;
        }
    }
    const uint64_t *top = &a->tops[i];
    obucket *const *next = &a->nexts[i];
    char *slots = a->slots + i * (ss * BUCKET_CNT);
    prefetch_bucket(slots, ss * BUCKET_CNT);
    uint8_t t = tophash(hash);
    for (unsigned n = 0; n < OPTIMISTIC_CHAIN_LIMIT; n++) {
        uint64_t w = RACY_LOAD(top);
        for (uint64_t mt = match_top(w, t); mt; mt &= mt - 1) {
            char *slot = slots + first_slot(mt) * ss;
            if (key_equal(m, slot, key, kind))
                return slot + voff;
        }
        if (chain_ends(w))
            return NULL;
        obucket *ob = RACY_LOAD(next);
        if (!ob)
            return NULL;
        top = &ob->top;
        next = &ob->next;
        slots = oslots(ob);
    }
    *retry = true;
    return NULL;
}

/* gomap__get_optimistic's walk for one key kind, the slot size the map's. */
ALWAYS_INLINE void *get_optimistic(const gomap *m, const void *key, uint64_t hash, bool *retry,
                                   int kind) {
    return get_optimistic_sized(m, key, hash, retry, kind, m->slot_size, m->voff);
}

void *gomap__get_optimistic(const gomap *m, const void *key, uint64_t hash, bool *retry) {
    GOMAP_PROBE2(op, (const void *)m, 0);
    switch (m->kind) {
    case K_U64:
        return get_optimistic(m, key, hash, retry, K_U64);
    case K_U32:
        return get_optimistic(m, key, hash, retry, K_U32);
    default:
        return get_optimistic(m, key, hash, retry, K_BYTES);
    }
}

void *gomap__get_optimistic_u64(const gomap *m, const void *key, uint64_t hash, bool *retry) {
    GOMAP_PROBE2(op, (const void *)m, 0);
    return get_optimistic(m, key, hash, retry, K_U64);
}

#ifndef GOMAP__TSAN /* (TSan builds load under the lock) */
/* gomap__load_seq_u64v8's rare ending: a grace period sleeps on this
 * thread's section, so wake it, then answer r (or hand an undecided load
 * on).  Out of line, as the load's tail call, so that the load keeps
 * nothing across a call. */
static __attribute__((noinline)) bool load_seq_wake_then(int r, _Atomic uint32_t *seq,
                                                         const void *key, uint64_t hash,
                                                         void *value_out,
                                                         gomap__load_undecided_fn undecided) {
    gomap__rcu_wake_gp();
    if (r < 0)
        return undecided(seq, key, hash, value_out);
    return r;
}
#endif

bool gomap__load_seq_u64v8(_Atomic uint32_t *seq, const gomap *m, const void *key, uint64_t hash,
                           void *value_out, gomap__load_undecided_fn undecided) {
#ifdef GOMAP__TSAN
    (void)m;
    return undecided(seq, key, hash, value_out);
#else
    struct urcu_reader *rd = gomap__rcu_reader;
    if (unlikely(rd == NULL))
        return undecided(seq, key, hash, value_out); /* it enters through reclaim.c */
    int r = -1;
    gomap__rcu_enter_reader(rd);
    uint32_t q = gomap__seq_read_begin(seq); /* map_internal.h: the protocol */
    if (likely(!(q & 1))) {
        bool retry;
        const void *v = get_optimistic_sized(m, key, hash, &retry, K_U64, 16, 8);
        uint64_t x = 0;
        if (v)
            memcpy(&x, v, 8); /* may be torn; kept only if seq says not */
        if (likely(gomap__seq_read_end(seq, q) && !retry)) {
            r = v != NULL;
            if (v)
                memcpy(value_out, &x, 8);
        }
    }
    if (unlikely(gomap__rcu_exit_reader(rd)))
        return load_seq_wake_then(r, seq, key, hash, value_out, undecided);
    if (unlikely(r < 0))
        return undecided(seq, key, hash, value_out);
    return r;
#endif
}

void *gomap__find_u64v8_locked(const gomap *m, const void *key, uint64_t hash) {
    if (unlikely(growing(m)))
        return NULL; /* the insert path moves the key's bucket along */
    bool retry;      /* only a chain too long for the walk: NULL, the insert path */
    return get_optimistic_sized(m, key, hash, &retry, K_U64, 16, 8);
}

/* ---- life cycle ------------------------------------------------------------ */

GOMAP_API gomap_str gomap_cstr(const char *s) {
    gomap_str r = {s, s ? strlen(s) : 0};
    return r;
}

/* The key kind of a map without user functions, by public key kind. */
static const uint8_t kind_of_config[] = {
    [GOMAP_KEY_U64] = K_U64,     [GOMAP_KEY_U32] = K_U32,
    [GOMAP_KEY_STRING] = K_STR,  [GOMAP_KEY_STRING_BORROWED] = K_BSTR,
    [GOMAP_KEY_BYTES] = K_BYTES,
};

int gomap__config_check(const gomap_config *cfg) {
    if (cfg == NULL || (unsigned)cfg->key_kind > GOMAP_KEY_BYTES ||
        cfg->value_size > GOMAP_MAX_VALUE_SIZE)
        return EINVAL;
    if (cfg->key_kind == GOMAP_KEY_BYTES &&
        (cfg->key_size < 1 || cfg->key_size > GOMAP_MAX_KEY_SIZE ||
         (cfg->hash == NULL) != (cfg->equal == NULL)))
        return EINVAL;
    if (cfg->allocator && (cfg->allocator->alloc == NULL || cfg->allocator->free == NULL))
        return EINVAL;
    return 0;
}

/* Frees the map header itself (see header_malloc). */
static void free_header(gomap *m) {
    if (m->header_malloc) {
        free(m);
        return;
    }
    gomap_allocator al = m->alloc;
    al.free(m, sizeof *m, al.ctx);
}

static int new_map(gomap **out, const gomap_config *cfg, uint64_t seed) {
    if (out == NULL)
        return EINVAL;
    *out = NULL;
    if (gomap__config_check(cfg) != 0)
        return EINVAL;
    const gomap_allocator *al = cfg->allocator ? cfg->allocator : &gomap__malloc_allocator;
#ifndef GOMAP_NO_DETECT
    bool header_malloc = gomap__debug_checkfree();
#else
    bool header_malloc = false;
#endif
    gomap *m = header_malloc ? malloc(sizeof *m) : al->alloc(sizeof *m, al->ctx);
    if (!m)
        return ENOMEM;
    memset(m, 0, sizeof *m);
    m->alloc = *al;
    m->iters = &m->iters_store;
    m->header_malloc = header_malloc;
    m->config_kind = (uint8_t)cfg->key_kind;
    m->hash_fn = cfg->hash;
    m->equal_fn = cfg->equal;
    m->fn_ctx = cfg->fn_ctx;
    size_t ks = slot_key_size(cfg->key_kind, cfg->key_size);
    m->ksize = (uint32_t)ks;
    m->vsize = (uint32_t)cfg->value_size;
    m->kind = (uint8_t)(cfg->hash || cfg->equal ? K_GEN : kind_of_config[cfg->key_kind]);
    size_t va = cfg->value_size ? natural_align(cfg->value_size) : 1;
    size_t voff = (ks + va - 1) & ~(va - 1);
    size_t align = natural_align(ks) > va ? natural_align(ks) : va;
    size_t ss = voff + cfg->value_size;
    ss = (ss + align - 1) & ~(align - 1);
    m->voff = (uint16_t)voff;
    m->slot_size = (uint32_t)ss;
    update_view_slow(m);
    m->seed = seed;
    m->sec = gomap__hash_secret(seed);
    m->op_traced = op_semaphore();
#ifndef GOMAP_NO_DETECT
    m->wslow = (uint8_t)((cfg->hash || cfg->equal ? WSLOW_CB : 0) |
                         (gomap__debug_writerstack() ? WSLOW_STACK : 0) |
                         (gomap__debug_serialize() ? WSLOW_SERIAL : 0) |
                         (gomap__tid_fs_check() ? 0 : WSLOW_TID));
    /* Relaxed: the map is not shared yet. */
    atomic_store_explicit(&m->writing, idle_word(m), memory_order_relaxed);
    m->readers = &m->readers_store;
    atomic_store_explicit(m->readers, 0, memory_order_relaxed);
#endif
    unsigned B = 0;
    while (over_load_factor(cfg->hint, B)) {
        /* 2^MAX_B buckets would take more memory than any machine has; a
         * hint that asks for more (and would overflow the arithmetic) is
         * an allocation that cannot succeed. */
        if (++B > MAX_B) {
            free_header(m);
            return ENOMEM;
        }
    }
    set_B(m, B);
    install_array(m, NULL);
    if (B > 0 || cfg->hint > 0) {
        if (first_array(m, OWN_NONE)) {
            free_header(m);
            return ENOMEM;
        }
    }
    *out = m;
    return 0;
}

GOMAP_API int gomap_new(gomap **out, const gomap_config *cfg) {
    return new_map(out, cfg, gomap__random64());
}

int gomap__new_seeded(gomap **out, const gomap_config *cfg, uint64_t seed) {
    return new_map(out, cfg, seed);
}

uint64_t gomap__seed(const gomap *m) {
    return m->seed;
}

/* Frees everything the map holds except the map itself and its current
 * array's main buckets. */
static void release_contents(gomap *m) {
    if (m->oldarr) {
        /* Live keys in old buckets not yet evacuated (evacuated slots' keys
         * belong to the new array). */
        free_array(m, m->oldarr, true);
        install_old_array(m, NULL);
    }
    free_retired(m);
    if (m->arr)
        free_chains(m, m->arr, true);
}

#ifndef GOMAP_NO_DETECT
/* GOMAP_DEBUG=checkfree=1: freed headers are kept here instead of going back
 * to the allocator, each emptied (no array: a lookup reads empty_tops only)
 * and with its writing flag held by GOMAP__FREED_WRITER, so any later read,
 * write or iterator step takes the conflict path it already has and
 * gomap__conflict names the freed map — no check on any hot path.
 * Invariant (under quarantine_lock): the non-NULL entries of quarantine are
 * the last QUARANTINE_LEN freed headers, a ring whose next slot to fill,
 * quarantine_next, holds the oldest (or NULL); the oldest is really freed
 * when its slot is reused.  Held in a static array, so they stay reachable
 * (LeakSanitizer does not report them).  The flag store is relaxed like
 * every store to it (see the field): a thread using a map another thread
 * frees is racing already. */
enum { QUARANTINE_LEN = 1024 };
static gomap *quarantine[QUARANTINE_LEN];
static size_t quarantine_next;
static pthread_mutex_t quarantine_lock = PTHREAD_MUTEX_INITIALIZER;

/* A child forked while another thread held the lock would find it held
 * forever: it starts with a fresh one. */
static void quarantine_atfork_child(void) {
    pthread_mutex_init(&quarantine_lock, NULL);
}
static pthread_once_t quarantine_atfork_once = PTHREAD_ONCE_INIT;
static void quarantine_register_atfork(void) {
    pthread_atfork(NULL, NULL, quarantine_atfork_child);
}

static void quarantine_map(gomap *m) {
    pthread_once(&quarantine_atfork_once, quarantine_register_atfork);
    install_array(m, NULL);
    set_B(m, 0);
    m->count = 0;
    atomic_store_explicit(&m->writing, GOMAP__FREED_WRITER, memory_order_relaxed);
    pthread_mutex_lock(&quarantine_lock);
    gomap *old = quarantine[quarantine_next];
    quarantine[quarantine_next] = m;
    quarantine_next = (quarantine_next + 1) % QUARANTINE_LEN;
    pthread_mutex_unlock(&quarantine_lock);
    if (old)
        free_header(old);
}
#endif

GOMAP_API void gomap_free(gomap *m) {
    if (!m)
        return;
#ifndef GOMAP_NO_DETECT
    bool checkfree = gomap__debug_checkfree();
    if (checkfree && writer_of(m) == GOMAP__FREED_WRITER)
        gomap__fatal("gomap_free of a freed map (GOMAP_DEBUG=checkfree)");
#endif
    release_contents(m);
    if (m->arr)
        m_free(m, m->arr, m->arr->bytes);
#ifndef GOMAP_NO_DETECT
    if (checkfree) {
        quarantine_map(m);
        return;
    }
#endif
    free_header(m);
}

GOMAP_API void gomap_clear(gomap *m) {
    if (!m)
        return;
    int wtok = write_begin(m);
    release_contents(m);
    barray *a = m->arr;
    if (a) {
        memset(a->tops, 0, a->nbuckets * sizeof(uint64_t));
        a->pool_next = a->pool;
    }
    m->same_size = 0;
    m->nevacuate = 0;
    set_noverflow(m, 0);
    m->count = 0;
    m->clear_seq++;
    store_clear24(m);
    atomic_store_explicit(&m->iters->flags, 0, memory_order_relaxed);
    write_end(m, wtok);
}

GOMAP_API int gomap_shrink(gomap *m) {
    if (!m)
        return 0;
    int wtok = write_begin(m);
    int r = shrink(m, 1);
    write_end(m, wtok);
    return r;
}

GOMAP_API void gomap_auto_shrink(gomap *m, bool on) {
    if (!m)
        return;
    int wtok = write_begin(m);
    m->auto_shrink = on;
    write_end(m, wtok);
}

GOMAP_API size_t gomap_len(const gomap *m) {
    if (!m)
        return 0;
#ifndef GOMAP_NO_DETECT
    /* Not Go's check (len reads no buckets), only checkfree's: a freed map
     * holds GOMAP__FREED_WRITER, which no live map's flag ever does. */
    if (unlikely(writer_of(m) == GOMAP__FREED_WRITER))
        gomap__conflict(m, GOMAP_CONFLICT_READ_WRITE, GOMAP__FREED_WRITER, false);
#endif
    return m->count;
}

/* ---- iteration --------------------------------------------------------------- */

/* The iterator's private fields, as used here:
 *   tops         the tops of the barray the iteration started on (it stays
 *                allocated: ITER_NEW / ITER_OLD make growth retire it, not
 *                free it)
 *   bucket       current bucket header (chain_end_word before the first step)
 *   slots        current bucket's slots
 *   start_bucket, bucket_index, check_bucket, offset, i, wrapped, B: Go's
 *   clear_seq    the map's clear_seq at the start
 *   head         the map's head word as gomap.h's inline step expects it
 *                (head_expected), kept by every step of the library's */
#define NO_CHECK ((uintptr_t)-1)

/* The head word as memory holds it (see struct gomap's clear24): the three
 * clear24 bytes, the shape byte, then a writing word of 0. */
static uint64_t head_word_of(const uint8_t clear24[3], uint8_t view_slow) {
    struct {
        uint8_t clear24[3], view_slow;
        int writing;
    } h = {{clear24[0], clear24[1], clear24[2]}, view_slow, 0};
    _Static_assert(sizeof h == sizeof(uint64_t), "head word");
    uint64_t w;
    memcpy(&w, &h, sizeof w);
    return w;
}

/* The head word an iteration step expects (see struct gomap's view_slow and
 * clear24): no write running (writing 0, so that a serializing or freed map,
 * whose word is never 0, always takes the library's step), the map's shape
 * byte and clear24 as they are now. */
static uint64_t head_expected(const gomap *m) {
    return head_word_of(m->clear24, m->view_slow);
}

/* Or-ed into the expected head word while the iterator reads an old
 * bucket whose entries it filters by hash (check_bucket set): a shape byte
 * of 0xff, which the map's never is (view_slow is below 4), so the inline
 * step's compare of the head word fails and the library takes the step.
 * The inline step then needs no test of check_bucket of its own. */
static uint64_t head_poison(void) {
    static const uint8_t no_clears[3] = {0, 0, 0};
    return head_word_of(no_clears, 0xff);
}

/* The head word the inline step is to expect next (see head_poison). */
static uint64_t iter_head(const gomap_iter *it, const gomap *m) {
    return head_expected(m) | (it->check_bucket != NO_CHECK ? head_poison() : 0);
}

static const uint64_t chain_end_word = 0;

static void mark_iter(const gomap *m, uint8_t bits) {
    _Atomic uint8_t *f = &m->iters->flags;
    /* Relaxed: the flags are read by writes, which the contract orders
     * after this read-side call; the atomic RMW only keeps concurrent
     * iterators (readers) from racing with each other. */
    if ((atomic_load_explicit(f, memory_order_relaxed) & bits) != bits)
        atomic_fetch_or_explicit(f, bits, memory_order_relaxed);
}

GOMAP_API void gomap_iter_init(gomap_iter *it, const gomap *m) {
    if (it == NULL)
        return;
    memset(it, 0, sizeof *it);
    if (m == NULL || m->count == 0)
        return;
    it->m = m;
    it->tops = m->arr->tops;
    /* A word that ends the chain: the first step moves to start_bucket. */
    it->bucket = (void *)(uintptr_t)&chain_end_word;
    it->B = m->B;
    uint64_t r = gomap__random64();
    it->start_bucket = (uintptr_t)(r & bucket_mask(m->B));
    it->offset = (uint8_t)((r >> 59) & (BUCKET_CNT - 1));
    it->bucket_index = it->start_bucket;
    it->check_bucket = NO_CHECK;
    it->clear_seq = m->clear_seq;
    it->head = head_expected(m);
    it->key_in_slot = m->config_kind != GOMAP_KEY_STRING;
    mark_iter(m, growing(m) ? ITER_NEW | ITER_OLD : ITER_NEW);
    it->cohort = m->iter_phase;
    atomic_fetch_add_explicit(&m->iters->live[it->cohort], 1, memory_order_relaxed);
}

/* Ends an iteration: the map may free what it kept for it.  it->m is the
 * mark of a counted iteration, cleared here so it ends once. */
static void iter_end(gomap_iter *it) {
    GOMAP_ASSERT(cohort_live(it->m, it->cohort) > 0);
    atomic_fetch_sub_explicit(&it->m->iters->live[it->cohort], 1, memory_order_relaxed);
    it->m = NULL;
}

GOMAP_API void gomap_iter_stop(gomap_iter *it) {
    if (!it || !it->m)
        return;
#ifndef GOMAP_NO_DETECT
    if (unlikely(writer_of(it->m) == GOMAP__FREED_WRITER))
        gomap__fatal("gomap_iter_stop on a freed map (GOMAP_DEBUG=checkfree)");
#endif
    iter_end(it);
}

ALWAYS_INLINE bool iter_next_impl(gomap_iter *it, const void **keyp, void **valp, int kind) {
    const gomap *m = it->m;
    bref b = {it->bucket, it->next, it->slots};
    uintptr_t check = it->check_bucket;
    unsigned todo = it->i;
    unsigned off0 = it->offset;
    size_t ss = m->slot_size;
    bool moved = false;
    for (;;) {
        /* The current bucket's slots not yet visited that held an entry when
         * the iterator reached the bucket, in the iteration's order (bit k
         * is slot (k + offset) mod 8).  Each is checked again when its turn
         * comes: a delete since then hides its entry, a growth since then
         * marked it evacuated.  A slot filled after the bucket was reached
         * holds an entry added during the iteration: it may be skipped. */
        for (; todo; todo &= todo - 1) {
            unsigned off = ((unsigned)__builtin_ctz(todo) + off0) & (BUCKET_CNT - 1);
            uint8_t t = top_at(*b.top, off);
            if (t <= EMPTY_ONE || t == EVACUATED_EMPTY)
                continue;
            char *slot = b.s + off * ss;
            if (unlikely(check != NO_CHECK) && !m->same_size) {
                if ((hash_slot(m, slot, kind) & bucket_mask(it->B)) != check)
                    continue;
            }
            char *found = slot;
            if (t == EVACUATED_X || t == EVACUATED_Y) {
                /* The map grew since this array was current: the entry's
                 * live copy, if any, is elsewhere. */
                uint64_t h = hash_slot(m, slot, kind);
                if (string_keys(m, kind)) {
                    gomap_str s = slot_str(m, slot);
                    found = find_slot(m, &s, h, kind);
                } else {
                    found = find_slot(m, slot, h, kind);
                }
                if (!found)
                    continue; /* deleted */
            }
            if (keyp) {
                if (owns_keys(m, kind)) {
                    it->key_view = skey_view((const skey *)found);
                    *keyp = &it->key_view;
                } else {
                    *keyp = found;
                }
            }
            if (valp)
                *valp = found + m->voff;
            it->i = (uint8_t)(todo & (todo - 1));
            if (moved) {
                it->bucket = b.top;
                it->next = b.next;
                it->slots = b.s;
                it->check_bucket = check;
                it->head = (it->head & ~head_poison()) | (check != NO_CHECK ? head_poison() : 0);
            }
            return true;
        }
        /* Next bucket: along the chain, unless the bucket's last slot is
         * EMPTY_REST (what follows, if anything, is empty: the overflow
         * pointer is not read); else the next bucket of the array. */
        moved = true;
        if (b.top && !chain_ends(*b.top) && *b.next) {
            b = next_bucket(b);
        } else {
            uintptr_t bucket = it->bucket_index;
            if (bucket == it->start_bucket && it->wrapped) {
                iter_end(it);
                return false;
            }
            if (growing(m) && it->B == m->B) {
                /* Started during this growth: if the old bucket has not been
                 * evacuated, walk it and return only the entries bound for
                 * this bucket. */
                uintptr_t ob = bucket & (old_nbuckets(m) - 1);
                if (!evacuated(m->oldtops[ob])) {
                    mark_iter(m, ITER_OLD);
                    b = arr_bucket(m, m->oldarr, ob);
                    check = bucket;
                } else {
                    b = arr_bucket(m, array_of(it->tops), bucket);
                    check = NO_CHECK;
                }
            } else {
                b = arr_bucket(m, array_of(it->tops), bucket);
                check = NO_CHECK;
            }
            bucket++;
            if (bucket == ((uintptr_t)1 << it->B)) {
                bucket = 0;
                it->wrapped = true;
            }
            it->bucket_index = bucket;
        }
        unsigned live = occupied_slots(*b.top);
        todo = ((live >> off0) | (live << (BUCKET_CNT - off0))) & 0xffu;
    }
}

#define DEFINE_ITER_FN(name, k)                                                                    \
    NOINLINE bool iter_##name(gomap_iter *it, const void **key, void **value) {                    \
        return iter_next_impl(it, key, value, k);                                                  \
    }
KEY_KINDS(DEFINE_ITER_FN)

#define KEY_OPS_ENTRY(name, k)                                                                     \
    [k] = {get_##name,      get_hashed_##name,     set_##name,                                     \
           del_##name,      set_locked_##name,     del_locked_##name,                              \
           iter_##name,     evacuate_##name,       hash_##name,                                    \
           get_many_##name, get_many_hashed_##name},
static const key_ops key_ops_table[NKEY_KINDS] = {KEY_KINDS(KEY_OPS_ENTRY)};

/* A step of an iteration: the kind's full step, after the clear check. */
static bool iter_step(gomap_iter *it, const void **key, void **value) {
    const gomap *m = it->m;
    if (it->clear_seq != m->clear_seq) {
        iter_end(it);
        return false;
    }
    DISPATCH(m, iter, it, key, value);
}

/* The step that leaves the current bucket, reached by a tail call from
 * gomap_iter_next when its bucket has no live slot left: while the map is
 * not growing and the iterator reads no old bucket (check NO_CHECK), it
 * walks on to the next bucket holding a live entry here, in the full
 * step's order (along the chain unless the bucket's last byte is
 * EMPTY_REST, then the next bucket of the iterator's array).  An evacuated
 * slot (the map grew since the iteration started), the first step and the
 * end of the walk go to the full step for the key kind, from the state
 * saved here. */
NOINLINE bool iter_advance(gomap_iter *it, const void **key, void **value) {
    const gomap *m = it->m;
    unsigned todo = it->i;
    if (unlikely(todo != 0 || it->check_bucket != NO_CHECK || growing(m) || !it->bucket))
        return iter_step(it, key, value);
    const uint64_t *btop = it->bucket;
    obucket **bnext = it->next;
    char *bslots = it->slots;
    const unsigned off0 = it->offset;
    for (;;) {
        if (!chain_ends(*btop) && *bnext) {
            obucket *o = *bnext;
            btop = &o->top;
            bnext = &o->next;
            bslots = oslots(o);
        } else {
            uintptr_t bi = it->bucket_index;
            if (bi == it->start_bucket && it->wrapped)
                break; /* the end: the full step ends the iteration */
            const barray *a = array_of(it->tops);
            btop = &a->tops[bi];
            bnext = &a->nexts[bi];
            bslots = a->slots + bi * bucket_bytes(m);
            if (++bi == ((uintptr_t)1 << it->B)) {
                bi = 0;
                it->wrapped = true;
            }
            it->bucket_index = bi;
        }
        const uint64_t top = *btop;
        unsigned live = occupied_slots(top);
        todo = ((live >> off0) | (live << (BUCKET_CNT - off0))) & 0xffu;
        if (!todo)
            continue;
        unsigned off = ((unsigned)__builtin_ctz(todo) + off0) & (BUCKET_CNT - 1);
        if (unlikely(top_at(top, off) < MIN_TOPHASH))
            break; /* evacuated: the full step looks the key up */
        it->i = (uint8_t)(todo & (todo - 1));
        it->bucket = (void *)(uintptr_t)btop;
        it->next = bnext;
        it->slots = bslots;
        return gomap__iter_entry(it, bslots + off * m->slot_size, m->voff, key, value);
    }
    it->i = (uint8_t)todo;
    it->bucket = (void *)(uintptr_t)btop;
    it->next = bnext;
    it->slots = bslots;
    return iter_step(it, key, value);
}

/* An iterator step that found the writing word set: Go's mapiternext check;
 * a serializing map's step waits for the write instead.  Out of line and
 * reached by a tail call, so the common step saves no registers. */
NOINLINE bool iter_next_slow(gomap_iter *it, const void **key, void **value) {
    GOMAP_PROBE2(op, (const void *)it->m, 3);
#ifndef GOMAP_NO_DETECT
    const gomap *m = it->m; /* the step's end may clear it->m */
    enum read_entry e = read_begin_slow(m, GOMAP_CONFLICT_ITER_WRITE);
    bool r = iter_step(it, key, value);
    read_end(m, e);
    return r;
#else
    return iter_step(it, key, value);
#endif
}

/* The library's step; gomap.h's inline step (the macro gomap_iter_next)
 * runs its common case in the caller and calls this for the rest. */
GOMAP_API bool(gomap_iter_next)(gomap_iter *it, const void **key, void **value) {
    if (it == NULL)
        return false;
    const gomap *m = it->m;
    if (m == NULL)
        return false;
    if (unlikely(writing_now(m)))
        return iter_next_slow(it, key, value);
    GOMAP_PROBE2(op, (const void *)m, 3);
    if (unlikely(it->clear_seq != m->clear_seq))
        return iter_step(it, key, value);
    /* Neither a write nor a clear: the inline step's next compare expects
     * the map's shape as it is now (a growth may have begun or ended). */
    it->head = iter_head(it, m);
    /* The common step, kept small enough to need no saved registers: the
     * next slot of the current bucket holds a live entry (not evacuated,
     * and the bucket is not an old one read for a growing map).  Anything
     * else goes to iter_advance. */
    unsigned todo = it->i;
    if (likely(todo != 0 && it->check_bucket == NO_CHECK)) {
        const uint64_t top = *(const uint64_t *)it->bucket;
        const unsigned off0 = it->offset;
        do {
            unsigned off = ((unsigned)__builtin_ctz(todo) + off0) & (BUCKET_CNT - 1);
            uint8_t t = top_at(top, off);
            if (likely(t >= MIN_TOPHASH)) {
                it->i = (uint8_t)(todo & (todo - 1));
                return gomap__iter_entry(it, (char *)it->slots + off * m->slot_size, m->voff, key,
                                         value);
            }
            if (unlikely(t != EMPTY_ONE && t != EMPTY_REST))
                break; /* evacuated: the full step looks the key up */
            todo &= todo - 1;
        } while (todo);
        it->i = (uint8_t)todo;
    }
    return iter_advance(it, key, value);
}

/* ---- clone -------------------------------------------------------------------- */

/* Duplicates the heap strings of the live slots of a bucket just copied into
 * a clone, and publishes the slots by setting its tophash word: only slots
 * whose key the clone owns are ever live in it, so freeing a half-built clone
 * frees exactly what it allocated. */
static int clone_bucket_keys(gomap *c, uint64_t top, char *slots, uint64_t *dst) {
    if (owns_keys(c, K_GEN)) {
        for (unsigned i = 0; i < BUCKET_CNT; i++) {
            if (top_at(top, i) < MIN_TOPHASH)
                continue;
            skey *k = (skey *)(slots + i * c->slot_size);
            if ((uint8_t)k->u.b[15] != SSO_HEAP)
                continue;
            size_t len = k->u.h.len_tag & HEAP_LEN_MASK;
            char *p = m_alloc(c, len);
            if (!p) {
                for (unsigned j = i; j < BUCKET_CNT; j++)
                    if (top_at(top, j) >= MIN_TOPHASH)
                        set_top(&top, j, EMPTY_ONE);
                *dst = top;
                return ENOMEM;
            }
            memcpy(p, k->u.h.ptr, len);
            k->u.h.ptr = p;
        }
    }
    *dst = top;
    return 0;
}

/* Copies a map that is not growing bucket by bucket: same B, same seed, same
 * chains, so no key is hashed again.  O(buckets + len). */
static int clone_direct(const gomap *m, gomap *c) {
    barray *a = new_array(c, m->B);
    if (!a)
        return ENOMEM;
    install_array(c, a);
    set_B(c, m->B);
    memcpy(a->slots, m->slots, a->nbuckets * bucket_bytes(m));
    for (uintptr_t i = 0; i < a->nbuckets; i++) {
        bref src = arr_bucket(m, m->arr, i);
        bref dst = arr_bucket(c, a, i);
        for (;;) {
            if (clone_bucket_keys(c, *src.top, dst.s, dst.top))
                return ENOMEM;
            if (!*src.next)
                break;
            osupply sup = {NULL};
            if (supply_reserve(c, &sup, 1))
                return ENOMEM;
            obucket *o = supply_take(c, &sup);
            *dst.next = o;
            src = next_bucket(src);
            dst = obucket_ref(o);
            memcpy(dst.s, src.s, bucket_bytes(m));
        }
    }
    c->count = m->count;
    return 0;
}

/* Copies a growing map by inserting its live entries (old buckets not yet
 * evacuated, then the new array: an entry is live in exactly one of them). */
static int clone_reinsert(const gomap *m, gomap *c) {
    for (int pass = 0; pass < 2; pass++) {
        barray *a = pass == 0 ? m->oldarr : m->arr;
        for (uintptr_t bi = 0; bi < a->nbuckets; bi++) {
            for (bref b = arr_bucket(m, a, bi); b.top; b = next_bucket(b)) {
                for (unsigned i = 0; i < BUCKET_CNT; i++) {
                    if (top_at(*b.top, i) < MIN_TOPHASH)
                        continue;
                    const char *slot = b.s + i * m->slot_size;
                    gomap_str s;
                    const void *key = slot;
                    if (string_keys(m, K_GEN)) {
                        s = slot_str(m, slot);
                        key = &s;
                    }
                    void *vs;
                    int e = gomap__upsert(c, key, gomap__hash(c, key), &vs, NULL);
                    if (e)
                        return e;
                    memcpy(vs, slot + m->voff, m->vsize);
                }
            }
        }
    }
    return 0;
}

GOMAP_API int gomap_clone(const gomap *m, gomap **out) {
    if (out == NULL)
        return EINVAL;
    *out = NULL;
    if (m == NULL)
        return 0;
    /* The clone reads the whole map: a write found at its start or its end
     * overlapped it.  A serializing map keeps writes out meanwhile. */
    enum read_entry e = read_begin(m, GOMAP_CONFLICT_READ_WRITE);
    gomap_config cfg = {(gomap_key_kind)m->config_kind,
                        m->config_kind == GOMAP_KEY_BYTES ? m->ksize : 0,
                        m->vsize,
                        growing(m) ? m->count : 0,
                        m->hash_fn,
                        m->equal_fn,
                        m->fn_ctx,
                        &m->alloc};
    gomap *c;
    int r = new_map(&c, &cfg, m->seed);
    if (r) {
        read_end(m, e);
        return r;
    }
    c->auto_shrink = m->auto_shrink;
    if (m->count > 0 || growing(m))
        r = growing(m) ? clone_reinsert(m, c) : clone_direct(m, c);
#ifndef GOMAP_NO_DETECT
    if (e == READ_PLAIN && unlikely(writing_now(m)))
        e = read_begin_slow(m, GOMAP_CONFLICT_READ_WRITE);
#endif
    read_end(m, e);
    if (r) {
        gomap_free(c);
        return r;
    }
    *out = c;
    return 0;
}

/* ---- statistics (tools/loadfactor) ------------------------------------------ */

/* Walks a chain as a lookup of `hash` would, counting buckets read and key
 * comparisons made; stops at `target` (a hit) or the end of the chain. */
static void probe_walk(const gomap *m, uint64_t hash, const char *target, double *buckets,
                       double *compares) {
    uint8_t t = tophash(hash);
    bref b = home_bucket(m, hash);
    for (;;) {
        *buckets += 1;
        uint64_t top = *b.top;
        for (uint64_t mt = match_top(top, t); mt; mt &= mt - 1) {
            char *slot = b.s + first_slot(mt) * m->slot_size;
            *compares += 1;
            if (slot == target)
                return;
        }
        if (chain_ends(top) || !*b.next)
            return;
        b = next_bucket(b);
    }
}

bool gomap__growing(const gomap *m) {
    return growing(m);
}

void gomap__stats(const gomap *m, size_t nmiss, gomap__stats_t *st) {
    memset(st, 0, sizeof *st);
    st->count = m->count;
    st->B = m->B;
    st->growing = growing(m);
    st->bytes = sizeof *m;
    for (int pass = 0; pass < 2; pass++) {
        barray *a = pass == 0 ? m->arr : m->oldarr;
        if (!a)
            continue;
        st->bytes += a->bytes;
        for (uintptr_t i = 0; i < a->nbuckets; i++) {
            for (obucket *o = a->nexts[i]; o; o = o->next) {
                if (pass == 0)
                    st->overflow++;
                if (!in_pool(a, o))
                    st->bytes += obucket_bytes(m);
            }
        }
    }
    if (!m->arr || growing(m))
        return;
    st->buckets = m->arr->nbuckets;
    size_t hits = 0;
    for (uintptr_t i = 0; i < m->arr->nbuckets; i++)
        for (bref b = arr_bucket(m, m->arr, i); b.top; b = next_bucket(b))
            for (unsigned j = 0; j < BUCKET_CNT; j++)
                if (top_at(*b.top, j) >= MIN_TOPHASH) {
                    char *slot = b.s + j * m->slot_size;
                    probe_walk(m, hash_slot(m, slot, K_GEN), slot, &st->hit_buckets,
                               &st->hit_compares);
                    hits++;
                }
    if (hits) {
        st->hit_buckets /= (double)hits;
        st->hit_compares /= (double)hits;
    }
    for (size_t i = 0; i < nmiss; i++)
        probe_walk(m, gomap__random64(), NULL, &st->miss_buckets, &st->miss_compares);
    if (nmiss) {
        st->miss_buckets /= (double)nmiss;
        st->miss_compares /= (double)nmiss;
    }
}
