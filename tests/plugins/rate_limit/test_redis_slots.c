/*
 * test_redis_slots.c - the pieces of Redis Cluster routing
 * (plugins/rate_limit/redis_slots.c) on replies written here: CRC16 and
 * hash tags, the slot map from CLUSTER SLOTS and every way a reply can be
 * wrong (wrong types at every position, overlapping or out-of-range
 * ranges, bad ports, hosts and ids), and MOVED / ASK parsing including
 * what Redis 7 prints for IPv6 and unknown endpoints. The same checks
 * against a real cluster are in test_cluster_slots.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "redis_slots.h"

/* A RESP writer for the replies under test. */
typedef struct resp {
    char buf[16384];
    size_t len;
} resp;

static void
put(resp *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(r->buf + r->len, sizeof(r->buf) - r->len, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < sizeof(r->buf) - r->len);
    r->len += (size_t)n;
}

static void
arr(resp *r, int n)
{
    put(r, "*%d\r\n", n);
}

static void
num(resp *r, long long v)
{
    put(r, ":%lld\r\n", v);
}

static void
bulk(resp *r, const char *s)
{
    put(r, "$%zu\r\n%s\r\n", strlen(s), s);
}

#define ID_A "09dbe9720cda62f7865eabc5fd8857c5d2678366"
#define ID_B "821d8ca00d7ccf931ed3ffc7e3db0599d2271abf"
#define ID_C "e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca"
#define ID_D "4c8e5a1f2b3d6e7f8091a2b3c4d5e6f708192a3b"

static void
node(resp *r, const char *host, long long port, const char *id)
{
    arr(r, id ? 3 : 2);
    bulk(r, host);
    num(r, port);
    if (id)
        bulk(r, id);
}

/* The head of a range [a, b] whose `nodes` nodes follow. */
static void
range(resp *r, long long a, long long b, int nodes)
{
    arr(r, 2 + nodes);
    num(r, a);
    num(r, b);
}

/* A whole CLUSTER SLOTS reply: one range [a, b] served by one node. */
static void
one_range(resp *r, long long a, long long b, const char *host, long long port,
          const char *id)
{
    arr(r, 1);
    range(r, a, b, 1);
    node(r, host, port, id);
}

/* Read r into a fresh tree (the caller frees it). */
static rl_tree *
tree_of(const resp *r)
{
    rl_tree *t = rl_tree_new(10000, 1 << 20);
    redisReader *rd = rl_tree_reader_new(t);
    void *reply;

    assert_int_equal(redisReaderFeed(rd, r->buf, r->len), REDIS_OK);
    assert_int_equal(redisReaderGetReply(rd, &reply), REDIS_OK);
    assert_non_null(reply);
    redisReaderFree(rd);
    assert_non_null(rl_tree_root(t));
    return t;
}

/* Three primaries with a replica each, covering every slot. */
static void
three_shards(resp *r)
{
    arr(r, 3);
    range(r, 0, 5460, 2);
    node(r, "127.0.0.1", 30001, ID_A);
    node(r, "127.0.0.1", 30004, ID_D);
    range(r, 5461, 10922, 1);
    node(r, "127.0.0.1", 30002, ID_B);
    range(r, 10923, 16383, 1);
    node(r, "127.0.0.1", 30003, ID_C);
}

/* The map of r, or NULL with the message in err. */
static rl_slot_map *
map_of(const resp *r, const char *asked, char *err, size_t errlen)
{
    rl_tree *t = tree_of(r);
    rl_slot_map *m =
        rl_slot_map_from_slots(rl_tree_root(t), asked, err, errlen);
    rl_tree_free(t);
    return m;
}

static void
expect_refused(const resp *r, const char *asked, const char *message)
{
    char err[256];
    rl_slot_map *m = map_of(r, asked, err, sizeof(err));

    if (m)
        fail_msg("accepted; expected \"%s\"", message);
    assert_string_equal(err, message);
}

