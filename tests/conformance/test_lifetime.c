/*
 * test_lifetime.c - what happens to a stream that ends while paused.
 *
 * abi.h: a stream that ends (client gone, deadline) has its stream-scope
 * timers and fd watches cancelled by the host; none of their callbacks,
 * nor a post to it, is delivered afterwards; stream_complete and
 * stream_destroy still run exactly once. The host bounds how long a
 * stream stays paused and answers 504 when that deadline passes.
 * stream_complete is read-only.
 */
#include "conformance.h"

static void
test_stream_aborted_while_paused_on_a_timer_gets_no_later_callback(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', NULL);
    conf_probe(c, 'B', "actions: {request_headers: 'pause_timer:10ms'}");
    gwf_test_request *req = conf_request(c, "GET", "/abort", NULL);

    gwf_test_result *res = conf_start(c, "AB", req, 1000);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_RUNNING);
    conf_assert(c, gwf_test_pending(c->h) >= 1);

    gwf_test_abort(c->h, res);

    assert_int_equal(gwf_test_outcome(res), GWF_TEST_ABORTED);
    assert_int_equal(gwf_test_pending(c->h), 0);
    gwf_test_advance(c->h, 50 * CONF_MS);
    gwf_test_wait(c->h, res, 10);
    conf_assert(c, !conf_logged(c, "probe B timer_fired"));
    conf_check_ended(c, "AB");
    /* No more hooks for a client that is gone. */
    assert_string_equal(conf_trace(c, CONF_HOOKS | CONF_WAKES),
                        "A:request_headers B:request_headers");
}

static void
test_stream_aborted_while_paused_on_an_fd_loses_its_watch(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', "actions: {request_headers: pause_fd_idle}");
    gwf_test_request *req = conf_request(c, "GET", "/abort-fd", NULL);

    gwf_test_result *res = conf_start(c, "A", req, 20);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_RUNNING);
    conf_assert(c, gwf_test_pending(c->h) >= 1);

    gwf_test_abort(c->h, res);

    assert_int_equal(gwf_test_pending(c->h), 0);
    conf_assert(c, !conf_logged(c, "probe A fd_ready"));
    conf_check_ended(c, "A");
}

static void
test_post_to_an_ended_stream_never_runs(void **state)
{
    conf *c = *state;
    /* The poster thread posts ~1 ms after the pause; the client is gone
     * by then, so the host must call the release callback instead
     * (LeakSanitizer sees the ticket leak if it does neither). */
    conf_probe(c, 'A', "actions: {request_headers: pause_post}");
    gwf_test_request *req = conf_request(c, "GET", "/abort-post", NULL);

    gwf_test_result *res = conf_start(c, "A", req, 0);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_RUNNING);
    gwf_test_abort(c->h, res);

    /* stream_destroy joined the poster thread: the post has been made. */
    conf_check_ended(c, "A");
    for (int i = 0; i < 5; i++)
        gwf_test_wait(c->h, res, 10);
    conf_assert(c, !conf_logged(c, "probe A post_run"));
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_ABORTED);
}

static void
test_pause_past_the_deadline_answers_504(void **state)
{
    conf *c = *state;
    /* Host limits are fixed before the first manifest loads. */
    gwf_test_set_max_pause(c->h, 100 * CONF_MS);
    conf_probe(c, 'A', NULL);
    conf_probe(c, 'B', "actions: {request_headers: 'pause_timer:1s'}");
    conf_probe(c, 'C', NULL);
    gwf_test_request *req = conf_request(c, "GET", "/slow", NULL);

    gwf_test_result *res = conf_start(c, "ABC", req, 1000);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_RUNNING);

    gwf_test_advance(c->h, 99 * CONF_MS);
    gwf_test_wait(c->h, res, 0);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_RUNNING);

    gwf_test_advance(c->h, 2 * CONF_MS);
    conf_assert(c, conf_finish(c, res));

    assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
    assert_int_equal(gwf_test_status(res), 504);
    assert_null(gwf_test_upstream_method(res));
    conf_assert(c, !conf_logged(c, "probe C request_headers"));

    /* The plugin's own timer would have fired at 1 s: it must not. */
    gwf_test_advance(c->h, 2000 * CONF_MS);
    gwf_test_wait(c->h, res, 10);
    conf_assert(c, !conf_logged(c, "probe B timer_fired"));
    assert_int_equal(gwf_test_pending(c->h), 0);
    const char *trace = conf_trace(c, CONF_LIFECYCLE);
    if (conf_trace_index(trace, "C:stream_create") >= 0)
        conf_check_ended(c, "ABC");
    else
        conf_check_ended(c, "AB");
}

