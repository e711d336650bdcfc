/*
 * test_extract.c - api_key_auth's own code, called directly: finding and
 * removing a key in a query string and a Cookie header (exact bytes
 * kept), percent-decoding, and the key table (near-miss keys, duplicate
 * keys, many keys).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <openssl/evp.h>

#include "api_key_auth.h"

/* -- Query strings
 * ------------------------------------------------------------- */

static size_t
qfind(const char *target, const char *name, char *value)
{
    const char *v = NULL;
    size_t len = 0, n = ak_query_find(target, strlen(target), name,
                                      strlen(name), &v, &len);

    value[0] = '\0';
    if (n) {
        memcpy(value, v, len);
        value[len] = '\0';
    }
    return n;
}

static void
test_query_parameter_is_found_by_its_decoded_name(void **state)
{
    char v[64];

    (void)state;
    assert_int_equal(qfind("/a?x=1&api_key=k%2D1&y=2", "api_key", v), 1);
    assert_string_equal(v, "k%2D1");
    assert_int_equal(qfind("/a?api%5Fkey=k2", "api_key", v), 1);
    assert_string_equal(v, "k2");
    assert_int_equal(qfind("/a?api_key", "api_key", v), 1);
    assert_string_equal(v, "");
    assert_int_equal(qfind("/a?api_keyx=1&xapi_key=2", "api_key", v), 0);
    assert_int_equal(qfind("/a/api_key=1", "api_key", v), 0);
    assert_int_equal(qfind("/a?b=1#api_key=2", "api_key", v), 0);
}

static void
test_query_parameter_given_twice_is_counted_twice(void **state)
{
    char v[64];

    (void)state;
    assert_int_equal(qfind("/a?api_key=one&api_key=two", "api_key", v), 2);
    assert_string_equal(v, "one");
    assert_int_equal(qfind("/a?api_key=one&api%5fkey=two", "api_key", v), 2);
}

static char *
qremove(const char *target, const char *name)
{
    const char *names[] = {name};
    char *out = NULL;
    size_t len = 0;
    int rc = ak_query_remove(target, strlen(target), names, 1, &out, &len);

    if (rc == 0)
        return strdup(target);
    assert_int_equal(rc, 1);
    assert_int_equal(strlen(out), len);
    return out;
}

static void
test_query_removal_keeps_the_other_parameters_byte_for_byte(void **state)
{
    static const char *const cases[][2] = {
        {"/a?api_key=k&b=%20x+y", "/a?b=%20x+y"},
        {"/a?b=1&api_key=k", "/a?b=1"},
        {"/a?b=1&api_key=k&c=2", "/a?b=1&c=2"},
        {"/a?api_key=k", "/a"},
        {"/a?api_key=k&api_key=j", "/a"},
        {"/a?api%5Fkey=k&z", "/a?z"},
        {"/a?b=1", "/a?b=1"},
        {"/a", "/a"},
        {"/a?", "/a?"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *out = qremove(cases[i][0], "api_key");
        if (strcmp(out, cases[i][1]) != 0)
            fail_msg("%s: got %s, want %s", cases[i][0], out, cases[i][1]);
        free(out);
    }
}

static void
test_percent_decoding_refuses_malformed_escapes(void **state)
{
    char *out = NULL;
    size_t len = 0;

    (void)state;
    assert_int_equal(ak_percent_decode("a%41+b%2f", 9, &out, &len), 0);
    assert_string_equal(out, "aA+b/");
    free(out);
    assert_int_equal(ak_percent_decode("a%4", 3, &out, &len), -1);
    assert_int_equal(ak_percent_decode("a%zz", 4, &out, &len), -1);
    assert_int_equal(ak_percent_decode("%", 1, &out, &len), -1);
}

/* Decoding into the request path's buffer: exactly full is fine, one
 * byte more is -2; a failure leaves nothing of the key behind. */
static void
test_percent_decoding_into_a_buffer_stops_at_its_size(void **state)
{
    char out[8];
    size_t len = 99;

    (void)state;
    assert_int_equal(ak_percent_decode_into("ab%43defgh", 10, out, 8, &len), 0);
    assert_int_equal(len, 8);
    assert_memory_equal(out, "abCdefgh", 8);
    memset(out, '#', sizeof(out));
    assert_int_equal(ak_percent_decode_into("secret%41bcX", 12, out, 8, &len),
                     -2);
    for (size_t i = 0; i < sizeof(out); i++)
        assert_true(out[i] == 0 || out[i] == '#');
    memset(out, '#', sizeof(out));
    assert_int_equal(ak_percent_decode_into("secr%4", 6, out, 8, &len), -1);
    for (size_t i = 0; i < sizeof(out); i++)
        assert_true(out[i] == 0 || out[i] == '#');
    assert_int_equal(ak_percent_decode_into("", 0, out, 8, &len), 0);
    assert_int_equal(len, 0);
}

/* -- Cookies
 * ------------------------------------------------------------------- */

static size_t
cfind(const char *header, const char *name, char *value)
{
    const char *v = NULL;
    size_t len = 0, n = ak_cookie_find(header, strlen(header), name,
                                       strlen(name), &v, &len);

    value[0] = '\0';
    if (n) {
        memcpy(value, v, len);
        value[len] = '\0';
    }
    return n;
}

static void
test_cookie_is_found_with_quotes_and_spaces_removed(void **state)
{
    char v[64];

    (void)state;
    assert_int_equal(cfind("a=1; key=k1; b=2", "key", v), 1);
    assert_string_equal(v, "k1");
    assert_int_equal(cfind("key=\"k2\"", "key", v), 1);
    assert_string_equal(v, "k2");
    assert_int_equal(cfind("a=1;key=k3", "key", v), 1);
    assert_string_equal(v, "k3");
    assert_int_equal(cfind("xkey=1; keyx=2", "key", v), 0);
    assert_int_equal(cfind("key=1; key=2", "key", v), 2);
}

static void
test_cookie_removal_keeps_the_other_cookies(void **state)
{
    static const char *const cases[][2] = {
        {"a=1; key=k; b=2", "a=1; b=2"},
        {"key=k", ""},
        {"key=k; a=1", "a=1"},
        {"a=1;key=k;b=\"x y\"", "a=1; b=\"x y\""},
    };
    const char *names[] = {"key"};

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *out = NULL;
        size_t len = 0;
        assert_int_equal(ak_cookie_remove(cases[i][0], strlen(cases[i][0]),
                                          names, 1, &out, &len),
                         1);
        assert_string_equal(out, cases[i][1]);
        free(out);
    }
    {
        char *out = NULL;
        size_t len = 0;
        assert_int_equal(ak_cookie_remove("a=1", 3, names, 1, &out, &len), 0);
        assert_null(out);
    }
}

