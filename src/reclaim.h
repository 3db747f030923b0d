/*
 * reclaim.h — safe memory reclamation for syncmap and cowmap, on liburcu.
 *
 * Go frees a sync.Map's old read maps, entries and boxed values with its
 * garbage collector.  C has none, so syncmap.c and cowmap.c use RCU, from
 * liburcu's "memb" flavour (urcu-memb: read-side sections cost a few thread-
 * local stores, grace periods use the membarrier system call, no signals are
 * taken from the application):
 *
 *   - every operation of a syncmap or cowmap runs inside a read-side section
 *     (gomap__rcu_enter/exit); a pointer loaded from the map inside a section
 *     stays valid until the section ends;
 *   - a writer that unlinks an object (an old read map, an entry, a value
 *     copy, an old cowmap generation) retires it with gomap__rcu_retire,
 *     which pushes it on a lock-free queue served by gomap's reclaimer
 *     thread (started on the first retirement): the thread takes the whole
 *     queue, waits for one grace period (synchronize_rcu), i.e. until every
 *     section that might still hold those objects has ended, and frees them.
 *     Writers never wait for a grace period themselves (no synchronize_rcu
 *     on the write path); one grace period serves every object retired
 *     while the previous one ran, so batches grow with the write rate.
 *
 * A thread alone.  While the calling thread is the only one gomap has
 * registered (a single-threaded program, or one whose other threads never
 * used these maps or have exited), no section but its own can hold a
 * retired object: it then frees what it retires itself, with no grace
 * period and no reclaimer thread (which is started only when some object
 * needs it) — at the end of the call that retired it, once outside its
 * section (a retirement outside any section, a lock-protected map's
 * deferred free, is freed at once).  Whether it is alone is decided under
 * the registration lock, so a thread that registers meanwhile only sends
 * the objects to the reclaimer as before.  The callbacks, and so the
 * allocator hook's free, then run on the calling thread.
 *
 * Why not liburcu's call_rcu: its thread sleeps 10 ms after each wake-up to
 * batch callbacks, so freeing a map (which must wait until the map's queued
 * objects are freed, since their callbacks use its allocator) cost ~11 ms
 * each; with our thread it costs about one grace period.  Under load our
 * thread batches too: after a batch of 64 or more objects it sleeps 1 ms.
 *
 * Thread registration.  urcu-memb requires each thread that enters a
 * read-side section to be registered.  gomap does it lazily: the first
 * section a thread enters registers it (a thread-local flag makes the check
 * one load), and a pthread key destructor unregisters it when the thread
 * exits.  The user never registers anything.  Two caveats, repeated in
 * syncmap.h and cowmap.h:
 *   - urcu-memb does not support registering a thread twice: a program
 *     that itself uses liburcu's memb flavour and registers its own threads
 *     must not call syncmap/cowmap functions from those threads (use
 *     another flavour, or other threads, for your own RCU);
 *   - a section is open during range callbacks: a callback that blocks for a
 *     long time delays every reclamation in the process (memory grows until
 *     it returns), and must not free a syncmap or cowmap.
 * After the pthread key destructor has run (glibc runs TLS destructors in up
 * to four rounds), a later destructor may still use the maps: each of its
 * sections registers the thread and unregisters it again.
 *
 * Process events (docs/errors.md has the user's view):
 *   - fork: registration and each reclaimer batch run under locks the fork
 *     handlers take, so the child finds no liburcu lock held and no batch
 *     half done; it removes the parent's other threads from liburcu's
 *     registry and starts a reclaimer of its own when it needs one;
 *   - dlclose: once a thread is registered or the reclaimer runs, the
 *     library marks itself RTLD_NODELETE, so it is never unmapped under
 *     them.
 *
 * Each map counts its objects that are retired and not yet freed (struct
 * gomap__reclaim), so that freeing a map waits only when some of its objects
 * are still queued, and only for those (not for the whole process's, as
 * rcu_barrier would), and so that the callbacks, which run on liburcu's
 * thread and use the map's allocator, never outlive the map: a callback's
 * decrement is its last access to the map.
 *
 * ThreadSanitizer cannot see the ordering a grace period provides (it comes
 * from membarrier and liburcu's uninstrumented code).  Under TSan, leaving a
 * section releases a process-wide synchronisation object and each callback
 * acquires it before freeing: every access made inside any section that
 * ended before the callback started happens-before the free, which is
 * exactly RCU's guarantee.  In the ordinary build the same calls go to TSan
 * only when the program runs under it (weak references, src/tsan.h).
 */
#ifndef GOMAP_RECLAIM_H
#define GOMAP_RECLAIM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

/* The link every retired object embeds (the counterpart of liburcu's
 * struct rcu_head). */
struct gomap__rcu_head {
    struct gomap__rcu_head *next;
    void (*fn)(struct gomap__rcu_head *head);
};

