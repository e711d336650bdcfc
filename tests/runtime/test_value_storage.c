/*
 * test_value_storage.c - how the runtime stores shared per-stream values
 * (value_set / value_get), as a plugin sees it: the `values_probe` test
 * plugin (values_probe.c) on the in-process test host.
 *
 * The values of a stream live in blocks the stream owns (stream.c): a key
 * set again is rewritten in place when it fits and moved when it does
 * not, views of a value may be passed back to value_set, and a stream
 * reused for the next request starts with no values. A plugin may also
 * provide the values under a prefix (value_provide, abi.h 0.7): the host
 * asks it for a key when the key is read, newest first among the keys
 * set, and releases it once. Each test plays one scenario and asserts
 * the exact text the probe answers with.
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

/* Status codes in the answers: 1 GWF_ERR_NOT_FOUND, 2 BAD_ARGUMENT,
 * 3 WRONG_PHASE, 8 INTERNAL; type 2 is GWF_VALUE_INT. */

static void
test_provided_prefix_answers_beside_keys_set_before_and_after(void **state)
{
    (void)state;
    /* a: the provider's; zz: neither; old: set before, the provider does
     * not know it; b: set before, the newer provider's answer; after: a
     * key set (twice) after the provider is value_set's, so is b set
     * again after it; q: not under the prefix. */
    expect("provide", "provide=0 a=A zz=1 old=old b=provided int=2:42 "
                      "after=again b2=b2 q=1");
}

static void
test_prefix_provided_again_releases_the_first_provider_now(void **state)
{
    (void)state;
    expect("reprovide", "provide=0,0 released_now=1 a=second");
}

static void
test_provider_is_released_once_when_its_stream_ends(void **state)
{
    (void)state;
    gwf_test_host *h = host_with("released");
    char body[256];
    run_once(h, body, sizeof body);
    /* Each request sees its predecessor's provider released, once;
     * the reused stream does not release it again. */
    for (int i = 0; i < 2; i++) {
        run_once(h, body, sizeof body);
        assert_string_equal(body, "provide=0 released=1");
    }
    gwf_test_host_free(h);
}

static void
test_provided_value_of_the_wrong_size_is_an_error_not_a_value(void **state)
{
    (void)state;
    expect("badshape", "provide=0 a=short int=8");
}

static void
test_provide_refuses_empty_and_long_prefixes_and_no_get(void **state)
{
    (void)state;
    /* A 256-byte prefix is the longest taken; nothing refused is kept
     * (or released). */
    expect("badargs", "empty=2 long=2 noget=2 max=0 released=0");
}

static void
test_provide_after_the_stream_completed_is_refused(void **state)
{
    (void)state;
    gwf_test_host *h = host_with("late");
    char body[256];
    run_once(h, body, sizeof body);
    run_once(h, body, sizeof body);
    assert_string_equal(body, "late=3");
    gwf_test_host_free(h);
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
        cmocka_unit_test(
            test_provided_prefix_answers_beside_keys_set_before_and_after),
        cmocka_unit_test(
            test_prefix_provided_again_releases_the_first_provider_now),
        cmocka_unit_test(test_provider_is_released_once_when_its_stream_ends),
        cmocka_unit_test(
            test_provided_value_of_the_wrong_size_is_an_error_not_a_value),
        cmocka_unit_test(
            test_provide_refuses_empty_and_long_prefixes_and_no_get),
        cmocka_unit_test(test_provide_after_the_stream_completed_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
