/*
 * cluster_support.h - a real Redis Cluster for the rate_limit tests: six
 * redis-server processes (support.c's redis_peer, so the same reaping)
 * on free loopback ports, joined by `redis-cli --cluster create` as three
 * primaries with a replica each, and the operations the tests put it
 * through: a primary killed and its replica promoted, slots resharded.
 *
 * Every node and file is removed when the cluster is stopped, and at
 * exit if a failing test never got there. Without redis-server or
 * redis-cli the start skips the test, except in CI (CI=true) where it
 * fails it.
 */
#ifndef RL_TEST_CLUSTER_SUPPORT_H
#define RL_TEST_CLUSTER_SUPPORT_H

#include <hiredis/hiredis.h>

#include "support.h"

#define CLUSTER_NODES 6
#define CLUSTER_NODE_TIMEOUT_MS 1500

typedef struct redis_cluster {
    redis_peer nodes[CLUSTER_NODES];
    char dir[64];                  /* nodes-<i>.conf, redis-cli's output */
    char conf[CLUSTER_NODES][128]; /* --cluster-config-file of each node */
    char log[CLUSTER_NODES][128];  /* --logfile of each node */
    long start_ms;                 /* how long the start took */
    int want_replicas;             /* settled: each range lists a replica too */
} redis_cluster;

/* 1 when redis-server and redis-cli are installed. Outside CI a test may
 * skip when they are not; in CI (CI=true) it must fail: cluster_usable
 * says which (1 run, 0 skip, fails the test in CI). */
int cluster_tools_installed(void);
int cluster_usable(void);

/* Start the six nodes, create the cluster and wait until every node says
 * cluster_state:ok and agrees every slot is served (15 s bound). Fails
 * the test if it cannot. */
void redis_cluster_start(redis_cluster *c);
/* Stop every node, remove every file. Safe to call twice. */
void redis_cluster_stop(redis_cluster *c);

/* A synchronous client to node i (2 s timeouts). */
redisContext *redis_cluster_client(const redis_cluster *c, int i);
/* Node i's 40-hex id (CLUSTER MYID) in id[41]. */
void redis_cluster_node_id(const redis_cluster *c, int i, char id[41]);
/* The index of the node listening on `port`, or -1. */
int redis_cluster_index(const redis_cluster *c, int port);
/* 1 when node i is a primary now (ROLE). */
int redis_cluster_is_primary(const redis_cluster *c, int i);
/* The index of a replica of primary i, or -1. */
int redis_cluster_replica_of(const redis_cluster *c, int i);

/* SIGKILL node i (a primary). */
void redis_cluster_kill(redis_cluster *c, int i);
/* Wait until node `replica` is a primary and every live node reports
 * cluster_state:ok (timeout_ms bound); returns the ms it took. */
long redis_cluster_wait_promoted(redis_cluster *c, int replica,
                                 long timeout_ms);
/* Move `slots` slots from primary `from` to primary `to` with
 * `redis-cli --cluster reshard` and wait until every live node agrees;
 * returns the ms it took. */
long redis_cluster_reshard(redis_cluster *c, int from, int to, int slots);

#endif
