/*
 * runtime.c - from manifests to configured plugin instances and chains.
 *
 * The manifest layer (manifest_*.c) checks documents and resolves
 * references into a plan: an ordered list of (plugin, config node,
 * route node) for one route. This file turns plans into chains: it loads
 * each plugin once, configures each instance once (a GatewayExtension used
 * by twenty routes is one instance with one Redis pool), creates the
 * per-route configs, and maps every error a plugin reports back onto the
 * manifest: file, line, document and field path.
 *
 * Everything here runs on the main thread, before workers exist.
 */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

#ifndef GWF_PLUGINDIR
#define GWF_PLUGINDIR "/usr/local/lib/gwf/plugins"
#endif

/* -- Runtime ------------------------------------------------------------- */

static int
add_search_dirs(gwf_runtime *rt, const char *list)
{
    if (!list)
        return 0;
    const char *p = list;
    while (*p) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len) {
            char **dirs =
                realloc(rt->search_dirs, (rt->search_count + 1) * sizeof *dirs);
            if (!dirs)
                return -1;
            rt->search_dirs = dirs;
            dirs[rt->search_count] = rt_strndup(p, len);
            if (!dirs[rt->search_count])
                return -1;
            rt->search_count++;
        }
        p += len;
        if (*p == ':')
            p++;
    }
    return 0;
}

static gwf_status
define_own_metrics(gwf_runtime *rt)
{
    static const char *const reply_labels[] = {"status", "details"};
    static const char *const error_labels[] = {"kind"};
    static const double pause_buckets[] = {0.001, 0.005, 0.01, 0.05, 0.1,
                                           0.5,   1,     5,    30};
    rt_metrics *m = rt->metrics;
    gwf_status st;
    if ((st = rt_metrics_define(m, GWF_METRIC_COUNTER, "streams_total",
                                "Requests that entered a gwf chain", NULL, 0,
                                NULL, 0, &rt->m_streams)) != GWF_OK ||
        (st = rt_metrics_define(m, GWF_METRIC_GAUGE, "streams_active",
                                "Streams created and not yet freed", NULL, 0,
                                NULL, 0, &rt->m_active)) != GWF_OK ||
        (st = rt_metrics_define(m, GWF_METRIC_GAUGE, "async_active",
                                "Plugin timers and fd watches not yet fired "
                                "or cancelled",
                                NULL, 0, NULL, 0, &rt->m_async)) != GWF_OK ||
        (st = rt_metrics_define(m, GWF_METRIC_COUNTER, "local_replies_total",
                                "Requests answered by a plugin or by gwf "
                                "instead of the upstream",
                                reply_labels, 2, NULL, 0, &rt->m_replies)) !=
            GWF_OK ||
        (st = rt_metrics_define(m, GWF_METRIC_COUNTER, "pauses_total",
                                "Times a plugin paused a stream", NULL, 0, NULL,
                                0, &rt->m_pauses)) != GWF_OK ||
        (st = rt_metrics_define(m, GWF_METRIC_HISTOGRAM, "pause_seconds",
                                "How long streams stayed paused", NULL, 0,
                                pause_buckets,
                                sizeof pause_buckets / sizeof *pause_buckets,
                                &rt->m_pause_seconds)) != GWF_OK)
        return st;
    return rt_metrics_define(m, GWF_METRIC_COUNTER, "errors_total",
                             "Requests gwf answered because a plugin failed "
                             "(invalid action, stream_create failure, pause "
                             "deadline, body limit, no memory)",
                             error_labels, 1, NULL, 0, &rt->m_errors);
}

void
gwf_runtime_fail_reply_memory(gwf_runtime *rt, int on)
{
    rt->fail_reply_memory = on != 0;
}

void
gwf_runtime_fail_reply_prepare(gwf_runtime *rt, int on)
{
    rt->fail_reply_prepare = on != 0;
}

