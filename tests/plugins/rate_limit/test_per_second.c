/*
 * test_per_second.c - redis.perSecond, envoyproxy/ratelimit's
 * REDIS_PERSECOND_*: the limits whose unit is second count in a second
 * Redis, every other limit in redis. The config is read by the same code
 * as redis (so every refusal names redis.perSecond.<field>); the counters
 * are looked up with a direct client on each real redis-server (on the
 * right one, absent from the other); and when one of the two is down,
 * only the decisions that need it take the fail mode.
 *
 * The test host's clock is fixed at T0, a multiple of 60: a second's
 * window and a minute's both start at T0, so keys differ by descriptor
 * value only ("sec" for the limit of a second, "min" for the minute's).
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

/* Two limits: 2 a second for value sec, 3 a minute for value min. */
#define LIMITS                                                                 \
    "descriptors: [{key: k, value: sec, rate_limit: {unit: second, "           \
    "requests_per_unit: 2}}, {key: k, value: min, rate_limit: {unit: minute, " \
    "requests_per_unit: 3}}]"
#define SEC_ROUTE                                                              \
    "[{entries: [{type: Generic, generic: {key: k, value: sec}}]}]"
#define MIN_ROUTE                                                              \
    "[{entries: [{type: Generic, generic: {key: k, value: min}}]}]"
#define BOTH_ROUTE                                                             \
    "[{entries: [{type: Generic, generic: {key: k, value: sec}}]}, "           \
    "{entries: [{type: Generic, generic: {key: k, value: min}}]}]"
#define SEC_KEY "shop_k_sec_1767225600"
#define MIN_KEY "shop_k_min_1767225600"

/* The main Redis and the per-second one, started by each test that
 * needs them (the fixture kills both). */
static redis_peer main_redis, second_redis;

static int
setup_peers(void **state)
{
    (void)state;
    memset(&main_redis, 0, sizeof(main_redis));
    memset(&second_redis, 0, sizeof(second_redis));
    return 0;
}

static int
teardown_peers(void **state)
{
    (void)state;
    redis_peer_kill(&main_redis);
    redis_peer_kill(&second_redis);
    return 0;
}

/* spec.rateLimit: redis at `main_port` with perSecond at `second_port`,
 * `per_second_extra` inside perSecond, `rest` at the top. */
static const char *
spec_with(int main_port, int second_port, const char *per_second_extra,
          const char *rest)
{
    static char text[4096];
    int n = snprintf(text, sizeof(text),
                     "{redis: {address: \"127.0.0.1:%d\", perSecond: "
                     "{address: \"127.0.0.1:%d\"%s%s}}, domain: shop, "
                     "%s%s" LIMITS "}",
                     main_port, second_port, *per_second_extra ? ", " : "",
                     per_second_extra, rest, *rest ? ", " : "");
    assert_true(n > 0 && (size_t)n < sizeof(text));
    return text;
}

static const char *
spec_at(int main_port, int second_port, const char *rest)
{
    return spec_with(main_port, second_port, "", rest);
}

/* GET `key` on `p` in db `db` (-1: absent). */
static long long
count_in(const redis_peer *p, int db, const char *key)
{
    redisContext *c = redis_peer_client(p, NULL, NULL);
    long long v;

    if (db) {
        redisReply *r = redisCommand(c, "SELECT %d", db);
        assert_non_null(r);
        assert_int_equal(r->type, REDIS_REPLY_STATUS);
        freeReplyObject(r);
    }
    v = redis_int(c, "GET %s", key);
    redisFree(c);
    return v;
}

/* -- The config: shapes accepted, refusals with their field ------------ */

#define CONFIG_ERROR(name, redis_block, field, msg)                            \
    static void test_##name(void **state)                                      \
    {                                                                          \
        (void)state;                                                           \
        assert_config_error(                                                   \
            global_manifests("{redis: {address: \"127.0.0.1:1\", " redis_block \
                             "}, domain: shop, " LIMITS "}",                   \
                             SEC_ROUTE),                                       \
            "spec.rateLimit." field, msg);                                     \
    }

CONFIG_ERROR(per_second_is_an_object, "perSecond: true", "redis.perSecond",
             "expected an object")
