/*
 * filter.c - the lambda_signer hooks and the plugin entry.
 *
 * Two modes share one signer:
 *
 *   lambda  (a Backend with spec.aws, or a GatewayExtension with
 *           mode: lambda) - the request becomes a Lambda Invoke call:
 *           POST /2015-03-31/functions/NAME[:QUALIFIER]/invocations with
 *           x-amz-invocation-type, the Envoy JSON payload (or the body
 *           as is), signed for service "lambda". The body is needed
 *           first (its hash is signed), so request_headers asks for it
 *           with GWF_BUFFER. The reply is checked (function errors,
 *           Lambda API errors) and, with the Envoy transform, turned back
 *           into an HTTP response.
 *
 *   sign    (a GatewayExtension with mode: sign) - any request is signed
 *           for any AWS service, as Envoy's aws_request_signing does: the
 *           Authorization header (or nothing but the body hash) is added
 *           and the request goes on. The body is buffered only when its
 *           hash is signed.
 *
 * The signing key is derived once per day, region and service on each
 * worker (ls_worker's cache) and reused for every request after that.
 *
 * Credentials that are fetched (AssumeRole, web identity, container,
 * IMDSv2: provider.c) are the worker's. A request that finds none valid
 * waits for the refresh in flight, as one `waiter` whose gwf_wait owns
 * the LS_WAIT_TIMEOUT_MS timer; waiter_free is the only way a waiter
 * goes and it ends the wait first, so nothing of it fires afterwards.
 * When the refresh fails, or the wait times out, the request fails
 * closed: 500 "AWS credentials are unavailable", never sent unsigned.
 * (Envoy's aws_lambda filter logs the signing failure and forwards the
 * request unsigned, which AWS refuses with 403; gwf answers itself, with
 * the 500 it gives for any request it cannot sign.)
 *
 * Credentials never leave this plugin except in the Authorization and
 * X-Amz-Security-Token headers sent upstream: no log line, local reply or
 * metric label carries them, nor the canonical request (which may hold
 * the session token).
 */
#include "lambda_signer.h"

#include <ctype.h>
#include <gwf/sdk_wait.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { PHASE_HEADERS = 0, PHASE_BODY = 1 };

typedef struct ls_stream {
    ls_config *cfg;
    ls_worker *worker;
    ls_waiter *waiter; /* while paused for credentials */
    int phase;         /* what proceed() does: PHASE_* */
    /* PHASE_BODY: the SHA-256 of the body as it goes upstream, taken in
     * the body hook (the body can only be read there, and a stream may
     * sign later, from the callback that ends its wait). */
    char payload_hash[SIGV4_HASH_HEX + 1];
    sigv4_key_cache *local_cache; /* when the host gave no worker state */
    int invoked;                  /* a Lambda call went upstream */
    int host_answered;            /* the host's own 502/504 came back */
    int signed_done;              /* the request is signed: pass the rest */
} ls_stream;

static const char *const result_labels[LS_RESULT_COUNT] = {
    "signed",        "sign_error",     "function_error",
    "invalid_reply", "upstream_error", "bad_request"};

static void
count(ls_config *cfg, int result)
{
    gwf_outcome_counter_add(&cfg->requests, (size_t)result);
}

/* A local reply in plain text; `details` for the access log. */
static gwf_action
reply(gwf_stream *s, ls_stream *st, int result, uint32_t status,
      const char *body, const char *details)
{
    count(st->cfg, result);
    static const gwf_header ct = {{"content-type", 12},
                                  {"text/plain; charset=utf-8", 25}};
    s->host->send_local_reply(s, status, &ct, 1, body, strlen(body), details);
    return GWF_PAUSE;
}

/* ------------------------------------------------------------------------
 * Config and worker lifetime
 * --------------------------------------------------------------------- */