static void
test_crc16_of_the_specification_vector(void **state)
{
    (void)state;
    assert_int_equal(rl_crc16("123456789", 9), 0x31C3);
    assert_int_equal(rl_crc16("", 0), 0);
}

static void
test_key_slot_known_values(void **state)
{
    (void)state;
    /* CLUSTER KEYSLOT on Redis 7.0. */
    assert_int_equal(rl_key_slot("foo", 3), 12182);
    assert_int_equal(rl_key_slot("bar", 3), 5061);
    assert_int_equal(rl_key_slot("hello", 5), 866);
    assert_int_equal(rl_key_slot("", 0), 0);
    assert_int_equal(rl_key_slot("123456789", 9), 0x31C3 & 16383);
}

static void
test_hash_tag_rules(void **state)
{
    (void)state;
    uint16_t user = rl_key_slot("user1000", 8);
    assert_int_equal(rl_key_slot("{user1000}.following", 20), user);
    assert_int_equal(rl_key_slot("x{user1000}y{z}", 15), user);
    /* Empty tag: the whole key. */
    assert_int_equal(rl_key_slot("foo{}{bar}", 10),
                     rl_crc16("foo{}{bar}", 10) & 16383);
    assert_int_equal(rl_key_slot("{}", 2), rl_crc16("{}", 2) & 16383);
    /* The first '{', then the first '}' after it. */
    assert_int_equal(rl_key_slot("foo{{bar}}zap", 13),
                     rl_crc16("{bar", 4) & 16383);
    assert_int_equal(rl_key_slot("foo{bar}{zap}", 13), rl_key_slot("bar", 3));
    assert_int_equal(rl_key_slot("a{b}c{d}", 8), rl_key_slot("b", 1));
    /* No '}' after the '{', or a '}' only before it: the whole key. */
    assert_int_equal(rl_key_slot("}a{b", 4), rl_crc16("}a{b", 4) & 16383);
    assert_int_equal(rl_key_slot("a{", 2), rl_crc16("a{", 2) & 16383);
    /* Bytes past a NUL count. */
    assert_int_equal(rl_key_slot("{a\0b}", 5), rl_crc16("a\0b", 3) & 16383);
}

static void
test_three_shards_map_every_slot(void **state)
{
    resp r = {0};
    char err[256];

    (void)state;
    three_shards(&r);
    rl_slot_map *m = map_of(&r, "127.0.0.1", err, sizeof(err));
    assert_non_null(m);
    assert_int_equal(m->shard_count, 3);
    assert_int_equal(m->assigned, 16384);
    assert_int_equal(m->owner[0], 0);
    assert_int_equal(m->owner[5460], 0);
    assert_int_equal(m->owner[5461], 1);
    assert_int_equal(m->owner[16383], 2);
    const rl_shard *s = rl_slot_map_shard(m, 0);
    assert_string_equal(s->primary.host, "127.0.0.1");
    assert_int_equal(s->primary.port, 30001);
    assert_string_equal(s->primary.id, ID_A);
    assert_int_equal(s->slots, 5461);
    assert_int_equal(s->replica_count, 1);
    assert_int_equal(m->replicas[s->first_replica].port, 30004);
    assert_int_equal(rl_slot_map_shard(m, 16383)->replica_count, 0);
    assert_null(rl_slot_map_shard(m, 16384));
    assert_int_equal(rl_slot_map_find(m, "127.0.0.1", 30002), 1);
    assert_int_equal(rl_slot_map_find(m, "127.0.0.1", 30004), -1);
    rl_slot_map_free(m);
}

static void
test_unassigned_slots_have_no_owner(void **state)
{
    resp r = {0};
    char err[256];

    (void)state;
    arr(&r, 2);
    range(&r, 0, 99, 1);
    node(&r, "10.0.0.1", 6379, NULL);
    range(&r, 200, 200, 1);
    node(&r, "10.0.0.1", 6379, NULL);
    rl_slot_map *m = map_of(&r, NULL, err, sizeof(err));
    assert_non_null(m);
    assert_int_equal(m->shard_count, 1); /* one primary, two ranges */
    assert_int_equal(m->assigned, 101);
    assert_int_equal(m->shards[0].slots, 101);
    assert_non_null(rl_slot_map_shard(m, 99));
    assert_null(rl_slot_map_shard(m, 100));
    assert_int_equal(m->owner[100], RL_SLOT_UNASSIGNED);
    assert_non_null(rl_slot_map_shard(m, 200));
    assert_null(rl_slot_map_shard(m, 16383));
    rl_slot_map_free(m);
}

