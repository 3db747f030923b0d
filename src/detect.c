/*
 * detect.c — what happens after the map finds a conflict (detect.h).
 *
 * The report is Go's message, then the detecting thread's stack, then the
 * other party: the id of the thread that held the writing flag and, in the
 * writerstack mode, the stack it recorded when it set the flag.
 *
 * Stacks are printed with backtrace_symbols_fd, which names functions through
 * the dynamic symbol table (dladdr): functions of libgomap.so and of shared
 * libraries are named, functions of an executable only if it exports its
 * symbols (link with -rdynamic, or set CMake's ENABLE_EXPORTS on the target).
 * Static functions show as addresses (addr2line -e <binary> <address>).
 */
#include "detect.h"

#include "probes.h"

#include <execinfo.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

__thread int gomap__tid_cache __attribute__((tls_model("initial-exec")));

int gomap__tid_slow(void) {
    gomap__tid_cache = (int)syscall(SYS_gettid);
    return gomap__tid_cache;
}

/* ---- GOMAP_DEBUG ------------------------------------------------------ */

/* debug_state: 0 until GOMAP_DEBUG has been parsed, then
 * 1 | (writerstack << 1) | (checkfree << 2).
 * Parsing is idempotent, so two threads racing to parse both store the same
 * value: relaxed loads and stores suffice (no other data is published with
 * it).  conflict_mode likewise holds a plain enum value. */
static atomic_int debug_state;
static atomic_int conflict_mode;
static _Atomic uint64_t conflict_counts[GOMAP_CONFLICT_KINDS];

/* A forked child reads GOMAP_DEBUG's options again at its next use: a test
 * harness (or a program) may set the variable between fork and the child's
 * first map.  The conflict mode already chosen stays (see below). */
static void debug_atfork_child(void) {
    atomic_store_explicit(&debug_state, 0, memory_order_relaxed);
}
static pthread_once_t debug_atfork_once = PTHREAD_ONCE_INIT;
static void debug_register_atfork(void) {
    pthread_atfork(NULL, NULL, debug_atfork_child);
}

static int parse_debug(void) {
    int st = atomic_load_explicit(&debug_state, memory_order_relaxed);
    if (st)
        return st;
    pthread_once(&debug_atfork_once, debug_register_atfork);
    st = 1;
    int mode = GOMAP_CONFLICT_ABORT;
    const char *env = getenv("GOMAP_DEBUG");
    while (env && *env) {
        size_t n = strcspn(env, ",");
        if (n == strlen("conflict=abort") && !strncmp(env, "conflict=abort", n))
            mode = GOMAP_CONFLICT_ABORT;
        else if (n == strlen("conflict=report") && !strncmp(env, "conflict=report", n))
            mode = GOMAP_CONFLICT_REPORT;
        else if (n == strlen("conflict=count") && !strncmp(env, "conflict=count", n))
            mode = GOMAP_CONFLICT_COUNT;
        else if (n == strlen("writerstack=1") && !strncmp(env, "writerstack=1", n))
            st |= 2;
        else if (n == strlen("checkfree=1") && !strncmp(env, "checkfree=1", n))
            st |= 4;
        env += n;
        if (*env == ',')
            env++;
    }
    /* A mode set by gomap_debug_set_mode before the first parse wins: it
     * marks itself with bit 8 of conflict_mode. */
    int expected = 0;
    atomic_compare_exchange_strong_explicit(&conflict_mode, &expected, mode | 0x100,
                                            memory_order_relaxed, memory_order_relaxed);
    atomic_store_explicit(&debug_state, st, memory_order_relaxed);
    return st;
}

GOMAP_API gomap_conflict_mode gomap_debug_mode(void) {
    parse_debug();
    return (gomap_conflict_mode)(atomic_load_explicit(&conflict_mode, memory_order_relaxed) & 0xff);
}

GOMAP_API void gomap_debug_set_mode(gomap_conflict_mode mode) {
    parse_debug();
    atomic_store_explicit(&conflict_mode, (int)mode | 0x100, memory_order_relaxed);
}

GOMAP_API uint64_t gomap_conflict_count(gomap_conflict_kind kind) {
    if ((unsigned)kind >= GOMAP_CONFLICT_KINDS)
        return 0;
    return atomic_load_explicit(&conflict_counts[kind], memory_order_relaxed);
}

bool gomap__debug_writerstack(void) {
    return (parse_debug() & 2) != 0;
}

bool gomap__debug_checkfree(void) {
    return (parse_debug() & 4) != 0;
}

/* ---- writer stacks ------------------------------------------------------ */

/* In the writerstack mode each writer records its stack, at every write, in
 * the slot of this table its thread id selects; a report looks up the slot of
 * the writer it names and prints it if the slot still belongs to that thread.
 * Best effort, as detection itself: two threads whose ids collide modulo the
 * table size overwrite each other.  The frames are written and read with
 * relaxed atomics: the reader races with the writer by design (that is the
 * conflict being reported), and a torn stack only prints a wrong frame. */
