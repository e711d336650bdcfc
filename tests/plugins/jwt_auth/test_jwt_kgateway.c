/*
 * test_jwt_kgateway.c - jwt_auth with kgateway's own JWT manifests and
 * today's schema (api/v1alpha1/kgateway/jwt_types.go): PEM public keys
 * in jwks.local (kgateway turns the first PEM block into a one-key JWKS
 * bound to RS256, ES256 or EdDSA), keys from a ConfigMap's data.jwks,
 * TrafficPolicy.jwtAuth's extensionRef or disable, and kgateway's bounds.
 *
 * The first test loads the GatewayExtension and TrafficPolicy of
 * kgateway's e2e test (test/e2e/features/jwt/testdata/jwt.yaml) as they
 * are, with the tokens that test sends (signed by kgateway's test key,
 * valid until 2122), and expects what that test expects. The others use
 * fresh keys and tokens from make_tokens.py (PyJWT, cryptography).
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

#include <gwf/testing.h>

#define NOW_S 1767225600LL

static json_t *fixture; /* make_tokens.py's output */

static const char *
fixture_string(const char *group, const char *name)
{
    const char *s = json_string_value(
        json_object_get(json_object_get(fixture, group), name));
    if (!s)
        fail_msg("no %s.%s in the fixture", group, name);
    return s;
}

static const char *
token(const char *name)
{
    return fixture_string("tokens", name);
}

static const char *
pem(const char *name)
{
    return fixture_string("pem", name);
}

