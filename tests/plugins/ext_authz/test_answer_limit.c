/*
 * test_answer_limit.c - maxAnswerHeaders, the most operations one
 * authorization answer may carry (a gwf extension of spec.extAuth): the
 * header lines of an HTTP answer, the header and query operations of a
 * gRPC ok_response or the headers of a denied_response. At the bound the
 * answer is applied whole; one more and it is the service's failure
 * (statusOnError, with a note naming the bound), never an allow of a
 * denial. Against the tests' own servers (authz_http.py /headers-N,
 * authz_grpc.py /headers-N and /deny-headers-N), both running for the
 * whole file.
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

#include "peer.h"

#define MS (UINT64_C(1000000))

static ea_peer http_server, grpc_server;

static int
start_servers(void **state)
{
    (void)state;
    if (ea_peer_start(&http_server, AUTHZ_HTTP_SCRIPT, NULL) != 0)
        return -1;
    if (ea_peer_start(&grpc_server, AUTHZ_GRPC_SCRIPT, NULL) != 0) {
        ea_peer_stop(&http_server);
        return -1;
    }
    return 0;
}

static int
stop_servers(void **state)
{
    (void)state;
    ea_peer_stop(&http_server);
    ea_peer_stop(&grpc_server);
    return 0;
}

/* HTTP mode, the first two and the last of the answer's x-h headers
 * copied to the upstream, with `extra` (", key: value" or ""). */
static gwf_test_host *
http_host(const char *extra)
{
    char spec[512];

    snprintf(spec, sizeof(spec),
             "{httpService: {backendRef: {name: authz}, requestTimeout: 10s, "
             "authorizationResponse: {headersToBackend: [x-h0, x-h1, x-h98, "
             "x-h9998]}}%s}",
             extra);
    return ea_host_for(http_server.port, spec, "");
}

static gwf_test_host *
grpc_host(const char *extra)
{
    char spec[256];

    snprintf(spec, sizeof(spec),
             "{grpcService: {backendRef: {name: authz}, requestTimeout: 10s}"
             "%s}",
             extra);
    return ea_host_for(grpc_server.port, spec, "");
}

static const gwf_test_route api = {.policy = "default/api"};

/* Run `path` to its end. libcurl reads a large answer partly on its own
 * timers, which run on the test host's clock: the clock is moved a
 * millisecond at a time meanwhile, well within requestTimeout. */
static gwf_test_result *
run(gwf_test_host *h, const char *path)
{
    gwf_test_request *req = gwf_test_request_new("GET", path);
    gwf_test_result *res = gwf_test_start(h, &api, req, 1000);

    if (!res)
        fail_msg("start: %s", gwf_test_error(h));
    for (int i = 0; i < 5000 && gwf_test_outcome(res) == GWF_TEST_RUNNING;
         i++) {
        gwf_test_advance(h, 1 * MS);
        gwf_test_wait(h, res, 10);
    }
    gwf_test_request_free(req);
    return res;
}

