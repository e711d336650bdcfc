/*
 * manifest_validate.c - the shape of each kind, and its references.
 *
 * Validation checks the shape of each kind and resolves references, and
 * reports every problem rather than the first: an operator fixing a
 * config wants the whole list. It checks what the runtime owns (kinds,
 * names, references, the fields that decide which plugin runs); what a
 * plugin's config means is that plugin's business, so here those nodes
 * only have to be mappings. It also builds the sorted index lookups use,
 * and finds duplicates by sorting, so a huge hostile file stays
 * O(n log n).
 */
#include "manifest_internal.h"

#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Validation context and generic checks                               */

/* More errors than this in one document are not listed: by then the
 * operator has loaded the wrong file, and the log should stay short. */
enum { MAX_DOC_ERRORS = 20 };

typedef struct check {
    const gwf_manifests *m;
    gwf_diag *d;
    const gwf_doc *doc;
    unsigned errors;
} check;

static void check_error(check *c, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
check_error(check *c, const char *field, const char *fmt, ...)
{
    c->errors++;
    if (c->errors > MAX_DOC_ERRORS)
        return;
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    if (c->errors == MAX_DOC_ERRORS)
        gwf_doc_errorf(c->d, c->doc, field,
                       "%s (too many errors in this document; the rest "
                       "are not listed)",
                       message);
    else
        gwf_doc_errorf(c->d, c->doc, field, "%s", message);
}

/* A field path for messages and gwf_node_find: parent.key, or
 * parent["key"] when the key is not a plain word. */
typedef struct field_path {
    char text[512];
} field_path;

static bool
is_plain_word(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++) {
        char ch = *s;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
            return false;
    }
    return true;
}

static const char *
path_key(field_path *p, const char *parent, const char *key)
{
    if (is_plain_word(key)) {
        snprintf(p->text, sizeof(p->text), "%s%s%s", parent, *parent ? "." : "",
                 key);
        return p->text;
    }
    size_t o = (size_t)snprintf(p->text, sizeof(p->text), "%s[\"", parent);
    /* Leave room for '"', ']' and NUL; a key too long to fit is cut,
     * and then gwf_node_find stops at the parent, which is still the
     * right neighbourhood for the line number. */
    for (const char *s = key; *s && o + 4 < sizeof(p->text); s++) {
        if (*s == '"' || *s == '\\')
            p->text[o++] = '\\';
        p->text[o++] = *s;
    }
    if (o > sizeof(p->text) - 3)
        o = sizeof(p->text) - 3;
    memcpy(p->text + o, "\"]", 3);
    return p->text;
}

static const char *
path_index(field_path *p, const char *parent, size_t index)
{
    snprintf(p->text, sizeof(p->text), "%s[%zu]", parent, index);
    return p->text;
}

static bool
expect_type(check *c, const gwf_node *n, gwf_node_type want, const char *field)
{
    if (gwf_node_type_of(n) == want)
        return true;
    char got[160];
    gwf_node_describe(n, got, sizeof(got));
    const char *article = want == GWF_NODE_INT ? "an" : "a";
    check_error(c, field, "expected %s %s, got %s", article,
                gwf_node_type_name(want), got);
    return false;
}

/* An optional mapping-valued field: NULL when absent or wrong (the
 * latter reported). */
static const gwf_node *
optional_map(check *c, const gwf_node *parent, const char *key,
             const char *field)
{
    const gwf_node *n = manifest_field_of(parent, key);
    if (!n || !expect_type(c, n, GWF_NODE_MAP, field))
        return NULL;
    return n;
}

static const gwf_node *
required(check *c, const gwf_node *parent, const char *key, const char *field)
{
    const gwf_node *n = manifest_field_of(parent, key);
    if (!n)
        check_error(c, field, "missing required field");
    return n;
}

static const gwf_node *
required_map(check *c, const gwf_node *parent, const char *key,
             const char *field)
{
    const gwf_node *n = required(c, parent, key, field);
    if (!n || !expect_type(c, n, GWF_NODE_MAP, field))
        return NULL;
    return n;
}

/* A required string without NUL bytes; NULL when missing or wrong. */
static const char *
required_string(check *c, const gwf_node *parent, const char *key,
                const char *field)
{
    const gwf_node *n = required(c, parent, key, field);
    if (!n || !expect_type(c, n, GWF_NODE_STRING, field))
        return NULL;
    const char *s = manifest_plain_string(n);
    if (!s)
        check_error(c, field, "must not contain NUL bytes");
    return s;
}

static const char *
optional_string(check *c, const gwf_node *parent, const char *key,
                const char *field)
{
    const gwf_node *n = manifest_field_of(parent, key);
    if (!n || !expect_type(c, n, GWF_NODE_STRING, field))
        return NULL;
    const char *s = manifest_plain_string(n);
    if (!s)
        check_error(c, field, "must not contain NUL bytes");
    return s;
}

/* Reports every key of `map` not in the NULL-terminated `known`. */
static void
check_known_fields(check *c, const gwf_node *map, const char *parent,
                   const char *const *known)
{
    char list[256];
    size_t o = 0;
    list[0] = '\0';
    for (const char *const *k = known; *k && o < sizeof(list); k++)
        o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s",
                              k == known ? "" : ", ", *k);
    for (size_t i = 0; i < gwf_node_size(map); i++) {
        const char *key = gwf_node_key_at(map, i);
        bool found = false;
        for (const char *const *k = known; *k && !found; k++)
            found = strcmp(*k, key) == 0;
        if (found)
            continue;
        field_path p;
        char quoted[128];
        gwf_quote(quoted, sizeof(quoted), key, strlen(key));
        check_error(c, path_key(&p, parent, key),
                    "unknown field %s (expected one of: %s)", quoted, list);
    }
}

static bool
check_int_at_least(check *c, const gwf_node *n, int64_t min, const char *field,
                   int64_t *out)
{
    int64_t value;
    if (gwf_node_int(n, &value) != 0) {
        char got[160];
        gwf_node_describe(n, got, sizeof(got));
        check_error(c, field, "expected an integer, got %s", got);
        return false;
    }
    if (value < min) {
        check_error(c, field, "must be at least %" PRId64 ", got %" PRId64, min,
                    value);
        return false;
    }
    if (out)
        *out = value;
    return true;
}

static bool
check_int_range(check *c, const gwf_node *n, int64_t min, int64_t max,
                const char *field)
{
    int64_t value;
    if (!check_int_at_least(c, n, min, field, &value))
        return false;
    if (value > max) {
        check_error(c, field, "must be at most %" PRId64 ", got %" PRId64, max,
                    value);
        return false;
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* Names, durations, base64                                            */

static bool
is_alnum_lower(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
}

/* RFC 1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most max bytes. */
static bool
is_dns_label(const char *s, size_t len, size_t max)
{
    if (len == 0 || len > max)
        return false;
    if (!is_alnum_lower(s[0]) || !is_alnum_lower(s[len - 1]))
        return false;
    for (size_t i = 0; i < len; i++)
        if (!is_alnum_lower(s[i]) && s[i] != '-')
            return false;
    return true;
}

/* Kubernetes' DNS-1123 subdomain: dot-separated labels, at most 253. */
static bool
is_dns_subdomain(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > 253)
        return false;
    const char *label = s;
    for (;;) {
        const char *dot = strchr(label, '.');
        size_t label_len = dot ? (size_t)(dot - label) : strlen(label);
        if (!is_dns_label(label, label_len, 253))
            return false;
        if (!dot)
            return true;
        label = dot + 1;
    }
}

/* A positive duration: one or more <integer><unit>, unit ms, s, m or h
 * ("1s", "500ms", "1m30s"). Returns milliseconds, or -1. */
static int64_t
parse_duration_ms(const char *s)
{
    const int64_t max_ms = INT64_MAX / 2;
    int64_t total = 0;
    if (!*s)
        return -1;
    while (*s) {
        int64_t value = 0;
        const char *digits = s;
        while (*s >= '0' && *s <= '9') {
            if (value > (max_ms - 9) / 10)
                return -1;
            value = value * 10 + (*s - '0');
            s++;
        }
        if (s == digits)
            return -1;
        int64_t unit;
        if (strncmp(s, "ms", 2) == 0) {
            unit = 1;
            s += 2;
        } else if (*s == 's') {
            unit = 1000;
            s++;
        } else if (*s == 'm') {
            unit = 60 * 1000;
            s++;
        } else if (*s == 'h') {
            unit = 60 * 60 * 1000;
            s++;
        } else {
            return -1;
        }
        if (value > (max_ms - total) / unit)
            return -1;
        total += value * unit;
    }
    return total > 0 ? total : -1;
}

static int
base64_value(char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+')
        return 62;
    if (ch == '/')
        return 63;
    return -1;
}

/* Standard, padded base64 (what Kubernetes stores in Secret.data). */
static bool
is_base64(const char *s, size_t len)
{
    if (len % 4 != 0)
        return false;
    size_t pad = 0;
    while (pad < 2 && pad < len && s[len - 1 - pad] == '=')
        pad++;
    for (size_t i = 0; i < len - pad; i++)
        if (base64_value(s[i]) < 0)
            return false;
    return true;
}

/* ------------------------------------------------------------------ */
/* GatewayExtension                                                    */

static bool
is_plugin_name(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > 64)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!is_alnum_lower(s[i]) && s[i] != '_' && s[i] != '-')
            return false;
    return true;
}

