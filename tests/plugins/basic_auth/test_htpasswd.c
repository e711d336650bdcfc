/*
 * test_htpasswd.c - basic_auth's own code, called directly: the htpasswd
 * line parser and its refusals, the password check of every hash format
 * against vectors made by other implementations (vectors.htpasswd says
 * how), the Authorization parser, and the cache of verified credentials.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <gwf/sdk.h>
#include <openssl/evp.h>

#include "basic_auth.h"

/* -- Helpers ------------------------------------------------------------------
 */

static ba_users vectors;

static int
load_vectors(void **state)
{
    const char *path = getenv("BA_VECTORS");
    char line[1024], err[512];
    FILE *f;

    (void)state;
    if (!path || !(f = fopen(path, "r")))
        return -1;
    while (fgets(line, sizeof(line), f)) {
        size_t n = strcspn(line, "\r\n");
        if (n == 0 || line[0] == '#')
            continue;
        if (ba_users_add_line(&vectors, line, n, err, sizeof(err)) != 0) {
            fprintf(stderr, "vector refused: %s\n", err);
            fclose(f);
            return -1;
        }
    }
    fclose(f);
    return ba_users_finish(&vectors, err, sizeof(err));
}

static int
free_vectors(void **state)
{
    (void)state;
    ba_users_free(&vectors);
    return 0;
}

static const ba_user *
vector(const char *name)
{
    const ba_user *u = ba_users_find(&vectors, name, strlen(name));
    if (!u)
        fail_msg("no vector %s", name);
    return u;
}

static int
verify(const char *user, const char *password)
{
    return ba_user_verify(&vectors, vector(user), password, strlen(password));
}

/* The message of a refused line, or "" when it was accepted. */
static const char *
refusal(const char *line)
{
    static char err[512];
    ba_users us = {0};
    int rc = ba_users_add_line(&us, line, strlen(line), err, sizeof(err));

    ba_users_free(&us);
    if (rc == 0)
        return "";
    assert_int_equal(rc, -1);
    return err;
}

/* -- Hash formats ---------------------------------------------------------- */

static void
test_every_vector_is_classified_by_its_format(void **state)
{
    (void)state;
    assert_int_equal(vector("sha")->kind, BA_HASH_SHA1);
    assert_int_equal(vector("apr")->kind, BA_HASH_APR1);
    assert_int_equal(vector("md5")->kind, BA_HASH_MD5CRYPT);
    assert_int_equal(vector("bcb")->kind, BA_HASH_BCRYPT);
    assert_int_equal(vector("bca")->kind, BA_HASH_BCRYPT);
    assert_int_equal(vector("rasmus")->kind, BA_HASH_BCRYPT);
}

static void
test_sha1_password_matches_and_near_misses_do_not(void **state)
{
    (void)state;
    assert_true(verify("sha", "sha-pass"));
    assert_false(verify("sha", "sha-pasS"));
    assert_false(verify("sha", "sha-pas"));
    assert_false(verify("sha", "sha-pass "));
    assert_false(verify("sha", ""));
}

static void
test_apr1_password_made_by_openssl_matches(void **state)
{
    (void)state;
    assert_true(verify("apr", "apr-pass"));
    assert_false(verify("apr", "apr-pasS"));
    assert_false(verify("apr", "apr-pass\n"));
}

static void
test_md5crypt_password_made_by_openssl_matches(void **state)
{
    (void)state;
    assert_true(verify("md5", "md5-pass"));
    assert_false(verify("md5", "md5-pas"));
}

/* The same password under APR1's magic and md5crypt's gives other
 * hashes: the magic is part of the computation. */
static void
test_apr1_and_md5crypt_differ_only_by_magic(void **state)
{
    char a[23], b[23];

    (void)state;
    assert_int_equal(
        ba_md5crypt(vectors.md5, "apr-pass", 8, "Xy7.aB/c", 8, "$apr1$", a), 0);
    assert_string_equal(a, "M7JmJDix1zEJZJAYX/t8b.");
    assert_int_equal(ba_md5crypt(NULL, "apr-pass", 8, "Xy7.aB/c", 8, "$1$", b),
                     0);
    assert_string_not_equal(a, b);
}

