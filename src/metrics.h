/*
 * metrics.h (internal) — how concmap.c and metrics.c share a handle's
 * counters (include/gomap/metrics.h is the public side).
 */
#ifndef GOMAP_SRC_METRICS_H
#define GOMAP_SRC_METRICS_H

#include <stdatomic.h>

#include <gomap/concmap.h>

struct gomap__metrics;

/* The handle's counter block: NULL until concmap_metrics_enable.  Written
 * once (release, by metrics.c); read with acquire by every concmap_* call,
 * which pairs with that store so the block is seen initialised.  Defined in
 * concmap.c, which owns the handle. */
_Atomic(struct gomap__metrics *) *gomap__concmap_metrics_slot(const concmap *m);

/* Counts one operation of class op (0 load, 1 store, 2 delete, 3 other). */
void gomap__metrics_count(struct gomap__metrics *mx, int op);

/* Unregisters and frees a handle's block (concmap_free; NULL is allowed). */
void gomap__metrics_release(struct gomap__metrics *mx);

#endif /* GOMAP_SRC_METRICS_H */