static gwf_status
ls_config_create(const gwf_config_init *init, void **config)
{
    ls_config *cfg;
    gwf_cfg c;
    gwf_cfg_init(&c, init->instance);
    gwf_status st = ls_config_parse(&c, init->kind, init->config_json, &cfg);
    if (st != GWF_OK)
        return st;
    gwf_outcome_counter_define(&cfg->requests, init->instance,
                               "lambda_signer_requests_total",
                               "Requests seen by lambda_signer, by result",
                               "result", result_labels, LS_RESULT_COUNT);
    gwf_logf(init->instance, GWF_LOG_INFO,
             "%s mode, service %s, region %s%s%s, credentials from %s%s%s%s",
             cfg->mode == LS_MODE_SIGN ? "sign" : "lambda", cfg->service,
             cfg->region, cfg->account_id[0] ? ", account " : "",
             cfg->account_id, cfg->credential_source,
             cfg->role_arn ? " (role " : "", cfg->role_arn ? cfg->role_arn : "",
             cfg->role_arn ? (cfg->base.kind == LS_SOURCE_STATIC
                                  ? ", base credentials read at load)"
                                  : ", base credentials fetched)")
                           : "");
    *config = cfg;
    return GWF_OK;
}

static void
ls_config_destroy(void *config)
{
    ls_config_free(config);
}

static void waiter_free(ls_waiter *gone);
static void on_fetch_done(void *arg, int ok);

static gwf_status
ls_worker_start(void *config, const gwf_worker_init *init, void **worker)
{
    ls_config *cfg = config;
    ls_worker *w = calloc(1, sizeof *w);
    if (!w)
        return GWF_ERR_NO_MEMORY;
    if (cfg->dynamic) {
        w->fetcher = ls_fetcher_new(cfg, init->instance, on_fetch_done, w);
        if (!w->fetcher) {
            free(w);
            return GWF_ERR_NO_MEMORY;
        }
        /* Fetch now, so that the first request finds them. */
        ls_fetcher_refresh(w->fetcher);
    }
    *worker = w;
    return GWF_OK;
}

static void
ls_worker_stop(void *config, void *worker)
{
    (void)config;
    ls_worker *w = worker;
    if (w) {
        while (w->waiters)
            waiter_free(w->waiters);
        ls_fetcher_free(w->fetcher);
        sigv4_key_cache_clear(&w->cache);
        free(w);
    }
}

static gwf_status
ls_stream_create(gwf_stream *s, const gwf_stream_init *init, void **ctx)
{
    (void)s;
    ls_stream *st = calloc(1, sizeof *st);
    if (!st)
        return GWF_ERR_NO_MEMORY;
    st->cfg = init->config;
    st->worker = init->worker;
    *ctx = st;
    return GWF_OK;
}

static void
ls_stream_destroy(gwf_stream *s, void *ctx)
{
    (void)s;
    ls_stream *st = ctx;
    if (st->waiter)
        waiter_free(st->waiter);
    if (st->local_cache) {
        sigv4_key_cache_clear(st->local_cache);
        free(st->local_cache);
    }
    free(st);
}

/* ------------------------------------------------------------------------
 * Signing a stream's request
 * --------------------------------------------------------------------- */

static sigv4_key_cache *
key_cache(ls_stream *st)
{
    if (st->worker)
        return &st->worker->cache;
    if (!st->local_cache)
        st->local_cache = calloc(1, sizeof *st->local_cache);
    return st->local_cache;
}

/* sign_stream's failures: ours (500), or the client's request cannot
 * be signed (400). Either way the request never goes on unsigned. */
enum { SIGN_FAILED = -1, SIGN_BAD_REQUEST = -2 };

/* The signer's headers, set on the request. Every call must succeed: a
 * request missing its Authorization would go on unsigned. The client's
 * own x-amz-security-token and x-amz-content-sha256 never go on: the
 * signer does not sign them, and a verifier takes the hash header's
 * value as the payload hash, so an unsigned one would claim a hash the
 * signature does not cover. */
static int
set_signed_headers(gwf_stream *s, const ls_config *cfg,
                   const sigv4_credentials *creds, const sigv4_result *res)
{
    const gwf_host *h = s->host;
    gwf_status st = GWF_OK; /* GWF_OK is 0: a failure leaves bits set */
    if (cfg->host)
        st |= h->header_set(s, GWF_REQUEST, ":authority", 10, cfg->host,
                            strlen(cfg->host));
    st |= h->header_set(s, GWF_REQUEST, "x-amz-date", 10, res->amz_date,
                        strlen(res->amz_date));
    if (creds->session_token)
        st |= h->header_set(s, GWF_REQUEST, "x-amz-security-token", 20,
                            creds->session_token, strlen(creds->session_token));
    else
        st |= h->header_remove(s, GWF_REQUEST, "x-amz-security-token", 20);
    if (cfg->content_sha256_header)
        st |= h->header_set(s, GWF_REQUEST, "x-amz-content-sha256", 20,
                            res->payload_hash, strlen(res->payload_hash));
    else
        st |= h->header_remove(s, GWF_REQUEST, "x-amz-content-sha256", 20);
    st |= h->header_set(s, GWF_REQUEST, "authorization", 13,
                        res->authorization.data, res->authorization.len);
    return st == GWF_OK ? 0 : -1;
}

