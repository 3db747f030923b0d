/*
 * snapshot.c — a range over a lock-guarded core map, visited from a copy taken
 * under the lock (rwmap.c, shardmap.c).  See snapshot.h.
 */
#include "snapshot.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "detect.h"
#include "family.h"
#include "map_internal.h"

enum { REC_ALIGN = 16 };

static size_t pad16(size_t n) {
    return (n + REC_ALIGN - 1) & ~(size_t)(REC_ALIGN - 1);
}

static bool is_string_kind(gomap_key_kind k) {
    return k == GOMAP_KEY_STRING || k == GOMAP_KEY_STRING_BORROWED;
}

void gomap__snapshot_init(struct gomap__snapshot *s, const gomap_config *cfg) {
    memset(s, 0, sizeof *s);
    s->alloc = cfg->allocator;
    s->key_kind = cfg->key_kind;
    s->value_size = cfg->value_size;
    switch (cfg->key_kind) {
    case GOMAP_KEY_U32:
        s->key_size = 4;
        break;
    case GOMAP_KEY_BYTES:
        s->key_size = cfg->key_size;
        break;
    default: /* u64; strings use their own length */
        s->key_size = 8;
        break;
    }
}

void gomap__snapshot_destroy(struct gomap__snapshot *s) {
    gomap__family_free(s->alloc, s->buf, s->cap);
    s->buf = NULL;
    s->cap = 0;
    gomap__snapshot_reset(s);
}

/* The bytes a key takes in a record (before its padding). */
static size_t key_bytes(const struct gomap__snapshot *s, const void *key) {
    if (is_string_kind(s->key_kind))
        return sizeof(size_t) + ((const gomap_str *)key)->len;
    return s->key_size;
}

static size_t rec_size(const struct gomap__snapshot *s, const void *key) {
    return pad16(key_bytes(s, key)) + pad16(s->value_size);
}

/* The largest record of a fixed-size key kind (strings are unbounded). */
static size_t max_fixed_rec(const struct gomap__snapshot *s) {
    return pad16(GOMAP_MAX_KEY_SIZE) + pad16(s->value_size);
}

/* Writes one record at buf[used]; the caller made room. */
static void put_rec(struct gomap__snapshot *s, const void *key, const void *value) {
    unsigned char *p = s->buf + s->used;
    size_t kb = key_bytes(s, key);
    if (is_string_kind(s->key_kind)) {
        const gomap_str *k = key;
        memcpy(p, &k->len, sizeof k->len);
        if (k->len)
            memcpy(p + sizeof k->len, k->ptr, k->len);
    } else {
        memcpy(p, key, kb);
    }
    if (s->value_size)
        memcpy(p + pad16(kb), value, s->value_size);
    s->used += pad16(kb) + pad16(s->value_size);
    GOMAP_ASSERT(s->used <= s->cap);
    s->count++;
}

/* Makes room for `need` more bytes in a growable snapshot. */
static bool reserve(struct gomap__snapshot *s, size_t need) {
    if (s->cap - s->used >= need)
        return true;
    size_t cap = s->cap ? s->cap : 1024;
    while (cap - s->used < need) {
        if (cap > SIZE_MAX / 2)
            return false;
        cap *= 2;
    }
    unsigned char *nb = gomap__family_alloc(s->alloc, cap);
    if (!nb)
        return false;
    if (s->used)
        memcpy(nb, s->buf, s->used);
    gomap__family_free(s->alloc, s->buf, s->cap);
    s->buf = nb;
    s->cap = cap;
    return true;
}

/* Copies entries from *it into a growable snapshot until the iteration ends
 * (true) or an allocation fails (false; the failed entry is lost from the
 * iterator and returned in *pending_key / *pending_value, valid while the lock
 * is held). */
static bool fill_growing(struct gomap__snapshot *s, gomap_iter *it, const void **pending_key,
                         const void **pending_value) {
    const void *k;
    void *v;
    while (gomap_iter_next(it, &k, &v)) {
        if (!reserve(s, rec_size(s, k))) {
            *pending_key = k;
            *pending_value = v;
            return false;
        }
        put_rec(s, k, v);
    }
    return true;
}

/* Reserves the expected size up front so a large map grows the buffer once. */
static void reserve_for(struct gomap__snapshot *s, const gomap *m) {
    size_t n = gomap_len(m);
    size_t per = is_string_kind(s->key_kind) ? pad16(sizeof(size_t) + 24) + pad16(s->value_size)
                                             : pad16(s->key_size) + pad16(s->value_size);
    if (n && per <= SIZE_MAX / n)
        (void)reserve(s, n * per); /* failure shows up again in fill_growing */
}

