/*
 * redis.c - one Redis connection per worker, driven by the host's loop.
 *
 * hiredis's async API does the protocol; this file is its event-loop
 * adapter: hiredis asks to start or stop watching its socket for reading
 * or writing (addRead/delRead/addWrite/delWrite) and to let go of it
 * (cleanup), and we map that onto one worker-scope fd watch (fd_watch,
 * fd_update, fd_cancel). The installed hiredis (0.14) has no timer hook:
 * timeouts are the caller's, one host timer per decision.
 *
 * Commands of concurrent requests go out on the same connection, so
 * hiredis pipelines them by itself: each request's INCRBY + EXPIRE pairs
 * are appended to the output buffer and written together when the socket
 * is writable.
 *
 * Failures: a lost connection (Redis killed, reset) makes hiredis call
 * every pending callback with no reply, then our disconnect callback; the
 * next connection is made lazily by the next request, not before a
 * backoff (50 ms doubling to 5 s, reset by the first reply). While in
 * backoff, requests fail at once (the caller's fail mode), never wait.
 * A Redis that accepts but does not answer (stopped, overloaded) is seen
 * by the callers' timeouts: after RL_DROP_AFTER_TIMEOUTS timeouts in a
 * row with no reply at all, the connection is dropped and re-made.
 */
#include "rate_limit.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RL_BACKOFF_MIN_NS (50 * INT64_C(1000000))
#define RL_BACKOFF_MAX_NS (5000 * INT64_C(1000000))
#define RL_DROP_AFTER_TIMEOUTS 3

struct rl_redis {
    const rl_config *cfg;
    gwf_instance *inst;
    redisAsyncContext *ac; /* NULL when there is no connection */
    int watching;
    uint64_t watch_id;
    uint32_t events;
    int64_t next_connect_ns; /* monotonic: no connect before this */
    int64_t backoff_ns;
    unsigned timeouts_in_a_row;
    int auth_error_logged;
    int freeing;
};

typedef struct rl_cmd {
    rl_redis *r;
    rl_redis_cb cb;
    void *arg;
    int64_t sent_ns;
    /* Rolling only: what to send again as EVAL after NOSCRIPT. */
    int retried;
    char *key;
    size_t key_len;
    char args[4][24];
} rl_cmd;

static void
cmd_free(rl_cmd *cmd)
{
    free(cmd->key);
    free(cmd);
}

static int send_script(rl_redis *r, rl_cmd *cmd, int by_sha);

static int64_t
mono_now(rl_redis *r)
{
    return r->inst->host->now(r->inst, GWF_CLOCK_MONOTONIC);
}

/* -- The event-loop adapter -------------------------------------------- */

static void
on_fd(void *arg, int fd, uint32_t events)
{
    rl_redis *r = arg;
    redisAsyncContext *ac = r->ac;

    (void)fd;
    if (!ac)
        return;
    if (events & (GWF_FD_READ | GWF_FD_ERROR))
        redisAsyncHandleRead(ac);
    /* The read may have torn the connection down (and freed ac). */
    if (r->ac == ac && (events & (GWF_FD_WRITE | GWF_FD_ERROR)))
        redisAsyncHandleWrite(ac);
}

static void
watch_set(rl_redis *r, uint32_t events)
{
    const gwf_host *host = r->inst->host;

    if (!r->ac || events == r->events)
        return;
    r->events = events;
    if (!r->watching) {
        if (host->fd_watch(r->inst, NULL, r->ac->c.fd, events, on_fd, r,
                           &r->watch_id) == GWF_OK)
            r->watching = 1;
        else
            gwf_logf(r->inst, GWF_LOG_ERROR,
                     "rate_limit: cannot watch the Redis socket");
        return;
    }
    host->fd_update(r->inst, r->watch_id, events);
}

static void
ev_add_read(void *data)
{
    rl_redis *r = data;
    watch_set(r, r->events | GWF_FD_READ);
}

static void
ev_del_read(void *data)
{
    rl_redis *r = data;
    watch_set(r, r->events & ~(uint32_t)GWF_FD_READ);
}

static void
ev_add_write(void *data)
{
    rl_redis *r = data;
    watch_set(r, r->events | GWF_FD_WRITE);
}

static void
ev_del_write(void *data)
{
    rl_redis *r = data;
    watch_set(r, r->events & ~(uint32_t)GWF_FD_WRITE);
}

/* hiredis is about to close the socket: stop watching it first. */
static void
ev_cleanup(void *data)
{
    rl_redis *r = data;

    if (r->watching)
        r->inst->host->fd_cancel(r->inst, r->watch_id);
    r->watching = 0;
    r->events = 0;
}

/* -- Connection state ---------------------------------------------------- */

static void
connection_lost(rl_redis *r, const char *why)
{
    /* The watch itself goes in ev_cleanup, which hiredis calls next. */
    r->ac = NULL;
    if (r->freeing)
        return;
    r->next_connect_ns = mono_now(r) + r->backoff_ns;
    gwf_logf(r->inst, GWF_LOG_WARN,
             "rate_limit: Redis %s:%d: %s; next attempt in %lld ms",
             r->cfg->redis.host, r->cfg->redis.port, why,
             (long long)(r->backoff_ns / 1000000));
    r->backoff_ns *= 2;
    if (r->backoff_ns > RL_BACKOFF_MAX_NS)
        r->backoff_ns = RL_BACKOFF_MAX_NS;
}

