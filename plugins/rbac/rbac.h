/*
 * rbac.h - the rbac plugin's internal interface: the config it builds
 * once (config.c: the compiled expressions and the action), the request
 * activation that lets the CEL evaluator read a stream (activation.c),
 * and the stream hook that decides (filter.c).
 *
 * Split so that the unit tests and the fuzz harness can drive the
 * config reader and the evaluator without a host.
 */
#ifndef GWF_RBAC_H
#define GWF_RBAC_H

#include "cel.h"

#include <gwf/sdk_config.h>
#include <gwf/sdk_metrics.h>

#define RBAC_MAX_EXPRESSIONS 256

typedef struct rbac_config {
    gwf_instance *instance;
    json_t *doc;
    int deny;           /* action Deny: a match is refused */
    cel_program *progs; /* matchExpressions, compiled */
    size_t prog_count;
    gwf_outcome_counter outcomes; /* allowed, denied, error */
} rbac_config;

enum { RBAC_ALLOWED = 0, RBAC_DENIED = 1, RBAC_LIMIT = 2 };

/* [main] Parse `json` (the TrafficPolicy's `rbac` object) into a new
 * config; every mistake goes to the host's config_error with its field
 * path. Returns GWF_OK or the first failure (then *out is NULL). */
gwf_status rbac_config_parse(gwf_instance *inst, gwf_view json,
                             rbac_config **out);
void rbac_config_free(rbac_config *cfg);

/* [worker] Whether the policy matches: any expression true. Returns a
 * cel_result (CEL_RESULT_LIMIT when one hit a gwf limit and none was
 * true). */
cel_result rbac_match(const rbac_config *cfg, const cel_activation *act,
                      cel_scratch *sc);

/* What the activation reads: the stream, and the instance whose clock
 * gives request.time when the host does not know the start time. */
typedef struct rbac_request {
    gwf_stream *s;
    gwf_instance *inst;
} rbac_request;

/* [worker] The activation that reads `rq` (activation.c); `rq` must
 * outlive it. */
void rbac_activation(cel_activation *act, rbac_request *rq);

#endif