static void
check_plugin_spec(check *c, const gwf_node *plugin)
{
    static const char *const known[] = {"name", "path", "config", NULL};
    check_known_fields(c, plugin, "spec.plugin", known);
    const gwf_node *name = manifest_field_of(plugin, "name");
    const gwf_node *path = manifest_field_of(plugin, "path");
    if (name && path) {
        check_error(c, "spec.plugin.path", "set either name or path, not both");
    } else if (!name && !path) {
        check_error(c, "spec.plugin", "expected one of name, path");
    } else if (name) {
        const char *s = optional_string(c, plugin, "name", "spec.plugin.name");
        if (s && !is_plugin_name(s)) {
            char quoted[128];
            gwf_quote(quoted, sizeof(quoted), s, strlen(s));
            check_error(c, "spec.plugin.name",
                        "invalid plugin name %s (expected 1 to 64 of "
                        "a-z, 0-9, '_' and '-')",
                        quoted);
        }
    } else {
        const char *s = optional_string(c, plugin, "path", "spec.plugin.path");
        if (s && !*s)
            check_error(c, "spec.plugin.path", "must not be empty");
    }
    optional_map(c, plugin, "config", "spec.plugin.config");
}

static void
check_extension(check *c)
{
    static const char *const known[] = {"type", "extAuth", "rateLimit",
                                        "jwt",  "plugin",  NULL};
    const gwf_node *spec = c->doc->spec;
    check_known_fields(c, spec, "spec", known);

    int present = 0;
    ext_type first = EXT_INVALID;
    for (int t = 0; t < EXT_TYPE_COUNT; t++) {
        const char *field = manifest_ext_types[t].path;
        if (!manifest_field_of(spec, manifest_ext_types[t].field))
            continue;
        if (++present == 1) {
            first = (ext_type)t;
        } else {
            check_error(c, field,
                        "only one of extAuth, rateLimit, jwt, plugin may be "
                        "set, found %s and %s",
                        manifest_ext_types[first].field,
                        manifest_ext_types[t].field);
        }
        if (optional_map(c, spec, manifest_ext_types[t].field, field) &&
            t == EXT_PLUGIN)
            check_plugin_spec(c, manifest_field_of(spec, "plugin"));
    }
    if (present == 0)
        check_error(c, "spec",
                    "expected exactly one of extAuth, rateLimit, jwt, plugin");

    const char *type = optional_string(c, spec, "type", "spec.type");
    if (!type)
        return;
    int declared = EXT_INVALID;
    for (int t = 0; t < EXT_TYPE_COUNT; t++)
        if (strcmp(type, manifest_ext_types[t].type_name) == 0)
            declared = t;
    char quoted[128];
    gwf_quote(quoted, sizeof(quoted), type, strlen(type));
    if (declared == EXT_INVALID)
        check_error(c, "spec.type",
                    "unknown type %s (expected one of ExtAuth, RateLimit, "
                    "JWT, Plugin)",
                    quoted);
    else if (present == 1 && declared != (int)first)
        check_error(c, "spec.type",
                    "type %s does not match spec.%s (expected %s)", quoted,
                    manifest_ext_types[first].field,
                    manifest_ext_types[first].type_name);
}

/* ------------------------------------------------------------------ */
/* TrafficPolicy                                                       */

/* Resolves an extensionRef node (already known to be a mapping) to its
 * GatewayExtension; NULL when it does not resolve (reported). */
static const gwf_doc *
resolve_extension_ref(check *c, const gwf_node *ref, const char *field,
                      ext_type want)
{
    static const char *const known[] = {"name", "namespace", NULL};
    field_path name_field, ns_field;
    path_key(&name_field, field, "name");
    path_key(&ns_field, field, "namespace");
    check_known_fields(c, ref, field, known);
    const char *name = required_string(c, ref, "name", name_field.text);
    const char *ns = optional_string(c, ref, "namespace", ns_field.text);
    if (!name)
        return NULL;
    if (!ns)
        ns = c->doc->namespace_;
    const doc_rec *target = manifest_lookup(c->m, "GatewayExtension", ns,
                                            strlen(ns), name, strlen(name));
    if (!target) {
        check_error(c, name_field.text, "GatewayExtension %.*s/%.*s not found",
                    MAX_LABEL_NAME, ns, MAX_LABEL_NAME, name);
        return NULL;
    }
    ext_type got = target->ext;
    if (got == EXT_INVALID)
        return NULL; /* its own validation says why */
    if (got != want) {
        check_error(
            c, name_field.text,
            "GatewayExtension %.*s/%.*s is a %s extension (it sets "
            "spec.%s), expected %s (spec.%s)",
            MAX_LABEL_NAME, ns, MAX_LABEL_NAME, name,
            manifest_ext_types[got].type_name, manifest_ext_types[got].field,
            manifest_ext_types[want].type_name, manifest_ext_types[want].field);
        return NULL;
    }
    return &target->pub;
}

static const gwf_doc *
check_extension_ref(check *c, const gwf_node *parent, const char *field,
                    ext_type want)
{
    field_path p;
    path_key(&p, field, "extensionRef");
    const gwf_node *ref = required_map(c, parent, "extensionRef", p.text);
    return ref ? resolve_extension_ref(c, ref, p.text, want) : NULL;
}

/* `disable` switches a policy field off for the route: kgateway's
 * empty-object form `disable: {}` (shared.PolicyDisable), or true. */
bool
manifest_disabled(const gwf_node *field)
{
    const gwf_node *disable = manifest_field_of(field, "disable");
    int on;
    if (gwf_node_type_of(disable) == GWF_NODE_MAP)
        return true;
    return gwf_node_bool(disable, &on) == 0 && on;
}

/* A policy field with `disable` and an extensionRef (optional with
 * disable, required without). */
static void
check_disable_and_ref(check *c, const gwf_node *n, const char *field,
                      ext_type want)
{
    field_path p;
    path_key(&p, field, "disable");
    const gwf_node *disable = manifest_field_of(n, "disable");
    if (disable && gwf_node_type_of(disable) != GWF_NODE_MAP)
        expect_type(c, disable, GWF_NODE_BOOL, p.text);
    if (gwf_node_type_of(disable) == GWF_NODE_MAP &&
        gwf_node_size(disable) != 0)
        check_known_fields(c, disable, p.text, (const char *const[]){NULL});
    if (disable && manifest_field_of(n, "extensionRef"))
        check_error(c, field,
                    "expected exactly one of extensionRef and disable "
                    "(kgateway's rule), found both");
    else if (!manifest_disabled(n))
        check_extension_ref(c, n, field, want);
}

