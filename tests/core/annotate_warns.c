/*
 * annotate_warns.c — a program that clang -Wthread-safety must warn about
 * (tests/core/annotate_check.sh checks each expected warning, by line): the
 * classic mistakes with a map declared GOMAP_GUARDED_BY a lock.  Never built
 * into a program; the annotations' cures are examples/crash_*_mutex.c.
 */
#include <gomap/annotate.h>
#include <gomap/gomap.h>

static gomap_mutex mu = GOMAP_MUTEX_INIT;
static gomap_u64u64 *m GOMAP_GUARDED_BY(mu);

static gomap_rwlock rw = GOMAP_RWLOCK_INIT;
static gomap_u64u64 *shared_map GOMAP_GUARDED_BY(rw);

/* Each warning must stay on the line of its mark: no reformatting. */
/* clang-format off */

/* Writes with the lock taken, then once more after releasing it. */
void write_after_unlock(uint64_t k) {
    gomap_mutex_lock(&mu);
    gomap_u64u64_set(m, k, k);
    gomap_mutex_unlock(&mu);
    gomap_u64u64_set(m, k + 1, k); /* WARN: reading variable 'm' requires holding mutex 'mu' */
}

/* A reader that forgot the lock: crash_readwrite.c's bug. */
uint64_t read_unlocked(uint64_t k) {
    return gomap_u64u64_get(m, k, NULL); /* WARN: reading variable 'm' requires holding mutex 'mu' */
}

/* Replacing the map without the lock. */
void replace_unlocked(void) {
    m = gomap_u64u64_new(0); /* WARN: writing variable 'm' requires holding mutex 'mu' exclusively */
}

/* Replacing the map under the shared (reader) side of a reader-writer lock. */
void replace_under_read_lock(void) {
    gomap_rwlock_rdlock(&rw);
    shared_map = gomap_u64u64_new(0); /* WARN: writing variable 'shared_map' requires holding mutex 'rw' exclusively */
    gomap_rwlock_unlock(&rw);
}

/* A function that needs the caller to hold the lock, called without it. */
static void put_locked(uint64_t k) GOMAP_REQUIRES(mu);
static void put_locked(uint64_t k) {
    gomap_u64u64_set(m, k, k);
}
void call_without_lock(void) {
    put_locked(1); /* WARN: calling function 'put_locked' requires holding mutex 'mu' exclusively */
}

/* A path that returns with the lock still held. */
int early_return(uint64_t k) {
    gomap_mutex_lock(&mu);
    if (gomap_u64u64_len(m) > 100)
        return 1;
    gomap_u64u64_set(m, k, k);
    gomap_mutex_unlock(&mu);
    return 0;
} /* WARN: mutex 'mu' is not held on every path through here */
/* clang-format on */
