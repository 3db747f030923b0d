/*
 * detect.c — what happens after the map finds a conflict (detect.h).
 *
 * The report is Go's message, then the detecting thread's stack, then the
 * other party: the id of the thread that held the writing flag and, in the
 * writerstack mode, the stack it recorded when it set the flag.
 *
 * Stacks are captured with backtrace() (cheap: no symbol lookup) and printed
 * as Go prints them, a function per frame with its file:line.  The names
 * and lines come from the DWARF debug information through libdw (elfutils),
 * loaded with dlopen at the first report: a program that never has a
 * conflict never loads it, and a machine without it still gets a report
 * (backtrace_symbols_fd: exported names and offsets).  gomap's own frames at
 * the top of a stack are folded away, so the first frame shown is the
 * user's call.
 */
#include "detect.h"

#include "probes.h"

#include <dlfcn.h>
#include <dwarf.h>
#include <elfutils/libdwfl.h>
#include <execinfo.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

__thread int gomap__tid_cache __attribute__((tls_model("initial-exec")));

int gomap__tid_slow(void) {
    gomap__tid_cache = (int)syscall(SYS_gettid);
    return gomap__tid_cache;
}

atomic_int gomap__tid_fs_ok;

/* A forked child's cached id is its parent thread's: it asks again.  (The
 * descriptor's tid needs nothing: glibc's fork updates it.) */
static void tid_atfork_child(void) {
    gomap__tid_cache = 0;
}
static pthread_once_t tid_atfork_once = PTHREAD_ONCE_INIT;
static void tid_register_atfork(void) {
    pthread_atfork(NULL, NULL, tid_atfork_child);
}

bool gomap__tid_fs_check(void) {
    if (atomic_load_explicit(&gomap__tid_fs_ok, memory_order_relaxed))
        return true;
    pthread_once(&tid_atfork_once, tid_register_atfork);
#ifdef GOMAP__TID_FS
    if (gomap__tid_fs() == (int)syscall(SYS_gettid)) {
        atomic_store_explicit(&gomap__tid_fs_ok, 1, memory_order_relaxed);
        return true;
    }
#endif
    return false;
}

/* ---- GOMAP_DEBUG ------------------------------------------------------ */

/* debug_state: 0 until GOMAP_DEBUG has been parsed, then
 * 1 | (writerstack << 1) | (checkfree << 2).
 * Parsing is idempotent, so two threads racing to parse both store the same
 * value: relaxed loads and stores suffice (no other data is published with
 * it).  conflict_mode likewise holds a plain enum value. */
static atomic_int debug_state;
static atomic_int conflict_mode;
static _Atomic uint64_t conflict_counts[GOMAP_CONFLICT_TYPES];

/* A forked child reads GOMAP_DEBUG's options again at its next use: a test
 * harness (or a program) may set the variable between fork and the child's
 * first map.  The conflict mode already chosen stays (see below). */
static void debug_atfork_child(void) {
    atomic_store_explicit(&debug_state, 0, memory_order_relaxed);
}
static pthread_once_t debug_atfork_once = PTHREAD_ONCE_INIT;
static void debug_register_atfork(void) {
    pthread_atfork(NULL, NULL, debug_atfork_child);
}

static void say(const char *s);

/* Whether the option env[0..n) is `name` (e.g. "conflict=report"). */
static bool is_option(const char *env, size_t n, const char *name) {
    return n == strlen(name) && strncmp(env, name, n) == 0;
}

/* The parse itself, on the first use only (parse_debug).  Kept out of line:
 * its buffers are locals whose addresses are passed on, which in an
 * AddressSanitizer build give every call a fake stack frame with poisoned
 * redzones, and parse_debug runs on each map's creation and free. */
__attribute__((noinline)) static int parse_debug_env(void) {
    pthread_once(&debug_atfork_once, debug_register_atfork);
    int st = 1;
    int mode = GOMAP_CONFLICT_ABORT;
    const char *env = getenv("GOMAP_DEBUG");
    /* Unknown options are named in one warning line, not ignored: a typo
     * (conflict=reprot) would otherwise leave the program in abort mode
     * without a word. */
    char unknown[200] = "";
    while (env && *env) {
        size_t n = strcspn(env, ",");
        if (is_option(env, n, "conflict=abort"))
            mode = GOMAP_CONFLICT_ABORT;
        else if (is_option(env, n, "conflict=report"))
            mode = GOMAP_CONFLICT_REPORT;
        else if (is_option(env, n, "conflict=count"))
            mode = GOMAP_CONFLICT_COUNT;
        else if (is_option(env, n, "writerstack=1"))
            st |= 2;
        else if (is_option(env, n, "writerstack=0"))
            st &= ~2;
        else if (is_option(env, n, "checkfree=1"))
            st |= 4;
        else if (is_option(env, n, "checkfree=0"))
            st &= ~4;
        else if (n > 0) {
            size_t used = strlen(unknown);
            snprintf(unknown + used, sizeof unknown - used, "%s'%.*s'", used ? ", " : "",
                     (int)(n > 60 ? 60 : n), env);
        }
        env += n;
        if (*env == ',')
            env++;
    }
    if (unknown[0]) {
        char line[400];
        snprintf(line, sizeof line,
                 "gomap: GOMAP_DEBUG: ignoring unknown option %s (known: "
                 "conflict=abort|report|count, writerstack=0|1, checkfree=0|1)\n",
                 unknown);
        say(line);
    }
    /* A mode set by gomap_debug_set_mode before the first parse wins: it
     * marks itself with bit 8 of conflict_mode. */
    int expected = 0;
    atomic_compare_exchange_strong_explicit(&conflict_mode, &expected, mode | 0x100,
                                            memory_order_relaxed, memory_order_relaxed);
    atomic_store_explicit(&debug_state, st, memory_order_relaxed);
    return st;
}

