// peer-absl-core: gomap-bench's core workload (bench/README.md) on abseil's
// flat_hash_map, printing the same JSON lines as `gomap-bench core --peer`.
//
//   peer-absl-core core --peer --key u64,str,u64v64 --keys N[,N] --reps R --seed S
//   peer-absl-core keys --seed S --count C
//
// Keys: uint64_t (values uint64_t, or 64 bytes for u64v64), and std::string
// for the 16-byte strings (longer than libstdc++'s 15-byte small-string
// buffer, so the map owns a heap copy of each key, as gomap does).  Memory: a replaced global
// operator new counts what the map (and its strings) hold, in malloc_usable_size bytes as
// bench_counter does, during the memory pass only.
#include <malloc.h>

#include <algorithm>
#include <array>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include <absl/container/flat_hash_map.h>

#include "bench.h"

namespace {

// Counting is switched on for the memory pass only, so the timed runs pay
// nothing; the peer is single-threaded, so plain counters suffice.
bool counting;
int64_t live_bytes;
uint64_t allocs;

void *counted_new(std::size_t n) {
    void *p = std::malloc(n ? n : 1);
    if (!p)
        throw std::bad_alloc();
    if (counting) {
        live_bytes += (int64_t)malloc_usable_size(p);
        allocs++;
    }
    return p;
}

void counted_delete(void *p) noexcept {
    if (p && counting)
        live_bytes -= (int64_t)malloc_usable_size(p);
    std::free(p);
}

} // namespace

void *operator new(std::size_t n) {
    return counted_new(n);
}
void *operator new[](std::size_t n) {
    return counted_new(n);
}
void operator delete(void *p) noexcept {
    counted_delete(p);
}
void operator delete[](void *p) noexcept {
    counted_delete(p);
}
void operator delete(void *p, std::size_t) noexcept {
    counted_delete(p);
}
void operator delete[](void *p, std::size_t) noexcept {
    counted_delete(p);
}

