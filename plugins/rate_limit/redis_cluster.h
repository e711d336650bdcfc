/*
 * redis_cluster.h - where a key lives in a Redis Cluster, and a pipelined
 * connection to it (private to the rate_limit folder; see
 * redis_cluster.c).
 *
 * The client (redis.c) asks for the connection that serves a key, sends
 * its command there itself, and follows the MOVED / ASK answers with
 * rl_cluster_node_conn. This file owns the slot map, one connection per
 * node (a worker's pipeline to each primary), their backoff, and the
 * refreshes of the map.
 */
#ifndef GWF_RATE_LIMIT_REDIS_CLUSTER_H
#define GWF_RATE_LIMIT_REDIS_CLUSTER_H

#include "rate_limit.h"
#include "redis_conn.h"

typedef struct rl_cluster rl_cluster;

typedef struct rl_cluster_ops {
    /* A refresh got a slot map (the first, or a newer one). */
    void (*on_map)(void *owner);
    /* A refresh found no node that answered with a usable map: `why`
     * says what the last one did. The map in use (if any) stays. */
    void (*on_no_map)(void *owner, const char *why);
} rl_cluster_ops;

/* For rc->sentinels (the seed nodes); `params` is the template of every
 * node's connection (TLS, AUTH; host, port and addresses are the
 * node's). Nothing connects before the first refresh. NULL when out of
 * memory. */
rl_cluster *rl_cluster_new(const rl_config *cfg, const rl_redis_config *rc,
                           const rl_conn_params *params,
                           const rl_cluster_ops *ops, void *owner);
/* Ends every connection; no callback runs after. NULL is fine. */
void rl_cluster_free(rl_cluster *cl);

/* A slot map is in use. */
int rl_cluster_has_map(const rl_cluster *cl);
/* A refresh is under way. */
int rl_cluster_refreshing(const rl_cluster *cl);
/* Ask for the slot map now, unless a refresh is under way or (when
 * `soon`, for a MOVED or a lost node) one started less than
 * RL_CLUSTER_REFRESH_GAP_NS ago. One of on_map / on_no_map follows
 * (possibly before this returns). `reason`, when not NULL, is logged
 * with a refresh that replaces a map. */
void rl_cluster_refresh(rl_cluster *cl, int soon, const char *reason);

/* The node serving the hash slot of `key` (its index, stable for the
 * worker's life), or -1 with *why (no map, a slot no primary serves).
 */
int rl_cluster_route(rl_cluster *cl, const char *key, size_t len,
                     const char **why);
/* The node at host:port (a redirection's target), added if new; or -1
 * with *why (too many nodes known). */
int rl_cluster_node_at(rl_cluster *cl, const char *host, unsigned port,
                       const char **why);
/* Node `node`'s connection, made now if it has none; NULL with *why when
 * it is in backoff after a loss or cannot be connected to. */
rl_conn *rl_cluster_node_conn(rl_cluster *cl, int node, const char **why);
/* Node `node`'s host as the map names it (for redirections that name
 * no host). */
const char *rl_cluster_node_host(const rl_cluster *cl, int node);
/* A reply came from node `node`: its backoff is over. */
void rl_cluster_node_ok(rl_cluster *cl, int node);

/* A decision timed out. Only what has itself waited a whole timeout is
 * given up on (decisions time out in bursts): a node still connecting
 * tries its next address; a node that owes replies and has given none
 * across RL_NODE_STALLS timeouts is dropped (its commands take the fail
 * mode) and the map refreshed; a seed being asked for the map is passed
 * over for the next. */
void rl_cluster_note_timeout(rl_cluster *cl);

#define RL_CLUSTER_REFRESH_GAP_NS (100 * INT64_C(1000000))
/* Redirections one command follows before its answer is the error. */
#define RL_CLUSTER_MAX_REDIRECTS 5
/* Nodes a worker keeps track of (primaries of the map, redirection
 * targets, seeds are apart). */
#define RL_CLUSTER_MAX_NODES 256

#endif