static int parse_debug(void) {
    /* Relaxed: see debug_state. */
    int st = atomic_load_explicit(&debug_state, memory_order_relaxed);
    return st ? st : parse_debug_env();
}

GOMAP_API gomap_conflict_mode gomap_debug_mode(void) {
    parse_debug();
    return (gomap_conflict_mode)(atomic_load_explicit(&conflict_mode, memory_order_relaxed) & 0xff);
}

GOMAP_API void gomap_debug_set_mode(gomap_conflict_mode mode) {
    parse_debug();
    atomic_store_explicit(&conflict_mode, (int)mode | 0x100, memory_order_relaxed);
}

GOMAP_API uint64_t gomap_conflict_count(gomap_conflict_type type) {
    if ((unsigned)type >= GOMAP_CONFLICT_TYPES)
        return 0;
    return atomic_load_explicit(&conflict_counts[type], memory_order_relaxed);
}

bool gomap__debug_writerstack(void) {
    return (parse_debug() & 2) != 0;
}

bool gomap__debug_serialize(void) {
    return gomap_debug_mode() != GOMAP_CONFLICT_ABORT;
}

bool gomap__debug_checkfree(void) {
    return (parse_debug() & 4) != 0;
}

/* ---- writer stacks ------------------------------------------------------ */

/* In the writerstack mode each writer records its stack, at every write, in
 * the slot of this table its thread id selects; a report looks up the slot of
 * the writer it names and prints it if the slot still belongs to that thread.
 * Best effort, as detection itself: two threads whose ids collide modulo the
 * table size overwrite each other.  The frames are written and read with
 * relaxed atomics: the reader races with the writer by design (that is the
 * conflict being reported), and a torn stack only prints a wrong frame. */
enum { WSTACK_SLOTS = 64, WSTACK_DEPTH = 32 };
static struct {
    atomic_int tid;
    atomic_int depth;
    _Atomic uintptr_t pc[WSTACK_DEPTH];
} wstacks[WSTACK_SLOTS];

void gomap__record_writer_stack(void) {
    void *pcs[WSTACK_DEPTH];
    int n = backtrace(pcs, WSTACK_DEPTH);
    int tid = gomap__tid();
    unsigned s = (unsigned)tid % WSTACK_SLOTS;
    atomic_store_explicit(&wstacks[s].tid, 0, memory_order_relaxed);
    for (int i = 0; i < n; i++)
        atomic_store_explicit(&wstacks[s].pc[i], (uintptr_t)pcs[i], memory_order_relaxed);
    atomic_store_explicit(&wstacks[s].depth, n, memory_order_relaxed);
    atomic_store_explicit(&wstacks[s].tid, tid, memory_order_relaxed);
}

/* ---- stacks -------------------------------------------------------------- */

static void say(const char *s) {
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, s, n);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

/* libdw, loaded at the first report (see the file's comment).  Only the
 * functions below are used; each is looked up by name.  Guarded by
 * report_lock, as is everything that prints. */
static struct {
    int state; /* 0 not tried, 1 loaded, -1 unavailable */
    Dwfl *dwfl;
    Dwfl *(*begin)(const Dwfl_Callbacks *);
    int (*proc_report)(Dwfl *, pid_t);
    int (*report_end)(Dwfl *, int (*)(Dwfl_Module *, void *, const char *, Dwarf_Addr, void *),
                      void *);
    void (*end)(Dwfl *);
    Dwfl_Module *(*addrmodule)(Dwfl *, Dwarf_Addr);
    const char *(*addrinfo)(Dwfl_Module *, GElf_Addr, GElf_Off *, GElf_Sym *, GElf_Word *, Elf **,
                            GElf_Addr *);
    Dwfl_Line *(*getsrc)(Dwfl_Module *, Dwarf_Addr);
    const char *(*lineinfo)(Dwfl_Line *, Dwarf_Addr *, int *, int *, Dwarf_Word *, Dwarf_Word *);
    const char *(*module_info)(Dwfl_Module *, void ***, Dwarf_Addr *, Dwarf_Addr *, Dwarf_Addr *,
                               Dwarf_Addr *, const char **, const char **);
    /* For the functions inlined at an address (optional: without them
     * each address is one frame). */
    Dwarf_Die *(*addrdie)(Dwfl_Module *, Dwarf_Addr, Dwarf_Addr *);
    int (*getscopes)(Dwarf_Die *, Dwarf_Addr, Dwarf_Die **);
    int (*tag)(Dwarf_Die *);
    Dwarf_Attribute *(*attr_integrate)(Dwarf_Die *, unsigned int, Dwarf_Attribute *);
    const char *(*formstring)(Dwarf_Attribute *);
    int (*formudata)(Dwarf_Attribute *, Dwarf_Word *);
    int (*getsrcfiles)(Dwarf_Die *, Dwarf_Files **, size_t *);
    const char *(*filesrc)(Dwarf_Files *, size_t, Dwarf_Word *, Dwarf_Word *);
    bool inlines;
    Dwfl_Callbacks cb;
    char *debuginfo_path;
} dw;

