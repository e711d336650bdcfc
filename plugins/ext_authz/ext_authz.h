/*
 * ext_authz.h - private declarations shared by the ext_authz plugin's
 * files. Nothing here crosses the ABI: the plugin exports only
 * gwf_plugin_entry (filter.c).
 *
 * The plugin is split by concern:
 *   config.c      the extAuth JSON (GatewayExtension) and the per-route
 *                 contextExtensions and withRequestBody (TrafficPolicy)
 *                 -> ea_config/ea_route
 *   client.c      one libcurl multi handle per worker, driven by the
 *                 host's fd watches and timers (multi-socket API)
 *   request.c     what of the client's request a check can carry; the
 *                 rest is the client's fault (400), never failOpen
 *   http_check.c  Envoy's raw HTTP mode: build the check request, read the
 *                 answer into a verdict
 *   grpc_check.c  envoy.service.auth.v3.Authorization/Check over HTTP/2
 *   query.c       an OK answer's query parameters applied to :path
 *   proto.c       the few protobuf wire-format helpers grpc_check needs
 *   filter.c      the stream hooks that tie it together
 */
#ifndef EXT_AUTHZ_H
#define EXT_AUTHZ_H

#include <gwf/sdk.h>
#include <gwf/sdk_config.h>
#include <gwf/sdk_curl.h>
#include <gwf/sdk_format.h>
#include <gwf/sdk_grpc.h>
#include <gwf/sdk_http.h>
#include <gwf/sdk_metrics.h>

#include <curl/curl.h>
#include <jansson.h>
#include <stdint.h>

/* requestTimeout when unset: kgateway gives an httpService its own
 * default (HTTPDefaultTimeout, 2s) and leaves a grpcService's to Envoy's
 * ext_authz, which waits 200ms. */
#define EA_DEFAULT_HTTP_TIMEOUT_NS (2000 * UINT64_C(1000000))
#define EA_DEFAULT_GRPC_TIMEOUT_NS (200 * UINT64_C(1000000))
/* kgateway's duration rule: at least 1ms */
#define EA_MIN_DURATION_NS UINT64_C(1000000)
/* statusOnError: kgateway's default and range */
#define EA_DEFAULT_STATUS_ON_ERROR 403
#define EA_MIN_STATUS_ON_ERROR 100
#define EA_MAX_STATUS_ON_ERROR 511
/* Most bytes of an authz server's answer (headers + body) we keep: a
 * bigger answer is a server failure, not something to buffer. */
#define EA_MAX_RESPONSE_BYTES (1024 * 1024)
/* Most header and trailer lines of a gRPC answer each (its HTTP/2
 * metadata: content-type, grpc-status and the like). The operations of
 * the answer are inside its message and bounded by maxAnswerHeaders. */
#define EA_MAX_GRPC_METADATA 100
/* maxAnswerHeaders (a gwf extension of the config): the most operations
 * one answer may carry. gRPC: headers, headers_to_remove,
 * response_headers_to_add and the query parameters of ok_response, or
 * the headers of denied_response, all counted together. HTTP: the header
 * lines of the answer. An answer with more is the service's failure
 * (statusOnError / failOpen; a gRPC denial stays a plain 403): applying
 * it would hold the worker. The default is Envoy's own default bound on
 * a message's headers (max_headers_count). */
#define EA_DEFAULT_MAX_ANSWER_HEADERS 100
#define EA_MAX_MAX_ANSWER_HEADERS 10000
/* The longest request method a check carries (the longest registered
 * one, UPDATEREDIRECTREF, has 17 bytes): a longer one is refused 400. */
#define EA_MAX_METHOD_BYTES 32
/* HTTP mode: the check's request target (pathPrefix + the client's
 * path), libcurl's bound on a string option (CURL_MAX_INPUT_LENGTH),
 * kept for both transports: beyond it libcurl silently asked about "/"
 * instead. A longer target is the client's doing: 400. */