gwf_runtime *
gwf_runtime_new(const gwf_runtime_options *opts)
{
    gwf_runtime *rt = calloc(1, sizeof *rt);
    if (!rt)
        return NULL;
    if (opts)
        rt->opts = *opts;
    if (!rt->opts.max_pause_ns)
        rt->opts.max_pause_ns = 30ull * 1000000000ull;
    if (!rt->opts.max_body_bytes)
        rt->opts.max_body_bytes = 1u << 20;
    rt->host_name = rt_strdup(rt->opts.host_name ? rt->opts.host_name : "gwf");
    rt->opts.host_name = rt->host_name;
    rt->opts.plugin_path = NULL;
    rt->manifests = gwf_manifests_new();
    rt->metrics = rt_metrics_new(rt->opts.one_worker_per_process != 0);
    rt->host = rt_host_template;
    rt->host.name = rt->host_name;
    if (!rt->host_name || !rt->manifests || !rt->metrics ||
        define_own_metrics(rt) != GWF_OK ||
        add_search_dirs(rt, opts ? opts->plugin_path : NULL) < 0 ||
        add_search_dirs(rt, getenv("GWF_PLUGIN_PATH")) < 0 ||
        add_search_dirs(rt, GWF_PLUGINDIR) < 0) {
        gwf_runtime_free(rt);
        return NULL;
    }
    return rt;
}

static void
instance_free_lookups(rt_instance *inst)
{
    for (size_t i = 0; i < inst->lookup_count; i++)
        free(inst->lookups[i]);
    free(inst->lookups);
    inst->lookups = NULL;
    inst->lookup_count = 0;
}

static void
chain_discard(gwf_chain *c)
{
    for (size_t i = 0; i < c->count; i++) {
        rt_filter *f = &c->filters[i];
        const gwf_plugin *p = &f->inst->plugin->entry;
        if (f->has_route_config && p->route_config_destroy)
            p->route_config_destroy(f->inst->config, f->route_config);
    }
    free(c->filters);
    free(c->key);
    free(c->route_name);
    free(c);
}

void
gwf_runtime_free(gwf_runtime *rt)
{
    if (!rt)
        return;
    for (gwf_chain *c = rt->chains, *next; c; c = next) {
        next = c->next;
        chain_discard(c);
    }
    for (rt_instance *inst = rt->instances, *next; inst; inst = next) {
        next = inst->next;
        rt_metrics_forget(rt->metrics, inst);
        rt_prepared_forget(inst);
        if (inst->configured && inst->plugin->entry.config_destroy)
            inst->plugin->entry.config_destroy(inst->config);
        instance_free_lookups(inst);
        free(inst->workers);
        free(inst->name);
        free(inst->config_field);
        free(inst->config_dir);
        free(inst);
    }
    rt_plugins_unload(rt);
    gwf_manifests_free(rt->manifests);
    rt_metrics_free(rt->metrics);
    for (size_t i = 0; i < rt->search_count; i++)
        free(rt->search_dirs[i]);
    free(rt->search_dirs);
    free(rt->host_name);
    free(rt);
}

/* Documents the loader skipped (kinds gwf does not read) are worth an
 * info line each, never an error. */
static void
log_new_notes(gwf_runtime *rt, size_t before)
{
    const gwf_diag *notes = gwf_manifests_notes(rt->manifests);
    for (size_t i = before; i < notes->count; i++)
        rt_log(rt, GWF_LOG_INFO, "gwf", "%s", gwf_diag_line(notes, i));
}

int
gwf_runtime_load(gwf_runtime *rt, const char *path, gwf_errors *err)
{
    gwf_diag d;
    gwf_diag_init(&d);
    size_t notes = gwf_manifests_notes(rt->manifests)->count;
    int n = gwf_manifests_load_path(rt->manifests, path, &d);
    log_new_notes(rt, notes);
    rt->validated_docs = false;
    rt_diag_to_errors(&d, err);
    return n ? -1 : 0;
}

int
gwf_runtime_load_text(gwf_runtime *rt, const char *name, const char *text,
                      size_t len, gwf_errors *err)
{
    gwf_diag d;
    gwf_diag_init(&d);
    size_t notes = gwf_manifests_notes(rt->manifests)->count;
    int n = gwf_manifests_load_buffer(rt->manifests, name, text, len, &d);
    log_new_notes(rt, notes);
    rt->validated_docs = false;
    rt_diag_to_errors(&d, err);
    return n ? -1 : 0;
}

static int
ensure_validated(gwf_runtime *rt, gwf_diag *d)
{
    if (rt->validated_docs)
        return 0;
    if (rt->opts.referenced_only
            ? gwf_manifests_index(rt->manifests, d) != 0
            : gwf_manifests_validate(rt->manifests, d) != 0)
        return -1;
    rt->validated_docs = true;
    return 0;
}

