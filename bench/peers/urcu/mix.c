/*
 * peer-urcu-mix: liburcu's lock-free resizable hash table (rculfhash) with
 * the urcu-memb flavour, for gomap-bench mix.
 *
 * Reads are RCU read-side critical sections (wait-free lookups).  A store
 * to a present key overwrites its value in place with an atomic store (as
 * CLHT and TBB update in place); a store to an absent key adds a node with
 * cds_lfht_add_unique; a delete unlinks with cds_lfht_del and frees the node
 * after a grace period (call_rcu).  Node allocations are counted; the
 * table's own bucket arrays are allocated inside liburcu and are seen only
 * by the heap figure (mallinfo2).
 */
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>

#include <urcu/urcu-memb.h>
#include <urcu/rculfhash.h>

#include "mixpeer.h"

struct node {
    struct cds_lfht_node lf;
    uint64_t key;
    _Atomic uint64_t value; /* relaxed: a lone word, no other data published with it */
    struct rcu_head rcu;
};

/* liburcu's caa_container_of casts through a const pointer, which
 * -Wcast-qual rejects under clang; these two do the same arithmetic. */
static struct node *node_of_lf(struct cds_lfht_node *n) {
    return (struct node *)((char *)n - offsetof(struct node, lf));
}

static struct node *node_of_rcu(struct rcu_head *h) {
    return (struct node *)((char *)h - offsetof(struct node, rcu));
}

/* The keys are splitmix64 outputs already; the murmur3 finalizer keeps the
 * table's bucket bits well mixed for any key set. */
static unsigned long hash_key(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdu;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53u;
    k ^= k >> 33;
    return (unsigned long)k;
}

static int match(struct cds_lfht_node *n, const void *key) {
    return node_of_lf(n)->key == *(const uint64_t *)key;
}

static void *create(uint64_t n) {
    unsigned long size = 1;
    while (size < n && size < (1ul << 30))
        size <<= 1;
    return cds_lfht_new_flavor(size, 1, 0, CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING,
                               &urcu_memb_flavor, NULL);
}

static void free_node(struct rcu_head *h) {
    free(node_of_rcu(h));
}

static void destroy(void *p) {
    struct cds_lfht *ht = p;
    struct cds_lfht_iter it;
    struct cds_lfht_node *n;
    urcu_memb_read_lock();
    cds_lfht_first(ht, &it);
    while ((n = cds_lfht_iter_get_node(&it)) != NULL) {
        if (cds_lfht_del(ht, n) == 0)
            urcu_memb_call_rcu(&node_of_lf(n)->rcu, free_node);
        cds_lfht_next(ht, &it);
    }
    urcu_memb_read_unlock();
    urcu_memb_barrier(); /* every node freed before the table goes */
    cds_lfht_destroy(ht, NULL);
}

static bool load(void *p, uint64_t k, uint64_t *v) {
    struct cds_lfht_iter it;
    bool found = false;
    urcu_memb_read_lock();
    cds_lfht_lookup(p, hash_key(k), match, &k, &it);
    struct cds_lfht_node *n = cds_lfht_iter_get_node(&it);
    if (n) {
        *v = atomic_load_explicit(&node_of_lf(n)->value, memory_order_relaxed);
        found = true;
    }
    urcu_memb_read_unlock();
    return found;
}

static void store(void *p, uint64_t k, uint64_t v) {
    struct cds_lfht_iter it;
    unsigned long h = hash_key(k);
    urcu_memb_read_lock();
    cds_lfht_lookup(p, h, match, &k, &it);
    struct cds_lfht_node *n = cds_lfht_iter_get_node(&it);
    if (!n) {
        struct node *nn = malloc(sizeof *nn);
        if (!nn)
            abort();
        mixpeer_count_alloc();
        cds_lfht_node_init(&nn->lf);
        nn->key = k;
        atomic_init(&nn->value, v);
        n = cds_lfht_add_unique(p, h, match, &k, &nn->lf);
        if (n == &nn->lf) {
            urcu_memb_read_unlock();
            return;
        }
        free(nn); /* another thread added the key first: overwrite theirs */
    }
    atomic_store_explicit(&node_of_lf(n)->value, v, memory_order_relaxed);
    urcu_memb_read_unlock();
}

static void del(void *p, uint64_t k) {
    struct cds_lfht_iter it;
    urcu_memb_read_lock();
    cds_lfht_lookup(p, hash_key(k), match, &k, &it);
    struct cds_lfht_node *n = cds_lfht_iter_get_node(&it);
    if (n && cds_lfht_del(p, n) == 0)
        urcu_memb_call_rcu(&node_of_lf(n)->rcu, free_node);
    urcu_memb_read_unlock();
}

static void range_sum(void *p, uint64_t *len, uint64_t *sum) {
    struct cds_lfht_iter it;
    struct cds_lfht_node *n;
    urcu_memb_read_lock();
    cds_lfht_for_each(p, &it, n) {
        ++*len;
        *sum += atomic_load_explicit(&node_of_lf(n)->value, memory_order_relaxed);
    }
    urcu_memb_read_unlock();
}

int main(int argc, char **argv) {
    urcu_memb_register_thread();
    mixpeer_contestant c = {
        "urcu-lfht",
        create,
        destroy,
        {NULL, load, store, del, urcu_memb_register_thread, urcu_memb_unregister_thread, NULL},
        range_sum};
    int rc = mixpeer_main(argc, argv, &c, 1);
    urcu_memb_unregister_thread();
    return rc;
}
