/*
 * bench_core_test.c — gomap-bench core's logic: the workload key stream is
 * splitmix64 and the same in every contestant, the JSON lines round-trip,
 * the statistics are right, and every contestant reports the checksums the
 * workload specification predicts.  Nothing here is timed.
 */
#include "bench.h"
#include "check.h"

#include <math.h>

/* Runs `cmd` through the shell and returns its whole stdout (malloc'd). */
static char *capture(const char *cmd) {
    FILE *p = popen(cmd, "r");
    if (!p)
        return NULL;
    size_t len = 0, cap = 1 << 16;
    char *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += n;
        if (cap - len < 4096) {
            char *grown = realloc(buf, cap *= 2);
            if (!grown)
                free(buf);
            buf = grown;
        }
    }
    int st = pclose(p);
    if (buf)
        buf[len] = '\0';
    if (st != 0) {
        fprintf(stderr, "  '%s' exited with %d\n", cmd, st);
        free(buf);
        return NULL;
    }
    return buf;
}

TEST(splitmix64_matches_the_published_vector) {
    /* The reference outputs of splitmix64.c (Vigna) from seed 1234567. */
    static const uint64_t want[5] = {6457827717110365317u, 3203168211198807973u,
                                     9817491932198370423u, 4593380528125082431u,
                                     16408922859458223821u};
    uint64_t s = 1234567;
    for (int i = 0; i < 5; i++)
        CHECK_EQ(bench_splitmix64(&s), want[i]);
    for (uint64_t i = 0; i < 5; i++)
        CHECK_EQ(bench_key_u64(1234567, i), want[i]);
}

TEST(key_stream_is_deterministic_per_seed_and_distinct) {
    enum { N = 4096 };
    static uint64_t a[N];
    uint64_t state = 99;
    for (uint64_t i = 0; i < N; i++) {
        a[i] = bench_key_u64(99, i);
        CHECK_EQ(a[i], bench_splitmix64(&state)); /* random access == the stream */
    }
    int same_as_other_seed = 0;
    for (uint64_t i = 0; i < N; i++) {
        CHECK_EQ(bench_key_u64(99, i), a[i]);
        same_as_other_seed += bench_key_u64(100, i) == a[i];
    }
    CHECK(same_as_other_seed < 2);
    /* splitmix64 is a bijection of its state: no key repeats. */
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++)
            if (a[i] == a[j]) {
                CHECK(a[i] != a[j]);
                return;
            }
}

TEST(string_keys_are_the_hex_of_the_u64_keys) {
    for (uint64_t i = 0; i < 100; i++) {
        char s[BENCH_STR_KEY_LEN + 1], want[BENCH_STR_KEY_LEN + 1];
        bench_key_str(7, i, s);
        s[BENCH_STR_KEY_LEN] = '\0';
        snprintf(want, sizeof want, "%016" PRIx64, bench_key_u64(7, i));
        CHECK(strcmp(s, want) == 0);
    }
}

/* Every program prints the same first keys for a seed. */
static void check_same_keys(const char *exe, const char *ref) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' keys --seed 12345 --count 2000", exe);
    char *out = capture(cmd);
    CHECK(out != NULL);
    if (out && ref && strcmp(out, ref) != 0) {
        fprintf(stderr, "  %s prints different keys\n", exe);
        CHECK(strcmp(out, ref) == 0);
    }
    free(out);
}

TEST(every_contestant_draws_the_same_keys) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' keys --seed 12345 --count 2000", BENCH_EXE);
    char *ref = capture(cmd);
    REQUIRE(ref != NULL);
    /* ... and they are the key stream of bench.h. */
    char line[128];
    snprintf(line, sizeof line, "1999 %" PRIu64 " ", bench_key_u64(12345, 1999));
    CHECK(strstr(ref, line) != NULL);
    check_same_keys(BENCH_NODETECT_EXE, ref);
#if BENCH_HAVE_GO
    check_same_keys(BENCH_GO_EXE, ref);
#else
    printf("  (Go peer not built: not compared)\n");
#endif
#if BENCH_HAVE_ABSL
    check_same_keys(BENCH_ABSL_EXE, ref);
#else
    printf("  (abseil peer not built: not compared)\n");
#endif
    free(ref);
}

