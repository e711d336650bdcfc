/*
 * test_tls.c - ext_authz over TLS to the authz server, HTTP and gRPC
 * (HTTP/2 by ALPN), with a test CA made by openssl at setup time
 * (make_certs.sh): the right CA and name are accepted, a wrong CA or a
 * wrong name is an error, a relative caFile is found next to the
 * manifest, and a missing one is a config error; the same from a
 * Backend's spec.tls, which the extension's own tls overrides.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <gwf/testing.h>

#include "peer.h"

static char dir[] = "/tmp/gwf-extauthz-tls-XXXXXX";
static ea_peer http_server, grpc_server;

static int
setup(void **state)
{
    char cmd[512], cert[256], key[256];
    const char *args[3] = {cert, key, NULL};

    (void)state;
    if (!mkdtemp(dir))
        return -1;
    snprintf(cmd, sizeof(cmd), "sh %s %s", MAKE_CERTS_SCRIPT, dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "openssl could not make the test certificates\n");
        return -1;
    }
    snprintf(cert, sizeof(cert), "%s/server.pem", dir);
    snprintf(key, sizeof(key), "%s/server.key", dir);
    if (ea_peer_start(&http_server, AUTHZ_HTTP_SCRIPT, args) != 0 ||
        ea_peer_start(&grpc_server, AUTHZ_GRPC_SCRIPT, args) != 0)
        return -1;
    return 0;
}

static int
teardown(void **state)
{
    char cmd[512];

    (void)state;
    ea_peer_stop(&http_server);
    ea_peer_stop(&grpc_server);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        return -1;
    return 0;
}

/* The manifests, written to DIR/gw.yaml and loaded from there (so that a
 * relative caFile resolves against DIR). `service` is httpService or
 * grpcService; `backend_fields` is added to the Backend's spec and
 * `ext_fields` to the extension's spec.extAuth (each "" or ending in
 * ", "). */
static gwf_test_host *
host_with(int port, const char *service, const char *backend_fields,
          const char *ext_fields)
{
    char path[256];
    FILE *f;
    gwf_test_host *h = gwf_test_host_new();

    assert_non_null(h);
    snprintf(path, sizeof(path), "%s/gw.yaml", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "apiVersion: gateway.kgateway.dev/v1alpha1\n"
            "kind: Backend\n"
            "metadata: {name: authz}\n"
            "spec: {%sstatic: {hosts: [{host: 127.0.0.1, port: %d}]}}\n"
            "---\n"
            "apiVersion: gateway.kgateway.dev/v1alpha1\n"
            "kind: GatewayExtension\n"
            "metadata: {name: authz}\n"
            "spec: {extAuth: {%s%s: {backendRef: {name: authz}, "
            "requestTimeout: 5s}}}\n"
            "---\n"
            "apiVersion: gateway.kgateway.dev/v1alpha1\n"
            "kind: TrafficPolicy\n"
            "metadata: {name: api}\n"
            "spec: {extAuth: {extensionRef: {name: authz}}}\n",
            backend_fields, port, ext_fields, service);
    fclose(f);
    if (gwf_test_load_path(h, path) != 0)
        fail_msg("load: %s", gwf_test_error(h));
    return h;
}

/* The extension's own `tls` block is `tls`; the Backend has none. */
static gwf_test_host *
host_for(int port, const char *service, const char *tls)
{
    char ext_fields[256];

    snprintf(ext_fields, sizeof(ext_fields), "tls: %s, ", tls);
    return host_with(port, service, "", ext_fields);
}

static const gwf_test_route api = {.policy = "default/api"};

static int
outcome_of(gwf_test_host *h, const char *path, int *status)
{
    gwf_test_request *req = gwf_test_request_new("GET", path);
    gwf_test_result *res = gwf_test_run(h, &api, req);
    int outcome;

    if (!res)
        fail_msg("run: %s", gwf_test_error(h));
    outcome = gwf_test_outcome(res);
    *status = gwf_test_status(res);
    gwf_test_result_free(res);
    gwf_test_request_free(req);
    return outcome;
}

static void
expect_of(gwf_test_host *h, int outcome, int status)
{
    int got_status;
    int got = outcome_of(h, "/allow", &got_status);

    if (got != outcome || got_status != status)
        fail_msg("outcome %d status %d, logs: %s", got, got_status,
                 gwf_test_logs(h));
    gwf_test_host_free(h);
}

