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
 * The work is linear in the target's length times the answer's keys,
 * which EA_MAX_ANSWER_HEADERS bounds.
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

/* The index of the last entry of `list` whose name is `key` (`len`
 * bytes), or -1. The last: a later set of one key overwrites an earlier
 * one. */
static long
last_named(const ea_pairs *list, const char *key, size_t len)
{
    for (size_t i = list->count; i-- > 0;) {
        const char *name = list->items[i].name;
        if (strlen(name) == len && memcmp(name, key, len) == 0)
            return (long)i;
    }
    return -1;
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
    int first = 1;

    if (set->count && !(written = calloc(set->count, 1)))
        return -1;
    gwf_strbuf_append(out, path, base);
    for (const char *p = query ? query + 1 : end; p < end;) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        size_t key_len = (size_t)((eq ? eq : stop) - p);
        long which = last_named(set, p, key_len);

        if (stop == p || last_named(remove, p, key_len) >= 0) {
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
        long which = last_named(set, param->name, key_len);

        if (written[which] || last_named(remove, param->name, key_len) >= 0)
            continue;
        put_param(out, &first, &set->items[which]);
        written[which] = 1;
    }
    free(written);
    return out->failed ? -1 : 0;
}
