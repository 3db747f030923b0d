/*
 * obs_target.c — a process that does a known amount of map work, so that the
 * observability tools (the bpftrace scripts in tools/trace, gomap-watch) can be tested against a
 * real process, and docs/observability.md can show real output.
 *
 * Handshake.  When the environment names a file in OBS_GO, the target prints
 * "obs_target: pid N waiting" and waits until that file exists: the test
 * creates it once the tracer says it is attached, so no event is missed and
 * the test is deterministic.  It then checks that the probe semaphores named
 * in OBS_SEMS (comma-separated probe names, e.g. "conflict,op") are raised —
 * the proof that the tracer's attach reached this process — and exits 3 when
 * one is not.  After the work it prints "obs_target: done" and, under OBS_GO,
 * waits for the file OBS_GO.stop, so that a tracer can print its summary
 * while the process is alive (bpftrace resolves user symbols from /proc/PID).
 *
 * Workload, with the counts printed as "obs_target: expect NAME VALUE"; the
 * environment variable OBS_PHASES (comma-separated: conflicts,core,concmap;
 * all by default) chooses the phases:
 *   conflicts  OBS_RW "read and map write" and OBS_IT "iteration and map write"
 *              conflicts, made deterministic with two threads: the writer
 *              starts a gomap_set whose key-equality function blocks (the
 *              writing flag is set) until the reader has done a get or an
 *              iterator step, which finds the flag set.  The target switches
 *              itself to GOMAP_CONFLICT_REPORT unless GOMAP_DEBUG says count.
 *   core       a u64 -> u64 map: NSET inserts from empty (doubling grows,
 *              evacuations), NGET lookups (half hit), NDEL deletes.
 *   concmap    for every variant: NSTORE stores, NLOAD loads, NCDEL deletes;
 *              then two threads hammer one "rw" map (lock waits); the "sync"
 *              variant's loads of freshly stored keys miss and promote.
 * OBS_REPEAT=N (at most MAX_REPEAT) runs the core and concmap phases N times,
 * OBS_PAUSE_MS apart (default 500), so that a scraper sampling every second
 * sees the counters move; the expectations printed are those of one round.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <gomap/concmap.h>
#include <gomap/gomap.h>

#include "probes.h"

enum {
    OBS_RW = 3,
    OBS_IT = 2,
    NSET = 10000,
    NGET = 20000,
    NDEL = 2000,
    NSTORE = 1000,
    NLOAD = 2000,
    NCDEL = 100,
    NCONTEND = 20000,
    MAX_REPEAT = 64,
};

static long obs_tid(void) {
    return (long)syscall(SYS_gettid);
}

static void die(const char *what) {
    fprintf(stderr, "obs_target: %s\n", what);
    exit(2);
}

/* ---- handshake ------------------------------------------------------------ */

#ifndef GOMAP_NO_PROBES
static const struct {
    const char *name;
    volatile unsigned short *sem;
} obs_sems[] = {
    {"conflict", &gomap_conflict_semaphore},
    {"grow_start", &gomap_grow_start_semaphore},
    {"evacuate", &gomap_evacuate_semaphore},
    {"op", &gomap_op_semaphore},
    {"lock_wait", &gomap_lock_wait_semaphore},
    {"lock_hold", &gomap_lock_hold_semaphore},
    {"syncmap_miss", &gomap_syncmap_miss_semaphore},
    {"syncmap_promote", &gomap_syncmap_promote_semaphore},
    {"concmap_op", &gomap_concmap_op_semaphore},
};
#endif

/* Returns 0 when every probe named in the comma-separated list has a non-zero
 * semaphore, else prints the first that does not and returns -1. */
static int check_semaphores(const char *list) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *name = strtok_r(buf, ",", &save); name;
         name = strtok_r(NULL, ",", &save)) {
#ifndef GOMAP_NO_PROBES
        size_t i;
        for (i = 0; i < sizeof obs_sems / sizeof obs_sems[0]; i++)
            if (strcmp(obs_sems[i].name, name) == 0)
                break;
        if (i == sizeof obs_sems / sizeof obs_sems[0]) {
            fprintf(stderr, "obs_target: unknown probe %s\n", name);
            return -1;
        }
        unsigned v = *obs_sems[i].sem;
        printf("obs_target: semaphore %s = %u\n", name, v);
        if (v == 0) {
            fprintf(stderr, "obs_target: semaphore of probe %s was not raised\n", name);
            return -1;
        }
#else
        fprintf(stderr, "obs_target: probes compiled out, cannot check %s\n", name);
        return -1;
#endif
    }
    return 0;
}

