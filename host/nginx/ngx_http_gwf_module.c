/*
 * ngx_http_gwf_module.c - nginx as a gwf data plane.
 *
 * The gwf runtime (libgwf-runtime, linked in statically) does the work:
 * manifests, plugin loading, chains, hook order, pause/resume, local
 * replies, deadlines and metrics. This module maps nginx onto it:
 *
 *   configuration  gwf_manifests / gwf_plugin_path at http level, and per
 *                  location gwf_policy, gwf_extension, gwf_direct_response,
 *                  gwf_backend. Chains are built while nginx reads its
 *                  configuration (in the master), so `nginx -t` reports a
 *                  bad manifest, an unknown reference or a plugin that does
 *                  not load with the runtime's own message, and a reload
 *                  with bad manifests leaves the old configuration serving.
 *   events         the ABI's timers, fd watches and cross-thread posts
 *                  become nginx timers, connections on nginx's event loop
 *                  and an eventfd per worker.
 *   requests       request hooks run in the access phase; a paused
 *                  request waits without blocking the worker and goes on
 *                  through ngx_http_core_run_phases when a plugin resumes
 *                  it. Request bodies are read (client_max_body_size
 *                  applies) when a plugin has a request body hook.
 *                  Response headers and bodies go through a header and a
 *                  body filter. The log phase completes the stream; a pool
 *                  cleanup frees it, also for clients that went away.
 *   metrics        `gwf_metrics;` serves every worker's metrics, summed,
 *                  in Prometheus text format: each worker publishes a
 *                  snapshot into a shared memory zone once a second and
 *                  the serving worker adds its fresh one.
 */
#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <pthread.h>
#include <sys/eventfd.h>

#include <gwf/runtime.h>

/* The request-body flag nginx reserves for buffering filters we use to
 * hold a response while a plugin decides about it. */
#define NGX_HTTP_GWF_BUFFERED 0x08

/* Response bodies through body hooks: file buffers are read in slices of
 * this size, output buffers are at least this large (and reused), and no
 * more upstream data is taken while this much of ours waits for the
 * client, so a slow client slows the upstream instead of growing memory. */
#define GWF_RESP_SLICE (64 * 1024)
#define GWF_RESP_OUT_MIN (16 * 1024)
#define GWF_RESP_BUSY_MAX (1024 * 1024)

#define GWF_METRICS_SLOTS 64
#define GWF_METRICS_SLOT_SIZE (64 * 1024)

typedef struct {
    ngx_array_t *manifests;    /* ngx_str_t */
    ngx_str_t plugin_path;
    ngx_msec_t max_pause;
    size_t max_body;
    gwf_runtime *rt;
    ngx_log_t *log;
    ngx_shm_zone_t *metrics_zone;
} ngx_http_gwf_main_conf_t;

typedef struct {
    ngx_str_t policy;
    ngx_str_t direct_response;
    ngx_str_t backend;
    ngx_array_t *extensions;   /* ngx_str_t */
    ngx_flag_t metrics;
    /* Where the first gwf route directive of this block is, so an error
     * found while merging points at it rather than at the end of http. */
    ngx_str_t file;
    ngx_uint_t line;
    gwf_chain *chain;
    ngx_uint_t want_body[2];
} ngx_http_gwf_loc_conf_t;

/* A header name in a message's index (see "Header index"). */
typedef struct hdr_name_s hdr_name_t;
struct hdr_name_s {
    hdr_name_t *next; /* in the same bucket, or on the spare list */
    ngx_uint_t hash;  /* ngx_hash_key_lc of the name */
    ngx_str_t key;    /* the first element's; compared ignoring case */
    ngx_array_t elts; /* ngx_table_elt_t *: the live ones, in list order */
};

/* One message's header index, valid while epoch == gwf_ngx_epoch. */
typedef struct {
    ngx_uint_t epoch; /* 0: to be built */
    ngx_list_t *list; /* the list it indexes */
    hdr_name_t **buckets;
    ngx_uint_t nbuckets;
    ngx_uint_t names;
    ngx_uint_t live;   /* elements not marked removed */
    ngx_uint_t marked; /* elements marked removed (hash == 0) */
    hdr_name_t *spare; /* name entries a rebuild gave back */
    /* header_at's cursor: the shown element number cursor_pos is
     * cursor_part's element cursor_i; NULL: none. */
    ngx_list_part_t *cursor_part;
    ngx_uint_t cursor_i;
    size_t cursor_pos;
} hdr_index_t;

/* The request's or the response's headers, as the runtime's message. */
typedef struct {
    ngx_http_request_t *r;
    ngx_uint_t is_response;
    hdr_index_t index;
} ngx_http_gwf_msg_t;

/* One request's state. */
typedef struct {
    ngx_http_request_t *r;
    ngx_http_gwf_msg_t msg[2]; /* by gwf_message_kind */
    gwf_rt_stream *st;
    gwf_rt_state req_state;    /* where the request side stands */
    gwf_rt_state state;        /* ... and the response side */
    ngx_event_t resume_ev;     /* runs the request on after a wake */
    unsigned waiting:1;        /* the access phase returned NGX_AGAIN */
    unsigned body_reading:1;   /* the access phase reads the body */
    unsigned body_waiting:1;   /* ... and returned NGX_DONE for it */
    unsigned body_read:1;      /* ... and nginx finished reading it */
    unsigned req_filter:1;     /* the body goes through the chain */
    unsigned req_started:1;    /* the request body filter ran */
    unsigned req_fed_eos:1;    /* the last request buffer was fed */
    unsigned req_eos_out:1;    /* the last chunk left the chain */
    unsigned req_native:1;     /* a reply ended the request side */
    unsigned request_done:1;   /* the request side passed the chain */
    unsigned replied:1;        /* a local reply is being sent */
    unsigned resp_started:1;   /* response headers went to the chain */
    unsigned resp_held:1;      /* headers held until the chain decides */
    unsigned resp_passed:1;    /* headers passed to the next filter */
    unsigned resp_replaced:1;  /* a response hook replied: drop upstream */
    unsigned resp_eos_in:1;    /* the upstream body ended */
    unsigned resp_eos_out:1;   /* the last chunk went on */
    unsigned completed:1;
    unsigned resp_broken:1;    /* the upstream ended before its last buf */
    unsigned resp_timed_out:1; /* ... because it timed out */
    unsigned resp_native:1;    /* broken: the rest is nginx's, unfiltered */
    unsigned resp_body_early:1; /* body came while the headers were held */
    unsigned flush_wanted:1;   /* nginx asked for a flush not yet sent */
    /* The client's HTTP version, which an HTTP/0.9 upstream overwrites,
     * and the upstream connection's read event (note_upstream_end). */
    unsigned http_version;
    ngx_event_t *upstream_read;
    ngx_chain_t *req_pending;  /* request bufs not yet fed to the chain */
    ngx_chain_t *req_free;     /* our request bufs, for reuse */
    ngx_chain_t *req_busy;     /* ... not yet written or sent */
    off_t req_out;             /* bytes of request body that left it */
    ngx_chain_t *pending;      /* upstream bufs not yet fed to the chain */
    ngx_chain_t *free;         /* our output bufs, for reuse */
    ngx_chain_t *busy;         /* our output bufs the client has not taken */
    u_char *slice;             /* GWF_RESP_SLICE bytes for file bufs */
    /* Attribute texts handed to plugins (valid for the hook's duration). */
    u_char remote_port[NGX_INT_T_LEN];
    u_char local_port[NGX_INT_T_LEN];
    u_char local_address[NGX_SOCKADDR_STRLEN];
} ngx_http_gwf_ctx_t;

static ngx_int_t ngx_http_gwf_postconfiguration(ngx_conf_t *cf);
static void *ngx_http_gwf_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_gwf_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_gwf_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_gwf_merge_loc_conf(ngx_conf_t *cf, void *parent,
                                         void *child);
static char *ngx_http_gwf_metrics(ngx_conf_t *cf, ngx_command_t *cmd,
                                  void *conf);
static char *ngx_http_gwf_manifests(ngx_conf_t *cf, ngx_command_t *cmd,
                                    void *conf);
static char *ngx_http_gwf_route_ref(ngx_conf_t *cf, ngx_command_t *cmd,
                                    void *conf);
static ngx_int_t ngx_http_gwf_init_process(ngx_cycle_t *cycle);
static void ngx_http_gwf_exit_process(ngx_cycle_t *cycle);

