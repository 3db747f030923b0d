/*
 * gomap.h — Go's classic runtime map (go1.19 runtime/map.go), in C.
 *
 * A gomap is a hash map from fixed-size keys (4- and 8-byte integers, byte
 * strings of any length, or any POD key with a user hash and equality) to
 * fixed-size values.  It is NOT safe for concurrent use: like Go's map, it
 * detects the common forms of concurrent misuse and stops the program with
 * Go's message (see "Concurrent misuse" below) instead of corrupting memory
 * quietly.  Use one of the thread-safe maps (concmap.h) when several threads
 * share a map, or guard a gomap with your own lock.
 *
 * Failures come in three kinds, kept apart:
 *   - what the caller can recover from (allocation failure, bad arguments)
 *     is returned as an errno code (ENOMEM, EINVAL) and leaves the map
 *     exactly as it was;
 *   - misuse that Go treats as fatal (concurrent writes, a write to a nil
 *     map) prints "fatal error: ..." and aborts (GOMAP_DEBUG can soften the
 *     concurrency checks, never the nil-map write);
 *   - a broken internal invariant prints "gomap: internal error: ..." and
 *     aborts.  It means a bug in gomap (or memory corrupted by the program).
 *
 * Keys and values.
 *   Every function that takes a key takes `const void *key`, pointing to:
 *     GOMAP_KEY_U32     a uint32_t (or int32_t)
 *     GOMAP_KEY_U64     a uint64_t (or int64_t, or a pointer stored in one)
 *     GOMAP_KEY_STRING  a gomap_str (bytes + length); the map copies the
 *                       bytes on insert and owns the copy
 *     GOMAP_KEY_STRING_BORROWED
 *                       a gomap_str; the map keeps the caller's pointer, and
 *                       the caller guarantees the bytes stay alive and
 *                       unchanged while the key is in the map
 *     GOMAP_KEY_BYTES   key_size bytes, hashed and compared as bytes unless a
 *                       hash and equality function are given.  All of the
 *                       bytes: a struct key's padding bytes count, so two
 *                       keys with equal fields but different padding are
 *                       different keys.  Zero the whole key before setting
 *                       its fields (memset, or `= {0}` and then assignments
 *                       — a compound literal or initializer alone does not
 *                       promise zero padding), or use a struct without
 *                       padding, or give a hash and equality over the fields
 *   Values are value_size bytes (0 is allowed: a set), copied into the map by
 *   gomap_set.  The typed maps at the end of this file (GOMAP_DEFINE_TYPED,
 *   and ready instances for string -> u64, u64 -> pointer, u32 -> u32,
 *   u64 -> u64 and string -> pointer) take keys and values by value, without
 *   casts.
 *
 * Pointer validity.
 *   A pointer into the map (the value returned by gomap_get, the key and value
 *   returned by gomap_iter_next) stays valid until the next write to the map
 *   (set, delete, clear, free): a write may grow the map and move entries.
 *
 * Concurrent misuse.
 *   A write sets a "writing" flag for its duration.  A write that finds it
 *   set, a read that finds it set, and an iterator step that finds it set stop
 *   the program with, respectively,
 *       fatal error: concurrent map writes
 *       fatal error: concurrent map read and map write
 *       fatal error: concurrent map iteration and map write
 *   followed by the stack of the detecting thread and the id of the thread
 *   that held the flag (and its stack, in the debug mode), then abort().
 *   Like Go's, detection is best-effort: it catches most conflicts, not all,
 *   and it never reports one in a correctly synchronized program.
 *   The environment variable GOMAP_DEBUG (read once, at the first map or
 *   report or call of gomap_debug_mode, and again in a forked child) chooses
 *   what a conflict does:
 *       GOMAP_DEBUG=conflict=abort    print and abort (the default)
 *       GOMAP_DEBUG=conflict=report   print and continue: the conflicting
 *                                     call waits for the other to finish,
 *                                     so the map stays correct (each call
 *                                     site is printed once, then counted)
 *       GOMAP_DEBUG=conflict=count    only count (gomap_conflict_count),
 *                                     and wait likewise
 *       GOMAP_DEBUG=writerstack=1     record the writer's stack at every
 *                                     write, so reports show both stacks
 *       GOMAP_DEBUG=checkfree=1       gomap_free keeps the map's emptied
 *                                     header (the last 1024) so a later
 *                                     get, set, delete, clear, clone or
 *                                     iterator step on it aborts with
 *                                     "fatal error: ... freed map"
 *   Options combine with commas: GOMAP_DEBUG=conflict=report,writerstack=1;
 *   an unknown option is named in one warning line on stderr.  The waiting
 *   of the report and count modes applies to maps created while the mode is
 *   in force (every read and write of such a map then pays two atomic
 *   operations); a map created in abort mode keeps its fast paths.
 *   A call from inside the map's own hash or equality function cannot wait
 *   for its own thread: it is reported and goes on.
 *
 * Thread safety, for every function below unless it says otherwise: calls
 * that only read (get, len, iteration) may run concurrently with each other;
 * any write must not run concurrently with any other call on the same map.
 *
 * What the report and count modes promise: the program goes on after a
 * detected conflict; each one is counted (gomap_conflict_count) and, in
 * report mode, printed; a correctly synchronized program never sees one
 * (docs/detection.md says what a map does about the calls involved).  What
 * they cannot promise: that every conflict is seen — a missed one is a data
 * race, with what a race on a C hash table can do (a lost update, a present
 * key not found, a damaged map) — nor that the racing program is right:
 * which call goes first is chance, and a pointer from gomap_get or an
 * iterator may be invalidated by the other thread's write.  They are for
 * watching a service for the bug, not for living with it: fix a reported
 * conflict with a lock or a thread-safe map (concmap.h).
 */
#ifndef GOMAP_GOMAP_H
#define GOMAP_GOMAP_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#if defined(__SSE2__)
#include <emmintrin.h> /* the inline lookup's tophash match */
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Marks the library's exported functions (it is built with hidden visibility). */
#ifndef GOMAP_API
#define GOMAP_API __attribute__((visibility("default")))
#endif

/* An opaque map handle.  NULL is a valid "nil map": it reads as empty, and a
 * write to it is a fatal error, as in Go. */
typedef struct gomap gomap;

/* A byte string key: `len` bytes at `ptr` (not NUL-terminated; may contain
 * NUL bytes).  ptr may be NULL when len is 0. */
typedef struct gomap_str {
    const char *ptr;
    size_t len;
} gomap_str;

/* Builds a gomap_str from a NUL-terminated C string. */
GOMAP_API gomap_str gomap_cstr(const char *s);

