/*
 * h2_conn.c - one cleartext HTTP/2 connection of a gRPC client
 * (gwf/sdk_grpc.h): the socket, its connect sequence over the peer's
 * addresses, libnghttp2's client session, and the bytes both ways.
 *
 * The session is driven with nghttp2's memory interface: what arrives
 * is read here and handed to nghttp2_session_mem_recv, what it has to
 * send is gathered from nghttp2_session_mem_send into one buffer and
 * written with one send() (a burst of calls leaves in one segment).
 * While the socket does not take all of it, the connection stops asking
 * nghttp2 for more: the buffer holds at most H2_OUT_SOFT bytes plus one
 * frame, whatever the peer does.
 *
 * A connection dies once (h2_conn_fail): its calls fail, the socket and
 * the watch and timer go at once; the memory (and the session, which may
 * be the one calling us) goes when no handler of the connection runs.
 */
#include "grpc_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Gather at most this much before writing (then one more chunk). */
#define H2_OUT_SOFT GWF_GRPC_WRITE_BUFFER
/* Reads per readable event: other connections get their turn. */
#define H2_READS_PER_EVENT 8
#define H2_READ_CHUNK (16 * 1024)
/* The stream window we announce (the answers are small). */
#define H2_WINDOW (1024 * 1024)

static void on_io(void *arg, int fd, uint32_t events);
static void on_timer(void *arg);

static void
timer_stop(h2_conn *conn)
{
    if (conn->timer_armed) {
        conn->client->inst->host->timer_cancel(conn->client->inst,
                                               conn->timer_id);
        conn->timer_armed = 0;
    }
}

static int
timer_arm(h2_conn *conn, uint64_t ns)
{
    timer_stop(conn);
    if (conn->client->inst->host->timer_start(conn->client->inst, NULL, ns,
                                              on_timer, conn,
                                              &conn->timer_id) != GWF_OK)
        return -1;
    conn->timer_armed = 1;
    return 0;
}

static void
socket_close(h2_conn *conn)
{
    gwf_instance *inst = conn->client->inst;

    if (conn->watching) {
        inst->host->fd_cancel(inst, conn->watch_id);
        conn->watching = 0;
    }
    if (conn->fd >= 0) {
        close(conn->fd);
        conn->fd = -1;
    }
}

static int
watch_set(h2_conn *conn, uint32_t events)
{
    gwf_instance *inst = conn->client->inst;

    if (conn->watching) {
        if (events == conn->events)
            return 0;
        if (inst->host->fd_update(inst, conn->watch_id, events) != GWF_OK)
            return -1;
    } else if (inst->host->fd_watch(inst, NULL, conn->fd, events, on_io, conn,
                                    &conn->watch_id) != GWF_OK) {
        return -1;
    }
    conn->watching = 1;
    conn->events = events;
    return 0;
}

static void
watch_stop(h2_conn *conn)
{
    if (conn->watching) {
        conn->client->inst->host->fd_cancel(conn->client->inst, conn->watch_id);
        conn->watching = 0;
    }
}

static void
unlink_conn(h2_conn *conn)
{
    gwf_grpc_client *client = conn->client;

    if (conn->prev)
        conn->prev->next = conn->next;
    else if (client->conns == conn)
        client->conns = conn->next;
    if (conn->next)
        conn->next->prev = conn->prev;
    conn->prev = conn->next = NULL;
}

static void
conn_free(h2_conn *conn)
{
    timer_stop(conn);
    socket_close(conn);
    if (conn->state != CONN_DEAD)
        conn->client->nconns--;
    unlink_conn(conn);
    nghttp2_session_del(conn->session);
    free(conn->out);
    free(conn);
}

void
h2_conn_destroy(h2_conn *conn)
{
    while (conn->calls.head) {
        gwf_grpc_call *call = conn->calls.head;
        grpc_list_unlink(&conn->calls, call);
        grpc_call_free(call);
    }
    conn_free(conn);
}

void
h2_conn_fail(h2_conn *conn, const char *why)
{
    if (conn->state == CONN_DEAD)
        return;
    conn->state = CONN_DEAD;
    conn->client->nconns--;
    timer_stop(conn);
    socket_close(conn);
    while (conn->calls.head) {
        gwf_grpc_call *call = conn->calls.head;
        /* Retryable only when nothing of an answer came: the peer may
         * have processed a call it began to answer. */
        grpc_call_fail(call, GWF_GRPC_FAILED, why, call->http_status == 0);
    }
    if (!conn->busy)
        conn_free(conn);
}

void
h2_conn_close_if_idle(h2_conn *conn)
{
    if (conn->state == CONN_DRAINING && conn->calls.count == 0) {
        conn->state = CONN_DEAD;
        conn->client->nconns--;
        timer_stop(conn);
        socket_close(conn);
        if (!conn->busy)
            conn_free(conn);
    }
}

int
h2_conn_has_room(const h2_conn *conn)
{
    uint32_t max;

    if (conn->state != CONN_CONNECTING && conn->state != CONN_OPEN)
        return 0;
    max = conn->settings_seen
              ? nghttp2_session_get_remote_settings(
                    conn->session, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS)
              : conn->client->known_max_streams;
    return conn->calls.count < max;
}

