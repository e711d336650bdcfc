/*
 * http_exchange.c - one HTTP/1.1 request and its answer on a pooled
 * connection (see gwf/sdk_http.h for the contract).
 *
 * The request is one buffer, built by exchange_new / _header / _start,
 * and written with one send() when the socket takes it all (it does, for
 * the small requests this is for). The answer is read into one buffer and
 * handed to the parser (http_parse.c) after each read.
 *
 * An exchange ends in exactly one place, finish(): its timer is
 * cancelled, its connection released (kept only after a whole answer
 * with nothing after it) or closed, the callback runs, and the exchange
 * is freed after it. The cancel path (gwf_http_exchange_cancel) is the
 * other end: the same teardown without the callback. Errors found where
 * no callback may run (inside gwf_http_exchange_start, or while handing
 * a freed connection to a waiting exchange) are delivered from a timer of
 * zero delay instead, so the callback never runs inside a call of the
 * plugin.
 *
 * Stale keep-alive: a connection taken from the pool may have been closed
 * by the peer a moment ago. When such a connection fails before any byte
 * of the answer came, the request is sent again on a new connection,
 * once.
 */
#include "http_pool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* The answer buffer starts this large and doubles up to what the limits
 * allow. */
#define FIRST_READ_BYTES 4096
/* Beyond the head and body limits: one unfinished chunk line. */
#define READ_SLACK 8192

struct gwf_http_exchange {
    gwf_http_pool *pool;
    gwf_http_exchange *wait_prev, *wait_next;
    int waiting;
    int started;
    int reused;  /* on a connection taken from the pool */
    int retried; /* the stale-connection retry was spent */
    int head_request;
    int got_bytes;           /* a byte of the answer came */
    gwf_http_result pending; /* to deliver from the timer (finish_soon) */
    int has_pending;
    http_conn *conn;
    gwf_strbuf request;
    size_t written;
    char *buf;
    size_t len, cap;
    gwf_http_parser parser;
    uint64_t timer_id;
    int timer_armed;
    gwf_http_done_cb done;
    void *arg;
};

/* ---- building the request ------------------------------------------------ */

gwf_http_exchange *
gwf_http_exchange_new(gwf_http_pool *pool, const char *method,
                      size_t method_len, const char *target, size_t target_len)
{
    gwf_http_exchange *x;

    if (!pool || !method || !method_len || !target || !target_len)
        return NULL;
    if (!gwf_is_header_name(method, method_len)) /* a token, as a name */
        return NULL;
    for (size_t i = 0; i < target_len; i++) {
        unsigned char c = (unsigned char)target[i];
        if (c <= 0x20 || c == 0x7f)
            return NULL;
    }
    x = calloc(1, sizeof(*x));
    if (!x)
        return NULL;
    x->pool = pool;
    x->head_request = method_len == 4 && memcmp(method, "HEAD", 4) == 0;
    gwf_strbuf_append(&x->request, method, method_len);
    gwf_strbuf_append(&x->request, " ", 1);
    gwf_strbuf_append(&x->request, target, target_len);
    gwf_strbuf_append(&x->request, " HTTP/1.1\r\n", 11);
    if (x->request.failed) {
        gwf_strbuf_free(&x->request);
        free(x);
        return NULL;
    }
    return x;
}

gwf_status
gwf_http_exchange_header(gwf_http_exchange *x, const char *name,
                         size_t name_len, const char *value, size_t value_len)
{
    if (!x || !name)
        return GWF_ERR_BAD_ARGUMENT;
    if (x->started)
        return GWF_ERR_WRONG_PHASE;
    if (name_len == 0 || (value_len && !value))
        return GWF_ERR_BAD_ARGUMENT;
    if (!gwf_is_header_name(name, name_len))
        return GWF_ERR_BAD_ARGUMENT;
    for (size_t i = 0; i < value_len; i++)
        if (value[i] == '\r' || value[i] == '\n' || value[i] == '\0')
            return GWF_ERR_BAD_ARGUMENT;
    if ((name_len == 14 && strncasecmp(name, "content-length", 14) == 0) ||
        (name_len == 17 && strncasecmp(name, "transfer-encoding", 17) == 0))
        return GWF_ERR_BAD_ARGUMENT;
    gwf_strbuf_append(&x->request, name, name_len);
    gwf_strbuf_append(&x->request, ": ", 2);
    if (value_len)
        gwf_strbuf_append(&x->request, value, value_len);
    gwf_strbuf_append(&x->request, "\r\n", 2);
    return x->request.failed ? GWF_ERR_NO_MEMORY : GWF_OK;
}

