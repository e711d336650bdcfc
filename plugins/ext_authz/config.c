/*
 * config.c - the extAuth config (kgateway's ExtAuthProvider, from a
 * GatewayExtension's spec.extAuth) and the per-route contextExtensions
 * (a TrafficPolicy's spec.extAuth).
 *
 * Every field is checked and every mistake reported with its path, so an
 * operator sees all of them in one `gwf validate`. The backendRef is
 * resolved here, once, through host->lookup_document("Backend"): workers
 * only ever see the resulting URL.
 */
#include <gwf/sdk_file.h>
#include <gwf/sdk_json.h>
#include "ext_authz.h"

#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Report every key of `obj` not in `known` (NULL-terminated). */
static gwf_status
check_known(gwf_instance *inst, const char *path, const json_t *obj,
            const char *const *known, const char *expected)
{
    const char *key;
    const json_t *value;
    gwf_status st = GWF_OK;

    json_object_foreach((json_t *)obj, key, value)
    {
        int found = 0;
        char field[160];

        for (size_t i = 0; known[i]; i++)
            found |= strcmp(key, known[i]) == 0;
        if (found)
            continue;
        snprintf(field, sizeof(field), "%s%s%s", path, *path ? "." : "", key);
        st = gwf_config_errorf(inst, field,
                               "unknown field (expected one "
                               "of: %s)",
                               expected);
    }
    return st;
}

static gwf_status
want_object(gwf_instance *inst, const char *field, const json_t *v)
{
    if (json_is_object(v))
        return GWF_OK;
    return gwf_config_errorf(inst, field, "expected an object, found %s",
                             gwf_json_kind(v));
}

static gwf_status
parse_bool(gwf_instance *inst, const char *field, const json_t *v, int *out)
{
    if (!v)
        return GWF_OK;
    if (!json_is_boolean(v))
        return gwf_config_errorf(inst, field,
                                 "expected true or false, "
                                 "found %s",
                                 gwf_json_kind(v));
    *out = json_is_true(v);
    return GWF_OK;
}

static gwf_status
parse_duration(gwf_instance *inst, const char *field, const json_t *v,
               uint64_t *ns)
{
    uint64_t value;

    if (!v)
        return GWF_OK;
    if (!json_is_string(v))
        return gwf_config_errorf(inst, field,
                                 "expected a duration such as "
                                 "\"200ms\" or \"1s\", found %s",
                                 gwf_json_kind(v));
    if (gwf_parse_duration(json_string_value(v), json_string_length(v),
                           &value) != 0 ||
        value == 0)
        return gwf_config_errorf(inst, field,
                                 "expected a duration above "
                                 "zero such as \"200ms\" or \"1s\", found "
                                 "\"%.40s\"",
                                 json_string_value(v));
    *ns = value;
    return GWF_OK;
}

/* A list of header names: ["x-user", "x-team"]. */
static gwf_status
parse_names(gwf_instance *inst, const char *field, const json_t *v,
            ea_names *out)
{
    size_t i;
    const json_t *item;
    gwf_status st = GWF_OK;

    if (!v)
        return GWF_OK;
    if (!json_is_array(v))
        return gwf_config_errorf(inst, field,
                                 "expected a list of header "
                                 "names, found %s",
                                 gwf_json_kind(v));
    json_array_foreach(v, i, item)
    {
        char item_field[160];

        snprintf(item_field, sizeof(item_field), "%s[%zu]", field, i);
        if (!json_is_string(item)) {
            st = gwf_config_errorf(inst, item_field,
                                   "expected a header "
                                   "name, found %s",
                                   gwf_json_kind(item));
            continue;
        }
        if (!gwf_is_header_name(json_string_value(item),
                                json_string_length(item))) {
            st = gwf_config_errorf(inst, item_field,
                                   "expected a header "
                                   "name (letters, digits and "
                                   "!#$%%&'*+-.^_`|~), found \"%.40s\"",
                                   json_string_value(item));
            continue;
        }
        if (ea_names_add(out, json_string_value(item),
                         json_string_length(item)) != 0)
            return gwf_config_errorf(inst, field, "out of memory");
    }
    return st;
}

