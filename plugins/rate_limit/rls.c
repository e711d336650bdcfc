/*
 * rls.c - envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit
 * calls, on the host's event loop.
 *
 * A call is a unary gRPC over HTTP/2, one length-prefixed message each
 * way, the result in the grpc-status trailer. To a plain-text service
 * (the usual case) the SDK's h2c gRPC client carries it
 * (gwf/sdk_grpc.h): every call of a worker is a stream of one
 * multiplexed connection, the name resolved at config time. Over TLS
 * each worker owns one curl multi handle, driven by the SDK's
 * gwf_curl_loop (gwf/sdk_curl.h), and a call is one easy handle (ALPN
 * h2, multiplexed by libcurl); so is a plain-text service whose name
 * did not resolve at config time, where libcurl 7.88 gives each call a
 * connection of its own (it cannot share an h2c one).
 *
 * A call has one way to end for its owner: its callback, exactly once,
 * or rl_rls_call_cancel, after which nothing of it runs (its easy handle
 * leaves the multi handle, its retry timer is cancelled). The filter's
 * timer (`timeout`) bounds the whole call, retries included; a retry
 * waits a fully jittered exponential backoff (Envoy's), and is only
 * tried when the service failed in a way that asks for one (a transport
 * error, UNAVAILABLE, a 5xx).
 *
 * At most RL_RLS_MAX_ACTIVE calls per worker are in libcurl at once; the
 * others wait, oldest first, so that a service that stopped answering
 * costs a bounded number of descriptors.
 */
#include "rate_limit.h"

#include <gwf/sdk_curl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define RL_RLS_MAX_ACTIVE 256
#define RL_RLS_MAX_METADATA 64 /* header or trailer lines of one answer */

struct rl_rls_call {
    rl_rls *r;
    gwf_grpc_call *grpc; /* the SDK's call in flight (lean), or NULL */
    CURL *easy;
    struct curl_slist *headers, *connect_to;
    char *body;
    size_t body_len;
    uint64_t timeout_ns;
    unsigned attempt;
    gwf_curl_answer answer;
    gwf_strbuf received;
    int too_big;
    int in_body; /* headers of the final response ended: trailers next */
    char grpc_status[8], grpc_status_headers[8];
    int in_multi, queued;
    uint64_t retry_timer;
    int retry_armed;
    rl_rls_call *prev, *next; /* the queue */
    rl_rls_cb cb;
    void *arg;
};

struct rl_rls {
    const rl_config *cfg;
    gwf_instance *inst;
    CURLM *multi;
    gwf_curl_loop *loop;
    size_t active;
    rl_rls_call *head, *tail;
    int h2c_shared;
    gwf_grpc_client *grpc; /* plain text: the SDK's client, else NULL */
};

#define RL_RLS_PATH                                                            \
    "/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit"

void
rl_rls_resolve(rl_config *cfg, const char *host, uint16_t port)
{
    gwf_grpc_peer_options options = {.authority = cfg->rls.authority,
                                     .max_message = RL_RLS_MAX_ANSWER};

    if (cfg->rls.tls || cfg->rls.peer)
        return;
    /* A name that does not resolve now is left to libcurl, which tries
     * again per call. */
    gwf_grpc_peer_new(host, port, &options, &cfg->rls.peer, NULL, 0);
}

static size_t
on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    rl_rls_call *call = arg;
    size_t len = size * nmemb;

    if (call->received.len + len > RL_RLS_MAX_ANSWER + 5) {
        call->too_big = 1;
        return 0;
    }
    gwf_strbuf_append(&call->received, data, len);
    return call->received.failed ? 0 : len;
}

