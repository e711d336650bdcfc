/*
 * test_cluster_slots.c - the Redis Cluster routing pieces (redis_tree.c,
 * redis_slots.c) against a real three-primary, three-replica cluster
 * (cluster_support.c): CLUSTER SLOTS read over a plain socket into a
 * tree and a slot map; CRC16 slots checked against CLUSTER KEYSLOT; every
 * key counted on the primary the map names and redirected by the others
 * with a MOVED that parses to it; ASK during a hand-made migration; an
 * IPv6 node as Redis names it, and the unknown endpoint; the
 * map after a reshard and after a primary is killed and its replica
 * promoted. One cluster for the whole file, in this order (the reshard
 * and the failover come last: they change it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "cluster_support.h"
#include "redis_slots.h"

static redis_cluster cluster;
static int have_cluster;

/* CLUSTER SLOTS (or SHARDS) from the node on host:port (a numeric
 * address), over a blocking socket, read into a tree and built into a
 * map with `host` as the address asked (the test fails if refused). */
static rl_slot_map *
fetch_map_at(const char *host, int port, int shards)
{
    const char *cmd = shards ? "*2\r\n$7\r\nCLUSTER\r\n$6\r\nSHARDS\r\n"
                             : "*2\r\n$7\r\nCLUSTER\r\n$5\r\nSLOTS\r\n";
    size_t cmd_len = strlen(cmd);
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
                             .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai;
    struct timeval tv = {2, 0};
    char buf[4096], err[256], service[16];
    void *reply = NULL;

    snprintf(service, sizeof(service), "%d", port);
    assert_int_equal(getaddrinfo(host, service, &hints, &ai), 0);
    int fd = socket(ai->ai_family, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    assert_int_equal(connect(fd, ai->ai_addr, ai->ai_addrlen), 0);
    freeaddrinfo(ai);
    assert_int_equal(write(fd, cmd, cmd_len), cmd_len);
    rl_tree *t = rl_tree_new(4096, 1 << 20);
    redisReader *r = rl_tree_reader_new(t);
    while (!reply) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n <= 0)
            fail_msg("CLUSTER SLOTS from port %d: no complete reply", port);
        assert_int_equal(rl_tree_feed(t, r, buf, (size_t)n), REDIS_OK);
        assert_int_equal(redisReaderGetReply(r, &reply), REDIS_OK);
    }
    close(fd);
    rl_slot_map *m =
        shards
            ? rl_slot_map_from_shards(rl_tree_root(t), host, err, sizeof(err))
            : rl_slot_map_from_slots(rl_tree_root(t), host, err, sizeof(err));
    if (!m)
        fail_msg("CLUSTER %s from port %d refused: %s",
                 shards ? "SHARDS" : "SLOTS", port, err);
    redisReaderFree(r);
    rl_tree_free(t);
    return m;
}

static rl_slot_map *
fetch_map_with(int port, int shards)
{
    return fetch_map_at("127.0.0.1", port, shards);
}

static rl_slot_map *
fetch_map(int port)
{
    return fetch_map_with(port, 0);
}

/* The map from CLUSTER SHARDS names the same primary (port and id) and
 * as many replicas for every slot as the map from CLUSTER SLOTS. */
static void
check_shards_agree(const rl_slot_map *m, int port)
{
    rl_slot_map *sh = fetch_map_with(port, 1);

    assert_int_equal(sh->assigned, m->assigned);
    assert_int_equal(sh->shard_count, m->shard_count);
    for (unsigned s = 0; s < RL_SLOT_COUNT; s++) {
        const rl_shard *a = rl_slot_map_shard(m, s);
        const rl_shard *b = rl_slot_map_shard(sh, s);
        assert_int_equal(a->primary.port, b->primary.port);
        assert_string_equal(a->primary.host, b->primary.host);
        assert_string_equal(a->primary.id, b->primary.id);
        assert_int_equal(a->replica_count, b->replica_count);
    }
    rl_slot_map_free(sh);
}

