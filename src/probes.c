/* The probe semaphores (see probes.h).  The kernel's uprobe machinery raises
 * them while a tracer is attached; the library only reads them. */
#include "probes.h"

#include <stdint.h>

GOMAP_PROBE_DEFINE(conflict);
GOMAP_PROBE_DEFINE(grow_start);
GOMAP_PROBE_DEFINE(evacuate);
GOMAP_PROBE_DEFINE(op);
GOMAP_PROBE_DEFINE(lock_wait);
GOMAP_PROBE_DEFINE(lock_hold);
GOMAP_PROBE_DEFINE(syncmap_miss);
GOMAP_PROBE_DEFINE(syncmap_promote);
GOMAP_PROBE_DEFINE(concmap_op);

#ifdef GOMAP_HAVE_PROBES
/* Anchor sites: one site per probe that never runs, with the argument sizes
 * of the real sites.  Every probe site names its semaphore, and the
 * semaphores live in this object, so any program that links a part of gomap
 * statically (only the core map, say) gets this object too — and with it
 * every probe, even those whose real sites it left out.  A tracing script
 * that names all of gomap's probes (tools/trace/, gomap-watch) then attaches
 * to any gomap program; bpftrace refuses a probe it cannot find.  The anchor
 * costs a few bytes of never-executed nops. */
__attribute__((used, cold, noinline)) static void gomap_probe_anchors(void) {
    const void *p = 0;
    long n = 0;
    int i = 0;
    GOMAP_PROBE4(conflict, i, p, i, i);
    GOMAP_PROBE5(grow_start, p, i, i, i, n);
    GOMAP_PROBE3(evacuate, p, n, n);
    GOMAP_PROBE2(op, p, i);
    GOMAP_PROBE4(lock_wait, p, p, n, i);
    GOMAP_PROBE4(lock_hold, p, p, n, i);
    GOMAP_PROBE3(syncmap_miss, p, n, n);
    GOMAP_PROBE2(syncmap_promote, p, n);
    GOMAP_PROBE3(concmap_op, p, p, i);
}
#endif
