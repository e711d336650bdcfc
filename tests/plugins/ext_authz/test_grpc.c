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

#include <gwf/abi.h>
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

#define GRPC_SPEC "{grpcService: {backendRef: {name: authz}}}"

static gwf_test_host *
host_with(const char *ext_auth)
{
    return ea_host_for(server.port, ext_auth, "");
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
    gwf_test_host *h = ea_host_for(server.port, GRPC_SPEC,
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

/* The authority the host could not read (out of memory) is not an absent
 * one: a CheckRequest without it would let a host rule of the server
 * pass. It is an error (403), and the server is not asked. */
static void
test_authority_the_host_cannot_read_is_an_error(void **state)
{
    gwf_test_host *h = host_with(GRPC_SPEC);
    gwf_test_request *req = gwf_test_request_new("GET", "/allow");
    gwf_test_result *res;

    (void)state;
    gwf_test_request_header_fails(req, "host");
    res = run(h, req);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
    assert_int_equal(gwf_test_status(res), 403);
    assert_string_equal(gwf_test_reply_details(res), "ext_authz_error");
    done(h, res);
    /* The same request, read: the server allows it. */
    h = host_with(GRPC_SPEC);
    res = run(h, gwf_test_request_new("GET", "/allow"));
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    done(h, res);
}

/* The same for the client's address: the host's failure to give it
 * reaches the plugin as a failure (the runtime does not turn it into an
 * absent attribute), and the check is an error. */
static void
test_client_address_the_host_cannot_read_is_an_error(void **state)
{
    gwf_test_host *h = host_with(GRPC_SPEC);
    gwf_test_request *req = gwf_test_request_new("GET", "/allow");
    gwf_test_result *res;

    (void)state;
    gwf_test_request_attribute_fails(req, GWF_ATTR_REMOTE_ADDRESS);
    res = run(h, req);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
    assert_int_equal(gwf_test_status(res), 403);
    assert_string_equal(gwf_test_reply_details(res), "ext_authz_error");
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
    gwf_test_host *h = ea_host_for(ea_unused_port(), GRPC_SPEC, "");
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

/* A CheckRequest far above one byte of length at every level (60
 * headers of 300 bytes, a 3000-byte body: lengths of 2 and 3 varint
 * bytes) arrives whole: every header, a repeated one joined with ',' in
 * the first one's place under its lowercase name, the body intact. */
static void
test_large_check_request_arrives_whole(void **state)
{
    gwf_test_host *h = host_with("{withRequestBody: {maxRequestBytes: 4096}, "
                                 "grpcService: {backendRef: {name: authz}}}");
    gwf_test_request *req = gwf_test_request_new("POST", "/allow");
    gwf_test_result *res;
    char name[16], value[301], body[3001];

    (void)state;
    memset(value, 'v', 300);
    value[300] = '\0';
    for (int i = 0; i < 60; i++) {
        snprintf(name, sizeof(name), "x-h%d", i);
        gwf_test_request_header(req, name, value);
    }
    gwf_test_request_header(req, "X-Custom", "a");
    gwf_test_request_header(req, "x-custom", "b");
    for (int i = 0; i < 3000; i++)
        body[i] = (char)('a' + i % 26);
    body[3000] = '\0';
    gwf_test_request_body(req, body, 3000);
    res = run(h, req);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_string_equal(upstream(res, "x-grpc-custom"), "a,b");
    assert_string_equal(upstream(res, "x-grpc-body"), body);
    assert_non_null(strstr(upstream(res, "x-grpc-names"), "x-h0,"));
    assert_non_null(strstr(upstream(res, "x-grpc-names"), "x-h59,"));
    assert_null(strstr(upstream(res, "x-grpc-names"), "X-Custom"));
    done(h, res);
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
        ea_host_for(ea_unused_port(),
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

/* 40,000 headers are over maxAnswerHeaders (100 by default): the
 * service's fault, so statusOnError, and refused before any is applied.
 * libcurl reads an answer this large partly on its own timers, which run
 * on the test host's clock: the clock is moved a millisecond at a time
 * meanwhile, well within requestTimeout. */
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

/* ---- dynamic_metadata: a stream value for the plugins after ours ---- */

/* ext_authz (the policy) then the probe plugin (tests/support/probe),
 * which logs the stream value "ext_authz.dynamic_metadata" as it reads
 * it in its request_headers hook. */
static const char *const probe_ext[] = {"probe", NULL};
static const gwf_test_route api_then_probe = {.policy = "default/api",
                                              .extensions = probe_ext};

static gwf_test_host *
host_with_probe(const char *ext_auth)
{
    gwf_test_host *h = host_with(ext_auth);

    if (gwf_test_load_text(h,
                           "apiVersion: gateway.kgateway.dev/v1alpha1\n"
                           "kind: GatewayExtension\n"
                           "metadata: {name: probe}\n"
                           "spec: {plugin: {name: probe, config: {tag: M, "
                           "value_get: [ext_authz.dynamic_metadata]}}}\n") != 0)
        fail_msg("load: %s", gwf_test_error(h));
    return h;
}

static gwf_test_result *
run_probed(gwf_test_host *h, const char *path)
{
    gwf_test_request *req = gwf_test_request_new("GET", path);
    gwf_test_result *res = gwf_test_run(h, &api_then_probe, req);

    if (!res)
        fail_msg("run: %s", gwf_test_error(h));
    gwf_test_request_free(req);
    return res;
}

#define METADATA_NOTE "probe M note: value ext_authz.dynamic_metadata "
#define METADATA_ABSENT METADATA_NOTE "status=1"

static void
test_dynamic_metadata_is_left_for_later_plugins_as_json(void **state)
{
    gwf_test_host *h = host_with_probe(GRPC_SPEC);
    gwf_test_result *res = run_probed(h, "/metadata");

    (void)state;
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_string_equal(upstream(res, "x-user"), "alice");
    /* Every kind of Value; keys sorted; the second occurrence of the
     * field merged into the first ("user" replaced). */
    if (!gwf_test_log_contains(h, METADATA_NOTE
                               "type=4 ={\"half\":0.5,\"int\":42,\"n\":null,"
                               "\"neg\":-7,\"nested\":{\"empty\":{},\"list\":"
                               "[1,\"two\",[3],{\"four\":4},null],\"none\":[]},"
                               "\"no\":false,\"ok\":true,"
                               "\"s\":\"caf\xc3\xa9 \\\"q\\\"\\n\","
                               "\"user\":\"second\"}\n"))
        fail_msg("%s", gwf_test_logs(h));
    done(h, res);
}

/* The deprecated OkHttpResponse.dynamic_metadata, when present, replaces
 * CheckResponse.dynamic_metadata (Envoy's rule until it is removed). */
static void
test_ok_response_dynamic_metadata_replaces_the_check_responses(void **state)
{
    gwf_test_host *h = host_with_probe(GRPC_SPEC);
    gwf_test_result *res = run_probed(h, "/metadata-ok-wins");

    (void)state;
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    if (!gwf_test_log_contains(h, METADATA_NOTE
                               "type=4 ={\"from\":\"ok_response\"}\n"))
        fail_msg("%s", gwf_test_logs(h));
    done(h, res);
}

/* Envoy emits only a Struct with fields: an empty one, or none, leaves
 * no value. */
static void
test_empty_or_absent_dynamic_metadata_sets_no_value(void **state)
{
    gwf_test_host *h = host_with_probe(GRPC_SPEC);
    gwf_test_result *res = run_probed(h, "/metadata-empty");
    gwf_test_result *plain;

    (void)state;
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_string_equal(upstream(res, "x-user"), "alice");
    plain = run_probed(h, "/allow");
    assert_int_equal(gwf_test_outcome(plain), GWF_TEST_FORWARDED);
    assert_true(gwf_test_log_contains(h, METADATA_ABSENT));
    assert_false(gwf_test_log_contains(h, METADATA_NOTE "type="));
    gwf_test_result_free(plain);
    done(h, res);
}

static void
test_dynamic_metadata_nested_32_deep_is_kept(void **state)
{
    gwf_test_host *h = host_with_probe(GRPC_SPEC);
    gwf_test_result *res = run_probed(h, "/metadata-deep-32");
    char expected[256];
    size_t n = 0;

    (void)state;
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    n += (size_t)snprintf(expected, sizeof(expected), "%s",
                          METADATA_NOTE "type=4 =");
    for (int i = 0; i < 31; i++)
        n += (size_t)snprintf(expected + n, sizeof(expected) - n, "{\"a\":");
    n += (size_t)snprintf(expected + n, sizeof(expected) - n, "{}");
    for (int i = 0; i < 31; i++)
        n += (size_t)snprintf(expected + n, sizeof(expected) - n, "}");
    snprintf(expected + n, sizeof(expected) - n, "\n");
    if (!gwf_test_log_contains(h, expected))
        fail_msg("%s", gwf_test_logs(h));
    done(h, res);
}

/* A Struct that cannot be read is a malformed answer: statusOnError,
 * nothing of the answer applied. */
static void
test_malformed_dynamic_metadata_is_an_error(void **state)
{
    static const struct {
        const char *path, *why;
    } cases[] = {
        {"/metadata-deep-33", "nested deeper than 32 levels"},
        {"/metadata-bad", "dynamic_metadata is not a valid Struct"},
        {"/metadata-nan", "NaN or infinite"},
        {"/metadata-not-utf8", "a string that is not UTF-8"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        gwf_test_host *h = host_with_probe(GRPC_SPEC);
        gwf_test_result *res = run_probed(h, cases[i].path);

        assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
        assert_int_equal(gwf_test_status(res), 403);
        if (!gwf_test_log_contains(h, cases[i].why))
            fail_msg("%s: %s", cases[i].path, gwf_test_logs(h));
        assert_false(gwf_test_log_contains(h, "probe M request_headers"));
        done(h, res);
    }
}

/* Under failOpen the request goes on as after any error: unchanged (no
 * x-user from the answer) and without the value. */
static void
test_malformed_dynamic_metadata_under_fail_open_passes_unchanged(void **st)
{
    gwf_test_host *h = host_with_probe(
        "{failOpen: true, grpcService: {backendRef: {name: authz}}}");
    gwf_test_result *res = run_probed(h, "/metadata-bad");

    (void)st;
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_null(gwf_test_upstream_header(res, "x-user", 0));
    assert_true(gwf_test_log_contains(h, "(failOpen: allowed)"));
    assert_true(gwf_test_log_contains(h, METADATA_ABSENT));
    done(h, res);
}

/* A denial's dynamic_metadata is not read: a bad one cannot turn the
 * denial into an error that failOpen would allow. */
static void
test_denial_with_malformed_dynamic_metadata_stays_a_denial(void **state)
{
    gwf_test_host *h = host_with_probe(
        "{failOpen: true, grpcService: {backendRef: {name: authz}}}");
    gwf_test_result *res = run_probed(h, "/deny-metadata-bad");
    size_t len;

    (void)state;
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
    assert_int_equal(gwf_test_status(res), 401);
    assert_memory_equal(gwf_test_body(res, &len), "no", 2);
    assert_false(gwf_test_log_contains(h, "probe M request_headers"));
    done(h, res);
}

/* ---- kgateway's fields -------------------------------------------------- */

/* headersToForward (Envoy's allowed_headers) is the whole list of
 * request headers a gRPC check carries. */
static void
test_headers_to_forward_is_the_whole_list_of_grpc_headers(void **state)
{
    gwf_test_host *h = host_with("{headersToForward: [x-custom, X-Api-Key], "
                                 "grpcService: {backendRef: {name: authz}}}");
    gwf_test_request *req = gwf_test_request_new("GET", "/allow");
    gwf_test_result *res;

    (void)state;
    gwf_test_request_header(req, "x-custom", "c1");
    gwf_test_request_header(req, "x-api-key", "k");
    gwf_test_request_header(req, "x-other", "o");
    res = run(h, req);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_string_equal(upstream(res, "x-grpc-names"), "x-api-key,x-custom");
    /* method, path and host still travel in their own fields */
    assert_string_equal(upstream(res, "x-grpc-path"), "/allow");
    assert_string_equal(upstream(res, "x-grpc-host"), "example.com");
    done(h, res);
}

/* A header left out by headersToForward is not checked for UTF-8 either:
 * it is not carried. */
static void
test_header_not_forwarded_need_not_be_utf8(void **state)
{
    gwf_test_host *h = host_with("{headersToForward: [x-custom], "
                                 "grpcService: {backendRef: {name: authz}}}");
    gwf_test_request *req = gwf_test_request_new("GET", "/allow");
    gwf_test_result *res;

    (void)state;
    gwf_test_request_header(req, "x-latin", "caf\xe9");
    res = run(h, req);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    done(h, res);
}

static void
test_without_headers_to_forward_every_header_is_sent(void **state)
{
    gwf_test_host *h = host_with(GRPC_SPEC);
    gwf_test_request *req = gwf_test_request_new("GET", "/allow");
    gwf_test_result *res;

    (void)state;
    gwf_test_request_header(req, "x-other", "o");
    res = run(h, req);
    assert_non_null(strstr(upstream(res, "x-grpc-names"), ":authority"));
    assert_non_null(strstr(upstream(res, "x-grpc-names"), "x-other"));
    done(h, res);
}

/* Envoy's ext_authz waits 200ms for a gRPC answer unless told. The
 * server gives up by itself at the grpc-timeout it was sent (200ms of
 * real time): the host clock is advanced well before that, and the log
 * says which of the two ended the check. */
static void
test_grpc_request_timeout_defaults_to_200ms(void **state)
{
    gwf_test_host *h = host_with(GRPC_SPEC);
    gwf_test_request *req = gwf_test_request_new("GET", "/slow");
    gwf_test_result *res = gwf_test_start(h, &api, req, 20);

    (void)state;
    assert_non_null(res);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_RUNNING);
    gwf_test_advance(h, 199 * MS);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_RUNNING);
    gwf_test_advance(h, 1 * MS);
    assert_int_equal(gwf_test_wait(h, res, 1000), 1);
    assert_int_equal(gwf_test_status(res), 403);
    assert_true(gwf_test_log_contains(h, "requestTimeout"));
    gwf_test_request_free(req);
    done(h, res);
}

static void
test_grpc_percentage_enabled_0_sends_no_check(void **state)
{
    gwf_test_host *h = host_with("{percentageEnabled: 0, grpcService: "
                                 "{backendRef: {name: authz, port: 1}}}");
    gwf_test_result *res = run(h, gwf_test_request_new("GET", "/deny"));

    (void)state;
    /* port 1 refuses: a check would have failed with 403 */
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    done(h, res);
}

/* A route's withRequestBody.packAsBytes decides the body's field. */
static void
test_route_pack_as_bytes_sends_raw_body(void **state)
{
    gwf_test_host *h = ea_host_for(server.port, GRPC_SPEC,
                                   ", withRequestBody: {maxRequestBytes: 64, "
                                   "packAsBytes: true}");
    gwf_test_request *req = gwf_test_request_new("POST", "/allow");
    gwf_test_result *res;

    (void)state;
    gwf_test_request_body(req, "\xff\xfe", 2);
    res = run(h, req);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_string_equal(upstream(res, "x-grpc-raw"), "1");
    done(h, res);
}

/* kgateway's e2e percentage-enabled.yaml, its GatewayExtensions as they
 * are (type: ExtAuth, a backendRef with no kind: a Service, and its
 * port), with the Service and EndpointSlice the cluster would have. */
static gwf_test_host *
kgateway_percentage_host(void)
{
    static char text[4096];
    gwf_test_host *h = gwf_test_host_new();

    assert_non_null(h);
    snprintf(text, sizeof(text),
             "apiVersion: v1\n"
             "kind: Service\n"
             "metadata: {namespace: kgateway-base, name: ext-authz}\n"
             "spec: {ports: [{name: grpc, port: 4444, targetPort: %d}]}\n"
             "---\n"
             "apiVersion: discovery.k8s.io/v1\n"
             "kind: EndpointSlice\n"
             "metadata: {namespace: kgateway-base, name: ext-authz-1,\n"
             "  labels: {kubernetes.io/service-name: ext-authz}}\n"
             "addressType: IPv4\n"
             "endpoints: [{addresses: [127.0.0.1]}]\n"
             "ports: [{name: grpc, port: %d}]\n"
             "---\n"
             "apiVersion: gateway.kgateway.dev/v1alpha1\n"
             "kind: GatewayExtension\n"
             "metadata:\n"
             "  namespace: kgateway-base\n"
             "  name: never-extauth\n"
             "spec:\n"
             "  type: ExtAuth\n"
             "  extAuth:\n"
             "    grpcService:\n"
             "      backendRef:\n"
             "        name: ext-authz\n"
             "        port: 4444\n"
             "    # no request is sent to the auth service\n"
             "    percentageEnabled: 0\n"
             "---\n"
             "apiVersion: gateway.kgateway.dev/v1alpha1\n"
             "kind: GatewayExtension\n"
             "metadata:\n"
             "  namespace: kgateway-base\n"
             "  name: always-extauth\n"
             "spec:\n"
             "  type: ExtAuth\n"
             "  extAuth:\n"
             "    grpcService:\n"
             "      backendRef:\n"
             "        name: ext-authz\n"
             "        port: 4444\n"
             "    # every request is sent to the auth service\n"
             "    percentageEnabled: 100\n",
             server.port, server.port);
    if (gwf_test_load_text(h, text) != 0)
        fail_msg("load: %s", gwf_test_error(h));
    return h;
}

static void
test_kgateway_percentage_enabled_manifest_works_as_is(void **state)
{
    static const char *const never[] = {"kgateway-base/never-extauth", NULL};
    static const char *const always[] = {"kgateway-base/always-extauth", NULL};
    const gwf_test_route never_route = {.extensions = never};
    const gwf_test_route always_route = {.extensions = always};
    gwf_test_host *h = kgateway_percentage_host();

    (void)state;
    for (int i = 0; i < 5; i++) {
        gwf_test_request *req = gwf_test_request_new("GET", "/deny");
        gwf_test_result *res = gwf_test_run(h, &never_route, req);

        if (!res)
            fail_msg("run: %s", gwf_test_error(h));
        assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
        gwf_test_result_free(res);
        res = gwf_test_run(h, &always_route, req);
        if (!res)
            fail_msg("run: %s", gwf_test_error(h));
        assert_int_equal(gwf_test_status(res), 401);
        gwf_test_result_free(res);
        gwf_test_request_free(req);
    }
    gwf_test_host_free(h);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_headers_to_forward_is_the_whole_list_of_grpc_headers),
        cmocka_unit_test(test_header_not_forwarded_need_not_be_utf8),
        cmocka_unit_test(test_without_headers_to_forward_every_header_is_sent),
        cmocka_unit_test(test_grpc_request_timeout_defaults_to_200ms),
        cmocka_unit_test(test_grpc_percentage_enabled_0_sends_no_check),
        cmocka_unit_test(test_route_pack_as_bytes_sends_raw_body),
        cmocka_unit_test(test_large_check_request_arrives_whole),
        cmocka_unit_test(test_kgateway_percentage_enabled_manifest_works_as_is),
        cmocka_unit_test(test_ok_response_allows_and_sets_headers),
        cmocka_unit_test(test_ok_response_removes_and_appends_headers),
        cmocka_unit_test(test_context_extensions_reach_the_server),
        cmocka_unit_test(
            test_denied_response_answers_with_its_status_headers_and_body),
        cmocka_unit_test(test_failed_call_is_an_error),
        cmocka_unit_test(test_authority_the_host_cannot_read_is_an_error),
        cmocka_unit_test(test_client_address_the_host_cannot_read_is_an_error),
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
        cmocka_unit_test(
            test_dynamic_metadata_is_left_for_later_plugins_as_json),
        cmocka_unit_test(
            test_ok_response_dynamic_metadata_replaces_the_check_responses),
        cmocka_unit_test(test_empty_or_absent_dynamic_metadata_sets_no_value),
        cmocka_unit_test(test_dynamic_metadata_nested_32_deep_is_kept),
        cmocka_unit_test(test_malformed_dynamic_metadata_is_an_error),
        cmocka_unit_test(
            test_malformed_dynamic_metadata_under_fail_open_passes_unchanged),
        cmocka_unit_test(
            test_denial_with_malformed_dynamic_metadata_stays_a_denial),
    };
    return cmocka_run_group_tests(tests, start_server, stop_server);
}
