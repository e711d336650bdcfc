/*
 * redis_cluster.c - the slot map of a Redis Cluster and one pipelined
 * connection per node, for one worker.
 *
 * redis.type Cluster: keys are spread over the primaries by hash slot
 * (redis_slots.c: CRC16 of the key or its hash tag, mod 16384). The map
 * of which primary serves which slot is asked with CLUSTER SLOTS - of
 * the primaries of the map in use, then of the configured seed nodes,
 * one at a time - and read whole into a bounded reply tree
 * (redis_tree.c): a node's answer is not trusted either, and a map that
 * does not check out is passed over for the next node's. A new map is
 * swapped in only when it was built whole.
 *
 * Connections (redis_conn.c, TLS and AUTH as configured, never SELECT:
 * a cluster has database 0 only): one per node, made when a command
 * first goes there, shared by every command of the worker that goes to
 * that node (pipelining, as for a single Redis). Nodes are kept by
 * host:port in a table that only grows (an index stays valid for the
 * worker's life; entries no longer in the map and without a connection
 * are reused when the table is full). A map names nodes by address;
 * a name rather than an address (cluster-preferred-endpoint-type
 * hostname) is connected to only when it is also a seed, with the
 * addresses the seed's name had when the config loaded: workers never
 * wait on DNS.
 *
 * Failures: a lost node connection (the primary killed) answers what it
 * owed with no reply (the caller's fail mode: those commands may or may
 * not have counted, and are never sent again), puts the node in backoff
 * (50 ms doubling to 5 s; commands for its slots fail at once
 * meanwhile, never wait) and asks for the map again, at most once per
 * RL_CLUSTER_REFRESH_GAP_NS: once the cluster has promoted a replica,
 * the new map routes its slots there. A MOVED (the client's) asks for
 * the map the same way. A node that accepts but does not answer is seen
 * by the decisions' timeouts (rl_cluster_note_timeout). There is no
 * timer here: every wait is a decision's, and the decision owns it.
 */
#include "redis_cluster.h"

#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "redis_slots.h"
#include "redis_tree.h"

#define RL_NODE_BACKOFF_MIN_NS (50 * INT64_C(1000000))
#define RL_NODE_BACKOFF_MAX_NS (5000 * INT64_C(1000000))
/* Timeouts with a node owing replies and giving none before it is
 * dropped (as for a single Redis). */
#define RL_NODE_STALLS 3
/* A CLUSTER SLOTS reply: 3 + 3 per node of each range, a few bytes each;
 * these bounds take thousands of ranges and nodes. */
#define RL_CLUSTER_TREE_NODES 65536
#define RL_CLUSTER_TREE_BYTES (1024 * 1024)

typedef struct cl_node {
    char host[RL_HOST_MAX + 1];
    unsigned port;
    char *addr[1];           /* host, when it is a numeric address */
    char *const *addrs;      /* addr, or a seed's addresses */
    size_t addr_count;       /* 0: nowhere to connect */
    rl_conn *conn;           /* NULL: none now */
    int64_t next_connect_ns; /* monotonic: no connect before */
    int64_t backoff_ns;
    uint64_t snap_replies; /* replies seen at snap_ns */
    int64_t snap_ns;
    unsigned stalls;
    int in_map;
} cl_node;

struct rl_cluster {
    const rl_config *cfg;
    const rl_redis_config *rc;
    gwf_instance *inst;
    rl_conn_params params; /* the template */
    const rl_cluster_ops *ops;
    void *owner;
    rl_slot_map *map;
    int *shard_node; /* map shard -> node index, or -1 */
    cl_node *nodes[RL_CLUSTER_MAX_NODES];
    size_t node_count;
    /* The refresh under way: candidate `cand` next (the map's shards,
     * then the seeds); the ask is on refresh_conn (a node's connection,
     * or seed_conn). */
    int refreshing;
    size_t cand;
    rl_conn *refresh_conn;
    rl_conn *seed_conn;
    rl_conn_params seed_params;
    const char *asked_host;
    int asked_shards; /* CLUSTER SLOTS was refused: SHARDS asked */
    int64_t asked_ns; /* when the ask (or its address) began */
    rl_conn_req refresh_req;
    rl_tree *tree;
    redisReplyObjectFunctions tree_fns; /* writable, as hiredis wants */
    int64_t last_refresh_ns;
    int map_logged;
    int freeing;
    char why[192];
};

static int64_t
mono_now(const rl_cluster *cl)
{
    return cl->inst->host->now(cl->inst, GWF_CLOCK_MONOTONIC);
}

