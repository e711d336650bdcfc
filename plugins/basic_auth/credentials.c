/*
 * credentials.c - the Authorization header of a basic_auth request
 * (RFC 7617): "Basic", white space, then the base64 of "user:password".
 *
 * The scheme is matched case-insensitively (RFC 9110 11.1); anything
 * else is BA_CRED_BAD_SCHEME. The token must be standard, padded base64
 * (what curl, browsers and every client send); the decoded bytes must
 * hold a colon, with a non-empty user before the first one (RFC 7617:
 * a user-id cannot contain a colon; the password may). Whatever fails is
 * BA_CRED_MALFORMED, and the request is refused: a credential that
 * cannot be read is never treated as "no credential".
 *
 * The request path decodes into the caller's buffer (on its stack, sized
 * for the longest value looked at), so a request costs no allocation;
 * the buffer holds the password, so the caller wipes it, and a parse
 * that fails wipes what it decoded itself. The base64 rules are those of
 * the SDK's gwf_base64_decode (length a multiple of 4, '=' only as the
 * last one or two characters), so both read a token the same way.
 */
#include "basic_auth.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The value of each base64 character, -1 for any other byte: a table,
 * since the token is read on every request. */
/* clang-format off */
static const signed char b64_values[256] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1, -1, 63,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
    -1,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, -1,
    -1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
};
/* clang-format on */

static int
b64_value(unsigned char c)
{
    return b64_values[c];
}

/* Padded base64 `in` into `out` (len / 4 * 3 bytes of room). Returns the
 * decoded length, or -1 for anything but padded standard base64 (what
 * was written before the bad character is wiped: it may be a password). */
static long
b64_decode(const char *in, size_t len, char *out)
{
    size_t o = 0;

    if (len % 4 != 0)
        return -1;
    for (size_t i = 0; i < len; i += 4) {
        int v[4], pad = 0;
        uint32_t w;

        for (int k = 0; k < 4; k++) {
            unsigned char c = (unsigned char)in[i + k];
            if (c == '=' && i + 4 == len && k >= 2) {
                v[k] = 0;
                pad++;
            } else if (pad || (v[k] = b64_value(c)) < 0) {
                OPENSSL_cleanse(out, o);
                return -1;
            }
        }
        w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
            (uint32_t)v[3];
        out[o++] = (char)(w >> 16);
        if (pad < 2)
            out[o++] = (char)(w >> 8 & 0xff);
        if (pad < 1)
            out[o++] = (char)(w & 0xff);
    }
    return (long)o;
}

int
ba_parse_authorization_into(const char *value, size_t len,
                            char out[BA_MAX_DECODED_LEN], size_t *decoded_len,
                            size_t *user_len)
{
    const char *p = value, *end = value + len, *colon;
    long n;

    *decoded_len = 0;
    *user_len = 0;
    if (len < 6 || strncasecmp(value, "Basic", 5) != 0 ||
        (value[5] != ' ' && value[5] != '\t'))
        return BA_CRED_BAD_SCHEME;
    if (len > BA_MAX_HEADER_LEN)
        return BA_CRED_MALFORMED;
    p += 5;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    if (p == end)
        return BA_CRED_MALFORMED;
    /* At most BA_MAX_HEADER_LEN - 6 characters: they decode to less than
     * BA_MAX_DECODED_LEN bytes. */
    n = b64_decode(p, (size_t)(end - p), out);
    if (n < 0)
        return BA_CRED_MALFORMED;
    colon = memchr(out, ':', (size_t)n);
    if (!colon || colon == out) {
        OPENSSL_cleanse(out, (size_t)n);
        return BA_CRED_MALFORMED;
    }
    *decoded_len = (size_t)n;
    *user_len = (size_t)(colon - out);
    return BA_CRED_OK;
}

int
ba_parse_authorization(const char *value, size_t len, char **decoded,
                       size_t *decoded_len, size_t *user_len)
{
    char *buf;
    int rc;

    *decoded = NULL;
    buf = malloc(BA_MAX_DECODED_LEN);
    if (!buf)
        return -1;
    rc = ba_parse_authorization_into(value, len, buf, decoded_len, user_len);
    if (rc != BA_CRED_OK) {
        free(buf); /* wiped by the parse */
        return rc;
    }
    *decoded = buf;
    return BA_CRED_OK;
}

void
ba_wipe_free(char *s, size_t len)
{
    if (!s)
        return;
    OPENSSL_cleanse(s, len);
    free(s);
}
