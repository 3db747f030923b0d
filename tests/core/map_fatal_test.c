/* map_fatal_test.c — the fatal errors, each in a child process: the exact
 * first line on stderr, the abnormal exit, and the report's contents (the
 * detecting thread's stack, the writer's thread id, the writer's stack in the
 * debug mode); GOMAP_DEBUG's report and count modes; and a properly locked
 * run that never reports a conflict.
 *
 * The conflicts are forced deterministically: a GOMAP_KEY_BYTES map whose
 * equality callback, called by a write while the map's "writing" flag is up,
 * wakes a second thread and waits until that thread has done its step (a
 * read, a write or an iterator step).  So the step always runs in the middle
 * of the write and must be detected every time.  The handshake is a mutex and
 * a condition variable, so the only unsynchronised access is the one the
 * detector exists to catch, which it catches before touching the map's data
 * (so ThreadSanitizer has nothing to report). */
#include "check.h"
#include "detect.h"
#include "map_internal.h"
#include "map_test_util.h"

#include <dlfcn.h>
#include <execinfo.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>

#define NOINLINE __attribute__((noinline))
/* After a call: keeps it from being a tail call, so the caller's frame stays
 * on the stack the report prints. */
#define KEEP_FRAME() __asm__ volatile("" ::: "memory")

/* Built with -DGOMAP_DETECT=OFF the library detects nothing: the conflict
 * cases are skipped (the nil-map write stays fatal, locked and reading
 * programs still must not report). */
#ifdef GOMAP_TEST_NO_DETECT
#define NEEDS_DETECTION()                                                                          \
    do {                                                                                           \
        printf("  skipped: detection compiled out\n");                                             \
        return;                                                                                    \
    } while (0)
#else
#define NEEDS_DETECTION() ((void)0)
#endif

/* ---- report checks -------------------------------------------------------- */

static void first_line(const char *text, char *out, size_t size) {
    size_t n = strcspn(text, "\n");
    if (n >= size)
        n = size - 1;
    memcpy(out, text, n);
    out[n] = '\0';
}

/* Expects the child to have died of SIGABRT with `line` first on stderr. */
static bool check_fatal(const struct child_result *r, const char *line) {
    char got[512];
    first_line(r->err, got, sizeof got);
    bool ok = !r->exited && r->status == SIGABRT && strcmp(got, line) == 0;
    if (!ok) {
        fprintf(stderr, "  expected SIGABRT and \"%s\"; got %s %d, output:\n%s\n", line,
                r->exited ? "exit" : "signal", r->status, r->err);
        check_fail(__FILE__, __LINE__, line);
    }
    return ok;
}

/* Whether `text` holds the decimal number n as a whole word. */
static bool has_number(const char *text, long n) {
    char num[32];
    snprintf(num, sizeof num, "%ld", n);
    size_t len = strlen(num);
    for (const char *p = strstr(text, num); p; p = strstr(p + 1, num)) {
        bool left = p == text || p[-1] < '0' || p[-1] > '9';
        bool right = p[len] < '0' || p[len] > '9';
        if (left && right)
            return true;
    }
    return false;
}

/* ---- the deterministic conflict ------------------------------------------ */

enum step {
    STEP_GET,
    STEP_CONTAINS,
    STEP_ITER,
    STEP_SET,
    STEP_DELETE,
    STEP_CLEAR,
    STEP_SET_HASHED, /* the internal entry point the thread-safe maps use */
};

static const char *const step_names[] = {"get",    "contains", "iter",      "set",
                                         "delete", "clear",    "set_hashed"};
static const char *const step_fns[] = {"detector_step_get",       "detector_step_contains",
                                       "detector_step_iter",      "detector_step_set",
                                       "detector_step_delete",    "detector_step_clear",
                                       "detector_step_set_hashed"};

static const char *expected_line(enum step s) {
    switch (s) {
    case STEP_GET:
    case STEP_CONTAINS:
        return "fatal error: concurrent map read and map write";
    case STEP_ITER:
        return "fatal error: concurrent map iteration and map write";
    default:
        return "fatal error: concurrent map writes";
    }
}

/* What the parent needs to know about the child: shared memory, mapped
 * before the fork. */
struct shared {
    long writer_tid;
    uintptr_t writer_self; /* its pthread_t */
    uint32_t writer_token; /* a delete-conflict writer: low bits of an address on its stack */
    int token_tid;         /* what gomap__token_tid made of it, seen by the detector */
};
static struct shared *shared;

/* State of one conflict, in the child. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int go, done;
    atomic_bool armed; /* the next equality call from the writer blocks */
    pthread_t writer;  /* set by the writer before it arms; the detector reads it
                          only after the handshake (ordered by mu) */
    gomap *m;
    gomap_iter it;
    enum step step;
} cf = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static uint64_t cf_hash(const void *key, uint64_t seed, void *ctx) {
    (void)ctx;
    return gomap_hash_bytes(key, 8, seed);
}

static uint64_t conflicts_counted(void) {
    uint64_t n = 0;
    for (int k = 0; k < GOMAP_CONFLICT_TYPES; k++)
        n += gomap_conflict_count((gomap_conflict_type)k);
    return n;
}

/* Called by the write (flag up): hands over to the detector thread and waits
 * until its step has returned (it never does when the step aborts) or, in
 * the survive modes, where the step waits for this write to end, until the
 * step has counted its conflict. */
static bool cf_equal(const void *a, const void *b, void *ctx) {
    (void)ctx;
    if (pthread_equal(pthread_self(), cf.writer) &&
        atomic_exchange_explicit(&cf.armed, false, memory_order_relaxed)) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        time_t deadline = now.tv_sec + 20;
        pthread_mutex_lock(&cf.mu);
        cf.go = 1;
        pthread_cond_broadcast(&cf.cv);
        while (!cf.done && conflicts_counted() == 0) {
            clock_gettime(CLOCK_REALTIME, &now);
            if (now.tv_sec >= deadline)
                break;
            now.tv_nsec += 1000000;
            if (now.tv_nsec >= 1000000000) {
                now.tv_sec++;
                now.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&cf.cv, &cf.mu, &now);
        }
        pthread_mutex_unlock(&cf.mu);
    }
    return memcmp(a, b, 8) == 0;
}

/* Not static: the conflict reports' stacks must name these functions
 * (-rdynamic exports them). */
void detector_step_get(gomap *m);
void detector_step_contains(gomap *m);
void detector_step_iter(gomap *m);
void detector_step_set(gomap *m);
void detector_step_delete(gomap *m);
void detector_step_clear(gomap *m);
void detector_step_set_hashed(gomap *m);
void conflict_writer_set(gomap *m);
void reentrant_callback_body(bool write);
void nil_map_write(void *arg);

/* The detector's steps: one named function each, so the report's stack shows
 * which one ran. */
