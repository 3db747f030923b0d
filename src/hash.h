/*
 * hash.h — the built-in hashes, inline so the map's hot paths specialise.
 *
 * Integers (u32, u64): one 64x64->128 multiply of the key, xored with the
 * seed, by an odd multiplier derived from the seed; the high and low halves
 * are folded together, then mixed once more by a second such multiply by a
 * constant.  This is the "mum" mix of
 * wyhash (Wang Yi) and Go's memhash64 fallback, written anew.  Both halves matter: the map takes
 * its bucket from the low bits and its tophash from the top byte, and the
 * fold makes every output bit depend on every key bit.  Without the seed the
 * keys an attacker picks cannot be predicted to collide (hash flooding).
 *
 * Byte strings: XXH3 (libxxhash-dev, header-only with XXH_INLINE_ALL), seeded;
 * for 8 to 16 bytes its mix with the integer hash's finish (below).
 * See docs/design.md for the measurement that chose it.
 */
#ifndef GOMAP_HASH_H
#define GOMAP_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The two secrets the integer hash uses, derived from a map's seed once (at
 * creation) so the hot path is one multiply. */
typedef struct gomap_hash_secret {
    uint64_t s0; /* xored into the key */
    uint64_t s1; /* odd multiplier */
} gomap_hash_secret;

static inline uint64_t gomap__mum(uint64_t a, uint64_t b) {
#if defined(__x86_64__) && defined(__GNUC__)
    /* The 64x64->128 multiply as one mulq, its halves in rdx:rax: from the
     * portable form below GCC 12 in some callers stores the 128-bit product
     * to the stack and reloads it (three more instructions and a
     * store-to-load wait on every hash).  Not volatile: the compiler may
     * still move or merge it. */
    uint64_t lo, hi;
    __asm__("mulq %3" : "=a"(lo), "=d"(hi) : "%0"(a), "rm"(b) : "cc");
    return lo ^ hi;
#else
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
#endif
}

static inline gomap_hash_secret gomap__hash_secret(uint64_t seed) {
    /* Constants: the 64-bit golden ratio and one of wyhash's primes; any
     * odd constants with well-spread bits would do. */
    gomap_hash_secret s;
    s.s0 = seed;
    s.s1 = gomap__mum(seed ^ 0x9e3779b97f4a7c15ull, 0xe7037ed1a0b428dbull) | 1;
    return s;
}

static inline uint64_t gomap__hash_u64_secret(uint64_t key, gomap_hash_secret s) {
    /* The mum alone keeps structure for runs of small keys: its low half's
     * low bits are a bijection of the key's low bits, and for some seeds the
     * signature the map uses (low bits + top byte) of the keys 0..2^18
     * collided 2.7x as often as random (tests/core/hash_test.c's birthday
     * check).  A second mum by the golden ratio finishes the mixing (its
     * high half brings every bit of the first into the low bits) in two
     * instructions after the first multiply, where a multiply and an
     * xor-shift took four; docs/design.md ("Hashing") has the measurement. */
    return gomap__mum(gomap__mum(key ^ s.s0, s.s1), 0x9e3779b97f4a7c15ull);
}

/* XXH3 is header-only here (XXH_INLINE_ALL makes every function static), so
 * the map's string paths inline it instead of calling through hash.c. */
#define XXH_INLINE_ALL
#include <xxhash.h>

/* Keys of 8 to 16 bytes: XXH3's 9-16-byte mix (its seeded secrets, its
 * fold of the two words' 128-bit product, with the length and the
 * byte-swapped first word added so that the two words are not
 * interchangeable), finished by the integer hash's mum by the golden ratio
 * (two instructions) instead of XXH3's avalanche (five).  The secrets
 * differ by a function of the seed, so no swap or xor of the two words
 * collides for every seed (hash flooding); docs/design.md ("Hashing") has
 * the count. */
__attribute__((always_inline)) static inline uint64_t gomap__hash_8to16(const void *p, size_t len,
                                                                        uint64_t seed) {
    uint64_t lo, hi;
    memcpy(&lo, p, 8);
    memcpy(&hi, (const char *)p + len - 8, 8);
    /* XXH3's bitflips (constants once folded, then the seed). */
    lo ^= (XXH_readLE64(XXH3_kSecret + 24) ^ XXH_readLE64(XXH3_kSecret + 32)) + seed;
    hi ^= (XXH_readLE64(XXH3_kSecret + 40) ^ XXH_readLE64(XXH3_kSecret + 48)) - seed;
    uint64_t acc = len + __builtin_bswap64(lo) + hi + gomap__mum(lo, hi);
    return gomap__mum(acc, 0x9e3779b97f4a7c15ull);
}

__attribute__((always_inline)) static inline uint64_t gomap__hash_bytes(const void *p, size_t len,
                                                                        uint64_t seed) {
    if (__builtin_expect(len - 8 <= 8, 1))
        return gomap__hash_8to16(p, len, seed);
#if XXH_VERSION_NUMBER >= 800
    /* Keys of up to 7 bytes: XXH3_64bits_withSeed's own first case
     * (xxhash.h 0.8's XXH3_64bits_internal), taken here so that it inlines;
     * the compiler keeps the whole function out of line, and a string
     * lookup then paid its call and its length dispatch.  The same value as
     * the call. */
    if (__builtin_expect(len <= 16, 1))
        return XXH3_len_0to16_64b((const xxh_u8 *)p, len, XXH3_kSecret, seed);
#endif
    return XXH3_64bits_withSeed(p, len, seed);
}

#endif /* GOMAP_HASH_H */
