/*
 * replay.c — the main() that turns a fuzz target into a plain regression
 * test (the idea of ConcurrencyKit's fuzz harness, written anew): it feeds the
 * target every file of the committed seed corpus, then a fixed number of
 * pseudo-random inputs from a fixed seed, so the normal, ASan and TSan suites
 * run the fuzz targets' checks without libFuzzer.
 *
 *   replay                    the built-in corpus dir + 100 random inputs
 *   replay FILE|DIR...        just those inputs (e.g. a crash file)
 *   replay --random N [SEED]  N random inputs only
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 1;
    }
    static uint8_t buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    /* a copy of exactly n bytes, so ASan sees any read past the input */
    uint8_t *copy = malloc(n ? n : 1);
    if (!copy)
        return 1;
    memcpy(copy, buf, n);
    LLVMFuzzerTestOneInput(copy, n);
    free(copy);
    return 0;
}

static int replay_path(const char *path, unsigned *count) {
    struct stat st;
    if (stat(path, &st) != 0) {
        perror(path);
        return 1;
    }
    if (!S_ISDIR(st.st_mode)) {
        ++*count;
        return replay_file(path);
    }
    DIR *d = opendir(path);
    if (!d) {
        perror(path);
        return 1;
    }
    int bad = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char full[4096];
        snprintf(full, sizeof full, "%s/%s", path, e->d_name);
        bad |= replay_path(full, count);
    }
    closedir(d);
    return bad;
}

static uint64_t replay_rng(uint64_t *s) {
    *s += 0x9e3779b97f4a7c15ULL;
    uint64_t z = *s;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void replay_random(unsigned n, uint64_t seed) {
    uint64_t s = seed;
    for (unsigned i = 0; i < n; i++) {
        size_t len = (size_t)(replay_rng(&s) % 800);
        uint8_t *buf = malloc(len ? len : 1);
        if (!buf)
            return;
        for (size_t j = 0; j < len; j++)
            buf[j] = (uint8_t)replay_rng(&s);
        LLVMFuzzerTestOneInput(buf, len);
        free(buf);
    }
}

int main(int argc, char **argv) {
    unsigned count = 0;
    int bad = 0;
    if (argc > 1 && strcmp(argv[1], "--random") == 0) {
        unsigned n = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 300;
        uint64_t seed = argc > 3 ? strtoull(argv[3], NULL, 0) : 1;
        replay_random(n, seed);
        printf("replayed %u random inputs\n", n);
        return 0;
    }
    if (argc > 1) {
        for (int i = 1; i < argc; i++)
            bad |= replay_path(argv[i], &count);
        printf("replayed %u inputs\n", count);
        return bad;
    }
#ifdef GOMAP_FUZZ_CORPUS
    bad |= replay_path(GOMAP_FUZZ_CORPUS, &count);
#endif
    replay_random(100, 1);
    printf("replayed %u corpus inputs and 100 random inputs: all checks held\n", count);
    return bad;
}