CONFIG_ERROR(per_second_needs_an_address, "perSecond: {db: 1}",
             "redis.perSecond.address",
             "is required (or redis.perSecond.backendRef): expected "
             "\"host:port\"")
CONFIG_ERROR(per_second_address_needs_a_port, "perSecond: {address: localhost}",
             "redis.perSecond.address",
             "expected \"host:port\", found \"localhost\"")
CONFIG_ERROR(per_second_address_port_in_range,
             "perSecond: {address: \"127.0.0.1:0\"}", "redis.perSecond.address",
             "expected a port from 1 to 65535 after ':', found \"0\"")
CONFIG_ERROR(per_second_address_must_resolve,
             "perSecond: {address: \"bad host!:6379\"}",
             "redis.perSecond.address", "cannot resolve \"bad host!\"")
CONFIG_ERROR(per_second_address_and_backend_ref_exclude_each_other,
             "perSecond: {address: \"127.0.0.1:2\", backendRef: {name: b}}",
             "redis.perSecond",
             "expected one of address and backendRef, found both")
CONFIG_ERROR(per_second_backend_ref_must_exist,
             "perSecond: {backendRef: {name: nope}}",
             "redis.perSecond.backendRef", "Backend nope not found")
/* keyPrefix is envoyproxy/ratelimit's one CACHE_KEY_PREFIX: both Redis
 * count with the same keys. */
CONFIG_ERROR(per_second_key_prefix_is_refused,
             "perSecond: {address: \"127.0.0.1:2\", keyPrefix: x}",
             "redis.perSecond.keyPrefix",
             "applies to redis only: both Redis count with the same keys")
CONFIG_ERROR(per_second_inside_per_second_is_refused,
             "perSecond: {address: \"127.0.0.1:2\", perSecond: {address: "
             "\"127.0.0.1:3\"}}",
             "redis.perSecond.perSecond",
             "is not allowed: there is one per-second Redis")
CONFIG_ERROR(per_second_unknown_field_is_refused,
             "perSecond: {address: \"127.0.0.1:2\", ssl: true}",
             "redis.perSecond.ssl", "unknown field; expected one of: address")
CONFIG_ERROR(per_second_db_in_range,
             "perSecond: {address: \"127.0.0.1:2\", db: 65536}",
             "redis.perSecond.db",
             "expected an integer from 0 to 65535, found 65536")
CONFIG_ERROR(per_second_username_needs_a_password,
             "perSecond: {address: \"127.0.0.1:2\", username: u}",
             "redis.perSecond.username", "needs password or passwordSecretRef")
CONFIG_ERROR(per_second_password_is_not_empty,
             "perSecond: {address: \"127.0.0.1:2\", password: \"\"}",
             "redis.perSecond.password", "expected a non-empty string")
CONFIG_ERROR(per_second_password_and_secret_exclude_each_other,
             "perSecond: {address: \"127.0.0.1:2\", password: p, "
             "passwordSecretRef: {name: s}}",
             "redis.perSecond",
             "expected one of password and passwordSecretRef, found both")
CONFIG_ERROR(per_second_password_secret_must_exist,
             "perSecond: {address: \"127.0.0.1:2\", passwordSecretRef: "
             "{name: s}}",
             "redis.perSecond.passwordSecretRef", "Secret s not found")
CONFIG_ERROR(per_second_type_is_single_sentinel_or_cluster,
             "perSecond: {type: single, address: \"127.0.0.1:2\"}",
             "redis.perSecond.type", "expected one of")
CONFIG_ERROR(per_second_single_takes_address_not_addresses,
             "perSecond: {address: \"127.0.0.1:2\", addresses: "
             "[\"127.0.0.1:3\"]}",
             "redis.perSecond.addresses",
             "applies to type Sentinel or Cluster only")
CONFIG_ERROR(per_second_single_takes_no_master_name,
             "perSecond: {address: \"127.0.0.1:2\", masterName: m}",
             "redis.perSecond.masterName", "applies to type Sentinel only")
CONFIG_ERROR(per_second_sentinel_needs_a_master_name,
             "perSecond: {type: Sentinel, addresses: [\"127.0.0.1:26379\"]}",
             "redis.perSecond.masterName", "is required")
CONFIG_ERROR(per_second_sentinel_needs_addresses,
             "perSecond: {type: Sentinel, masterName: m}",
             "redis.perSecond.addresses", "is required")