/* ---- the end ------------------------------------------------------------- */

static void
wait_unlink(gwf_http_exchange *x)
{
    gwf_http_pool *pool = x->pool;

    if (!x->waiting)
        return;
    if (x->wait_prev)
        x->wait_prev->wait_next = x->wait_next;
    else
        pool->wait_head = x->wait_next;
    if (x->wait_next)
        x->wait_next->wait_prev = x->wait_prev;
    else
        pool->wait_tail = x->wait_prev;
    x->wait_prev = x->wait_next = NULL;
    x->waiting = 0;
}

gwf_http_exchange *
http_pool_next_waiter(gwf_http_pool *pool)
{
    gwf_http_exchange *x = pool->wait_head;

    if (x)
        wait_unlink(x);
    return x;
}

static void
timer_stop(gwf_http_exchange *x)
{
    if (x->timer_armed) {
        x->pool->inst->host->timer_cancel(x->pool->inst, x->timer_id);
        x->timer_armed = 0;
    }
}

/* Free the memory; the buffers go to the pool's spare slots when empty. */
static void
exchange_free(gwf_http_exchange *x)
{
    gwf_http_pool *pool = x->pool;

    gwf_strbuf_free(&x->request);
    if (x->buf && !pool->spare_buf && x->cap <= FIRST_READ_BYTES) {
        pool->spare_buf = x->buf;
        pool->spare_cap = x->cap;
        x->buf = NULL;
    }
    if (x->parser.headers && !pool->spare_headers) {
        pool->spare_headers = x->parser.headers;
        x->parser.headers = NULL;
    }
    free(x->buf);
    gwf_http_parser_free(&x->parser);
    free(x);
}

/* Timers, the wait list, the connection (kept when `reusable`): after
 * this nothing of the exchange can fire. */
static void
teardown(gwf_http_exchange *x, int reusable)
{
    http_conn *conn = x->conn;

    timer_stop(x);
    wait_unlink(x);
    x->conn = NULL;
    if (conn)
        http_pool_release(conn, reusable);
}

static void
finish(gwf_http_exchange *x, gwf_http_result result)
{
    gwf_http_parser *p = &x->parser;
    gwf_http_response response = {0};
    gwf_header *headers = NULL;
    int reusable = 0;
    int status = p->state > 0 ? p->status : 0;

    if (result == GWF_HTTP_OK) {
        /* Kept only when the request went whole and nothing followed
         * the answer. */
        reusable =
            p->keep_alive && x->len == p->end && x->written == x->request.len;
        if (p->header_count &&
            !(headers = malloc(p->header_count * sizeof(*headers)))) {
            result = GWF_HTTP_ERR_NO_MEMORY;
            reusable = 0;
        }
    }
    teardown(x, reusable);
    if (result == GWF_HTTP_OK) {
        for (size_t i = 0; i < p->header_count; i++) {
            const gwf_http_header_at *h = &p->headers[i];
            headers[i].name = (gwf_view){x->buf + h->name, h->name_len};
            headers[i].value = (gwf_view){x->buf + h->value, h->value_len};
        }
        response.status = p->status;
        response.headers = headers;
        response.header_count = p->header_count;
        response.body = x->buf ? x->buf + p->body_start : "";
        response.body_len = p->body_len;
    }
    x->started = 2; /* calling back: cancel is a no-op */
    x->done(x, result, status, result == GWF_HTTP_OK ? &response : NULL,
            x->arg);
    free(headers);
    exchange_free(x);
}

static void
on_timer(void *arg)
{
    gwf_http_exchange *x = arg;

    x->timer_armed = 0;
    finish(x, x->has_pending ? x->pending : GWF_HTTP_ERR_TIMEOUT);
}

/* Deliver `result` from a timer of zero delay (see the top). */
static void
finish_soon(gwf_http_exchange *x, gwf_http_result result)
{
    const gwf_host *host = x->pool->inst->host;

    timer_stop(x);
    wait_unlink(x);
    if (x->conn) {
        http_conn *conn = x->conn;
        x->conn = NULL;
        http_pool_release(conn, 0);
    }
    x->pending = result;
    x->has_pending = 1;
    if (host->timer_start(x->pool->inst, NULL, 0, on_timer, x, &x->timer_id) ==
        GWF_OK)
        x->timer_armed = 1;
    /* else: no way to call back; the caller's own timeout ends it
     * (gwf_http_exchange_cancel). */
}

void
gwf_http_exchange_cancel(gwf_http_exchange *x)
{
    if (!x || x->started == 2)
        return;
    teardown(x, 0);
    exchange_free(x);
}

