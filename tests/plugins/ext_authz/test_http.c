/*
 * test_http.c - the ext_authz plugin in HTTP mode on the in-process test
 * host, against a real HTTP authorization server (authz_http.py, started
 * once for the file on a loopback port).
 *
 * Each test loads a Backend (the authz server), a GatewayExtension
 * default/authz with the extAuth spec under test and a TrafficPolicy
 * default/api that uses it, then runs one request and checks what the
 * client got and what the upstream saw. The server echoes what it was
 * asked in x-authz-* headers; headersToBackend copies them to the
 * upstream request, where the tests read them.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <gwf/testing.h>

#include "peer.h"

#define MS (UINT64_C(1000000))
#define ECHO_HEADERS                                                           \
    "[x-user, x-authz-method, x-authz-path, x-authz-seen, x-authz-auth, "      \
    "x-authz-host, x-authz-custom, x-authz-added, x-authz-partial, "           \
    "x-authz-body, x-authz-conn]"

static ea_peer server;

static int
start_server(void **state)
{
    (void)state;
    if (ea_peer_start(&server, AUTHZ_HTTP_SCRIPT, NULL) != 0) {
        fprintf(stderr, "cannot start %s\n", AUTHZ_HTTP_SCRIPT);
        return -1;
    }
    return 0;
}

static int
stop_server(void **state)
{
    (void)state;
    ea_peer_stop(&server);
    return 0;
}

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

#define ECHO_SPEC                                                              \
    "{httpService: {backendRef: {name: authz}, authorizationResponse: "        \
    "{headersToBackend: " ECHO_HEADERS "}}}"

/* ---- allow ------------------------------------------------------------ */

static void
test_200_allows_and_copies_headers_to_backend(void **state)
{
    gwf_test_host *h = host_with(ECHO_SPEC);
    gwf_test_result *res = run(h, gwf_test_request_new("GET", "/allow"));

    (void)state;
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_int_equal(gwf_test_status(res), 200);
    assert_string_equal(upstream(res, "x-user"), "alice");
    assert_string_equal(upstream(res, "x-authz-method"), "GET");
    assert_null(gwf_test_upstream_header(res, "x-not-copied", 0));
    assert_true(
        gwf_test_metric(
            h, "gwf_ext_authz_checks_total{instance="
               "\"default/authz\",result=\"allowed\",stat_prefix=\"\"}") == 1);
    done(h, res);
}

static void
test_check_path_is_path_prefix_plus_original_path(void **state)
{
    gwf_test_host *h = host_with(
        "{httpService: {backendRef: {name: authz}, pathPrefix: /auth, "
        "authorizationResponse: {headersToBackend: " ECHO_HEADERS "}}}");
    gwf_test_result *res =
        run(h, gwf_test_request_new("GET", "/allow/x?q=1&r=%20"));

    (void)state;
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_string_equal(upstream(res, "x-authz-path"),
                        "/auth/allow/x?q=1&r=%20");
    /* The upstream still gets the original path. */
    assert_string_equal(gwf_test_upstream_path(res), "/allow/x?q=1&r=%20");
    done(h, res);
}

static void
test_check_keeps_the_original_method(void **state)
{
    gwf_test_host *h = host_with(ECHO_SPEC);
    gwf_test_result *res = run(h, gwf_test_request_new("DELETE", "/allow"));

    (void)state;
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_string_equal(upstream(res, "x-authz-method"), "DELETE");
    done(h, res);
}

static void
test_check_carries_only_authorization_host_and_forwarded_headers(void **s)
{
    gwf_test_host *h = host_with(
        "{headersToForward: [x-custom], httpService: {backendRef: "
        "{name: authz}, authorizationResponse: {headersToBackend: " ECHO_HEADERS
        "}}}");
    gwf_test_request *req = gwf_test_request_new("GET", "/allow");

    (void)s;
    gwf_test_request_header(req, "authorization", "Bearer t0k");
    gwf_test_request_header(req, "x-custom", "c1");
    gwf_test_request_header(req, "cookie", "session=1");
    gwf_test_request_header(req, "x-unlisted", "u");
    gwf_test_result *res = run(h, req);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_string_equal(upstream(res, "x-authz-seen"),
                        "authorization,host,x-custom");
    assert_string_equal(upstream(res, "x-authz-auth"), "Bearer t0k");
    assert_string_equal(upstream(res, "x-authz-host"), "example.com");
    assert_string_equal(upstream(res, "x-authz-custom"), "c1");
    done(h, res);
}

static void
test_headers_to_add_overwrite_forwarded_headers(void **state)
{
    gwf_test_host *h =
        host_with("{headersToForward: [x-added], httpService: {backendRef: "
                  "{name: authz}, authorizationRequest: {headersToAdd: "
                  "{x-added: fixed}}, authorizationResponse: "
                  "{headersToBackend: " ECHO_HEADERS "}}}");
    gwf_test_request *req = gwf_test_request_new("GET", "/allow");

    (void)state;
    gwf_test_request_header(req, "x-added", "from-client");
    gwf_test_result *res = run(h, req);
    assert_string_equal(upstream(res, "x-authz-added"), "fixed");
    done(h, res);
}

static void
test_auth_headers_to_remove_are_removed_from_upstream_request(void **state)
{
    gwf_test_host *h = host_with(ECHO_SPEC);
    gwf_test_request *req = gwf_test_request_new("GET", "/allow");

    (void)state;
    gwf_test_request_header(req, "x-secret", "s3cret");
    gwf_test_request_header(req, "x-kept", "k");
    gwf_test_result *res = run(h, req);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_null(gwf_test_upstream_header(res, "x-secret", 0));
    assert_string_equal(upstream(res, "x-kept"), "k");
    done(h, res);
}

static void
test_headers_to_client_on_success_reach_the_client(void **state)
{
    gwf_test_host *h = host_with(
        "{httpService: {backendRef: {name: authz}, authorizationResponse: "
        "{headersToClientOnSuccess: [x-client-hello]}}}");
    gwf_test_result *res = run(h, gwf_test_request_new("GET", "/allow"));

    (void)state;
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_string_equal(gwf_test_header(res, "x-client-hello", 0),
                        "from-authz");
    assert_null(gwf_test_upstream_header(res, "x-client-hello", 0));
    done(h, res);
}

/* The answer says "connection: keep-alive, x-hop": x-hop is about the
 * authz server's connection (RFC 9110 7.6.1), so even when named in
 * headersToBackend or headersToClientOnSuccess it reaches neither the
 * upstream nor the client; x-user beside it does. */
static void
test_headers_named_by_the_answers_connection_are_not_passed_on(void **state)
{
    gwf_test_host *h = host_with(
        "{httpService: {backendRef: {name: authz}, authorizationResponse: "
        "{headersToBackend: [x-user, x-hop, keep-alive], "
        "headersToClientOnSuccess: [x-user, x-hop]}}}");
    gwf_test_result *res = run(h, gwf_test_request_new("GET", "/conn-named"));

    (void)state;
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_string_equal(upstream(res, "x-user"), "alice");
    assert_null(gwf_test_upstream_header(res, "x-hop", 0));
    assert_null(gwf_test_upstream_header(res, "connection", 0));
    assert_string_equal(gwf_test_header(res, "x-user", 0), "alice");
    assert_null(gwf_test_header(res, "x-hop", 0));
    done(h, res);
}

/* The same on a denial: the headers passed to the client leave out the
 * ones the answer's Connection names. */
static void
test_denial_leaves_out_headers_named_by_the_answers_connection(void **state)
{
    gwf_test_host *h = host_with(ECHO_SPEC);
    gwf_test_result *res =
        run(h, gwf_test_request_new("GET", "/deny/conn-named"));

    (void)state;
    assert_int_equal(gwf_test_status(res), 401);
    assert_string_equal(gwf_test_header(res, "x-user", 0), "alice");
    assert_null(gwf_test_header(res, "x-hop", 0));
    assert_null(gwf_test_header(res, "connection", 0));
    done(h, res);
}