/* Many one-byte cookies joined by ';' grow by one byte each when
 * rejoined with "; ": the output buffer must hold that. */
static void
test_cookie_removal_of_many_tiny_cookies_stays_in_bounds(void **state)
{
    char header[4001];
    const char *names[] = {"k"};
    char *out = NULL;
    size_t len = 0;

    (void)state;
    for (int i = 0; i < 2000; i++) {
        header[2 * i] = 'a';
        header[2 * i + 1] = ';';
    }
    header[3998] = 'k';
    header[3999] = '\0';
    assert_int_equal(
        ak_cookie_remove(header, strlen(header), names, 1, &out, &len), 1);
    assert_int_equal(len, 1999 * 3 - 2);
    free(out);
}

/* -- Keys
 * ----------------------------------------------------------------------- */

static void
test_keys_find_their_client_and_near_misses_find_none(void **state)
{
    ak_keys k;
    const char *other = NULL;

    (void)state;
    assert_int_equal(ak_keys_init(&k), 0);
    assert_int_equal(ak_keys_add(&k, "k-123", 5, "client1", &other), 0);
    assert_int_equal(ak_keys_add(&k, "k-456", 5, "client2", &other), 0);
    assert_int_equal(ak_keys_build(&k), 0);
    assert_string_equal(ak_keys_find(&k, "k-123", 5), "client1");
    assert_string_equal(ak_keys_find(&k, "k-456", 5), "client2");
    assert_null(ak_keys_find(&k, "k-124", 5));
    assert_null(ak_keys_find(&k, "k-12", 4));
    assert_null(ak_keys_find(&k, "k-1234", 6));
    assert_null(ak_keys_find(&k, "K-123", 5));
    assert_null(ak_keys_find(&k, "", 0));
    ak_keys_free(&k);
}

/* A worker's digest context, reused lookup after lookup (hits, misses,
 * empty keys), answers as a fresh context per lookup does. */
static void
test_keys_found_in_a_reused_context_match_a_fresh_one(void **state)
{
    static const char *const tries[] = {"k-123", "k-124", "k-456", "",
                                        "k-123", "K-123", "k-456", "k-123"};
    EVP_MD_CTX *work = EVP_MD_CTX_new();
    const char *other = NULL;
    ak_keys k;

    (void)state;
    assert_non_null(work);
    assert_int_equal(ak_keys_init(&k), 0);
    assert_int_equal(ak_keys_add(&k, "k-123", 5, "client1", &other), 0);
    assert_int_equal(ak_keys_add(&k, "k-456", 5, "client2", &other), 0);
    assert_int_equal(ak_keys_build(&k), 0);
    for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
        const char *t = tries[i];
        const char *fresh = ak_keys_find(&k, t, strlen(t));
        const char *reused = ak_keys_find_in(&k, work, t, strlen(t));
        assert_ptr_equal(fresh, reused);
    }
    assert_string_equal(ak_keys_find_in(&k, work, "k-123", 5), "client1");
    assert_string_equal(ak_keys_find_in(&k, work, "k-456", 5), "client2");
    assert_null(ak_keys_find_in(&k, work, "k-45", 4));
    ak_keys_free(&k);
    EVP_MD_CTX_free(work);
}

