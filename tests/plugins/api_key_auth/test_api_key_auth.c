/*
 * test_api_key_auth.c - the api_key_auth plugin on the in-process test
 * host: keys from Secrets (by name, and as the runtime's selection for a
 * label selector), key sources and their order, what the upstream gets
 * (the key removed or kept, the client id header), the shared stream
 * value, the 401 replies, the attack paths (near-miss, duplicate, huge
 * keys, a forged client id header) and every config refusal.
 *
 * The plugin is configured through a GatewayExtension
 * `plugin: {name: api_key_auth, config: <the apiKeyAuth object>}`; a
 * probe after it reports the stream value "api_key_auth.client_id".
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

/* -- Helpers ------------------------------------------------------------------
 */

static void
load(gwf_test_host *h, const char *text)
{
    if (gwf_test_load_text(h, text) != 0)
        fail_msg("load: %s", gwf_test_error(h));
}

/* Secret default/keys: client1 = k-123 (stringData), client2 = k-456
 * (data: "ay00NTY="). */
static const char secret_keys[] =
    "{\"apiVersion\": \"v1\", \"kind\": \"Secret\", \"metadata\": {\"name\": "
    "\"keys\", \"namespace\": \"default\", \"labels\": {\"app\": \"api\"}}, "
    "\"stringData\": {\"client1\": \"k-123\"}, \"data\": {\"client2\": "
    "\"ay00NTY=\"}}";

/* A host with Secret default/keys, GatewayExtension default/ak
 * (api_key_auth, `config` as JSON) and the probe default/probe. */
static gwf_test_host *
host_with(const char *config)
{
    gwf_test_host *h = gwf_test_host_new();
    char *doc = malloc(strlen(config) + 512);

    assert_non_null(h);
    load(h, secret_keys);
    sprintf(doc,
            "{\"apiVersion\": \"gateway.kgateway.dev/v1alpha1\", \"kind\": "
            "\"GatewayExtension\", \"metadata\": {\"name\": \"ak\", "
            "\"namespace\": \"default\"}, \"spec\": {\"plugin\": {\"name\": "
            "\"api_key_auth\", \"config\": %s}}}",
            config);
    load(h, doc);
    free(doc);
    load(h, "apiVersion: gateway.kgateway.dev/v1alpha1\n"
            "kind: GatewayExtension\n"
            "metadata: {name: probe, namespace: default}\n"
            "spec:\n"
            "  plugin:\n"
            "    name: probe\n"
            "    config: {tag: P, value_get: [api_key_auth.client_id]}\n");
    return h;
}

static const char *const chain[] = {"ak", "probe", NULL};
static const gwf_test_route route = {.extensions = chain};

/* GET `path` with headers "name", "value", ... (NULL-terminated); the
 * host fails to read header `failing` (NULL: none) from value index
 * `from` on. */
static gwf_test_result *
vrun(gwf_test_host *h, const char *failing, size_t from, const char *path,
     va_list ap)
{
    gwf_test_request *req = gwf_test_request_new("GET", path);
    gwf_test_result *res;
    const char *name;

    while ((name = va_arg(ap, const char *)) != NULL)
        gwf_test_request_header(req, name, va_arg(ap, const char *));
    if (failing)
        gwf_test_request_header_fails_from(req, failing, from);
    res = gwf_test_run(h, &route, req);
    gwf_test_request_free(req);
    if (!res)
        fail_msg("run: %s", gwf_test_error(h));
    return res;
}

static gwf_test_result *
run(gwf_test_host *h, const char *path, ...)
{
    gwf_test_result *res;
    va_list ap;

    va_start(ap, path);
    res = vrun(h, NULL, 0, path, ap);
    va_end(ap);
    return res;
}

static gwf_test_result *
run_failing(gwf_test_host *h, const char *failing, size_t from,
            const char *path, ...)
{
    gwf_test_result *res;
    va_list ap;

    va_start(ap, path);
    res = vrun(h, failing, from, path, ap);
    va_end(ap);
    return res;
}

static void
assert_forwarded(gwf_test_result *res)
{
    if (gwf_test_outcome(res) != GWF_TEST_FORWARDED)
        fail_msg("expected the request forwarded, got status %d (%s)",
                 gwf_test_status(res),
                 gwf_test_reply_details(res) ? gwf_test_reply_details(res)
                                             : "-");
}

