/*
 * test_http_client.c - gwf/sdk_http.h: the SDK's HTTP/1.1 client on a
 * host loop, against real peers on a thread of the test (127.0.0.1
 * only), and its strict framing against hostile ones.
 *
 * The client reaches the host only through fd_watch, fd_update,
 * fd_cancel, timer_start and timer_cancel, so the tests hand it
 * poll_host.c, a poll()-based host that keeps those as the ABI promises
 * (ids never reused, level-triggered watches, a cancelled watch or timer
 * never fires) and counts every call: at the end of each test every watch and
 * timer is gone and nothing was cancelled twice. The peer counts the
 * connections it accepted and the requests it read, so that reuse is an
 * exact number, not a guess.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gwf/sdk_http.h>

#include "poll_host.h"

/* No test needs more than this; a stuck loop fails instead of hanging. */
#define RUN_LIMIT_MS 5000

/* ---- a scriptable HTTP peer on a thread, 127.0.0.1 only ----------------- */

enum peer_mode {
    PEER_ANSWER,       /* answer every request with `answer` */
    PEER_SILENT,       /* read requests, never answer */
    PEER_DRIP,         /* answer one byte every 20 ms, never ending */
    PEER_CLOSE_SECOND, /* answer a connection's first request; close it
                          on its second without a byte */
    PEER_CLOSE_AFTER,  /* answer, then close the connection */
    PEER_EARLY         /* answer once a request head came, then stop
                          reading (a body it does not want) */
};

#define PEER_CONNS 16

typedef struct peer_conn {
    int fd;
    char in[8192];
    size_t in_len;
    unsigned requests;
    size_t drip_at;
    int deaf; /* stopped reading (PEER_EARLY) */
} peer_conn;

typedef struct peer {
    int listen_fd;
    int stop_pipe[2];
    uint16_t port;
    enum peer_mode mode;
    const char *answer;
    size_t answer_len;
    pthread_t thread;
    pthread_mutex_t lock;
    int accepted;
    int requests;
    peer_conn conns[PEER_CONNS];
} peer;

static void
peer_write(int fd, const char *data, size_t len)
{
    size_t at = 0;

    while (at < len) {
        ssize_t n = write(fd, data + at, len - at);
        if (n <= 0)
            return;
        at += (size_t)n;
    }
}

static void
peer_close(peer_conn *c)
{
    close(c->fd);
    c->fd = -1;
}

/* A whole request (head and Content-Length body) at the start of c->in:
 * its length, or 0. */
static size_t
whole_request(const peer_conn *c)
{
    const char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    const char *cl;
    size_t head, body = 0;

    if (!end)
        return 0;
    head = (size_t)(end - c->in) + 4;
    cl = memmem(c->in, head, "Content-Length: ", 16);
    if (cl)
        body = strtoul(cl + 16, NULL, 10);
    return c->in_len >= head + body ? head + body : 0;
}

static void
peer_serve(peer *p, peer_conn *c)
{
    size_t len;
    ssize_t n = read(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len);

    if (n <= 0) {
        peer_close(c);
        return;
    }
    c->in_len += (size_t)n;
    if (p->mode == PEER_EARLY) {
        if (memmem(c->in, c->in_len, "\r\n\r\n", 4)) {
            pthread_mutex_lock(&p->lock);
            p->requests++;
            pthread_mutex_unlock(&p->lock);
            peer_write(c->fd, p->answer, p->answer_len);
            c->deaf = 1;
        } else if (c->in_len == sizeof(c->in)) {
            peer_close(c);
        }
        return;
    }
    while ((len = whole_request(c)) != 0) {
        memmove(c->in, c->in + len, c->in_len - len);
        c->in_len -= len;
        c->requests++;
        pthread_mutex_lock(&p->lock);
        p->requests++;
        pthread_mutex_unlock(&p->lock);
        switch (p->mode) {
        case PEER_ANSWER:
            peer_write(c->fd, p->answer, p->answer_len);
            break;
        case PEER_CLOSE_AFTER:
            peer_write(c->fd, p->answer, p->answer_len);
            peer_close(c);
            return;
        case PEER_CLOSE_SECOND:
            if (c->requests >= 2) {
                peer_close(c);
                return;
            }
            peer_write(c->fd, p->answer, p->answer_len);
            break;
        default:
            break;
        }
    }
}

static void *
peer_run(void *arg)
{
    peer *p = arg;

    for (;;) {
        struct pollfd pfds[PEER_CONNS + 2];
        int idx[PEER_CONNS + 2];
        nfds_t n = 0;

        pfds[n] = (struct pollfd){p->stop_pipe[0], POLLIN, 0};
        idx[n++] = -2;
        pfds[n] = (struct pollfd){p->listen_fd, POLLIN, 0};
        idx[n++] = -1;
        for (int i = 0; i < PEER_CONNS; i++) {
            if (p->conns[i].fd < 0 || p->conns[i].deaf)
                continue;
            pfds[n] = (struct pollfd){p->conns[i].fd, POLLIN, 0};
            idx[n++] = i;
        }
        if (poll(pfds, n, p->mode == PEER_DRIP ? 20 : -1) < 0)
            return NULL;
        if (pfds[0].revents)
            return NULL;
        if (p->mode == PEER_DRIP) {
            for (int i = 0; i < PEER_CONNS; i++) {
                peer_conn *c = &p->conns[i];
                if (c->fd >= 0 && c->requests && c->drip_at < p->answer_len)
                    peer_write(c->fd, p->answer + c->drip_at++, 1);
            }
        }
        for (nfds_t i = 1; i < n; i++) {
            if (!pfds[i].revents)
                continue;
            if (idx[i] == -1) {
                int fd = accept(p->listen_fd, NULL, NULL);
                int slot = -1;
                if (fd < 0)
                    continue;
                for (int j = 0; j < PEER_CONNS && slot < 0; j++)
                    if (p->conns[j].fd < 0)
                        slot = j;
                if (slot < 0) {
                    close(fd);
                    continue;
                }
                memset(&p->conns[slot], 0, sizeof(p->conns[slot]));
                p->conns[slot].fd = fd;
                pthread_mutex_lock(&p->lock);
                p->accepted++;
                pthread_mutex_unlock(&p->lock);
            } else if (p->conns[idx[i]].fd >= 0) {
                peer_serve(p, &p->conns[idx[i]]);
            }
        }
    }
}

