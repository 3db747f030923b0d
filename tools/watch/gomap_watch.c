/*
 * gomap-watch — watches the gomap maps of running processes through their
 * USDT probes and serves what it sees as Prometheus metrics.
 *
 *   gomap-watch [--port N] [--ready-file PATH] [--verbose] PID...
 *   gomap-watch [--port N] [--ready-file PATH] [--verbose] --all [--library LIB]
 *
 * With --all it watches every process that maps libgomap.so (with --library,
 * the file LIB only), and looks for new ones every two seconds.  For each PID it finds the modules
 * of the process that carry gomap's probes (the program itself when gomap is linked statically, or
 * libgomap.so), and attaches gomap_watch.bpf.c's programs to them with libbpf; the kernel raises
 * each probe's semaphore while attached, so the target computes probe
 * arguments only from then on.  Counts and duration histograms accumulate in
 * a BPF hash; each conflict also arrives through a ring buffer and is logged
 * on stdout as it happens, with the detecting thread's stack, which names the
 * call site: the first function outside the library (gomap_conflict_sites_total).
 * GET /metrics on 127.0.0.1:PORT (default 9464) reads the BPF maps and answers
 * in the Prometheus text format; GET /healthz answers "ok" while the daemon
 * serves.
 *
 * Uprobes never stop the target.  When a target exits, gomap-watch logs it,
 * detaches from it, and keeps serving its last values with
 * gomap_watch_target_up 0; it runs until SIGINT or SIGTERM.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/types.h>

#include "concmap_impl.h" /* GOMAP__VARIANTS: the variants' names */
#include "gomap_watch.h"
#include "gomap_watch_bpf.skel.h"

enum { MAX_TARGETS = 64, MAX_MODULES = 8, MAX_SITES = 256, MAX_ELF_FILES = 16 };

static const char *const kind_names[] = {"writes", "read_write", "iter_write", "unknown"};
static const char *const op_names[] = {"get", "set", "delete", "iter"};
static const char *const concmap_op_names[] = {"load", "store", "delete", "other"};

/* The names the library's variants give their probes, in GOMAP__VARIANTS'
 * order (the index the BPF program counts them under), and "other". */
#define WATCH_NAME_OF(id, name, ops) name,
#define NLIBRARY_VARIANTS            ((unsigned)GOMAP__NVARIANTS)
static const char *const library_variants[NLIBRARY_VARIANTS] = {GOMAP__VARIANTS(WATCH_NAME_OF)};
#undef WATCH_NAME_OF
_Static_assert(NLIBRARY_VARIANTS <= (unsigned)WATCH_MAX_VARIANTS,
               "gomap_watch.h: raise WATCH_MAX_VARIANTS");

static const char *variant_name(unsigned v) {
    return v < NLIBRARY_VARIANTS ? library_variants[v] : "other";
}

/* Whether label series v is shown: the library's variants always, "other"
 * only once counted. */
static bool variant_shown(unsigned v, uint64_t count) {
    return v < NLIBRARY_VARIANTS || (v == WATCH_VARIANT_OTHER && count);
}

/* Opens the BPF program, hands it the variant names (gomap_watch.h says how
 * they are packed) and loads it. */
static struct gomap_watch_bpf *watch_bpf_load(void) {
    struct gomap_watch_bpf *skel = gomap_watch_bpf__open();
    if (!skel)
        return NULL;
    for (unsigned v = 0; v < NLIBRARY_VARIANTS; v++) {
        uint64_t packed = 0;
        size_t len = strlen(library_variants[v]);
        if (len >= WATCH_NAME_MAX) {
            fprintf(stderr, "gomap-watch: variant name \"%s\" is too long\n", library_variants[v]);
            gomap_watch_bpf__destroy(skel);
            errno = EINVAL;
            return NULL;
        }
        memcpy(&packed, library_variants[v], len);
        skel->rodata->variant_names[v] = packed;
    }
    skel->rodata->nvariants = NLIBRARY_VARIANTS;
    int err = gomap_watch_bpf__load(skel);
    if (err) {
        gomap_watch_bpf__destroy(skel);
        errno = -err;
        return NULL;
    }
    return skel;
}

/* One watched process.  `up` turns false once it has exited; its counters stay
 * in the BPF hash, keyed by its pid, and keep being served. */
struct target {
    pid_t pid;
    char comm[32];
    bool up;
    int nlinks;
    struct bpf_link *links[MAX_MODULES * 9];
    pthread_t detacher; /* valid while `detaching` */
    bool detaching;
    uint64_t conflicts_logged;
    double last_conflict; /* Unix seconds of the latest conflict, 0 if none */
};

/* Conflicts counted per (process, kind, map, call site), from the ring
 * buffer's events; at most MAX_SITES distinct ones, the rest counted in
 * gomap_watch_dropped_total{what="sites"}. */
struct site {
    pid_t pid;
    unsigned kind;
    uint64_t map;
    char site[96];
    uint64_t n;
};

