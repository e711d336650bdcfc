/*
 * test_sigv4.c - the signer's behaviours one by one, beyond what AWS's
 * suite shows: the signing-key cache, exclusions, path and query
 * encoding corner cases, payload hash options, errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sigv4.h"

#define DAY 86400
#define T0 1767225600 /* 2026-01-01T00:00:00Z */

static const sigv4_credentials creds = {
    "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", NULL};

static sigv4_params
params_default(void)
{
    sigv4_params p = {.region = "us-east-1",
                      .service = "service",
                      .unix_seconds = T0,
                      .normalize_path = 1};
    return p;
}

static sigv4_request
request(const char *method, const char *target, const gwf_header *headers,
        size_t count)
{
    sigv4_request r = {.method = gwf_cstr(method),
                       .target = gwf_cstr(target),
                       .headers = headers,
                       .header_count = count,
                       .host = gwf_cstr("example.amazonaws.com")};
    return r;
}

/* Sign and return the canonical request (caller frees). */
static char *
creq_of(const sigv4_request *r, const sigv4_params *p,
        const sigv4_credentials *c)
{
    sigv4_result res;
    const char *why;
    assert_int_equal(sigv4_sign(r, p, c, NULL, &res, &why), 0);
    char *out = strdup(res.canonical_request.data);
    sigv4_result_free(&res);
    return out;
}

static char *
uri(const char *path, int normalize)
{
    gwf_strbuf b = {0};
    sigv4_canonical_uri(&b, path, strlen(path), normalize);
    return b.data;
}

static char *
query(const char *q)
{
    gwf_strbuf b = {0};
    sigv4_canonical_query(&b, q, strlen(q), NULL, 0);
    return b.data ? b.data : strdup("");
}

#define ASSERT_URI(path, normalize, want)                                      \
    do {                                                                       \
        char *got = uri(path, normalize);                                      \
        assert_string_equal(got, want);                                        \
        free(got);                                                             \
    } while (0)

#define ASSERT_QUERY(q, want)                                                  \
    do {                                                                       \
        char *got = query(q);                                                  \
        assert_string_equal(got, want);                                        \
        free(got);                                                             \
    } while (0)

/* -- Signing key cache ----------------------------------------------------- */

static void
test_signing_key_is_derived_once_per_day_region_service(void **state)
{
    (void)state;
    sigv4_key_cache cache = {0};
    sigv4_request r = request("GET", "/", NULL, 0);
    sigv4_params p = params_default();
    sigv4_result res;
    const char *why;

    for (int i = 0; i < 5; i++) {
        p.unix_seconds = T0 + i * 1000;
        assert_int_equal(sigv4_sign(&r, &p, &creds, &cache, &res, &why), 0);
        sigv4_result_free(&res);
    }
    assert_int_equal(cache.derivations, 1);

    p.unix_seconds = T0 + DAY; /* next day */
    assert_int_equal(sigv4_sign(&r, &p, &creds, &cache, &res, &why), 0);
    sigv4_result_free(&res);
    assert_int_equal(cache.derivations, 2);

    p.region = "eu-west-3";
    assert_int_equal(sigv4_sign(&r, &p, &creds, &cache, &res, &why), 0);
    sigv4_result_free(&res);
    assert_int_equal(cache.derivations, 3);

    p.service = "lambda";
    assert_int_equal(sigv4_sign(&r, &p, &creds, &cache, &res, &why), 0);
    sigv4_result_free(&res);
    assert_int_equal(cache.derivations, 4);
    sigv4_key_cache_clear(&cache);
    assert_int_equal(cache.valid, 0);
}

static void
test_cached_key_gives_same_signature_as_fresh_key(void **state)
{
    (void)state;
    sigv4_key_cache cache = {0};
    sigv4_request r = request("GET", "/x", NULL, 0);
    sigv4_params p = params_default();
    sigv4_result a, b, c;
    const char *why;
    assert_int_equal(sigv4_sign(&r, &p, &creds, &cache, &a, &why), 0);
    assert_int_equal(sigv4_sign(&r, &p, &creds, &cache, &b, &why), 0);
    assert_int_equal(sigv4_sign(&r, &p, &creds, NULL, &c, &why), 0);
    assert_string_equal(a.signature, b.signature);
    assert_string_equal(a.signature, c.signature);
    sigv4_key_cache_clear(&cache);
    sigv4_result_free(&a);
    sigv4_result_free(&b);
    sigv4_result_free(&c);
}

