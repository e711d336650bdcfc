/*
 * util.c - memory, field reading and small parsers for the translator.
 *
 * Every document field goes through the gw_rd accessors so that a field of
 * the wrong type, a missing required field or a list longer than the
 * Gateway API allows (its kubebuilder MaxItems) is reported the same way:
 * one line naming the file, line, document and field, as the Kubernetes
 * API server would refuse the object. The limits also bound the work a
 * hostile document can cause (hostname intersection and precedence are
 * products of these counts).
 *
 * Arrays in the model are {pointer, count} without a capacity: gw_push
 * grows them to the next power of two when count reaches one, which keeps
 * appends amortised O(1) without a third field.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "build.h"

void *
gw_push(gw_build *b, void *arr, size_t *count, size_t size)
{
    void **slot = arr;
    size_t n = *count;
    if (n == 0 || (n & (n - 1)) == 0) {
        size_t cap = n ? n * 2 : 1;
        if (cap > SIZE_MAX / size) {
            b->oom = true;
            return NULL;
        }
        void *grown = realloc(*slot, cap * size);
        if (!grown) {
            b->oom = true;
            return NULL;
        }
        *slot = grown;
    }
    char *elem = (char *)*slot + n * size;
    memset(elem, 0, size);
    *count = n + 1;
    return elem;
}

char *
gw_strdup(gw_build *b, const char *s)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        b->oom = true;
    return d;
}

char *
gw_printf(gw_build *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0) {
        s = NULL;
        b->oom = true;
    }
    va_end(ap);
    return s;
}

bool
gw_streq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

const char *
gw_node_string(const gwf_node *map, const char *key)
{
    size_t len = 0;
    const char *s = gwf_node_str(gwf_node_get(map, key), &len);
    return s && strlen(s) == len ? s : NULL;
}

/* -- Field reading ------------------------------------------------------ */

void
gw_rd_init(gw_rd *r, gw_build *b, const gwf_doc *doc)
{
    r->b = b;
    r->doc = doc;
    r->errors = 0;
}

void
gw_rd_error(gw_rd *r, const char *path, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    r->errors++;
    r->b->error_count++;
    if (r->b->errors)
        gwf_doc_errorf(r->b->errors, r->doc, path, "%s", msg);
}

const char *
gw_path(char *buf, const char *parent, const char *key)
{
    snprintf(buf, GW_PATH_MAX, "%s.%s", parent, key);
    return buf;
}

const char *
gw_path_i(char *buf, const char *parent, size_t i)
{
    snprintf(buf, GW_PATH_MAX, "%s[%zu]", parent, i);
    return buf;
}

/* map[key], or NULL when absent or null; `present` says whether it was
 * there at all. */
static const gwf_node *
field(const gwf_node *map, const char *key)
{
    const gwf_node *n = gwf_node_get(map, key);
    return gwf_node_type_of(n) == GWF_NODE_NULL ? NULL : n;
}

static const gwf_node *
typed(gw_rd *r, const gwf_node *map, const char *key, const char *path,
      bool required, gwf_node_type want, const char *want_name)
{
    const gwf_node *n = field(map, key);
    if (!n) {
        if (required)
            gw_rd_error(r, path, "is required");
        return NULL;
    }
    if (gwf_node_type_of(n) != want) {
        char got[64];
        gwf_node_describe(n, got, sizeof(got));
        gw_rd_error(r, path, "expected %s, got %s", want_name, got);
        return NULL;
    }
    return n;
}

const gwf_node *
gw_rd_map(gw_rd *r, const gwf_node *map, const char *key, const char *path,
          bool required)
{
    return typed(r, map, key, path, required, GWF_NODE_MAP, "a mapping");
}

const gwf_node *
gw_rd_seq(gw_rd *r, const gwf_node *map, const char *key, const char *path,
          bool required, size_t max)
{
    const gwf_node *n =
        typed(r, map, key, path, required, GWF_NODE_SEQ, "a list");
    if (n && max && gwf_node_size(n) > max) {
        gw_rd_error(r, path, "has %zu items, at most %zu are allowed",
                    gwf_node_size(n), max);
        return NULL;
    }
    return n;
}