static int
make_fixture(void **state)
{
    char dir[] = "/tmp/jwt-kgw-XXXXXX", cmd[1024], path[256];
    const char *script = getenv("JWT_MAKE_TOKENS");
    json_error_t err;

    (void)state;
    if (!script || !mkdtemp(dir))
        return -1;
    snprintf(path, sizeof(path), "%s/tokens.json", dir);
    snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s %lld %s", script, NOW_S,
             path);
    if (system(cmd) != 0) {
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

/* -- Hosts and requests ---------------------------------------------------- */

static void
load(gwf_test_host *h, const char *text)
{
    if (gwf_test_load_text(h, text) != 0)
        fail_msg("load: %s", gwf_test_error(h));
}

static const char policy_api[] = "apiVersion: gateway.kgateway.dev/v1alpha1\n"
                                 "kind: TrafficPolicy\n"
                                 "metadata: {name: api, namespace: default}\n"
                                 "spec:\n"
                                 "  jwtAuth:\n"
                                 "    extensionRef: {name: jwt}\n";

/* default/jwt whose one provider "p" (issuer https://issuer.example) has
 * `jwks` (a JSON value), plus the policy default/api using it. Returns
 * NULL-free host; loading errors fail the test. */
static gwf_test_host *
host_with_jwks(json_t *jwks)
{
    gwf_test_host *h = gwf_test_host_new();
    json_t *doc = json_pack(
        "{s:s, s:s, s:{s:s, s:s}, s:{s:{s:[{s:s, s:s, s:o, s:[{s:s, s:s}]}]}}}",
        "apiVersion", "gateway.kgateway.dev/v1alpha1", "kind",
        "GatewayExtension", "metadata", "name", "jwt", "namespace", "default",
        "spec", "jwt", "providers", "name", "p", "issuer",
        "https://issuer.example", "jwks", jwks, "claimsToHeaders", "name",
        "sub", "header", "x-sub");
    char *text;

    assert_non_null(h);
    assert_non_null(doc);
    text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    load(h, text);
    free(text);
    load(h, policy_api);
    return h;
}

/* jwks.local.inline: `text`. */
static gwf_test_host *
host_with_inline(const char *text)
{
    return host_with_jwks(json_pack("{s:{s:s}}", "local", "inline", text));
}

static gwf_test_result *
run_path(gwf_test_host *h, const char *policy, const char *path,
         const char *authorization)
{
    const gwf_test_route route = {.policy = policy};
    gwf_test_request *req = gwf_test_request_new("GET", path);
    gwf_test_result *res;

    assert_non_null(req);
    if (authorization)
        gwf_test_request_header(req, "authorization", authorization);
    res = gwf_test_run(h, &route, req);
    gwf_test_request_free(req);
    if (!res)
        fail_msg("run: %s", gwf_test_error(h));
    return res;
}

static gwf_test_result *
run_with(gwf_test_host *h, const char *policy, const char *authorization)
{
    return run_path(h, policy, "/get", authorization);
}

static gwf_test_result *
run_bearer(gwf_test_host *h, const char *raw_token)
{
    char value[20000];

    snprintf(value, sizeof(value), "Bearer %s", raw_token);
    return run_with(h, "default/api", value);
}

static void
assert_outcome(gwf_test_result *res, int outcome, int status,
               const char *body_part)
{
    size_t len = 0;
    const char *body = gwf_test_body(res, &len);

    if (gwf_test_outcome(res) != outcome || gwf_test_status(res) != status ||
        (body_part && (!body || !strstr(body, body_part))))
        fail_msg("expected outcome %d status %d body \"%s\", got %d %d: %.*s",
                 outcome, status, body_part ? body_part : "",
                 gwf_test_outcome(res), gwf_test_status(res), (int)len,
                 body ? body : "");
}

/* Token `name` with keys `h`: forwarded (1) or refused with 401 (0). */
static int
accepted(gwf_test_host *h, const char *name)
{
    gwf_test_result *res = run_bearer(h, token(name));
    int outcome = gwf_test_outcome(res), status = gwf_test_status(res);

    gwf_test_result_free(res);
    if (outcome == GWF_TEST_FORWARDED)
        return 1;
    assert_int_equal(outcome, GWF_TEST_LOCAL_REPLY);
    assert_int_equal(status, 401);
    return 0;
}

static void
assert_error(gwf_test_host *h, const char *field, const char *message)
{
    const char *err;

    assert_int_equal(gwf_test_validate(h), -1);
    err = gwf_test_error(h);
    if (!err || !strstr(err, field) || !strstr(err, message))
        fail_msg("want \"%s\" and \"%s\" in:\n%s", field, message,
                 err ? err : "(none)");
    gwf_test_host_free(h);
}

/* -- kgateway's e2e manifest ----------------------------------------------- */

/* test/e2e/features/jwt/testdata/jwt.yaml: its GatewayExtension (with the
 * deprecated `type: JWT`) and TrafficPolicy, unchanged. */
static const char e2e_extension[] =
    "apiVersion: gateway.kgateway.dev/v1alpha1\n"
    "kind: GatewayExtension\n"
    "metadata:\n"
    "  name: basic-jwt-provider\n"
    "  namespace: default\n"
    "spec:\n"
    "  jwt:\n"
    "    providers:\n"
    "    - name: my-example\n"
    "      claimsToHeaders:\n"
    "        - name: org\n"
    "          header: x-org\n"
    "        - name: email\n"
    "          header: x-email\n"
    "      issuer: https://dev.example.com\n"
    "      jwks:\n"
    "        local:\n"
    "          inline: |\n"
    "            -----BEGIN PUBLIC KEY-----\n"
    "            "
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAruK9KacQjDePRyfG7oPI\n"
    "            "
    "aqAIyCeOCBIGB2nBbDLGp1Szdm7rsWcrzGf7Avpa/ijLV9huoNvpdflld4B+SaT7\n"
    "            "
    "m3EDDMDUyA4LayJC5JBI10Qfu3Qn8BEpcdN2uRiycXOzgsoIXneXp9hENlS5Vsr3\n"
    "            "
    "ur5BaBCc+BZZRRaXDTLy6KyD1Pyd6XRsxyZXt/SYOIww0NSt5u0CTyZUGJhQungJ\n"
    "            "
    "pI8Hhrzdf87mLZGZd16dOGObE5LqFwk2prN3D0+owLsA25WJOPZXizxpTB4tPvJu\n"
    "            "
    "YGATajDpzrHf+WXgOgvwyxaHJSN/fE+eFuRT3ooDaAuytsfYotsn4z/ajdEPSwXY\n"
    "            CwIDAQAB\n"
    "            -----END PUBLIC KEY-----\n";

static const char e2e_policy[] = "apiVersion: gateway.kgateway.dev/v1alpha1\n"
                                 "kind: TrafficPolicy\n"
                                 "metadata:\n"
                                 "  name: jwt-policy\n"
                                 "  namespace: default\n"
                                 "spec:\n"
                                 "  jwtAuth:\n"
                                 "    extensionRef:\n"
                                 "      name: basic-jwt-provider\n";

/* The e2e suite's tokens (suite.go): dev1 signed by the key above; "bad"
 * the same claims for dev2, signed by another key. */
static const char e2e_dev1[] =
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJpc3MiOiJodHRwczovL2Rldi5leGFtcGxlLmNvbSIsImV4cCI6NDgwNDMyNDczNiwiaWF0"
    "IjoxNjQ4NjUxMTM2LCJvcmciOiJpbnRlcm5hbCIsImVtYWlsIjoiZGV2MUBrZ2F0ZXdheS5p"
    "byIsImdyb3VwIjoiZW5naW5lZXJpbmciLCJzY29wZSI6ImlzOmRldmVsb3BlciJ9."
    "pqzk87Gny6mT8Gk7CVfkminm3u9CrNPhRt0oElwmfwZ7Jak1Ss4iOZ7MSZEgZFPxGiaz3DQy"
    "vos65dqbM_e4RaLYXb9fFYylaBl8kE8bhqMnXfPBNp9C4XTsSz4mR-eUvnkXXZ31dhMkoZvw"
    "IswWXR50wZ0rC6NF60Tye0sHJRdDcwL5778wDzLnualvtIiL-CbhWzXgRmjcrK3sbikLCHBj"
    "QiTEyBMPOVqS5NqJBgd7ZW1UASoxuxjCLsN8tBIaAFSACf8FZggAh9vEUJ_uc39kvOKQ0vs0"
    "pxvoYtsMPcndBYhws6IUhx_iF__qs_zz9mDNp8aMbXSlEdJG30wiRA";
static const char e2e_bad[] =
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJpc3MiOiJodHRwczovL2Rldi5leGFtcGxlLmNvbSIsImV4cCI6NDgwNDMyNDczNiwiaWF0"
    "IjoxNjQ4NjUxMTM2LCJvcmciOiJpbnRlcm5hbCIsImVtYWlsIjoiZGV2MkBrZ2F0ZXdheS5p"
    "byIsImdyb3VwIjoiZW5naW5lZXJpbmciLCJzY29wZSI6ImlzOmRldmVsb3BlciJ9."
    "pduAl6C0YofLSTUNcQuSd5dvrN-B8eE0pbOJJ9h5Fyh-k1HQQzSpZ47HJngclFmfcWk25qyJ"
    "fLOnuVuA4PV6PwanPovL5YpdLlAbjHZPfDwsR1v8zUzb97yl-hbQzYCiA8coHO6rQE8hOYD5"
    "9-DXkH6acuU8nVm3sv6VUA8zR5XpxZfJHJfRu8TZUFowk3FFrdh3nUSeeXLtm0YxN9uVEHKe"
    "3v_UEdMBUzri7wC1saKy7CcpikpBwd7itPMpT87BL_f1LvJf7LUEChRC-sp2LYsyjT-rme4Y"
    "ufPp1vVi5dMSCpfmvB1XlgFKzmGBPKvDJPta1DNOmHqEmKmgOQBCmw";

static gwf_test_host *
e2e_host(void)
{
    gwf_test_host *h = gwf_test_host_new();

    assert_non_null(h);
    load(h, e2e_extension);
    load(h, e2e_policy);
    return h;
}

static void
test_kgateway_e2e_manifest_accepts_dev1_with_claim_headers(void **state)
{
    gwf_test_host *h = e2e_host();
    char value[2048];
    gwf_test_result *res;

    (void)state;
    snprintf(value, sizeof(value), "Bearer %s", e2e_dev1);
    res = run_with(h, "default/jwt-policy", value);
    assert_outcome(res, GWF_TEST_FORWARDED, 200, NULL);
    assert_string_equal(gwf_test_upstream_header(res, "x-org", 0), "internal");
    assert_string_equal(gwf_test_upstream_header(res, "x-email", 0),
                        "dev1@kgateway.io");
    assert_null(gwf_test_upstream_header(res, "authorization", 0));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_kgateway_e2e_manifest_refuses_missing_and_badly_signed_tokens(void **state)
{
    gwf_test_host *h = e2e_host();
    char value[2048];
    gwf_test_result *res;

    (void)state;
    res = run_with(h, "default/jwt-policy", NULL);
    assert_outcome(res, GWF_TEST_LOCAL_REPLY, 401, "Jwt is missing");
    gwf_test_result_free(res);
    snprintf(value, sizeof(value), "Bearer %s", e2e_bad);
    res = run_with(h, "default/jwt-policy", value);
    assert_outcome(res, GWF_TEST_LOCAL_REPLY, 401, "Jwt verification fails");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* The deprecated spec.type: JWT beside spec.jwt is accepted (the
 * runtime's rule for kgateway's deprecated type fields). */
static void
test_kgateway_e2e_extension_with_deprecated_type_loads(void **state)
{
    gwf_test_host *h = gwf_test_host_new();
    char text[4096];
    const char *spec = strstr(e2e_extension, "spec:\n");

    (void)state;
    assert_non_null(h);
    snprintf(text, sizeof(text), "%.*sspec:\n  type: JWT\n%s",
             (int)(spec - e2e_extension), e2e_extension, spec + 6);
    load(h, text);
    load(h, e2e_policy);
    if (gwf_test_validate(h) != 0)
        fail_msg("refused: %s", gwf_test_error(h));
    gwf_test_host_free(h);
}

/* -- PEM keys -------------------------------------------------------------- */

/* Envoy's rule: a key without kid (every PEM key) verifies tokens whatever
 * kid they name; kgateway binds an RSA PEM key to RS256. */
static void
test_pem_rsa_key_verifies_rs256_tokens_whatever_their_kid(void **state)
{
    gwf_test_host *h = host_with_inline(pem("rsa"));

    (void)state;
    assert_true(accepted(h, "RS256"));        /* kid rsa1 */
    assert_true(accepted(h, "RS256_no_kid")); /* no kid */
    gwf_test_host_free(h);
}

static void
test_pem_rsa_key_is_bound_to_rs256(void **state)
{
    gwf_test_host *h = host_with_inline(pem("rsa"));

    (void)state;
    assert_false(accepted(h, "RS384"));
    assert_false(accepted(h, "PS256"));
    assert_false(accepted(h, "ES256"));
    gwf_test_host_free(h);
}

static void
test_pkcs1_rsa_public_key_pem_verifies_rs256(void **state)
{
    gwf_test_host *h = host_with_inline(pem("rsa_pkcs1"));

    (void)state;
    assert_true(accepted(h, "RS256"));
    gwf_test_host_free(h);
}

static void
test_pem_ec_p256_key_verifies_es256(void **state)
{
    gwf_test_host *h = host_with_inline(pem("ec256"));

    (void)state;
    assert_true(accepted(h, "ES256"));
    assert_true(accepted(h, "ES256_no_kid"));
    assert_false(accepted(h, "RS256"));
    gwf_test_host_free(h);
}

static void
test_pem_ed25519_key_verifies_eddsa(void **state)
{
    gwf_test_host *h = host_with_inline(pem("ed25519"));

    (void)state;
    assert_true(accepted(h, "EdDSA"));
    assert_false(accepted(h, "ES256"));
    gwf_test_host_free(h);
}

/* Text before the BEGIN line is skipped and only the first block counts,
 * as Go's pem.Decode in kgateway reads it. */
static void
test_only_the_first_pem_block_counts(void **state)
{
    char text[8192];
    gwf_test_host *h;

    (void)state;
    snprintf(text, sizeof(text), "our signing key:\n%s%s", pem("ec256"),
             pem("rsa"));
    h = host_with_inline(text);
    assert_true(accepted(h, "ES256"));
    assert_false(accepted(h, "RS256"));
    gwf_test_host_free(h);
}

/* kgateway binds every PEM EC key to ES256, which a P-384 key can never
 * verify: refused at config time rather than refusing every token. */
static void
test_pem_ec_p384_key_is_a_config_error(void **state)
{
    (void)state;
    assert_error(host_with_inline(pem("ec384")),
                 "providers[0].jwks.local.inline", "needs a P-256 key");
}

static void
test_pem_private_key_or_certificate_is_a_config_error(void **state)
{
    (void)state;
    assert_error(host_with_inline(pem("ec256_private")),
                 "providers[0].jwks.local.inline",
                 "expected a PEM block \"PUBLIC KEY\" or \"RSA PUBLIC KEY\"");
    assert_error(host_with_inline(pem("certificate")),
                 "providers[0].jwks.local.inline",
                 "expected a PEM block \"PUBLIC KEY\" or \"RSA PUBLIC KEY\"");
    assert_error(host_with_inline("-----BEGIN PUBLIC KEY-----\nAAAA\n"
                                  "-----END PUBLIC KEY-----\n"),
                 "providers[0].jwks.local.inline",
                 "the PEM block is not a valid public key");
}

/* The alg-confusion attack on PEM keys: HS256 with the configured PEM
 * text as the HMAC secret. The key is an RSA key bound to RS256: never an
 * HMAC secret. */
static void
test_hs256_token_signed_with_the_pem_text_is_rejected(void **state)
{
    gwf_test_host *h = host_with_inline(pem("rsa"));

    (void)state;
    assert_false(accepted(h, "hs256_with_rsa_pem"));
    assert_false(accepted(h, "hs256_with_rsa_pem_trimmed"));
    gwf_test_host_free(h);
}

/* kgateway's MaxLength of inline is 16384. */
static void
test_inline_keys_longer_than_16384_characters_are_refused(void **state)
{
    char *big = malloc(16386);

    (void)state;
    assert_non_null(big);
    memset(big, ' ', 16385);
    big[16385] = 0;
    memcpy(big, "{\"keys\": []}", 12);
    assert_error(host_with_inline(big), "providers[0].jwks.local.inline",
                 "expected 1 to 16384 characters, found 16385");
    free(big);
}

/* -- ConfigMap --------------------------------------------------------------
 */

/* A ConfigMap default/`name` whose data.jwks is `text` (JSON-escaped). */
static void
load_config_map(gwf_test_host *h, const char *name, const char *key,
                const char *text)
{
    json_t *doc = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s}}", "apiVersion",
                            "v1", "kind", "ConfigMap", "metadata", "name", name,
                            "namespace", "default", "data", key, text);
    char *json = json_dumps(doc, JSON_COMPACT);

    assert_non_null(json);
    load(h, json);
    free(json);
    json_decref(doc);
}