#define DW_LOOKUP(handle, field, name) (*(void **)&dw.field = dlsym(handle, name))

/* Makes the process's module list (again: `refresh` after a frame fell in
 * no known module, e.g. a library loaded since).  False without libdw. */
static bool dw_ready(bool refresh) {
    if (dw.state == 0) {
        dw.state = -1;
        void *h = dlopen("libdw.so.1", RTLD_NOW | RTLD_LOCAL);
        if (!h)
            return false;
        void *find_elf = dlsym(h, "dwfl_linux_proc_find_elf");
        void *find_dbg = dlsym(h, "dwfl_standard_find_debuginfo");
        if (!DW_LOOKUP(h, begin, "dwfl_begin") ||
            !DW_LOOKUP(h, proc_report, "dwfl_linux_proc_report") ||
            !DW_LOOKUP(h, report_end, "dwfl_report_end") || !DW_LOOKUP(h, end, "dwfl_end") ||
            !DW_LOOKUP(h, addrmodule, "dwfl_addrmodule") ||
            !DW_LOOKUP(h, addrinfo, "dwfl_module_addrinfo") ||
            !DW_LOOKUP(h, getsrc, "dwfl_module_getsrc") ||
            !DW_LOOKUP(h, lineinfo, "dwfl_lineinfo") ||
            !DW_LOOKUP(h, module_info, "dwfl_module_info") || !find_elf || !find_dbg)
            return false;
        dw.inlines = DW_LOOKUP(h, addrdie, "dwfl_module_addrdie") &&
                     DW_LOOKUP(h, getscopes, "dwarf_getscopes") && DW_LOOKUP(h, tag, "dwarf_tag") &&
                     DW_LOOKUP(h, attr_integrate, "dwarf_attr_integrate") &&
                     DW_LOOKUP(h, formstring, "dwarf_formstring") &&
                     DW_LOOKUP(h, formudata, "dwarf_formudata") &&
                     DW_LOOKUP(h, getsrcfiles, "dwarf_getsrcfiles") &&
                     DW_LOOKUP(h, filesrc, "dwarf_filesrc");
        *(void **)&dw.cb.find_elf = find_elf;
        *(void **)&dw.cb.find_debuginfo = find_dbg;
        dw.cb.debuginfo_path = &dw.debuginfo_path;
        dw.state = 1;
        refresh = true;
    }
    if (dw.state < 0)
        return false;
    if (refresh) {
        if (dw.dwfl)
            dw.end(dw.dwfl);
        dw.dwfl = dw.begin(&dw.cb);
        if (dw.dwfl &&
            (dw.proc_report(dw.dwfl, getpid()) != 0 || dw.report_end(dw.dwfl, NULL, NULL) != 0)) {
            dw.end(dw.dwfl);
            dw.dwfl = NULL;
        }
    }
    return dw.dwfl != NULL;
}

/* One frame, resolved: its function (NULL if unknown), source file and line
 * (NULL/0 without debug information), module path and offset. */
typedef struct frame {
    uintptr_t pc;
    const char *fn;
    const char *file;
    int line;
    const char *module;
    uintptr_t off;
} frame;

/* The name of a function DIE (through DW_AT_abstract_origin for an inlined
 * one), or NULL. */
static const char *die_name(Dwarf_Die *die) {
    Dwarf_Attribute a;
    return dw.attr_integrate(die, DW_AT_name, &a) ? dw.formstring(&a) : NULL;
}

/* The functions inlined at `at` (libdw's scopes, innermost first): each
 * becomes a frame of its own, as Go prints inlined calls, the innermost at
 * the address's own line and each outer one at the line of the inlined
 * call.  `base` is filled already (outermost function, module, line);
 * returns how many frames went to out[] (at least 1). */
static int expand_inlines(Dwfl_Module *mod, uintptr_t at, const frame *base, frame *out, int room) {
    out[0] = *base;
    if (!dw.inlines || room < 2)
        return 1;
    Dwarf_Addr bias = 0;
    Dwarf_Die *cu = dw.addrdie(mod, at, &bias);
    Dwarf_Die *scopes = NULL;
    int ns = cu ? dw.getscopes(cu, at - bias, &scopes) : 0;
    Dwarf_Files *files = NULL;
    size_t nfiles = 0;
    if (ns <= 0 || dw.getsrcfiles(cu, &files, &nfiles) != 0) {
        free(scopes);
        return 1;
    }
    int n = 0;
    const char *file = base->file;
    int line = base->line;
    bool outermost = false;
    for (int i = 0; i < ns && n < room; i++) {
        int tag = dw.tag(&scopes[i]);
        if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_subprogram)
            continue;
        out[n] = *base;
        const char *name = die_name(&scopes[i]);
        if (name)
            out[n].fn = name;
        out[n].file = file;
        out[n].line = line;
        n++;
        if (tag == DW_TAG_subprogram) {
            outermost = true;
            break;
        }
        Dwarf_Attribute a;
        Dwarf_Word cf = 0, cl = 0;
        if (dw.attr_integrate(&scopes[i], DW_AT_call_file, &a) && dw.formudata(&a, &cf) == 0 &&
            cf < nfiles)
            file = dw.filesrc(files, cf, NULL, NULL);
        if (dw.attr_integrate(&scopes[i], DW_AT_call_line, &a) && dw.formudata(&a, &cl) == 0)
            line = (int)cl;
    }
    free(scopes);
    /* libdw lists an inlined call's scopes up to the compile unit, without
     * the function it was inlined into: that one is the symbol table's
     * function at this address, at the line of the outermost inlined call. */
    if (!outermost && n < room) {
        out[n] = *base;
        out[n].file = file;
        out[n].line = line;
        n++;
    }
    return n;
}

