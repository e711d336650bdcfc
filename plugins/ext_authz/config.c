/*
 * config.c - the extAuth config (kgateway's ExtAuthProvider, from a
 * GatewayExtension's spec.extAuth) and the per-route contextExtensions
 * (a TrafficPolicy's spec.extAuth).
 *
 * Read through gwf/sdk_config.h: the SDK checks the shapes (unknown
 * fields, types, ranges, the backendRef) in the words every plugin uses;
 * what only ext_authz knows (header names and values, the path prefix,
 * TLS files and names) is checked here and reported through the same
 * gwf_cfg, with the field's path. Every mistake is reported, so an
 * operator sees all of them in one `gwf validate`. The backendRef is
 * resolved here, once, through the host's Backend documents: workers
 * only ever see the resulting URL.
 */
#include <gwf/sdk_file.h>
#include "ext_authz.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Durations have no upper bound of their own: the longest the SDK's
 * reader can name in whole hours (gwf_parse_duration stops at 2^63 ns). */
#define EA_MAX_DURATION_NS (UINT64_C(2562047) * 3600 * 1000000000)

/* A list of header names: ["x-user", "x-team"]. */
static void
parse_names(gwf_cfg *c, const char *path, const json_t *obj, const char *name,
            ea_names *out)
{
    char field[GWF_CFG_PATH_MAX], item[GWF_CFG_PATH_MAX];
    const char **names = NULL;
    size_t count = 0;

    if (gwf_cfg_string_list(c, path, obj, name, 0, 0, 0, &names, &count) !=
            GWF_OK ||
        !names)
        return;
    gwf_cfg_member(field, path, name);
    for (size_t i = 0; i < count; i++) {
        gwf_cfg_item(item, field, i);
        if (!gwf_is_header_name(names[i], strlen(names[i]))) {
            gwf_cfg_fail(c, item,
                         "expected a header name (letters, digits and "
                         "!#$%%&'*+-.^_`|~), found \"%.40s\"",
                         names[i]);
            continue;
        }
        if (ea_names_add(out, names[i], strlen(names[i])) != 0) {
            gwf_cfg_no_memory(c, item);
            break;
        }
    }
    free(names);
}

/* One header to add, its name and value already read as strings. The
 * value is an Envoy format string (kgateway passes it to Envoy's
 * AuthorizationRequest.headers_to_add as it is), compiled by the SDK's
 * engine (gwf/sdk_format.h), which reports a mistake at
 * "<path>.<field>". A constant one is rendered once, here; one that
 * reads the request keeps its format, rendered for each check
 * (http_check.c). */
static void
add_header_pair(gwf_cfg *c, const char *path, const char *field,
                const char *name, const char *value, ea_config *cfg)
{
    char name_field[GWF_CFG_PATH_MAX], value_field[GWF_CFG_PATH_MAX];
    int name_ok = gwf_is_header_name(name, strlen(name));
    gwf_format *format = NULL;
    gwf_format **grown;
    gwf_strbuf text = {0};
    size_t n = cfg->headers_to_add.count;

    gwf_cfg_member(value_field, path, field);
    /* the map form names the header by its key, the list form by "name" */
    if (strcmp(field, "value") == 0)
        gwf_cfg_member(name_field, path, "name");
    else
        snprintf(name_field, sizeof(name_field), "%s", value_field);
    if (!name_ok)
        gwf_cfg_fail(c, name_field,
                     "expected a header name (letters, digits and "
                     "!#$%%&'*+-.^_`|~), found \"%.40s\"",
                     name);
    if (!gwf_is_header_value(value, strlen(value))) {
        gwf_cfg_fail(c, value_field,
                     "expected a header value without control characters "
                     "(HTAB is allowed)");
        return;
    }
    if (gwf_format_compile(c, path, field, value, &format) != GWF_OK ||
        !name_ok)
        goto done;
    if (gwf_format_is_constant(format)) {
        gwf_format_render(format, NULL, &text);
        gwf_format_free(format);
        format = NULL;
    } else {
        gwf_strbuf_append(&text, value, strlen(value));
    }
    grown = realloc(cfg->headers_to_add_formats, (n + 1) * sizeof(*grown));
    if (grown)
        cfg->headers_to_add_formats = grown;
    if (text.failed || !grown ||
        ea_pairs_add(&cfg->headers_to_add, name, strlen(name),
                     text.data ? text.data : "", text.len) != 0) {
        gwf_cfg_no_memory(c, value_field);
        goto done;
    }
    grown[n] = format;
    format = NULL;
done:
    gwf_format_free(format);
    gwf_strbuf_free(&text);
}

