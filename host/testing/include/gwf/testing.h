/*
 * gwf/testing.h - an in-process host for plugin unit tests.
 *
 * The test host is the gwf runtime (the same loader, manifests and filter
 * chains the nginx module uses) driven by a small poll-based event loop,
 * with a clock the test controls. A plugin's unit test loads manifests,
 * builds a request, runs it through a route, and inspects what happened:
 * local reply or forwarded request, headers, bodies, logs and metrics.
 * Async plugins do real I/O on the loop (sockets to Redis, an authz
 * server), so tests exercise the real code paths.
 *
 * Plugins are found by name in GWF_PLUGIN_PATH (a colon-separated list of
 * directories), then in the install directory; gwf_test_plugin_path adds
 * directories in front.
 *
 * All strings returned are owned by the host or the result and stay valid
 * until that object is freed. Functions that can fail return 0 on success
 * and -1 on failure, with the reason in gwf_test_error().
 */
#ifndef GWF_TESTING_H
#define GWF_TESTING_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gwf_test_host gwf_test_host;
typedef struct gwf_test_request gwf_test_request;
typedef struct gwf_test_result gwf_test_result;

/* -- The host ------------------------------------------------------------ */

/* A new host. Its realtime clock is fixed at 2026-01-01T00:00:00Z and only
 * moves with gwf_test_advance (timers fire by that clock too). */
gwf_test_host *gwf_test_host_new(void);
void gwf_test_host_free(gwf_test_host *h);

/* Prepend a directory to the plugin search path. */
int gwf_test_plugin_path(gwf_test_host *h, const char *dir);

/* Load manifests from text (YAML or JSON) or from a file/directory/glob.
 * Documents accumulate across calls; plugins are loaded and configured
 * when a route first uses them, or by gwf_test_validate. */
int gwf_test_load_text(gwf_test_host *h, const char *text);
int gwf_test_load_path(gwf_test_host *h, const char *path);
/* Load and configure every document (as `gwf validate` does). */
int gwf_test_validate(gwf_test_host *h);
/* Every error line since the last successful call, joined by '\n'. */
const char *gwf_test_error(const gwf_test_host *h);

/* Clock and limits. The limits (defaults: 30 s pause, 1 MiB body) take
 * effect only when set before the first manifest is loaded. */
void gwf_test_set_now(gwf_test_host *h, int64_t unix_ns);
int64_t gwf_test_now(const gwf_test_host *h);
/* Move the clock forward, firing the timers that fall due, in order. */
void gwf_test_advance(gwf_test_host *h, uint64_t ns);
void gwf_test_set_max_pause(gwf_test_host *h, uint64_t ns);
void gwf_test_set_max_body(gwf_test_host *h, size_t bytes);
/* Use a worker index/count other than 0/1 (before the first run). */
void gwf_test_set_worker(gwf_test_host *h, uint32_t index, uint32_t count);

/* The stub upstream's answer for forwarded requests (default: 200, no
 * headers, empty body). `headers` is "Name: value\r\n..." or NULL.
 * Status 0: the upstream fails (as a refused connection would) and the
 * host answers 502 itself. */
void gwf_test_set_upstream(gwf_test_host *h, int status, const char *headers,
                           const char *body, size_t body_len);
/* Reads of header `name` (any case, up to 63 bytes; ":status" too) of
 * the upstream's response answer GWF_ERR_NO_MEMORY while the response
 * runs through the chain, in every later run (NULL or "": none), as
 * from a host out of memory. gwf_test_header still sees the header. */
void gwf_test_response_header_fails(gwf_test_host *h, const char *name);
/* From now on (nonzero `on`), a plugin's send_local_reply (and a
 * prepared reply the host copies for the plugins before it) fails with
 * GWF_ERR_NO_MEMORY as when the host runs out of memory making the
 * reply: the host answers 500 (details "gwf_no_memory") instead, and the
 * request must not go on. */
void gwf_test_host_reply_memory_fails(gwf_test_host *h, int on);
/* From now on (nonzero `on`), reply_prepare fails with GWF_ERR_NO_MEMORY
 * as when the host cannot keep the reply: set it before loading
 * manifests, to see what a plugin does without its prepared replies. */
void gwf_test_host_reply_prepare_fails(gwf_test_host *h, int on);

/* -- Requests ---------------------------------------------------------------
 */

/* A request with scheme "http" and one header, `host: example.com`
 * (replace it with gwf_test_request_header only via a new request from
 * gwf_test_request_parse if the Host must differ or be absent). */
gwf_test_request *gwf_test_request_new(const char *method, const char *path);
/* From raw HTTP/1.1 text (CRLF or LF line endings). NULL if malformed,
 * with the reason in gwf_test_error(h). */
gwf_test_request *gwf_test_request_parse(gwf_test_host *h, const char *raw,
                                         size_t len);
void gwf_test_request_header(gwf_test_request *r, const char *name,
                             const char *value);
void gwf_test_request_body(gwf_test_request *r, const char *data, size_t len);
void gwf_test_request_remote(gwf_test_request *r, const char *ip);
/* Reads of request header `name` (any case, up to 63 bytes; a
 * pseudo-header such as ":method" or ":path" too; "host" fails the reads
 * of ":authority" as well) answer GWF_ERR_NO_MEMORY while the chain
 * runs, as from a host out of memory: for testing that a plugin fails
 * closed rather than take the header for absent. gwf_test_upstream_header
 * still sees what the upstream got. One name per request; a later call
 * replaces it. */
