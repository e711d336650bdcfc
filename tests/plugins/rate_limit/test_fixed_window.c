/*
 * test_fixed_window.c - global limits against a real redis-server: exact
 * counting at the limit and at window edges (the test host's clock),
 * envoyproxy/ratelimit's keys byte for byte, descriptor matching (nested,
 * wildcard, unlimited, shadow mode), the over-limit cache, the 429 and
 * its headers, and the metrics.
 *
 * One redis-server serves the whole file; every test starts from an
 * empty Redis (FLUSHALL) and its own test host.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <unistd.h>

#include "support.h"

static redis_peer redis;

/* spec.rateLimit with our Redis and `rest` appended inside the braces. */
static const char *
spec(const char *rest)
{
    static char text[8192];
    snprintf(text, sizeof(text),
             "{redis: {address: \"127.0.0.1:%d\"}, domain: shop, %s}",
             redis.port, rest);
    return text;
}

static int
setup_redis(void **state)
{
    (void)state;
    redis_peer_start(&redis);
    return 0;
}

static int
teardown_redis(void **state)
{
    (void)state;
    redis_peer_kill(&redis);
    return 0;
}

static int
flush(void **state)
{
    (void)state;
    redis_flush(&redis);
    return 0;
}

#define PER_MINUTE(n)                                                          \
    "descriptors: [{key: generic_key, value: foo, rate_limit: {unit: minute, " \
    "requests_per_unit: " #n "}}]"
#define FOO                                                                    \
    "[{entries: [{type: Generic, generic: {key: generic_key, value: foo}}]}]"

/* -- Counting ------------------------------------------------------------ */

