/*
 * metrics.c - outcome counters (gwf/sdk_metrics.h): one definition, a
 * handle per label value where the host resolves them.
 */
#include <gwf/sdk.h>
#include <gwf/sdk_metrics.h>
#include <string.h>

gwf_status
gwf_outcome_counter_define(gwf_outcome_counter *c, gwf_instance *inst,
                           const char *name, const char *help,
                           const char *label, const char *const *values,
                           size_t count)
{
    memset(c, 0, sizeof *c);
    if (!inst || !name || count == 0 || count > GWF_OUTCOMES_MAX ||
        (label && !values) || (!label && count != 1))
        return GWF_ERR_BAD_ARGUMENT;
    c->instance = inst;
    c->values = label ? values : NULL;
    c->count = count;
    const gwf_host *host = inst->host;
    const char *const labels[] = {label};
    gwf_status st = host->metric_define(inst, GWF_METRIC_COUNTER, name,
                                        help ? help : "", label ? labels : NULL,
                                        label ? 1 : 0, NULL, 0, &c->metric);
    if (st != GWF_OK) {
        gwf_logf(inst, GWF_LOG_WARN, "metric %s not defined (status %d)", name,
                 (int)st);
        return GWF_OK;
    }
    c->defined = 1;
    if (!GWF_HAS_FIELD(host, gwf_host, metric_series_set) ||
        !host->metric_series || !host->metric_series_add)
        return GWF_OK;
    for (size_t i = 0; i < count; i++) {
        gwf_view v = label ? gwf_cstr(values[i]) : (gwf_view){"", 0};
        if (host->metric_series(inst, c->metric, label ? &v : NULL,
                                label ? 1 : 0, &c->series[i]) != GWF_OK)
            c->series[i] = 0;
    }
    return GWF_OK;
}

void
gwf_outcome_counter_add(const gwf_outcome_counter *c, size_t outcome)
{
    if (!c->defined || outcome >= c->count)
        return;
    const gwf_host *host = c->instance->host;
    if (c->series[outcome]) {
        host->metric_series_add(c->instance, c->series[outcome], 1);
        return;
    }
    gwf_view v = c->values ? gwf_cstr(c->values[outcome]) : (gwf_view){"", 0};
    host->metric_add(c->instance, c->metric, c->values ? &v : NULL,
                     c->values ? 1 : 0, 1);
}
