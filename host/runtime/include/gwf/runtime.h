/*
 * gwf/runtime.h - the host runtime every gwf data plane is built on.
 *
 * A data plane (the nginx module, the gwf CLI, the test host) does three
 * things with it:
 *
 *  1. At configuration time, on its main thread: create a gwf_runtime,
 *     load manifests into it, and ask it for one gwf_chain per route
 *     (resolved from TrafficPolicy / GatewayExtension / DirectResponse /
 *     Backend references). Plugins are loaded and configured here; every
 *     error names the file, the document and the field.
 *  2. In each worker, after fork: start a gwf_worker, binding the ABI's
 *     timers, fd watches and posts to the data plane's event loop through
 *     gwf_event_ops.
 *  3. Per request: create a gwf_rt_stream on the worker with access to
 *     its request and response (gwf_message_ops), feed it the request
 *     headers, body chunks, response headers and body chunks, and act on
 *     what each call returns (go on, wait, read the body first, or send
 *     the local reply). When a paused stream moves again the runtime
 *     calls gwf_stream_ops.wake.
 *
 * The runtime owns hook ordering, pause/resume, the pause deadline,
 * body buffering, local replies, deferred destroy, per-stream values and
 * metrics; the data plane only maps requests, bodies and events.
 *
 * Threads: everything about a gwf_runtime and gwf_chain happens on the
 * main thread; a gwf_worker and its streams belong to one worker thread.
 * A runtime must outlive its workers and streams.
 */
#ifndef GWF_RUNTIME_H
#define GWF_RUNTIME_H

#include <gwf/abi.h>
#include <gwf/manifest.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gwf_runtime gwf_runtime;
typedef struct gwf_chain gwf_chain;
typedef struct gwf_worker gwf_worker;
typedef struct gwf_rt_stream gwf_rt_stream;

/* A list of error lines, each "FILE:LINE: Kind ns/name: field: message". */
typedef struct gwf_errors {
    char **lines;
    size_t count;
} gwf_errors;
void gwf_errors_free(gwf_errors *e);

typedef struct gwf_runtime_options {
    /* Directories searched for plugins by name before GWF_PLUGIN_PATH and
     * the install directory, ':'-separated; may be NULL. */
    const char *plugin_path;
    /* Log sink for plugins and the runtime. `instance` is
     * "namespace/name" of the plugin instance or "gwf". NULL: stderr. */
    void (*log)(void *ctx, gwf_log_level level, const char *instance,
                const char *msg, size_t len);
    void *log_ctx;
    gwf_log_level log_level;
    /* Clocks in ns: realtime since the epoch (NULL: CLOCK_REALTIME) and
     * monotonic (NULL: CLOCK_MONOTONIC). Tests and the CLI fix them. */
    int64_t (*realtime)(void *ctx);
    int64_t (*monotonic)(void *ctx);
    void *clock_ctx;
    /* How long a stream may stay paused (0: 30 s). */
    uint64_t max_pause_ns;
    /* Largest body the runtime buffers for a plugin (0: 1 MiB). */
    size_t max_body_bytes;
    /* The host's name, shown to plugins as gwf_host.name. */
    const char *host_name;
    /* Nonzero: gwf_runtime_chain checks only the documents its chain
     * uses (and their references), not every document loaded. For a
     * data plane configured by a translator (gwf gateway) that hands it
     * the operator's whole manifest directory: a policy gwf cannot
     * honour there fails its own routes closed (the translator's
     * business), not the whole data plane. gwf_runtime_validate still
     * checks everything. */
    int referenced_only;
    /* Nonzero: the data plane runs each worker in a process of its own
     * (nginx), so one thread per process records metrics, and a metric
     * update is a plain load and store instead of an atomic
     * read-modify-write. Zero (threads as workers): atomic. */
    int one_worker_per_process;
} gwf_runtime_options;

gwf_runtime *gwf_runtime_new(const gwf_runtime_options *opts);
/* For tests (the test host's gwf_test_host_reply_memory_fails): from now
 * on, nonzero `on` makes every plugin's local reply fail as it does when
 * the host runs out of memory making it (the stream is answered 500). */