/* Waits for the file OBS_GO (suffix "") or OBS_GO.stop (suffix "stop"). */
static void wait_for_file(const char *suffix) {
    const char *go = getenv("OBS_GO");
    if (!go || !*go)
        return;
    char path[4096];
    snprintf(path, sizeof path, "%s%s%s", go, *suffix ? "." : "", suffix);
    while (access(path, F_OK) != 0)
        usleep(2000);
}

static void wait_for_go(void) {
    if (!getenv("OBS_GO"))
        return;
    printf("obs_target: pid %ld waiting\n", (long)getpid());
    wait_for_file("");
    const char *sems = getenv("OBS_SEMS");
    if (sems && *sems && check_semaphores(sems) != 0)
        exit(3);
}

/* ---- deterministic conflicts --------------------------------------------- */

/* The writer thread's equality function parks while `phase` is HOLDING, so the
 * map's writing flag stays set until the reader has run into it. */
enum { PHASE_IDLE, PHASE_HOLDING, PHASE_DONE };
static atomic_int phase;                   /* release/acquire pairs between the two threads */
static _Thread_local int is_writer;        /* only the writer parks in key_equal */
static atomic_long writer_tid, reader_tid; /* for the expectations printed at the end */

static uint64_t key_hash(const void *key, uint64_t seed, void *ctx) {
    (void)ctx;
    uint64_t k;
    memcpy(&k, key, sizeof k);
    return gomap_hash_u64(k, seed);
}

static uint64_t conflicts_counted(void) {
    uint64_t n = 0;
    for (int k = 0; k < GOMAP_CONFLICT_TYPES; k++)
        n += gomap_conflict_count((gomap_conflict_type)k);
    return n;
}

/* In the report and count modes the reader's step waits for this write to
 * end (the map stays correct), so the writer goes on once the reader has
 * counted its conflict. */
static bool key_equal(const void *a, const void *b, void *ctx) {
    (void)ctx;
    if (is_writer && atomic_load_explicit(&phase, memory_order_relaxed) == PHASE_IDLE) {
        uint64_t before = conflicts_counted();
        /* Release: the reader's acquire load of HOLDING sees every map write
         * this thread made before the lookup (growth work, for instance). */
        atomic_store_explicit(&phase, PHASE_HOLDING, memory_order_release);
        while (atomic_load_explicit(&phase, memory_order_acquire) != PHASE_DONE &&
               conflicts_counted() == before)
            usleep(100);
    }
    return memcmp(a, b, sizeof(uint64_t)) == 0;
}

struct conflict_round {
    gomap *m;
    int iterate;            /* 0: the reader does a get; 1: an iterator step */
    atomic_int writer_done; /* the writer's gomap_set has returned (release) */
};

/* The round's threads stay alive until the process is about to exit: tracers
 * symbolize a stack through its thread (bpftrace reads /proc/TID/maps), long
 * after the event, as they would in a long-running service. */
static atomic_int release_threads;
static pthread_t parked[2 * (OBS_RW + OBS_IT)];
static int nparked;

static void park(void) {
    while (!atomic_load_explicit(&release_threads, memory_order_relaxed))
        usleep(1000);
}

static void *writer_main(void *arg) {
    struct conflict_round *r = arg;
    is_writer = 1;
    atomic_store(&writer_tid, obs_tid());
    uint64_t k = 1, v = 2;
    if (gomap_set(r->m, &k, &v) != 0) /* key 1 is present: equality runs */
        die("gomap_set failed");
    atomic_store_explicit(&r->writer_done, 1, memory_order_release);
    park();
    return NULL;
}

static void *reader_main(void *arg) {
    struct conflict_round *r = arg;
    atomic_store(&reader_tid, obs_tid());
    while (atomic_load_explicit(&phase, memory_order_acquire) != PHASE_HOLDING)
        usleep(100);
    if (r->iterate) {
        gomap_iter it;
        const void *k;
        gomap_iter_init(&it, r->m);
        (void)gomap_iter_next(&it, &k, NULL);
    } else {
        uint64_t k = 7;
        (void)gomap_get(r->m, &k);
    }
    atomic_store_explicit(&phase, PHASE_DONE, memory_order_release);
    park();
    return NULL;
}

