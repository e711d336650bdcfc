/*
 * test_csrf.c - the csrf plugin on the in-process test host: Envoy's
 * CSRF semantics (which methods, Origin then Referer, host and port
 * against Host, additional origins, 403 "Invalid origin"), shadow mode,
 * sampling, the metrics, hostile headers and every config error.
 *
 * Each test loads one GatewayExtension default/csrf whose plugin config
 * is the `csrf` object (YAML flow style) and sends raw HTTP/1.1 requests
 * through a route that uses it, so Host, Origin and Referer are exactly
 * what the test writes.
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

#define ENFORCED "{percentageEnabled: 100}"
#define METRIC(name) "gwf_csrf_" name "_total{instance=\"default/csrf\"}"

static gwf_test_host *
host_with(const char *config)
{
    char text[16384];
    gwf_test_host *h = gwf_test_host_new();
    int n = snprintf(text, sizeof(text),
                     "apiVersion: gateway.kgateway.dev/v1alpha1\n"
                     "kind: GatewayExtension\n"
                     "metadata: {name: csrf, namespace: default}\n"
                     "spec:\n"
                     "  plugin:\n"
                     "    name: csrf\n"
                     "    config: %s\n",
                     config);

    assert_true(n > 0 && (size_t)n < sizeof(text));
    assert_non_null(h);
    if (gwf_test_load_text(h, text) != 0)
        fail_msg("load: %s", gwf_test_error(h));
    return h;
}

/* `method / HTTP/1.1` with `headers` ("Name: value\r\n" lines); the
 * host fails to read header `failing` (NULL: none) from value index
 * `from` on. */
static gwf_test_result *
run_failing(gwf_test_host *h, const char *method, const char *headers,
            const char *failing, size_t from)
{
    static const char *const extensions[] = {"default/csrf", NULL};
    const gwf_test_route route = {.extensions = extensions};
    size_t size = strlen(headers) + 64;
    char *raw = malloc(size);
    gwf_test_request *req;
    gwf_test_result *res;

    assert_non_null(raw);
    snprintf(raw, size, "%s / HTTP/1.1\r\n%s\r\n", method, headers);
    req = gwf_test_request_parse(h, raw, strlen(raw));
    free(raw);
    if (!req)
        fail_msg("parse: %s", gwf_test_error(h));
    if (failing)
        gwf_test_request_header_fails_from(req, failing, from);
    res = gwf_test_run(h, &route, req);
    gwf_test_request_free(req);
    if (!res)
        fail_msg("run: %s", gwf_test_error(h));
    return res;
}

/* 1 forwarded, 0 refused with exactly Envoy's answer. */
static int
passed_failing(gwf_test_host *h, const char *method, const char *headers,
               const char *failing, size_t from)
{
    gwf_test_result *res = run_failing(h, method, headers, failing, from);
    int outcome = gwf_test_outcome(res);
    size_t len = 0;
    const char *body = gwf_test_body(res, &len);

    if (outcome == GWF_TEST_FORWARDED) {
        assert_string_equal(gwf_test_upstream_method(res), method);
        gwf_test_result_free(res);
        return 1;
    }
    /* Refused: exactly Envoy's answer. */
    assert_int_equal(outcome, GWF_TEST_LOCAL_REPLY);
    assert_int_equal(gwf_test_status(res), 403);
    assert_int_equal(len, strlen("Invalid origin"));
    assert_memory_equal(body, "Invalid origin", len);
    assert_string_equal(gwf_test_reply_details(res), "csrf_origin_mismatch");
    assert_string_equal(gwf_test_header(res, "content-type", 0), "text/plain");
    assert_null(gwf_test_upstream_method(res));
    gwf_test_result_free(res);
    return 0;
}

static int
passed(gwf_test_host *h, const char *method, const char *headers)
{
    return passed_failing(h, method, headers, NULL, 0);
}

static void
assert_metric(gwf_test_host *h, const char *series, double want)
{
    double got = gwf_test_metric(h, series);
    if (!(got == want || (want == 0 && isnan(got))))
        fail_msg("want %s %g in:\n%s", series, want, gwf_test_metrics(h));
}

