/*
 * exchange.c - a request/response in memory, driven through a chain.
 *
 * This is the smallest complete data plane: it feeds the request headers
 * and body, forwards to the upstream callback when the request has passed
 * every plugin, feeds the response back, and collects what the client
 * gets. It reacts to the runtime's states exactly as a proxy must:
 * CONTINUE goes on, NEED_BODY feeds the body before forwarding, WAIT
 * returns and waits for wake, REPLY answers locally.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gwf/exchange.h>
#include <gwf/loop.h>

#include "http1.h"
#include "internal.h"

enum { PHASE_REQUEST, PHASE_RESPONSE, PHASE_DONE };

static void advance(gwf_exchange *x, gwf_rt_state state);

static void
finish(gwf_exchange *x, int outcome)
{
    x->outcome = outcome;
    x->run.phase = PHASE_DONE;
    gwf_rt_stream *st = x->run.st;
    x->run.st = NULL;
    if (st)                  /* none for an answer before the stream */
        gwf_stream_free(st); /* runs stream_complete first */
    if (x->on_done)
        x->on_done(x->ctx, x);
}

static void
set_content_length(gwf_memmsg *m, size_t len)
{
    char text[32];
    int n = snprintf(text, sizeof text, "%zu", len);
    gwf_memmsg_ops.set(m, "content-length", 14, text, (size_t)n);
    gwf_memmsg_ops.remove(m, "transfer-encoding", 17);
}

/* Frame a body that left the chain as a streaming data plane would: its
 * exact length, or chunked when a plugin changed it while it streamed
 * (the whole body is at hand here, but the headers would have gone
 * before it). */
static void
frame_body(gwf_exchange *x, gwf_memmsg *m, gwf_message_kind which, size_t len)
{
    if (gwf_stream_framing(x->run.st, which) != GWF_RT_FRAMING_STREAMED) {
        set_content_length(m, len);
        return;
    }
    gwf_memmsg_ops.remove(m, "content-length", 14);
    gwf_memmsg_ops.set(m, "transfer-encoding", 17, "chunked", 7);
}

static void
finish_reply(gwf_exchange *x)
{
    gwf_memmsg_clear(&x->response);
    x->response.status = gwf_stream_reply_status(x->run.st);
    gwf_view name, value;
    for (size_t i = 0;
         gwf_stream_reply_header(x->run.st, i, &name, &value) == GWF_OK; i++)
        gwf_memmsg_ops.add(&x->response, name.ptr, name.len, value.ptr,
                           value.len);
    gwf_view body = gwf_stream_reply_body(x->run.st);
    gwf_buf_set(&x->response_body, body.ptr, body.len);
    set_content_length(&x->response, body.len);
    const char *details = gwf_stream_reply_details(x->run.st);
    snprintf(x->details, sizeof x->details, "%s", details ? details : "");
    finish(x, GWF_EXCHANGE_LOCAL_REPLY);
}

/* Move the chunks that passed every plugin to `out`; 1 once the last one
 * is out. */
static bool
take_all(gwf_exchange *x, gwf_message_kind which, gwf_buf *out)
{
    gwf_view chunk;
    int eos = 0;
    while (gwf_stream_take(x->run.st, which, &chunk, &eos)) {
        gwf_buf_append(out, chunk.ptr, chunk.len);
        if (eos)
            x->run.body_out[which] = true;
    }
    return x->run.body_out[which];
}

/* The upstream's answer into x->response, or the data plane's 502. */
static void
call_upstream(gwf_exchange *x)
{
    gwf_memmsg_clear(&x->response);
    gwf_buf_free(&x->response_body);
    x->run.host_response = !x->upstream || x->upstream(x->ctx, x) != 0;
    if (x->run.host_response) {
        gwf_memmsg_clear(&x->response);
        gwf_buf_free(&x->response_body);
        x->response.status = 502;
        gwf_memmsg_ops.set(&x->response, "content-type", 12,
                           "text/plain; charset=utf-8", 25);
        gwf_buf_set(&x->response_body, "upstream unavailable\n", 21);
    }
}

