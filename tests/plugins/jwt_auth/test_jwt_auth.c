/*
 * test_jwt_auth.c - the jwt_auth plugin on the in-process test host, with
 * keys and tokens made by independent implementations (make_tokens.py:
 * PyJWT and jwcrypto, fresh keys each run, the host's fixed clock as
 * "now").
 *
 * Each test loads a GatewayExtension default/jwt (spec.jwt built from a
 * base provider plus the test's changes), a TrafficPolicy default/api
 * that uses it, and a `probe` GatewayExtension after it that logs the
 * shared values the rate limiter would read. It then runs one request
 * and checks what the client got, what the upstream saw, and the logs.
 *
 * The test host's clock is 2026-01-01T00:00:00Z = 1767225600.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <malloc.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <gwf/testing.h>

#define NOW_S 1767225600LL
#define SEC 1000000000ULL
#define ALLOWED_SERIES                                                         \
    "gwf_jwt_auth_requests_total{instance=\"default/jwt\","                    \
    "result=\"allowed\"}"

static json_t *fixture; /* {"jwks", "tokens"} from make_tokens.py */

static const char *
token(const char *name)
{
    const char *t = json_string_value(
        json_object_get(json_object_get(fixture, "tokens"), name));
    if (!t)
        fail_msg("no token %s in the fixture", name);
    return t;
}

static int
make_fixture(void **state)
{
    char dir[] = "/tmp/jwt-test-XXXXXX", cmd[1024], path[256];
    const char *script = getenv("JWT_MAKE_TOKENS");
    json_error_t err;

    (void)state;
    if (!script || !mkdtemp(dir))
        return -1;
    snprintf(path, sizeof(path), "%s/tokens.json", dir);
    snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s %lld %s", script, NOW_S,
             path);
    if (system(cmd) != 0) {
        fprintf(stderr, "make_tokens.py failed (needs Debian's "
                        "python3-jwt and python3-jwcrypto)\n");
        rmdir(dir);
        return -1;
    }
    fixture = json_load_file(path, 0, &err);
    unlink(path);
    rmdir(dir);
    return fixture ? 0 : -1;
}

static int
free_fixture(void **state)
{
    (void)state;
    json_decref(fixture);
    return 0;
}

/* -- Manifests ----------------------------------------------------------- */

/* spec.jwt: one provider (issuer, audience api, the fixture's JWKS
 * inline, claims to headers) changed by `provider_changes` (JSON object
 * merged in, "null" members removed), then `spec_changes` merged into the
 * spec. Either may be NULL. Returned JSON text is malloc'd. */
static char *
jwt_spec(const char *provider_changes, const char *spec_changes)
{
    json_error_t err;
    json_t *provider = json_pack(
        "{s:s, s:s, s:[s], s:{s:{s:O}}, s:[{s:s,s:s},{s:s,s:s},{s:s,s:s},"
        "{s:s,s:s}]}",
        "name", "main", "issuer", "https://issuer.example", "audiences", "api",
        "jwks", "local", "inline", json_object_get(fixture, "jwks"),
        "claimsToHeaders", "name", "sub", "header", "x-sub", "name", "org.team",
        "header", "x-team", "name", "groups", "header", "x-groups", "name",
        "admin", "header", "x-admin");
    json_t *spec;
    char *text;

    assert_non_null(provider);
    if (provider_changes) {
        json_t *changes = json_loads(provider_changes, 0, &err);
        const char *key;
        json_t *v;
        if (!changes)
            fail_msg("bad provider changes: %s", err.text);
        json_object_foreach(changes, key, v)
        {
            if (json_is_null(v))
                json_object_del(provider, key);
            else
                json_object_set(provider, key, v);
        }
        json_decref(changes);
    }
    spec = json_pack("{s:[o]}", "providers", provider);
    if (spec_changes) {
        json_t *changes = json_loads(spec_changes, 0, &err);
        if (!changes)
            fail_msg("bad spec changes: %s", err.text);
        json_object_update(spec, changes);
        json_decref(changes);
    }
    text = json_dumps(spec, JSON_COMPACT);
    json_decref(spec);
    return text;
}

static void
load(gwf_test_host *h, const char *text)
{
    if (gwf_test_load_text(h, text) != 0)
        fail_msg("load: %s", gwf_test_error(h));
}

/* A host with default/jwt from `spec` (JSON text), the policy, and the
 * probe extension logging the shared values. */
static gwf_test_host *
host_with_spec(const char *spec)
{
    gwf_test_host *h = gwf_test_host_new();
    char *doc;
    size_t size = strlen(spec) + 512;

    assert_non_null(h);
    doc = malloc(size);
    assert_non_null(doc);
    snprintf(doc, size,
             "{\"apiVersion\": \"gateway.kgateway.dev/v1alpha1\", "
             "\"kind\": \"GatewayExtension\", \"metadata\": {\"name\": "
             "\"jwt\", \"namespace\": \"default\"}, \"spec\": {\"jwt\": %s}}",
             spec);
    load(h, doc);
    free(doc);
    load(h, "apiVersion: gateway.kgateway.dev/v1alpha1\n"
            "kind: TrafficPolicy\n"
            "metadata: {name: api, namespace: default}\n"
            "spec:\n"
            "  jwtAuth:\n"
            "    extensionRef: {name: jwt}\n");
    load(h, "apiVersion: gateway.kgateway.dev/v1alpha1\n"
            "kind: GatewayExtension\n"
            "metadata: {name: probe, namespace: default}\n"
            "spec:\n"
            "  plugin:\n"
            "    name: probe\n"
            "    config:\n"
            "      tag: P\n"
            "      value_get: [jwt_auth.provider, jwt_auth.claim.sub,\n"
            "                  jwt_auth.claim.org, jwt_auth.claim.admin]\n");
    return h;
}

static gwf_test_host *
host_with(const char *provider_changes, const char *spec_changes)
{
    char *spec = jwt_spec(provider_changes, spec_changes);
    gwf_test_host *h = host_with_spec(spec);
    free(spec);
    return h;
}

static gwf_test_request *
request_with(const char *header, const char *value)
{
    gwf_test_request *req = gwf_test_request_new("GET", "/x?a=1");
    assert_non_null(req);
    if (header)
        gwf_test_request_header(req, header, value);
    return req;
}

static gwf_test_result *
run(gwf_test_host *h, gwf_test_request *req)
{
    static const char *const extensions[] = {"default/probe", NULL};
    const gwf_test_route route = {.policy = "default/api",
                                  .extensions = extensions};
    gwf_test_result *res = gwf_test_run(h, &route, req);

    gwf_test_request_free(req);
    if (!res)
        fail_msg("run: %s", gwf_test_error(h));
    return res;
}

/* The route with jwt_auth alone in its chain: the host lets it decide
 * before the stream (abi.h request_early, GWF_DONE). */
static gwf_test_result *
run_alone(gwf_test_host *h, gwf_test_request *req)
{
    const gwf_test_route route = {.policy = "default/api"};
    gwf_test_result *res = gwf_test_run(h, &route, req);

    gwf_test_request_free(req);
    if (!res)
        fail_msg("run: %s", gwf_test_error(h));
    return res;
}

/* Run a request with `Authorization: Bearer <token named name>`. */
static gwf_test_result *
run_bearer(gwf_test_host *h, const char *name)
{
    char value[20000];
    snprintf(value, sizeof(value), "Bearer %s", token(name));
    return run(h, request_with("authorization", value));
}

static void
assert_forwarded(gwf_test_result *res)
{
    if (gwf_test_outcome(res) != GWF_TEST_FORWARDED) {
        size_t len;
        const char *body = gwf_test_body(res, &len);
        fail_msg("expected forwarded, got %d: %.*s", gwf_test_status(res),
                 (int)len, body ? body : "");
    }
}

static void
assert_refused(gwf_test_result *res, int status, const char *body_part)
{
    size_t len = 0;
    const char *body = gwf_test_body(res, &len);

    assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
    assert_int_equal(gwf_test_status(res), status);
    assert_null(gwf_test_upstream_method(res));
    if (!body || !strstr(body, body_part))
        fail_msg("want \"%s\" in body \"%.*s\"", body_part, (int)len,
                 body ? body : "");
}

/* One host, one bearer token: accepted (1) or refused (0). */
static int
accepted(const char *provider_changes, const char *spec_changes,
         const char *name)
{
    gwf_test_host *h = host_with(provider_changes, spec_changes);
    gwf_test_result *res = run_bearer(h, name);
    int ok = gwf_test_outcome(res) == GWF_TEST_FORWARDED;

    gwf_test_result_free(res);
    gwf_test_host_free(h);
    return ok;
}

static void
assert_invalid_token(const char *name, const char *body_part)
{
    gwf_test_host *h = host_with(NULL, NULL);
    gwf_test_result *res = run_bearer(h, name);

    assert_refused(res, 401, body_part);
    assert_string_equal(gwf_test_header(res, "www-authenticate", 0),
                        "Bearer realm=\"http://example.com/x\", "
                        "error=\"invalid_token\"");
    assert_string_equal(gwf_test_reply_details(res), "jwt_invalid");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* -- Algorithms ---------------------------------------------------------- */

static void
test_pyjwt_tokens_of_every_algorithm_are_accepted(void **state)
{
    static const char *const algs[] = {"RS256", "RS384", "RS512", "PS256",
                                       "PS384", "PS512", "ES256", "ES384",
                                       "ES512", "EdDSA", "HS256"};
    gwf_test_host *h = host_with(NULL, NULL);

    (void)state;
    for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
        gwf_test_result *res = run_bearer(h, algs[i]);
        if (gwf_test_outcome(res) != GWF_TEST_FORWARDED)
            fail_msg("%s refused with %d", algs[i], gwf_test_status(res));
        gwf_test_result_free(res);
    }
    assert_int_equal(gwf_test_metric(h, ALLOWED_SERIES), 11);
    gwf_test_host_free(h);
}