CONFIG_ERROR(per_second_sentinel_takes_addresses_not_address,
             "perSecond: {type: Sentinel, masterName: m, address: "
             "\"127.0.0.1:2\", addresses: [\"127.0.0.1:3\"]}",
             "redis.perSecond.address",
             "applies to type Single only: type Sentinel takes addresses")
CONFIG_ERROR(per_second_sentinel_addresses_must_resolve,
             "perSecond: {type: Sentinel, masterName: m, addresses: "
             "[\"127.0.0.1:26379\", \"bad host!:26379\"]}",
             "redis.perSecond.addresses[1]", "cannot resolve \"bad host!\"")
CONFIG_ERROR(per_second_cluster_addresses_need_ports,
             "perSecond: {type: Cluster, addresses: [\"127.0.0.1:7000\", "
             "\"127.0.0.1\"]}",
             "redis.perSecond.addresses[1]", "expected \"host:port\"")
CONFIG_ERROR(per_second_tls_is_an_object,
             "perSecond: {address: \"127.0.0.1:2\", tls: true}",
             "redis.perSecond.tls", "expected an object")
CONFIG_ERROR(per_second_tls_unknown_field_is_refused,
             "perSecond: {address: \"127.0.0.1:2\", tls: {ca: x}}",
             "redis.perSecond.tls.ca", "unknown field")
CONFIG_ERROR(per_second_tls_cert_needs_its_key,
             "perSecond: {address: \"127.0.0.1:2\", tls: {certFile: c.pem}}",
             "redis.perSecond.tls.keyFile",
             "is required with redis.perSecond.tls.certFile")
CONFIG_ERROR(per_second_tls_ca_file_must_be_readable,
             "perSecond: {address: \"127.0.0.1:2\", tls: {caFile: "
             "/nonexistent/ca.pem}}",
             "redis.perSecond.tls.caFile",
             "cannot load CA certificates from /nonexistent/ca.pem")

/* Every mistake of both blocks is reported at once, each at its path. */
static void
test_mistakes_in_both_blocks_are_all_reported(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(global_manifests(
        "{redis: {address: localhost, perSecond: {address: \"127.0.0.1:0\", "
        "username: u}}, domain: shop, " LIMITS "}",
        SEC_ROUTE));
    const char *err;

    assert_int_equal(gwf_test_validate(h), -1);
    err = gwf_test_error(h);
    assert_non_null(err);
    assert_non_null(strstr(err, "spec.rateLimit.redis.address: expected "
                                "\"host:port\""));
    assert_non_null(strstr(err, "spec.rateLimit.redis.perSecond.address: "
                                "expected a port from 1 to 65535"));
    assert_non_null(strstr(err, "spec.rateLimit.redis.perSecond.username: "
                                "needs password or passwordSecretRef"));
    gwf_test_host_free(h);
}

/* The per-second block's password never reaches an error message. */
static void
test_per_second_password_is_never_echoed(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(global_manifests(
        "{redis: {address: \"127.0.0.1:1\", perSecond: {address: "
        "\"127.0.0.1:2\", password: s3cr3t-per-second, passwordSecretRef: "
        "{name: s}}}, domain: shop, " LIMITS "}",
        SEC_ROUTE));
    const char *err;

    assert_int_equal(gwf_test_validate(h), -1);
    err = gwf_test_error(h);
    assert_non_null(err);
    assert_null(strstr(err, "s3cr3t"));
    gwf_test_host_free(h);
}

static void
test_per_second_single_sentinel_and_secret_shapes_load(void **state)
{
    (void)state;
    static const char *const blocks[] = {
        "{address: \"127.0.0.1:2\"}",
        "{address: \"127.0.0.1:2\", db: 7, username: u, password: p}",
        "{address: \"[::1]:2\", tls: {insecureSkipVerify: true}}",
        "{type: Sentinel, masterName: m, addresses: [\"127.0.0.1:26379\", "
        "\"127.0.0.1:26380\"]}",
        "{address: \"127.0.0.1:2\", passwordSecretRef: {name: pw, key: k}}",
        "null",
    };
    char spec[1024], text[4096];

    for (size_t i = 0; i < sizeof(blocks) / sizeof(blocks[0]); i++) {
        snprintf(spec, sizeof(spec),
                 "{redis: {address: \"127.0.0.1:1\", perSecond: %s}, domain: "
                 "shop, " LIMITS "}",
                 blocks[i]);
        snprintf(text, sizeof(text),
                 "%s---\napiVersion: v1\nkind: Secret\n"
                 "metadata: {name: pw, namespace: default}\n"
                 "stringData: {k: hunter2}\n",
                 global_manifests(spec, SEC_ROUTE));
        gwf_test_host *h = host_with(text);
        gwf_test_host_free(h);
    }
}

