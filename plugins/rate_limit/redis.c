/*
 * redis.c - one Redis connection per worker, driven by the host's loop.
 *
 * hiredis's async API does the protocol; this file is its event-loop
 * adapter: hiredis asks to start or stop watching its socket for reading
 * or writing (addRead/delRead/addWrite/delWrite) and to let go of it
 * (cleanup), and we map that onto one worker-scope fd watch (fd_watch,
 * fd_update, fd_cancel) per connection attempt (rl_conn: an attempt that
 * is being torn down must cancel its own watch, not its successor's). The
 * installed hiredis (0.14) has no timer hook: timeouts are the caller's,
 * one host timer per decision.
 *
 * Commands of concurrent requests go out on the same connection,
 * pipelined: each request's INCRBY + EXPIRE pair is formatted straight
 * into hiredis's output buffer (no intermediate string), and the buffer
 * is written once per loop turn, when the host reports the socket
 * writable - so every command queued in one turn leaves in one write.
 * The commands in flight are our own FIFO (`sent`), one pooled rl_cmd
 * per decision slot, matched to replies in order; replies are parsed by
 * hiredis's reader into one reused rl_reply, never allocated. hiredis
 * keeps the socket, the connect and the output buffer, nothing else: its
 * own callback list stays empty. So a decision costs no allocation in
 * the steady state (the pool, a key up to RL_KEY_INLINE bytes inline).
 *
 * Addresses: a host name may have several (localhost is ::1 and
 * 127.0.0.1) and Redis may listen on any one of them. As libcurl does, a
 * connection tries each address in turn, in the resolver's order, until
 * one accepts; commands wait in our own queue (`held`) meanwhile, so an
 * address that refuses costs them nothing. A decision that times out
 * while a connect is still pending moves on to the next address (a
 * happy-eyeballs-lite: a black-holed address never holds the others up).
 * The config resolved the name once (workers must not wait on DNS); each
 * time a connection is lost, the name is resolved again in the background
 * (getaddrinfo_a) and the next connection uses the new addresses if the
 * answer is in by then.
 *
 * Failures: a lost connection (Redis killed, reset) makes hiredis call
 * every pending callback with no reply, then our disconnect callback; the
 * next connection is made lazily by the next request, not before a
 * backoff (50 ms doubling to 5 s, reset by the first reply). While in
 * backoff, requests fail at once (the caller's fail mode), never wait.
 * Commands are held until AUTH and SELECT have succeeded, and a Redis
 * that refuses either is a failed connection: nothing ever runs
 * unauthenticated or in the wrong database.
 * A Redis that accepts but does not answer (stopped, overloaded) is seen
 * by the callers' timeouts: after RL_DROP_AFTER_TIMEOUTS timeouts in a
 * row with no reply at all, the connection is dropped and re-made.
 */
#define _GNU_SOURCE /* getaddrinfo_a */
#include "rate_limit.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RL_BACKOFF_MIN_NS (50 * INT64_C(1000000))
#define RL_BACKOFF_MAX_NS (5000 * INT64_C(1000000))
#define RL_DROP_AFTER_TIMEOUTS 3

typedef struct rl_cmd rl_cmd;

/* Error and status text kept from a reply (longer is cut: only the
 * start of an error is ever looked at or logged). */
#define RL_REPLY_STR_MAX 256
/* Array replies: ours have at most 4 elements; a longer announcement is
 * refused as it is read (the connection ends). */
#define RL_MAX_ARRAY 16

/* The one reply being read (replies are used at once, one at a time). */
typedef struct rl_reply {
    int type; /* REDIS_REPLY_*; first, as in redisReply */
    long long integer;
    size_t elements;
    long long ints[RL_MAX_ARRAY];
    unsigned char is_int[RL_MAX_ARRAY]; /* element i is an integer */
    size_t len;
    char str[RL_REPLY_STR_MAX]; /* ERROR / STATUS text, NUL-ended */
} rl_reply;

/* One connection attempt: hiredis's event hooks get this, so the watch
 * they drive is always this attempt's. Freed by ev_cleanup. */
typedef struct rl_conn {
    struct rl_redis *r;
    redisAsyncContext *ac;
    int watching;
    uint64_t watch_id;
    uint32_t events;
} rl_conn;

struct rl_redis {
    const rl_config *cfg;
    gwf_instance *inst;
    redisAsyncContext *ac;  /* NULL when there is no connection */
    int connected;          /* ac has connected (else: connecting) */
    int ready;              /* and AUTH and SELECT succeeded */
    unsigned setup_pending; /* AUTH and SELECT not answered yet */
    /* The addresses to try (the config's, or this worker's own after a
     * new resolution) and the next one to try in this round. */
    char **addrs;
    size_t addr_count;
    char **own_addrs;
    size_t own_addr_count;
    size_t addr_next;
    const char *addr; /* the one ac is (was last) connected to */
    /* A connection to free once hiredis's handler returns (hiredis may
     * not be freed from inside its connect callback). */
    redisAsyncContext *doomed;
    int in_connect_cb;
    /* Background resolution of cfg->redis.host, started on a loss. */
    int resolving;
    struct gaicb gai;
    struct addrinfo gai_hints;
    rl_cmd *held, **held_tail; /* commands waiting for the connect */
    rl_cmd *sent, **sent_tail; /* on the connection, owed replies */
    rl_cmd *pool;              /* released commands, for reuse */
    size_t pool_count;
    rl_reply reply;                      /* what the reader is building */
    redisReplyObjectFunctions reply_fns; /* ours: see bound_replies */
    char nested_obj;         /* what nested reply objects point to */
    int64_t next_connect_ns; /* monotonic: no connect before this */
    int64_t backoff_ns;
    unsigned timeouts_in_a_row;
    int auth_error_logged;
    int freeing;
};