/* ExtAuthBufferSettings: maxRequestBytes (required, 1 or more),
 * allowPartialMessage, packAsBytes. */
static void
check_buffer_settings(check *c, const gwf_node *n, const char *field)
{
    static const char *const known[] = {
        "maxRequestBytes", "allowPartialMessage", "packAsBytes", NULL};
    field_path p;
    check_known_fields(c, n, field, known);
    path_key(&p, field, "maxRequestBytes");
    const gwf_node *max = required(c, n, "maxRequestBytes", p.text);
    if (max)
        check_int_range(c, max, 1, INT32_MAX, p.text);
    static const char *const flags[] = {"allowPartialMessage", "packAsBytes"};
    for (size_t i = 0; i < 2; i++) {
        const gwf_node *f = manifest_field_of(n, flags[i]);
        path_key(&p, field, flags[i]);
        if (f)
            expect_type(c, f, GWF_NODE_BOOL, p.text);
    }
}

static void
check_ext_auth(check *c, const gwf_node *ext_auth)
{
    static const char *const known[] = {"extensionRef", "contextExtensions",
                                        "withRequestBody", "disable", NULL};
    check_known_fields(c, ext_auth, "spec.extAuth", known);
    check_disable_and_ref(c, ext_auth, "spec.extAuth", EXT_AUTH);

    const gwf_node *context = optional_map(c, ext_auth, "contextExtensions",
                                           "spec.extAuth.contextExtensions");
    for (size_t i = 0; i < gwf_node_size(context); i++) {
        field_path p;
        path_key(&p, "spec.extAuth.contextExtensions",
                 gwf_node_key_at(context, i));
        expect_type(c, gwf_node_value_at(context, i), GWF_NODE_STRING, p.text);
    }
    const gwf_node *body = optional_map(c, ext_auth, "withRequestBody",
                                        "spec.extAuth.withRequestBody");
    if (body)
        check_buffer_settings(c, body, "spec.extAuth.withRequestBody");
}

/* kgateway's LocalRateLimitPolicy: tokenBucket optional (`local: {}`
 * switches a local limit set at a higher level off), percentEnabled and
 * percentEnforced 0-100, fillInterval at least 50ms. */
static void
check_local_rate_limit(check *c, const gwf_node *local)
{
    static const char *const local_known[] = {"tokenBucket", "percentEnabled",
                                              "percentEnforced", NULL};
    static const char *const bucket_known[] = {"maxTokens", "tokensPerFill",
                                               "fillInterval", NULL};
    const char *bucket_field = "spec.rateLimit.local.tokenBucket";
    check_known_fields(c, local, "spec.rateLimit.local", local_known);
    static const char *const percents[] = {"percentEnabled", "percentEnforced"};
    for (size_t i = 0; i < 2; i++) {
        field_path p;
        path_key(&p, "spec.rateLimit.local", percents[i]);
        const gwf_node *n = manifest_field_of(local, percents[i]);
        if (n)
            check_int_range(c, n, 0, 100, p.text);
    }
    const gwf_node *bucket =
        optional_map(c, local, "tokenBucket", bucket_field);
    if (!bucket)
        return;
    check_known_fields(c, bucket, bucket_field, bucket_known);

    const gwf_node *max = required(
        c, bucket, "maxTokens", "spec.rateLimit.local.tokenBucket.maxTokens");
    if (max)
        check_int_range(c, max, 1, INT32_MAX,
                        "spec.rateLimit.local.tokenBucket.maxTokens");
    const gwf_node *per_fill = manifest_field_of(bucket, "tokensPerFill");
    if (per_fill)
        check_int_range(c, per_fill, 1, INT32_MAX,
                        "spec.rateLimit.local.tokenBucket.tokensPerFill");
    const char *interval_field =
        "spec.rateLimit.local.tokenBucket.fillInterval";
    const char *interval =
        required_string(c, bucket, "fillInterval", interval_field);
    int64_t ms = interval ? parse_duration_ms(interval) : 0;
    if (interval && ms < 0) {
        char quoted[128];
        gwf_quote(quoted, sizeof(quoted), interval, strlen(interval));
        check_error(c, interval_field,
                    "invalid duration %s (expected a positive duration "
                    "such as \"1s\", \"500ms\", \"1m\" or \"1h\")",
                    quoted);
    } else if (interval && ms < 50) {
        check_error(c, interval_field, "must be at least 50ms, got %s",
                    interval);
    }
}

/* Whether a local limit is switched off: `local: {}` (or no tokenBucket). */
bool
manifest_local_rate_limit_off(const gwf_node *local)
{
    return manifest_field_of(local, "tokenBucket") == NULL;
}

static void
check_global_rate_limit(check *c, const gwf_node *global)
{
    static const char *const known[] = {"descriptors", "extensionRef", NULL};
    const char *field = "spec.rateLimit.global.descriptors";
    check_known_fields(c, global, "spec.rateLimit.global", known);
    const gwf_node *descriptors = required(c, global, "descriptors", field);
    if (descriptors && expect_type(c, descriptors, GWF_NODE_SEQ, field) &&
        gwf_node_size(descriptors) == 0)
        check_error(c, field, "must list at least one descriptor");
    check_extension_ref(c, global, "spec.rateLimit.global", EXT_RATE_LIMIT);
}

static void
check_rate_limit(check *c, const gwf_node *rate_limit)
{
    static const char *const known[] = {"local", "global", NULL};
    check_known_fields(c, rate_limit, "spec.rateLimit", known);
    const gwf_node *local = manifest_field_of(rate_limit, "local");
    const gwf_node *global = manifest_field_of(rate_limit, "global");
    if (!local && !global)
        check_error(c, "spec.rateLimit",
                    "expected at least one of local, global");
    if (optional_map(c, rate_limit, "local", "spec.rateLimit.local"))
        check_local_rate_limit(c, local);
    if (optional_map(c, rate_limit, "global", "spec.rateLimit.global"))
        check_global_rate_limit(c, global);
}

/* A `disable` of a policy field: kgateway's `disable: {}`
 * (shared.PolicyDisable, no fields), or true. */
static void
check_disable(check *c, const gwf_node *n, const char *field)
{
    field_path p;
    path_key(&p, field, "disable");
    const gwf_node *disable = manifest_field_of(n, "disable");
    if (disable && gwf_node_type_of(disable) != GWF_NODE_MAP)
        expect_type(c, disable, GWF_NODE_BOOL, p.text);
    if (gwf_node_type_of(disable) == GWF_NODE_MAP &&
        gwf_node_size(disable) != 0)
        check_known_fields(c, disable, p.text, (const char *const[]){NULL});
}

/* kgateway's ExactlyOneOf over the keys of `n` (presence counts, as for
 * the API server). */
static void
check_exactly_one_of(check *c, const gwf_node *n, const char *field,
                     const char *const *keys)
{
    size_t found = 0;
    char list[160];
    size_t o = 0;
    list[0] = '\0';
    for (const char *const *k = keys; *k; k++) {
        found += manifest_field_of(n, *k) != NULL;
        if (o < sizeof(list))
            o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s",
                                  k == keys ? "" : ", ", *k);
    }
    if (found != 1)
        check_error(c, field,
                    "expected exactly one of %s (kgateway's rule), found %zu",
                    list, found);
}

/* An optional list of at most max items; NULL when absent or wrong. */
static const gwf_node *
optional_list(check *c, const gwf_node *parent, const char *key,
              const char *field, size_t max)
{
    const gwf_node *n = manifest_field_of(parent, key);
    if (!n || !expect_type(c, n, GWF_NODE_SEQ, field))
        return NULL;
    if (gwf_node_size(n) > max)
        check_error(c, field, "must list at most %zu items, got %zu", max,
                    gwf_node_size(n));
    return n;
}

