/*
 * test_cluster.c - redis.type Cluster through the plugin on the test
 * host, against a real three-primary, three-replica Redis Cluster
 * (cluster_support.c). Counts are checked key by key on the node that
 * serves each key's slot: exact across slots and primaries, with hash
 * tags, with several descriptors of one request on several primaries,
 * with the rolling script. Then the cluster is changed under traffic - a
 * reshard (MOVED and ASK followed) and a primary killed (the fail mode
 * during the gap, the promoted replica after) - and the failures of the
 * seeds themselves. One cluster for the whole file; the tests that
 * change it come last.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cluster_support.h"
#include "redis_slots.h"

#define MS INT64_C(1000000)
#define USERS 24
#define USER_DESCS "[{entries: [{type: Header, header: user}]}]"

static redis_cluster cluster;
static int have_cluster;

/* spec.rateLimit with redis {type: Cluster, addresses: [node 0, node 1]}
 * and `more` (e.g. "keyPrefix: ..."), `limit` a minute per user. */
static const char *
spec(const char *more, unsigned long limit)
{
    static char text[1024];

    snprintf(text, sizeof(text),
             "{redis: {type: Cluster, addresses: [\"127.0.0.1:%d\", "
             "\"127.0.0.1:%d\"]%s%s}, domain: shop, descriptors: [{key: user, "
             "rate_limit: {unit: minute, requests_per_unit: %lu}}, {key: "
             "tenant, rate_limit: {unit: minute, requests_per_unit: %lu}}]}",
             cluster.nodes[0].port, cluster.nodes[1].port, more ? ", " : "",
             more ? more : "", limit, limit);
    return text;
}

/* The value of `key` read where it lives: each live primary is asked
 * until one does not redirect. 0 when absent; *port the node's. */
static long long
cluster_get(const char *key, int *port)
{
    for (int i = 0; i < CLUSTER_NODES; i++) {
        redisContext *c;
        redisReply *r;
        long long v = -1;

        if (cluster.nodes[i].pid <= 0 || !redis_cluster_is_primary(&cluster, i))
            continue;
        c = redis_cluster_client(&cluster, i);
        r = redisCommand(c, "GET %s", key);
        assert_non_null(r);
        if (r->type == REDIS_REPLY_NIL)
            v = 0;
        else if (r->type == REDIS_REPLY_STRING)
            v = atoll(r->str);
        freeReplyObject(r);
        redisFree(c);
        if (v >= 0) {
            if (port)
                *port = cluster.nodes[i].port;
            return v;
        }
    }
    fail_msg("no primary serves %s", key);
    return -1;
}

/* User u's value: "u<u>-<k>", the first k whose key (without a prefix)
 * hashes into the u-th of USERS equal ranges of slots, so the users
 * spread over every primary and every part of each (similar keys have
 * close CRC16 slots). */
static void
user_value(char *out, size_t size, int u)
{
    char key[128];
    unsigned lo = (unsigned)u * RL_SLOT_COUNT / USERS;
    unsigned hi = (unsigned)(u + 1) * RL_SLOT_COUNT / USERS;

    for (int k = 0; k < 1000000; k++) {
        snprintf(out, size, "u%d-%d", u, k);
        snprintf(key, sizeof(key), "shop_user_%s_%lld", out, (long long)T0);
        unsigned slot = rl_key_slot(key, strlen(key));
        if (slot >= lo && slot < hi)
            return;
    }
    fail_msg("no value for user %d", u);
}

/* FLUSHALL on every live primary. */
static void
cluster_flush(void)
{
    for (int i = 0; i < CLUSTER_NODES; i++) {
        if (cluster.nodes[i].pid <= 0 || !redis_cluster_is_primary(&cluster, i))
            continue;
        redisContext *c = redis_cluster_client(&cluster, i);
        freeReplyObject(redisCommand(c, "FLUSHALL"));
        redisFree(c);
    }
}

static void
user_key(char *out, size_t size, const char *prefix, int user)
{
    char value[32];

    user_value(value, sizeof(value), user);
    snprintf(out, size, "%sshop_user_%s_%lld", prefix ? prefix : "", value,
             (long long)T0);
}

static int
status_for(gwf_test_host *h, const char *name, const char *value)
{
    char header[96];

    snprintf(header, sizeof(header), "%s: %s", name, value);
    return status_of(h, "/", header);
}

/* Each of USERS users sends limit + 1 requests: limit pass, one is
 * refused, and each key holds limit + 1 where CLUSTER SLOTS says. */
static void
check_users_exact(gwf_test_host *h, const char *prefix, unsigned long limit,
                  int *ports_seen)
{
    char value[32], key[128];
    int ports[CLUSTER_NODES] = {0}, distinct = 0;

    for (int u = 0; u < USERS; u++) {
        user_value(value, sizeof(value), u);
        for (unsigned long i = 0; i < limit; i++)
            assert_int_equal(status_for(h, "user", value), 200);
        assert_int_equal(status_for(h, "user", value), 429);
    }
    for (int u = 0; u < USERS; u++) {
        int port = 0, j;
        user_key(key, sizeof(key), prefix, u);
        assert_int_equal(cluster_get(key, &port), (long long)limit + 1);
        for (j = 0; j < distinct && ports[j] != port; j++)
            ;
        if (j == distinct)
            ports[distinct++] = port;
    }
    *ports_seen = distinct;
}

