/*
 * ngx_http_gwf_response.c - the response side: a header and a body
 * filter.
 *
 * Response headers go through the chain in the header filter, the body
 * in the body filter, in nginx's place for third-party filters (see
 * host/nginx/config). A response the chain holds is kept from the client
 * with a bit of r->buffered; the body streams through the hooks with
 * bounded memory, and an upstream that breaks mid-body ends the response
 * as nginx alone would.
 */
#include "ngx_http_gwf_module.h"

static ngx_http_output_header_filter_pt ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt ngx_http_next_body_filter;

/* ------------------------------------------------------------------------
 * Response: header and body filters
 * --------------------------------------------------------------------- */

/* The chunks that left the chain, in our reusable buffers; `*total`
 * counts their bytes. */
static ngx_int_t
take_response_chunks(ngx_http_request_t *r, ngx_http_gwf_ctx_t *ctx,
                     ngx_chain_t **out, off_t *total)
{
    ngx_chain_t **last = out;
    gwf_view chunk;
    int eos = 0;
    *total = 0;
    while (gwf_stream_take(ctx->st, GWF_RESPONSE, &chunk, &eos)) {
        if (!chunk.len && !eos)
            continue;
        ngx_chain_t *cl = ngx_http_gwf_chunk_buf(
            r, &ctx->free, chunk, (ngx_buf_tag_t)&ngx_http_gwf_module);
        if (!cl)
            return NGX_ERROR;
        cl->buf->last_buf = eos && r == r->main;
        cl->buf->last_in_chain = eos;
        if (eos)
            ctx->resp_eos_out = 1;
        *total += (off_t)chunk.len;
        *last = cl;
        last = &cl->next;
    }
    *last = NULL;
    return NGX_OK;
}

/* Send on what left the chain. A flush nginx asked for (unbuffered
 * proxying, an upgrade, the upstream's end) goes with it once every
 * buffer before it went through the chain: a plugin that only observes
 * delays nothing. */
static ngx_int_t
send_chunks(ngx_http_request_t *r, ngx_http_gwf_ctx_t *ctx, ngx_chain_t *out)
{
    if (ctx->flush_wanted && !ctx->pending && ctx->state == GWF_RT_CONTINUE) {
        ctx->flush_wanted = 0;
        ngx_chain_t *tail = out;
        while (tail && tail->next)
            tail = tail->next;
        if (!tail) {
            gwf_view none = {NULL, 0};
            out = ngx_http_gwf_chunk_buf(r, &ctx->free, none,
                                         (ngx_buf_tag_t)&ngx_http_gwf_module);
            if (!out)
                return NGX_ERROR;
            tail = out;
        }
        tail->buf->flush = 1;
    }
    if (!out)
        return ngx_http_next_body_filter(r, NULL);
    ngx_int_t rc = ngx_http_next_body_filter(r, out);
    ngx_chain_update_chains(r->pool, &ctx->free, &ctx->busy, &out,
                            (ngx_buf_tag_t)&ngx_http_gwf_module);
    return rc;
}

static ngx_int_t
pass_chunks(ngx_http_request_t *r, ngx_http_gwf_ctx_t *ctx)
{
    ngx_chain_t *out;
    off_t total;
    if (take_response_chunks(r, ctx, &out, &total) != NGX_OK)
        return NGX_ERROR;
    return send_chunks(r, ctx, out);
}

/* Send the chain's local reply in place of the upstream response. */
static ngx_int_t
replace_response(ngx_http_request_t *r, ngx_http_gwf_ctx_t *ctx)
{
    ctx->resp_replaced = 1;
    ctx->replied = 1;
    if (ngx_http_gwf_reply_headers(r, ctx->st) != NGX_OK)
        return NGX_ERROR;
    ngx_int_t rc = ngx_http_next_header_filter(r);
    ctx->resp_passed = 1;
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only)
        return rc;
    ngx_chain_t *out = ngx_http_gwf_reply_body(r, ctx->st);
    if (!out)
        return NGX_ERROR;
    ctx->resp_eos_out = 1;
    return ngx_http_next_body_filter(r, out);
}

/* The response headers passed the chain: send them on, framed for what
 * the chain did to the body (abi.h, "Bodies"): untouched, the response
 * keeps its Content-Length, ranges and ETag; changed while the headers
 * were held, it gets the new exact length; changed as it streams, it
 * has no length (chunked, or until close for HTTP/1.0) and no ranges.
 * A changed body's ETag is weak from then on, as gzip makes it. Ranges
 * are cut above this filter, so a body that reached the chain before
 * its headers left (they were held) is sent whole, without ranges. */
