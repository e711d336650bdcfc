/*
 * fuzz_http1.c — libFuzzer harness for the HTTP/1.1 file parsers.
 *
 * Every input is parsed both as a request and as a response. Beyond
 * "no crash, no leak, no UB", each message that parses is serialized and
 * parsed again, and the two must agree field for field: the serializer
 * writes exactly what the parser accepts, and the parser reads back
 * exactly what it produced. The one allowed difference is the header
 * section limit, since CRLF line endings can push a bare-LF input that
 * was just under it over.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http1.h"

static void
check(int ok)
{
    if (!ok)
        __builtin_trap();
}

static int
same_string(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

static void
check_same_message(const gwf_http_message *a, const gwf_http_message *b)
{
    check(same_string(a->method, b->method));
    check(same_string(a->target, b->target));
    check(same_string(a->reason, b->reason));
    check(a->status == b->status);
    check(a->minor_version == b->minor_version);
    check(a->header_count == b->header_count);
    for (size_t i = 0; i < a->header_count; i++) {
        const gwf_http_header *x = &a->headers[i], *y = &b->headers[i];
        check(x->name_len == y->name_len && x->value_len == y->value_len);
        check(memcmp(x->name, y->name, x->name_len) == 0);
        check(memcmp(x->value, y->value, x->value_len) == 0);
    }
    check(a->body_len == b->body_len);
    check(memcmp(a->body, b->body, a->body_len) == 0);
}

static void
round_trip(const gwf_http_message *first, int is_request)
{
    size_t len = 0;
    char *bytes = is_request ? gwf_http1_serialize_request(first, &len)
                             : gwf_http1_serialize_response(first, &len);
    if (!bytes)
        return; /* out of memory under the fuzzer's limit */

    gwf_http_message second;
    char err[256];
    int rc =
        is_request
            ? gwf_http1_parse_request(bytes, len, &second, err, sizeof(err))
            : gwf_http1_parse_response(bytes, len, &second, err, sizeof(err));
    if (rc == 0) {
        check_same_message(first, &second);
        gwf_http_message_free(&second);
    } else {
        check(strstr(err, "header section exceeds") != NULL);
    }
    free(bytes);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    gwf_http_message m;
    char err[256];

    if (gwf_http1_parse_request(text, size, &m, err, sizeof(err)) == 0) {
        round_trip(&m, 1);
        gwf_http_message_free(&m);
    } else {
        check(err[0] != '\0' && strchr(err, '\n') == NULL);
    }

    if (gwf_http1_parse_response(text, size, &m, err, sizeof(err)) == 0) {
        round_trip(&m, 0);
        gwf_http_message_free(&m);
    } else {
        check(err[0] != '\0' && strchr(err, '\n') == NULL);
    }
    return 0;
}