static int
setup_cluster(void **state)
{
    (void)state;
    if (!cluster_usable())
        return 0;
    redis_cluster_start(&cluster);
    have_cluster = 1;
    return 0;
}

static int
teardown_cluster(void **state)
{
    (void)state;
    redis_cluster_stop(&cluster);
    return 0;
}

#define NEED_CLUSTER()                                                         \
    do {                                                                       \
        if (!have_cluster)                                                     \
            skip();                                                            \
    } while (0)

/* Keys spread over the three primaries by slot; every count exact. */
static void
test_counts_are_exact_across_slots_and_primaries(void **state)
{
    (void)state;
    NEED_CLUSTER();
    gwf_test_host *h = host_with(global_manifests(spec(NULL, 3), USER_DESCS));
    int primaries = 0;

    check_users_exact(h, NULL, 3, &primaries);
    assert_int_equal(primaries, 3);
    assert_true(gwf_test_log_contains(h, "slot map from"));
    gwf_test_host_free(h);
}

/* A hash tag in keyPrefix: every key hashes to the tag's slot, so all
 * land on one primary, still exact. */
static void
test_a_hash_tag_puts_every_key_on_one_primary(void **state)
{
    (void)state;
    NEED_CLUSTER();
    gwf_test_host *h =
        host_with(global_manifests(spec("keyPrefix: \"{gw}\"", 2), USER_DESCS));
    int primaries = 0;

    check_users_exact(h, "{gw}", 2, &primaries);
    assert_int_equal(primaries, 1);
    gwf_test_host_free(h);
}

/* A value of `name` whose key's slot is in [lo, hi]. */
static void
value_in_slots(const char *name, unsigned lo, unsigned hi, char *out,
               size_t size)
{
    char key[128];

    for (int i = 0; i < 100000; i++) {
        snprintf(out, size, "v%d", i);
        snprintf(key, sizeof(key), "shop_%s_%s_%lld", name, out, (long long)T0);
        unsigned slot = rl_key_slot(key, strlen(key));
        if (slot >= lo && slot <= hi)
            return;
    }
    fail_msg("no value found");
}

/* One request making two descriptors whose keys live on different
 * primaries: both counted, once each, in one decision. */
static void
test_one_request_counts_on_two_primaries(void **state)
{
    (void)state;
    NEED_CLUSTER();
    char descs[256], user[16], tenant[16], header[96], key_u[128], key_t[128];
    int port_u = 0, port_t = 0;
    gwf_test_host *h;

    /* redis-cli --cluster create gives the first primary the low third
     * of the slots and the last the high third. */
    value_in_slots("user", 0, 5000, user, sizeof(user));
    value_in_slots("tenant", 11500, 16383, tenant, sizeof(tenant));
    snprintf(descs, sizeof(descs),
             "[{entries: [{type: Header, header: user}]}, {entries: [{type: "
             "Generic, generic: {key: tenant, value: %s}}]}]",
             tenant);
    h = host_with(global_manifests(spec(NULL, 5), descs));
    snprintf(header, sizeof(header), "user: %s", user);
    assert_int_equal(status_of(h, "/", header), 200);
    assert_int_equal(status_of(h, "/", header), 200);
    snprintf(key_u, sizeof(key_u), "shop_user_%s_%lld", user, (long long)T0);
    snprintf(key_t, sizeof(key_t), "shop_tenant_%s_%lld", tenant,
             (long long)T0);
    assert_int_equal(cluster_get(key_u, &port_u), 2);
    assert_int_equal(cluster_get(key_t, &port_t), 2);
    assert_int_not_equal(port_u, port_t);
    gwf_test_host_free(h);
}

/* The rolling (GCRA) script takes one key per call: EVALSHA on each
 * primary (EVAL once where the script is not loaded yet). */
static void
test_rolling_script_limits_on_every_primary(void **state)
{
    (void)state;
    NEED_CLUSTER();
    char text[1200], value[16];
    gwf_test_host *h;

    snprintf(text, sizeof(text), "%s", spec("keyPrefix: roll_", 2));
    /* algorithm goes after the redis object */
    char *at = strstr(text, "domain:");
    assert_non_null(at);
    memmove(at + 19, at, strlen(at) + 1);
    memcpy(at, "algorithm: Rolling,", 19);
    h = host_with(global_manifests(text, USER_DESCS));
    for (int u = 0; u < USERS; u++) {
        snprintf(value, sizeof(value), "r%d", u);
        assert_int_equal(status_for(h, "user", value), 200);
        assert_int_equal(status_for(h, "user", value), 200);
        assert_int_equal(status_for(h, "user", value), 429);
    }
    gwf_test_host_free(h);
}

