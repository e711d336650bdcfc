/*
 * config.c - the GatewayExtension's spec.jwt (kgateway's shape, plus a
 * few of Envoy's jwt_authn options) into an immutable jwt_config that all
 * workers share read-only.
 *
 * Every mistake is reported with its field path ("providers[1].jwks"),
 * and parsing goes on after a mistake so that one `gwf validate` shows
 * them all. Strings point into the parsed document, which the config owns
 * until config_destroy. Keys are imported into OpenSSL here, once: a bad
 * inline JWKS fails the config, not the first request.
 */
#include <gwf/sdk_file.h>
#include <gwf/sdk_json.h>
#include "jwt_auth.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define JWT_DEFAULT_CLOCK_SKEW_S 60
#define JWT_DEFAULT_CACHE_ENTRIES 1024
#define JWT_MAX_CACHE_ENTRIES (1u << 20)

/* Refuse members not in `known` (NULL-terminated); `expected` lists them
 * for the message. */
static int
check_unknown(gwf_instance *inst, const char *path, json_t *obj,
              const char *const *known, const char *expected)
{
    const char *key;
    json_t *v;
    int bad = 0;

    json_object_foreach(obj, key, v) {
        size_t i = 0;
        char field[256];
        while (known[i] && strcmp(known[i], key) != 0)
            i++;
        if (known[i])
            continue;
        snprintf(field, sizeof(field), "%s%s%s", path, path[0] ? "." : "",
                 key);
        gwf_config_errorf(inst, field, "unknown field; expected %s",
                          expected);
        bad = 1;
    }
    return bad;
}

/* A non-empty string without NUL, or an error. */
static int
get_string(gwf_instance *inst, const char *field, const json_t *v,
           const char **out, const char *what)
{
    if (!json_is_string(v)) {
        gwf_config_errorf(inst, field, "expected %s, found %s", what,
                          gwf_json_kind(v));
        return 1;
    }
    if (json_string_length(v) == 0 ||
        strlen(json_string_value(v)) != json_string_length(v)) {
        gwf_config_errorf(inst, field, "expected %s, found %s", what,
                          json_string_length(v) ? "a string with NUL"
                                                : "an empty string");
        return 1;
    }
    *out = json_string_value(v);
    return 0;
}

static int
get_header_name(gwf_instance *inst, const char *field, const json_t *v,
                const char **out)
{
    if (get_string(inst, field, v, out, "a header name"))
        return 1;
    if (!gwf_is_header_name(*out, strlen(*out)) || (*out)[0] == ':') {
        gwf_config_errorf(inst, field,
                          "expected a header name (letters, digits and "
                          "!#$%%&'*+-.^_`|~), found \"%s\"",
                          *out);
        return 1;
    }
    return 0;
}

static int
get_bool(gwf_instance *inst, const char *field, const json_t *v, int *out)
{
    if (!v)
        return 0;
    if (!json_is_boolean(v)) {
        gwf_config_errorf(inst, field, "expected true or false, found %s",
                          gwf_json_kind(v));
        return 1;
    }
    *out = json_is_true(v);
    return 0;
}

/* A duration ("60s", "5m") or a number of seconds, in whole seconds. */
static int
get_seconds(gwf_instance *inst, const char *field, const json_t *v,
            int64_t *out)
{
    uint64_t ns;

    if (!v)
        return 0;
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = (int64_t)json_integer_value(v);
        return 0;
    }
    if (json_is_string(v) &&
        gwf_parse_duration(json_string_value(v), json_string_length(v), &ns)
            == 0) {
        *out = (int64_t)(ns / 1000000000u);
        return 0;
    }
    gwf_config_errorf(inst, field,
                      "expected a duration such as \"60s\" or \"5m\" (or "
                      "a number of seconds >= 0), found %s",
                      json_is_string(v) ? "a malformed duration"
                                        : gwf_json_kind(v));
    return 1;
}

/* get_seconds, and at most `max_s`: these durations are added to token
 * times and turned into nanoseconds, and a value beyond the bound is a
 * mistake (a clock skew of a century accepts every expired token). */