static void
test_unknown_host_is_the_address_asked(void **state)
{
    static const char *const unknown[] = {"", "?"};
    char err[256];

    (void)state;
    for (size_t i = 0; i < 2; i++) {
        resp r = {0};
        arr(&r, 1);
        range(&r, 0, 16383, 2);
        node(&r, unknown[i], 7000, ID_A);
        node(&r, unknown[i], 7001, ID_B);
        rl_slot_map *m = map_of(&r, "redis.example", err, sizeof(err));
        assert_non_null(m);
        assert_string_equal(m->shards[0].primary.host, "redis.example");
        assert_string_equal(m->replicas[0].host, "redis.example");
        rl_slot_map_free(m);
        expect_refused(&r, NULL, "range 0 node 0: bad host");
    }
    /* nil (Redis 7 docs: "a NULL value for the endpoint"). */
    resp r = {0};
    arr(&r, 1);
    range(&r, 0, 16383, 1);
    arr(&r, 2);
    put(&r, "$-1\r\n");
    num(&r, 7000);
    rl_slot_map *m = map_of(&r, "::1", err, sizeof(err));
    assert_non_null(m);
    assert_string_equal(m->shards[0].primary.host, "::1");
    rl_slot_map_free(m);
}

static void
test_redis7_metadata_and_later_fields_are_accepted(void **state)
{
    resp r = {0};
    char err[256];

    (void)state;
    arr(&r, 1);
    range(&r, 0, 16383, 2);
    arr(&r, 4);
    bulk(&r, "127.0.0.1");
    num(&r, 7000);
    bulk(&r, ID_A);
    arr(&r, 2);
    bulk(&r, "hostname");
    bulk(&r, "a.example");
    arr(&r, 5);
    bulk(&r, "127.0.0.1");
    num(&r, 7001);
    bulk(&r, ID_B);
    arr(&r, 0);
    bulk(&r, "a field from the future");
    rl_slot_map *m = map_of(&r, NULL, err, sizeof(err));
    assert_non_null(m);
    assert_int_equal(m->replica_count, 1);
    rl_slot_map_free(m);
}

/* Every node of a valid reply's tree given each wrong type in turn: the
 * map is refused - except a host that is nil (the address asked). */
static void
test_wrong_type_at_every_position_is_refused(void **state)
{
    resp r = {0};
    char err[256];
    int refused = 0, accepted = 0;

    (void)state;
    three_shards(&r);
    rl_tree *t = tree_of(&r);
    rl_reply_node *root = (rl_reply_node *)rl_tree_root(t);
    /* Every node, depth-first, by an explicit stack. */
    rl_reply_node *stack[256];
    size_t top = 0;
    stack[top++] = root;
    while (top) {
        rl_reply_node *n = stack[--top];
        for (size_t i = 0; i < n->count; i++)
            stack[top++] = &n->elems[i];
        rl_reply_node saved = *n;
        for (int type = REDIS_REPLY_STRING; type <= REDIS_REPLY_ERROR; type++) {
            if (type == saved.type)
                continue;
            *n = (rl_reply_node){.type = type, .str = "", .integer = 1};
            rl_slot_map *m =
                rl_slot_map_from_slots(root, "127.0.0.1", err, sizeof(err));
            int host = saved.type == REDIS_REPLY_STRING &&
                       strcmp(saved.str, "127.0.0.1") == 0;
            if (m) {
                if (!(host && type == REDIS_REPLY_NIL))
                    fail_msg("accepted type %d for a node of type %d", type,
                             saved.type);
                accepted++;
                rl_slot_map_free(m);
            } else {
                assert_true(err[0] != 0);
                refused++;
            }
        }
        *n = saved;
    }
    /* 1 root + 3 ranges + 3*2 bounds + 4 nodes * 4 (node, host, port, id)
     * = 26 nodes, 5 wrong types each; 4 hosts accept nil. */
    assert_int_equal(accepted, 4);
    assert_int_equal(refused, 26 * 5 - 4);
    rl_tree_free(t);
}

