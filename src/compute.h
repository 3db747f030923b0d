/*
 * compute.h — concmap_compute's two shapes, shared by the variants:
 *
 *   - under a lock (rwmap, shardmap): the caller holds the lock that excludes
 *     every other access to the key; gomap__compute_locked reads, calls fn
 *     once and applies its decision to the core map;
 *   - a compare-and-swap loop (syncmap): gomap__compute_cas reads with the
 *     variant's load, calls fn, and applies the decision with the variant's
 *     conditional writes (compare_and_swap, load_or_store,
 *     compare_and_delete), starting over when the key changed meanwhile.
 *
 * fn works on a copy of the value, so a KEEP (or an ENOMEM) leaves the map
 * exactly as it was whatever fn wrote into its buffer.
 */
#ifndef GOMAP_COMPUTE_H
#define GOMAP_COMPUTE_H

#include <gomap/concmap.h>
#include <stddef.h>

#include "concmap_impl.h"

/* A value buffer aligned for any scalar type: values are at most
 * GOMAP_MAX_VALUE_SIZE bytes (the variants refuse larger configs). */
typedef union gomap__value_buf {
    max_align_t align;
    unsigned char bytes[GOMAP_MAX_VALUE_SIZE];
} gomap__value_buf;

/* With the key's exclusive lock held: runs fn on key (hash h) of map and
 * applies its decision.  Sets *len_changed when an entry was inserted or
 * deleted (the caller republishes its count).  0 or ENOMEM (map unchanged). */
int gomap__compute_locked(gomap *map, const void *key, uint64_t h, size_t value_size,
                          concmap_compute_fn fn, void *ctx, bool *len_changed);

/* Runs fn on key of the variant `impl` (its ops `ops`) as a CAS loop.
 * 0 or ENOMEM (the map unchanged by this call). */
int gomap__compute_cas(const struct concmap_ops *ops, void *impl, const void *key,
                       size_t value_size, concmap_compute_fn fn, void *ctx);

#endif /* GOMAP_COMPUTE_H */
