/*
 * test_sentinel.c - redis.type Sentinel against real servers: a primary,
 * its replica and a redis-server --sentinel watching them (quorum 1,
 * down-after 300 ms), all on free loopback ports and stopped at the end.
 * The sentinels are asked in order (a dead one first), the primary they
 * name is checked with ROLE, a primary killed and its replica promoted
 * is followed, a +switch-master announcement moves the connection, and a
 * sentinel that names a replica is not believed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support.h"

#define MS INT64_C(1000000)
#define FOO                                                                    \
    "[{entries: [{type: Generic, generic: {key: generic_key, value: foo}}]}]"
#define FIXED_KEY "shop_generic_key_foo_1767225600"

static redisContext *
connect_to(int port)
{
    redisContext *c = redis_connect_ms("127.0.0.1", port, 1000);

    if (!c)
        fail_msg("cannot connect to port %d", port);
    return c;
}

/* `replica` replicating `primary`, and in sync. */
static void
replica_start(redis_peer *replica, const redis_peer *primary)
{
    static char port[16];
    redisContext *c;

    snprintf(port, sizeof(port), "%d", primary->port);
    replica->extra[0] = "--replicaof";
    replica->extra[1] = "127.0.0.1";
    replica->extra[2] = port;
    replica->extra[3] = NULL;
    redis_peer_start(replica);
    c = redis_peer_client(replica, NULL, NULL);
    for (int i = 0; i < 250; i++) {
        redisReply *r = redisCommand(c, "INFO replication");
        int up = r && r->type == REDIS_REPLY_STRING &&
                 strstr(r->str, "master_link_status:up");
        if (r)
            freeReplyObject(r);
        if (up)
            break;
        sleep_ms(20);
    }
    redisFree(c);
}

static long long
count_on(const redis_peer *p)
{
    redisContext *c = redis_peer_client(p, NULL, NULL);
    long long v = redis_int(c, "GET %s", FIXED_KEY);

    redisFree(c);
    return v;
}

/* spec.rateLimit with redis {type: Sentinel, addresses: [the sentinels
 * `a` and `b`], masterName: mymaster}, `limit` a minute. */
static const char *
spec(int a, int b, unsigned long limit)
{
    static char text[1024];
    snprintf(text, sizeof(text),
             "{redis: {type: Sentinel, masterName: mymaster, addresses: "
             "[\"127.0.0.1:%d\", \"127.0.0.1:%d\"]}, domain: shop, "
             "descriptors: [{key: generic_key, value: foo, rate_limit: "
             "{unit: minute, requests_per_unit: %lu}}]}",
             a, b, limit);
    return text;
}

static redis_peer primary, replica;
static sentinel_peer watcher;

/* Until the sentinel names the replica as the primary (10 s bound). */
static void
wait_replica_promoted(void)
{
    for (int i = 0;
         i < 500 && sentinel_peer_master_port(&watcher) != replica.port; i++)
        sleep_ms(20);
    assert_int_equal(sentinel_peer_master_port(&watcher), replica.port);
}

/* A primary and its replica, no sentinel. */
static int
setup_pair(void **state)
{
    (void)state;
    memset(&primary, 0, sizeof(primary));
    memset(&replica, 0, sizeof(replica));
    memset(&watcher, 0, sizeof(watcher));
    /* A replica syncs at once, not after the diskless sync's 5 s wait
     * for more replicas. */
    primary.extra[0] = "--repl-diskless-sync-delay";
    primary.extra[1] = "0";
    redis_peer_start(&primary);
    replica_start(&replica, &primary);
    return 0;
}

/* The pair and a sentinel watching it. */
static int
setup_servers(void **state)
{
    setup_pair(state);
    sentinel_peer_start(&watcher, primary.port, 1);
    return 0;
}

static int
teardown_servers(void **state)
{
    (void)state;
    if (watcher.dir[0])
        sentinel_peer_stop(&watcher);
    redis_peer_kill(&replica);
    redis_peer_kill(&primary);
    return 0;
}

/* A dead sentinel first, then the real one: it names the primary, which
 * says ROLE master, and every count lands there exactly. */
static void
test_counts_are_exact_on_the_primary_the_sentinels_name(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(
        global_manifests(spec(free_port("127.0.0.1"), watcher.port, 3), FOO));

    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(status_of(h, "/", NULL), 429);
    assert_int_equal(count_on(&primary), 4);
    gwf_test_host_free(h);
}

/* A "sentinel" (a scripted peer) naming the replica: ROLE says slave,
 * so nothing is sent there; the fail mode answers. */