/* A live primary's port to ask. */
static int
some_primary_port(void)
{
    for (int i = 0; i < CLUSTER_NODES; i++)
        if (cluster.nodes[i].pid > 0 && redis_cluster_is_primary(&cluster, i))
            return cluster.nodes[i].port;
    fail_msg("no live primary");
    return 0;
}

static int
shard_node(const rl_slot_map *m, size_t shard)
{
    int i = redis_cluster_index(&cluster, m->shards[shard].primary.port);
    assert_true(i >= 0);
    return i;
}

/* A key (written into key[32]) whose slot is `slot`. */
static size_t
key_for_slot(unsigned slot, char *key)
{
    for (int i = 0; i < 1000000; i++) {
        int n = snprintf(key, 32, "rl_slot_%d", i);
        if (rl_key_slot(key, (size_t)n) == slot)
            return (size_t)n;
    }
    fail_msg("no key for slot %u", slot);
    return 0;
}

/* INCRBY key 1 on node i: the integer, or -1 and the error in err. */
static long long
incr_on(int i, const char *key, size_t len, char *err, size_t errlen)
{
    redisContext *c = redis_cluster_client(&cluster, i);
    redisReply *r = redisCommand(c, "INCRBY %b 1", key, len);
    long long v = -1;

    assert_non_null(r);
    err[0] = 0;
    if (r->type == REDIS_REPLY_INTEGER)
        v = r->integer;
    else if (r->type == REDIS_REPLY_ERROR)
        snprintf(err, errlen, "%s", r->str);
    else
        fail_msg("INCRBY answered type %d", r->type);
    freeReplyObject(r);
    redisFree(c);
    return v;
}

static void
expect_redirect_at(const char *err, rl_redirect_kind kind, unsigned slot,
                   int port, const char *host)
{
    rl_redirect rd;

    if (rl_redirect_parse(err, strlen(err), host, &rd) != 0)
        fail_msg("not a redirect: \"%s\"", err);
    assert_int_equal(rd.kind, kind);
    assert_int_equal(rd.slot, slot);
    assert_string_equal(rd.host, host);
    assert_int_equal(rd.port, port);
}

static void
expect_redirect(const char *err, rl_redirect_kind kind, unsigned slot, int port)
{
    expect_redirect_at(err, kind, slot, port, "127.0.0.1");
}

static void
test_cluster_slots_maps_every_slot_to_three_primaries(void **state)
{
    (void)state;
    if (!have_cluster)
        skip();
    rl_slot_map *m = fetch_map(cluster.nodes[0].port);
    assert_int_equal(m->assigned, RL_SLOT_COUNT);
    assert_int_equal(m->shard_count, 3);
    assert_int_equal(m->replica_count, 3);
    size_t slots = 0;
    for (size_t s = 0; s < m->shard_count; s++) {
        int i = shard_node(m, s);
        char id[41];
        redis_cluster_node_id(&cluster, i, id);
        assert_string_equal(m->shards[s].primary.id, id);
        assert_true(redis_cluster_is_primary(&cluster, i));
        assert_int_equal(m->shards[s].replica_count, 1);
        const rl_cluster_node *rep = &m->replicas[m->shards[s].first_replica];
        int j = redis_cluster_index(&cluster, rep->port);
        assert_int_equal(j, redis_cluster_replica_of(&cluster, i));
        slots += m->shards[s].slots;
    }
    assert_int_equal(slots, RL_SLOT_COUNT);
    check_shards_agree(m, cluster.nodes[0].port);
    /* Every node, replicas included, tells the same story. */
    for (int i = 1; i < CLUSTER_NODES; i++) {
        rl_slot_map *o = fetch_map(cluster.nodes[i].port);
        for (unsigned s = 0; s < RL_SLOT_COUNT; s++)
            assert_int_equal(rl_slot_map_shard(o, s)->primary.port,
                             rl_slot_map_shard(m, s)->primary.port);
        rl_slot_map_free(o);
    }
    rl_slot_map_free(m);
}

