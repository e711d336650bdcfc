/*
 * filter.c - the cors plugin's hooks: answer preflights, decorate the
 * responses to allowed cross-origin requests.
 *
 * Behaviour (Envoy's CORS filter, which kgateway configures, and the
 * Gateway API's HTTPCORSFilter):
 *  - A request whose one Origin header is allowed (origin.c) and that is
 *    a preflight (OPTIONS with a non-empty Access-Control-Request-Method)
 *    is answered here: 200, no body, Access-Control-Allow-Origin (the
 *    Origin as sent), -Allow-Credentials, -Allow-Methods, -Allow-Headers,
 *    -Expose-Headers, -Max-Age and Vary. The upstream never sees it.
 *  - Any other request from an allowed origin goes on; its response
 *    (the upstream's, or a later plugin's local reply) gets
 *    Access-Control-Allow-Origin, -Allow-Credentials and -Expose-Headers.
 *  - A request from an origin that is not allowed, with no Origin, or
 *    with more than one Origin header, gets no CORS header from gwf; a
 *    preflight of it goes to the upstream as Envoy sends it
 *    (forwardNotMatchingPreflights, true by default), which may answer
 *    as it likes.
 *  - Every response of the route lists Origin in Vary (added unless Vary
 *    already has it or is "*"): whether the answer carries CORS headers
 *    depends on the Origin, and a shared cache must know.
 *
 * The wildcards: allowMethods ["*"] answers the requested method and
 * allowHeaders ["*"] the requested headers, whether or not credentials
 * are allowed (the Gateway API allows echoing either way; a literal "*"
 * is not honoured by browsers with credentials). allowOrigins ["*"]
 * echoes the Origin too. exposeHeaders ["*"] is sent as "*" without
 * credentials; with them (where browsers read "*" as a header name) the
 * response's own header names are listed instead.
 *
 * No stream state: the response hook reads the request's Origin again,
 * which the host keeps readable until the stream ends, and matches it
 * again (a few compares). No allocation on the request path.
 */
#include "cors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define H_ORIGIN "origin"
#define H_REQ_METHOD "access-control-request-method"
#define H_REQ_HEADERS "access-control-request-headers"
#define H_ALLOW_ORIGIN "access-control-allow-origin"
#define H_ALLOW_CREDENTIALS "access-control-allow-credentials"
#define H_ALLOW_METHODS "access-control-allow-methods"
#define H_ALLOW_HEADERS "access-control-allow-headers"
#define H_EXPOSE_HEADERS "access-control-expose-headers"
#define H_MAX_AGE "access-control-max-age"
#define H_VARY "vary"

/* The most response header names listed for exposeHeaders ["*"] with
 * credentials; a response with more gets none listed beyond it. */
#define EXPOSE_LIST_MAX 4096

static void
count(const cors_config *cfg, int outcome)
{
    gwf_outcome_counter_add(&cfg->outcomes, (size_t)outcome);
}

/* The request's Origin: 1 with its one value, 0 when it has none, -1
 * when it has several (which one a browser meant cannot be told). */
static int
single_origin(gwf_stream *s, gwf_view *origin)
{
    gwf_view second;

    if (s->host->header_get(s, GWF_REQUEST, H_ORIGIN, sizeof(H_ORIGIN) - 1, 0,
                            origin) != GWF_OK)
        return 0;
    if (s->host->header_get(s, GWF_REQUEST, H_ORIGIN, sizeof(H_ORIGIN) - 1, 1,
                            &second) == GWF_OK)
        return -1;
    return 1;
}

static int
request_header(gwf_stream *s, const char *name, size_t name_len,
               gwf_view *value)
{
    return s->host->header_get(s, GWF_REQUEST, name, name_len, 0, value) ==
               GWF_OK &&
           value->len > 0;
}

static void
add(gwf_header *h, size_t *n, const char *name, gwf_view value)
{
    h[*n].name = gwf_cstr(name);
    h[*n].value = value;
    (*n)++;
}

/* The preflight reply's headers for `origin` (echoed), with the
 * request's method and Access-Control-Request-Headers (`s`) where the
 * config echoes them (the wildcards); `s` NULL: neither is echoed. At
 * most 8. */