/* The request as it is now (or, for Lambda, only the headers we add),
 * signed; the signer's headers set on it. 0, SIGN_FAILED or
 * SIGN_BAD_REQUEST (logged). */
static int
sign_stream(gwf_stream *s, ls_stream *st, const sigv4_credentials *creds,
            gwf_view body, const char *payload_hash, const gwf_header *only,
            size_t only_count)
{
    ls_config *cfg = st->cfg;
    const gwf_host *h = s->host;
    gwf_view method = {0}, target = {0}, host = {0};
    gwf_status read[3] = {
        h->header_get(s, GWF_REQUEST, ":method", 7, 0, &method),
        h->header_get(s, GWF_REQUEST, ":path", 5, 0, &target), GWF_OK};
    if (cfg->host)
        host = gwf_cstr(cfg->host);
    else
        read[2] = h->header_get(s, GWF_REQUEST, ":authority", 10, 0, &host);
    /* One the host could not read (out of memory) is not absent: the
     * signature would be over another request than the one sent. */
    for (size_t i = 0; i < 3; i++)
        if (read[i] != GWF_OK && read[i] != GWF_ERR_NOT_FOUND) {
            gwf_stream_logf(s, GWF_LOG_ERROR,
                            "cannot sign the request: the host could not "
                            "read its method, target or Host");
            return SIGN_FAILED;
        }
    if (host.len == 0) {
        /* HTTP/1.0 without Host: nothing to sign for, the client's
         * doing (hostRewrite would have given one). */
        gwf_stream_logf(s, GWF_LOG_WARN,
                        "cannot sign the request: "
                        "the request has no Host header");
        return SIGN_BAD_REQUEST;
    }

    gwf_header *headers = NULL;
    size_t n = 0;
    if (only) {
        headers = (gwf_header *)only;
        n = only_count;
    } else {
        size_t total = h->header_count(s, GWF_REQUEST);
        headers = calloc(total + 1, sizeof *headers);
        if (!headers)
            return -1;
        for (size_t i = 0; i < total; i++) {
            gwf_status st = h->header_at(s, GWF_REQUEST, i, &headers[n].name,
                                         &headers[n].value);
            if (st == GWF_ERR_NOT_FOUND)
                break;
            /* A header left out of the signature is not signed for. */
            if (st != GWF_OK) {
                free(headers);
                return -1;
            }
            n++;
        }
    }
    sigv4_params params = {
        .region = cfg->region,
        .service = cfg->service,
        .unix_seconds = h->now(cfg->instance, GWF_CLOCK_REALTIME) / 1000000000,
        .normalize_path = cfg->normalize_path,
        .unsigned_payload = cfg->unsigned_payload,
        .content_sha256_header = cfg->content_sha256_header,
        .token_mode =
            cfg->token_signed ? SIGV4_TOKEN_SIGNED : SIGV4_TOKEN_AFTER,
        .excluded = (const char *const *)cfg->excluded,
        .excluded_count = cfg->excluded_count,
    };
    sigv4_request req = {
        .method = method,
        .target = target,
        .headers = headers,
        .header_count = n,
        .host = host,
        .payload = body,
        .payload_hash = payload_hash,
    };
    sigv4_result res;
    const char *why = NULL;
    int rc = sigv4_sign(&req, &params, creds, key_cache(st), &res, &why);
    if (!only)
        free(headers);
    if (rc != 0) {
        gwf_stream_logf(s, GWF_LOG_ERROR, "cannot sign the request: %s", why);
        return SIGN_FAILED;
    }
    /* The views above may point into headers we now change: the signer
     * copied what it needed into `res`. */
    if (set_signed_headers(s, cfg, creds, &res) != 0) {
        gwf_stream_logf(s, GWF_LOG_ERROR,
                        "cannot sign the request: the "
                        "host refused a signed header");
        sigv4_result_free(&res);
        return SIGN_FAILED;
    }
    if (h->log_enabled(cfg->instance, GWF_LOG_DEBUG))
        gwf_stream_logf(s, GWF_LOG_DEBUG,
                        "signed for %s in %s, signed headers %s", cfg->service,
                        cfg->region, res.signed_headers.data);
    sigv4_result_free(&res);
    count(cfg, LS_RESULT_SIGNED);
    return 0;
}

