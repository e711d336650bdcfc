/*
 * test_early.c - answers before the stream (abi.h request_early): what
 * the client gets, which hooks run, what the handle allows, how a bad
 * hook fails, when the host does not call it at all, and how a plugin
 * alone in its chain finishes a request without a stream (0.9). The `early`
 * test plugin (early.c) does what its config says; the `probe` has a
 * stream_complete hook, so a chain with it after `early` must not skip
 * the stream.
 */
#include "conformance.h"

#include <stdio.h>
#include <string.h>

static void
early_ext(conf *c, char tag, const char *mode)
{
    char name[16], yaml[64];
    snprintf(name, sizeof name, "ext-%c", tag - 'A' + 'a');
    snprintf(yaml, sizeof yaml, "{tag: %c, early: %s}", tag, mode);
    conf_extension(c, name, "early", yaml);
}

static gwf_test_result *
run(conf *c, const char *chain)
{
    return conf_run(c, chain, conf_request(c, "GET", "/x", NULL));
}

static void
test_early_reply_is_the_answer_without_a_stream(void **state)
{
    conf *c = *state;
    early_ext(c, 'A', "reply");
    gwf_test_result *res = run(c, "A");
    conf_assert(c, gwf_test_status(res) == 429);
    conf_assert(c, strcmp(gwf_test_header(res, "retry-after", 0), "7") == 0);
    conf_assert(c, strcmp(gwf_test_header(res, "x-early", 0), "A") == 0);
    conf_assert(c, conf_body_is(res, "slow down\n"));
    conf_assert(c, strcmp(gwf_test_reply_details(res), "early_reply") == 0);
    conf_assert(c, conf_count(c, "early A request_early") == 1);
    conf_assert(c, !conf_logged(c, "early A request_headers"));
    conf_assert(c, gwf_test_upstream_method(res) == NULL);
}

static void
test_early_prepared_reply_is_sent_as_prepared(void **state)
{
    conf *c = *state;
    early_ext(c, 'A', "prepared");
    gwf_test_result *res = run(c, "A");
    conf_assert(c, gwf_test_status(res) == 418);
    conf_assert(c, strcmp(gwf_test_header(res, "x-prepared", 0), "yes") == 0);
    conf_assert(c, conf_body_is(res, "prepared\n"));
    conf_assert(c, strcmp(gwf_test_reply_details(res), "early_prepared") == 0);
    conf_assert(c, !conf_logged(c, "early A request_headers"));
}

/* CONTINUE: the stream is made and runs as if the hook did not exist,
 * under the request id the hook saw. */
static void
test_early_continue_makes_the_stream_with_the_same_request_id(void **state)
{
    conf *c = *state;
    early_ext(c, 'A', "continue");
    gwf_test_result *res = run(c, "A");
    conf_assert(c, gwf_test_status(res) == 200);
    conf_assert(c, gwf_test_had_stream(res));
    conf_assert(c, gwf_test_upstream_method(res) != NULL);
    conf_assert(c, conf_count(c, "early A request_early") == 1);
    conf_assert(c, conf_count(c, "early A request_headers") == 1);
    char first[96];
    const char *line = conf_line(c, "early A note: id=");
    conf_assert(c, line != NULL);
    snprintf(first, sizeof first, "%s", strstr(line, "id="));
    /* Both notes carry the same id: the line appears twice. */
    conf_assert(c, conf_count(c, first) == 2);
}

/* Requests answered early are counted as streams answered so. */
static void
test_early_answers_are_counted_as_local_replies(void **state)
{
    conf *c = *state;
    early_ext(c, 'A', "reply");
    run(c, "A");
    run(c, "A");
    double replies = gwf_test_metric(
        c->h, "gwf_local_replies_total{instance=\"test\",status=\"429\","
              "details=\"early_reply\"}");
    double streams =
        gwf_test_metric(c->h, "gwf_streams_total{instance=\"test\"}");
    conf_assert(c, replies == 2);
    conf_assert(c, streams == 2);
}

/* Beside another plugin, only reads, attributes and replies work with
 * the handle; everything else is refused as the wrong phase, and after
 * the answer the handle is dead. */
