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

typedef void (*check_case_fn)(void);

struct check_case {
    const char *name;
    check_case_fn fn;
};

enum { CHECK_MAX_CASES = 512 };
static struct check_case check_cases[CHECK_MAX_CASES];
static int check_ncases;
static int check_case_failed;

static inline void check_register(const char *name, check_case_fn fn) {
    if (check_ncases == CHECK_MAX_CASES) {
        fprintf(stderr, "check.h: too many cases\n");
        exit(2);
    }
    check_cases[check_ncases].name = name;
    check_cases[check_ncases].fn = fn;
    check_ncases++;
}

#define TEST(name)                                                                                 \
    static void test_##name(void);                                                                 \
    __attribute__((constructor)) static void register_##name(void) {                               \
        check_register(#name, test_##name);                                                        \
    }                                                                                              \
    static void test_##name(void)

static inline void check_fail(const char *file, int line, const char *what) {
    fprintf(stderr, "  FAIL %s:%d: %s\n", file, line, what);
    check_case_failed++;
}

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            check_fail(__FILE__, __LINE__, #cond);                                                 \
    } while (0)

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
static inline void run_in_child(void (*fn)(void *), void *arg, const char *const *env,
                                struct child_result *r) {
    int fds[2];
    memset(r, 0, sizeof *r);
    if (pipe(fds) != 0) {
        perror("pipe");
        exit(2);
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(2);
    }
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 2);
        dup2(fds[1], 1);
        close(fds[1]);
        for (; env && *env; env++)
            putenv((char *)*env);
        fn(arg);
        fflush(NULL);
        _exit(0);
    }
    close(fds[1]);
    size_t used = 0;
    for (;;) {
        char buf[4096];
        ssize_t n = read(fds[0], buf, sizeof buf);
        if (n <= 0)
            break;
        size_t room = sizeof r->err - 1 - used;
        size_t take = (size_t)n < room ? (size_t)n : room;
        memcpy(r->err + used, buf, take);
        used += take;
    }
    r->err[used] = '\0';
    close(fds[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0) {
    }
    if (WIFEXITED(st)) {
        r->exited = 1;
        r->status = WEXITSTATUS(st);
    } else {
        r->exited = 0;
        r->status = WIFSIGNALED(st) ? WTERMSIG(st) : -1;
    }
}

/* Runs every registered case (or those whose names contain argv[1]). */
#define TEST_MAIN()                                                                                \
    int main(int argc, char **argv) {                                                              \
        int passed = 0, failed = 0;                                                                \
        for (int i = 0; i < check_ncases; i++) {                                                   \
            if (argc > 1 && !strstr(check_cases[i].name, argv[1]))                                 \
                continue;                                                                          \
            check_case_failed = 0;                                                                 \
            check_cases[i].fn();                                                                   \
            printf("%s %s\n", check_case_failed ? "FAIL" : "ok  ", check_cases[i].name);           \
            fflush(stdout);                                                                        \
            if (check_case_failed)                                                                 \
                failed++;                                                                          \
            else                                                                                   \
                passed++;                                                                          \
        }                                                                                          \
        printf("%d passed, %d failed\n", passed, failed);                                          \
        return failed ? 1 : 0;                                                                     \
    }

#endif /* GOMAP_TESTS_CHECK_H */
