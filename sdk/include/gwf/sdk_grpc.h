/*
 * gwf/sdk_grpc.h - unary gRPC calls over cleartext HTTP/2 (h2c with prior
 * knowledge), on the host's event loop.
 *
 * A plugin that asks a gRPC service something per request (ext_authz's
 * Check, rate_limit's ShouldRateLimit) needs many small calls in flight
 * on one worker, each bounded by a deadline and cancellable when its
 * stream goes away. libcurl 7.88 cannot share an h2c connection between
 * transfers, so through it every call opened a connection of its own.
 * This client keeps, per worker and per peer, one HTTP/2 connection that
 * carries every call as a stream of its own (libnghttp2 frames them),
 * and opens another only while the ones it has are at the peer's
 * SETTINGS_MAX_CONCURRENT_STREAMS (at most GWF_GRPC_MAX_CONNECTIONS).
 *
 * What a plugin does:
 *
 *   config_create:  gwf_grpc_peer_new(host, port, ...) resolves the name
 *                   once (getaddrinfo: it may block, hence config time);
 *                   the peer is read-only afterwards and shared by every
 *                   worker.
 *   worker_start:   gwf_grpc_client_new(inst, peer): no connection yet.
 *   per request:    gwf_grpc_call_start(client, "/pkg.Service/Method",
 *                   framed message, deadline, cb, arg); the callback runs
 *                   exactly once, unless gwf_grpc_call_cancel ran first.
 *   stream destroy: gwf_grpc_call_cancel(call) if it has not called back.
 *   worker_stop:    gwf_grpc_client_free(client), after every call ended.
 *   config_destroy: gwf_grpc_peer_free(peer).
 *
 * What goes on the wire for one call: HEADERS (:method POST, :scheme
 * http, :path, :authority, content-type application/grpc, te trailers,
 * grpc-timeout: the time left to the deadline, rounded up to the
 * millisecond), then the message in DATA with END_STREAM. The calls
 * started in one loop turn leave together: a connection is written once,
 * by a host timer of no delay, after the turn's events (or at the end of
 * the client's own handler running then), so N calls of one turn cost
 * one send, not N.
 *
 * What counts as an answer: a :status 200 response whose
 * grpc-status arrives in trailers after at most one whole message, or in
 * a trailers-only response (no message). Anything else is a failure of
 * the call, never a success: RST_STREAM, a GOAWAY that covers the
 * stream, the connection closed or broken, a message shorter than its
 * length prefix, a second message, a compressed one, a length above the
 * client's limit, no grpc-status, a malformed HTTP/2 frame.
 *
 * GOAWAY: the connection takes no new calls (they go to a new one); its
 * calls above the GOAWAY's last-stream-id were not processed by the
 * peer and are sent once more on a new connection; the others finish
 * there, or fail if the peer closes first.
 *
 * A call that fails (a reset, a broken or endless answer, its deadline)
 * or is cancelled before any answer retires its connection the same way:
 * no new calls go there, and it closes once its other calls are done.
 * Whatever the peer did on it, the next call meets a new connection, and
 * one that stopped reaching the peer is not kept.
 *
 * Connections: each address the name resolved to is tried in turn,
 * each within connect_timeout_ns, which also bounds the wait for the
 * peer's first SETTINGS (a peer that accepts and never speaks HTTP/2
 * fails the calls then, before their deadlines). Bytes to write are
 * bounded: when the peer stops reading, the client stops producing
 * frames (it holds GWF_GRPC_WRITE_BUFFER bytes and one frame at most,
 * gwf_grpc_client_buffered; the calls' deadlines end the calls, and the
 * connection they retired closes with the last of them). The deadlines
 * of all calls share one host timer, armed for the earliest. Idle connections
 * stay open until the peer closes them or the client is freed; an idle
 * connection is not watched (a host counts a watch as work in flight, and a
 * worker with nothing to do must show none), so what the peer sent meanwhile
 * (its close, a GOAWAY) is read just before the connection takes a new call: a
 * connection the peer closed while idle is replaced, not failed.
 *
 * Callbacks run from host callbacks of the worker (fd watches, timers),
 * never from inside gwf_grpc_call_start or gwf_grpc_call_cancel, and
 * never from inside libnghttp2: a callback may start calls, cancel other
 * calls, resume or answer streams. It must not free the client.
 *
 * Only cleartext: gRPC over TLS stays on libcurl (gwf/sdk_curl.h).
 * Link with libnghttp2 (meson: nghttp2_dep) when using this header.
 * [worker] for everything but the peer functions, which are
 * [config].
 */
