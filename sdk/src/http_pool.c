/*
 * http_pool.c - peers (addresses resolved once, when the config is built)
 * and one worker's pool of kept-alive connections to a peer (see
 * gwf/sdk_http.h for the contract).
 *
 * A connection keeps one fd watch from its connect until it has been
 * idle for GWF_HTTP_IDLE_WATCH_NS (1 s): under traffic, reusing it costs
 * no host call at all, and a peer that closes it (or sends what no
 * request asked for) while it is idle makes its fd readable, which drops
 * it at once. Past that grace, one timer of the pool (not one per
 * connection) takes the watches of the connections idle that long away:
 * a worker without traffic then holds no async resource (the host's leak
 * gauge, gwf_async_active, returns to 0 as it did with libcurl's cache)
 * and costs no wakeups. Taking a connection always asks once more, with
 * one recv(MSG_PEEK) that must say "nothing yet" (bytes of this very
 * turn of the loop, or of the time it was not watched), else it is
 * closed and the next one tried.
 * Idle connections are a list, newest first: an exchange takes the newest
 * (warmest) one; those idle longer than idle_timeout are closed, oldest
 * first, whenever the pool is used (taken from or released to).
 *
 * Connecting is non-blocking: each address of the peer in turn, each
 * bounded by connect_timeout (a timer of the connection), until one
 * answers. The pool bounds the connections open at once (max_total); the
 * exchange waits for one otherwise (http_exchange.c).
 */
#include "http_pool.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int64_t
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- peers --------------------------------------------------------------- */

static void
set_err(char *err, size_t err_len, const char *fmt, const char *a,
        const char *b)
{
    if (err && err_len)
        snprintf(err, err_len, fmt, a, b);
}

gwf_status
gwf_http_peer_new(const char *host, unsigned port,
                  const gwf_http_peer_options *options, gwf_http_peer **out,
                  char *err, size_t err_len)
{
    struct addrinfo hints = {0}, *res = NULL, *ai;
    char service[8];
    gwf_http_peer *peer;
    size_t n = 0;
    int rc;

    *out = NULL;
    if (!host || !*host || port == 0 || port > 65535) {
        set_err(err, err_len, "%s%s", "no host, or a port out of range", "");
        return GWF_ERR_BAD_ARGUMENT;
    }
    snprintf(service, sizeof(service), "%u", port);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_NUMERICHOST;
    rc = getaddrinfo(host, service, &hints, &res);
    if (rc == EAI_NONAME) { /* a name: resolve it, now */
        hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
        rc = getaddrinfo(host, service, &hints, &res);
    }
    if (rc != 0) {
        set_err(err, err_len, "cannot resolve %s: %s", host, gai_strerror(rc));
        return GWF_ERR_BAD_ARGUMENT;
    }
    for (ai = res; ai; ai = ai->ai_next)
        n++;
    peer = calloc(1, sizeof(*peer));
    if (peer) {
        peer->addrs = calloc(n, sizeof(*peer->addrs));
        peer->addr_lens = calloc(n, sizeof(*peer->addr_lens));
    }
    if (!peer || !peer->addrs || !peer->addr_lens) {
        freeaddrinfo(res);
        gwf_http_peer_free(peer);
        set_err(err, err_len, "%s%s", "out of memory", "");
        return GWF_ERR_NO_MEMORY;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        if (ai->ai_addrlen > sizeof(*peer->addrs))
            continue;
        memcpy(&peer->addrs[peer->addr_count], ai->ai_addr, ai->ai_addrlen);
        peer->addr_lens[peer->addr_count++] = ai->ai_addrlen;
    }
    freeaddrinfo(res);
    if (peer->addr_count == 0) {
        gwf_http_peer_free(peer);
        set_err(err, err_len, "%s has no usable address%s", host, "");
        return GWF_ERR_BAD_ARGUMENT;
    }
    if (options)
        peer->options = *options;
    if (!peer->options.max_idle)
        peer->options.max_idle = GWF_HTTP_DEFAULT_MAX_IDLE;
    if (!peer->options.max_total)
        peer->options.max_total = GWF_HTTP_DEFAULT_MAX_TOTAL;
    if (peer->options.max_idle > peer->options.max_total)
        peer->options.max_idle = peer->options.max_total;
    if (!peer->options.idle_timeout_ns)
        peer->options.idle_timeout_ns = GWF_HTTP_DEFAULT_IDLE_TIMEOUT_NS;
    if (!peer->options.connect_timeout_ns)
        peer->options.connect_timeout_ns = GWF_HTTP_DEFAULT_CONNECT_TIMEOUT_NS;
    *out = peer;
    return GWF_OK;
}

