/* RCU for syncmap and cowmap: lazy thread registration, the reclaimer
 * thread and its queue, per-map accounting, and ThreadSanitizer annotations.  The design
 * and its caveats are in reclaim.h. */
#include "reclaim.h"
#include "reclaim_inline.h"

#include <urcu/list.h>
#include <urcu/static/urcu-common.h>
#include <urcu/urcu-memb.h>

#include <dlfcn.h>
#include <linux/futex.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "detect.h"
#include "tsan.h"

/* The object every section releases on exit and every callback acquires
 * before freeing (see reclaim.h).  Grace periods are invisible to TSan in
 * every build, so this edge is announced in every build in which the
 * program runs under TSan (tsan.h). */
static char gomap_rcu_tsan_sync;
#define TSAN_RELEASE(p) GOMAP__SYNC_RELEASE(p)
#define TSAN_ACQUIRE(p) GOMAP__SYNC_ACQUIRE(p)

/* The calling thread's state.  Only its own thread reads and writes it.
 *   registered  registered with urcu-memb;
 *   exiting     the thread is running its TLS destructors and gomap's has
 *               run: from then on each outermost section registers the
 *               thread and unregisters it again when it ends, so a later
 *               destructor (any round) may still use a syncmap or cowmap
 *               and the thread never exits registered;
 *   owed        the thread retired objects inside its current section
 *               without waking the reclaimer (it was the only registered
 *               thread, see gomap__rcu_retire): its outermost exit frees
 *               them or wakes the reclaimer;
 *   reader      &urcu_memb_reader while the thread may take the inline
 *               sections (rcu_inline_ok), NULL otherwise: unlike
 *               gomap__rcu_reader it stays set while the thread is owed, so
 *               that the sections of reclaim.c (cowmap's, syncmap's writes,
 *               and the exits of an owed section) run the same protocol as
 *               reclaim_inline.h's instead of liburcu's calls, each of which
 *               reaches the record through __tls_get_addr (gomap__rcu_enter below).
 * initial-exec: the library is position-independent, and the default model
 * would call __tls_get_addr on every load (measured: visible in a profile of
 * in-cache loads); these 16 bytes fit the static TLS that glibc keeps spare
 * (hundreds of bytes), so libgomap.so can still be loaded with dlopen. */
static _Thread_local struct {
    bool registered;
    bool exiting;
    bool owed;
    struct urcu_reader *reader;
} rcu_tls __attribute__((tls_model("initial-exec")));

/* liburcu-memb's per-thread reader record (urcu/static/urcu-memb.h); its
 * `node` links the thread into liburcu's registry of readers. */
extern __thread struct urcu_reader urcu_memb_reader;

/* reclaim_inline.h's fast path: &urcu_memb_reader while the thread is
 * registered, not exiting, the program does not run under TSan and liburcu
 * uses membarrier; NULL otherwise.  Set by rcu_register, cleared by
 * rcu_unregister and the exit destructor, so only outside the thread's
 * sections. */
_Thread_local struct urcu_reader *gomap__rcu_reader __attribute__((tls_model("initial-exec")));

/* Whether a registered thread may take the inline sections.  Only with
 * membarrier: the inline side then needs compiler barriers alone, and never
 * reads liburcu's mode flag (it is set when liburcu initialises, which
 * registration has done, and never changes after); without membarrier
 * every section takes reclaim.c's path, whose fences liburcu supplies. */
static bool rcu_inline_ok(void) {
    return !rcu_tls.exiting && !GOMAP__TSAN_RUNNING() && urcu_memb_has_sys_membarrier;
}

/* The threads gomap registered, so that a forked child can take the
 * parent's other threads (which do not exist in the child) out of liburcu's
 * registry.  Each node lives in its thread's TLS.  Under rcu_reg_lock. */
struct rcu_thread {
    struct rcu_thread *next, *prev;
    struct urcu_reader *reader;
};
static _Thread_local struct rcu_thread rcu_self;
static struct rcu_thread *rcu_threads;

/* The number of threads on rcu_threads.  Written under rcu_reg_lock; read
 * relaxed by gomap__rcu_retire as a hint only (whether the retiring thread
 * may be the only registered one): rcu_reclaim_alone decides under the
 * lock. */