const char *
gw_rd_str(gw_rd *r, const gwf_node *map, const char *key, const char *path,
          bool required, size_t max_len)
{
    const gwf_node *n =
        typed(r, map, key, path, required, GWF_NODE_STRING, "a string");
    if (!n)
        return NULL;
    size_t len = 0;
    const char *s = gwf_node_str(n, &len);
    if (strlen(s) != len) {
        gw_rd_error(r, path, "must not contain NUL bytes");
        return NULL;
    }
    if (max_len && len > max_len) {
        gw_rd_error(r, path, "is %zu bytes long, at most %zu are allowed", len,
                    max_len);
        return NULL;
    }
    return s;
}

const char *
gw_rd_enum(gw_rd *r, const gwf_node *map, const char *key, const char *path,
           const char *const *allowed, const char *dflt)
{
    const char *s = gw_rd_str(r, map, key, path, false, 0);
    if (!s)
        return field(map, key) ? NULL : dflt;
    for (size_t i = 0; allowed[i]; i++)
        if (strcmp(s, allowed[i]) == 0)
            return allowed[i];
    char list[256] = "";
    size_t used = 0;
    for (size_t i = 0; allowed[i] && used < sizeof(list); i++)
        used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s",
                                 i ? ", " : "", allowed[i]);
    char quoted[64];
    gwf_quote(quoted, sizeof(quoted), s, strlen(s));
    gw_rd_error(r, path, "unsupported value %s (expected one of %s)", quoted,
                list);
    return NULL;
}

bool
gw_rd_int(gw_rd *r, const gwf_node *map, const char *key, const char *path,
          bool required, int64_t min, int64_t max, int64_t *out)
{
    const gwf_node *n = field(map, key);
    if (!n) {
        if (required)
            gw_rd_error(r, path, "is required");
        return false;
    }
    int64_t v;
    if (gwf_node_int(n, &v) != 0) {
        char got[64];
        gwf_node_describe(n, got, sizeof(got));
        gw_rd_error(r, path, "expected an integer, got %s", got);
        return false;
    }
    if (v < min || v > max) {
        gw_rd_error(r, path,
                    "must be between %" PRId64 " and %" PRId64 ", got %" PRId64,
                    min, max, v);
        return false;
    }
    *out = v;
    return true;
}

bool
gw_rd_duration(gw_rd *r, const gwf_node *map, const char *key, const char *path,
               uint64_t *out_ms)
{
    const char *s = gw_rd_str(r, map, key, path, false, 0);
    if (!s)
        return false;
    if (gw_parse_duration(s, out_ms) != 0) {
        char quoted[64];
        gwf_quote(quoted, sizeof(quoted), s, strlen(s));
        gw_rd_error(r, path,
                    "invalid duration %s (expected e.g. \"10s\", \"1h30m\", "
                    "\"500ms\": up to 4 parts of 1-5 digits and h, m, s or "
                    "ms)",
                    quoted);
        return false;
    }
    return true;
}

/* -- Parsers ------------------------------------------------------------ */

int
gw_parse_duration(const char *s, uint64_t *out_ms)
{
    uint64_t total = 0;
    int parts = 0;
    const char *p = s;
    if (!*p)
        return -1;
    while (*p) {
        int digits = 0;
        uint64_t v = 0;
        while (isdigit((unsigned char)*p)) {
            if (++digits > 5)
                return -1;
            v = v * 10 + (uint64_t)(*p++ - '0');
        }
        if (digits == 0 || ++parts > 4)
            return -1;
        uint64_t unit;
        if (p[0] == 'm' && p[1] == 's') {
            unit = 1;
            p += 2;
        } else if (*p == 'h') {
            unit = 3600000;
            p++;
        } else if (*p == 'm') {
            unit = 60000;
            p++;
        } else if (*p == 's') {
            unit = 1000;
            p++;
        } else {
            return -1;
        }
        total += v * unit; /* at most 4 * 99999h: no overflow */
    }
    *out_ms = total;
    return 0;
}

