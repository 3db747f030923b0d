/*
 * fuzz_options.c — AddressSanitizer's defaults for the fuzzers (linked into
 * the libFuzzer targets of a fuzz build only; ASan reads this hook at start,
 * and ASAN_OPTIONS in the environment still overrides it).  The options do
 * not change which accesses are faults (the shadow memory, the redzones, the
 * quarantine and the leak check are the same); the hard_<target> replays, built without this
 * file, keep ASan's defaults.  docs/hardening.md has the measurements.
 *
 * malloc_context_size=0: ASan records no stack at each malloc and free
 * (default 30 frames).  The record is only printed: in a report, as the
 * "allocated by" and "freed by" stacks of the faulting block; the stack of
 * the faulting access is still printed in full.  Unwinding at every
 * allocation was a tenth of fuzz_concmap's time at 30 frames (a
 * copy-on-write map allocates on every write), and still a few percent at 8.
 * A crash input is kept: to see those stacks, replay it with
 * hard_<target> <file> (or ASAN_OPTIONS=malloc_context_size=30).
 *
 * allocator_release_to_os_interval_ms=-1: ASan does not hand the free pages
 * of its allocator back to the kernel (by default it does every 5 s, with
 * madvise(MADV_DONTNEED)).  Memory that is reused is faulted in again after
 * each release, and each madvise in the fuzzer, which has a second thread
 * (libFuzzer's RSS watch), flushes the other CPU's TLB: thousands of calls a
 * minute.  Only memory the allocator holds free is affected: what is in use
 * and what the quarantine holds (freed, still poisoned) are as before, so
 * every fault is found as before; the peak RSS is higher (about 600 MB,
 * under the 2,048 MB the runs allow).
 *
 * The quarantine stays at ASan's default: a smaller one saved CPU in short
 * replays but not in fuzzing runs, so it would only weaken the check.
 */
const char *__asan_default_options(void);

const char *__asan_default_options(void) {
    return "malloc_context_size=0:allocator_release_to_os_interval_ms=-1";
}
