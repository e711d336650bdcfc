/*
 * test_token.c - the pieces under jwt_auth's verifier, one rule per test:
 * strict base64url, compact-form splitting, header rules, the key-import
 * refusals of jwks.c, and the verified-token cache (cache.c).
 *
 * Tokens and keys here are RFC 7515's appendix examples (public test
 * values), read from tests/vectors/jws.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jwt_auth.h"

static json_t *
vector(const char *name)
{
    char path[4096];
    json_error_t err;
    json_t *v;

    snprintf(path, sizeof(path), "%s/%s", getenv("JWT_VECTOR_DIR"), name);
    v = json_load_file(path, 0, &err);
    if (!v)
        fail_msg("%s: %s", path, err.text);
    return v;
}

static jwt_result
verify_with(const char *token, const json_t *jwk)
{
    jwt_jwks *set = jwt_jwks_from_json(jwk, NULL, 0, NULL, 0);
    jwt_jws jws;
    jwt_result r;

    assert_non_null(set);
    r = jwt_jws_parse(token, strlen(token), &jws);
    if (r == JWT_OK) {
        r = jwt_jws_verify(&jws, set);
        jwt_jws_clear(&jws);
    }
    jwt_jwks_free(set);
    return r;
}

static jwt_result
parse(const char *token)
{
    jwt_jws jws;
    jwt_result r = jwt_jws_parse(token, strlen(token), &jws);
    if (r == JWT_OK)
        jwt_jws_clear(&jws);
    return r;
}

static int
decodes(const char *text)
{
    unsigned char *out;
    size_t len;
    if (jwt_b64url_decode(text, strlen(text), &out, &len) != 0)
        return 0;
    free(out);
    return 1;
}

static void
test_base64url_round_trips(void **state)
{
    const unsigned char bytes[] = {0xfb, 0xff, 0x00, 0x41, 0x42};
    char text[16];
    unsigned char *out;
    size_t len;

    (void)state;
    for (size_t n = 0; n <= sizeof(bytes); n++) {
        jwt_b64url_encode(bytes, n, text);
        assert_int_equal(jwt_b64url_decode(text, strlen(text), &out, &len), 0);
        assert_int_equal(len, n);
        assert_memory_equal(out, bytes, n);
        free(out);
    }
}

static void
test_base64url_with_padding_or_standard_alphabet_is_rejected(void **state)
{
    (void)state;
    assert_true(decodes("QUI"));
    assert_false(decodes("QUI="));
    assert_false(decodes("+/8"));
    assert_false(decodes("QUI?"));
    assert_false(decodes("Q")); /* a lone 6-bit group is no byte */
}

static void
test_base64url_with_nonzero_unused_bits_is_rejected(void **state)
{
    (void)state;
    assert_true(decodes("QQ"));  /* "A" */
    assert_false(decodes("QR")); /* same byte, stray low bits */
    assert_true(decodes("QUI"));
    assert_false(decodes("QUJ"));
}

static void
test_token_without_exactly_three_parts_is_malformed(void **state)
{
    (void)state;
    assert_int_equal(parse("a.b"), JWT_ERR_MALFORMED);
    assert_int_equal(parse("eyJhbGciOiJIUzI1NiJ9.e30.AA.AA"),
                     JWT_ERR_MALFORMED);
    assert_int_equal(parse(".e30.AAAA"), JWT_ERR_MALFORMED);
    assert_int_equal(parse(""), JWT_ERR_MALFORMED);
}

static void
test_token_without_signature_is_malformed(void **state)
{
    (void)state;
    /* {"alg":"HS256"} */
    assert_int_equal(parse("eyJhbGciOiJIUzI1NiJ9.e30."), JWT_ERR_MALFORMED);
}

static void
test_header_with_duplicate_members_is_malformed(void **state)
{
    char token[256], h64[128];
    const char *header = "{\"alg\":\"HS256\",\"alg\":\"none\"}";

    (void)state;
    jwt_b64url_encode((const unsigned char *)header, strlen(header), h64);
    snprintf(token, sizeof(token), "%s.e30.AAAA", h64);
    assert_int_equal(parse(token), JWT_ERR_MALFORMED);
}

