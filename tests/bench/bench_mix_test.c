/* bench_mix_test.c — tests of gomap-bench's concurrent-mix machinery. */
#include "check.h"

#include <math.h>
#include <sched.h>

#include "hist.h"
#include "mix.h"
#include "workload.h"

/* ---- workload ------------------------------------------------------------ */

static uint64_t digest_of(const char *mix, wl_dist d, uint64_t keys, uint64_t seed, unsigned t,
                          size_t len) {
    wl_trace tr;
    if (wl_trace_build(&tr, wl_mix_find(mix), d, keys, seed, t, len) != 0)
        return 0;
    uint64_t h = wl_trace_digest(&tr);
    wl_trace_free(&tr);
    return h;
}

TEST(trace_deterministic_per_seed) {
    for (int d = 0; d < 2; d++) {
        CHECK_EQ(digest_of("read90", (wl_dist)d, 1000, 7, 0, 5000),
                 digest_of("read90", (wl_dist)d, 1000, 7, 0, 5000));
        CHECK(digest_of("read90", (wl_dist)d, 1000, 7, 0, 5000) !=
              digest_of("read90", (wl_dist)d, 1000, 8, 0, 5000));
        CHECK(digest_of("read90", (wl_dist)d, 1000, 7, 0, 5000) !=
              digest_of("read90", (wl_dist)d, 1000, 7, 1, 5000));
    }
}

TEST(trace_follows_the_mix) {
    const char *names[] = {"read100", "read90", "read50", "update100", "churn"};
    double want_reads[] = {1.0, 0.9, 0.5, 0.0, 0.0};
    for (int k = 0; k < 5; k++) {
        wl_trace tr;
        REQUIRE(wl_trace_build(&tr, wl_mix_find(names[k]), WL_UNIFORM, 1000, 1, 0, 100000) == 0);
        size_t reads = 0, ins = 0, out_of_range = 0;
        uint64_t range = strcmp(names[k], "churn") == 0 ? 2000 : 1000;
        for (size_t i = 0; i < tr.len; i++) {
            unsigned op = tr.e[i] >> WL_IDX_BITS;
            reads += op == WL_READ;
            ins += op == WL_INSERT;
            out_of_range += (tr.e[i] & WL_IDX_MASK) >= range;
        }
        CHECK(fabs((double)reads / (double)tr.len - want_reads[k]) < 0.01);
        if (strcmp(names[k], "churn") == 0)
            CHECK(fabs((double)ins / (double)tr.len - 0.5) < 0.01);
        CHECK_EQ(out_of_range, 0);
        wl_trace_free(&tr);
    }
}

TEST(zipf_is_skewed_and_uniform_is_not) {
    wl_zipf z;
    wl_zipf_init(&z, 100000, WL_ZIPF_THETA);
    uint64_t state = 3, hot_z = 0, hot_u = 0;
    for (int i = 0; i < 100000; i++) {
        uint64_t r = bench_splitmix64(&state);
        hot_z += wl_zipf_next(&z, r) < 100; /* the hottest 0.1% of keys */
        hot_u += wl_uniform(r, 100000) < 100;
    }
    /* Zipf(0.99) over 1e5 keys puts ~40% of draws on the top 100 keys;
     * uniform puts 0.1% there. */
    CHECK(hot_z > 30000 && hot_z < 50000);
    CHECK(hot_u < 300);
}

TEST(portable_math_is_accurate) {
    double xs[] = {1e-6, 0.123, 0.5, 1.0, 1.5, 2.0, 10.0, 12345.678, 1e6};
    for (int i = 0; i < 9; i++) {
        CHECK(fabs(wl_log(xs[i]) - log(xs[i])) <= 1e-14 * fmax(1, fabs(log(xs[i]))));
        CHECK(fabs(wl_pow(xs[i], 0.99) - pow(xs[i], 0.99)) <= 1e-13 * pow(xs[i], 0.99));
    }
    CHECK(fabs(wl_exp(-14.0) - exp(-14.0)) <= 1e-14 * exp(-14.0));
}

static bool run_capture(const char *cmd, char *out, size_t n) {
    FILE *f = popen(cmd, "r");
    if (!f)
        return false;
    size_t used = fread(out, 1, n - 1, f);
    out[used] = '\0';
    return pclose(f) == 0;
}

static bool exists(const char *path) {
    return access(path, X_OK) == 0;
}