/* headersToAdd: a map {name: value} (kgateway's) or a list
 * [{name, value}] (gwf's). */
static void
parse_pairs(gwf_cfg *c, const char *path, const json_t *obj, ea_config *cfg)
{
    char field[GWF_CFG_PATH_MAX], f[GWF_CFG_PATH_MAX];
    const json_t *v = json_object_get(obj, "headersToAdd");
    const json_t *item;
    const char *key, *name, *value;
    size_t i;

    gwf_cfg_member(field, path, "headersToAdd");
    if (!v || json_is_null(v))
        return;
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, key, item)
        {
            value = NULL;
            /* REQUIRED: in a map, null is no value either. */
            if (gwf_cfg_string(c, field, v, key, GWF_CFG_REQUIRED, &value) ==
                GWF_OK)
                add_header_pair(c, field, key, key, value, cfg);
        }
        return;
    }
    if (!json_is_array(v)) {
        gwf_cfg_fail(c, field,
                     "expected a map of header name to value, found %s",
                     gwf_json_kind(v));
        return;
    }
    json_array_foreach(v, i, item)
    {
        name = value = NULL;
        gwf_cfg_item(f, field, i);
        if (gwf_cfg_check_object(c, f, item, "an object {name, value}",
                                 GWF_CFG_REQUIRED) != GWF_OK)
            continue;
        gwf_cfg_string(c, f, item, "name", GWF_CFG_REQUIRED, &name);
        gwf_cfg_string(c, f, item, "value", GWF_CFG_REQUIRED, &value);
        if (name && value)
            add_header_pair(c, f, "value", name, value, cfg);
    }
}

/* Where a tls block comes from: the extension's own `tls` (backend NULL)
 * or the `spec.tls` of the Backend `backend` that the backendRef at
 * `ref_field` resolved to. Mistakes in the latter are reported on the
 * backendRef, naming the Backend's field. */
typedef struct tls_source {
    const char *ref_field;
    const char *backend;
} tls_source;

static gwf_status tls_fail(gwf_cfg *c, const tls_source *src, const char *key,
                           const char *fmt, ...) GWF_PRINTF(4, 5);

