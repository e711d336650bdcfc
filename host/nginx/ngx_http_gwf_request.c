/*
 * ngx_http_gwf_request.c - the request side: the access phase and the
 * request body filter.
 *
 * The request hooks run in nginx's access phase; a paused request waits
 * there (NGX_AGAIN) without blocking the worker. The request body flows
 * through the chain as nginx reads it, in a request body filter; see
 * "Request bodies" below for how nginx's own reading and saving stay in
 * charge.
 */
#include "ngx_http_gwf_module.h"

/* -- Request bodies ----------------------------------------------------------
 *
 * A request body flows through the chain as nginx reads it, in a request
 * body filter: nginx's own reading (client_max_body_size, HTTP/2 flow
 * control, chunked decoding) comes before it and nginx's own saving
 * (client_body_buffer_size, temp files, proxy_request_buffering off,
 * DAV's file) after it. Who reads is nginx's business too: the content
 * handler (proxy, grpc, DAV) when the chain let the headers go, or the
 * access phase, for a chain that holds the headers until it has the
 * whole body (GWF_BUFFER).
 *
 * What the chain lets through goes on in buffers of ours, reused once
 * nginx wrote or sent them. No more input is taken while a plugin holds
 * the stream or while GWF_REQ_BUSY_MAX of ours waits to be written or
 * sent: the input stays nginx's, which then stops reading from the
 * client (rb->filter_need_buffering), and a wake reads on. */

static ngx_http_request_body_filter_pt ngx_http_next_request_body_filter;
static ngx_int_t ngx_http_gwf_request_body_filter(ngx_http_request_t *r,
                                                  ngx_chain_t *in);

#define GWF_REQ_BUSY_MAX (1024 * 1024)

static ngx_uint_t
request_has_body(ngx_http_request_t *r)
{
    return r->headers_in.content_length_n > 0 || r->headers_in.chunked;
}

/* Set the request's length to what left the chain, for a body a plugin
 * changed: the upstream request is made after this (nginx buffered the
 * body: see request_body_start). */
static ngx_int_t
set_request_length(ngx_http_request_t *r, ngx_http_gwf_ctx_t *ctx, off_t total)
{
    u_char text[NGX_OFF_T_LEN];
    size_t n = (size_t)(ngx_sprintf(text, "%O", total) - text);
    ngx_http_gwf_msg_t *m = &ctx->msg[GWF_REQUEST];
    if (r->request_body)
        r->request_body->received = total;
    r->headers_in.chunked = 0;
    r->headers_in.transfer_encoding = NULL;
    /* The proxy modules forward removed (marked) headers: compact. */
    if (ngx_http_gwf_req_remove(m, "transfer-encoding", 17) != GWF_OK ||
        ngx_http_gwf_req_set(m, "content-length", 14, (char *)text, n) !=
            GWF_OK ||
        ngx_http_gwf_hdr_compact_request(m) != NGX_OK)
        return NGX_ERROR;
    r->headers_in.content_length_n = total;
    return NGX_OK;
}

/* One of our buffers (from `free`, reused when large enough, of at least
 * GWF_RESP_OUT_MIN bytes) holding a copy of `chunk`. */
ngx_chain_t *
ngx_http_gwf_chunk_buf(ngx_http_request_t *r, ngx_chain_t **free,
                       gwf_view chunk, ngx_buf_tag_t tag)
{
    ngx_chain_t *cl = ngx_chain_get_free_buf(r->pool, free);
    if (!cl)
        return NULL;
    ngx_buf_t *b = cl->buf;
    size_t cap = b->start ? (size_t)(b->end - b->start) : 0;
    if (cap < chunk.len) {
        size_t size = ngx_max(chunk.len, GWF_RESP_OUT_MIN);
        b->start = ngx_palloc(r->pool, size);
        if (!b->start)
            return NULL;
        b->end = b->start + size;
    }
    b->pos = b->start;
    b->last = chunk.len ? ngx_cpymem(b->start, chunk.ptr, chunk.len) : b->start;
    b->temporary = chunk.len > 0;
    b->flush = 0;
    b->last_buf = 0;
    b->last_in_chain = 0;
    b->tag = tag;
    return cl;
}

