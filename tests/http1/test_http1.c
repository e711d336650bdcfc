/*
 * test_http1.c — the HTTP/1.1 file codec and the upstream fetch, one
 * behaviour per test.
 *
 * Parser tests feed literal messages and check every field, or, for a
 * rejection, the exact error line. Fetch tests start a one-connection
 * server on 127.0.0.1 with an ephemeral port in a thread: it records the
 * request bytes it got and answers with a canned response, so a test can
 * check both directions. Nothing here talks to any other address.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http1.h"

/* ---- helpers ----------------------------------------------------------- */

static char err[256];

static int
parse_request_text(const char *text, gwf_http_message *m)
{
    return gwf_http1_parse_request(text, strlen(text), m, err, sizeof(err));
}

static int
parse_response_text(const char *text, gwf_http_message *m)
{
    return gwf_http1_parse_response(text, strlen(text), m, err, sizeof(err));
}

static void
expect_request_error_n(const char *data, size_t len, const char *message)
{
    gwf_http_message m;
    memset(&m, 0xab, sizeof(m)); /* must come back zeroed */
    err[0] = '\0';
    assert_int_equal(gwf_http1_parse_request(data, len, &m, err, sizeof(err)),
                     -1);
    assert_string_equal(err, message);
    assert_null(m.method);
    assert_null(m.headers);
    assert_null(m.body);
    assert_int_equal(m.header_count, 0);
}

static void
expect_request_error(const char *text, const char *message)
{
    expect_request_error_n(text, strlen(text), message);
}

static void
expect_response_error(const char *text, const char *message)
{
    gwf_http_message m;
    err[0] = '\0';
    assert_int_equal(parse_response_text(text, &m), -1);
    assert_string_equal(err, message);
    assert_null(m.reason);
}

static const char *
header_value(const gwf_http_message *m, const char *name)
{
    long i = gwf_http_header_find(m, name, 0);
    return i < 0 ? NULL : m->headers[i].value;
}

/* ---- parsing requests -------------------------------------------------- */

static void
test_request_with_crlf_is_parsed(void **state)
{
    (void)state;
    gwf_http_message m;
    assert_int_equal(parse_request_text("GET /items?id=7&x=%20 HTTP/1.1\r\n"
                                        "Host: example.test\r\n"
                                        "Accept: */*\r\n"
                                        "\r\n",
                                        &m),
                     0);
    assert_string_equal(m.method, "GET");
    assert_string_equal(m.target, "/items?id=7&x=%20");
    assert_int_equal(m.minor_version, 1);
    assert_int_equal(m.header_count, 2);
    assert_string_equal(m.headers[0].name, "Host");
    assert_int_equal(m.headers[0].name_len, 4);
    assert_string_equal(m.headers[0].value, "example.test");
    assert_int_equal(m.headers[0].value_len, 12);
    assert_string_equal(m.headers[1].name, "Accept");
    assert_string_equal(m.headers[1].value, "*/*");
    assert_non_null(m.body);
    assert_int_equal(m.body_len, 0);
    gwf_http_message_free(&m);
}

static void
test_request_with_bare_lf_is_parsed(void **state)
{
    (void)state;
    gwf_http_message m;
    assert_int_equal(parse_request_text("POST /submit HTTP/1.0\n"
                                        "Host: example.test\n"
                                        "Content-Length: 5\n"
                                        "\n"
                                        "hello",
                                        &m),
                     0);
    assert_string_equal(m.method, "POST");
    assert_int_equal(m.minor_version, 0);
    assert_int_equal(m.header_count, 2);
    assert_string_equal(header_value(&m, "content-length"), "5");
    assert_int_equal(m.body_len, 5);
    assert_memory_equal(m.body, "hello", 5);
    gwf_http_message_free(&m);
}

static void
test_mixed_line_endings_are_accepted(void **state)
{
    (void)state;
    gwf_http_message m;
    assert_int_equal(parse_request_text("GET / HTTP/1.1\r\n"
                                        "A: 1\n"
                                        "B: 2\r\n"
                                        "\n",
                                        &m),
                     0);
    assert_int_equal(m.header_count, 2);
    assert_string_equal(header_value(&m, "b"), "2");
    gwf_http_message_free(&m);
}

static void
test_request_without_final_blank_line_has_empty_body(void **state)
{
    (void)state;
    gwf_http_message m;
    assert_int_equal(parse_request_text("GET / HTTP/1.1\nHost: a\n", &m), 0);
    assert_int_equal(m.header_count, 1);
    assert_int_equal(m.body_len, 0);
    gwf_http_message_free(&m);

    assert_int_equal(parse_request_text("GET / HTTP/1.1\nHost: a", &m), 0);
    assert_string_equal(header_value(&m, "host"), "a");
    gwf_http_message_free(&m);
}

static void
test_blank_lines_before_request_line_are_skipped(void **state)
{
    (void)state;
    gwf_http_message m;
    assert_int_equal(parse_request_text("\r\n\nGET / HTTP/1.1\n\n", &m), 0);
    assert_string_equal(m.method, "GET");
    gwf_http_message_free(&m);
}

static void
test_header_values_are_trimmed_of_spaces_and_tabs(void **state)
{
    (void)state;
    gwf_http_message m;
    assert_int_equal(parse_request_text("GET / HTTP/1.1\n"
                                        "X-A: \t spaced out \t \n"
                                        "X-Empty:\n"
                                        "X-Inner:a  b\n\n",
                                        &m),
                     0);
    assert_string_equal(m.headers[0].value, "spaced out");
    assert_int_equal(m.headers[0].value_len, 10);
    assert_string_equal(m.headers[1].value, "");
    assert_int_equal(m.headers[1].value_len, 0);
    assert_string_equal(m.headers[2].value, "a  b");
    gwf_http_message_free(&m);
}

static void
test_request_body_without_length_is_the_rest_of_the_input(void **state)
{
    (void)state;
    gwf_http_message m;
    assert_int_equal(
        parse_request_text("PUT /doc HTTP/1.1\n\nline one\nline two\n", &m), 0);
    assert_int_equal(m.body_len, 18);
    assert_string_equal(m.body, "line one\nline two\n");
    assert_int_equal(gwf_http_header_find(&m, "content-length", 0), -1);
    gwf_http_message_free(&m);
}

static void
test_body_with_binary_bytes_keeps_them(void **state)
{
    (void)state;
    static const char input[] = "POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\n"
                                "a\0\r\n";
    gwf_http_message m;
    assert_int_equal(
        gwf_http1_parse_request(input, sizeof(input) - 1, &m, err, sizeof(err)),
        0);
    assert_int_equal(m.body_len, 4);
    assert_memory_equal(m.body, "a\0\r\n", 4);
    gwf_http_message_free(&m);
}