/* -- Nodes ----------------------------------------------------------------- */

static int
is_numeric(const char *host)
{
    unsigned char buf[sizeof(struct in6_addr)];

    return inet_pton(AF_INET, host, buf) == 1 ||
           inet_pton(AF_INET6, host, buf) == 1;
}

/* Where node `n` can be connected to: its own address, or a seed's. */
static void
node_aim(const rl_cluster *cl, cl_node *n)
{
    n->addr_count = 0;
    if (is_numeric(n->host)) {
        n->addr[0] = n->host;
        n->addrs = n->addr;
        n->addr_count = 1;
        return;
    }
    for (size_t i = 0; i < cl->rc->sentinel_count; i++) {
        const rl_redis_node *seed = &cl->rc->sentinels[i];
        if (strcasecmp(seed->host, n->host) == 0 && seed->addr_count > 0) {
            n->addrs = seed->addrs;
            n->addr_count = seed->addr_count;
            return;
        }
    }
}

int
rl_cluster_node_at(rl_cluster *cl, const char *host, unsigned port,
                   const char **why)
{
    size_t len = strlen(host);
    cl_node *n = NULL;
    size_t i;

    for (i = 0; i < cl->node_count; i++)
        if (cl->nodes[i]->port == port && strcmp(cl->nodes[i]->host, host) == 0)
            return (int)i;
    if (len == 0 || len > RL_HOST_MAX || port == 0 || port > 65535) {
        *why = "a node address that is not valid";
        return -1;
    }
    if (cl->node_count < RL_CLUSTER_MAX_NODES) {
        if (!(n = calloc(1, sizeof(*n)))) {
            *why = "out of memory";
            return -1;
        }
        i = cl->node_count++;
        cl->nodes[i] = n;
    } else {
        /* Full: reuse a node no longer in the map and idle. */
        for (i = 0; i < cl->node_count; i++)
            if (!cl->nodes[i]->in_map && !cl->nodes[i]->conn)
                break;
        if (i == cl->node_count) {
            *why = "too many cluster nodes";
            return -1;
        }
        n = cl->nodes[i];
        memset(n, 0, sizeof(*n));
    }
    memcpy(n->host, host, len + 1);
    n->port = port;
    n->backoff_ns = RL_NODE_BACKOFF_MIN_NS;
    node_aim(cl, n);
    return (int)i;
}

const char *
rl_cluster_node_host(const rl_cluster *cl, int node)
{
    return cl->nodes[node]->host;
}

void
rl_cluster_node_ok(rl_cluster *cl, int node)
{
    cl->nodes[node]->backoff_ns = RL_NODE_BACKOFF_MIN_NS;
}

/* Node `n` is lost (its connection is already detached): backoff. */
static void
node_lost(rl_cluster *cl, cl_node *n, const char *addr, const char *why)
{
    gwf_logf(cl->inst, GWF_LOG_WARN,
             "rate_limit: Redis Cluster node %s:%u (%s): %s; next attempt "
             "in %lld ms",
             n->host, n->port, addr, why, (long long)(n->backoff_ns / 1000000));
    n->next_connect_ns = mono_now(cl) + n->backoff_ns;
    n->backoff_ns *= 2;
    if (n->backoff_ns > RL_NODE_BACKOFF_MAX_NS)
        n->backoff_ns = RL_NODE_BACKOFF_MAX_NS;
}

static void on_conn_gone(void *owner, rl_conn *c, const char *why);
static const rl_conn_ops conn_ops = {.on_gone = on_conn_gone};

rl_conn *
rl_cluster_node_conn(rl_cluster *cl, int node, const char **why)
{
    cl_node *n = cl->nodes[node];
    rl_conn_params p;

    if (n->conn)
        return n->conn;
    if (cl->freeing) {
        *why = "worker stopping";
        return NULL;
    }
    if (n->next_connect_ns != 0 && mono_now(cl) < n->next_connect_ns) {
        /* Its slots may have moved meanwhile (a replica promoted). */
        *why = "the node is in backoff after a failure";
        rl_cluster_refresh(cl, 1, NULL);
        return NULL;
    }
    if (n->addr_count == 0) {
        *why = "the map names the node by a host name that is not a seed's";
        return NULL;
    }
    p = cl->params;
    p.host = n->host;
    p.port = (int)n->port;
    p.addrs = n->addrs;
    p.addr_count = n->addr_count;
    p.db = 0;
    n->conn = rl_conn_new(&p, &conn_ops, cl, why);
    if (!n->conn) {
        node_lost(cl, n, "-", *why);
        rl_cluster_refresh(cl, 1, NULL);
        return NULL;
    }
    n->snap_replies = 0;
    n->snap_ns = mono_now(cl);
    n->stalls = 0;
    return n->conn;
}

