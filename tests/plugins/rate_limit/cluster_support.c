/*
 * cluster_support.c - see cluster_support.h.
 *
 * The nodes are support.c's redis_peer (its start, its kill, its reaping
 * at exit) with cluster arguments; their cluster config files live in a
 * folder of their own, removed here. redis-cli runs as a child with its
 * output in that folder (shown when it fails) and a time bound. Waiting
 * is polling, 20 ms apart: cluster_state:ok on every live node, and every
 * live node's CLUSTER SLOTS giving every slot to the same primary port.
 */
#define _GNU_SOURCE
#include "cluster_support.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REDIS_SERVER "/usr/bin/redis-server"
#define REDIS_CLI "/usr/bin/redis-cli"
/* CLUSTER_NODE_TIMEOUT_MS as an argument. */
#define CLUSTER_NODE_TIMEOUT "1500"

static long
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

int
cluster_tools_installed(void)
{
    return access(REDIS_SERVER, X_OK) == 0 && access(REDIS_CLI, X_OK) == 0;
}

int
cluster_usable(void)
{
    const char *ci = getenv("CI");

    if (cluster_tools_installed())
        return 1;
    if (ci && strcmp(ci, "true") == 0)
        fail_msg("%s and %s are required in CI (Debian package "
                 "redis-server, redis-tools)",
                 REDIS_SERVER, REDIS_CLI);
    return 0;
}

/* The cluster running now, stopped at exit if a failed test (cmocka
 * jumped out of it) never stopped it. */
static redis_cluster *live_cluster;

static void
stop_live_cluster(void)
{
    if (live_cluster)
        redis_cluster_stop(live_cluster);
}

/* redis_peer_kill, and the node's folder removed with what a replica
 * wrote there (its copy of the primary's data, dump.rdb). */
static void
node_kill(redis_peer *p)
{
    char dir[sizeof(p->dir)];

    memcpy(dir, p->dir, sizeof(dir));
    redis_peer_kill(p);
    remove_tree(dir);
}

void
redis_cluster_stop(redis_cluster *c)
{
    for (int i = 0; i < CLUSTER_NODES; i++)
        node_kill(&c->nodes[i]);
    remove_tree(c->dir);
    c->dir[0] = 0;
    if (live_cluster == c)
        live_cluster = NULL;
}

redisContext *
redis_cluster_client(const redis_cluster *c, int i)
{
    redisContext *ctx = redis_connect_ms("127.0.0.1", c->nodes[i].port, 2000);

    if (!ctx)
        fail_msg("cannot connect to cluster node %d (port %d)", i,
                 c->nodes[i].port);
    return ctx;
}

/* Run redis-cli with `args` (NULL-ended), its output to dir/cli.log;
 * fail the test (with that output) unless it exits 0 within 30 s. */
static void
run_cli(redis_cluster *c, const char *const *args)
{
    const char *argv[32];
    int argc = 0;
    char log[128];

    snprintf(log, sizeof(log), "%s/cli.log", c->dir);
    argv[argc++] = REDIS_CLI;
    for (int i = 0; args[i] && argc < 31; i++)
        argv[argc++] = args[i];
    argv[argc] = NULL;
    pid_t pid = spawn_quiet(REDIS_CLI, argv, log);
    int status = 0;
    long deadline = now_ms() + 30000;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fail_msg("redis-cli %s timed out", args[0]);
        }
        sleep_ms(20);
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char text[2048] = "";
        FILE *f = fopen(log, "r");
        if (f) {
            size_t n = fread(text, 1, sizeof(text) - 1, f);
            text[n] = 0;
            fclose(f);
        }
        fail_msg("redis-cli %s failed (status %d):\n%s", args[0], status, text);
    }
}

/* The primary port of every slot as node i sees it (CLUSTER SLOTS), in
 * owner[16384] (0: unassigned). 0, or -1 if the node did not answer. */
