/*
 * test_rls.c - the global rate limit as kgateway deploys it: the plugin
 * asks a rate limit service over Envoy's RLS v3 (ShouldRateLimit), here
 * rls_server.py, which counts per envoyproxy/ratelimit's config format
 * and records what it was sent. Every test starts its own service on
 * loopback ports and stops it.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <gwf/testing.h>

#include "rls_peer.h"

#define MS INT64_C(1000000)

static rls_peer peer;

static int
setup(void **state)
{
    (void)state;
    rls_peer_start(&peer);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    rls_peer_stop(&peer);
    return 0;
}

/* Backend rls (to `port`), GatewayExtension rl (spec.rateLimit: the
 * grpcService to it, plus `extra`), TrafficPolicy api (its descriptors:
 * `descs`). */
static gwf_test_host *
host_for(int port, const char *extra, const char *descs)
{
    static char text[8192];
    gwf_test_host *h = gwf_test_host_new();

    assert_non_null(h);
    snprintf(text, sizeof(text),
             "apiVersion: gateway.kgateway.dev/v1alpha1\n"
             "kind: Backend\n"
             "metadata: {name: rls, namespace: default}\n"
             "spec: {static: {hosts: [{host: 127.0.0.1, port: %d}]}}\n"
             "---\n"
             "apiVersion: gateway.kgateway.dev/v1alpha1\n"
             "kind: GatewayExtension\n"
             "metadata: {name: rl, namespace: default}\n"
             "spec:\n"
             "  type: RateLimit\n"
             "  rateLimit: {grpcService: {backendRef: {name: rls}}, "
             "domain: api-gateway%s}\n"
             "---\n"
             "apiVersion: gateway.kgateway.dev/v1alpha1\n"
             "kind: TrafficPolicy\n"
             "metadata: {name: api, namespace: default}\n"
             "spec:\n"
             "  rateLimit:\n"
             "    global:\n"
             "      extensionRef: {name: rl}\n"
             "      descriptors: %s\n",
             port, extra, descs);
    if (gwf_test_load_text(h, text) != 0)
        fail_msg("load: %s", gwf_test_error(h));
    return h;
}

#define PREMIUM                                                                \
    "[{entries: [{type: Generic, generic: {key: service, value: "              \
    "premium-api}}]}]"

static const gwf_test_route api = {.policy = "default/api"};

static gwf_test_result *
start(gwf_test_host *h, const char *path, const char *header, const char *value,
      long real_ms)
{
    gwf_test_request *req = gwf_test_request_new("GET", path);
    gwf_test_result *res;

    gwf_test_request_remote(req, "192.0.2.7");
    if (header)
        gwf_test_request_header(req, header, value);
    res = gwf_test_start(h, &api, req, real_ms);
    gwf_test_request_free(req);
    if (!res)
        fail_msg("start: %s", gwf_test_error(h));
    return res;
}

static gwf_test_result *
run(gwf_test_host *h, const char *path, const char *header, const char *value)
{
    gwf_test_result *res = start(h, path, header, value, 5000);

    if (gwf_test_outcome(res) == 0)
        fail_msg("request still paused after 5 s");
    return res;
}

static int
status_of(gwf_test_host *h, const char *path)
{
    gwf_test_result *res = run(h, path, NULL, NULL);
    int status = gwf_test_status(res);

    gwf_test_result_free(res);
    return status;
}

static int
unused_port(void)
{
    struct sockaddr_in addr = {.sin_family = AF_INET};
    socklen_t len = sizeof(addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0 &&
        getsockname(fd, (struct sockaddr *)&addr, &len) == 0)
        port = ntohs(addr.sin_port);
    close(fd);
    return port;
}

/* ---- counting ---------------------------------------------------------- */

