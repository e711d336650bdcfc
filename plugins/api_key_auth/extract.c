/*
 * extract.c - finding an API key in a request's query string or Cookie
 * header, and removing it before the request goes upstream.
 *
 * Both are plain byte work on borrowed strings, so the fuzz harness
 * drives them directly. Query strings: parameters are separated by '&',
 * a parameter's name is compared after percent-decoding (a client that
 * writes "api%5Fkey" names the same parameter), its value is returned
 * raw and decoded by the caller. Removing rebuilds the target from the
 * parameters that stay, byte for byte and in order. Cookies: "name=value"
 * pairs separated by ';' and optional white space (RFC 6265 4.2.1); a
 * value in double quotes is returned without them, as Envoy's cookie
 * parser does. The counts let the caller refuse a key given twice in
 * one place rather than guess which one a later hop would read.
 */
#include "api_key_auth.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

static int
hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int
ak_percent_decode_into(const char *in, size_t len, char *out, size_t cap,
                       size_t *out_len)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (c == '%') {
            int hi, lo;
            if (i + 2 >= len || (hi = hexval(in[i + 1])) < 0 ||
                (lo = hexval(in[i + 2])) < 0) {
                OPENSSL_cleanse(out, n);
                return -1;
            }
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (n == cap) {
            OPENSSL_cleanse(out, n);
            return -2;
        }
        out[n++] = c;
    }
    *out_len = n;
    return 0;
}

int
ak_percent_decode(const char *in, size_t len, char **out, size_t *out_len)
{
    char *o = malloc(len + 1);
    size_t n = 0;

    if (!o)
        return -1;
    if (ak_percent_decode_into(in, len, o, len, &n) != 0) {
        free(o);
        return -1;
    }
    o[n] = '\0';
    *out = o;
    *out_len = n;
    return 0;
}

/* Is the (raw) parameter name `raw` equal to `name` once decoded? A
 * malformed escape never names anything. */
