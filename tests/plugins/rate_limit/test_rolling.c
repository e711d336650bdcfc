/*
 * test_rolling.c - algorithm: Rolling (GCRA in a Lua script) against a
 * real redis-server: the burst, no double burst at window edges, the
 * steady rate after it, Retry-After, and the script called by EVALSHA,
 * loaded once, with NOSCRIPT (a flushed script cache) handled.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support.h"

static redis_peer redis;

#define FOO                                                                    \
    "[{entries: [{type: Generic, generic: {key: generic_key, value: foo}}]}]"

static const char *
rolling_spec(int per_minute)
{
    static char text[1024];
    snprintf(text, sizeof(text),
             "{redis: {address: \"127.0.0.1:%d\"}, domain: shop, algorithm: "
             "Rolling, descriptors: [{key: generic_key, value: foo, "
             "rate_limit: {unit: minute, requests_per_unit: %d}}]}",
             redis.port, per_minute);
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
    redisContext *c;
    redisReply *r;

    (void)state;
    redis_flush(&redis);
    c = redis_peer_client(&redis, NULL, NULL);
    r = redisCommand(c, "SCRIPT FLUSH");
    freeReplyObject(r);
    r = redisCommand(c, "CONFIG RESETSTAT");
    freeReplyObject(r);
    redisFree(c);
    return 0;
}

/* `calls` of one command from INFO commandstats (0 if never called). */
static long long
command_calls(const char *command)
{
    redisContext *c = redis_peer_client(&redis, NULL, NULL);
    redisReply *r = redisCommand(c, "INFO commandstats");
    char needle[64];
    long long calls = 0;
    const char *at;

    assert_non_null(r);
    snprintf(needle, sizeof(needle), "cmdstat_%s:calls=", command);
    at = strstr(r->str, needle);
    if (at)
        calls = strtoll(at + strlen(needle), NULL, 10);
    freeReplyObject(r);
    redisFree(c);
    return calls;
}

static void
test_rolling_allows_a_burst_of_the_limit_then_429(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(global_manifests(rolling_spec(3), FOO));

    for (int i = 0; i < 3; i++)
        assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(status_of(h, "/", NULL), 429);
    gwf_test_host_free(h);
}

static void
test_rolling_has_no_double_burst_at_window_edges(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(global_manifests(rolling_spec(10), FOO));

    gwf_test_set_now(h, (T0 + 59) * NS); /* the end of a minute */
    for (int i = 0; i < 10; i++)
        assert_int_equal(status_of(h, "/", NULL), 200);
    gwf_test_advance(h, 1 * NS); /* a fixed window would reset here */
    assert_int_equal(status_of(h, "/", NULL), 429);
    /* One request per 6 s comes back, not ten at once. */
    gwf_test_advance(h, 5 * NS);
    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(status_of(h, "/", NULL), 429);
    gwf_test_host_free(h);
}

static void
test_rolling_retry_after_is_the_wait_for_the_next_request(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(global_manifests(rolling_spec(2), FOO));
    gwf_test_result *res;

    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(status_of(h, "/", NULL), 200);
    gwf_test_advance(h, 10 * NS);
    res = run_api(h, "/", NULL);
    assert_int_equal(gwf_test_status(res), 429);
    assert_string_equal(gwf_test_header(res, "retry-after", 0), "20");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_rolling_key_expires_when_idle(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(global_manifests(rolling_spec(60), FOO));
    redisContext *c;
    long long pttl;

    assert_int_equal(status_of(h, "/", NULL), 200);
    c = redis_peer_client(&redis, NULL, NULL);
    pttl = redis_int(c, "PTTL shop_generic_key_foo_rolling60");
    assert_true(pttl > 0 && pttl <= 1000); /* one interval: 60 s / 60 */
    redisFree(c);
    gwf_test_host_free(h);
}

static void
test_rolling_script_is_loaded_once_and_called_by_evalsha(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(global_manifests(rolling_spec(100), FOO));

    for (int i = 0; i < 5; i++)
        assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(command_calls("evalsha"), 5);
    assert_int_equal(command_calls("eval"), 1); /* after the NOSCRIPT */
    gwf_test_host_free(h);
}

static void
test_rolling_survives_a_flushed_script_cache(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(global_manifests(rolling_spec(100), FOO));
    redisContext *c;
    redisReply *r;

    assert_int_equal(status_of(h, "/", NULL), 200);
    c = redis_peer_client(&redis, NULL, NULL);
    r = redisCommand(c, "SCRIPT FLUSH");
    freeReplyObject(r);
    redisFree(c);
    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(command_calls("eval"), 2);
    gwf_test_host_free(h);
}

static void
test_rolling_over_limit_is_cached_for_whole_seconds(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(global_manifests(rolling_spec(1), FOO));

    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(status_of(h, "/", NULL), 429);
    long long before = command_calls("evalsha");
    assert_int_equal(status_of(h, "/", NULL), 429);
    assert_int_equal(command_calls("evalsha"), before);
    gwf_test_advance(h, 60 * NS);
    assert_int_equal(status_of(h, "/", NULL), 200);
    gwf_test_host_free(h);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup(f, flush)
        T(test_rolling_allows_a_burst_of_the_limit_then_429),
        T(test_rolling_has_no_double_burst_at_window_edges),
        T(test_rolling_retry_after_is_the_wait_for_the_next_request),
        T(test_rolling_key_expires_when_idle),
        T(test_rolling_script_is_loaded_once_and_called_by_evalsha),
        T(test_rolling_survives_a_flushed_script_cache),
        T(test_rolling_over_limit_is_cached_for_whole_seconds),
#undef T
    };
    return cmocka_run_group_tests(tests, setup_redis, teardown_redis);
}