static void
test_header_without_string_alg_is_malformed(void **state)
{
    (void)state;
    /* {"alg":1} and {"typ":"JWT"} */
    assert_int_equal(parse("eyJhbGciOjF9.e30.AAAA"), JWT_ERR_MALFORMED);
    assert_int_equal(parse("eyJ0eXAiOiJKV1QifQ.e30.AAAA"), JWT_ERR_MALFORMED);
}

static void
test_lowercase_or_unknown_alg_is_not_allowed(void **state)
{
    (void)state;
    /* {"alg":"rs256"} and {"alg":"none"} */
    assert_int_equal(parse("eyJhbGciOiJyczI1NiJ9.e30.AAAA"), JWT_ERR_ALG);
    assert_int_equal(parse("eyJhbGciOiJub25lIn0.e30.AAAA"), JWT_ERR_ALG);
}

static void
test_token_longer_than_the_limit_is_refused_before_decoding(void **state)
{
    char *token = malloc(JWT_MAX_TOKEN_LEN + 2);
    jwt_jws jws;

    (void)state;
    assert_non_null(token);
    memset(token, 'A', JWT_MAX_TOKEN_LEN + 1);
    token[JWT_MAX_TOKEN_LEN + 1] = 0;
    assert_int_equal(jwt_jws_parse(token, JWT_MAX_TOKEN_LEN + 1, &jws),
                     JWT_ERR_TOO_LARGE);
    free(token);
}

static void
test_ecdsa_signature_of_wrong_length_is_rejected(void **state)
{
    json_t *v = vector("rfc7515-A.3-ES256.json");
    char token[1024];
    size_t len;

    (void)state;
    strcpy(token, json_string_value(json_object_get(v, "token")));
    assert_int_equal(verify_with(token, json_object_get(v, "jwk")), JWT_OK);
    {
        /* The same r || s, one byte shorter, re-encoded canonically. */
        char *dot = strrchr(token, '.');
        unsigned char *sig;
        size_t sig_len;
        assert_int_equal(
            jwt_b64url_decode(dot + 1, strlen(dot + 1), &sig, &sig_len), 0);
        assert_int_equal(sig_len, 64);
        len = (size_t)(dot + 1 - token);
        jwt_b64url_encode(sig, 63, token + len);
        free(sig);
    }
    assert_int_equal(verify_with(token, json_object_get(v, "jwk")),
                     JWT_ERR_SIGNATURE);
    json_decref(v);
}

static void
test_kid_selects_the_key_and_an_unknown_kid_finds_none(void **state)
{
    json_t *v = vector("rfc7515-A.1-HS256.json");
    const char *token = json_string_value(json_object_get(v, "token"));
    json_t *jwk = json_deep_copy(json_object_get(v, "jwk"));
    char header_kid[256], t2[1024];
    const char *header = "{\"alg\":\"HS256\",\"kid\":\"other\"}";
    jwt_jwks *set;
    jwt_jws jws;

    (void)state;
    json_object_set_new(jwk, "kid", json_string("k1"));
    set = jwt_jwks_from_json(jwk, NULL, 0, NULL, 0);
    assert_non_null(set);
    /* No kid in the token: every HMAC key is tried. */
    assert_int_equal(jwt_jws_parse(token, strlen(token), &jws), JWT_OK);
    assert_int_equal(jwt_jws_verify(&jws, set), JWT_OK);
    jwt_jws_clear(&jws);
    /* A kid no key has. */
    jwt_b64url_encode((const unsigned char *)header, strlen(header),
                      header_kid);
    snprintf(t2, sizeof(t2), "%s%s", header_kid, strchr(token, '.'));
    assert_int_equal(jwt_jws_parse(t2, strlen(t2), &jws), JWT_OK);
    assert_int_equal(jwt_jws_verify(&jws, set), JWT_ERR_NO_KEY);
    jwt_jws_clear(&jws);
    jwt_jwks_free(set);
    json_decref(jwk);
    json_decref(v);
}