static gwf_test_host *
host_with_config_map_ref(const char *name)
{
    return host_with_jwks(
        json_pack("{s:{s:{s:s}}}", "local", "configMapRef", "name", name));
}

static void
test_jwks_from_a_config_map_verifies_tokens(void **state)
{
    char *jwks = json_dumps(json_object_get(fixture, "jwks"), JSON_COMPACT);
    gwf_test_host *h = host_with_config_map_ref("keys");

    (void)state;
    load_config_map(h, "keys", "jwks", jwks);
    free(jwks);
    assert_true(accepted(h, "PS384"));
    assert_true(accepted(h, "EdDSA"));
    gwf_test_host_free(h);
}

static void
test_pem_key_from_a_config_map_verifies_tokens(void **state)
{
    gwf_test_host *h = host_with_config_map_ref("pem-key");

    (void)state;
    load_config_map(h, "pem-key", "jwks", pem("rsa"));
    assert_true(accepted(h, "RS256"));
    assert_false(accepted(h, "PS256"));
    gwf_test_host_free(h);
}

static void
test_config_map_mistakes_name_the_field(void **state)
{
    gwf_test_host *h;

    (void)state;
    assert_error(host_with_config_map_ref("absent"),
                 "providers[0].jwks.local.configMapRef.name",
                 "ConfigMap absent not found");
    h = host_with_config_map_ref("keys");
    load_config_map(h, "keys", "keys.json", pem("rsa"));
    assert_error(h, "providers[0].jwks.local.configMapRef.name",
                 "ConfigMap keys: expected a non-empty data key \"jwks\"");
    h = host_with_config_map_ref("keys");
    load_config_map(h, "keys", "jwks", "not keys");
    assert_error(h, "providers[0].jwks.local.configMapRef.name",
                 "expected a JWKS with a usable signature key: invalid JSON");
    assert_error(
        host_with_jwks(json_pack("{s:{s:{s:s, s:s}}}", "local", "configMapRef",
                                 "name", "k", "namespace", "other")),
        "providers[0].jwks.local.configMapRef.namespace", "unknown field");
    assert_error(
        host_with_jwks(json_pack("{s:{s:s, s:{s:s}}}", "local", "inline",
                                 pem("rsa"), "configMapRef", "name", "k")),
        "providers[0].jwks.local",
        "expected exactly one of inline or configMapRef, found 2");
}

