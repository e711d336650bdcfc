/*
 * gwf/sdk_http.h - a lean HTTP/1.1 client on the host's event loop, for
 * plugins that ask a plain-HTTP peer (an authz server, a token service)
 * something on the request path.
 *
 * Why not libcurl: for one small request and answer on a kept-alive
 * loopback connection, libcurl's generality (its multi handle, the
 * socket callbacks, a URL parse and an slist of headers per transfer)
 * costs more than the exchange itself. This client does only HTTP/1.1
 * over TCP, with no TLS, no redirects, no proxies and no cookies (use
 * gwf/sdk_curl.h for those), and it is strict: an answer whose end is
 * unclear or cut short is an error, never a success.
 *
 * Three objects:
 *
 *   gwf_http_peer      where to connect and the limits, built when the
 *                      config is built (its name resolved then, once, as
 *                      nginx's proxy_pass does with a name: never on the
 *                      request path); read-only afterwards, shared by
 *                      every worker. [config]
 *   gwf_http_pool      one worker's connections to one peer: idle
 *                      kept-alive connections (at most max_idle) and at
 *                      most max_total open at once; an exchange that
 *                      finds none free waits for one. An idle connection
 *                      keeps its fd watch for GWF_HTTP_IDLE_WATCH_NS (a
 *                      peer closing it, or writing to it, drops it at
 *                      once; reuse under traffic costs no host call),
 *                      then holds no watch and no timer of the host (a
 *                      worker without traffic holds nothing: the host's
 *                      gwf_async_active gauge says 0); when taken again,
 *                      one that the peer closed or wrote to meanwhile,
 *                      or idle longer than idle_timeout, is closed and
 *                      the next one taken. [worker]
 *   gwf_http_exchange  one request and its answer. [worker]
 *
 * An exchange ends exactly once: either its callback runs (with the
 * answer or an error), or the plugin cancels it (gwf_http_exchange_cancel:
 * the stream went away). After either, nothing of it fires: its timers and
 * fd watches are gone, and the handle is freed (after the callback
 * returns). Its connection goes back to the pool only when the answer was
 * whole and nothing followed it; in every other case it is closed.
 *
 * What is retried: only a request on a connection reused from the pool
 * that fails before any byte of the answer came (the peer closed it while
 * it was idle, the classic stale keep-alive race) is sent again, once, on
 * a new connection. Nothing else: retry policy is the plugin's.
 *
 * Connecting is non-blocking with its own timeout (connect_timeout_ns),
 * and every address of the peer is tried in turn. The whole exchange,
 * waiting for a connection included, is bounded by the timeout given to
 * gwf_http_exchange_start.
 *
 * The request is built in one buffer (request line, headers,
 * Content-Length, body) and written with one write when the socket takes
 * it. The answer is read into one buffer and parsed in place: the
 * callback gets the status, the headers as views into that buffer and
 * the body (chunked bodies decoded), valid only during the callback.
 *
 * Framing rules of the answer (RFC 9112), each an error when broken:
 *   - status line "HTTP/1.x NNN reason"; header lines "name: value"
 *     (a token name, no space before the colon, no obs-fold, no control
 *     bytes in a value); header block bytes and count bounded;
 *   - Content-Length: digits only (a sign is an error), no overflow, and
 *     several only when they agree;
 *   - Transfer-Encoding: only "chunked"; with a Content-Length beside it
 *     an error (GWF_HTTP_ERR_FRAMING: the bytes after the one we pick
 *     could be a smuggled answer); chunk sizes overflow-safe, chunk
 *     extensions and trailers skipped (and bounded);
 *   - 1xx answers are skipped (101 Switching Protocols is an error);
 *     HEAD, 204 and 304 answers have no body;
 *   - with neither length header, the body runs until the peer closes
 *     (and the connection is not reused);
 *   - an answer cut short anywhere (status line, headers, body, chunk)
 *     is GWF_HTTP_ERR_TRUNCATED;
 *   - the body is bounded (max_body_bytes): GWF_HTTP_ERR_TOO_LARGE;
 *   - bytes after the answer on a kept-alive connection: the answer is
 *     good, the connection is closed instead of reused.
 *
 * Threads: all of it runs on the worker that made the pool; a pool must
 * not be shared between workers.
 */
#ifndef GWF_SDK_HTTP_H
#define GWF_SDK_HTTP_H

