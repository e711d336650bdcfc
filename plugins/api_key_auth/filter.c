/*
 * filter.c - the api_key_auth plugin: kgateway's TrafficPolicy.apiKeyAuth
 * (APIKeyAuth) as a gwf plugin.
 *
 * Config (the apiKeyAuth object as the operator wrote it):
 *   keySources        up to 16 {header?, query?, cookie?} (at least one
 *                     each); tried in order, and inside one source header,
 *                     then query, then cookie. Default: [{header: api-key}]
 *   forwardCredential false (default): the key's header, query parameter
 *                     and cookie are removed before the upstream
 *   clientIdHeader    the header that carries the client id upstream
 *   secretRef         {name, namespace?, kind?: Secret, group?: ""}
 *   secretSelector    {matchLabels}: the runtime selects the Secrets and
 *                     adds gwfSelectedSecrets [name, ...] (their names in
 *                     the policy's namespace)
 *   disable           {}: the instance lets every request through
 * exactly one of secretRef, secretSelector, disable. Each entry of each
 * Secret (data base64-decoded, stringData as is, stringData winning) is
 * one client: the entry's name is the client id, its value the API key.
 *
 * A request's key is the first one a source yields; none is 401
 * "missing_api_key", one that no client has is 401 "unkonwn_api_key"
 * (sic: Envoy's details string, kept so access logs read the same),
 * both with Envoy's api_key_auth reply body. A key given twice in one
 * place (two headers, two parameters, two cookies) is refused as
 * "ambiguous_api_key" rather than guessing which one a later hop reads.
 * A place the host could not read (out of memory) is not an empty one:
 * it could hold the key, or a second one; the request is refused 500
 * "api_key_auth_read_failed", as for the plugin's other failures.
 * On success the client id is left as the shared stream value
 * "api_key_auth.client_id" (for rate limit descriptors) and, with
 * clientIdHeader, set on the request (replacing what the client sent).
 *
 * Cost. The plugin allocates nothing for a request whose key comes from
 * a header or a cookie: the key is read where the host keeps it (a query
 * key is decoded into a buffer on the stack, wiped afterwards), and each
 * worker owns the digest context its lookups reuse, so no EVP_MD_CTX
 * is made per request (OpenSSL 3.0 still allocates the digest's state on
 * each re-initialisation: one small malloc/free per lookup).
 */
#include "api_key_auth.h"

#include <gwf/sdk.h>
#include <gwf/sdk_config.h>
#include <gwf/sdk_metrics.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define AK_VALUE_CLIENT_ID "api_key_auth.client_id"
#define AK_MAX_SOURCES 16

enum {
    AK_ALLOWED = 0,
    AK_DENIED_MISSING,
    AK_DENIED_UNKNOWN,
    AK_DENIED_AMBIGUOUS,
    AK_ERROR, /* answered 500: the plugin or the host failed */
    AK_OUTCOMES
};
static const char *const outcome_names[AK_OUTCOMES] = {
    "allowed", "denied_missing", "denied_unknown", "denied_ambiguous", "error"};

typedef struct ak_source {
    char *header, *query, *cookie; /* NULL: not in this source */
    size_t header_len, query_len, cookie_len;
} ak_source;

typedef struct ak_config ak_config;

/* One per worker: the digest context of its lookups. */
typedef struct ak_worker {
    const ak_config *cfg;
    EVP_MD_CTX *work; /* NULL: a context per lookup */
} ak_worker;

struct ak_config {
    gwf_instance *instance;
    int disabled;
    int forward;
    char *client_id_header;
    ak_source sources[AK_MAX_SOURCES];
    size_t source_n;
    /* Every query parameter and cookie name of the sources, for removal. */
    const char *query_names[AK_MAX_SOURCES], *cookie_names[AK_MAX_SOURCES];
    size_t query_n, cookie_n;
    ak_keys keys;
    gwf_outcome_counter outcomes;
    ak_worker no_worker; /* for a host that runs no worker_start */
};

/* -- Config -----------------------------------------------------------------
 */

static char *
dup_or_null(gwf_cfg *c, const char *path, const char *s)
{
    char *d;

    if (!s)
        return NULL;
    d = strdup(s);
    if (!d)
        gwf_cfg_no_memory(c, path);
    return d;
}

