/*
 * test_jwt_remote.c - jwt_auth with a remote JWKS, fetched over real
 * HTTPS from jwks_server.py (a test CA and server certificate made by the
 * openssl command line when the group starts, an ephemeral loopback
 * port). The test controls what the server answers through files in its
 * directory: the JWKS (rotation), a status (endpoint failing), a hang.
 *
 * Tokens and keys come from make_tokens.py (PyJWT, jwcrypto). The test
 * host's manual clock drives the plugin's timers (refresh, retry, the
 * first-fetch timeout); the sockets are real.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include <gwf/testing.h>

#define NOW_S 1767225600LL
#define SEC 1000000000ULL

static json_t *fixture;
static char server_dir[64];
static FILE *server;    /* the server's stdin: closing it stops the server */
static int server_port; /* HTTPS */
static int server_http_port; /* plain HTTP, the same answers */

static void
path_in(char *out, size_t size, const char *name)
{
    snprintf(out, size, "%s/%s", server_dir, name);
}

static void
write_file(const char *name, const char *text)
{
    char path[128];
    FILE *f;

    path_in(path, sizeof(path), name);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void
remove_file(const char *name)
{
    char path[128];
    path_in(path, sizeof(path), name);
    unlink(path);
}

static void
serve_jwks(const char *which)
{
    char *text = json_dumps(json_object_get(fixture, which), JSON_COMPACT);
    assert_non_null(text);
    write_file("jwks.json", text);
    free(text);
}

/* Each test tags the URLs of its hosts with its own number (a query
 * parameter, host_with_remote_port): a fetch an earlier test's host sent
 * just before it was freed may reach the server only after the next
 * test reset "requests", and must not count there. */
static unsigned test_serial;

/* Whether a logged request line carries another test's tag. */
static int
tagged_elsewhere(const char *line)
{
    const char *t = strstr(line, "gwft=");
    char mine[32];

    if (!t)
        return 0;
    snprintf(mine, sizeof(mine), "gwft=%u", test_serial);
    return strncmp(t, mine, strlen(mine)) != 0 ||
           (t[strlen(mine)] != '&' && t[strlen(mine)] != '\n' &&
            t[strlen(mine)] != '\0');
}

/* How many requests of this test the server received so far. */
static int
fetches(void)
{
    char path[128], line[512];
    FILE *f;
    int n = 0;

    path_in(path, sizeof(path), "requests");
    f = fopen(path, "r");
    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f))
        n += !tagged_elsewhere(line);
    fclose(f);
    return n;
}

static const char *
token(const char *name)
{
    const char *t = json_string_value(
        json_object_get(json_object_get(fixture, "tokens"), name));
    if (!t)
        fail_msg("no token %s", name);
    return t;
}

static int
start_server(void **state)
{
    char cmd[1024], path[128];
    const char *tokens = getenv("JWT_MAKE_TOKENS");
    const char *peer = getenv("JWT_JWKS_SERVER");
    json_error_t err;

    (void)state;
    strcpy(server_dir, "/tmp/jwt-remote-XXXXXX");
    if (!tokens || !peer || !mkdtemp(server_dir))
        return -1;
    path_in(path, sizeof(path), "tokens.json");
    snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s %lld %s", tokens, NOW_S,
             path);
    if (system(cmd) != 0)
        return -1;
    fixture = json_load_file(path, 0, &err);
    unlink(path);
    if (!fixture)
        return -1;
    serve_jwks("jwks");
    snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s %s", peer, server_dir);
    server = popen(cmd, "w");
    if (!server)
        return -1;
    /* Wait (bounded) for the port file: certificates are made first. */
    path_in(path, sizeof(path), "port");
    for (int i = 0; i < 200; i++) {
        FILE *f = fopen(path, "r");
        if (f) {
            int ok = fscanf(f, "%d", &server_port) == 1;
            fclose(f);
            path_in(path, sizeof(path), "http_port");
            f = fopen(path, "r");
            ok = ok && f && fscanf(f, "%d", &server_http_port) == 1;
            if (f)
                fclose(f);
            if (ok)
                return 0;
            path_in(path, sizeof(path), "port");
        }
        usleep(50 * 1000);
    }
    fprintf(stderr, "jwks_server.py did not start\n");
    return -1;
}

static int
stop_server(void **state)
{
    static const char *const files[] = {
        "hang",       "status",    "jwks.json",  "requests",
        "port",       "http_port", "ca.key",     "ca.pem",
        "ca.srl",     "ext.cnf",   "server.csr", "server.key",
        "server.pem", "raw",       "fifo.pem",   NULL};

    (void)state;
    remove_file("hang");
    if (server)
        pclose(server);
    for (size_t i = 0; files[i]; i++)
        remove_file(files[i]);
    rmdir(server_dir);
    json_decref(fixture);
    return 0;
}