#define EA_MAX_TARGET_BYTES 8000000
/* Idle easy handles a worker keeps for reuse. */
#define EA_EASY_POOL 64
/* Kept-alive connections to the authz server a worker keeps open. */
#define EA_MAX_IDLE_CONNECTIONS 256
/* Checks a worker hands to libcurl at once, so at most that many
 * connections to the authz server in use: more checks wait in the
 * worker's own queue (client.c), without a socket, within their
 * requestTimeout. Keeps a worker's descriptors bounded when the server
 * stops answering, and keeps libcurl 7.88 cheap: it walks every
 * connection to the host for each new transfer, and every pending
 * transfer for each removal. 256 checks at 1 ms each are 256,000 checks
 * a second per worker. */
#define EA_MAX_ACTIVE_CALLS 256
/* retry: kgateway's ExtSvcRetryPolicy. `attempts` (retries after the
 * first try) defaults to 1 and may be 0; it has no upper bound of its
 * own (an int32), requestTimeout bounds the whole check. Without a
 * backoff Envoy's RetryPolicy waits from a 1s base interval; maxInterval
 * defaults to 10 times the base. */
#define EA_DEFAULT_RETRY_ATTEMPTS 1
#define EA_MAX_RETRY_ATTEMPTS INT32_MAX
#define EA_DEFAULT_RETRY_BASE_NS (1000 * UINT64_C(1000000))
#define EA_RETRY_MAX_FACTOR 10

typedef enum { EA_MODE_HTTP = 0, EA_MODE_GRPC = 1 } ea_mode;

/* maxAnswerHeaders and the notes that name it, written once with the
 * config (ea_answer_limit_set): a verdict's note or error may point
 * here, as the config outlives every verdict. */
typedef struct ea_answer_limit {
    size_t max;
    char ok_note[96];     /* gRPC ok_response over the bound: an error */
    char denied_note[96]; /* gRPC denied_response over it: a plain 403 */
    char http_note[96];   /* HTTP answer over it: an error */
} ea_answer_limit;

/* Set `limit` to `max` operations, with its notes. */
void ea_answer_limit_set(ea_answer_limit *limit, size_t max);

/* A header name (lowercase) and a value, both NUL-terminated, owned. */
typedef struct ea_pair {
    char *name;
    char *value;
} ea_pair;

/* `cap`: the room in `items`, grown by doubling so that an answer's
 * thousands of headers cost linear time to collect. */
typedef struct ea_pairs {
    ea_pair *items;
    size_t count;
    size_t cap;
} ea_pairs;

/* A list of lowercase header names, owned: `items` in the order added.
 * A list built with ea_names_add is searched through `index`, an open-
 * addressing hash table of item numbers + 1 (0: empty), so that an
 * answer's 100 headers against a list of 100 names cost one hash and
 * (when found) one comparison each, whatever prefixes the names share.
 * A list built with ea_names_append has no index (NULL) and is only
 * walked. */
typedef struct ea_names {
    char **items;
    uint32_t *index;
    size_t index_mask; /* the index's size - 1 (a power of two) */
    size_t count;
    size_t cap; /* of items */
} ea_names;

/* withRequestBody: of the extension, or a route's override (Envoy's
 * CheckSettings.with_request_body replaces the filter's as a whole). */
typedef struct ea_body_settings {
    int with_body;
    size_t max_request_bytes;
    int allow_partial;
    int pack_as_bytes;
} ea_body_settings;

/* Built by config_create, then read-only for every worker. */
/* The result label of ext_authz_checks_total. */
typedef enum ea_result {
    EA_RESULT_ALLOWED,
    EA_RESULT_DENIED,
    EA_RESULT_ERROR,
    EA_RESULT_FAILED_OPEN,
    EA_RESULT_TOO_LARGE,
    EA_RESULT_INVALID_REQUEST,
    EA_RESULT_SKIPPED,
    EA_RESULT_COUNT
} ea_result;

