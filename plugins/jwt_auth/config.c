/*
 * config.c - the GatewayExtension's spec.jwt (kgateway's shape, plus a
 * few of Envoy's jwt_authn options) into an immutable jwt_config that all
 * workers share read-only.
 *
 * Fields are read with the SDK's readers (gwf/sdk_config.h): one gwf_cfg
 * per document reports every mistake with its field path
 * ("providers[1].jwks") in the words every plugin uses, and parsing goes
 * on after a mistake so that one `gwf validate` shows them all. What only
 * jwt_auth knows (header names, claim paths, https URLs, the JWKS) is
 * checked here and reported through the same gwf_cfg. Strings point into
 * the parsed document, which the config owns until config_destroy. Keys
 * are imported into OpenSSL here, once: a bad inline JWKS fails the
 * config, not the first request.
 */
#include <gwf/sdk_config.h>
#include <gwf/sdk_file.h>
#include "jwt_auth.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define JWT_DEFAULT_CLOCK_SKEW_S 60
#define JWT_DEFAULT_CACHE_ENTRIES 1024
#define JWT_MAX_CACHE_ENTRIES (1u << 20)
#define NS_PER_S 1000000000ull

/* Is member `name` of `obj` given? JSON null counts as absent, as it
 * does for the SDK's readers. */
static int
present(const json_t *obj, const char *name)
{
    const json_t *v = json_object_get(obj, name);
    return v && !json_is_null(v);
}

/* Member `name` of `obj`: a header name, which the host matches without
 * case; a pseudo-header (":path") is not one a provider may name. */
static gwf_status
read_header_name(gwf_cfg *c, const char *path, const json_t *obj,
                 const char *name, unsigned flags, const char **out)
{
    char field[GWF_CFG_PATH_MAX];
    const char *s = NULL;
    gwf_status st =
        gwf_cfg_string(c, path, obj, name, flags | GWF_CFG_NONEMPTY, &s);

    if (st != GWF_OK || !s)
        return st;
    if (!gwf_is_header_name(s, strlen(s)) || s[0] == ':')
        return gwf_cfg_fail(c, gwf_cfg_member(field, path, name),
                            "expected a header name (letters, digits and "
                            "!#$%%&'*+-.^_`|~), found \"%s\"",
                            s);
    *out = s;
    return GWF_OK;
}

/* Member `name` of `obj`: a duration ("60s", "5m") or a whole number of
 * seconds, from min_s to max_s, kept in whole seconds (a fraction is
 * cut). These durations are added to token times and turned into
 * nanoseconds, and a value beyond the bound is a mistake (a clock skew
 * of a century accepts every expired token). */
static gwf_status
read_seconds(gwf_cfg *c, const char *path, const json_t *obj, const char *name,
             int64_t min_s, int64_t max_s, int64_t *out)
{
    uint64_t ns;
    gwf_status st;

    if (json_is_integer(json_object_get(obj, name)))
        return gwf_cfg_int(c, path, obj, name, 0, min_s, max_s, out);
    ns = (uint64_t)*out * NS_PER_S; /* kept when the member is absent */
    st = gwf_cfg_duration(c, path, obj, name, 0, (uint64_t)min_s * NS_PER_S,
                          (uint64_t)max_s * NS_PER_S, &ns);
    if (st == GWF_OK)
        *out = (int64_t)(ns / NS_PER_S);
    return st;
}

/* tokenSource: exactly one of header {header?, prefix?}, queryParameter
 * or cookie. Without it, Authorization: Bearer <token>, as kgateway and
 * Envoy. */
