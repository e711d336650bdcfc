/*
 * test_internal_errors.c - the plugin's own failures honour the fail
 * mode exactly as Redis failing does: with failOpen false (the default) a
 * request the plugin could not check is refused with failureStatus, never
 * let through unchecked; with failOpen true it goes on.
 *
 * The failures are real: the plugin here is a test copy whose every
 * allocation (its own and the SDK's) can be made to fail
 * (alloc_fail/alloc_plan.h). One test fails each allocation site we know
 * by name; two more fail every allocation a request makes, one at a time,
 * and check the invariant for each: refused with failureStatus, or
 * counted in Redis (an allocation whose failure costs nothing, such as a
 * log line, may fail without changing the outcome).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc_fail/alloc_plan.h"
#include "support.h"

rl_alloc_plan rl_alloc_plan_now;

static redis_peer redis;

#define FOO                                                                    \
    "[{entries: [{type: Generic, generic: {key: generic_key, value: foo}}]}]"
#define FIXED_KEY "shop_generic_key_foo_1767225600"
#define ROLLING_KEY "shop_generic_key_foo_rolling60"

/* spec.rateLimit on our Redis: 1000 a minute, failureStatus 503 (the
 * host's own 500 is then told apart), and `rest`. */
static const char *
spec(const char *rest)
{
    static char text[1024];
    snprintf(text, sizeof(text),
             "{redis: {address: \"127.0.0.1:%d\"}, domain: shop, "
             "failureStatus: 503, descriptors: [{key: generic_key, value: "
             "foo, rate_limit: {unit: minute, requests_per_unit: 1000}}]%s%s}",
             redis.port, *rest ? ", " : "", rest);
    return text;
}

static void
arm(unsigned kinds, long fail_at)
{
    rl_alloc_plan_now = (rl_alloc_plan){.kinds = kinds, .fail_at = fail_at};
}

static void
disarm(void)
{
    rl_alloc_plan_now.kinds = 0;
}

/* The count in Redis: the fixed window's INCRBY, or for Rolling the
 * script's theoretical arrival time (it moves on each counted request). */
static long long
redis_count(const char *key)
{
    redisContext *c = redis_peer_client(&redis, NULL, NULL);
    long long n = redis_int(c, "GET %s", key);

    redisFree(c);
    return n;
}

/* A host with configs made and one request through: the worker is
 * started and connected, so the next request allocates only for itself. */
static gwf_test_host *
warm_host(const char *rest)
{
    gwf_test_host *h = host_with(global_manifests(spec(rest), FOO));

    assert_int_equal(gwf_test_validate(h), 0);
    assert_int_equal(status_of(h, "/", NULL), 200);
    return h;
}

/* One request with call `fail_at` of `kinds` failing. */
static int
status_failing(gwf_test_host *h, unsigned kinds, long fail_at)
{
    int status;

    arm(kinds, fail_at);
    status = status_of(h, "/", NULL);
    disarm();
    assert_int_equal(rl_alloc_plan_now.failed, 1);
    return status;
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
    disarm();
    redis_flush(&redis);
    return 0;
}

/* -- Each known site ------------------------------------------------------ */

/* Per request on a warm worker: calloc 1 is the stream state, malloc 1
 * the decision (a request that waits for Redis). The keys go into the
 * worker's reused buffer and the Redis commands come from its pool: they
 * allocate only when those must grow - a key longer than any before
 * (realloc 1), more commands in flight than ever before (malloc 2). */

static void
test_no_memory_for_the_decision_answers_the_failure_status(void **state)
{
    (void)state;
    gwf_test_host *h = warm_host("");

    assert_int_equal(status_failing(h, RL_ALLOC_MALLOC, 1), 503);
    assert_true(gwf_test_log_contains(h, "out of memory for a decision"));
    assert_int_equal(redis_count(FIXED_KEY), 1); /* the warm-up only */
    gwf_test_host_free(h);
}

/* The key buffer grows for a key longer than any before it: a header
 * value of 4000 bytes after a short one. */
static void
test_no_memory_for_a_key_answers_the_failure_status(void **state)
{
    (void)state;
    char text[1024], header[4100];
    gwf_test_host *h;
    int status;

    snprintf(text, sizeof(text),
             "{redis: {address: \"127.0.0.1:%d\"}, domain: shop, "
             "failureStatus: 503, descriptors: [{key: user, rate_limit: "
             "{unit: minute, requests_per_unit: 1000}}]}",
             redis.port);
    h = host_with(global_manifests(text, "[{entries: [{type: Header, header: "
                                         "user}]}]"));
    assert_int_equal(status_of(h, "/", "user: a"), 200);
    snprintf(header, sizeof(header), "user: %04000d", 7);
    arm(RL_ALLOC_REALLOC, 1);
    status = status_of(h, "/", header);
    disarm();
    assert_int_equal(rl_alloc_plan_now.failed, 1);
    assert_int_equal(status, 503);
    assert_true(gwf_test_log_contains(h, "out of memory making a Redis key"));
    assert_int_equal(redis_count("shop_user_a_1767225600"), 1);
    assert_true(gwf_test_metric(h, "gwf_rate_limit_decisions_total{instance="
                                   "\"default/rl\",descriptor=\"user\","
                                   "outcome=\"error\"}") == 1);
    /* The next one has the memory: counted. */
    assert_int_equal(status_of(h, "/", header), 200);
    gwf_test_host_free(h);
}

