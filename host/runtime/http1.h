/*
 * http1.h — HTTP/1.1 messages as files, and one blocking upstream fetch.
 *
 * The CLI and the test host read a request (or a canned response) from a
 * file a person wrote by hand, run it through a filter chain and write
 * the result back out. This is the codec for that: a whole-message parser
 * that is strict about what makes a message ambiguous (conflicting
 * lengths, folded headers, bytes that smuggle a second message) and
 * forgiving about what a text editor does (bare LF line endings, a missing
 * final blank line), with an error message that names the line at fault.
 * It is not a streaming parser for a server socket; the data planes have
 * their own.
 *
 * gwf_http_fetch (fetch.c) sends a parsed request to a real upstream over
 * libcurl, so the CLI can run a chain end to end.
 *
 * Ownership: every pointer in a gwf_http_message (method, target, reason,
 * the headers array, each header's name and value, body) is its own
 * malloc'd block, or NULL, and belongs to the message; gwf_http_message_free
 * frees them all. Code that builds a message by hand must follow the same
 * rule. Strings the parser produces are NUL-terminated (the body too, one
 * byte past body_len), but the lengths are what count.
 *
 * Threads: every function is safe to call from any thread on distinct
 * messages.
 */
#ifndef GWF_HOST_RUNTIME_HTTP1_H
#define GWF_HOST_RUNTIME_HTTP1_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Parser limits. */
#define GWF_HTTP1_MAX_HEADERS 256
#define GWF_HTTP1_MAX_HEADER_SECTION (64u * 1024u) /* start line included */
#define GWF_HTTP1_MAX_BODY (64u * 1024u * 1024u)

typedef struct gwf_http_header {
    char *name;
    size_t name_len;
    char *value; /* without leading or trailing spaces and tabs */
    size_t value_len;
} gwf_http_header;

typedef struct gwf_http_message {
    char *method;      /* requests */
    char *target;      /* requests: origin-form path+query as written */
    int status;        /* responses */
    char *reason;      /* responses, may be "" */
    int minor_version; /* 0 or 1 */
    gwf_http_header *headers;
    size_t header_count;
    char *body;
    size_t body_len;
} gwf_http_message;

/* Parses a whole request or response held in memory.
 *
 * Line endings may be CRLF or bare LF; blank lines before the start line
 * are skipped; the blank line after the headers may be missing at the end
 * of the input. The request target must be origin-form (start with '/').
 *
 * Body framing, in order:
 *  - Transfer-Encoding: chunked — decoded; chunk extensions and trailers
 *    are checked and dropped; the Transfer-Encoding header is removed and
 *    a Content-Length with the decoded size appended. No other transfer
 *    coding is accepted.
 *  - Content-Length — exactly that many bytes must follow: fewer or more
 *    is an error. Repeated identical values are accepted.
 *  - otherwise the rest of the input (for a response: a body delimited by
 *    the connection closing).
 * Responses 1xx, 204 and 304 have no body whatever their headers say; any
 * bytes after their header section are an error.
 *
 * Rejected: obsolete line folding, header names that are not RFC 9110
 * tokens, CR, LF or NUL in values or start lines, conflicting
 * Content-Length, Content-Length together with chunked, more than
 * GWF_HTTP1_MAX_HEADERS headers, a header section over
 * GWF_HTTP1_MAX_HEADER_SECTION bytes, a body over GWF_HTTP1_MAX_BODY
 * bytes, bad chunk sizes, versions other than HTTP/1.0 and HTTP/1.1.
 *
 * *out is overwritten (free an old message first). Returns 0 and fills
 * *out, which the caller frees with gwf_http_message_free; or returns -1,
 * leaves *out zeroed and writes one line without a trailing newline to
 * err (e.g. "line 3: header name contains a space"), truncated to errcap.
 * err may be NULL when errcap is 0. */
int gwf_http1_parse_request(const char *data, size_t len, gwf_http_message *out,
                            char *err, size_t errcap);
int gwf_http1_parse_response(const char *data, size_t len,
                             gwf_http_message *out, char *err, size_t errcap);

/* Frees everything the message owns and zeroes it. NULL is a no-op. */
void gwf_http_message_free(gwf_http_message *m);

/* Serializes with CRLF line endings: the start line ("HTTP/1.0" when
 * minor_version is 0, else "HTTP/1.1"; NULL strings written as empty),
 * the message's own headers exactly as they are, a blank line and the
 * body. Content-Length is not touched: keeping it right is the caller's
 * job. Returns a malloc'd buffer the caller frees (NUL-terminated one byte
 * past *len), and sets *len; NULL when out of memory. */