typedef struct ea_config {
    gwf_instance *instance;
    ea_mode mode;

    char *base_url;    /* "http://127.0.0.1:9000", no trailing '/' */
    char *authority;   /* gRPC :authority override, or NULL */
    char *path_prefix; /* HTTP mode, "" when unset */
    uint64_t timeout_ns;
    int tls;            /* talk TLS to the authz server */
    char *ca_file;      /* absolute path, or NULL: system CAs */
    char *server_name;  /* TLS name to verify, or NULL: the backend host */
    char *connect_host; /* the backend's host, for CURLOPT_CONNECT_TO */
    unsigned connect_port;
    /* With serverName: "name:port:host:port", so that the URL carries the
     * name (SNI, verification) and the connection goes to the Backend. */
    struct curl_slist *connect_to;
    /* HTTP mode to a plain-http server: the SDK's HTTP/1.1 client
     * (gwf/sdk_http.h) with this peer, its address resolved when the
     * config was built (ea_client_config); NULL: libcurl (https) */
    gwf_http_peer *http_peer;
    /* gRPC mode to a plain-http server: the SDK's h2c gRPC client
     * (gwf/sdk_grpc.h) with this peer, resolved when the config was built
     * (ea_grpc_config); NULL: libcurl (https, or a name that did not
     * resolve then) */
    gwf_grpc_peer *grpc_peer;

    ea_names headers_to_forward; /* besides authorization and host */
    ea_pairs headers_to_add;     /* HTTP: set on the check request */
    /* Beside each headers_to_add item: its compiled Envoy format when the
     * value depends on the request (rendered per check), or NULL when it
     * is constant (the item's value is then its rendering). */
    gwf_format **headers_to_add_formats;
    ea_names headers_to_backend; /* HTTP: copied to the upstream request */
    ea_names headers_to_client;  /* HTTP: on a denial; empty = all */
    ea_names headers_on_success; /* HTTP: to the client on an allow */

    int fail_open;
    uint32_t status_on_error;
    ea_answer_limit answer_limit; /* maxAnswerHeaders */

    ea_body_settings body; /* withRequestBody */

    /* percentageEnabled: the share of requests checked, 0-100 (Envoy's
     * filter_enabled); the others pass unchecked */
    unsigned percent_enabled;
    /* statPrefix, the value of the metrics' stat_prefix label ("" when
     * unset), owned */
    char *stat_prefix;

    /* retry: more attempts after a retryable error (5xx, refused, reset),
     * within requestTimeout, waiting base * 2^n (at most max) between */
    unsigned retry_attempts;
    uint64_t retry_base_ns;
    uint64_t retry_max_ns;

    /* ext_authz_checks_total{result, stat_prefix}, counted by ea_result */
    gwf_outcome_counter checks;
    uint32_t dropped_metric; /* counter: invalid denial headers dropped */
    int has_dropped_metric;
} ea_config;

/* Per route: a TrafficPolicy's spec.extAuth. contextExtensions go with
 * each check (gRPC mode only); withRequestBody, when set, replaces the
 * extension's. */
typedef struct ea_route {
    ea_pairs context_extensions;
    int has_body;
    ea_body_settings body;
} ea_route;

/* The body settings a check of `route` (may be NULL) uses. */
const ea_body_settings *ea_body_of(const ea_config *cfg, const ea_route *route);

/* What the authz server decided, in terms the filter applies. */
typedef enum {
    EA_VERDICT_ERROR = 0, /* no usable answer: statusOnError / failOpen */
    EA_VERDICT_ALLOW = 1,
    EA_VERDICT_DENY = 2
} ea_verdict_kind;