static void
test_bad_ranges_are_refused(void **state)
{
    static const long long bounds[][2] = {
        {-1, 10}, {10, 9}, {0, 16384}, {16384, 16384}, {0, 1LL << 40},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bounds) / sizeof(bounds[0]); i++) {
        resp r = {0};
        one_range(&r, bounds[i][0], bounds[i][1], "h", 1, NULL);
        expect_refused(&r, NULL, "range 0: not 0 <= start <= end <= 16383");
    }
}

static void
test_overlapping_ranges_are_refused(void **state)
{
    resp r = {0};

    (void)state;
    arr(&r, 2);
    range(&r, 0, 100, 1);
    node(&r, "a", 1, NULL);
    range(&r, 100, 200, 1);
    node(&r, "b", 1, NULL);
    expect_refused(&r, NULL, "range 1: slot 100 is in two ranges");
}

static void
test_ranges_without_a_primary_are_refused(void **state)
{
    resp r = {0};

    (void)state;
    arr(&r, 1);
    range(&r, 0, 100, 0);
    expect_refused(&r, NULL, "range 0: not [start, end, primary, ...]");
    memset(&r, 0, sizeof(r));
    arr(&r, 1);
    range(&r, 0, 100, 1);
    arr(&r, 1);
    bulk(&r, "a");
    expect_refused(&r, NULL, "range 0 node 0: not [host, port, ...]");
}

static void
test_bad_ports_are_refused(void **state)
{
    static const long long ports[] = {0, -1, 65536, -6379, 1LL << 33};

    (void)state;
    for (size_t i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
        resp r = {0};
        arr(&r, 1);
        range(&r, 0, 10, 2);
        node(&r, "a", 1, NULL);
        node(&r, "b", ports[i], NULL);
        expect_refused(&r, NULL, "range 0 node 1: port not in 1..65535");
    }
}

static void
test_bad_hosts_and_ids_are_refused(void **state)
{
    char long_host[300];
    static const char *const hosts[] = {"a b", "a\tb", "a/b", "[::1]", "a\r"};
    static const char *const ids[] = {
        "", "abc", ID_A "0", "g9dbe9720cda62f7865eabc5fd8857c5d2678366"};

    (void)state;
    memset(long_host, 'a', 256);
    long_host[256] = 0;
    for (size_t i = 0; i <= sizeof(hosts) / sizeof(hosts[0]); i++) {
        resp r = {0};
        one_range(&r, 0, 10, i < 5 ? hosts[i] : long_host, 1, NULL);
        expect_refused(&r, "127.0.0.1", "range 0 node 0: bad host");
    }
    /* 255 bytes is the longest host. */
    resp ok = {0};
    long_host[255] = 0;
    one_range(&ok, 0, 10, long_host, 1, NULL);
    char err[256];
    rl_slot_map *m = map_of(&ok, NULL, err, sizeof(err));
    assert_non_null(m);
    assert_int_equal(strlen(m->shards[0].primary.host), 255);
    rl_slot_map_free(m);
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        resp r = {0};
        one_range(&r, 0, 10, "a", 1, ids[i]);
        expect_refused(&r, NULL, "range 0 node 0: id is not 40 hex digits");
    }
}

static void
test_one_address_with_two_ids_is_refused(void **state)
{
    resp r = {0};

    (void)state;
    arr(&r, 2);
    range(&r, 0, 10, 1);
    node(&r, "a", 1, ID_A);
    range(&r, 11, 20, 1);
    node(&r, "a", 1, ID_B);
    expect_refused(&r, NULL, "range 1: a:1 reported with two ids");
}

