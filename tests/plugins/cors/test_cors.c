/*
 * test_cors.c - the cors plugin on the in-process test host: preflights
 * answered with exactly the headers the Gateway API's conformance suite
 * expects, actual responses decorated, rejected and malformed origins
 * left without CORS headers, Vary, the metric, and every config error
 * with the field an operator reads.
 *
 * Each test loads one GatewayExtension default/cors whose plugin config
 * is the `cors` object (YAML flow style), and runs requests through a
 * route that uses it. The upstream is the test host's stub, which
 * records what reached it.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <gwf/testing.h>

/* The conformance suite's first route (httproute-cors.yaml, /cors-1). */
#define CONF1                                                                  \
    "{allowOrigins: ['https://www.foo.com', 'https://*.bar.com'],"             \
    " allowMethods: [GET, OPTIONS],"                                           \
    " allowHeaders: [x-header-1, x-header-2],"                                 \
    " exposeHeaders: [x-header-3, x-header-4],"                                \
    " allowCredentials: true, maxAge: 3600}"

static gwf_test_host *
host_with(const char *config)
{
    char text[16384];
    gwf_test_host *h = gwf_test_host_new();
    int n = snprintf(text, sizeof(text),
                     "apiVersion: gateway.kgateway.dev/v1alpha1\n"
                     "kind: GatewayExtension\n"
                     "metadata: {name: cors, namespace: default}\n"
                     "spec:\n"
                     "  plugin:\n"
                     "    name: cors\n"
                     "    config: %s\n",
                     config);

    assert_true(n > 0 && (size_t)n < sizeof(text));
    assert_non_null(h);
    if (gwf_test_load_text(h, text) != 0)
        fail_msg("load: %s", gwf_test_error(h));
    return h;
}

/* `method path` with the NULL-terminated name, value pairs. */
static gwf_test_result *
run(gwf_test_host *h, const char *method, const char *const *headers)
{
    static const char *const extensions[] = {"default/cors", NULL};
    const gwf_test_route route = {.extensions = extensions};
    gwf_test_request *req = gwf_test_request_new(method, "/cors-1");
    gwf_test_result *res;

    assert_non_null(req);
    for (size_t i = 0; headers && headers[i]; i += 2)
        gwf_test_request_header(req, headers[i], headers[i + 1]);
    res = gwf_test_run(h, &route, req);
    gwf_test_request_free(req);
    if (!res)
        fail_msg("run: %s", gwf_test_error(h));
    return res;
}

/* An OPTIONS preflight from `origin` asking for `method` (and `headers`
 * unless NULL). */
static gwf_test_result *
preflight(gwf_test_host *h, const char *origin, const char *method,
          const char *headers)
{
    const char *const with_headers[] = {"origin",
                                        origin,
                                        "access-control-request-method",
                                        method,
                                        "access-control-request-headers",
                                        headers,
                                        NULL};
    const char *const without[] = {
        "origin", origin, "access-control-request-method", method, NULL};
    return run(h, "OPTIONS", headers ? with_headers : without);
}

static gwf_test_result *
get_from(gwf_test_host *h, const char *origin)
{
    const char *const headers[] = {"origin", origin, NULL};
    return run(h, "GET", origin ? headers : NULL);
}

static void
assert_header(const gwf_test_result *res, const char *name, const char *want)
{
    const char *got = gwf_test_header(res, name, 0);

    if (!want) {
        if (got)
            fail_msg("%s: want none, got \"%s\"", name, got);
        return;
    }
    if (!got || strcmp(got, want) != 0)
        fail_msg("%s: want \"%s\", got %s%s%s", name, want, got ? "\"" : "",
                 got ? got : "none", got ? "\"" : "");
    assert_null(gwf_test_header(res, name, 1));
}