static void
test_early_handle_reads_and_replies_only(void **state)
{
    conf *c = *state;
    early_ext(c, 'A', "calls");
    early_ext(c, 'B', "continue");
    gwf_test_result *res = run(c, "AB");
    conf_assert(c, gwf_test_status(res) == 403);
    conf_assert(
        c, conf_logged(c, "early A note: get=0 path=/x response=3 set=3 add=3 "
                          "remove=3 body=3 value_set=3 value_get=1 resume=3 "
                          "timer=3 ref=null attr=0 addr=127.0.0.1 done=0 "
                          "count=1 reply=0 after=4 again=4"));
}

/* Alone in its chain, the plugin may also write the request's headers
 * (and answer after doing so); the rest is refused as beside another. */
static void
test_early_handle_alone_writes_request_headers(void **state)
{
    conf *c = *state;
    early_ext(c, 'A', "calls");
    gwf_test_result *res = run(c, "A");
    conf_assert(c, gwf_test_status(res) == 403);
    conf_assert(
        c, conf_logged(c, "early A note: get=0 path=/x response=3 set=0 add=0 "
                          "remove=0 body=3 value_set=3 value_get=1 resume=3 "
                          "timer=3 ref=null attr=0 addr=127.0.0.1 done=1 "
                          "count=1 reply=0 after=4 again=4"));
}

/* GWF_DONE: the request goes on as the hook changed it, without a
 * stream (no stream hook runs), counted as a stream. */
static void
test_early_done_sends_the_changed_request_without_a_stream(void **state)
{
    conf *c = *state;
    early_ext(c, 'A', "done");
    gwf_test_request *req = conf_request(c, "GET", "/x", NULL);
    gwf_test_request_header(req, "x-drop", "secret");
    gwf_test_request_header(req, "x-early-done", "forged");
    gwf_test_result *res = conf_run(c, "A", req);
    conf_assert(c, gwf_test_outcome(res) == GWF_TEST_FORWARDED);
    conf_assert(c, !gwf_test_had_stream(res));
    conf_assert(c, gwf_test_status(res) == 200);
    conf_assert(c, strcmp(gwf_test_upstream_path(res), "/done") == 0);
    conf_assert(
        c, strcmp(gwf_test_upstream_header(res, "x-early-done", 0), "A") == 0);
    conf_assert(c, gwf_test_upstream_header(res, "x-early-done", 1) == NULL);
    conf_assert(c, gwf_test_upstream_header(res, "x-drop", 0) == NULL);
    conf_assert(c, conf_logged(c, "early A note: attr=0 done=1 set=0 remove=0 "
                                  "path=0 response=3"));
    conf_assert(c, !conf_logged(c, "early A request_headers"));
    conf_assert(c, gwf_test_metric(c->h, "gwf_streams_total{instance="
                                         "\"test\"}") == 1);
}

/* Beside another plugin the hook may not finish the request: its writes
 * are refused, and GWF_DONE is a plugin bug. */
static void
test_early_done_beside_another_plugin_is_500(void **state)
{
    conf *c = *state;
    early_ext(c, 'A', "done");
    early_ext(c, 'B', "continue");
    gwf_test_result *res = run(c, "AB");
    conf_assert(c, gwf_test_status(res) == 500);
    conf_assert(c,
                strcmp(gwf_test_reply_details(res), "gwf_invalid_action") == 0);
    conf_assert(c, conf_logged(c, "early A note: attr=0 done=0 set=3 remove=3 "
                                  "path=3 response=3"));
    conf_assert(c, gwf_test_upstream_method(res) == NULL);
    conf_assert(c, !conf_logged(c, "early B request_headers"));
}

/* CONTINUE after a change would show the stream's hooks a request the
 * hook already changed: 500, and nothing goes upstream. */
static void
test_early_continue_after_a_change_is_500(void **state)
{
    conf *c = *state;
    early_ext(c, 'A', "changed");
    gwf_test_result *res = run(c, "A");
    conf_assert(c, gwf_test_status(res) == 500);
    conf_assert(c,
                strcmp(gwf_test_reply_details(res), "gwf_invalid_action") == 0);
    conf_assert(c, conf_logged(c, "from request_early after changing the "
                                  "request"));
    conf_assert(c, gwf_test_upstream_method(res) == NULL);
    conf_assert(c, !conf_logged(c, "early A request_headers"));
}

/* A write the host refused changed nothing: CONTINUE goes on to the
 * stream. */
