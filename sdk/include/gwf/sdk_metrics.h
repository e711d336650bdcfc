/*
 * gwf/sdk_metrics.h - a plugin's outcome counter, defined once and
 * counted by index.
 *
 * Most plugins count what they did with each request under one label
 * whose values are fixed when the config loads ("allowed",
 * "denied_missing", ...). gwf_outcome_counter_define defines the counter
 * (config_create, main thread) and, where the host has metric series
 * handles (ABI 0.3), resolves every value to a handle, so that counting
 * on a worker is an index and an add with no hashing; on an older host it
 * counts by label value. A counter the host could not define counts
 * nothing and logs one warning: metrics never take traffic down.
 */
#ifndef GWF_SDK_METRICS_H
#define GWF_SDK_METRICS_H

#include <gwf/abi.h>

#ifdef __cplusplus
extern "C" {
#endif

/* At most this many label values per counter. */
#define GWF_OUTCOMES_MAX 16

typedef struct gwf_outcome_counter {
    gwf_instance *instance;
    uint32_t metric;
    int defined;
    size_t count;
    const char *const *values; /* the caller's, static */
    const char *fixed_value;   /* the second label's, or NULL: none */
    uint64_t series[GWF_OUTCOMES_MAX];
} gwf_outcome_counter;

/* [main] Define counter `name` (without the host's "gwf_" prefix) with
 * one label `label` taking `values[0..count)` (static strings, kept by
 * reference), or, with `label` NULL, a counter without labels (`values`
 * NULL, `count` 1). Returns GWF_OK, also when the host refused the metric
 * (then it is logged and the counter counts nothing); GWF_ERR_BAD_ARGUMENT
 * for count 0 or above GWF_OUTCOMES_MAX. */
gwf_status gwf_outcome_counter_define(gwf_outcome_counter *c,
                                      gwf_instance *inst, const char *name,
                                      const char *help, const char *label,
                                      const char *const *values, size_t count);

/* [main] As gwf_outcome_counter_define, with a second label
 * `fixed_label` whose value is `fixed_value` on every series (kept by
 * reference: it must live as long as the counter): what tells one
 * instance's counts from another's, such as ext_authz's statPrefix. */
gwf_status gwf_outcome_counter_define_fixed(
    gwf_outcome_counter *c, gwf_instance *inst, const char *name,
    const char *help, const char *label, const char *const *values,
    size_t count, const char *fixed_label, const char *fixed_value);

/* [worker] Add 1 to the series of value `outcome` (an index into the
 * values given to define; out of range: nothing). */
void gwf_outcome_counter_add(const gwf_outcome_counter *c, size_t outcome);

#ifdef __cplusplus
}
#endif

#endif /* GWF_SDK_METRICS_H */