enum { WSTACK_SLOTS = 64, WSTACK_DEPTH = 32 };
static struct {
    atomic_int tid;
    atomic_int depth;
    _Atomic uintptr_t pc[WSTACK_DEPTH];
} wstacks[WSTACK_SLOTS];

void gomap__record_writer_stack(void) {
    void *pcs[WSTACK_DEPTH];
    int n = backtrace(pcs, WSTACK_DEPTH);
    int tid = gomap__tid();
    unsigned s = (unsigned)tid % WSTACK_SLOTS;
    atomic_store_explicit(&wstacks[s].tid, 0, memory_order_relaxed);
    for (int i = 0; i < n; i++)
        atomic_store_explicit(&wstacks[s].pc[i], (uintptr_t)pcs[i], memory_order_relaxed);
    atomic_store_explicit(&wstacks[s].depth, n, memory_order_relaxed);
    atomic_store_explicit(&wstacks[s].tid, tid, memory_order_relaxed);
}

/* ---- reports ------------------------------------------------------------ */

static void say(const char *s) {
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, s, n);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static void print_stack(void **pcs, int n) {
    backtrace_symbols_fd(pcs, n, STDERR_FILENO);
}

static void print_own_stack(void) {
    void *pcs[64];
    int n = backtrace(pcs, 64);
    print_stack(pcs, n);
}

static const char *const conflict_msgs[GOMAP_CONFLICT_KINDS] = {
    "concurrent map writes",
    "concurrent map read and map write",
    "concurrent map iteration and map write",
};

/* One report at a time, as Go's printlock: two threads detecting the same
 * conflict would interleave their lines.  A report that ends in abort()
 * never releases it, so later reporters wait for the process to die. */
static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;

/* A freed map (checkfree mode) is not a conflict: always fatal, whatever
 * the conflict mode, and named as what it is. */
static _Noreturn void freed_map_used(gomap_conflict_kind kind) {
    gomap__fatal(kind == GOMAP_CONFLICT_ITER_WRITE
                     ? "gomap_iter_next on a freed map (GOMAP_DEBUG=checkfree)"
                 : kind == GOMAP_CONFLICT_WRITES ? "write to a freed map (GOMAP_DEBUG=checkfree)"
                                                 : "read of a freed map (GOMAP_DEBUG=checkfree)");
}

void gomap__conflict(const gomap *m, gomap_conflict_kind kind, int writer_tid) {
    if (writer_tid == GOMAP__FREED_WRITER)
        freed_map_used(kind);
    int me = gomap__tid();
    GOMAP_PROBE4(conflict, (int)kind, (const void *)m, me, writer_tid);
    atomic_fetch_add_explicit(&conflict_counts[kind], 1, memory_order_relaxed);
    int mode = (int)gomap_debug_mode();
    if (mode == GOMAP_CONFLICT_COUNT)
        return;
    pthread_mutex_lock(&report_lock);
    char buf[256];
    snprintf(buf, sizeof buf, "fatal error: %s\n\nthread %d (detected the conflict, map %p):\n",
             conflict_msgs[kind], me, (const void *)m);
    say(buf);
    print_own_stack();
    if (writer_tid == 0) {
        say("\nwriter: unknown (it had finished or not yet recorded its id)\n");
    } else {
        snprintf(buf, sizeof buf, "\nthread %d (held the map's writing flag)%s\n", writer_tid,
                 writer_tid == me ? " — the same thread: a reentrant call from a hash or "
                                    "equality function"
                                  : "");
        say(buf);
        unsigned s = (unsigned)writer_tid % WSTACK_SLOTS;
        if (atomic_load_explicit(&wstacks[s].tid, memory_order_relaxed) == writer_tid) {
            void *pcs[WSTACK_DEPTH];
            int n = atomic_load_explicit(&wstacks[s].depth, memory_order_relaxed);
            if (n > WSTACK_DEPTH)
                n = WSTACK_DEPTH;
            for (int i = 0; i < n; i++)
                pcs[i] = (void *)atomic_load_explicit(&wstacks[s].pc[i], memory_order_relaxed);
            say("its stack when it set the flag (at its latest write):\n");
            print_stack(pcs, n);
        } else if (!gomap__debug_writerstack()) {
            say("(run with GOMAP_DEBUG=writerstack=1 to see its stack)\n");
        }
    }
    if (mode == GOMAP_CONFLICT_ABORT)
        abort();
    say("gomap: continuing (GOMAP_DEBUG=conflict=report)\n");
    pthread_mutex_unlock(&report_lock);
}

_Noreturn void gomap__fatal(const char *msg) {
    pthread_mutex_lock(&report_lock);
    char buf[256];
    snprintf(buf, sizeof buf, "fatal error: %s\n\nthread %d:\n", msg, gomap__tid());
    say(buf);
    print_own_stack();
    abort();
}

_Noreturn void gomap__internal_error(const char *msg) {
    pthread_mutex_lock(&report_lock);
    char buf[256];
    snprintf(buf, sizeof buf, "gomap: internal error: %s\n", msg);
    say(buf);
    print_own_stack();
    abort();
}