static void
assert_key_refused(const char *jwk_json, const char *reason)
{
    char err[256], warn[256];
    jwt_jwks *set = jwt_jwks_parse(jwk_json, strlen(jwk_json), err, sizeof(err),
                                   warn, sizeof(warn));
    assert_null(set);
    if (!strstr(err, reason))
        fail_msg("want \"%s\" in \"%s\"", reason, err);
}

static void
test_rsa_key_shorter_than_1024_bits_is_refused(void **state)
{
    (void)state;
    assert_key_refused("{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}",
                       "shorter than 1024 bits");
}

static void
test_ec_point_not_on_the_curve_is_refused(void **state)
{
    (void)state;
    assert_key_refused("{\"kty\":\"EC\",\"crv\":\"P-256\","
                       "\"x\":\"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE\","
                       "\"y\":\"AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI\"}",
                       "not on the curve");
}

static void
test_key_alg_contradicting_its_type_is_refused(void **state)
{
    (void)state;
    assert_key_refused("{\"kty\":\"oct\",\"alg\":\"RS256\",\"k\":\"AAAA\"}",
                       "does not fit the key type");
}

static void
test_key_for_encryption_only_is_refused(void **state)
{
    (void)state;
    assert_key_refused("{\"kty\":\"oct\",\"use\":\"enc\",\"k\":\"AAAA\"}",
                       "\"use\" is not \"sig\"");
    assert_key_refused("{\"kty\":\"oct\",\"key_ops\":[\"encrypt\"],"
                       "\"k\":\"AAAA\"}",
                       "lacks \"verify\"");
}

static void
test_unusable_keys_are_skipped_next_to_usable_ones(void **state)
{
    const char *jwks = "{\"keys\":[{\"kty\":\"oct\",\"use\":\"enc\","
                       "\"k\":\"AAAA\"},{\"kty\":\"oct\",\"k\":\"AAAA\"}]}";
    char err[128], warn[128];
    jwt_jwks *set = jwt_jwks_parse(jwks, strlen(jwks), err, sizeof(err), warn,
                                   sizeof(warn));

    (void)state;
    assert_non_null(set);
    assert_int_equal(set->count, 1);
    assert_non_null(strstr(warn, "key 0 skipped"));
    jwt_jwks_free(set);
}

static void
release_json(void *value)
{
    json_decref(value);
}

static void
test_cache_returns_claims_until_valid_until(void **state)
{
    jwt_cache *c = jwt_cache_new(8, release_json);
    json_t *claims = json_pack("{s:s}", "sub", "alice");

    (void)state;
    assert_non_null(c);
    assert_null(jwt_cache_get(c, "tok", 3, 0, 100));
    jwt_cache_put(c, "tok", 3, 0, 200, json_incref(claims));
    assert_ptr_equal(jwt_cache_get(c, "tok", 3, 0, 199), claims);
    assert_null(jwt_cache_get(c, "tok", 3, 0, 200));
    assert_null(jwt_cache_get(c, "tok", 3, 0, 100)); /* evicted */
    json_decref(claims);
    jwt_cache_free(c);
}

static void
test_cache_keeps_providers_and_tokens_apart(void **state)
{
    jwt_cache *c = jwt_cache_new(1024, release_json);
    json_t *claims = json_object();

    (void)state;
    jwt_cache_put(c, "tok", 3, 0, 200, json_incref(claims));
    assert_null(jwt_cache_get(c, "tok", 3, 1, 100));
    assert_null(jwt_cache_get(c, "tok2", 4, 0, 100));
    assert_null(jwt_cache_get(c, "to", 2, 0, 100));
    json_decref(claims);
    jwt_cache_free(c);
}

/* A token-sized string: `len` bytes, a prefix from `seed`, a tail from
 * `tail_seed` (the part the slot hash reads). */
