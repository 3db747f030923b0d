/*
 * tsan.h — telling ThreadSanitizer about the library's happens-before edges.
 *
 * A program built with -fsanitize=thread that links the ordinary (not
 * instrumented) library sees only what passes through TSan's interceptors:
 * the library's memcpy/memcmp/memset of keys and values, malloc/free, and
 * pthread mutexes.  It does not see the library's own atomics (spin locks,
 * the pointers that publish syncmap values and tables and cowmap versions)
 * nor liburcu's grace periods, so correct use would be reported as races
 * between those intercepted accesses, and in the user's code that reads a
 * value through a pointer the map handed out (a range callback).
 *
 * At each such edge the library calls TSan's own annotation functions,
 * __tsan_release(addr) on the publishing side (before the releasing atomic)
 * and __tsan_acquire(addr) on the observing side (after the acquiring
 * atomic), with the same address: TSan then orders everything the
 * publisher did before with everything the observer does after.  Their
 * signatures are those of <sanitizer/tsan_interface.h>.
 *
 * In the ordinary build they are weak references: they resolve to TSan's
 * runtime when the program runs under TSan and are NULL otherwise, so the
 * cost is one load and a predictable branch, and the library needs no TSan
 * at build time.  In a library built with -fsanitize=thread (GOMAP_SANITIZE
 * =thread) the atomics are instrumented and TSan sees the edges itself:
 * GOMAP__HB_* compile to nothing there, so the library's own TSan tests
 * check its real synchronisation, not these annotations.  GOMAP__SYNC_*
 * mark edges no build lets TSan see (liburcu's grace periods, which come
 * from membarrier) and are active in both.
 */
#ifndef GOMAP_TSAN_H
#define GOMAP_TSAN_H

#include <stdint.h>

#include "map_internal.h" /* GOMAP__TSAN: this is a TSan build */

#ifdef GOMAP__TSAN
#include <sanitizer/tsan_interface.h>
#define GOMAP__SYNC_RELEASE(p) __tsan_release((void *)(uintptr_t)(p))
#define GOMAP__SYNC_ACQUIRE(p) __tsan_acquire((void *)(uintptr_t)(p))
#define GOMAP__HB_RELEASE(p)   ((void)(p))
#define GOMAP__HB_ACQUIRE(p)   ((void)(p))
#define GOMAP__TSAN_RUNNING()  1
#else
/* Default visibility: the library is built with -fvisibility=hidden, and a
 * hidden reference could not bind to the runtime's definition. */
__attribute__((weak, visibility("default"))) void __tsan_acquire(void *addr);
__attribute__((weak, visibility("default"))) void __tsan_release(void *addr);

static inline void gomap__tsan_release(const void *p) {
    if (__builtin_expect(__tsan_release != 0, 0))
        __tsan_release((void *)(uintptr_t)p); /* TSan only names the address */
}
static inline void gomap__tsan_acquire(const void *p) {
    if (__builtin_expect(__tsan_acquire != 0, 0))
        __tsan_acquire((void *)(uintptr_t)p);
}
#define GOMAP__SYNC_RELEASE(p) gomap__tsan_release(p)
#define GOMAP__SYNC_ACQUIRE(p) gomap__tsan_acquire(p)
#define GOMAP__HB_RELEASE(p)   gomap__tsan_release(p)
#define GOMAP__HB_ACQUIRE(p)   gomap__tsan_acquire(p)
/* Whether the program runs under TSan: then the code paths that race on
 * purpose (shardmap's optimistic loads) are left out, as in a TSan build. */
#define GOMAP__TSAN_RUNNING()  (__tsan_acquire != 0)
#endif

#endif /* GOMAP_TSAN_H */
