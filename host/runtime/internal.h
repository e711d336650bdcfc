/*
 * internal.h - the runtime's private structures, shared by its files.
 *
 * Only the runtime's own sources (and its white-box unit tests) see this
 * folder. Data planes use the public headers in include/gwf/: runtime.h,
 * and for hosts without an event loop of their own, loop.h and
 * exchange.h.
 *
 * Layers. The files form a stack, listed here bottom first; a file calls
 * only files below it, never one above. A lower file reaches up only
 * through a function pointer it was handed, the way an event loop calls
 * its handlers: the worker runs a stream that moved through the callback
 * stream.c gave rt_stream_mark; plugins are reached through their entry,
 * data planes through gwf_event_ops and gwf_stream_ops. Every .c file of
 * the runtime is in the list, and tests/runtime_layers.py checks the
 * order against the symbols each object of the built library defines and
 * uses (nm).
 *
 *   util.c      byte buffers and string copies
 *   diag.c      diagnostics: lists of "FILE:LINE: message"
 *   log.c       log lines to the data plane's sink; diagnostics as errors
 *   node.c      the document tree: arena, lookups, the readers' builder
 *   yaml.c      YAML into the tree (libyaml events)
 *   json.c      JSON into the tree (a position scanner, then jansson)
 *   node_parse.c gwf_tree_parse: picks the reader
 *   manifest_load.c documents: the set, loading files
 *   manifest_validate.c documents: shapes and references
 *   manifest_plan.c documents: plan a route
 *   manifest_endpoints.c documents: a Service port's endpoints
 *   manifest_grants.c documents: ReferenceGrants across namespaces
 *   memmsg.c    an HTTP message held in memory, behind gwf_message_ops
 *   metrics.c   the metrics registry and its Prometheus text
 *   loop.c      a poll(2) event loop (gwf/loop.h)
 *   http1.c     HTTP/1.1 messages as text: parser and serializer
 *   fetch.c     one blocking upstream fetch over libcurl
 *   loader.c    loading a plugin: dlopen, entry, ABI version
 *   worker.c    the worker: ids, plugin timers and fd watches, posts,
 *               the queue of streams that moved inside a callback
 *   stream.c    the stream: the chain's state machine (hooks, pauses,
 *               bodies, local replies, values)
 *   host.c      the host table: what a plugin calls (checks, then down)
 *   runtime.c   the runtime: manifests to configured instances and chains
 *   exchange.c  one request in memory through a chain (gwf/exchange.h)
 *
 * Ownership at a glance:
 *   gwf_runtime owns manifests, loaded plugins (rt_plugin), configured
 *   instances (rt_instance), chains and the metrics registry.
 *   gwf_worker owns the id map of plugin timers/watches on its loop.
 *   gwf_rt_stream owns one rt_fstream per chain entry (the plugin's
 *   gwf_stream handle), its body queues, values and local reply.
 */
#ifndef GWF_RUNTIME_INTERNAL_H
#define GWF_RUNTIME_INTERNAL_H

#include <gwf/exchange.h>
#include <gwf/runtime.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <gwf/diag.h>
#include <gwf/manifest.h>

typedef struct rt_series rt_series; /* one metric series (metrics.c) */

/* -- Strings ------------------------------------------------------------- */

/* Buffers (gwf_buf) and in-memory messages (gwf_memmsg) are public:
 * gwf/exchange.h. */

char *rt_strndup(const char *s, size_t len);
/* Empty `m` as gwf_memmsg_clear does, but keep its array of fields and
 * its block for the next message (a stream's local reply: memmsg.c). */
void rt_memmsg_reset(gwf_memmsg *m);
/* Give `m`, which has no headers, these `count` (names checked by the
 * caller: not empty, no pseudo-header). Their texts go into its block,
 * reused from message to message (rt_memmsg_reset keeps it): a local
 * reply costs no allocation per header. GWF_OK; GWF_ERR_NO_MEMORY (`m`
 * keeps no header); GWF_ERR_BAD_ARGUMENT when `m` has headers. */
gwf_status rt_memmsg_load(gwf_memmsg *m, const gwf_header *headers,
                          size_t count);
char *rt_strdup(const char *s);

/* -- Loaded plugins and configured instances ------------------------------ */

typedef struct rt_plugin {
    char *path;
    void *handle;
    gwf_plugin entry; /* normalised copy: fields the .so lacks are NULL */
    struct rt_plugin *next;
} rt_plugin;

typedef struct rt_worker_slot {
    bool started;
    void *ctx;
} rt_worker_slot;

/* A reply prepared at config time (abi.h reply_prepare): checked once,
 * kept in one allocation (`text` holds the names, values and body the
 * views point to), sent by reference. */