static void
peer_start(peer *p, enum peer_mode mode, const char *answer, size_t answer_len)
{
    struct sockaddr_in addr = {.sin_family = AF_INET};
    socklen_t addr_len = sizeof(addr);

    memset(p, 0, sizeof(*p));
    for (int i = 0; i < PEER_CONNS; i++)
        p->conns[i].fd = -1;
    p->mode = mode;
    p->answer = answer;
    p->answer_len = answer ? (answer_len ? answer_len : strlen(answer)) : 0;
    pthread_mutex_init(&p->lock, NULL);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    p->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(p->listen_fd >= 0);
    assert_int_equal(bind(p->listen_fd, (struct sockaddr *)&addr, sizeof(addr)),
                     0);
    assert_int_equal(listen(p->listen_fd, 16), 0);
    assert_int_equal(
        getsockname(p->listen_fd, (struct sockaddr *)&addr, &addr_len), 0);
    p->port = ntohs(addr.sin_port);
    assert_int_equal(pipe2(p->stop_pipe, O_CLOEXEC), 0);
    assert_int_equal(pthread_create(&p->thread, NULL, peer_run, p), 0);
}

static int
peer_count(peer *p, int *what)
{
    pthread_mutex_lock(&p->lock);
    int n = *what;
    pthread_mutex_unlock(&p->lock);
    return n;
}

static void
peer_stop(peer *p)
{
    assert_int_equal(write(p->stop_pipe[1], "x", 1), 1);
    pthread_join(p->thread, NULL);
    for (int i = 0; i < PEER_CONNS; i++)
        if (p->conns[i].fd >= 0)
            close(p->conns[i].fd);
    close(p->listen_fd);
    close(p->stop_pipe[0]);
    close(p->stop_pipe[1]);
    pthread_mutex_destroy(&p->lock);
}

/* ---- the client side ---------------------------------------------------- */

typedef struct outcome {
    int calls; /* must end 1: the callback runs once */
    gwf_http_result result;
    int status;
    char body[4096];
    size_t body_len;
    size_t header_count;
    char first_header[128];
} outcome;

static void
on_done(gwf_http_exchange *x, gwf_http_result result, int status,
        const gwf_http_response *response, void *arg)
{
    outcome *o = arg;

    (void)x;
    o->calls++;
    o->result = result;
    o->status = status;
    if (response) {
        assert_int_equal(response->status, status);
        assert_true(response->body_len < sizeof(o->body));
        memcpy(o->body, response->body, response->body_len);
        o->body_len = response->body_len;
        o->header_count = response->header_count;
        if (response->header_count)
            snprintf(o->first_header, sizeof(o->first_header), "%.*s: %.*s",
                     (int)response->headers[0].name.len,
                     response->headers[0].name.ptr,
                     (int)response->headers[0].value.len,
                     response->headers[0].value.ptr);
    }
}

static void
never_cb(gwf_http_exchange *x, gwf_http_result result, int status,
         const gwf_http_response *response, void *arg)
{
    (void)x;
    (void)result;
    (void)status;
    (void)response;
    (void)arg;
    fail_msg("never_cb should never be called");
}

typedef struct rig {
    poll_host h;
    gwf_http_peer *peer;
    gwf_http_pool *pool;
} rig;

static void
rig_start(rig *r, uint16_t port, const gwf_http_peer_options *options)
{
    char err[128] = "";

    poll_host_init(&r->h, "http-client-test");
    assert_int_equal(gwf_http_peer_new("127.0.0.1", port, options, &r->peer,
                                       err, sizeof(err)),
                     GWF_OK);
    r->pool = gwf_http_pool_new(&r->h.inst, r->peer);
    assert_non_null(r->pool);
}

/* Frees the pool: every watch and timer must be gone, nothing was
 * cancelled twice or after it ended. */
static void
rig_stop(rig *r)
{
    gwf_http_pool_free(r->pool);
    gwf_http_peer_free(r->peer);
    assert_int_equal(poll_host_live_watches(&r->h), 0);
    assert_int_equal(poll_host_armed_timers(&r->h), 0);
    assert_int_equal(r->h.not_found, 0);
}

static gwf_http_exchange *
start_get(rig *r, outcome *o, uint64_t timeout_ms)
{
    gwf_http_exchange *x =
        gwf_http_exchange_new(r->pool, "GET", 3, "/check?a=1", 10);

    assert_non_null(x);
    assert_int_equal(gwf_http_exchange_header(x, "Host", 4, "example", 7),
                     GWF_OK);
    memset(o, 0, sizeof(*o));
    assert_int_equal(
        gwf_http_exchange_start(x, NULL, 0, timeout_ms * NS_PER_MS, on_done, o),
        GWF_OK);
    /* Never inside start. */
    assert_int_equal(o->calls, 0);
    return x;
}

static void
run_until_done(rig *r, outcome *o)
{
    int64_t until = poll_host_now_ns() + RUN_LIMIT_MS * NS_PER_MS;

    while (!o->calls && poll_host_now_ns() < until)
        poll_host_turn(&r->h, 100);
    assert_int_equal(o->calls, 1);
}

/* One GET against a peer answering `answer`: its outcome. */
static void
exchange_once(const char *answer, size_t len, uint64_t timeout_ms, outcome *o,
              size_t *idle_after)
{
    peer p;
    rig r;
    gwf_http_peer_options options = {.limits = {.max_headers = 20,
                                                .max_header_bytes = 2048,
                                                .max_body_bytes = 1024}};

    peer_start(&p, PEER_CLOSE_AFTER, answer, len);
    rig_start(&r, p.port, &options);
    start_get(&r, o, timeout_ms);
    run_until_done(&r, o);
    if (idle_after)
        *idle_after = gwf_http_pool_idle(r.pool);
    rig_stop(&r);
    peer_stop(&p);
}

static gwf_http_result
result_of(const char *answer)
{
    outcome o;

    exchange_once(answer, 0, 2000, &o, NULL);
    return o.result;
}

#define OK_ANSWER                                                              \
    "HTTP/1.1 200 OK\r\nx-user: bench\r\nContent-Length: 2\r\n\r\nok"

