/*
 * common.c — the utilities declared in bench.h.
 *
 * Compiled into gomap-bench, gomap-bench-nodetect, the C++ peers and the
 * benchmark's tests; it calls nothing in libgomap (only its types are used).
 */
#include "bench.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- clock and dead-code guards ------------------------------------------ */

static volatile uint64_t bench_sink_slot;

void bench_sink(uint64_t v) {
    bench_sink_slot += v;
}

/* ---- statistics ------------------------------------------------------------ */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

bench_stats bench_summarize(const double *v, size_t n) {
    bench_stats s = {0, 0, 0, 0};
    if (n == 0)
        return s;
    double *tmp = malloc(n * sizeof *tmp);
    if (!tmp) {
        fprintf(stderr, "gomap-bench: out of memory\n");
        exit(1);
    }
    memcpy(tmp, v, n * sizeof *tmp);
    qsort(tmp, n, sizeof *tmp, cmp_double);
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += tmp[i];
    s.min = tmp[0];
    s.max = tmp[n - 1];
    s.median = n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
    s.mean = sum / (double)n;
    free(tmp);
    return s;
}

double bench_median(const double *v, size_t n) {
    return bench_summarize(v, n).median;
}

/* ---- workload keys ---------------------------------------------------------- */

void bench_key_str(uint64_t seed, uint64_t i, char out[BENCH_STR_KEY_LEN]) {
    static const char hex[] = "0123456789abcdef";
    uint64_t k = bench_key_u64(seed, i);
    for (int d = BENCH_STR_KEY_LEN - 1; d >= 0; d--, k >>= 4)
        out[d] = hex[k & 15];
}

/* ---- options ------------------------------------------------------------------ */

int bench_parse_u64_list(const char *s, uint64_t *out, int max) {
    int n = 0;
    if (!s || !*s)
        return -1;
    for (;;) {
        char *end;
        if (!isdigit((unsigned char)*s))
            return -1;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno)
            return -1;
        if (*end == 'k' || *end == 'K')
            v *= 1024, end++;
        else if (*end == 'm' || *end == 'M')
            v *= 1024 * 1024, end++;
        if (n == max)
            return -1;
        out[n++] = v;
        if (*end == '\0')
            return n;
        if (*end != ',')
            return -1;
        s = end + 1;
    }
}

bool bench_list_has(const char *list, const char *item) {
    if (!list)
        return true;
    size_t len = strlen(item);
    for (const char *p = list; *p;) {
        const char *comma = strchr(p, ',');
        size_t l = comma ? (size_t)(comma - p) : strlen(p);
        if (l == len && memcmp(p, item, len) == 0)
            return true;
        if (!comma)
            break;
        p = comma + 1;
    }
    return false;
}

/* ---- JSON writer ---------------------------------------------------------------- */

void bench_json_begin(bench_json *j) {
    j->buf[0] = '{';
    j->len = 1;
    j->first = true;
}

/* Appends formatted text; on overflow drops it whole, so the object stays
 * well formed (the room for the closing brace is reserved). */
__attribute__((format(printf, 2, 3))) static void json_append(bench_json *j, const char *fmt, ...) {
    size_t room = sizeof j->buf - j->len - 2;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(j->buf + j->len, room, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < room)
        j->len += (size_t)n;
    else
        j->buf[j->len] = '\0';
}

static void json_key(bench_json *j, const char *key) {
    json_append(j, "%s\"%s\":", j->first ? "" : ",", key);
    j->first = false;
}

void bench_json_str(bench_json *j, const char *key, const char *value) {
    char esc[512];
    size_t o = 0;
    for (const char *p = value; *p && o + 7 < sizeof esc; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            esc[o++] = '\\';
            esc[o++] = (char)c;
        } else if (c < 0x20) {
            o += (size_t)snprintf(esc + o, sizeof esc - o, "\\u%04x", c);
        } else {
            esc[o++] = (char)c;
        }
    }
    esc[o] = '\0';
    size_t mark = j->len;
    bool first = j->first;
    json_key(j, key);
    size_t before = j->len;
    json_append(j, "\"%s\"", esc);
    if (j->len == before) { /* dropped: drop the key too */
        j->len = mark;
        j->buf[mark] = '\0';
        j->first = first;
    }
}

