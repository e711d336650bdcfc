/*
 * grpc_internal.h - what the gRPC client's files share (gwf/sdk_grpc.h is
 * the contract; nothing here crosses it):
 *
 *   grpc_peer.c   the peer: addresses resolved at config time
 *   h2_conn.c     one HTTP/2 connection: the socket and its connect
 *                 sequence, libnghttp2's session, reading and writing,
 *                 SETTINGS and GOAWAY
 *   grpc_call.c   calls: which connection takes one, the HEADERS and
 *                 DATA that carry it, reading its answer, its deadline,
 *                 cancel, and handing results to their callbacks
 *
 * Who owns what: the client owns its connections (a list) and the calls
 * waiting for delivery (a list); a connection owns its calls in flight
 * (a list; libnghttp2's stream user data points at the call, cleared
 * when the call leaves the stream). A call is on at most one list, and
 * besides, from its start to its end, on the client's deadline list
 * (dl_prev/dl_next), which one host timer serves.
 */
#ifndef GWF_SDK_GRPC_INTERNAL_H
#define GWF_SDK_GRPC_INTERNAL_H

#include <gwf/sdk.h>
#include <gwf/sdk_grpc.h>

#include <nghttp2/nghttp2.h>
#include <sys/socket.h>

struct gwf_grpc_peer {
    struct {
        struct sockaddr_storage sa;
        socklen_t len;
        int family;
    } addrs[GWF_GRPC_MAX_ADDRESSES];
    size_t count;
    char *authority;
    uint64_t connect_timeout_ns;
    uint32_t max_message;
};

typedef struct h2_conn h2_conn;

/* Where a call is. */
enum {
    CALL_UNPLACED = 0, /* on no list, no connection */
    CALL_PENDING,      /* on the client's pending list (after a GOAWAY) */
    CALL_ON_CONN,      /* on conn->calls, with a stream */
    CALL_DONE,         /* on the client's done list, result set */
    CALL_DELIVERING    /* its callback runs */
};

/* The most header fields (and bytes) one header block of an answer may
 * carry: gRPC's metadata is a handful. */
#define GRPC_MAX_HEADER_FIELDS 100
#define GRPC_MAX_HEADER_BYTES (64 * 1024)
/* grpc-message bytes kept (the rest is dropped). */
#define GRPC_MAX_STATUS_MESSAGE 1024

struct gwf_grpc_call {
    gwf_grpc_client *client;
    gwf_grpc_call *prev, *next; /* on one list (see `where`) */
    int where;
    h2_conn *conn;        /* CALL_ON_CONN */
    int32_t stream_id;    /* 0 until submitted */
    int retried;          /* moved once already (GOAWAY) */
    uint64_t conn_serial; /* of the connection that answered, once done */

    const char *path; /* the caller's (borrowed) */
    size_t path_len;
    const void *body; /* the caller's (borrowed) */
    size_t body_len, body_sent;
    uint64_t deadline_ns; /* CLOCK_MONOTONIC */
    /* on client->deadlines (every call from start to its end) */
    gwf_grpc_call *dl_prev, *dl_next;
    int on_deadlines;

    /* the answer */
    int phase; /* 0 response headers next, 1 body or trailers, 2 trailers */
    int http_status;
    int status_in_headers, status_in_trailers;
    int grpc_status;
    size_t header_fields, header_bytes; /* of the block being read */
    char grpc_message[GRPC_MAX_STATUS_MESSAGE];
    size_t grpc_message_len;
    uint8_t prefix[5]; /* the message's prefix as it came */
    size_t prefix_len;
    uint8_t *message;   /* `expected` bytes, malloc'd once the prefix came */
    size_t message_len; /* of them received */
    uint32_t expected;  /* the prefix's length, once 5 bytes came */

    gwf_grpc_result result;
    gwf_grpc_cb cb;
    void *arg;
};

typedef struct call_list {
    gwf_grpc_call *head, *tail;
    size_t count;
} call_list;

/* Connection states. */
enum {
    CONN_CONNECTING = 0, /* socket connecting to addrs[addr_at] */
    CONN_OPEN,           /* connected; calls go on */
    CONN_DRAINING,       /* GOAWAY (either way): no new calls */
    CONN_DEAD            /* failed or done: freed when nothing runs in it */
};

struct h2_conn {
    gwf_grpc_client *client;
    h2_conn *prev, *next;
    int state;
    int fd;
    uint64_t watch_id;
    int watching;
    uint32_t events;
    uint64_t timer_id; /* connect, then the wait for SETTINGS */
    int timer_armed;
    size_t addr_at;
    int settings_seen;
    int goaway_seen; /* the peer's GOAWAY came */
    nghttp2_session *session;
    call_list calls;
    uint8_t *out; /* bytes libnghttp2 produced, not yet written */
    size_t out_len, out_off, out_cap;
    int busy;        /* inside one of its handlers: free it afterwards */
    int flush_due;   /* calls submitted since its last h2_conn_flush */
    uint64_t serial; /* the client's count of connections when made */
};