static void
test_requests_up_to_the_limit_pass_and_the_next_gets_429(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(global_manifests(spec(PER_MINUTE(3)), FOO));
    gwf_test_result *res;

    for (int i = 0; i < 3; i++) {
        res = run_api(h, "/", NULL);
        assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
        gwf_test_result_free(res);
    }
    res = run_api(h, "/", NULL);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
    assert_int_equal(gwf_test_status(res), 429);
    assert_string_equal(gwf_test_reply_details(res), "rate_limited");
    /* T0 is on a minute boundary: the window ends in 60 s. */
    assert_string_equal(gwf_test_header(res, "retry-after", 0), "60");
    assert_null(gwf_test_header(res, "x-ratelimit-limit", 0));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_key_is_byte_identical_to_envoy_ratelimit(void **state)
{
    (void)state;
    /* envoyproxy/ratelimit: prefix + domain + "_" + (key "_" value "_")*
     * + window start in Unix seconds. 13:37:42 falls in the hour window
     * starting at T0 + 13 h. */
    const char *s = "{redis: {address: \"127.0.0.1:%d\", keyPrefix: \"rl:\"},"
                    " domain: shop, descriptors: [{key: generic_key, value: "
                    "foo, descriptors: [{key: user, rate_limit: {unit: hour, "
                    "requests_per_unit: 5}}]}]}";
    char text[512];
    const char *descs = "[{entries: [{type: Generic, generic: {key: "
                        "generic_key, value: foo}}, {type: Header, header: "
                        "user}]}]";
    snprintf(text, sizeof(text), s, redis.port);
    gwf_test_host *h = host_with(global_manifests(text, descs));
    gwf_test_set_now(h, (T0 + 13 * 3600 + 37 * 60 + 42) * NS);

    assert_int_equal(status_of(h, "/", "user: alice"), 200);
    redisContext *c = redis_peer_client(&redis, NULL, NULL);
    redisReply *keys = redisCommand(c, "KEYS *");
    assert_non_null(keys);
    assert_int_equal(keys->elements, 1);
    assert_string_equal(keys->element[0]->str,
                        "rl:shop_generic_key_foo_user_alice_1767272400");
    freeReplyObject(keys);
    assert_int_equal(
        redis_int(c, "GET rl:shop_generic_key_foo_user_alice_1767272400"), 1);
    long long ttl =
        redis_int(c, "TTL rl:shop_generic_key_foo_user_alice_1767272400");
    assert_true(ttl > 3590 && ttl <= 3600); /* EXPIRE key <unit seconds> */
    redisFree(c);
    gwf_test_host_free(h);
}

/* A worker keeps the digits of the last few window starts; keys of more
 * windows than that, and of a window it no longer keeps, still name
 * their own window. */
static void
test_keys_name_their_window_past_the_windows_a_worker_keeps(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(global_manifests(spec(PER_MINUTE(5)), FOO));
    redisContext *c = redis_peer_client(&redis, NULL, NULL);

    for (long long w = 0; w < 6; w++) {
        gwf_test_set_now(h, (T0 + 60 * w + 30) * NS);
        assert_int_equal(status_of(h, "/", NULL), 200);
    }
    gwf_test_set_now(h, (T0 + 60 + 5) * NS); /* window 1 again */
    assert_int_equal(status_of(h, "/", NULL), 200);
    gwf_test_set_now(h, (T0 + 5 * 60 + 59) * NS); /* window 5 again */
    assert_int_equal(status_of(h, "/", NULL), 200);
    for (long long w = 0; w < 6; w++)
        assert_int_equal(redis_int(c, "GET shop_generic_key_foo_%lld",
                                   (long long)T0 + 60 * w),
                         w == 1 || w == 5 ? 2 : 1);
    redisFree(c);
    gwf_test_host_free(h);
}

/* A header the host could not read (out of memory) is not an absent one:
 * skipping its descriptor would stop limiting whenever the host is under
 * pressure. The fail mode decides, as for Redis failing: refused with
 * the failure status, or let through with failOpen; Redis is not asked. */
static gwf_test_result *
run_with_failing_header(gwf_test_host *h)
{
    const gwf_test_route route = {.policy = "default/api"};
    gwf_test_request *req = gwf_test_request_new("GET", "/");
    gwf_test_result *res;

    assert_non_null(req);
    gwf_test_request_header(req, "user", "alice");
    gwf_test_request_header_fails(req, "user");
    res = gwf_test_run(h, &route, req);
    gwf_test_request_free(req);
    assert_non_null(res);
    return res;
}

#define PER_USER                                                               \
    "descriptors: [{key: user, rate_limit: {unit: minute, "                    \
    "requests_per_unit: 5}}]"
#define USER "[{entries: [{type: Header, header: user}]}]"

static void
test_header_the_host_cannot_read_takes_the_fail_mode(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(
        global_manifests(spec(PER_USER ", failureStatus: 503"), USER));
    gwf_test_result *res = run_with_failing_header(h);

    assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
    assert_int_equal(gwf_test_status(res), 503);
    assert_string_equal(gwf_test_reply_details(res), "rate_limit_error");
    gwf_test_result_free(res);
    assert_true(gwf_test_log_contains(h, "could not give a descriptor"));
    gwf_test_host_free(h);

    h = host_with(global_manifests(spec(PER_USER ", failOpen: true"), USER));
    res = run_with_failing_header(h);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
    assert_false(redis_exists(&redis, "shop_user_alice_1767225600"));
    /* The same header read: limited in Redis as usual. */
    h = host_with(global_manifests(spec(PER_USER), USER));
    assert_int_equal(status_of(h, "/", "user: alice"), 200);
    assert_true(redis_exists(&redis, "shop_user_alice_1767225600"));
    gwf_test_host_free(h);
}

static void
test_count_is_shared_with_another_client_of_the_same_key(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(global_manifests(spec(PER_MINUTE(5)), FOO));
    redisContext *c = redis_peer_client(&redis, NULL, NULL);

    /* Another data plane (or envoyproxy/ratelimit) already counted 5. */
    redis_int(c, "INCRBY shop_generic_key_foo_%lld 5", (long long)T0);
    assert_int_equal(status_of(h, "/", NULL), 429);
    assert_int_equal(
        redis_int(c, "GET shop_generic_key_foo_%lld", (long long)T0), 6);
    redisFree(c);
    gwf_test_host_free(h);
}

static void
test_new_window_starts_a_new_count(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(global_manifests(spec(PER_MINUTE(2)), FOO));

    gwf_test_set_now(h, (T0 + 59) * NS); /* last second of the window */
    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(status_of(h, "/", NULL), 429);
    gwf_test_advance(h, 1 * NS); /* T0 + 60: the next window */
    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(status_of(h, "/", NULL), 429);
    assert_true(redis_exists(&redis, "shop_generic_key_foo_1767225600"));
    assert_true(redis_exists(&redis, "shop_generic_key_foo_1767225660"));
    gwf_test_host_free(h);
}

static void
test_retry_after_counts_down_to_the_window_end(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(global_manifests(spec(PER_MINUTE(0)), FOO));
    gwf_test_result *res;

    gwf_test_set_now(h, (T0 + 45) * NS);
    res = run_api(h, "/", NULL);
    assert_int_equal(gwf_test_status(res), 429);
    assert_string_equal(gwf_test_header(res, "retry-after", 0), "15");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_concurrent_requests_are_counted_exactly(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(global_manifests(spec(PER_MINUTE(10)), FOO));
    gwf_test_result *res[25];
    int forwarded = 0, limited = 0;

    /* All 25 are in flight together: their commands share the worker's
     * connection, pipelined; Redis counts each exactly once. */
    for (int i = 0; i < 25; i++)
        res[i] = start_api(h, "/", NULL, 0);
    for (int i = 0; i < 25; i++) {
        assert_true(gwf_test_wait(h, res[i], 5000));
        if (gwf_test_outcome(res[i]) == GWF_TEST_FORWARDED)
            forwarded++;
        else if (gwf_test_status(res[i]) == 429)
            limited++;
        gwf_test_result_free(res[i]);
    }
    assert_int_equal(forwarded, 10);
    assert_int_equal(limited, 15);
    gwf_test_host_free(h);
}

/* -- Descriptors ----------------------------------------------------------- */

static void
test_nested_descriptor_limits_each_value_separately(void **state)
{
    (void)state;
    const char *limits =
        "descriptors: [{key: tenant, descriptors: [{key: user, rate_limit: "
        "{unit: minute, requests_per_unit: 1}}]}]";
    const char *descs = "[{entries: [{type: Header, header: tenant}, "
                        "{type: Header, header: user}]}]";
    gwf_test_host *h = host_with(global_manifests(spec(limits), descs));
    gwf_test_request *req;
    gwf_test_result *res;
    const gwf_test_route route = {.policy = "default/api"};
    const char *users[] = {"a", "b", "a"};
    const int want[] = {200, 200, 429};

    for (int i = 0; i < 3; i++) {
        req = gwf_test_request_new("GET", "/");
        gwf_test_request_header(req, "tenant", "t1");
        gwf_test_request_header(req, "user", users[i]);
        res = gwf_test_run(h, &route, req);
        assert_non_null(res);
        assert_int_equal(gwf_test_status(res), want[i]);
        gwf_test_result_free(res);
        gwf_test_request_free(req);
    }
    gwf_test_host_free(h);
}

static void
test_wildcard_value_matches_by_prefix(void **state)
{
    (void)state;
    const char *limits =
        "descriptors: [{key: path, value: \"/api/*\", rate_limit: {unit: "
        "minute, requests_per_unit: 1}}]";
    const char *descs = "[{entries: [{type: Path}]}]";
    gwf_test_host *h = host_with(global_manifests(spec(limits), descs));

    assert_int_equal(status_of(h, "/api/a", NULL), 200);
    assert_int_equal(status_of(h, "/api/a", NULL), 429);
    /* Each value is its own key, as in envoyproxy/ratelimit. */
    assert_int_equal(status_of(h, "/api/b", NULL), 200);
    /* Not under the prefix: no limit at all. */
    assert_int_equal(status_of(h, "/other", NULL), 200);
    assert_int_equal(status_of(h, "/other", NULL), 200);
    assert_false(redis_exists(&redis, "shop_path_/other_1767225600"));
    assert_true(redis_exists(&redis, "shop_path_/api/a_1767225600"));
    gwf_test_host_free(h);
}

static void
test_exact_value_wins_over_key_only(void **state)
{
    (void)state;
    const char *limits =
        "descriptors: [{key: user, rate_limit: {unit: minute, "
        "requests_per_unit: 1}}, {key: user, value: vip, rate_limit: {unit: "
        "minute, requests_per_unit: 3}}]";
    const char *descs = "[{entries: [{type: Header, header: user}]}]";
    gwf_test_host *h = host_with(global_manifests(spec(limits), descs));

    assert_int_equal(status_of(h, "/", "user: vip"), 200);
    assert_int_equal(status_of(h, "/", "user: vip"), 200);
    assert_int_equal(status_of(h, "/", "user: vip"), 200);
    assert_int_equal(status_of(h, "/", "user: vip"), 429);
    assert_int_equal(status_of(h, "/", "user: joe"), 200);
    assert_int_equal(status_of(h, "/", "user: joe"), 429);
    gwf_test_host_free(h);
}

static void
test_unlimited_descriptor_never_touches_redis(void **state)
{
    (void)state;
    const char *limits =
        "descriptors: [{key: generic_key, value: foo, rate_limit: "
        "{unlimited: true}}]";
    gwf_test_host *h = host_with(global_manifests(spec(limits), FOO));

    for (int i = 0; i < 5; i++)
        assert_int_equal(status_of(h, "/", NULL), 200);
    assert_false(redis_exists(&redis, "shop_generic_key_foo_1767225600"));
    gwf_test_host_free(h);
}

static void
test_missing_header_skips_the_descriptor(void **state)
{
    (void)state;
    const char *limits = "descriptors: [{key: user, rate_limit: {unit: "
                         "minute, requests_per_unit: 0}}]";
    const char *descs = "[{entries: [{type: Header, header: user}]}]";
    gwf_test_host *h = host_with(global_manifests(spec(limits), descs));

    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(status_of(h, "/", "user: x"), 429);
    gwf_test_host_free(h);
}

/* A request without the header is still limited by its route's other
 * descriptors, with failOpen too: an absent source is "this descriptor
 * does not apply" (as in Envoy), never a failure for failOpen to waive. */
static void
test_missing_header_with_fail_open_leaves_other_descriptors_limited(
    void **state)
{
    (void)state;
    const char *limits =
        "failOpen: true, descriptors: [{key: user, rate_limit: {unit: minute, "
        "requests_per_unit: 5}}, {key: generic_key, value: foo, rate_limit: "
        "{unit: minute, requests_per_unit: 1}}]";
    const char *descs = "[{entries: [{type: Header, header: user}]}, "
                        "{entries: [{type: Generic, generic: {key: "
                        "generic_key, value: foo}}]}]";
    gwf_test_host *h = host_with(global_manifests(spec(limits), descs));
    redisContext *c;

    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(status_of(h, "/", NULL), 429);
    c = redis_peer_client(&redis, NULL, NULL);
    assert_int_equal(redis_int(c, "GET shop_generic_key_foo_1767225600"), 2);
    redisFree(c);
    assert_false(gwf_test_log_contains(h, "rate_limit: Redis"));
    gwf_test_host_free(h);
}

/* Whatever a client puts in a header (control bytes, 8-bit bytes, the
 * separator '_', 4 KiB of it) is the descriptor value byte for byte, as
 * envoyproxy/ratelimit keys it: Redis keys are binary-safe, so no value
 * is an error, and none can make the check fail (or failOpen skip it). */
static void
test_header_value_of_any_bytes_is_counted_byte_for_byte(void **state)
{
    (void)state;
    const char *limits = "descriptors: [{key: user, rate_limit: {unit: "
                         "minute, requests_per_unit: 1}}]";
    const char *descs = "[{entries: [{type: Header, header: user}]}]";
    gwf_test_host *h = host_with(global_manifests(spec(limits), descs));
    char header[4200], key[4300];
    redisContext *c;
    size_t n;

    n = (size_t)snprintf(header, sizeof(header), "user: a_b\x01\x7f\xff\"%%");
    memset(header + n, 'x', 4096);
    header[n + 4096] = 0;
    n = (size_t)snprintf(key, sizeof(key), "shop_user_%s_1767225600",
                         header + strlen("user: "));
    assert_int_equal(status_of(h, "/", header), 200);
    assert_int_equal(status_of(h, "/", header), 429);
    c = redis_peer_client(&redis, NULL, NULL);
    redisReply *r = redisCommand(c, "GET %b", key, n);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, "2");
    freeReplyObject(r);
    redisFree(c);
    gwf_test_host_free(h);
}

static void
test_remote_address_is_a_descriptor_value(void **state)
{
    (void)state;
    const char *limits = "descriptors: [{key: remote_address, rate_limit: "
                         "{unit: second, requests_per_unit: 1}}]";
    const char *descs = "[{entries: [{type: RemoteAddress}]}]";
    gwf_test_host *h = host_with(global_manifests(spec(limits), descs));
    const gwf_test_route route = {.policy = "default/api"};
    gwf_test_request *req = gwf_test_request_new("GET", "/");
    gwf_test_result *res;

    gwf_test_request_remote(req, "192.0.2.7");
    res = gwf_test_run(h, &route, req);
    assert_int_equal(gwf_test_status(res), 200);
    gwf_test_result_free(res);
    res = gwf_test_run(h, &route, req);
    assert_int_equal(gwf_test_status(res), 429);
    assert_string_equal(gwf_test_header(res, "retry-after", 0), "1");
    gwf_test_result_free(res);
    gwf_test_request_free(req);
    assert_true(
        redis_exists(&redis, "shop_remote_address_192.0.2.7_1767225600"));
    gwf_test_host_free(h);
}

static void
test_shadow_mode_counts_but_never_blocks(void **state)
{
    (void)state;
    const char *limits =
        "descriptors: [{key: generic_key, value: foo, shadow_mode: true, "
        "rate_limit: {unit: minute, requests_per_unit: 1}}]";
    gwf_test_host *h = host_with(global_manifests(spec(limits), FOO));
    redisContext *c;

    for (int i = 0; i < 4; i++)
        assert_int_equal(status_of(h, "/", NULL), 200);
    c = redis_peer_client(&redis, NULL, NULL);
    assert_int_equal(redis_int(c, "GET shop_generic_key_foo_1767225600"), 4);
    redisFree(c);
    assert_true(
        gwf_test_metric(h, "gwf_rate_limit_decisions_total{instance=\"default/"
                           "rl\",descriptor=\"generic_key_foo\",outcome=\""
                           "shadow_mode\"}") == 3);
    gwf_test_host_free(h);
}

static void
test_most_restrictive_descriptor_decides(void **state)
{
    (void)state;
    const char *limits =
        "descriptors: [{key: a, rate_limit: {unit: minute, "
        "requests_per_unit: 5}}, {key: b, rate_limit: {unit: hour, "
        "requests_per_unit: 1}}]";
    const char *descs =
        "[{entries: [{type: Generic, generic: {key: a, value: x}}]}, "
        "{entries: [{type: Generic, generic: {key: b, value: y}}]}]";
    gwf_test_host *h = host_with(global_manifests(spec(limits), descs));
    gwf_test_result *res;

    assert_int_equal(status_of(h, "/", NULL), 200);
    res = run_api(h, "/", NULL);
    assert_int_equal(gwf_test_status(res), 429);
    assert_string_equal(gwf_test_header(res, "retry-after", 0), "3600");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* -- Headers ------------------------------------------------------------------
 */

static void
test_draft03_headers_on_allowed_response(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(global_manifests(
        spec("xRateLimitHeaders: DraftVersion03, " PER_MINUTE(10)), FOO));
    gwf_test_result *res;

    gwf_test_set_now(h, (T0 + 20) * NS);
    res = run_api(h, "/", NULL);
    assert_int_equal(gwf_test_status(res), 200);
    assert_string_equal(gwf_test_header(res, "x-ratelimit-limit", 0),
                        "10, 10;w=60");
    assert_string_equal(gwf_test_header(res, "x-ratelimit-remaining", 0), "9");
    assert_string_equal(gwf_test_header(res, "x-ratelimit-reset", 0), "40");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_draft03_headers_on_429(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(global_manifests(
        spec("xRateLimitHeaders: DraftVersion03, " PER_MINUTE(1)), FOO));
    gwf_test_result *res;

    assert_int_equal(status_of(h, "/", NULL), 200);
    res = run_api(h, "/", NULL);
    assert_int_equal(gwf_test_status(res), 429);
    assert_string_equal(gwf_test_header(res, "x-ratelimit-limit", 0),
                        "1, 1;w=60");
    assert_string_equal(gwf_test_header(res, "x-ratelimit-remaining", 0), "0");
    assert_string_equal(gwf_test_header(res, "x-ratelimit-reset", 0), "60");
    assert_string_equal(gwf_test_header(res, "retry-after", 0), "60");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* -- Over-limit cache -------------------------------------------------------
 */

static void
test_over_limit_key_is_answered_without_redis(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(global_manifests(spec(PER_MINUTE(1)), FOO));
    redisContext *c;

    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(status_of(h, "/", NULL), 429);
    c = redis_peer_client(&redis, NULL, NULL);
    assert_int_equal(redis_int(c, "GET shop_generic_key_foo_1767225600"), 2);
    for (int i = 0; i < 5; i++)
        assert_int_equal(status_of(h, "/", NULL), 429);
    /* Zero Redis traffic: the counter did not move. */
    assert_int_equal(redis_int(c, "GET shop_generic_key_foo_1767225600"), 2);
    redisFree(c);
    gwf_test_host_free(h);
}

static void
test_over_limit_cache_ends_with_the_window(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(global_manifests(spec(PER_MINUTE(1)), FOO));

    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(status_of(h, "/", NULL), 429);
    gwf_test_advance(h, 60 * NS);
    assert_int_equal(status_of(h, "/", NULL), 200);
    gwf_test_host_free(h);
}

/* The answer from the cache is the one Redis's verdict gave: the same
 * retry-after and x-ratelimit-* values, a second later. */
static void
test_draft03_headers_on_a_429_from_the_cache(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(global_manifests(
        spec("xRateLimitHeaders: DraftVersion03, " PER_MINUTE(1)), FOO));
    gwf_test_result *res;

    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(status_of(h, "/", NULL), 429);
    gwf_test_advance(h, NS);
    res = run_api(h, "/", NULL);
    assert_int_equal(gwf_test_status(res), 429);
    assert_string_equal(gwf_test_reply_details(res), "rate_limited");
    assert_string_equal(gwf_test_header(res, "retry-after", 0), "59");
    assert_string_equal(gwf_test_header(res, "x-ratelimit-limit", 0),
                        "1, 1;w=60");
    assert_string_equal(gwf_test_header(res, "x-ratelimit-remaining", 0), "0");
    assert_string_equal(gwf_test_header(res, "x-ratelimit-reset", 0), "59");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* A request on a route whose every descriptor is Generic and remembered
 * over its limit is answered before the stream, as the stream would
 * answer it: 429, retry-after to the window's end, nothing else. */
static void
test_a_429_from_the_cache_needs_no_stream(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(global_manifests(spec(PER_MINUTE(1)), FOO));
    gwf_test_result *res;
    size_t len = 1;

    assert_int_equal(status_of(h, "/", NULL), 200);
    res = run_api(h, "/", NULL);
    assert_int_equal(gwf_test_status(res), 429);
    assert_true(gwf_test_had_stream(res)); /* Redis's verdict */
    gwf_test_result_free(res);
    gwf_test_advance(h, NS);
    res = run_api(h, "/", NULL);
    assert_int_equal(gwf_test_status(res), 429);
    assert_false(gwf_test_had_stream(res));
    assert_string_equal(gwf_test_reply_details(res), "rate_limited");
    assert_string_equal(gwf_test_header(res, "retry-after", 0), "59");
    assert_null(gwf_test_header(res, "retry-after", 1));
    assert_null(gwf_test_header(res, "x-ratelimit-remaining", 0));
    gwf_test_body(res, &len);
    assert_int_equal(len, 0);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* A host that could not prepare the 429s: the same answers through
 * send_local_reply, from Redis's verdict and from the cache. */
static void
test_a_429_without_prepared_replies_is_the_same(void **state)
{
    (void)state;
    gwf_test_host *h = gwf_test_host_new();
    gwf_test_result *res;
    size_t len = 1;

    assert_non_null(h);
    gwf_test_host_reply_prepare_fails(h, 1);
    if (gwf_test_load_text(h, global_manifests(spec(PER_MINUTE(1)), FOO)))
        fail_msg("load: %s", gwf_test_error(h));
    assert_int_equal(status_of(h, "/", NULL), 200);
    for (int i = 0; i < 2; i++) {
        res = run_api(h, "/", NULL);
        assert_int_equal(gwf_test_status(res), 429);
        assert_true(gwf_test_had_stream(res) == (i == 0));
        assert_string_equal(gwf_test_reply_details(res), "rate_limited");
        assert_string_equal(gwf_test_header(res, "retry-after", 0),
                            i == 0 ? "60" : "59");
        assert_null(gwf_test_header(res, "retry-after", 1));
        gwf_test_body(res, &len);
        assert_int_equal(len, 0);
        gwf_test_result_free(res);
        gwf_test_advance(h, NS);
    }
    gwf_test_host_free(h);
}

/* Two Generic descriptors over their limits: the 429 from the cache
 * waits for the later of the two windows, and each is counted. */
static void
test_two_generic_keys_from_the_cache_wait_for_the_later_window(void **state)
{
    (void)state;
    const char *limits =
        "descriptors: [{key: generic_key, value: foo, rate_limit: {unit: "
        "minute, requests_per_unit: 1}}, {key: generic_key, value: bar, "
        "rate_limit: {unit: hour, requests_per_unit: 1}}]";
    const char *descs =
        "[{entries: [{type: Generic, generic: {key: generic_key, value: "
        "foo}}]}, {entries: [{type: Generic, generic: {key: generic_key, "
        "value: bar}}]}]";
    gwf_test_host *h = host_with(global_manifests(spec(limits), descs));
    const char *base = "gwf_rate_limit_decisions_total{instance=\"default/"
                       "rl\",descriptor=\"generic_key_%s\",outcome=\""
                       "over_limit\"}";
    char series[256];
    gwf_test_result *res;

    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(status_of(h, "/", NULL), 429);
    gwf_test_advance(h, 2 * NS);
    res = run_api(h, "/", NULL);
    assert_int_equal(gwf_test_status(res), 429);
    assert_false(gwf_test_had_stream(res));
    assert_string_equal(gwf_test_header(res, "retry-after", 0), "3598");
    gwf_test_result_free(res);
    snprintf(series, sizeof(series), base, "foo");
    assert_true(gwf_test_metric(h, series) == 2);
    snprintf(series, sizeof(series), base, "bar");
    assert_true(gwf_test_metric(h, series) == 2);
    /* Past the minute only bar is still over: Redis counts foo again. */
    gwf_test_advance(h, 60 * NS);
    res = run_api(h, "/", NULL);
    assert_int_equal(gwf_test_status(res), 429);
    assert_true(gwf_test_had_stream(res));
    assert_string_equal(gwf_test_header(res, "retry-after", 0), "3538");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* A request whose one key is cached over its limit still counts its
 * other keys in Redis, as Envoy counts every descriptor of a request:
 * only a request whose every key is cached is answered without Redis. */
static void
test_a_cached_key_does_not_stop_counting_the_others(void **state)
{
    (void)state;
    const char *limits =
        "descriptors: [{key: generic_key, value: foo, rate_limit: {unit: "
        "minute, requests_per_unit: 1}}, {key: user, rate_limit: {unit: "
        "minute, requests_per_unit: 100}}]";
    const char *descs =
        "[{entries: [{type: Generic, generic: {key: generic_key, value: "
        "foo}}]}, {entries: [{type: Header, header: user}]}]";
    gwf_test_host *h = host_with(global_manifests(spec(limits), descs));
    redisContext *c;

    assert_int_equal(status_of(h, "/", "user: ann"), 200);
    for (int i = 0; i < 4; i++)
        assert_int_equal(status_of(h, "/", "user: ann"), 429);
    c = redis_peer_client(&redis, NULL, NULL);
    /* foo went to Redis twice (the 200, then the 429 that cached it);
     * ann on every request. */
    assert_int_equal(redis_int(c, "GET shop_generic_key_foo_1767225600"), 2);
    assert_int_equal(redis_int(c, "GET shop_user_ann_1767225600"), 5);
    redisFree(c);
    gwf_test_host_free(h);
}

/* A generic descriptor's verdict is remembered per route descriptor:
 * another route's generic descriptor, with its own limit, is not
 * refused by it. */
static void
test_a_generic_key_over_its_limit_refuses_its_own_route_only(void **state)
{
    (void)state;
    char text[16384];
    const char *limits =
        "descriptors: [{key: generic_key, value: foo, rate_limit: {unit: "
        "minute, requests_per_unit: 1}}, {key: generic_key, value: bar, "
        "rate_limit: {unit: minute, requests_per_unit: 100}}]";
    snprintf(text, sizeof(text),
             "%s---\n"
             "apiVersion: gateway.kgateway.dev/v1alpha1\n"
             "kind: TrafficPolicy\n"
             "metadata: {name: other, namespace: default}\n"
             "spec:\n"
             "  rateLimit:\n"
             "    global:\n"
             "      extensionRef: {name: rl}\n"
             "      descriptors: [{entries: [{type: Generic, generic: "
             "{key: generic_key, value: bar}}]}]\n",
             global_manifests(spec(limits), FOO));
    gwf_test_host *h = host_with(text);
    const gwf_test_route other = {.policy = "default/other"};

    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(status_of(h, "/", NULL), 429);
    assert_int_equal(status_of(h, "/", NULL), 429);
    for (int i = 0; i < 3; i++) {
        gwf_test_request *req = gwf_test_request_new("GET", "/");
        gwf_test_result *res = gwf_test_run(h, &other, req);
        assert_non_null(res);
        assert_int_equal(gwf_test_status(res), 200);
        gwf_test_result_free(res);
        gwf_test_request_free(req);
    }
    gwf_test_host_free(h);
}

static void
test_over_limit_cache_can_be_turned_off(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(
        global_manifests(spec("overLimitCache: false, " PER_MINUTE(1)), FOO));
    redisContext *c;

    for (int i = 0; i < 4; i++)
        status_of(h, "/", NULL);
    c = redis_peer_client(&redis, NULL, NULL);
    assert_int_equal(redis_int(c, "GET shop_generic_key_foo_1767225600"), 4);
    redisFree(c);
    gwf_test_host_free(h);
}

/* -- Metrics ------------------------------------------------------------------
 */

static void
test_metrics_count_each_outcome_per_descriptor(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(global_manifests(spec(PER_MINUTE(5)), FOO));
    const char *base = "gwf_rate_limit_decisions_total{instance=\"default/"
                       "rl\",descriptor=\"generic_key_foo\",outcome=\"%s\"}";
    char series[256];

    for (int i = 0; i < 7; i++)
        status_of(h, "/", NULL);
    /* 1-4 allowed, 5 is past 0.8 * 5: near limit, 6 and 7 over. */
    snprintf(series, sizeof(series), base, "allowed");
    assert_true(gwf_test_metric(h, series) == 4);
    snprintf(series, sizeof(series), base, "near_limit");
    assert_true(gwf_test_metric(h, series) == 1);
    snprintf(series, sizeof(series), base, "over_limit");
    assert_true(gwf_test_metric(h, series) == 2);
    /* One reply observed per decision Redis answered: the 7th came from
     * the over-limit cache. */
    assert_true(gwf_test_metric(h, "gwf_rate_limit_redis_latency_seconds_count"
                                   "{instance=\"default/rl\"}") == 6);
    gwf_test_host_free(h);
}

/* -- Limits from envoyproxy/ratelimit's own file ----------------------------
 */

static void
write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* The folder of the test below, removed by its teardown whether the test
 * passed or not. */
static char file_dir[64];

static int
remove_file_dir(void **state)
{
    static const char *const names[] = {"config.yaml", "gw.yaml"};
    char path[128];

    (void)state;
    if (!file_dir[0])
        return 0;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", file_dir, names[i]);
        unlink(path);
    }
    rmdir(file_dir);
    file_dir[0] = 0;
    return 0;
}

static void
test_ratelimit_config_file_works_as_is(void **state)
{
    (void)state;
    char path[128], manifest[256];
    gwf_test_host *h;

    snprintf(file_dir, sizeof(file_dir), "/tmp/gwf-rl-file-XXXXXX");
    assert_non_null(mkdtemp(file_dir));
    snprintf(path, sizeof(path), "%s/config.yaml", file_dir);
    /* A config envoyproxy/ratelimit reads from its runtime directory. */
    write_file(path, "domain: shop\n"
                     "descriptors:\n"
                     "  - key: generic_key\n"
                     "    value: foo\n"
                     "    rate_limit:\n"
                     "      unit: minute\n"
                     "      requests_per_unit: 2\n"
                     "  - key: remote_address\n"
                     "    rate_limit:\n"
                     "      unit: second\n"
                     "      requests_per_unit: 10\n");
    /* A literal address: what a name resolves to is test_addresses.c's
     * subject, not this test's. */
    snprintf(manifest, sizeof(manifest),
             "{redis: {address: \"127.0.0.1:%d\"}, descriptorsFile: "
             "config.yaml}",
             redis.port);
    snprintf(path, sizeof(path), "%s/gw.yaml", file_dir);
    write_file(path, global_manifests(manifest, FOO));
    h = gwf_test_host_new();
    if (gwf_test_load_path(h, path) != 0)
        fail_msg("%s", gwf_test_error(h));
    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(status_of(h, "/", NULL), 429);
    gwf_test_host_free(h);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup(f, flush)
        T(test_requests_up_to_the_limit_pass_and_the_next_gets_429),
        T(test_key_is_byte_identical_to_envoy_ratelimit),
        T(test_count_is_shared_with_another_client_of_the_same_key),
        T(test_new_window_starts_a_new_count),
        T(test_header_the_host_cannot_read_takes_the_fail_mode),
        T(test_keys_name_their_window_past_the_windows_a_worker_keeps),
        T(test_concurrent_requests_are_counted_exactly),
        T(test_retry_after_counts_down_to_the_window_end),
        T(test_nested_descriptor_limits_each_value_separately),
        T(test_wildcard_value_matches_by_prefix),
        T(test_exact_value_wins_over_key_only),
        T(test_unlimited_descriptor_never_touches_redis),
        T(test_missing_header_skips_the_descriptor),
        T(test_missing_header_with_fail_open_leaves_other_descriptors_limited),
        T(test_header_value_of_any_bytes_is_counted_byte_for_byte),
        T(test_remote_address_is_a_descriptor_value),
        T(test_shadow_mode_counts_but_never_blocks),
        T(test_most_restrictive_descriptor_decides),
        T(test_draft03_headers_on_allowed_response),
        T(test_draft03_headers_on_429),
        T(test_over_limit_key_is_answered_without_redis),
        T(test_over_limit_cache_ends_with_the_window),
        T(test_draft03_headers_on_a_429_from_the_cache),
        T(test_a_429_from_the_cache_needs_no_stream),
        T(test_a_429_without_prepared_replies_is_the_same),
        T(test_two_generic_keys_from_the_cache_wait_for_the_later_window),
        T(test_a_cached_key_does_not_stop_counting_the_others),
        T(test_a_generic_key_over_its_limit_refuses_its_own_route_only),
        T(test_over_limit_cache_can_be_turned_off),
        T(test_metrics_count_each_outcome_per_descriptor),
        cmocka_unit_test_setup_teardown(test_ratelimit_config_file_works_as_is,
                                        flush, remove_file_dir),
#undef T
    };
    return cmocka_run_group_tests(tests, setup_redis, teardown_redis);
}
