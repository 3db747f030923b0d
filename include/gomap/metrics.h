/*
 * metrics.h — in-process counters for gomap's thread-safe maps, written by the
 * program itself in the Prometheus text format: for a service that already
 * serves HTTP and wants its maps' numbers without eBPF (compare gomap-watch,
 * docs/observability.md, which needs neither code nor restart but needs root).
 *
 * Opt-in, per map: concmap_metrics_enable(m, "sessions") starts counting the
 * operations on m by kind (load, store, delete, other — the concmap_op
 * probe's classes).  A map without metrics pays one predictable branch per
 * concmap_* call; the core map (gomap) pays nothing.  With metrics, each
 * operation adds one relaxed atomic increment to a counter striped per thread
 * (16 cache-line-sized stripes), so threads do not contend on one line.
 *
 * gomap_metrics_write_prometheus writes every enabled map's counters and the
 * process's conflict counters (gomap_conflict_count) as one exposition:
 *
 *     gomap_conflicts_total{kind="read_write"} 0
 *     gomap_concmap_ops_total{map="sessions",variant="rw",op="load"} 1234
 *
 * A map's counters disappear when the map is freed.  All functions are
 * thread-safe; counts read while operations run are each exact at some
 * moment, not a snapshot of one instant across counters.
 */
#ifndef GOMAP_METRICS_H
#define GOMAP_METRICS_H

#include <stdint.h>
#include <stdio.h>

#include <gomap/concmap.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The longest name concmap_metrics_enable accepts, in bytes. */
enum { GOMAP_METRICS_NAME_MAX = 63 };

/* Starts counting m's operations under `name` (the map="..." label: any
 * bytes but NUL, 1..GOMAP_METRICS_NAME_MAX long, unique among the maps with
 * metrics).  May run while other threads use m; operations that overlap the
 * call may or may not be counted.  Returns 0, EINVAL (m or name NULL, name
 * empty or too long), EEXIST (another map has that name), EBUSY (m already
 * has metrics) or ENOMEM. */
GOMAP_API int concmap_metrics_enable(concmap *m, const char *name);

/* One map's counts. */
typedef struct gomap_metrics_counts {
    uint64_t load;    /* concmap_load */
    uint64_t store;   /* concmap_store, concmap_swap */
    uint64_t delete_; /* concmap_delete, load_and_delete, compare_and_delete */
    uint64_t other;   /* load_or_store, compare_and_swap, range, clear */
} gomap_metrics_counts;

/* Reads m's counts into *out; returns 0, or ENOENT when m has no metrics
 * (EINVAL when m or out is NULL). */
GOMAP_API int concmap_metrics_read(const concmap *m, gomap_metrics_counts *out);

/* Writes the Prometheus text exposition (format 0.0.4) of the process's
 * conflict counters and of every map with metrics.  Returns 0, EINVAL when
 * out is NULL, or EIO when writing to `out` failed. */
GOMAP_API int gomap_metrics_write_prometheus(FILE *out);

#ifdef __cplusplus
}
#endif
#endif /* GOMAP_METRICS_H */