void bench_json_u64(bench_json *j, const char *key, uint64_t value) {
    json_key(j, key);
    json_append(j, "%" PRIu64, value);
}

void bench_json_i64(bench_json *j, const char *key, int64_t value) {
    json_key(j, key);
    json_append(j, "%" PRId64, value);
}

void bench_json_f64(bench_json *j, const char *key, double value) {
    json_key(j, key);
    if (isfinite(value))
        json_append(j, "%.4f", value);
    else
        json_append(j, "null");
}

void bench_json_bool(bench_json *j, const char *key, bool value) {
    json_key(j, key);
    json_append(j, "%s", value ? "true" : "false");
}

const char *bench_json_end(bench_json *j) {
    j->buf[j->len++] = '}';
    j->buf[j->len] = '\0';
    return j->buf;
}

const char *bench_core_json(bench_json *j, const bench_core_line *r) {
    bench_json_begin(j);
    bench_json_str(j, "map", r->map);
    bench_json_str(j, "op", r->op);
    bench_json_str(j, "key", r->key);
    bench_json_u64(j, "keys", r->keys);
    bench_json_f64(j, "ns_per_op", r->ns.median);
    bench_json_f64(j, "ns_min", r->ns.min);
    bench_json_f64(j, "ns_max", r->ns.max);
    bench_json_f64(j, "bytes_per_entry", r->bytes_per_entry);
    if (r->allocs_per_op >= 0)
        bench_json_f64(j, "allocs_per_op", r->allocs_per_op);
    bench_json_u64(j, "checksum", r->checksum);
    bench_json_i64(j, "reps", r->reps);
    bench_json_u64(j, "rounds", r->rounds);
    bench_json_u64(j, "seed", r->seed);
    return bench_json_end(j);
}

/* ---- JSON reader ------------------------------------------------------------------ */

/* Returns a pointer to the first character of the value of "key" in a flat
 * object, or NULL.  Skips string values while scanning, so a key name that
 * appears inside a value is not mistaken for a key. */
static const char *json_find(const char *line, const char *key) {
    size_t klen = strlen(key);
    const char *p = strchr(line, '{');
    if (!p)
        return NULL;
    p++;
    for (;;) {
        while (*p == ' ' || *p == ',')
            p++;
        if (*p != '"')
            return NULL;
        const char *name = ++p;
        while (*p && *p != '"')
            p += (*p == '\\' && p[1]) ? 2 : 1;
        if (!*p)
            return NULL;
        bool match = (size_t)(p - name) == klen && memcmp(name, key, klen) == 0;
        p++;
        while (*p == ' ' || *p == ':')
            p++;
        if (match)
            return p;
        if (*p == '"') { /* skip a string value */
            p++;
            while (*p && *p != '"')
                p += (*p == '\\' && p[1]) ? 2 : 1;
            if (!*p)
                return NULL;
            p++;
        } else {
            while (*p && *p != ',' && *p != '}')
                p++;
        }
        if (*p != ',')
            return NULL;
    }
}

bool bench_json_get_str(const char *line, const char *key, char *buf, size_t n) {
    const char *p = json_find(line, key);
    if (!p || *p != '"' || n == 0)
        return false;
    size_t o = 0;
    for (p++; *p && *p != '"'; p++) {
        if (*p == '\\' && p[1])
            p++;
        if (o + 1 < n)
            buf[o++] = *p;
    }
    buf[o] = '\0';
    return *p == '"';
}

bool bench_json_get_f64(const char *line, const char *key, double *out) {
    const char *p = json_find(line, key);
    if (!p || !(*p == '-' || isdigit((unsigned char)*p)))
        return false;
    char *end;
    double v = strtod(p, &end);
    if (end == p)
        return false;
    *out = v;
    return true;
}

