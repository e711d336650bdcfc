/*
 * test_grpc.c - the ext_authz plugin in gRPC mode against a real gRPC
 * server (authz_grpc.py, python3-grpcio): the CheckRequest attributes it
 * receives, and how ok_response / denied_response / failures are applied.
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

static ea_peer server;

static int
start_server(void **state)
{
    (void)state;
    return ea_peer_start(&server, AUTHZ_GRPC_SCRIPT, NULL);
}

static int
stop_server(void **state)
{
    (void)state;
    ea_peer_stop(&server);
    return 0;
}

static gwf_test_host *
host_for(int port, const char *ext_auth, const char *policy_extra)
{
    static char text[8192];
    gwf_test_host *h = gwf_test_host_new();

    assert_non_null(h);
    snprintf(text, sizeof(text),
             "apiVersion: gateway.kgateway.dev/v1alpha1\n"
             "kind: Backend\n"
             "metadata: {name: authz}\n"
             "spec: {static: {hosts: [{host: 127.0.0.1, port: %d}]}}\n"
             "---\n"
             "apiVersion: gateway.kgateway.dev/v1alpha1\n"
             "kind: GatewayExtension\n"
             "metadata: {name: authz}\n"
             "spec: {extAuth: %s}\n"
             "---\n"
             "apiVersion: gateway.kgateway.dev/v1alpha1\n"
             "kind: TrafficPolicy\n"
             "metadata: {name: api}\n"
             "spec: {extAuth: {extensionRef: {name: authz}%s}}\n",
             port, ext_auth, policy_extra);
    if (gwf_test_load_text(h, text) != 0)
        fail_msg("load: %s", gwf_test_error(h));
    return h;
}

#define GRPC_SPEC "{grpcService: {backendRef: {name: authz}}}"

static gwf_test_host *
host_with(const char *ext_auth)
{
    return host_for(server.port, ext_auth, "");
}

static const gwf_test_route api = {.policy = "default/api"};

static gwf_test_result *
run(gwf_test_host *h, gwf_test_request *req)
{
    gwf_test_result *res = gwf_test_run(h, &api, req);

    if (!res)
        fail_msg("run: %s", gwf_test_error(h));
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
test_ok_response_allows_and_sets_headers(void **state)
{
    gwf_test_host *h = host_with(GRPC_SPEC);
    gwf_test_request *req = gwf_test_request_new("PUT", "/allow?x=1");
    gwf_test_result *res;

    (void)state;
    gwf_test_request_header(req, "x-custom", "c1");
    gwf_test_request_header(req, "x-secret", "s");
    gwf_test_request_remote(req, "192.0.2.7");
    res = run(h, req);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_string_equal(upstream(res, "x-user"), "alice");
    assert_string_equal(upstream(res, "x-grpc-method"), "PUT");
    assert_string_equal(upstream(res, "x-grpc-path"), "/allow?x=1");
    assert_string_equal(upstream(res, "x-grpc-host"), "example.com");
    assert_string_equal(upstream(res, "x-grpc-scheme"), "http");
    assert_string_equal(upstream(res, "x-grpc-custom"), "c1");
    assert_string_equal(upstream(res, "x-grpc-source"), "192.0.2.7");
    done(h, res);
}

static void
test_ok_response_removes_and_appends_headers(void **state)
{
    gwf_test_host *h = host_with(GRPC_SPEC);
    gwf_test_request *req = gwf_test_request_new("GET", "/allow");
    gwf_test_result *res;

    (void)state;
    gwf_test_request_header(req, "x-secret", "s");
    res = run(h, req);
    assert_null(gwf_test_upstream_header(res, "x-secret", 0));
    assert_string_equal(upstream(res, "x-multi"), "a");
    assert_string_equal(gwf_test_upstream_header(res, "x-multi", 1), "b");
    assert_string_equal(gwf_test_header(res, "x-client-hello", 0), "grpc");
    done(h, res);
}

static void
test_context_extensions_reach_the_server(void **state)
{
    gwf_test_host *h = host_for(server.port, GRPC_SPEC,
                                ", contextExtensions: {team: pay, env: "
                                "prod}");
    gwf_test_result *res = run(h, gwf_test_request_new("GET", "/allow"));

    (void)state;
    assert_string_equal(upstream(res, "x-grpc-ctx"), "env=prod,team=pay");
    done(h, res);
}

static void
test_denied_response_answers_with_its_status_headers_and_body(void **st)
{
    gwf_test_host *h = host_with(GRPC_SPEC);
    gwf_test_result *res = run(h, gwf_test_request_new("GET", "/deny"));
    size_t len;
    const char *body;

    (void)st;
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
    assert_int_equal(gwf_test_status(res), 401);
    assert_string_equal(gwf_test_header(res, "www-authenticate", 0), "Bearer");
    body = gwf_test_body(res, &len);
    assert_int_equal(len, 11);
    assert_memory_equal(body, "grpc denied", 11);
    done(h, res);
}

static void
test_failed_call_is_an_error(void **state)
{
    gwf_test_host *h = host_with(GRPC_SPEC);
    gwf_test_result *res = run(h, gwf_test_request_new("GET", "/fail"));

    (void)state;
    assert_int_equal(gwf_test_status(res), 403);
    assert_true(gwf_test_log_contains(h, "grpc-status"));
    done(h, res);
}

static void
test_failed_call_is_allowed_with_fail_open(void **state)
{
    gwf_test_host *h =
        host_with("{failOpen: true, grpcService: {backendRef: {name: authz}}}");
    gwf_test_result *res = run(h, gwf_test_request_new("GET", "/fail"));

    (void)state;
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    done(h, res);
}

static void
test_unavailable_is_retried(void **state)
{
    gwf_test_host *h = host_with(
        "{grpcService: {backendRef: {name: authz}, retry: {attempts: 1, "
        "backoff: {baseInterval: 10ms}}}}");
    gwf_test_request *req = gwf_test_request_new("GET", "/fail");
    gwf_test_result *res = gwf_test_start(h, &api, req, 1000);

    (void)state;
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_RUNNING);
    gwf_test_advance(h, 10 * MS);
    assert_int_equal(gwf_test_wait(h, res, 2000), 1);
    assert_int_equal(gwf_test_status(res), 403);
    assert_true(gwf_test_log_contains(h, "retry 1 of 1"));
    gwf_test_request_free(req);
    done(h, res);
}

static void
test_unreachable_server_is_an_error(void **state)
{
    gwf_test_host *h = host_for(ea_unused_port(), GRPC_SPEC, "");
    gwf_test_result *res = run(h, gwf_test_request_new("GET", "/allow"));

    (void)state;
    assert_int_equal(gwf_test_status(res), 403);
    done(h, res);
}

static void
test_grpc_timeout_is_an_error(void **state)
{
    gwf_test_host *h = host_with(
        "{grpcService: {backendRef: {name: authz}, requestTimeout: 2s}}");
    gwf_test_request *req = gwf_test_request_new("GET", "/slow");
    gwf_test_result *res = gwf_test_start(h, &api, req, 200);

    (void)state;
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_RUNNING);
    gwf_test_advance(h, 2000 * MS);
    assert_int_equal(gwf_test_wait(h, res, 1000), 1);
    assert_int_equal(gwf_test_status(res), 403);
    gwf_test_request_free(req);
    done(h, res);
}

static void
test_body_is_sent_as_string_or_bytes(void **state)
{
    gwf_test_host *h = host_with(
        "{withRequestBody: {maxRequestBytes: 4, allowPartialMessage: true}, "
        "grpcService: {backendRef: {name: authz}}}");
    gwf_test_host *hb =
        host_with("{withRequestBody: {maxRequestBytes: 64, packAsBytes: true}, "
                  "grpcService: {backendRef: {name: authz}}}");
    gwf_test_request *req = gwf_test_request_new("POST", "/allow");
    gwf_test_request *req2 = gwf_test_request_new("POST", "/allow");
    gwf_test_result *res, *res2;

    (void)state;
    gwf_test_request_body(req, "abcdefgh", 8);
    gwf_test_request_body(req2, "abcdefgh", 8);
    res = run(h, req);
    res2 = run(hb, req2);
    assert_string_equal(upstream(res, "x-grpc-body"), "abcd");
    assert_string_equal(upstream(res, "x-grpc-raw"), "0");
    assert_string_equal(upstream(res, "x-grpc-partial"), "true");
    assert_string_equal(upstream(res2, "x-grpc-body"), "abcdefgh");
    assert_string_equal(upstream(res2, "x-grpc-raw"), "1");
    done(h, res);
    done(hb, res2);
}

/* A body cut at maxRequestBytes inside a character is cut back to the
 * whole characters: still a valid proto3 string, still checked. */