static size_t
on_header(char *line, size_t size, size_t nmemb, void *arg)
{
    rl_rls_call *call = arg;
    size_t len = size * nmemb;
    char *into;

    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        len--;
    if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
        call->in_body = 0;
        call->grpc_status[0] = call->grpc_status_headers[0] = '\0';
        return size * nmemb;
    }
    if (len == 0) {
        long code = 0;
        curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &code);
        if (code >= 200)
            call->in_body = 1;
        return size * nmemb;
    }
    if (len < 12 || strncasecmp(line, "grpc-status:", 12) != 0)
        return size * nmemb;
    into = call->in_body ? call->grpc_status : call->grpc_status_headers;
    {
        size_t start = 12, end = len;
        while (start < end && (line[start] == ' ' || line[start] == '\t'))
            start++;
        while (end > start && (line[end - 1] == ' ' || line[end - 1] == '\t'))
            end--;
        if (end - start >= sizeof(call->grpc_status))
            end = start + sizeof(call->grpc_status) - 1;
        memcpy(into, line + start, end - start);
        into[end - start] = '\0';
    }
    return size * nmemb;
}

static void
queue_unlink(rl_rls *r, rl_rls_call *call)
{
    if (call->prev)
        call->prev->next = call->next;
    else
        r->head = call->next;
    if (call->next)
        call->next->prev = call->prev;
    else
        r->tail = call->prev;
    call->prev = call->next = NULL;
    call->queued = 0;
}

static void
queue_push(rl_rls *r, rl_rls_call *call)
{
    call->queued = 1;
    call->next = NULL;
    call->prev = r->tail;
    if (r->tail)
        r->tail->next = call;
    else
        r->head = call;
    r->tail = call;
}

/* Into the multi handle now, or into the queue. A call that cannot be
 * added (no memory) waits for the filter's timer, as an error. */
static void
enter(rl_rls *r, rl_rls_call *call)
{
    if (r->active >= RL_RLS_MAX_ACTIVE) {
        queue_push(r, call);
        return;
    }
    if (curl_multi_add_handle(r->multi, call->easy) == CURLM_OK) {
        call->in_multi = 1;
        r->active++;
    }
}

static void
left_multi(rl_rls *r, rl_rls_call *call)
{
    call->in_multi = 0;
    r->active--;
    while (r->head && r->active < RL_RLS_MAX_ACTIVE) {
        rl_rls_call *next = r->head;
        queue_unlink(r, next);
        enter(r, next);
    }
}