static gomap *run_conflicts(void) {
    gomap_config cfg = {
        GOMAP_KEY_BYTES, sizeof(uint64_t), sizeof(uint64_t), 0, key_hash, key_equal, NULL, NULL};
    gomap *m;
    if (gomap_new(&m, &cfg) != 0)
        die("gomap_new failed");
    uint64_t k = 1, v = 1;
    if (gomap_set(m, &k, &v) != 0)
        die("gomap_set failed");
    static struct conflict_round rounds[OBS_RW + OBS_IT];
    for (int i = 0; i < OBS_RW + OBS_IT; i++) {
        struct conflict_round *r = &rounds[i];
        r->m = m;
        r->iterate = i >= OBS_RW;
        atomic_store(&phase, PHASE_IDLE);
        if (pthread_create(&parked[nparked++], NULL, writer_main, r) ||
            pthread_create(&parked[nparked++], NULL, reader_main, r))
            die("pthread_create failed");
        /* The next round's write must not overlap this one's. */
        while (!atomic_load_explicit(&r->writer_done, memory_order_acquire) ||
               atomic_load_explicit(&phase, memory_order_acquire) != PHASE_DONE)
            usleep(100);
        printf("obs_target: conflict %d writer tid %ld reader tid %ld\n", i,
               atomic_load(&writer_tid), atomic_load(&reader_tid));
    }
    printf("obs_target: conflict map %p\n", (void *)m);
    return m;
}

/* ---- core operations -------------------------------------------------------- */

/* Returns the map, kept until exit so that no later map reuses its address
 * (tools key per-map counts by address). */
static gomap_u64u64 *run_core(void) {
    gomap_u64u64 *m = gomap_u64u64_new(0);
    if (!m)
        die("gomap_u64u64_new failed");
    printf("obs_target: core map %p\n", (void *)m);
    for (uint64_t i = 0; i < NSET; i++)
        if (gomap_u64u64_set(m, i, i) != 0)
            die("set failed");
    uint64_t hits = 0;
    for (uint64_t i = 0; i < NGET; i++)
        hits += gomap_u64u64_get(m, i, NULL);
    for (uint64_t i = 0; i < NDEL; i++)
        (void)gomap_u64u64_delete(m, i);
    if (hits != NSET || gomap_u64u64_len(m) != NSET - NDEL)
        die("core map miscounted");
    return m;
}

/* ---- the thread-safe family ------------------------------------------------ */

static void *contend_main(void *arg) {
    concmap *c = arg;
    for (uint64_t i = 0; i < NCONTEND; i++) {
        uint64_t k = i % 64;
        if (i % 4 == 0) {
            if (concmap_store(c, &k, &i) != 0)
                die("store failed");
        } else {
            (void)concmap_load(c, &k, NULL);
        }
    }
    return NULL;
}

static void run_concmaps(void) {
    gomap_config cfg = {GOMAP_KEY_U64, 0, sizeof(uint64_t), 0, NULL, NULL, NULL, NULL};
    int kinds = 0;
    for (const char *const *kind = concmap_variants; *kind; kind++) {
        concmap *c;
        if (concmap_new(&c, *kind, &cfg, NULL) != 0) {
            printf("obs_target: concmap %s unavailable\n", *kind);
            continue;
        }
        kinds++;
        printf("obs_target: concmap %s %p\n", *kind, (void *)c);
        for (uint64_t i = 0; i < NSTORE; i++)
            if (concmap_store(c, &i, &i) != 0)
                die("store failed");
        for (uint64_t i = 0; i < NLOAD; i++)
            (void)concmap_load(c, &i, NULL);
        for (uint64_t i = 0; i < NCDEL; i++)
            concmap_delete(c, &i);
        if (strcmp(*kind, "rw") == 0) {
            pthread_t t[2];
            for (int i = 0; i < 2; i++)
                if (pthread_create(&t[i], NULL, contend_main, c))
                    die("pthread_create failed");
            for (int i = 0; i < 2; i++)
                pthread_join(t[i], NULL);
        }
        concmap_free(c);
    }
    printf("obs_target: expect concmap_variants %d\n", kinds);
}