static gwf_status
tls_fail(gwf_cfg *c, const tls_source *src, const char *key, const char *fmt,
         ...)
{
    char message[512], field[GWF_CFG_PATH_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    if (src->backend)
        return gwf_cfg_fail(c, src->ref_field, "Backend %s: spec.tls.%s: %s",
                            src->backend, key, message);
    return gwf_cfg_fail(c, gwf_cfg_member(field, "tls", key), "%s", message);
}

/* The tls block's caFile and serverName. The extension's own block is
 * read with the SDK's readers; a Backend's spec.tls was checked by the
 * manifest layer ({caFile, serverName?}, strings), so only a value of
 * another type is reported here, on the backendRef. */
static void
tls_values(gwf_cfg *c, const tls_source *src, const json_t *tls,
           const char **ca, const char **sni)
{
    static const char *const known[] = {"caFile", "serverName", NULL};

    if (!src->backend) {
        if (gwf_cfg_check_object(c, "tls", tls, "an object", 0) != GWF_OK)
            return;
        gwf_cfg_known(c, "tls", tls, known);
        gwf_cfg_string(c, "tls", tls, "caFile", GWF_CFG_NONEMPTY, ca);
        gwf_cfg_string(c, "tls", tls, "serverName", GWF_CFG_NONEMPTY, sni);
        return;
    }
    for (size_t i = 0; known[i]; i++) {
        const json_t *v = json_object_get(tls, known[i]);
        if (!v || json_is_null(v))
            continue;
        if (!json_is_string(v) || !json_string_length(v) ||
            strlen(json_string_value(v)) != json_string_length(v))
            tls_fail(c, src, known[i], "expected a non-empty string, found %s",
                     gwf_json_kind(v));
        else
            *(i == 0 ? ca : sni) = json_string_value(v);
    }
}

/* A tls block {caFile?, serverName?}: sets cfg->tls, ca_file (made
 * absolute against the directory of this instance's manifest) and
 * server_name. */
static void
parse_tls(ea_config *cfg, gwf_cfg *c, const tls_source *src, const json_t *tls)
{
    gwf_instance *inst = cfg->instance;
    const char *ca = NULL, *sni = NULL;

    if (!tls || json_is_null(tls))
        return;
    /* Set even when the block is wrong, so that a Backend's tls does not
     * stand in for the extension's. */
    cfg->tls = 1;
    tls_values(c, src, tls, &ca, &sni);
    if (ca) {
        gwf_view dir = inst->host->config_dir(inst);
        gwf_strbuf b = {0};
        char why[512];

        if (ca[0] != '/' && dir.len > 0) {
            gwf_strbuf_append(&b, dir.ptr, dir.len);
            gwf_strbuf_append(&b, "/", 1);
        }
        gwf_strbuf_append(&b, ca, strlen(ca));
        if (b.failed) {
            gwf_strbuf_free(&b);
            gwf_cfg_no_memory(c, src->backend ? src->ref_field : "tls.caFile");
            return;
        }
        cfg->ca_file = b.data;
        /* libcurl opens it on the worker, per connection: a FIFO there
         * would block the worker, so refuse anything but a readable
         * regular file now, as a config error naming the field. */
        if (gwf_file_check(cfg->ca_file, why, sizeof(why)) != 0)
            tls_fail(c, src, "caFile", "%s", why);
    }
    if (sni) {
        if (strpbrk(sni, "/:@ ?#[]")) {
            tls_fail(c, src, "serverName", "expected a host name");
            return;
        }
        cfg->server_name = strdup(sni);
        if (!cfg->server_name)
            gwf_cfg_no_memory(c,
                              src->backend ? src->ref_field : "tls.serverName");
    }
}

/* backendRef {name, namespace?, port?, kind?, group?} to a static
 * Backend: cfg->connect_host / connect_port, and, unless the extension
 * set its own tls, the Backend's spec.tls into cfg->tls / ca_file /
 * server_name. */
static void
parse_backend_ref(ea_config *cfg, gwf_cfg *c, const char *path,
                  const json_t *svc)
{
    char field[GWF_CFG_PATH_MAX], name_field[GWF_CFG_PATH_MAX];
    gwf_cfg_backend b;
    const json_t *tls;

    if (gwf_cfg_backend_ref(c, path, svc, "backendRef", GWF_CFG_REQUIRED, 1,
                            &b) != GWF_OK)
        return;
    gwf_cfg_member(name_field, gwf_cfg_member(field, path, "backendRef"),
                   "name");
    cfg->connect_host = strdup(b.host);
    cfg->connect_port = b.port;
    if (!cfg->connect_host) {
        json_decref(b.spec);
        gwf_cfg_no_memory(c, name_field);
        return;
    }
    /* The extension's own tls (parsed before) wins over the Backend's. */
    tls = json_object_get(b.spec, "tls");
    if (!cfg->tls && tls) {
        tls_source src = {.ref_field = name_field, .backend = b.ref};
        parse_tls(cfg, c, &src, tls);
    }
    json_decref(b.spec);
}

/* retry: {attempts?, backoff?: {baseInterval, maxInterval?}}, kgateway's
 * ExtSvcRetryPolicy. Without `retry` a failed check is not tried again;
 * with it, `attempts` retries (default 1, 0 allowed) after the first
 * try. */
static void
parse_retry(ea_config *cfg, gwf_cfg *c, const char *path, const json_t *svc)
{
    static const char *const known[] = {"attempts", "backoff", NULL};
    static const char *const backoff_known[] = {"baseInterval", "maxInterval",
                                                NULL};
    char field[GWF_CFG_PATH_MAX], bf[GWF_CFG_PATH_MAX], mf[GWF_CFG_PATH_MAX];
    const json_t *retry = NULL, *backoff = NULL;
    int64_t attempts = EA_DEFAULT_RETRY_ATTEMPTS;
    int has_max = 0;

    cfg->retry_attempts = 0;
    cfg->retry_base_ns = EA_DEFAULT_RETRY_BASE_NS;
    cfg->retry_max_ns = EA_DEFAULT_RETRY_BASE_NS * EA_RETRY_MAX_FACTOR;
    if (gwf_cfg_object(c, path, svc, "retry", 0, &retry) != GWF_OK || !retry)
        return;
    gwf_cfg_member(field, path, "retry");
    gwf_cfg_known(c, field, retry, known);
    if (gwf_cfg_int(c, field, retry, "attempts", 0, 0, EA_MAX_RETRY_ATTEMPTS,
                    &attempts) == GWF_OK)
        cfg->retry_attempts = (unsigned)attempts;
    if (gwf_cfg_object(c, field, retry, "backoff", 0, &backoff) != GWF_OK ||
        !backoff)
        return;
    gwf_cfg_member(bf, field, "backoff");
    gwf_cfg_known(c, bf, backoff, backoff_known);
    if (gwf_cfg_duration(c, bf, backoff, "baseInterval", GWF_CFG_REQUIRED,
                         EA_MIN_DURATION_NS, EA_MAX_DURATION_NS,
                         &cfg->retry_base_ns) != GWF_OK)
        return;
    has_max = json_object_get(backoff, "maxInterval") &&
              !json_is_null(json_object_get(backoff, "maxInterval"));
    if (!has_max) {
        cfg->retry_max_ns =
            cfg->retry_base_ns > EA_MAX_DURATION_NS / EA_RETRY_MAX_FACTOR
                ? EA_MAX_DURATION_NS
                : cfg->retry_base_ns * EA_RETRY_MAX_FACTOR;
        return;
    }
    if (gwf_cfg_duration(c, bf, backoff, "maxInterval", 0, EA_MIN_DURATION_NS,
                         EA_MAX_DURATION_NS, &cfg->retry_max_ns) == GWF_OK &&
        cfg->retry_max_ns < cfg->retry_base_ns)
        gwf_cfg_fail(c, gwf_cfg_member(mf, bf, "maxInterval"),
                     "must not be shorter than baseInterval");
}

static void
parse_http_service(ea_config *cfg, gwf_cfg *c, const json_t *svc)
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
    static const char path[] = "httpService";
    const char *prefix = NULL;
    const json_t *req = NULL, *resp = NULL;

    gwf_cfg_known(c, path, svc, known);
    parse_retry(cfg, c, path, svc);
    parse_backend_ref(cfg, c, path, svc);
    cfg->timeout_ns = EA_DEFAULT_HTTP_TIMEOUT_NS;
    gwf_cfg_duration(c, path, svc, "requestTimeout", 0, EA_MIN_DURATION_NS,
                     EA_MAX_DURATION_NS, &cfg->timeout_ns);
    if (gwf_cfg_string(c, path, svc, "pathPrefix", 0, &prefix) == GWF_OK &&
        prefix) {
        if (prefix[0] != '/' || strpbrk(prefix, "?# \t\r\n"))
            gwf_cfg_fail(c, "httpService.pathPrefix",
                         "expected a path starting with '/', "
                         "without query or spaces");
        else if (!(cfg->path_prefix = strdup(prefix)))
            gwf_cfg_no_memory(c, "httpService.pathPrefix");
    }
    if (gwf_cfg_object(c, path, svc, "authorizationRequest", 0, &req) ==
            GWF_OK &&
        req) {
        static const char base[] = "httpService.authorizationRequest";
        gwf_cfg_known(c, base, req, req_known);
        parse_pairs(c, base, req, cfg);
    }
    if (gwf_cfg_object(c, path, svc, "authorizationResponse", 0, &resp) ==
            GWF_OK &&
        resp) {
        static const char base[] = "httpService.authorizationResponse";
        gwf_cfg_known(c, base, resp, resp_known);
        parse_names(c, base, resp, "headersToBackend",
                    &cfg->headers_to_backend);
        parse_names(c, base, resp, "headersToClient", &cfg->headers_to_client);
        parse_names(c, base, resp, "headersToClientOnSuccess",
                    &cfg->headers_on_success);
    }
}