static void
test_jwcrypto_tokens_are_accepted(void **state)
{
    (void)state;
    assert_true(accepted(NULL, NULL, "jwcrypto_PS384"));
    assert_true(accepted(NULL, NULL, "jwcrypto_EdDSA"));
    assert_true(accepted(NULL, NULL, "jwcrypto_ES256"));
}

static void
test_token_without_kid_is_verified_by_a_key_of_its_type(void **state)
{
    (void)state;
    assert_true(accepted(NULL, NULL, "RS256_no_kid"));
    assert_true(accepted(NULL, NULL, "ES256_no_kid"));
}

static void
test_alg_none_is_rejected(void **state)
{
    (void)state;
    assert_invalid_token("none", "algorithm not allowed");
}

static void
test_hs256_token_naming_an_rsa_key_is_rejected(void **state)
{
    (void)state;
    assert_invalid_token("hs256_with_rsa_kid", "algorithm not allowed");
}

static void
test_tampered_signature_is_rejected(void **state)
{
    (void)state;
    assert_invalid_token("tampered_signature", "Jwt verification fails");
}

static void
test_tampered_payload_is_rejected(void **state)
{
    (void)state;
    assert_invalid_token("tampered_payload", "Jwt verification fails");
}

static void
test_unknown_kid_is_rejected(void **state)
{
    (void)state;
    assert_invalid_token("unknown_kid", "Jwks doesn't have key to match kid");
}

static void
test_token_signed_by_another_key_with_known_kid_is_rejected(void **state)
{
    (void)state;
    assert_invalid_token("wrong_key_same_kid", "Jwt verification fails");
}

static void
test_malformed_token_is_rejected(void **state)
{
    (void)state;
    assert_invalid_token("not_a_jwt", "malformed token");
}

static void
test_crit_header_is_rejected(void **state)
{
    (void)state;
    assert_invalid_token("crit_header", "unsupported token header");
}