struct gwf_grpc_client {
    gwf_instance *inst;
    const gwf_grpc_peer *peer;
    h2_conn *conns;
    size_t nconns;       /* not DEAD */
    call_list pending;   /* waiting for a connection (after GOAWAY) */
    call_list done;      /* results to hand to callbacks */
    uint64_t kick_timer; /* delivers results found outside a handler */
    int kick_armed;
    int in_handler; /* a host callback of this client runs */
    /* The peer's SETTINGS_MAX_CONCURRENT_STREAMS as last seen (100, the
     * RFC's floor, until one came): what a connection whose SETTINGS
     * did not come yet is assumed to take. */
    uint32_t known_max_streams;
    uint64_t conn_serials; /* connections made so far */
    /* Every call not ended yet, by deadline (earliest first), and one
     * timer for them all, armed for `deadline_at` (at most the head's
     * deadline): a call costs no timer of its own. The timer is not
     * moved when the head ends; when it fires it ends the calls due and
     * is armed again for the new head, if any. */
    gwf_grpc_call *dl_head, *dl_tail;
    uint64_t deadline_timer;
    uint64_t deadline_at;
    int deadline_armed;
};

/* lists (grpc_call.c) */
void grpc_list_push(call_list *l, gwf_grpc_call *call);
void grpc_list_unlink(call_list *l, gwf_grpc_call *call);

/* h2_conn.c */
/* A new connection, already connecting (it is on client->conns). NULL
 * when out of memory or when no address can even be tried; then nothing
 * was added. */
h2_conn *h2_conn_new(gwf_grpc_client *client);
/* Write what libnghttp2 has to send, as far as the socket takes it, and
 * set the watch to what is wanted next. Fails the connection on a write
 * error: -1, and `conn` is freed unless busy; else 0. */
int h2_conn_flush(h2_conn *conn);
/* Fail the connection: every call on it fails with `why` (retryable when
 * its peer had answered nothing of it yet), the socket closes. It is
 * freed at once, or after its handler returns when busy. */
void h2_conn_fail(h2_conn *conn, const char *why);
/* Free a connection (DEAD or not) and the calls still on it, without
 * callbacks: gwf_grpc_client_free. */
void h2_conn_destroy(h2_conn *conn);
/* Close it if it drains and carries no call (freed unless busy). */
void h2_conn_close_if_idle(h2_conn *conn);
/* Make the first connect attempt of a new connection (after the first
 * call was submitted to it); may fail it, and free it. */
void h2_conn_start(h2_conn *conn);
/* Before a call goes on an idle connection (which is not watched):
 * read what the peer sent meanwhile. 0, or -1 when it turned out closed
 * (then it is freed). */
int h2_conn_revive(h2_conn *conn);
/* Can it take one more call? */
int h2_conn_has_room(const h2_conn *conn);
/* The callbacks the session uses (grpc_call.c fills the call's ones). */
void grpc_call_set_callbacks(nghttp2_session_callbacks *cbs);

/* grpc_call.c */
/* Submit `call` (CALL_UNPLACED, not on any list) to `conn`: 0, or -1
 * (the session refused: the connection is full or going away). */
int grpc_call_submit(h2_conn *conn, gwf_grpc_call *call);
/* End the call with `outcome` (it leaves its connection or list) and
 * queue its result for delivery. */
void grpc_call_fail(gwf_grpc_call *call, gwf_grpc_outcome outcome,
                    const char *why, int retryable);
/* Take the call off its connection (its stream is reset with CANCEL when
 * it is still open). It becomes CALL_UNPLACED, on no list. */
void grpc_call_detach(gwf_grpc_call *call, int reset);
/* Place the calls of client->pending on connections. */
void grpc_client_place_pending(gwf_grpc_client *client);
/* Hand queued results to their callbacks (outside any handler: arm the
 * kick timer instead). */
void grpc_client_deliver(gwf_grpc_client *client);
/* Run after each host callback of the client: free dead connections,
 * place pending calls, deliver results. */
void grpc_client_after_event(gwf_grpc_client *client);
/* Session callbacks h2_conn.c passes on: a HEADERS frame received (the
 * call's answer moves on), and a GOAWAY (calls above last-stream-id
 * move to client->pending, once). */
int grpc_on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame,
                       void *arg);
void grpc_on_goaway(h2_conn *conn, int32_t last_stream_id);
/* Free a call's memory (it is on no list and has no timer). */
void grpc_call_free(gwf_grpc_call *call);

#endif