static atomic_int rcu_nthreads;

/* Fork safety.  A child has only the thread that called fork; liburcu's
 * registry still lists the others, and a lock that one of them held is held
 * for ever.  So every call into liburcu that takes its locks happens under
 * one of these, and the fork handlers take both:
 *   rcu_reg_lock  around registering and unregistering a thread;
 *   rcu_gp_lock   around the reclaimer's whole batch (taking the queue, the
 *                 grace period, the callbacks), so that no batch is in
 *                 flight at a fork: every retired object is either freed or
 *                 still in the queue, which the child's reclaimer serves.
 * Two locks, not one: a thread starting while a grace period waits on a
 * long section must still be able to register (liburcu allows it). */
static pthread_mutex_t rcu_reg_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t rcu_gp_lock = PTHREAD_MUTEX_INITIALIZER;

static pthread_key_t rcu_exit_key;
static pthread_once_t rcu_init_once = PTHREAD_ONCE_INIT;

static void rcu_register(void) {
    pthread_mutex_lock(&rcu_reg_lock);
    urcu_memb_register_thread();
    rcu_self.reader = &urcu_memb_reader;
    rcu_self.prev = NULL;
    rcu_self.next = rcu_threads;
    if (rcu_threads)
        rcu_threads->prev = &rcu_self;
    rcu_threads = &rcu_self;
    atomic_fetch_add_explicit(&rcu_nthreads, 1, memory_order_relaxed);
    pthread_mutex_unlock(&rcu_reg_lock);
    rcu_tls.registered = true;
    if (rcu_inline_ok()) {
        rcu_tls.reader = &urcu_memb_reader;
        gomap__rcu_reader = &urcu_memb_reader;
    }
}

static void rcu_unregister(void) {
    pthread_mutex_lock(&rcu_reg_lock);
    urcu_memb_unregister_thread();
    if (rcu_self.prev)
        rcu_self.prev->next = rcu_self.next;
    else
        rcu_threads = rcu_self.next;
    if (rcu_self.next)
        rcu_self.next->prev = rcu_self.prev;
    atomic_fetch_sub_explicit(&rcu_nthreads, 1, memory_order_relaxed);
    pthread_mutex_unlock(&rcu_reg_lock);
    rcu_tls.registered = false;
    rcu_tls.reader = NULL;
    gomap__rcu_reader = NULL;
}

/* Runs among the thread's TLS destructors (the key's value is non-NULL only
 * for registered threads).  A thread cannot exit inside one of gomap's
 * sections. */
static void rcu_unregister_at_exit(void *unused) {
    (void)unused;
    rcu_tls.exiting = true;
    rcu_tls.reader = NULL;
    gomap__rcu_reader = NULL;
    if (rcu_tls.registered)
        rcu_unregister();
}

static void rcu_prefork(void);
static void rcu_postfork_parent(void);
static void rcu_postfork_child(void);

/* Once per process, at the first section or retirement: the exit key, the
 * fork handlers, and the library made non-unloadable.  From now on threads
 * may run gomap code (the reclaimer) or hold a TLS destructor in it (every
 * registered thread), so a dlclose that unmapped libgomap.so would leave
 * them calling into unmapped memory: RTLD_NODELETE on the already loaded
 * object makes dlclose keep it (glibc's `-z nodelete`, set at run time).
 * In a static link dladdr names the executable, and the call is harmless. */
static void rcu_init(void) {
    if (pthread_key_create(&rcu_exit_key, rcu_unregister_at_exit) != 0 ||
        pthread_atfork(rcu_prefork, rcu_postfork_parent, rcu_postfork_child) != 0) {
        gomap__internal_error("cannot set up the RCU thread-exit and fork handlers");
    }
    Dl_info info;
    if (dladdr((void *)&rcu_init, &info) && info.dli_fname)
        (void)dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
}

static void rcu_register_slow(void) {
    pthread_once(&rcu_init_once, rcu_init);
    rcu_register();
    /* Any non-NULL value: it only makes the destructor run at exit.  It
     * can fail only for want of memory for the thread's key block (glibc
     * keeps the first 32 keys in the thread descriptor); the thread would
     * then exit registered, which nothing here can repair. */
    if (!rcu_tls.exiting)
        (void)pthread_setspecific(rcu_exit_key, &rcu_tls);
}