static gwf_status
add_header_pair(gwf_instance *inst, const char *name_field,
                const char *value_field, const char *name, size_t name_len,
                const json_t *value, ea_pairs *out)
{
    if (!gwf_is_header_name(name, name_len))
        return gwf_config_errorf(inst, name_field,
                                 "expected a header name "
                                 "(letters, digits and !#$%%&'*+-.^_`|~), "
                                 "found \"%.40s\"",
                                 name);
    if (!json_is_string(value))
        return gwf_config_errorf(inst, value_field,
                                 "expected a string "
                                 "(quote numbers in YAML), found %s",
                                 gwf_json_kind(value));
    if (!gwf_is_header_value(json_string_value(value),
                             json_string_length(value)))
        return gwf_config_errorf(inst, value_field,
                                 "expected a header value without "
                                 "control characters (HTAB is allowed)");
    if (ea_pairs_add(out, name, name_len, json_string_value(value),
                     json_string_length(value)) != 0)
        return gwf_config_errorf(inst, value_field, "out of memory");
    return GWF_OK;
}

/* headersToAdd: a map {name: value} or a list [{name, value}]. */
static gwf_status
parse_pairs(gwf_instance *inst, const char *field, const json_t *v,
            ea_pairs *out)
{
    gwf_status st = GWF_OK;

    if (!v)
        return GWF_OK;
    if (json_is_object(v)) {
        const char *key;
        const json_t *value;

        json_object_foreach((json_t *)v, key, value)
        {
            char f[200];

            snprintf(f, sizeof(f), "%s.%s", field, key);
            if (add_header_pair(inst, f, f, key, strlen(key), value, out) !=
                GWF_OK)
                st = GWF_ERR_BAD_ARGUMENT;
        }
        return st;
    }
    if (json_is_array(v)) {
        size_t i;
        const json_t *item;

        json_array_foreach(v, i, item)
        {
            char f[160], nf[180], vf[180];
            const json_t *name, *value;

            snprintf(f, sizeof(f), "%s[%zu]", field, i);
            snprintf(nf, sizeof(nf), "%s.name", f);
            snprintf(vf, sizeof(vf), "%s.value", f);
            name = json_object_get(item, "name");
            value = json_object_get(item, "value");
            if (!json_is_object(item) || !json_is_string(name) || !value) {
                st = gwf_config_errorf(inst, f,
                                       "expected an object "
                                       "{name, value}");
                continue;
            }
            if (add_header_pair(inst, nf, vf, json_string_value(name),
                                json_string_length(name), value, out) != GWF_OK)
                st = GWF_ERR_BAD_ARGUMENT;
        }
        return st;
    }
    return gwf_config_errorf(inst, field,
                             "expected a map of header name to "
                             "value, found %s",
                             gwf_json_kind(v));
}

/* Where a tls block comes from: the extension's own `tls` (backend NULL)
 * or the `spec.tls` of the Backend `backend` that the backendRef at
 * `ref_field` resolved to. Errors in the latter are reported on the
 * backendRef, naming the Backend's field. */
typedef struct tls_source {
    const char *ref_field;
    const char *backend;
} tls_source;

static gwf_status parse_tls(ea_config *cfg, const tls_source *src,
                            const json_t *tls);

/* Resolve backendRef {name, namespace?, port?} through a static Backend
 * into cfg->connect_host / connect_port, and, unless the extension set
 * its own tls, the Backend's spec.tls into cfg->tls / ca_file /
 * server_name. */