static void
test_a_replica_at_its_primary_address_is_refused(void **state)
{
    resp r = {0};

    (void)state;
    arr(&r, 1);
    range(&r, 0, 10, 2);
    node(&r, "a", 1, NULL);
    node(&r, "a", 1, NULL);
    expect_refused(&r, NULL, "range 0: a replica is its primary");
}

static void
test_bad_replica_in_a_later_range_is_refused(void **state)
{
    resp r = {0};

    (void)state;
    arr(&r, 2);
    range(&r, 0, 10, 1);
    node(&r, "a", 1, NULL);
    range(&r, 11, 20, 2);
    node(&r, "a", 1, NULL);
    node(&r, "b", 0, NULL);
    expect_refused(&r, NULL, "range 1 node 1: port not in 1..65535");
}

static void
test_empty_and_error_replies_are_refused(void **state)
{
    resp r = {0};
    char err[256];

    (void)state;
    arr(&r, 0);
    expect_refused(&r, NULL, "CLUSTER SLOTS: no slot is assigned");
    memset(&r, 0, sizeof(r));
    put(&r, "-ERR This instance has cluster support disabled\r\n");
    expect_refused(
        &r, NULL,
        "CLUSTER SLOTS: ERR This instance has cluster support disabled");
    memset(&r, 0, sizeof(r));
    num(&r, 1);
    expect_refused(&r, NULL, "CLUSTER SLOTS: reply is not an array");
    assert_null(rl_slot_map_from_slots(NULL, NULL, err, sizeof(err)));
}

/* CLUSTER SHARDS pieces: a node map and a shard map. */
static void
shard_node(resp *r, const char *endpoint, long long port, const char *id,
           const char *role, const char *health)
{
    arr(r, endpoint ? 16 : 14);
    bulk(r, "id");
    bulk(r, id);
    bulk(r, "port");
    num(r, port);
    bulk(r, "ip");
    bulk(r, "10.9.9.9");
    if (endpoint) {
        bulk(r, "endpoint");
        bulk(r, endpoint);
    }
    bulk(r, "hostname");
    bulk(r, "");
    bulk(r, "role");
    bulk(r, role);
    bulk(r, "replication-offset");
    num(r, 72156);
    bulk(r, "health");
    bulk(r, health);
}

static void
shard_head(resp *r, long long a, long long b, int nodes)
{
    arr(r, 4);
    bulk(r, "slots");
    arr(r, 2);
    num(r, a);
    num(r, b);
    bulk(r, "nodes");
    arr(r, nodes);
}

/* A whole CLUSTER SHARDS reply: one shard [a, b] of one node. */
static void
one_shard(resp *r, long long a, long long b, const char *endpoint,
          long long port, const char *id, const char *role, const char *health)
{
    arr(r, 1);
    shard_head(r, a, b, 1);
    shard_node(r, endpoint, port, id, role, health);
}

static rl_slot_map *
shards_map_of(const resp *r, const char *asked, char *err, size_t errlen)
{
    rl_tree *t = tree_of(r);
    rl_slot_map *m =
        rl_slot_map_from_shards(rl_tree_root(t), asked, err, errlen);
    rl_tree_free(t);
    return m;
}

static void
expect_shards_refused(const resp *r, const char *message)
{
    char err[256];
    rl_slot_map *m = shards_map_of(r, "127.0.0.1", err, sizeof(err));

    if (m)
        fail_msg("accepted; expected \"%s\"", message);
    assert_string_equal(err, message);
}