bool bench_json_get_u64(const char *line, const char *key, uint64_t *out) {
    const char *p = json_find(line, key);
    if (!p || !isdigit((unsigned char)*p))
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(p, &end, 10);
    if (errno)
        return false;
    *out = v;
    return true;
}

/* ---- output -------------------------------------------------------------------------- */

int bench_output_open(bench_output *o, bool json, const char *path) {
    o->json = json;
    o->file = NULL;
    if (path) {
        o->file = fopen(path, "w");
        if (!o->file) {
            fprintf(stderr, "gomap-bench: cannot write %s: %s\n", path, strerror(errno));
            return -1;
        }
    }
    return 0;
}

void bench_output_emit(bench_output *o, const char *line) {
    if (o->json) {
        printf("%s\n", line);
        fflush(stdout);
    }
    if (o->file) {
        fprintf(o->file, "%s\n", line);
        fflush(o->file);
    }
}

void bench_output_close(bench_output *o) {
    if (o->file)
        fclose(o->file);
    o->file = NULL;
}

/* ---- peers ------------------------------------------------------------------------------ */

bool bench_exe_dir(char *buf, size_t n) {
    ssize_t len = readlink("/proc/self/exe", buf, n - 1);
    if (len <= 0 || (size_t)len >= n - 1)
        return false;
    buf[len] = '\0';
    char *slash = strrchr(buf, '/');
    if (!slash)
        return false;
    *slash = '\0';
    return true;
}

bool bench_peer_path(const char *name, char *buf, size_t n) {
    char dir[4096];
    if (!bench_exe_dir(dir, sizeof dir))
        return false;
    int len = snprintf(buf, n, "%s/%s", dir, name);
    if (len < 0 || (size_t)len >= n)
        return false;
    return access(buf, X_OK) == 0;
}

void bench_lines_add(bench_lines *l, const char *line) {
    if (l->len == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        char **grown = realloc(l->line, cap * sizeof *grown);
        if (!grown) {
            fprintf(stderr, "gomap-bench: out of memory\n");
            exit(1);
        }
        l->line = grown;
        l->cap = cap;
    }
    l->line[l->len] = strdup(line);
    if (!l->line[l->len]) {
        fprintf(stderr, "gomap-bench: out of memory\n");
        exit(1);
    }
    l->len++;
}

void bench_lines_free(bench_lines *l) {
    for (size_t i = 0; i < l->len; i++)
        free(l->line[i]);
    free(l->line);
    l->line = NULL;
    l->len = l->cap = 0;
}

/* argv copied to the strings posix_spawn's signature asks for (it writes
 * nothing, but takes char *const[]); NULL out of memory.  Freed with
 * free_args. */
static char **copy_args(const char *const argv[]) {
    size_t n = 0;
    while (argv[n])
        n++;
    char **args = calloc(n + 1, sizeof *args);
    for (size_t i = 0; args && i < n; i++)
        if (!(args[i] = strdup(argv[i]))) {
            while (i > 0)
                free(args[--i]);
            free(args);
            args = NULL;
        }
    return args;
}

static void free_args(char **args) {
    for (size_t i = 0; args && args[i]; i++)
        free(args[i]);
    free(args);
}

extern char **environ; /* the peers get gomap-bench's environment */

/* A pipe whose two ends are close-on-exec; 0 or -1. */
static int pipe_cloexec(int fds[2]) {
    if (pipe(fds) != 0) {
        perror("gomap-bench: pipe");
        return -1;
    }
    (void)fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    (void)fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    return 0;
}

/* Starts `path` with argv, its stdout on a new pipe whose read end goes to
 * *from, and, when to is not NULL, its stdin on another whose write end goes
 * to *to; -1 when it cannot start (a message says why).  Every pipe end
 * gomap-bench keeps is close-on-exec, so a peer started later does not hold
 * another peer's stdin open. */