static void
optional_bool(check *c, const gwf_node *parent, const char *key,
              const char *field)
{
    const gwf_node *n = manifest_field_of(parent, key);
    if (n)
        expect_type(c, n, GWF_NODE_BOOL, field);
}

/* kgateway's CorsPolicy: the Gateway API's HTTPCORSFilter and disable.
 * The cors plugin checks the values (origins, methods, headers). */
static void
check_cors(check *c, const gwf_node *cors)
{
    static const char *const known[] = {
        "allowOrigins",  "allowCredentials", "allowMethods", "allowHeaders",
        "exposeHeaders", "maxAge",           "disable",      NULL};
    static const char *const lists[] = {"allowOrigins", "allowMethods",
                                        "allowHeaders", "exposeHeaders"};
    field_path p;
    check_known_fields(c, cors, "spec.cors", known);
    check_disable(c, cors, "spec.cors");
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
        optional_list(c, cors, lists[i], path_key(&p, "spec.cors", lists[i]),
                      SIZE_MAX);
    optional_bool(c, cors, "allowCredentials", "spec.cors.allowCredentials");
    const gwf_node *max_age = manifest_field_of(cors, "maxAge");
    if (max_age)
        check_int_at_least(c, max_age, 0, "spec.cors.maxAge", NULL);
}

/* kgateway's CSRFPolicy (no disable): percentageEnabled and
 * percentageShadowed 0-100, at most one of them; additionalOrigins at
 * most 16 StringMatchers, which the csrf plugin checks. */
static void
check_csrf(check *c, const gwf_node *csrf)
{
    static const char *const known[] = {
        "percentageEnabled", "percentageShadowed", "additionalOrigins", NULL};
    static const char *const percents[] = {"percentageEnabled",
                                           "percentageShadowed"};
    check_known_fields(c, csrf, "spec.csrf", known);
    for (size_t i = 0; i < 2; i++) {
        field_path p;
        const gwf_node *n = manifest_field_of(csrf, percents[i]);
        if (n)
            check_int_range(c, n, 0, 100,
                            path_key(&p, "spec.csrf", percents[i]));
    }
    if (manifest_field_of(csrf, percents[0]) &&
        manifest_field_of(csrf, percents[1]))
        check_error(c, "spec.csrf",
                    "expected at most one of percentageEnabled and "
                    "percentageShadowed (kgateway's rule), found both");
    optional_list(c, csrf, "additionalOrigins", "spec.csrf.additionalOrigins",
                  16);
}

/* A reference to a Secret: name (required), namespace and the other
 * keys of `known` (the plugin resolves it and reads the data). */
static void
check_secret_ref(check *c, const gwf_node *ref, const char *field,
                 const char *const *known)
{
    field_path p;
    check_known_fields(c, ref, field, known);
    const char *name =
        required_string(c, ref, "name", path_key(&p, field, "name"));
    if (name && !*name)
        check_error(c, p.text, "must not be empty");
    optional_string(c, ref, "namespace", path_key(&p, field, "namespace"));
}

/* kgateway's BasicAuthPolicy: exactly one of users (1 to 256 htpasswd
 * lines), secretRef {name, namespace?, key?}, disable. The basic_auth
 * plugin checks the lines and reads the Secret. */
static void
check_basic_auth(check *c, const gwf_node *basic)
{
    static const char *const known[] = {"users", "secretRef", "disable", NULL};
    static const char *const ref_known[] = {"name", "namespace", "key", NULL};
    check_known_fields(c, basic, "spec.basicAuth", known);
    check_exactly_one_of(c, basic, "spec.basicAuth", known);
    check_disable(c, basic, "spec.basicAuth");
    const gwf_node *users =
        optional_list(c, basic, "users", "spec.basicAuth.users", 256);
    if (users && gwf_node_size(users) == 0)
        check_error(c, "spec.basicAuth.users", "must list at least one user");
    const gwf_node *ref =
        optional_map(c, basic, "secretRef", "spec.basicAuth.secretRef");
    if (ref) {
        check_secret_ref(c, ref, "spec.basicAuth.secretRef", ref_known);
        const char *key =
            optional_string(c, ref, "key", "spec.basicAuth.secretRef.key");
        if (key && !*key)
            check_error(c, "spec.basicAuth.secretRef.key", "must not be empty");
    }
}

/* apiKeyAuth.secretSelector: {matchLabels}, a non-empty mapping of
 * strings. kgateway's selector with no label would pick every Secret
 * of the namespace (TLS keys included) as API keys; gwf refuses it. */
static void
check_secret_selector(check *c, const gwf_node *sel)
{
    static const char *const known[] = {"matchLabels", NULL};
    const char *field = "spec.apiKeyAuth.secretSelector.matchLabels";
    check_known_fields(c, sel, "spec.apiKeyAuth.secretSelector", known);
    const gwf_node *labels = required_map(c, sel, "matchLabels", field);
    if (!labels)
        return;
    if (gwf_node_size(labels) == 0)
        check_error(c, field,
                    "must name at least one label (an empty selector "
                    "would take every Secret of the namespace as API "
                    "keys)");
    for (size_t i = 0; i < gwf_node_size(labels); i++) {
        field_path p;
        path_key(&p, field, gwf_node_key_at(labels, i));
        const gwf_node *v = gwf_node_value_at(labels, i);
        if (expect_type(c, v, GWF_NODE_STRING, p.text) &&
            !manifest_plain_string(v))
            check_error(c, p.text, "must not contain NUL bytes");
    }
}

/* kgateway's Authorization: policy.matchExpressions (1-256 strings) and
 * action Allow | Deny. The rbac plugin compiles the CEL expressions and
 * reports each mistake with its column. */
static void
check_rbac(check *c, const gwf_node *rbac)
{
    static const char *const known[] = {"policy", "action", NULL};
    static const char *const policy_known[] = {"matchExpressions", NULL};
    check_known_fields(c, rbac, "spec.rbac", known);
    const char *action = optional_string(c, rbac, "action", "spec.rbac.action");
    if (action && strcmp(action, "Allow") != 0 && strcmp(action, "Deny") != 0)
        check_error(c, "spec.rbac.action", "expected Allow or Deny, found %s",
                    action);
    const gwf_node *policy =
        optional_map(c, rbac, "policy", "spec.rbac.policy");
    if (!policy) {
        check_error(c, "spec.rbac.policy", "is required");
        return;
    }
    check_known_fields(c, policy, "spec.rbac.policy", policy_known);
    const gwf_node *list =
        optional_list(c, policy, "matchExpressions",
                      "spec.rbac.policy.matchExpressions", 256);
    if (!list || gwf_node_size(list) == 0)
        check_error(c, "spec.rbac.policy.matchExpressions",
                    "expected 1 to 256 CEL expressions");
}

/* kgateway's APIKeyAuth: exactly one of secretRef, secretSelector,
 * disable; keySources at most 16, each with at least one of header,
 * query, cookie. The api_key_auth plugin checks the names and reads the
 * Secrets. */
