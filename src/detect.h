/*
 * detect.h — concurrent-misuse detection and the fatal-error paths.
 *
 * The map's part of detection (the writing flag, where it is checked) lives
 * in map.c; this file holds what happens once a conflict is found: the
 * report, the GOMAP_DEBUG modes, the counters, the writer's recorded stack.
 * With GOMAP_NO_DETECT the map compiles every check out, but the fatal paths
 * (nil-map write, internal errors) stay.
 */
#ifndef GOMAP_DETECT_H
#define GOMAP_DETECT_H

#include "map_internal.h" /* GOMAP__TSAN */

#include <gomap/gomap.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Go's fatal(): prints "fatal error: <msg>", the calling thread's stack, and
 * aborts.  Not softened by GOMAP_DEBUG. */
_Noreturn void gomap__fatal(const char *msg);

/* Go's throw(): a broken internal invariant.  Prints
 * "gomap: internal error: <msg>" and aborts. */
_Noreturn void gomap__internal_error(const char *msg);

/* GOMAP_ASSERT(cond): an internal invariant, checked where GOMAP_ASSERTS is
 * defined (the AddressSanitizer and fuzz builds, see CMakeLists.txt) and a
 * broken one reported through gomap__internal_error with its file and line.
 * Elsewhere cond is not evaluated (it must have no side effect), so the
 * checks cost the hot paths nothing.  For invariants only: misuse by the
 * caller is an error code or gomap__fatal, in every build. */
#define GOMAP__STR2(x) #x
#define GOMAP__STR(x)  GOMAP__STR2(x)
#ifdef GOMAP_ASSERTS
#define GOMAP_ASSERT(cond)                                                                         \
    (__builtin_expect(!!(cond), 1)                                                                 \
         ? (void)0                                                                                 \
         : gomap__internal_error("assertion failed: " #cond " (" __FILE__                          \
                                 ":" GOMAP__STR(__LINE__) ")"))
#else
#define GOMAP_ASSERT(cond) ((void)sizeof(!(cond)))
#endif

/* The calling thread's kernel thread id.
 *
 * On x86-64 with glibc it is read from the thread's own descriptor, which
 * glibc keeps at the thread pointer (the %fs base) and whose `tid` field
 * (at GOMAP__TID_FS, the offset glibc's own code reads it at since long
 * before 2.36) the kernel and glibc set before the thread runs any code and
 * again in a forked child: one load, no system call and no branch, which is
 * what a write's detection costs per operation.  The offset is glibc's
 * private layout, so the library checks it before trusting it:
 * gomap__tid_fs_check compares it with the gettid system call once per
 * process; if they differ, gomap__tid falls back to
 * a cached system call and maps created then take their slow write path
 * (which uses gomap__tid, see map.c's WSLOW_TID), so the unchecked read is
 * only ever reached by maps whose creator verified it.  Elsewhere the id is
 * a thread-local cache of gettid, filled on first use. */
#if defined(__x86_64__) && defined(__GLIBC__)
#define GOMAP__TID_FS 0x2d0
/* Not volatile: a thread's id never changes while it runs. */
static inline int gomap__tid_fs(void) {
    int t;
    __asm__("movl %%fs:%c1, %0" : "=r"(t) : "i"(GOMAP__TID_FS));
    return t;
}
#endif
/* The writer token the fast paths of an insert and a delete store in the
 * writing word: the low 32 bits of the stack pointer (GOMAP__SP_TOKEN; see
 * write_claim_sp in map.c for why it needs no load and why it is fixed
 * within the write).
 * A report maps it back to a thread (gomap__conflict).  x86-64 with glibc,
 * whose thread descriptor lies at the top of a thread's stack, and not
 * under ThreadSanitizer, which must see the word's accesses as C atomics,
 * and only when compiled with optimization: without it each inline function
 * has a frame of its own, so a write's claim and its end check are made at
 * different stack pointers.  Elsewhere they store the thread id, as every
 * other write does. */
#if defined(GOMAP__TID_FS) && !defined(GOMAP__TSAN) && defined(__OPTIMIZE__)
#define GOMAP__SP_TOKEN 1
#endif
/* The thread whose stack holds a write's stack token (see gomap__conflict):
 * its kernel id, or 0 when no live thread's stack holds it or when more
 * than one does (stacks 4 GiB apart share their low 32 bits).  *in_memory
 * says whether the token stands for an address in writable anonymous
 * memory of the process at all (a stack the report cannot name, such as a
 * signal stack, is).  Reads /proc/self: for conflicts only, never on a map
 * operation's path. */
int gomap__token_tid(uint32_t token, bool *in_memory);
/* 1 once the descriptor's tid was found to be the thread's id; 0 before the
 * check or where it failed.  Relaxed: every thread that reads it computes
 * the same value, and nothing is published with it. */
