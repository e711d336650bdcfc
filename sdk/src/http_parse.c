/*
 * http_parse.c - an HTTP/1.1 answer parsed in place, strictly (see
 * gwf/sdk_http.h for the rules and why each one is an error).
 *
 * The parser is resumable: the caller appends what it read to one buffer
 * and calls again; the parser goes on from p->pos. Headers are kept as
 * offsets, not pointers, because the caller's buffer may move when it
 * grows. A chunked body is decoded in place: each chunk's data is moved
 * down to the end of the body decoded so far, and the framing it leaves
 * behind is cut out of the buffer (the unparsed tail moved down too), so
 * that the buffer never holds more than the head, the body and one
 * unfinished line whatever the chunk sizes: a peer sending a body in
 * one-byte chunks costs no more memory than one sending it whole.
 *
 * Every length is checked before it is added to: a Content-Length or a
 * chunk size of twenty digits is an error, never a wrapped number.
 */
#include "http_pool.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum {
    ST_STATUS = 0, /* before the status line */
    ST_HEADERS,    /* header lines */
    ST_BODY,       /* Content-Length body */
    ST_CLOSE_BODY, /* body until the peer closes */
    ST_CHUNK_SIZE, /* a chunk-size line */
    ST_CHUNK_DATA, /* a chunk's data */
    ST_CHUNK_END,  /* the CRLF after a chunk's data */
    ST_TRAILERS,   /* trailer lines, up to the empty one */
    ST_DONE
};

/* A chunk-size line with its extensions: more is an attack, not HTTP. */
#define MAX_CHUNK_LINE 4096

const char *
gwf_http_result_str(gwf_http_result result)
{
    switch (result) {
    case GWF_HTTP_OK:
        return "ok";
    case GWF_HTTP_ERR_CONNECT:
        return "cannot connect";
    case GWF_HTTP_ERR_SEND:
        return "the connection failed while sending";
    case GWF_HTTP_ERR_RECV:
        return "the connection failed while receiving";
    case GWF_HTTP_ERR_TRUNCATED:
        return "the answer was cut short";
    case GWF_HTTP_ERR_TIMEOUT:
        return "timed out";
    case GWF_HTTP_ERR_MALFORMED:
        return "the answer is not valid HTTP/1.1";
    case GWF_HTTP_ERR_FRAMING:
        return "the answer has an ambiguous length";
    case GWF_HTTP_ERR_TOO_LARGE:
        return "the answer is too large";
    case GWF_HTTP_ERR_TOO_MANY_HEADERS:
        return "the answer has too many headers";
    case GWF_HTTP_ERR_NO_MEMORY:
        return "out of memory";
    }
    return "unknown error";
}

gwf_status
http_parser_init_table(gwf_http_parser *p, const gwf_http_limits *limits,
                       int head_request, gwf_http_header_at *table)
{
    memset(p, 0, sizeof(*p));
    if (limits)
        p->limits = *limits;
    if (!p->limits.max_header_bytes)
        p->limits.max_header_bytes = GWF_HTTP_DEFAULT_MAX_HEADER_BYTES;
    if (!p->limits.max_headers)
        p->limits.max_headers = GWF_HTTP_DEFAULT_MAX_HEADERS;
    if (!p->limits.max_body_bytes)
        p->limits.max_body_bytes = GWF_HTTP_DEFAULT_MAX_BODY_BYTES;
    /* Offsets are 32-bit: a head beyond that is refused anyway. */
    if (p->limits.max_header_bytes > UINT32_MAX / 2)
        p->limits.max_header_bytes = UINT32_MAX / 2;
    if (p->limits.max_body_bytes > UINT32_MAX / 2)
        p->limits.max_body_bytes = UINT32_MAX / 2;
    if (p->limits.max_headers > 1u << 20)
        p->limits.max_headers = 1u << 20;
    p->head_request = head_request;
    p->headers =
        table ? table : malloc(p->limits.max_headers * sizeof(*p->headers));
    return p->headers ? GWF_OK : GWF_ERR_NO_MEMORY;
}

gwf_status
gwf_http_parser_init(gwf_http_parser *p, const gwf_http_limits *limits,
                     int head_request)
{
    return http_parser_init_table(p, limits, head_request, NULL);
}

void
gwf_http_parser_free(gwf_http_parser *p)
{
    free(p->headers);
    p->headers = NULL;
}

/* The line starting at `from`: its length without the line end in
 * `*line_len`, and the offset after the line end in `*next`. 0, or -1
 * when the line has not ended yet. A CR not followed by LF is malformed
 * (-2); a bare LF ends a line (RFC 9112 2.2 lets a recipient accept it). */