static void
on_connect(const redisAsyncContext *ac, int status)
{
    rl_redis *r = ac->data;

    if (status != REDIS_OK)
        connection_lost(r, ac->errstr[0] ? ac->errstr : "connect failed");
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

static void
on_setup_reply(redisAsyncContext *ac, void *reply_ptr, void *what)
{
    redisReply *reply = reply_ptr;
    rl_redis *r = ac->data;

    if (reply && reply->type == REDIS_REPLY_ERROR && !r->auth_error_logged) {
        r->auth_error_logged = 1;
        /* Redis's own message; it never contains the password. */
        gwf_logf(r->inst, GWF_LOG_ERROR, "rate_limit: Redis %s failed: %.*s",
                 (const char *)what, (int)reply->len, reply->str);
    }
}

static int
redis_connect(rl_redis *r)
{
    const rl_redis_config *rc = &r->cfg->redis;
    redisAsyncContext *ac = redisAsyncConnect(rc->host, rc->port);

    if (!ac)
        return -1;
    if (ac->err) {
        r->ac = NULL;
        gwf_logf(r->inst, GWF_LOG_WARN, "rate_limit: Redis %s:%d: %s", rc->host,
                 rc->port, ac->errstr);
        redisAsyncFree(ac);
        connection_lost(r, "connect failed");
        return -1;
    }
    r->ac = ac;
    ac->data = r;
    ac->ev.data = r;
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
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
        redisAsyncCommandArgv(ac, on_setup_reply, (void *)"AUTH", argc, argv,
                              lens);
    }
    if (rc->db != 0) {
        char db[24];
        snprintf(db, sizeof(db), "%lld", (long long)rc->db);
        const char *argv[2] = {"SELECT", db};
        size_t lens[2] = {6, strlen(db)};
        redisAsyncCommandArgv(ac, on_setup_reply, (void *)"SELECT", 2, argv,
                              lens);
    }
    return 0;
}

rl_redis *
rl_redis_new(const rl_config *cfg)
{
    rl_redis *r = calloc(1, sizeof(*r));

    if (!r)
        return NULL;
    r->cfg = cfg;
    r->inst = cfg->instance;
    r->backoff_ns = RL_BACKOFF_MIN_NS;
    return r;
}

void
rl_redis_free(rl_redis *r)
{
    if (!r)
        return;
    r->freeing = 1;
    if (r->ac) {
        redisAsyncContext *ac = r->ac;
        redisAsyncFree(ac); /* pending callbacks run with no reply */
        r->ac = NULL;
    }
    free(r);
}

/* -- Commands -------------------------------------------------------------- */

static void
reply_to(rl_cmd *cmd, const redisReply *reply)
{
    long long values[4];
    size_t n = 0;

    if (!reply) {
        cmd->cb(cmd->arg, 0, NULL, 0, "no reply (connection lost)");
        return;
    }
    if (reply->type == REDIS_REPLY_INTEGER) {
        values[n++] = reply->integer;
    } else if (reply->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < reply->elements && n < 4; i++) {
            if (reply->element[i]->type != REDIS_REPLY_INTEGER) {
                cmd->cb(cmd->arg, 0, NULL, 0, "unexpected reply type");
                return;
            }
            values[n++] = reply->element[i]->integer;
        }
    } else if (reply->type == REDIS_REPLY_ERROR) {
        cmd->cb(cmd->arg, 0, NULL, 0, reply->str);
        return;
    } else {
        cmd->cb(cmd->arg, 0, NULL, 0, "unexpected reply type");
        return;
    }
    cmd->cb(cmd->arg, 1, values, n, NULL);
}

static void
on_incr_reply(redisAsyncContext *ac, void *reply_ptr, void *privdata)
{
    redisReply *reply = reply_ptr;
    rl_cmd *cmd = privdata;
    rl_redis *r = cmd->r;
    const rl_config *cfg = r->cfg;

    (void)ac;
    if (reply) {
        r->timeouts_in_a_row = 0;
        r->backoff_ns = RL_BACKOFF_MIN_NS;
        if (cfg->metrics.ok && !r->freeing)
            r->inst->host->metric_observe(
                r->inst, cfg->metrics.redis_latency, NULL, 0,
                (double)(mono_now(r) - cmd->sent_ns) / 1e9);
    }
    if (reply && reply->type == REDIS_REPLY_ERROR && cmd->key &&
        !cmd->retried && strncmp(reply->str, "NOSCRIPT", 8) == 0 &&
        !r->freeing) {
        /* Redis does not have the script (new, restarted or flushed):
         * EVAL sends and loads it; the next EVALSHA finds it. */
        cmd->retried = 1;
        if (send_script(r, cmd, 0) == 0)
            return;
    }
    reply_to(cmd, reply);
    cmd_free(cmd);
}