void
gwf_http_peer_free(gwf_http_peer *peer)
{
    if (!peer)
        return;
    free(peer->addrs);
    free(peer->addr_lens);
    free(peer);
}

size_t
gwf_http_peer_addresses(const gwf_http_peer *peer)
{
    return peer ? peer->addr_count : 0;
}

/* ---- connections --------------------------------------------------------- */

static void on_conn_event(void *arg, int fd, uint32_t events);
static int idle_is_clean(const http_conn *conn);
static void on_connect_timeout(void *arg);

int
http_conn_watch(http_conn *conn, uint32_t events)
{
    const gwf_host *host = conn->pool->inst->host;

    if (conn->events == events)
        return 0;
    if (conn->events == CONN_UNWATCHED) {
        if (host->fd_watch(conn->pool->inst, NULL, conn->fd, events,
                           on_conn_event, conn, &conn->watch_id) != GWF_OK)
            return -1;
        conn->events = events;
        return 0;
    }
    if (host->fd_update(conn->pool->inst, conn->watch_id, events) != GWF_OK)
        return -1;
    conn->events = events;
    return 0;
}

static void
idle_unlink(gwf_http_pool *pool, http_conn *conn)
{
    if (conn->prev)
        conn->prev->next = conn->next;
    else
        pool->idle_head = conn->next;
    if (conn->next)
        conn->next->prev = conn->prev;
    else
        pool->idle_tail = conn->prev;
    conn->prev = conn->next = NULL;
    pool->idle_count--;
}

static void
connect_timer_stop(http_conn *conn)
{
    if (conn->timer_armed) {
        conn->pool->inst->host->timer_cancel(conn->pool->inst, conn->timer_id);
        conn->timer_armed = 0;
    }
}

/* The fd and its watch go; the record stays. */
static void
conn_drop_fd(http_conn *conn)
{
    if (conn->fd < 0)
        return;
    if (conn->events != CONN_UNWATCHED)
        conn->pool->inst->host->fd_cancel(conn->pool->inst, conn->watch_id);
    close(conn->fd);
    conn->fd = -1;
    conn->events = 0;
}

void
http_conn_close(http_conn *conn)
{
    gwf_http_pool *pool = conn->pool;
    gwf_http_exchange *waiter;

    if (conn->state == CONN_IDLE)
        idle_unlink(pool, conn);
    connect_timer_stop(conn);
    conn_drop_fd(conn);
    pool->open_count--;
    free(conn);
    /* A place is free: the oldest waiting exchange opens one. */
    if ((waiter = http_pool_next_waiter(pool)))
        http_exchange_resume_waiter(waiter, NULL);
}

/* Start connecting to address `from` or the next ones: 0 once one is
 * under way (or connected), -1 when none could start (`*result`). */
static int
conn_try(http_conn *conn, size_t from, gwf_http_result *result)
{
    gwf_http_pool *pool = conn->pool;
    const gwf_http_peer *peer = pool->peer;
    const gwf_host *host = pool->inst->host;

    *result = GWF_HTTP_ERR_CONNECT;
    for (size_t i = from; i < peer->addr_count; i++) {
        const struct sockaddr *sa = (const struct sockaddr *)&peer->addrs[i];
        int one = 1, fd;

        fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    0);
        if (fd < 0)
            continue;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (connect(fd, sa, peer->addr_lens[i]) != 0 && errno != EINPROGRESS) {
            close(fd);
            continue;
        }
        if (host->fd_watch(pool->inst, NULL, fd, GWF_FD_WRITE, on_conn_event,
                           conn, &conn->watch_id) != GWF_OK) {
            close(fd);
            *result = GWF_HTTP_ERR_NO_MEMORY;
            return -1;
        }
        conn->fd = fd;
        conn->events = GWF_FD_WRITE;
        conn->addr_index = i;
        if (host->timer_start(
                pool->inst, NULL, peer->options.connect_timeout_ns,
                on_connect_timeout, conn, &conn->timer_id) != GWF_OK) {
            conn_drop_fd(conn);
            *result = GWF_HTTP_ERR_NO_MEMORY;
            return -1;
        }
        conn->timer_armed = 1;
        return 0;
    }
    return -1;
}