static void
check_api_key_auth(check *c, const gwf_node *api)
{
    static const char *const known[] = {
        "keySources", "forwardCredential", "clientIdHeader",
        "secretRef",  "secretSelector",    "disable",
        NULL};
    static const char *const one_of[] = {"secretRef", "secretSelector",
                                         "disable", NULL};
    static const char *const source_known[] = {"header", "query", "cookie",
                                               NULL};
    static const char *const ref_known[] = {"group", "kind", "name",
                                            "namespace", NULL};
    check_known_fields(c, api, "spec.apiKeyAuth", known);
    check_exactly_one_of(c, api, "spec.apiKeyAuth", one_of);
    check_disable(c, api, "spec.apiKeyAuth");
    const gwf_node *sources =
        optional_list(c, api, "keySources", "spec.apiKeyAuth.keySources", 16);
    for (size_t i = 0; i < gwf_node_size(sources); i++) {
        /* Not path_index: a constant parent keeps the compiler's
         * truncation analysis quiet. */
        field_path item;
        snprintf(item.text, sizeof(item.text),
                 "spec.apiKeyAuth.keySources[%zu]", i);
        const gwf_node *s = gwf_node_at(sources, i);
        if (!expect_type(c, s, GWF_NODE_MAP, item.text))
            continue;
        check_known_fields(c, s, item.text, source_known);
        bool any = false;
        for (size_t k = 0; k < 3; k++) {
            field_path p;
            path_key(&p, item.text, source_known[k]);
            any = any || manifest_field_of(s, source_known[k]);
            optional_string(c, s, source_known[k], p.text);
        }
        if (!any)
            check_error(c, item.text,
                        "expected at least one of header, query, cookie");
    }
    optional_bool(c, api, "forwardCredential",
                  "spec.apiKeyAuth.forwardCredential");
    optional_string(c, api, "clientIdHeader", "spec.apiKeyAuth.clientIdHeader");
    const gwf_node *ref =
        optional_map(c, api, "secretRef", "spec.apiKeyAuth.secretRef");
    if (ref)
        check_secret_ref(c, ref, "spec.apiKeyAuth.secretRef", ref_known);
    const gwf_node *sel = optional_map(c, api, "secretSelector",
                                       "spec.apiKeyAuth.secretSelector");
    if (sel)
        check_secret_selector(c, sel);
}

/* Every field of kgateway's TrafficPolicySpec (anything else is an
 * "unknown field"). Those gwf does not implement yet are refused by
 * name, so the operator learns it is a real field gwf lacks, not a
 * typo. */
/* -- TrafficPolicy fields nginx does itself ----------------------------
 *
 * timeouts, retry, headerModifiers, buffer, compression, autoHostRewrite
 * and urlRewrite make no plugin: `gwf gateway` writes them as nginx
 * directives (host/gateway/read_route_policy.c decides what nginx can
 * honour). Here only their shapes, by kgateway's validation markers. */

/* kgateway's duration pattern ^([0-9]{1,5}(h|m|s|ms)){1,4}$; *ms gets
 * the value. */
static bool
kgateway_duration(const char *s, int64_t *ms)
{
    int groups = 0;
    *ms = 0;
    while (*s) {
        int digits = 0;
        int64_t v = 0;
        while (*s >= '0' && *s <= '9' && digits <= 5) {
            v = v * 10 + (*s++ - '0');
            digits++;
        }
        if (digits < 1 || digits > 5 || ++groups > 4)
            return false;
        int64_t unit = 0;
        if (s[0] == 'm' && s[1] == 's') {
            unit = 1;
            s += 2;
        } else if (*s == 'h') {
            unit = 3600000;
            s++;
        } else if (*s == 'm') {
            unit = 60000;
            s++;
        } else if (*s == 's') {
            unit = 1000;
            s++;
        } else {
            return false;
        }
        *ms += v * unit; /* at most 4 * 99999h: no overflow */
    }
    return groups > 0;
}

static void
check_kgateway_duration(check *c, const gwf_node *parent, const char *key,
                        const char *parent_field, int64_t min_ms)
{
    field_path p;
    const char *s =
        optional_string(c, parent, key, path_key(&p, parent_field, key));
    int64_t ms;
    if (!s)
        return;
    if (!kgateway_duration(s, &ms))
        check_error(c, p.text,
                    "invalid duration value %s (expected e.g. \"500ms\", "
                    "\"1m30s\")",
                    s);
    else if (ms < min_ms)
        check_error(c, p.text, "must be at least %lldms", (long long)min_ms);
}

static void
check_timeouts(check *c, const gwf_node *t)
{
    static const char *const known[] = {"request", "streamIdle", NULL};
    check_known_fields(c, t, "spec.timeouts", known);
    check_kgateway_duration(c, t, "request", "spec.timeouts", 0);
    check_kgateway_duration(c, t, "streamIdle", "spec.timeouts", 0);
}

static void
check_retry(check *c, const gwf_node *r)
{
    static const char *const known[] = {"retryOn",
                                        "attempts",
                                        "perTryTimeout",
                                        "statusCodes",
                                        "backoffBaseInterval",
                                        NULL};
    static const char *const conditions[] = {"5xx",
                                             "gateway-error",
                                             "reset",
                                             "reset-before-request",
                                             "connect-failure",
                                             "envoy-ratelimited",
                                             "retriable-4xx",
                                             "refused-stream",
                                             "retriable-status-codes",
                                             "http3-post-connect-failure",
                                             "cancelled",
                                             "deadline-exceeded",
                                             "internal",
                                             "resource-exhausted",
                                             "unavailable",
                                             NULL};
    field_path p;
    check_known_fields(c, r, "spec.retry", known);
    const gwf_node *on =
        optional_list(c, r, "retryOn", "spec.retry.retryOn", 64);
    const gwf_node *codes =
        optional_list(c, r, "statusCodes", "spec.retry.statusCodes", 200);
    if (!manifest_field_of(r, "retryOn") &&
        !manifest_field_of(r, "statusCodes"))
        check_error(c, "spec.retry", "retryOn or statusCodes must be set");
    if (on && gwf_node_size(on) == 0)
        check_error(c, "spec.retry.retryOn", "must list at least one item");
    if (codes && gwf_node_size(codes) == 0)
        check_error(c, "spec.retry.statusCodes", "must list at least one item");
    for (size_t i = 0; i < gwf_node_size(on); i++) {
        const char *s = gwf_node_str(gwf_node_at(on, i), NULL);
        size_t k = 0;
        while (s && conditions[k] && strcmp(conditions[k], s) != 0)
            k++;
        if (!s || !conditions[k])
            check_error(c, path_index(&p, "spec.retry.retryOn", i),
                        "not one of kgateway's retry conditions");
    }
    for (size_t i = 0; i < gwf_node_size(codes); i++)
        check_int_range(c, gwf_node_at(codes, i), 400, 599,
                        path_index(&p, "spec.retry.statusCodes", i));
    const gwf_node *attempts = manifest_field_of(r, "attempts");
    if (attempts)
        check_int_range(c, attempts, 0, 1000, "spec.retry.attempts");
    check_kgateway_duration(c, r, "perTryTimeout", "spec.retry", 1);
    check_kgateway_duration(c, r, "backoffBaseInterval", "spec.retry", 1);
}

