/*
 * redis_conn.c - one connection to one Redis node, on the host's loop,
 * plain or over TLS.
 *
 * hiredis 0.14's async context owns its socket and reads it itself, so
 * TLS cannot go under it, and it trusts Redis (a reply with no command
 * waiting trips an assert; a huge array header is allocated as such).
 * So the connection is ours: a non-blocking socket (each address of the
 * node tried in turn, in the resolver's order, until one accepts), an
 * optional OpenSSL session on it, one output buffer and one fd watch
 * (fd_watch / fd_update / fd_cancel). hiredis stays the protocol parser:
 * what is read is fed to its redisReader, whose reply objects are built
 * by our bounded builders below (one reused rl_reply, never allocated;
 * arrays bounded to RL_MAX_ARRAY) or, for a request that asks for its
 * reply whole, by the builder it names (redis_tree.c's reply tree).
 *
 * Writes: commands are formatted straight into the output buffer by the
 * client (rl_conn_room / rl_conn_commit) or here (rl_conn_send), and the
 * buffer is written by a timer of no delay once the loop turn's events
 * are handled - one write for everything the turn queued (pipelining),
 * with no fd_update; what the socket did not take waits for the watch
 * to report it writable. Commands queued while
 * connecting wait in the buffer: nothing is written before the TCP
 * connect, the TLS handshake and AUTH / SELECT have succeeded (the setup
 * commands are put in front of the buffer when the transport is up, and
 * only they are written until they are answered), so nothing ever runs
 * unauthenticated or in the wrong database.
 *
 * Replies are matched in order to the FIFO of requests owed replies
 * (`owed`, intrusive: no allocation per command); a reply with no
 * request, a malformed reply, a read or write error, or the peer closing
 * ends the connection. Ending is one path (conn_gone): the client hears
 * why first (on_gone, e.g. to start its backoff), then every owed
 * request is answered with no reply, exactly once. A client callback
 * may end the connection it is called from (rl_conn_free): `busy`
 * counts the callbacks on the stack and the memory goes when the
 * outermost returns; until then every path checks `state`.
 *
 * TLS: the SSL_CTX is the config's (rl_tls_ctx_new, files read once at
 * load). Per connection: SNI with the server name (not for an IP
 * literal), the peer's certificate checked against that name or IP
 * (SSL_set1_host / X509_VERIFY_PARAM_set1_ip_asc) unless the config says
 * not to, and SSL_connect / SSL_read / SSL_write mapped onto the watch
 * (WANT_READ / WANT_WRITE; SSL_read is repeated until it wants to read,
 * which drains what OpenSSL buffered). A failed handshake is a failed
 * attempt on that address, logged with OpenSSL's reason; an orderly
 * close sends close_notify. OpenSSL's error queue is per thread and
 * shared with the host (nginx): it is cleared before each call and after
 * each failure is read.
 */
#include "redis_conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <hiredis/hiredis.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rate_limit.h"

enum {
    ST_CONNECTING, /* TCP connect under way */
    ST_HANDSHAKE,  /* TLS handshake under way */
    ST_SETUP,      /* AUTH / SELECT written, not all answered */
    ST_READY,
    ST_GONE,
};

/* What one read takes from the socket (or from OpenSSL). */
#define RL_READ_CHUNK 16384

struct rl_conn {
    rl_conn_params p;
    const rl_conn_ops *ops;
    void *owner;
    int state;
    int fd;
    SSL *ssl;
    int ssl_wants_write; /* the last SSL_read / SSL_write wanted to write */
    size_t addr_next;    /* the next address to try */
    const char *addr;    /* the one being tried / used */
    int watching;
    uint64_t watch_id;
    uint32_t events;
    int flush_armed; /* flush_timer runs do_write after this loop turn */
    uint64_t flush_timer;
    redisReader *reader;
    redisReplyObjectFunctions fns; /* ours, writable as hiredis wants */
    rl_reply reply;
    char nested_obj; /* what nested reply objects point to */
    char *obuf;
    size_t olen, ooff, ocap;
    size_t setup_end;       /* in ST_SETUP, write no further than this */
    unsigned setup_pending; /* AUTH / SELECT replies still owed */
    int setup_kinds[2];     /* which, in order */
    rl_conn_req *owed, **owed_tail;
    uint64_t replies; /* delivered to requests, ever */
    unsigned busy;
    int freed;
    char why[256];
    const char *owed_why; /* set when gone: what owed requests hear */
};

