/*
 * read_route_policy.c - the TrafficPolicy fields nginx does itself.
 *
 * kgateway's TrafficPolicy has fields whose job nginx already does:
 * `timeouts`, `retry`, `headerModifiers`, `buffer`, `compression`,
 * `autoHostRewrite` and `urlRewrite`. No plugin runs them; the emitter
 * writes them as nginx directives in the locations the policy reaches
 * (emit_nginx.c). This file reads each TrafficPolicy's copy of them once
 * into a gw_route_policy, in the terms the emitter writes, and decides
 * whether nginx can honour them exactly enough: a retry-on condition
 * nginx has no equivalent for, request decompression (Debian's nginx has
 * no module for it), a codec other than gzip, a header modifier on a
 * header nginx itself manages, a header value from a Secret that is
 * missing, not granted or not a header value, a path regex that is not
 * anchored at both ends. Such a policy gets `unsupported` naming
 * the field, and every entry it reaches answers 500 (attach_policies.c)
 * rather than run without it. The shapes themselves are also the
 * runtime's to check (host/runtime/manifest_validate.c), so a malformed
 * field makes the policy Invalid there; here it only fails closed.
 */
#define _GNU_SOURCE
#define PCRE2_CODE_UNIT_WIDTH 8
#include <ctype.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "build.h"

/* Headers nginx writes or needs itself on the way to the upstream and
 * back: changing them through a modifier would not do what Envoy does. */
static const char *const managed_request[] = {"host",
                                              "content-length",
                                              "transfer-encoding",
                                              "connection",
                                              "keep-alive",
                                              "upgrade",
                                              "te",
                                              NULL};
static const char *const managed_response[] = {
    "content-length", "transfer-encoding", "connection",
    "keep-alive",     "upgrade",           NULL};

static void __attribute__((format(printf, 3, 4)))
refuse(gw_build *b, gw_route_policy *p, const char *fmt, ...)
{
    if (p->unsupported)
        return; /* the first reason is enough */
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0) {
        s = NULL;
        b->oom = true;
    }
    va_end(ap);
    p->unsupported = s;
}

static bool
present(const gwf_node *n)
{
    return n && gwf_node_type_of(n) != GWF_NODE_NULL;
}

/* `disable: {}` (kgateway's PolicyDisable) or `disable: true`. */
static bool
disabled(const gwf_node *map)
{
    const gwf_node *d = gwf_node_get(map, "disable");
    int on = 0;
    return gwf_node_type_of(d) == GWF_NODE_MAP ||
           (gwf_node_bool(d, &on) == 0 && on);
}

static bool
read_ms(gw_build *b, gw_route_policy *p, const gwf_node *map, const char *key,
        const char *path, uint64_t *out)
{
    const char *s = gw_node_string(map, key);
    if (!s || gw_parse_duration(s, out) != 0) {
        refuse(b, p, "%s.%s: not a duration", path, key);
        return false;
    }
    return true;
}

static void
read_timeouts(gw_build *b, gw_route_policy *p, const gwf_node *t)
{
    if (present(gwf_node_get(t, "request")))
        p->has_request_timeout = read_ms(b, p, t, "request", "spec.timeouts",
                                         &p->request_timeout_ms);
    if (present(gwf_node_get(t, "streamIdle")))
        p->has_stream_idle =
            read_ms(b, p, t, "streamIdle", "spec.timeouts", &p->stream_idle_ms);
}

static bool
nginx_retries_code(int c)
{
    return c == 403 || c == 404 || c == 429 || c == 500 || c == 502 ||
           c == 503 || c == 504;
}

static void
add_code(gw_build *b, gw_route_policy *p, int c)
{
    for (size_t i = 0; i < p->retry.code_count; i++)
        if (p->retry.codes[i] == c)
            return;
    int *slot =
        gw_push(b, &p->retry.codes, &p->retry.code_count, sizeof(*slot));
    if (slot)
        *slot = c;
}

