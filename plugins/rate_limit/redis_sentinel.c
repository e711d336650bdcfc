/*
 * redis_sentinel.c - where the primary is, asked of Redis Sentinel.
 *
 * redis.type Sentinel: redis.addresses are sentinels and masterName the
 * primary they watch. To find it, the sentinels are asked in the
 * configured order, one connection at a time (redis_conn.c, TLS as
 * configured, no AUTH or SELECT: those are the primary's), with
 * SENTINEL get-master-addr-by-name; the first that names an address
 * wins. A sentinel that cannot be reached, answers nil (it does not know
 * the master) or an error, or answers garbage is passed over for the
 * next; when none is left, the client hears that there is no primary
 * (and applies its backoff and fail mode). Replies are read whole into a
 * bounded tree (redis_tree.c): a sentinel is not trusted either.
 *
 * The sentinel that answered is then also subscribed to +switch-master
 * on a second connection kept open: when it announces that our master
 * moved, the client drops its connection to the old primary at once
 * instead of waiting for errors or timeouts (the commands in flight there
 * take the fail mode: they may or may not have counted). If that
 * connection is lost it is made again at the next ask.
 *
 * Checking that the address is really a primary (ROLE) is the client's
 * (redis.c): a sentinel's answer can be stale during a failover.
 */
#include "redis_sentinel.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_conn.h"
#include "redis_tree.h"

/* A get-master-addr-by-name answer or a pub/sub message is small. */
#define RL_SENTINEL_TREE_NODES 16
#define RL_SENTINEL_TREE_BYTES 1024

struct rl_sentinel {
    const rl_config *cfg;
    const rl_redis_config *rc; /* cfg->redis or its perSecond Redis */
    const rl_sentinel_ops *ops;
    void *owner;
    redisReplyObjectFunctions tree_fns; /* writable, as hiredis wants */
    /* The ask under way: a connection to sentinels[ask_idx - 1]. */
    int asking;
    size_t ask_idx;
    rl_conn *ask;
    int64_t ask_ns; /* when the ask (or its address) began */
    rl_conn_params ask_params;
    rl_conn_req ask_req;
    rl_tree *ask_tree;
    /* The +switch-master subscription. */
    rl_conn *sub;
    rl_conn_params sub_params;
    rl_conn_req sub_req;
    rl_tree *sub_tree;
    int freeing;
    char why[160];
};

static void ask_next(rl_sentinel *s);

static void
params_for(const rl_sentinel *s, const rl_redis_node *node, rl_conn_params *p)
{
    const rl_redis_config *rc = s->rc;

    memset(p, 0, sizeof(*p));
    p->inst = s->cfg->instance;
    p->host = node->host;
    p->port = node->port;
    p->addrs = node->addrs;
    p->addr_count = node->addr_count;
    p->tls = rc->tls_ctx;
    p->server_name = rc->tls_server_name;
    p->verify_name = rc->tls_verify_name;
}

/* -- Asking ---------------------------------------------------------------- */

static void
on_ask_gone(void *owner, rl_conn *c, const char *why)
{
    rl_sentinel *s = owner;

    if (s->ask == c) {
        s->ask = NULL;
        snprintf(s->why, sizeof(s->why), "sentinel %s:%d: %s",
                 s->ask_params.host, s->ask_params.port, why);
    }
    rl_conn_free(c, NULL); /* the ask's request hears it next */
}

static const rl_conn_ops ask_ops = {.on_gone = on_ask_gone};

/* The address in a get-master-addr-by-name reply: 0, or -1. */
static int
parse_master_addr(const rl_reply_node *root, char ip[64], int *port)
{
    const rl_reply_node *e;
    char digits[8];
    char *end;
    long v;

    if (!root || root->type != REDIS_REPLY_ARRAY || root->count != 2)
        return -1;
    e = root->elems;
    if (e[0].type != REDIS_REPLY_STRING || e[0].len == 0 || e[0].len >= 64 ||
        memchr(e[0].str, '\0', e[0].len) || e[1].type != REDIS_REPLY_STRING ||
        e[1].len == 0 || e[1].len >= sizeof(digits))
        return -1;
    memcpy(ip, e[0].str, e[0].len + 1);
    memcpy(digits, e[1].str, e[1].len);
    digits[e[1].len] = '\0';
    v = strtol(digits, &end, 10);
    if (*end || v < 1 || v > 65535)
        return -1;
    *port = (int)v;
    return 0;
}

