/*
 * test_tls.c - the rate limiter's Redis connection over TLS (redis.tls),
 * against a real redis-server started TLS-only (--port 0 --tls-port)
 * with certificates the openssl command line makes at test time
 * (make_redis_certs.sh): counts, pipelining, every way the peer can fail
 * verification (unknown CA, wrong name, missing client certificate), the
 * overrides (serverName, skipHostnameVerification, insecureSkipVerify),
 * AUTH over TLS, a restart mid-traffic, a plaintext Redis and a peer that
 * closes mid-handshake. Redis's keys are read back with redis-cli --tls.
 *
 * Without openssl or redis-server the tests skip, except in CI (CI=true),
 * where that is a failure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <unistd.h>

#include "support.h"

#define MS INT64_C(1000000)
#define FOO                                                                    \
    "[{entries: [{type: Generic, generic: {key: generic_key, value: foo}}]}]"
#define FIXED_KEY "shop_generic_key_foo_1767225600"

static char certs[64]; /* the folder make_redis_certs.sh filled */
static char path_buf[8][160];

/* certs/NAME, in one of 8 rotating buffers. */
static const char *
cert(const char *name)
{
    static int next;
    char *p = path_buf[next++ % 8];
    snprintf(p, sizeof(path_buf[0]), "%s/%s", certs, name);
    return p;
}

static int
in_ci(void)
{
    const char *ci = getenv("CI");
    return ci && strcmp(ci, "true") == 0;
}

static int
tools_missing(void)
{
    return access("/usr/bin/openssl", X_OK) != 0 ||
           access("/usr/bin/redis-server", X_OK) != 0 ||
           access("/usr/bin/redis-cli", X_OK) != 0;
}

