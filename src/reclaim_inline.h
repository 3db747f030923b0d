/*
 * reclaim_inline.h — the read-side section of reclaim.h, inlined into the
 * caller, for the loads that enter one per call (shardmap's optimistic
 * loads).
 *
 * gomap__rcu_enter/exit are calls into reclaim.c, which calls liburcu's
 * urcu_memb_read_lock/unlock through the PLT, which reach liburcu's
 * thread-local reader record through __tls_get_addr (the record lives in
 * another shared object, so neither library can use a cheaper TLS model for
 * it): about 100 instructions per section, a third of an in-cache shardmap
 * load.  liburcu's own answer is its inline read side (urcu/static/
 * urcu-memb.h, under _LGPL_SOURCE), which still reaches the record through
 * __tls_get_addr from another shared object.
 *
 * Here the same protocol is written anew against a pointer to the calling
 * thread's record that reclaim.c caches, at registration, in gomap's own
 * initial-exec TLS (gomap__rcu_reader): a section is then one TLS load and
 * a few plain loads and stores.  The protocol (liburcu's urcu-memb.h and
 * urcu-common.h, version 0.13/0.14, whose structure and constants come from
 * <urcu/static/urcu-common.h>):
 *   - the record's `ctr` holds the nesting count in its low half; the
 *     outermost entry copies the grace-period counter urcu_memb_gp.ctr
 *     (which carries the current phase and a count of 1) into it, inner
 *     entries add 1, exits subtract 1;
 *   - the outermost entry's store is followed, and the outermost exit's
 *     store preceded and followed, by a "slave" barrier: a compiler barrier
 *     when liburcu uses membarrier (urcu_memb_has_sys_membarrier), whose
 *     grace periods then issue the matching full barrier on every CPU; a
 *     full fence otherwise.  The inline side runs only with membarrier
 *     (reclaim.c sets gomap__rcu_reader only then), so its slave barrier is
 *     the compiler barrier alone;
 *   - after the outermost exit, a synchronize_rcu that sleeps (it set
 *     urcu_memb_gp.futex to -1) must be woken: that rare case is a call
 *     (gomap__rcu_wake_gp).
 *
 * gomap__rcu_reader is NULL whenever the section must take reclaim.c's
 * path: when liburcu has no membarrier, before the thread registers, once
 * its exit destructor has run
 * (each section then registers and unregisters, see reclaim.h), and when
 * the program runs under ThreadSanitizer (whose release on exit reclaim.c
 * makes).  It changes only outside any section of its thread, so an entry
 * and its exit take the same path.
 */
#ifndef GOMAP_RECLAIM_INLINE_H
#define GOMAP_RECLAIM_INLINE_H

#include <urcu/static/urcu-common.h>

#include "reclaim.h"
#include "tsan.h" /* GOMAP__TSAN */

/* The calling thread's liburcu reader record, or NULL (see above).  Hidden
 * (the library is built with -fvisibility=hidden), initial-exec: one load
 * relative to the thread pointer. */
extern _Thread_local struct urcu_reader *gomap__rcu_reader
    __attribute__((tls_model("initial-exec")));

/* liburcu-memb's grace-period state and barrier mode (urcu/static/
 * urcu-memb.h declares both for its own inline read side). */
extern struct urcu_gp urcu_memb_gp;
extern int urcu_memb_has_sys_membarrier;

/* Wakes a synchronize_rcu waiting for this thread's section to end. */
void gomap__rcu_wake_gp(void);

#ifdef GOMAP__TSAN
/* A TSan build instruments the library's atomics and rejects fences: there
 * the sections are reclaim.c's (with the release TSan needs on exit). */
static inline void gomap__rcu_enter_inline(void) {
    gomap__rcu_enter();
}
static inline void gomap__rcu_exit_inline(void) {
    gomap__rcu_exit();
}
#else
/* liburcu's slave barrier in membarrier mode, the only mode that reaches
 * the inline side: membarrier in synchronize_rcu supplies the CPU's fence. */
static inline void gomap__rcu_barrier_slave(void) {
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
}

/* The section's entry for a thread whose record r is gomap__rcu_reader (not
 * NULL): the callers that read the record once for both ends. */
static inline void gomap__rcu_enter_reader(struct urcu_reader *r) {
    __atomic_signal_fence(__ATOMIC_SEQ_CST); /* nothing of the section moves above */
    unsigned long c = __atomic_load_n(&r->ctr, __ATOMIC_RELAXED);
    if (__builtin_expect(!(c & URCU_GP_CTR_NEST_MASK), 1)) {
        /* Relaxed: the grace-period side orders these with its
         * membarrier/fences (the slave barrier below pairs with them). */
        __atomic_store_n(&r->ctr, __atomic_load_n(&urcu_memb_gp.ctr, __ATOMIC_RELAXED),
                         __ATOMIC_RELAXED);
        gomap__rcu_barrier_slave();
    } else {
        __atomic_store_n(&r->ctr, c + URCU_GP_COUNT, __ATOMIC_RELAXED);
    }
}

/* The exit of a section entered with gomap__rcu_enter_reader(r).  Returns
 * true when a synchronize_rcu sleeps waiting for this section: the caller
 * must then call gomap__rcu_wake_gp (left to it, so that a caller that
 * makes no other call can make this one a tail call). */
static inline bool gomap__rcu_exit_reader(struct urcu_reader *r) {
    bool wake = false;
    unsigned long c = __atomic_load_n(&r->ctr, __ATOMIC_RELAXED);
    if (__builtin_expect((c & URCU_GP_CTR_NEST_MASK) == URCU_GP_COUNT, 1)) {
        gomap__rcu_barrier_slave(); /* the section's reads before the store */
        __atomic_store_n(&r->ctr, c - URCU_GP_COUNT, __ATOMIC_RELAXED);
        gomap__rcu_barrier_slave(); /* the store before the futex check */
        wake = __atomic_load_n(&urcu_memb_gp.futex, __ATOMIC_RELAXED) == -1;
    } else {
        __atomic_store_n(&r->ctr, c - URCU_GP_COUNT, __ATOMIC_RELAXED);
    }
    __atomic_signal_fence(__ATOMIC_SEQ_CST); /* nothing of the section moves below */
    return wake;
}

/* As gomap__rcu_enter. */
static inline void gomap__rcu_enter_inline(void) {
    struct urcu_reader *r = gomap__rcu_reader;
    if (__builtin_expect(r == NULL, 0)) {
        gomap__rcu_enter();
        return;
    }
    gomap__rcu_enter_reader(r);
}

/* As gomap__rcu_exit, for a section entered with gomap__rcu_enter_inline. */
static inline void gomap__rcu_exit_inline(void) {
    struct urcu_reader *r = gomap__rcu_reader;
    if (__builtin_expect(r == NULL, 0)) {
        gomap__rcu_exit();
        return;
    }
    if (__builtin_expect(gomap__rcu_exit_reader(r), 0))
        gomap__rcu_wake_gp();
}
#endif /* GOMAP__TSAN */

#endif /* GOMAP_RECLAIM_INLINE_H */