/* ---- keep-alive, stale connections, bounds ------------------------------ */

static void
test_keep_alive_reuses_one_connection(void **state)
{
    peer p;
    rig r;
    outcome o;

    (void)state;
    peer_start(&p, PEER_ANSWER, OK_ANSWER, 0);
    rig_start(&r, p.port, NULL);
    for (int i = 0; i < 3; i++) {
        start_get(&r, &o, 2000);
        run_until_done(&r, &o);
        assert_int_equal(o.result, GWF_HTTP_OK);
        assert_int_equal(o.status, 200);
        assert_int_equal(o.body_len, 2);
        assert_memory_equal(o.body, "ok", 2);
        assert_string_equal(o.first_header, "x-user: bench");
        assert_int_equal(gwf_http_pool_idle(r.pool), 1);
    }
    assert_int_equal(peer_count(&p, &p.accepted), 1);
    assert_int_equal(peer_count(&p, &p.requests), 3);
    assert_int_equal(gwf_http_pool_connects(r.pool), 1);
    rig_stop(&r);
    peer_stop(&p);
}

static void
test_idle_connection_gives_up_its_watch_after_the_grace(void **state)
{
    peer p;
    rig r;
    outcome o;
    int64_t until;

    (void)state;
    peer_start(&p, PEER_ANSWER, OK_ANSWER, 0);
    rig_start(&r, p.port, NULL);
    start_get(&r, &o, 2000);
    run_until_done(&r, &o);
    /* Just idle: still watched, and the pool's one timer runs. */
    assert_int_equal(poll_host_live_watches(&r.h), 1);
    assert_int_equal(poll_host_armed_timers(&r.h), 1);
    until =
        poll_host_now_ns() + (int64_t)GWF_HTTP_IDLE_WATCH_NS + 500 * NS_PER_MS;
    while (poll_host_armed_timers(&r.h) && poll_host_now_ns() < until)
        poll_host_turn(&r.h, 100);
    /* Past the grace: nothing of the host is held, the connection kept. */
    assert_int_equal(poll_host_live_watches(&r.h), 0);
    assert_int_equal(poll_host_armed_timers(&r.h), 0);
    assert_int_equal(gwf_http_pool_idle(r.pool), 1);
    start_get(&r, &o, 2000);
    run_until_done(&r, &o);
    assert_int_equal(o.result, GWF_HTTP_OK);
    assert_int_equal(peer_count(&p, &p.accepted), 1);
    rig_stop(&r);
    peer_stop(&p);
}

static void
test_peer_closing_a_watched_idle_connection_drops_it_at_once(void **state)
{
    peer p;
    rig r;
    outcome o;
    int64_t until;

    (void)state;
    peer_start(&p, PEER_CLOSE_AFTER, OK_ANSWER, 0);
    rig_start(&r, p.port, NULL);
    start_get(&r, &o, 2000);
    run_until_done(&r, &o);
    assert_int_equal(gwf_http_pool_idle(r.pool), 1);
    until = poll_host_now_ns() + 500 * NS_PER_MS;
    while (gwf_http_pool_open(r.pool) && poll_host_now_ns() < until)
        poll_host_turn(&r.h, 100);
    assert_int_equal(gwf_http_pool_open(r.pool), 0);
    assert_int_equal(poll_host_live_watches(&r.h), 0);
    rig_stop(&r);
    peer_stop(&p);
}

static void
test_connection_closed_while_idle_is_dropped_not_used(void **state)
{
    peer p;
    rig r;
    outcome o;

    (void)state;
    peer_start(&p, PEER_CLOSE_AFTER, OK_ANSWER, 0);
    rig_start(&r, p.port, NULL);
    start_get(&r, &o, 2000);
    run_until_done(&r, &o);
    assert_int_equal(o.result, GWF_HTTP_OK);
    usleep(50 * 1000); /* the peer's FIN arrives */
    start_get(&r, &o, 2000);
    run_until_done(&r, &o);
    assert_int_equal(o.result, GWF_HTTP_OK);
    assert_int_equal(peer_count(&p, &p.accepted), 2);
    assert_int_equal(peer_count(&p, &p.requests), 2);
    rig_stop(&r);
    peer_stop(&p);
}

static void
test_stale_connection_is_retried_once_on_a_new_one(void **state)
{
    peer p;
    rig r;
    outcome o;

    (void)state;
    peer_start(&p, PEER_CLOSE_SECOND, OK_ANSWER, 0);
    rig_start(&r, p.port, NULL);
    start_get(&r, &o, 2000);
    run_until_done(&r, &o);
    assert_int_equal(o.result, GWF_HTTP_OK);
    /* The pooled connection looks fine; the peer drops it on the next
     * request without a byte: sent again on a new connection. */
    start_get(&r, &o, 2000);
    run_until_done(&r, &o);
    assert_int_equal(o.result, GWF_HTTP_OK);
    assert_int_equal(o.status, 200);
    assert_int_equal(peer_count(&p, &p.accepted), 2);
    assert_int_equal(peer_count(&p, &p.requests), 3);
    rig_stop(&r);
    peer_stop(&p);
}

static void
test_new_connection_failing_before_an_answer_is_not_retried(void **state)
{
    peer p;
    rig r;
    outcome o;

    (void)state;
    /* Closes every connection on its first request, answering nothing. */
    peer_start(&p, PEER_CLOSE_AFTER, "", 0);
    rig_start(&r, p.port, NULL);
    start_get(&r, &o, 2000);
    run_until_done(&r, &o);
    assert_int_equal(o.result, GWF_HTTP_ERR_TRUNCATED);
    assert_int_equal(o.status, 0);
    assert_int_equal(peer_count(&p, &p.accepted), 1);
    rig_stop(&r);
    peer_stop(&p);
}

static void
test_connection_close_answer_is_not_reused(void **state)
{
    outcome o;
    size_t idle = 1;

    (void)state;
    exchange_once("HTTP/1.1 200 OK\r\nConnection: close\r\n"
                  "Content-Length: 2\r\n\r\nok",
                  0, 2000, &o, &idle);
    assert_int_equal(o.result, GWF_HTTP_OK);
    assert_int_equal(idle, 0);
}