/* Every test starts with the first key set served, nothing failing. */
static int
reset_server(void **state)
{
    (void)state;
    serve_jwks("jwks");
    remove_file("status");
    remove_file("hang");
    remove_file("raw");
    remove_file("requests");
    test_serial++;
    return 0;
}

/* -- Hosts ----------------------------------------------------------------- */

static void
load(gwf_test_host *h, const char *text)
{
    if (gwf_test_load_text(h, text) != 0)
        fail_msg("load: %s", gwf_test_error(h));
}

/* default/jwt with one provider whose jwks.remote is `remote` (JSON;
 * "%u" is replaced by `port`, "%s" by the CA file). */
/* Add this test's tag to the "url" of a remote's JSON, in place. */
static void
tag_url(char *remote, size_t size)
{
    char *url = strstr(remote, "\"url\": \"");
    char *end, tag[32], rest[1024];

    if (!url)
        return;
    url += strlen("\"url\": \"");
    end = strchr(url, '"');
    assert_non_null(end);
    if (memchr(url, '?', (size_t)(end - url)))
        snprintf(tag, sizeof(tag), "&gwft=%u", test_serial);
    else
        snprintf(tag, sizeof(tag), "?gwft=%u", test_serial);
    snprintf(rest, sizeof(rest), "%s", end);
    assert_true(strlen(remote) + strlen(tag) < size);
    snprintf(end, size - (size_t)(end - remote), "%s%s", tag, rest);
}

static gwf_test_host *
host_with_remote_port(const char *remote_fmt, int port)
{
    gwf_test_host *h = gwf_test_host_new();
    char ca[128], remote[1024], doc[2048];

    assert_non_null(h);
    path_in(ca, sizeof(ca), "ca.pem");
    snprintf(remote, sizeof(remote), remote_fmt, port, ca);
    tag_url(remote, sizeof(remote));
    snprintf(doc, sizeof(doc),
             "{\"apiVersion\": \"gateway.kgateway.dev/v1alpha1\", "
             "\"kind\": \"GatewayExtension\", \"metadata\": {\"name\": "
             "\"jwt\", \"namespace\": \"default\"}, \"spec\": {\"jwt\": "
             "{\"providers\": [{\"name\": \"idp\", \"issuer\": "
             "\"https://issuer.example\", \"jwks\": {\"remote\": %s}}]}}}",
             remote);
    load(h, doc);
    load(h, "apiVersion: gateway.kgateway.dev/v1alpha1\n"
            "kind: TrafficPolicy\n"
            "metadata: {name: api, namespace: default}\n"
            "spec:\n"
            "  jwtAuth:\n"
            "    extensionRef: {name: jwt}\n");
    return h;
}

/* The same, on the HTTPS port. */
static gwf_test_host *
host_with_remote(const char *remote_fmt)
{
    return host_with_remote_port(remote_fmt, server_port);
}

#define REMOTE_OK                                                              \
    "{\"url\": \"https://127.0.0.1:%u/jwks.json\", \"caFile\": \"%s\", "       \
    "\"cacheDuration\": \"100s\", \"fetchTimeout\": \"2s\"}"

static gwf_test_result *
start_bearer(gwf_test_host *h, const char *name, long real_ms)
{
    const gwf_test_route route = {.policy = "default/api"};
    char value[4096];
    gwf_test_request *req = gwf_test_request_new("GET", "/x");
    gwf_test_result *res;

    snprintf(value, sizeof(value), "Bearer %s", token(name));
    gwf_test_request_header(req, "authorization", value);
    res = gwf_test_start(h, &route, req, real_ms);
    gwf_test_request_free(req);
    if (!res)
        fail_msg("start: %s", gwf_test_error(h));
    return res;
}

static gwf_test_result *
run_bearer(gwf_test_host *h, const char *name)
{
    return start_bearer(h, name, 5000);
}

static void
assert_outcome(gwf_test_result *res, int outcome, int status)
{
    if (gwf_test_outcome(res) != outcome || gwf_test_status(res) != status) {
        size_t len = 0;
        const char *body = gwf_test_body(res, &len);
        fail_msg("expected outcome %d status %d, got %d %d: %.*s", outcome,
                 status, gwf_test_outcome(res), gwf_test_status(res), (int)len,
                 body ? body : "");
    }
}

static void
assert_body_has(gwf_test_result *res, const char *part)
{
    size_t len = 0;
    const char *body = gwf_test_body(res, &len);
    if (!body || !strstr(body, part))
        fail_msg("want \"%s\" in \"%.*s\"", part, (int)len, body ? body : "");
}

/* -- Tests ----------------------------------------------------------------- */