static pid_t spawn_peer(const char *path, const char *const argv[], int *from, int *to) {
    int out[2], in[2] = {-1, -1};
    if (pipe_cloexec(out) != 0)
        return -1;
    if (to && pipe_cloexec(in) != 0) {
        close(out[0]);
        close(out[1]);
        return -1;
    }
    fflush(NULL);
    /* posix_spawn, not fork: a fork write-protects every page of this
     * process for copy-on-write until the child execs, and the first write
     * to each page afterwards faults; the repetition timed right after a
     * peer run (a paired repetition: docs/benchmarks.md) would pay for it in
     * the maps' writes.  glibc's posix_spawn shares the address space with
     * the child until it execs (CLONE_VM | CLONE_VFORK), so nothing is
     * write-protected.  The child inherits the calling thread's CPU
     * affinity either way; dup2 clears close-on-exec on its stdin and
     * stdout. */
    posix_spawn_file_actions_t fa;
    char **args = copy_args(argv);
    pid_t pid = -1;
    int err = args ? posix_spawn_file_actions_init(&fa) : ENOMEM;
    if (err == 0) {
        err = posix_spawn_file_actions_adddup2(&fa, out[1], 1);
        if (err == 0 && to)
            err = posix_spawn_file_actions_adddup2(&fa, in[0], 0);
        if (err == 0)
            err = posix_spawn(&pid, path, &fa, NULL, args, environ);
        posix_spawn_file_actions_destroy(&fa);
    }
    free_args(args);
    close(out[1]);
    if (to)
        close(in[0]);
    if (err != 0) {
        fprintf(stderr, "gomap-bench: cannot run %s: %s\n", path, strerror(err));
        close(out[0]);
        if (to)
            close(in[1]);
        return -1;
    }
    *from = out[0];
    if (to)
        *to = in[1];
    return pid;
}

/* Waits for pid; its exit status, or -1 (killed: a message says by what). */
static int wait_peer(pid_t pid, const char *path) {
    int st;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    fprintf(stderr, "gomap-bench: %s killed by signal %d\n", path,
            WIFSIGNALED(st) ? WTERMSIG(st) : -1);
    return -1;
}

/* The next line of in that starts with '{', without its newline (in
 * *line, of *cap bytes); other lines are copied to stderr.  False at the
 * end of the stream. */
static bool next_json_line(FILE *in, char **line, size_t *cap) {
    ssize_t len;
    while ((len = getline(line, cap, in)) > 0) {
        if ((*line)[len - 1] == '\n')
            (*line)[--len] = '\0';
        if ((*line)[0] == '{')
            return true;
        fprintf(stderr, "%s\n", *line);
    }
    return false;
}

int bench_run_peer(const char *path, const char *const argv[], bench_lines *out) {
    int fd;
    pid_t pid = spawn_peer(path, argv, &fd, NULL);
    if (pid < 0)
        return -1;
    FILE *in = fdopen(fd, "r");
    if (!in) {
        close(fd);
    } else {
        char *line = NULL;
        size_t cap = 0;
        while (next_json_line(in, &line, &cap))
            bench_lines_add(out, line);
        free(line);
        fclose(in);
    }
    return wait_peer(pid, path);
}

int bench_peer_serve(bench_served *s, const char *path, const char *const argv[]) {
    *s = (bench_served){.pid = -1};
    /* a served peer that died must not kill gomap-bench when it writes the
     * next request: the write fails with EPIPE instead */
    signal(SIGPIPE, SIG_IGN);
    int from, to;
    pid_t pid = spawn_peer(path, argv, &from, &to);
    if (pid < 0)
        return -1;
    s->pid = pid;
    s->path = path;
    s->from = fdopen(from, "r");
    s->to = fdopen(to, "w");
    if (!s->from || !s->to) {
        if (!s->from)
            close(from);
        if (!s->to)
            close(to);
        bench_peer_stop(s);
        return -1;
    }
    /* its first line says it is ready: its map is prefilled and warm */
    char *ready = bench_peer_ask(s, NULL);
    if (!ready) {
        bench_peer_stop(s);
        return -1;
    }
    free(ready);
    return 0;
}

