/*
 * metrics.c - outcome counters (gwf/sdk_metrics.h): one definition, a
 * handle per label value where the host resolves them.
 */
#include <gwf/sdk.h>
#include <gwf/sdk_metrics.h>
#include <string.h>

/* The label values of `outcome` in `v` (the outcome's, then the fixed
 * one): how many, 0 to 2. */
static size_t
outcome_labels(const gwf_outcome_counter *c, size_t outcome, gwf_view *v)
{
    v[0] = c->values ? gwf_cstr(c->values[outcome]) : (gwf_view){"", 0};
    if (!c->fixed_value)
        return c->values ? 1 : 0;
    v[1] = gwf_cstr(c->fixed_value);
    return 2;
}

gwf_status
gwf_outcome_counter_define_fixed(gwf_outcome_counter *c, gwf_instance *inst,
                                 const char *name, const char *help,
                                 const char *label, const char *const *values,
                                 size_t count, const char *fixed_label,
                                 const char *fixed_value)
{
    memset(c, 0, sizeof *c);
    if (!inst || !name || count == 0 || count > GWF_OUTCOMES_MAX ||
        (label && !values) || (!label && count != 1) ||
        (fixed_label && (!label || !fixed_value)))
        return GWF_ERR_BAD_ARGUMENT;
    c->instance = inst;
    c->values = label ? values : NULL;
    c->fixed_value = fixed_label ? fixed_value : NULL;
    c->count = count;
    const gwf_host *host = inst->host;
    const char *const labels[] = {label, fixed_label};
    size_t label_count = label ? (fixed_label ? 2 : 1) : 0;
    gwf_status st = host->metric_define(
        inst, GWF_METRIC_COUNTER, name, help ? help : "",
        label_count ? labels : NULL, label_count, NULL, 0, &c->metric);
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
        gwf_view v[2];
        size_t n = outcome_labels(c, i, v);
        if (host->metric_series(inst, c->metric, n ? v : NULL, n,
                                &c->series[i]) != GWF_OK)
            c->series[i] = 0;
    }
    return GWF_OK;
}

gwf_status
gwf_outcome_counter_define(gwf_outcome_counter *c, gwf_instance *inst,
                           const char *name, const char *help,
                           const char *label, const char *const *values,
                           size_t count)
{
    return gwf_outcome_counter_define_fixed(c, inst, name, help, label, values,
                                            count, NULL, NULL);
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
    gwf_view v[2];
    size_t n = outcome_labels(c, outcome, v);
    host->metric_add(c->instance, c->metric, n ? v : NULL, n, 1);
}