void gwf_runtime_fail_reply_memory(gwf_runtime *rt, int on);
/* For tests (gwf_test_host_reply_prepare_fails): from now on, nonzero
 * `on` makes reply_prepare fail as it does when the host runs out of
 * memory keeping the reply (GWF_ERR_NO_MEMORY). */
void gwf_runtime_fail_reply_prepare(gwf_runtime *rt, int on);
/* Frees every chain and plugin instance (config_destroy), unloads
 * plugins. All workers must have been stopped. */
void gwf_runtime_free(gwf_runtime *rt);

/* Load manifests: a file, a directory (its .yaml, .yml and .json files)
 * or a glob. Returns 0, or -1 with the errors appended to `err`. */
int gwf_runtime_load(gwf_runtime *rt, const char *path, gwf_errors *err);
int gwf_runtime_load_text(gwf_runtime *rt, const char *name, const char *text,
                          size_t len, gwf_errors *err);
/* Check every document and its references, load every plugin they name
 * and create every config and route config (what `gwf validate` and
 * `nginx -t` do). 0 or -1 with errors. */
int gwf_runtime_validate(gwf_runtime *rt, gwf_errors *err);

/* What one route uses; each reference is "name" or "namespace/name". */
typedef struct gwf_route_refs {
    const char *policy; /* TrafficPolicy */
    /* Field by field, as gwf_plan_request.field_policies (manifest.h). */
    const char *field_policies[GWF_PF_COUNT];
    const char *const *extensions; /* GatewayExtensions */
    size_t extension_count;
    const char *direct_response; /* DirectResponse */
    const char *backend;         /* Backend */
    const char *route_name;      /* for logs and GWF_ATTR_ROUTE_NAME */
    /* An HTTPRoute rule's CORS filter: the HTTPRoute and the path of
     * its cors node, as gwf_plan_request.route_filter_* (manifest.h). */
    const char *route_filter_route;
    const char *route_filter_field;
} gwf_route_refs;

/* Build (or return the already built) chain for a route. Instances are
 * shared: one GatewayExtension used by many routes is configured once.
 * NULL with errors on failure. The chain lives as long as the runtime. */
gwf_chain *gwf_runtime_chain(gwf_runtime *rt, const gwf_route_refs *refs,
                             gwf_errors *err);
/* Number of plugins in a chain (0 is a valid, empty chain). */
size_t gwf_chain_length(const gwf_chain *chain);
/* 1 if some plugin in the chain has a hook for that body. */
int gwf_chain_wants_body(const gwf_chain *chain, gwf_message_kind which);

/* A chain whose one plugin answers every request with one prepared reply
 * (abi.h reply_always): the data plane may send it as its own constant
 * reply, without a stream, and count it with gwf_chain_reply_count. The
 * parts are those gwf_stream_reply_* give for a stream answered with it,
 * and the slot is the one gwf_stream_reply_prepared_slot gives for it.
 * NULL for any other chain. Lives as long as the runtime. */
typedef struct gwf_chain_reply gwf_chain_reply;
const gwf_chain_reply *gwf_chain_constant_reply(const gwf_chain *chain);
uint32_t gwf_chain_reply_status(const gwf_chain_reply *reply);
gwf_status gwf_chain_reply_header(const gwf_chain_reply *reply, size_t index,
                                  gwf_view *name, gwf_view *value);
gwf_view gwf_chain_reply_body(const gwf_chain_reply *reply);
void **gwf_chain_reply_slot(const gwf_chain_reply *reply);
/* One request of `chain` answered with its constant reply on worker `w`:
 * counted in the series a stream answered with it would count in
 * (gwf_streams_total, gwf_local_replies_total). */
void gwf_chain_reply_count(gwf_worker *w, gwf_chain *chain);

/* Load a plugin by name or path (for `gwf inspect`). The entry stays
 * valid as long as the runtime. NULL with an error. */
const gwf_plugin *gwf_runtime_load_plugin(gwf_runtime *rt,
                                          const char *name_or_path,
                                          char **path_out, gwf_errors *err);

