/*
 * bench.h — the utilities every part of gomap-bench shares (and the C++ peers
 * too: this header compiles as C11 and as C++17, and common.c has no link
 * dependency on libgomap).
 *
 *   clock ........... bench_now_ns
 *   dead code ....... bench_keep, bench_sink
 *   statistics ...... bench_median, bench_summarize
 *   workload keys ... bench_splitmix64, bench_key_u64, bench_key_str
 *   options ......... bench_parse_u64_list, bench_list_has
 *   JSON lines ...... bench_json_* (writer), bench_json_get_* (flat reader)
 *   output .......... bench_output_* (stdout / --json / --out FILE)
 *   peers ........... bench_exe_dir, bench_peer_path, bench_run_peer,
 *                     bench_peer_serve / _ask / _stop
 *   table ........... bench_table_*
 *   progress bar .... bench_progress_*
 *   memory .......... bench_counter, bench_counting_allocator
 *
 * Every function here is single-threaded unless its comment says otherwise.
 */
#ifndef GOMAP_BENCH_H
#define GOMAP_BENCH_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>

#include <gomap/gomap.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- clock and dead-code guards ----------------------------------------- */

/* Nanoseconds from CLOCK_MONOTONIC (about 20 ns per call through the vDSO):
 * time a loop of many operations, never a single one. */
static inline uint64_t bench_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Makes the compiler believe `v` is used, so the computation producing it
 * cannot be removed or hoisted out of a timed loop.  Costs no instruction. */
static inline void bench_keep(uint64_t v) {
    __asm__ __volatile__("" : : "r"(v) : "memory");
}

/* Stores v in a volatile global: the final guard for a checksum. */
void bench_sink(uint64_t v);

/* ---- statistics ---------------------------------------------------------- */

/* The median of n values (the mean of the two middle ones when n is even);
 * 0 when n is 0.  v is not modified. */
double bench_median(const double *v, size_t n);

typedef struct bench_stats {
    double min, median, max, mean;
} bench_stats;

/* min, median, max and mean of n values (all 0 when n is 0). */
bench_stats bench_summarize(const double *v, size_t n);

/* ---- workload keys -------------------------------------------------------- */

/* The one key generator of every workload, reimplemented bit for bit by the
 * Go peers (bench/peers/go/keys): splitmix64 (Steele, Lea & Flood, "Fast
 * splittable pseudorandom number generators", 2014; the constants are the
 * published ones).  Each call adds the golden-ratio increment to *state and
 * returns a mix of it; the mix is a bijection, so 2^64 calls return 2^64
 * distinct values: keys drawn from one stream never repeat. */
static inline uint64_t bench_splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* The i-th u64 key of the stream of `seed`: the (i+1)-th splitmix64 output
 * from state = seed.  O(1): splitmix64's state after i steps is
 * seed + i * increment. */
static inline uint64_t bench_key_u64(uint64_t seed, uint64_t i) {
    uint64_t state = seed + i * 0x9e3779b97f4a7c15u;
    return bench_splitmix64(&state);
}

enum { BENCH_STR_KEY_LEN = 16 };

/* The i-th string key of the stream of `seed`: the 16 lowercase hex digits of
 * bench_key_u64(seed, i) (no NUL is written).  Distinct u64 keys give
 * distinct strings, and every language prints hex the same way. */
void bench_key_str(uint64_t seed, uint64_t i, char out[BENCH_STR_KEY_LEN]);

/* ---- options --------------------------------------------------------------- */

/* Parses a comma-separated list of unsigned integers ("1024,1048576"; a
 * suffix k/K = *1024 and m/M = *1048576 is allowed: "1k,1m") into out[0..max).
 * Returns the count, or -1 on a malformed list or more than max items. */
int bench_parse_u64_list(const char *s, uint64_t *out, int max);

/* Reports whether the comma-separated list `list` contains `item` exactly.
 * A NULL list contains everything (an option not given selects all). */
bool bench_list_has(const char *list, const char *item);

/* ---- JSON lines: writer ---------------------------------------------------- */

/* Builds one flat JSON object ({"k":v,...}) in a fixed buffer.  Usage:
 *     bench_json j; bench_json_begin(&j);
 *     bench_json_str(&j, "map", "gomap"); bench_json_f64(&j, "ns_per_op", 3.2);
 *     bench_output_emit(&out, bench_json_end(&j));
 * Fields past the buffer's end are dropped (the line stays valid JSON). */