static void
test_connection_to_authz_server_is_kept_alive(void **state)
{
    gwf_test_host *h = host_with(ECHO_SPEC);
    gwf_test_result *first = run(h, gwf_test_request_new("GET", "/allow"));
    gwf_test_result *second = run(h, gwf_test_request_new("GET", "/allow"));

    (void)state;
    assert_string_equal(upstream(first, "x-authz-conn"), "1");
    assert_string_equal(upstream(second, "x-authz-conn"), "2");
    gwf_test_result_free(first);
    done(h, second);
}

/* ---- deny ------------------------------------------------------------- */

static void
test_denial_answers_with_status_body_and_headers(void **state)
{
    gwf_test_host *h = host_with(ECHO_SPEC);
    gwf_test_result *res = run(h, gwf_test_request_new("GET", "/deny"));
    size_t len;
    const char *body;

    (void)state;
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
    assert_int_equal(gwf_test_status(res), 401);
    body = gwf_test_body(res, &len);
    assert_int_equal(len, 14);
    assert_memory_equal(body, "denied by test", 14);
    assert_string_equal(gwf_test_header(res, "www-authenticate", 0),
                        "Bearer realm=\"test\"");
    assert_string_equal(gwf_test_header(res, "x-deny-reason", 0), "no token");
    assert_string_equal(gwf_test_header(res, "x-internal", 0), "secret");
    assert_string_equal(gwf_test_reply_details(res), "ext_authz_denied");
    assert_null(gwf_test_upstream_path(res));
    done(h, res);
}

static void
test_headers_to_client_limits_the_denial_headers(void **state)
{
    gwf_test_host *h = host_with(
        "{httpService: {backendRef: {name: authz}, authorizationResponse: "
        "{headersToClient: [x-deny-reason]}}}");
    gwf_test_result *res = run(h, gwf_test_request_new("GET", "/deny"));

    (void)state;
    assert_int_equal(gwf_test_status(res), 401);
    assert_string_equal(gwf_test_header(res, "x-deny-reason", 0), "no token");
    /* Envoy always lets WWW-Authenticate and Location through. */
    assert_non_null(gwf_test_header(res, "www-authenticate", 0));
    assert_null(gwf_test_header(res, "x-internal", 0));
    done(h, res);
}

static void
test_redirect_denial_keeps_its_location(void **state)
{
    gwf_test_host *h = host_with(ECHO_SPEC);
    gwf_test_result *res = run(h, gwf_test_request_new("GET", "/redirect"));

    (void)state;
    assert_int_equal(gwf_test_status(res), 302);
    assert_string_equal(gwf_test_header(res, "location", 0),
                        "https://login.example/");
    done(h, res);
}

/* ---- errors ------------------------------------------------------------ */

static void
test_5xx_is_an_error_answered_with_403(void **state)
{
    gwf_test_host *h = host_with(ECHO_SPEC);
    gwf_test_result *res = run(h, gwf_test_request_new("GET", "/error"));

    (void)state;
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
    assert_int_equal(gwf_test_status(res), 403);
    assert_null(gwf_test_header(res, "x-deny-reason", 0));
    assert_string_equal(gwf_test_reply_details(res), "ext_authz_error");
    assert_true(
        gwf_test_metric(
            h, "gwf_ext_authz_checks_total{instance="
               "\"default/authz\",result=\"error\",stat_prefix=\"\"}") == 1);
    done(h, res);
}

static void
test_status_on_error_sets_the_error_status(void **state)
{
    gwf_test_host *h = host_with(
        "{statusOnError: 503, httpService: {backendRef: {name: authz}}}");
    gwf_test_result *res = run(h, gwf_test_request_new("GET", "/error"));

    (void)state;
    assert_int_equal(gwf_test_status(res), 503);
    done(h, res);
}

static void
test_reset_connection_is_an_error(void **state)
{
    gwf_test_host *h = host_with(ECHO_SPEC);
    gwf_test_result *res = run(h, gwf_test_request_new("GET", "/close"));

    (void)state;
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
    assert_int_equal(gwf_test_status(res), 403);
    done(h, res);
}

static void
test_connection_refused_is_an_error(void **state)
{
    gwf_test_host *h = ea_host_for(ea_unused_port(), ECHO_SPEC, "");
    gwf_test_result *res = run(h, gwf_test_request_new("GET", "/allow"));

    (void)state;
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
    assert_int_equal(gwf_test_status(res), 403);
    assert_true(gwf_test_log_contains(h, "ext_authz check failed"));
    done(h, res);
}

static void
test_too_large_answer_is_an_error(void **state)
{
    gwf_test_host *h = host_with(ECHO_SPEC);
    gwf_test_result *res = run(h, gwf_test_request_new("GET", "/big"));

    (void)state;
    assert_int_equal(gwf_test_status(res), 403);
    assert_true(gwf_test_log_contains(h, "too large"));
    done(h, res);
}

static void
test_timeout_is_an_error(void **state)
{
    gwf_test_host *h = host_with(
        "{httpService: {backendRef: {name: authz}, requestTimeout: 100ms}}");
    gwf_test_request *req = gwf_test_request_new("GET", "/slow");
    gwf_test_result *res = gwf_test_start(h, &api, req, 200);

    (void)state;
    assert_non_null(res);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_RUNNING);
    gwf_test_advance(h, 99 * MS);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_RUNNING);
    gwf_test_advance(h, 1 * MS);
    assert_int_equal(gwf_test_wait(h, res, 1000), 1);
    assert_int_equal(gwf_test_status(res), 403);
    assert_true(gwf_test_log_contains(h, "requestTimeout"));
    gwf_test_request_free(req);
    done(h, res);
}

/* A loopback port that accepts connections (into its backlog) and never
 * answers; the socket is returned in *fd, to close. */