typedef enum gomap_key_kind {
    GOMAP_KEY_U64 = 0, /* the default: a zero-initialised config is u64 keys */
    GOMAP_KEY_U32,
    GOMAP_KEY_STRING,
    GOMAP_KEY_STRING_BORROWED,
    GOMAP_KEY_BYTES,
} gomap_key_kind;

/* Hashes the key at `key` with `seed`.  Must be a pure function of the key's
 * bytes-as-compared-by-equal and the seed: equal keys must hash equal.  It
 * must not call into the map it serves (doing so is detected as concurrent
 * misuse).  For string kinds, `key` points to a gomap_str. */
typedef uint64_t (*gomap_hash_fn)(const void *key, uint64_t seed, void *ctx);

/* Reports whether two keys are equal.  Same rules as gomap_hash_fn. */
typedef bool (*gomap_equal_fn)(const void *a, const void *b, void *ctx);

/* An allocator hook.  alloc returns memory aligned for any object (as malloc
 * does) or NULL; gomap turns NULL into ENOMEM and leaves the map unchanged.
 * free receives the size that was passed to alloc. */
typedef struct gomap_allocator {
    void *(*alloc)(size_t size, void *ctx);
    void (*free)(void *ptr, size_t size, void *ctx);
    void *ctx;
} gomap_allocator;

/* How to build a map.  A zero-initialised config is a u64 -> nothing set with
 * malloc; set value_size for a map.  The config is copied: it need not
 * outlive gomap_new (the allocator and ctx pointers must). */
typedef struct gomap_config {
    gomap_key_kind key_kind;
    size_t key_size;                  /* GOMAP_KEY_BYTES only: 1 .. GOMAP_MAX_KEY_SIZE */
    size_t value_size;                /* 0 .. GOMAP_MAX_VALUE_SIZE */
    size_t hint;                      /* expected number of entries; 0 = small */
    gomap_hash_fn hash;               /* optional; replaces the built-in hash */
    gomap_equal_fn equal;             /* optional; required whenever hash is given
                                         for GOMAP_KEY_BYTES and vice versa */
    void *fn_ctx;                     /* passed to hash and equal */
    const gomap_allocator *allocator; /* NULL = malloc/free */
} gomap_config;

enum {
    GOMAP_MAX_KEY_SIZE = 128,  /* larger keys: store a pointer or hash */
    GOMAP_MAX_VALUE_SIZE = 128 /* larger values: store a pointer */
};

/* ---- life cycle ---------------------------------------------------------- */

/* Creates a map.  On success stores the handle in *out and returns 0.
 * Errors (and *out is set to NULL): EINVAL when cfg is NULL, out is NULL, a
 * size is out of range, the key kind is unknown, or only one of hash/equal is
 * given for GOMAP_KEY_BYTES; ENOMEM when allocation fails.  A hint allocates
 * room for that many entries up front (O(hint)); hint 0 allocates nothing
 * until the first insert.  Each map draws its own random hash seed. */
GOMAP_API int gomap_new(gomap **out, const gomap_config *cfg);

/* Frees the map and everything it owns (string key copies included).
 * NULL is allowed.  O(buckets).  The map must not be in use by anyone. */
GOMAP_API void gomap_free(gomap *m);

/* ---- single-key operations ----------------------------------------------- */

/* Looks up a key: returns a pointer to its value (value_size bytes; for
 * value_size 0 a non-NULL dummy pointer), or NULL when the key is absent —
 * Go's `v, ok := m[k]`.  A NULL map has no keys.  O(1) expected.
 * A read: fatal "concurrent map read and map write" if a write is running. */
GOMAP_API void *gomap_get(const gomap *m, const void *key);

/* Reports whether the key is present.  Same contract as gomap_get. */
GOMAP_API bool gomap_contains(const gomap *m, const void *key);

/* Looks up n keys at once: values[i] receives what gomap_get(m, key i)
 * would return (a pointer to the value, or NULL when absent); returns how many
 * keys were found.  `keys` points to n key arguments in a row, each what
 * gomap_get's `key` points to: uint64_t for GOMAP_KEY_U64, uint32_t for
 * GOMAP_KEY_U32, gomap_str for the string kinds, key_size bytes for
 * GOMAP_KEY_BYTES.  values may be NULL to only count.  A NULL map (or NULL
 * keys) finds nothing.  The lookups of a group of keys run interleaved (all
 * hashed and their buckets prefetched, then probed), so on a map larger than
 * the caches a batch costs much less per key than single gets.  O(n)
 * expected.  One read (checked once for a concurrent write, as gomap_get). */
GOMAP_API size_t gomap_get_many(const gomap *m, const void *keys, size_t n, void **values);

/* Inserts the key with a copy of `value` (value_size bytes; may be NULL when
 * value_size is 0, or to zero-fill), or overwrites the value of an existing
 * key.  Returns 0, or ENOMEM with the map unchanged (no partial insert, no
 * partial growth visible to readers), or EINVAL for a NULL key or a string
 * key longer than any object can be (2^56 bytes or more); such keys are
 * absent from gomap_get and gomap_delete.  O(1) amortised; a write
 * evacuates at most two old buckets of an ongoing growth, so no single call pays for the whole
 * table.  On a NULL map: fatal "assignment to entry in nil map". A write: fatal "concurrent map
 * writes" if another write is running. */
GOMAP_API int gomap_set(gomap *m, const void *key, const void *value);

/* Finds the key, or inserts it with a zero-filled value, in one lookup (one
 * hash on a miss), and returns a pointer to its value slot (value_size bytes;
 * for value_size 0 a non-NULL dummy pointer): Go's `m[k]++`, abseil's
 * try_emplace, khash's kh_put.  Sets *inserted (if not NULL) to whether the
 * key was new.  The slot stays valid until the next write to the map, as for
 * gomap_get; write the value through it:
 *     uint64_t *n = gomap_upsert(counts, &word, NULL);
 *     if (!n) return errno;    // ENOMEM: the map is unchanged
 *     ++*n;
 * On failure returns NULL, sets errno and *inserted = false: ENOMEM (the map
 * unchanged) or EINVAL (a NULL key or an absurd string length, as gomap_set).
 * O(1) amortised.  A write, with gomap_set's detection; on a NULL map: fatal
 * "assignment to entry in nil map". */
GOMAP_API void *gomap_upsert(gomap *m, const void *key, bool *inserted);

/* Removes the key; returns whether it was present.  Deleting an absent key,
 * or any key of a NULL map, is a no-op.  Never allocates, unless the map was
 * set to shrink automatically (gomap_auto_shrink).  O(1) expected. */