/* Both Redis started, and the test host limiting through them with
 * more redis fields `rest` and the route's descriptors `route`. */
static gwf_test_host *
both_redis_host(const char *rest, const char *route)
{
    redis_peer_start(&main_redis);
    redis_peer_start(&second_redis);
    return host_with(global_manifests(
        spec_at(main_redis.port, second_redis.port, rest), route));
}

/* -- Where each limit counts ------------------------------------------- */

static void
test_limit_of_a_second_counts_in_the_per_second_redis_only(void **state)
{
    (void)state;
    gwf_test_host *h = both_redis_host("", SEC_ROUTE);

    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(count_in(&second_redis, 0, SEC_KEY), 1);
    assert_false(redis_exists(&main_redis, SEC_KEY));
    gwf_test_host_free(h);
}

static void
test_limit_of_a_second_is_enforced_from_the_per_second_redis(void **state)
{
    (void)state;
    gwf_test_host *h = both_redis_host("", SEC_ROUTE);

    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(status_of(h, "/", NULL), 429);
    assert_int_equal(count_in(&second_redis, 0, SEC_KEY), 3);
    /* The next second is a new window, in the same Redis. */
    gwf_test_advance(h, 1000 * MS);
    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(count_in(&second_redis, 0, "shop_k_sec_1767225601"), 1);
    assert_false(redis_exists(&main_redis, "shop_k_sec_1767225601"));
    gwf_test_host_free(h);
}

/* The key's EXPIRE is set where the key is: one second. */
static void
test_counter_of_a_second_expires_after_one_second(void **state)
{
    (void)state;
    gwf_test_host *h = both_redis_host("", SEC_ROUTE);
    redisContext *c;

    assert_int_equal(status_of(h, "/", NULL), 200);
    c = redis_peer_client(&second_redis, NULL, NULL);
    assert_int_equal(redis_int(c, "TTL %s", SEC_KEY), 1);
    redisFree(c);
    gwf_test_host_free(h);
}

static void
test_limit_of_a_minute_counts_in_the_main_redis_only(void **state)
{
    (void)state;
    gwf_test_host *h = both_redis_host("", MIN_ROUTE);

    for (int i = 0; i < 3; i++)
        assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(status_of(h, "/", NULL), 429);
    assert_int_equal(count_in(&main_redis, 0, MIN_KEY), 4);
    assert_false(redis_exists(&second_redis, MIN_KEY));
    gwf_test_host_free(h);
}

static void
test_request_with_both_limits_counts_in_both_redis(void **state)
{
    (void)state;
    gwf_test_host *h = both_redis_host("", BOTH_ROUTE);

    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(count_in(&second_redis, 0, SEC_KEY), 2);
    assert_int_equal(count_in(&main_redis, 0, MIN_KEY), 2);
    assert_false(redis_exists(&main_redis, SEC_KEY));
    assert_false(redis_exists(&second_redis, MIN_KEY));
    /* Over a second's limit: refused, and both counted once more. */
    assert_int_equal(status_of(h, "/", NULL), 429);
    assert_int_equal(count_in(&second_redis, 0, SEC_KEY), 3);
    assert_int_equal(count_in(&main_redis, 0, MIN_KEY), 3);
    gwf_test_host_free(h);
}

/* envoyproxy/ratelimit's one CACHE_KEY_PREFIX: the per-second keys take
 * redis.keyPrefix too. */
