/*
 * config.c - gwf/sdk_config.h: the one way plugins read their config.
 *
 * Every message is made here, so the words are the same in every plugin
 * and the docs can quote them. Each reader checks the JSON type first,
 * then the value, and never writes *out unless the value is good, so a
 * caller's default survives a mistake and parsing can go on.
 */
#define _DEFAULT_SOURCE /* explicit_bzero */
#include <gwf/sdk_config.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
gwf_cfg_init(gwf_cfg *c, gwf_instance *inst)
{
    c->inst = inst;
    c->status = GWF_OK;
    c->errors = 0;
}

gwf_status
gwf_cfg_status(const gwf_cfg *c)
{
    return c->status;
}

static gwf_status
note(gwf_cfg *c, gwf_status st)
{
    if (c->status == GWF_OK)
        c->status = st;
    return st;
}

/* -- Paths ------------------------------------------------------------------
 */

/* Append `text` to the NUL-terminated `buf` of `size` bytes at `*at`,
 * cutting what does not fit. */
static void
append(char *buf, size_t size, size_t *at, const char *text)
{
    size_t n = strlen(text);
    if (*at >= size - 1)
        return;
    if (n > size - 1 - *at)
        n = size - 1 - *at;
    memcpy(buf + *at, text, n);
    *at += n;
    buf[*at] = '\0';
}

const char *
gwf_cfg_member(char out[GWF_CFG_PATH_MAX], const char *path, const char *name)
{
    size_t at = 0;
    out[0] = '\0';
    if (path && *path) {
        append(out, GWF_CFG_PATH_MAX, &at, path);
        append(out, GWF_CFG_PATH_MAX, &at, ".");
    }
    append(out, GWF_CFG_PATH_MAX, &at, name);
    return out;
}

const char *
gwf_cfg_item(char out[GWF_CFG_PATH_MAX], const char *path, size_t index)
{
    char number[32];
    size_t at = 0;
    out[0] = '\0';
    snprintf(number, sizeof number, "[%zu]", index);
    append(out, GWF_CFG_PATH_MAX, &at, path ? path : "");
    append(out, GWF_CFG_PATH_MAX, &at, number);
    return out;
}

/* "a, b, c" from a NULL-terminated list. */
static void
join_words(char *out, size_t size, const char *const *words)
{
    size_t at = 0;
    out[0] = '\0';
    for (size_t i = 0; words[i]; i++) {
        if (i)
            append(out, size, &at, ", ");
        append(out, size, &at, words[i]);
    }
}

/* -- Reporting ------------------------------------------------------------ */

static gwf_status
vfail(gwf_cfg *c, const char *path, const char *fmt, va_list ap)
{
    char msg[512];
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    if (n < 0)
        n = 0;
    size_t len = (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1;
    c->errors++;
    if (c->inst && c->inst->host->config_error)
        c->inst->host->config_error(c->inst, path && *path ? path : NULL, msg,
                                    len);
    return note(c, GWF_ERR_BAD_ARGUMENT);
}

gwf_status
gwf_cfg_fail(gwf_cfg *c, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    gwf_status st = vfail(c, path, fmt, ap);
    va_end(ap);
    return st;
}

gwf_status
gwf_cfg_no_memory(gwf_cfg *c, const char *path)
{
    c->errors++;
    if (c->inst && c->inst->host->config_error)
        c->inst->host->config_error(c->inst, path && *path ? path : NULL,
                                    "out of memory", 13);
    return note(c, GWF_ERR_NO_MEMORY);
}

/* "expected <what>, found <kind>" */
static gwf_status
wrong_type(gwf_cfg *c, const char *path, const char *what, const json_t *v)
{
    return gwf_cfg_fail(c, path, "expected %s, found %s", what,
                        gwf_json_kind(v));
}

static gwf_status
required(gwf_cfg *c, const char *path, const char *what)
{
    return gwf_cfg_fail(c, path, "is required: expected %s", what);
}

/* Member `name` of obj, NULL when absent or null. */
static const json_t *
member(const json_t *obj, const char *name)
{
    const json_t *v = json_is_object(obj) ? json_object_get(obj, name) : NULL;
    return json_is_null(v) ? NULL : v;
}

/* -- Objects -----------------------------------------------------------------
 */

gwf_status
gwf_cfg_check_object(gwf_cfg *c, const char *path, const json_t *v,
                     const char *what, unsigned flags)
{
    if (!v || json_is_null(v))
        return flags & GWF_CFG_REQUIRED ? required(c, path, what) : GWF_OK;
    return json_is_object(v) ? GWF_OK : wrong_type(c, path, what, v);
}

gwf_status
gwf_cfg_known(gwf_cfg *c, const char *path, const json_t *obj,
              const char *const *known)
{
    if (!json_is_object(obj))
        return GWF_OK;
    char expected[512];
    join_words(expected, sizeof expected, known);
    gwf_status st = GWF_OK;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        size_t i = 0;
        while (known[i] && strcmp(known[i], key) != 0)
            i++;
        if (known[i])
            continue;
        char field[GWF_CFG_PATH_MAX];
        st = gwf_cfg_fail(c, gwf_cfg_member(field, path, key),
                          "unknown field; expected one of: %s", expected);
    }
    return st;
}