static ngx_int_t
pass_headers(ngx_http_request_t *r, ngx_http_gwf_ctx_t *ctx)
{
    ngx_chain_t *out = NULL;
    off_t total = 0;
    ctx->resp_passed = 1;
    if (!ctx->resp_eos_out) {
        if (take_response_chunks(r, ctx, &out, &total) != NGX_OK)
            return NGX_ERROR;
        switch (gwf_stream_framing(ctx->st, GWF_RESPONSE)) {
        case GWF_RT_FRAMING_KEEP:
            break;
        case GWF_RT_FRAMING_EXACT:
            ngx_http_clear_content_length(r);
            r->headers_out.content_length_n = total;
            ngx_http_weak_etag(r);
            r->allow_ranges = 0;
            break;
        case GWF_RT_FRAMING_STREAMED:
            ngx_http_clear_content_length(r);
            ngx_http_clear_accept_ranges(r);
            ngx_http_weak_etag(r);
            break;
        }
        if (ctx->resp_body_early)
            r->allow_ranges = 0;
    }
    ngx_int_t rc = ngx_http_next_header_filter(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        for (ngx_chain_t *cl = out; cl; cl = cl->next)
            cl->buf->pos = cl->buf->last;
        return rc;
    }
    return out ? send_chunks(r, ctx, out) : rc;
}

/* Where the response stands after the chain moved: send what it let
 * through, or the reply, or keep nginx from finishing the request while
 * the chain still holds something. */
static ngx_int_t
ngx_http_gwf_response_advance(ngx_http_request_t *r, ngx_http_gwf_ctx_t *ctx)
{
    ngx_int_t rc = NGX_OK;
    switch (ctx->state) {
    case GWF_RT_REPLY:
        /* Too late for a new status line once headers went out. */
        rc = ctx->resp_passed ? NGX_ERROR : replace_response(r, ctx);
        r->buffered &= ~NGX_HTTP_GWF_BUFFERED;
        return rc;
    case GWF_RT_CONTINUE:
        if (ctx->resp_held) {
            ctx->resp_held = 0;
            rc = pass_headers(r, ctx);
            if (rc == NGX_ERROR || rc > NGX_OK)
                return rc;
        }
        rc = pass_chunks(r, ctx);
        break;
    default:
        break;
    }
    if (ctx->state == GWF_RT_WAIT || ctx->state == GWF_RT_NEED_BODY ||
        (ctx->resp_eos_in && !ctx->resp_eos_out))
        r->buffered |= NGX_HTTP_GWF_BUFFERED;
    else
        r->buffered &= ~NGX_HTTP_GWF_BUFFERED;
    return rc;
}

static ngx_int_t
ngx_http_gwf_header_filter(ngx_http_request_t *r)
{
    ngx_http_gwf_ctx_t *ctx = ngx_http_get_module_ctx(r, ngx_http_gwf_module);
    if (!ctx || !ctx->st || ctx->replied || ctx->resp_started || r != r->main)
        return ngx_http_next_header_filter(r);
    ctx->resp_started = 1;
    if (r->upstream && r->upstream->peer.connection)
        ctx->upstream_read = r->upstream->peer.connection->read;
    /* No body follows: nginx sets header_only for HEAD, 204 and 304
     * only below this filter; a 101's bytes are not a body. */
    ngx_uint_t status = r->headers_out.status;
    ngx_uint_t eos = r->header_only || r->method == NGX_HTTP_HEAD ||
                     r->headers_out.content_length_n == 0 ||
                     status == NGX_HTTP_SWITCHING_PROTOCOLS ||
                     status == NGX_HTTP_NO_CONTENT ||
                     status == NGX_HTTP_NOT_MODIFIED;
    if (eos)
        ctx->resp_eos_in = ctx->resp_eos_out = 1;
    gwf_ngx_new_epoch();
    ctx->state = gwf_stream_headers(ctx->st, GWF_RESPONSE, (int)eos);
    if (ctx->state == GWF_RT_CONTINUE)
        return pass_headers(r, ctx);
    if (ctx->state == GWF_RT_REPLY)
        return replace_response(r, ctx);
    /* WAIT or NEED_BODY: hold the headers until the chain decides. */
    ctx->resp_held = 1;
    r->buffered |= NGX_HTTP_GWF_BUFFERED;
    return NGX_OK;
}