static void
test_partial_body_is_cut_to_whole_characters(void **state)
{
    gwf_test_host *h = host_with(
        "{withRequestBody: {maxRequestBytes: 5, allowPartialMessage: true}, "
        "grpcService: {backendRef: {name: authz}}}");
    gwf_test_request *req = gwf_test_request_new("POST", "/allow");
    gwf_test_result *res;

    (void)state;
    gwf_test_request_body(req, "ab\xc3\xa9\xc3\xa9", 6); /* "abéé" */
    res = run(h, req);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    /* The server echoes the body read as Latin-1, re-encoded as UTF-8:
     * "ab\xc3\xa9" (5 bytes cut back to 4) arrives as "ab\xc3\x83\xc2\xa9". */
    assert_string_equal(upstream(res, "x-grpc-body"), "ab\xc3\x83\xc2\xa9");
    assert_string_equal(upstream(res, "x-grpc-partial"), "true");
    done(h, res);
}

/* A body that is not UTF-8 cannot be a proto3 string: without
 * packAsBytes the client's request is refused 400, even with failOpen,
 * and the authz server is not asked. */
static void
test_body_not_utf8_is_refused_400_without_pack_as_bytes(void **state)
{
    gwf_test_host *h =
        host_for(ea_unused_port(),
                 "{failOpen: true, withRequestBody: {maxRequestBytes: 64}, "
                 "grpcService: {backendRef: {name: authz}}}",
                 "");
    gwf_test_request *req = gwf_test_request_new("POST", "/allow");
    gwf_test_result *res;

    (void)state;
    gwf_test_request_body(req, "a\xff", 2);
    res = run(h, req);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
    assert_int_equal(gwf_test_status(res), 400);
    done(h, res);
}