static void
test_changed_secret_is_never_signed_with_old_key(void **state)
{
    (void)state;
    sigv4_key_cache cache = {0};
    sigv4_request r = request("GET", "/", NULL, 0);
    sigv4_params p = params_default();
    sigv4_credentials other = {
        "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ", NULL};
    sigv4_result a, b, fresh;
    const char *why;
    assert_int_equal(sigv4_sign(&r, &p, &creds, &cache, &a, &why), 0);
    assert_int_equal(sigv4_sign(&r, &p, &other, &cache, &b, &why), 0);
    assert_int_equal(sigv4_sign(&r, &p, &other, NULL, &fresh, &why), 0);
    assert_string_not_equal(a.signature, b.signature);
    assert_string_equal(b.signature, fresh.signature);
    assert_int_equal(cache.derivations, 2);
    sigv4_key_cache_clear(&cache);
    sigv4_result_free(&a);
    sigv4_result_free(&b);
    sigv4_result_free(&fresh);
}

static void
test_long_secret_is_signed_without_caching(void **state)
{
    (void)state;
    char secret[300];
    memset(secret, 'k', sizeof secret - 1);
    secret[sizeof secret - 1] = '\0';
    sigv4_credentials c = {"AKID", secret, NULL};
    sigv4_key_cache cache = {0};
    sigv4_request r = request("GET", "/", NULL, 0);
    sigv4_params p = params_default();
    sigv4_result a, b;
    const char *why;
    assert_int_equal(sigv4_sign(&r, &p, &c, &cache, &a, &why), 0);
    assert_int_equal(sigv4_sign(&r, &p, &c, NULL, &b, &why), 0);
    assert_string_equal(a.signature, b.signature);
    assert_int_equal(cache.valid, 0);
    sigv4_key_cache_clear(&cache);
    sigv4_result_free(&a);
    sigv4_result_free(&b);
}

/* -- Headers ----------------------------------------------------------------
 */

static void
test_proxy_and_hop_by_hop_headers_are_not_signed(void **state)
{
    (void)state;
    gwf_header hs[] = {
        {gwf_cstr("X-Forwarded-For"), gwf_cstr("192.0.2.1")},
        {gwf_cstr("x-forwarded-proto"), gwf_cstr("https")},
        {gwf_cstr("X-Amzn-Trace-Id"), gwf_cstr("Root=1")},
        {gwf_cstr("Connection"), gwf_cstr("keep-alive")},
        {gwf_cstr("Transfer-Encoding"), gwf_cstr("chunked")},
        {gwf_cstr("Authorization"), gwf_cstr("Bearer old")},
        {gwf_cstr("X-Amz-Date"), gwf_cstr("19990101T000000Z")},
        {gwf_cstr("x-kept"), gwf_cstr("yes")},
    };
    sigv4_request r = request("GET", "/", hs, 8);
    sigv4_params p = params_default();
    char *cr = creq_of(&r, &p, &creds);
    assert_non_null(strstr(cr, "\nhost;x-amz-date;x-kept\n"));
    assert_null(strstr(cr, "19990101"));
    free(cr);
}

static void
test_configured_excluded_headers_are_not_signed(void **state)
{
    (void)state;
    gwf_header hs[] = {{gwf_cstr("X-Secret-Route"), gwf_cstr("a")},
                       {gwf_cstr("x-kept"), gwf_cstr("b")}};
    static const char *const excluded[] = {"x-secret-route"};
    sigv4_request r = request("GET", "/", hs, 2);
    sigv4_params p = params_default();
    p.excluded = excluded;
    p.excluded_count = 1;
    char *cr = creq_of(&r, &p, &creds);
    assert_non_null(strstr(cr, "\nhost;x-amz-date;x-kept\n"));
    free(cr);
}

static void
test_header_values_fold_white_space_and_join_duplicates(void **state)
{
    (void)state;
    gwf_header hs[] = {{gwf_cstr("B"), gwf_cstr(" \t two\t\t words \r\n")},
                       {gwf_cstr("a"), gwf_cstr("first")},
                       {gwf_cstr("A"), gwf_cstr("  second ")},
                       {gwf_cstr("c"), gwf_cstr("")}};
    sigv4_request r = request("GET", "/", hs, 4);
    sigv4_params p = params_default();
    char *cr = creq_of(&r, &p, &creds);
    assert_non_null(strstr(cr, "\na:first,second\nb:two words\nc:\nhost:"));
    free(cr);
}