static void
parse_grpc_service(ea_config *cfg, gwf_cfg *c, const json_t *svc)
{
    static const char *const known[] = {"backendRef", "authority",
                                        "requestTimeout", "retry", NULL};
    static const char path[] = "grpcService";
    const char *authority = NULL;

    gwf_cfg_known(c, path, svc, known);
    parse_retry(cfg, c, path, svc);
    parse_backend_ref(cfg, c, path, svc);
    cfg->timeout_ns = EA_DEFAULT_GRPC_TIMEOUT_NS;
    gwf_cfg_duration(c, path, svc, "requestTimeout", 0, EA_MIN_DURATION_NS,
                     EA_MAX_DURATION_NS, &cfg->timeout_ns);
    if (gwf_cfg_string(c, path, svc, "authority", GWF_CFG_NONEMPTY,
                       &authority) != GWF_OK ||
        !authority)
        return;
    if (!gwf_is_header_value(authority, strlen(authority)))
        gwf_cfg_fail(c, "grpcService.authority",
                     "expected a host name (and port)");
    else if (!(cfg->authority = strdup(authority)))
        gwf_cfg_no_memory(c, "grpcService.authority");
}

/* withRequestBody {maxRequestBytes, allowPartialMessage?, packAsBytes?}
 * under `base` (the extension's spec or a route's spec.extAuth), into
 * `out`. maxRequestBytes is kgateway's int32, at least 1. */
