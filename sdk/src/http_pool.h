/*
 * http_pool.h - what http_pool.c (peers, connections, pools) and
 * http_exchange.c (one request and its answer) share; private to the
 * SDK. See gwf/sdk_http.h for the contract.
 */
#ifndef GWF_SDK_HTTP_POOL_H
#define GWF_SDK_HTTP_POOL_H

#include <gwf/sdk_http.h>

#include <sys/socket.h>

struct gwf_http_peer {
    gwf_http_peer_options options; /* defaults filled in */
    struct sockaddr_storage *addrs;
    socklen_t *addr_lens;
    size_t addr_count;
};

enum { CONN_CONNECTING = 1, CONN_BUSY, CONN_IDLE };
/* http_conn.events of a connection with no fd watch (idle) */
#define CONN_UNWATCHED UINT32_MAX

/* One TCP connection to the peer. Its fd watch lives while it is
 * connecting, busy, or idle for less than GWF_HTTP_IDLE_WATCH_NS; its
 * timer is the connect timeout while connecting. */
typedef struct http_conn {
    struct http_conn *prev, *next; /* pool->idle, newest first */
    gwf_http_pool *pool;
    gwf_http_exchange *x; /* connecting or busy: for whom */
    int fd;
    int state;
    uint64_t watch_id;
    uint32_t events; /* what the watch waits for now */
    uint64_t timer_id;
    int timer_armed;
    size_t addr_index; /* the address being tried or connected */
    int64_t idle_since_ns;
    unsigned served; /* answers read on it */
} http_conn;

struct gwf_http_pool {
    gwf_instance *inst;
    const gwf_http_peer *peer;
    http_conn *idle_head, *idle_tail; /* newest first */
    size_t idle_count;
    /* takes the watches of connections idle past GWF_HTTP_IDLE_WATCH_NS */
    uint64_t grace_timer;
    int grace_armed;
    size_t open_count;
    uint64_t connects;
    /* exchanges waiting for a connection (max_total reached), oldest
     * first */
    gwf_http_exchange *wait_head, *wait_tail;
    /* a spare answer buffer and parser header table, kept from the last
     * exchange: saves two allocations per exchange */
    char *spare_buf;
    size_t spare_cap;
    gwf_http_header_at *spare_headers;
};

/* http_pool.c, for http_exchange.c */

/* An idle connection for `x` (taken off the idle list, state BUSY, x set),
 * or NULL. */
http_conn *http_pool_take_idle(gwf_http_pool *pool, gwf_http_exchange *x);
/* Open a new connection for `x`: connecting (http_exchange_connected or
 * http_exchange_connect_failed follows from a later callback). NULL
 * when no address could even start (the cause in *result), or out of
 * memory. The caller checks max_total first. */
http_conn *http_pool_connect(gwf_http_pool *pool, gwf_http_exchange *x,
                             gwf_http_result *result);
/* The exchange is done with `conn`: keep it idle (or hand it to a
 * waiting exchange) when `reusable`, else close it. */
void http_pool_release(http_conn *conn, int reusable);
/* Drop `conn`'s socket and connect again from the first address, for
 * the same exchange and in the same place among max_total (the
 * stale-connection retry). 0, or -1 when no address could even start:
 * then `conn` is closed and *result says why. */
int http_conn_reconnect(http_conn *conn, gwf_http_result *result);
/* Close `conn` now: its watch, timer and fd go. */
void http_conn_close(http_conn *conn);
/* Change what the watch waits for. 0, or -1. */
int http_conn_watch(http_conn *conn, uint32_t events);

/* http_parse.c: gwf_http_parser_init with the header table `table`
 * (of limits->max_headers after defaults, the caller's memory handed
 * over: freed by gwf_http_parser_free), or a new one when NULL. */
gwf_status http_parser_init_table(gwf_http_parser *p,
                                  const gwf_http_limits *limits,
                                  int head_request, gwf_http_header_at *table);

/* http_exchange.c, for http_pool.c */
void http_exchange_connected(gwf_http_exchange *x);
void http_exchange_connect_failed(gwf_http_exchange *x);
void http_exchange_io(gwf_http_exchange *x, uint32_t events);
/* A connection freed a place: the first waiting exchange, if any, is
 * taken off the wait list (NULL when none). */
gwf_http_exchange *http_pool_next_waiter(gwf_http_pool *pool);
/* Give a waiting exchange a connection (an idle one, or a new one). */
void http_exchange_resume_waiter(gwf_http_exchange *x, http_conn *conn);

#endif
