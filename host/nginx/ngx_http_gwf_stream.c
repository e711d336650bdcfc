/*
 * ngx_http_gwf_stream.c - one request's stream: its state, local replies
 * and wake-ups.
 *
 * A request a chain applies to gets a context (ngx_http_gwf_ctx_t) and a
 * runtime stream, freed with the request's pool. The attributes plugins
 * read come from the connection. A local reply replaces whatever nginx or
 * the upstream had put in the response. When a callback moves a paused
 * stream, the runtime calls wake; the request goes on from a posted
 * event, outside the runtime: nginx's phases, the request body reading or
 * the response filters, whichever was waiting.
 */
#include "ngx_http_gwf_module.h"

/* ------------------------------------------------------------------------
 * Streams
 * --------------------------------------------------------------------- */

static void ngx_http_gwf_wake(void *dp, gwf_rt_state state);

/* The room for attribute texts, made the first time a plugin asks. */
static ngx_http_gwf_attr_texts_t *
attr_texts(ngx_http_request_t *r, ngx_http_gwf_attr_texts_t **slot)
{
    if (!*slot)
        *slot = ngx_palloc(r->pool, sizeof(ngx_http_gwf_attr_texts_t));
    return *slot;
}

/* The attributes of the request itself (all but the response's), the
 * texts made in `*texts`. */
static gwf_status
request_attribute(ngx_http_request_t *r, ngx_http_gwf_attr_texts_t **texts,
                  gwf_attribute attr, gwf_view *value)
{
    ngx_connection_t *c = r->connection;
    ngx_http_gwf_attr_texts_t *t;
    switch (attr) {
    case GWF_ATTR_REMOTE_ADDRESS:
        value->ptr = (const char *)c->addr_text.data;
        value->len = c->addr_text.len;
        return GWF_OK;
    case GWF_ATTR_REMOTE_PORT:
        if (!(t = attr_texts(r, texts)))
            return GWF_ERR_NO_MEMORY;
        value->ptr = (const char *)t->remote_port;
        value->len = (size_t)(ngx_sprintf(t->remote_port, "%ui",
                                          ngx_inet_get_port(c->sockaddr)) -
                              t->remote_port);
        return GWF_OK;
    case GWF_ATTR_LOCAL_ADDRESS: {
        if (!(t = attr_texts(r, texts)))
            return GWF_ERR_NO_MEMORY;
        ngx_str_t s = {sizeof t->local_address, t->local_address};
        if (ngx_connection_local_sockaddr(c, &s, 0) != NGX_OK)
            return GWF_ERR_NOT_FOUND;
        value->ptr = (const char *)s.data;
        value->len = s.len;
        return GWF_OK;
    }
    case GWF_ATTR_LOCAL_PORT:
        if (!(t = attr_texts(r, texts)))
            return GWF_ERR_NO_MEMORY;
        if (ngx_connection_local_sockaddr(c, NULL, 0) != NGX_OK)
            return GWF_ERR_NOT_FOUND;
        value->ptr = (const char *)t->local_port;
        value->len =
            (size_t)(ngx_sprintf(t->local_port, "%ui",
                                 ngx_inet_get_port(c->local_sockaddr)) -
                     t->local_port);
        return GWF_OK;
    case GWF_ATTR_PROTOCOL:
        value->ptr = (const char *)r->http_protocol.data;
        value->len = r->http_protocol.len;
        return GWF_OK;
    case GWF_ATTR_TLS:
#if (NGX_HTTP_SSL)
        value->ptr = c->ssl ? "1" : "0";
#else
        value->ptr = "0";
#endif
        value->len = 1;
        return GWF_OK;
    case GWF_ATTR_START_TIME: {
        /* nginx stamps the request when it reads its first line, to the
         * millisecond. */
        u_char *p = ngx_pnalloc(r->pool, NGX_INT64_LEN + 6);
        if (!p)
            return GWF_ERR_NO_MEMORY;
        value->ptr = (const char *)p;
        value->len = (size_t)(ngx_sprintf(p, "%T%03M000000", r->start_sec,
                                          r->start_msec) -
                              p);
        return GWF_OK;
    }
    default:
        return GWF_ERR_NOT_FOUND;
    }
}