static struct {
    struct gomap_watch_bpf *skel;
    struct target targets[MAX_TARGETS];
    int ntargets;
    struct site sites[MAX_SITES];
    int nsites;
    uint64_t sites_dropped;
    pthread_mutex_t lock; /* guards targets[] and sites[] between main loop and HTTP thread */
    bool verbose;
    volatile sig_atomic_t stop;
} w = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("gomap-watch: ", stdout);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    fflush(stdout);
    va_end(ap);
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap) {
    if (level == LIBBPF_DEBUG || (level == LIBBPF_INFO && !w.verbose))
        return 0;
    if (!w.verbose && level == LIBBPF_WARN)
        return 0; /* failed attaches are reported by us, with context */
    return vfprintf(stderr, fmt, ap);
}

/* ---- finding the modules that carry gomap's probes ----------------------- */

/* Whether the ELF file at `path` has a stapsdt note with provider "gomap". */
static bool has_gomap_probes(const char *path) {
    bool found = false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    struct stat st;
    if (fstat(fd, &st) != 0 || (size_t)st.st_size < sizeof(Elf64_Ehdr)) {
        close(fd);
        return false;
    }
    size_t size = (size_t)st.st_size;
    void *mapping = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (mapping == MAP_FAILED)
        return false;
    const unsigned char *p = mapping; /* read-only: PROT_READ */
    const Elf64_Ehdr *eh = (const void *)p;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
        eh->e_shoff == 0 || eh->e_shoff + (size_t)eh->e_shnum * sizeof(Elf64_Shdr) > size)
        goto out;
    const Elf64_Shdr *sh = (const void *)(p + eh->e_shoff);
    for (unsigned i = 0; i < eh->e_shnum && !found; i++) {
        if (sh[i].sh_type != SHT_NOTE || sh[i].sh_offset + sh[i].sh_size > size)
            continue;
        /* Notes: namesz, descsz, type, name (padded to 4), desc (padded).
         * A stapsdt desc is pc, base, semaphore, then "provider\0name\0args\0". */
        const unsigned char *n = p + sh[i].sh_offset, *end = n + sh[i].sh_size;
        while (n + sizeof(Elf64_Nhdr) <= end) {
            const Elf64_Nhdr *nh = (const void *)n;
            const unsigned char *name = n + sizeof *nh;
            const unsigned char *desc = name + ((nh->n_namesz + 3) & ~3u);
            const unsigned char *next = desc + ((nh->n_descsz + 3) & ~3u);
            if (next > end)
                break;
            if (nh->n_type == 3 && nh->n_namesz == 8 && memcmp(name, "stapsdt", 8) == 0 &&
                nh->n_descsz > 3 * 8 + 6 && memcmp(desc + 24, "gomap", 6) == 0) {
                found = true;
                break;
            }
            n = next;
        }
    }
out:
    munmap(mapping, size);
    return found;
}

/* Fills paths[] with the distinct executable file mappings of pid that carry
 * gomap probes; returns their number, or -1 when the process is gone. */
static int gomap_modules(pid_t pid, char paths[][PATH_MAX], int max) {
    char fn[64], line[PATH_MAX + 256];
    snprintf(fn, sizeof fn, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(fn, "re");
    if (!f)
        return -1;
    int n = 0;
    while (n < max && fgets(line, sizeof line, f)) {
        char perms[8];
        int off = 0;
        if (sscanf(line, "%*s %7s %*s %*s %*s%n", perms, &off) != 1 || perms[2] != 'x')
            continue;
        char *path = line + off;
        while (*path == ' ')
            path++;
        path[strcspn(path, "\n")] = '\0';
        if (path[0] != '/')
            continue;
        bool seen = false;
        for (int i = 0; i < n && !seen; i++)
            seen = strcmp(paths[i], path) == 0;
        if (!seen && has_gomap_probes(path))
            snprintf(paths[n++], PATH_MAX, "%s", path);
    }
    fclose(f);
    return n;
}

/* ---- naming a conflict's call site ------------------------------------------ */

/* An ELF file mapped for symbol lookups, kept for the daemon's lifetime (a
 * handful of modules: the targets' programs and libgomap.so). */
struct elf_file {
    char path[PATH_MAX];
    const unsigned char *p;
    size_t size;
};
static struct elf_file elf_files[MAX_ELF_FILES];
static int nelf_files;

static const struct elf_file *elf_open(const char *path) {
    for (int i = 0; i < nelf_files; i++)
        if (strcmp(elf_files[i].path, path) == 0)
            return &elf_files[i];
    if (nelf_files == MAX_ELF_FILES)
        return NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    void *p = MAP_FAILED;
    if (fstat(fd, &st) == 0 && (size_t)st.st_size >= sizeof(Elf64_Ehdr))
        p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return NULL;
    const Elf64_Ehdr *eh = p;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
        eh->e_shoff + (size_t)eh->e_shnum * sizeof(Elf64_Shdr) > (size_t)st.st_size ||
        eh->e_phoff + (size_t)eh->e_phnum * sizeof(Elf64_Phdr) > (size_t)st.st_size) {
        munmap(p, (size_t)st.st_size);
        return NULL;
    }
    struct elf_file *f = &elf_files[nelf_files++];
    snprintf(f->path, sizeof f->path, "%s", path);
    f->p = p;
    f->size = (size_t)st.st_size;
    return f;
}

