/*
 * test_rls_internal_errors.c - in the rate limit service mode, the
 * plugin's own failures honour failOpen exactly as the service failing
 * does: with failOpen false a request the plugin could not check is
 * refused, never let through unchecked.
 *
 * The failures are real: the plugin here is the test copy whose every
 * allocation (its own and the SDK's; libcurl's are its own) can be made
 * to fail (alloc_fail/alloc_plan.h). Every allocation a request makes is
 * failed, one at a time, and the invariant checked for each: the request
 * is refused, or it went on and the service counted it.
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
#include "rls_peer.h"
#include "support.h"

rl_alloc_plan rl_alloc_plan_now;

static rls_peer peer;

static const char *
manifests(const char *extra)
{
    static char text[4096];

    snprintf(text, sizeof(text),
             "apiVersion: gateway.kgateway.dev/v1alpha1\n"
             "kind: Backend\n"
             "metadata: {name: rls, namespace: default}\n"
             "spec: {static: {hosts: [{host: 127.0.0.1, port: %d}]}}\n"
             "---\n"
             "apiVersion: gateway.kgateway.dev/v1alpha1\n"
             "kind: GatewayExtension\n"
             "metadata: {name: rl, namespace: default}\n"
             "spec: {rateLimit: {grpcService: {backendRef: {name: rls}}, "
             "domain: api-gateway, timeout: 5s%s}}\n"
             "---\n"
             "apiVersion: gateway.kgateway.dev/v1alpha1\n"
             "kind: TrafficPolicy\n"
             "metadata: {name: api, namespace: default}\n"
             "spec: {rateLimit: {global: {extensionRef: {name: rl}, "
             "descriptors: [{entries: [{type: Generic, generic: {key: "
             "service, value: big}}]}]}}}\n",
             peer.port, extra);
    return text;
}

static int
setup(void **state)
{
    (void)state;
    rls_peer_start(&peer);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    rl_alloc_plan_now.kinds = 0;
    rls_peer_stop(&peer);
    return 0;
}

/* One request; when it waits on the clock alone (an fd watch of the
 * SDK's curl loop could not be made, say: the call cannot progress), the
 * clock moves past `timeout`, which then decides. The plan is disarmed
 * once the request has started. */
static int
status_bounded(gwf_test_host *h)
{
    gwf_test_result *res = start_api(h, "/", NULL, 5000);
    int status;

    rl_alloc_plan_now.kinds = 0;
    if (gwf_test_outcome(res) == GWF_TEST_RUNNING) {
        gwf_test_advance(h, 5000 * INT64_C(1000000));
        assert_int_equal(gwf_test_wait(h, res, 5000), 1);
    }
    status = gwf_test_status(res);
    gwf_test_result_free(res);
    return status;
}

/* Fail each allocation of one request in turn, until a request makes no
 * more: each outcome is a refusal, or a pass the service counted. */
static void
every_allocation_fails_in_turn(const char *extra, int refusal)
{
    gwf_test_host *h = host_with(manifests(extra));
    int seen, failed_runs = 0;

    assert_int_equal(gwf_test_validate(h), 0);
    assert_int_equal(status_of(h, "/", NULL), 200); /* warm: worker up */
    for (long at = 1; at < 200; at++) {
        int status;

        seen = rls_requests_seen(&peer);
        rl_alloc_plan_now =
            (rl_alloc_plan){.kinds = RL_ALLOC_ANY, .fail_at = at};
        status = status_bounded(h);
        if (rl_alloc_plan_now.failed == 0)
            break; /* the request made fewer than `at` allocations */
        failed_runs++;
        if (status == 200)
            assert_int_equal(rls_requests_seen(&peer), seen + 1);
        else
            assert_int_equal(status, refusal);
    }
    assert_true(failed_runs >= 3);
    /* And the plugin still works. */
    assert_int_equal(status_of(h, "/", NULL), 200);
    gwf_test_host_free(h);
}

static void
test_each_allocation_failing_is_never_an_unchecked_pass(void **state)
{
    (void)state;
    every_allocation_fails_in_turn(", failOpen: false", 500);
}

static void
test_each_allocation_failing_with_headers_asked_for(void **state)
{
    (void)state;
    rls_set_mode(&peer, "headers");
    every_allocation_fails_in_turn(
        ", failOpen: false, xRateLimitHeaders: DraftVersion03", 500);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_each_allocation_failing_is_never_an_unchecked_pass, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_each_allocation_failing_with_headers_asked_for, setup,
            teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