enum { SETUP_AUTH, SETUP_SELECT };

/* -- RESP formatting ----------------------------------------------------- */

char *
rl_resp_line(char *p, char c, uint64_t n)
{
    *p++ = c;
    p += gwf_u64_text(p, n);
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

char *
rl_resp_bulk(char *p, const char *data, size_t len)
{
    p = rl_resp_line(p, '$', len);
    memcpy(p, data, len);
    p += len;
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

/* -- The watch ----------------------------------------------------------- */

static void on_fd(void *arg, int fd, uint32_t events);

static void
watch_set(rl_conn *c, uint32_t events)
{
    gwf_instance *inst = c->p.inst;

    if (c->watching && events == c->events)
        return;
    c->events = events;
    if (!c->watching) {
        if (inst->host->fd_watch(inst, NULL, c->fd, events, on_fd, c,
                                 &c->watch_id) == GWF_OK)
            c->watching = 1;
        else
            gwf_logf(inst, GWF_LOG_ERROR,
                     "rate_limit: cannot watch the Redis socket");
        return;
    }
    inst->host->fd_update(inst, c->watch_id, events);
}

/* What the watch should wait for now. */
static void
watch_refresh(rl_conn *c)
{
    uint32_t events = GWF_FD_READ;
    size_t limit = c->state == ST_SETUP ? c->setup_end : c->olen;

    if (c->state == ST_GONE || c->fd < 0)
        return;
    if (c->state == ST_CONNECTING) {
        watch_set(c, GWF_FD_WRITE);
        return;
    }
    if (c->state == ST_HANDSHAKE)
        return; /* handshake() sets it from what OpenSSL wants */
    if (c->ooff < limit || c->ssl_wants_write)
        events |= GWF_FD_WRITE;
    watch_set(c, events);
}

/* -- Transport ------------------------------------------------------------ */

/* Stop watching and close this attempt's socket (and TLS session; with
 * close_notify when `orderly` and the session is up). */
static void
transport_close(rl_conn *c, int orderly)
{
    if (c->flush_armed) {
        c->p.inst->host->timer_cancel(c->p.inst, c->flush_timer);
        c->flush_armed = 0;
    }
    if (c->watching) {
        c->p.inst->host->fd_cancel(c->p.inst, c->watch_id);
        c->watching = 0;
    }
    c->events = 0;
    if (c->ssl) {
        if (orderly && SSL_is_init_finished(c->ssl)) {
            ERR_clear_error();
            (void)SSL_shutdown(c->ssl); /* sends close_notify; no wait */
        }
        SSL_free(c->ssl);
        c->ssl = NULL;
        ERR_clear_error();
    }
    c->ssl_wants_write = 0;
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
}

/* OpenSSL's reason for the failure just seen (and the queue cleared). */
static const char *
ssl_reason(rl_conn *c, char *buf, size_t len)
{
    unsigned long e = ERR_peek_last_error();
    long verify = c->ssl ? SSL_get_verify_result(c->ssl) : X509_V_OK;

    if (verify != X509_V_OK)
        snprintf(buf, len, "certificate verify failed (%s)",
                 X509_verify_cert_error_string(verify));
    else if (e)
        snprintf(buf, len, "%s",
                 ERR_reason_error_string(e) ? ERR_reason_error_string(e)
                                            : "TLS error");
    else
        snprintf(buf, len, "%s",
                 errno ? strerror(errno) : "connection closed by the peer");
    ERR_clear_error();
    return buf;
}

/* c->why = "<what>: <the TLS reason>" (ssl_reason); returns c->why. */
static const char *
tls_why(rl_conn *c, const char *what)
{
    char reason[160];

    snprintf(c->why, sizeof(c->why), "%s: %s", what,
             ssl_reason(c, reason, sizeof(reason)));
    return c->why;
}

static void attempt_failed(rl_conn *c, const char *why);
static void conn_gone_for(rl_conn *c, const char *why, const char *req_why);
#define conn_gone(c, why) conn_gone_for((c), (why), NULL)
static int connect_next(rl_conn *c);

static int
is_ip_literal(const char *name)
{
    struct in6_addr a6;
    struct in_addr a4;

    return inet_pton(AF_INET, name, &a4) == 1 ||
           inet_pton(AF_INET6, name, &a6) == 1;
}

/* A TLS session on the connected socket: 0, or -1 (the attempt fails). */
static int
tls_start(rl_conn *c)
{
    const char *name = c->p.server_name ? c->p.server_name : c->p.host;
    int literal = is_ip_literal(name);

    ERR_clear_error();
    if (!(c->ssl = SSL_new(c->p.tls)) || SSL_set_fd(c->ssl, c->fd) != 1)
        return -1;
    SSL_set_connect_state(c->ssl);
    if (!literal && SSL_set_tlsext_host_name(c->ssl, name) != 1)
        return -1;
    if (c->p.verify_name) {
        if (literal ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl),
                                                    name) != 1
                    : SSL_set1_host(c->ssl, name) != 1)
            return -1;
    }
    return 0;
}

