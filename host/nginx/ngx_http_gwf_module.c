/*
 * ngx_http_gwf_module.c - nginx as a gwf data plane.
 *
 * The gwf runtime (libgwf-runtime, linked in statically) does the work:
 * manifests, plugin loading, chains, hook order, pause/resume, local
 * replies, deadlines and metrics. This module maps nginx onto it:
 *
 *   configuration  gwf_manifests / gwf_plugin_path at http level, and per
 *                  location gwf_policy, gwf_extension, gwf_direct_response,
 *                  gwf_backend, gwf_route_filter and the route
 *                  directives (gwf_route and the route actions: route.c,
 *                  route_actions.c). Chains are built while nginx reads
 *                  its configuration (in the master), so `nginx -t` reports a
 *                  bad manifest, an unknown reference or a plugin that does
 *                  not load with the runtime's own message, and a reload
 *                  with bad manifests leaves the old configuration serving.
 *   events         the ABI's timers, fd watches and cross-thread posts
 *                  become nginx timers, connections on nginx's event loop
 *                  and an eventfd per worker.
 *   requests       request hooks run in the access phase; a paused
 *                  request waits without blocking the worker and goes on
 *                  through ngx_http_core_run_phases when a plugin resumes
 *                  it. Request bodies stream through the chain in a
 *                  request body filter, as nginx reads them.
 *                  Response headers and bodies go through a header and a
 *                  body filter. The log phase completes the stream; a pool
 *                  cleanup frees it, also for clients that went away.
 *   metrics        `gwf_metrics;` serves every worker's metrics, summed,
 *                  in Prometheus text format: each worker publishes a
 *                  snapshot into a shared memory zone once a second and
 *                  the serving worker adds its fresh one.
 *
 * This file holds the module's definition, its directives, configuration
 * and process hooks, and the registration of the handlers and filters.
 * The rest is in files of one idea sharing ngx_http_gwf_module.h:
 * events.c and metrics.c (the worker), headers.c (messages), stream.c (a
 * request's stream, local replies, wake-ups), request.c (access phase,
 * request bodies) and response.c (header and body filters).
 */
#include "ngx_http_gwf_module.h"

static ngx_int_t ngx_http_gwf_postconfiguration(ngx_conf_t *cf);
static void *ngx_http_gwf_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_gwf_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_gwf_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_gwf_merge_loc_conf(ngx_conf_t *cf, void *parent,
                                         void *child);
static char *ngx_http_gwf_manifests(ngx_conf_t *cf, ngx_command_t *cmd,
                                    void *conf);
static char *ngx_http_gwf_route_filter(ngx_conf_t *cf, ngx_command_t *cmd,
                                       void *conf);
static char *ngx_http_gwf_policy(ngx_conf_t *cf, ngx_command_t *cmd,
                                 void *conf);
static char *ngx_http_gwf_route_ref(ngx_conf_t *cf, ngx_command_t *cmd,
                                    void *conf);
static ngx_int_t ngx_http_gwf_init_process(ngx_cycle_t *cycle);
static void ngx_http_gwf_exit_process(ngx_cycle_t *cycle);

/* gwf_manifests_check all (default): nginx -t checks every document;
 * referenced: only those the locations' chains use (gwf gateway). */
static ngx_conf_enum_t ngx_http_gwf_check_modes[] = {
    {ngx_string("all"), 0},
    {ngx_string("referenced"), 1},
    {ngx_null_string, 0}};