static int
get_bounded_seconds(gwf_instance *inst, const char *field, const json_t *v,
                    int64_t max_s, int64_t *out)
{
    int64_t seconds = *out;

    if (get_seconds(inst, field, v, &seconds))
        return 1;
    if (seconds > max_s) {
        gwf_config_errorf(inst, field,
                          "expected a duration of at most %" PRId64
                          "h, found %" PRId64 "s",
                          max_s / 3600, seconds);
        return 1;
    }
    *out = seconds;
    return 0;
}

static int
parse_token_source(jwt_config *cfg, jwt_provider *p, const char *path,
                   json_t *src)
{
    static const char *const known[] = {"header", "queryParameter", "cookie",
                                        NULL};
    gwf_instance *inst = cfg->instance;
    char field[256];
    json_t *header, *query, *cookie;
    int kinds;

    /* Default: Authorization: Bearer <token>, as kgateway and Envoy. */
    p->source = JWT_SOURCE_HEADER;
    p->source_name = "authorization";
    p->prefix = "Bearer ";
    if (!src)
        return 0;
    if (!json_is_object(src)) {
        gwf_config_errorf(inst, path,
                          "expected an object with one of header, "
                          "queryParameter or cookie, found %s",
                          gwf_json_kind(src));
        return 1;
    }
    if (check_unknown(inst, path, src, known,
                      "header, queryParameter or cookie"))
        return 1;
    header = json_object_get(src, "header");
    query = json_object_get(src, "queryParameter");
    cookie = json_object_get(src, "cookie");
    kinds = !!header + !!query + !!cookie;
    if (kinds != 1) {
        gwf_config_errorf(inst, path,
                          "expected exactly one of header, queryParameter "
                          "or cookie, found %d",
                          kinds);
        return 1;
    }
    if (query) {
        p->source = JWT_SOURCE_QUERY;
        snprintf(field, sizeof(field), "%s.queryParameter", path);
        return get_string(inst, field, query, &p->source_name,
                          "a query parameter name");
    }
    if (cookie) {
        p->source = JWT_SOURCE_COOKIE;
        snprintf(field, sizeof(field), "%s.cookie", path);
        return get_string(inst, field, cookie, &p->source_name,
                          "a cookie name");
    }
    snprintf(field, sizeof(field), "%s.header", path);
    if (!json_is_object(header)) {
        gwf_config_errorf(inst, field,
                          "expected an object {header, prefix}, found %s",
                          gwf_json_kind(header));
        return 1;
    } else {
        static const char *const hknown[] = {"header", "prefix", NULL};
        json_t *name = json_object_get(header, "header");
        json_t *prefix = json_object_get(header, "prefix");
        char sub[300];
        int bad = check_unknown(inst, field, header, hknown,
                                "header or prefix");
        if (name) {
            snprintf(sub, sizeof(sub), "%s.header", field);
            bad |= get_header_name(inst, sub, name, &p->source_name);
            p->prefix = ""; /* a named header has no prefix unless told */
        }
        if (prefix) {
            snprintf(sub, sizeof(sub), "%s.prefix", field);
            if (!json_is_string(prefix) ||
                !gwf_is_header_value(json_string_value(prefix),
                                     json_string_length(prefix))) {
                gwf_config_errorf(inst, sub,
                                  "expected a string without control "
                                  "characters (HTAB is allowed), found %s",
                                  json_is_string(prefix) ? "a bad string"
                                                         : gwf_json_kind(prefix));
                bad = 1;
            } else {
                p->prefix = json_string_value(prefix);
            }
        }
        return bad;
    }
}

