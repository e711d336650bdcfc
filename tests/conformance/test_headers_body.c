/*
 * test_headers_body.c - header and body changes flow down the chain, and
 * GWF_BUFFER hands a plugin the whole body at once.
 *
 * abi.h: what one plugin writes the next one reads; request changes
 * reach the upstream, response changes the client; body_set replaces the
 * chunk and the host fixes Content-Length; GWF_BUFFER calls the body hook
 * once with end_of_stream = 1 and all of the body, holds the headers so
 * that hook may still change them, and is bounded: 413 for a request,
 * 500 for a response over the limit.
 */
#include "conformance.h"

#include <string.h>

static void
test_request_header_set_is_seen_by_the_next_plugin_and_upstream(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', "set_request_header: {x-from-a: 'one'}");
    conf_probe(c, 'B', "log_request_header: [x-from-a]");
    gwf_test_request *req = conf_request(c, "GET", "/h", NULL);

    gwf_test_result *res = conf_run(c, "AB", req);

    conf_assert(c, conf_logged(c, "probe B note: request x-from-a=one"));
    const char *seen = gwf_test_upstream_header(res, "x-from-a", 0);
    assert_non_null(seen);
    assert_string_equal(seen, "one");
}

static void
test_request_header_set_replaces_every_value(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', "set_request_header: {x-multi: 'only'}");
    gwf_test_request *req = conf_request(c, "GET", "/h", NULL);
    gwf_test_request_header(req, "x-multi", "1");
    gwf_test_request_header(req, "X-Multi", "2");

    gwf_test_result *res = conf_run(c, "A", req);

    assert_non_null(gwf_test_upstream_header(res, "x-multi", 0));
    assert_string_equal(gwf_test_upstream_header(res, "x-multi", 0), "only");
    assert_null(gwf_test_upstream_header(res, "x-multi", 1));
}

static void
test_headers_can_be_removed_added_and_iterated(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A',
               "remove_request_header: [x-drop], "
               "add_request_header: {x-multi: two}");
    conf_probe(c, 'B',
               "list_request_headers: true, "
               "log_request_header: [X-MULTI, x-drop]");
    gwf_test_request *req = conf_request(c, "GET", "/edit", NULL);
    gwf_test_request_header(req, "x-drop", "1");
    gwf_test_request_header(req, "x-multi", "one");

    gwf_test_result *res = conf_run(c, "AB", req);

    /* Names match case-insensitively; a removed header is not found. */
    conf_assert(c, conf_logged(c, "probe B note: request X-MULTI=one"));
    conf_assert(c, conf_logged(c, "probe B note: request x-drop status=1"));
    /* Iteration: in order, the added line last, no pseudo-headers, and
     * an index past the end is an error. */
    const char *line = conf_line(c, "probe B note: request lines=");
    assert_non_null(line);
    conf_assert(c, strstr(line, "x-multi: one|x-multi: two]") != NULL);
    conf_assert(c, strstr(line, "x-drop") == NULL);
    conf_assert(c, strstr(line, "|:") == NULL && strstr(line, "[:") == NULL);
    conf_assert(c, strstr(line, "past_end=0") == NULL);
    assert_null(gwf_test_upstream_header(res, "x-drop", 0));
    assert_string_equal(gwf_test_upstream_header(res, "x-multi", 0), "one");
    assert_string_equal(gwf_test_upstream_header(res, "x-multi", 1), "two");
}

static void
test_path_rewrite_reaches_the_upstream(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', "set_request_header: {':path': '/rewritten?q=1'}");
    conf_probe(c, 'B', "log_request_header: [':path', ':method']");
    gwf_test_request *req = conf_request(c, "GET", "/original", NULL);

    gwf_test_result *res = conf_run(c, "AB", req);

    conf_assert(c, conf_logged(c, "probe B note: request :path="
                                  "/rewritten?q=1"));
    conf_assert(c, conf_logged(c, "probe B note: request :method=GET"));
    assert_string_equal(gwf_test_upstream_path(res), "/rewritten?q=1");
}

