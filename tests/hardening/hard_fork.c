/*
 * hard_fork.c — fork() in a process that uses the thread-safe maps.
 *
 * The parent holds a map of every variant with reclamation in progress
 * (syncmap and cowmap writes retire old values and versions just before
 * the fork), alone or while two threads churn maps of their own (their
 * writes keep the reclaimer busy and put them inside read-side sections at
 * any moment).  Each child, forked FORKS times per setting, must use and free
 * the parent's maps, and create, use and free a map of every variant, from
 * its main thread and from a new thread; it has 30 seconds (a hang ends it
 * by SIGALRM, a failure of the case) and must exit 0.
 *
 * FORKS: 40 forks per setting catch the reclaimer thread (and the churning
 * threads) at many points of their work.  Under ThreadSanitizer, which only
 * runs the single-threaded parent (see below) and is there to check the
 * children's accesses, a fork costs about a second (the sanitizer's shadow
 * memory): 10 rounds; the uninstrumented and ASan builds run the 40.
 */
#include "check.h"
#include "hard_util.h"

#include <gomap/concmap.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>

enum { FORKS = CHECK_UNDER_TSAN ? 10 : 40, KEYS = 200 };

static const gomap_config u64cfg = {GOMAP_KEY_U64, 0, 8, 0, 0, 0, 0, 0};

/* Writes that retire objects in syncmap and cowmap: overwrites and deletes. */
static int churn_once(concmap *m, uint64_t salt) {
    for (uint64_t k = 0; k < KEYS; k++) {
        uint64_t v = k * 7 + salt;
        if (concmap_store(m, &k, &v) != 0)
            return 1;
    }
    for (uint64_t k = 0; k < KEYS; k += 3)
        concmap_delete(m, &k);
    return 0;
}

/* Fills a fresh map of `kind`, checks it, frees it; 0 when all held. */
static int fresh_map_works(const char *kind) {
    concmap *m;
    if (concmap_new(&m, kind, &u64cfg, NULL) != 0)
        return 1;
    int bad = churn_once(m, 1) || churn_once(m, 2);
    for (uint64_t k = 0; k < KEYS && !bad; k++) {
        uint64_t v = 0;
        bool want = k % 3 != 0;
        if (concmap_load(m, &k, &v) != want || (want && v != k * 7 + 2))
            bad = 1;
    }
    concmap_free(m);
    return bad;
}

static void *fresh_maps_thread(void *arg) {
    (void)arg;
    for (const char *const *k = concmap_variants; *k; k++)
        if (fresh_map_works(*k))
            return (void *)1;
    return NULL;
}

/* The parent's maps, one per variant, live across each fork. */
static concmap *parent_maps[8];

static void child(void *arg) {
    (void)arg;
    alarm(30);
    /* The inherited maps: read, write, free. */
    for (int i = 0; concmap_variants[i]; i++) {
        concmap *m = parent_maps[i];
        uint64_t k = 1, v = 0;
        if (!concmap_load(m, &k, &v) || churn_once(m, 3)) {
            fprintf(stderr, "child: inherited %s map broken\n", concmap_variants[i]);
            _exit(10);
        }
        concmap_free(m);
    }
    /* New maps from the main thread, then from a new thread. */
    if (fresh_maps_thread(NULL)) {
        fputs("child: new map from the main thread failed\n", stderr);
        _exit(11);
    }
    pthread_t t;
    void *res = (void *)1;
    if (pthread_create(&t, NULL, fresh_maps_thread, NULL) != 0 || pthread_join(t, &res) != 0 ||
        res) {
        fputs("child: new map from a new thread failed\n", stderr);
        _exit(12);
    }
}

/* Parent threads that keep retiring objects in maps of their own. */
static atomic_bool churn_stop;
static void *churner(void *arg) {
    uint64_t salt = (uint64_t)(uintptr_t)arg;
    while (!atomic_load(&churn_stop)) {
        for (const char *const *k = concmap_variants; *k; k++) {
            concmap *m;
            if (concmap_new(&m, *k, &u64cfg, NULL) != 0)
                continue;
            (void)churn_once(m, salt++);
            (void)churn_once(m, salt++);
            concmap_free(m);
        }
    }
    return NULL;
}

static void fork_rounds(int churners) {
    pthread_t th[2];
    atomic_store(&churn_stop, false);
    for (int i = 0; i < churners; i++)
        REQUIRE(pthread_create(&th[i], NULL, churner, (void *)(uintptr_t)(i + 1)) == 0);
    static struct child_result r;
    int failures = 0;
    for (int round = 0; round < FORKS; round++) {
        for (int i = 0; concmap_variants[i]; i++) {
            REQUIRE(concmap_new(&parent_maps[i], concmap_variants[i], &u64cfg, NULL) == 0);
            REQUIRE(churn_once(parent_maps[i], (uint64_t)round) == 0);
            REQUIRE(churn_once(parent_maps[i], (uint64_t)round + 1) == 0);
        }
        run_in_child(child, NULL, NULL, &r);
        if (!(r.exited && r.status == 0)) {
            if (failures++ == 0) {
                char msg[600];
                snprintf(msg, sizeof msg,
                         "fork %d (%d churning threads): child ended by %s %d, stderr: %.300s",
                         round, churners, r.exited ? "exit" : "signal", r.status, r.err);
                check_fail(__FILE__, __LINE__, msg);
            }
        }
        for (int i = 0; concmap_variants[i]; i++)
            concmap_free(parent_maps[i]);
    }
    atomic_store(&churn_stop, true);
    for (int i = 0; i < churners; i++)
        pthread_join(th[i], NULL);
    CHECK_EQ(failures, 0);
}

TEST(fork_child_uses_every_variant_single_threaded_parent) {
    fork_rounds(0);
}

/* Not under AddressSanitizer: its allocator (gcc 12's libasan) takes no
 * fork handlers, so a child forked while a churning thread is inside malloc
 * waits for that allocator lock for ever, before gomap is involved.  The
 * normal and ThreadSanitizer builds run it. */
TEST(fork_child_uses_every_variant_with_churning_parent_threads) {
#if CHECK_SANITIZED
    puts("  (skipped under ASan, whose allocator is not fork-safe, and TSan, which cannot "
         "start threads after a multi-threaded fork)");
#else
    fork_rounds(2);
#endif
}

TEST_MAIN()
