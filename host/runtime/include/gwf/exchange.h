/*
 * gwf/exchange.h - one HTTP request and its response held in memory and
 * run through a chain: the data plane of the gwf CLI and of the test host.
 *
 * A host that has no proxy behind it (a command-line tool, a unit test)
 * still needs the three things a proxy gives the runtime: a request, an
 * upstream that answers it, and a client that takes the response. This
 * header gives them in memory:
 *
 *  - gwf_buf, a growable byte buffer;
 *  - gwf_memmsg, an HTTP message (request line or status, and headers)
 *    behind gwf_memmsg_ops, the gwf_message_ops the runtime reads and
 *    plugins change; it can be parsed from HTTP/1.1 text;
 *  - gwf_exchange, which feeds a request through a chain on a worker,
 *    asks an upstream callback for the response (a stub answer, or a
 *    real fetch with gwf_exchange_fetch), feeds the response back, and
 *    reports once how it ended.
 *
 * The exchange reacts to the runtime's states as a proxy must (see
 * gwf/runtime.h): CONTINUE goes on, NEED_BODY feeds the body before
 * forwarding, WAIT returns until the runtime wakes the stream, REPLY
 * answers locally. It advances by itself as plugins resume; nothing here
 * blocks except what the upstream callback does. Run the worker's event
 * loop (gwf/loop.h) until on_done says it ended.
 *
 * Threads: an exchange and its messages belong to the thread of the
 * worker it runs on. Nothing here is shared.
 */
#ifndef GWF_EXCHANGE_H
#define GWF_EXCHANGE_H

#include <gwf/runtime.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* -- Byte buffers ------------------------------------------------------- */

/* `data` is malloc'd and owned by the buffer; {0} is an empty buffer.
 * Buffers grow and never shrink; a failure (-1, out of memory) leaves
 * the buffer as it was. */
typedef struct gwf_buf {
    char *data;
    size_t len;
    size_t cap;
} gwf_buf;

/* Append `len` bytes (copied). 0 or -1. */
int gwf_buf_append(gwf_buf *b, const char *data, size_t len);
/* Replace the contents with a copy of `len` bytes; `data` may point into
 * `b` itself. 0 or -1. */
int gwf_buf_set(gwf_buf *b, const char *data, size_t len);
/* Free the contents; the buffer is empty again. */
void gwf_buf_free(gwf_buf *b);

/* -- Messages ------------------------------------------------------------- */

/* One header line; name and value are owned by the message, each
 * NUL-terminated after its length: one malloc'd piece, or (`in_block`)
 * a place in the message's `block`. */
typedef struct gwf_memmsg_field {
    char *name;
    size_t name_len;
    char *value;
    size_t value_len;
    bool in_block;
} gwf_memmsg_field;

/* A request (method, path, scheme) or a response (status), and its
 * headers in order. {0} is an empty message. Every pointer is malloc'd
 * and owned by the message (a field's value shares the allocation of its
 * name, or the block); change it through gwf_memmsg_ops (which copies what it
 * is given) or free it with gwf_memmsg_clear. Through gwf_memmsg_ops,
 * ":method", ":path" and ":scheme" are the fields of the same name, ":status"
 * is `status`, and ":authority" is the Host header. */
typedef struct gwf_memmsg {
    char *method;
    char *path;
    char *scheme;
    uint32_t status;
    char status_text[4]; /* the ops' view of ":status" */
    gwf_memmsg_field *fields;
    size_t count;
    size_t cap;
    /* The texts of the fields loaded at once (a stream's local reply),
     * kept with `fields` when the message is emptied for reuse. */
    char *block;
    size_t block_cap;
    /* A header name (a pseudo-header too) whose reads of value index
     * `fail_reads_from` and after answer GWF_ERR_NO_MEMORY, as from a
     * host out of memory (the test host's gwf_test_request_header_fails),
     * or NULL. Not owned. */
    const char *fail_reads_of;
    size_t fail_reads_from;
    /* A header name (a pseudo-header too) whose set, add and remove
     * answer GWF_ERR_NO_MEMORY and change nothing
     * (gwf_test_request_header_write_fails), or NULL. Not owned. */
    const char *fail_writes_of;
} gwf_memmsg;

/* The message operations over a gwf_memmsg (`msg` is a gwf_memmsg *). */
extern const gwf_message_ops gwf_memmsg_ops;
/* Free everything the message holds; it is empty again. */
void gwf_memmsg_clear(gwf_memmsg *m);
/* Copy `src` into `dst`: method, path and scheme where `src` has them
 * (replacing those of `dst`), the status, and every header, appended
 * after those `dst` already has. 0, or -1 out of memory (`dst` then holds
 * part of the copy: clear it). */
int gwf_memmsg_copy(gwf_memmsg *dst, const gwf_memmsg *src);

/* Parse a whole HTTP/1.1 request or response held in memory into an
 * empty `m` and `body`. The rules are strict about what makes a message
 * ambiguous (conflicting lengths, folded headers, bytes after the body)
 * and forgiving about what a text editor does (bare LF line endings, no
 * final blank line); a chunked body is decoded. A request's target must
 * be origin-form and becomes ":path", its scheme is "http"; a response
 * keeps its status. Returns 0, or -1 with one line written to `err`
 * (truncated to `errcap`), e.g. "line 3: header name contains a space"
 * or "out of memory"; `m` and `body` may then hold part of the message:
 * clear them. */