static void
test_consecutive_checks_all_succeed(void **state)
{
    gwf_test_host *h = host_with(GRPC_SPEC);

    (void)state;
    for (int i = 0; i < 3; i++) {
        gwf_test_result *res = run(h, gwf_test_request_new("GET", "/allow"));
        if (gwf_test_outcome(res) != GWF_TEST_FORWARDED)
            fail_msg("check %d: %s", i, gwf_test_logs(h));
        gwf_test_result_free(res);
    }
    gwf_test_host_free(h);
}

/* A denial is a denial whatever else of the answer is wrong: the invalid
 * headers are dropped (and counted), never a malformed answer that
 * failOpen would turn into an allow. */
static void
test_denial_with_invalid_headers_stays_a_denial_under_fail_open(void **state)
{
    gwf_test_host *h =
        host_with("{failOpen: true, grpcService: {backendRef: {name: authz}}}");
    gwf_test_result *res =
        run(h, gwf_test_request_new("GET", "/deny-bad-header"));
    size_t len;

    (void)state;
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
    assert_int_equal(gwf_test_status(res), 403);
    assert_string_equal(gwf_test_header(res, "x-good", 0), "yes");
    assert_null(gwf_test_header(res, "x-bad", 0));
    assert_memory_equal(gwf_test_body(res, &len), "denied", 6);
    assert_true(gwf_test_metric(h, "gwf_ext_authz_dropped_headers_total{"
                                   "instance=\"default/authz\"}") == 3);
    assert_true(gwf_test_log_contains(h, "invalid header"));
    done(h, res);
}

/* A denied_response that cannot be read at all: still a denial, 403. */
static void
test_unreadable_denial_is_a_plain_403_under_fail_open(void **state)
{
    gwf_test_host *h =
        host_with("{failOpen: true, grpcService: {backendRef: {name: authz}}}");
    gwf_test_result *res =
        run(h, gwf_test_request_new("GET", "/deny-unreadable"));

    (void)state;
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
    assert_int_equal(gwf_test_status(res), 403);
    assert_true(gwf_test_log_contains(h, "denied_response is malformed"));
    done(h, res);
}

static void
test_query_parameters_are_set_and_removed(void **state)
{
    gwf_test_host *h = host_with(GRPC_SPEC);
    gwf_test_result *res =
        run(h, gwf_test_request_new("GET", "/query?api_key=k&a=old&b=1&a=x"));

    (void)state;
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_string_equal(gwf_test_upstream_path(res),
                        "/query?a=new&b=1&q=a%20b%26c%23d");
    done(h, res);
}

static void
test_query_parameters_are_added_to_a_path_without_query(void **state)
{
    gwf_test_host *h = host_with(GRPC_SPEC);
    gwf_test_result *res = run(h, gwf_test_request_new("GET", "/query"));

    (void)state;
    assert_string_equal(gwf_test_upstream_path(res),
                        "/query?a=new&q=a%20b%26c%23d");
    done(h, res);
}

static void
test_pseudo_header_removal_is_ignored(void **state)
{
    gwf_test_host *h = host_with(GRPC_SPEC);
    gwf_test_request *req = gwf_test_request_new("GET", "/remove-pseudo");
    gwf_test_result *res;

    (void)state;
    gwf_test_request_header(req, "x-secret", "s");
    res = run(h, req);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_null(gwf_test_upstream_header(res, "x-secret", 0));
    assert_string_equal(upstream(res, "host"), "example.com");
    done(h, res);
}

static void
test_two_overwriting_values_of_one_header_last_wins(void **state)
{
    gwf_test_host *h = host_with(GRPC_SPEC);
    gwf_test_request *req = gwf_test_request_new("GET", "/last-wins");
    gwf_test_result *res;

    (void)state;
    gwf_test_request_header(req, "x-one", "client");
    res = run(h, req);
    assert_string_equal(upstream(res, "x-one"), "2");
    assert_null(gwf_test_upstream_header(res, "x-one", 1));
    done(h, res);
}

