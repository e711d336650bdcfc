/*
 * filter.c - the csrf plugin's hooks: refuse state-changing requests
 * whose origin is not the destination, as Envoy's CSRF filter does.
 *
 * For each request:
 *  1. Sampling. percentageEnabled of the requests are checked and
 *     enforced, percentageShadowed checked and only counted (Envoy's
 *     runtime fractions filter_enabled / shadow_enabled; 0 and 100 are
 *     exact, values between are drawn per request from a per-worker
 *     generator). A request in neither share passes untouched.
 *  2. Only POST, PUT, DELETE and PATCH are checked (Envoy's list).
 *  3. The source origin is Origin, else Referer (check.c); none at all
 *     counts missing_source_origin and is invalid. More than one Origin
 *     (or, without Origin, more than one Referer) is invalid too: which
 *     one a browser meant cannot be told.
 *  4. Valid when the source's host and port equal the request's Host
 *     or an additional origin matches them; counted request_valid or
 *     request_invalid.
 *  5. An invalid enforced request is answered 403 "Invalid origin"
 *     (details csrf_origin_mismatch), as Envoy answers; a shadowed one
 *     goes on.
 *
 * A :method, Origin or Referer the host could not read (out of memory)
 * is not an absent one: taking it so would let a write through
 * unchecked, or judge it by a Referer its Origin overrides. The request
 * is then invalid, refused as in 5 (or counted in shadow mode).
 *
 * Per-worker state (worker_start) holds the generator and PCRE2's match
 * data, so the request path allocates nothing; stream_create hands that
 * state to the hooks without allocating either.
 */
#include "csrf.h"

#include <stdlib.h>
#include <string.h>

typedef struct csrf_worker {
    const csrf_config *cfg;
    pcre2_match_data *md; /* for the regexes, this worker's */
    uint64_t rng;         /* xorshift64* state, never 0 */
} csrf_worker;

