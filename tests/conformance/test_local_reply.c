/*
 * test_local_reply.c - send_local_reply from each phase.
 *
 * abi.h: a local reply is allowed from any hook or callback until the
 * response headers were sent to the client, and refused with
 * GWF_ERR_WRONG_PHASE after. The response hooks of the plugins before
 * the replying one run on the reply, in reverse order, as for an
 * upstream response; a second reply while one is being processed is
 * refused; the handle is dead afterwards and the hook's return value is
 * ignored.
 */
#include "conformance.h"

#include <string.h>

#define REPLY_FIELDS                                                           \
    "reply: {body: denied, details: probe_denied, "                            \
    "headers: {x-reply: 'yes', content-type: text/plain}}"

static void
test_reply_from_request_headers_runs_earlier_response_hooks(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', "set_response_header: {x-a: seen}");
    conf_probe(c, 'B',
               "actions: {request_headers: 'reply:403'}, " REPLY_FIELDS);
    conf_probe(c, 'C', NULL);
    gwf_test_request *req = conf_request(c, "GET", "/deny", NULL);

    gwf_test_result *res = conf_run(c, "ABC", req);

    assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
    assert_int_equal(gwf_test_status(res), 403);
    conf_assert(c, conf_body_is(res, "denied"));
    assert_non_null(gwf_test_header(res, "x-reply", 0));
    assert_string_equal(gwf_test_header(res, "x-reply", 0), "yes");
    assert_non_null(gwf_test_header(res, "x-a", 0));
    assert_string_equal(gwf_test_header(res, "x-a", 0), "seen");
    assert_non_null(gwf_test_reply_details(res));
    assert_string_equal(gwf_test_reply_details(res), "probe_denied");
    assert_null(gwf_test_upstream_method(res));
    assert_string_equal(conf_trace(c, CONF_HOOKS),
                        "A:request_headers B:request_headers "
                        "A:response_headers A:response_body");
    conf_assert(c, conf_logged(c, "probe A response_headers eos=0"));
    conf_assert(c, conf_logged(c, "probe A response_body eos=1 len=6"));
}

static void
test_handle_is_dead_after_local_reply(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', "actions: {request_headers: 'reply:403'}");
    gwf_test_request *req = conf_request(c, "GET", "/dead", NULL);

    conf_run(c, "A", req);

    conf_assert(c, conf_logged(c, "probe A note: reply=0 handle_after=4"));
}

static void
test_every_created_stream_completes_after_a_local_reply(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', NULL);
    conf_probe(c, 'B', "actions: {request_headers: 'reply:403'}");
    conf_probe(c, 'C', NULL);
    gwf_test_request *req = conf_request(c, "GET", "/complete", NULL);

    conf_run(c, "ABC", req);

    /* C never saw a hook, but if it was created it is completed. */
    const char *trace = conf_trace(c, CONF_LIFECYCLE);
    if (conf_trace_index(trace, "C:stream_create") >= 0)
        conf_check_ended(c, "ABC");
    else
        conf_check_ended(c, "AB");
}

static void
test_reply_from_request_body(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', NULL);
    conf_probe(c, 'B', "actions: {request_body: 'reply:422'}, " REPLY_FIELDS);
    conf_probe(c, 'C', NULL);
    gwf_test_request *req = conf_request(c, "POST", "/body", "payload");

    gwf_test_result *res = conf_run(c, "ABC", req);

    assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
    assert_int_equal(gwf_test_status(res), 422);
    conf_assert(c, conf_body_is(res, "denied"));
    assert_null(gwf_test_upstream_method(res));
    assert_string_equal(conf_trace(c, CONF_HOOKS),
                        "A:request_headers B:request_headers "
                        "C:request_headers A:request_body B:request_body "
                        "A:response_headers A:response_body");
}

static void
test_reply_from_response_headers_replaces_the_upstream_response(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', "set_response_header: {x-a: seen}");
    conf_probe(c, 'B',
               "actions: {response_headers: 'reply:502'}, " REPLY_FIELDS);
    conf_probe(c, 'C', NULL);
    gwf_test_set_upstream(c->h, 200, "X-Upstream: 1\r\n", "upstream body", 13);
    gwf_test_request *req = conf_request(c, "GET", "/resp", NULL);

    gwf_test_result *res = conf_run(c, "ABC", req);

    assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
    assert_int_equal(gwf_test_status(res), 502);
    conf_assert(c, conf_body_is(res, "denied"));
    assert_null(gwf_test_header(res, "x-upstream", 0));
    assert_non_null(gwf_test_header(res, "x-reply", 0));
    assert_non_null(gwf_test_header(res, "x-a", 0));
    assert_string_equal(conf_trace(c, CONF_HOOKS),
                        "A:request_headers B:request_headers "
                        "C:request_headers C:response_headers "
                        "B:response_headers A:response_headers "
                        "A:response_body");
}