int
rl_cluster_route(rl_cluster *cl, const char *key, size_t len, const char **why)
{
    unsigned slot;
    uint16_t shard;

    if (!cl->map) {
        *why = "no slot map yet";
        return -1;
    }
    slot = rl_key_slot(key, len);
    shard = cl->map->owner[slot];
    if (shard == RL_SLOT_UNASSIGNED || cl->shard_node[shard] < 0) {
        *why = "no primary serves the key's slot";
        rl_cluster_refresh(cl, 1, "a slot no primary serves");
        return -1;
    }
    return cl->shard_node[shard];
}

/* -- The slot map ---------------------------------------------------------- */

static void refresh_next(rl_cluster *cl);

/* A new map: its primaries become nodes (found or added). */
static void
map_swap(rl_cluster *cl, rl_slot_map *map, const char *from)
{
    int *shard_node = calloc(map->shard_count, sizeof(int));
    size_t missing = 0;

    if (!shard_node) {
        rl_slot_map_free(map);
        snprintf(cl->why, sizeof(cl->why), "out of memory");
        refresh_next(cl);
        return;
    }
    for (size_t i = 0; i < cl->node_count; i++)
        cl->nodes[i]->in_map = 0;
    for (size_t s = 0; s < map->shard_count; s++) {
        const rl_cluster_node *p = &map->shards[s].primary;
        const char *why = NULL;
        int n = rl_cluster_node_at(cl, p->host, p->port, &why);
        shard_node[s] = n;
        if (n < 0) {
            missing++;
            continue;
        }
        cl->nodes[n]->in_map = 1;
        if (cl->nodes[n]->addr_count == 0)
            missing++;
    }
    if (!cl->map_logged || missing > 0)
        gwf_logf(cl->inst, missing ? GWF_LOG_WARN : GWF_LOG_INFO,
                 "rate_limit: Redis Cluster slot map from %s: %zu primaries, "
                 "%zu of 16384 slots served%s",
                 from, map->shard_count, map->assigned,
                 missing ? "; some primaries cannot be connected to (a host "
                           "name that is not a seed's, or too many nodes)"
                         : "");
    cl->map_logged = 1;
    /* A node that left the map (a demoted primary, a redirection's
     * target) keeps no idle connection: its entry can then be reused. */
    for (size_t i = 0; i < cl->node_count; i++) {
        cl_node *n = cl->nodes[i];
        rl_conn *c = n->conn;
        if (!n->in_map && c && c != cl->refresh_conn && !rl_conn_owes(c)) {
            n->conn = NULL;
            rl_conn_free(c, NULL);
        }
    }
    rl_slot_map_free(cl->map);
    free(cl->shard_node);
    cl->map = map;
    cl->shard_node = shard_node;
    cl->refreshing = 0;
    cl->ops->on_map(cl->owner);
}

static void
drop_seed(rl_cluster *cl)
{
    rl_conn *c = cl->seed_conn;

    cl->seed_conn = NULL;
    rl_conn_free(c, NULL);
}

static int ask(rl_cluster *cl, rl_conn *c, int shards);

static void
on_slots_reply(rl_conn_req *req, const void *reply, const char *why)
{
    rl_cluster *cl =
        (rl_cluster *)((char *)req - offsetof(rl_cluster, refresh_req));
    const rl_reply_node *root = reply;
    rl_conn *c = cl->refresh_conn;
    const char *verb = cl->asked_shards ? "SHARDS" : "SLOTS";
    char err[160] = "";
    rl_slot_map *map = NULL;
    char from[RL_HOST_MAX + 8];

    cl->refresh_conn = NULL;
    if (cl->freeing)
        return;
    if (!root) {
        snprintf(cl->why, sizeof(cl->why), "%s: %s", cl->asked_host,
                 why ? why : "no reply");
        refresh_next(cl);
        return;
    }
    snprintf(from, sizeof(from), "%s", cl->asked_host);
    if (root->type == REDIS_REPLY_ERROR) {
        snprintf(err, sizeof(err), "CLUSTER %s: %.120s", verb, root->str);
        /* CLUSTER SLOTS refused (a Redis that dropped it): SHARDS, the
         * same node. */
        rl_tree_reset(cl->tree);
        if (!cl->asked_shards && c && ask(cl, c, 1) == 0)
            return;
    } else if (cl->asked_shards) {
        map = rl_slot_map_from_shards(root, cl->asked_host, err, sizeof(err));
    } else {
        map = rl_slot_map_from_slots(root, cl->asked_host, err, sizeof(err));
    }
    rl_tree_reset(cl->tree);
    if (cl->seed_conn)
        drop_seed(cl); /* from inside its callback: freed on return */
    if (!map) {
        gwf_logf(cl->inst, GWF_LOG_WARN,
                 "rate_limit: Redis Cluster: the slot map from %s is not "
                 "used: %s",
                 from, err);
        snprintf(cl->why, sizeof(cl->why), "%s", err);
        refresh_next(cl);
        return;
    }
    map_swap(cl, map, from);
}