static int
parse_claims_to_headers(jwt_config *cfg, jwt_provider *p, const char *path,
                        json_t *list)
{
    static const char *const known[] = {"name", "header", NULL};
    gwf_instance *inst = cfg->instance;
    json_t *item;
    size_t i;
    int bad = 0;

    if (!list)
        return 0;
    if (!json_is_array(list)) {
        gwf_config_errorf(inst, path, "expected a list of {name, header}, "
                          "found %s", gwf_json_kind(list));
        return 1;
    }
    p->claims_to_headers = calloc(json_array_size(list) + 1,
                                  sizeof(*p->claims_to_headers));
    if (!p->claims_to_headers) {
        gwf_config_errorf(inst, path, "out of memory");
        return 1;
    }
    json_array_foreach(list, i, item) {
        char field[256], sub[300];
        jwt_claim_header *ch = &p->claims_to_headers[p->claim_header_count];
        const char *name = NULL, *header = NULL;
        int item_bad;

        snprintf(field, sizeof(field), "%s[%zu]", path, i);
        if (!json_is_object(item)) {
            gwf_config_errorf(inst, field, "expected an object {name, "
                              "header}, found %s", gwf_json_kind(item));
            bad = 1;
            continue;
        }
        item_bad = check_unknown(inst, field, item, known, "name or header");
        snprintf(sub, sizeof(sub), "%s.name", field);
        item_bad |= get_string(inst, sub, json_object_get(item, "name"),
                               &name, "a claim name such as \"sub\" or "
                                      "\"org.team\"");
        snprintf(sub, sizeof(sub), "%s.header", field);
        item_bad |= get_header_name(inst, sub,
                                    json_object_get(item, "header"), &header);
        if (!item_bad && name) {
            /* Split "a.b.c"; an empty part ("a..b", ".a") is a typo. */
            const char *part = name;
            size_t parts = 1;
            for (const char *c = name; *c; c++)
                parts += *c == '.';
            ch->path = calloc(parts, sizeof(*ch->path));
            for (size_t k = 0; ch->path && k < parts; k++) {
                const char *end = strchr(part, '.');
                size_t len = end ? (size_t)(end - part) : strlen(part);
                if (len == 0) {
                    snprintf(sub, sizeof(sub), "%s.name", field);
                    gwf_config_errorf(inst, sub, "expected a claim path "
                                      "without empty parts, found \"%s\"",
                                      name);
                    item_bad = 1;
                    break;
                }
                ch->path[k] = strndup(part, len);
                ch->path_len++;
                part = end ? end + 1 : part + len;
            }
            if (!ch->path) {
                gwf_config_errorf(inst, field, "out of memory");
                item_bad = 1;
            }
        }
        ch->header = header;
        p->claim_header_count++; /* counted even if bad: freed with it */
        bad |= item_bad;
    }
    return bad;
}

static int
parse_audiences(jwt_config *cfg, jwt_provider *p, const char *path,
                json_t *list)
{
    json_t *item;
    size_t i;
    int bad = 0;

    if (!list)
        return 0;
    if (!json_is_array(list)) {
        gwf_config_errorf(cfg->instance, path,
                          "expected a list of audience strings, found %s",
                          gwf_json_kind(list));
        return 1;
    }
    p->audiences = calloc(json_array_size(list) + 1, sizeof(*p->audiences));
    if (!p->audiences)
        return 1;
    json_array_foreach(list, i, item) {
        char field[256];
        snprintf(field, sizeof(field), "%s[%zu]", path, i);
        bad |= get_string(cfg->instance, field, item,
                          &p->audiences[p->audience_count++],
                          "an audience string");
    }
    return bad;
}

/* backendRef {name, namespace?} -> "::host:port" for CURLOPT_CONNECT_TO:
 * the URL's host name still names the server for TLS (SNI and the
 * certificate check), the Backend only says where to connect. */
static int
parse_backend_ref(jwt_config *cfg, jwt_provider *p, const char *path,
                  const json_t *ref)
{
    gwf_instance *inst = cfg->instance;
    const char *name = json_string_value(json_object_get(ref, "name"));
    const char *ns = json_string_value(json_object_get(ref, "namespace"));
    char target[512];
    gwf_view spec_json;
    json_t *spec, *host0;
    const char *host;
    json_int_t port;
    int bad = 0;

    if (!json_is_object(ref) || !name || !name[0]) {
        gwf_config_errorf(inst, path, "expected {name, namespace?} of a "
                          "Backend, found %s", gwf_json_kind(ref));
        return 1;
    }
    snprintf(target, sizeof(target), "%s%s%s", ns ? ns : "", ns ? "/" : "",
             name);
    if (inst->host->lookup_document(inst, "Backend", target, &spec_json) !=
        GWF_OK) {
        gwf_config_errorf(inst, path, "expected a Backend, found none named "
                          "\"%s\"", target);
        return 1;
    }
    spec = json_loadb(spec_json.ptr, spec_json.len, 0, NULL);
    host0 = json_array_get(
        json_object_get(json_object_get(spec, "static"), "hosts"), 0);
    host = json_string_value(json_object_get(host0, "host"));
    port = json_integer_value(json_object_get(host0, "port"));
    if (!host || !host[0] || strchr(host, ':') || port < 1 || port > 65535) {
        gwf_config_errorf(inst, path, "expected a Backend with "
                          "static.hosts[0] {host, port}, found \"%s\" "
                          "without one", target);
        bad = 1;
    } else {
        snprintf(target, sizeof(target), "::%s:%d", host, (int)port);
        p->remote_connect_to = strdup(target);
        bad = !p->remote_connect_to;
    }
    json_decref(spec);
    return bad;
}