/* Key n of 1000: braces in odd places, empty tags, nested and repeated
 * tags, NUL and high bytes, ratelimit-shaped keys. */
static size_t
odd_key(int n, char *key)
{
    static const char *const shapes[] = {
        "{}%d",   "{{a}}%d", "a{b}c{d}%d", "%d{",
        "}%d{x",  "{%d}",    "x{%d}}y",    "{%d}{}",
        "{}{%d}", "%d}{",    "{{%d}",      "gwf_path_/{%d}_1767225600",
        "{{}}%d", "%d",      "a{}b{%d}c",  "{ %d }",
    };
    unsigned seed = (unsigned)n * 2654435761u;

    if (n % 5 == 4) {
        /* 1..24 bytes of anything, '{' and '}' and NUL often. */
        size_t len = 1 + seed % 24;
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            unsigned b = (seed >> 16) & 0xff;
            key[i] = (char)(b % 7 == 0    ? '{'
                            : b % 7 == 1  ? '}'
                            : b % 11 == 0 ? 0
                                          : b);
        }
        return len;
    }
    return (size_t)snprintf(key, 64, shapes[n % 16], n);
}

static void
test_key_slot_agrees_with_cluster_keyslot_for_1000_keys(void **state)
{
    char key[64];

    (void)state;
    if (!have_cluster)
        skip();
    redisContext *c = redis_cluster_client(&cluster, 0);
    for (int n = 0; n < 1000; n++) {
        size_t len = odd_key(n, key);
        redisAppendCommand(c, "CLUSTER KEYSLOT %b", key, len);
    }
    for (int n = 0; n < 1000; n++) {
        redisReply *r;
        size_t len = odd_key(n, key);
        assert_int_equal(redisGetReply(c, (void **)&r), REDIS_OK);
        assert_int_equal(r->type, REDIS_REPLY_INTEGER);
        if (r->integer != rl_key_slot(key, len))
            fail_msg("key %d (%zu bytes): redis %lld, ours %u", n, len,
                     r->integer, rl_key_slot(key, len));
        freeReplyObject(r);
    }
    redisFree(c);
}

/* Each key counted where the map says, MOVED to there everywhere else. */
static void
check_routing(const rl_slot_map *m, int keys, const char *prefix)
{
    char key[64], err[128];

    for (int k = 0; k < keys; k++) {
        int len = snprintf(key, sizeof(key),
                           "%s_remote_address_10.0.%d.%d_"
                           "1767225600",
                           prefix, k / 256, k % 256);
        unsigned slot = rl_key_slot(key, (size_t)len);
        const rl_shard *owner = rl_slot_map_shard(m, slot);
        assert_non_null(owner);
        for (size_t s = 0; s < m->shard_count; s++) {
            int i = shard_node(m, s);
            long long v = incr_on(i, key, (size_t)len, err, sizeof(err));
            if (&m->shards[s] == owner) {
                if (v < 1)
                    fail_msg("owner of slot %u answered \"%s\"", slot, err);
            } else {
                assert_int_equal(v, -1);
                expect_redirect(err, RL_REDIRECT_MOVED, slot,
                                owner->primary.port);
            }
        }
    }
}

static void
test_owner_counts_a_key_and_other_primaries_answer_moved(void **state)
{
    (void)state;
    if (!have_cluster)
        skip();
    rl_slot_map *m = fetch_map(some_primary_port());
    check_routing(m, 100, "counts");
    rl_slot_map_free(m);
}