static ngx_command_t ngx_http_gwf_commands[] = {
    {ngx_string("gwf_manifests"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
     ngx_http_gwf_manifests, NGX_HTTP_MAIN_CONF_OFFSET, 0, NULL},
    {ngx_string("gwf_plugin_path"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
     ngx_conf_set_str_slot, NGX_HTTP_MAIN_CONF_OFFSET,
     offsetof(ngx_http_gwf_main_conf_t, plugin_path), NULL},
    {ngx_string("gwf_max_pause"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
     ngx_conf_set_msec_slot, NGX_HTTP_MAIN_CONF_OFFSET,
     offsetof(ngx_http_gwf_main_conf_t, max_pause), NULL},
    {ngx_string("gwf_max_body"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
     ngx_conf_set_size_slot, NGX_HTTP_MAIN_CONF_OFFSET,
     offsetof(ngx_http_gwf_main_conf_t, max_body), NULL},
    {ngx_string("gwf_policy"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF |
         NGX_CONF_TAKE1,
     ngx_http_gwf_route_ref, NGX_HTTP_LOC_CONF_OFFSET,
     offsetof(ngx_http_gwf_loc_conf_t, policy), NULL},
    {ngx_string("gwf_direct_response"),
     NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1,
     ngx_http_gwf_route_ref, NGX_HTTP_LOC_CONF_OFFSET,
     offsetof(ngx_http_gwf_loc_conf_t, direct_response), NULL},
    {ngx_string("gwf_backend"),
     NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1,
     ngx_http_gwf_route_ref, NGX_HTTP_LOC_CONF_OFFSET,
     offsetof(ngx_http_gwf_loc_conf_t, backend), NULL},
    {ngx_string("gwf_extension"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF |
         NGX_CONF_TAKE1,
     ngx_http_gwf_route_ref, NGX_HTTP_LOC_CONF_OFFSET,
     offsetof(ngx_http_gwf_loc_conf_t, extensions), NULL},
    {ngx_string("gwf_metrics"), NGX_HTTP_LOC_CONF | NGX_CONF_NOARGS,
     ngx_http_gwf_metrics, NGX_HTTP_LOC_CONF_OFFSET, 0, NULL},
    ngx_null_command};

static ngx_http_module_t ngx_http_gwf_module_ctx = {
    NULL,                           /* preconfiguration */
    ngx_http_gwf_postconfiguration, /* postconfiguration */
    ngx_http_gwf_create_main_conf,  /* create main configuration */
    ngx_http_gwf_init_main_conf,    /* init main configuration */
    NULL,                           /* create server configuration */
    NULL,                           /* merge server configuration */
    ngx_http_gwf_create_loc_conf,   /* create location configuration */
    ngx_http_gwf_merge_loc_conf     /* merge location configuration */
};

ngx_module_t ngx_http_gwf_module = {
    NGX_MODULE_V1,
    &ngx_http_gwf_module_ctx,   /* module context */
    ngx_http_gwf_commands,      /* module directives */
    NGX_HTTP_MODULE,            /* module type */
    NULL,                       /* init master */
    NULL,                       /* init module */
    ngx_http_gwf_init_process,  /* init process */
    NULL,                       /* init thread */
    NULL,                       /* exit thread */
    ngx_http_gwf_exit_process,  /* exit process */
    NULL,                       /* exit master */
    NGX_MODULE_V1_PADDING};

static ngx_http_output_header_filter_pt ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt ngx_http_next_body_filter;

/* The worker's runtime state (one worker per process). */
static gwf_worker *gwf_ngx_worker;
static gwf_runtime *gwf_ngx_runtime;
static ngx_http_gwf_main_conf_t *gwf_ngx_main;

/* Moves on at every entry into the runtime (hooks, timer, fd and post
 * callbacks): nginx may have changed the header lists since the last one,
 * so the header indexes of an older epoch are rebuilt before use. */
static ngx_uint_t gwf_ngx_epoch = 1;

static void
hdr_new_epoch(void)
{
    gwf_ngx_epoch++;
}

/* ------------------------------------------------------------------------
 * Logging and helpers
 * --------------------------------------------------------------------- */

static void
gwf_ngx_log(void *ctx, gwf_log_level level, const char *instance,
            const char *msg, size_t len)
{
    static const ngx_uint_t levels[] = {NGX_LOG_DEBUG, NGX_LOG_INFO,
                                        NGX_LOG_WARN, NGX_LOG_ERR};
    ngx_log_t *log = ngx_cycle ? ngx_cycle->log : ctx;
    ngx_uint_t lv = level >= 0 && level <= 3 ? levels[level] : NGX_LOG_ERR;
    if (log)
        ngx_log_error(lv, log, 0, "gwf %s: %*s", instance, len, msg);
}

static char *
cstr(ngx_pool_t *pool, ngx_str_t *s)
{
    char *p = ngx_pnalloc(pool, s->len + 1);
    if (p) {
        ngx_memcpy(p, s->data, s->len);
        p[s->len] = '\0';
    }
    return p;
}

static void
log_errors(ngx_conf_t *cf, gwf_errors *e)
{
    for (size_t i = 0; i < e->count; i++)
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "gwf: %s", e->lines[i]);
    gwf_errors_free(e);
}

/* ------------------------------------------------------------------------
 * Configuration
 * --------------------------------------------------------------------- */

static void *
ngx_http_gwf_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_gwf_main_conf_t *mcf = ngx_pcalloc(cf->pool, sizeof *mcf);
    if (!mcf)
        return NULL;
    mcf->max_pause = NGX_CONF_UNSET_MSEC;
    mcf->max_body = NGX_CONF_UNSET_SIZE;
    return mcf;
}

static char *
ngx_http_gwf_manifests(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gwf_main_conf_t *mcf = conf;
    (void)cmd;
    if (!mcf->manifests) {
        mcf->manifests = ngx_array_create(cf->pool, 4, sizeof(ngx_str_t));
        if (!mcf->manifests)
            return NGX_CONF_ERROR;
    }
    ngx_str_t *value = cf->args->elts;
    ngx_str_t *path = ngx_array_push(mcf->manifests);
    if (!path)
        return NGX_CONF_ERROR;
    *path = value[1];
    /* Relative paths are relative to the configuration prefix, as for
     * every other nginx file. */
    if (ngx_conf_full_name(cf->cycle, path, 1) != NGX_OK)
        return NGX_CONF_ERROR;
    return NGX_CONF_OK;
}

/* gwf_policy, gwf_extension, gwf_direct_response, gwf_backend: store the
 * reference and remember where it was written. */
static char *
ngx_http_gwf_route_ref(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gwf_loc_conf_t *lcf = conf;
    char *rv = cmd->offset == offsetof(ngx_http_gwf_loc_conf_t, extensions)
                   ? ngx_conf_set_str_array_slot(cf, cmd, conf)
                   : ngx_conf_set_str_slot(cf, cmd, conf);
    if (rv == NGX_CONF_OK && !lcf->line) {
        lcf->file = cf->conf_file->file.name;
        lcf->line = cf->conf_file->line;
    }
    return rv;
}

static void
ngx_http_gwf_cleanup_runtime(void *data)
{
    gwf_runtime *rt = data;
    if (gwf_ngx_runtime == rt) {
        if (gwf_ngx_worker) {
            gwf_worker_stop(gwf_ngx_worker);
            gwf_ngx_worker = NULL;
        }
        gwf_ngx_runtime = NULL;
    }
    gwf_runtime_free(rt);
}

static char *
ngx_http_gwf_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_gwf_main_conf_t *mcf = conf;
    ngx_conf_init_msec_value(mcf->max_pause, 30000);
    ngx_conf_init_size_value(mcf->max_body, 1024 * 1024);
    mcf->log = cf->log;
    if (!mcf->manifests)
        return NGX_CONF_OK;

    gwf_runtime_options opts = {
        .plugin_path = mcf->plugin_path.len
                           ? cstr(cf->pool, &mcf->plugin_path)
                           : NULL,
        .log = gwf_ngx_log,
        .log_ctx = cf->log,
        .log_level = GWF_LOG_INFO,
        .max_pause_ns = (uint64_t)mcf->max_pause * 1000000,
        .max_body_bytes = mcf->max_body,
        .host_name = "nginx",
    };
    mcf->rt = gwf_runtime_new(&opts);
    if (!mcf->rt)
        return "gwf: out of memory creating the runtime";
    ngx_pool_cleanup_t *cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (!cln) {
        gwf_runtime_free(mcf->rt);
        return NGX_CONF_ERROR;
    }
    cln->handler = ngx_http_gwf_cleanup_runtime;
    cln->data = mcf->rt;

    gwf_errors e = {0};
    ngx_str_t *paths = mcf->manifests->elts;
    int failed = 0;
    for (ngx_uint_t i = 0; i < mcf->manifests->nelts; i++) {
        char *path = cstr(cf->pool, &paths[i]);
        if (!path || gwf_runtime_load(mcf->rt, path, &e) != 0)
            failed = 1;
    }
    /* Every document, referenced or not, must be valid: nginx -t is
     * the operator's check of the whole set. */
    if (!failed && gwf_runtime_validate(mcf->rt, &e) != 0)
        failed = 1;
    if (failed) {
        log_errors(cf, &e);
        return NGX_CONF_ERROR;
    }
    gwf_errors_free(&e);
    return NGX_CONF_OK;
}

static void *
ngx_http_gwf_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_gwf_loc_conf_t *lcf = ngx_pcalloc(cf->pool, sizeof *lcf);
    if (!lcf)
        return NULL;
    lcf->extensions = NGX_CONF_UNSET_PTR;
    lcf->metrics = NGX_CONF_UNSET;
    return lcf;
}

static char *
ngx_http_gwf_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_gwf_loc_conf_t *prev = parent;
    ngx_http_gwf_loc_conf_t *conf = child;
    ngx_conf_merge_str_value(conf->policy, prev->policy, "");
    ngx_conf_merge_str_value(conf->direct_response, prev->direct_response,
                             "");
    ngx_conf_merge_str_value(conf->backend, prev->backend, "");
    ngx_conf_merge_ptr_value(conf->extensions, prev->extensions, NULL);
    ngx_conf_merge_value(conf->metrics, prev->metrics, 0);
    if (!conf->line) {
        conf->file = prev->file;
        conf->line = prev->line;
    }

    if (!conf->policy.len && !conf->direct_response.len &&
        !conf->backend.len && !conf->extensions)
        return NGX_CONF_OK;

    ngx_http_gwf_main_conf_t *mcf =
        ngx_http_conf_get_module_main_conf(cf, ngx_http_gwf_module);
    if (!mcf->rt) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "gwf: a gwf_policy, gwf_extension, "
                           "gwf_direct_response or gwf_backend needs "
                           "gwf_manifests in the http block");
        return NGX_CONF_ERROR;
    }
    ngx_http_core_loc_conf_t *clcf =
        ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    size_t ext_count = conf->extensions ? conf->extensions->nelts : 0;
    const char **exts = ngx_pcalloc(cf->pool, (ext_count + 1) * sizeof *exts);
    if (!exts)
        return NGX_CONF_ERROR;
    for (size_t i = 0; i < ext_count; i++) {
        exts[i] = cstr(cf->pool, &((ngx_str_t *)conf->extensions->elts)[i]);
        if (!exts[i])
            return NGX_CONF_ERROR;
    }
    gwf_route_refs refs = {
        .policy = conf->policy.len ? cstr(cf->pool, &conf->policy) : NULL,
        .extensions = exts,
        .extension_count = ext_count,
        .direct_response = conf->direct_response.len
                               ? cstr(cf->pool, &conf->direct_response)
                               : NULL,
        .backend = conf->backend.len ? cstr(cf->pool, &conf->backend) : NULL,
        .route_name = clcf->name.len ? cstr(cf->pool, &clcf->name) : "server",
    };
    gwf_errors e = {0};
    conf->chain = gwf_runtime_chain(mcf->rt, &refs, &e);
    if (!conf->chain) {
        /* Point the message at the directive (it may be inherited from
         * an enclosing block), not at the end of the http block. */
        ngx_str_t file = cf->conf_file->file.name;
        ngx_uint_t line = cf->conf_file->line;
        if (conf->line) {
            cf->conf_file->file.name = conf->file;
            cf->conf_file->line = conf->line;
        }
        log_errors(cf, &e);
        cf->conf_file->file.name = file;
        cf->conf_file->line = line;
        return NGX_CONF_ERROR;
    }
    gwf_errors_free(&e);
    conf->want_body[GWF_REQUEST] =
        gwf_chain_wants_body(conf->chain, GWF_REQUEST);
    conf->want_body[GWF_RESPONSE] =
        gwf_chain_wants_body(conf->chain, GWF_RESPONSE);
    return NGX_CONF_OK;
}

/* ------------------------------------------------------------------------
 * Events: the runtime's gwf_event_ops on nginx
 * --------------------------------------------------------------------- */

typedef struct {
    ngx_event_t ev;
    void (*cb)(void *arg);
    void *arg;
} gwf_ngx_timer;

static void
gwf_ngx_timer_fired(ngx_event_t *ev)
{
    gwf_ngx_timer *t = ev->data;
    void (*cb)(void *) = t->cb;
    void *arg = t->arg;
    ngx_free(t);
    hdr_new_epoch();
    cb(arg);
}

static uint64_t
gwf_ngx_timer_start(void *ctx, uint64_t delay_ns, uint32_t flags,
                    void (*cb)(void *), void *arg)
{
    (void)ctx;
    gwf_ngx_timer *t = ngx_calloc(sizeof *t, ngx_cycle->log);
    if (!t)
        return 0;
    t->cb = cb;
    t->arg = arg;
    t->ev.handler = gwf_ngx_timer_fired;
    t->ev.data = t;
    t->ev.log = ngx_cycle->log;
    /* A graceful shutdown (reload, QUIT) waits for the timers of requests
     * in flight, so a paused request finishes; worker-scope timers must
     * not hold it up. */
    t->ev.cancelable = !(flags & GWF_EV_STREAM);
    ngx_msec_t ms = (ngx_msec_t)((delay_ns + 999999) / 1000000);
    ngx_add_timer(&t->ev, ms);
    return (uint64_t)(uintptr_t)t;
}

static int
gwf_ngx_timer_cancel(void *ctx, uint64_t id)
{
    (void)ctx;
    gwf_ngx_timer *t = (gwf_ngx_timer *)(uintptr_t)id;
    if (t->ev.timer_set) {
        ngx_del_timer(&t->ev);
    }
    ngx_free(t);
    return 0;
}

typedef struct {
    ngx_connection_t *c;
    void (*cb)(void *arg, int fd, uint32_t events);
    void *arg;
    uint32_t events;
} gwf_ngx_watch;

static void
gwf_ngx_fd_ready(ngx_event_t *ev)
{
    ngx_connection_t *c = ev->data;
    gwf_ngx_watch *w = c->data;
    uint32_t events = ev->write ? GWF_FD_WRITE : GWF_FD_READ;
    if (ev->error || (!ev->write && ev->eof))
        events |= GWF_FD_ERROR;
    if (!(w->events & events & (GWF_FD_READ | GWF_FD_WRITE)))
        return;
    hdr_new_epoch();
    w->cb(w->arg, (int)c->fd, events); /* may cancel (free) w */
}

static int
gwf_ngx_fd_apply(gwf_ngx_watch *w, uint32_t events)
{
    ngx_connection_t *c = w->c;
    if ((events & GWF_FD_READ) && !c->read->active) {
        if (ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT) != NGX_OK)
            return -1;
    } else if (!(events & GWF_FD_READ) && c->read->active) {
        if (ngx_del_event(c->read, NGX_READ_EVENT, 0) != NGX_OK)
            return -1;
    }
    if ((events & GWF_FD_WRITE) && !c->write->active) {
        if (ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT) !=
            NGX_OK)
            return -1;
    } else if (!(events & GWF_FD_WRITE) && c->write->active) {
        if (ngx_del_event(c->write, NGX_WRITE_EVENT, 0) != NGX_OK)
            return -1;
    }
    w->events = events;
    return 0;
}

static uint64_t
gwf_ngx_fd_watch(void *ctx, int fd, uint32_t events,
                 void (*cb)(void *, int, uint32_t), void *arg)
{
    (void)ctx;
    gwf_ngx_watch *w = ngx_calloc(sizeof *w, ngx_cycle->log);
    if (!w)
        return 0;
    ngx_connection_t *c = ngx_get_connection(fd, ngx_cycle->log);
    if (!c) {
        ngx_free(w);
        return 0;
    }
    c->data = w;
    c->read->handler = gwf_ngx_fd_ready;
    c->write->handler = gwf_ngx_fd_ready;
    c->read->log = c->write->log = ngx_cycle->log;
    w->c = c;
    w->cb = cb;
    w->arg = arg;
    if (gwf_ngx_fd_apply(w, events) != 0) {
        ngx_free_connection(c);
        c->fd = (ngx_socket_t)-1;
        ngx_free(w);
        return 0;
    }
    return (uint64_t)(uintptr_t)w;
}

static int
gwf_ngx_fd_update(void *ctx, uint64_t id, uint32_t events)
{
    (void)ctx;
    return gwf_ngx_fd_apply((gwf_ngx_watch *)(uintptr_t)id, events);
}

static int
gwf_ngx_fd_cancel(void *ctx, uint64_t id)
{
    (void)ctx;
    gwf_ngx_watch *w = (gwf_ngx_watch *)(uintptr_t)id;
    ngx_connection_t *c = w->c;
    gwf_ngx_fd_apply(w, 0);
    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }
    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }
    /* The plugin owns the fd: give back the connection, never close. */
    ngx_free_connection(c);
    c->fd = (ngx_socket_t)-1;
    ngx_free(w);
    return 0;
}

/* Cross-thread posts: a mutex-protected queue and an eventfd the worker
 * watches. (ngx_notify is not used: the thread pools own its single
 * handler slot.) */
typedef struct gwf_ngx_post {
    void (*cb)(void *);
    void (*release)(void *);
    void *arg;
    struct gwf_ngx_post *next;
} gwf_ngx_post;

static pthread_mutex_t gwf_post_lock = PTHREAD_MUTEX_INITIALIZER;
static gwf_ngx_post *gwf_post_head, *gwf_post_tail;
static int gwf_post_fd = -1;
static ngx_connection_t *gwf_post_conn;

static int
gwf_ngx_post_cb(void *ctx, void (*cb)(void *), void (*release)(void *),
                void *arg)
{
    (void)ctx;
    gwf_ngx_post *p = malloc(sizeof *p);
    if (!p)
        return -1;
    p->cb = cb;
    p->release = release;
    p->arg = arg;
    p->next = NULL;
    pthread_mutex_lock(&gwf_post_lock);
    if (gwf_post_fd < 0) {
        pthread_mutex_unlock(&gwf_post_lock);
        free(p);
        return -1;
    }
    if (gwf_post_tail)
        gwf_post_tail->next = p;
    else
        gwf_post_head = p;
    gwf_post_tail = p;
    uint64_t one = 1;
    ssize_t n = write(gwf_post_fd, &one, sizeof one);
    (void)n; /* a full counter still wakes the reader */
    pthread_mutex_unlock(&gwf_post_lock);
    return 0;
}

static void
gwf_ngx_posts_ready(ngx_event_t *ev)
{
    (void)ev;
    uint64_t count;
    ssize_t n = read(gwf_post_fd, &count, sizeof count);
    (void)n;
    pthread_mutex_lock(&gwf_post_lock);
    gwf_ngx_post *p = gwf_post_head;
    gwf_post_head = gwf_post_tail = NULL;
    pthread_mutex_unlock(&gwf_post_lock);
    while (p) {
        gwf_ngx_post *next = p->next;
        hdr_new_epoch();
        p->cb(p->arg);
        free(p);
        p = next;
    }
}

static uint64_t
gwf_ngx_now(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static const gwf_event_ops gwf_ngx_events = {
    .timer_start = gwf_ngx_timer_start,
    .timer_cancel = gwf_ngx_timer_cancel,
    .fd_watch = gwf_ngx_fd_watch,
    .fd_update = gwf_ngx_fd_update,
    .fd_cancel = gwf_ngx_fd_cancel,
    .post = gwf_ngx_post_cb,
    .now = gwf_ngx_now,
};

static ngx_int_t
gwf_ngx_posts_start(ngx_cycle_t *cycle)
{
    gwf_post_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (gwf_post_fd < 0) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                      "gwf: eventfd() failed");
        return NGX_ERROR;
    }
    gwf_post_conn = ngx_get_connection(gwf_post_fd, cycle->log);
    if (!gwf_post_conn)
        return NGX_ERROR;
    gwf_post_conn->read->handler = gwf_ngx_posts_ready;
    gwf_post_conn->read->log = cycle->log;
    if (ngx_add_event(gwf_post_conn->read, NGX_READ_EVENT, NGX_LEVEL_EVENT) !=
        NGX_OK)
        return NGX_ERROR;
    return NGX_OK;
}