static int
digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)**p))
            return -1;
        v = v * 10 + (*(*p)++ - '0');
    }
    *out = v;
    return 0;
}

int
gw_parse_timestamp(const char *s, int64_t *out)
{
    const char *p = s;
    int y, mo, d, h, mi, se;
    if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
        digits(&p, 2, &d) || (*p != 'T' && *p != 't'))
        return -1;
    p++;
    if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' ||
        digits(&p, 2, &se))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
        return -1;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return -1;
        while (isdigit((unsigned char)*p))
            p++;
    }
    int offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1, oh, om;
        if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om))
            return -1;
        offset = sign * (oh * 3600 + om * 60);
    } else {
        return -1;
    }
    if (*p)
        return -1;
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = se};
    *out = (int64_t)timegm(&tm) - offset;
    return 0;
}

static int
b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

char *
gw_base64_decode(const char *s, size_t len, size_t *out_len)
{
    char *out = malloc(len / 4 * 3 + 4);
    if (!out)
        return NULL;
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0;
    bool padding = false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isspace(c))
            continue;
        if (c == '=') {
            padding = true;
            continue;
        }
        int v = b64_value(c);
        if (v < 0 || padding) {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (char)((acc >> bits) & 0xff);
        }
    }
    if (bits >= 6) { /* a lone 6-bit group is not base64 */
        free(out);
        return NULL;
    }
    out[n] = '\0';
    if (out_len)
        *out_len = n;
    return out;
}

char *
gw_ident(gw_build *b, const char *prefix, const char *a, const char *c,
         const char *d)
{
    char *s = gw_printf(b, "%s_%s%s%s%s%s", prefix, a ? a : "", c ? "_" : "",
                        c ? c : "", d ? "_" : "", d ? d : "");
    if (!s)
        return NULL;
    /* FNV-1a of the unfolded text, to tell long ids apart. */
    uint64_t hash = 14695981039346656037u;
    for (char *p = s; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        hash = (hash ^ ch) * 1099511628211u;
        if (ch >= 'A' && ch <= 'Z')
            *p = (char)(ch - 'A' + 'a');
        else if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')))
            *p = '_';
    }
    /* Names may be as long as Kubernetes allows (or longer, in a
     * hand-written file): keep the id within GW_ID_MAX, its head and the
     * hash of the whole; unique_ids settles what the hash does not. */
    if (strlen(s) > GW_ID_MAX)
        snprintf(s + GW_ID_MAX - 17, 18, "_%016" PRIx64, hash);
    return s;
}

/* -- Documents ---------------------------------------------------------- */

const gwf_doc *
gw_find(const gw_docs *docs, const char *ns, const char *name)
{
    if (!ns || !name)
        return NULL;
    for (size_t i = 0; i < docs->count; i++) {
        const gwf_doc *d = docs->items[i];
        if (gw_streq(d->name, name) && gw_streq(d->namespace_, ns))
            return d;
    }
    return NULL;
}

/* The value of label `key` on namespace `ns`, or NULL. */
static const char *
namespace_label(gw_build *b, const char *ns, const char *key)
{
    if (strcmp(key, "kubernetes.io/metadata.name") == 0)
        return ns;
    for (size_t i = 0; i < b->namespaces.count; i++) {
        const gwf_doc *d = b->namespaces.items[i];
        if (!gw_streq(d->name, ns))
            continue;
        const gwf_node *labels =
            gwf_node_get(gwf_node_get(d->root, "metadata"), "labels");
        return gw_node_string(labels, key);
    }
    return NULL;
}

static bool
value_in(const char *v, const gwf_node *values)
{
    for (size_t i = 0; v && i < gwf_node_size(values); i++) {
        const char *s = gwf_node_str(gwf_node_at(values, i), NULL);
        if (gw_streq(s, v))
            return true;
    }
    return false;
}