/* -- Typed members ------------------------------------------------------- */

/* The member, or NULL with *st set when absent (GWF_OK unless required). */
static const json_t *
fetch(gwf_cfg *c, const char *field, const json_t *obj, const char *name,
      unsigned flags, const char *what, gwf_status *st)
{
    const json_t *v = member(obj, name);
    *st = GWF_OK;
    if (!v && (flags & GWF_CFG_REQUIRED))
        *st = required(c, field, what);
    return v;
}

gwf_status
gwf_cfg_object(gwf_cfg *c, const char *path, const json_t *obj,
               const char *name, unsigned flags, const json_t **out)
{
    char field[GWF_CFG_PATH_MAX];
    gwf_cfg_member(field, path, name);
    gwf_status st;
    const json_t *v = fetch(c, field, obj, name, flags, "an object", &st);
    if (!v)
        return st;
    if (!json_is_object(v))
        return wrong_type(c, field, "an object", v);
    *out = v;
    return GWF_OK;
}

gwf_status
gwf_cfg_list(gwf_cfg *c, const char *path, const json_t *obj, const char *name,
             unsigned flags, size_t max, const json_t **out)
{
    char field[GWF_CFG_PATH_MAX];
    gwf_cfg_member(field, path, name);
    gwf_status st;
    const json_t *v = fetch(c, field, obj, name, flags, "a list", &st);
    if (!v)
        return st;
    if (!json_is_array(v))
        return wrong_type(c, field, "a list", v);
    size_t n = json_array_size(v);
    if (n == 0 && (flags & GWF_CFG_NONEMPTY))
        return gwf_cfg_fail(c, field,
                            "expected a list of at least 1 item, "
                            "found an empty list");
    if (max && n > max)
        return gwf_cfg_fail(c, field,
                            "expected a list of at most %zu items, found "
                            "%zu",
                            max, n);
    *out = v;
    return GWF_OK;
}

gwf_status
gwf_cfg_string(gwf_cfg *c, const char *path, const json_t *obj,
               const char *name, unsigned flags, const char **out)
{
    char field[GWF_CFG_PATH_MAX];
    gwf_cfg_member(field, path, name);
    const char *what =
        flags & GWF_CFG_NONEMPTY ? "a non-empty string" : "a string";
    gwf_status st;
    const json_t *v = fetch(c, field, obj, name, flags, what, &st);
    if (!v)
        return st;
    if (!json_is_string(v))
        return wrong_type(c, field, what, v);
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (strlen(s) != len)
        return gwf_cfg_fail(c, field,
                            "expected %s, found a string with a "
                            "NUL byte",
                            what);
    if (!len && (flags & GWF_CFG_NONEMPTY))
        return gwf_cfg_fail(c, field, "expected %s, found \"\"", what);
    *out = s;
    return GWF_OK;
}

gwf_status
gwf_cfg_bool(gwf_cfg *c, const char *path, const json_t *obj, const char *name,
             unsigned flags, int *out)
{
    char field[GWF_CFG_PATH_MAX];
    gwf_cfg_member(field, path, name);
    gwf_status st;
    const json_t *v = fetch(c, field, obj, name, flags, "true or false", &st);
    if (!v)
        return st;
    if (!json_is_boolean(v))
        return wrong_type(c, field, "true or false", v);
    *out = json_is_true(v);
    return GWF_OK;
}

