/*
 * redis.c - the Redis client the filter talks to: one connection per
 * worker to a Single Redis or to the primary Sentinel names
 * (redis_conn.c; redis_sentinel.c asks the sentinels), or one per primary
 * of a Redis Cluster (redis_cluster.c keeps the slot map and the
 * connections; here: routing, MOVED / ASK); its backoff, the background
 * re-resolution of its name, and the pool of commands.
 *
 * The connection (redis_conn.c) does the socket, TLS, AUTH / SELECT,
 * pipelining and reading replies; this file decides when to connect and
 * what to send. Commands of concurrent requests go out on the same
 * connection, pipelined: each request's INCRBY + EXPIRE pair is
 * formatted straight into the connection's output buffer, which is
 * written once per loop turn. Each command is one pooled rl_cmd per
 * decision, with the connection's request embedded, so a decision costs
 * no allocation in the steady state (the pool, a key up to RL_KEY_INLINE
 * bytes inline). A client of several connections (Sentinel: a sentinel
 * and the primary; Cluster: one per primary) is this file again with
 * more rl_conn, not a different connection layer.
 *
 * Addresses: a host name may have several (localhost is ::1 and
 * 127.0.0.1) and Redis may listen on any one of them; the connection
 * tries each in turn. A decision that times out while a connect (or a
 * TLS handshake) is still pending moves it on to the next address (a
 * happy-eyeballs-lite: a black-holed address never holds the others
 * up). The config resolved the name once (workers must not wait on DNS);
 * each time a connection is lost, the name is resolved again in the
 * background (getaddrinfo_a) and the next connection uses the new
 * addresses if the answer is in by then.
 *
 * Failures: a lost connection (Redis killed, reset, a refused AUTH or
 * SELECT, a failed handshake on every address) answers every command it
 * owed with no reply; the next connection is made lazily by the next
 * request, not before a backoff (50 ms doubling to 5 s, reset by the
 * first reply). While in backoff, requests fail at once (the caller's
 * fail mode), never wait. A Redis that accepts but does not answer
 * (stopped, overloaded) is seen by the callers' timeouts: once it has
 * owed replies and given none across RL_DROP_AFTER_TIMEOUTS timeouts of
 * time (counted once per timeout, however many decisions time out
 * together), the connection is dropped and re-made. One stall a little
 * longer than the timeout, with every decision in flight timing out at
 * once, fails those decisions only: the connection, and the requests
 * after them, go on.
 */
#define _GNU_SOURCE /* getaddrinfo_a */
#include "rate_limit.h"

#include <hiredis/hiredis.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_cluster.h"
#include "redis_conn.h"
#include "redis_sentinel.h"
#include "redis_slots.h"
#include "redis_tree.h"

#define RL_BACKOFF_MIN_NS (50 * INT64_C(1000000))
#define RL_BACKOFF_MAX_NS (5000 * INT64_C(1000000))
#define RL_DROP_AFTER_TIMEOUTS 3

typedef struct rl_cmd rl_cmd;

struct rl_redis {
    const rl_config *cfg;
    const rl_redis_config *rc; /* cfg->redis, or its perSecond Redis */
    gwf_instance *inst;
    rl_conn *conn; /* NULL when there is no connection */
    rl_conn_params params;
    /* The addresses to try (the config's, or this worker's own after a
     * new resolution). */
    char **addrs;
    size_t addr_count;
    char **own_addrs;
    size_t own_addr_count;
    /* Background resolution of cfg->redis.host, started on a loss. */
    int resolving;
    struct gaicb gai;
    struct addrinfo gai_hints;
    rl_cmd *pool; /* released commands, for reuse */
    size_t pool_count;
    int64_t next_connect_ns; /* monotonic: no connect before this */
    int64_t conn_ns;         /* when the connection (or its address) began */
    int64_t backoff_ns;
    /* Progress seen by the decisions' timeouts (rl_redis_note_timeout):
     * the connection's reply count at snap_ns, and the timeouts since
     * with replies owed and none given. */
    uint64_t snap_replies;
    int64_t snap_ns;
    unsigned stalls;
    int setup_error_logged;
    int freeing;
    /* Sentinel (NULL: Single): where the primary is; commands wait in
     * `held` until a connection to it has answered ROLE with master. */
    rl_sentinel *sentinel;
    int primary_ready;
    rl_cmd *held, **held_tail;
    char primary_ip[64];
    char *primary_addrs[1];
    rl_conn_req role_req;
    rl_tree *role_tree;
    redisReplyObjectFunctions tree_fns;
    /* Cluster (NULL otherwise): the slot map and a connection per node;
     * commands wait in `held` until the first map is in. */
    rl_cluster *cluster;
};