/* Feed the first pending upstream buffer to the chain (a file buffer one
 * slice at a time); the runtime copies what it is given, so the buffer is
 * marked consumed and the upstream can reuse it. */
static ngx_int_t
feed_one(ngx_http_request_t *r, ngx_http_gwf_ctx_t *ctx)
{
    ngx_chain_t *cl = ctx->pending;
    ngx_buf_t *b = cl->buf;
    const char *data = "";
    size_t len = 0;
    if (ngx_buf_in_memory(b)) {
        data = (const char *)b->pos;
        len = (size_t)(b->last - b->pos);
        b->pos = b->last;
        if (b->in_file)
            b->file_pos = b->file_last;
    } else if (b->in_file) {
        len = (size_t)ngx_min(b->file_last - b->file_pos, GWF_RESP_SLICE);
        if (!ctx->slice && !(ctx->slice = ngx_palloc(r->pool, GWF_RESP_SLICE)))
            return NGX_ERROR;
        if (len && ngx_read_file(b->file, ctx->slice, len, b->file_pos) !=
                       (ssize_t)len)
            return NGX_ERROR;
        data = (const char *)ctx->slice;
        b->file_pos += (off_t)len;
    }
    ngx_uint_t done = ngx_buf_size(b) == 0;
    if (done)
        ctx->pending = cl->next;
    ngx_uint_t last = b->last_buf && done;
    if (ctx->resp_eos_in || (!len && !last))
        return NGX_OK;
    if (last)
        ctx->resp_eos_in = 1;
    gwf_ngx_new_epoch();
    ctx->state = gwf_stream_data(ctx->st, GWF_RESPONSE, data, len, (int)last);
    return NGX_OK;
}

/* Drop what the upstream still sends once a reply replaced it. */
static void
drop_pending(ngx_http_gwf_ctx_t *ctx)
{
    for (ngx_chain_t *cl = ctx->pending; cl; cl = cl->next) {
        cl->buf->pos = cl->buf->last;
        if (cl->buf->in_file)
            cl->buf->file_pos = cl->buf->file_last;
    }
    ctx->pending = NULL;
}

/* -- An upstream that breaks mid-body ---------------------------------- */

static ngx_uint_t
pending_has_last(ngx_http_gwf_ctx_t *ctx)
{
    for (ngx_chain_t *cl = ctx->pending; cl; cl = cl->next)
        if (cl->buf->last_buf)
            return 1;
    return 0;
}

/* An upstream whose body ends short (it closes early, sends less than its
 * Content-Length or an unterminated chunked body, or times out) after its
 * headers went through us is finalized by nginx with an error: it marks
 * the upstream finalized (u->cleanup NULL), closes the connection, sends
 * a flush - never a last buffer - and lets the request end once no filter
 * holds anything. Called on each body filter call: keeps the upstream's
 * read event while the connection lives (the header filter keeps it
 * first), and sees the short end at the first call after it. That call
 * is the flush, from inside ngx_http_upstream_finalize_request right
 * after the close: the event lives in the cycle's connection array and
 * nothing reuses it before the call returns, so its timedout flag is
 * still the upstream's (nginx keeps no other trace of the timeout; were
 * the flag ever stale, only 502 and 504 would be confused). */
static void
note_upstream_end(ngx_http_request_t *r, ngx_http_gwf_ctx_t *ctx)
{
    ngx_http_upstream_t *u = r->upstream;
    if (!u || ctx->resp_broken || ctx->resp_eos_in)
        return;
    if (u->peer.connection) {
        ctx->upstream_read = u->peer.connection->read;
        return;
    }
    if (u->cleanup || pending_has_last(ctx))
        return;
    ctx->resp_broken = 1;
    ctx->resp_timed_out = ctx->upstream_read && ctx->upstream_read->timedout;
    ctx->upstream_read = NULL;
}

/* The upstream broke and the chain has had all of it. A response whose
 * headers the chain still holds (a buffering body hook never got its last
 * buffer) has not started: the client gets nginx's own error answer at
 * once, 502, or 504 for a timeout (error_page applies), as if the
 * upstream had broken before its headers; it goes straight through, as a
 * response from nginx, not from the upstream. A response already under
 * way ends as nginx alone ends it: what passed so far, then the
 * connection closes (nginx dropped keepalive), with no last chunk. */