static void
parse_sources(gwf_cfg *c, ak_config *cfg, const json_t *doc)
{
    static const char *const known[] = {"header", "query", "cookie", NULL};
    const json_t *list = NULL;

    gwf_cfg_list(c, "", doc, "keySources", 0, AK_MAX_SOURCES, &list);
    for (size_t i = 0; list && i < json_array_size(list); i++) {
        char path[GWF_CFG_PATH_MAX], sub[GWF_CFG_PATH_MAX];
        const json_t *item = json_array_get(list, i);
        const char *h = NULL, *q = NULL, *k = NULL;
        ak_source *src = &cfg->sources[cfg->source_n];

        gwf_cfg_item(path, "keySources", i);
        if (gwf_cfg_check_object(c, path, item, "{header?, query?, cookie?}",
                                 GWF_CFG_REQUIRED) != GWF_OK)
            continue;
        gwf_cfg_known(c, path, item, known);
        gwf_cfg_string(c, path, item, "header", GWF_CFG_NONEMPTY, &h);
        gwf_cfg_string(c, path, item, "query", GWF_CFG_NONEMPTY, &q);
        gwf_cfg_string(c, path, item, "cookie", GWF_CFG_NONEMPTY, &k);
        if (!h && !q && !k) {
            gwf_cfg_fail(c, path,
                         "expected at least one of header, query, "
                         "cookie");
            continue;
        }
        if ((h && strlen(h) > 256) || (q && strlen(q) > 256) ||
            (k && strlen(k) > 256)) {
            gwf_cfg_fail(c, path, "a name longer than 256 bytes");
            continue;
        }
        if (h && (h[0] == ':' || !gwf_is_header_name(h, strlen(h)))) {
            gwf_cfg_fail(c, gwf_cfg_member(sub, path, "header"),
                         "expected an HTTP header name, found \"%s\"", h);
            continue;
        }
        if (k &&
            (strpbrk(k, "=; \t\",") || !gwf_is_header_value(k, strlen(k)))) {
            gwf_cfg_fail(c, gwf_cfg_member(sub, path, "cookie"),
                         "expected a cookie name, found \"%s\"", k);
            continue;
        }
        src->header = dup_or_null(c, path, h);
        src->query = dup_or_null(c, path, q);
        src->cookie = dup_or_null(c, path, k);
        src->header_len = h ? strlen(h) : 0;
        src->query_len = q ? strlen(q) : 0;
        src->cookie_len = k ? strlen(k) : 0;
        cfg->source_n++;
        if (src->query)
            cfg->query_names[cfg->query_n++] = src->query;
        if (src->cookie)
            cfg->cookie_names[cfg->cookie_n++] = src->cookie;
    }
    if (gwf_cfg_status(c) == GWF_OK && cfg->source_n == 0) {
        cfg->sources[0].header = dup_or_null(c, "keySources", "api-key");
        cfg->sources[0].header_len = strlen("api-key");
        cfg->source_n = 1;
    }
}

/* One client: `client` (the Secret's entry name) with key `value`. */
static void
add_key(gwf_cfg *c, ak_config *cfg, const char *path, const char *secret,
        const char *client, const char *value, size_t len)
{
    const char *other = NULL;
    int rc;

    if (len == 0) {
        gwf_cfg_fail(c, path, "Secret %s: entry \"%s\" has an empty API key",
                     secret, client);
        return;
    }
    if (len > AK_MAX_KEY_LEN) {
        gwf_cfg_fail(c, path,
                     "Secret %s: entry \"%s\" has an API key longer than %d "
                     "bytes",
                     secret, client, AK_MAX_KEY_LEN);
        return;
    }
    if (!*client || !gwf_is_header_value(client, strlen(client))) {
        gwf_cfg_fail(c, path,
                     "Secret %s: entry name \"%s\" cannot be a client id",
                     secret, client);
        return;
    }
    rc = ak_keys_add(&cfg->keys, value, len, client, &other);
    if (rc == -2)
        gwf_cfg_no_memory(c, path);
    else if (rc == 1 && strcmp(other, client) != 0)
        gwf_cfg_fail(c, path,
                     "Secret %s: entry \"%s\" has the same API key as client "
                     "\"%s\": a key must name one client",
                     secret, client, other);
}