/* Set up the easy handle for one attempt. 0, or -1 (no memory). */
static int
prepare(rl_rls_call *call)
{
    const rl_rls_config *rc = &call->r->cfg->rls;
    CURL *easy = call->easy;
    gwf_strbuf url = {0}, line = {0};
    uint64_t attempt_ns = call->timeout_ns;

    curl_easy_reset(easy);
    gwf_strbuf_free(&call->received);
    call->too_big = call->in_body = 0;
    call->grpc_status[0] = call->grpc_status_headers[0] = '\0';
    curl_easy_setopt(easy, CURLOPT_PRIVATE, call);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, call);
    gwf_curl_answer_track(&call->answer, easy, on_header, call);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
    if (rc->tls) {
        curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
        if (rc->ca_file)
            curl_easy_setopt(easy, CURLOPT_CAINFO, rc->ca_file);
    }
    curl_slist_free_all(call->connect_to);
    curl_slist_free_all(call->headers);
    call->connect_to = call->headers = NULL;
    if (rc->connect_to) {
        if (!(call->connect_to = curl_slist_append(NULL, rc->connect_to)))
            return -1;
        curl_easy_setopt(easy, CURLOPT_CONNECT_TO, call->connect_to);
    }
    gwf_strbuf_appendf(
        &url, "%s/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit",
        rc->base_url);
    if (url.failed) {
        gwf_strbuf_free(&url); /* it may hold a first, smaller buffer */
        return -1;
    }
    curl_easy_setopt(easy, CURLOPT_URL, url.data);
    gwf_strbuf_free(&url);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, call->body);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t)call->body_len);
    curl_easy_setopt(easy, CURLOPT_HTTP_VERSION,
                     rc->tls ? (long)CURL_HTTP_VERSION_2TLS
                             : (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
    if (call->r->h2c_shared)
        curl_easy_setopt(easy, CURLOPT_PIPEWAIT, 1L);
    else
        curl_easy_setopt(easy, CURLOPT_FORBID_REUSE, 1L);
    /* grpcService.requestTimeout bounds one attempt (libcurl's clock);
     * the filter's timer bounds the whole call. */
    if (rc->request_timeout_ns && rc->request_timeout_ns < attempt_ns)
        attempt_ns = rc->request_timeout_ns;
    if (rc->request_timeout_ns)
        curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS,
                         (long)((rc->request_timeout_ns + 999999) / 1000000));
    {
        static const char *const fixed[] = {"content-type: application/grpc",
                                            "te: trailers",
                                            "Accept:", "Expect:"};
        struct curl_slist *added;

        for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
            if (!(added = curl_slist_append(call->headers, fixed[i])))
                return -1;
            call->headers = added;
        }
        /* The SDK's text: at most 8 digits, the finest unit that fits,
         * rounded up (gwf/sdk_grpc.h). */
        char timeout[GWF_GRPC_TIMEOUT_TEXT_SIZE];
        gwf_grpc_timeout_text(timeout, sizeof(timeout), attempt_ns);
        gwf_strbuf_appendf(&line, "grpc-timeout: %s", timeout);
        if (line.failed ||
            !(added = curl_slist_append(call->headers, line.data)))
            goto fail;
        call->headers = added;
        gwf_strbuf_free(&line);
        if (rc->authority) {
            gwf_strbuf_appendf(&line, "Host: %s", rc->authority);
            if (line.failed ||
                !(added = curl_slist_append(call->headers, line.data)))
                goto fail;
            call->headers = added;
            gwf_strbuf_free(&line);
        }
        curl_easy_setopt(easy, CURLOPT_HTTPHEADER, call->headers);
    }
    return 0;
fail:
    gwf_strbuf_free(&line);
    return -1;
}

/* What one finished attempt says: 1 answered (`a` decoded), 0 failed
 * with `*err`, and `*retryable` when the service asks to be tried
 * again. */
static int
judge(rl_rls_call *call, CURLcode result, rl_rls_answer *a, const char **err,
      int *retryable)
{
    long status = 0;

    *retryable = 0;
    result = gwf_curl_answer_result(&call->answer, result);
    curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &status);
    if (call->too_big) {
        *err = "the rate limit service's answer is too large";
        return 0;
    }
    if (result != CURLE_OK || call->received.failed) {
        *err = curl_easy_strerror(result);
        *retryable = result == CURLE_COULDNT_CONNECT ||
                     result == CURLE_RECV_ERROR || result == CURLE_SEND_ERROR ||
                     result == CURLE_GOT_NOTHING ||
                     result == CURLE_HTTP2_STREAM || result == CURLE_HTTP2 ||
                     result == CURLE_PARTIAL_FILE;
        return 0;
    }
    if (status != 200) {
        *err = "the rate limit service did not answer 200 to the gRPC call";
        *retryable = status >= 500;
        return 0;
    }
    if (!call->grpc_status[0] && call->received.len == 0 &&
        call->grpc_status_headers[0])
        memcpy(call->grpc_status, call->grpc_status_headers,
               sizeof(call->grpc_status));
    if (!call->grpc_status[0]) {
        *err = "the gRPC answer has no grpc-status trailer";
        return 0;
    }
    if (strcmp(call->grpc_status, "0") != 0) {
        *err = "the ShouldRateLimit call failed (grpc-status not 0)";
        *retryable = strcmp(call->grpc_status, "14") == 0;
        return 0;
    }
    if (rl_rls_decode_frame((const uint8_t *)call->received.data,
                            call->received.len, a) != 0) {
        *err = a->error;
        return 0;
    }
    return 1;
}