static int
find_line(const char *buf, size_t len, size_t from, size_t *line_len,
          size_t *next)
{
    const char *lf = memchr(buf + from, '\n', len - from);
    size_t at;

    if (!lf) {
        /* A CR anywhere but last can no longer be a line end's. */
        const char *cr = memchr(buf + from, '\r', len - from);
        if (cr && (size_t)(cr - buf) + 1 < len)
            return -2;
        return -1;
    }
    at = (size_t)(lf - buf);
    *next = at + 1;
    if (at > from && buf[at - 1] == '\r')
        at--;
    if (memchr(buf + from, '\r', at - from))
        return -2;
    *line_len = at - from;
    return 0;
}

/* "HTTP/1.x NNN[ reason]": the status, or -1. */
static int
parse_status_line(gwf_http_parser *p, const char *line, size_t len)
{
    int status;

    if (len < 12 || memcmp(line, "HTTP/1.", 7) != 0 || line[7] < '0' ||
        line[7] > '9' || line[8] != ' ')
        return -1;
    for (size_t i = 9; i < 12; i++)
        if (line[i] < '0' || line[i] > '9')
            return -1;
    if (len > 12 && line[12] != ' ')
        return -1;
    for (size_t i = 13; i < len; i++) {
        unsigned char c = (unsigned char)line[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return -1;
    }
    status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
    if (status < 100)
        return -1;
    /* HTTP/1.0 closes after the answer unless it says otherwise; we do
     * not ask it to, so never reuse it. */
    p->keep_alive = line[7] != '0';
    return status;
}

static int
value_is(const char *v, size_t len, const char *word)
{
    return strlen(word) == len && strncasecmp(v, word, len) == 0;
}

/* Does the Connection header value `v` name `token`? */
static int
list_has(const char *v, size_t len, const char *token)
{
    size_t at = 0;

    while (at < len) {
        size_t start, end;
        while (at < len && (v[at] == ' ' || v[at] == '\t' || v[at] == ','))
            at++;
        start = at;
        while (at < len && v[at] != ',')
            at++;
        end = at;
        while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
            end--;
        if (end > start && value_is(v + start, end - start, token))
            return 1;
    }
    return 0;
}

/* Digits only, no overflow: 0, or -1. */
static int
parse_length(const char *v, size_t len, uint64_t *out)
{
    uint64_t n = 0;

    if (len == 0)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        if (n > (UINT64_MAX - 9) / 10)
            return -1;
        n = n * 10 + (uint64_t)(v[i] - '0');
    }
    *out = n;
    return 0;
}

/* What a framing header says. 0, or a gwf_http_result error. */
static int
note_framing(gwf_http_parser *p, const char *name, size_t name_len,
             const char *v, size_t len)
{
    uint64_t n;

    if (name_len == 14 && strncasecmp(name, "content-length", 14) == 0) {
        if (parse_length(v, len, &n) != 0)
            return GWF_HTTP_ERR_MALFORMED;
        if (p->has_length && n != p->content_length)
            return GWF_HTTP_ERR_FRAMING;
        p->has_length = 1;
        p->content_length = n;
    } else if (name_len == 17 &&
               strncasecmp(name, "transfer-encoding", 17) == 0) {
        /* Only chunked, once: a coding we cannot undo leaves the body's
         * end to guesswork. */
        if (p->chunked || !value_is(v, len, "chunked"))
            return GWF_HTTP_ERR_FRAMING;
        p->chunked = 1;
    } else if (name_len == 10 && strncasecmp(name, "connection", 10) == 0) {
        if (list_has(v, len, "close"))
            p->keep_alive = 0;
    }
    return 0;
}

/* One header line at `at` (`len` bytes): recorded (trailers are only
 * checked and counted). 0, or an error. */