enum { CMD_INCR_EXPIRE, CMD_SCRIPT, CMD_AUTH, CMD_SELECT };

/* Keys up to this long live in the command itself (longer: malloc). */
#define RL_KEY_INLINE 192
/* Released commands kept for reuse, per worker. */
#define RL_POOL_MAX 1024

struct rl_cmd {
    rl_cmd *next; /* in r->held, r->sent or r->pool */
    rl_redis *r;
    rl_redis_cb cb; /* NULL once answered: exactly one answer */
    void *arg;
    int64_t sent_ns;
    int kind;
    int retried;           /* CMD_SCRIPT: sent again as EVAL after NOSCRIPT */
    unsigned replies_left; /* replies the connection still owes it */
    char *key;             /* key_inline, or malloc'd when longer */
    size_t key_len;
    /* INCR_EXPIRE: hits, expire seconds. SCRIPT: now (ms, >= 0 as sent:
     * see rl_redis_rolling), period, limit, hits. */
    uint64_t nums[4];
    char key_inline[RL_KEY_INLINE];
};

/* Back to the pool (or to free when the pool is full or the worker
 * stops). */
static void
cmd_free(rl_cmd *cmd)
{
    rl_redis *r = cmd->r;

    if (cmd->key != cmd->key_inline)
        free(cmd->key);
    cmd->key = NULL;
    if (r->freeing || r->pool_count >= RL_POOL_MAX) {
        free(cmd);
        return;
    }
    cmd->next = r->pool;
    r->pool = cmd;
    r->pool_count++;
}

static int cmd_send(rl_redis *r, rl_cmd *cmd);
static int connect_next(rl_redis *r);

static int64_t
mono_now(rl_redis *r)
{
    return r->inst->host->now(r->inst, GWF_CLOCK_MONOTONIC);
}

/* -- The event-loop adapter -------------------------------------------- */

static void read_replies(rl_redis *r, redisAsyncContext *ac);

static void
on_fd(void *arg, int fd, uint32_t events)
{
    rl_conn *conn = arg;
    rl_redis *r = conn->r;
    redisAsyncContext *ac = conn->ac;

    (void)fd;
    if (events & (GWF_FD_READ | GWF_FD_ERROR))
        read_replies(r, ac);
    /* The read may have torn the attempt down (ac and conn freed). */
    if (r->ac == ac && (events & (GWF_FD_WRITE | GWF_FD_ERROR)))
        redisAsyncHandleWrite(ac);
    if (r->doomed) {
        ac = r->doomed;
        r->doomed = NULL;
        redisAsyncFree(ac);
    }
}

static void
watch_set(rl_conn *conn, uint32_t events)
{
    gwf_instance *inst = conn->r->inst;

    if (events == conn->events)
        return;
    conn->events = events;
    if (!conn->watching) {
        if (inst->host->fd_watch(inst, NULL, conn->ac->c.fd, events, on_fd,
                                 conn, &conn->watch_id) == GWF_OK)
            conn->watching = 1;
        else
            gwf_logf(inst, GWF_LOG_ERROR,
                     "rate_limit: cannot watch the Redis socket");
        return;
    }
    inst->host->fd_update(inst, conn->watch_id, events);
}

static void
ev_add_read(void *data)
{
    rl_conn *conn = data;
    watch_set(conn, conn->events | GWF_FD_READ);
}

static void
ev_del_read(void *data)
{
    rl_conn *conn = data;
    watch_set(conn, conn->events & ~(uint32_t)GWF_FD_READ);
}

static void
ev_add_write(void *data)
{
    rl_conn *conn = data;
    watch_set(conn, conn->events | GWF_FD_WRITE);
}

static void
ev_del_write(void *data)
{
    rl_conn *conn = data;
    watch_set(conn, conn->events & ~(uint32_t)GWF_FD_WRITE);
}

/* hiredis is about to close the socket: stop watching it first. This is
 * the last hook of an attempt. */
static void
ev_cleanup(void *data)
{
    rl_conn *conn = data;

    if (conn->watching)
        conn->r->inst->host->fd_cancel(conn->r->inst, conn->watch_id);
    free(conn);
}