TEST(list_options_parse) {
    uint64_t v[4];
    CHECK_EQ(bench_parse_u64_list("1024,1048576", v, 4), 2);
    CHECK_EQ(v[0], 1024);
    CHECK_EQ(v[1], 1048576);
    CHECK_EQ(bench_parse_u64_list("1k,16M,7", v, 4), 3);
    CHECK_EQ(v[0], 1024);
    CHECK_EQ(v[1], 16u << 20);
    CHECK_EQ(v[2], 7);
    CHECK_EQ(bench_parse_u64_list("1,2,3,4,5", v, 4), -1);
    CHECK_EQ(bench_parse_u64_list("1,,2", v, 4), -1);
    CHECK_EQ(bench_parse_u64_list("x", v, 4), -1);
    CHECK_EQ(bench_parse_u64_list("", v, 4), -1);
    CHECK(bench_list_has("u64,str", "str"));
    CHECK(bench_list_has("u64,str", "u64"));
    CHECK(!bench_list_has("u64,str", "st"));
    CHECK(!bench_list_has("gomap-nodetect", "gomap"));
    CHECK(bench_list_has(NULL, "anything"));
}

TEST(statistics) {
    double odd[5] = {5, 1, 4, 2, 3};
    bench_stats s = bench_summarize(odd, 5);
    CHECK(s.median == 3 && s.min == 1 && s.max == 5 && s.mean == 3);
    CHECK(odd[0] == 5); /* input untouched */
    double even[4] = {10, 1, 3, 2};
    CHECK(bench_median(even, 4) == 2.5);
    CHECK(bench_median(even, 0) == 0);
}

TEST(json_lines_round_trip) {
    bench_json j;
    bench_json_begin(&j);
    bench_json_str(&j, "map", "go\"q\\x");
    bench_json_str(&j, "decoy", "\"op\":\"no\"");
    bench_json_str(&j, "op", "get_hit");
    bench_json_u64(&j, "checksum", UINT64_MAX);
    bench_json_f64(&j, "ns_per_op", 12.25);
    bench_json_f64(&j, "nan", NAN);
    bench_json_bool(&j, "ok", true);
    bench_json_i64(&j, "neg", -3);
    const char *line = bench_json_end(&j);
    char buf[64];
    uint64_t u;
    double d;
    CHECK(bench_json_get_str(line, "map", buf, sizeof buf) && strcmp(buf, "go\"q\\x") == 0);
    CHECK(bench_json_get_str(line, "op", buf, sizeof buf) && strcmp(buf, "get_hit") == 0);
    CHECK(bench_json_get_u64(line, "checksum", &u) && u == UINT64_MAX);
    CHECK(bench_json_get_f64(line, "ns_per_op", &d) && d == 12.25);
    CHECK(bench_json_get_f64(line, "neg", &d) && d == -3);
    CHECK(!bench_json_get_f64(line, "nan", &d)); /* written as null */
    CHECK(!bench_json_get_f64(line, "absent", &d));
    CHECK(!bench_json_get_str(line, "checksum", buf, sizeof buf));
    CHECK(line[strlen(line) - 1] == '}');
    /* Overflowing the buffer drops fields but keeps a valid object. */
    bench_json_begin(&j);
    for (int i = 0; i < 200; i++)
        bench_json_str(&j, "field", "0123456789");
    line = bench_json_end(&j);
    CHECK(strlen(line) < sizeof j.buf && line[strlen(line) - 1] == '}');
}

TEST(counting_allocator_counts) {
    bench_counter c;
    bench_counter_reset(&c);
    gomap_allocator a = bench_counting_allocator(&c);
    void *p = a.alloc(100, a.ctx), *q = a.alloc(1000, a.ctx);
    CHECK(p && q);
    CHECK_EQ(c.allocs, 2);
    CHECK(c.live_bytes >= 1100);
    a.free(p, 100, a.ctx);
    CHECK(c.live_bytes >= 1000 && c.live_bytes < 1100);
    a.free(q, 1000, a.ctx);
    CHECK_EQ(c.live_bytes, 0);
    CHECK_EQ(c.frees, 2);
    CHECK(c.peak_bytes >= 1100);
}

TEST(table_aligns_columns) {
    static const char *const hdr[] = {"name", "value"};
    bench_table *t = bench_table_new(2, hdr);
    bench_table_cell(t, "a");
    bench_table_cell(t, "%d", 5);
    bench_table_rule(t);
    bench_table_cell(t, "longer");
    bench_table_cell(t, "%.2f", 12.5);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    REQUIRE(f != NULL);
    bench_table_print(t, f);
    fclose(f);
    bench_table_free(t);
    CHECK(strcmp(text, "name    value\n------  -----\na           5\n------  -----\n"
                       "longer  12.50\n") == 0);
    free(text);
}

/* The sum, mod 2^64, of the values of keys 0..n-1 (value = u64 key). */
static uint64_t value_sum(uint64_t seed, uint64_t n) {
    uint64_t s = 0;
    for (uint64_t i = 0; i < n; i++)
        s += bench_key_u64(seed, i);
    return s;
}