/* CMD_EXPIRE: a cluster's EXPIRE sent again alone, where a redirection
 * said the key went after its INCRBY counted (nobody waits for it). */
enum { CMD_INCR_EXPIRE, CMD_SCRIPT, CMD_EXPIRE };

/* Keys up to this long live in the command itself (longer: malloc). */
#define RL_KEY_INLINE 192
/* Released commands kept for reuse, per worker. */
#define RL_POOL_MAX 1024

struct rl_cmd {
    rl_conn_req req; /* on r->conn while owed replies */
    rl_cmd *next;    /* in r->pool */
    rl_redis *r;
    rl_redis_cb cb; /* NULL once answered: exactly one answer */
    void *arg;
    int64_t sent_ns;
    int kind;
    int retried; /* CMD_SCRIPT: sent again as EVAL after NOSCRIPT */
    /* Cluster: the node it was sent to (-1: routed by its key), the
     * redirections followed, and ASK's one-off ASKING in front of each
     * command. `seen` counts its replies; the one at `answer_at` (after
     * ASKING's) is the answer. */
    int node;
    unsigned redirects;
    int asking;
    unsigned seen, answer_at;
    int counted; /* INCR_EXPIRE: its INCRBY was answered with a count */
    char *key;   /* key_inline, or malloc'd when longer */
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

static int64_t
mono_now(rl_redis *r)
{
    return r->inst->host->now(r->inst, GWF_CLOCK_MONOTONIC);
}

/* -- Addresses ------------------------------------------------------------ */

/* Resolve the name again in the background: the next connection uses the
 * answer if it is in by then (a name's addresses change: a restarted
 * Redis, a DNS failover), else the addresses it has. */
static void
resolve_start(rl_redis *r)
{
    struct gaicb *list[1] = {&r->gai};

    if (!r->rc->resolved || r->resolving || r->freeing)
        return;
    memset(&r->gai, 0, sizeof(r->gai));
    memset(&r->gai_hints, 0, sizeof(r->gai_hints));
    r->gai_hints.ai_socktype = SOCK_STREAM;
    r->gai.ar_name = r->rc->host;
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
                 r->rc->host, gai_strerror(rc));
        return;
    }
    if (rl_addresses_from(r->gai.ar_result, &addrs, &count) == GWF_OK) {
        if (count > 0) {
            rl_addresses_free(r->own_addrs, r->own_addr_count);
            r->addrs = r->own_addrs = addrs;
            r->addr_count = r->own_addr_count = count;
            gwf_logf(r->inst, GWF_LOG_INFO,
                     "rate_limit: Redis %s resolved again: %zu address%s, "
                     "first %s",
                     r->rc->host, count, count == 1 ? "" : "es", addrs[0]);
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

/* The connection is lost (or could not be made): the backoff starts, the
 * name is resolved again. The caller answers the commands (after this:
 * a callback that sends again fails at once rather than reconnecting). */
static void
connection_lost(rl_redis *r, const char *addr, const char *why)
{
    if (r->freeing)
        return;
    r->next_connect_ns = mono_now(r) + r->backoff_ns;
    if (r->cluster)
        gwf_logf(r->inst, GWF_LOG_WARN,
                 "rate_limit: Redis Cluster: no slot map (%s); next attempt "
                 "in %lld ms",
                 why, (long long)(r->backoff_ns / 1000000));
    else if (r->sentinel)
        gwf_logf(r->inst, GWF_LOG_WARN,
                 "rate_limit: Redis primary %s (%s:%d): %s; next attempt "
                 "in %lld ms",
                 r->rc->master_name, addr, r->params.port, why,
                 (long long)(r->backoff_ns / 1000000));
    else
        gwf_logf(r->inst, GWF_LOG_WARN,
                 "rate_limit: Redis %s:%d (%s): %s; next attempt in %lld ms",
                 r->rc->host, r->rc->port, addr, why,
                 (long long)(r->backoff_ns / 1000000));
    r->backoff_ns *= 2;
    if (r->backoff_ns > RL_BACKOFF_MAX_NS)
        r->backoff_ns = RL_BACKOFF_MAX_NS;
    resolve_start(r);
}

static void fail_held(rl_redis *r, const char *why);

/* The connection went by itself; its commands are answered next. */
static void
on_conn_gone(void *owner, rl_conn *c, const char *why)
{
    rl_redis *r = owner;

    if (r->conn != c) {
        rl_conn_free(c, NULL); /* not ours (never happens): just end it */
        return;
    }
    r->conn = NULL;
    if (!r->setup_error_logged && (strncmp(why, "AUTH failed", 11) == 0 ||
                                   strncmp(why, "SELECT failed", 13) == 0)) {
        r->setup_error_logged = 1;
        /* Redis's own message; it never contains the password. */
        gwf_logf(r->inst, GWF_LOG_ERROR, "rate_limit: Redis %s", why);
    }
    connection_lost(r, rl_conn_address(c), why);
    r->primary_ready = 0;
    rl_conn_free(c, NULL);
    fail_held(r, why);
}

static const rl_conn_ops conn_ops = {.on_gone = on_conn_gone};

/* -- Sentinel ---------------------------------------------------------------
 *
 * The client's side of redis_sentinel.c: commands wait in `held` while
 * the sentinels are asked and the primary they name is connected to and
 * checked with ROLE (a sentinel's answer may be stale: a node that says
 * it is not a master is never used). Then they go, in order. A lost
 * primary connection means asking again (after the backoff); a
 * +switch-master announcement drops the connection at once and the next
 * request asks again, with no backoff. */

static int cmd_send(rl_redis *r, rl_cmd *cmd);
static void cmd_free(rl_cmd *cmd);

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

/* The primary answered ROLE with master: the held commands go. */
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
            rl_redis_cb cb = cmd->cb;
            void *arg = cmd->arg;
            cmd->cb = NULL;
            cmd_free(cmd);
            if (cb)
                cb(arg, 0, NULL, 0, "cannot queue the command");
        }
        cmd = next;
    }
}