static void
test_early_refused_write_then_continue_goes_on_to_the_stream(void **state)
{
    conf *c = *state;
    early_ext(c, 'A', "badwrite");
    gwf_test_result *res = run(c, "A");
    conf_assert(c, conf_logged(c, "early A note: bad_write=2"));
    conf_assert(c, gwf_test_status(res) == 200);
    conf_assert(c, gwf_test_had_stream(res));
    conf_assert(c, conf_count(c, "early A request_headers") == 1);
}

/* The attribute is the early hook's: a stream hook does not find it. */
static void
test_early_done_attribute_is_not_found_in_stream_hooks(void **state)
{
    conf *c = *state;
    early_ext(c, 'A', "continue");
    run(c, "A");
    conf_assert(c, conf_logged(c, "early A note: headers_done=1"));
}

static void
test_early_pause_without_answer_is_500(void **state)
{
    conf *c = *state;
    early_ext(c, 'A', "pause");
    gwf_test_result *res = run(c, "A");
    conf_assert(c, gwf_test_status(res) == 500);
    conf_assert(c, conf_body_is(res, "internal error in a gateway filter\n"));
    conf_assert(c,
                strcmp(gwf_test_reply_details(res), "gwf_invalid_action") == 0);
    conf_assert(c, !conf_logged(c, "early A request_headers"));
    conf_assert(c, conf_logged(c, "from request_early without answering"));
}

/* A reply the host refuses is no answer: the request goes on to the
 * stream. */
static void
test_early_refused_reply_goes_on_to_the_stream(void **state)
{
    conf *c = *state;
    early_ext(c, 'A', "bad");
    gwf_test_result *res = run(c, "A");
    conf_assert(c, conf_logged(c, "early A note: bad_reply=2"));
    conf_assert(c, gwf_test_status(res) == 200);
    conf_assert(c, conf_count(c, "early A request_headers") == 1);
}

static void
test_early_reply_out_of_memory_is_500(void **state)
{
    conf *c = *state;
    early_ext(c, 'A', "reply");
    gwf_test_host_reply_memory_fails(c->h, 1);
    gwf_test_result *res = run(c, "A");
    conf_assert(c, gwf_test_status(res) == 500);
    conf_assert(c, strcmp(gwf_test_reply_details(res), "gwf_no_memory") == 0);
    conf_assert(c, conf_body_is(res, "out of memory in a gateway filter\n"));
    conf_assert(c, !conf_logged(c, "early A request_headers"));
}

/* -- Prepared replies with the request's values (0.10) -------------- */

/* A request to chain `chain` with x-value, x-type and x-count (NULL:
 * without that header). */
static gwf_test_result *
run_values(conf *c, const char *chain, const char *value, const char *type,
           const char *count)
{
    gwf_test_request *req = conf_request(c, "GET", "/x", NULL);
    if (value)
        gwf_test_request_header(req, "x-value", value);
    if (type)
        gwf_test_request_header(req, "x-type", type);
    if (count)
        gwf_test_request_header(req, "x-count", count);
    return conf_run(c, chain, req);
}

/* The prepared 429 as it was prepared but for `retry` and `type`. */
static void
assert_values_reply(conf *c, gwf_test_result *res, const char *retry,
                    const char *type)
{
    conf_assert(c, gwf_test_status(res) == 429);
    conf_assert(c, strcmp(gwf_test_header(res, "retry-after", 0), retry) == 0);
    conf_assert(c, strcmp(gwf_test_header(res, "content-type", 0), type) == 0);
    conf_assert(c, strcmp(gwf_test_header(res, "x-fixed", 0), "kept") == 0);
    conf_assert(
        c, strcmp(gwf_test_header(res, "location", 0), "/placeholder") == 0);
    conf_assert(c, gwf_test_header(res, "retry-after", 1) == NULL);
    conf_assert(c, gwf_test_header(res, "content-type", 1) == NULL);
    conf_assert(c, conf_body_is(res, "values\n"));
    conf_assert(c, strcmp(gwf_test_reply_details(res), "early_values") == 0);
    conf_assert(c, gwf_test_upstream_method(res) == NULL);
}

static void
test_early_prepared_values_replace_the_first_header_values(void **state)
{
    conf *c = *state;
    early_ext(c, 'A', "values");
    gwf_test_result *res = run_values(c, "A", "42", NULL, NULL);
    assert_values_reply(c, res, "42", "text/plain");
    conf_assert(c, conf_logged(c, "early A note: values=0"));
    conf_assert(c, !conf_logged(c, "early A request_headers"));
}