static int
silent_port(int *fd)
{
    struct sockaddr_in addr = {.sin_family = AF_INET};
    socklen_t len = sizeof(addr);

    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    *fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(*fd >= 0);
    assert_int_equal(bind(*fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(listen(*fd, 128), 0);
    assert_int_equal(getsockname(*fd, (struct sockaddr *)&addr, &len), 0);
    return ntohs(addr.sin_port);
}

static size_t
count_answered(gwf_test_result **res, size_t n)
{
    size_t answered = 0;

    for (size_t i = 0; i < n; i++) {
        if (gwf_test_outcome(res[i]) == GWF_TEST_LOCAL_REPLY) {
            assert_int_equal(gwf_test_status(res[i]), 403);
            answered++;
        }
    }
    return answered;
}

/* Checks whose requestTimeout passes in the same turn of the loop are
 * answered 16 a turn (EA_LATER_BATCH), the rest in the next turns (1 ms
 * apart): a burst of expiries never stalls the worker's other requests. */
static void
test_timeouts_due_together_are_answered_a_batch_per_turn(void **state)
{
    enum { CHECKS = 40, BATCH = 16 };
    gwf_test_result *res[CHECKS];
    gwf_test_request *req[CHECKS];
    int lsn, port = silent_port(&lsn);
    gwf_test_host *h = ea_host_for(port,
                                   "{httpService: {backendRef: {name: authz}, "
                                   "requestTimeout: 100ms}}",
                                   "");

    (void)state;
    for (size_t i = 0; i < CHECKS; i++) {
        req[i] = gwf_test_request_new("GET", "/allow");
        res[i] = gwf_test_start(h, &api, req[i], 20);
        assert_non_null(res[i]);
    }
    assert_int_equal(count_answered(res, CHECKS), 0);
    gwf_test_advance(h, 100 * MS);
    assert_int_equal(count_answered(res, CHECKS), BATCH);
    gwf_test_advance(h, 1 * MS);
    assert_int_equal(count_answered(res, CHECKS), 2 * BATCH);
    gwf_test_advance(h, 1 * MS);
    assert_int_equal(count_answered(res, CHECKS), CHECKS);
    for (size_t i = 0; i < CHECKS; i++) {
        gwf_test_request_free(req[i]);
        gwf_test_result_free(res[i]);
    }
    gwf_test_host_free(h);
    close(lsn);
}

/* Connections waiting in the accept queue of `lsn` (non-blocking),
 * taken off it. */
static size_t
accept_all(int lsn)
{
    size_t n = 0;
    int c;

    while ((c = accept(lsn, NULL, NULL)) >= 0) {
        close(c);
        n++;
    }
    return n;
}

/* A worker hands libcurl at most 256 checks (EA_MAX_ACTIVE_CALLS), so at
 * most 256 connections to a server that stopped answering; the others
 * wait their turn without a socket, and all end at requestTimeout. */
static void
test_checks_beyond_the_active_limit_wait_without_a_connection(void **state)
{
    enum { CHECKS = 300, ACTIVE = 256 };
    static gwf_test_result *res[CHECKS];
    static gwf_test_request *req[CHECKS];
    int lsn, port = silent_port(&lsn);
    gwf_test_host *h = ea_host_for(port,
                                   "{httpService: {backendRef: {name: authz}, "
                                   "requestTimeout: 100ms}}",
                                   "");

    (void)state;
    assert_int_equal(fcntl(lsn, F_SETFL, O_NONBLOCK), 0);
    assert_int_equal(listen(lsn, 1024), 0);
    for (size_t i = 0; i < CHECKS; i++) {
        req[i] = gwf_test_request_new("GET", "/allow");
        res[i] = gwf_test_start(h, &api, req[i], 2);
        assert_non_null(res[i]);
    }
    gwf_test_wait(h, res[0], 200);
    assert_int_equal(accept_all(lsn), ACTIVE);
    for (int turn = 0; turn < 30; turn++)
        gwf_test_advance(h, (turn ? 1 : 100) * MS);
    assert_int_equal(count_answered(res, CHECKS), CHECKS);
    for (size_t i = 0; i < CHECKS; i++) {
        gwf_test_request_free(req[i]);
        gwf_test_result_free(res[i]);
    }
    gwf_test_host_free(h);
    close(lsn);
}

/* Clients that leave while their timeout answer waits for a later turn
 * (ea_later): that answer never runs, the others still come. */
static void
test_clients_leaving_while_their_timeout_answer_is_queued(void **state)
{
    enum { CHECKS = 40, BATCH = 16 };
    gwf_test_result *res[CHECKS];
    gwf_test_request *req[CHECKS];
    size_t left = 0;
    int lsn, port = silent_port(&lsn);
    gwf_test_host *h = ea_host_for(port,
                                   "{httpService: {backendRef: {name: authz}, "
                                   "requestTimeout: 100ms}}",
                                   "");

    (void)state;
    for (size_t i = 0; i < CHECKS; i++) {
        req[i] = gwf_test_request_new("GET", "/allow");
        res[i] = gwf_test_start(h, &api, req[i], 20);
        assert_non_null(res[i]);
    }
    gwf_test_advance(h, 100 * MS);
    assert_int_equal(count_answered(res, CHECKS), BATCH);
    /* Every other queued one leaves. */
    for (size_t i = 0; i < CHECKS; i++) {
        if (gwf_test_outcome(res[i]) == GWF_TEST_RUNNING && i % 2) {
            gwf_test_abort(h, res[i]);
            assert_int_equal(gwf_test_outcome(res[i]), GWF_TEST_ABORTED);
            left++;
        }
    }
    assert_true(left > 0);
    for (int turn = 0; turn < 5; turn++)
        gwf_test_advance(h, 1 * MS);
    assert_int_equal(count_answered(res, CHECKS), CHECKS - left);
    for (size_t i = 0; i < CHECKS; i++) {
        gwf_test_request_free(req[i]);
        gwf_test_result_free(res[i]);
    }
    gwf_test_host_free(h);
    close(lsn);
}

/* Clients that leave while their check waits for admission (beyond the
 * active limit): the check never starts, the others are admitted. */
static void
test_clients_leaving_while_their_check_waits_for_admission(void **state)
{
    enum { CHECKS = 300, ACTIVE = 256 };
    static gwf_test_result *res[CHECKS];
    static gwf_test_request *req[CHECKS];
    size_t left = 0;
    int lsn, port = silent_port(&lsn);
    gwf_test_host *h = ea_host_for(port,
                                   "{httpService: {backendRef: {name: authz}, "
                                   "requestTimeout: 100ms}}",
                                   "");

    (void)state;
    assert_int_equal(fcntl(lsn, F_SETFL, O_NONBLOCK), 0);
    assert_int_equal(listen(lsn, 1024), 0);
    for (size_t i = 0; i < CHECKS; i++) {
        req[i] = gwf_test_request_new("GET", "/allow");
        res[i] = gwf_test_start(h, &api, req[i], 2);
        assert_non_null(res[i]);
    }
    gwf_test_wait(h, res[0], 200);
    assert_int_equal(accept_all(lsn), ACTIVE);
    for (size_t i = ACTIVE; i < CHECKS; i += 2) {
        gwf_test_abort(h, res[i]);
        left++;
    }
    for (int turn = 0; turn < 30; turn++)
        gwf_test_advance(h, (turn ? 1 : 100) * MS);
    assert_int_equal(count_answered(res, CHECKS), CHECKS - left);
    for (size_t i = ACTIVE; i < CHECKS; i += 2)
        assert_int_equal(gwf_test_outcome(res[i]), GWF_TEST_ABORTED);
    for (size_t i = 0; i < CHECKS; i++) {
        gwf_test_request_free(req[i]);
        gwf_test_result_free(res[i]);
    }
    gwf_test_host_free(h);
    close(lsn);
}

static void
test_fail_open_allows_when_the_server_fails(void **state)
{
    gwf_test_host *h =
        host_with("{failOpen: true, httpService: {backendRef: {name: authz}}}");
    gwf_test_result *res = run(h, gwf_test_request_new("GET", "/error"));

    (void)state;
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_true(
        gwf_test_metric(
            h,
            "gwf_ext_authz_checks_total{instance="
            "\"default/authz\",result=\"failed_open\",stat_prefix=\"\"}") == 1);
    done(h, res);
}

static void
test_fail_open_allows_when_the_server_is_down(void **state)
{
    gwf_test_host *h = ea_host_for(
        ea_unused_port(),
        "{failOpen: true, httpService: {backendRef: {name: authz}}}", "");
    gwf_test_result *res = run(h, gwf_test_request_new("GET", "/allow"));

    (void)state;
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    done(h, res);
}

/* A 70-byte method cannot be carried: the client's fault, refused 400
 * with failOpen, and decided without the authz server (it is down). */
static void
test_uncheckable_method_is_refused_400_even_with_fail_open(void **state)
{
    gwf_test_host *h = ea_host_for(
        ea_unused_port(),
        "{failOpen: true, httpService: {backendRef: {name: authz}}}", "");
    gwf_test_result *res =
        run(h, gwf_test_request_new("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                                    "AAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                                    "/allow"));

    (void)state;
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
    assert_int_equal(gwf_test_status(res), 400);
    assert_true(
        gwf_test_metric(
            h,
            "gwf_ext_authz_checks_total{instance="
            "\"default/authz\",result=\"invalid_request\",stat_prefix=\"\"}") ==
        1);
    /* Never counted as the service failing (the series is there from the
     * start, at 0). */
    assert_true(gwf_test_metric(h, "gwf_ext_authz_checks_total{instance="
                                   "\"default/authz\",result=\"failed_open\","
                                   "stat_prefix=\"\"}") == 0);
    done(h, res);
}

/* A forwarded header the host could not read (out of memory) is not an
 * absent one: the check would judge another request than the upstream
 * gets. It is an error, decided as the server failing: 403, or on with
 * failOpen; the server never sees a check without it. */
static void
test_forwarded_header_the_host_cannot_read_is_an_error(void **state)
{
    static const char *const specs[] = {
        "{httpService: {backendRef: {name: authz}}}",
        "{failOpen: true, httpService: {backendRef: {name: authz}}}"};

    (void)state;
    for (size_t i = 0; i < 2; i++) {
        gwf_test_host *h = host_with(specs[i]);
        gwf_test_request *req = gwf_test_request_new("GET", "/allow");
        gwf_test_result *res;

        gwf_test_request_header(req, "authorization", "Bearer deny-me");
        gwf_test_request_header_fails(req, "authorization");
        res = run(h, req);
        if (i == 0) {
            assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
            assert_int_equal(gwf_test_status(res), 403);
            assert_string_equal(gwf_test_reply_details(res), "ext_authz_error");
        } else {
            assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
        }
        assert_true(gwf_test_metric(
                        h, i == 0 ? "gwf_ext_authz_checks_total{instance="
                                    "\"default/authz\",result=\"error\","
                                    "stat_prefix=\"\"}"
                                  : "gwf_ext_authz_checks_total{instance="
                                    "\"default/authz\",result="
                                    "\"failed_open\",stat_prefix=\"\"}") == 1);
        done(h, res);
    }
}

/* A forwarded header whose value cannot go on a header line. */
static void
test_forwarded_header_with_control_byte_is_refused_400(void **state)
{
    gwf_test_host *h = host_with("{failOpen: true, headersToForward: "
                                 "[x-custom], httpService: {backendRef: "
                                 "{name: authz}}}");
    gwf_test_request *req = gwf_test_request_new("GET", "/allow");
    gwf_test_result *res;

    (void)state;
    gwf_test_request_header(req, "x-custom", "a\x01b");
    res = run(h, req);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
    assert_int_equal(gwf_test_status(res), 400);
    done(h, res);
}

static void
test_fail_open_does_not_allow_a_denial(void **state)
{
    gwf_test_host *h =
        host_with("{failOpen: true, httpService: {backendRef: {name: authz}}}");
    gwf_test_result *res = run(h, gwf_test_request_new("GET", "/deny"));

    (void)state;
    assert_int_equal(gwf_test_status(res), 401);
    done(h, res);
}

/* ---- client gone -------------------------------------------------------- */

static void
test_client_leaving_cancels_the_check(void **state)
{
    gwf_test_host *h = host_with(
        "{httpService: {backendRef: {name: authz}, requestTimeout: 10s}}");
    gwf_test_request *req = gwf_test_request_new("GET", "/slow");
    gwf_test_result *res = gwf_test_start(h, &api, req, 100);
    gwf_test_result *next;

    (void)state;
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_RUNNING);
    gwf_test_abort(h, res);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_ABORTED);
    gwf_test_result_free(res);
    gwf_test_request_free(req);
    /* The worker is still usable, and the next check gets its answer. */
    next = run(h, gwf_test_request_new("GET", "/allow"));
    assert_int_equal(gwf_test_outcome(next), GWF_TEST_FORWARDED);
    done(h, next);
}

