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
 * cannot be read is never treated as "no credential". The decoded copy
 * holds the password, so the caller wipes it (ba_wipe_free).
 */
#include "basic_auth.h"

#include <gwf/sdk.h>

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int
ba_parse_authorization(const char *value, size_t len, char **decoded,
                       size_t *decoded_len, size_t *user_len)
{
    const char *p = value, *end = value + len, *colon;
    char *raw = NULL;
    size_t raw_len = 0;

    *decoded = NULL;
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
    if (gwf_base64_decode(p, (size_t)(end - p), &raw, &raw_len) != 0) {
        /* gwf_base64_decode does not tell malformed from out of memory;
         * a malformed token is by far the likelier. */
        return BA_CRED_MALFORMED;
    }
    colon = memchr(raw, ':', raw_len);
    if (!colon || colon == raw) {
        ba_wipe_free(raw, raw_len);
        return BA_CRED_MALFORMED;
    }
    *decoded = raw;
    *decoded_len = raw_len;
    *user_len = (size_t)(colon - raw);
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