/* Every entry of Secret `ref` ("name" or "namespace/name"). */
static void
add_secret(gwf_cfg *c, ak_config *cfg, const char *path, const char *ref)
{
    gwf_view json;
    gwf_status st = cfg->instance->host->lookup_document(cfg->instance,
                                                         "Secret", ref, &json);
    json_t *doc, *data, *string_data;
    const char *name;
    json_t *value;

    if (st == GWF_ERR_NOT_FOUND) {
        gwf_cfg_fail(c, path, "Secret %s not found", ref);
        return;
    }
    if (st != GWF_OK) {
        gwf_cfg_fail(c, path, "Secret %s: lookup failed (status %d)", ref,
                     (int)st);
        return;
    }
    doc = json_loadb(json.ptr, json.len, 0, NULL);
    data = json_object_get(doc, "data");
    string_data = json_object_get(doc, "stringData");
    if ((data && !json_is_object(data)) ||
        (string_data && !json_is_object(string_data))) {
        gwf_cfg_fail(c, path, "Secret %s: data and stringData must be maps",
                     ref);
        json_decref(doc);
        return;
    }
    json_object_foreach(data, name, value)
    {
        char *raw = NULL;
        size_t raw_len = 0;
        if (json_object_get(string_data, name))
            continue; /* stringData wins, as Kubernetes merges them */
        if (!json_is_string(value) ||
            gwf_base64_decode(json_string_value(value),
                              json_string_length(value), &raw, &raw_len) != 0) {
            gwf_cfg_fail(c, path, "Secret %s: data entry \"%s\" is not base64",
                         ref, name);
            continue;
        }
        add_key(c, cfg, path, ref, name, raw, raw_len);
        gwf_secret_free(raw, raw_len);
    }
    json_object_foreach(string_data, name, value)
    {
        if (!json_is_string(value)) {
            gwf_cfg_fail(c, path,
                         "Secret %s: stringData entry \"%s\" is not a string",
                         ref, name);
            continue;
        }
        add_key(c, cfg, path, ref, name, json_string_value(value),
                json_string_length(value));
    }
    json_decref(doc);
}

static void
parse_secret_ref(gwf_cfg *c, ak_config *cfg, const json_t *ref)
{
    static const char *const known[] = {"name", "namespace", "kind", "group",
                                        NULL};
    const char *name = NULL, *ns = NULL, *kind = NULL, *group = NULL;
    char full[GWF_CFG_PATH_MAX];

    gwf_cfg_known(c, "secretRef", ref, known);
    gwf_cfg_string(c, "secretRef", ref, "name",
                   GWF_CFG_REQUIRED | GWF_CFG_NONEMPTY, &name);
    gwf_cfg_string(c, "secretRef", ref, "namespace", GWF_CFG_NONEMPTY, &ns);
    gwf_cfg_string(c, "secretRef", ref, "kind", 0, &kind);
    gwf_cfg_string(c, "secretRef", ref, "group", 0, &group);
    if (kind && strcmp(kind, "Secret") != 0)
        gwf_cfg_fail(c, "secretRef.kind", "expected \"Secret\", found \"%s\"",
                     kind);
    if (group && *group && strcmp(group, "core") != 0)
        gwf_cfg_fail(c, "secretRef.group",
                     "expected \"\" (the core group), found \"%s\"", group);
    if (gwf_cfg_status(c) != GWF_OK || !name)
        return;
    snprintf(full, sizeof(full), "%s%s%s", ns ? ns : "", ns ? "/" : "", name);
    add_secret(c, cfg, "secretRef", full);
}

static void
parse_selector(gwf_cfg *c, ak_config *cfg, const json_t *doc, const json_t *sel)
{
    static const char *const known[] = {"matchLabels", NULL};
    const json_t *labels = NULL;
    const char **names = NULL;
    size_t n = 0;

    gwf_cfg_known(c, "secretSelector", sel, known);
    gwf_cfg_object(c, "secretSelector", sel, "matchLabels", GWF_CFG_REQUIRED,
                   &labels);
    if (!json_object_get(doc, "gwfSelectedSecrets")) {
        gwf_cfg_fail(c, "secretSelector",
                     "secretSelector needs the runtime's selection "
                     "(gwfSelectedSecrets); this host does not select "
                     "Secrets by label");
        return;
    }
    if (gwf_cfg_string_list(c, "", doc, "gwfSelectedSecrets", 0,
                            GWF_CFG_NONEMPTY, 0, &names, &n) != GWF_OK)
        return;
    for (size_t i = 0; i < n; i++) {
        char path[GWF_CFG_PATH_MAX];
        add_secret(c, cfg, gwf_cfg_item(path, "gwfSelectedSecrets", i),
                   names[i]);
    }
    free(names);
}