static void
test_response_header_set_by_one_plugin_is_seen_by_earlier_ones(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', "log_response_header: [x-from-c, ':status']");
    conf_probe(c, 'B', NULL);
    conf_probe(c, 'C', "set_response_header: {x-from-c: 'three'}");
    gwf_test_set_upstream(c->h, 201, NULL, NULL, 0);
    gwf_test_request *req = conf_request(c, "GET", "/h", NULL);

    gwf_test_result *res = conf_run(c, "ABC", req);

    conf_assert(c, conf_logged(c, "probe A note: response x-from-c=three"));
    conf_assert(c, conf_logged(c, "probe A note: response :status=201"));
    assert_non_null(gwf_test_header(res, "x-from-c", 0));
    assert_string_equal(gwf_test_header(res, "x-from-c", 0), "three");
}

static void
test_request_header_write_after_forwarding_is_refused(void **state)
{
    conf *c = *state;
    /* Writes a request header from response_headers: too late. */
    conf_probe(c, 'A', "late_request_header: {x-late: '1'}");
    gwf_test_request *req = conf_request(c, "GET", "/h", NULL);

    gwf_test_result *res = conf_run(c, "A", req);

    conf_assert(c, conf_logged(c, "probe A note: late set request x-late "
                                  "status=3"));
    assert_null(gwf_test_upstream_header(res, "x-late", 0));
}

static void
test_response_header_write_after_headers_were_sent_is_refused(void **state)
{
    conf *c = *state;
    /* Writes a response header from response_body, after the headers
     * went to the client. */
    conf_probe(c, 'A', "late_response_header: {x-late: '1'}");
    gwf_test_set_upstream(c->h, 200, NULL, "world", 5);
    gwf_test_request *req = conf_request(c, "GET", "/h", NULL);

    gwf_test_result *res = conf_run(c, "A", req);

    conf_assert(c, conf_logged(c, "probe A note: late set response x-late "
                                  "status=3"));
    assert_null(gwf_test_header(res, "x-late", 0));
}

static void
test_request_body_rewrite_reaches_the_upstream(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A',
               "set_request_body: rewritten, body_will_change: [request]");
    conf_probe(c, 'B', "log_body: true");
    gwf_test_request *req = conf_request(c, "POST", "/b", "hello");

    gwf_test_result *res = conf_run(c, "AB", req);

    conf_assert(c, conf_logged(c, "probe A note: body_will_change request "
                                  "status=0"));
    conf_assert(c, conf_logged(c, "probe B note: request_body=[rewritten]"));
    conf_assert(c, conf_upstream_body_is(res, "rewritten"));
    /* Announced: the body streams, so its length is not sent ahead. */
    assert_null(gwf_test_upstream_header(res, "content-length", 0));
    assert_string_equal(gwf_test_upstream_header(res, "transfer-encoding", 0),
                        "chunked");
}

static void
test_body_set_after_the_headers_left_without_notice_is_refused(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', "log_body: true");
    conf_probe(c, 'B', "append_response_body: '!'");
    gwf_test_set_upstream(c->h, 200, "Content-Length: 5\r\n", "world", 5);
    gwf_test_request *req = conf_request(c, "GET", "/b", NULL);

    gwf_test_result *res = conf_run(c, "AB", req);

    /* The headers went with Content-Length 5: a longer body would break
     * the framing, so the change is refused and the body goes as it is. */
    conf_assert(c, conf_logged(c, "probe B note: body_set response status=3"));
    conf_assert(c, conf_logged(c, "probe A note: response_body=[world]"));
    conf_assert(c, conf_body_is(res, "world"));
    assert_string_equal(gwf_test_header(res, "content-length", 0), "5");
}