static void
parse_with_body(gwf_cfg *c, const char *base, const json_t *root,
                ea_body_settings *out)
{
    static const char *const known[] = {
        "maxRequestBytes", "allowPartialMessage", "packAsBytes", NULL};
    char path[GWF_CFG_PATH_MAX];
    const json_t *wb = NULL;
    int64_t max;

    if (gwf_cfg_object(c, base, root, "withRequestBody", 0, &wb) != GWF_OK ||
        !wb)
        return;
    gwf_cfg_member(path, base, "withRequestBody");
    gwf_cfg_known(c, path, wb, known);
    out->with_body = 1;
    if (gwf_cfg_int(c, path, wb, "maxRequestBytes", GWF_CFG_REQUIRED, 1,
                    INT32_MAX, &max) == GWF_OK)
        out->max_request_bytes = (size_t)max;
    gwf_cfg_bool(c, path, wb, "allowPartialMessage", 0, &out->allow_partial);
    gwf_cfg_bool(c, path, wb, "packAsBytes", 0, &out->pack_as_bytes);
}

const ea_body_settings *
ea_body_of(const ea_config *cfg, const ea_route *route)
{
    return route && route->has_body ? &route->body : &cfg->body;
}

/* clearRouteCache: Envoy re-selects the route after an allowing answer
 * changed the request's headers. gwf picks the route (the nginx
 * location) before any filter runs and never picks it again, so true
 * cannot be honoured: refused rather than ignored. */
static void
parse_clear_route_cache(gwf_cfg *c, const json_t *root)
{
    int clear = 0;

    if (gwf_cfg_bool(c, "", root, "clearRouteCache", 0, &clear) == GWF_OK &&
        clear)
        gwf_cfg_fail(c, "clearRouteCache",
                     "true is not supported: gwf does not select the route "
                     "again after the authz answer changes the request");
}

/* statPrefix: a non-empty string, the value of the stat_prefix label of
 * the plugin's metrics (Envoy puts it in its stat names). */
static void
parse_stat_prefix(ea_config *cfg, gwf_cfg *c, const json_t *root)
{
    const char *prefix = NULL;

    if (gwf_cfg_string(c, "", root, "statPrefix", GWF_CFG_NONEMPTY, &prefix) !=
        GWF_OK)
        return;
    cfg->stat_prefix = strdup(prefix ? prefix : "");
    if (!cfg->stat_prefix)
        gwf_cfg_no_memory(c, "statPrefix");
}