static void
expect(int port, const char *service, const char *tls, int outcome, int status)
{
    gwf_test_host *h = host_for(port, service, tls);
    int got_status;
    int got = outcome_of(h, "/allow", &got_status);

    if (got != outcome || got_status != status)
        fail_msg("outcome %d status %d, logs: %s", got, got_status,
                 gwf_test_logs(h));
    gwf_test_host_free(h);
}

static void
test_http_over_tls_with_the_test_ca_is_allowed(void **state)
{
    (void)state;
    expect(http_server.port, "httpService", "{caFile: ca.pem}",
           GWF_TEST_FORWARDED, 200);
}

static void
test_http_over_tls_with_server_name_is_allowed(void **state)
{
    (void)state;
    expect(http_server.port, "httpService",
           "{caFile: ca.pem, serverName: authz.test}", GWF_TEST_FORWARDED, 200);
}

static void
test_http_over_tls_with_another_ca_is_an_error(void **state)
{
    (void)state;
    expect(http_server.port, "httpService", "{caFile: other-ca.pem}",
           GWF_TEST_LOCAL_REPLY, 403);
}

static void
test_http_over_tls_with_a_wrong_server_name_is_an_error(void **state)
{
    (void)state;
    expect(http_server.port, "httpService",
           "{caFile: ca.pem, serverName: other.test}", GWF_TEST_LOCAL_REPLY,
           403);
}

static void
test_grpc_over_tls_is_allowed_and_reuses_its_connection(void **state)
{
    gwf_test_host *h = host_for(grpc_server.port, "grpcService",
                                "{caFile: ca.pem, serverName: authz.test}");
    int status;
    char first_peer[128] = "";

    (void)state;
    for (int i = 0; i < 3; i++) {
        gwf_test_request *req = gwf_test_request_new("GET", "/allow");
        gwf_test_result *res = gwf_test_run(h, &api, req);
        const char *peer;

        if (!res || gwf_test_outcome(res) != GWF_TEST_FORWARDED)
            fail_msg("check %d: %s", i, gwf_test_logs(h));
        peer = gwf_test_upstream_header(res, "x-grpc-peer", 0);
        assert_non_null(peer);
        if (i == 0)
            snprintf(first_peer, sizeof(first_peer), "%s", peer);
        /* Same client port: the same connection. */
        assert_string_equal(peer, first_peer);
        gwf_test_result_free(res);
        gwf_test_request_free(req);
    }
    assert_int_equal(outcome_of(h, "/deny", &status), GWF_TEST_LOCAL_REPLY);
    assert_int_equal(status, 401);
    gwf_test_host_free(h);
}

static void
test_grpc_over_tls_with_another_ca_is_an_error(void **state)
{
    (void)state;
    expect(grpc_server.port, "grpcService", "{caFile: other-ca.pem}",
           GWF_TEST_LOCAL_REPLY, 403);
}

static void
test_missing_ca_file_is_a_config_error(void **state)
{
    gwf_test_host *h =
        host_for(http_server.port, "httpService", "{caFile: nowhere.pem}");

    (void)state;
    assert_int_equal(gwf_test_validate(h), -1);
    if (!strstr(gwf_test_error(h), "spec.extAuth.tls.caFile: cannot open") ||
        !strstr(gwf_test_error(h), "nowhere.pem\": No such file"))
        fail_msg("%s", gwf_test_error(h));
    gwf_test_host_free(h);
}

/* caFile names what libcurl opens on the worker per connection: a FIFO
 * there would block the worker (and the config check itself, which
 * opened it with fopen, blocked the master: alarm() turns that hang into
 * a failure); a directory passed fopen. Both are config errors now,
 * naming the field and what the path is. */
static void
expect_ca_file_refused(const char *name, const char *what)
{
    gwf_test_host *h;
    char tls[128], want[512];

    snprintf(tls, sizeof(tls), "{caFile: %s}", name);
    snprintf(want, sizeof(want),
             "spec.extAuth.tls.caFile: \"%s/%s\": %s, not a regular file", dir,
             name, what);
    alarm(10);
    h = host_for(http_server.port, "httpService", tls);
    assert_int_equal(gwf_test_validate(h), -1);
    alarm(0);
    if (!strstr(gwf_test_error(h), want))
        fail_msg("want \"%s\" in %s", want, gwf_test_error(h));
    gwf_test_host_free(h);
}

static void
test_ca_file_that_is_a_fifo_is_a_config_error_at_once(void **state)
{
    char path[256];

    (void)state;
    snprintf(path, sizeof(path), "%s/fifo.pem", dir);
    unlink(path);
    assert_int_equal(mkfifo(path, 0600), 0);
    expect_ca_file_refused("fifo.pem", "a FIFO");
    unlink(path);
}