static void setup_start(rl_conn *c);

/* Drive the handshake: done (setup starts), waiting, or failed. */
static void
handshake(rl_conn *c)
{
    int rc;

    ERR_clear_error();
    errno = 0;
    rc = SSL_connect(c->ssl);
    if (rc == 1) {
        setup_start(c);
        return;
    }
    switch (SSL_get_error(c->ssl, rc)) {
    case SSL_ERROR_WANT_READ:
        watch_set(c, GWF_FD_READ);
        return;
    case SSL_ERROR_WANT_WRITE:
        watch_set(c, GWF_FD_WRITE);
        return;
    default:
        break;
    }
    attempt_failed(c, tls_why(c, "TLS handshake failed"));
}

/* The TCP connect finished (writable) or failed. */
static void
connect_done(rl_conn *c)
{
    int err = 0;
    socklen_t len = sizeof(err);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    if (err != 0) {
        attempt_failed(c, strerror(err));
        return;
    }
    if (!c->p.tls) {
        setup_start(c);
        return;
    }
    c->state = ST_HANDSHAKE;
    if (tls_start(c) != 0) {
        attempt_failed(c, tls_why(c, "TLS setup failed"));
        return;
    }
    handshake(c);
}

/* Start a TCP connect to `addr`: 0 if under way, else -1 (logged). */
static int
connect_to(rl_conn *c, const char *addr)
{
    struct addrinfo hints, *ai = NULL;
    char port[16];
    int one = 1, rc;

    c->addr = addr;
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    snprintf(port, sizeof(port), "%d", c->p.port);
    if ((rc = getaddrinfo(addr, port, &hints, &ai)) != 0) {
        gwf_logf(c->p.inst, GWF_LOG_INFO, "rate_limit: Redis %s:%d at %s: %s",
                 c->p.host, c->p.port, addr, gai_strerror(rc));
        return -1;
    }
    c->fd =
        socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || (connect(c->fd, ai->ai_addr, ai->ai_addrlen) != 0 &&
                      errno != EINPROGRESS)) {
        gwf_logf(c->p.inst, GWF_LOG_INFO, "rate_limit: Redis %s:%d at %s: %s",
                 c->p.host, c->p.port, addr, strerror(errno));
        freeaddrinfo(ai);
        transport_close(c, 0);
        return -1;
    }
    freeaddrinfo(ai);
    (void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->state = ST_CONNECTING;
    watch_refresh(c);
    if (!c->watching) {
        transport_close(c, 0);
        return -1;
    }
    return 0;
}

/* The next address that starts an attempt: 0, or -1 when none is left. */
static int
connect_next(rl_conn *c)
{
    while (c->addr_next < c->p.addr_count)
        if (connect_to(c, c->p.addrs[c->addr_next++]) == 0)
            return 0;
    return -1;
}

/* This attempt failed before talking: the next address, or, when none
 * is left, the connection is gone. */
static void
attempt_failed(rl_conn *c, const char *why)
{
    char last[192];

    snprintf(last, sizeof(last), "%s", why);
    gwf_logf(c->p.inst, GWF_LOG_INFO, "rate_limit: Redis %s:%d at %s: %s",
             c->p.host, c->p.port, c->addr ? c->addr : "-", last);
    transport_close(c, 0);
    if (connect_next(c) == 0)
        return;
    /* The client logs the last reason once; its requests need not. */
    snprintf(c->why, sizeof(c->why),
             "no address accepted the connection (last: %.150s)", last);
    conn_gone_for(c, c->why, "no address accepted the connection");
}