GOMAP_API bool gomap_delete(gomap *m, const void *key);

/* ---- whole-map operations ------------------------------------------------- */

/* Number of entries; 0 for NULL.  O(1).  A read. */
GOMAP_API size_t gomap_len(const gomap *m);

/* Removes every entry (Go 1.21's clear(m)), keeping the allocated buckets.
 * Iterators in progress see no entry afterwards.  NULL is a no-op.  O(buckets).
 */
GOMAP_API void gomap_clear(gomap *m);

/* Gives memory back after deletes (Go's map never does): moves the entries
 * into the smallest bucket array that holds them (at most 6.5 per bucket, as
 * growth allows), or repacks them at the same size when deletes left
 * overflow buckets behind; frees the old array (or keeps it until running
 * iterations end, see "Memory" under iteration).  Finishes a growth in
 * progress first.  Iterators keep Go's guarantees across a shrink: an entry
 * present for the whole iteration is returned exactly once, a deleted one is
 * not returned.  Returns 0, or ENOMEM with the contents unchanged (a growth
 * in progress may have advanced).  NULL is a no-op.  O(buckets + len), at
 * once (not incremental).  A write. */
GOMAP_API int gomap_shrink(gomap *m);

/* Opt-in automatic shrink (off by default, as in Go): with `on`, a delete
 * that leaves the map holding fewer than a quarter of the entries its array
 * may hold shrinks it to the smallest array that holds them at half the
 * maximum load (so the map can double again before it grows).  That delete
 * then costs O(buckets + len) and allocates (if the allocation fails, the
 * map just stays large); amortised over the deletes that led to it, O(1).
 * Small maps (fewer than 32 buckets) never shrink.  Clones inherit the
 * setting.  NULL is a no-op.  A write. */
GOMAP_API void gomap_auto_shrink(gomap *m, bool on);

/* Makes an independent copy with the same contents, hash functions,
 * allocator and hash seed (the copy is made bucket by bucket, without
 * hashing a key again, unless m is in the middle of growing).  Returns 0 and
 * sets *out, or ENOMEM (with *out = NULL, nothing leaked) / EINVAL (out
 * NULL).  Cloning NULL yields NULL and 0.  O(buckets + len).  A read of m. */
GOMAP_API int gomap_clone(const gomap *m, gomap **out);

/* ---- iteration ------------------------------------------------------------ */

/* An iterator.  Its fields are private; it lives wherever the caller puts it
 * (usually the stack) and needs no cleanup.
 *
 * Go's rules: iteration starts at a random bucket and offset, so two
 * iterations of the same map may see different orders; it returns each entry
 * present for the whole iteration exactly once; an entry deleted before it is
 * reached is not returned; an entry inserted during the iteration may or may
 * not be returned; it keeps working while the map grows; after gomap_clear no
 * further entry is returned.  Writes between steps are allowed (from the
 * iterating thread); a write running concurrently with a step is fatal
 * "concurrent map iteration and map write".
 *
 * Memory: while an iteration runs and the map grows, the map keeps the
 * bucket arrays the iterator may still walk (and the bytes of owned string
 * keys deleted meanwhile), and frees them at a growth after the iteration
 * ends.  An iteration ends when gomap_iter_next returns false or when
 * gomap_iter_stop is called; an iterator that is simply abandoned makes the
 * map keep such memory until gomap_clear or gomap_free (call gomap_iter_stop
 * when you leave a loop early on a map that keeps growing).  For
 * GOMAP_KEY_STRING_BORROWED the same applies to the caller's bytes: a key
 * deleted during a running iteration may still be read by it.  Do not copy a
 * running iterator and advance both copies. */
typedef struct gomap_iter {
    /* private */
    const gomap *m;
    const void *tops; /* the tophash words of the bucket array the iteration started on */
    void *bucket;     /* the current bucket's tophash word, NULL between buckets */
    void *next;       /* the current bucket's overflow pointer */
    void *slots;      /* the current bucket's slots */
    uintptr_t start_bucket;
    uintptr_t bucket_index;
    uintptr_t check_bucket;
    uint64_t clear_seq;
    uint64_t head; /* the map's head word as a step expects it */
    uint8_t B;
    uint8_t offset;
    uint8_t i;
    uint8_t cohort; /* which of the map's two counts of live iterations */
    bool wrapped;
    uint8_t key_in_slot; /* 1: a step's key is the slot itself (no owned string view) */
    gomap_str key_view;
} gomap_iter;

/* Starts an iteration over m (NULL: an empty iteration).  O(1).  it NULL:
 * does nothing.
 *
 * m is const because iterating changes none of the map's entries, length or
 * layout, so a program can iterate a map it holds as const and several
 * threads may iterate one map at once.  The map does keep a count of its
 * running iterations (so that it knows which old bucket arrays an iterator
 * may still walk, see above): gomap_iter_init, gomap_iter_next and
 * gomap_iter_stop update that count, which lives in bookkeeping the map
 * keeps apart from its contents and which these calls update atomically.
 * So a const gomap is never written except for that count, and the map
 * itself must be writable memory (as every map gomap_new returns is). */
GOMAP_API void gomap_iter_init(gomap_iter *it, const gomap *m);

/* Advances: stores pointers to the next entry's key and value in *key and
 * *value (either may be NULL when not wanted) and returns true, or returns
 * false when the iteration is over.  For string maps *key points to a
 * gomap_str valid until the next step.  The value may be modified in place.
 * Amortised O(1) per entry (O(buckets/len) for sparse maps).  it NULL:
 * returns false. */
GOMAP_API bool gomap_iter_next(gomap_iter *it, const void **key, void **value);

/* Ends an iteration before gomap_iter_next has returned false, so the map
 * can free the memory it keeps for running iterators (see above).  Optional;
 * a no-op on an ended or empty iteration.  O(1). */
GOMAP_API void gomap_iter_stop(gomap_iter *it);

/* ---- hashing -------------------------------------------------------------- */

/* The built-in hashes, exposed for users who wrap gomap or test hash quality.
 * Both are seeded; a random seed makes colliding keys unpredictable. */
GOMAP_API uint64_t gomap_hash_bytes(const void *p, size_t len, uint64_t seed);
GOMAP_API uint64_t gomap_hash_u64(uint64_t key, uint64_t seed);

/* ---- concurrent-misuse detection ----------------------------------------- */

