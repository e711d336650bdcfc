/*
 * test_pause.c - GWF_PAUSE and the three ways a paused stream wakes up.
 *
 * abi.h: a plugin that returns GWF_PAUSE later calls resume (or
 * send_local_reply) from a callback: a timer, an fd watch or a post from
 * another thread. Resuming runs the rest of the chain after the callback
 * returns, never inside resume, and the handle is dead afterwards.
 */
#include "conformance.h"

#include <stdio.h>
#include <string.h>

static void
test_pause_resumes_from_a_timer(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', NULL);
    conf_probe(c, 'B', "actions: {request_headers: 'pause_timer:10ms'}");
    conf_probe(c, 'C', NULL);
    gwf_test_request *req = conf_request(c, "GET", "/timer", NULL);

    gwf_test_result *res = conf_start(c, "ABC", req, 1000);

    assert_int_equal(gwf_test_outcome(res), GWF_TEST_RUNNING);
    assert_string_equal(conf_trace(c, CONF_HOOKS | CONF_WAKES),
                        "A:request_headers B:request_headers");
    conf_assert(c, gwf_test_pending(c->h) >= 1);

    gwf_test_advance(c->h, 9 * CONF_MS);
    gwf_test_wait(c->h, res, 0);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_RUNNING);
    conf_assert(c, !conf_logged(c, "probe B timer_fired"));

    gwf_test_advance(c->h, 1 * CONF_MS);
    conf_assert(c, conf_finish(c, res));

    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_int_equal(gwf_test_status(res), 200);
    assert_string_equal(conf_trace(c, CONF_HOOKS | CONF_WAKES),
                        "A:request_headers B:request_headers "
                        "B:timer_fired B:wake_done C:request_headers "
                        "C:response_headers B:response_headers "
                        "A:response_headers");
    conf_check_ended(c, "ABC");
    assert_int_equal(gwf_test_pending(c->h), 0);
}

static void
test_resume_runs_the_rest_of_the_chain_after_the_callback_returns(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', "actions: {request_headers: 'pause_timer:1ms'}");
    conf_probe(c, 'B', NULL);
    gwf_test_request *req = conf_request(c, "GET", "/after", NULL);

    gwf_test_result *res = conf_start(c, "AB", req, 1000);
    gwf_test_advance(c->h, 1 * CONF_MS);
    conf_assert(c, conf_finish(c, res));

    /* wake_done is logged after resume returned: if B had run inside
     * resume, its hook would come first. */
    const char *trace = conf_trace(c, CONF_HOOKS | CONF_WAKES);
    int wake_done = conf_trace_index(trace, "A:wake_done");
    int next_hook = conf_trace_index(trace, "B:request_headers");
    conf_assert(c, wake_done >= 0 && next_hook >= 0);
    conf_assert(c, wake_done < next_hook);
}

static void
test_handle_is_dead_after_resume(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', "actions: {request_headers: 'pause_timer:1ms'}");
    gwf_test_request *req = conf_request(c, "GET", "/dead", NULL);

    gwf_test_result *res = conf_start(c, "A", req, 1000);
    gwf_test_advance(c->h, 1 * CONF_MS);
    conf_assert(c, conf_finish(c, res));

    /* resume -> GWF_OK; any later call with the handle ->
     * GWF_ERR_STREAM_GONE (4). */
    conf_assert(c, conf_logged(c, "probe A note: wake resume=0 "
                                  "handle_after=4"));
}

static void
test_timer_id_is_spent_once_its_callback_starts(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', "actions: {request_headers: 'pause_timer:1ms'}");
    gwf_test_request *req = conf_request(c, "GET", "/spent", NULL);

    gwf_test_result *res = conf_start(c, "A", req, 1000);
    gwf_test_advance(c->h, 1 * CONF_MS);
    conf_assert(c, conf_finish(c, res));

    /* Cancelling its own id from inside the callback: GWF_ERR_NOT_FOUND. */
    conf_assert(c, conf_logged(c, "probe A note: timer_cancel_in_callback=1"));
}

static void
test_cancelled_watch_id_is_not_found_again(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', "actions: {request_headers: pause_fd}");
    gwf_test_request *req = conf_request(c, "GET", "/stale", NULL);

    conf_run(c, "A", req);

    conf_assert(c, conf_logged(c, "probe A note: fd_cancel_again=1"));
}

static void
test_pause_resumes_when_an_fd_becomes_readable(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', NULL);
    /* A helper thread writes to the watched eventfd after ~1 ms. */
    conf_probe(c, 'B', "actions: {request_headers: pause_fd}");
    conf_probe(c, 'C', NULL);
    gwf_test_request *req = conf_request(c, "GET", "/fd", NULL);

    gwf_test_result *res = conf_run(c, "ABC", req);

    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_string_equal(conf_trace(c, CONF_HOOKS | CONF_WAKES),
                        "A:request_headers B:request_headers "
                        "B:fd_ready B:wake_done C:request_headers "
                        "C:response_headers B:response_headers "
                        "A:response_headers");
    conf_assert(c, !conf_logged(c, "probe B note: fd_cancel="));
    conf_assert(c, conf_logged(c, "probe B note: wake resume=0"));
    conf_check_ended(c, "ABC");
    assert_int_equal(gwf_test_pending(c->h), 0);
}