/* ---- connecting ---------------------------------------------------------- */

static void connected(h2_conn *conn);

/* Try addrs[addr_at] and the ones after it until one connects or is
 * connecting. Fails the connection when none is left. */
static void
connect_next(h2_conn *conn)
{
    const gwf_grpc_peer *peer = conn->client->peer;
    int one = 1;

    socket_close(conn);
    for (; conn->addr_at < peer->count; conn->addr_at++) {
        int fd = socket(peer->addrs[conn->addr_at].family,
                        SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        conn->fd = fd;
        if (connect(fd, (const struct sockaddr *)&peer->addrs[conn->addr_at].sa,
                    peer->addrs[conn->addr_at].len) == 0) {
            connected(conn);
            return;
        }
        if (errno == EINPROGRESS) {
            if (watch_set(conn, GWF_FD_WRITE) == 0 &&
                timer_arm(conn, peer->connect_timeout_ns) == 0)
                return;
        }
        socket_close(conn);
    }
    h2_conn_fail(conn, "cannot connect to the gRPC peer");
}

static void
connected(h2_conn *conn)
{
    conn->state = CONN_OPEN;
    /* The same bound for the peer's first SETTINGS: a peer that accepts
     * and never speaks HTTP/2 fails the calls before their deadlines. */
    if (timer_arm(conn, conn->client->peer->connect_timeout_ns) != 0) {
        h2_conn_fail(conn, "cannot start a timer");
        return;
    }
    h2_conn_flush(conn);
}

static void
connect_result(h2_conn *conn)
{
    int err = 0;
    socklen_t len = sizeof(err);

    if (getsockopt(conn->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    if (err == 0) {
        connected(conn);
        return;
    }
    conn->addr_at++;
    connect_next(conn);
}

/* ---- bytes both ways ------------------------------------------------------
 */

static int
out_reserve(h2_conn *conn, size_t more)
{
    size_t want = conn->out_len + more;
    uint8_t *grown;

    if (want <= conn->out_cap)
        return 0;
    if (want < 2 * conn->out_cap)
        want = 2 * conn->out_cap;
    if (!(grown = realloc(conn->out, want)))
        return -1;
    conn->out = grown;
    conn->out_cap = want;
    return 0;
}

/* Pull what the session has to send into `out`, up to H2_OUT_SOFT. 0,
 * or -1 (the session failed, or out of memory). */
static int
gather(h2_conn *conn)
{
    while (conn->out_len < H2_OUT_SOFT) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(conn->session, &data);

        if (n < 0)
            return -1;
        if (n == 0)
            break;
        if (out_reserve(conn, (size_t)n) != 0)
            return -1;
        memcpy(conn->out + conn->out_len, data, (size_t)n);
        conn->out_len += (size_t)n;
    }
    return 0;
}

int
h2_conn_flush(h2_conn *conn)
{
    uint32_t events = GWF_FD_READ;

    /* This write takes what was due (a connecting one writes it all once
     * connected). */
    conn->flush_due = 0;
    if (conn->state == CONN_DEAD || conn->state == CONN_CONNECTING)
        return 0;
    for (;;) {
        if (conn->out_off == conn->out_len) {
            conn->out_off = conn->out_len = 0;
            if (gather(conn) != 0) {
                h2_conn_fail(conn, "the HTTP/2 session failed");
                return -1;
            }
            if (conn->out_len == 0)
                break;
        }
        ssize_t n = send(conn->fd, conn->out + conn->out_off,
                         conn->out_len - conn->out_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                events |= GWF_FD_WRITE;
                break;
            }
            h2_conn_fail(conn, "cannot write to the gRPC peer");
            return -1;
        }
        conn->out_off += (size_t)n;
    }
    if (!nghttp2_session_want_read(conn->session) &&
        !nghttp2_session_want_write(conn->session) &&
        conn->out_off == conn->out_len) {
        /* The session ended: after the peer's GOAWAY, or because the
         * peer broke the protocol (nghttp2 sent GOAWAY itself). */
        h2_conn_fail(conn, conn->goaway_seen
                               ? "the gRPC peer closed the connection"
                               : "the gRPC peer broke the HTTP/2 protocol");
        return -1;
    }
    if (conn->calls.count == 0 && conn->settings_seen &&
        !(events & GWF_FD_WRITE)) {
        /* Idle: no watch (the host counts a watch as work in flight).
         * What the peer sends meanwhile (a GOAWAY, its close) is read
         * when a call wants the connection again (h2_conn_revive). */
        watch_stop(conn);
        return 0;
    }
    if (watch_set(conn, events) != 0) {
        h2_conn_fail(conn, "cannot watch the connection");
        return -1;
    }
    return 0;
}

static void
read_some(h2_conn *conn)
{
    uint8_t buf[H2_READ_CHUNK];

    for (int i = 0; i < H2_READS_PER_EVENT && conn->state != CONN_DEAD; i++) {
        ssize_t n = recv(conn->fd, buf, sizeof(buf), 0);
        ssize_t used;

        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            h2_conn_fail(conn, "the connection to the gRPC peer broke");
            return;
        }
        if (n == 0) {
            h2_conn_fail(conn, "the gRPC peer closed the connection");
            return;
        }
        used = nghttp2_session_mem_recv(conn->session, buf, (size_t)n);
        if (used < 0) {
            h2_conn_fail(conn, "the gRPC peer broke the HTTP/2 protocol");
            return;
        }
        if ((size_t)n < sizeof(buf))
            return;
    }
}

