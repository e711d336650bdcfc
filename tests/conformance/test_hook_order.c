/*
 * test_hook_order.c - the order in which a host calls a chain's hooks.
 *
 * abi.h: request hooks run in chain order, response hooks in reverse;
 * end_of_stream marks the last piece of each message; stream_complete
 * runs once for every created stream, in chain order, and
 * stream_destroy is the last call for a stream. A NULL hook means
 * GWF_CONTINUE, and without stream_create the hooks get the config.
 */
#include "conformance.h"

#include <stdio.h>
#include <string.h>

static void
test_request_hooks_run_in_chain_order_and_response_hooks_in_reverse(
    void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', NULL);
    conf_probe(c, 'B', NULL);
    conf_probe(c, 'C', NULL);
    gwf_test_set_upstream(c->h, 200, "Content-Type: text/plain\r\n", "world",
                          5);
    gwf_test_request *req = conf_request(c, "POST", "/order", "hello");

    gwf_test_result *res = conf_run(c, "ABC", req);

    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_int_equal(gwf_test_status(res), 200);
    conf_assert(c, conf_body_is(res, "world"));
    assert_string_equal(conf_trace(c, CONF_HOOKS),
                        "A:request_headers B:request_headers "
                        "C:request_headers "
                        "A:request_body B:request_body C:request_body "
                        "C:response_headers B:response_headers "
                        "A:response_headers "
                        "C:response_body B:response_body A:response_body");
    conf_assert(c, conf_logged(c, "probe A request_headers eos=0"));
    conf_assert(c, conf_logged(c, "probe C request_body eos=1 len=5"));
    conf_assert(c, conf_logged(c, "probe B response_headers eos=0"));
    conf_assert(c, conf_logged(c, "probe A response_body eos=1 len=5"));
}

static void
test_stream_complete_and_destroy_run_once_each_in_chain_order(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', NULL);
    conf_probe(c, 'B', NULL);
    conf_probe(c, 'C', NULL);
    gwf_test_request *req = conf_request(c, "GET", "/lifecycle", NULL);

    conf_run(c, "ABC", req);

    const char *trace = conf_trace(c, CONF_ALL);
    const char *tags = "ABC";
    int last_hook = conf_trace_index(trace, "A:response_headers");
    conf_assert(c, last_hook >= 0);
    int previous_complete = -1;
    for (const char *t = tags; *t; t++) {
        char create[32], complete[32], destroy[32];
        snprintf(create, sizeof(create), "%c:stream_create", *t);
        snprintf(complete, sizeof(complete), "%c:stream_complete", *t);
        snprintf(destroy, sizeof(destroy), "%c:stream_destroy", *t);
        assert_int_equal(conf_trace_count(trace, create), 1);
        assert_int_equal(conf_trace_count(trace, complete), 1);
        assert_int_equal(conf_trace_count(trace, destroy), 1);
        int at_create = conf_trace_index(trace, create);
        int at_complete = conf_trace_index(trace, complete);
        int at_destroy = conf_trace_index(trace, destroy);
        char request_headers[32];
        snprintf(request_headers, sizeof(request_headers), "%c:request_headers",
                 *t);
        /* create before the first hook, complete after the last one,
         * complete in chain order, destroy after complete. */
        assert_true(at_create < conf_trace_index(trace, request_headers));
        assert_true(at_complete > last_hook);
        assert_true(at_complete > previous_complete);
        assert_true(at_destroy > at_complete);
        previous_complete = at_complete;
    }
    /* Destroy is the last word on each stream. */
    for (const char *t = tags; *t; t++) {
        char destroy[32];
        snprintf(destroy, sizeof(destroy), "%c:stream_destroy", *t);
        int at_destroy = conf_trace_index(trace, destroy);
        char tag_prefix[3] = {*t, ':', '\0'};
        int index = 0;
        for (const char *p = trace; *p; index++) {
            const char *end = strchr(p, ' ');
            size_t word = end ? (size_t)(end - p) : strlen(p);
            if (index > at_destroy && memcmp(p, tag_prefix, 2) == 0)
                fail_msg("%.*s after %s in %s", (int)word, p, destroy, trace);
            p += word + (end ? 1 : 0);
        }
    }
}

static void
test_headers_only_exchange_sets_end_of_stream_on_headers(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', NULL);
    conf_probe(c, 'B', NULL);
    gwf_test_request *req = conf_request(c, "GET", "/empty", NULL);

    gwf_test_result *res = conf_run(c, "AB", req);

    assert_int_equal(gwf_test_status(res), 200);
    assert_string_equal(conf_trace(c, CONF_HOOKS),
                        "A:request_headers B:request_headers "
                        "B:response_headers A:response_headers");
    conf_assert(c, conf_logged(c, "probe A request_headers eos=1"));
    conf_assert(c, conf_logged(c, "probe B request_headers eos=1"));
    conf_assert(c, conf_logged(c, "probe B response_headers eos=1"));
    conf_assert(c, conf_logged(c, "probe A response_headers eos=1"));
}

static void
test_null_hooks_mean_continue(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', NULL);
    conf_extension(c, "ext-n", "null_hooks", "{}");
    conf_probe(c, 'B', NULL);
    gwf_test_set_upstream(c->h, 200, NULL, "world", 5);
    gwf_test_request *req = conf_request(c, "POST", "/null", "hello");

    gwf_test_result *res = conf_run(c, "ANB", req);

    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_int_equal(gwf_test_status(res), 200);
    conf_assert(c, conf_upstream_body_is(res, "hello"));
    conf_assert(c, conf_body_is(res, "world"));
    assert_string_equal(conf_trace(c, CONF_HOOKS),
                        "A:request_headers B:request_headers "
                        "A:request_body B:request_body "
                        "B:response_headers A:response_headers "
                        "B:response_body A:response_body");
}

static void
test_hooks_get_the_config_when_stream_create_is_null(void **state)
{
    conf *c = *state;
    conf_extension(c, "ext-k", "config_ctx", "{tag: K}");
    gwf_test_request *req = conf_request(c, "GET", "/ctx", NULL);

    gwf_test_result *res = conf_run(c, "K", req);

    assert_int_equal(gwf_test_status(res), 200);
    conf_assert(c, conf_logged(c, "config_ctx K request_headers ctx=config"));
    conf_assert(c, conf_logged(c, "config_ctx K response_headers ctx=config"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_request_hooks_run_in_chain_order_and_response_hooks_in_reverse,
            conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_stream_complete_and_destroy_run_once_each_in_chain_order,
            conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_headers_only_exchange_sets_end_of_stream_on_headers,
            conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(test_null_hooks_mean_continue,
                                        conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_hooks_get_the_config_when_stream_create_is_null, conf_setup,
            conf_teardown),
    };
    return cmocka_run_group_tests_name("hook_order", tests, NULL, NULL);
}