/* A command on node i; its reply's type (the reply is freed). */
static int
command_on(int i, const char *fmt, ...)
{
    redisContext *c = redis_cluster_client(&cluster, i);
    va_list ap;
    redisReply *r;
    int type;

    va_start(ap, fmt);
    r = redisvCommand(c, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    if (r->type == REDIS_REPLY_ERROR)
        print_message("node %d: %s\n", i, r->str);
    type = r->type;
    freeReplyObject(r);
    redisFree(c);
    return type;
}

/* A slot half-way through a migration (MIGRATING on its owner,
 * IMPORTING on another primary) and a key not yet on the owner: the
 * owner answers ASK, the command goes to the importing node after
 * ASKING, and counts there; the owner's map does not change. */
static void
test_ask_during_a_migration_counts_on_the_importing_node(void **state)
{
    (void)state;
    NEED_CLUSTER();
    cluster_flush();
    gwf_test_host *h = host_with(global_manifests(spec(NULL, 100), USER_DESCS));
    char value[32], key[128], owner_id[41], target_id[41];
    int port = 0, owner, target = -1;
    unsigned slot;

    user_value(value, sizeof(value), 5);
    user_key(key, sizeof(key), NULL, 5);
    slot = rl_key_slot(key, strlen(key));
    assert_int_equal(cluster_get(key, &port), 0); /* absent; its owner */
    owner = redis_cluster_index(&cluster, port);
    for (int i = 0; i < CLUSTER_NODES && target < 0; i++)
        if (i != owner && cluster.nodes[i].pid > 0 &&
            redis_cluster_is_primary(&cluster, i))
            target = i;
    assert_true(target >= 0);
    redis_cluster_node_id(&cluster, owner, owner_id);
    redis_cluster_node_id(&cluster, target, target_id);
    assert_int_equal(
        command_on(target, "CLUSTER SETSLOT %u IMPORTING %s", slot, owner_id),
        REDIS_REPLY_STATUS);
    assert_int_equal(
        command_on(owner, "CLUSTER SETSLOT %u MIGRATING %s", slot, target_id),
        REDIS_REPLY_STATUS);
    assert_int_equal(status_for(h, "user", value), 200);
    assert_int_equal(status_for(h, "user", value), 200);
    /* On the importing node (ASKING lets us read it), not the owner. */
    redisContext *c = redis_cluster_client(&cluster, target);
    redisReply *r = redisCommand(c, "ASKING");
    freeReplyObject(r);
    r = redisCommand(c, "GET %s", key);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, "2");
    freeReplyObject(r);
    redisFree(c);
    /* The owner does not have it: it sends a reader there too. */
    c = redis_cluster_client(&cluster, owner);
    r = redisCommand(c, "GET %s", key);
    assert_int_equal(r->type, REDIS_REPLY_ERROR);
    assert_true(strncmp(r->str, "ASK ", 4) == 0);
    freeReplyObject(r);
    redisFree(c);
    /* ASK is one-off: no refresh of the map was asked for. */
    assert_false(gwf_test_log_contains(h, "asking for the slot map again"));
    assert_int_equal(command_on(owner, "CLUSTER SETSLOT %u STABLE", slot),
                     REDIS_REPLY_STATUS);
    assert_int_equal(command_on(target, "CLUSTER SETSLOT %u STABLE", slot),
                     REDIS_REPLY_STATUS);
    cluster_flush();
    gwf_test_host_free(h);
}

/* CLUSTER SETSLOT slot NODE id on every live primary. */
static void
assign_slot(unsigned slot, int node)
{
    char id[41];

    redis_cluster_node_id(&cluster, node, id);
    for (int i = 0; i < CLUSTER_NODES; i++)
        if (cluster.nodes[i].pid > 0 && redis_cluster_is_primary(&cluster, i))
            assert_int_equal(
                command_on(i, "CLUSTER SETSLOT %u NODE %s", slot, id),
                REDIS_REPLY_STATUS);
}

/* An empty slot given to another primary: the old owner answers MOVED,
 * the command follows it and counts on the new owner, and the map is
 * asked again - on a node connection that sat idle, the case where the
 * reply's builder must be the request's from its first byte. The next
 * request goes straight to the new owner: no second MOVED. */
static void
test_moved_is_followed_and_the_map_refreshed(void **state)
{
    (void)state;
    NEED_CLUSTER();
    cluster_flush();
    gwf_test_host *h = host_with(global_manifests(spec(NULL, 100), USER_DESCS));
    char value[32], key[128];
    int port = 0, owner, target = -1;
    unsigned slot;

    /* every node connection made, then idle */
    for (int u = 0; u < 3; u++) {
        user_value(value, sizeof(value), u * 8 + 1);
        assert_int_equal(status_for(h, "user", value), 200);
    }
    cluster_flush();
    /* a key away from the first primary's slots: the map is asked of
     * the first primary, not of the node that answered MOVED */
    user_value(value, sizeof(value), 12);
    user_key(key, sizeof(key), NULL, 12);
    slot = rl_key_slot(key, strlen(key));
    assert_int_equal(cluster_get(key, &port), 0);
    owner = redis_cluster_index(&cluster, port);
    for (int i = 0; i < CLUSTER_NODES && target < 0; i++)
        if (i != owner && cluster.nodes[i].pid > 0 &&
            redis_cluster_is_primary(&cluster, i))
            target = i;
    assign_slot(slot, target);
    gwf_test_advance(h, 200 * MS); /* past the gap between refreshes */
    assert_int_equal(status_for(h, "user", value), 200);
    assert_int_equal(cluster_get(key, &port), 1);
    assert_int_equal(port, cluster.nodes[target].port);
    assert_true(gwf_test_log_contains(h, "asking for the slot map again "
                                         "(MOVED "));
    assert_false(gwf_test_log_contains(h, "malformed"));
    gwf_test_advance(h, 200 * MS);
    const char *logs = gwf_test_logs(h);
    size_t before = strlen(logs);
    assert_int_equal(status_for(h, "user", value), 200);
    assert_int_equal(cluster_get(key, NULL), 2);
    assert_int_equal(strlen(gwf_test_logs(h)), before); /* no MOVED */
    cluster_flush();
    assign_slot(slot, owner);
    gwf_test_host_free(h);
}