/* A failed sign_stream as the client sees it. */
static gwf_action
sign_failed(gwf_stream *s, ls_stream *st, int rc, const char *details)
{
    if (rc == SIGN_BAD_REQUEST)
        return reply(s, st, LS_RESULT_BAD_REQUEST, 400,
                     "the request has no Host header to sign\n",
                     "aws_bad_request");
    return reply(s, st, LS_RESULT_SIGN_ERROR, 500, "cannot sign the request\n",
                 details);
}

/* Lambda, Envoy transform: the request becomes the JSON payload. What
 * the client sent that cannot be a payload is its fault: 400, or 413
 * when the payload (base64 makes a binary body a third larger) is over
 * the host's body limit. */
static gwf_action
set_envoy_payload(gwf_stream *s, ls_stream *st, gwf_view body,
                  gwf_view *signed_body)
{
    const gwf_host *h = s->host;
    char *payload = NULL;
    const char *why;
    size_t len = 0;
    char msg[160];
    int rc = ls_envoy_request(s, body, &payload, &len, &why);
    if (rc == LS_PAYLOAD_BAD_REQUEST) {
        snprintf(msg, sizeof msg,
                 "cannot send the request to the Lambda "
                 "function: %s\n",
                 why);
        return reply(s, st, LS_RESULT_BAD_REQUEST, 400, msg,
                     "lambda_bad_request");
    }
    if (rc != 0)
        return reply(s, st, LS_RESULT_SIGN_ERROR, 500,
                     "cannot build the Lambda payload\n",
                     "lambda_payload_error");
    gwf_status bs = h->body_set(s, GWF_REQUEST, payload, len);
    if (bs == GWF_OK)
        bs = h->header_set(s, GWF_REQUEST, "content-type", 12,
                           "application/json", 16);
    if (bs == GWF_OK) {
        /* The payload is the request body now: the host's copy. */
        free(payload);
        h->body_get(s, GWF_REQUEST, signed_body);
        return GWF_CONTINUE;
    }
    free(payload);
    if (bs == GWF_ERR_LIMIT)
        return reply(s, st, LS_RESULT_BAD_REQUEST, 413,
                     "the request is too large for a Lambda payload\n",
                     "lambda_payload_too_large");
    return reply(s, st, LS_RESULT_SIGN_ERROR, 500,
                 "cannot build the Lambda payload\n", "lambda_payload_error");
}

/* Lambda: rewrite the request into an Invoke call (payload, method,
 * path, invocation type), in the body hook; proceed() signs it. */
static gwf_action
prepare_lambda(gwf_stream *s, ls_stream *st, gwf_view body)
{
    ls_config *cfg = st->cfg;
    const gwf_host *h = s->host;
    gwf_view signed_body = body;
    if (cfg->envoy_transform) {
        gwf_action a = set_envoy_payload(s, st, body, &signed_body);
        if (a != GWF_CONTINUE)
            return a;
    }
    const char *type = cfg->async ? "Event" : "RequestResponse";
    /* As in set_signed_headers (which also drops the client's
     * x-amz-content-sha256): any failure leaves bits set. */
    gwf_status hs = h->header_set(s, GWF_REQUEST, ":method", 7, "POST", 4) |
                    h->header_set(s, GWF_REQUEST, ":path", 5, cfg->invoke_path,
                                  strlen(cfg->invoke_path)) |
                    h->header_set(s, GWF_REQUEST, "x-amz-invocation-type", 21,
                                  type, strlen(type));
    if (hs != GWF_OK)
        return sign_failed(s, st, SIGN_FAILED, "lambda_sign_error");
    sigv4_sha256_hex(signed_body.ptr ? signed_body.ptr : "", signed_body.len,
                     st->payload_hash);
    return GWF_CONTINUE;
}

