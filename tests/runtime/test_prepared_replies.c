/*
 * test_prepared_replies.c - prepared local replies (abi.h 0.4:
 * reply_prepare, send_prepared_reply) as a plugin sees them: the
 * `reply_probe` test plugin (reply_probe.c) on the in-process test host.
 *
 * A prepared reply must be indistinguishable from send_local_reply with
 * the same arguments - for the client, for the plugins before the sender
 * (which may change it, on their stream only) and for the plugins reading
 * the response in stream_complete - and the host must refuse, at prepare
 * time and keeping nothing, what send_local_reply would refuse, and at
 * send time every handle the instance did not get. The probe logs what
 * the host said; each test asserts the exact line.
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

/* The reply every test prepares: values with white space to trim, a
 * repeated name, a Content-Type, a body and details. */
#define FIXED                                                                  \
    "status: 201, details: probe_fixed, body: \"hello\\n\", headers: "         \
    "[[X-A, \"  one \"], [x-b, two], [x-a, three], [content-type, "            \
    "text/plain]]"

/* The test host names every route "test". */
#define REPLIES_SERIES                                                         \
    "gwf_local_replies_total{instance=\"test\",status=\"201\","                \
    "details=\"probe_fixed\"}"

static void
load_extension(gwf_test_host *h, const char *name, const char *config)
{
    char doc[8192];
    snprintf(doc, sizeof doc,
             "apiVersion: gateway.kgateway.dev/v1alpha1\n"
             "kind: GatewayExtension\n"
             "metadata: {name: %s, namespace: default}\n"
             "spec:\n"
             "  plugin:\n"
             "    name: reply_probe\n"
             "    config: {%s}\n",
             name, config);
    if (gwf_test_load_text(h, doc) != 0)
        fail_msg("manifest %s: %s", name, gwf_test_error(h));
}

/* One request through the extensions `a`, then `b` (may be NULL). */
static gwf_test_result *
run_chain(gwf_test_host *h, const char *a, const char *b, const char *edit)
{
    const char *refs[] = {a, b, NULL};
    gwf_test_route route = {NULL, refs, NULL, NULL};
    gwf_test_request *req = gwf_test_request_new("GET", "/");
    if (edit)
        gwf_test_request_header(req, "x-edit", edit);
    gwf_test_result *res = gwf_test_run(h, &route, req);
    gwf_test_request_free(req);
    if (!res)
        fail_msg("run %s: %s", a, gwf_test_error(h));
    return res;
}

static void
assert_log(const gwf_test_host *h, const char *line)
{
    if (!gwf_test_log_contains(h, line))
        fail_msg("no log line with \"%s\" in:\n%s", line, gwf_test_logs(h));
}

/* The client got exactly the FIXED reply. */
static void
assert_fixed_reply(const gwf_test_result *res)
{
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
    assert_int_equal(gwf_test_status(res), 201);
    assert_string_equal(gwf_test_header(res, "x-a", 0), "one");
    assert_string_equal(gwf_test_header(res, "x-a", 1), "three");
    assert_null(gwf_test_header(res, "x-a", 2));
    assert_string_equal(gwf_test_header(res, "x-b", 0), "two");
    assert_string_equal(gwf_test_header(res, "content-type", 0), "text/plain");
    assert_null(gwf_test_header(res, "x-edited", 0));
    size_t len = 0;
    const char *body = gwf_test_body(res, &len);
    assert_int_equal(len, 6);
    assert_memory_equal(body, "hello\n", 6);
    assert_string_equal(gwf_test_reply_details(res), "probe_fixed");
}

/* The FIXED reply as the editor changes it ("x-edit: 1"): x-a replaced
 * (both of the reply's own lines go, one of the editor's comes), x-edited
 * added, :status 418. */
static void
assert_edited_reply(const gwf_test_result *res)
{
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
    assert_int_equal(gwf_test_status(res), 418);
    assert_string_equal(gwf_test_header(res, "x-edited", 0), "yes");
    assert_string_equal(gwf_test_header(res, "x-a", 0), "changed");
    assert_null(gwf_test_header(res, "x-a", 1));
    assert_string_equal(gwf_test_header(res, "x-b", 0), "two");
    assert_string_equal(gwf_test_header(res, "content-type", 0), "text/plain");
}