static gwf_status
ngx_http_gwf_attribute(void *dp, gwf_attribute attr, gwf_view *value)
{
    ngx_http_gwf_ctx_t *ctx = dp;
    ngx_http_request_t *r = ctx->r;
    if (attr != GWF_ATTR_RESPONSE_FROM_UPSTREAM)
        return request_attribute(r, &ctx->attr_texts, attr, value);
    /* nginx's own answers (its error pages for an upstream that failed
     * or timed out, error_page) set err_status; an answer with no
     * upstream at all is nginx's too. */
    if (!ctx->resp_started)
        return GWF_ERR_NOT_FOUND;
    value->ptr = r->upstream && !r->err_status && !ctx->resp_native ? "1" : "0";
    value->len = 1;
    return GWF_OK;
}

static const gwf_stream_ops gwf_ngx_stream_ops = {
    .wake = ngx_http_gwf_wake,
    .attribute = ngx_http_gwf_attribute,
};

/* Request states come from the worker's spares, else from malloc, and
 * go back there when the request's pool is destroyed: not from the
 * request's pool, which then keeps the room nginx sized it for (a state
 * there pushed a request with a few headers into a second pool block, a
 * posix_memalign and a free more per request). Under AddressSanitizer
 * every state is a fresh allocation, so that a use after free is still
 * caught. */
#if defined(__SANITIZE_ADDRESS__)
#define CTX_SPARES 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CTX_SPARES 0
#endif
#endif
#ifndef CTX_SPARES
#define CTX_SPARES 64
#endif

static ngx_http_gwf_ctx_t *ctx_spares;
static ngx_uint_t ctx_spare_count;

static ngx_http_gwf_ctx_t *
ctx_alloc(ngx_log_t *log)
{
    ngx_http_gwf_ctx_t *ctx = ctx_spares;
    if (ctx) {
        ctx_spares = ctx->next_spare;
        ctx_spare_count--;
    } else if (!(ctx = ngx_alloc(sizeof *ctx, log))) {
        return NULL;
    }
    ngx_memzero(ctx, sizeof *ctx);
    return ctx;
}

static void
ctx_release(ngx_http_gwf_ctx_t *ctx)
{
#if CTX_SPARES > 0
    if (ctx_spare_count < CTX_SPARES) {
        ctx->next_spare = ctx_spares;
        ctx_spares = ctx;
        ctx_spare_count++;
        return;
    }
#endif
    ngx_free(ctx);
}

void
ngx_http_gwf_ctx_spares_free(void)
{
    while (ctx_spares) {
        ngx_http_gwf_ctx_t *next = ctx_spares->next_spare;
        ngx_free(ctx_spares);
        ctx_spares = next;
    }
    ctx_spare_count = 0;
}

/* The request's pool is going: its stream ends, and its state with it
 * (nothing of the request runs after its pool's cleanups). Without data,
 * the cleanup only marks a request a chain finished before the stream
 * (ngx_http_gwf_answer_early). */
void
ngx_http_gwf_cleanup_stream(void *data)
{
    ngx_http_gwf_ctx_t *ctx = data;
    if (!ctx)
        return;
    if (ctx->resume_ev.posted) {
        ngx_delete_posted_event(&ctx->resume_ev);
    }
    if (ctx->st) {
        gwf_ngx_new_epoch();
        gwf_stream_free(ctx->st); /* completes it first if needed */
        ctx->st = NULL;
    }
    ctx_release(ctx);
}