static gwf_status
ak_config_parse(ak_config *cfg, gwf_view json)
{
    static const char *const known[] = {
        "keySources",         "forwardCredential",
        "clientIdHeader",     "secretRef",
        "secretSelector",     "disable",
        "gwfSelectedSecrets", NULL};
    json_error_t jerr;
    json_t *doc = json_loadb(json.ptr, json.len, JSON_REJECT_DUPLICATES, &jerr);
    const json_t *ref = NULL, *sel = NULL, *disable = NULL;
    const char *client_header = NULL;
    gwf_cfg c;
    int set;

    gwf_cfg_init(&c, cfg->instance);
    if (!doc)
        return gwf_cfg_fail(&c, "",
                            "expected a JSON object, found invalid JSON: %s "
                            "(line %d, column %d)",
                            jerr.text, jerr.line, jerr.column);
    if (gwf_cfg_check_object(&c, "", doc, "an object", GWF_CFG_REQUIRED) !=
        GWF_OK) {
        json_decref(doc);
        return gwf_cfg_status(&c);
    }
    gwf_cfg_known(&c, "", doc, known);
    parse_sources(&c, cfg, doc);
    gwf_cfg_bool(&c, "", doc, "forwardCredential", 0, &cfg->forward);
    gwf_cfg_string(&c, "", doc, "clientIdHeader", GWF_CFG_NONEMPTY,
                   &client_header);
    if (client_header &&
        (client_header[0] == ':' ||
         !gwf_is_header_name(client_header, strlen(client_header)) ||
         strcasecmp(client_header, "content-length") == 0 ||
         strcasecmp(client_header, "transfer-encoding") == 0 ||
         strcasecmp(client_header, "host") == 0))
        gwf_cfg_fail(&c, "clientIdHeader",
                     "expected an HTTP header name gwf may set, found \"%s\"",
                     client_header);
    else if (client_header)
        cfg->client_id_header =
            dup_or_null(&c, "clientIdHeader", client_header);
    gwf_cfg_object(&c, "", doc, "secretRef", 0, &ref);
    gwf_cfg_object(&c, "", doc, "secretSelector", 0, &sel);
    gwf_cfg_object(&c, "", doc, "disable", 0, &disable);
    set = !!ref + !!sel + !!disable;
    if (set != 1)
        gwf_cfg_fail(&c, "",
                     "expected exactly one of secretRef, secretSelector, "
                     "disable; found %d",
                     set);
    if (disable) {
        static const char *const none[] = {NULL};
        gwf_cfg_known(&c, "disable", disable, none);
        cfg->disabled = 1;
    }
    if (gwf_cfg_status(&c) == GWF_OK && ak_keys_init(&cfg->keys) != 0)
        gwf_cfg_fail(&c, "", "no randomness for the key table");
    if (gwf_cfg_status(&c) == GWF_OK && ref && set == 1)
        parse_secret_ref(&c, cfg, ref);
    if (gwf_cfg_status(&c) == GWF_OK && sel && set == 1)
        parse_selector(&c, cfg, doc, sel);
    if (gwf_cfg_status(&c) == GWF_OK && ak_keys_build(&cfg->keys) != 0)
        gwf_cfg_no_memory(&c, "");
    if (gwf_cfg_status(&c) == GWF_OK && !cfg->disabled &&
        ak_keys_count(&cfg->keys) == 0)
        gwf_logf(cfg->instance, GWF_LOG_WARN,
                 "no API key in the selected Secrets: every request is "
                 "refused");
    json_decref(doc);
    return gwf_cfg_status(&c);
}

static void
ak_config_destroy(void *config)
{
    ak_config *cfg = config;

    if (!cfg)
        return;
    for (size_t i = 0; i < AK_MAX_SOURCES; i++) {
        free(cfg->sources[i].header);
        free(cfg->sources[i].query);
        free(cfg->sources[i].cookie);
    }
    free(cfg->client_id_header);
    ak_keys_free(&cfg->keys);
    free(cfg);
}