gwf_status
gwf_cfg_int(gwf_cfg *c, const char *path, const json_t *obj, const char *name,
            unsigned flags, int64_t min, int64_t max, int64_t *out)
{
    char field[GWF_CFG_PATH_MAX];
    gwf_cfg_member(field, path, name);
    gwf_status st;
    const json_t *v = fetch(c, field, obj, name, flags, "an integer", &st);
    if (!v)
        return st;
    if (!json_is_integer(v))
        return wrong_type(c, field, "an integer", v);
    json_int_t n = json_integer_value(v);
    if (n < min || n > max)
        return gwf_cfg_fail(c, field,
                            "expected an integer from %" PRId64 " to %" PRId64
                            ", found %" PRId64,
                            min, max, (int64_t)n);
    *out = (int64_t)n;
    return GWF_OK;
}

/* A duration as text for messages: whole units where they fit. */
static void
duration_text(char *out, size_t size, uint64_t ns)
{
    static const struct {
        uint64_t ns;
        const char *unit;
    } units[] = {{3600000000000ull, "h"}, {60000000000ull, "m"},
                 {1000000000ull, "s"},    {1000000ull, "ms"},
                 {1000ull, "us"},         {1ull, "ns"}};
    if (ns == 0) {
        snprintf(out, size, "0s");
        return;
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (ns % units[i].ns == 0) {
            snprintf(out, size, "%" PRIu64 "%s", ns / units[i].ns,
                     units[i].unit);
            return;
        }
}

gwf_status
gwf_cfg_duration(gwf_cfg *c, const char *path, const json_t *obj,
                 const char *name, unsigned flags, uint64_t min_ns,
                 uint64_t max_ns, uint64_t *out_ns)
{
    static const char what[] = "a duration such as \"10s\" or \"1m30s\"";
    char field[GWF_CFG_PATH_MAX];
    gwf_cfg_member(field, path, name);
    gwf_status st;
    const json_t *v = fetch(c, field, obj, name, flags, what, &st);
    if (!v)
        return st;
    if (!json_is_string(v))
        return wrong_type(c, field, what, v);
    uint64_t ns;
    if (gwf_parse_duration(json_string_value(v), json_string_length(v), &ns) !=
        0)
        return gwf_cfg_fail(c, field, "expected %s, found \"%.40s\"", what,
                            json_string_value(v));
    if (ns < min_ns || ns > max_ns) {
        char lo[32], hi[32];
        duration_text(lo, sizeof lo, min_ns);
        duration_text(hi, sizeof hi, max_ns);
        return gwf_cfg_fail(c, field,
                            "expected a duration from %s to %s, found "
                            "\"%.40s\"",
                            lo, hi, json_string_value(v));
    }
    *out_ns = ns;
    return GWF_OK;
}

gwf_status
gwf_cfg_enum(gwf_cfg *c, const char *path, const json_t *obj, const char *name,
             unsigned flags, const char *const *values, int *out)
{
    char field[GWF_CFG_PATH_MAX], expected[512];
    gwf_cfg_member(field, path, name);
    join_words(expected, sizeof expected, values);
    gwf_status st;
    const json_t *v = member(obj, name);
    if (!v) {
        if (!(flags & GWF_CFG_REQUIRED))
            return GWF_OK;
        st = gwf_cfg_fail(c, field, "is required: expected one of: %s",
                          expected);
        return st;
    }
    if (!json_is_string(v))
        return gwf_cfg_fail(c, field, "expected one of: %s, found %s", expected,
                            gwf_json_kind(v));
    const char *s = json_string_value(v);
    for (int i = 0; values[i]; i++)
        if (strlen(values[i]) == json_string_length(v) &&
            strcmp(values[i], s) == 0) {
            *out = i;
            return GWF_OK;
        }
    return gwf_cfg_fail(c, field, "expected one of: %s, found \"%.40s\"",
                        expected, s);
}

/* -- Documents the manifests define ---------------------------------------- */

/* A reference {name, namespace?, ...}: "namespace/name" or "name" into
 * `ref`. The members other than name and namespace are the caller's. */
static gwf_status
reference(gwf_cfg *c, const char *field, const json_t *v, const char *kind,
          char ref[GWF_CFG_PATH_MAX])
{
    const char *name = NULL, *ns = NULL;
    gwf_status st = gwf_cfg_string(c, field, v, "name",
                                   GWF_CFG_REQUIRED | GWF_CFG_NONEMPTY, &name);
    if (gwf_cfg_string(c, field, v, "namespace", GWF_CFG_NONEMPTY, &ns) !=
        GWF_OK)
        st = GWF_ERR_BAD_ARGUMENT;
    if (st != GWF_OK)
        return st;
    size_t len = (ns ? strlen(ns) + 1 : 0) + strlen(name);
    if (len >= GWF_CFG_PATH_MAX)
        return gwf_cfg_fail(c, field,
                            "expected a %s reference of at most "
                            "%d characters",
                            kind, GWF_CFG_PATH_MAX - 1);
    size_t at = 0;
    ref[0] = '\0';
    if (ns) {
        append(ref, GWF_CFG_PATH_MAX, &at, ns);
        append(ref, GWF_CFG_PATH_MAX, &at, "/");
    }
    append(ref, GWF_CFG_PATH_MAX, &at, name);
    return GWF_OK;
}

/* Look `kind` `ref` up; the JSON, parsed, or NULL (reported). */
static json_t *
lookup(gwf_cfg *c, const char *field, const char *kind, const char *ref)
{
    gwf_view text;
    gwf_status st = c->inst->host->lookup_document(c->inst, kind, ref, &text);
    if (st == GWF_ERR_NOT_FOUND) {
        gwf_cfg_fail(c, field, "%s %s not found", kind, ref);
        return NULL;
    }
    if (st == GWF_ERR_NO_MEMORY) {
        gwf_cfg_no_memory(c, field);
        return NULL;
    }
    if (st != GWF_OK) {
        gwf_cfg_fail(c, field, "cannot look up %s %s (status %d)", kind, ref,
                     (int)st);
        return NULL;
    }
    json_error_t error;
    json_t *doc = json_loadb(text.ptr, text.len, 0, &error);
    if (!doc)
        gwf_cfg_no_memory(c, field); /* the host gave valid JSON */
    return doc;
}

/* The first endpoint of port `port` of a Service document (lookup of
 * kind "Service": the document plus the host's "endpoints"). */
static gwf_status
service_address(gwf_cfg *c, const char *field, const json_t *svc,
                const char *ref, int64_t port, gwf_cfg_backend *b)
{
    size_t i;
    const json_t *e;
    json_array_foreach(json_object_get(svc, "endpoints"), i, e)
    {
        if (json_integer_value(json_object_get(e, "port")) != port)
            continue;
        const json_t *first =
            json_array_get(json_object_get(e, "addresses"), 0);
        const json_t *host = json_object_get(first, "address");
        json_int_t p = json_integer_value(json_object_get(first, "port"));
        if (!first)
            return gwf_cfg_fail(c, field,
                                "Service %s port %" PRId64 " has no ready "
                                "endpoint (no EndpointSlice address)",
                                ref, port);
        if (!json_is_string(host) || !json_string_length(host) ||
            json_string_length(host) >= sizeof b->host ||
            strlen(json_string_value(host)) != json_string_length(host) ||
            p < 1 || p > 65535)
            return gwf_cfg_fail(c, field,
                                "Service %s port %" PRId64 ": endpoint "
                                "address or port unusable",
                                ref, port);
        memcpy(b->host, json_string_value(host), json_string_length(host) + 1);
        b->port = (uint16_t)p;
        return GWF_OK;
    }
    return gwf_cfg_fail(c, field, "Service %s has no port %" PRId64, ref, port);
}

gwf_status
gwf_cfg_backend_ref(gwf_cfg *c, const char *path, const json_t *obj,
                    const char *name, unsigned flags, int want_spec,
                    gwf_cfg_backend *out)
{
    static const char *const known[] = {"name",  "namespace", "port", "kind",
                                        "group", "weight",    NULL};
    static const char what[] = "a reference {name, namespace?, port?, kind?} "
                               "to a Service or a static Backend";
    char field[GWF_CFG_PATH_MAX], sub[GWF_CFG_PATH_MAX];
    gwf_cfg_member(field, path, name);
    const json_t *v = member(obj, name);
    if (!v)
        return flags & GWF_CFG_REQUIRED ? required(c, field, what) : GWF_OK;
    if (!json_is_object(v))
        return wrong_type(c, field, what, v);
    gwf_status st = gwf_cfg_known(c, field, v, known);
    const char *kind = NULL, *group = NULL;
    int64_t port = 0, weight = 0;
    if (gwf_cfg_string(c, field, v, "kind", 0, &kind) != GWF_OK ||
        gwf_cfg_string(c, field, v, "group", 0, &group) != GWF_OK ||
        gwf_cfg_int(c, field, v, "port", 0, 1, 65535, &port) != GWF_OK ||
        gwf_cfg_int(c, field, v, "weight", 0, 0, 1000000, &weight) != GWF_OK)
        st = GWF_ERR_BAD_ARGUMENT;
    /* The Gateway API's BackendRef: kind defaults to Service (core group,
     * written "" or left out); kgateway's Backend is kind Backend of
     * gateway.kgateway.dev. */
    bool service = !kind || strcmp(kind, "Service") == 0;
    if (kind && !service && strcmp(kind, "Backend") != 0)
        st = gwf_cfg_fail(c, gwf_cfg_member(sub, field, "kind"),
                          "expected \"Service\" or \"Backend\", found "
                          "\"%.40s\"",
                          kind);
    else if (kind && service && group && *group && strcmp(group, "core") != 0)
        st = gwf_cfg_fail(c, gwf_cfg_member(sub, field, "group"),
                          "expected \"\" (core) for a Service, found "
                          "\"%.40s\"",
                          group);
    else if (kind && !service && group && *group &&
             strcmp(group, "gateway.kgateway.dev") != 0)
        st = gwf_cfg_fail(c, gwf_cfg_member(sub, field, "group"),
                          "expected \"gateway.kgateway.dev\", found "
                          "\"%.40s\"",
                          group);
    gwf_cfg_backend b;
    memset(&b, 0, sizeof b);
    if (reference(c, field, v, service ? "Service" : "Backend", b.ref) !=
            GWF_OK ||
        st != GWF_OK)
        return GWF_ERR_BAD_ARGUMENT;
    if (service) {
        /* Without a kind, a static Backend of the name is taken when no
         * Service has it: how gwf's own manifests named peers before
         * Services were read. */
        gwf_view text;
        bool fallback =
            !kind && c->inst->host->lookup_document(c->inst, "Service", b.ref,
                                                    &text) == GWF_ERR_NOT_FOUND;
        if (!fallback) {
            if (!port)
                return gwf_cfg_fail(c, gwf_cfg_member(sub, field, "port"),
                                    "a backendRef to a Service needs the "
                                    "Service's port");
            json_t *svc =
                lookup(c, gwf_cfg_member(sub, field, "name"), "Service", b.ref);
            if (!svc)
                return c->status;
            gwf_status got = service_address(
                c, gwf_cfg_member(sub, field, "name"), svc, b.ref, port, &b);
            json_decref(svc);
            if (got != GWF_OK)
                return got;
            *out = b;
            return GWF_OK;
        }
    }
    json_t *spec =
        lookup(c, gwf_cfg_member(sub, field, "name"), "Backend", b.ref);
    if (!spec)
        return c->status;
    const json_t *first = json_array_get(
        json_object_get(json_object_get(spec, "static"), "hosts"), 0);
    const json_t *host = json_object_get(first, "host");
    const json_t *hport = json_object_get(first, "port");
    if (!json_is_string(host) || !json_string_length(host) ||
        json_string_length(host) >= sizeof b.host ||
        strlen(json_string_value(host)) != json_string_length(host) ||
        !json_is_integer(hport) || json_integer_value(hport) < 1 ||
        json_integer_value(hport) > 65535) {
        json_decref(spec);
        return gwf_cfg_fail(c, gwf_cfg_member(sub, field, "name"),
                            "Backend %s: expected a static Backend with "
                            "hosts[0].host and hosts[0].port (1-65535)",
                            b.ref);
    }
    memcpy(b.host, json_string_value(host), json_string_length(host) + 1);
    b.port = (uint16_t)(port ? port : json_integer_value(hport));
    if (want_spec)
        b.spec = spec;
    else
        json_decref(spec);
    *out = b;
    return GWF_OK;
}

gwf_status
gwf_cfg_secret_ref(gwf_cfg *c, const char *path, const json_t *obj,
                   const char *name, unsigned flags, const char *key,
                   char **out, size_t *len)
{
    static const char *const known[] = {"name", "namespace", NULL};
    static const char what[] = "a reference {name, namespace?} to a Secret";
    char field[GWF_CFG_PATH_MAX], ref[GWF_CFG_PATH_MAX];
    gwf_cfg_member(field, path, name);
    const json_t *v = member(obj, name);
    if (!v)
        return flags & GWF_CFG_REQUIRED ? required(c, field, what) : GWF_OK;
    if (!json_is_object(v))
        return wrong_type(c, field, what, v);
    gwf_status st = gwf_cfg_known(c, field, v, known);
    if (reference(c, field, v, "Secret", ref) != GWF_OK || st != GWF_OK)
        return GWF_ERR_BAD_ARGUMENT;
    json_t *doc = lookup(c, field, "Secret", ref);
    if (!doc)
        return c->status;
    char *value = NULL;
    size_t n = 0;
    const json_t *s = json_object_get(json_object_get(doc, "stringData"), key);
    const json_t *d = json_object_get(json_object_get(doc, "data"), key);
    if (json_is_string(s)) {
        n = json_string_length(s);
        value = malloc(n + 1);
        if (value)
            memcpy(value, json_string_value(s), n + 1);
    } else if (json_is_string(d) &&
               gwf_base64_decode(json_string_value(d), json_string_length(d),
                                 &value, &n) != 0) {
        json_decref(doc);
        return gwf_cfg_fail(
            c, field, "Secret %s: data.%.64s is not standard base64", ref, key);
    }
    int present = json_is_string(s) || json_is_string(d);
    json_decref(doc);
    if (present && !value)
        return gwf_cfg_no_memory(c, field);
    if (!value || !n || strlen(value) != n) {
        gwf_secret_free(value, n);
        return gwf_cfg_fail(c, field,
                            "Secret %s: expected a non-empty value without "
                            "NUL bytes in stringData.%.64s or data.%.64s",
                            ref, key, key);
    }
    *out = value;
    *len = n;
    return GWF_OK;
}

void
gwf_secret_free(char *s, size_t len)
{
    if (!s)
        return;
    explicit_bzero(s, len);
    free(s);
}

/* -- Lists of strings ------------------------------------------------------
 */

/* One item of a list of strings, with gwf_cfg_string's checks and words. */
static gwf_status
string_item(gwf_cfg *c, const char *field, const json_t *v, unsigned flags)
{
    const char *what =
        flags & GWF_CFG_NONEMPTY ? "a non-empty string" : "a string";
    if (!json_is_string(v))
        return wrong_type(c, field, what, v);
    size_t len = json_string_length(v);
    if (strlen(json_string_value(v)) != len)
        return gwf_cfg_fail(c, field,
                            "expected %s, found a string with a "
                            "NUL byte",
                            what);
    if (!len && (flags & GWF_CFG_NONEMPTY))
        return gwf_cfg_fail(c, field, "expected %s, found \"\"", what);
    return GWF_OK;
}

gwf_status
gwf_cfg_string_list(gwf_cfg *c, const char *path, const json_t *obj,
                    const char *name, unsigned flags, unsigned item_flags,
                    size_t max, const char ***out, size_t *count)
{
    char field[GWF_CFG_PATH_MAX], item[GWF_CFG_PATH_MAX];
    const json_t *list = NULL;
    gwf_status st = gwf_cfg_list(c, path, obj, name, flags, max, &list);
    if (st != GWF_OK || !list)
        return st;
    gwf_cfg_member(field, path, name);
    size_t n = json_array_size(list);
    for (size_t i = 0; i < n; i++)
        if (string_item(c, gwf_cfg_item(item, field, i),
                        json_array_get(list, i), item_flags) != GWF_OK)
            st = GWF_ERR_BAD_ARGUMENT;
    if (st != GWF_OK)
        return st;
    const char **strings = calloc(n + 1, sizeof *strings);
    if (!strings)
        return gwf_cfg_no_memory(c, field);
    for (size_t i = 0; i < n; i++)
        strings[i] = json_string_value(json_array_get(list, i));
    *out = strings;
    *count = n;
    return GWF_OK;
}

/* -- Optional Secret keys ------------------------------------------------ */

/* Whether the Secret that reference `v` names has `key` (a non-null
 * member of stringData or data): 1 or 0; -1 when the reference or the
 * lookup is wrong, which gwf_cfg_secret_ref then reports. Reports
 * nothing itself. */
static int
secret_has_key(gwf_cfg *c, const json_t *v, const char *key)
{
    const json_t *name = json_object_get(v, "name");
    const json_t *ns = json_object_get(v, "namespace");
    char ref[GWF_CFG_PATH_MAX];
    gwf_view text;
    int n;

    if (!json_is_string(name) ||
        (ns && !json_is_null(ns) && !json_is_string(ns)))
        return -1;
    if (json_is_string(ns))
        n = snprintf(ref, sizeof ref, "%s/%s", json_string_value(ns),
                     json_string_value(name));
    else
        n = snprintf(ref, sizeof ref, "%s", json_string_value(name));
    if (n < 0 || (size_t)n >= sizeof ref ||
        c->inst->host->lookup_document(c->inst, "Secret", ref, &text) != GWF_OK)
        return -1;
    json_t *doc = json_loadb(text.ptr, text.len, 0, NULL);
    if (!doc)
        return -1;
    const json_t *s = json_object_get(json_object_get(doc, "stringData"), key);
    const json_t *d = json_object_get(json_object_get(doc, "data"), key);
    int has = (s && !json_is_null(s)) || (d && !json_is_null(d));
    json_decref(doc);
    return has;
}

gwf_status
gwf_cfg_secret_optional_key(gwf_cfg *c, const char *path, const json_t *obj,
                            const char *name, unsigned flags, const char *key,
                            char **out, size_t *len)
{
    static const char *const known[] = {"name", "namespace", NULL};
    char field[GWF_CFG_PATH_MAX];
    const json_t *v = member(obj, name);

    if (json_is_object(v) && secret_has_key(c, v, key) == 0)
        return gwf_cfg_known(c, gwf_cfg_member(field, path, name), v, known);
    return gwf_cfg_secret_ref(c, path, obj, name, flags, key, out, len);
}

/* -- Secret key selectors ------------------------------------------------ */

gwf_status
gwf_cfg_secret_key_ref(gwf_cfg *c, const char *path, const json_t *obj,
                       const char *name, unsigned flags,
                       const char *default_key, char **out, size_t *len)
{
    static const char *const known[] = {"name", "namespace", "key", NULL};
    static const char what[] = "a reference {name, namespace?, key?} to a "
                               "Secret";
    char field[GWF_CFG_PATH_MAX];
    const json_t *v = member(obj, name);
    const char *key = default_key;

    gwf_cfg_member(field, path, name);
    if (!v)
        return flags & GWF_CFG_REQUIRED ? required(c, field, what) : GWF_OK;
    if (!json_is_object(v))
        return wrong_type(c, field, what, v);
    gwf_status st = gwf_cfg_known(c, field, v, known);
    if (gwf_cfg_string(c, field, v, "key", GWF_CFG_NONEMPTY, &key) != GWF_OK)
        st = GWF_ERR_BAD_ARGUMENT;
    if (st != GWF_OK)
        return st;
    /* The reference without its key, under the same name: the rest is
     * gwf_cfg_secret_ref's, words and all. */
    json_t *holder = json_object(), *ref = json_copy((json_t *)v);
    if (!holder || !ref || json_object_set(holder, name, ref) != 0) {
        json_decref(holder);
        json_decref(ref);
        return gwf_cfg_no_memory(c, field);
    }
    json_decref(ref); /* holder's now */
    json_object_del(ref, "key");
    st = gwf_cfg_secret_ref(c, path, holder, name, flags, key, out, len);
    json_decref(holder);
    return st;
}
