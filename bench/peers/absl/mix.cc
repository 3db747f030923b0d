// peer-absl-mix: abseil's flat_hash_map behind one std::shared_mutex (the
// C++ counterpart of Go's map + sync.RWMutex), for gomap-bench mix.
#include <mutex>
#include <shared_mutex>

#include "absl/container/flat_hash_map.h"

#include "mixpeer.h"

namespace {

using Map = absl::flat_hash_map<uint64_t, uint64_t, absl::Hash<uint64_t>, std::equal_to<uint64_t>,
                                mixpeer_allocator<std::pair<const uint64_t, uint64_t>>>;

struct Locked {
    std::shared_mutex mu;
    Map m;
};

void *create(uint64_t n) {
    auto *l = new Locked;
    l->m.reserve(n);
    return l;
}
void destroy(void *p) {
    delete static_cast<Locked *>(p);
}

bool load(void *p, uint64_t k, uint64_t *v) {
    auto *l = static_cast<Locked *>(p);
    std::shared_lock<std::shared_mutex> g(l->mu);
    auto it = l->m.find(k);
    if (it == l->m.end())
        return false;
    *v = it->second;
    return true;
}
void store(void *p, uint64_t k, uint64_t v) {
    auto *l = static_cast<Locked *>(p);
    std::unique_lock<std::shared_mutex> g(l->mu);
    l->m[k] = v;
}
void del(void *p, uint64_t k) {
    auto *l = static_cast<Locked *>(p);
    std::unique_lock<std::shared_mutex> g(l->mu);
    l->m.erase(k);
}
void range_sum(void *p, uint64_t *len, uint64_t *sum) {
    auto *l = static_cast<Locked *>(p);
    for (auto &kv : l->m) {
        ++*len;
        *sum += kv.second;
    }
}

} // namespace

int main(int argc, char **argv) {
    mixpeer_contestant c = {"absl-rwlock",
                            create,
                            destroy,
                            {nullptr, load, store, del, nullptr, nullptr, nullptr},
                            range_sum};
    return mixpeer_main(argc, argv, &c, 1);
}
