/*
 * filter.c - the ext_authz plugin's hooks: ask an external authorization
 * service about each request (Envoy's ext_authz semantics), then allow,
 * deny or change the request by its answer.
 *
 * A request's life here:
 *   request_headers   let the request pass unchecked when
 *                     percentageEnabled does not draw it; else start
 *                     the check (a request that cannot be carried to
 *                     the authz server as it is, request.c, is refused
 *                     400 there: never failOpen), or first buffer the
 *                     body when withRequestBody (the route's, else the
 *                     extension's) asks for it (GWF_BUFFER);
 *   request_body      with the whole body: start the check;
 *   (the check runs on the worker's curl multi handle, client.c; a stream
 *    timer bounds it by requestTimeout)
 *   on_call_done      applies the verdict: resume with the upstream
 *                     request changed (and an allowing gRPC answer's
 *                     dynamic_metadata left as the stream value
 *                     "ext_authz.dynamic_metadata", JSON), or a local
 *                     reply;
 *   response_headers  add headersToClientOnSuccess;
 *   stream_destroy    removes a check still in flight: a client that
 *                     leaves cancels its check.
 *
 * libcurl reports completion from a worker-scope callback (client.c
 * calls us after curl_multi_socket_action has returned, never inside
 * libcurl); the ABI lets such a callback resume or answer the stream.
 */
#include "ext_authz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ea_stream {
    const ea_config *cfg;
    const ea_route *route;
    ea_worker *worker;
    gwf_stream *s;
    ea_call call;
    uint64_t timeout_timer;
    uint64_t retry_timer;
    ea_later expiry; /* requestTimeout passed: answered in a later turn */
    int expired;
    unsigned attempt; /* retries so far */
    char *body;       /* a copy for retries (owned), or NULL */
    size_t body_len;
    int has_body;
    int partial;
    int checked;            /* the verdict was applied: let the rest pass */
    ea_pairs to_client;     /* headersToClientOnSuccess, for the response */
    ea_pairs to_client_set; /* response headers that replace the upstream's */
} ea_stream;

/* ---- metrics ---------------------------------------------------------- */

static const char *const result_names[EA_RESULT_COUNT] = {
    "allowed",   "denied",          "error",  "failed_open",
    "too_large", "invalid_request", "skipped"};

/* ext_authz_checks_total{result, stat_prefix}: statPrefix ("" when unset)
 * tells the checks of one extension from another's, as Envoy's
 * stat_prefix does in its stat names. */
static void
count(const ea_config *cfg, ea_result result)
{
    gwf_outcome_counter_add(&cfg->checks, result);
}

/* ---- applying a verdict ------------------------------------------------ */

/* A denial's invalid headers were left out: say so, once per answer. */
static void
report_dropped(const ea_config *cfg, gwf_stream *s, const ea_verdict *v)
{
    if (v->dropped_headers == 0 && !v->note)
        return;
    gwf_stream_logf(
        s, GWF_LOG_WARN,
        "ext_authz denial applied without %zu invalid header(s)%s%s",
        v->dropped_headers, v->note ? ": " : "", v->note ? v->note : "");
    if (cfg->has_dropped_metric && v->dropped_headers)
        cfg->instance->host->metric_add(cfg->instance, cfg->dropped_metric,
                                        NULL, 0, v->dropped_headers);
}

/* query_parameters_to_set / _to_remove: rewrite :path (query.c). */
static int
apply_query(gwf_stream *s, const ea_verdict *v)
{
    gwf_strbuf path = {0};
    gwf_view old;
    int rc = -1;

    if (v->query_set.count == 0 && v->query_remove.count == 0)
        return 0;
    if (gwf_header_get(s, GWF_REQUEST, ":path", &old) != GWF_OK)
        return -1;
    if (ea_query_apply(old.ptr, old.len, &v->query_set, &v->query_remove,
                       &path) == 0 &&
        gwf_header_set(s, GWF_REQUEST, ":path", path.data) == GWF_OK)
        rc = 0;
    gwf_strbuf_free(&path);
    return rc;
}