static void subscribe(rl_sentinel *s, const rl_redis_node *node);

static void
on_ask_reply(rl_conn_req *req, const void *reply, const char *why)
{
    rl_sentinel *s =
        (rl_sentinel *)((char *)req - offsetof(rl_sentinel, ask_req));
    const rl_reply_node *root = reply;
    char ip[64];
    int port = 0;

    (void)why;
    if (s->freeing || !s->asking)
        return;
    if (!root) { /* the connection went: s->why says why */
        ask_next(s);
        return;
    }
    if (parse_master_addr(root, ip, &port) != 0) {
        snprintf(s->why, sizeof(s->why),
                 "sentinel %s:%d does not name a primary for %s%s%.60s",
                 s->ask_params.host, s->ask_params.port, s->rc->master_name,
                 root->type == REDIS_REPLY_ERROR ? ": " : "",
                 root->type == REDIS_REPLY_ERROR ? root->str : "");
        rl_tree_reset(s->ask_tree);
        rl_conn_free(s->ask, NULL);
        s->ask = NULL;
        ask_next(s);
        return;
    }
    rl_tree_reset(s->ask_tree);
    rl_conn_free(s->ask, NULL);
    s->ask = NULL;
    s->asking = 0;
    if (!s->sub)
        subscribe(s, &s->rc->sentinels[s->ask_idx - 1]);
    s->ops->on_primary(s->owner, ip, port);
}

/* The next sentinel, or, when none is left, no primary. */
static void
ask_next(rl_sentinel *s)
{
    const rl_redis_config *rc = s->rc;
    const char *name = rc->master_name;

    while (s->ask_idx < rc->sentinel_count) {
        const rl_redis_node *node = &rc->sentinels[s->ask_idx++];
        const char *argv[3] = {"SENTINEL", "get-master-addr-by-name", name};
        size_t lens[3] = {8, 23, strlen(name)};
        const char *why = NULL;

        params_for(s, node, &s->ask_params);
        s->ask = rl_conn_new(&s->ask_params, &ask_ops, s, &why);
        s->ask_ns =
            s->cfg->instance->host->now(s->cfg->instance, GWF_CLOCK_MONOTONIC);
        if (!s->ask) {
            snprintf(s->why, sizeof(s->why), "sentinel %s:%d: %s", node->host,
                     node->port, why);
            continue;
        }
        memset(&s->ask_req, 0, sizeof(s->ask_req));
        s->ask_req.on_reply = on_ask_reply;
        s->ask_req.builder = &s->tree_fns;
        s->ask_req.builder_priv = s->ask_tree;
        rl_tree_reset(s->ask_tree);
        if (rl_conn_send(s->ask, &s->ask_req, 3, argv, lens) == 0)
            return;
        rl_conn_free(s->ask, NULL);
        s->ask = NULL;
        snprintf(s->why, sizeof(s->why), "sentinel %s:%d: cannot queue",
                 node->host, node->port);
    }
    s->asking = 0;
    s->ops->on_none(s->owner, s->why);
}

void
rl_sentinel_ask(rl_sentinel *s)
{
    if (s->asking)
        return;
    s->asking = 1;
    s->ask_idx = 0;
    snprintf(s->why, sizeof(s->why), "no sentinel configured");
    ask_next(s);
}

int
rl_sentinel_asking(const rl_sentinel *s)
{
    return s->asking;
}

void
rl_sentinel_note_timeout(rl_sentinel *s)
{
    rl_conn *c = s->ask;
    int64_t now;

    if (!s->asking || !c)
        return;
    /* Only a sentinel (or address) asked a whole timeout ago is given up
     * on: many decisions time out together. */
    now = s->cfg->instance->host->now(s->cfg->instance, GWF_CLOCK_MONOTONIC);
    if (now - s->ask_ns < (int64_t)s->cfg->timeout_ns)
        return;
    s->ask_ns = now;
    if (rl_conn_connecting(c)) {
        rl_conn_next_address(c, "no answer to the connect");
        return;
    }
    snprintf(s->why, sizeof(s->why), "sentinel %s:%d: no answer",
             s->ask_params.host, s->ask_params.port);
    s->ask = NULL;
    rl_conn_free(c, NULL); /* its request moves on to the next */
}