/* -- The check ------------------------------------------------------------ */

static void
test_cross_origin_post_is_refused_with_invalid_origin(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(ENFORCED);

    assert_false(passed(h, "POST",
                        "Host: example.com\r\n"
                        "Origin: https://evil.example\r\n"));
    gwf_test_host_free(h);
}

static void
test_same_origin_post_reaches_the_upstream(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(ENFORCED);

    assert_true(passed(h, "POST",
                       "Host: example.com\r\nOrigin: https://example.com\r\n"));
    assert_true(passed(h, "POST",
                       "Host: example.com\r\nOrigin: http://example.com\r\n"));
    gwf_test_host_free(h);
}

static void
test_host_and_origin_compare_without_case(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(ENFORCED);

    assert_true(passed(h, "POST",
                       "Host: EXAMPLE.com\r\nOrigin: https://example.COM\r\n"));
    gwf_test_host_free(h);
}

static void
test_ports_must_be_the_same_on_both_sides(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(ENFORCED);

    assert_true(passed(h, "POST",
                       "Host: example.com:8080\r\n"
                       "Origin: http://example.com:8080\r\n"));
    assert_false(passed(h, "POST",
                        "Host: example.com:8080\r\n"
                        "Origin: http://example.com\r\n"));
    assert_false(passed(h, "POST",
                        "Host: example.com\r\n"
                        "Origin: http://example.com:8080\r\n"));
    gwf_test_host_free(h);
}

static void
test_every_unsafe_method_is_checked(void **state)
{
    (void)state;
    static const char *const methods[] = {"POST", "PUT", "DELETE", "PATCH"};
    gwf_test_host *h = host_with(ENFORCED);

    for (size_t i = 0; i < 4; i++)
        assert_false(passed(h, methods[i],
                            "Host: example.com\r\n"
                            "Origin: https://evil.example\r\n"));
    gwf_test_host_free(h);
}

static void
test_other_methods_pass_unchecked_as_in_envoy(void **state)
{
    (void)state;
    static const char *const methods[] = {"GET", "HEAD", "OPTIONS", "TRACE",
                                          "PROPFIND"};
    gwf_test_host *h = host_with(ENFORCED);

    for (size_t i = 0; i < 5; i++)
        assert_true(passed(h, methods[i],
                           "Host: example.com\r\n"
                           "Origin: https://evil.example\r\n"));
    assert_metric(h, METRIC("request_invalid"), 0);
    assert_metric(h, METRIC("request_valid"), 0);
    gwf_test_host_free(h);
}

static void
test_referer_is_the_source_when_origin_is_absent_or_empty(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(ENFORCED);

    assert_true(passed(h, "POST",
                       "Host: example.com\r\n"
                       "Referer: https://example.com/form?x=1\r\n"));
    assert_false(passed(h, "POST",
                        "Host: example.com\r\n"
                        "Referer: https://evil.example/example.com\r\n"));
    assert_true(passed(h, "POST",
                       "Host: example.com\r\nOrigin: \r\n"
                       "Referer: https://example.com/\r\n"));
    gwf_test_host_free(h);
}

static void
test_origin_wins_over_referer(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(ENFORCED);

    assert_false(passed(h, "POST",
                        "Host: example.com\r\n"
                        "Origin: https://evil.example\r\n"
                        "Referer: https://example.com/\r\n"));
    gwf_test_host_free(h);
}

static void
test_request_without_origin_or_referer_is_refused_and_counted(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(ENFORCED);

    assert_false(passed(h, "POST", "Host: example.com\r\n"));
    assert_metric(h, METRIC("missing_source_origin"), 1);
    assert_metric(h, METRIC("request_invalid"), 1);
    assert_metric(h, METRIC("request_valid"), 0);
    gwf_test_host_free(h);
}