/* -- Ending --------------------------------------------------------------- */

/* Answer every owed request with no reply, once. */
static void
fail_owed(rl_conn *c, const char *why)
{
    rl_conn_req *req = c->owed;

    c->owed = NULL;
    c->owed_tail = &c->owed;
    while (req) {
        rl_conn_req *next = req->next;
        req->next = NULL;
        req->on_reply(req, NULL, why);
        req = next;
    }
}

static void
conn_destroy(rl_conn *c)
{
    if (c->reader)
        redisReaderFree(c->reader);
    free(c->obuf);
    free(c);
}

/* The connection is gone by itself: the client hears why, then the owed
 * requests are answered (with `req_why`; NULL: "no reply" once anything
 * was written, else `why`). */
static void
conn_gone_for(rl_conn *c, const char *why, const char *req_why)
{
    if (!req_why)
        req_why = c->state >= ST_SETUP ? "no reply (connection lost)" : why;
    if (c->state == ST_GONE)
        return;
    transport_close(c, 0);
    c->state = ST_GONE;
    c->owed_why = req_why;
    c->busy++;
    c->ops->on_gone(c->owner, c, why);
    fail_owed(c, req_why);
    if (--c->busy == 0 && c->freed)
        conn_destroy(c);
}

void
rl_conn_free(rl_conn *c, const char *why)
{
    if (!c || c->freed)
        return;
    c->freed = 1;
    transport_close(c, c->state == ST_SETUP || c->state == ST_READY);
    c->state = ST_GONE;
    c->busy++;
    fail_owed(c, why           ? why
                 : c->owed_why ? c->owed_why
                               : "no reply (connection lost)");
    if (--c->busy == 0)
        conn_destroy(c);
}

/* -- Reading replies ------------------------------------------------------
 *
 * The bounded builders: the root of a reply is c->reply; an element
 * only marks its slot in the root; deeper ones are nothing of ours.
 * Never NULL (the reader would take that for no memory). */

static void *
reply_object(const redisReadTask *task, int type)
{
    rl_conn *c = task->privdata;
    rl_reply *reply = &c->reply;

    if (!task->parent) {
        reply->type = type;
        reply->integer = 0;
        reply->elements = 0;
        reply->len = 0;
        reply->str[0] = '\0';
        return reply;
    }
    if (!task->parent->parent && task->idx >= 0 &&
        (size_t)task->idx < reply->elements)
        reply->is_int[task->idx] = type == REDIS_REPLY_INTEGER;
    return &c->nested_obj;
}

static void *
reply_string(const redisReadTask *task, char *str, size_t len)
{
    rl_reply *reply = reply_object(task, task->type);

    if (reply == &((rl_conn *)task->privdata)->reply) {
        if (len >= sizeof(reply->str))
            len = sizeof(reply->str) - 1;
        memcpy(reply->str, str, len);
        reply->str[len] = '\0';
        reply->len = len;
    }
    return reply;
}

static void *
reply_array(const redisReadTask *task, int elements)
{
    rl_reply *reply;

    if (elements > RL_MAX_ARRAY)
        return NULL; /* the reader fails: the connection ends */
    reply = reply_object(task, REDIS_REPLY_ARRAY);
    if (reply == &((rl_conn *)task->privdata)->reply) {
        reply->elements = elements > 0 ? (size_t)elements : 0;
        memset(reply->is_int, 0, sizeof(reply->is_int));
    }
    return reply;
}

static void *
reply_integer(const redisReadTask *task, long long value)
{
    rl_conn *c = task->privdata;
    rl_reply *reply = reply_object(task, REDIS_REPLY_INTEGER);

    if (reply == &c->reply)
        reply->integer = value;
    else if (!task->parent->parent && task->idx >= 0 &&
             (size_t)task->idx < c->reply.elements)
        c->reply.ints[task->idx] = value;
    return reply;
}

static void *
reply_nil(const redisReadTask *task)
{
    return reply_object(task, REDIS_REPLY_NIL);
}