static void
done(gwf_test_host *h, gwf_test_result *res)
{
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static const char *
upstream(const gwf_test_result *res, const char *name)
{
    const char *v = gwf_test_upstream_header(res, name, 0);
    return v ? v : "(absent)";
}

static void
assert_refused(gwf_test_host *h, gwf_test_result *res, const char *note)
{
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
    assert_int_equal(gwf_test_status(res), 403);
    if (!gwf_test_log_contains(h, note))
        fail_msg("expected \"%s\" in the log", note);
}

static void
expect_config_error(const char *ext_auth, const char *needle)
{
    gwf_test_host *h = ea_host_for(http_server.port, ext_auth, "");

    assert_int_equal(gwf_test_validate(h), -1);
    if (!strstr(gwf_test_error(h), needle))
        fail_msg("expected \"%s\" in: %s", needle, gwf_test_error(h));
    gwf_test_host_free(h);
}

/* ---- HTTP mode: the answer's header lines -------------------------- */

static void
test_http_default_accepts_100_header_lines(void **state)
{
    gwf_test_host *h = http_host("");
    gwf_test_result *res = run(h, "/headers-100");

    (void)state;
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_string_equal(upstream(res, "x-h0"), "v");
    assert_string_equal(upstream(res, "x-h98"), "v");
    done(h, res);
}

static void
test_http_default_refuses_101_header_lines(void **state)
{
    gwf_test_host *h = http_host("");
    gwf_test_result *res = run(h, "/headers-101");

    (void)state;
    assert_refused(h, res,
                   "the authz server's answer has more than 100 header "
                   "lines (maxAnswerHeaders)");
    done(h, res);
}

static void
test_http_bound_of_3_accepts_3_header_lines(void **state)
{
    gwf_test_host *h = http_host(", maxAnswerHeaders: 3");
    gwf_test_result *res = run(h, "/headers-3");

    (void)state;
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_string_equal(upstream(res, "x-h0"), "v");
    assert_string_equal(upstream(res, "x-h1"), "v");
    done(h, res);
}

static void
test_http_bound_of_3_refuses_4_header_lines(void **state)
{
    gwf_test_host *h = http_host(", maxAnswerHeaders: 3");
    gwf_test_result *res = run(h, "/headers-4");

    (void)state;
    assert_refused(h, res,
                   "the authz server's answer has more than 3 header "
                   "lines (maxAnswerHeaders)");
    done(h, res);
}

/* Over the bound is the service's failure, which failOpen lets through
 * for an answer that said 200 ... */
static void
test_http_allow_over_the_bound_fails_open(void **state)
{
    gwf_test_host *h = http_host(", maxAnswerHeaders: 3, failOpen: true");
    gwf_test_result *res = run(h, "/headers-4");

    (void)state;
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_string_equal(upstream(res, "x-h0"), "(absent)");
    assert_true(gwf_test_log_contains(h, "more than 3 header lines"));
    done(h, res);
}

/* ... but never for one that began as a denial. */
static void
test_http_denial_over_the_bound_is_not_allowed_by_fail_open(void **state)
{
    gwf_test_host *h = http_host(", maxAnswerHeaders: 3, failOpen: true");
    gwf_test_result *res = run(h, "/deny/headers-4");

    (void)state;
    assert_refused(h, res, "more than 3 header lines");
    assert_true(gwf_test_log_contains(h, "the answer began as a denial"));
    done(h, res);
}

static void
test_http_bound_of_10000_accepts_10000_header_lines(void **state)
{
    gwf_test_host *h = http_host(", maxAnswerHeaders: 10000");
    gwf_test_result *res = run(h, "/headers-10000");

    (void)state;
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_string_equal(upstream(res, "x-h0"), "v");
    assert_string_equal(upstream(res, "x-h9998"), "v");
    done(h, res);
}

/* ---- gRPC mode: the operations of the CheckResponse ---------------- */

static void
test_grpc_default_accepts_100_operations(void **state)
{
    gwf_test_host *h = grpc_host("");
    gwf_test_result *res = run(h, "/headers-100");

    (void)state;
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_string_equal(upstream(res, "x-h0"), "v");
    assert_string_equal(upstream(res, "x-h99"), "v");
    done(h, res);
}

static void
test_grpc_default_refuses_101_operations(void **state)
{
    gwf_test_host *h = grpc_host("");
    gwf_test_result *res = run(h, "/headers-101");

    (void)state;
    assert_refused(h, res,
                   "the answer has more than 100 header and query "
                   "operations (maxAnswerHeaders)");
    done(h, res);
}

static void
test_grpc_bound_of_3_accepts_3_operations(void **state)
{
    gwf_test_host *h = grpc_host(", maxAnswerHeaders: 3");
    gwf_test_result *res = run(h, "/headers-3");

    (void)state;
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_string_equal(upstream(res, "x-h0"), "v");
    assert_string_equal(upstream(res, "x-h2"), "v");
    done(h, res);
}

static void
test_grpc_bound_of_3_refuses_4_operations(void **state)
{
    gwf_test_host *h = grpc_host(", maxAnswerHeaders: 3");
    gwf_test_result *res = run(h, "/headers-4");

    (void)state;
    assert_refused(h, res,
                   "the answer has more than 3 header and query "
                   "operations (maxAnswerHeaders)");
    assert_string_equal(upstream(res, "x-h0"), "(absent)");
    done(h, res);
}

static void
test_grpc_bound_of_3_applies_a_denial_with_3_headers(void **state)
{
    gwf_test_host *h = grpc_host(", maxAnswerHeaders: 3");
    gwf_test_result *res = run(h, "/deny-headers-3");

    (void)state;
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
    assert_int_equal(gwf_test_status(res), 401);
    assert_string_equal(gwf_test_header(res, "x-h2", 0), "v");
    done(h, res);
}

/* A denial stays a denial over the bound: a plain 403, even with
 * failOpen, without its headers. */
static void
test_grpc_denial_over_the_bound_is_a_plain_403(void **state)
{
    gwf_test_host *h = grpc_host(", maxAnswerHeaders: 3, failOpen: true");
    gwf_test_result *res = run(h, "/deny-headers-4");

    (void)state;
    assert_refused(h, res,
                   "the answer has more than 3 denial headers "
                   "(maxAnswerHeaders)");
    assert_null(gwf_test_header(res, "x-h0", 0));
    done(h, res);
}

static void
test_grpc_bound_of_10000_accepts_10000_operations(void **state)
{
    gwf_test_host *h = grpc_host(", maxAnswerHeaders: 10000");
    gwf_test_result *res = run(h, "/headers-10000");

    (void)state;
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_string_equal(upstream(res, "x-h0"), "v");
    assert_string_equal(upstream(res, "x-h5000"), "v");
    assert_string_equal(upstream(res, "x-h9999"), "v");
    done(h, res);
}

/* ---- config -------------------------------------------------------- */

static void
test_config_bound_of_0_is_rejected(void **state)
{
    (void)state;
    expect_config_error("{maxAnswerHeaders: 0, httpService: {backendRef: "
                        "{name: authz}}}",
                        "spec.extAuth.maxAnswerHeaders: expected an integer "
                        "from 1 to 10000, found 0");
}

static void
test_config_bound_of_10001_is_rejected(void **state)
{
    (void)state;
    expect_config_error("{maxAnswerHeaders: 10001, grpcService: "
                        "{backendRef: {name: authz}}}",
                        "spec.extAuth.maxAnswerHeaders: expected an integer "
                        "from 1 to 10000, found 10001");
}

static void
test_config_bound_as_a_string_is_rejected(void **state)
{
    (void)state;
    expect_config_error("{maxAnswerHeaders: \"100\", httpService: "
                        "{backendRef: {name: authz}}}",
                        "spec.extAuth.maxAnswerHeaders: expected an integer, "
                        "found a string");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_default_accepts_100_header_lines),
        cmocka_unit_test(test_http_default_refuses_101_header_lines),
        cmocka_unit_test(test_http_bound_of_3_accepts_3_header_lines),
        cmocka_unit_test(test_http_bound_of_3_refuses_4_header_lines),
        cmocka_unit_test(test_http_allow_over_the_bound_fails_open),
        cmocka_unit_test(
            test_http_denial_over_the_bound_is_not_allowed_by_fail_open),
        cmocka_unit_test(test_http_bound_of_10000_accepts_10000_header_lines),
        cmocka_unit_test(test_grpc_default_accepts_100_operations),
        cmocka_unit_test(test_grpc_default_refuses_101_operations),
        cmocka_unit_test(test_grpc_bound_of_3_accepts_3_operations),
        cmocka_unit_test(test_grpc_bound_of_3_refuses_4_operations),
        cmocka_unit_test(test_grpc_bound_of_3_applies_a_denial_with_3_headers),
        cmocka_unit_test(test_grpc_denial_over_the_bound_is_a_plain_403),
        cmocka_unit_test(test_grpc_bound_of_10000_accepts_10000_operations),
        cmocka_unit_test(test_config_bound_of_0_is_rejected),
        cmocka_unit_test(test_config_bound_of_10001_is_rejected),
        cmocka_unit_test(test_config_bound_as_a_string_is_rejected),
    };

    return cmocka_run_group_tests(tests, start_servers, stop_servers);
}