static void
parse_token_source(gwf_cfg *c, jwt_provider *p, const char *path,
                   const json_t *provider)
{
    static const char *const known[] = {"header", "queryParameter", "cookie",
                                        NULL};
    static const char *const hknown[] = {"header", "prefix", NULL};
    char field[GWF_CFG_PATH_MAX], hpath[GWF_CFG_PATH_MAX];
    const json_t *src = NULL, *header = NULL;
    const char *prefix = NULL;
    int kinds;

    p->source = JWT_SOURCE_HEADER;
    p->source_name = "authorization";
    p->prefix = "Bearer ";
    if (gwf_cfg_object(c, path, provider, "tokenSource", 0, &src) != GWF_OK ||
        !src)
        return;
    gwf_cfg_member(field, path, "tokenSource");
    gwf_cfg_known(c, field, src, known);
    kinds = present(src, "header") + present(src, "queryParameter") +
            present(src, "cookie");
    if (kinds != 1) {
        gwf_cfg_fail(c, field,
                     "expected exactly one of header, queryParameter or "
                     "cookie, found %d",
                     kinds);
        return;
    }
    if (present(src, "queryParameter")) {
        p->source = JWT_SOURCE_QUERY;
        gwf_cfg_string(c, field, src, "queryParameter", GWF_CFG_NONEMPTY,
                       &p->source_name);
        return;
    }
    if (present(src, "cookie")) {
        p->source = JWT_SOURCE_COOKIE;
        gwf_cfg_string(c, field, src, "cookie", GWF_CFG_NONEMPTY,
                       &p->source_name);
        return;
    }
    if (gwf_cfg_object(c, field, src, "header", 0, &header) != GWF_OK)
        return;
    gwf_cfg_member(hpath, field, "header");
    gwf_cfg_known(c, hpath, header, hknown);
    if (present(header, "header") &&
        read_header_name(c, hpath, header, "header", 0, &p->source_name) ==
            GWF_OK)
        p->prefix = ""; /* a named header has no prefix unless told */
    if (gwf_cfg_string(c, hpath, header, "prefix", 0, &prefix) != GWF_OK ||
        !prefix)
        return;
    if (!gwf_is_header_value(prefix, strlen(prefix))) {
        gwf_cfg_fail(c, gwf_cfg_member(field, hpath, "prefix"),
                     "expected a string without control characters (HTAB "
                     "is allowed)");
        return;
    }
    p->prefix = prefix;
}

/* Split the claim path "a.b.c" of `ch` into its parts; an empty part
 * ("a..b", ".a") is a typo. */
static void
split_claim(gwf_cfg *c, jwt_claim_header *ch, const char *field,
            const char *name)
{
    const char *part = name;
    size_t parts = 1;

    for (const char *at = name; *at; at++)
        parts += *at == '.';
    ch->path = calloc(parts, sizeof(*ch->path));
    if (!ch->path) {
        gwf_cfg_no_memory(c, field);
        return;
    }
    for (size_t k = 0; k < parts; k++) {
        const char *end = strchr(part, '.');
        size_t len = end ? (size_t)(end - part) : strlen(part);
        if (len == 0) {
            gwf_cfg_fail(c, field,
                         "expected a claim path without empty parts, "
                         "found \"%s\"",
                         name);
            return;
        }
        ch->path[k] = strndup(part, len);
        if (!ch->path[k]) {
            gwf_cfg_no_memory(c, field);
            return;
        }
        ch->path_len++;
        part = end ? end + 1 : part + len;
    }
}

static void
parse_claims_to_headers(gwf_cfg *c, jwt_provider *p, const char *path,
                        const json_t *provider)
{
    static const char *const known[] = {"name", "header", NULL};
    char field[GWF_CFG_PATH_MAX], item[GWF_CFG_PATH_MAX], sub[GWF_CFG_PATH_MAX];
    const json_t *list = NULL;
    size_t n;

    if (gwf_cfg_list(c, path, provider, "claimsToHeaders", 0, 0, &list) !=
            GWF_OK ||
        !list)
        return;
    gwf_cfg_member(field, path, "claimsToHeaders");
    n = json_array_size(list);
    p->claims_to_headers = calloc(n + 1, sizeof(*p->claims_to_headers));
    if (!p->claims_to_headers) {
        gwf_cfg_no_memory(c, field);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *entry = json_array_get(list, i);
        jwt_claim_header *ch = &p->claims_to_headers[p->claim_header_count];
        const char *name = NULL;

        gwf_cfg_item(item, field, i);
        if (gwf_cfg_check_object(c, item, entry, "an object {name, header}",
                                 GWF_CFG_REQUIRED) != GWF_OK)
            continue;
        p->claim_header_count++; /* counted even if bad: freed with it */
        gwf_cfg_known(c, item, entry, known);
        read_header_name(c, item, entry, "header", GWF_CFG_REQUIRED,
                         &ch->header);
        if (gwf_cfg_string(c, item, entry, "name",
                           GWF_CFG_REQUIRED | GWF_CFG_NONEMPTY,
                           &name) == GWF_OK)
            split_claim(c, ch, gwf_cfg_member(sub, item, "name"), name);
    }
}