static void
assert_denied(gwf_test_result *res, const char *details)
{
    size_t len = 0;
    const char *b;

    assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
    assert_int_equal(gwf_test_status(res), 401);
    b = gwf_test_body(res, &len);
    assert_int_equal(len, strlen("Client authentication failed."));
    assert_memory_equal(b, "Client authentication failed.", len);
    assert_string_equal(gwf_test_reply_details(res), details);
    assert_null(gwf_test_upstream_path(res));
}

/* Answered 500 with `details`, and the upstream never asked; freed. */
static void
assert_failed(gwf_test_result *res, const char *details)
{
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
    assert_int_equal(gwf_test_status(res), 500);
    assert_string_equal(gwf_test_reply_details(res), details);
    assert_null(gwf_test_upstream_path(res));
    gwf_test_result_free(res);
}

static void
assert_config_error(const char *config, const char *field, const char *message)
{
    gwf_test_host *h = host_with(config);
    const char *err;

    assert_int_equal(gwf_test_validate(h), -1);
    err = gwf_test_error(h);
    if (!err || !strstr(err, field) || !strstr(err, message))
        fail_msg("want \"%s\" and \"%s\" in:\n%s", field, message,
                 err ? err : "(none)");
    gwf_test_host_free(h);
}

#define REF "\"secretRef\": {\"name\": \"keys\"}"

/* -- Allowed
 * ---------------------------------------------------------------------- */

