/* The probe semaphores (see probes.h).  The kernel's uprobe machinery raises
 * them while a tracer is attached; the library only reads them. */
#include "probes.h"

GOMAP_PROBE_DEFINE(conflict);
GOMAP_PROBE_DEFINE(grow_start);
GOMAP_PROBE_DEFINE(evacuate);
GOMAP_PROBE_DEFINE(op);
GOMAP_PROBE_DEFINE(lock_wait);
GOMAP_PROBE_DEFINE(lock_hold);
GOMAP_PROBE_DEFINE(syncmap_miss);
GOMAP_PROBE_DEFINE(syncmap_promote);
GOMAP_PROBE_DEFINE(concmap_op);