/* backendRef {name, namespace?, port?} -> "::host:port" for
 * CURLOPT_CONNECT_TO: the URL's host name still names the server for TLS
 * (SNI and the certificate check), the Backend only says where to
 * connect. An IPv6 host is written in brackets, as curl wants it. */
static void
parse_backend_ref(gwf_cfg *c, jwt_provider *p, const char *path,
                  const json_t *remote)
{
    char target[300], field[GWF_CFG_PATH_MAX];
    gwf_cfg_backend b;

    if (!present(remote, "backendRef") ||
        gwf_cfg_backend_ref(c, path, remote, "backendRef", 0, 0, &b) != GWF_OK)
        return;
    snprintf(target, sizeof(target),
             strchr(b.host, ':') ? "::[%s]:%u" : "::%s:%u", b.host,
             (unsigned)b.port);
    p->remote_connect_to = strdup(target);
    if (!p->remote_connect_to)
        gwf_cfg_no_memory(c, gwf_cfg_member(field, path, "backendRef"));
}

/* caFile: a PEM file, relative to the config's directory. libcurl opens
 * it on the worker at each fetch: a FIFO there would block the worker,
 * so only a readable regular file passes (gwf/sdk_file.h), and the error
 * comes now. */
static void
parse_ca_file(gwf_cfg *c, jwt_provider *p, const char *path,
              const json_t *remote)
{
    gwf_instance *inst = c->inst;
    char field[GWF_CFG_PATH_MAX], why[512] = "out of memory";
    const char *ca = NULL;
    gwf_view dir;
    gwf_strbuf name = {0};

    if (gwf_cfg_string(c, path, remote, "caFile", GWF_CFG_NONEMPTY, &ca) !=
            GWF_OK ||
        !ca)
        return;
    gwf_cfg_member(field, path, "caFile");
    dir = inst->host->config_dir(inst);
    if (ca[0] != '/' && dir.len > 0) {
        gwf_strbuf_append(&name, dir.ptr, dir.len);
        gwf_strbuf_append(&name, "/", 1);
    }
    gwf_strbuf_append(&name, ca, strlen(ca));
    if (name.failed) {
        gwf_strbuf_free(&name);
        gwf_cfg_no_memory(c, field);
        return;
    }
    if (gwf_file_check(name.data, why, sizeof(why)) != 0) {
        gwf_cfg_fail(c, field, "expected a readable PEM file: %s", why);
        gwf_strbuf_free(&name);
        return;
    }
    p->remote_ca_file = name.data; /* ours now */
}

static void
parse_remote(gwf_cfg *c, jwt_config *cfg, jwt_provider *p, const char *path,
             const json_t *remote)
{
    static const char *const known[] = {
        "url", "backendRef", "cacheDuration", "caFile", "fetchTimeout", NULL};
    char field[GWF_CFG_PATH_MAX];
    const char *url = NULL;
    int64_t timeout_s = 5;

    p->cache_duration_s = 300;
    gwf_cfg_known(c, path, remote, known);
    if (gwf_cfg_string(c, path, remote, "url", GWF_CFG_REQUIRED, &url) ==
        GWF_OK) {
        if (strncmp(url, "https://", 8) != 0 || strlen(url) < 9 ||
            strpbrk(url, " \r\n\t")) {
            gwf_cfg_fail(c, gwf_cfg_member(field, path, "url"),
                         "expected an https:// URL, found \"%.80s\"", url);
        } else {
            p->remote_url = strdup(url);
            if (!p->remote_url)
                gwf_cfg_no_memory(c, gwf_cfg_member(field, path, "url"));
        }
    }
    read_seconds(c, path, remote, "cacheDuration", 1, JWT_MAX_CACHE_DURATION_S,
                 &p->cache_duration_s);
    read_seconds(c, path, remote, "fetchTimeout", 1, 60, &timeout_s);
    p->fetch_timeout_ms = timeout_s * 1000;
    parse_ca_file(c, p, path, remote);
    parse_backend_ref(c, p, path, remote);
    cfg->has_remote |= p->remote_url != NULL;
}