/* -- The cluster changed under traffic ------------------------------------ */

typedef struct reshard_job {
    int from, to, slots;
    volatile int done;
} reshard_job;

static void *
reshard_thread(void *arg)
{
    reshard_job *job = arg;

    redis_cluster_reshard(&cluster, job->from, job->to, job->slots);
    job->done = 1;
    return NULL;
}

/* Slots move from the first primary to the second while requests run:
 * MOVED and ASK are followed (no request fails), and each key holds
 * exactly the decisions made for it - nothing counted twice. */
static void
test_a_reshard_under_traffic_loses_and_doubles_nothing(void **state)
{
    (void)state;
    NEED_CLUSTER();
    cluster_flush();
    gwf_test_host *h =
        host_with(global_manifests(spec(NULL, 1000000), USER_DESCS));
    long long made[USERS] = {0};
    long fails = 0, rounds = 0;
    char value[32], key[128];
    reshard_job job = {.from = 0, .to = 1, .slots = 2000};
    pthread_t t;
    int moved_users = 0, before[USERS];

    /* Keys placed on node 0 by the first requests; the reshard takes
     * its low slots, where about a third of the keys are. */
    for (int u = 0; u < USERS; u++) {
        user_value(value, sizeof(value), u);
        assert_int_equal(status_for(h, "user", value), 200);
        made[u]++;
    }
    for (int u = 0; u < USERS; u++) {
        user_key(key, sizeof(key), NULL, u);
        assert_int_equal(cluster_get(key, &before[u]), 1);
    }
    assert_int_equal(pthread_create(&t, NULL, reshard_thread, &job), 0);
    while (!job.done) {
        for (int u = 0; u < USERS; u++) {
            user_value(value, sizeof(value), u);
            int st = status_for(h, "user", value);
            if (st == 200)
                made[u]++;
            else {
                fails++;
                print_message("user %d: status %d in round %ld\n", u, st,
                              rounds);
                if (fails == 1)
                    print_message("%s\n", gwf_test_logs(h));
            }
        }
        rounds++;
        /* The test host's clock moves only when told: past the gap
         * between two refreshes of the map every few rounds (within
         * the minute's window). */
        if (rounds < 2000)
            gwf_test_advance(h, 25 * MS);
    }
    pthread_join(t, NULL);
    for (int u = 0; u < USERS; u++) {
        user_value(value, sizeof(value), u);
        assert_int_equal(status_for(h, "user", value), 200);
        made[u]++;
    }
    for (int u = 0; u < USERS; u++) {
        int port = 0;
        user_key(key, sizeof(key), NULL, u);
        assert_int_equal(cluster_get(key, &port), made[u]);
        if (port != before[u])
            moved_users++;
    }
    print_message("reshard: %ld rounds of %d requests, %ld failed, %d keys "
                  "moved\n",
                  rounds, USERS, fails, moved_users);
    assert_int_equal(fails, 0);
    assert_true(moved_users > 0);
    assert_true(gwf_test_log_contains(h, "asking for the slot map again "
                                         "(MOVED "));
    gwf_test_host_free(h);
}

/* The primary of a key killed: the fail mode (closed here) while its
 * slots have no primary, then, once the replica is promoted and the
 * node's backoff is over, the map is refreshed and counting goes on on
 * the new primary from what was replicated. */
static void
test_a_killed_primary_fails_closed_then_its_replica_counts(void **state)
{
    (void)state;
    NEED_CLUSTER();
    cluster_flush();
    gwf_test_host *h =
        host_with(global_manifests(spec(NULL, 1000000), USER_DESCS));
    char key[160];
    int port = 0, victim, replica;
    long long before;

    assert_int_equal(status_for(h, "user", "k"), 200);
    assert_int_equal(status_for(h, "user", "k"), 200);
    snprintf(key, sizeof(key), "shop_user_k_%lld", (long long)T0);
    assert_int_equal(cluster_get(key, &port), 2);
    victim = redis_cluster_index(&cluster, port);
    replica = redis_cluster_replica_of(&cluster, victim);
    assert_true(replica >= 0);
    /* what was written is on the replica before the kill */
    for (int i = 0; i < 100; i++) {
        redisContext *c = redis_cluster_client(&cluster, replica);
        redisReply *r = redisCommand(c, "READONLY");
        freeReplyObject(r);
        r = redisCommand(c, "GET %s", key);
        int ok = r && r->type == REDIS_REPLY_STRING && atoi(r->str) == 2;
        freeReplyObject(r);
        redisFree(c);
        if (ok)
            break;
        sleep_ms(10);
    }
    /* A user on another primary: its requests run the test host's loop
     * (where the map's refresh is read) while "k" fails at once. */
    char other[32], other_key[128];
    for (int u = 0;; u++) {
        int p = 0;
        assert_true(u < USERS);
        user_value(other, sizeof(other), u);
        user_key(other_key, sizeof(other_key), NULL, u);
        cluster_get(other_key, &p);
        if (p != cluster.nodes[victim].port)
            break;
    }
    redis_cluster_kill(&cluster, victim);
    assert_int_equal(status_for(h, "user", "k"), 500);
    assert_int_equal(status_for(h, "user", "k"), 500); /* in backoff */
    redis_cluster_wait_promoted(&cluster, replica, 15000);
    gwf_test_advance(h, 6000 * MS); /* past the node's backoff */
    int st = 0;
    for (int i = 0; i < 20 && (st = status_for(h, "user", "k")) != 200; i++) {
        gwf_test_advance(h, 200 * MS);
        assert_int_equal(status_for(h, "user", other), 200);
    }
    if (st != 200)
        print_message("%s\n", gwf_test_logs(h));
    assert_int_equal(st, 200);
    before = cluster_get(key, &port);
    assert_int_equal(port, cluster.nodes[replica].port);
    assert_int_equal(before, 3);
    assert_true(gwf_test_log_contains(h, "Redis Cluster node"));
    gwf_test_host_free(h);
}