static void
on_role_reply(rl_conn_req *req, const void *reply, const char *why)
{
    rl_redis *r = (rl_redis *)((char *)req - offsetof(rl_redis, role_req));
    const rl_reply_node *root = reply;
    rl_conn *c = r->conn;
    char role[32] = "?";

    (void)why;
    if (!root || r->freeing)
        return; /* the connection went: on_conn_gone failed `held` */
    if (root->type == REDIS_REPLY_ARRAY && root->count > 0 &&
        root->elems[0].type == REDIS_REPLY_STRING) {
        snprintf(role, sizeof(role), "%.*s", (int)root->elems[0].len,
                 root->elems[0].str);
        if (strcmp(role, "master") == 0) {
            rl_tree_reset(r->role_tree);
            r->primary_ready = 1;
            flush_held(r);
            return;
        }
    }
    rl_tree_reset(r->role_tree);
    gwf_logf(r->inst, GWF_LOG_WARN,
             "rate_limit: Redis %s:%d, named primary of %s by a sentinel, "
             "is not the primary (ROLE %s): not used",
             r->primary_ip, r->params.port, r->rc->master_name, role);
    r->conn = NULL;
    connection_lost(r, r->primary_ip, "not the primary");
    rl_conn_free(c, NULL);
    fail_held(r, "the sentinels' primary is not a primary");
}

