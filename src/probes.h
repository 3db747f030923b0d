/*
 * probes.h — gomap's USDT probes (provider "gomap"), for bpftrace and
 * gomap-watch.  docs/probes.md lists each probe and its arguments.
 *
 * Every probe has a semaphore: a counter the kernel raises while a tracer is
 * attached.  Code computes a probe's arguments (a clock read, a thread id)
 * only under GOMAP_PROBE_ENABLED(name), so an untraced probe costs one nop
 * plus, where arguments are expensive, one load and a predictable branch.
 * Building with GOMAP_NO_PROBES (cmake -DGOMAP_PROBES=OFF) removes them all.
 *
 * Adding a probe: declare it below with GOMAP_PROBE_DECLARE, define its
 * semaphore in probes.c with GOMAP_PROBE_DEFINE and add its anchor site there
 * (see probes.c), call GOMAP_PROBEn at the site, and document it in
 * docs/probes.md.  The test obs_probes fails until every declared probe has a
 * real site in the library.
 */
#ifndef GOMAP_PROBES_H
#define GOMAP_PROBES_H

#if !defined(GOMAP_NO_PROBES) && defined(__has_include)
#if __has_include(<sys/sdt.h>)
#define GOMAP_HAVE_PROBES 1
#endif
#endif

#ifdef GOMAP_HAVE_PROBES
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>
/* sys/sdt.h names each semaphore in an empty asm with an "m" operand, so that
 * LTO keeps it; in PIC code that costs a lea at every probe site — measured at
 * a third of the probes' untraced cost on the core map (docs/observability.md).
 * Our semaphores are `used` (probes.c), and the note's asm text references
 * them by name, which the linker sees: the operand is not needed. */
#undef _SDT_NOTE_SEMAPHORE_USE
#define _SDT_NOTE_SEMAPHORE_USE(provider, name)

#define GOMAP_PROBE_DECLARE(name) extern volatile unsigned short gomap_##name##_semaphore
#define GOMAP_PROBE_DEFINE(name)                                                                   \
    __attribute__((section(".probes"), used)) volatile unsigned short gomap_##name##_semaphore
#define GOMAP_PROBE_ENABLED(name)         __builtin_expect(gomap_##name##_semaphore != 0, 0)
#define GOMAP_PROBE0(name)                STAP_PROBE(gomap, name)
#define GOMAP_PROBE1(name, a)             STAP_PROBE1(gomap, name, a)
#define GOMAP_PROBE2(name, a, b)          STAP_PROBE2(gomap, name, a, b)
#define GOMAP_PROBE3(name, a, b, c)       STAP_PROBE3(gomap, name, a, b, c)
#define GOMAP_PROBE4(name, a, b, c, d)    STAP_PROBE4(gomap, name, a, b, c, d)
#define GOMAP_PROBE5(name, a, b, c, d, e) STAP_PROBE5(gomap, name, a, b, c, d, e)
#else
#define GOMAP_PROBE_DECLARE(name)   struct gomap_probe_unused_##name
#define GOMAP_PROBE_DEFINE(name)    struct gomap_probe_unused_##name
#define GOMAP_PROBE_ENABLED(name)   0
/* The arguments are named in sizeof, unevaluated: variables kept only for a
 * probe stay "used" without costing anything. */
#define GOMAP_PROBE0(name)          ((void)0)
#define GOMAP_PROBE1(name, a)       ((void)sizeof(a))
#define GOMAP_PROBE2(name, a, b)    ((void)sizeof(a), (void)sizeof(b))
#define GOMAP_PROBE3(name, a, b, c) ((void)sizeof(a), (void)sizeof(b), (void)sizeof(c))
#define GOMAP_PROBE4(name, a, b, c, d)                                                             \
    ((void)sizeof(a), (void)sizeof(b), (void)sizeof(c), (void)sizeof(d))
#define GOMAP_PROBE5(name, a, b, c, d, e)                                                          \
    ((void)sizeof(a), (void)sizeof(b), (void)sizeof(c), (void)sizeof(d), (void)sizeof(e))
#endif

/* Core map (map.c, detect.c). */
GOMAP_PROBE_DECLARE(conflict);   /* (kind, map, detector tid, writer tid) */
GOMAP_PROBE_DECLARE(grow_start); /* (map, old B, new B, same_size, count) */
GOMAP_PROBE_DECLARE(evacuate);   /* (map, old bucket index, nanoseconds) */
GOMAP_PROBE_DECLARE(op);         /* (map, op: 0 get, 1 set, 2 delete, 3 iter) */
/* Thread-safe family. */
GOMAP_PROBE_DECLARE(lock_wait);       /* (map, variant name, nanoseconds, exclusive) */
GOMAP_PROBE_DECLARE(lock_hold);       /* (map, variant name, nanoseconds, exclusive) */
GOMAP_PROBE_DECLARE(syncmap_miss);    /* (map, misses, dirty len) */
GOMAP_PROBE_DECLARE(syncmap_promote); /* (map, len) */
GOMAP_PROBE_DECLARE(concmap_op); /* (map, variant name, op: 0 load, 1 store, 2 delete, 3 other) */

#endif /* GOMAP_PROBES_H */
