/*
 * obs_expfmt.c — the exposition-format checker (obs_expfmt.h) as a program:
 *   obs_expfmt FILE   checks FILE (used by tests/observability/obs_watch.sh on gomap-watch's
 *                     /metrics), exit 0 when valid;
 *   obs_expfmt        runs the checker's own tests: it accepts valid input
 *                     and rejects each kind of mistake.
 */
#include "check.h"
#include "expfmt.h"

static bool valid(const char *text) {
    char err[256];
    bool ok = expfmt_check(text, err, sizeof err) == 0;
    if (!ok)
        printf("    (%s)\n", err);
    return ok;
}

TEST(accepts_valid) {
    CHECK(valid("# HELP a_total A thing.\n# TYPE a_total counter\na_total{x=\"1\"} 3\n"
                "a_total{x=\"2\"} 4 1700000000000\n\n# a comment\ng 1.5e-3\n"
                "# TYPE h histogram\nh_bucket{le=\"0.1\"} 1\nh_bucket{le=\"+Inf\"} 2\n"
                "h_sum 0.3\nh_count 2\nesc{l=\"a\\\"b\\\\c\\n\"} NaN\n"));
}

TEST(rejects_mistakes) {
    CHECK(!valid("a 1"));                                   /* no final newline */
    CHECK(!valid("1a 1\n"));                                /* bad name */
    CHECK(!valid("a{1x=\"1\"} 1\n"));                       /* bad label name */
    CHECK(!valid("a{__x=\"1\"} 1\n"));                      /* reserved label name */
    CHECK(!valid("a{x=\"1} 1\n"));                          /* unterminated value */
    CHECK(!valid("a{x=\"\\t\"} 1\n"));                      /* bad escape */
    CHECK(!valid("a one\n"));                               /* bad value */
    CHECK(!valid("a{x=\"1\"} 1\na{x=\"1\"} 2\n"));          /* duplicate series */
    CHECK(!valid("a 1\nb 1\na{x=\"2\"} 1\n"));              /* not contiguous */
    CHECK(!valid("a 1\n# TYPE a gauge\n"));                 /* TYPE after samples */
    CHECK(!valid("# TYPE a gauge\n# TYPE a gauge\na 1\n")); /* second TYPE */
    CHECK(!valid("# TYPE a counter\na 1\n"));               /* counter not *_total */
    CHECK(!valid("# TYPE a widget\na 1\n"));                /* bad type */
    CHECK(!valid("# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n"
                 "h_sum 1\nh_count 1\n")); /* decreasing buckets */
    CHECK(!valid("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n")); /* no +Inf */
    CHECK(!valid("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n"));
    CHECK(!valid("# TYPE h histogram\nh_bucket 1\nh_sum 1\nh_count 1\n")); /* no le */
}

static int check_file(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return 2;
    }
    static char buf[4 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char err[512];
    if (expfmt_check(buf, err, sizeof err) != 0) {
        fprintf(stderr, "%s: invalid exposition: %s\n", path, err);
        return 1;
    }
    printf("%s: valid Prometheus text exposition\n", path);
    return 0;
}

/* A file to check, or the cases (check_main, the harness's runner). */
int main(int argc, char **argv) {
    if (argc > 1 && access(argv[1], R_OK) == 0)
        return check_file(argv[1]);
    return check_main(argc, argv);
}