/* -- Instances ----------------------------------------------------------- */

static rt_instance *
find_instance(gwf_runtime *rt, const gwf_doc *doc, const char *field)
{
    for (rt_instance *inst = rt->instances; inst; inst = inst->next)
        if (inst->doc == doc && strcmp(inst->config_field, field) == 0)
            return inst;
    return NULL;
}

static char *
doc_ref(const gwf_doc *doc)
{
    size_t len = strlen(doc->namespace_) + 1 + strlen(doc->name) + 1;
    char *ref = malloc(len);
    if (ref)
        snprintf(ref, len, "%s/%s", doc->namespace_, doc->name);
    return ref;
}

/* The field that names the plugin, for load errors. */
static const char *
plugin_field(const gwf_plan_entry *e)
{
    if (e->plugin_path)
        return "spec.plugin.path";
    if (strcmp(e->config_field, "spec.plugin.config") == 0)
        return "spec.plugin.name";
    return e->config_field;
}

/* Run a config call with config_error routed to (doc, field). */
static void
errors_to(rt_instance *inst, gwf_diag *d, const gwf_doc *doc, const char *field)
{
    inst->err_diag = d;
    inst->err_doc = doc;
    inst->err_field = field;
    inst->err_count = 0;
}

static void
errors_off(rt_instance *inst)
{
    inst->err_diag = NULL;
    inst->err_doc = NULL;
    inst->err_field = NULL;
    instance_free_lookups(inst);
}

static rt_instance *
instance_create(gwf_runtime *rt, const gwf_plan_entry *e, gwf_diag *d)
{
    gwf_diag load_diag;
    gwf_diag_init(&load_diag);
    rt_plugin *plugin = rt_plugin_load(
        rt, e->plugin_path ? e->plugin_path : e->plugin_name, &load_diag);
    if (!plugin) {
        for (size_t i = 0; i < load_diag.count; i++)
            gwf_doc_errorf(d, e->config_doc, plugin_field(e), "%s",
                           gwf_diag_line(&load_diag, i));
        gwf_diag_free(&load_diag);
        return NULL;
    }
    gwf_diag_free(&load_diag);

    rt_instance *inst = calloc(1, sizeof *inst);
    if (!inst)
        goto oom;
    inst->pub.host = &rt->host;
    inst->rt = rt;
    if (++rt->reply_tags == 0)
        rt->reply_tags = 1;
    inst->reply_tag = rt->reply_tags;
    inst->plugin = plugin;
    inst->doc = e->config_doc;
    inst->name = doc_ref(e->config_doc);
    inst->config_field = rt_strdup(e->config_field);
    char *file_copy = rt_strdup(e->config_doc->file ? e->config_doc->file : "");
    if (file_copy) {
        inst->config_dir = rt_strdup(file_copy[0] ? dirname(file_copy) : "");
        free(file_copy);
    }
    if (!inst->name || !inst->config_field || !inst->config_dir)
        goto oom_inst;
    inst->next = rt->instances;
    rt->instances = inst;

    const gwf_plugin *p = &plugin->entry;
    if (!p->config_create) {
        inst->configured = true;
        return inst;
    }
    gwf_config_init init = {
        .size = sizeof init,
        .instance = &inst->pub,
        .name = {inst->name, strlen(inst->name)},
        .kind = {e->config_doc->kind, strlen(e->config_doc->kind)},
        .config_json = {e->config_json, strlen(e->config_json)},
    };
    errors_to(inst, d, e->config_doc, e->config_field);
    gwf_status st = p->config_create(&init, &inst->config);
    int reported = inst->err_count;
    errors_off(inst);
    if (st == GWF_OK && reported == 0) {
        inst->configured = true;
        return inst;
    }
    /* Metric handles and prepared replies die with the config (abi.h). */
    rt_metrics_forget(inst->rt->metrics, inst);
    rt_prepared_forget(inst);
    if (st == GWF_OK) {
        /* It complained but said yes: believe the complaint, and do not
         * leak what it built. */
        if (p->config_destroy)
            p->config_destroy(inst->config);
    } else if (reported == 0) {
        gwf_doc_errorf(d, e->config_doc, e->config_field,
                       "plugin %s rejected its config (status %d) without "
                       "saying why",
                       p->name, (int)st);
    }
    inst->config = NULL;
    return NULL;
oom_inst:
    free(inst->name);
    free(inst->config_field);
    free(inst->config_dir);
    free(inst);
oom:
    gwf_doc_errorf(d, e->config_doc, e->config_field, "out of memory");
    return NULL;
}

