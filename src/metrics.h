/*
 * metrics.h (internal) — the counter blocks of metrics.c, which concmap.c
 * attaches to its handles (include/gomap/metrics.h is the public side).
 * metrics.c is a leaf: it knows blocks, names and variant names, not maps.
 */
#ifndef GOMAP_SRC_METRICS_H
#define GOMAP_SRC_METRICS_H

#include <gomap/metrics.h>

struct gomap__metrics;

/* Creates a zeroed block named `name` (1..GOMAP_METRICS_NAME_MAX bytes, the
 * caller checked) for a map of variant `variant` (a string that outlives
 * the block) and registers it, so gomap_metrics_write_prometheus shows it.
 * 0 and *out, EEXIST (a registered block has that name) or ENOMEM. */
int gomap__metrics_register(const char *name, const char *variant, struct gomap__metrics **out);

/* A block's counts, each exact at some moment. */
void gomap__metrics_read(const struct gomap__metrics *mx, gomap_metrics_counts *out);

/* Counts one operation of class op (0 load, 1 store, 2 delete, 3 other). */
void gomap__metrics_count(struct gomap__metrics *mx, int op);

/* Unregisters and frees a block (NULL is allowed). */
void gomap__metrics_release(struct gomap__metrics *mx);

#endif /* GOMAP_SRC_METRICS_H */