static void
test_key_prefix_applies_to_both_redis(void **state)
{
    (void)state;
    redis_peer_start(&main_redis);
    redis_peer_start(&second_redis);
    char text[4096];
    gwf_test_host *h;

    snprintf(text, sizeof(text),
             "{redis: {address: \"127.0.0.1:%d\", keyPrefix: \"rl:\", "
             "perSecond: {address: \"127.0.0.1:%d\"}}, domain: shop, " LIMITS
             "}",
             main_redis.port, second_redis.port);
    h = host_with(global_manifests(text, BOTH_ROUTE));
    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(count_in(&second_redis, 0, "rl:" SEC_KEY), 1);
    assert_int_equal(count_in(&main_redis, 0, "rl:" MIN_KEY), 1);
    gwf_test_host_free(h);
}

/* The rolling algorithm's keys follow the same rule. */
static void
test_rolling_limit_of_a_second_runs_in_the_per_second_redis(void **state)
{
    (void)state;
    gwf_test_host *h = both_redis_host("algorithm: Rolling", BOTH_ROUTE);

    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_true(redis_exists(&second_redis, "shop_k_sec_rolling1"));
    assert_false(redis_exists(&main_redis, "shop_k_sec_rolling1"));
    assert_true(redis_exists(&main_redis, "shop_k_min_rolling60"));
    assert_false(redis_exists(&second_redis, "shop_k_min_rolling60"));
    gwf_test_host_free(h);
}

/* Without perSecond, a limit of a second counts in redis, as before. */
static void
test_without_per_second_every_limit_counts_in_redis(void **state)
{
    (void)state;
    char text[4096];

    redis_peer_start(&main_redis);
    snprintf(text, sizeof(text),
             "{redis: {address: \"127.0.0.1:%d\"}, domain: shop, " LIMITS "}",
             main_redis.port);
    gwf_test_host *h = host_with(global_manifests(text, BOTH_ROUTE));

    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(count_in(&main_redis, 0, SEC_KEY), 1);
    assert_int_equal(count_in(&main_redis, 0, MIN_KEY), 1);
    gwf_test_host_free(h);
}

/* -- The per-second Redis's own settings ------------------------------- */

static void
test_per_second_db_selects_its_database(void **state)
{
    (void)state;
    redis_peer_start(&main_redis);
    redis_peer_start(&second_redis);
    gwf_test_host *h = host_with(global_manifests(
        spec_with(main_redis.port, second_redis.port, "db: 5", ""),
        BOTH_ROUTE));

    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(count_in(&second_redis, 5, SEC_KEY), 1);
    assert_false(redis_exists(&second_redis, SEC_KEY)); /* not in db 0 */
    /* perSecond's db is its own: redis stays in db 0. */
    assert_int_equal(count_in(&main_redis, 0, MIN_KEY), 1);
    gwf_test_host_free(h);
}

/* The password of perSecond (from a Secret) is its own: the main Redis
 * has none, the per-second one requires it. */
static void
test_per_second_password_from_a_secret_authenticates(void **state)
{
    (void)state;
    char text[8192];

    second_redis.extra[0] = "--requirepass";
    second_redis.extra[1] = "hunter2";
    redis_peer_start(&main_redis);
    redis_peer_start(&second_redis);
    snprintf(text, sizeof(text),
             "%s---\napiVersion: v1\nkind: Secret\n"
             "metadata: {name: per-second-pass, namespace: default}\n"
             "data: {password: aHVudGVyMg==}\n",
             global_manifests(spec_with(main_redis.port, second_redis.port,
                                        "passwordSecretRef: {name: "
                                        "per-second-pass}",
                                        ""),
                              BOTH_ROUTE));
    gwf_test_host *h = host_with(text);

    assert_int_equal(status_of(h, "/", NULL), 200);
    redisContext *c = redis_peer_client(&second_redis, NULL, "hunter2");
    assert_int_equal(redis_int(c, "GET %s", SEC_KEY), 1);
    redisFree(c);
    assert_int_equal(count_in(&main_redis, 0, MIN_KEY), 1);
    gwf_test_host_free(h);
}

/* A wrong per-second password fails the per-second decisions closed;
 * the main Redis still counts. */
static void
test_wrong_per_second_password_fails_closed_and_main_still_counts(void **state)
{
    (void)state;
    second_redis.extra[0] = "--requirepass";
    second_redis.extra[1] = "hunter2";
    redis_peer_start(&main_redis);
    redis_peer_start(&second_redis);
    gwf_test_host *h = host_with(global_manifests(
        spec_with(main_redis.port, second_redis.port, "password: wrong", ""),
        BOTH_ROUTE));

    assert_int_equal(status_of(h, "/", NULL), 500);
    assert_int_equal(count_in(&main_redis, 0, MIN_KEY), 1);
    assert_true(gwf_test_log_contains(h, "AUTH failed"));
    assert_false(gwf_test_log_contains(h, "wrong"));
    gwf_test_host_free(h);
}