static gwf_status
parse_backend_ref(ea_config *cfg, const char *field, const json_t *ref)
{
    static const char *const known[] = {"name", "namespace", "port",
                                        "kind", "group",     NULL};
    gwf_instance *inst = cfg->instance;
    const json_t *name, *ns, *port, *kind, *spec, *hosts, *first;
    char f[160], full[300];
    gwf_view spec_json;
    json_t *doc;
    json_error_t error;
    gwf_status st;

    if (!ref)
        return gwf_config_errorf(inst, field,
                                 "is required: expected "
                                 "{name} of a Backend");
    if (want_object(inst, field, ref) != GWF_OK)
        return GWF_ERR_BAD_ARGUMENT;
    st = check_known(inst, field, ref, known,
                     "name, namespace, port, kind, group");
    name = json_object_get(ref, "name");
    ns = json_object_get(ref, "namespace");
    port = json_object_get(ref, "port");
    kind = json_object_get(ref, "kind");
    snprintf(f, sizeof(f), "%s.name", field);
    if (!json_is_string(name) || json_string_length(name) == 0)
        return gwf_config_errorf(inst, f,
                                 "is required: expected the name "
                                 "of a Backend");
    snprintf(f, sizeof(f), "%s.kind", field);
    if (kind && (!json_is_string(kind) ||
                 strcmp(json_string_value(kind), "Backend") != 0))
        return gwf_config_errorf(inst, f,
                                 "expected \"Backend\" (a static "
                                 "Backend names the authz server's "
                                 "address)");
    snprintf(f, sizeof(f), "%s.namespace", field);
    if (ns && !json_is_string(ns))
        return gwf_config_errorf(inst, f, "expected a string, found %s",
                                 gwf_json_kind(ns));
    snprintf(f, sizeof(f), "%s.port", field);
    if (port && (!json_is_integer(port) || json_integer_value(port) < 1 ||
                 json_integer_value(port) > 65535))
        return gwf_config_errorf(inst, f, "expected a port 1-65535");
    if (ns)
        snprintf(full, sizeof(full), "%s/%s", json_string_value(ns),
                 json_string_value(name));
    else
        snprintf(full, sizeof(full), "%s", json_string_value(name));
    snprintf(f, sizeof(f), "%s.name", field);
    if (inst->host->lookup_document(inst, "Backend", full, &spec_json) !=
        GWF_OK)
        return gwf_config_errorf(inst, f, "Backend %s not found", full);
    doc = json_loadb(spec_json.ptr, spec_json.len, 0, &error);
    spec = doc;
    hosts = json_object_get(json_object_get(spec, "static"), "hosts");
    first = json_array_get(hosts, 0);
    if (!json_is_string(json_object_get(first, "host")) ||
        !json_is_integer(json_object_get(first, "port"))) {
        json_decref(doc);
        return gwf_config_errorf(inst, f,
                                 "Backend %s is not a static "
                                 "Backend with hosts[{host, port}]",
                                 full);
    }
    cfg->connect_host =
        strdup(json_string_value(json_object_get(first, "host")));
    cfg->connect_port =
        (unsigned)(port ? json_integer_value(port)
                        : json_integer_value(json_object_get(first, "port")));
    if (!cfg->connect_host) {
        json_decref(doc);
        return gwf_config_errorf(inst, f, "out of memory");
    }
    /* The extension's own tls (parsed before) wins over the Backend's. */
    if (!cfg->tls && json_object_get(spec, "tls")) {
        tls_source src = {.ref_field = f, .backend = full};
        if (parse_tls(cfg, &src, json_object_get(spec, "tls")) != GWF_OK)
            st = GWF_ERR_BAD_ARGUMENT;
    }
    json_decref(doc);
    return st;
}