/* local.inline: the JWKS as JSON text (kgateway's form) or an object. */
static void
parse_local(gwf_cfg *c, jwt_provider *p, const char *path, const json_t *local)
{
    static const char *const known[] = {"inline", NULL};
    char field[GWF_CFG_PATH_MAX], err[512], warn[256];
    const json_t *keys = json_object_get(local, "inline");

    gwf_cfg_known(c, path, local, known);
    gwf_cfg_member(field, path, "inline");
    if (json_is_string(keys)) {
        p->jwks =
            jwt_jwks_parse(json_string_value(keys), json_string_length(keys),
                           err, sizeof(err), warn, sizeof(warn));
    } else if (json_is_object(keys)) {
        p->jwks =
            jwt_jwks_from_json(keys, err, sizeof(err), warn, sizeof(warn));
    } else {
        gwf_cfg_fail(c, field,
                     "expected a JWKS (JSON text or an object {keys: "
                     "[...]}), found %s",
                     gwf_json_kind(keys));
        return;
    }
    if (!p->jwks) {
        gwf_cfg_fail(c, field,
                     "expected a JWKS with a usable signature key: %s", err);
        return;
    }
    if (warn[0])
        gwf_logf(c->inst, GWF_LOG_WARN, "%s: %s", field, warn);
}

static void
parse_jwks(gwf_cfg *c, jwt_config *cfg, jwt_provider *p, const char *path,
           const json_t *provider)
{
    static const char *const known[] = {"local", "remote", NULL};
    char field[GWF_CFG_PATH_MAX], sub[GWF_CFG_PATH_MAX];
    const json_t *jwks = json_object_get(provider, "jwks");
    const json_t *local = NULL, *remote = NULL;

    gwf_cfg_member(field, path, "jwks");
    if (gwf_cfg_check_object(c, field, jwks,
                             "{local: {inline: <JWKS>}} or {remote: {url: "
                             "...}}",
                             GWF_CFG_REQUIRED) != GWF_OK)
        return;
    gwf_cfg_known(c, field, jwks, known);
    if (gwf_cfg_object(c, field, jwks, "remote", 0, &remote) != GWF_OK ||
        gwf_cfg_object(c, field, jwks, "local", 0, &local) != GWF_OK)
        return;
    if (remote && local) {
        gwf_cfg_fail(c, field, "expected one of local or remote, found both");
        return;
    }
    if (remote) {
        parse_remote(c, cfg, p, gwf_cfg_member(sub, field, "remote"), remote);
        return;
    }
    gwf_cfg_member(sub, field, "local");
    if (gwf_cfg_check_object(c, sub, local, "an object {inline: <JWKS>}",
                             GWF_CFG_REQUIRED) == GWF_OK)
        parse_local(c, p, sub, local);
}