typedef struct rt_prepared {
    uint32_t status;
    size_t header_count;
    gwf_header *headers; /* names and values checked and trimmed */
    gwf_view body;
    char details[64];
    void *dp_slot; /* the data plane's (gwf_stream_reply_prepared_slot) */
    char text[];
} rt_prepared;

typedef struct rt_instance {
    gwf_instance pub; /* first: plugins get &pub */
    gwf_runtime *rt;
    rt_plugin *plugin;
    char *name; /* "namespace/name" */
    const gwf_doc *doc;
    char *config_field;
    char *config_dir;
    void *config;
    bool configured;
    /* Where config_error lands while a config call runs. */
    gwf_diag *err_diag;
    const gwf_doc *err_doc;
    const char *err_field;
    int err_count;
    char **lookups; /* lookup_document results, freed after the call */
    size_t lookup_count;
    rt_worker_slot *workers; /* indexed by worker index */
    uint32_t worker_slots;
    /* Prepared replies; a handle is (reply_tag << 32) | (index + 1).
     * Written only while a config call runs, read-only on workers. */
    rt_prepared **replies;
    uint32_t reply_count;
    uint32_t reply_tag; /* unique in the runtime, never 0 */
    /* reply_always's: every request gets it (NULL: the hooks decide), and
     * the plugin's counter it adds 1 to (0: none). */
    rt_prepared *always;
    uint64_t always_series;
    /* gwf_async_active{instance}, resolved by the first async op. */
    rt_series *async_active;
    struct rt_instance *next;
} rt_instance;

typedef struct rt_filter {
    rt_instance *inst;
    void *route_config;
    bool has_route_config;
} rt_filter;

struct gwf_chain {
    gwf_runtime *rt;
    char *key;
    char *route_name;
    rt_filter *filters;
    size_t count;
    bool wants_body[2];
    /* A plugin of the chain has request_headers / response_headers: the
     * headers of that direction run plugin code (else they pass every
     * position as they are, without entering the worker). */
    bool has_headers_hook[2];
    /* A plugin of the chain has stream_complete or stream_destroy: the
     * end of a stream runs plugin code (else it only frees memory). */
    bool has_end_hooks;
    /* A plugin of the chain has stream_complete: completing a stream runs
     * plugin code (most chains have destroy hooks only). */
    bool has_complete_hook;
    /* A plugin of the chain has stream_create: a new stream runs plugin
     * code (else only the instances' worker_start, once per worker). */
    bool has_stream_create;
    /* The runtime's own per-route series, resolved by the first stream
     * (chains built only to validate manifests never show up). */
    rt_series *streams_total;
    rt_series *streams_active;
    rt_series *pauses;
    rt_series *pause_seconds;
    /* The chain is one instance that declared reply_always (and no route
     * config): every request gets this reply (gwf_chain_constant_reply). */
    rt_prepared *constant;
    /* The first plugin may answer before the stream (abi.h
     * request_early): it has the hook, and no other has stream_complete. */
    bool early;
    struct gwf_chain *next;
};

/* -- Metrics --------------------------------------------------------------- */

typedef struct rt_metrics rt_metrics;
rt_series *rt_metrics_series(rt_metrics *m, uint32_t id, const char *instance,
                             const gwf_view *values, size_t count);
/* Counters and gauges: add. Histograms: observe (under the registry's
 * lock unless it has one writer). A NULL series records nothing. */
void rt_series_add(rt_series *s, double v);
void rt_series_observe(rt_metrics *m, rt_series *s, double v);
rt_metrics *rt_metrics_new(bool one_writer);
void rt_metrics_free(rt_metrics *m);
gwf_status rt_metrics_define(rt_metrics *m, gwf_metric_kind kind,
                             const char *name, const char *help,
                             const char *const *labels, size_t label_count,
                             const double *buckets, size_t bucket_count,
                             uint32_t *id);
gwf_status rt_metrics_record(rt_metrics *m, int op, uint32_t id,
                             const char *instance, const gwf_view *values,
                             size_t count, double v);
/* Handles (abi.h metric_series): `owner` is the instance that resolved
 * the series; a handle is refused for any other owner and once
 * rt_metrics_forget(owner) ran (its config is gone). */
gwf_status rt_metrics_handle(rt_metrics *m, uint32_t id, const void *owner,
                             const char *instance, const gwf_view *values,
                             size_t count, uint64_t *handle);
gwf_status rt_metrics_handle_record(rt_metrics *m, int op, const void *owner,
                                    uint64_t handle, double v);
/* `handle` is owner's, its config is not gone, and it counts (a counter
 * or a gauge: not a histogram). */