ngx_http_gwf_ctx_t *
ngx_http_gwf_create_ctx(ngx_http_request_t *r, ngx_http_gwf_loc_conf_t *lcf)
{
    if (!gwf_ngx_worker)
        return NULL;
    ngx_pool_cleanup_t *cln = ngx_pool_cleanup_add(r->pool, 0);
    if (!cln)
        return NULL;
    ngx_http_gwf_ctx_t *ctx = ctx_alloc(r->connection->log);
    if (!ctx)
        return NULL;
    ctx->r = r;
    ctx->http_version = r->http_version;
    for (ngx_uint_t which = GWF_REQUEST; which <= GWF_RESPONSE; which++) {
        ctx->msg[which].r = r;
        ctx->msg[which].is_response = which == GWF_RESPONSE;
    }
    gwf_ngx_new_epoch();
    ctx->st = gwf_stream_new(gwf_ngx_worker, lcf->chain, &gwf_ngx_stream_ops,
                             ctx, &gwf_ngx_message_ops, &ctx->msg[GWF_REQUEST],
                             &ctx->msg[GWF_RESPONSE]);
    if (!ctx->st) {
        ctx_release(ctx); /* the cleanup stays without a handler */
        return NULL;
    }
    cln->handler = ngx_http_gwf_cleanup_stream;
    cln->data = ctx;
    ctx->resume_ev.data = ctx;
    ctx->resume_ev.log = r->connection->log;
    ngx_http_set_ctx(r, ctx, ngx_http_gwf_module);
    return ctx;
}

/* -- Local replies -------------------------------------------------------- */

/* A prepared reply's headers as nginx keeps them, built the first time
 * a worker sends that reply and reused for every later one: each
 * request gets copies of the elements, and the texts are shared (nginx
 * replaces a header's text, it never writes into it). Allocated from the
 * cycle's pool, which also frees the runtime, so it lives as long as the
 * prepared reply it stands for. */
typedef struct {
    ngx_http_gwf_content_type_t content_type; /* .value.data NULL: none */
    size_t content_type_at; /* its index in the reply's headers */
    ngx_uint_t count;
    ngx_table_elt_t *elts;
    size_t *at;         /* each element's index in the reply's headers */
    ngx_int_t location; /* index in elts, or -1 */
    ngx_int_t www_authenticate;
} ngx_http_gwf_reply_form_t;

/* The values of a prepared reply's first `count` headers, replaced for
 * one request (abi.h send_prepared_reply_values); none: {NULL, 0}. */
typedef struct {
    const gwf_view *values;
    size_t count;
} ngx_http_gwf_reply_values_t;

static u_char *
cycle_copy(const gwf_view *v, size_t extra)
{
    u_char *p = ngx_pnalloc(ngx_cycle->pool, v->len + extra + 1);
    if (p)
        ngx_memcpy(p, v->ptr, v->len);
    return p;
}

/* The headers of a stream's reply, or of a chain's constant reply. */
typedef gwf_status (*reply_header_fn)(const void *src, size_t index,
                                      gwf_view *name, gwf_view *value);

static gwf_status
stream_reply_header(const void *src, size_t index, gwf_view *name,
                    gwf_view *value)
{
    return gwf_stream_reply_header(src, index, name, value);
}

static gwf_status
chain_reply_header(const void *src, size_t index, gwf_view *name,
                   gwf_view *value)
{
    return gwf_chain_reply_header(src, index, name, value);
}

static ngx_http_gwf_reply_form_t *
reply_form_build(const void *src, reply_header_fn header)
{
    ngx_http_gwf_reply_form_t *f =
        ngx_pcalloc(ngx_cycle->pool, sizeof(ngx_http_gwf_reply_form_t));
    if (!f)
        return NULL;
    f->location = f->www_authenticate = -1;
    gwf_view name, value;
    ngx_uint_t n = 0;
    while (header(src, n, &name, &value) == GWF_OK)
        n++;
    f->elts = ngx_pcalloc(ngx_cycle->pool, (n ? n : 1) * sizeof(*f->elts));
    f->at = ngx_pcalloc(ngx_cycle->pool, (n ? n : 1) * sizeof(*f->at));
    if (!f->elts || !f->at)
        return NULL;
    for (ngx_uint_t i = 0; i < n; i++) {
        header(src, i, &name, &value);
        if (ngx_http_gwf_name_is(name.ptr, name.len, "content-type")) {
            ngx_str_t ct = {value.len, cycle_copy(&value, 0)};
            if (!ct.data)
                return NULL;
            ngx_http_gwf_content_type_parse(&ct, &f->content_type);
            f->content_type_at = i;
            continue;
        }
        /* Content-Length is the body's, set for every reply. */
        if (ngx_http_gwf_name_is(name.ptr, name.len, "content-length"))
            continue;
        ngx_table_elt_t *h = &f->elts[f->count];
        u_char *key = cycle_copy(&name, name.len);
        u_char *val = cycle_copy(&value, 0);
        if (!key || !val)
            return NULL;
        h->key.data = key;
        h->key.len = name.len;
        h->lowcase_key = key + name.len;
        ngx_strlow(h->lowcase_key, key, name.len);
        h->value.data = val;
        h->value.len = value.len;
        h->hash = ngx_hash_key(h->lowcase_key, name.len);
        f->at[f->count] = i;
        if (ngx_http_gwf_name_is(name.ptr, name.len, "location"))
            f->location = (ngx_int_t)f->count;
        else if (ngx_http_gwf_name_is(name.ptr, name.len, "www-authenticate"))
            f->www_authenticate = (ngx_int_t)f->count;
        f->count++;
    }
    return f;
}

