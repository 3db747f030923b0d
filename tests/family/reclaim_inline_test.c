/*
 * reclaim_inline_test.c — the inlined read-side section (src/reclaim_inline.h)
 * keeps RCU's promise: an object retired while a reader is inside an inline
 * section is not freed before the section ends; inline and out-of-line
 * sections nest in either order; a thread that only ever used inline sections
 * is unregistered when it exits (a later grace period does not wait for it).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "check.h"
#include "reclaim.h"
#include "reclaim_inline.h"

struct probe {
    struct gomap__rcu_head head;
    struct gomap__reclaim *r;
    atomic_bool freed;
};

static void probe_cb(struct gomap__rcu_head *head) {
    gomap__rcu_callback_begin(head);
    struct probe *p = GOMAP__CONTAINER_OF(head, struct probe, head);
    struct gomap__reclaim *r = p->r;
    atomic_store(&p->freed, true);
    gomap__rcu_reclaimed(r);
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

struct reader {
    atomic_int state; /* 0 start, 1 inside the section, 2 told to leave, 3 left */
    bool nested_out_of_line;
};

static void *reader_main(void *arg) {
    struct reader *rd = arg;
    gomap__rcu_enter_inline();
    if (rd->nested_out_of_line)
        gomap__rcu_enter();
    atomic_store(&rd->state, 1);
    while (atomic_load(&rd->state) != 2)
        sleep_ms(1);
    if (rd->nested_out_of_line)
        gomap__rcu_exit();
    gomap__rcu_exit_inline();
    atomic_store(&rd->state, 3);
    return NULL;
}

static void held_by(bool nested) {
    struct reader rd = {0, nested};
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, reader_main, &rd) == 0);
    while (atomic_load(&rd.state) != 1)
        sleep_ms(1);
    struct gomap__reclaim r;
    atomic_init(&r.pending, 0);
    struct probe p = {.r = &r};
    atomic_init(&p.freed, false);
    gomap__rcu_retire(&r, &p.head, probe_cb);
    /* The reclaimer's grace period must wait for the open section, however
     * long it stays open: 50 ms is many grace periods of an idle process. */
    sleep_ms(50);
    CHECK(!atomic_load(&p.freed));
    atomic_store(&rd.state, 2);
    gomap__rcu_drain(&r, "test");
    CHECK(atomic_load(&p.freed));
    pthread_join(th, NULL);
    CHECK_EQ(atomic_load(&rd.state), 3);
}

TEST(inline_section_holds_a_grace_period) {
    held_by(false);
}

TEST(out_of_line_inside_inline_section) {
    held_by(true);
}

TEST(sections_nest_in_either_order) {
    CHECK(!gomap__rcu_in_section());
    gomap__rcu_enter();
    gomap__rcu_enter_inline();
    CHECK(gomap__rcu_in_section());
    gomap__rcu_exit_inline();
    CHECK(gomap__rcu_in_section());
    gomap__rcu_exit();
    CHECK(!gomap__rcu_in_section());
    gomap__rcu_enter_inline(); /* the thread is registered by now: the fast path */
    gomap__rcu_enter_inline();
    gomap__rcu_enter();
    CHECK(gomap__rcu_in_section());
    gomap__rcu_exit();
    gomap__rcu_exit_inline();
    CHECK(gomap__rcu_in_section());
    gomap__rcu_exit_inline();
    CHECK(!gomap__rcu_in_section());
}

static void *enter_exit_and_die(void *arg) {
    (void)arg;
    for (int i = 0; i < 3; i++) {
        gomap__rcu_enter_inline();
        gomap__rcu_exit_inline();
    }
    return NULL;
}

TEST(exiting_inline_readers_do_not_hold_grace_periods) {
    for (int round = 0; round < 20; round++) {
        pthread_t th[4];
        for (int i = 0; i < 4; i++)
            REQUIRE(pthread_create(&th[i], NULL, enter_exit_and_die, NULL) == 0);
        for (int i = 0; i < 4; i++)
            pthread_join(th[i], NULL);
        struct gomap__reclaim r;
        atomic_init(&r.pending, 0);
        struct probe p = {.r = &r};
        atomic_init(&p.freed, false);
        gomap__rcu_retire(&r, &p.head, probe_cb);
        gomap__rcu_drain(&r, "test"); /* returns only once the grace period ended */
        CHECK(atomic_load(&p.freed));
    }
}

TEST_MAIN()
