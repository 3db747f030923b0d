/*
 * gomap/annotate.h — compile-time detection of unguarded map use, with
 * Clang's thread-safety analysis (-Wthread-safety).
 *
 * A gomap is not safe for concurrent use: the runtime detector catches a
 * conflict when it happens (gomap.h, "Concurrent misuse").  These
 * annotations catch the mistake before the program runs: declare which lock
 * guards a map, and clang warns at every access made without holding it.
 *
 *     #include <gomap/annotate.h>
 *
 *     static gomap_mutex mu = GOMAP_MUTEX_INIT;
 *     static gomap_u64u64 *m GOMAP_GUARDED_BY(mu);
 *
 *     void put(uint64_t k, uint64_t v) {
 *         gomap_mutex_lock(&mu);
 *         gomap_u64u64_set(m, k, v);      // fine: mu is held
 *         gomap_mutex_unlock(&mu);
 *         gomap_u64u64_set(m, k, v);      // warning: reading variable 'm'
 *     }                                   // requires holding mutex 'mu'
 *
 *     $ clang -Wthread-safety -c put.c
 *
 * What it checks: every read or write of a variable declared
 * GOMAP_GUARDED_BY(mu) (the map handle: calling any gomap function with it
 * reads it) happens with mu held — exclusively for a write of the variable,
 * at least shared for a read; a function declared GOMAP_REQUIRES(mu) is
 * called with mu held; locks are released on every path; a lock is not
 * taken twice.  It is a static analysis of each function on its own (no
 * aliasing, no inter-procedural inference): it cannot see a handle copied
 * into an unguarded variable or passed through a pointer, a map shared by
 * other means, nor whether a lock-free read phase (gomap.h: concurrent
 * reads are allowed) is really free of writers — it warns about reads made
 * without the lock even when only readers run.  Reading under the shared
 * side of gomap_rwlock is accepted; gomap's calls that only read take the
 * handle as `const gomap *`, but the analysis judges the handle variable,
 * not the call, so a write (gomap_set) under a shared lock is not flagged.
 *
 * On compilers without the analysis (gcc, older clang) every macro expands
 * to nothing and gomap_mutex is a plain wrapper of pthread_mutex_t.
 */
#ifndef GOMAP_ANNOTATE_H
#define GOMAP_ANNOTATE_H

#include <pthread.h>

#if defined(__clang__) && defined(__has_attribute)
#if __has_attribute(capability)
#define GOMAP__TSA(x) __attribute__((x))
#endif
#endif
#ifndef GOMAP__TSA
#define GOMAP__TSA(x)
#endif

/* A type that is a lock ("capability"): gomap_mutex, gomap_rwlock, or a
 * program's own lock type. */
#define GOMAP_CAPABILITY(name) GOMAP__TSA(capability(name))
/* A variable that may be accessed only holding `lock`. */
#define GOMAP_GUARDED_BY(lock) GOMAP__TSA(guarded_by(lock))
/* A pointer whose pointee may be accessed only holding `lock`. */
#define GOMAP_PT_GUARDED_BY(lock) GOMAP__TSA(pt_guarded_by(lock))
/* A function that must be called holding the lock(s) exclusively / shared. */
#define GOMAP_REQUIRES(...)        GOMAP__TSA(requires_capability(__VA_ARGS__))
#define GOMAP_REQUIRES_SHARED(...) GOMAP__TSA(requires_shared_capability(__VA_ARGS__))
/* A function that must be called without holding the lock(s). */
#define GOMAP_EXCLUDES(...) GOMAP__TSA(locks_excluded(__VA_ARGS__))
/* Lock and unlock functions (for a program's own lock wrappers). */
#define GOMAP_ACQUIRE(...)            GOMAP__TSA(acquire_capability(__VA_ARGS__))
#define GOMAP_ACQUIRE_SHARED(...)     GOMAP__TSA(acquire_shared_capability(__VA_ARGS__))
#define GOMAP_RELEASE(...)            GOMAP__TSA(release_capability(__VA_ARGS__))
#define GOMAP_RELEASE_SHARED(...)     GOMAP__TSA(release_shared_capability(__VA_ARGS__))
#define GOMAP_RELEASE_GENERIC(...)    GOMAP__TSA(release_generic_capability(__VA_ARGS__))
#define GOMAP_TRY_ACQUIRE(...)        GOMAP__TSA(try_acquire_capability(__VA_ARGS__))
#define GOMAP_TRY_ACQUIRE_SHARED(...) GOMAP__TSA(try_acquire_shared_capability(__VA_ARGS__))
/* A function the analysis skips (a lock wrapper's own body). */
#define GOMAP_NO_THREAD_SAFETY_ANALYSIS GOMAP__TSA(no_thread_safety_analysis)

/* A mutex the analysis knows: pthread_mutex_t with annotated lock and
 * unlock.  Invariant: `m` is only locked and unlocked through these. */
typedef struct GOMAP_CAPABILITY("mutex") gomap_mutex {
    pthread_mutex_t m;
} gomap_mutex;
#define GOMAP_MUTEX_INIT                                                                           \
    { PTHREAD_MUTEX_INITIALIZER }

static inline void gomap_mutex_lock(gomap_mutex *mu)
    GOMAP_ACQUIRE(mu) GOMAP_NO_THREAD_SAFETY_ANALYSIS {
    pthread_mutex_lock(&mu->m);
}
static inline void gomap_mutex_unlock(gomap_mutex *mu)
    GOMAP_RELEASE(mu) GOMAP_NO_THREAD_SAFETY_ANALYSIS {
    pthread_mutex_unlock(&mu->m);
}
/* Returns nonzero when it took the lock. */
static inline int gomap_mutex_trylock(gomap_mutex *mu)
    GOMAP_TRY_ACQUIRE(1, mu) GOMAP_NO_THREAD_SAFETY_ANALYSIS {
    return pthread_mutex_trylock(&mu->m) == 0;
}

/* A reader-writer lock the analysis knows (pthread_rwlock_t): many readers
 * (gomap_rwlock_rdlock, for calls that only read: get, len, iteration) or
 * one writer. */
typedef struct GOMAP_CAPABILITY("mutex") gomap_rwlock {
    pthread_rwlock_t l;
} gomap_rwlock;
#define GOMAP_RWLOCK_INIT                                                                          \
    { PTHREAD_RWLOCK_INITIALIZER }

static inline void gomap_rwlock_rdlock(gomap_rwlock *l)
    GOMAP_ACQUIRE_SHARED(l) GOMAP_NO_THREAD_SAFETY_ANALYSIS {
    pthread_rwlock_rdlock(&l->l);
}
static inline void gomap_rwlock_wrlock(gomap_rwlock *l)
    GOMAP_ACQUIRE(l) GOMAP_NO_THREAD_SAFETY_ANALYSIS {
    pthread_rwlock_wrlock(&l->l);
}
static inline void gomap_rwlock_unlock(gomap_rwlock *l)
    GOMAP_RELEASE_GENERIC(l) GOMAP_NO_THREAD_SAFETY_ANALYSIS {
    pthread_rwlock_unlock(&l->l);
}

#endif /* GOMAP_ANNOTATE_H */