/* A replaced value, copied into the request's pool: the plugin's view
 * dies with its call. */
static ngx_int_t
reply_value_copy(ngx_http_request_t *r, const gwf_view *v, ngx_str_t *out)
{
    u_char *p = ngx_pnalloc(r->pool, v->len ? v->len : 1);
    if (!p)
        return NGX_ERROR;
    if (v->len)
        ngx_memcpy(p, v->ptr, v->len);
    out->data = p;
    out->len = v->len;
    return NGX_OK;
}

/* The headers of a prepared reply, from its form (built on first use),
 * with the values `rv` replaces. */
static ngx_int_t
reply_headers_prepared(ngx_http_request_t *r, const void *src,
                       reply_header_fn header, void **slot,
                       ngx_http_gwf_reply_values_t rv)
{
    ngx_http_gwf_reply_form_t *f = *slot;
    if (!f && !(f = reply_form_build(src, header)))
        return NGX_ERROR; /* what was allocated stays with the cycle */
    *slot = f;
    if (f->content_type.value.data && f->content_type_at < rv.count) {
        ngx_str_t ct;
        ngx_http_gwf_content_type_t parts;
        if (reply_value_copy(r, &rv.values[f->content_type_at], &ct) != NGX_OK)
            return NGX_ERROR;
        ngx_http_gwf_content_type_parse(&ct, &parts);
        ngx_http_gwf_content_type_set(r, &parts);
    } else if (f->content_type.value.data) {
        ngx_http_gwf_content_type_set(r, &f->content_type);
    }
    for (ngx_uint_t i = 0; i < f->count; i++) {
        ngx_table_elt_t *h = ngx_list_push(&r->headers_out.headers);
        if (!h)
            return NGX_ERROR;
        *h = f->elts[i];
        if (f->at[i] < rv.count &&
            reply_value_copy(r, &rv.values[f->at[i]], &h->value) != NGX_OK)
            return NGX_ERROR;
        if ((ngx_int_t)i == f->location)
            r->headers_out.location = h;
        else if ((ngx_int_t)i == f->www_authenticate)
            r->headers_out.www_authenticate = h;
    }
    return NGX_OK;
}

/* Replace whatever nginx or the upstream put in the response with the
 * chain's local reply: status, headers and Content-Length. */
/* One header of a local reply into the response. Its Content-Length is
 * the body's, set for every reply (as a prepared reply's form does): a
 * plugin's own is left out, so a value nginx would refuse cannot fail
 * the reply. */
static gwf_status
reply_header_add(ngx_http_request_t *r, const gwf_header *h)
{
    if (ngx_http_gwf_name_is(h->name.ptr, h->name.len, "content-length"))
        return GWF_OK;
    ngx_http_gwf_msg_t out = {.r = r, .is_response = 1};
    return ngx_http_gwf_resp_add(&out, h->name.ptr, h->name.len, h->value.ptr,
                                 h->value.len);
}

/* The reply replaces whatever headers the response had; a list still
 * empty (a reply from the request phase) is kept as it is. */