/* -- +switch-master ---------------------------------------------------- */

static void
on_sub_gone(void *owner, rl_conn *c, const char *why)
{
    rl_sentinel *s = owner;

    if (s->sub == c) {
        s->sub = NULL;
        gwf_logf(s->cfg->instance, GWF_LOG_INFO,
                 "rate_limit: Redis sentinel %s:%d subscription lost: %s",
                 s->sub_params.host, s->sub_params.port, why);
    }
    rl_conn_free(c, NULL);
}

static const rl_conn_ops sub_ops = {.on_gone = on_sub_gone};

/* ["message", "+switch-master", "<master> <old ip> <old port> <new ip>
 * <new port>"]: ours when <master> is our masterName. */
static void
on_sub_reply(rl_conn_req *req, const void *reply, const char *why)
{
    rl_sentinel *s =
        (rl_sentinel *)((char *)req - offsetof(rl_sentinel, sub_req));
    const rl_reply_node *root = reply;
    const char *name = s->rc->master_name;
    size_t name_len = strlen(name);
    char text[160];

    (void)why;
    if (!root || s->freeing)
        return;
    if (root->type == REDIS_REPLY_ARRAY && root->count == 3 &&
        root->elems[0].type == REDIS_REPLY_STRING && root->elems[0].len == 7 &&
        memcmp(root->elems[0].str, "message", 7) == 0 &&
        root->elems[2].type == REDIS_REPLY_STRING &&
        root->elems[2].len > name_len &&
        memcmp(root->elems[2].str, name, name_len) == 0 &&
        root->elems[2].str[name_len] == ' ') {
        snprintf(text, sizeof(text), "%.*s", (int)root->elems[2].len,
                 root->elems[2].str);
        rl_tree_reset(s->sub_tree);
        s->ops->on_switch(s->owner, text);
        return;
    }
    rl_tree_reset(s->sub_tree);
}

static void
subscribe(rl_sentinel *s, const rl_redis_node *node)
{
    const char *argv[2] = {"SUBSCRIBE", "+switch-master"};
    size_t lens[2] = {9, 14};

    params_for(s, node, &s->sub_params);
    if (!(s->sub = rl_conn_new(&s->sub_params, &sub_ops, s, NULL)))
        return; /* tried again at the next ask */
    memset(&s->sub_req, 0, sizeof(s->sub_req));
    s->sub_req.on_reply = on_sub_reply;
    s->sub_req.builder = &s->tree_fns;
    s->sub_req.builder_priv = s->sub_tree;
    s->sub_req.stream = 1;
    rl_tree_reset(s->sub_tree);
    if (rl_conn_send(s->sub, &s->sub_req, 2, argv, lens) != 0) {
        rl_conn_free(s->sub, NULL);
        s->sub = NULL;
    }
}

/* -- Life ------------------------------------------------------------------ */

rl_sentinel *
rl_sentinel_new(const rl_config *cfg, const rl_redis_config *rc,
                const rl_sentinel_ops *ops, void *owner)
{
    rl_sentinel *s = calloc(1, sizeof(*s));

    if (!s)
        return NULL;
    s->cfg = cfg;
    s->rc = rc;
    s->ops = ops;
    s->owner = owner;
    s->tree_fns = rl_tree_functions;
    s->ask_tree = rl_tree_new(RL_SENTINEL_TREE_NODES, RL_SENTINEL_TREE_BYTES);
    s->sub_tree = rl_tree_new(RL_SENTINEL_TREE_NODES, RL_SENTINEL_TREE_BYTES);
    if (!s->ask_tree || !s->sub_tree) {
        rl_sentinel_free(s);
        return NULL;
    }
    return s;
}

void
rl_sentinel_free(rl_sentinel *s)
{
    if (!s)
        return;
    s->freeing = 1;
    rl_conn_free(s->ask, "worker stopping");
    rl_conn_free(s->sub, "worker stopping");
    rl_tree_free(s->ask_tree);
    rl_tree_free(s->sub_tree);
    free(s);
}