static void
on_primary(void *owner, const char *ip, int port)
{
    rl_redis *r = owner;
    const char *argv[1] = {"ROLE"};
    size_t lens[1] = {4};
    const char *why = NULL;

    snprintf(r->primary_ip, sizeof(r->primary_ip), "%s", ip);
    r->primary_addrs[0] = r->primary_ip;
    r->params.host = r->primary_ip;
    r->params.port = port;
    r->params.addrs = r->primary_addrs;
    r->params.addr_count = 1;
    r->primary_ready = 0;
    r->conn = rl_conn_new(&r->params, &conn_ops, r, &why);
    r->conn_ns = mono_now(r);
    if (!r->conn) {
        connection_lost(r, r->primary_ip, why);
        fail_held(r, why);
        return;
    }
    memset(&r->role_req, 0, sizeof(r->role_req));
    r->role_req.on_reply = on_role_reply;
    r->role_req.builder = &r->tree_fns;
    r->role_req.builder_priv = r->role_tree;
    rl_tree_reset(r->role_tree);
    if (rl_conn_send(r->conn, &r->role_req, 1, argv, lens) != 0) {
        rl_conn *c = r->conn;
        r->conn = NULL;
        connection_lost(r, r->primary_ip, "cannot queue ROLE");
        rl_conn_free(c, NULL);
        fail_held(r, "cannot queue ROLE");
    }
}

static void
on_no_primary(void *owner, const char *why)
{
    rl_redis *r = owner;

    connection_lost(r, "-", why);
    fail_held(r, why);
}

static void
on_switch(void *owner, const char *announcement)
{
    rl_redis *r = owner;
    rl_conn *c = r->conn;

    gwf_logf(r->inst, GWF_LOG_WARN,
             "rate_limit: Redis sentinel: +switch-master %s; reconnecting",
             announcement);
    if (!c)
        return;
    r->conn = NULL;
    r->primary_ready = 0;
    r->next_connect_ns = 0; /* the new primary is known: no backoff */
    rl_conn_free(c, NULL);  /* what was in flight takes the fail mode */
    fail_held(r, "the primary moved");
}

static const rl_sentinel_ops sentinel_ops = {
    .on_primary = on_primary,
    .on_none = on_no_primary,
    .on_switch = on_switch,
};

/* -- Cluster ----------------------------------------------------------------
 *
 * The client's side of redis_cluster.c: until the first slot map is in,
 * commands wait in `held` (as for Sentinel); then each goes to the node
 * serving its key's slot, and MOVED / ASK send it on (cmd_redirect). A
 * refresh that finds no map at first fails what was held and starts the
 * backoff: while it lasts, requests fail at once. */

static void
on_cluster_map(void *owner)
{
    rl_redis *r = owner;

    r->backoff_ns = RL_BACKOFF_MIN_NS;
    flush_held(r);
}

static void
on_cluster_no_map(void *owner, const char *why)
{
    rl_redis *r = owner;

    if (rl_cluster_has_map(r->cluster)) {
        gwf_logf(r->inst, GWF_LOG_WARN,
                 "rate_limit: Redis Cluster: cannot refresh the slot map "
                 "(%s); keeping the one in use",
                 why);
        return;
    }
    connection_lost(r, "-", why);
    fail_held(r, why);
}

static const rl_cluster_ops cluster_ops = {
    .on_map = on_cluster_map,
    .on_no_map = on_cluster_no_map,
};

/* A connection, made or being made: 0, or -1 (in backoff, or no address
 * accepted at once) and the caller fails now. */
static int
ensure_connection(rl_redis *r)
{
    const char *why = NULL;

    if (r->cluster) {
        if (rl_cluster_has_map(r->cluster) || rl_cluster_refreshing(r->cluster))
            return 0;
        if (mono_now(r) < r->next_connect_ns)
            return -1;
        rl_cluster_refresh(r->cluster, 0, NULL);
        return rl_cluster_has_map(r->cluster) ||
                       rl_cluster_refreshing(r->cluster)
                   ? 0
                   : -1;
    }
    if (r->conn || (r->sentinel && rl_sentinel_asking(r->sentinel)))
        return 0;
    if (mono_now(r) < r->next_connect_ns)
        return -1; /* in backoff: fail now */
    if (r->sentinel) {
        /* The answer may come at once (no sentinel reachable: backoff). */
        rl_sentinel_ask(r->sentinel);
        return r->conn || rl_sentinel_asking(r->sentinel) ? 0 : -1;
    }
    resolve_collect(r);
    r->params.addrs = r->addrs;
    r->params.addr_count = r->addr_count;
    r->conn = rl_conn_new(&r->params, &conn_ops, r, &why);
    r->conn_ns = mono_now(r);
    if (!r->conn) {
        connection_lost(r, "-", why);
        return -1;
    }
    return 0;
}

