// core_cost_absl.cc — core_cost.c's operations on abseil's flat_hash_map
// (uint64_t or std::string keys, uint64_t values), the same keys, the same
// counted part, for bench/cost/core_cost.sh.
//
//   peer-absl-cost u64|str insert|hit|miss|delete|iterate|iterkeys N
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <absl/strings/string_view.h>
#include <vector>

#include <absl/container/flat_hash_map.h>
#include <valgrind/callgrind.h>

#include "bench.h"

namespace {

// What iterkeys adds of a key: the key itself, or a string's length and
// first byte (core_cost.c adds the same).
uint64_t key_sum(uint64_t k) {
    return k;
}
uint64_t key_sum(const std::string &k) {
    return k.size() + (unsigned char)k[0];
}

// Out of line: in run's body this loop changed how GCC compiled the
// iterate loop beside it (17.7 to 29.5 instructions per entry).
template <class M> __attribute__((noinline)) uint64_t iterate_keys(const M &m) {
    uint64_t sum = 0;
    for (const auto &kv : m)
        sum += kv.second + key_sum(kv.first);
    return sum;
}

template <class K, class L>
uint64_t run(const char *op, const std::vector<K> &keys, const std::vector<L> &look,
             const std::vector<uint64_t> &vals, uint64_t n) {
    absl::flat_hash_map<K, uint64_t> m;
    bool fill = std::strcmp(op, "insert") != 0;
    for (uint64_t i = 0; fill && i < n; i++)
        m[keys[i]] = vals[i];
    uint64_t sum = 0;
    CALLGRIND_TOGGLE_COLLECT;
    if (!std::strcmp(op, "insert")) {
        for (uint64_t i = 0; i < n; i++)
            m[keys[i]] = vals[i];
        sum = m.size();
    } else if (!std::strcmp(op, "hit") || !std::strcmp(op, "miss")) {
        uint64_t from = op[0] == 'h' ? 0 : n;
        for (uint64_t i = from; i < from + n; i++) {
            auto it = m.find(look[i]);
            sum += it != m.end() ? it->second : 0;
        }
    } else if (!std::strcmp(op, "delete")) {
        for (uint64_t i = 0; i < n; i++)
            sum += m.erase(look[i]);
    } else if (!std::strcmp(op, "iterate")) {
        for (const auto &kv : m)
            sum += kv.second;
    } else if (!std::strcmp(op, "iterkeys")) {
        sum = iterate_keys(m);
    } else {
        std::fprintf(stderr, "unknown operation %s\n", op);
        std::exit(2);
    }
    CALLGRIND_TOGGLE_COLLECT;
    return sum;
}

} // namespace

int main(int argc, char **argv) {
    if (argc != 4 || (std::strcmp(argv[1], "u64") != 0 && std::strcmp(argv[1], "str") != 0)) {
        std::fprintf(stderr, "usage: %s u64|str insert|hit|miss|delete|iterate|iterkeys N\n",
                     argv[0]);
        return 2;
    }
    uint64_t n = std::strtoull(argv[3], nullptr, 10);
    std::vector<uint64_t> ku(2 * n);
    for (uint64_t i = 0; i < 2 * n; i++)
        ku[i] = bench_key_u64(1, i);
    uint64_t sum;
    if (!std::strcmp(argv[1], "str")) {
        // Lookups take an absl::string_view (abseil's heterogeneous find), so they
        // build no std::string, as gomap_get takes a gomap_str.
        std::vector<char> buf(2 * n * BENCH_STR_KEY_LEN);
        std::vector<std::string> ks(2 * n);
        std::vector<absl::string_view> kv(2 * n);
        for (uint64_t i = 0; i < 2 * n; i++) {
            bench_key_str(1, i, &buf[i * BENCH_STR_KEY_LEN]);
            ks[i].assign(&buf[i * BENCH_STR_KEY_LEN], BENCH_STR_KEY_LEN);
            kv[i] = absl::string_view(&buf[i * BENCH_STR_KEY_LEN], BENCH_STR_KEY_LEN);
        }
        sum = run(argv[2], ks, kv, ku, n);
    } else {
        sum = run(argv[2], ku, ku, ku, n);
    }
    std::printf("%s %s %llu: %llu\n", argv[1], argv[2], (unsigned long long)n,
                (unsigned long long)sum);
    return 0;
}
