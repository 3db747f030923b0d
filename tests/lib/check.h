/*
 * check.h — the test suite's small harness.
 *
 * A test file defines cases with TEST(name) { ... } and ends with
 * TEST_MAIN().  CHECK* macros record a failure (file, line, expression) and
 * let the case go on; REQUIRE* stop the case.  The runner prints one line per
 * case and a closing "N passed, N failed" line; it exits non-zero when any
 * case failed, which is what ctest reads.
 *
 * run_in_child() runs a function in a forked child with its stderr captured,
 * for the fatal errors that must stop the program.
 */
#ifndef GOMAP_TESTS_CHECK_H
#define GOMAP_TESTS_CHECK_H

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* The sanitizer a test is built with (gcc names it with a macro, clang with
 * __has_feature).  Sanitizer builds are 2-15x slower: tests shrink their
 * optional repetitions there, keeping the minimum counts each test needs to
 * mean something, and skip what a sanitizer itself cannot run. */
#if defined(__SANITIZE_THREAD__)
#define CHECK_UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CHECK_UNDER_TSAN 1
#endif
#endif
#ifndef CHECK_UNDER_TSAN
#define CHECK_UNDER_TSAN 0
#endif
#if defined(__SANITIZE_ADDRESS__)
#define CHECK_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CHECK_UNDER_ASAN 1
#endif
#endif
#ifndef CHECK_UNDER_ASAN
#define CHECK_UNDER_ASAN 0
#endif
#define CHECK_SANITIZED (CHECK_UNDER_TSAN || CHECK_UNDER_ASAN)

typedef void (*check_case_fn)(void);

/* Failures recorded in the running case (the REQUIRE* macros read it). */
extern int check_case_failed;

/* Registers a case; TEST() calls it from a constructor, before main. */
void check_register(const char *name, check_case_fn fn);

#define TEST(name)                                                                                 \
    static void test_##name(void);                                                                 \
    __attribute__((constructor)) static void register_##name(void) {                               \
        check_register(#name, test_##name);                                                        \
    }                                                                                              \
    static void test_##name(void)

/* Records a failure of the running case. */
void check_fail(const char *file, int line, const char *what);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            check_fail(__FILE__, __LINE__, #cond);                                                 \
    } while (0)

/* Records a failure described by msg (a path the case must not reach). */
#define CHECK_FAIL(msg) check_fail(__FILE__, __LINE__, msg)

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            check_fail(__FILE__, __LINE__, #cond);                                                 \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define CHECK_EQ(a, b)                                                                             \
    do {                                                                                           \
        uint64_t check_a_ = (uint64_t)(a), check_b_ = (uint64_t)(b);                               \
        if (check_a_ != check_b_) {                                                                \
            char check_msg_[256];                                                                  \
            snprintf(check_msg_, sizeof check_msg_, "%s == %s (%" PRIu64 " vs %" PRIu64 ")", #a,   \
                     #b, check_a_, check_b_);                                                      \
            check_fail(__FILE__, __LINE__, check_msg_);                                            \
        }                                                                                          \
    } while (0)

#define REQUIRE_EQ(a, b)                                                                           \
    do {                                                                                           \
        int check_before_ = check_case_failed;                                                     \
        CHECK_EQ(a, b);                                                                            \
        if (check_case_failed != check_before_)                                                    \
            return;                                                                                \
    } while (0)

/* The result of running a function in a child process. */
struct child_result {
    int exited;      /* 1 if the child called exit, 0 if a signal ended it */
    int status;      /* exit status, or the signal number */
    char err[65536]; /* the child's stderr, NUL-terminated (truncated if longer) */
};

/* Runs fn(arg) in a forked child whose stderr (and stdout) is captured into
 * r->err.  `env` entries ("NAME=value") are set in the child before fn runs.
 * The child exits 0 when fn returns. */
void run_in_child(void (*fn)(void *), void *arg, const char *const *env, struct child_result *r);

/* Runs every registered case (or those whose names contain argv[1]). */
int check_main(int argc, char **argv);
#define TEST_MAIN()                                                                                \
    int main(int argc, char **argv) {                                                              \
        return check_main(argc, argv);                                                             \
    }

#endif /* GOMAP_TESTS_CHECK_H */