static void
check_header_filter(check *c, const gwf_node *hf, const char *field)
{
    static const char *const known[] = {"set", "add", "remove", NULL};
    static const char *const header_known[] = {"name", "value", "secretRef",
                                               NULL};
    static const char *const ref_known[] = {"name", "namespace", "key", NULL};
    field_path ip, fp;
    char list[128]; /* field.key: short, so that path_index fits */
    check_known_fields(c, hf, field, known);
    if (!manifest_field_of(hf, "set") && !manifest_field_of(hf, "add") &&
        !manifest_field_of(hf, "remove"))
        check_error(c, field, "expected at least one of set, add, remove");
    for (size_t k = 0; k < 2; k++) {
        snprintf(list, sizeof list, "%s.%s", field, known[k]);
        const gwf_node *seq = optional_list(c, hf, known[k], list, 64);
        for (size_t i = 0; i < gwf_node_size(seq); i++) {
            const gwf_node *h = gwf_node_at(seq, i);
            path_index(&ip, list, i);
            if (!expect_type(c, h, GWF_NODE_MAP, ip.text))
                continue;
            check_known_fields(c, h, ip.text, header_known);
            bool value = manifest_field_of(h, "value") != NULL;
            /* kgateway: name is required with an inline value; with a
             * secretRef it may be left out (the key, or every key of
             * the Secret, names the header). */
            if (value)
                required_string(c, h, "name", path_key(&fp, ip.text, "name"));
            else
                optional_string(c, h, "name", path_key(&fp, ip.text, "name"));
            optional_string(c, h, "value", path_key(&fp, ip.text, "value"));
            const gwf_node *ref = optional_map(
                c, h, "secretRef", path_key(&fp, ip.text, "secretRef"));
            if (value == (manifest_field_of(h, "secretRef") != NULL))
                check_error(c, ip.text,
                            "expected exactly one of value and secretRef");
            if (ref) {
                check_secret_ref(c, ref, fp.text, ref_known);
                field_path kp;
                const char *key = optional_string(
                    c, ref, "key", path_key(&kp, fp.text, "key"));
                if (key && (!*key || strlen(key) > 253 ||
                            strspn(key, "-._abcdefghijklmnopqrstuvwxyz"
                                        "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                        "0123456789") != strlen(key)))
                    check_error(c, kp.text,
                                "expected 1 to 253 of [-._a-zA-Z0-9] (a "
                                "Secret data key)");
            }
        }
    }
    snprintf(list, sizeof list, "%s.remove", field);
    const gwf_node *rm = optional_list(c, hf, "remove", list, 64);
    for (size_t i = 0; i < gwf_node_size(rm); i++)
        expect_type(c, gwf_node_at(rm, i), GWF_NODE_STRING,
                    path_index(&ip, list, i));
}

static void
check_header_modifiers(check *c, const gwf_node *hm)
{
    static const char *const known[] = {"request", "response", NULL};
    check_known_fields(c, hm, "spec.headerModifiers", known);
    const gwf_node *n;
    if ((n = optional_map(c, hm, "request", "spec.headerModifiers.request")))
        check_header_filter(c, n, "spec.headerModifiers.request");
    if ((n = optional_map(c, hm, "response", "spec.headerModifiers.response")))
        check_header_filter(c, n, "spec.headerModifiers.response");
}

/* A resource.Quantity of bytes above 0 and below 4Gi: an integer, or
 * digits with a suffix (Ki, Mi, Gi, Ti, k, M, G, T). */
static bool
quantity_ok(const gwf_node *n)
{
    int64_t v;
    if (gwf_node_type_of(n) == GWF_NODE_INT)
        return gwf_node_int(n, &v) == 0 && v > 0 && v < (INT64_C(4) << 30);
    const char *s = gwf_node_str(n, NULL);
    if (!s || *s < '0' || *s > '9')
        return false;
    uint64_t x = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        x = x * 10 + (uint64_t)(*s - '0');
        if (x >= (UINT64_C(4) << 30))
            return false;
    }
    static const struct {
        const char *suffix;
        uint64_t mult;
    } units[] = {{"", 1},
                 {"Ki", 1u << 10},
                 {"Mi", 1u << 20},
                 {"Gi", 1u << 30},
                 {"Ti", UINT64_C(1) << 40},
                 {"k", 1000},
                 {"M", 1000000},
                 {"G", 1000000000},
                 {"T", UINT64_C(1000000000000)}};
    for (size_t u = 0; u < sizeof(units) / sizeof(units[0]); u++)
        if (strcmp(s, units[u].suffix) == 0)
            return x > 0 && x < (UINT64_C(4) << 30) / units[u].mult;
    return false;
}

static void
check_buffer(check *c, const gwf_node *b)
{
    static const char *const known[] = {"maxRequestSize", "disable", NULL};
    check_known_fields(c, b, "spec.buffer", known);
    check_exactly_one_of(c, b, "spec.buffer", known);
    check_disable(c, b, "spec.buffer");
    const gwf_node *max = manifest_field_of(b, "maxRequestSize");
    if (max && !quantity_ok(max))
        check_error(c, "spec.buffer.maxRequestSize",
                    "maxRequestSize must be greater than 0 and less than "
                    "4Gi (e.g. 1048576, \"512Ki\", \"1Mi\")");
}

static void
check_compression_side(check *c, const gwf_node *n, const char *field)
{
    static const char *const known[] = {"libraries", "disable", NULL};
    static const char *const libs_known[] = {"Gzip", "Brotli", "Zstd"};
    field_path ip;
    char list[128]; /* field.libraries: short, so that path_index fits */
    snprintf(list, sizeof list, "%s.libraries", field);
    check_known_fields(c, n, field, known);
    check_disable(c, n, field);
    const gwf_node *libs = optional_list(c, n, "libraries", list, 3);
    if (libs && gwf_node_size(libs) == 0)
        check_error(c, list, "must list at least one library");
    for (size_t i = 0; i < gwf_node_size(libs); i++) {
        const char *s = gwf_node_str(gwf_node_at(libs, i), NULL);
        bool known_lib = false, dup = false;
        for (size_t k = 0; s && k < 3; k++)
            known_lib = known_lib || strcmp(s, libs_known[k]) == 0;
        for (size_t k = 0; s && k < i; k++) {
            const char *t = gwf_node_str(gwf_node_at(libs, k), NULL);
            dup = dup || (t && strcmp(s, t) == 0);
        }
        if (!known_lib)
            check_error(c, path_index(&ip, list, i),
                        "expected Gzip, Brotli or Zstd");
        else if (dup)
            check_error(c, path_index(&ip, list, i),
                        "libraries must not contain duplicates");
    }
}

static void
check_compression(check *c, const gwf_node *n)
{
    static const char *const known[] = {"responseCompression",
                                        "requestDecompression", NULL};
    check_known_fields(c, n, "spec.compression", known);
    const gwf_node *m;
    if (!manifest_field_of(n, known[0]) && !manifest_field_of(n, known[1]))
        check_error(c, "spec.compression",
                    "expected at least one of responseCompression, "
                    "requestDecompression");
    if ((m = optional_map(c, n, known[0],
                          "spec.compression.responseCompression")))
        check_compression_side(c, m, "spec.compression.responseCompression");
    if ((m = optional_map(c, n, known[1],
                          "spec.compression.requestDecompression")))
        check_compression_side(c, m, "spec.compression.requestDecompression");
}

static void
check_url_rewrite(check *c, const gwf_node *n)
{
    static const char *const known[] = {"pathRegex", NULL};
    static const char *const regex_known[] = {"pattern", "substitution", NULL};
    check_known_fields(c, n, "spec.urlRewrite", known);
    const gwf_node *pr =
        required_map(c, n, "pathRegex", "spec.urlRewrite.pathRegex");
    if (!pr)
        return;
    check_known_fields(c, pr, "spec.urlRewrite.pathRegex", regex_known);
    for (size_t i = 0; i < 2; i++) {
        field_path p;
        const char *s = required_string(
            c, pr, regex_known[i],
            path_key(&p, "spec.urlRewrite.pathRegex", regex_known[i]));
        if (s && (!*s || strlen(s) > 1024))
            check_error(c, p.text, "must be 1 to 1024 characters");
    }
}

static void
check_nginx_fields(check *c, const gwf_node *spec)
{
    const gwf_node *n;
    if ((n = optional_map(c, spec, "timeouts", "spec.timeouts")))
        check_timeouts(c, n);
    if ((n = optional_map(c, spec, "retry", "spec.retry")))
        check_retry(c, n);
    if ((n = optional_map(c, spec, "headerModifiers", "spec.headerModifiers")))
        check_header_modifiers(c, n);
    if ((n = optional_map(c, spec, "buffer", "spec.buffer")))
        check_buffer(c, n);
    if ((n = optional_map(c, spec, "compression", "spec.compression")))
        check_compression(c, n);
    if ((n = optional_map(c, spec, "urlRewrite", "spec.urlRewrite")))
        check_url_rewrite(c, n);
    optional_bool(c, spec, "autoHostRewrite", "spec.autoHostRewrite");
}

static const char *const traffic_policy_fields[] = {
    "targetRefs",
    "targetSelectors",
    "extAuth",
    "jwtAuth",
    "rateLimit",
    "transformation",
    "extProc",
    "cors",
    "csrf",
    "headerModifiers",
    "autoHostRewrite",
    "buffer",
    "timeouts",
    "retry",
    "internalRedirect",
    "rbac",
    "urlRewrite",
    "compression",
    "basicAuth",
    "apiKeyAuth",
    "oauth2",
    "tracing",
    "faultInjection",
    "acl",
    "statPrefix",
    NULL,
};

/* kgateway's, not gwf's (yet): one per line. */
static const char *const traffic_policy_unsupported[] = {
    "transformation", "extProc", "internalRedirect", "oauth2", "tracing",
    "faultInjection", "acl",     "statPrefix",       NULL,
};

static bool
traffic_policy_field_unsupported(const char *key)
{
    for (size_t i = 0; traffic_policy_unsupported[i]; i++)
        if (strcmp(key, traffic_policy_unsupported[i]) == 0)
            return true;
    return false;
}

static void
check_traffic_policy(check *c)
{
    static const char *const jwt_known[] = {"extensionRef", "disable", NULL};
    const gwf_node *spec = c->doc->spec;
    check_known_fields(c, spec, "spec", traffic_policy_fields);
    for (size_t i = 0; i < gwf_node_size(spec); i++) {
        const char *key = gwf_node_key_at(spec, i);
        field_path p;
        if (key && traffic_policy_field_unsupported(key))
            check_error(c, path_key(&p, "spec", key),
                        "gwf does not implement TrafficPolicy's %s: a route "
                        "this policy targets answers 500 rather than run "
                        "without it",
                        key);
    }

    /* Attachment is the translator's (gwf gateway); here only shapes. */
    static const char *const targets[] = {"targetRefs", "targetSelectors"};
    for (size_t i = 0; i < 2; i++) {
        const gwf_node *t = manifest_field_of(spec, targets[i]);
        field_path p;
        if (t)
            expect_type(c, t, GWF_NODE_SEQ, path_key(&p, "spec", targets[i]));
    }

    const gwf_node *n = optional_map(c, spec, "jwtAuth", "spec.jwtAuth");
    if (n) {
        check_known_fields(c, n, "spec.jwtAuth", jwt_known);
        check_disable_and_ref(c, n, "spec.jwtAuth", EXT_JWT);
    }
    n = optional_map(c, spec, "extAuth", "spec.extAuth");
    if (n)
        check_ext_auth(c, n);
    n = optional_map(c, spec, "rateLimit", "spec.rateLimit");
    if (n)
        check_rate_limit(c, n);
    check_nginx_fields(c, spec);
    if ((n = optional_map(c, spec, "cors", "spec.cors")))
        check_cors(c, n);
    if ((n = optional_map(c, spec, "csrf", "spec.csrf")))
        check_csrf(c, n);
    if ((n = optional_map(c, spec, "basicAuth", "spec.basicAuth")))
        check_basic_auth(c, n);
    if ((n = optional_map(c, spec, "apiKeyAuth", "spec.apiKeyAuth")))
        check_api_key_auth(c, n);
    if ((n = optional_map(c, spec, "rbac", "spec.rbac")))
        check_rbac(c, n);
}

/* ------------------------------------------------------------------ */
/* DirectResponse, Backend, Secret                                     */

static void
check_direct_response(check *c)
{
    (void)c; /* spec is a mapping (checked by the caller); the
                direct_response plugin checks status and body */
}

static void
check_static_hosts(check *c, const gwf_node *static_)
{
    static const char *const known[] = {"hosts", NULL};
    static const char *const host_known[] = {"host", "port", NULL};
    check_known_fields(c, static_, "spec.static", known);
    const gwf_node *hosts = required(c, static_, "hosts", "spec.static.hosts");
    if (!hosts || !expect_type(c, hosts, GWF_NODE_SEQ, "spec.static.hosts"))
        return;
    if (gwf_node_size(hosts) == 0)
        check_error(c, "spec.static.hosts", "must list at least one host");
    for (size_t i = 0; i < gwf_node_size(hosts); i++) {
        field_path item, host_field, port_field;
        path_index(&item, "spec.static.hosts", i);
        const gwf_node *entry = gwf_node_at(hosts, i);
        if (!expect_type(c, entry, GWF_NODE_MAP, item.text))
            continue;
        check_known_fields(c, entry, item.text, host_known);
        path_key(&host_field, item.text, "host");
        path_key(&port_field, item.text, "port");
        const char *host = required_string(c, entry, "host", host_field.text);
        if (host && !*host)
            check_error(c, host_field.text, "must not be empty");
        const gwf_node *port = required(c, entry, "port", port_field.text);
        int64_t value;
        if (port && check_int_at_least(c, port, 1, port_field.text, &value) &&
            value > 65535)
            check_error(c, port_field.text,
                        "must be at most 65535, got %" PRId64, value);
    }
}

/* spec.tls of a static Backend: how a plugin that talks to this backend
 * itself (ext_authz) connects: {caFile, serverName?}. Only the shape is
 * checked here; the plugin resolves caFile and reads it. */
static void
check_backend_tls(check *c, const gwf_node *tls)
{
    static const char *const known[] = {"caFile", "serverName", NULL};
    check_known_fields(c, tls, "spec.tls", known);
    const char *ca = required_string(c, tls, "caFile", "spec.tls.caFile");
    if (ca && !*ca)
        check_error(c, "spec.tls.caFile",
                    "must not be empty (expected a PEM file of CAs, "
                    "relative to this manifest's directory)");
    const char *name =
        optional_string(c, tls, "serverName", "spec.tls.serverName");
    if (name && (!*name || strpbrk(name, "/:@ ?#[]")))
        check_error(c, "spec.tls.serverName",
                    "expected a host name, without port, path or spaces");
}

static void
check_backend(check *c)
{
    static const char *const known[] = {"type", "static", "aws", "tls", NULL};
    const gwf_node *spec = c->doc->spec;
    check_known_fields(c, spec, "spec", known);
    const gwf_node *static_ = manifest_field_of(spec, "static");
    const gwf_node *aws = manifest_field_of(spec, "aws");
    if (static_ && aws)
        check_error(c, "spec.aws",
                    "only one of static, aws may be set, found both");
    else if (!static_ && !aws)
        check_error(c, "spec", "expected exactly one of static, aws");
    if (optional_map(c, spec, "static", "spec.static"))
        check_static_hosts(c, static_);
    optional_map(c, spec, "aws", "spec.aws");
    const gwf_node *tls = optional_map(c, spec, "tls", "spec.tls");
    if (tls && aws)
        check_error(c, "spec.tls",
                    "only a static Backend may set tls (this one is aws)");
    if (tls)
        check_backend_tls(c, tls);

    const char *type = optional_string(c, spec, "type", "spec.type");
    if (!type)
        return;
    char quoted[128];
    gwf_quote(quoted, sizeof(quoted), type, strlen(type));
    if (strcmp(type, "Static") != 0 && strcmp(type, "AWS") != 0)
        check_error(c, "spec.type", "unknown type %s (expected Static or AWS)",
                    quoted);
    else if (static_ && !aws && strcmp(type, "Static") != 0)
        check_error(c, "spec.type",
                    "type %s does not match spec.static (expected Static)",
                    quoted);
    else if (aws && !static_ && strcmp(type, "AWS") != 0)
        check_error(c, "spec.type",
                    "type %s does not match spec.aws (expected AWS)", quoted);
}

static void
check_secret(check *c)
{
    const gwf_node *root = c->doc->root;
    const gwf_node *data = optional_map(c, root, "data", "data");
    const gwf_node *string_data =
        optional_map(c, root, "stringData", "stringData");
    if (!manifest_field_of(root, "data") &&
        !manifest_field_of(root, "stringData"))
        check_error(c, NULL, "expected at least one of data, stringData");
    optional_string(c, root, "type", "type");

    for (size_t i = 0; i < gwf_node_size(data); i++) {
        field_path p;
        path_key(&p, "data", gwf_node_key_at(data, i));
        const gwf_node *value = gwf_node_value_at(data, i);
        size_t len;
        const char *s = gwf_node_str(value, &len);
        if (!expect_type(c, value, GWF_NODE_STRING, p.text))
            continue;
        if (!is_base64(s, len))
            check_error(c, p.text,
                        "invalid base64 (expected standard base64 with "
                        "'=' padding; use stringData for plain text)");
    }
    for (size_t i = 0; i < gwf_node_size(string_data); i++) {
        field_path p;
        path_key(&p, "stringData", gwf_node_key_at(string_data, i));
        expect_type(c, gwf_node_value_at(string_data, i), GWF_NODE_STRING,
                    p.text);
    }
}

/* ------------------------------------------------------------------ */
/* Documents                                                           */

/* The translator's kinds: the runtime checks their metadata only; the
 * Gateway API translator (host/gateway) reads and checks their specs. */
static void
check_translated(check *c)
{
    (void)c;
}

#define GATEWAY_API_V1 "gateway.networking.k8s.io/v1"
#define GATEWAY_API_V1BETA1 "gateway.networking.k8s.io/v1beta1"

static const struct kind_info {
    const char *kind;
    const char *api_versions[3]; /* accepted, the first is preferred */
    bool has_spec;
    void (*validate)(check *c);
} kinds[] = {
    {"GatewayExtension", {GWF_API_VERSION_GATEWAY}, true, check_extension},
    {"TrafficPolicy", {GWF_API_VERSION_GATEWAY}, true, check_traffic_policy},
    {"DirectResponse", {GWF_API_VERSION_GATEWAY}, true, check_direct_response},
    {"Backend", {GWF_API_VERSION_GATEWAY}, true, check_backend},
    {"Secret", {GWF_API_VERSION_CORE}, false, check_secret},
    {"GatewayClass",
     {GATEWAY_API_V1, GATEWAY_API_V1BETA1},
     true,
     check_translated},
    {"Gateway", {GATEWAY_API_V1, GATEWAY_API_V1BETA1}, true, check_translated},
    {"HTTPRoute",
     {GATEWAY_API_V1, GATEWAY_API_V1BETA1},
     true,
     check_translated},
    {"GRPCRoute", {GATEWAY_API_V1}, true, check_translated},
    {"ReferenceGrant",
     {GATEWAY_API_V1BETA1, GATEWAY_API_V1},
     true,
     check_translated},
    {"Namespace", {GWF_API_VERSION_CORE}, false, check_translated},
    {"Service", {GWF_API_VERSION_CORE}, true, check_translated},
    {"EndpointSlice", {"discovery.k8s.io/v1"}, false, check_translated},
    {"ConfigMap", {GWF_API_VERSION_CORE}, false, check_translated},
    {"HTTPListenerPolicy", {GWF_API_VERSION_GATEWAY}, true, check_translated},
    {"ListenerPolicy", {GWF_API_VERSION_GATEWAY}, true, check_translated},
    {"BackendConfigPolicy", {GWF_API_VERSION_GATEWAY}, true, check_translated},
};

static void
check_metadata(check *c)
{
    const gwf_node *metadata =
        required_map(c, c->doc->root, "metadata", "metadata");
    if (!metadata)
        return;
    char quoted[128];
    const char *name = required_string(c, metadata, "name", "metadata.name");
    if (name && !is_dns_subdomain(name)) {
        gwf_quote(quoted, sizeof(quoted), name, strlen(name));
        check_error(c, "metadata.name",
                    "invalid name %s (expected a DNS-1123 subdomain: "
                    "lowercase letters, digits, '-' and '.', starting and "
                    "ending with a letter or digit, at most 253 characters)",
                    quoted);
    }
    const char *ns =
        optional_string(c, metadata, "namespace", "metadata.namespace");
    if (ns && !is_dns_label(ns, strlen(ns), 63)) {
        gwf_quote(quoted, sizeof(quoted), ns, strlen(ns));
        check_error(c, "metadata.namespace",
                    "invalid namespace %s (expected a DNS-1123 label: "
                    "lowercase letters, digits and '-', starting and "
                    "ending with a letter or digit, at most 63 characters)",
                    quoted);
    }
}

static bool
api_version_accepted(const struct kind_info *info, const char *api_version)
{
    for (size_t i = 0; i < 3 && info->api_versions[i]; i++)
        if (strcmp(info->api_versions[i], api_version) == 0)
            return true;
    return false;
}

static const struct kind_info *
find_kind(const char *kind)
{
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strcmp(kinds[i].kind, kind) == 0)
            return &kinds[i];
    return NULL;
}

/* Checks one document; returns the number of errors found. */
unsigned
manifest_check_document(const gwf_manifests *m, const gwf_doc *doc, gwf_diag *d)
{
    check c = {.m = m, .d = d, .doc = doc};
    char quoted[128];
    const char *api_version =
        required_string(&c, doc->root, "apiVersion", "apiVersion");
    const char *kind = required_string(&c, doc->root, "kind", "kind");
    check_metadata(&c);
    if (!kind)
        return c.errors;

    const struct kind_info *info = find_kind(kind);
    if (!info) {
        /* The loader skips kinds gwf does not read; only a document
         * added some other way gets here. */
        gwf_quote(quoted, sizeof(quoted), kind, strlen(kind));
        check_error(&c, "kind", "unknown kind %s", quoted);
        return c.errors;
    }
    if (api_version && !api_version_accepted(info, api_version)) {
        gwf_quote(quoted, sizeof(quoted), api_version, strlen(api_version));
        check_error(&c, "apiVersion",
                    "unsupported apiVersion %s for kind %s (expected \"%s\")",
                    quoted, info->kind, info->api_versions[0]);
    }
    if (info->has_spec && !required_map(&c, doc->root, "spec", "spec"))
        return c.errors;
    info->validate(&c);
    return c.errors;
}

static int
build_index(gwf_manifests *m)
{
    doc_rec **index =
        malloc((m->doc_count ? m->doc_count : 1) * sizeof(*index));
    if (!index)
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < m->doc_count; i++)
        if (m->docs[i]->pub.kind && m->docs[i]->pub.name)
            index[n++] = m->docs[i];
    qsort(index, n, sizeof(*index), manifest_compare_doc_ptr);
    free(m->index);
    m->index = index;
    m->index_count = n;
    m->index_valid = true;
    return 0;
}