#define GOMAP__CONTAINER_OF(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* A map's count of retired-but-not-yet-freed objects.  Incremented by
 * gomap__rcu_retire before queueing, decremented (release) by
 * gomap__rcu_reclaimed at the end of the callback; gomap__rcu_drain reads it
 * with acquire. */
struct gomap__reclaim {
    atomic_size_t pending;
    /* The bytes of those objects, as the retirer stated them
     * (gomap__rcu_retire_sized); stays 0 for a map that retires without
     * sizes.  Read by gomap__rcu_throttle_bytes. */
    atomic_size_t pending_bytes;
};

/* Both counts at zero: before the map's first retirement. */
static inline void gomap__reclaim_init(struct gomap__reclaim *r) {
    atomic_init(&r->pending, 0);
    atomic_init(&r->pending_bytes, 0);
}

/* Enters a read-side section (nests).  Registers the calling thread with
 * liburcu on its first call.  Never blocks except on that first call (the
 * registry mutex), never allocates except liburcu's registration. */
void gomap__rcu_enter(void);

/* Leaves the section entered by the matching gomap__rcu_enter. */
void gomap__rcu_exit(void);

/* Whether the calling thread is inside a section. */
bool gomap__rcu_in_section(void);

/* Queues fn(head) to run after a grace period on the reclaimer thread.
 * Lock-free (one CAS loop), plus a futex wake-up when the thread sleeps; the
 * first object the thread must serve starts it.  fn runs later, on that
 * thread — or, for a caller alone (see above), on the caller: at once when
 * it is outside any section, else when its outermost section ends. */
void gomap__rcu_retire(struct gomap__reclaim *r, struct gomap__rcu_head *head,
                       void (*fn)(struct gomap__rcu_head *));

/* As gomap__rcu_retire, and counts `bytes` (the object's size, or an
 * estimate of it: the same figure its callback passes to
 * gomap__rcu_reclaimed_sized) in r's pending bytes until it is freed. */
void gomap__rcu_retire_sized(struct gomap__reclaim *r, struct gomap__rcu_head *head,
                             void (*fn)(struct gomap__rcu_head *), size_t bytes);

/* The first call of every callback passed to gomap__rcu_retire, before it
 * reads the object (see the TSan note above). */
void gomap__rcu_callback_begin(struct gomap__rcu_head *head);

/* The LAST access a callback makes to its map: accounts the object as freed.
 * Release, paired with the acquire in gomap__rcu_drain: whoever sees the
 * count reach 0 may free the map, after everything the callback did. */
void gomap__rcu_reclaimed(struct gomap__reclaim *r);

/* gomap__rcu_reclaimed for an object retired with gomap__rcu_retire_sized
 * (`bytes` as stated there); the same last access to the map. */
void gomap__rcu_reclaimed_sized(struct gomap__reclaim *r, size_t bytes);

/* The first call of syncmap_free and cowmap_free (`who` names it): inside a
 * read-side section (a range callback of any syncmap or cowmap) freeing is a
 * fatal error, whether or not the map has objects queued, since the map may
 * be the one being ranged and its drain would wait for its own section. */
void gomap__rcu_free_check(const char *who);

/* Waits until every object retired so far on r has been freed: returns at
 * once when none is pending; frees the queue itself when the caller is the
 * only registered thread (see "A thread alone"); else polls (the callbacks run on the reclaimer
 * thread after a grace period; a stalled reader anywhere delays them).
 * Must not be called inside a section (it would wait for itself): fatal
 * error then. */
void gomap__rcu_drain(struct gomap__reclaim *r, const char *who);

/* Paces a writer that retires faster than grace periods free: when more than
 * `limit` objects of r are pending, waits (outside any section; inside one
 * it returns at once, since it would wait for itself) until at most limit/2
 * are, for as long as the reclaimer keeps finishing batches.  So with a
 * reclaimer that merely lags, r's retired memory stays within about `limit`
 * objects (plus one per writer); with a reader stalled in a section (no
 * batch finishes for 10-20 ms), writers slow to 50-100 writes/s each instead
 * of blocking, and memory grows with what they still write (RCU's
 * unavoidable cost).  A caller alone frees the queue itself instead of
 * waiting. */
void gomap__rcu_throttle(struct gomap__reclaim *r, size_t limit);

/* gomap__rcu_throttle on r's pending bytes instead of its objects: for a map
 * whose retired objects differ in size by orders of magnitude (a syncmap's
 * value copies and its old tables, each as large as the map), so that the
 * pacing bounds the memory waiting, not the number of objects.  The same
 * waits, the same patience with a stalled reader. */
void gomap__rcu_throttle_bytes(struct gomap__reclaim *r, size_t limit);

/* How many times a writer has been paced so far (a gomap__rcu_throttle or
 * gomap__rcu_throttle_bytes call that waited), in the whole process: for
 * tests. */
unsigned long gomap__rcu_paced(void);

/* Waits until no object retired by any map is pending (all maps' counts are
 * 0).  For tests, in a quiet moment: with writers running it may not
 * return. */
void gomap__rcu_barrier(void);

#endif /* GOMAP_RECLAIM_H */