static void
test_a_node_that_is_not_a_primary_is_not_used(void **state)
{
    (void)state;
    char answer[128];
    gwf_test_host *h;
    long long before = count_on(&replica);
    pid_t pid;
    int port;

    snprintf(answer, sizeof(answer), "*2\r\n$9\r\n127.0.0.1\r\n$%d\r\n%d\r\n",
             replica.port >= 10000 ? 5 : 4, replica.port);
    /* Kept open after the answer: the subscription reads on. */
    pid = scripted_peer_start(answer, &port);
    h = host_with(global_manifests(spec(port, port, 3), FOO));
    assert_int_equal(status_of(h, "/", NULL), 500);
    assert_true(gwf_test_log_contains(h, "is not the primary (ROLE slave)"));
    assert_int_equal(count_on(&replica), before); /* nothing sent there */
    gwf_test_host_free(h);
    scripted_peer_stop(pid);
}

/* SENTINEL FAILOVER: the replica becomes the primary and the old one a
 * replica (nothing killed). The subscribed sentinel announces
 * +switch-master; the connection moves, and counts go on on the new
 * primary. */
static void
test_switch_master_moves_the_connection(void **state)
{
    (void)state;
    gwf_test_host *h =
        host_with(global_manifests(spec(watcher.port, watcher.port, 100), FOO));
    redisContext *c;
    redisReply *r;
    long long before;

    assert_int_equal(status_of(h, "/", NULL), 200); /* connected, subscribed */
    c = connect_to(watcher.port);
    /* NOGOODSLAVE until the sentinel has talked to the replica itself. */
    for (int i = 0;; i++) {
        int refused;
        r = redisCommand(c, "SENTINEL FAILOVER mymaster");
        assert_non_null(r);
        refused = r->type == REDIS_REPLY_ERROR;
        if (refused && i == 250)
            fail_msg("SENTINEL FAILOVER: %s", r->str);
        freeReplyObject(r);
        if (!refused)
            break;
        sleep_ms(20);
    }
    redisFree(c);
    wait_replica_promoted();
    /* The announcement comes at the end of the failover: requests run
     * the loop (their outcome is not the point) until it is read. */
    for (int i = 0; i < 100 && !gwf_test_log_contains(h, "+switch-master");
         i++) {
        gwf_test_result_free(start_api(h, "/", NULL, 50));
        sleep_ms(20);
    }
    assert_true(gwf_test_log_contains(h, "+switch-master mymaster 127.0.0.1"));
    before = count_on(&replica);
    if (before < 0)
        before = 0; /* absent: what the switch requests counted went */
    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(count_on(&replica), before + 1);
    gwf_test_host_free(h);
}

/* The primary killed: decisions take the fail mode; the sentinel
 * promotes the replica; once the backoff is over the sentinels are asked
 * again and counting resumes on the new primary, from what was
 * replicated. */
static void
test_primary_killed_and_replica_promoted_decisions_resume(void **state)
{
    (void)state;
    gwf_test_host *h =
        host_with(global_manifests(spec(watcher.port, watcher.port, 100), FOO));
    long long replicated;

    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(status_of(h, "/", NULL), 200);
    for (int i = 0; i < 100 && count_on(&replica) != 2; i++)
        sleep_ms(10);
    replicated = count_on(&replica);
    assert_int_equal(replicated, 2);
    redis_peer_kill(&primary);
    assert_int_equal(status_of(h, "/", NULL), 500); /* connection lost */
    wait_replica_promoted();
    gwf_test_advance(h, 6000 * MS); /* past any backoff */
    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(count_on(&replica), 3);
    gwf_test_host_free(h);
}

/* No sentinel reachable: the fail mode at once, then the backoff. */
static void
test_no_sentinel_reachable_fails_closed(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(global_manifests(
        spec(free_port("127.0.0.1"), free_port("127.0.0.1"), 3), FOO));

    assert_int_equal(status_of(h, "/", NULL), 500);
    assert_true(gwf_test_log_contains(h, "Redis primary mymaster"));
    gwf_test_host_free(h);
}

int
main(void)
{
    /* Each test has its own primary, replica and sentinel: a failover
     * leaves them changed. */
#define T(name)                                                                \
    cmocka_unit_test_setup_teardown(name, setup_servers, teardown_servers)
    const struct CMUnitTest tests[] = {
        T(test_counts_are_exact_on_the_primary_the_sentinels_name),
        cmocka_unit_test_setup_teardown(
            test_a_node_that_is_not_a_primary_is_not_used, setup_pair,
            teardown_servers),
        cmocka_unit_test(test_no_sentinel_reachable_fails_closed),
        T(test_switch_master_moves_the_connection),
        T(test_primary_killed_and_replica_promoted_decisions_resume),
    };
    if (access("/usr/bin/redis-server", X_OK) != 0) {
        fprintf(stderr, "redis-server is missing\n");
        return getenv("CI") && strcmp(getenv("CI"), "true") == 0 ? 1 : 77;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
