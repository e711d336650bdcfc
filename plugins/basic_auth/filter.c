/*
 * filter.c - the basic_auth plugin: kgateway's TrafficPolicy.basicAuth
 * (BasicAuthPolicy) as a gwf plugin.
 *
 * Config (the basicAuth object as the operator wrote it, exactly one of):
 *   users      1-256 htpasswd lines "user:hash"
 *   secretRef  {name, namespace?, key? (".htpasswd")}: a Secret whose key
 *              holds an htpasswd file
 *   disable    {}: the instance lets every request through
 * Every line is checked when the config loads (htpasswd.c); a bad line
 * fails the config, naming the line and the user, never the hash.
 *
 * A request needs exactly one Authorization header carrying Basic
 * credentials that match a user; otherwise it is answered 401 with the
 * reply of Envoy's basic_auth filter (its bodies, its details strings,
 * `WWW-Authenticate: Basic realm="<scheme>://<host><path>"`). Envoy's filter
 * leaves the Authorization header in the request, so does this one; the
 * user name is left to the rest of the chain as the shared stream value
 * "basic_auth.username". Envoy's forward_username_header is not in
 * kgateway's API, so not here either. An Authorization value the host
 * could not read (out of memory) is not an absent one: it is refused
 * with a 401 of its own, and an unread second value never hides a
 * duplicate.
 *
 * Slow hashes (APR1, bcrypt) are verified once per worker and credential:
 * cache.c keeps a keyed SHA-256 of verified Authorization values. SHA-1
 * users are verified on every request, without the cache (a SHA-1 costs
 * no more than the cache's digest would).
 *
 * Cost. The plugin allocates nothing for a request: the credential is
 * decoded into a buffer on the stack (wiped before the hook returns), and
 * each worker owns the digest context its SHA-1 checks reuse (cache.c
 * has its own for the cache's digests), so no EVP_MD_CTX is made per
 * request. (OpenSSL 3.0 still allocates the digest's own state on each
 * re-initialisation, and a context copy does the same: one small
 * malloc/free per digest that the EVP API cannot avoid.)
 */
#include "basic_auth.h"

#include <gwf/sdk.h>
#include <gwf/sdk_config.h>
#include <gwf/sdk_metrics.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BA_VALUE_USERNAME "basic_auth.username"

/* Outcomes, the metric's "result" label. */
enum {
    BA_ALLOWED = 0,
    BA_DENIED_MISSING,
    BA_DENIED_SCHEME,
    BA_DENIED_MALFORMED,
    BA_DENIED_INVALID,
    BA_DENIED_UNREAD, /* the host could not read an Authorization value */
    BA_OUTCOMES
};
static const char *const outcome_names[BA_OUTCOMES] = {
    "allowed",          "denied_missing", "denied_scheme",
    "denied_malformed", "denied_invalid", "denied_unread"};

typedef struct ba_config ba_config;

typedef struct ba_worker {
    const ba_config *cfg;
    ba_cache *cache;       /* NULL: every credential is verified */
    EVP_MD_CTX *sha1_work; /* NULL: a context per SHA-1 check */
} ba_worker;

struct ba_config {
    gwf_instance *instance;
    int disabled;
    ba_users users;
    unsigned char cache_key[BA_DIGEST_LEN];
    gwf_outcome_counter outcomes;
    ba_worker no_worker; /* for a host that runs no worker_start */
};

/* -- Config -----------------------------------------------------------------
 */

/* Every line of an htpasswd file; blank lines and '#' comments are
 * skipped, as Apache does. */
static void
add_file(gwf_cfg *c, ba_users *us, const char *path, const char *text,
         size_t len)
{
    size_t line_no = 0;
    const char *p = text, *end = text + len;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl ? nl : end;
        size_t n = (size_t)(line_end - p);
        char err[512];
        int rc;

        line_no++;
        if (n && p[n - 1] == '\r')
            n--;
        if (n && p[0] != '#') {
            rc = ba_users_add_line(us, p, n, err, sizeof(err));
            if (rc == -2) {
                gwf_cfg_no_memory(c, path);
                return;
            }
            if (rc != 0)
                gwf_cfg_fail(c, path, "line %zu: %s", line_no, err);
        }
        p = nl ? nl + 1 : end;
    }
}