static void
gwf_ngx_posts_stop(void)
{
    if (gwf_post_conn) {
        ngx_del_event(gwf_post_conn->read, NGX_READ_EVENT, 0);
        ngx_free_connection(gwf_post_conn);
        gwf_post_conn->fd = (ngx_socket_t)-1;
        gwf_post_conn = NULL;
    }
    pthread_mutex_lock(&gwf_post_lock);
    gwf_ngx_post *p = gwf_post_head;
    gwf_post_head = gwf_post_tail = NULL;
    if (gwf_post_fd >= 0)
        close(gwf_post_fd);
    gwf_post_fd = -1;
    pthread_mutex_unlock(&gwf_post_lock);
    while (p) {
        gwf_ngx_post *next = p->next;
        if (p->release)
            p->release(p->arg);
        free(p);
        p = next;
    }
}

/* ------------------------------------------------------------------------
 * Metrics across workers
 * --------------------------------------------------------------------- */

typedef struct {
    ngx_atomic_t lock;
    uint64_t generation;  /* the cycle that wrote it */
    size_t len;
    u_char text[GWF_METRICS_SLOT_SIZE];
} gwf_metrics_slot;

static ngx_event_t gwf_metrics_timer;

static ngx_int_t
gwf_metrics_zone_init(ngx_shm_zone_t *zone, void *data)
{
    if (data) {
        /* A reload: the zone and its slots carry over. */
        zone->data = data;
        return NGX_OK;
    }
    ngx_slab_pool_t *shpool = (ngx_slab_pool_t *)zone->shm.addr;
    gwf_metrics_slot *slots =
        ngx_slab_calloc(shpool, sizeof(gwf_metrics_slot) * GWF_METRICS_SLOTS);
    if (!slots)
        return NGX_ERROR;
    zone->data = slots;
    return NGX_OK;
}

static gwf_metrics_slot *
gwf_metrics_slots(void)
{
    if (!gwf_ngx_main || !gwf_ngx_main->metrics_zone)
        return NULL;
    return gwf_ngx_main->metrics_zone->data;
}

static void
gwf_metrics_publish(void)
{
    gwf_metrics_slot *slots = gwf_metrics_slots();
    if (!slots || !gwf_ngx_runtime || ngx_worker >= GWF_METRICS_SLOTS)
        return;
    char *text = gwf_runtime_metrics_text(gwf_ngx_runtime);
    if (!text)
        return;
    gwf_metrics_slot *slot = &slots[ngx_worker];
    size_t len = ngx_strlen(text);
    if (len > GWF_METRICS_SLOT_SIZE) {
        /* Cut at the last whole line: the sum misses the tail, but never
         * reads half a series. */
        len = GWF_METRICS_SLOT_SIZE;
        while (len && text[len - 1] != '\n')
            len--;
    }
    ngx_spinlock(&slot->lock, ngx_pid, 1024);
    ngx_memcpy(slot->text, text, len);
    slot->len = len;
    slot->generation = (uint64_t)(uintptr_t)ngx_cycle;
    ngx_unlock(&slot->lock);
    free(text);
}

static void
gwf_metrics_tick(ngx_event_t *ev)
{
    gwf_metrics_publish();
    if (!ngx_exiting) {
        ngx_add_timer(ev, 1000);
    }
}

/* Sum "series value" lines across snapshots, keeping first-seen order
 * and one copy of each # HELP / # TYPE line. */
typedef struct {
    ngx_str_t key;   /* the series, or the whole comment line */
    double value;
    ngx_uint_t comment;
} gwf_metric_line;

static ngx_int_t
gwf_metrics_merge(ngx_array_t *lines, ngx_pool_t *pool, u_char *text,
                  size_t len)
{
    u_char *p = text, *end = text + len;
    while (p < end) {
        u_char *eol = ngx_strlchr(p, end, '\n');
        if (!eol)
            eol = end;
        ngx_str_t line = {(size_t)(eol - p), p};
        p = eol + 1;
        if (line.len == 0)
            continue;
        ngx_uint_t comment = line.data[0] == '#';
        ngx_str_t key = line;
        double value = 0;
        if (!comment) {
            u_char *space = line.data + line.len;
            while (space > line.data && space[-1] != ' ')
                space--;
            if (space == line.data)
                continue;
            key.len = (size_t)(space - 1 - line.data);
            char num[64];
            size_t n = (size_t)(line.data + line.len - space);
            if (n >= sizeof num)
                continue;
            ngx_memcpy(num, space, n);
            num[n] = '\0';
            value = strtod(num, NULL);
        }
        gwf_metric_line *l = lines->elts;
        ngx_uint_t i;
        for (i = 0; i < lines->nelts; i++)
            if (l[i].key.len == key.len &&
                ngx_memcmp(l[i].key.data, key.data, key.len) == 0)
                break;
        if (i < lines->nelts) {
            if (!comment)
                l[i].value += value;
            continue;
        }
        gwf_metric_line *nl = ngx_array_push(lines);
        if (!nl)
            return NGX_ERROR;
        nl->key.data = ngx_pnalloc(pool, key.len);
        if (!nl->key.data)
            return NGX_ERROR;
        ngx_memcpy(nl->key.data, key.data, key.len);
        nl->key.len = key.len;
        nl->value = value;
        nl->comment = comment;
    }
    return NGX_OK;
}

static ngx_int_t
gwf_metrics_handler(ngx_http_request_t *r)
{
    if (!(r->method & (NGX_HTTP_GET | NGX_HTTP_HEAD)))
        return NGX_HTTP_NOT_ALLOWED;
    ngx_int_t rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK)
        return rc;
    gwf_metrics_publish();
    ngx_array_t *lines = ngx_array_create(r->pool, 64, sizeof(gwf_metric_line));
    if (!lines)
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    gwf_metrics_slot *slots = gwf_metrics_slots();
    if (slots) {
        for (ngx_uint_t i = 0; i < GWF_METRICS_SLOTS; i++) {
            gwf_metrics_slot *slot = &slots[i];
            if (slot->generation != (uint64_t)(uintptr_t)ngx_cycle)
                continue;
            ngx_spinlock(&slot->lock, ngx_pid, 1024);
            u_char *copy = ngx_pnalloc(r->pool, slot->len ? slot->len : 1);
            size_t len = slot->len;
            if (copy)
                ngx_memcpy(copy, slot->text, len);
            ngx_unlock(&slot->lock);
            if (!copy || gwf_metrics_merge(lines, r->pool, copy, len) != NGX_OK)
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    } else if (gwf_ngx_runtime) {
        char *text = gwf_runtime_metrics_text(gwf_ngx_runtime);
        ngx_int_t ok = text ? gwf_metrics_merge(lines, r->pool, (u_char *)text,
                                                ngx_strlen(text))
                            : NGX_ERROR;
        free(text);
        if (ok != NGX_OK)
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    size_t size = 1;
    gwf_metric_line *l = lines->elts;
    for (ngx_uint_t i = 0; i < lines->nelts; i++)
        size += l[i].key.len + 40;
    ngx_buf_t *b = ngx_create_temp_buf(r->pool, size);
    if (!b)
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    for (ngx_uint_t i = 0; i < lines->nelts; i++) {
        b->last = ngx_cpymem(b->last, l[i].key.data, l[i].key.len);
        if (!l[i].comment) {
            char num[40];
            int n = snprintf(num, sizeof num, " %.15g", l[i].value);
            b->last = ngx_cpymem(b->last, num, (size_t)n);
        }
        *b->last++ = '\n';
    }
    b->last_buf = (r == r->main);
    b->last_in_chain = 1;
    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b->last - b->pos;
    if (b->last == b->pos)
        r->header_only = 1; /* no metric at all: an empty 200 */
    ngx_str_set(&r->headers_out.content_type, "text/plain; version=0.0.4");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only)
        return rc;
    ngx_chain_t out = {b, NULL};
    return ngx_http_output_filter(r, &out);
}

static char *
ngx_http_gwf_metrics(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    (void)cmd;
    ngx_http_gwf_loc_conf_t *lcf = conf;
    lcf->metrics = 1;
    ngx_http_core_loc_conf_t *clcf =
        ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = gwf_metrics_handler;
    ngx_http_gwf_main_conf_t *mcf =
        ngx_http_conf_get_module_main_conf(cf, ngx_http_gwf_module);
    if (!mcf->metrics_zone) {
        ngx_str_t name = ngx_string("gwf_metrics");
        size_t size = sizeof(gwf_metrics_slot) * GWF_METRICS_SLOTS +
                      64 * ngx_pagesize;
        mcf->metrics_zone =
            ngx_shared_memory_add(cf, &name, size, &ngx_http_gwf_module);
        if (!mcf->metrics_zone)
            return NGX_CONF_ERROR;
        mcf->metrics_zone->init = gwf_metrics_zone_init;
    }
    return NGX_CONF_OK;
}

/* ------------------------------------------------------------------------
 * Processes
 * --------------------------------------------------------------------- */

static ngx_int_t
ngx_http_gwf_init_process(ngx_cycle_t *cycle)
{
    ngx_http_gwf_main_conf_t *mcf =
        ngx_http_cycle_get_module_main_conf(cycle, ngx_http_gwf_module);
    if (!mcf || !mcf->rt)
        return NGX_OK;
    if (ngx_process != NGX_PROCESS_WORKER &&
        ngx_process != NGX_PROCESS_SINGLE)
        return NGX_OK;
    gwf_ngx_main = mcf;
    gwf_ngx_runtime = mcf->rt;
    if (gwf_ngx_posts_start(cycle) != NGX_OK)
        return NGX_ERROR;
    ngx_core_conf_t *ccf =
        (ngx_core_conf_t *)ngx_get_conf(cycle->conf_ctx, ngx_core_module);
    uint32_t count = ccf && ccf->worker_processes > 0
                         ? (uint32_t)ccf->worker_processes
                         : 1;
    uint32_t index = ngx_process == NGX_PROCESS_WORKER ? (uint32_t)ngx_worker
                                                       : 0;
    gwf_errors e = {0};
    gwf_ngx_worker = gwf_worker_start(mcf->rt, index, count,
                                      &gwf_ngx_events, &e);
    for (size_t i = 0; i < e.count; i++)
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0, "gwf: %s", e.lines[i]);
    gwf_errors_free(&e);
    if (!gwf_ngx_worker)
        return NGX_ERROR;
    if (mcf->metrics_zone) {
        gwf_metrics_timer.handler = gwf_metrics_tick;
        gwf_metrics_timer.log = cycle->log;
        gwf_metrics_timer.cancelable = 1;
        ngx_add_timer(&gwf_metrics_timer, 1000);
    }
    return NGX_OK;
}

static void
ngx_http_gwf_exit_process(ngx_cycle_t *cycle)
{
    (void)cycle;
    if (gwf_metrics_timer.timer_set) {
        ngx_del_timer(&gwf_metrics_timer);
    }
    /* Queued posts are dropped (their release runs) while the worker
     * they name still exists. */
    gwf_ngx_posts_stop();
    if (gwf_ngx_worker) {
        gwf_worker_stop(gwf_ngx_worker);
        gwf_ngx_worker = NULL;
    }
}

/* ------------------------------------------------------------------------
 * Header index
 *
 * nginx keeps a message's headers in an ngx_list_t: appending is cheap,
 * but finding a name or the i-th header walks every part from the start,
 * so a plugin setting n headers (an authz answer with 40,000 of them) cost
 * O(n^2) and held the worker for seconds. Each message therefore has an
 * index: a hash table from a name (case-insensitively) to that name's
 * live elements in list order, the count of live elements and a cursor
 * for positional reads. get/set/add/remove cost O(1) amortised plus the
 * number of elements of that one name; header_at in order is O(1) each.
 *
 * Removal marks elements (hash = 0), as nginx itself does. The response
 * header filters skip marked elements, but the upstream modules forward
 * every request element, so the request list is compacted once before the
 * request goes on (hdr_compact_request) and whenever the marks outnumber
 * the live headers, which keeps compaction amortised O(1).
 *
 * nginx and its modules change the lists between the module's calls into
 * the runtime (the upstream's headers arrive, error pages clear them), so
 * an index holds for one epoch: gwf_ngx_epoch moves on at every entry into
 * the runtime, and an index of an older epoch is rebuilt (O(n)) on its
 * first use in the new one.
 * --------------------------------------------------------------------- */

static ngx_uint_t
name_is(const char *name, size_t len, const char *lit)
{
    size_t n = ngx_strlen(lit);
    return len == n && ngx_strncasecmp((u_char *)name, (u_char *)lit, n) == 0;
}

static hdr_name_t *
hdr_find(hdr_index_t *idx, const char *name, size_t len, ngx_uint_t hash)
{
    for (hdr_name_t *n = idx->buckets[hash % idx->nbuckets]; n; n = n->next)
        if (n->hash == hash && n->key.len == len &&
            ngx_strncasecmp(n->key.data, (u_char *)name, len) == 0)
            return n;
    return NULL;
}

/* The live elements named `name`, or NULL if there are none. */
static ngx_array_t *
hdr_lookup(hdr_index_t *idx, const char *name, size_t len)
{
    hdr_name_t *n =
        hdr_find(idx, name, len, ngx_hash_key_lc((u_char *)name, len));
    return n && n->elts.nelts ? &n->elts : NULL;
}

static ngx_uint_t
hdr_live(hdr_index_t *idx, const char *name)
{
    ngx_array_t *elts = hdr_lookup(idx, name, ngx_strlen(name));
    return elts ? elts->nelts : 0;
}

/* Doubles the bucket table once there are as many names as buckets. */
static ngx_int_t
hdr_grow(ngx_pool_t *pool, hdr_index_t *idx)
{
    ngx_uint_t size = idx->nbuckets ? idx->nbuckets * 2 : 64;
    hdr_name_t **buckets = ngx_pcalloc(pool, size * sizeof *buckets);
    if (!buckets)
        return NGX_ERROR;
    for (ngx_uint_t b = 0; b < idx->nbuckets; b++) {
        hdr_name_t *n = idx->buckets[b];
        while (n) {
            hdr_name_t *next = n->next;
            n->next = buckets[n->hash % size];
            buckets[n->hash % size] = n;
            n = next;
        }
    }
    idx->buckets = buckets;
    idx->nbuckets = size;
    return NGX_OK;
}

