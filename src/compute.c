/*
 * compute.c — concmap_compute under a lock and as a compare-and-swap loop
 * (compute.h).
 */
#include "compute.h"

#include <errno.h>
#include <string.h>

#include "map_internal.h"

int gomap__compute_locked(gomap *map, const void *key, uint64_t h, size_t value_size,
                          concmap_compute_fn fn, void *ctx, bool *len_changed) {
    gomap__value_buf buf;
    void *slot = gomap__get_hashed(map, key, h);
    bool loaded = slot != NULL;
    if (loaded)
        memcpy(buf.bytes, slot, value_size);
    else
        memset(buf.bytes, 0, value_size);
    *len_changed = false;
    switch (fn(buf.bytes, loaded, ctx)) {
    case CONCMAP_STORE:
        if (!loaded) {
            bool inserted;
            int err = gomap__upsert_locked(map, key, h, &slot, &inserted);
            if (err)
                return err;
            *len_changed = true;
        }
        memcpy(slot, buf.bytes, value_size);
        return 0;
    case CONCMAP_DELETE:
        if (loaded)
            *len_changed = gomap__delete_hashed_locked(map, key, h);
        return 0;
    default:
        return 0;
    }
}

/* Each pass reads the key once and applies fn's decision only if the key
 * still holds what fn saw (the same value bytes, or still absent); a write
 * that lands in between makes the conditional step fail and the pass start
 * over with the new value.  The successful conditional step is the
 * linearization point: at that instant the key holds exactly what fn saw.
 * Byte equality, not identity: a key that went A -> B -> A meanwhile is
 * indistinguishable at that instant from one that stayed A, so applying
 * fn(A) there is still a correct read-modify-write. */
int gomap__compute_cas(const struct concmap_ops *ops, void *impl, const void *key,
                       size_t value_size, concmap_compute_fn fn, void *ctx) {
    gomap__value_buf seen, buf;
    for (;;) {
        bool loaded = ops->load(impl, key, seen.bytes);
        if (!loaded)
            memset(seen.bytes, 0, value_size);
        memcpy(buf.bytes, seen.bytes, value_size);
        bool done = false;
        int err = 0;
        switch (fn(buf.bytes, loaded, ctx)) {
        case CONCMAP_STORE:
            if (loaded) {
                err = ops->compare_and_swap(impl, key, seen.bytes, buf.bytes, &done);
            } else {
                bool was_loaded = true;
                err = ops->load_or_store(impl, key, buf.bytes, NULL, &was_loaded);
                done = !was_loaded;
            }
            break;
        case CONCMAP_DELETE:
            /* An absent key: deleting it changes nothing, done at the load. */
            done = !loaded || ops->compare_and_delete(impl, key, seen.bytes);
            break;
        default:
            done = true;
            break;
        }
        if (err)
            return err;
        if (done)
            return 0;
    }
}
