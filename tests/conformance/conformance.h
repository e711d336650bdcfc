/*
 * conformance.h - shared fixture for the ABI conformance suite.
 *
 * Every test builds its situation the same way: one test host, a few
 * GatewayExtensions that configure the `probe` plugin (tests/support/
 * probe/probe.c) with per-hook actions, a request, and a route that is
 * just the chain of those extensions. What happened is then read back
 * from the host's log, where the probe writes one "probe <TAG> <event>"
 * line per hook and callback; conf_trace() turns those lines into a
 * compact string such as "A:request_headers B:request_headers" that a
 * test compares whole, so an extra, missing or reordered call fails with
 * both orders printed.
 *
 * Chains are written as strings of tags: "ABC" is the route through the
 * extensions ext-a, ext-b, ext-c, in that order.
 */
#ifndef GWF_TESTS_CONFORMANCE_H
#define GWF_TESTS_CONFORMANCE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <gwf/testing.h>

/* The host's fixed clock at start: 2026-01-01T00:00:00Z. */
#define CONF_EPOCH_NS INT64_C(1767225600000000000)
#define CONF_MS UINT64_C(1000000)

/* Which events conf_trace keeps. */
enum {
    CONF_HOOKS = 1u,     /* request/response headers/body */
    CONF_LIFECYCLE = 2u, /* stream_create, stream_complete, stream_destroy */
    CONF_WAKES = 4u,     /* timer_fired, fd_ready, post_run, wake_done */
    CONF_ALL = 7u
};

typedef struct conf {
    gwf_test_host *h;
    gwf_test_request *requests[8];
    size_t request_count;
    gwf_test_result *results[8];
    size_t result_count;
    char *trace; /* the last conf_trace */
    char *scratch;
} conf;

/* cmocka setup/teardown: *state becomes a conf with a fresh host. */
int conf_setup(void **state);
int conf_teardown(void **state);

/* Load manifest text, failing the test with the host's error if it does
 * not load. */
void conf_load(conf *c, const char *yaml);

/* A GatewayExtension `name` that configures `plugin` with `config_yaml`
 * (a YAML flow mapping such as "{tag: A}"). */
void conf_extension(conf *c, const char *name, const char *plugin,
                    const char *config_yaml);

/* The probe extension ext-<tag in lower case>, configured with
 * "{tag: <TAG>, <fields>}"; `fields` may be NULL or "". */
void conf_probe(conf *c, char tag, const char *fields);

/* A request owned by the fixture. `body` may be NULL. */
gwf_test_request *conf_request(conf *c, const char *method, const char *path,
                               const char *body);

/* Start the request through the chain ("ABC"), as gwf_test_start. Fails
 * the test if the route does not build. The result is the fixture's. */
gwf_test_result *conf_start(conf *c, const char *chain,
                            const gwf_test_request *req, long timeout_ms);
/* Run the loop until the request finishes, for at most 5 s of real
 * time. Returns 1 if it finished. */
int conf_finish(conf *c, gwf_test_result *res);
/* conf_start + conf_finish, failing the test if it does not finish. */
gwf_test_result *conf_run(conf *c, const char *chain,
                          const gwf_test_request *req);

/* The probe events logged so far, filtered by `mask`, as
 * "A:request_headers B:request_headers ..." (valid until the next call). */
const char *conf_trace(conf *c, unsigned mask);
/* Position of one event ("A:stream_destroy") in a trace, or -1. */
int conf_trace_index(const char *trace, const char *event);
/* How often an event occurs in a trace. */
size_t conf_trace_count(const char *trace, const char *event);
/* Fail unless every stream in `tags` was created, completed and
 * destroyed exactly once, completes in the order of `tags` and each
 * destroy after its complete. */
void conf_check_ended(conf *c, const char *tags);
/* Number of log lines containing `needle`. */
size_t conf_count(conf *c, const char *needle);
/* 1 if some log line contains `needle`. */
int conf_logged(conf *c, const char *needle);
/* The first log line that contains every needle (NULL-terminated list)
 * and none of the probe's own event or note prefixes, or NULL. Used to
 * find what the host itself logged. Valid until the next call. */
const char *conf_host_line(conf *c, const char *const *needles);
/* The first log line containing `needle`, without its '\n', or NULL.
 * Valid until the next call. */
const char *conf_line(conf *c, const char *needle);

/* Fail with the log attached when `cond` is false. */
#define conf_assert(c, cond)                                                   \
    do {                                                                       \
        if (!(cond))                                                           \
            conf_fail_with_log((c), #cond, __FILE__, __LINE__);                \
    } while (0)
void conf_fail_with_log(conf *c, const char *what, const char *file, int line);

/* 1 when the body of `res` equals `text`. */
int conf_body_is(const gwf_test_result *res, const char *text);
/* 1 when the upstream received exactly `text` as body. */
int conf_upstream_body_is(const gwf_test_result *res, const char *text);

#endif