static void
test_pause_resumes_when_a_timer_makes_an_fd_readable(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', "actions: {request_headers: 'pause_fd_timer:5ms'}");
    conf_probe(c, 'B', NULL);
    gwf_test_request *req = conf_request(c, "GET", "/fd-timer", NULL);

    gwf_test_result *res = conf_start(c, "AB", req, 200);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_RUNNING);
    /* A timer and a watch. */
    conf_assert(c, gwf_test_pending(c->h) >= 2);

    gwf_test_advance(c->h, 5 * CONF_MS);
    conf_assert(c, conf_finish(c, res));

    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    conf_assert(c, conf_logged(c, "probe A note: fd_timer_fired"));
    assert_string_equal(conf_trace(c, CONF_HOOKS | CONF_WAKES),
                        "A:request_headers A:fd_ready A:wake_done "
                        "B:request_headers B:response_headers "
                        "A:response_headers");
    assert_int_equal(gwf_test_pending(c->h), 0);
}

static void
test_pause_resumes_from_a_post_on_another_thread(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', NULL);
    conf_probe(c, 'B', "actions: {request_headers: pause_post}");
    conf_probe(c, 'C', NULL);
    gwf_test_request *req = conf_request(c, "GET", "/post", NULL);

    gwf_test_result *res = conf_run(c, "ABC", req);

    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_string_equal(conf_trace(c, CONF_HOOKS | CONF_WAKES),
                        "A:request_headers B:request_headers "
                        "B:post_run B:wake_done C:request_headers "
                        "C:response_headers B:response_headers "
                        "A:response_headers");
    conf_assert(c, conf_logged(c, "probe B note: wake resume=0"));
    conf_check_ended(c, "ABC");
}

static void
test_pause_in_response_headers_resumes_the_response(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', NULL);
    conf_probe(c, 'B', "actions: {response_headers: 'pause_timer:3ms'}");
    gwf_test_set_upstream(c->h, 201, "X-Up: 1\r\n", "body", 4);
    gwf_test_request *req = conf_request(c, "GET", "/resp", NULL);

    gwf_test_result *res = conf_start(c, "AB", req, 1000);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_RUNNING);
    gwf_test_advance(c->h, 3 * CONF_MS);
    conf_assert(c, conf_finish(c, res));

    assert_int_equal(gwf_test_status(res), 201);
    conf_assert(c, conf_body_is(res, "body"));
    assert_string_equal(conf_trace(c, CONF_HOOKS | CONF_WAKES),
                        "A:request_headers B:request_headers "
                        "B:response_headers B:timer_fired B:wake_done "
                        "A:response_headers B:response_body "
                        "A:response_body");
}

static void
test_pause_in_request_body_resumes_the_request(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', "actions: {request_body: pause_post}");
    conf_probe(c, 'B', NULL);
    gwf_test_request *req = conf_request(c, "PUT", "/body", "payload");

    gwf_test_result *res = conf_run(c, "AB", req);

    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    conf_assert(c, conf_upstream_body_is(res, "payload"));
    assert_string_equal(conf_trace(c, CONF_HOOKS | CONF_WAKES),
                        "A:request_headers B:request_headers "
                        "A:request_body A:post_run A:wake_done "
                        "B:request_body B:response_headers "
                        "A:response_headers");
}

static void
test_callback_may_answer_with_a_local_reply(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', NULL);
    conf_probe(c, 'B',
               "actions: {request_headers: 'pause_timer:2ms'}, "
               "wake: 'reply:401', "
               "reply: {body: nope, details: probe_wake_reply}");
    conf_probe(c, 'C', NULL);
    gwf_test_request *req = conf_request(c, "GET", "/wake-reply", NULL);

    gwf_test_result *res = conf_start(c, "ABC", req, 1000);
    gwf_test_advance(c->h, 2 * CONF_MS);
    conf_assert(c, conf_finish(c, res));

    assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
    assert_int_equal(gwf_test_status(res), 401);
    conf_assert(c, conf_body_is(res, "nope"));
    assert_null(gwf_test_upstream_method(res));
    assert_string_equal(conf_trace(c, CONF_HOOKS | CONF_WAKES),
                        "A:request_headers B:request_headers "
                        "B:timer_fired B:wake_done "
                        "A:response_headers A:response_body");
    conf_assert(c, conf_logged(c, "probe B note: wake reply=0 "
                                  "handle_after=4"));
    conf_check_ended(c, "AB");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pause_resumes_from_a_timer,
                                        conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_resume_runs_the_rest_of_the_chain_after_the_callback_returns,
            conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(test_handle_is_dead_after_resume,
                                        conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_timer_id_is_spent_once_its_callback_starts, conf_setup,
            conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_cancelled_watch_id_is_not_found_again, conf_setup,
            conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_pause_resumes_when_an_fd_becomes_readable, conf_setup,
            conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_pause_resumes_when_a_timer_makes_an_fd_readable, conf_setup,
            conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_pause_resumes_from_a_post_on_another_thread, conf_setup,
            conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_pause_in_response_headers_resumes_the_response, conf_setup,
            conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_pause_in_request_body_resumes_the_request, conf_setup,
            conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_callback_may_answer_with_a_local_reply, conf_setup,
            conf_teardown),
    };
    return cmocka_run_group_tests_name("pause", tests, NULL, NULL);
}