static void
test_bcrypt_2b_2a_and_2y_passwords_match(void **state)
{
    (void)state;
    assert_true(verify("bcb", "bcrypt-pass"));
    assert_false(verify("bcb", "bcrypt-pasS"));
    assert_true(verify("bca", "bcrypt-a"));
    assert_false(verify("bca", "bcrypt-b"));
    assert_true(verify("rasmus", "rasmuslerdorf"));
    assert_false(verify("rasmus", "rasmuslerdorF"));
}

/* bcrypt reads a C string: "pass\0anything" must not pass as "pass". */
static void
test_bcrypt_password_with_a_nul_byte_never_matches(void **state)
{
    (void)state;
    assert_false(ba_user_verify(&vectors, vector("bcb"), "bcrypt-pass\0x", 13));
    assert_true(ba_user_verify(&vectors, vector("bcb"), "bcrypt-pass", 11));
}

/* -- Refused lines ------------------------------------------------------------
 */

static void
test_plain_text_password_is_refused_by_name(void **state)
{
    (void)state;
    assert_non_null(strstr(refusal("alice:secret"),
                           "user \"alice\": unsupported password hash "
                           "(plain text or an unknown scheme)"));
}

static void
test_crypt_des_password_is_refused_by_name(void **state)
{
    (void)state;
    assert_non_null(strstr(refusal("bob:rl.3StKT.4T8M"),
                           "unsupported password hash crypt(3) DES"));
}

static void
test_sha512_crypt_is_refused_as_unsupported(void **state)
{
    (void)state;
    assert_non_null(strstr(refusal("c:$6$salt$abcdef"),
                           "unsupported password hash SHA-512-crypt"));
}

static void
test_bcrypt_cost_above_the_bound_is_refused(void **state)
{
    (void)state;
    assert_non_null(strstr(
        refusal(
            "c:$2y$13$.vGA1O9wmRjrwAVXD98HNOgsNpDczlqm3Jq7KnEd1rVAGv3Fykk1a"),
        "bcrypt cost 13 is out of range: expected 4 to 12"));
    assert_non_null(strstr(
        refusal(
            "c:$2y$03$.vGA1O9wmRjrwAVXD98HNOgsNpDczlqm3Jq7KnEd1rVAGv3Fykk1a"),
        "bcrypt cost 3 is out of range"));
}

static void
test_malformed_hashes_are_refused_without_quoting_them(void **state)
{
    const char *e;

    (void)state;
    e = refusal("d:{SHA}AAAA");
    assert_non_null(strstr(e, "malformed {SHA} hash"));
    assert_null(strstr(e, "AAAA"));
    assert_non_null(
        strstr(refusal("d:$apr1$toolongsalt$M7JmJDix1zEJZJAYX/t8b."),
               "malformed $apr1$ hash"));
    assert_non_null(
        strstr(refusal("d:$apr1$Xy7.aB/c$short"), "malformed $apr1$ hash"));
    assert_non_null(strstr(refusal("d:$2y$10$short"), "malformed bcrypt hash"));
}

static void
test_lines_without_user_or_hash_are_refused(void **state)
{
    (void)state;
    assert_string_equal(refusal("no-colon"), "expected \"user:hash\"");
    assert_string_equal(refusal(":{SHA}xO2etOilyqtV8o1RvvnmkeBx7QI="),
                        "expected \"user:hash\"");
    assert_string_equal(refusal("e:"), "user \"e\" has no password hash");
}

static void
test_a_user_listed_twice_is_refused(void **state)
{
    ba_users us = {0};
    char err[512];
    const char *a = "x:{SHA}xO2etOilyqtV8o1RvvnmkeBx7QI=";

    (void)state;
    assert_int_equal(ba_users_add_line(&us, a, strlen(a), err, sizeof(err)), 0);
    assert_int_equal(ba_users_add_line(&us, a, strlen(a), err, sizeof(err)), 0);
    assert_int_equal(ba_users_finish(&us, err, sizeof(err)), -1);
    assert_string_equal(err, "user \"x\" is listed twice");
    ba_users_free(&us);
}

static void
test_huge_line_is_refused(void **state)
{
    char *line = malloc(BA_MAX_LINE_LEN + 20);

    (void)state;
    memset(line, 'a', BA_MAX_LINE_LEN + 19);
    line[1] = ':';
    line[BA_MAX_LINE_LEN + 19] = '\0';
    assert_string_equal(refusal(line), "line longer than 1024 bytes");
    free(line);
}