static void
test_oversized_token_is_rejected_without_decoding(void **state)
{
    gwf_test_host *h = host_with(NULL, NULL);
    char *value = malloc(20000);
    gwf_test_result *res;

    (void)state;
    assert_non_null(value);
    memcpy(value, "Bearer ", 7);
    memset(value + 7, 'a', 17000);
    value[17007] = 0;
    res = run(h, request_with("authorization", value));
    free(value);
    assert_refused(res, 401, "token too large");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* -- Missing tokens and modes ------------------------------------------- */

static void
test_missing_token_is_rejected_with_401_and_bearer_realm(void **state)
{
    gwf_test_host *h = host_with(NULL, NULL);
    gwf_test_result *res = run(h, request_with(NULL, NULL));

    (void)state;
    assert_refused(res, 401, "Jwt is missing");
    assert_string_equal(gwf_test_header(res, "www-authenticate", 0),
                        "Bearer realm=\"http://example.com/x\"");
    assert_string_equal(gwf_test_reply_details(res), "jwt_missing");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_header_without_bearer_prefix_counts_as_missing(void **state)
{
    gwf_test_host *h = host_with(NULL, NULL);
    gwf_test_result *res =
        run(h, request_with("authorization", "Basic dXNlcjpwdw=="));

    (void)state;
    assert_refused(res, 401, "Jwt is missing");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_missing_token_is_allowed_in_allow_missing_mode(void **state)
{
    gwf_test_host *h =
        host_with(NULL, "{\"validationMode\": \"AllowMissing\"}");
    gwf_test_result *res = run(h, request_with(NULL, NULL));

    (void)state;
    assert_forwarded(res);
    assert_true(gwf_test_log_contains(h, "value jwt_auth.provider status=1"));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_bad_token_is_rejected_in_allow_missing_mode(void **state)
{
    (void)state;
    assert_false(
        accepted(NULL, "{\"validationMode\": \"AllowMissing\"}", "expired"));
}

/* A token's place the host could not read (out of memory) is not an
 * empty one: AllowMissing would let the request through unauthenticated
 * and a second token would go unseen. The request is refused, with a
 * valid token too, in either mode. */
static void
test_token_place_the_host_cannot_read_is_refused(void **state)
{
    static const char *const modes[] = {
        "{\"validationMode\": \"Strict\"}",
        "{\"validationMode\": \"AllowMissing\"}"};
    char value[20000];

    (void)state;
    snprintf(value, sizeof(value), "Bearer %s", token("RS256"));
    for (size_t i = 0; i < 2; i++) {
        gwf_test_host *h = host_with(NULL, modes[i]);
        gwf_test_request *req = request_with("authorization", value);
        gwf_test_request_header_fails(req, "authorization");
        gwf_test_result *res = run(h, req);
        assert_refused(res, 401, "the request could not be read");
        gwf_test_result_free(res);
        /* The same request, read: forwarded. */
        res = run(h, request_with("authorization", value));
        assert_forwarded(res);
        gwf_test_result_free(res);
        gwf_test_host_free(h);
    }
}

/* What jwt_auth must change on an allowed request (a claim header set,
 * the token removed, the client's claim header removed) that the host
 * could not change (out of memory) refuses the request: the upstream
 * would get the client's own x-sub, or the token, as if checked. */
static void
test_request_the_host_cannot_change_is_refused(void **state)
{
    static const struct {
        const char *mode, *header, *token;
    } cases[] = {
        {"Strict", "x-sub", "RS256"},         /* the claim header */
        {"Strict", "authorization", "RS256"}, /* the token, stripped */
        {"AllowMissing", "x-sub", NULL},      /* no token: forged */
        {"AllowMissing", "x-payload", NULL},  /* x-sub */
    };
    char value[20000], spec[128];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(spec, sizeof(spec), "{\"validationMode\": \"%s\"}",
                 cases[i].mode);
        gwf_test_host *h =
            host_with("{\"forwardPayloadHeader\": \"x-payload\"}", spec);
        gwf_test_request *req = request_with("x-sub", "admin");
        if (cases[i].token) {
            snprintf(value, sizeof(value), "Bearer %s", token(cases[i].token));
            gwf_test_request_header(req, "authorization", value);
        }
        gwf_test_request_header_write_fails(req, cases[i].header);
        gwf_test_result *res = run(h, req);
        assert_refused(res, 401, "the request could not be changed");
        gwf_test_result_free(res);
        gwf_test_host_free(h);
    }
}

/* A refusal the host could not make (out of memory) is not a request
 * let through: the host answers 500 itself. */
static void
test_refusal_the_host_cannot_make_is_a_500_not_a_pass(void **state)
{
    gwf_test_host *h = host_with(NULL, NULL);
    gwf_test_result *res;

    (void)state;
    gwf_test_host_reply_memory_fails(h, 1);
    res = run(h, request_with(NULL, NULL));
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
    assert_int_equal(gwf_test_status(res), 500);
    assert_string_equal(gwf_test_reply_details(res), "gwf_no_memory");
    assert_null(gwf_test_upstream_method(res));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* -- Claims checks -------------------------------------------------------- */

static void
test_expired_token_is_rejected_with_401_invalid_token(void **state)
{
    (void)state;
    assert_invalid_token("expired", "Jwt is expired");
}

static void
test_token_expired_within_clock_skew_is_accepted(void **state)
{
    (void)state;
    assert_true(accepted(NULL, NULL, "expired_within_skew"));
}

static void
test_zero_clock_skew_rejects_a_just_expired_token(void **state)
{
    (void)state;
    assert_false(
        accepted("{\"clockSkew\": \"0s\"}", NULL, "expired_within_skew"));
}

static void
test_token_not_yet_valid_is_rejected(void **state)
{
    (void)state;
    assert_invalid_token("not_yet_valid", "Jwt not yet valid");
}

static void
test_nbf_within_clock_skew_is_accepted(void **state)
{
    (void)state;
    assert_true(accepted(NULL, NULL, "nbf_within_skew"));
}

static void
test_wrong_issuer_is_rejected(void **state)
{
    (void)state;
    assert_invalid_token("wrong_issuer", "Jwt issuer is not configured");
}

static void
test_any_issuer_is_accepted_when_none_is_configured(void **state)
{
    (void)state;
    assert_true(accepted("{\"issuer\": null}", NULL, "wrong_issuer"));
}

static void
test_wrong_audience_is_rejected_with_403(void **state)
{
    gwf_test_host *h = host_with(NULL, NULL);
    gwf_test_result *res = run_bearer(h, "wrong_audience");

    (void)state;
    assert_refused(res, 403, "Audiences in Jwt are not allowed");
    assert_string_equal(gwf_test_reply_details(res), "jwt_audience");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_audience_list_with_an_allowed_audience_is_accepted(void **state)
{
    (void)state;
    assert_true(accepted(NULL, NULL, "audience_list"));
}

static void
test_token_without_exp_is_accepted_by_default(void **state)
{
    (void)state;
    assert_true(accepted(NULL, NULL, "no_exp"));
}

static void
test_require_expiration_rejects_token_without_exp(void **state)
{
    (void)state;
    assert_false(accepted("{\"requireExpiration\": true}", NULL, "no_exp"));
    assert_true(accepted("{\"requireExpiration\": true}", NULL, "RS256"));
}

static void
test_max_lifetime_rejects_longer_lived_token(void **state)
{
    (void)state;
    assert_false(accepted("{\"maxLifetime\": \"24h\"}", NULL, "long_lifetime"));
    assert_true(accepted("{\"maxLifetime\": \"24h\"}", NULL, "RS256"));
}

/* -- What a verified request carries ------------------------------------- */

static void
test_claims_to_headers_copies_nested_and_array_claims(void **state)
{
    gwf_test_host *h = host_with(NULL, NULL);
    gwf_test_result *res = run_bearer(h, "RS256");

    (void)state;
    assert_forwarded(res);
    assert_string_equal(gwf_test_upstream_header(res, "x-sub", 0), "alice");
    assert_string_equal(gwf_test_upstream_header(res, "x-team", 0), "payments");
    assert_string_equal(gwf_test_upstream_header(res, "x-groups", 0),
                        "admins,dev");
    assert_string_equal(gwf_test_upstream_header(res, "x-admin", 0), "true");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_client_supplied_claim_header_is_removed(void **state)
{
    gwf_test_host *h =
        host_with(NULL, "{\"validationMode\": \"AllowMissing\"}");
    gwf_test_result *res = run(h, request_with("x-sub", "admin"));

    (void)state;
    assert_forwarded(res);
    assert_null(gwf_test_upstream_header(res, "x-sub", 0));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* A request with `name`'s token and the client's own `header` values
 * (NULL-terminated). */
static gwf_test_request *
bearer_with_headers(const char *name, const char *header,
                    const char *const *values)
{
    char value[4096];
    gwf_test_request *req;

    snprintf(value, sizeof(value), "Bearer %s", token(name));
    req = request_with("authorization", value);
    for (size_t i = 0; values[i]; i++)
        gwf_test_request_header(req, header, values[i]);
    return req;
}

static void
test_forged_claim_header_is_replaced_by_the_claim(void **state)
{
    static const char *const forged[] = {"admin", "root", NULL};
    gwf_test_host *h = host_with(NULL, NULL);
    gwf_test_result *res;

    (void)state;
    /* Twice: verified, then from the cache. */
    for (int i = 0; i < 2; i++) {
        res = run(h, bearer_with_headers("RS256", "X-Sub", forged));
        assert_forwarded(res);
        assert_string_equal(gwf_test_upstream_header(res, "x-sub", 0), "alice");
        assert_null(gwf_test_upstream_header(res, "x-sub", 1));
        gwf_test_result_free(res);
    }
    gwf_test_host_free(h);
}

static void
test_forged_header_of_a_claim_the_token_lacks_is_removed(void **state)
{
    static const char *const forged[] = {"yes", NULL};
    gwf_test_host *h =
        host_with("{\"claimsToHeaders\": [{\"name\": \"nothere\", "
                  "\"header\": \"x-nothere\"}]}",
                  NULL);
    gwf_test_result *res =
        run(h, bearer_with_headers("RS256", "x-nothere", forged));

    (void)state;
    assert_forwarded(res);
    assert_null(gwf_test_upstream_header(res, "x-nothere", 0));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_two_claims_copied_to_one_header_both_reach_it(void **state)
{
    static const char *const forged[] = {"forged", NULL};
    gwf_test_host *h =
        host_with("{\"claimsToHeaders\": [{\"name\": \"sub\", \"header\": "
                  "\"x-id\"}, {\"name\": \"nothere\", \"header\": \"x-id\"}, "
                  "{\"name\": \"org.team\", \"header\": \"X-Id\"}]}",
                  NULL);
    gwf_test_result *res = run(h, bearer_with_headers("RS256", "x-id", forged));

    (void)state;
    assert_forwarded(res);
    assert_string_equal(gwf_test_upstream_header(res, "x-id", 0), "alice");
    assert_string_equal(gwf_test_upstream_header(res, "x-id", 1), "payments");
    assert_null(gwf_test_upstream_header(res, "x-id", 2));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* Providers "other" (another issuer, claim headers `other_headers`) and
 * then "main" (the base provider, x-sub and the rest). */
static gwf_test_host *
host_with_other_provider_first(const char *other_headers)
{
    char changes[512], *first, *second, *text;
    json_t *spec, *spec2;
    gwf_test_host *h;

    snprintf(changes, sizeof(changes),
             "{\"name\": \"other\", \"issuer\": "
             "\"https://other.example\", \"claimsToHeaders\": %s}",
             other_headers);
    first = jwt_spec(changes, NULL);
    second = jwt_spec(NULL, NULL);
    spec = json_loads(first, 0, NULL);
    spec2 = json_loads(second, 0, NULL);
    json_array_extend(json_object_get(spec, "providers"),
                      json_object_get(spec2, "providers"));
    text = json_dumps(spec, JSON_COMPACT);
    h = host_with_spec(text);
    free(text);
    free(first);
    free(second);
    json_decref(spec);
    json_decref(spec2);
    return h;
}

static void
test_forged_header_of_a_provider_not_chosen_is_removed(void **state)
{
    static const char *const forged[] = {"forged", NULL};
    gwf_test_host *h = host_with_other_provider_first(
        "[{\"name\": \"sub\", \"header\": \"x-other\"}]");
    gwf_test_result *res =
        run(h, bearer_with_headers("RS256", "x-other", forged));

    (void)state;
    assert_forwarded(res);
    assert_true(gwf_test_log_contains(h, "value jwt_auth.provider type=0 "
                                         "=main"));
    assert_null(gwf_test_upstream_header(res, "x-other", 0));
    assert_string_equal(gwf_test_upstream_header(res, "x-sub", 0), "alice");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_header_shared_with_a_provider_not_chosen_keeps_the_claim(void **state)
{
    static const char *const forged[] = {"forged", NULL};
    gwf_test_host *h = host_with_other_provider_first(
        "[{\"name\": \"iss\", \"header\": \"X-SUB\"}]");
    gwf_test_result *res =
        run(h, bearer_with_headers("RS256", "x-sub", forged));

    (void)state;
    assert_forwarded(res);
    assert_string_equal(gwf_test_upstream_header(res, "x-sub", 0), "alice");
    assert_null(gwf_test_upstream_header(res, "x-sub", 1));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_claim_with_crlf_is_not_copied_to_a_header(void **state)
{
    gwf_test_host *h = host_with(NULL, NULL);
    gwf_test_result *res = run_bearer(h, "bad_header_claim");

    (void)state;
    assert_forwarded(res);
    assert_null(gwf_test_upstream_header(res, "x-sub", 0));
    assert_null(gwf_test_upstream_header(res, "x-injected", 0));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_claims_are_left_as_shared_stream_values(void **state)
{
    gwf_test_host *h = host_with(NULL, NULL);
    gwf_test_result *res = run_bearer(h, "RS256");

    (void)state;
    assert_forwarded(res);
    assert_true(gwf_test_log_contains(h, "value jwt_auth.provider type=0 "
                                         "=main"));
    assert_true(gwf_test_log_contains(h, "value jwt_auth.claim.sub type=0 "
                                         "=alice"));
    assert_true(gwf_test_log_contains(h, "value jwt_auth.claim.org type=4 "
                                         "={\"team\":\"payments\","
                                         "\"id\":7}"));
    assert_true(gwf_test_log_contains(h, "value jwt_auth.claim.admin "
                                         "type=4 =true"));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_token_is_not_forwarded_by_default(void **state)
{
    gwf_test_host *h = host_with(NULL, NULL);
    gwf_test_result *res = run_bearer(h, "RS256");

    (void)state;
    assert_forwarded(res);
    assert_null(gwf_test_upstream_header(res, "authorization", 0));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_forward_token_keeps_the_authorization_header(void **state)
{
    gwf_test_host *h = host_with("{\"forwardToken\": true}", NULL);
    gwf_test_result *res = run_bearer(h, "RS256");
    char want[4096];

    (void)state;
    snprintf(want, sizeof(want), "Bearer %s", token("RS256"));
    assert_forwarded(res);
    assert_string_equal(gwf_test_upstream_header(res, "authorization", 0),
                        want);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_forward_payload_header_carries_the_base64url_payload(void **state)
{
    gwf_test_host *h =
        host_with("{\"forwardPayloadHeader\": \"x-jwt-payload\"}", NULL);
    gwf_test_result *res = run_bearer(h, "ES256");
    const char *t = token("ES256");
    const char *dot1 = strchr(t, '.'), *dot2 = strrchr(t, '.');
    char want[4096];

    (void)state;
    snprintf(want, sizeof(want), "%.*s", (int)(dot2 - dot1 - 1), dot1 + 1);
    assert_forwarded(res);
    assert_string_equal(gwf_test_upstream_header(res, "x-jwt-payload", 0),
                        want);
    gwf_test_result_free(res);
    /* From the cache: the same payload, and one header only even when the
     * client sent one. */
    {
        char value[4096];
        gwf_test_request *req;
        snprintf(value, sizeof(value), "Bearer %s", t);
        req = request_with("authorization", value);
        gwf_test_request_header(req, "x-jwt-payload", "forged");
        res = run(h, req);
    }
    assert_forwarded(res);
    assert_string_equal(gwf_test_upstream_header(res, "x-jwt-payload", 0),
                        want);
    assert_null(gwf_test_upstream_header(res, "x-jwt-payload", 1));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* -- Token sources --------------------------------------------------------- */

static void
test_token_from_query_parameter_is_accepted_and_removed(void **state)
{
    gwf_test_host *h = host_with(
        "{\"tokenSource\": {\"queryParameter\": \"access_token\"}}", NULL);
    char path[4096];
    gwf_test_request *req;
    gwf_test_result *res;

    (void)state;
    snprintf(path, sizeof(path), "/x?a=1&access_token=%s&b=2", token("RS256"));
    req = gwf_test_request_new("GET", path);
    res = run(h, req);
    assert_forwarded(res);
    assert_string_equal(gwf_test_upstream_path(res), "/x?a=1&b=2");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_token_from_cookie_is_accepted_and_cookie_removed(void **state)
{
    gwf_test_host *h =
        host_with("{\"tokenSource\": {\"cookie\": \"session\"}}", NULL);
    char cookie[4096];
    gwf_test_result *res;

    (void)state;
    snprintf(cookie, sizeof(cookie), "theme=dark; session=%s; lang=en",
             token("EdDSA"));
    res = run(h, request_with("cookie", cookie));
    assert_forwarded(res);
    assert_string_equal(gwf_test_upstream_header(res, "cookie", 0),
                        "theme=dark; lang=en");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_token_from_custom_header_with_prefix(void **state)
{
    gwf_test_host *h =
        host_with("{\"tokenSource\": {\"header\": {\"header\": \"x-token\", "
                  "\"prefix\": \"JWT \"}}}",
                  NULL);
    char value[4096];
    gwf_test_result *res;

    (void)state;
    snprintf(value, sizeof(value), "JWT %s", token("HS256"));
    res = run(h, request_with("x-token", value));
    assert_forwarded(res);
    assert_null(gwf_test_upstream_header(res, "x-token", 0));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_second_provider_accepts_what_the_first_does_not(void **state)
{
    char *first = jwt_spec("{\"name\": \"other\", \"issuer\": "
                           "\"https://other.example\"}",
                           NULL);
    json_t *spec = json_loads(first, 0, NULL);
    char *second = jwt_spec(NULL, NULL);
    json_t *spec2 = json_loads(second, 0, NULL);
    gwf_test_host *h;
    gwf_test_result *res;
    char *text;

    (void)state;
    json_array_extend(json_object_get(spec, "providers"),
                      json_object_get(spec2, "providers"));
    text = json_dumps(spec, JSON_COMPACT);
    h = host_with_spec(text);
    res = run_bearer(h, "RS256");
    assert_forwarded(res);
    assert_true(gwf_test_log_contains(h, "value jwt_auth.provider type=0 "
                                         "=main"));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
    free(text);
    free(first);
    free(second);
    json_decref(spec);
    json_decref(spec2);
}

/* -- Time claims at the edges (issue 10, defect 2) ------------------------
 *
 * exp, nbf and iat are whatever the client put in the token, checked
 * before the signature: no arithmetic on them may overflow (UBSan would
 * abort the worker; release builds answered by wraparound). */

static void
test_exp_at_int64_max_with_junk_signature_fails_on_the_signature(void **state)
{
    (void)state;
    assert_invalid_token("exp_max_junk_signature", "Jwt verification fails");
}

static void
test_exp_at_int64_max_is_accepted_and_cached_without_overflow(void **state)
{
    gwf_test_host *h = host_with(NULL, NULL);
    gwf_test_result *res = run_bearer(h, "exp_max");

    (void)state;
    assert_forwarded(res);
    assert_string_equal(gwf_test_upstream_header(res, "x-sub", 0), "alice");
    gwf_test_result_free(res);
    /* A century later, from the cache: still valid until exp. */
    gwf_test_advance(h, 100ULL * 365 * 86400 * SEC);
    res = run_bearer(h, "exp_max");
    assert_forwarded(res);
    assert_string_equal(gwf_test_upstream_header(res, "x-sub", 0), "alice");
    gwf_test_result_free(res);
    assert_int_equal(gwf_test_metric(h, ALLOWED_SERIES), 2);
    gwf_test_host_free(h);
}

static void
test_exp_at_int64_min_minus_one_or_zero_is_expired(void **state)
{
    (void)state;
    assert_invalid_token("exp_min", "Jwt is expired");
    assert_invalid_token("exp_minus_one", "Jwt is expired");
    assert_invalid_token("exp_zero", "Jwt is expired");
}

static void
test_exp_beyond_int64_or_huge_float_is_malformed(void **state)
{
    (void)state;
    assert_invalid_token("exp_huge_float", "malformed token");
    assert_invalid_token("exp_beyond_int64", "malformed token");
}

static void
test_nbf_at_int64_max_is_not_yet_valid(void **state)
{
    (void)state;
    assert_invalid_token("nbf_max", "Jwt not yet valid");
}

static void
test_nbf_at_int64_min_or_minus_one_is_accepted(void **state)
{
    (void)state;
    assert_true(accepted(NULL, NULL, "nbf_min"));
    assert_true(accepted(NULL, NULL, "nbf_minus_one"));
}

static void
test_iat_at_int64_min_exceeds_max_lifetime(void **state)
{
    gwf_test_host *h = host_with("{\"maxLifetime\": \"24h\"}", NULL);
    gwf_test_result *res = run_bearer(h, "iat_min");

    (void)state;
    assert_refused(res, 401, "token lifetime too long");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_iat_after_exp_is_refused_when_max_lifetime_is_set(void **state)
{
    gwf_test_host *h = host_with("{\"maxLifetime\": \"24h\"}", NULL);
    gwf_test_result *res = run_bearer(h, "iat_max");

    (void)state;
    assert_refused(res, 401, "token lifetime too long");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_iat_is_not_checked_without_max_lifetime(void **state)
{
    (void)state;
    assert_true(accepted(NULL, NULL, "iat_max"));
    assert_true(accepted(NULL, NULL, "iat_min"));
}

static void
test_validity_edges_are_exact_around_the_clock_skew(void **state)
{
    (void)state;
    /* Default skew 60 s: valid while now < exp + 60 and now + 60 >= nbf. */
    assert_false(accepted(NULL, NULL, "exp_at_skew_edge"));
    assert_true(accepted(NULL, NULL, "exp_inside_skew_edge"));
    assert_true(accepted(NULL, NULL, "nbf_at_skew_edge"));
    assert_false(accepted(NULL, NULL, "nbf_beyond_skew_edge"));
    /* No skew: a token is expired from the second of its exp. */
    assert_false(accepted("{\"clockSkew\": 0}", NULL, "exp_now"));
    assert_true(accepted("{\"clockSkew\": 0}", NULL, "exp_now_plus_one"));
}

static void
test_cached_token_expires_at_exactly_exp_plus_skew(void **state)
{
    gwf_test_host *h = host_with(NULL, NULL);
    gwf_test_result *res = run_bearer(h, "RS256"); /* exp = now + 3600 */

    (void)state;
    assert_forwarded(res);
    gwf_test_result_free(res);
    gwf_test_advance(h, (3600 + 59) * SEC);
    res = run_bearer(h, "RS256");
    assert_forwarded(res);
    gwf_test_result_free(res);
    gwf_test_advance(h, SEC);
    res = run_bearer(h, "RS256");
    assert_refused(res, 401, "Jwt is expired");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* -- Several candidate tokens (issue 10, defect 5) -------------------------
 *
 * Every value of the token's header, every occurrence of its query
 * parameter or cookie is a candidate; more than one candidate in one place
 * is ambiguous and refused, a value without the configured prefix is not
 * a token (as Envoy), and every token found in any provider's place must
 * verify - in every mode. */

static const char *const modes[] = {NULL,
                                    "{\"validationMode\": \"AllowMissing\"}"};
#define X_JWT_SOURCE                                                           \
    "{\"tokenSource\": {\"header\": {\"header\": \"x-jwt\", \"prefix\": "      \
    "\"Bearer \"}}}"
#define QUERY_SOURCE "{\"tokenSource\": {\"queryParameter\": \"access_token\"}}"
#define COOKIE_SOURCE "{\"tokenSource\": {\"cookie\": \"session\"}}"

/* "<prefix><token named name>" in a static buffer (`slot` 0 or 1). */
static const char *
with_prefix(int slot, const char *prefix, const char *name)
{
    static char buf[2][8192];

    snprintf(buf[slot], sizeof(buf[slot]), "%s%s", prefix, token(name));
    return buf[slot];
}

/* A request for `path` with up to two extra headers (name NULL: none). */
static gwf_test_request *
request_two(const char *path, const char *n1, const char *v1, const char *n2,
            const char *v2)
{
    gwf_test_request *req = gwf_test_request_new("GET", path);

    assert_non_null(req);
    if (n1)
        gwf_test_request_header(req, n1, v1);
    if (n2)
        gwf_test_request_header(req, n2, v2);
    return req;
}

static void
test_repeated_header_with_a_forged_second_token_is_refused(void **state)
{
    (void)state;
    for (size_t m = 0; m < 2; m++) {
        gwf_test_host *h = host_with(X_JWT_SOURCE, modes[m]);
        gwf_test_result *res = run(
            h, request_two("/x", "x-jwt", "Basic Zm9v", "x-jwt",
                           with_prefix(0, "Bearer ", "tampered_signature")));
        assert_refused(res, 401, "Jwt verification fails");
        gwf_test_result_free(res);
        gwf_test_host_free(h);
    }
}

static void
test_value_without_the_prefix_is_not_a_token_beside_a_valid_one(void **state)
{
    (void)state;
    for (size_t m = 0; m < 2; m++) {
        gwf_test_host *h = host_with(X_JWT_SOURCE, modes[m]);
        gwf_test_result *res =
            run(h, request_two("/x", "x-jwt", "Basic Zm9v", "x-jwt",
                               with_prefix(0, "Bearer ", "RS256")));
        assert_forwarded(res);
        assert_string_equal(gwf_test_upstream_header(res, "x-sub", 0), "alice");
        /* forwardToken false: the token's header goes, whole. */
        assert_null(gwf_test_upstream_header(res, "x-jwt", 0));
        gwf_test_result_free(res);
        gwf_test_host_free(h);
    }
}

static void
test_value_without_the_prefix_alone_counts_as_missing(void **state)
{
    gwf_test_host *h = host_with(X_JWT_SOURCE, NULL);
    gwf_test_result *res =
        run(h, request_two("/x", "x-jwt", "Basic Zm9v", NULL, NULL));

    (void)state;
    assert_refused(res, 401, "Jwt is missing");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
    h = host_with(X_JWT_SOURCE, modes[1]);
    res = run(h, request_two("/x", "x-jwt", "Basic Zm9v", NULL, NULL));
    assert_forwarded(res);
    assert_string_equal(gwf_test_upstream_header(res, "x-jwt", 0),
                        "Basic Zm9v");
    assert_null(gwf_test_upstream_header(res, "x-sub", 0));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_two_valid_tokens_in_one_header_are_refused_as_ambiguous(void **state)
{
    (void)state;
    for (size_t m = 0; m < 2; m++) {
        gwf_test_host *h = host_with(X_JWT_SOURCE, modes[m]);
        gwf_test_result *res = run(
            h, request_two("/x", "x-jwt", with_prefix(0, "Bearer ", "RS256"),
                           "x-jwt", with_prefix(1, "Bearer ", "bob")));
        assert_refused(res, 401, "more than one token");
        assert_string_equal(gwf_test_reply_details(res), "jwt_invalid");
        gwf_test_result_free(res);
        gwf_test_host_free(h);
    }
}

static void
test_repeated_query_parameter_is_refused(void **state)
{
    static const char *const second[] = {"tampered_signature", "bob"};
    char path[16384];

    (void)state;
    for (size_t m = 0; m < 2; m++) {
        for (size_t k = 0; k < 2; k++) {
            gwf_test_host *h = host_with(QUERY_SOURCE, modes[m]);
            gwf_test_result *res;
            snprintf(path, sizeof(path),
                     "/x?access_token=%s&a=1&access_token=%s", token("RS256"),
                     token(second[k]));
            res = run(h, request_two(path, NULL, NULL, NULL, NULL));
            assert_refused(res, 401, "more than one token");
            gwf_test_result_free(res);
            gwf_test_host_free(h);
        }
    }
}

static void
test_percent_encoded_parameter_name_is_a_candidate_too(void **state)
{
    char path[16384];
    gwf_test_host *h = host_with(QUERY_SOURCE, modes[1]);
    gwf_test_result *res;

    (void)state;
    /* An upstream decodes %61 to "a": this is access_token to it. */
    snprintf(path, sizeof(path), "/x?%%61ccess_token=%s",
             token("tampered_signature"));
    res = run(h, request_two(path, NULL, NULL, NULL, NULL));
    assert_refused(res, 401, "Jwt verification fails");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_repeated_cookie_is_refused(void **state)
{
    char one[16384];

    (void)state;
    for (size_t m = 0; m < 2; m++) {
        gwf_test_host *h = host_with(COOKIE_SOURCE, modes[m]);
        gwf_test_result *res;
        /* Twice in one cookie header. */
        snprintf(one, sizeof(one), "session=%s; theme=dark; session=%s",
                 token("RS256"), token("tampered_signature"));
        res = run(h, request_two("/x", "cookie", one, NULL, NULL));
        assert_refused(res, 401, "more than one token");
        gwf_test_result_free(res);
        /* Once in each of two cookie headers. */
        res = run(h, request_two("/x", "cookie",
                                 with_prefix(0, "session=", "RS256"), "cookie",
                                 with_prefix(1, "session=", "bob")));
        assert_refused(res, 401, "more than one token");
        gwf_test_result_free(res);
        gwf_test_host_free(h);
    }
}

/* Providers "main" (Authorization: Bearer) and "query" (?access_token). */
static gwf_test_host *
host_with_header_and_query_providers(const char *spec_changes)
{
    char *first = jwt_spec(NULL, spec_changes);
    char *second = jwt_spec("{\"name\": \"query\", \"tokenSource\": "
                            "{\"queryParameter\": \"access_token\"}}",
                            NULL);
    json_t *spec = json_loads(first, 0, NULL);
    json_t *spec2 = json_loads(second, 0, NULL);
    gwf_test_host *h;
    char *text;

    json_array_extend(json_object_get(spec, "providers"),
                      json_object_get(spec2, "providers"));
    text = json_dumps(spec, JSON_COMPACT);
    h = host_with_spec(text);
    free(text);
    free(first);
    free(second);
    json_decref(spec);
    json_decref(spec2);
    return h;
}

static void
test_valid_header_token_with_a_forged_query_token_is_refused(void **state)
{
    char path[16384];

    (void)state;
    for (size_t m = 0; m < 2; m++) {
        gwf_test_host *h = host_with_header_and_query_providers(modes[m]);
        gwf_test_result *res;
        snprintf(path, sizeof(path), "/x?access_token=%s",
                 token("tampered_signature"));
        res =
            run(h, request_two(path, "authorization",
                               with_prefix(0, "Bearer ", "RS256"), NULL, NULL));
        assert_refused(res, 401, "Jwt verification fails");
        gwf_test_result_free(res);
        gwf_test_host_free(h);
    }
}

static void
test_valid_tokens_in_two_places_are_accepted_and_both_removed(void **state)
{
    char path[16384];

    (void)state;
    for (size_t m = 0; m < 2; m++) {
        gwf_test_host *h = host_with_header_and_query_providers(modes[m]);
        gwf_test_result *res;
        snprintf(path, sizeof(path), "/x?a=1&access_token=%s", token("bob"));
        res =
            run(h, request_two(path, "authorization",
                               with_prefix(0, "Bearer ", "RS256"), NULL, NULL));
        assert_forwarded(res);
        /* The first provider in order gives the claims. */
        assert_string_equal(gwf_test_upstream_header(res, "x-sub", 0), "alice");
        assert_null(gwf_test_upstream_header(res, "x-sub", 1));
        assert_null(gwf_test_upstream_header(res, "authorization", 0));
        assert_string_equal(gwf_test_upstream_path(res), "/x?a=1");
        gwf_test_result_free(res);
        gwf_test_host_free(h);
    }
}

/* -- Cache ----------------------------------------------------------------- */

static void
test_cached_token_is_still_refused_once_expired(void **state)
{
    gwf_test_host *h = host_with("{\"clockSkew\": 0}", NULL);
    gwf_test_result *res = run_bearer(h, "RS256");

    (void)state;
    assert_forwarded(res);
    gwf_test_result_free(res);
    res = run_bearer(h, "RS256"); /* from the cache */
    assert_forwarded(res);
    gwf_test_result_free(res);
    gwf_test_advance(h, 3600 * SEC);
    res = run_bearer(h, "RS256");
    assert_refused(res, 401, "Jwt is expired");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* The cache compares the whole token: one that differs from a cached
 * token only in its last signature byte is verified, and refused. */
static void
test_token_differing_from_a_cached_one_in_its_last_signature_byte_is_refused(
    void **state)
{
    gwf_test_host *h = host_with(NULL, NULL);
    char value[20000], *last;
    gwf_test_result *res = run_bearer(h, "RS256");

    (void)state;
    assert_forwarded(res);
    gwf_test_result_free(res);
    /* RS256 with RSA-2048: 256 bytes, 342 base64url characters; the last
     * one carries the last byte's two low bits, so A/Q/g/w are the values
     * that strict base64url allows there. */
    snprintf(value, sizeof(value), "Bearer %s", token("RS256"));
    last = value + strlen(value) - 1;
    assert_non_null(strchr("AQgw", *last));
    *last = *last == 'A' ? 'Q' : 'A';
    res = run(h, request_with("authorization", value));
    assert_refused(res, 401, "Jwt verification fails");
    gwf_test_result_free(res);
    /* The genuine token is still cached and accepted. */
    res = run_bearer(h, "RS256");
    assert_forwarded(res);
    gwf_test_result_free(res);
    assert_int_equal(gwf_test_metric(h, ALLOWED_SERIES), 2);
    gwf_test_host_free(h);
}

/* base64url without padding, with OpenSSL's base64 underneath. */
static void
b64url_encode(const unsigned char *in, size_t len, char *out)
{
    int n = EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    while (n > 0 && out[n - 1] == '=')
        n--;
    out[n] = 0;
    for (int i = 0; i < n; i++)
        out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
}

static size_t
b64url_decode(const char *in, unsigned char *out, size_t size)
{
    char padded[512];
    size_t len = strlen(in), n = 0;
    int got;

    assert_true(len + 4 < sizeof(padded) && (len + 3) / 4 * 3 <= size);
    for (size_t i = 0; i < len; i++)
        padded[n++] = in[i] == '-' ? '+' : in[i] == '_' ? '/' : in[i];
    while (n % 4)
        padded[n++] = '=';
    got = EVP_DecodeBlock(out, (const unsigned char *)padded, (int)n);
    assert_true(got >= 0);
    return (size_t)got - (len % 4 == 2 ? 2 : len % 4 == 3 ? 1 : 0);
}

/* An HS256 token for the fixture's oct key with sub "user-<n>". */
static void
hs256_token(unsigned n, char *out, size_t size)
{
    const json_t *keys =
        json_object_get(json_object_get(fixture, "jwks"), "keys");
    const char *k64 = NULL;
    unsigned char secret[256], mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    const char *header = "{\"alg\":\"HS256\",\"kid\":\"hs1\"}";
    char claims[256], h64[128], c64[512], s64[64];
    size_t secret_len = 0, i, len;
    const json_t *key;

    json_array_foreach(keys, i, key)
    {
        if (strcmp(json_string_value(json_object_get(key, "kty")), "oct") == 0)
            k64 = json_string_value(json_object_get(key, "k"));
    }
    assert_non_null(k64);
    secret_len = b64url_decode(k64, secret, sizeof(secret));
    snprintf(claims, sizeof(claims),
             "{\"iss\":\"https://issuer.example\",\"aud\":\"api\","
             "\"sub\":\"user-%u\",\"exp\":%lld}",
             n, NOW_S + 3600);
    b64url_encode((const unsigned char *)header, strlen(header), h64);
    b64url_encode((const unsigned char *)claims, strlen(claims), c64);
    len = (size_t)snprintf(out, size, "Bearer %s.%s", h64, c64);
    assert_non_null(HMAC(EVP_sha256(), secret, (int)secret_len,
                         (const unsigned char *)out + 7, len - 7, mac,
                         &mac_len));
    b64url_encode(mac, mac_len, s64);
    snprintf(out + len, size - len, ".%s", s64);
}

/* Heap in use, from the allocator's own count (0 under a sanitizer's
 * allocator, which keeps its own books: then LeakSanitizer checks). */
static size_t
heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks;
}

/* 100,000 distinct valid tokens through a 64-entry cache: each is
 * verified and cached, replacing another; the heap does not grow. */
static void
test_cache_stays_bounded_under_100000_distinct_valid_tokens(void **state)
{
    gwf_test_host *h = host_with(NULL, "{\"tokenCacheSize\": 64}");
    char value[1024];
    size_t after_warmup = 0;

    (void)state;
    for (unsigned n = 0; n < 100000; n++) {
        gwf_test_result *res;
        if (n == 10000)
            after_warmup = heap_in_use();
        hs256_token(n, value, sizeof(value));
        res = run(h, request_with("authorization", value));
        assert_forwarded(res);
        gwf_test_result_free(res);
    }
    assert_int_equal(gwf_test_metric(h, ALLOWED_SERIES), 100000);
    if (after_warmup)
        assert_true(heap_in_use() <= after_warmup + 64 * 1024);
    gwf_test_host_free(h);
}

static void
test_cached_claims_still_reach_headers_and_values(void **state)
{
    gwf_test_host *h = host_with(NULL, NULL);
    gwf_test_result *res = run_bearer(h, "bob");

    (void)state;
    gwf_test_result_free(res);
    res = run_bearer(h, "bob");
    assert_forwarded(res);
    assert_string_equal(gwf_test_upstream_header(res, "x-sub", 0), "bob");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_disabled_cache_verifies_every_time(void **state)
{
    (void)state;
    assert_true(accepted(NULL, "{\"tokenCacheSize\": 0}", "ES384"));
}

/* -- Alone in the chain: decided before the stream ------------------------ */

/* A request with `Authorization: Bearer <token named name>` and a forged
 * x-sub, through jwt_auth alone. */
static gwf_test_result *
run_alone_bearer(gwf_test_host *h, const char *name, const char *path)
{
    char value[20000];
    gwf_test_request *req = gwf_test_request_new("GET", path);

    assert_non_null(req);
    snprintf(value, sizeof(value), "Bearer %s", token(name));
    gwf_test_request_header(req, "authorization", value);
    gwf_test_request_header(req, "x-sub", "admin");
    return run_alone(h, req);
}

static void
assert_alice_forwarded(gwf_test_result *res)
{
    assert_forwarded(res);
    assert_string_equal(gwf_test_upstream_header(res, "x-sub", 0), "alice");
    assert_null(gwf_test_upstream_header(res, "x-sub", 1));
    assert_null(gwf_test_upstream_header(res, "authorization", 0));
    assert_string_equal(gwf_test_upstream_path(res), "/x?a=1");
}

/* The first request verifies its token in the stream; the next one finds
 * it in the cache and is let through without a stream, changed the same
 * way: the claim header set over the forged one, the token stripped. */
static void
test_cached_token_alone_is_decided_without_a_stream(void **state)
{
    gwf_test_host *h = host_with(NULL, NULL);
    gwf_test_result *res = run_alone_bearer(h, "RS256", "/x?a=1");

    (void)state;
    assert_alice_forwarded(res);
    assert_true(gwf_test_had_stream(res));
    gwf_test_result_free(res);
    res = run_alone_bearer(h, "RS256", "/x?a=1");
    assert_alice_forwarded(res);
    assert_false(gwf_test_had_stream(res));
    gwf_test_result_free(res);
    assert_int_equal(gwf_test_metric(h, ALLOWED_SERIES), 2);
    gwf_test_host_free(h);
}

/* The early decision reads the same clock: a cached token past its exp
 * (plus skew) is not taken from the cache but verified, and refused. */
static void
test_cached_token_alone_is_refused_once_expired(void **state)
{
    gwf_test_host *h = host_with("{\"clockSkew\": 0}", NULL);
    gwf_test_result *res = run_alone_bearer(h, "RS256", "/x?a=1");

    (void)state;
    assert_alice_forwarded(res);
    gwf_test_result_free(res);
    gwf_test_advance(h, 3600 * SEC);
    res = run_alone_bearer(h, "RS256", "/x?a=1");
    assert_refused(res, 401, "Jwt is expired");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* Every token a request carries must be in the cache to be decided
 * early: a forged one beside a cached one goes to the stream, which
 * refuses the request. */
static void
test_cached_token_alone_beside_a_forged_one_is_refused(void **state)
{
    gwf_test_host *h = host_with(NULL, NULL);
    char path[16384];
    gwf_test_result *res = run_alone_bearer(h, "RS256", "/x?a=1");

    (void)state;
    assert_alice_forwarded(res);
    gwf_test_result_free(res);
    snprintf(path, sizeof(path), "/x?access_token=%s",
             token("tampered_signature"));
    res = run_alone_bearer(h, "RS256", path);
    assert_refused(res, 401, "Jwt verification fails");
    assert_true(gwf_test_had_stream(res));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* A cached token sent twice (two Authorization lines) is ambiguous
 * before the stream as in it: refused, and nothing reaches the
 * upstream. */
static void
test_cached_token_alone_sent_twice_is_refused_without_a_stream(void **state)
{
    gwf_test_host *h = host_with(NULL, NULL);
    char value[20000];
    gwf_test_request *req;
    gwf_test_result *res = run_alone_bearer(h, "RS256", "/x?a=1");

    (void)state;
    assert_alice_forwarded(res);
    gwf_test_result_free(res);
    snprintf(value, sizeof(value), "Bearer %s", token("RS256"));
    req = request_with("authorization", value);
    gwf_test_request_header(req, "authorization", value);
    res = run_alone(h, req);
    assert_refused(res, 401, "more than one token");
    assert_false(gwf_test_had_stream(res));
    assert_null(gwf_test_upstream_method(res));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_missing_token_alone_is_refused_without_a_stream(void **state)
{
    gwf_test_host *h = host_with(NULL, NULL);
    gwf_test_result *res = run_alone(h, request_with("x-sub", "admin"));

    (void)state;
    assert_refused(res, 401, "Jwt is missing");
    assert_false(gwf_test_had_stream(res));
    assert_string_equal(gwf_test_header(res, "www-authenticate", 0),
                        "Bearer realm=\"http://example.com/x\"");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* AllowMissing without a token: through without a stream, the client's
 * claim header removed. */
static void
test_missing_token_alone_in_allow_missing_mode_loses_forged_claims(void **state)
{
    gwf_test_host *h =
        host_with(NULL, "{\"validationMode\": \"AllowMissing\"}");
    gwf_test_result *res = run_alone(h, request_with("x-sub", "admin"));

    (void)state;
    assert_forwarded(res);
    assert_false(gwf_test_had_stream(res));
    assert_null(gwf_test_upstream_header(res, "x-sub", 0));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* A change the host cannot make before the stream (out of memory)
 * refuses the request there, as in the stream. */
static void
test_cached_token_alone_the_host_cannot_change_is_refused(void **state)
{
    static const char *const headers[] = {"x-sub", "authorization"};
    char value[20000];

    (void)state;
    snprintf(value, sizeof(value), "Bearer %s", token("RS256"));
    for (size_t i = 0; i < 2; i++) {
        gwf_test_host *h = host_with(NULL, NULL);
        gwf_test_result *res = run_alone_bearer(h, "RS256", "/x?a=1");
        gwf_test_request *req;
        assert_alice_forwarded(res);
        gwf_test_result_free(res);
        req = request_with("authorization", value);
        gwf_test_request_header_write_fails(req, headers[i]);
        res = run_alone(h, req);
        assert_refused(res, 401, "the request could not be changed");
        assert_false(gwf_test_had_stream(res));
        gwf_test_result_free(res);
        gwf_test_host_free(h);
    }
}

/* A refusal the host cannot make before the stream is its 500, never a
 * request let through. */
static void
test_refusal_alone_the_host_cannot_make_is_a_500_not_a_pass(void **state)
{
    gwf_test_host *h = host_with(NULL, NULL);
    gwf_test_result *res;

    (void)state;
    gwf_test_host_reply_memory_fails(h, 1);
    res = run_alone(h, request_with(NULL, NULL));
    assert_int_equal(gwf_test_status(res), 500);
    assert_string_equal(gwf_test_reply_details(res), "gwf_no_memory");
    assert_false(gwf_test_had_stream(res));
    assert_null(gwf_test_upstream_method(res));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* Beside another plugin (the probe), the stream decides every request,
 * and the claims reach that plugin as values. */
static void
test_cached_token_beside_another_plugin_is_decided_in_the_stream(void **state)
{
    gwf_test_host *h = host_with(NULL, NULL);
    gwf_test_result *res = run_bearer(h, "RS256");

    (void)state;
    gwf_test_result_free(res);
    res = run_bearer(h, "RS256");
    assert_forwarded(res);
    assert_true(gwf_test_had_stream(res));
    {
        /* Both requests gave the claim to the probe. */
        const char *at = gwf_test_logs(h),
                   *needle = "value jwt_auth.claim.sub type=0 "
                             "=alice";
        int seen = 0;
        while ((at = strstr(at, needle)) != NULL) {
            seen++;
            at += strlen(needle);
        }
        assert_int_equal(seen, 2);
    }
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* -- Config errors --------------------------------------------------------- */

static void
assert_config_error(const char *spec, const char *field, const char *message)
{
    gwf_test_host *h = host_with_spec(spec);
    const char *err;

    assert_int_equal(gwf_test_validate(h), -1);
    err = gwf_test_error(h);
    if (!err || !strstr(err, field) || !strstr(err, message))
        fail_msg("want field \"%s\" and \"%s\" in:\n%s", field, message,
                 err ? err : "(none)");
    gwf_test_host_free(h);
}

static void
assert_provider_error(const char *changes, const char *field,
                      const char *message)
{
    char *spec = jwt_spec(changes, NULL);
    assert_config_error(spec, field, message);
    free(spec);
}

static void
test_config_without_providers_is_refused(void **state)
{
    (void)state;
    /* kgateway's type lets providers out, but Envoy refuses what it makes
     * of that: refused by name, never a policy that lets all through. */
    assert_config_error("{}", "providers",
                        "expected 1 to 32 providers, found none");
    assert_config_error("{\"providers\": []}", "providers",
                        "expected 1 to 32 providers, found an empty list");
    assert_config_error("{\"validationMode\": \"AllowMissing\"}", "providers",
                        "expected 1 to 32 providers, found none");
}

static void
test_config_with_unknown_field_is_refused(void **state)
{
    (void)state;
    assert_provider_error("{\"isuer\": \"x\"}", "providers[0].isuer",
                          "unknown field");
}

static void
test_config_with_bad_validation_mode_is_refused(void **state)
{
    char *spec = jwt_spec(NULL, "{\"validationMode\": \"Lax\"}");
    (void)state;
    assert_config_error(spec, "validationMode",
                        "expected one of: Strict, AllowMissing, found "
                        "\"Lax\"");
    free(spec);
}

static void
test_config_without_jwks_is_refused(void **state)
{
    (void)state;
    assert_provider_error("{\"jwks\": null}", "providers[0].jwks",
                          "is required");
}

static void
test_config_with_both_local_and_remote_jwks_is_refused(void **state)
{
    (void)state;
    assert_provider_error(
        "{\"jwks\": {\"remote\": {\"url\": \"https://idp/jwks\"}, "
        "\"local\": {\"inline\": \"{}\"}}}",
        "providers[0].jwks", "expected one of local or remote, found both");
}

static void
test_config_with_invalid_inline_jwks_is_refused(void **state)
{
    (void)state;
    assert_provider_error("{\"jwks\": {\"local\": {\"inline\": \"{nope\"}}}",
                          "providers[0].jwks.local.inline", "invalid JSON");
    assert_provider_error(
        "{\"jwks\": {\"local\": {\"inline\": {\"keys\": [{\"kty\": \"RSA\", "
        "\"use\": \"enc\", \"n\": \"AQAB\", \"e\": \"AQAB\"}]}}}}",
        "providers[0].jwks.local.inline", "no usable signature key");
}

static void
test_config_with_jwks_as_json_text_is_accepted(void **state)
{
    char *jwks = json_dumps(json_object_get(fixture, "jwks"), JSON_COMPACT);
    json_t *changes =
        json_pack("{s:{s:{s:s}}}", "jwks", "local", "inline", jwks);
    char *text = json_dumps(changes, JSON_COMPACT);

    (void)state;
    assert_true(accepted(text, NULL, "PS512"));
    free(text);
    free(jwks);
    json_decref(changes);
}

static void
test_config_with_two_token_sources_is_refused(void **state)
{
    (void)state;
    assert_provider_error("{\"tokenSource\": {\"queryParameter\": \"t\", "
                          "\"cookie\": \"c\"}}",
                          "providers[0].tokenSource",
                          "expected exactly one of header");
}

static void
test_config_with_bad_claim_header_is_refused(void **state)
{
    (void)state;
    assert_provider_error("{\"claimsToHeaders\": [{\"name\": \"sub\", "
                          "\"header\": \"x sub\"}]}",
                          "providers[0].claimsToHeaders[0].header",
                          "expected a header name");
    assert_provider_error("{\"claimsToHeaders\": [{\"name\": \"a..b\", "
                          "\"header\": \"x-ab\"}]}",
                          "providers[0].claimsToHeaders[0].name",
                          "without empty parts");
}

static void
test_config_with_bad_durations_is_refused(void **state)
{
    (void)state;
    assert_provider_error("{\"clockSkew\": \"soon\"}", "providers[0].clockSkew",
                          "expected a duration such as \"10s\" or "
                          "\"1m30s\", found \"soon\"");
    assert_provider_error("{\"maxLifetime\": -5}", "providers[0].maxLifetime",
                          "expected an integer from 0 to 315360000, found -5");
    assert_provider_error("{\"maxLifetime\": 1.5}", "providers[0].maxLifetime",
                          "expected a duration such as \"10s\" or "
                          "\"1m30s\", found a number with a fraction");
}

static void
test_config_with_huge_clock_skew_or_max_lifetime_is_refused(void **state)
{
    (void)state;
    assert_provider_error("{\"clockSkew\": 9223372036854775807}",
                          "providers[0].clockSkew",
                          "expected an integer from 0 to 86400, found "
                          "9223372036854775807");
    assert_provider_error("{\"clockSkew\": \"25h\"}", "providers[0].clockSkew",
                          "expected a duration from 0s to 24h, found \"25h\"");
    assert_provider_error("{\"maxLifetime\": 9223372036854775807}",
                          "providers[0].maxLifetime",
                          "expected an integer from 0 to 315360000, found "
                          "9223372036854775807");
    assert_provider_error("{\"maxLifetime\": \"87601h\"}",
                          "providers[0].maxLifetime",
                          "expected a duration from 0s to 87600h, found "
                          "\"87601h\"");
    assert_provider_error("{\"jwks\": {\"remote\": {\"url\": "
                          "\"https://idp.example/jwks\", \"cacheDuration\": "
                          "9223372036854775807}}}",
                          "providers[0].jwks.remote.cacheDuration",
                          "expected an integer from 1 to 1439985600, found "
                          "9223372036854775807");
    assert_provider_error("{\"jwks\": {\"remote\": {\"url\": "
                          "\"https://idp.example/jwks\", \"cacheDuration\": "
                          "\"399997h\"}}}",
                          "providers[0].jwks.remote.cacheDuration",
                          "expected a duration from 1ms to 399996h, found "
                          "\"399997h\"");
}

static void
test_config_with_largest_clock_skew_and_max_lifetime_is_accepted(void **state)
{
    (void)state;
    assert_true(accepted("{\"clockSkew\": \"24h\", \"maxLifetime\": "
                         "\"87600h\"}",
                         NULL, "RS256"));
    assert_true(accepted("{\"clockSkew\": 86400}", NULL, "exp_max"));
}

/* Every cacheDuration kgateway's CRD accepts (up to 4 x 99999h) loads. */
static void
test_largest_cache_duration_kgateway_accepts_is_accepted(void **state)
{
    (void)state;
    char *spec = jwt_spec("{\"jwks\": {\"remote\": {\"url\": "
                          "\"https://idp.example/jwks\", \"cacheDuration\": "
                          "\"99999h99999h99999h99999h\"}}}",
                          NULL);
    gwf_test_host *h = host_with_spec(spec);

    if (gwf_test_validate(h) != 0)
        fail_msg("refused: %s", gwf_test_error(h) ? gwf_test_error(h) : "?");
    gwf_test_host_free(h);
    free(spec);
}

static void
test_config_with_duplicate_provider_names_is_refused(void **state)
{
    char *one = jwt_spec(NULL, NULL);
    json_t *spec = json_loads(one, 0, NULL);
    json_t *providers = json_object_get(spec, "providers");
    char *text;

    (void)state;
    json_array_append_new(providers,
                          json_deep_copy(json_array_get(providers, 0)));
    text = json_dumps(spec, JSON_COMPACT);
    assert_config_error(text, "providers[1].name", "expected a unique name");
    free(text);
    free(one);
    json_decref(spec);
}

static void
test_config_with_bad_cache_size_is_refused(void **state)
{
    char *spec = jwt_spec(NULL, "{\"tokenCacheSize\": -1}");
    (void)state;
    assert_config_error(spec, "tokenCacheSize",
                        "expected an integer from 0 to 1048576, found -1");
    free(spec);
}

static void
test_route_config_with_unknown_field_is_refused(void **state)
{
    char *spec = jwt_spec(NULL, NULL);
    gwf_test_host *h = host_with_spec(spec);
    gwf_test_request *req = request_with(NULL, NULL);
    static const char *const extensions[] = {NULL};
    const gwf_test_route route = {.policy = "default/bad",
                                  .extensions = extensions};

    (void)state;
    load(h, "apiVersion: gateway.kgateway.dev/v1alpha1\n"
            "kind: TrafficPolicy\n"
            "metadata: {name: bad, namespace: default}\n"
            "spec:\n"
            "  jwtAuth:\n"
            "    extensionRef: {name: jwt}\n"
            "    requireScopes: [x]\n");
    assert_null(gwf_test_run(h, &route, req));
    assert_non_null(strstr(gwf_test_error(h), "requireScopes"));
    gwf_test_request_free(req);
    gwf_test_host_free(h);
    free(spec);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pyjwt_tokens_of_every_algorithm_are_accepted),
        cmocka_unit_test(test_jwcrypto_tokens_are_accepted),
        cmocka_unit_test(
            test_token_without_kid_is_verified_by_a_key_of_its_type),
        cmocka_unit_test(test_alg_none_is_rejected),
        cmocka_unit_test(test_hs256_token_naming_an_rsa_key_is_rejected),
        cmocka_unit_test(test_tampered_signature_is_rejected),
        cmocka_unit_test(test_tampered_payload_is_rejected),
        cmocka_unit_test(test_unknown_kid_is_rejected),
        cmocka_unit_test(
            test_token_signed_by_another_key_with_known_kid_is_rejected),
        cmocka_unit_test(test_malformed_token_is_rejected),
        cmocka_unit_test(test_crit_header_is_rejected),
        cmocka_unit_test(test_oversized_token_is_rejected_without_decoding),
        cmocka_unit_test(
            test_missing_token_is_rejected_with_401_and_bearer_realm),
        cmocka_unit_test(test_header_without_bearer_prefix_counts_as_missing),
        cmocka_unit_test(test_missing_token_is_allowed_in_allow_missing_mode),
        cmocka_unit_test(test_bad_token_is_rejected_in_allow_missing_mode),
        cmocka_unit_test(test_token_place_the_host_cannot_read_is_refused),
        cmocka_unit_test(test_request_the_host_cannot_change_is_refused),
        cmocka_unit_test(test_refusal_the_host_cannot_make_is_a_500_not_a_pass),
        cmocka_unit_test(test_expired_token_is_rejected_with_401_invalid_token),
        cmocka_unit_test(test_token_expired_within_clock_skew_is_accepted),
        cmocka_unit_test(test_zero_clock_skew_rejects_a_just_expired_token),
        cmocka_unit_test(test_token_not_yet_valid_is_rejected),
        cmocka_unit_test(test_nbf_within_clock_skew_is_accepted),
        cmocka_unit_test(test_wrong_issuer_is_rejected),
        cmocka_unit_test(test_any_issuer_is_accepted_when_none_is_configured),
        cmocka_unit_test(test_wrong_audience_is_rejected_with_403),
        cmocka_unit_test(
            test_audience_list_with_an_allowed_audience_is_accepted),
        cmocka_unit_test(test_token_without_exp_is_accepted_by_default),
        cmocka_unit_test(test_require_expiration_rejects_token_without_exp),
        cmocka_unit_test(test_max_lifetime_rejects_longer_lived_token),
        cmocka_unit_test(test_claims_to_headers_copies_nested_and_array_claims),
        cmocka_unit_test(test_client_supplied_claim_header_is_removed),
        cmocka_unit_test(test_forged_claim_header_is_replaced_by_the_claim),
        cmocka_unit_test(
            test_forged_header_of_a_claim_the_token_lacks_is_removed),
        cmocka_unit_test(test_two_claims_copied_to_one_header_both_reach_it),
        cmocka_unit_test(
            test_forged_header_of_a_provider_not_chosen_is_removed),
        cmocka_unit_test(
            test_header_shared_with_a_provider_not_chosen_keeps_the_claim),
        cmocka_unit_test(test_claim_with_crlf_is_not_copied_to_a_header),
        cmocka_unit_test(test_claims_are_left_as_shared_stream_values),
        cmocka_unit_test(test_token_is_not_forwarded_by_default),
        cmocka_unit_test(test_forward_token_keeps_the_authorization_header),
        cmocka_unit_test(
            test_forward_payload_header_carries_the_base64url_payload),
        cmocka_unit_test(
            test_token_from_query_parameter_is_accepted_and_removed),
        cmocka_unit_test(test_token_from_cookie_is_accepted_and_cookie_removed),
        cmocka_unit_test(test_token_from_custom_header_with_prefix),
        cmocka_unit_test(test_second_provider_accepts_what_the_first_does_not),
        cmocka_unit_test(
            test_exp_at_int64_max_with_junk_signature_fails_on_the_signature),
        cmocka_unit_test(
            test_exp_at_int64_max_is_accepted_and_cached_without_overflow),
        cmocka_unit_test(test_exp_at_int64_min_minus_one_or_zero_is_expired),
        cmocka_unit_test(test_exp_beyond_int64_or_huge_float_is_malformed),
        cmocka_unit_test(test_nbf_at_int64_max_is_not_yet_valid),
        cmocka_unit_test(test_nbf_at_int64_min_or_minus_one_is_accepted),
        cmocka_unit_test(test_iat_at_int64_min_exceeds_max_lifetime),
        cmocka_unit_test(
            test_iat_after_exp_is_refused_when_max_lifetime_is_set),
        cmocka_unit_test(test_iat_is_not_checked_without_max_lifetime),
        cmocka_unit_test(test_validity_edges_are_exact_around_the_clock_skew),
        cmocka_unit_test(test_cached_token_expires_at_exactly_exp_plus_skew),
        cmocka_unit_test(
            test_repeated_header_with_a_forged_second_token_is_refused),
        cmocka_unit_test(
            test_value_without_the_prefix_is_not_a_token_beside_a_valid_one),
        cmocka_unit_test(test_value_without_the_prefix_alone_counts_as_missing),
        cmocka_unit_test(
            test_two_valid_tokens_in_one_header_are_refused_as_ambiguous),
        cmocka_unit_test(test_repeated_query_parameter_is_refused),
        cmocka_unit_test(
            test_percent_encoded_parameter_name_is_a_candidate_too),
        cmocka_unit_test(test_repeated_cookie_is_refused),
        cmocka_unit_test(
            test_valid_header_token_with_a_forged_query_token_is_refused),
        cmocka_unit_test(
            test_valid_tokens_in_two_places_are_accepted_and_both_removed),
        cmocka_unit_test(test_cached_token_is_still_refused_once_expired),
        cmocka_unit_test(test_cached_claims_still_reach_headers_and_values),
        cmocka_unit_test(
            test_token_differing_from_a_cached_one_in_its_last_signature_byte_is_refused),
        cmocka_unit_test(
            test_cache_stays_bounded_under_100000_distinct_valid_tokens),
        cmocka_unit_test(test_disabled_cache_verifies_every_time),
        cmocka_unit_test(test_cached_token_alone_is_decided_without_a_stream),
        cmocka_unit_test(test_cached_token_alone_is_refused_once_expired),
        cmocka_unit_test(
            test_cached_token_alone_beside_a_forged_one_is_refused),
        cmocka_unit_test(
            test_cached_token_alone_sent_twice_is_refused_without_a_stream),
        cmocka_unit_test(test_missing_token_alone_is_refused_without_a_stream),
        cmocka_unit_test(
            test_missing_token_alone_in_allow_missing_mode_loses_forged_claims),
        cmocka_unit_test(
            test_cached_token_alone_the_host_cannot_change_is_refused),
        cmocka_unit_test(
            test_refusal_alone_the_host_cannot_make_is_a_500_not_a_pass),
        cmocka_unit_test(
            test_cached_token_beside_another_plugin_is_decided_in_the_stream),
        cmocka_unit_test(test_config_without_providers_is_refused),
        cmocka_unit_test(test_config_with_unknown_field_is_refused),
        cmocka_unit_test(test_config_with_bad_validation_mode_is_refused),
        cmocka_unit_test(test_config_without_jwks_is_refused),
        cmocka_unit_test(
            test_config_with_both_local_and_remote_jwks_is_refused),
        cmocka_unit_test(test_config_with_invalid_inline_jwks_is_refused),
        cmocka_unit_test(test_config_with_jwks_as_json_text_is_accepted),
        cmocka_unit_test(test_config_with_two_token_sources_is_refused),
        cmocka_unit_test(test_config_with_bad_claim_header_is_refused),
        cmocka_unit_test(test_config_with_bad_durations_is_refused),
        cmocka_unit_test(
            test_config_with_huge_clock_skew_or_max_lifetime_is_refused),
        cmocka_unit_test(
            test_config_with_largest_clock_skew_and_max_lifetime_is_accepted),
        cmocka_unit_test(
            test_largest_cache_duration_kgateway_accepts_is_accepted),
        cmocka_unit_test(test_config_with_duplicate_provider_names_is_refused),
        cmocka_unit_test(test_config_with_bad_cache_size_is_refused),
        cmocka_unit_test(test_route_config_with_unknown_field_is_refused),
    };
    return cmocka_run_group_tests_name("jwt_auth", tests, make_fixture,
                                       free_fixture);
}