static void
test_repeated_identical_content_length_is_accepted(void **state)
{
    (void)state;
    gwf_http_message m;
    assert_int_equal(parse_request_text("POST / HTTP/1.1\n"
                                        "Content-Length: 3\n"
                                        "Content-Length: 3, 3\n"
                                        "\nabc",
                                        &m),
                     0);
    assert_int_equal(m.body_len, 3);
    gwf_http_message_free(&m);
}

static void
test_exactly_256_headers_are_accepted(void **state)
{
    (void)state;
    size_t cap = 256 * 16 + 64;
    char *text = malloc(cap);
    assert_non_null(text);
    size_t len = (size_t)snprintf(text, cap, "GET / HTTP/1.1\n");
    for (int i = 0; i < 256; i++)
        len += (size_t)snprintf(text + len, cap - len, "X-%d: v\n", i);
    gwf_http_message m;
    assert_int_equal(gwf_http1_parse_request(text, len, &m, err, sizeof(err)),
                     0);
    assert_int_equal(m.header_count, 256);
    gwf_http_message_free(&m);
    free(text);
}

/* ---- chunked ----------------------------------------------------------- */

static void
test_chunked_body_is_decoded_and_reframed_with_content_length(void **state)
{
    (void)state;
    gwf_http_message m;
    assert_int_equal(parse_request_text("POST /up HTTP/1.1\r\n"
                                        "Host: a\r\n"
                                        "Transfer-Encoding: chunked\r\n"
                                        "X-After: 1\r\n"
                                        "\r\n"
                                        "5\r\nhello\r\n"
                                        "6\r\n world\r\n"
                                        "0\r\n"
                                        "\r\n",
                                        &m),
                     0);
    assert_int_equal(m.body_len, 11);
    assert_string_equal(m.body, "hello world");
    assert_int_equal(gwf_http_header_find(&m, "transfer-encoding", 0), -1);
    assert_int_equal(m.header_count, 3);
    assert_string_equal(m.headers[0].name, "Host");
    assert_string_equal(m.headers[1].name, "X-After");
    assert_string_equal(m.headers[2].name, "Content-Length");
    assert_string_equal(m.headers[2].value, "11");
    gwf_http_message_free(&m);
}

static void
test_chunked_body_with_lf_only_is_decoded(void **state)
{
    (void)state;
    gwf_http_message m;
    assert_int_equal(parse_request_text("POST / HTTP/1.1\n"
                                        "Transfer-Encoding: CHUNKED\n"
                                        "\n"
                                        "3\nab\n\n"
                                        "A\n0123456789\n"
                                        "0\n",
                                        &m),
                     0);
    assert_int_equal(m.body_len, 13);
    assert_memory_equal(m.body, "ab\n0123456789", 13);
    gwf_http_message_free(&m);
}

static void
test_chunk_extensions_and_trailers_are_dropped(void **state)
{
    (void)state;
    gwf_http_message m;
    assert_int_equal(parse_request_text("POST / HTTP/1.1\r\n"
                                        "Transfer-Encoding: chunked\r\n"
                                        "\r\n"
                                        "4 ;name=value;flag\r\nwiki\r\n"
                                        "0;last\r\n"
                                        "Checksum: abc\r\n"
                                        "\r\n",
                                        &m),
                     0);
    assert_string_equal(m.body, "wiki");
    assert_int_equal(gwf_http_header_find(&m, "checksum", 0), -1);
    assert_string_equal(header_value(&m, "content-length"), "4");
    gwf_http_message_free(&m);
}

static void
test_empty_chunked_body_gets_content_length_zero(void **state)
{
    (void)state;
    gwf_http_message m;
    assert_int_equal(parse_request_text("POST / HTTP/1.1\n"
                                        "Transfer-Encoding: chunked\n\n0\n\n",
                                        &m),
                     0);
    assert_int_equal(m.body_len, 0);
    assert_string_equal(header_value(&m, "content-length"), "0");
    gwf_http_message_free(&m);
}

/* ---- parsing responses ------------------------------------------------- */

static void
test_response_is_parsed(void **state)
{
    (void)state;
    gwf_http_message m;
    assert_int_equal(parse_response_text("HTTP/1.1 404 Not Found\r\n"
                                         "Content-Type: text/plain\r\n"
                                         "Content-Length: 4\r\n"
                                         "\r\n"
                                         "gone",
                                         &m),
                     0);
    assert_int_equal(m.status, 404);
    assert_string_equal(m.reason, "Not Found");
    assert_int_equal(m.minor_version, 1);
    assert_null(m.method);
    assert_int_equal(m.header_count, 2);
    assert_string_equal(m.body, "gone");
    gwf_http_message_free(&m);
}

static void
test_response_without_reason_has_empty_reason(void **state)
{
    (void)state;
    gwf_http_message m;
    assert_int_equal(parse_response_text("HTTP/1.0 200\n\n", &m), 0);
    assert_int_equal(m.status, 200);
    assert_string_equal(m.reason, "");
    assert_int_equal(m.minor_version, 0);
    gwf_http_message_free(&m);

    assert_int_equal(parse_response_text("HTTP/1.1 200 \n\n", &m), 0);
    assert_string_equal(m.reason, "");
    gwf_http_message_free(&m);
}

static void
test_response_body_without_length_runs_to_end_of_input(void **state)
{
    (void)state;
    gwf_http_message m;
    assert_int_equal(parse_response_text("HTTP/1.1 200 OK\n\nall of\nthis", &m),
                     0);
    assert_string_equal(m.body, "all of\nthis");
    gwf_http_message_free(&m);
}

static void
test_304_response_has_no_body_despite_content_length(void **state)
{
    (void)state;
    gwf_http_message m;
    assert_int_equal(parse_response_text("HTTP/1.1 304 Not Modified\r\n"
                                         "Content-Length: 1234\r\n\r\n",
                                         &m),
                     0);
    assert_int_equal(m.body_len, 0);
    assert_string_equal(header_value(&m, "Content-Length"), "1234");
    gwf_http_message_free(&m);
}

static void
test_chunked_response_is_decoded(void **state)
{
    (void)state;
    gwf_http_message m;
    assert_int_equal(parse_response_text("HTTP/1.1 200 OK\n"
                                         "Transfer-Encoding: chunked\n\n"
                                         "2\nok\n0\n\n",
                                         &m),
                     0);
    assert_string_equal(m.body, "ok");
    assert_string_equal(header_value(&m, "content-length"), "2");
    gwf_http_message_free(&m);
}

/* ---- rejections -------------------------------------------------------- */

static void
test_empty_input_is_rejected(void **state)
{
    (void)state;
    expect_request_error("", "empty input: no request line");
    expect_request_error("\n\r\n", "empty input: no request line");
    expect_response_error("", "empty input: no status line");
}