/* -- Authorization values ----------------------------------------------------
 */

static int
parse(const char *value, char **user, char **password)
{
    char *decoded = NULL;
    size_t len = 0, user_len = 0;
    int rc =
        ba_parse_authorization(value, strlen(value), &decoded, &len, &user_len);

    if (rc == BA_CRED_OK) {
        *user = strndup(decoded, user_len);
        *password = strndup(decoded + user_len + 1, len - user_len - 1);
        ba_wipe_free(decoded, len);
    }
    return rc;
}

static void
test_basic_credentials_are_split_at_the_first_colon(void **state)
{
    char *u = NULL, *p = NULL;

    (void)state;
    /* "alice:pa:ss" */
    assert_int_equal(parse("Basic YWxpY2U6cGE6c3M=", &u, &p), BA_CRED_OK);
    assert_string_equal(u, "alice");
    assert_string_equal(p, "pa:ss");
    free(u);
    free(p);
    /* Scheme in another case, several spaces; "bob:" (empty password). */
    assert_int_equal(parse("bAsIc   Ym9iOg==", &u, &p), BA_CRED_OK);
    assert_string_equal(u, "bob");
    assert_string_equal(p, "");
    free(u);
    free(p);
}

static void
test_other_schemes_are_bad_scheme(void **state)
{
    char *u, *p;

    (void)state;
    assert_int_equal(parse("Bearer YWxpY2U6cGFzcw==", &u, &p),
                     BA_CRED_BAD_SCHEME);
    assert_int_equal(parse("BasicYWxpY2U6cGFzcw==", &u, &p),
                     BA_CRED_BAD_SCHEME);
    assert_int_equal(parse("Basic", &u, &p), BA_CRED_BAD_SCHEME);
    assert_int_equal(parse("", &u, &p), BA_CRED_BAD_SCHEME);
}

static void
test_malformed_basic_credentials_are_refused(void **state)
{
    char *u, *p;

    (void)state;
    assert_int_equal(parse("Basic ", &u, &p), BA_CRED_MALFORMED);
    assert_int_equal(parse("Basic !!!!", &u, &p), BA_CRED_MALFORMED);
    /* Unpadded base64 of "alice:pass". */
    assert_int_equal(parse("Basic YWxpY2U6cGFzcw", &u, &p), BA_CRED_MALFORMED);
    /* "alicepass": no colon. */
    assert_int_equal(parse("Basic YWxpY2VwYXNz", &u, &p), BA_CRED_MALFORMED);
    /* ":pass": empty user. */
    assert_int_equal(parse("Basic OnBhc3M=", &u, &p), BA_CRED_MALFORMED);
}

static void
test_oversized_authorization_is_malformed(void **state)
{
    size_t n = BA_MAX_HEADER_LEN + 8;
    char *v = malloc(n + 1), *d = NULL;
    size_t dl, ul;

    (void)state;
    memcpy(v, "Basic ", 6);
    memset(v + 6, 'A', n - 6);
    v[n] = '\0';
    assert_int_equal(ba_parse_authorization(v, n, &d, &dl, &ul),
                     BA_CRED_MALFORMED);
    assert_null(d);
    free(v);
}

/* The longest value looked at (BA_MAX_HEADER_LEN bytes) decodes in the
 * request path's buffer of BA_MAX_DECODED_LEN bytes (under ASan, a byte
 * past it would be caught); the last byte of the password survives. */