/* What left the chain, in our buffers; the last one carries last_buf. */
static ngx_int_t
take_request_chunks(ngx_http_request_t *r, ngx_http_gwf_ctx_t *ctx,
                    ngx_chain_t **out)
{
    ngx_chain_t **last = out;
    gwf_view chunk;
    int eos = 0;
    while (gwf_stream_take(ctx->st, GWF_REQUEST, &chunk, &eos)) {
        if (!chunk.len && !eos)
            continue;
        ngx_chain_t *cl = ngx_http_gwf_chunk_buf(
            r, &ctx->req_free, chunk,
            (ngx_buf_tag_t)&ngx_http_gwf_request_body_filter);
        if (!cl)
            return NGX_ERROR;
        cl->buf->last_buf = eos;
        cl->buf->flush = r->request_body_no_buffering;
        ctx->req_out += (off_t)chunk.len;
        if (eos)
            ctx->req_eos_out = 1;
        *last = cl;
        last = &cl->next;
    }
    *last = NULL;
    return NGX_OK;
}

/* A plugin replied while the body streamed: stop reading with an error
 * status; nginx finalizes the request and the header filter sends the
 * chain's reply in place of nginx's error page. */
static ngx_int_t
request_body_replied(ngx_http_request_t *r, ngx_http_gwf_ctx_t *ctx)
{
    for (ngx_chain_t *cl = ctx->req_pending; cl; cl = cl->next)
        cl->buf->pos = cl->buf->last;
    ctx->req_pending = NULL;
    ctx->req_native = 1;
    r->request_body_no_buffering = 0;
    uint32_t status = gwf_stream_reply_status(ctx->st);
    return status >= NGX_HTTP_BAD_REQUEST && status <= 599
               ? (ngx_int_t)status
               : NGX_HTTP_INTERNAL_SERVER_ERROR;
}

/* Bytes in a chain's buffers: how much of ours waits downstream. */
size_t
ngx_http_gwf_chain_size(ngx_chain_t *cl)
{
    size_t n = 0;
    for (; cl; cl = cl->next)
        n += (size_t)ngx_buf_size(cl->buf);
    return n;
}

/* Feed what nginx read while the chain takes it, and pass on what the
 * chain let through. */
static ngx_int_t
request_body_pump(ngx_http_request_t *r, ngx_http_gwf_ctx_t *ctx)
{
    /* Only the next filter frees our buffers: measured once per call. */
    ngx_uint_t room = ngx_http_gwf_chain_size(ctx->req_busy) < GWF_REQ_BUSY_MAX;
    while (
        ctx->req_pending &&
        (ctx->req_take_all || (room && (ctx->req_state == GWF_RT_CONTINUE ||
                                        ctx->req_state == GWF_RT_NEED_BODY)))) {
        ngx_chain_t *cl = ctx->req_pending;
        ngx_buf_t *b = cl->buf;
        ctx->req_pending = cl->next;
        if (!ngx_buf_in_memory(b) && ngx_buf_size(b)) {
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          "gwf: a request body buffer not in memory");
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        const char *data = (const char *)b->pos;
        size_t len = ngx_buf_in_memory(b) ? (size_t)(b->last - b->pos) : 0;
        b->pos = b->last;
        ngx_uint_t last = b->last_buf;
        if (ctx->req_fed_eos || (!len && !last))
            continue;
        ctx->req_fed_eos = last;
        ctx->req_in += (off_t)len;
        if (ctx->req_take_all && ctx->req_state == GWF_RT_WAIT &&
            ctx->req_in - ctx->req_out > (off_t)gwf_ngx_main->max_body) {
            /* The bytes a waiting plugin holds are bounded as a buffered
             * body is: nginx cannot be told to stop reading here. */
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "gwf: an HTTP/2 request body held by a waiting "
                          "plugin is over gwf_max_body");
            gwf_ngx_new_epoch();
            ctx->req_state =
                gwf_stream_abort(ctx->st, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                 "request body too large for a gateway filter",
                                 "gwf_body_too_large");
            return request_body_replied(r, ctx);
        }
        gwf_ngx_new_epoch();
        ctx->req_state = gwf_stream_data(ctx->st, GWF_REQUEST, len ? data : "",
                                         len, (int)last);
    }
    if (ctx->req_state == GWF_RT_REPLY)
        return request_body_replied(r, ctx);
    ngx_chain_t *out = NULL;
    if (take_request_chunks(r, ctx, &out) != NGX_OK)
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    if (ctx->req_eos_out &&
        gwf_stream_framing(ctx->st, GWF_REQUEST) != GWF_RT_FRAMING_KEEP &&
        set_request_length(r, ctx, ctx->req_out) != NGX_OK)
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    ngx_int_t rc = ngx_http_next_request_body_filter(r, out);
    ngx_chain_update_chains(r->pool, &ctx->req_free, &ctx->req_busy, &out,
                            (ngx_buf_tag_t)&ngx_http_gwf_request_body_filter);
    return rc;
}