static void
test_obsolete_line_folding_is_rejected(void **state)
{
    (void)state;
    expect_request_error("GET / HTTP/1.1\r\n"
                         "X-Long: first\r\n"
                         " continued\r\n\r\n",
                         "line 3: obsolete line folding is not allowed "
                         "(line starts with whitespace)");
}

static void
test_header_name_with_space_is_rejected(void **state)
{
    (void)state;
    expect_request_error("GET / HTTP/1.1\nHost: a\nX Bad: 1\n\n",
                         "line 3: header name contains a space");
    expect_request_error("GET / HTTP/1.1\nHost : a\n\n",
                         "line 2: header name contains a space");
}

static void
test_header_name_with_tab_is_rejected(void **state)
{
    (void)state;
    expect_request_error("GET / HTTP/1.1\nHost\t: a\n\n",
                         "line 2: header name contains a tab");
}

static void
test_header_name_with_non_token_character_is_rejected(void **state)
{
    (void)state;
    expect_request_error("GET / HTTP/1.1\nX-@: 1\n\n",
                         "line 2: header name contains invalid character '@'");
    expect_request_error("GET / HTTP/1.1\nX-\x01: 1\n\n",
                         "line 2: header name contains invalid byte 0x01");
}

static void
test_empty_header_name_is_rejected(void **state)
{
    (void)state;
    expect_request_error("GET / HTTP/1.1\n: value\n\n",
                         "line 2: empty header name");
}

static void
test_header_line_without_colon_is_rejected(void **state)
{
    (void)state;
    expect_request_error("GET / HTTP/1.1\nHost example\n\n",
                         "line 2: header line has no colon: 'Host example'");
}

static void
test_nul_in_header_value_is_rejected(void **state)
{
    (void)state;
    static const char input[] = "GET / HTTP/1.1\nX-A: a\0b\n\n";
    expect_request_error_n(input, sizeof(input) - 1,
                           "line 2: header value contains a NUL byte");
}

static void
test_bare_cr_in_header_value_is_rejected(void **state)
{
    (void)state;
    expect_request_error("GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n",
                         "line 2: header value contains a bare CR");
}

static void
test_bare_cr_in_request_line_is_rejected(void **state)
{
    (void)state;
    expect_request_error("GET /\r HTTP/1.1\n\n",
                         "line 1: request line contains a bare CR");
}

static void
test_conflicting_content_length_is_rejected(void **state)
{
    (void)state;
    expect_request_error("POST / HTTP/1.1\n"
                         "Content-Length: 3\n"
                         "Content-Length: 4\n\nabcd",
                         "line 3: conflicting Content-Length values 3 and 4");
    expect_request_error("POST / HTTP/1.1\nContent-Length: 3, 4\n\nabc",
                         "line 2: conflicting Content-Length values 3 and 4");
}

static void
test_invalid_content_length_is_rejected(void **state)
{
    (void)state;
    expect_request_error("POST / HTTP/1.1\nContent-Length: 12a\n\n",
                         "line 2: invalid Content-Length '12a'");
    expect_request_error("POST / HTTP/1.1\nContent-Length: -1\n\n",
                         "line 2: invalid Content-Length '-1'");
    expect_request_error("POST / HTTP/1.1\nContent-Length:\n\n",
                         "line 2: empty Content-Length");
}

static void
test_content_length_with_chunked_is_rejected(void **state)
{
    (void)state;
    expect_request_error("POST / HTTP/1.1\n"
                         "Content-Length: 5\n"
                         "Transfer-Encoding: chunked\n\n"
                         "5\nhello\n0\n\n",
                         "line 3: both Content-Length and "
                         "Transfer-Encoding: chunked");
    expect_request_error("POST / HTTP/1.1\n"
                         "Transfer-Encoding: chunked\n"
                         "Content-Length: 5\n\n"
                         "5\nhello\n0\n\n",
                         "line 2: both Content-Length and "
                         "Transfer-Encoding: chunked");
}

static void
test_unsupported_transfer_coding_is_rejected(void **state)
{
    (void)state;
    expect_request_error("POST / HTTP/1.1\n"
                         "Transfer-Encoding: gzip, chunked\n\n",
                         "line 2: Transfer-Encoding 'gzip' is not supported "
                         "(only chunked is)");
    expect_request_error("POST / HTTP/1.1\n"
                         "Transfer-Encoding: chunked\n"
                         "Transfer-Encoding: chunked\n\n",
                         "line 3: Transfer-Encoding applies chunked more "
                         "than once");
}

static void
test_more_than_256_headers_are_rejected(void **state)
{
    (void)state;
    size_t cap = 257 * 16 + 64;
    char *text = malloc(cap);
    assert_non_null(text);
    size_t len = (size_t)snprintf(text, cap, "GET / HTTP/1.1\n");
    for (int i = 0; i < 257; i++)
        len += (size_t)snprintf(text + len, cap - len, "X-%d: v\n", i);
    expect_request_error_n(text, len, "line 258: more than 256 headers");
    free(text);
}

static void
test_header_section_over_64_kib_is_rejected(void **state)
{
    (void)state;
    static const char head[] = "GET / HTTP/1.1\nX-Big: ";
    size_t value_len = 70 * 1024;
    char *text = malloc(sizeof(head) + value_len + 2);
    assert_non_null(text);
    memcpy(text, head, sizeof(head) - 1);
    size_t len = sizeof(head) - 1;
    memset(text + len, 'v', value_len);
    len += value_len;
    memcpy(text + len, "\n\n", 2);
    len += 2;
    expect_request_error_n(text, len,
                           "line 2: header section exceeds 65536 bytes");
    free(text);
}

static void
test_body_over_64_mib_is_rejected(void **state)
{
    (void)state;
    expect_request_error("POST / HTTP/1.1\nContent-Length: 67108865\n\n",
                         "line 2: Content-Length exceeds the 67108864-byte "
                         "body limit");

    static const char head[] = "PUT / HTTP/1.1\n\n";
    size_t len = sizeof(head) - 1 + GWF_HTTP1_MAX_BODY + 1;
    char *text = malloc(len);
    assert_non_null(text);
    memcpy(text, head, sizeof(head) - 1);
    memset(text + sizeof(head) - 1, 'b', GWF_HTTP1_MAX_BODY + 1);
    expect_request_error_n(text, len,
                           "body: 67108865 bytes exceed the 67108864-byte "
                           "body limit");
    free(text);
}

static void
test_body_shorter_than_content_length_is_rejected(void **state)
{
    (void)state;
    expect_request_error("POST / HTTP/1.1\nContent-Length: 10\n\nshort",
                         "body: Content-Length is 10 but only 5 bytes follow "
                         "the header section");
}

