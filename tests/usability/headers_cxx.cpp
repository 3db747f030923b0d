// headers_cxx.cpp — every public header compiled as C++ with -Wall -Wextra
// and -Wzero-as-null-pointer-constant as errors (tests/usability.cmake), and
// the typed wrappers called from C++.
#include <gomap/concmap.h>
#include <gomap/cowmap.h>
#include <gomap/gomap.h>
#include <gomap/metrics.h>
#include <gomap/rwmap.h>
#include <gomap/shardmap.h>
#include <gomap/syncmap.h>

#include <cstdio>

GOMAP_DEFINE_TYPED(cxx_u64d, uint64_t, double, GOMAP_KEY_U64);

int main() {
    gomap_stru64 *words = gomap_stru64_new(0);
    cxx_u64d *d = cxx_u64d_new(0);
    gomap_u64u64 *u = gomap_u64u64_new(0);
    concmap_u32u32 *c = concmap_u32u32_new("shard", 0);
    if (words == nullptr || d == nullptr || u == nullptr || c == nullptr)
        return 1;
    uint64_t *n = gomap_stru64_upsert(words, gomap_cstr("hello"), nullptr);
    if (n == nullptr)
        return 1;
    ++*n;
    int bad = 0;
    uint64_t v = 0;
    bad += !gomap_stru64_get(words, gomap_cstr("hello"), &v) || v != 1;
    bad += cxx_u64d_set(d, 1, 0.5) != 0;
    bad += gomap_u64u64_set(u, 2, 3) != 0;
    bad += concmap_u32u32_store(c, 4, 5) != 0;
    uint32_t w = 0;
    bad += !concmap_u32u32_load(c, 4, &w) || w != 5;
    gomap_stru64_free(words);
    cxx_u64d_free(d);
    gomap_u64u64_free(u);
    concmap_u32u32_free(c);
    std::printf("%s\n", bad ? "FAILED" : "ok");
    return bad;
}
