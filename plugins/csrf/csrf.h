/*
 * csrf.h - the csrf plugin's internal interface: its config (config.c),
 * the origin check (check.c) and the hooks (filter.c).
 *
 * Split so that the unit tests and the fuzz harness drive the config
 * reader and the check without a host. Only gwf_plugin_entry is
 * exported from the plugin.
 */
#ifndef GWF_CSRF_H
#define GWF_CSRF_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <gwf/sdk_config.h>
#include <gwf/sdk_metrics.h>
#include <pcre2.h>

#include <stddef.h>
#include <stdint.h>

#define CSRF_MAX_ORIGINS 16

/* kgateway's shared.StringMatcher: one of exact, prefix, suffix,
 * contains, safeRegex; ignoreCase for all but the regex. */
typedef enum {
    CSRF_EXACT,
    CSRF_PREFIX,
    CSRF_SUFFIX,
    CSRF_CONTAINS,
    CSRF_REGEX
} csrf_match_kind;

typedef struct csrf_matcher {
    csrf_match_kind kind;
    int ignore_case;
    gwf_view text;     /* points into the config document */
    pcre2_code *regex; /* CSRF_REGEX, matched whole (anchored at
                          both ends, as RE2's FullMatch) */
} csrf_matcher;

typedef struct csrf_config {
    gwf_instance *instance;
    json_t *doc;
    uint32_t percent_enabled;  /* 0-100: requests checked and enforced */
    uint32_t percent_shadowed; /* 0-100: checked, counted, let through */
    csrf_matcher *origins;
    size_t origin_count;
    pcre2_match_context *match_ctx; /* the regexes' match limits */

    gwf_outcome_counter counters[3]; /* missing, invalid, valid */
} csrf_config;

/* Metrics, as Envoy's CSRF filter names its stats. */
enum {
    CSRF_MISSING_SOURCE_ORIGIN = 0,
    CSRF_REQUEST_INVALID = 1,
    CSRF_REQUEST_VALID = 2
};

/* [main] Parse the `csrf` object. Mistakes go to config_error with their
 * field path; returns GWF_OK or the first failure (*out NULL then). */
gwf_status csrf_config_parse(gwf_instance *inst, gwf_view json,
                             csrf_config **out);
void csrf_config_free(csrf_config *cfg);

/* 1 for the methods Envoy's CSRF filter checks: POST, PUT, DELETE,
 * PATCH (exact, as methods are case-sensitive). */
int csrf_is_modify_method(gwf_view method);

/* Envoy's hostAndPort: the authority of an absolute URL
 * ("https://a.example:8443/x" -> "a.example:8443"), or the value itself
 * when it is not one ("null" stays "null", a Host header stays as is). */
gwf_view csrf_host_and_port(gwf_view value);

/* Is `source` (a host and port) allowed for `target` (the request's
 * host): equal without case, or matched by an additional origin. `md`
 * is match data for the regexes (pcre2_match_data_create(1, NULL)), one
 * per thread; a regex that errs (its match limit) does not match. */
int csrf_source_allowed(const csrf_config *cfg, gwf_view source,
                        gwf_view target, pcre2_match_data *md);

#endif /* GWF_CSRF_H */