bool rt_metrics_handle_valid(rt_metrics *m, const void *owner, uint64_t handle);
void rt_metrics_forget(rt_metrics *m, const void *owner);
char *rt_metrics_text(rt_metrics *m);
enum { RT_METRIC_ADD, RT_METRIC_SET, RT_METRIC_OBSERVE };

/* -- The runtime ----------------------------------------------------------- */

struct gwf_runtime {
    gwf_runtime_options opts;
    char *host_name;
    char **search_dirs;
    size_t search_count;
    gwf_manifests *manifests;
    bool validated_docs;
    rt_plugin *plugins;
    rt_instance *instances;
    gwf_chain *chains;
    rt_metrics *metrics;
    /* The runtime's own metrics, labelled by route (instance = the
     * route's name). */
    uint32_t m_streams, m_active, m_replies, m_pauses, m_pause_seconds,
        m_errors, m_async;
    uint32_t reply_tags; /* the last rt_instance.reply_tag given */
    /* gwf_runtime_fail_reply_memory: a plugin's local reply cannot be
     * made, as from a host out of memory (tests). */
    bool fail_reply_memory;
    /* gwf_runtime_fail_reply_prepare: reply_prepare cannot keep a reply
     * (tests). */
    bool fail_reply_prepare;
    gwf_host host;
};

extern const gwf_host rt_host_template;

void rt_log(gwf_runtime *rt, gwf_log_level level, const char *instance,
            const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void rt_diag_to_errors(gwf_diag *d, gwf_errors *err);

/* Frees an instance's prepared replies: their handles are refused from
 * then on. */
void rt_prepared_forget(rt_instance *inst);

rt_plugin *rt_plugin_load(gwf_runtime *rt, const char *name_or_path,
                          gwf_diag *d);
void rt_plugins_unload(gwf_runtime *rt);

/* -- Workers and streams --------------------------------------------------- */

typedef struct rt_async rt_async;
#define RT_SPARE_ASYNCS 256
typedef struct rt_fstream rt_fstream;

typedef struct rt_idmap {
    uint64_t *keys;
    rt_async **vals;
    size_t cap;
    size_t count;
} rt_idmap;

struct gwf_worker {
    gwf_runtime *rt;
    uint32_t index;
    uint32_t count;
    gwf_event_ops ev;
    rt_idmap asyncs;
    size_t fd_watches;
    uint64_t next_id;
    /* Released async ops kept for reuse (worker.c), at most
     * RT_SPARE_ASYNCS. */
    rt_async *spare_asyncs;
    size_t spare_async_count;
    /* Nesting of runtime work on this worker; streams that moved while
     * it was > 0 wait in `pending` until it drops to 0. */
    int depth;
    bool draining;
    gwf_worker *prev_current; /* the thread's worker before enter */
    /* The running thread's current-worker slot (worker.c), found once
     * when the worker starts: a worker runs on the thread that started
     * it, and a thread-local read from the nginx module (a dlopen'ed
     * object) is a call into the dynamic linker each time. */
    gwf_worker **current_slot;
    gwf_rt_stream *pending_head;
    gwf_rt_stream *pending_tail;
    size_t live_streams;
    gwf_rt_stream *live_head; /* every stream not yet freed */
    uint64_t stream_counter;
    /* The handle a chain's first plugin answers with before the stream
     * (gwf_chain_early): made on first use, reused, freed with the
     * worker. */
    gwf_rt_stream *early;
    /* Counts plugin invocations (hooks, callbacks) on this worker; a
     * handle that resumed or replied is dead until the next one. */
    uint64_t invocation;
    atomic_size_t posts_in_flight;
    /* Recent local-reply series by (chain, status, details): a worker
     * answers the same few kinds of reply over and over. */
    struct {
        const gwf_chain *chain;
        const void *prepared; /* the prepared reply it was, or NULL */
        uint32_t status;
        char details[64];
        rt_series *series;
    } reply_cache[16];
    /* Freed streams kept for the next ones (stream.c): a stream's memory
     * is the one allocation every request makes, and glibc's calloc
     * never takes it from the thread cache. Linked through live_next. */
    gwf_rt_stream *spare_streams;
    uint32_t spare_count;
};

void rt_worker_enter(gwf_worker *w);
/* Has `inst` had its worker_start on `w`? */
static inline bool
rt_worker_instance_started(const gwf_worker *w, const rt_instance *inst)
{
    return inst->worker_slots > w->index && inst->workers[w->index].started;
}
void rt_worker_leave(gwf_worker *w);
void rt_worker_ensure_instance(gwf_worker *w, rt_instance *inst);

#endif /* GWF_RUNTIME_INTERNAL_H */