static void
test_pause_deadline_also_bounds_a_pause_on_an_fd(void **state)
{
    conf *c = *state;
    /* Host limits are fixed before the first manifest loads. */
    gwf_test_set_max_pause(c->h, 50 * CONF_MS);
    conf_probe(c, 'A', "actions: {request_headers: pause_fd_idle}");
    gwf_test_request *req = conf_request(c, "GET", "/slow-fd", NULL);

    gwf_test_result *res = conf_start(c, "A", req, 20);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_RUNNING);

    gwf_test_advance(c->h, 50 * CONF_MS);
    conf_assert(c, conf_finish(c, res));

    assert_int_equal(gwf_test_status(res), 504);
    assert_int_equal(gwf_test_pending(c->h), 0);
    conf_check_ended(c, "A");
}

static void
test_stream_complete_is_read_only(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', "check_complete: true");
    gwf_test_request *req = conf_request(c, "GET", "/readonly", NULL);

    gwf_test_result *res = conf_run(c, "A", req);

    assert_int_equal(gwf_test_status(res), 200);
    /* Reads work (0); resume and send_local_reply are refused (3). */
    conf_assert(c, conf_logged(c, "probe A note: complete path_status=0 "
                                  "path=/readonly resume=3 reply=3"));
}

static void
test_stream_complete_runs_after_a_client_abort_and_a_deadline(void **state)
{
    conf *c = *state;
    /* Host limits are fixed before the first manifest loads. */
    gwf_test_set_max_pause(c->h, 10 * CONF_MS);
    conf_probe(c, 'A',
               "check_complete: true, "
               "actions: {request_headers: 'pause_timer:1s'}");
    gwf_test_request *req = conf_request(c, "GET", "/twice", NULL);

    gwf_test_result *first = conf_start(c, "A", req, 1000);
    gwf_test_abort(c->h, first);
    gwf_test_result *second = conf_start(c, "A", req, 1000);
    gwf_test_advance(c->h, 10 * CONF_MS);
    conf_assert(c, conf_finish(c, second));

    assert_int_equal(gwf_test_status(second), 504);
    assert_int_equal(conf_count(c, "probe A stream_create"), 2);
    assert_int_equal(conf_count(c, "probe A stream_complete"), 2);
    assert_int_equal(conf_count(c, "probe A stream_destroy"), 2);
    assert_int_equal(conf_count(c, "probe A note: complete path_status=0"), 2);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_stream_aborted_while_paused_on_a_timer_gets_no_later_callback,
            conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_stream_aborted_while_paused_on_an_fd_loses_its_watch,
            conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(test_post_to_an_ended_stream_never_runs,
                                        conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_pause_past_the_deadline_answers_504, conf_setup,
            conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_pause_deadline_also_bounds_a_pause_on_an_fd, conf_setup,
            conf_teardown),
        cmocka_unit_test_setup_teardown(test_stream_complete_is_read_only,
                                        conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_stream_complete_runs_after_a_client_abort_and_a_deadline,
            conf_setup, conf_teardown),
    };
    return cmocka_run_group_tests_name("lifetime", tests, NULL, NULL);
}