static void
test_bytes_after_the_answer_stop_reuse(void **state)
{
    outcome o;
    size_t idle = 1;

    (void)state;
    exchange_once(OK_ANSWER "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0,
                  2000, &o, &idle);
    assert_int_equal(o.result, GWF_HTTP_OK);
    assert_int_equal(o.body_len, 2);
    assert_int_equal(idle, 0);
}

/* An answer that ends exactly at the end of the client's 4096-byte read
 * buffer, with a second answer nobody asked for behind it in the same
 * write. The connection is handed straight to an exchange waiting for
 * one (max_total 1): those leftover bytes must not become its answer.
 * The connection is closed instead, and the waiter's answer comes on a
 * new one. */
static char leftover_answer[8192];

static void
test_leftover_bytes_never_reach_a_waiting_exchange(void **state)
{
    peer p;
    rig r;
    outcome o[2];
    gwf_http_peer_options options = {.max_total = 1};
    const char *head = "HTTP/1.1 200 OK\r\nContent-Length: ";
    const char *forged = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nFORGED";
    size_t head_len = strlen(head) + strlen("NNNN\r\n\r\n");
    size_t body_len = 4096 - head_len;
    int64_t until;

    (void)state;
    snprintf(leftover_answer, sizeof(leftover_answer), "%s%04zu\r\n\r\n", head,
             body_len);
    memset(leftover_answer + head_len, 'A', body_len);
    memcpy(leftover_answer + 4096, forged, strlen(forged) + 1);
    peer_start(&p, PEER_ANSWER, leftover_answer, 0);
    rig_start(&r, p.port, &options);
    for (int i = 0; i < 2; i++)
        start_get(&r, &o[i], 2000);
    until = poll_host_now_ns() + RUN_LIMIT_MS * NS_PER_MS;
    while (!(o[0].calls && o[1].calls) && poll_host_now_ns() < until)
        poll_host_turn(&r.h, 100);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(o[i].calls, 1);
        assert_int_equal(o[i].result, GWF_HTTP_OK);
        assert_int_equal(o[i].status, 200);
        assert_int_equal(o[i].body_len, body_len);
        assert_int_equal(o[i].body[0], 'A');
    }
    assert_int_equal(peer_count(&p, &p.accepted), 2);
    rig_stop(&r);
    peer_stop(&p);
}

static void
test_max_total_makes_exchanges_wait_for_a_connection(void **state)
{
    peer p;
    rig r;
    outcome o[3];
    gwf_http_peer_options options = {.max_total = 1};
    int64_t until;

    (void)state;
    peer_start(&p, PEER_ANSWER, OK_ANSWER, 0);
    rig_start(&r, p.port, &options);
    for (int i = 0; i < 3; i++)
        start_get(&r, &o[i], 2000);
    assert_int_equal(gwf_http_pool_open(r.pool), 1);
    until = poll_host_now_ns() + RUN_LIMIT_MS * NS_PER_MS;
    while (!(o[0].calls && o[1].calls && o[2].calls) &&
           poll_host_now_ns() < until)
        poll_host_turn(&r.h, 100);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(o[i].calls, 1);
        assert_int_equal(o[i].result, GWF_HTTP_OK);
    }
    assert_int_equal(peer_count(&p, &p.accepted), 1);
    rig_stop(&r);
    peer_stop(&p);
}

static void
test_max_idle_closes_what_is_beyond_it(void **state)
{
    peer p;
    rig r;
    outcome o[3];
    gwf_http_peer_options options = {.max_idle = 1};
    int64_t until;

    (void)state;
    peer_start(&p, PEER_ANSWER, OK_ANSWER, 0);
    rig_start(&r, p.port, &options);
    for (int i = 0; i < 3; i++)
        start_get(&r, &o[i], 2000);
    until = poll_host_now_ns() + RUN_LIMIT_MS * NS_PER_MS;
    while (!(o[0].calls && o[1].calls && o[2].calls) &&
           poll_host_now_ns() < until)
        poll_host_turn(&r.h, 100);
    assert_int_equal(peer_count(&p, &p.accepted), 3);
    assert_int_equal(gwf_http_pool_idle(r.pool), 1);
    assert_int_equal(gwf_http_pool_open(r.pool), 1);
    rig_stop(&r);
    peer_stop(&p);
}

static void
test_idle_timeout_closes_an_old_connection(void **state)
{
    peer p;
    rig r;
    outcome o;
    gwf_http_peer_options options = {.idle_timeout_ns = 30 * NS_PER_MS};

    (void)state;
    peer_start(&p, PEER_ANSWER, OK_ANSWER, 0);
    rig_start(&r, p.port, &options);
    start_get(&r, &o, 2000);
    run_until_done(&r, &o);
    usleep(80 * 1000);
    start_get(&r, &o, 2000);
    run_until_done(&r, &o);
    assert_int_equal(o.result, GWF_HTTP_OK);
    assert_int_equal(peer_count(&p, &p.accepted), 2);
    rig_stop(&r);
    peer_stop(&p);
}

static void
test_refused_connection_is_connect_error_from_a_later_turn(void **state)
{
    peer p;
    rig r;
    outcome o;
    uint16_t port;

    (void)state;
    peer_start(&p, PEER_ANSWER, OK_ANSWER, 0);
    port = p.port;
    peer_stop(&p); /* nothing listens there now */
    rig_start(&r, port, NULL);
    start_get(&r, &o, 2000);
    run_until_done(&r, &o);
    assert_int_equal(o.result, GWF_HTTP_ERR_CONNECT);
    assert_int_equal(gwf_http_pool_open(r.pool), 0);
    rig_stop(&r);
}