static void
test_response_header_without_append_overwrites_the_upstreams(void **state)
{
    gwf_test_host *h = host_with(GRPC_SPEC);
    gwf_test_result *res;

    (void)state;
    gwf_test_set_upstream(h, 200, "x-upstream: upstream\r\n", "", 0);
    res = run(h, gwf_test_request_new("GET", "/last-wins"));
    assert_string_equal(gwf_test_header(res, "x-upstream", 0), "authz");
    assert_null(gwf_test_header(res, "x-upstream", 1));
    done(h, res);
}

/* 40,000 headers are over EA_MAX_ANSWER_HEADERS: the service's fault,
 * so statusOnError, and refused before any is applied. libcurl reads an
 * answer this large partly on its own timers, which run on the test
 * host's clock: the clock is moved a millisecond at a time meanwhile,
 * well within requestTimeout. */
static void
test_answer_with_too_many_headers_is_an_error(void **state)
{
    gwf_test_host *h = host_with(
        "{grpcService: {backendRef: {name: authz}, requestTimeout: 10s}}");
    gwf_test_request *req = gwf_test_request_new("GET", "/many-headers");
    gwf_test_result *res = gwf_test_start(h, &api, req, 1000);

    (void)state;
    for (int i = 0; i < 2000 && gwf_test_outcome(res) == GWF_TEST_RUNNING;
         i++) {
        gwf_test_advance(h, 1 * MS);
        gwf_test_wait(h, res, 10);
    }
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
    assert_int_equal(gwf_test_status(res), 403);
    assert_true(gwf_test_log_contains(h, "more than 100 header"));
    gwf_test_request_free(req);
    done(h, res);
}

static void
test_client_partial_body_header_does_not_reach_the_server(void **state)
{
    gwf_test_host *h = host_with(GRPC_SPEC);
    gwf_test_request *req = gwf_test_request_new("GET", "/allow");
    gwf_test_result *res;

    (void)state;
    gwf_test_request_header(req, "x-envoy-auth-partial-body", "true");
    res = run(h, req);
    assert_string_equal(upstream(res, "x-grpc-partial"), "");
    done(h, res);
}

/* 150 s is 150,000,000 microseconds: nine digits, more than gRPC's
 * grpc-timeout allows, so the unit must be a larger one. */
static void
test_long_request_timeout_reaches_the_server_as_its_deadline(void **state)
{
    gwf_test_host *h = host_with(
        "{grpcService: {backendRef: {name: authz}, requestTimeout: 150s}}");
    gwf_test_result *res = run(h, gwf_test_request_new("GET", "/deadline"));
    const char *left;

    (void)state;
    left = upstream(res, "x-grpc-deadline");
    assert_true(strcmp(left, "150") == 0 || strcmp(left, "149") == 0);
    done(h, res);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ok_response_allows_and_sets_headers),
        cmocka_unit_test(test_ok_response_removes_and_appends_headers),
        cmocka_unit_test(test_context_extensions_reach_the_server),
        cmocka_unit_test(
            test_denied_response_answers_with_its_status_headers_and_body),
        cmocka_unit_test(test_failed_call_is_an_error),
        cmocka_unit_test(test_failed_call_is_allowed_with_fail_open),
        cmocka_unit_test(test_unavailable_is_retried),
        cmocka_unit_test(test_unreachable_server_is_an_error),
        cmocka_unit_test(test_grpc_timeout_is_an_error),
        cmocka_unit_test(test_body_is_sent_as_string_or_bytes),
        cmocka_unit_test(test_partial_body_is_cut_to_whole_characters),
        cmocka_unit_test(
            test_body_not_utf8_is_refused_400_without_pack_as_bytes),
        cmocka_unit_test(test_consecutive_checks_all_succeed),
        cmocka_unit_test(
            test_denial_with_invalid_headers_stays_a_denial_under_fail_open),
        cmocka_unit_test(test_unreadable_denial_is_a_plain_403_under_fail_open),
        cmocka_unit_test(test_query_parameters_are_set_and_removed),
        cmocka_unit_test(
            test_query_parameters_are_added_to_a_path_without_query),
        cmocka_unit_test(test_pseudo_header_removal_is_ignored),
        cmocka_unit_test(test_two_overwriting_values_of_one_header_last_wins),
        cmocka_unit_test(
            test_response_header_without_append_overwrites_the_upstreams),
        cmocka_unit_test(test_answer_with_too_many_headers_is_an_error),
        cmocka_unit_test(
            test_client_partial_body_header_does_not_reach_the_server),
        cmocka_unit_test(
            test_long_request_timeout_reaches_the_server_as_its_deadline),
    };
    return cmocka_run_group_tests(tests, start_server, stop_server);
}