static void
test_ca_file_that_is_a_directory_is_a_config_error(void **state)
{
    char path[256];

    (void)state;
    snprintf(path, sizeof(path), "%s/certs.d", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    expect_ca_file_refused("certs.d", "a directory");
    rmdir(path);
}

/* The Backend's spec.tls, when the extension has no tls of its own. */

static void
test_http_over_tls_from_the_backend_is_allowed(void **state)
{
    (void)state;
    expect_of(host_with(http_server.port, "httpService",
                        "tls: {caFile: ca.pem, serverName: authz.test}, ", ""),
              GWF_TEST_FORWARDED, 200);
}

static void
test_grpc_over_tls_from_the_backend_is_allowed(void **state)
{
    (void)state;
    expect_of(host_with(grpc_server.port, "grpcService",
                        "tls: {caFile: ca.pem}, ", ""),
              GWF_TEST_FORWARDED, 200);
}

static void
test_backend_tls_with_another_ca_fails_with_status_on_error(void **state)
{
    (void)state;
    expect_of(host_with(http_server.port, "httpService",
                        "tls: {caFile: other-ca.pem}, ",
                        "statusOnError: 503, "),
              GWF_TEST_LOCAL_REPLY, 503);
}

static void
test_backend_tls_with_a_wrong_server_name_fails(void **state)
{
    (void)state;
    expect_of(host_with(http_server.port, "httpService",
                        "tls: {caFile: ca.pem, serverName: other.test}, ", ""),
              GWF_TEST_LOCAL_REPLY, 403);
}

static void
test_extension_tls_wins_over_the_backend_tls(void **state)
{
    (void)state;
    /* The Backend's CA would fail the check; the extension's is used. */
    expect_of(host_with(http_server.port, "httpService",
                        "tls: {caFile: other-ca.pem, serverName: other.test}, ",
                        "tls: {caFile: ca.pem}, "),
              GWF_TEST_FORWARDED, 200);
}

static void
test_backend_without_tls_is_plain_text(void **state)
{
    (void)state;
    /* A TLS server answers plain HTTP with an error: statusOnError. */
    expect_of(
        host_with(http_server.port, "httpService", "", "statusOnError: 502, "),
        GWF_TEST_LOCAL_REPLY, 502);
}

static void
test_backend_tls_missing_ca_file_is_a_config_error(void **state)
{
    gwf_test_host *h = host_with(http_server.port, "httpService",
                                 "tls: {caFile: nowhere.pem}, ", "");

    (void)state;
    assert_int_equal(gwf_test_validate(h), -1);
    if (!strstr(gwf_test_error(h),
                "spec.extAuth.httpService.backendRef.name: Backend authz: "
                "spec.tls.caFile: cannot open") ||
        !strstr(gwf_test_error(h), "nowhere.pem"))
        fail_msg("%s", gwf_test_error(h));
    gwf_test_host_free(h);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_over_tls_with_the_test_ca_is_allowed),
        cmocka_unit_test(test_http_over_tls_with_server_name_is_allowed),
        cmocka_unit_test(test_http_over_tls_with_another_ca_is_an_error),
        cmocka_unit_test(
            test_http_over_tls_with_a_wrong_server_name_is_an_error),
        cmocka_unit_test(
            test_grpc_over_tls_is_allowed_and_reuses_its_connection),
        cmocka_unit_test(test_grpc_over_tls_with_another_ca_is_an_error),
        cmocka_unit_test(test_missing_ca_file_is_a_config_error),
        cmocka_unit_test(test_ca_file_that_is_a_directory_is_a_config_error),
        cmocka_unit_test(test_ca_file_that_is_a_fifo_is_a_config_error_at_once),
        cmocka_unit_test(test_http_over_tls_from_the_backend_is_allowed),
        cmocka_unit_test(test_grpc_over_tls_from_the_backend_is_allowed),
        cmocka_unit_test(
            test_backend_tls_with_another_ca_fails_with_status_on_error),
        cmocka_unit_test(test_backend_tls_with_a_wrong_server_name_fails),
        cmocka_unit_test(test_extension_tls_wins_over_the_backend_tls),
        cmocka_unit_test(test_backend_without_tls_is_plain_text),
        cmocka_unit_test(test_backend_tls_missing_ca_file_is_a_config_error),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
