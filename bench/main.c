/*
 * main.c — gomap-bench's subcommand dispatch.
 *
 * The same file builds gomap-bench-nodetect (linked against the library with
 * detection compiled out), which only needs `core` and `keys`: the concurrent
 * subcommands exist when bench/mix.cmake defines BENCH_HAVE_MIX.
 */
#include "bench.h"

#include <string.h>

static void usage(FILE *f) {
    fprintf(f, "usage: gomap-bench [COMMAND] [OPTIONS]\n"
               "commands:\n"
               "  core     single-thread core operations against Go's map and abseil\n"
               "           (gomap-bench core --help for its options)\n"
#ifdef BENCH_HAVE_MIX
               "  mix      concurrent mixes over every thread-safe map and its peers\n"
               "  advise   recommend a map for a workload profile\n"
               "  (none)   the curated default run: its matrix of mixes, then the other cells\n"
               "           its targets name (--cells all|matrix|others)\n"
#else
               "  (none)   the core benchmark with its default sizes\n"
#endif
               "  keys     print the first workload keys of a seed (for tests)\n");
}

int main(int argc, char **argv) {
    if (argc >= 2 && argv[1][0] != '-') {
        const char *cmd = argv[1];
        if (strcmp(cmd, "core") == 0)
            return bench_core_main(argc - 1, argv + 1);
        if (strcmp(cmd, "keys") == 0)
            return bench_keys_main(argc - 1, argv + 1);
#ifdef BENCH_HAVE_MIX
        if (strcmp(cmd, "mix") == 0)
            return bench_mix_main(argc - 1, argv + 1);
        if (strcmp(cmd, "advise") == 0)
            return bench_advise_main(argc - 1, argv + 1);
#endif
        if (strcmp(cmd, "help") == 0) {
            usage(stdout);
            return 0;
        }
        fprintf(stderr, "gomap-bench: unknown command '%s'\n", cmd);
        usage(stderr);
        return 2;
    }
    if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        usage(stdout);
        return 0;
    }
    /* No command: the default run, with any options given. */
#ifdef BENCH_HAVE_MIX
    return bench_default_main(argc, argv);
#else
    return bench_core_main(argc, argv);
#endif
}
