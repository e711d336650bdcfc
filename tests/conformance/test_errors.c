/*
 * test_errors.c - plugin bugs the host must survive.
 *
 * abi.h: a hook that returns something other than a gwf_action is a
 * plugin bug; the host logs it, naming the plugin and hook, and answers
 * 500. A stream_create that fails answers 500 too. Either way every
 * stream that was created is completed and destroyed.
 */
#include "conformance.h"

#include <string.h>

static void
test_invalid_action_from_request_headers_answers_500(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', NULL);
    conf_probe(c, 'B', "actions: {request_headers: bad_status}");
    conf_probe(c, 'C', NULL);
    gwf_test_request *req = conf_request(c, "GET", "/bug", NULL);

    gwf_test_result *res = conf_run(c, "ABC", req);

    assert_int_equal(gwf_test_status(res), 500);
    assert_null(gwf_test_upstream_method(res));
    conf_assert(c, !conf_logged(c, "probe C request_headers"));
}

static void
test_invalid_action_is_logged_naming_plugin_and_hook(void **state)
{
    conf *c = *state;
    conf_probe(c, 'B', "actions: {request_headers: bad_status}");
    gwf_test_request *req = conf_request(c, "GET", "/bug", NULL);

    conf_run(c, "B", req);

    /* A line the host wrote (not one of the probe's own). The
     * extension is called ext-b, so "probe" can only be the plugin. */
    const char *needles[] = {"probe", "request_headers", NULL};
    conf_assert(c, conf_host_line(c, needles) != NULL);
}

static void
test_invalid_action_from_response_headers_answers_500(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', NULL);
    conf_probe(c, 'B', "actions: {response_headers: bad_status}");
    gwf_test_set_upstream(c->h, 200, NULL, "world", 5);
    gwf_test_request *req = conf_request(c, "GET", "/bug", NULL);

    gwf_test_result *res = conf_run(c, "AB", req);

    assert_int_equal(gwf_test_status(res), 500);
    conf_assert(c, !conf_body_is(res, "world"));
    const char *needles[] = {"probe", "response_headers", NULL};
    conf_assert(c, conf_host_line(c, needles) != NULL);
    conf_check_ended(c, "AB");
}

static void
test_invalid_action_from_a_body_hook_answers_500(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', "actions: {request_body: bad_status}");
    gwf_test_request *req = conf_request(c, "POST", "/bug", "payload");

    gwf_test_result *res = conf_run(c, "A", req);

    assert_int_equal(gwf_test_status(res), 500);
    assert_null(gwf_test_upstream_method(res));
    const char *needles[] = {"probe", "request_body", NULL};
    conf_assert(c, conf_host_line(c, needles) != NULL);
    conf_check_ended(c, "A");
}

static void
test_stream_create_failure_answers_500(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', NULL);
    conf_probe(c, 'B', "actions: {stream_create: fail}");
    conf_probe(c, 'C', NULL);
    gwf_test_request *req = conf_request(c, "GET", "/no-stream", NULL);

    gwf_test_result *res = conf_run(c, "ABC", req);

    assert_int_equal(gwf_test_status(res), 500);
    assert_null(gwf_test_upstream_method(res));
    /* Nothing runs on the stream B could not set up, nor after it. */
    conf_assert(c, !conf_logged(c, "probe B request_headers"));
    conf_assert(c, !conf_logged(c, "probe C request_headers"));
    /* B's stream was never created: no complete or destroy for it. */
    conf_assert(c, !conf_logged(c, "probe B stream_complete"));
    conf_assert(c, !conf_logged(c, "probe B stream_destroy"));
    /* Those that were are ended as usual. */
    const char *trace = conf_trace(c, CONF_LIFECYCLE);
    conf_check_ended(c, conf_trace_index(trace, "C:stream_create") >= 0 ? "AC"
                                                                        : "A");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_invalid_action_from_request_headers_answers_500, conf_setup,
            conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_invalid_action_is_logged_naming_plugin_and_hook, conf_setup,
            conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_invalid_action_from_response_headers_answers_500, conf_setup,
            conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_invalid_action_from_a_body_hook_answers_500, conf_setup,
            conf_teardown),
        cmocka_unit_test_setup_teardown(test_stream_create_failure_answers_500,
                                        conf_setup, conf_teardown),
    };
    return cmocka_run_group_tests_name("errors", tests, NULL, NULL);
}