static void
fake_token(char *out, size_t len, unsigned seed, unsigned tail_seed)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
                                   "qrstuvwxyz0123456789-_";
    for (size_t i = 0; i < len; i++) {
        unsigned v = i + 32 >= len ? tail_seed * 2654435761u + (unsigned)i * 7
                                   : seed * 40503u + (unsigned)i * 13;
        out[i] = alphabet[(v ^ (v >> 7)) % 64];
    }
    out[len] = 0;
}

static size_t releases;

static void
count_release(void *value)
{
    releases++;
    free(value);
}

static void
test_cache_misses_a_token_that_differs_in_one_byte_anywhere(void **state)
{
    jwt_cache *c = jwt_cache_new(1024, count_release);
    char token[585], other[585];
    size_t positions[] = {0, 1, 291, 551, 552, 583};

    (void)state;
    fake_token(token, 584, 1, 1);
    jwt_cache_put(c, token, 584, 0, 200, strdup("claims"));
    assert_non_null(jwt_cache_get(c, token, 584, 0, 100));
    for (size_t k = 0; k < sizeof(positions) / sizeof(positions[0]); k++) {
        memcpy(other, token, sizeof(token));
        other[positions[k]] ^= 1;
        assert_null(jwt_cache_get(c, other, 584, 0, 100));
    }
    /* A miss never drops the entry it was compared with. */
    assert_non_null(jwt_cache_get(c, token, 584, 0, 100));
    assert_int_equal(jwt_cache_count(c), 1);
    jwt_cache_free(c);
}

/* Every byte before the 32 the slot hash reads is compared, whatever the
 * length: the comparison goes 16, then 8 bytes a step and ends on the
 * last 8, so lengths around those steps are tried. */
static void
test_cache_compares_every_byte_before_the_hashed_tail(void **state)
{
    static const size_t lengths[] = {33, 39, 40, 41, 47, 48, 49, 56, 63, 584};
    char token[600], other[600];

    (void)state;
    for (size_t l = 0; l < sizeof(lengths) / sizeof(lengths[0]); l++) {
        size_t len = lengths[l];
        jwt_cache *c = jwt_cache_new(1024, count_release);
        fake_token(token, len, 3, 5);
        jwt_cache_put(c, token, len, 0, 200, strdup("claims"));
        for (size_t at = 0; at + 32 < len; at++) {
            memcpy(other, token, len + 1);
            other[at] ^= 1;
            if (jwt_cache_get(c, other, len, 0, 100))
                fail_msg("length %zu: a token differing at byte %zu hit", len,
                         at);
        }
        assert_non_null(jwt_cache_get(c, token, len, 0, 100));
        jwt_cache_free(c);
    }
}

/* Same length, same last 32 bytes: the same slot hash. Only the full
 * comparison tells them apart. */
static void
test_cache_misses_a_forged_token_with_the_same_slot_hash(void **state)
{
    jwt_cache *c = jwt_cache_new(1024, count_release);
    char genuine[601], forged[601];
    void *claims = strdup("claims");

    (void)state;
    fake_token(genuine, 600, 1, 9);
    fake_token(forged, 600, 2, 9);
    assert_memory_equal(genuine + 568, forged + 568, 32);
    assert_memory_not_equal(genuine, forged, 568);
    jwt_cache_put(c, genuine, 600, 0, 200, claims);
    assert_null(jwt_cache_get(c, forged, 600, 0, 100));
    assert_ptr_equal(jwt_cache_get(c, genuine, 600, 0, 100), claims);
    /* A prefix or an extension of the cached token is another token. */
    assert_null(jwt_cache_get(c, genuine, 599, 0, 100));
    jwt_cache_free(c);
}