/* The stream value later plugins read an allowing answer's
 * dynamic_metadata from (Envoy: dynamic metadata in the ext_authz
 * filter's namespace). */
#define EA_METADATA_KEY "ext_authz.dynamic_metadata"

/* An OK answer's request changes. Each operation is one host call: with
 * append false every value is set in turn, so the last of one name wins
 * (Envoy's setCopy), and nothing here searches the answer again. A header
 * the host refuses to touch (as before) is skipped; a query that cannot
 * be rewritten is an error, since a parameter to remove (an API key)
 * would otherwise reach the upstream. */
static int
apply_allow(ea_stream *es, ea_verdict *v)
{
    gwf_stream *s = es->s;

    if (v->dynamic_metadata &&
        s->host->value_set(s, EA_METADATA_KEY, sizeof(EA_METADATA_KEY) - 1,
                           GWF_VALUE_JSON, v->dynamic_metadata,
                           v->dynamic_metadata_len) != GWF_OK) {
        v->note = "cannot set the dynamic_metadata stream value";
        return -1;
    }

    for (size_t i = 0; i < v->to_upstream_remove.count; i++)
        gwf_header_remove(s, GWF_REQUEST, v->to_upstream_remove.items[i]);
    for (size_t i = 0; i < v->to_upstream_set.count; i++) {
        const ea_pair *p = &v->to_upstream_set.items[i];
        gwf_header_set(s, GWF_REQUEST, p->name, p->value);
    }
    for (size_t i = 0; i < v->to_upstream_add.count; i++) {
        const ea_pair *p = &v->to_upstream_add.items[i];
        gwf_header_add(s, GWF_REQUEST, p->name, p->value);
    }
    if (apply_query(s, v) != 0) {
        v->note = "cannot apply the answer's query parameters";
        return -1;
    }
    /* Keep the client headers for response_headers. */
    es->to_client = v->to_client;
    es->to_client_set = v->to_client_set;
    memset(&v->to_client, 0, sizeof(v->to_client));
    memset(&v->to_client_set, 0, sizeof(v->to_client_set));
    return 0;
}

/* Apply `v` to the stream. From a hook (in_hook) an allow is returned as
 * GWF_CONTINUE; from a callback it is a resume. Either way the handle
 * may be dead afterwards. */
static gwf_action
apply(ea_stream *es, ea_verdict *v, int in_hook)
{
    const ea_config *cfg = es->cfg;
    gwf_stream *s = es->s;
    const gwf_host *host = s->host;
    gwf_header *headers = NULL;

    es->checked = 1;
    if (v->kind == EA_VERDICT_ERROR) {
        int fail_open = cfg->fail_open && !v->began_as_denial;
        gwf_stream_logf(s, GWF_LOG_WARN, "ext_authz check failed: %s%s",
                        v->error ? v->error : "error",
                        fail_open ? " (failOpen: allowed)"
                        : v->began_as_denial
                            ? " (the answer began as a denial: not allowed)"
                            : "");
        if (!fail_open) {
            count(cfg, EA_RESULT_ERROR);
            gwf_reply(s, cfg->status_on_error, NULL, "ext_authz_error");
            return GWF_PAUSE;
        }
        count(cfg, EA_RESULT_FAILED_OPEN);
        goto allow;
    }
    if (v->kind == EA_VERDICT_DENY) {
        count(cfg, EA_RESULT_DENIED);
        report_dropped(cfg, s, v);
        if (v->to_client.count) {
            headers = calloc(v->to_client.count, sizeof(*headers));
            if (!headers) {
                gwf_reply(s, cfg->status_on_error, NULL, "ext_authz_error");
                return GWF_PAUSE;
            }
        }
        for (size_t i = 0; i < v->to_client.count; i++) {
            headers[i].name = gwf_cstr(v->to_client.items[i].name);
            headers[i].value = gwf_cstr(v->to_client.items[i].value);
        }
        if (host->send_local_reply(s, v->status, headers, v->to_client.count,
                                   v->body, v->body_len,
                                   "ext_authz_denied") != GWF_OK)
            gwf_reply(s, v->status, NULL, "ext_authz_denied");
        free(headers);
        return GWF_PAUSE;
    }
    if (apply_allow(es, v) != 0) {
        /* Half-applied changes must not reach the upstream. */
        count(cfg, EA_RESULT_ERROR);
        gwf_stream_logf(s, GWF_LOG_WARN, "ext_authz: %s", v->note);
        gwf_reply(s, cfg->status_on_error, NULL, "ext_authz_error");
        return GWF_PAUSE;
    }
    count(cfg, EA_RESULT_ALLOWED);
allow:
    if (in_hook)
        return GWF_CONTINUE;
    host->resume(s);
    return GWF_PAUSE;
}

