/*
 * gwf/abi.h - the contract between a gwf plugin and the data plane that
 * hosts it.
 *
 * A plugin is a shared object that exports exactly one symbol,
 * GWF_PLUGIN_ENTRY_SYMBOL ("gwf_plugin_entry"): a const gwf_plugin struct
 * that names the plugin and lists its hooks. The host (nginx, the gwf CLI,
 * the test host, ...) calls those hooks as requests flow through a filter
 * chain, and the plugin calls back into the host only through the
 * gwf_host function table it is handed. A plugin never links a host symbol
 * and never sees a host struct; that is what lets one .so run unchanged
 * in every data plane.
 *
 * This file is the whole contract. Read it top to bottom: types, status
 * codes, the host table, then the plugin entry.
 *
 * Conventions used below
 * ----------------------
 * Every function says what it does, what it returns (each status), when
 * it may be called (its phase) and on which thread, and who owns what it
 * is given. A function returning gwf_status also returns, without
 * saying so each time: GWF_ERR_BAD_ARGUMENT for a NULL handle or a NULL
 * out-pointer, and GWF_ERR_STREAM_GONE for a stream handle that resumed
 * or replied in the current hook or callback (a "dead handle").
 *
 * Thread tags, in brackets before each function:
 *   [main]    the main thread, during configuration, before any worker
 *             runs (nginx: the master process, while reading nginx.conf).
 *   [worker]  a worker thread or process, from the event loop. One stream's
 *             hooks and callbacks always run on the same worker, never
 *             concurrently.
 *   [any]     any thread, including threads the plugin created.
 *
 * Memory:
 *   - Host -> plugin data is a borrowed gwf_view {ptr, len}: not
 *     NUL-terminated, valid until the current hook or callback returns or
 *     until the plugin changes that header map or body, whichever is first.
 *   - Plugin -> host arguments are copied by the host before the call
 *     returns; the plugin keeps ownership of what it passes.
 *   - Nothing is ever freed across the boundary: what a plugin allocates
 *     it frees in its own destroy hooks.
 *
 * Versioning:
 *   - GWF_ABI_VERSION_MAJOR changes only for incompatible changes; a host
 *     refuses a plugin built for another major, naming both versions.
 *   - While the major is 0 the ABI is not frozen: a host also refuses a
 *     plugin built for a newer minor than its own (naming both
 *     versions), and runs one built for an older minor with that minor's
 *     behaviour where this file says the behaviour changed.
 *   - Every struct passed across the boundary starts with its own size and
 *     only ever grows at the end. A reader checks `size` before touching a
 *     field added in a later minor version (GWF_HAS_FIELD below).
 *   - Optional capabilities are looked up by string id with
 *     gwf_host.get_extension / gwf_plugin.get_extension, and may be NULL.
 *
 * Only <stddef.h> and <stdint.h> are needed; the header is C99 and C++.
 */
#ifndef GWF_ABI_H
#define GWF_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GWF_ABI_VERSION_MAJOR 0
#define GWF_ABI_VERSION_MINOR 10

/* The one symbol a plugin exports. */
#define GWF_PLUGIN_ENTRY_SYMBOL "gwf_plugin_entry"

#if defined(_WIN32)
#define GWF_EXPORT __declspec(dllexport)
#else
#define GWF_EXPORT __attribute__((visibility("default")))
#endif

/* True when a size-prefixed struct `s` (a pointer) is large enough to hold
 * `field`: use before reading a field added in a later minor version. */
#define GWF_HAS_FIELD(s, type, field)                                          \
    ((s)->size >= offsetof(type, field) + sizeof(((type *)0)->field))

/* ------------------------------------------------------------------------
 * Basic types
 * --------------------------------------------------------------------- */

/* A borrowed byte string: `ptr` may be NULL when `len` is 0. Never
 * NUL-terminated by contract, even when it happens to be. */
typedef struct gwf_view {
    const char *ptr;
    size_t len;
} gwf_view;

/* A header as a pair of views, used for local replies. */
typedef struct gwf_header {
    gwf_view name;
    gwf_view value;
} gwf_header;

/* What every host call returns. Fixed values: never renumbered. */
typedef int32_t gwf_status;
enum {
    GWF_OK = 0,
    GWF_ERR_NOT_FOUND = 1,     /* no such header, value, document, id */
    GWF_ERR_BAD_ARGUMENT = 2,  /* NULL where not allowed, bad name, ... */
    GWF_ERR_WRONG_PHASE = 3,   /* not allowed in the current phase */
    GWF_ERR_STREAM_GONE = 4,   /* the stream has ended */
    GWF_ERR_UNIMPLEMENTED = 5, /* this host does not offer the call */
    GWF_ERR_NO_MEMORY = 6,
    GWF_ERR_LIMIT = 7,   /* a host limit (body size, count) was hit */
    GWF_ERR_INTERNAL = 8 /* anything else; the host logged why */
};

/* What a stream hook returns to the host. Any other value is a plugin
 * bug: the host logs it, naming the plugin and hook, and answers the
 * request with 500. */
typedef int32_t gwf_action;
enum {
    /* Go on: run the next plugin's hook, or let the data plane proceed. */
    GWF_CONTINUE = 0,
    /* Stop here. The plugin will later call gwf_host.resume or
     * gwf_host.send_local_reply, from a callback (fd, timer, post). The
     * host bounds how long a stream may stay paused and answers 504 when
     * that deadline passes. */
    GWF_PAUSE = 1,
    /* Stop here and buffer the body: call this plugin's body hook again
     * once the whole body has arrived (end_of_stream = 1), with all of it
     * in one view. From a headers hook: headers are held too, and may
     * still be changed in that body hook. Bounded by the host's buffer
     * limit: 413 for a request body, 500 for a response body beyond it. */
    GWF_BUFFER = 2,
    /* From request_early only (added in 0.9; see there): the plugin is
     * done with this request, which goes on as the hook changed it, and
     * no stream is made for it. From any other hook it is a plugin bug
     * (500), as any unknown value. */
    GWF_DONE = 3
};

/* Which message a header or body call is about. */
typedef int32_t gwf_message_kind;
enum { GWF_REQUEST = 0, GWF_RESPONSE = 1 };

