/*
 * test_local_bucket.c - TrafficPolicy rateLimit.local.tokenBucket: one
 * bucket for the whole data plane, no Redis. Counting, refill by the
 * host's clock, Retry-After, and the bucket shared by a forked process
 * (as nginx workers share it: the mapping is made before fork).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <sys/wait.h>
#include <unistd.h>

#include "support.h"

#define MS INT64_C(1000000)

static const char *
local_policy(const char *bucket)
{
    static char text[2048];
    snprintf(text, sizeof(text),
             "apiVersion: gateway.kgateway.dev/v1alpha1\n"
             "kind: TrafficPolicy\n"
             "metadata: {name: api, namespace: default}\n"
             "spec:\n"
             "  rateLimit:\n"
             "    local:\n"
             "      tokenBucket: %s\n",
             bucket);
    return text;
}

static void
test_bucket_allows_max_tokens_then_429(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(
        local_policy("{maxTokens: 3, tokensPerFill: 1, fillInterval: 1s}"));
    gwf_test_result *res;
    size_t len;

    for (int i = 0; i < 3; i++)
        assert_int_equal(status_of(h, "/", NULL), 200);
    res = run_api(h, "/", NULL);
    assert_int_equal(gwf_test_status(res), 429);
    assert_string_equal(gwf_test_reply_details(res), "local_rate_limited");
    assert_string_equal(gwf_test_header(res, "retry-after", 0), "1");
    assert_string_equal(gwf_test_body(res, &len), "local_rate_limited");
    gwf_test_result_free(res);
    assert_true(gwf_test_metric(h,
                                "gwf_rate_limit_local_total{instance="
                                "\"default/api\",outcome=\"allowed\"}") == 3);
    gwf_test_host_free(h);
}

static void
test_bucket_refills_tokens_per_fill_each_interval(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(
        local_policy("{maxTokens: 4, tokensPerFill: 2, fillInterval: 500ms}"));

    for (int i = 0; i < 4; i++)
        assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(status_of(h, "/", NULL), 429);
    gwf_test_advance(h, 499 * MS);
    assert_int_equal(status_of(h, "/", NULL), 429);
    gwf_test_advance(h, 1 * MS);
    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(status_of(h, "/", NULL), 429);
    gwf_test_host_free(h);
}

static void
test_bucket_never_holds_more_than_max_tokens(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(
        local_policy("{maxTokens: 2, tokensPerFill: 1, fillInterval: 1s}"));

    gwf_test_advance(h, 3600 * NS);
    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(status_of(h, "/", NULL), 429);
    gwf_test_host_free(h);
}

static void
test_retry_after_rounds_the_wait_up_to_seconds(void **state)
{
    (void)state;
    gwf_test_host *h =
        host_with(local_policy("{maxTokens: 1, fillInterval: 1m30s}"));
    gwf_test_result *res;

    assert_int_equal(status_of(h, "/", NULL), 200);
    gwf_test_advance(h, 500 * MS);
    res = run_api(h, "/", NULL);
    assert_int_equal(gwf_test_status(res), 429);
    assert_string_equal(gwf_test_header(res, "retry-after", 0), "90");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_bucket_is_shared_with_a_forked_process(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(
        local_policy("{maxTokens: 3, tokensPerFill: 1, fillInterval: 1h}"));
    int status = 0;
    pid_t pid;

    assert_int_equal(gwf_test_validate(h), 0);
    assert_int_equal(status_of(h, "/", NULL), 200);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* Another "worker": takes the two tokens left. */
        int ok =
            status_of(h, "/", NULL) == 200 && status_of(h, "/", NULL) == 200;
        _exit(ok ? 0 : 1);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(status_of(h, "/", NULL), 429);
    gwf_test_host_free(h);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket_allows_max_tokens_then_429),
        cmocka_unit_test(test_bucket_refills_tokens_per_fill_each_interval),
        cmocka_unit_test(test_bucket_never_holds_more_than_max_tokens),
        cmocka_unit_test(test_retry_after_rounds_the_wait_up_to_seconds),
        cmocka_unit_test(test_bucket_is_shared_with_a_forked_process),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
