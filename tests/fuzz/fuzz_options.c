/*
 * fuzz_options.c — AddressSanitizer's defaults for the fuzzers (linked into
 * the libFuzzer targets of a fuzz build only; ASan reads this hook at start,
 * and ASAN_OPTIONS in the environment still overrides it).
 *
 * malloc_context_size: how many frames of the caller's stack ASan records
 * at each malloc and free (default 30).  The record is only printed: in a
 * report, as the "allocated by" and "freed by" stacks of the faulting
 * block.  Which accesses are faults does not depend on it — the shadow
 * memory, the redzones, the quarantine of freed blocks and the leak check
 * are the same — so every fault is still found and reported, with the stack
 * of the faulting access in full.  Unwinding and storing 30 frames at every
 * allocation was a tenth of fuzz_concmap's time (a copy-on-write map
 * allocates on every write); 8 frames still name the library function that
 * allocated and the target's operation that called it.  To replay a crash
 * with the full stacks: ASAN_OPTIONS=malloc_context_size=30.
 * docs/hardening.md has the measurements.
 */
const char *__asan_default_options(void);

const char *__asan_default_options(void) {
    return "malloc_context_size=8";
}
