/*
 * lincheck.h — a linearizability checker for histories of single-key map
 * operations.
 *
 * A history is a set of operations, each with the times of its call and its
 * return (from one monotonic clock), its arguments and its results.  It is
 * linearizable if the operations can be put in one sequence that respects
 * real time (A before B whenever A returned before B was called) and in which
 * every result is what a sequential map would have returned.
 *
 * The search is Wing & Gong's, with Lowe's improvement as Porcupine
 * (github.com/anishathalye/porcupine) uses it: walk the call/return events in
 * time order; at a call, try to linearize that operation now (apply it to
 * the model state; if its results match, remove it from the event list and
 * restart from the first event); at a return whose operation is not yet
 * linearized, backtrack.  A cache of (set of linearized operations, model
 * state) pairs already explored cuts the search from exponential to about
 * the number of distinct states.  Written anew for this suite.
 *
 * Map operations on different keys commute, so a history is linearizable iff
 * each key's sub-history is (P-compositionality): lin_check partitions by key
 * and checks each partition against a one-key register.  Whole-map
 * operations enter every partition as what they are for one key: a range is
 * a read of the key (sync.Map's Range "may reflect any mapping for that key
 * from any point during the Range call"; a key it did not visit reads as
 * absent) and a clear is a delete.
 */
#ifndef GOMAP_TESTS_LINCHECK_H
#define GOMAP_TESTS_LINCHECK_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

enum lin_kind {
    LIN_LOAD,   /* -> ok = present, out = value */
    LIN_STORE,  /* a */
    LIN_LOS,    /* load_or_store(a) -> ok = loaded, out = actual */
    LIN_LAD,    /* load_and_delete -> ok = present, out = value */
    LIN_DELETE, /*  */
    LIN_SWAP,   /* a -> ok = loaded, out = previous */
    LIN_CAS,    /* old a, new b -> ok = swapped */
    LIN_CAD,    /* old a -> ok = deleted */
    LIN_RANGE,  /* as seen for this key: ok = visited, out = value */
    LIN_CLEAR,  /* a delete of this key */
    LIN_KINDS
};

struct lin_op {
    uint64_t call, ret; /* call <= ret */
    int kind;
    int key;
    uint64_t a, b;
    bool ok;
    uint64_t out;
};

/* Checks a whole history over keys 0..nkeys-1, every key initially absent.
 * Returns -1 if linearizable, else the first key whose history is not. */
int lin_check(const struct lin_op *ops, size_t n, int nkeys);

#endif /* GOMAP_TESTS_LINCHECK_H */