static void
test_every_address_of_a_name_is_tried_in_turn(void **state)
{
    peer p;
    poll_host h;
    gwf_http_peer *hp = NULL;
    gwf_http_pool *pool;
    gwf_http_exchange *x;
    outcome o = {0};
    int64_t until;

    (void)state;
    peer_start(&p, PEER_ANSWER, OK_ANSWER, 0);
    poll_host_init(&h, "http-client-test");
    /* "localhost" is ::1 and 127.0.0.1 where IPv6 is configured: the peer
     * listens on the IPv4 one only, whichever comes first. */
    if (gwf_http_peer_new("localhost", p.port, NULL, &hp, NULL, 0) != GWF_OK) {
        peer_stop(&p);
        skip();
    }
    pool = gwf_http_pool_new(&h.inst, hp);
    x = gwf_http_exchange_new(pool, "GET", 3, "/", 1);
    assert_int_equal(
        gwf_http_exchange_start(x, NULL, 0, 2000 * NS_PER_MS, on_done, &o),
        GWF_OK);
    until = poll_host_now_ns() + RUN_LIMIT_MS * NS_PER_MS;
    while (!o.calls && poll_host_now_ns() < until)
        poll_host_turn(&h, 100);
    assert_int_equal(o.calls, 1);
    assert_int_equal(o.result, GWF_HTTP_OK);
    gwf_http_pool_free(pool);
    gwf_http_peer_free(hp);
    assert_int_equal(poll_host_live_watches(&h), 0);
    assert_int_equal(poll_host_armed_timers(&h), 0);
    peer_stop(&p);
}

static void
test_unresolvable_name_is_refused_when_the_peer_is_built(void **state)
{
    gwf_http_peer *hp = (gwf_http_peer *)1;
    char err[160] = "";

    (void)state;
    assert_int_equal(gwf_http_peer_new("no-such-host.invalid", 80, NULL, &hp,
                                       err, sizeof(err)),
                     GWF_ERR_BAD_ARGUMENT);
    assert_null(hp);
    assert_non_null(strstr(err, "no-such-host.invalid"));
    assert_int_equal(gwf_http_peer_new("127.0.0.1", 0, NULL, &hp, NULL, 0),
                     GWF_ERR_BAD_ARGUMENT);
    assert_int_equal(gwf_http_peer_new("127.0.0.1", 65536, NULL, &hp, NULL, 0),
                     GWF_ERR_BAD_ARGUMENT);
}

/* ---- the request -------------------------------------------------------- */

static void
test_request_line_and_headers_refuse_what_cannot_be_sent(void **state)
{
    peer p;
    rig r;
    gwf_http_exchange *x;

    (void)state;
    peer_start(&p, PEER_ANSWER, OK_ANSWER, 0);
    rig_start(&r, p.port, NULL);
    assert_null(gwf_http_exchange_new(r.pool, "G T", 3, "/", 1));
    assert_null(gwf_http_exchange_new(r.pool, "GET", 3, "/a b", 4));
    assert_null(gwf_http_exchange_new(r.pool, "GET", 3, "/a\r\n", 4));
    x = gwf_http_exchange_new(r.pool, "GET", 3, "/", 1);
    assert_non_null(x);
    assert_int_equal(gwf_http_exchange_header(x, "x-a", 3, "1\r\nx-b: 2", 10),
                     GWF_ERR_BAD_ARGUMENT);
    assert_int_equal(gwf_http_exchange_header(x, "x a", 3, "1", 1),
                     GWF_ERR_BAD_ARGUMENT);
    assert_int_equal(gwf_http_exchange_header(x, "Content-Length", 14, "1", 1),
                     GWF_ERR_BAD_ARGUMENT);
    gwf_http_exchange_cancel(x); /* never started: only memory */
    rig_stop(&r);
    peer_stop(&p);
}

static void
test_body_goes_with_its_content_length(void **state)
{
    peer p;
    rig r;
    outcome o = {0};
    gwf_http_exchange *x;

    (void)state;
    peer_start(&p, PEER_ANSWER, OK_ANSWER, 0);
    rig_start(&r, p.port, NULL);
    x = gwf_http_exchange_new(r.pool, "POST", 4, "/", 1);
    assert_int_equal(
        gwf_http_exchange_start(x, "hello", 5, 2000 * NS_PER_MS, on_done, &o),
        GWF_OK);
    run_until_done(&r, &o);
    assert_int_equal(o.result, GWF_HTTP_OK);
    /* The peer read it as one whole request (head + 5 bytes). */
    assert_int_equal(peer_count(&p, &p.requests), 1);
    rig_stop(&r);
    peer_stop(&p);
}

static void
test_answer_before_the_request_is_written_is_read(void **state)
{
    peer p;
    rig r;
    outcome o = {0};
    gwf_http_exchange *x;
    size_t body_len = 16 << 20; /* more than the socket buffers hold */
    char *body = calloc(1, body_len);

    (void)state;
    assert_non_null(body);
    peer_start(&p, PEER_EARLY,
               "HTTP/1.1 413 Too Large\r\nContent-Length: 0\r\n\r\n", 0);
    rig_start(&r, p.port, NULL);
    x = gwf_http_exchange_new(r.pool, "POST", 4, "/", 1);
    assert_int_equal(gwf_http_exchange_start(x, body, body_len,
                                             2000 * NS_PER_MS, on_done, &o),
                     GWF_OK);
    run_until_done(&r, &o);
    assert_int_equal(o.result, GWF_HTTP_OK);
    assert_int_equal(o.status, 413);
    /* The request did not go whole: the connection is not reused. */
    assert_int_equal(gwf_http_pool_idle(r.pool), 0);
    assert_int_equal(gwf_http_pool_open(r.pool), 0);
    rig_stop(&r);
    peer_stop(&p);
    free(body);
}