rl_redis *
rl_redis_new(const rl_config *cfg, const rl_redis_config *rc)
{
    rl_redis *r = calloc(1, sizeof(*r));

    if (!r)
        return NULL;
    r->cfg = cfg;
    r->rc = rc;
    r->inst = cfg->instance;
    r->addrs = rc->addrs;
    r->addr_count = rc->addr_count;
    r->backoff_ns = RL_BACKOFF_MIN_NS;
    r->params.inst = cfg->instance;
    r->params.host = rc->host;
    r->params.port = rc->port;
    r->params.tls = rc->tls_ctx;
    r->params.server_name = rc->tls_server_name;
    r->params.verify_name = rc->tls_verify_name;
    r->params.username = rc->username;
    r->params.password = rc->password;
    r->params.password_len = rc->password_len;
    r->params.db = rc->db;
    r->held_tail = &r->held;
    if (rc->type == RL_REDIS_SENTINEL) {
        r->tree_fns = rl_tree_functions;
        r->role_tree = rl_tree_new(256, 8192);
        r->sentinel = rl_sentinel_new(cfg, rc, &sentinel_ops, r);
        if (!r->role_tree || !r->sentinel) {
            rl_redis_free(r);
            return NULL;
        }
    }
    if (rc->type == RL_REDIS_CLUSTER &&
        !(r->cluster = rl_cluster_new(cfg, rc, &r->params, &cluster_ops, r))) {
        rl_redis_free(r);
        return NULL;
    }
    return r;
}

