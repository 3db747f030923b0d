/*
 * mixpeer.h — the driver of the C and C++ peers of `gomap-bench mix`
 * (abseil, TBB, liburcu).  A peer describes its contestants and calls
 * mixpeer_main, which reads gomap-bench's arguments, runs the same loops as
 * gomap-bench (runner.h) and prints the same JSON lines.
 */
#ifndef GOMAP_BENCH_MIXPEER_H
#define GOMAP_BENCH_MIXPEER_H

#include <stdint.h>

#include "runner.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mixpeer_contestant {
    const char *name;
    void *(*create)(uint64_t nkeys); /* an empty map sized for nkeys */
    void (*destroy)(void *m);
    run_map ops;                                              /* .m is filled in by the driver */
    void (*range_sum)(void *m, uint64_t *len, uint64_t *sum); /* single-threaded */
} mixpeer_contestant;

int mixpeer_main(int argc, char **argv, const mixpeer_contestant *cs, int n);

/* Peers call this for each allocation their map makes; it counts only during
 * the driver's untimed counting passes (a relaxed load of a flag otherwise). */
void mixpeer_count_alloc(void);

#ifdef __cplusplus
}

#include <cstddef>
#include <new>

/* A std allocator that counts through mixpeer_count_alloc (abseil and TBB
 * take it as their allocator parameter). */
template <class T> struct mixpeer_allocator {
    using value_type = T;
    mixpeer_allocator() = default;
    template <class U> mixpeer_allocator(const mixpeer_allocator<U> &) {}
    T *allocate(std::size_t n) {
        mixpeer_count_alloc();
        return static_cast<T *>(::operator new(n * sizeof(T)));
    }
    void deallocate(T *p, std::size_t) { ::operator delete(p); }
    template <class U> bool operator==(const mixpeer_allocator<U> &) const { return true; }
    template <class U> bool operator!=(const mixpeer_allocator<U> &) const { return false; }
};
#endif
#endif /* GOMAP_BENCH_MIXPEER_H */