static void
test_body_longer_than_content_length_is_rejected(void **state)
{
    (void)state;
    expect_request_error("POST / HTTP/1.1\nContent-Length: 2\n\nlonger",
                         "body: Content-Length is 2 but 6 bytes follow the "
                         "header section");
}

static void
test_trailing_newline_after_body_is_rejected_with_a_hint(void **state)
{
    (void)state;
    expect_request_error("POST / HTTP/1.1\nContent-Length: 5\n\nhello\n",
                         "body: Content-Length is 5 but 6 bytes follow the "
                         "header section (a trailing newline counts)");
}

static void
test_invalid_chunk_size_is_rejected(void **state)
{
    (void)state;
    expect_request_error("POST / HTTP/1.1\n"
                         "Transfer-Encoding: chunked\n\n"
                         "zz\nhello\n0\n\n",
                         "line 4: invalid chunk size 'zz'");
    expect_request_error("POST / HTTP/1.1\n"
                         "Transfer-Encoding: chunked\n\n"
                         "\n",
                         "line 4: invalid chunk size ''");
    expect_request_error("POST / HTTP/1.1\n"
                         "Transfer-Encoding: chunked\n\n"
                         "-5\nhello\n0\n\n",
                         "line 4: invalid chunk size '-5'");
}

static void
test_chunk_size_over_the_body_limit_is_rejected(void **state)
{
    (void)state;
    expect_request_error("POST / HTTP/1.1\n"
                         "Transfer-Encoding: chunked\n\n"
                         "ffffffffffffffffffff\n",
                         "line 4: chunk size exceeds the 67108864-byte body "
                         "limit");
}

static void
test_truncated_chunk_is_rejected(void **state)
{
    (void)state;
    expect_request_error("POST / HTTP/1.1\n"
                         "Transfer-Encoding: chunked\n\n"
                         "a\nhello",
                         "line 4: chunk of 10 bytes is truncated (5 present)");
}

static void
test_chunk_not_followed_by_line_break_is_rejected(void **state)
{
    (void)state;
    expect_request_error("POST / HTTP/1.1\n"
                         "Transfer-Encoding: chunked\n\n"
                         "3\nab\ncd\n0\n\n",
                         "line 4: chunk data (3 bytes) is not followed by a "
                         "line break");
}

static void
test_chunked_body_without_last_chunk_is_rejected(void **state)
{
    (void)state;
    expect_request_error("POST / HTTP/1.1\n"
                         "Transfer-Encoding: chunked\n\n"
                         "5\nhello\n",
                         "line 6: chunked body ends before the last chunk "
                         "(a line with '0')");
}

static void
test_bytes_after_last_chunk_are_rejected(void **state)
{
    (void)state;
    expect_request_error("POST / HTTP/1.1\n"
                         "Transfer-Encoding: chunked\n\n"
                         "0\n\nGET /smuggled HTTP/1.1\n\n",
                         "line 6: 24 bytes after the last chunk");
}

static void
test_bad_trailer_is_rejected(void **state)
{
    (void)state;
    expect_request_error("POST / HTTP/1.1\n"
                         "Transfer-Encoding: chunked\n\n"
                         "0\nBad Trailer: x\n\n",
                         "line 5: header name contains a space");
}

static void
test_unsupported_http_version_is_rejected(void **state)
{
    (void)state;
    expect_request_error("GET / HTTP/2.0\n\n",
                         "line 1: unsupported HTTP version 'HTTP/2.0' "
                         "(expected HTTP/1.0 or HTTP/1.1)");
    expect_request_error("GET / http/1.1\n\n",
                         "line 1: unsupported HTTP version 'http/1.1' "
                         "(expected HTTP/1.0 or HTTP/1.1)");
    expect_response_error("HTTP/1.2 200 OK\n\n",
                          "line 1: unsupported HTTP version 'HTTP/1.2' "
                          "(expected HTTP/1.0 or HTTP/1.1)");
}

static void
test_request_line_without_version_is_rejected(void **state)
{
    (void)state;
    expect_request_error("GET /\n\n",
                         "line 1: request line has no HTTP version "
                         "(expected 'METHOD /path HTTP/1.1')");
    expect_request_error("GET\n\n", "line 1: request line must be "
                                    "'METHOD /path HTTP/1.1'");
}

static void
test_non_origin_form_target_is_rejected(void **state)
{
    (void)state;
    expect_request_error("GET http://example.test/ HTTP/1.1\n\n",
                         "line 1: request target 'http://example.test/' is "
                         "not origin-form (it must start with '/')");
    expect_request_error("GET  / HTTP/1.1\n\n", "line 1: empty request target");
}

static void
test_target_with_control_or_non_ascii_bytes_is_rejected(void **state)
{
    (void)state;
    expect_request_error("GET /a\tb HTTP/1.1\n\n",
                         "line 1: request target contains a control "
                         "character");
    expect_request_error("GET /caf\xc3\xa9 HTTP/1.1\n\n",
                         "line 1: request target contains a non-ASCII byte "
                         "(percent-encode it)");
}

static void
test_method_that_is_not_a_token_is_rejected(void **state)
{
    (void)state;
    expect_request_error("GE(T / HTTP/1.1\n\n",
                         "line 1: method 'GE(T' is not a valid token");
    expect_request_error(" GET / HTTP/1.1\n\n",
                         "line 1: method '' is not a valid token");
}

static void
test_bad_status_code_is_rejected(void **state)
{
    (void)state;
    expect_response_error("HTTP/1.1 20 OK\n\n",
                          "line 1: status line must be 'HTTP/1.1 200 Reason' "
                          "(three-digit status code)");
    expect_response_error("HTTP/1.1 2000 OK\n\n",
                          "line 1: status line must be 'HTTP/1.1 200 Reason' "
                          "(three-digit status code)");
    expect_response_error("HTTP/1.1 099 Low\n\n",
                          "line 1: status code 99 is out of range 100-599");
    expect_response_error("HTTP/1.1 600 High\n\n",
                          "line 1: status code 600 is out of range 100-599");
}

static void
test_control_character_in_reason_is_rejected(void **state)
{
    (void)state;
    expect_response_error("HTTP/1.1 200 O\x01K\n\n",
                          "line 1: reason phrase contains a control "
                          "character");
}

static void
test_body_on_a_204_response_is_rejected(void **state)
{
    (void)state;
    expect_response_error("HTTP/1.1 204 No Content\n\nsurprise",
                          "body: a 204 response has no body, but 8 bytes "
                          "follow the header section");
}

static void
test_long_error_is_truncated_to_the_buffer(void **state)
{
    (void)state;
    char small[12];
    gwf_http_message m;
    assert_int_equal(
        gwf_http1_parse_request("GET / HTTP/3\n", 13, &m, small, sizeof(small)),
        -1);
    assert_string_equal(small, "line 1: uns");
    assert_int_equal(gwf_http1_parse_request("GET / HTTP/3\n", 13, &m, NULL, 0),
                     -1);
}