static gwf_status
ba_config_parse(ba_config *cfg, gwf_view json)
{
    static const char *const known[] = {"users", "secretRef", "disable", NULL};
    json_error_t jerr;
    json_t *doc = json_loadb(json.ptr, json.len, JSON_REJECT_DUPLICATES, &jerr);
    const json_t *users = NULL, *ref = NULL, *disable = NULL;
    gwf_cfg c;
    char err[512];
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
    gwf_cfg_list(&c, "", doc, "users", GWF_CFG_NONEMPTY, 256, &users);
    gwf_cfg_object(&c, "", doc, "secretRef", 0, &ref);
    gwf_cfg_object(&c, "", doc, "disable", 0, &disable);
    set = !!users + !!ref + !!disable;
    if (gwf_cfg_status(&c) == GWF_OK && set != 1)
        gwf_cfg_fail(&c, "",
                     "expected exactly one of users, secretRef, disable; "
                     "found %d",
                     set);
    if (disable) {
        static const char *const none[] = {NULL};
        gwf_cfg_known(&c, "disable", disable, none);
        cfg->disabled = 1;
    }
    for (size_t i = 0; users && i < json_array_size(users); i++) {
        char path[GWF_CFG_PATH_MAX];
        const json_t *line = json_array_get(users, i);
        int rc;

        gwf_cfg_item(path, "users", i);
        if (!json_is_string(line)) {
            gwf_cfg_fail(&c, path, "expected a string, found %s",
                         gwf_json_kind(line));
            continue;
        }
        rc = ba_users_add_line(&cfg->users, json_string_value(line),
                               json_string_length(line), err, sizeof(err));
        if (rc == -2)
            gwf_cfg_no_memory(&c, path);
        else if (rc != 0)
            gwf_cfg_fail(&c, path, "%s", err);
    }
    if (ref) {
        char *text = NULL;
        size_t len = 0;
        if (gwf_cfg_secret_key_ref(&c, "", doc, "secretRef", 0, ".htpasswd",
                                   &text, &len) == GWF_OK &&
            text) {
            add_file(&c, &cfg->users, "secretRef", text, len);
            if (gwf_cfg_status(&c) == GWF_OK && cfg->users.n == 0)
                gwf_cfg_fail(&c, "secretRef",
                             "the Secret's htpasswd data holds no user");
        }
        ba_wipe_free(text, len);
    }
    if (gwf_cfg_status(&c) == GWF_OK &&
        ba_users_finish(&cfg->users, err, sizeof(err)) != 0)
        gwf_cfg_fail(&c, users ? "users" : "secretRef", "%s", err);
    json_decref(doc);
    return gwf_cfg_status(&c);
}

static void ba_config_destroy(void *config);

static gwf_status
ba_config_create(const gwf_config_init *init, void **config)
{
    ba_config *cfg = calloc(1, sizeof(*cfg));
    gwf_status st;

    if (!cfg)
        return GWF_ERR_NO_MEMORY;
    cfg->instance = init->instance;
    cfg->no_worker.cfg = cfg;
    st = ba_config_parse(cfg, init->config_json);
    if (st == GWF_OK && RAND_bytes(cfg->cache_key, sizeof(cfg->cache_key)) != 1)
        st = gwf_config_errorf(init->instance, "",
                               "no randomness for the credential cache key");
    if (st != GWF_OK) {
        ba_config_destroy(cfg);
        return st;
    }
    gwf_outcome_counter_define(&cfg->outcomes, init->instance,
                               "basic_auth_requests_total",
                               "Requests seen by basic_auth, by result.",
                               "result", outcome_names, BA_OUTCOMES);
    *config = cfg;
    return GWF_OK;
}

static void
ba_config_destroy(void *config)
{
    ba_config *cfg = config;

    if (!cfg)
        return;
    ba_users_free(&cfg->users);
    OPENSSL_cleanse(cfg->cache_key, sizeof(cfg->cache_key));
    free(cfg);
}

/* -- Workers and streams ----------------------------------------------------
 */