static void
test_ask_during_a_migration_names_the_importing_node(void **state)
{
    char key[32], err[128], src_id[41], dst_id[41];

    (void)state;
    if (!have_cluster)
        skip();
    rl_slot_map *m = fetch_map(some_primary_port());
    int src = shard_node(m, 2), dst = shard_node(m, 0);
    unsigned slot = 0;
    while (rl_slot_map_shard(m, slot) != &m->shards[2])
        slot++;
    size_t len = key_for_slot(slot, key);
    redis_cluster_node_id(&cluster, src, src_id);
    redis_cluster_node_id(&cluster, dst, dst_id);
    redisContext *s = redis_cluster_client(&cluster, src);
    redisContext *d = redis_cluster_client(&cluster, dst);
    redisReply *r;
    r = redisCommand(d, "CLUSTER SETSLOT %u IMPORTING %s", slot, src_id);
    assert_int_equal(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);
    r = redisCommand(s, "CLUSTER SETSLOT %u MIGRATING %s", slot, dst_id);
    assert_int_equal(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);

    /* The key is not on the source: ASK, to the importing node. */
    assert_int_equal(incr_on(src, key, len, err, sizeof(err)), -1);
    expect_redirect(err, RL_REDIRECT_ASK, slot, cluster.nodes[dst].port);
    /* The target without ASKING: MOVED back to the owner. */
    assert_int_equal(incr_on(dst, key, len, err, sizeof(err)), -1);
    expect_redirect(err, RL_REDIRECT_MOVED, slot, cluster.nodes[src].port);
    /* With ASKING first, on the same connection: counted there. */
    redisAppendCommand(d, "ASKING");
    redisAppendCommand(d, "INCRBY %b 1", key, len);
    assert_int_equal(redisGetReply(d, (void **)&r), REDIS_OK);
    assert_string_equal(r->str, "OK");
    freeReplyObject(r);
    assert_int_equal(redisGetReply(d, (void **)&r), REDIS_OK);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    assert_int_equal(r->integer, 1);
    freeReplyObject(r);

    /* Back as it was: the key gone, the slot stable on both. */
    redisAppendCommand(d, "ASKING");
    redisAppendCommand(d, "DEL %b", key, len);
    for (int k = 0; k < 2; k++) {
        assert_int_equal(redisGetReply(d, (void **)&r), REDIS_OK);
        freeReplyObject(r);
    }
    r = redisCommand(s, "CLUSTER SETSLOT %u STABLE", slot);
    freeReplyObject(r);
    r = redisCommand(d, "CLUSTER SETSLOT %u STABLE", slot);
    freeReplyObject(r);
    assert_int_equal(incr_on(src, key, len, err, sizeof(err)), 1);
    redisFree(s);
    redisFree(d);
    rl_slot_map_free(m);
}

static void
test_reshard_of_100_slots_gives_moved_to_the_new_owner(void **state)
{
    char key[32], err[128];

    (void)state;
    if (!have_cluster)
        skip();
    rl_slot_map *old = fetch_map(some_primary_port());
    int from = shard_node(old, 0), to = shard_node(old, 1);
    long ms = redis_cluster_reshard(&cluster, from, to, 100);
    print_message("reshard of 100 slots: %ld ms\n", ms);
    rl_slot_map *now = fetch_map(cluster.nodes[to].port);
    assert_int_equal(now->assigned, RL_SLOT_COUNT);
    int moved = 0;
    for (unsigned s = 0; s < RL_SLOT_COUNT; s++) {
        int was = rl_slot_map_shard(old, s)->primary.port;
        int is = rl_slot_map_shard(now, s)->primary.port;
        if (was == is)
            continue;
        assert_int_equal(was, cluster.nodes[from].port);
        assert_int_equal(is, cluster.nodes[to].port);
        /* The old map's owner now answers MOVED to the new one. */
        size_t len = key_for_slot(s, key);
        assert_int_equal(incr_on(from, key, len, err, sizeof(err)), -1);
        expect_redirect(err, RL_REDIRECT_MOVED, s, cluster.nodes[to].port);
        assert_int_equal(incr_on(to, key, len, err, sizeof(err)), 1);
        moved++;
    }
    assert_int_equal(moved, 100);
    check_shards_agree(now, cluster.nodes[to].port);
    assert_int_equal(now->shards[rl_slot_map_find(now, "127.0.0.1",
                                                  cluster.nodes[from].port)]
                         .slots,
                     old->shards[0].slots - 100);
    check_routing(now, 30, "resharded");
    rl_slot_map_free(old);
    rl_slot_map_free(now);
}

