/*
 * query.c - the query parameters of an OK CheckResponse
 * (query_parameters_to_set, _to_remove) applied to the request target.
 *
 * Envoy parses the query into key=value pairs, overwrites every key to
 * set, then removes every key to remove (so a removal wins over a set of
 * the same key), and writes the query back. Keys are compared byte for
 * byte as they appear in the target (no percent-decoding), as Envoy does.
 *
 * Two choices of our own, both to keep the target valid and the rest of
 * the client's query as it was:
 *   - parameters not named by the answer keep their text and their order
 *     (Envoy rewrites them in key order); a key set by the answer takes
 *     the place of its first occurrence, later occurrences are dropped,
 *     and keys new to the query are appended in the answer's order;
 *   - a key or value from the answer is written percent-encoded where a
 *     byte could not stand in a query or would change its structure
 *     (space, controls, non-ASCII, '#', '&', and '=' in a key); '%' is
 *     kept, so an already encoded value reaches the upstream as sent
 *     (Envoy writes the bytes unencoded, which would break the request
 *     line of an HTTP/1.1 upstream).
 * The answer's keys are sorted once and looked up by binary search, so
 * the work is linear in the target's length plus the answer's keys (times
 * their logarithm), whatever maxAnswerHeaders allows.
 */
#include "ext_authz.h"

#include <stdlib.h>
#include <string.h>

/* 1 when the byte may stand unencoded in a key (or, with `in_value`, a
 * value) written from the answer. */
static int
is_query_literal(unsigned char c, int in_value)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        (c >= '0' && c <= '9'))
        return 1;
    if (c == '=')
        return in_value;
    return strchr("-._~!$'()*+,;:@/?%", c) != NULL && c != '\0';
}

static void
put_encoded(gwf_strbuf *out, const char *text, int in_value)
{
    static const char hex[] = "0123456789ABCDEF";

    for (const char *p = text; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (is_query_literal(c, in_value)) {
            gwf_strbuf_append(out, p, 1);
        } else {
            char escaped[3] = {'%', hex[c >> 4], hex[c & 15]};
            gwf_strbuf_append(out, escaped, 3);
        }
    }
}

/* An index of a list's keys: sorted by key, and for one key by position,
 * so that the last entry of a key is the last of its run. */
typedef struct key_ref {
    const char *key;
    size_t len;
    size_t index;
} key_ref;

typedef struct key_index {
    key_ref *refs;
    size_t count;
} key_index;

static int
key_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);

    if (c != 0)
        return c;
    return alen < blen ? -1 : alen > blen;
}

static int
ref_cmp(const void *pa, const void *pb)
{
    const key_ref *a = pa, *b = pb;
    int c = key_cmp(a->key, a->len, b->key, b->len);

    if (c != 0)
        return c;
    return a->index < b->index ? -1 : a->index > b->index;
}

/* 0, or -1 when out of memory. */
static int
index_build(const ea_pairs *list, key_index *out)
{
    out->count = list->count;
    out->refs = NULL;
    if (list->count == 0)
        return 0;
    out->refs = calloc(list->count, sizeof(*out->refs));
    if (!out->refs)
        return -1;
    for (size_t i = 0; i < list->count; i++) {
        out->refs[i].key = list->items[i].name;
        out->refs[i].len = strlen(list->items[i].name);
        out->refs[i].index = i;
    }
    qsort(out->refs, out->count, sizeof(*out->refs), ref_cmp);
    return 0;
}

/* The index in the list of the last entry whose name is `key` (`len`
 * bytes), or -1: O(log n). The last: a later set of one key overwrites an
 * earlier one. */
static long
last_named(const key_index *x, const char *key, size_t len)
{
    size_t lo = 0, hi = x->count;

    /* The first ref whose key is greater than `key`. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (key_cmp(x->refs[mid].key, x->refs[mid].len, key, len) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0 ||
        key_cmp(x->refs[lo - 1].key, x->refs[lo - 1].len, key, len) != 0)
        return -1;
    return (long)x->refs[lo - 1].index;
}

static void
put_param(gwf_strbuf *out, int *first, const ea_pair *set)
{
    gwf_strbuf_append(out, *first ? "?" : "&", 1);
    *first = 0;
    put_encoded(out, set->name, 0);
    gwf_strbuf_append(out, "=", 1);
    put_encoded(out, set->value, 1);
}

int
ea_query_apply(const char *path, size_t len, const ea_pairs *set,
               const ea_pairs *remove, gwf_strbuf *out)
{
    const char *query = memchr(path, '?', len);
    const char *end = path + len;
    size_t base = query ? (size_t)(query - path) : len;
    unsigned char *written = NULL;
    key_index sets = {0}, removals = {0};
    int first = 1;

    if ((set->count && !(written = calloc(set->count, 1))) ||
        index_build(set, &sets) != 0 || index_build(remove, &removals) != 0) {
        free(written);
        free(sets.refs);
        free(removals.refs);
        return -1;
    }
    gwf_strbuf_append(out, path, base);
    for (const char *p = query ? query + 1 : end; p < end;) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        size_t key_len = (size_t)((eq ? eq : stop) - p);
        long which = last_named(&sets, p, key_len);

        if (stop == p || last_named(&removals, p, key_len) >= 0) {
            /* dropped */
        } else if (which >= 0) {
            if (!written[which])
                put_param(out, &first, &set->items[which]);
            written[which] = 1;
        } else {
            gwf_strbuf_append(out, first ? "?" : "&", 1);
            gwf_strbuf_append(out, p, (size_t)(stop - p));
            first = 0;
        }
        p = stop + 1;
    }
    for (size_t i = 0; i < set->count; i++) {
        const ea_pair *param = &set->items[i];
        size_t key_len = strlen(param->name);
        long which = last_named(&sets, param->name, key_len);

        if (written[which] || last_named(&removals, param->name, key_len) >= 0)
            continue;
        put_param(out, &first, &set->items[which]);
        written[which] = 1;
    }
    free(written);
    free(sets.refs);
    free(removals.refs);
    return out->failed ? -1 : 0;
}