static void on_retry(void *arg);

/* A jittered exponential backoff: random in [0, min(base * 2^n, max)). */
static uint64_t
backoff_ns(const rl_rls_config *rc, unsigned attempt)
{
    uint64_t ceiling = rc->retry_base_ns;

    for (unsigned i = 1; i < attempt && ceiling < rc->retry_max_ns; i++)
        ceiling = ceiling > UINT64_MAX / 2 ? UINT64_MAX : ceiling * 2;
    if (ceiling > rc->retry_max_ns)
        ceiling = rc->retry_max_ns;
    if (ceiling == 0)
        return 0;
    return (((uint64_t)arc4random() << 32) | arc4random()) % ceiling;
}

/* One attempt ended: retry it, or tell the owner. */
static void
settle(rl_rls_call *call, int ok, rl_rls_answer *ap, const char *err,
       int retryable)
{
    rl_rls *r = call->r;
    rl_rls_answer a = *ap;

    if (!ok && retryable && call->attempt < r->cfg->rls.retry_attempts) {
        call->attempt++;
        rl_rls_answer_free(&a);
        if (r->inst->host->timer_start(
                r->inst, NULL, backoff_ns(&r->cfg->rls, call->attempt) + 1,
                on_retry, call, &call->retry_timer) == GWF_OK) {
            call->retry_armed = 1;
            return;
        }
    }
    /* The callback may cancel (free) the call: nothing of it after. */
    call->cb(call->arg, ok, ok ? &a : NULL, ok ? NULL : err);
    rl_rls_answer_free(&a);
}

static void
finish(rl_rls_call *call, CURLcode result)
{
    rl_rls_answer a = {0};
    const char *err = NULL;
    int retryable, ok = judge(call, result, &a, &err, &retryable);

    settle(call, ok, &a, err, retryable);
}

/* The SDK's client ended an attempt (a worker callback; its call is
 * freed when this returns). The SDK judged the stream: a cut or
 * malformed answer is FAILED. */
static void
on_grpc_done(void *arg, gwf_grpc_call *handle, const gwf_grpc_result *res)
{
    rl_rls_call *call = arg;
    rl_rls_answer a = {0};
    const char *err = NULL;
    int ok = 0, retryable = 0;

    call->grpc = NULL;
    if (res->outcome != GWF_GRPC_ANSWERED) {
        err = res->error;
        retryable = res->retryable;
    } else if (res->status != 0) {
        err = "the ShouldRateLimit call failed (grpc-status not 0)";
        retryable = res->status == 14;
    } else if (rl_rls_decode(res->message, res->message_len, &a) != 0) {
        err = a.error;
        gwf_grpc_call_distrust(handle); /* its connection takes no more */
    } else {
        ok = 1;
    }
    settle(call, ok, &a, err, retryable);
}

/* The deadline of one attempt: grpcService.requestTimeout when shorter
 * than the filter's timer, which bounds the whole call anyway. */
static uint64_t
attempt_ns(const rl_rls_call *call)
{
    const rl_rls_config *rc = &call->r->cfg->rls;

    return rc->request_timeout_ns && rc->request_timeout_ns < call->timeout_ns
               ? rc->request_timeout_ns
               : call->timeout_ns;
}

/* Start one attempt of a lean call. 0, or -1 (out of memory). Without a
 * shorter requestTimeout the filter's timer bounds the call and reports
 * it: the SDK's deadline is then 1 ms behind it, a backstop. */
static int
lean_start(rl_rls_call *call)
{
    uint64_t ns = attempt_ns(call);

    if (ns == call->timeout_ns)
        ns += UINT64_C(1000000);
    call->grpc = gwf_grpc_call_start(call->r->grpc, RL_RLS_PATH, call->body,
                                     call->body_len, ns, on_grpc_done, call);
    return call->grpc ? 0 : -1;
}