static int
parse_remote(jwt_config *cfg, jwt_provider *p, const char *path,
             json_t *remote)
{
    static const char *const known[] = {"url", "backendRef", "cacheDuration",
                                        "caFile", "fetchTimeout", NULL};
    gwf_instance *inst = cfg->instance;
    char field[300];
    const char *url = NULL, *ca = NULL;
    const json_t *v;
    int64_t timeout_s = 5;
    int bad;

    p->cache_duration_s = 300;
    if (!json_is_object(remote)) {
        gwf_config_errorf(inst, path, "expected an object {url, "
                          "cacheDuration?, backendRef?, caFile?}, found %s",
                          gwf_json_kind(remote));
        return 1;
    }
    bad = check_unknown(inst, path, remote, known,
                        "url, backendRef, cacheDuration, caFile or "
                        "fetchTimeout");
    snprintf(field, sizeof(field), "%s.url", path);
    v = json_object_get(remote, "url");
    if (!v) {
        gwf_config_errorf(inst, field, "is required: expected an https:// "
                          "URL");
        bad = 1;
    } else if (!get_string(inst, field, v, &url, "an https:// URL")) {
        if (strncmp(url, "https://", 8) != 0 || strlen(url) < 9 ||
            strpbrk(url, " \r\n\t")) {
            gwf_config_errorf(inst, field, "expected an https:// URL, found "
                              "\"%.80s\"", url);
            bad = 1;
        } else {
            p->remote_url = strdup(url);
        }
    } else {
        bad = 1;
    }
    snprintf(field, sizeof(field), "%s.cacheDuration", path);
    bad |= get_bounded_seconds(inst, field,
                               json_object_get(remote, "cacheDuration"),
                               JWT_MAX_CACHE_DURATION_S, &p->cache_duration_s);
    if (p->cache_duration_s < 1) {
        gwf_config_errorf(inst, field, "expected a duration of at least "
                          "1s");
        bad = 1;
    }
    snprintf(field, sizeof(field), "%s.fetchTimeout", path);
    bad |= get_seconds(inst, field, json_object_get(remote, "fetchTimeout"),
                       &timeout_s);
    if (timeout_s < 1 || timeout_s > 60) {
        gwf_config_errorf(inst, field, "expected a duration 1s-60s");
        bad = 1;
    }
    p->fetch_timeout_ms = timeout_s * 1000;
    v = json_object_get(remote, "caFile");
    if (v) {
        snprintf(field, sizeof(field), "%s.caFile", path);
        if (!get_string(inst, field, v, &ca, "a PEM file name")) {
            gwf_view dir = inst->host->config_dir(inst);
            gwf_strbuf name = {0};
            if (ca[0] != '/' && dir.len > 0) {
                gwf_strbuf_append(&name, dir.ptr, dir.len);
                gwf_strbuf_append(&name, "/", 1);
            }
            gwf_strbuf_append(&name, ca, strlen(ca));
            /* libcurl opens it on the worker at each fetch: a FIFO there
             * would block the worker, so only a readable regular file
             * passes (gwf/sdk_file.h), and the error comes now. */
            char why[512] = "out of memory";
            if (name.failed ||
                gwf_file_check(name.data, why, sizeof(why)) != 0) {
                gwf_config_errorf(inst, field,
                                  "expected a readable PEM file: %s", why);
                gwf_strbuf_free(&name);
                bad = 1;
            } else {
                p->remote_ca_file = name.data; /* ours now */
            }
        } else {
            bad = 1;
        }
    }
    v = json_object_get(remote, "backendRef");
    if (v) {
        snprintf(field, sizeof(field), "%s.backendRef", path);
        bad |= parse_backend_ref(cfg, p, field, v);
    }
    if (!bad && !p->remote_url)
        bad = 1;
    cfg->has_remote |= !bad;
    return bad;
}