#include <gwf/abi.h>
#include <gwf/sdk.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* How an exchange ended. Fixed values. */
typedef enum gwf_http_result {
    GWF_HTTP_OK = 0,
    /* no connection: every address refused, unreachable or slower than
     * connect_timeout_ns */
    GWF_HTTP_ERR_CONNECT = 1,
    /* the connection failed while the request was written */
    GWF_HTTP_ERR_SEND = 2,
    /* the connection failed (reset) while the answer was read */
    GWF_HTTP_ERR_RECV = 3,
    /* the peer closed the connection before the answer ended, or sent
     * nothing at all */
    GWF_HTTP_ERR_TRUNCATED = 4,
    /* the exchange's timeout passed first */
    GWF_HTTP_ERR_TIMEOUT = 5,
    /* the answer is not HTTP/1.x as RFC 9112 writes it */
    GWF_HTTP_ERR_MALFORMED = 6,
    /* the answer's length is ambiguous: Content-Length values that
     * disagree, Content-Length with Transfer-Encoding, a coding other
     * than chunked, or 101 Switching Protocols */
    GWF_HTTP_ERR_FRAMING = 7,
    /* header block over max_header_bytes, or body over max_body_bytes */
    GWF_HTTP_ERR_TOO_LARGE = 8,
    /* more header lines than max_headers (or trailer lines) */
    GWF_HTTP_ERR_TOO_MANY_HEADERS = 9,
    GWF_HTTP_ERR_NO_MEMORY = 10
} gwf_http_result;

/* A short English text for `result` (static). */
const char *gwf_http_result_str(gwf_http_result result);

/* ---- the response parser -------------------------------------------------
 *
 * Used by the exchange; public so that a plugin with a transport of its
 * own, a test or a fuzzer can run the same rules. */

/* Limits of an answer. A zero member takes the default. */
typedef struct gwf_http_limits {
    size_t max_header_bytes; /* status line + headers: 64 KiB */
    size_t max_headers;      /* header lines of one answer: 100 */
    size_t max_body_bytes;   /* decoded body: 1 MiB */
} gwf_http_limits;

#define GWF_HTTP_DEFAULT_MAX_HEADER_BYTES (64 * 1024)
#define GWF_HTTP_DEFAULT_MAX_HEADERS 100
#define GWF_HTTP_DEFAULT_MAX_BODY_BYTES (1024 * 1024)

/* A header of the answer: offsets into the buffer (it may move while the
 * answer grows). */
typedef struct gwf_http_header_at {
    uint32_t name, name_len, value, value_len;
} gwf_http_header_at;

/* Parser state. The members are private but for those marked "out".
 * Initialise with gwf_http_parser_init, free with gwf_http_parser_free. */
typedef struct gwf_http_parser {
    gwf_http_limits limits;
    int head_request; /* the request was HEAD: no body */
    int state;
    size_t pos;         /* first byte not parsed yet */
    size_t head_start;  /* where this answer's status line began */
    uint64_t remaining; /* of the Content-Length body, or of a chunk */
    int has_length, chunked;
    uint64_t content_length;
    gwf_http_header_at *headers; /* max_headers of them */
    size_t trailer_count;
    /* out, once gwf_http_parse returned GWF_HTTP_PARSE_DONE: */
    int status;          /* the final status code */
    int keep_alive;      /* the connection may carry another request */
    size_t header_count; /* in `headers` */
    size_t body_start;   /* offset of the (decoded) body in the buffer */
    size_t body_len;
    size_t end; /* offset just past the answer's last byte */
} gwf_http_parser;

enum {
    GWF_HTTP_PARSE_MORE = -1, /* the answer goes on: read more */
    GWF_HTTP_PARSE_DONE = 0   /* a whole answer; other values: errors */
};

/* Set up `p` for one answer. `limits` may be NULL (defaults);
 * `head_request` says the request was HEAD. GWF_OK or
 * GWF_ERR_NO_MEMORY. */
gwf_status gwf_http_parser_init(gwf_http_parser *p,
                                const gwf_http_limits *limits,
                                int head_request);
void gwf_http_parser_free(gwf_http_parser *p);

/* Parse what `buf` holds (`*len` bytes, the answer from its first byte),
 * from where the last call stopped. `eof` says the peer closed the
 * connection after those bytes. Decodes a chunked body in place, moving
 * bytes down in `buf` and lowering `*len`. Returns GWF_HTTP_PARSE_MORE,
 * GWF_HTTP_PARSE_DONE, or a gwf_http_result error (an error is final).
 * Bytes past p->end after DONE belong to no answer. */
int gwf_http_parse(gwf_http_parser *p, char *buf, size_t *len, int eof);

/* ---- peers, pools and exchanges ----------------------------------------- */

/* Where and how to connect. A zero member takes the default. */
typedef struct gwf_http_peer_options {
    gwf_http_limits limits;
    size_t max_idle;             /* idle connections kept per worker: 32 */
    size_t max_total;            /* open at once per worker: 256 */
    uint64_t idle_timeout_ns;    /* an idle connection is closed: 60 s */
    uint64_t connect_timeout_ns; /* per address tried: 5 s */
} gwf_http_peer_options;

/* How long an idle connection stays watched (see gwf_http_pool). */
#define GWF_HTTP_IDLE_WATCH_NS (1 * UINT64_C(1000000000))
#define GWF_HTTP_DEFAULT_MAX_IDLE 32
#define GWF_HTTP_DEFAULT_MAX_TOTAL 256
#define GWF_HTTP_DEFAULT_IDLE_TIMEOUT_NS (60 * UINT64_C(1000000000))
#define GWF_HTTP_DEFAULT_CONNECT_TIMEOUT_NS (5 * UINT64_C(1000000000))