static void
test_failover_map_names_the_promoted_replica(void **state)
{
    (void)state;
    if (!have_cluster)
        skip();
    rl_slot_map *old = fetch_map(some_primary_port());
    int victim = shard_node(old, 2);
    int replica = redis_cluster_replica_of(&cluster, victim);
    assert_true(replica >= 0);
    int victim_port = cluster.nodes[victim].port;
    redis_cluster_kill(&cluster, victim);
    long ms = redis_cluster_wait_promoted(&cluster, replica, 20000);
    print_message("failover (node timeout %d ms): replica promoted and the "
                  "cluster agreed after %ld ms\n",
                  CLUSTER_NODE_TIMEOUT_MS, ms);
    rl_slot_map *now = fetch_map(some_primary_port());
    assert_int_equal(now->assigned, RL_SLOT_COUNT);
    assert_int_equal(now->shard_count, 3);
    assert_int_equal(rl_slot_map_find(now, "127.0.0.1", victim_port), -1);
    for (unsigned s = 0; s < RL_SLOT_COUNT; s++) {
        int was = rl_slot_map_shard(old, s)->primary.port;
        int is = rl_slot_map_shard(now, s)->primary.port;
        assert_int_equal(is, was == victim_port ? cluster.nodes[replica].port
                                                : was);
    }
    check_routing(now, 30, "failover");
    check_shards_agree(now, some_primary_port());
    rl_slot_map_free(old);
    rl_slot_map_free(now);
}

/* A command on c with a status or integer answer. */
static void
ok_command(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    if (!r || r->type == REDIS_REPLY_ERROR)
        fail_msg("%s: %s", fmt, r ? r->str : "no answer");
    freeReplyObject(r);
}

static int
ipv6_loopback(void)
{
    struct sockaddr_in6 a = {.sin6_family = AF_INET6,
                             .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    int ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;

    if (fd >= 0)
        close(fd);
    return ok;
}

/* The two-node IPv6 cluster's folder (config files), removed in the
 * group teardown if the test failed before removing it. */
static char v6_dir[64];

static void
remove_v6_dir(void)
{
    char path[128];

    if (!v6_dir[0])
        return;
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof(path), "%s/nodes-%d.conf", v6_dir, i);
        unlink(path);
    }
    rmdir(v6_dir);
    v6_dir[0] = 0;
}