static int
owners_seen_by(const redis_cluster *c, int i, unsigned short *owner,
               int want_replicas)
{
    redisContext *ctx = redis_connect_ms("127.0.0.1", c->nodes[i].port, 500);
    redisReply *r = NULL;
    int rc = -1;

    memset(owner, 0, 16384 * sizeof(*owner));
    if (!ctx)
        goto out;
    r = redisCommand(ctx, "CLUSTER SLOTS");
    if (!r || r->type != REDIS_REPLY_ARRAY)
        goto out;
    for (size_t k = 0; k < r->elements; k++) {
        redisReply *range = r->element[k];
        if (range->type != REDIS_REPLY_ARRAY || range->elements < 3)
            goto out;
        long long a = range->element[0]->integer;
        long long b = range->element[1]->integer;
        redisReply *primary = range->element[2];
        if (a < 0 || b > 16383 || primary->elements < 2 ||
            (want_replicas && range->elements < 4))
            goto out;
        for (long long s = a; s <= b; s++)
            owner[s] = (unsigned short)primary->element[1]->integer;
    }
    rc = 0;
out:
    if (r)
        freeReplyObject(r);
    if (ctx)
        redisFree(ctx);
    return rc;
}

static int
state_ok(const redis_cluster *c, int i)
{
    redisContext *ctx = redis_connect_ms("127.0.0.1", c->nodes[i].port, 500);
    redisReply *r = NULL;
    int ok = 0;

    if (ctx) {
        r = redisCommand(ctx, "CLUSTER INFO");
        ok = r && r->type == REDIS_REPLY_STRING &&
             strstr(r->str, "cluster_state:ok") != NULL;
    }
    if (r)
        freeReplyObject(r);
    if (ctx)
        redisFree(ctx);
    return ok;
}

/* Every live node says cluster_state:ok and sees the same owner for
 * every slot, each slot served. */
static int
cluster_agrees(const redis_cluster *c)
{
    static unsigned short first[16384], other[16384];
    int have_first = 0;

    for (int i = 0; i < CLUSTER_NODES; i++) {
        if (c->nodes[i].pid <= 0)
            continue;
        if (!state_ok(c, i))
            return 0;
        if (owners_seen_by(c, i, have_first ? other : first,
                           c->want_replicas) != 0)
            return 0;
        if (!have_first) {
            for (int s = 0; s < 16384; s++)
                if (!first[s])
                    return 0;
            have_first = 1;
        } else if (memcmp(first, other, sizeof(first)) != 0) {
            return 0;
        }
    }
    return have_first;
}

static long
wait_agreement(redis_cluster *c, long timeout_ms, const char *what)
{
    long start = now_ms();

    while (!cluster_agrees(c)) {
        if (now_ms() - start > timeout_ms)
            fail_msg("the cluster did not settle after %s (%ld ms)", what,
                     timeout_ms);
        sleep_ms(20);
    }
    return now_ms() - start;
}

void
redis_cluster_start(redis_cluster *c)
{
    static int registered;
    long start = now_ms();
    char ports[CLUSTER_NODES][32];
    const char *args[CLUSTER_NODES + 8];
    int n = 0;

    if (!cluster_tools_installed())
        fail_msg("%s or %s is not installed", REDIS_SERVER, REDIS_CLI);
    memset(c, 0, sizeof(*c));
    snprintf(c->dir, sizeof(c->dir), "/tmp/gwf-rl-cluster-XXXXXX");
    assert_non_null(mkdtemp(c->dir));
    live_cluster = c;
    if (!registered && atexit(stop_live_cluster) == 0)
        registered = 1;
    for (int i = 0; i < CLUSTER_NODES; i++) {
        redis_peer *p = &c->nodes[i];
        snprintf(c->conf[i], sizeof(c->conf[i]), "%s/nodes-%d.conf", c->dir, i);
        snprintf(c->log[i], sizeof(c->log[i]), "%s/node-%d.log", c->dir, i);
        p->cluster_bus = 1;
        p->extra[0] = "--cluster-enabled";
        p->extra[1] = "yes";
        p->extra[2] = "--cluster-config-file";
        p->extra[3] = c->conf[i];
        p->extra[4] = "--cluster-node-timeout";
        p->extra[5] = CLUSTER_NODE_TIMEOUT;
        p->extra[6] = "--logfile";
        p->extra[7] = c->log[i];
        redis_peer_start(p);
        snprintf(ports[i], sizeof(ports[i]), "127.0.0.1:%d", p->port);
        /* Redis lists a replica in CLUSTER SLOTS once its replication
         * offset is not 0: on an idle cluster only the primary's pings
         * move it (every 10 s by default), after a first sync that a
         * diskless primary delays by 5 s by default. */
        redisContext *ctx = redis_cluster_client(c, i);
        redisReply *r = redisCommand(ctx, "CONFIG SET repl-ping-replica-period "
                                          "1 repl-diskless-sync-delay 0");
        assert_non_null(r);
        assert_int_equal(r->type, REDIS_REPLY_STATUS);
        freeReplyObject(r);
        redisFree(ctx);
    }
    args[n++] = "--cluster";
    args[n++] = "create";
    for (int i = 0; i < CLUSTER_NODES; i++)
        args[n++] = ports[i];
    args[n++] = "--cluster-replicas";
    args[n++] = "1";
    args[n++] = "--cluster-yes";
    args[n] = NULL;
    run_cli(c, args);
    c->want_replicas = 1;
    wait_agreement(c, 15000, "create");
    c->want_replicas = 0;
    c->start_ms = now_ms() - start;
}