/* A name entry, from the ones a rebuild gave back when there are. */
static hdr_name_t *
hdr_name_new(ngx_pool_t *pool, hdr_index_t *idx)
{
    hdr_name_t *n = idx->spare;
    if (n) {
        idx->spare = n->next;
        n->elts.nelts = 0;
        return n;
    }
    n = ngx_palloc(pool, sizeof *n);
    if (!n ||
        ngx_array_init(&n->elts, pool, 1, sizeof(ngx_table_elt_t *)) != NGX_OK)
        return NULL;
    return n;
}

/* Records `h`, the list's newest element, as the last of its name. */
static ngx_int_t
hdr_index_push(ngx_pool_t *pool, hdr_index_t *idx, ngx_table_elt_t *h)
{
    ngx_uint_t hash = ngx_hash_key_lc(h->key.data, h->key.len);
    hdr_name_t *n = hdr_find(idx, (const char *)h->key.data, h->key.len, hash);
    if (!n) {
        if (idx->names >= idx->nbuckets && hdr_grow(pool, idx) != NGX_OK)
            return NGX_ERROR;
        n = hdr_name_new(pool, idx);
        if (!n)
            return NGX_ERROR;
        n->hash = hash;
        n->key = h->key;
        n->next = idx->buckets[hash % idx->nbuckets];
        idx->buckets[hash % idx->nbuckets] = n;
        idx->names++;
    }
    ngx_table_elt_t **slot = ngx_array_push(&n->elts);
    if (!slot)
        return NGX_ERROR;
    *slot = h;
    idx->live++;
    return NGX_OK;
}

static ngx_int_t
hdr_rebuild(ngx_pool_t *pool, hdr_index_t *idx, ngx_list_t *list)
{
    for (ngx_uint_t b = 0; b < idx->nbuckets; b++) {
        hdr_name_t *n = idx->buckets[b];
        while (n) {
            hdr_name_t *next = n->next;
            n->next = idx->spare;
            idx->spare = n;
            n = next;
        }
        idx->buckets[b] = NULL;
    }
    idx->epoch = 0; /* stays invalid if this fails half-way */
    idx->list = list;
    idx->names = idx->live = idx->marked = 0;
    idx->cursor_part = NULL;
    if (!idx->nbuckets && hdr_grow(pool, idx) != NGX_OK)
        return NGX_ERROR;
    for (ngx_list_part_t *part = &list->part; part; part = part->next) {
        ngx_table_elt_t *h = part->elts;
        for (ngx_uint_t i = 0; i < part->nelts; i++) {
            if (h[i].hash == 0)
                idx->marked++;
            else if (hdr_index_push(pool, idx, &h[i]) != NGX_OK)
                return NGX_ERROR;
        }
    }
    idx->epoch = gwf_ngx_epoch;
    return NGX_OK;
}

static ngx_list_t *
msg_list(ngx_http_gwf_msg_t *m)
{
    return m->is_response ? &m->r->headers_out.headers
                          : &m->r->headers_in.headers;
}

/* The message's index, valid for the current list; NULL: no memory. */
static hdr_index_t *
hdr_index(ngx_http_gwf_msg_t *m)
{
    hdr_index_t *idx = &m->index;
    ngx_list_t *list = msg_list(m);
    if (idx->epoch == gwf_ngx_epoch && idx->list == list)
        return idx;
    return hdr_rebuild(m->r->pool, idx, list) == NGX_OK ? idx : NULL;
}

/* Marks every element of one name removed. */
static void
hdr_mark(hdr_index_t *idx, ngx_array_t *elts)
{
    ngx_table_elt_t **h = elts->elts;
    for (ngx_uint_t i = 0; i < elts->nelts; i++)
        h[i]->hash = 0;
    idx->live -= elts->nelts;
    idx->marked += elts->nelts;
    elts->nelts = 0;
    idx->cursor_part = NULL; /* positions after the marks moved */
}

/* Whether header_at shows `h`: the response's Content-Type and
 * Content-Length are shown from headers_out's own fields instead. */
static ngx_uint_t
hdr_shown(ngx_http_gwf_msg_t *m, ngx_table_elt_t *h)
{
    if (h->hash == 0)
        return 0;
    return !m->is_response ||
           (!name_is((const char *)h->key.data, h->key.len, "content-type") &&
            !name_is((const char *)h->key.data, h->key.len, "content-length"));
}

/* The pos-th shown element. Reads in increasing order go on from the
 * last one found, so a walk over all headers is linear. */
static ngx_table_elt_t *
hdr_at(ngx_http_gwf_msg_t *m, hdr_index_t *idx, size_t pos)
{
    ngx_list_part_t *part = &idx->list->part;
    ngx_uint_t i = 0;
    size_t k = 0;
    if (idx->cursor_part && idx->cursor_pos <= pos) {
        part = idx->cursor_part;
        i = idx->cursor_i;
        k = idx->cursor_pos;
    }
    for (; part; part = part->next, i = 0) {
        ngx_table_elt_t *h = part->elts;
        for (; i < part->nelts; i++) {
            if (!hdr_shown(m, &h[i]))
                continue;
            if (k == pos) {
                idx->cursor_part = part;
                idx->cursor_i = i;
                idx->cursor_pos = pos;
                return &h[i];
            }
            k++;
        }
    }
    return NULL;
}

/* Drops the marked elements from the request list, which the upstream
 * modules would forward. The fields of headers_in that pointed at the old
 * elements keep pointing at them: same memory, same text. */
static ngx_int_t
hdr_compact_request(ngx_http_gwf_msg_t *m)
{
    hdr_index_t *idx = &m->index;
    ngx_list_t *list = &m->r->headers_in.headers;
    if (!idx->marked)
        return NGX_OK;
    ngx_uint_t live = 0;
    for (ngx_list_part_t *part = &list->part; part; part = part->next) {
        ngx_table_elt_t *h = part->elts;
        for (ngx_uint_t i = 0; i < part->nelts; i++)
            live += h[i].hash != 0;
    }
    /* The old parts stay valid in the pool while the list is rebuilt in
     * place (a list copied by value would point into this frame). */
    ngx_list_part_t old = list->part;
    if (ngx_list_init(list, m->r->pool, live ? live : 20,
                      sizeof(ngx_table_elt_t)) != NGX_OK)
        return NGX_ERROR;
    idx->epoch = 0; /* every element moved */
    idx->marked = 0;
    for (ngx_list_part_t *part = &old; part; part = part->next) {
        ngx_table_elt_t *h = part->elts;
        for (ngx_uint_t i = 0; i < part->nelts; i++) {
            if (h[i].hash == 0)
                continue;
            ngx_table_elt_t *copy = ngx_list_push(list);
            if (!copy)
                return NGX_ERROR;
            *copy = h[i];
        }
    }
    return NGX_OK;
}

static ngx_table_elt_t *
list_add(ngx_http_request_t *r, ngx_list_t *list, const char *name,
         size_t name_len, const char *value, size_t value_len)
{
    ngx_table_elt_t *h = ngx_list_push(list);
    if (!h)
        return NULL;
    /* One allocation for the three texts: a plugin may add many. */
    u_char *text = ngx_pnalloc(r->pool, 2 * name_len + value_len + 1);
    if (!text) {
        h->hash = 0;
        return NULL;
    }
    h->key.data = text;
    h->lowcase_key = text + name_len;
    h->value.data = text + 2 * name_len;
    ngx_memcpy(h->key.data, name, name_len);
    h->key.len = name_len;
    ngx_strlow(h->lowcase_key, (u_char *)name, name_len);
    ngx_memcpy(h->value.data, value, value_len);
    h->value.len = value_len;
    h->hash = ngx_hash_key(h->lowcase_key, name_len);
    return h;
}

/* Appends a header to the message's list and its index. */
static ngx_table_elt_t *
hdr_add(ngx_http_gwf_msg_t *m, hdr_index_t *idx, const char *name, size_t len,
        const char *value, size_t value_len)
{
    ngx_table_elt_t *h =
        list_add(m->r, msg_list(m), name, len, value, value_len);
    if (!h) {
        idx->epoch = 0; /* a marked element may have been pushed */
        return NULL;
    }
    if (hdr_index_push(m->r->pool, idx, h) != NGX_OK) {
        idx->epoch = 0; /* rebuilt from the list on next use */
        return NULL;
    }
    return h;
}

/* The nth element named `name`, or NULL. */
static ngx_table_elt_t *
hdr_get(hdr_index_t *idx, const char *name, size_t len, size_t index)
{
    ngx_array_t *elts = hdr_lookup(idx, name, len);
    if (!elts || index >= elts->nelts)
        return NULL;
    return ((ngx_table_elt_t **)elts->elts)[index];
}

/* ------------------------------------------------------------------------
 * Request headers as gwf_message_ops
 * --------------------------------------------------------------------- */

static gwf_status
req_get(ngx_http_gwf_msg_t *m, const char *name, size_t len, size_t index,
        gwf_view *v)
{
    ngx_http_request_t *r = m->r;
    if (len && name[0] == ':') {
        if (index)
            return GWF_ERR_NOT_FOUND;
        if (name_is(name, len, ":method")) {
            v->ptr = (const char *)r->method_name.data;
            v->len = r->method_name.len;
        } else if (name_is(name, len, ":path")) {
            v->ptr = (const char *)r->unparsed_uri.data;
            v->len = r->unparsed_uri.len;
        } else if (name_is(name, len, ":scheme")) {
#if (NGX_HTTP_SSL)
            v->ptr = r->connection->ssl ? "https" : "http";
#else
            v->ptr = "http";
#endif
            v->len = ngx_strlen(v->ptr);
        } else if (name_is(name, len, ":authority")) {
            if (!r->headers_in.host)
                return GWF_ERR_NOT_FOUND;
            v->ptr = (const char *)r->headers_in.host->value.data;
            v->len = r->headers_in.host->value.len;
        } else {
            return GWF_ERR_NOT_FOUND;
        }
        return GWF_OK;
    }
    hdr_index_t *idx = hdr_index(m);
    if (!idx)
        return GWF_ERR_NO_MEMORY;
    ngx_table_elt_t *h = hdr_get(idx, name, len, index);
    if (!h)
        return GWF_ERR_NOT_FOUND;
    v->ptr = (const char *)h->value.data;
    v->len = h->value.len;
    return GWF_OK;
}

static size_t
req_count(ngx_http_gwf_msg_t *m)
{
    hdr_index_t *idx = hdr_index(m);
    return idx ? idx->live : 0;
}

static gwf_status
req_at(ngx_http_gwf_msg_t *m, size_t index, gwf_view *name, gwf_view *value)
{
    hdr_index_t *idx = hdr_index(m);
    if (!idx)
        return GWF_ERR_NO_MEMORY;
    ngx_table_elt_t *h = hdr_at(m, idx, index);
    if (!h)
        return GWF_ERR_NOT_FOUND;
    name->ptr = (const char *)h->key.data;
    name->len = h->key.len;
    value->ptr = (const char *)h->value.data;
    value->len = h->value.len;
    return GWF_OK;
}

/* The headers_in fields nginx and its modules read directly. */
static ngx_table_elt_t **
req_field(ngx_http_request_t *r, const char *name, size_t len)
{
    if (name_is(name, len, "host"))
        return &r->headers_in.host;
    if (name_is(name, len, "content-length"))
        return &r->headers_in.content_length;
    if (name_is(name, len, "content-type"))
        return &r->headers_in.content_type;
    if (name_is(name, len, "authorization"))
        return &r->headers_in.authorization;
    if (name_is(name, len, "user-agent"))
        return &r->headers_in.user_agent;
    if (name_is(name, len, "referer"))
        return &r->headers_in.referer;
    return NULL;
}

/* The headers nginx also keeps as arrays of pointers, read by variables
 * such as $http_cookie and $proxy_add_x_forwarded_for. */
static ngx_array_t *
req_array(ngx_http_request_t *r, const char *name, size_t len)
{
    if (name_is(name, len, "cookie"))
        return &r->headers_in.cookies;
#if (NGX_HTTP_X_FORWARDED_FOR)
    if (name_is(name, len, "x-forwarded-for"))
        return &r->headers_in.x_forwarded_for;
#endif
    return NULL;
}

/* Marks the name's elements; the list is compacted when the marks
 * outnumber the live headers and before the request goes upstream. */
static gwf_status
req_remove(ngx_http_gwf_msg_t *m, const char *name, size_t len)
{
    ngx_http_request_t *r = m->r;
    if (len && name[0] == ':')
        return GWF_ERR_BAD_ARGUMENT;
    hdr_index_t *idx = hdr_index(m);
    if (!idx)
        return GWF_ERR_NO_MEMORY;
    ngx_array_t *elts = hdr_lookup(idx, name, len);
    if (!elts)
        return GWF_OK;
    hdr_mark(idx, elts);
    ngx_table_elt_t **field = req_field(r, name, len);
    if (field)
        *field = NULL;
    ngx_array_t *array = req_array(r, name, len);
    if (array)
        array->nelts = 0;
    if (name_is(name, len, "host")) {
        ngx_str_null(&r->headers_in.server);
    }
    if (name_is(name, len, "content-length"))
        r->headers_in.content_length_n = -1;
    if (idx->marked > idx->live + 64 && hdr_compact_request(m) != NGX_OK)
        return GWF_ERR_NO_MEMORY;
    return GWF_OK;
}

static gwf_status
req_add(ngx_http_gwf_msg_t *m, const char *name, size_t len, const char *value,
        size_t value_len)
{
    ngx_http_request_t *r = m->r;
    if (len && name[0] == ':') {
        if (!name_is(name, len, ":authority"))
            return GWF_ERR_BAD_ARGUMENT;
        name = "host";
        len = 4;
    }
    hdr_index_t *idx = hdr_index(m);
    if (!idx)
        return GWF_ERR_NO_MEMORY;
    ngx_table_elt_t *h = hdr_add(m, idx, name, len, value, value_len);
    if (!h)
        return GWF_ERR_NO_MEMORY;
    ngx_table_elt_t **field = req_field(r, name, len);
    if (field && !*field)
        *field = h;
    ngx_array_t *array = req_array(r, name, len);
    if (array) {
        if (!array->pool && ngx_array_init(array, r->pool, 2,
                                           sizeof(ngx_table_elt_t *)) != NGX_OK)
            return GWF_ERR_NO_MEMORY;
        ngx_table_elt_t **slot = ngx_array_push(array);
        if (!slot)
            return GWF_ERR_NO_MEMORY;
        *slot = h;
    }
    if (name_is(name, len, "host") && r->headers_in.host == h)
        r->headers_in.server = h->value;
    if (name_is(name, len, "content-length"))
        r->headers_in.content_length_n = ngx_atoof(h->value.data, h->value.len);
    return GWF_OK;
}

