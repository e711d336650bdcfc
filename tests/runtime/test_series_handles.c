/*
 * test_series_handles.c - metric series handles through the host table
 * (abi.h 0.3), as a plugin sees them: the `series_probe` test plugin
 * (series_probe.c) on the in-process test host.
 *
 * A handle counts into the series metric_add counts into; the host
 * refuses, with GWF_ERR_BAD_ARGUMENT and without counting, a handle
 * whose config was rejected, another instance's handle, and a set on a
 * counter.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <gwf/abi.h>
#include <gwf/testing.h>

static void
load_extension(gwf_test_host *h, const char *name, const char *config)
{
    char doc[512];
    snprintf(doc, sizeof doc,
             "apiVersion: gateway.kgateway.dev/v1alpha1\n"
             "kind: GatewayExtension\n"
             "metadata: {name: %s, namespace: default}\n"
             "spec:\n"
             "  plugin:\n"
             "    name: series_probe\n"
             "    config: %s\n",
             name, config);
    if (gwf_test_load_text(h, doc) != 0)
        fail_msg("manifest %s: %s", name, gwf_test_error(h));
}

/* The body of the reply to one request through extension `name`. */
static void
run_through(gwf_test_host *h, const char *name, char *body, size_t size)
{
    const char *refs[] = {name, NULL};
    gwf_test_route route = {NULL, refs, NULL, NULL};
    gwf_test_request *req = gwf_test_request_new("GET", "/");
    gwf_test_result *res = gwf_test_run(h, &route, req);
    if (!res)
        fail_msg("route %s: %s", name, gwf_test_error(h));
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
    assert_int_equal(gwf_test_status(res), 200);
    size_t len = 0;
    const char *text = gwf_test_body(res, &len);
    snprintf(body, size, "%.*s", (int)len, text ? text : "");
    gwf_test_result_free(res);
    gwf_test_request_free(req);
}

static void
test_handle_counts_into_the_series_of_the_label_call(void **state)
{
    (void)state;
    gwf_test_host *h = gwf_test_host_new();
    load_extension(h, "counted", "{kind: a}");
    char body[128];
    run_through(h, "counted", body, sizeof body);
    /* 2 is GWF_ERR_BAD_ARGUMENT: a counter is not set. */
    assert_string_equal(body, "handle=0 label=0 stale=- foreign=- set=2");
    run_through(h, "counted", body, sizeof body);
    assert_true(gwf_test_metric(h, "gwf_series_probe_total{instance=\""
                                   "default/counted\",kind=\"a\"}") == 4);
    gwf_test_host_free(h);
}

static void
test_handle_of_a_rejected_config_is_refused(void **state)
{
    (void)state;
    gwf_test_host *h = gwf_test_host_new();
    load_extension(h, "rejected", "{kind: gone, reject: true}");
    load_extension(h, "kept", "{kind: kept, try_stale: true}");
    const char *refs[] = {"rejected", NULL};
    gwf_test_route route = {NULL, refs, NULL, NULL};
    gwf_test_request *req = gwf_test_request_new("GET", "/");
    gwf_test_result *res = gwf_test_run(h, &route, req);
    assert_null(res); /* the route does not build */
    gwf_test_request_free(req);
    char body[128];
    run_through(h, "kept", body, sizeof body);
    assert_string_equal(body, "handle=0 label=0 stale=2 foreign=- set=2");
    assert_true(gwf_test_metric(h, "gwf_series_probe_total{instance=\""
                                   "default/rejected\",kind=\"gone\"}") == 0);
    gwf_test_host_free(h);
}

static void
test_handle_of_another_instance_is_refused(void **state)
{
    (void)state;
    gwf_test_host *h = gwf_test_host_new();
    load_extension(h, "first", "{kind: one}");
    load_extension(h, "second", "{kind: two, try_foreign: true}");
    char body[128];
    run_through(h, "first", body, sizeof body);
    run_through(h, "second", body, sizeof body);
    assert_string_equal(body, "handle=0 label=0 stale=- foreign=2 set=2");
    assert_true(gwf_test_metric(h, "gwf_series_probe_total{instance=\""
                                   "default/first\",kind=\"one\"}") == 2);
    assert_true(gwf_test_metric(h, "gwf_series_probe_total{instance=\""
                                   "default/second\",kind=\"two\"}") == 2);
    gwf_test_host_free(h);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handle_counts_into_the_series_of_the_label_call),
        cmocka_unit_test(test_handle_of_a_rejected_config_is_refused),
        cmocka_unit_test(test_handle_of_another_instance_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
