// peer-tbb-mix: oneTBB's concurrent_hash_map (fine-grained bucket locks,
// reader/writer accessors), for gomap-bench mix.
#include <functional>

#include <tbb/concurrent_hash_map.h>

#include "mixpeer.h"

namespace {

using Map = tbb::concurrent_hash_map<uint64_t, uint64_t, tbb::tbb_hash_compare<uint64_t>,
                                     mixpeer_allocator<std::pair<const uint64_t, uint64_t>>>;

void *create(uint64_t n) {
    return new Map(static_cast<Map::size_type>(n));
}
void destroy(void *p) {
    delete static_cast<Map *>(p);
}

bool load(void *p, uint64_t k, uint64_t *v) {
    Map::const_accessor a;
    if (!static_cast<Map *>(p)->find(a, k))
        return false;
    *v = a->second;
    return true;
}
void store(void *p, uint64_t k, uint64_t v) {
    Map::accessor a;
    static_cast<Map *>(p)->insert(a, k);
    a->second = v;
}
void del(void *p, uint64_t k) {
    static_cast<Map *>(p)->erase(k);
}
void range_sum(void *p, uint64_t *len, uint64_t *sum) {
    for (auto &kv : *static_cast<Map *>(p)) {
        ++*len;
        *sum += kv.second;
    }
}

} // namespace

int main(int argc, char **argv) {
    mixpeer_contestant c = {"tbb-chm",
                            create,
                            destroy,
                            {nullptr, load, store, del, nullptr, nullptr, nullptr},
                            range_sum};
    return mixpeer_main(argc, argv, &c, 1);
}