void
rl_redis_free(rl_redis *r)
{
    rl_conn *c;

    if (!r)
        return;
    r->freeing = 1;
    rl_sentinel_free(r->sentinel);
    rl_cluster_free(r->cluster);
    fail_held(r, "worker stopping");
    c = r->conn;
    r->conn = NULL;
    rl_conn_free(c, "worker stopping"); /* pending commands: no reply */
    rl_tree_free(r->role_tree);
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
 * RESP is written straight into the connection's output buffer: the room
 * for the whole command is made once, then the pieces are copied in. */

static char *
put_u64(char *p, uint64_t v)
{
    return p + gwf_u64_text(p, v);
}

/* ASKING: the next command may touch a slot being imported (ASK). */
#define ASKING_RESP "*1\r\n$6\r\nASKING\r\n"
#define ASKING_LEN (sizeof(ASKING_RESP) - 1)

static char *
put_asking(char *p, int asking)
{
    if (!asking)
        return p;
    memcpy(p, ASKING_RESP, ASKING_LEN);
    return p + ASKING_LEN;
}

/* [ASKING] <verb> key <n>: at most KEY_COMMAND_ROOM(key_len) bytes. */
#define KEY_COMMAND_ROOM(key_len)                                              \
    (ASKING_LEN + 1 + 20 + 2 + RL_RESP_BULK_ROOM(6) +                          \
     RL_RESP_BULK_ROOM(key_len) + RL_RESP_BULK_ROOM(20))

static char *
put_key_command(char *p, const rl_cmd *cmd, const char verb[6], uint64_t n)
{
    char digits[20];

    p = put_asking(p, cmd->asking);
    p = rl_resp_line(p, '*', 3);
    p = rl_resp_bulk(p, verb, 6);
    p = rl_resp_bulk(p, cmd->key, cmd->key_len);
    return rl_resp_bulk(p, digits, (size_t)(put_u64(digits, n) - digits));
}

/* INCRBY key hits, then EXPIRE key seconds, in one piece: both are
 * queued or neither is (the key never lacks its expiry). */
static int
send_incr_expire(rl_conn *c, rl_cmd *cmd)
{
    char *p;

    if (cmd->key_len > (size_t)INT32_MAX / 4 ||
        !(p = rl_conn_room(c, 2 * KEY_COMMAND_ROOM(cmd->key_len))))
        return -1;
    p = put_key_command(p, cmd, "INCRBY", cmd->nums[0]);
    p = put_key_command(p, cmd, "EXPIRE", cmd->nums[1]);
    rl_conn_commit(c, &cmd->req, p, cmd->asking ? 4 : 2);
    return 0;
}

/* EXPIRE key seconds alone (CMD_EXPIRE). */
static int
send_expire(rl_conn *c, rl_cmd *cmd)
{
    char *p;

    if (cmd->key_len > (size_t)INT32_MAX / 4 ||
        !(p = rl_conn_room(c, KEY_COMMAND_ROOM(cmd->key_len))))
        return -1;
    p = put_key_command(p, cmd, "EXPIRE", cmd->nums[1]);
    rl_conn_commit(c, &cmd->req, p, cmd->asking ? 2 : 1);
    return 0;
}

/* EVALSHA sha 1 key now period limit hits (or EVAL script ... after
 * NOSCRIPT). */
static int
send_script(rl_redis *r, rl_conn *c, rl_cmd *cmd)
{
    const char *verb = cmd->retried ? "EVAL" : "EVALSHA";
    const char *body = cmd->retried ? rl_rolling_script : r->cfg->rolling_sha;
    size_t verb_len = strlen(verb), body_len = strlen(body);
    size_t room = ASKING_LEN + 1 + 20 + 2 + RL_RESP_BULK_ROOM(verb_len) +
                  RL_RESP_BULK_ROOM(body_len) + RL_RESP_BULK_ROOM(1) +
                  RL_RESP_BULK_ROOM(cmd->key_len) + 4 * RL_RESP_BULK_ROOM(20);
    char digits[20];
    char *p;

    if (cmd->key_len > (size_t)INT32_MAX / 4 || !(p = rl_conn_room(c, room)))
        return -1;
    p = put_asking(p, cmd->asking);
    p = rl_resp_line(p, '*', 8);
    p = rl_resp_bulk(p, verb, verb_len);
    p = rl_resp_bulk(p, body, body_len);
    p = rl_resp_bulk(p, "1", 1);
    p = rl_resp_bulk(p, cmd->key, cmd->key_len);
    for (int i = 0; i < 4; i++)
        p = rl_resp_bulk(p, digits,
                         (size_t)(put_u64(digits, cmd->nums[i]) - digits));
    rl_conn_commit(c, &cmd->req, p, cmd->asking ? 2 : 1);
    return 0;
}

/* The connection `cmd` goes on: the client's, or in a cluster the one of
 * the node serving its key (or the node it was sent to: a redirection's
 * target, a NOSCRIPT's EVAL). NULL with *why. */
static rl_conn *
cmd_conn(rl_redis *r, rl_cmd *cmd, const char **why)
{
    *why = "no connection";
    if (!r->cluster)
        return r->conn;
    if (cmd->node < 0 && (cmd->node = rl_cluster_route(r->cluster, cmd->key,
                                                       cmd->key_len, why)) < 0)
        return NULL;
    return rl_cluster_node_conn(r->cluster, cmd->node, why);
}

/* Queue `cmd` on its connection: 0 (its callback will run), or -1 (it
 * is still the caller's). */
static int
cmd_send(rl_redis *r, rl_cmd *cmd)
{
    const char *why;
    rl_conn *c = cmd_conn(r, cmd, &why);

    if (!c)
        return -1;
    if (r->cfg->metrics.ok)
        cmd->sent_ns = mono_now(r);
    cmd->seen = 0;
    cmd->answer_at = cmd->asking ? 1 : 0;
    if (cmd->kind == CMD_EXPIRE)
        return send_expire(c, cmd);
    return cmd->kind == CMD_SCRIPT ? send_script(r, c, cmd)
                                   : send_incr_expire(c, cmd);
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

static rl_cmd *cmd_new(rl_redis *r, int kind, const char *key, size_t len,
                       rl_redis_cb cb, void *arg);

/* A copy of `cmd` as `kind`, answering `cb` (NULL: nobody waits), sent
 * to the node the redirection `reply` names, with ASKING first for ASK;
 * a MOVED also asks for the slot map again. The copy, or NULL (not a
 * redirection we can follow: nothing was sent). */
static rl_cmd *
send_redirected(rl_redis *r, const rl_cmd *cmd, const rl_reply *reply, int kind,
                rl_redis_cb cb, void *arg)
{
    rl_redirect rd;
    rl_cmd *again;
    const char *why = NULL;
    int node;

    if (cmd->node < 0 ||
        rl_redirect_parse(reply->str, reply->len,
                          rl_cluster_node_host(r->cluster, cmd->node),
                          &rd) != 0)
        return NULL;
    if (rd.kind == RL_REDIRECT_MOVED)
        rl_cluster_refresh(r->cluster, 1, reply->str);
    if ((node = rl_cluster_node_at(r->cluster, rd.host, rd.port, &why)) < 0 ||
        !(again = cmd_new(r, kind, cmd->key, cmd->key_len, cb, arg)))
        return NULL;
    memcpy(again->nums, cmd->nums, sizeof(again->nums));
    again->retried = cmd->retried;
    again->redirects = cmd->redirects + 1;
    again->node = node;
    again->asking = rd.kind == RL_REDIRECT_ASK;
    if (cmd_send(r, again) != 0) {
        again->cb = NULL;
        cmd_free(again);
        return NULL;
    }
    return again;
}

/* A cluster node answered MOVED or ASK: the command goes again, as a
 * new command (this one may still be owed EXPIRE's reply where it was).
 * 0 when the new command carries the answer now, -1 when the error is
 * the answer (not a redirection, too many, or the target cannot be
 * reached). */
static int
cmd_redirect(rl_redis *r, rl_cmd *cmd, const rl_reply *reply)
{
    if (cmd->redirects >= RL_CLUSTER_MAX_REDIRECTS ||
        !send_redirected(r, cmd, reply, cmd->kind, cmd->cb, cmd->arg))
        return -1;
    cmd->cb = NULL;
    if (cmd->req.replies_left == 0)
        cmd_free(cmd);
    return 0;
}

/* A reply for the command, or (reply NULL) the connection is gone. The
 * reply at answer_at answers (INCRBY's; ASKING's before it and
 * EXPIRE's after it are only owed). */
static void
cmd_on_reply(rl_conn_req *req, const void *data, const char *why)
{
    rl_cmd *cmd = (rl_cmd *)req;
    rl_redis *r = cmd->r;
    const rl_reply *reply = data;
    rl_redis_cb cb = cmd->cb;
    void *arg = cmd->arg;

    if (!reply) {
        cmd->cb = NULL;
        if (cb)
            cb(arg, 0, NULL, 0, why);
        cmd_free(cmd);
        return;
    }
    if (!cb || cmd->seen++ != cmd->answer_at) {
        /* EXPIRE's own reply a redirection while its INCRBY counted: the
         * key moved in between (a migration); the key must not be left
         * without its expiry there. EXPIRE alone, once, nobody waiting
         * (its own redirections are not followed: counted is 0). */
        if (req->replies_left == 0 && cmd->counted && r->cluster &&
            !r->freeing && reply->type == REDIS_REPLY_ERROR &&
            (strncmp(reply->str, "MOVED ", 6) == 0 ||
             strncmp(reply->str, "ASK ", 4) == 0))
            send_redirected(r, cmd, reply, CMD_EXPIRE, NULL, NULL);
        if (req->replies_left == 0)
            cmd_free(cmd);
        return;
    }
    if (r->cluster)
        rl_cluster_node_ok(r->cluster, cmd->node);
    r->backoff_ns = RL_BACKOFF_MIN_NS;
    if (r->cfg->metrics.ok && !r->freeing) {
        double took = (double)(mono_now(r) - cmd->sent_ns) / 1e9;
        if (r->cfg->metrics.redis_latency_series)
            r->inst->host->metric_series_observe(
                r->inst, r->cfg->metrics.redis_latency_series, took);
        else
            r->inst->host->metric_observe(
                r->inst, r->cfg->metrics.redis_latency, NULL, 0, took);
    }
    if (reply->type == REDIS_REPLY_ERROR && r->cluster && !r->freeing &&
        (strncmp(reply->str, "MOVED ", 6) == 0 ||
         strncmp(reply->str, "ASK ", 4) == 0) &&
        cmd_redirect(r, cmd, reply) == 0)
        return;
    if (reply->type == REDIS_REPLY_ERROR && cmd->kind == CMD_SCRIPT &&
        !cmd->retried && strncmp(reply->str, "NOSCRIPT", 8) == 0 &&
        !r->freeing && (r->conn || r->cluster) && req->replies_left == 0) {
        /* Redis does not have the script (new, restarted or flushed):
         * EVAL sends and loads it; the next EVALSHA finds it. */
        cmd->retried = 1;
        if (cmd_send(r, cmd) == 0)
            return;
    }
    cmd->cb = NULL;
    cmd->counted = reply->type == REDIS_REPLY_INTEGER;
    /* Still owed EXPIRE's reply: it stays on the connection, freed with
     * that reply (or with the connection). */
    if (req->replies_left == 0)
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
    memset(&cmd->req, 0, sizeof(cmd->req));
    cmd->req.on_reply = cmd_on_reply;
    cmd->next = NULL;
    cmd->r = r;
    cmd->cb = cb;
    cmd->arg = arg;
    cmd->sent_ns = 0;
    cmd->kind = kind;
    cmd->retried = 0;
    cmd->node = -1;
    cmd->redirects = 0;
    cmd->asking = 0;
    cmd->counted = 0;
    cmd->seen = cmd->answer_at = 0;
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

/* Queue `cmd` (the connection holds it until it is up and has passed
 * AUTH and SELECT). */
static gwf_status
cmd_dispatch(rl_redis *r, rl_cmd *cmd)
{
    if ((r->sentinel && !r->primary_ready) ||
        (r->cluster && !rl_cluster_has_map(r->cluster))) {
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
    rl_conn *c = r->conn;

    if (r->cluster) {
        rl_cluster_note_timeout(r->cluster);
        return;
    }
    if (!c) {
        if (r->sentinel)
            rl_sentinel_note_timeout(r->sentinel);
        return;
    }
    if (rl_conn_connecting(c)) {
        /* Still connecting a whole timeout after it began (a black-holed
         * address): the next address gets its chance now, with the
         * commands still queued. Many decisions time out together: the
         * address tried after the first of them has had no time yet. */
        int64_t now = mono_now(r);
        if (now - r->conn_ns >= (int64_t)r->cfg->timeout_ns) {
            r->conn_ns = now;
            rl_conn_next_address(c, "no answer to the connect");
        }
        return;
    }
    /* A decision's timeout says something waited that long, not what:
     * a reply since the last look (or nothing owed) is progress, and a
     * stall counts once per timeout of time, not once per decision. */
    int64_t now = mono_now(r);
    uint64_t replies = rl_conn_replies(c);
    if (!rl_conn_owes(c) || replies != r->snap_replies ||
        r->snap_ns < r->conn_ns) {
        r->snap_replies = replies;
        r->snap_ns = now;
        r->stalls = 0;
        return;
    }
    if (now - r->snap_ns < (int64_t)r->cfg->timeout_ns)
        return;
    r->snap_ns = now;
    if (++r->stalls < RL_DROP_AFTER_TIMEOUTS)
        return;
    r->stalls = 0;
    gwf_logf(r->inst, GWF_LOG_WARN,
             "rate_limit: Redis %s:%d gave no reply across %d decision "
             "timeouts; reconnecting",
             r->params.host, r->params.port, RL_DROP_AFTER_TIMEOUTS);
    r->conn = NULL;
    r->primary_ready = 0;
    connection_lost(r, rl_conn_address(c), "not answering");
    rl_conn_free(c, NULL); /* pending commands: no reply */
    fail_held(r, "not answering");
}