/* ---- bodies -------------------------------------------------------------- */

#define BODY_SPEC(extra)                                                       \
    "{withRequestBody: {maxRequestBytes: 8" extra "}, httpService: "           \
    "{backendRef: {name: authz}, authorizationResponse: "                      \
    "{headersToBackend: " ECHO_HEADERS "}}}"

static gwf_test_request *
post(const char *body)
{
    gwf_test_request *req = gwf_test_request_new("POST", "/allow");
    gwf_test_request_body(req, body, strlen(body));
    return req;
}

static void
test_body_is_sent_to_the_authz_server(void **state)
{
    gwf_test_host *h = host_with(BODY_SPEC(""));
    gwf_test_result *res = run(h, post("hello"));
    size_t len;

    (void)state;
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_string_equal(upstream(res, "x-authz-body"), "hello");
    assert_string_equal(upstream(res, "x-authz-method"), "POST");
    assert_string_equal(upstream(res, "x-authz-partial"), "");
    assert_memory_equal(gwf_test_upstream_body(res, &len), "hello", 5);
    assert_int_equal(len, 5);
    done(h, res);
}

static void
test_body_is_not_sent_without_with_request_body(void **state)
{
    gwf_test_host *h = host_with(ECHO_SPEC);
    gwf_test_result *res = run(h, post("hello"));

    (void)state;
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_string_equal(upstream(res, "x-authz-body"), "");
    done(h, res);
}

static void
test_body_larger_than_max_is_refused_with_413(void **state)
{
    gwf_test_host *h = host_with(BODY_SPEC(""));
    gwf_test_result *res = run(h, post("0123456789"));

    (void)state;
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
    assert_int_equal(gwf_test_status(res), 413);
    done(h, res);
}

/* x-envoy-auth-partial-body is the gateway's: a client's own never
 * reaches the authz server, even when headersToForward names it. */
static void
test_client_partial_body_header_does_not_reach_the_server(void **state)
{
    gwf_test_host *h = host_with(
        "{headersToForward: [x-envoy-auth-partial-body], withRequestBody: "
        "{maxRequestBytes: 8}, httpService: {backendRef: {name: authz}, "
        "authorizationResponse: {headersToBackend: " ECHO_HEADERS "}}}");
    gwf_test_request *req = post("short");
    gwf_test_result *res;

    (void)state;
    gwf_test_request_header(req, "x-envoy-auth-partial-body", "true");
    res = run(h, req);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_string_equal(upstream(res, "x-authz-partial"), "");
    done(h, res);
}

static void
test_partial_body_sends_the_first_max_bytes(void **state)
{
    gwf_test_host *h = host_with(BODY_SPEC(", allowPartialMessage: true"));
    gwf_test_result *res = run(h, post("0123456789"));
    size_t len;

    (void)state;
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_string_equal(upstream(res, "x-authz-body"), "01234567");
    assert_string_equal(upstream(res, "x-authz-partial"), "true");
    /* The upstream gets all of it. */
    gwf_test_upstream_body(res, &len);
    assert_int_equal(len, 10);
    done(h, res);
}

/* ---- config errors ------------------------------------------------------- */

static void
expect_config_error(const char *ext_auth, const char *needle)
{
    gwf_test_host *h = host_with(ext_auth);

    assert_int_equal(gwf_test_validate(h), -1);
    if (!strstr(gwf_test_error(h), needle))
        fail_msg("expected \"%s\" in: %s", needle, gwf_test_error(h));
    gwf_test_host_free(h);
}

static void
test_config_without_a_service_is_rejected(void **state)
{
    (void)state;
    expect_config_error("{failOpen: true}",
                        "expected one of httpService, grpcService");
}

static void
test_config_with_both_services_is_rejected(void **state)
{
    (void)state;
    expect_config_error("{httpService: {backendRef: {name: authz}}, "
                        "grpcService: {backendRef: {name: authz}}}",
                        "spec.extAuth.grpcService: only one of");
}

static void
test_config_unknown_field_is_rejected(void **state)
{
    (void)state;
    expect_config_error("{httpService: {backendRef: {name: authz}, "
                        "pathPrefx: /a}}",
                        "spec.extAuth.httpService.pathPrefx: unknown field");
}

static void
test_config_missing_backend_is_rejected(void **state)
{
    (void)state;
    expect_config_error("{httpService: {backendRef: {name: nowhere}}}",
                        "httpService.backendRef.name: Backend nowhere not "
                        "found");
}

/* Every control byte but HTAB is refused in a value (RFC 9110,
 * gwf_is_header_value), not only CR, LF and NUL; HTAB is accepted. */
static void
test_config_header_to_add_with_a_control_byte_is_rejected(void **state)
{
    gwf_test_host *h;

    (void)state;
    expect_config_error("{httpService: {backendRef: {name: authz}, "
                        "authorizationRequest: {headersToAdd: {x-added: "
                        "\"a\\u0001b\"}}}}",
                        "headersToAdd.x-added: expected a header value "
                        "without control characters (HTAB is allowed)");
    expect_config_error("{httpService: {backendRef: {name: authz}, "
                        "authorizationRequest: {headersToAdd: {x-added: "
                        "\"a\\u007fb\"}}}}",
                        "expected a header value without control characters");
    h = host_with("{httpService: {backendRef: {name: authz}, "
                  "authorizationRequest: {headersToAdd: {x-added: "
                  "\"a\\tb\"}}}}");
    if (gwf_test_validate(h) != 0)
        fail_msg("%s", gwf_test_error(h));
    gwf_test_host_free(h);
}