/* ---- sending and reading ------------------------------------------------- */

static int send_request(gwf_http_exchange *x);

/* The connection failed before the answer: a reused one is tried again,
 * once, on a new connection; else `result`. */
static void
fail_or_retry(gwf_http_exchange *x, gwf_http_result result)
{
    gwf_http_result why;
    http_conn *conn = x->conn;

    if (x->reused && !x->got_bytes && !x->retried) {
        x->retried = 1;
        x->reused = 0;
        x->written = 0;
        /* The same place in the pool, a new connection. */
        if (http_conn_reconnect(conn, &why) == 0)
            return;
        x->conn = NULL; /* closed by http_conn_reconnect */
        finish(x, why);
        return;
    }
    finish(x, result);
}

/* What writing the request came to. */
enum send_outcome {
    SEND_WATCHING, /* written, or the rest waits for WRITE: watched */
    SEND_FAILED,   /* send() failed: the connection is broken or stale */
    SEND_NO_WATCH  /* the host refused the watch (out of memory) */
};

/* Write what is left of the request, then watch the connection for what
 * comes next: READ and WRITE while the socket's buffer is full, READ once
 * it is all written. Reporting is the caller's (send_request calls back,
 * send_quietly must not). */
static enum send_outcome
write_request(gwf_http_exchange *x)
{
    http_conn *conn = x->conn;

    while (x->written < x->request.len) {
        ssize_t n = send(conn->fd, x->request.data + x->written,
                         x->request.len - x->written, MSG_NOSIGNAL);
        if (n > 0) {
            x->written += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return http_conn_watch(conn, GWF_FD_READ | GWF_FD_WRITE) != 0
                       ? SEND_NO_WATCH
                       : SEND_WATCHING;
        return SEND_FAILED;
    }
    return http_conn_watch(conn, GWF_FD_READ) != 0 ? SEND_NO_WATCH
                                                   : SEND_WATCHING;
}

/* Write what is left of the request. 0 while the exchange goes on on
 * this connection; 1 when it ended or moved to a new connection (the
 * caller must not touch it any more in this event). */
static int
send_request(gwf_http_exchange *x)
{
    switch (write_request(x)) {
    case SEND_WATCHING:
        return 0;
    case SEND_FAILED:
        fail_or_retry(x, GWF_HTTP_ERR_SEND);
        return 1;
    case SEND_NO_WATCH:
        break;
    }
    finish(x, GWF_HTTP_ERR_NO_MEMORY);
    return 1;
}

/* Room to read into: 0, or an error. */
static int
make_room(gwf_http_exchange *x)
{
    const gwf_http_limits *l = &x->parser.limits;
    size_t most = l->max_header_bytes + l->max_body_bytes + READ_SLACK;
    size_t want;
    char *grown;

    if (x->len < x->cap)
        return 0;
    if (x->cap >= most)
        return GWF_HTTP_ERR_TOO_LARGE;
    if (!x->buf && x->pool->spare_buf) {
        x->buf = x->pool->spare_buf;
        x->cap = x->pool->spare_cap;
        x->pool->spare_buf = NULL;
        return 0;
    }
    want = x->cap ? x->cap * 2 : FIRST_READ_BYTES;
    if (want > most)
        want = most;
    grown = realloc(x->buf, want);
    if (!grown)
        return GWF_HTTP_ERR_NO_MEMORY;
    x->buf = grown;
    x->cap = want;
    return 0;
}

static void
read_answer(gwf_http_exchange *x)
{
    http_conn *conn = x->conn;
    int rc, eof = 0;
    ssize_t n;

    if ((rc = make_room(x)) != 0) {
        finish(x, (gwf_http_result)rc);
        return;
    }
    n = recv(conn->fd, x->buf + x->len, x->cap - x->len, 0);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return;
        if (!x->got_bytes) {
            fail_or_retry(x, GWF_HTTP_ERR_RECV);
            return;
        }
        finish(x, GWF_HTTP_ERR_RECV);
        return;
    }
    if (n == 0) {
        if (!x->got_bytes) {
            fail_or_retry(x, GWF_HTTP_ERR_TRUNCATED);
            return;
        }
        eof = 1;
    } else {
        x->got_bytes = 1;
        x->len += (size_t)n;
    }
    rc = gwf_http_parse(&x->parser, x->buf, &x->len, eof);
    if (rc == GWF_HTTP_PARSE_MORE)
        return;
    finish(x, rc == GWF_HTTP_PARSE_DONE ? GWF_HTTP_OK : (gwf_http_result)rc);
}