static void
test_cluster_shards_map_online_primaries_and_replicas(void **state)
{
    resp r = {0};
    char err[256];

    (void)state;
    arr(&r, 2);
    shard_head(&r, 0, 8191, 3);
    shard_node(&r, "127.0.0.1", 30001, ID_A, "master", "online");
    shard_node(&r, "127.0.0.1", 30004, ID_D, "replica", "online");
    shard_node(&r, "127.0.0.1", 30005, ID_C, "replica", "loading");
    shard_head(&r, 8192, 16383, 1);
    shard_node(&r, NULL, 30002, ID_B, "master", "online"); /* ip only */
    rl_slot_map *m = shards_map_of(&r, "127.0.0.1", err, sizeof(err));
    assert_non_null(m);
    assert_int_equal(m->assigned, 16384);
    assert_int_equal(m->shard_count, 2);
    assert_int_equal(rl_slot_map_shard(m, 0)->primary.port, 30001);
    assert_string_equal(rl_slot_map_shard(m, 0)->primary.id, ID_A);
    assert_int_equal(rl_slot_map_shard(m, 0)->replica_count, 1);
    assert_int_equal(m->replicas[0].port, 30004);
    assert_string_equal(rl_slot_map_shard(m, 16383)->primary.host, "10.9.9.9");
    rl_slot_map_free(m);
}

static void
test_cluster_shards_without_an_online_primary_leave_slots_unassigned(
    void **state)
{
    resp r = {0};
    char err[256];

    (void)state;
    arr(&r, 2);
    shard_head(&r, 0, 99, 2);
    shard_node(&r, "?", 30001, ID_A, "master", "failed");
    shard_node(&r, "?", 30004, ID_D, "replica", "online");
    shard_head(&r, 100, 16383, 1);
    shard_node(&r, "?", 30002, ID_B, "master", "online");
    rl_slot_map *m = shards_map_of(&r, "redis.example", err, sizeof(err));
    assert_non_null(m);
    assert_int_equal(m->assigned, 16284);
    assert_null(rl_slot_map_shard(m, 0));
    assert_null(rl_slot_map_shard(m, 99));
    assert_string_equal(rl_slot_map_shard(m, 100)->primary.host,
                        "redis.example");
    rl_slot_map_free(m);
    /* None online anywhere: nothing to route to. */
    memset(&r, 0, sizeof(r));
    one_shard(&r, 0, 16383, "a", 1, ID_A, "master", "failed");
    expect_shards_refused(&r, "CLUSTER SHARDS: no slot is served");
}

static void
test_cluster_shards_inconsistencies_are_refused(void **state)
{
    resp r = {0};

    (void)state;
    arr(&r, 1);
    shard_head(&r, 0, 16383, 2);
    shard_node(&r, "a", 1, ID_A, "master", "online");
    shard_node(&r, "b", 1, ID_B, "master", "online");
    expect_shards_refused(&r, "shard 0: two online primaries");

    memset(&r, 0, sizeof(r));
    arr(&r, 2);
    shard_head(&r, 0, 100, 1);
    shard_node(&r, "a", 1, ID_A, "master", "online");
    shard_head(&r, 100, 200, 1);
    shard_node(&r, "b", 1, ID_B, "master", "online");
    expect_shards_refused(&r, "shard 1: slot 100 is in two shards");

    memset(&r, 0, sizeof(r));
    one_shard(&r, 5, 4, "a", 1, ID_A, "master", "online");
    expect_shards_refused(&r, "shard 0: not 0 <= start <= end <= 16383");

    memset(&r, 0, sizeof(r));
    one_shard(&r, 0, 10, "a", 0, ID_A, "master", "online");
    expect_shards_refused(&r, "shard 0 node 0: port not in 1..65535");

    memset(&r, 0, sizeof(r));
    one_shard(&r, 0, 10, "a b", 1, ID_A, "master", "online");
    expect_shards_refused(&r, "shard 0 node 0: bad host");

    memset(&r, 0, sizeof(r));
    one_shard(&r, 0, 10, "a", 1, "nope", "master", "online");
    expect_shards_refused(&r, "shard 0 node 0: id is not 40 hex digits");

    /* A key twice, an odd map, no nodes. */
    memset(&r, 0, sizeof(r));
    arr(&r, 1);
    arr(&r, 6);
    bulk(&r, "slots");
    arr(&r, 0);
    bulk(&r, "nodes");
    arr(&r, 0);
    bulk(&r, "slots");
    arr(&r, 0);
    expect_shards_refused(&r, "shard 0: not {slots: [...], nodes: [...]}");
    memset(&r, 0, sizeof(r));
    arr(&r, 1);
    arr(&r, 3);
    bulk(&r, "slots");
    arr(&r, 0);
    bulk(&r, "nodes");
    expect_shards_refused(&r, "shard 0: not {slots: [...], nodes: [...]}");
    memset(&r, 0, sizeof(r));
    arr(&r, 1);
    arr(&r, 2);
    bulk(&r, "slots");
    arr(&r, 0);
    expect_shards_refused(&r, "shard 0: not {slots: [...], nodes: [...]}");
    /* An odd slot list, and a node map without a role. */
    memset(&r, 0, sizeof(r));
    arr(&r, 1);
    arr(&r, 4);
    bulk(&r, "slots");
    arr(&r, 1);
    num(&r, 0);
    bulk(&r, "nodes");
    arr(&r, 0);
    expect_shards_refused(&r, "shard 0: not {slots: [...], nodes: [...]}");
    memset(&r, 0, sizeof(r));
    arr(&r, 1);
    shard_head(&r, 0, 10, 1);
    arr(&r, 4);
    bulk(&r, "id");
    bulk(&r, ID_A);
    bulk(&r, "port");
    num(&r, 1);
    expect_shards_refused(&r, "shard 0 node 0: bad host");
}