static void
reply_free(void *obj)
{
    (void)obj; /* nothing is allocated */
}

static const redisReplyObjectFunctions bounded_fns = {
    .createString = reply_string,
    .createArray = reply_array,
    .createInteger = reply_integer,
    .createNil = reply_nil,
    .freeObject = reply_free,
};

/* AUTH's or SELECT's reply: the next, READY, or gone (refused). */
static void
setup_reply(rl_conn *c, const rl_reply *reply)
{
    int kind = c->setup_kinds[0];

    c->setup_kinds[0] = c->setup_kinds[1];
    if (reply->type == REDIS_REPLY_ERROR) {
        /* Redis's own message; it never contains the password. */
        snprintf(c->why, sizeof(c->why), "%s failed: %.*s",
                 kind == SETUP_AUTH ? "AUTH" : "SELECT", (int)reply->len,
                 reply->str);
        /* The commands queued behind it would run unauthenticated or in
         * the wrong database: they fail instead (never written). */
        conn_gone_for(c, c->why, "AUTH or SELECT refused");
        return;
    }
    if (--c->setup_pending == 0) {
        c->state = ST_READY;
        watch_refresh(c); /* the commands held meanwhile go now */
    }
}

/* The builder for the next reply: the head request's, or ours.
 *
 * hiredis copies the reader's privdata into a reply's root task when it
 * sets the task up, which it does on any call with bytes in its buffer
 * - also a call that finds nothing new to parse. A root task set up
 * then, under another head's builder, and not started yet (its type
 * byte unread) gets this head's privdata too: a reply is always built
 * by one builder from its root down. */
static void
reader_aim(rl_conn *c)
{
    rl_conn_req *head = c->owed;
    redisReader *r = c->reader;

    if (c->setup_pending == 0 && head && head->builder) {
        r->fn = head->builder;
        r->privdata = head->builder_priv;
    } else {
        r->fn = &c->fns;
        r->privdata = c;
    }
    if (r->ridx == 0 && r->rstack[0].type < 0)
        r->rstack[0].privdata = r->privdata;
}

/* One reply to the head of `owed`. 0, or -1 (no request: gone). */
static int
deliver(rl_conn *c, void *reply)
{
    rl_conn_req *req = c->owed;

    if (c->setup_pending > 0) {
        setup_reply(c, reply);
        return 0;
    }
    if (!req) {
        conn_gone(c, "a reply to no command");
        return -1;
    }
    c->replies++;
    if (!req->stream && --req->replies_left == 0) {
        c->owed = req->next;
        if (!c->owed)
            c->owed_tail = &c->owed;
        req->next = NULL;
    }
    req->on_reply(req, reply, NULL);
    return 0;
}

/* Hand every complete reply in the reader to its request. */
static void
read_replies(rl_conn *c)
{
    for (;;) {
        void *reply = NULL;

        if (c->setup_pending == 0 && !c->owed &&
            c->reader->pos < c->reader->len) {
            conn_gone(c, "a reply to no command");
            return;
        }
        /* Nothing unread and no reply begun: nothing to ask for (and no
         * root task set up under this head's builder for the next). */
        if (c->reader->ridx < 0 && c->reader->pos >= c->reader->len)
            return;
        reader_aim(c);
        if (redisReaderGetReply(c->reader, &reply) != REDIS_OK) {
            /* hiredis's reason ("Protocol error, ...", or "Out of
             * memory" when a builder refused the reply). */
            snprintf(c->why, sizeof(c->why), "malformed reply (%s)",
                     c->reader->errstr);
            conn_gone(c, c->why);
            return;
        }
        if (!reply)
            return;
        if (deliver(c, reply) != 0 || c->state == ST_GONE)
            return;
    }
}