NOINLINE void detector_step_get(gomap *m) {
    uint64_t k = 2;
    (void)gomap_get(m, &k);
    KEEP_FRAME();
}
NOINLINE void detector_step_contains(gomap *m) {
    uint64_t k = 2;
    (void)gomap_contains(m, &k);
    KEEP_FRAME();
}
NOINLINE void detector_step_iter(gomap *m) {
    (void)m;
    (void)gomap_iter_next(&cf.it, NULL, NULL);
    KEEP_FRAME();
}
NOINLINE void detector_step_set(gomap *m) {
    uint64_t k = 3;
    (void)gomap_set(m, &k, &k);
    KEEP_FRAME();
}
NOINLINE void detector_step_delete(gomap *m) {
    uint64_t k = 2;
    (void)gomap_delete(m, &k);
    KEEP_FRAME();
}
NOINLINE void detector_step_clear(gomap *m) {
    gomap_clear(m);
    KEEP_FRAME();
}
NOINLINE void detector_step_set_hashed(gomap *m) {
    uint64_t k = 3;
    (void)gomap__set_hashed(m, &k, gomap__hash(m, &k), &k);
    KEEP_FRAME();
}

static void *detector_thread(void *arg) {
    (void)arg;
    pthread_mutex_lock(&cf.mu);
    while (!cf.go)
        pthread_cond_wait(&cf.cv, &cf.mu);
    pthread_mutex_unlock(&cf.mu);
    switch (cf.step) {
    case STEP_GET:
        detector_step_get(cf.m);
        break;
    case STEP_CONTAINS:
        detector_step_contains(cf.m);
        break;
    case STEP_ITER:
        detector_step_iter(cf.m);
        break;
    case STEP_SET:
        detector_step_set(cf.m);
        break;
    case STEP_DELETE:
        detector_step_delete(cf.m);
        break;
    case STEP_CLEAR:
        detector_step_clear(cf.m);
        break;
    case STEP_SET_HASHED:
        detector_step_set_hashed(cf.m);
        break;
    }
    pthread_mutex_lock(&cf.mu);
    cf.done = 1;
    pthread_cond_broadcast(&cf.cv);
    pthread_mutex_unlock(&cf.mu);
    return NULL;
}

/* The write that the detector's step lands in the middle of. */
NOINLINE void conflict_writer_set(gomap *m) {
    uint64_t k = 1, v = 7;
    atomic_store_explicit(&cf.armed, true, memory_order_relaxed);
    if (gomap_set(m, &k, &v) != 0) /* overwrites key 1: calls cf_equal */
        printf("set failed\n");
    KEEP_FRAME();
}

static void *writer_thread(void *arg) {
    (void)arg;
    shared->writer_tid = (long)syscall(SYS_gettid);
    cf.writer = pthread_self();
    conflict_writer_set(cf.m);
    return NULL;
}

static int cf_detectors = 1; /* detector threads, each doing the step */

/* The child: a map holding keys 1 and 2, a writer thread and a detector.
 * Exits 0 only if the step returned (report and count modes); in count mode
 * it prints the counters it finds wrong. */
static void conflict_child(void *arg) {
    cf.step = (enum step)(intptr_t)arg;
    gomap_config cfg = tu_config(GOMAP_KEY_BYTES, 8);
    cfg.key_size = 8;
    cfg.hash = cf_hash;
    cfg.equal = cf_equal;
    if (gomap_new(&cf.m, &cfg) != 0)
        _exit(3);
    for (uint64_t k = 1; k <= 2; k++)
        if (gomap_set(cf.m, &k, &k) != 0)
            _exit(3);
    gomap_iter_init(&cf.it, cf.m);
    pthread_t w, d[2];
    if (pthread_create(&w, NULL, writer_thread, NULL) != 0)
        _exit(3);
    for (int i = 0; i < cf_detectors; i++)
        if (pthread_create(&d[i], NULL, detector_thread, NULL) != 0)
            _exit(3);
    for (int i = 0; i < cf_detectors; i++)
        pthread_join(d[i], NULL);
    pthread_join(w, NULL);
    if (gomap_debug_mode() == GOMAP_CONFLICT_COUNT) {
        gomap_conflict_type want =
            cf.step == STEP_ITER
                ? GOMAP_CONFLICT_ITER_WRITE
                : (cf.step <= STEP_CONTAINS ? GOMAP_CONFLICT_READ_WRITE : GOMAP_CONFLICT_WRITES);
        for (int k = 0; k < GOMAP_CONFLICT_TYPES; k++) {
            uint64_t c = gomap_conflict_count((gomap_conflict_type)k);
            if (c != (k == (int)want ? 1u : 0u))
                printf("count of kind %d is %llu\n", k, (unsigned long long)c);
        }
    }
    /* In the survive modes both calls took effect, one after the other:
     * the writer's set of key 1 to 7, then the detector's step. */
    uint64_t k1 = 1, k2 = 2, k3 = 3;
    const uint64_t *p1 = (const uint64_t *)gomap_get(cf.m, &k1);
    const uint64_t *p3 = (const uint64_t *)gomap_get(cf.m, &k3);
    bool intact = true;
    switch (cf.step) {
    case STEP_CLEAR:
        intact = gomap_len(cf.m) == 0;
        break;
    case STEP_DELETE:
        intact = p1 && *p1 == 7 && !gomap_contains(cf.m, &k2) && gomap_len(cf.m) == 1;
        break;
    case STEP_SET:
    case STEP_SET_HASHED:
        intact =
            p1 && *p1 == 7 && p3 && *p3 == 3 && gomap_contains(cf.m, &k2) && gomap_len(cf.m) == 3;
        break;
    default:
        intact = p1 && *p1 == 7 && gomap_len(cf.m) == 2;
    }
    if (!intact)
        printf("the write was lost\n");
    gomap_free(cf.m);
}

