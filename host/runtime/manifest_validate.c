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

/* Every field of kgateway's TrafficPolicySpec (anything else is an
 * "unknown field"): the first TP_SUPPORTED are the ones gwf applies; each
 * of the others is refused by name, so the operator learns it is a real
 * field gwf lacks, not a typo. */
#define TP_SUPPORTED 5
static const char *const traffic_policy_fields[] = {
    "targetRefs", "targetSelectors", "extAuth", "jwtAuth", "rateLimit",
    /* kgateway's, not gwf's (yet) */
    "transformation", "extProc", "cors", "csrf", "headerModifiers",
    "autoHostRewrite", "buffer", "timeouts", "retry", "internalRedirect",
    "rbac", "urlRewrite", "compression", "basicAuth", "apiKeyAuth", "oauth2",
    "tracing", "faultInjection", "acl", "statPrefix", NULL};

static bool
traffic_policy_field_unsupported(const char *key)
{
    for (size_t i = TP_SUPPORTED; traffic_policy_fields[i]; i++)
        if (strcmp(key, traffic_policy_fields[i]) == 0)
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
