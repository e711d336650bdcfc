/*
 * test_hello_header.c - hello_header on the gwf test host (gwf-testing):
 * the plugin is loaded from its build directory (GWF_PLUGIN_PATH, set by
 * meson.build), configured from a manifest and run against the stub
 * upstream, in-process, without a proxy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <gwf/testing.h>

/* A GatewayExtension default/hello that runs the plugin with `config`. */
static gwf_test_host *
host_with_config(const char *config)
{
    char text[1024];
    gwf_test_host *h = gwf_test_host_new();

    assert_non_null(h);
    snprintf(text, sizeof(text),
             "apiVersion: gateway.kgateway.dev/v1alpha1\n"
             "kind: GatewayExtension\n"
             "metadata: {name: hello, namespace: default}\n"
             "spec:\n"
             "  plugin:\n"
             "    name: hello_header\n"
             "    config: %s\n",
             config);
    if (gwf_test_load_text(h, text) != 0)
        fail_msg("load: %s", gwf_test_error(h));
    return h;
}

/* GET / with exactly two headers through a route that uses
 * default/hello. */
static gwf_test_result *
run(gwf_test_host *h)
{
    static const char raw[] = "GET / HTTP/1.1\r\n"
                              "Host: example.com\r\n"
                              "Accept: */*\r\n"
                              "\r\n";
    static const char *const extensions[] = {"default/hello", NULL};
    const gwf_test_route route = {.extensions = extensions};
    gwf_test_request *req = gwf_test_request_parse(h, raw, strlen(raw));
    gwf_test_result *res;

    if (!req)
        fail_msg("parse: %s", gwf_test_error(h));
    res = gwf_test_run(h, &route, req);
    gwf_test_request_free(req);
    if (!res)
        fail_msg("run: %s", gwf_test_error(h));
    return res;
}

static void
test_response_gets_the_configured_header(void **state)
{
    (void)state;
    gwf_test_host *h = host_with_config("{header: x-hello, value: world}");
    gwf_test_result *res = run(h);

    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_int_equal(gwf_test_status(res), 200);
    assert_string_equal(gwf_test_header(res, "x-hello", 0), "world");
    assert_null(gwf_test_upstream_header(res, "x-header-count", 0));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_upstream_gets_the_request_header_count(void **state)
{
    (void)state;
    gwf_test_host *h = host_with_config(
        "{header: x-hello, value: world, countHeader: x-header-count}");
    gwf_test_result *res = run(h);

    assert_string_equal(gwf_test_upstream_header(res, "x-header-count", 0),
                        "2");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_missing_value_is_a_config_error(void **state)
{
    (void)state;
    gwf_test_host *h = host_with_config("{header: x-hello}");

    assert_int_equal(gwf_test_validate(h), -1);
    assert_non_null(strstr(gwf_test_error(h), "value"));
    assert_non_null(strstr(gwf_test_error(h), "is required"));
    gwf_test_host_free(h);
}

static void
test_bad_header_name_is_a_config_error(void **state)
{
    (void)state;
    gwf_test_host *h = host_with_config("{header: 'x hello', value: world}");

    assert_int_equal(gwf_test_validate(h), -1);
    assert_non_null(
        strstr(gwf_test_error(h), "header: expected a header name"));
    gwf_test_host_free(h);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_response_gets_the_configured_header),
        cmocka_unit_test(test_upstream_gets_the_request_header_count),
        cmocka_unit_test(test_missing_value_is_a_config_error),
        cmocka_unit_test(test_bad_header_name_is_a_config_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