static int
name_is(const char *raw, size_t raw_len, const char *name, size_t name_len)
{
    size_t j = 0;

    for (size_t i = 0; i < raw_len; i++, j++) {
        char c = raw[i];
        if (c == '%') {
            int hi, lo;
            if (i + 2 >= raw_len || (hi = hexval(raw[i + 1])) < 0 ||
                (lo = hexval(raw[i + 2])) < 0)
                return 0;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (j >= name_len || name[j] != c)
            return 0;
    }
    return j == name_len;
}

/* The query of a target: after the first '?' that comes before any
 * '#', up to that '#' (a fragment is not sent in HTTP, but a target with
 * a raw '#' must not have a '?' inside it read as a query). */
static const char *
query_of(const char *target, size_t len, const char **end)
{
    const char *hash = memchr(target, '#', len);
    const char *stop = hash ? hash : target + len;
    const char *q = memchr(target, '?', (size_t)(stop - target));

    if (!q)
        return NULL;
    *end = stop;
    return q + 1;
}

size_t
ak_query_find(const char *target, size_t len, const char *name, size_t name_len,
              const char **value, size_t *value_len)
{
    const char *end, *p = query_of(target, len, &end);
    size_t found = 0;

    while (p && p <= end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        const char *name_end = eq ? eq : stop;

        if (name_is(p, (size_t)(name_end - p), name, name_len)) {
            if (!found++) {
                *value = eq ? eq + 1 : stop;
                *value_len = eq ? (size_t)(stop - (eq + 1)) : 0;
            }
        }
        if (!amp)
            break;
        p = amp + 1;
    }
    return found;
}

static int
names_match(const char *raw, size_t raw_len, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (name_is(raw, raw_len, names[i], strlen(names[i])))
            return 1;
    return 0;
}

int
ak_query_remove(const char *target, size_t len, const char *const *names,
                size_t n, char **out, size_t *out_len)
{
    const char *end, *q = query_of(target, len, &end), *p = q;
    char *o;
    size_t w, kept = 0;
    int removed = 0;

    if (!q)
        return 0;
    o = malloc(len + 1);
    if (!o)
        return -1;
    /* The path and the '?' first; the '?' goes if nothing follows. */
    w = (size_t)(q - target);
    memcpy(o, target, w);
    while (p <= end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        const char *name_end = eq ? eq : stop;

        if (names_match(p, (size_t)(name_end - p), names, n)) {
            removed = 1;
        } else if (stop > p) {
            if (kept++)
                o[w++] = '&';
            memcpy(o + w, p, (size_t)(stop - p));
            w += (size_t)(stop - p);
        }
        if (!amp)
            break;
        p = amp + 1;
    }
    if (!removed) {
        free(o);
        return 0;
    }
    if (!kept)
        w--; /* the '?' */
    memcpy(o + w, end, (size_t)(target + len - end));
    w += (size_t)(target + len - end);
    o[w] = '\0';
    *out = o;
    *out_len = w;
    return 1;
}

/* One cookie pair at p (white space skipped), up to ';' or `end`. */
typedef struct cookie_pair {
    const char *name, *value, *next;
    size_t name_len, value_len;
    const char *start, *stop; /* the pair as written, trimmed */
} cookie_pair;

static void
cookie_next(const char *p, const char *end, cookie_pair *c)
{
    const char *semi, *eq, *stop;

    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    semi = p < end ? memchr(p, ';', (size_t)(end - p)) : NULL;
    stop = semi ? semi : end;
    c->next = semi ? semi + 1 : NULL;
    while (stop > p && (stop[-1] == ' ' || stop[-1] == '\t'))
        stop--;
    c->start = p;
    c->stop = stop;
    eq = memchr(p, '=', (size_t)(stop - p));
    c->name = p;
    c->name_len = (size_t)((eq ? eq : stop) - p);
    while (c->name_len &&
           (p[c->name_len - 1] == ' ' || p[c->name_len - 1] == '\t'))
        c->name_len--;
    c->value = eq ? eq + 1 : stop;
    while (c->value < stop && (*c->value == ' ' || *c->value == '\t'))
        c->value++;
    c->value_len = (size_t)(stop - c->value);
    if (c->value_len >= 2 && c->value[0] == '"' &&
        c->value[c->value_len - 1] == '"') {
        c->value++;
        c->value_len -= 2;
    }
}

size_t
ak_cookie_find(const char *header, size_t len, const char *name,
               size_t name_len, const char **value, size_t *value_len)
{
    const char *p = header, *end = header + len;
    size_t found = 0;

    while (p) {
        cookie_pair c;
        cookie_next(p, end, &c);
        if (c.name_len == name_len && memcmp(c.name, name, name_len) == 0 &&
            !found++) {
            *value = c.value;
            *value_len = c.value_len;
        }
        p = c.next;
    }
    return found;
}

int
ak_cookie_remove(const char *header, size_t len, const char *const *names,
                 size_t n, char **out, size_t *out_len)
{
    const char *p = header, *end = header + len;
    /* "a;b" becomes "a; b": at most one more byte per ';'. */
    char *o = malloc(2 * len + 1);
    size_t w = 0;
    int removed = 0;

    if (!o)
        return -1;
    while (p) {
        cookie_pair c;
        int drop = 0;
        cookie_next(p, end, &c);
        for (size_t i = 0; i < n && !drop; i++)
            drop = c.name_len == strlen(names[i]) &&
                   memcmp(c.name, names[i], c.name_len) == 0;
        if (drop) {
            removed = 1;
        } else if (c.stop > c.start) {
            if (w) {
                o[w++] = ';';
                o[w++] = ' ';
            }
            memcpy(o + w, c.start, (size_t)(c.stop - c.start));
            w += (size_t)(c.stop - c.start);
        }
        p = c.next;
    }
    if (!removed) {
        free(o);
        return 0;
    }
    o[w] = '\0';
    *out = o;
    *out_len = w;
    return 1;
}
