/* RCU for syncmap and cowmap: lazy thread registration, the reclaimer
 * thread and its queue, per-map accounting, and ThreadSanitizer annotations.  The design
 * and its caveats are in reclaim.h. */
#include "reclaim.h"

#include <urcu/urcu-memb.h>

#include <linux/futex.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>

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
 * reads and writes it.  initial-exec: the library is position-independent,
 * and the default model would call __tls_get_addr on every load (measured:
 * visible in a profile of in-cache loads); one byte of static TLS is always
 * available, even when libgomap.so is loaded with dlopen. */
static _Thread_local bool rcu_registered __attribute__((tls_model("initial-exec")));

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

/* ---- the reclaimer thread ------------------------------------------------
 *
 * rq_head: a lock-free stack of retired objects.  Pushers CAS a node on; the
 * thread takes everything at once with an exchange, so it never pops a
 * single node and the stack has no ABA problem.
 * rq_sleeping: 1 while the thread waits (or is about to wait) on it as a
 * futex.  The wake-up is a Dekker handshake, all seq_cst: the thread stores
 * 1 then re-reads rq_head; a pusher CASes rq_head then exchanges the flag to
 * 0 and wakes the thread if it was 1.  One of the two sees the other, so a
 * push never goes unnoticed; and the futex wait returns at once if the flag
 * is already 0 again. */
static _Atomic(struct gomap__rcu_head *) rq_head;
static atomic_int rq_sleeping;
static atomic_bool rq_started;
static pthread_mutex_t rq_start_lock = PTHREAD_MUTEX_INITIALIZER;

enum { RQ_BATCH = 64 };                     /* a batch at least this big... */
static const long RQ_BATCH_PAUSE = 1000000; /* ...is followed by 1 ms to gather the next */

static void rq_futex(atomic_int *addr, int op, int val) {
    (void)syscall(SYS_futex, (int *)addr, op, val, NULL, NULL, 0);
}

static void *rq_worker(void *unused) {
    (void)unused;
    for (;;) {
        /* Acquire: pairs with the pushers' CAS, so each object's last
         * writes before retirement are visible to its callback. */
        struct gomap__rcu_head *batch = atomic_exchange(&rq_head, NULL);
        if (!batch) {
            atomic_store(&rq_sleeping, 1);
            if (atomic_load(&rq_head) == NULL)
                rq_futex(&rq_sleeping, FUTEX_WAIT_PRIVATE, 1);
            atomic_store(&rq_sleeping, 0);
            continue;
        }
        /* Every section that could hold a batch object began before its
         * retirement, hence before this call: it waits for all of them. */
        urcu_memb_synchronize_rcu();
        TSAN_ACQUIRE(&gomap_rcu_tsan_sync);
        long n = 0;
        while (batch) {
            struct gomap__rcu_head *next = batch->next;
            batch->fn(batch);
            batch = next;
            n++;
        }
        if (n >= RQ_BATCH) {
            struct timespec ts = {0, RQ_BATCH_PAUSE};
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

static void rq_start(void) {
    pthread_mutex_lock(&rq_start_lock);
    if (!atomic_load_explicit(&rq_started, memory_order_relaxed)) {
        /* The thread takes no signals: the application's handlers run in
         * its own threads. */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_t tid;
        int err = pthread_create(&tid, &attr, rq_worker, NULL);
        pthread_attr_destroy(&attr);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (err != 0) {
            fprintf(stderr, "gomap: internal error: cannot start the RCU reclaimer thread (%s)\n",
                    strerror(err));
            abort();
        }
        atomic_store_explicit(&rq_started, true, memory_order_release);
    }
    pthread_mutex_unlock(&rq_start_lock);
}

/* A forked child has no reclaimer thread: its first retirement starts one. */
static void rq_after_fork_child(void) {
    atomic_store_explicit(&rq_started, false, memory_order_relaxed);
    atomic_store_explicit(&rq_sleeping, 0, memory_order_relaxed);
    pthread_mutex_init(&rq_start_lock, NULL);
}

static pthread_once_t rq_atfork_once = PTHREAD_ONCE_INIT;
static void rq_install_atfork(void) {
    pthread_atfork(NULL, NULL, rq_after_fork_child);
}

void gomap__rcu_retire(struct gomap__reclaim *r, struct gomap__rcu_head *head,
                       void (*fn)(struct gomap__rcu_head *)) {
    /* Relaxed: the increments only have to be visible to the callback's
     * decrement, which the queue orders after them. */
    atomic_fetch_add_explicit(&r->pending, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&rcu_pending_all, 1, memory_order_relaxed);
    if (!atomic_load_explicit(&rq_started, memory_order_acquire)) {
        pthread_once(&rq_atfork_once, rq_install_atfork);
        rq_start();
    }
    head->fn = fn;
    struct gomap__rcu_head *old = atomic_load_explicit(&rq_head, memory_order_relaxed);
    do
        head->next = old;
    while (!atomic_compare_exchange_weak(&rq_head, &old, head));
    if (atomic_load(&rq_sleeping) && atomic_exchange(&rq_sleeping, 0))
        rq_futex(&rq_sleeping, FUTEX_WAKE_PRIVATE, 1);
}

void gomap__rcu_callback_begin(struct gomap__rcu_head *head) {
    /* The queue's atomics already order the retirer before the callback;
     * this covers the readers (see reclaim.h). */
    TSAN_ACQUIRE(&gomap_rcu_tsan_sync);
    (void)head;
}

void gomap__rcu_reclaimed(struct gomap__reclaim *r) {
    atomic_fetch_sub_explicit(&r->pending, 1, memory_order_release);
    atomic_fetch_sub_explicit(&rcu_pending_all, 1, memory_order_release);
}

/* Polls until *count is 0.  Acquire pairs with the callbacks' release
 * decrements.  Sleeps grow from 20 us to 1 ms: a grace period takes from
 * microseconds to milliseconds (plus up to 1 ms of batching under load). */
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
    /* Not a global barrier: only this map's objects matter. */
    rcu_wait_zero(NULL, &r->pending);
}

void gomap__rcu_throttle(struct gomap__reclaim *r, size_t limit) {
    /* Relaxed: only a heuristic of how far the reclaimer lags; nothing is
     * accessed on the strength of it. */
    if (atomic_load_explicit(&r->pending, memory_order_relaxed) <= limit || gomap__rcu_in_section())
        return;
    long waited = 0, ns = 20000;
    while (atomic_load_explicit(&r->pending, memory_order_relaxed) > limit / 2 &&
           waited < 2000000) {
        struct timespec ts = {0, ns};
        nanosleep(&ts, NULL);
        waited += ns;
        if (ns < 500000)
            ns *= 2;
    }
}

void gomap__rcu_barrier(void) {
    rcu_wait_zero(&rcu_pending_all, NULL);
}