void
redis_cluster_node_id(const redis_cluster *c, int i, char id[41])
{
    redisContext *ctx = redis_cluster_client(c, i);
    redisReply *r = redisCommand(ctx, "CLUSTER MYID");

    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_int_equal(r->len, 40);
    memcpy(id, r->str, 40);
    id[40] = 0;
    freeReplyObject(r);
    redisFree(ctx);
}

int
redis_cluster_index(const redis_cluster *c, int port)
{
    for (int i = 0; i < CLUSTER_NODES; i++)
        if (c->nodes[i].port == port)
            return i;
    return -1;
}

int
redis_cluster_is_primary(const redis_cluster *c, int i)
{
    redisContext *ctx = redis_cluster_client(c, i);
    redisReply *r = redisCommand(ctx, "ROLE");
    int primary = r && r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
                  r->element[0]->type == REDIS_REPLY_STRING &&
                  strcmp(r->element[0]->str, "master") == 0;

    if (r)
        freeReplyObject(r);
    redisFree(ctx);
    return primary;
}

int
redis_cluster_replica_of(const redis_cluster *c, int i)
{
    for (int j = 0; j < CLUSTER_NODES; j++) {
        if (j == i || c->nodes[j].pid <= 0)
            continue;
        redisContext *ctx = redis_cluster_client(c, j);
        /* ["slave", master ip, master port, state, offset] */
        redisReply *r = redisCommand(ctx, "ROLE");
        int match = r && r->type == REDIS_REPLY_ARRAY && r->elements >= 3 &&
                    r->element[0]->type == REDIS_REPLY_STRING &&
                    strcmp(r->element[0]->str, "slave") == 0 &&
                    r->element[2]->type == REDIS_REPLY_INTEGER &&
                    r->element[2]->integer == c->nodes[i].port;
        if (r)
            freeReplyObject(r);
        redisFree(ctx);
        if (match)
            return j;
    }
    return -1;
}

void
redis_cluster_kill(redis_cluster *c, int i)
{
    node_kill(&c->nodes[i]);
}

/* The end of node i's log, to see why the cluster did not do something. */
static void
print_log_tail(const redis_cluster *c, int i)
{
    char text[4096];
    FILE *f = fopen(c->log[i], "r");

    if (!f)
        return;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, size > (long)sizeof(text) - 1 ? size - (long)sizeof(text) + 1 : 0,
          SEEK_SET);
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    text[n] = 0;
    fclose(f);
    print_message("--- node %d log (end) ---\n%s\n", i, text);
}

long
redis_cluster_wait_promoted(redis_cluster *c, int replica, long timeout_ms)
{
    long start = now_ms();

    while (!redis_cluster_is_primary(c, replica)) {
        if (now_ms() - start > timeout_ms) {
            print_log_tail(c, replica);
            fail_msg("node %d was not promoted within %ld ms", replica,
                     timeout_ms);
        }
        sleep_ms(20);
    }
    wait_agreement(c, timeout_ms, "a failover");
    return now_ms() - start;
}

long
redis_cluster_reshard(redis_cluster *c, int from, int to, int slots)
{
    char from_id[41], to_id[41], addr[32], count[16];
    long start = now_ms();

    redis_cluster_node_id(c, from, from_id);
    redis_cluster_node_id(c, to, to_id);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", c->nodes[from].port);
    snprintf(count, sizeof(count), "%d", slots);
    const char *args[] = {
        "--cluster", "reshard",       addr,  "--cluster-from",
        from_id,     "--cluster-to",  to_id, "--cluster-slots",
        count,       "--cluster-yes", NULL};
    run_cli(c, args);
    wait_agreement(c, 10000, "a reshard");
    return now_ms() - start;
}