static void
test_snippet_in_error_is_bounded_and_printable(void **state)
{
    (void)state;
    static const char head[] = "GET / HTTP/1.1\n";
    char input[200];
    memcpy(input, head, sizeof(head) - 1);
    size_t len = sizeof(head) - 1;
    memset(input + len, 'x', 60);
    len += 60;
    input[len++] = '\n';
    expect_request_error_n(input, len,
                           "line 2: header line has no colon: "
                           "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...'");
}

/* ---- header lookup and serializing ------------------------------------- */

static void
test_header_find_ignores_case_and_resumes_from_start(void **state)
{
    (void)state;
    gwf_http_message m;
    assert_int_equal(parse_request_text("GET / HTTP/1.1\n"
                                        "Set: 1\nOther: x\nSET: 2\n\n",
                                        &m),
                     0);
    assert_int_equal(gwf_http_header_find(&m, "set", 0), 0);
    assert_int_equal(gwf_http_header_find(&m, "set", 1), 2);
    assert_int_equal(gwf_http_header_find(&m, "set", 3), -1);
    assert_int_equal(gwf_http_header_find(&m, "se", 0), -1);
    assert_int_equal(gwf_http_header_find(&m, "missing", 0), -1);
    assert_int_equal(gwf_http_header_find(NULL, "set", 0), -1);
    gwf_http_message_free(&m);
}

static void
test_serialized_request_uses_crlf_and_keeps_headers_as_they_are(void **state)
{
    (void)state;
    gwf_http_message m;
    assert_int_equal(parse_request_text("POST /p?q=1 HTTP/1.0\n"
                                        "host: a\n"
                                        "X-Empty:\n"
                                        "Content-Length: 2\n\nhi",
                                        &m),
                     0);
    size_t len = 0;
    char *bytes = gwf_http1_serialize_request(&m, &len);
    assert_non_null(bytes);
    static const char expected[] = "POST /p?q=1 HTTP/1.0\r\n"
                                   "host: a\r\n"
                                   "X-Empty: \r\n"
                                   "Content-Length: 2\r\n"
                                   "\r\n"
                                   "hi";
    assert_int_equal(len, sizeof(expected) - 1);
    assert_memory_equal(bytes, expected, len);
    assert_int_equal(bytes[len], '\0');
    free(bytes);
    gwf_http_message_free(&m);
}

static void
test_serialized_response_keeps_empty_reason_and_status_digits(void **state)
{
    (void)state;
    gwf_http_header header = {"X-A", 3, "1", 1};
    gwf_http_message m = {
        .status = 204,
        .reason = "",
        .minor_version = 1,
        .headers = &header,
        .header_count = 1,
    };
    size_t len = 0;
    char *bytes = gwf_http1_serialize_response(&m, &len);
    assert_non_null(bytes);
    assert_string_equal(bytes, "HTTP/1.1 204 \r\nX-A: 1\r\n\r\n");
    assert_int_equal(len, strlen(bytes));
    free(bytes);
}

static void
test_parse_of_serialized_message_gives_the_same_message(void **state)
{
    (void)state;
    gwf_http_message first, second;
    assert_int_equal(parse_response_text("HTTP/1.1 200 OK\n"
                                         "Transfer-Encoding: chunked\n"
                                         "X-A:  a \n\n"
                                         "3\nabc\n0\n\n",
                                         &first),
                     0);
    size_t len;
    char *bytes = gwf_http1_serialize_response(&first, &len);
    assert_non_null(bytes);
    assert_int_equal(
        gwf_http1_parse_response(bytes, len, &second, err, sizeof(err)), 0);
    assert_int_equal(second.status, first.status);
    assert_string_equal(second.reason, first.reason);
    assert_int_equal(second.header_count, first.header_count);
    for (size_t i = 0; i < first.header_count; i++) {
        assert_string_equal(second.headers[i].name, first.headers[i].name);
        assert_string_equal(second.headers[i].value, first.headers[i].value);
    }
    assert_int_equal(second.body_len, first.body_len);
    assert_memory_equal(second.body, first.body, first.body_len);
    free(bytes);
    gwf_http_message_free(&first);
    gwf_http_message_free(&second);
}

static void
test_message_free_zeroes_and_tolerates_null(void **state)
{
    (void)state;
    gwf_http_message m;
    assert_int_equal(parse_request_text("GET / HTTP/1.1\nA: b\n\n", &m), 0);
    gwf_http_message_free(&m);
    assert_null(m.method);
    assert_null(m.headers);
    assert_int_equal(m.header_count, 0);
    gwf_http_message_free(&m);
    gwf_http_message_free(NULL);
}

/* ---- a one-connection test server -------------------------------------- */

struct test_server {
    int listen_fd;
    int port;
    pthread_t thread;
    const char *response; /* NULL: never answer; wait for the client to go */
    char request[65536];
    size_t request_len;
};

/* Headers complete and Content-Length bytes of body present. */
static bool
request_complete(const char *data, size_t len)
{
    const char *end = memmem(data, len, "\r\n\r\n", 4);
    if (!end)
        return false;
    size_t head_len = (size_t)(end - data) + 4;
    size_t body_len = 0;
    for (const char *line = data; line < end;) {
        const char *eol = memmem(line, (size_t)(end - line) + 2, "\r\n", 2);
        if (strncasecmp(line, "content-length:", 15) == 0)
            body_len = strtoul(line + 15, NULL, 10);
        line = eol + 2;
    }
    return len >= head_len + body_len;
}

static bool
wait_readable(int fd)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    return poll(&pfd, 1, 5000) == 1;
}

static void *
serve_one(void *arg)
{
    struct test_server *s = arg;
    if (!wait_readable(s->listen_fd))
        return NULL;
    int conn = accept(s->listen_fd, NULL, NULL);
    if (conn < 0)
        return NULL;
    while (!request_complete(s->request, s->request_len) &&
           wait_readable(conn)) {
        ssize_t got = recv(conn, s->request + s->request_len,
                           sizeof(s->request) - 1 - s->request_len, 0);
        if (got <= 0)
            break;
        s->request_len += (size_t)got;
    }
    s->request[s->request_len] = '\0';

    if (s->response) {
        size_t sent = 0, total = strlen(s->response);
        while (sent < total) {
            ssize_t n =
                send(conn, s->response + sent, total - sent, MSG_NOSIGNAL);
            if (n <= 0)
                break;
            sent += (size_t)n;
        }
    } else {
        char sink[256];
        while (wait_readable(conn) && recv(conn, sink, sizeof(sink), 0) > 0)
            ;
    }
    close(conn);
    return s;
}