static void
test_three_allowed_then_429_with_x_envoy_ratelimited(void **state)
{
    gwf_test_host *h = host_for(peer.port, "", PREMIUM);
    gwf_test_result *res;

    (void)state;
    for (int i = 0; i < 3; i++)
        assert_int_equal(status_of(h, "/"), 200);
    res = run(h, "/", NULL, NULL);
    assert_int_equal(gwf_test_status(res), 429);
    assert_string_equal(gwf_test_header(res, "x-envoy-ratelimited", 0), "true");
    assert_string_equal(gwf_test_reply_details(res), "request_rate_limited");
    gwf_test_result_free(res);
    assert_int_equal(rls_requests_seen(&peer), 4);
    assert_true(gwf_test_metric(h, "gwf_rate_limit_service_total{instance="
                                   "\"default/rl\",outcome=\"ok\"}") == 3);
    assert_true(gwf_test_metric(h,
                                "gwf_rate_limit_service_total{instance="
                                "\"default/rl\",outcome=\"over_limit\"}") == 1);
    gwf_test_host_free(h);
}

static void
test_descriptors_are_one_descriptor_of_every_entry_as_kgateway_builds_it(
    void **state)
{
    gwf_test_host *h = host_for(
        peer.port, "",
        "[{entries: [{type: Generic, generic: {key: service, value: x}}, "
        "{type: Header, header: X-User-ID}]}, "
        "{entries: [{type: RemoteAddress}, {type: Path}]}]");
    gwf_test_result *res = run(h, "/a/b?c=1", "X-User-ID", "user1");
    char *json;

    (void)state;
    assert_int_equal(gwf_test_status(res), 200);
    gwf_test_result_free(res);
    json = rls_control(&peer, "GET", "/requests");
    assert_string_equal(
        json, "[{\"domain\": \"api-gateway\", \"hits\": 1, \"descriptors\": "
              "[[[\"service\", \"x\"], [\"X-User-ID\", \"user1\"], "
              "[\"remote_address\", \"192.0.2.7\"], [\"path\", "
              "\"/a/b?c=1\"]]]}]");
    free(json);
    gwf_test_host_free(h);
}

static void
test_an_absent_header_means_no_descriptor_and_no_call(void **state)
{
    gwf_test_host *h =
        host_for(peer.port, ", failOpen: false",
                 "[{entries: [{type: Header, header: X-User-ID}]}]");

    (void)state;
    assert_int_equal(status_of(h, "/"), 200);
    assert_int_equal(rls_requests_seen(&peer), 0);
    gwf_test_host_free(h);
}