http_conn *
http_pool_connect(gwf_http_pool *pool, gwf_http_exchange *x,
                  gwf_http_result *result)
{
    http_conn *conn = calloc(1, sizeof(*conn));

    *result = GWF_HTTP_ERR_NO_MEMORY;
    if (!conn)
        return NULL;
    conn->pool = pool;
    conn->fd = -1;
    conn->x = x;
    conn->state = CONN_CONNECTING;
    if (conn_try(conn, 0, result) != 0) {
        free(conn);
        return NULL;
    }
    pool->open_count++;
    return conn;
}

int
http_conn_reconnect(http_conn *conn, gwf_http_result *result)
{
    connect_timer_stop(conn);
    conn_drop_fd(conn);
    conn->state = CONN_CONNECTING;
    if (conn_try(conn, 0, result) == 0)
        return 0;
    conn->x = NULL;
    http_conn_close(conn);
    return -1;
}

/* This address failed or was too slow: the next one, or the exchange
 * fails. */
static void
connect_next(http_conn *conn)
{
    gwf_http_exchange *x = conn->x;
    gwf_http_result result;

    connect_timer_stop(conn);
    conn_drop_fd(conn);
    if (conn_try(conn, conn->addr_index + 1, &result) == 0)
        return;
    http_exchange_connect_failed(x); /* closes conn */
}

static void
on_connect_timeout(void *arg)
{
    http_conn *conn = arg;

    conn->timer_armed = 0;
    connect_next(conn);
}