/* -- Schema bounds ----------------------------------------------------------
 */

/* default/jwt with spec.jwt `spec` (JSON text). */
static gwf_test_host *
host_with_spec(const char *spec)
{
    gwf_test_host *h = gwf_test_host_new();
    char doc[80000];

    assert_non_null(h);
    snprintf(doc, sizeof(doc),
             "{\"apiVersion\": \"gateway.kgateway.dev/v1alpha1\", \"kind\": "
             "\"GatewayExtension\", \"metadata\": {\"name\": \"jwt\", "
             "\"namespace\": \"default\"}, \"spec\": {\"jwt\": %s}}",
             spec);
    load(h, doc);
    load(h, policy_api);
    return h;
}

/* One provider `{"jwks": <ec256 PEM>, <members>}` (JSON text). */
static gwf_test_host *
host_with_provider(const char *members)
{
    json_t *pem_text = json_string(pem("ec256"));
    char *key = json_dumps(pem_text, JSON_ENCODE_ANY);
    char spec[8192];
    gwf_test_host *h;

    json_decref(pem_text);
    assert_non_null(key);
    snprintf(spec, sizeof(spec),
             "{\"providers\": [{\"jwks\": {\"local\": {\"inline\": %s}}%s%s}]}",
             key, members[0] ? ", " : "", members);
    free(key);
    h = host_with_spec(spec);
    return h;
}