/* Whether the calling (registered) thread is inside a section: liburcu's
 * urcu_memb_read_ongoing, the nesting count of its record, read through
 * rcu_tls.reader when it is set (relaxed: only the thread itself writes
 * it). */
static inline bool rcu_ongoing(void) {
#ifndef GOMAP__TSAN
    struct urcu_reader *r = rcu_tls.reader;
    if (__builtin_expect(r != NULL, 1))
        return (__atomic_load_n(&r->ctr, __ATOMIC_RELAXED) & URCU_GP_CTR_NEST_MASK) != 0;
#endif
    return urcu_memb_read_ongoing();
}

/* A section runs reclaim_inline.h's protocol on rcu_tls.reader when the
 * thread may take it, liburcu's calls otherwise (TSan, no membarrier, an
 * exiting thread).  The two are the same protocol on the same record, and
 * rcu_tls.reader changes only outside the thread's sections, so an entry
 * and its exit take the same path.  liburcu's calls cost a call through the
 * PLT and a __tls_get_addr each (its record lives in its own shared
 * object), two or three of them per section. */
void gomap__rcu_enter(void) {
    if (__builtin_expect(!rcu_tls.registered, 0))
        rcu_register_slow();
#ifndef GOMAP__TSAN
    if (__builtin_expect(rcu_tls.reader != NULL, 1)) {
        gomap__rcu_enter_reader(rcu_tls.reader);
        return;
    }
#endif
    urcu_memb_read_lock();
}

static void rcu_settle_owed(void);

void gomap__rcu_exit(void) {
    TSAN_RELEASE(&gomap_rcu_tsan_sync);
#ifndef GOMAP__TSAN
    struct urcu_reader *r = rcu_tls.reader;
    bool wake = r != NULL && gomap__rcu_exit_reader(r);
    if (__builtin_expect(wake, 0))
        gomap__rcu_wake_gp();
    if (r == NULL)
#endif
        urcu_memb_read_unlock();
    if (__builtin_expect(rcu_tls.owed, 0) && !rcu_ongoing())
        rcu_settle_owed();
    if (__builtin_expect(rcu_tls.exiting, 0) && !rcu_ongoing())
        rcu_unregister();
}

void gomap__rcu_wake_gp(void) {
    urcu_common_wake_up_gp(&urcu_memb_gp);
}

bool gomap__rcu_in_section(void) {
    return rcu_tls.registered && rcu_ongoing();
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

/* rq_batches: batches the reclaimer has finished (a throttled writer waits
 * for as long as this moves, see gomap__rcu_throttle).  rq_throttled: writers
 * waiting in gomap__rcu_throttle; while any does, the reclaimer skips its
 * pause, since a writer waiting on the backlog is worth more than batching.
 * Both relaxed: heuristics, nothing is accessed on the strength of them. */
static atomic_ulong rq_batches;
static atomic_int rq_throttled;
/* Throttle calls that waited, for gomap__rcu_paced (relaxed: a count). */
static atomic_ulong rq_paced;

/* How long a batch (grace period and callbacks) has been taking: a moving
 * average in ns, written by the reclaimer after each batch, read by
 * throttled writers to tell a slow batch from a stalled reader.  Relaxed: a
 * heuristic. */
static atomic_long rq_batch_ns;

static long rq_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000000000L + ts.tv_nsec;
}

static void rq_futex(atomic_int *addr, int op, int val) {
    (void)syscall(SYS_futex, addr, op, val, NULL, NULL, 0);
}