/* Log levels. */
typedef int32_t gwf_log_level;
enum {
    GWF_LOG_DEBUG = 0,
    GWF_LOG_INFO = 1,
    GWF_LOG_WARN = 2,
    GWF_LOG_ERROR = 3
};

/* Metric kinds. */
typedef int32_t gwf_metric_kind;
enum {
    GWF_METRIC_COUNTER = 0,  /* only goes up: metric_add with delta >= 0 */
    GWF_METRIC_GAUGE = 1,    /* metric_add (+/-) or metric_set */
    GWF_METRIC_HISTOGRAM = 2 /* metric_observe */
};

/* Clocks for gwf_host.now. */
typedef int32_t gwf_clock;
enum {
    GWF_CLOCK_REALTIME = 0, /* ns since the Unix epoch (host may fix it) */
    GWF_CLOCK_MONOTONIC = 1 /* ns from an arbitrary start, never goes back */
};

/* fd watch events (a bit set). GWF_FD_ERROR is delivered, never asked. */
enum { GWF_FD_READ = 1u, GWF_FD_WRITE = 2u, GWF_FD_ERROR = 4u };

/* Types of the shared per-stream values (gwf_host.value_set/value_get). */
typedef int32_t gwf_value_type;
enum {
    GWF_VALUE_STRING = 0, /* UTF-8 text */
    GWF_VALUE_BYTES = 1,  /* arbitrary bytes */
    GWF_VALUE_INT = 2,    /* int64_t in host byte order, 8 bytes */
    GWF_VALUE_BOOL = 3,   /* one byte, 0 or 1 */
    GWF_VALUE_JSON = 4    /* JSON text */
};

/* Stream attributes (gwf_host.attribute). All are strings. */
typedef int32_t gwf_attribute;
enum {
    GWF_ATTR_REMOTE_ADDRESS = 0, /* client IP, no port: "192.0.2.1", "::1" */
    GWF_ATTR_REMOTE_PORT = 1,    /* decimal */
    GWF_ATTR_LOCAL_ADDRESS = 2,
    GWF_ATTR_LOCAL_PORT = 3,
    GWF_ATTR_PROTOCOL = 4,   /* "HTTP/1.1", "HTTP/2.0" */
    GWF_ATTR_REQUEST_ID = 5, /* unique per stream in this host */
    GWF_ATTR_ROUTE_NAME = 6, /* the data plane's name for the route */
    GWF_ATTR_TLS = 7,        /* "1" when the client used TLS, else "0" */
    /* In response hooks: "1" when the response is the upstream's answer,
     * "0" when the host made it because the upstream failed (its own 502
     * for a refused or broken connection, 504 for a timeout, ...): a
     * plugin that judges or transforms what the upstream said passes
     * such a response on as it is. GWF_ERR_NOT_FOUND before the response
     * headers exist. Added later in 0.1 without a layout change: a host
     * that does not know it answers GWF_ERR_NOT_FOUND; take that as "1". */
    GWF_ATTR_RESPONSE_FROM_UPSTREAM = 8,
    /* When the request started, as close to its first byte as the host
     * knows: decimal nanoseconds since the Unix epoch by the host's
     * realtime clock (gwf_host.now's GWF_CLOCK_REALTIME), e.g.
     * "1767225600000000000". Envoy's START_TIME. Added later in 0.2
     * without a layout change: a host that does not know it answers
     * GWF_ERR_NOT_FOUND; take the host's clock then. */
    GWF_ATTR_START_TIME = 9,
    /* In request_early (added in 0.9): "1" when the hook may change the
     * request's headers and return GWF_DONE (the plugin is its chain's
     * only plugin, so the request needs no stream once it is done), "0"
     * when it may not. GWF_ERR_NOT_FOUND in every other hook, and from a
     * host before 0.9: take that as "0". */
    GWF_ATTR_EARLY_DONE = 10
};

/* Opaque handles. Each starts with a public `host` member: the function
 * table to call for it. Everything else about them is the host's. */
typedef struct gwf_host gwf_host;

/* The plugin's handle on one configured instance of itself (one
 * GatewayExtension, one DirectResponse, ...). Valid from config_create
 * until config_destroy returns. Used for logging, metrics, clocks and
 * worker-scope timers and fd watches. */
typedef struct gwf_instance {
    const gwf_host *host;
} gwf_instance;

/* The plugin's handle on one stream (one request and its response) as
 * seen by this plugin in this chain: each plugin in a chain has its own
 * handle on the same stream. Valid from stream_create until stream_destroy
 * returns, except as the rules below say ("dead handle"). */
typedef struct gwf_stream {
    const gwf_host *host;
} gwf_stream;

/* A reference-counted handle on a stream, for work done on other
 * threads. It stays valid, even after the stream ends, until released. */
typedef struct gwf_stream_ref gwf_stream_ref;

/* Callbacks from the host loop. [worker] */
typedef void (*gwf_fd_cb)(void *arg, int fd, uint32_t events);
typedef void (*gwf_timer_cb)(void *arg);
typedef void (*gwf_post_cb)(void *arg);

/* ------------------------------------------------------------------------
 * The host function table
 *
 * Handed to the plugin in every gwf_instance and gwf_stream (`->host`).
 * The same table stays valid for as long as the plugin is loaded. A slot
 * may be NULL only if it was added in a later minor version than the host
 * implements: check with GWF_HAS_FIELD(host, gwf_host, slot).
 *
 * Rules for streams (learned from proxies that got them wrong):
 *  - After a plugin calls resume or send_local_reply on a stream, that
 *    gwf_stream is dead for the rest of the current hook or callback:
 *    every further call with it returns GWF_ERR_STREAM_GONE.
 *  - Stream destroy is deferred until the current hook or callback
 *    returns, so the plugin's own state stays valid while it unwinds.
 *  - Resuming runs the rest of the chain after the callback returns,
 *    never inside the resume call.
 *  - A stream that ends (reply sent, client gone, deadline) has its
 *    stream-scope timers and fd watches cancelled by the host; no
 *    callback of them, nor a post to it, is ever delivered afterwards.
 * --------------------------------------------------------------------- */
struct gwf_host {
    uint32_t size;      /* sizeof(gwf_host) as the host was built */
    uint16_t abi_major; /* GWF_ABI_VERSION_MAJOR of the host */
    uint16_t abi_minor;
    const char *name; /* "nginx", "gwf-cli", "gwf-test", ... */