/* Read what the socket has and deliver the replies in it. */
static void
do_read(rl_conn *c)
{
    char buf[RL_READ_CHUNK];

    for (;;) {
        ssize_t n;

        if (c->ssl) {
            int rc;
            ERR_clear_error();
            errno = 0;
            rc = SSL_read(c->ssl, buf, sizeof(buf));
            c->ssl_wants_write = 0;
            if (rc <= 0) {
                int e = SSL_get_error(c->ssl, rc);
                if (e == SSL_ERROR_WANT_READ)
                    return;
                if (e == SSL_ERROR_WANT_WRITE) {
                    c->ssl_wants_write = 1;
                    return;
                }
                if (e == SSL_ERROR_ZERO_RETURN) {
                    conn_gone(c, "connection closed");
                    return;
                }
                conn_gone(c, tls_why(c, "TLS read failed"));
                return;
            }
            n = rc;
        } else {
            n = read(c->fd, buf, sizeof(buf));
            if (n == 0) {
                conn_gone(c, "connection closed");
                return;
            }
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                    return;
                snprintf(c->why, sizeof(c->why), "%s", strerror(errno));
                conn_gone(c, c->why);
                return;
            }
        }
        if (redisReaderFeed(c->reader, buf, (size_t)n) != REDIS_OK) {
            conn_gone(c, "out of memory reading a reply");
            return;
        }
        read_replies(c);
        if (c->state == ST_GONE)
            return;
        /* A short plain read took all there was; OpenSSL may hold more
         * than the socket shows, so it is read until it wants more. */
        if (!c->ssl && (size_t)n < sizeof(buf))
            return;
    }
}

/* Write what may be written now; what the socket does not take stays. */
static void
do_write(rl_conn *c)
{
    size_t limit = c->state == ST_SETUP ? c->setup_end : c->olen;

    while (c->ooff < limit) {
        size_t len = limit - c->ooff;
        ssize_t n;

        if (c->ssl) {
            int rc;
            if (len > INT32_MAX)
                len = INT32_MAX;
            ERR_clear_error();
            errno = 0;
            rc = SSL_write(c->ssl, c->obuf + c->ooff, (int)len);
            c->ssl_wants_write = 0;
            if (rc <= 0) {
                int e = SSL_get_error(c->ssl, rc);
                if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
                    c->ssl_wants_write = e == SSL_ERROR_WANT_WRITE;
                    break;
                }
                conn_gone(c, tls_why(c, "TLS write failed"));
                return;
            }
            n = rc;
        } else {
            n = send(c->fd, c->obuf + c->ooff, len, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                    break;
                snprintf(c->why, sizeof(c->why), "%s", strerror(errno));
                conn_gone(c, c->why);
                return;
            }
        }
        c->ooff += (size_t)n;
    }
    if (c->ooff == c->olen) {
        c->ooff = c->olen = 0;
        c->setup_end = 0;
    }
    watch_refresh(c);
}

static void
on_fd(void *arg, int fd, uint32_t events)
{
    rl_conn *c = arg;

    (void)fd;
    c->busy++;
    switch (c->state) {
    case ST_CONNECTING:
        connect_done(c);
        break;
    case ST_HANDSHAKE:
        handshake(c);
        break;
    case ST_SETUP:
    case ST_READY:
        if ((events & (GWF_FD_READ | GWF_FD_ERROR)) ||
            (c->ssl_wants_write && (events & GWF_FD_WRITE)))
            do_read(c);
        if (c->state != ST_GONE &&
            ((events & (GWF_FD_WRITE | GWF_FD_ERROR)) || c->ssl))
            do_write(c);
        break;
    default:
        break;
    }
    if (--c->busy == 0 && c->freed)
        conn_destroy(c);
}

/* Commands queued on a ready connection are written by a timer of no
 * delay, which the host runs once the events of this loop turn are
 * handled: everything the turn queued leaves in one write, and a socket
 * that takes it all (the usual case) is never watched for writing, so a
 * turn costs no fd_update either way. */
static void
on_flush(void *arg)
{
    rl_conn *c = arg;

    c->flush_armed = 0;
    c->busy++;
    if (c->state == ST_READY)
        do_write(c);
    if (--c->busy == 0 && c->freed)
        conn_destroy(c);
}

static void
flush_soon(rl_conn *c)
{
    gwf_instance *inst = c->p.inst;

    if (c->flush_armed || (c->events & GWF_FD_WRITE))
        return; /* a write is coming: it takes these too */
    if (inst->host->timer_start(inst, NULL, 0, on_flush, c, &c->flush_timer) ==
        GWF_OK)
        c->flush_armed = 1;
    else
        watch_refresh(c); /* no timer: when the socket is writable */
}

