/*
 * test_header_bytes.c - the host refuses header names and values that
 * are not HTTP, whoever the plugin is.
 *
 * abi.h: a header name is a token (RFC 9110 tchar), a value is
 * field-vchar / SP / HTAB / obs-text: any other control byte (0x00-0x1f
 * but HTAB, and 0x7f) makes header_set, header_add and send_local_reply
 * return GWF_ERR_BAD_ARGUMENT and change nothing. Leading and trailing
 * SP/HTAB are not part of a value: the host strips them. The probe
 * plugin sets the bytes from its manifest through the plain host table,
 * so nothing but the host stands between it and the wire - the point is
 * that a third-party plugin cannot inject control bytes. (NUL cannot be
 * written in the probe's config, a C string; the SDK tests cover it, and
 * the host applies the same byte rule.)
 */
#include "conformance.h"

#include <stdio.h>
#include <string.h>

#define BAD_ARGUMENT "status=2"

/* 1 if the probe noted that the host answered GWF_ERR_BAD_ARGUMENT to
 * `call` ("set request x-bad"). */
static int
refused(conf *c, const char *call)
{
    char note[160];
    snprintf(note, sizeof(note), "probe A note: %s " BAD_ARGUMENT, call);
    return conf_logged(c, note);
}

/* The probe sets request header x-bad to `yaml_value` (a YAML scalar);
 * the host must refuse it and the upstream must not see it. */
static void
assert_request_value_refused(conf *c, const char *yaml_value)
{
    char fields[128];
    snprintf(fields, sizeof(fields), "set_request_header: {x-bad: %s}",
             yaml_value);
    conf_probe(c, 'A', fields);
    gwf_test_request *req = conf_request(c, "GET", "/h", NULL);

    gwf_test_result *res = conf_run(c, "A", req);

    conf_assert(c, refused(c, "set request x-bad"));
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_null(gwf_test_upstream_header(res, "x-bad", 0));
}

static void
test_request_value_with_soh_0x01_is_refused(void **state)
{
    assert_request_value_refused(*state, "\"a\\x01b\"");
}

static void
test_request_value_with_unit_separator_0x1f_is_refused(void **state)
{
    assert_request_value_refused(*state, "\"a\\x1fb\"");
}

static void
test_request_value_with_del_0x7f_is_refused(void **state)
{
    assert_request_value_refused(*state, "\"a\\x7fb\"");
}

static void
test_request_value_with_cr_is_refused(void **state)
{
    assert_request_value_refused(*state, "\"a\\rb\"");
}

static void
test_request_value_with_lf_is_refused(void **state)
{
    assert_request_value_refused(*state, "\"a\\nx-injected: 1\"");
}

static void
test_request_value_ending_with_a_control_byte_is_refused(void **state)
{
    /* Trailing white space is trimmed; a trailing control byte is not
     * white space. */
    assert_request_value_refused(*state, "\"a\\x0b\"");
}

static void
test_response_value_with_soh_0x01_is_refused_and_never_reaches_client(
    void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', "add_response_header: {x-bad: \"a\\x01b\"}");
    gwf_test_set_upstream(c->h, 200, NULL, "ok", 2);
    gwf_test_request *req = conf_request(c, "GET", "/h", NULL);

    gwf_test_result *res = conf_run(c, "A", req);

    conf_assert(c, refused(c, "add response x-bad"));
    assert_int_equal(gwf_test_status(res), 200);
    assert_null(gwf_test_header(res, "x-bad", 0));
    conf_assert(c, conf_body_is(res, "ok"));
}

static void
test_local_reply_with_a_control_byte_in_a_header_is_refused(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A',
               "actions: {request_headers: 'reply:403'}, "
               "reply: {body: denied, headers: {x-bad: \"a\\x01b\"}}");
    gwf_test_request *req = conf_request(c, "GET", "/h", NULL);

    gwf_test_result *res = conf_run(c, "A", req);

    /* The reply is refused whole; the probe then lets the request go. */
    conf_assert(c, conf_logged(c, "probe A note: reply=2"));
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_null(gwf_test_header(res, "x-bad", 0));
}

static void
test_local_reply_header_name_that_is_not_a_token_is_refused(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A',
               "actions: {request_headers: 'reply:403'}, "
               "reply: {body: denied, headers: {'x bad': ok}}");
    gwf_test_request *req = conf_request(c, "GET", "/h", NULL);

    gwf_test_result *res = conf_run(c, "A", req);

    conf_assert(c, conf_logged(c, "probe A note: reply=2"));
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
}