/* Two repetitions in the uninstrumented build: the second runs each
 * contestant again in a fresh process, without the memory pass, and each
 * line is the median of two.  Under a sanitizer one: the second repetition
 * runs the same keys through the same operations (the benchmark is
 * single-threaded, so ThreadSanitizer has no interleaving to vary), and the
 * sanitized contestants take most of the test's time. */
enum { CHECKSUM_REPS = CHECK_SANITIZED ? 1 : 2 };

TEST(every_contestant_reports_the_predicted_checksums) {
    enum { N = 1000 };
    const uint64_t seed = 77, rounds = ((uint64_t)1 << 18) / N;
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "'%s' core --json --key u64,str,u64v64 --keys %d --reps %d --seed %" PRIu64, BENCH_EXE,
             N, CHECKSUM_REPS, seed);
    char *out = capture(cmd);
    REQUIRE(out != NULL);
    static const char *const maps[] = {"gomap", "gomap-nodetect", "go", "absl"};
    static const bool built[] = {true, true, BENCH_HAVE_GO, BENCH_HAVE_ABSL};
    /* get_many (the hits, batched) is gomap's alone. */
    static const char *const ops[] = {"insert", "get_hit", "get_miss",
                                      "delete", "iterate", "get_many"};
    /* u64v64's values are 64 bytes whose first word, the one the checksums
     * read, is the key: same checksums as u64. */
    static const char *const kinds[] = {"u64", "str", "u64v64"};
    const uint64_t hit = rounds * value_sum(seed, N);
    const uint64_t want[] = {rounds * N, hit, 0, rounds * N, hit, hit};
    int lines_seen = 0;
    for (int m = 0; m < 4; m++) {
        if (!built[m]) {
            printf("  (%s not built: not checked)\n", maps[m]);
            continue;
        }
        for (int k = 0; k < 3; k++)
            for (int op = 0; op < (m < 2 ? 6 : 5); op++) {
                bool found = false;
                for (char *l = out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
                    char *nl = strchr(l, '\n');
                    char line[2048], buf[64];
                    size_t len = nl ? (size_t)(nl - l) : strlen(l);
                    if (len >= sizeof line)
                        continue;
                    memcpy(line, l, len);
                    line[len] = '\0';
                    uint64_t sum, keys;
                    double ns, bpe;
                    if (!bench_json_get_str(line, "map", buf, sizeof buf) ||
                        strcmp(buf, maps[m]) != 0 ||
                        !bench_json_get_str(line, "op", buf, sizeof buf) ||
                        strcmp(buf, ops[op]) != 0 ||
                        !bench_json_get_str(line, "key", buf, sizeof buf) ||
                        strcmp(buf, kinds[k]) != 0)
                        continue;
                    found = true;
                    lines_seen++;
                    CHECK(bench_json_get_u64(line, "keys", &keys) && keys == N);
                    CHECK(bench_json_get_f64(line, "ns_per_op", &ns) && ns > 0);
                    CHECK(bench_json_get_f64(line, "bytes_per_entry", &bpe) && bpe > 8);
                    if (!bench_json_get_u64(line, "checksum", &sum) || sum != want[op]) {
                        fprintf(stderr, "  %s\n  wanted checksum %" PRIu64 "\n", line, want[op]);
                        CHECK(sum == want[op]);
                    }
                }
                if (!found) {
                    fprintf(stderr, "  no line for %s %s %s\n", maps[m], kinds[k], ops[op]);
                    CHECK(found);
                }
            }
    }
    CHECK(lines_seen >= 30);
    free(out);
}

/* The counting rows (gomap alone): upsert and get+set do the same work, so
 * both print the predicted checksum, 3N per round (counts 1 then 2 per key). */
TEST(counting_rows_agree) {
    enum { N = 1000 };
    const uint64_t rounds = ((uint64_t)1 << 18) / N;
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' core --json --key u64,str --keys %d --reps 1 --maps gomap",
             BENCH_EXE, N);
    char *out = capture(cmd);
    REQUIRE(out != NULL);
    static const char *const ops[] = {"count_upsert", "count_get_set"};
    int seen = 0;
    char *save = NULL;
    for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char buf[64];
        if (!bench_json_get_str(line, "op", buf, sizeof buf))
            continue;
        for (int op = 0; op < 2; op++) {
            if (strcmp(buf, ops[op]) != 0)
                continue;
            uint64_t sum;
            double ns;
            seen++;
            CHECK(bench_json_get_f64(line, "ns_per_op", &ns) && ns > 0);
            CHECK(bench_json_get_u64(line, "checksum", &sum) && sum == rounds * 3 * N);
        }
    }
    CHECK_EQ(seen, 4); /* two ops, two key kinds */
    free(out);
}

TEST_MAIN()