/* -- Setup and the output buffer ----------------------------------------- */

/* Room for `room` more bytes at the end of the buffer, or NULL. */
char *
rl_conn_room(rl_conn *c, size_t room)
{
    if (c->state == ST_GONE || room > (size_t)INT32_MAX / 2 ||
        c->olen > (size_t)INT32_MAX)
        return NULL;
    if (c->olen + room > c->ocap && c->ooff > 0) {
        /* What was written goes (OpenSSL accepts the moved buffer for a
         * pending write: SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER). */
        memmove(c->obuf, c->obuf + c->ooff, c->olen - c->ooff);
        c->olen -= c->ooff;
        c->setup_end = c->setup_end > c->ooff ? c->setup_end - c->ooff : 0;
        c->ooff = 0;
    }
    if (c->olen + room > c->ocap) {
        size_t cap = c->ocap ? c->ocap : 4096;
        char *buf;
        while (cap < c->olen + room)
            cap *= 2;
        if (!(buf = realloc(c->obuf, cap)))
            return NULL;
        c->obuf = buf;
        c->ocap = cap;
    }
    return c->obuf + c->olen;
}

void
rl_conn_commit(rl_conn *c, rl_conn_req *req, const char *end, unsigned replies)
{
    c->olen = (size_t)(end - c->obuf);
    req->next = NULL;
    req->replies_left = replies;
    *c->owed_tail = req;
    c->owed_tail = &req->next;
    if (c->state == ST_READY)
        flush_soon(c);
}

#define BULK_ROOM RL_RESP_BULK_ROOM

/* `argc` arguments in RESP at `p` (room made by the caller). */
static char *
put_argv(char *p, int argc, const char *const *argv, const size_t *lens)
{
    p = rl_resp_line(p, '*', (uint64_t)argc);
    for (int i = 0; i < argc; i++)
        p = rl_resp_bulk(p, argv[i], lens[i]);
    return p;
}

static int
argv_room(int argc, const size_t *lens, size_t *room)
{
    *room = 1 + 20 + 2;
    for (int i = 0; i < argc; i++) {
        if (lens[i] > (size_t)INT32_MAX / 4)
            return -1;
        *room += BULK_ROOM(lens[i]);
    }
    return 0;
}

int
rl_conn_send(rl_conn *c, rl_conn_req *req, int argc, const char *const *argv,
             const size_t *lens)
{
    size_t room;
    char *start;

    if (argc <= 0 || argv_room(argc, lens, &room) != 0 ||
        !(start = rl_conn_room(c, room)))
        return -1;
    rl_conn_commit(c, req, put_argv(start, argc, argv, lens), 1);
    return 0;
}

/* The transport is up: AUTH and SELECT go in front of whatever was
 * queued meanwhile, and only they are written until answered. */
static void
setup_start(rl_conn *c)
{
    const char *argv[3];
    size_t lens[3], room = 0, r1 = 0, r2 = 0;
    char db[24];
    int auth_argc = 0;
    char *p;

    c->setup_pending = 0;
    if (c->p.password) {
        argv[auth_argc] = "AUTH";
        lens[auth_argc++] = 4;
        if (c->p.username) {
            argv[auth_argc] = c->p.username;
            lens[auth_argc++] = strlen(c->p.username);
        }
        argv[auth_argc] = c->p.password;
        lens[auth_argc++] = c->p.password_len;
        if (argv_room(auth_argc, lens, &r1) != 0)
            goto fail;
        c->setup_kinds[c->setup_pending++] = SETUP_AUTH;
    }
    if (c->p.db != 0) {
        snprintf(db, sizeof(db), "%lld", (long long)c->p.db);
        r2 = BULK_ROOM(6) + BULK_ROOM(strlen(db)) + 1 + 20 + 2;
        c->setup_kinds[c->setup_pending++] = SETUP_SELECT;
    }
    room = r1 + r2;
    if (room > 0) {
        size_t queued = c->olen - c->ooff;
        if (!rl_conn_room(c, room))
            goto fail;
        /* Nothing was written on this transport yet: ooff is 0. */
        memmove(c->obuf + room, c->obuf + c->ooff, queued);
        p = c->obuf;
        if (auth_argc)
            p = put_argv(p, auth_argc, argv, lens);
        if (c->p.db != 0) {
            const char *sel[2] = {"SELECT", db};
            size_t sel_lens[2] = {6, strlen(db)};
            p = put_argv(p, 2, sel, sel_lens);
        }
        /* Close the gap left by the room estimate. */
        memmove(p, c->obuf + room, queued);
        c->setup_end = (size_t)(p - c->obuf);
        c->olen = c->setup_end + queued;
        c->ooff = 0;
        c->state = ST_SETUP;
    } else {
        c->state = ST_READY;
    }
    watch_refresh(c);
    return;
fail:
    conn_gone(c, "cannot queue AUTH or SELECT");
}