/* An answer may come before the request is all written (a peer that
 * refuses a large request early): it is read then too, or a peer that
 * stopped reading would keep the READ event firing until the timeout. */
void
http_exchange_io(gwf_http_exchange *x, uint32_t events)
{
    if (x->written < x->request.len &&
        (events & (GWF_FD_WRITE | GWF_FD_ERROR)) && send_request(x) != 0)
        return;
    if (events & (GWF_FD_READ | GWF_FD_ERROR))
        read_answer(x);
}

void
http_exchange_connected(gwf_http_exchange *x)
{
    (void)send_request(x);
}

void
http_exchange_connect_failed(gwf_http_exchange *x)
{
    http_conn *conn = x->conn;

    x->conn = NULL;
    conn->x = NULL;
    http_conn_close(conn);
    finish(x, GWF_HTTP_ERR_CONNECT);
}

/* ---- starting ------------------------------------------------------------ */

/* A connection for `x`: an idle one (the request is sent now), a new one
 * (sent once connected), or a place in the wait list. 0, or the error. */
static gwf_http_result
acquire(gwf_http_exchange *x)
{
    gwf_http_pool *pool = x->pool;
    gwf_http_result why;

    if ((x->conn = http_pool_take_idle(pool, x))) {
        x->reused = 1;
        return GWF_HTTP_OK;
    }
    if (pool->open_count < pool->peer->options.max_total) {
        x->conn = http_pool_connect(pool, x, &why);
        return x->conn ? GWF_HTTP_OK : why;
    }
    x->waiting = 1;
    x->wait_next = NULL;
    x->wait_prev = pool->wait_tail;
    if (pool->wait_tail)
        pool->wait_tail->wait_next = x;
    else
        pool->wait_head = x;
    pool->wait_tail = x;
    return GWF_HTTP_OK;
}

/* Send on a reused connection without calling back from inside the
 * plugin's call: a failure here is delivered from a timer. */
static void
send_quietly(gwf_http_exchange *x)
{
    switch (write_request(x)) {
    case SEND_WATCHING:
        return;
    case SEND_FAILED:
        /* A stale connection: the READ watch sees it closed, and the
         * read path retries on a new one. Keep reading. */
        x->written = x->request.len;
        if (http_conn_watch(x->conn, GWF_FD_READ) == 0)
            return;
        break;
    case SEND_NO_WATCH:
        break;
    }
    finish_soon(x, GWF_HTTP_ERR_NO_MEMORY);
}

void
http_exchange_resume_waiter(gwf_http_exchange *x, http_conn *conn)
{
    gwf_http_result why;

    if (conn) {
        x->conn = conn;
        x->reused = 1;
        send_quietly(x);
        return;
    }
    x->conn = http_pool_connect(x->pool, x, &why);
    if (!x->conn)
        finish_soon(x, why);
}

gwf_status
gwf_http_exchange_start(gwf_http_exchange *x, const char *body, size_t body_len,
                        uint64_t timeout_ns, gwf_http_done_cb done, void *arg)
{
    gwf_http_pool *pool;
    const gwf_host *host;
    gwf_http_result why;
    char length[32];
    int length_len;

    if (!x || !done || x->started)
        return GWF_ERR_BAD_ARGUMENT;
    pool = x->pool;
    host = pool->inst->host;
    if (body) {
        length_len = snprintf(length, sizeof(length),
                              "Content-Length: %zu\r\n\r\n", body_len);
        gwf_strbuf_append(&x->request, length, (size_t)length_len);
        if (body_len)
            gwf_strbuf_append(&x->request, body, body_len);
    } else {
        gwf_strbuf_append(&x->request, "\r\n", 2);
    }
    if (x->request.failed)
        goto fail;
    /* The parser's table: the one kept from the last exchange. */
    if (http_parser_init_table(&x->parser, &pool->peer->options.limits,
                               x->head_request, pool->spare_headers) != GWF_OK)
        goto fail;
    pool->spare_headers = NULL;
    x->done = done;
    x->arg = arg;
    x->started = 1;
    if (timeout_ns) {
        if (host->timer_start(pool->inst, NULL, timeout_ns, on_timer, x,
                              &x->timer_id) != GWF_OK)
            goto fail;
        x->timer_armed = 1;
    }
    why = acquire(x);
    if (why != GWF_HTTP_OK) {
        finish_soon(x, why);
        if (!x->timer_armed)
            goto fail;
        return GWF_OK;
    }
    if (x->conn && x->reused)
        send_quietly(x);
    return GWF_OK;
fail:
    teardown(x, 0);
    exchange_free(x);
    return GWF_ERR_NO_MEMORY;
}