static void on_call_done(ea_call *call, CURLcode result, void *arg);

/* The client's request cannot be carried to the authz server as it is
 * (request.c): the client's fault, so 400, whatever failOpen says; the
 * check is never skipped. */
static gwf_action
refuse_invalid(ea_stream *es, const char *why)
{
    es->checked = 1;
    count(es->cfg, EA_RESULT_INVALID_REQUEST);
    gwf_stream_logf(es->s, GWF_LOG_INFO, "ext_authz: request refused: %s", why);
    gwf_reply(es->s, 400, "Bad Request", "ext_authz_invalid_request");
    return GWF_PAUSE;
}

/* Build and start one attempt. `body` is the body to send (NULL: none).
 * GWF_ERR_BAD_ARGUMENT: the client's request cannot be carried (`*why`). */
static gwf_status
launch(ea_stream *es, const char *body, size_t body_len, int partial,
       const char **why)
{
    const ea_config *cfg = es->cfg;
    gwf_status st;

    if (!es->worker)
        return GWF_ERR_INTERNAL;
    es->call.worker = es->worker;
    if (cfg->mode == EA_MODE_HTTP)
        st = ea_http_prepare(cfg, es->s, &es->call, body, body_len, partial,
                             why);
    else
        st = ea_grpc_prepare(cfg, es->route, es->s, &es->call, body, body_len,
                             partial, why);
    es->call.done = on_call_done;
    es->call.done_arg = es;
    if (st == GWF_OK)
        st = ea_call_start(es->worker, &es->call);
    if (st != GWF_OK)
        ea_call_cleanup(&es->call);
    return st;
}

static void
on_retry(void *arg)
{
    ea_stream *es = arg;
    ea_verdict v = {.kind = EA_VERDICT_ERROR,
                    .error = "cannot start the check again"};
    const char *why = NULL;
    gwf_status st;

    st = launch(es, es->has_body ? (es->body ? es->body : "") : NULL,
                es->body_len, es->partial, &why);
    if (st == GWF_OK)
        return;
    es->s->host->timer_cancel(es->cfg->instance, es->timeout_timer);
    if (st == GWF_ERR_BAD_ARGUMENT)
        refuse_invalid(es, why);
    else
        apply(es, &v, 0);
}

/* The wait before retry number `n` (1 for the first): Envoy's fully
 * jittered exponential back-off, a random time up to (2^n - 1) times the
 * base interval, at most maxInterval (25ms: the first retry within 25ms,
 * the second within 75ms, ...). At least 1ns, so that a retry always
 * waits for the host's clock. */
static uint64_t
retry_delay(ea_stream *es, unsigned n)
{
    const ea_config *cfg = es->cfg;
    uint64_t ceiling = cfg->retry_max_ns;
    uint64_t random;

    if (n < 63 &&
        ((UINT64_C(1) << n) - 1) <= cfg->retry_max_ns / cfg->retry_base_ns)
        ceiling = ((UINT64_C(1) << n) - 1) * cfg->retry_base_ns;
    if (ceiling > cfg->retry_max_ns)
        ceiling = cfg->retry_max_ns;
    random = (uint64_t)ea_worker_random(es->worker) << 32 |
             ea_worker_random(es->worker);
    return 1 + random % ceiling;
}

