/*
 * series_probe.c - a test plugin for metric series handles (abi.h 0.3:
 * metric_series, metric_series_add, metric_series_set), driven by
 * test_series_handles.c through the in-process test host.
 *
 * Config: {"kind": "<label value>", "reject": bool, "try_stale": bool,
 * "try_foreign": bool} (the last three default to false). config_create
 * defines the counter series_probe_total{kind} and resolves the series
 * of its own kind to a handle. With "reject", it then refuses its
 * config, keeping its instance and handle in `stale`: the host must
 * refuse that handle from then on. Every instance that is kept remembers
 * itself in `other`, so the next one can try a handle not its own.
 *
 * request_headers counts once through the handle and once through
 * metric_add with the same label value, then (as asked in its config)
 * tries the stale handle and the other instance's, and answers 200 with
 * what the host said, as
 * "handle=S label=S stale=S foreign=S set=S" (gwf_status values; "-"
 * for a call not made).
 */
#include <gwf/abi.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct probe_config {
    gwf_instance *inst;
    char kind[32];
    uint32_t metric;
    uint64_t series;
    int try_stale;
    int try_foreign;
} probe_config;

/* What a rejected config and the last kept one left behind. Test
 * plugin state on the main thread: the test host runs one worker. */
static struct {
    gwf_instance *inst;
    uint64_t series;
} stale, other;

static gwf_status
probe_config_create(const gwf_config_init *init, void **config)
{
    const gwf_host *host = init->instance->host;
    if (!GWF_HAS_FIELD(host, gwf_host, metric_series_set) ||
        !host->metric_series || !host->metric_series_add ||
        !host->metric_series_set)
        return GWF_ERR_UNIMPLEMENTED;
    json_t *root =
        json_loadb(init->config_json.ptr, init->config_json.len, 0, NULL);
    const char *kind = json_string_value(json_object_get(root, "kind"));
    int reject = json_is_true(json_object_get(root, "reject"));
    probe_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg || !kind || strlen(kind) >= sizeof cfg->kind) {
        json_decref(root);
        free(cfg);
        return GWF_ERR_BAD_ARGUMENT;
    }
    snprintf(cfg->kind, sizeof cfg->kind, "%s", kind);
    cfg->try_stale = json_is_true(json_object_get(root, "try_stale"));
    cfg->try_foreign = json_is_true(json_object_get(root, "try_foreign"));
    json_decref(root);
    cfg->inst = init->instance;
    static const char *const labels[] = {"kind"};
    gwf_view value = {cfg->kind, strlen(cfg->kind)};
    gwf_status st = host->metric_define(
        init->instance, GWF_METRIC_COUNTER, "series_probe_total",
        "Requests counted by series_probe.", labels, 1, NULL, 0, &cfg->metric);
    if (st == GWF_OK)
        st = host->metric_series(init->instance, cfg->metric, &value, 1,
                                 &cfg->series);
    if (st != GWF_OK || reject) {
        if (st == GWF_OK) {
            stale.inst = init->instance;
            stale.series = cfg->series;
        }
        free(cfg);
        return st != GWF_OK ? st : GWF_ERR_BAD_ARGUMENT;
    }
    *config = cfg;
    return GWF_OK;
}

static void
probe_config_destroy(void *config)
{
    probe_config *cfg = config;
    if (other.inst == cfg->inst)
        other.inst = NULL;
    free(cfg);
}

static gwf_action
probe_request_headers(gwf_stream *s, void *ctx, int32_t end_of_stream)
{
    (void)end_of_stream;
    probe_config *cfg = ctx;
    const gwf_host *host = s->host;
    gwf_view value = {cfg->kind, strlen(cfg->kind)};
    int by_handle = host->metric_series_add(cfg->inst, cfg->series, 1);
    int by_label = host->metric_add(cfg->inst, cfg->metric, &value, 1, 1);
    char stale_st[8] = "-", foreign_st[8] = "-";
    if (cfg->try_stale && stale.inst)
        snprintf(stale_st, sizeof stale_st, "%d",
                 (int)host->metric_series_add(stale.inst, stale.series, 1));
    if (cfg->try_foreign && other.inst && other.inst != cfg->inst)
        snprintf(foreign_st, sizeof foreign_st, "%d",
                 (int)host->metric_series_add(cfg->inst, other.series, 1));
    /* A counter is never set. */
    int set = host->metric_series_set(cfg->inst, cfg->series, 5);
    other.inst = cfg->inst;
    other.series = cfg->series;
    char body[128];
    int n = snprintf(body, sizeof body,
                     "handle=%d label=%d stale=%s foreign=%s set=%d", by_handle,
                     by_label, stale_st, foreign_st, set);
    host->send_local_reply(s, 200, NULL, 0, body, (size_t)n, "series_probe");
    return GWF_PAUSE;
}

GWF_PLUGIN_ENTRY = {
    .size = sizeof(gwf_plugin),
    .abi_major = GWF_ABI_VERSION_MAJOR,
    .abi_minor = GWF_ABI_VERSION_MINOR,
    .name = "series_probe",
    .version = "0.1.0",
    .description = "Test plugin: metric series handles",
    .config_create = probe_config_create,
    .config_destroy = probe_config_destroy,
    .request_headers = probe_request_headers,
};
