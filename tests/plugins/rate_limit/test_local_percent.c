/*
 * test_local_percent.c - TrafficPolicy rateLimit.local's percentEnabled
 * and percentEnforced, with Envoy's meaning (kgateway sets them as the
 * local_ratelimit filter's filter_enabled and filter_enforced): a request
 * the limiter is not enabled for is not counted; one it is enabled but
 * not enforced for is counted and never refused (the metric says it
 * would have been). And kgateway's minimum fillInterval, 50ms.
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

#define SERIES(outcome)                                                        \
    "gwf_rate_limit_local_total{instance=\"default/api\",outcome=\"" outcome   \
    "\"}"

static const char *
local_policy(const char *local)
{
    static char text[2048];
    snprintf(text, sizeof(text),
             "apiVersion: gateway.kgateway.dev/v1alpha1\n"
             "kind: TrafficPolicy\n"
             "metadata: {name: api, namespace: default}\n"
             "spec:\n"
             "  rateLimit:\n"
             "    local: %s\n",
             local);
    return text;
}

static void
test_percent_enabled_0_counts_nothing_and_refuses_nothing(void **state)
{
    gwf_test_host *h =
        host_with(local_policy("{percentEnabled: 0, tokenBucket: {maxTokens: "
                               "1, fillInterval: 1h}}"));

    (void)state;
    for (int i = 0; i < 5; i++)
        assert_int_equal(status_of(h, "/", NULL), 200);
    assert_false(gwf_test_metric(h, SERIES("allowed")) > 0);
    assert_false(gwf_test_metric(h, SERIES("over_limit")) > 0);
    gwf_test_host_free(h);
}

static void
test_percent_enforced_0_counts_but_never_refuses(void **state)
{
    gwf_test_host *h =
        host_with(local_policy("{percentEnforced: 0, tokenBucket: {maxTokens: "
                               "2, fillInterval: 1h}}"));

    (void)state;
    for (int i = 0; i < 5; i++)
        assert_int_equal(status_of(h, "/", NULL), 200);
    assert_true(gwf_test_metric(h, SERIES("allowed")) == 2);
    assert_true(gwf_test_metric(h, SERIES("not_enforced")) == 3);
    gwf_test_host_free(h);
}

static void
test_percent_100_both_is_the_plain_limit(void **state)
{
    gwf_test_host *h = host_with(
        local_policy("{percentEnabled: 100, percentEnforced: 100, "
                     "tokenBucket: {maxTokens: 2, fillInterval: 1h}}"));

    (void)state;
    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(status_of(h, "/", NULL), 429);
    assert_true(gwf_test_metric(h, SERIES("over_limit")) == 1);
    gwf_test_host_free(h);
}

static void
test_percent_enabled_50_counts_about_half(void **state)
{
    gwf_test_host *h =
        host_with(local_policy("{percentEnabled: 50, tokenBucket: {maxTokens: "
                               "1000, fillInterval: 1h}}"));
    double counted;

    (void)state;
    for (int i = 0; i < 400; i++)
        assert_int_equal(status_of(h, "/", NULL), 200);
    counted = gwf_test_metric(h, SERIES("allowed"));
    /* Binomial(400, 0.5): 200 +- 60 is more than 6 standard deviations. */
    assert_true(counted > 140 && counted < 260);
    gwf_test_host_free(h);
}

static void
test_empty_local_lets_everything_through(void **state)
{
    gwf_test_host *h = host_with(local_policy("{}"));

    (void)state;
    for (int i = 0; i < 3; i++)
        assert_int_equal(status_of(h, "/", NULL), 200);
    gwf_test_host_free(h);
}

static void
test_fill_interval_below_50ms_is_refused(void **state)
{
    (void)state;
    assert_config_error(
        local_policy("{tokenBucket: {maxTokens: 1, fillInterval: 49ms}}"),
        "fillInterval", "");
}

static void
test_fill_interval_of_50ms_is_accepted(void **state)
{
    gwf_test_host *h = host_with(
        local_policy("{tokenBucket: {maxTokens: 1, fillInterval: 50ms}}"));

    (void)state;
    assert_int_equal(gwf_test_validate(h), 0);
    gwf_test_host_free(h);
}

static void
test_percent_out_of_range_is_refused(void **state)
{
    (void)state;
    assert_config_error(
        local_policy("{percentEnabled: 101, tokenBucket: {maxTokens: 1, "
                     "fillInterval: 1s}}"),
        "percentEnabled", "");
    assert_config_error(
        local_policy("{percentEnforced: -1, tokenBucket: {maxTokens: 1, "
                     "fillInterval: 1s}}"),
        "percentEnforced", "");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_percent_enabled_0_counts_nothing_and_refuses_nothing),
        cmocka_unit_test(test_percent_enforced_0_counts_but_never_refuses),
        cmocka_unit_test(test_percent_100_both_is_the_plain_limit),
        cmocka_unit_test(test_percent_enabled_50_counts_about_half),
        cmocka_unit_test(test_empty_local_lets_everything_through),
        cmocka_unit_test(test_fill_interval_below_50ms_is_refused),
        cmocka_unit_test(test_fill_interval_of_50ms_is_accepted),
        cmocka_unit_test(test_percent_out_of_range_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
