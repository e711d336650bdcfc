/*
 * test_jwt_claims.c - JWTClaim descriptor entries: the claims the jwt_auth
 * plugin leaves on the stream ("jwt_auth.claim.<name>") become descriptor
 * values. The real jwt_auth is replaced by a stand-in (jwt_standin.c,
 * found first on the plugin path) that copies x-claim-<name> request
 * headers into those values, so the test needs no tokens.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support.h"

static redis_peer redis;

static int
setup_redis(void **state)
{
    (void)state;
    redis_peer_start(&redis);
    return 0;
}

static int
teardown_redis(void **state)
{
    (void)state;
    redis_peer_kill(&redis);
    return 0;
}

static int
flush(void **state)
{
    (void)state;
    redis_flush(&redis);
    return 0;
}

/* The GatewayExtension rl, a JWT extension (the stand-in) and a policy
 * using both; `descs` are the policy's rate-limit descriptors. */
static const char *
manifests(const char *limits, const char *jwt_spec, const char *descs)
{
    static char text[8192];
    snprintf(text, sizeof(text),
             "apiVersion: gateway.kgateway.dev/v1alpha1\n"
             "kind: GatewayExtension\n"
             "metadata: {name: rl}\n"
             "spec:\n"
             "  rateLimit: {redis: {address: \"127.0.0.1:%d\"}, domain: "
             "shop, %s}\n"
             "---\n"
             "apiVersion: gateway.kgateway.dev/v1alpha1\n"
             "kind: GatewayExtension\n"
             "metadata: {name: jwt}\n"
             "spec:\n"
             "  jwt: %s\n"
             "---\n"
             "apiVersion: gateway.kgateway.dev/v1alpha1\n"
             "kind: TrafficPolicy\n"
             "metadata: {name: api}\n"
             "spec:\n"
             "  jwtAuth: {extensionRef: {name: jwt}}\n"
             "  rateLimit:\n"
             "    global:\n"
             "      extensionRef: {name: rl}\n"
             "      descriptors: %s\n",
             redis.port, limits, jwt_spec, descs);
    return text;
}

static void
test_string_claim_is_the_descriptor_value(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(manifests(
        "descriptors: [{key: user, rate_limit: {unit: minute, "
        "requests_per_unit: 1}}]",
        "{}",
        "[{entries: [{type: JWTClaim, jwtClaim: {name: sub, key: user}}]}]"));

    assert_int_equal(status_of(h, "/", "x-claim-sub: alice"), 200);
    assert_int_equal(status_of(h, "/", "x-claim-sub: alice"), 429);
    assert_int_equal(status_of(h, "/", "x-claim-sub: bob"), 200);
    assert_true(redis_exists(&redis, "shop_user_alice_1767225600"));
    assert_true(redis_exists(&redis, "shop_user_bob_1767225600"));
    gwf_test_host_free(h);
}

static void
test_claim_name_is_the_default_key(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(manifests(
        "descriptors: [{key: sub, rate_limit: {unit: minute, "
        "requests_per_unit: 5}}]",
        "{}", "[{entries: [{type: JWTClaim, jwtClaim: {name: sub}}]}]"));

    assert_int_equal(status_of(h, "/", "x-claim-sub: carol"), 200);
    assert_true(redis_exists(&redis, "shop_sub_carol_1767225600"));
    gwf_test_host_free(h);
}

static void
test_missing_claim_skips_the_descriptor(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(manifests(
        "descriptors: [{key: sub, rate_limit: {unit: minute, "
        "requests_per_unit: 0}}]",
        "{}", "[{entries: [{type: JWTClaim, jwtClaim: {name: sub}}]}]"));

    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(status_of(h, "/", "x-claim-sub: dave"), 429);
    gwf_test_host_free(h);
}

static void
test_integer_and_boolean_claims_are_written_as_text(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(manifests(
        "descriptors: [{key: tier, descriptors: [{key: admin, rate_limit: "
        "{unit: minute, requests_per_unit: 5}}]}]",
        "{int_claims: {tier: 42}, bool_claims: {admin: true}}",
        "[{entries: [{type: JWTClaim, jwtClaim: {name: tier}}, {type: "
        "JWTClaim, jwtClaim: {name: admin}}]}]"));

    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_true(redis_exists(&redis, "shop_tier_42_admin_true_1767225600"));
    gwf_test_host_free(h);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup(f, flush)
        T(test_string_claim_is_the_descriptor_value),
        T(test_claim_name_is_the_default_key),
        T(test_missing_claim_skips_the_descriptor),
        T(test_integer_and_boolean_claims_are_written_as_text),
#undef T
    };
    return cmocka_run_group_tests(tests, setup_redis, teardown_redis);
}
