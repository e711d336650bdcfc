/*
 * fuzz_sigv4.c - libFuzzer harness for the SigV4 canonicalisation of the
 * lambda_signer plugin (plugins/lambda_signer/sigv4.c).
 *
 * The input is a request in a loose text form:
 *
 *   byte 0        option bits: normalize path, presign, unsigned payload,
 *                 x-amz-content-sha256 header, session token, token
 *                 after signing, an excluded header
 *   METHOD SP TARGET LF
 *   Name:value LF ...         (any bytes; a line without ':' is a name
 *                             with an empty value)
 *   LF
 *   BODY
 *
 * Everything the signer reads comes from the input: method, path and
 * query (percent escapes valid or not, raw bytes, dot segments), header
 * names and values (white space, CR, LF, NUL), the host, the body. Each
 * input is signed twice with one key cache (the second time from the
 * cache, which must give the same signature), and the canonical URI and
 * query are also built on their own. Invariants checked: signing never
 * fails for a non-empty host; the canonical request's last line is the
 * payload hash; the string to sign ends with the canonical request's
 * SHA-256; everything is freed (LeakSanitizer reports leaks as crashes).
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sigv4.h"

#define MAX_HEADERS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t opts = data[0];
    const char *p = (const char *)data + 1;
    const char *end = (const char *)data + size;

    /* Request line. */
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    const char *line_end = eol ? eol : end;
    const char *sp = memchr(p, ' ', (size_t)(line_end - p));
    gwf_view method = {p, sp ? (size_t)(sp - p) : (size_t)(line_end - p)};
    gwf_view target = {sp ? sp + 1 : line_end,
                       sp ? (size_t)(line_end - sp - 1) : 0};
    p = eol ? eol + 1 : end;

    gwf_header headers[MAX_HEADERS];
    size_t count = 0;
    gwf_view host = {"example.amazonaws.com", 21};
    while (p < end && count < MAX_HEADERS) {
        eol = memchr(p, '\n', (size_t)(end - p));
        line_end = eol ? eol : end;
        if (line_end == p) {
            p = line_end + 1;
            break;
        }
        const char *colon = memchr(p, ':', (size_t)(line_end - p));
        headers[count].name =
            (gwf_view){p, colon ? (size_t)(colon - p) : (size_t)(line_end - p)};
        headers[count].value =
            (gwf_view){colon ? colon + 1 : line_end,
                       colon ? (size_t)(line_end - colon - 1) : 0};
        if (gwf_view_ieq(headers[count].name, "host") &&
            headers[count].value.len > 0)
            host = headers[count].value;
        count++;
        p = eol ? eol + 1 : end;
    }
    gwf_view body = {p < end ? p : end, p < end ? (size_t)(end - p) : 0};

    static const char *const excluded[] = {"x-drop", "content-type"};
    sigv4_params params = {
        .region = "us-east-1",
        .service = "service",
        .unix_seconds = 1440938160,
        .normalize_path = opts & 1,
        .presign = (opts >> 1) & 1,
        .expires = 3600,
        .unsigned_payload = (opts >> 2) & 1,
        .content_sha256_header = (opts >> 3) & 1,
        .token_mode = (opts >> 5) & 1 ? SIGV4_TOKEN_AFTER : SIGV4_TOKEN_SIGNED,
        .excluded = excluded,
        .excluded_count = (opts >> 6) & 1 ? 2 : 0,
    };
    sigv4_credentials creds = {"AKIDEXAMPLE",
                               "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                               (opts >> 4) & 1 ? "TOKEN/+=" : NULL};
    sigv4_request req = {
        .method = method,
        .target = target,
        .headers = headers,
        .header_count = count,
        .host = host,
        .payload = body,
    };
    sigv4_key_cache cache = {0};
    sigv4_result first, second;
    const char *why = NULL;
    if (sigv4_sign(&req, &params, &creds, &cache, &first, &why) != 0)
        abort(); /* a non-empty host and valid credentials always sign */
    if (sigv4_sign(&req, &params, &creds, &cache, &second, &why) != 0 ||
        strcmp(first.signature, second.signature) != 0)
        abort();

    /* (memrchr: header values may hold NUL bytes.) */
    const char *last_nl = memrchr(first.canonical_request.data, '\n',
                                  first.canonical_request.len);
    size_t tail = last_nl
                      ? first.canonical_request.len -
                            (size_t)(last_nl + 1 - first.canonical_request.data)
                      : 0;
    if (!last_nl || tail != strlen(first.payload_hash) ||
        memcmp(last_nl + 1, first.payload_hash, tail) != 0)
        abort();
    char hash[SIGV4_HASH_HEX + 1];
    sigv4_sha256_hex(first.canonical_request.data, first.canonical_request.len,
                     hash);
    if (first.string_to_sign.len < SIGV4_HASH_HEX ||
        strcmp(first.string_to_sign.data + first.string_to_sign.len -
                   SIGV4_HASH_HEX,
               hash) != 0)
        abort();
    sigv4_result_free(&first);
    sigv4_result_free(&second);
    sigv4_key_cache_clear(&cache);

    gwf_strbuf b = {0};
    sigv4_canonical_uri(&b, target.ptr, target.len, opts & 1);
    sigv4_canonical_query(&b, target.ptr, target.len, NULL, 0);
    gwf_strbuf_free(&b);
    return 0;
}