typedef enum gomap_conflict_mode {
    GOMAP_CONFLICT_ABORT = 0, /* print the report and abort (Go's behaviour) */
    GOMAP_CONFLICT_REPORT,    /* print the report and continue */
    GOMAP_CONFLICT_COUNT,     /* count silently */
} gomap_conflict_mode;

/* What a detected conflict was: which of Go's three fatal errors it is. */
typedef enum gomap_conflict_type {
    GOMAP_CONFLICT_WRITES = 0, /* "concurrent map writes" */
    GOMAP_CONFLICT_READ_WRITE, /* "concurrent map read and map write" */
    GOMAP_CONFLICT_ITER_WRITE, /* "concurrent map iteration and map write" */
    GOMAP_CONFLICT_TYPES
} gomap_conflict_type;

/* Deprecated names of the above ("kind" is the key kind of gomap_config; a
 * conflict's type is a different thing).  The same type and count. */
typedef gomap_conflict_type gomap_conflict_kind
    __attribute__((deprecated("use gomap_conflict_type")));
#define GOMAP_CONFLICT_KINDS GOMAP_CONFLICT_TYPES

/* The mode in force (from GOMAP_DEBUG, or the last gomap_debug_set_mode). */
GOMAP_API gomap_conflict_mode gomap_debug_mode(void);

/* Overrides GOMAP_DEBUG's conflict mode for the whole process.  Thread-safe. */
GOMAP_API void gomap_debug_set_mode(gomap_conflict_mode mode);

/* Conflicts detected so far in this process, of one type; 0 for a value
 * outside the enum.  Thread-safe. */
GOMAP_API uint64_t gomap_conflict_count(gomap_conflict_type type);

/* ---- typed maps ------------------------------------------------------------ */

/* A null pointer constant that C++'s -Wzero-as-null-pointer-constant accepts. */
#ifdef __cplusplus
#define GOMAP_NULL nullptr
#else
#define GOMAP_NULL ((void *)0)
#endif

/* Marks the functions a typed-map macro generates: a program uses some of
 * them, and the rest must not warn (-Wunused-function) where the macro is
 * expanded in a .c file. */
#if defined(__GNUC__) || defined(__clang__)
#define GOMAP_MAYBE_UNUSED __attribute__((unused))
#else
#define GOMAP_MAYBE_UNUSED
#endif

/* The key size gomap_config wants for a key kind and key type: the type's
 * size for GOMAP_KEY_BYTES, 0 (unused) otherwise. */
#define GOMAP__TYPED_KEY_SIZE(key_kind, key_type)                                                  \
    ((key_kind) == GOMAP_KEY_BYTES ? sizeof(key_type) : (size_t)0)

/* The config of a typed map (GOMAP_DEFINE_TYPED, CONCMAP_DEFINE_TYPED). */
static inline gomap_config gomap__typed_config(gomap_key_kind kind, size_t key_size,
                                               size_t value_size, size_t hint) {
    gomap_config cfg = {kind,       key_size,   value_size, hint,
                        GOMAP_NULL, GOMAP_NULL, GOMAP_NULL, GOMAP_NULL};
    return cfg;
}

/* A typed constructor's result: the map, or NULL with errno = err. */
static inline void *gomap__typed_result(int err, void *m) {
    if (err) {
        errno = err;
        return GOMAP_NULL;
    }
    return m;
}

/* Whether key_type is the type key_kind's functions take (checked by
 * name##_new, which fails with EINVAL otherwise). */
#define GOMAP__TYPED_KEY_OK(key_kind, key_type)                                                    \
    ((key_kind) == GOMAP_KEY_U64     ? sizeof(key_type) == 8                                       \
     : (key_kind) == GOMAP_KEY_U32   ? sizeof(key_type) == 4                                       \
     : (key_kind) == GOMAP_KEY_BYTES ? sizeof(key_type) <= GOMAP_MAX_KEY_SIZE                      \
                                     : sizeof(key_type) == sizeof(gomap_str))

/*
 * GOMAP_DEFINE_TYPED(name, key_type, value_type, key_kind) defines a map type
 * `name` from key_type to value_type and these functions, each a thin inline
 * wrapper of the gomap_* function of the same name (same contract, errors,
 * thread-safety and complexity; keys and values by value, no casts):
 *
 *   name *name_new(size_t hint)          NULL on failure, errno ENOMEM or
 *                                        EINVAL (key_type does not fit key_kind)
 *   void  name_free(name *m)
 *   gomap *name_map(name *m)             the underlying gomap
 *   int   name_set(name *m, K key, V value)          0 or ENOMEM/EINVAL
 *   bool  name_get(const name *m, K key, V *value)   value may be NULL
 *   V    *name_upsert(name *m, K key, bool *inserted) see gomap_upsert
 *   bool  name_delete(name *m, K key)
 *   size_t name_len(const name *m)
 *   name_iter; void name_iter_init(name_iter *it, const name *m);
 *   bool  name_iter_next(name_iter *it, K *key, V **value)  either may be NULL
 *   void  name_iter_stop(name_iter *it)
 *
 * key_kind is one of GOMAP_KEY_U64 (an 8-byte key_type), GOMAP_KEY_U32 (4
 * bytes), GOMAP_KEY_STRING or GOMAP_KEY_STRING_BORROWED (key_type gomap_str),
 * or GOMAP_KEY_BYTES (any other fixed-size key_type; see "Keys and values"
 * above: its padding bytes are compared).  The functions take keys by value
 * and C keeps no padding bytes across a copy, so a GOMAP_KEY_BYTES key_type
 * must have no padding: name each gap as a field and set it to 0.  Use it
 * at file scope:
 *
 *     typedef struct point { int32_t x, y; } point;
 *     GOMAP_DEFINE_TYPED(point_names, point, const char *, GOMAP_KEY_BYTES)
 *
 * It also defines name_key and name_value, typedefs of the two types.
 * Ready instances: gomap_stru64 (string -> uint64_t), gomap_u64ptr (uint64_t
 * -> void *) and gomap_u32u32 (uint32_t -> uint32_t), below.
 */