static rt_instance *
instance_get(gwf_runtime *rt, const gwf_plan_entry *e, gwf_diag *d,
             bool *failed_before)
{
    rt_instance *inst = find_instance(rt, e->config_doc, e->config_field);
    if (inst) {
        *failed_before = !inst->configured;
        return inst->configured ? inst : NULL;
    }
    *failed_before = false;
    return instance_create(rt, e, d);
}

/* -- Chains ------------------------------------------------------------- */

static char *
chain_key(const gwf_route_refs *refs)
{
    gwf_buf key = {0};
    const char *parts[] = {
        refs->policy,     refs->direct_response,    refs->backend,
        refs->route_name, refs->route_filter_route, refs->route_filter_field};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        const char *s = parts[i] ? parts[i] : "";
        gwf_buf_append(&key, s, strlen(s));
        gwf_buf_append(&key, "\x1f", 1);
    }
    for (size_t i = 0; i < GWF_PF_COUNT; i++) {
        const char *s = refs->field_policies[i] ? refs->field_policies[i] : "";
        gwf_buf_append(&key, s, strlen(s));
        gwf_buf_append(&key, "\x1d", 1);
    }
    for (size_t i = 0; i < refs->extension_count; i++) {
        gwf_buf_append(&key, refs->extensions[i], strlen(refs->extensions[i]));
        gwf_buf_append(&key, "\x1e", 1);
    }
    if (gwf_buf_append(&key, "", 1) < 0) {
        gwf_buf_free(&key);
        return NULL;
    }
    return key.data;
}

static int
chain_fill(gwf_runtime *rt, gwf_chain *c, const gwf_plan *plan, gwf_diag *d)
{
    c->filters = calloc(plan->count ? plan->count : 1, sizeof *c->filters);
    if (!c->filters)
        return -1;
    int failed = 0;
    for (size_t i = 0; i < plan->count; i++) {
        const gwf_plan_entry *e = &plan->entries[i];
        bool failed_before;
        size_t before = d->count;
        rt_instance *inst = instance_get(rt, e, d, &failed_before);
        if (!inst) {
            if (failed_before && d->count == before)
                gwf_doc_errorf(d, e->config_doc, e->config_field,
                               "this plugin instance failed to configure "
                               "(see the first error about it)");
            failed++;
            continue;
        }
        rt_filter *f = &c->filters[c->count++];
        f->inst = inst;
        const gwf_plugin *p = &inst->plugin->entry;
        if (e->route_json && p->route_config_create) {
            gwf_view json = {e->route_json, strlen(e->route_json)};
            errors_to(inst, d, e->route_doc, e->route_field);
            gwf_status st = p->route_config_create(inst->config, &inst->pub,
                                                   json, &f->route_config);
            int reported = inst->err_count;
            errors_off(inst);
            if (st == GWF_OK && reported == 0) {
                f->has_route_config = true;
            } else {
                if (st == GWF_OK && p->route_config_destroy)
                    p->route_config_destroy(inst->config, f->route_config);
                if (reported == 0)
                    gwf_doc_errorf(d, e->route_doc, e->route_field,
                                   "plugin %s rejected its route config "
                                   "(status %d) without saying why",
                                   p->name, (int)st);
                f->route_config = NULL;
                failed++;
            }
        }
        if (p->request_headers)
            c->has_headers_hook[GWF_REQUEST] = true;
        if (p->response_headers)
            c->has_headers_hook[GWF_RESPONSE] = true;
        if (p->request_body)
            c->wants_body[GWF_REQUEST] = true;
        if (p->response_body)
            c->wants_body[GWF_RESPONSE] = true;
        if (p->stream_complete || p->stream_destroy)
            c->has_end_hooks = true;
        if (p->stream_complete)
            c->has_complete_hook = true;
        if (p->stream_create)
            c->has_stream_create = true;
    }
    if (!failed && c->count == 1 && !c->filters[0].has_route_config)
        c->constant = c->filters[0].inst->always;
    /* Skipping the stream is invisible to the others only if none of
     * them would have seen its end. */
    if (!failed && c->count > 0 &&
        c->filters[0].inst->plugin->entry.request_early) {
        c->early = true;
        for (size_t i = 1; i < c->count; i++)
            if (c->filters[i].inst->plugin->entry.stream_complete)
                c->early = false;
    }
    return failed ? -1 : 0;
}