static void
test_first_request_waits_for_the_first_fetch_and_is_accepted(void **state)
{
    gwf_test_host *h = host_with_remote(REMOTE_OK);
    gwf_test_result *res = run_bearer(h, "RS256");

    (void)state;
    assert_outcome(res, GWF_TEST_FORWARDED, 200);
    assert_int_equal(fetches(), 1);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_keys_are_reused_within_cache_duration(void **state)
{
    gwf_test_host *h = host_with_remote(REMOTE_OK);
    gwf_test_result *res = run_bearer(h, "RS256");

    (void)state;
    gwf_test_result_free(res);
    gwf_test_advance(h, 50 * SEC);
    res = run_bearer(h, "ES256");
    assert_outcome(res, GWF_TEST_FORWARDED, 200);
    assert_int_equal(fetches(), 1);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_keys_are_refreshed_before_cache_duration_ends(void **state)
{
    gwf_test_host *h = host_with_remote(REMOTE_OK);
    gwf_test_result *res = run_bearer(h, "RS256");

    (void)state;
    gwf_test_result_free(res);
    serve_jwks("jwks_rotated");
    /* The refresh is due at 90 s; a token with the new kid that arrives
     * while it runs waits for it. */
    gwf_test_advance(h, 91 * SEC);
    res = run_bearer(h, "rotated");
    assert_outcome(res, GWF_TEST_FORWARDED, 200);
    assert_int_equal(fetches(), 2);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_unknown_kid_triggers_a_refetch_that_finds_a_rotated_key(void **state)
{
    gwf_test_host *h = host_with_remote(REMOTE_OK);
    gwf_test_result *res = run_bearer(h, "RS256");

    (void)state;
    gwf_test_result_free(res);
    serve_jwks("jwks_rotated");
    gwf_test_advance(h, 31 * SEC); /* past the refetch rate limit */
    res = run_bearer(h, "rotated");
    assert_outcome(res, GWF_TEST_FORWARDED, 200);
    assert_int_equal(fetches(), 2);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_unknown_kid_refetch_is_rate_limited(void **state)
{
    gwf_test_host *h = host_with_remote(REMOTE_OK);
    gwf_test_result *res = run_bearer(h, "RS256");

    (void)state;
    gwf_test_result_free(res);
    serve_jwks("jwks_rotated");
    gwf_test_advance(h, 5 * SEC);
    res = run_bearer(h, "rotated");
    assert_outcome(res, GWF_TEST_LOCAL_REPLY, 401);
    assert_body_has(res, "Jwks doesn't have key to match kid");
    assert_int_equal(fetches(), 1);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_stale_keys_are_served_when_the_endpoint_fails(void **state)
{
    gwf_test_host *h = host_with_remote(REMOTE_OK);
    gwf_test_result *res = run_bearer(h, "RS256");

    (void)state;
    gwf_test_result_free(res);
    write_file("status", "503");
    gwf_test_advance(h, 91 * SEC); /* refresh starts, and fails */
    /* A token with an unknown kid waits for the running refresh. */
    res = run_bearer(h, "rotated");
    assert_outcome(res, GWF_TEST_LOCAL_REPLY, 401);
    gwf_test_result_free(res);
    assert_true(gwf_test_log_contains(h, "keeping the previous keys"));
    gwf_test_advance(h, 20 * SEC); /* beyond cacheDuration: stale */
    res = run_bearer(h, "RS256");
    assert_outcome(res, GWF_TEST_FORWARDED, 200);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* Answers libcurl alone would take (gwf_curl_answer, sdk_curl.h): one
 * cut inside its header block (a success with an empty body for libcurl
 * 7.88) and one with Content-Length beside Transfer-Encoding (whose
 * chunked reading is a whole JWKS, with the rotated key). Each is a failed
 * fetch for the right reason, never keys. */
static const struct {
    const char *raw, *why;
} broken_answers[] = {
    {"status-only", "Transferred a partial file"},
    {"headers-cut", "Transferred a partial file"},
    {"cl-te", "Weird server reply"},
};

static void
assert_log_has(const gwf_test_host *h, const char *a, const char *b)
{
    char line[256];

    snprintf(line, sizeof(line), "%s%s", a, b);
    if (!gwf_test_log_contains(h, line))
        fail_msg("no log line with \"%s\"", line);
}

static void
test_first_fetch_of_a_cut_or_ambiguous_answer_gives_401(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(broken_answers) / sizeof(*broken_answers);
         i++) {
        gwf_test_host *h;
        gwf_test_result *res;

        reset_server(NULL);
        serve_jwks("jwks_rotated");
        write_file("raw", broken_answers[i].raw);
        h = host_with_remote(REMOTE_OK);
        res = run_bearer(h, "rotated");
        assert_outcome(res, GWF_TEST_LOCAL_REPLY, 401);
        assert_body_has(res, "Jwks remote fetch is failed");
        assert_log_has(h, broken_answers[i].why, "; no keys yet");
        assert_int_equal(fetches(), 1);
        gwf_test_result_free(res);
        gwf_test_host_free(h);
    }
}

static void
test_stale_keys_are_kept_after_a_cut_or_ambiguous_answer(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(broken_answers) / sizeof(*broken_answers);
         i++) {
        gwf_test_host *h;
        gwf_test_result *res;

        reset_server(NULL);
        h = host_with_remote(REMOTE_OK);
        res = run_bearer(h, "RS256");
        assert_outcome(res, GWF_TEST_FORWARDED, 200);
        gwf_test_result_free(res);
        serve_jwks("jwks_rotated");
        write_file("raw", broken_answers[i].raw);
        gwf_test_advance(h, 91 * SEC); /* refresh starts, gets it */
        /* The rotated key is only in the broken answer: refused. */
        res = run_bearer(h, "rotated");
        assert_outcome(res, GWF_TEST_LOCAL_REPLY, 401);
        gwf_test_result_free(res);
        assert_log_has(h, broken_answers[i].why, "; keeping the previous keys");
        res = run_bearer(h, "RS256");
        assert_outcome(res, GWF_TEST_FORWARDED, 200);
        gwf_test_result_free(res);
        gwf_test_host_free(h);
    }
}

static void
test_first_request_gets_401_when_the_endpoint_fails(void **state)
{
    gwf_test_host *h;
    gwf_test_result *res;

    (void)state;
    write_file("status", "500");
    h = host_with_remote(REMOTE_OK);
    res = run_bearer(h, "RS256");
    assert_outcome(res, GWF_TEST_LOCAL_REPLY, 401);
    assert_body_has(res, "Jwks remote fetch is failed");
    assert_true(gwf_test_log_contains(h, "HTTP status 500"));
    /* No retryPolicy: no retry at once; Envoy's failedRefetchDuration. */
    assert_true(gwf_test_log_contains(h, "next try in 1000ms"));
    assert_int_equal(fetches(), 1);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_first_request_gives_up_after_fetch_timeout(void **state)
{
    gwf_test_host *h;
    gwf_test_result *res;

    (void)state;
    write_file("hang", "");
    h = host_with_remote(REMOTE_OK);
    res = start_bearer(h, "RS256", 300);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_RUNNING);
    gwf_test_advance(h, 2 * SEC);
    gwf_test_wait(h, res, 1000);
    assert_outcome(res, GWF_TEST_LOCAL_REPLY, 401);
    assert_body_has(res, "Jwks remote fetch is failed");
    remove_file("hang");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_jwks_that_is_not_json_is_refused_with_a_log_line(void **state)
{
    gwf_test_host *h;
    gwf_test_result *res;

    (void)state;
    write_file("jwks.json", "<html>not a key set</html>");
    h = host_with_remote(REMOTE_OK);
    res = run_bearer(h, "RS256");
    assert_outcome(res, GWF_TEST_LOCAL_REPLY, 401);
    assert_true(gwf_test_log_contains(h, "invalid JSON"));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_jwks_larger_than_the_limit_is_refused(void **state)
{
    gwf_test_host *h;
    gwf_test_result *res;
    char *big = malloc(1100 * 1024 + 1);

    (void)state;
    assert_non_null(big);
    memset(big, ' ', 1100 * 1024);
    big[1100 * 1024] = 0;
    big[0] = '{';
    write_file("jwks.json", big);
    free(big);
    h = host_with_remote(REMOTE_OK);
    res = run_bearer(h, "RS256");
    assert_outcome(res, GWF_TEST_LOCAL_REPLY, 401);
    assert_true(gwf_test_log_contains(h, "JWKS larger than the limit"));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_client_gone_while_waiting_for_keys_leaves_nothing_behind(void **state)
{
    gwf_test_host *h;
    gwf_test_result *res;

    (void)state;
    write_file("hang", "");
    h = host_with_remote(REMOTE_OK);
    res = start_bearer(h, "RS256", 300);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_RUNNING);
    gwf_test_abort(h, res);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_ABORTED);
    remove_file("hang");
    /* The fetch still ends and finds no waiter; the next request uses
     * its keys. */
    gwf_test_result_free(res);
    res = run_bearer(h, "RS256");
    assert_outcome(res, GWF_TEST_FORWARDED, 200);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* Issue 10, defect 1: a request woken by the fetch it waited for lives on
 * (here a probe after jwt_auth holds it for 3 s on the test clock) past
 * its fetchTimeout (2 s). Its wait timer must have ended with the wait:
 * firing it would wake a freed waiter (ASan: use after free). */
static void
test_request_woken_by_the_fetch_outlives_its_fetch_timeout_safely(void **state)
{
    static const char *const extensions[] = {"default/probe", NULL};
    const gwf_test_route route = {.policy = "default/api",
                                  .extensions = extensions};
    gwf_test_request *req = gwf_test_request_new("GET", "/x");
    char value[4096];
    gwf_test_host *h;
    gwf_test_result *res;

    (void)state;
    write_file("hang", "");
    h = host_with_remote(REMOTE_OK);
    load(h, "apiVersion: gateway.kgateway.dev/v1alpha1\n"
            "kind: GatewayExtension\n"
            "metadata: {name: probe, namespace: default}\n"
            "spec:\n"
            "  plugin:\n"
            "    name: probe\n"
            "    config:\n"
            "      tag: SLOW\n"
            "      actions: {request_headers: \"pause_timer:3s\"}\n");
    snprintf(value, sizeof(value), "Bearer %s", token("RS256"));
    gwf_test_request_header(req, "authorization", value);
    res = gwf_test_start(h, &route, req, 300);
    gwf_test_request_free(req);
    if (!res)
        fail_msg("start: %s", gwf_test_error(h));
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_RUNNING);
    remove_file("hang"); /* the fetch ends: jwt_auth resumes the request */
    assert_int_equal(gwf_test_wait(h, res, 3000), 0);
    assert_true(gwf_test_log_contains(h, "probe SLOW request_headers"));
    gwf_test_advance(h, 2 * SEC); /* the old fetchTimeout passes */
    gwf_test_advance(h, 1 * SEC); /* the probe lets it go */
    gwf_test_wait(h, res, 1000);
    assert_outcome(res, GWF_TEST_FORWARDED, 200);
    assert_int_equal(gwf_test_metric(h, "gwf_jwt_auth_requests_total{"
                                        "instance=\"default/jwt\","
                                        "result=\"allowed\"}"),
                     1);
    assert_int_equal(fetches(), 1);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_server_certificate_from_an_unknown_ca_is_refused(void **state)
{
    gwf_test_host *h =
        host_with_remote("{\"url\": \"https://127.0.0.1:%u/jwks.json\"}");
    gwf_test_result *res = run_bearer(h, "RS256");

    (void)state;
    assert_outcome(res, GWF_TEST_LOCAL_REPLY, 401);
    assert_true(gwf_test_log_contains(h, "JWKS fetch from"));
    assert_int_equal(fetches(), 0); /* refused before any HTTP request */
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_backend_ref_gives_the_address_and_url_the_tls_name(void **state)
{
    gwf_test_host *h = host_with_remote(
        "{\"url\": \"https://jwks.test/jwks.json?port=%u\", "
        "\"backendRef\": {\"name\": \"idp\"}, \"caFile\": \"%s\"}");
    char backend[512];
    gwf_test_result *res;

    (void)state;
    snprintf(backend, sizeof(backend),
             "apiVersion: gateway.kgateway.dev/v1alpha1\n"
             "kind: Backend\n"
             "metadata: {name: idp, namespace: default}\n"
             "spec:\n"
             "  static:\n"
             "    hosts: [{host: 127.0.0.1, port: %d}]\n",
             server_port);
    load(h, backend);
    res = run_bearer(h, "EdDSA");
    assert_outcome(res, GWF_TEST_FORWARDED, 200);
    assert_int_equal(fetches(), 1);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* kgateway's jwt-remote e2e shape: backendRef {kind: Service, port} to a
 * Service whose EndpointSlice holds the server's address; the URL's host
 * (dummy-idp.default) stays the TLS name, so the test CA's jwks.test. */
static void
test_backend_ref_to_a_service_connects_to_its_endpoint(void **state)
{
    gwf_test_host *h = host_with_remote(
        "{\"url\": \"https://jwks.test:8443/jwks.json?%u\", \"backendRef\": "
        "{\"name\": \"dummy-idp\", \"namespace\": \"default\", \"kind\": "
        "\"Service\", \"port\": 8443}, \"caFile\": \"%s\"}");
    char slice[512];
    gwf_test_result *res;

    (void)state;
    load(h, "apiVersion: v1\n"
            "kind: Service\n"
            "metadata: {name: dummy-idp, namespace: default}\n"
            "spec: {ports: [{name: http, port: 8443, targetPort: 8443}]}\n");
    snprintf(slice, sizeof(slice),
             "apiVersion: discovery.k8s.io/v1\n"
             "kind: EndpointSlice\n"
             "metadata: {name: dummy-idp-1, namespace: default, labels: "
             "{kubernetes.io/service-name: dummy-idp}}\n"
             "addressType: IPv4\n"
             "ports: [{name: http, port: %d}]\n"
             "endpoints: [{addresses: [127.0.0.1]}]\n",
             server_port);
    load(h, slice);
    res = run_bearer(h, "ES256");
    assert_outcome(res, GWF_TEST_FORWARDED, 200);
    assert_int_equal(fetches(), 1);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* The SDK's Backend rule (gwf_cfg_backend_ref), the same in every
 * plugin: the reference's port wins over the Backend's, and an IPv6
 * host is a Backend like any other (jwt_auth refused it before). */
static void
test_backend_ref_port_wins_and_an_ipv6_backend_is_accepted(void **state)
{
    char remote[256];
    gwf_test_host *h;
    gwf_test_result *res;

    (void)state;
    snprintf(remote, sizeof(remote),
             "{\"url\": \"https://jwks.test/jwks.json?port=%%u\", "
             "\"backendRef\": {\"name\": \"idp\", \"port\": %d}, "
             "\"caFile\": \"%%s\"}",
             server_port);
    h = host_with_remote(remote);
    load(h, "apiVersion: gateway.kgateway.dev/v1alpha1\n"
            "kind: Backend\n"
            "metadata: {name: idp, namespace: default}\n"
            "spec:\n"
            "  static:\n"
            "    hosts: [{host: 127.0.0.1, port: 1}]\n");
    res = run_bearer(h, "EdDSA");
    assert_outcome(res, GWF_TEST_FORWARDED, 200);
    assert_int_equal(fetches(), 1);
    gwf_test_result_free(res);
    gwf_test_host_free(h);

    h = host_with_remote("{\"url\": \"https://jwks.test/%u\", \"backendRef\": "
                         "{\"name\": \"idp6\"}, \"caFile\": \"%s\"}");
    load(h, "apiVersion: gateway.kgateway.dev/v1alpha1\n"
            "kind: Backend\n"
            "metadata: {name: idp6, namespace: default}\n"
            "spec:\n"
            "  static:\n"
            "    hosts: [{host: '::1', port: 8443}]\n");
    if (gwf_test_validate(h) != 0)
        fail_msg("refused: %s", gwf_test_error(h));
    gwf_test_host_free(h);
}

/* kgateway accepts an http:// JWKS URL: the keys come over plain HTTP,
 * and the config warns that anyone on the path could swap them. */
static void
test_plain_http_url_fetches_keys_and_warns_at_config_time(void **state)
{
    gwf_test_host *h = host_with_remote_port(
        "{\"url\": \"http://127.0.0.1:%u/jwks.json\"}", server_http_port);
    gwf_test_result *res = run_bearer(h, "RS256");

    (void)state;
    assert_outcome(res, GWF_TEST_FORWARDED, 200);
    assert_int_equal(fetches(), 1);
    assert_true(gwf_test_log_contains(h, "providers[0].jwks.remote.url"));
    assert_true(gwf_test_log_contains(h, "is plain http"));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* An https:// URL is never fetched without TLS: pointed at a plain HTTP
 * server, the handshake fails and the server never sees a GET. */
static void
test_https_url_never_falls_back_to_plain_http(void **state)
{
    gwf_test_host *h = host_with_remote_port(
        "{\"url\": \"https://127.0.0.1:%u/jwks.json\", \"caFile\": \"%s\"}",
        server_http_port);
    gwf_test_result *res = run_bearer(h, "RS256");

    (void)state;
    assert_outcome(res, GWF_TEST_LOCAL_REPLY, 401);
    assert_body_has(res, "Jwks remote fetch is failed");
    assert_int_equal(fetches(), 0);
    assert_false(gwf_test_log_contains(h, "is plain http"));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* kgateway's cacheDuration goes down to 1ms: 100ms keys are refreshed
 * 90ms after they came, and a rotated key is found then. */
static void
test_cache_duration_in_milliseconds_refreshes_the_keys(void **state)
{
    gwf_test_host *h = host_with_remote(
        "{\"url\": \"https://127.0.0.1:%u/jwks.json\", \"caFile\": \"%s\", "
        "\"cacheDuration\": \"100ms\"}");
    gwf_test_result *res = run_bearer(h, "RS256");

    (void)state;
    assert_outcome(res, GWF_TEST_FORWARDED, 200);
    gwf_test_result_free(res);
    serve_jwks("jwks_rotated");
    gwf_test_advance(h, 90 * 1000000ULL);
    res = run_bearer(h, "rotated");
    assert_outcome(res, GWF_TEST_FORWARDED, 200);
    assert_int_equal(fetches(), 2);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* retryPolicy: a failed first fetch is tried again after baseInterval,
 * and the request that waits for the keys goes on waiting for the retry
 * (it is one fetch, as for Envoy), then is served. */
static void
test_retry_policy_retries_a_failed_fetch_and_the_waiting_request_is_served(
    void **state)
{
    gwf_test_host *h;
    gwf_test_result *res;

    (void)state;
    write_file("status", "503");
    h = host_with_remote("{\"url\": \"https://127.0.0.1:%u/jwks.json\", "
                         "\"caFile\": \"%s\", \"retryPolicy\": {\"backOff\": "
                         "{\"baseInterval\": \"1s\"}}}");
    res = start_bearer(h, "RS256", 1000);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_RUNNING);
    assert_int_equal(fetches(), 1);
    assert_true(gwf_test_log_contains(h, "next try in 1000ms"));
    remove_file("status");
    gwf_test_advance(h, 1 * SEC);
    gwf_test_wait(h, res, 3000);
    assert_outcome(res, GWF_TEST_FORWARDED, 200);
    assert_int_equal(fetches(), 2);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* numRetries tries after the first, each wait doubling from baseInterval
 * up to maxInterval; then the fetch has failed (the waiting request gets
 * 401) and the next one is asyncFetch.failedRefetchDuration later. */
static void
test_retries_back_off_exponentially_then_wait_failed_refetch_duration(
    void **state)
{
    gwf_test_host *h;
    gwf_test_result *res;

    (void)state;
    write_file("status", "500");
    h = host_with_remote(
        "{\"url\": \"https://127.0.0.1:%u/jwks.json\", \"caFile\": \"%s\", "
        "\"fetchTimeout\": \"10s\", \"retryPolicy\": {\"numRetries\": 2, "
        "\"backOff\": {\"baseInterval\": \"1s\", \"maxInterval\": "
        "\"1500ms\"}}, \"asyncFetch\": {\"fastListener\": true, "
        "\"failedRefetchDuration\": \"1m\"}}");
    res = start_bearer(h, "RS256", 1000);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_RUNNING);
    assert_true(gwf_test_log_contains(h, "next try in 1000ms"));
    gwf_test_advance(h, 1 * SEC);
    gwf_test_wait(h, res, 1000);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_RUNNING);
    assert_int_equal(fetches(), 2);
    assert_true(gwf_test_log_contains(h, "next try in 1500ms"));
    gwf_test_advance(h, 1500 * 1000000ULL);
    gwf_test_wait(h, res, 3000);
    assert_outcome(res, GWF_TEST_LOCAL_REPLY, 401);
    assert_body_has(res, "Jwks remote fetch is failed");
    assert_int_equal(fetches(), 3);
    assert_true(gwf_test_log_contains(h, "next try in 60000ms"));
    gwf_test_result_free(res);
    /* Nothing is fetched before failedRefetchDuration: a request now is
     * refused at once, without a fetch of its own. */
    gwf_test_advance(h, 30 * SEC);
    res = run_bearer(h, "RS256");
    assert_outcome(res, GWF_TEST_LOCAL_REPLY, 401);
    assert_int_equal(fetches(), 3);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
assert_remote_error(const char *remote_fmt, const char *field,
                    const char *message)
{
    gwf_test_host *h = host_with_remote(remote_fmt);
    const char *err;

    assert_int_equal(gwf_test_validate(h), -1);
    err = gwf_test_error(h);
    if (!err || !strstr(err, field) || !strstr(err, message))
        fail_msg("want \"%s\" and \"%s\" in:\n%s", field, message,
                 err ? err : "(none)");
    gwf_test_host_free(h);
}

static void
test_remote_config_errors_name_their_field(void **state)
{
    (void)state;
    assert_remote_error("{\"url\": \"ftp://127.0.0.1:%u/jwks\"}",
                        "providers[0].jwks.remote.url",
                        "expected an http:// or https:// URL with a host");
    assert_remote_error("{\"url\": \"https:///jwks?%u\"}",
                        "providers[0].jwks.remote.url",
                        "expected an http:// or https:// URL with a host");
    assert_remote_error("{\"url\": \"http://127.0.0.1:%u/jwks\", "
                        "\"caFile\": \"%s\"}",
                        "providers[0].jwks.remote.caFile",
                        "expected no caFile with an http:// url");
    assert_remote_error("{\"cacheDuration\": \"5m\"}",
                        "providers[0].jwks.remote.url", "is required");
    assert_remote_error("{\"url\": \"https://idp/%u\", \"cacheDuration\": "
                        "\"0s\"}",
                        "providers[0].jwks.remote.cacheDuration",
                        "expected a duration from 1ms to 399996h, found "
                        "\"0s\"");
    assert_remote_error("{\"url\": \"https://idp/%u\", \"caFile\": "
                        "\"/nonexistent/ca.pem\"}",
                        "providers[0].jwks.remote.caFile",
                        "expected a readable PEM file");
    assert_remote_error("{\"url\": \"https://idp/%u\", \"backendRef\": "
                        "{\"name\": \"missing\"}}",
                        "providers[0].jwks.remote.backendRef.name",
                        "Backend missing not found");
    assert_remote_error("{\"url\": \"https://idp/%u\", \"retryPolicy\": "
                        "{\"numRetries\": 0}}",
                        "providers[0].jwks.remote.retryPolicy.numRetries",
                        "expected an integer from 1 to 10, found 0");
    assert_remote_error("{\"url\": \"https://idp/%u\", \"retryPolicy\": "
                        "{\"backOff\": {\"maxInterval\": \"1s\"}}}",
                        "providers[0].jwks.remote.retryPolicy.backOff."
                        "baseInterval",
                        "is required");
    assert_remote_error("{\"url\": \"https://idp/%u\", \"retryPolicy\": "
                        "{\"backOff\": {\"baseInterval\": \"2s\", "
                        "\"maxInterval\": \"1s\"}}}",
                        "providers[0].jwks.remote.retryPolicy.backOff."
                        "maxInterval",
                        "expected a duration of at least baseInterval "
                        "(2000ms), found 1000ms");
    assert_remote_error("{\"url\": \"https://idp/%u\", \"asyncFetch\": "
                        "{\"failedRefetchDuration\": \"0s\"}}",
                        "providers[0].jwks.remote.asyncFetch."
                        "failedRefetchDuration",
                        "expected a duration from 1ms");
    assert_remote_error("{\"url\": \"https://idp/%u\", \"asyncFetch\": "
                        "{\"fast\": true}}",
                        "providers[0].jwks.remote.asyncFetch.fast",
                        "unknown field");
    assert_remote_error("{\"url\": \"https://idp/%u\", \"fetchTimeout\": "
                        "\"5m\"}",
                        "providers[0].jwks.remote.fetchTimeout",
                        "expected a duration from 1s to 1m, found \"5m\"");
}

/* libcurl opens caFile on the worker at each fetch; a FIFO there would
 * block the worker on its first fetch, and access() (what the config
 * checked before) calls a FIFO or a directory readable. So it is a config
 * error, naming the field and what the path is. alarm(): checking the
 * path must not open a FIFO for reading and block. */
static void
test_ca_file_that_is_a_fifo_or_a_directory_is_a_config_error(void **state)
{
    char fifo[128], remote[512], want[256];

    (void)state;
    path_in(fifo, sizeof(fifo), "fifo.pem");
    unlink(fifo);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    alarm(10);
    snprintf(remote, sizeof(remote),
             "{\"url\": \"https://idp/%%u\", \"caFile\": \"%s\"}", fifo);
    snprintf(want, sizeof(want), "\"%s\": a FIFO, not a regular file", fifo);
    assert_remote_error(remote, "providers[0].jwks.remote.caFile", want);
    snprintf(remote, sizeof(remote),
             "{\"url\": \"https://idp/%%u\", \"caFile\": \"%s\"}", server_dir);
    snprintf(want, sizeof(want), "\"%s\": a directory, not a regular file",
             server_dir);
    assert_remote_error(remote, "providers[0].jwks.remote.caFile", want);
    alarm(0);
    unlink(fifo);
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup(name, reset_server)
    const struct CMUnitTest tests[] = {
        T(test_first_request_waits_for_the_first_fetch_and_is_accepted),
        T(test_keys_are_reused_within_cache_duration),
        T(test_keys_are_refreshed_before_cache_duration_ends),
        T(test_unknown_kid_triggers_a_refetch_that_finds_a_rotated_key),
        T(test_unknown_kid_refetch_is_rate_limited),
        T(test_stale_keys_are_served_when_the_endpoint_fails),
        T(test_first_request_gets_401_when_the_endpoint_fails),
        T(test_first_request_gives_up_after_fetch_timeout),
        T(test_jwks_that_is_not_json_is_refused_with_a_log_line),
        T(test_jwks_larger_than_the_limit_is_refused),
        T(test_client_gone_while_waiting_for_keys_leaves_nothing_behind),
        T(test_request_woken_by_the_fetch_outlives_its_fetch_timeout_safely),
        T(test_server_certificate_from_an_unknown_ca_is_refused),
        T(test_backend_ref_gives_the_address_and_url_the_tls_name),
        T(test_backend_ref_port_wins_and_an_ipv6_backend_is_accepted),
        T(test_backend_ref_to_a_service_connects_to_its_endpoint),
        T(test_remote_config_errors_name_their_field),
        T(test_ca_file_that_is_a_fifo_or_a_directory_is_a_config_error),
        T(test_first_fetch_of_a_cut_or_ambiguous_answer_gives_401),
        T(test_stale_keys_are_kept_after_a_cut_or_ambiguous_answer),
        T(test_plain_http_url_fetches_keys_and_warns_at_config_time),
        T(test_https_url_never_falls_back_to_plain_http),
        T(test_cache_duration_in_milliseconds_refreshes_the_keys),
        T(test_retry_policy_retries_a_failed_fetch_and_the_waiting_request_is_served),
        T(test_retries_back_off_exponentially_then_wait_failed_refetch_duration),
    };
#undef T
    return cmocka_run_group_tests_name("jwt_remote", tests, start_server,
                                       stop_server);
}