    /* -- Logging, time, identity ----------------------------------------- */

    /* [any] Log one message (`len` bytes, not NUL-terminated; at most
     * 4096 are kept); the host adds the plugin instance name. Any phase.
     * Messages never include secrets or tokens: that is the plugin's
     * duty. The host copies the text. A NULL `inst` is ignored. */
    void (*log)(gwf_instance *inst, gwf_log_level level, const char *msg,
                size_t len);
    /* [worker] Same, scoped to a stream: the host adds the stream's
     * request id. Any stream phase, also on a dead handle and in
     * stream_complete. */
    void (*stream_log)(gwf_stream *s, gwf_log_level level, const char *msg,
                       size_t len);
    /* [any] Is `level` enabled? Lets a plugin skip formatting. Returns 1
     * or 0 (0 for a NULL `inst`). Any phase. */
    int32_t (*log_enabled)(gwf_instance *inst, gwf_log_level level);
    /* [any] The host's clock, in nanoseconds (see gwf_clock). Any phase.
     * Tests and the CLI may fix or step it, which makes expiry
     * reproducible. */
    int64_t (*now)(gwf_instance *inst, gwf_clock clock);

    /* -- Configuration time [main] ---------------------------------------- */

    /* Report why the config is rejected. `field` is a dotted path inside
     * the plugin's config ("providers[0].issuer", may be NULL or empty);
     * the host turns it into file:line and the document's field path.
     * Then return GWF_ERR_BAD_ARGUMENT from config_create or
     * route_config_create. May be called several times. Only inside
     * config_create / route_config_create: elsewhere the host logs the
     * message as an error instead. The host copies the text. */
    void (*config_error)(gwf_instance *inst, const char *field, const char *msg,
                         size_t len);
    /* Look up another document the manifests define, by kind ("Backend",
     * "Secret", "ConfigMap", "Service", ...) and reference ("name" or
     * "namespace/name"; namespace defaults to the instance's own).
     * `*spec_json` receives the document's `spec` (for Secret and
     * ConfigMap: the whole document; for Service: the whole document
     * plus a top-level "endpoints" list, one {"port": P, "addresses":
     * [{"address": A, "port": Q}, ...]} per Service port, the addresses
     * behind it as kube-proxy maps them from EndpointSlices) as JSON text,
     * owned by the host, valid until config_create (or
     * route_config_create) returns. Returns GWF_OK; GWF_ERR_NOT_FOUND if
     * there is no such document; GWF_ERR_WRONG_PHASE outside those two
     * hooks; GWF_ERR_NO_MEMORY. */
    gwf_status (*lookup_document)(gwf_instance *inst, const char *kind,
                                  const char *ref, gwf_view *spec_json);
    /* Directory of the manifest that configured this instance ("" if
     * none), to resolve relative file names in the config. Owned by the
     * host, valid while the instance lives. [any] */
    gwf_view (*config_dir)(gwf_instance *inst);

    /* Define a metric. `name` is a Prometheus metric name; the host
     * prefixes "gwf_". `label_names` has `label_count` entries (at most
     * 8). For histograms, `buckets` lists `bucket_count` ascending upper
     * bounds (else NULL/0). `*metric_id` receives an id for metric_*.
     * Defining the same name twice with the same shape returns the same
     * id (two instances of one plugin share a metric, told apart by
     * labels the host adds: `instance`). The host copies the strings.
     * Returns GWF_OK; GWF_ERR_BAD_ARGUMENT for an invalid name, label
     * name or bucket list, more than 8 labels, or the same name defined
     * before with another kind, labels or buckets (its first help text
     * stays); GWF_ERR_NO_MEMORY. Define metrics in config_create. */
    gwf_status (*metric_define)(gwf_instance *inst, gwf_metric_kind kind,
                                const char *name, const char *help,
                                const char *const *label_names,
                                size_t label_count, const double *buckets,
                                size_t bucket_count, uint32_t *metric_id);

    /* -- Metrics [worker] -------------------------------------------------- */

    /* For the three calls below: `label_values` (copied) must match the
     * defined labels in count and order. Any worker phase, also in
     * worker_start / worker_stop and stream_complete. Each returns GWF_OK;
     * GWF_ERR_BAD_ARGUMENT for an id metric_define did not give, a label
     * count that does not match, a call of the wrong kind for the metric
     * (below) or a NaN; GWF_ERR_NO_MEMORY (a new label set). */

    /* Add `delta` to a counter (delta >= 0) or gauge (any sign). */
    gwf_status (*metric_add)(gwf_instance *inst, uint32_t metric_id,
                             const gwf_view *label_values, size_t count,
                             double delta);
    /* Set a gauge to `value`. */
    gwf_status (*metric_set)(gwf_instance *inst, uint32_t metric_id,
                             const gwf_view *label_values, size_t count,
                             double value);
    /* Count `value` into a histogram's buckets, sum and count. */
    gwf_status (*metric_observe)(gwf_instance *inst, uint32_t metric_id,
                                 const gwf_view *label_values, size_t count,
                                 double value);

    /* -- Headers [worker] --------------------------------------------------
     *
     * Request headers are readable from request_headers until the stream
     * ends and writable until the request has been forwarded (the end of
     * the request phases); response headers from response_headers on,
     * writable until they are sent. Names are matched case-insensitively.
     * Pseudo-headers give the request line: ":method", ":path" (path and
     * query), ":scheme", ":authority" (the Host header); ":status" for the
     * response. Setting ":path" rewrites the request target. Iteration by
     * index does not include pseudo-headers. A write at the wrong time
     * returns GWF_ERR_WRONG_PHASE. The request's Content-Length and
     * Transfer-Encoding belong to the host (change the body with
     * body_set; the host fixes them): writing them returns
     * GWF_ERR_BAD_ARGUMENT.
     *
     * What a plugin writes must be HTTP, whatever it came from (a claim,
     * an authz answer, a function's reply), and the host checks it
     * before anything changes: a name is a token (RFC 9110 tchar, at
     * most 1024 bytes; pseudo-headers with their ':'); a value is
     * visible ASCII, SP, HTAB and obs-text (0x80-0xff) - any other
     * control byte (0x00-0x1f but HTAB, 0x7f) returns
     * GWF_ERR_BAD_ARGUMENT. Leading and trailing SP/HTAB are not part
     * of a value (RFC 9110 5.5): the host strips them, and header_get
     * returns the stripped value. A pseudo-header's value has no white
     * space inside (it goes on the request or status line) and
     * ":method" is a token. The SDK's gwf_is_header_name and
     * gwf_is_header_value apply the same rules. */