static void
test_same_key_twice_reports_the_client_that_has_it(void **state)
{
    ak_keys k;
    const char *other = NULL;

    (void)state;
    assert_int_equal(ak_keys_init(&k), 0);
    assert_int_equal(ak_keys_add(&k, "k-1", 3, "a", &other), 0);
    assert_int_equal(ak_keys_add(&k, "k-1", 3, "b", &other), 1);
    assert_string_equal(other, "a");
    ak_keys_free(&k);
}

static void
test_ten_thousand_keys_all_resolve(void **state)
{
    ak_keys k;
    char key[32], client[32];
    const char *other;

    (void)state;
    assert_int_equal(ak_keys_init(&k), 0);
    for (int i = 0; i < 10000; i++) {
        snprintf(key, sizeof(key), "key-%d", i);
        snprintf(client, sizeof(client), "c%d", i % 100);
        assert_int_equal(ak_keys_add(&k, key, strlen(key), client, &other), 0);
    }
    assert_int_equal(ak_keys_build(&k), 0);
    for (int i = 0; i < 10000; i++) {
        snprintf(key, sizeof(key), "key-%d", i);
        snprintf(client, sizeof(client), "c%d", i % 100);
        assert_string_equal(ak_keys_find(&k, key, strlen(key)), client);
    }
    assert_null(ak_keys_find(&k, "key-10000", 9));
    ak_keys_free(&k);
}

/* A Secret of 40 000 entries (what 1 MiB holds), each its own client:
 * loading is linear. Comparing each new key and client id with every
 * earlier one took 6 s here; the bound leaves room for a loaded CI
 * machine and the sanitizers. A key given again after the table grew is
 * still found. */
static void
test_forty_thousand_clients_load_in_linear_time(void **state)
{
    ak_keys k;
    char key[32], client[32];
    const char *other = NULL;
    struct timespec a, b;
    double seconds;

    (void)state;
    clock_gettime(CLOCK_MONOTONIC, &a);
    assert_int_equal(ak_keys_init(&k), 0);
    for (int i = 0; i < 40000; i++) {
        snprintf(key, sizeof(key), "key-%08d", i);
        snprintf(client, sizeof(client), "client-%08d", i);
        assert_int_equal(ak_keys_add(&k, key, strlen(key), client, &other), 0);
    }
    assert_int_equal(ak_keys_add(&k, "key-00000007", 12, "late", &other), 1);
    assert_string_equal(other, "client-00000007");
    assert_int_equal(ak_keys_build(&k), 0);
    clock_gettime(CLOCK_MONOTONIC, &b);
    seconds =
        (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    if (seconds > 2.0)
        fail_msg("40 000 keys took %.2f s to load", seconds);
    assert_string_equal(ak_keys_find(&k, "key-00039999", 12),
                        "client-00039999");
    assert_int_equal(ak_keys_count(&k), 40000);
    ak_keys_free(&k);
}

/* An instance with no key at all still has a table, which finds nothing. */
static void
test_no_keys_find_nothing(void **state)
{
    ak_keys k;

    (void)state;
    assert_int_equal(ak_keys_init(&k), 0);
    assert_int_equal(ak_keys_build(&k), 0);
    assert_null(ak_keys_find(&k, "k", 1));
    ak_keys_free(&k);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_parameter_is_found_by_its_decoded_name),
        cmocka_unit_test(test_query_parameter_given_twice_is_counted_twice),
        cmocka_unit_test(
            test_query_removal_keeps_the_other_parameters_byte_for_byte),
        cmocka_unit_test(test_percent_decoding_refuses_malformed_escapes),
        cmocka_unit_test(test_cookie_is_found_with_quotes_and_spaces_removed),
        cmocka_unit_test(test_cookie_removal_keeps_the_other_cookies),
        cmocka_unit_test(
            test_cookie_removal_of_many_tiny_cookies_stays_in_bounds),
        cmocka_unit_test(test_keys_find_their_client_and_near_misses_find_none),
        cmocka_unit_test(test_same_key_twice_reports_the_client_that_has_it),
        cmocka_unit_test(test_ten_thousand_keys_all_resolve),
        cmocka_unit_test(test_forty_thousand_clients_load_in_linear_time),
        cmocka_unit_test(test_no_keys_find_nothing),
        cmocka_unit_test(test_percent_decoding_into_a_buffer_stops_at_its_size),
        cmocka_unit_test(test_keys_found_in_a_reused_context_match_a_fresh_one),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