static void
test_provider_name_is_required_and_bounded_as_in_kgateway(void **state)
{
    char name[300], members[400];

    (void)state;
    assert_error(host_with_provider(""), "providers[0].name", "is required");
    memset(name, 'n', 254);
    name[254] = 0;
    snprintf(members, sizeof(members), "\"name\": \"%s\"", name);
    assert_error(host_with_provider(members), "providers[0].name",
                 "expected at most 253 characters, found 254");
}

static void
test_more_than_32_providers_are_refused(void **state)
{
    char spec[8192] = "{\"providers\": [";

    (void)state;
    for (int i = 0; i < 33; i++)
        snprintf(spec + strlen(spec), sizeof(spec) - strlen(spec),
                 "%s{\"name\": \"p%d\", \"jwks\": {\"remote\": {\"url\": "
                 "\"https://idp.example/keys\"}}}",
                 i ? ", " : "", i);
    strcat(spec, "]}");
    assert_error(host_with_spec(spec), "providers",
                 "expected a list of at most 32 items, found 33");
}

static void
test_empty_lists_and_prefixes_kgateway_refuses_are_refused(void **state)
{
    (void)state;
    assert_error(host_with_provider("\"name\": \"p\", \"audiences\": []"),
                 "providers[0].audiences", "expected a list of at least 1");
    assert_error(host_with_provider("\"name\": \"p\", \"claimsToHeaders\": []"),
                 "providers[0].claimsToHeaders",
                 "expected a list of at least 1");
    assert_error(host_with_provider("\"name\": \"p\", \"tokenSource\": "
                                    "{\"header\": {\"prefix\": \"Bearer \"}}"),
                 "providers[0].tokenSource.header.header", "is required");
    assert_error(host_with_provider("\"name\": \"p\", \"tokenSource\": "
                                    "{\"header\": {\"header\": \"x-jwt\", "
                                    "\"prefix\": \"\"}}"),
                 "providers[0].tokenSource.header.prefix",
                 "expected a non-empty string");
    assert_error(host_with_spec("{\"providers\": [{\"name\": \"p\", "
                                "\"jwks\": {}}]}"),
                 "providers[0].jwks",
                 "expected one of local or remote, found none");
}

