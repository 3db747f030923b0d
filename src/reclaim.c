/* RCU for syncmap and cowmap: lazy thread registration, retirement through
 * call_rcu, per-map accounting, and ThreadSanitizer annotations.  The design
 * and its caveats are in reclaim.h. */
#include "reclaim.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#if defined(__SANITIZE_THREAD__)
#define GOMAP_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GOMAP_TSAN 1
#endif
#endif

#ifdef GOMAP_TSAN
#include <sanitizer/tsan_interface.h>
/* The object every section releases on exit and every callback acquires
 * before freeing (see reclaim.h). */
static char gomap_rcu_tsan_sync;
#define TSAN_RELEASE(p) __tsan_release(p)
#define TSAN_ACQUIRE(p) __tsan_acquire(p)
#else
/* Not TSan: the sync object exists only to keep one code path. */
static char gomap_rcu_tsan_sync;
#define TSAN_RELEASE(p) ((void)(p))
#define TSAN_ACQUIRE(p) ((void)(p))
#endif

/* Whether this thread is registered with urcu-memb.  Only its own thread
 * reads and writes it. */
static _Thread_local bool rcu_registered;

static pthread_key_t rcu_exit_key;
static pthread_once_t rcu_exit_key_once = PTHREAD_ONCE_INIT;

/* Runs at thread exit (the key's value is non-NULL only for registered
 * threads).  A thread cannot exit inside one of gomap's sections. */
static void rcu_unregister_at_exit(void *unused) {
    (void)unused;
    if (rcu_registered) {
        urcu_memb_unregister_thread();
        rcu_registered = false;
    }
}

static void rcu_make_exit_key(void) {
    if (pthread_key_create(&rcu_exit_key, rcu_unregister_at_exit) != 0) {
        fputs("gomap: internal error: pthread_key_create failed for RCU thread exit\n", stderr);
        abort();
    }
}

static void rcu_register_slow(void) {
    pthread_once(&rcu_exit_key_once, rcu_make_exit_key);
    urcu_memb_register_thread();
    rcu_registered = true;
    /* Any non-NULL value: it only makes the destructor run at exit.  A
     * failure (ENOMEM) would leave the thread registered after exit, which
     * makes later grace periods wait on a dead reader's zero counter: not
     * harmful, so it is ignored rather than failing a read. */
    (void)pthread_setspecific(rcu_exit_key, &rcu_registered);
}

void gomap__rcu_enter(void) {
    if (__builtin_expect(!rcu_registered, 0))
        rcu_register_slow();
    urcu_memb_read_lock();
}

void gomap__rcu_exit(void) {
    TSAN_RELEASE(&gomap_rcu_tsan_sync);
    urcu_memb_read_unlock();
}

bool gomap__rcu_in_section(void) {
    return rcu_registered && urcu_memb_read_ongoing();
}

/* Objects retired by all maps and not yet freed (for gomap__rcu_barrier). */
static atomic_long rcu_pending_all;

void gomap__rcu_retire(struct gomap__reclaim *r, struct rcu_head *head,
                       void (*fn)(struct rcu_head *)) {
    /* Relaxed: the increments only have to be visible to the callback's
     * decrement, which the grace period orders after them. */
    atomic_fetch_add_explicit(&r->pending, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&rcu_pending_all, 1, memory_order_relaxed);
    /* Orders the retiring thread's last writes to the object before the
     * callback's free, for TSan (call_rcu's queue is not instrumented). */
    TSAN_RELEASE(head);
    urcu_memb_call_rcu(head, fn);
}

void gomap__rcu_callback_begin(struct rcu_head *head) {
    TSAN_ACQUIRE(&gomap_rcu_tsan_sync);
    TSAN_ACQUIRE(head);
}

void gomap__rcu_reclaimed(struct gomap__reclaim *r) {
    atomic_fetch_sub_explicit(&r->pending, 1, memory_order_release);
    atomic_fetch_sub_explicit(&rcu_pending_all, 1, memory_order_release);
}

/* Polls until *count is 0.  Acquire pairs with the callbacks' release
 * decrements.  Sleeps grow from 20 us to 1 ms: a grace period plus the
 * call_rcu thread's batching take from microseconds to ~10 ms. */
static void rcu_wait_zero(atomic_long *count_l, atomic_size_t *count_z) {
    long ns = 20000;
    for (;;) {
        if (count_l ? atomic_load_explicit(count_l, memory_order_acquire) == 0
                    : atomic_load_explicit(count_z, memory_order_acquire) == 0)
            return;
        struct timespec ts = {0, ns};
        nanosleep(&ts, NULL);
        if (ns < 1000000)
            ns *= 2;
    }
}

void gomap__rcu_drain(struct gomap__reclaim *r, const char *who) {
    if (atomic_load_explicit(&r->pending, memory_order_acquire) == 0)
        return;
    if (gomap__rcu_in_section()) {
        fprintf(stderr,
                "fatal error: %s called inside a syncmap/cowmap range callback "
                "(it would wait for its own read-side section)\n",
                who);
        abort();
    }
    /* Not rcu_barrier: it waits for every callback of the process, and its
     * internal hand-off is invisible to ThreadSanitizer. */
    rcu_wait_zero(NULL, &r->pending);
}

void gomap__rcu_barrier(void) {
    rcu_wait_zero(&rcu_pending_all, NULL);
}