static void
test_prepared_reply_is_what_send_local_reply_gives(void **state)
{
    (void)state;
    gwf_test_host *h = gwf_test_host_new();
    load_extension(h, "local", "mode: local, " FIXED);
    load_extension(h, "prepared", "mode: prepared, " FIXED);
    load_extension(h, "reader", "mode: reader");
    /* A reader after each replier logs the headers in their order. */
    gwf_test_result *local = run_chain(h, "local", "reader", NULL);
    assert_fixed_reply(local);
    assert_true(gwf_test_metric(h, REPLIES_SERIES) == 1);
    assert_log(h, "reader saw 201 X-A=one|x-b=two|x-a=three|"
                  "content-type=text/plain\n");
    gwf_test_result *prepared = run_chain(h, "prepared", "reader", NULL);
    assert_fixed_reply(prepared);
    assert_log(h, "default/prepared: prepared=0 index=1\n");
    /* Both lines are the same: two of them now. */
    const char *logs = gwf_test_logs(h);
    const char *line = "reader saw 201 X-A=one|x-b=two|x-a=three|"
                       "content-type=text/plain\n";
    const char *first = strstr(logs, line);
    assert_non_null(first);
    assert_non_null(strstr(first + 1, line));
    /* Both counted in the one series of that status and details. */
    assert_true(gwf_test_metric(h, REPLIES_SERIES) == 2);
    gwf_test_result_free(local);
    gwf_test_result_free(prepared);
    gwf_test_host_free(h);
}

static void
test_long_details_are_cut_as_send_local_reply_cuts_them(void **state)
{
    (void)state;
    gwf_test_host *h = gwf_test_host_new();
    const char *details = "d123456789d123456789d123456789d123456789"
                          "d123456789d123456789d123456789d123456789";
    char config[256];
    snprintf(config, sizeof config, "mode: local, status: 403, details: %s",
             details);
    load_extension(h, "local", config);
    snprintf(config, sizeof config, "mode: prepared, status: 403, details: %s",
             details);
    load_extension(h, "prepared", config);
    gwf_test_result *local = run_chain(h, "local", NULL, NULL);
    gwf_test_result *prepared = run_chain(h, "prepared", NULL, NULL);
    assert_int_equal(gwf_test_status(prepared), 403);
    const char *cut = gwf_test_reply_details(local);
    assert_non_null(cut);
    assert_true(strlen(cut) < strlen(details));
    assert_string_equal(gwf_test_reply_details(prepared), cut);
    gwf_test_result_free(local);
    gwf_test_result_free(prepared);
    gwf_test_host_free(h);
}