/* Maps the memory the child reports its threads' ids in. */
static bool setup_shared(void) {
    if (!shared) {
        void *p =
            mmap(NULL, sizeof *shared, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return false;
        shared = (struct shared *)p;
    }
    memset(shared, 0, sizeof *shared);
    return true;
}

static const char *const env_writerstack[] = {"GOMAP_DEBUG=writerstack=1", NULL};
static const char *const env_abort[] = {"GOMAP_DEBUG=conflict=abort", NULL};
static const char *const env_report[] = {"GOMAP_DEBUG=conflict=report", NULL};
static const char *const env_count[] = {"GOMAP_DEBUG=conflict=count", NULL};
static const char *const env_report_ws[] = {"GOMAP_DEBUG=conflict=report,writerstack=1", NULL};

static struct child_result result; /* 64 KB: not on the stack */

/* How many children each conflict runs in.  The handshake makes the conflict
 * certain, so every run takes the same path: 20 runs in the uninstrumented
 * build (half with GOMAP_DEBUG unset, half with conflict=abort) show it
 * detected and reported every time.  Under a sanitizer, which is there to
 * check that path's memory accesses and synchronisation, each child costs
 * several times as much (fork copies the sanitizer's shadow memory, and the
 * report resolves its stacks under the sanitizer's allocator), and 4 runs
 * (2 of each setting) take the same path as 20: 7 conflicts x 16 children
 * fewer per sanitizer build. */
enum { CONFLICT_RUNS = CHECK_SANITIZED ? 4 : 20 };

/* Runs one deterministic conflict `times` times in the default (abort) mode
 * and checks every report. */
static void conflict_detected_every_time(enum step s, int times) {
    REQUIRE(setup_shared());
    int detected = 0;
    for (int t = 0; t < times; t++) {
        run_in_child(conflict_child, (void *)(intptr_t)s, t % 2 ? env_abort : NULL, &result);
        if (!check_fatal(&result, expected_line(s)))
            continue;
        detected++;
        if (!strstr(result.err, step_fns[s])) {
            fprintf(stderr, "  %s: no %s in the detector's stack:\n%s\n", step_names[s],
                    step_fns[s], result.err);
            CHECK_FAIL("detecting thread's stack names the function");
        }
        if (!has_number(result.err, shared->writer_tid)) {
            fprintf(stderr, "  %s: the writer's tid %ld is not in the report:\n%s\n", step_names[s],
                    shared->writer_tid, result.err);
            CHECK_FAIL("report names the writer thread");
        }
        if (t == 0) {
            printf("  --- %s report ---\n%s  ---\n", step_names[s], result.err);
            /* The process's first report loaded libdw and read the debug
             * information in its child, the path a program takes; from
             * here the parent has done that once (idempotent), and every
             * later child inherits it instead of doing it again. */
            gomap__detect_preload();
        }
    }
    CHECK_EQ(detected, times);
}

TEST(conflict_read_during_write) {
    NEEDS_DETECTION();
    conflict_detected_every_time(STEP_GET, CONFLICT_RUNS);
    conflict_detected_every_time(STEP_CONTAINS, CONFLICT_RUNS);
}
TEST(conflict_iteration_during_write) {
    NEEDS_DETECTION();
    conflict_detected_every_time(STEP_ITER, CONFLICT_RUNS);
}
TEST(conflict_write_during_write) {
    NEEDS_DETECTION();
    conflict_detected_every_time(STEP_SET, CONFLICT_RUNS);
    conflict_detected_every_time(STEP_DELETE, CONFLICT_RUNS);
    conflict_detected_every_time(STEP_CLEAR, CONFLICT_RUNS);
    conflict_detected_every_time(STEP_SET_HASHED, CONFLICT_RUNS);
}

/* The default mode's write takes the fast path, whose writer id is read
 * from the thread's descriptor (detect.h): gomap__tid must be the kernel's
 * thread id in the main thread, in another thread and in a forked child,
 * and a conflict with a fast-path write, found by a set or a delete, must
 * name the writer.  That write (a plain u64 map, no callbacks) is held in
 * the middle by its allocator: the growth of the map's first insert blocks
 * until the detector's write has been reported. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int in_alloc;
    atomic_bool armed;
} fp = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void *fp_alloc(size_t size, void *ctx) {
    (void)ctx;
    if (atomic_exchange_explicit(&fp.armed, false, memory_order_relaxed)) {
        pthread_mutex_lock(&fp.mu);
        fp.in_alloc = 1;
        pthread_cond_broadcast(&fp.cv);
        pthread_mutex_unlock(&fp.mu);
        sleep(20); /* the detector's report ends the child long before */
    }
    return malloc(size);
}
static void fp_free(void *p, size_t size, void *ctx) {
    (void)size, (void)ctx;
    free(p);
}

static void *fp_writer(void *arg) {
    shared->writer_tid = (long)syscall(SYS_gettid);
    uint64_t k = 1, v = 1;
    atomic_store_explicit(&fp.armed, true, memory_order_relaxed);
    (void)gomap_set((gomap *)arg, &k, &v);
    return NULL;
}

/* arg nonzero: the detector deletes instead of setting (the delete's own
 * entry check, which runs before it looks at the map's count). */
static void fast_path_child(void *arg) {
    gomap_config cfg = tu_config(GOMAP_KEY_U64, 8);
    static const gomap_allocator al = {fp_alloc, fp_free, NULL};
    cfg.allocator = &al;
    gomap *m;
    if (gomap_new(&m, &cfg) != 0)
        _exit(3);
    pthread_t w;
    if (pthread_create(&w, NULL, fp_writer, m) != 0)
        _exit(3);
    pthread_mutex_lock(&fp.mu);
    while (!fp.in_alloc)
        pthread_cond_wait(&fp.cv, &fp.mu);
    pthread_mutex_unlock(&fp.mu);
    uint64_t k = 2, v = 2;
    if (arg)
        (void)gomap_delete(m, &k);
    else
        (void)gomap_set(m, &k, &v);
    _exit(0);
}

static void *tid_of_thread(void *arg) {
    *(bool *)arg = gomap__tid() == (int)syscall(SYS_gettid);
    return NULL;
}

static void tid_in_grandchild(void *arg) {
    (void)arg;
    _exit(gomap__tid() == (int)syscall(SYS_gettid) ? 0 : 1);
}

/* In a child: a map created in this process would fix its conflict mode
 * for the later cases' children. */
static void tid_child(void *arg) {
    (void)arg;
    gomap *m;
    gomap_config cfg = tu_config(GOMAP_KEY_U64, 8);
    if (gomap_new(&m, &cfg) != 0) /* runs the descriptor check */
        _exit(3);
    gomap_free(m);
#ifdef GOMAP__TID_FS
    if (atomic_load(&gomap__tid_fs_ok) != 1)
        _exit(4);
#endif
    if (gomap__tid() != (int)syscall(SYS_gettid))
        _exit(5);
    bool same = false;
    pthread_t t;
    if (pthread_create(&t, NULL, tid_of_thread, &same) != 0)
        _exit(3);
    pthread_join(t, NULL);
    if (!same)
        _exit(6);
    run_in_child(tid_in_grandchild, NULL, NULL, &result);
    _exit(result.exited && result.status == 0 ? 0 : 7);
}

TEST(fast_path_names_the_writer) {
    NEEDS_DETECTION();
    REQUIRE(setup_shared());
    run_in_child(tid_child, NULL, NULL, &result);
    CHECK(result.exited);
    CHECK_EQ(result.status, 0);
    for (int i = 0; i < 6; i++) {
        run_in_child(fast_path_child, (void *)(intptr_t)(i & 1), NULL, &result);
        if (!check_fatal(&result, "fatal error: concurrent map writes"))
            continue;
        if (!has_number(result.err, shared->writer_tid)) {
            fprintf(stderr, "  the writer's tid %ld is not in the report:\n%s\n",
                    shared->writer_tid, result.err);
            CHECK_FAIL("report names the fast-path writer");
        }
    }
}