static void
report_duplicates(const gwf_manifests *m, gwf_diag *d)
{
    size_t first = 0;
    for (size_t i = 1; i < m->index_count; i++) {
        const doc_rec *a = m->index[first], *b = m->index[i];
        if (strcmp(a->pub.kind, b->pub.kind) != 0 ||
            strcmp(a->pub.namespace_, b->pub.namespace_) != 0 ||
            strcmp(a->pub.name, b->pub.name) != 0) {
            first = i;
            continue;
        }
        gwf_doc_errorf(d, &b->pub, "metadata.name",
                       "duplicate %.*s %.*s/%.*s (first defined at %s:%u)",
                       MAX_LABEL_KIND, b->pub.kind, MAX_LABEL_NAME,
                       b->pub.namespace_, MAX_LABEL_NAME, b->pub.name,
                       a->pub.file, a->pub.line);
    }
}

int
gwf_manifests_index(gwf_manifests *m, gwf_diag *d)
{
    size_t before = d->count;
    if (build_index(m) != 0)
        gwf_diag_addf(d, "out of memory while indexing manifests");
    return manifest_errors_since(d, before);
}

int
gwf_manifests_validate(gwf_manifests *m, gwf_diag *d)
{
    size_t before = d->count;
    if (build_index(m) != 0) {
        gwf_diag_addf(d, "out of memory while validating manifests");
        return manifest_errors_since(d, before);
    }
    for (size_t i = 0; i < m->doc_count; i++)
        manifest_check_document(m, &m->docs[i]->pub, d);
    report_duplicates(m, d);
    return manifest_errors_since(d, before);
}