static void
test_hostile_origins_are_refused(void **state)
{
    (void)state;
    static const char *const origins[] = {
        "null",
        "example.com.evil.example",
        "https://example.com@evil.example",
        "https://evil@example.com",
        "https://example.com.evil.example",
        "https://",
        "://example.com",
        "https://evil.example/https://example.com",
    };
    gwf_test_host *h = host_with(ENFORCED);
    char headers[512];

    for (size_t i = 0; i < sizeof(origins) / sizeof(origins[0]); i++) {
        snprintf(headers, sizeof(headers),
                 "Host: example.com\r\nOrigin: %s\r\n", origins[i]);
        if (passed(h, "POST", headers))
            fail_msg("Origin \"%s\" passed", origins[i]);
    }
    gwf_test_host_free(h);
}

static void
test_a_bare_host_as_origin_is_compared_as_is(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(ENFORCED);

    /* Envoy's hostAndPort keeps a value that is not a URL whole. */
    assert_true(
        passed(h, "POST", "Host: example.com\r\nOrigin: example.com\r\n"));
    gwf_test_host_free(h);
}

static void
test_two_origin_headers_are_refused_even_when_both_match(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(ENFORCED);

    assert_false(passed(h, "POST",
                        "Host: example.com\r\n"
                        "Origin: https://example.com\r\n"
                        "Origin: https://example.com\r\n"));
    assert_false(passed(h, "POST",
                        "Host: example.com\r\n"
                        "Referer: https://example.com/\r\n"
                        "Referer: https://example.com/\r\n"));
    assert_metric(h, METRIC("missing_source_origin"), 0);
    assert_metric(h, METRIC("request_invalid"), 2);
    gwf_test_host_free(h);
}

static void
test_huge_origin_is_refused_without_harm(void **state)
{
    (void)state;
    gwf_test_host *h =
        host_with("{percentageEnabled: 100, additionalOrigins: [{contains: zz},"
                  " {safeRegex: '(a|aa)*b'}]}");
    size_t n = 60000;
    char *headers = malloc(n + 64);

    assert_non_null(headers);
    strcpy(headers, "Host: example.com\r\nOrigin: https://");
    memset(headers + strlen(headers), 'a', n);
    strcpy(headers + strlen("Host: example.com\r\nOrigin: https://") + n,
           "\r\n");
    assert_false(passed(h, "POST", headers));
    free(headers);
    gwf_test_host_free(h);
}

/* -- Additional origins ---------------------------------------------------- */

static int
origin_passes(gwf_test_host *h, const char *origin)
{
    char headers[512];
    snprintf(headers, sizeof(headers), "Host: api.example\r\nOrigin: %s\r\n",
             origin);
    return passed(h, "POST", headers);
}

static void
test_additional_origins_match_the_sources_host_and_port(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(
        "{percentageEnabled: 100, additionalOrigins: ["
        "{exact: app.example}, {prefix: 'admin.'}, {suffix: "
        "'.trusted.example'},"
        " {contains: '-partner-'}, {safeRegex: 'shop[0-9]+\\.example:8443'},"
        " {exact: Upper.Example, ignoreCase: true},"
        " {exact: 'https://full.example'}]}");

    assert_true(origin_passes(h, "https://app.example"));
    assert_false(origin_passes(h, "https://app.example:8443"));
    assert_false(origin_passes(h, "https://xapp.example"));
    assert_true(origin_passes(h, "https://admin.anything"));
    assert_true(origin_passes(h, "https://a.b.trusted.example"));
    assert_false(origin_passes(h, "https://trusted.example"));
    assert_true(origin_passes(h, "https://x-partner-y.example"));
    assert_true(origin_passes(h, "https://shop12.example:8443"));
    /* safeRegex is a full match, as Envoy's. */
    assert_false(origin_passes(h, "https://shop12.example:84430"));
    assert_false(origin_passes(h, "https://xshop1.example:8443"));
    assert_false(origin_passes(h, "https://shop.example:8443"));
    assert_true(origin_passes(h, "https://UPPER.example"));
    /* Matchers see the host and port, never the scheme. */
    assert_false(origin_passes(h, "https://full.example"));
    gwf_test_host_free(h);
}

static void
test_matchers_are_case_sensitive_unless_ignore_case(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(
        "{percentageEnabled: 100, additionalOrigins: [{exact: app.example},"
        " {suffix: .Trusted.Example, ignoreCase: false}]}");

    assert_false(origin_passes(h, "https://APP.example"));
    assert_false(origin_passes(h, "https://a.trusted.example"));
    assert_true(origin_passes(h, "https://a.Trusted.Example"));
    gwf_test_host_free(h);
}

