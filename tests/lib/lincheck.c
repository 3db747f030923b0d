/* lincheck.c — the compiled half of lincheck.h (see there). */
#include "lincheck.h"

#include <stdlib.h>
#include <string.h>

/* The sequential model: one key of a map. */
struct lin_state {
    bool present;
    uint64_t v;
};

/* One call or return event in the doubly linked event list. */
struct lin_event {
    uint64_t time;
    int op; /* index into the partition's ops */
    bool call;
    struct lin_event *match; /* a call's return event */
    struct lin_event *prev, *next;
};

/* The explored-configurations cache: open addressing over (bitset, state). */
struct lin_cache {
    uint64_t *keys; /* slots of `words` bitset words + 2 state words */
    bool *used;
    size_t cap, n, words;
};

/* Applies op to s: returns whether op's recorded results are what the model
 * returns, and the state after it in *next. */
static bool lin_step(struct lin_state s, const struct lin_op *op, struct lin_state *next) {
    *next = s;
    bool hit = s.present && s.v == op->a;
    switch (op->kind) {
    case LIN_LOAD:
    case LIN_RANGE:
        return op->ok == s.present && (!s.present || op->out == s.v);
    case LIN_STORE:
        next->present = true;
        next->v = op->a;
        return true;
    case LIN_LOS:
        if (s.present)
            return op->ok && op->out == s.v;
        next->present = true;
        next->v = op->a;
        return !op->ok && op->out == op->a;
    case LIN_LAD:
        next->present = false;
        next->v = 0;
        return op->ok == s.present && (!s.present || op->out == s.v);
    case LIN_DELETE:
    case LIN_CLEAR:
        next->present = false;
        next->v = 0;
        return true;
    case LIN_SWAP:
        next->present = true;
        next->v = op->a;
        return op->ok == s.present && (!s.present || op->out == s.v);
    case LIN_CAS:
        if (hit)
            next->v = op->b;
        return op->ok == hit;
    case LIN_CAD:
        if (hit) {
            next->present = false;
            next->v = 0;
        }
        return op->ok == hit;
    default:
        return false;
    }
}

static int lin_event_cmp(const void *pa, const void *pb) {
    const struct lin_event *a = pa, *b = pb;
    if (a->time != b->time)
        return a->time < b->time ? -1 : 1;
    /* At equal times calls come first: the operations overlap (the checker
     * must not invent a real-time order the clock did not show). */
    if (a->call != b->call)
        return a->call ? -1 : 1;
    return a->op - b->op;
}

static uint64_t lin_hash(const uint64_t *k, size_t nw) {
    uint64_t h = 0x84222325cbf29ce4u;
    for (size_t i = 0; i < nw; i++) {
        h ^= k[i];
        h *= 0x100000001b3u;
        h ^= h >> 29;
    }
    return h;
}

/* Adds (bits, s); returns false if it was already there. */
static bool lin_cache_add(struct lin_cache *c, const uint64_t *bits, struct lin_state s) {
    size_t nw = c->words + 2;
    if ((c->n + 1) * 2 > c->cap) {
        struct lin_cache g = {NULL, NULL, c->cap ? c->cap * 2 : 1024, 0, c->words};
        g.keys = calloc(g.cap, nw * sizeof(uint64_t));
        g.used = calloc(g.cap, 1);
        if (!g.keys || !g.used)
            abort();
        for (size_t i = 0; i < c->cap; i++) {
            if (!c->used[i])
                continue;
            size_t j = lin_hash(c->keys + i * nw, nw) & (g.cap - 1);
            while (g.used[j])
                j = (j + 1) & (g.cap - 1);
            g.used[j] = true;
            memcpy(g.keys + j * nw, c->keys + i * nw, nw * sizeof(uint64_t));
            g.n++;
        }
        free(c->keys);
        free(c->used);
        *c = g;
    }
    uint64_t key[nw];
    memcpy(key, bits, c->words * sizeof(uint64_t));
    key[c->words] = s.present;
    key[c->words + 1] = s.v;
    size_t j = lin_hash(key, nw) & (c->cap - 1);
    while (c->used[j]) {
        if (memcmp(c->keys + j * nw, key, nw * sizeof(uint64_t)) == 0)
            return false;
        j = (j + 1) & (c->cap - 1);
    }
    c->used[j] = true;
    memcpy(c->keys + j * nw, key, nw * sizeof(uint64_t));
    c->n++;
    return true;
}