/*
 * A default-mode map's insert and delete hold the writing word with the
 * low 32 bits of their stack pointer, not the thread id (write_claim_sp in
 * map.c); the report maps them back to the thread whose stack holds them.
 * The write is held in the middle by its allocator: the insert that grows
 * the map allocates the bigger array, and (auto-shrink on) the delete that
 * shrinks it the smaller one.  The writer runs on a thread's stack, on the
 * main thread's, on a stack given with pthread_attr_setstack next to
 * another one exactly 4 GiB away (their addresses share their low 32
 * bits), and in a signal handler on an alternate stack (no thread's stack
 * the report can name).
 */
enum dw_where { DW_THREAD, DW_MAIN, DW_SETSTACK_PAIR, DW_ALTSTACK, DW_CASES };
static const char *const dw_names[] = {"thread", "main", "setstack pair", "altstack"};

static atomic_int dw_armed, dw_in_alloc;
static gomap *dw_map;
static pthread_t dw_writer_self, dw_main_self;
static bool dw_insert; /* the writer inserts; else it deletes */

static void *dw_alloc(size_t size, void *ctx) {
    (void)ctx;
    if (atomic_exchange(&dw_armed, 0)) {
        atomic_store(&dw_in_alloc, 1);
        sleep(20); /* the detector's report ends the child long before */
    }
    return malloc(size);
}

/* Inserts until an insert grows the map, or deletes until a delete
 * shrinks it: the allocation blocks in dw_alloc. */
NOINLINE static void dw_write_until_resize(void) {
    volatile uint64_t on_my_stack = 0;
    shared->writer_token = (uint32_t)(uintptr_t)&on_my_stack;
    shared->writer_tid = (long)syscall(SYS_gettid);
    dw_writer_self = pthread_self();
    shared->writer_self = (uintptr_t)dw_writer_self;
    atomic_store(&dw_armed, 1);
    for (uint64_t k = 0; k < 4096; k++) {
        if (dw_insert)
            (void)gomap_set(dw_map, &k, &k);
        else
            (void)gomap_delete(dw_map, &k);
    }
    KEEP_FRAME();
}

static void *dw_thread(void *arg) {
    (void)arg;
    dw_write_until_resize();
    return NULL;
}

static void dw_on_signal(int sig) {
    (void)sig;
    dw_write_until_resize();
}