static void
test_each_user_has_its_own_count(void **state)
{
    gwf_test_host *h = host_for(
        peer.port, "", "[{entries: [{type: Header, header: X-User-ID}]}]");
    gwf_test_result *res;

    (void)state;
    res = run(h, "/", "X-User-ID", "alice");
    assert_int_equal(gwf_test_status(res), 200);
    gwf_test_result_free(res);
    res = run(h, "/", "X-User-ID", "alice");
    assert_int_equal(gwf_test_status(res), 429);
    gwf_test_result_free(res);
    res = run(h, "/", "X-User-ID", "bob");
    assert_int_equal(gwf_test_status(res), 200);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* ---- headers ------------------------------------------------------------- */

static void
test_draft03_headers_on_allowed_and_denied_answers(void **state)
{
    gwf_test_host *h =
        host_for(peer.port, ", xRateLimitHeaders: DraftVersion03",
                 "[{entries: [{type: Generic, generic: {key: service, value: "
                 "named}}]}]");
    gwf_test_result *res;
    long reset;

    (void)state;
    res = run(h, "/", NULL, NULL);
    assert_int_equal(gwf_test_status(res), 200);
    assert_string_equal(gwf_test_header(res, "x-ratelimit-limit", 0),
                        "2, 2;w=3600;name=\"per-svc\"");
    assert_string_equal(gwf_test_header(res, "x-ratelimit-remaining", 0), "1");
    reset = strtol(gwf_test_header(res, "x-ratelimit-reset", 0), NULL, 10);
    assert_true(reset > 0 && reset <= 3600);
    gwf_test_result_free(res);
    assert_int_equal(status_of(h, "/"), 200);
    res = run(h, "/", NULL, NULL);
    assert_int_equal(gwf_test_status(res), 429);
    assert_string_equal(gwf_test_header(res, "x-ratelimit-remaining", 0), "0");
    assert_string_equal(gwf_test_header(res, "x-ratelimit-limit", 0),
                        "2, 2;w=3600;name=\"per-svc\"");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_no_x_ratelimit_headers_by_default(void **state)
{
    gwf_test_host *h = host_for(peer.port, "", PREMIUM);
    gwf_test_result *res = run(h, "/", NULL, NULL);

    (void)state;
    assert_int_equal(gwf_test_status(res), 200);
    assert_null(gwf_test_header(res, "x-ratelimit-limit", 0));
    assert_null(gwf_test_header(res, "x-ratelimit-remaining", 0));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_headers_and_body_the_service_asks_for(void **state)
{
    gwf_test_host *h = host_for(peer.port, "", PREMIUM);
    gwf_test_result *res;
    size_t len = 0;
    const char *body;

    (void)state;
    rls_set_mode(&peer, "headers");
    res = run(h, "/", NULL, NULL);
    assert_int_equal(gwf_test_status(res), 200);
    assert_string_equal(gwf_test_upstream_header(res, "x-rls-request", 0),
                        "yes");
    assert_string_equal(gwf_test_header(res, "x-rls-response", 0), "yes");
    gwf_test_result_free(res);
    assert_int_equal(status_of(h, "/"), 200);
    assert_int_equal(status_of(h, "/"), 200);
    res = run(h, "/", NULL, NULL);
    assert_int_equal(gwf_test_status(res), 429);
    assert_string_equal(gwf_test_header(res, "x-rls-response", 0), "yes");
    body = gwf_test_body(res, &len);
    assert_int_equal(len, 9);
    assert_memory_equal(body, "slow down", 9);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* ---- failures ------------------------------------------------------------ */

static void
test_service_down_is_allowed_by_kgateways_default_fail_open(void **state)
{
    gwf_test_host *h = host_for(unused_port(), "", PREMIUM);

    (void)state;
    assert_int_equal(status_of(h, "/"), 200);
    assert_true(gwf_test_log_contains(h, "rate limit service"));
    gwf_test_host_free(h);
}

static void
test_service_down_with_fail_open_false_is_500(void **state)
{
    gwf_test_host *h = host_for(unused_port(), ", failOpen: false", PREMIUM);
    gwf_test_result *res = run(h, "/", NULL, NULL);

    (void)state;
    assert_int_equal(gwf_test_status(res), 500);
    assert_string_equal(gwf_test_reply_details(res), "rate_limiter_error");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* A hanging service: nothing until `timeout`, then the fail mode. The
 * service is told the same deadline (grpc-timeout) and gives up by
 * itself at 100ms of real time: so the host-clock timer is tested with a
 * longer timeout, and the default's 100ms by the service's own deadline. */
static void
hang_then(const char *extra, int want_status)
{
    gwf_test_host *h = host_for(peer.port, extra, PREMIUM);
    gwf_test_result *res;

    rls_set_mode(&peer, "hang");
    res = start(h, "/", NULL, NULL, 300);
    assert_int_equal(gwf_test_outcome(res), 0); /* still waiting */
    gwf_test_advance(h, 4999 * MS);
    assert_int_equal(gwf_test_outcome(res), 0);
    gwf_test_advance(h, 1 * MS);
    assert_int_equal(gwf_test_wait(h, res, 1000), 1);
    assert_int_equal(gwf_test_status(res), want_status);
    assert_true(gwf_test_log_contains(h, "no answer within the timeout"));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_hanging_service_times_out_and_fails_open(void **state)
{
    (void)state;
    hang_then(", timeout: 5s", 200);
}

static void
test_hanging_service_times_out_and_fails_closed_with_500(void **state)
{
    (void)state;
    hang_then(", failOpen: false, timeout: 5s", 500);
}

/* kgateway's default timeout, 100ms, reaches the service as its
 * deadline: a hanging one gives up by itself in real time. */
static void
test_default_timeout_is_100ms_sent_as_the_deadline(void **state)
{
    gwf_test_host *h = host_for(peer.port, ", failOpen: false", PREMIUM);
    gwf_test_result *res;
    struct timespec t0, t1;
    long ms;

    (void)state;
    rls_set_mode(&peer, "hang");
    clock_gettime(CLOCK_MONOTONIC, &t0);
    res = run(h, "/", NULL, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    assert_int_equal(gwf_test_status(res), 500);
    assert_true(ms >= 90 && ms < 3000);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
answer_fails_closed(const char *mode)
{
    gwf_test_host *h = host_for(peer.port, ", failOpen: false", PREMIUM);

    rls_set_mode(&peer, mode);
    assert_int_equal(status_of(h, "/"), 500);
    assert_true(gwf_test_log_contains(h, "rate limit service"));
    gwf_test_host_free(h);
}

static void
test_garbage_answer_fails_closed(void **state)
{
    (void)state;
    answer_fails_closed("garbage");
}

static void
test_truncated_answer_fails_closed(void **state)
{
    (void)state;
    answer_fails_closed("truncated");
}

static void
test_unknown_overall_code_fails_closed(void **state)
{
    (void)state;
    answer_fails_closed("unknown");
}

static void
test_unavailable_fails_closed(void **state)
{
    (void)state;
    answer_fails_closed("unavailable");
}

static void
test_connection_closed_mid_answer_fails_closed_and_open(void **state)
{
    gwf_test_host *h = host_for(peer.raw, ", failOpen: false", PREMIUM);
    gwf_test_host *open = host_for(peer.raw, "", PREMIUM);

    (void)state;
    assert_int_equal(status_of(h, "/"), 500);
    assert_int_equal(status_of(open, "/"), 200);
    gwf_test_host_free(h);
    gwf_test_host_free(open);
}

/* The extension with `grpc` added to its grpcService and `extra` to its
 * spec.rateLimit (both "" or starting with ", "). */
static gwf_test_host *
host_with_grpc(const char *grpc, const char *extra)
{
    char text[2048];
    gwf_test_host *h = gwf_test_host_new();

    assert_non_null(h);
    snprintf(text, sizeof(text),
             "apiVersion: gateway.kgateway.dev/v1alpha1\n"
             "kind: Backend\n"
             "metadata: {name: rls, namespace: default}\n"
             "spec: {static: {hosts: [{host: 127.0.0.1, port: %d}]}}\n"
             "---\n"
             "apiVersion: gateway.kgateway.dev/v1alpha1\n"
             "kind: GatewayExtension\n"
             "metadata: {name: rl, namespace: default}\n"
             "spec: {rateLimit: {domain: api-gateway%s, "
             "grpcService: {backendRef: {name: rls}%s}}}\n"
             "---\n"
             "apiVersion: gateway.kgateway.dev/v1alpha1\n"
             "kind: TrafficPolicy\n"
             "metadata: {name: api, namespace: default}\n"
             "spec: {rateLimit: {global: {extensionRef: {name: rl}, "
             "descriptors: " PREMIUM "}}}\n",
             peer.port, extra, grpc);
    if (gwf_test_load_text(h, text) != 0)
        fail_msg("load: %s", gwf_test_error(h));
    return h;
}

/* Run one request, stepping the host's clock 1ms at a time (the retry
 * backoff's timer runs on it) until it ends. */
static int
status_stepping(gwf_test_host *h)
{
    gwf_test_result *res = start(h, "/", NULL, NULL, 2000);
    int status;

    for (int i = 0; i < 50 && gwf_test_outcome(res) == 0; i++) {
        gwf_test_advance(h, 1 * MS);
        gwf_test_wait(h, res, 200);
    }
    assert_int_not_equal(gwf_test_outcome(res), 0);
    status = gwf_test_status(res);
    gwf_test_result_free(res);
    return status;
}

static void
test_retry_after_unavailable_reaches_the_service_twice(void **state)
{
    gwf_test_host *h =
        host_with_grpc(", retry: {attempts: 1, backoff: {baseInterval: 1ms}}",
                       ", failOpen: false");

    (void)state;
    rls_set_mode(&peer, "unavailable-once");
    assert_int_equal(status_stepping(h), 200);
    assert_int_equal(rls_requests_seen(&peer), 2);
    gwf_test_host_free(h);
}

static void
test_retry_attempts_0_tries_once(void **state)
{
    gwf_test_host *h =
        host_with_grpc(", retry: {attempts: 0, backoff: {baseInterval: 1ms}}",
                       ", failOpen: false");

    (void)state;
    rls_set_mode(&peer, "unavailable-once");
    assert_int_equal(status_stepping(h), 500);
    assert_int_equal(rls_requests_seen(&peer), 1);
    gwf_test_host_free(h);
}

static void
test_no_retry_without_a_retry_block(void **state)
{
    gwf_test_host *h = host_with_grpc("", ", failOpen: false");

    (void)state;
    rls_set_mode(&peer, "unavailable-once");
    assert_int_equal(status_stepping(h), 500);
    assert_int_equal(rls_requests_seen(&peer), 1);
    gwf_test_host_free(h);
}

/* grpcService.requestTimeout bounds one attempt, in real time, inside a
 * longer `timeout`. */
static void
test_request_timeout_bounds_one_attempt(void **state)
{
    gwf_test_host *h =
        host_with_grpc(", requestTimeout: 200ms", ", failOpen: false, "
                                                  "timeout: 10s");
    struct timespec t0, t1;
    long ms;

    (void)state;
    rls_set_mode(&peer, "hang");
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(status_of(h, "/"), 500);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    assert_true(ms >= 150 && ms < 3000);
    gwf_test_host_free(h);
}

static void
test_client_abort_while_waiting_cancels_the_call_and_its_timer(void **state)
{
    gwf_test_host *h =
        host_for(peer.port, ", failOpen: false, timeout: 10s", PREMIUM);
    gwf_test_result *res;

    (void)state;
    rls_set_mode(&peer, "hang");
    res = start(h, "/", NULL, NULL, 300);
    assert_int_equal(gwf_test_outcome(res), 0);
    gwf_test_abort(h, res);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_ABORTED);
    /* The timer is gone with the stream: moving past it fires nothing. */
    gwf_test_advance(h, 1000 * MS);
    gwf_test_result_free(res);
    rls_set_mode(&peer, "normal");
    assert_int_equal(status_of(h, "/"), 200);
    gwf_test_host_free(h);
}

/* The client leaves while the call waits out its retry backoff (a
 * worker-scope timer of rls.c, not the stream's): the stream's end
 * cancels that timer with the call, so moving past it starts no second
 * attempt and touches nothing freed (ASan). */
static void
test_client_abort_during_retry_backoff_cancels_the_retry(void **state)
{
    gwf_test_host *h =
        host_with_grpc(", retry: {attempts: 3, backoff: {baseInterval: 10s}}",
                       ", failOpen: false, timeout: 60s");
    gwf_test_result *res;

    (void)state;
    rls_set_mode(&peer, "unavailable");
    res = start(h, "/", NULL, NULL, 300);
    for (int i = 0; i < 50 && rls_requests_seen(&peer) < 1; i++)
        gwf_test_wait(h, res, 100);
    gwf_test_wait(h, res, 200); /* the UNAVAILABLE answer is read */
    assert_int_equal(gwf_test_outcome(res), 0);
    assert_int_equal(rls_requests_seen(&peer), 1);
    gwf_test_abort(h, res);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_ABORTED);
    gwf_test_advance(h, 120000 * MS);
    gwf_test_result_free(res);
    /* A request of its own runs the loop: had the retry been left
     * armed, its attempt would reach the service too. */
    rls_set_mode(&peer, "normal");
    assert_int_equal(status_of(h, "/"), 200);
    assert_int_equal(rls_requests_seen(&peer), 2);
    gwf_test_host_free(h);
}

static void
test_a_thousand_concurrent_requests_are_counted_exactly(void **state)
{
    enum { N = 1000 };
    gwf_test_host *h = host_for(
        peer.port, ", failOpen: false, timeout: 60s",
        "[{entries: [{type: Generic, generic: {key: service, value: big}}]}]");
    gwf_test_result **res = calloc(N, sizeof(*res));
    int ok = 0, limited = 0, other = 0;

    (void)state;
    assert_non_null(res);
    for (int i = 0; i < N; i++)
        res[i] = start(h, "/", NULL, NULL, 0);
    for (int i = 0; i < N; i++) {
        if (gwf_test_outcome(res[i]) == 0)
            assert_int_equal(gwf_test_wait(h, res[i], 30000), 1);
        switch (gwf_test_status(res[i])) {
        case 200:
            ok++;
            break;
        case 429:
            limited++;
            break;
        default:
            other++;
        }
        gwf_test_result_free(res[i]);
    }
    free(res);
    assert_int_equal(other, 0);
    assert_int_equal(ok, 600);
    assert_int_equal(limited, 400);
    gwf_test_host_free(h);
}

/* ---- TLS ------------------------------------------------------------------
 */

static char tls_dir[] = "/tmp/gwf-rls-tls-XXXXXX";

static int
setup_tls(void **state)
{
    char cmd[512], cert[256], key[256];

    (void)state;
    strcpy(tls_dir, "/tmp/gwf-rls-tls-XXXXXX"); /* a template each time */
    if (!mkdtemp(tls_dir))
        return -1;
    snprintf(cmd, sizeof(cmd), "sh %s %s", MAKE_CERTS_SCRIPT, tls_dir);
    if (system(cmd) != 0)
        return -1;
    snprintf(cert, sizeof(cert), "%s/server.pem", tls_dir);
    snprintf(key, sizeof(key), "%s/server.key", tls_dir);
    rls_peer_start_with(&peer, cert, key);
    return 0;
}

static int
teardown_tls(void **state)
{
    char cmd[512];

    (void)state;
    rls_peer_stop(&peer);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tls_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* The Backend says tls: {caFile: DIR/<ca>, serverName?}. */
static gwf_test_host *
tls_host(const char *ca, const char *server_name, const char *extra)
{
    char text[4096], sni[128] = "";
    gwf_test_host *h = gwf_test_host_new();

    assert_non_null(h);
    if (server_name)
        snprintf(sni, sizeof(sni), ", serverName: %s", server_name);
    snprintf(text, sizeof(text),
             "apiVersion: gateway.kgateway.dev/v1alpha1\n"
             "kind: Backend\n"
             "metadata: {name: rls, namespace: default}\n"
             "spec: {tls: {caFile: %s/%s%s}, static: {hosts: [{host: "
             "127.0.0.1, port: %d}]}}\n"
             "---\n"
             "apiVersion: gateway.kgateway.dev/v1alpha1\n"
             "kind: GatewayExtension\n"
             "metadata: {name: rl, namespace: default}\n"
             "spec: {rateLimit: {grpcService: {backendRef: {name: rls}}, "
             "domain: api-gateway, timeout: 5s%s}}\n"
             "---\n"
             "apiVersion: gateway.kgateway.dev/v1alpha1\n"
             "kind: TrafficPolicy\n"
             "metadata: {name: api, namespace: default}\n"
             "spec: {rateLimit: {global: {extensionRef: {name: rl}, "
             "descriptors: " PREMIUM "}}}\n",
             tls_dir, ca, sni, peer.port, extra);
    if (gwf_test_load_text(h, text) != 0)
        fail_msg("load: %s", gwf_test_error(h));
    return h;
}

static void
test_tls_to_the_service_when_the_backend_says_so(void **state)
{
    gwf_test_host *h = tls_host("ca.pem", NULL, ", failOpen: false");

    (void)state;
    for (int i = 0; i < 3; i++)
        assert_int_equal(status_of(h, "/"), 200);
    assert_int_equal(status_of(h, "/"), 429);
    assert_int_equal(rls_requests_seen(&peer), 4);
    gwf_test_host_free(h);
}

static void
test_tls_server_name_is_checked_against_the_certificate(void **state)
{
    gwf_test_host *good = tls_host("ca.pem", "authz.test", ", failOpen: false");
    gwf_test_host *bad = tls_host("ca.pem", "other.test", ", failOpen: false");

    (void)state;
    assert_int_equal(status_of(good, "/"), 200);
    assert_int_equal(status_of(bad, "/"), 500);
    assert_int_equal(rls_requests_seen(&peer), 1);
    gwf_test_host_free(good);
    gwf_test_host_free(bad);
}

static void
test_tls_with_another_ca_is_a_failure_never_a_pass(void **state)
{
    gwf_test_host *h = tls_host("other-ca.pem", NULL, ", failOpen: false");

    (void)state;
    assert_int_equal(status_of(h, "/"), 500);
    assert_int_equal(rls_requests_seen(&peer), 0);
    gwf_test_host_free(h);
}

/* ---- config -------------------------------------------------------------- */

static void
assert_refused(const char *spec, const char *field, const char *message)
{
    char text[2048];
    gwf_test_host *h = gwf_test_host_new();
    const char *err;

    snprintf(text, sizeof(text),
             "apiVersion: gateway.kgateway.dev/v1alpha1\n"
             "kind: Backend\n"
             "metadata: {name: rls, namespace: default}\n"
             "spec: {static: {hosts: [{host: 127.0.0.1, port: 1}]}}\n"
             "---\n"
             "apiVersion: gateway.kgateway.dev/v1alpha1\n"
             "kind: GatewayExtension\n"
             "metadata: {name: rl, namespace: default}\n"
             "spec: {rateLimit: %s}\n",
             spec);
    assert_int_equal(gwf_test_load_text(h, text), 0);
    assert_int_equal(gwf_test_validate(h), -1);
    err = gwf_test_error(h);
    if (!strstr(err, field) || !strstr(err, message))
        fail_msg("want \"%s\" and \"%s\" in:\n%s", field, message, err);
    gwf_test_host_free(h);
}

static void
test_config_domain_is_required(void **state)
{
    (void)state;
    assert_refused("{grpcService: {backendRef: {name: rls}}}", "domain",
                   "is required");
}

static void
test_config_redis_fields_are_refused_beside_grpc_service(void **state)
{
    (void)state;
    assert_refused("{grpcService: {backendRef: {name: rls}}, domain: d, "
                   "descriptors: []}",
                   "descriptors", "applies to the redis mode only");
    assert_refused("{grpcService: {backendRef: {name: rls}}, domain: d, "
                   "redis: {address: \"127.0.0.1:6379\"}}",
                   "redis", "expected one of grpcService and redis");
}

static void
test_config_bad_values_are_named(void **state)
{
    (void)state;
    assert_refused("{grpcService: {backendRef: {name: rls}}, domain: d, "
                   "xRateLimitHeaders: Draft}",
                   "xRateLimitHeaders", "DraftVersion03");
    assert_refused("{grpcService: {backendRef: {name: rls}}, domain: d, "
                   "timeout: soon}",
                   "timeout", "");
    assert_refused("{grpcService: {backendRef: {name: rls}, retry: "
                   "{attempts: -1}}, domain: d}",
                   "grpcService.retry.attempts", "");
    assert_refused("{grpcService: {backendRef: {name: rls}, unknownField: "
                   "1}, domain: d}",
                   "grpcService.unknownField", "");
    assert_refused("{grpcService: {backendRef: {name: nowhere}}, domain: d}",
                   "grpcService.backendRef", "");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_three_allowed_then_429_with_x_envoy_ratelimited, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_descriptors_are_one_descriptor_of_every_entry_as_kgateway_builds_it,
            setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_an_absent_header_means_no_descriptor_and_no_call, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_each_user_has_its_own_count, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_draft03_headers_on_allowed_and_denied_answers, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_no_x_ratelimit_headers_by_default,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_headers_and_body_the_service_asks_for, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_service_down_is_allowed_by_kgateways_default_fail_open, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_service_down_with_fail_open_false_is_500, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_hanging_service_times_out_and_fails_open, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_default_timeout_is_100ms_sent_as_the_deadline, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_hanging_service_times_out_and_fails_closed_with_500, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_garbage_answer_fails_closed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_truncated_answer_fails_closed,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_overall_code_fails_closed,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_unavailable_fails_closed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_connection_closed_mid_answer_fails_closed_and_open, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_retry_after_unavailable_reaches_the_service_twice, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_retry_attempts_0_tries_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_no_retry_without_a_retry_block,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_timeout_bounds_one_attempt,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_client_abort_while_waiting_cancels_the_call_and_its_timer,
            setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_client_abort_during_retry_backoff_cancels_the_retry, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_a_thousand_concurrent_requests_are_counted_exactly, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_tls_to_the_service_when_the_backend_says_so, setup_tls,
            teardown_tls),
        cmocka_unit_test_setup_teardown(
            test_tls_server_name_is_checked_against_the_certificate, setup_tls,
            teardown_tls),
        cmocka_unit_test_setup_teardown(
            test_tls_with_another_ca_is_a_failure_never_a_pass, setup_tls,
            teardown_tls),
        cmocka_unit_test(test_config_domain_is_required),
        cmocka_unit_test(
            test_config_redis_fields_are_refused_beside_grpc_service),
        cmocka_unit_test(test_config_bad_values_are_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