/* The Go peer reimplements the generator; C++ peers compile workload.c. */
TEST(go_generator_equals_c) {
    const char *go = BENCH_BIN_DIR "/peer-go-mix";
    if (!exists(go)) {
        printf("  (peer-go-mix not built: skipped)\n");
        return;
    }
    static char out[8192];
    REQUIRE(run_capture(BENCH_BIN_DIR "/peer-go-mix --trace-digest --mixes "
                                      "read100,read90,read75,update100,churn --dist uniform,zipf "
                                      "--keys 3000 --seed 99 --trace-len 20000",
                        out, sizeof out));
    int lines = 0;
    for (char *save, *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char mix[32], dist[16];
        uint64_t dg;
        REQUIRE(bench_json_get_str(l, "mix", mix, sizeof mix));
        REQUIRE(bench_json_get_str(l, "dist", dist, sizeof dist));
        REQUIRE(bench_json_get_u64(l, "digest", &dg));
        wl_dist d;
        REQUIRE(wl_dist_parse(dist, &d) == 0);
        uint64_t c = digest_of(mix, d, 3000, 99, 0, 20000);
        if (c != dg)
            printf("  %s %s: C %llu, Go %llu\n", mix, dist, (unsigned long long)c,
                   (unsigned long long)dg);
        CHECK_EQ(c, dg);
        lines++;
    }
    CHECK_EQ(lines, 10);
}

/* ---- histogram ----------------------------------------------------------------- */

/* How many lines of out start with prefix and contain also (when not NULL)
 * and a verdict; prints the count when it is not `want`. */
static int count_lines_with(const char *out, const char *prefix, const char *also, int want) {
    int n = 0;
    size_t plen = strlen(prefix);
    for (const char *l = out; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
        const char *end = strchr(l, '\n');
        size_t len = end ? (size_t)(end - l) : strlen(l);
        char line[512];
        snprintf(line, sizeof line, "%.*s", (int)len, l);
        if (strncmp(line, prefix, plen) != 0 || (also && !strstr(line, also)))
            continue;
        if (strstr(line, " met") || strstr(line, " MISSED") || strstr(line, "(not measured)"))
            n++;
    }
    if (n != want)
        printf("  %d lines \"%s\"%s%s\n", n, prefix, also ? " ... " : "", also ? also : "");
    return n;
}