static void
test_early_prepared_values_replace_the_content_type(void **state)
{
    conf *c = *state;
    early_ext(c, 'A', "values");
    gwf_test_result *res = run_values(c, "A", "5", "application/json", NULL);
    assert_values_reply(c, res, "5", "application/json");
}

static void
test_early_prepared_values_are_trimmed_as_local_reply_values(void **state)
{
    conf *c = *state;
    early_ext(c, 'A', "values");
    gwf_test_result *res = run_values(c, "A", "pad", NULL, NULL);
    assert_values_reply(c, res, "7", "text/plain");
}

static void
test_early_prepared_values_of_count_zero_send_the_reply_as_prepared(
    void **state)
{
    conf *c = *state;
    early_ext(c, 'A', "values");
    gwf_test_result *res = run_values(c, "A", "42", NULL, "0");
    assert_values_reply(c, res, "0", "text/plain");
}

/* A refused value sends nothing: the plugin goes on, its stream hook
 * is refused the same, and the request reaches the upstream whole. */
static void
expect_values_refused(conf *c, const char *value, const char *count)
{
    gwf_test_result *res = run_values(c, "A", value, NULL, count);
    conf_assert(c, gwf_test_status(res) == 200);
    conf_assert(c, conf_count(c, "early A note: values=2") == 2);
    conf_assert(c, gwf_test_header(res, "x-fixed", 0) == NULL);
    conf_assert(c, gwf_test_header(res, "x-injected", 0) == NULL);
    conf_assert(c, conf_count(c, "early A request_headers") == 1);
}

static void
test_early_prepared_value_with_a_line_break_is_refused(void **state)
{
    conf *c = *state;
    early_ext(c, 'A', "values");
    expect_values_refused(c, "1\r\nx-injected: yes", NULL);
}

static void
test_early_prepared_value_with_a_control_byte_is_refused(void **state)
{
    conf *c = *state;
    early_ext(c, 'A', "values");
    expect_values_refused(c, "1\x7f", NULL);
}

static void
test_early_prepared_values_beyond_the_reply_headers_are_refused(void **state)
{
    conf *c = *state;
    early_ext(c, 'A', "values");
    expect_values_refused(c, "1", "5");
}

static void
test_early_prepared_values_null_with_a_count_are_refused(void **state)
{
    conf *c = *state;
    early_ext(c, 'A', "values");
    expect_values_refused(c, "1", "null");
}

/* All four headers replaced: the last one too. */
static void
test_early_prepared_values_may_replace_every_header(void **state)
{
    conf *c = *state;
    early_ext(c, 'A', "values");
    gwf_test_result *res = run_values(c, "A", "9", "text/html", "4");
    conf_assert(c, gwf_test_status(res) == 429);
    conf_assert(c, strcmp(gwf_test_header(res, "retry-after", 0), "9") == 0);
    conf_assert(
        c, strcmp(gwf_test_header(res, "content-type", 0), "text/html") == 0);
    conf_assert(c, strcmp(gwf_test_header(res, "x-fixed", 0), "v2") == 0);
    conf_assert(c, strcmp(gwf_test_header(res, "location", 0), "/moved") == 0);
}

/* From a stream hook (the probe after it completes streams, so the host
 * makes the stream): the values outlive the plugin's call, and the
 * probe sees the reply they make. */
static void
test_stream_prepared_values_are_copied_for_the_reply(void **state)
{
    conf *c = *state;
    early_ext(c, 'A', "values");
    conf_probe(c, 'P', NULL);
    gwf_test_result *res = run_values(c, "AP", "42", "text/csv", NULL);
    assert_values_reply(c, res, "42", "text/csv");
    conf_assert(c, !conf_logged(c, "early A request_early"));
    conf_assert(c, conf_count(c, "early A request_headers") == 1);
}

/* Behind another plugin, which could change the reply in its response
 * hooks: copied in as send_local_reply copies. */
static void
test_prepared_values_behind_another_plugin_are_its_reply(void **state)
{
    conf *c = *state;
    early_ext(c, 'A', "continue");
    early_ext(c, 'B', "values");
    gwf_test_result *res = run_values(c, "AB", "3", NULL, NULL);
    assert_values_reply(c, res, "3", "text/plain");
    conf_assert(c, conf_logged(c, "early B note: values=0"));
}