static void
build_url(ea_config *cfg, gwf_cfg *c)
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
        gwf_cfg_no_memory(c, "");
        return;
    }
    cfg->base_url = b.data;
    if (cfg->server_name) {
        gwf_strbuf s = {0};
        gwf_strbuf_appendf(&s, "%s:%u:%s%s%s:%u", cfg->server_name,
                           cfg->connect_port, v6 ? "[" : "", cfg->connect_host,
                           v6 ? "]" : "", cfg->connect_port);
        if (!s.failed)
            cfg->connect_to = curl_slist_append(NULL, s.data);
        gwf_strbuf_free(&s);
        if (!cfg->connect_to)
            gwf_cfg_no_memory(c, "");
    }
}

void
ea_answer_limit_set(ea_answer_limit *limit, size_t max)
{
    limit->max = max;
    snprintf(limit->ok_note, sizeof(limit->ok_note),
             "the answer has more than %zu header and query operations "
             "(maxAnswerHeaders)",
             max);
    snprintf(limit->denied_note, sizeof(limit->denied_note),
             "the answer has more than %zu denial headers (maxAnswerHeaders)",
             max);
    snprintf(limit->http_note, sizeof(limit->http_note),
             "the authz server's answer has more than %zu header lines "
             "(maxAnswerHeaders)",
             max);
}

gwf_status
ea_config_parse(ea_config *cfg, gwf_cfg *c, const json_t *root)
{
    static const char *const known[] = {
        "httpService",   "grpcService",      "headersToForward",
        "failOpen",      "clearRouteCache",  "withRequestBody",
        "statusOnError", "statPrefix",       "percentageEnabled",
        "tls",           "maxAnswerHeaders", NULL};
    const json_t *http = NULL, *grpc = NULL;
    int64_t status = EA_DEFAULT_STATUS_ON_ERROR;
    int64_t max_headers = EA_DEFAULT_MAX_ANSWER_HEADERS;
    int64_t percent = 100;
    int shapes_ok;

    cfg->timeout_ns = EA_DEFAULT_GRPC_TIMEOUT_NS;
    cfg->percent_enabled = 100;
    ea_answer_limit_set(&cfg->answer_limit, EA_DEFAULT_MAX_ANSWER_HEADERS);
    if (gwf_cfg_check_object(c, "", root, "an object", GWF_CFG_REQUIRED) !=
        GWF_OK)
        return gwf_cfg_status(c);
    gwf_cfg_known(c, "", root, known);
    shapes_ok = gwf_cfg_object(c, "", root, "httpService", 0, &http) == GWF_OK;
    shapes_ok &= gwf_cfg_object(c, "", root, "grpcService", 0, &grpc) == GWF_OK;
    if (http && grpc) {
        gwf_cfg_fail(c, "grpcService",
                     "only one of httpService, grpcService may be set, "
                     "found both");
        return gwf_cfg_status(c);
    }
    if (!http && !grpc && shapes_ok) {
        gwf_cfg_fail(c, "", "expected one of httpService, grpcService");
        return gwf_cfg_status(c);
    }
    /* TLS first: it decides the URL's scheme and host name. */
    parse_tls(cfg, c, &(tls_source){.ref_field = NULL, .backend = NULL},
              json_object_get(root, "tls"));
    if (http) {
        cfg->mode = EA_MODE_HTTP;
        parse_http_service(cfg, c, http);
    } else if (grpc) {
        cfg->mode = EA_MODE_GRPC;
        parse_grpc_service(cfg, c, grpc);
    }
    parse_names(c, "", root, "headersToForward", &cfg->headers_to_forward);
    gwf_cfg_bool(c, "", root, "failOpen", 0, &cfg->fail_open);
    /* kgateway's range is 100-511, but a 1xx status is informational:
     * it cannot end a request (a client sent one waits for the real
     * answer forever), and the ABI's replies are 200-599. Refused by
     * name rather than sent. */
    if (gwf_cfg_int(c, "", root, "statusOnError", 0, EA_MIN_STATUS_ON_ERROR,
                    EA_MAX_STATUS_ON_ERROR, &status) == GWF_OK &&
        status < 200)
        gwf_cfg_fail(c, "statusOnError",
                     "%lld is an informational (1xx) status, which cannot "
                     "end a request: expected 200 to 511",
                     (long long)status);
    cfg->status_on_error = (uint32_t)status;
    parse_clear_route_cache(c, root);
    parse_stat_prefix(cfg, c, root);
    if (gwf_cfg_int(c, "", root, "percentageEnabled", 0, 0, 100, &percent) ==
        GWF_OK)
        cfg->percent_enabled = (unsigned)percent;
    /* A gwf extension: kgateway's extAuth has no such field. */
    if (gwf_cfg_int(c, "", root, "maxAnswerHeaders", 0, 1,
                    EA_MAX_MAX_ANSWER_HEADERS, &max_headers) == GWF_OK)
        ea_answer_limit_set(&cfg->answer_limit, (size_t)max_headers);
    parse_with_body(c, "", root, &cfg->body);
    if (!cfg->stat_prefix && !(cfg->stat_prefix = strdup("")))
        gwf_cfg_no_memory(c, "");
    if (!cfg->path_prefix && !(cfg->path_prefix = strdup("")))
        gwf_cfg_no_memory(c, "");
    if (gwf_cfg_status(c) == GWF_OK && cfg->connect_host)
        build_url(cfg, c);
    if (gwf_cfg_status(c) == GWF_OK)
        ea_client_config(cfg, c);
    if (gwf_cfg_status(c) == GWF_OK)
        ea_grpc_config(cfg, c);
    return gwf_cfg_status(c);
}