    /* The `index`-th value (0-based) of header `name`, as a borrowed
     * view. Returns GWF_OK; GWF_ERR_NOT_FOUND when the header has fewer
     * than index+1 values; GWF_ERR_BAD_ARGUMENT for an empty name;
     * GWF_ERR_WRONG_PHASE when that message does not exist yet (the
     * response before response_headers). */
    gwf_status (*header_get)(gwf_stream *s, gwf_message_kind which,
                             const char *name, size_t name_len, size_t index,
                             gwf_view *value);
    /* Number of (non-pseudo) header lines. It cannot report an error:
     * it returns 0 when the message does not exist yet or the handle is
     * dead. A host short of memory still counts the lines there are;
     * header_at then answers GWF_ERR_NO_MEMORY for them. */
    size_t (*header_count)(gwf_stream *s, gwf_message_kind which);
    /* The `index`-th header line, in order, as borrowed views. Returns
     * GWF_OK; GWF_ERR_NOT_FOUND for index >= header_count;
     * GWF_ERR_WRONG_PHASE as for header_get; GWF_ERR_NO_MEMORY when the
     * host could not read it (not the end of the headers). */
    gwf_status (*header_at)(gwf_stream *s, gwf_message_kind which, size_t index,
                            gwf_view *name, gwf_view *value);
    /* Replace every value of `name` with one value (adds it if absent).
     * Returns GWF_OK; GWF_ERR_BAD_ARGUMENT for a name or value the rules
     * above refuse, or a framing header of the request;
     * GWF_ERR_WRONG_PHASE when the message is not writable;
     * GWF_ERR_NO_MEMORY. Nothing changes unless it returns GWF_OK. */
    gwf_status (*header_set)(gwf_stream *s, gwf_message_kind which,
                             const char *name, size_t name_len,
                             const char *value, size_t value_len);
    /* Append one more line `name: value`. Returns as header_set. */
    gwf_status (*header_add)(gwf_stream *s, gwf_message_kind which,
                             const char *name, size_t name_len,
                             const char *value, size_t value_len);
    /* Remove every line named `name`. Returns GWF_OK, also when there
     * was none; otherwise as header_set. */
    gwf_status (*header_remove)(gwf_stream *s, gwf_message_kind which,
                                const char *name, size_t name_len);

    /* -- Bodies [worker] ----------------------------------------------------
     *
     * Only inside request_body / response_body. The view is the current
     * chunk, or the whole body when the plugin asked for GWF_BUFFER.
     *
     * A message keeps the framing it came with - its Content-Length, and
     * for a response its ranges, HEAD and caching - as long as the
     * plugins only read its body: a chain of observers changes nothing
     * the data plane does. A plugin changes a body with body_set in one
     * of two ways:
     *  - whole: the message's headers have not yet passed every plugin
     *    (typically the plugin returned GWF_BUFFER from its headers
     *    hook). The host then keeps the headers until the whole body has
     *    passed the chain and sends it with its exact Content-Length
     *    (within the host's buffer limit, as for GWF_BUFFER).
     *  - streamed: the plugin called body_will_change for that message
     *    from its headers hook. The host sends the body as it leaves the
     *    chain, without a Content-Length (chunked; HTTP/1.0: until the
     *    connection closes); a response then has no ranges
     *    (Accept-Ranges is removed, a Range request gets the whole body).
     * body_set on a message whose headers already passed every plugin,
     * with no body_will_change for it in the chain, returns
     * GWF_ERR_WRONG_PHASE and changes nothing. (A plugin built for ABI
     * 0.1 is taken to have called body_will_change for every message it
     * has a body hook for.) */
    gwf_status (*body_get)(gwf_stream *s, gwf_message_kind which,
                           gwf_view *data);
    /* Replace what body_get returns with these bytes. GWF_OK;
     * GWF_ERR_WRONG_PHASE outside a body hook or as said above;
     * GWF_ERR_LIMIT beyond the host's buffer limit;
     * GWF_ERR_NO_MEMORY. */
    gwf_status (*body_set)(gwf_stream *s, gwf_message_kind which,
                           const char *data, size_t len);

    /* -- Stream information [worker] ------------------------------------- */

    /* A stream attribute (gwf_attribute) as a borrowed view, valid until
     * the current hook or callback returns. Any stream phase. Returns
     * GWF_OK; GWF_ERR_NOT_FOUND for an attribute this host does not know
     * or that does not exist yet (see GWF_ATTR_RESPONSE_FROM_UPSTREAM);
     * GWF_ERR_NO_MEMORY when the host could not make its text. */
    gwf_status (*attribute)(gwf_stream *s, gwf_attribute attr, gwf_view *value);
    /* The instance this stream handle belongs to (NULL for a NULL or
     * dead handle). Any stream phase. */
    gwf_instance *(*stream_instance)(gwf_stream *s);

    /* -- Shared per-stream values [worker] --------------------------------
     *
     * Plugins in one chain leave typed values for each other (the JWT
     * plugin leaves claims that the rate limiter uses as a descriptor).
     * Keys are strings; by convention "<plugin>.<name>", e.g.
     * "jwt_auth.claim.sub". Values live until the stream is destroyed. */

    /* Set `key` to `len` bytes of `data` (copied) of type `type`;
     * setting a key again replaces it. Any stream hook or callback until
     * stream_complete. Returns GWF_OK; GWF_ERR_BAD_ARGUMENT for an empty
     * key or one over 256 bytes, an unknown type, or an INT / BOOL of the
     * wrong size;
     * GWF_ERR_WRONG_PHASE once the stream completed; GWF_ERR_NO_MEMORY. */
    gwf_status (*value_set)(gwf_stream *s, const char *key, size_t key_len,
                            gwf_value_type type, const void *data, size_t len);
    /* Read `key`: its type and a borrowed view of its bytes, valid until
     * the key is set again or the current hook or callback returns. Any
     * stream phase. Returns GWF_OK; GWF_ERR_NOT_FOUND if no plugin set
     * it (nor provides it: value_provide, 0.7). */
    gwf_status (*value_get)(gwf_stream *s, const char *key, size_t key_len,
                            gwf_value_type *type, gwf_view *data);