static int count_lines(const char *out, const char *prefix, int want) {
    return count_lines_with(out, prefix, NULL, want);
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Every reported quantile is within 1/256 of the sample's nearest-rank value. */
static void check_quantiles(uint64_t *v, size_t n) {
    hist *h = malloc(sizeof *h);
    hist_init(h);
    for (size_t i = 0; i < n; i++)
        hist_record(h, v[i]);
    qsort(v, n, sizeof v[0], cmp_u64);
    double qs[] = {0.0, 0.1, 0.5, 0.9, 0.99, 0.999, 1.0};
    for (int k = 0; k < 7; k++) {
        size_t rank = (size_t)ceil(qs[k] * (double)n);
        if (rank < 1)
            rank = 1;
        uint64_t want = v[rank - 1], got = hist_quantile(h, qs[k]);
        double err = fabs((double)got - (double)want);
        if (err > (double)want / 256.0)
            printf("  q=%g: got %llu want %llu\n", qs[k], (unsigned long long)got,
                   (unsigned long long)want);
        CHECK(err <= (double)want / 256.0);
    }
    CHECK_EQ(h->count, n);
    free(h);
}

TEST(hist_uniform) {
    size_t n = 200000;
    uint64_t *v = malloc(n * sizeof *v), s = 1;
    for (size_t i = 0; i < n; i++)
        v[i] = 1 + wl_uniform(bench_splitmix64(&s), 10000000);
    check_quantiles(v, n);
    free(v);
}

TEST(hist_exponential) {
    size_t n = 200000;
    uint64_t *v = malloc(n * sizeof *v), s = 2;
    for (size_t i = 0; i < n; i++) {
        double u = ((double)(bench_splitmix64(&s) >> 11) + 1) / 9007199254740993.0;
        v[i] = (uint64_t)(-log(u) * 5000.0);
    }
    check_quantiles(v, n);
    free(v);
}

TEST(hist_constant_and_extremes) {
    uint64_t v[1000];
    for (int i = 0; i < 1000; i++)
        v[i] = 123457;
    check_quantiles(v, 1000);
    hist *h = malloc(sizeof *h);
    hist_init(h);
    CHECK_EQ(hist_quantile(h, 0.5), 0);
    hist_record(h, UINT64_MAX);
    hist_record(h, 0);
    CHECK_EQ(hist_quantile(h, 1.0), UINT64_MAX);
    CHECK_EQ(hist_quantile(h, 0.0), 0);
    for (uint64_t x = 1; x < (1ull << 62); x = x * 3 + 1) {
        uint64_t lo, w;
        hist_bucket_range(hist_index(x), &lo, &w);
        CHECK(lo <= x && x - lo < w);
    }
    free(h);
}

/* ---- the advisor's rule ------------------------------------------------------------ */

TEST(advisor_picks_the_obvious) {
    adv_candidate c[] = {
        {"rwmap", 3.0, 900, 40},
        {"shardmap", 12.0, 400, 42},
        {"syncmap", 8.0, 300, 90},
        {"cowmap", 0, -1, -1}, /* not measured */
    };
    int best, second;
    CHECK_EQ(adv_choose(c, 4, 0.05, &best, &second), 3);
    CHECK_EQ(best, 1);
    CHECK_EQ(second, 2);
    /* within the tie band, the lower p99 wins */
    c[2].mops = 11.8;
    adv_choose(c, 4, 0.05, &best, &second);
    CHECK_EQ(best, 2);
    CHECK_EQ(second, 1);
    /* equal throughput and p99: fewer bytes per entry */
    c[2].mops = 12.0;
    c[2].p99_ns = 400;
    adv_choose(c, 4, 0.05, &best, &second);
    CHECK_EQ(best, 1);
    /* nothing measured */
    adv_candidate none[] = {{"rwmap", 0, -1, -1}};
    CHECK_EQ(adv_choose(none, 1, 0.05, &best, &second), 0);
    CHECK_EQ(best, -1);
}

/* With `fastest` set (--stat max) a throughput record's figure
 * is its fastest repetition, a latency record's is untouched; without it,
 * the median stays. */
TEST(results_keep_the_fastest_repetition_when_asked) {
    double mops[5] = {9.0, 5.2, 10.3, 5.4, 9.8};
    mix_result r;
    mix_result_cell(&r, "mix", "shardmap", "read100", "uniform", 1, 1024, 42);
    mix_result_throughput(&r, mops, 5, 200);
    CHECK(r.mops == 9.0 && r.mops_min == 5.2 && r.mops_max == 10.3);
    mix_result lat;
    mix_result_cell(&lat, "latency", "shardmap", "read90", "uniform", 1, 1024, 42);
    lat.p99 = 1000;
    mix_results rs = {0};
    rs.fastest = true;
    mix_results_add(&rs, &r);
    mix_results_add(&rs, &lat);
    rs.fastest = false;
    mix_results_add(&rs, &r);
    CHECK_EQ(rs.n, 3);
    CHECK(rs.r[0].mops == 10.3 && rs.r[0].mops_max == 10.3 && rs.r[0].mops_min == 5.2);
    CHECK(rs.r[1].p99 == 1000 && rs.r[1].mops == lat.mops);
    CHECK(rs.r[2].mops == 9.0);
    mix_results_free(&rs);
}

/* A throughput record of cell (read50, uniform, 2 threads) with the given
 * repetitions in run order, run in rounds with `with` (or alone when it is
 * empty). */
static mix_result round_record(const char *map, const double *reps, const char *with) {
    mix_result r;
    double sorted[5];
    mix_result_cell(&r, "mix", map, "read50", "uniform", 2, 10000, 42);
    memcpy(r.rep_mops, reps, sizeof sorted);
    memcpy(sorted, reps, sizeof sorted);
    mix_result_throughput(&r, sorted, 5, 200);
    snprintf(r.round_with, sizeof r.round_with, "%s", with);
    return r;
}

/* The best variant against TBB or liburcu: when the peer ran in rounds with
 * the variants, the one of the highest median of its pairs' own ratios, and
 * that median is the line's ratio; otherwise the one of the highest figure.
 * The peer's repetitions flip between two speeds (10 and 40 Mops/s) and
 * syncmap's follow them at 1.1x, while rwmap's fastest repetitions met the
 * peer's slow rounds: by the figures rwmap leads 4.3x, by the pairs it is
 * 1.075x and syncmap's steady 1.1x wins. */
TEST(best_variant_against_a_peer_is_judged_by_pairs) {
    const char *with = "rwmap,syncmap,tbb-chm";
    const double peer[5] = {10, 10, 10, 40, 40};
    const double sync[5] = {11, 11, 11, 44, 44};
    const double rw[5] = {10.5, 10.5, 50, 43, 43};
    const double shard[5] = {90, 90, 90, 90, 90};
    mix_results rs = {0};
    mix_result r = round_record("rwmap", rw, with);
    mix_results_add(&rs, &r);
    r = round_record("syncmap", sync, with);
    mix_results_add(&rs, &r);
    /* not in the peer's rounds: cannot be judged by pairs, so not a candidate */
    r = round_record("shardmap", shard, "");
    mix_results_add(&rs, &r);
    r = round_record("tbb-chm", peer, with);
    mix_results_add(&rs, &r);
    double ratio, sides;
    bool by_pairs;
    const mix_result *b =
        adv_best_against(&rs, "read50", "uniform", 2, "tbb-chm", &ratio, &sides, &by_pairs);
    REQUIRE(b != NULL);
    CHECK(strcmp(b->map, "syncmap") == 0);
    CHECK(by_pairs);
    CHECK(fabs(ratio - 1.1) < 1e-9);
    CHECK(fabs(sides - 1.1) < 1e-9);
    /* the same figures without rounds: the highest figure, the ratio of the
     * figures */
    for (size_t i = 0; i < rs.n; i++)
        rs.r[i].round_with[0] = '\0';
    b = adv_best_against(&rs, "read50", "uniform", 2, "tbb-chm", &ratio, &sides, &by_pairs);
    REQUIRE(b != NULL);
    CHECK(strcmp(b->map, "shardmap") == 0);
    CHECK(!by_pairs);
    CHECK(fabs(ratio - 9.0) < 1e-9 && fabs(sides - 9.0) < 1e-9);
    /* a peer that did not run */
    b = adv_best_against(&rs, "read50", "uniform", 2, "urcu-lfht", &ratio, &sides, &by_pairs);
    CHECK(b == NULL && ratio < 0);
    mix_results_free(&rs);
}

/* The advisor prints docs/choosing.md's measured picks beside its trial: its
 * table must be the document's, row for row. */
TEST(advisor_reference_picks_are_the_documents) {
    FILE *f = fopen(GOMAP_SOURCE_DIR "/docs/choosing.md", "r");
    REQUIRE(f != NULL);
    char line[512];
    int rows = 0;
    while (fgets(line, sizeof line, f)) {
        char mix[32], folk[32], pick[32];
        /* | read90 | syncmap | shardmap (13.59 Mops/s) | ... */
        if (sscanf(line, "| %31[a-z0-9] | %31[a-z] | %31[a-z] ", mix, folk, pick) != 3)
            continue;
        const wl_mix *m = wl_mix_find(mix);
        if (!m)
            continue;
        const char *ref_mix;
        const char *ref = adv_reference_pick((double)m->read_bp / 10000.0, &ref_mix);
        if (strcmp(ref, pick) != 0)
            printf("  %s: choosing.md picks %s, the advisor's table %s\n", mix, pick, ref);
        CHECK(strcmp(ref_mix, mix) == 0);
        CHECK(strcmp(ref, pick) == 0);
        rows++;
    }
    fclose(f);
    CHECK_EQ(rows, 5);
}

/* ---- every contestant does the work -------------------------------------------------- */

/* A deterministic single-threaded run of each mix on every contestant must
 * give the same checksum of values read, final length and final sum of
 * values: a contestant that skipped or faked operations would differ. */
/* Runs a verification command and checks that every verify line agrees with
 * the first one of its cell; returns how many lines it compared. */
static int verify_lines_agree(const char *cmd) {
    static char out[1 << 16];
    if (!run_capture(cmd, out, sizeof out)) {
        CHECK_FAIL("the command failed");
        return 0;
    }
    mix_results rs = {0};
    for (char *save, *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        mix_result r;
        if (mix_result_parse(l, &r) && strcmp(r.kind, "verify") == 0)
            mix_results_add(&rs, &r);
    }
    int compared = 0;
    for (size_t i = 0; i < rs.n; i++) {
        const mix_result *a = &rs.r[i];
        const mix_result *ref = mix_results_find(&rs, "verify", rs.r[0].map, a->mix, a->dist, 1);
        if (!ref) {
            CHECK_FAIL("a cell has no line of the first contestant");
            continue;
        }
        if (a->checksum != ref->checksum || a->final_len != ref->final_len ||
            a->final_sum != ref->final_sum)
            printf("  %s %s: %s differs from %s\n", a->mix, a->dist, a->map, ref->map);
        CHECK_EQ(a->checksum, ref->checksum);
        CHECK_EQ(a->final_len, ref->final_len);
        CHECK_EQ(a->final_sum, ref->final_sum);
        CHECK_EQ(a->ops, 4000);
        compared++;
    }
    mix_results_free(&rs);
    return compared;
}

TEST(checksums_agree_across_contestants) {
    const char *bench = BENCH_BIN_DIR "/gomap-bench";
    if (!exists(bench)) {
        printf("  (gomap-bench not built: skipped)\n");
        return;
    }
    int compared =
        verify_lines_agree(BENCH_BIN_DIR "/gomap-bench mix --json --quiet --verify-ops "
                                         "4000 --keys 1500 --mixes read90,update100,churn "
                                         "--dist uniform,zipf 2>/dev/null");
    /* at least the in-process variants rw and shard on 6 cells */
    CHECK(compared >= 12);
    printf("  %d verify lines compared\n", compared);
}

/* The batched configurations hand runs of reads to load_many: the values they
 * read and the writes between them come out as one operation per entry. */
TEST(batched_loads_agree_with_single_loads) {
    const char *bench = BENCH_BIN_DIR "/gomap-bench";
    if (!exists(bench)) {
        printf("  (gomap-bench not built: skipped)\n");
        return;
    }
    int compared = verify_lines_agree(
        BENCH_BIN_DIR "/gomap-bench mix --json --quiet --no-peers --verify-ops 4000 --keys 1500 "
                      "--maps rwmap,rwmap-batch,shardmap-batch --mixes read100,read90,read50,churn "
                      "--dist uniform,zipf 2>/dev/null");
    CHECK_EQ(compared, 3 * 4 * 2);
}

/* The CPUs of this process's affinity, in order, into cpus; their count (0,
 * and a failed check, when it cannot be read). */
static unsigned affinity_cpus(uint64_t *cpus) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0) {
        CHECK_FAIL("sched_getaffinity");
        return 0;
    }
    unsigned ncpu = 0;
    for (unsigned i = 0; i < CPU_SETSIZE; i++)
        if (CPU_ISSET(i, &set))
            cpus[ncpu++] = i;
    return ncpu;
}

