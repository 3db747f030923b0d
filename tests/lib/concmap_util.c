/* concmap_util.c — the compiled half of concmap_util.h (see there). */
#include "concmap_util.h"

const void *fam_key(struct fam_key *k, gomap_key_kind kind, uint64_t id) {
    if (kind != GOMAP_KEY_STRING) {
        k->u = id;
        return &k->u;
    }
    int n = snprintf(k->buf, sizeof k->buf, "key:%llu:", (unsigned long long)id);
    size_t pad = (size_t)(id % 41);
    memset(k->buf + n, 'x', pad);
    k->s.ptr = k->buf;
    k->s.len = (size_t)n + pad;
    return &k->s;
}

uint64_t fam_key_id(gomap_key_kind kind, const void *key) {
    if (kind != GOMAP_KEY_STRING)
        return *(const uint64_t *)key;
    const gomap_str *s = key;
    char tmp[80];
    if (s->len < 5 || s->len >= sizeof tmp || memcmp(s->ptr, "key:", 4) != 0)
        return UINT64_MAX;
    memcpy(tmp, s->ptr, s->len);
    tmp[s->len] = 0;
    char *end;
    uint64_t id = strtoull(tmp + 4, &end, 10);
    if (*end != ':' || (size_t)(end + 1 - tmp) + id % 41 != s->len)
        return UINT64_MAX;
    return id;
}

const struct fam_shape fam_shapes[FAM_NSHAPES] = {
    {GOMAP_KEY_U64, 8, "u64/8"},
    {GOMAP_KEY_U64, 24, "u64/24"},
    {GOMAP_KEY_STRING, 8, "string/8"},
    {GOMAP_KEY_STRING, 24, "string/24"},
};