/* The library's own source files (their basenames, comma-separated, from the
 * build): a local function whose STT_FILE symbol names one of them is library
 * code even when the program links gomap statically. */
#ifndef WATCH_LIBRARY_FILES
#define WATCH_LIBRARY_FILES ""
#endif

static bool library_file(const char *file) {
    static const char files[] = WATCH_LIBRARY_FILES;
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    size_t n = strlen(base);
    if (n == 0)
        return false;
    for (const char *p = files; (p = strstr(p, base)) != NULL; p += n)
        if ((p == files || p[-1] == ',') && (p[n] == '\0' || p[n] == ','))
            return true;
    return false;
}

static bool library_symbol(const char *name) {
    static const char *const prefixes[] = {"gomap",     "concmap_", "rwmap_",
                                           "shardmap_", "syncmap_", "cowmap_"};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0)
            return true;
    return false;
}

/* Names the function of `f` that contains file offset `off`; *library tells
 * whether it is gomap's own code.  Returns NULL when no symbol covers it. */
static const char *elf_function(const struct elf_file *f, uint64_t off, bool *library) {
    const Elf64_Ehdr *eh = (const void *)f->p;
    const Elf64_Phdr *ph = (const void *)(f->p + eh->e_phoff);
    uint64_t vaddr = 0;
    bool loaded = false;
    for (unsigned i = 0; i < eh->e_phnum && !loaded; i++)
        if (ph[i].p_type == PT_LOAD && off >= ph[i].p_offset &&
            off < ph[i].p_offset + ph[i].p_filesz) {
            vaddr = off - ph[i].p_offset + ph[i].p_vaddr;
            loaded = true;
        }
    if (!loaded)
        return NULL;
    const Elf64_Shdr *sh = (const void *)(f->p + eh->e_shoff);
    /* .symtab when the file has one (it also has the static functions), else
     * .dynsym. */
    for (unsigned want = SHT_SYMTAB; want; want = want == SHT_SYMTAB ? SHT_DYNSYM : 0) {
        for (unsigned i = 0; i < eh->e_shnum; i++) {
            if (sh[i].sh_type != want || sh[i].sh_link >= eh->e_shnum ||
                sh[i].sh_offset + sh[i].sh_size > f->size)
                continue;
            const Elf64_Shdr *strs = &sh[sh[i].sh_link];
            if (strs->sh_offset + strs->sh_size > f->size)
                continue;
            const char *str = (const char *)f->p + strs->sh_offset;
            const Elf64_Sym *sym = (const void *)(f->p + sh[i].sh_offset);
            size_t n = sh[i].sh_size / sizeof *sym;
            const char *file = ""; /* the STT_FILE before the local symbols that follow it */
            for (size_t j = 0; j < n; j++) {
                if (sym[j].st_name >= strs->sh_size)
                    continue;
                const char *name = str + sym[j].st_name;
                if (ELF64_ST_TYPE(sym[j].st_info) == STT_FILE) {
                    file = name;
                    continue;
                }
                if (ELF64_ST_TYPE(sym[j].st_info) != STT_FUNC || sym[j].st_size == 0 ||
                    vaddr < sym[j].st_value || vaddr >= sym[j].st_value + sym[j].st_size)
                    continue;
                *library = library_symbol(name) ||
                           (ELF64_ST_BIND(sym[j].st_info) == STB_LOCAL && library_file(file));
                return name;
            }
        }
    }
    return NULL;
}

/* The call site of a conflict: walking the detecting thread's stack outwards
 * from the probe, the first function that is not gomap's (not in libgomap.so,
 * not one of the library's symbols).  Writes "?" when the stack or symbols
 * are missing. */