extern atomic_int gomap__tid_fs_ok;
/* Runs the check (idempotent); returns gomap__tid_fs_ok. */
bool gomap__tid_fs_check(void);
extern __thread int gomap__tid_cache __attribute__((tls_model("initial-exec")));
int gomap__tid_slow(void);
static inline int gomap__tid(void) {
#ifdef GOMAP__TID_FS
    if (__builtin_expect(atomic_load_explicit(&gomap__tid_fs_ok, memory_order_relaxed), 1))
        return gomap__tid_fs();
#endif
    int t = gomap__tid_cache;
    return __builtin_expect(t != 0, 1) ? t : gomap__tid_slow();
}

/* The map's writing word (gomap.writing), shared by map.c and the reports:
 *   0                       no write running (a map in the default mode,
 *                           without user functions or debug options)
 *   tid                     thread `tid` is writing (bits 0..28: a Linux
 *                           thread id is below 2^22)
 *   token                   (a default-mode map, GOMAP__SP_TOKEN only) an
 *                           insert or a delete is running: the low 32 bits of its
 *                           stack pointer, any of the 32 bits set (see
 *                           write_claim_sp in map.c)
 *   GOMAP__SLOW [| tid]     a map whose calls take their slow path even
 *                           without a conflict (user hash or equality
 *                           functions: reentrancy checks; writerstack=1)
 *   GOMAP__SERIAL [| tid]   a map created in a survive mode
 *                           (GOMAP_DEBUG=conflict=report|count): every
 *                           read, write and iterator step takes the slow
 *                           path, which serializes a conflicting call
 *                           instead of letting it race
 *   GOMAP__FREED_WRITER     a freed map (checkfree mode)
 * A map's idle value (no write running) is its mode bits alone, so the fast
 * paths test the word once, against 0.  GOMAP__READERS is not a value of
 * the word: passed to gomap__conflict as the other party when a writer of a
 * serializing map finds readers inside. */
#define GOMAP__TID_MASK     0x1fffffff
#define GOMAP__SLOW         0x20000000
#define GOMAP__SERIAL       0x40000000
#define GOMAP__FREED_WRITER (-1) /* never a thread id */
#define GOMAP__READERS      (-2)

/* The read-side check, one relaxed load and a branch, for every reader of a
 * core map (map.c's lookups and iterator steps, and any inline lookup in a
 * public header): nonzero means "take the slow path" — a conflict, a
 * serializing map or a freed one.  Relaxed: the flag publishes nothing in
 * the default mode; a serializing map's slow path orders itself. */
#define GOMAP__WRITING_WORD_SET(word_ptr)                                                          \
    (__builtin_expect(atomic_load_explicit((word_ptr), memory_order_relaxed) != 0, 0))

/* Reports a conflict of `type` on map m found by the calling thread, the
 * writing flag being held by writer_tid: the word without the map's mode
 * bits, a thread id or a write's stack token (0: unknown;
 * GOMAP__READERS: the caller is a writer that found readers inside;
 * GOMAP__FREED_WRITER: the map was freed).  The report names the thread
 * behind a token from the stack the token lies in.  Aborts, prints and returns, or only counts, per
 * the mode; `serialized` says the caller will wait for the other party instead of racing with it
 * (the report says so).  Cold. */
void gomap__conflict(const gomap *m, gomap_conflict_type type, int writer_tid, bool serialized);

/* Whether GOMAP_DEBUG asks for writer stacks (parses GOMAP_DEBUG once). */
bool gomap__debug_writerstack(void);

/* Whether the conflict mode in force is a survive mode (report or count):
 * maps created now serialize conflicting calls (see GOMAP__SERIAL). */
bool gomap__debug_serialize(void);

/* Whether GOMAP_DEBUG=checkfree=1 is set (parses GOMAP_DEBUG once).  In that
 * mode gomap_free keeps the map's header, with its writing flag set to
 * GOMAP__FREED_WRITER, so every later read, write or iterator step takes the
 * conflict path, and gomap__conflict reports a use of a freed map. */
bool gomap__debug_checkfree(void);

/* Records the calling thread's stack as "the writer's stack" (writerstack
 * mode only): the report of a conflict with this thread prints it. */
void gomap__record_writer_stack(void);

/* Waits a little while another thread finishes its call on a map (survive
 * modes): spins briefly, then yields the CPU. */
void gomap__conflict_wait(unsigned *spins);

/* Loads libdw and reads the debug information a report needs now, rather
 * than at the first report, so that children forked afterwards inherit it
 * (for tests that fork many reporting children).  Idempotent. */
void gomap__detect_preload(void);

#endif /* GOMAP_DETECT_H */