/* -- What the host could not read ----------------------------------------- */

#define SAME_ORIGIN "Host: example.com\r\nOrigin: https://example.com\r\n"

/* A method the host could not read (out of memory) may be a write: it
 * is not let through unchecked but taken as invalid, refused when
 * enforced and counted (and let through) when shadowed. */
static void
test_method_the_host_cannot_read_is_an_invalid_request(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(ENFORCED);

    assert_false(passed_failing(h, "POST", SAME_ORIGIN, ":method", 0));
    assert_false(passed_failing(h, "GET", SAME_ORIGIN, ":method", 0));
    assert_metric(h, METRIC("request_invalid"), 2);
    assert_metric(h, METRIC("missing_source_origin"), 0);
    assert_true(gwf_test_log_contains(h, "could not read the method"));
    /* The same requests, read. */
    assert_true(passed(h, "POST", SAME_ORIGIN));
    assert_true(passed(h, "GET", SAME_ORIGIN));
    assert_metric(h, METRIC("request_valid"), 1);
    gwf_test_host_free(h);

    h = host_with("{percentageShadowed: 100}");
    assert_true(passed_failing(h, "POST", SAME_ORIGIN, ":method", 0));
    assert_metric(h, METRIC("request_invalid"), 1);
    assert_metric(h, METRIC("request_valid"), 0);
    gwf_test_host_free(h);
}

/* An Origin the host could not read is not an absent one: the Referer
 * would judge a request its Origin names, and an unread second Origin
 * would hide a repeated one. Either is invalid. */
static void
test_origin_the_host_cannot_read_is_an_invalid_request(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(ENFORCED);

    assert_false(passed_failing(h, "POST",
                                "Host: example.com\r\n"
                                "Origin: https://evil.example\r\n"
                                "Referer: https://example.com/page\r\n",
                                "origin", 0));
    assert_false(passed_failing(h, "POST",
                                SAME_ORIGIN "Origin: https://evil.example\r\n",
                                "origin", 1));
    assert_false(passed_failing(h, "POST",
                                "Host: example.com\r\n"
                                "Referer: https://example.com/page\r\n"
                                "Referer: https://evil.example/\r\n",
                                "referer", 1));
    assert_metric(h, METRIC("request_invalid"), 3);
    assert_metric(h, METRIC("missing_source_origin"), 0);
    /* A first value read, and no second one: valid as ever. */
    assert_true(passed_failing(h, "POST", SAME_ORIGIN, "origin", 2));
    assert_metric(h, METRIC("request_valid"), 1);
    gwf_test_host_free(h);
}

/* -- Enforcement, shadow and sampling -------------------------------------- */

static void
test_shadow_mode_counts_but_lets_through(void **state)
{
    (void)state;
    gwf_test_host *h = host_with("{percentageShadowed: 100}");

    assert_true(passed(
        h, "POST", "Host: example.com\r\nOrigin: https://evil.example\r\n"));
    assert_true(passed(h, "POST", "Host: example.com\r\n"));
    assert_true(passed(h, "POST",
                       "Host: example.com\r\nOrigin: https://example.com\r\n"));
    assert_metric(h, METRIC("request_invalid"), 2);
    assert_metric(h, METRIC("missing_source_origin"), 1);
    assert_metric(h, METRIC("request_valid"), 1);
    gwf_test_host_free(h);
}

static void
test_policy_without_percentages_checks_nothing(void **state)
{
    (void)state;
    static const char *const configs[] = {"{}", "{percentageEnabled: 0}",
                                          "{percentageShadowed: 0}"};
    for (size_t i = 0; i < 3; i++) {
        gwf_test_host *h = host_with(configs[i]);
        assert_true(passed(h, "POST",
                           "Host: example.com\r\n"
                           "Origin: https://evil.example\r\n"));
        assert_metric(h, METRIC("request_invalid"), 0);
        gwf_test_host_free(h);
    }
}