typedef struct ea_verdict {
    ea_verdict_kind kind;
    const char *error; /* why, for the log (static string) */
    int retryable;     /* error: worth another attempt */
    /* error: the answer began as a denial (its status line said so)
     * before it broke: failOpen must not turn it into an allow */
    int began_as_denial;
    uint32_t status;          /* deny */
    ea_pairs to_upstream_set; /* allow: set on the upstream request */
    ea_pairs to_upstream_add; /* allow: appended to the upstream request */
    ea_names to_upstream_remove;
    ea_pairs to_client;     /* deny: reply headers; allow: response (added) */
    ea_pairs to_client_set; /* allow: response headers set (replacing) */
    /* allow: query parameters (keys and values as sent, not lowercased) */
    ea_pairs query_set;
    ea_pairs query_remove; /* the values are unused ("") */
    char *body;            /* deny */
    size_t body_len;
    /* allow (gRPC): the answer's dynamic_metadata as JSON text (owned,
     * NUL-terminated), or NULL when it had none or an empty one */
    char *dynamic_metadata;
    size_t dynamic_metadata_len;
    size_t dropped_headers; /* deny: invalid headers left out */
    /* what was wrong with the answer (static string): a denial's note
     * for the log, or an error's reason while decoding */
    const char *note;
} ea_verdict;

/* libcurl before 8.0.0 breaks a second stream on a prior-knowledge h2c
 * connection, reused or shared (curl/curl#10634, fixed by #10643): there
 * a plain-text gRPC check gets a connection of its own. */
int ea_h2c_shared_ok(const ea_config *cfg);

/* The per-worker libcurl state (client.c). */
typedef struct ea_worker ea_worker;
typedef struct ea_call ea_call;

/* Called once per call when libcurl finished it (any result), from a
 * worker callback. */
typedef void (*ea_call_done_cb)(ea_call *call, CURLcode result, void *arg);

/* One check in flight: the easy handle plus what it reads back. */
struct ea_call {
    ea_worker *worker;
    CURL *easy;
    /* the SDK's HTTP/1.1 client instead of `easy` (cfg->http_peer):
     * built by ea_http_prepare, sent by ea_call_start */
    gwf_http_exchange *exchange;
    int lean;                    /* this call uses `exchange` */
    gwf_http_result http_result; /* how the exchange ended */
    const char *send_body;       /* NULL: no body (request_body or "") */
    /* the SDK's gRPC client instead of `easy` (cfg->grpc_peer): built by
     * ea_grpc_prepare, sent by ea_call_start (ea_grpc_send) */
    int grpc_lean;
    uint64_t grpc_timeout_ns;
    gwf_grpc_call *grpc;
    gwf_grpc_outcome grpc_outcome; /* how it ended, read by the verdict */
    /* The SDK's call while its callback runs the verdict (else NULL): an
     * answer that does not decode distrusts its connection. */
    gwf_grpc_call *grpc_answering;
    int grpc_status;
    int grpc_retryable;
    const char *grpc_error;
    struct curl_slist *headers;
    ea_call_done_cb done;
    void *done_arg;
    int in_multi;
    /* waiting for a place among the worker's active calls (client.c) */
    int queued;
    ea_call *queue_prev, *queue_next;
    gwf_curl_answer answer; /* did the answer arrive whole? */

    /* the request body (owned), sent with CURLOPT_POSTFIELDS */
    char *request_body;
    size_t request_body_len;

    /* the answer */
    long status;
    ea_pairs response_headers; /* lowercase names, of the final response */
    ea_pairs trailers;         /* gRPC: after the body */
    int in_body;               /* headers done: later header lines are
                                  trailers */
    gwf_strbuf body;
    size_t received; /* headers + body bytes */
    int too_big;
    int too_many_headers; /* more header lines than allowed */
};

/* Work a worker runs at most EA_LATER_BATCH items per turn of the host's
 * event loop, the rest in the next turns (client.c): checks expiring by the
 * thousand at once (their timers set by a burst of requests) would otherwise be
 * answered in one turn, stalling every other request of the worker meanwhile.
 */
#define EA_LATER_BATCH 16
typedef struct ea_later {
    struct ea_later *prev, *next;
    void (*run)(void *arg);
    void *arg;
    int queued;
} ea_later;