/* The pool has as many commands as were ever in flight at once: one
 * after the warm-up. With that one in flight, a second request needs a
 * new command (malloc 2, after its decision). */
static void
test_no_memory_for_a_redis_command_answers_the_failure_status(void **state)
{
    (void)state;
    gwf_test_host *h = warm_host("");
    gwf_test_result *first = start_api(h, "/", NULL, 0);

    assert_int_equal(gwf_test_outcome(first), GWF_TEST_RUNNING);
    assert_int_equal(status_failing(h, RL_ALLOC_MALLOC, 2), 503);
    assert_int_equal(gwf_test_wait(h, first, 5000), 1);
    assert_int_equal(gwf_test_status(first), 200);
    gwf_test_result_free(first);
    assert_int_equal(redis_count(FIXED_KEY), 2); /* warm-up and first */
    gwf_test_host_free(h);
}

static void
test_no_memory_for_a_decision_with_fail_open_forwards(void **state)
{
    (void)state;
    gwf_test_host *h = warm_host("failOpen: true");

    assert_int_equal(status_failing(h, RL_ALLOC_MALLOC, 1), 200);
    assert_true(gwf_test_log_contains(h, "out of memory for a decision"));
    gwf_test_host_free(h);
}

/* The first request of a fresh host (its configs made, its route config
 * and worker not yet: the request makes them) with call `n` of `kinds`
 * failing. NULL when the host refused the request because the route
 * config (its "out of memory" reported through gwf_cfg) or the worker
 * could not be made: nothing was forwarded. */
static gwf_test_result *
first_request_failing(gwf_test_host *h, unsigned kinds, long n)
{
    const gwf_test_route route = {.policy = "default/api"};
    gwf_test_request *req = gwf_test_request_new("GET", "/");
    gwf_test_result *res;

    assert_non_null(req);
    assert_int_equal(gwf_test_validate(h), 0);
    arm(kinds, n);
    res = gwf_test_start(h, &route, req, 5000);
    disarm();
    gwf_test_request_free(req);
    if (!res) {
        if (!strstr(gwf_test_error(h), "route config") &&
            !strstr(gwf_test_error(h), "out of memory") &&
            !strstr(gwf_test_error(h), "worker_start failed"))
            fail_msg("start: %s", gwf_test_error(h));
    } else if (gwf_test_outcome(res) == GWF_TEST_RUNNING)
        fail_msg("request still paused after 5 s");
    return res;
}

/* -- Every allocation of a request, one at a time --------------------------
 */

/* Fail allocation 1, 2, ... of the first request of a fresh host (route
 * config, worker start, connection and decision all happen in it) until
 * a request makes no more; each must be refused or counted. */
static void
every_allocation_fails_closed_or_counts(const char *rest, const char *key)
{
    long injected = 0;

    for (long n = 1;; n++) {
        gwf_test_host *h = host_with(global_manifests(spec(rest), FOO));
        gwf_test_result *res;
        long long before;
        int status;

        redis_flush(&redis);
        before = redis_count(key);
        res = first_request_failing(h, RL_ALLOC_ANY, n);
        if (rl_alloc_plan_now.failed == 0) {
            /* Past the last allocation: the request as usual. */
            assert_non_null(res);
            assert_int_equal(gwf_test_status(res), 200);
            assert_true(redis_count(key) != before);
            gwf_test_result_free(res);
            gwf_test_host_free(h);
            break;
        }
        injected++;
        status = res ? gwf_test_status(res) : 0;
        if (status == 200) {
            if (redis_count(key) == before)
                fail_msg("allocation %ld failed and the request went through "
                         "unchecked",
                         n);
        } else if (res && status != 503) {
            /* Only the host's own answer when the stream state itself
             * cannot be made. */
            assert_int_equal(status, 500);
            assert_string_equal(gwf_test_reply_details(res),
                                "gwf_stream_create_failed");
        }
        gwf_test_result_free(res);
        gwf_test_host_free(h);
    }
    assert_true(injected >= 5);
}

static void
test_every_allocation_failure_fails_closed_fixed_window(void **state)
{
    (void)state;
    every_allocation_fails_closed_or_counts("", FIXED_KEY);
}

static void
test_every_allocation_failure_fails_closed_rolling(void **state)
{
    (void)state;
    every_allocation_fails_closed_or_counts("algorithm: Rolling", ROLLING_KEY);
}

static void
test_every_allocation_failure_with_fail_open_forwards(void **state)
{
    (void)state;

    for (long n = 1;; n++) {
        gwf_test_host *h =
            host_with(global_manifests(spec("failOpen: true"), FOO));
        gwf_test_result *res = first_request_failing(h, RL_ALLOC_ANY, n);

        if (res && gwf_test_status(res) != 200)
            assert_string_equal(gwf_test_reply_details(res),
                                "gwf_stream_create_failed");
        gwf_test_result_free(res);
        gwf_test_host_free(h);
        if (rl_alloc_plan_now.failed == 0)
            break;
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup(f, flush)
        T(test_no_memory_for_the_decision_answers_the_failure_status),
        T(test_no_memory_for_a_key_answers_the_failure_status),
        T(test_no_memory_for_a_redis_command_answers_the_failure_status),
        T(test_no_memory_for_a_decision_with_fail_open_forwards),
        T(test_every_allocation_failure_fails_closed_fixed_window),
        T(test_every_allocation_failure_fails_closed_rolling),
        T(test_every_allocation_failure_with_fail_open_forwards),
#undef T
    };
    return cmocka_run_group_tests(tests, setup_redis, teardown_redis);
}