static void call_site(pid_t pid, const struct watch_conflict *e, char *out, size_t outsz) {
    snprintf(out, outsz, "?");
    char fn[64], line[PATH_MAX + 256];
    snprintf(fn, sizeof fn, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(fn, "re");
    if (!f)
        return;
    struct {
        uint64_t start, end, off;
        char path[PATH_MAX];
    } maps[64];
    int nmaps = 0;
    while (nmaps < 64 && fgets(line, sizeof line, f)) {
        unsigned long long start, end, off;
        char perms[8];
        int pos = 0;
        if (sscanf(line, "%llx-%llx %7s %llx %*s %*s%n", &start, &end, perms, &off, &pos) != 4 ||
            perms[2] != 'x')
            continue;
        char *path = line + pos;
        while (*path == ' ')
            path++;
        path[strcspn(path, "\n")] = '\0';
        if (path[0] != '/')
            continue;
        maps[nmaps].start = start, maps[nmaps].end = end, maps[nmaps].off = off;
        snprintf(maps[nmaps].path, sizeof maps[nmaps].path, "%s", path);
        nmaps++;
    }
    fclose(f);
    bool in_library = false;
    for (unsigned i = 0; i < e->nframes && i < WATCH_STACK_DEPTH; i++) {
        /* A return address points after its call: look up the call itself. */
        uint64_t ip = e->stack[i] - (i > 0);
        int m = 0;
        while (m < nmaps && !(ip >= maps[m].start && ip < maps[m].end))
            m++;
        if (m == nmaps)
            return;
        const char *base = strrchr(maps[m].path, '/') + 1;
        bool library = strncmp(base, "libgomap", 8) == 0;
        const struct elf_file *ef = elf_open(maps[m].path);
        const char *name = ef ? elf_function(ef, ip - maps[m].start + maps[m].off, &library) : NULL;
        if (library) {
            in_library = true;
            continue;
        }
        if (!in_library)
            continue; /* frames before the library's (none in practice) */
        if (name)
            snprintf(out, outsz, "%s", name);
        else
            snprintf(out, outsz, "%s+0x%" PRIx64, base, ip - maps[m].start + maps[m].off);
        return;
    }
}

static void count_site(pid_t pid, unsigned kind, uint64_t map, const char *site) {
    for (int i = 0; i < w.nsites; i++) {
        struct site *s = &w.sites[i];
        if (s->pid == pid && s->kind == kind && s->map == map && strcmp(s->site, site) == 0) {
            s->n++;
            return;
        }
    }
    if (w.nsites == MAX_SITES) {
        w.sites_dropped++;
        return;
    }
    struct site *s = &w.sites[w.nsites++];
    *s = (struct site){.pid = pid, .kind = kind, .map = map, .n = 1};
    snprintf(s->site, sizeof s->site, "%s", site);
}

/* ---- attaching ------------------------------------------------------------ */

/* libbpf's USDT links share one manager per skeleton (its spec-id lists are
 * reallocated as links come and go) and it takes no lock: attaching (main
 * thread, --all) and detaching (one thread per gone target) hold this. */
static pthread_mutex_t links_lock = PTHREAD_MUTEX_INITIALIZER;

static int attach(pid_t pid) {
    if (w.ntargets == MAX_TARGETS) {
        logf_("too many targets (max %d)", MAX_TARGETS);
        return -1;
    }
    struct target *t = &w.targets[w.ntargets];
    memset(t, 0, sizeof *t);
    t->pid = pid;
    char fn[64];
    snprintf(fn, sizeof fn, "/proc/%d/comm", (int)pid);
    FILE *f = fopen(fn, "re");
    if (!f || !fgets(t->comm, sizeof t->comm, f)) {
        logf_("pid %d: no such process", (int)pid);
        if (f)
            fclose(f);
        return -1;
    }
    fclose(f);
    t->comm[strcspn(t->comm, "\n")] = '\0';

    static char paths[MAX_MODULES][PATH_MAX];
    int nmod = gomap_modules(pid, paths, MAX_MODULES);
    if (nmod <= 0) {
        logf_("pid %d (%s): no module with gomap probes", (int)pid, t->comm);
        return -1;
    }
    const struct {
        const char *probe;
        struct bpf_program *prog;
    } probes[] = {
        {"conflict", w.skel->progs.on_conflict},
        {"op", w.skel->progs.on_op},
        {"concmap_op", w.skel->progs.on_concmap_op},
        {"grow_start", w.skel->progs.on_grow_start},
        {"evacuate", w.skel->progs.on_evacuate},
        {"syncmap_miss", w.skel->progs.on_syncmap_miss},
        {"syncmap_promote", w.skel->progs.on_syncmap_promote},
        {"lock_wait", w.skel->progs.on_lock_wait},
        {"lock_hold", w.skel->progs.on_lock_hold},
    };
    for (int m = 0; m < nmod; m++) {
        int attached = 0;
        for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
            pthread_mutex_lock(&links_lock);
            struct bpf_link *l = bpf_program__attach_usdt(probes[i].prog, pid, paths[m], "gomap",
                                                          probes[i].probe, NULL);
            int err = errno;
            pthread_mutex_unlock(&links_lock);
            if (!l) {
                logf_("pid %d: %s: probe gomap:%s not attached (%s)", (int)pid, paths[m],
                      probes[i].probe, strerror(err));
                continue;
            }
            t->links[t->nlinks++] = l;
            attached++;
        }
        logf_("pid %d (%s): %s: %d probes attached", (int)pid, t->comm, paths[m], attached);
    }
    if (t->nlinks == 0)
        return -1;
    t->up = true;
    pthread_mutex_lock(&w.lock);
    w.ntargets++;
    pthread_mutex_unlock(&w.lock);
    return 0;
}

/* One link at a time, so that an attach waits for one unregister at most. */
static void detach(struct target *t) {
    for (int i = 0; i < t->nlinks; i++) {
        pthread_mutex_lock(&links_lock);
        bpf_link__destroy(t->links[i]);
        pthread_mutex_unlock(&links_lock);
    }
    t->nlinks = 0;
}

/* A process is gone when kill(pid, 0) says so, or when it is a zombie
 * waiting for its parent (its probes can no longer fire either). */