static void
test_header_name_that_is_not_a_token_is_refused(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A',
               "set_request_header: {'x bad': '1', 'x@y': '1', "
               "\"x\\x01\": '1'}");
    gwf_test_request *req = conf_request(c, "GET", "/h", NULL);

    gwf_test_result *res = conf_run(c, "A", req);

    conf_assert(c, refused(c, "set request x bad"));
    conf_assert(c, refused(c, "set request x@y"));
    conf_assert(c, conf_count(c, BAD_ARGUMENT) == 3);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
}

static void
test_tab_inside_a_value_is_allowed(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', "set_request_header: {x-tab: \"a\\tb\"}");
    gwf_test_request *req = conf_request(c, "GET", "/h", NULL);

    gwf_test_result *res = conf_run(c, "A", req);

    conf_assert(c, !conf_logged(c, "status="));
    assert_non_null(gwf_test_upstream_header(res, "x-tab", 0));
    assert_string_equal(gwf_test_upstream_header(res, "x-tab", 0), "a\tb");
}

static void
test_obs_text_in_a_value_is_allowed(void **state)
{
    conf *c = *state;
    /* U+00E9 in the manifest: the bytes 0xc3 0xa9 in the value. */
    conf_probe(c, 'A', "set_response_header: {x-obs: \"caf\\u00e9\"}");
    gwf_test_set_upstream(c->h, 200, NULL, NULL, 0);
    gwf_test_request *req = conf_request(c, "GET", "/h", NULL);

    gwf_test_result *res = conf_run(c, "A", req);

    conf_assert(c, !conf_logged(c, "status="));
    assert_non_null(gwf_test_header(res, "x-obs", 0));
    assert_string_equal(gwf_test_header(res, "x-obs", 0), "caf\xc3\xa9");
}

static void
test_leading_and_trailing_whitespace_is_trimmed(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', "set_request_header: {x-pad: \" \\t a b \\t \"}");
    conf_probe(c, 'B', "log_request_header: [x-pad]");
    gwf_test_request *req = conf_request(c, "GET", "/h", NULL);

    gwf_test_result *res = conf_run(c, "AB", req);

    /* The next plugin reads what the upstream receives. */
    const char *line = conf_line(c, "probe B note: request x-pad=");
    conf_assert(c, line != NULL);
    assert_string_equal(strstr(line, "x-pad="), "x-pad=a b");
    assert_string_equal(gwf_test_upstream_header(res, "x-pad", 0), "a b");
}

static void
test_method_with_a_space_is_refused(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', "set_request_header: {':method': 'GET /evil'}");
    gwf_test_request *req = conf_request(c, "GET", "/h", NULL);

    gwf_test_result *res = conf_run(c, "A", req);

    conf_assert(c, refused(c, "set request :method"));
    assert_string_equal(gwf_test_upstream_method(res), "GET");
}

static void
test_path_with_a_space_is_refused(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', "set_request_header: {':path': '/a HTTP/1.1'}");
    gwf_test_request *req = conf_request(c, "GET", "/h", NULL);

    gwf_test_result *res = conf_run(c, "A", req);

    conf_assert(c, refused(c, "set request :path"));
    assert_string_equal(gwf_test_upstream_path(res), "/h");
}

#define TEST(f) cmocka_unit_test_setup_teardown(f, conf_setup, conf_teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(test_request_value_with_soh_0x01_is_refused),
        TEST(test_request_value_with_unit_separator_0x1f_is_refused),
        TEST(test_request_value_with_del_0x7f_is_refused),
        TEST(test_request_value_with_cr_is_refused),
        TEST(test_request_value_with_lf_is_refused),
        TEST(test_request_value_ending_with_a_control_byte_is_refused),
        TEST(
            test_response_value_with_soh_0x01_is_refused_and_never_reaches_client),
        TEST(test_local_reply_with_a_control_byte_in_a_header_is_refused),
        TEST(test_local_reply_header_name_that_is_not_a_token_is_refused),
        TEST(test_header_name_that_is_not_a_token_is_refused),
        TEST(test_tab_inside_a_value_is_allowed),
        TEST(test_obs_text_in_a_value_is_allowed),
        TEST(test_leading_and_trailing_whitespace_is_trimmed),
        TEST(test_method_with_a_space_is_refused),
        TEST(test_path_with_a_space_is_refused),
    };
    return cmocka_run_group_tests_name("header_bytes", tests, NULL, NULL);
}