gwf_chain *
gwf_runtime_chain(gwf_runtime *rt, const gwf_route_refs *refs, gwf_errors *err)
{
    char *key = chain_key(refs);
    if (!key)
        return NULL;
    for (gwf_chain *c = rt->chains; c; c = c->next) {
        if (strcmp(c->key, key) == 0) {
            free(key);
            return c;
        }
    }
    gwf_diag d;
    gwf_diag_init(&d);
    gwf_chain *c = NULL;
    gwf_plan plan = {0};
    if (ensure_validated(rt, &d) < 0)
        goto fail;
    gwf_plan_request req = {
        .policy = refs->policy,
        .extensions = refs->extensions,
        .extension_count = refs->extension_count,
        .direct_response = refs->direct_response,
        .backend = refs->backend,
        .route_filter_route = refs->route_filter_route,
        .route_filter_field = refs->route_filter_field,
    };
    memcpy(req.field_policies, refs->field_policies, sizeof req.field_policies);
    if (gwf_manifests_plan(rt->manifests, &req, &plan, &d) != 0)
        goto fail;
    c = calloc(1, sizeof *c);
    if (!c) {
        gwf_diag_addf(&d, "out of memory building a chain");
        goto fail;
    }
    c->rt = rt;
    c->key = key;
    key = NULL;
    c->route_name = rt_strdup(refs->route_name ? refs->route_name : "");
    if (!c->route_name || chain_fill(rt, c, &plan, &d) < 0) {
        if (d.count == 0)
            gwf_diag_addf(&d, "out of memory building a chain");
        chain_discard(c);
        c = NULL;
        goto fail;
    }
    gwf_plan_free(&plan);
    gwf_diag_free(&d);
    c->next = rt->chains;
    rt->chains = c;
    return c;
fail:
    free(key);
    gwf_plan_free(&plan);
    rt_diag_to_errors(&d, err);
    return NULL;
}

size_t
gwf_chain_length(const gwf_chain *chain)
{
    return chain->count;
}

int
gwf_chain_wants_body(const gwf_chain *chain, gwf_message_kind which)
{
    return (which == GWF_REQUEST || which == GWF_RESPONSE) &&
           chain->wants_body[which];
}

/* Build one chain per document that configures something, so that every
 * plugin is loaded and every config (and route config) is created. */
int
gwf_runtime_validate(gwf_runtime *rt, gwf_errors *err)
{
    gwf_diag d;
    gwf_diag_init(&d);
    if (ensure_validated(rt, &d) < 0) {
        rt_diag_to_errors(&d, err);
        return -1;
    }
    gwf_diag_free(&d);
    int failed = 0;
    size_t n = gwf_manifests_count(rt->manifests);
    for (size_t i = 0; i < n; i++) {
        const gwf_doc *doc = gwf_manifests_at(rt->manifests, i);
        char *ref = doc_ref(doc);
        if (!ref)
            return -1;
        const char *ext[1] = {ref};
        gwf_route_refs refs = {0};
        if (strcmp(doc->kind, "GatewayExtension") == 0) {
            refs.extensions = ext;
            refs.extension_count = 1;
        } else if (strcmp(doc->kind, "TrafficPolicy") == 0) {
            refs.policy = ref;
        } else if (strcmp(doc->kind, "DirectResponse") == 0) {
            refs.direct_response = ref;
        } else if (strcmp(doc->kind, "Backend") == 0) {
            refs.backend = ref;
        } else {
            free(ref);
            continue;
        }
        if (!gwf_runtime_chain(rt, &refs, err))
            failed++;
        free(ref);
    }
    return failed ? -1 : 0;
}

char *
gwf_runtime_metrics_text(gwf_runtime *rt)
{
    return rt_metrics_text(rt->metrics);
}