/* Wait and try again, if the config allows another attempt. */
static int
retry_later(ea_stream *es, const ea_verdict *v)
{
    const ea_config *cfg = es->cfg;
    uint64_t delay;

    if (v->kind != EA_VERDICT_ERROR || !v->retryable ||
        es->attempt >= cfg->retry_attempts)
        return 0;
    es->attempt++;
    delay = retry_delay(es, es->attempt);
    gwf_stream_logf(es->s, GWF_LOG_INFO,
                    "ext_authz check failed: %s; "
                    "retry %u of %u",
                    v->error, es->attempt, cfg->retry_attempts);
    /* The handle has left the multi handle already: back to the pool. */
    ea_call_cleanup(&es->call);
    return es->s->host->timer_start(cfg->instance, es->s, delay, on_retry, es,
                                    &es->retry_timer) == GWF_OK;
}

/* The worker's curl handle finished our call: a worker-scope callback,
 * which may resume or answer the stream (the ABI allows it; the stream's
 * destroy waits until this callback returns, so `es` stays valid). */
static void
on_call_done(ea_call *call, CURLcode result, void *arg)
{
    ea_stream *es = arg;
    ea_verdict v;

    if (es->expired)
        return; /* too late: the expiry answers the stream */
    if (es->cfg->mode == EA_MODE_HTTP)
        ea_http_verdict(es->cfg, call, result, &v);
    else
        ea_grpc_verdict(es->cfg, call, result, &v);
    if (!retry_later(es, &v)) {
        es->s->host->timer_cancel(es->cfg->instance, es->timeout_timer);
        apply(es, &v, 0);
    }
    ea_verdict_free(&v);
}

static void
expire(void *arg)
{
    ea_stream *es = arg;
    ea_verdict v = {.kind = EA_VERDICT_ERROR,
                    .error = "the authz server did not answer within "
                             "requestTimeout"};

    ea_call_cleanup(&es->call);
    apply(es, &v, 0);
}

/* requestTimeout passed. Checks started by one burst of requests expire
 * in one turn of the loop: answering them all there would stall the
 * worker, so beyond a few per turn the answer waits for the next turns
 * (ea_later). From now on a late answer of the authz server is
 * ignored. */
static void
on_timeout(void *arg)
{
    ea_stream *es = arg;

    es->expired = 1;
    es->s->host->timer_cancel(es->cfg->instance, es->retry_timer);
    if (ea_later_post(es->worker, &es->expiry, expire, es) != GWF_OK)
        expire(es);
}

static gwf_action
start_check(ea_stream *es, const char *body, size_t body_len, int partial)
{
    const ea_config *cfg = es->cfg;
    gwf_stream *s = es->s;
    ea_verdict v = {.kind = EA_VERDICT_ERROR,
                    .error = "cannot start the check"};
    const char *why = NULL;
    gwf_status st;

    /* A retry needs the body again, after this hook's view is gone. */
    es->has_body = body != NULL;
    es->partial = partial;
    es->body_len = body_len;
    if (cfg->retry_attempts && body && body_len) {
        es->body = malloc(body_len);
        if (!es->body)
            return apply(es, &v, 1);
        memcpy(es->body, body, body_len);
    }
    if (s->host->timer_start(cfg->instance, s, cfg->timeout_ns, on_timeout, es,
                             &es->timeout_timer) != GWF_OK)
        return apply(es, &v, 1);
    st = launch(es, body, body_len, partial, &why);
    if (st == GWF_OK)
        return GWF_PAUSE;
    s->host->timer_cancel(cfg->instance, es->timeout_timer);
    if (st == GWF_ERR_BAD_ARGUMENT)
        return refuse_invalid(es, why);
    return apply(es, &v, 1);
}

static void
reply_too_large(ea_stream *es)
{
    es->checked = 1;
    count(es->cfg, EA_RESULT_TOO_LARGE);
    gwf_reply(es->s, 413, "Payload Too Large", "ext_authz_body_too_large");
}

/* ---- hooks ------------------------------------------------------------- */

/* percentageEnabled (Envoy's filter_enabled): is this request one of
 * the share that is checked? The others pass unchecked. */