/* A return address points after the call; looking up pc - 1 finds the call's
 * own line (and its function, if the call was the function's last
 * instruction).  Fills up to `room` frames (inlined calls expanded) and
 * returns how many. */
static int resolve(uintptr_t pc, bool is_return, frame *out, int room) {
    frame f;
    memset(&f, 0, sizeof f);
    f.pc = pc;
    uintptr_t at = is_return && pc ? pc - 1 : pc;
    if (dw.state == 1 && dw.dwfl) {
        Dwfl_Module *mod = dw.addrmodule(dw.dwfl, at);
        if (!mod && dw_ready(true))
            mod = dw.addrmodule(dw.dwfl, at);
        if (mod) {
            GElf_Off off = 0;
            GElf_Sym sym;
            f.fn = dw.addrinfo(mod, at, &off, &sym, NULL, NULL, NULL);
            f.off = (uintptr_t)off + (at != pc);
            Dwarf_Addr start = 0;
            f.module = dw.module_info(mod, NULL, &start, NULL, NULL, NULL, NULL, NULL);
            Dwfl_Line *line = dw.getsrc(mod, at);
            if (line)
                f.file = dw.lineinfo(line, NULL, &f.line, NULL, NULL, NULL);
            return expand_inlines(mod, at, &f, out, room);
        }
    }
    Dl_info info;
    if (dladdr((void *)at, &info)) {
        f.fn = info.dli_sname;
        f.module = info.dli_fname;
        f.off = info.dli_saddr ? pc - (uintptr_t)info.dli_saddr : pc - (uintptr_t)info.dli_fbase;
    }
    out[0] = f;
    return 1;
}

/* Whether a frame is gomap's own code: its source file lies beside this one
 * (debug information), or it lies in libgomap.so, or (no debug information
 * in a static link) its name is one of gomap's. */
static bool internal_frame(const frame *f) {
    /* here: ".../src/detect.c"; gomap's sources are ".../src/<file>". */
    static const char here[] = __FILE__;
    const char *slash = strrchr(here, '/');
    size_t dir = slash ? (size_t)(slash - here) + 1 : 0;
    if (f->file && dir && strncmp(f->file, here, dir) == 0 && !strchr(f->file + dir, '/'))
        return true;
    /* backtrace() itself, or a wrapper of it: a sanitizer's interceptor
     * (ASan, TSan builds) or a program's own (only this file calls it). */
    if (f->fn && (strcmp(f->fn, "backtrace") == 0 || strncmp(f->fn, "__interceptor_", 14) == 0 ||
                  strncmp(f->fn, "__sanitizer_", 12) == 0))
        return true;
    /* A public header's inline function (a typed helper), wherever the
     * headers are installed. */
    if (f->file && f->fn && strncmp(f->fn, "gomap_", 6) == 0 &&
        (strncmp(f->file, "gomap/", 6) == 0 || strstr(f->file, "/gomap/")))
        return true;
    if (f->module) {
        const char *base = strrchr(f->module, '/');
        base = base ? base + 1 : f->module;
        if (strncmp(base, "libgomap", 8) == 0)
            return true;
    }
    return !f->file && f->fn && strncmp(f->fn, "gomap_", 6) == 0;
}

enum { STACK_DEPTH = 64 };

/* Prints a captured stack as Go does: "function()" then "\tfile:line +0xoff"
 * per frame; leading internal frames folded. */
static void print_stack(void **pcs, int n) {
    if (n <= 0) {
        say("\t(no stack)\n");
        return;
    }
    dw_ready(false);
    static frame fr[2 * STACK_DEPTH]; /* under report_lock */
    int pcs_n = n > STACK_DEPTH ? STACK_DEPTH : n;
    n = 0;
    for (int i = 0; i < pcs_n && n < 2 * STACK_DEPTH; i++)
        n += resolve((uintptr_t)pcs[i], true, &fr[n], 2 * STACK_DEPTH - n);
    /* Fold up to the last of gomap's frames at the top: frames above them
     * (a wrapper of backtrace itself) go too; the first frame after them
     * is the caller's. */
    int first = 0;
    for (int i = 0; i < n - 1; i++) {
        if (internal_frame(&fr[i]))
            first = i + 1;
        else if (first > 0)
            break;
    }
    if (dw.state != 1 && first == 0) {
        /* No libdw and nothing recognised: the raw form. */
        backtrace_symbols_fd(pcs, pcs_n, STDERR_FILENO);
        return;
    }
    char buf[600];
    for (int i = first; i < n; i++) {
        const frame *f = &fr[i];
        if (f->fn)
            snprintf(buf, sizeof buf, "%s()\n", f->fn);
        else
            snprintf(buf, sizeof buf, "?()\n");
        say(buf);
        if (f->file)
            snprintf(buf, sizeof buf, "\t%s:%d +0x%lx\n", f->file, f->line, (unsigned long)f->off);
        else
            snprintf(buf, sizeof buf, "\t%s +0x%lx [%p]\n", f->module ? f->module : "?",
                     (unsigned long)f->off, (void *)f->pc);
        say(buf);
    }
}