/* kgateway's issuer is a plain string: "" is no issuer check. */
static void
test_empty_issuer_accepts_any_issuer(void **state)
{
    gwf_test_host *h = host_with_provider("\"name\": \"p\", \"issuer\": \"\"");

    (void)state;
    assert_true(accepted(h, "ES256"));
    gwf_test_host_free(h);
}

/* -- Envoy's default token places ---------------------------------------------
 */

/* Without tokenSource kgateway sets no location, and Envoy then reads
 * Authorization: Bearer and ?access_token=. The token is removed from
 * the query too (forwardToken false). */
static void
test_without_token_source_access_token_query_is_read_and_removed(void **state)
{
    gwf_test_host *h = host_with_inline(pem("rsa"));
    char path[4096];
    gwf_test_result *res;

    (void)state;
    snprintf(path, sizeof(path), "/get?a=1&access_token=%s&b=2",
             token("RS256"));
    res = run_path(h, "default/api", path, NULL);
    assert_outcome(res, GWF_TEST_FORWARDED, 200, NULL);
    assert_string_equal(gwf_test_upstream_path(res), "/get?a=1&b=2");
    assert_string_equal(gwf_test_upstream_header(res, "x-sub", 0), "alice");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* Both default places are looked at: a forged ?access_token= beside a
 * valid bearer token is refused, as Envoy verifies every token found. */
static void
test_forged_access_token_beside_a_valid_bearer_token_is_refused(void **state)
{
    gwf_test_host *h = host_with_inline(pem("rsa"));
    char path[4096], bearer[4096];
    gwf_test_result *res;

    (void)state;
    snprintf(path, sizeof(path), "/get?access_token=%s",
             token("tampered_signature"));
    snprintf(bearer, sizeof(bearer), "Bearer %s", token("RS256"));
    res = run_path(h, "default/api", path, bearer);
    assert_outcome(res, GWF_TEST_LOCAL_REPLY, 401, "Jwt verification fails");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* With a tokenSource, only that place is read. */
static void
test_with_a_token_source_access_token_query_is_not_read(void **state)
{
    gwf_test_host *h = host_with_provider(
        "\"name\": \"p\", \"tokenSource\": {\"header\": {\"header\": "
        "\"x-jwt\"}}");
    char path[4096];
    gwf_test_result *res;

    (void)state;
    snprintf(path, sizeof(path), "/get?access_token=%s", token("ES256"));
    res = run_path(h, "default/api", path, NULL);
    assert_outcome(res, GWF_TEST_LOCAL_REPLY, 401, "Jwt is missing");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* -- TrafficPolicy.jwtAuth --------------------------------------------------
 */

static gwf_test_host *
host_with_route_policy(const char *jwt_auth)
{
    gwf_test_host *h = host_with_inline(pem("ec256"));
    char doc[1024];

    snprintf(doc, sizeof(doc),
             "apiVersion: gateway.kgateway.dev/v1alpha1\n"
             "kind: TrafficPolicy\n"
             "metadata: {name: route, namespace: default}\n"
             "spec:\n"
             "  jwtAuth: %s\n",
             jwt_auth);
    load(h, doc);
    return h;
}

/* kgateway's jwt-disable e2e: a route whose policy says
 * `jwtAuth: {disable: {}}` serves a request without a token. */
static void
test_jwt_auth_disable_lets_a_request_without_token_through(void **state)
{
    gwf_test_host *h = host_with_route_policy("{disable: {}}");
    gwf_test_result *res = run_with(h, "default/route", NULL);

    (void)state;
    assert_outcome(res, GWF_TEST_FORWARDED, 200, NULL);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
assert_route_error(const char *jwt_auth, const char *message)
{
    gwf_test_host *h = host_with_route_policy(jwt_auth);
    const gwf_test_route route = {.policy = "default/route"};
    gwf_test_request *req = gwf_test_request_new("GET", "/get");
    gwf_test_result *res = gwf_test_run(h, &route, req);

    gwf_test_request_free(req);
    if (res) {
        gwf_test_result_free(res);
        fail_msg("jwtAuth %s was accepted", jwt_auth);
    }
    if (!strstr(gwf_test_error(h), message))
        fail_msg("want \"%s\" in:\n%s", message, gwf_test_error(h));
    gwf_test_host_free(h);
}

/* kgateway's PolicyDisable is an empty object and its extensionRef a
 * {name, namespace}: anything else in them is refused by name. (Both
 * extensionRef and disable at once is the runtime's to refuse: with
 * disable it never hands jwt_auth the section.) */
static void
test_jwt_auth_disable_and_extension_ref_take_only_their_fields(void **state)
{
    (void)state;
    assert_route_error("{disable: {all: true}}", "unknown field");
    assert_route_error("{extensionRef: {name: jwt, kind: GatewayExtension}}",
                       "unknown field");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_kgateway_e2e_manifest_accepts_dev1_with_claim_headers),
        cmocka_unit_test(
            test_kgateway_e2e_manifest_refuses_missing_and_badly_signed_tokens),
        cmocka_unit_test(
            test_kgateway_e2e_extension_with_deprecated_type_loads),
        cmocka_unit_test(
            test_pem_rsa_key_verifies_rs256_tokens_whatever_their_kid),
        cmocka_unit_test(test_pem_rsa_key_is_bound_to_rs256),
        cmocka_unit_test(test_pkcs1_rsa_public_key_pem_verifies_rs256),
        cmocka_unit_test(test_pem_ec_p256_key_verifies_es256),
        cmocka_unit_test(test_pem_ed25519_key_verifies_eddsa),
        cmocka_unit_test(test_only_the_first_pem_block_counts),
        cmocka_unit_test(test_pem_ec_p384_key_is_a_config_error),
        cmocka_unit_test(test_pem_private_key_or_certificate_is_a_config_error),
        cmocka_unit_test(test_hs256_token_signed_with_the_pem_text_is_rejected),
        cmocka_unit_test(
            test_inline_keys_longer_than_16384_characters_are_refused),
        cmocka_unit_test(test_jwks_from_a_config_map_verifies_tokens),
        cmocka_unit_test(test_pem_key_from_a_config_map_verifies_tokens),
        cmocka_unit_test(test_config_map_mistakes_name_the_field),
        cmocka_unit_test(
            test_provider_name_is_required_and_bounded_as_in_kgateway),
        cmocka_unit_test(test_more_than_32_providers_are_refused),
        cmocka_unit_test(
            test_empty_lists_and_prefixes_kgateway_refuses_are_refused),
        cmocka_unit_test(test_empty_issuer_accepts_any_issuer),
        cmocka_unit_test(
            test_without_token_source_access_token_query_is_read_and_removed),
        cmocka_unit_test(
            test_forged_access_token_beside_a_valid_bearer_token_is_refused),
        cmocka_unit_test(
            test_with_a_token_source_access_token_query_is_not_read),
        cmocka_unit_test(
            test_jwt_auth_disable_lets_a_request_without_token_through),
        cmocka_unit_test(
            test_jwt_auth_disable_and_extension_ref_take_only_their_fields),
    };
    return cmocka_run_group_tests_name("jwt_kgateway", tests, make_fixture,
                                       free_fixture);
}