static gwf_status
ba_worker_start(void *config, const gwf_worker_init *init, void **worker)
{
    ba_config *cfg = config;
    ba_worker *w = calloc(1, sizeof(*w));

    if (!w)
        return GWF_ERR_NO_MEMORY;
    w->cfg = cfg;
    if (!cfg->disabled) {
        /* Without it each check makes a context of its own: slower, the
         * same answers. */
        w->sha1_work = EVP_MD_CTX_new();
        w->cache = ba_cache_new(BA_CACHE_ENTRIES);
        if (!w->cache)
            gwf_logf(init->instance, GWF_LOG_WARN,
                     "no memory for the credential cache; every credential "
                     "is verified");
    }
    *worker = w;
    return GWF_OK;
}

static void
ba_worker_stop(void *config, void *worker)
{
    ba_worker *w = worker;

    (void)config;
    if (!w)
        return;
    ba_cache_free(w->cache);
    EVP_MD_CTX_free(w->sha1_work);
    free(w);
}

static gwf_status
ba_stream_create(gwf_stream *s, const gwf_stream_init *init, void **stream_ctx)
{
    (void)s;
    *stream_ctx =
        init->worker ? init->worker : &((ba_config *)init->config)->no_worker;
    return GWF_OK;
}

static void
count(const ba_config *cfg, int outcome)
{
    gwf_outcome_counter_add(&cfg->outcomes, (size_t)outcome);
}

/* realm="<scheme>://<authority><path without query>", as Envoy's
 * filter builds it ("http://host/" for GET / on Host: host in its
 * integration tests); bytes that could end or escape the quoted string,
 * or are not visible ASCII, are left out. */
static void
build_realm(gwf_stream *s, char *out, size_t size)
{
    static const char *const parts[] = {":scheme", "://", ":authority",
                                        ":path"};
    size_t n = 0;

    for (size_t i = 0; i < 4; i++) {
        gwf_view v;
        if (i == 1)
            v = gwf_cstr(parts[i]);
        else if (gwf_header_get(s, GWF_REQUEST, parts[i], &v) != GWF_OK)
            continue;
        for (size_t k = 0; k < v.len && n + 1 < size; k++) {
            unsigned char c = (unsigned char)v.ptr[k];
            if (i == 3 && (c == '?' || c == '#'))
                break;
            if (c > 0x20 && c < 0x7f && c != '"' && c != '\\')
                out[n++] = (char)c;
        }
    }
    out[n] = '\0';
}

/* 401 as Envoy's basic_auth filter answers it. */
static gwf_action
deny(gwf_stream *s, const ba_config *cfg, int outcome, const char *body,
     const char *details)
{
    char realm[512], challenge[600];
    gwf_header headers[2];

    count(cfg, outcome);
    build_realm(s, realm, sizeof(realm));
    snprintf(challenge, sizeof(challenge), "Basic realm=\"%s\"", realm);
    headers[0].name = gwf_cstr("www-authenticate");
    headers[0].value = gwf_cstr(challenge);
    headers[1].name = gwf_cstr("content-type");
    headers[1].value = gwf_cstr("text/plain");
    s->host->send_local_reply(s, 401, headers, 2, body, strlen(body), details);
    return GWF_PAUSE;
}

static gwf_action
deny_invalid(gwf_stream *s, const ba_config *cfg)
{
    return deny(s, cfg, BA_DENIED_INVALID,
                "User authentication failed. Invalid username/password "
                "combination.",
                "invalid_credential_for_basic_auth");
}

static gwf_action
deny_malformed(gwf_stream *s, const ba_config *cfg)
{
    return deny(s, cfg, BA_DENIED_MALFORMED,
                "User authentication failed. Invalid basic credential format.",
                "invalid_format_for_basic_auth");
}

/* The host could not read an Authorization value (out of memory): not
 * "no credential", and not one value when a second may be there. */
static gwf_action
deny_unread(gwf_stream *s, const ba_config *cfg)
{
    gwf_stream_logf(s, GWF_LOG_ERROR,
                    "basic_auth: the host could not read the Authorization "
                    "header: refused");
    return deny(s, cfg, BA_DENIED_UNREAD,
                "User authentication failed. The credential could not be "
                "read.",
                "unreadable_credential_for_basic_auth");
}

/* Is `u` (index `index`) the user this Authorization value verifies
 * as? Through the worker's cache for the slow hashes. */