static int
parse_jwks(jwt_config *cfg, jwt_provider *p, const char *path, json_t *jwks)
{
    static const char *const known[] = {"local", "remote", NULL};
    gwf_instance *inst = cfg->instance;
    char field[256], err[512], warn[256];
    json_t *local, *inline_keys;

    if (!jwks) {
        gwf_config_errorf(inst, path, "is required: expected {local: "
                          "{inline: <JWKS>}} or {remote: {url: ...}}");
        return 1;
    }
    if (!json_is_object(jwks)) {
        gwf_config_errorf(inst, path, "expected an object with local or "
                          "remote, found %s", gwf_json_kind(jwks));
        return 1;
    }
    if (check_unknown(inst, path, jwks, known, "local or remote"))
        return 1;
    if (json_object_get(jwks, "remote")) {
        snprintf(field, sizeof(field), "%s.remote", path);
        if (json_object_get(jwks, "local")) {
            gwf_config_errorf(inst, path, "expected one of local or remote, "
                              "found both");
            return 1;
        }
        return parse_remote(cfg, p, field, json_object_get(jwks, "remote"));
    }
    local = json_object_get(jwks, "local");
    snprintf(field, sizeof(field), "%s.local", path);
    if (!json_is_object(local)) {
        gwf_config_errorf(inst, field, "expected an object {inline: "
                          "<JWKS>}, found %s",
                          local ? gwf_json_kind(local) : "nothing");
        return 1;
    } else {
        static const char *const lknown[] = {"inline", NULL};
        if (check_unknown(inst, field, local, lknown, "inline"))
            return 1;
    }
    inline_keys = json_object_get(local, "inline");
    snprintf(field, sizeof(field), "%s.local.inline", path);
    if (json_is_string(inline_keys)) {
        /* kgateway carries the JWKS as a JSON string. */
        p->jwks = jwt_jwks_parse(json_string_value(inline_keys),
                                 json_string_length(inline_keys), err,
                                 sizeof(err), warn, sizeof(warn));
    } else if (json_is_object(inline_keys)) {
        p->jwks = jwt_jwks_from_json(inline_keys, err, sizeof(err), warn,
                                     sizeof(warn));
    } else {
        gwf_config_errorf(inst, field, "expected a JWKS (JSON text or an "
                          "object {keys: [...]}), found %s",
                          inline_keys ? gwf_json_kind(inline_keys) : "nothing");
        return 1;
    }
    if (!p->jwks) {
        gwf_config_errorf(inst, field, "expected a JWKS with a usable "
                          "signature key: %s", err);
        return 1;
    }
    if (warn[0])
        gwf_logf(inst, GWF_LOG_WARN, "%s: %s", field, warn);
    return 0;
}