typedef struct gwf_http_peer gwf_http_peer;
typedef struct gwf_http_pool gwf_http_pool;
typedef struct gwf_http_exchange gwf_http_exchange;

/* [config] A peer at `host` (a numeric IPv4 or IPv6 address, or a name
 * resolved now, blocking, into every address it has) and `port`.
 * `options` may be NULL. On success `*out` is the caller's, freed with
 * gwf_http_peer_free after every pool made from it. On failure `*out` is
 * NULL and `err` (may be NULL) says why: GWF_ERR_BAD_ARGUMENT (a name
 * that does not resolve, port 0 or over 65535), GWF_ERR_NO_MEMORY. */
gwf_status gwf_http_peer_new(const char *host, unsigned port,
                             const gwf_http_peer_options *options,
                             gwf_http_peer **out, char *err, size_t err_len);
void gwf_http_peer_free(gwf_http_peer *peer);
/* How many addresses the peer has (at least 1). */
size_t gwf_http_peer_addresses(const gwf_http_peer *peer);

/* [worker] A pool of connections to `peer` for this worker (its fd
 * watches and timers are the instance's, not a stream's). NULL when out
 * of memory. */
gwf_http_pool *gwf_http_pool_new(gwf_instance *inst, const gwf_http_peer *peer);
/* [worker] Close every connection and cancel its watches and timers.
 * Every exchange of the pool must have ended (callback or cancel) before:
 * worker_stop, after the streams are gone. NULL is allowed. */
void gwf_http_pool_free(gwf_http_pool *pool);
/* Connections open now (idle + in use + connecting), and idle ones. */
size_t gwf_http_pool_open(const gwf_http_pool *pool);
size_t gwf_http_pool_idle(const gwf_http_pool *pool);
/* Connections the pool has opened since it was made (connects started
 * that succeeded): a test counts reuse with it. */
uint64_t gwf_http_pool_connects(const gwf_http_pool *pool);

/* The answer, during the callback only: `headers` and `body` point into
 * the exchange's buffer, freed when the callback returns. Names and
 * values are as the peer sent them (values without surrounding blanks);
 * the body is decoded (no chunk framing). */
typedef struct gwf_http_response {
    int status;
    const gwf_header *headers;
    size_t header_count;
    const char *body;
    size_t body_len;
} gwf_http_response;

/* Called once when the exchange ends by itself. `response` is NULL
 * unless result is GWF_HTTP_OK. `status` of an error is the status code
 * of the answer when its status line came whole before the error, else
 * 0 (so that a plugin can tell "a denial that broke" from "nothing").
 * The exchange is freed when the callback returns: do not cancel it
 * from here (it is a harmless no-op) and forget the pointer. The
 * callback may start new exchanges, and may free the memory of the
 * caller's state. */
typedef void (*gwf_http_done_cb)(gwf_http_exchange *x, gwf_http_result result,
                                 int status, const gwf_http_response *response,
                                 void *arg);

/* [worker] Begin a request `method` `target` (the request target, sent
 * byte for byte) on `pool`: NULL when out of memory, or when the method
 * or target holds a byte a request line cannot (space, control). Add
 * headers with gwf_http_exchange_header, then start it; until started it
 * holds nothing but memory (gwf_http_exchange_cancel frees it). */
gwf_http_exchange *gwf_http_exchange_new(gwf_http_pool *pool,
                                         const char *method, size_t method_len,
                                         const char *target, size_t target_len);
/* Add a header line "name: value". Returns GWF_OK, GWF_ERR_BAD_ARGUMENT
 * when the name is not a token or the value holds CR, LF or NUL (nothing
 * added), GWF_ERR_WRONG_PHASE once started. Content-Length and
 * Transfer-Encoding are the client's: added by start, refused here. */
gwf_status gwf_http_exchange_header(gwf_http_exchange *x, const char *name,
                                    size_t name_len, const char *value,
                                    size_t value_len);
/* Send it: `body` (`body_len` bytes, copied) with "Content-Length:
 * body_len" (0 included), or no body and no Content-Length when `body`
 * is NULL; and wait at most `timeout_ns` for the whole answer. A
 * `timeout_ns` of 0 starts no timer of the exchange's own: for a caller
 * that already bounds the wait with a timer of its own and cancels the
 * exchange when it fires (saves two host calls per exchange); the
 * connect timeout still applies. `done(x, ..., arg)` runs once, always from a
 * later callback of the loop (never inside this call). Returns GWF_OK, or an
 * error (GWF_ERR_NO_MEMORY, the host's timer error): then the exchange is
 * freed, the callback never runs. */
gwf_status gwf_http_exchange_start(gwf_http_exchange *x, const char *body,
                                   size_t body_len, uint64_t timeout_ns,
                                   gwf_http_done_cb done, void *arg);
/* [worker] End an exchange that has not called back: its timers and
 * watches go, its connection is closed (an answer half read cannot be
 * told from the next one), and it is freed. NULL is allowed. */
void gwf_http_exchange_cancel(gwf_http_exchange *x);

#ifdef __cplusplus
}
#endif

#endif /* GWF_SDK_HTTP_H */