    /* -- Flow control [worker] -------------------------------------------- */

    /* Continue a stream this plugin paused (its hook returned
     * GWF_PAUSE), as if that hook had returned GWF_CONTINUE. Call it from
     * a callback (timer, fd, post), not from a hook; a worker-scope
     * callback may resume (or reply to) any paused stream of its worker,
     * e.g. every request that waited for one JWKS fetch. The rest of the
     * chain runs after the current callback returns. The handle is dead
     * afterwards. GWF_ERR_WRONG_PHASE if this plugin had not paused the
     * stream (or the pause deadline already answered it). */
    gwf_status (*resume)(gwf_stream *s);
    /* Answer the client now, instead of the upstream. Allowed from any
     * hook or callback of the stream until the response headers were
     * sent to the client (GWF_ERR_WRONG_PHASE after). `status` is
     * 200-599. Headers and body are copied; the headers follow the rules
     * of header_set (no pseudo-headers), and one that breaks them makes
     * the call return GWF_ERR_BAD_ARGUMENT and send nothing. The reply's
     * length is its body's: a Content-Length among `headers` is not
     * sent (the data plane sets its own). `details`
     * is a short reason for the access log and metrics ("jwt_invalid");
     * may be NULL. The response hooks of the plugins before this one in
     * the chain run on the reply (in reverse order), as for an upstream
     * response; a local reply sent while another is being processed is
     * refused with GWF_ERR_WRONG_PHASE. The handle is dead afterwards,
     * and a hook should return GWF_PAUSE (the value is then ignored).
     * GWF_ERR_NO_MEMORY: the reply could not be made; the host answers
     * the stream 500 instead (a refusal lost must not let the request
     * through), whatever the plugin does next. */
    gwf_status (*send_local_reply)(gwf_stream *s, uint32_t status,
                                   const gwf_header *headers,
                                   size_t header_count, const char *body,
                                   size_t body_len, const char *details);

    /* -- Async: timers and fd watches on the host's event loop [worker] ---
     *
     * Scope: with `s` != NULL the timer or watch belongs to that stream
     * and is cancelled when it ends. With `s` == NULL it belongs to the
     * instance on this worker (a shared Redis connection), and must be
     * cancelled by the plugin before worker_stop returns.
     * Ids are never reused: cancelling a fired or cancelled id is a
     * harmless GWF_ERR_NOT_FOUND. A one-shot timer's id is spent once its
     * callback starts. Phase: any worker hook or callback, including
     * worker_start (not config_create, which runs before any loop: that
     * returns GWF_ERR_WRONG_PHASE). `arg` stays the plugin's. */

    /* Call cb(arg) once, `delay_ns` from now. `*timer_id` receives its
     * id. Returns GWF_OK; GWF_ERR_STREAM_GONE for a stream that ended;
     * GWF_ERR_NO_MEMORY; GWF_ERR_INTERNAL when the host loop refused. */
    gwf_status (*timer_start)(gwf_instance *inst, gwf_stream *s,
                              uint64_t delay_ns, gwf_timer_cb cb, void *arg,
                              uint64_t *timer_id);
    /* Cancel a timer that has not started its callback: it never runs.
     * Returns GWF_OK; GWF_ERR_NOT_FOUND for an id that fired, was
     * cancelled (also by its stream's end) or is not a timer's. */
    gwf_status (*timer_cancel)(gwf_instance *inst, uint64_t timer_id);
    /* Watch `fd` for GWF_FD_READ and/or GWF_FD_WRITE. The callback runs
     * while the condition holds (level-triggered). The plugin owns the fd:
     * cancel the watch before closing it. Returns as timer_start, and
     * GWF_ERR_BAD_ARGUMENT for a negative fd, other event bits, or an fd
     * the loop cannot watch. */
    gwf_status (*fd_watch)(gwf_instance *inst, gwf_stream *s, int fd,
                           uint32_t events, gwf_fd_cb cb, void *arg,
                           uint64_t *watch_id);
    /* Change the events a watch waits for (0: none for now). Returns
     * GWF_OK; GWF_ERR_NOT_FOUND for an id that is not a live watch;
     * GWF_ERR_BAD_ARGUMENT for other event bits; GWF_ERR_INTERNAL when the
     * loop refused. */
    gwf_status (*fd_update)(gwf_instance *inst, uint64_t watch_id,
                            uint32_t events);
    /* Stop a watch: its callback does not run again. Returns as
     * timer_cancel. */
    gwf_status (*fd_cancel)(gwf_instance *inst, uint64_t watch_id);

    /* -- Work from other threads ------------------------------------------ */

    /* [worker] Take a reference on the stream for another thread (or a
     * later callback): NULL for a NULL or dead handle, or out of memory.
     * The plugin owns the reference and drops it with
     * stream_ref_release, exactly once. Any stream hook or callback. */
    gwf_stream_ref *(*stream_ref)(gwf_stream *s);
    /* [any] Run cb(arg) on the stream's worker, as a stream callback (so
     * it may resume or reply). If the stream has ended, cb never runs:
     * `release(arg)` runs instead, on the worker or in this call (release
     * may be NULL). Returns GWF_ERR_STREAM_GONE (release already called)
     * if the stream was known to have ended. Every post is settled (cb or
     * release run) by the time its stream has ended: a post still queued
     * then is released on the worker before stream_complete, so none is
     * left to run once the plugin's stream state, worker or .so is gone.
     * Returns GWF_OK (queued); GWF_ERR_STREAM_GONE as said;
     * GWF_ERR_BAD_ARGUMENT for a NULL ref or cb; GWF_ERR_NO_MEMORY
     * (release already called). `arg` stays the plugin's: free it in cb
     * or release. */
    gwf_status (*post)(gwf_stream_ref *ref, gwf_post_cb cb, gwf_post_cb release,
                       void *arg);
    /* [any] Drop the reference taken with stream_ref; `ref` is invalid
     * afterwards. NULL is ignored. */
    void (*stream_ref_release)(gwf_stream_ref *ref);