/* Two primaries on ::1 (slots added by hand: no replica needed). */
static void
test_ipv6_node_is_named_without_brackets_and_unknown_endpoint_is_asked(
    void **state)
{
    char conf[2][128], expected[64];
    redis_peer p[2] = {{.bind = "::1"}, {.bind = "::1"}};

    (void)state;
    if (!have_cluster || !ipv6_loopback())
        skip();
    snprintf(v6_dir, sizeof(v6_dir), "/tmp/gwf-rl-cluster6-XXXXXX");
    assert_non_null(mkdtemp(v6_dir));
    for (int i = 0; i < 2; i++) {
        snprintf(conf[i], sizeof(conf[i]), "%s/nodes-%d.conf", v6_dir, i);
        p[i].cluster_bus = 1;
        p[i].extra[0] = "--cluster-enabled";
        p[i].extra[1] = "yes";
        p[i].extra[2] = "--cluster-config-file";
        p[i].extra[3] = conf[i];
        redis_peer_start(&p[i]);
    }
    redisContext *a = redis_peer_client(&p[0], NULL, NULL);
    redisContext *b = redis_peer_client(&p[1], NULL, NULL);
    ok_command(a, "CLUSTER ADDSLOTSRANGE 0 8191");
    ok_command(b, "CLUSTER ADDSLOTSRANGE 8192 16383");
    ok_command(a, "CLUSTER MEET ::1 %d", p[1].port);
    for (int i = 0;; i++) {
        redisReply *ra = redisCommand(a, "CLUSTER INFO");
        redisReply *rb = redisCommand(b, "CLUSTER INFO");
        int ok = ra && rb && strstr(ra->str, "cluster_state:ok") &&
                 strstr(rb->str, "cluster_state:ok");
        if (ra)
            freeReplyObject(ra);
        if (rb)
            freeReplyObject(rb);
        if (ok)
            break;
        if (i > 500)
            fail_msg("the IPv6 cluster did not settle in 10 s");
        usleep(20000);
    }
    /* "foo" is slot 12182, on b. Redis 7 prints the address bare. */
    redisReply *r = redisCommand(a, "INCRBY foo 1");
    assert_int_equal(r->type, REDIS_REPLY_ERROR);
    snprintf(expected, sizeof(expected), "MOVED 12182 ::1:%d", p[1].port);
    assert_string_equal(r->str, expected);
    expect_redirect_at(r->str, RL_REDIRECT_MOVED, 12182, p[1].port, "::1");
    freeReplyObject(r);
    rl_slot_map *m = fetch_map_at("::1", p[0].port, 0);
    assert_string_equal(rl_slot_map_shard(m, 12182)->primary.host, "::1");
    assert_int_equal(rl_slot_map_shard(m, 12182)->primary.port, p[1].port);
    rl_slot_map_free(m);

    /* Unknown endpoint: no host at all, the address asked is meant. */
    ok_command(a, "CONFIG SET cluster-preferred-endpoint-type "
                  "unknown-endpoint");
    r = redisCommand(a, "INCRBY foo 1");
    snprintf(expected, sizeof(expected), "MOVED 12182 :%d", p[1].port);
    assert_string_equal(r->str, expected);
    expect_redirect_at(r->str, RL_REDIRECT_MOVED, 12182, p[1].port, "::1");
    freeReplyObject(r);
    for (int shards = 0; shards < 2; shards++) {
        m = fetch_map_at("::1", p[0].port, shards);
        assert_int_equal(m->assigned, RL_SLOT_COUNT);
        assert_string_equal(rl_slot_map_shard(m, 12182)->primary.host, "::1");
        assert_int_equal(rl_slot_map_shard(m, 12182)->primary.port, p[1].port);
        assert_int_equal(rl_slot_map_shard(m, 0)->primary.port, p[0].port);
        rl_slot_map_free(m);
    }
    redisFree(a);
    redisFree(b);
    redis_peer_kill(&p[0]);
    redis_peer_kill(&p[1]);
    remove_v6_dir();
}

static int
group_setup(void **state)
{
    (void)state;
    if (!cluster_usable())
        return 0; /* the tests skip */
    redis_cluster_start(&cluster);
    have_cluster = 1;
    print_message("cluster of %d nodes started in %ld ms\n", CLUSTER_NODES,
                  cluster.start_ms);
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    if (have_cluster)
        redis_cluster_stop(&cluster);
    remove_v6_dir();
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cluster_slots_maps_every_slot_to_three_primaries),
        cmocka_unit_test(
            test_key_slot_agrees_with_cluster_keyslot_for_1000_keys),
        cmocka_unit_test(
            test_owner_counts_a_key_and_other_primaries_answer_moved),
        cmocka_unit_test(test_ask_during_a_migration_names_the_importing_node),
        cmocka_unit_test(
            test_ipv6_node_is_named_without_brackets_and_unknown_endpoint_is_asked),
        cmocka_unit_test(
            test_reshard_of_100_slots_gives_moved_to_the_new_owner),
        cmocka_unit_test(test_failover_map_names_the_promoted_replica),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