static ngx_int_t
reply_reset(ngx_http_request_t *r)
{
    ngx_list_t *list = &r->headers_out.headers;
    if ((list->part.nelts || list->last != &list->part) &&
        ngx_list_init(list, r->pool, 8, sizeof(ngx_table_elt_t)) != NGX_OK)
        return NGX_ERROR;
    r->headers_out.location = NULL;
    r->headers_out.www_authenticate = NULL;
    r->headers_out.content_encoding = NULL;
    r->headers_out.last_modified = NULL;
    r->headers_out.last_modified_time = -1;
    r->headers_out.etag = NULL;
    r->headers_out.content_length = NULL;
    ngx_str_null(&r->headers_out.content_type);
    r->headers_out.content_type_len = 0;
    r->headers_out.content_type_lowcase = NULL;
    ngx_str_null(&r->headers_out.charset);
    ngx_str_null(&r->headers_out.status_line);
    return NGX_OK;
}

ngx_int_t
ngx_http_gwf_reply_headers(ngx_http_request_t *r, gwf_rt_stream *st)
{
    if (reply_reset(r) != NGX_OK)
        return NGX_ERROR;
    /* nginx's proxy takes bytes that are not HTTP for an HTTP/0.9 answer
     * and says so in r->http_version, which then loses the status line
     * and headers: the reply is ours, so it is answered in the client's
     * own version. */
    ngx_http_gwf_ctx_t *ctx = ngx_http_get_module_ctx(r, ngx_http_gwf_module);
    if (ctx && ctx->http_version)
        r->http_version = ctx->http_version;
    r->headers_out.status = gwf_stream_reply_status(st);
    /* The list is new: indexes of the current epoch are stale, and the
     * reply's headers go in through an index of their own. */
    gwf_ngx_new_epoch();
    r->headers_out.content_length_n = (off_t)gwf_stream_reply_body(st).len;
    /* The reply is final: no ranges cut out of it. */
    r->allow_ranges = 0;
    void **slot = gwf_stream_reply_prepared_slot(st);
    if (slot)
        return reply_headers_prepared(r, st, stream_reply_header, slot,
                                      (ngx_http_gwf_reply_values_t){0});
    gwf_header h;
    for (size_t i = 0;
         gwf_stream_reply_header(st, i, &h.name, &h.value) == GWF_OK; i++)
        if (reply_header_add(r, &h) != GWF_OK)
            return NGX_ERROR;
    return NGX_OK;
}

/* One buffer holding `body`, the last of the response: the bytes
 * themselves when `prepared` (a prepared reply's body lives as long as
 * the runtime, which the cycle frees after the worker's last request),
 * else a copy. */
static ngx_chain_t *
reply_body_chain(ngx_http_request_t *r, gwf_view body, int prepared)
{
    ngx_buf_t *b = ngx_calloc_buf(r->pool);
    ngx_chain_t *cl = ngx_alloc_chain_link(r->pool);
    if (!b || !cl)
        return NULL;
    if (body.len && prepared) {
        b->start = b->pos = (u_char *)body.ptr;
        b->last = b->end = b->pos + body.len;
        b->memory = 1;
    } else if (body.len) {
        b->start = ngx_pnalloc(r->pool, body.len);
        if (!b->start)
            return NULL;
        b->pos = b->start;
        b->last = b->end = ngx_cpymem(b->start, body.ptr, body.len);
        b->temporary = 1;
    }
    b->last_buf = (r == r->main);
    b->last_in_chain = 1;
    cl->buf = b;
    cl->next = NULL;
    return cl;
}

/* One buffer holding the stream's reply body, the last of the response. */
ngx_chain_t *
ngx_http_gwf_reply_body(ngx_http_request_t *r, gwf_rt_stream *st)
{
    return reply_body_chain(r, gwf_stream_reply_body(st),
                            gwf_stream_reply_prepared_slot(st) != NULL);
}

ngx_int_t
ngx_http_gwf_send_reply(ngx_http_request_t *r, ngx_http_gwf_ctx_t *ctx)
{
    ctx->replied = 1;
    if (r->header_sent || ngx_http_gwf_reply_headers(r, ctx->st) != NGX_OK)
        return NGX_ERROR;
    if ((r->headers_in.content_length_n > 0 || r->headers_in.chunked) &&
        !ctx->body_reading)
        ngx_http_discard_request_body(r);
    if (r->headers_out.content_length_n == 0 || r->method == NGX_HTTP_HEAD)
        r->header_only = 1;
    ngx_int_t rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only)
        return rc;
    ngx_chain_t *out = ngx_http_gwf_reply_body(r, ctx->st);
    return out ? ngx_http_output_filter(r, out) : NGX_ERROR;
}