/* client.c */
/* Run `run(arg)` now when this turn of the loop has run fewer than
 * EA_LATER_BATCH items and none waits, else in a later turn from a
 * worker-scope timer callback (which may answer streams). `later` is the
 * caller's and must stay in place until it ran or was cancelled; posting
 * a queued one does nothing. GWF_OK, or an error when no timer can be
 * started (then nothing ran). */
gwf_status ea_later_post(ea_worker *w, ea_later *later, void (*run)(void *arg),
                         void *arg);
/* Take it off the queue if it is there (O(1)). */
void ea_later_cancel(ea_worker *w, ea_later *later);
ea_worker *ea_worker_new(const ea_config *cfg);
/* The worker's pool of the SDK's HTTP/1.1 client, or NULL (libcurl). */
gwf_http_pool *ea_worker_http_pool(const ea_worker *w);
/* The worker's gRPC client (cfg->grpc_peer), or NULL (libcurl). */
gwf_grpc_client *ea_worker_grpc(const ea_worker *w);
/* The call's transfer ended outside libcurl: its place among the
 * worker's active calls goes to the next waiting one. */
void ea_call_left(ea_call *call);
/* grpc_check.c, from config.c once the config is read: the SDK's gRPC
 * client for a plain-http gRPC server (cfg->grpc_peer, its name resolved
 * now). GWF_OK; a name that does not resolve now is left to libcurl. */
gwf_status ea_grpc_config(ea_config *cfg, gwf_cfg *c);
/* grpc_check.c, from client.c: send a grpc_lean call. 0, or -1 (out of
 * memory; nothing will be called). */
int ea_grpc_send(ea_worker *w, ea_call *call);
/* A uniformly distributed 32-bit number from the worker's own generator
 * (seeded from the kernel's random source): percentageEnabled and the
 * retries' jitter. Not for secrets. */
uint32_t ea_worker_random(ea_worker *w);
void ea_worker_free(ea_worker *w);
/* config.c, once the config is read: pick the transport of HTTP mode
 * (the SDK's HTTP/1.1 client for a plain-http server, its name resolved
 * now; libcurl for https). GWF_OK, or an error reported through `c`. */
gwf_status ea_client_config(ea_config *cfg, gwf_cfg *c);
/* Start the call; `call->easy` must be set up, with call->worker = w set
 * before ea_call_easy so that it may reuse a pooled handle. GWF_OK or an
 * error (the done callback is not called then). When the worker has
 * EA_MAX_ACTIVE_CALLS in flight the call waits in its queue first. */
gwf_status ea_call_start(ea_worker *w, ea_call *call);
/* Stop the call if it is in flight, free everything it holds. Safe on a
 * zeroed call. */
void ea_call_cleanup(ea_call *call);
/* A new easy handle with what every call shares (TLS, connect-to,
 * write/header callbacks into `call`). NULL when out of memory. */
CURL *ea_call_easy(const ea_config *cfg, ea_call *call);

/* pairs and names */
int ea_pairs_add(ea_pairs *p, const char *name, size_t name_len,
                 const char *value, size_t value_len);
/* As ea_pairs_add, but the name is kept as it is (query keys). */
int ea_pairs_add_exact(ea_pairs *p, const char *name, size_t name_len,
                       const char *value, size_t value_len);
void ea_pairs_free(ea_pairs *p);
const ea_pair *ea_pairs_find(const ea_pairs *p, const char *name, size_t index);
/* Add `name` (lowercased) to a list that is searched (config lists); a
 * name already there is kept once in the index (find gives the first). */
int ea_names_add(ea_names *n, const char *name, size_t len);
/* Add `name` (lowercased) to a list that is only walked, never searched
 * (an answer's removals): amortized O(len). */