static void
server_start(struct test_server *s, const char *response)
{
    memset(s, 0, sizeof(*s));
    s->response = response;
    s->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(s->listen_fd >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s->listen_fd, (struct sockaddr *)&addr, sizeof(addr)),
                     0);
    assert_int_equal(listen(s->listen_fd, 4), 0);
    socklen_t addr_len = sizeof(addr);
    assert_int_equal(
        getsockname(s->listen_fd, (struct sockaddr *)&addr, &addr_len), 0);
    s->port = ntohs(addr.sin_port);
    assert_int_equal(pthread_create(&s->thread, NULL, serve_one, s), 0);
}

static void
server_finish(struct test_server *s)
{
    void *result;
    pthread_join(s->thread, &result);
    assert_ptr_equal(result, s);
    close(s->listen_fd);
}

/* What the server received, parsed by the code under test's sibling. */
static void
server_request(struct test_server *s, gwf_http_message *m)
{
    if (gwf_http1_parse_request(s->request, s->request_len, m, err,
                                sizeof(err)) != 0)
        fail_msg("server got an unparsable request: %s\n%s", err, s->request);
}

static void
make_request(gwf_http_message *req, const char *text)
{
    assert_int_equal(parse_request_text(text, req), 0);
}

static void
server_url(const struct test_server *s, const char *path, char *url, size_t cap)
{
    snprintf(url, cap, "http://127.0.0.1:%d%s", s->port, path);
}

/* ---- fetch ------------------------------------------------------------- */

static void
test_fetch_returns_status_headers_and_body(void **state)
{
    (void)state;
    struct test_server s;
    server_start(&s, "HTTP/1.1 201 Created\r\n"
                     "X-Test: yes\r\n"
                     "Content-Type: text/plain\r\n"
                     "Content-Length: 5\r\n"
                     "\r\n"
                     "hello");
    gwf_http_message req, resp;
    make_request(&req, "GET /thing HTTP/1.1\nHost: upstream.test\n\n");
    char url[64];
    server_url(&s, "/", url, sizeof(url));

    assert_int_equal(gwf_http_fetch(url, &req, &resp, 5000, err, sizeof(err)),
                     0);
    server_finish(&s);
    assert_int_equal(resp.status, 201);
    assert_string_equal(resp.reason, "Created");
    assert_int_equal(resp.minor_version, 1);
    assert_int_equal(resp.header_count, 3);
    assert_string_equal(resp.headers[0].name, "X-Test");
    assert_string_equal(resp.headers[0].value, "yes");
    assert_string_equal(header_value(&resp, "content-type"), "text/plain");
    assert_string_equal(header_value(&resp, "content-length"), "5");
    assert_int_equal(resp.body_len, 5);
    assert_string_equal(resp.body, "hello");
    gwf_http_message_free(&req);
    gwf_http_message_free(&resp);
}

