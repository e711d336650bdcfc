/*
 * test_stream_values.c - shared per-stream values and stream
 * information.
 *
 * abi.h: plugins in one chain leave typed values for each other with
 * value_set/value_get; setting a key again replaces it; an absent key is
 * GWF_ERR_NOT_FOUND. attribute() gives the client address, protocol and
 * a request id; stream_instance() the plugin's own instance.
 */
#include "conformance.h"

#include <stdio.h>
#include <string.h>

static void
test_values_set_by_one_plugin_are_read_by_the_next(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A',
               "value_set: {probe.user: alice, probe.count: 42, "
               "probe.admin: true, probe.claims: {sub: alice}}");
    conf_probe(c, 'B',
               "value_get: [probe.user, probe.count, probe.admin, "
               "probe.claims]");
    gwf_test_request *req = conf_request(c, "GET", "/values", NULL);

    conf_run(c, "AB", req);

    conf_assert(c, !conf_logged(c, "probe A note: value_set"));
    conf_assert(c, conf_logged(c, "probe B note: value probe.user type=0 "
                                  "=alice"));
    conf_assert(c, conf_logged(c, "probe B note: value probe.count type=2 "
                                  "=42"));
    conf_assert(c, conf_logged(c, "probe B note: value probe.admin type=3 "
                                  "=true"));
    conf_assert(c, conf_logged(c, "probe B note: value probe.claims type=4 "
                                  "={\"sub\":\"alice\"}"));
}

static void
test_value_not_set_is_not_found(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', "value_get: [probe.nobody]");
    gwf_test_request *req = conf_request(c, "GET", "/values", NULL);

    conf_run(c, "A", req);

    conf_assert(c, conf_logged(c, "probe A note: value probe.nobody "
                                  "status=1"));
}

static void
test_value_set_again_replaces_it(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', "value_set: {probe.k: one}");
    conf_probe(c, 'B', "value_set: {probe.k: 2}");
    conf_probe(c, 'C', "value_get: [probe.k]");
    gwf_test_request *req = conf_request(c, "GET", "/values", NULL);

    conf_run(c, "ABC", req);

    conf_assert(c, conf_logged(c, "probe C note: value probe.k type=2 =2"));
}

static void
test_values_do_not_leak_between_streams(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', "value_get: [probe.k]");
    conf_probe(c, 'B', "value_set: {probe.k: first}");
    gwf_test_request *req = conf_request(c, "GET", "/values", NULL);

    conf_run(c, "AB", req);
    conf_run(c, "AB", req);

    /* A reads before B sets, on each of two streams. */
    assert_int_equal(conf_count(c, "probe A note: value probe.k status=1"), 2);
}

static void
test_attributes_describe_the_stream(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', "log_attributes: true");
    gwf_test_request *req = conf_request(c, "GET", "/attrs", NULL);
    gwf_test_request_remote(req, "192.0.2.7");

    conf_run(c, "A", req);

    conf_assert(c, conf_logged(c, "probe A note: attr remote_address="
                                  "192.0.2.7"));
    conf_assert(c, conf_logged(c, "probe A note: attr protocol=HTTP/1.1"));
    conf_assert(c, conf_logged(c, "probe A note: attr tls=0"));
    conf_assert(c, conf_logged(c, "probe A note: attr request_id="));
    conf_assert(c, !conf_logged(c, "probe A note: attr request_id="
                                   "\n"));
    conf_assert(c, conf_logged(c, "probe A note: stream_instance matches"));
}

static void
test_upstream_answer_is_from_the_upstream(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', "log_attributes: true");
    gwf_test_request *req = conf_request(c, "GET", "/origin", NULL);

    gwf_test_result *res = conf_run(c, "A", req);

    assert_int_equal(gwf_test_status(res), 200);
    conf_assert(c, conf_logged(c, "probe A note: attr response_from_upstream"
                                  "=1"));
    /* Not known yet in request_headers, so not logged with the others. */
    assert_int_equal(conf_count(c, "attr response_from_upstream"), 1);
}

static void
test_host_answer_for_a_failed_upstream_is_not_from_it(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', "log_attributes: true");
    gwf_test_set_upstream(c->h, 0, NULL, NULL, 0);
    gwf_test_request *req = conf_request(c, "GET", "/origin", NULL);

    gwf_test_result *res = conf_run(c, "A", req);

    assert_int_equal(gwf_test_status(res), 502);
    conf_assert(c, conf_logged(c, "probe A note: attr response_from_upstream"
                                  "=0"));
}

static void
test_request_ids_differ_between_streams(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', "log_attributes: true");
    gwf_test_request *req = conf_request(c, "GET", "/ids", NULL);

    conf_run(c, "A", req);
    conf_run(c, "A", req);

    char first[256];
    const char *line = conf_line(c, "probe A note: attr request_id=");
    assert_non_null(line);
    snprintf(first, sizeof(first), "%s", strstr(line, "request_id="));
    assert_int_equal(conf_count(c, first), 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_values_set_by_one_plugin_are_read_by_the_next, conf_setup,
            conf_teardown),
        cmocka_unit_test_setup_teardown(test_value_not_set_is_not_found,
                                        conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(test_value_set_again_replaces_it,
                                        conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(test_values_do_not_leak_between_streams,
                                        conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(test_attributes_describe_the_stream,
                                        conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_upstream_answer_is_from_the_upstream, conf_setup,
            conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_host_answer_for_a_failed_upstream_is_not_from_it, conf_setup,
            conf_teardown),
        cmocka_unit_test_setup_teardown(test_request_ids_differ_between_streams,
                                        conf_setup, conf_teardown),
    };
    return cmocka_run_group_tests_name("stream_values", tests, NULL, NULL);
}