static gwf_rt_state
forward(gwf_exchange *x)
{
    x->run.phase = PHASE_RESPONSE;
    if (x->upstream_body.len || x->request_body.len)
        frame_body(x, &x->request, GWF_REQUEST, x->upstream_body.len);
    call_upstream(x);
    x->response.fail_reads_of =
        x->failing_response_header[0] ? x->failing_response_header : NULL;
    x->run.body_out[GWF_RESPONSE] = x->response_body.len == 0;
    return gwf_stream_headers(x->run.st, GWF_RESPONSE,
                              x->response_body.len == 0);
}

static void
advance(gwf_exchange *x, gwf_rt_state state)
{
    for (;;) {
        if (x->run.phase == PHASE_DONE || state == GWF_RT_WAIT)
            return;
        if (state == GWF_RT_REPLY) {
            finish_reply(x);
            return;
        }
        gwf_message_kind which =
            x->run.phase == PHASE_REQUEST ? GWF_REQUEST : GWF_RESPONSE;
        gwf_buf *in =
            which == GWF_REQUEST ? &x->request_body : &x->response_body;
        if (!x->run.body_fed[which] && in->len) {
            /* The body arrives in one piece: what a proxy that read it
             * whole would feed. */
            x->run.body_fed[which] = true;
            char *data = in->data;
            size_t len = in->len;
            if (which == GWF_RESPONSE) {
                /* The client's copy is built from the output. */
                in->data = NULL;
                in->len = in->cap = 0;
            }
            state = gwf_stream_data(x->run.st, which, data, len, 1);
            if (which == GWF_RESPONSE)
                free(data);
            continue;
        }
        if (state == GWF_RT_NEED_BODY)
            return; /* nothing more will come: the runtime waits too */
        gwf_buf *out =
            which == GWF_REQUEST ? &x->upstream_body : &x->run.client_body;
        if (!take_all(x, which, out) && x->run.body_fed[which])
            return; /* a chunk is still inside the chain */
        if (which == GWF_REQUEST) {
            state = forward(x);
            continue;
        }
        gwf_buf_free(&x->response_body);
        x->response_body = x->run.client_body;
        memset(&x->run.client_body, 0, sizeof x->run.client_body);
        if (x->response_body.len || x->run.body_fed[GWF_RESPONSE])
            frame_body(x, &x->response, GWF_RESPONSE, x->response_body.len);
        finish(x, GWF_EXCHANGE_FORWARDED);
        return;
    }
}

static void
on_wake(void *dp, gwf_rt_state state)
{
    advance(dp, state);
}

static gwf_status
on_attribute(void *dp, gwf_attribute attr, gwf_view *value)
{
    gwf_exchange *x = dp;
    if (x->failing_attribute == (int)attr + 1)
        return GWF_ERR_NO_MEMORY;
    switch (attr) {
    case GWF_ATTR_REMOTE_ADDRESS:
        value->ptr = x->remote_address[0] ? x->remote_address : "127.0.0.1";
        value->len = strlen(value->ptr);
        return GWF_OK;
    case GWF_ATTR_PROTOCOL:
        value->ptr = "HTTP/1.1";
        value->len = 8;
        return GWF_OK;
    case GWF_ATTR_TLS:
        value->ptr = "0";
        value->len = 1;
        return GWF_OK;
    case GWF_ATTR_RESPONSE_FROM_UPSTREAM:
        if (x->run.phase != PHASE_RESPONSE)
            return GWF_ERR_NOT_FOUND;
        value->ptr = x->run.host_response ? "0" : "1";
        value->len = 1;
        return GWF_OK;
    default:
        return GWF_ERR_NOT_FOUND;
    }
}

/* An answer before the stream becomes the client's response at once,
 * as finish_reply makes a stream's. */
static gwf_status
on_early_reply(void *dp, const gwf_early_reply *reply)
{
    gwf_exchange *x = dp;
    gwf_memmsg_clear(&x->response);
    gwf_buf_free(&x->response_body);
    x->response.status = reply->status;
    for (size_t i = 0; i < reply->header_count; i++) {
        const gwf_header *h = &reply->headers[i];
        const gwf_view *v =
            i < reply->value_count ? &reply->values[i] : &h->value;
        if (gwf_memmsg_ops.add(&x->response, h->name.ptr, h->name.len, v->ptr,
                               v->len) != GWF_OK)
            return GWF_ERR_NO_MEMORY;
    }
    if (gwf_buf_set(&x->response_body, reply->body.ptr, reply->body.len) < 0)
        return GWF_ERR_NO_MEMORY;
    set_content_length(&x->response, reply->body.len);
    snprintf(x->details, sizeof x->details, "%s", reply->details);
    return GWF_OK;
}