#define GOMAP_DEFINE_TYPED(name, key_type, value_type, key_kind)                                   \
    typedef struct name name;                                                                      \
    typedef key_type name##_key;                                                                   \
    typedef value_type name##_value;                                                               \
    typedef struct name##_iter {                                                                   \
        gomap_iter it;                                                                             \
    } name##_iter;                                                                                 \
    GOMAP_MAYBE_UNUSED static inline name *name##_new(size_t hint) {                               \
        gomap_config cfg = gomap__typed_config(                                                    \
            key_kind, GOMAP__TYPED_KEY_SIZE(key_kind, name##_key), sizeof(name##_value), hint);    \
        gomap *m = GOMAP_NULL;                                                                     \
        int err = GOMAP__TYPED_KEY_OK(key_kind, name##_key) ? gomap_new(&m, &cfg) : EINVAL;        \
        return (name *)gomap__typed_result(err, m);                                                \
    }                                                                                              \
    GOMAP_MAYBE_UNUSED static inline void name##_free(name *m) {                                   \
        gomap_free((gomap *)m);                                                                    \
    }                                                                                              \
    GOMAP_MAYBE_UNUSED static inline gomap *name##_map(name *m) {                                  \
        return (gomap *)m;                                                                         \
    }                                                                                              \
    GOMAP_MAYBE_UNUSED static inline int name##_set(name *m, name##_key key, name##_value value) { \
        return gomap_set((gomap *)m, &key, &value);                                                \
    }                                                                                              \
    GOMAP_MAYBE_UNUSED static inline bool name##_get(const name *m, name##_key key,                \
                                                     name##_value *value) {                        \
        const name##_value *p = (const name##_value *)gomap_get((const gomap *)m, &key);           \
        if (p && value)                                                                            \
            *value = *p;                                                                           \
        return p != GOMAP_NULL;                                                                    \
    }                                                                                              \
    GOMAP_MAYBE_UNUSED static inline name##_value *name##_upsert(name *m, name##_key key,          \
                                                                 bool *inserted) {                 \
        return (name##_value *)gomap_upsert((gomap *)m, &key, inserted);                           \
    }                                                                                              \
    GOMAP_MAYBE_UNUSED static inline bool name##_delete(name *m, name##_key key) {                 \
        return gomap_delete((gomap *)m, &key);                                                     \
    }                                                                                              \
    GOMAP_MAYBE_UNUSED static inline size_t name##_len(const name *m) {                            \
        return gomap_len((const gomap *)m);                                                        \
    }                                                                                              \
    GOMAP_MAYBE_UNUSED static inline void name##_iter_init(name##_iter *it, const name *m) {       \
        gomap_iter_init(&it->it, (const gomap *)m);                                                \
    }                                                                                              \
    GOMAP_MAYBE_UNUSED static inline bool name##_iter_next(name##_iter *it, name##_key *key,       \
                                                           name##_value **value) {                 \
        const void *k;                                                                             \
        void *v;                                                                                   \
        if (!gomap_iter_next(&it->it, &k, &v))                                                     \
            return false;                                                                          \
        if (key)                                                                                   \
            *key = *(const name##_key *)k;                                                         \
        if (value)                                                                                 \
            *value = (name##_value *)v;                                                            \
        return true;                                                                               \
    }                                                                                              \
    GOMAP_MAYBE_UNUSED static inline void name##_iter_stop(name##_iter *it) {                      \
        gomap_iter_stop(&it->it);                                                                  \
    }                                                                                              \
    typedef int name##_defined_ /* so that a use ends with a semicolon */

/* ---- private: the typed helpers' inline lookup ----------------------------
 *
 * Not part of the API (it may change in any release): the first fields of
 * every map, in the order the library lays them out (it checks each offset at
 * compile time), so that gomap_u64u64_get can look a key up inline in the
 * caller's loop, as a C++ template's find is, instead of calling into the
 * library.  It runs the library's algorithm on the library's layout (see
 * docs/design.md): the key's hash picks a bucket, its top byte is matched
 * against the bucket's 8 tophash bytes at once, matching slots' keys are
 * compared, the chain is followed until a bucket ends it, and the writing
 * flag is checked before the lookup.  A map whose shape the inline code does
 * not handle (`slow`: another key kind or value size, or a growth in
 * progress) or that is being traced (the op probe's semaphore, raised while a
 * tracer is attached, so that the probe still counts every get) takes the
 * library's path (gomap__get_u64) instead. */
struct gomap__view {
    /* The head word: 3 bytes of the map's count of clears, then a byte
     * that is nonzero when the inline lookup does not handle the map's shape
     * (`slow` above), then the writing word (4 bytes).  Its last 5 bytes all
     * zero (on a little-endian machine: the word below 2^24): the inline
     * lookup may run.  Read with one relaxed atomic load. */
    uint64_t head;
    uint8_t B_, kind_, same_size_, wslow_;
    uint16_t voff; /* offset of the value in a slot */
    uint16_t pad_;
    uint32_t slot_size;
    uint32_t vsize_;
    size_t count_;
    uintptr_t mask;
    const uint64_t *tops;     /* bucket i's 8 tophash bytes */
    const char *const *nexts; /* bucket i's overflow bucket: its tophash word,
                                 its overflow pointer, then its slots */
    const char *slots;        /* bucket i's 8 slots of 16 bytes: key, value */
    const uint64_t *oldtops_; /* non-NULL while the map grows (slow is then set) */
    const void *oldnexts_, *oldslots_;
    uint64_t s0, s1;                          /* the integer hash's secrets */
    const volatile unsigned short *op_traced; /* non-zero while the op probe is traced */
    uint64_t clear_seq;                       /* bumped by gomap_clear */
};

/* Slots of a bucket whose tophash byte equals t (want = t in every byte),
 * one bit per slot (bit i: slot i): an SSE2 byte compare where there is one
 * (every x86-64), else the zero-byte test on top ^ want, whose bit 8i+7
 * stands for slot i and whose false positives (a byte equal to t ^ 1) are
 * live tophashes whose key comparison fails. */
#if defined(__SSE2__)
__attribute__((always_inline)) static inline unsigned gomap__match8(uint64_t top, uint64_t want) {
    __m128i t = _mm_cvtsi64_si128((long long)top);
#if defined(__GNUC__)
    /* The compare written into the tophash register: GCC otherwise writes
     * it into want's and copies want first, for the chain's compares. */
    __asm__("pcmpeqb %1, %0" : "+x"(t) : "x"(_mm_cvtsi64_si128((long long)want)));
#else
    t = _mm_cmpeq_epi8(t, _mm_cvtsi64_si128((long long)want));
#endif
    return (unsigned)_mm_movemask_epi8(t) & 0xffu;
}
#define GOMAP__MATCH_SHIFT 0 /* bit i: slot i */
typedef unsigned gomap__match_t;
#define GOMAP__CTZ(x) __builtin_ctz(x)
#else
__attribute__((always_inline)) static inline uint64_t gomap__match8(uint64_t top, uint64_t want) {
    uint64_t y = top ^ want;
    return (y - 0x0101010101010101ull) & ~y & 0x8080808080808080ull;
}
#define GOMAP__MATCH_SHIFT 3 /* bit 8i + 7: slot i */
typedef uint64_t gomap__match_t;
#define GOMAP__CTZ(x)      __builtin_ctzll(x)
#endif

