/*
 * cors.h - the cors plugin's internal interface: the config it builds
 * once (config.c), the origin rules it matches against (origin.c) and
 * the stream hooks that use both (filter.c).
 *
 * Split so that the fuzz harness (fuzz/fuzz_cors.c) and the unit tests
 * can drive the config reader and the origin matcher directly, without a
 * host. Nothing here is exported from the plugin: only gwf_plugin_entry
 * is.
 */
#ifndef GWF_CORS_H
#define GWF_CORS_H

#include <gwf/sdk_config.h>
#include <gwf/sdk_metrics.h>

#include <stddef.h>
#include <stdint.h>

/* The Gateway API's bounds (HTTPCORSFilter, CORSOrigin, HTTPHeaderName). */
#define CORS_MAX_ORIGINS 64
#define CORS_MAX_METHODS 9
#define CORS_MAX_HEADERS 64
#define CORS_ORIGIN_MAX_LEN 253
/* Exact origins whose preflight reply is prepared (the rest are built
 * per request). */
#define CORS_PREPARED_MAX 32
#define CORS_HEADER_NAME_MAX_LEN 256
#define CORS_DEFAULT_MAX_AGE 5

/* One allowOrigins entry, as matched: "*" (any origin), or a scheme, a
 * host rule and a port (the scheme's default when the entry names none). */
typedef struct cors_origin {
    int any;      /* "*": every origin */
    int https;    /* 1: https, 0: http */
    int any_host; /* host "*": every host of that scheme and port */
    int wildcard; /* host "*.suffix": the host ends with ".suffix" */
    char host[CORS_ORIGIN_MAX_LEN + 1]; /* lower case; for a wildcard the
                                           suffix with its leading '.' */
    size_t host_len;
    uint16_t port;
} cors_origin;

/* The parsed config: immutable once config_create returns, shared by
 * every worker. Every response header value is built here. */
typedef struct cors_config {
    gwf_instance *instance;
    json_t *doc;

    cors_origin *origins;
    size_t origin_count;

    int allow_credentials;
    int methods_wildcard;       /* allowMethods: ["*"]: echo the request's */
    int headers_wildcard;       /* allowHeaders: ["*"]: echo the request's */
    int expose_wildcard;        /* exposeHeaders: ["*"] */
    char *allow_methods;        /* "GET, OPTIONS", or NULL */
    char *allow_headers;        /* "x-a, x-b", or NULL */
    char *expose_headers;       /* "x-c, x-d", or NULL (also for "*" with
                                   credentials: the names are then listed from
                                   each response) */
    char max_age[12];           /* decimal seconds */
    const char *preflight_vary; /* the preflight reply's Vary */

    gwf_outcome_counter outcomes; /* preflight, allowed, rejected */

    /* The preflight reply of each exact allowed origin, prepared at
     * config time (filter.c), keyed by the origin as a browser writes
     * it ("https://www.foo.com": lower-case host, no default port). */
    struct cors_prepared {
        char *origin;
        size_t len;
        uint64_t reply;
    } prepared[CORS_PREPARED_MAX];
    size_t prepared_count;
} cors_config;

enum { CORS_PREFLIGHT = 0, CORS_ALLOWED = 1, CORS_REJECTED = 2 };

/* [main] Parse `json` (the `cors` object of a TrafficPolicy, or a
 * GatewayExtension plugin config) into a new config. Mistakes go to the
 * host's config_error with their field path; returns GWF_OK or the
 * first failure (then *out is NULL). */
gwf_status cors_config_parse(gwf_instance *inst, gwf_view json,
                             cors_config **out);
void cors_config_free(cors_config *cfg);

/* Parse one allowOrigins entry. Returns NULL when valid, else why not
 * (a static string). */
const char *cors_origin_parse(const char *text, size_t len, cors_origin *out);

/* 1 when the request's Origin value is allowed by one of the rules. A
 * value that is not a serialized http(s) origin (a path, user info, a
 * bad port, "null") matches no rule, not even "*". */
int cors_origin_allowed(const cors_origin *rules, size_t count,
                        gwf_view origin);

#endif /* GWF_CORS_H */