static bool process_alive(pid_t pid) {
    if (kill(pid, 0) != 0 && errno == ESRCH)
        return false;
    char fn[64], buf[512];
    snprintf(fn, sizeof fn, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(fn, "re");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *rp = strrchr(buf, ')');
    return !(rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X'));
}

static void *detach_in_background(void *arg) {
    detach(arg);
    return NULL;
}

/* Marks and logs every target that has exited, then detaches from it on a
 * thread of its own: the kernel can take seconds to unregister uprobes on a
 * loaded machine, and another target's exit must be noticed, reported and
 * served meanwhile.  Only that thread touches a gone target's links. */
static void check_targets(void) {
    for (int i = 0; i < w.ntargets; i++) {
        struct target *t = &w.targets[i];
        if (!t->up || process_alive(t->pid))
            continue;
        pthread_mutex_lock(&w.lock);
        t->up = false;
        pthread_mutex_unlock(&w.lock);
        logf_("pid %d (%s) exited; keeping its last values", (int)t->pid, t->comm);
        t->detaching = pthread_create(&t->detacher, NULL, detach_in_background, t) == 0;
        if (!t->detaching)
            detach(t);
    }
}

static struct target *find_target(pid_t pid) {
    for (int i = 0; i < w.ntargets; i++)
        if (w.targets[i].pid == pid)
            return &w.targets[i];
    return NULL;
}

/* --all --library PATH: only processes that map this very file. */
static const char *only_library;

/* Processes --all could not attach to, not to be retried at every scan. */
static pid_t refused[256];
static unsigned nrefused;

/* Whether process pid maps a file named libgomap.so* (or only_library). */
static bool maps_libgomap(pid_t pid) {
    char fn[64], line[PATH_MAX + 256];
    snprintf(fn, sizeof fn, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(fn, "re");
    if (!f)
        return false;
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        const char *path = strchr(line, '/');
        const char *base = strrchr(line, '/');
        if (only_library)
            found = path && strcmp(path, only_library) == 0;
        else
            found = base && strncmp(base + 1, "libgomap.so", 11) == 0;
    }
    fclose(f);
    return found;
}

/* --all: attaches to every process that maps libgomap.so and was not seen
 * before (a pid reused after its first process exited stays unwatched). */
static void scan_processes(void) {
    DIR *d = opendir("/proc");
    if (!d)
        return;
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        if (*end || pid <= 0 || pid == (long)getpid())
            continue;
        bool seen = find_target((pid_t)pid) != NULL;
        for (unsigned i = 0; i < nrefused && i < sizeof refused / sizeof refused[0] && !seen; i++)
            seen = refused[i] == (pid_t)pid;
        if (!seen && maps_libgomap((pid_t)pid) && attach((pid_t)pid) != 0)
            refused[nrefused++ % (sizeof refused / sizeof refused[0])] = (pid_t)pid;
    }
    closedir(d);
}

static int on_conflict_event(void *ctx, void *data, size_t len) {
    (void)ctx;
    const struct watch_conflict *e = data;
    if (len < sizeof *e)
        return 0;
    static const char *const what[] = {"concurrent map writes", "concurrent map read and map write",
                                       "concurrent map iteration and map write", "unknown"};
    char site[96];
    call_site((pid_t)e->pid, e, site, sizeof site);
    pthread_mutex_lock(&w.lock);
    struct target *t = find_target((pid_t)e->pid);
    if (t) {
        t->conflicts_logged++;
        t->last_conflict = (double)time(NULL);
    }
    count_site((pid_t)e->pid, e->kind < 4 ? e->kind : 3, (uint64_t)e->map, site);
    pthread_mutex_unlock(&w.lock);
    logf_("conflict: pid %u (%s): %s: map 0x%" PRIx64 " detector tid %" PRId64
          " writer tid %" PRId64 " call site %s",
          e->pid, t ? t->comm : "?", what[e->kind < 4 ? e->kind : 3], (uint64_t)e->map,
          (int64_t)e->detector_tid, (int64_t)e->writer_tid, site);
    return 0;
}

/* ---- the exposition --------------------------------------------------------- */

struct counter {
    struct watch_key k;
    uint64_t v;
};

struct snapshot {
    struct counter *c;
    size_t n;
};

static int key_cmp(const void *a, const void *b) {
    const struct watch_key *x = a, *y = b;
    if (x->pid != y->pid)
        return x->pid < y->pid ? -1 : 1;
    if (x->metric != y->metric)
        return x->metric < y->metric ? -1 : 1;
    return x->label < y->label ? -1 : x->label > y->label;
}

/* Reads the whole counters map (sorted by key, for lookups). */
static struct snapshot take_snapshot(void) {
    struct snapshot s = {0};
    int fd = bpf_map__fd(w.skel->maps.counters);
    size_t cap = 0;
    struct watch_key k, next;
    void *prev = NULL;
    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
        uint64_t v;
        if (bpf_map_lookup_elem(fd, &next, &v) == 0) {
            if (s.n == cap) {
                cap = cap ? 2 * cap : 256;
                struct counter *c = realloc(s.c, cap * sizeof *c);
                if (!c)
                    break;
                s.c = c;
            }
            s.c[s.n].k = next;
            s.c[s.n++].v = v;
        }
        k = next;
        prev = &k;
    }
    if (s.n) /* s.c is NULL before the first event: qsort wants a real array */
        qsort(s.c, s.n, sizeof *s.c, key_cmp);
    return s;
}

static uint64_t get(const struct snapshot *s, pid_t pid, unsigned metric, unsigned label) {
    if (s->n == 0)
        return 0;
    struct watch_key k = {.pid = (__u32)pid, .metric = (__u16)metric, .label = (__u16)label};
    const struct counter *c = bsearch(&k, s->c, s->n, sizeof *s->c, key_cmp);
    return c ? c->v : 0;
}

