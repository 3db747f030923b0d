/*
 * gomap_watch.h — what gomap-watch's BPF program (gomap_watch.bpf.c) and its
 * user-space half (gomap_watch.c) agree on: the layout of the counters map
 * and of the ring-buffer events.  The includer provides __u16/__u32/__u64.
 */
#ifndef GOMAP_WATCH_H
#define GOMAP_WATCH_H

/* Which counter a key names.  Each counter is kept per target process (its
 * tgid) and per label, whose meaning depends on the metric. */
enum watch_metric {
    WM_CONFLICT = 1,        /* label: gomap_conflict_type */
    WM_OP,                  /* label: op (0 get, 1 set, 2 delete, 3 iter) */
    WM_CONCMAP_OP,          /* label: variant * 4 + op (0 load, 1 store, 2 delete, 3 other) */
    WM_GROW,                /* label: 0 doubling, 1 same-size */
    WM_EVACUATE,            /* label 0: evacuation steps */
    WM_EVACUATE_NS_SUM,     /* label 0: their total nanoseconds */
    WM_EVACUATE_NS_BUCKET,  /* label: log2 bucket of nanoseconds */
    WM_SYNCMAP_MISS,        /* label 0 */
    WM_SYNCMAP_PROMOTE,     /* label 0 */
    WM_LOCK_WAIT_NS_SUM,    /* label: variant * 2 + exclusive */
    WM_LOCK_WAIT_NS_BUCKET, /* label: (variant * 2 + exclusive) * 64 + log2 bucket */
    WM_LOCK_HOLD_NS_SUM,
    WM_LOCK_HOLD_NS_BUCKET,
};

/* The variant names the thread-safe maps pass to their probes, by index:
 * user space copies the library's list (GOMAP__VARIANTS) into the BPF
 * program's read-only data before loading it, each name packed
 * zero-padded into a __u64 (so at most WATCH_NAME_MAX - 1 bytes).  Any other
 * name counts as WATCH_VARIANT_OTHER; labels run over WATCH_VARIANTS. */
enum {
    WATCH_MAX_VARIANTS = 8,
    WATCH_VARIANT_OTHER = WATCH_MAX_VARIANTS,
    WATCH_VARIANTS = WATCH_MAX_VARIANTS + 1,
    WATCH_NAME_MAX = 8,
    WATCH_BUCKETS = 64
};

/* Frames of the detecting thread's user stack sent with each conflict: enough
 * to get from the probe, through the library, to the caller's call site. */
enum { WATCH_STACK_DEPTH = 16 };

/* Padding-free, so that the BPF side and user space hash the same bytes. */
struct watch_key {
    __u32 pid;
    __u16 metric;
    __u16 label;
};

/* One detected conflict, sent through the ring buffer as it happens. */
struct watch_conflict {
    __u32 pid;
    __u32 kind;
    __u64 map;
    __s64 detector_tid;
    __s64 writer_tid;
    __u64 boot_ns;                  /* bpf_ktime_get_boot_ns() */
    __u32 nframes;                  /* valid entries of stack[] (0: the stack could not be read) */
    __u32 reserved;                 /* keeps stack[] 8-byte aligned without implicit padding */
    __u64 stack[WATCH_STACK_DEPTH]; /* return addresses, innermost first */
};

#endif /* GOMAP_WATCH_H */