/* Every metric, Prometheus text format. Caller frees. */
char *gwf_runtime_metrics_text(gwf_runtime *rt);

/* -- Workers -------------------------------------------------------------- */

/* The data plane's event loop, as the runtime needs it. Ids are the data
 * plane's; 0 means failure. All but `post` are called on the worker. fd
 * events use the ABI's bits (GWF_FD_READ, GWF_FD_WRITE, GWF_FD_ERROR). */
typedef struct gwf_event_ops {
    void *ctx;
    /* `flags` is GWF_EV_STREAM for a timer that belongs to a request (a
     * plugin's stream-scope timer, the pause deadline): a graceful
     * shutdown should wait for it. Other timers (a worker's reconnect,
     * a JWKS refresh) must not hold a shutdown up. */
    uint64_t (*timer_start)(void *ctx, uint64_t delay_ns, uint32_t flags,
                            void (*cb)(void *arg), void *arg);
    int (*timer_cancel)(void *ctx, uint64_t id);
    uint64_t (*fd_watch)(void *ctx, int fd, uint32_t events,
                         void (*cb)(void *arg, int fd, uint32_t events),
                         void *arg);
    int (*fd_update)(void *ctx, uint64_t id, uint32_t events);
    int (*fd_cancel)(void *ctx, uint64_t id);
    /* [any thread] Run cb(arg) on the worker soon; release(arg) instead if
     * the loop goes away first. 0 on success. */
    int (*post)(void *ctx, void (*cb)(void *arg), void (*release)(void *arg),
                void *arg);
    /* Monotonic clock in ns. */
    uint64_t (*now)(void *ctx);
} gwf_event_ops;

#define GWF_EV_STREAM 1u

/* Start a worker: calls every instance's worker_start. NULL with errors
 * if one fails. A worker runs on the thread that started it: its
 * streams and its events (every gwf_event_ops callback) run there;
 * gwf_worker_stop may run on another thread once the first no longer
 * runs the worker. */
gwf_worker *gwf_worker_start(gwf_runtime *rt, uint32_t index, uint32_t count,
                             const gwf_event_ops *ev, gwf_errors *err);
/* Stop it: worker_stop for every instance. Live streams must have been
 * freed. */
void gwf_worker_stop(gwf_worker *w);
/* Timers, watches and posts the runtime holds on this worker. */
size_t gwf_worker_pending(const gwf_worker *w);
/* fd watches plugins hold on this worker (a peer may still answer). */
size_t gwf_worker_fd_watches(const gwf_worker *w);

/* -- Streams ------------------------------------------------------------- */

/* Access to one message (request or response) of the data plane.
 * Names may be pseudo-headers (":method", ":path", ":scheme",
 * ":authority", ":status") for get and set. Values set are copied. */
typedef struct gwf_message_ops {
    gwf_status (*get)(void *msg, const char *name, size_t name_len,
                      size_t index, gwf_view *value);
    size_t (*count)(void *msg);
    gwf_status (*at)(void *msg, size_t index, gwf_view *name, gwf_view *value);
    gwf_status (*set)(void *msg, const char *name, size_t name_len,
                      const char *value, size_t value_len);
    gwf_status (*add)(void *msg, const char *name, size_t name_len,
                      const char *value, size_t value_len);
    gwf_status (*remove)(void *msg, const char *name, size_t name_len);
} gwf_message_ops;

/* What happened; returned by every feeding call and given to wake. */
typedef enum gwf_rt_state {
    /* The phase passed every plugin: go on (forward the request, send
     * the response headers). Output body chunks, if any, are ready in
     * gwf_stream_take. */
    GWF_RT_CONTINUE = 0,
    /* A plugin holds the headers until the whole body has arrived: feed
     * the body (gwf_stream_data) before going on. */
    GWF_RT_NEED_BODY = 1,
    /* Paused: wait for gwf_stream_ops.wake. */
    GWF_RT_WAIT = 2,
    /* Send the local reply (gwf_stream_reply) instead of anything else. */
    GWF_RT_REPLY = 3
} gwf_rt_state;