static void family(FILE *out, const char *name, const char *type, const char *help) {
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Writes one histogram series from log2 buckets (bucket b holds values in
 * [2^b, 2^(b+1)) ns); `le` bounds are in seconds, as Prometheus prefers. */
static void histogram(FILE *out, const char *name, const char *labels, const struct snapshot *s,
                      pid_t pid, unsigned bucket_metric, unsigned sum_metric, unsigned series) {
    uint64_t counts[WATCH_BUCKETS], total = 0;
    for (unsigned b = 0; b < WATCH_BUCKETS; b++)
        total += counts[b] = get(s, pid, bucket_metric, series * WATCH_BUCKETS + b);
    if (total == 0)
        return;
    uint64_t cum = 0;
    for (unsigned b = 0; b < 36; b++) {
        cum += counts[b];
        if (b >= 6) /* the first bound is 128 ns */
            fprintf(out, "%s_bucket{%s,le=\"%.9g\"} %" PRIu64 "\n", name, labels,
                    (double)(1ULL << (b + 1)) / 1e9, cum);
    }
    fprintf(out, "%s_bucket{%s,le=\"+Inf\"} %" PRIu64 "\n", name, labels, total);
    fprintf(out, "%s_sum{%s} %.9g\n", name, labels, (double)get(s, pid, sum_metric, series) / 1e9);
    fprintf(out, "%s_count{%s} %" PRIu64 "\n", name, labels, total);
}

/* Writes every metric family, for every target ever watched. */
static void write_metrics(FILE *out) {
    struct snapshot s = take_snapshot();
    pthread_mutex_lock(&w.lock);
    int n = w.ntargets;
    struct target *ts = w.targets;
    char l[128];
#define LABELS(t) (snprintf(l, sizeof l, "pid=\"%d\",comm=\"%s\"", (int)(t)->pid, (t)->comm), l)

    family(out, "gomap_watch_target_up", "gauge",
           "1 while the watched process runs, 0 once it has exited (its values are kept).");
    for (int i = 0; i < n; i++)
        fprintf(out, "gomap_watch_target_up{%s} %d\n", LABELS(&ts[i]), ts[i].up ? 1 : 0);

    family(out, "gomap_conflicts_total", "counter",
           "Concurrent map misuse detected, by kind (writes, read_write, iter_write).");
    for (int i = 0; i < n; i++)
        for (unsigned k = 0; k < 3; k++)
            fprintf(out, "gomap_conflicts_total{%s,kind=\"%s\"} %" PRIu64 "\n", LABELS(&ts[i]),
                    kind_names[k], get(&s, ts[i].pid, WM_CONFLICT, k));

    family(out, "gomap_last_conflict_timestamp_seconds", "gauge",
           "When gomap-watch last saw a conflict in the process (0: never).");
    for (int i = 0; i < n; i++)
        fprintf(out, "gomap_last_conflict_timestamp_seconds{%s} %.0f\n", LABELS(&ts[i]),
                ts[i].last_conflict);

    family(out, "gomap_conflict_sites_total", "counter",
           "Conflicts by kind, map and call site (the first function outside gomap on the "
           "detecting thread's stack).");
    for (int i = 0; i < w.nsites; i++) {
        const struct site *st = &w.sites[i];
        const struct target *t = find_target(st->pid);
        if (t)
            fprintf(out,
                    "gomap_conflict_sites_total{%s,kind=\"%s\",map=\"0x%" PRIx64
                    "\",site=\"%s\"} %" PRIu64 "\n",
                    LABELS(t), kind_names[st->kind], st->map, st->site, st->n);
    }

    family(out, "gomap_ops_total", "counter", "Core map (gomap) operations, by kind.");
    for (int i = 0; i < n; i++)
        for (unsigned k = 0; k < 4; k++)
            fprintf(out, "gomap_ops_total{%s,op=\"%s\"} %" PRIu64 "\n", LABELS(&ts[i]), op_names[k],
                    get(&s, ts[i].pid, WM_OP, k));

    family(out, "gomap_concmap_ops_total", "counter",
           "Thread-safe map operations, by variant and kind.");
    for (int i = 0; i < n; i++)
        for (unsigned v = 0; v < WATCH_VARIANTS; v++)
            for (unsigned k = 0; k < 4; k++) {
                uint64_t c = get(&s, ts[i].pid, WM_CONCMAP_OP, v * 4 + k);
                if (variant_shown(v, c))
                    fprintf(out,
                            "gomap_concmap_ops_total{%s,variant=\"%s\",op=\"%s\"} %" PRIu64 "\n",
                            LABELS(&ts[i]), variant_name(v), concmap_op_names[k], c);
            }

    family(out, "gomap_grows_total", "counter",
           "Core map growths started: double (load factor) or same_size (overflow buckets).");
    for (int i = 0; i < n; i++)
        for (unsigned k = 0; k < 2; k++)
            fprintf(out, "gomap_grows_total{%s,kind=\"%s\"} %" PRIu64 "\n", LABELS(&ts[i]),
                    k ? "same_size" : "double", get(&s, ts[i].pid, WM_GROW, k));

    family(out, "gomap_evacuations_total", "counter",
           "Old buckets evacuated during incremental growth.");
    for (int i = 0; i < n; i++)
        fprintf(out, "gomap_evacuations_total{%s} %" PRIu64 "\n", LABELS(&ts[i]),
                get(&s, ts[i].pid, WM_EVACUATE, 0));

    family(out, "gomap_evacuation_seconds", "histogram", "Time to evacuate one old bucket.");
    for (int i = 0; i < n; i++)
        histogram(out, "gomap_evacuation_seconds", LABELS(&ts[i]), &s, ts[i].pid,
                  WM_EVACUATE_NS_BUCKET, WM_EVACUATE_NS_SUM, 0);

    family(out, "gomap_syncmap_misses_total", "counter",
           "syncmap loads that missed the read-only map and took the mutex.");
    for (int i = 0; i < n; i++)
        fprintf(out, "gomap_syncmap_misses_total{%s} %" PRIu64 "\n", LABELS(&ts[i]),
                get(&s, ts[i].pid, WM_SYNCMAP_MISS, 0));

    family(out, "gomap_syncmap_promotions_total", "counter",
           "syncmap promotions of the dirty map to the read-only map.");
    for (int i = 0; i < n; i++)
        fprintf(out, "gomap_syncmap_promotions_total{%s} %" PRIu64 "\n", LABELS(&ts[i]),
                get(&s, ts[i].pid, WM_SYNCMAP_PROMOTE, 0));

    static const struct {
        const char *name, *help;
        unsigned bucket, sum;
    } locks[] = {
        {"gomap_lock_wait_seconds", "Time spent waiting for a thread-safe map's lock.",
         WM_LOCK_WAIT_NS_BUCKET, WM_LOCK_WAIT_NS_SUM},
        {"gomap_lock_hold_seconds", "Time a thread-safe map's lock was held.",
         WM_LOCK_HOLD_NS_BUCKET, WM_LOCK_HOLD_NS_SUM},
    };
    for (size_t h = 0; h < 2; h++) {
        family(out, locks[h].name, "histogram", locks[h].help);
        for (int i = 0; i < n; i++)
            for (unsigned v = 0; v < WATCH_VARIANTS; v++)
                for (unsigned x = 0; x < 2; x++) {
                    if (v >= NLIBRARY_VARIANTS && v != WATCH_VARIANT_OTHER)
                        continue; /* unused series */
                    char hl[192];
                    snprintf(hl, sizeof hl, "%s,variant=\"%s\",mode=\"%s\"", LABELS(&ts[i]),
                             variant_name(v), x ? "exclusive" : "shared");
                    histogram(out, locks[h].name, hl, &s, ts[i].pid, locks[h].bucket, locks[h].sum,
                              v * 2 + x);
                }
    }
#undef LABELS

    uint64_t sites_dropped = w.sites_dropped;
    pthread_mutex_unlock(&w.lock);
    uint64_t dropped[2] = {0, 0};
    for (__u32 i = 0; i < 2; i++)
        bpf_map_lookup_elem(bpf_map__fd(w.skel->maps.dropped), &i, &dropped[i]);
    family(out, "gomap_watch_dropped_total", "counter",
           "Data gomap-watch lost: conflict events (ring buffer full), counter updates (map full), "
           "call sites (table full). Non-zero: the counts are lower bounds.");
    fprintf(out, "gomap_watch_dropped_total{what=\"events\"} %" PRIu64 "\n", dropped[0]);
    fprintf(out, "gomap_watch_dropped_total{what=\"counters\"} %" PRIu64 "\n", dropped[1]);
    fprintf(out, "gomap_watch_dropped_total{what=\"sites\"} %" PRIu64 "\n", sites_dropped);
    free(s.c);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls) {
    (void)cls, (void)version, (void)upload_data, (void)upload_data_size, (void)con_cls;
    struct MHD_Response *r;
    unsigned status = MHD_HTTP_OK;
    if (strcmp(method, "GET") != 0) {
        /* Not const: MHD takes a void * (a persistent buffer it only reads). */
        static char msg[] = "only GET\n";
        r = MHD_create_response_from_buffer(sizeof msg - 1, msg, MHD_RESPMEM_PERSISTENT);
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
    } else if (strcmp(url, "/metrics") == 0) {
        char *buf = NULL;
        size_t len = 0;
        FILE *out = open_memstream(&buf, &len);
        if (!out)
            return MHD_NO;
        write_metrics(out);
        fclose(out);
        r = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
        MHD_add_response_header(r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    } else if (strcmp(url, "/healthz") == 0) {
        /* Liveness: the HTTP thread answers and the BPF programs are loaded
         * (they stay loaded until exit).  Targets coming and going is not a
         * fault of the daemon: gomap_watch_target_up says that. */
        char *buf = NULL;
        size_t len = 0;
        FILE *out = open_memstream(&buf, &len);
        if (!out)
            return MHD_NO;
        int up = 0;
        pthread_mutex_lock(&w.lock);
        for (int i = 0; i < w.ntargets; i++)
            up += w.targets[i].up;
        int n = w.ntargets;
        pthread_mutex_unlock(&w.lock);
        fprintf(out, "ok: %d target(s) watched, %d running\n", n, up);
        fclose(out);
        r = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
        MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
    } else {
        static char msg[] = "gomap-watch: metrics at /metrics, health at /healthz\n";
        r = MHD_create_response_from_buffer(sizeof msg - 1, msg, MHD_RESPMEM_PERSISTENT);
        status = strcmp(url, "/") == 0 ? MHD_HTTP_OK : MHD_HTTP_NOT_FOUND;
    }
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* ---- main ------------------------------------------------------------------- */

static void on_signal(int sig) {
    (void)sig;
    w.stop = 1;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: gomap-watch [--port N] [--ready-file PATH] [--verbose] PID...\n"
            "       gomap-watch [--port N] [--ready-file PATH] [--verbose] --all [--library LIB]\n"
            "Serves Prometheus metrics of the gomap maps in each PID (--all: in every\n"
            "process that maps libgomap.so, or the file LIB, checked every 2 s) on\n"
            "http://127.0.0.1:N/metrics (default port 9464); /healthz answers \"ok\".\n");
}

int main(int argc, char **argv) {
    static const struct option opts[] = {{"port", required_argument, NULL, 'p'},
                                         {"ready-file", required_argument, NULL, 'r'},
                                         {"verbose", no_argument, NULL, 'v'},
                                         {"all", no_argument, NULL, 'a'},
                                         {"library", required_argument, NULL, 'l'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    unsigned port = 9464;
    const char *ready = NULL;
    bool all = false;
    for (int c; (c = getopt_long(argc, argv, "p:r:val:h", opts, NULL)) != -1;) {
        switch (c) {
        case 'p':
            port = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'r':
            ready = optarg;
            break;
        case 'v':
            w.verbose = true;
            break;
        case 'a':
            all = true;
            break;
        case 'l': {
            static char real[PATH_MAX];
            if (!realpath(optarg, real)) {
                fprintf(stderr, "gomap-watch: %s: %s\n", optarg, strerror(errno));
                return 2;
            }
            only_library = real;
            break;
        }
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if ((optind == argc) == !all || port == 0 || port > 65535) {
        usage(stderr);
        return 2;
    }
    libbpf_set_print(libbpf_print);
    /* Kernels before 5.11 charge BPF maps to RLIMIT_MEMLOCK; later ones to
     * the memory cgroup.  Raising it may fail (no privilege): harmless then. */
    struct rlimit unlimited = {RLIM_INFINITY, RLIM_INFINITY};
    (void)setrlimit(RLIMIT_MEMLOCK, &unlimited);

    w.skel = watch_bpf_load();
    if (!w.skel) {
        fprintf(stderr,
                "gomap-watch: cannot load the BPF program: %s (needs root or "
                "CAP_BPF+CAP_PERFMON)\n",
                strerror(errno));
        return 1;
    }
    for (int i = optind; i < argc; i++) {
        char *end;
        long pid = strtol(argv[i], &end, 10);
        if (*end || pid <= 0) {
            fprintf(stderr, "gomap-watch: not a pid: %s\n", argv[i]);
            return 2;
        }
        (void)attach((pid_t)pid);
    }
    if (all)
        scan_processes();
    if (w.ntargets == 0 && !all) {
        fprintf(stderr, "gomap-watch: no target could be watched\n");
        gomap_watch_bpf__destroy(w.skel);
        return 1;
    }
    struct ring_buffer *rb =
        ring_buffer__new(bpf_map__fd(w.skel->maps.events), on_conflict_event, NULL, NULL);
    if (!rb) {
        fprintf(stderr, "gomap-watch: ring buffer: %s\n", strerror(errno));
        return 1;
    }
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct MHD_Daemon *httpd =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, (uint16_t)port, NULL,
                         NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, &addr, MHD_OPTION_END);
    if (!httpd) {
        fprintf(stderr, "gomap-watch: cannot listen on 127.0.0.1:%u\n", port);
        return 1;
    }
    logf_("serving http://127.0.0.1:%u/metrics for %d target(s)%s", port, w.ntargets,
          all ? ", and every new process that maps libgomap.so" : "");
    if (ready) {
        FILE *f = fopen(ready, "we");
        if (f) {
            fprintf(f, "%d\n", (int)getpid());
            fclose(f);
        }
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    struct timespec last_scan;
    clock_gettime(CLOCK_MONOTONIC, &last_scan);
    while (!w.stop) {
        int err = ring_buffer__poll(rb, 200);
        if (err < 0 && err != -EINTR) {
            fprintf(stderr, "gomap-watch: ring buffer poll: %s\n", strerror(-err));
            break;
        }
        check_targets();
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (all && now.tv_sec - last_scan.tv_sec >= 2) {
            scan_processes();
            last_scan = now;
        }
    }
    MHD_stop_daemon(httpd);
    ring_buffer__free(rb);
    for (int i = 0; i < w.ntargets; i++) {
        struct target *t = &w.targets[i];
        if (t->detaching)
            pthread_join(t->detacher, NULL);
        else
            detach(t);
    }
    gomap_watch_bpf__destroy(w.skel);
    logf_("stopped");
    return 0;
}