static void
test_percentage_enabled_checks_that_share_of_requests(void **state)
{
    (void)state;
    gwf_test_host *h = host_with("{percentageEnabled: 30}");
    int refused = 0;

    for (int i = 0; i < 1000; i++)
        refused += !passed(h, "DELETE",
                           "Host: example.com\r\n"
                           "Origin: https://evil.example\r\n");
    /* 30% of 1000: 300, with a binomial sd of about 14.5. */
    if (refused < 220 || refused > 380)
        fail_msg("refused %d of 1000 at 30%%", refused);
    assert_metric(h, METRIC("request_invalid"), refused);
    gwf_test_host_free(h);
}

static void
test_valid_requests_are_counted(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(ENFORCED);

    for (int i = 0; i < 3; i++)
        assert_true(passed(h, "PUT",
                           "Host: example.com\r\n"
                           "Origin: https://example.com\r\n"));
    assert_metric(h, METRIC("request_valid"), 3);
    assert_metric(h, METRIC("request_invalid"), 0);
    gwf_test_host_free(h);
}

/* -- Config errors ----------------------------------------------------------
 */

static void
assert_config_error(const char *config, const char *field, const char *message)
{
    char text[16384];
    gwf_test_host *h = gwf_test_host_new();
    const char *err;

    snprintf(text, sizeof(text),
             "apiVersion: gateway.kgateway.dev/v1alpha1\n"
             "kind: GatewayExtension\n"
             "metadata: {name: csrf, namespace: default}\n"
             "spec: {plugin: {name: csrf, config: %s}}\n",
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
test_config_percentages_are_checked(void **state)
{
    (void)state;
    assert_config_error("{percentageEnabled: 50, percentageShadowed: 50}",
                        "percentageShadowed",
                        "at most one of percentageEnabled and "
                        "percentageShadowed, found both");
    assert_config_error("{percentageEnabled: 101}", "percentageEnabled",
                        "from 0 to 100, found 101");
    assert_config_error("{percentageShadowed: -1}", "percentageShadowed",
                        "from 0 to 100");
    assert_config_error("{percentageEnabled: '50'}", "percentageEnabled",
                        "expected");
    assert_config_error("{percentageEnabled: 100, enabled: true}", "enabled",
                        "unknown field");
}

static void
test_config_matchers_are_checked(void **state)
{
    (void)state;
    char config[4096];
    size_t n = 0;

    assert_config_error("{additionalOrigins: [{exact: a, prefix: b}]}",
                        "additionalOrigins[0]",
                        "exactly one of exact, prefix, suffix, contains, "
                        "safeRegex, found several");
    assert_config_error("{additionalOrigins: [{ignoreCase: true}]}",
                        "additionalOrigins[0]", "found none");
    assert_config_error("{additionalOrigins: [{prefix: ''}]}",
                        "additionalOrigins[0].prefix", "");
    assert_config_error("{additionalOrigins: [{exact: a, ignoreCase: 1}]}",
                        "additionalOrigins[0].ignoreCase", "expected");
    assert_config_error("{additionalOrigins: [{exact: a}, {safeRegex: 'a(b'}]}",
                        "additionalOrigins[1].safeRegex",
                        "found an error at byte 3");
    assert_config_error("{additionalOrigins: [{safeRegex: '(a)\\1'}]}",
                        "additionalOrigins[0].safeRegex", "a back reference");
    assert_config_error("{additionalOrigins: [{safeRegex: 'a(?=b)'}]}",
                        "additionalOrigins[0].safeRegex", "a lookaround");
    assert_config_error("{additionalOrigins: [{exacts: a}]}",
                        "additionalOrigins[0].exacts", "unknown field");
    assert_config_error("{additionalOrigins: [a.example]}",
                        "additionalOrigins[0]", "expected a string matcher");

    n += (size_t)snprintf(config + n, sizeof(config) - n,
                          "{additionalOrigins: [");
    for (int i = 0; i < 17; i++)
        n += (size_t)snprintf(config + n, sizeof(config) - n,
                              "%s{exact: h%d.example}", i ? ", " : "", i);
    snprintf(config + n, sizeof(config) - n, "]}");
    assert_config_error(config, "additionalOrigins", "at most 16");
}

static void
test_config_disable_is_accepted_and_ignored(void **state)
{
    (void)state;
    gwf_test_host *h = host_with("{percentageEnabled: 100, disable: {}}");

    assert_false(passed(
        h, "POST", "Host: example.com\r\nOrigin: https://evil.example\r\n"));
    gwf_test_host_free(h);
}

/* -- Through the TrafficPolicy fields -------------------------------------- */

/* One TrafficPolicy with `cors` and `csrf`: the runtime runs cors first,
 * so the csrf plugin's 403 carries the CORS headers a browser needs to
 * read it. */
static void
test_traffic_policy_csrf_refusal_carries_cors_headers(void **state)
{
    (void)state;
    static const char *const policy =
        "apiVersion: gateway.kgateway.dev/v1alpha1\n"
        "kind: TrafficPolicy\n"
        "metadata: {name: api, namespace: default}\n"
        "spec:\n"
        "  cors: {allowOrigins: ['https://app.example']}\n"
        "  csrf: {percentageEnabled: 100}\n";
    static const char *const raw = "POST / HTTP/1.1\r\nHost: api.example\r\n"
                                   "Origin: https://app.example\r\n\r\n";
    gwf_test_host *h = gwf_test_host_new();
    const gwf_test_route route = {.policy = "default/api"};
    gwf_test_request *req;
    gwf_test_result *res;
    size_t len = 0;
    const char *body;

    assert_int_equal(gwf_test_load_text(h, policy), 0);
    req = gwf_test_request_parse(h, raw, strlen(raw));
    assert_non_null(req);
    res = gwf_test_run(h, &route, req);
    gwf_test_request_free(req);
    if (!res)
        fail_msg("run: %s", gwf_test_error(h));
    assert_int_equal(gwf_test_status(res), 403);
    body = gwf_test_body(res, &len);
    assert_int_equal(len, 14);
    assert_memory_equal(body, "Invalid origin", 14);
    assert_string_equal(gwf_test_header(res, "access-control-allow-origin", 0),
                        "https://app.example");
    assert_null(gwf_test_upstream_method(res));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cross_origin_post_is_refused_with_invalid_origin),
        cmocka_unit_test(test_same_origin_post_reaches_the_upstream),
        cmocka_unit_test(test_host_and_origin_compare_without_case),
        cmocka_unit_test(test_ports_must_be_the_same_on_both_sides),
        cmocka_unit_test(test_every_unsafe_method_is_checked),
        cmocka_unit_test(test_other_methods_pass_unchecked_as_in_envoy),
        cmocka_unit_test(
            test_referer_is_the_source_when_origin_is_absent_or_empty),
        cmocka_unit_test(test_origin_wins_over_referer),
        cmocka_unit_test(
            test_request_without_origin_or_referer_is_refused_and_counted),
        cmocka_unit_test(test_hostile_origins_are_refused),
        cmocka_unit_test(test_a_bare_host_as_origin_is_compared_as_is),
        cmocka_unit_test(
            test_two_origin_headers_are_refused_even_when_both_match),
        cmocka_unit_test(test_huge_origin_is_refused_without_harm),
        cmocka_unit_test(
            test_additional_origins_match_the_sources_host_and_port),
        cmocka_unit_test(test_matchers_are_case_sensitive_unless_ignore_case),
        cmocka_unit_test(
            test_method_the_host_cannot_read_is_an_invalid_request),
        cmocka_unit_test(
            test_origin_the_host_cannot_read_is_an_invalid_request),
        cmocka_unit_test(test_shadow_mode_counts_but_lets_through),
        cmocka_unit_test(test_policy_without_percentages_checks_nothing),
        cmocka_unit_test(test_percentage_enabled_checks_that_share_of_requests),
        cmocka_unit_test(test_valid_requests_are_counted),
        cmocka_unit_test(test_config_percentages_are_checked),
        cmocka_unit_test(test_config_matchers_are_checked),
        cmocka_unit_test(test_config_disable_is_accepted_and_ignored),
        cmocka_unit_test(test_traffic_policy_csrf_refusal_carries_cors_headers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