/* Send a reply made in the access phase, its status and headers set,
 * with body `cl` (NULL: none), and finalize the request. */
static ngx_int_t
send_made_reply(ngx_http_request_t *r, ngx_chain_t *cl)
{
    if (!cl || r->method == NGX_HTTP_HEAD)
        r->header_only = 1;
    ngx_int_t rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        ngx_http_finalize_request(r, rc);
        return NGX_DONE;
    }
    ngx_http_finalize_request(r, ngx_http_output_filter(r, cl));
    return NGX_DONE;
}

/* A chain whose one plugin answers every request with one prepared reply
 * (gwf_chain_constant_reply): answered here in the access phase, as
 * nginx's `return` answers, without a stream or a call into the plugin;
 * the same status, headers and body a stream would send, counted in the
 * same series. */
ngx_int_t
ngx_http_gwf_send_constant(ngx_http_request_t *r, gwf_chain *chain,
                           const gwf_chain_reply *reply)
{
    gwf_view body = gwf_chain_reply_body(reply);
    gwf_chain_reply_count(gwf_ngx_worker, chain);
    if (ngx_http_discard_request_body(r) != NGX_OK)
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    r->headers_out.status = gwf_chain_reply_status(reply);
    r->headers_out.content_length_n = (off_t)body.len;
    r->allow_ranges = 0; /* the reply is final: no ranges cut out of it */
    if (reply_headers_prepared(r, reply, chain_reply_header,
                               gwf_chain_reply_slot(reply),
                               (ngx_http_gwf_reply_values_t){0}) != NGX_OK)
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    ngx_chain_t *cl = NULL;
    if (body.len && r->method != NGX_HTTP_HEAD &&
        !(cl = reply_body_chain(r, body, 1)))
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    return send_made_reply(r, cl);
}

/* -- Answers before the stream (gwf_chain_early) ------------------------ */

/* What the chain's first plugin reads and answers with, on the stack of
 * ngx_http_gwf_answer_early. */
typedef struct {
    ngx_http_request_t *r;
    ngx_http_gwf_msg_t msg; /* the request */
    ngx_http_gwf_attr_texts_t *attr_texts;
    ngx_chain_t *body; /* the answer's, or NULL */
} ngx_http_gwf_early_t;

static gwf_status
early_attribute(void *dp, gwf_attribute attr, gwf_view *value)
{
    ngx_http_gwf_early_t *e = dp;
    if (attr == GWF_ATTR_RESPONSE_FROM_UPSTREAM)
        return GWF_ERR_NOT_FOUND; /* there is no response yet */
    return request_attribute(e->r, &e->attr_texts, attr, value);
}

/* The answer goes into the response now (the plugin's views die with
 * its call), as ngx_http_gwf_reply_headers and _reply_body would put a
 * stream's. Called again for the host's 500 when the first failed. */
static gwf_status
early_reply(void *dp, const gwf_early_reply *reply)
{
    ngx_http_gwf_early_t *e = dp;
    ngx_http_request_t *r = e->r;
    if (reply_reset(r) != NGX_OK)
        return GWF_ERR_NO_MEMORY;
    r->headers_out.status = reply->status;
    r->headers_out.content_length_n = (off_t)reply->body.len;
    r->allow_ranges = 0; /* the reply is final: no ranges cut out of it */
    gwf_ngx_new_epoch();
    if (reply->prepared) {
        ngx_http_gwf_reply_values_t rv = {reply->values, reply->value_count};
        if (reply_headers_prepared(r, reply->prepared, chain_reply_header,
                                   gwf_chain_reply_slot(reply->prepared),
                                   rv) != NGX_OK)
            return GWF_ERR_NO_MEMORY;
    } else {
        for (size_t i = 0; i < reply->header_count; i++)
            if (reply_header_add(r, &reply->headers[i]) != GWF_OK)
                return GWF_ERR_NO_MEMORY;
    }
    e->body = NULL;
    if (reply->body.len && r->method != NGX_HTTP_HEAD &&
        !(e->body = reply_body_chain(r, reply->body, reply->prepared != NULL)))
        return GWF_ERR_NO_MEMORY;
    return GWF_OK;
}