static ngx_command_t ngx_http_gwf_commands[] = {
    {ngx_string("gwf_manifests"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
     ngx_http_gwf_manifests, NGX_HTTP_MAIN_CONF_OFFSET, 0, NULL},
    {ngx_string("gwf_plugin_path"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
     ngx_conf_set_str_slot, NGX_HTTP_MAIN_CONF_OFFSET,
     offsetof(ngx_http_gwf_main_conf_t, plugin_path), NULL},
    {ngx_string("gwf_manifests_check"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
     ngx_conf_set_enum_slot, NGX_HTTP_MAIN_CONF_OFFSET,
     offsetof(ngx_http_gwf_main_conf_t, check_referenced),
     &ngx_http_gwf_check_modes},
    {ngx_string("gwf_max_pause"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
     ngx_conf_set_msec_slot, NGX_HTTP_MAIN_CONF_OFFSET,
     offsetof(ngx_http_gwf_main_conf_t, max_pause), NULL},
    {ngx_string("gwf_max_body"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
     ngx_conf_set_size_slot, NGX_HTTP_MAIN_CONF_OFFSET,
     offsetof(ngx_http_gwf_main_conf_t, max_body), NULL},
    {ngx_string("gwf_policy"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF |
         NGX_CONF_1MORE,
     ngx_http_gwf_policy, NGX_HTTP_LOC_CONF_OFFSET, 0, NULL},
    {ngx_string("gwf_direct_response"),
     NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1,
     ngx_http_gwf_route_ref, NGX_HTTP_LOC_CONF_OFFSET,
     offsetof(ngx_http_gwf_loc_conf_t, direct_response), NULL},
    {ngx_string("gwf_backend"),
     NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1,
     ngx_http_gwf_route_ref, NGX_HTTP_LOC_CONF_OFFSET,
     offsetof(ngx_http_gwf_loc_conf_t, backend), NULL},
    {ngx_string("gwf_route_filter"), NGX_HTTP_LOC_CONF | NGX_CONF_TAKE2,
     ngx_http_gwf_route_filter, NGX_HTTP_LOC_CONF_OFFSET, 0, NULL},
    {ngx_string("gwf_extension"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF |
         NGX_CONF_TAKE1,
     ngx_http_gwf_route_ref, NGX_HTTP_LOC_CONF_OFFSET,
     offsetof(ngx_http_gwf_loc_conf_t, extensions), NULL},
    {ngx_string("gwf_metrics"), NGX_HTTP_LOC_CONF | NGX_CONF_NOARGS,
     ngx_http_gwf_metrics, NGX_HTTP_LOC_CONF_OFFSET, 0, NULL},
    /* Routes (route.c, route_actions.c); gwf_*_header's offset says which
     * message: 0 request, 1 response. */
    {ngx_string("gwf_route"), NGX_HTTP_LOC_CONF | NGX_CONF_1MORE,
     ngx_http_gwf_route, NGX_HTTP_LOC_CONF_OFFSET, 0, NULL},
    {ngx_string("gwf_request_header"), NGX_HTTP_LOC_CONF | NGX_CONF_TAKE23,
     ngx_http_gwf_header_op, NGX_HTTP_LOC_CONF_OFFSET, 0, NULL},
    {ngx_string("gwf_response_header"), NGX_HTTP_LOC_CONF | NGX_CONF_TAKE23,
     ngx_http_gwf_header_op, NGX_HTTP_LOC_CONF_OFFSET, 1, NULL},
    {ngx_string("gwf_rewrite"), NGX_HTTP_LOC_CONF | NGX_CONF_1MORE,
     ngx_http_gwf_rewrite, NGX_HTTP_LOC_CONF_OFFSET, 0, NULL},
    {ngx_string("gwf_redirect"), NGX_HTTP_LOC_CONF | NGX_CONF_ANY,
     ngx_http_gwf_redirect, NGX_HTTP_LOC_CONF_OFFSET, 0, NULL},
    {ngx_string("gwf_request_timeout"), NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1,
     ngx_http_gwf_request_timeout, NGX_HTTP_LOC_CONF_OFFSET, 0, NULL},
    {ngx_string("gwf_sample"), NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1,
     ngx_http_gwf_sample, NGX_HTTP_LOC_CONF_OFFSET, 0, NULL},
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
    &ngx_http_gwf_module_ctx,  /* module context */
    ngx_http_gwf_commands,     /* module directives */
    NGX_HTTP_MODULE,           /* module type */
    NULL,                      /* init master */
    NULL,                      /* init module */
    ngx_http_gwf_init_process, /* init process */
    NULL,                      /* init thread */
    NULL,                      /* exit thread */
    ngx_http_gwf_exit_process, /* exit process */
    NULL,                      /* exit master */
    NGX_MODULE_V1_PADDING};

/* The worker's runtime state (one worker per process). */
gwf_worker *gwf_ngx_worker;
gwf_runtime *gwf_ngx_runtime;
ngx_http_gwf_main_conf_t *gwf_ngx_main;

/* Moves on at every entry into the runtime (hooks, timer, fd and post
 * callbacks): nginx may have changed the header lists since the last one,
 * so the header indexes of an older epoch are rebuilt before use. */
ngx_uint_t gwf_ngx_epoch = 1;

void
gwf_ngx_new_epoch(void)
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
    mcf->check_referenced = NGX_CONF_UNSET_UINT;
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

/* gwf_policy REF;             every field of the TrafficPolicy REF
 * gwf_policy REF FIELD...;    only those fields (cors, apiKeyAuth,
 *                             basicAuth, extAuth, jwtAuth, rbac,
 *                             rateLimit.local, rateLimit.global, csrf), so that
 *                             several policies, each giving its fields,
 *                             make one chain (kgateway's merging). */
static char *
ngx_http_gwf_policy(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gwf_loc_conf_t *lcf = conf;
    ngx_str_t *args = cf->args->elts;
    (void)cmd;
    if (args[1].len == 0)
        return "needs a TrafficPolicy reference";
    if (cf->args->nelts == 2) {
        if (lcf->policy.data)
            return "is duplicate";
        lcf->policy = args[1];
    }
    for (ngx_uint_t i = 2; i < cf->args->nelts; i++) {
        gwf_policy_field f =
            gwf_policy_field_parse((const char *)args[i].data, args[i].len);
        if (f == GWF_PF_COUNT) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "gwf_policy: unknown field \"%V\" (expected "
                               "cors, apiKeyAuth, basicAuth, extAuth, "
                               "jwtAuth, rbac, rateLimit.local, "
                               "rateLimit.global or csrf)",
                               &args[i]);
            return NGX_CONF_ERROR;
        }
        if (lcf->field_policies[f].data) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "gwf_policy: field \"%V\" is already given",
                               &args[i]);
            return NGX_CONF_ERROR;
        }
        lcf->field_policies[f] = args[1];
    }
    lcf->policy_set = 1;
    if (!lcf->line) {
        lcf->file = cf->conf_file->file.name;
        lcf->line = cf->conf_file->line;
    }
    return NGX_CONF_OK;
}

/* gwf_route_filter "NS/ROUTE" "spec.rules[N].filters[M].cors";  an
 * HTTPRoute rule's CORS filter: the cors plugin configured with that node
 * of the HTTPRoute document, in the cors place of the chain (it wins over
 * a TrafficPolicy's cors). The runtime checks both arguments. */
static char *
ngx_http_gwf_route_filter(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gwf_loc_conf_t *lcf = conf;
    ngx_str_t *args = cf->args->elts;
    (void)cmd;
    if (lcf->route_filter_route.data)
        return "is duplicate";
    if (args[1].len == 0 || args[2].len == 0)
        return "needs an HTTPRoute reference and a field path";
    lcf->route_filter_route = args[1];
    lcf->route_filter_field = args[2];
    if (!lcf->line) {
        lcf->file = cf->conf_file->file.name;
        lcf->line = cf->conf_file->line;
    }
    return NGX_CONF_OK;
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
    ngx_conf_init_uint_value(mcf->check_referenced, 0);
    mcf->log = cf->log;
    if (!mcf->manifests)
        return NGX_CONF_OK;

    gwf_runtime_options opts = {
        .plugin_path =
            mcf->plugin_path.len ? cstr(cf->pool, &mcf->plugin_path) : NULL,
        .log = gwf_ngx_log,
        .log_ctx = cf->log,
        .log_level = GWF_LOG_INFO,
        .max_pause_ns = (uint64_t)mcf->max_pause * 1000000,
        .max_body_bytes = mcf->max_body,
        .host_name = "nginx",
        .referenced_only = mcf->check_referenced == 1,
        .one_worker_per_process = 1,
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
    if (!failed && mcf->check_referenced != 1 &&
        gwf_runtime_validate(mcf->rt, &e) != 0)
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
    if (!conf->policy_set) {
        conf->policy = prev->policy;
        memcpy(conf->field_policies, prev->field_policies,
               sizeof conf->field_policies);
        conf->policy_set = prev->policy_set;
    }
    ngx_flag_t any_field = 0;
    for (size_t i = 0; i < GWF_PF_COUNT; i++)
        any_field = any_field || conf->field_policies[i].len;
    ngx_conf_merge_str_value(conf->direct_response, prev->direct_response, "");
    ngx_conf_merge_str_value(conf->backend, prev->backend, "");
    if (!conf->route_filter_route.data) {
        conf->route_filter_route = prev->route_filter_route;
        conf->route_filter_field = prev->route_filter_field;
    }
    ngx_conf_merge_ptr_value(conf->extensions, prev->extensions, NULL);
    ngx_conf_merge_value(conf->metrics, prev->metrics, 0);
    if (!conf->routes)
        conf->routes = prev->routes;
    if (!conf->actions)
        conf->actions = prev->actions;
    if (!conf->line) {
        conf->file = prev->file;
        conf->line = prev->line;
    }

    if (!conf->policy.len && !any_field && !conf->direct_response.len &&
        !conf->backend.len && !conf->extensions &&
        !conf->route_filter_route.len)
        return NGX_CONF_OK;

    ngx_http_gwf_main_conf_t *mcf =
        ngx_http_conf_get_module_main_conf(cf, ngx_http_gwf_module);
    if (!mcf->rt) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "gwf: a gwf_policy, gwf_extension, "
                           "gwf_direct_response, gwf_backend or "
                           "gwf_route_filter needs "
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
    if (conf->route_filter_route.len &&
        (!(refs.route_filter_route =
               cstr(cf->pool, &conf->route_filter_route)) ||
         !(refs.route_filter_field =
               cstr(cf->pool, &conf->route_filter_field))))
        return NGX_CONF_ERROR;
    for (size_t i = 0; i < GWF_PF_COUNT; i++)
        if (conf->field_policies[i].len &&
            !(refs.field_policies[i] =
                  cstr(cf->pool, &conf->field_policies[i])))
            return NGX_CONF_ERROR;
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
    conf->early = gwf_chain_answers_early(conf->chain) != 0;
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
    if (ngx_process != NGX_PROCESS_WORKER && ngx_process != NGX_PROCESS_SINGLE)
        return NGX_OK;
    gwf_ngx_main = mcf;
    gwf_ngx_runtime = mcf->rt;
    if (gwf_ngx_posts_start(cycle) != NGX_OK)
        return NGX_ERROR;
    ngx_core_conf_t *ccf =
        (ngx_core_conf_t *)ngx_get_conf(cycle->conf_ctx, ngx_core_module);
    uint32_t count =
        ccf && ccf->worker_processes > 0 ? (uint32_t)ccf->worker_processes : 1;
    uint32_t index =
        ngx_process == NGX_PROCESS_WORKER ? (uint32_t)ngx_worker : 0;
    gwf_errors e = {0};
    gwf_ngx_worker =
        gwf_worker_start(mcf->rt, index, count, &gwf_ngx_events, &e);
    for (size_t i = 0; i < e.count; i++)
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0, "gwf: %s", e.lines[i]);
    gwf_errors_free(&e);
    if (!gwf_ngx_worker)
        return NGX_ERROR;
    if (mcf->metrics_zone)
        gwf_ngx_metrics_start(cycle);
    return NGX_OK;
}

static void
ngx_http_gwf_exit_process(ngx_cycle_t *cycle)
{
    (void)cycle;
    gwf_ngx_metrics_stop();
    /* Queued posts are dropped (their release runs) while the worker
     * they name still exists. */
    gwf_ngx_posts_stop();
    if (gwf_ngx_worker) {
        gwf_worker_stop(gwf_ngx_worker);
        gwf_ngx_worker = NULL;
    }
    ngx_http_gwf_ctx_spares_free();
}

/* -- The log phase -----------------------------------------------------------
 */

static ngx_int_t
ngx_http_gwf_log_handler(ngx_http_request_t *r)
{
    ngx_http_gwf_ctx_t *ctx = ngx_http_get_module_ctx(r, ngx_http_gwf_module);
    if (ctx && ctx->st && !ctx->completed) {
        ctx->completed = 1;
        gwf_ngx_new_epoch();
        gwf_stream_complete(ctx->st);
    }
    return NGX_OK;
}

/* ------------------------------------------------------------------------
 * Registration
 * --------------------------------------------------------------------- */

static ngx_int_t
ngx_http_gwf_postconfiguration(ngx_conf_t *cf)
{
    if (ngx_http_gwf_request_init(cf) != NGX_OK)
        return NGX_ERROR;
    ngx_http_core_main_conf_t *cmcf =
        ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
    ngx_http_handler_pt *h =
        ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (!h)
        return NGX_ERROR;
    *h = ngx_http_gwf_log_handler;
    /* Before the chain's filters, so its header filter runs after theirs
     * (on their local replies too). */
    if (ngx_http_gwf_route_init(cf) != NGX_OK)
        return NGX_ERROR;
    ngx_http_gwf_response_init();
    return NGX_OK;
}