static bool phase_on(const char *name) {
    const char *phases = getenv("OBS_PHASES");
    if (!phases || !*phases)
        return true;
    size_t n = strlen(name);
    for (const char *p = phases; (p = strstr(p, name)) != NULL; p += n)
        if ((p == phases || p[-1] == ',') && (p[n] == '\0' || p[n] == ','))
            return true;
    return false;
}

/* Called once the work is done: tests put a uprobe here to end a tracer
 * (bpftrace's exit()) while the process and its threads are still alive. */
void obs_target_done(void);
__attribute__((noinline, used)) void obs_target_done(void) {
    __asm__ volatile("" ::: "memory");
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (gomap_debug_mode() == GOMAP_CONFLICT_ABORT)
        gomap_debug_set_mode(GOMAP_CONFLICT_REPORT);
    wait_for_go();
    bool conflicts = phase_on("conflicts"), core = phase_on("core"), conc = phase_on("concmap");
    /* Core-map operations of the whole process, for tools that count per
     * process: the conflict rounds add one set (the writer) each, plus the
     * set that fills the map. */
    int rounds = conflicts ? OBS_RW + OBS_IT : 0;
    printf("obs_target: expect conflicts_read_write %d\n", conflicts ? OBS_RW : 0);
    printf("obs_target: expect conflicts_iter_write %d\n", conflicts ? OBS_IT : 0);
    printf("obs_target: expect core_set %d\n", NSET);
    printf("obs_target: expect core_get %d\n", NGET);
    printf("obs_target: expect core_delete %d\n", NDEL);
    printf("obs_target: expect process_core_set %d\n",
           (core ? NSET : 0) + (conflicts ? 1 + rounds : 0));
    /* A reader's get that runs into the writing flag may or may not pass the
     * op probe (the map checks the flag first on some paths): a range. */
    printf("obs_target: expect process_core_get_min %d\n", core ? NGET : 0);
    printf("obs_target: expect process_core_get_max %d\n",
           (core ? NGET : 0) + (conflicts ? OBS_RW : 0));
    printf("obs_target: expect process_core_delete %d\n", core ? NDEL : 0);
    printf("obs_target: expect concmap_store %d\n", NSTORE);
    printf("obs_target: expect concmap_load %d\n", NLOAD);
    printf("obs_target: expect concmap_delete %d\n", NCDEL);
    /* The "rw" map also takes the two contending threads' operations. */
    printf("obs_target: expect concmap_rw_store %d\n", NSTORE + 2 * (NCONTEND / 4));
    printf("obs_target: expect concmap_rw_load %d\n", NLOAD + 2 * (NCONTEND - NCONTEND / 4));
    int repeat = getenv("OBS_REPEAT") ? atoi(getenv("OBS_REPEAT")) : 1;
    repeat = repeat < 1 ? 1 : repeat > MAX_REPEAT ? MAX_REPEAT : repeat;
    int pause_ms = getenv("OBS_PAUSE_MS") ? atoi(getenv("OBS_PAUSE_MS")) : 500;
    gomap *conflict_map = conflicts ? run_conflicts() : NULL;
    gomap_u64u64 *core_maps[MAX_REPEAT] = {NULL};
    for (int r = 0; r < repeat; r++) {
        if (r > 0)
            usleep((useconds_t)pause_ms * 1000);
        if (core)
            core_maps[r] = run_core();
        if (conc)
            run_concmaps();
    }
    printf("obs_target: counted conflicts read_write %llu iter_write %llu writes %llu\n",
           (unsigned long long)gomap_conflict_count(GOMAP_CONFLICT_READ_WRITE),
           (unsigned long long)gomap_conflict_count(GOMAP_CONFLICT_ITER_WRITE),
           (unsigned long long)gomap_conflict_count(GOMAP_CONFLICT_WRITES));
    printf("obs_target: done\n");
    obs_target_done();
    wait_for_file("stop");
    atomic_store(&release_threads, 1);
    for (int i = 0; i < nparked; i++)
        pthread_join(parked[i], NULL);
    gomap_free(conflict_map);
    for (int r = 0; r < repeat; r++)
        gomap_u64u64_free(core_maps[r]);
    return 0;
}