static int
parse_header(gwf_http_parser *p, const char *buf, size_t at, size_t len,
             int trailer)
{
    const char *line = buf + at;
    const char *end = memchr(line, ':', len);
    size_t colon = end ? (size_t)(end - line) : len, vs, ve;
    size_t *count = trailer ? &p->trailer_count : &p->header_count;

    /* No colon, obs-fold (a line starting with a blank), a space before
     * the colon, an empty name: all malformed (RFC 9110 tchar names). */
    if (colon == 0 || colon == len || !gwf_is_header_name(line, colon))
        return GWF_HTTP_ERR_MALFORMED;
    vs = colon + 1;
    while (vs < len && (line[vs] == ' ' || line[vs] == '\t'))
        vs++;
    ve = len;
    while (ve > vs && (line[ve - 1] == ' ' || line[ve - 1] == '\t'))
        ve--;
    for (size_t i = vs; i < ve; i++) {
        unsigned char c = (unsigned char)line[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return GWF_HTTP_ERR_MALFORMED;
    }
    if (*count >= p->limits.max_headers)
        return GWF_HTTP_ERR_TOO_MANY_HEADERS;
    if (trailer) {
        (*count)++;
        return 0;
    }
    p->headers[*count] =
        (gwf_http_header_at){(uint32_t)at, (uint32_t)colon, (uint32_t)(at + vs),
                             (uint32_t)(ve - vs)};
    (*count)++;
    return note_framing(p, line, colon, line + vs, ve - vs);
}

/* The header block ended: how the body is framed. */
static int
start_body(gwf_http_parser *p, size_t body_at)
{
    int st = p->status;

    if (st == 101)
        return GWF_HTTP_ERR_FRAMING; /* not HTTP any more */
    if (st < 200) {
        /* An interim answer: the final one follows. */
        p->state = ST_STATUS;
        p->head_start = body_at;
        p->header_count = 0;
        p->has_length = p->chunked = 0;
        return 0;
    }
    if (p->has_length && p->chunked)
        return GWF_HTTP_ERR_FRAMING;
    p->body_start = body_at;
    p->body_len = 0;
    if (p->head_request || st == 204 || st == 304) {
        p->state = ST_DONE;
        return 0;
    }
    if (p->chunked) {
        p->state = ST_CHUNK_SIZE;
    } else if (p->has_length) {
        if (p->content_length > p->limits.max_body_bytes)
            return GWF_HTTP_ERR_TOO_LARGE;
        p->remaining = p->content_length;
        p->state = p->remaining ? ST_BODY : ST_DONE;
    } else {
        p->keep_alive = 0;
        p->state = ST_CLOSE_BODY;
    }
    return 0;
}

/* "HEX[;ext]": the size, or an error. */
static int
parse_chunk_size(const char *line, size_t len, uint64_t *size)
{
    uint64_t n = 0;
    size_t i = 0;

    for (; i < len; i++) {
        char c = line[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            break;
        if (n > (UINT64_MAX >> 4))
            return GWF_HTTP_ERR_TOO_LARGE;
        n = n << 4 | d;
    }
    if (i == 0)
        return GWF_HTTP_ERR_MALFORMED;
    while (i < len && (line[i] == ' ' || line[i] == '\t'))
        i++;
    if (i < len && line[i] != ';')
        return GWF_HTTP_ERR_MALFORMED;
    for (; i < len; i++) {
        unsigned char c = (unsigned char)line[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return GWF_HTTP_ERR_MALFORMED;
    }
    *size = n;
    return 0;
}

/* Cut the framing bytes between the decoded body's end and p->pos out
 * of the buffer. */
static void
compact(gwf_http_parser *p, char *buf, size_t *len)
{
    size_t body_end = p->body_start + p->body_len;
    size_t gap = p->pos - body_end;

    if (gap == 0)
        return;
    memmove(buf + body_end, buf + p->pos, *len - p->pos);
    *len -= gap;
    p->pos = body_end;
}

/* The head (status line and headers) or trailers: one line per round. */
static int
parse_lines(gwf_http_parser *p, const char *buf, size_t len)
{
    for (;;) {
        size_t line_len = 0, next = 0;
        int rc = find_line(buf, len, p->pos, &line_len, &next);

        if (rc == -2)
            return GWF_HTTP_ERR_MALFORMED;
        if (rc == -1) {
            if (len - p->head_start > p->limits.max_header_bytes)
                return GWF_HTTP_ERR_TOO_LARGE;
            return GWF_HTTP_PARSE_MORE;
        }
        if (next - p->head_start > p->limits.max_header_bytes)
            return GWF_HTTP_ERR_TOO_LARGE;
        if (p->state == ST_STATUS) {
            /* RFC 9112 2.2: empty lines before a status line are not
             * allowed in an answer. */
            int st = parse_status_line(p, buf + p->pos, line_len);
            if (st < 0)
                return GWF_HTTP_ERR_MALFORMED;
            p->status = st;
            p->state = ST_HEADERS;
        } else if (line_len == 0) {
            p->pos = next;
            if (p->state == ST_TRAILERS) {
                p->state = ST_DONE;
                return 0;
            }
            rc = start_body(p, next);
            if (rc != 0)
                return rc;
            if (p->state != ST_STATUS)
                return 0;
            continue;
        } else {
            rc =
                parse_header(p, buf, p->pos, line_len, p->state == ST_TRAILERS);
            if (rc != 0)
                return rc;
        }
        p->pos = next;
    }
}

static int
parse_chunked(gwf_http_parser *p, char *buf, size_t *len)
{
    for (;;) {
        size_t line_len = 0, next = 0;
        uint64_t size = 0;
        int rc;

        switch (p->state) {
        case ST_CHUNK_SIZE:
            rc = find_line(buf, *len, p->pos, &line_len, &next);
            if (rc == -2)
                return GWF_HTTP_ERR_MALFORMED;
            if (rc == -1)
                return *len - p->pos > MAX_CHUNK_LINE ? GWF_HTTP_ERR_MALFORMED
                                                      : GWF_HTTP_PARSE_MORE;
            if (line_len > MAX_CHUNK_LINE)
                return GWF_HTTP_ERR_MALFORMED;
            rc = parse_chunk_size(buf + p->pos, line_len, &size);
            if (rc != 0)
                return rc;
            p->pos = next;
            if (size == 0) {
                /* Trailers: bounded like a head of their own. */
                p->state = ST_TRAILERS;
                p->head_start = p->pos;
                p->trailer_count = 0;
                compact(p, buf, len);
                p->head_start = p->pos;
                rc = parse_lines(p, buf, *len);
                if (rc == 0)
                    p->end = p->pos;
                return rc;
            }
            if (size > p->limits.max_body_bytes - p->body_len)
                return GWF_HTTP_ERR_TOO_LARGE;
            p->remaining = size;
            p->state = ST_CHUNK_DATA;
            compact(p, buf, len);
            break;
        case ST_CHUNK_DATA: {
            size_t have = *len - p->pos;
            size_t take = have < p->remaining ? have : (size_t)p->remaining;
            size_t body_end = p->body_start + p->body_len;

            if (take == 0)
                return GWF_HTTP_PARSE_MORE;
            if (body_end != p->pos)
                memmove(buf + body_end, buf + p->pos, take);
            p->body_len += take;
            p->pos += take;
            p->remaining -= take;
            if (p->remaining)
                return GWF_HTTP_PARSE_MORE;
            p->state = ST_CHUNK_END;
            break;
        }
        case ST_CHUNK_END:
            rc = find_line(buf, *len, p->pos, &line_len, &next);
            if (rc == -2 || (rc == 0 && line_len != 0))
                return GWF_HTTP_ERR_MALFORMED;
            if (rc == -1)
                return *len - p->pos >= 2 ? GWF_HTTP_ERR_MALFORMED
                                          : GWF_HTTP_PARSE_MORE;
            p->pos = next;
            p->state = ST_CHUNK_SIZE;
            compact(p, buf, len);
            break;
        case ST_TRAILERS:
            rc = parse_lines(p, buf, *len);
            if (rc == 0)
                p->end = p->pos;
            return rc;
        default:
            return GWF_HTTP_ERR_MALFORMED;
        }
    }
}

static int
parse_step(gwf_http_parser *p, char *buf, size_t *len)
{
    int rc;

    if (p->state == ST_STATUS || p->state == ST_HEADERS) {
        rc = parse_lines(p, buf, *len);
        if (rc != 0)
            return rc;
    }
    switch (p->state) {
    case ST_BODY: {
        size_t have = *len - p->pos;
        size_t take = have < p->remaining ? have : (size_t)p->remaining;
        p->pos += take;
        p->body_len += take;
        p->remaining -= take;
        if (p->remaining)
            return GWF_HTTP_PARSE_MORE;
        p->state = ST_DONE;
        p->end = p->pos;
        return GWF_HTTP_PARSE_DONE;
    }
    case ST_CLOSE_BODY:
        p->body_len = *len - p->body_start;
        p->pos = *len;
        if (p->body_len > p->limits.max_body_bytes)
            return GWF_HTTP_ERR_TOO_LARGE;
        return GWF_HTTP_PARSE_MORE;
    case ST_CHUNK_SIZE:
    case ST_CHUNK_DATA:
    case ST_CHUNK_END:
    case ST_TRAILERS:
        return parse_chunked(p, buf, len);
    case ST_DONE:
        p->end = p->pos;
        return GWF_HTTP_PARSE_DONE;
    default:
        return GWF_HTTP_PARSE_MORE;
    }
}

int
gwf_http_parse(gwf_http_parser *p, char *buf, size_t *len, int eof)
{
    int rc;

    if (p->state == ST_DONE)
        return GWF_HTTP_PARSE_DONE;
    if (!p->headers)
        return GWF_HTTP_ERR_NO_MEMORY;
    rc = parse_step(p, buf, len);
    if (rc == GWF_HTTP_PARSE_MORE && eof) {
        if (p->state == ST_CLOSE_BODY) {
            p->state = ST_DONE;
            p->end = *len;
            return GWF_HTTP_PARSE_DONE;
        }
        return GWF_HTTP_ERR_TRUNCATED;
    }
    return rc;
}