static void
test_default_header_key_is_removed_and_client_id_forwarded(void **state)
{
    gwf_test_host *h =
        host_with("{" REF ", \"clientIdHeader\": \"x-client-id\"}");
    gwf_test_result *res =
        run(h, "/api", "api-key", "k-123", "x-client-id", "forged", NULL);

    (void)state;
    assert_forwarded(res);
    assert_null(gwf_test_upstream_header(res, "api-key", 0));
    assert_string_equal(gwf_test_upstream_header(res, "x-client-id", 0),
                        "client1");
    assert_null(gwf_test_upstream_header(res, "x-client-id", 1));
    assert_true(gwf_test_log_contains(
        h, "value api_key_auth.client_id type=0 =client1"));
    gwf_test_result_free(res);
    /* The data (base64) entry. */
    res = run(h, "/api", "api-key", "k-456", NULL);
    assert_forwarded(res);
    assert_string_equal(gwf_test_upstream_header(res, "x-client-id", 0),
                        "client2");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_forward_credential_keeps_the_key(void **state)
{
    gwf_test_host *h = host_with("{" REF ", \"forwardCredential\": true, "
                                 "\"keySources\": [{\"query\": \"api_key\"}, "
                                 "{\"header\": \"x-api-key\"}]}");
    gwf_test_result *res = run(h, "/api?api_key=k-123&b=2", NULL);

    (void)state;
    assert_forwarded(res);
    assert_string_equal(gwf_test_upstream_path(res), "/api?api_key=k-123&b=2");
    gwf_test_result_free(res);
    res = run(h, "/api", "x-api-key", "k-456", NULL);
    assert_forwarded(res);
    assert_string_equal(gwf_test_upstream_header(res, "x-api-key", 0), "k-456");
    assert_null(gwf_test_upstream_header(res, "x-client-id", 0));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_query_key_is_removed_from_the_upstream_path(void **state)
{
    gwf_test_host *h =
        host_with("{" REF ", \"keySources\": [{\"query\": \"api_key\"}]}");
    gwf_test_result *res = run(h, "/api?a=%20x&api_key=k%2D123&b=2", NULL);

    (void)state;
    assert_forwarded(res); /* "k%2D123" decodes to "k-123" */
    assert_string_equal(gwf_test_upstream_path(res), "/api?a=%20x&b=2");
    gwf_test_result_free(res);
    res = run(h, "/api?api_key=k-123", NULL);
    assert_forwarded(res);
    assert_string_equal(gwf_test_upstream_path(res), "/api");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_cookie_key_is_removed_and_other_cookies_kept(void **state)
{
    gwf_test_host *h =
        host_with("{" REF ", \"keySources\": [{\"cookie\": \"token\"}]}");
    gwf_test_result *res =
        run(h, "/api", "cookie", "a=1; token=k-123; b=\"2\"", NULL);

    (void)state;
    assert_forwarded(res);
    assert_string_equal(gwf_test_upstream_header(res, "cookie", 0),
                        "a=1; b=\"2\"");
    gwf_test_result_free(res);
    res = run(h, "/api", "cookie", "token=k-456", NULL);
    assert_forwarded(res);
    assert_null(gwf_test_upstream_header(res, "cookie", 0));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* kgateway's example: the first source that yields a key decides, and
 * inside one source header > query > cookie. */
static void
test_sources_are_tried_in_order_and_the_first_key_decides(void **state)
{
    gwf_test_host *h =
        host_with("{" REF ", \"keySources\": [{\"header\": \"x-api-key\"}, "
                  "{\"header\": \"authorization\", \"query\": \"token\", "
                  "\"cookie\": \"auth_token\"}]}");
    gwf_test_result *res;

    (void)state;
    /* A good key in a later source does not rescue a bad first one. */
    res = run(h, "/api?token=k-123", "x-api-key", "bad", NULL);
    assert_denied(res, "unkonwn_api_key");
    gwf_test_result_free(res);
    res = run(h, "/api?token=bad", "x-api-key", "k-123", NULL);
    assert_forwarded(res);
    gwf_test_result_free(res);
    /* Inside the second source: header before query before cookie. */
    res = run(h, "/api?token=bad", "authorization", "Bearer k-456", NULL);
    assert_forwarded(res);
    assert_true(gwf_test_log_contains(
        h, "value api_key_auth.client_id type=0 =client2"));
    gwf_test_result_free(res);
    /* "Bearer " is matched as Envoy matches it: exactly. */
    res = run(h, "/api", "authorization", "bearer k-456", NULL);
    assert_denied(res, "unkonwn_api_key");
    gwf_test_result_free(res);
    res = run(h, "/api?token=k-123", "cookie", "auth_token=bad", NULL);
    assert_forwarded(res);
    /* Every place a key could be is cleaned, not only the one used. */
    assert_string_equal(gwf_test_upstream_path(res), "/api");
    assert_null(gwf_test_upstream_header(res, "cookie", 0));
    gwf_test_result_free(res);
    res = run(h, "/api", "cookie", "auth_token=k-123", NULL);
    assert_forwarded(res);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_secret_selector_uses_the_runtimes_selection(void **state)
{
    gwf_test_host *h =
        host_with("{\"secretSelector\": {\"matchLabels\": {\"app\": \"api\"}}, "
                  "\"gwfSelectedSecrets\": [\"keys\", \"more\"]}");
    gwf_test_result *res;

    (void)state;
    load(h, "{\"apiVersion\": \"v1\", \"kind\": \"Secret\", \"metadata\": "
            "{\"name\": \"more\", \"namespace\": \"default\"}, "
            "\"stringData\": {\"client3\": \"k-789\"}}");
    res = run(h, "/api", "api-key", "k-789", NULL);
    assert_forwarded(res);
    assert_true(gwf_test_log_contains(
        h, "value api_key_auth.client_id type=0 =client3"));
    gwf_test_result_free(res);
    res = run(h, "/api", "api-key", "k-123", NULL);
    assert_forwarded(res);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_disable_lets_every_request_through(void **state)
{
    gwf_test_host *h = host_with("{\"disable\": {}}");
    gwf_test_result *res = run(h, "/api", NULL);

    (void)state;
    assert_forwarded(res);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* -- Refused
 * ---------------------------------------------------------------------- */

static void
test_missing_key_is_refused(void **state)
{
    gwf_test_host *h = host_with("{" REF "}");
    gwf_test_result *res = run(h, "/api", NULL);

    (void)state;
    assert_denied(res, "missing_api_key");
    assert_string_equal(gwf_test_header(res, "content-type", 0), "text/plain");
    gwf_test_result_free(res);
    /* An empty header is no key. */
    res = run(h, "/api", "api-key", "", NULL);
    assert_denied(res, "missing_api_key");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_near_miss_keys_are_refused(void **state)
{
    static const char *const bad[] = {"k-124",   "k-12",    "k-1234", "K-123",
                                      "k-123 x", "x k-123", "client1"};
    gwf_test_host *h = host_with("{" REF "}");

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        gwf_test_result *res = run(h, "/api", "api-key", bad[i], NULL);
        assert_denied(res, "unkonwn_api_key");
        gwf_test_result_free(res);
    }
    gwf_test_host_free(h);
}

static void
test_key_given_twice_in_one_place_is_refused(void **state)
{
    gwf_test_host *h = host_with(
        "{" REF ", \"keySources\": [{\"header\": \"x-api-key\", \"query\": "
        "\"k\", \"cookie\": \"c\"}]}");
    gwf_test_result *res;

    (void)state;
    res = run(h, "/api", "x-api-key", "k-123", "x-api-key", "k-123", NULL);
    assert_denied(res, "ambiguous_api_key");
    gwf_test_result_free(res);
    res = run(h, "/api?k=k-123&k=bad", NULL);
    assert_denied(res, "ambiguous_api_key");
    gwf_test_result_free(res);
    res = run(h, "/api", "cookie", "c=k-123", "cookie", "c=k-123", NULL);
    assert_denied(res, "ambiguous_api_key");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

#define ERRORS                                                                 \
    "gwf_api_key_auth_requests_total{instance=\"default/ak\",result="          \
    "\"error\"}"

/* A place the host could not read (out of memory) is not an empty one:
 * it could hide a second key (refused as ambiguous when read), or the
 * key that decides, while a later place would let in another client.
 * The request is refused 500, counted as an error. */
static void
test_key_place_the_host_cannot_read_is_refused_with_500(void **state)
{
    gwf_test_host *h = host_with(
        "{" REF ", \"keySources\": [{\"header\": \"x-api-key\", \"query\": "
        "\"k\", \"cookie\": \"c\"}]}");
    gwf_test_result *res;

    (void)state;
    /* The second header value. */
    assert_failed(run_failing(h, "x-api-key", 1, "/api", "x-api-key", "k-123",
                              "x-api-key", "k-456", NULL),
                  "api_key_auth_read_failed");
    /* The header, before a query key. */
    assert_failed(run_failing(h, "x-api-key", 0, "/api?k=k-456", "x-api-key",
                              "k-123", NULL),
                  "api_key_auth_read_failed");
    /* The target, before a cookie key. */
    assert_failed(
        run_failing(h, ":path", 0, "/api?k=k-123", "cookie", "c=k-456", NULL),
        "api_key_auth_read_failed");
    /* A second Cookie line. */
    assert_failed(run_failing(h, "cookie", 1, "/api", "cookie", "c=k-123",
                              "cookie", "c=k-456", NULL),
                  "api_key_auth_read_failed");
    assert_true(gwf_test_metric(h, ERRORS) == 4);
    assert_true(gwf_test_log_contains(h, "could not read a place of the key"));
    /* What the first one hid, read. */
    res = run(h, "/api", "x-api-key", "k-123", "x-api-key", "k-456", NULL);
    assert_denied(res, "ambiguous_api_key");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* forwardCredential false: a target or Cookie line the host could not
 * read cannot be cleaned of a key, which would then reach the upstream.
 * The request is refused 500, as when cleaning fails. */
static void
test_credential_place_the_host_cannot_read_to_remove_is_refused(void **state)
{
    gwf_test_host *h =
        host_with("{" REF ", \"keySources\": [{\"header\": \"api-key\"}, "
                  "{\"query\": \"k\"}, {\"cookie\": \"c\"}]}");
    gwf_test_result *res;

    (void)state;
    assert_failed(
        run_failing(h, ":path", 0, "/api?k=k-456", "api-key", "k-123", NULL),
        "api_key_auth_strip_failed");
    assert_failed(run_failing(h, "cookie", 0, "/api", "api-key", "k-123",
                              "cookie", "c=k-456", NULL),
                  "api_key_auth_strip_failed");
    assert_true(gwf_test_metric(h, ERRORS) == 2);
    /* The same requests, read: cleaned. */
    res = run(h, "/api?k=k-456", "api-key", "k-123", "cookie", "c=k-456; o=1",
              NULL);
    assert_forwarded(res);
    assert_string_equal(gwf_test_upstream_path(res), "/api");
    assert_string_equal(gwf_test_upstream_header(res, "cookie", 0), "o=1");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_huge_and_malformed_keys_are_unknown(void **state)
{
    gwf_test_host *h = host_with(
        "{" REF ", \"keySources\": [{\"header\": \"api-key\"}, {\"query\": "
        "\"k\"}]}");
    char *huge = malloc(64 * 1024 + 1);
    gwf_test_result *res;

    (void)state;
    memset(huge, 'k', 64 * 1024);
    huge[64 * 1024] = '\0';
    res = run(h, "/api", "api-key", huge, NULL);
    assert_denied(res, "unkonwn_api_key");
    gwf_test_result_free(res);
    res = run(h, "/api?k=k-12%3", NULL);
    assert_denied(res, "unkonwn_api_key");
    gwf_test_result_free(res);
    free(huge);
    gwf_test_host_free(h);
}

/* A client whose key is the longest accepted (4096 bytes) is found in a
 * header, a cookie and a percent-encoded query parameter (decoded into
 * a buffer of exactly that size); one byte more is a key no client has,
 * wherever it comes from. */
static void
test_longest_key_is_found_in_every_source_and_one_byte_more_is_unknown(
    void **state)
{
    enum { LONGEST = 4096 };
    gwf_test_host *h = host_with(
        "{\"secretRef\": {\"name\": \"long\"}, \"keySources\": [{\"header\": "
        "\"api-key\"}, {\"query\": \"k\"}, {\"cookie\": \"c\"}]}");
    char *doc = malloc(LONGEST + 256), *key = malloc(LONGEST + 2);
    char *path = malloc(LONGEST + 16), *cookie = malloc(LONGEST + 16);
    gwf_test_result *res;

    (void)state;
    memset(key, 'K', LONGEST + 1);
    key[LONGEST] = '\0';
    sprintf(doc,
            "{\"apiVersion\": \"v1\", \"kind\": \"Secret\", \"metadata\": "
            "{\"name\": \"long\", \"namespace\": \"default\"}, "
            "\"stringData\": {\"big\": \"%s\"}}",
            key);
    load(h, doc);
    res = run(h, "/api", "api-key", key, NULL);
    assert_forwarded(res);
    assert_true(
        gwf_test_log_contains(h, "value api_key_auth.client_id type=0 =big"));
    gwf_test_result_free(res);
    sprintf(cookie, "c=%s", key);
    res = run(h, "/api", "cookie", cookie, NULL);
    assert_forwarded(res);
    gwf_test_result_free(res);
    /* "%4B" is 'K': 4098 bytes on the wire, 4096 decoded. */
    sprintf(path, "/api?k=%%4B%s", key + 1);
    res = run(h, path, NULL);
    assert_forwarded(res);
    assert_string_equal(gwf_test_upstream_path(res), "/api");
    gwf_test_result_free(res);
    /* 4097 bytes. */
    key[LONGEST] = 'K';
    key[LONGEST + 1] = '\0';
    res = run(h, "/api", "api-key", key, NULL);
    assert_denied(res, "unkonwn_api_key");
    gwf_test_result_free(res);
    sprintf(cookie, "c=%s", key);
    res = run(h, "/api", "cookie", cookie, NULL);
    assert_denied(res, "unkonwn_api_key");
    gwf_test_result_free(res);
    sprintf(path, "/api?k=%%4B%s", key + 1);
    res = run(h, path, NULL);
    assert_denied(res, "unkonwn_api_key");
    gwf_test_result_free(res);
    free(doc);
    free(key);
    free(path);
    free(cookie);
    gwf_test_host_free(h);
}

static void
test_every_result_is_counted(void **state)
{
    gwf_test_host *h = host_with("{" REF "}");

    (void)state;
    gwf_test_result_free(run(h, "/api", "api-key", "k-123", NULL));
    gwf_test_result_free(run(h, "/api", NULL));
    gwf_test_result_free(run(h, "/api", "api-key", "nope", NULL));
    gwf_test_result_free(
        run(h, "/api", "api-key", "k-123", "api-key", "k-123", NULL));
    assert_true(gwf_test_metric(h, "gwf_api_key_auth_requests_total{instance="
                                   "\"default/ak\",result=\"allowed\"}") == 1);
    assert_true(
        gwf_test_metric(h, "gwf_api_key_auth_requests_total{instance="
                           "\"default/ak\",result=\"denied_missing\"}") == 1);
    assert_true(
        gwf_test_metric(h, "gwf_api_key_auth_requests_total{instance="
                           "\"default/ak\",result=\"denied_unknown\"}") == 1);
    assert_true(
        gwf_test_metric(h, "gwf_api_key_auth_requests_total{instance="
                           "\"default/ak\",result=\"denied_ambiguous\"}") == 1);
    gwf_test_host_free(h);
}

/* -- Config errors
 * --------------------------------------------------------------- */

static void
test_selector_without_the_runtimes_selection_is_refused(void **state)
{
    (void)state;
    assert_config_error(
        "{\"secretSelector\": {\"matchLabels\": {\"a\": \"b\"}}}",
        "secretSelector", "secretSelector needs the runtime's selection");
}

static void
test_two_clients_with_one_key_are_refused(void **state)
{
    gwf_test_host *h =
        host_with("{\"secretSelector\": {\"matchLabels\": {\"app\": \"api\"}}, "
                  "\"gwfSelectedSecrets\": [\"keys\", \"dup\"]}");
    const char *err;

    (void)state;
    load(h, "{\"apiVersion\": \"v1\", \"kind\": \"Secret\", \"metadata\": "
            "{\"name\": \"dup\", \"namespace\": \"default\"}, "
            "\"stringData\": {\"other\": \"k-123\"}}");
    assert_int_equal(gwf_test_validate(h), -1);
    err = gwf_test_error(h);
    if (!strstr(err, "gwfSelectedSecrets[1]") ||
        !strstr(err, "entry \"other\" has the same API key as client "
                     "\"client1\"") ||
        strstr(err, "k-123"))
        fail_msg("got:\n%s", err);
    gwf_test_host_free(h);
}

static void
test_empty_key_and_missing_secret_are_refused(void **state)
{
    gwf_test_host *h = host_with("{\"secretRef\": {\"name\": \"empty\"}}");

    (void)state;
    load(h, "{\"apiVersion\": \"v1\", \"kind\": \"Secret\", \"metadata\": "
            "{\"name\": \"empty\", \"namespace\": \"default\"}, "
            "\"stringData\": {\"c\": \"\"}}");
    assert_int_equal(gwf_test_validate(h), -1);
    assert_non_null(
        strstr(gwf_test_error(h), "entry \"c\" has an empty API key"));
    gwf_test_host_free(h);
    assert_config_error("{\"secretRef\": {\"name\": \"nope\"}}", "secretRef",
                        "Secret nope not found");
}

static void
test_exactly_one_of_secret_ref_selector_disable(void **state)
{
    (void)state;
    assert_config_error("{}", "ak",
                        "expected exactly one of secretRef, secretSelector, "
                        "disable; found 0");
    assert_config_error("{" REF ", \"disable\": {}}", "ak",
                        "expected exactly one of secretRef, secretSelector, "
                        "disable; found 2");
}

static void
test_bad_sources_and_fields_are_refused(void **state)
{
    (void)state;
    assert_config_error("{" REF ", \"keySources\": [{}]}", "keySources[0]",
                        "expected at least one of header, query, cookie");
    assert_config_error("{" REF ", \"keySources\": [{\"header\": \"a b\"}]}",
                        "keySources[0].header", "expected an HTTP header name");
    assert_config_error("{" REF ", \"keySources\": [{\"cookie\": \"a;b\"}]}",
                        "keySources[0].cookie", "expected a cookie name");
    assert_config_error("{" REF ", \"clientIdHeader\": \"content-length\"}",
                        "clientIdHeader", "expected an HTTP header name");
    assert_config_error("{" REF ", \"hideCredentials\": true}",
                        "hideCredentials", "unknown field");
    assert_config_error("{\"secretRef\": {\"name\": \"keys\", \"kind\": "
                        "\"ConfigMap\"}}",
                        "secretRef.kind", "expected \"Secret\"");
}

/* Through a TrafficPolicy's apiKeyAuth, as the runtime plans it: the
 * field's object is the config, and the runtime turns secretSelector
 * into gwfSelectedSecrets (Secrets "keys" and "more" carry the label,
 * "other" does not). */
static void
test_traffic_policy_secret_selector_is_selected_by_the_runtime(void **state)
{
    gwf_test_host *h = gwf_test_host_new();
    const gwf_test_route policy_route = {.policy = "api"};
    gwf_test_request *req;
    gwf_test_result *res;

    (void)state;
    load(h, secret_keys);
    load(h, "{\"apiVersion\": \"v1\", \"kind\": \"Secret\", \"metadata\": "
            "{\"name\": \"more\", \"namespace\": \"default\", \"labels\": "
            "{\"app\": \"api\"}}, \"stringData\": {\"client3\": \"k-789\"}}");
    load(h, "{\"apiVersion\": \"v1\", \"kind\": \"Secret\", \"metadata\": "
            "{\"name\": \"other\", \"namespace\": \"default\"}, "
            "\"stringData\": {\"client4\": \"k-000\"}}");
    load(h, "apiVersion: gateway.kgateway.dev/v1alpha1\n"
            "kind: TrafficPolicy\n"
            "metadata: {name: api, namespace: default}\n"
            "spec:\n"
            "  apiKeyAuth:\n"
            "    secretSelector: {matchLabels: {app: api}}\n"
            "    clientIdHeader: x-client-id\n");
    req = gwf_test_request_new("GET", "/api");
    gwf_test_request_header(req, "api-key", "k-789");
    res = gwf_test_run(h, &policy_route, req);
    gwf_test_request_free(req);
    if (!res)
        fail_msg("run: %s", gwf_test_error(h));
    assert_forwarded(res);
    assert_string_equal(gwf_test_upstream_header(res, "x-client-id", 0),
                        "client3");
    assert_null(gwf_test_upstream_header(res, "api-key", 0));
    gwf_test_result_free(res);
    req = gwf_test_request_new("GET", "/api");
    gwf_test_request_header(req, "api-key", "k-000"); /* not selected */
    res = gwf_test_run(h, &policy_route, req);
    gwf_test_request_free(req);
    assert_non_null(res);
    assert_denied(res, "unkonwn_api_key");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_default_header_key_is_removed_and_client_id_forwarded),
        cmocka_unit_test(test_forward_credential_keeps_the_key),
        cmocka_unit_test(test_query_key_is_removed_from_the_upstream_path),
        cmocka_unit_test(test_cookie_key_is_removed_and_other_cookies_kept),
        cmocka_unit_test(
            test_sources_are_tried_in_order_and_the_first_key_decides),
        cmocka_unit_test(test_secret_selector_uses_the_runtimes_selection),
        cmocka_unit_test(test_disable_lets_every_request_through),
        cmocka_unit_test(test_missing_key_is_refused),
        cmocka_unit_test(test_near_miss_keys_are_refused),
        cmocka_unit_test(test_key_given_twice_in_one_place_is_refused),
        cmocka_unit_test(
            test_key_place_the_host_cannot_read_is_refused_with_500),
        cmocka_unit_test(
            test_credential_place_the_host_cannot_read_to_remove_is_refused),
        cmocka_unit_test(test_huge_and_malformed_keys_are_unknown),
        cmocka_unit_test(
            test_longest_key_is_found_in_every_source_and_one_byte_more_is_unknown),
        cmocka_unit_test(test_every_result_is_counted),
        cmocka_unit_test(
            test_selector_without_the_runtimes_selection_is_refused),
        cmocka_unit_test(test_two_clients_with_one_key_are_refused),
        cmocka_unit_test(test_empty_key_and_missing_secret_are_refused),
        cmocka_unit_test(test_exactly_one_of_secret_ref_selector_disable),
        cmocka_unit_test(test_bad_sources_and_fields_are_refused),
        cmocka_unit_test(
            test_traffic_policy_secret_selector_is_selected_by_the_runtime),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