/* CLUSTER SLOTS (or SHARDS) on `c`: 0, or -1 (cannot queue it). */
static int
ask(rl_cluster *cl, rl_conn *c, int shards)
{
    const char *argv[2] = {"CLUSTER", shards ? "SHARDS" : "SLOTS"};
    const size_t lens[2] = {7, shards ? 6u : 5u};

    memset(&cl->refresh_req, 0, sizeof(cl->refresh_req));
    cl->refresh_req.on_reply = on_slots_reply;
    cl->refresh_req.builder = &cl->tree_fns;
    cl->refresh_req.builder_priv = cl->tree;
    rl_tree_reset(cl->tree);
    cl->asked_shards = shards;
    cl->asked_ns = mono_now(cl);
    if (rl_conn_send(c, &cl->refresh_req, 2, argv, lens) != 0)
        return -1;
    cl->refresh_conn = c;
    return 0;
}

/* Ask the next candidate; when none is left the refresh has failed. */
static void
refresh_next(rl_cluster *cl)
{
    size_t shards = cl->map ? cl->map->shard_count : 0;

    while (!cl->freeing && cl->cand < shards + cl->rc->sentinel_count) {
        size_t k = cl->cand++;
        const char *why = NULL;
        rl_conn *c;

        if (k < shards) {
            int n = cl->shard_node[k];
            if (n < 0 || !(c = rl_cluster_node_conn(cl, n, &why)))
                continue;
            cl->asked_host = cl->nodes[n]->host;
        } else {
            const rl_redis_node *seed = &cl->rc->sentinels[k - shards];
            cl->seed_params = cl->params;
            cl->seed_params.host = seed->host;
            cl->seed_params.port = seed->port;
            cl->seed_params.addrs = seed->addrs;
            cl->seed_params.addr_count = seed->addr_count;
            cl->seed_params.db = 0;
            if (!(c = rl_conn_new(&cl->seed_params, &conn_ops, cl, &why))) {
                snprintf(cl->why, sizeof(cl->why), "seed %s:%d: %s", seed->host,
                         seed->port, why);
                continue;
            }
            cl->seed_conn = c;
            cl->asked_host = seed->host;
        }
        if (ask(cl, c, 0) != 0) {
            snprintf(cl->why, sizeof(cl->why), "cannot queue CLUSTER SLOTS");
            if (c == cl->seed_conn)
                drop_seed(cl);
            continue;
        }
        return;
    }
    if (cl->freeing)
        return;
    cl->refreshing = 0;
    cl->ops->on_no_map(cl->owner, cl->why[0] ? cl->why : "no node to ask");
}

void
rl_cluster_refresh(rl_cluster *cl, int soon, const char *reason)
{
    int64_t now;

    if (cl->refreshing || cl->freeing)
        return;
    now = mono_now(cl);
    if (soon && cl->last_refresh_ns != 0 &&
        now - cl->last_refresh_ns < RL_CLUSTER_REFRESH_GAP_NS)
        return;
    cl->last_refresh_ns = now;
    if (reason && cl->map)
        gwf_logf(cl->inst, GWF_LOG_INFO,
                 "rate_limit: Redis Cluster: asking for the slot map again "
                 "(%s)",
                 reason);
    cl->refreshing = 1;
    cl->cand = 0;
    snprintf(cl->why, sizeof(cl->why), "no seed node reachable");
    refresh_next(cl);
}

int
rl_cluster_has_map(const rl_cluster *cl)
{
    return cl->map != NULL;
}

int
rl_cluster_refreshing(const rl_cluster *cl)
{
    return cl->refreshing;
}

/* -- Losses and timeouts ----------------------------------------------- */

