/*
 * hard_dlclose.c — libgomap.so loaded with dlopen, used by a worker thread,
 * dlclose'd while the worker still runs; then the worker exits.
 *
 * Once the library has started a thread (the reclaimer) or registered one
 * (whose exit runs a TLS destructor in the library), it makes itself
 * non-unloadable: dlclose keeps it mapped, so the worker's exit, the
 * reclaimer and later use through the old function pointers are safe.
 * This program links no gomap code; GOMAP_SHARED_LIB is the built library.
 */
#include "check.h"

#include <gomap/syncmap.h>

#include <dlfcn.h>
#include <stdatomic.h>
#include <pthread.h>
#include <signal.h>

struct lib {
    void *handle;
    int (*new_)(syncmap **, const gomap_config *);
    int (*store)(syncmap *, const void *, const void *);
    bool (*load)(syncmap *, const void *, void *);
    void (*delete_)(syncmap *, const void *);
    void (*free_)(syncmap *);
};

static struct lib lib;
static syncmap *map;
static atomic_int phase;

static int open_lib(void) {
    lib.handle = dlopen(GOMAP_SHARED_LIB, RTLD_NOW | RTLD_LOCAL);
    if (!lib.handle) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 1;
    }
    *(void **)&lib.new_ = dlsym(lib.handle, "syncmap_new");
    *(void **)&lib.store = dlsym(lib.handle, "syncmap_store");
    *(void **)&lib.load = dlsym(lib.handle, "syncmap_load");
    *(void **)&lib.delete_ = dlsym(lib.handle, "syncmap_delete");
    *(void **)&lib.free_ = dlsym(lib.handle, "syncmap_free");
    return !(lib.new_ && lib.store && lib.load && lib.delete_ && lib.free_);
}

static void *worker(void *arg) {
    (void)arg;
    for (uint64_t k = 0; k < 1000; k++) {
        uint64_t v = k;
        if (lib.store(map, &k, &v) != 0)
            return (void *)1;
        (void)lib.load(map, &k, &v);
        if (k % 2)
            lib.delete_(map, &k);
    }
    atomic_store(&phase, 1);
    while (atomic_load(&phase) != 2) /* until the main thread has dlclose'd */
        sched_yield();
    return NULL; /* the thread's exit runs the library's TLS destructor */
}

static void scenario(void *arg) {
    (void)arg;
    alarm(30);
    if (open_lib())
        _exit(10);
    gomap_config cfg = {GOMAP_KEY_U64, 0, 8, 0, 0, 0, 0, 0};
    if (lib.new_(&map, &cfg) != 0)
        _exit(11);
    pthread_t t;
    if (pthread_create(&t, NULL, worker, NULL) != 0)
        _exit(12);
    while (atomic_load(&phase) != 1)
        sched_yield();
    if (dlclose(lib.handle) != 0)
        _exit(13);
    atomic_store(&phase, 2);
    void *res;
    pthread_join(t, &res);
    if (res)
        _exit(14);
    /* Still mapped: loading it again finds the same object, and the map
     * made before the dlclose still works and frees. */
    void *again = dlopen(GOMAP_SHARED_LIB, RTLD_NOW | RTLD_NOLOAD);
    if (!again) {
        fputs("libgomap.so was unloaded by dlclose\n", stderr);
        _exit(15);
    }
    uint64_t k = 2, v = 0;
    if (!lib.load(map, &k, &v) || v != 2)
        _exit(16);
    lib.free_(map);
    dlclose(again);
    /* Give the reclaimer time to run in case it were unmapped. */
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

TEST(dlclose_while_a_worker_runs_then_the_worker_exits) {
    static struct child_result r;
    run_in_child(scenario, NULL, NULL, &r);
    if (!(r.exited && r.status == 0)) {
        char msg[600];
        snprintf(msg, sizeof msg, "child ended by %s %d, stderr: %.300s",
                 r.exited ? "exit" : "signal", r.status, r.err);
        check_fail(__FILE__, __LINE__, msg);
    }
}

TEST_MAIN()