/* ---- reports ------------------------------------------------------------ */

static const char *const conflict_msgs[GOMAP_CONFLICT_TYPES] = {
    "concurrent map writes",
    "concurrent map read and map write",
    "concurrent map iteration and map write",
};

/* One report at a time, as Go's printlock: two threads detecting the same
 * conflict would interleave their lines.  A report that ends in abort()
 * never releases it, so later reporters wait for the process to die. */
static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;

/* Does now what a process's first report does before it prints (load
 * libdw, list the modules), and reads the debug information of the compile
 * units a report's frames mostly fall in: the caller's own stack, the map's
 * entry points (map.c) and this file.  A process that forks many children
 * which each report (a test of the fatal paths) then does this once, each
 * child inheriting it.  The library never calls it: a program that has no
 * conflict never loads libdw. */
void gomap__detect_preload(void) {
    void *pcs[STACK_DEPTH];
    int n = backtrace(pcs, STACK_DEPTH);
    static frame fr[2 * STACK_DEPTH]; /* under report_lock */
    pthread_mutex_lock(&report_lock);
    dw_ready(false);
    for (int i = 0, used = 0; i < n && used < 2 * STACK_DEPTH; i++)
        used += resolve((uintptr_t)pcs[i], true, &fr[used], 2 * STACK_DEPTH - used);
    resolve((uintptr_t)gomap_set, false, fr, 2 * STACK_DEPTH);
    resolve((uintptr_t)gomap__conflict, false, fr, 2 * STACK_DEPTH);
    pthread_mutex_unlock(&report_lock);
}

/* In the report mode a program that keeps running may meet the same misuse
 * millions of times: each call site (type and detecting stack) is printed
 * once, later conflicts there are counted only.  An open-addressed set of
 * stack hashes, under report_lock; when full, nothing more is printed. */
enum { SEEN_SLOTS = 256 };
static uint64_t seen[SEEN_SLOTS];
static unsigned seen_used;

static bool first_time_seen(gomap_conflict_type type, void **pcs, int n) {
    uint64_t h = 0x9e3779b97f4a7c15u * ((uint64_t)type + 1);
    for (int i = 0; i < n; i++)
        h = (h ^ (uint64_t)(uintptr_t)pcs[i]) * 0x100000001b3u;
    h |= 1; /* 0 marks a free slot */
    for (unsigned i = 0; i < SEEN_SLOTS; i++) {
        uint64_t *s = &seen[(h + i) % SEEN_SLOTS];
        if (*s == h)
            return false;
        if (*s == 0) {
            if (seen_used >= SEEN_SLOTS / 2)
                return false;
            *s = h;
            seen_used++;
            return true;
        }
    }
    return false;
}

/* A freed map (checkfree mode) is not a conflict: always fatal, whatever
 * the conflict mode, and named as what it is. */
static _Noreturn void freed_map_used(gomap_conflict_type type) {
    gomap__fatal(type == GOMAP_CONFLICT_ITER_WRITE
                     ? "gomap_iter_next on a freed map (GOMAP_DEBUG=checkfree)"
                 : type == GOMAP_CONFLICT_WRITES ? "write to a freed map (GOMAP_DEBUG=checkfree)"
                                                 : "read of a freed map (GOMAP_DEBUG=checkfree)");
}

/* Whether tid names a live thread of this process.  A writing word holding
 * anything else was not written by a writer: most likely the map was freed
 * and its memory reused. */
static bool live_thread(int tid) {
    if (tid <= 0 || tid > GOMAP__TID_MASK)
        return false;
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d", tid);
    return access(path, F_OK) == 0;
}

/* ---- a write's stack token, back to its thread -------------------------- */

/* Where the low 32 bits of a stack pointer (a default-mode map's insert or
 * delete stores them in its writing word, see write_claim_sp in map.c) lie: each
 * readable and writable mapping of the process holding an address with
 * those low bits, and whose stack that is.  Report time only; everything
 * is read through /proc/self, never by dereferencing a guessed address, so
 * a mapping that goes away meanwhile makes a read fail, not the report. */
enum sp_kind {
    SP_MAIN,     /* the process's [stack]: the main thread's */
    SP_THREAD,   /* a thread's stack, its glibc descriptor found above it */
    SP_ALTSTACK, /* the reporting thread's own signal stack */
    SP_OTHER,    /* no stack the report can name */
};
typedef struct sp_owner {
    uintptr_t addr;   /* the address the token stands for */
    uintptr_t lo, hi; /* its mapping */
    uintptr_t tcb;    /* SP_THREAD: the thread's descriptor (its pthread_t) */
    int tid;          /* its kernel id; 0 if unknown or the thread has exited */
    enum sp_kind kind;
    char path[64]; /* the mapping's name ("" for an anonymous one) */
} sp_owner;

