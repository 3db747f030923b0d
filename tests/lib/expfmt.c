/* expfmt.c — the compiled half of expfmt.h (see there). */
#include "expfmt.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { EXPFMT_MAX = 4096, EXPFMT_NAME = 128, EXPFMT_LABELS = 512 };
/* A series "name{labels}": both strings at their longest, the braces and the NUL. */
enum { EXPFMT_SERIES = EXPFMT_NAME + EXPFMT_LABELS + 1 };

struct expfmt_family {
    char name[EXPFMT_NAME];
    char type[16];
    bool help, sampled, closed;
};

struct expfmt_hist { /* one histogram series, keyed by its labels without le */
    char key[EXPFMT_SERIES];
    double last_le, last_count, inf;
    bool has_inf, has_sum, has_count;
    double count;
};

struct expfmt_state {
    struct expfmt_family fam[EXPFMT_MAX / 8];
    int nfam;
    char (*series)[EXPFMT_SERIES];
    int nseries;
    struct expfmt_hist *hist;
    int nhist;
    int current; /* index of the family whose samples came last, or -1 */
};

#define EXPFMT_FAIL(...)                                                                           \
    do {                                                                                           \
        int at_ = snprintf(err, errlen, "line %d: ", lineno);                                      \
        snprintf(err + at_, errlen - (size_t)at_, __VA_ARGS__);                                    \
        goto fail;                                                                                 \
    } while (0)