static void
expect_valid(const char *ext_auth)
{
    gwf_test_host *h = host_with(ext_auth);

    if (gwf_test_validate(h) != 0)
        fail_msg("%s: %s", ext_auth, gwf_test_error(h));
    gwf_test_host_free(h);
}

static void
test_config_status_on_error_outside_100_to_511_is_rejected(void **state)
{
    (void)state;
    expect_config_error("{statusOnError: 99, httpService: {backendRef: "
                        "{name: authz}}}",
                        "statusOnError: expected an integer from 100 to "
                        "511, found 99");
    expect_config_error("{statusOnError: 512, httpService: {backendRef: "
                        "{name: authz}}}",
                        "statusOnError: expected an integer from 100 to "
                        "511, found 512");
    expect_valid("{statusOnError: 200, httpService: {backendRef: "
                 "{name: authz}}}");
    expect_valid("{statusOnError: 511, httpService: {backendRef: "
                 "{name: authz}}}");
}

static void
test_config_body_without_max_bytes_is_rejected(void **state)
{
    (void)state;
    expect_config_error("{withRequestBody: {}, httpService: {backendRef: "
                        "{name: authz}}}",
                        "withRequestBody.maxRequestBytes: is required");
}

static void
test_config_bad_timeout_is_rejected(void **state)
{
    (void)state;
    expect_config_error("{httpService: {backendRef: {name: authz}, "
                        "requestTimeout: soon}}",
                        "httpService.requestTimeout: expected a duration");
}

static void
test_config_bad_header_name_is_rejected(void **state)
{
    (void)state;
    expect_config_error("{headersToForward: [\"bad name\"], httpService: "
                        "{backendRef: {name: authz}}}",
                        "headersToForward[0]: expected a header name");
}

static void
test_config_negative_retry_attempts_are_rejected(void **state)
{
    (void)state;
    expect_config_error("{httpService: {backendRef: {name: authz}, "
                        "retry: {attempts: -1}}}",
                        "httpService.retry.attempts: expected an integer "
                        "from 0 to 2147483647, found -1");
}

static void
test_config_backoff_without_base_interval_is_rejected(void **state)
{
    (void)state;
    expect_config_error("{httpService: {backendRef: {name: authz}, "
                        "retry: {backoff: {maxInterval: 1s}}}}",
                        "httpService.retry.backoff.baseInterval: is "
                        "required");
}

static void
test_config_durations_below_1ms_are_rejected(void **state)
{
    (void)state;
    expect_config_error("{httpService: {backendRef: {name: authz}, "
                        "requestTimeout: 0.5ms}}",
                        "httpService.requestTimeout: expected a duration "
                        "from 1ms");
    expect_config_error("{grpcService: {backendRef: {name: authz}, "
                        "retry: {backoff: {baseInterval: 0.5ms}}}}",
                        "grpcService.retry.backoff.baseInterval: expected a "
                        "duration from 1ms");
}

static void
test_config_clear_route_cache_true_is_rejected(void **state)
{
    (void)state;
    expect_config_error("{clearRouteCache: true, httpService: {backendRef: "
                        "{name: authz}}}",
                        "spec.extAuth.clearRouteCache: true is not "
                        "supported: gwf does not select the route again");
    expect_valid("{clearRouteCache: false, httpService: {backendRef: "
                 "{name: authz}}}");
}

/* kgateway allows 100-199, but a 1xx is no final answer: a client given
 * one as the reply waits for the real one (seen with nginx). */
static void
test_config_informational_status_on_error_is_rejected(void **state)
{
    (void)state;
    expect_config_error("{statusOnError: 100, httpService: {backendRef: "
                        "{name: authz}}}",
                        "spec.extAuth.statusOnError: 100 is an informational "
                        "(1xx) status, which cannot end a request");
    expect_config_error("{statusOnError: 199, httpService: {backendRef: "
                        "{name: authz}}}",
                        "statusOnError: 199 is an informational");
}

static void
test_config_empty_stat_prefix_is_rejected(void **state)
{
    (void)state;
    expect_config_error("{statPrefix: \"\", httpService: {backendRef: "
                        "{name: authz}}}",
                        "spec.extAuth.statPrefix: expected a non-empty "
                        "string");
}

static void
test_config_percentage_enabled_outside_0_to_100_is_rejected(void **state)
{
    (void)state;
    expect_config_error("{percentageEnabled: 101, httpService: {backendRef: "
                        "{name: authz}}}",
                        "spec.extAuth.percentageEnabled: expected an integer "
                        "from 0 to 100, found 101");
    expect_config_error("{percentageEnabled: -1, httpService: {backendRef: "
                        "{name: authz}}}",
                        "spec.extAuth.percentageEnabled: expected an integer "
                        "from 0 to 100, found -1");
}

static void
test_config_headers_to_add_bad_format_string_is_rejected(void **state)
{
    (void)state;
    expect_config_error("{httpService: {backendRef: {name: authz}, "
                        "authorizationRequest: {headersToAdd: {x-added: "
                        "\"%BOGUS_OPERATOR%\"}}}}",
                        "httpService.authorizationRequest.headersToAdd."
                        "x-added: expected an Envoy format string");
    /* A lone '%' at the end starts an operator too. */
    expect_config_error("{httpService: {backendRef: {name: authz}, "
                        "authorizationRequest: {headersToAdd: {x-added: "
                        "\"100%\"}}}}",
                        "headersToAdd.x-added: expected an Envoy format "
                        "string");
    /* The list form names the item's value. */
    expect_config_error("{httpService: {backendRef: {name: authz}, "
                        "authorizationRequest: {headersToAdd: [{name: "
                        "x-added, value: \"%REQ(\"}]}}}",
                        "headersToAdd[0].value: expected an Envoy format "
                        "string");
}

static void
test_config_max_request_bytes_above_int32_is_rejected(void **state)
{
    (void)state;
    expect_config_error("{withRequestBody: {maxRequestBytes: 2147483648}, "
                        "httpService: {backendRef: {name: authz}}}",
                        "withRequestBody.maxRequestBytes: expected an "
                        "integer from 1 to 2147483647, found 2147483648");
}

/* ---- retry ------------------------------------------------------------ */

#define RETRY_SPEC(attempts)                                                   \
    "{httpService: {backendRef: {name: authz}, requestTimeout: 5s, "           \
    "retry: {attempts: " attempts ", backoff: {baseInterval: 10ms, "           \
    "maxInterval: 15ms}}}}"

static void
test_retry_after_5xx_gets_the_answer(void **state)
{
    gwf_test_host *h = host_with(RETRY_SPEC("1"));
    gwf_test_request *req = gwf_test_request_new("GET", "/flaky/a/allow");
    gwf_test_result *res = gwf_test_start(h, &api, req, 1000);

    (void)state;
    /* The first answer was 500: waiting 10ms (host clock) to retry. */
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_RUNNING);
    gwf_test_advance(h, 10 * MS);
    assert_int_equal(gwf_test_wait(h, res, 2000), 1);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_true(gwf_test_log_contains(h, "retry 1 of 1"));
    gwf_test_request_free(req);
    done(h, res);
}