/* The library's lookup of a u64 key, for the inline code's other cases (a
 * map that is NULL, being written, traced or of another shape): gomap_get
 * with the key passed by value, so the caller's loop keeps it in a
 * register. */
GOMAP_API void *gomap__get_u64(const gomap *m, uint64_t k);

/* Whether the head word's writing word or shape byte is set: on a
 * little-endian machine one compare with a constant (the writes make it with
 * the word in memory); HIGH5, the two as a value that is 0 when neither is,
 * to or other tests into (a shift, which sets the flags the test needs). */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define GOMAP__HEAD_BUSY(h)  (((h) << 24) != 0)
#define GOMAP__HEAD_HIGH5(h) ((h) << 24)
#else
#define GOMAP__HEAD_BUSY(h)  ((h) > 0xffffffu)
#define GOMAP__HEAD_HIGH5(h) ((h) >> 24)
#endif

/* The slot of a u64 -> u64 map's value (the key, the value at slot[1]) as
 * the library's lookup returns it (NULL: none), for the inline lookup's
 * result, which is the slot: the caller's load of the value then folds the
 * value's offset into its address. */
static inline const uint64_t *gomap__slot_u64(const void *value) {
    return value ? (const uint64_t *)value - 1 : GOMAP_NULL;
}

/* Returns k's slot (its key; the value is at [1]), or NULL. */
__attribute__((always_inline)) static inline const uint64_t *gomap__u64u64_find(const gomap *m,
                                                                                uint64_t k) {
    const struct gomap__view *v = (const struct gomap__view *)(const void *)m;
    if (v == GOMAP_NULL)
        return GOMAP_NULL;
        /* The head word before any other field is read: its writing word and
         * shape byte are nonzero when a write is running, the map serializes
         * conflicting calls (GOMAP_DEBUG=conflict=report|count) or was freed
         * (checkfree) — as gomap_get checks the writing word first, the
         * library's path reports, waits or stops, and a serializing map's
         * reader then never reads a field a writer is changing — or when the
         * inline code does not handle the map's shape.  One relaxed load
         * tests both: the word publishes nothing in the default mode.  The op
         * probe's semaphore joins the same branch (or-ed in): its address is
         * a field set at creation that no writer changes, so reading it first
         * is harmless.  Without detection only the shape byte is tested. */
#ifndef GOMAP_NO_DETECT
    if (__builtin_expect(
            (GOMAP__HEAD_HIGH5(__atomic_load_n(&v->head, __ATOMIC_RELAXED)) | *v->op_traced) != 0,
            0))
        return gomap__slot_u64(gomap__get_u64(m, k));
#else
    if (__builtin_expect(((const uint8_t *)&v->head)[3] != 0 || *v->op_traced != 0, 0))
        return gomap__slot_u64(gomap__get_u64(m, k));
#endif
#if defined(__x86_64__) && defined(__GNUC__)
    /* The library's integer hash (src/hash.h, which says why x86-64 takes
     * the multiplies' halves from mulq; the #else is its portable form). */
    uint64_t lo, hi;
    __asm__("mulq %3" : "=a"(lo), "=d"(hi) : "%0"(k ^ v->s0), "rm"(v->s1) : "cc");
    __asm__("mulq %3" : "=a"(lo), "=d"(hi) : "%0"(lo ^ hi), "rm"(0x9e3779b97f4a7c15ull) : "cc");
    uint64_t h = lo ^ hi;
#else
    __uint128_t r = (__uint128_t)(k ^ v->s0) * v->s1;
    r = (__uint128_t)((uint64_t)r ^ (uint64_t)(r >> 64)) * 0x9e3779b97f4a7c15ull;
    uint64_t h = (uint64_t)r ^ (uint64_t)(r >> 64);
#endif
    uint64_t t = h >> 56;
    if (__builtin_expect(t < 5, 0)) /* tophash values below 5 are reserved marks */
        t += 5;
    uintptr_t i = (uintptr_t)h & v->mask;
    uint64_t top = v->tops[i];
    const uint64_t want = 0x0101010101010101ull * t;
    gomap__match_t mt = gomap__match8(top, want);
    /* The commonest miss: no byte matches and the bucket's last byte is
     * emptyRest, so the chain ends here; nothing else is computed. */
    if (mt == 0) {
        if ((top >> 56) == 0)
            return GOMAP_NULL;
    } else {
        /* The bucket's slots.  The empty asm keeps its address one value,
         * added to once per match, where GCC would add both of its terms
         * at each match. */
        const char *s = v->slots + i * 128;
        __asm__("" : "+r"(s));
        do {
            const char *slot = s + (unsigned)(GOMAP__CTZ(mt) >> GOMAP__MATCH_SHIFT) * 16;
            uint64_t sk;
            __builtin_memcpy(&sk, slot, sizeof sk);
            if (__builtin_expect(sk == k, 1))
                return (const uint64_t *)(const void *)slot;
        } while ((mt &= mt - 1) != 0);
        if ((top >> 56) == 0) /* emptyRest: the chain ends here */
            return GOMAP_NULL;
    }
    /* A full home bucket: its overflow chain, each bucket a tophash word,
     * the next bucket's address, then the slots.  Its address is computed
     * only here, so a hit in the home bucket (the commonest) keeps no
     * register for it. */
    for (const char *o = v->nexts[i]; o != GOMAP_NULL;
         o = *(const char *const *)(const void *)(o + 8)) {
        __builtin_memcpy(&top, o, sizeof top);
        for (mt = gomap__match8(top, want); mt; mt &= mt - 1) {
            const char *slot = o + 16 + (unsigned)(GOMAP__CTZ(mt) >> GOMAP__MATCH_SHIFT) * 16;
            uint64_t sk;
            __builtin_memcpy(&sk, slot, sizeof sk);
            if (sk == k)
                return (const uint64_t *)(const void *)slot;
        }
        if ((top >> 56) == 0)
            return GOMAP_NULL;
    }
    return GOMAP_NULL;
}

/* Live slots of a bucket (tophash byte 5 or more), bit k for byte k: in a
 * byte below 128, adding 123 sets the top bit exactly when it is 5 or more
 * (no carry leaves the byte), a byte from 128 has it already; the top bits
 * are then gathered into one byte by a multiply. */