static void
read_retry(gw_build *b, gw_route_policy *p, const gwf_node *r)
{
    int64_t v = 1; /* kgateway's default */
    const gwf_node *n = gwf_node_get(r, "attempts");
    if (present(n) && (gwf_node_int(n, &v) != 0 || v < 0 || v > 1000)) {
        refuse(b, p, "spec.retry.attempts: expected 0 to 1000");
        return;
    }
    p->has_retry = true;
    p->retry.attempts = (int)v;
    if (present(gwf_node_get(r, "perTryTimeout")))
        read_ms(b, p, r, "perTryTimeout", "spec.retry", &p->per_try_timeout_ms);
    /* nginx retries at once: the backoff is read and not applied, as for
     * an HTTPRoute's retry.backoff. */
    if (present(gwf_node_get(r, "backoffBaseInterval")))
        read_ms(b, p, r, "backoffBaseInterval", "spec.retry",
                &p->retry.backoff_ms);
    const gwf_node *on = gwf_node_get(r, "retryOn");
    for (size_t i = 0; i < gwf_node_size(on); i++) {
        const char *c = gwf_node_str(gwf_node_at(on, i), NULL);
        if (!c) {
            refuse(b, p, "spec.retry.retryOn[%zu]: expected a string", i);
            continue;
        }
        if (strcmp(c, "5xx") == 0) {
            add_code(b, p, 500);
            add_code(b, p, 502);
            add_code(b, p, 503);
            add_code(b, p, 504);
        } else if (strcmp(c, "gateway-error") == 0) {
            add_code(b, p, 502);
            add_code(b, p, 503);
            add_code(b, p, 504);
        } else if (strcmp(c, "reset") == 0 ||
                   strcmp(c, "connect-failure") == 0 ||
                   strcmp(c, "retriable-status-codes") == 0) {
            /* nginx's `error timeout` (always on), statusCodes below */
        } else {
            refuse(b, p,
                   "spec.retry.retryOn[%zu]: nginx has no retry condition "
                   "for %.64s (it can retry on 5xx, gateway-error, reset, "
                   "connect-failure, retriable-status-codes)",
                   i, c);
        }
    }
    const gwf_node *codes = gwf_node_get(r, "statusCodes");
    for (size_t i = 0; i < gwf_node_size(codes); i++) {
        int64_t c = 0;
        if (gwf_node_int(gwf_node_at(codes, i), &c) != 0 || c < 400 ||
            c > 599) {
            refuse(b, p, "spec.retry.statusCodes[%zu]: expected 400 to 599", i);
            continue;
        }
        if (!nginx_retries_code((int)c)) {
            refuse(b, p,
                   "spec.retry.statusCodes[%zu]: nginx cannot retry on "
                   "status %d (it can on 403, 404, 429, 500, 502, 503, 504)",
                   i, (int)c);
            continue;
        }
        add_code(b, p, (int)c);
    }
}

static bool
is_managed(const char *name, const char *const *list)
{
    for (size_t i = 0; list[i]; i++)
        if (strcasecmp(name, list[i]) == 0)
            return true;
    return false;
}

/* -- headerModifiers ----------------------------------------------------
 *
 * An entry of set or add takes its value inline (`value`) or from a
 * Secret (`secretRef`), as kgateway's translator resolves it: name and
 * key both given, name is the header and key the Secret's data key; only
 * one of them, it is both; neither, every entry of the Secret becomes a
 * header, in the order of their keys. The Secret is the policy's
 * namespace's unless secretRef names another, and then a ReferenceGrant
 * there must allow TrafficPolicies (gateway.kgateway.dev) from the
 * policy's namespace. kgateway fails the policy on a missing Secret,
 * grant or key, and Envoy refuses a value with CR, LF or NUL; here each
 * of those, a header name nginx manages, a key that is no header name
 * and a value with any control byte (which the emitter could not write)
 * or of more than 4096 bytes refuses the policy, naming the field and
 * the Secret but never the value. Values are read when the configuration
 * is rendered: a changed Secret needs a new render. */

#define MAX_VALUE 4096
#define MAX_SECRET_HEADERS 64 /* headers one whole-Secret entry adds */