bool
gw_namespace_selected(gw_build *b, const char *ns, const gwf_node *sel)
{
    const gwf_node *labels = gwf_node_get(sel, "matchLabels");
    for (size_t i = 0; i < gwf_node_size(labels); i++) {
        const char *want = gwf_node_str(gwf_node_value_at(labels, i), NULL);
        const char *have = namespace_label(b, ns, gwf_node_key_at(labels, i));
        if (!gw_streq(want, have))
            return false;
    }
    const gwf_node *exprs = gwf_node_get(sel, "matchExpressions");
    for (size_t i = 0; i < gwf_node_size(exprs); i++) {
        const gwf_node *e = gwf_node_at(exprs, i);
        const char *key = gw_node_string(e, "key");
        const char *op = gw_node_string(e, "operator");
        if (!key || !op)
            return false;
        const char *have = namespace_label(b, ns, key);
        const gwf_node *values = gwf_node_get(e, "values");
        bool ok;
        if (strcmp(op, "In") == 0)
            ok = value_in(have, values);
        else if (strcmp(op, "NotIn") == 0)
            ok = !value_in(have, values);
        else if (strcmp(op, "Exists") == 0)
            ok = have != NULL;
        else if (strcmp(op, "DoesNotExist") == 0)
            ok = have == NULL;
        else
            ok = false;
        if (!ok)
            return false;
    }
    return true;
}

bool
gw_valid_hostname(const char *h)
{
    /* Lower-case DNS labels, optionally after "*."; no IP address, no
     * port, no empty label. */
    const char *p = h;
    if (p[0] == '*' && p[1] == '.')
        p += 2;
    if (!*p || *p == '.')
        return false;
    bool letter = false;
    for (; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '.' && (p[1] == '.' || p[1] == '\0'))
            return false;
        if (c >= 'a' && c <= 'z')
            letter = true;
        else if (!((c >= '0' && c <= '9') || c == '-' || c == '.'))
            return false;
    }
    return letter || h[0] == '*'; /* "10.0.0.1" is an address */
}

void
gw_rd_regex(gw_rd *r, const char *re, const char *path)
{
    int code;
    PCRE2_SIZE offset;
    pcre2_code *c = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, 0,
                                  &code, &offset, NULL);
    if (c) {
        pcre2_code_free(c);
        return;
    }
    PCRE2_UCHAR why[160];
    if (pcre2_get_error_message(code, why, sizeof(why)) < 0)
        snprintf((char *)why, sizeof(why), "error %d", code);
    gw_rd_error(r, path, "invalid regular expression at offset %zu: %s",
                (size_t)offset, (const char *)why);
}

bool
gw_valid_header_name(const char *name)
{
    /* RFC 7230 token, the API's HTTPHeaderName pattern. */
    static const char extra[] = "!#$%&'*+-.^_`|~";
    if (!*name)
        return false;
    for (const char *p = name; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || (c && strchr(extra, c))))
            return false;
    }
    return true;
}

bool
gw_valid_address(const char *s)
{
    unsigned char buf[16];
    if (inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1)
        return true;
    /* A DNS name: labels of letters, digits and '-', any case. */
    size_t label = 0, n = 0;
    for (const char *p = s; *p; p++, n++) {
        unsigned char c = (unsigned char)*p;
        if (c == '.') {
            if (label == 0)
                return false;
            label = 0;
        } else if (isalnum(c) || c == '-') {
            if (++label > 63)
                return false;
        } else {
            return false;
        }
    }
    return n > 0 && n <= 253 && label > 0;
}

bool
gw_has_control(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
            return true;
    return false;
}

bool
gw_labels_match(const gwf_doc *d, const gwf_node *want)
{
    const gwf_node *have =
        gwf_node_get(gwf_node_get(d->root, "metadata"), "labels");
    if (gwf_node_size(want) == 0)
        return false; /* an empty selector selects nothing */
    for (size_t i = 0; i < gwf_node_size(want); i++) {
        const char *v = gwf_node_str(gwf_node_value_at(want, i), NULL);
        const char *h = gw_node_string(have, gwf_node_key_at(want, i));
        if (!v || !h || strcmp(v, h) != 0)
            return false;
    }
    return true;
}