typedef struct bench_json {
    char buf[1024];
    size_t len;
    bool first;
} bench_json;

void bench_json_begin(bench_json *j);
void bench_json_str(bench_json *j, const char *key, const char *value); /* escapes value */
void bench_json_u64(bench_json *j, const char *key, uint64_t value);
void bench_json_i64(bench_json *j, const char *key, int64_t value);
/* Up to 4 decimals; NaN and infinities are written as null. */
void bench_json_f64(bench_json *j, const char *key, double value);
void bench_json_bool(bench_json *j, const char *key, bool value);
/* Closes the object and returns the line (no newline), valid until the next
 * bench_json_begin on j. */
const char *bench_json_end(bench_json *j);

/* One result line of the core benchmark, the format every core contestant
 * prints (bench/README.md):
 * {"map","op","key","keys","ns_per_op","ns_min","ns_max","bytes_per_entry",
 *  ["allocs_per_op",] "checksum","reps","rounds","seed"}. */
typedef struct bench_core_line {
    const char *map, *op, *key; /* "gomap", "get_hit", "u64" */
    uint64_t keys;              /* N */
    bench_stats ns;             /* ns per op over the repetitions */
    double bytes_per_entry;
    double allocs_per_op; /* < 0: not measured, the field is left out */
    uint64_t checksum;
    int reps;
    uint64_t rounds, seed;
} bench_core_line;

/* Builds the line of r in j and returns it (as bench_json_end does). */
const char *bench_core_json(bench_json *j, const bench_core_line *r);

/* ---- JSON lines: reader (flat objects, as the writer above and the peers
 * produce; nested values are not supported) ------------------------------- */

/* Copies the string value of `key` in `line` into buf (NUL-terminated,
 * truncated to n-1 bytes; escapes \" and \\ are undone).  Returns false when
 * the key is absent or its value is not a string. */
bool bench_json_get_str(const char *line, const char *key, char *buf, size_t n);

/* Stores the numeric value of `key` in *out.  Returns false when the key is
 * absent or not a number (null included). */
bool bench_json_get_f64(const char *line, const char *key, double *out);

/* The same for integers that must stay exact (checksums): parses the
 * number's digits as a uint64_t. */
bool bench_json_get_u64(const char *line, const char *key, uint64_t *out);

/* ---- output ------------------------------------------------------------------ */

/* Where JSON lines go: with --json, to stdout (and the table is not printed);
 * with --out FILE, to FILE as well; otherwise nowhere but the table. */
typedef struct bench_output {
    bool json;  /* JSON lines on stdout, nothing else there */
    FILE *file; /* --out FILE, or NULL */
} bench_output;

/* Opens path (when not NULL) for writing.  Returns 0, or -1 after printing
 * the reason on stderr. */
int bench_output_open(bench_output *o, bool json, const char *path);

/* Writes one JSON line (a newline is appended) to the destinations of o and
 * flushes, so a parent reading through a pipe sees each line at once. */
void bench_output_emit(bench_output *o, const char *line);

void bench_output_close(bench_output *o);

/* ---- peers: programs run with the same workload arguments ----------------- */

/* The directory holding the running executable (from /proc/self/exe), with
 * no trailing slash.  Returns false if it cannot be read. */
bool bench_exe_dir(char *buf, size_t n);

/* Builds "<exe dir>/<name>" into buf and reports whether it is an executable
 * file.  Peers are installed next to gomap-bench by the build
 * (bench/core.cmake: gomap-bench-nodetect, peer-go-core, peer-absl-core). */
bool bench_peer_path(const char *name, char *buf, size_t n);

/* A growing list of the JSON lines a peer printed. */
typedef struct bench_lines {
    char **line;
    size_t len, cap;
} bench_lines;

void bench_lines_add(bench_lines *l, const char *line);
void bench_lines_free(bench_lines *l);

/* Runs the program `path` with argv (argv[0] included, NULL-terminated),
 * its stderr passed through, and appends to *out every line of its stdout
 * that starts with '{'; other stdout lines are copied to stderr.  Returns the
 * exit status (0..255), or -1 if it could not be started or was killed by a
 * signal (a message says which). */
int bench_run_peer(const char *path, const char *const argv[], bench_lines *out);

/* A peer program that serves repetitions on request (mixpeer.c's --serve):
 * started once, it prefills its map and prints one line, then answers each
 * request line on its stdin with one JSON line, and exits at the end of its
 * stdin. */