__attribute__((always_inline)) static inline unsigned gomap__live8(uint64_t top) {
    const uint64_t hi = 0x8080808080808080ull;
    uint64_t h = ((((top & ~hi) + 0x7b7b7b7b7b7b7b7bull) | top) & hi) >> 7;
    return (unsigned)((h * 0x0102040810204080ull) >> 56);
}

/* The key of a GOMAP_KEY_STRING map's slot (src/map.c's `skey` has the
 * layout): its byte 15 is the tag, GOMAP__SSO_HEAP for a string on the
 * heap (bytes 0..7 its pointer, bytes 8..15 its length with the tag in the
 * top byte), else the string is the slot's own bytes, of length the tag
 * below 16 and 16 otherwise. */
#define GOMAP__SSO_HEAP     0xff
#define GOMAP__SSO_LEN_MASK ((((uint64_t)1) << 56) - 1)
__attribute__((always_inline)) static inline gomap_str gomap__owned_key_view(const char *slot) {
    gomap_str s;
    unsigned char tag = (unsigned char)slot[15];
    if (__builtin_expect(tag != GOMAP__SSO_HEAP, 1)) {
        s.ptr = slot;
        s.len = tag < 16 ? tag : 16;
    } else {
        uint64_t len_tag;
        __builtin_memcpy(&s.ptr, slot, sizeof s.ptr);
        __builtin_memcpy(&len_tag, slot + 8, sizeof len_tag);
        s.len = (size_t)(len_tag & GOMAP__SSO_LEN_MASK);
    }
    return s;
}

/* Hands out the live entry in `slot` from an iterator step, the inline one
 * and the library's alike: the key is the slot itself, or, for an owned
 * string key, a view kept in the iterator. */
__attribute__((always_inline)) static inline bool
gomap__iter_entry(gomap_iter *it, char *slot, size_t voff, const void **key, void **value) {
    if (key) {
        if (__builtin_expect(it->key_in_slot, 1)) {
            *key = slot;
        } else {
            it->key_view = gomap__owned_key_view(slot);
            *key = &it->key_view;
        }
    }
    if (value)
        *value = slot + voff;
    return true;
}

/* The inline iteration step: gomap_iter_next is this macro, so a caller's
 * loop runs the common steps without a call, as a C++ iterator's increment
 * does: the next live slot of the bucket the iterator is on, and the move
 * to the next bucket of the array while the map is not growing and the
 * array is the one the iteration started on.  Everything else (the first
 * step, an overflow chain, the end, a growth or clear since the iteration
 * started, a slot emptied or evacuated since the
 * iterator reached its bucket, a write running, the op probe traced) is
 * the library's gomap_iter_next, which `(gomap_iter_next)(...)` calls.
 * The step keeps the iterator's private fields as the library does:
 *   i        the bucket's slots still to visit that held an entry when the
 *            iterator reached the bucket, bit k for slot (k + offset) mod 8;
 *   bucket   the bucket's tophash word (before the first step, a word
 *            that ends the chain); next, its overflow pointer; slots, its
 *            slots;
 *   tops     the tophash words of the array the iteration started on;
 *   bucket_index, start_bucket, wrapped: the next bucket of that array,
 *            where the walk began, whether it has passed the array's end;
 *   check_bucket  all ones unless the bucket is an old one whose entries
 *            are filtered by hash (the library's case).
 * Like the library it checks the writing word at each step (Go's
 * mapiternext check), and a slot's tophash byte again when its turn comes,
 * so that an entry deleted or evacuated meanwhile goes to the library. */
/* The inline step's checks of the map (see gomap__iter_next).  With
 * detection, one compare of the head word each step, and at each move to
 * the next bucket the whole count of clears, of which the head word holds
 * only the low 24 bits: after exactly 2^24 clears between two steps the
 * iteration still ends there, at the end of its bucket. */
#ifndef GOMAP_NO_DETECT
/* The head word's load is a volatile one, not a relaxed atomic, outside
 * ThreadSanitizer: GCC does not copy an atomic load when it rotates a loop,
 * so a caller's `while (gomap_iter_next(...))` loop kept an extra jump per
 * entry that the build without detection does not have.  On the targets
 * the inline step runs on, an aligned 8-byte volatile load is the same one
 * move as the relaxed load, and like it is neither merged with another load
 * nor moved out of the loop.  Under ThreadSanitizer, which must see the
 * access as atomic (the library writes the word while racing steps read
 * it, on purpose, in its tests), it stays an atomic load. */
#if defined(__SANITIZE_THREAD__)
#define GOMAP__ITER_HEAD_LOAD(v) __atomic_load_n(&(v)->head, __ATOMIC_RELAXED)
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GOMAP__ITER_HEAD_LOAD(v) __atomic_load_n(&(v)->head, __ATOMIC_RELAXED)
#endif
#endif
#ifndef GOMAP__ITER_HEAD_LOAD
#define GOMAP__ITER_HEAD_LOAD(v) (*(const volatile uint64_t *)&(v)->head)
#endif
/* The library poisons the expected head word while the iterator reads an
 * old bucket (check_bucket set), so the one compare covers that too. */
#define GOMAP__ITER_HEAD_CHANGED(it, v)    (GOMAP__ITER_HEAD_LOAD(v) != (it)->head)
#define GOMAP__ITER_CLEARED_WRAPPED(it, v) ((it)->clear_seq != (v)->clear_seq)
#define GOMAP__ITER_OLD_BUCKET(it)         0
#else
#define GOMAP__ITER_HEAD_CHANGED(it, v)    ((it)->clear_seq != (v)->clear_seq)
#define GOMAP__ITER_CLEARED_WRAPPED(it, v) 0
#define GOMAP__ITER_OLD_BUCKET(it)         ((it)->check_bucket != ~(uintptr_t)0)
#endif

