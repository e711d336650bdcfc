/*
 * redis_conn.h - one connection to one Redis node (private to the
 * rate_limit folder; see redis_conn.c for the why).
 *
 * A client (redis.c: the Single client today; Sentinel and Cluster are
 * clients holding several connections) owns its connections: it makes
 * one with rl_conn_new, queues commands with rl_conn_send, and ends it
 * with rl_conn_free. Every command owed a reply is an rl_conn_req the
 * client embeds in its own command object (no allocation per command
 * here); the connection answers it through req->on_reply, for each reply
 * it owes, and with no reply exactly once when the connection goes.
 */
#ifndef GWF_RATE_LIMIT_REDIS_CONN_H
#define GWF_RATE_LIMIT_REDIS_CONN_H

#include <gwf/abi.h>
#include <hiredis/read.h>
#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>

/* Error and status text kept from a reply (longer is cut: only the
 * start of an error is ever looked at or logged). */
#define RL_REPLY_STR_MAX 256
/* Array replies kept by the bounded builder: ours have at most 4
 * elements; a longer announcement ends the connection as it is read. */
#define RL_MAX_ARRAY 16

/* A reply as the bounded builder keeps it (one at a time, reused). */
typedef struct rl_reply {
    int type; /* REDIS_REPLY_*; first, as in redisReply */
    long long integer;
    size_t elements;
    long long ints[RL_MAX_ARRAY];
    unsigned char is_int[RL_MAX_ARRAY]; /* element i is an integer */
    size_t len;
    char str[RL_REPLY_STR_MAX]; /* ERROR / STATUS text, NUL-ended */
} rl_reply;

typedef struct rl_conn rl_conn;
typedef struct rl_conn_req rl_conn_req;

/* A command owed replies, embedded in the client's own object. The
 * client sets on_reply (and, to get a reply whole, builder) before
 * rl_conn_send; the connection owns next and replies_left meanwhile. */
struct rl_conn_req {
    rl_conn_req *next;
    unsigned replies_left; /* set by rl_conn_send, counted down */
    /* One reply: `reply` is an rl_reply (or the builder's object when
     * builder is set; the callee owns that one), valid for the call
     * only; replies_left is already counted down, and at 0 the request
     * is off the connection (the callee may free or re-send it).
     * Connection gone: `reply` NULL, `why` says why; called once, and
     * the request is off the connection. May call any rl_conn_* (also
     * rl_conn_free of this connection). */
    void (*on_reply)(rl_conn_req *req, const void *reply, const char *why);
    /* NULL: the bounded rl_reply builder. Else hiredis's reader builds
     * this request's replies with these functions (privdata =
     * builder_priv), e.g. redis_tree.c's bounded reply tree for CLUSTER
     * SLOTS or SENTINEL replies. */
    redisReplyObjectFunctions *builder;
    void *builder_priv;
    /* Set by the client: every reply from here on is this request's and
     * it never leaves the connection (SUBSCRIBE: the messages that
     * follow). Only the last request of a connection may be one. */
    int stream;
};

/* Where a connection goes and how it talks: everything is borrowed and
 * must outlive the connection. */
typedef struct rl_conn_params {
    gwf_instance *inst;
    const char *host; /* as configured: for logs, SNI and verification */
    int port;
    char *const *addrs; /* numeric addresses of host, tried in turn */
    size_t addr_count;
    SSL_CTX *tls;            /* NULL: plain TCP */
    const char *server_name; /* SNI and name checked; NULL: host */
    int verify_name;         /* check the certificate names the peer */
    const char *username;    /* NULL: AUTH with the password alone */
    const char *password;    /* NULL: no AUTH */
    size_t password_len;
    int64_t db; /* 0: no SELECT */
} rl_conn_params;

typedef struct rl_conn_ops {
    /* The connection went by itself (peer closed, read/write error,
     * malformed reply, every address refused, AUTH/SELECT refused):
     * `why` says why. Runs BEFORE the owed requests are answered with
     * no reply (so a client can start its backoff first); the client
     * usually calls rl_conn_free here. */
    void (*on_gone)(void *owner, rl_conn *c, const char *why);
} rl_conn_ops;

/* A connection, starting to connect to the first address that accepts
 * at once. NULL when out of memory or when no address accepted (`why`,
 * if not NULL, then points to a static reason); nothing was called. */
rl_conn *rl_conn_new(const rl_conn_params *p, const rl_conn_ops *ops,
                     void *owner, const char **why);
/* End it: a TLS session gets its close_notify, the socket is closed,
 * every owed request is answered with no reply ("connection closed" or
 * `why`), once. Safe from inside any of its callbacks (the memory then
 * goes when the outermost callback returns). NULL is fine. */
void rl_conn_free(rl_conn *c, const char *why);
/* Queue a command of `argc` arguments for `req` (replies owed: 1):
 * formatted into the output buffer at once (held there until the
 * connection is up and past AUTH/SELECT), written when the socket is
 * next writable. 0, or -1 (nothing queued: no memory, too large, or the
 * connection is gone). */
int rl_conn_send(rl_conn *c, rl_conn_req *req, int argc,
                 const char *const *argv, const size_t *lens);
/* Room for `room` bytes of raw RESP at the end of the output buffer
 * (for commands formatted in place): where they go, or NULL. Then
 * rl_conn_commit with the end and the number of replies owed. */
char *rl_conn_room(rl_conn *c, size_t room);
void rl_conn_commit(rl_conn *c, rl_conn_req *req, const char *end,
                    unsigned replies);
/* Still connecting (TCP or TLS handshake) rather than talking. */
int rl_conn_connecting(const rl_conn *c);
/* Give up on the address being tried and try the next one (a black-holed
 * address): 0 if an attempt is under way, -1 when none is left (the
 * connection is then gone: on_gone ran). */
int rl_conn_next_address(rl_conn *c, const char *why);
/* It owes replies to requests (a stream request included). */
int rl_conn_owes(const rl_conn *c);
/* How many replies it has handed to requests so far (progress: a client
 * that sees this unchanged across timeouts knows the node is stuck). */
uint64_t rl_conn_replies(const rl_conn *c);
/* The numeric address it is connected (or connecting) to, for logs. */
const char *rl_conn_address(const rl_conn *c);

/* RESP pieces at `p` (room made by the caller): "<c><n>\r\n", and a
 * bulk string (at most RL_RESP_BULK_ROOM(len) bytes). The end. */
char *rl_resp_line(char *p, char c, uint64_t n);
char *rl_resp_bulk(char *p, const char *data, size_t len);
#define RL_RESP_BULK_ROOM(len) (1 + 20 + 2 + (len) + 2)

#endif
