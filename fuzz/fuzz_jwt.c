/*
 * fuzz_jwt.c - libFuzzer harness for jwt_auth's token and JWKS parsers
 * (plugins/jwt_auth/token.c, jwks.c): the two places where bytes from a
 * client (the token) or from a remote server (the JWKS) meet our code.
 *
 * Each input is used three ways:
 *   1. the whole input as a compact token, parsed and verified against a
 *      fixed key set with one key of every type (RSA, EC P-256, Ed25519,
 *      oct), so every verification path sees hostile signatures;
 *   2. the whole input as jwks.local text (a PEM public key or a JWKS);
 *   3. split at the first newline: the part before as a JWKS, the part
 *      after as a token verified against it (keys and tokens that nearly
 *      match reach the deepest code).
 * Base64url is also round-tripped: what decodes must encode back to the
 * same text (one spelling per value). Everything is freed, so
 * LeakSanitizer reports leaks as crashes.
 *
 * With gcc, standalone_main.c replays files named on the command line.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jwt_auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Public keys only (from RFC 7515 A.2/A.3, RFC 8037 A.2) and an HMAC
 * test key: nothing secret. */
static const char fixed_jwks[] =
    "{\"keys\":["
    "{\"kty\":\"RSA\",\"kid\":\"r\",\"e\":\"AQAB\",\"n\":\"ofgWCuLjybRlzo0tZ"
    "WJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1P"
    "t0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7O"
    "Mg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665x"
    "smtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h"
    "9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ\"},"
    "{\"kty\":\"EC\",\"kid\":\"e\",\"crv\":\"P-256\","
    "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
    "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"},"
    "{\"kty\":\"OKP\",\"kid\":\"d\",\"crv\":\"Ed25519\","
    "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"},"
    "{\"kty\":\"oct\",\"kid\":\"h\",\"k\":\"c2VjcmV0LWZvci1mdXp6aW5n\"}"
    "]}";

static jwt_jwks *fixed;

static void
check_token(const char *token, size_t len, const jwt_jwks *set)
{
    jwt_jws jws;

    if (jwt_jws_parse(token, len, &jws) != JWT_OK)
        return;
    (void)jwt_jws_verify(&jws, set);
    for (size_t i = 0; set && i < set->count; i++)
        (void)jwt_jws_verify_key(&jws, &set->keys[i]);
    jwt_jws_clear(&jws);
}

static void
check_base64url(const char *text, size_t len)
{
    unsigned char *bytes;
    size_t n;
    char *again;

    if (jwt_b64url_decode(text, len, &bytes, &n) != 0)
        return;
    again = malloc(4 * (n / 3 + 1) + 1);
    if (again) {
        size_t m = jwt_b64url_encode(bytes, n, again);
        if (m != len || memcmp(again, text, len) != 0)
            abort(); /* decoding accepted a non-canonical spelling */
        free(again);
    }
    free(bytes);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    const char *newline = memchr(text, '\n', size);
    jwt_jwks *set;

    if (!fixed) {
        fixed = jwt_jwks_parse(fixed_jwks, sizeof(fixed_jwks) - 1, NULL, 0,
                               NULL, 0);
        if (!fixed)
            abort();
    }
    check_token(text, size, fixed);
    check_base64url(text, size < 4096 ? size : 4096);
    /* jwks.local's reader: PEM (OpenSSL's PEM and DER decoders) when
     * the text holds a BEGIN line, else the JSON forms. */
    set = jwt_jwks_parse_local(text, size, NULL, 0, NULL, 0);
    jwt_jwks_free(set);
    if (newline) {
        size_t head = (size_t)(newline - text);
        set = jwt_jwks_parse_local(text, head, NULL, 0, NULL, 0);
        check_token(newline + 1, size - head - 1, set ? set : fixed);
        jwt_jwks_free(set);
    }
    return 0;
}