static int
setup_certs(void **state)
{
    char cmd[512];

    (void)state;
    snprintf(certs, sizeof(certs), "/tmp/gwf-rl-tls-XXXXXX");
    assert_non_null(mkdtemp(certs));
    snprintf(cmd, sizeof(cmd), "sh %s %s", MAKE_REDIS_CERTS, certs);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static int
teardown_certs(void **state)
{
    char cmd[128];

    (void)state;
    if (certs[0]) {
        snprintf(cmd, sizeof(cmd), "rm -rf %s", certs);
        assert_int_equal(system(cmd), 0);
    }
    return 0;
}

/* The arguments of a TLS-only Redis serving NAME.pem / NAME.key into
 * p->extra; clients must show a certificate of the test CA when
 * `auth_clients`; `password`: its requirepass, or NULL. The index after
 * them (NULL there). */
static int
tls_redis_args(redis_peer *p, const char *name, int auth_clients,
               const char *password)
{
    static char cert_file[160], key_file[160], ca_file[160];
    int i = 0;

    snprintf(cert_file, sizeof(cert_file), "%s/%s.pem", certs, name);
    snprintf(key_file, sizeof(key_file), "%s/%s.key", certs, name);
    snprintf(ca_file, sizeof(ca_file), "%s/ca.pem", certs);
    p->tls = 1;
    p->extra[i++] = "--tls-cert-file";
    p->extra[i++] = cert_file;
    p->extra[i++] = "--tls-key-file";
    p->extra[i++] = key_file;
    p->extra[i++] = "--tls-ca-cert-file";
    p->extra[i++] = ca_file;
    p->extra[i++] = "--tls-auth-clients";
    p->extra[i++] = auth_clients ? "yes" : "no";
    if (password) {
        p->extra[i++] = "--requirepass";
        p->extra[i++] = password;
    }
    p->extra[i] = NULL;
    return i;
}

static void
tls_redis_start(redis_peer *p, const char *name, int auth_clients,
                const char *password)
{
    tls_redis_args(p, name, auth_clients, password);
    redis_peer_start(p);
}

/* `command` through redis-cli --tls with the test CA and the client
 * certificate: the first line of its output in out[size]. */
static void
tls_cli(const redis_peer *p, const char *password, const char *command,
        char *out, size_t size)
{
    char cmd[1024];
    FILE *f;

    snprintf(cmd, sizeof(cmd),
             "redis-cli --tls --cacert %s --cert %s --key %s -h 127.0.0.1 "
             "-p %d %s%s --no-auth-warning %s",
             cert("ca.pem"), cert("client.pem"), cert("client.key"), p->port,
             password ? "-a " : "", password ? password : "", command);
    f = popen(cmd, "r");
    assert_non_null(f);
    out[0] = 0;
    if (!fgets(out, (int)size, f))
        out[0] = 0;
    pclose(f);
}

/* GET `key` through redis-cli --tls: its value, or -1 when absent. */
static long long
tls_get(const redis_peer *p, const char *password, const char *key)
{
    char cmd[256], out[64];

    snprintf(cmd, sizeof(cmd), "GET %s", key);
    tls_cli(p, password, cmd, out, sizeof(out));
    return out[0] >= '0' && out[0] <= '9' ? strtoll(out, NULL, 10) : -1;
}

/* spec.rateLimit on `address`: `limit` a minute, the tls object `tls`,
 * more redis fields `rest` and more rateLimit fields `outer` (each ""
 * or starting with ", "). */
static const char *
spec_with(const char *address, unsigned long limit, const char *tls,
          const char *rest, const char *outer)
{
    static char text[2048];
    snprintf(text, sizeof(text),
             "{redis: {address: \"%s\", tls: %s%s}, domain: shop%s, "
             "descriptors: [{key: generic_key, value: foo, rate_limit: "
             "{unit: minute, requests_per_unit: %lu}}]}",
             address, tls, rest, outer, limit);
    return text;
}

static const char *
spec(const char *address, unsigned long limit, const char *tls,
     const char *rest)
{
    return spec_with(address, limit, tls, rest, "");
}

static const char *
addr_of(const redis_peer *p, const char *host)
{
    static char text[96];
    snprintf(text, sizeof(text), "%s:%d", host, p->port);
    return text;
}

/* {caFile: the test CA} plus `more` (may be ""). */
static const char *
tls_ca(const char *more)
{
    static char text[1024];
    snprintf(text, sizeof(text), "{caFile: %s%s}", cert("ca.pem"), more);
    return text;
}

/* Occurrences of `needle` in the host's log. */
static int
log_count(gwf_test_host *h, const char *needle)
{
    const char *p = gwf_test_logs(h);
    int n = 0;

    while (p && (p = strstr(p, needle))) {
        n++;
        p += strlen(needle);
    }
    return n;
}

/* The test host limiting to `limit` a minute through the Redis p at
 * 127.0.0.1 with the tls object `tls` and more redis fields `rest`. */
static gwf_test_host *
tls_host(const redis_peer *p, unsigned long limit, const char *tls,
         const char *rest)
{
    return host_with(
        global_manifests(spec(addr_of(p, "127.0.0.1"), limit, tls, rest), FOO));
}

/* -- Verified connections ------------------------------------------------ */

/* Five allowed, the sixth over: Redis holds exactly six hits. */
static void
test_counts_are_exact_over_tls(void **state)
{
    (void)state;
    redis_peer p = {0};
    gwf_test_host *h;

    tls_redis_start(&p, "server", 0, NULL);
    h = tls_host(&p, 5, tls_ca(""), "");
    for (int i = 0; i < 5; i++)
        assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(status_of(h, "/", NULL), 429);
    assert_int_equal(tls_get(&p, NULL, FIXED_KEY), 6);
    gwf_test_host_free(h);
    redis_peer_kill(&p);
}

/* 300 decisions in flight at once on the one TLS connection: exactly
 * 100 allowed, 200 over, none failed; Redis counted 300. */
static void
test_pipelined_decisions_over_tls_are_counted_exactly(void **state)
{
    (void)state;
    redis_peer p = {0};
    gwf_test_result *res[300];
    long ok = 0, over = 0;
    gwf_test_host *h;

    tls_redis_start(&p, "server", 0, NULL);
    h = host_with(global_manifests(
        spec(addr_of(&p, "localhost"), 100, tls_ca(""), ", db: 0"), FOO));
    for (int i = 0; i < 300; i++)
        res[i] = start_api(h, "/", NULL, 0);
    for (int i = 0; i < 300; i++) {
        if (gwf_test_outcome(res[i]) == GWF_TEST_RUNNING)
            gwf_test_wait(h, res[i], 5000);
        if (gwf_test_status(res[i]) == 200)
            ok++;
        else if (gwf_test_status(res[i]) == 429)
            over++;
        gwf_test_result_free(res[i]);
    }
    assert_int_equal(ok, 100);
    assert_int_equal(over, 200);
    assert_int_equal(tls_get(&p, NULL, FIXED_KEY), 300);
    gwf_test_host_free(h);
    redis_peer_kill(&p);
}

/* The certificate names elsewhere.test, not 127.0.0.1: refused. */
static void
test_server_name_mismatch_is_refused(void **state)
{
    (void)state;
    redis_peer p = {0};
    gwf_test_host *h;

    tls_redis_start(&p, "elsewhere", 0, NULL);
    h = tls_host(&p, 5, tls_ca(""), "");
    assert_int_equal(status_of(h, "/", NULL), 500);
    assert_true(gwf_test_log_contains(h, "certificate verify failed"));
    assert_int_equal(tls_get(&p, NULL, FIXED_KEY), -1);
    gwf_test_host_free(h);
    redis_peer_kill(&p);
}

/* serverName: elsewhere.test is the name checked (and sent as SNI). */
static void
test_server_name_override_is_accepted(void **state)
{
    (void)state;
    redis_peer p = {0};
    gwf_test_host *h;

    tls_redis_start(&p, "elsewhere", 0, NULL);
    h = tls_host(&p, 5, tls_ca(", serverName: elsewhere.test"), "");
    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(tls_get(&p, NULL, FIXED_KEY), 1);
    gwf_test_host_free(h);
    redis_peer_kill(&p);
}

/* skipHostnameVerification (ratelimit's REDIS_TLS_SKIP_HOSTNAME_
 * VERIFICATION): a certificate for another name passes, its CA is still
 * checked. */
static void
test_skip_hostname_verification_still_checks_the_ca(void **state)
{
    (void)state;
    redis_peer p = {0};
    gwf_test_host *h;
    char other[256];

    tls_redis_start(&p, "elsewhere", 0, NULL);
    h = tls_host(&p, 5, tls_ca(", skipHostnameVerification: true"), "");
    assert_int_equal(status_of(h, "/", NULL), 200);
    gwf_test_host_free(h);
    snprintf(other, sizeof(other),
             "{caFile: %s, skipHostnameVerification: true}",
             cert("other-ca.pem"));
    h = tls_host(&p, 5, other, "");
    assert_int_equal(status_of(h, "/", NULL), 500);
    assert_true(gwf_test_log_contains(h, "certificate verify failed"));
    gwf_test_host_free(h);
    redis_peer_kill(&p);
}

/* A CA that did not sign the server's certificate: refused, the fail mode
 * answers (failureStatus 503), the reason logged once per attempt - no
 * key is written. With failOpen the request passes. */
static void
test_wrong_ca_is_refused_and_the_fail_mode_applies(void **state)
{
    (void)state;
    redis_peer p = {0};
    gwf_test_host *h;
    char other[256];

    tls_redis_start(&p, "server", 0, NULL);
    snprintf(other, sizeof(other), "{caFile: %s}", cert("other-ca.pem"));
    h = host_with(global_manifests(spec_with(addr_of(&p, "127.0.0.1"), 5, other,
                                             "", ", failureStatus: 503"),
                                   FOO));
    assert_int_equal(status_of(h, "/", NULL), 503);
    /* The attempt on 127.0.0.1, and the loss that starts the backoff. */
    assert_int_equal(log_count(h, "certificate verify failed"), 2);
    assert_int_equal(status_of(h, "/", NULL), 503); /* in backoff: no retry */
    assert_int_equal(log_count(h, "certificate verify failed"), 2);
    gwf_test_host_free(h);
    h = host_with(global_manifests(
        spec_with(addr_of(&p, "127.0.0.1"), 5, other, "", ", failOpen: true"),
        FOO));
    assert_int_equal(status_of(h, "/", NULL), 200);
    gwf_test_host_free(h);
    assert_int_equal(tls_get(&p, NULL, FIXED_KEY), -1);
    redis_peer_kill(&p);
}

/* tls: {} is TLS verified against the system CAs, which do not know the
 * test CA. */
static void
test_empty_tls_object_verifies_against_the_system_cas(void **state)
{
    (void)state;
    redis_peer p = {0};
    gwf_test_host *h;

    tls_redis_start(&p, "server", 0, NULL);
    h = tls_host(&p, 5, "{}", "");
    assert_int_equal(status_of(h, "/", NULL), 500);
    assert_true(gwf_test_log_contains(h, "certificate verify failed"));
    gwf_test_host_free(h);
    redis_peer_kill(&p);
}

/* insecureSkipVerify: a self-signed certificate no CA vouches for is
 * accepted (and counted in). */
static void
test_insecure_skip_verify_accepts_a_self_signed_certificate(void **state)
{
    (void)state;
    redis_peer p = {0};
    gwf_test_host *h;

    tls_redis_start(&p, "self", 0, NULL);
    h = tls_host(&p, 5, "{insecureSkipVerify: true}", "");
    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(status_of(h, "/", NULL), 200);
    gwf_test_host_free(h);
    h = tls_host(&p, 5, tls_ca(""), "");
    assert_int_equal(status_of(h, "/", NULL), 500); /* verified: refused */
    gwf_test_host_free(h);
    redis_peer_kill(&p);
}

/* -- Client certificates ----------------------------------------------------
 */

static void
test_client_certificate_required_and_given_works(void **state)
{
    (void)state;
    redis_peer p = {0};
    gwf_test_host *h;
    char tls[512];

    tls_redis_start(&p, "server", 1, NULL);
    snprintf(tls, sizeof(tls), ", certFile: %s, keyFile: %s",
             cert("client.pem"), cert("client.key"));
    h = tls_host(&p, 5, tls_ca(tls), "");
    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(tls_get(&p, NULL, FIXED_KEY), 1);
    gwf_test_host_free(h);
    redis_peer_kill(&p);
}

/* Redis wants a client certificate and none is shown: the handshake (or
 * the first read after it, in TLS 1.3) fails; never a count. */
static void
test_client_certificate_required_and_missing_is_refused(void **state)
{
    (void)state;
    redis_peer p = {0};
    gwf_test_host *h;

    tls_redis_start(&p, "server", 1, NULL);
    h = tls_host(&p, 5, tls_ca(""), "");
    assert_int_equal(status_of(h, "/", NULL), 500);
    /* TLS 1.3: Redis's alert arrives as the first read. */
    assert_true(gwf_test_log_contains(h, "alert certificate required"));
    assert_int_equal(tls_get(&p, NULL, FIXED_KEY), -1);
    gwf_test_host_free(h);
    redis_peer_kill(&p);
}

/* -- AUTH, restarts, wrong peers ------------------------------------------- */

/* AUTH goes after the handshake: the right password counts; a wrong one
 * is refused (logged without the password) and nothing is counted. */
static void
test_auth_over_tls(void **state)
{
    (void)state;
    redis_peer p = {0};
    gwf_test_host *h;

    tls_redis_start(&p, "server", 0, "s3cret-tls");
    h = tls_host(&p, 5, tls_ca(""), ", password: s3cret-tls");
    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(tls_get(&p, "s3cret-tls", FIXED_KEY), 1);
    gwf_test_host_free(h);
    h = tls_host(&p, 5, tls_ca(""), ", password: not-it-9");
    assert_int_equal(status_of(h, "/", NULL), 500);
    assert_true(gwf_test_log_contains(h, "AUTH failed"));
    assert_false(gwf_test_log_contains(h, "not-it-9"));
    gwf_test_host_free(h);
    assert_int_equal(tls_get(&p, "s3cret-tls", FIXED_KEY), 1);
    redis_peer_kill(&p);
}

/* Killed mid-traffic: the fail mode answers; restarted on its port,
 * decisions resume (a new handshake) once the backoff is over. */
static void
test_tls_redis_restarted_mid_traffic_decisions_resume(void **state)
{
    (void)state;
    redis_peer p = {0};
    gwf_test_host *h;

    tls_redis_start(&p, "server", 0, NULL);
    h = tls_host(&p, 3, tls_ca(""), "");
    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(status_of(h, "/", NULL), 200);
    redis_peer_kill(&p);
    assert_int_equal(status_of(h, "/", NULL), 500); /* connection lost */
    assert_int_equal(status_of(h, "/", NULL), 500); /* in backoff */
    tls_redis_start(&p, "server", 0, NULL);         /* same port, empty */
    gwf_test_advance(h, 200 * MS);
    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(status_of(h, "/", NULL), 429);
    assert_int_equal(tls_get(&p, NULL, FIXED_KEY), 4);
    gwf_test_host_free(h);
    redis_peer_kill(&p);
}

/* TLS configured, Redis plaintext: the handshake cannot succeed; the
 * request is answered by its deadline at the latest (timeout 100ms on
 * the host's clock), never left hanging, and nothing is counted. */
static void
test_tls_against_a_plaintext_redis_fails_by_its_deadline(void **state)
{
    (void)state;
    redis_peer p = {0};
    gwf_test_host *h;
    gwf_test_result *res;
    redisContext *c;

    redis_peer_start(&p);
    h = tls_host(&p, 5, tls_ca(""), "");
    res = start_api(h, "/", NULL, 200);
    if (gwf_test_outcome(res) == GWF_TEST_RUNNING) {
        gwf_test_advance(h, 100 * MS);
        gwf_test_wait(h, res, 1000);
    }
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
    assert_int_equal(gwf_test_status(res), 500);
    gwf_test_result_free(res);
    /* Redis waits for the rest of a "command" that never comes. */
    assert_true(gwf_test_log_contains(h, "at 127.0.0.1: no answer to the "
                                         "connect"));
    c = redis_peer_client(&p, NULL, NULL);
    assert_int_equal(redis_int(c, "EXISTS %s", FIXED_KEY), 0);
    redisFree(c);
    gwf_test_host_free(h);
    redis_peer_kill(&p);
}

/* A peer that reads the ClientHello and closes: a failed attempt (the
 * fail mode), logged as a failed handshake; the worker lives on. */
static void
test_peer_closing_mid_handshake_fails_the_attempt(void **state)
{
    (void)state;
    gwf_test_host *h;
    char address[64];
    int port;
    pid_t pid = scripted_peer_start(NULL, &port);

    snprintf(address, sizeof(address), "127.0.0.1:%d", port);
    h = host_with(global_manifests(spec(address, 5, tls_ca(""), ""), FOO));
    assert_int_equal(status_of(h, "/", NULL), 500);
    assert_true(gwf_test_log_contains(h, "TLS handshake failed"));
    gwf_test_host_free(h);
    scripted_peer_stop(pid);
}

/* A one-node Redis Cluster over TLS (its bus too) owning every slot,
 * with a password and client certificates required: the seed is asked
 * for the slot map over TLS, and the node connection that counts is TLS
 * too, with the client certificate and AUTH, its certificate checked
 * against the address the map names. Counts exact. */
static void
test_a_cluster_over_tls_counts_exactly(void **state)
{
    (void)state;
    redis_peer p = {0};
    char bus[16], text[1024], out[256];
    int i = tls_redis_args(&p, "server", 1, "s3cret");
    gwf_test_host *h;

    snprintf(bus, sizeof(bus), "%d", free_port("127.0.0.1"));
    p.extra[i++] = "--cluster-enabled";
    p.extra[i++] = "yes";
    p.extra[i++] = "--cluster-port";
    p.extra[i++] = bus;
    p.extra[i++] = "--tls-cluster";
    p.extra[i++] = "yes";
    p.extra[i] = NULL;
    redis_peer_start(&p);
    tls_cli(&p, "s3cret", "CLUSTER ADDSLOTSRANGE 0 16383", out, sizeof(out));
    assert_string_equal(out, "OK\n");
    for (int n = 0; n < 250; n++) {
        tls_cli(&p, "s3cret", "CLUSTER INFO", out, sizeof(out));
        if (strncmp(out, "cluster_state:ok", 16) == 0)
            break;
        sleep_ms(20);
    }
    assert_int_equal(strncmp(out, "cluster_state:ok", 16), 0);
    snprintf(text, sizeof(text),
             "{redis: {type: Cluster, addresses: [\"localhost:%d\"], "
             "password: s3cret, tls: {caFile: %s, certFile: %s, keyFile: "
             "%s}}, domain: shop, descriptors: [{key: generic_key, value: "
             "foo, rate_limit: {unit: minute, requests_per_unit: 3}}]}",
             p.port, cert("ca.pem"), cert("client.pem"), cert("client.key"));
    h = host_with(global_manifests(text, FOO));
    for (int n = 0; n < 3; n++)
        assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(status_of(h, "/", NULL), 429);
    assert_int_equal(tls_get(&p, "s3cret", FIXED_KEY), 4);
    assert_true(gwf_test_log_contains(h, "slot map from localhost"));
    gwf_test_host_free(h);
    redis_peer_kill(&p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_are_exact_over_tls),
        cmocka_unit_test(test_pipelined_decisions_over_tls_are_counted_exactly),
        cmocka_unit_test(test_server_name_mismatch_is_refused),
        cmocka_unit_test(test_server_name_override_is_accepted),
        cmocka_unit_test(test_skip_hostname_verification_still_checks_the_ca),
        cmocka_unit_test(test_wrong_ca_is_refused_and_the_fail_mode_applies),
        cmocka_unit_test(test_empty_tls_object_verifies_against_the_system_cas),
        cmocka_unit_test(
            test_insecure_skip_verify_accepts_a_self_signed_certificate),
        cmocka_unit_test(test_client_certificate_required_and_given_works),
        cmocka_unit_test(
            test_client_certificate_required_and_missing_is_refused),
        cmocka_unit_test(test_auth_over_tls),
        cmocka_unit_test(test_tls_redis_restarted_mid_traffic_decisions_resume),
        cmocka_unit_test(
            test_tls_against_a_plaintext_redis_fails_by_its_deadline),
        cmocka_unit_test(test_peer_closing_mid_handshake_fails_the_attempt),
        cmocka_unit_test(test_a_cluster_over_tls_counts_exactly),
    };
    if (tools_missing()) {
        fprintf(stderr, "openssl, redis-server or redis-cli is missing\n");
        return in_ci() ? 1 : 77; /* 77: meson's skip; never in CI */
    }
    return cmocka_run_group_tests(tests, setup_certs, teardown_certs);
}
