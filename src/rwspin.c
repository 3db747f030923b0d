/*
 * rwspin.c — the spinning reader-writer lock of rwmap.c.  See rwspin.h.
 */
#include "rwspin.h"

#include "detect.h"
#include "tsan.h"

enum {
    RWSPIN_WRITER = 1u << 31,
    RWSPIN_WAITING = 1u << 30,
    RWSPIN_READERS = RWSPIN_WAITING - 1,
};

void gomap__rwspin_read_lock(struct gomap__rwspin *l) {
    unsigned spins = 0;
    uint32_t s = atomic_load_explicit(&l->state, memory_order_relaxed);
    for (;;) {
        /* Acquire on success pairs with the release in write_unlock: the
         * reader sees everything the last writer wrote. */
        if (!(s & (RWSPIN_WRITER | RWSPIN_WAITING)) &&
            atomic_compare_exchange_weak_explicit(&l->state, &s, s + 1, memory_order_acquire,
                                                  memory_order_relaxed)) {
            GOMAP__HB_ACQUIRE(l); /* the same edge, told to TSan (tsan.h) */
            return;
        }
        gomap__spin_wait(&spins);
        s = atomic_load_explicit(&l->state, memory_order_relaxed);
    }
}

void gomap__rwspin_read_unlock(struct gomap__rwspin *l) {
    /* Release: the reader's accesses happen before a writer that then sees
     * no reader (its acquire CAS). */
    GOMAP__HB_RELEASE(l);
    uint32_t was = atomic_fetch_sub_explicit(&l->state, 1, memory_order_release);
    GOMAP_ASSERT((was & RWSPIN_READERS) != 0); /* a reader was inside */
}

void gomap__rwspin_write_lock(struct gomap__rwspin *l) {
    unsigned spins = 0;
    uint32_t s = atomic_load_explicit(&l->state, memory_order_relaxed);
    for (;;) {
        if (!(s & (RWSPIN_WRITER | RWSPIN_READERS))) {
            /* Taking the lock clears WAITING; other waiting writers set it
             * again on their next turn.  Acquire pairs with the releases of
             * the last readers and writer. */
            if (atomic_compare_exchange_weak_explicit(&l->state, &s, RWSPIN_WRITER,
                                                      memory_order_acquire, memory_order_relaxed)) {
                GOMAP__HB_ACQUIRE(l);
                return;
            }
            continue;
        }
        if (!(s & RWSPIN_WAITING))
            atomic_fetch_or_explicit(&l->state, RWSPIN_WAITING, memory_order_relaxed);
        gomap__spin_wait(&spins);
        s = atomic_load_explicit(&l->state, memory_order_relaxed);
    }
}

void gomap__rwspin_write_unlock(struct gomap__rwspin *l) {
    /* Keeps WAITING, which another writer may have set meanwhile.  Release
     * pairs with the acquire of the next reader or writer. */
    GOMAP__HB_RELEASE(l);
    uint32_t was =
        atomic_fetch_and_explicit(&l->state, ~(uint32_t)RWSPIN_WRITER, memory_order_release);
    GOMAP_ASSERT((was & RWSPIN_WRITER) && !(was & RWSPIN_READERS)); /* this writer alone */
}