/* The paired lines of a `gomap-bench mix` run (--pin on, the default): each
 * of the variant's and its Go analog's throughput cells alternates
 * repetition by repetition (the variant first on even ones), and at 1 thread
 * repetition k of both ran on the k-th CPU of the affinity gomap-bench was
 * started with, cyclically; at 2 threads nothing is pinned.  Checks the
 * schedule each side recorded, never a time.  Returns the lines checked. */
static int check_pairs(const char *cmd, unsigned reps) {
    static char out[1 << 16];
    if (!run_capture(cmd, out, sizeof out)) {
        CHECK_FAIL("the command failed");
        return 0;
    }
    uint64_t cpus[CPU_SETSIZE];
    unsigned ncpu = affinity_cpus(cpus);
    if (ncpu == 0)
        return 0;
    int checked = 0;
    for (char *save, *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        mix_result r;
        char with[32], cpu[256], first[256];
        if (!mix_result_parse(l, &r) || strcmp(r.kind, "mix") != 0)
            continue;
        if (!bench_json_get_str(l, "paired_with", with, sizeof with)) {
            printf("  unpaired: %s\n", l);
            CHECK_FAIL("a throughput line of a paired run is not paired");
            continue;
        }
        bool variant = strcmp(r.map, "shardmap") == 0;
        CHECK(strcmp(with, variant ? "go-shard-map" : "shardmap") == 0);
        CHECK_EQ(r.reps, reps);
        if (!bench_json_get_str(l, "rep_cpu", cpu, sizeof cpu) ||
            !bench_json_get_str(l, "rep_first", first, sizeof first)) {
            CHECK_FAIL("a paired line has no schedule");
            continue;
        }
        uint64_t c[MIX_MAX_REPS], f[MIX_MAX_REPS];
        CHECK_EQ(bench_parse_u64_list(first, f, MIX_MAX_REPS), (int)reps);
        for (unsigned k = 0; k < reps; k++)
            CHECK_EQ(f[k], (uint64_t)(variant == (k % 2 == 0)));
        bool pinned = strstr(l, "\"pinned\":true") != NULL;
        CHECK(pinned == (r.threads == 1));
        if (pinned) {
            if (bench_parse_u64_list(cpu, c, MIX_MAX_REPS) != (int)reps) {
                printf("  %s: rep_cpu %s\n", r.map, cpu);
                CHECK_FAIL("a pinned repetition has no CPU recorded");
                continue;
            }
            for (unsigned k = 0; k < reps; k++) {
                if (c[k] != cpus[k % ncpu])
                    printf("  %s rep %u: on CPU %llu, pinned to %llu\n", r.map, k,
                           (unsigned long long)c[k], (unsigned long long)cpus[k % ncpu]);
                CHECK_EQ(c[k], cpus[k % ncpu]);
            }
        }
        checked++;
    }
    return checked;
}