static void
push_op(gw_build *b, gw_header_op **ops, size_t *count, gw_header_op_kind k,
        const char *name, char *value)
{
    gw_header_op *op = gw_push(b, ops, count, sizeof(*op));
    if (!op) {
        free(value);
        return;
    }
    op->op = k;
    op->name = gw_strdup(b, name);
    op->value = value;
}

/* A header name gwf may modify; refuses (naming `field`) when not. */
static bool
check_name(gw_build *b, gw_route_policy *p, const char *field, const char *name,
           const char *const *managed)
{
    if (!name || strlen(name) > 256 || !gw_valid_header_name(name)) {
        refuse(b, p, "%s: expected a header name", field);
        return false;
    }
    if (is_managed(name, managed)) {
        refuse(b, p, "%s: nginx manages the %.64s header itself", field, name);
        return false;
    }
    return true;
}

/* A Secret data key as Kubernetes allows it: 1 to 253 of [-._a-zA-Z0-9]
 * (each of them an HTTP token character). */
static bool
valid_secret_key(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n > 253)
        return false;
    for (const char *c = k; *c; c++)
        if (!isalnum((unsigned char)*c) && !strchr("-._", *c))
            return false;
    return true;
}

/* A header value from a Secret: 1 to MAX_VALUE bytes, no control byte
 * (tab included: the nginx configuration cannot carry it) and no NUL. */
static bool
valid_secret_value(const char *v, size_t len)
{
    if (len == 0 || len > MAX_VALUE)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c < 0x20 || c == 0x7f)
            return false;
    }
    return true;
}

enum lookup { FOUND, MISSING, NOT_BASE64, NO_MEMORY };

/* The Secret's entry `key`: stringData's (Kubernetes writes it over
 * data's) or data's, base64-decoded; malloc'd and NUL-terminated, *len
 * its bytes (a NUL inside is there for valid_secret_value to see). */
static enum lookup
secret_entry(const gwf_doc *secret, const char *key, char **out, size_t *len)
{
    const gwf_node *sd = gwf_node_get(secret->root, "stringData");
    const char *s = gwf_node_str(gwf_node_get(sd, key), len);
    *out = NULL;
    if (s) {
        *out = malloc(*len + 1);
        if (!*out)
            return NO_MEMORY;
        memcpy(*out, s, *len);
        (*out)[*len] = '\0';
        return FOUND;
    }
    const gwf_node *data = gwf_node_get(secret->root, "data");
    s = gwf_node_str(gwf_node_get(data, key), len);
    if (!s)
        return MISSING;
    *out = gw_base64_decode(s, *len, len);
    return *out ? FOUND : NOT_BASE64;
}

/* One header `name` from the Secret's entry `key`. */
static void
secret_header(gw_build *b, gw_route_policy *p, const char *field,
              const gwf_doc *secret, const char *key, const char *name,
              gw_header_op_kind kind, const char *const *managed,
              gw_header_op **ops, size_t *count)
{
    char *value = NULL;
    size_t len = 0;
    switch (secret_entry(secret, key, &value, &len)) {
    case NO_MEMORY:
        b->oom = true;
        return;
    case MISSING:
        refuse(b, p, "%s: Secret %s/%s has no key %s", field,
               secret->namespace_, secret->name, key);
        return;
    case NOT_BASE64:
        refuse(b, p, "%s: Secret %s/%s: data.%s is not base64", field,
               secret->namespace_, secret->name, key);
        return;
    case FOUND:
        break;
    }
    if (!valid_secret_value(value, len)) {
        free(value);
        refuse(b, p,
               "%s: the value of key %s in Secret %s/%s is not a header "
               "value (1 to %d bytes, no control character such as CR or "
               "LF, no trailing newline)",
               field, key, secret->namespace_, secret->name, MAX_VALUE);
        return;
    }
    if (!check_name(b, p, field, name, managed)) {
        free(value);
        return;
    }
    push_op(b, ops, count, kind, name, value);
}