static ngx_str_t
pool_str(ngx_pool_t *pool, const char *s, size_t len)
{
    ngx_str_t out = {0, NULL};
    out.data = ngx_pnalloc(pool, len ? len : 1);
    if (out.data) {
        ngx_memcpy(out.data, s, len);
        out.len = len;
    }
    return out;
}

/* ":path" rewrites what the upstream receives; the location that was
 * matched stays the same. */
static gwf_status
req_set_path(ngx_http_request_t *r, const char *value, size_t len)
{
    if (!len || value[0] != '/')
        return GWF_ERR_BAD_ARGUMENT;
    ngx_str_t raw = pool_str(r->pool, value, len);
    if (!raw.data)
        return GWF_ERR_NO_MEMORY;
    u_char *q = ngx_strlchr(raw.data, raw.data + raw.len, '?');
    size_t path_len = q ? (size_t)(q - raw.data) : raw.len;
    u_char *decoded = ngx_pnalloc(r->pool, path_len + 1);
    if (!decoded)
        return GWF_ERR_NO_MEMORY;
    u_char *src = raw.data, *dst = decoded;
    ngx_unescape_uri(&dst, &src, path_len, NGX_UNESCAPE_URI);
    /* No dot segments: nginx normalises the client's path, and a plugin's
     * path must not climb out of where the upstream expects it. */
    for (u_char *p = decoded; p < dst; p++) {
        if (*p != '/' || p + 1 >= dst || p[1] != '.')
            continue;
        u_char *after = p + 2 < dst && p[2] == '.' ? p + 3 : p + 2;
        if (after == dst || *after == '/')
            return GWF_ERR_BAD_ARGUMENT;
    }
    r->uri.data = decoded;
    r->uri.len = (size_t)(dst - decoded);
    if (q) {
        r->args.data = q + 1;
        r->args.len = raw.len - path_len - 1;
    } else {
        ngx_str_null(&r->args);
    }
    r->unparsed_uri = raw;
    r->valid_unparsed_uri = 1;
    /* As after `rewrite ... break`: proxy_pass sends this path whole,
     * without replacing the location's prefix (which the new path need
     * not start with), and escapes it again if it had escapes. */
    r->valid_location = 0;
    r->quoted_uri = ngx_strlchr(raw.data, raw.data + path_len, '%') != NULL;
    return GWF_OK;
}

static gwf_status
req_set(ngx_http_gwf_msg_t *m, const char *name, size_t len, const char *value,
        size_t value_len)
{
    ngx_http_request_t *r = m->r;
    if (name_is(name, len, ":path"))
        return req_set_path(r, value, value_len);
    if (name_is(name, len, ":method")) {
        static const struct {
            const char *name;
            ngx_uint_t method;
        } methods[] = {
            {"GET", NGX_HTTP_GET},       {"HEAD", NGX_HTTP_HEAD},
            {"POST", NGX_HTTP_POST},     {"PUT", NGX_HTTP_PUT},
            {"DELETE", NGX_HTTP_DELETE}, {"OPTIONS", NGX_HTTP_OPTIONS},
            {"PATCH", NGX_HTTP_PATCH},   {"TRACE", NGX_HTTP_TRACE},
        };
        ngx_uint_t method = NGX_HTTP_UNKNOWN;
        for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
            if (value_len == ngx_strlen(methods[i].name) &&
                ngx_memcmp(value, methods[i].name, value_len) == 0)
                method = methods[i].method;
        ngx_str_t m = pool_str(r->pool, value, value_len);
        if (!m.data)
            return GWF_ERR_NO_MEMORY;
        /* nginx decides HEAD handling and body reading from r->method. */
        r->method_name = m;
        r->method = method;
        return GWF_OK;
    }
    if (len && name[0] == ':' && !name_is(name, len, ":authority"))
        return GWF_ERR_BAD_ARGUMENT;
    if (name_is(name, len, ":authority")) {
        name = "host";
        len = 4;
    }
    gwf_status st = req_remove(m, name, len);
    return st == GWF_OK ? req_add(m, name, len, value, value_len) : st;
}

/* ------------------------------------------------------------------------
 * Response headers as gwf_message_ops
 *
 * nginx keeps Content-Type and Content-Length outside the header list
 * (headers_out.content_type, content_length_n); they are presented as
 * ordinary headers after the list ones.
 * --------------------------------------------------------------------- */

static gwf_status
resp_special(ngx_http_request_t *r, size_t which, gwf_view *name,
             gwf_view *value)
{
    /* which: 0 = content-type, 1 = content-length */
    if (which == 0) {
        if (!r->headers_out.content_type.len)
            return GWF_ERR_NOT_FOUND;
        name->ptr = "content-type";
        name->len = 12;
        value->ptr = (const char *)r->headers_out.content_type.data;
        value->len = r->headers_out.content_type.len;
        return GWF_OK;
    }
    if (r->headers_out.content_length_n < 0)
        return GWF_ERR_NOT_FOUND;
    u_char *text = ngx_pnalloc(r->pool, NGX_OFF_T_LEN);
    if (!text)
        return GWF_ERR_NO_MEMORY;
    name->ptr = "content-length";
    name->len = 14;
    value->ptr = (const char *)text;
    value->len = (size_t)(ngx_sprintf(text, "%O",
                                      r->headers_out.content_length_n) -
                          text);
    return GWF_OK;
}

static gwf_status
resp_get(ngx_http_gwf_msg_t *m, const char *name, size_t len, size_t index,
         gwf_view *v)
{
    ngx_http_request_t *r = m->r;
    gwf_view ignored;
    if (name_is(name, len, ":status")) {
        if (index)
            return GWF_ERR_NOT_FOUND;
        u_char *text = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
        if (!text)
            return GWF_ERR_NO_MEMORY;
        v->ptr = (const char *)text;
        v->len = (size_t)(ngx_sprintf(text, "%ui", r->headers_out.status) -
                          text);
        return GWF_OK;
    }
    if (name_is(name, len, "content-type"))
        return index ? GWF_ERR_NOT_FOUND : resp_special(r, 0, &ignored, v);
    if (name_is(name, len, "content-length"))
        return index ? GWF_ERR_NOT_FOUND : resp_special(r, 1, &ignored, v);
    if (len && name[0] == ':')
        return GWF_ERR_NOT_FOUND;
    hdr_index_t *idx = hdr_index(m);
    if (!idx)
        return GWF_ERR_NO_MEMORY;
    ngx_table_elt_t *h = hdr_get(idx, name, len, index);
    if (!h)
        return GWF_ERR_NOT_FOUND;
    v->ptr = (const char *)h->value.data;
    v->len = h->value.len;
    return GWF_OK;
}

/* The list headers shown (not Content-Type or Content-Length). */
static size_t
resp_list_count(hdr_index_t *idx)
{
    return idx->live - hdr_live(idx, "content-type") -
           hdr_live(idx, "content-length");
}

static gwf_status
resp_at(ngx_http_gwf_msg_t *m, size_t index, gwf_view *name, gwf_view *value)
{
    ngx_http_request_t *r = m->r;
    hdr_index_t *idx = hdr_index(m);
    if (!idx)
        return GWF_ERR_NO_MEMORY;
    size_t listed = resp_list_count(idx);
    if (index < listed) {
        ngx_table_elt_t *h = hdr_at(m, idx, index);
        if (!h)
            return GWF_ERR_NOT_FOUND;
        name->ptr = (const char *)h->key.data;
        name->len = h->key.len;
        value->ptr = (const char *)h->value.data;
        value->len = h->value.len;
        return GWF_OK;
    }
    size_t n = listed;
    for (size_t which = 0; which < 2; which++)
        if (resp_special(r, which, name, value) == GWF_OK && n++ == index)
            return GWF_OK;
    return GWF_ERR_NOT_FOUND;
}

static size_t
resp_count(ngx_http_gwf_msg_t *m)
{
    ngx_http_request_t *r = m->r;
    hdr_index_t *idx = hdr_index(m);
    if (!idx)
        return 0;
    return resp_list_count(idx) + (r->headers_out.content_type.len != 0) +
           (r->headers_out.content_length_n >= 0);
}

/* Clears the headers_out fields that point at an element being removed,
 * so nginx's filters do not read a header that is gone. */
static void
resp_forget(ngx_http_request_t *r, ngx_table_elt_t *h)
{
    ngx_table_elt_t **fields[] = {
        &r->headers_out.server,         &r->headers_out.date,
        &r->headers_out.content_length, &r->headers_out.content_encoding,
        &r->headers_out.location,       &r->headers_out.refresh,
        &r->headers_out.last_modified,  &r->headers_out.content_range,
        &r->headers_out.accept_ranges,  &r->headers_out.www_authenticate,
        &r->headers_out.expires,        &r->headers_out.etag,
    };
    if (h == r->headers_out.last_modified)
        r->headers_out.last_modified_time = -1;
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (*fields[i] == h)
            *fields[i] = NULL;
}

/* Removes every list element named `name` and what points at them. */
static void
resp_remove_listed(ngx_http_gwf_msg_t *m, hdr_index_t *idx, const char *name,
                   size_t len)
{
    ngx_http_request_t *r = m->r;
    ngx_array_t *elts = hdr_lookup(idx, name, len);
    if (!elts)
        return;
    ngx_table_elt_t **h = elts->elts;
    for (ngx_uint_t i = 0; i < elts->nelts; i++)
        resp_forget(r, h[i]);
    if (name_is(name, len, "cache-control"))
        r->headers_out.cache_control.nelts = 0;
    if (name_is(name, len, "link"))
        r->headers_out.link.nelts = 0;
    hdr_mark(idx, elts);
}

/* Content-Length lives in content_length_n; an element in the list
 * (the upstream's) would be sent beside the new value. */
static void
resp_drop_content_length(ngx_http_gwf_msg_t *m, hdr_index_t *idx)
{
    ngx_http_request_t *r = m->r;
    resp_remove_listed(m, idx, "content-length", 14);
    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }
}

static gwf_status
resp_remove(ngx_http_gwf_msg_t *m, const char *name, size_t len)
{
    ngx_http_request_t *r = m->r;
    if (len && name[0] == ':')
        return GWF_ERR_BAD_ARGUMENT;
    hdr_index_t *idx = hdr_index(m);
    if (!idx)
        return GWF_ERR_NO_MEMORY;
    if (name_is(name, len, "content-type")) {
        ngx_str_null(&r->headers_out.content_type);
        r->headers_out.content_type_len = 0;
        r->headers_out.content_type_lowcase = NULL;
        ngx_str_null(&r->headers_out.charset);
    }
    if (name_is(name, len, "content-length")) {
        r->headers_out.content_length_n = -1;
        resp_drop_content_length(m, idx);
        return GWF_OK;
    }
    resp_remove_listed(m, idx, name, len);
    return GWF_OK;
}

static gwf_status
resp_add(ngx_http_gwf_msg_t *m, const char *name, size_t len, const char *value,
         size_t value_len)
{
    ngx_http_request_t *r = m->r;
    if (len && name[0] == ':')
        return GWF_ERR_BAD_ARGUMENT;
    if (name_is(name, len, "content-type")) {
        ngx_str_t ct = pool_str(r->pool, value, value_len);
        if (!ct.data)
            return GWF_ERR_NO_MEMORY;
        r->headers_out.content_type = ct;
        r->headers_out.content_type_len = ct.len;
        r->headers_out.content_type_lowcase = NULL;
        ngx_str_null(&r->headers_out.charset);
        return GWF_OK;
    }
    hdr_index_t *idx = hdr_index(m);
    if (!idx)
        return GWF_ERR_NO_MEMORY;
    if (name_is(name, len, "content-length")) {
        off_t n = ngx_atoof((u_char *)value, value_len);
        if (n < 0)
            return GWF_ERR_BAD_ARGUMENT;
        r->headers_out.content_length_n = n;
        resp_drop_content_length(m, idx);
        return GWF_OK;
    }
    ngx_table_elt_t *h = hdr_add(m, idx, name, len, value, value_len);
    if (!h)
        return GWF_ERR_NO_MEMORY;
    if (name_is(name, len, "location"))
        r->headers_out.location = h;
    else if (name_is(name, len, "www-authenticate"))
        r->headers_out.www_authenticate = h;
    return GWF_OK;
}

static gwf_status
resp_set(ngx_http_gwf_msg_t *m, const char *name, size_t len, const char *value,
         size_t value_len)
{
    ngx_http_request_t *r = m->r;
    if (name_is(name, len, ":status")) {
        ngx_int_t status = ngx_atoi((u_char *)value, value_len);
        if (status < 100 || status > 999)
            return GWF_ERR_BAD_ARGUMENT;
        r->headers_out.status = (ngx_uint_t)status;
        ngx_str_null(&r->headers_out.status_line);
        return GWF_OK;
    }
    gwf_status st = resp_remove(m, name, len);
    return st == GWF_OK ? resp_add(m, name, len, value, value_len) : st;
}

/* The runtime gets one message_ops and, per stream, the request's and
 * the response's ngx_http_gwf_msg_t (in the request's ctx) as messages. */
static gwf_status
msg_get(void *msg, const char *name, size_t len, size_t index, gwf_view *v)
{
    ngx_http_gwf_msg_t *m = msg;
    return m->is_response ? resp_get(m, name, len, index, v)
                          : req_get(m, name, len, index, v);
}

static size_t
msg_count(void *msg)
{
    ngx_http_gwf_msg_t *m = msg;
    return m->is_response ? resp_count(m) : req_count(m);
}

static gwf_status
msg_at(void *msg, size_t index, gwf_view *name, gwf_view *value)
{
    ngx_http_gwf_msg_t *m = msg;
    return m->is_response ? resp_at(m, index, name, value)
                          : req_at(m, index, name, value);
}

static gwf_status
msg_set(void *msg, const char *name, size_t len, const char *value,
        size_t value_len)
{
    ngx_http_gwf_msg_t *m = msg;
    return m->is_response ? resp_set(m, name, len, value, value_len)
                          : req_set(m, name, len, value, value_len);
}