static void *rq_worker(void *unused) {
    (void)unused;
    for (;;) {
        pthread_mutex_lock(&rcu_gp_lock);
        /* Acquire: pairs with the pushers' CAS, so each object's last
         * writes before retirement are visible to its callback. */
        struct gomap__rcu_head *batch = atomic_exchange(&rq_head, NULL);
        if (!batch) {
            pthread_mutex_unlock(&rcu_gp_lock);
            atomic_store(&rq_sleeping, 1);
            if (atomic_load(&rq_head) == NULL)
                rq_futex(&rq_sleeping, FUTEX_WAIT_PRIVATE, 1);
            atomic_store(&rq_sleeping, 0);
            continue;
        }
        /* Every section that could hold a batch object began before its
         * retirement, hence before this call: it waits for all of them. */
        long t0 = rq_now_ns();
        urcu_memb_synchronize_rcu();
        TSAN_ACQUIRE(&gomap_rcu_tsan_sync);
        long n = 0;
        while (batch) {
            struct gomap__rcu_head *next = batch->next;
            batch->fn(batch);
            batch = next;
            n++;
        }
        pthread_mutex_unlock(&rcu_gp_lock);
        long took = rq_now_ns() - t0,
             avg = atomic_load_explicit(&rq_batch_ns, memory_order_relaxed);
        atomic_store_explicit(&rq_batch_ns, avg + (took - avg) / 8, memory_order_relaxed);
        atomic_fetch_add_explicit(&rq_batches, 1, memory_order_relaxed);
        if (n >= RQ_BATCH && atomic_load_explicit(&rq_throttled, memory_order_relaxed) == 0) {
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
            char msg[160];
            snprintf(msg, sizeof msg, "cannot start the RCU reclaimer thread (%s)", strerror(err));
            gomap__internal_error(msg);
        }
        atomic_store_explicit(&rq_started, true, memory_order_release);
    }
    pthread_mutex_unlock(&rq_start_lock);
}

/* ---- fork ----------------------------------------------------------------
 * See rcu_reg_lock.  The forking thread must not be inside a section while it
 * waits for rcu_gp_lock: the grace period holding it may wait for that very
 * section.  In a section (fork from a range callback) it only tries, and a
 * fork that cannot proceed is a fatal error rather than a hang. */