static gwf_status
ak_config_create(const gwf_config_init *init, void **config)
{
    ak_config *cfg = calloc(1, sizeof(*cfg));
    gwf_status st;

    if (!cfg)
        return GWF_ERR_NO_MEMORY;
    cfg->instance = init->instance;
    cfg->no_worker.cfg = cfg;
    st = ak_config_parse(cfg, init->config_json);
    if (st != GWF_OK) {
        ak_config_destroy(cfg);
        return st;
    }
    gwf_outcome_counter_define(&cfg->outcomes, init->instance,
                               "api_key_auth_requests_total",
                               "Requests seen by api_key_auth, by result.",
                               "result", outcome_names, AK_OUTCOMES);
    *config = cfg;
    return GWF_OK;
}

/* -- Workers and streams ----------------------------------------------------
 */

static gwf_status
ak_worker_start(void *config, const gwf_worker_init *init, void **worker)
{
    ak_worker *w = calloc(1, sizeof(*w));

    (void)init;
    if (!w)
        return GWF_ERR_NO_MEMORY;
    w->cfg = config;
    /* Without it each lookup makes a context of its own: slower, the
     * same answers. */
    if (!w->cfg->disabled)
        w->work = EVP_MD_CTX_new();
    *worker = w;
    return GWF_OK;
}

static void
ak_worker_stop(void *config, void *worker)
{
    ak_worker *w = worker;

    (void)config;
    if (!w)
        return;
    EVP_MD_CTX_free(w->work);
    free(w);
}

static gwf_status
ak_stream_create(gwf_stream *s, const gwf_stream_init *init, void **stream_ctx)
{
    (void)s;
    *stream_ctx =
        init->worker ? init->worker : &((ak_config *)init->config)->no_worker;
    return GWF_OK;
}

/* -- Requests ---------------------------------------------------------------
 */

static void
count(const ak_config *cfg, int outcome)
{
    gwf_outcome_counter_add(&cfg->outcomes, (size_t)outcome);
}

/* 401 as Envoy's api_key_auth filter answers it. */
static gwf_action
deny(gwf_stream *s, const ak_config *cfg, int outcome, const char *details)
{
    static const char body[] = "Client authentication failed.";
    gwf_header h = {gwf_cstr("content-type"), gwf_cstr("text/plain")};

    count(cfg, outcome);
    s->host->send_local_reply(s, 401, &h, 1, body, sizeof(body) - 1, details);
    return GWF_PAUSE;
}

/* AK_UNREAD: the host could not read a place (out of memory). */
enum { AK_ABSENT = 0, AK_FOUND = 1, AK_TWICE = 2, AK_UNREAD = 3 };

/* The key in header `src->header` (find_key's answers). */
static int
header_key(gwf_stream *s, const ak_source *src, gwf_view *key)
{
    gwf_view v, second;
    int r = gwf_presence(s->host->header_get(s, GWF_REQUEST, src->header,
                                             src->header_len, 0, &v));

    if (r <= 0 || v.len == 0)
        return r < 0 ? AK_UNREAD : AK_ABSENT;
    r = gwf_presence(s->host->header_get(s, GWF_REQUEST, src->header,
                                         src->header_len, 1, &second));
    if (r != 0)
        return r > 0 ? AK_TWICE : AK_UNREAD;
    /* "Bearer <key>" in any header: the key is what follows (as
     * Envoy's filter reads it, case-sensitively). */
    if (v.len > 7 && memcmp(v.ptr, "Bearer ", 7) == 0) {
        v.ptr += 7;
        v.len -= 7;
    }
    if (v.len > AK_MAX_KEY_LEN)
        v.len = 0;
    *key = v;
    return AK_FOUND;
}

/* The key in query parameter `src->query`, decoded into `buf`. */
static int
query_key(gwf_stream *s, const ak_source *src, gwf_view *key, char *buf,
          size_t *buf_used)
{
    gwf_view path;
    const char *raw = NULL;
    size_t raw_len = 0, n, len = 0;
    int r = gwf_presence(gwf_header_get(s, GWF_REQUEST, ":path", &path));

    if (r <= 0)
        return r < 0 ? AK_UNREAD : AK_ABSENT;
    n = ak_query_find(path.ptr, path.len, src->query, src->query_len, &raw,
                      &raw_len);
    if (n > 1)
        return AK_TWICE;
    if (n == 0 || raw_len == 0)
        return AK_ABSENT;
    if (ak_percent_decode_into(raw, raw_len, buf, AK_MAX_KEY_LEN, &len) != 0)
        len = 0;
    *buf_used = len;
    key->ptr = buf;
    key->len = len;
    return AK_FOUND;
}

