/*
 * test_value_storage.c - how the runtime stores shared per-stream values
 * (value_set / value_get), as a plugin sees it: the `values_probe` test
 * plugin (values_probe.c) on the in-process test host.
 *
 * The values of a stream live in blocks the stream owns (stream.c): a key
 * set again is rewritten in place when it fits and moved when it does
 * not, views of a value may be passed back to value_set, and a stream
 * reused for the next request starts with no values. Each test plays one
 * scenario and asserts the exact text the probe answers with.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <gwf/abi.h>
#include <gwf/testing.h>

static gwf_test_host *
host_with(const char *scenario)
{
    char doc[512];
    gwf_test_host *h = gwf_test_host_new();
    snprintf(doc, sizeof doc,
             "apiVersion: gateway.kgateway.dev/v1alpha1\n"
             "kind: GatewayExtension\n"
             "metadata: {name: probe, namespace: default}\n"
             "spec:\n"
             "  plugin:\n"
             "    name: values_probe\n"
             "    config: {scenario: %s}\n",
             scenario);
    if (gwf_test_load_text(h, doc) != 0)
        fail_msg("manifest: %s", gwf_test_error(h));
    return h;
}

/* The probe's answer to one request. */
static void
run_once(gwf_test_host *h, char *body, size_t size)
{
    const char *refs[] = {"probe", NULL};
    gwf_test_route route = {NULL, refs, NULL, NULL};
    gwf_test_request *req = gwf_test_request_new("GET", "/");
    gwf_test_result *res = gwf_test_run(h, &route, req);
    if (!res)
        fail_msg("run: %s", gwf_test_error(h));
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
    assert_int_equal(gwf_test_status(res), 200);
    size_t len = 0;
    const char *text = gwf_test_body(res, &len);
    snprintf(body, size, "%.*s", (int)len, text ? text : "");
    gwf_test_result_free(res);
    gwf_test_request_free(req);
}

static void
expect(const char *scenario, const char *answer)
{
    gwf_test_host *h = host_with(scenario);
    char body[256];
    run_once(h, body, sizeof body);
    assert_string_equal(body, answer);
    gwf_test_host_free(h);
}

static void
test_value_set_again_with_more_bytes_holds_them_all(void **state)
{
    (void)state;
    /* Type 1 is GWF_VALUE_BYTES: the type is replaced with the bytes. */
    expect("grow", "set=0 type=1 len=3000 same=1");
}

static void
test_value_set_again_with_fewer_bytes_then_more_holds_the_last(void **state)
{
    (void)state;
    expect("shrink", "small=b again=1");
}

static void
test_five_hundred_values_read_back_unchanged(void **state)
{
    (void)state;
    expect("many", "set=500 same=500");
}

static void
test_value_set_from_a_view_of_itself_is_copied_right(void **state)
{
    (void)state;
    expect("self", "k=world k2=world");
}

static void
test_reused_stream_starts_without_the_last_requests_values(void **state)
{
    (void)state;
    gwf_test_host *h = host_with("fresh");
    char body[256];
    /* The second and third requests get a stream the first one left. */
    for (int i = 0; i < 3; i++) {
        run_once(h, body, sizeof body);
        assert_string_equal(body, "before=1,1 after=1 more=300");
    }
    gwf_test_host_free(h);
}

static void
test_large_value_beside_small_ones_on_every_request(void **state)
{
    (void)state;
    gwf_test_host *h = host_with("huge");
    char body[256];
    for (int i = 0; i < 2; i++) {
        run_once(h, body, sizeof body);
        assert_string_equal(body, "set=0 big=1 small=s after=t");
    }
    gwf_test_host_free(h);
}

static void
test_empty_value_is_found_with_no_bytes(void **state)
{
    (void)state;
    expect("empty", "set=0 get=0 len=0 then=abc");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_value_set_again_with_more_bytes_holds_them_all),
        cmocka_unit_test(
            test_value_set_again_with_fewer_bytes_then_more_holds_the_last),
        cmocka_unit_test(test_five_hundred_values_read_back_unchanged),
        cmocka_unit_test(test_value_set_from_a_view_of_itself_is_copied_right),
        cmocka_unit_test(
            test_reused_stream_starts_without_the_last_requests_values),
        cmocka_unit_test(test_large_value_beside_small_ones_on_every_request),
        cmocka_unit_test(test_empty_value_is_found_with_no_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