/* A node's or the seed's connection went by itself. */
static void
on_conn_gone(void *owner, rl_conn *c, const char *why)
{
    rl_cluster *cl = owner;

    if (c == cl->seed_conn) {
        cl->seed_conn = NULL;
        gwf_logf(cl->inst, GWF_LOG_WARN,
                 "rate_limit: Redis Cluster seed %s:%d (%s): %s",
                 cl->seed_params.host, cl->seed_params.port, rl_conn_address(c),
                 why);
        rl_conn_free(c, NULL); /* the ask hears it: the next candidate */
        return;
    }
    for (size_t i = 0; i < cl->node_count; i++) {
        cl_node *n = cl->nodes[i];
        if (n->conn != c)
            continue;
        n->conn = NULL;
        node_lost(cl, n, rl_conn_address(c), why);
        rl_conn_free(c, NULL); /* its commands take the fail mode */
        rl_cluster_refresh(cl, 1, "a node lost");
        return;
    }
    rl_conn_free(c, NULL); /* not ours (never happens): just end it */
}

void
rl_cluster_note_timeout(rl_cluster *cl)
{
    int64_t now = mono_now(cl);
    int64_t timeout = (int64_t)cl->cfg->timeout_ns;

    /* A decision's timeout says something waited that long, not what:
     * only what has itself waited a whole timeout is given up on (many
     * decisions time out together; the seed or address tried after the
     * first of them has had no time yet). */
    if (cl->seed_conn && cl->refresh_conn == cl->seed_conn &&
        now - cl->asked_ns >= timeout) {
        /* The seed being asked does not answer: the next one. */
        cl->asked_ns = now;
        if (rl_conn_connecting(cl->seed_conn))
            rl_conn_next_address(cl->seed_conn, "no answer to the connect");
        else
            drop_seed(cl);
    }
    for (size_t i = 0; i < cl->node_count && !cl->freeing; i++) {
        cl_node *n = cl->nodes[i];
        rl_conn *c = n->conn;
        uint64_t replies;

        if (!c)
            continue;
        if (rl_conn_connecting(c)) {
            /* snap_ns: when this connection (or its address) began. */
            if (now - n->snap_ns >= timeout) {
                n->snap_ns = now;
                rl_conn_next_address(c, "no answer to the connect");
            }
            continue;
        }
        replies = rl_conn_replies(c);
        if (!rl_conn_owes(c) || replies != n->snap_replies) {
            n->snap_replies = replies;
            n->snap_ns = now;
            n->stalls = 0;
            continue;
        }
        if (now - n->snap_ns < timeout)
            continue;
        n->snap_ns = now;
        if (++n->stalls < RL_NODE_STALLS)
            continue;
        gwf_logf(cl->inst, GWF_LOG_WARN,
                 "rate_limit: Redis Cluster node %s:%u gave no reply across "
                 "%d decision timeouts; reconnecting",
                 n->host, n->port, RL_NODE_STALLS);
        n->conn = NULL;
        node_lost(cl, n, rl_conn_address(c), "not answering");
        rl_conn_free(c, "not answering");
        rl_cluster_refresh(cl, 1, "a node not answering");
    }
}

/* -- Life ------------------------------------------------------------------ */

rl_cluster *
rl_cluster_new(const rl_config *cfg, const rl_redis_config *rc,
               const rl_conn_params *params, const rl_cluster_ops *ops,
               void *owner)
{
    rl_cluster *cl = calloc(1, sizeof(*cl));

    if (!cl)
        return NULL;
    cl->cfg = cfg;
    cl->rc = rc;
    cl->inst = cfg->instance;
    cl->params = *params;
    cl->ops = ops;
    cl->owner = owner;
    cl->tree_fns = rl_tree_functions;
    cl->tree = rl_tree_new(RL_CLUSTER_TREE_NODES, RL_CLUSTER_TREE_BYTES);
    if (!cl->tree) {
        free(cl);
        return NULL;
    }
    return cl;
}

void
rl_cluster_free(rl_cluster *cl)
{
    if (!cl)
        return;
    cl->freeing = 1;
    drop_seed(cl);
    for (size_t i = 0; i < cl->node_count; i++) {
        rl_conn *c = cl->nodes[i]->conn;
        cl->nodes[i]->conn = NULL;
        rl_conn_free(c, "worker stopping");
        free(cl->nodes[i]);
    }
    rl_tree_free(cl->tree);
    rl_slot_map_free(cl->map);
    free(cl->shard_node);
    free(cl);
}