static int
verified(ba_worker *w, const ba_user *u, size_t index, gwf_view value,
         const char *password, size_t password_len)
{
    unsigned char digest[BA_DIGEST_LEN];
    int ok;

    if (u->kind == BA_HASH_SHA1 || !w->cache ||
        ba_cache_digest(w->cache, w->cfg->cache_key, value.ptr, value.len,
                        digest) != 0)
        return ba_user_verify_in(&w->cfg->users, w->sha1_work, u, password,
                                 password_len);
    if (ba_cache_get(w->cache, digest) == (long)index)
        return 1;
    ok = ba_user_verify_in(&w->cfg->users, w->sha1_work, u, password,
                           password_len);
    if (ok)
        ba_cache_put(w->cache, digest, index);
    return ok;
}

static gwf_action
ba_request_headers(gwf_stream *s, void *stream_ctx, int32_t end_of_stream)
{
    ba_worker *w = stream_ctx;
    const ba_config *cfg = w->cfg;
    gwf_view value, second;
    char decoded[BA_MAX_DECODED_LEN];
    size_t decoded_len = 0, user_len = 0, index;
    const ba_user *u;
    gwf_status st;
    int rc, ok;

    (void)end_of_stream;
    if (cfg->disabled)
        return GWF_CONTINUE;
    st = s->host->header_get(s, GWF_REQUEST, "authorization", 13, 0, &value);
    if (st == GWF_ERR_NOT_FOUND)
        return deny(s, cfg, BA_DENIED_MISSING,
                    "User authentication failed. Missing username and "
                    "password.",
                    "no_credential_for_basic_auth");
    if (st != GWF_OK)
        return deny_unread(s, cfg);
    /* Two Authorization headers: which one a later hop reads is not ours
     * to guess. */
    st = s->host->header_get(s, GWF_REQUEST, "authorization", 13, 1, &second);
    if (st == GWF_OK)
        return deny_malformed(s, cfg);
    if (st != GWF_ERR_NOT_FOUND)
        return deny_unread(s, cfg);
    rc = ba_parse_authorization_into(value.ptr, value.len, decoded,
                                     &decoded_len, &user_len);
    if (rc == BA_CRED_BAD_SCHEME)
        return deny(s, cfg, BA_DENIED_SCHEME,
                    "User authentication failed. Expect 'Basic' auth scheme.",
                    "invalid_scheme_for_basic_auth");
    if (rc != BA_CRED_OK)
        return deny_malformed(s, cfg);
    u = ba_users_find(&cfg->users, decoded, user_len);
    if (!u) {
        /* Pay the costliest user's hash anyway: an unknown name answered
         * at once would tell a client which names exist (a bcrypt check
         * takes milliseconds). The result is not used. */
        if (cfg->users.n)
            (void)ba_user_verify_in(
                &cfg->users, w->sha1_work, &cfg->users.v[cfg->users.decoy],
                decoded + user_len + 1, decoded_len - user_len - 1);
        OPENSSL_cleanse(decoded, decoded_len);
        return deny_invalid(s, cfg);
    }
    index = (size_t)(u - cfg->users.v);
    ok = verified(w, u, index, value, decoded + user_len + 1,
                  decoded_len - user_len - 1);
    OPENSSL_cleanse(decoded, decoded_len);
    if (!ok)
        return deny_invalid(s, cfg);
    count(cfg, BA_ALLOWED);
    s->host->value_set(s, BA_VALUE_USERNAME, strlen(BA_VALUE_USERNAME),
                       GWF_VALUE_STRING, u->name, u->name_len);
    return GWF_CONTINUE;
}

GWF_PLUGIN_ENTRY = {
    .size = sizeof(gwf_plugin),
    .abi_major = GWF_ABI_VERSION_MAJOR,
    .abi_minor = GWF_ABI_VERSION_MINOR,
    .name = "basic_auth",
    .version = "0.1.0",
    .description = "HTTP basic authentication (kgateway TrafficPolicy "
                   "basicAuth)",
    .config_create = ba_config_create,
    .config_destroy = ba_config_destroy,
    .worker_start = ba_worker_start,
    .worker_stop = ba_worker_stop,
    .stream_create = ba_stream_create,
    .request_headers = ba_request_headers,
};