/* The key in cookie `src->cookie`, over every Cookie line. */
static int
cookie_key(gwf_stream *s, const ak_source *src, gwf_view *key)
{
    const char *first = NULL;
    size_t first_len = 0, total = 0;
    gwf_view v;

    for (size_t i = 0;; i++) {
        int r = gwf_presence(
            s->host->header_get(s, GWF_REQUEST, "cookie", 6, i, &v));
        if (r < 0)
            return AK_UNREAD; /* a line unread could hold a second key */
        if (r == 0)
            break;
        const char *val = NULL;
        size_t val_len = 0;
        size_t n = ak_cookie_find(v.ptr, v.len, src->cookie, src->cookie_len,
                                  &val, &val_len);
        if (n && !total) {
            first = val;
            first_len = val_len;
        }
        total += n;
    }
    if (total > 1)
        return AK_TWICE;
    if (total == 0 || first_len == 0)
        return AK_ABSENT;
    key->ptr = first;
    key->len = first_len <= AK_MAX_KEY_LEN ? first_len : 0;
    return AK_FOUND;
}

/* The key in source `src`: header, then query, then cookie. On AK_FOUND
 * `*key` is the key: a view of the request's own bytes, or of `buf`
 * (AK_MAX_KEY_LEN bytes) for a query key, which is percent-decoded;
 * `*buf_used` says how many bytes of `buf` the caller must wipe. A key
 * too long for any client, or a malformed escape, is an empty key: one
 * no client has. A place the host could not read is AK_UNREAD, never
 * skipped: it could hold the key, or a second one. */
static int
find_key(gwf_stream *s, const ak_source *src, gwf_view *key, char *buf,
         size_t *buf_used)
{
    int r = src->header ? header_key(s, src, key) : AK_ABSENT;

    if (r == AK_ABSENT && src->query)
        r = query_key(s, src, key, buf, buf_used);
    if (r == AK_ABSENT && src->cookie)
        r = cookie_key(s, src, key);
    return r;
}

/* forwardCredential false: every place a key could be, removed.
 * Returns GWF_OK, or the first failure (out of memory, a host that
 * refused a rewrite or could not read the target or a Cookie line): the
 * key may still be in the request, so the caller must not let it
 * through. */
static gwf_status
strip_credentials(gwf_stream *s, const ak_config *cfg)
{
    gwf_view v;
    char *out = NULL;
    size_t out_len = 0;
    gwf_status st = GWF_OK;

    for (size_t i = 0; i < cfg->source_n; i++)
        if (cfg->sources[i].header) {
            gwf_status rm =
                gwf_header_remove(s, GWF_REQUEST, cfg->sources[i].header);
            if (rm != GWF_OK && rm != GWF_ERR_NOT_FOUND)
                return rm;
        }
    if (cfg->query_n) {
        st = gwf_header_get(s, GWF_REQUEST, ":path", &v);
        if (st != GWF_OK && st != GWF_ERR_NOT_FOUND)
            return st; /* a target unread could hold the key */
        int rc = st == GWF_OK ? ak_query_remove(v.ptr, v.len, cfg->query_names,
                                                cfg->query_n, &out, &out_len)
                              : 0;
        if (rc < 0)
            return GWF_ERR_NO_MEMORY;
        st = GWF_OK;
        if (rc == 1) {
            st = s->host->header_set(s, GWF_REQUEST, ":path", 5, out, out_len);
            free(out);
            if (st != GWF_OK)
                return st;
        }
    }
    if (!cfg->cookie_n)
        return GWF_OK;
    /* Rebuild every Cookie line without the key's cookies. */
    size_t lines = s->host->header_count(s, GWF_REQUEST);
    char **kept = calloc(lines ? lines : 1, sizeof(*kept));
    size_t *kept_len = calloc(lines ? lines : 1, sizeof(*kept_len));
    size_t k = 0;
    int changed = 0;

    if (!kept || !kept_len) {
        free(kept);
        free(kept_len);
        return GWF_ERR_NO_MEMORY;
    }
    for (size_t i = 0; st == GWF_OK && k < lines; i++) {
        gwf_status got =
            s->host->header_get(s, GWF_REQUEST, "cookie", 6, i, &v);
        if (got != GWF_OK) {
            if (got != GWF_ERR_NOT_FOUND)
                st = got; /* a line unread could hold the key */
            break;
        }
        int rc = ak_cookie_remove(v.ptr, v.len, cfg->cookie_names,
                                  cfg->cookie_n, &out, &out_len);
        if (rc < 0) {
            st = GWF_ERR_NO_MEMORY;
        } else if (rc == 1) {
            changed = 1;
            kept[k] = out;
            kept_len[k++] = out_len;
        } else {
            kept[k] = strndup(v.ptr ? v.ptr : "", v.len);
            kept_len[k++] = v.len;
            if (!kept[k - 1])
                st = GWF_ERR_NO_MEMORY;
        }
    }
    if (st == GWF_OK && changed) {
        st = gwf_header_remove(s, GWF_REQUEST, "cookie");
        for (size_t i = 0; st == GWF_OK && i < k; i++)
            if (kept[i] && kept_len[i])
                st = s->host->header_add(s, GWF_REQUEST, "cookie", 6, kept[i],
                                         kept_len[i]);
    }
    for (size_t i = 0; i < k; i++)
        free(kept[i]);
    free(kept);
    free(kept_len);
    return st;
}

