/*
 * hash.c — the built-in hashes, exported (hash.h explains the choice).
 */
#include "hash.h"

#include <gomap/gomap.h>

GOMAP_API uint64_t gomap_hash_bytes(const void *p, size_t len, uint64_t seed) {
    return gomap__hash_bytes(p, len, seed);
}

GOMAP_API uint64_t gomap_hash_u64(uint64_t key, uint64_t seed) {
    return gomap__hash_u64_secret(key, gomap__hash_secret(seed));
}
