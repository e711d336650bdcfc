/*
 * fuzz_http_response.c - libFuzzer harness for the SDK's HTTP/1.1 answer
 * parser (sdk/src/http_parse.c, gwf/sdk_http.h).
 *
 * The first byte is the setup: bit 0 says the request was HEAD, bit 1
 * that the peer closed after the input, bits 2-7 the size of the pieces
 * the input arrives in (1 to 64 bytes). The rest is what the peer sent.
 *
 * Beyond "no crash, no leak, no UB": the input fed in pieces must end
 * as the input fed whole (an answer, an error or "more" alike; when an
 * answer parsed,
 * the same status, headers, body bytes and end), since a peer chooses
 * where its bytes are split; and a parsed answer must lie within the
 * buffer: every header and the body inside it, the body within its limit,
 * the header count within its limit.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gwf/sdk_http.h>

static void
check(int ok)
{
    if (!ok)
        __builtin_trap();
}

static const gwf_http_limits limits = {
    .max_header_bytes = 1024, .max_headers = 16, .max_body_bytes = 2048};

/* Parse `data` arriving `piece` bytes at a time into `buf` (a copy of
 * its own): the result, with the parser left for the caller to read. */
static int
parse_in_pieces(gwf_http_parser *p, char *buf, size_t *len, const uint8_t *data,
                size_t size, size_t piece, int head, int eof)
{
    size_t fed = 0;
    int rc = GWF_HTTP_PARSE_MORE;

    check(gwf_http_parser_init(p, &limits, head) == GWF_OK);
    *len = 0;
    while (fed < size && rc == GWF_HTTP_PARSE_MORE) {
        size_t n = size - fed < piece ? size - fed : piece;
        memcpy(buf + *len, data + fed, n);
        *len += n;
        fed += n;
        rc = gwf_http_parse(p, buf, len, 0);
    }
    if (rc == GWF_HTTP_PARSE_MORE)
        rc = gwf_http_parse(p, buf, len, eof);
    else if (rc == GWF_HTTP_PARSE_DONE) {
        /* What followed the answer stays after p->end. */
        memcpy(buf + *len, data + fed, size - fed);
        *len += size - fed;
    }
    return rc;
}

static void
check_within(const gwf_http_parser *p, size_t len)
{
    check(p->status >= 200 && p->status <= 999);
    check(p->header_count <= limits.max_headers);
    check(p->body_len <= limits.max_body_bytes);
    check(p->body_start + p->body_len <= len);
    check(p->end <= len);
    for (size_t i = 0; i < p->header_count; i++) {
        const gwf_http_header_at *h = &p->headers[i];
        check(h->name_len > 0);
        check((size_t)h->name + h->name_len <= len);
        check((size_t)h->value + h->value_len <= len);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gwf_http_parser whole, pieces;
    char *a, *b;
    size_t a_len, b_len, piece;
    int head, eof, ra, rb;

    if (size < 1 || size > 65536)
        return 0;
    head = data[0] & 1;
    eof = (data[0] >> 1) & 1;
    piece = (size_t)(data[0] >> 2) + 1;
    data++;
    size--;
    a = malloc(size + 1);
    b = malloc(size + 1);
    check(a && b);
    ra = parse_in_pieces(&whole, a, &a_len, data, size, size ? size : 1, head,
                         eof);
    rb = parse_in_pieces(&pieces, b, &b_len, data, size, piece, head, eof);
    /* Which error can depend on where a bad line is cut (too long before
     * its bad byte came); whether it is one cannot. */
    check((ra == GWF_HTTP_PARSE_DONE) == (rb == GWF_HTTP_PARSE_DONE));
    check((ra == GWF_HTTP_PARSE_MORE) == (rb == GWF_HTTP_PARSE_MORE));
    if (ra == GWF_HTTP_PARSE_DONE) {
        check_within(&whole, a_len);
        check_within(&pieces, b_len);
        check(whole.status == pieces.status);
        check(whole.header_count == pieces.header_count);
        check(whole.keep_alive == pieces.keep_alive);
        check(whole.body_len == pieces.body_len);
        check(memcmp(a + whole.body_start, b + pieces.body_start,
                     whole.body_len) == 0);
        check(a_len - whole.end == b_len - pieces.end);
        for (size_t i = 0; i < whole.header_count; i++) {
            const gwf_http_header_at *x = &whole.headers[i],
                                     *y = &pieces.headers[i];
            check(x->name_len == y->name_len && x->value_len == y->value_len);
            check(memcmp(a + x->value, b + y->value, x->value_len) == 0);
        }
    }
    gwf_http_parser_free(&whole);
    gwf_http_parser_free(&pieces);
    free(a);
    free(b);
    return 0;
}