static int
parse_provider(jwt_config *cfg, size_t index, json_t *obj)
{
    static const char *const known[] = {
        "name", "issuer", "audiences", "tokenSource", "claimsToHeaders",
        "jwks", "forwardToken", "forwardPayloadHeader", "requireExpiration",
        "maxLifetime", "clockSkew", NULL};
    gwf_instance *inst = cfg->instance;
    jwt_provider *p = &cfg->providers[index];
    char path[64], field[128];
    const json_t *v;
    int bad = 0;

    snprintf(path, sizeof(path), "providers[%zu]", index);
    p->clock_skew_s = JWT_DEFAULT_CLOCK_SKEW_S;
    if (!json_is_object(obj)) {
        gwf_config_errorf(inst, path, "expected an object, found %s",
                          gwf_json_kind(obj));
        return 1;
    }
    bad |= check_unknown(inst, path, obj, known,
                         "name, issuer, audiences, tokenSource, "
                         "claimsToHeaders, jwks, forwardToken, "
                         "forwardPayloadHeader, requireExpiration, "
                         "maxLifetime or clockSkew");
#define FIELD(name) (snprintf(field, sizeof(field), "%s." name, path), field)
    v = json_object_get(obj, "name");
    if (v)
        bad |= get_string(inst, FIELD("name"), v, &p->name, "a name");
    else
        p->name = NULL;
    v = json_object_get(obj, "issuer");
    if (v)
        bad |= get_string(inst, FIELD("issuer"), v, &p->issuer,
                          "an issuer string");
    bad |= parse_audiences(cfg, p, FIELD("audiences"),
                           json_object_get(obj, "audiences"));
    bad |= parse_token_source(cfg, p, FIELD("tokenSource"),
                              json_object_get(obj, "tokenSource"));
    bad |= parse_claims_to_headers(cfg, p, FIELD("claimsToHeaders"),
                                   json_object_get(obj, "claimsToHeaders"));
    bad |= parse_jwks(cfg, p, FIELD("jwks"), json_object_get(obj, "jwks"));
    bad |= get_bool(inst, FIELD("forwardToken"),
                    json_object_get(obj, "forwardToken"), &p->forward_token);
    v = json_object_get(obj, "forwardPayloadHeader");
    if (v)
        bad |= get_header_name(inst, FIELD("forwardPayloadHeader"), v,
                               &p->forward_payload_header);
    bad |= get_bool(inst, FIELD("requireExpiration"),
                    json_object_get(obj, "requireExpiration"),
                    &p->require_expiration);
    bad |= get_bounded_seconds(inst, FIELD("maxLifetime"),
                               json_object_get(obj, "maxLifetime"),
                               JWT_MAX_LIFETIME_S, &p->max_lifetime_s);
    bad |= get_bounded_seconds(inst, FIELD("clockSkew"),
                               json_object_get(obj, "clockSkew"),
                               JWT_MAX_CLOCK_SKEW_S, &p->clock_skew_s);
#undef FIELD
    return bad;
}

/* Do providers `a` and `b` read the same place? Header names are
 * case-insensitive, and so is the auth scheme of the prefix; query
 * parameter and cookie names are not. */
static int
same_place(const jwt_provider *a, const jwt_provider *b)
{
    if (a->source != b->source || !a->source_name || !b->source_name)
        return 0;
    if (a->source != JWT_SOURCE_HEADER)
        return strcmp(a->source_name, b->source_name) == 0;
    return strcasecmp(a->source_name, b->source_name) == 0 &&
           strcasecmp(a->prefix, b->prefix) == 0;
}

/* The first provider that reads the same place as provider `i`. */
static size_t
place_of(const jwt_config *cfg, size_t i)
{
    for (size_t k = 0; k < i; k++) {
        if (same_place(&cfg->providers[k], &cfg->providers[i]))
            return k;
    }
    return i;
}

static int
parse_providers(jwt_config *cfg, json_t *list)
{
    json_t *item;
    size_t i;
    int bad = 0;

    if (!list) {
        gwf_config_errorf(cfg->instance, "providers",
                          "is required: expected a list of providers");
        return 1;
    }
    if (!json_is_array(list) || json_array_size(list) == 0 ||
        json_array_size(list) > JWT_MAX_PROVIDERS) {
        gwf_config_errorf(cfg->instance, "providers",
                          "expected a list of 1 to %d providers, found %s",
                          JWT_MAX_PROVIDERS,
                          json_is_array(list) ? "a list of another size"
                                              : gwf_json_kind(list));
        return 1;
    }
    cfg->providers = calloc(json_array_size(list), sizeof(*cfg->providers));
    if (!cfg->providers)
        return 1;
    cfg->provider_count = json_array_size(list);
    json_array_foreach(list, i, item) {
        bad |= parse_provider(cfg, i, item);
    }
    for (i = 0; i < cfg->provider_count; i++)
        cfg->providers[i].place = place_of(cfg, i);
    /* Names must tell providers apart (they become jwt_auth.provider). */
    for (i = 0; !bad && i < cfg->provider_count; i++) {
        for (size_t k = 0; k < i; k++) {
            if (cfg->providers[i].name && cfg->providers[k].name &&
                strcmp(cfg->providers[i].name, cfg->providers[k].name) == 0) {
                char field[64];
                snprintf(field, sizeof(field), "providers[%zu].name", i);
                gwf_config_errorf(cfg->instance, field,
                                  "expected a unique name, found \"%s\" "
                                  "again (providers[%zu])",
                                  cfg->providers[i].name, k);
                bad = 1;
            }
        }
    }
    return bad;
}