static void rcu_prefork(void) {
    if (!gomap__rcu_in_section()) {
        pthread_mutex_lock(&rcu_reg_lock);
        pthread_mutex_lock(&rcu_gp_lock);
        return;
    }
    for (int i = 0; i < 2000; i++) {
        if (pthread_mutex_trylock(&rcu_reg_lock) == 0) {
            if (pthread_mutex_trylock(&rcu_gp_lock) == 0)
                return;
            pthread_mutex_unlock(&rcu_reg_lock);
        }
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    gomap__fatal("fork called inside a syncmap/cowmap range callback while a grace period waits "
                 "for that callback");
}

static void rcu_postfork_parent(void) {
    pthread_mutex_unlock(&rcu_gp_lock);
    pthread_mutex_unlock(&rcu_reg_lock);
}

/* The child: only this thread exists.  Every other thread gomap registered
 * leaves liburcu's registry (their TLS, where the registry's nodes live, is
 * still mapped at this point); a thread of the parent that was inside a
 * section would otherwise make every grace period wait for ever, and its
 * node would be overwritten when glibc reuses its stack.  The reclaimer
 * thread is gone too: the next retirement or drain starts a new one, which
 * serves the objects still queued. */
static void rcu_postfork_child(void) {
    for (struct rcu_thread *t = rcu_threads, *next; t; t = next) {
        next = t->next;
        if (t != &rcu_self)
            cds_list_del(&t->reader->node);
    }
    rcu_threads = NULL;
    if (rcu_tls.registered) {
        rcu_self.next = rcu_self.prev = NULL;
        rcu_threads = &rcu_self;
    }
    atomic_store_explicit(&rcu_nthreads, rcu_tls.registered ? 1 : 0, memory_order_relaxed);
    /* rcu_prefork took both locks on this very thread, so they are released
     * the ordinary way (re-initializing a mutex the thread holds would leave
     * ThreadSanitizer believing it still held).  rq_start_lock may have been
     * held by a thread that no longer exists: it is re-initialized. */
    pthread_mutex_unlock(&rcu_gp_lock);
    pthread_mutex_unlock(&rcu_reg_lock);
    atomic_store_explicit(&rq_started, false, memory_order_relaxed);
    atomic_store_explicit(&rq_sleeping, 0, memory_order_relaxed);
    pthread_mutex_init(&rq_start_lock, NULL);
}

/* Whether no thread but the caller can be inside a read-side section:
 * gomap registered no thread other than the caller (the only threads that
 * can be inside a section, since every section registers its thread
 * first).  The caller checks that it is outside any section itself.  Under
 * rcu_reg_lock, so no thread registers or unregisters during the check: a
 * thread registered earlier ended its sections before its unregistration,
 * which the lock orders before this check; one that registers later starts
 * its sections after the caller's unlock, and so sees every unlink made
 * before it. */
static bool rcu_alone_locked(void) {
    return rcu_threads == NULL || (rcu_threads == &rcu_self && rcu_self.next == NULL);
}

/* Frees every queued object on the calling thread, without a grace period,
 * when no other thread can be inside a section (rcu_alone_locked): an
 * object is retired only once unlinked, so only a section that began before
 * its retirement can hold it, and none can be running.  This is what lets a
 * single-threaded program free a map, or a writer paced on the backlog go
 * on, without handing over to the reclaimer thread and sleeping until a
 * grace period there has ended.  `wait`: wait for a batch the reclaimer has
 * in flight (its grace period cannot be held up by a section: none exists)
 * instead of giving up.  Returns whether it ran (false: another thread is
 * registered, the caller is inside a section, or the locks were busy; the
 * caller then waits for the reclaimer as before).
 *
 * Both fork locks are taken, in the fork handlers' order: rcu_gp_lock
 * around the callbacks (no batch half done at a fork), rcu_reg_lock around
 * the check and the taking of the queue (trylock after rcu_gp_lock, so the
 * order reg -> gp of rcu_prefork cannot deadlock with it). */
static bool rcu_reclaim_alone(bool wait) {
    /* The count is a hint, read first to spare the locks when other
     * threads are registered. */
    if (gomap__rcu_in_section() || atomic_load_explicit(&rcu_nthreads, memory_order_relaxed) > 1)
        return false;
    if (wait)
        pthread_mutex_lock(&rcu_gp_lock);
    else if (pthread_mutex_trylock(&rcu_gp_lock) != 0)
        return false;
    struct gomap__rcu_head *batch = NULL;
    bool alone = false;
    if (pthread_mutex_trylock(&rcu_reg_lock) == 0) {
        alone = rcu_alone_locked();
        /* Acquire: pairs with the pushers' CAS, as in rq_worker. */
        if (alone)
            batch = atomic_exchange(&rq_head, NULL);
        pthread_mutex_unlock(&rcu_reg_lock);
    }
    if (batch) {
        TSAN_ACQUIRE(&gomap_rcu_tsan_sync);
        while (batch) {
            struct gomap__rcu_head *next = batch->next;
            batch->fn(batch);
            batch = next;
        }
    }
    pthread_mutex_unlock(&rcu_gp_lock);
    if (alone) /* progress, for writers paced in gomap__rcu_throttle */
        atomic_fetch_add_explicit(&rq_batches, 1, memory_order_relaxed);
    return alone;
}

/* Frees one object just retired outside any section, on the calling thread,
 * when no other thread can be inside a section (see rcu_reclaim_alone): the
 * object is unlinked, so no section begun later can find it.  rcu_gp_lock
 * is held around the callback, as around a batch, so that a fork never
 * sees it half done.  Returns whether it did (false: not alone, or a lock
 * was busy; the object is then queued as usual). */
static bool rcu_free_alone(struct gomap__rcu_head *head, void (*fn)(struct gomap__rcu_head *)) {
    if (pthread_mutex_trylock(&rcu_gp_lock) != 0)
        return false;
    bool alone = false;
    if (pthread_mutex_trylock(&rcu_reg_lock) == 0) {
        alone = rcu_alone_locked();
        pthread_mutex_unlock(&rcu_reg_lock);
    }
    if (alone) {
        TSAN_ACQUIRE(&gomap_rcu_tsan_sync);
        fn(head);
    }
    pthread_mutex_unlock(&rcu_gp_lock);
    return alone;
}

/* Wakes the reclaimer after a push (the handshake of rq_head), starting
 * it if it is not running yet: the thread is started by the first object
 * it has to serve, so a program whose threads never share these maps' RCU
 * (one thread, see rcu_reclaim_alone) never starts it.  A new thread takes
 * the queue on its first round. */
static void rq_wake(void) {
    if (!atomic_load_explicit(&rq_started, memory_order_acquire)) {
        rq_start();
        return;
    }
    if (atomic_load(&rq_sleeping) && atomic_exchange(&rq_sleeping, 0))
        rq_futex(&rq_sleeping, FUTEX_WAKE_PRIVATE, 1);
}

/* Wakes (or starts) the reclaimer if objects are queued: those retired
 * without waking it (gomap__rcu_retire), when they could not be freed on
 * their own thread after all. */
static void rq_kick(void) {
    if (atomic_load(&rq_head))
        rq_wake();
}

/* The outermost exit of a section in which the thread retired objects
 * without waking the reclaimer: frees them here (the thread is now outside
 * any section) when it is still the only registered thread, else hands them
 * to the reclaimer.  Either way no object stays queued with the reclaimer
 * asleep. */
static void rcu_settle_owed(void) {
    rcu_tls.owed = false;
    gomap__rcu_reader = rcu_tls.reader;
    if (!rcu_reclaim_alone(false))
        rq_kick();
}

void gomap__rcu_retire(struct gomap__reclaim *r, struct gomap__rcu_head *head,
                       void (*fn)(struct gomap__rcu_head *)) {
    gomap__rcu_retire_sized(r, head, fn, 0);
}

void gomap__rcu_retire_sized(struct gomap__reclaim *r, struct gomap__rcu_head *head,
                             void (*fn)(struct gomap__rcu_head *), size_t bytes) {
    /* Relaxed: the increments only have to be visible to the callback's
     * decrement, which the queue orders after them.  (bytes 0: a map that
     * does not count bytes never touches its byte count.) */
    if (bytes)
        atomic_fetch_add_explicit(&r->pending_bytes, bytes, memory_order_relaxed);
    atomic_fetch_add_explicit(&r->pending, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&rcu_pending_all, 1, memory_order_relaxed);
    /* The fork handlers, before anything is queued. */
    pthread_once(&rcu_init_once, rcu_init);
    /* Outside any section (a lock-protected map's deferred free), a thread
     * that seems to be the only registered one (the count is a hint) frees
     * at once when it is. */
    bool in_section = gomap__rcu_in_section();
    if (!in_section && atomic_load_explicit(&rcu_nthreads, memory_order_relaxed) <= 1 &&
        rcu_free_alone(head, fn))
        return;
    head->fn = fn;
    struct gomap__rcu_head *old = atomic_load_explicit(&rq_head, memory_order_relaxed);
    do
        head->next = old;
    while (!atomic_compare_exchange_weak(&rq_head, &old, head));
    /* A thread that seems to be the only registered one (the count is a
     * hint) retiring inside its section leaves the reclaimer asleep: at its
     * outermost exit (rcu_settle_owed) it frees the object itself if no
     * other thread registered meanwhile, which needs no grace period, and
     * wakes the reclaimer otherwise.  A single-threaded program so never
     * hands its garbage over to the reclaimer, whose grace periods
     * (membarrier, and a futex wake-up at the end of the thread's next
     * section) would cost it more than the frees.  Clearing
     * gomap__rcu_reader sends the exit of a section entered inline through
     * gomap__rcu_exit, which settles (the two exits run the same protocol,
     * reclaim_inline.h). */
    if (in_section && !rcu_tls.exiting &&
        atomic_load_explicit(&rcu_nthreads, memory_order_relaxed) == 1) {
        rcu_tls.owed = true;
        gomap__rcu_reader = NULL;
        return;
    }
    rq_wake();
}

void gomap__rcu_callback_begin(struct gomap__rcu_head *head) {
    /* The queue's atomics already order the retirer before the callback;
     * this covers the readers (see reclaim.h). */
    TSAN_ACQUIRE(&gomap_rcu_tsan_sync);
    (void)head;
}

void gomap__rcu_reclaimed(struct gomap__reclaim *r) {
    gomap__rcu_reclaimed_sized(r, 0);
}

void gomap__rcu_reclaimed_sized(struct gomap__reclaim *r, size_t bytes) {
    /* Relaxed, and before the object count: the byte count is only the
     * pacing's heuristic, and the release decrement below must stay the
     * last access to the map (its drain may free r right after it). */
    if (bytes)
        atomic_fetch_sub_explicit(&r->pending_bytes, bytes, memory_order_relaxed);
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
        rq_kick();
        struct timespec ts = {0, ns};
        nanosleep(&ts, NULL);
        if (ns < 1000000)
            ns *= 2;
    }
}