static gwf_status tls_errorf(ea_config *cfg, const tls_source *src,
                             const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static gwf_status
tls_errorf(ea_config *cfg, const tls_source *src, const char *key,
           const char *fmt, ...)
{
    char message[512], field[160];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    if (src->backend)
        return gwf_config_errorf(cfg->instance, src->ref_field,
                                 "Backend %s: spec.tls%s%s: %s", src->backend,
                                 key ? "." : "", key ? key : "", message);
    snprintf(field, sizeof(field), "tls%s%s", key ? "." : "", key ? key : "");
    return gwf_config_errorf(cfg->instance, field, "%s", message);
}

/* A tls block {caFile?, serverName?}: sets cfg->tls, ca_file (made
 * absolute against the directory of this instance's manifest) and
 * server_name. */
static gwf_status
parse_tls(ea_config *cfg, const tls_source *src, const json_t *tls)
{
    gwf_instance *inst = cfg->instance;
    const json_t *ca, *sni, *value;
    const char *key;
    gwf_status st = GWF_OK;

    if (!tls)
        return GWF_OK;
    /* Set even when the block is wrong, so that a Backend's tls does not
     * stand in for the extension's. */
    cfg->tls = 1;
    if (!json_is_object(tls))
        return tls_errorf(cfg, src, NULL, "expected an object, found %s",
                          gwf_json_kind(tls));
    json_object_foreach((json_t *)tls, key, value)
    {
        if (strcmp(key, "caFile") != 0 && strcmp(key, "serverName") != 0)
            st = tls_errorf(cfg, src, key,
                            "unknown field (expected one of: caFile, "
                            "serverName)");
    }
    ca = json_object_get(tls, "caFile");
    sni = json_object_get(tls, "serverName");
    if (ca) {
        gwf_view dir = inst->host->config_dir(inst);
        const char *path;
        gwf_strbuf b = {0};

        if (!json_is_string(ca) || json_string_length(ca) == 0)
            return tls_errorf(cfg, src, "caFile",
                              "expected a file name, found %s",
                              gwf_json_kind(ca));
        path = json_string_value(ca);
        if (path[0] != '/' && dir.len > 0) {
            gwf_strbuf_append(&b, dir.ptr, dir.len);
            gwf_strbuf_append(&b, "/", 1);
        }
        gwf_strbuf_append(&b, path, strlen(path));
        if (b.failed) {
            gwf_strbuf_free(&b);
            return tls_errorf(cfg, src, "caFile", "out of memory");
        }
        cfg->ca_file = b.data;
        /* libcurl opens it on the worker, per connection: a FIFO there
         * would block the worker, so refuse anything but a readable
         * regular file now, as a config error naming the field. */
        char why[512];
        if (gwf_file_check(cfg->ca_file, why, sizeof(why)) != 0)
            return tls_errorf(cfg, src, "caFile", "%s", why);
    }
    if (sni) {
        if (!json_is_string(sni) || json_string_length(sni) == 0 ||
            strpbrk(json_string_value(sni), "/:@ ?#[]"))
            return tls_errorf(cfg, src, "serverName", "expected a host name");
        cfg->server_name = strdup(json_string_value(sni));
        if (!cfg->server_name)
            return tls_errorf(cfg, src, "serverName", "out of memory");
    }
    return st;
}

/* retry: {attempts, backoff: {baseInterval, maxInterval}} */
static gwf_status
parse_retry(ea_config *cfg, const char *field, const json_t *retry)
{
    static const char *const known[] = {"attempts", "backoff", NULL};
    static const char *const backoff_known[] = {"baseInterval", "maxInterval",
                                                NULL};
    gwf_instance *inst = cfg->instance;
    const json_t *attempts, *backoff;
    char f[160];
    gwf_status st;

    cfg->retry_base_ns = EA_DEFAULT_RETRY_BASE_NS;
    cfg->retry_max_ns = EA_DEFAULT_RETRY_MAX_NS;
    if (!retry)
        return GWF_OK;
    if (want_object(inst, field, retry) != GWF_OK)
        return GWF_ERR_BAD_ARGUMENT;
    st = check_known(inst, field, retry, known, "attempts, backoff");
    attempts = json_object_get(retry, "attempts");
    snprintf(f, sizeof(f), "%s.attempts", field);
    if (!attempts || !json_is_integer(attempts) ||
        json_integer_value(attempts) < 1 ||
        json_integer_value(attempts) > EA_MAX_RETRY_ATTEMPTS)
        st = gwf_config_errorf(inst, f,
                               "is required: expected an integer "
                               "1-%d (retries after the first attempt)",
                               EA_MAX_RETRY_ATTEMPTS);
    else
        cfg->retry_attempts = (unsigned)json_integer_value(attempts);
    backoff = json_object_get(retry, "backoff");
    snprintf(f, sizeof(f), "%s.backoff", field);
    if (backoff && want_object(inst, f, backoff) == GWF_OK) {
        char bf[200];
        if (check_known(inst, f, backoff, backoff_known,
                        "baseInterval, maxInterval") != GWF_OK)
            st = GWF_ERR_BAD_ARGUMENT;
        snprintf(bf, sizeof(bf), "%s.baseInterval", f);
        if (parse_duration(inst, bf, json_object_get(backoff, "baseInterval"),
                           &cfg->retry_base_ns) != GWF_OK)
            st = GWF_ERR_BAD_ARGUMENT;
        snprintf(bf, sizeof(bf), "%s.maxInterval", f);
        if (parse_duration(inst, bf, json_object_get(backoff, "maxInterval"),
                           &cfg->retry_max_ns) != GWF_OK)
            st = GWF_ERR_BAD_ARGUMENT;
        else if (cfg->retry_max_ns < cfg->retry_base_ns)
            st = gwf_config_errorf(inst, bf,
                                   "must not be shorter than "
                                   "baseInterval");
    } else if (backoff) {
        st = GWF_ERR_BAD_ARGUMENT;
    }
    return st;
}

static gwf_status
parse_http_service(ea_config *cfg, const json_t *svc)
{
    static const char *const known[] = {"backendRef",
                                        "pathPrefix",
                                        "requestTimeout",
                                        "authorizationRequest",
                                        "authorizationResponse",
                                        "retry",
                                        NULL};
    static const char *const req_known[] = {"headersToAdd", NULL};
    static const char *const resp_known[] = {"headersToBackend",
                                             "headersToClient",
                                             "headersToClientOnSuccess", NULL};
    gwf_instance *inst = cfg->instance;
    const json_t *prefix, *req, *resp;
    gwf_status st;

    if (want_object(inst, "httpService", svc) != GWF_OK)
        return GWF_ERR_BAD_ARGUMENT;
    st = check_known(inst, "httpService", svc, known,
                     "backendRef, pathPrefix, requestTimeout, "
                     "authorizationRequest, authorizationResponse, retry");
    if (parse_retry(cfg, "httpService.retry", json_object_get(svc, "retry")) !=
        GWF_OK)
        st = GWF_ERR_BAD_ARGUMENT;
    if (parse_backend_ref(cfg, "httpService.backendRef",
                          json_object_get(svc, "backendRef")) != GWF_OK)
        st = GWF_ERR_BAD_ARGUMENT;
    if (parse_duration(inst, "httpService.requestTimeout",
                       json_object_get(svc, "requestTimeout"),
                       &cfg->timeout_ns) != GWF_OK)
        st = GWF_ERR_BAD_ARGUMENT;
    prefix = json_object_get(svc, "pathPrefix");
    if (prefix) {
        const char *p = json_string_value(prefix);
        if (!json_is_string(prefix) || p[0] != '/' || strpbrk(p, "?# \t\r\n") ||
            strlen(p) != json_string_length(prefix))
            st = gwf_config_errorf(inst, "httpService.pathPrefix",
                                   "expected a path starting with '/', "
                                   "without query or spaces");
        else
            cfg->path_prefix = strdup(p);
    }
    req = json_object_get(svc, "authorizationRequest");
    if (req &&
        want_object(inst, "httpService.authorizationRequest", req) == GWF_OK) {
        if (check_known(inst, "httpService.authorizationRequest", req,
                        req_known, "headersToAdd") != GWF_OK ||
            parse_pairs(inst, "httpService.authorizationRequest.headersToAdd",
                        json_object_get(req, "headersToAdd"),
                        &cfg->headers_to_add) != GWF_OK)
            st = GWF_ERR_BAD_ARGUMENT;
    } else if (req) {
        st = GWF_ERR_BAD_ARGUMENT;
    }
    resp = json_object_get(svc, "authorizationResponse");
    if (resp && want_object(inst, "httpService.authorizationResponse", resp) ==
                    GWF_OK) {
        const char *base = "httpService.authorizationResponse";
        char f[200];

        if (check_known(inst, base, resp, resp_known,
                        "headersToBackend, headersToClient, "
                        "headersToClientOnSuccess") != GWF_OK)
            st = GWF_ERR_BAD_ARGUMENT;
        snprintf(f, sizeof(f), "%s.headersToBackend", base);
        if (parse_names(inst, f, json_object_get(resp, "headersToBackend"),
                        &cfg->headers_to_backend) != GWF_OK)
            st = GWF_ERR_BAD_ARGUMENT;
        snprintf(f, sizeof(f), "%s.headersToClient", base);
        if (parse_names(inst, f, json_object_get(resp, "headersToClient"),
                        &cfg->headers_to_client) != GWF_OK)
            st = GWF_ERR_BAD_ARGUMENT;
        snprintf(f, sizeof(f), "%s.headersToClientOnSuccess", base);
        if (parse_names(inst, f,
                        json_object_get(resp, "headersToClientOnSuccess"),
                        &cfg->headers_on_success) != GWF_OK)
            st = GWF_ERR_BAD_ARGUMENT;
    } else if (resp) {
        st = GWF_ERR_BAD_ARGUMENT;
    }
    return st;
}

static gwf_status
parse_grpc_service(ea_config *cfg, const json_t *svc)
{
    static const char *const known[] = {"backendRef", "authority",
                                        "requestTimeout", "retry", NULL};
    gwf_instance *inst = cfg->instance;
    const json_t *authority;
    gwf_status st;

    if (want_object(inst, "grpcService", svc) != GWF_OK)
        return GWF_ERR_BAD_ARGUMENT;
    st = check_known(inst, "grpcService", svc, known,
                     "backendRef, authority, requestTimeout, retry");
    if (parse_retry(cfg, "grpcService.retry", json_object_get(svc, "retry")) !=
        GWF_OK)
        st = GWF_ERR_BAD_ARGUMENT;
    if (parse_backend_ref(cfg, "grpcService.backendRef",
                          json_object_get(svc, "backendRef")) != GWF_OK)
        st = GWF_ERR_BAD_ARGUMENT;
    if (parse_duration(inst, "grpcService.requestTimeout",
                       json_object_get(svc, "requestTimeout"),
                       &cfg->timeout_ns) != GWF_OK)
        st = GWF_ERR_BAD_ARGUMENT;
    authority = json_object_get(svc, "authority");
    if (authority) {
        if (!json_is_string(authority) ||
            !gwf_is_header_value(json_string_value(authority),
                                 json_string_length(authority)) ||
            json_string_length(authority) == 0)
            st = gwf_config_errorf(inst, "grpcService.authority",
                                   "expected a host name (and port)");
        else
            cfg->authority = strdup(json_string_value(authority));
    }
    return st;
}

static gwf_status
parse_with_body(ea_config *cfg, const json_t *wb)
{
    static const char *const known[] = {
        "maxRequestBytes", "allowPartialMessage", "packAsBytes", NULL};
    gwf_instance *inst = cfg->instance;
    const json_t *max;
    gwf_status st;

    if (!wb)
        return GWF_OK;
    if (want_object(inst, "withRequestBody", wb) != GWF_OK)
        return GWF_ERR_BAD_ARGUMENT;
    st = check_known(inst, "withRequestBody", wb, known,
                     "maxRequestBytes, allowPartialMessage, packAsBytes");
    cfg->with_body = 1;
    max = json_object_get(wb, "maxRequestBytes");
    if (!max || !json_is_integer(max) || json_integer_value(max) < 1 ||
        json_integer_value(max) > UINT32_MAX)
        st = gwf_config_errorf(
            inst, "withRequestBody.maxRequestBytes",
            "is required: expected an integer 1-%" PRIu32 "%s%s", UINT32_MAX,
            max ? ", found " : "", max ? gwf_json_kind(max) : "");
    else
        cfg->max_request_bytes = (size_t)json_integer_value(max);
    if (parse_bool(inst, "withRequestBody.allowPartialMessage",
                   json_object_get(wb, "allowPartialMessage"),
                   &cfg->allow_partial) != GWF_OK)
        st = GWF_ERR_BAD_ARGUMENT;
    if (parse_bool(inst, "withRequestBody.packAsBytes",
                   json_object_get(wb, "packAsBytes"),
                   &cfg->pack_as_bytes) != GWF_OK)
        st = GWF_ERR_BAD_ARGUMENT;
    return st;
}

static gwf_status
build_url(ea_config *cfg)
{
    const char *host = cfg->server_name ? cfg->server_name : cfg->connect_host;
    int v6 = strchr(cfg->connect_host, ':') != NULL;
    gwf_strbuf b = {0};

    int url_v6 = strchr(host, ':') != NULL;

    gwf_strbuf_appendf(&b, "%s://%s%s%s:%u", cfg->tls ? "https" : "http",
                       url_v6 ? "[" : "", host, url_v6 ? "]" : "",
                       cfg->connect_port);
    if (b.failed) {
        gwf_strbuf_free(&b);
        return gwf_config_errorf(cfg->instance, NULL, "out of memory");
    }
    cfg->base_url = b.data;
    if (cfg->server_name) {
        gwf_strbuf c = {0};
        gwf_strbuf_appendf(&c, "%s:%u:%s%s%s:%u", cfg->server_name,
                           cfg->connect_port, v6 ? "[" : "", cfg->connect_host,
                           v6 ? "]" : "", cfg->connect_port);
        if (!c.failed)
            cfg->connect_to = curl_slist_append(NULL, c.data);
        gwf_strbuf_free(&c);
        if (!cfg->connect_to)
            return gwf_config_errorf(cfg->instance, NULL, "out of memory");
    }
    return GWF_OK;
}

gwf_status
ea_config_parse(ea_config *cfg, const json_t *root)
{
    static const char *const known[] = {"httpService",
                                        "grpcService",
                                        "headersToForward",
                                        "failOpen",
                                        "statusOnError",
                                        "withRequestBody",
                                        "tls",
                                        NULL};
    gwf_instance *inst = cfg->instance;
    const json_t *http, *grpc, *status;
    gwf_status st;

    cfg->timeout_ns = EA_DEFAULT_TIMEOUT_NS;
    cfg->status_on_error = EA_DEFAULT_STATUS_ON_ERROR;
    if (!json_is_object(root))
        return gwf_config_errorf(inst, NULL, "expected an object, found %s",
                                 gwf_json_kind(root));
    st = check_known(inst, "", root, known,
                     "httpService, grpcService, headersToForward, failOpen, "
                     "statusOnError, withRequestBody, tls");
    http = json_object_get(root, "httpService");
    grpc = json_object_get(root, "grpcService");
    if (http && grpc)
        return gwf_config_errorf(inst, "grpcService",
                                 "only one of "
                                 "httpService, grpcService may be set, "
                                 "found both");
    if (!http && !grpc)
        return gwf_config_errorf(inst, NULL,
                                 "expected one of httpService, "
                                 "grpcService");
    /* TLS first: it decides the URL's scheme and host name. */
    if (parse_tls(cfg, &(tls_source){.ref_field = NULL, .backend = NULL},
                  json_object_get(root, "tls")) != GWF_OK)
        st = GWF_ERR_BAD_ARGUMENT;
    if (http) {
        cfg->mode = EA_MODE_HTTP;
        if (parse_http_service(cfg, http) != GWF_OK)
            st = GWF_ERR_BAD_ARGUMENT;
    } else {
        cfg->mode = EA_MODE_GRPC;
        if (parse_grpc_service(cfg, grpc) != GWF_OK)
            st = GWF_ERR_BAD_ARGUMENT;
    }
    if (parse_names(inst, "headersToForward",
                    json_object_get(root, "headersToForward"),
                    &cfg->headers_to_forward) != GWF_OK)
        st = GWF_ERR_BAD_ARGUMENT;
    if (parse_bool(inst, "failOpen", json_object_get(root, "failOpen"),
                   &cfg->fail_open) != GWF_OK)
        st = GWF_ERR_BAD_ARGUMENT;
    status = json_object_get(root, "statusOnError");
    if (status) {
        if (!json_is_integer(status) || json_integer_value(status) < 200 ||
            json_integer_value(status) > 599)
            st = gwf_config_errorf(inst, "statusOnError",
                                   "expected an "
                                   "integer 200-599, found %s",
                                   gwf_json_kind(status));
        else
            cfg->status_on_error = (uint32_t)json_integer_value(status);
    }
    if (parse_with_body(cfg, json_object_get(root, "withRequestBody")) !=
        GWF_OK)
        st = GWF_ERR_BAD_ARGUMENT;
    if (!cfg->path_prefix && !(cfg->path_prefix = strdup("")))
        return gwf_config_errorf(inst, NULL, "out of memory");
    if (st == GWF_OK && cfg->connect_host)
        st = build_url(cfg);
    return st;
}

void
ea_config_free(ea_config *cfg)
{
    free(cfg->base_url);
    free(cfg->authority);
    free(cfg->path_prefix);
    free(cfg->ca_file);
    free(cfg->server_name);
    free(cfg->connect_host);
    curl_slist_free_all(cfg->connect_to);
    ea_names_free(&cfg->headers_to_forward);
    ea_pairs_free(&cfg->headers_to_add);
    ea_names_free(&cfg->headers_to_backend);
    ea_names_free(&cfg->headers_to_client);
    ea_names_free(&cfg->headers_on_success);
}

gwf_status
ea_route_parse(gwf_instance *inst, ea_route *route, const json_t *root)
{
    const json_t *ctx, *value;
    const char *key;
    gwf_status st = GWF_OK;

    if (!json_is_object(root))
        return gwf_config_errorf(inst, NULL, "expected an object, found %s",
                                 gwf_json_kind(root));
    ctx = json_object_get(root, "contextExtensions");
    if (!ctx)
        return GWF_OK;
    if (!json_is_object(ctx))
        return gwf_config_errorf(inst, "contextExtensions",
                                 "expected a map "
                                 "of string to string, found %s",
                                 gwf_json_kind(ctx));
    json_object_foreach((json_t *)ctx, key, value)
    {
        char f[200];
        ea_pair *grown;

        snprintf(f, sizeof(f), "contextExtensions.%s", key);
        if (!json_is_string(value)) {
            st = gwf_config_errorf(inst, f, "expected a string, found %s",
                                   gwf_json_kind(value));
            continue;
        }
        /* Keys keep their case: they are not header names. */
        grown = realloc(route->context_extensions.items,
                        (route->context_extensions.count + 1) * sizeof(*grown));
        if (!grown)
            return gwf_config_errorf(inst, f, "out of memory");
        route->context_extensions.items = grown;
        grown[route->context_extensions.count].name = strdup(key);
        grown[route->context_extensions.count].value =
            strdup(json_string_value(value));
        route->context_extensions.count++;
        if (!grown[route->context_extensions.count - 1].name ||
            !grown[route->context_extensions.count - 1].value)
            return gwf_config_errorf(inst, f, "out of memory");
    }
    return st;
}