/* Lambda: sign the Invoke call prepare_lambda made. */
static gwf_action
sign_lambda(gwf_stream *s, ls_stream *st, const sigv4_credentials *creds)
{
    const char *type = st->cfg->async ? "Event" : "RequestResponse";
    gwf_header signed_headers[] = {
        {{"x-amz-invocation-type", 21}, gwf_cstr(type)}};
    int rc = sign_stream(s, st, creds, (gwf_view){"", 0}, st->payload_hash,
                         signed_headers, 1);
    if (rc != 0)
        return sign_failed(s, st, rc, "lambda_sign_error");
    st->invoked = 1;
    return GWF_CONTINUE;
}

/* ------------------------------------------------------------------------
 * Credentials, and waiting for them
 * --------------------------------------------------------------------- */

struct ls_waiter {
    ls_waiter *next;
    ls_waiter **list; /* the list it is on: w->waiters, or being woken */
    gwf_stream *s;
    ls_stream *st;
    gwf_wait wait; /* owns the LS_WAIT_TIMEOUT_MS timer */
};

/* The only way a waiter goes: unlinked, its wait ended (no timer fires
 * afterwards), freed. */
static void
waiter_free(ls_waiter *gone)
{
    for (ls_waiter **p = gone->list; *p; p = &(*p)->next) {
        if (*p == gone) {
            *p = gone->next;
            break;
        }
    }
    gwf_wait_end(&gone->wait);
    gone->st->waiter = NULL;
    free(gone);
}

static gwf_action
credentials_unavailable(gwf_stream *s, ls_stream *st)
{
    return reply(s, st, LS_RESULT_SIGN_ERROR, 500,
                 "AWS credentials are unavailable\n",
                 "aws_credentials_unavailable");
}

/* 0 with *out to sign with; 1 when a refresh is in flight to wait for;
 * -1 when there are none (the refresh could not start, or no worker). */
static int
credentials_for(ls_stream *st, sigv4_credentials *out)
{
    const ls_config *cfg = st->cfg;
    if (!cfg->dynamic) {
        *out = (sigv4_credentials){cfg->access_key, cfg->secret_key,
                                   cfg->session_token};
        return 0;
    }
    if (!st->worker || !st->worker->fetcher)
        return -1;
    const ls_creds *c = ls_fetcher_get(st->worker->fetcher);
    if (c) {
        *out =
            (sigv4_credentials){c->access_key, c->secret_key, c->session_token};
        return 0;
    }
    return ls_fetcher_busy(st->worker->fetcher) ? 1 : -1;
}

static void
on_wait_timeout(void *arg)
{
    ls_waiter *wt = arg;
    gwf_stream *s = wt->s;
    ls_stream *st = wt->st;
    waiter_free(wt);
    gwf_stream_logf(s, GWF_LOG_WARN,
                    "no AWS credentials after waiting %d ms for the refresh",
                    LS_WAIT_TIMEOUT_MS);
    credentials_unavailable(s, st);
}

static gwf_action proceed(gwf_stream *s, ls_stream *st);

/* [worker] The refresh ended: the streams that waited for it go on, or
 * fail closed when it failed. The list is taken first (each waiter told
 * where it is now, so that any free unlinks it from there): a stream
 * that goes on may wait again, on the new list, and a refresh that ends
 * while these are woken wakes only its own. */
static void
on_fetch_done(void *arg, int ok)
{
    ls_worker *w = arg;
    ls_waiter *waking = w->waiters;
    w->waiters = NULL;
    for (ls_waiter *wt = waking; wt; wt = wt->next)
        wt->list = &waking;
    while (waking) {
        ls_waiter *wt = waking;
        gwf_stream *s = wt->s;
        ls_stream *st = wt->st;
        waiter_free(wt);
        if (!ok)
            credentials_unavailable(s, st);
        else if (proceed(s, st) == GWF_CONTINUE)
            s->host->resume(s);
    }
}

