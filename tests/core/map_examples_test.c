/* map_examples_test.c — runs the examples (examples/crash_*.c): the crash
 * programs must stop with Go's fatal message and a stack naming their own
 * threads' functions; the fixed versions must exit 0 with the full count, for
 * the mutex and for every thread-safe variant concmap_variants lists. */
#include "check.h"

#include <gomap/concmap.h>
#include <signal.h>

#ifndef EXAMPLES_DIR
#error "EXAMPLES_DIR must name the directory of the example binaries"
#endif

struct exec_args {
    char path[4096];
    char arg1[64];
    bool has_arg1;
};

static void exec_example(void *p) {
    struct exec_args *a = (struct exec_args *)p;
    char *argv[] = {a->path, a->has_arg1 ? a->arg1 : NULL, NULL};
    execv(a->path, argv);
    perror("execv");
    _exit(127);
}

static struct child_result result;

/* The crash programs race on purpose, so ThreadSanitizer would report the
 * race itself before gomap's detector does: silence it for them. */
static const char *const crash_env[] = {"TSAN_OPTIONS=report_bugs=0", NULL};

static void run_example(const char *name, const char *arg1, const char *const *env) {
    struct exec_args a;
    snprintf(a.path, sizeof a.path, "%s/%s", EXAMPLES_DIR, name);
    a.has_arg1 = arg1 != NULL;
    snprintf(a.arg1, sizeof a.arg1, "%s", arg1 ? arg1 : "");
    run_in_child(exec_example, &a, env, &result);
}

/* Detection is best-effort (as Go's): a run whose threads never overlap (a
 * busy machine) finishes without a report, so give it a few tries. */
static void crashes_with(const char *name, const char *line, const char *fn) {
#ifdef GOMAP_TEST_NO_DETECT
    printf("  %s: skipped: detection compiled out\n", name);
    (void)line;
    (void)fn;
    return;
#endif
    int tries;
    for (tries = 1; tries <= 10; tries++) {
        run_example(name, NULL, crash_env);
        size_t n = strcspn(result.err, "\n");
        if (!result.exited && result.status == SIGABRT && n == strlen(line) &&
            strncmp(result.err, line, n) == 0)
            break;
        fprintf(stderr, "  %s try %d: %s %d, output:\n%.2000s\n", name, tries,
                result.exited ? "exit" : "signal", result.status, result.err);
    }
    REQUIRE(tries <= 10);
    /* One report, as Go prints one, even when several threads detect. */
    int reports = 0;
    for (const char *p = strstr(result.err, "fatal error:"); p; p = strstr(p + 1, "fatal error:"))
        reports++;
    CHECK_EQ(reports, 1);
    CHECK(strstr(result.err, fn) != NULL); /* the detecting thread's stack is named */
    if (check_case_failed)
        fprintf(stderr, "  %s output:\n%.3000s\n", name, result.err);
    CHECK(strstr(result.err, "held the map's writing flag") != NULL ||
          strstr(result.err, "writer:") != NULL); /* the other party */
    printf("  %s: detected on try %d\n", name, tries);
}

TEST(crash_writes) {
    crashes_with("crash_writes", "fatal error: concurrent map writes", "writer");
}

TEST(crash_readwrite) {
    crashes_with("crash_readwrite", "fatal error: concurrent map read and map write", "reader");
}

static void exits_with_count(const char *name, const char *arg1, const char *count) {
    run_example(name, arg1, NULL);
    CHECK(result.exited && result.status == 0);
    CHECK(strstr(result.err, count) != NULL);
    CHECK(!strstr(result.err, "fatal error"));
    if (check_case_failed)
        fprintf(stderr, "  %s %s: %s %d, output:\n%s\n", name, arg1 ? arg1 : "",
                result.exited ? "exit" : "signal", result.status, result.err);
}

/* GOMAP_DEBUG=conflict=report and count keep the misused program running and
 * its map correct: every run ends with every key present with its value
 * (the conflicting calls wait for each other), and count mode printed
 * nothing. */
TEST(survive_modes_keep_the_map_correct) {
#ifdef GOMAP_TEST_NO_DETECT
    printf("  skipped: detection compiled out\n");
    return;
#endif
    static const char *const report[] = {"GOMAP_DEBUG=conflict=report", NULL};
    static const char *const count[] = {"GOMAP_DEBUG=conflict=count", NULL};
    for (int run = 0; run < 3; run++) {
        const char *const *env = run % 2 ? count : report;
        run_example("crash_writes", NULL, env);
        CHECK(result.exited && result.status == 0);
        CHECK(strstr(result.err,
                     "final count: 10000 (expected 10000), keys missing or wrong: 0\n") != NULL);
        run_example("crash_readwrite", NULL, env);
        CHECK(result.exited && result.status == 0);
        CHECK(strstr(result.err, "final count: 1000 (expected 1000), keys missing or wrong: 0\n") !=
              NULL);
        if (env == count)
            CHECK(!strstr(result.err, "fatal error"));
        if (check_case_failed) {
            fprintf(stderr, "  %s: %s %d, output:\n%.3000s\n", env[0],
                    result.exited ? "exit" : "signal", result.status, result.err);
            return;
        }
    }
}

TEST(fixed_with_mutex) {
    exits_with_count("crash_writes_mutex", NULL, "final count: 10000 ");
    exits_with_count("crash_readwrite_mutex", NULL, "final count: 1000 ");
}

/* Every variant concmap_variants lists fixes both programs.  Under
 * ThreadSanitizer cowmap is left out: it copies the whole map on every
 * write, ten writers are its worst case, and there that run takes minutes. */
TEST(fixed_with_concmap) {
    for (const char *const *v = concmap_variants; *v; v++) {
#if CHECK_UNDER_TSAN
        if (strcmp(*v, "cow") == 0)
            continue;
#endif
        exits_with_count("crash_writes_concmap", *v, "final count: 10000 ");
        exits_with_count("crash_readwrite_concmap", *v, "final count: 1000 ");
    }
    run_example("crash_writes_concmap", "no-such-map", NULL);
    CHECK(result.exited && result.status == 2);
}

TEST_MAIN()