#ifdef GOMAP__SP_TOKEN
/* The calling thread's stack-protector canary, %fs:0x28 on x86-64 (the
 * compilers' ABI): one value for every thread of the process, kept in each
 * thread's descriptor (glibc's tcbhead_t.stack_guard). */
static uintptr_t own_stack_guard(void) {
    uintptr_t g;
    __asm__("movq %%fs:0x28, %0" : "=r"(g));
    return g;
}

/* The glibc descriptor of the stack holding addr: glibc puts a thread's
 * descriptor (struct pthread, whose address is its pthread_t and the
 * thread pointer) at the top of the stack it allocates or is given, so it
 * is the first descriptor above any address of the stack.  A descriptor
 * is recognised by its header (tcbhead_t): the first word and the third
 * (`tcb`, `self`) hold its own address, and the word at 0x28 the process's
 * canary.  Descriptors are 64-byte aligned.  Returns 0 when none is found
 * below `end` (the mapping's end). */
static uintptr_t find_tcb_above(int mem, uintptr_t addr, uintptr_t end) {
    enum { CHUNK = 64 * 1024, HDR = 0x30 };
    static uintptr_t buf[(CHUNK + HDR) / sizeof(uintptr_t)]; /* under report_lock */
    uintptr_t guard = own_stack_guard();
    uintptr_t limit = end - addr > ((uintptr_t)64 << 20) ? addr + ((uintptr_t)64 << 20) : end;
    for (uintptr_t at = (addr + 63) & ~(uintptr_t)63; at + HDR <= limit; at += CHUNK) {
        size_t want = limit - at < CHUNK + HDR ? (size_t)(limit - at) : CHUNK + HDR;
        ssize_t got = pread(mem, buf, want, (off_t)at);
        if (got < HDR)
            return 0;
        for (size_t o = 0; o + HDR <= (size_t)got && o < CHUNK; o += 64) {
            const uintptr_t *h = &buf[o / sizeof(uintptr_t)];
            if (h[0] == at + o && h[2] == at + o && h[5] == guard)
                return at + o;
        }
    }
    return 0;
}

static int sp_owners(uint32_t token, sp_owner *out, int room) {
    FILE *maps = fopen("/proc/self/maps", "re");
    if (!maps)
        return 0;
    int mem = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
    stack_t alt;
    bool have_alt = sigaltstack(NULL, &alt) == 0 && !(alt.ss_flags & SS_DISABLE);
    char line[512];
    /* Every mapping is looked at: a process can have more candidates than
     * room (a sanitizer's shadow memory holds every low-32-bit value), and
     * a stack the report can name then takes the place of one it cannot. */
    int n = 0;
    while (fgets(line, sizeof line, maps)) {
        unsigned long lo, hi;
        char perms[8], path[256] = "";
        if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %255[^\n]", &lo, &hi, perms, path) < 3 ||
            perms[0] != 'r' || perms[1] != 'w' || path[0] == '/')
            continue; /* a stack is anonymous memory (or [stack], [heap]) */
        uintptr_t a = ((uintptr_t)lo & ~(uintptr_t)0xffffffff) | token;
        if (a < lo)
            a += (uintptr_t)1 << 32;
        if (a >= hi)
            continue;
        sp_owner cand, *o = &cand;
        memset(o, 0, sizeof *o);
        o->addr = a;
        o->lo = lo;
        o->hi = hi;
        /* a long path is cut to the field: the report names the kind of memory */
        snprintf(o->path, sizeof o->path, "%.*s", (int)sizeof o->path - 1, path);
        o->kind = SP_OTHER;
        if (have_alt && a >= (uintptr_t)alt.ss_sp && a - (uintptr_t)alt.ss_sp < alt.ss_size) {
            o->kind = SP_ALTSTACK;
            o->tid = gomap__tid();
        } else if (strcmp(path, "[stack]") == 0) {
            o->kind = SP_MAIN;
            o->tid = live_thread(getpid()) ? getpid() : 0;
        } else if (mem >= 0 && (o->tcb = find_tcb_above(mem, a, hi)) != 0) {
            o->kind = SP_THREAD;
            int tid = 0;
            /* The kernel id in the descriptor, where this process has
             * verified glibc's offset of it (detect.h); the kernel sets it
             * to 0 when the thread exits. */
            if (atomic_load_explicit(&gomap__tid_fs_ok, memory_order_relaxed) &&
                pread(mem, &tid, sizeof tid, (off_t)(o->tcb + GOMAP__TID_FS)) == sizeof tid &&
                live_thread(tid))
                o->tid = tid;
        }
        int at = n < room ? n++ : -1;
        for (int i = 0; at < 0 && o->kind != SP_OTHER && i < n; i++)
            if (out[i].kind == SP_OTHER)
                at = i;
        if (at >= 0)
            out[at] = cand;
    }
    if (mem >= 0)
        close(mem);
    fclose(maps);
    return n;
}
#else
static int sp_owners(uint32_t token, sp_owner *out, int room) {
    (void)token, (void)out, (void)room;
    return 0;
}
#endif

/* The stacks a value that may be a writer's stack token stands for (the
 * report and the probe ask): sp_owners, with those the report can name
 * (a kind other than SP_OTHER) moved to the front, in their order, and
 * counted in *named.  Returns how many there are, 0 for a value that is
 * no stack pointer (one at a call is 8-byte aligned).  The caller holds
 * report_lock (find_tcb_above's buffer). */