static void
parse_provider(gwf_cfg *c, jwt_config *cfg, size_t index, const json_t *obj)
{
    static const char *const known[] = {"name",
                                        "issuer",
                                        "audiences",
                                        "tokenSource",
                                        "claimsToHeaders",
                                        "jwks",
                                        "forwardToken",
                                        "forwardPayloadHeader",
                                        "requireExpiration",
                                        "maxLifetime",
                                        "clockSkew",
                                        NULL};
    jwt_provider *p = &cfg->providers[index];
    char path[GWF_CFG_PATH_MAX];

    gwf_cfg_item(path, "providers", index);
    p->clock_skew_s = JWT_DEFAULT_CLOCK_SKEW_S;
    if (gwf_cfg_check_object(c, path, obj, "an object", GWF_CFG_REQUIRED) !=
        GWF_OK)
        return;
    gwf_cfg_known(c, path, obj, known);
    gwf_cfg_string(c, path, obj, "name", GWF_CFG_NONEMPTY, &p->name);
    gwf_cfg_string(c, path, obj, "issuer", GWF_CFG_NONEMPTY, &p->issuer);
    gwf_cfg_string_list(c, path, obj, "audiences", 0, GWF_CFG_NONEMPTY, 0,
                        &p->audiences, &p->audience_count);
    parse_token_source(c, p, path, obj);
    parse_claims_to_headers(c, p, path, obj);
    parse_jwks(c, cfg, p, path, obj);
    gwf_cfg_bool(c, path, obj, "forwardToken", 0, &p->forward_token);
    read_header_name(c, path, obj, "forwardPayloadHeader", 0,
                     &p->forward_payload_header);
    gwf_cfg_bool(c, path, obj, "requireExpiration", 0, &p->require_expiration);
    read_seconds(c, path, obj, "maxLifetime", 0, JWT_MAX_LIFETIME_S,
                 &p->max_lifetime_s);
    read_seconds(c, path, obj, "clockSkew", 0, JWT_MAX_CLOCK_SKEW_S,
                 &p->clock_skew_s);
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

static void
parse_providers(gwf_cfg *c, jwt_config *cfg)
{
    const json_t *list = NULL;
    size_t i;

    if (gwf_cfg_list(c, "", cfg->doc, "providers",
                     GWF_CFG_REQUIRED | GWF_CFG_NONEMPTY, JWT_MAX_PROVIDERS,
                     &list) != GWF_OK)
        return;
    cfg->providers = calloc(json_array_size(list), sizeof(*cfg->providers));
    if (!cfg->providers) {
        gwf_cfg_no_memory(c, "providers");
        return;
    }
    cfg->provider_count = json_array_size(list);
    for (i = 0; i < cfg->provider_count; i++)
        parse_provider(c, cfg, i, json_array_get(list, i));
    for (i = 0; i < cfg->provider_count; i++)
        cfg->providers[i].place = place_of(cfg, i);
    /* Names must tell providers apart (they become jwt_auth.provider). */
    for (i = 0; gwf_cfg_status(c) == GWF_OK && i < cfg->provider_count; i++) {
        for (size_t k = 0; k < i; k++) {
            if (cfg->providers[i].name && cfg->providers[k].name &&
                strcmp(cfg->providers[i].name, cfg->providers[k].name) == 0) {
                char path[GWF_CFG_PATH_MAX], field[GWF_CFG_PATH_MAX];
                gwf_cfg_member(field, gwf_cfg_item(path, "providers", i),
                               "name");
                gwf_cfg_fail(c, field,
                             "expected a unique name, found \"%s\" again "
                             "(providers[%zu])",
                             cfg->providers[i].name, k);
            }
        }
    }
}

gwf_status
jwt_config_parse(jwt_config *cfg, gwf_view json)
{
    static const char *const known[] = {"validationMode", "providers",
                                        "tokenCacheSize", NULL};
    static const char *const modes[] = {"Strict", "AllowMissing", NULL};
    json_error_t err;
    gwf_cfg c;
    int64_t cache_entries = JWT_DEFAULT_CACHE_ENTRIES;

    gwf_cfg_init(&c, cfg->instance);
    cfg->cache_entries = JWT_DEFAULT_CACHE_ENTRIES;
    cfg->doc = json_loadb(json.ptr, json.len, JSON_REJECT_DUPLICATES, &err);
    if (!cfg->doc)
        return gwf_cfg_fail(&c, "",
                            "expected a JSON object, found invalid JSON: %s "
                            "(line %d, column %d)",
                            err.text, err.line, err.column);
    if (gwf_cfg_check_object(&c, "", cfg->doc, "an object", GWF_CFG_REQUIRED) !=
        GWF_OK)
        return gwf_cfg_status(&c);
    gwf_cfg_known(&c, "", cfg->doc, known);
    /* validationMode: Strict (0, the default) or AllowMissing (1). */
    gwf_cfg_enum(&c, "", cfg->doc, "validationMode", 0, modes,
                 &cfg->allow_missing);
    if (gwf_cfg_int(&c, "", cfg->doc, "tokenCacheSize", 0, 0,
                    JWT_MAX_CACHE_ENTRIES, &cache_entries) == GWF_OK)
        cfg->cache_entries = (size_t)cache_entries;
    parse_providers(&c, cfg);
    return gwf_cfg_status(&c);
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
    gwf_cfg c;

    gwf_cfg_init(&c, inst);
    if (!doc)
        return gwf_cfg_fail(&c, "",
                            "expected the jwtAuth object, found invalid "
                            "JSON: %s",
                            err.text);
    if (gwf_cfg_check_object(&c, "", doc, "the jwtAuth object",
                             GWF_CFG_REQUIRED) == GWF_OK)
        gwf_cfg_known(&c, "", doc, known);
    json_decref(doc);
    return gwf_cfg_status(&c);
}