static gwf_action
ak_request_headers(gwf_stream *s, void *stream_ctx, int32_t end_of_stream)
{
    const ak_worker *w = stream_ctx;
    const ak_config *cfg = w->cfg;
    char buf[AK_MAX_KEY_LEN];
    gwf_view key = {NULL, 0};
    size_t buf_used = 0;
    const char *client;
    int found = AK_ABSENT;

    (void)end_of_stream;
    if (cfg->disabled)
        return GWF_CONTINUE;
    for (size_t i = 0; i < cfg->source_n && found == AK_ABSENT; i++)
        found = find_key(s, &cfg->sources[i], &key, buf, &buf_used);
    if (found == AK_UNREAD) {
        /* Not "no key", and no guess which key counts: refused. */
        count(cfg, AK_ERROR);
        gwf_stream_logf(s, GWF_LOG_ERROR,
                        "api_key_auth: the host could not read a place of "
                        "the key: refused");
        gwf_reply(s, 500, NULL, "api_key_auth_read_failed");
        return GWF_PAUSE;
    }
    if (found == AK_TWICE)
        return deny(s, cfg, AK_DENIED_AMBIGUOUS, "ambiguous_api_key");
    if (found == AK_ABSENT)
        return deny(s, cfg, AK_DENIED_MISSING, "missing_api_key");
    client =
        key.len ? ak_keys_find_in(&cfg->keys, w->work, key.ptr, key.len) : NULL;
    OPENSSL_cleanse(buf, buf_used);
    if (!client)
        return deny(s, cfg, AK_DENIED_UNKNOWN, "unkonwn_api_key");
    if (!cfg->forward && strip_credentials(s, cfg) != GWF_OK) {
        /* The key could still reach the upstream: refuse instead. */
        count(cfg, AK_ERROR);
        gwf_reply(s, 500, NULL, "api_key_auth_strip_failed");
        return GWF_PAUSE;
    }
    if (cfg->client_id_header &&
        gwf_header_set(s, GWF_REQUEST, cfg->client_id_header, client) !=
            GWF_OK) {
        /* The client id was checked when the config loaded; a host that
         * still refuses it must not let the request pass without it. */
        count(cfg, AK_ERROR);
        gwf_reply(s, 500, NULL, "api_key_auth_client_id_header");
        return GWF_PAUSE;
    }
    s->host->value_set(s, AK_VALUE_CLIENT_ID, strlen(AK_VALUE_CLIENT_ID),
                       GWF_VALUE_STRING, client, strlen(client));
    count(cfg, AK_ALLOWED);
    return GWF_CONTINUE;
}

GWF_PLUGIN_ENTRY = {
    .size = sizeof(gwf_plugin),
    .abi_major = GWF_ABI_VERSION_MAJOR,
    .abi_minor = GWF_ABI_VERSION_MINOR,
    .name = "api_key_auth",
    .version = "0.1.0",
    .description = "API key authentication (kgateway TrafficPolicy "
                   "apiKeyAuth)",
    .config_create = ak_config_create,
    .config_destroy = ak_config_destroy,
    .worker_start = ak_worker_start,
    .worker_stop = ak_worker_stop,
    .stream_create = ak_stream_create,
    .request_headers = ak_request_headers,
};
