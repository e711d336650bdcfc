/*
 * test_direct_response.c - the direct_response plugin on the in-process
 * test host: what the client gets, what the upstream never sees, the
 * metric, and every config error with the message an operator reads.
 *
 * Each test loads one DirectResponse document named default/hello (most
 * as YAML with a flow-style spec, which keeps the config on one line),
 * runs one request through a route that uses it, and checks every
 * observable result. The plugin is found through GWF_PLUGIN_PATH, which
 * meson points at the build directory of the plugin.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <gwf/testing.h>

#define REPLIES_404                                                            \
    "gwf_direct_response_replies_total{instance=\"default/hello\","            \
    "status=\"404\"}"

/* A DirectResponse document default/hello with `spec` as given (YAML). */
static const char *
manifest(const char *spec)
{
    static char text[16384];
    int n = snprintf(text, sizeof(text),
                     "apiVersion: gateway.kgateway.dev/v1alpha1\n"
                     "kind: DirectResponse\n"
                     "metadata:\n"
                     "  name: hello\n"
                     "  namespace: default\n"
                     "spec: %s\n",
                     spec);
    assert_true(n > 0 && (size_t)n < sizeof(text));
    return text;
}

/* "{status: 200, body: aaa...}" with a body of `len` bytes. */
static const char *
spec_with_body_of(size_t len)
{
    static char spec[8192];
    const char *head = "{status: 200, body: ";
    size_t head_len = strlen(head);

    assert_true(head_len + len + 2 <= sizeof(spec));
    memcpy(spec, head, head_len);
    memset(spec + head_len, 'a', len);
    memcpy(spec + head_len + len, "}", 2);
    return spec;
}

static gwf_test_host *
host_with(const char *text)
{
    gwf_test_host *h = gwf_test_host_new();
    assert_non_null(h);
    if (gwf_test_load_text(h, text) != 0)
        fail_msg("load: %s", gwf_test_error(h));
    return h;
}

/* GET / through the route that uses default/hello. */
static gwf_test_result *
run_hello(gwf_test_host *h)
{
    const gwf_test_route route = {.direct_response = "default/hello"};
    gwf_test_request *req = gwf_test_request_new("GET", "/");
    gwf_test_result *res;

    assert_non_null(req);
    res = gwf_test_run(h, &route, req);
    gwf_test_request_free(req);
    if (!res)
        fail_msg("run: %s", gwf_test_error(h));
    return res;
}

static void
assert_body(const gwf_test_result *res, const char *want)
{
    size_t len = 0;
    const char *body = gwf_test_body(res, &len);

    assert_int_equal(len, strlen(want));
    if (len > 0)
        assert_memory_equal(body, want, len);
}

/* The config is refused: the error names `field` and says `message`. */
static void
assert_config_error(const char *spec, const char *field, const char *message)
{
    gwf_test_host *h = host_with(manifest(spec));
    const char *err;

    assert_int_equal(gwf_test_validate(h), -1);
    err = gwf_test_error(h);
    assert_non_null(err);
    if (!strstr(err, field) || !strstr(err, message))
        fail_msg("want field \"%s\" and \"%s\" in:\n%s", field, message, err);
    gwf_test_host_free(h);
}

/* -- Replies ------------------------------------------------------------ */