static void
test_body_changed_under_held_headers_gets_its_exact_length(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', "log_body: true");
    conf_probe(c, 'B',
               "actions: {response_headers: buffer}, "
               "append_response_body: '!!'");
    gwf_test_set_upstream(c->h, 200, "Content-Length: 5\r\n", "world", 5);
    gwf_test_request *req = conf_request(c, "GET", "/b", NULL);

    gwf_test_result *res = conf_run(c, "AB", req);

    conf_assert(c, !conf_logged(c, "probe B note: body_set"));
    conf_assert(c, conf_body_is(res, "world!!"));
    assert_string_equal(gwf_test_header(res, "content-length", 0), "7");
    assert_null(gwf_test_header(res, "transfer-encoding", 0));
}

static void
test_body_will_change_after_the_headers_left_is_refused(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', "body_will_change: [request]");
    gwf_test_request *req = conf_request(c, "POST", "/b", "hello");

    gwf_test_result *res = conf_run(c, "A", req);

    /* In request_headers it is in time; in response_headers the request
     * has long left the chain. */
    conf_assert(c, conf_logged(c, "probe A note: body_will_change request "
                                  "status=0"));
    conf_assert(c, conf_logged(c, "probe A note: body_will_change request "
                                  "status=3"));
    conf_assert(c, conf_upstream_body_is(res, "hello"));
}

static void
test_observers_keep_the_length(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', "log_body: true");
    gwf_test_set_upstream(c->h, 200, "Content-Length: 5\r\n", "world", 5);
    gwf_test_request *req = conf_request(c, "POST", "/b", "hello");

    gwf_test_result *res = conf_run(c, "A", req);

    conf_assert(c, conf_body_is(res, "world"));
    assert_string_equal(gwf_test_header(res, "content-length", 0), "5");
    assert_string_equal(gwf_test_upstream_header(res, "content-length", 0),
                        "5");
}

static void
test_response_body_append_reaches_the_client(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', "log_body: true");
    conf_probe(c, 'B',
               "append_response_body: '!', body_will_change: [response]");
    gwf_test_set_upstream(c->h, 200, "Content-Length: 5\r\n", "world", 5);
    gwf_test_request *req = conf_request(c, "GET", "/b", NULL);

    gwf_test_result *res = conf_run(c, "AB", req);

    conf_assert(c, conf_logged(c, "probe A note: response_body=[world!]"));
    conf_assert(c, conf_body_is(res, "world!"));
    assert_null(gwf_test_header(res, "content-length", 0));
    assert_string_equal(gwf_test_header(res, "transfer-encoding", 0),
                        "chunked");
}

static void
test_buffer_delivers_the_whole_request_body_once(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', NULL);
    conf_probe(c, 'B', "actions: {request_headers: buffer}, log_body: true");
    conf_probe(c, 'C', NULL);
    gwf_test_request *req = conf_request(c, "POST", "/buf", "hello world");

    gwf_test_result *res = conf_run(c, "ABC", req);

    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_int_equal(conf_count(c, "probe B request_body"), 1);
    conf_assert(c, conf_logged(c, "probe B request_body eos=1 len=11"));
    conf_assert(c, conf_logged(c, "probe B note: request_body=[hello world]"));
    conf_assert(c, conf_upstream_body_is(res, "hello world"));
    /* C's headers hook waits for B to let the headers go. */
    const char *trace = conf_trace(c, CONF_HOOKS);
    conf_assert(c, conf_trace_index(trace, "B:request_body") <
                       conf_trace_index(trace, "C:request_headers"));
}

static void
test_buffered_request_headers_may_change_in_the_body_hook(void **state)
{
    conf *c = *state;
    conf_probe(c, 'B',
               "actions: {request_headers: buffer}, "
               "set_request_header: {x-decided: late}");
    conf_probe(c, 'C', "log_request_header: [x-decided]");
    gwf_test_request *req = conf_request(c, "POST", "/buf", "data");

    gwf_test_result *res = conf_run(c, "BC", req);

    conf_assert(c, !conf_logged(c, "probe B note: set request"));
    conf_assert(c, conf_logged(c, "probe C note: request x-decided=late"));
    assert_non_null(gwf_test_upstream_header(res, "x-decided", 0));
    assert_string_equal(gwf_test_upstream_header(res, "x-decided", 0), "late");
}