/* A plugin's answer before the stream (abi.h request_early). `headers`
 * are checked as send_local_reply checks them. `prepared` is the
 * prepared reply when the plugin sent one (its status, headers and body
 * are then these, and gwf_chain_reply_slot gives its data-plane slot),
 * else NULL. A prepared reply sent with values (abi.h
 * send_prepared_reply_values) has the values of its first `value_count`
 * headers replaced by `values` (checked and trimmed): `headers` still
 * holds the prepared ones, and the data plane sends these instead. */
typedef struct gwf_early_reply {
    uint32_t status;
    const gwf_header *headers;
    size_t header_count;
    gwf_view body;
    const char *details;
    const gwf_chain_reply *prepared;
    const gwf_view *values;
    size_t value_count;
} gwf_early_reply;

typedef struct gwf_stream_ops {
    /* The stream moved after a wait: act on `state` as on a return value
     * of the feeding call that had returned GWF_RT_WAIT. Called on the
     * worker, outside any plugin callback. */
    void (*wake)(void *dp_stream, gwf_rt_state state);
    /* Stream attributes (GWF_ATTR_*); GWF_ERR_NOT_FOUND if unknown. */
    gwf_status (*attribute)(void *dp_stream, gwf_attribute attr,
                            gwf_view *value);
    /* An answer made before the stream (gwf_chain_early), handed over
     * inside the plugin's call: copy what `reply` points to now (a
     * prepared reply's parts live as long as the runtime). GWF_OK, or
     * GWF_ERR_NO_MEMORY (the client then gets 500). NULL: the data plane
     * does not take such answers, and gwf_chain_early always says
     * GWF_RT_EARLY_NONE. */
    gwf_status (*early_reply)(void *dp_stream, const gwf_early_reply *reply);
} gwf_stream_ops;

typedef enum {
    GWF_RT_EARLY_NONE = 0,   /* no answer: make the stream (gwf_stream_new) */
    GWF_RT_EARLY_REPLY = 1,  /* answered: early_reply has the answer */
    GWF_RT_EARLY_FAILED = 2, /* answer 500 (the reason is logged) */
    /* The chain (its one plugin) is done with the request: it goes on as
     * the plugin changed it through `msg_ops`, with no stream. */
    GWF_RT_EARLY_DONE = 3
} gwf_rt_early;

/* Let the chain's first plugin answer the request before its stream is
 * made (abi.h request_early), with the same arguments gwf_stream_new
 * would get (no response message yet), or, when it is the chain's only
 * plugin, finish it (GWF_RT_EARLY_DONE). Counted as a stream answered
 * with that reply, or let through, would be. GWF_RT_EARLY_NONE at once
 * for a chain whose first plugin has no such hook or whose others have
 * stream_complete, and for `ops` without early_reply. */
/* 1 when gwf_chain_early may answer for `chain` (its first plugin has
 * request_early and no other has stream_complete): a data plane checks
 * this before it sets up what gwf_chain_early needs. */
int gwf_chain_answers_early(const gwf_chain *chain);
gwf_rt_early gwf_chain_early(gwf_worker *w, gwf_chain *chain,
                             const gwf_stream_ops *ops, void *dp_stream,
                             const gwf_message_ops *msg_ops, void *request);

/* A stream on worker `w` through `chain`. `request` and `response` are
 * the data plane's messages behind `msg_ops` (the response one may be
 * NULL until the upstream answered: see gwf_stream_set_response). NULL
 * on allocation failure. If a plugin's stream_create fails, the stream is
 * created and its first feeding call returns GWF_RT_REPLY with a 500. */
gwf_rt_stream *gwf_stream_new(gwf_worker *w, gwf_chain *chain,
                              const gwf_stream_ops *ops, void *dp_stream,
                              const gwf_message_ops *msg_ops, void *request,
                              void *response);
void gwf_stream_set_response(gwf_rt_stream *st, void *response);