static void
test_prepare_from_a_stream_hook_is_the_wrong_phase(void **state)
{
    (void)state;
    gwf_test_host *h = gwf_test_host_new();
    load_extension(h, "live", "mode: in_stream, " FIXED);
    gwf_test_result *res = run_chain(h, "live", NULL, NULL);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    /* 3 is GWF_ERR_WRONG_PHASE. */
    assert_string_equal(gwf_test_upstream_header(res, "x-probe", 0),
                        "prepare=3");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_prepare_from_route_config_create_is_sent_by_its_route(void **state)
{
    (void)state;
    gwf_test_host *h = gwf_test_host_new();
    /* reply_probe built as jwt_auth: jwtAuth gives it a route config. */
    if (gwf_test_load_text(h, "apiVersion: gateway.kgateway.dev/v1alpha1\n"
                              "kind: GatewayExtension\n"
                              "metadata: {name: jwt, namespace: default}\n"
                              "spec:\n"
                              "  jwt: {}\n"
                              "---\n"
                              "apiVersion: gateway.kgateway.dev/v1alpha1\n"
                              "kind: TrafficPolicy\n"
                              "metadata: {name: api, namespace: default}\n"
                              "spec:\n"
                              "  jwtAuth: {extensionRef: {name: jwt}}\n") != 0)
        fail_msg("manifest: %s", gwf_test_error(h));
    gwf_test_route route = {"api", NULL, NULL, NULL};
    gwf_test_request *req = gwf_test_request_new("GET", "/");
    gwf_test_result *res = gwf_test_run(h, &route, req);
    if (!res)
        fail_msg("run: %s", gwf_test_error(h));
    assert_log(h, "route prepare=0\n");
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
    assert_int_equal(gwf_test_status(res), 203);
    size_t len = 0;
    const char *body = gwf_test_body(res, &len);
    assert_int_equal(len, 10);
    assert_memory_equal(body, "from route", 10);
    assert_string_equal(gwf_test_reply_details(res), "route_probe");
    gwf_test_result_free(res);
    gwf_test_request_free(req);
    gwf_test_host_free(h);
}

static void
test_refused_replies_are_not_kept(void **state)
{
    (void)state;
    gwf_test_host *h = gwf_test_host_new();
    load_extension(h, "refusals", "mode: refusals, " FIXED);
    gwf_test_result *res = run_chain(h, "refusals", NULL, NULL);
    /* Every refusal is 2 (GWF_ERR_BAD_ARGUMENT): status 199 and 600, CR,
     * LF, NUL, ":status", ":path", an empty name, a space in a name,
     * NULL headers with a count, a NULL `reply`, a NULL instance; the
     * good reply then gets the first index. */
    assert_log(h, "refusals=2,2,2,2,2,2,2,2,2,2,2,2 good=0 index=1\n");
    assert_fixed_reply(res);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_more_than_4096_replies_for_one_instance_is_no_memory(void **state)
{
    (void)state;
    gwf_test_host *h = gwf_test_host_new();
    load_extension(h, "many", "mode: limit, count: 4097, " FIXED);
    gwf_test_result *res = run_chain(h, "many", NULL, NULL);
    /* 6 is GWF_ERR_NO_MEMORY; the 4096th reply still answers. */
    assert_log(h, "limit ok=4096 fail=6\n");
    assert_fixed_reply(res);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_4096_replies_for_one_instance_are_all_kept(void **state)
{
    (void)state;
    gwf_test_host *h = gwf_test_host_new();
    load_extension(h, "many", "mode: limit, count: 4096, " FIXED);
    gwf_test_result *res = run_chain(h, "many", NULL, NULL);
    assert_log(h, "limit ok=4096 fail=-1\n");
    assert_fixed_reply(res);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* The forged handle is refused and the request goes on to the upstream. */
static void
expect_forged_refused(gwf_test_host *h, const char *name)
{
    gwf_test_result *res = run_chain(h, name, NULL, NULL);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_int_equal(gwf_test_status(res), 200);
    /* 2 is GWF_ERR_BAD_ARGUMENT. */
    assert_string_equal(gwf_test_upstream_header(res, "x-probe", 0),
                        "forged=2");
    gwf_test_result_free(res);
}

static void
test_forged_handles_are_refused_and_the_chain_continues(void **state)
{
    (void)state;
    gwf_test_host *h = gwf_test_host_new();
    load_extension(h, "zero", "mode: forge, forge: zero, " FIXED);
    load_extension(h, "random", "mode: forge, forge: random, " FIXED);
    load_extension(h, "range", "mode: forge, forge: range, " FIXED);
    load_extension(h, "low", "mode: forge, forge: low, " FIXED);
    expect_forged_refused(h, "zero");
    expect_forged_refused(h, "random");
    expect_forged_refused(h, "range");
    expect_forged_refused(h, "low");
    gwf_test_host_free(h);
}

static void
test_another_instances_handle_is_refused(void **state)
{
    (void)state;
    gwf_test_host *h = gwf_test_host_new();
    /* "first" tries a handle of nobody's (0), then leaves its own for
     * "second", whose own handle has the same index (1). */
    load_extension(h, "first", "mode: forge, forge: zero, " FIXED);
    load_extension(h, "second", "mode: forge, forge: other, " FIXED);
    expect_forged_refused(h, "first");
    assert_log(h, "default/first: prepared=0 index=1\n");
    expect_forged_refused(h, "second");
    assert_log(h, "default/second: prepared=0 index=1\n");
    gwf_test_host_free(h);
}

static void
test_handle_of_a_rejected_config_is_refused(void **state)
{
    (void)state;
    gwf_test_host *h = gwf_test_host_new();
    /* It prepares, then refuses its config: what it prepared is freed
     * (the leak check says so) and its handle is refused. */
    load_extension(h, "rejected", "mode: prepared, reject: true, " FIXED);
    load_extension(h, "later", "mode: forge, forge: stale, " FIXED);
    const char *refs[] = {"rejected", NULL};
    gwf_test_route route = {NULL, refs, NULL, NULL};
    gwf_test_request *req = gwf_test_request_new("GET", "/");
    assert_null(gwf_test_run(h, &route, req));
    gwf_test_request_free(req);
    assert_log(h, "default/rejected: prepared=0 index=1\n");
    expect_forged_refused(h, "later");
    gwf_test_host_free(h);
}

static void
test_prepared_reply_sent_twice_is_refused_the_second_time(void **state)
{
    (void)state;
    gwf_test_host *h = gwf_test_host_new();
    load_extension(h, "twice", "mode: twice, " FIXED);
    gwf_test_result *res = run_chain(h, "twice", NULL, NULL);
    /* 4 is GWF_ERR_STREAM_GONE: the handle is dead after the reply. */
    assert_log(h, "twice first=0 second=4\n");
    assert_fixed_reply(res);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_prepared_reply_after_resume_is_refused(void **state)
{
    (void)state;
    gwf_test_host *h = gwf_test_host_new();
    load_extension(h, "resume", "mode: resume, " FIXED);
    gwf_test_result *res = run_chain(h, "resume", NULL, NULL);
    assert_log(h, "resume=0 then=4\n");
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_int_equal(gwf_test_status(res), 200);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_plugin_before_sees_what_send_local_reply_would_show_it(void **state)
{
    (void)state;
    gwf_test_host *h = gwf_test_host_new();
    load_extension(h, "editor", "mode: editor");
    load_extension(h, "local", "mode: local, " FIXED);
    load_extension(h, "prepared", "mode: prepared, " FIXED);
    gwf_test_result *local = run_chain(h, "editor", "local", NULL);
    gwf_test_result *prepared = run_chain(h, "editor", "prepared", NULL);
    assert_fixed_reply(local);
    assert_fixed_reply(prepared);
    const char *line = "default/editor: editor saw 201 X-A=one|x-b=two|"
                       "x-a=three|content-type=text/plain\n";
    const char *first = strstr(gwf_test_logs(h), line);
    if (!first || !strstr(first + 1, line))
        fail_msg("two lines \"%s\" expected in:\n%s", line, gwf_test_logs(h));
    gwf_test_result_free(local);
    gwf_test_result_free(prepared);
    gwf_test_host_free(h);
}

static void
test_plugin_before_the_replier_sees_and_changes_the_reply(void **state)
{
    (void)state;
    gwf_test_host *h = gwf_test_host_new();
    load_extension(h, "editor", "mode: editor");
    load_extension(h, "prepared", "mode: prepared, " FIXED);
    gwf_test_result *res = run_chain(h, "editor", "prepared", "1");
    assert_log(h, "editor saw 201 X-A=one|x-b=two|x-a=three|"
                  "content-type=text/plain\n");
    assert_log(h, "editor set=0,0,0\n");
    assert_edited_reply(res);
    size_t len = 0;
    const char *body = gwf_test_body(res, &len);
    assert_int_equal(len, 6);
    assert_memory_equal(body, "hello\n", 6);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* The reply of extension `replier` (FIXED), changed by the editor before
 * it on one stream, then sent whole on the streams after it (the same
 * memory, reused), with the editor before it and alone. */
static void
assert_change_stays_on_its_stream(const char *replier, const char *config)
{
    gwf_test_host *h = gwf_test_host_new();
    load_extension(h, "editor", "mode: editor");
    load_extension(h, replier, config);
    gwf_test_result *res = run_chain(h, "editor", replier, "1");
    assert_edited_reply(res);
    gwf_test_result_free(res);
    for (int i = 0; i < 3; i++) {
        res = run_chain(h, "editor", replier, NULL);
        assert_fixed_reply(res);
        gwf_test_result_free(res);
        res = run_chain(h, replier, NULL, NULL);
        assert_fixed_reply(res);
        gwf_test_result_free(res);
    }
    gwf_test_host_free(h);
}

static void
test_a_change_by_a_plugin_before_does_not_reach_the_next_stream(void **state)
{
    (void)state;
    /* The prepared reply goes through a copy when the editor is before
     * it, by reference when it is alone. */
    assert_change_stays_on_its_stream("prepared", "mode: prepared, " FIXED);
}

static void
test_a_local_reply_changed_by_a_plugin_before_leaves_the_next_whole(
    void **state)
{
    (void)state;
    /* send_local_reply's headers are kept in the stream's reused block;
     * the editor's changes add lines of their own and drop block ones. */
    assert_change_stays_on_its_stream("local", "mode: local, " FIXED);
}

static void
test_local_replies_of_other_sizes_keep_their_own_headers(void **state)
{
    (void)state;
    char config[7000], value[6001];
    gwf_test_host *h = gwf_test_host_new();
    /* A 6,000-byte value: more than a reused stream keeps room for. */
    memset(value, 'v', sizeof value - 1);
    value[sizeof value - 1] = '\0';
    snprintf(config, sizeof config,
             "mode: local, status: 429, details: big, headers: [[x-big, %s], "
             "[retry-after, \"7\"]]",
             value);
    load_extension(h, "big", config);
    load_extension(h, "small",
                   "mode: local, status: 403, details: small, headers: "
                   "[[x-s, \"1\"]]");
    load_extension(h, "local", "mode: local, " FIXED);
    const char *order[] = {"small", "local", "big", "small", "big", "local"};
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
            gwf_test_result *res = run_chain(h, order[i], NULL, NULL);
            if (strcmp(order[i], "local") == 0) {
                assert_fixed_reply(res);
            } else if (strcmp(order[i], "small") == 0) {
                assert_int_equal(gwf_test_status(res), 403);
                assert_string_equal(gwf_test_header(res, "x-s", 0), "1");
                assert_null(gwf_test_header(res, "x-s", 1));
                assert_null(gwf_test_header(res, "x-big", 0));
                assert_null(gwf_test_header(res, "x-a", 0));
            } else {
                assert_int_equal(gwf_test_status(res), 429);
                assert_string_equal(gwf_test_header(res, "x-big", 0), value);
                assert_string_equal(gwf_test_header(res, "retry-after", 0),
                                    "7");
                assert_null(gwf_test_header(res, "x-s", 0));
            }
            gwf_test_result_free(res);
        }
    }
    assert_int_equal(gwf_test_pending(h), 0);
    gwf_test_host_free(h);
}

static void
test_stream_complete_after_the_replier_reads_the_reply(void **state)
{
    (void)state;
    gwf_test_host *h = gwf_test_host_new();
    load_extension(h, "prepared", "mode: prepared, " FIXED);
    load_extension(h, "reader", "mode: reader");
    for (int i = 0; i < 2; i++) {
        gwf_test_result *res = run_chain(h, "prepared", "reader", NULL);
        assert_fixed_reply(res);
        gwf_test_result_free(res);
    }
    const char *line = "default/reader: reader saw 201 X-A=one|x-b=two|"
                       "x-a=three|content-type=text/plain\n";
    const char *first = strstr(gwf_test_logs(h), line);
    if (!first || !strstr(first + 1, line))
        fail_msg("two lines \"%s\" expected in:\n%s", line, gwf_test_logs(h));
    gwf_test_host_free(h);
}

static void
test_a_thousand_streams_send_one_prepared_reply(void **state)
{
    (void)state;
    gwf_test_host *h = gwf_test_host_new();
    load_extension(h, "prepared", "mode: prepared, " FIXED);
    load_extension(h, "editor", "mode: editor");
    for (int i = 0; i < 1000; i++) {
        /* Every tenth through a plugin before it (the copied path). */
        gwf_test_result *res = i % 10
                                   ? run_chain(h, "prepared", NULL, NULL)
                                   : run_chain(h, "editor", "prepared", NULL);
        assert_fixed_reply(res);
        gwf_test_result_free(res);
    }
    assert_int_equal(gwf_test_pending(h), 0);
    assert_true(gwf_test_metric(h, REPLIES_SERIES) == 1000);
    gwf_test_host_free(h);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prepared_reply_is_what_send_local_reply_gives),
        cmocka_unit_test(
            test_long_details_are_cut_as_send_local_reply_cuts_them),
        cmocka_unit_test(test_prepare_from_a_stream_hook_is_the_wrong_phase),
        cmocka_unit_test(
            test_prepare_from_route_config_create_is_sent_by_its_route),
        cmocka_unit_test(test_refused_replies_are_not_kept),
        cmocka_unit_test(
            test_more_than_4096_replies_for_one_instance_is_no_memory),
        cmocka_unit_test(test_4096_replies_for_one_instance_are_all_kept),
        cmocka_unit_test(
            test_forged_handles_are_refused_and_the_chain_continues),
        cmocka_unit_test(test_another_instances_handle_is_refused),
        cmocka_unit_test(test_handle_of_a_rejected_config_is_refused),
        cmocka_unit_test(
            test_prepared_reply_sent_twice_is_refused_the_second_time),
        cmocka_unit_test(test_prepared_reply_after_resume_is_refused),
        cmocka_unit_test(
            test_plugin_before_sees_what_send_local_reply_would_show_it),
        cmocka_unit_test(
            test_plugin_before_the_replier_sees_and_changes_the_reply),
        cmocka_unit_test(
            test_a_change_by_a_plugin_before_does_not_reach_the_next_stream),
        cmocka_unit_test(
            test_a_local_reply_changed_by_a_plugin_before_leaves_the_next_whole),
        cmocka_unit_test(
            test_local_replies_of_other_sizes_keep_their_own_headers),
        cmocka_unit_test(
            test_stream_complete_after_the_replier_reads_the_reply),
        cmocka_unit_test(test_a_thousand_streams_send_one_prepared_reply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