char *bench_peer_ask(bench_served *s, const char *request) {
    if (!s->from || !s->to)
        return NULL;
    if (request && (fprintf(s->to, "%s\n", request) < 0 || fflush(s->to) != 0))
        return NULL;
    char *line = NULL;
    size_t cap = 0;
    if (next_json_line(s->from, &line, &cap))
        return line;
    free(line);
    return NULL;
}

int bench_peer_stop(bench_served *s) {
    /* its stdin's end of file tells it to exit */
    if (s->to)
        fclose(s->to);
    if (s->from)
        fclose(s->from);
    int st = s->pid > 0 ? wait_peer(s->pid, s->path) : -1;
    *s = (bench_served){.pid = -1};
    return st;
}

/* ---- table ---------------------------------------------------------------------------------- */

/* cells holds rows * ncols strings, row-major; rule[r] marks a separator
 * printed before row r. */
struct bench_table {
    int ncols;
    size_t ncells, cap;
    char **cells;
    size_t nrules;
    size_t *rules; /* row indexes that have a separator before them */
};

static void table_push(bench_table *t, char *cell) {
    if (t->ncells == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        char **grown = realloc(t->cells, cap * sizeof *grown);
        if (!grown) {
            free(cell);
            return;
        }
        t->cells = grown;
        t->cap = cap;
    }
    t->cells[t->ncells++] = cell;
}

bench_table *bench_table_new(int ncols, const char *const *headers) {
    bench_table *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->ncols = ncols;
    for (int c = 0; c < ncols; c++)
        table_push(t, strdup(headers[c]));
    return t;
}

void bench_table_cell(bench_table *t, const char *fmt, ...) {
    if (!t)
        return;
    char *cell = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&cell, fmt, ap) < 0)
        cell = NULL;
    va_end(ap);
    table_push(t, cell ? cell : strdup("?"));
}

void bench_table_rule(bench_table *t) {
    if (!t)
        return;
    size_t *grown = realloc(t->rules, (t->nrules + 1) * sizeof *grown);
    if (!grown)
        return;
    t->rules = grown;
    t->rules[t->nrules++] = t->ncells / (size_t)t->ncols;
}

/* A cell is right-aligned when it reads as a number, possibly with a unit or
 * a marker after it ("12.5", "0.48x", "-", "3.1 !"). */
static bool looks_numeric(const char *s) {
    if (strcmp(s, "-") == 0)
        return true;
    if (*s == '-' || *s == '+')
        s++;
    return isdigit((unsigned char)*s);
}

static void print_rule(const size_t *width, int ncols, FILE *f) {
    for (int c = 0; c < ncols; c++) {
        for (size_t i = 0; i < width[c]; i++)
            fputc('-', f);
        fputs(c + 1 < ncols ? "  " : "\n", f);
    }
}

void bench_table_print(const bench_table *t, FILE *f) {
    if (!t)
        return;
    size_t *width = calloc((size_t)t->ncols, sizeof *width);
    if (!width)
        return;
    for (size_t i = 0; i < t->ncells; i++) {
        size_t w = t->cells[i] ? strlen(t->cells[i]) : 0;
        if (w > width[i % (size_t)t->ncols])
            width[i % (size_t)t->ncols] = w;
    }
    size_t rows = (t->ncells + (size_t)t->ncols - 1) / (size_t)t->ncols;
    for (size_t r = 0; r < rows; r++) {
        for (size_t k = 0; k < t->nrules; k++)
            if (t->rules[k] == r && r > 1) {
                print_rule(width, t->ncols, f);
                break;
            }
        for (int c = 0; c < t->ncols; c++) {
            size_t i = r * (size_t)t->ncols + (size_t)c;
            const char *s = i < t->ncells && t->cells[i] ? t->cells[i] : "";
            bool right = r > 0 && c > 0 && looks_numeric(s);
            fprintf(f, right ? "%*s" : "%-*s", (int)width[c], s);
            fputs(c + 1 < t->ncols ? "  " : "\n", f);
        }
        if (r == 0)
            print_rule(width, t->ncols, f);
    }
    free(width);
}