static void
test_longest_authorization_decodes_in_the_callers_buffer(void **state)
{
    size_t raw_len = (BA_MAX_HEADER_LEN - 8) / 4 * 3;
    char *raw = malloc(raw_len), *value = malloc(BA_MAX_HEADER_LEN + 1);
    unsigned char *b64 = malloc(BA_MAX_HEADER_LEN + 1);
    char *out = malloc(BA_MAX_DECODED_LEN);
    size_t b64_len, dl = 0, ul = 0;

    (void)state;
    memset(raw, 'p', raw_len);
    memcpy(raw, "u:", 2);
    raw[raw_len - 1] = 'Z';
    b64_len =
        (size_t)EVP_EncodeBlock(b64, (const unsigned char *)raw, (int)raw_len);
    assert_int_equal(b64_len, BA_MAX_HEADER_LEN - 8);
    memcpy(value, "Basic   ", 8); /* 8 + the token: BA_MAX_HEADER_LEN */
    memcpy(value + 8, b64, b64_len);
    assert_int_equal(
        ba_parse_authorization_into(value, BA_MAX_HEADER_LEN, out, &dl, &ul),
        BA_CRED_OK);
    assert_int_equal(dl, raw_len);
    assert_int_equal(ul, 1);
    assert_memory_equal(out, raw, raw_len);
    /* One byte more is over the limit. */
    value[BA_MAX_HEADER_LEN] = '=';
    assert_int_equal(ba_parse_authorization_into(value, BA_MAX_HEADER_LEN + 1,
                                                 out, &dl, &ul),
                     BA_CRED_MALFORMED);
    free(raw);
    free(value);
    free(b64);
    free(out);
}

/* A parse that fails leaves nothing of what it decoded in the buffer: the
 * bytes before a bad character, or a whole credential without a colon,
 * may be a password. */
static void
test_failed_parse_wipes_what_it_decoded(void **state)
{
    static const char *const values[] = {
        "Basic c2VjcmV0c2VjcmV0!!!!", /* "secretsecret", then bad base64 */
        "Basic c2VjcmV0c2VjcmV0",     /* "secretsecret": no colon */
        "Basic OnNlY3JldHNlY3JldA==", /* ":secretsecret": no user */
    };
    char out[BA_MAX_DECODED_LEN];
    size_t dl, ul;

    (void)state;
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        memset(out, '#', sizeof(out));
        assert_int_equal(ba_parse_authorization_into(
                             values[i], strlen(values[i]), out, &dl, &ul),
                         BA_CRED_MALFORMED);
        for (size_t k = 0; k < sizeof(out); k++)
            if (out[k] != '#' && out[k] != 0)
                fail_msg("value %zu: byte %zu of the credential left", i, k);
        assert_int_equal(dl, 0);
    }
}

/* The in-place decoder reads a token as the SDK's gwf_base64_decode
 * does: the same tokens accepted, the same bytes out. */
static void
test_credential_decoding_agrees_with_the_sdk_base64(void **state)
{
    static const char *const tokens[] = {
        "YTpi",     "YTpiYw==",  "YTpiYwQ=", "YTpi====",     "YTp=",
        "YTpiY===", "YT=iYw==",  "YTpiYw=",  "YTpiYw",       "YTpi YTpi",
        "YTpi+/+/", "YTpi-_-_",  "=TpiYw==", "YTpiYw==YTpi", "YTpiYx==",
        "YTpiYwQ",  "YTpiYwQ==", "OmE=",     "YQ==",         "YTo=",
        "YTphOmI6",
    };
    char out[BA_MAX_DECODED_LEN];

    (void)state;
    for (size_t i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++) {
        char value[128], *sdk = NULL;
        size_t sdk_len = 0, dl = 0, ul = 0;
        int sdk_ok = gwf_base64_decode(tokens[i], strlen(tokens[i]), &sdk,
                                       &sdk_len) == 0;
        const char *colon = sdk_ok ? memchr(sdk, ':', sdk_len) : NULL;
        int want_ok = colon && colon != sdk;
        int rc;

        snprintf(value, sizeof(value), "Basic %s", tokens[i]);
        rc = ba_parse_authorization_into(value, strlen(value), out, &dl, &ul);
        if (want_ok != (rc == BA_CRED_OK))
            fail_msg("token %s: sdk %s, parser %d", tokens[i],
                     want_ok ? "ok" : "refused", rc);
        if (want_ok) {
            assert_int_equal(dl, sdk_len);
            assert_memory_equal(out, sdk, sdk_len);
            assert_int_equal(ul, (size_t)(colon - sdk));
        }
        free(sdk);
    }
}

/* A worker's SHA-1 context, reused request after request (right and
 * wrong passwords, other users' checks in between), answers as a fresh
 * context per check does. */