static void
on_connect_event(http_conn *conn)
{
    int error = 0;
    socklen_t len = sizeof(error);

    if (getsockopt(conn->fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0)
        error = errno;
    if (error == EINPROGRESS || error == EALREADY)
        return;
    if (error) {
        connect_next(conn);
        return;
    }
    connect_timer_stop(conn);
    conn->state = CONN_BUSY;
    conn->pool->connects++;
    http_exchange_connected(conn->x);
}

static void
on_conn_event(void *arg, int fd, uint32_t events)
{
    http_conn *conn = arg;

    (void)fd;
    switch (conn->state) {
    case CONN_CONNECTING:
        on_connect_event(conn);
        break;
    case CONN_BUSY:
        http_exchange_io(conn->x, events);
        break;
    default:
        /* Idle: the peer closed it, or sent what nobody asked for. */
        http_conn_close(conn);
        break;
    }
}

/* ---- the pool ------------------------------------------------------------ */

gwf_http_pool *
gwf_http_pool_new(gwf_instance *inst, const gwf_http_peer *peer)
{
    gwf_http_pool *pool;

    if (!inst || !peer)
        return NULL;
    pool = calloc(1, sizeof(*pool));
    if (!pool)
        return NULL;
    pool->inst = inst;
    pool->peer = peer;
    return pool;
}

void
gwf_http_pool_free(gwf_http_pool *pool)
{
    if (!pool)
        return;
    /* No exchange is left (the contract), so no waiter either. */
    pool->wait_head = pool->wait_tail = NULL;
    while (pool->idle_head)
        http_conn_close(pool->idle_head);
    if (pool->grace_armed)
        pool->inst->host->timer_cancel(pool->inst, pool->grace_timer);
    free(pool->spare_buf);
    free(pool->spare_headers);
    free(pool);
}

size_t
gwf_http_pool_open(const gwf_http_pool *pool)
{
    return pool ? pool->open_count : 0;
}

size_t
gwf_http_pool_idle(const gwf_http_pool *pool)
{
    return pool ? pool->idle_count : 0;
}

uint64_t
gwf_http_pool_connects(const gwf_http_pool *pool)
{
    return pool ? pool->connects : 0;
}

/* Idle connections watched for longer than GWF_HTTP_IDLE_WATCH_NS give
 * up their watch; the pool's one timer runs while some are watched. */
static void on_grace(void *arg);

static void
grace_arm(gwf_http_pool *pool)
{
    if (pool->grace_armed)
        return;
    if (pool->inst->host->timer_start(pool->inst, NULL, GWF_HTTP_IDLE_WATCH_NS,
                                      on_grace, pool,
                                      &pool->grace_timer) == GWF_OK)
        pool->grace_armed = 1;
}

static void
on_grace(void *arg)
{
    gwf_http_pool *pool = arg;
    int64_t now = now_ns();
    int watched = 0;

    pool->grace_armed = 0;
    /* Oldest first: past the first one younger than the grace, all are. */
    for (http_conn *conn = pool->idle_tail; conn; conn = conn->prev) {
        if (conn->events == CONN_UNWATCHED)
            continue;
        if (now - conn->idle_since_ns < (int64_t)GWF_HTTP_IDLE_WATCH_NS) {
            watched = 1;
            break;
        }
        pool->inst->host->fd_cancel(pool->inst, conn->watch_id);
        conn->events = CONN_UNWATCHED;
    }
    if (watched)
        grace_arm(pool);
}

/* Close the idle connections past idle_timeout, oldest first. */
static void
expire_idle(gwf_http_pool *pool, int64_t now)
{
    int64_t idle_ns = (int64_t)pool->peer->options.idle_timeout_ns;

    while (pool->idle_tail && now - pool->idle_tail->idle_since_ns >= idle_ns)
        http_conn_close(pool->idle_tail);
}

/* Nothing came on an idle connection: the peer has neither closed it
 * nor sent anything no request asked for. */
static int
idle_is_clean(const http_conn *conn)
{
    char byte;
    ssize_t n = recv(conn->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);

    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

http_conn *
http_pool_take_idle(gwf_http_pool *pool, gwf_http_exchange *x)
{
    http_conn *conn;

    if (!pool->idle_head)
        return NULL;
    expire_idle(pool, now_ns());
    while ((conn = pool->idle_head)) {
        idle_unlink(pool, conn);
        conn->state = CONN_BUSY;
        /* Asked even when still watched: bytes that came in this very
         * turn of the loop have not been seen by the watch yet, and what
         * follows must be the answer to our request, nothing older. */
        if (!idle_is_clean(conn) || http_conn_watch(conn, GWF_FD_READ) != 0) {
            http_conn_close(conn);
            continue;
        }
        conn->x = x;
        return conn;
    }
    return NULL;
}

void
http_pool_release(http_conn *conn, int reusable)
{
    gwf_http_pool *pool = conn->pool;
    gwf_http_exchange *waiter;
    int64_t now;

    conn->x = NULL;
    if (!reusable || pool->idle_count >= pool->peer->options.max_idle) {
        http_conn_close(conn);
        return;
    }
    conn->served++;
    /* Handed straight to a waiter, it skips http_pool_take_idle's check:
     * bytes already there (an answer that ended exactly at the end of
     * the read buffer, with more behind it) were asked for by nobody. */
    if (pool->wait_head && !idle_is_clean(conn)) {
        http_conn_close(conn); /* the waiter gets a new connection */
        return;
    }
    if ((waiter = http_pool_next_waiter(pool))) {
        conn->x = waiter;
        http_exchange_resume_waiter(waiter, conn);
        return;
    }
    /* Keeps its READ watch for now (grace_arm). */
    conn->state = CONN_IDLE;
    now = now_ns();
    conn->idle_since_ns = now;
    conn->prev = NULL;
    conn->next = pool->idle_head;
    if (pool->idle_head)
        pool->idle_head->prev = conn;
    else
        pool->idle_tail = conn;
    pool->idle_head = conn;
    pool->idle_count++;
    expire_idle(pool, now);
    grace_arm(pool);
}