void gwf_test_request_header_fails(gwf_test_request *r, const char *name);
/* The same for the reads of value index `first_index` and after only:
 * with 1, the first value is read and a second one cannot be (a
 * duplicate the plugin must not miss). */
void gwf_test_request_header_fails_from(gwf_test_request *r, const char *name,
                                        size_t first_index);
/* Setting, adding or removing request header `name` (any case; a
 * pseudo-header too, "host" covering ":authority") answers
 * GWF_ERR_NO_MEMORY and changes nothing while the chain runs: for
 * testing that a plugin which cannot change the request as its policy
 * says does not let it through. */
void gwf_test_request_header_write_fails(gwf_test_request *r, const char *name);
/* Reads of stream attribute `attr` (GWF_ATTR_*) answer GWF_ERR_NO_MEMORY
 * while the chain runs, the same way. */
void gwf_test_request_attribute_fails(gwf_test_request *r, int32_t attr);
void gwf_test_request_free(gwf_test_request *r);

/* -- Running -----------------------------------------------------------------
 */

/* What a route uses: any field may be NULL. REF is "name" or
 * "namespace/name". */
typedef struct gwf_test_route {
    const char *policy;            /* a TrafficPolicy */
    const char *const *extensions; /* GatewayExtensions, NULL-terminated */
    const char *direct_response;   /* a DirectResponse */
    const char *backend;           /* a Backend */
} gwf_test_route;

/* 1 when the route's chain answers every request with one prepared
 * reply (abi.h reply_always), which a data plane such as nginx sends
 * without a stream or a call into the plugin (this host still runs the
 * stream); 0 when it does not; -1 when the route does not build. */
int gwf_test_constant_reply(gwf_test_host *h, const gwf_test_route *route);

/* Start a request through the route and run the loop until it finishes
 * or waits on the clock alone (paused with nothing but timers pending) or
 * `real_timeout_ms` of real time passed. NULL if the route does not build
 * (bad reference, plugin load or config error: see gwf_test_error). */
gwf_test_result *gwf_test_start(gwf_test_host *h, const gwf_test_route *route,
                                const gwf_test_request *req,
                                long real_timeout_ms);
/* Run the loop again for up to `real_timeout_ms` (after gwf_test_advance,
 * or while a peer answers). Returns 1 when the request has finished. */
int gwf_test_wait(gwf_test_host *h, gwf_test_result *res, long real_timeout_ms);
/* start + wait with a 5 s bound. */
gwf_test_result *gwf_test_run(gwf_test_host *h, const gwf_test_route *route,
                              const gwf_test_request *req);
/* Simulate a client that goes away now (the stream ends without reply). */
void gwf_test_abort(gwf_test_host *h, gwf_test_result *res);
void gwf_test_result_free(gwf_test_result *res);

/* -- Outcome -----------------------------------------------------------------
 */

enum {
    GWF_TEST_RUNNING = 0,     /* still paused */
    GWF_TEST_FORWARDED = 1,   /* went to the upstream; response is its */
    GWF_TEST_LOCAL_REPLY = 2, /* a plugin (or the host) answered */
    GWF_TEST_ABORTED = 3      /* gwf_test_abort */
};
int gwf_test_outcome(const gwf_test_result *res);
/* The response the client got. */
int gwf_test_status(const gwf_test_result *res);
/* The `index`-th value of a response header, or NULL. */
const char *gwf_test_header(const gwf_test_result *res, const char *name,
                            size_t index);
const char *gwf_test_body(const gwf_test_result *res, size_t *len);
/* The request as the upstream received it (NULL when not forwarded). */
const char *gwf_test_upstream_method(const gwf_test_result *res);
const char *gwf_test_upstream_path(const gwf_test_result *res);
const char *gwf_test_upstream_header(const gwf_test_result *res,
                                     const char *name, size_t index);
const char *gwf_test_upstream_body(const gwf_test_result *res, size_t *len);
/* The `details` of the local reply, or NULL. */
const char *gwf_test_reply_details(const gwf_test_result *res);
/* 1 when the request had a stream; 0 when the chain decided before one
 * (abi.h request_early: answered, or finished by its one plugin). */
int gwf_test_had_stream(const gwf_test_result *res);

/* -- Observability --------------------------------------------------------- */

/* 1 when some log line so far contains `needle`. */
int gwf_test_log_contains(const gwf_test_host *h, const char *needle);
/* All log lines so far, '\n'-terminated, as "LEVEL instance: message". */
const char *gwf_test_logs(const gwf_test_host *h);
/* The metrics in Prometheus text format. */
const char *gwf_test_metrics(gwf_test_host *h);
/* The value of one series, e.g. "gwf_direct_response_total{instance=
 * \"default/hello\"}"; NaN when absent. */
double gwf_test_metric(gwf_test_host *h, const char *series);
/* Live timers and fd watches on the loop (0 once everything ended). */
size_t gwf_test_pending(const gwf_test_host *h);

#ifdef __cplusplus
}
#endif

#endif /* GWF_TESTING_H */