void gomap__rcu_free_check(const char *who) {
    if (gomap__rcu_in_section()) {
        char msg[200];
        snprintf(msg, sizeof msg,
                 "%s called inside a syncmap/cowmap range callback (it would wait for its own "
                 "read-side section)",
                 who);
        gomap__fatal(msg);
    }
}

void gomap__rcu_drain(struct gomap__reclaim *r, const char *who) {
    if (atomic_load_explicit(&r->pending, memory_order_acquire) == 0)
        return;
    gomap__rcu_free_check(who);
    /* The caller has the map to itself, so none of its objects is retired
     * any more: once an in-flight batch has ended and the queue is freed,
     * none is pending. */
    if (rcu_reclaim_alone(true) && atomic_load_explicit(&r->pending, memory_order_acquire) == 0)
        return;
    /* Not a global barrier: only this map's objects matter.  (A forked
     * child inherits queued objects but no reclaimer: the wait starts one,
     * rq_kick.) */
    rcu_wait_zero(NULL, &r->pending);
}

/* The pacing of gomap__rcu_throttle and gomap__rcu_throttle_bytes, on one
 * of r's counts (objects or bytes). */
static void rcu_throttle_on(atomic_size_t *count, size_t limit) {
    /* Relaxed: only a heuristic of how far the reclaimer lags; nothing is
     * accessed on the strength of it. */
    if (atomic_load_explicit(count, memory_order_relaxed) <= limit || gomap__rcu_in_section())
        return;
    if (rcu_reclaim_alone(false) && atomic_load_explicit(count, memory_order_relaxed) <= limit / 2)
        return;
    /* Waits while the reclaimer makes progress (each finished batch restarts
     * the clock): a reclaimer that merely lags, for want of a CPU or behind
     * other maps' batches, is waited for, so the backlog stays bounded.  Only
     * when no batch finishes for 10 ms, or 4 times as long as batches have
     * been taking if that is longer (slow readers; at most 20 ms), does the
     * writer go on: a reader stalled in a section, with which no grace
     * period can end, then slows writers instead of blocking them.  The
     * patience is that long because a reader preempted inside its section
     * on a busy machine looks the same as a stalled one for a while
     * (docs/hardening.md, section 5). */
    long patience = 4 * atomic_load_explicit(&rq_batch_ns, memory_order_relaxed);
    patience = patience < 10000000 ? 10000000 : patience > 20000000 ? 20000000 : patience;
    atomic_fetch_add_explicit(&rq_throttled, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&rq_paced, 1, memory_order_relaxed);
    unsigned long seen = atomic_load_explicit(&rq_batches, memory_order_relaxed);
    long idle = 0, ns = 20000;
    while (atomic_load_explicit(count, memory_order_relaxed) > limit / 2 && idle < patience) {
        /* The reclaimer had a batch in flight, or another thread was
         * registering: try again after each pause. */
        if (rcu_reclaim_alone(false) &&
            atomic_load_explicit(count, memory_order_relaxed) <= limit / 2)
            break;
        struct timespec ts = {0, ns};
        nanosleep(&ts, NULL);
        unsigned long now = atomic_load_explicit(&rq_batches, memory_order_relaxed);
        if (now != seen) {
            seen = now;
            idle = 0;
            ns = 20000;
        } else {
            idle += ns;
            if (ns < 500000)
                ns *= 2;
        }
    }
    atomic_fetch_sub_explicit(&rq_throttled, 1, memory_order_relaxed);
}

void gomap__rcu_throttle(struct gomap__reclaim *r, size_t limit) {
    rcu_throttle_on(&r->pending, limit);
}

void gomap__rcu_throttle_bytes(struct gomap__reclaim *r, size_t limit) {
    rcu_throttle_on(&r->pending_bytes, limit);
}

unsigned long gomap__rcu_paced(void) {
    return atomic_load_explicit(&rq_paced, memory_order_relaxed);
}

void gomap__rcu_barrier(void) {
    rcu_wait_zero(&rcu_pending_all, NULL);
}