#ifndef GWF_SDK_GRPC_H
#define GWF_SDK_GRPC_H

#include <gwf/abi.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Connections a client opens to its peer at most (each carries up to the
 * peer's SETTINGS_MAX_CONCURRENT_STREAMS calls; beyond that, calls wait
 * in libnghttp2's queue of the least loaded connection). */
#define GWF_GRPC_MAX_CONNECTIONS 8
/* The answer's message may be at most this long unless the peer was
 * created with another limit. */
#define GWF_GRPC_DEFAULT_MAX_MESSAGE (4u * 1024 * 1024)
/* What a connection gathers for one write (gwf_grpc_client_buffered). */
#define GWF_GRPC_WRITE_BUFFER (32 * 1024)
/* connect_timeout_ns when 0 is given. */
#define GWF_GRPC_DEFAULT_CONNECT_TIMEOUT_NS (UINT64_C(1000000000))
/* Most addresses of a name kept. */
#define GWF_GRPC_MAX_ADDRESSES 16

/* ---- the peer: where to call [config] --------------------------------- */

typedef struct gwf_grpc_peer gwf_grpc_peer;

typedef struct gwf_grpc_peer_options {
    /* :authority of every call; NULL: "host:port" as given. Copied. */
    const char *authority;
    /* One address's connect, and the wait for the peer's first
     * SETTINGS; 0: GWF_GRPC_DEFAULT_CONNECT_TIMEOUT_NS. */
    uint64_t connect_timeout_ns;
    /* Longest answer message accepted; 0: GWF_GRPC_DEFAULT_MAX_MESSAGE.
     * A length prefix above it fails the call at once. */
    uint32_t max_message;
} gwf_grpc_peer_options;

/* Resolve `host` (a name, or an IPv4 / IPv6 literal, without brackets)
 * and keep up to GWF_GRPC_MAX_ADDRESSES of its addresses, in the
 * resolver's order, with `port` (1-65535). `opts` may be NULL. May block
 * (getaddrinfo): call it at config time. Returns GWF_OK and `*out` (free
 * with gwf_grpc_peer_free); GWF_ERR_BAD_ARGUMENT for a bad port or a
 * name that does not resolve, with a sentence in `err` (`err_len`
 * bytes, may be NULL); GWF_ERR_NO_MEMORY. */
gwf_status gwf_grpc_peer_new(const char *host, unsigned port,
                             const gwf_grpc_peer_options *opts,
                             gwf_grpc_peer **out, char *err, size_t err_len);

/* Free a peer (NULL is fine). Every client made from it must be freed
 * first. */
void gwf_grpc_peer_free(gwf_grpc_peer *peer);

/* ---- the client: one per worker and peer [worker] --------------------- */

typedef struct gwf_grpc_client gwf_grpc_client;

/* A client of `peer` (which must outlive it) on the worker loop of
 * `inst`. Opens nothing yet. NULL when out of memory. */
gwf_grpc_client *gwf_grpc_client_new(gwf_instance *inst,
                                     const gwf_grpc_peer *peer);

/* Close every connection, cancel every watch and timer, free the client.
 * Calls still running are cancelled without their callbacks (their
 * handles are invalid afterwards). NULL is fine. Not from a callback of
 * this client. */
void gwf_grpc_client_free(gwf_grpc_client *client);

/* Connections open (connecting or connected) now: what the tests and
 * metrics look at. */
size_t gwf_grpc_client_connections(const gwf_grpc_client *client);
/* Bytes framed for the peer and not yet taken by the socket, over all
 * the client's connections. A connection whose peer stops reading stops
 * framing more once it holds GWF_GRPC_WRITE_BUFFER bytes: it holds at
 * most that plus the last frame framed (a DATA frame: at most 16 KiB +
 * 9; a HEADERS block: its call's path and authority and a few fixed
 * fields), whatever the calls queued; their bodies stay the callers'
 * (borrowed) until sent. */
size_t gwf_grpc_client_buffered(const gwf_grpc_client *client);

/* ---- calls -------------------------------------------------------------- */

typedef struct gwf_grpc_call gwf_grpc_call;