namespace {

enum { OP_INSERT, OP_GET_HIT, OP_GET_MISS, OP_DELETE, OP_ITERATE, NOPS };
const char *const op_names[NOPS] = {"insert", "get_hit", "get_miss", "delete", "iterate"};

// core.c's rounds_for: every sample covers >= 2^18 operations.
uint64_t rounds_for(uint64_t n) {
    uint64_t r = (uint64_t(1) << 18) / n;
    return r ? r : 1;
}

struct Rep {
    double ns[NOPS];
    uint64_t sum[NOPS];
};

// The values: a uint64_t (the u64 key), or for u64v64 64 bytes, the words
// k^0 .. k^7, built as they are stored, as every contestant does; checksums
// read the first word.
using V64 = std::array<uint64_t, 8>;

template <class V> inline V make_value(uint64_t k);
template <> inline uint64_t make_value<uint64_t>(uint64_t k) {
    return k;
}
template <> inline V64 make_value<V64>(uint64_t k) {
    V64 v;
    for (uint64_t j = 0; j < v.size(); j++)
        v[j] = k ^ j;
    return v;
}
inline uint64_t first_word(uint64_t v) {
    return v;
}
inline uint64_t first_word(const V64 &v) {
    return v[0];
}

// One repetition of every op; K is uint64_t or std::string.  keys[i] is key
// i, vals[i] its value (bench_key_u64(seed, i)).
template <class K, class V>
Rep run_rep(const std::vector<K> &keys, const std::vector<uint64_t> &vals, uint64_t n,
            uint64_t rounds) {
    using Map = absl::flat_hash_map<K, V>;
    Rep r;
    const double ops = double(n) * double(rounds);
    Map *m = nullptr;
    uint64_t t, elapsed = 0, s = 0;

    for (uint64_t i = 0; i < rounds; i++) {
        delete m;
        t = bench_now_ns();
        m = new Map();
        for (uint64_t j = 0; j < n; j++)
            (*m)[keys[j]] = make_value<V>(vals[j]);
        elapsed += bench_now_ns() - t;
        s += m->size();
    }
    r.ns[OP_INSERT] = double(elapsed) / ops;
    r.sum[OP_INSERT] = s;

    s = 0;
    t = bench_now_ns();
    for (uint64_t i = 0; i < rounds; i++)
        for (uint64_t j = 0; j < n; j++) {
            auto it = m->find(keys[j]);
            s += it != m->end() ? first_word(it->second) : 0;
        }
    r.ns[OP_GET_HIT] = double(bench_now_ns() - t) / ops;
    r.sum[OP_GET_HIT] = s;
    bench_keep(s);

    s = 0;
    t = bench_now_ns();
    for (uint64_t i = 0; i < rounds; i++)
        for (uint64_t j = n; j < 2 * n; j++) {
            auto it = m->find(keys[j]);
            s += it != m->end() ? first_word(it->second) + 1 : 0;
        }
    r.ns[OP_GET_MISS] = double(bench_now_ns() - t) / ops;
    r.sum[OP_GET_MISS] = s;
    bench_keep(s);

    s = 0;
    t = bench_now_ns();
    for (uint64_t i = 0; i < rounds; i++)
        for (const auto &kv : *m)
            s += first_word(kv.second);
    r.ns[OP_ITERATE] = double(bench_now_ns() - t) / ops;
    r.sum[OP_ITERATE] = s;
    bench_keep(s);

    s = 0;
    elapsed = 0;
    for (uint64_t i = 0; i < rounds; i++) {
        if (i > 0)
            for (uint64_t j = 0; j < n; j++)
                (*m)[keys[j]] = make_value<V>(vals[j]);
        t = bench_now_ns();
        for (uint64_t j = 0; j < n; j++)
            s += m->erase(keys[j]);
        elapsed += bench_now_ns() - t;
    }
    r.ns[OP_DELETE] = double(elapsed) / ops;
    r.sum[OP_DELETE] = s;
    delete m;
    return r;
}

// The memory pass: bytes the map holds after n inserts into an empty map,
// and allocations per insert.  String keys are constructed during the
// inserts, so their heap copies are counted.
template <class K, class V>
void memory(const std::vector<K> &keys, const std::vector<uint64_t> &vals, uint64_t n,
            double *bytes_per_entry, double *allocs_per_insert) {
    auto *m = new absl::flat_hash_map<K, V>();
    live_bytes = 0;
    allocs = 0;
    counting = true;
    for (uint64_t j = 0; j < n; j++)
        m->emplace(keys[j], make_value<V>(vals[j]));
    counting = false;
    *bytes_per_entry = double(live_bytes) / double(n);
    *allocs_per_insert = double(allocs) / double(n);
    delete m;
}

template <class K, class V>
void run_cell(const std::vector<K> &keys, const std::vector<uint64_t> &vals, const char *kind,
              uint64_t n, uint64_t seed, int reps, bool with_memory) {
    const uint64_t rounds = rounds_for(n);
    double bpe = NAN, apo = -1;
    if (with_memory)
        memory<K, V>(keys, vals, n, &bpe, &apo);
    std::vector<double> samples[NOPS];
    uint64_t first[NOPS] = {0};
    for (int i = 0; i < reps; i++) {
        Rep r = run_rep<K, V>(keys, vals, n, rounds);
        for (int op = 0; op < NOPS; op++) {
            samples[op].push_back(r.ns[op]);
            if (i == 0)
                first[op] = r.sum[op];
            else if (r.sum[op] != first[op])
                std::fprintf(stderr, "peer-absl-core: checksums differ between repetitions\n");
        }
    }
    for (int op = 0; op < NOPS; op++) {
        bench_core_line r = {"absl",
                             op_names[op],
                             kind,
                             n,
                             bench_summarize(samples[op].data(), samples[op].size()),
                             bpe,
                             op == OP_INSERT ? apo : -1,
                             first[op],
                             reps,
                             rounds,
                             seed};
        bench_json j;
        std::printf("%s\n", bench_core_json(&j, &r));
        bench_sink(first[op]);
    }
    std::fflush(stdout);
}

const char *arg_value(int argc, char **argv, int *i, const char *name) {
    size_t len = std::strlen(name);
    if (std::strncmp(argv[*i], name, len) != 0)
        return nullptr;
    if (argv[*i][len] == '=')
        return argv[*i] + len + 1;
    if (argv[*i][len] != '\0' || *i + 1 >= argc)
        return nullptr;
    return argv[++*i];
}

} // namespace