static int
sampled(ea_stream *es)
{
    unsigned percent = es->cfg->percent_enabled;

    if (percent >= 100)
        return 1;
    /* Without a worker there is no draw: checked, so that the check
     * fails as any internal error does (failOpen decides), never skipped. */
    if (percent > 0 && !es->worker)
        return 1;
    return percent > 0 && ea_worker_random(es->worker) % 100 < percent;
}

static gwf_action
ea_request_headers(gwf_stream *s, void *ctx, int32_t end_of_stream)
{
    ea_stream *es = ctx;
    const ea_body_settings *body = ea_body_of(es->cfg, es->route);

    if (!sampled(es)) {
        es->checked = 1;
        count(es->cfg, EA_RESULT_SKIPPED);
        return GWF_CONTINUE;
    }
    if (body->with_body && !end_of_stream) {
        gwf_view cl;
        /* Refuse early what we know will be too large. */
        if (!body->allow_partial &&
            gwf_header_get(s, GWF_REQUEST, "content-length", &cl) == GWF_OK) {
            char digits[24];
            if (cl.len < sizeof(digits)) {
                memcpy(digits, cl.ptr, cl.len);
                digits[cl.len] = '\0';
                if (strtoull(digits, NULL, 10) > body->max_request_bytes) {
                    reply_too_large(es);
                    return GWF_PAUSE;
                }
            }
        }
        return GWF_BUFFER;
    }
    return start_check(es, NULL, 0, 0);
}

static gwf_action
ea_request_body(gwf_stream *s, void *ctx, int32_t end_of_stream)
{
    ea_stream *es = ctx;
    const ea_body_settings *settings = ea_body_of(es->cfg, es->route);
    gwf_view body = {0};
    int partial = 0;

    if (es->checked)
        return GWF_CONTINUE;
    if (!end_of_stream)
        return GWF_BUFFER;
    if (s->host->body_get(s, GWF_REQUEST, &body) != GWF_OK)
        body.len = 0;
    if (body.len > settings->max_request_bytes) {
        if (!settings->allow_partial) {
            reply_too_large(es);
            return GWF_PAUSE;
        }
        body.len = settings->max_request_bytes;
        partial = 1;
    }
    return start_check(es, body.ptr ? body.ptr : "", body.len, partial);
}

static gwf_action
ea_response_headers(gwf_stream *s, void *ctx, int32_t end_of_stream)
{
    ea_stream *es = ctx;

    (void)end_of_stream;
    for (size_t i = 0; i < es->to_client_set.count; i++)
        gwf_header_set(s, GWF_RESPONSE, es->to_client_set.items[i].name,
                       es->to_client_set.items[i].value);
    for (size_t i = 0; i < es->to_client.count; i++)
        gwf_header_add(s, GWF_RESPONSE, es->to_client.items[i].name,
                       es->to_client.items[i].value);
    return GWF_CONTINUE;
}

static gwf_status
ea_stream_create(gwf_stream *s, const gwf_stream_init *init, void **ctx)
{
    ea_stream *es = calloc(1, sizeof(*es));

    if (!es)
        return GWF_ERR_NO_MEMORY;
    es->cfg = init->config;
    es->route = init->route_config;
    es->worker = init->worker;
    es->s = s;
    *ctx = es;
    return GWF_OK;
}

static void
ea_stream_destroy(gwf_stream *s, void *ctx)
{
    ea_stream *es = ctx;

    (void)s;
    /* A check still in flight is cancelled here: its easy handle leaves
     * the multi handle (the connection may be closed by libcurl). */
    ea_later_cancel(es->worker, &es->expiry);
    ea_call_cleanup(&es->call);
    ea_pairs_free(&es->to_client);
    ea_pairs_free(&es->to_client_set);
    free(es->body);
    free(es);
}

/* ---- configuration ------------------------------------------------------ */

