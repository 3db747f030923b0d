/*
 * rwspin.h — the reader-writer lock of rwmap.c.
 *
 * A writer-preferring reader-writer lock that spins, then yields, instead of
 * sleeping in the kernel.  Why not pthread_rwlock: with 10% writes on two
 * threads, glibc's rwlock (either preference) puts a reader to sleep behind
 * every writer and wakes it with a futex call, so each operation pays a
 * context switch (docs/design-family.md, "rwmap's lock", has the
 * measurements).  Critical sections here are a single map operation (tens to
 * hundreds of nanoseconds), the case spinning is made for; after a bounded
 * number of spins a waiter yields its CPU, which keeps oversubscribed runs
 * moving.
 */
#ifndef GOMAP_RWSPIN_H
#define GOMAP_RWSPIN_H

#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>

/* PAUSEs a waiter spins before it starts yielding its CPU. */
#define GOMAP__SPIN_LIMIT 128

/* One turn of a spinning waiter (rwspin.c, shardmap.c's shard lock), whose
 * `*spins` starts at 0: a PAUSE while the holder is likely running, then,
 * past GOMAP__SPIN_LIMIT turns, a yield, so that a waiter behind a
 * preempted holder gives the holder its CPU. */
static inline void gomap__spin_wait(unsigned *spins) {
    if (++*spins < GOMAP__SPIN_LIMIT) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    } else {
        sched_yield();
    }
}

/* state: bits 0..29 the number of readers inside, WRITER set while a writer
 * is inside, WAITING set while a writer waits (new readers hold back, so
 * writers are not starved, as with Go's RWMutex). */
struct gomap__rwspin {
    _Atomic uint32_t state;
};

void gomap__rwspin_read_lock(struct gomap__rwspin *l);
void gomap__rwspin_read_unlock(struct gomap__rwspin *l);
void gomap__rwspin_write_lock(struct gomap__rwspin *l);
void gomap__rwspin_write_unlock(struct gomap__rwspin *l);

#endif /* GOMAP_RWSPIN_H */