static void
test_sha1_check_in_a_reused_context_matches_a_fresh_one(void **state)
{
    static const char *const passwords[] = {
        "sha-pass", "sha-pasS", "", "sha-pass", "sha-pass ", "sha-pass"};
    EVP_MD_CTX *work = EVP_MD_CTX_new();

    (void)state;
    assert_non_null(work);
    for (int round = 0; round < 3; round++)
        for (size_t i = 0; i < sizeof(passwords) / sizeof(passwords[0]); i++) {
            const char *pw = passwords[i];
            assert_int_equal(
                ba_user_verify_in(&vectors, work, vector("sha"), pw,
                                  strlen(pw)),
                ba_user_verify(&vectors, vector("sha"), pw, strlen(pw)));
            assert_int_equal(ba_user_verify_in(&vectors, work, vector("sha"),
                                               pw, strlen(pw)),
                             strcmp(pw, "sha-pass") == 0);
            /* Another format in between leaves the context usable. */
            assert_true(ba_user_verify_in(&vectors, work, vector("apr"),
                                          "apr-pass", 8));
        }
    EVP_MD_CTX_free(work);
}

/* -- Cache
 * ----------------------------------------------------------------------- */

static void
test_cache_hits_only_on_the_whole_digest(void **state)
{
    unsigned char key[BA_DIGEST_LEN] = {1, 2, 3};
    unsigned char a[BA_DIGEST_LEN], b[BA_DIGEST_LEN];
    ba_cache *c = ba_cache_new(16);

    (void)state;
    assert_non_null(c);
    assert_int_equal(ba_cache_digest(c, key, "Basic YQ==", 10, a), 0);
    /* The cache's context is reused: the same value, the same digest. */
    assert_int_equal(ba_cache_digest(c, key, "Basic YQ==", 10, b), 0);
    assert_memory_equal(a, b, BA_DIGEST_LEN);
    assert_int_equal(ba_cache_get(c, a), -1);
    ba_cache_put(c, a, 7);
    assert_int_equal(ba_cache_get(c, a), 7);
    /* Same slot (same first 8 bytes), one byte different at the end. */
    memcpy(b, a, sizeof(b));
    b[BA_DIGEST_LEN - 1] ^= 1;
    assert_int_equal(ba_cache_get(c, b), -1);
    /* Another key gives another digest for the same value. */
    key[0] = 9;
    assert_int_equal(ba_cache_digest(c, key, "Basic YQ==", 10, b), 0);
    assert_memory_not_equal(a, b, BA_DIGEST_LEN);
    ba_cache_free(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_vector_is_classified_by_its_format),
        cmocka_unit_test(test_sha1_password_matches_and_near_misses_do_not),
        cmocka_unit_test(test_apr1_password_made_by_openssl_matches),
        cmocka_unit_test(test_md5crypt_password_made_by_openssl_matches),
        cmocka_unit_test(test_apr1_and_md5crypt_differ_only_by_magic),
        cmocka_unit_test(test_bcrypt_2b_2a_and_2y_passwords_match),
        cmocka_unit_test(test_bcrypt_password_with_a_nul_byte_never_matches),
        cmocka_unit_test(test_plain_text_password_is_refused_by_name),
        cmocka_unit_test(test_crypt_des_password_is_refused_by_name),
        cmocka_unit_test(test_sha512_crypt_is_refused_as_unsupported),
        cmocka_unit_test(test_bcrypt_cost_above_the_bound_is_refused),
        cmocka_unit_test(
            test_malformed_hashes_are_refused_without_quoting_them),
        cmocka_unit_test(test_lines_without_user_or_hash_are_refused),
        cmocka_unit_test(test_a_user_listed_twice_is_refused),
        cmocka_unit_test(test_huge_line_is_refused),
        cmocka_unit_test(test_basic_credentials_are_split_at_the_first_colon),
        cmocka_unit_test(test_other_schemes_are_bad_scheme),
        cmocka_unit_test(test_malformed_basic_credentials_are_refused),
        cmocka_unit_test(test_oversized_authorization_is_malformed),
        cmocka_unit_test(
            test_longest_authorization_decodes_in_the_callers_buffer),
        cmocka_unit_test(test_failed_parse_wipes_what_it_decoded),
        cmocka_unit_test(test_credential_decoding_agrees_with_the_sdk_base64),
        cmocka_unit_test(
            test_sha1_check_in_a_reused_context_matches_a_fresh_one),
        cmocka_unit_test(test_cache_hits_only_on_the_whole_digest),
    };
    return cmocka_run_group_tests(tests, load_vectors, free_vectors);
}