/* -- Reading replies ------------------------------------------------------
 *
 * hiredis 0.14 trusts Redis: a reply with no command waiting for it trips
 * an assert (the worker aborts), and an array header announcing 2^31
 * elements is allocated as such and walked when freed. So replies are
 * read here, from hiredis's public pieces: its reader parses, our
 * builders below keep what we use of each reply in r->reply (no
 * allocation; arrays bounded to RL_MAX_ARRAY elements, nested ones only
 * marked as not integers), the command at the head of `sent` gets it,
 * and a reply with no command ends the connection, as does a malformed
 * one. */

/* The object for `task`: the root is r->reply; an element only marks
 * its slot in the root; deeper ones are nothing of ours. Never NULL
 * (the reader would take that for no memory). */
static void *
reply_object(const redisReadTask *task, int type)
{
    rl_redis *r = task->privdata;
    rl_reply *reply = &r->reply;

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
    return &r->nested_obj;
}

static void *
reply_string(const redisReadTask *task, char *str, size_t len)
{
    rl_reply *reply = reply_object(task, task->type);

    if (reply == &((rl_redis *)task->privdata)->reply) {
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
    if (reply == &((rl_redis *)task->privdata)->reply) {
        reply->elements = elements > 0 ? (size_t)elements : 0;
        memset(reply->is_int, 0, sizeof(reply->is_int));
    }
    return reply;
}

static void *
reply_integer(const redisReadTask *task, long long value)
{
    rl_redis *r = task->privdata;
    rl_reply *reply = reply_object(task, REDIS_REPLY_INTEGER);

    if (reply == &r->reply)
        reply->integer = value;
    else if (!task->parent->parent && task->idx >= 0 &&
             (size_t)task->idx < r->reply.elements)
        r->reply.ints[task->idx] = value;
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

static const redisReplyObjectFunctions reply_fns = {
    .createString = reply_string,
    .createArray = reply_array,
    .createInteger = reply_integer,
    .createNil = reply_nil,
    .freeObject = reply_free,
};

/* Our reply builders on a new context. */
static void
bound_replies(rl_redis *r, redisAsyncContext *ac)
{
    r->reply_fns = reply_fns; /* hiredis wants it writable */
    ac->c.reader->fn = &r->reply_fns;
    ac->c.reader->privdata = r;
}

static void drop_connection(rl_redis *r, const char *why);
static void cmd_answer(rl_redis *r, rl_cmd *cmd, const rl_reply *reply);

/* End `ac` for `why`: the current connection is dropped (its commands
 * fail); any other is only freed. */
static void
end_context(rl_redis *r, redisAsyncContext *ac, const char *why)
{
    if (r->ac == ac)
        drop_connection(r, why);
    else
        redisAsyncFree(ac);
}

/* The command at the head of `sent` owed this reply: one reply less is
 * owed; it leaves the queue with its last. 0, or -1 when no command
 * waits for a reply. */
static int
deliver(rl_redis *r, const rl_reply *reply)
{
    rl_cmd *cmd = r->sent;

    if (!cmd)
        return -1;
    if (--cmd->replies_left == 0) {
        r->sent = cmd->next;
        if (!r->sent)
            r->sent_tail = &r->sent;
        cmd->next = NULL;
    }
    if (cmd->cb || cmd->kind == CMD_AUTH || cmd->kind == CMD_SELECT) {
        /* The first reply answers (INCRBY's; EXPIRE's is only owed). */
        cmd_answer(r, cmd, reply);
        return 0;
    }
    if (cmd->replies_left == 0)
        cmd_free(cmd);
    return 0;
}

static void
read_replies(rl_redis *r, redisAsyncContext *ac)
{
    redisContext *c = &ac->c;
    void *reply;

    if (!(c->flags & REDIS_CONNECTED)) {
        /* hiredis finishes (or fails) the connect; nothing was sent yet,
         * so there is nothing to read. */
        redisAsyncHandleWrite(ac);
        return;
    }
    if (redisBufferRead(c) != REDIS_OK) {
        end_context(r, ac, c->errstr[0] ? c->errstr : "connection lost");
        return;
    }
    for (;;) {
        int rc;

        if (redisReaderGetReply(c->reader, &reply) != REDIS_OK) {
            end_context(r, ac, "malformed reply");
            return;
        }
        if (!reply)
            return;
        if (r->ac != ac) {
            /* Not (or no longer) the connection commands were sent on. */
            end_context(r, ac, "a reply to no command");
            return;
        }
        /* A callback that frees the context (drop_connection) only
         * marks it, while this flag is set; it is freed below. */
        c->flags |= REDIS_IN_CALLBACK;
        rc = deliver(r, reply);
        c->flags &= ~REDIS_IN_CALLBACK;
        if (c->flags & REDIS_FREEING) {
            redisAsyncFree(ac);
            return;
        }
        if (rc != 0) {
            end_context(r, ac, "a reply to no command");
            return;
        }
    }
}

/* -- Addresses ------------------------------------------------------------ */

/* Resolve the name again in the background: the next connection uses the
 * answer if it is in by then (a name's addresses change: a restarted
 * Redis, a DNS failover), else the addresses it has. */
static void
resolve_start(rl_redis *r)
{
    struct gaicb *list[1] = {&r->gai};

    if (!r->cfg->redis.resolved || r->resolving || r->freeing)
        return;
    memset(&r->gai, 0, sizeof(r->gai));
    memset(&r->gai_hints, 0, sizeof(r->gai_hints));
    r->gai_hints.ai_socktype = SOCK_STREAM;
    r->gai.ar_name = r->cfg->redis.host;
    r->gai.ar_request = &r->gai_hints;
    if (getaddrinfo_a(GAI_NOWAIT, list, 1, NULL) == 0)
        r->resolving = 1;
}

/* Take the background resolution's answer, if it is in. */
static void
resolve_collect(rl_redis *r)
{
    char **addrs;
    size_t count;
    int rc;

    if (!r->resolving || (rc = gai_error(&r->gai)) == EAI_INPROGRESS)
        return;
    r->resolving = 0;
    if (rc != 0) {
        gwf_logf(r->inst, GWF_LOG_WARN,
                 "rate_limit: cannot resolve Redis %s again (%s); keeping "
                 "its addresses",
                 r->cfg->redis.host, gai_strerror(rc));
        return;
    }
    if (rl_addresses_from(r->gai.ar_result, &addrs, &count) == GWF_OK) {
        if (count > 0) {
            rl_addresses_free(r->own_addrs, r->own_addr_count);
            r->addr = NULL; /* it may have been one of those */
            r->addrs = r->own_addrs = addrs;
            r->addr_count = r->own_addr_count = count;
            gwf_logf(r->inst, GWF_LOG_INFO,
                     "rate_limit: Redis %s resolved again: %zu address%s, "
                     "first %s",
                     r->cfg->redis.host, count, count == 1 ? "" : "es",
                     addrs[0]);
        } else {
            rl_addresses_free(addrs, count);
        }
    }
    freeaddrinfo(r->gai.ar_result);
    r->gai.ar_result = NULL;
}

/* Worker stop: a resolution still running writes into r; wait for it. */
static void
resolve_stop(rl_redis *r)
{
    const struct gaicb *list[1] = {&r->gai};

    if (!r->resolving)
        return;
    if (gai_cancel(&r->gai) != EAI_CANCELED)
        while (gai_error(&r->gai) == EAI_INPROGRESS)
            gai_suspend(list, 1, NULL);
    if (gai_error(&r->gai) == 0 && r->gai.ar_result)
        freeaddrinfo(r->gai.ar_result);
    r->resolving = 0;
}

/* -- Connection state ---------------------------------------------------- */

/* Answer every held command with an error (they never reached Redis). */
static void
fail_held(rl_redis *r, const char *why)
{
    rl_cmd *cmd = r->held;

    r->held = NULL;
    r->held_tail = &r->held;
    while (cmd) {
        rl_cmd *next = cmd->next;
        rl_redis_cb cb = cmd->cb;
        cmd->cb = NULL;
        if (cb)
            cb(cmd->arg, 0, NULL, 0, why);
        cmd_free(cmd);
        cmd = next;
    }
}

/* The connection they were sent on is gone: every command still owed a
 * reply that has not been answered is answered now, once, with no
 * reply; those only owed EXPIRE's reply just go. */
static void
fail_sent(rl_redis *r)
{
    rl_cmd *cmd = r->sent;

    r->sent = NULL;
    r->sent_tail = &r->sent;
    while (cmd) {
        rl_cmd *next = cmd->next;
        rl_redis_cb cb = cmd->cb;
        cmd->cb = NULL;
        if (cb)
            cb(cmd->arg, 0, NULL, 0, "no reply (connection lost)");
        cmd_free(cmd);
        cmd = next;
    }
}

/* Send the held commands, in order, on the new connection. */
static void
flush_held(rl_redis *r)
{
    rl_cmd *cmd = r->held;

    r->held = NULL;
    r->held_tail = &r->held;
    while (cmd) {
        rl_cmd *next = cmd->next;
        cmd->next = NULL;
        if (cmd_send(r, cmd) != 0) {
            cmd->cb(cmd->arg, 0, NULL, 0, "cannot queue the command");
            cmd_free(cmd);
        }
        cmd = next;
    }
}

static void
connection_lost(rl_redis *r, const char *why)
{
    /* The watch itself goes in ev_cleanup, which hiredis calls next. */
    r->ac = NULL;
    r->connected = r->ready = 0;
    if (r->freeing) {
        fail_sent(r);
        return;
    }
    r->next_connect_ns = mono_now(r) + r->backoff_ns;
    gwf_logf(r->inst, GWF_LOG_WARN,
             "rate_limit: Redis %s:%d (%s): %s; next attempt in %lld ms",
             r->cfg->redis.host, r->cfg->redis.port, r->addr ? r->addr : "-",
             why, (long long)(r->backoff_ns / 1000000));
    r->backoff_ns *= 2;
    if (r->backoff_ns > RL_BACKOFF_MAX_NS)
        r->backoff_ns = RL_BACKOFF_MAX_NS;
    resolve_start(r);
    /* The backoff is set first: a callback that sends again fails at
     * once rather than reconnecting. */
    fail_sent(r);
    fail_held(r, why);
}

/* An attempt on the next address of this round, or, when none is left
 * to try, a lost connection: the backoff starts and the held commands
 * fail. 0 when an attempt started, else -1. */
static int
connect_or_back_off(rl_redis *r)
{
    if (connect_next(r) == 0)
        return 0;
    connection_lost(r, "no address accepted the connection");
    return -1;
}

/* This attempt failed before connecting: the next address, or, when every
 * address of the round failed, a lost connection. */
static void
attempt_failed(rl_redis *r, const char *why)
{
    gwf_logf(r->inst, GWF_LOG_INFO, "rate_limit: Redis %s:%d at %s: %s",
             r->cfg->redis.host, r->cfg->redis.port, r->addr, why);
    r->ac = NULL;
    connect_or_back_off(r);
}

static rl_cmd *cmd_take(rl_redis *r, int kind, rl_redis_cb cb, void *arg);
static int cmd_send(rl_redis *r, rl_cmd *cmd);
static int send_argv(rl_redis *r, int argc, const char *const *argv,
                     const size_t *lens);

/* A setup command (AUTH, SELECT) on the connection: 0, or -1. */
static int
send_setup_cmd(rl_redis *r, int kind, int argc, const char *const *argv,
               const size_t *lens)
{
    rl_cmd *cmd = cmd_take(r, kind, NULL, NULL);

    if (!cmd)
        return -1;
    if (send_argv(r, argc, argv, lens) != 0) {
        cmd_free(cmd);
        return -1;
    }
    cmd->replies_left = 1;
    *r->sent_tail = cmd;
    r->sent_tail = &cmd->next;
    return 0;
}

/* AUTH and SELECT go first on every connection. The number queued, or -1
 * if they could not be. */
static int
send_setup(rl_redis *r)
{
    const rl_redis_config *rc = &r->cfg->redis;
    int queued = 0;

    if (rc->password) {
        const char *argv[3] = {"AUTH", NULL, NULL};
        size_t lens[3] = {4, 0, 0};
        int argc = 1;
        if (rc->username) {
            argv[argc] = rc->username;
            lens[argc++] = strlen(rc->username);
        }
        argv[argc] = rc->password;
        lens[argc++] = strlen(rc->password);
        if (send_setup_cmd(r, CMD_AUTH, argc, argv, lens) != 0)
            return -1;
        queued++;
    }
    if (rc->db != 0) {
        char db[24];
        snprintf(db, sizeof(db), "%lld", (long long)rc->db);
        const char *argv[2] = {"SELECT", db};
        size_t lens[2] = {6, strlen(db)};
        if (send_setup_cmd(r, CMD_SELECT, 2, argv, lens) != 0)
            return -1;
        queued++;
    }
    return queued;
}

/* Drop the current connection: its pending commands are answered with no
 * reply. Safe outside hiredis and inside its reply callbacks (hiredis
 * then frees it when the callback returns), but hiredis goes on using a
 * context after its connect callback: from there the free waits for
 * on_fd. */
static void
drop_connection(rl_redis *r, const char *why)
{
    redisAsyncContext *ac = r->ac;
    char reason[128];

    /* `why` may be the context's own errstr: keep it past the free. */
    snprintf(reason, sizeof(reason), "%s", why);
    r->ac = NULL;
    r->connected = r->ready = 0;
    if (r->in_connect_cb)
        r->doomed = ac;
    else
        redisAsyncFree(ac);
    connection_lost(r, reason);
}

static void
on_connect(const redisAsyncContext *ac, int status)
{
    rl_redis *r = ac->data;
    int setup;

    if (r->ac != ac)
        return;
    if (status != REDIS_OK) {
        attempt_failed(r, ac->errstr[0] ? ac->errstr : "connect failed");
        return;
    }
    r->connected = 1;
    r->in_connect_cb = 1;
    setup = send_setup(r);
    if (setup < 0) {
        drop_connection(r, "cannot queue AUTH or SELECT");
    } else if (setup == 0) {
        r->ready = 1;
        flush_held(r);
    } else {
        r->setup_pending = (unsigned)setup;
    }
    r->in_connect_cb = 0;
}

static void
on_disconnect(const redisAsyncContext *ac, int status)
{
    rl_redis *r = ac->data;

    if (r->ac == ac)
        connection_lost(r,
                        status == REDIS_OK
                            ? "connection closed"
                            : (ac->errstr[0] ? ac->errstr : "connection lost"));
}

/* AUTH's or SELECT's reply. */
static void
on_setup_reply(rl_redis *r, int kind, const rl_reply *reply)
{
    if (r->freeing || !r->ac)
        return;
    if (reply->type != REDIS_REPLY_ERROR) {
        /* The commands held meanwhile go now, in the right database. */
        if (r->setup_pending > 0 && --r->setup_pending == 0) {
            r->ready = 1;
            flush_held(r);
        }
        return;
    }
    if (!r->auth_error_logged) {
        r->auth_error_logged = 1;
        /* Redis's own message; it never contains the password. */
        gwf_logf(r->inst, GWF_LOG_ERROR, "rate_limit: Redis %s failed: %.*s",
                 kind == CMD_AUTH ? "AUTH" : "SELECT", (int)reply->len,
                 reply->str);
    }
    /* The commands held behind it would run unauthenticated or in the
     * wrong database: they fail instead (the fail mode decides). */
    drop_connection(r, "AUTH or SELECT refused");
}

/* Start an attempt on `addr`: 0 if it is under way. */
static int
connect_to(rl_redis *r, const char *addr)
{
    redisAsyncContext *ac;
    rl_conn *conn = calloc(1, sizeof(*conn));

    if (!conn)
        return -1;
    r->addr = addr;
    ac = redisAsyncConnect(addr, r->cfg->redis.port);
    if (!ac) {
        free(conn);
        return -1;
    }
    if (ac->err) {
        gwf_logf(r->inst, GWF_LOG_INFO, "rate_limit: Redis %s:%d at %s: %s",
                 r->cfg->redis.host, r->cfg->redis.port, addr, ac->errstr);
        redisAsyncFree(ac);
        free(conn);
        return -1;
    }
    bound_replies(r, ac);
    conn->r = r;
    conn->ac = ac;
    r->ac = ac;
    r->connected = r->ready = 0;
    r->setup_pending = 0;
    ac->data = r;
    ac->ev.data = conn;
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    /* Writable means connected (or failed): hiredis finds out then. */
    ev_add_write(conn);
    return 0;
}

/* The next address of this round that starts an attempt: 0, or -1 when
 * none is left. */
static int
connect_next(rl_redis *r)
{
    while (r->addr_next < r->addr_count)
        if (connect_to(r, r->addrs[r->addr_next++]) == 0)
            return 0;
    return -1;
}

/* A connection, made or being made: 0, or -1 (in backoff, or no address
 * accepted at once) and the caller fails now. */
static int
ensure_connection(rl_redis *r)
{
    if (r->ac)
        return 0;
    if (mono_now(r) < r->next_connect_ns)
        return -1; /* in backoff: fail now */
    resolve_collect(r);
    r->addr_next = 0;
    return connect_or_back_off(r);
}

rl_redis *
rl_redis_new(const rl_config *cfg)
{
    rl_redis *r = calloc(1, sizeof(*r));

    if (!r)
        return NULL;
    r->cfg = cfg;
    r->inst = cfg->instance;
    r->addrs = cfg->redis.addrs;
    r->addr_count = cfg->redis.addr_count;
    r->held_tail = &r->held;
    r->sent_tail = &r->sent;
    r->backoff_ns = RL_BACKOFF_MIN_NS;
    return r;
}

void
rl_redis_free(rl_redis *r)
{
    if (!r)
        return;
    r->freeing = 1;
    fail_held(r, "worker stopping");
    if (r->doomed)
        redisAsyncFree(r->doomed);
    if (r->ac) {
        redisAsyncContext *ac = r->ac;
        r->ac = NULL;
        fail_sent(r); /* pending commands are answered with no reply */
        redisAsyncFree(ac);
    }
    while (r->pool) {
        rl_cmd *cmd = r->pool;
        r->pool = cmd->next;
        free(cmd);
    }
    resolve_stop(r);
    rl_addresses_free(r->own_addrs, r->own_addr_count);
    free(r);
}

/* -- Commands --------------------------------------------------------------
 *
 * RESP is written straight into hiredis's output buffer: the room for the
 * whole command is made once, then the pieces are copied in. */

/* Decimal digits of `v` at `p` (no NUL): the end. */
static char *
put_u64(char *p, uint64_t v)
{
    return p + rl_format_u64(p, v);
}

/* "<c><n>\r\n" at `p`: the end. */
static char *
put_line(char *p, char c, uint64_t n)
{
    *p++ = c;
    p = put_u64(p, n);
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

/* Room for a bulk string of `len` bytes: "$", up to 20 digits, CRLF,
 * the bytes, CRLF. */
#define BULK_ROOM(len) (1 + 20 + 2 + (len) + 2)

static char *
put_bulk(char *p, const char *data, size_t len)
{
    p = put_line(p, '$', len);
    memcpy(p, data, len);
    p += len;
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

/* Make room for `room` more bytes in the output buffer: where they go,
 * or NULL (no memory, or more than one write could ever take). */
static char *
obuf_room(rl_redis *r, size_t room)
{
    redisContext *c = &r->ac->c;
    sds obuf = c->obuf;

    if (room > (size_t)INT32_MAX / 2)
        return NULL;
    if (!obuf && !(obuf = c->obuf = sdsempty()))
        return NULL;
    obuf = sdsMakeRoomFor(obuf, room);
    if (!obuf)
        return NULL;
    c->obuf = obuf;
    return obuf + sdslen(obuf);
}

/* The bytes written since obuf_room are the buffer's; the socket is to
 * be written when the loop next finds it writable (once per turn, for
 * every command queued meanwhile). */
static void
obuf_commit(rl_redis *r, const char *start, const char *end)
{
    redisAsyncContext *ac = r->ac;

    sdsIncrLen(ac->c.obuf, (int)(end - start));
    if (ac->ev.addWrite)
        ac->ev.addWrite(ac->ev.data);
}

/* One command of `argc` arguments: 0, or -1 (nothing was queued). */
static int
send_argv(rl_redis *r, int argc, const char *const *argv, const size_t *lens)
{
    size_t room = 1 + 20 + 2;
    char *start, *p;

    for (int i = 0; i < argc; i++) {
        if (lens[i] > (size_t)INT32_MAX)
            return -1;
        room += BULK_ROOM(lens[i]);
    }
    if (!(start = obuf_room(r, room)))
        return -1;
    p = put_line(start, '*', (uint64_t)argc);
    for (int i = 0; i < argc; i++)
        p = put_bulk(p, argv[i], lens[i]);
    obuf_commit(r, start, p);
    return 0;
}

/* INCRBY key hits, then EXPIRE key seconds, in one piece: both are
 * queued or neither is (the key never lacks its expiry). */
static int
send_incr_expire(rl_redis *r, rl_cmd *cmd)
{
    size_t room = 2 * (1 + 20 + 2 + BULK_ROOM(6) + BULK_ROOM(cmd->key_len) +
                       BULK_ROOM(20));
    char digits[20];
    char *start, *p;

    if (cmd->key_len > (size_t)INT32_MAX / 4 || !(start = obuf_room(r, room)))
        return -1;
    p = put_line(start, '*', 3);
    p = put_bulk(p, "INCRBY", 6);
    p = put_bulk(p, cmd->key, cmd->key_len);
    p = put_bulk(p, digits, (size_t)(put_u64(digits, cmd->nums[0]) - digits));
    p = put_line(p, '*', 3);
    p = put_bulk(p, "EXPIRE", 6);
    p = put_bulk(p, cmd->key, cmd->key_len);
    p = put_bulk(p, digits, (size_t)(put_u64(digits, cmd->nums[1]) - digits));
    obuf_commit(r, start, p);
    cmd->replies_left = 2;
    return 0;
}

/* EVALSHA sha 1 key now period limit hits (or EVAL script ... after
 * NOSCRIPT). */
static int
send_script(rl_redis *r, rl_cmd *cmd)
{
    char nums[4][20];
    const char *argv[8];
    size_t lens[8];

    argv[0] = cmd->retried ? "EVAL" : "EVALSHA";
    argv[1] = cmd->retried ? rl_rolling_script : r->cfg->rolling_sha;
    argv[2] = "1";
    argv[3] = cmd->key;
    lens[3] = cmd->key_len;
    for (int i = 0; i < 4; i++) {
        argv[4 + i] = nums[i];
        lens[4 + i] = (size_t)(put_u64(nums[i], cmd->nums[i]) - nums[i]);
    }
    for (int i = 0; i < 3; i++)
        lens[i] = strlen(argv[i]);
    if (send_argv(r, 8, argv, lens) != 0)
        return -1;
    cmd->replies_left = 1;
    return 0;
}

/* Queue `cmd` on the connection: 0 (it is in `sent`, its callback will
 * run), or -1 (it is still the caller's). */
static int
cmd_send(rl_redis *r, rl_cmd *cmd)
{
    int rc;

    if (!r->ac)
        return -1;
    if (r->cfg->metrics.ok)
        cmd->sent_ns = mono_now(r);
    rc = cmd->kind == CMD_SCRIPT ? send_script(r, cmd)
                                 : send_incr_expire(r, cmd);
    if (rc != 0)
        return -1;
    cmd->next = NULL;
    *r->sent_tail = cmd;
    r->sent_tail = &cmd->next;
    return 0;
}

/* What the reply means to the command's caller. */
static void
reply_to(rl_redis_cb cb, void *arg, const rl_reply *reply)
{
    long long values[RL_ROLLING_REPLY_LEN];
    size_t n = 0;

    if (reply->type == REDIS_REPLY_INTEGER) {
        values[n++] = reply->integer;
    } else if (reply->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < reply->elements && n < RL_ROLLING_REPLY_LEN;
             i++) {
            if (!reply->is_int[i]) {
                cb(arg, 0, NULL, 0, "unexpected reply type");
                return;
            }
            values[n++] = reply->ints[i];
        }
    } else if (reply->type == REDIS_REPLY_ERROR) {
        cb(arg, 0, NULL, 0, reply->str);
        return;
    } else {
        cb(arg, 0, NULL, 0, "unexpected reply type");
        return;
    }
    cb(arg, 1, values, n, NULL);
}

/* The reply a command was waiting for (its first; deliver has taken it
 * off `sent` if it is owed no more). */
static void
cmd_answer(rl_redis *r, rl_cmd *cmd, const rl_reply *reply)
{
    rl_redis_cb cb = cmd->cb;
    void *arg = cmd->arg;
    int kind = cmd->kind;

    if (kind == CMD_AUTH || kind == CMD_SELECT) {
        cmd_free(cmd);
        on_setup_reply(r, kind, reply);
        return;
    }
    r->timeouts_in_a_row = 0;
    r->backoff_ns = RL_BACKOFF_MIN_NS;
    if (r->cfg->metrics.ok && !r->freeing)
        r->inst->host->metric_observe(
            r->inst, r->cfg->metrics.redis_latency, NULL, 0,
            (double)(mono_now(r) - cmd->sent_ns) / 1e9);
    if (reply->type == REDIS_REPLY_ERROR && cmd->kind == CMD_SCRIPT &&
        !cmd->retried && strncmp(reply->str, "NOSCRIPT", 8) == 0 &&
        !r->freeing && r->ac) {
        /* Redis does not have the script (new, restarted or flushed):
         * EVAL sends and loads it; the next EVALSHA finds it. */
        cmd->retried = 1;
        if (cmd_send(r, cmd) == 0)
            return;
    }
    cmd->cb = NULL;
    /* Still owed EXPIRE's reply: it stays in `sent`, freed with it. */
    if (cmd->replies_left == 0)
        cmd_free(cmd);
    reply_to(cb, arg, reply);
}

/* A command for `key`, owned by the caller until dispatched. */
static rl_cmd *
cmd_take(rl_redis *r, int kind, rl_redis_cb cb, void *arg)
{
    rl_cmd *cmd = r->pool;

    if (cmd) {
        r->pool = cmd->next;
        r->pool_count--;
    } else if (!(cmd = malloc(sizeof(*cmd)))) {
        return NULL;
    }
    cmd->next = NULL;
    cmd->r = r;
    cmd->cb = cb;
    cmd->arg = arg;
    cmd->sent_ns = 0;
    cmd->kind = kind;
    cmd->retried = 0;
    cmd->replies_left = 0;
    cmd->key = cmd->key_inline;
    cmd->key_len = 0;
    return cmd;
}

static rl_cmd *
cmd_new(rl_redis *r, int kind, const char *key, size_t len, rl_redis_cb cb,
        void *arg)
{
    rl_cmd *cmd = cmd_take(r, kind, cb, arg);

    if (!cmd)
        return NULL;
    if (len > sizeof(cmd->key_inline) && !(cmd->key = malloc(len))) {
        cmd->key = cmd->key_inline;
        cmd_free(cmd);
        return NULL;
    }
    memcpy(cmd->key, key, len);
    cmd->key_len = len;
    return cmd;
}

/* Send `cmd` now, or hold it until the connection being made is up and
 * has passed AUTH and SELECT. */
static gwf_status
cmd_dispatch(rl_redis *r, rl_cmd *cmd)
{
    if (!r->ready) {
        *r->held_tail = cmd;
        r->held_tail = &cmd->next;
        return GWF_OK;
    }
    if (cmd_send(r, cmd) != 0) {
        cmd->cb = NULL;
        cmd_free(cmd);
        return GWF_ERR_INTERNAL;
    }
    return GWF_OK;
}

gwf_status
rl_redis_incr_expire(rl_redis *r, const char *key, size_t len, uint64_t hits,
                     uint64_t expire_seconds, rl_redis_cb cb, void *arg)
{
    rl_cmd *cmd;

    if (ensure_connection(r) != 0)
        return GWF_ERR_INTERNAL;
    cmd = cmd_new(r, CMD_INCR_EXPIRE, key, len, cb, arg);
    if (!cmd)
        return GWF_ERR_NO_MEMORY;
    cmd->nums[0] = hits;
    cmd->nums[1] = expire_seconds;
    return cmd_dispatch(r, cmd);
}

gwf_status
rl_redis_rolling(rl_redis *r, const char *key, size_t len, int64_t now_ms,
                 uint64_t period_ms, uint64_t limit, uint64_t hits,
                 rl_redis_cb cb, void *arg)
{
    rl_cmd *cmd;

    if (ensure_connection(r) != 0)
        return GWF_ERR_INTERNAL;
    cmd = cmd_new(r, CMD_SCRIPT, key, len, cb, arg);
    if (!cmd)
        return GWF_ERR_NO_MEMORY;
    /* The realtime clock before 1970 is not a time to count in. */
    cmd->nums[0] = now_ms < 0 ? 0 : (uint64_t)now_ms;
    cmd->nums[1] = period_ms;
    cmd->nums[2] = limit;
    cmd->nums[3] = hits;
    return cmd_dispatch(r, cmd);
}

void
rl_redis_note_timeout(rl_redis *r)
{
    redisAsyncContext *ac = r->ac;

    if (!ac)
        return;
    if (!r->connected) {
        /* Still connecting (a black-holed address): the next address
         * gets its chance now, with the commands still held. */
        r->ac = NULL;
        redisAsyncFree(ac);
        attempt_failed(r, "no answer to the connect");
        return;
    }
    if (++r->timeouts_in_a_row < RL_DROP_AFTER_TIMEOUTS)
        return;
    r->timeouts_in_a_row = 0;
    gwf_logf(r->inst, GWF_LOG_WARN,
             "rate_limit: Redis %s:%d did not answer %d decisions in a "
             "row; reconnecting",
             r->cfg->redis.host, r->cfg->redis.port, RL_DROP_AFTER_TIMEOUTS);
    /* Frees the context: pending callbacks run with no reply, and
     * on_disconnect finds it is no longer ours. */
    drop_connection(r, "not answering");
}
