/* check.c — the compiled half of check.h (see there): the case registry,
 * the runner, and run_in_child. */
#include "check.h"

enum { CHECK_MAX_CASES = 512 };

struct check_case {
    const char *name;
    check_case_fn fn;
};

static struct check_case check_cases[CHECK_MAX_CASES];
static int check_ncases;
int check_case_failed;

void check_register(const char *name, check_case_fn fn) {
    if (check_ncases == CHECK_MAX_CASES) {
        fprintf(stderr, "check.h: too many cases\n");
        exit(2);
    }
    check_cases[check_ncases].name = name;
    check_cases[check_ncases].fn = fn;
    check_ncases++;
}

void check_fail(const char *file, int line, const char *what) {
    fprintf(stderr, "  FAIL %s:%d: %s\n", file, line, what);
    check_case_failed++;
}

void run_in_child(void (*fn)(void *), void *arg, const char *const *env, struct child_result *r) {
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
        for (; env && *env; env++) {
            char *e = strdup(*env); /* putenv keeps it: the child's own copy */
            if (e)
                putenv(e);
        }
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
int check_main(int argc, char **argv) {
    int passed = 0, failed = 0;
    for (int i = 0; i < check_ncases; i++) {
        if (argc > 1 && !strstr(check_cases[i].name, argv[1]))
            continue;
        check_case_failed = 0;
        check_cases[i].fn();
        printf("%s %s\n", check_case_failed ? "FAIL" : "ok  ", check_cases[i].name);
        fflush(stdout);
        if (check_case_failed)
            failed++;
        else
            passed++;
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