static void
expect_redirect(const char *text, const char *asked, rl_redirect_kind kind,
                unsigned slot, const char *host, unsigned port)
{
    rl_redirect r;

    if (rl_redirect_parse(text, strlen(text), asked, &r) != 0)
        fail_msg("refused: %s", text);
    assert_int_equal(r.kind, kind);
    assert_int_equal(r.slot, slot);
    assert_string_equal(r.host, host);
    assert_int_equal(r.port, port);
}

static void
test_moved_and_ask_are_parsed(void **state)
{
    (void)state;
    expect_redirect("MOVED 3999 127.0.0.1:6381", NULL, RL_REDIRECT_MOVED, 3999,
                    "127.0.0.1", 6381);
    expect_redirect("ASK 3999 127.0.0.1:6381", NULL, RL_REDIRECT_ASK, 3999,
                    "127.0.0.1", 6381);
    expect_redirect("MOVED 0 redis-0.example:1", NULL, RL_REDIRECT_MOVED, 0,
                    "redis-0.example", 1);
    expect_redirect("MOVED 16383 h:65535", NULL, RL_REDIRECT_MOVED, 16383, "h",
                    65535);
}

static void
test_ipv6_redirect_without_brackets_splits_at_the_last_colon(void **state)
{
    (void)state;
    /* What Redis 7.0 prints: "%s %d %s:%d", the address unbracketed. */
    expect_redirect("ASK 3999 ::1:6381", NULL, RL_REDIRECT_ASK, 3999, "::1",
                    6381);
    expect_redirect("MOVED 12 fd00:1:2::17:7000", NULL, RL_REDIRECT_MOVED, 12,
                    "fd00:1:2::17", 7000);
    expect_redirect("ASK 3999 [::1]:6381", NULL, RL_REDIRECT_ASK, 3999, "::1",
                    6381);
}

static void
test_unknown_endpoint_redirect_is_the_address_asked(void **state)
{
    rl_redirect r;

    (void)state;
    expect_redirect("MOVED 5 :7000", "10.1.2.3", RL_REDIRECT_MOVED, 5,
                    "10.1.2.3", 7000);
    expect_redirect("MOVED 5 ?:7000", "10.1.2.3", RL_REDIRECT_MOVED, 5,
                    "10.1.2.3", 7000);
    assert_int_equal(rl_redirect_parse("MOVED 5 :7000", 13, NULL, &r), -1);
}

