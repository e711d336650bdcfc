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
 *
 * Bounds, required fields and defaults are those of kgateway's Go types
 * (api/v1alpha1/kgateway/jwt_types.go: 1-32 providers, names of at most
 * 253 characters, strings of at most 2048, inline keys of at most 16384,
 * durations of at least 1ms) so that a manifest kgateway accepts loads
 * here and one it refuses is refused here, with the field named.
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
#define NS_PER_MS 1000000ull
/* kgateway's bounds (jwt_types.go, gateway_extensions_types.go). */
#define KGW_MAX_PROVIDERS 32
#define KGW_MAX_NAME 253
#define KGW_MAX_STRING 2048
#define KGW_MAX_LIST 32
#define KGW_MAX_INLINE 16384
#define KGW_JWKS_CONFIGMAP_KEY "jwks"
/* Envoy's defaults for what kgateway leaves unset (RemoteJwks). */
#define JWT_DEFAULT_FAILED_REFETCH_MS 1000
#define JWT_DEFAULT_RETRY_BASE_MS 1000

/* Is member `name` of `obj` given? JSON null counts as absent, as it
 * does for the SDK's readers. */
static int
present(const json_t *obj, const char *name)
{
    const json_t *v = json_object_get(obj, name);
    return v && !json_is_null(v);
}

/* Member `name` of `obj`: a string of at most `max` bytes (kgateway's
 * MaxLength; its strings are ASCII in practice, so bytes are close to
 * its characters and never more lenient). */
static gwf_status
read_bounded(gwf_cfg *c, const char *path, const json_t *obj, const char *name,
             unsigned flags, size_t max, const char **out)
{
    char field[GWF_CFG_PATH_MAX];
    const char *s = NULL;
    gwf_status st = gwf_cfg_string(c, path, obj, name, flags, &s);

    if (st != GWF_OK || !s)
        return st;
    if (strlen(s) > max)
        return gwf_cfg_fail(c, gwf_cfg_member(field, path, name),
                            "expected at most %zu characters, found %zu", max,
                            strlen(s));
    *out = s;
    return GWF_OK;
}

/* Member `name` of `obj`: a header name, which the host matches without
 * case; a pseudo-header (":path") is not one a provider may name. */