static ngx_int_t
ngx_http_gwf_request_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_http_gwf_ctx_t *ctx = ngx_http_get_module_ctx(r, ngx_http_gwf_module);
    if (!ctx || !ctx->st || !ctx->req_filter || ctx->req_native || r != r->main)
        return ngx_http_next_request_body_filter(r, in);
    if (!ctx->req_started) {
        /* The first call, before nginx reads: input the chain cannot take
         * yet stays nginx's, and a body that changes as it streams has
         * no length to send ahead, so nginx buffers it (the upstream
         * request is made once it is whole, with its new length). */
        ctx->req_started = 1;
        if (gwf_stream_framing(ctx->st, GWF_REQUEST) == GWF_RT_FRAMING_STREAMED)
            r->request_body_no_buffering = 0;
            /* HTTP/2 with nginx buffering the body: nginx gives the client
             * its whole window and sizes its buffer (so its temp files) by
             * client_body_buffer_size, as long as no filter asks to hold
             * input. Ask only where it changes nothing else; there the chain
             * takes every byte at once, holding it while a plugin waits. */
#if (NGX_HTTP_V2)
        ctx->req_take_all = r->stream && !r->request_body_no_buffering;
#endif
        if (!ctx->req_take_all)
            r->request_body->filter_need_buffering = 1;
    }
    if (in && ngx_chain_add_copy(r->pool, &ctx->req_pending, in) != NGX_OK)
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    return request_body_pump(r, ctx);
}

/* -- The access phase ------------------------------------------------------ */

static void ngx_http_gwf_body_read(ngx_http_request_t *r);

/* A plugin gave a body to a request that had none (a GET turned into a
 * signed POST): the upstream sends this one. */
static ngx_int_t
give_request_body(ngx_http_request_t *r, ngx_http_gwf_ctx_t *ctx)
{
    ngx_chain_t *out = NULL;
    if (take_request_chunks(r, ctx, &out) != NGX_OK)
        return NGX_ERROR;
    if (!out)
        return NGX_OK;
    ngx_chain_t *tail = out;
    while (tail->next)
        tail = tail->next;
    tail->buf->last_buf = 1;
    r->request_body = ngx_pcalloc(r->pool, sizeof(ngx_http_request_body_t));
    if (!r->request_body)
        return NGX_ERROR;
    r->request_body->bufs = out;
    r->request_body->rest = 0;
    r->request_body->last_saved = 1;
    return set_request_length(r, ctx, ctx->req_out);
}

/* Read the body now, in the access phase, for a chain that holds the
 * headers until it has it whole. The request body filter feeds it. */
static ngx_int_t
read_body_for_chain(ngx_http_request_t *r, ngx_http_gwf_ctx_t *ctx)
{
    ctx->body_reading = 1;
    ctx->req_filter = 1;
    ngx_int_t rc = ngx_http_read_client_request_body(r, ngx_http_gwf_body_read);
    if (rc >= NGX_HTTP_SPECIAL_RESPONSE || rc == NGX_ERROR)
        return rc;
    /* The read took a reference on the request, which a content handler
     * would give back by returning NGX_DONE. The access phase does not,
     * so give it back now: if the read fails later, nginx's own
     * finalization frees the request. */
    r->main->count--;
    if (!ctx->body_read) {
        ctx->body_waiting = 1;
        return NGX_DONE;
    }
    return NGX_OK;
}