static void
test_early_prepared_values_out_of_memory_is_500(void **state)
{
    conf *c = *state;
    early_ext(c, 'A', "values");
    gwf_test_host_reply_memory_fails(c->h, 1);
    gwf_test_result *res = run_values(c, "A", "42", NULL, NULL);
    conf_assert(c, gwf_test_status(res) == 500);
    conf_assert(c, strcmp(gwf_test_reply_details(res), "gwf_no_memory") == 0);
    conf_assert(c, !conf_logged(c, "early A request_headers"));
}

/* A request for the "many" reply (17 headers: past the host's inline
 * room for values and for a copied reply's headers). */
static gwf_test_result *
run_many(conf *c, const char *chain, const char *value)
{
    gwf_test_request *req = conf_request(c, "GET", "/x", NULL);
    gwf_test_request_header(req, "x-value", value);
    gwf_test_request_header(req, "x-many", "1");
    return conf_run(c, chain, req);
}

static void
assert_many_reply(conf *c, gwf_test_result *res, const char *value)
{
    char name[8];
    conf_assert(c, gwf_test_status(res) == 429);
    for (int i = 0; i < 17; i++) {
        snprintf(name, sizeof name, "x-m%d", i);
        const char *v = gwf_test_header(res, name, 0);
        conf_assert(c, v && strcmp(v, value) == 0);
    }
    conf_assert(c, strcmp(gwf_test_reply_details(res), "early_many") == 0);
    conf_assert(c, conf_body_is(res, ""));
}

static void
test_early_prepared_values_of_seventeen_headers_are_all_replaced(void **state)
{
    conf *c = *state;
    early_ext(c, 'A', "values");
    assert_many_reply(c, run_many(c, "A", "61"), "61");
    conf_assert(c, !conf_logged(c, "early A request_headers"));
}

static void
test_stream_prepared_values_of_seventeen_headers_are_all_replaced(void **state)
{
    conf *c = *state;
    early_ext(c, 'A', "values");
    conf_probe(c, 'P', NULL);
    assert_many_reply(c, run_many(c, "AP", "62"), "62");
    conf_assert(c, conf_count(c, "early A request_headers") == 1);
}

static void
test_stream_prepared_values_out_of_memory_is_500(void **state)
{
    conf *c = *state;
    early_ext(c, 'A', "values");
    conf_probe(c, 'P', NULL);
    gwf_test_host_reply_memory_fails(c->h, 1);
    gwf_test_result *res = run_values(c, "AP", "42", NULL, NULL);
    conf_assert(c, gwf_test_status(res) == 500);
    conf_assert(c, strcmp(gwf_test_reply_details(res), "gwf_no_memory") == 0);
    conf_check_ended(c, "P");
}

/* An empty value is a value: the header is sent empty. */
static void
test_early_prepared_value_may_be_empty(void **state)
{
    conf *c = *state;
    early_ext(c, 'A', "values");
    gwf_test_result *res = run_values(c, "A", "", NULL, NULL);
    assert_values_reply(c, res, "", "text/plain");
}

/* After a reply the handle is dead, before the stream and in it. */
static void
expect_sent_once(conf *c, const char *chain)
{
    gwf_test_request *req = conf_request(c, "GET", "/x", NULL);
    gwf_test_request_header(req, "x-value", "8");
    gwf_test_request_header(req, "x-twice", "1");
    gwf_test_result *res = conf_run(c, chain, req);
    assert_values_reply(c, res, "8", "text/plain");
    conf_assert(c, conf_logged(c, "early A note: again=4"));
}

static void
test_early_prepared_values_sent_twice_are_refused_the_second_time(void **state)
{
    conf *c = *state;
    early_ext(c, 'A', "values");
    expect_sent_once(c, "A");
}

static void
test_stream_prepared_values_sent_twice_are_refused_the_second_time(void **state)
{
    conf *c = *state;
    early_ext(c, 'A', "values");
    conf_probe(c, 'P', NULL);
    expect_sent_once(c, "AP");
}

/* A handle the instance did not prepare (0) sends nothing. */
static void
test_prepared_values_of_a_handle_not_prepared_are_refused(void **state)
{
    conf *c = *state;
    early_ext(c, 'A', "values");
    gwf_test_request *req = conf_request(c, "GET", "/x", NULL);
    gwf_test_request_header(req, "x-value", "8");
    gwf_test_request_header(req, "x-forge", "1");
    gwf_test_result *res = conf_run(c, "A", req);
    conf_assert(c, gwf_test_status(res) == 200);
    conf_assert(c, conf_count(c, "early A note: values=2") == 2);
}