static void
test_status_and_body_are_returned(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(manifest("{status: 404, body: nope}"));
    gwf_test_result *res = run_hello(h);

    assert_int_equal(gwf_test_status(res), 404);
    assert_body(res, "nope");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_reply_is_local_and_upstream_never_sees_the_request(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(manifest("{status: 200, body: hi}"));
    gwf_test_result *res;

    gwf_test_set_upstream(h, 502, NULL, "upstream", 8);
    res = run_hello(h);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
    assert_int_equal(gwf_test_status(res), 200);
    assert_string_equal(gwf_test_reply_details(res), "direct_response");
    assert_null(gwf_test_upstream_method(res));
    assert_null(gwf_test_upstream_path(res));
    assert_int_equal(gwf_test_pending(h), 0);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_status_without_body_has_empty_body_and_no_content_type(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(manifest("{status: 204}"));
    gwf_test_result *res = run_hello(h);

    assert_int_equal(gwf_test_status(res), 204);
    assert_body(res, "");
    assert_null(gwf_test_header(res, "content-type", 0));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_content_type_defaults_to_text_plain_with_a_body(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(manifest("{status: 200, body: hi}"));
    gwf_test_result *res = run_hello(h);

    assert_string_equal(gwf_test_header(res, "content-type", 0),
                        "text/plain; charset=utf-8");
    assert_null(gwf_test_header(res, "content-type", 1));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_content_type_is_overridden_by_content_type_field(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(manifest(
        "{status: 200, body: '{\"ok\":true}', contentType: application/json}"));
    gwf_test_result *res = run_hello(h);

    assert_string_equal(gwf_test_header(res, "content-type", 0),
                        "application/json");
    assert_null(gwf_test_header(res, "content-type", 1));
    assert_body(res, "{\"ok\":true}");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_headers_list_is_sent_in_order_with_repeats(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(manifest(
        "{status: 302, headers: [{name: location, value: /login},"
        " {name: set-cookie, value: a=1}, {name: set-cookie, value: b=2}]}"));
    gwf_test_result *res = run_hello(h);

    assert_int_equal(gwf_test_status(res), 302);
    assert_string_equal(gwf_test_header(res, "location", 0), "/login");
    assert_string_equal(gwf_test_header(res, "set-cookie", 0), "a=1");
    assert_string_equal(gwf_test_header(res, "set-cookie", 1), "b=2");
    assert_null(gwf_test_header(res, "set-cookie", 2));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_headers_map_is_sent(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(
        manifest("{status: 503, headers: {retry-after: '120', cache-control: "
                 "no-store}}"));
    gwf_test_result *res = run_hello(h);

    assert_int_equal(gwf_test_status(res), 503);
    assert_string_equal(gwf_test_header(res, "Retry-After", 0), "120");
    assert_string_equal(gwf_test_header(res, "cache-control", 0), "no-store");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_request_with_a_body_gets_the_same_reply(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(manifest("{status: 403, body: no}"));
    const gwf_test_route route = {.direct_response = "default/hello"};
    gwf_test_request *req = gwf_test_request_new("POST", "/upload");
    gwf_test_result *res;

    gwf_test_request_header(req, "content-type", "text/plain");
    gwf_test_request_body(req, "payload", 7);
    res = gwf_test_run(h, &route, req);
    assert_non_null(res);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
    assert_int_equal(gwf_test_status(res), 403);
    assert_body(res, "no");
    gwf_test_result_free(res);
    gwf_test_request_free(req);
    gwf_test_host_free(h);
}

/* -- Metric ------------------------------------------------------------- */

static void
test_each_reply_is_counted_by_status(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(manifest("{status: 404}"));

    for (int i = 0; i < 3; i++)
        gwf_test_result_free(run_hello(h));
    if (gwf_test_metric(h, REPLIES_404) != 3.0)
        fail_msg("want %s 3 in:\n%s", REPLIES_404, gwf_test_metrics(h));
    gwf_test_host_free(h);
}

/* -- Manifests ---------------------------------------------------------- */

static void
test_yaml_block_manifest_is_accepted(void **state)
{
    (void)state;
    gwf_test_host *h = host_with("apiVersion: gateway.kgateway.dev/v1alpha1\n"
                                 "kind: DirectResponse\n"
                                 "metadata:\n"
                                 "  name: hello\n"
                                 "  namespace: default\n"
                                 "spec:\n"
                                 "  status: 418\n"
                                 "  body: |\n"
                                 "    short and stout\n"
                                 "  headers:\n"
                                 "    - name: x-teapot\n"
                                 "      value: \"yes\"\n");
    gwf_test_result *res = run_hello(h);

    assert_int_equal(gwf_test_status(res), 418);
    assert_body(res, "short and stout\n");
    assert_string_equal(gwf_test_header(res, "x-teapot", 0), "yes");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_json_manifest_is_accepted(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(
        "{\"apiVersion\": \"gateway.kgateway.dev/v1alpha1\","
        " \"kind\": \"DirectResponse\","
        " \"metadata\": {\"name\": \"hello\", \"namespace\": \"default\"},"
        " \"spec\": {\"status\": 201, \"body\": \"made\","
        "            \"headers\": {\"x-from\": \"json\"}}}");
    gwf_test_result *res = run_hello(h);

    assert_int_equal(gwf_test_status(res), 201);
    assert_body(res, "made");
    assert_string_equal(gwf_test_header(res, "x-from", 0), "json");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_valid_config_passes_validation(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(manifest("{status: 200, body: ok}"));

    if (gwf_test_validate(h) != 0)
        fail_msg("validate: %s", gwf_test_error(h));
    gwf_test_host_free(h);
}

/* -- Answered without a stream (abi.h 0.5 reply_always) ------------------ */

/* A fixed reply on a route of its own: every request gets the prepared
 * reply, so a data plane may send it as its own constant reply. */
static void
test_fixed_reply_alone_is_a_constant_reply(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(manifest("{status: 503, body: down}"));
    const gwf_test_route route = {.direct_response = "default/hello"};

    assert_int_equal(gwf_test_constant_reply(h, &route), 1);
    gwf_test_host_free(h);
}

/* A bodyFormat renders per request: not constant. */
static void
test_formatted_reply_is_not_a_constant_reply(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(
        manifest("{status: 200, bodyFormat: {text: \"%REQ(:path)%\"}}"));
    const gwf_test_route route = {.direct_response = "default/hello"};

    assert_int_equal(gwf_test_constant_reply(h, &route), 0);
    gwf_test_host_free(h);
}

/* Another plugin in front of the DirectResponse (here a second
 * direct_response, as a GatewayExtension) may answer or change the reply:
 * the chain is not constant. */
static void
test_fixed_reply_behind_another_plugin_is_not_a_constant_reply(void **state)
{
    (void)state;
    static char text[20000];
    snprintf(text, sizeof(text),
             "%s---\n"
             "apiVersion: gateway.kgateway.dev/v1alpha1\n"
             "kind: GatewayExtension\n"
             "metadata: {name: front, namespace: default}\n"
             "spec:\n"
             "  plugin:\n"
             "    name: direct_response\n"
             "    config: {status: 418, body: tea}\n",
             manifest("{status: 503, body: down}"));
    gwf_test_host *h = host_with(text);
    const char *ext[] = {"default/front", NULL};
    const gwf_test_route alone = {.extensions = ext};
    const gwf_test_route both = {.extensions = ext,
                                 .direct_response = "default/hello"};

    assert_int_equal(gwf_test_constant_reply(h, &alone), 1);
    assert_int_equal(gwf_test_constant_reply(h, &both), 0);
    gwf_test_host_free(h);
}

/* -- bodyFormat (kgateway's shared.BodyFormat) --------------------------- */

/* GET `path` (with `header: value` when given) through default/hello. */
static gwf_test_result *
run_path(gwf_test_host *h, const char *path, const char *header,
         const char *value)
{
    const gwf_test_route route = {.direct_response = "default/hello"};
    gwf_test_request *req = gwf_test_request_new("GET", path);
    gwf_test_result *res;

    assert_non_null(req);
    if (header)
        gwf_test_request_header(req, header, value);
    gwf_test_request_remote(req, "192.0.2.9");
    res = gwf_test_run(h, &route, req);
    gwf_test_request_free(req);
    if (!res)
        fail_msg("run: %s", gwf_test_error(h));
    return res;
}

/* kgateway's e2e manifest (test/e2e/features/directresponse), as is. */
static void
test_kgateway_e2e_json_body_format_answers_the_path_as_json(void **state)
{
    (void)state;
    gwf_test_host *h = host_with("apiVersion: gateway.kgateway.dev/v1alpha1\n"
                                 "kind: DirectResponse\n"
                                 "metadata:\n"
                                 "  name: hello\n"
                                 "  namespace: default\n"
                                 "spec:\n"
                                 "  status: 200\n"
                                 "  bodyFormat:\n"
                                 "    json:\n"
                                 "      path: \"%REQ(:path)%\"\n");
    gwf_test_result *res = run_path(h, "/data.json", NULL, NULL);

    assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
    assert_int_equal(gwf_test_status(res), 200);
    assert_body(res, "{\"path\":\"/data.json\"}\n");
    /* What kgateway's e2e test asserts, exactly. */
    assert_string_equal(gwf_test_header(res, "content-type", 0), "text/plain");
    assert_null(gwf_test_header(res, "content-type", 1));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_text_body_format_renders_request_values(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(
        manifest("{status: 200, bodyFormat: {text: \"User-agent: *\\n"
                 "Disallow: %REQ(:path)%\\nfrom %DOWNSTREAM_REMOTE_ADDRESS_"
                 "WITHOUT_PORT% by %PROTOCOL% as %REQ(x-who?x-alt):3%\\n\"}}"));
    gwf_test_result *res = run_path(h, "/robots.txt", "x-alt", "alexandra");

    assert_int_equal(gwf_test_status(res), 200);
    assert_body(res, "User-agent: *\nDisallow: /robots.txt\n"
                     "from 192.0.2.9 by HTTP/1.1 as ale\n");
    assert_string_equal(gwf_test_header(res, "content-type", 0), "text/plain");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_text_body_format_is_rendered_for_each_request(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(manifest("{status: 404, bodyFormat: {text: "
                                          "\"no %REQ(:path)% here\"}}"));
    gwf_test_result *a = run_path(h, "/a", NULL, NULL);
    gwf_test_result *b = run_path(h, "/bb", NULL, NULL);

    assert_int_equal(gwf_test_status(a), 404);
    assert_body(a, "no /a here");
    assert_body(b, "no /bb here");
    assert_string_equal(gwf_test_header(b, "content-length", 0), "11");
    gwf_test_result_free(a);
    gwf_test_result_free(b);
    gwf_test_host_free(h);
}

static void
test_body_format_missing_header_is_a_dash_in_text_and_null_in_json(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(
        manifest("{status: 200, bodyFormat: {json: {a: '%REQ(x-none)%', "
                 "b: 'x=%REQ(x-none)%'}}}"));
    gwf_test_result *res = run_path(h, "/", NULL, NULL);

    assert_body(res, "{\"a\":null,\"b\":\"x=-\"}\n");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_json_body_format_keeps_types_and_constants(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(
        manifest("{status: 503, bodyFormat: {json: {code: '%RESPONSE_CODE%', "
                 "retry: 30, ok: false, at: '%START_TIME%', "
                 "tags: [maintenance, '%REQ(:method)%']}}}"));
    gwf_test_result *res = run_path(h, "/", NULL, NULL);

    /* The test host's clock is fixed at 2026-01-01T00:00:00Z. */
    assert_int_equal(gwf_test_status(res), 503);
    assert_body(res, "{\"at\":\"2026-01-01T00:00:00.000Z\",\"code\":503,"
                     "\"ok\":false,\"retry\":30,"
                     "\"tags\":[\"maintenance\",\"GET\"]}\n");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_json_body_format_escapes_hostile_header_values(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(
        manifest("{status: 200, bodyFormat: {json: {v: '%REQ(x-evil)%'}}}"));
    gwf_test_result *res =
        run_path(h, "/", "x-evil", "\"},\"admin\":true,\"x\":{\"\\");

    assert_body(res,
                "{\"v\":\"\\\"},\\\"admin\\\":true,\\\"x\\\":{\\\"\\\\\"}\n");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_body_format_content_type_is_checked_but_not_applied_as_in_kgateway(
    void **state)
{
    (void)state;
    gwf_test_host *h = host_with(
        manifest("{status: 200, bodyFormat: {contentType: text/html, text: "
                 "'<strong>Requested Path:</strong> %REQ(:path)%'}}"));
    gwf_test_result *res = run_path(h, "/test.html", NULL, NULL);

    assert_body(res, "<strong>Requested Path:</strong> /test.html");
    assert_string_equal(gwf_test_header(res, "content-type", 0), "text/plain");
    assert_true(gwf_test_log_contains(
        h, "bodyFormat.contentType \"text/html\" is not applied"));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_spec_content_type_sets_the_header_of_a_formatted_body(void **state)
{
    (void)state;
    gwf_test_host *h =
        host_with(manifest("{status: 200, contentType: application/json, "
                           "bodyFormat: {json: {p: '%REQ(:path)%'}}}"));
    gwf_test_result *res = run_path(h, "/x", NULL, NULL);

    assert_string_equal(gwf_test_header(res, "content-type", 0),
                        "application/json");
    assert_body(res, "{\"p\":\"/x\"}\n");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_body_and_body_format_together_are_rejected(void **state)
{
    (void)state;
    assert_config_error("{status: 200, body: hi, bodyFormat: {text: hi}}",
                        "bodyFormat",
                        "expected at most one of body and bodyFormat, found "
                        "both");
}

static void
test_body_format_without_text_or_json_is_rejected(void **state)
{
    (void)state;
    assert_config_error("{status: 200, bodyFormat: {contentType: text/html}}",
                        "bodyFormat",
                        "expected exactly one of text and json, found neither");
}

static void
test_body_format_with_text_and_json_is_rejected(void **state)
{
    (void)state;
    assert_config_error("{status: 200, bodyFormat: {text: a, json: {a: b}}}",
                        "bodyFormat",
                        "expected exactly one of text and json, found both");
}

static void
test_body_format_text_over_4096_bytes_is_rejected(void **state)
{
    (void)state;
    char spec[4200];
    int n = snprintf(spec, sizeof spec, "{status: 200, bodyFormat: {text: ");
    memset(spec + n, 'a', 4097);
    snprintf(spec + n + 4097, sizeof spec - (size_t)n - 4097, "}}");
    assert_config_error(spec, "bodyFormat.text",
                        "expected 1 to 4096 bytes, found 4097");
}

static void
test_body_format_text_with_a_bad_command_names_the_byte(void **state)
{
    (void)state;
    assert_config_error(
        "{status: 200, bodyFormat: {text: 'at %UPSTREAM_HOST%'}}",
        "spec.bodyFormat.text",
        "expected an Envoy format string, found a command gwf "
        "does not know or support: %UPSTREAM_HOST% at byte 3");
}

static void
test_body_format_json_with_a_bad_string_names_its_key(void **state)
{
    (void)state;
    assert_config_error(
        "{status: 200, bodyFormat: {json: {a: {b: '50% off'}}}}",
        "spec.bodyFormat.json.a.b", "found a '%' that starts no command");
}

static void
test_body_format_json_that_is_not_an_object_is_rejected(void **state)
{
    (void)state;
    assert_config_error("{status: 200, bodyFormat: {json: [a]}}",
                        "bodyFormat.json",
                        "expected an object of format strings, found a list");
}

static void
test_unknown_field_in_body_format_is_rejected(void **state)
{
    (void)state;
    assert_config_error("{status: 200, bodyFormat: {text: a, textFormat: b}}",
                        "bodyFormat.textFormat",
                        "unknown field; expected one of: contentType, text, "
                        "json");
}

static void
test_empty_body_is_rejected_as_kgateway_does(void **state)
{
    (void)state;
    assert_config_error("{status: 200, body: ''}", "body",
                        "expected 1 to 4096 bytes, found an empty string");
}

/* -- Config errors ------------------------------------------------------ */

static void
test_missing_status_is_rejected(void **state)
{
    (void)state;
    assert_config_error("{body: hi}", "status",
                        "is required: expected an integer");
}

static void
test_status_that_is_not_an_integer_is_rejected(void **state)
{
    (void)state;
    assert_config_error("{status: '200'}", "status",
                        "expected an integer, found a string");
    assert_config_error("{status: 200.5}", "status",
                        "expected an integer, found a number with a "
                        "fraction");
}

static void
test_status_below_200_is_rejected(void **state)
{
    (void)state;
    assert_config_error("{status: 199}", "status",
                        "expected an integer from 200 to 599, found 199");
}

static void
test_status_above_599_is_rejected(void **state)
{
    (void)state;
    assert_config_error("{status: 600}", "status",
                        "expected an integer from 200 to 599, found 600");
}

static void
test_body_of_4096_bytes_is_accepted(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(manifest(spec_with_body_of(4096)));
    gwf_test_result *res = run_hello(h);
    size_t len = 0;

    gwf_test_body(res, &len);
    assert_int_equal(len, 4096);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_body_longer_than_4096_bytes_is_rejected(void **state)
{
    (void)state;
    assert_config_error(spec_with_body_of(4097), "body",
                        "expected at most 4096 bytes, found 4097");
}

static void
test_body_that_is_not_a_string_is_rejected(void **state)
{
    (void)state;
    assert_config_error("{status: 200, body: [a, b]}", "body",
                        "expected a string, found a list");
}

/* The SDK's string rule, the same in every plugin: no NUL byte (a body
 * could carry one before). */
static void
test_body_with_a_nul_byte_is_rejected(void **state)
{
    (void)state;
    assert_config_error("{status: 200, body: \"a\\0b\"}", "body",
                        "expected a string, found a string with a NUL byte");
}

static void
test_bad_header_name_is_rejected(void **state)
{
    (void)state;
    assert_config_error(
        "{status: 200, headers: [{name: x-ok, value: a},"
        " {name: x-ok, value: b}, {name: 'x bad', value: c}]}",
        "headers[2].name",
        "expected a header name (letters, digits and !#$%&'*+-.^_`|~), "
        "found byte 0x20 at offset 1");
}

static void
test_bad_header_name_in_map_is_rejected(void **state)
{
    (void)state;
    assert_config_error("{status: 200, headers: {'x:y': a}}", "headers.x:y",
                        "expected a header name (letters, digits and "
                        "!#$%&'*+-.^_`|~), found ':' at offset 1");
}

static void
test_bad_header_value_is_rejected(void **state)
{
    (void)state;
    assert_config_error("{status: 200, headers: [{name: x-a, value: "
                        "\"one\\r\\nx-b: two\"}]}",
                        "headers[0].value",
                        "expected a header value without control "
                        "characters (HTAB is allowed), found byte 0x0d at "
                        "offset 3");
}

/* Not only CR, LF and NUL: every control byte but HTAB (RFC 9110
 * field-value, gwf_is_header_value), and HTAB itself is accepted. */
static void
test_header_value_with_any_control_byte_is_rejected(void **state)
{
    (void)state;
    assert_config_error("{status: 200, headers: [{name: x-a, value: "
                        "\"a\\u0001b\"}]}",
                        "headers[0].value",
                        "expected a header value without control "
                        "characters (HTAB is allowed), found byte 0x01 at "
                        "offset 1");
    assert_config_error("{status: 200, headers: [{name: x-a, value: "
                        "\"a\\u007fb\"}]}",
                        "headers[0].value", "found byte 0x7f at offset 1");
}

static void
test_header_value_that_is_not_a_string_is_rejected(void **state)
{
    (void)state;
    assert_config_error("{status: 200, headers: {retry-after: 120}}",
                        "headers.retry-after",
                        "expected a string, found an integer");
}

static void
test_header_without_name_is_rejected(void **state)
{
    (void)state;
    assert_config_error("{status: 200, headers: [{value: a}]}",
                        "headers[0].name", "is required: expected a string");
}

static void
test_hop_by_hop_header_is_rejected(void **state)
{
    (void)state;
    assert_config_error("{status: 200, headers: [{name: Connection, value: "
                        "close}]}",
                        "headers[0].name",
                        "found \"Connection\": a hop-by-hop header belongs "
                        "to the connection, not the reply");
    assert_config_error("{status: 200, headers: {transfer-encoding: chunked}}",
                        "headers.transfer-encoding", "hop-by-hop");
    /* The SDK's list, which has Trailer too: a local reply has none. */
    assert_config_error("{status: 200, headers: {Trailer: x-checksum}}",
                        "headers.Trailer",
                        "found \"Trailer\": a hop-by-hop header belongs "
                        "to the connection, not the reply");
}

static void
test_content_length_header_is_rejected(void **state)
{
    (void)state;
    assert_config_error("{status: 200, headers: {content-length: '5'}}",
                        "headers.content-length",
                        "found \"content-length\": the data plane computes "
                        "it from body");
}

static void
test_content_type_header_is_rejected_in_favour_of_the_field(void **state)
{
    (void)state;
    assert_config_error("{status: 200, headers: {Content-Type: text/html}}",
                        "headers.Content-Type", "set contentType instead");
}

static void
test_empty_content_type_is_rejected(void **state)
{
    (void)state;
    assert_config_error("{status: 200, contentType: ''}", "contentType",
                        "expected a media type such as \"application/json\", "
                        "found an empty string");
}

static void
test_unknown_field_is_rejected(void **state)
{
    (void)state;
    assert_config_error("{status: 200, stauts: 404}", "stauts",
                        "unknown field; expected one of: status, body, "
                        "bodyFormat, headers, contentType");
}

static void
test_unknown_field_in_header_is_rejected(void **state)
{
    (void)state;
    assert_config_error("{status: 200, headers: [{name: a, value: b, "
                        "append: true}]}",
                        "headers[0].append",
                        "unknown field; expected one of: name, value");
}

static void
test_every_error_is_reported_at_once(void **state)
{
    (void)state;
    gwf_test_host *h =
        host_with(manifest("{status: 700, body: 5, headers: [{name: 'a b', "
                           "value: x}], colour: red}"));
    const char *err;

    assert_int_equal(gwf_test_validate(h), -1);
    err = gwf_test_error(h);
    assert_non_null(strstr(err, "found 700"));
    assert_non_null(strstr(err, "expected a string, found an integer"));
    assert_non_null(strstr(err, "headers[0].name"));
    assert_non_null(strstr(err, "colour"));
    gwf_test_host_free(h);
}

/* A header whose name and value are both wrong gets both reported. */
static void
test_header_name_and_value_mistakes_are_both_reported(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(
        manifest("{status: 200, headers: {'a b': 5, te: \"x\\ry\"}}"));
    const char *err;

    assert_int_equal(gwf_test_validate(h), -1);
    err = gwf_test_error(h);
    assert_non_null(strstr(err, "headers.a b: expected a header name"));
    assert_non_null(
        strstr(err, "headers.a b: expected a string, found an integer"));
    assert_non_null(strstr(err, "headers.te: expected a header a reply may "
                                "carry"));
    assert_non_null(strstr(err, "headers.te: expected a header value without "
                                "control characters"));
    gwf_test_host_free(h);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_and_body_are_returned),
        cmocka_unit_test(test_fixed_reply_alone_is_a_constant_reply),
        cmocka_unit_test(test_formatted_reply_is_not_a_constant_reply),
        cmocka_unit_test(
            test_fixed_reply_behind_another_plugin_is_not_a_constant_reply),
        cmocka_unit_test(
            test_reply_is_local_and_upstream_never_sees_the_request),
        cmocka_unit_test(
            test_status_without_body_has_empty_body_and_no_content_type),
        cmocka_unit_test(test_content_type_defaults_to_text_plain_with_a_body),
        cmocka_unit_test(test_content_type_is_overridden_by_content_type_field),
        cmocka_unit_test(test_headers_list_is_sent_in_order_with_repeats),
        cmocka_unit_test(test_headers_map_is_sent),
        cmocka_unit_test(test_request_with_a_body_gets_the_same_reply),
        cmocka_unit_test(test_each_reply_is_counted_by_status),
        cmocka_unit_test(test_yaml_block_manifest_is_accepted),
        cmocka_unit_test(test_json_manifest_is_accepted),
        cmocka_unit_test(test_valid_config_passes_validation),
        cmocka_unit_test(
            test_kgateway_e2e_json_body_format_answers_the_path_as_json),
        cmocka_unit_test(test_text_body_format_renders_request_values),
        cmocka_unit_test(test_text_body_format_is_rendered_for_each_request),
        cmocka_unit_test(
            test_body_format_missing_header_is_a_dash_in_text_and_null_in_json),
        cmocka_unit_test(test_json_body_format_keeps_types_and_constants),
        cmocka_unit_test(test_json_body_format_escapes_hostile_header_values),
        cmocka_unit_test(
            test_body_format_content_type_is_checked_but_not_applied_as_in_kgateway),
        cmocka_unit_test(
            test_spec_content_type_sets_the_header_of_a_formatted_body),
        cmocka_unit_test(test_body_and_body_format_together_are_rejected),
        cmocka_unit_test(test_body_format_without_text_or_json_is_rejected),
        cmocka_unit_test(test_body_format_with_text_and_json_is_rejected),
        cmocka_unit_test(test_body_format_text_over_4096_bytes_is_rejected),
        cmocka_unit_test(
            test_body_format_text_with_a_bad_command_names_the_byte),
        cmocka_unit_test(test_body_format_json_with_a_bad_string_names_its_key),
        cmocka_unit_test(
            test_body_format_json_that_is_not_an_object_is_rejected),
        cmocka_unit_test(test_unknown_field_in_body_format_is_rejected),
        cmocka_unit_test(test_empty_body_is_rejected_as_kgateway_does),
        cmocka_unit_test(test_missing_status_is_rejected),
        cmocka_unit_test(test_status_that_is_not_an_integer_is_rejected),
        cmocka_unit_test(test_status_below_200_is_rejected),
        cmocka_unit_test(test_status_above_599_is_rejected),
        cmocka_unit_test(test_body_of_4096_bytes_is_accepted),
        cmocka_unit_test(test_body_longer_than_4096_bytes_is_rejected),
        cmocka_unit_test(test_body_that_is_not_a_string_is_rejected),
        cmocka_unit_test(test_body_with_a_nul_byte_is_rejected),
        cmocka_unit_test(test_bad_header_name_is_rejected),
        cmocka_unit_test(test_bad_header_name_in_map_is_rejected),
        cmocka_unit_test(test_bad_header_value_is_rejected),
        cmocka_unit_test(test_header_value_with_any_control_byte_is_rejected),
        cmocka_unit_test(test_header_value_that_is_not_a_string_is_rejected),
        cmocka_unit_test(test_header_without_name_is_rejected),
        cmocka_unit_test(test_hop_by_hop_header_is_rejected),
        cmocka_unit_test(test_content_length_header_is_rejected),
        cmocka_unit_test(
            test_content_type_header_is_rejected_in_favour_of_the_field),
        cmocka_unit_test(test_empty_content_type_is_rejected),
        cmocka_unit_test(test_unknown_field_is_rejected),
        cmocka_unit_test(test_unknown_field_in_header_is_rejected),
        cmocka_unit_test(test_every_error_is_reported_at_once),
        cmocka_unit_test(test_header_name_and_value_mistakes_are_both_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