static gwf_status
msg_add(void *msg, const char *name, size_t len, const char *value,
        size_t value_len)
{
    ngx_http_gwf_msg_t *m = msg;
    return m->is_response ? resp_add(m, name, len, value, value_len)
                          : req_add(m, name, len, value, value_len);
}

static gwf_status
msg_remove(void *msg, const char *name, size_t len)
{
    ngx_http_gwf_msg_t *m = msg;
    return m->is_response ? resp_remove(m, name, len)
                          : req_remove(m, name, len);
}

static const gwf_message_ops gwf_ngx_message_ops = {
    .get = msg_get,
    .count = msg_count,
    .at = msg_at,
    .set = msg_set,
    .add = msg_add,
    .remove = msg_remove,
};

/* ------------------------------------------------------------------------
 * Streams
 * --------------------------------------------------------------------- */

static void ngx_http_gwf_wake(void *dp, gwf_rt_state state);

static gwf_status
ngx_http_gwf_attribute(void *dp, gwf_attribute attr, gwf_view *value)
{
    ngx_http_gwf_ctx_t *ctx = dp;
    ngx_http_request_t *r = ctx->r;
    ngx_connection_t *c = r->connection;
    switch (attr) {
    case GWF_ATTR_REMOTE_ADDRESS:
        value->ptr = (const char *)c->addr_text.data;
        value->len = c->addr_text.len;
        return GWF_OK;
    case GWF_ATTR_REMOTE_PORT:
        value->ptr = (const char *)ctx->remote_port;
        value->len = (size_t)(ngx_sprintf(ctx->remote_port, "%ui",
                                          ngx_inet_get_port(c->sockaddr)) -
                              ctx->remote_port);
        return GWF_OK;
    case GWF_ATTR_LOCAL_ADDRESS: {
        ngx_str_t s = {sizeof ctx->local_address, ctx->local_address};
        if (ngx_connection_local_sockaddr(c, &s, 0) != NGX_OK)
            return GWF_ERR_NOT_FOUND;
        value->ptr = (const char *)s.data;
        value->len = s.len;
        return GWF_OK;
    }
    case GWF_ATTR_LOCAL_PORT:
        if (ngx_connection_local_sockaddr(c, NULL, 0) != NGX_OK)
            return GWF_ERR_NOT_FOUND;
        value->ptr = (const char *)ctx->local_port;
        value->len =
            (size_t)(ngx_sprintf(ctx->local_port, "%ui",
                                 ngx_inet_get_port(c->local_sockaddr)) -
                     ctx->local_port);
        return GWF_OK;
    case GWF_ATTR_PROTOCOL:
        value->ptr = (const char *)r->http_protocol.data;
        value->len = r->http_protocol.len;
        return GWF_OK;
    case GWF_ATTR_TLS:
#if (NGX_HTTP_SSL)
        value->ptr = c->ssl ? "1" : "0";
#else
        value->ptr = "0";
#endif
        value->len = 1;
        return GWF_OK;
    case GWF_ATTR_RESPONSE_FROM_UPSTREAM:
        /* nginx's own answers (its error pages for an upstream that
         * failed or timed out, error_page) set err_status; an answer with
         * no upstream at all is nginx's too. */
        if (!ctx->resp_started)
            return GWF_ERR_NOT_FOUND;
        value->ptr =
            r->upstream && !r->err_status && !ctx->resp_native ? "1" : "0";
        value->len = 1;
        return GWF_OK;
    default:
        return GWF_ERR_NOT_FOUND;
    }
}

static const gwf_stream_ops gwf_ngx_stream_ops = {
    .wake = ngx_http_gwf_wake,
    .attribute = ngx_http_gwf_attribute,
};

static void
ngx_http_gwf_cleanup_stream(void *data)
{
    ngx_http_gwf_ctx_t *ctx = data;
    if (ctx->resume_ev.posted) {
        ngx_delete_posted_event(&ctx->resume_ev);
    }
    if (ctx->st) {
        hdr_new_epoch();
        gwf_stream_free(ctx->st); /* completes it first if needed */
        ctx->st = NULL;
    }
}

static ngx_http_gwf_ctx_t *
ngx_http_gwf_create_ctx(ngx_http_request_t *r, ngx_http_gwf_loc_conf_t *lcf)
{
    if (!gwf_ngx_worker)
        return NULL;
    ngx_http_gwf_ctx_t *ctx = ngx_pcalloc(r->pool, sizeof *ctx);
    ngx_pool_cleanup_t *cln = ngx_pool_cleanup_add(r->pool, 0);
    if (!ctx || !cln)
        return NULL;
    ctx->r = r;
    ctx->http_version = r->http_version;
    for (ngx_uint_t which = GWF_REQUEST; which <= GWF_RESPONSE; which++) {
        ctx->msg[which].r = r;
        ctx->msg[which].is_response = which == GWF_RESPONSE;
    }
    hdr_new_epoch();
    ctx->st = gwf_stream_new(gwf_ngx_worker, lcf->chain, &gwf_ngx_stream_ops,
                             ctx, &gwf_ngx_message_ops, &ctx->msg[GWF_REQUEST],
                             &ctx->msg[GWF_RESPONSE]);
    if (!ctx->st)
        return NULL;
    cln->handler = ngx_http_gwf_cleanup_stream;
    cln->data = ctx;
    ctx->resume_ev.data = ctx;
    ctx->resume_ev.log = r->connection->log;
    ngx_http_set_ctx(r, ctx, ngx_http_gwf_module);
    return ctx;
}

/* -- Local replies -------------------------------------------------------- */

/* Replace whatever nginx or the upstream put in the response with the
 * chain's local reply: status, headers and Content-Length. */
static ngx_int_t
reply_headers(ngx_http_request_t *r, gwf_rt_stream *st)
{
    if (ngx_list_init(&r->headers_out.headers, r->pool, 8,
                      sizeof(ngx_table_elt_t)) != NGX_OK)
        return NGX_ERROR;
    r->headers_out.location = NULL;
    r->headers_out.www_authenticate = NULL;
    r->headers_out.content_encoding = NULL;
    r->headers_out.last_modified = NULL;
    r->headers_out.last_modified_time = -1;
    r->headers_out.etag = NULL;
    r->headers_out.content_length = NULL;
    ngx_str_null(&r->headers_out.content_type);
    r->headers_out.content_type_len = 0;
    r->headers_out.content_type_lowcase = NULL;
    ngx_str_null(&r->headers_out.charset);
    ngx_str_null(&r->headers_out.status_line);
    /* nginx's proxy takes bytes that are not HTTP for an HTTP/0.9 answer
     * and says so in r->http_version, which then loses the status line
     * and headers: the reply is ours, so it is answered in the client's
     * own version. */
    ngx_http_gwf_ctx_t *ctx = ngx_http_get_module_ctx(r, ngx_http_gwf_module);
    if (ctx && ctx->http_version)
        r->http_version = ctx->http_version;
    r->headers_out.status = gwf_stream_reply_status(st);
    /* The list is new: indexes of the current epoch are stale, and the
     * reply's headers go in through an index of their own. */
    hdr_new_epoch();
    ngx_http_gwf_msg_t reply = {.r = r, .is_response = 1};
    gwf_view name, value;
    for (size_t i = 0; gwf_stream_reply_header(st, i, &name, &value) == GWF_OK;
         i++)
        if (resp_add(&reply, name.ptr, name.len, value.ptr, value.len) !=
            GWF_OK)
            return NGX_ERROR;
    r->headers_out.content_length_n = (off_t)gwf_stream_reply_body(st).len;
    /* The reply is final: no ranges cut out of it. */
    r->allow_ranges = 0;
    return NGX_OK;
}

/* One buffer holding the reply's body, the last of the response. */
static ngx_chain_t *
reply_body(ngx_http_request_t *r, gwf_rt_stream *st)
{
    gwf_view body = gwf_stream_reply_body(st);
    ngx_buf_t *b = ngx_calloc_buf(r->pool);
    ngx_chain_t *cl = ngx_alloc_chain_link(r->pool);
    if (!b || !cl)
        return NULL;
    if (body.len) {
        b->start = ngx_pnalloc(r->pool, body.len);
        if (!b->start)
            return NULL;
        b->pos = b->start;
        b->last = b->end = ngx_cpymem(b->start, body.ptr, body.len);
        b->temporary = 1;
    }
    b->last_buf = (r == r->main);
    b->last_in_chain = 1;
    cl->buf = b;
    cl->next = NULL;
    return cl;
}

static ngx_int_t
ngx_http_gwf_send_reply(ngx_http_request_t *r, ngx_http_gwf_ctx_t *ctx)
{
    ctx->replied = 1;
    if (r->header_sent || reply_headers(r, ctx->st) != NGX_OK)
        return NGX_ERROR;
    if ((r->headers_in.content_length_n > 0 || r->headers_in.chunked) &&
        !ctx->body_reading)
        ngx_http_discard_request_body(r);
    if (r->headers_out.content_length_n == 0 || r->method == NGX_HTTP_HEAD)
        r->header_only = 1;
    ngx_int_t rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only)
        return rc;
    ngx_chain_t *out = reply_body(r, ctx->st);
    return out ? ngx_http_output_filter(r, out) : NGX_ERROR;
}

/* -- Request bodies ----------------------------------------------------------
 *
 * A request body flows through the chain as nginx reads it, in a request
 * body filter: nginx's own reading (client_max_body_size, HTTP/2 flow
 * control, chunked decoding) comes before it and nginx's own saving
 * (client_body_buffer_size, temp files, proxy_request_buffering off,
 * DAV's file) after it. Who reads is nginx's business too: the content
 * handler (proxy, grpc, DAV) when the chain let the headers go, or the
 * access phase, for a chain that holds the headers until it has the
 * whole body (GWF_BUFFER).
 *
 * What the chain lets through goes on in buffers of ours, reused once
 * nginx wrote or sent them. No more input is taken while a plugin holds
 * the stream or while GWF_REQ_BUSY_MAX of ours waits to be written or
 * sent: the input stays nginx's, which then stops reading from the
 * client (rb->filter_need_buffering), and a wake reads on. */

static ngx_http_request_body_filter_pt ngx_http_next_request_body_filter;
static ngx_int_t ngx_http_gwf_request_body_filter(ngx_http_request_t *r,
                                                  ngx_chain_t *in);

#define GWF_REQ_BUSY_MAX (1024 * 1024)

static ngx_uint_t
request_has_body(ngx_http_request_t *r)
{
    return r->headers_in.content_length_n > 0 || r->headers_in.chunked;
}

/* Set the request's length to what left the chain, for a body a plugin
 * changed: the upstream request is made after this (nginx buffered the
 * body: see request_body_start). */
static ngx_int_t
set_request_length(ngx_http_request_t *r, ngx_http_gwf_ctx_t *ctx, off_t total)
{
    u_char text[NGX_OFF_T_LEN];
    size_t n = (size_t)(ngx_sprintf(text, "%O", total) - text);
    ngx_http_gwf_msg_t *m = &ctx->msg[GWF_REQUEST];
    if (r->request_body)
        r->request_body->received = total;
    r->headers_in.chunked = 0;
    r->headers_in.transfer_encoding = NULL;
    /* The proxy modules forward removed (marked) headers: compact. */
    if (req_remove(m, "transfer-encoding", 17) != GWF_OK ||
        req_set(m, "content-length", 14, (char *)text, n) != GWF_OK ||
        hdr_compact_request(m) != NGX_OK)
        return NGX_ERROR;
    r->headers_in.content_length_n = total;
    return NGX_OK;
}

/* One of our buffers (from `free`, reused when large enough, of at least
 * GWF_RESP_OUT_MIN bytes) holding a copy of `chunk`. */
static ngx_chain_t *
chunk_buf(ngx_http_request_t *r, ngx_chain_t **free, gwf_view chunk,
          ngx_buf_tag_t tag)
{
    ngx_chain_t *cl = ngx_chain_get_free_buf(r->pool, free);
    if (!cl)
        return NULL;
    ngx_buf_t *b = cl->buf;
    size_t cap = b->start ? (size_t)(b->end - b->start) : 0;
    if (cap < chunk.len) {
        size_t size = ngx_max(chunk.len, GWF_RESP_OUT_MIN);
        b->start = ngx_palloc(r->pool, size);
        if (!b->start)
            return NULL;
        b->end = b->start + size;
    }
    b->pos = b->start;
    b->last = chunk.len ? ngx_cpymem(b->start, chunk.ptr, chunk.len) : b->start;
    b->temporary = chunk.len > 0;
    b->flush = 0;
    b->last_buf = 0;
    b->last_in_chain = 0;
    b->tag = tag;
    return cl;
}

/* What left the chain, in our buffers; the last one carries last_buf. */
static ngx_int_t
take_request_chunks(ngx_http_request_t *r, ngx_http_gwf_ctx_t *ctx,
                    ngx_chain_t **out)
{
    ngx_chain_t **last = out;
    gwf_view chunk;
    int eos = 0;
    while (gwf_stream_take(ctx->st, GWF_REQUEST, &chunk, &eos)) {
        if (!chunk.len && !eos)
            continue;
        ngx_chain_t *cl =
            chunk_buf(r, &ctx->req_free, chunk,
                      (ngx_buf_tag_t)&ngx_http_gwf_request_body_filter);
        if (!cl)
            return NGX_ERROR;
        cl->buf->last_buf = eos;
        cl->buf->flush = r->request_body_no_buffering;
        ctx->req_out += (off_t)chunk.len;
        if (eos)
            ctx->req_eos_out = 1;
        *last = cl;
        last = &cl->next;
    }
    *last = NULL;
    return NGX_OK;
}

/* A plugin replied while the body streamed: stop reading with an error
 * status; nginx finalizes the request and the header filter sends the
 * chain's reply in place of nginx's error page. */
static ngx_int_t
request_body_replied(ngx_http_request_t *r, ngx_http_gwf_ctx_t *ctx)
{
    for (ngx_chain_t *cl = ctx->req_pending; cl; cl = cl->next)
        cl->buf->pos = cl->buf->last;
    ctx->req_pending = NULL;
    ctx->req_native = 1;
    r->request_body_no_buffering = 0;
    uint32_t status = gwf_stream_reply_status(ctx->st);
    return status >= NGX_HTTP_BAD_REQUEST && status <= 599
               ? (ngx_int_t)status
               : NGX_HTTP_INTERNAL_SERVER_ERROR;
}

static size_t
chain_size(ngx_chain_t *cl)
{
    size_t n = 0;
    for (; cl; cl = cl->next)
        n += (size_t)ngx_buf_size(cl->buf);
    return n;
}

/* Feed what nginx read while the chain takes it, and pass on what the
 * chain let through. */