static gwf_action
wait_for_credentials(gwf_stream *s, ls_stream *st)
{
    ls_waiter *wt = calloc(1, sizeof *wt);
    if (!wt || gwf_wait_start(&wt->wait, st->cfg->instance, s,
                              (uint64_t)LS_WAIT_TIMEOUT_MS * 1000000u,
                              on_wait_timeout, wt) != GWF_OK) {
        free(wt);
        return credentials_unavailable(s, st);
    }
    wt->list = &st->worker->waiters;
    wt->s = s;
    wt->st = st;
    wt->next = st->worker->waiters;
    st->worker->waiters = wt;
    st->waiter = wt;
    return GWF_PAUSE;
}

/* Sign the request once the credentials are there (in the hook, or in
 * the callback that ended the wait): st->phase says whether the body is
 * complete and hashed (PHASE_BODY) or not signed (PHASE_HEADERS, sign
 * mode). A Lambda request was already rewritten by prepare_lambda. */
static gwf_action
proceed(gwf_stream *s, ls_stream *st)
{
    sigv4_credentials creds;
    int r = credentials_for(st, &creds);
    if (r < 0)
        return credentials_unavailable(s, st);
    if (r > 0)
        return wait_for_credentials(s, st);
    if (st->cfg->mode == LS_MODE_LAMBDA)
        return sign_lambda(s, st, &creds);
    int rc =
        sign_stream(s, st, &creds, (gwf_view){"", 0},
                    st->phase == PHASE_BODY ? st->payload_hash : NULL, NULL, 0);
    if (rc != 0)
        return sign_failed(s, st, rc, "aws_sign_error");
    st->signed_done = 1; /* the body, if any, streams through */
    return GWF_CONTINUE;
}

static gwf_action
ls_request_headers(gwf_stream *s, void *ctx, int32_t end_of_stream)
{
    ls_stream *st = ctx;
    /* Fetched credentials: start a refresh now if one is due, while the
     * body arrives. */
    if (st->cfg->dynamic && st->worker && st->worker->fetcher)
        (void)ls_fetcher_get(st->worker->fetcher);
    if (st->cfg->mode == LS_MODE_LAMBDA)
        return GWF_BUFFER; /* even with no body: the payload is built */
    if (st->cfg->unsigned_payload || end_of_stream) {
        st->phase = PHASE_HEADERS;
        return proceed(s, st);
    }
    return GWF_BUFFER;
}

static gwf_action
ls_request_body(gwf_stream *s, void *ctx, int32_t end_of_stream)
{
    ls_stream *st = ctx;
    if (st->invoked || st->signed_done)
        return GWF_CONTINUE;
    if (!end_of_stream)
        return GWF_BUFFER;
    gwf_view body = {0};
    s->host->body_get(s, GWF_REQUEST, &body);
    if (st->cfg->mode == LS_MODE_LAMBDA) {
        gwf_action a = prepare_lambda(s, st, body);
        if (a != GWF_CONTINUE)
            return a;
    } else {
        sigv4_sha256_hex(body.ptr ? body.ptr : "", body.len, st->payload_hash);
    }
    st->phase = PHASE_BODY;
    return proceed(s, st);
}

/* ------------------------------------------------------------------------
 * The Lambda reply
 * --------------------------------------------------------------------- */

/* A header value safe to show: token characters only, at most 64. */
static void
safe_token(gwf_view v, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < v.len && o + 1 < cap && o < 64; i++) {
        char c = v.ptr[i];
        if (isalnum((unsigned char)c) || strchr("-_.:", c))
            out[o++] = c;
    }
    out[o] = '\0';
}