int gwf_memmsg_parse_request(gwf_memmsg *m, gwf_buf *body, const char *text,
                             size_t len, char *err, size_t errcap);
int gwf_memmsg_parse_response(gwf_memmsg *m, gwf_buf *body, const char *text,
                              size_t len, char *err, size_t errcap);

/* -- Exchanges ------------------------------------------------------------ */

/* How an exchange ended (gwf_exchange.outcome). */
enum {
    GWF_EXCHANGE_RUNNING = 0,     /* not yet: paused in the chain */
    GWF_EXCHANGE_FORWARDED = 1,   /* the upstream answered, the response
                                     went back through the chain */
    GWF_EXCHANGE_LOCAL_REPLY = 2, /* a plugin or the runtime answered */
    GWF_EXCHANGE_ABORTED = 3      /* gwf_exchange_abort */
};

typedef struct gwf_exchange gwf_exchange;
struct gwf_exchange {
    /* Filled by the caller before gwf_exchange_start. */
    gwf_memmsg request; /* method, path, scheme and headers */
    gwf_buf request_body;
    char remote_address[64]; /* the client's IP; "" means 127.0.0.1 */
    /* A request header whose reads of value index `failing_from` and
     * after answer GWF_ERR_NO_MEMORY while the chain runs ("" none), and
     * a header of the upstream's response whose reads all do: how tests
     * act out a host out of memory. */
    char failing_header[64];
    size_t failing_from;
    char failing_response_header[64];
    /* An attribute (gwf_attribute + 1; 0 none) whose reads answer
     * GWF_ERR_NO_MEMORY, the same way. */
    int failing_attribute;
    /* A request header whose set, add and remove answer
     * GWF_ERR_NO_MEMORY ("" none). */
    char failing_write_header[64];
    /* The upstream: fill x->response (status and headers) and
     * x->response_body, given x->request and x->upstream_body as the
     * chain left them. Return 0, or -1 for an upstream that failed: the
     * exchange then answers 502 itself. NULL behaves as -1. Called on the
     * worker, outside any plugin callback. */
    int (*upstream)(void *ctx, gwf_exchange *x);
    /* Called once when the exchange ends (forwarded or local reply; not
     * after gwf_exchange_abort). May be NULL. */
    void (*on_done)(void *ctx, gwf_exchange *x);
    void *ctx;

    /* Results: valid once on_done was called; freed by
     * gwf_exchange_clear. */
    int outcome;           /* GWF_EXCHANGE_* */
    gwf_buf upstream_body; /* the request body the upstream received */
    gwf_memmsg response;   /* the response the client got */
    gwf_buf response_body; /* from the upstream, then as the client got it */
    char details[64];      /* the local reply's details, or "" */
    /* 0 when the chain decided before a stream (abi.h request_early):
     * answered, or finished by its one plugin. */
    bool had_stream;

    /* The runtime's own state while the exchange runs: do not touch. */
    struct {
        gwf_rt_stream *st;
        int phase;
        bool body_fed[2];
        bool body_out[2];
        bool host_response; /* the response is the exchange's 502 */
        gwf_buf client_body;
    } run;
};

/* Start `x` (zeroed, then filled as above) through `chain` on worker `w`
 * and run it as far as it goes now (on_done may already have been
 * called when this returns). 0, or -1 if the stream could not even be
 * created (out of memory). */
int gwf_exchange_start(gwf_exchange *x, gwf_worker *w, gwf_chain *chain);
/* The client went away: end the stream now without an answer
 * (stream_complete and stream_destroy reach the plugins; on_done is not
 * called) and set outcome to GWF_EXCHANGE_ABORTED. Nothing if the
 * exchange already ended or never started. */
void gwf_exchange_abort(gwf_exchange *x);
/* Free everything the exchange holds, ending its stream if it still
 * runs. The struct may then be reused or dropped. */
void gwf_exchange_clear(gwf_exchange *x);

/* A real upstream, for the upstream callback: send x->request and
 * x->upstream_body over HTTP/1.1 (libcurl) to `url` and fill x->response
 * and x->response_body with the answer, minus hop-by-hop headers.
 *
 * `url` is "http://" or "https://", a host with an optional port, and an
 * optional path prefix put in front of the request's path
 * ("http://h:8080/api" and "/users?id=1" fetch
 * "http://h:8080/api/users?id=1"); a query or fragment in it is an
 * error. Proxy variables are ignored and redirects not followed.
 * Blocking; `timeout_ms` bounds the whole fetch (<= 0: no bound).
 * Returns 0, or -1 with one line in `err`, e.g. "upstream
 * http://127.0.0.1:1/: Couldn't connect to server (...)". */
int gwf_exchange_fetch(gwf_exchange *x, const char *url, long timeout_ms,
                       char *err, size_t errcap);

#ifdef __cplusplus
}
#endif

#endif /* GWF_EXCHANGE_H */