static ngx_int_t
request_body_pump(ngx_http_request_t *r, ngx_http_gwf_ctx_t *ctx)
{
    while (ctx->req_pending &&
           (ctx->req_state == GWF_RT_CONTINUE ||
            ctx->req_state == GWF_RT_NEED_BODY) &&
           chain_size(ctx->req_busy) < GWF_REQ_BUSY_MAX) {
        ngx_chain_t *cl = ctx->req_pending;
        ngx_buf_t *b = cl->buf;
        ctx->req_pending = cl->next;
        if (!ngx_buf_in_memory(b) && ngx_buf_size(b)) {
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          "gwf: a request body buffer not in memory");
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        const char *data = (const char *)b->pos;
        size_t len = ngx_buf_in_memory(b) ? (size_t)(b->last - b->pos) : 0;
        b->pos = b->last;
        ngx_uint_t last = b->last_buf;
        if (ctx->req_fed_eos || (!len && !last))
            continue;
        ctx->req_fed_eos = last;
        hdr_new_epoch();
        ctx->req_state = gwf_stream_data(ctx->st, GWF_REQUEST, len ? data : "",
                                         len, (int)last);
    }
    if (ctx->req_state == GWF_RT_REPLY)
        return request_body_replied(r, ctx);
    ngx_chain_t *out = NULL;
    if (take_request_chunks(r, ctx, &out) != NGX_OK)
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    if (ctx->req_eos_out &&
        gwf_stream_framing(ctx->st, GWF_REQUEST) != GWF_RT_FRAMING_KEEP &&
        set_request_length(r, ctx, ctx->req_out) != NGX_OK)
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    ngx_int_t rc = ngx_http_next_request_body_filter(r, out);
    ngx_chain_update_chains(r->pool, &ctx->req_free, &ctx->req_busy, &out,
                            (ngx_buf_tag_t)&ngx_http_gwf_request_body_filter);
    return rc;
}

static ngx_int_t
ngx_http_gwf_request_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_http_gwf_ctx_t *ctx = ngx_http_get_module_ctx(r, ngx_http_gwf_module);
    if (!ctx || !ctx->st || !ctx->req_filter || ctx->req_native || r != r->main)
        return ngx_http_next_request_body_filter(r, in);
    if (!ctx->req_started) {
        /* The first call, before nginx reads: input the chain cannot take
         * yet stays nginx's, and a body that changes as it streams has
         * no length to send ahead, so nginx buffers it (the upstream
         * request is made once it is whole, with its new length). */
        ctx->req_started = 1;
        r->request_body->filter_need_buffering = 1;
        if (gwf_stream_framing(ctx->st, GWF_REQUEST) == GWF_RT_FRAMING_STREAMED)
            r->request_body_no_buffering = 0;
    }
    if (in && ngx_chain_add_copy(r->pool, &ctx->req_pending, in) != NGX_OK)
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    return request_body_pump(r, ctx);
}

/* -- The access phase ------------------------------------------------------ */

static void ngx_http_gwf_body_read(ngx_http_request_t *r);

/* A plugin gave a body to a request that had none (a GET turned into a
 * signed POST): the upstream sends this one. */
static ngx_int_t
give_request_body(ngx_http_request_t *r, ngx_http_gwf_ctx_t *ctx)
{
    ngx_chain_t *out = NULL;
    if (take_request_chunks(r, ctx, &out) != NGX_OK)
        return NGX_ERROR;
    if (!out)
        return NGX_OK;
    ngx_chain_t *tail = out;
    while (tail->next)
        tail = tail->next;
    tail->buf->last_buf = 1;
    r->request_body = ngx_pcalloc(r->pool, sizeof(ngx_http_request_body_t));
    if (!r->request_body)
        return NGX_ERROR;
    r->request_body->bufs = out;
    r->request_body->rest = 0;
    r->request_body->last_saved = 1;
    return set_request_length(r, ctx, ctx->req_out);
}

/* Read the body now, in the access phase, for a chain that holds the
 * headers until it has it whole. The request body filter feeds it. */
static ngx_int_t
read_body_for_chain(ngx_http_request_t *r, ngx_http_gwf_ctx_t *ctx)
{
    ctx->body_reading = 1;
    ctx->req_filter = 1;
    ngx_int_t rc = ngx_http_read_client_request_body(r, ngx_http_gwf_body_read);
    if (rc >= NGX_HTTP_SPECIAL_RESPONSE || rc == NGX_ERROR)
        return rc;
    /* The read took a reference on the request, which a content handler
     * would give back by returning NGX_DONE. The access phase does not,
     * so give it back now: if the read fails later, nginx's own
     * finalization frees the request. */
    r->main->count--;
    if (!ctx->body_read) {
        ctx->body_waiting = 1;
        return NGX_DONE;
    }
    return NGX_OK;
}

/* Act on the runtime's answer for the request side. */
static ngx_int_t
ngx_http_gwf_request_step(ngx_http_request_t *r, ngx_http_gwf_ctx_t *ctx,
                          ngx_http_gwf_loc_conf_t *lcf)
{
    for (;;) {
        switch (ctx->req_state) {
        case GWF_RT_WAIT:
            if (ctx->body_reading && !ctx->body_read) {
                ctx->body_waiting = 1;
                return NGX_DONE; /* the body read goes on meanwhile */
            }
            ctx->waiting = 1;
            r->read_event_handler = ngx_http_test_reading;
            r->write_event_handler = ngx_http_request_empty_handler;
            return NGX_AGAIN;
        case GWF_RT_REPLY: {
            ngx_int_t rc = ngx_http_gwf_send_reply(r, ctx);
            ngx_http_finalize_request(r, rc);
            return NGX_DONE;
        }
        case GWF_RT_NEED_BODY:
            if (ctx->body_reading) {
                if (!ctx->body_read) {
                    ctx->body_waiting = 1;
                    return NGX_DONE;
                }
                /* All of it was fed and a plugin still holds the
                 * headers: it answers from a callback. */
                ctx->req_state = GWF_RT_WAIT;
                continue;
            }
            {
                ngx_int_t rc = read_body_for_chain(r, ctx);
                if (rc != NGX_OK)
                    return rc;
            }
            continue; /* read at once: the state moved */
        case GWF_RT_CONTINUE:
            break;
        }
        if (ctx->body_reading && !ctx->body_read) {
            /* The headers left before nginx finished the read (the last
             * buffer is on its way): go on once it has. */
            ctx->body_waiting = 1;
            return NGX_DONE;
        }
        if (!request_has_body(r) && !ctx->body_reading &&
            give_request_body(r, ctx) != NGX_OK)
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        if (hdr_compact_request(&ctx->msg[GWF_REQUEST]) != NGX_OK)
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        /* The body still to come goes through the chain as nginx reads it
         * for the content handler. */
        ctx->req_filter = lcf->want_body[GWF_REQUEST] && request_has_body(r);
        ctx->request_done = 1;
        return NGX_DECLINED;
    }
}

/* The body read for the chain in the access phase is complete. */
static void
ngx_http_gwf_body_read(ngx_http_request_t *r)
{
    ngx_http_gwf_ctx_t *ctx = ngx_http_get_module_ctx(r, ngx_http_gwf_module);
    r->read_event_handler = ngx_http_request_empty_handler;
    if (!ctx || !ctx->st)
        return;
    ctx->body_read = 1;
    if (ctx->body_waiting) {
        ctx->body_waiting = 0;
        r->write_event_handler = ngx_http_core_run_phases;
        ngx_http_core_run_phases(r);
    }
}

static ngx_int_t
ngx_http_gwf_access_handler(ngx_http_request_t *r)
{
    ngx_http_gwf_loc_conf_t *lcf =
        ngx_http_get_module_loc_conf(r, ngx_http_gwf_module);
    if (!lcf->chain || r != r->main)
        return NGX_DECLINED;
    ngx_http_gwf_ctx_t *ctx = ngx_http_get_module_ctx(r, ngx_http_gwf_module);
    if (ctx) {
        if (ctx->request_done || ctx->replied || ctx->resp_started ||
            ctx->req_native)
            return NGX_DECLINED;
        if (ctx->waiting && ctx->req_state == GWF_RT_WAIT)
            return NGX_AGAIN; /* a spurious run while still paused */
        ctx->waiting = 0;
        return ngx_http_gwf_request_step(r, ctx, lcf);
    }
    /* An internal redirect (try_files, error_page) clears module
     * contexts; the stream lives on in the pool cleanup, and the request
     * already went through a chain: it does not go through another. */
    for (ngx_pool_cleanup_t *cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_gwf_cleanup_stream) {
            ctx = cln->data;
            ngx_http_set_ctx(r, ctx, ngx_http_gwf_module);
            return NGX_DECLINED;
        }
    }
    ctx = ngx_http_gwf_create_ctx(r, lcf);
    if (!ctx)
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    hdr_new_epoch();
    ctx->req_state =
        gwf_stream_headers(ctx->st, GWF_REQUEST, !request_has_body(r));
    return ngx_http_gwf_request_step(r, ctx, lcf);
}

/* -- Waking up --------------------------------------------------------------- */

static void ngx_http_gwf_response_flush(ngx_http_request_t *r,
                                        ngx_http_gwf_ctx_t *ctx);

static void
ngx_http_gwf_resume(ngx_event_t *ev)
{
    ngx_http_gwf_ctx_t *ctx = ev->data;
    ngx_http_request_t *r = ctx->r;
    ngx_connection_t *c = r->connection;
    /* A request body the chain held: nginx reads on, and its next call
     * of the request body filter feeds and passes what waited. */
    if (ctx->req_started && !ctx->req_native && !ctx->req_eos_out) {
        ngx_post_event(c->read, &ngx_posted_events);
    }
    if (ctx->resp_started) {
        ngx_http_gwf_response_flush(r, ctx);
    } else if (ctx->waiting) {
        r->write_event_handler = ngx_http_core_run_phases;
        ngx_http_core_run_phases(r);
    }
    /* Otherwise the request went on already (it is with the upstream): a
     * local reply sent from a callback now replaces the upstream's
     * response when its headers arrive, in the header filter. */
    ngx_http_run_posted_requests(c);
}

/* The runtime moved a paused stream (from a timer, fd or post callback);
 * continue outside of it. */
static void
ngx_http_gwf_wake(void *dp, gwf_rt_state state)
{
    ngx_http_gwf_ctx_t *ctx = dp;
    /* `state` is the paused side's; with a request body still streaming
     * while the response starts, both sides may have moved. */
    (void)state;
    ctx->req_state = gwf_stream_state(ctx->st, GWF_REQUEST);
    if (ctx->resp_started)
        ctx->state = gwf_stream_state(ctx->st, GWF_RESPONSE);
    ctx->resume_ev.handler = ngx_http_gwf_resume;
    if (!ctx->resume_ev.posted) {
        ngx_post_event(&ctx->resume_ev, &ngx_posted_events);
    }
}

/* -- The log phase ----------------------------------------------------------- */

static ngx_int_t
ngx_http_gwf_log_handler(ngx_http_request_t *r)
{
    ngx_http_gwf_ctx_t *ctx = ngx_http_get_module_ctx(r, ngx_http_gwf_module);
    if (ctx && ctx->st && !ctx->completed) {
        ctx->completed = 1;
        hdr_new_epoch();
        gwf_stream_complete(ctx->st);
    }
    return NGX_OK;
}

/* ------------------------------------------------------------------------
 * Response: header and body filters
 * --------------------------------------------------------------------- */

static size_t
busy_size(ngx_http_gwf_ctx_t *ctx)
{
    size_t n = 0;
    for (ngx_chain_t *cl = ctx->busy; cl; cl = cl->next)
        n += (size_t)ngx_buf_size(cl->buf);
    return n;
}

/* The chunks that left the chain, in our reusable buffers; `*total`
 * counts their bytes. */
static ngx_int_t
take_response_chunks(ngx_http_request_t *r, ngx_http_gwf_ctx_t *ctx,
                     ngx_chain_t **out, off_t *total)
{
    ngx_chain_t **last = out;
    gwf_view chunk;
    int eos = 0;
    *total = 0;
    while (gwf_stream_take(ctx->st, GWF_RESPONSE, &chunk, &eos)) {
        if (!chunk.len && !eos)
            continue;
        ngx_chain_t *cl = chunk_buf(r, &ctx->free, chunk,
                                    (ngx_buf_tag_t)&ngx_http_gwf_module);
        if (!cl)
            return NGX_ERROR;
        cl->buf->last_buf = eos && r == r->main;
        cl->buf->last_in_chain = eos;
        if (eos)
            ctx->resp_eos_out = 1;
        *total += (off_t)chunk.len;
        *last = cl;
        last = &cl->next;
    }
    *last = NULL;
    return NGX_OK;
}

/* Send on what left the chain. A flush nginx asked for (unbuffered
 * proxying, an upgrade, the upstream's end) goes with it once every
 * buffer before it went through the chain: a plugin that only observes
 * delays nothing. */
static ngx_int_t
send_chunks(ngx_http_request_t *r, ngx_http_gwf_ctx_t *ctx, ngx_chain_t *out)
{
    if (ctx->flush_wanted && !ctx->pending && ctx->state == GWF_RT_CONTINUE) {
        ctx->flush_wanted = 0;
        ngx_chain_t *tail = out;
        while (tail && tail->next)
            tail = tail->next;
        if (!tail) {
            gwf_view none = {NULL, 0};
            out = chunk_buf(r, &ctx->free, none,
                            (ngx_buf_tag_t)&ngx_http_gwf_module);
            if (!out)
                return NGX_ERROR;
            tail = out;
        }
        tail->buf->flush = 1;
    }
    if (!out)
        return ngx_http_next_body_filter(r, NULL);
    ngx_int_t rc = ngx_http_next_body_filter(r, out);
    ngx_chain_update_chains(r->pool, &ctx->free, &ctx->busy, &out,
                            (ngx_buf_tag_t)&ngx_http_gwf_module);
    return rc;
}

static ngx_int_t
pass_chunks(ngx_http_request_t *r, ngx_http_gwf_ctx_t *ctx)
{
    ngx_chain_t *out;
    off_t total;
    if (take_response_chunks(r, ctx, &out, &total) != NGX_OK)
        return NGX_ERROR;
    return send_chunks(r, ctx, out);
}