static void
test_retries_stop_after_attempts(void **state)
{
    gwf_test_host *h = host_with(RETRY_SPEC("2"));
    gwf_test_request *req = gwf_test_request_new("GET", "/error");
    gwf_test_result *res = gwf_test_start(h, &api, req, 1000);

    (void)state;
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_RUNNING);
    /* The first retry within baseInterval, the second within
     * maxInterval (jittered: the intermediate state depends on the
     * draws and on when the peer's answers arrive, so only the end is
     * asserted). */
    gwf_test_advance(h, 10 * MS);
    gwf_test_wait(h, res, 1000);
    gwf_test_advance(h, 15 * MS);
    assert_int_equal(gwf_test_wait(h, res, 2000), 1);
    assert_int_equal(gwf_test_status(res), 403);
    assert_true(gwf_test_log_contains(h, "retry 2 of 2"));
    assert_false(gwf_test_log_contains(h, "retry 3"));
    gwf_test_request_free(req);
    done(h, res);
}

/* The client leaves while a check waits out its retry backoff: nothing
 * of the retry runs afterwards (no new attempt, nothing freed touched). */
static void
test_client_abort_during_retry_backoff_cancels_the_retry(void **state)
{
    gwf_test_host *h = host_with(RETRY_SPEC("2"));
    gwf_test_request *req = gwf_test_request_new("GET", "/error");
    gwf_test_result *res = gwf_test_start(h, &api, req, 1000);

    (void)state;
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_RUNNING);
    assert_true(gwf_test_log_contains(h, "retry 1 of 2"));
    gwf_test_abort(h, res);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_ABORTED);
    gwf_test_advance(h, 100 * MS);
    gwf_test_request_free(req);
    gwf_test_result_free(res);
    /* Another request runs the loop: a retry left armed would have
     * failed again by now and logged its second retry. */
    res = run(h, gwf_test_request_new("GET", "/allow"));
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_false(gwf_test_log_contains(h, "retry 2 of 2"));
    done(h, res);
}

static void
test_refused_connection_is_retried(void **state)
{
    gwf_test_host *h = ea_host_for(ea_unused_port(), RETRY_SPEC("1"), "");
    gwf_test_request *req = gwf_test_request_new("GET", "/allow");
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
test_denial_is_not_retried(void **state)
{
    gwf_test_host *h = host_with(RETRY_SPEC("3"));
    gwf_test_result *res = run(h, gwf_test_request_new("GET", "/deny"));

    (void)state;
    assert_int_equal(gwf_test_status(res), 401);
    assert_false(gwf_test_log_contains(h, "retry"));
    done(h, res);
}

static void
test_retry_resends_the_body(void **state)
{
    gwf_test_host *h = host_with(
        "{withRequestBody: {maxRequestBytes: 64}, httpService: {backendRef: "
        "{name: authz}, retry: {attempts: 1, backoff: {baseInterval: 10ms}}, "
        "authorizationResponse: {headersToBackend: " ECHO_HEADERS "}}}");
    gwf_test_request *req = gwf_test_request_new("POST", "/flaky/b/allow");
    gwf_test_result *res;

    (void)state;
    gwf_test_request_body(req, "again", 5);
    res = gwf_test_start(h, &api, req, 1000);
    gwf_test_advance(h, 10 * MS);
    assert_int_equal(gwf_test_wait(h, res, 2000), 1);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_string_equal(upstream(res, "x-authz-body"), "again");
    gwf_test_request_free(req);
    done(h, res);
}

/* ---- kgateway's defaults and fields ------------------------------------ */

/* retry: {} is one retry (kgateway's default attempts), after Envoy's
 * default 1s base interval (fully jittered: within 1s). */
static void
test_retry_without_attempts_retries_once(void **state)
{
    gwf_test_host *h = host_with("{httpService: {backendRef: {name: authz}, "
                                 "requestTimeout: 5s, retry: {}}}");
    gwf_test_request *req = gwf_test_request_new("GET", "/flaky/c/allow");
    gwf_test_result *res = gwf_test_start(h, &api, req, 1000);

    (void)state;
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_RUNNING);
    gwf_test_advance(h, 1000 * MS);
    assert_int_equal(gwf_test_wait(h, res, 2000), 1);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_true(gwf_test_log_contains(h, "retry 1 of 1"));
    gwf_test_request_free(req);
    done(h, res);
}

static void
test_retry_attempts_0_does_not_retry(void **state)
{
    gwf_test_host *h = host_with("{httpService: {backendRef: {name: authz}, "
                                 "retry: {attempts: 0}}}");
    gwf_test_result *res =
        run(h, gwf_test_request_new("GET", "/flaky/d/allow"));

    (void)state;
    assert_int_equal(gwf_test_status(res), 403);
    assert_false(gwf_test_log_contains(h, "retry"));
    done(h, res);
}

/* Without retry a failed check is answered at once. */
static void
test_no_retry_block_does_not_retry(void **state)
{
    gwf_test_host *h = host_with("{httpService: {backendRef: {name: authz}}}");
    gwf_test_result *res =
        run(h, gwf_test_request_new("GET", "/flaky/e/allow"));

    (void)state;
    assert_int_equal(gwf_test_status(res), 403);
    assert_false(gwf_test_log_contains(h, "retry"));
    done(h, res);
}

/* kgateway's HTTPDefaultTimeout: an httpService waits 2s by default. */
static void
test_http_request_timeout_defaults_to_2s(void **state)
{
    gwf_test_host *h = host_with("{httpService: {backendRef: {name: authz}}}");
    gwf_test_request *req = gwf_test_request_new("GET", "/slow");
    gwf_test_result *res = gwf_test_start(h, &api, req, 200);

    (void)state;
    assert_non_null(res);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_RUNNING);
    gwf_test_advance(h, 1999 * MS);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_RUNNING);
    gwf_test_advance(h, 1 * MS);
    assert_int_equal(gwf_test_wait(h, res, 1000), 1);
    assert_int_equal(gwf_test_status(res), 403);
    assert_true(gwf_test_log_contains(h, "requestTimeout"));
    gwf_test_request_free(req);
    done(h, res);
}

/* kgateway allows 100-511: 511 is answered as it is. */
static void
test_status_on_error_511_is_answered(void **state)
{
    gwf_test_host *h = host_with(
        "{statusOnError: 511, httpService: {backendRef: {name: authz}}}");
    gwf_test_result *res = run(h, gwf_test_request_new("GET", "/error"));

    (void)state;
    assert_int_equal(gwf_test_status(res), 511);
    done(h, res);
}

static void
test_stat_prefix_labels_the_checks_metric(void **state)
{
    gwf_test_host *h = host_with("{statPrefix: team-a, httpService: "
                                 "{backendRef: {name: authz}}}");
    gwf_test_result *res = run(h, gwf_test_request_new("GET", "/deny"));

    (void)state;
    assert_int_equal(gwf_test_status(res), 401);
    assert_true(gwf_test_metric(h, "gwf_ext_authz_checks_total{instance="
                                   "\"default/authz\",result=\"denied\","
                                   "stat_prefix=\"team-a\"}") == 1);
    done(h, res);
}

/* percentageEnabled 0: no request is checked (the server would deny). */
static void
test_percentage_enabled_0_lets_requests_pass_unchecked(void **state)
{
    gwf_test_host *h = host_with("{percentageEnabled: 0, httpService: "
                                 "{backendRef: {name: authz}}}");
    gwf_test_result *res = run(h, gwf_test_request_new("GET", "/deny"));

    (void)state;
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_null(gwf_test_upstream_header(res, "x-user", 0));
    assert_true(gwf_test_metric(h, "gwf_ext_authz_checks_total{instance="
                                   "\"default/authz\",result=\"skipped\","
                                   "stat_prefix=\"\"}") == 1);
    done(h, res);
}

static void
test_percentage_enabled_100_checks_every_request(void **state)
{
    gwf_test_host *h = host_with("{percentageEnabled: 100, httpService: "
                                 "{backendRef: {name: authz}}}");

    (void)state;
    for (int i = 0; i < 20; i++) {
        gwf_test_result *res = run(h, gwf_test_request_new("GET", "/deny"));
        assert_int_equal(gwf_test_status(res), 401);
        gwf_test_result_free(res);
    }
    gwf_test_host_free(h);
}