static uint64_t
next_random(csrf_worker *w)
{
    uint64_t x = w->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    w->rng = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* Does this request fall in a share of `percent`? */
static int
sampled(csrf_worker *w, uint32_t percent)
{
    if (percent == 0)
        return 0;
    if (percent >= 100)
        return 1;
    return (next_random(w) >> 32) % 100 < percent;
}

static void
count(const csrf_config *cfg, int which)
{
    gwf_outcome_counter_add(&cfg->counters[which], 0);
}

/* What one_value found besides a value (1) or none (0). */
enum { CSRF_REPEATED = -1, CSRF_UNREAD = -2 };

/* The one value of request header `name`: 1 found, 0 absent or empty,
 * CSRF_REPEATED more than one, CSRF_UNREAD the host could not read it. */
static int
one_value(gwf_stream *s, const char *name, size_t len, gwf_view *value)
{
    gwf_view second;
    gwf_status st = s->host->header_get(s, GWF_REQUEST, name, len, 0, value);

    if (st != GWF_OK)
        return st == GWF_ERR_NOT_FOUND ? 0 : CSRF_UNREAD;
    st = s->host->header_get(s, GWF_REQUEST, name, len, 1, &second);
    if (st == GWF_OK)
        return CSRF_REPEATED;
    if (st != GWF_ERR_NOT_FOUND)
        return CSRF_UNREAD;
    return value->len > 0;
}

static const char *
why_invalid(int found)
{
    switch (found) {
    case 1:
        return "origin of the request not allowed";
    case 0:
        return "origin missing";
    case CSRF_REPEATED:
        return "origin repeated";
    default:
        return "method or origin the host could not read";
    }
}

static gwf_action
csrf_request_headers(gwf_stream *s, void *stream_ctx, int32_t end_of_stream)
{
    static const gwf_header reply_headers[] = {
        {{"content-type", 12}, {"text/plain", 10}}};
    static const char body[] = "Invalid origin";
    csrf_worker *w = stream_ctx;
    const csrf_config *cfg = w->cfg;
    gwf_view method, value = {NULL, 0}, source = {NULL, 0}, target = {NULL, 0};
    gwf_status st;
    int enforce, shadow, found, valid;

    (void)end_of_stream;
    if (cfg->percent_enabled == 0 && cfg->percent_shadowed == 0)
        return GWF_CONTINUE;
    /* An unread method may be a write: checked, and invalid. */
    st = s->host->header_get(s, GWF_REQUEST, ":method", 7, 0, &method);
    if (st == GWF_ERR_NOT_FOUND ||
        (st == GWF_OK && !csrf_is_modify_method(method)))
        return GWF_CONTINUE;
    enforce = sampled(w, cfg->percent_enabled);
    shadow = sampled(w, cfg->percent_shadowed);
    if (!enforce && !shadow)
        return GWF_CONTINUE;

    found = st == GWF_OK ? one_value(s, "origin", 6, &value) : CSRF_UNREAD;
    if (found == 0)
        found = one_value(s, "referer", 7, &value);
    if (found == 1)
        source = csrf_host_and_port(value);
    if (found == 0)
        count(cfg, CSRF_MISSING_SOURCE_ORIGIN);
    /* An unread Host stays empty: it equals no source, so only an
     * additional origin can make the request valid, as it would anyway. */
    if (s->host->header_get(s, GWF_REQUEST, ":authority", 10, 0, &target) ==
        GWF_OK)
        target = csrf_host_and_port(target);
    valid = found == 1 && csrf_source_allowed(cfg, source, target, w->md);
    count(cfg, valid ? CSRF_REQUEST_VALID : CSRF_REQUEST_INVALID);
    if (valid)
        return GWF_CONTINUE;
    if (found == CSRF_UNREAD)
        gwf_stream_logf(s, GWF_LOG_WARN,
                        "csrf: the host could not read the method or the "
                        "origin: the request is invalid");
    if (!enforce) {
        gwf_stream_logf(s, GWF_LOG_DEBUG, "csrf: shadow: %s, let through",
                        why_invalid(found));
        return GWF_CONTINUE;
    }
    if (s->host->send_local_reply(s, 403, reply_headers, 1, body,
                                  sizeof(body) - 1,
                                  "csrf_origin_mismatch") != GWF_OK) {
        /* Fail closed: the request must not reach the upstream. */
        gwf_stream_logf(s, GWF_LOG_ERROR, "csrf: 403 reply not sent");
        s->host->send_local_reply(s, 500, NULL, 0, NULL, 0,
                                  "csrf_reply_failed");
    }
    return GWF_PAUSE;
}

/* -- Config, worker and stream hooks -------------------------------------- */

static gwf_status
csrf_config_create(const gwf_config_init *init, void **config)
{
    static const char *const names[] = {"csrf_missing_source_origin_total",
                                        "csrf_request_invalid_total",
                                        "csrf_request_valid_total"};
    static const char *const helps[] = {
        "Checked requests with neither Origin nor Referer.",
        "Checked requests whose origin is not allowed (either mode).",
        "Checked requests whose origin is allowed."};
    csrf_config *cfg;
    gwf_status st;

    st = csrf_config_parse(init->instance, init->config_json, &cfg);
    if (st != GWF_OK)
        return st;
    for (int i = 0; i < 3; i++)
        gwf_outcome_counter_define(&cfg->counters[i], init->instance, names[i],
                                   helps[i], NULL, NULL, 1);
    *config = cfg;
    return GWF_OK;
}

static void
csrf_config_destroy(void *config)
{
    csrf_config_free(config);
}

static gwf_status
csrf_worker_start(void *config, const gwf_worker_init *init, void **worker)
{
    csrf_worker *w = calloc(1, sizeof(*w));
    const gwf_host *host = init->instance->host;

    if (!w)
        return GWF_ERR_NO_MEMORY;
    w->cfg = config;
    if (w->cfg->origin_count > 0) {
        w->md = pcre2_match_data_create(1, NULL);
        if (!w->md) {
            free(w);
            return GWF_ERR_NO_MEMORY;
        }
    }
    w->rng = (uint64_t)host->now(init->instance, GWF_CLOCK_MONOTONIC) ^
             ((uint64_t)(uintptr_t)w << 16) ^
             ((uint64_t)init->worker_index * 0x9E3779B97F4A7C15ull);
    if (w->rng == 0)
        w->rng = 0x9E3779B97F4A7C15ull;
    *worker = w;
    return GWF_OK;
}

static void
csrf_worker_stop(void *config, void *worker)
{
    csrf_worker *w = worker;

    (void)config;
    if (!w)
        return;
    pcre2_match_data_free(w->md);
    free(w);
}

static gwf_status
csrf_stream_create(gwf_stream *s, const gwf_stream_init *init,
                   void **stream_ctx)
{
    (void)s;
    if (!init->worker)
        return GWF_ERR_INTERNAL;
    *stream_ctx = init->worker;
    return GWF_OK;
}

GWF_PLUGIN_ENTRY = {
    .size = sizeof(gwf_plugin),
    .abi_major = GWF_ABI_VERSION_MAJOR,
    .abi_minor = GWF_ABI_VERSION_MINOR,
    .name = "csrf",
    .version = "0.1.0",
    .description = "Refuse state-changing requests from another origin "
                   "(kgateway TrafficPolicy csrf, Envoy's CSRF filter)",
    .config_create = csrf_config_create,
    .config_destroy = csrf_config_destroy,
    .worker_start = csrf_worker_start,
    .worker_stop = csrf_worker_stop,
    .stream_create = csrf_stream_create,
    .request_headers = csrf_request_headers,
};