/* spec.rateLimit with the one seed node 127.0.0.1:port, 5 a minute per
 * user. */
static const char *
seed_spec(int port)
{
    static char text[512];

    snprintf(text, sizeof(text),
             "{redis: {type: Cluster, addresses: [\"127.0.0.1:%d\"]}, "
             "domain: shop, descriptors: [{key: user, rate_limit: {unit: "
             "minute, requests_per_unit: 5}}]}",
             port);
    return text;
}

/* -- Seeds that cannot give a map ----------------------------------------- */

/* No seed reachable: the fail mode at once, then the backoff. */
static void
test_no_seed_reachable_fails_closed(void **state)
{
    (void)state;
    gwf_test_host *h;

    h = host_with(
        global_manifests(seed_spec(free_port("127.0.0.1")), USER_DESCS));
    assert_int_equal(status_for(h, "user", "a"), 500);
    assert_true(gwf_test_log_contains(h, "Redis Cluster: no slot map"));
    assert_int_equal(status_for(h, "user", "a"), 500);
    gwf_test_host_free(h);
}

/* A seed that is a plain Redis (cluster support disabled): its error is
 * not a map; nothing is counted there. */
static void
test_a_seed_that_is_not_a_cluster_is_not_used(void **state)
{
    (void)state;
    redis_peer plain;
    gwf_test_host *h;

    memset(&plain, 0, sizeof(plain));
    redis_peer_start(&plain);
    h = host_with(global_manifests(seed_spec(plain.port), USER_DESCS));
    assert_int_equal(status_for(h, "user", "a"), 500);
    assert_true(gwf_test_log_contains(h, "cluster support disabled"));
    assert_false(redis_exists(&plain, "shop_user_a_1767225600"));
    gwf_test_host_free(h);
    redis_peer_kill(&plain);
}

/* A scripted seed answering CLUSTER SLOTS with a map that names a slot
 * range past 16383: refused, the fail mode. */
static void
test_a_forged_slot_map_is_refused(void **state)
{
    (void)state;
    const char *answer = "*1\r\n*3\r\n:0\r\n:20000\r\n*2\r\n$9\r\n127.0.0.1"
                         "\r\n:6379\r\n";
    int port;
    pid_t pid = scripted_peer_start(answer, &port);
    gwf_test_host *h;

    h = host_with(global_manifests(seed_spec(port), USER_DESCS));
    assert_int_equal(status_for(h, "user", "a"), 500);
    assert_true(gwf_test_log_contains(h, "is not used"));
    gwf_test_host_free(h);
    scripted_peer_stop(pid);
}

/* Occurrences of `needle` in buf[len]. */
static int
occurrences(const char *buf, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    int count = 0;

    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(buf + i, needle, n) == 0)
            count++;
    return count;
}

/* A scripted "node" serving the listening socket `fd`: CLUSTER SLOTS
 * gets `map` (after `slots_delay_ms`), ASKING an OK, and every INCRBY and
 * EXPIRE either :1 or (`moved`) a MOVED to port `moved` - only EXPIRE
 * when `moved` is negative (-port). Each connection is served by its own
 * child until the client closes it. */
static pid_t
fake_node_start(int fd, const char *map, int moved, int slots_delay_ms)
{
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid != 0) {
        close(fd);
        return pid;
    }
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    signal(SIGCHLD, SIG_IGN);
    for (;;) {
        char redirect[64], buf[4096];
        int c = accept(fd, NULL, NULL);
        ssize_t got;

        if (c < 0 || fork() != 0) {
            if (c >= 0)
                close(c);
            continue;
        }
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        snprintf(redirect, sizeof(redirect), "-MOVED 1 127.0.0.1:%d\r\n",
                 moved < 0 ? -moved : moved);
        while ((got = read(c, buf, sizeof(buf))) > 0) {
            size_t n = (size_t)got;
            int ok = 1;
            if (occurrences(buf, n, "SLOTS")) {
                sleep_ms(slots_delay_ms);
                ok = write(c, map, strlen(map)) > 0;
            }
            for (int i = occurrences(buf, n, "ASKING"); ok && i > 0; i--)
                ok = write(c, "+OK\r\n", 5) > 0;
            /* A pipelined INCRBY + EXPIRE pair arrives in one read. */
            for (int i = occurrences(buf, n, "$6\r\nINCRBY"); ok && i > 0; i--)
                ok = moved > 0 ? write(c, redirect, strlen(redirect)) > 0
                               : write(c, ":1\r\n", 4) > 0;
            for (int i = occurrences(buf, n, "$6\r\nEXPIRE"); ok && i > 0; i--)
                ok = moved ? write(c, redirect, strlen(redirect)) > 0
                           : write(c, ":1\r\n", 4) > 0;
        }
        _exit(0);
    }
}