/* percentageEnabled 30 over 400 requests: about 120 checked (denied).
 * The bounds are 6 standard deviations (binomial, sd ~9) either side. */
static void
test_percentage_enabled_checks_that_share_of_requests(void **state)
{
    gwf_test_host *h = host_with("{percentageEnabled: 30, httpService: "
                                 "{backendRef: {name: authz}}}");
    int denied = 0, passed = 0;

    (void)state;
    for (int i = 0; i < 400; i++) {
        gwf_test_result *res = run(h, gwf_test_request_new("GET", "/deny"));
        if (gwf_test_outcome(res) == GWF_TEST_FORWARDED)
            passed++;
        else if (gwf_test_status(res) == 401)
            denied++;
        gwf_test_result_free(res);
    }
    assert_int_equal(denied + passed, 400);
    if (denied < 66 || denied > 174)
        fail_msg("%d of 400 checked, expected about 120", denied);
    gwf_test_host_free(h);
}

/* headersToAdd values are Envoy format strings: "%%" is a literal '%'. */
static void
test_headers_to_add_double_percent_is_one_percent(void **state)
{
    gwf_test_host *h = host_with(
        "{httpService: {backendRef: {name: authz}, authorizationRequest: "
        "{headersToAdd: {x-added: \"100%% sure\"}}, authorizationResponse: "
        "{headersToBackend: " ECHO_HEADERS "}}}");
    gwf_test_result *res = run(h, gwf_test_request_new("GET", "/allow"));

    (void)state;
    assert_string_equal(upstream(res, "x-authz-added"), "100% sure");
    done(h, res);
}

/* A TrafficPolicy's extAuth.withRequestBody (Envoy's per-route
 * check_settings): the body goes with the checks of its routes even when
 * the extension sends none. */
static void
test_route_with_request_body_sends_the_body(void **state)
{
    gwf_test_host *h = ea_host_for(server.port, ECHO_SPEC,
                                   ", withRequestBody: {maxRequestBytes: 64}");
    gwf_test_request *req = gwf_test_request_new("POST", "/allow");
    gwf_test_result *res;

    (void)state;
    gwf_test_request_body(req, "per-route", 9);
    res = run(h, req);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_string_equal(upstream(res, "x-authz-body"), "per-route");
    done(h, res);
}

/* The route's settings replace the extension's as a whole. */
static void
test_route_with_request_body_replaces_the_extensions(void **state)
{
    gwf_test_host *h = ea_host_for(
        server.port,
        "{withRequestBody: {maxRequestBytes: 4}, httpService: {backendRef: "
        "{name: authz}, authorizationResponse: {headersToBackend: " ECHO_HEADERS
        "}}}",
        ", withRequestBody: {maxRequestBytes: 5, allowPartialMessage: true}");
    gwf_test_request *req = gwf_test_request_new("POST", "/allow");
    gwf_test_result *res;

    (void)state;
    gwf_test_request_body(req, "0123456789", 10);
    res = run(h, req);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_string_equal(upstream(res, "x-authz-body"), "01234");
    assert_string_equal(upstream(res, "x-authz-partial"), "true");
    done(h, res);
}

static void
test_route_with_request_body_over_the_limit_is_413(void **state)
{
    gwf_test_host *h = ea_host_for(server.port, ECHO_SPEC,
                                   ", withRequestBody: {maxRequestBytes: 4}");
    gwf_test_request *req = gwf_test_request_new("POST", "/allow");
    gwf_test_result *res;

    (void)state;
    gwf_test_request_body(req, "too long", 8);
    res = run(h, req);
    assert_int_equal(gwf_test_status(res), 413);
    done(h, res);
}

/* headersToAdd values are Envoy format strings, rendered per check. */
static void
test_headers_to_add_renders_request_values(void **state)
{
    gwf_test_host *h = host_with(
        "{httpService: {backendRef: {name: authz}, authorizationRequest: "
        "{headersToAdd: {x-added: \"user=%REQ(x-custom)% "
        "from=%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT% "
        "m=%REQ(:method)%\"}}, authorizationResponse: "
        "{headersToBackend: " ECHO_HEADERS "}}}");
    gwf_test_request *req = gwf_test_request_new("GET", "/allow");
    gwf_test_result *res;

    (void)state;
    gwf_test_request_header(req, "x-custom", "c1");
    gwf_test_request_remote(req, "192.0.2.7");
    res = run(h, req);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_string_equal(upstream(res, "x-authz-added"),
                        "user=c1 from=192.0.2.7 m=GET");
    done(h, res);
}

/* A value the host could not read (out of memory) is not a missing one:
 * the header rendered from it would be left out, and the server would
 * judge another request than the upstream gets. The check is an error
 * (403), and the server is not asked. */
static void
test_headers_to_add_value_the_host_cannot_read_is_an_error(void **state)
{
    static const char spec[] =
        "{httpService: {backendRef: {name: authz}, authorizationRequest: "
        "{headersToAdd: {x-added: \"user=%REQ(x-custom)%\"}}, "
        "authorizationResponse: {headersToBackend: " ECHO_HEADERS "}}}";
    gwf_test_host *h = host_with(spec);
    gwf_test_request *req = gwf_test_request_new("GET", "/allow");
    gwf_test_result *res;

    (void)state;
    gwf_test_request_header(req, "x-custom", "c1");
    gwf_test_request_header_fails(req, "x-custom");
    res = run(h, req);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
    assert_int_equal(gwf_test_status(res), 403);
    assert_string_equal(gwf_test_reply_details(res), "ext_authz_error");
    assert_true(gwf_test_metric(h, "gwf_ext_authz_checks_total{instance="
                                   "\"default/authz\",result=\"error\","
                                   "stat_prefix=\"\"}") == 1);
    done(h, res);
    /* The same request, read: the header goes to the server. */
    h = host_with(spec);
    req = gwf_test_request_new("GET", "/allow");
    gwf_test_request_header(req, "x-custom", "c1");
    res = run(h, req);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_string_equal(upstream(res, "x-authz-added"), "user=c1");
    done(h, res);
}

/* As Envoy's header parser: a value that renders empty adds no header. */
static void
test_headers_to_add_empty_rendering_adds_no_header(void **state)
{
    gwf_test_host *h = host_with(
        "{httpService: {backendRef: {name: authz}, authorizationRequest: "
        "{headersToAdd: {x-added: \"%REQ(x-custom)%\", x-const: \"\"}}, "
        "authorizationResponse: {headersToBackend: " ECHO_HEADERS "}}}");
    gwf_test_request *req = gwf_test_request_new("GET", "/allow");
    gwf_test_result *res;

    (void)state;
    gwf_test_request_header(req, "x-custom", "");
    res = run(h, req);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_null(strstr(upstream(res, "x-authz-seen"), "x-added"));
    assert_null(strstr(upstream(res, "x-authz-seen"), "x-const"));
    done(h, res);
}

/* Envoy's header parser, not its access log: a header the request lacks
 * renders empty (never "-"), so a value made of it alone adds nothing. */
static void
test_headers_to_add_missing_header_renders_empty(void **state)
{
    gwf_test_host *h = host_with(
        "{httpService: {backendRef: {name: authz}, authorizationRequest: "
        "{headersToAdd: {x-only: \"%REQ(x-absent)%\", x-added: "
        "\"u=%REQ(x-absent)%;\"}}, authorizationResponse: "
        "{headersToBackend: " ECHO_HEADERS "}}}");
    gwf_test_request *req = gwf_test_request_new("GET", "/allow");
    gwf_test_result *res;

    (void)state;
    res = run(h, req);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_null(strstr(upstream(res, "x-authz-seen"), "x-only"));
    assert_string_equal(upstream(res, "x-authz-added"), "u=;");
    done(h, res);
}

/* httpService.backendRef with no kind is a Service (as in the Gateway
 * API), its port the Service's port, reached through its EndpointSlice
 * at the targetPort. */
