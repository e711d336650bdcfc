/*
 * filter.c - the rbac plugin's hooks: decide each request by the
 * policy's CEL expressions, as Envoy's RBAC filter does for kgateway's
 * TrafficPolicy `rbac`.
 *
 *  - action Allow (the default): a request the policy matches (any
 *    expression true) goes on; any other is answered 403 with the body
 *    "RBAC: access denied".
 *  - action Deny: a request the policy matches gets that 403; any other
 *    goes on.
 *  - An expression whose evaluation errs (a missing header or claim, a
 *    type mismatch, an overflow) is false, as in Envoy's CEL matcher.
 *  - An evaluation that hits one of gwf's own bounds (steps, scratch,
 *    the PCRE2 match limit, JSON depth, a time zone it cannot read), or
 *    reads a value the host could not give (no memory), and no true
 *    expression: 403 for either
 *    action. gwf cannot tell the answer, so it fails closed.
 *
 * Each worker has its scratch (cel.h) from worker_start; the stream
 * context is that worker state, so the request path allocates nothing.
 */
#include "rbac.h"

#include <gwf/sdk.h>

#include <stdlib.h>

typedef struct rbac_worker {
    const rbac_config *cfg;
    cel_scratch sc;
} rbac_worker;

#define DENIED_BODY "RBAC: access denied"

static gwf_action
rbac_request_headers(gwf_stream *s, void *stream_ctx, int32_t end_of_stream)
{
    rbac_worker *w = stream_ctx;
    const rbac_config *cfg = w->cfg;
    cel_activation act;
    cel_result r;
    static const gwf_header h[] = {{{"content-type", 12}, {"text/plain", 10}}};

    rbac_request rq = {s, cfg->instance};

    (void)end_of_stream;
    rbac_activation(&act, &rq);
    r = rbac_match(cfg, &act, &w->sc);
    if (r != CEL_RESULT_LIMIT && (r == CEL_RESULT_TRUE) != cfg->deny) {
        gwf_outcome_counter_add(&cfg->outcomes, RBAC_ALLOWED);
        return GWF_CONTINUE;
    }
    if (r == CEL_RESULT_LIMIT)
        gwf_stream_logf(s, GWF_LOG_WARN,
                        "rbac: an expression hit an evaluation limit; "
                        "request refused");
    gwf_outcome_counter_add(&cfg->outcomes,
                            r == CEL_RESULT_LIMIT ? RBAC_LIMIT : RBAC_DENIED);
    /* Envoy's response code details: the matched policy's name, "none"
     * when a request was refused for matching nothing. */
    if (s->host->send_local_reply(
            s, 403, h, 1, DENIED_BODY, sizeof(DENIED_BODY) - 1,
            r == CEL_RESULT_TRUE
                ? "rbac_access_denied_matched_policy[policy]"
                : "rbac_access_denied_matched_policy[none]") != GWF_OK) {
        gwf_stream_logf(s, GWF_LOG_ERROR, "rbac: 403 reply not sent");
        return GWF_PAUSE; /* never let a refused request through */
    }
    return GWF_PAUSE;
}

static gwf_status
rbac_config_create(const gwf_config_init *init, void **config)
{
    static const char *const outcomes[] = {"allowed", "denied", "denied_limit"};
    rbac_config *cfg;
    gwf_status st;

    st = rbac_config_parse(init->instance, init->config_json, &cfg);
    if (st != GWF_OK)
        return st;
    gwf_outcome_counter_define(&cfg->outcomes, init->instance,
                               "rbac_requests_total",
                               "Requests decided by rbac: allowed, denied, "
                               "denied because an expression hit an "
                               "evaluation limit.",
                               "outcome", outcomes, 3);
    *config = cfg;
    return GWF_OK;
}

static void
rbac_config_destroy(void *config)
{
    rbac_config_free(config);
}

static gwf_status
rbac_worker_start(void *config, const gwf_worker_init *init, void **worker)
{
    rbac_worker *w = calloc(1, sizeof(*w));

    (void)init;
    if (!w)
        return GWF_ERR_NO_MEMORY;
    w->cfg = config;
    if (cel_scratch_init(&w->sc, CEL_SCRATCH_SIZE) != 0) {
        free(w);
        return GWF_ERR_NO_MEMORY;
    }
    *worker = w;
    return GWF_OK;
}

static void
rbac_worker_stop(void *config, void *worker)
{
    rbac_worker *w = worker;

    (void)config;
    if (!w)
        return;
    cel_scratch_free(&w->sc);
    free(w);
}

static gwf_status
rbac_stream_create(gwf_stream *s, const gwf_stream_init *init,
                   void **stream_ctx)
{
    (void)s;
    if (!init->worker)
        return GWF_ERR_INTERNAL;
    *stream_ctx = init->worker;
    return GWF_OK;
}

GWF_PLUGIN_ENTRY = {
    .size = sizeof(gwf_plugin),
    .abi_major = GWF_ABI_VERSION_MAJOR,
    .abi_minor = GWF_ABI_VERSION_MINOR,
    .name = "rbac",
    .version = "0.1.0",
    .description = "Allow or deny requests by CEL expressions over the "
                   "request and the JWT claims (kgateway TrafficPolicy "
                   "rbac, Envoy's RBAC filter)",
    .config_create = rbac_config_create,
    .config_destroy = rbac_config_destroy,
    .worker_start = rbac_worker_start,
    .worker_stop = rbac_worker_stop,
    .stream_create = rbac_stream_create,
    .request_headers = rbac_request_headers,
};
