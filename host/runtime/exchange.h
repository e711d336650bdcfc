/*
 * exchange.h - one HTTP request and its response held in memory and run
 * through a chain: the data plane of the gwf CLI and of the test host.
 *
 * The caller fills `request` and `request_body`, sets an upstream
 * callback (a stub answer, or a real HTTP fetch), and starts the
 * exchange on a worker. It advances by itself as plugins resume, and
 * calls `on_done` once: forwarded (the upstream answered and the response
 * went through the chain) or answered locally. Nothing here blocks except
 * what the upstream callback does.
 */
#ifndef GWF_RUNTIME_EXCHANGE_H
#define GWF_RUNTIME_EXCHANGE_H

#include "internal.h"
#include "loop.h"

enum {
    GWF_EXCHANGE_RUNNING = 0,
    GWF_EXCHANGE_FORWARDED = 1,
    GWF_EXCHANGE_LOCAL_REPLY = 2,
    GWF_EXCHANGE_ABORTED = 3
};

typedef struct gwf_exchange gwf_exchange;
struct gwf_exchange {
    /* Filled by the caller before gwf_exchange_start. */
    gwf_memmsg request;      /* :method, :path, :scheme, headers */
    rt_buf request_body;
    char remote_address[64]; /* client IP ("" for 127.0.0.1) */
    /* Fill `response` (status and headers) and `response_body` from the
     * upstream, given `request` and `upstream_body` as the chain left
     * them. Return 0, or -1 to answer 502. */
    int (*upstream)(void *ctx, gwf_exchange *x);
    void (*on_done)(void *ctx, gwf_exchange *x);
    void *ctx;

    /* Results. */
    int outcome;
    rt_buf upstream_body;    /* the request body the upstream received */
    gwf_memmsg response;     /* the response the client got */
    rt_buf response_body;    /* from the upstream, then as sent */
    char details[64];        /* the local reply's details */

    /* Internal. */
    gwf_rt_stream *st;
    int phase;
    bool body_fed[2];
    bool body_out[2];
    bool host_response; /* the upstream failed: the response is our 502 */
    rt_buf client_body;
};

/* Start: runs the chain as far as it goes now. 0, or -1 if the stream
 * could not even be created (out of memory). */
int gwf_exchange_start(gwf_exchange *x, gwf_worker *w, gwf_chain *chain);
/* The client went away: ends the stream without an answer. */
void gwf_exchange_abort(gwf_exchange *x);
/* Free everything the exchange holds (after done or abort). */
void gwf_exchange_clear(gwf_exchange *x);

/* Copy a parsed HTTP/1.1 message (http1.h) into `m` and `body`: the
 * request line for a request, the status for a response, then headers
 * and body. 0, or -1 out of memory. */
struct gwf_http_message;
int gwf_memmsg_from_http(gwf_memmsg *m, rt_buf *body,
                         const struct gwf_http_message *h, int request);

/* The runtime's event operations on a gwf_loop. */
void gwf_loop_event_ops(gwf_loop *loop, gwf_event_ops *ops);

#endif /* GWF_RUNTIME_EXCHANGE_H */