static void
test_backend_ref_to_a_service_reaches_its_endpoints(void **state)
{
    static char text[2048];
    gwf_test_host *h = gwf_test_host_new();
    gwf_test_result *res;

    (void)state;
    snprintf(text, sizeof(text),
             "apiVersion: v1\n"
             "kind: Service\n"
             "metadata: {name: ext-authz}\n"
             "spec: {ports: [{name: http, port: 8000, targetPort: %d}]}\n"
             "---\n"
             "apiVersion: discovery.k8s.io/v1\n"
             "kind: EndpointSlice\n"
             "metadata: {name: ext-authz-1,\n"
             "  labels: {kubernetes.io/service-name: ext-authz}}\n"
             "addressType: IPv4\n"
             "endpoints: [{addresses: [127.0.0.1]}]\n"
             "ports: [{name: http, port: %d}]\n"
             "---\n"
             "apiVersion: gateway.kgateway.dev/v1alpha1\n"
             "kind: GatewayExtension\n"
             "metadata: {name: authz}\n"
             "spec:\n"
             "  extAuth:\n"
             "    httpService:\n"
             "      backendRef: {name: ext-authz, port: 8000}\n"
             "      authorizationResponse: {headersToBackend: [x-user]}\n"
             "---\n"
             "apiVersion: gateway.kgateway.dev/v1alpha1\n"
             "kind: TrafficPolicy\n"
             "metadata: {name: api}\n"
             "spec: {extAuth: {extensionRef: {name: authz}}}\n",
             server.port, server.port);
    assert_non_null(h);
    if (gwf_test_load_text(h, text) != 0)
        fail_msg("load: %s", gwf_test_error(h));
    res = run(h, gwf_test_request_new("GET", "/allow"));
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_string_equal(upstream(res, "x-user"), "alice");
    done(h, res);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_200_allows_and_copies_headers_to_backend),
        cmocka_unit_test(test_check_path_is_path_prefix_plus_original_path),
        cmocka_unit_test(test_check_keeps_the_original_method),
        cmocka_unit_test(
            test_check_carries_only_authorization_host_and_forwarded_headers),
        cmocka_unit_test(test_headers_to_add_overwrite_forwarded_headers),
        cmocka_unit_test(
            test_auth_headers_to_remove_are_removed_from_upstream_request),
        cmocka_unit_test(test_headers_to_client_on_success_reach_the_client),
        cmocka_unit_test(
            test_headers_named_by_the_answers_connection_are_not_passed_on),
        cmocka_unit_test(
            test_denial_leaves_out_headers_named_by_the_answers_connection),
        cmocka_unit_test(test_connection_to_authz_server_is_kept_alive),
        cmocka_unit_test(test_denial_answers_with_status_body_and_headers),
        cmocka_unit_test(test_headers_to_client_limits_the_denial_headers),
        cmocka_unit_test(test_redirect_denial_keeps_its_location),
        cmocka_unit_test(test_5xx_is_an_error_answered_with_403),
        cmocka_unit_test(test_status_on_error_sets_the_error_status),
        cmocka_unit_test(test_reset_connection_is_an_error),
        cmocka_unit_test(test_connection_refused_is_an_error),
        cmocka_unit_test(test_too_large_answer_is_an_error),
        cmocka_unit_test(test_timeout_is_an_error),
        cmocka_unit_test(
            test_timeouts_due_together_are_answered_a_batch_per_turn),
        cmocka_unit_test(
            test_checks_beyond_the_active_limit_wait_without_a_connection),
        cmocka_unit_test(
            test_clients_leaving_while_their_timeout_answer_is_queued),
        cmocka_unit_test(
            test_clients_leaving_while_their_check_waits_for_admission),
        cmocka_unit_test(test_fail_open_allows_when_the_server_fails),
        cmocka_unit_test(test_fail_open_allows_when_the_server_is_down),
        cmocka_unit_test(test_fail_open_does_not_allow_a_denial),
        cmocka_unit_test(
            test_uncheckable_method_is_refused_400_even_with_fail_open),
        cmocka_unit_test(
            test_forwarded_header_with_control_byte_is_refused_400),
        cmocka_unit_test(
            test_forwarded_header_the_host_cannot_read_is_an_error),
        cmocka_unit_test(test_client_leaving_cancels_the_check),
        cmocka_unit_test(test_body_is_sent_to_the_authz_server),
        cmocka_unit_test(test_body_is_not_sent_without_with_request_body),
        cmocka_unit_test(test_body_larger_than_max_is_refused_with_413),
        cmocka_unit_test(test_partial_body_sends_the_first_max_bytes),
        cmocka_unit_test(
            test_client_partial_body_header_does_not_reach_the_server),
        cmocka_unit_test(test_config_without_a_service_is_rejected),
        cmocka_unit_test(test_config_with_both_services_is_rejected),
        cmocka_unit_test(test_config_unknown_field_is_rejected),
        cmocka_unit_test(test_config_missing_backend_is_rejected),
        cmocka_unit_test(
            test_config_status_on_error_outside_100_to_511_is_rejected),
        cmocka_unit_test(
            test_config_header_to_add_with_a_control_byte_is_rejected),
        cmocka_unit_test(test_config_body_without_max_bytes_is_rejected),
        cmocka_unit_test(test_config_bad_timeout_is_rejected),
        cmocka_unit_test(test_config_bad_header_name_is_rejected),
        cmocka_unit_test(test_config_negative_retry_attempts_are_rejected),
        cmocka_unit_test(test_config_backoff_without_base_interval_is_rejected),
        cmocka_unit_test(test_config_durations_below_1ms_are_rejected),
        cmocka_unit_test(test_config_clear_route_cache_true_is_rejected),
        cmocka_unit_test(test_config_informational_status_on_error_is_rejected),
        cmocka_unit_test(test_config_empty_stat_prefix_is_rejected),
        cmocka_unit_test(
            test_config_percentage_enabled_outside_0_to_100_is_rejected),
        cmocka_unit_test(
            test_config_headers_to_add_bad_format_string_is_rejected),
        cmocka_unit_test(test_config_max_request_bytes_above_int32_is_rejected),
        cmocka_unit_test(test_retry_without_attempts_retries_once),
        cmocka_unit_test(test_retry_attempts_0_does_not_retry),
        cmocka_unit_test(test_no_retry_block_does_not_retry),
        cmocka_unit_test(test_http_request_timeout_defaults_to_2s),
        cmocka_unit_test(test_status_on_error_511_is_answered),
        cmocka_unit_test(test_stat_prefix_labels_the_checks_metric),
        cmocka_unit_test(
            test_percentage_enabled_0_lets_requests_pass_unchecked),
        cmocka_unit_test(test_percentage_enabled_100_checks_every_request),
        cmocka_unit_test(test_percentage_enabled_checks_that_share_of_requests),
        cmocka_unit_test(test_headers_to_add_double_percent_is_one_percent),
        cmocka_unit_test(test_headers_to_add_renders_request_values),
        cmocka_unit_test(test_backend_ref_to_a_service_reaches_its_endpoints),
        cmocka_unit_test(
            test_headers_to_add_value_the_host_cannot_read_is_an_error),
        cmocka_unit_test(test_headers_to_add_empty_rendering_adds_no_header),
        cmocka_unit_test(test_headers_to_add_missing_header_renders_empty),
        cmocka_unit_test(test_route_with_request_body_sends_the_body),
        cmocka_unit_test(test_route_with_request_body_replaces_the_extensions),
        cmocka_unit_test(test_route_with_request_body_over_the_limit_is_413),
        cmocka_unit_test(test_retry_after_5xx_gets_the_answer),
        cmocka_unit_test(
            test_client_abort_during_retry_backoff_cancels_the_retry),
        cmocka_unit_test(test_retries_stop_after_attempts),
        cmocka_unit_test(test_refused_connection_is_retried),
        cmocka_unit_test(test_denial_is_not_retried),
        cmocka_unit_test(test_retry_resends_the_body),
    };
    return cmocka_run_group_tests(tests, start_server, stop_server);
}