static void
test_host_is_the_one_given_not_the_header(void **state)
{
    (void)state;
    gwf_header hs[] = {{gwf_cstr("Host"), gwf_cstr("client.example")}};
    sigv4_request r = request("GET", "/", hs, 1);
    r.host = gwf_cstr("rewritten.amazonaws.com");
    sigv4_params p = params_default();
    char *cr = creq_of(&r, &p, &creds);
    assert_non_null(strstr(cr, "\nhost:rewritten.amazonaws.com\n"));
    assert_null(strstr(cr, "client.example"));
    free(cr);
}

static void
test_only_included_signs_just_the_named_headers(void **state)
{
    (void)state;
    gwf_header hs[] = {{gwf_cstr("x-amz-invocation-type"), gwf_cstr("Event")},
                       {gwf_cstr("x-other"), gwf_cstr("o")}};
    static const char *const included[] = {"x-amz-invocation-type"};
    sigv4_request r = request("POST", "/", hs, 2);
    sigv4_params p = params_default();
    p.only_included = 1;
    p.included = included;
    p.included_count = 1;
    char *cr = creq_of(&r, &p, &creds);
    assert_non_null(strstr(cr, "\nhost;x-amz-date;x-amz-invocation-type\n"));
    free(cr);
}

/* -- Payload ------------------------------------------------------------------
 */

static void
test_unsigned_payload_is_signed_as_literal(void **state)
{
    (void)state;
    sigv4_request r = request("PUT", "/", NULL, 0);
    r.payload = gwf_cstr("body");
    sigv4_params p = params_default();
    p.unsigned_payload = 1;
    p.content_sha256_header = 1;
    char *cr = creq_of(&r, &p, &creds);
    assert_non_null(strstr(cr, "x-amz-content-sha256:UNSIGNED-PAYLOAD\n"));
    size_t n = strlen(cr);
    assert_string_equal(cr + n - 17, "\nUNSIGNED-PAYLOAD");
    free(cr);
}

static void
test_given_payload_hash_is_used(void **state)
{
    (void)state;
    const char *hash =
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    sigv4_request r = request("PUT", "/", NULL, 0);
    r.payload = gwf_cstr("ignored");
    r.payload_hash = hash;
    sigv4_params p = params_default();
    char *cr = creq_of(&r, &p, &creds);
    assert_string_equal(cr + strlen(cr) - 64, hash);
    free(cr);
}

static void
test_session_token_is_signed_or_added_after(void **state)
{
    (void)state;
    sigv4_credentials c = creds;
    c.session_token = "TOKEN";
    sigv4_request r = request("GET", "/", NULL, 0);
    sigv4_params p = params_default();
    char *cr = creq_of(&r, &p, &c);
    assert_non_null(strstr(cr, "x-amz-security-token:TOKEN\n"));
    free(cr);
    p.token_mode = SIGV4_TOKEN_AFTER;
    cr = creq_of(&r, &p, &c);
    assert_null(strstr(cr, "TOKEN"));
    free(cr);
}

static void
test_presigned_token_after_is_in_url_not_in_signature(void **state)
{
    (void)state;
    sigv4_credentials c = creds;
    c.session_token = "TOK/EN";
    sigv4_request r = request("GET", "/o?b=1", NULL, 0);
    sigv4_params p = params_default();
    p.presign = 1;
    p.expires = 60;
    p.token_mode = SIGV4_TOKEN_AFTER;
    sigv4_result res;
    const char *why;
    assert_int_equal(sigv4_sign(&r, &p, &c, NULL, &res, &why), 0);
    assert_null(strstr(res.canonical_request.data, "Security-Token"));
    assert_non_null(strstr(res.presigned_target.data,
                           "/o?b=1&X-Amz-Algorithm=AWS4-HMAC-SHA256&"));
    assert_non_null(strstr(res.presigned_target.data,
                           "&X-Amz-Security-Token=TOK%2FEN&X-Amz-Signature="));
    sigv4_result_free(&res);
}

/* -- URI and query ----------------------------------------------------------
 */

static void
test_normalized_path_removes_dots_and_empty_segments(void **state)
{
    (void)state;
    ASSERT_URI("/a/b/../c/./d//e/", 1, "/a/c/d/e/");
    ASSERT_URI("/../..", 1, "/");
    ASSERT_URI("", 1, "/");
    ASSERT_URI("/a/..", 1, "/");
}