static const gwf_stream_ops exchange_ops = {
    .wake = on_wake,
    .attribute = on_attribute,
    .early_reply = on_early_reply,
};

/* What a data plane answers when even the host's own 500 could not be
 * made. */
static void
finish_failed(gwf_exchange *x)
{
    gwf_memmsg_clear(&x->response);
    gwf_buf_free(&x->response_body);
    x->response.status = 500;
    snprintf(x->details, sizeof x->details, "gwf_no_memory");
    finish(x, GWF_EXCHANGE_LOCAL_REPLY);
}

int
gwf_exchange_start(gwf_exchange *x, gwf_worker *w, gwf_chain *chain)
{
    x->outcome = GWF_EXCHANGE_RUNNING;
    x->run.phase = PHASE_REQUEST;
    x->request.fail_reads_of = x->failing_header[0] ? x->failing_header : NULL;
    x->request.fail_reads_from = x->failing_from;
    x->request.fail_writes_of =
        x->failing_write_header[0] ? x->failing_write_header : NULL;
    switch (gwf_chain_early(w, chain, &exchange_ops, x, &gwf_memmsg_ops,
                            &x->request)) {
    case GWF_RT_EARLY_REPLY:
        finish(x, GWF_EXCHANGE_LOCAL_REPLY);
        return 0;
    case GWF_RT_EARLY_FAILED:
        finish_failed(x);
        return 0;
    case GWF_RT_EARLY_DONE:
        /* No stream: the request, as the plugin left it, and its body
         * go to the upstream, and its answer to the client, untouched. */
        x->run.phase = PHASE_RESPONSE;
        if (gwf_buf_set(&x->upstream_body, x->request_body.data,
                        x->request_body.len) < 0) {
            finish_failed(x);
            return 0;
        }
        /* Framed as forward() and advance() frame a stream's messages. */
        if (x->upstream_body.len)
            set_content_length(&x->request, x->upstream_body.len);
        call_upstream(x);
        if (x->response_body.len)
            set_content_length(&x->response, x->response_body.len);
        finish(x, GWF_EXCHANGE_FORWARDED);
        return 0;
    default:
        break;
    }
    x->run.st = gwf_stream_new(w, chain, &exchange_ops, x, &gwf_memmsg_ops,
                               &x->request, &x->response);
    if (!x->run.st)
        return -1;
    x->had_stream = true;
    x->run.body_out[GWF_REQUEST] = x->request_body.len == 0;
    advance(x, gwf_stream_headers(x->run.st, GWF_REQUEST,
                                  x->request_body.len == 0));
    return 0;
}

void
gwf_exchange_abort(gwf_exchange *x)
{
    if (x->run.phase == PHASE_DONE || !x->run.st)
        return;
    x->on_done = NULL;
    finish(x, GWF_EXCHANGE_ABORTED);
}

void
gwf_exchange_clear(gwf_exchange *x)
{
    if (x->run.st) {
        gwf_stream_free(x->run.st);
        x->run.st = NULL;
    }
    gwf_memmsg_clear(&x->request);
    gwf_memmsg_clear(&x->response);
    gwf_buf_free(&x->request_body);
    gwf_buf_free(&x->upstream_body);
    gwf_buf_free(&x->response_body);
    gwf_buf_free(&x->run.client_body);
}

/* -- HTTP/1.1 text -------------------------------------------------------- */

/* Copy a parsed message into `m` and `body`: the request line for a
 * request, the status for a response, then headers and body. */
static int
memmsg_from_http(gwf_memmsg *m, gwf_buf *body, const gwf_http_message *h,
                 bool request)
{
    if (request) {
        m->method = rt_strdup(h->method);
        m->path = rt_strdup(h->target);
        m->scheme = rt_strdup("http");
        if (!m->method || !m->path || !m->scheme)
            return -1;
    } else {
        m->status = (uint32_t)h->status;
    }
    for (size_t i = 0; i < h->header_count; i++)
        if (gwf_memmsg_ops.add(m, h->headers[i].name, h->headers[i].name_len,
                               h->headers[i].value,
                               h->headers[i].value_len) != GWF_OK)
            return -1;
    return gwf_buf_set(body, h->body, h->body_len);
}