int ea_names_append(ea_names *n, const char *name, size_t len);
/* 1 when `name` (any case) is in `n`: one hash of `name`. */
int ea_names_has(const ea_names *n, const char *name, size_t len);
/* The number of its first item in `n` (below n->count), or -1. */
long ea_names_find(const ea_names *n, const char *name, size_t len);
void ea_names_free(ea_names *n);
void ea_verdict_free(ea_verdict *v);
/* 1 when a transfer that failed this way may succeed if tried again
 * (refused, reset, nothing received, an HTTP/2 stream error). */
int ea_transport_retryable(CURLcode result);

/* request.c: the parts of the client's request every check carries,
 * borrowed from the stream (valid during the hook). */
typedef struct ea_request {
    gwf_view method;
    gwf_view path;
    gwf_view authority;
    int has_authority;
} ea_request;

/* Read and check the method, path and authority of stream `s`. GWF_OK,
 * or GWF_ERR_BAD_ARGUMENT when the client's request cannot be carried as
 * it is (`*why` says why, a static string): the filter answers 400. */
gwf_status ea_request_parts(gwf_stream *s, ea_request *req, const char **why);
/* 1 when `text` is well-formed UTF-8 (what a proto3 string must be). */
int ea_utf8_valid(const char *text, size_t len);
/* `len`, or less so that `text` does not end inside a UTF-8 sequence (a
 * body cut at maxRequestBytes). */
size_t ea_utf8_whole_len(const char *text, size_t len);

/* query.c: the request target `path` with the query parameters of an OK
 * answer applied (Envoy's order: every set, then every removal), into
 * `out` (the caller frees it). 0, or -1 when out of memory. */
int ea_query_apply(const char *path, size_t len, const ea_pairs *set,
                   const ea_pairs *remove, gwf_strbuf *out);

/* config.c: read `root` into `cfg` / `route`, every mistake reported
 * through `c` (gwf/sdk_config.h); returns gwf_cfg_status(c). On a
 * failure what was filled in is freed with ea_config_free /
 * ea_pairs_free by the caller. */
gwf_status ea_config_parse(ea_config *cfg, gwf_cfg *c, const json_t *root);
void ea_config_free(ea_config *cfg);
gwf_status ea_route_parse(gwf_cfg *c, ea_route *route, const json_t *root);

/* http_check.c / grpc_check.c: fill `call` for the check of stream `s`;
 * `body` may be NULL. GWF_ERR_BAD_ARGUMENT means the client's request
 * cannot be carried (`*why` says why): a client error, answered 400,
 * never failOpen. Any other error is ours (out of memory). */
gwf_status ea_http_prepare(const ea_config *cfg, gwf_stream *s, ea_call *call,
                           const char *body, size_t body_len, int partial,
                           const char **why);
void ea_http_verdict(const ea_config *cfg, const ea_call *call, CURLcode result,
                     ea_verdict *v);

/* grpc_check.c */
gwf_status ea_grpc_prepare(const ea_config *cfg, const ea_route *route,
                           gwf_stream *s, ea_call *call, const char *body,
                           size_t body_len, int partial, const char **why);
void ea_grpc_verdict(const ea_config *cfg, const ea_call *call, CURLcode result,
                     ea_verdict *v);
/* Append "grpc-timeout: <value>" for `timeout_ns` to `line`: at most 8
 * digits (the gRPC spec's bound) in the finest unit that fits, rounded
 * up. */
void ea_grpc_timeout_header(gwf_strbuf *line, uint64_t timeout_ns);
/* Decode a CheckResponse message (no gRPC framing) into a verdict, with
 * at most limit->max operations. 0 on success, -1 if malformed (v->kind
 * is then EA_VERDICT_ERROR). */
int ea_check_response_decode(const uint8_t *data, size_t len,
                             const ea_answer_limit *limit, ea_verdict *v);

/* Parse an HTTP check answer (status, header lines and body) into a
 * verdict: exposed for the fuzzer. */
void ea_http_verdict_from(const ea_config *cfg, long status,
                          const ea_pairs *headers, const char *body,
                          size_t body_len, ea_verdict *v);

#endif /* EXT_AUTHZ_H */