enum { SP_ROOM = 4 };
static int token_owners(uint32_t token, sp_owner out[SP_ROOM], int *named) {
    *named = 0;
    if (token % 8 != 0)
        return 0;
    int n = sp_owners(token, out, SP_ROOM);
    for (int i = 0; i < n; i++) {
        if (out[i].kind == SP_OTHER)
            continue;
        sp_owner o = out[i];
        memmove(&out[*named + 1], &out[*named], (size_t)(i - *named) * sizeof o);
        out[(*named)++] = o;
    }
    return n;
}

int gomap__token_tid(uint32_t token, bool *in_memory) {
    sp_owner owners[SP_ROOM];
    int named;
    pthread_mutex_lock(&report_lock);
    *in_memory = token_owners(token, owners, &named) > 0;
    pthread_mutex_unlock(&report_lock);
    int tid = 0;
    for (int i = 0; i < named; i++) {
        if (owners[i].tid == 0 || (tid != 0 && tid != owners[i].tid))
            return 0; /* a stack whose thread is unknown, or two threads' */
        tid = owners[i].tid;
    }
    return tid;
}

static void print_writer_stack(int writer_tid) {
    unsigned s = (unsigned)writer_tid % WSTACK_SLOTS;
    if (atomic_load_explicit(&wstacks[s].tid, memory_order_relaxed) == writer_tid) {
        void *pcs[WSTACK_DEPTH];
        int n = atomic_load_explicit(&wstacks[s].depth, memory_order_relaxed);
        if (n > WSTACK_DEPTH)
            n = WSTACK_DEPTH;
        for (int i = 0; i < n; i++)
            pcs[i] = (void *)atomic_load_explicit(&wstacks[s].pc[i], memory_order_relaxed);
        say("its stack when it set the flag (at its latest write):\n");
        print_stack(pcs, n);
    } else if (!gomap__debug_writerstack()) {
        say("(run with GOMAP_DEBUG=writerstack=1 to see its stack)\n");
    }
}

static const char same_thread_note[] = " — the same thread: a reentrant call (from a hash or "
                                       "equality function, or a signal handler)";

/* The writer named by a stack token (see sp_owners). */
static void print_sp_owner(uint32_t token, const sp_owner *o, int me) {
    char buf[1000];
    if (o->kind == SP_OTHER) {
        snprintf(buf, sizeof buf,
                 "\nwriter: unknown thread.  The map's writing flag holds 0x%08x, which is no "
                 "thread of this process; as the low 32 bits of the stack pointer of the "
                 "insert or delete that held it, it stands for %#lx, which "
                 "lies in %#lx-%#lx %s, no thread's stack the report can name (a "
                 "signal handler's alternate stack, a coroutine's stack, or a stack without "
                 "glibc's thread descriptor at its top), or the map was freed and its memory "
                 "reused (GOMAP_DEBUG=checkfree=1 checks for a use after gomap_free).  "
                 "GOMAP_DEBUG=writerstack=1 makes every write record its thread id and stack\n",
                 token, (unsigned long)o->addr, (unsigned long)o->lo, (unsigned long)o->hi,
                 o->path[0] ? o->path : "(anonymous memory)");
        say(buf);
        return;
    }
    const char *where = o->kind == SP_MAIN       ? "the main thread's stack"
                        : o->kind == SP_ALTSTACK ? "this thread's signal stack"
                                                 : "its stack";
    if (o->tid) {
        snprintf(buf, sizeof buf,
                 "\nthread %d (held the map's writing flag: the low 32 bits of its stack "
                 "pointer in an insert or delete, %#lx in %s",
                 o->tid, (unsigned long)o->addr, where);
    } else {
        snprintf(buf, sizeof buf,
                 "\nwriter: a thread no longer running, or whose id is unknown (the map's "
                 "writing flag holds the low 32 bits of its stack pointer in an insert or "
                 "delete, %#lx in %s",
                 (unsigned long)o->addr, where);
    }
    say(buf);
    if (o->kind == SP_THREAD) {
        snprintf(buf, sizeof buf, ", pthread_t %#lx", (unsigned long)o->tcb);
        say(buf);
    }
    say(")");
    if (o->tid && o->tid == me)
        say(same_thread_note);
    say("\n");
    if (o->tid)
        print_writer_stack(o->tid);
}

static void print_other_party(int writer, int me, bool writer_live) {
    char buf[400];
    if (writer == 0) {
        say("\nwriter: unknown (it had finished or not yet recorded its id)\n");
        return;
    }
    if (writer == GOMAP__READERS) {
        say("\nthe other party: a reader inside the map (readers do not record their id; "
            "its own report, if it saw this write, names this thread)\n");
        return;
    }
    /* A default-mode map's insert or delete stores the low 32 bits of its
     * stack pointer (8-byte aligned), every other write its thread id: the value
     * is looked up as both, and every match is printed (a small value can
     * be both; two threads whose stacks lie 4 GiB apart share low bits). */
    bool is_tid = writer == me || writer_live;
    if (is_tid) {
        snprintf(buf, sizeof buf, "\nthread %d (held the map's writing flag)%s\n", writer,
                 writer == me ? same_thread_note : "");
        say(buf);
        print_writer_stack(writer);
    }
    sp_owner owners[SP_ROOM];
    int named = 0;
    int n = writer == me ? 0 : token_owners((uint32_t)writer, owners, &named);
    if (named > 0) {
        if (is_tid)
            say("\nor, if the flag held an insert's or delete's stack token:");
        if (named > 1)
            say("\n(the stacks of these threads share the low 32 bits of the flag's address: "
                "one of them held it)");
        for (int i = 0; i < named; i++)
            print_sp_owner((uint32_t)writer, &owners[i], me);
        return;
    }
    if (is_tid)
        return;
    if (n > 0) {
        print_sp_owner((uint32_t)writer, &owners[0], me);
        return;
    }
    snprintf(buf, sizeof buf,
             "\nthe map's writing flag holds %d (0x%08x), which is no thread of this process: "
             "a map that was freed (its memory reused) reads this way — run with "
             "GOMAP_DEBUG=checkfree=1 to check for a use after gomap_free\n",
             writer, (uint32_t)writer);
    say(buf);
}