static const gwf_stream_ops gwf_ngx_early_ops = {
    .attribute = early_attribute,
    .early_reply = early_reply,
};

/* Let the chain's first plugin answer before the request gets a stream
 * (abi.h request_early): NGX_DECLINED when it did not (make the stream),
 * NGX_OK when it finished the request (it goes on, as the plugin changed
 * it, without a stream), NGX_DONE when its answer went out, an error
 * status when none could be made. The answer is sent as a local reply of
 * the request hooks is: the request body discarded, nothing of it
 * upstream. */
ngx_int_t
ngx_http_gwf_answer_early(ngx_http_request_t *r, gwf_chain *chain)
{
    ngx_http_gwf_early_t e = {.r = r, .msg = {.r = r}};
    ngx_pool_cleanup_t *cln;
    gwf_ngx_new_epoch();
    switch (gwf_chain_early(gwf_ngx_worker, chain, &gwf_ngx_early_ops, &e,
                            &gwf_ngx_message_ops, &e.msg)) {
    case GWF_RT_EARLY_NONE:
        return NGX_DECLINED;
    case GWF_RT_EARLY_DONE:
        /* As a stream's request goes on (ngx_http_gwf_request_step): the
         * removed headers leave the list the upstream forwards. A cleanup
         * without data marks the request as through its chain, for a
         * later run of this phase and after an internal redirect. */
        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (!cln || ngx_http_gwf_hdr_compact_request(&e.msg) != NGX_OK)
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        cln->handler = ngx_http_gwf_cleanup_stream;
        return NGX_OK;
    case GWF_RT_EARLY_REPLY:
        break;
    default:
        (void)reply_reset(r);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    /* As for a stream's reply (ngx_http_gwf_send_reply): the answer is
     * sent, counted as sent, also when nginx cannot read past the body
     * (it then closes the connection after it). */
    if (r->headers_in.content_length_n > 0 || r->headers_in.chunked)
        (void)ngx_http_discard_request_body(r);
    return send_made_reply(r, e.body);
}

/* -- Waking up ---------------------------------------------------------------
 */

static void
ngx_http_gwf_resume(ngx_event_t *ev)
{
    ngx_http_gwf_ctx_t *ctx = ev->data;
    ngx_http_request_t *r = ctx->r;
    ngx_connection_t *c = r->connection;
    /* A request body the chain held: nginx reads on, and its next call
     * of the request body filter feeds and passes what waited. */
    if (ctx->req_started && !ctx->req_native && !ctx->req_eos_out) {
        ngx_post_event(c->read, &ngx_posted_events);
    }
    if (ctx->resp_started) {
        ngx_http_gwf_response_flush(r, ctx);
    } else if (ctx->waiting) {
        r->write_event_handler = ngx_http_core_run_phases;
        ngx_http_core_run_phases(r);
    }
    /* Otherwise the request went on already (it is with the upstream): a
     * local reply sent from a callback now replaces the upstream's
     * response when its headers arrive, in the header filter. */
    ngx_http_run_posted_requests(c);
}

/* The runtime moved a paused stream (from a timer, fd or post callback);
 * continue outside of it. */
static void
ngx_http_gwf_wake(void *dp, gwf_rt_state state)
{
    ngx_http_gwf_ctx_t *ctx = dp;
    /* `state` is the paused side's; with a request body still streaming
     * while the response starts, both sides may have moved. */
    (void)state;
    ctx->req_state = gwf_stream_state(ctx->st, GWF_REQUEST);
    if (ctx->resp_started)
        ctx->state = gwf_stream_state(ctx->st, GWF_RESPONSE);
    ctx->resume_ev.handler = ngx_http_gwf_resume;
    if (!ctx->resume_ev.posted) {
        ngx_post_event(&ctx->resume_ev, &ngx_posted_events);
    }
}