    /* -- Extensions -------------------------------------------------------- */

    /* [any] A host capability by string id: a pointer owned by the host,
     * valid while the plugin is loaded, or NULL when the host has none by
     * that id. Any phase. */
    const void *(*get_extension)(const gwf_host *host, const char *id);

    /* -- Added in 0.2 ---------------------------------------------------- */

    /* [worker] Say that this plugin will change the body of message
     * `which` while it streams (see "Bodies" above): the host sends that
     * body without a Content-Length. Call it from the headers hook of
     * that message (request_headers for GWF_REQUEST, response_headers for
     * GWF_RESPONSE), only on streams whose body the plugin will really
     * change: observers keep the client's ranges and lengths. GWF_OK;
     * GWF_ERR_WRONG_PHASE once the message's headers passed every
     * plugin; GWF_ERR_BAD_ARGUMENT for another `which`. */
    gwf_status (*body_will_change)(gwf_stream *s, gwf_message_kind which);

    /* -- Added in 0.3: metric series handles ------------------------------
     *
     * metric_add and metric_set find their series from the label values
     * on every call (a hash of the values and a lookup). A series whose
     * label values are known at config time (the instance's own status
     * label, a route's name) can be resolved once to a handle; recording
     * through the handle is then an index and an add, with no hashing,
     * no copying and no lock. Both ways count into the same series: a
     * handle and metric_add with the same label values show one line in
     * the exposition. A handle is the resolving instance's: another
     * instance passing it is refused. Check for these slots with
     * GWF_HAS_FIELD(host, gwf_host, metric_series_set) and non-NULL
     * pointers; on an older host, use metric_add / metric_set. */

    /* [any] Resolve the series of metric `metric_id` (from
     * metric_define) with `label_values` (copied; count and order as
     * defined) to a handle in `*series`: a counter's or gauge's, and from
     * 0.6 a histogram's (for metric_series_observe below). Meant for
     * config_create, route_config_create and worker_start; it takes a
     * lock. Resolving the same series again for the same instance gives
     * the same handle. The handle is valid while `inst` is configured:
     * once its config is destroyed (config_destroy, or a config_create
     * that failed), the calls below refuse it. Never 0. GWF_OK;
     * GWF_ERR_BAD_ARGUMENT for an id metric_define did not give, a label
     * count that does not match, a histogram on a host older than 0.6
     * (check for metric_series_observe first) or a NULL `series`;
     * GWF_ERR_NO_MEMORY (also: more than 65536 handles in the host). */
    gwf_status (*metric_series)(gwf_instance *inst, uint32_t metric_id,
                                const gwf_view *label_values, size_t count,
                                uint64_t *series);
    /* [worker] Add `delta` to the series of handle `series`: a counter
     * (delta >= 0) or a gauge (any sign). Any worker phase, as
     * metric_add. GWF_OK; GWF_ERR_BAD_ARGUMENT for a handle this
     * instance did not resolve, one whose config is gone, a negative
     * delta on a counter, or a NaN. */
    gwf_status (*metric_series_add)(gwf_instance *inst, uint64_t series,
                                    double delta);
    /* [worker] Set the gauge of handle `series` to `value`. As
     * metric_series_add; GWF_ERR_BAD_ARGUMENT for a counter. */
    gwf_status (*metric_series_set)(gwf_instance *inst, uint64_t series,
                                    double value);

    /* -- Added in 0.4: prepared local replies -----------------------------
     *
     * send_local_reply checks a reply's headers and copies the reply on
     * every call. A reply that is the same every time (a DirectResponse,
     * a fixed 401 or 429) can be prepared once, at config time: the host
     * checks it then, keeps its own copy in the form the data plane
     * sends, and answers a stream with it by handle. What the client and
     * the plugins before this one see is exactly what send_local_reply
     * with the same arguments gives. A handle is the preparing
     * instance's: another instance passing it is refused. Check for these
     * slots with GWF_HAS_FIELD(host, gwf_host, send_prepared_reply) and
     * non-NULL pointers; on an older host, use send_local_reply. */

    /* [main] Check and keep a reply, as send_local_reply would send it
     * (same rules for `status`, the headers, body and `details`; all
     * copied), and give its handle in `*reply` (never 0). Only from
     * config_create or route_config_create (GWF_ERR_WRONG_PHASE
     * elsewhere). The handle is valid while `inst` is configured: once
     * its config is destroyed (config_destroy, or a config_create that
     * failed), send_prepared_reply refuses it. GWF_OK;
     * GWF_ERR_BAD_ARGUMENT for what send_local_reply would refuse or a
     * NULL `reply`; GWF_ERR_NO_MEMORY (also: more than 4096 replies for
     * one instance). */
    gwf_status (*reply_prepare)(gwf_instance *inst, uint32_t status,
                                const gwf_header *headers, size_t header_count,
                                const char *body, size_t body_len,
                                const char *details, uint64_t *reply);
    /* [worker] Answer the client now with prepared reply `reply`: as
     * send_local_reply, with the same phases, results and dead handle
     * afterwards, and GWF_ERR_BAD_ARGUMENT for a handle this stream's
     * instance did not prepare. Sends without checking or copying
     * anything per call. */
    gwf_status (*send_prepared_reply)(gwf_stream *s, uint64_t reply);

    /* -- Added in 0.5: one reply for every request -------------------------
     *
     * An instance whose every request gets the same prepared reply (a
     * DirectResponse) can say so; a host may then answer a route whose
     * chain is that instance alone as a data plane answers its own
     * constant replies (nginx's `return`): without a stream, without
     * calling the plugin, counted in the same series. Check for the slot
     * with GWF_HAS_FIELD(host, gwf_host, reply_always) and a non-NULL
     * pointer; on an older host, do nothing: the hooks answer. */

    /* [main] Declare that `inst` answers every request with prepared reply
     * `reply` (reply_prepare's) from its request_headers hook, and that
     * its hooks do nothing else a client or another plugin could see (no
     * other reply, header or value) but add 1 to the counter of handle
     * `series` (metric_series's; 0: none), which the host then adds for
     * each request it answers itself. The hooks must still do exactly
     * that when they are called: a host may ignore the declaration, and
     * does for a route whose chain has more than this instance or gives
     * it a route config. Only from config_create (GWF_ERR_WRONG_PHASE
     * elsewhere). GWF_OK; GWF_ERR_BAD_ARGUMENT for a reply or series
     * handle this instance did not make. */
    gwf_status (*reply_always)(gwf_instance *inst, uint64_t reply,
                               uint64_t series);