static void
test_malformed_redirects_are_refused(void **state)
{
    static const char *const bad[] = {
        "MOVED",
        "MOVED ",
        "MOVED 3999",
        "MOVED 3999 ",
        "MOVED 3999 127.0.0.1",
        "MOVED 3999 127.0.0.1:",
        "MOVED 127.0.0.1:6381",
        "MOVED  3999 127.0.0.1:6381",
        "MOVED 3999  127.0.0.1:6381",
        "MOVED 3999 127.0.0.1:6381 ",
        "MOVED 3999 127.0.0.1:6381\r\n",
        "MOVED 16384 127.0.0.1:6381",
        "MOVED 99999999999999999999 127.0.0.1:6381",
        "MOVED -1 127.0.0.1:6381",
        "MOVED +1 127.0.0.1:6381",
        "MOVED 0x10 127.0.0.1:6381",
        "MOVED 3999 127.0.0.1:0",
        "MOVED 3999 127.0.0.1:65536",
        "MOVED 3999 127.0.0.1:-1",
        "MOVED 3999 127.0.0.1:+80",
        "MOVED 3999 127.0.0.1:99999999999",
        "MOVED 3999 a b:1",
        "MOVED 3999 a/b:1",
        "MOVED 3999 []:1",
        "moved 3999 127.0.0.1:6381",
        "-MOVED 3999 127.0.0.1:6381",
        "ASKING 3999 127.0.0.1:6381",
        "ASK",
        "ERR unknown command",
        "TRYAGAIN Multiple keys request during rehashing of slot",
        "CLUSTERDOWN Hash slot not served",
        "",
    };
    rl_redirect r;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (rl_redirect_parse(bad[i], strlen(bad[i]), "127.0.0.1", &r) != -1)
            fail_msg("accepted: \"%s\"", bad[i]);
    /* A NUL inside, and a host one byte too long. */
    assert_int_equal(rl_redirect_parse("MOVED 1 a\0b:1", 13, NULL, &r), -1);
    char text[300] = "MOVED 1 ";
    memset(text + 8, 'h', 256);
    memcpy(text + 8 + 256, ":1", 3);
    assert_int_equal(rl_redirect_parse(text, strlen(text), NULL, &r), -1);
    memcpy(text + 8 + 255, ":1", 3);
    assert_int_equal(rl_redirect_parse(text, strlen(text), NULL, &r), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc16_of_the_specification_vector),
        cmocka_unit_test(test_key_slot_known_values),
        cmocka_unit_test(test_hash_tag_rules),
        cmocka_unit_test(test_three_shards_map_every_slot),
        cmocka_unit_test(test_unassigned_slots_have_no_owner),
        cmocka_unit_test(test_unknown_host_is_the_address_asked),
        cmocka_unit_test(test_redis7_metadata_and_later_fields_are_accepted),
        cmocka_unit_test(test_wrong_type_at_every_position_is_refused),
        cmocka_unit_test(test_bad_ranges_are_refused),
        cmocka_unit_test(test_overlapping_ranges_are_refused),
        cmocka_unit_test(test_ranges_without_a_primary_are_refused),
        cmocka_unit_test(test_bad_ports_are_refused),
        cmocka_unit_test(test_bad_hosts_and_ids_are_refused),
        cmocka_unit_test(test_one_address_with_two_ids_is_refused),
        cmocka_unit_test(test_a_replica_at_its_primary_address_is_refused),
        cmocka_unit_test(test_bad_replica_in_a_later_range_is_refused),
        cmocka_unit_test(test_empty_and_error_replies_are_refused),
        cmocka_unit_test(test_cluster_shards_map_online_primaries_and_replicas),
        cmocka_unit_test(
            test_cluster_shards_without_an_online_primary_leave_slots_unassigned),
        cmocka_unit_test(test_cluster_shards_inconsistencies_are_refused),
        cmocka_unit_test(test_moved_and_ask_are_parsed),
        cmocka_unit_test(
            test_ipv6_redirect_without_brackets_splits_at_the_last_colon),
        cmocka_unit_test(test_unknown_endpoint_redirect_is_the_address_asked),
        cmocka_unit_test(test_malformed_redirects_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
