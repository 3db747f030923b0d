/*
 * hard_thread_exit.c — syncmap and cowmap used from a thread's TLS
 * destructors, in each of glibc's destructor rounds.
 *
 * A destructor that sets its key again makes glibc run another round (up to
 * PTHREAD_DESTRUCTOR_ITERATIONS); the destructor of round r re-arms itself r
 * times and then loads, stores and deletes in a shared syncmap and cowmap.
 * The exiting threads either used the maps before (so gomap's own
 * destructor runs among theirs) or use them first in the destructor.  Then
 * many new threads (which reuse the dead threads' stacks) write the maps,
 * retiring objects that need grace periods, and the maps are freed: nothing
 * may hang or crash.  Each setting runs in a child with a 30-second alarm.
 */
#include "check.h"

#include <gomap/concmap.h>

#include <limits.h>
#include <stdatomic.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>

#ifndef PTHREAD_DESTRUCTOR_ITERATIONS
#define PTHREAD_DESTRUCTOR_ITERATIONS 4
#endif

enum { EXITING_THREADS = 8, LATER_THREADS = 64, STACK_BYTES = 1 << 20 };

static const gomap_config u64cfg = {GOMAP_KEY_U64, 0, 8, 0, 0, 0, 0, 0};

static concmap *maps[2]; /* a syncmap and a cowmap */
static pthread_key_t key;
static int target_round;
static bool use_before;
static atomic_int destructor_uses;

static _Thread_local int rounds_seen;

static void use_maps(uint64_t salt) {
    for (int i = 0; i < 2; i++) {
        uint64_t k = salt % 16, v = salt;
        if (concmap_store(maps[i], &k, &v) != 0)
            _exit(20);
        (void)concmap_load(maps[i], &k, &v);
        concmap_delete(maps[i], &k);
    }
}

static void destructor(void *value) {
    if (rounds_seen++ < target_round) {
        (void)pthread_setspecific(key, value); /* once more, next round */
        return;
    }
    use_maps((uint64_t)(uintptr_t)value);
    atomic_fetch_add(&destructor_uses, 1);
}

static void *exiting_thread(void *arg) {
    if (use_before)
        use_maps((uint64_t)(uintptr_t)arg);
    (void)pthread_setspecific(key, arg);
    return NULL;
}

static void *later_thread(void *arg) {
    use_maps((uint64_t)(uintptr_t)arg);
    return NULL;
}

static void scenario(void *arg) {
    (void)arg;
    alarm(30);
    for (int i = 0; i < 2; i++)
        if (concmap_new(&maps[i], i ? "cow" : "sync", &u64cfg, NULL) != 0)
            _exit(11);
    /* The library's own key first (its first section creates it), so that
     * the user's destructor runs after the library's in each round. */
    use_maps(0);
    if (pthread_key_create(&key, destructor) != 0)
        _exit(10);
    pthread_t t[LATER_THREADS];
    /* The exiting threads run on stacks of our own, unmapped once they are
     * joined: their TLS (where liburcu keeps a registered thread's node)
     * goes with them, so a thread left registered makes the next grace
     * period fault instead of passing by luck. */
    void *stacks[EXITING_THREADS];
    for (int i = 0; i < EXITING_THREADS; i++) {
        stacks[i] =
            mmap(NULL, STACK_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        pthread_attr_t attr;
        if (stacks[i] == MAP_FAILED || pthread_attr_init(&attr) != 0 ||
            pthread_attr_setstack(&attr, stacks[i], STACK_BYTES) != 0 ||
            pthread_create(&t[i], &attr, exiting_thread, (void *)(uintptr_t)(i + 1)) != 0)
            _exit(12);
        pthread_attr_destroy(&attr);
    }
    for (int i = 0; i < EXITING_THREADS; i++) {
        pthread_join(t[i], NULL);
        munmap(stacks[i], STACK_BYTES);
    }
    if (atomic_load(&destructor_uses) != EXITING_THREADS) {
        fprintf(stderr, "destructors used the maps %d times, want %d\n",
                atomic_load(&destructor_uses), EXITING_THREADS);
        _exit(13);
    }
    for (int i = 0; i < LATER_THREADS; i++)
        if (pthread_create(&t[i], NULL, later_thread, (void *)(uintptr_t)(i + 100)) != 0)
            _exit(14);
    for (int i = 0; i < LATER_THREADS; i++)
        pthread_join(t[i], NULL);
    for (uint64_t k = 0; k < 1000; k++)
        use_maps(k);
    concmap_free(maps[0]);
    concmap_free(maps[1]);
}

static void run(int round, bool before) {
    target_round = round;
    use_before = before;
    static struct child_result r;
    run_in_child(scenario, NULL, NULL, &r);
    if (!(r.exited && r.status == 0)) {
        char msg[600];
        snprintf(msg, sizeof msg,
                 "destructor round %d, maps %s: child ended by %s %d, stderr: %.300s", round,
                 before ? "used before" : "first used in the destructor",
                 r.exited ? "exit" : "signal", r.status, r.err);
        check_fail(__FILE__, __LINE__, msg);
    }
}

TEST(tls_destructor_uses_maps_in_every_round_after_using_them) {
#if CHECK_UNDER_TSAN
    /* ThreadSanitizer finalizes a thread in its own TLS destructor, before
     * later rounds run; the normal and ASan builds run it. */
    puts("  (skipped under ThreadSanitizer)");
    return;
#endif
    for (int round = 0; round < PTHREAD_DESTRUCTOR_ITERATIONS; round++)
        run(round, true);
}

/* The last round is left out: a thread whose first use of a syncmap or
 * cowmap is in the last destructor round exits registered (docs/errors.md). */
TEST(tls_destructor_first_use_in_a_destructor_round) {
#if CHECK_UNDER_TSAN
    /* ThreadSanitizer finalizes a thread in its own TLS destructor, before
     * later rounds run; the normal and ASan builds run it. */
    puts("  (skipped under ThreadSanitizer)");
    return;
#endif
    for (int round = 0; round < PTHREAD_DESTRUCTOR_ITERATIONS - 1; round++)
        run(round, false);
}

TEST_MAIN()