int main(int argc, char **argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: peer-absl-core core|keys [options]\n");
        return 2;
    }
    uint64_t sizes[16] = {1024, 1048576};
    int nsizes = 2, reps = 5;
    uint64_t seed = 1, count = 8;
    const char *kinds = "u64,str";
    bool with_memory = true;
    for (int i = 2; i < argc; i++) {
        const char *v;
        if ((v = arg_value(argc, argv, &i, "--keys")))
            nsizes = bench_parse_u64_list(v, sizes, 16);
        else if ((v = arg_value(argc, argv, &i, "--key")))
            kinds = v;
        else if ((v = arg_value(argc, argv, &i, "--reps")))
            reps = std::atoi(v);
        else if ((v = arg_value(argc, argv, &i, "--seed")))
            seed = std::strtoull(v, nullptr, 0);
        else if ((v = arg_value(argc, argv, &i, "--count")))
            count = std::strtoull(v, nullptr, 0);
        else if (std::strcmp(argv[i], "--no-memory") == 0)
            with_memory = false;
        else if (std::strcmp(argv[i], "--peer") != 0 && std::strcmp(argv[i], "--json") != 0) {
            std::fprintf(stderr, "peer-absl-core: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    if (std::strcmp(argv[1], "keys") == 0) {
        for (uint64_t i = 0; i < count; i++) {
            char s[BENCH_STR_KEY_LEN];
            bench_key_str(seed, i, s);
            std::printf("%" PRIu64 " %" PRIu64 " %.*s\n", i, bench_key_u64(seed, i),
                        (int)BENCH_STR_KEY_LEN, s);
        }
        return 0;
    }
    if (std::strcmp(argv[1], "core") != 0 || nsizes <= 0 || reps < 1) {
        std::fprintf(stderr, "peer-absl-core: bad command or options\n");
        return 2;
    }
    for (int s = 0; s < nsizes; s++) {
        const uint64_t n = sizes[s];
        std::vector<uint64_t> vals(2 * n);
        for (uint64_t i = 0; i < 2 * n; i++)
            vals[i] = bench_key_u64(seed, i);
        if (bench_list_has(kinds, "u64"))
            run_cell<uint64_t, uint64_t>(vals, vals, "u64", n, seed, reps, with_memory);
    }
    for (int s = 0; s < nsizes && bench_list_has(kinds, "str"); s++) {
        const uint64_t n = sizes[s];
        std::vector<uint64_t> vals(2 * n);
        std::vector<std::string> keys(2 * n);
        for (uint64_t i = 0; i < 2 * n; i++) {
            char buf[BENCH_STR_KEY_LEN];
            bench_key_str(seed, i, buf);
            keys[i].assign(buf, BENCH_STR_KEY_LEN);
            vals[i] = bench_key_u64(seed, i);
        }
        run_cell<std::string, uint64_t>(keys, vals, "str", n, seed, reps, with_memory);
    }
    for (int s = 0; s < nsizes && bench_list_has(kinds, "u64v64"); s++) {
        const uint64_t n = sizes[s];
        std::vector<uint64_t> vals(2 * n);
        for (uint64_t i = 0; i < 2 * n; i++)
            vals[i] = bench_key_u64(seed, i);
        run_cell<uint64_t, V64>(vals, vals, "u64v64", n, seed, reps, with_memory);
    }
    return 0;
}