__attribute__((always_inline)) static inline bool gomap__iter_next(gomap_iter *it, const void **key,
                                                                   void **value) {
    const struct gomap__view *v;
    unsigned todo;
    if (it == GOMAP_NULL || it->m == GOMAP_NULL)
        return false;
    v = (const struct gomap__view *)(const void *)it->m;
    /* Go's mapiternext check of the writing word and the clear check in one
     * relaxed load and compare: the head word against the value the
     * iterator expects (writing word 0, the map's shape byte and the low 24
     * bits of its count of clears as the last step saw them).  Any change
     * (a write running, a serializing or freed map, a clear, a growth begun
     * or ended) goes to the library, which sorts it out.  Without detection
     * only the clear check, on the whole count. */
    if (__builtin_expect(
            GOMAP__ITER_HEAD_CHANGED(it, v) || *v->op_traced != 0 || GOMAP__ITER_OLD_BUCKET(it), 0))
        return (gomap_iter_next)(it, key, value);
    todo = it->i;
    while (__builtin_expect(todo == 0, 0)) {
        /* The next bucket of the array, when the current one ends its
         * chain (its last byte is 0, emptyRest, or it has no overflow). */
        uint64_t top;
        uintptr_t bi = it->bucket_index;
        unsigned rot = (unsigned)it->offset * 8;
        __builtin_memcpy(&top, it->bucket, sizeof top);
        if ((top >> 56) != 0 && *(void *const *)it->next != GOMAP_NULL)
            return (gomap_iter_next)(it, key, value);
        if (it->tops != (const void *)v->tops || v->oldtops_ != GOMAP_NULL ||
            GOMAP__ITER_CLEARED_WRAPPED(it, v) || (bi == it->start_bucket && it->wrapped))
            return (gomap_iter_next)(it, key, value);
        top = v->tops[bi];
        it->bucket = (void *)(uintptr_t)&v->tops[bi];
        it->next = (void *)(uintptr_t)&v->nexts[bi];
        it->slots = (void *)(uintptr_t)(v->slots + bi * 8 * v->slot_size);
        {
            /* The slots 16 buckets ahead, three cache lines: a whole bucket
             * of 16- or 24-byte slots (docs/design.md, "Iteration steps"). */
            const char *ahead = v->slots + (bi + 16) * 8 * v->slot_size;
            __builtin_prefetch(ahead);
            __builtin_prefetch(ahead + 64);
            __builtin_prefetch(ahead + 128);
        }
        if (bi == v->mask) {
            it->bucket_index = 0;
            it->wrapped = 1;
        } else {
            it->bucket_index = bi + 1;
        }
        if (rot)
            top = (top >> rot) | (top << (64 - rot));
        todo = gomap__live8(top);
    }
    {
        unsigned off = ((unsigned)__builtin_ctz(todo) + it->offset) & 7u;
        uint64_t top;
        char *slot;
        __builtin_memcpy(&top, it->bucket, sizeof top);
        if (__builtin_expect((uint8_t)(top >> (off * 8)) < 5, 0)) {
            it->i = (uint8_t)todo;
            return (gomap_iter_next)(it, key, value);
        }
        slot = (char *)it->slots + off * v->slot_size;
        it->i = (uint8_t)(todo & (todo - 1));
        return gomap__iter_entry(it, slot, v->voff, key, value);
    }
}
#define gomap_iter_next(it, key, value) gomap__iter_next((it), (key), (value))

GOMAP_DEFINE_TYPED(gomap_stru64, gomap_str, uint64_t, GOMAP_KEY_STRING);
GOMAP_DEFINE_TYPED(gomap_u64ptr, uint64_t, void *, GOMAP_KEY_U64);
GOMAP_DEFINE_TYPED(gomap_u32u32, uint32_t, uint32_t, GOMAP_KEY_U32);

/* ---- typed helpers: u64 -> u64 ------------------------------------------- */

/* A gomap whose keys and values are uint64_t.  The handle is a gomap; the
 * distinct type only stops it being mixed with other maps by mistake. */
typedef struct gomap_u64u64 gomap_u64u64;

static inline gomap_u64u64 *gomap_u64u64_new(size_t hint) {
    gomap_config cfg = {GOMAP_KEY_U64, 0,          sizeof(uint64_t), hint,
                        GOMAP_NULL,    GOMAP_NULL, GOMAP_NULL,       GOMAP_NULL};
    gomap *m;
    return gomap_new(&m, &cfg) == 0 ? (gomap_u64u64 *)m : GOMAP_NULL; /* NULL: ENOMEM */
}
static inline gomap *gomap_u64u64_map(gomap_u64u64 *m) {
    return (gomap *)m;
}
static inline void gomap_u64u64_free(gomap_u64u64 *m) {
    gomap_free((gomap *)m);
}
static inline int gomap_u64u64_set(gomap_u64u64 *m, uint64_t k, uint64_t v) {
    return gomap_set((gomap *)m, &k, &v);
}
/* Returns whether k is present and, if so and v is not NULL, stores its value.
 * Runs inline in the caller (see gomap__u64u64_find). */
__attribute__((always_inline)) static inline bool gomap_u64u64_get(const gomap_u64u64 *m,
                                                                   uint64_t k, uint64_t *v) {
    const uint64_t *p = gomap__u64u64_find((const gomap *)m, k);
    if (p && v)
        *v = p[1];
    return p != GOMAP_NULL;
}
static inline bool gomap_u64u64_delete(gomap_u64u64 *m, uint64_t k) {
    return gomap_delete((gomap *)m, &k);
}
static inline size_t gomap_u64u64_len(const gomap_u64u64 *m) {
    return gomap_len((const gomap *)m);
}

/* ---- typed helpers: string -> pointer ------------------------------------ */

/* A gomap from owned string keys to void * values. */
typedef struct gomap_strptr gomap_strptr;

static inline gomap_strptr *gomap_strptr_new(size_t hint) {
    gomap_config cfg = {GOMAP_KEY_STRING, 0,          sizeof(void *), hint,
                        GOMAP_NULL,       GOMAP_NULL, GOMAP_NULL,     GOMAP_NULL};
    gomap *m;
    return gomap_new(&m, &cfg) == 0 ? (gomap_strptr *)m : GOMAP_NULL; /* NULL: ENOMEM */
}
static inline gomap *gomap_strptr_map(gomap_strptr *m) {
    return (gomap *)m;
}
static inline void gomap_strptr_free(gomap_strptr *m) {
    gomap_free((gomap *)m);
}
static inline int gomap_strptr_set(gomap_strptr *m, const char *s, size_t len, void *v) {
    gomap_str k = {s, len};
    return gomap_set((gomap *)m, &k, &v);
}
/* Returns whether the key is present and, if so and v is not NULL, stores its
 * value (which may itself be NULL). */
static inline bool gomap_strptr_get(const gomap_strptr *m, const char *s, size_t len, void **v) {
    gomap_str k = {s, len};
    void *const *p = (void *const *)gomap_get((const gomap *)m, &k);
    if (p && v)
        *v = *p;
    return p != GOMAP_NULL;
}
static inline bool gomap_strptr_delete(gomap_strptr *m, const char *s, size_t len) {
    gomap_str k = {s, len};
    return gomap_delete((gomap *)m, &k);
}
static inline size_t gomap_strptr_len(const gomap_strptr *m) {
    return gomap_len((const gomap *)m);
}

#ifdef __cplusplus
}
#endif
#endif /* GOMAP_GOMAP_H */
