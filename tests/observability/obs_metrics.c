/*
 * obs_metrics.c — the in-process metrics (include/gomap/metrics.h): exact
 * counts per operation class from several threads on every variant, the
 * enable rules (EINVAL, EBUSY, EEXIST, a name reusable once its map is
 * freed), and an exposition that passes the format checker and carries the
 * process's conflict counters.
 */
#include "check.h"
#include "expfmt.h"

#include <errno.h>
#include <pthread.h>

#include <gomap/concmap.h>
#include <gomap/metrics.h>

enum { THREADS = 4, PER_THREAD = 5000 };

static concmap *new_map(const char *kind) {
    gomap_config cfg = {GOMAP_KEY_U64, 0, sizeof(uint64_t), 0, NULL, NULL, NULL, NULL};
    concmap *m = NULL;
    if (concmap_new(&m, kind, &cfg, NULL) != 0)
        return NULL;
    return m;
}

static void *worker(void *arg) {
    concmap *m = arg;
    for (uint64_t i = 0; i < PER_THREAD; i++) {
        uint64_t k = i % 97, v = i;
        if (concmap_store(m, &k, &v) != 0)
            abort();
        (void)concmap_load(m, &k, NULL);
        (void)concmap_load(m, &k, NULL);
        if (i % 5 == 0)
            concmap_delete(m, &k);
        if (i % 10 == 0) {
            bool loaded;
            if (concmap_load_or_store(m, &k, &v, NULL, &loaded) != 0)
                abort();
        }
    }
    return NULL;
}

static char *exposition(void) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    int err = gomap_metrics_write_prometheus(f);
    fclose(f);
    if (err) {
        free(buf);
        return NULL;
    }
    return buf;
}

TEST(counts_every_variant_exactly) {
    for (const char *const *kind = concmap_variants; *kind; kind++) {
        concmap *m = new_map(*kind);
        REQUIRE(m != NULL);
        char name[32];
        snprintf(name, sizeof name, "test_%s", *kind);
        REQUIRE_EQ(concmap_metrics_enable(m, name), 0);
        pthread_t t[THREADS];
        for (int i = 0; i < THREADS; i++)
            REQUIRE(pthread_create(&t[i], NULL, worker, m) == 0);
        for (int i = 0; i < THREADS; i++)
            pthread_join(t[i], NULL);
        gomap_metrics_counts c;
        REQUIRE_EQ(concmap_metrics_read(m, &c), 0);
        CHECK_EQ(c.store, THREADS * PER_THREAD);
        CHECK_EQ(c.load, 2 * THREADS * PER_THREAD);
        CHECK_EQ(c.delete_, THREADS * PER_THREAD / 5);
        CHECK_EQ(c.other, THREADS * PER_THREAD / 10);

        char *text = exposition();
        REQUIRE(text != NULL);
        char err[256] = "";
        CHECK(expfmt_check(text, err, sizeof err) == 0);
        if (err[0])
            printf("    %s\n", err);
        char line[160];
        snprintf(line, sizeof line,
                 "gomap_concmap_ops_total{map=\"%s\",variant=\"%s\",op=\"load\"} %d\n", name, *kind,
                 2 * THREADS * PER_THREAD);
        CHECK(strstr(text, line) != NULL);
        CHECK(strstr(text, "gomap_conflicts_total{kind=\"writes\"} ") != NULL);
        free(text);
        concmap_free(m);
    }
}

TEST(enable_rules) {
    concmap *a = new_map("rw"), *b = new_map("shard");
    REQUIRE(a && b);
    gomap_metrics_counts c;
    CHECK_EQ(concmap_metrics_read(a, &c), ENOENT);
    CHECK_EQ(concmap_metrics_enable(NULL, "x"), EINVAL);
    CHECK_EQ(concmap_metrics_enable(a, NULL), EINVAL);
    CHECK_EQ(concmap_metrics_enable(a, ""), EINVAL);
    char long_name[GOMAP_METRICS_NAME_MAX + 2];
    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    CHECK_EQ(concmap_metrics_enable(a, long_name), EINVAL);
    CHECK_EQ(concmap_metrics_enable(a, "same \"quoted\\name\"\n"), 0);
    CHECK_EQ(concmap_metrics_enable(a, "other"), EBUSY);
    CHECK_EQ(concmap_metrics_enable(b, "same \"quoted\\name\"\n"), EEXIST);
    char *text = exposition();
    REQUIRE(text != NULL);
    char err[256] = "";
    CHECK(expfmt_check(text, err, sizeof err) == 0);
    CHECK(strstr(text, "map=\"same \\\"quoted\\\\name\\\"\\n\"") != NULL);
    free(text);
    concmap_free(a); /* frees the name */
    CHECK_EQ(concmap_metrics_enable(b, "same \"quoted\\name\"\n"), 0);
    uint64_t k = 1;
    (void)concmap_load(b, &k, NULL);
    REQUIRE_EQ(concmap_metrics_read(b, &c), 0);
    CHECK_EQ(c.load, 1);
    concmap_free(b);
    text = exposition();
    REQUIRE(text != NULL);
    CHECK(strstr(text, "quoted") == NULL);
    free(text);
}

/* Enabling while other threads already use the map: no crash, no data race
 * (TSan), and the counts never exceed what was done. */
TEST(enable_while_in_use) {
    concmap *m = new_map("sync");
    REQUIRE(m != NULL);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        REQUIRE(pthread_create(&t[i], NULL, worker, m) == 0);
    CHECK_EQ(concmap_metrics_enable(m, "late"), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    gomap_metrics_counts c;
    REQUIRE_EQ(concmap_metrics_read(m, &c), 0);
    CHECK(c.store <= 2 * PER_THREAD && c.load <= 4 * PER_THREAD);
    concmap_free(m);
}

TEST_MAIN()