TEST(paired_repetitions_alternate_on_one_cpu) {
    if (!exists(BENCH_BIN_DIR "/gomap-bench") || !exists(BENCH_BIN_DIR "/peer-go-mix")) {
        printf("  (gomap-bench or peer-go-mix not built: skipped)\n");
        return;
    }
    int n = check_pairs(BENCH_BIN_DIR "/gomap-bench mix --json --quiet --maps shard,go-shard-map "
                                      "--mixes read100,update100 --threads 1,2 --keys 1024 "
                                      "--duration-ms 10 --reps 4 2>/dev/null",
                        4);
    /* 2 mixes x 2 thread counts x 2 contestants */
    CHECK_EQ(n, 8);
    /* --pin off: the old schedule, every cell alone, nothing recorded */
    static char out[1 << 14];
    REQUIRE(run_capture(BENCH_BIN_DIR "/gomap-bench mix --json --quiet --pin off --maps "
                                      "shard,go-shard-map --mixes read100 --threads 1 --keys 1024 "
                                      "--duration-ms 10 --reps 2 2>/dev/null",
                        out, sizeof out));
    CHECK(strstr(out, "\"map\":\"shardmap\"") && strstr(out, "\"map\":\"go-shard-map\""));
    CHECK(!strstr(out, "paired_with"));
}