/* Calls fn on each record; returns false if fn stopped the visit. */
static bool visit(const struct gomap__snapshot *s, concmap_range_fn fn, void *ctx) {
    const unsigned char *p = s->buf;
    for (size_t i = 0; i < s->count; i++) {
        size_t kb;
        const void *key = p;
        gomap_str str;
        if (is_string_kind(s->key_kind)) {
            memcpy(&str.len, p, sizeof str.len);
            str.ptr = (const char *)p + sizeof str.len;
            key = &str;
            kb = sizeof str.len + str.len;
        } else {
            kb = s->key_size;
        }
        if (!fn(key, p + pad16(kb), ctx))
            return false;
        p += pad16(kb) + pad16(s->value_size);
    }
    return true;
}

/* The fallback when the full snapshot cannot be allocated (see snapshot.h):
 * called with the lock held and the entry (k, v) already taken from *it;
 * returns with the lock released. */
static bool range_in_chunks(struct gomap__snapshot *s, gomap_iter *it,
                            const struct gomap__range_lock *lk, const void *k, const void *v,
                            concmap_range_fn fn, void *ctx) {
    _Alignas(REC_ALIGN) unsigned char stack[GOMAP__SNAPSHOT_MIN];
    struct gomap__snapshot chunk = *s;
    chunk.buf = stack;
    chunk.cap = sizeof stack;
    /* The entries already copied are visited first, outside the lock. */
    bool go_on = true;
    bool have_entry = true;
    for (;;) {
        gomap__snapshot_reset(&chunk);
        struct gomap__snapshot big = chunk; /* one oversized record, if any */
        big.buf = NULL;
        big.cap = 0;
        bool ended = false;
        for (;;) {
            if (!have_entry) {
                void *vv;
                if (!gomap_iter_next(it, &k, &vv)) {
                    ended = true;
                    break;
                }
                v = vv;
            }
            have_entry = false;
            size_t need = rec_size(&chunk, k);
            if (chunk.cap - chunk.used >= need) {
                put_rec(&chunk, k, v);
                /* Fixed-size kinds: stop while any record still fits, so the
                 * next entry never has to be held across the unlock. */
                if (!is_string_kind(chunk.key_kind) &&
                    chunk.cap - chunk.used < max_fixed_rec(&chunk))
                    break;
                continue;
            }
            /* A string entry that does not fit the room left.  fn must not
             * run with the lock held (a read from fn would take it again:
             * a self-deadlock with a mutex, or with a writer-preferring lock
             * once a writer waits), so without room the entry is copied
             * into system memory, and without that the program stops. */
            if (!reserve(&big, need)) {
                big.alloc = &gomap__malloc_allocator;
                if (!reserve(&big, need))
                    gomap__fatal("out of memory (a map's range could not copy one entry)");
            }
            put_rec(&big, k, v);
            break;
        }
        lk->unlock(lk->arg);
        if (go_on && s->count) {
            go_on = visit(s, fn, ctx);
            gomap__snapshot_reset(s);
        }
        if (go_on)
            go_on = visit(&chunk, fn, ctx);
        if (go_on)
            go_on = visit(&big, fn, ctx);
        gomap__snapshot_destroy(&big);
        if (!go_on) {
            gomap_iter_stop(it); /* lets the map free what it kept for it */
            return false;
        }
        if (ended)
            return true;
        lk->lock(lk->arg);
    }
}

bool gomap__snapshot_range(struct gomap__snapshot *s, const gomap *m,
                           const struct gomap__range_lock *lk, concmap_range_fn fn, void *ctx) {
    gomap_iter it;
    const void *pk = NULL, *pv = NULL;
    lk->lock(lk->arg);
    gomap__snapshot_reset(s);
    gomap_iter_init(&it, m);
    reserve_for(s, m);
    if (!fill_growing(s, &it, &pk, &pv))
        return range_in_chunks(s, &it, lk, pk, pv, fn, ctx);
    lk->unlock(lk->arg);
    return visit(s, fn, ctx);
}

static _Thread_local struct gomap__range_frame *range_top;

void gomap__range_enter(struct gomap__range_frame *f, const void *map) {
    f->map = map;
    f->outer = range_top;
    range_top = f;
}

void gomap__range_leave(struct gomap__range_frame *f) {
    range_top = f->outer;
}

void gomap__range_free_check(const void *map, const char *who) {
    for (const struct gomap__range_frame *f = range_top; f; f = f->outer) {
        if (f->map == map) {
            char msg[160];
            snprintf(msg, sizeof msg,
                     "%s called inside its own range callback (the range would go on in freed "
                     "memory)",
                     who);
            gomap__fatal(msg);
        }
    }
}