void gomap__conflict(const gomap *m, gomap_conflict_type type, int writer_tid, bool serialized) {
    if (writer_tid == GOMAP__FREED_WRITER)
        freed_map_used(type);
    int me = gomap__tid();
    /* Looked at first: a writer that finishes and exits while this report
     * prints is a thread that existed. */
    bool writer_live = writer_tid == 0 || writer_tid == GOMAP__READERS || writer_tid == me ||
                       live_thread(writer_tid);
    /* The probe's writer is a thread id: a write's stack token is turned
     * into the thread it stands for, only while someone traces. */
    int probe_writer = writer_tid;
    if (GOMAP_PROBE_ENABLED(conflict) && !writer_live && writer_tid != GOMAP__FREED_WRITER) {
        /* Not a live thread's id: a token becomes its thread, or 0 (the
         * probe's "unknown") for one no thread can be named for; anything
         * else (the id of a writer that has exited) is passed as it is. */
        bool in_memory;
        int tid = gomap__token_tid((uint32_t)writer_tid, &in_memory);
        if (tid != 0 || in_memory)
            probe_writer = tid;
    }
    GOMAP_PROBE4(conflict, (int)type, (const void *)m, me, probe_writer);
    atomic_fetch_add_explicit(&conflict_counts[type], 1, memory_order_relaxed);
    int mode = (int)gomap_debug_mode();
    if (mode == GOMAP_CONFLICT_COUNT)
        return;
    char buf[256];
    if (mode == GOMAP_CONFLICT_ABORT) {
        /* The first line goes out before anything slow (the first
         * backtrace loads the unwinder; symbolizing loads libdw): the other
         * party may be corrupting the map at this moment, and if that
         * crashes the process before the report is done, the line that
         * says why is already written, as Go's is.  A second thread that
         * detects meanwhile waits on the lock; this one aborts. */
        pthread_mutex_lock(&report_lock);
        snprintf(buf, sizeof buf, "fatal error: %s\n", conflict_msgs[type]);
        say(buf);
    }
    void *pcs[STACK_DEPTH];
    int n = backtrace(pcs, STACK_DEPTH);
    if (mode == GOMAP_CONFLICT_REPORT) {
        pthread_mutex_lock(&report_lock);
        if (!first_time_seen(type, pcs, n)) {
            pthread_mutex_unlock(&report_lock);
            return;
        }
        snprintf(buf, sizeof buf, "fatal error: %s\n", conflict_msgs[type]);
        say(buf);
    }
    snprintf(buf, sizeof buf, "\nthread %d (detected the conflict, map %p):\n", me,
             (const void *)m);
    say(buf);
    print_stack(pcs, n);
    print_other_party(writer_tid, me, writer_live);
    if (mode == GOMAP_CONFLICT_ABORT)
        abort();
    say(writer_tid == me
            ? "gomap: continuing (GOMAP_DEBUG=conflict=report): a call from the map's own "
              "callback cannot wait for its own thread, so it goes on\n\n"
        : serialized ? "gomap: continuing (GOMAP_DEBUG=conflict=report): this call waits for the "
                       "other to finish, so the map stays intact; later conflicts from this call "
                       "site are counted, not printed (gomap_conflict_count)\n\n"
                     : "gomap: continuing (GOMAP_DEBUG=conflict=report); this map was created "
                       "before the mode was set, so the two calls race and the map may be "
                       "corrupt\n\n");
    pthread_mutex_unlock(&report_lock);
}

void gomap__conflict_wait(unsigned *spins) {
    if (++*spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    } else {
        sched_yield();
    }
}

_Noreturn void gomap__fatal(const char *msg) {
    void *pcs[STACK_DEPTH];
    int n = backtrace(pcs, STACK_DEPTH);
    pthread_mutex_lock(&report_lock);
    char buf[256];
    snprintf(buf, sizeof buf, "fatal error: %s\n\nthread %d:\n", msg, gomap__tid());
    say(buf);
    print_stack(pcs, n);
    abort();
}

_Noreturn void gomap__internal_error(const char *msg) {
    void *pcs[STACK_DEPTH];
    int n = backtrace(pcs, STACK_DEPTH);
    pthread_mutex_lock(&report_lock);
    char buf[256];
    snprintf(buf, sizeof buf, "gomap: internal error: %s\n", msg);
    say(buf);
    print_stack(pcs, n);
    abort();
}