static gwf_status
read_header_name(gwf_cfg *c, const char *path, const json_t *obj,
                 const char *name, unsigned flags, const char **out)
{
    char field[GWF_CFG_PATH_MAX];
    const char *s = NULL;
    gwf_status st = read_bounded(c, path, obj, name, flags | GWF_CFG_NONEMPTY,
                                 KGW_MAX_STRING, &s);

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

/* Member `name` of `obj`: a duration of at least kgateway's 1ms (or a
 * whole number of seconds, as gwf took them before), kept in
 * milliseconds; *out stays when it is absent. */
static gwf_status
read_ms(gwf_cfg *c, const char *path, const json_t *obj, const char *name,
        unsigned flags, int64_t max_s, int64_t *out)
{
    uint64_t ns;
    int64_t whole_s;
    gwf_status st;

    if (json_is_integer(json_object_get(obj, name))) {
        st = gwf_cfg_int(c, path, obj, name, flags, 1, max_s, &whole_s);
        if (st == GWF_OK)
            *out = whole_s * 1000;
        return st;
    }
    ns = (uint64_t)*out * NS_PER_MS;
    st = gwf_cfg_duration(c, path, obj, name, flags, NS_PER_MS,
                          (uint64_t)max_s * NS_PER_S, &ns);
    if (st == GWF_OK)
        *out = (int64_t)(ns / NS_PER_MS);
    return st;
}

/* tokenSource: exactly one of header {header, prefix?}, queryParameter
 * or cookie. Without it, Envoy's defaults, since kgateway then sets no
 * location: Authorization: Bearer <token>, and ?access_token=<token>
 * (that second place is an alias slot, add_default_query_slots). */
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
    p->default_source = !present(provider, "tokenSource");
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
        read_bounded(c, field, src, "queryParameter", GWF_CFG_NONEMPTY,
                     KGW_MAX_STRING, &p->source_name);
        return;
    }
    if (present(src, "cookie")) {
        p->source = JWT_SOURCE_COOKIE;
        read_bounded(c, field, src, "cookie", GWF_CFG_NONEMPTY, KGW_MAX_STRING,
                     &p->source_name);
        return;
    }
    if (gwf_cfg_object(c, field, src, "header", 0, &header) != GWF_OK)
        return;
    gwf_cfg_member(hpath, field, "header");
    gwf_cfg_known(c, hpath, header, hknown);
    /* kgateway requires the header's name; the prefix is optional and,
     * when given, not empty. */
    if (read_header_name(c, hpath, header, "header", GWF_CFG_REQUIRED,
                         &p->source_name) == GWF_OK)
        p->prefix = ""; /* a named header has no prefix unless told */
    if (read_bounded(c, hpath, header, "prefix", GWF_CFG_NONEMPTY,
                     KGW_MAX_STRING, &prefix) != GWF_OK ||
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

    if (gwf_cfg_list(c, path, provider, "claimsToHeaders", GWF_CFG_NONEMPTY,
                     KGW_MAX_LIST, &list) != GWF_OK ||
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
        if (read_bounded(c, item, entry, "name",
                         GWF_CFG_REQUIRED | GWF_CFG_NONEMPTY, KGW_MAX_STRING,
                         &name) == GWF_OK &&
            name)
            split_claim(c, ch, gwf_cfg_member(sub, item, "name"), name);
        for (size_t k = 0; ch->header && k + 1 < p->claim_header_count; k++)
            if (p->claims_to_headers[k].header &&
                strcasecmp(p->claims_to_headers[k].header, ch->header) == 0)
                ch->repeated = 1;
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

/* asyncFetch {fastListener?, failedRefetchDuration?}. gwf always fetches
 * in the background (each worker, as it starts) and a request that comes
 * before the first fetch ended waits for it, which is what fastListener
 * false promises (never a request checked against no keys) and stays
 * true to fastListener true (nothing waits for the fetch but requests
 * that need the keys). failedRefetchDuration is the wait after a failed
 * fetch (Envoy's default 1s). */
static void
parse_async_fetch(gwf_cfg *c, jwt_provider *p, const char *path,
                  const json_t *remote)
{
    static const char *const known[] = {"fastListener", "failedRefetchDuration",
                                        NULL};
    char field[GWF_CFG_PATH_MAX];
    const json_t *async = NULL;
    int fast = 0;

    if (gwf_cfg_object(c, path, remote, "asyncFetch", 0, &async) != GWF_OK ||
        !async)
        return;
    gwf_cfg_member(field, path, "asyncFetch");
    gwf_cfg_known(c, field, async, known);
    gwf_cfg_bool(c, field, async, "fastListener", 0, &fast);
    read_ms(c, field, async, "failedRefetchDuration", 0,
            JWT_MAX_CACHE_DURATION_S, &p->failed_refetch_ms);
}

/* retryPolicy {numRetries?, backOff?: {baseInterval, maxInterval?}}:
 * Envoy's RetryPolicy of the JWKS fetch, as kgateway fills it. Without
 * retryPolicy a failed fetch is not retried at once (the next try is
 * failedRefetchDuration later); with it, numRetries (default 1) more
 * tries follow, the k-th after min(baseInterval * 2^(k-1), maxInterval)
 * (defaults 1s and 10 x baseInterval). Envoy draws each wait at random
 * below that bound; gwf waits the bound itself, so the identity provider
 * sees no more than Envoy would send. */
static void
parse_retry_policy(gwf_cfg *c, jwt_provider *p, const char *path,
                   const json_t *remote)
{
    static const char *const known[] = {"numRetries", "backOff", NULL};
    static const char *const bknown[] = {"baseInterval", "maxInterval", NULL};
    char field[GWF_CFG_PATH_MAX], bpath[GWF_CFG_PATH_MAX];
    const json_t *retry = NULL, *backoff = NULL;
    int64_t retries = 1, max_ms = 0;

    if (gwf_cfg_object(c, path, remote, "retryPolicy", 0, &retry) != GWF_OK ||
        !retry)
        return;
    gwf_cfg_member(field, path, "retryPolicy");
    gwf_cfg_known(c, field, retry, known);
    /* kgateway: at least 1, an int32; more than 10 tries of one fetch is
     * never useful and gwf bounds it there. */
    if (gwf_cfg_int(c, field, retry, "numRetries", 0, 1, 10, &retries) ==
        GWF_OK)
        p->retries = (int)retries;
    p->retry_base_ms = JWT_DEFAULT_RETRY_BASE_MS;
    if (gwf_cfg_object(c, field, retry, "backOff", 0, &backoff) != GWF_OK)
        return;
    if (backoff) {
        gwf_cfg_member(bpath, field, "backOff");
        gwf_cfg_known(c, bpath, backoff, bknown);
        read_ms(c, bpath, backoff, "baseInterval", GWF_CFG_REQUIRED,
                JWT_MAX_CACHE_DURATION_S, &p->retry_base_ms);
        if (read_ms(c, bpath, backoff, "maxInterval", 0,
                    JWT_MAX_CACHE_DURATION_S, &max_ms) == GWF_OK &&
            max_ms > 0 && max_ms < p->retry_base_ms) {
            char sub[GWF_CFG_PATH_MAX];
            gwf_cfg_fail(c, gwf_cfg_member(sub, bpath, "maxInterval"),
                         "expected a duration of at least baseInterval "
                         "(%" PRId64 "ms), found %" PRId64 "ms",
                         p->retry_base_ms, max_ms);
        }
    }
    p->retry_max_ms = max_ms > 0 ? max_ms : p->retry_base_ms * 10;
}

/* url: kgateway's "full FQDN with protocol, host and path", at most 2048
 * characters, http:// or https://. A plain http:// URL is accepted, as
 * kgateway accepts it, with a warning: whoever can touch that path can
 * hand the gateway keys of their own. */
static void
parse_url(gwf_cfg *c, jwt_provider *p, const char *path, const json_t *remote)
{
    char field[GWF_CFG_PATH_MAX];
    const char *url = NULL;
    size_t scheme;

    if (read_bounded(c, path, remote, "url", GWF_CFG_REQUIRED, KGW_MAX_STRING,
                     &url) != GWF_OK ||
        !url)
        return;
    gwf_cfg_member(field, path, "url");
    scheme = strncasecmp(url, "https://", 8) == 0  ? 8
             : strncasecmp(url, "http://", 7) == 0 ? 7
                                                   : 0;
    if (scheme == 0 || strlen(url) <= scheme || url[scheme] == '/' ||
        strpbrk(url, " \r\n\t")) {
        gwf_cfg_fail(c, field,
                     "expected an http:// or https:// URL with a host, "
                     "found \"%.80s\"",
                     url);
        return;
    }
    p->remote_plain_http = scheme == 7;
    if (p->remote_plain_http)
        gwf_logf(c->inst, GWF_LOG_WARN,
                 "%s: \"%.200s\" is plain http: the keys are fetched without "
                 "TLS, and anyone on the path to the JWKS server can make "
                 "the gateway accept tokens of their own",
                 field, url);
    p->remote_url = strdup(url);
    if (!p->remote_url)
        gwf_cfg_no_memory(c, field);
}

static void
parse_remote(gwf_cfg *c, jwt_config *cfg, jwt_provider *p, const char *path,
             const json_t *remote)
{
    static const char *const known[] = {
        "url",         "backendRef", "cacheDuration", "asyncFetch",
        "retryPolicy", "caFile",     "fetchTimeout",  NULL};
    char field[GWF_CFG_PATH_MAX];
    int64_t timeout_s = 5;

    p->cache_duration_ms = 300 * 1000; /* kgateway: 5 minutes */
    p->failed_refetch_ms = JWT_DEFAULT_FAILED_REFETCH_MS;
    gwf_cfg_known(c, path, remote, known);
    parse_url(c, p, path, remote);
    read_ms(c, path, remote, "cacheDuration", 0, JWT_MAX_CACHE_DURATION_S,
            &p->cache_duration_ms);
    parse_async_fetch(c, p, path, remote);
    parse_retry_policy(c, p, path, remote);
    read_seconds(c, path, remote, "fetchTimeout", 1, 60, &timeout_s);
    p->fetch_timeout_ms = timeout_s * 1000;
    parse_ca_file(c, p, path, remote);
    if (p->remote_ca_file && p->remote_plain_http)
        gwf_cfg_fail(c, gwf_cfg_member(field, path, "caFile"),
                     "expected no caFile with an http:// url (there is no "
                     "TLS to verify)");
    parse_backend_ref(c, p, path, remote);
    cfg->has_remote |= p->remote_url != NULL;
}

/* Turn the text of jwks.local (inline, or the ConfigMap's data.jwks) into
 * keys: a PEM public key, a JWKS or one JWK, as kgateway reads them. */
static void
local_keys(gwf_cfg *c, jwt_provider *p, const char *field, const char *text,
           size_t len)
{
    char err[512], warn[256];

    p->jwks =
        jwt_jwks_parse_local(text, len, err, sizeof(err), warn, sizeof(warn));
    if (!p->jwks) {
        gwf_cfg_fail(c, field, "expected %s: %s",
                     jwt_text_is_pem(text, len)
                         ? "a PEM public key"
                         : "a JWKS with a usable signature key",
                     err);
        return;
    }
    if (warn[0])
        gwf_logf(c->inst, GWF_LOG_WARN, "%s: %s", field, warn);
}

/* configMapRef {name}: a ConfigMap in the GatewayExtension's namespace
 * (a LocalObjectReference) whose data key "jwks" holds the keys. */
static void
parse_config_map(gwf_cfg *c, jwt_provider *p, const char *path,
                 const json_t *local)
{
    static const char *const known[] = {"name", NULL};
    char field[GWF_CFG_PATH_MAX], sub[GWF_CFG_PATH_MAX];
    const json_t *ref = NULL, *data;
    const char *name = NULL;
    json_t *doc = NULL;
    gwf_view json = {0};
    gwf_status st;

    if (gwf_cfg_object(c, path, local, "configMapRef", GWF_CFG_REQUIRED,
                       &ref) != GWF_OK)
        return;
    gwf_cfg_member(field, path, "configMapRef");
    gwf_cfg_known(c, field, ref, known);
    if (read_bounded(c, field, ref, "name", GWF_CFG_REQUIRED | GWF_CFG_NONEMPTY,
                     KGW_MAX_NAME, &name) != GWF_OK ||
        !name)
        return;
    gwf_cfg_member(sub, field, "name");
    if (strchr(name, '/')) {
        gwf_cfg_fail(c, sub,
                     "expected a ConfigMap name (the GatewayExtension's "
                     "namespace is implied), found \"%.80s\"",
                     name);
        return;
    }
    st = c->inst->host->lookup_document(c->inst, "ConfigMap", name, &json);
    if (st == GWF_ERR_NOT_FOUND) {
        gwf_cfg_fail(c, sub, "ConfigMap %s not found", name);
        return;
    }
    if (st != GWF_OK) {
        gwf_cfg_fail(c, sub, "ConfigMap %s: cannot look it up (status %d)",
                     name, (int)st);
        return;
    }
    doc = json_loadb(json.ptr, json.len, 0, NULL);
    data =
        json_object_get(json_object_get(doc, "data"), KGW_JWKS_CONFIGMAP_KEY);
    if (!json_is_string(data) || json_string_length(data) == 0)
        gwf_cfg_fail(c, sub,
                     "ConfigMap %s: expected a non-empty data key \"jwks\" "
                     "(kgateway reads the keys there)",
                     name);
    else
        local_keys(c, p, sub, json_string_value(data),
                   json_string_length(data));
    json_decref(doc);
}

/* local: exactly one of inline (JWKS or PEM as text, at most kgateway's
 * 16384 characters; or a JWKS object, a gwf convenience) or
 * configMapRef. */
static void
parse_local(gwf_cfg *c, jwt_provider *p, const char *path, const json_t *local)
{
    static const char *const known[] = {"inline", "configMapRef", NULL};
    char field[GWF_CFG_PATH_MAX], err[512], warn[256];
    const json_t *keys = json_object_get(local, "inline");
    int kinds = present(local, "inline") + present(local, "configMapRef");

    gwf_cfg_known(c, path, local, known);
    if (kinds != 1) {
        gwf_cfg_fail(c, path,
                     "expected exactly one of inline or configMapRef, "
                     "found %d",
                     kinds);
        return;
    }
    if (present(local, "configMapRef")) {
        parse_config_map(c, p, path, local);
        return;
    }
    gwf_cfg_member(field, path, "inline");
    if (json_is_string(keys)) {
        if (json_string_length(keys) == 0 ||
            json_string_length(keys) > KGW_MAX_INLINE) {
            gwf_cfg_fail(c, field, "expected 1 to %d characters, found %zu",
                         KGW_MAX_INLINE, json_string_length(keys));
            return;
        }
        local_keys(c, p, field, json_string_value(keys),
                   json_string_length(keys));
        return;
    }
    if (!json_is_object(keys)) {
        gwf_cfg_fail(c, field,
                     "expected a JWKS or a PEM public key (text, or a JWKS "
                     "object {keys: [...]}), found %s",
                     gwf_json_kind(keys));
        return;
    }
    p->jwks = jwt_jwks_from_json(keys, err, sizeof(err), warn, sizeof(warn));
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
                             "{local: {inline: <JWKS or PEM>}} or {remote: "
                             "{url: ...}}",
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
    if (!remote && !local) {
        gwf_cfg_fail(c, field, "expected one of local or remote, found none");
        return;
    }
    if (remote) {
        parse_remote(c, cfg, p, gwf_cfg_member(sub, field, "remote"), remote);
        return;
    }
    gwf_cfg_member(sub, field, "local");
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
    read_bounded(c, path, obj, "name", GWF_CFG_REQUIRED | GWF_CFG_NONEMPTY,
                 KGW_MAX_NAME, &p->name);
    /* An empty issuer is kgateway's "any issuer", as an absent one. */
    read_bounded(c, path, obj, "issuer", 0, KGW_MAX_STRING, &p->issuer);
    if (p->issuer && !p->issuer[0])
        p->issuer = NULL;
    gwf_cfg_string_list(c, path, obj, "audiences", GWF_CFG_NONEMPTY,
                        GWF_CFG_NONEMPTY, KGW_MAX_LIST, &p->audiences,
                        &p->audience_count);
    for (size_t k = 0; k < p->audience_count; k++) {
        if (strlen(p->audiences[k]) > KGW_MAX_STRING) {
            char item[GWF_CFG_PATH_MAX], sub[GWF_CFG_PATH_MAX];
            gwf_cfg_item(item, gwf_cfg_member(sub, path, "audiences"), k);
            gwf_cfg_fail(c, item, "expected at most %d characters, found %zu",
                         KGW_MAX_STRING, strlen(p->audiences[k]));
        }
    }
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

/* Give each provider without tokenSource a second slot reading
 * ?access_token= (Envoy's other default place). The alias shares the
 * provider's name, rules and keys (keys_from) and owns nothing. */
static void
add_default_query_slots(jwt_config *cfg)
{
    size_t real = cfg->provider_count;

    for (size_t i = 0; i < real; i++) {
        jwt_provider *alias;
        if (!cfg->providers[i].default_source)
            continue;
        alias = &cfg->providers[cfg->provider_count++];
        *alias = cfg->providers[i];
        alias->source = JWT_SOURCE_QUERY;
        alias->source_name = "access_token";
        alias->prefix = "";
        alias->keys_from = i;
        alias->is_alias = 1;
    }
}

/* Whether the header `p` strips its token from (a query parameter is in
 * :path, which no header is) is none of the headers any provider writes
 * or removes for its claims (filter.c write_headers). */
static int
strip_target_apart(const jwt_config *cfg, const jwt_provider *p)
{
    const char *target = p->source == JWT_SOURCE_HEADER   ? p->source_name
                         : p->source == JWT_SOURCE_COOKIE ? "cookie"
                                                          : NULL;
    if (!target)
        return 1;
    for (size_t i = 0; i < cfg->provider_count; i++) {
        const jwt_provider *o = &cfg->providers[i];
        for (size_t k = 0; k < o->claim_header_count; k++)
            if (strcasecmp(o->claims_to_headers[k].header, target) == 0)
                return 0;
        if (o->forward_payload_header &&
            strcasecmp(o->forward_payload_header, target) == 0)
            return 0;
    }
    return 1;
}

static void
parse_providers(gwf_cfg *c, jwt_config *cfg)
{
    const json_t *list = NULL;
    size_t i;

    if (gwf_cfg_list(c, "", cfg->doc, "providers", 0, KGW_MAX_PROVIDERS,
                     &list) != GWF_OK)
        return;
    /* kgateway's type lets providers out, but its translation of a JWT
     * without providers is an empty requirement that Envoy's validation
     * refuses, so the policy never applies: refused here too, by name. */
    if (!list || json_array_size(list) == 0) {
        gwf_cfg_fail(c, "providers",
                     "expected 1 to %d providers, found %s (kgateway lets "
                     "the list out, but then no request could be "
                     "authenticated)",
                     KGW_MAX_PROVIDERS, list ? "an empty list" : "none");
        return;
    }
    /* Room for an alias slot per provider (add_default_query_slots). */
    cfg->providers = calloc(2 * json_array_size(list), sizeof(*cfg->providers));
    if (!cfg->providers) {
        gwf_cfg_no_memory(c, "providers");
        return;
    }
    cfg->provider_count = json_array_size(list);
    for (i = 0; i < cfg->provider_count; i++) {
        cfg->providers[i].keys_from = i;
        parse_provider(c, cfg, i, json_array_get(list, i));
    }
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
    if (gwf_cfg_status(c) != GWF_OK)
        return;
    add_default_query_slots(cfg);
    for (i = 0; i < cfg->provider_count; i++) {
        jwt_provider *p = &cfg->providers[i];
        p->place = place_of(cfg, i);
        p->source_name_len = p->source_name ? strlen(p->source_name) : 0;
        p->prefix_len = p->prefix ? strlen(p->prefix) : 0;
        p->strip_first = strip_target_apart(cfg, p);
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
        if (p->is_alias)
            continue; /* its provider's slot owns it all */
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

/* TrafficPolicy.spec.jwtAuth: exactly one of extensionRef (resolved by
 * the runtime, which hands this plugin the GatewayExtension's config) or
 * disable: {} (kgateway's PolicyDisable, an empty object: the runtime
 * plans no jwt_auth for the routes it covers, undoing a higher level). */
gwf_status
jwt_route_config_check(gwf_instance *inst, gwf_view json)
{
    static const char *const known[] = {"extensionRef", "disable", NULL};
    static const char *const ref_known[] = {"name", "namespace", NULL};
    static const char *const none[] = {NULL};
    json_error_t err;
    json_t *doc = json_loadb(json.ptr, json.len, JSON_REJECT_DUPLICATES, &err);
    const json_t *ref = NULL, *disable = NULL;
    gwf_cfg c;
    int kinds;

    gwf_cfg_init(&c, inst);
    if (!doc)
        return gwf_cfg_fail(&c, "",
                            "expected the jwtAuth object, found invalid "
                            "JSON: %s",
                            err.text);
    if (gwf_cfg_check_object(&c, "", doc, "the jwtAuth object",
                             GWF_CFG_REQUIRED) != GWF_OK)
        goto done;
    gwf_cfg_known(&c, "", doc, known);
    kinds = present(doc, "extensionRef") + present(doc, "disable");
    if (kinds != 1) {
        gwf_cfg_fail(&c, "",
                     "expected exactly one of extensionRef or disable, "
                     "found %d",
                     kinds);
        goto done;
    }
    if (gwf_cfg_object(&c, "", doc, "disable", 0, &disable) == GWF_OK &&
        disable)
        gwf_cfg_known(&c, "disable", disable, none);
    if (gwf_cfg_object(&c, "", doc, "extensionRef", 0, &ref) == GWF_OK && ref) {
        const char *s = NULL;
        gwf_cfg_known(&c, "extensionRef", ref, ref_known);
        read_bounded(&c, "extensionRef", ref, "name",
                     GWF_CFG_REQUIRED | GWF_CFG_NONEMPTY, KGW_MAX_NAME, &s);
        read_bounded(&c, "extensionRef", ref, "namespace", GWF_CFG_NONEMPTY,
                     KGW_MAX_NAME, &s);
    }
done:
    json_decref(doc);
    return gwf_cfg_status(&c);
}