static void
test_cache_drops_an_entry_at_its_valid_until(void **state)
{
    jwt_cache *c = jwt_cache_new(16, count_release);
    char token[201];

    (void)state;
    releases = 0;
    fake_token(token, 200, 3, 3);
    jwt_cache_put(c, token, 200, 0, 1000, strdup("claims"));
    assert_non_null(jwt_cache_get(c, token, 200, 0, 999));
    assert_null(jwt_cache_get(c, token, 200, 0, 1000));
    assert_int_equal(jwt_cache_count(c), 0);
    assert_int_equal(releases, 1);
    /* Bounds at the edges of int64: never valid / valid until the end. */
    jwt_cache_put(c, token, 200, 0, INT64_MIN, strdup("claims"));
    assert_null(jwt_cache_get(c, token, 200, 0, INT64_MIN));
    jwt_cache_put(c, token, 200, 0, INT64_MAX, strdup("claims"));
    assert_non_null(jwt_cache_get(c, token, 200, 0, INT64_MAX - 1));
    assert_null(jwt_cache_get(c, token, 200, 0, INT64_MAX));
    assert_int_equal(releases, 3);
    jwt_cache_free(c);
}

static void
test_cache_stays_bounded_under_100000_distinct_tokens(void **state)
{
    jwt_cache *c = jwt_cache_new(1000, count_release); /* 1024 slots */
    char token[601];
    size_t puts = 100000;

    (void)state;
    releases = 0;
    for (unsigned i = 0; i < puts; i++) {
        fake_token(token, 600, i, i);
        jwt_cache_put(c, token, 600, 0, 200, strdup("claims"));
        assert_true(jwt_cache_count(c) <= 1024);
    }
    /* Every token replaced is released at once: nothing accumulates. */
    assert_int_equal(releases + jwt_cache_count(c), puts);
    /* The slots are spread: most of the table is in use. */
    assert_true(jwt_cache_count(c) > 900);
    /* The last token is there, an early one was replaced or still is. */
    assert_non_null(jwt_cache_get(c, token, 600, 0, 100));
    jwt_cache_free(c);
    assert_int_equal(releases, puts);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base64url_round_trips),
        cmocka_unit_test(
            test_base64url_with_padding_or_standard_alphabet_is_rejected),
        cmocka_unit_test(test_base64url_with_nonzero_unused_bits_is_rejected),
        cmocka_unit_test(test_token_without_exactly_three_parts_is_malformed),
        cmocka_unit_test(test_token_without_signature_is_malformed),
        cmocka_unit_test(test_header_with_duplicate_members_is_malformed),
        cmocka_unit_test(test_header_without_string_alg_is_malformed),
        cmocka_unit_test(test_lowercase_or_unknown_alg_is_not_allowed),
        cmocka_unit_test(
            test_token_longer_than_the_limit_is_refused_before_decoding),
        cmocka_unit_test(test_ecdsa_signature_of_wrong_length_is_rejected),
        cmocka_unit_test(
            test_kid_selects_the_key_and_an_unknown_kid_finds_none),
        cmocka_unit_test(test_rsa_key_shorter_than_1024_bits_is_refused),
        cmocka_unit_test(test_ec_point_not_on_the_curve_is_refused),
        cmocka_unit_test(test_key_alg_contradicting_its_type_is_refused),
        cmocka_unit_test(test_key_for_encryption_only_is_refused),
        cmocka_unit_test(test_unusable_keys_are_skipped_next_to_usable_ones),
        cmocka_unit_test(test_cache_returns_claims_until_valid_until),
        cmocka_unit_test(test_cache_keeps_providers_and_tokens_apart),
        cmocka_unit_test(
            test_cache_misses_a_token_that_differs_in_one_byte_anywhere),
        cmocka_unit_test(test_cache_compares_every_byte_before_the_hashed_tail),
        cmocka_unit_test(
            test_cache_misses_a_forged_token_with_the_same_slot_hash),
        cmocka_unit_test(test_cache_drops_an_entry_at_its_valid_until),
        cmocka_unit_test(test_cache_stays_bounded_under_100000_distinct_tokens),
    };
    return cmocka_run_group_tests_name("jwt_token", tests, NULL, NULL);
}
