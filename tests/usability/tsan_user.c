/*
 * tsan_user.c — a user's program built with -fsanitize=thread against the
 * ordinary (not instrumented) library, as a user would build theirs.
 *
 *   tsan_user correct   every variant of concmap used correctly from four
 *                       threads (every method, u64 and string keys, range
 *                       callbacks that read the keys and values they are
 *                       handed, compute), and a gomap shared under a mutex
 *                       then read by several threads: TSan must report
 *                       nothing (the library tells it its happens-before
 *                       edges: src/tsan.h);
 *   tsan_user race      the same, plus a data race planted in the program's
 *                       own code: TSan must still report it.
 *
 * ctest runs both and reads TSan's output (tests/CMakeLists.txt).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gomap/concmap.h>
#include <gomap/gomap.h>

enum { THREADS = 4, OPS = 3000, KEYS = 64 };

struct worker {
    concmap *m;
    bool strings;
    unsigned id;
    pthread_t t;
};

static long planted; /* the race mode's shared counter, written unsynchronised */
static bool plant_race;

static const void *key_of(struct worker *w, uint64_t id, uint64_t *u, gomap_str *s, char *buf) {
    if (!w->strings) {
        *u = id;
        return u;
    }
    int n = snprintf(buf, 48, "key-%llu-%s", (unsigned long long)id, id % 3 ? "long-tail" : "");
    s->ptr = buf;
    s->len = (size_t)n;
    return s;
}

/* A range callback that reads everything it is handed, as users' do. */
static bool visit(const void *key, const void *value, void *ctx) {
    uint64_t *sum = ctx;
    uint64_t v[3];
    memcpy(v, value, sizeof v);
    *sum += v[0] + v[2];
    (void)key;
    return true;
}

static concmap_action add_one(void *value, bool loaded, void *ctx) {
    (void)loaded;
    (void)ctx;
    uint64_t *v = value;
    v[0]++;
    v[2] = ~v[0];
    return CONCMAP_STORE;
}

static void *work(void *arg) {
    struct worker *w = arg;
    if (plant_race)
        planted++; /* no lock, no atomic: the planted race */
    uint64_t rng = 0x9e3779b97f4a7c15u * (w->id + 1), sum = 0;
    for (unsigned i = 0; i < OPS; i++) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        uint64_t id = rng % KEYS, u;
        gomap_str s;
        char buf[48];
        const void *k = key_of(w, id, &u, &s, buf);
        uint64_t v[3] = {i, id, ~(uint64_t)i}, out[3], old[3];
        bool flag;
        switch ((rng >> 32) % 12) {
        case 0:
            if (concmap_store(w->m, k, v) != 0)
                abort();
            break;
        case 1:
            if (concmap_load(w->m, k, out))
                sum += out[0];
            break;
        case 2:
            if (concmap_load_or_store(w->m, k, v, out, &flag) != 0)
                abort();
            sum += out[1];
            break;
        case 3:
            if (concmap_swap(w->m, k, v, out, &flag) != 0)
                abort();
            break;
        case 4:
            if (concmap_load(w->m, k, old) && concmap_compare_and_swap(w->m, k, old, v, &flag))
                abort();
            break;
        case 5:
            if (concmap_load(w->m, k, old))
                (void)concmap_compare_and_delete(w->m, k, old);
            break;
        case 6:
            concmap_delete(w->m, k);
            break;
        case 7:
            if (concmap_load_and_delete(w->m, k, out))
                sum += out[2];
            break;
        case 8:
        case 9:
            if (concmap_compute(w->m, k, add_one, NULL) != 0)
                abort();
            break;
        case 10:
            concmap_range(w->m, visit, &sum);
            break;
        default:
            sum += concmap_len(w->m);
            if (i % 500 == 0)
                concmap_clear(w->m);
            break;
        }
    }
    return (void *)(uintptr_t)(sum & 1);
}

static void run_variant(const char *kind, bool strings) {
    gomap_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.key_kind = strings ? GOMAP_KEY_STRING : GOMAP_KEY_U64;
    cfg.value_size = 3 * sizeof(uint64_t);
    concmap *m;
    if (concmap_new(&m, kind, &cfg, NULL) != 0)
        abort();
    struct worker w[THREADS];
    for (unsigned i = 0; i < THREADS; i++) {
        w[i] = (struct worker){m, strings, i, 0};
        if (pthread_create(&w[i].t, NULL, work, &w[i]) != 0)
            abort();
    }
    for (unsigned i = 0; i < THREADS; i++)
        pthread_join(w[i].t, NULL);
    concmap_free(m);
}

/* A gomap is not safe for concurrent use: writes under the user's mutex,
 * then concurrent reads (allowed) once the writers are done. */
static gomap *core;
static pthread_mutex_t core_mu = PTHREAD_MUTEX_INITIALIZER;

static void *core_writer(void *arg) {
    uint64_t base = (uintptr_t)arg;
    for (uint64_t i = 0; i < 2000; i++) {
        uint64_t k = base + i % 500;
        pthread_mutex_lock(&core_mu);
        uint64_t *v = gomap_upsert(core, &k, NULL);
        if (!v)
            abort();
        ++*v;
        if (i % 7 == 0)
            gomap_delete(core, &k);
        pthread_mutex_unlock(&core_mu);
    }
    return NULL;
}

static void *core_reader(void *arg) {
    uint64_t sum = 0;
    gomap_iter it;
    const void *k;
    void *v;
    gomap_iter_init(&it, core);
    while (gomap_iter_next(&it, &k, &v))
        sum += *(const uint64_t *)k + *(const uint64_t *)v;
    for (uint64_t i = 0; i < 1000; i++) {
        const uint64_t *p = gomap_get(core, &i);
        sum += p ? *p : 0;
    }
    (void)arg;
    return (void *)(uintptr_t)(sum & 1);
}

static void run_core(void) {
    gomap_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.value_size = sizeof(uint64_t);
    if (gomap_new(&core, &cfg) != 0)
        abort();
    pthread_t t[THREADS];
    for (uintptr_t i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, core_writer, (void *)(i * 250));
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, core_reader, NULL);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    gomap_free(core);
}

int main(int argc, char **argv) {
    if (argc != 2 || (strcmp(argv[1], "correct") != 0 && strcmp(argv[1], "race") != 0)) {
        fprintf(stderr, "usage: tsan_user correct|race\n");
        return 2;
    }
    plant_race = strcmp(argv[1], "race") == 0;
    for (const char *const *kind = concmap_variants; *kind; kind++) {
        run_variant(*kind, false);
        run_variant(*kind, true);
        printf("%s: done\n", *kind);
    }
    run_core();
    printf("core: done\n");
    return 0;
}