static void
test_normalized_path_is_encoded_again(void **state)
{
    (void)state;
    ASSERT_URI("/a%20b/c d", 1, "/a%2520b/c%20d");
    ASSERT_URI("/f:1/$x", 1, "/f%3A1/%24x");
}

static void
test_unnormalized_path_keeps_escapes_and_encodes_the_rest(void **state)
{
    (void)state;
    ASSERT_URI("/a%2fb//./c d", 0, "/a%2Fb//./c%20d");
    ASSERT_URI("/100%zz", 0, "/100%25zz");
    ASSERT_URI("/%", 0, "/%25");
}

static void
test_query_is_decoded_reencoded_and_sorted(void **state)
{
    (void)state;
    ASSERT_QUERY("b=2&a=%7e&a=1+2&c", "a=1%2B2&a=~&b=2&c=");
    ASSERT_QUERY("k=%g1&&=v&x=%2F", "=v&k=%25g1&x=%2F");
    ASSERT_QUERY("", "");
    ASSERT_QUERY("z=1&z=&z=0", "z=&z=0&z=1");
}

static void
test_query_keys_sort_before_longer_keys(void **state)
{
    (void)state;
    ASSERT_QUERY("ab=1&a=2&a-=3", "a=2&a-=3&ab=1");
}

/* -- Errors
 * --------------------------------------------------------------------- */

static void
test_request_without_host_is_refused(void **state)
{
    (void)state;
    sigv4_request r = request("GET", "/", NULL, 0);
    r.host = (gwf_view){NULL, 0};
    sigv4_params p = params_default();
    sigv4_result res;
    const char *why = NULL;
    assert_int_equal(sigv4_sign(&r, &p, &creds, NULL, &res, &why), -1);
    assert_string_equal(why, "the request has no host to sign");
}

static void
test_missing_credentials_are_refused(void **state)
{
    (void)state;
    sigv4_credentials none = {NULL, NULL, NULL};
    sigv4_request r = request("GET", "/", NULL, 0);
    sigv4_params p = params_default();
    sigv4_result res;
    const char *why = NULL;
    assert_int_equal(sigv4_sign(&r, &p, &none, NULL, &res, &why), -1);
}

static void
test_clock_out_of_range_is_refused(void **state)
{
    (void)state;
    sigv4_request r = request("GET", "/", NULL, 0);
    sigv4_params p = params_default();
    p.unix_seconds = INT64_C(400000000000);
    sigv4_result res;
    const char *why = NULL;
    assert_int_equal(sigv4_sign(&r, &p, &creds, NULL, &res, &why), -1);
    assert_string_equal(why, "the clock is out of range");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_signing_key_is_derived_once_per_day_region_service),
        cmocka_unit_test(test_cached_key_gives_same_signature_as_fresh_key),
        cmocka_unit_test(test_changed_secret_is_never_signed_with_old_key),
        cmocka_unit_test(test_long_secret_is_signed_without_caching),
        cmocka_unit_test(test_proxy_and_hop_by_hop_headers_are_not_signed),
        cmocka_unit_test(test_configured_excluded_headers_are_not_signed),
        cmocka_unit_test(
            test_header_values_fold_white_space_and_join_duplicates),
        cmocka_unit_test(test_host_is_the_one_given_not_the_header),
        cmocka_unit_test(test_only_included_signs_just_the_named_headers),
        cmocka_unit_test(test_unsigned_payload_is_signed_as_literal),
        cmocka_unit_test(test_given_payload_hash_is_used),
        cmocka_unit_test(test_session_token_is_signed_or_added_after),
        cmocka_unit_test(test_presigned_token_after_is_in_url_not_in_signature),
        cmocka_unit_test(test_normalized_path_removes_dots_and_empty_segments),
        cmocka_unit_test(test_normalized_path_is_encoded_again),
        cmocka_unit_test(
            test_unnormalized_path_keeps_escapes_and_encodes_the_rest),
        cmocka_unit_test(test_query_is_decoded_reencoded_and_sorted),
        cmocka_unit_test(test_query_keys_sort_before_longer_keys),
        cmocka_unit_test(test_request_without_host_is_refused),
        cmocka_unit_test(test_missing_credentials_are_refused),
        cmocka_unit_test(test_clock_out_of_range_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