static gwf_action
ls_response_headers(gwf_stream *s, void *ctx, int32_t end_of_stream)
{
    ls_stream *st = ctx;
    if (!st->invoked)
        return GWF_CONTINUE;
    const gwf_host *h = s->host;
    ls_config *cfg = st->cfg;
    gwf_view status = {0}, v = {0};
    /* The host's own answer (502, 504) to a failed invocation is no
     * answer from AWS: it goes to the client as it is. */
    if (h->attribute(s, GWF_ATTR_RESPONSE_FROM_UPSTREAM, &v) == GWF_OK &&
        v.len == 1 && v.ptr[0] == '0') {
        st->host_answered = 1;
        return GWF_CONTINUE;
    }
    /* A status or function error the host could not read (out of
     * memory) is not "none": the function may have failed. */
    gwf_status status_read =
        h->header_get(s, GWF_RESPONSE, ":status", 7, 0, &status);
    gwf_status error_read =
        h->header_get(s, GWF_RESPONSE, "x-amz-function-error", 20, 0, &v);
    if ((status_read != GWF_OK && status_read != GWF_ERR_NOT_FOUND) ||
        (error_read != GWF_OK && error_read != GWF_ERR_NOT_FOUND)) {
        gwf_stream_logf(s, GWF_LOG_ERROR,
                        "the reply of function %s could not be read",
                        cfg->function_name);
        return reply(s, st, LS_RESULT_INVALID_REPLY, 502,
                     "invalid reply from the Lambda function: it could not "
                     "be read\n",
                     "lambda_invalid_reply");
    }
    int code = 0;
    for (size_t i = 0; i < status.len && i < 3; i++)
        code = code * 10 + (status.ptr[i] - '0');
    char msg[256], kind[80];

    if (error_read == GWF_OK) {
        safe_token(v, kind, sizeof kind);
        gwf_stream_logf(s, GWF_LOG_WARN,
                        "function %s failed (x-amz-function-error: %s)",
                        cfg->function_name, kind);
        snprintf(msg, sizeof msg, "the Lambda function failed (%s)\n",
                 kind[0] ? kind : "error");
        return reply(s, st, LS_RESULT_FUNCTION_ERROR, 502, msg,
                     "lambda_function_error");
    }
    if (code < 200 || code > 299) {
        kind[0] = '\0';
        if (h->header_get(s, GWF_RESPONSE, "x-amzn-errortype", 16, 0, &v) ==
            GWF_OK)
            safe_token(v, kind, sizeof kind);
        gwf_stream_logf(s, GWF_LOG_WARN,
                        "Lambda refused the invocation of %s: status %d %s",
                        cfg->function_name, code, kind);
        snprintf(msg, sizeof msg,
                 "the Lambda invocation failed: AWS answered %d%s%s\n", code,
                 kind[0] ? " " : "", kind);
        return reply(s, st, LS_RESULT_UPSTREAM_ERROR, 502, msg,
                     "lambda_upstream_error");
    }
    if (cfg->async || !cfg->envoy_transform)
        return GWF_CONTINUE;
    if (end_of_stream)
        return reply(s, st, LS_RESULT_INVALID_REPLY, 502,
                     "invalid reply from the Lambda function: no body\n",
                     "lambda_invalid_reply");
    return GWF_BUFFER;
}

static gwf_action
ls_response_body(gwf_stream *s, void *ctx, int32_t end_of_stream)
{
    ls_stream *st = ctx;
    if (!st->invoked || st->host_answered || st->cfg->async ||
        !st->cfg->envoy_transform)
        return GWF_CONTINUE;
    if (!end_of_stream)
        return GWF_BUFFER;
    gwf_view body = {0};
    s->host->body_get(s, GWF_RESPONSE, &body);
    const char *why = "invalid reply";
    if (ls_envoy_response(s, body, &why) != 0) {
        gwf_stream_logf(s, GWF_LOG_WARN, "invalid reply from function %s: %s",
                        st->cfg->function_name, why);
        char msg[256];
        snprintf(msg, sizeof msg,
                 "invalid reply from the Lambda function: "
                 "%s\n",
                 why);
        return reply(s, st, LS_RESULT_INVALID_REPLY, 502, msg,
                     "lambda_invalid_reply");
    }
    return GWF_CONTINUE;
}

GWF_PLUGIN_ENTRY = {
    .size = sizeof(gwf_plugin),
    .abi_major = GWF_ABI_VERSION_MAJOR,
    .abi_minor = GWF_ABI_VERSION_MINOR,
    .name = "lambda_signer",
    .version = "0.1.0",
    .description = "AWS SigV4 request signing and Lambda invocation",
    .config_create = ls_config_create,
    .config_destroy = ls_config_destroy,
    .worker_start = ls_worker_start,
    .worker_stop = ls_worker_stop,
    .stream_create = ls_stream_create,
    .request_headers = ls_request_headers,
    .request_body = ls_request_body,
    .response_headers = ls_response_headers,
    .response_body = ls_response_body,
    .stream_destroy = ls_stream_destroy,
};
