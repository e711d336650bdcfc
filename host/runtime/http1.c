/*
 * http1.c — whole-message HTTP/1.1 parser and serializer.
 *
 * The parser walks the input line by line (a line ends at LF; one CR
 * before it is dropped), so CRLF files and LF files read the same and
 * every error can name its line. It builds the message as it goes and on
 * any error frees what it built, so callers only ever see a complete
 * message or a zeroed one.
 *
 * Framing follows RFC 9112 section 6.3 with the choices that matter for
 * files: a message whose length is ambiguous (two different
 * Content-Lengths, Content-Length with chunked, a coding we cannot undo)
 * is refused rather than guessed at, because the same bytes read two ways
 * is exactly how request smuggling happens; and bytes left over after a
 * length-delimited body are an error rather than silently dropped, since
 * in a hand-written file they almost always mean the length is wrong.
 *
 * The upstream fetch over libcurl (fetch.c) reuses the helpers declared
 * at the end of http1.h.
 */
#include "http1.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- small helpers ----------------------------------------------------- */

char *
http1_dup_bytes(const char *bytes, size_t len)
{
    char *copy = malloc(len + 1);
    if (!copy)
        return NULL;
    if (len > 0)
        memcpy(copy, bytes, len);
    copy[len] = '\0';
    return copy;
}

static char
ascii_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

bool
http1_same_ignoring_case(const char *a, size_t a_len, const char *b,
                         size_t b_len)
{
    if (a_len != b_len)
        return false;
    for (size_t i = 0; i < a_len; i++) {
        if (ascii_lower(a[i]) != ascii_lower(b[i]))
            return false;
    }
    return true;
}

bool
http1_equals_ignoring_case(const char *a, size_t a_len, const char *b)
{
    return http1_same_ignoring_case(a, a_len, b, strlen(b));
}

bool
http1_is_ows(char c)
{
    return c == ' ' || c == '\t';
}

void
http1_trim_ows(const char **text, size_t *len)
{
    while (*len > 0 && http1_is_ows((*text)[0])) {
        (*text)++;
        (*len)--;
    }
    while (*len > 0 && http1_is_ows((*text)[*len - 1]))
        (*len)--;
}

/* RFC 9110 tchar. */
static bool
is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
        (c >= 'A' && c <= 'Z'))
        return true;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

bool
http1_is_token(const char *text, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!is_tchar((unsigned char)text[i]))
            return false;
    }
    return true;
}

