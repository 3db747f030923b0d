/*
 * family.c — the thread-safe variants' memory, through the user's allocator
 * hook.  See family.h.
 */
#include "family.h"

#include <stdlib.h>

void *gomap__family_alloc(const gomap_allocator *a, size_t size) {
    return a ? a->alloc(size, a->ctx) : malloc(size);
}

void gomap__family_free(const gomap_allocator *a, void *p, size_t size) {
    if (!p)
        return;
    if (a)
        a->free(p, size, a->ctx);
    else
        free(p);
}