static void
test_connect_slower_than_its_timeout_is_a_connect_error(void **state)
{
    struct sockaddr_in addr = {.sin_family = AF_INET};
    socklen_t addr_len = sizeof(addr);
    int listener, filler;
    rig r;
    outcome o;
    int64_t began;
    gwf_http_peer_options options = {.connect_timeout_ns = 100 * NS_PER_MS};

    (void)state;
    /* A listener that never accepts, its queue full: the kernel drops
     * further SYNs, so a connect neither succeeds nor fails. */
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(bind(listener, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(listen(listener, 0), 0);
    assert_int_equal(getsockname(listener, (struct sockaddr *)&addr, &addr_len),
                     0);
    filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    connect(filler, (struct sockaddr *)&addr, sizeof(addr));
    usleep(20 * 1000);
    rig_start(&r, ntohs(addr.sin_port), &options);
    began = poll_host_now_ns();
    start_get(&r, &o, 5000);
    run_until_done(&r, &o);
    assert_int_equal(o.result, GWF_HTTP_ERR_CONNECT);
    assert_true(poll_host_now_ns() - began >= 100 * NS_PER_MS);
    assert_true(poll_host_now_ns() - began < 4000 * NS_PER_MS);
    rig_stop(&r);
    close(filler);
    close(listener);
}

/* ---- framing ------------------------------------------------------------ */

static void
test_answer_cut_anywhere_is_truncated(void **state)
{
    (void)state;
    assert_int_equal(result_of("HTTP/1.1 20"), GWF_HTTP_ERR_TRUNCATED);
    assert_int_equal(result_of("HTTP/1.1 200 OK\r\nx-user: be"),
                     GWF_HTTP_ERR_TRUNCATED);
    assert_int_equal(result_of("HTTP/1.1 200 OK\r\nx-user: bench\r\n"),
                     GWF_HTTP_ERR_TRUNCATED);
    assert_int_equal(
        result_of("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"),
        GWF_HTTP_ERR_TRUNCATED);
    assert_int_equal(result_of("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked"
                               "\r\n\r\n5\r\nab"),
                     GWF_HTTP_ERR_TRUNCATED);
    assert_int_equal(result_of("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked"
                               "\r\n\r\n2\r\nab\r\n"),
                     GWF_HTTP_ERR_TRUNCATED);
    assert_int_equal(result_of("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked"
                               "\r\n\r\n0\r\nx-trailer: 1\r\n"),
                     GWF_HTTP_ERR_TRUNCATED);
}

static void
test_denial_cut_short_keeps_its_status_for_the_caller(void **state)
{
    outcome o;

    (void)state;
    exchange_once("HTTP/1.1 403 Forbidden\r\nContent-Length: 10\r\n\r\nno", 0,
                  2000, &o, NULL);
    assert_int_equal(o.result, GWF_HTTP_ERR_TRUNCATED);
    assert_int_equal(o.status, 403);
}

static void
test_conflicting_lengths_are_framing_errors(void **state)
{
    (void)state;
    assert_int_equal(result_of("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                               "Content-Length: 3\r\n\r\nok"),
                     GWF_HTTP_ERR_FRAMING);
    assert_int_equal(result_of("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                               "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
                     GWF_HTTP_ERR_FRAMING);
    assert_int_equal(result_of("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n"
                               "\r\n"),
                     GWF_HTTP_ERR_FRAMING);
    assert_int_equal(result_of("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                               "Content-Length: 2\r\n\r\nok"),
                     GWF_HTTP_OK);
}

static void
test_bad_content_length_is_malformed(void **state)
{
    (void)state;
    assert_int_equal(result_of("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"),
                     GWF_HTTP_ERR_MALFORMED);
    assert_int_equal(
        result_of("HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok"),
        GWF_HTTP_ERR_MALFORMED);
    assert_int_equal(
        result_of("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999"
                  "\r\n\r\n"),
        GWF_HTTP_ERR_MALFORMED);
    assert_int_equal(
        result_of("HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n"),
        GWF_HTTP_ERR_TOO_LARGE);
}

static void
test_huge_chunk_size_is_refused(void **state)
{
    (void)state;
    assert_int_equal(result_of("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked"
                               "\r\n\r\nffffffffffffffffff\r\n"),
                     GWF_HTTP_ERR_TOO_LARGE);
    assert_int_equal(result_of("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked"
                               "\r\n\r\n10000\r\n"),
                     GWF_HTTP_ERR_TOO_LARGE);
    assert_int_equal(result_of("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked"
                               "\r\n\r\nzz\r\n"),
                     GWF_HTTP_ERR_MALFORMED);
}

static void
test_chunked_body_is_decoded_and_trailers_skipped(void **state)
{
    outcome o;
    size_t idle = 0;

    (void)state;
    exchange_once("HTTP/1.1 401 No\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "3;ext=1\r\nden\r\n1\r\ni\r\n2\r\ned\r\n0\r\nx-t: 1\r\n\r\n",
                  0, 2000, &o, &idle);
    assert_int_equal(o.result, GWF_HTTP_OK);
    assert_int_equal(o.status, 401);
    assert_int_equal(o.body_len, 6);
    assert_memory_equal(o.body, "denied", 6);
    assert_int_equal(o.header_count, 1);
    /* PEER_CLOSE_AFTER closes it, but only after the answer: kept. */
    assert_int_equal(idle, 1);
}

static void
test_header_flood_is_too_many_headers(void **state)
{
    char answer[2048];
    size_t len = 0;

    (void)state;
    len += (size_t)snprintf(answer, sizeof(answer), "HTTP/1.1 200 OK\r\n");
    for (int i = 0; i < 21; i++)
        len += (size_t)snprintf(answer + len, sizeof(answer) - len,
                                "x-%d: v\r\n", i);
    snprintf(answer + len, sizeof(answer) - len, "\r\n");
    assert_int_equal(result_of(answer), GWF_HTTP_ERR_TOO_MANY_HEADERS);
}

static void
test_header_block_over_its_bound_is_too_large(void **state)
{
    char answer[4096];

    (void)state;
    memset(answer, 'a', sizeof(answer) - 1);
    answer[sizeof(answer) - 1] = '\0';
    memcpy(answer, "HTTP/1.1 200 OK\r\nx-big: ", 24);
    assert_int_equal(result_of(answer), GWF_HTTP_ERR_TOO_LARGE);
}

static void
test_malformed_heads_are_refused(void **state)
{
    (void)state;
    assert_int_equal(result_of("HTTP/2 200 OK\r\n\r\n"),
                     GWF_HTTP_ERR_MALFORMED);
    assert_int_equal(result_of("HTTP/1.1 2000 OK\r\n\r\n"),
                     GWF_HTTP_ERR_MALFORMED);
    assert_int_equal(result_of("HTTP/1.1 200 OK\r\nx-a : b\r\n\r\n"),
                     GWF_HTTP_ERR_MALFORMED);
    assert_int_equal(result_of("HTTP/1.1 200 OK\r\nx-a: b\r\n c\r\n\r\n"),
                     GWF_HTTP_ERR_MALFORMED);
    assert_int_equal(result_of("HTTP/1.1 200 OK\r\nx-a: b\rc\r\n\r\n"),
                     GWF_HTTP_ERR_MALFORMED);
    assert_int_equal(result_of("garbage\r\n\r\n"), GWF_HTTP_ERR_MALFORMED);
}

static void
test_interim_answers_are_skipped_but_101_is_refused(void **state)
{
    outcome o;

    (void)state;
    exchange_once("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Hints\r\n"
                  "Link: </a>\r\n\r\n" OK_ANSWER,
                  0, 2000, &o, NULL);
    assert_int_equal(o.result, GWF_HTTP_OK);
    assert_int_equal(o.status, 200);
    assert_int_equal(o.header_count, 2);
    assert_string_equal(o.first_header, "x-user: bench");
    assert_int_equal(result_of("HTTP/1.1 101 Switching Protocols\r\n"
                               "Upgrade: h2c\r\n\r\n"),
                     GWF_HTTP_ERR_FRAMING);
    assert_int_equal(result_of("HTTP/1.1 100 Continue\r\n\r\n"),
                     GWF_HTTP_ERR_TRUNCATED);
}

static void
test_no_body_for_204_and_304_and_head(void **state)
{
    outcome o;
    size_t idle = 0;
    peer p;
    rig r;
    gwf_http_exchange *x;

    (void)state;
    exchange_once("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", 0,
                  2000, &o, &idle);
    assert_int_equal(o.result, GWF_HTTP_OK);
    assert_int_equal(o.body_len, 0);
    assert_int_equal(idle, 1);
    exchange_once("HTTP/1.1 304 Not Modified\r\n\r\n", 0, 2000, &o, &idle);
    assert_int_equal(o.result, GWF_HTTP_OK);
    assert_int_equal(idle, 1);

    peer_start(&p, PEER_ANSWER, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
               0);
    rig_start(&r, p.port, NULL);
    x = gwf_http_exchange_new(r.pool, "HEAD", 4, "/", 1);
    memset(&o, 0, sizeof(o));
    assert_int_equal(
        gwf_http_exchange_start(x, NULL, 0, 2000 * NS_PER_MS, on_done, &o),
        GWF_OK);
    run_until_done(&r, &o);
    assert_int_equal(o.result, GWF_HTTP_OK);
    assert_int_equal(o.body_len, 0);
    assert_int_equal(gwf_http_pool_idle(r.pool), 1);
    rig_stop(&r);
    peer_stop(&p);
}

static void
test_body_until_close_when_no_length_is_given(void **state)
{
    outcome o;
    size_t idle = 1;

    (void)state;
    exchange_once("HTTP/1.1 403 Forbidden\r\n\r\nnot you", 0, 2000, &o, &idle);
    assert_int_equal(o.result, GWF_HTTP_OK);
    assert_int_equal(o.status, 403);
    assert_int_equal(o.body_len, 7);
    assert_memory_equal(o.body, "not you", 7);
    assert_int_equal(idle, 0);
}

static void
test_body_over_its_bound_is_too_large(void **state)
{
    static char answer[4096];
    size_t len;

    (void)state;
    len = (size_t)snprintf(answer, sizeof(answer),
                           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                           "\r\n");
    for (int i = 0; i < 3; i++) {
        len += (size_t)snprintf(answer + len, sizeof(answer) - len, "200\r\n");
        memset(answer + len, 'b', 0x200);
        len += 0x200;
        len += (size_t)snprintf(answer + len, sizeof(answer) - len, "\r\n");
    }
    answer[len] = '\0';
    assert_int_equal(result_of(answer), GWF_HTTP_ERR_TOO_LARGE);
    assert_int_equal(
        result_of("HTTP/1.1 200 OK\r\n\r\n"
                  "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
                  "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
                  "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
                  "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
                  "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
                  "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
                  "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
                  "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
                  "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
                  "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
                  "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
                  "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
                  "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
                  "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
                  "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
                  "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
                  "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
                  "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
                  "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
                  "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
                  "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"),
        GWF_HTTP_ERR_TOO_LARGE);
}

/* ---- timeouts and cancels ------------------------------------------------ */

static void
test_slowloris_peer_hits_the_timeout(void **state)
{
    peer p;
    rig r;
    outcome o;
    int64_t began;

    (void)state;
    peer_start(&p, PEER_DRIP, OK_ANSWER "padding that never ends......", 0);
    rig_start(&r, p.port, NULL);
    began = poll_host_now_ns();
    start_get(&r, &o, 150);
    run_until_done(&r, &o);
    assert_int_equal(o.result, GWF_HTTP_ERR_TIMEOUT);
    assert_true(poll_host_now_ns() - began >= 150 * NS_PER_MS);
    assert_int_equal(gwf_http_pool_open(r.pool), 0);
    rig_stop(&r);
    peer_stop(&p);
}

static void
test_cancel_while_connecting_leaves_nothing(void **state)
{
    peer p;
    rig r;
    outcome o;
    gwf_http_exchange *x;

    (void)state;
    peer_start(&p, PEER_ANSWER, OK_ANSWER, 0);
    rig_start(&r, p.port, NULL);
    x = gwf_http_exchange_new(r.pool, "GET", 3, "/", 1);
    assert_int_equal(
        gwf_http_exchange_start(x, NULL, 0, 2000 * NS_PER_MS, never_cb, &o),
        GWF_OK);
    assert_int_equal(gwf_http_pool_open(r.pool), 1);
    gwf_http_exchange_cancel(x);
    assert_int_equal(gwf_http_pool_open(r.pool), 0);
    assert_int_equal(poll_host_live_watches(&r.h), 0);
    assert_int_equal(poll_host_armed_timers(&r.h), 0);
    for (int i = 0; i < 5; i++)
        poll_host_turn(&r.h, 100);
    rig_stop(&r);
    peer_stop(&p);
}

static void
test_cancel_while_waiting_for_the_answer_leaves_nothing(void **state)
{
    peer p;
    rig r;
    gwf_http_exchange *x;
    int64_t until;

    (void)state;
    peer_start(&p, PEER_SILENT, NULL, 0);
    rig_start(&r, p.port, NULL);
    x = gwf_http_exchange_new(r.pool, "GET", 3, "/", 1);
    assert_int_equal(
        gwf_http_exchange_start(x, NULL, 0, 2000 * NS_PER_MS, never_cb, NULL),
        GWF_OK);
    until = poll_host_now_ns() + RUN_LIMIT_MS * NS_PER_MS;
    while (peer_count(&p, &p.requests) == 0 && poll_host_now_ns() < until)
        poll_host_turn(&r.h, 100);
    assert_int_equal(peer_count(&p, &p.requests), 1);
    gwf_http_exchange_cancel(x);
    /* Half an exchange cannot be told from the next one: closed. */
    assert_int_equal(gwf_http_pool_open(r.pool), 0);
    assert_int_equal(gwf_http_pool_idle(r.pool), 0);
    assert_int_equal(poll_host_live_watches(&r.h), 0);
    assert_int_equal(poll_host_armed_timers(&r.h), 0);
    rig_stop(&r);
    peer_stop(&p);
}

static void
test_cancel_of_a_waiting_exchange_leaves_the_others_running(void **state)
{
    peer p;
    rig r;
    outcome o[2];
    gwf_http_exchange *x;
    gwf_http_peer_options options = {.max_total = 1};
    int64_t until;

    (void)state;
    peer_start(&p, PEER_ANSWER, OK_ANSWER, 0);
    rig_start(&r, p.port, &options);
    start_get(&r, &o[0], 2000);
    x = gwf_http_exchange_new(r.pool, "GET", 3, "/", 1);
    assert_int_equal(
        gwf_http_exchange_start(x, NULL, 0, 2000 * NS_PER_MS, never_cb, NULL),
        GWF_OK);
    start_get(&r, &o[1], 2000);
    gwf_http_exchange_cancel(x); /* it waited for the one connection */
    until = poll_host_now_ns() + RUN_LIMIT_MS * NS_PER_MS;
    while (!(o[0].calls && o[1].calls) && poll_host_now_ns() < until)
        poll_host_turn(&r.h, 100);
    assert_int_equal(o[0].result, GWF_HTTP_OK);
    assert_int_equal(o[1].result, GWF_HTTP_OK);
    assert_int_equal(peer_count(&p, &p.requests), 2);
    rig_stop(&r);
    peer_stop(&p);
}

/* ---- the parser alone --------------------------------------------------- */

static void
test_parser_gives_the_same_answer_byte_by_byte(void **state)
{
    const char *answer = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                         "x-user: a\r\n\r\n4\r\nabcd\r\n2\r\nef\r\n0\r\n\r\n";
    char buf[256];
    size_t len = 0;
    gwf_http_parser p;
    int rc = GWF_HTTP_PARSE_MORE;

    (void)state;
    assert_int_equal(gwf_http_parser_init(&p, NULL, 0), GWF_OK);
    for (size_t i = 0; answer[i]; i++) {
        assert_int_equal(rc, GWF_HTTP_PARSE_MORE);
        buf[len++] = answer[i];
        rc = gwf_http_parse(&p, buf, &len, 0);
    }
    assert_int_equal(rc, GWF_HTTP_PARSE_DONE);
    assert_int_equal(p.status, 200);
    assert_int_equal(p.header_count, 2);
    assert_int_equal(p.body_len, 6);
    assert_memory_equal(buf + p.body_start, "abcdef", 6);
    assert_int_equal(p.end, len);
    assert_true(p.keep_alive);
    gwf_http_parser_free(&p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keep_alive_reuses_one_connection),
        cmocka_unit_test(
            test_idle_connection_gives_up_its_watch_after_the_grace),
        cmocka_unit_test(
            test_peer_closing_a_watched_idle_connection_drops_it_at_once),
        cmocka_unit_test(test_connection_closed_while_idle_is_dropped_not_used),
        cmocka_unit_test(test_stale_connection_is_retried_once_on_a_new_one),
        cmocka_unit_test(
            test_new_connection_failing_before_an_answer_is_not_retried),
        cmocka_unit_test(test_connection_close_answer_is_not_reused),
        cmocka_unit_test(test_bytes_after_the_answer_stop_reuse),
        cmocka_unit_test(test_max_total_makes_exchanges_wait_for_a_connection),
        cmocka_unit_test(test_leftover_bytes_never_reach_a_waiting_exchange),
        cmocka_unit_test(test_max_idle_closes_what_is_beyond_it),
        cmocka_unit_test(test_idle_timeout_closes_an_old_connection),
        cmocka_unit_test(
            test_refused_connection_is_connect_error_from_a_later_turn),
        cmocka_unit_test(test_every_address_of_a_name_is_tried_in_turn),
        cmocka_unit_test(
            test_unresolvable_name_is_refused_when_the_peer_is_built),
        cmocka_unit_test(
            test_request_line_and_headers_refuse_what_cannot_be_sent),
        cmocka_unit_test(test_body_goes_with_its_content_length),
        cmocka_unit_test(test_answer_before_the_request_is_written_is_read),
        cmocka_unit_test(
            test_connect_slower_than_its_timeout_is_a_connect_error),
        cmocka_unit_test(test_answer_cut_anywhere_is_truncated),
        cmocka_unit_test(test_denial_cut_short_keeps_its_status_for_the_caller),
        cmocka_unit_test(test_conflicting_lengths_are_framing_errors),
        cmocka_unit_test(test_bad_content_length_is_malformed),
        cmocka_unit_test(test_huge_chunk_size_is_refused),
        cmocka_unit_test(test_chunked_body_is_decoded_and_trailers_skipped),
        cmocka_unit_test(test_header_flood_is_too_many_headers),
        cmocka_unit_test(test_header_block_over_its_bound_is_too_large),
        cmocka_unit_test(test_malformed_heads_are_refused),
        cmocka_unit_test(test_interim_answers_are_skipped_but_101_is_refused),
        cmocka_unit_test(test_no_body_for_204_and_304_and_head),
        cmocka_unit_test(test_body_until_close_when_no_length_is_given),
        cmocka_unit_test(test_body_over_its_bound_is_too_large),
        cmocka_unit_test(test_slowloris_peer_hits_the_timeout),
        cmocka_unit_test(test_cancel_while_connecting_leaves_nothing),
        cmocka_unit_test(
            test_cancel_while_waiting_for_the_answer_leaves_nothing),
        cmocka_unit_test(
            test_cancel_of_a_waiting_exchange_leaves_the_others_running),
        cmocka_unit_test(test_parser_gives_the_same_answer_byte_by_byte),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