static void
test_fetch_sends_method_target_headers_and_body(void **state)
{
    (void)state;
    struct test_server s;
    server_start(&s, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    gwf_http_message req, resp, got;
    make_request(&req, "POST /submit?x=1 HTTP/1.1\n"
                       "Host: upstream.test\n"
                       "X-Client: gwf\n"
                       "X-Empty:\n"
                       "Connection: keep-alive\n"
                       "Content-Length: 11\n"
                       "\n"
                       "hello world");
    char url[64];
    server_url(&s, "", url, sizeof(url));

    assert_int_equal(gwf_http_fetch(url, &req, &resp, 5000, err, sizeof(err)),
                     0);
    server_finish(&s);
    server_request(&s, &got);
    assert_string_equal(got.method, "POST");
    assert_string_equal(got.target, "/submit?x=1");
    assert_int_equal(got.minor_version, 1);
    assert_string_equal(header_value(&got, "host"), "upstream.test");
    assert_string_equal(header_value(&got, "x-client"), "gwf");
    assert_string_equal(header_value(&got, "x-empty"), "");
    assert_string_equal(header_value(&got, "content-length"), "11");
    /* curl adds nothing of its own. */
    assert_int_equal(gwf_http_header_find(&got, "accept", 0), -1);
    assert_int_equal(gwf_http_header_find(&got, "content-type", 0), -1);
    assert_int_equal(gwf_http_header_find(&got, "expect", 0), -1);
    assert_int_equal(gwf_http_header_find(&got, "user-agent", 0), -1);
    assert_int_equal(got.body_len, 11);
    assert_string_equal(got.body, "hello world");
    gwf_http_message_free(&req);
    gwf_http_message_free(&resp);
    gwf_http_message_free(&got);
}

static void
test_fetch_sends_custom_method_without_body(void **state)
{
    (void)state;
    struct test_server s;
    server_start(&s, "HTTP/1.1 204 No Content\r\n\r\n");
    gwf_http_message req, resp, got;
    make_request(&req, "DELETE /items/3 HTTP/1.1\n\n");
    char url[64];
    server_url(&s, "/", url, sizeof(url));

    assert_int_equal(gwf_http_fetch(url, &req, &resp, 5000, err, sizeof(err)),
                     0);
    server_finish(&s);
    server_request(&s, &got);
    assert_string_equal(got.method, "DELETE");
    assert_string_equal(got.target, "/items/3");
    assert_int_equal(gwf_http_header_find(&got, "content-length", 0), -1);
    assert_int_equal(got.body_len, 0);
    assert_int_equal(resp.status, 204);
    assert_int_equal(resp.body_len, 0);
    assert_non_null(resp.body);
    gwf_http_message_free(&req);
    gwf_http_message_free(&resp);
    gwf_http_message_free(&got);
}

static void
test_fetch_sends_a_body_with_get_when_the_request_has_one(void **state)
{
    (void)state;
    struct test_server s;
    server_start(&s, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    gwf_http_message req, resp, got;
    make_request(&req, "GET /search HTTP/1.1\nContent-Length: 4\n\nterm");
    char url[64];
    server_url(&s, "/", url, sizeof(url));

    assert_int_equal(gwf_http_fetch(url, &req, &resp, 5000, err, sizeof(err)),
                     0);
    server_finish(&s);
    server_request(&s, &got);
    assert_string_equal(got.method, "GET");
    assert_string_equal(got.body, "term");
    gwf_http_message_free(&req);
    gwf_http_message_free(&resp);
    gwf_http_message_free(&got);
}

static void
test_fetch_prepends_the_url_path_prefix_to_the_target(void **state)
{
    (void)state;
    struct test_server s;
    server_start(&s, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    gwf_http_message req, resp, got;
    make_request(&req, "GET /users?id=1 HTTP/1.1\n\n");
    char url[64];
    server_url(&s, "/api/v2/", url, sizeof(url));

    assert_int_equal(gwf_http_fetch(url, &req, &resp, 5000, err, sizeof(err)),
                     0);
    server_finish(&s);
    server_request(&s, &got);
    assert_string_equal(got.target, "/api/v2/users?id=1");
    gwf_http_message_free(&req);
    gwf_http_message_free(&resp);
    gwf_http_message_free(&got);
}

static void
test_fetch_drops_hop_by_hop_response_headers(void **state)
{
    (void)state;
    struct test_server s;
    server_start(&s, "HTTP/1.1 200 OK\r\n"
                     "Connection: close, X-Private\r\n"
                     "X-Private: secret\r\n"
                     "Keep-Alive: timeout=5\r\n"
                     "Upgrade: h2c\r\n"
                     "X-Public: shown\r\n"
                     "Content-Length: 2\r\n"
                     "\r\n"
                     "ok");
    gwf_http_message req, resp;
    make_request(&req, "GET / HTTP/1.1\n\n");
    char url[64];
    server_url(&s, "/", url, sizeof(url));

    assert_int_equal(gwf_http_fetch(url, &req, &resp, 5000, err, sizeof(err)),
                     0);
    server_finish(&s);
    assert_int_equal(resp.header_count, 2);
    assert_string_equal(resp.headers[0].name, "X-Public");
    assert_string_equal(resp.headers[1].name, "Content-Length");
    assert_string_equal(resp.body, "ok");
    gwf_http_message_free(&req);
    gwf_http_message_free(&resp);
}

static void
test_fetch_decodes_a_chunked_response_and_sets_its_length(void **state)
{
    (void)state;
    struct test_server s;
    server_start(&s, "HTTP/1.1 200 OK\r\n"
                     "Transfer-Encoding: chunked\r\n"
                     "X-A: 1\r\n"
                     "\r\n"
                     "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
    gwf_http_message req, resp;
    make_request(&req, "GET / HTTP/1.1\n\n");
    char url[64];
    server_url(&s, "/", url, sizeof(url));

    assert_int_equal(gwf_http_fetch(url, &req, &resp, 5000, err, sizeof(err)),
                     0);
    server_finish(&s);
    assert_string_equal(resp.body, "hello world");
    assert_int_equal(gwf_http_header_find(&resp, "transfer-encoding", 0), -1);
    assert_string_equal(header_value(&resp, "content-length"), "11");
    gwf_http_message_free(&req);
    gwf_http_message_free(&resp);
}

static void
test_fetch_reads_an_http10_body_until_close(void **state)
{
    (void)state;
    struct test_server s;
    server_start(&s, "HTTP/1.0 200 Fine\r\nX-A: 1\r\n\r\nuntil the end");
    gwf_http_message req, resp;
    make_request(&req, "GET / HTTP/1.0\n\n");
    char url[64];
    server_url(&s, "/", url, sizeof(url));

    assert_int_equal(gwf_http_fetch(url, &req, &resp, 5000, err, sizeof(err)),
                     0);
    server_finish(&s);
    assert_int_equal(resp.minor_version, 0);
    assert_string_equal(resp.reason, "Fine");
    assert_string_equal(resp.body, "until the end");
    gwf_http_message_free(&req);
    gwf_http_message_free(&resp);
}

static void
test_fetch_head_returns_headers_without_waiting_for_a_body(void **state)
{
    (void)state;
    struct test_server s;
    server_start(&s, "HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n");
    gwf_http_message req, resp, got;
    make_request(&req, "HEAD /file HTTP/1.1\n\n");
    char url[64];
    server_url(&s, "/", url, sizeof(url));

    assert_int_equal(gwf_http_fetch(url, &req, &resp, 5000, err, sizeof(err)),
                     0);
    server_finish(&s);
    server_request(&s, &got);
    assert_string_equal(got.method, "HEAD");
    assert_string_equal(header_value(&resp, "content-length"), "42");
    assert_int_equal(resp.body_len, 0);
    gwf_http_message_free(&req);
    gwf_http_message_free(&resp);
    gwf_http_message_free(&got);
}

static void
test_fetch_to_a_closed_port_reports_the_connection_error(void **state)
{
    (void)state;
    /* Bind an ephemeral port, then close it: nothing listens there. */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    socklen_t addr_len = sizeof(addr);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &addr_len), 0);
    close(fd);

    char url[64], expected[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", ntohs(addr.sin_port));
    snprintf(expected, sizeof(expected),
             "upstream %s: Couldn't connect to server", url);
    gwf_http_message req, resp;
    make_request(&req, "GET / HTTP/1.1\n\n");

    assert_int_equal(gwf_http_fetch(url, &req, &resp, 5000, err, sizeof(err)),
                     -1);
    assert_memory_equal(err, expected, strlen(expected));
    assert_null(resp.reason);
    assert_null(resp.headers);
    assert_null(resp.body);
    gwf_http_message_free(&req);
}

static void
test_fetch_that_outlives_its_timeout_fails(void **state)
{
    (void)state;
    struct test_server s;
    server_start(&s, NULL);
    gwf_http_message req, resp;
    make_request(&req, "GET /slow HTTP/1.1\n\n");
    char url[64], expected[128];
    server_url(&s, "/", url, sizeof(url));
    snprintf(expected, sizeof(expected), "upstream %s: Timeout was reached",
             url);

    assert_int_equal(gwf_http_fetch(url, &req, &resp, 50, err, sizeof(err)),
                     -1);
    server_finish(&s);
    assert_memory_equal(err, expected, strlen(expected));
    gwf_http_message_free(&req);
}

static void
test_fetch_rejects_a_url_that_is_not_http(void **state)
{
    (void)state;
    gwf_http_message req, resp;
    make_request(&req, "GET / HTTP/1.1\n\n");
    assert_int_equal(
        gwf_http_fetch("ftp://127.0.0.1/", &req, &resp, 1000, err, sizeof(err)),
        -1);
    assert_string_equal(err, "upstream ftp://127.0.0.1/: URL must start with "
                             "http:// or https://");
    assert_int_equal(
        gwf_http_fetch("http:///x", &req, &resp, 1000, err, sizeof(err)), -1);
    assert_string_equal(err, "upstream http:///x: URL has no host");
    gwf_http_message_free(&req);
}

static void
test_fetch_rejects_a_url_with_a_query(void **state)
{
    (void)state;
    gwf_http_message req, resp;
    make_request(&req, "GET / HTTP/1.1\n\n");
    assert_int_equal(gwf_http_fetch("http://127.0.0.1:1/a?b=c", &req, &resp,
                                    1000, err, sizeof(err)),
                     -1);
    assert_string_equal(err, "upstream http://127.0.0.1:1/a?b=c: URL must "
                             "not have a query or fragment");
    gwf_http_message_free(&req);
}

static void
test_fetch_rejects_a_header_value_with_a_line_break(void **state)
{
    (void)state;
    gwf_http_header header = {"X-Evil", 6, "a\r\nInjected: 1", 14};
    gwf_http_message req = {
        .method = "GET",
        .target = "/",
        .minor_version = 1,
        .headers = &header,
        .header_count = 1,
    };
    gwf_http_message resp;
    assert_int_equal(gwf_http_fetch("http://127.0.0.1:1/", &req, &resp, 1000,
                                    err, sizeof(err)),
                     -1);
    assert_string_equal(err, "upstream http://127.0.0.1:1/: request header "
                             "'X-Evil' has CR, LF or NUL in its value");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_with_crlf_is_parsed),
        cmocka_unit_test(test_request_with_bare_lf_is_parsed),
        cmocka_unit_test(test_mixed_line_endings_are_accepted),
        cmocka_unit_test(test_request_without_final_blank_line_has_empty_body),
        cmocka_unit_test(test_blank_lines_before_request_line_are_skipped),
        cmocka_unit_test(test_header_values_are_trimmed_of_spaces_and_tabs),
        cmocka_unit_test(
            test_request_body_without_length_is_the_rest_of_the_input),
        cmocka_unit_test(test_body_with_binary_bytes_keeps_them),
        cmocka_unit_test(test_repeated_identical_content_length_is_accepted),
        cmocka_unit_test(test_exactly_256_headers_are_accepted),
        cmocka_unit_test(
            test_chunked_body_is_decoded_and_reframed_with_content_length),
        cmocka_unit_test(test_chunked_body_with_lf_only_is_decoded),
        cmocka_unit_test(test_chunk_extensions_and_trailers_are_dropped),
        cmocka_unit_test(test_empty_chunked_body_gets_content_length_zero),
        cmocka_unit_test(test_response_is_parsed),
        cmocka_unit_test(test_response_without_reason_has_empty_reason),
        cmocka_unit_test(
            test_response_body_without_length_runs_to_end_of_input),
        cmocka_unit_test(test_304_response_has_no_body_despite_content_length),
        cmocka_unit_test(test_chunked_response_is_decoded),
        cmocka_unit_test(test_empty_input_is_rejected),
        cmocka_unit_test(test_obsolete_line_folding_is_rejected),
        cmocka_unit_test(test_header_name_with_space_is_rejected),
        cmocka_unit_test(test_header_name_with_tab_is_rejected),
        cmocka_unit_test(test_header_name_with_non_token_character_is_rejected),
        cmocka_unit_test(test_empty_header_name_is_rejected),
        cmocka_unit_test(test_header_line_without_colon_is_rejected),
        cmocka_unit_test(test_nul_in_header_value_is_rejected),
        cmocka_unit_test(test_bare_cr_in_header_value_is_rejected),
        cmocka_unit_test(test_bare_cr_in_request_line_is_rejected),
        cmocka_unit_test(test_conflicting_content_length_is_rejected),
        cmocka_unit_test(test_invalid_content_length_is_rejected),
        cmocka_unit_test(test_content_length_with_chunked_is_rejected),
        cmocka_unit_test(test_unsupported_transfer_coding_is_rejected),
        cmocka_unit_test(test_more_than_256_headers_are_rejected),
        cmocka_unit_test(test_header_section_over_64_kib_is_rejected),
        cmocka_unit_test(test_body_over_64_mib_is_rejected),
        cmocka_unit_test(test_body_shorter_than_content_length_is_rejected),
        cmocka_unit_test(test_body_longer_than_content_length_is_rejected),
        cmocka_unit_test(
            test_trailing_newline_after_body_is_rejected_with_a_hint),
        cmocka_unit_test(test_invalid_chunk_size_is_rejected),
        cmocka_unit_test(test_chunk_size_over_the_body_limit_is_rejected),
        cmocka_unit_test(test_truncated_chunk_is_rejected),
        cmocka_unit_test(test_chunk_not_followed_by_line_break_is_rejected),
        cmocka_unit_test(test_chunked_body_without_last_chunk_is_rejected),
        cmocka_unit_test(test_bytes_after_last_chunk_are_rejected),
        cmocka_unit_test(test_bad_trailer_is_rejected),
        cmocka_unit_test(test_unsupported_http_version_is_rejected),
        cmocka_unit_test(test_request_line_without_version_is_rejected),
        cmocka_unit_test(test_non_origin_form_target_is_rejected),
        cmocka_unit_test(
            test_target_with_control_or_non_ascii_bytes_is_rejected),
        cmocka_unit_test(test_method_that_is_not_a_token_is_rejected),
        cmocka_unit_test(test_bad_status_code_is_rejected),
        cmocka_unit_test(test_control_character_in_reason_is_rejected),
        cmocka_unit_test(test_body_on_a_204_response_is_rejected),
        cmocka_unit_test(test_long_error_is_truncated_to_the_buffer),
        cmocka_unit_test(test_snippet_in_error_is_bounded_and_printable),
        cmocka_unit_test(test_header_find_ignores_case_and_resumes_from_start),
        cmocka_unit_test(
            test_serialized_request_uses_crlf_and_keeps_headers_as_they_are),
        cmocka_unit_test(
            test_serialized_response_keeps_empty_reason_and_status_digits),
        cmocka_unit_test(
            test_parse_of_serialized_message_gives_the_same_message),
        cmocka_unit_test(test_message_free_zeroes_and_tolerates_null),
        cmocka_unit_test(test_fetch_returns_status_headers_and_body),
        cmocka_unit_test(test_fetch_sends_method_target_headers_and_body),
        cmocka_unit_test(test_fetch_sends_custom_method_without_body),
        cmocka_unit_test(
            test_fetch_sends_a_body_with_get_when_the_request_has_one),
        cmocka_unit_test(test_fetch_prepends_the_url_path_prefix_to_the_target),
        cmocka_unit_test(test_fetch_drops_hop_by_hop_response_headers),
        cmocka_unit_test(
            test_fetch_decodes_a_chunked_response_and_sets_its_length),
        cmocka_unit_test(test_fetch_reads_an_http10_body_until_close),
        cmocka_unit_test(
            test_fetch_head_returns_headers_without_waiting_for_a_body),
        cmocka_unit_test(
            test_fetch_to_a_closed_port_reports_the_connection_error),
        cmocka_unit_test(test_fetch_that_outlives_its_timeout_fails),
        cmocka_unit_test(test_fetch_rejects_a_url_that_is_not_http),
        cmocka_unit_test(test_fetch_rejects_a_url_with_a_query),
        cmocka_unit_test(test_fetch_rejects_a_header_value_with_a_line_break),
    };
    return cmocka_run_group_tests_name("http1", tests, NULL, NULL);
}