static bool expfmt_name_ok(const char *s, size_t n, bool metric) {
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (metric && c == ':') || (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

static bool expfmt_value_ok(const char *s) {
    if (!strcmp(s, "+Inf") || !strcmp(s, "-Inf") || !strcmp(s, "NaN"))
        return true;
    char *end;
    (void)strtod(s, &end);
    return end != s && *end == '\0';
}

static double expfmt_value(const char *s) {
    if (!strcmp(s, "+Inf"))
        return INFINITY;
    if (!strcmp(s, "-Inf"))
        return -INFINITY;
    return strtod(s, NULL);
}

static struct expfmt_family *expfmt_family(struct expfmt_state *st, const char *name, bool add) {
    for (int i = 0; i < st->nfam; i++)
        if (!strcmp(st->fam[i].name, name))
            return &st->fam[i];
    if (!add || st->nfam == (int)(sizeof st->fam / sizeof st->fam[0]))
        return NULL;
    struct expfmt_family *f = &st->fam[st->nfam++];
    memset(f, 0, sizeof *f);
    snprintf(f->name, sizeof f->name, "%s", name);
    return f;
}

static struct expfmt_hist *expfmt_hist(struct expfmt_state *st, const char *key) {
    for (int i = 0; i < st->nhist; i++)
        if (!strcmp(st->hist[i].key, key))
            return &st->hist[i];
    if (st->nhist == EXPFMT_MAX)
        return NULL;
    struct expfmt_hist *h = &st->hist[st->nhist++];
    memset(h, 0, sizeof *h);
    h->last_le = -INFINITY;
    snprintf(h->key, sizeof h->key, "%s", key);
    return h;
}

int expfmt_check(const char *text, char *err, size_t errlen) {
    struct expfmt_state *st = calloc(1, sizeof *st);
    int lineno = 0;
    if (!st)
        return -1;
    st->series = calloc(EXPFMT_MAX, sizeof *st->series);
    st->hist = calloc(EXPFMT_MAX, sizeof *st->hist);
    st->current = -1;
    if (!st->series || !st->hist)
        EXPFMT_FAIL("out of memory");
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        lineno++;
        if (!nl)
            EXPFMT_FAIL("no newline at the end");
        char line[1024];
        size_t len = (size_t)(nl - p);
        if (len >= sizeof line)
            EXPFMT_FAIL("line too long");
        memcpy(line, p, len);
        line[len] = '\0';
        p = nl + 1;
        if (len == 0)
            continue;
        if (line[0] == '#') {
            char kw[8], name[EXPFMT_NAME], rest[900] = "";
            if (sscanf(line, "# %7s %127s %899[^\n]", kw, name, rest) < 2 ||
                (strcmp(kw, "HELP") && strcmp(kw, "TYPE")))
                continue; /* a comment */
            if (!expfmt_name_ok(name, strlen(name), true))
                EXPFMT_FAIL("bad metric name in %s: %s", kw, name);
            struct expfmt_family *f = expfmt_family(st, name, true);
            if (!f)
                EXPFMT_FAIL("too many families");
            if (!strcmp(kw, "HELP")) {
                if (f->help)
                    EXPFMT_FAIL("second HELP for %s", name);
                f->help = true;
            } else {
                if (f->type[0])
                    EXPFMT_FAIL("second TYPE for %s", name);
                if (f->sampled)
                    EXPFMT_FAIL("TYPE for %s after its samples", name);
                if (strcmp(rest, "counter") && strcmp(rest, "gauge") && strcmp(rest, "histogram") &&
                    strcmp(rest, "summary") && strcmp(rest, "untyped"))
                    EXPFMT_FAIL("bad type %s", rest);
                if (!strcmp(rest, "counter") &&
                    (strlen(name) < 6 || strcmp(name + strlen(name) - 6, "_total")))
                    EXPFMT_FAIL("counter %s should be named *_total", name);
                snprintf(f->type, sizeof f->type, "%.*s", (int)sizeof f->type - 1, rest);
            }
            continue;
        }
        /* A sample. */
        size_t n = strcspn(line, "{ ");
        if (!expfmt_name_ok(line, n, true))
            EXPFMT_FAIL("bad metric name");
        char name[EXPFMT_NAME], labels[EXPFMT_LABELS] = "", nole[EXPFMT_LABELS] = "";
        if (n >= sizeof name)
            EXPFMT_FAIL("name too long");
        memcpy(name, line, n);
        name[n] = '\0';
        const char *q = line + n;
        char le[64] = "";
        if (*q == '{') {
            q++;
            size_t lo = 0, no = 0;
            while (*q != '}') {
                size_t ln = strcspn(q, "=");
                if (!expfmt_name_ok(q, ln, false) || (ln >= 2 && q[0] == '_' && q[1] == '_'))
                    EXPFMT_FAIL("bad label name");
                if (q[ln] != '=' || q[ln + 1] != '"')
                    EXPFMT_FAIL("label without =\"value\"");
                bool is_le = ln == 2 && !strncmp(q, "le", 2);
                const char *start = q;
                const char *v = q + ln + 2, *e = v;
                while (*e && *e != '"') {
                    if (*e == '\\') {
                        if (e[1] != '\\' && e[1] != '"' && e[1] != 'n')
                            EXPFMT_FAIL("bad escape in a label value");
                        e++;
                    }
                    e++;
                }
                if (*e != '"')
                    EXPFMT_FAIL("unterminated label value");
                size_t whole = (size_t)(e + 1 - start);
                if (lo + whole + 2 >= sizeof labels)
                    EXPFMT_FAIL("labels too long");
                memcpy(labels + lo, start, whole);
                lo += whole;
                labels[lo++] = ',';
                labels[lo] = '\0';
                if (is_le) {
                    snprintf(le, sizeof le, "%.*s", (int)(e - v), v);
                } else {
                    memcpy(nole + no, start, whole);
                    no += whole;
                    nole[no++] = ',';
                    nole[no] = '\0';
                }
                q = e + 1;
                if (*q == ',')
                    q++;
                else if (*q != '}')
                    EXPFMT_FAIL("expected , or } after a label");
            }
            q++;
        }
        if (*q != ' ')
            EXPFMT_FAIL("expected a space before the value");
        char value[64], ts[64] = "";
        if (sscanf(q, " %63s %63s", value, ts) < 1 || !expfmt_value_ok(value))
            EXPFMT_FAIL("bad value");
        /* Which family: a histogram's _bucket/_sum/_count belong to it. */
        const char *suffix = "";
        struct expfmt_family *f = expfmt_family(st, name, false);
        if (!f || !f->type[0]) {
            static const char *const sfx[] = {"_bucket", "_sum", "_count"};
            for (int i = 0; i < 3; i++) {
                size_t sl = strlen(sfx[i]);
                if (n > sl && !strcmp(name + n - sl, sfx[i])) {
                    char base[EXPFMT_NAME];
                    snprintf(base, sizeof base, "%.*s", (int)(n - sl), name);
                    struct expfmt_family *b = expfmt_family(st, base, false);
                    if (b && (!strcmp(b->type, "histogram") || !strcmp(b->type, "summary"))) {
                        f = b;
                        suffix = sfx[i];
                    }
                }
            }
        }
        if (!f)
            f = expfmt_family(st, name, true);
        if (!f)
            EXPFMT_FAIL("too many families");
        int fi = (int)(f - st->fam);
        if (f->closed && st->current != fi)
            EXPFMT_FAIL("samples of %s are not contiguous", f->name);
        if (st->current >= 0 && st->current != fi)
            st->fam[st->current].closed = true;
        st->current = fi;
        f->sampled = true;
        char series[EXPFMT_SERIES];
        snprintf(series, sizeof series, "%s{%s}", name, labels);
        for (int i = 0; i < st->nseries; i++)
            if (!strcmp(st->series[i], series))
                EXPFMT_FAIL("duplicate series %.200s", series);
        if (st->nseries == EXPFMT_MAX)
            EXPFMT_FAIL("too many series");
        snprintf(st->series[st->nseries++], sizeof series, "%s", series);
        if (!strcmp(f->type, "histogram")) {
            char key[EXPFMT_SERIES];
            snprintf(key, sizeof key, "%s{%s}", f->name, nole);
            struct expfmt_hist *h = expfmt_hist(st, key);
            if (!h)
                EXPFMT_FAIL("too many histograms");
            double v = expfmt_value(value);
            if (!strcmp(suffix, "_bucket")) {
                if (!le[0] || !expfmt_value_ok(le))
                    EXPFMT_FAIL("bucket without a valid le");
                double bound = expfmt_value(le);
                if (bound <= h->last_le)
                    EXPFMT_FAIL("le does not increase in %.200s", key);
                if (v < h->last_count)
                    EXPFMT_FAIL("bucket counts decrease in %.200s", key);
                h->last_le = bound;
                h->last_count = v;
                if (isinf(bound)) {
                    h->has_inf = true;
                    h->inf = v;
                }
            } else if (!strcmp(suffix, "_sum")) {
                h->has_sum = true;
            } else if (!strcmp(suffix, "_count")) {
                h->has_count = true;
                h->count = v;
            } else {
                EXPFMT_FAIL("histogram %s has a plain sample", f->name);
            }
        }
    }
    for (int i = 0; i < st->nhist; i++) {
        struct expfmt_hist *h = &st->hist[i];
        if (!h->has_inf || !h->has_sum || !h->has_count || h->inf != h->count) {
            snprintf(err, errlen, "histogram %.120s: needs +Inf bucket = _count, and _sum", h->key);
            goto fail;
        }
    }
    free(st->series);
    free(st->hist);
    free(st);
    return 0;
fail:
    free(st->series);
    free(st->hist);
    free(st);
    return -1;
}