/* Act on the runtime's answer for the request side. */
static ngx_int_t
ngx_http_gwf_request_step(ngx_http_request_t *r, ngx_http_gwf_ctx_t *ctx,
                          ngx_http_gwf_loc_conf_t *lcf)
{
    for (;;) {
        switch (ctx->req_state) {
        case GWF_RT_WAIT:
            if (ctx->body_reading && !ctx->body_read) {
                ctx->body_waiting = 1;
                return NGX_DONE; /* the body read goes on meanwhile */
            }
            ctx->waiting = 1;
            r->read_event_handler = ngx_http_test_reading;
            r->write_event_handler = ngx_http_request_empty_handler;
            return NGX_AGAIN;
        case GWF_RT_REPLY: {
            ngx_int_t rc = ngx_http_gwf_send_reply(r, ctx);
            ngx_http_finalize_request(r, rc);
            return NGX_DONE;
        }
        case GWF_RT_NEED_BODY:
            if (ctx->body_reading) {
                if (!ctx->body_read) {
                    ctx->body_waiting = 1;
                    return NGX_DONE;
                }
                /* All of it was fed and a plugin still holds the
                 * headers: it answers from a callback. */
                ctx->req_state = GWF_RT_WAIT;
                continue;
            }
            {
                ngx_int_t rc = read_body_for_chain(r, ctx);
                if (rc != NGX_OK)
                    return rc;
            }
            continue; /* read at once: the state moved */
        case GWF_RT_CONTINUE:
            break;
        }
        if (ctx->body_reading && !ctx->body_read) {
            /* The headers left before nginx finished the read (the last
             * buffer is on its way): go on once it has. */
            ctx->body_waiting = 1;
            return NGX_DONE;
        }
        if (!request_has_body(r) && !ctx->body_reading &&
            give_request_body(r, ctx) != NGX_OK)
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        if (ngx_http_gwf_hdr_compact_request(&ctx->msg[GWF_REQUEST]) != NGX_OK)
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        /* The body still to come goes through the chain as nginx reads it
         * for the content handler. */
        ctx->req_filter = lcf->want_body[GWF_REQUEST] && request_has_body(r);
        ctx->request_done = 1;
        return NGX_DECLINED;
    }
}

/* The body read for the chain in the access phase is complete. */
static void
ngx_http_gwf_body_read(ngx_http_request_t *r)
{
    ngx_http_gwf_ctx_t *ctx = ngx_http_get_module_ctx(r, ngx_http_gwf_module);
    r->read_event_handler = ngx_http_request_empty_handler;
    if (!ctx || !ctx->st)
        return;
    ctx->body_read = 1;
    if (ctx->body_waiting) {
        ctx->body_waiting = 0;
        r->write_event_handler = ngx_http_core_run_phases;
        ngx_http_core_run_phases(r);
    }
}

static ngx_int_t
ngx_http_gwf_access_handler(ngx_http_request_t *r)
{
    ngx_http_gwf_loc_conf_t *lcf =
        ngx_http_get_module_loc_conf(r, ngx_http_gwf_module);
    if (!lcf->chain || r != r->main)
        return NGX_DECLINED;
    ngx_http_gwf_ctx_t *ctx = ngx_http_get_module_ctx(r, ngx_http_gwf_module);
    if (ctx) {
        if (ctx->request_done || ctx->replied || ctx->resp_started ||
            ctx->req_native)
            return NGX_DECLINED;
        if (ctx->waiting && ctx->req_state == GWF_RT_WAIT)
            return NGX_AGAIN; /* a spurious run while still paused */
        ctx->waiting = 0;
        return ngx_http_gwf_request_step(r, ctx, lcf);
    }
    /* An internal redirect (try_files, error_page) clears module
     * contexts; the stream lives on in the pool cleanup, and the request
     * already went through a chain: it does not go through another. */
    for (ngx_pool_cleanup_t *cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_gwf_cleanup_stream) {
            ctx = cln->data; /* NULL: finished before the stream */
            ngx_http_set_ctx(r, ctx, ngx_http_gwf_module);
            return NGX_DECLINED;
        }
    }
    const gwf_chain_reply *constant = gwf_chain_constant_reply(lcf->chain);
    if (constant && gwf_ngx_worker)
        return ngx_http_gwf_send_constant(r, lcf->chain, constant);
    if (lcf->early && gwf_ngx_worker) {
        ngx_int_t rc = ngx_http_gwf_answer_early(r, lcf->chain);
        if (rc == NGX_OK)
            return NGX_DECLINED; /* finished: the request goes on */
        if (rc != NGX_DECLINED)
            return rc;
    }
    ctx = ngx_http_gwf_create_ctx(r, lcf);
    if (!ctx)
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    gwf_ngx_new_epoch();
    ctx->req_state =
        gwf_stream_headers(ctx->st, GWF_REQUEST, !request_has_body(r));
    return ngx_http_gwf_request_step(r, ctx, lcf);
}

/* Run the request hooks in the access phase and request bodies through
 * the request body filter (postconfiguration). */
ngx_int_t
ngx_http_gwf_request_init(ngx_conf_t *cf)
{
    ngx_http_core_main_conf_t *cmcf =
        ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
    ngx_http_handler_pt *h =
        ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (!h)
        return NGX_ERROR;
    *h = ngx_http_gwf_access_handler;
    ngx_http_next_request_body_filter = ngx_http_top_request_body_filter;
    ngx_http_top_request_body_filter = ngx_http_gwf_request_body_filter;
    return NGX_OK;
}