    /* -- Added in 0.6: histogram series handles ----------------------------
     *
     * A latency histogram observed on every request (a peer's answer
     * time) found its series by label values on each call, as metric_add
     * did before handles. From 0.6 metric_series resolves a histogram's
     * series too. Check for the slot with GWF_HAS_FIELD(host, gwf_host,
     * metric_series_observe) and a non-NULL pointer; on an older host,
     * keep metric_observe. */

    /* [worker] Add observation `value` to the histogram series of handle
     * `series` (metric_series's), as metric_observe would. GWF_OK;
     * GWF_ERR_BAD_ARGUMENT for a handle this instance did not resolve,
     * one whose config is gone, a counter's or gauge's handle, or a
     * NaN. */
    gwf_status (*metric_series_observe)(gwf_instance *inst, uint64_t series,
                                        double value);

    /* -- Added in 0.7: values a plugin lends --------------------------------
     *
     * A plugin that leaves many values on every request it passes, and
     * has them made already (jwt_auth: the claims of a token, rendered
     * once and cached with it), can lend them under a key prefix instead
     * of copying each with value_set: the host asks the plugin for a key
     * only when another plugin reads it. A host of 0.7 or later has this
     * slot (a plugin built for 0.7 is refused by an older host). */

    /* [worker] Answer value_get for every key that starts with `prefix`
     * (`prefix_len` bytes): value_get(key) calls get(ctx, key, ...), which
     * fills the type and a view of the bytes and returns GWF_OK, or
     * returns GWF_ERR_NOT_FOUND. Keys set with value_set and prefixes
     * provided are searched newest first: a key set after the prefix was
     * provided is value_set's, and a key the provider does not know goes
     * on to what was there before. Providing a prefix that is provided
     * already replaces that provider (its release runs now).
     *   `get` may be called from any plugin's hook or callback on this
     * stream, until the stream is destroyed; it must not call the host,
     * must give the same answer for a key every time, and its views must
     * stay valid until `release`. `release` (may be NULL) runs exactly
     * once, on the worker, without calling the host: when the stream is
     * destroyed, or when the prefix is provided again; never after the
     * instance's config is destroyed.
     *   Any stream hook or callback until stream_complete. GWF_OK;
     * GWF_ERR_BAD_ARGUMENT for an empty prefix or one over 256 bytes, or
     * a NULL get; GWF_ERR_WRONG_PHASE once the stream completed;
     * GWF_ERR_NO_MEMORY. On any failure `release` is not called: `ctx`
     * is still the plugin's. */
    gwf_status (*value_provide)(
        gwf_stream *s, const char *prefix, size_t prefix_len,
        gwf_status (*get)(void *ctx, const char *key, size_t key_len,
                          gwf_value_type *type, gwf_view *data),
        void (*release)(void *ctx), void *ctx);

    /* -- Added in 0.10: prepared replies with values of the request --------
     *
     * A reply that is the same every time but for a value or two (a 429
     * whose retry-after counts down, a 401 naming the request's realm)
     * had to go through send_local_reply, which checks and converts every
     * header on each call. Prepared with placeholder values, it can be
     * sent with this request's values instead: the names, the other
     * values and the body were checked and converted at config time, and
     * only the given values are checked per call. Check for the slot with
     * GWF_HAS_FIELD(host, gwf_host, send_prepared_reply_values) and a
     * non-NULL pointer; on an older host, use send_local_reply. */

    /* [worker] Answer the client now with prepared reply `reply`, the
     * values of its first `count` headers (in the order given to
     * reply_prepare) replaced by values[0 .. count-1]: what the client
     * and the plugins before this one see is exactly what
     * send_local_reply gives with those headers, the reply's body and
     * details. Each value is checked and trimmed as send_local_reply
     * checks a value of that header's name, and copied before the call
     * returns. count 0 is send_prepared_reply. As send_prepared_reply
     * otherwise (phases, results, dead handle, request_early), and
     * GWF_ERR_BAD_ARGUMENT, with nothing sent, for a count above the
     * reply's header count, NULL `values` with a count, or a value
     * send_local_reply would refuse. */
    gwf_status (*send_prepared_reply_values)(gwf_stream *s, uint64_t reply,
                                             const gwf_view *values,
                                             size_t count);
};

/* ------------------------------------------------------------------------
 * The plugin entry
 * --------------------------------------------------------------------- */

/* What the host tells config_create. */
typedef struct gwf_config_init {
    uint32_t size;
    gwf_instance *instance; /* the plugin's handle; keep it in the config */
    gwf_view name;          /* "namespace/name" of the configuring document */
    gwf_view kind;          /* its kind: "GatewayExtension", ... */
    gwf_view config_json;   /* the config, JSON text (an object) */
} gwf_config_init;

/* What the host tells worker_start. */
typedef struct gwf_worker_init {
    uint32_t size;
    gwf_instance *instance;
    uint32_t worker_index; /* 0 .. worker_count-1 */
    uint32_t worker_count;
} gwf_worker_init;

/* What the host tells stream_create. */
typedef struct gwf_stream_init {
    uint32_t size;
    void *config;       /* from config_create */
    void *route_config; /* from route_config_create, or NULL */
    void *worker;       /* from worker_start, or NULL */
} gwf_stream_init;