void
ea_config_free(ea_config *cfg)
{
    free(cfg->base_url);
    free(cfg->authority);
    free(cfg->path_prefix);
    free(cfg->stat_prefix);
    free(cfg->ca_file);
    free(cfg->server_name);
    free(cfg->connect_host);
    curl_slist_free_all(cfg->connect_to);
    gwf_http_peer_free(cfg->http_peer);
    gwf_grpc_peer_free(cfg->grpc_peer);
    ea_names_free(&cfg->headers_to_forward);
    for (size_t i = 0;
         cfg->headers_to_add_formats && i < cfg->headers_to_add.count; i++)
        gwf_format_free(cfg->headers_to_add_formats[i]);
    free(cfg->headers_to_add_formats);
    ea_pairs_free(&cfg->headers_to_add);
    ea_names_free(&cfg->headers_to_backend);
    ea_names_free(&cfg->headers_to_client);
    ea_names_free(&cfg->headers_on_success);
}

/* A TrafficPolicy's spec.extAuth, as the runtime hands it over:
 * extensionRef (resolved by the runtime), disable (the runtime plans no
 * check for it; accepted here so that the shape is whole),
 * contextExtensions and withRequestBody. */
gwf_status
ea_route_parse(gwf_cfg *c, ea_route *route, const json_t *root)
{
    static const char *const known[] = {"extensionRef", "withRequestBody",
                                        "contextExtensions", "disable", NULL};
    char field[GWF_CFG_PATH_MAX];
    const json_t *ctx = NULL, *value;
    const char *key;

    if (gwf_cfg_check_object(c, "", root, "an object", GWF_CFG_REQUIRED) !=
        GWF_OK)
        return gwf_cfg_status(c);
    gwf_cfg_known(c, "", root, known);
    parse_with_body(c, "", root, &route->body);
    route->has_body = route->body.with_body;
    if (gwf_cfg_object(c, "", root, "contextExtensions", 0, &ctx) != GWF_OK ||
        !ctx)
        return gwf_cfg_status(c);
    json_object_foreach((json_t *)ctx, key, value)
    {
        const char *text = NULL;

        /* A map of string to string: null is no string either. */
        if (gwf_cfg_string(c, "contextExtensions", ctx, key, GWF_CFG_REQUIRED,
                           &text) != GWF_OK)
            continue;
        gwf_cfg_member(field, "contextExtensions", key);
        /* Keys keep their case: they are not header names. */
        if (ea_pairs_add_exact(&route->context_extensions, key, strlen(key),
                               text, strlen(text)) != 0)
            return gwf_cfg_no_memory(c, field);
    }
    return gwf_cfg_status(c);
}