static int
memmsg_parse(gwf_memmsg *m, gwf_buf *body, bool request, const char *text,
             size_t len, char *err, size_t errcap)
{
    gwf_http_message h;
    memset(&h, 0, sizeof h);
    int r = request ? gwf_http1_parse_request(text, len, &h, err, errcap)
                    : gwf_http1_parse_response(text, len, &h, err, errcap);
    if (r != 0)
        return -1;
    r = memmsg_from_http(m, body, &h, request);
    gwf_http_message_free(&h);
    if (r != 0 && errcap)
        snprintf(err, errcap, "out of memory");
    return r;
}

int
gwf_memmsg_parse_request(gwf_memmsg *m, gwf_buf *body, const char *text,
                         size_t len, char *err, size_t errcap)
{
    return memmsg_parse(m, body, true, text, len, err, errcap);
}

int
gwf_memmsg_parse_response(gwf_memmsg *m, gwf_buf *body, const char *text,
                          size_t len, char *err, size_t errcap)
{
    return memmsg_parse(m, body, false, text, len, err, errcap);
}

int
gwf_exchange_fetch(gwf_exchange *x, const char *url, long timeout_ms, char *err,
                   size_t errcap)
{
    /* The request as the chain left it, borrowed: only `headers` is
     * ours to free. */
    gwf_http_message req;
    memset(&req, 0, sizeof req);
    req.method = x->request.method;
    req.target = x->request.path;
    req.minor_version = 1;
    gwf_http_header *headers =
        calloc(x->request.count ? x->request.count : 1, sizeof *headers);
    if (!headers) {
        if (errcap)
            snprintf(err, errcap, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < x->request.count; i++) {
        headers[i].name = x->request.fields[i].name;
        headers[i].name_len = x->request.fields[i].name_len;
        headers[i].value = x->request.fields[i].value;
        headers[i].value_len = x->request.fields[i].value_len;
    }
    req.headers = headers;
    req.header_count = x->request.count;
    req.body = x->upstream_body.data;
    req.body_len = x->upstream_body.len;
    gwf_http_message resp;
    memset(&resp, 0, sizeof resp);
    int r = gwf_http_fetch(url, &req, &resp, timeout_ms, err, errcap);
    free(headers);
    if (r != 0)
        return -1;
    r = memmsg_from_http(&x->response, &x->response_body, &resp, false);
    gwf_http_message_free(&resp);
    if (r != 0 && errcap)
        snprintf(err, errcap, "out of memory");
    return r;
}

/* -- gwf_loop as the runtime's event loop --------------------------------- */

static uint64_t
ev_timer_start(void *ctx, uint64_t delay_ns, uint32_t flags, void (*cb)(void *),
               void *arg)
{
    (void)flags; /* a one-request loop has no graceful shutdown */
    return gwf_loop_timer_start(ctx, delay_ns, cb, arg);
}

static int
ev_timer_cancel(void *ctx, uint64_t id)
{
    return gwf_loop_timer_cancel(ctx, id);
}

static uint64_t
ev_fd_watch(void *ctx, int fd, uint32_t events,
            void (*cb)(void *, int, uint32_t), void *arg)
{
    return gwf_loop_fd_watch(ctx, fd, events, cb, arg);
}

static int
ev_fd_update(void *ctx, uint64_t id, uint32_t events)
{
    return gwf_loop_fd_update(ctx, id, events);
}

static int
ev_fd_cancel(void *ctx, uint64_t id)
{
    return gwf_loop_fd_cancel(ctx, id);
}

static int
ev_post(void *ctx, void (*cb)(void *), void (*release)(void *), void *arg)
{
    return gwf_loop_post(ctx, cb, release, arg);
}

static uint64_t
ev_now(void *ctx)
{
    return gwf_loop_now(ctx);
}

void
gwf_loop_event_ops(gwf_loop *loop, gwf_event_ops *ops)
{
    ops->ctx = loop;
    ops->timer_start = ev_timer_start;
    ops->timer_cancel = ev_timer_cancel;
    ops->fd_watch = ev_fd_watch;
    ops->fd_update = ev_fd_update;
    ops->fd_cancel = ev_fd_cancel;
    ops->post = ev_post;
    ops->now = ev_now;
}