int
h2_conn_revive(h2_conn *conn)
{
    char byte;
    ssize_t n;

    if (conn->watching || conn->state != CONN_OPEN)
        return 0;
    n = recv(conn->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    conn->busy++;
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
        h2_conn_fail(conn, "the gRPC peer closed the connection");
    else if (n > 0)
        read_some(conn); /* a GOAWAY, a PING, its SETTINGS changes */
    /* A GOAWAY while idle: it takes no call any more, and nothing else
     * would ever close it. */
    h2_conn_close_if_idle(conn);
    conn->busy--;
    if (conn->state == CONN_DEAD) {
        conn_free(conn);
        return -1;
    }
    return 0;
}

static void
on_io(void *arg, int fd, uint32_t events)
{
    h2_conn *conn = arg;
    gwf_grpc_client *client = conn->client;

    (void)fd;
    client->in_handler++;
    conn->busy++;
    if (conn->state == CONN_CONNECTING) {
        if (events & (GWF_FD_WRITE | GWF_FD_ERROR))
            connect_result(conn);
    } else if (conn->state != CONN_DEAD) {
        if (events & (GWF_FD_READ | GWF_FD_ERROR))
            read_some(conn);
        h2_conn_flush(conn);
    }
    conn->busy--;
    if (conn->state == CONN_DEAD && !conn->busy)
        conn_free(conn);
    else
        h2_conn_close_if_idle(conn);
    client->in_handler--;
    grpc_client_after_event(client);
}

static void
on_timer(void *arg)
{
    h2_conn *conn = arg;
    gwf_grpc_client *client = conn->client;

    conn->timer_armed = 0;
    client->in_handler++;
    if (conn->state == CONN_CONNECTING) {
        conn->addr_at++;
        connect_next(conn);
    } else if (!conn->settings_seen) {
        h2_conn_fail(conn, "the gRPC peer sent no HTTP/2 SETTINGS in time");
    }
    client->in_handler--;
    grpc_client_after_event(client);
}

/* ---- session callbacks of the connection itself -------------------------- */

static int
on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *arg)
{
    h2_conn *conn = arg;

    if (frame->hd.type == NGHTTP2_SETTINGS &&
        !(frame->hd.flags & NGHTTP2_FLAG_ACK)) {
        if (!conn->settings_seen) {
            conn->settings_seen = 1;
            timer_stop(conn);
        }
        conn->client->known_max_streams = nghttp2_session_get_remote_settings(
            session, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
        return 0;
    }
    if (frame->hd.type == NGHTTP2_GOAWAY) {
        conn->goaway_seen = 1;
        if (conn->state == CONN_OPEN || conn->state == CONN_CONNECTING) {
            conn->state = CONN_DRAINING;
        }
        grpc_on_goaway(conn, frame->goaway.last_stream_id);
        return 0;
    }
    return grpc_on_frame_recv(session, frame, arg);
}

h2_conn *
h2_conn_new(gwf_grpc_client *client)
{
    static const nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, H2_WINDOW},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, GRPC_MAX_HEADER_BYTES},
    };
    nghttp2_session_callbacks *cbs = NULL;
    h2_conn *conn = calloc(1, sizeof(*conn));

    if (!conn)
        return NULL;
    conn->client = client;
    conn->serial = ++client->conn_serials;
    conn->fd = -1;
    if (nghttp2_session_callbacks_new(&cbs) != 0) {
        free(conn);
        return NULL;
    }
    grpc_call_set_callbacks(cbs);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    if (nghttp2_session_client_new(&conn->session, cbs, conn) != 0) {
        nghttp2_session_callbacks_del(cbs);
        free(conn);
        return NULL;
    }
    nghttp2_session_callbacks_del(cbs);
    if (nghttp2_submit_settings(conn->session, NGHTTP2_FLAG_NONE, settings,
                                sizeof(settings) / sizeof(settings[0])) != 0) {
        nghttp2_session_del(conn->session);
        free(conn);
        return NULL;
    }
    conn->next = client->conns;
    if (client->conns)
        client->conns->prev = conn;
    client->conns = conn;
    client->nconns++;
    conn->state = CONN_CONNECTING;
    /* The caller submits its call before anything is written: a connect
     * that fails at once would fail no call. So the first try happens
     * from the caller, after it submitted (h2_conn_start). */
    return conn;
}

void
h2_conn_start(h2_conn *conn)
{
    conn->busy++;
    connect_next(conn);
    conn->busy--;
    if (conn->state == CONN_DEAD)
        conn_free(conn);
}