/* -- One of the two down ----------------------------------------------- */

static void
test_per_second_redis_down_fails_closed_for_limits_of_a_second(void **state)
{
    (void)state;
    redis_peer_start(&main_redis);
    gwf_test_host *h = host_with(
        global_manifests(spec_at(main_redis.port, dead_port(), ""), SEC_ROUTE));
    gwf_test_result *res = run_api(h, "/", NULL);

    assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
    assert_int_equal(gwf_test_status(res), 500);
    assert_string_equal(gwf_test_reply_details(res), "rate_limit_error");
    gwf_test_result_free(res);
    assert_true(gwf_test_metric(h, "gwf_rate_limit_decisions_total{instance="
                                   "\"default/rl\",descriptor=\"k_sec\","
                                   "outcome=\"error\"}") == 1);
    assert_false(redis_exists(&main_redis, SEC_KEY));
    gwf_test_host_free(h);
}

static void
test_per_second_redis_down_leaves_limits_of_a_minute_counting(void **state)
{
    (void)state;
    redis_peer_start(&main_redis);
    gwf_test_host *h = host_with(
        global_manifests(spec_at(main_redis.port, dead_port(), ""), MIN_ROUTE));

    for (int i = 0; i < 3; i++)
        assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(status_of(h, "/", NULL), 429);
    assert_int_equal(count_in(&main_redis, 0, MIN_KEY), 4);
    gwf_test_host_free(h);
}

/* A request with both limits: the per-second one errs, so the fail mode
 * decides (500 with failOpen false) - the minute's is still counted. */
static void
test_per_second_redis_down_fails_closed_a_request_with_both(void **state)
{
    (void)state;
    redis_peer_start(&main_redis);
    gwf_test_host *h = host_with(global_manifests(
        spec_at(main_redis.port, dead_port(), ""), BOTH_ROUTE));

    assert_int_equal(status_of(h, "/", NULL), 500);
    assert_int_equal(status_of(h, "/", NULL), 500);
    assert_int_equal(count_in(&main_redis, 0, MIN_KEY), 2);
    gwf_test_host_free(h);
}

/* failOpen true: the per-second limit is let through, the minute's is
 * enforced from the main Redis. */
static void
test_per_second_redis_down_fails_open_and_minute_limit_holds(void **state)
{
    (void)state;
    redis_peer_start(&main_redis);
    gwf_test_host *h = host_with(global_manifests(
        spec_at(main_redis.port, dead_port(), "failOpen: true"), BOTH_ROUTE));

    for (int i = 0; i < 3; i++)
        assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(status_of(h, "/", NULL), 429);
    assert_int_equal(count_in(&main_redis, 0, MIN_KEY), 4);
    assert_true(gwf_test_metric(h, "gwf_rate_limit_decisions_total{instance="
                                   "\"default/rl\",descriptor=\"k_sec\","
                                   "outcome=\"error\"}") == 4);
    gwf_test_host_free(h);
}

static void
test_per_second_failure_status_is_the_configured_one(void **state)
{
    (void)state;
    redis_peer_start(&main_redis);
    gwf_test_host *h = host_with(global_manifests(
        spec_at(main_redis.port, dead_port(), "failureStatus: 503"),
        SEC_ROUTE));

    assert_int_equal(status_of(h, "/", NULL), 503);
    gwf_test_host_free(h);
}

/* The other way round: the main Redis down, the per-second one up. */
static void
test_main_redis_down_leaves_limits_of_a_second_counting(void **state)
{
    (void)state;
    redis_peer_start(&second_redis);
    gwf_test_host *h = host_with(global_manifests(
        spec_at(dead_port(), second_redis.port, ""), SEC_ROUTE));

    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(status_of(h, "/", NULL), 429);
    assert_int_equal(count_in(&second_redis, 0, SEC_KEY), 3);
    gwf_test_host_free(h);
}

/* A per-second Redis that stops answering: the decision ends at the
 * timeout with the fail mode, and the log names the silent one. */