/* A CLUSTER SLOTS reply giving every slot to 127.0.0.1:port. */
static const char *
whole_map(int port)
{
    static char map[160];

    snprintf(map, sizeof(map),
             "*1\r\n*3\r\n:0\r\n:16383\r\n*2\r\n$9\r\n127.0.0.1\r\n:%d"
             "\r\n",
             port);
    return map;
}

static void
stop_child(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* A node that redirects every command to itself: the command follows 5
 * redirections, then the MOVED is its answer (the fail mode); nothing
 * loops, the worker goes on. */
static void
test_a_redirect_loop_ends_in_the_fail_mode(void **state)
{
    (void)state;
    int port, fd = listen_loopback(&port);
    pid_t pid = fake_node_start(fd, whole_map(port), port, 0);
    gwf_test_host *h;

    h = host_with(global_manifests(seed_spec(port), USER_DESCS));
    assert_int_equal(status_for(h, "user", "a"), 500);
    assert_true(gwf_test_log_contains(h, "MOVED 1 127.0.0.1"));
    assert_int_equal(status_for(h, "user", "a"), 500);
    gwf_test_host_free(h);
    stop_child(pid);
}

/* INCRBY counted, then the key migrated before its EXPIRE ran (EXPIRE
 * answered MOVED): the EXPIRE goes again, alone, to the node named, so
 * the key there does not live forever. */
static void
test_an_expire_redirected_after_its_count_is_sent_again(void **state)
{
    (void)state;
    redis_peer target = {0};
    int port, fd = listen_loopback(&port);
    pid_t pid;
    gwf_test_host *h;
    redisContext *c;
    const char *key = "shop_user_a_1767225600";
    long long ttl = -1;

    redis_peer_start(&target);
    c = redis_peer_client(&target, NULL, NULL);
    freeReplyObject(redisCommand(c, "SET %s 1", key)); /* migrated there */
    pid = fake_node_start(fd, whole_map(port), -target.port, 0);
    h = host_with(global_manifests(seed_spec(port), USER_DESCS));
    assert_int_equal(status_for(h, "user", "a"), 200);
    for (int i = 0; i < 100 && (ttl = redis_int(c, "TTL %s", key)) < 0; i++) {
        gwf_test_result_free(start_api(h, "/", "user: b", 10));
        sleep_ms(5);
    }
    assert_true(ttl > 0 && ttl <= 60);
    redisFree(c);
    gwf_test_host_free(h);
    stop_child(pid);
    redis_peer_kill(&target);
}

/* Two seeds: the first accepts and never answers, the second answers the
 * map after 30 ms. */
typedef struct two_seeds {
    int hole, hole_port, good_port;
    pid_t good, half; /* half: the first seed, when it answers half */
    gwf_test_host *h;
} two_seeds;

/* The first seed: a listener nobody reads (`half` NULL), or a peer that
 * answers CLUSTER SLOTS with `half` - the start of a reply - and then
 * nothing. */
static void
two_seeds_start_with(two_seeds *t, const char *half)
{
    char text[512];
    int fd = listen_loopback(&t->good_port);

    t->hole = -1;
    t->half = 0;
    if (half)
        t->half = scripted_peer_start(half, &t->hole_port);
    else
        t->hole = listen_loopback(&t->hole_port);
    t->good = fake_node_start(fd, whole_map(t->good_port), 0, 30);
    snprintf(text, sizeof(text),
             "{redis: {type: Cluster, addresses: [\"127.0.0.1:%d\", "
             "\"127.0.0.1:%d\"]}, domain: shop, descriptors: [{key: user, "
             "rate_limit: {unit: minute, requests_per_unit: 5}}]}",
             t->hole_port, t->good_port);
    t->h = host_with(global_manifests(text, USER_DESCS));
}

static void
two_seeds_start(two_seeds *t)
{
    two_seeds_start_with(t, NULL);
}

static void two_seeds_stop(two_seeds *t);

/* Requests run the loop until the second seed's map is in; then one
 * counts. The seeds are stopped. */
static void
two_seeds_expect_map(two_seeds *t)
{
    for (int i = 0; i < 20 && !gwf_test_log_contains(t->h, "slot map from");
         i++)
        gwf_test_result_free(start_api(t->h, "/", "user: c", 20));
    assert_int_equal(status_for(t->h, "user", "c"), 200);
    two_seeds_stop(t);
}

/* Request `a`, waiting on the silent or half-answering first seed,
 * takes the fail mode (500) once its timeout passes; then the next seed's
 * map comes and requests count (two_seeds_expect_map). */
static void
two_seeds_time_out(two_seeds *t, gwf_test_result *a)
{
    gwf_test_advance(t->h, 100 * MS);
    gwf_test_wait(t->h, a, 1000);
    assert_int_equal(gwf_test_status(a), 500);
    gwf_test_result_free(a);
    two_seeds_expect_map(t);
}

static void
two_seeds_stop(two_seeds *t)
{
    gwf_test_host_free(t->h);
    if (t->hole >= 0)
        close(t->hole);
    if (t->half)
        scripted_peer_stop(t->half);
    stop_child(t->good);
}

/* The first seed answers half a slot map and then nothing: the decision
 * waiting for the map takes the fail mode at its timeout, the seed is
 * passed over, and the next one's map is used. */
static void
test_a_seed_answering_half_a_map_is_passed_over_at_the_timeout(void **state)
{
    (void)state;
    two_seeds t;
    gwf_test_result *a;

    two_seeds_start_with(&t, "*1\r\n*3\r\n:0\r\n:16383\r\n*2\r\n$9\r\n12");
    a = start_api(t.h, "/", "user: a", 20);
    assert_int_equal(gwf_test_outcome(a), GWF_TEST_RUNNING);
    two_seeds_time_out(&t, a);
}

/* Clients that go away while their decisions wait for the first map:
 * when the map comes, their held commands are sent and answered into
 * nothing; the next request counts (ASan in CI: nothing freed is
 * touched). */
static void
test_clients_gone_while_waiting_for_the_map_leave_nothing_behind(void **state)
{
    (void)state;
    two_seeds t;
    gwf_test_result *a, *b;

    two_seeds_start(&t);
    a = start_api(t.h, "/", "user: a", 20);
    b = start_api(t.h, "/", "user: b", 20);
    gwf_test_abort(t.h, a);
    gwf_test_abort(t.h, b);
    assert_int_equal(gwf_test_outcome(a), GWF_TEST_ABORTED);
    gwf_test_result_free(a);
    gwf_test_result_free(b);
    /* Their timers went with them: the next request's timeout is what
     * passes the silent seed over. */
    a = start_api(t.h, "/", "user: c", 20);
    two_seeds_time_out(&t, a);
}

/* Decisions held for the first map time out together (one timer batch):
 * the silent seed is given up on once, and the next seed - asked a
 * moment ago - is left its own timeout: the map comes, requests count. */
static void
test_timeouts_together_give_up_on_one_seed_not_the_next(void **state)
{
    (void)state;
    two_seeds t;
    gwf_test_result *a, *b;

    two_seeds_start(&t);
    a = start_api(t.h, "/", "user: a", 20);
    b = start_api(t.h, "/", "user: b", 20);
    gwf_test_advance(t.h, 100 * MS); /* both time out at once */
    gwf_test_wait(t.h, a, 1000);
    gwf_test_wait(t.h, b, 1000);
    assert_int_equal(gwf_test_status(a), 500);
    assert_int_equal(gwf_test_status(b), 500);
    gwf_test_result_free(a);
    gwf_test_result_free(b);
    two_seeds_expect_map(&t);
}

/* The same, the second decision timing out 1 ms after the first, while
 * the next seed is being asked: it is not given up on. */
static void
test_a_timeout_just_after_another_leaves_the_next_seed_alone(void **state)
{
    (void)state;
    two_seeds t;
    gwf_test_result *a, *b;

    two_seeds_start(&t);
    a = start_api(t.h, "/", "user: a", 20);
    gwf_test_advance(t.h, 1 * MS);
    b = start_api(t.h, "/", "user: b", 20);
    gwf_test_advance(t.h, 99 * MS); /* a times out: the next seed asked */
    gwf_test_wait(t.h, a, 10);
    gwf_test_advance(t.h, 1 * MS); /* b times out */
    gwf_test_wait(t.h, b, 200);
    gwf_test_result_free(a);
    gwf_test_result_free(b);
    two_seeds_expect_map(&t);
}

/* A map with half the slots on a node that accepts and never answers,
 * half on one that answers: dropping the silent one (three timeouts)
 * must not take the healthy one down with it (its connection is young:
 * no timeout is its). */
static void
test_dropping_a_silent_node_leaves_a_healthy_one_alone(void **state)
{
    (void)state;
    char map[256], silent_user[32], good_user[32], hs[64], key[128];
    int s_port, g_port, g_fd = listen_loopback(&g_port);
    int silent = listen_loopback(&s_port);
    pid_t good;
    gwf_test_host *h;

    snprintf(map, sizeof(map),
             "*2\r\n*3\r\n:0\r\n:8191\r\n*2\r\n$9\r\n127.0.0.1\r\n:%d"
             "\r\n*3\r\n:8192\r\n:16383\r\n*2\r\n$9\r\n127.0.0.1\r\n:%d"
             "\r\n",
             s_port, g_port);
    good = fake_node_start(g_fd, map, 0, 0);
    silent_user[0] = good_user[0] = 0;
    for (int u = 0; !silent_user[0] || !good_user[0]; u++) {
        char value[32];
        snprintf(value, sizeof(value), "u%d", u);
        snprintf(key, sizeof(key), "shop_user_%s_%lld", value, (long long)T0);
        char *user =
            rl_key_slot(key, strlen(key)) < 8192 ? silent_user : good_user;
        if (!user[0])
            memcpy(user, value, sizeof(value));
    }
    h = host_with(global_manifests(seed_spec(g_port), USER_DESCS));
    snprintf(hs, sizeof(hs), "user: %s", silent_user);
    for (int i = 0; i < 4 && !gwf_test_log_contains(h, "reconnecting"); i++) {
        gwf_test_result *r = start_api(h, "/", hs, 100);
        gwf_test_advance(h, 100 * MS);
        gwf_test_wait(h, r, 1000);
        assert_int_equal(gwf_test_status(r), 500);
        gwf_test_result_free(r);
    }
    assert_true(gwf_test_log_contains(h, "reconnecting"));
    assert_int_equal(status_for(h, "user", good_user), 200);
    gwf_test_host_free(h);
    close(silent);
    stop_child(good);
}

/* A seed announcing a slot map of ten million elements: refused by the
 * reply tree's budget before anything of that size is allocated; the
 * fail mode. */
static void
test_a_huge_slot_map_is_refused_before_it_is_read(void **state)
{
    (void)state;
    int port;
    pid_t pid = scripted_peer_start("*10000000\r\n*3\r\n", &port);
    gwf_test_host *h;

    h = host_with(global_manifests(seed_spec(port), USER_DESCS));
    assert_int_equal(status_for(h, "user", "a"), 500);
    if (!gwf_test_log_contains(h, "malformed reply"))
        print_message("%s\n", gwf_test_logs(h));
    assert_true(gwf_test_log_contains(h, "malformed reply"));
    gwf_test_host_free(h);
    scripted_peer_stop(pid);
}

/* A primary that stops answering (SIGSTOP): its decisions time out
 * (the fail mode), others go on; after three timeouts with no reply
 * from it the connection is dropped and, once it answers again, made
 * anew. */
static void
test_a_silent_primary_times_out_and_is_reconnected(void **state)
{
    (void)state;
    NEED_CLUSTER();
    cluster_flush();
    gwf_test_host *h =
        host_with(global_manifests(spec(NULL, 1000), USER_DESCS));
    char value[32], other[32], key[128], other_key[128];
    int port = 0, other_port = 0, victim, dropped = 0, timed_out = 0;

    user_value(value, sizeof(value), 2);
    user_key(key, sizeof(key), NULL, 2);
    assert_int_equal(status_for(h, "user", value), 200);
    cluster_get(key, &port);
    victim = redis_cluster_index(&cluster, port);
    for (int u = 3;; u++) {
        assert_true(u < USERS);
        user_value(other, sizeof(other), u);
        user_key(other_key, sizeof(other_key), NULL, u);
        cluster_get(other_key, &other_port);
        if (other_port != port)
            break;
    }
    redis_peer_pause(&cluster.nodes[victim]);
    for (int i = 0; i < 5 && !dropped; i++) {
        char header[64];
        snprintf(header, sizeof(header), "user: %s", value);
        gwf_test_result *res = start_api(h, "/", header, 50);
        assert_int_equal(gwf_test_outcome(res), GWF_TEST_RUNNING);
        assert_int_equal(status_for(h, "user", other), 200);
        gwf_test_advance(h, 100 * MS); /* the default timeout */
        gwf_test_wait(h, res, 1000);
        assert_int_equal(gwf_test_status(res), 500);
        gwf_test_result_free(res);
        timed_out++;
        dropped = gwf_test_log_contains(h, "reconnecting");
    }
    assert_true(dropped);
    redis_peer_continue(&cluster.nodes[victim]);
    gwf_test_advance(h, 200 * MS); /* past the node's backoff */
    assert_int_equal(status_for(h, "user", value), 200);
    /* The timed-out commands were in the node's socket when it stopped:
     * it may run them when it resumes (they may or may not count). */
    long long n = cluster_get(key, NULL);
    assert_true(n >= 2 && n <= 2 + timed_out);
    gwf_test_host_free(h);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_are_exact_across_slots_and_primaries),
        cmocka_unit_test(test_a_hash_tag_puts_every_key_on_one_primary),
        cmocka_unit_test(test_one_request_counts_on_two_primaries),
        cmocka_unit_test(test_rolling_script_limits_on_every_primary),
        cmocka_unit_test(test_no_seed_reachable_fails_closed),
        cmocka_unit_test(test_a_seed_that_is_not_a_cluster_is_not_used),
        cmocka_unit_test(test_a_forged_slot_map_is_refused),
        cmocka_unit_test(test_a_redirect_loop_ends_in_the_fail_mode),
        cmocka_unit_test(
            test_an_expire_redirected_after_its_count_is_sent_again),
        cmocka_unit_test(test_a_huge_slot_map_is_refused_before_it_is_read),
        cmocka_unit_test(
            test_timeouts_together_give_up_on_one_seed_not_the_next),
        cmocka_unit_test(
            test_a_seed_answering_half_a_map_is_passed_over_at_the_timeout),
        cmocka_unit_test(
            test_clients_gone_while_waiting_for_the_map_leave_nothing_behind),
        cmocka_unit_test(
            test_a_timeout_just_after_another_leaves_the_next_seed_alone),
        cmocka_unit_test(
            test_dropping_a_silent_node_leaves_a_healthy_one_alone),
        cmocka_unit_test(test_a_silent_primary_times_out_and_is_reconnected),
        cmocka_unit_test(
            test_ask_during_a_migration_counts_on_the_importing_node),
        cmocka_unit_test(test_moved_is_followed_and_the_map_refreshed),
        cmocka_unit_test(
            test_a_reshard_under_traffic_loses_and_doubles_nothing),
        cmocka_unit_test(
            test_a_killed_primary_fails_closed_then_its_replica_counts),
    };
    return cmocka_run_group_tests(tests, setup_cluster, teardown_cluster);
}