/* Rounds (--pin on with TBB or liburcu selected): in each cell every
 * contestant's repetition k ran in round k, variants first in even rounds
 * and the others in odd ones, the whole round on the k-th CPU of the
 * affinity at 1 thread (the served peers report theirs); each line names
 * the round's contestants.  Checks the recorded schedule, never a time. */
TEST(round_peers_share_each_repetition) {
    static char out[1 << 16];
    bool tbb = exists(BENCH_BIN_DIR "/peer-tbb-mix"), urcu = exists(BENCH_BIN_DIR "/peer-urcu-mix");
    bool runs = exists(BENCH_BIN_DIR "/gomap-bench") && (tbb || urcu);
    if (!runs)
        printf("  (gomap-bench, or both peer-tbb-mix and peer-urcu-mix, not built: skipped)\n");
    if (!runs)
        return;
    REQUIRE(run_capture(BENCH_BIN_DIR "/gomap-bench mix --json --quiet --maps "
                                      "rw,sync,tbb-chm,urcu-lfht --mixes read50 --threads 1,2 "
                                      "--keys 1024 --duration-ms 10 --reps 3 2>/dev/null",
                        out, sizeof out));
    uint64_t cpus[CPU_SETSIZE];
    unsigned ncpu = affinity_cpus(cpus);
    REQUIRE(ncpu > 0);
    int lines = 0;
    for (char *save, *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        mix_result r;
        char with[160], cpu[256], first[256];
        if (!mix_result_parse(l, &r) || strcmp(r.kind, "mix") != 0)
            continue;
        lines++;
        if (!bench_json_get_str(l, "round_with", with, sizeof with) ||
            !bench_json_get_str(l, "rep_cpu", cpu, sizeof cpu) ||
            !bench_json_get_str(l, "rep_first", first, sizeof first)) {
            printf("  not in rounds: %s\n", l);
            CHECK_FAIL("a throughput line of a run with round peers is not in rounds");
            continue;
        }
        CHECK(bench_list_has(with, "rwmap") && bench_list_has(with, "syncmap"));
        CHECK(bench_list_has(with, "tbb-chm") == tbb && bench_list_has(with, "urcu-lfht") == urcu);
        CHECK(!strstr(l, "paired_with")); /* no Go analog selected */
        CHECK_EQ(r.reps, 3);
        bool variant = mix_is_gomap(r.map);
        uint64_t f[MIX_MAX_REPS], c[MIX_MAX_REPS];
        CHECK_EQ(bench_parse_u64_list(first, f, MIX_MAX_REPS), 3);
        for (unsigned k = 0; k < 3; k++)
            CHECK_EQ(f[k], (uint64_t)(variant == (k % 2 == 0)));
        bool pinned = strstr(l, "\"pinned\":true") != NULL;
        CHECK(pinned == (r.threads == 1));
        if (pinned) {
            REQUIRE(bench_parse_u64_list(cpu, c, MIX_MAX_REPS) == 3);
            for (unsigned k = 0; k < 3; k++) {
                if (c[k] != cpus[k % ncpu])
                    printf("  %s rep %u: on CPU %llu, the round pinned to %llu\n", r.map, k,
                           (unsigned long long)c[k], (unsigned long long)cpus[k % ncpu]);
                CHECK_EQ(c[k], cpus[k % ncpu]);
            }
        }
    }
    /* 2 thread counts x (2 variants and the peers built) */
    CHECK_EQ(lines, 2 * (2 + tbb + urcu));
    /* --pin off: every cell alone, as before the rounds */
    REQUIRE(run_capture(BENCH_BIN_DIR "/gomap-bench mix --json --quiet --pin off --maps "
                                      "rw,tbb-chm,urcu-lfht --mixes read50 --threads 2 --keys 1024 "
                                      "--duration-ms 10 --reps 2 2>/dev/null",
                        out, sizeof out));
    CHECK(strstr(out, "\"map\":\"rwmap\"") != NULL);
    CHECK(!strstr(out, "round_with"));
}