/* How a call ended. */
typedef enum {
    /* The peer answered with a grpc-status (any code, see `status`). */
    GWF_GRPC_ANSWERED = 0,
    /* No answer: connection refused, reset or closed, a GOAWAY or
     * RST_STREAM, a malformed or cut answer, an HTTP status other than
     * 200. `error` says which. */
    GWF_GRPC_FAILED = 1,
    /* The deadline passed first. The stream was reset (CANCEL). */
    GWF_GRPC_DEADLINE = 2
} gwf_grpc_outcome;

/* What the callback gets. Everything points into the call's memory and
 * is valid during the callback only. */
typedef struct gwf_grpc_result {
    gwf_grpc_outcome outcome;
    /* ANSWERED: grpc-status (0 OK, 14 UNAVAILABLE, ...); else -1. */
    int status;
    /* ANSWERED: grpc-message as sent (percent-encoded), may be empty. */
    const char *grpc_message;
    size_t grpc_message_len;
    /* ANSWERED with status 0: the message, unframed (may be empty: a
     * zero-length message). NULL otherwise. */
    const uint8_t *message;
    size_t message_len;
    /* The :status of the response, 0 when none came. */
    int http_status;
    /* FAILED: the peer did not process the call and another attempt may
     * work (refused or failed connect, reset or closed before an answer,
     * REFUSED_STREAM, a 5xx). */
    int retryable;
    /* FAILED / DEADLINE: why, a static string. NULL when ANSWERED. */
    const char *error;
} gwf_grpc_result;

/* Called once per call that was not cancelled. `call` is freed when the
 * callback returns: do not cancel it from here. */
typedef void (*gwf_grpc_cb)(void *arg, gwf_grpc_call *call,
                            const gwf_grpc_result *result);

/* Start a unary call of `path` ("/package.Service/Method") with `body`:
 * one gRPC message with its 5-byte prefix (gwf_grpc_frame of
 * gwf/sdk_proto.h), `body_len` bytes. Both are borrowed, not copied:
 * they must stay valid and unchanged until the callback has run or the
 * call was cancelled (a string literal for the path, the caller's
 * per-call buffer for the body). `timeout_ns` (> 0) bounds
 * the whole call, connecting and a GOAWAY retry included, and is sent as
 * grpc-timeout. Returns the call, or NULL (nothing will be called) when
 * out of memory or for bad arguments. The callback never runs before
 * this returns. */
gwf_grpc_call *gwf_grpc_call_start(gwf_grpc_client *client, const char *path,
                                   const void *body, size_t body_len,
                                   uint64_t timeout_ns, gwf_grpc_cb cb,
                                   void *arg);

/* Abandon a call whose callback has not run: its stream is reset
 * (RST_STREAM CANCEL), its timer cancelled, its memory freed; the
 * callback never runs. NULL is fine. */
void gwf_grpc_call_cancel(gwf_grpc_call *call);

/* From inside the callback only: the answer was well framed but made no
 * sense to the caller (a message that does not decode). Its connection
 * is retired as after a failed call: no new call goes there, and it
 * closes once idle (now, when it is). Elsewhere it does nothing. */
void gwf_grpc_call_distrust(gwf_grpc_call *call);

/* Room for any gwf_grpc_timeout_text: 8 digits, a unit, the NUL. */
#define GWF_GRPC_TIMEOUT_TEXT_SIZE 10

/* Write the value of a grpc-timeout header for `ns` nanoseconds into
 * `out` (`size` bytes, NUL-terminated): "<n><unit>" with at most 8
 * digits, as the gRPC spec allows, in the finest of u (microseconds), m,
 * S, M, H whose count fits, rounded up, so that a peer never gives up
 * before the caller does: 999 -> "1u", 100 s -> "100000m", 0 -> "0u",
 * UINT64_MAX -> "5124096H". Returns the length written (without the
 * NUL); 0 when `size` is too small (GWF_GRPC_TIMEOUT_TEXT_SIZE always
 * is enough), with `out` then "" if `size` > 0. Used by gwf_grpc_call_start,
 * and by plugins that send grpc-timeout on another transport (libcurl). */
size_t gwf_grpc_timeout_text(char *out, size_t size, uint64_t ns);

#ifdef __cplusplus
}
#endif

#endif /* GWF_SDK_GRPC_H */
