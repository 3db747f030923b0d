/*
 * expfmt.h — a strict checker of the Prometheus text exposition format
 * (version 0.0.4), for the outputs of gomap-watch and of
 * gomap_metrics_write_prometheus.  Debian's prometheus package (which has
 * promtool) weighs ~100 MB installed, so the tests carry this instead.
 *
 * What it enforces, after the format's documentation and promtool's lint:
 *   - every line ends with '\n'; blank lines are ignored;
 *   - "# HELP name text" and "# TYPE name type" at most once per family, the
 *     TYPE before the family's first sample; type is counter, gauge,
 *     histogram, summary or untyped; other '#' lines are comments;
 *   - a sample is name[{label="value",...}] value [timestamp], names match
 *     [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]* and not
 *     "__"-prefixed, label values escape only \\ \" \n, a value parses as a
 *     float or is +Inf, -Inf or NaN;
 *   - a family's samples are contiguous; no series appears twice;
 *   - counters are named *_total (promtool lint);
 *   - a histogram's _bucket samples carry le, their counts never decrease
 *     as le grows, the +Inf bucket exists and equals _count, and _sum exists.
 */
#ifndef GOMAP_TESTS_EXPFMT_H
#define GOMAP_TESTS_EXPFMT_H

#include <stddef.h>

/* Returns 0 when `text` is a valid exposition, else -1 with a message in err. */
int expfmt_check(const char *text, char *err, size_t errlen);

#endif /* GOMAP_TESTS_EXPFMT_H */