typedef struct bench_served {
    pid_t pid;
    const char *path;
    FILE *to, *from;
} bench_served;

/* Starts the program as bench_run_peer does, with its stdin on a pipe, and
 * waits for its first line; 0, or -1 when it could not start or printed
 * nothing. */
int bench_peer_serve(bench_served *s, const char *path, const char *const argv[]);
/* Sends request (a line without its newline; NULL sends nothing) and returns
 * the next line it prints that starts with '{' (malloc'd; other lines go to
 * stderr), or NULL when it has exited. */
char *bench_peer_ask(bench_served *s, const char *request);
/* Closes its stdin and waits for it: its exit status, or -1. */
int bench_peer_stop(bench_served *s);

/* ---- table ------------------------------------------------------------------- */

/* A table for people: columns sized to their widest cell, cells that look
 * like numbers right-aligned, others left-aligned.  Usage:
 *     bench_table *t = bench_table_new(3, (const char *[]){"op", "ns", "ratio"});
 *     bench_table_cell(t, "%s", "insert"); bench_table_cell(t, "%.1f", 12.5); ...
 *     (a row ends after its last column's cell; bench_table_rule adds a line)
 *     bench_table_print(t, stdout); bench_table_free(t);
 * Returns NULL when out of memory; all calls accept NULL and do nothing. */
typedef struct bench_table bench_table;

bench_table *bench_table_new(int ncols, const char *const *headers);
void bench_table_cell(bench_table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void bench_table_rule(bench_table *t); /* a separator before the next row */
void bench_table_print(const bench_table *t, FILE *f);
void bench_table_free(bench_table *t);

/* ---- progress bar -------------------------------------------------------------- */

/* A one-line progress bar on stderr, drawn only when stderr is a terminal
 * (and never under --json unless stderr is a terminal: it never touches
 * stdout).  total is in any unit; add reports units done. */
void bench_progress_start(uint64_t total, const char *label);
void bench_progress_add(uint64_t units,
                        const char *what); /* what: shown after the bar, may be NULL */
void bench_progress_done(void);

/* ---- memory: a counting allocator ------------------------------------------------- */

/* Counts what goes through it.  Bytes are counted as malloc_usable_size
 * reports them (what the allocator really set aside, like Go's size-class
 * sizes in runtime.MemStats), so figures compare with the Go peer's HeapAlloc
 * and the C++ peers' counting operator new.  The counters are updated with
 * relaxed atomics: thread-safe, but every update touches one shared cache
 * line, so measure memory in a separate pass rather than while timing. */
typedef struct bench_counter {
    uint64_t allocs;    /* calls that returned memory */
    uint64_t frees;     /* calls to free */
    int64_t live_bytes; /* allocated - freed */
    int64_t peak_bytes; /* the maximum of live_bytes (best effort with threads) */
} bench_counter;

void bench_counter_reset(bench_counter *c);
void *bench_counter_alloc(bench_counter *c, size_t size); /* malloc + count */

/* The huge-page advice the library gives a large bucket array it allocates
 * with its default allocator (map.c's advise_huge: 4 MiB and up, the 2 MiB
 * pages inside the block), for memory the benchmark hands out through an
 * allocator hook of its own: without it, the hook that counts a map's bytes
 * would also take its huge pages away, and the map measured would not be
 * the one a program with the default allocator gets.  Advice only. */
void bench_advise_huge(void *p, size_t bytes);
void bench_counter_free(bench_counter *c, void *p); /* free + count */

/* A gomap_allocator that allocates with malloc and counts into *c. */
gomap_allocator bench_counting_allocator(bench_counter *c);

/* ---- subcommands ---------------------------------------------------------------- */

/* Each subcommand's entry point gets argv[0] = its own name (or the program's
 * name for the no-argument default) and its options after, and returns the
 * process's exit status.  main.c dispatches to them. */
int bench_core_main(int argc, char **argv);    /* core.c: single-thread core ops */
int bench_keys_main(int argc, char **argv);    /* core.c: print the first workload keys */
int bench_mix_main(int argc, char **argv);     /* mix_cli.c (BENCH_HAVE_MIX) */
int bench_advise_main(int argc, char **argv);  /* advise.c (BENCH_HAVE_MIX) */
int bench_default_main(int argc, char **argv); /* advise.c (BENCH_HAVE_MIX); else core */

#ifdef __cplusplus
}
#endif
#endif /* GOMAP_BENCH_H */