/* Send the chain's local reply in place of the upstream response. */
static ngx_int_t
replace_response(ngx_http_request_t *r, ngx_http_gwf_ctx_t *ctx)
{
    ctx->resp_replaced = 1;
    ctx->replied = 1;
    if (reply_headers(r, ctx->st) != NGX_OK)
        return NGX_ERROR;
    ngx_int_t rc = ngx_http_next_header_filter(r);
    ctx->resp_passed = 1;
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only)
        return rc;
    ngx_chain_t *out = reply_body(r, ctx->st);
    if (!out)
        return NGX_ERROR;
    ctx->resp_eos_out = 1;
    return ngx_http_next_body_filter(r, out);
}

/* The response headers passed the chain: send them on, framed for what
 * the chain did to the body (abi.h, "Bodies"): untouched, the response
 * keeps its Content-Length, ranges and ETag; changed while the headers
 * were held, it gets the new exact length; changed as it streams, it
 * has no length (chunked, or until close for HTTP/1.0) and no ranges.
 * A changed body's ETag is weak from then on, as gzip makes it. Ranges
 * are cut above this filter, so a body that reached the chain before
 * its headers left (they were held) is sent whole, without ranges. */
static ngx_int_t
pass_headers(ngx_http_request_t *r, ngx_http_gwf_ctx_t *ctx)
{
    ngx_chain_t *out = NULL;
    off_t total = 0;
    ctx->resp_passed = 1;
    if (!ctx->resp_eos_out) {
        if (take_response_chunks(r, ctx, &out, &total) != NGX_OK)
            return NGX_ERROR;
        switch (gwf_stream_framing(ctx->st, GWF_RESPONSE)) {
        case GWF_RT_FRAMING_KEEP:
            break;
        case GWF_RT_FRAMING_EXACT:
            ngx_http_clear_content_length(r);
            r->headers_out.content_length_n = total;
            ngx_http_weak_etag(r);
            r->allow_ranges = 0;
            break;
        case GWF_RT_FRAMING_STREAMED:
            ngx_http_clear_content_length(r);
            ngx_http_clear_accept_ranges(r);
            ngx_http_weak_etag(r);
            break;
        }
        if (ctx->resp_body_early)
            r->allow_ranges = 0;
    }
    ngx_int_t rc = ngx_http_next_header_filter(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        for (ngx_chain_t *cl = out; cl; cl = cl->next)
            cl->buf->pos = cl->buf->last;
        return rc;
    }
    return out ? send_chunks(r, ctx, out) : rc;
}

/* Where the response stands after the chain moved: send what it let
 * through, or the reply, or keep nginx from finishing the request while
 * the chain still holds something. */
static ngx_int_t
ngx_http_gwf_response_advance(ngx_http_request_t *r, ngx_http_gwf_ctx_t *ctx)
{
    ngx_int_t rc = NGX_OK;
    switch (ctx->state) {
    case GWF_RT_REPLY:
        /* Too late for a new status line once headers went out. */
        rc = ctx->resp_passed ? NGX_ERROR : replace_response(r, ctx);
        r->buffered &= ~NGX_HTTP_GWF_BUFFERED;
        return rc;
    case GWF_RT_CONTINUE:
        if (ctx->resp_held) {
            ctx->resp_held = 0;
            rc = pass_headers(r, ctx);
            if (rc == NGX_ERROR || rc > NGX_OK)
                return rc;
        }
        rc = pass_chunks(r, ctx);
        break;
    default:
        break;
    }
    if (ctx->state == GWF_RT_WAIT || ctx->state == GWF_RT_NEED_BODY ||
        (ctx->resp_eos_in && !ctx->resp_eos_out))
        r->buffered |= NGX_HTTP_GWF_BUFFERED;
    else
        r->buffered &= ~NGX_HTTP_GWF_BUFFERED;
    return rc;
}

static ngx_int_t
ngx_http_gwf_header_filter(ngx_http_request_t *r)
{
    ngx_http_gwf_ctx_t *ctx = ngx_http_get_module_ctx(r, ngx_http_gwf_module);
    if (!ctx || !ctx->st || ctx->replied || ctx->resp_started ||
        r != r->main)
        return ngx_http_next_header_filter(r);
    ctx->resp_started = 1;
    if (r->upstream && r->upstream->peer.connection)
        ctx->upstream_read = r->upstream->peer.connection->read;
    /* No body follows: nginx sets header_only for HEAD, 204 and 304
     * only below this filter; a 101's bytes are not a body. */
    ngx_uint_t status = r->headers_out.status;
    ngx_uint_t eos = r->header_only || r->method == NGX_HTTP_HEAD ||
                     r->headers_out.content_length_n == 0 ||
                     status == NGX_HTTP_SWITCHING_PROTOCOLS ||
                     status == NGX_HTTP_NO_CONTENT ||
                     status == NGX_HTTP_NOT_MODIFIED;
    if (eos)
        ctx->resp_eos_in = ctx->resp_eos_out = 1;
    hdr_new_epoch();
    ctx->state = gwf_stream_headers(ctx->st, GWF_RESPONSE, (int)eos);
    if (ctx->state == GWF_RT_CONTINUE)
        return pass_headers(r, ctx);
    if (ctx->state == GWF_RT_REPLY)
        return replace_response(r, ctx);
    /* WAIT or NEED_BODY: hold the headers until the chain decides. */
    ctx->resp_held = 1;
    r->buffered |= NGX_HTTP_GWF_BUFFERED;
    return NGX_OK;
}

/* Feed the first pending upstream buffer to the chain (a file buffer one
 * slice at a time); the runtime copies what it is given, so the buffer is
 * marked consumed and the upstream can reuse it. */
static ngx_int_t
feed_one(ngx_http_request_t *r, ngx_http_gwf_ctx_t *ctx)
{
    ngx_chain_t *cl = ctx->pending;
    ngx_buf_t *b = cl->buf;
    const char *data = "";
    size_t len = 0;
    if (ngx_buf_in_memory(b)) {
        data = (const char *)b->pos;
        len = (size_t)(b->last - b->pos);
        b->pos = b->last;
        if (b->in_file)
            b->file_pos = b->file_last;
    } else if (b->in_file) {
        len = (size_t)ngx_min(b->file_last - b->file_pos, GWF_RESP_SLICE);
        if (!ctx->slice && !(ctx->slice = ngx_palloc(r->pool, GWF_RESP_SLICE)))
            return NGX_ERROR;
        if (len && ngx_read_file(b->file, ctx->slice, len, b->file_pos) !=
                       (ssize_t)len)
            return NGX_ERROR;
        data = (const char *)ctx->slice;
        b->file_pos += (off_t)len;
    }
    ngx_uint_t done = ngx_buf_size(b) == 0;
    if (done)
        ctx->pending = cl->next;
    ngx_uint_t last = b->last_buf && done;
    if (ctx->resp_eos_in || (!len && !last))
        return NGX_OK;
    if (last)
        ctx->resp_eos_in = 1;
    hdr_new_epoch();
    ctx->state =
        gwf_stream_data(ctx->st, GWF_RESPONSE, data, len, (int)last);
    return NGX_OK;
}

/* Drop what the upstream still sends once a reply replaced it. */
static void
drop_pending(ngx_http_gwf_ctx_t *ctx)
{
    for (ngx_chain_t *cl = ctx->pending; cl; cl = cl->next) {
        cl->buf->pos = cl->buf->last;
        if (cl->buf->in_file)
            cl->buf->file_pos = cl->buf->file_last;
    }
    ctx->pending = NULL;
}

/* -- An upstream that breaks mid-body ---------------------------------- */

static ngx_uint_t
pending_has_last(ngx_http_gwf_ctx_t *ctx)
{
    for (ngx_chain_t *cl = ctx->pending; cl; cl = cl->next)
        if (cl->buf->last_buf)
            return 1;
    return 0;
}

/* An upstream whose body ends short (it closes early, sends less than its
 * Content-Length or an unterminated chunked body, or times out) after its
 * headers went through us is finalized by nginx with an error: it marks
 * the upstream finalized (u->cleanup NULL), closes the connection, sends
 * a flush - never a last buffer - and lets the request end once no filter
 * holds anything. Called on each body filter call: keeps the upstream's
 * read event while the connection lives (the header filter keeps it
 * first), and sees the short end at the first call after it. That call
 * is the flush, from inside ngx_http_upstream_finalize_request right
 * after the close: the event lives in the cycle's connection array and
 * nothing reuses it before the call returns, so its timedout flag is
 * still the upstream's (nginx keeps no other trace of the timeout; were
 * the flag ever stale, only 502 and 504 would be confused). */
static void
note_upstream_end(ngx_http_request_t *r, ngx_http_gwf_ctx_t *ctx)
{
    ngx_http_upstream_t *u = r->upstream;
    if (!u || ctx->resp_broken || ctx->resp_eos_in)
        return;
    if (u->peer.connection) {
        ctx->upstream_read = u->peer.connection->read;
        return;
    }
    if (u->cleanup || pending_has_last(ctx))
        return;
    ctx->resp_broken = 1;
    ctx->resp_timed_out = ctx->upstream_read && ctx->upstream_read->timedout;
    ctx->upstream_read = NULL;
}

/* The upstream broke and the chain has had all of it. A response whose
 * headers the chain still holds (a buffering body hook never got its last
 * buffer) has not started: the client gets nginx's own error answer at
 * once, 502, or 504 for a timeout (error_page applies), as if the
 * upstream had broken before its headers; it goes straight through, as a
 * response from nginx, not from the upstream. A response already under
 * way ends as nginx alone ends it: what passed so far, then the
 * connection closes (nginx dropped keepalive), with no last chunk. */
static ngx_int_t
end_broken_response(ngx_http_request_t *r, ngx_http_gwf_ctx_t *ctx)
{
    r->buffered &= ~NGX_HTTP_GWF_BUFFERED;
    ctx->resp_native = 1; /* nothing more for the chain */
    if (ctx->resp_passed) {
        /* nginx's flush, which the chain does not pass, is what sends
         * the bytes so far before the connection closes. */
        ngx_buf_t *b = ngx_calloc_buf(r->pool);
        ngx_chain_t *cl = ngx_alloc_chain_link(r->pool);
        if (!b || !cl)
            return NGX_ERROR;
        b->flush = 1;
        cl->buf = b;
        cl->next = NULL;
        return ngx_http_next_body_filter(r, cl);
    }
    r->http_version = ctx->http_version;
    ngx_int_t status =
        ctx->resp_timed_out ? NGX_HTTP_GATEWAY_TIME_OUT : NGX_HTTP_BAD_GATEWAY;
    return ngx_http_filter_finalize_request(r, &ngx_http_gwf_module, status);
}

/* Move the response along: feed pending upstream data while the chain
 * takes it (not while a plugin holds the stream) and the client keeps
 * up, and send on what the chain lets through. */
static ngx_int_t
ngx_http_gwf_response_pump(ngx_http_request_t *r, ngx_http_gwf_ctx_t *ctx)
{
    ngx_int_t rc = ngx_http_gwf_response_advance(r, ctx);
    while (rc != NGX_ERROR && !ctx->resp_replaced && ctx->pending &&
           ctx->state != GWF_RT_WAIT && ctx->state != GWF_RT_REPLY &&
           busy_size(ctx) < GWF_RESP_BUSY_MAX) {
        if (feed_one(r, ctx) != NGX_OK)
            return NGX_ERROR;
        rc = ngx_http_gwf_response_advance(r, ctx);
    }
    if (ctx->resp_replaced)
        drop_pending(ctx);
    if (rc == NGX_ERROR)
        return rc;
    if (ctx->resp_broken && !ctx->pending && !ctx->resp_replaced)
        return end_broken_response(r, ctx);
    if (ctx->pending) {
        r->buffered |= NGX_HTTP_GWF_BUFFERED;
        return NGX_AGAIN;
    }
    return rc;
}

static ngx_int_t
ngx_http_gwf_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_http_gwf_ctx_t *ctx = ngx_http_get_module_ctx(r, ngx_http_gwf_module);
    if (!ctx || !ctx->st || !ctx->resp_started || ctx->resp_native ||
        r != r->main)
        return ngx_http_next_body_filter(r, in);
    if (ctx->resp_replaced) {
        /* The upstream's body is dropped for the reply already sent. */
        for (ngx_chain_t *cl = in; cl; cl = cl->next) {
            cl->buf->pos = cl->buf->last;
            if (cl->buf->in_file)
                cl->buf->file_pos = cl->buf->file_last;
        }
        return ngx_http_next_body_filter(r, NULL);
    }
    ngx_http_gwf_loc_conf_t *lcf =
        ngx_http_get_module_loc_conf(r, ngx_http_gwf_module);
    /* Nothing for the chain to see: no body hooks, or a response that
     * ended with its headers (its empty last buffer must still go on). */
    if ((!lcf->want_body[GWF_RESPONSE] || ctx->resp_eos_out) &&
        ctx->state == GWF_RT_CONTINUE && !ctx->resp_held)
        return ngx_http_next_body_filter(r, in);
    for (ngx_chain_t *cl = in; cl; cl = cl->next)
        if (cl->buf->flush ||
            (!ngx_buf_size(cl->buf) && !cl->buf->last_buf && !cl->buf->sync))
            ctx->flush_wanted = 1;
    if (in && !ctx->resp_passed)
        ctx->resp_body_early = 1;
    if (in && ngx_chain_add_copy(r->pool, &ctx->pending, in) != NGX_OK)
        return NGX_ERROR;
    note_upstream_end(r, ctx);
    return ngx_http_gwf_response_pump(r, ctx);
}

/* A paused response moved: send what the chain decided, then let nginx's
 * writer finish the request if it was waiting on us. */
static void
ngx_http_gwf_response_flush(ngx_http_request_t *r, ngx_http_gwf_ctx_t *ctx)
{
    if (ngx_http_gwf_response_pump(r, ctx) == NGX_ERROR) {
        ngx_http_finalize_request(r, NGX_ERROR);
        return;
    }
    ngx_post_event(r->connection->write, &ngx_posted_events);
}

/* ------------------------------------------------------------------------
 * Registration
 * --------------------------------------------------------------------- */

static ngx_int_t
ngx_http_gwf_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_core_main_conf_t *cmcf =
        ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
    ngx_http_handler_pt *h =
        ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (!h)
        return NGX_ERROR;
    *h = ngx_http_gwf_access_handler;
    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (!h)
        return NGX_ERROR;
    *h = ngx_http_gwf_log_handler;

    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_gwf_header_filter;
    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_gwf_body_filter;
    ngx_http_next_request_body_filter = ngx_http_top_request_body_filter;
    ngx_http_top_request_body_filter = ngx_http_gwf_request_body_filter;
    return NGX_OK;
}