static void
test_reply_from_response_body_while_headers_are_held(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', NULL);
    /* buffer in response_headers holds the headers back, so the
     * response has not started when the body hook replies. */
    conf_probe(c, 'B',
               "actions: {response_headers: buffer, "
               "response_body: 'reply:503'}, " REPLY_FIELDS);
    conf_probe(c, 'C', NULL);
    gwf_test_set_upstream(c->h, 200, NULL, "world", 5);
    gwf_test_request *req = conf_request(c, "GET", "/late", NULL);

    gwf_test_result *res = conf_run(c, "ABC", req);

    assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
    assert_int_equal(gwf_test_status(res), 503);
    conf_assert(c, conf_body_is(res, "denied"));
    conf_assert(c, conf_logged(c, "probe B note: reply=0"));
    assert_string_equal(conf_trace(c, CONF_HOOKS),
                        "A:request_headers B:request_headers "
                        "C:request_headers C:response_headers "
                        "B:response_headers C:response_body "
                        "B:response_body A:response_headers "
                        "A:response_body");
}

static void
test_reply_after_the_response_started_is_refused(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', NULL);
    conf_probe(c, 'B', "actions: {response_body: 'reply:503'}");
    gwf_test_set_upstream(c->h, 200, NULL, "world", 5);
    gwf_test_request *req = conf_request(c, "GET", "/started", NULL);

    gwf_test_result *res = conf_run(c, "AB", req);

    /* The headers went out after A's response_headers: too late. */
    conf_assert(c, conf_logged(c, "probe B note: reply=3"));
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_int_equal(gwf_test_status(res), 200);
    conf_assert(c, conf_body_is(res, "world"));
    assert_string_equal(conf_trace(c, CONF_HOOKS),
                        "A:request_headers B:request_headers "
                        "B:response_headers A:response_headers "
                        "B:response_body A:response_body");
}

static void
test_return_value_after_a_reply_is_ignored(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', NULL);
    /* Replies, then returns GWF_CONTINUE: C must still not run. */
    conf_probe(c, 'B', "actions: {request_headers: 'reply_then_continue:429'}");
    conf_probe(c, 'C', NULL);
    gwf_test_request *req = conf_request(c, "GET", "/ignored", NULL);

    gwf_test_result *res = conf_run(c, "ABC", req);

    assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
    assert_int_equal(gwf_test_status(res), 429);
    assert_null(gwf_test_upstream_method(res));
    conf_assert(c, !conf_logged(c, "probe C request_headers"));
}

static void
test_second_reply_while_one_is_processed_is_refused(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', "actions: {response_headers: 'reply:500'}");
    conf_probe(c, 'B', "actions: {request_headers: 'reply:403'}");
    gwf_test_request *req = conf_request(c, "GET", "/twice", NULL);

    gwf_test_result *res = conf_run(c, "AB", req);

    conf_assert(c, conf_logged(c, "probe A note: reply=3"));
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
    assert_int_equal(gwf_test_status(res), 403);
}

static void
test_reply_with_a_status_outside_200_599_is_refused(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', "actions: {request_headers: 'reply:700'}");
    gwf_test_request *req = conf_request(c, "GET", "/bad-status", NULL);

    gwf_test_result *res = conf_run(c, "A", req);

    conf_assert(c, conf_logged(c, "probe A note: reply=2"));
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_int_equal(gwf_test_status(res), 200);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_reply_from_request_headers_runs_earlier_response_hooks,
            conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(test_handle_is_dead_after_local_reply,
                                        conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_every_created_stream_completes_after_a_local_reply, conf_setup,
            conf_teardown),
        cmocka_unit_test_setup_teardown(test_reply_from_request_body,
                                        conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_reply_from_response_headers_replaces_the_upstream_response,
            conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_reply_from_response_body_while_headers_are_held, conf_setup,
            conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_reply_after_the_response_started_is_refused, conf_setup,
            conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_return_value_after_a_reply_is_ignored, conf_setup,
            conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_second_reply_while_one_is_processed_is_refused, conf_setup,
            conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_reply_with_a_status_outside_200_599_is_refused, conf_setup,
            conf_teardown),
    };
    return cmocka_run_group_tests_name("local_reply", tests, NULL, NULL);
}