static size_t
preflight_headers(gwf_stream *s, const cors_config *cfg, gwf_view origin,
                  gwf_view method, gwf_header h[8])
{
    gwf_view requested;
    size_t n = 0;

    add(h, &n, H_ALLOW_ORIGIN, origin);
    if (cfg->allow_credentials)
        add(h, &n, H_ALLOW_CREDENTIALS, gwf_cstr("true"));
    if (cfg->methods_wildcard)
        add(h, &n, H_ALLOW_METHODS, method);
    else if (cfg->allow_methods)
        add(h, &n, H_ALLOW_METHODS, gwf_cstr(cfg->allow_methods));
    if (cfg->headers_wildcard) {
        if (s && request_header(s, H_REQ_HEADERS, sizeof(H_REQ_HEADERS) - 1,
                                &requested))
            add(h, &n, H_ALLOW_HEADERS, requested);
    } else if (cfg->allow_headers) {
        add(h, &n, H_ALLOW_HEADERS, gwf_cstr(cfg->allow_headers));
    }
    if (cfg->expose_headers)
        add(h, &n, H_EXPOSE_HEADERS, gwf_cstr(cfg->expose_headers));
    add(h, &n, H_MAX_AGE, gwf_cstr(cfg->max_age));
    add(h, &n, H_VARY, gwf_cstr(cfg->preflight_vary));
    return n;
}

/* [worker] Answer an allowed preflight. An origin written byte for byte
 * as a prepared one gets that reply, the same every time (no header is
 * checked or copied per request); any other spelling of an allowed
 * origin is echoed as sent. */
static gwf_action
preflight(gwf_stream *s, const cors_config *cfg, gwf_view origin,
          gwf_view method)
{
    gwf_header h[8];
    size_t n;
    gwf_status st;

    for (size_t i = 0; i < cfg->prepared_count; i++) {
        const struct cors_prepared *p = &cfg->prepared[i];
        if (p->len == origin.len &&
            memcmp(p->origin, origin.ptr, p->len) == 0) {
            if (s->host->send_prepared_reply(s, p->reply) == GWF_OK) {
                count(cfg, CORS_PREFLIGHT);
                return GWF_PAUSE;
            }
            break; /* refused: build it below */
        }
    }
    n = preflight_headers(s, cfg, origin, method, h);
    st = s->host->send_local_reply(s, 200, h, n, NULL, 0, "cors_preflight");
    if (st != GWF_OK) {
        /* Still ours: let the upstream answer rather than fail it. */
        gwf_stream_logf(s, GWF_LOG_ERROR,
                        "cors: preflight reply not sent (status %d)", (int)st);
        return GWF_CONTINUE;
    }
    count(cfg, CORS_PREFLIGHT);
    return GWF_PAUSE;
}

static gwf_action
cors_request_headers(gwf_stream *s, void *stream_ctx, int32_t end_of_stream)
{
    const cors_config *cfg = stream_ctx;
    gwf_view origin, method, requested;
    int found;

    (void)end_of_stream;
    found = single_origin(s, &origin);
    if (found == 0)
        return GWF_CONTINUE; /* not a cross-origin request */
    if (found < 0 ||
        !cors_origin_allowed(cfg->origins, cfg->origin_count, origin)) {
        count(cfg, CORS_REJECTED);
        return GWF_CONTINUE;
    }
    if (s->host->header_get(s, GWF_REQUEST, ":method", 7, 0, &method) ==
            GWF_OK &&
        gwf_view_eq(method, "OPTIONS") &&
        request_header(s, H_REQ_METHOD, sizeof(H_REQ_METHOD) - 1, &requested))
        return preflight(s, cfg, origin, requested);
    count(cfg, CORS_ALLOWED);
    return GWF_CONTINUE;
}

/* Add "Origin" to the response's Vary unless it is there or Vary is "*". */
static void
vary_origin(gwf_stream *s)
{
    gwf_view v;

    for (size_t i = 0; s->host->header_get(s, GWF_RESPONSE, H_VARY,
                                           sizeof(H_VARY) - 1, i, &v) == GWF_OK;
         i++) {
        if (gwf_header_list_contains(v.ptr, v.len, "origin", 6) ||
            gwf_header_list_contains(v.ptr, v.len, "*", 1))
            return;
    }
    gwf_header_add(s, GWF_RESPONSE, H_VARY, "Origin");
}

/* exposeHeaders ["*"] with credentials: the response's own header names,
 * joined with ", " into buf. Returns the length, 0 for none. */
static size_t
response_names(gwf_stream *s, char *buf, size_t size)
{
    size_t n = s->host->header_count(s, GWF_RESPONSE), len = 0;

    for (size_t i = 0; i < n; i++) {
        gwf_view name, value;
        if (s->host->header_at(s, GWF_RESPONSE, i, &name, &value) != GWF_OK)
            break;
        if (name.len >= 15 &&
            gwf_view_ieq((gwf_view){name.ptr, 15}, "access-control-"))
            continue;
        if (gwf_view_ieq(name, "vary") ||
            gwf_header_list_contains(buf, len, name.ptr, name.len))
            continue;
        if (len + 2 + name.len > size)
            break;
        if (len > 0) {
            memcpy(buf + len, ", ", 2);
            len += 2;
        }
        memcpy(buf + len, name.ptr, name.len);
        len += name.len;
    }
    return len;
}