/* A printable, bounded copy of some input for an error message. */
const char *
http1_snippet(char *buf, size_t cap, const char *text, size_t len)
{
    size_t room = cap - 4; /* "..." and NUL */
    size_t n = len < room ? len : room;
    if (n > HTTP1_SNIPPET_MAX)
        n = HTTP1_SNIPPET_MAX;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text[i];
        buf[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (n < len) {
        memcpy(buf + n, "...", 4);
    } else {
        buf[n] = '\0';
    }
    return buf;
}

/* ---- messages ---------------------------------------------------------- */

void
gwf_http_message_free(gwf_http_message *m)
{
    if (!m)
        return;
    free(m->method);
    free(m->target);
    free(m->reason);
    for (size_t i = 0; i < m->header_count; i++) {
        free(m->headers[i].name);
        free(m->headers[i].value);
    }
    free(m->headers);
    free(m->body);
    memset(m, 0, sizeof(*m));
}

long
gwf_http_header_find(const gwf_http_message *m, const char *name, size_t start)
{
    if (!m || !name)
        return -1;
    for (size_t i = start; i < m->header_count; i++) {
        const gwf_http_header *h = &m->headers[i];
        if (h->name && http1_equals_ignoring_case(h->name, h->name_len, name))
            return (long)i;
    }
    return -1;
}

/* Appends a copy of name/value; the headers array grows as needed.
 * *capacity tracks the array size. 0 ok, -1 out of memory. */
int
http1_message_add_header(gwf_http_message *m, size_t *capacity,
                         const char *name, size_t name_len, const char *value,
                         size_t value_len)
{
    if (m->header_count == *capacity) {
        size_t grown = *capacity ? *capacity * 2 : 16;
        gwf_http_header *headers =
            realloc(m->headers, grown * sizeof(*headers));
        if (!headers)
            return -1;
        m->headers = headers;
        *capacity = grown;
    }
    gwf_http_header h = {
        .name = http1_dup_bytes(name, name_len),
        .name_len = name_len,
        .value = http1_dup_bytes(value, value_len),
        .value_len = value_len,
    };
    if (!h.name || !h.value) {
        free(h.name);
        free(h.value);
        return -1;
    }
    m->headers[m->header_count++] = h;
    return 0;
}

void
http1_message_remove_header_at(gwf_http_message *m, size_t index)
{
    free(m->headers[index].name);
    free(m->headers[index].value);
    memmove(&m->headers[index], &m->headers[index + 1],
            (m->header_count - index - 1) * sizeof(*m->headers));
    m->header_count--;
}

bool
http1_status_has_no_body(int status)
{
    return (status >= 100 && status < 200) || status == 204 || status == 304;
}

/* ---- parser: lines and errors ------------------------------------------ */

struct parser {
    const char *data;
    size_t len;
    size_t pos;     /* start of the next unread line */
    size_t line_no; /* number of the last line read */
    bool is_request;
    char *err;
    size_t errcap;
    gwf_http_message msg;
    size_t header_capacity;
    size_t *header_lines; /* line number of each header, for errors */
    size_t header_lines_capacity;
};

struct line {
    const char *text; /* without the line ending */
    size_t len;
    size_t number;
};

__attribute__((format(printf, 2, 3))) static int
fail(struct parser *p, const char *fmt, ...)
{
    if (p->err && p->errcap > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->err, p->errcap, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Reads the next line; false at the end of the input. The last line may
 * lack its LF; a final CR is dropped either way. */
static bool
next_line(struct parser *p, struct line *line)
{
    if (p->pos >= p->len)
        return false;
    const char *start = p->data + p->pos;
    size_t left = p->len - p->pos;
    const char *lf = memchr(start, '\n', left);
    size_t len = lf ? (size_t)(lf - start) : left;
    p->pos += lf ? len + 1 : len;
    if (len > 0 && start[len - 1] == '\r')
        len--;
    line->text = start;
    line->len = len;
    line->number = ++p->line_no;
    return true;
}

/* NUL and bare CR are refused everywhere in the header section. */
static int
check_line_bytes(struct parser *p, const struct line *line, const char *what)
{
    if (memchr(line->text, '\0', line->len))
        return fail(p, "line %zu: %s contains a NUL byte", line->number, what);
    if (memchr(line->text, '\r', line->len))
        return fail(p, "line %zu: %s contains a bare CR", line->number, what);
    return 0;
}

int
http1_parse_version(const char *text, size_t len, int *minor)
{
    if (len != 8 || memcmp(text, "HTTP/1.", 7) != 0)
        return -1;
    if (text[7] != '0' && text[7] != '1')
        return -1;
    *minor = text[7] - '0';
    return 0;
}

/* ---- parser: start lines ----------------------------------------------- */

static int
check_target(struct parser *p, const struct line *line, const char *target,
             size_t len)
{
    char shown[HTTP1_SNIPPET_MAX + 8];
    if (target[0] != '/')
        return fail(p,
                    "line %zu: request target '%s' is not origin-form "
                    "(it must start with '/')",
                    line->number,
                    http1_snippet(shown, sizeof(shown), target, len));
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)target[i];
        if (c <= 0x20 || c == 0x7f)
            return fail(p,
                        "line %zu: request target contains a control "
                        "character",
                        line->number);
        if (c >= 0x80)
            return fail(p,
                        "line %zu: request target contains a non-ASCII byte "
                        "(percent-encode it)",
                        line->number);
    }
    return 0;
}

static int
parse_request_line(struct parser *p, const struct line *line)
{
    char shown[HTTP1_SNIPPET_MAX + 8];
    if (check_line_bytes(p, line, "request line") != 0)
        return -1;

    const char *method = line->text;
    const char *space = memchr(method, ' ', line->len);
    if (!space)
        return fail(p, "line %zu: request line must be 'METHOD /path HTTP/1.1'",
                    line->number);
    size_t method_len = (size_t)(space - method);
    if (!http1_is_token(method, method_len))
        return fail(p, "line %zu: method '%s' is not a valid token",
                    line->number,
                    http1_snippet(shown, sizeof(shown), method, method_len));

    const char *target = space + 1;
    size_t rest = line->len - method_len - 1;
    space = memchr(target, ' ', rest);
    if (!space)
        return fail(p,
                    "line %zu: request line has no HTTP version (expected "
                    "'METHOD /path HTTP/1.1')",
                    line->number);
    size_t target_len = (size_t)(space - target);
    if (target_len == 0)
        return fail(p, "line %zu: empty request target", line->number);

    const char *version = space + 1;
    size_t version_len = rest - target_len - 1;
    if (http1_parse_version(version, version_len, &p->msg.minor_version) != 0)
        return fail(p,
                    "line %zu: unsupported HTTP version '%s' (expected "
                    "HTTP/1.0 or HTTP/1.1)",
                    line->number,
                    http1_snippet(shown, sizeof(shown), version, version_len));
    if (check_target(p, line, target, target_len) != 0)
        return -1;

    p->msg.method = http1_dup_bytes(method, method_len);
    p->msg.target = http1_dup_bytes(target, target_len);
    if (!p->msg.method || !p->msg.target)
        return fail(p, "out of memory");
    return 0;
}

static int
parse_status_line(struct parser *p, const struct line *line)
{
    char shown[HTTP1_SNIPPET_MAX + 8];
    if (check_line_bytes(p, line, "status line") != 0)
        return -1;

    const char *text = line->text;
    const char *space = memchr(text, ' ', line->len);
    size_t version_len = space ? (size_t)(space - text) : line->len;
    if (http1_parse_version(text, version_len, &p->msg.minor_version) != 0)
        return fail(p,
                    "line %zu: unsupported HTTP version '%s' (expected "
                    "HTTP/1.0 or HTTP/1.1)",
                    line->number,
                    http1_snippet(shown, sizeof(shown), text, version_len));

    /* "HTTP/1.1 200" with no reason at all is accepted too. */
    size_t at = version_len + 1;
    bool three_digits = space && line->len >= at + 3 &&
                        (line->len == at + 3 || text[at + 3] == ' ');
    for (size_t i = 0; three_digits && i < 3; i++) {
        if (text[at + i] < '0' || text[at + i] > '9')
            three_digits = false;
    }
    if (!three_digits)
        return fail(p,
                    "line %zu: status line must be 'HTTP/1.1 200 Reason' "
                    "(three-digit status code)",
                    line->number);
    int status = (text[at] - '0') * 100 + (text[at + 1] - '0') * 10 +
                 (text[at + 2] - '0');
    if (status < 100 || status > 599)
        return fail(p, "line %zu: status code %d is out of range 100-599",
                    line->number, status);

    const char *reason = text + at + 3;
    size_t reason_len = line->len - at - 3;
    if (reason_len > 0) {
        reason++;
        reason_len--;
    }
    for (size_t i = 0; i < reason_len; i++) {
        unsigned char c = (unsigned char)reason[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return fail(p,
                        "line %zu: reason phrase contains a control "
                        "character",
                        line->number);
    }

    p->msg.status = status;
    p->msg.reason = http1_dup_bytes(reason, reason_len);
    if (!p->msg.reason)
        return fail(p, "out of memory");
    return 0;
}

/* ---- parser: header fields --------------------------------------------- */

struct field {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

/* Splits and checks one "name: value" line (header or trailer). */
static int
parse_field_line(struct parser *p, const struct line *line, struct field *field)
{
    char shown[HTTP1_SNIPPET_MAX + 8];
    if (http1_is_ows(line->text[0]))
        return fail(p,
                    "line %zu: obsolete line folding is not allowed "
                    "(line starts with whitespace)",
                    line->number);
    const char *colon = memchr(line->text, ':', line->len);
    if (!colon)
        return fail(p, "line %zu: header line has no colon: '%s'", line->number,
                    http1_snippet(shown, sizeof(shown), line->text, line->len));

    size_t name_len = (size_t)(colon - line->text);
    if (name_len == 0)
        return fail(p, "line %zu: empty header name", line->number);
    for (size_t i = 0; i < name_len; i++) {
        unsigned char c = (unsigned char)line->text[i];
        if (is_tchar(c))
            continue;
        if (c == ' ')
            return fail(p, "line %zu: header name contains a space",
                        line->number);
        if (c == '\t')
            return fail(p, "line %zu: header name contains a tab",
                        line->number);
        if (c >= 0x21 && c < 0x7f)
            return fail(p,
                        "line %zu: header name contains invalid character "
                        "'%c'",
                        line->number, c);
        return fail(p, "line %zu: header name contains invalid byte 0x%02x",
                    line->number, c);
    }

    const char *value = colon + 1;
    size_t value_len = line->len - name_len - 1;
    if (memchr(value, '\0', value_len))
        return fail(p, "line %zu: header value contains a NUL byte",
                    line->number);
    if (memchr(value, '\r', value_len))
        return fail(p, "line %zu: header value contains a bare CR",
                    line->number);
    http1_trim_ows(&value, &value_len);

    *field = (struct field){line->text, name_len, value, value_len};
    return 0;
}

static int
remember_header_line(struct parser *p, size_t line_no)
{
    if (p->msg.header_count >= p->header_lines_capacity) {
        size_t grown =
            p->header_lines_capacity ? p->header_lines_capacity * 2 : 16;
        size_t *lines = realloc(p->header_lines, grown * sizeof(*lines));
        if (!lines)
            return -1;
        p->header_lines = lines;
        p->header_lines_capacity = grown;
    }
    p->header_lines[p->msg.header_count] = line_no;
    return 0;
}

/* Reads header lines up to the blank line or the end of the input.
 * *blank_seen tells which of the two ended the section. */
static int
parse_header_section(struct parser *p, bool *blank_seen)
{
    struct line line;
    *blank_seen = false;
    while (next_line(p, &line)) {
        if (p->pos > GWF_HTTP1_MAX_HEADER_SECTION)
            return fail(p, "line %zu: header section exceeds %u bytes",
                        line.number, GWF_HTTP1_MAX_HEADER_SECTION);
        if (line.len == 0) {
            *blank_seen = true;
            return 0;
        }
        struct field field;
        if (parse_field_line(p, &line, &field) != 0)
            return -1;
        if (p->msg.header_count == GWF_HTTP1_MAX_HEADERS)
            return fail(p, "line %zu: more than %d headers", line.number,
                        GWF_HTTP1_MAX_HEADERS);
        if (remember_header_line(p, line.number) != 0 ||
            http1_message_add_header(&p->msg, &p->header_capacity, field.name,
                                     field.name_len, field.value,
                                     field.value_len) != 0)
            return fail(p, "out of memory");
    }
    return 0;
}

/* ---- parser: framing --------------------------------------------------- */

bool
http1_list_next(struct http1_list_cursor *c, const char **element, size_t *len)
{
    while (c->rest) {
        const char *comma = memchr(c->rest, ',', c->rest_len);
        size_t n = comma ? (size_t)(comma - c->rest) : c->rest_len;
        *element = c->rest;
        *len = n;
        if (comma) {
            c->rest = comma + 1;
            c->rest_len -= n + 1;
        } else {
            c->rest = NULL;
            c->rest_len = 0;
        }
        http1_trim_ows(element, len);
        if (*len > 0)
            return true;
    }
    return false;
}

struct framing {
    bool has_length;
    size_t length;
    bool chunked;
};

static int
parse_length_value(struct parser *p, size_t line_no, const char *text,
                   size_t len, size_t *value)
{
    char shown[HTTP1_SNIPPET_MAX + 8];
    size_t parsed = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            return fail(p, "line %zu: invalid Content-Length '%s'", line_no,
                        http1_snippet(shown, sizeof(shown), text, len));
        parsed = parsed * 10 + (size_t)(text[i] - '0');
        if (parsed > GWF_HTTP1_MAX_BODY)
            return fail(p,
                        "line %zu: Content-Length exceeds the %u-byte body "
                        "limit",
                        line_no, GWF_HTTP1_MAX_BODY);
    }
    *value = parsed;
    return 0;
}

static int
find_content_length(struct parser *p, struct framing *framing)
{
    const gwf_http_message *m = &p->msg;
    for (long i = gwf_http_header_find(m, "content-length", 0); i >= 0;
         i = gwf_http_header_find(m, "content-length", (size_t)i + 1)) {
        const gwf_http_header *h = &m->headers[i];
        size_t line_no = p->header_lines[i];
        struct http1_list_cursor list = {h->value, h->value_len};
        const char *element;
        size_t element_len;
        bool any = false;
        while (http1_list_next(&list, &element, &element_len)) {
            size_t value = 0;
            if (parse_length_value(p, line_no, element, element_len, &value) !=
                0)
                return -1;
            if (framing->has_length && value != framing->length)
                return fail(p,
                            "line %zu: conflicting Content-Length values "
                            "%zu and %zu",
                            line_no, framing->length, value);
            framing->has_length = true;
            framing->length = value;
            any = true;
        }
        if (!any)
            return fail(p, "line %zu: empty Content-Length", line_no);
    }
    return 0;
}

static int
find_transfer_coding(struct parser *p, struct framing *framing)
{
    char shown[HTTP1_SNIPPET_MAX + 8];
    const gwf_http_message *m = &p->msg;
    for (long i = gwf_http_header_find(m, "transfer-encoding", 0); i >= 0;
         i = gwf_http_header_find(m, "transfer-encoding", (size_t)i + 1)) {
        const gwf_http_header *h = &m->headers[i];
        size_t line_no = p->header_lines[i];
        struct http1_list_cursor list = {h->value, h->value_len};
        const char *coding;
        size_t coding_len;
        bool any = false;
        while (http1_list_next(&list, &coding, &coding_len)) {
            if (!http1_equals_ignoring_case(coding, coding_len, "chunked"))
                return fail(
                    p,
                    "line %zu: Transfer-Encoding '%s' is not "
                    "supported (only chunked is)",
                    line_no,
                    http1_snippet(shown, sizeof(shown), coding, coding_len));
            if (framing->chunked)
                return fail(p,
                            "line %zu: Transfer-Encoding applies chunked "
                            "more than once",
                            line_no);
            framing->chunked = true;
            any = true;
        }
        if (!any)
            return fail(p, "line %zu: empty Transfer-Encoding", line_no);
        if (framing->has_length)
            return fail(p,
                        "line %zu: both Content-Length and "
                        "Transfer-Encoding: chunked",
                        line_no);
    }
    return 0;
}

static int
set_body(struct parser *p, const char *bytes, size_t len)
{
    p->msg.body = http1_dup_bytes(bytes, len);
    if (!p->msg.body)
        return fail(p, "out of memory");
    p->msg.body_len = len;
    return 0;
}

static size_t
count_lines(const char *bytes, size_t len)
{
    size_t lines = 0;
    const char *end = bytes + len;
    for (const char *lf = memchr(bytes, '\n', len); lf;
         lf = memchr(lf + 1, '\n', (size_t)(end - lf - 1)))
        lines++;
    return lines;
}

/* Parses "size [; extensions]"; the size is hex. */
static int
parse_chunk_size(struct parser *p, const struct line *line, size_t *size)
{
    char shown[HTTP1_SNIPPET_MAX + 8];
    size_t i = 0;
    size_t parsed = 0;
    for (; i < line->len; i++) {
        char c = line->text[i];
        int digit;
        if (c >= '0' && c <= '9')
            digit = c - '0';
        else if (c >= 'a' && c <= 'f')
            digit = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            digit = c - 'A' + 10;
        else
            break;
        parsed = parsed * 16 + (size_t)digit;
        if (parsed > GWF_HTTP1_MAX_BODY)
            return fail(p,
                        "line %zu: chunk size exceeds the %u-byte body limit",
                        line->number, GWF_HTTP1_MAX_BODY);
    }
    size_t digits = i;
    while (i < line->len && http1_is_ows(line->text[i]))
        i++;
    if (digits == 0 || (i < line->len && line->text[i] != ';'))
        return fail(p, "line %zu: invalid chunk size '%s'", line->number,
                    http1_snippet(shown, sizeof(shown), line->text, line->len));
    if (check_line_bytes(p, line, "chunk extension") != 0)
        return -1;
    *size = parsed;
    return 0;
}

/* Trailer fields after the last chunk: checked like headers, dropped. */
static int
skip_trailers(struct parser *p)
{
    struct line line;
    size_t count = 0;
    while (next_line(p, &line)) {
        if (line.len == 0)
            break;
        struct field field;
        if (parse_field_line(p, &line, &field) != 0)
            return -1;
        if (++count > GWF_HTTP1_MAX_HEADERS)
            return fail(p, "line %zu: more than %d trailer fields", line.number,
                        GWF_HTTP1_MAX_HEADERS);
    }
    if (p->pos < p->len)
        return fail(p, "line %zu: %zu bytes after the last chunk",
                    p->line_no + 1, p->len - p->pos);
    return 0;
}

static int
decode_chunked(struct parser *p)
{
    /* The decoded body is never longer than what is left of the input. */
    char *body = malloc(p->len - p->pos + 1);
    if (!body)
        return fail(p, "out of memory");
    size_t body_len = 0;
    struct line line;

    for (;;) {
        if (!next_line(p, &line)) {
            free(body);
            return fail(p,
                        "line %zu: chunked body ends before the last chunk "
                        "(a line with '0')",
                        p->line_no + 1);
        }
        size_t size = 0;
        if (parse_chunk_size(p, &line, &size) != 0)
            goto fail;
        if (size == 0)
            break;
        if (size > GWF_HTTP1_MAX_BODY - body_len) {
            fail(p, "line %zu: chunked body exceeds %u bytes", line.number,
                 GWF_HTTP1_MAX_BODY);
            goto fail;
        }
        size_t present = p->len - p->pos;
        if (present < size) {
            fail(p, "line %zu: chunk of %zu bytes is truncated (%zu present)",
                 line.number, size, present);
            goto fail;
        }
        memcpy(body + body_len, p->data + p->pos, size);
        body_len += size;
        p->line_no += count_lines(p->data + p->pos, size);
        p->pos += size;

        const char *after = p->data + p->pos;
        size_t left = p->len - p->pos;
        if (left >= 1 && after[0] == '\n') {
            p->pos += 1;
        } else if (left >= 2 && after[0] == '\r' && after[1] == '\n') {
            p->pos += 2;
        } else {
            /* Name the size line: the size is what is usually wrong. */
            fail(p,
                 "line %zu: chunk data (%zu bytes) is not followed by a "
                 "line break",
                 line.number, size);
            goto fail;
        }
        p->line_no++;
    }
    if (skip_trailers(p) != 0)
        goto fail;
    body[body_len] = '\0';
    p->msg.body = body;
    p->msg.body_len = body_len;
    return 0;

fail:
    free(body);
    return -1;
}

/* After decoding chunked, the message says what it now is. */
static int
replace_chunked_with_length(gwf_http_message *m, size_t *capacity)
{
    long i;
    while ((i = gwf_http_header_find(m, "transfer-encoding", 0)) >= 0)
        http1_message_remove_header_at(m, (size_t)i);
    char length[24];
    int n = snprintf(length, sizeof(length), "%zu", m->body_len);
    return http1_message_add_header(m, capacity, "Content-Length", 14, length,
                                    (size_t)n);
}

static int
parse_body(struct parser *p, bool blank_seen)
{
    struct framing framing = {0};
    if (find_content_length(p, &framing) != 0 ||
        find_transfer_coding(p, &framing) != 0)
        return -1;

    /* Without the blank line the input ended inside the header section,
     * so nothing is left for a body. */
    const char *rest = p->data + p->pos;
    size_t rest_len = blank_seen ? p->len - p->pos : 0;

    if (!p->is_request && http1_status_has_no_body(p->msg.status)) {
        if (rest_len > 0)
            return fail(p,
                        "body: a %d response has no body, but %zu bytes "
                        "follow the header section",
                        p->msg.status, rest_len);
        return set_body(p, "", 0);
    }
    if (framing.chunked) {
        if (decode_chunked(p) != 0)
            return -1;
        if (replace_chunked_with_length(&p->msg, &p->header_capacity) != 0)
            return fail(p, "out of memory");
        return 0;
    }
    if (framing.has_length) {
        if (rest_len < framing.length)
            return fail(p,
                        "body: Content-Length is %zu but only %zu bytes "
                        "follow the header section",
                        framing.length, rest_len);
        if (rest_len > framing.length) {
            size_t extra = rest_len - framing.length;
            const char *tail = rest + framing.length;
            bool newline = (extra == 1 && tail[0] == '\n') ||
                           (extra == 2 && tail[0] == '\r' && tail[1] == '\n');
            return fail(p,
                        "body: Content-Length is %zu but %zu bytes follow "
                        "the header section%s",
                        framing.length, rest_len,
                        newline ? " (a trailing newline counts)" : "");
        }
        return set_body(p, rest, rest_len);
    }
    if (rest_len > GWF_HTTP1_MAX_BODY)
        return fail(p, "body: %zu bytes exceed the %u-byte body limit",
                    rest_len, GWF_HTTP1_MAX_BODY);
    return set_body(p, rest, rest_len);
}

/* ---- parser: entry points ---------------------------------------------- */

static int
parse_message(struct parser *p)
{
    struct line line;
    do {
        if (!next_line(p, &line))
            return fail(p, "empty input: no %s line",
                        p->is_request ? "request" : "status");
    } while (line.len == 0);
    if (p->pos > GWF_HTTP1_MAX_HEADER_SECTION)
        return fail(p, "line %zu: header section exceeds %u bytes", line.number,
                    GWF_HTTP1_MAX_HEADER_SECTION);

    int rc = p->is_request ? parse_request_line(p, &line)
                           : parse_status_line(p, &line);
    if (rc != 0)
        return -1;
    bool blank_seen;
    if (parse_header_section(p, &blank_seen) != 0)
        return -1;
    return parse_body(p, blank_seen);
}

static int
parse(const char *data, size_t len, bool is_request, gwf_http_message *out,
      char *err, size_t errcap)
{
    struct parser p = {
        .data = data ? data : "",
        .len = data ? len : 0,
        .is_request = is_request,
        .err = err,
        .errcap = errcap,
    };
    if (err && errcap > 0)
        err[0] = '\0';
    int rc = parse_message(&p);
    free(p.header_lines);
    if (rc != 0) {
        gwf_http_message_free(&p.msg);
        memset(out, 0, sizeof(*out));
        return -1;
    }
    *out = p.msg;
    return 0;
}

int
gwf_http1_parse_request(const char *data, size_t len, gwf_http_message *out,
                        char *err, size_t errcap)
{
    return parse(data, len, true, out, err, errcap);
}

int
gwf_http1_parse_response(const char *data, size_t len, gwf_http_message *out,
                         char *err, size_t errcap)
{
    return parse(data, len, false, out, err, errcap);
}

/* ---- serializer -------------------------------------------------------- */

void
http1_builder_add(struct http1_builder *b, const char *bytes, size_t len)
{
    if (b->failed || len == 0)
        return;
    if (len > SIZE_MAX - b->len - 1) {
        b->failed = true;
        return;
    }
    size_t need = b->len + len + 1; /* room for the final NUL */
    if (need > b->capacity) {
        size_t capacity = b->capacity ? b->capacity : 256;
        while (capacity < need)
            capacity = capacity > SIZE_MAX / 2 ? need : capacity * 2;
        char *grown = realloc(b->data, capacity);
        if (!grown) {
            b->failed = true;
            return;
        }
        b->data = grown;
        b->capacity = capacity;
    }
    memcpy(b->data + b->len, bytes, len);
    b->len += len;
}

static void
builder_add_str(struct http1_builder *b, const char *text)
{
    if (text)
        http1_builder_add(b, text, strlen(text));
}

static char *
builder_finish(struct http1_builder *b, const gwf_http_message *m, size_t *len)
{
    for (size_t i = 0; i < m->header_count; i++) {
        const gwf_http_header *h = &m->headers[i];
        http1_builder_add(b, h->name ? h->name : "", h->name ? h->name_len : 0);
        http1_builder_add(b, ": ", 2);
        http1_builder_add(b, h->value ? h->value : "",
                          h->value ? h->value_len : 0);
        http1_builder_add(b, "\r\n", 2);
    }
    http1_builder_add(b, "\r\n", 2);
    if (m->body)
        http1_builder_add(b, m->body, m->body_len);
    if (b->failed) {
        free(b->data);
        return NULL;
    }
    b->data[b->len] = '\0';
    *len = b->len;
    return b->data;
}

static const char *
version_text(int minor_version)
{
    return minor_version == 0 ? "HTTP/1.0" : "HTTP/1.1";
}

char *
gwf_http1_serialize_request(const gwf_http_message *m, size_t *len)
{
    struct http1_builder b = {0};
    builder_add_str(&b, m->method);
    http1_builder_add(&b, " ", 1);
    builder_add_str(&b, m->target);
    http1_builder_add(&b, " ", 1);
    builder_add_str(&b, version_text(m->minor_version));
    http1_builder_add(&b, "\r\n", 2);
    return builder_finish(&b, m, len);
}

char *
gwf_http1_serialize_response(const gwf_http_message *m, size_t *len)
{
    struct http1_builder b = {0};
    char status[16];
    snprintf(status, sizeof(status), " %03d ", m->status);
    builder_add_str(&b, version_text(m->minor_version));
    builder_add_str(&b, status);
    builder_add_str(&b, m->reason);
    http1_builder_add(&b, "\r\n", 2);
    return builder_finish(&b, m, len);
}
