/*
 * gomap_watch.bpf.c — the kernel half of gomap-watch: one program per gomap
 * USDT probe (docs/probes.md), attached per target process by user space.
 * Counts go to the `counters` hash (one 64-bit counter per (process, metric,
 * label)), durations to log2 histograms in the same hash, and each conflict
 * also goes to the `events` ring buffer so the daemon can log it at once.
 *
 * Counters are bumped with atomic adds: several threads of a target fire
 * probes at once, on different CPUs, into the same entry.
 */
#include <stdbool.h>
#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

#include "gomap_watch.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 65536);
    __type(key, struct watch_key);
    __type(value, __u64);
} counters SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 256 * 1024);
} events SEC(".maps");

/* Conflict events dropped because the ring buffer was full, and counter
 * updates dropped because the counters map was full. */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 2);
    __type(key, __u32);
    __type(value, __u64);
} dropped SEC(".maps");

static __always_inline void drop(__u32 which) {
    __u64 *p = bpf_map_lookup_elem(&dropped, &which);
    if (p)
        __sync_fetch_and_add(p, 1);
}

static __always_inline void add(__u32 metric, __u32 label, __u64 v) {
    struct watch_key k = {
        .pid = bpf_get_current_pid_tgid() >> 32, .metric = metric, .label = label};
    __u64 *p = bpf_map_lookup_elem(&counters, &k);
    if (!p) {
        __u64 zero = 0;
        /* NOEXIST: two CPUs may race to create the entry; the loser's
         * update fails harmlessly and both add to the winner's. */
        bpf_map_update_elem(&counters, &k, &zero, BPF_NOEXIST);
        p = bpf_map_lookup_elem(&counters, &k);
        if (!p) {
            drop(1);
            return;
        }
    }
    __sync_fetch_and_add(p, v);
}

static __always_inline __u32 log2_bucket(__u64 v) {
    __u32 r = 0;
#pragma unroll
    for (int s = 32; s > 0; s >>= 1) {
        if (v >= (1ULL << s)) {
            v >>= s;
            r += s;
        }
    }
    return r;
}

/* The library's variant names, set by user space before loading
 * (gomap_watch.h says how they are packed); read-only here. */
const volatile __u64 variant_names[WATCH_MAX_VARIANTS];
const volatile __u32 nvariants;

/* The variant index of a probe's "variant name" argument (a user pointer).
 * A longer string is cut to WATCH_NAME_MAX - 1 bytes and then matches no
 * shorter name. */
static __always_inline __u32 variant_of(long name) {
    __u64 b = 0;
    if (bpf_probe_read_user_str(&b, sizeof b, (const void *)name) < 0)
        return WATCH_VARIANT_OTHER;
    for (__u32 v = 0; v < WATCH_MAX_VARIANTS; v++)
        if (v < nvariants && variant_names[v] == b)
            return v;
    return WATCH_VARIANT_OTHER;
}

SEC("usdt")
int BPF_USDT(on_conflict, long kind, long map, long detector_tid, long writer_tid) {
    __u32 k = kind >= 0 && kind < 3 ? (__u32)kind : 3;
    add(WM_CONFLICT, k, 1);
    struct watch_conflict *e = bpf_ringbuf_reserve(&events, sizeof *e, 0);
    if (!e) {
        drop(0);
        return 0;
    }
    e->pid = bpf_get_current_pid_tgid() >> 32;
    e->kind = k;
    e->map = (__u64)map;
    e->detector_tid = detector_tid;
    e->writer_tid = writer_tid;
    e->boot_ns = bpf_ktime_get_boot_ns();
    /* The detecting thread's stack, so user space can name the call site
     * (frame pointers: the library is built with them). */
    long n = bpf_get_stack(ctx, e->stack, sizeof e->stack, BPF_F_USER_STACK);
    e->nframes = n > 0 ? (__u32)(n / sizeof e->stack[0]) : 0;
    e->reserved = 0;
    bpf_ringbuf_submit(e, 0);
    return 0;
}

SEC("usdt")
int BPF_USDT(on_op, long map, long op) {
    (void)map;
    add(WM_OP, op >= 0 && op < 4 ? (__u32)op : 3, 1);
    return 0;
}

SEC("usdt")
int BPF_USDT(on_concmap_op, long map, long name, long op) {
    (void)map;
    add(WM_CONCMAP_OP, variant_of(name) * 4 + (op >= 0 && op < 4 ? (__u32)op : 3), 1);
    return 0;
}

SEC("usdt")
int BPF_USDT(on_grow_start, long map, long old_b, long new_b, long same_size, long count) {
    (void)map, (void)old_b, (void)new_b, (void)count;
    add(WM_GROW, same_size ? 1 : 0, 1);
    return 0;
}

SEC("usdt")
int BPF_USDT(on_evacuate, long map, long bucket, long ns) {
    (void)map, (void)bucket;
    __u64 v = ns > 0 ? (__u64)ns : 0;
    add(WM_EVACUATE, 0, 1);
    add(WM_EVACUATE_NS_SUM, 0, v);
    add(WM_EVACUATE_NS_BUCKET, log2_bucket(v), 1);
    return 0;
}

SEC("usdt")
int BPF_USDT(on_syncmap_miss, long map, long misses, long dirty_len) {
    (void)map, (void)misses, (void)dirty_len;
    add(WM_SYNCMAP_MISS, 0, 1);
    return 0;
}

SEC("usdt")
int BPF_USDT(on_syncmap_promote, long map, long len) {
    (void)map, (void)len;
    add(WM_SYNCMAP_PROMOTE, 0, 1);
    return 0;
}

static __always_inline void lock_event(__u32 sum, __u32 bucket, long name, long ns,
                                       long exclusive) {
    __u32 series = variant_of(name) * 2 + (exclusive ? 1 : 0);
    __u64 v = ns > 0 ? (__u64)ns : 0;
    add(sum, series, v);
    add(bucket, series * WATCH_BUCKETS + log2_bucket(v), 1);
}

SEC("usdt")
int BPF_USDT(on_lock_wait, long map, long name, long ns, long exclusive) {
    (void)map;
    lock_event(WM_LOCK_WAIT_NS_SUM, WM_LOCK_WAIT_NS_BUCKET, name, ns, exclusive);
    return 0;
}

SEC("usdt")
int BPF_USDT(on_lock_hold, long map, long name, long ns, long exclusive) {
    (void)map;
    lock_event(WM_LOCK_HOLD_NS_SUM, WM_LOCK_HOLD_NS_BUCKET, name, ns, exclusive);
    return 0;
}