char *gwf_http1_serialize_request(const gwf_http_message *m, size_t *len);
char *gwf_http1_serialize_response(const gwf_http_message *m, size_t *len);

/* Sends req to an upstream and waits for the whole response.
 *
 * url is "http://" or "https://", a host with an optional port, and an
 * optional path prefix; a prefix other than "/" is prepended to
 * req->target (a trailing '/' on it is dropped), so "http://h:8080/api"
 * with target "/users?id=1" fetches "http://h:8080/api/users?id=1". A
 * query or fragment in url is an error. Proxy environment variables are
 * ignored and redirects are not followed: the response is the upstream's.
 *
 * The request's method, headers and body are sent. Content-Length,
 * Transfer-Encoding and Connection are left to curl; Host is sent as in
 * req when present (else curl derives it from url). Curl adds no headers
 * of its own beyond those (no Accept, Content-Type or Expect).
 * minor_version 0 sends HTTP/1.0, anything else HTTP/1.1.
 *
 * *resp is overwritten and on success holds status, reason, version,
 * headers as received minus hop-by-hop ones (Connection and the headers it
 * names, Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding,
 * Upgrade) and the body; a chunked body comes back decoded with a
 * Content-Length appended, as the parser does. The caller frees it with
 * gwf_http_message_free. The same header count and body limits as the
 * parser apply.
 *
 * timeout_ms bounds the whole exchange (<= 0: no bound). Blocking.
 * Returns 0, or -1 with *resp zeroed and one line in err, e.g.
 * "upstream http://127.0.0.1:1/: Couldn't connect to server (...)". */
int gwf_http_fetch(const char *url, const gwf_http_message *req,
                   gwf_http_message *resp, long timeout_ms, char *err,
                   size_t errcap);

/* Index of the first header at or after `start` whose name equals `name`
 * ignoring ASCII case, or -1. */
long gwf_http_header_find(const gwf_http_message *m, const char *name,
                          size_t start);

/*
 * Internal: shared by http1.c and fetch.c only (defined in http1.c).
 */

#define HTTP1_SNIPPET_MAX 40 /* longest piece of input quoted in an error */

/* A growing byte buffer; after a failed append `failed` is set and
 * further appends do nothing. data is malloc'd. */
struct http1_builder {
    char *data;
    size_t len;
    size_t capacity;
    bool failed;
};

/* Walks the non-empty, OWS-trimmed elements of a comma-separated list
 * value. rest is NULL once the list is used up. */
struct http1_list_cursor {
    const char *rest;
    size_t rest_len;
};

/* malloc'd NUL-terminated copy of len bytes; NULL on OOM. */
char *http1_dup_bytes(const char *bytes, size_t len);
/* ASCII case-insensitive comparisons. */
bool http1_same_ignoring_case(const char *a, size_t a_len, const char *b,
                              size_t b_len);
bool http1_equals_ignoring_case(const char *a, size_t a_len, const char *b);
/* Space or tab; trims both from the ends of [*text, *text + *len). */
bool http1_is_ows(char c);
void http1_trim_ows(const char **text, size_t *len);
/* An RFC 9110 token: one or more tchars. */
bool http1_is_token(const char *text, size_t len);
/* A printable, bounded copy of some input for an error message, in buf. */
const char *http1_snippet(char *buf, size_t cap, const char *text, size_t len);
/* Next element of a list into *element and *len; false when none is left. */
bool http1_list_next(struct http1_list_cursor *c, const char **element,
                     size_t *len);
/* Appends a copy of name/value; the headers array grows as needed.
 * *capacity tracks the array size. 0 ok, -1 out of memory. */
int http1_message_add_header(gwf_http_message *m, size_t *capacity,
                             const char *name, size_t name_len,
                             const char *value, size_t value_len);
/* Frees header index and closes the gap. */
void http1_message_remove_header_at(gwf_http_message *m, size_t index);
/* 1xx, 204 and 304 responses have no body. */
bool http1_status_has_no_body(int status);
/* "HTTP/1.0" or "HTTP/1.1" (exactly 8 bytes): 0 and *minor; else -1. */
int http1_parse_version(const char *text, size_t len, int *minor);
/* Appends len bytes (keeps the data NUL-terminated). */
void http1_builder_add(struct http1_builder *b, const char *bytes, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* GWF_HOST_RUNTIME_HTTP1_H */