/* Only the first plugin's hook runs: a later one answers from its
 * stream hook, after the first one's. */
static void
test_early_is_called_for_the_first_plugin_only(void **state)
{
    conf *c = *state;
    early_ext(c, 'A', "continue");
    early_ext(c, 'B', "reply");
    gwf_test_result *res = run(c, "AB");
    conf_assert(c, gwf_test_status(res) == 429);
    conf_assert(c, strcmp(gwf_test_header(res, "x-early", 0), "B") == 0);
    conf_assert(c, conf_count(c, "early A request_early") == 1);
    conf_assert(c, !conf_logged(c, "early B request_early"));
    conf_assert(c, conf_count(c, "early A request_headers") == 1);
    conf_assert(c, conf_count(c, "early B request_headers") == 1);
}

/* A plugin later in the chain with stream_complete would miss the end
 * of a stream that was never made: the host does not skip it. */
static void
test_early_is_not_called_when_another_plugin_completes_streams(void **state)
{
    conf *c = *state;
    early_ext(c, 'A', "reply");
    conf_probe(c, 'B', NULL);
    gwf_test_result *res = run(c, "AB");
    conf_assert(c, gwf_test_status(res) == 429);
    conf_assert(c, !conf_logged(c, "early A request_early"));
    conf_assert(c, conf_count(c, "early A request_headers") == 1);
    conf_check_ended(c, "B");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_early_reply_is_the_answer_without_a_stream, conf_setup,
            conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_early_prepared_reply_is_sent_as_prepared, conf_setup,
            conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_early_continue_makes_the_stream_with_the_same_request_id,
            conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_early_answers_are_counted_as_local_replies, conf_setup,
            conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_early_handle_reads_and_replies_only, conf_setup,
            conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_early_handle_alone_writes_request_headers, conf_setup,
            conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_early_done_sends_the_changed_request_without_a_stream,
            conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_early_done_beside_another_plugin_is_500, conf_setup,
            conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_early_continue_after_a_change_is_500, conf_setup,
            conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_early_refused_write_then_continue_goes_on_to_the_stream,
            conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_early_done_attribute_is_not_found_in_stream_hooks, conf_setup,
            conf_teardown),
        cmocka_unit_test_setup_teardown(test_early_pause_without_answer_is_500,
                                        conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_early_refused_reply_goes_on_to_the_stream, conf_setup,
            conf_teardown),
        cmocka_unit_test_setup_teardown(test_early_reply_out_of_memory_is_500,
                                        conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_early_prepared_values_replace_the_first_header_values,
            conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_early_prepared_values_replace_the_content_type, conf_setup,
            conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_early_prepared_values_are_trimmed_as_local_reply_values,
            conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_early_prepared_values_of_count_zero_send_the_reply_as_prepared,
            conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_early_prepared_value_with_a_line_break_is_refused, conf_setup,
            conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_early_prepared_value_with_a_control_byte_is_refused,
            conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_early_prepared_values_beyond_the_reply_headers_are_refused,
            conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_early_prepared_values_null_with_a_count_are_refused,
            conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_early_prepared_values_may_replace_every_header, conf_setup,
            conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_stream_prepared_values_are_copied_for_the_reply, conf_setup,
            conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_prepared_values_behind_another_plugin_are_its_reply,
            conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_early_prepared_values_out_of_memory_is_500, conf_setup,
            conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_early_prepared_values_of_seventeen_headers_are_all_replaced,
            conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_stream_prepared_values_of_seventeen_headers_are_all_replaced,
            conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_stream_prepared_values_out_of_memory_is_500, conf_setup,
            conf_teardown),
        cmocka_unit_test_setup_teardown(test_early_prepared_value_may_be_empty,
                                        conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_early_prepared_values_sent_twice_are_refused_the_second_time,
            conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_stream_prepared_values_sent_twice_are_refused_the_second_time,
            conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_prepared_values_of_a_handle_not_prepared_are_refused,
            conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_early_is_called_for_the_first_plugin_only, conf_setup,
            conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_early_is_not_called_when_another_plugin_completes_streams,
            conf_setup, conf_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