static gwf_action
cors_response_headers(gwf_stream *s, void *stream_ctx, int32_t end_of_stream)
{
    const cors_config *cfg = stream_ctx;
    const gwf_host *host = s->host;
    gwf_view origin;

    (void)end_of_stream;
    vary_origin(s);
    if (single_origin(s, &origin) != 1 ||
        !cors_origin_allowed(cfg->origins, cfg->origin_count, origin))
        return GWF_CONTINUE;
    host->header_set(s, GWF_RESPONSE, H_ALLOW_ORIGIN,
                     sizeof(H_ALLOW_ORIGIN) - 1, origin.ptr, origin.len);
    if (cfg->allow_credentials)
        gwf_header_set(s, GWF_RESPONSE, H_ALLOW_CREDENTIALS, "true");
    if (cfg->expose_headers) {
        gwf_header_set(s, GWF_RESPONSE, H_EXPOSE_HEADERS, cfg->expose_headers);
    } else if (cfg->expose_wildcard) {
        char names[EXPOSE_LIST_MAX];
        size_t len = response_names(s, names, sizeof(names));
        if (len > 0)
            host->header_set(s, GWF_RESPONSE, H_EXPOSE_HEADERS,
                             sizeof(H_EXPOSE_HEADERS) - 1, names, len);
    }
    return GWF_CONTINUE;
}

/* -- Config hooks ---------------------------------------------------------- */

/* [main] Prepare the preflight reply of each exact allowed origin (not
 * "*", not a wildcard host, not an IP literal) when the reply depends on
 * the origin alone (neither methods nor headers are echoed), under the
 * origin as a browser serializes it. A host without prepared replies,
 * or one that refuses, leaves the rest to the per-request path. */
static void
prepare_preflights(cors_config *cfg)
{
    const gwf_host *host = cfg->instance->host;

    if (!GWF_HAS_FIELD(host, gwf_host, send_prepared_reply) ||
        !host->reply_prepare || !host->send_prepared_reply ||
        cfg->methods_wildcard || cfg->headers_wildcard)
        return;
    for (size_t i = 0;
         i < cfg->origin_count && cfg->prepared_count < CORS_PREPARED_MAX;
         i++) {
        const cors_origin *r = &cfg->origins[i];
        struct cors_prepared *p = &cfg->prepared[cfg->prepared_count];
        char text[CORS_ORIGIN_MAX_LEN + 32];
        gwf_header h[8];
        int len;

        if (r->any || r->any_host || r->wildcard ||
            memchr(r->host, ':', r->host_len) ||
            memchr(r->host, '[', r->host_len))
            continue;
        if (r->port == (r->https ? 443 : 80))
            len = snprintf(text, sizeof(text), "%s://%.*s",
                           r->https ? "https" : "http", (int)r->host_len,
                           r->host);
        else
            len = snprintf(text, sizeof(text), "%s://%.*s:%u",
                           r->https ? "https" : "http", (int)r->host_len,
                           r->host, (unsigned)r->port);
        if (len <= 0 || (size_t)len >= sizeof(text))
            continue;
        size_t n = preflight_headers(NULL, cfg, (gwf_view){text, (size_t)len},
                                     (gwf_view){NULL, 0}, h);
        if (host->reply_prepare(cfg->instance, 200, h, n, NULL, 0,
                                "cors_preflight", &p->reply) != GWF_OK)
            continue;
        p->origin = malloc((size_t)len);
        if (!p->origin)
            return;
        memcpy(p->origin, text, (size_t)len);
        p->len = (size_t)len;
        cfg->prepared_count++;
    }
}

static gwf_status
cors_config_create(const gwf_config_init *init, void **config)
{
    static const char *const outcomes[] = {"preflight", "allowed", "rejected"};
    cors_config *cfg;
    gwf_status st;

    st = cors_config_parse(init->instance, init->config_json, &cfg);
    if (st != GWF_OK)
        return st;
    gwf_outcome_counter_define(&cfg->outcomes, init->instance,
                               "cors_requests_total",
                               "Requests with an Origin header seen by cors: "
                               "preflights answered, requests from allowed "
                               "origins, requests from other origins.",
                               "outcome", outcomes, 3);
    prepare_preflights(cfg);
    *config = cfg;
    return GWF_OK;
}

static void
cors_config_destroy(void *config)
{
    cors_config_free(config);
}

GWF_PLUGIN_ENTRY = {
    .size = sizeof(gwf_plugin),
    .abi_major = GWF_ABI_VERSION_MAJOR,
    .abi_minor = GWF_ABI_VERSION_MINOR,
    .name = "cors",
    .version = "0.1.0",
    .description = "Cross-origin resource sharing: answer preflights, "
                   "decorate allowed responses (kgateway TrafficPolicy "
                   "cors, Gateway API HTTPCORSFilter)",
    .config_create = cors_config_create,
    .config_destroy = cors_config_destroy,
    .request_headers = cors_request_headers,
    .response_headers = cors_response_headers,
};