/* Paired latency cells (--pin on): a variant's latency runs alternate with
 * its Go analog's inside gomap-bench, and each side still prints one line
 * per cell (its run of median p99), the analog's not a second time from the
 * peers' own pass.  Counts lines, never a time. */
TEST(paired_latency_cells_print_one_line_per_side) {
    if (!exists(BENCH_BIN_DIR "/gomap-bench") || !exists(BENCH_BIN_DIR "/peer-go-mix")) {
        printf("  (gomap-bench or peer-go-mix not built: skipped)\n");
        return;
    }
    static char out[1 << 14];
    REQUIRE(run_capture(BENCH_BIN_DIR "/gomap-bench mix --json --quiet --latency-only --maps "
                                      "shard,go-shard-map --mixes read90 --threads 1,2 --keys 1024 "
                                      "--lat-ms 20 --lat-runs 3 2>/dev/null",
                        out, sizeof out));
    int lines[2][2] = {{0, 0}, {0, 0}};
    for (char *save, *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        mix_result r;
        if (!mix_result_parse(l, &r) || strcmp(r.kind, "latency") != 0)
            continue;
        CHECK(r.threads == 1 || r.threads == 2);
        CHECK(r.ops > 0);
        if (r.threads == 1 || r.threads == 2)
            lines[strcmp(r.map, "shardmap") != 0][r.threads - 1]++;
    }
    for (int side = 0; side < 2; side++)
        for (int t = 0; t < 2; t++)
            CHECK_EQ(lines[side][t], 1);
}

/* The default run at 1,024 keys with short cells, its output in out. */
static bool small_default_run(char *out, size_t n) {
    if (!exists(BENCH_BIN_DIR "/gomap-bench")) {
        printf("  (gomap-bench not built: skipped)\n");
        return false;
    }
    bool ok = run_capture(BENCH_BIN_DIR "/gomap-bench --quiet --maps rw,shard,sync,go-shard-map,"
                                        "go-sync-map,tbb-chm,urcu-lfht --keys 1024 --duration-ms "
                                        "10 --reps 2 --lat-ms 20 --lat-runs 2 2>/dev/null",
                          out, n);
    CHECK(ok);
    return ok;
}

/* The default run's targets name cells beyond its matrix of uniform keys:
 * shardmap against Go's sharded map on churn and on Zipf keys at 1 and 2
 * threads, and the best gomap variant against TBB and liburcu on Zipf keys
 * and at 10,000 keys.  Each of their lines prints once (met, missed, or not
 * measured when a peer is not built), and a line of cells run in pairs
 * shows a second statistic beside the one judged.  Reads lines, never a
 * time. */