static gwf_status
ea_config_create(const gwf_config_init *init, void **out)
{
    ea_config *cfg = calloc(1, sizeof(*cfg));
    json_t *root;
    json_error_t error;
    gwf_instance *inst = init->instance;
    gwf_cfg c;

    gwf_cfg_init(&c, inst);
    if (!cfg)
        return gwf_cfg_no_memory(&c, "");
    cfg->instance = inst;
    root = json_loadb(init->config_json.ptr, init->config_json.len, 0, &error);
    if (!root) {
        free(cfg);
        return gwf_cfg_fail(&c, "", "invalid JSON: %s", error.text);
    }
    if (ea_config_parse(cfg, &c, root) != GWF_OK) {
        json_decref(root);
        ea_config_free(cfg);
        free(cfg);
        return gwf_cfg_status(&c);
    }
    json_decref(root);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        ea_config_free(cfg);
        free(cfg);
        return gwf_cfg_fail(&c, "", "cannot initialise libcurl");
    }
    gwf_outcome_counter_define_fixed(
        &cfg->checks, inst, "ext_authz_checks_total",
        "Authorization checks, by result (allowed, denied, error, "
        "failed_open, too_large, invalid_request, skipped) and statPrefix.",
        "result", result_names, EA_RESULT_COUNT, "stat_prefix",
        cfg->stat_prefix);
    cfg->has_dropped_metric =
        inst->host->metric_define(
            inst, GWF_METRIC_COUNTER, "ext_authz_dropped_headers_total",
            "Headers of a denial left out because their name or value "
            "is not valid (the denial is answered without them).",
            NULL, 0, NULL, 0, &cfg->dropped_metric) == GWF_OK;
    *out = cfg;
    return GWF_OK;
}

static void
ea_config_destroy(void *config)
{
    ea_config *cfg = config;

    ea_config_free(cfg);
    free(cfg);
    curl_global_cleanup();
}

static gwf_status
ea_route_config_create(void *config, gwf_instance *inst, gwf_view route_json,
                       void **out)
{
    ea_route *route = calloc(1, sizeof(*route));
    json_t *root;
    json_error_t error;
    gwf_status st;
    gwf_cfg c;

    (void)config;
    gwf_cfg_init(&c, inst);
    if (!route)
        return gwf_cfg_no_memory(&c, "");
    root = json_loadb(route_json.ptr, route_json.len, 0, &error);
    if (!root) {
        free(route);
        return gwf_cfg_fail(&c, "", "invalid JSON: %s", error.text);
    }
    st = ea_route_parse(&c, route, root);
    json_decref(root);
    if (st != GWF_OK) {
        ea_pairs_free(&route->context_extensions);
        free(route);
        return st;
    }
    *out = route;
    return GWF_OK;
}

static void
ea_route_config_destroy(void *config, void *route_config)
{
    ea_route *route = route_config;

    (void)config;
    if (!route)
        return;
    ea_pairs_free(&route->context_extensions);
    free(route);
}

static gwf_status
ea_worker_start(void *config, const gwf_worker_init *init, void **out)
{
    (void)init;
    *out = ea_worker_new(config);
    return *out ? GWF_OK : GWF_ERR_NO_MEMORY;
}

static void
ea_worker_stop(void *config, void *worker)
{
    (void)config;
    ea_worker_free(worker);
}

GWF_PLUGIN_ENTRY = {
    .size = sizeof(gwf_plugin),
    .abi_major = GWF_ABI_VERSION_MAJOR,
    .abi_minor = GWF_ABI_VERSION_MINOR,
    .name = "ext_authz",
    .version = "0.1.0",
    .description = "External authorization (Envoy ext_authz semantics, "
                   "HTTP and gRPC)",
    .config_create = ea_config_create,
    .config_destroy = ea_config_destroy,
    .route_config_create = ea_route_config_create,
    .route_config_destroy = ea_route_config_destroy,
    .worker_start = ea_worker_start,
    .worker_stop = ea_worker_stop,
    .stream_create = ea_stream_create,
    .request_headers = ea_request_headers,
    .request_body = ea_request_body,
    .response_headers = ea_response_headers,
    .stream_destroy = ea_stream_destroy,
};