static ngx_int_t
end_broken_response(ngx_http_request_t *r, ngx_http_gwf_ctx_t *ctx)
{
    r->buffered &= ~NGX_HTTP_GWF_BUFFERED;
    ctx->resp_native = 1; /* nothing more for the chain */
    if (ctx->resp_passed) {
        /* nginx's flush, which the chain does not pass, is what sends
         * the bytes so far before the connection closes. */
        ngx_buf_t *b = ngx_calloc_buf(r->pool);
        ngx_chain_t *cl = ngx_alloc_chain_link(r->pool);
        if (!b || !cl)
            return NGX_ERROR;
        b->flush = 1;
        cl->buf = b;
        cl->next = NULL;
        return ngx_http_next_body_filter(r, cl);
    }
    r->http_version = ctx->http_version;
    ngx_int_t status =
        ctx->resp_timed_out ? NGX_HTTP_GATEWAY_TIME_OUT : NGX_HTTP_BAD_GATEWAY;
    return ngx_http_filter_finalize_request(r, &ngx_http_gwf_module, status);
}

/* Move the response along: feed pending upstream data while the chain
 * takes it (not while a plugin holds the stream) and the client keeps
 * up, and send on what the chain lets through. */
static ngx_int_t
ngx_http_gwf_response_pump(ngx_http_request_t *r, ngx_http_gwf_ctx_t *ctx)
{
    ngx_int_t rc = ngx_http_gwf_response_advance(r, ctx);
    while (rc != NGX_ERROR && !ctx->resp_replaced && ctx->pending &&
           ctx->state != GWF_RT_WAIT && ctx->state != GWF_RT_REPLY &&
           ngx_http_gwf_chain_size(ctx->busy) < GWF_RESP_BUSY_MAX) {
        if (feed_one(r, ctx) != NGX_OK)
            return NGX_ERROR;
        rc = ngx_http_gwf_response_advance(r, ctx);
    }
    if (ctx->resp_replaced)
        drop_pending(ctx);
    if (rc == NGX_ERROR)
        return rc;
    if (ctx->resp_broken && !ctx->pending && !ctx->resp_replaced)
        return end_broken_response(r, ctx);
    if (ctx->pending) {
        r->buffered |= NGX_HTTP_GWF_BUFFERED;
        return NGX_AGAIN;
    }
    return rc;
}

static ngx_int_t
ngx_http_gwf_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_http_gwf_ctx_t *ctx = ngx_http_get_module_ctx(r, ngx_http_gwf_module);
    if (!ctx || !ctx->st || !ctx->resp_started || ctx->resp_native ||
        r != r->main)
        return ngx_http_next_body_filter(r, in);
    if (ctx->resp_replaced) {
        /* The upstream's body is dropped for the reply already sent. */
        for (ngx_chain_t *cl = in; cl; cl = cl->next) {
            cl->buf->pos = cl->buf->last;
            if (cl->buf->in_file)
                cl->buf->file_pos = cl->buf->file_last;
        }
        return ngx_http_next_body_filter(r, NULL);
    }
    ngx_http_gwf_loc_conf_t *lcf =
        ngx_http_get_module_loc_conf(r, ngx_http_gwf_module);
    /* Nothing for the chain to see: no body hooks, or a response that
     * ended with its headers (its empty last buffer must still go on). */
    if ((!lcf->want_body[GWF_RESPONSE] || ctx->resp_eos_out) &&
        ctx->state == GWF_RT_CONTINUE && !ctx->resp_held)
        return ngx_http_next_body_filter(r, in);
    for (ngx_chain_t *cl = in; cl; cl = cl->next)
        if (cl->buf->flush ||
            (!ngx_buf_size(cl->buf) && !cl->buf->last_buf && !cl->buf->sync))
            ctx->flush_wanted = 1;
    if (in && !ctx->resp_passed)
        ctx->resp_body_early = 1;
    if (in && ngx_chain_add_copy(r->pool, &ctx->pending, in) != NGX_OK)
        return NGX_ERROR;
    note_upstream_end(r, ctx);
    return ngx_http_gwf_response_pump(r, ctx);
}

/* A paused response moved: send what the chain decided, then let nginx's
 * writer finish the request if it was waiting on us. */
void
ngx_http_gwf_response_flush(ngx_http_request_t *r, ngx_http_gwf_ctx_t *ctx)
{
    if (ngx_http_gwf_response_pump(r, ctx) == NGX_ERROR) {
        ngx_http_finalize_request(r, NGX_ERROR);
        return;
    }
    ngx_post_event(r->connection->write, &ngx_posted_events);
}

/* Put the header and body filters on top of nginx's (postconfiguration). */
void
ngx_http_gwf_response_init(void)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_gwf_header_filter;
    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_gwf_body_filter;
}