/* Feed the request or response headers. end_of_stream: no body follows. */
gwf_rt_state gwf_stream_headers(gwf_rt_stream *st, gwf_message_kind which,
                                int end_of_stream);
/* Feed a body chunk (copied). end_of_stream: last chunk. */
gwf_rt_state gwf_stream_data(gwf_rt_stream *st, gwf_message_kind which,
                             const char *data, size_t len, int end_of_stream);
/* Where direction `which` stands now, as the last feeding call or wake
 * for it would say (no plugin code runs): a data plane that streams the
 * request body while the response starts asks after a wake. */
gwf_rt_state gwf_stream_state(const gwf_rt_stream *st, gwf_message_kind which);
/* Take the next body chunk that passed every plugin. Returns 1 and fills
 * `chunk` (valid until the next call on the stream) and `*end_of_stream`,
 * or 0 when none is ready. */
int gwf_stream_take(gwf_rt_stream *st, gwf_message_kind which, gwf_view *chunk,
                    int *end_of_stream);

/* End the stream with the host's own reply (status, a one-line text
 * body, `details` for metrics), as the runtime does for its own limits:
 * a pause in progress ends, no further hook runs on the request, and the
 * feeding calls answer GWF_RT_REPLY from now on. For a limit only the
 * data plane can see (bytes it had to take while a plugin waited). A
 * reply already under way is kept. Returns the new state. */
gwf_rt_state gwf_stream_abort(gwf_rt_stream *st, uint32_t status,
                              const char *body, const char *details);

/* How to frame a message's body once its headers left the chain (the
 * feeding call answered GWF_RT_CONTINUE for them); see "Bodies" in
 * abi.h. */
typedef enum gwf_rt_framing {
    /* No plugin changed the body: keep the message's own framing
     * (Content-Length, ranges). */
    GWF_RT_FRAMING_KEEP = 0,
    /* A plugin changed the body while the headers were held: the whole
     * body is ready in gwf_stream_take; send it with its exact length. */
    GWF_RT_FRAMING_EXACT = 1,
    /* A plugin changes the body as it streams: the length is unknown
     * (drop Content-Length; send chunked or until close; no ranges). */
    GWF_RT_FRAMING_STREAMED = 2
} gwf_rt_framing;
gwf_rt_framing gwf_stream_framing(const gwf_rt_stream *st,
                                  gwf_message_kind which);

/* The local reply after GWF_RT_REPLY: status, headers (iterate with
 * index until GWF_ERR_NOT_FOUND) and the whole body. The reply went
 * through the response hooks of the plugins before the one that sent it.
 * `details` may be NULL. */
uint32_t gwf_stream_reply_status(const gwf_rt_stream *st);
gwf_status gwf_stream_reply_header(const gwf_rt_stream *st, size_t index,
                                   gwf_view *name, gwf_view *value);
gwf_view gwf_stream_reply_body(const gwf_rt_stream *st);
const char *gwf_stream_reply_details(const gwf_rt_stream *st);
/* When the reply is a prepared one (abi.h reply_prepare) sent as it
 * was prepared, a slot that is the data plane's, one per prepared reply
 * and as long-lived as the runtime: NULL until the data plane stores
 * there what it built once for that reply (its own form of the headers),
 * so that the next streams answering with it reuse it. The runtime never
 * reads or frees it; the data plane frees what it stored, at the latest
 * when it frees the runtime. Not locked: for a data plane whose workers
 * are processes (nginx), or one that stores only from one thread.
 * NULL for any other reply. */
void **gwf_stream_reply_prepared_slot(const gwf_rt_stream *st);

/* The stream is over (log phase): stream_complete on every plugin. Also
 * for aborted streams. Idempotent. */
void gwf_stream_complete(gwf_rt_stream *st);
/* Free it: stream_destroy on every plugin, cancel its timers and fd
 * watches, drop pending posts. Completes the stream first if needed.
 * Deferred if called from inside a plugin callback of this stream. */
void gwf_stream_free(gwf_rt_stream *st);

#ifdef __cplusplus
}
#endif

#endif /* GWF_RUNTIME_H */