TEST(default_run_prints_every_target_line) {
    static char out[1 << 17];
    if (!small_default_run(out, sizeof out))
        return;
    const char *mixes[] = {"read100", "read90", "read75", "read50", "update100"};
    char want[128];
    int lines = 0;
    for (int t = 1; t <= 2; t++) {
        const char *dists[] = {"uniform", "zipf"};
        for (int d = 0; d < 2; d++) {
            snprintf(want, sizeof want, "  shardmap churn %s@%d / go-shard-map ", dists[d], t);
            lines += count_lines(out, want, 1);
        }
        for (int m = 0; m < 5; m++) {
            snprintf(want, sizeof want, "  shardmap %s zipf@%d / go-shard-map ", mixes[m], t);
            lines += count_lines(out, want, 1);
        }
    }
    const char *peers[] = {"tbb-chm", "urcu-lfht"};
    const char *sizes[] = {"zipf (", "uniform 10K (", "zipf 10K ("};
    for (int m = 0; m < 5; m++)
        for (int z = 0; z < 3; z++)
            for (int k = 0; k < 2; k++) {
                snprintf(want, sizeof want, "  best gomap %s %s", mixes[m], sizes[z]);
                lines += count_lines_with(out, want, peers[k], 1);
            }
    CHECK_EQ(lines, 14 + 30);
    /* a paired throughput line: the pairs' median judged, the sides' ratio
     * beside it; a paired p99 line: the reverse */
    if (exists(BENCH_BIN_DIR "/peer-go-mix")) {
        CHECK(strstr(out, "(sides' medians ") != NULL);
        CHECK(strstr(out, "(pairs' median ") != NULL);
    }
    /* the lines against TBB and liburcu, whose cells ran in rounds, too:
     * 5 mixes x (the matrix, Zipf, 10K uniform, 10K Zipf) per peer built */
    int built = exists(BENCH_BIN_DIR "/peer-tbb-mix") + exists(BENCH_BIN_DIR "/peer-urcu-mix");
    CHECK_EQ(count_lines_with(out, "  best gomap ", "(sides' medians ", 20 * built), 20 * built);
    CHECK(strstr(out, "10000 keys, 2 threads") != NULL);
    CHECK(strstr(out, "targets: ") != NULL);
}

/* The memory limit runs the loop it describes: every rep does operations (a
 * positive rate), and what it cannot run is refused.  No time is asserted. */
TEST(memory_limit_runs_or_refuses) {
    double mops[3] = {0, 0, 0};
    CHECK_EQ(mix_memory_limit(1u << 20, 4096, 7, 1024, 2, 20, 1, mops), 0);
    CHECK(mops[0] > 0);
    CHECK_EQ(mix_memory_limit(1u << 20, 4096, 7, 1024, 1, 20, 3, mops), 0);
    CHECK(mops[0] > 0 && mops[1] > 0 && mops[2] > 0);
    CHECK(mix_memory_limit(1000, 4096, 7, 64, 1, 5, 1, mops) == 0); /* not a whole line */
    CHECK(mix_memory_limit(1u << 20, 4096, 7, 1024, 0, 20, 1, mops) < 0);
    CHECK(mix_memory_limit(1u << 20, 4096, 7, 1024, MIX_MAX_THREADS + 1, 20, 1, mops) < 0);
    CHECK(mix_memory_limit(1u << 20, 4096, 7, 1024, 2, 20, 0, mops) < 0);
    CHECK(mix_memory_limit(1u << 20, 0, 7, 1024, 2, 20, 1, mops) < 0);
    CHECK(mix_memory_limit(0, 4096, 7, 1024, 2, 20, 1, mops) < 0);
}

/* The pause floor runs the open loop it describes: every scheduled
 * operation of every thread is recorded (a 200 ms run at 10,000 ops/s per
 * thread schedules 2,000 each; a thread that falls behind may record fewer,
 * never more); of several runs it keeps one (the median p99's), not their
 * sum; and it refuses what it cannot run.  No time is asserted.  The run is
 * 200 ms, not shorter, because a thread that starts after twice the run's
 * length gives up without recording (runner.c): under ThreadSanitizer on a
 * loaded machine, thread start-up alone has outlasted a 20 ms run's 40. */
TEST(pause_floor_records_the_schedule_or_refuses) {
    hist *h = malloc(sizeof *h);
    CHECK(h != NULL);
    CHECK(mix_pause_floor(2, 10000, 200, 3, 7, h) == 0);
    CHECK(h->count > 0 && h->count <= 4000);
    CHECK(h->min <= h->max);
    CHECK(mix_pause_floor(0, 10000, 20, 1, 7, h) < 0);
    CHECK(mix_pause_floor(MIX_MAX_THREADS + 1, 10000, 20, 1, 7, h) < 0);
    CHECK(mix_pause_floor(1, 10000, 20, 0, 7, h) < 0);
    CHECK(mix_pause_floor(1, 10000, 20, 101, 7, h) < 0);
    free(h);
}

/* The contestant rows follow the library's list of variants (concmap_variants). */
TEST(contestants_cover_the_variants) {
    CHECK(mix_variants_match_library(stderr));
}

TEST_MAIN()