static void
test_buffer_delivers_the_whole_response_body_once(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', NULL);
    conf_probe(c, 'B',
               "actions: {response_headers: buffer}, "
               "set_response_header: {x-len-known: 'yes'}, "
               "log_body: true");
    gwf_test_set_upstream(c->h, 200, NULL, "a response body", 15);
    gwf_test_request *req = conf_request(c, "GET", "/buf", NULL);

    gwf_test_result *res = conf_run(c, "AB", req);

    assert_int_equal(gwf_test_status(res), 200);
    assert_int_equal(conf_count(c, "probe B response_body"), 1);
    conf_assert(c, conf_logged(c, "probe B response_body eos=1 len=15"));
    conf_assert(c, conf_body_is(res, "a response body"));
    assert_non_null(gwf_test_header(res, "x-len-known", 0));
    const char *trace = conf_trace(c, CONF_HOOKS);
    conf_assert(c, conf_trace_index(trace, "B:response_body") <
                       conf_trace_index(trace, "A:response_headers"));
}

static void
test_buffered_request_over_the_limit_is_413(void **state)
{
    conf *c = *state;
    /* Host limits are fixed before the first manifest loads. */
    gwf_test_set_max_body(c->h, 4);
    conf_probe(c, 'A', "actions: {request_headers: buffer}");
    gwf_test_request *req = conf_request(c, "POST", "/big", "hello world");

    gwf_test_result *res = conf_run(c, "A", req);

    assert_int_equal(gwf_test_status(res), 413);
    assert_null(gwf_test_upstream_method(res));
    conf_check_ended(c, "A");
}

static void
test_buffered_response_over_the_limit_is_500(void **state)
{
    conf *c = *state;
    /* Host limits are fixed before the first manifest loads. */
    gwf_test_set_max_body(c->h, 4);
    conf_probe(c, 'A', "actions: {response_headers: buffer}");
    gwf_test_set_upstream(c->h, 200, NULL, "a response body", 15);
    gwf_test_request *req = conf_request(c, "GET", "/big", NULL);

    gwf_test_result *res = conf_run(c, "A", req);

    assert_int_equal(gwf_test_status(res), 500);
    conf_check_ended(c, "A");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_request_header_set_is_seen_by_the_next_plugin_and_upstream,
            conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_request_header_set_replaces_every_value, conf_setup,
            conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_headers_can_be_removed_added_and_iterated, conf_setup,
            conf_teardown),
        cmocka_unit_test_setup_teardown(test_path_rewrite_reaches_the_upstream,
                                        conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_response_header_set_by_one_plugin_is_seen_by_earlier_ones,
            conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_request_header_write_after_forwarding_is_refused, conf_setup,
            conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_response_header_write_after_headers_were_sent_is_refused,
            conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_request_body_rewrite_reaches_the_upstream, conf_setup,
            conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_response_body_append_reaches_the_client, conf_setup,
            conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_body_set_after_the_headers_left_without_notice_is_refused,
            conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_body_changed_under_held_headers_gets_its_exact_length,
            conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_body_will_change_after_the_headers_left_is_refused, conf_setup,
            conf_teardown),
        cmocka_unit_test_setup_teardown(test_observers_keep_the_length,
                                        conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_buffer_delivers_the_whole_request_body_once, conf_setup,
            conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_buffered_request_headers_may_change_in_the_body_hook,
            conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_buffer_delivers_the_whole_response_body_once, conf_setup,
            conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_buffered_request_over_the_limit_is_413, conf_setup,
            conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_buffered_response_over_the_limit_is_500, conf_setup,
            conf_teardown),
    };
    return cmocka_run_group_tests_name("headers_body", tests, NULL, NULL);
}