gwf_status
rl_redis_incr_expire(rl_redis *r, const char *key, size_t len, uint64_t hits,
                     uint64_t expire_seconds, rl_redis_cb cb, void *arg)
{
    char hits_text[24], expire_text[24];
    const char *incr[3] = {"INCRBY", key, hits_text};
    size_t incr_len[3] = {6, len, 0};
    const char *expire[3] = {"EXPIRE", key, expire_text};
    size_t expire_len[3] = {6, len, 0};
    rl_cmd *cmd;

    if (!r->ac) {
        if (mono_now(r) < r->next_connect_ns)
            return GWF_ERR_INTERNAL; /* in backoff: fail now */
        if (redis_connect(r) != 0)
            return GWF_ERR_INTERNAL;
    }
    cmd = calloc(1, sizeof(*cmd));
    if (!cmd)
        return GWF_ERR_NO_MEMORY;
    cmd->r = r;
    cmd->cb = cb;
    cmd->arg = arg;
    cmd->sent_ns = mono_now(r);
    incr_len[2] = (size_t)snprintf(hits_text, sizeof(hits_text), "%llu",
                                   (unsigned long long)hits);
    expire_len[2] = (size_t)snprintf(expire_text, sizeof(expire_text), "%llu",
                                     (unsigned long long)expire_seconds);
    if (redisAsyncCommandArgv(r->ac, on_incr_reply, cmd, 3, incr, incr_len) !=
        REDIS_OK) {
        cmd_free(cmd);
        return GWF_ERR_INTERNAL;
    }
    redisAsyncCommandArgv(r->ac, NULL, NULL, 3, expire, expire_len);
    return GWF_OK;
}

/* EVALSHA sha 1 key now period limit hits (or EVAL script ...). */
static int
send_script(rl_redis *r, rl_cmd *cmd, int by_sha)
{
    const char *argv[8];
    size_t lens[8];

    if (!r->ac)
        return -1;
    argv[0] = by_sha ? "EVALSHA" : "EVAL";
    argv[1] = by_sha ? rl_rolling_sha() : rl_rolling_script;
    argv[2] = "1";
    argv[3] = cmd->key;
    lens[3] = cmd->key_len;
    for (int i = 0; i < 4; i++)
        argv[4 + i] = cmd->args[i];
    for (int i = 0; i < 8; i++)
        if (i != 3)
            lens[i] = strlen(argv[i]);
    return redisAsyncCommandArgv(r->ac, on_incr_reply, cmd, 8, argv, lens) ==
                   REDIS_OK
               ? 0
               : -1;
}

gwf_status
rl_redis_rolling(rl_redis *r, const char *key, size_t len, int64_t now_ms,
                 uint64_t period_ms, uint64_t limit, uint64_t hits,
                 rl_redis_cb cb, void *arg)
{
    rl_cmd *cmd;

    if (!r->ac) {
        if (mono_now(r) < r->next_connect_ns)
            return GWF_ERR_INTERNAL;
        if (redis_connect(r) != 0)
            return GWF_ERR_INTERNAL;
    }
    cmd = calloc(1, sizeof(*cmd));
    if (!cmd)
        return GWF_ERR_NO_MEMORY;
    cmd->key = malloc(len ? len : 1);
    if (!cmd->key) {
        free(cmd);
        return GWF_ERR_NO_MEMORY;
    }
    memcpy(cmd->key, key, len);
    cmd->key_len = len;
    cmd->r = r;
    cmd->cb = cb;
    cmd->arg = arg;
    cmd->sent_ns = mono_now(r);
    snprintf(cmd->args[0], sizeof(cmd->args[0]), "%lld", (long long)now_ms);
    snprintf(cmd->args[1], sizeof(cmd->args[1]), "%llu",
             (unsigned long long)period_ms);
    snprintf(cmd->args[2], sizeof(cmd->args[2]), "%llu",
             (unsigned long long)limit);
    snprintf(cmd->args[3], sizeof(cmd->args[3]), "%llu",
             (unsigned long long)hits);
    if (send_script(r, cmd, 1) != 0) {
        cmd_free(cmd);
        return GWF_ERR_INTERNAL;
    }
    return GWF_OK;
}

void
rl_redis_note_timeout(rl_redis *r)
{
    if (!r->ac || ++r->timeouts_in_a_row < RL_DROP_AFTER_TIMEOUTS)
        return;
    r->timeouts_in_a_row = 0;
    gwf_logf(r->inst, GWF_LOG_WARN,
             "rate_limit: Redis %s:%d did not answer %d decisions in a "
             "row; reconnecting",
             r->cfg->redis.host, r->cfg->redis.port, RL_DROP_AFTER_TIMEOUTS);
    /* Frees the context: pending callbacks run with no reply, then
     * on_disconnect is not called (hiredis only calls it for a context
     * that had connected); mark the loss ourselves. */
    redisAsyncContext *ac = r->ac;
    r->ac = NULL;
    redisAsyncFree(ac);
    connection_lost(r, "not answering");
}