gwf_status
jwt_config_parse(jwt_config *cfg, gwf_view json)
{
    static const char *const known[] = {"validationMode", "providers",
                                        "tokenCacheSize", NULL};
    json_error_t err;
    const json_t *mode, *cache;
    int bad = 0;

    cfg->cache_entries = JWT_DEFAULT_CACHE_ENTRIES;
    cfg->doc = json_loadb(json.ptr, json.len, JSON_REJECT_DUPLICATES, &err);
    if (!cfg->doc)
        return gwf_config_errorf(cfg->instance, NULL,
                                 "expected a JSON object, found invalid "
                                 "JSON: %s (line %d, column %d)",
                                 err.text, err.line, err.column);
    if (!json_is_object(cfg->doc))
        return gwf_config_errorf(cfg->instance, NULL,
                                 "expected an object, found %s",
                                 gwf_json_kind(cfg->doc));
    bad |= check_unknown(cfg->instance, "", cfg->doc, known,
                         "validationMode, providers or tokenCacheSize");
    mode = json_object_get(cfg->doc, "validationMode");
    if (mode) {
        if (json_is_string(mode) &&
            strcmp(json_string_value(mode), "Strict") == 0) {
            cfg->allow_missing = 0;
        } else if (json_is_string(mode) &&
                   strcmp(json_string_value(mode), "AllowMissing") == 0) {
            cfg->allow_missing = 1;
        } else {
            gwf_config_errorf(cfg->instance, "validationMode",
                              "expected \"Strict\" or \"AllowMissing\", "
                              "found %s",
                              json_is_string(mode) ? "another string"
                                                   : gwf_json_kind(mode));
            bad = 1;
        }
    }
    cache = json_object_get(cfg->doc, "tokenCacheSize");
    if (cache) {
        if (!json_is_integer(cache) || json_integer_value(cache) < 0 ||
            json_integer_value(cache) > JWT_MAX_CACHE_ENTRIES) {
            gwf_config_errorf(cfg->instance, "tokenCacheSize",
                              "expected an integer 0-%u, found %s",
                              JWT_MAX_CACHE_ENTRIES,
                              json_is_integer(cache) ? "one out of range"
                                                     : gwf_json_kind(cache));
            bad = 1;
        } else {
            cfg->cache_entries = (size_t)json_integer_value(cache);
        }
    }
    bad |= parse_providers(cfg, json_object_get(cfg->doc, "providers"));
    return bad ? GWF_ERR_BAD_ARGUMENT : GWF_OK;
}

void
jwt_config_free(jwt_config *cfg)
{
    for (size_t i = 0; i < cfg->provider_count; i++) {
        jwt_provider *p = &cfg->providers[i];
        for (size_t k = 0; k < p->claim_header_count; k++) {
            jwt_claim_header *ch = &p->claims_to_headers[k];
            for (size_t j = 0; j < ch->path_len; j++)
                free(ch->path[j]);
            free(ch->path);
        }
        free(p->claims_to_headers);
        free(p->audiences);
        jwt_jwks_free(p->jwks);
        free(p->remote_url);
        free(p->remote_connect_to);
        free(p->remote_ca_file);
    }
    free(cfg->providers);
    json_decref(cfg->doc);
}

gwf_status
jwt_route_config_check(gwf_instance *inst, gwf_view json)
{
    static const char *const known[] = {"extensionRef", NULL};
    json_error_t err;
    json_t *doc = json_loadb(json.ptr, json.len, JSON_REJECT_DUPLICATES, &err);
    int bad = 0;

    if (!json_is_object(doc)) {
        json_decref(doc);
        return gwf_config_errorf(inst, NULL, "expected the jwtAuth object");
    }
    bad = check_unknown(inst, "", doc, known, "extensionRef");
    json_decref(doc);
    return bad ? GWF_ERR_BAD_ARGUMENT : GWF_OK;
}
