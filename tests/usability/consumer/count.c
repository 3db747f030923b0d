/* A consumer of the installed library: counts words with a typed map and
 * sums them with a thread-safe one.  Built by tests/usability/consumer.sh through CMake
 * (find_package) and through pkg-config. */
#include <gomap/concmap.h>
#include <gomap/gomap.h>
#include <stdio.h>

static concmap_action add(uint64_t *v, bool loaded, void *ctx) {
    (void)loaded;
    *v += *(const uint64_t *)ctx;
    return CONCMAP_STORE;
}

int main(void) {
    const char *words[] = {"go", "map", "go", "c", "go"};
    gomap_stru64 *counts = gomap_stru64_new(0);
    concmap_stru64 *total = concmap_stru64_new("shard", 0);
    if (!counts || !total)
        return 1;
    for (int i = 0; i < 5; i++) {
        uint64_t *n = gomap_stru64_upsert(counts, gomap_cstr(words[i]), NULL);
        uint64_t one = 1;
        if (!n || concmap_stru64_compute(total, gomap_cstr("all"), add, &one) != 0)
            return 1;
        ++*n;
    }
    uint64_t go = 0, all = 0;
    gomap_stru64_get(counts, gomap_cstr("go"), &go);
    concmap_stru64_load(total, gomap_cstr("all"), &all);
    printf("go %llu, all %llu\n", (unsigned long long)go, (unsigned long long)all);
    gomap_stru64_free(counts);
    concmap_stru64_free(total);
    return go == 3 && all == 5 ? 0 : 1;
}