static void
on_retry(void *arg)
{
    rl_rls_call *call = arg;

    call->retry_armed = 0;
    if (call->r->grpc) {
        if (lean_start(call) != 0)
            call->cb(call->arg, 0, NULL, "out of memory for a retry");
        return;
    }
    if (prepare(call) != 0) {
        call->cb(call->arg, 0, NULL, "out of memory for a retry");
        return;
    }
    enter(call->r, call);
}

static void
collect_done(void *arg)
{
    rl_rls *r = arg;
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(r->multi, &left))) {
        rl_rls_call *call = NULL;
        CURLcode result;

        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&call);
        result = msg->data.result;
        curl_multi_remove_handle(r->multi, msg->easy_handle);
        if (!call)
            continue;
        left_multi(r, call);
        finish(call, result);
    }
}

rl_rls *
rl_rls_new(const rl_config *cfg)
{
    rl_rls *r = calloc(1, sizeof(*r));

    if (!r)
        return NULL;
    r->cfg = cfg;
    r->inst = cfg->instance;
    r->h2c_shared = cfg->rls.tls ||
                    curl_version_info(CURLVERSION_NOW)->version_num >= 0x080000;
    r->multi = curl_multi_init();
    if (r->multi)
        r->loop = gwf_curl_loop_new(r->inst, r->multi, collect_done, r);
    if (!r->loop) {
        curl_multi_cleanup(r->multi);
        free(r);
        return NULL;
    }
    curl_multi_setopt(r->multi, CURLMOPT_MAXCONNECTS, 16L);
    curl_multi_setopt(r->multi, CURLMOPT_PIPELINING,
                      r->h2c_shared ? CURLPIPE_MULTIPLEX : CURLPIPE_NOTHING);
    if (cfg->rls.peer &&
        !(r->grpc = gwf_grpc_client_new(r->inst, cfg->rls.peer))) {
        rl_rls_free(r);
        return NULL;
    }
    return r;
}

void
rl_rls_free(rl_rls *r)
{
    if (!r)
        return;
    /* Streams end before worker_stop, and each cancels its call. */
    gwf_grpc_client_free(r->grpc);
    curl_multi_cleanup(r->multi);
    gwf_curl_loop_free(r->loop);
    free(r);
}

rl_rls_call *
rl_rls_call_start(rl_rls *r, char *body, size_t len, uint64_t timeout_ns,
                  rl_rls_cb cb, void *arg)
{
    rl_rls_call *call = calloc(1, sizeof(*call));

    if (!call) {
        free(body);
        return NULL;
    }
    call->r = r;
    call->body = body;
    call->body_len = len;
    call->timeout_ns = timeout_ns;
    call->cb = cb;
    call->arg = arg;
    if (r->grpc) {
        if (lean_start(call) != 0) {
            rl_rls_call_cancel(call);
            return NULL;
        }
        return call;
    }
    call->easy = curl_easy_init();
    if (!call->easy || prepare(call) != 0) {
        rl_rls_call_cancel(call);
        return NULL;
    }
    enter(r, call);
    return call;
}

void
rl_rls_call_cancel(rl_rls_call *call)
{
    rl_rls *r;

    if (!call)
        return;
    r = call->r;
    gwf_grpc_call_cancel(call->grpc); /* its stream reset (CANCEL) */
    if (call->queued)
        queue_unlink(r, call);
    if (call->in_multi) {
        curl_multi_remove_handle(r->multi, call->easy);
        left_multi(r, call);
    }
    if (call->retry_armed)
        r->inst->host->timer_cancel(r->inst, call->retry_timer);
    if (call->easy)
        curl_easy_cleanup(call->easy);
    curl_slist_free_all(call->headers);
    curl_slist_free_all(call->connect_to);
    gwf_strbuf_free(&call->received);
    free(call->body);
    free(call);
}