static void *dw_altstack_thread(void *arg) {
    (void)arg;
    stack_t ss = {.ss_size = 1 << 16, .ss_flags = 0};
    ss.ss_sp = mmap(NULL, ss.ss_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = dw_on_signal;
    sa.sa_flags = SA_ONSTACK;
    if (ss.ss_sp == MAP_FAILED || sigaltstack(&ss, NULL) != 0 || sigaction(SIGUSR1, &sa, NULL) != 0)
        _exit(3);
    pthread_kill(pthread_self(), SIGUSR1);
    return NULL;
}

static void *dw_idle_thread(void *arg) {
    (void)arg;
    pause();
    return NULL;
}

/* The conflicting call, once the writer is inside its write: a set, or
 * (the writer on the main thread) a lookup. */
static void *dw_detector(void *arg) {
    (void)arg;
    while (!atomic_load(&dw_in_alloc))
        usleep(1000);
#ifdef GOMAP__SP_TOKEN
    /* What the conflict probe passes as the writer: the thread behind a
     * token on the writer's stack. */
    bool in_memory;
    shared->token_tid = gomap__token_tid(shared->writer_token, &in_memory);
#endif
    uint64_t k = 1u << 20, v = 1;
    if (pthread_equal(dw_writer_self, dw_main_self))
        (void)gomap_get(dw_map, &k);
    else
        (void)gomap_set(dw_map, &k, &v);
    _exit(0);
}

/* Two thread stacks 4 GiB apart, inside one reservation (so that nothing
 * else is mapped between them): the writer runs on the first; the second
 * thread only exists. */
static void dw_setstack_pair(void) {
    const size_t four_gib = (size_t)1 << 32, size = (size_t)1 << 20;
    char *r =
        mmap(NULL, four_gib + size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (r == MAP_FAILED)
        _exit(3);
    pthread_t t[2];
    /* The idle thread first: the writer's delete may be caught as soon as
     * it starts, and both stacks must exist by then. */
    for (int i = 1; i >= 0; i--) {
        char *st = r + (size_t)i * four_gib;
        if (mprotect(st, size, PROT_READ | PROT_WRITE) != 0)
            _exit(3);
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setstack(&a, st, size);
        if (pthread_create(&t[i], &a, i == 0 ? dw_thread : dw_idle_thread, NULL) != 0)
            _exit(3);
        pthread_attr_destroy(&a);
    }
}

/* arg: the writer's place (dw_where) + DW_CASES if it inserts. */
static void dw_child(void *arg) {
    enum dw_where where = (enum dw_where)((intptr_t)arg % DW_CASES);
    dw_insert = (intptr_t)arg >= DW_CASES;
    gomap_config cfg = tu_config(GOMAP_KEY_U64, 8);
    static const gomap_allocator al = {dw_alloc, fp_free, NULL};
    cfg.allocator = &al;
    if (gomap_new(&dw_map, &cfg) != 0)
        _exit(3);
    for (uint64_t k = 0; !dw_insert && k < 4096; k++)
        if (gomap_set(dw_map, &k, &k) != 0)
            _exit(3);
    gomap_auto_shrink(dw_map, !dw_insert);
    dw_main_self = pthread_self();
    pthread_t t;
    if (where == DW_MAIN) {
        /* The detector is the other thread; this one deletes. */
        if (pthread_create(&t, NULL, dw_detector, NULL) != 0)
            _exit(3);
        dw_write_until_resize();
        _exit(4); /* no shrink happened */
    }
    if (where == DW_THREAD && pthread_create(&t, NULL, dw_thread, NULL) != 0)
        _exit(3);
    if (where == DW_ALTSTACK && pthread_create(&t, NULL, dw_altstack_thread, NULL) != 0)
        _exit(3);
    if (where == DW_SETSTACK_PAIR)
        dw_setstack_pair();
    dw_detector(NULL);
}

#ifdef GOMAP__SP_TOKEN
/* The text the report prints for a pthread_t (glibc: its descriptor). */
static bool has_hex(const char *text, uintptr_t v) {
    char hex[32];
    snprintf(hex, sizeof hex, "%#lx", (unsigned long)v);
    return strstr(text, hex) != NULL;
}
#endif

TEST(write_conflict_names_the_writer_by_its_stack) {
    NEEDS_DETECTION();
    REQUIRE(setup_shared());
    for (int c = 0; c < 2 * DW_CASES; c++) {
        int where = c % DW_CASES;
        const char *op = c < DW_CASES ? "delete" : "insert";
        shared->token_tid = -1;
        run_in_child(dw_child, (void *)(intptr_t)c, NULL, &result);
        const char *err = result.err;
        bool ok = check_fatal(&result, where == DW_MAIN ? "fatal error: concurrent map read and "
                                                          "map write"
                                                        : "fatal error: concurrent map writes");
#ifdef GOMAP__SP_TOKEN
        if (where == DW_ALTSTACK) {
            /* The alternate stack is no thread's: the fallback names the
             * address and says the writer is unknown. */
            ok = ok && strstr(err, "writer: unknown thread") != NULL &&
                 strstr(err, "the low 32 bits of the stack pointer") != NULL;
        } else {
            ok = ok && has_number(err, shared->writer_tid) &&
                 strstr(err, "the low 32 bits of its stack pointer") != NULL;
            if (where == DW_MAIN)
                ok = ok && strstr(err, "the main thread's stack") != NULL;
            else
                ok = ok && has_hex(err, shared->writer_self);
            if (where == DW_SETSTACK_PAIR)
                ok = ok && strstr(err, "share the low 32 bits") != NULL;
        }
        /* The probe's writer: the thread for a stack only it holds, 0 (the
         * probe's "unknown") for two threads' stacks and a signal stack. */
        long want = where == DW_THREAD || where == DW_MAIN ? shared->writer_tid : 0;
        if (shared->token_tid != want) {
            fprintf(stderr, "  %s %s: gomap__token_tid gave %d, want %ld\n", op, dw_names[where],
                    shared->token_tid, want);
            ok = false;
        }
#else
        /* The thread id protocol (ThreadSanitizer, other machines). */
        ok = ok && has_number(err, shared->writer_tid);
#endif
        if (!ok) {
            fprintf(stderr, "  %s %s: the report does not name the writer as expected:\n%s\n", op,
                    dw_names[where], err);
            CHECK_FAIL("write conflict report names the writer");
        } else {
            printf("  --- %s %s ---\n%s  ---\n", op, dw_names[where], err);
        }
    }
}

/*
 * An insert that allocates a bucket array (the map's first, or a growth's)
 * checks the writing word again before it installs it (write_check_mid in
 * map.c): a writer that entered together with it (both passed the entry
 * check) has replaced its claim by then.  The test plays that writer:
 * while the insert waits in its allocator for the array, the main thread
 * stores its own id in the word (the map's bytes 4 to 7, the last half of
 * the head word of gomap.h's view), then lets the insert go on, whose check must report a
 * conflict naming the main thread before the insert adds its key (the end
 * check would report it too, after): the map's length when the report
 * aborts is the length while the insert waited.  The check must also know
 * the insert's own claim, the stack token of its frame where that is used:
 * every other test's growth passes it.
 */
static atomic_int mc_go;
static size_t mc_min_size; /* the first allocation this big is the array */
static size_t mc_len;      /* the map's length while the insert waits */

static void mc_on_abort(int sig) {
    static const char same[] = "map length at the report: unchanged\n";
    static const char grown[] = "map length at the report: the insert's key added\n";
    if (gomap_len(dw_map) == mc_len)
        (void)!write(2, same, sizeof same - 1);
    else
        (void)!write(2, grown, sizeof grown - 1);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void *mc_alloc(size_t size, void *ctx) {
    (void)ctx;
    if (size >= mc_min_size && atomic_exchange(&dw_armed, 0)) {
        atomic_store(&dw_in_alloc, 1);
        while (!atomic_load(&mc_go))
            usleep(1000);
    }
    return malloc(size);
}

static void *mc_writer(void *arg) {
    (void)arg;
    atomic_store(&dw_armed, 1);
    for (uint64_t k = 1000; k < 100000; k++)
        (void)gomap_set(dw_map, &k, &k);
    return NULL;
}

/* arg nonzero: the growth of a map of 1000 keys, else the first array. */
static void mc_child(void *arg) {
    gomap_config cfg = tu_config(GOMAP_KEY_U64, 8);
    static const gomap_allocator al = {mc_alloc, fp_free, NULL};
    cfg.allocator = &al;
    if (gomap_new(&dw_map, &cfg) != 0)
        _exit(3);
    /* An overflow bucket is one small allocation; the array of a map of
     * 1000 keys or more is far bigger than 4 KiB. */
    mc_min_size = arg ? 4096 : 0;
    for (uint64_t k = 0; arg && k < 1000; k++)
        if (gomap_set(dw_map, &k, &k) != 0)
            _exit(3);
    pthread_t t;
    if (pthread_create(&t, NULL, mc_writer, NULL) != 0)
        _exit(3);
    while (!atomic_load(&dw_in_alloc))
        usleep(1000);
    mc_len = gomap_len(dw_map);
    signal(SIGABRT, mc_on_abort);
    shared->writer_tid = (long)syscall(SYS_gettid);
    __atomic_store_n((int *)(void *)dw_map + 1, (int)shared->writer_tid, __ATOMIC_RELAXED);
    atomic_store(&mc_go, 1);
    pthread_join(t, NULL);
    _exit(4); /* the insert's check did not see the other writer */
}

TEST(insert_checks_its_claim_before_installing_an_array) {
    NEEDS_DETECTION();
    REQUIRE(setup_shared());
    for (intptr_t growth = 0; growth < 2; growth++) {
        run_in_child(mc_child, (void *)growth, NULL, &result);
        if (!check_fatal(&result, "fatal error: concurrent map writes"))
            continue;
        if (!has_number(result.err, shared->writer_tid) ||
            !strstr(result.err, "map length at the report: unchanged")) {
            fprintf(stderr,
                    "  %s: not reported before the key was added, naming the other writer "
                    "(tid %ld):\n%s\n",
                    growth ? "growth" : "first array", shared->writer_tid, result.err);
            CHECK_FAIL("mid-write check names the other writer");
        }
    }
}

TEST(writerstack_mode_shows_both_stacks) {
    NEEDS_DETECTION();
    REQUIRE(setup_shared());
    static const enum step steps[] = {STEP_GET, STEP_ITER, STEP_SET};
    for (int i = 0; i < 3; i++) {
        run_in_child(conflict_child, (void *)(intptr_t)steps[i], env_writerstack, &result);
        if (!check_fatal(&result, expected_line(steps[i])))
            continue;
        CHECK(strstr(result.err, step_fns[steps[i]]) != NULL);
        CHECK(has_number(result.err, shared->writer_tid));
        if (!strstr(result.err, "conflict_writer_set")) {
            fprintf(stderr, "  no writer stack (conflict_writer_set) in:\n%s\n", result.err);
            CHECK_FAIL("writerstack=1 shows the writer's stack");
        }
        if (i == 0)
            printf("  --- writerstack=1 report ---\n%s  ---\n", result.err);
    }
}

/* conflict=report prints the same report and carries on: the child exits 0,
 * and both calls took effect (the conflicting one waited for the other). */
static const enum step all_steps[] = {STEP_GET,    STEP_CONTAINS, STEP_ITER,      STEP_SET,
                                      STEP_DELETE, STEP_CLEAR,    STEP_SET_HASHED};
enum { ALL_STEPS = sizeof all_steps / sizeof all_steps[0] };

TEST(report_mode_continues) {
    NEEDS_DETECTION();
    REQUIRE(setup_shared());
    const enum step *steps = all_steps;
    for (int i = 0; i < ALL_STEPS; i++) {
        for (int ws = 0; ws < 2; ws++) {
            run_in_child(conflict_child, (void *)(intptr_t)steps[i],
                         ws ? env_report_ws : env_report, &result);
            char line[512];
            first_line(result.err, line, sizeof line);
            CHECK(result.exited && result.status == 0);
            CHECK(strcmp(line, expected_line(steps[i])) == 0);
            CHECK(strstr(result.err, step_fns[steps[i]]) != NULL);
            CHECK(has_number(result.err, shared->writer_tid));
            CHECK(!strstr(result.err, "the write was lost"));
            CHECK(strstr(result.err, "this call waits for the other to finish") != NULL);
            if (ws)
                CHECK(strstr(result.err, "conflict_writer_set") != NULL);
            if (check_case_failed) {
                fprintf(stderr, "  %s (writerstack=%d): exited=%d status=%d output:\n%s\n",
                        step_names[steps[i]], ws, result.exited, result.status, result.err);
                return;
            }
        }
    }
}

/* conflict=count prints nothing and counts, per type. */
TEST(count_mode_counts_silently) {
    NEEDS_DETECTION();
    REQUIRE(setup_shared());
    const enum step *steps = all_steps;
    for (int i = 0; i < ALL_STEPS; i++) {
        run_in_child(conflict_child, (void *)(intptr_t)steps[i], env_count, &result);
        CHECK(result.exited && result.status == 0);
        CHECK_EQ(strlen(result.err), 0);
        if (check_case_failed)
            fprintf(stderr, "  %s: exited=%d status=%d output:\n%s\n", step_names[steps[i]],
                    result.exited, result.status, result.err);
    }
}

/* The deprecated names of the conflict type still build and mean the same
 * type and count. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
TEST(deprecated_conflict_kind_names) {
    CHECK_EQ(GOMAP_CONFLICT_KINDS, GOMAP_CONFLICT_TYPES);
    CHECK_EQ(sizeof(gomap_conflict_kind), sizeof(gomap_conflict_type));
    for (gomap_conflict_kind k = GOMAP_CONFLICT_WRITES; k < GOMAP_CONFLICT_KINDS; k++)
        CHECK_EQ(gomap_conflict_count(k), gomap_conflict_count((gomap_conflict_type)k));
    CHECK_EQ(gomap_conflict_count((gomap_conflict_type)GOMAP_CONFLICT_TYPES), 0);
}
#pragma GCC diagnostic pop

/* gomap_debug_set_mode overrides the environment. */
static void set_mode_child(void *arg) {
    (void)arg;
    gomap_debug_set_mode(GOMAP_CONFLICT_COUNT);
    if (gomap_debug_mode() != GOMAP_CONFLICT_COUNT)
        printf("mode not set\n");
    conflict_child((void *)(intptr_t)STEP_GET);
}
TEST(set_mode_overrides_environment) {
    NEEDS_DETECTION();
    REQUIRE(setup_shared());
    run_in_child(set_mode_child, NULL, env_abort, &result);
    CHECK(result.exited && result.status == 0);
    CHECK_EQ(strlen(result.err), 0);
    if (check_case_failed)
        fprintf(stderr, "  output:\n%s\n", result.err);
}

/* ---- GOMAP_DEBUG's options and the report's contents ----------------------- */

static int count_lines_starting(const char *text, const char *prefix);

static void mode_child(void *arg) {
    (void)arg;
    printf("mode %d\n", (int)gomap_debug_mode());
}

/* Unknown options are named in one warning line; the known ones still work. */
TEST(unknown_debug_options_warn_once) {
    static const char *const env[] = {"GOMAP_DEBUG=conflict=reprot,writerstack=yes,conflict=count",
                                      NULL};
    run_in_child(mode_child, NULL, env, &result);
    CHECK(result.exited && result.status == 0);
    CHECK_EQ(count_lines_starting(result.err, "gomap: GOMAP_DEBUG: ignoring unknown option"), 1);
    CHECK(strstr(result.err, "'conflict=reprot', 'writerstack=yes'") != NULL);
    char want[32];
    snprintf(want, sizeof want, "mode %d", (int)GOMAP_CONFLICT_COUNT);
    CHECK(strstr(result.err, want) != NULL);
    if (check_case_failed)
        fprintf(stderr, "  output:\n%s\n", result.err);
}

/* A writing flag holding no thread of the process (what a freed and reused
 * map looks like) is named as such, with the advice to use checkfree. */
static void garbage_writer_child(void *arg) {
    (void)arg;
    gomap *m = NULL;
    gomap_config cfg = tu_config(GOMAP_KEY_U64, 8);
    if (gomap_new(&m, &cfg) != 0)
        _exit(3);
    gomap__conflict(m, GOMAP_CONFLICT_WRITES, 0x1ffffff0, false);
    gomap_free(m);
}
TEST(garbage_writer_suggests_checkfree) {
    NEEDS_DETECTION();
    run_in_child(garbage_writer_child, NULL, env_report, &result);
    CHECK(result.exited && result.status == 0);
    CHECK(strstr(result.err, "which is no thread of this process") != NULL);
    CHECK(strstr(result.err, "GOMAP_DEBUG=checkfree=1") != NULL);
    if (check_case_failed)
        fprintf(stderr, "  output:\n%s\n", result.err);
}

/* With debug information the first frame printed is the user's own call
 * (gomap's frames folded), named with its file and line, in both stacks. */
TEST(report_frames_start_at_the_user_call) {
    NEEDS_DETECTION();
    REQUIRE(setup_shared());
    run_in_child(conflict_child, (void *)(intptr_t)STEP_SET, env_writerstack, &result);
    check_fatal(&result, expected_line(STEP_SET));
    const char *d = strstr(result.err, "(detected the conflict");
    const char *w = strstr(result.err, "its stack when it set the flag");
    REQUIRE(d && w);
    if (!strstr(result.err, "map_fatal_test.c:")) {
        /* no frame named with a file and line: a build without -g */
        printf("  (no debug information in this build: skipped)\n");
        return;
    }
    d = strchr(d, '\n') + 1;
    w = strchr(w, '\n') + 1;
    static const char dfirst[] = "detector_step_set()\n\t", wfirst[] = "conflict_writer_set()\n\t";
    CHECK(strncmp(d, dfirst, strlen(dfirst)) == 0);
    CHECK(strncmp(w, wfirst, strlen(wfirst)) == 0);
    CHECK(strstr(d, "map_fatal_test.c:") != NULL);
    if (check_case_failed)
        fprintf(stderr, "  output:\n%s\n", result.err);
}

/* ---- one report at a time ------------------------------------------------- */

/* Two threads detect the same conflict at once.  Go prints one report: the
 * first thread to fail takes the panic lock and the others wait (runtime
 * startpanic_m / printlock).  To make the overlap certain, the test replaces
 * backtrace() (which the report calls to print the detecting thread's
 * stack): while the hook is on, the first caller waits until a second thread
 * calls it too, or 3 seconds.  A report path that lets only one thread print
 * never has a second caller, and the first one goes on after the wait. */
static atomic_int bt_hook_on, bt_callers;

int backtrace(void **buf, int size) {
    /* Resolved lazily by whichever thread comes first; every thread stores
     * the same value, so relaxed atomics suffice. */
    static _Atomic(void *) real;
    void *fn = atomic_load_explicit(&real, memory_order_relaxed);
    if (!fn) {
        fn = dlsym(RTLD_NEXT, "backtrace");
        atomic_store_explicit(&real, fn, memory_order_relaxed);
    }
    if (atomic_load(&bt_hook_on)) {
        atomic_fetch_add(&bt_callers, 1);
        for (int i = 0; i < 3000 && atomic_load(&bt_callers) < 2; i++)
            usleep(1000);
    }
    return fn ? ((int (*)(void **, int))fn)(buf, size) : 0;
}

static void two_detectors_child(void *arg) {
    (void)arg;
    cf_detectors = 2;
    atomic_store(&bt_hook_on, 1);
    conflict_child((void *)(intptr_t)STEP_GET);
}

static int count_lines_starting(const char *text, const char *prefix) {
    int n = 0;
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        n += strncmp(p, prefix, strlen(prefix)) == 0;
    return n;
}

TEST(simultaneous_detections_print_one_report) {
    NEEDS_DETECTION();
    REQUIRE(setup_shared());
    run_in_child(two_detectors_child, NULL, NULL, &result);
    check_fatal(&result, expected_line(STEP_GET));
    int reports = count_lines_starting(result.err, "fatal error:");
    CHECK_EQ(reports, 1);
    CHECK(strstr(result.err, "detector_step_get") != NULL); /* and its stack is complete */
    if (check_case_failed)
        fprintf(stderr, "  output:\n%s\n", result.err);
}

/* ---- callbacks that use the map they serve -------------------------------- */

enum reentry { RE_EQUAL_SETS, RE_EQUAL_GETS, RE_HASH_SETS, RE_HASH_GETS };
static atomic_bool re_armed;
static gomap *re_map;
static enum reentry re_kind;

NOINLINE void reentrant_callback_body(bool write) {
    uint64_t k = 99;
    if (write)
        (void)gomap_set(re_map, &k, &k);
    else
        (void)gomap_get(re_map, &k);
    KEEP_FRAME();
}

static uint64_t re_hash(const void *key, uint64_t seed, void *ctx) {
    (void)ctx;
    if ((re_kind == RE_HASH_SETS || re_kind == RE_HASH_GETS) && atomic_exchange(&re_armed, false))
        reentrant_callback_body(re_kind == RE_HASH_SETS);
    return gomap_hash_bytes(key, 8, seed);
}
static bool re_equal(const void *a, const void *b, void *ctx) {
    (void)ctx;
    if ((re_kind == RE_EQUAL_SETS || re_kind == RE_EQUAL_GETS) && atomic_exchange(&re_armed, false))
        reentrant_callback_body(re_kind == RE_EQUAL_SETS);
    return memcmp(a, b, 8) == 0;
}

static void reentry_child(void *arg) {
    re_kind = (enum reentry)(intptr_t)arg;
    gomap_config cfg = tu_config(GOMAP_KEY_BYTES, 8);
    cfg.key_size = 8;
    cfg.hash = re_hash;
    cfg.equal = re_equal;
    if (gomap_new(&re_map, &cfg) != 0)
        _exit(3);
    uint64_t k = 1;
    if (gomap_set(re_map, &k, &k) != 0)
        _exit(3);
    atomic_store(&re_armed, true);
    (void)gomap_set(re_map, &k, &k); /* overwrite: calls hash, then equal, flag up */
    printf("callback misuse not detected\n");
}

TEST(callback_that_uses_its_map) {
    NEEDS_DETECTION();
    static const char *const names[] = {"equality callback sets", "equality callback gets",
                                        "hash callback sets", "hash callback gets"};
    for (int kind = RE_EQUAL_SETS; kind <= RE_HASH_GETS; kind++) {
        run_in_child(reentry_child, (void *)(intptr_t)kind, NULL, &result);
        const char *want = kind == RE_EQUAL_SETS || kind == RE_HASH_SETS
                               ? "fatal error: concurrent map writes"
                               : "fatal error: concurrent map read and map write";
        int before = check_case_failed;
        check_fatal(&result, want);
        if (check_case_failed != before)
            fprintf(stderr, "  (case: %s)\n", names[kind]);
        else
            CHECK(strstr(result.err, "reentrant_callback_body") != NULL);
    }
}

/* ---- the nil map ---------------------------------------------------------- */

NOINLINE void nil_map_write(void *arg) {
    uint64_t k = 1, v = 2;
    switch ((intptr_t)arg) {
    case 0:
        (void)gomap_set(NULL, &k, &v);
        break;
    case 1:
        (void)gomap_u64u64_set(NULL, k, v);
        break;
    case 2:
        (void)gomap_strptr_set(NULL, "k", 1, NULL);
        break;
    default:
        (void)gomap__set_hashed(NULL, &k, 12345, &v);
        break;
    }
    printf("nil map write returned\n");
}

TEST(nil_map_write_is_fatal) {
    for (intptr_t how = 0; how < 4; how++) {
        run_in_child(nil_map_write, (void *)how, NULL, &result);
        check_fatal(&result, "fatal error: assignment to entry in nil map");
        CHECK(strstr(result.err, "nil_map_write") != NULL); /* the stack */
    }
    /* GOMAP_DEBUG softens conflicts, never this. */
    run_in_child(nil_map_write, (void *)0, env_count, &result);
    check_fatal(&result, "fatal error: assignment to entry in nil map");
    run_in_child(nil_map_write, (void *)0, env_report, &result);
    check_fatal(&result, "fatal error: assignment to entry in nil map");
}

/* Reads, deletes, clear and iteration of a nil map are fine (not fatal). */
static void nil_map_reads(void *arg) {
    (void)arg;
    uint64_t k = 1;
    gomap_iter it;
    gomap_iter_init(&it, NULL);
    if (gomap_get(NULL, &k) || gomap_delete(NULL, &k) || gomap_len(NULL) ||
        gomap_iter_next(&it, NULL, NULL))
        printf("nil map is not empty\n");
    gomap_clear(NULL);
}
TEST(nil_map_reads_are_not_fatal) {
    run_in_child(nil_map_reads, NULL, NULL, &result);
    CHECK(result.exited && result.status == 0);
    CHECK_EQ(strlen(result.err), 0);
}

/* ---- a correctly locked program never reports ------------------------------ */

static struct {
    pthread_mutex_t mu;
    gomap *m;
} locked = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* Under ThreadSanitizer, which also checks every access for a race, a fifth. */
enum { LOCKED_OPS_PER_THREAD = CHECK_UNDER_TSAN ? 1000000 : 5000000 };

static void *locked_worker(void *arg) {
    uint64_t rng = (uint64_t)(uintptr_t)arg;
    for (int i = 0; i < LOCKED_OPS_PER_THREAD; i++) {
        uint64_t r = tu_next(&rng);
        uint64_t k = r % 4096, v = r;
        pthread_mutex_lock(&locked.mu);
        switch ((r >> 20) % 8) {
        case 0:
        case 1:
        case 2:
            (void)gomap_set(locked.m, &k, &v);
            break;
        case 3:
            (void)gomap_delete(locked.m, &k);
            break;
        case 4: {
            gomap_iter it; /* a few steps of an iteration */
            gomap_iter_init(&it, locked.m);
            for (int s = 0; s < 4 && gomap_iter_next(&it, NULL, NULL); s++) {
            }
            break;
        }
        default:
            (void)gomap_get(locked.m, &k);
            break;
        }
        pthread_mutex_unlock(&locked.mu);
    }
    return NULL;
}

static void locked_child(void *arg) {
    (void)arg;
    if (gomap_debug_mode() != GOMAP_CONFLICT_COUNT)
        printf("GOMAP_DEBUG=conflict=count not in force\n");
    gomap_config cfg = tu_config(GOMAP_KEY_U64, 8);
    if (gomap_new(&locked.m, &cfg) != 0)
        _exit(3);
    pthread_t t[2];
    for (uintptr_t i = 0; i < 2; i++)
        if (pthread_create(&t[i], NULL, locked_worker, (void *)(i + 1)) != 0)
            _exit(3);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    for (int k = 0; k < GOMAP_CONFLICT_TYPES; k++)
        if (gomap_conflict_count((gomap_conflict_type)k) != 0)
            printf("conflict of kind %d counted in a locked program\n", k);
    gomap_free(locked.m);
}

TEST(locked_program_never_reports) {
    /* 2 threads x LOCKED_OPS_PER_THREAD operations, each under the mutex. */
    run_in_child(locked_child, NULL, env_count, &result);
    CHECK(result.exited && result.status == 0);
    CHECK_EQ(strlen(result.err), 0);
    if (check_case_failed)
        fprintf(stderr, "  %s %d, output:\n%s\n", result.exited ? "exit" : "signal", result.status,
                result.err);
}

/* ---- concurrent readers are fine ----------------------------------------- */

/* gomap.h: calls that only read (get, contains, len, iteration, clone) may
 * run concurrently with each other.  Four threads read one map -- also a map
 * caught in the middle of a growth, whose old buckets are still being read --
 * and must never see a conflict, nor (under TSan) race: a read path that
 * wrote anything shared (a cache, a statistic, a step of evacuation) would
 * show here. */
static struct {
    gomap *m;
    uint64_t n;
} rd;

static void *reader_worker(void *arg) {
    uint64_t rng = (uint64_t)(uintptr_t)arg, bad = 0;
    for (int round = 0; round < 20; round++) {
        for (uint64_t i = 0; i < rd.n * 2; i++) {
            struct tu_key k;
            tu_key_make(&k, GOMAP_KEY_STRING, tu_below(&rng, rd.n * 2));
            uint64_t want = tu_key_index(GOMAP_KEY_STRING, &k.str);
            const uint64_t *p = (const uint64_t *)gomap_get(rd.m, &k.str);
            bad += (want < rd.n) != (p != NULL) || (p && *p != want);
            bad += gomap_contains(rd.m, &k.str) != (want < rd.n);
        }
        gomap_iter it;
        gomap_iter_init(&it, rd.m);
        uint64_t seen = 0;
        while (gomap_iter_next(&it, NULL, NULL))
            seen++;
        bad += seen != rd.n || gomap_len(rd.m) != rd.n;
        if (round % 5 == 0) {
            gomap *c;
            if (gomap_clone(rd.m, &c) == 0) {
                bad += gomap_len(c) != rd.n;
                gomap_free(c);
            }
        }
    }
    return (void *)(uintptr_t)bad;
}

static void readers_child(void *arg) {
    rd.n = (uint64_t)(uintptr_t)arg;
    gomap_config cfg = tu_config(GOMAP_KEY_STRING, 8);
    if (gomap_new(&rd.m, &cfg) != 0)
        _exit(3);
    for (uint64_t i = 0; i < rd.n; i++) {
        struct tu_key k;
        tu_key_make(&k, GOMAP_KEY_STRING, i);
        if (gomap_set(rd.m, &k.str, &i) != 0)
            _exit(3);
    }
    pthread_t t[4];
    for (uintptr_t i = 0; i < 4; i++)
        if (pthread_create(&t[i], NULL, reader_worker, (void *)(i + 1)) != 0)
            _exit(3);
    for (int i = 0; i < 4; i++) {
        void *bad;
        pthread_join(t[i], &bad);
        if (bad)
            printf("reader %d saw %llu wrong results\n", i, (unsigned long long)(uintptr_t)bad);
    }
    for (int k = 0; k < GOMAP_CONFLICT_TYPES; k++)
        if (gomap_conflict_count((gomap_conflict_type)k) != 0)
            printf("conflict of kind %d counted among readers\n", k);
    gomap_free(rd.m);
}

TEST(concurrent_readers_never_report) {
    /* 53 and 6657 entries: just past a doubling, so the growth is under way
     * (each write evacuates at most two old buckets) while the readers run. */
    static const uintptr_t sizes[] = {5, 53, 1000, 6657};
    for (int i = 0; i < 4; i++) {
        run_in_child(readers_child, (void *)sizes[i], env_count, &result);
        CHECK(result.exited && result.status == 0);
        CHECK_EQ(strlen(result.err), 0);
        if (check_case_failed) {
            fprintf(stderr, "  %lu entries: output:\n%.4000s\n", (unsigned long)sizes[i],
                    result.err);
            return;
        }
    }
}

TEST_MAIN()