/* -- The rest of the API -------------------------------------------------- */

rl_conn *
rl_conn_new(const rl_conn_params *p, const rl_conn_ops *ops, void *owner,
            const char **why)
{
    rl_conn *c = calloc(1, sizeof(*c));

    if (why)
        *why = "out of memory";
    if (!c)
        return NULL;
    c->p = *p;
    c->ops = ops;
    c->owner = owner;
    c->fd = -1;
    c->owed_tail = &c->owed;
    c->fns = bounded_fns;
    if (!(c->reader = redisReaderCreateWithFunctions(&c->fns))) {
        free(c);
        return NULL;
    }
    c->reader->privdata = c;
    if (connect_next(c) != 0) {
        if (why)
            *why = "no address accepted the connection";
        conn_destroy(c);
        return NULL;
    }
    return c;
}

int
rl_conn_connecting(const rl_conn *c)
{
    return c->state == ST_CONNECTING || c->state == ST_HANDSHAKE;
}

int
rl_conn_next_address(rl_conn *c, const char *why)
{
    int rc;

    if (!rl_conn_connecting(c))
        return 0;
    c->busy++;
    attempt_failed(c, why);
    rc = c->state == ST_GONE ? -1 : 0;
    if (--c->busy == 0 && c->freed)
        conn_destroy(c);
    return rc;
}

int
rl_conn_owes(const rl_conn *c)
{
    return c->state != ST_GONE && c->owed != NULL;
}

uint64_t
rl_conn_replies(const rl_conn *c)
{
    return c->replies;
}

const char *
rl_conn_address(const rl_conn *c)
{
    return c->addr ? c->addr : "-";
}

/* -- TLS settings ---------------------------------------------------------- */

static SSL_CTX *
tls_fail(SSL_CTX *ctx, char *err, size_t len, const char **field,
         const char *name, const char *what, const char *file)
{
    unsigned long e = ERR_peek_last_error();

    *field = name;
    snprintf(err, len, "%s%s%s: %s", what, file ? " " : "", file ? file : "",
             e && ERR_reason_error_string(e) ? ERR_reason_error_string(e)
                                             : "invalid");
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return NULL;
}

SSL_CTX *
rl_tls_ctx_new(const char *ca_file, const char *cert_file, const char *key_file,
               int insecure, const char **field, char *err, size_t len)
{
    SSL_CTX *ctx;

    ERR_clear_error();
    if (!(ctx = SSL_CTX_new(TLS_client_method())))
        return tls_fail(NULL, err, len, field, "redis.tls", "cannot make",
                        "a TLS context");
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_verify(ctx, insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
    if (ca_file) {
        if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1)
            return tls_fail(ctx, err, len, field, "redis.tls.caFile",
                            "cannot load CA certificates from", ca_file);
    } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        return tls_fail(ctx, err, len, field, "redis.tls",
                        "cannot load the system CA certificates", NULL);
    }
    if (cert_file && SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1)
        return tls_fail(ctx, err, len, field, "redis.tls.certFile",
                        "cannot load a certificate from", cert_file);
    if (key_file &&
        SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1)
        return tls_fail(ctx, err, len, field, "redis.tls.keyFile",
                        "cannot load a private key from", key_file);
    if (cert_file && key_file && SSL_CTX_check_private_key(ctx) != 1)
        return tls_fail(ctx, err, len, field, "redis.tls.keyFile",
                        "does not match certFile", NULL);
    ERR_clear_error();
    return ctx;
}

void
rl_tls_ctx_free(SSL_CTX *ctx)
{
    SSL_CTX_free(ctx);
}