typedef struct gwf_plugin {
    uint32_t size;      /* sizeof(gwf_plugin) as the plugin was built */
    uint16_t abi_major; /* GWF_ABI_VERSION_MAJOR the plugin was built for */
    uint16_t abi_minor;
    const char *name;    /* [a-z0-9_-]+, e.g. "direct_response" */
    const char *version; /* the plugin's own version, "1.2.0" */
    const char *description;

    /* Every hook below is optional: NULL means "nothing to do" (for a
     * stream hook: GWF_CONTINUE). */

    /* [main] Parse and validate the config, build what every worker will
     * share read-only. On error call host->config_error and return
     * GWF_ERR_BAD_ARGUMENT. `*config` may be any pointer, NULL included. */
    gwf_status (*config_create)(const gwf_config_init *init, void **config);
    /* [main] Free the config. Called after every worker has stopped, and
     * only if config_create succeeded (the route configs made from it
     * were destroyed before). */
    void (*config_destroy)(void *config);

    /* [main] Per-route settings for this instance (a TrafficPolicy's
     * section that references it), as JSON text (borrowed for the call).
     * Errors as above. `*route_config` may be any pointer, NULL
     * included. */
    gwf_status (*route_config_create)(void *config, gwf_instance *inst,
                                      gwf_view route_json, void **route_config);
    /* [main] Free a route config: after every worker has stopped, only
     * for a route_config_create that succeeded, before config_destroy. */
    void (*route_config_destroy)(void *config, void *route_config);

    /* [worker] Per-worker state (a connection), created after the worker
     * started (after fork, in nginx) and before its first stream.
     * `*worker` is handed to every stream_create on that worker. */
    gwf_status (*worker_start)(void *config, const gwf_worker_init *init,
                               void **worker);
    /* [worker] Cancel worker-scope timers and watches, free the state. */
    void (*worker_stop)(void *config, void *worker);

    /* [worker] A new stream. `*stream_ctx` is handed to every stream hook;
     * if stream_create is NULL the hooks receive init->route_config if
     * set, else init->config. An error answers the request with 500. */
    gwf_status (*stream_create)(gwf_stream *s, const gwf_stream_init *init,
                                void **stream_ctx);

    /* [worker] Stream hooks, in the order a request flows. The request
     * hooks run in chain order, the response hooks in reverse chain
     * order (the last plugin of the chain sees the response first, as
     * it saw the request last). end_of_stream is 1 when no body follows
     * (headers hooks) or this is the last chunk (body hooks). Return a
     * gwf_action. */
    gwf_action (*request_headers)(gwf_stream *s, void *stream_ctx,
                                  int32_t end_of_stream);
    gwf_action (*request_body)(gwf_stream *s, void *stream_ctx,
                               int32_t end_of_stream);
    gwf_action (*response_headers)(gwf_stream *s, void *stream_ctx,
                                   int32_t end_of_stream);
    gwf_action (*response_body)(gwf_stream *s, void *stream_ctx,
                                int32_t end_of_stream);

    /* [worker] The stream is over (response sent, local reply, client
     * abort, deadline). Always called once for every created stream, in
     * chain order. Read-only: headers, attributes and values can be read
     * (for logs and metrics); flow control calls return
     * GWF_ERR_WRONG_PHASE. */
    void (*stream_complete)(gwf_stream *s, void *stream_ctx);
    /* [worker] Free the stream's state. Last call for this stream, made
     * whenever the stream was created (even without stream_create: then
     * stream_ctx is the config or route config, which must not be freed
     * here). */
    void (*stream_destroy)(gwf_stream *s, void *stream_ctx);

    /* [any] A plugin capability by string id, or NULL. */
    const void *(*get_extension)(const char *id);

    /* -- Added in 0.8: answers before the stream --------------------------
     *
     * A stream costs its setup and teardown whether the plugin answers
     * at once or not. A plugin that can often answer from the request's
     * headers alone (a key known to be over its limit, a request without
     * the credentials it needs) can do so before the host makes the
     * stream: then no stream exists for that request and no stream hook
     * of any plugin runs for it. A host of 0.8 or later that does not
     * call this hook calls the stream hooks as always: the hook is a
     * shortcut, never the only way to an answer.
     *
     * [worker] Called before stream_create, only for the first plugin of
     * a chain, and only when no other plugin of that chain has a
     * stream_complete hook (they would only have made and freed a state
     * for a request answered here, so skipping them is invisible). `s`
     * is valid for this call only. With it the hook may read the
     * request's headers (header_get, header_count, header_at with
     * GWF_REQUEST), attributes and values (value_get: none is set yet),
     * log (stream_log), find its instance (stream_instance) and answer
     * (send_local_reply, send_prepared_reply and from 0.10
     * send_prepared_reply_values: the client gets exactly
     * what those calls give from request_headers, and the handle is
     * dead afterwards). Every other stream call returns
     * GWF_ERR_WRONG_PHASE. Worker-scope calls (metrics, clocks, logs,
     * timers without a stream) work as in any worker hook.
     *   Return GWF_PAUSE after answering. Return GWF_CONTINUE without
     * answering to let the request go on as if the hook did not exist:
     * the host then makes the stream and calls stream_create and
     * request_headers as always, so the hook must not have changed
     * anything a client or another plugin could see (counting a metric
     * the request_headers hook would not count again is fine). Any other
     * return, GWF_PAUSE without an answer, or an answer the host could
     * not send (out of memory): the client gets 500.
     *
     * Added in 0.9: finishing before the stream. A plugin that is its
     * chain's only plugin (attribute GWF_ATTR_EARLY_DONE is "1") may do
     * all it does for a request here: change the request's headers
     * (header_set, header_add, header_remove with GWF_REQUEST, as from
     * request_headers) and return GWF_DONE. The request then goes on as
     * changed, and no stream is made for it: none of the plugin's stream
     * hooks (stream_create, the body and response hooks, stream_complete,
     * stream_destroy) runs for it, and values it would provide have no
     * reader. When the attribute is not "1", those writes return
     * GWF_ERR_WRONG_PHASE and GWF_DONE is a plugin bug (500). After a
     * write the host took (any header_set, header_add or header_remove
     * that returned anything but GWF_ERR_BAD_ARGUMENT or
     * GWF_ERR_WRONG_PHASE, a remove of an absent header included),
     * GWF_CONTINUE is a plugin bug too (500): the stream's hooks would
     * see a request the hook may have changed. Answering after a change
     * is fine: nothing of the request goes on. A host before 0.9
     * never says "1", so a plugin written for both keeps its
     * request_headers doing the same job. */
    gwf_action (*request_early)(gwf_stream *s, void *config, void *route_config,
                                void *worker);
} gwf_plugin;

/* Declare the plugin's entry: `GWF_PLUGIN_ENTRY = { ... };` */
#define GWF_PLUGIN_ENTRY GWF_EXPORT const gwf_plugin gwf_plugin_entry

#ifdef __cplusplus
}
#endif

#endif /* GWF_ABI_H */