static void
test_stopped_per_second_redis_times_out_alone(void **state)
{
    (void)state;
    gwf_test_host *h = both_redis_host("", BOTH_ROUTE);
    gwf_test_result *res;

    assert_int_equal(status_of(h, "/", NULL), 200); /* both connected */
    redis_peer_pause(&second_redis);
    res = start_api(h, "/", NULL, 100);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_RUNNING);
    gwf_test_advance(h, 100 * MS); /* the default timeout */
    gwf_test_wait(h, res, 1000);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
    assert_int_equal(gwf_test_status(res), 500);
    gwf_test_result_free(res);
    assert_true(gwf_test_log_contains(
        h, "Redis (perSecond) did not answer within the timeout"));
    assert_int_equal(count_in(&main_redis, 0, MIN_KEY), 2);
    redis_peer_continue(&second_redis);
    gwf_test_host_free(h);
}

/* The timeouts are noted on the Redis that did not answer: once it has
 * given no reply across three timeouts (the fourth request's) its
 * connection is dropped and made again (redis.c), while the main Redis,
 * which answered each time, keeps its connection. */
static void
test_silent_per_second_redis_is_reconnected_not_the_main(void **state)
{
    (void)state;
    char second_log[128], main_log[128];

    gwf_test_host *h = both_redis_host("", BOTH_ROUTE);

    assert_int_equal(status_of(h, "/", NULL), 200); /* both connected */
    redis_peer_pause(&second_redis);
    for (int i = 0; i < 4; i++) {
        gwf_test_result *res = start_api(h, "/", NULL, 50);
        gwf_test_advance(h, 100 * MS);
        assert_true(gwf_test_wait(h, res, 1000));
        /* The minute's 4th request and after are over its limit: a 429
         * wins over the per-second Redis's error. */
        assert_int_equal(gwf_test_status(res), i < 2 ? 500 : 429);
        gwf_test_result_free(res);
    }
    snprintf(second_log, sizeof(second_log),
             "Redis 127.0.0.1:%d gave no reply across 3 decision timeouts",
             second_redis.port);
    snprintf(main_log, sizeof(main_log), "Redis 127.0.0.1:%d did not answer",
             main_redis.port);
    assert_true(gwf_test_log_contains(h, second_log));
    assert_false(gwf_test_log_contains(h, main_log));
    /* The 5th is over the minute's limit from the over-limit cache. */
    assert_int_equal(count_in(&main_redis, 0, MIN_KEY), 4);
    redis_peer_continue(&second_redis);
    gwf_test_host_free(h);
}

/* A per-second Redis killed with requests in flight: each ends with the
 * fail mode, none hangs; the main Redis's connection is untouched. */
static void
test_per_second_redis_killed_with_requests_in_flight(void **state)
{
    (void)state;
    gwf_test_host *h = both_redis_host("failOpen: true", BOTH_ROUTE);
    gwf_test_result *res[4];

    assert_int_equal(status_of(h, "/", NULL), 200);
    for (int i = 0; i < 4; i++)
        res[i] = start_api(h, "/", NULL, 0);
    redis_peer_kill(&second_redis);
    for (int i = 0; i < 4; i++) {
        assert_true(gwf_test_wait(h, res[i], 2000));
        /* failOpen: the minute's limit (3) decides; 4 went to Redis
         * before, 1 + i now. */
        assert_int_equal(gwf_test_status(res[i]), i < 2 ? 200 : 429);
        gwf_test_result_free(res[i]);
    }
    assert_int_equal(count_in(&main_redis, 0, MIN_KEY), 5);
    gwf_test_host_free(h);
}

/* -- A per-second Redis behind Sentinel -------------------------------- */

static void
test_per_second_sentinel_counts_in_the_primary_it_names(void **state)
{
    (void)state;
    sentinel_peer watcher = {0};
    char spec[2048];

    redis_peer_start(&main_redis);
    redis_peer_start(&second_redis);
    sentinel_peer_start(&watcher, second_redis.port, 0);

    snprintf(spec, sizeof(spec),
             "{redis: {address: \"127.0.0.1:%d\", perSecond: {type: Sentinel, "
             "masterName: mymaster, addresses: [\"127.0.0.1:%d\"]}}, domain: "
             "shop, " LIMITS "}",
             main_redis.port, watcher.port);
    gwf_test_host *h = host_with(global_manifests(spec, BOTH_ROUTE));
    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(count_in(&second_redis, 0, SEC_KEY), 1);
    assert_int_equal(count_in(&main_redis, 0, MIN_KEY), 1);
    assert_false(redis_exists(&main_redis, SEC_KEY));
    gwf_test_host_free(h);

    sentinel_peer_stop(&watcher);
}