static void
assert_no_cors_headers(const gwf_test_result *res)
{
    static const char *const names[] = {
        "access-control-allow-origin",   "access-control-allow-credentials",
        "access-control-allow-methods",  "access-control-allow-headers",
        "access-control-expose-headers", "access-control-max-age"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        assert_header(res, names[i], NULL);
}

static void
assert_answered_preflight(const gwf_test_result *res)
{
    size_t len = 99;

    assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
    assert_int_equal(gwf_test_status(res), 200);
    assert_string_equal(gwf_test_reply_details(res), "cors_preflight");
    assert_null(gwf_test_upstream_method(res));
    gwf_test_body(res, &len);
    assert_int_equal(len, 0);
}

static void
assert_forwarded(const gwf_test_result *res, const char *method)
{
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_int_equal(gwf_test_status(res), 200);
    assert_string_equal(gwf_test_upstream_method(res), method);
}

/* -- Preflights (the conformance suite's cases) ------------------------- */

static void
test_preflight_from_exact_origin_is_answered_with_every_header(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(CONF1);
    gwf_test_result *res =
        preflight(h, "https://www.foo.com", "GET", "x-header-1, x-header-2");

    assert_answered_preflight(res);
    assert_header(res, "access-control-allow-origin", "https://www.foo.com");
    assert_header(res, "access-control-allow-methods", "GET, OPTIONS");
    assert_header(res, "access-control-allow-headers",
                  "x-header-1, x-header-2");
    assert_header(res, "access-control-expose-headers",
                  "x-header-3, x-header-4");
    assert_header(res, "access-control-max-age", "3600");
    assert_header(res, "access-control-allow-credentials", "true");
    assert_header(res, "vary", "Origin");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* An exact origin's preflight is prepared at config time under the
 * origin as a browser writes it; an allowed origin spelled otherwise
 * (upper case, the default port written out) is still answered, echoing
 * the bytes it sent, never the prepared spelling. */
static void
test_preflight_from_another_spelling_of_an_exact_origin_echoes_it(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(CONF1);
    static const char *const spellings[] = {"https://WWW.Foo.com",
                                            "https://www.foo.com:443"};
    for (size_t i = 0; i < 2; i++) {
        gwf_test_result *res = preflight(h, spellings[i], "GET", NULL);
        assert_answered_preflight(res);
        assert_header(res, "access-control-allow-origin", spellings[i]);
        assert_header(res, "access-control-allow-methods", "GET, OPTIONS");
        assert_header(res, "vary", "Origin");
        gwf_test_result_free(res);
    }
    /* and the browser's spelling again, after them: the prepared reply */
    gwf_test_result *res = preflight(h, "https://www.foo.com", "GET", NULL);
    assert_answered_preflight(res);
    assert_header(res, "access-control-allow-origin", "https://www.foo.com");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* A non-default port is part of the prepared origin. */
static void
test_preflight_from_an_exact_origin_with_a_port_is_answered(void **state)
{
    (void)state;
    gwf_test_host *h =
        host_with("{allowOrigins: ['http://app.example:8080',"
                  " 'http://app.example'], allowMethods: [GET]}");
    gwf_test_result *res = preflight(h, "http://app.example:8080", "GET", NULL);
    assert_answered_preflight(res);
    assert_header(res, "access-control-allow-origin",
                  "http://app.example:8080");
    gwf_test_result_free(res);
    res = preflight(h, "http://app.example", "GET", NULL);
    assert_answered_preflight(res);
    assert_header(res, "access-control-allow-origin", "http://app.example");
    gwf_test_result_free(res);
    res = preflight(h, "http://app.example:9090", "GET", NULL);
    assert_header(res, "access-control-allow-origin", NULL);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_preflight_from_wildcard_origin_with_one_label_is_answered(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(CONF1);
    gwf_test_result *res = preflight(h, "https://www.bar.com", "GET", NULL);

    assert_answered_preflight(res);
    assert_header(res, "access-control-allow-origin", "https://www.bar.com");
    assert_header(res, "access-control-allow-headers",
                  "x-header-1, x-header-2");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_wildcard_origin_covers_any_number_of_labels(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(CONF1);
    gwf_test_result *res =
        preflight(h, "https://xpto.www.bar.com", "GET", NULL);

    assert_answered_preflight(res);
    assert_header(res, "access-control-allow-origin",
                  "https://xpto.www.bar.com");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_wildcard_origin_needs_a_label_before_the_suffix(void **state)
{
    (void)state;
    static const char *const refused[] = {
        "https://bar.com",      "https://foobar.com", "https://.bar.com",
        "https://www.bar.com.", "http://www.bar.com", "https://bar.com.evil",
        "https://www.bar.co"};
    gwf_test_host *h = host_with(CONF1);

    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        gwf_test_result *res = get_from(h, refused[i]);
        assert_forwarded(res, "GET");
        assert_no_cors_headers(res);
        gwf_test_result_free(res);
    }
    gwf_test_host_free(h);
}

static void
test_preflight_from_rejected_origin_goes_upstream_without_cors_headers(
    void **state)
{
    (void)state;
    gwf_test_host *h = host_with(CONF1);
    gwf_test_result *res = preflight(h, "https://foobar.com", "GET", NULL);

    /* Envoy's forwardNotMatchingPreflights (true by default). */
    assert_forwarded(res, "OPTIONS");
    assert_no_cors_headers(res);
    assert_header(res, "vary", "Origin");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_preflight_with_wildcard_methods_answers_the_requested_method(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(
        "{allowOrigins: ['https://www.foo.com'], allowMethods: ['*']}");
    gwf_test_result *res = preflight(h, "https://www.foo.com", "POST", NULL);

    assert_answered_preflight(res);
    assert_header(res, "access-control-allow-origin", "https://www.foo.com");
    assert_header(res, "access-control-allow-methods", "POST");
    assert_header(res, "access-control-allow-credentials", NULL);
    assert_header(res, "access-control-allow-headers", NULL);
    assert_header(res, "access-control-max-age", "5");
    assert_header(res, "vary", "Origin, Access-Control-Request-Method");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_any_origin_echoes_the_origin_with_its_port(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(
        "{allowOrigins: ['*'], allowMethods: [PUT], allowCredentials: false}");
    gwf_test_result *res =
        preflight(h, "https://foobar.com:12345", "PUT", NULL);

    assert_answered_preflight(res);
    assert_header(res, "access-control-allow-origin",
                  "https://foobar.com:12345");
    assert_header(res, "access-control-allow-methods", "PUT");
    assert_header(res, "access-control-allow-credentials", NULL);
    gwf_test_result_free(res);

    {
        const char *const headers[] = {"origin", "https://foobar.com", NULL};
        res = run(h, "PUT", headers);
    }
    assert_forwarded(res, "PUT");
    assert_header(res, "access-control-allow-origin", "https://foobar.com");
    assert_header(res, "access-control-allow-credentials", NULL);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_wildcard_methods_and_headers_with_credentials_echo_the_request(
    void **state)
{
    (void)state;
    gwf_test_host *h =
        host_with("{allowOrigins: ['*'], allowMethods: ['*'], allowHeaders: "
                  "['*'], allowCredentials: true}");
    gwf_test_result *res =
        preflight(h, "https://other.foo.com", "PUT", "x-header-1, x-header-2");

    assert_answered_preflight(res);
    assert_header(res, "access-control-allow-origin", "https://other.foo.com");
    assert_header(res, "access-control-allow-methods", "PUT");
    assert_header(res, "access-control-allow-headers",
                  "x-header-1, x-header-2");
    assert_header(res, "access-control-allow-credentials", "true");
    assert_header(res, "vary",
                  "Origin, Access-Control-Request-Method, "
                  "Access-Control-Request-Headers");
    gwf_test_result_free(res);

    res = get_from(h, "https://other.foo.com");
    assert_forwarded(res, "GET");
    assert_header(res, "access-control-allow-origin", "https://other.foo.com");
    assert_header(res, "access-control-allow-credentials", "true");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_options_without_request_method_is_not_a_preflight(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(CONF1);
    const char *const empty[] = {"origin", "https://www.foo.com",
                                 "access-control-request-method", "", NULL};
    gwf_test_result *res;

    res = run(h, "OPTIONS",
              (const char *const[]){"origin", "https://www.foo.com", NULL});
    assert_forwarded(res, "OPTIONS");
    assert_header(res, "access-control-allow-origin", "https://www.foo.com");
    assert_header(res, "access-control-max-age", NULL);
    gwf_test_result_free(res);

    res = run(h, "OPTIONS", empty);
    assert_forwarded(res, "OPTIONS");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* -- Actual requests ----------------------------------------------------- */

static void
test_request_from_allowed_origin_gets_origin_credentials_and_expose(
    void **state)
{
    (void)state;
    gwf_test_host *h = host_with(CONF1);
    const char *const headers[] = {"origin", "https://www.foo.com",
                                   "access-control-request-method", "GET",
                                   NULL};
    gwf_test_result *res = run(h, "GET", headers);

    assert_forwarded(res, "GET");
    assert_header(res, "access-control-allow-origin", "https://www.foo.com");
    assert_header(res, "access-control-allow-credentials", "true");
    assert_header(res, "access-control-expose-headers",
                  "x-header-3, x-header-4");
    assert_header(res, "access-control-allow-methods", NULL);
    assert_header(res, "access-control-max-age", NULL);
    assert_header(res, "vary", "Origin");
    /* The upstream sees the request as the client sent it. */
    assert_string_equal(gwf_test_upstream_header(res, "origin", 0),
                        "https://www.foo.com");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_request_from_rejected_origin_gets_no_cors_headers(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(CONF1);
    gwf_test_result *res = get_from(h, "https://foobar.com");

    assert_forwarded(res, "GET");
    assert_no_cors_headers(res);
    assert_header(res, "vary", "Origin");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_request_without_origin_gets_only_vary(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(CONF1);
    gwf_test_result *res = get_from(h, NULL);

    assert_forwarded(res, "GET");
    assert_no_cors_headers(res);
    assert_header(res, "vary", "Origin");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_vary_origin_is_added_once_beside_the_upstreams(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(CONF1);
    gwf_test_result *res;

    gwf_test_set_upstream(h, 200, "Vary: Accept-Encoding\r\n", "", 0);
    res = get_from(h, "https://www.foo.com");
    assert_string_equal(gwf_test_header(res, "vary", 0), "Accept-Encoding");
    assert_string_equal(gwf_test_header(res, "vary", 1), "Origin");
    assert_null(gwf_test_header(res, "vary", 2));
    gwf_test_result_free(res);

    gwf_test_set_upstream(h, 200, "Vary: accept, ORIGIN\r\n", "", 0);
    res = get_from(h, "https://www.foo.com");
    assert_header(res, "vary", "accept, ORIGIN");
    gwf_test_result_free(res);

    gwf_test_set_upstream(h, 200, "Vary: *\r\n", "", 0);
    res = get_from(h, "https://www.foo.com");
    assert_header(res, "vary", "*");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_upstream_cors_headers_are_replaced_for_an_allowed_origin(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(CONF1);
    gwf_test_result *res;

    gwf_test_set_upstream(h, 200,
                          "Access-Control-Allow-Origin: *\r\n"
                          "Access-Control-Expose-Headers: x-secret\r\n",
                          "", 0);
    res = get_from(h, "https://www.foo.com");
    assert_header(res, "access-control-allow-origin", "https://www.foo.com");
    assert_header(res, "access-control-expose-headers",
                  "x-header-3, x-header-4");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_expose_wildcard_is_star_without_credentials(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(
        "{allowOrigins: ['https://a.example'], exposeHeaders: ['*']}");
    gwf_test_result *res = get_from(h, "https://a.example");

    assert_header(res, "access-control-expose-headers", "*");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_expose_wildcard_with_credentials_lists_the_response_names(void **state)
{
    (void)state;
    gwf_test_host *h =
        host_with("{allowOrigins: ['https://a.example'], exposeHeaders: ['*'],"
                  " allowCredentials: true}");
    gwf_test_result *res;

    gwf_test_set_upstream(
        h, 200, "X-Request-Id: 1\r\nX-Total: 2\r\nX-Total: 3\r\n", "", 0);
    res = get_from(h, "https://a.example");
    assert_header(res, "access-control-expose-headers",
                  "X-Request-Id, X-Total");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* -- Origins: case, ports, and what is not an origin ---------------------- */

static int
allowed(gwf_test_host *h, const char *origin)
{
    gwf_test_result *res = get_from(h, origin);
    const char *got = gwf_test_header(res, "access-control-allow-origin", 0);
    int yes = got != NULL;

    if (got)
        assert_string_equal(got, origin);
    gwf_test_result_free(res);
    return yes;
}

static void
test_scheme_and_host_compare_without_case(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(
        "{allowOrigins: ['https://www.foo.com', 'https://*.Bar.com']}");

    assert_true(allowed(h, "HTTPS://WWW.FOO.COM"));
    assert_true(allowed(h, "https://Www.Foo.Com"));
    assert_true(allowed(h, "https://API.BAR.COM"));
    gwf_test_host_free(h);
}

static void
test_default_port_is_the_same_origin_and_others_are_not(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(
        "{allowOrigins: ['https://www.foo.com', 'http://local.test:8080',"
        " 'http://*']}");

    assert_true(allowed(h, "https://www.foo.com:443"));
    assert_false(allowed(h, "https://www.foo.com:8443"));
    assert_false(allowed(h, "http://www.foo.com:443"));
    assert_true(allowed(h, "http://local.test:8080"));
    assert_false(allowed(h, "https://local.test:8080"));
    /* http with "*" as host: every host on port 80 only. */
    assert_true(allowed(h, "http://anything.example"));
    assert_true(allowed(h, "http://anything.example:80"));
    assert_true(allowed(h, "http://[::1]"));
    assert_false(allowed(h, "http://anything.example:81"));
    gwf_test_host_free(h);
}

static void
test_values_that_are_not_origins_match_nothing_not_even_star(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "null",
        "https://www.foo.com/",
        "https://www.foo.com/path",
        "https://user@www.foo.com",
        "https://www.foo.com:",
        "https://www.foo.com:0",
        "https://www.foo.com:0443",
        "https://www.foo.com:65536",
        "https://www.foo.com:99999999999",
        "https://www..foo.com",
        "https://",
        "https:/www.foo.com",
        "www.foo.com",
        "ftp://www.foo.com",
        "file://",
        "https://www.foo.com?x",
        "https://www.foo.com#x",
        "https://www foo.com",
        "https://[::1",
        "https://*.foo.com",
    };
    gwf_test_host *h = host_with("{allowOrigins: ['*']}");

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (allowed(h, bad[i]))
            fail_msg("\"%s\" was allowed", bad[i]);
    assert_true(allowed(h, "https://www.foo.com"));
    gwf_test_host_free(h);
}

static void
test_two_origin_headers_get_no_cors_headers(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(CONF1);
    const char *const headers[] = {"origin",
                                   "https://www.foo.com",
                                   "origin",
                                   "https://www.foo.com",
                                   "access-control-request-method",
                                   "GET",
                                   NULL};
    gwf_test_result *res = run(h, "OPTIONS", headers);

    assert_forwarded(res, "OPTIONS");
    assert_no_cors_headers(res);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_huge_origin_is_refused_without_harm(void **state)
{
    (void)state;
    gwf_test_host *h = host_with("{allowOrigins: ['*']}");
    size_t n = 60000;
    char *origin = malloc(n + 1);

    assert_non_null(origin);
    memcpy(origin, "https://", 8);
    memset(origin + 8, 'a', n - 8);
    origin[n] = '\0';
    assert_false(allowed(h, origin));
    /* A long valid-looking name: over 253 bytes is no host. */
    for (size_t i = 9; i < 300; i += 2)
        origin[i] = '.';
    origin[301] = '\0';
    assert_false(allowed(h, origin));
    free(origin);
    gwf_test_host_free(h);
}

static void
test_route_without_allowed_origins_decorates_nothing(void **state)
{
    (void)state;
    gwf_test_host *h = host_with("{allowMethods: [GET]}");
    gwf_test_result *res = preflight(h, "https://www.foo.com", "GET", NULL);

    assert_forwarded(res, "OPTIONS");
    assert_no_cors_headers(res);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* -- Metric --------------------------------------------------------------- */

static void
test_requests_with_an_origin_are_counted_by_outcome(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(CONF1);

    gwf_test_result_free(preflight(h, "https://www.foo.com", "GET", NULL));
    gwf_test_result_free(get_from(h, "https://www.foo.com"));
    gwf_test_result_free(get_from(h, "https://www.foo.com"));
    gwf_test_result_free(get_from(h, "https://evil.example"));
    gwf_test_result_free(get_from(h, NULL));
    if (gwf_test_metric(h, "gwf_cors_requests_total{instance=\"default/cors\","
                           "outcome=\"preflight\"}") != 1.0 ||
        gwf_test_metric(h, "gwf_cors_requests_total{instance=\"default/cors\","
                           "outcome=\"allowed\"}") != 2.0 ||
        gwf_test_metric(h, "gwf_cors_requests_total{instance=\"default/cors\","
                           "outcome=\"rejected\"}") != 1.0)
        fail_msg("metrics:\n%s", gwf_test_metrics(h));
    gwf_test_host_free(h);
}

/* -- Config errors -------------------------------------------------------- */

static void
assert_config_error(const char *config, const char *field, const char *message)
{
    char text[16384];
    gwf_test_host *h = gwf_test_host_new();
    const char *err;

    snprintf(text, sizeof(text),
             "apiVersion: gateway.kgateway.dev/v1alpha1\n"
             "kind: GatewayExtension\n"
             "metadata: {name: cors, namespace: default}\n"
             "spec: {plugin: {name: cors, config: %s}}\n",
             config);
    assert_int_equal(gwf_test_load_text(h, text), 0);
    assert_int_equal(gwf_test_validate(h), -1);
    err = gwf_test_error(h);
    assert_non_null(err);
    if (!strstr(err, field) || !strstr(err, message))
        fail_msg("want field \"%s\" and \"%s\" in:\n%s", field, message, err);
    gwf_test_host_free(h);
}

static void
test_config_star_beside_other_values_is_refused(void **state)
{
    (void)state;
    assert_config_error("{allowOrigins: ['*', 'https://a.example']}",
                        "allowOrigins[0]", "expected \"*\" alone");
    assert_config_error("{allowMethods: [GET, '*']}", "allowMethods[1]",
                        "expected \"*\" alone");
    assert_config_error("{allowHeaders: ['*', x-a]}", "allowHeaders[0]",
                        "expected \"*\" alone");
}

static void
test_config_repeated_values_are_refused(void **state)
{
    (void)state;
    assert_config_error(
        "{allowOrigins: ['https://a.example', 'https://A.example']}",
        "allowOrigins[1]", "found \"https://A.example\" again (first at [0])");
    assert_config_error("{allowHeaders: [x-a, X-A]}", "allowHeaders[1]",
                        "again");
    assert_config_error("{allowMethods: [GET, GET]}", "allowMethods[1]",
                        "again");
}

static void
test_config_origins_outside_the_gateway_api_pattern_are_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {"ftp://a.example",
                                      "HTTPS://a.example",
                                      "https://",
                                      "https://www.*.example",
                                      "https://*a.example",
                                      "https://a.example/",
                                      "https://a.example:0",
                                      "https://a.example:70000",
                                      "a.example",
                                      "https://a..example",
                                      "https://[::1]",
                                      "https://a.example:080",
                                      "https://user@a.example",
                                      "**"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char config[256];
        snprintf(config, sizeof(config), "{allowOrigins: ['%s']}", bad[i]);
        assert_config_error(config, "allowOrigins[0]", "expected ");
    }
}

static void
test_config_bounds_and_types_are_checked(void **state)
{
    (void)state;
    char config[8192];
    size_t n = 0;

    assert_config_error("{allowMethods: [get]}", "allowMethods[0]",
                        "methods are case-sensitive");
    assert_config_error("{allowMethods: [GET, HEAD, POST, PUT, DELETE, "
                        "CONNECT, OPTIONS, TRACE, PATCH, GET]}",
                        "allowMethods", "at most 9");
    assert_config_error("{allowHeaders: ['x a']}", "allowHeaders[0]",
                        "expected a header name");
    assert_config_error("{exposeHeaders: ['']}", "exposeHeaders[0]", "");
    assert_config_error("{maxAge: 0}", "maxAge", "from 1 to 2147483647");
    assert_config_error("{maxAge: 2147483648}", "maxAge", "from 1");
    assert_config_error("{allowCredentials: 'yes'}", "allowCredentials",
                        "expected");
    assert_config_error("{allowOrigin: ['*']}", "allowOrigin", "unknown field");
    assert_config_error("[]", "config", "expected a mapping");

    n += (size_t)snprintf(config + n, sizeof(config) - n, "{allowOrigins: [");
    for (int i = 0; i < 65; i++)
        n += (size_t)snprintf(config + n, sizeof(config) - n,
                              "%s'https://h%d.example'", i ? ", " : "", i);
    snprintf(config + n, sizeof(config) - n, "]}");
    assert_config_error(config, "allowOrigins", "at most 64");
}

static void
test_config_disable_is_accepted_and_ignored(void **state)
{
    (void)state;
    gwf_test_host *h =
        host_with("{allowOrigins: ['https://a.example'], disable: {}}");
    gwf_test_result *res = get_from(h, "https://a.example");

    assert_header(res, "access-control-allow-origin", "https://a.example");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* -- Through the TrafficPolicy field -------------------------------------- */

/* The runtime makes one instance per TrafficPolicy that sets `cors`,
 * with the field's JSON as the plugin config. */
static void
test_traffic_policy_cors_field_configures_the_plugin(void **state)
{
    (void)state;
    gwf_test_host *h = gwf_test_host_new();
    const gwf_test_route route = {.policy = "default/api"};
    gwf_test_request *req = gwf_test_request_new("OPTIONS", "/");
    gwf_test_result *res;

    assert_int_equal(
        gwf_test_load_text(h, "apiVersion: gateway.kgateway.dev/v1alpha1\n"
                              "kind: TrafficPolicy\n"
                              "metadata: {name: api, namespace: default}\n"
                              "spec:\n"
                              "  cors: {allowOrigins: ['https://a.example'],"
                              " allowMethods: [GET, POST], maxAge: 60}\n"),
        0);
    gwf_test_request_header(req, "origin", "https://a.example");
    gwf_test_request_header(req, "access-control-request-method", "POST");
    res = gwf_test_run(h, &route, req);
    gwf_test_request_free(req);
    if (!res)
        fail_msg("run: %s", gwf_test_error(h));
    assert_answered_preflight(res);
    assert_header(res, "access-control-allow-origin", "https://a.example");
    assert_header(res, "access-control-allow-methods", "GET, POST");
    assert_header(res, "access-control-max-age", "60");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_preflight_from_exact_origin_is_answered_with_every_header),
        cmocka_unit_test(
            test_preflight_from_another_spelling_of_an_exact_origin_echoes_it),
        cmocka_unit_test(
            test_preflight_from_an_exact_origin_with_a_port_is_answered),
        cmocka_unit_test(
            test_preflight_from_wildcard_origin_with_one_label_is_answered),
        cmocka_unit_test(test_wildcard_origin_covers_any_number_of_labels),
        cmocka_unit_test(test_wildcard_origin_needs_a_label_before_the_suffix),
        cmocka_unit_test(
            test_preflight_from_rejected_origin_goes_upstream_without_cors_headers),
        cmocka_unit_test(
            test_preflight_with_wildcard_methods_answers_the_requested_method),
        cmocka_unit_test(test_any_origin_echoes_the_origin_with_its_port),
        cmocka_unit_test(
            test_wildcard_methods_and_headers_with_credentials_echo_the_request),
        cmocka_unit_test(
            test_options_without_request_method_is_not_a_preflight),
        cmocka_unit_test(
            test_request_from_allowed_origin_gets_origin_credentials_and_expose),
        cmocka_unit_test(
            test_request_from_rejected_origin_gets_no_cors_headers),
        cmocka_unit_test(test_request_without_origin_gets_only_vary),
        cmocka_unit_test(test_vary_origin_is_added_once_beside_the_upstreams),
        cmocka_unit_test(
            test_upstream_cors_headers_are_replaced_for_an_allowed_origin),
        cmocka_unit_test(test_expose_wildcard_is_star_without_credentials),
        cmocka_unit_test(
            test_expose_wildcard_with_credentials_lists_the_response_names),
        cmocka_unit_test(test_scheme_and_host_compare_without_case),
        cmocka_unit_test(
            test_default_port_is_the_same_origin_and_others_are_not),
        cmocka_unit_test(
            test_values_that_are_not_origins_match_nothing_not_even_star),
        cmocka_unit_test(test_two_origin_headers_get_no_cors_headers),
        cmocka_unit_test(test_huge_origin_is_refused_without_harm),
        cmocka_unit_test(test_route_without_allowed_origins_decorates_nothing),
        cmocka_unit_test(test_requests_with_an_origin_are_counted_by_outcome),
        cmocka_unit_test(test_config_star_beside_other_values_is_refused),
        cmocka_unit_test(test_config_repeated_values_are_refused),
        cmocka_unit_test(
            test_config_origins_outside_the_gateway_api_pattern_are_refused),
        cmocka_unit_test(test_config_bounds_and_types_are_checked),
        cmocka_unit_test(test_config_disable_is_accepted_and_ignored),
        cmocka_unit_test(test_traffic_policy_cors_field_configures_the_plugin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