/* Checks one key's history (ops[0..n)) from the initial state `init`. */
static bool lin_check_partition(const struct lin_op *ops, size_t n, struct lin_state init) {
    if (n == 0)
        return true;
    struct lin_event *ev = calloc(2 * n, sizeof *ev);
    size_t words = (n + 63) / 64;
    uint64_t *bits = calloc(words, sizeof(uint64_t));
    struct lin_stack {
        struct lin_event *e;
        struct lin_state s;
    } *stack = calloc(n, sizeof *stack);
    if (!ev || !bits || !stack)
        abort();
    for (size_t i = 0; i < n; i++) {
        ev[2 * i] = (struct lin_event){ops[i].call, (int)i, true, NULL, NULL, NULL};
        ev[2 * i + 1] = (struct lin_event){ops[i].ret, (int)i, false, NULL, NULL, NULL};
    }
    qsort(ev, 2 * n, sizeof *ev, lin_event_cmp);
    struct lin_event *ret_of[n];
    for (size_t i = 0; i < 2 * n; i++)
        if (!ev[i].call)
            ret_of[ev[i].op] = &ev[i];
    /* A sentinel head makes removal and reinsertion uniform. */
    struct lin_event head = {0, -1, false, NULL, NULL, NULL};
    struct lin_event *prev = &head;
    for (size_t i = 0; i < 2 * n; i++) {
        if (ev[i].call)
            ev[i].match = ret_of[ev[i].op];
        ev[i].prev = prev;
        prev->next = &ev[i];
        prev = &ev[i];
    }
    struct lin_cache cache = {NULL, NULL, 0, 0, words};
    struct lin_state s = init;
    size_t depth = 0;
    bool result = true;
    struct lin_event *e = head.next;
    while (head.next) {
        if (e->call) {
            struct lin_state next;
            if (lin_step(s, &ops[e->op], &next)) {
                bits[e->op / 64] |= (uint64_t)1 << (e->op % 64);
                if (lin_cache_add(&cache, bits, next)) {
                    stack[depth].e = e;
                    stack[depth].s = s;
                    depth++;
                    s = next;
                    /* Lift the call and its return out of the list. */
                    e->prev->next = e->next;
                    if (e->next)
                        e->next->prev = e->prev;
                    struct lin_event *r = e->match;
                    r->prev->next = r->next;
                    if (r->next)
                        r->next->prev = r->prev;
                    e = head.next;
                    continue;
                }
                bits[e->op / 64] &= ~((uint64_t)1 << (e->op % 64));
            }
            e = e->next;
        } else {
            /* A return whose operation was never linearized: backtrack. */
            if (depth == 0) {
                result = false;
                break;
            }
            depth--;
            e = stack[depth].e;
            s = stack[depth].s;
            bits[e->op / 64] &= ~((uint64_t)1 << (e->op % 64));
            /* Put the pair back (the reverse of the lift, in reverse order). */
            struct lin_event *r = e->match;
            r->prev->next = r;
            if (r->next)
                r->next->prev = r;
            e->prev->next = e;
            if (e->next)
                e->next->prev = e;
            e = e->next;
        }
    }
    free(cache.keys);
    free(cache.used);
    free(stack);
    free(bits);
    free(ev);
    return result;
}

int lin_check(const struct lin_op *ops, size_t n, int nkeys) {
    struct lin_op *part = malloc((n ? n : 1) * sizeof *part);
    if (!part)
        abort();
    int bad = -1;
    for (int k = 0; k < nkeys && bad < 0; k++) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (ops[i].key == k)
                part[m++] = ops[i];
        struct lin_state init = {false, 0};
        if (!lin_check_partition(part, m, init))
            bad = k;
    }
    free(part);
    return bad;
}