#define T(name)                                                                \
    cmocka_unit_test_setup_teardown(name, setup_peers, teardown_peers)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_per_second_is_an_object),
        cmocka_unit_test(test_per_second_needs_an_address),
        cmocka_unit_test(test_per_second_address_needs_a_port),
        cmocka_unit_test(test_per_second_address_port_in_range),
        cmocka_unit_test(test_per_second_address_must_resolve),
        cmocka_unit_test(
            test_per_second_address_and_backend_ref_exclude_each_other),
        cmocka_unit_test(test_per_second_backend_ref_must_exist),
        cmocka_unit_test(test_per_second_key_prefix_is_refused),
        cmocka_unit_test(test_per_second_inside_per_second_is_refused),
        cmocka_unit_test(test_per_second_unknown_field_is_refused),
        cmocka_unit_test(test_per_second_db_in_range),
        cmocka_unit_test(test_per_second_username_needs_a_password),
        cmocka_unit_test(test_per_second_password_is_not_empty),
        cmocka_unit_test(
            test_per_second_password_and_secret_exclude_each_other),
        cmocka_unit_test(test_per_second_password_secret_must_exist),
        cmocka_unit_test(test_per_second_type_is_single_sentinel_or_cluster),
        cmocka_unit_test(test_per_second_single_takes_address_not_addresses),
        cmocka_unit_test(test_per_second_single_takes_no_master_name),
        cmocka_unit_test(test_per_second_sentinel_needs_a_master_name),
        cmocka_unit_test(test_per_second_sentinel_needs_addresses),
        cmocka_unit_test(test_per_second_sentinel_takes_addresses_not_address),
        cmocka_unit_test(test_per_second_sentinel_addresses_must_resolve),
        cmocka_unit_test(test_per_second_cluster_addresses_need_ports),
        cmocka_unit_test(test_per_second_tls_is_an_object),
        cmocka_unit_test(test_per_second_tls_unknown_field_is_refused),
        cmocka_unit_test(test_per_second_tls_cert_needs_its_key),
        cmocka_unit_test(test_per_second_tls_ca_file_must_be_readable),
        cmocka_unit_test(test_mistakes_in_both_blocks_are_all_reported),
        cmocka_unit_test(test_per_second_password_is_never_echoed),
        cmocka_unit_test(
            test_per_second_single_sentinel_and_secret_shapes_load),
        T(test_limit_of_a_second_counts_in_the_per_second_redis_only),
        T(test_limit_of_a_second_is_enforced_from_the_per_second_redis),
        T(test_counter_of_a_second_expires_after_one_second),
        T(test_limit_of_a_minute_counts_in_the_main_redis_only),
        T(test_request_with_both_limits_counts_in_both_redis),
        T(test_key_prefix_applies_to_both_redis),
        T(test_rolling_limit_of_a_second_runs_in_the_per_second_redis),
        T(test_without_per_second_every_limit_counts_in_redis),
        T(test_per_second_db_selects_its_database),
        T(test_per_second_password_from_a_secret_authenticates),
        T(test_wrong_per_second_password_fails_closed_and_main_still_counts),
        T(test_per_second_redis_down_fails_closed_for_limits_of_a_second),
        T(test_per_second_redis_down_leaves_limits_of_a_minute_counting),
        T(test_per_second_redis_down_fails_closed_a_request_with_both),
        T(test_per_second_redis_down_fails_open_and_minute_limit_holds),
        T(test_per_second_failure_status_is_the_configured_one),
        T(test_main_redis_down_leaves_limits_of_a_second_counting),
        T(test_stopped_per_second_redis_times_out_alone),
        T(test_silent_per_second_redis_is_reconnected_not_the_main),
        T(test_per_second_redis_killed_with_requests_in_flight),
        T(test_per_second_sentinel_counts_in_the_primary_it_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