void bench_table_free(bench_table *t) {
    if (!t)
        return;
    for (size_t i = 0; i < t->ncells; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t->rules);
    free(t);
}

/* ---- progress bar ------------------------------------------------------------------------------
 */

static struct {
    bool on;
    uint64_t total, done;
    uint64_t start_ns;
    char label[64];
} progress;

static void progress_draw(const char *what) {
    enum { WIDTH = 30 };
    uint64_t total = progress.total ? progress.total : 1;
    uint64_t done = progress.done < total ? progress.done : total;
    int filled = (int)(done * WIDTH / total);
    double secs = (double)(bench_now_ns() - progress.start_ns) / 1e9;
    fprintf(stderr, "\r\033[K%s [", progress.label);
    for (int i = 0; i < WIDTH; i++)
        fputc(i < filled ? '#' : '.', stderr);
    fprintf(stderr, "] %3d%% %5.1fs %s", (int)(done * 100 / total), secs, what ? what : "");
    fflush(stderr);
}

void bench_progress_start(uint64_t total, const char *label) {
    progress.on = isatty(2);
    progress.total = total;
    progress.done = 0;
    progress.start_ns = bench_now_ns();
    snprintf(progress.label, sizeof progress.label, "%s", label ? label : "");
    if (progress.on)
        progress_draw(NULL);
}

void bench_progress_add(uint64_t units, const char *what) {
    progress.done += units;
    if (progress.on)
        progress_draw(what);
}

void bench_progress_done(void) {
    if (progress.on)
        fprintf(stderr, "\r\033[K");
    progress.on = false;
}

/* ---- counting allocator
 * -------------------------------------------------------------------------- */

/* Relaxed atomics: the counters are statistics read after the measured
 * threads have been joined (the join orders them); no other memory is
 * published through them. */
void bench_counter_reset(bench_counter *c) {
    __atomic_store_n(&c->allocs, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&c->frees, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&c->live_bytes, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&c->peak_bytes, 0, __ATOMIC_RELAXED);
}

void bench_advise_huge(void *p, size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    const uintptr_t huge = (uintptr_t)2 << 20;
    uintptr_t lo = ((uintptr_t)p + huge - 1) & ~(huge - 1);
    uintptr_t hi = ((uintptr_t)p + bytes) & ~(huge - 1);
    if (p && bytes >= ((size_t)4 << 20) && hi > lo)
        (void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
#else
    (void)p;
    (void)bytes;
#endif
}

void *bench_counter_alloc(bench_counter *c, size_t size) {
    void *p = malloc(size ? size : 1);
    if (!p)
        return NULL;
    int64_t bytes = (int64_t)malloc_usable_size(p);
    __atomic_fetch_add(&c->allocs, 1, __ATOMIC_RELAXED);
    int64_t live = __atomic_add_fetch(&c->live_bytes, bytes, __ATOMIC_RELAXED);
    int64_t peak = __atomic_load_n(&c->peak_bytes, __ATOMIC_RELAXED);
    while (live > peak && !__atomic_compare_exchange_n(&c->peak_bytes, &peak, live, true,
                                                       __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
    return p;
}

void bench_counter_free(bench_counter *c, void *p) {
    if (!p)
        return;
    int64_t bytes = (int64_t)malloc_usable_size(p);
    __atomic_fetch_add(&c->frees, 1, __ATOMIC_RELAXED);
    __atomic_sub_fetch(&c->live_bytes, bytes, __ATOMIC_RELAXED);
    free(p);
}

static void *counting_alloc(size_t size, void *ctx) {
    return bench_counter_alloc(ctx, size);
}

static void counting_free(void *ptr, size_t size, void *ctx) {
    (void)size;
    bench_counter_free(ctx, ptr);
}

gomap_allocator bench_counting_allocator(bench_counter *c) {
    gomap_allocator a = {counting_alloc, counting_free, c};
    return a;
}