static int
compare_strings(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* The keys of data and stringData, sorted, each once. */
static const char **
secret_keys(gw_build *b, const gwf_doc *secret, size_t *n)
{
    const gwf_node *maps[] = {gwf_node_get(secret->root, "data"),
                              gwf_node_get(secret->root, "stringData")};
    size_t total = gwf_node_size(maps[0]) + gwf_node_size(maps[1]);
    const char **keys = calloc(total ? total : 1, sizeof(*keys));
    *n = 0;
    if (!keys) {
        b->oom = true;
        return NULL;
    }
    for (size_t m = 0; m < 2; m++)
        for (size_t i = 0; i < gwf_node_size(maps[m]); i++) {
            const char *k = gwf_node_key_at(maps[m], i);
            if (k)
                keys[(*n)++] = k;
        }
    qsort(keys, *n, sizeof(*keys), compare_strings);
    size_t kept = 0;
    for (size_t i = 0; i < *n; i++)
        if (kept == 0 || strcmp(keys[kept - 1], keys[i]) != 0)
            keys[kept++] = keys[i];
    *n = kept;
    return keys;
}

/* Every entry of the Secret as a header named after its key. */
static void
secret_all(gw_build *b, gw_route_policy *p, const char *field,
           const gwf_doc *secret, gw_header_op_kind kind,
           const char *const *managed, gw_header_op **ops, size_t *count)
{
    size_t n = 0;
    const char **keys = secret_keys(b, secret, &n);
    if (!keys)
        return;
    if (n == 0 || n > MAX_SECRET_HEADERS)
        refuse(b, p,
               "%s: Secret %s/%s has %zu entries; each becomes a header, "
               "and 1 to %d are allowed",
               field, secret->namespace_, secret->name, n, MAX_SECRET_HEADERS);
    for (size_t i = 0; i < n && !p->unsupported && !b->oom; i++) {
        if (!valid_secret_key(keys[i])) {
            refuse(b, p,
                   "%s: Secret %s/%s has a key that is not a header name "
                   "(a key is 1 to 253 of [-._a-zA-Z0-9])",
                   field, secret->namespace_, secret->name);
            break;
        }
        secret_header(b, p, field, secret, keys[i], keys[i], kind, managed, ops,
                      count);
    }
    free(keys);
}

/* An entry of set or add with a secretRef (see above). */
static void
read_secret_header(gw_build *b, gw_route_policy *p, const gwf_node *e,
                   const char *field, gw_header_op_kind kind,
                   const char *const *managed, gw_header_op **ops,
                   size_t *count)
{
    char f[GW_PATH_MAX];
    const gwf_node *ref = gwf_node_get(e, "secretRef");
    const char *sname = gw_node_string(ref, "name");
    const char *key = gw_node_string(ref, "key");
    const char *ns = gw_node_string(ref, "namespace");
    const char *name = gw_node_string(e, "name");
    gw_path(f, field, "secretRef");
    if (present(gwf_node_get(e, "value"))) {
        refuse(b, p, "%s: expected exactly one of value and secretRef", field);
        return;
    }
    if (!sname || !*sname || strlen(sname) > 253 || gw_has_control(sname) ||
        (present(gwf_node_get(ref, "namespace")) &&
         (!ns || !*ns || strlen(ns) > 63 || gw_has_control(ns)))) {
        refuse(b, p, "%s: expected a Secret's name (and namespace)", f);
        return;
    }
    if (present(gwf_node_get(ref, "key")) && (!key || !valid_secret_key(key))) {
        refuse(b, p, "%s.key: expected 1 to 253 of [-._a-zA-Z0-9]", f);
        return;
    }
    if (present(gwf_node_get(e, "name")) &&
        !check_name(b, p, field, name, managed))
        return;
    const char *from = p->doc->namespace_;
    if (!ns)
        ns = from;
    if (!gw_ref_permitted_from(b, GW_KGATEWAY_GROUP, "TrafficPolicy", from, "",
                               "Secret", ns, sname)) {
        refuse(b, p,
               "%s: Secret %s/%s is in another namespace and no "
               "ReferenceGrant there allows TrafficPolicies from %s",
               f, ns, sname, from);
        return;
    }
    const gwf_doc *secret = gw_find(&b->secrets, ns, sname);
    if (!secret) {
        refuse(b, p, "%s: Secret %s/%s not found", f, ns, sname);
        return;
    }
    if (!key && !name)
        secret_all(b, p, f, secret, kind, managed, ops, count);
    else
        secret_header(b, p, f, secret, key ? key : name, name ? name : key,
                      kind, managed, ops, count);
}

static void
read_header_ops(gw_build *b, gw_route_policy *p, const gwf_node *hf,
                const char *path, const char *const *managed,
                gw_header_op **ops, size_t *count)
{
    static const char *const keys[] = {"set", "add", "remove"};
    static const gw_header_op_kind kinds[] = {GW_HEADER_SET, GW_HEADER_ADD,
                                              GW_HEADER_REMOVE};
    char field[GW_PATH_MAX], list[GW_PATH_MAX];
    for (size_t k = 0; k < 3; k++) {
        const gwf_node *seq = gwf_node_get(hf, keys[k]);
        if (gwf_node_size(seq) > 64) {
            refuse(b, p, "%s.%s: at most 64 entries", path, keys[k]);
            continue;
        }
        for (size_t i = 0; i < gwf_node_size(seq); i++) {
            const gwf_node *e = gwf_node_at(seq, i);
            gw_path_i(field, gw_path(list, path, keys[k]), i);
            if (kinds[k] == GW_HEADER_REMOVE) {
                const char *name = gwf_node_str(e, NULL);
                if (check_name(b, p, field, name, managed))
                    push_op(b, ops, count, GW_HEADER_REMOVE, name, NULL);
                continue;
            }
            if (present(gwf_node_get(e, "secretRef"))) {
                read_secret_header(b, p, e, field, kinds[k], managed, ops,
                                   count);
                continue;
            }
            const char *name = gw_node_string(e, "name");
            const char *value = gw_node_string(e, "value");
            if (!check_name(b, p, field, name, managed))
                continue;
            if (!value || strlen(value) > MAX_VALUE || gw_has_control(value)) {
                refuse(b, p, "%s.value: expected a header value", field);
                continue;
            }
            char *copy = gw_strdup(b, value);
            if (copy)
                push_op(b, ops, count, kinds[k], name, copy);
        }
    }
}

/* A resource.Quantity of bytes: digits and an optional suffix (Ki Mi Gi
 * Ti, k M G T); 0 on anything else or overflow. */
static uint64_t
parse_quantity(const gwf_node *n)
{
    int64_t i;
    if (gwf_node_type_of(n) != GWF_NODE_STRING && gwf_node_int(n, &i) == 0)
        return i > 0 ? (uint64_t)i : 0;
    const char *s = gwf_node_str(n, NULL);
    if (!s || !isdigit((unsigned char)*s))
        return 0;
    uint64_t v = 0;
    for (; isdigit((unsigned char)*s); s++) {
        if (v > (UINT64_MAX - 9) / 10)
            return 0;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    static const struct {
        const char *suffix;
        uint64_t mult;
    } units[] = {{"", 1},
                 {"Ki", 1ull << 10},
                 {"Mi", 1ull << 20},
                 {"Gi", 1ull << 30},
                 {"Ti", 1ull << 40},
                 {"k", 1000},
                 {"M", 1000000},
                 {"G", 1000000000},
                 {"T", 1000000000000ull}};
    for (size_t u = 0; u < sizeof units / sizeof units[0]; u++)
        if (strcmp(s, units[u].suffix) == 0)
            return v > UINT64_MAX / units[u].mult ? 0 : v * units[u].mult;
    return 0;
}

static void
read_buffer(gw_build *b, gw_route_policy *p, const gwf_node *n)
{
    if (disabled(n))
        return; /* no limit: max_request_size 0 */
    uint64_t v = parse_quantity(gwf_node_get(n, "maxRequestSize"));
    if (v == 0 || v >= (4ull << 30)) {
        refuse(b, p,
               "spec.buffer.maxRequestSize: expected a size above 0 and "
               "below 4Gi");
        return;
    }
    p->max_request_size = v;
}

static void
check_libraries(gw_build *b, gw_route_policy *p, const gwf_node *m,
                const char *path)
{
    const gwf_node *libs = gwf_node_get(m, "libraries");
    for (size_t i = 0; i < gwf_node_size(libs); i++) {
        const char *l = gwf_node_str(gwf_node_at(libs, i), NULL);
        if (!l || strcmp(l, "Gzip") != 0)
            refuse(b, p,
                   "%s.libraries[%zu]: nginx compresses with Gzip only, not "
                   "%.32s",
                   path, i, l ? l : "(not a string)");
    }
}

static void
read_compression(gw_build *b, gw_route_policy *p, const gwf_node *n)
{
    const gwf_node *rc = gwf_node_get(n, "responseCompression");
    const gwf_node *rd = gwf_node_get(n, "requestDecompression");
    p->gzip = -1;
    if (present(rc)) {
        p->gzip = disabled(rc) ? 0 : 1;
        if (p->gzip)
            check_libraries(b, p, rc, "spec.compression.responseCompression");
    }
    if (present(rd) && !disabled(rd))
        refuse(b, p,
               "spec.compression.requestDecompression: nginx has no module "
               "to decompress request bodies");
}

/* The nginx `rewrite` replacement for an RE2 substitution: \N becomes $N;
 * '$', '?' and other escapes are refused (nginx would read them as a
 * variable, query arguments, or something else). */
static char *
nginx_replacement(gw_build *b, gw_route_policy *p, const char *sub)
{
    size_t n = strlen(sub);
    char *out = malloc(n + 1);
    if (!out) {
        b->oom = true;
        return NULL;
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = sub[i];
        if (c == '\\' && i + 1 < n && isdigit((unsigned char)sub[i + 1])) {
            out[o++] = '$';
            out[o++] = sub[++i];
        } else if (c == '\\' || c == '$' || c == '?' || c == '{' || c == '}' ||
                   c == ';' || gw_has_control((char[]){c, 0})) {
            free(out);
            refuse(b, p,
                   "spec.urlRewrite.pathRegex.substitution: '%c' at %zu is "
                   "not supported (only text and \\1 .. \\9)",
                   c, i);
            return NULL;
        } else {
            out[o++] = c;
        }
    }
    out[o] = '\0';
    if (out[0] != '/') {
        free(out);
        refuse(b, p,
               "spec.urlRewrite.pathRegex.substitution: must start with '/' "
               "(the pattern replaces the whole path)");
        return NULL;
    }
    return out;
}

static void
read_url_rewrite(gw_build *b, gw_route_policy *p, const gwf_node *n)
{
    const gwf_node *pr = gwf_node_get(n, "pathRegex");
    const char *pat = gw_node_string(pr, "pattern");
    const char *sub = gw_node_string(pr, "substitution");
    if (!pat || !sub || !*pat || !*sub || strlen(pat) > 1024 ||
        strlen(sub) > 1024) {
        refuse(b, p,
               "spec.urlRewrite.pathRegex: pattern and substitution are "
               "required (1 to 1024 characters)");
        return;
    }
    size_t len = strlen(pat);
    /* Envoy replaces every match of the pattern; one anchored at both
     * ends matches the whole path once, which nginx's rewrite does. */
    if (pat[0] != '^' || pat[len - 1] != '$' ||
        (len >= 2 && pat[len - 2] == '\\')) {
        refuse(b, p,
               "spec.urlRewrite.pathRegex.pattern: nginx rewrites the whole "
               "path; the pattern must be anchored at both ends (^...$)");
        return;
    }
    if (gw_has_control(pat) || strchr(pat, '"') || strchr(pat, '\'')) {
        refuse(b, p,
               "spec.urlRewrite.pathRegex.pattern: control character "
               "or quote");
        return;
    }
    int err;
    PCRE2_SIZE off;
    pcre2_code *re =
        pcre2_compile((PCRE2_SPTR)pat, len, PCRE2_UTF, &err, &off, NULL);
    if (!re) {
        refuse(b, p,
               "spec.urlRewrite.pathRegex.pattern: not a regular expression "
               "(at %zu)",
               (size_t)off);
        return;
    }
    uint32_t groups = 0;
    pcre2_pattern_info(re, PCRE2_INFO_CAPTURECOUNT, &groups);
    pcre2_code_free(re);
    char *rep = nginx_replacement(b, p, sub);
    if (!rep)
        return;
    for (const char *d = strchr(rep, '$'); d; d = strchr(d + 1, '$'))
        if ((uint32_t)(d[1] - '0') > groups) {
            refuse(b, p,
                   "spec.urlRewrite.pathRegex.substitution: \\%c names no "
                   "group of the pattern",
                   d[1]);
            free(rep);
            return;
        }
    p->path_pattern = gw_strdup(b, pat);
    p->path_replacement = rep;
}

static void
read_one(gw_build *b, gw_route_policy *p, const gwf_doc *d)
{
    const gwf_node *spec = d->spec;
    const gwf_node *n;
    p->doc = d;
    p->gzip = -1;
    if (present(n = gwf_node_get(spec, "timeouts")))
        read_timeouts(b, p, n);
    if (present(n = gwf_node_get(spec, "retry")))
        read_retry(b, p, n);
    if (present(n = gwf_node_get(spec, "headerModifiers"))) {
        read_header_ops(b, p, gwf_node_get(n, "request"),
                        "spec.headerModifiers.request", managed_request,
                        &p->request_headers, &p->request_header_count);
        read_header_ops(b, p, gwf_node_get(n, "response"),
                        "spec.headerModifiers.response", managed_response,
                        &p->response_headers, &p->response_header_count);
    }
    if (present(n = gwf_node_get(spec, "buffer")))
        read_buffer(b, p, n);
    if (present(n = gwf_node_get(spec, "compression")))
        read_compression(b, p, n);
    int on = 0;
    if (present(n = gwf_node_get(spec, "autoHostRewrite"))) {
        if (gwf_node_bool(n, &on) != 0)
            refuse(b, p, "spec.autoHostRewrite: expected true or false");
        p->auto_host_rewrite = on != 0;
    }
    if (present(n = gwf_node_get(spec, "urlRewrite")))
        read_url_rewrite(b, p, n);
}

void
gw_read_route_policies(gw_build *b)
{
    gw_model *m = b->model;
    size_t n = 0;
    for (size_t i = 0; i < gwf_manifests_count(b->m); i++) {
        const gwf_doc *d = gwf_manifests_at(b->m, i);
        n += gw_streq(d->kind, "TrafficPolicy") && d->name &&
             gwf_node_type_of(d->spec) == GWF_NODE_MAP;
    }
    if (!n)
        return;
    m->route_policies = calloc(n, sizeof(*m->route_policies));
    if (!m->route_policies) {
        b->oom = true;
        return;
    }
    for (size_t i = 0; i < gwf_manifests_count(b->m); i++) {
        const gwf_doc *d = gwf_manifests_at(b->m, i);
        if (gw_streq(d->kind, "TrafficPolicy") && d->name &&
            gwf_node_type_of(d->spec) == GWF_NODE_MAP)
            read_one(b, &m->route_policies[m->route_policy_count++], d);
    }
}

const gw_route_policy *
gw_route_policy_of(const gw_model *m, const gwf_doc *d)
{
    for (size_t i = 0; i < m->route_policy_count; i++)
        if (m->route_policies[i].doc == d)
            return &m->route_policies[i];
    return NULL;
}

bool
gw_route_policy_sets(const gwf_doc *d, gw_route_field f)
{
    static const char *const keys[GW_RF_COUNT] = {
        "timeouts",    "retry",           "headerModifiers", "buffer",
        "compression", "autoHostRewrite", "urlRewrite"};
    return f < GW_RF_COUNT && present(gwf_node_get(d->spec, keys[f]));
}

static void
ops_free(gw_header_op *ops, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(ops[i].name);
        free(ops[i].value);
    }
    free(ops);
}

void
gw_route_policies_free(gw_model *m)
{
    for (size_t i = 0; i < m->route_policy_count; i++) {
        gw_route_policy *p = &m->route_policies[i];
        free(p->retry.codes);
        ops_free(p->request_headers, p->request_header_count);
        ops_free(p->response_headers, p->response_header_count);
        free(p->path_pattern);
        free(p->path_replacement);
        free(p->unsupported);
    }
    free(m->route_policies);
    m->route_policies = NULL;
    m->route_policy_count = 0;
}
