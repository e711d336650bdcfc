/*
 * filter.c - the rate_limit plugin's hooks: the plugin entry, per-worker
 * state, and the decision for one request.
 *
 * Global shape in Redis, per request (request_headers):
 *   1. the route's descriptors are built from the request (a descriptor
 *      with an entry whose source is absent - no such header, no claim -
 *      is skipped, as Envoy does);
 *   2. each finds its limit in the tree; unlimited and unmatched ones are
 *      skipped;
 *   3. keys this worker already saw over the limit in this window are
 *      answered from the over-limit cache; the others go to Redis as
 *      INCRBY + EXPIRE, all in one pipeline on the worker's connection,
 *      and the stream pauses under a timer (`timeout`); with
 *      redis.perSecond, the limits whose unit is second go to a second
 *      connection, to that Redis (envoyproxy/ratelimit's
 *      REDIS_PERSECOND), and a verdict may wait on both;
 *   4. when every reply is in (or the timer fires, or Redis fails) the
 *      verdict is made: 429 if a descriptor not in shadow mode is over its
 *      limit, the failure mode if Redis failed, else the request goes on.
 *
 * Our own failures (no memory for the decision or a key, no worker state)
 * take the failure mode too, exactly as Redis failing does: failOpen
 * false refuses the request, never lets it through unchecked. What the
 * client sends is never a failure: an absent header or claim means that
 * descriptor does not apply (Envoy's rule), and any value, of any bytes
 * or length, is counted byte for byte (Redis keys are binary-safe).
 *
 * A decision outlives its stream when the client leaves or the timer wins:
 * hiredis still owes it replies. So the decision is freed by whichever of
 * stream_destroy and the last reply comes last.
 *
 * The request path allocates as little as it can: keys are built in the
 * worker's reused buffer, the decision is made on the stack, and only a
 * decision that must wait for Redis is copied to the heap (one
 * allocation: the decision, its slots and their keys). A key answered
 * from the over-limit cache costs no allocation and no Redis work; the
 * decisions metric counts through series handles resolved when the
 * config loads, and the numbers in headers are formatted without printf.
 *
 * Global shape through a rate limit service (grpcService): the route's
 * descriptors become one RateLimitRequest (see "RLS mode" below), the
 * stream pauses under a timer (`timeout`) while rls.c makes the call, and
 * the answer decides: OVER_LIMIT is a 429, OK goes on with the headers
 * the service asked for, anything else is a failure that failOpen
 * decides. The call belongs to the stream: stream_destroy cancels it.
 *
 * Local shape: one token from the shared bucket, or 429; percentEnabled
 * and percentEnforced are Envoy's filter_enabled / filter_enforced.
 */
#include "rate_limit.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { SLOT_PENDING, SLOT_OK, SLOT_ERROR, SLOT_CACHED_OVER };

#define RL_OVER_MEMO 16

typedef struct rl_worker {
    rl_rls *rls; /* RLS mode */
    /* redis.poolSize clients of redis (each its own connections), taken
     * in turn by decisions; and of redis.perSecond, where the limits
     * whose unit is second count (slot_redis): none when there is no
     * per-second Redis. */
    rl_redis *redis[RL_REDIS_POOL_MAX];
    unsigned redis_count;
    rl_redis *redis_per_second[RL_REDIS_POOL_MAX];
    unsigned per_second_count;
    unsigned pool_next;
    rl_cache *cache;
    /* The keys of the decision being made, one after the other: reused
     * by every request, so a key costs no allocation once the buffer has
     * grown to the longest seen. */
    gwf_strbuf keys;
    rl_window_texts windows; /* the fixed window keys' window starts */
    /* All-Generic descriptors over their limit, and until when
     * (seconds): what the cache holds for their key, found without
     * making the key (over_memo_*). */
    struct {
        const rl_descriptor_spec *ds;
        int64_t until;
    } over_memo[RL_OVER_MEMO];
    /* Memory of ended decisions and streams, kept for the next ones (a
     * worker makes one of each per request): RL_SPARES of each at most,
     * none under AddressSanitizer, so that a use after free is still
     * caught. */
    struct rl_spare *spare_decisions, *spare_streams;
    unsigned spare_decision_count, spare_stream_count;
    int stopping;
} rl_worker;

#if defined(__SANITIZE_ADDRESS__)
#define RL_SPARES 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RL_SPARES 0
#endif
#endif
#ifndef RL_SPARES
#define RL_SPARES 16
#endif

/* A kept block: its size, then nothing of use. */
typedef struct rl_spare {
    struct rl_spare *next;
    size_t size;
} rl_spare;

/* A block of at least `size` bytes: the first spare when it is large
 * enough, else a new one (sized up to 256 bytes a step, so that spares
 * fit the next decision). *got says how large. NULL: out of memory. */
static void *
spare_take(rl_spare **list, unsigned *count, size_t size, size_t *got)
{
    rl_spare *sp = *list;

    if (sp && sp->size >= size) {
        *list = sp->next;
        (*count)--;
        *got = sp->size;
        return sp;
    }
    size = (size + 255) / 256 * 256;
    *got = size;
    return malloc(size);
}

/* Keep `block` (`size` bytes) for later, or free it. */
static void
spare_give(rl_worker *w, rl_spare **list, unsigned *count, void *block,
           size_t size)
{
    rl_spare *sp = block;

    if (!w || w->stopping || *count + 1 > RL_SPARES || size < sizeof(*sp)) {
        free(block);
        return;
    }
    sp->next = *list;
    sp->size = size;
    *list = sp;
    (*count)++;
}

static void
spares_free(rl_spare *sp)
{
    while (sp) {
        rl_spare *next = sp->next;
        free(sp);
        sp = next;
    }
}

typedef struct rl_decision rl_decision;
typedef struct rl_stream rl_stream;

typedef struct rl_slot {
    rl_decision *d;
    const rl_descriptor_spec *ds;
    const rl_limit *limit;
    const char *key; /* in the decision (or the worker's buffer) */
    size_t key_off;  /* where build_slot put it in the worker's buffer */
    size_t key_len;
    int state;
    long long count;          /* fixed window: the count after INCRBY */
    rl_rolling_reply rolling; /* rolling: the script's reply */
    int64_t window_end; /* seconds; for a cached key: the cache's expiry */
} rl_slot;

struct rl_decision {
    rl_stream *st; /* NULL once the stream is destroyed */
    rl_worker *w;
    const rl_config *cfg;
    size_t n;
    unsigned pending;
    int done;
    uint64_t timer_id;
    int64_t now_s;
    int64_t now_ms;
    unsigned pool; /* which of the worker's clients (poolSize) */
    size_t size;   /* of its allocation (spare_take) */
    /* n of them. A decision answered without Redis lives on the stack
     * of global_request_headers; one that waits for Redis is one
     * allocation: this header, its slots, then their keys. */
    rl_slot *slots;
};

struct rl_stream {
    gwf_stream *s;
    const rl_config *cfg;
    const rl_route *route;
    rl_worker *w;
    rl_decision *d;
    int add_headers; /* x-ratelimit-* on the upstream's response */
    char limit_hdr[72], remaining_hdr[24], reset_hdr[24];
    /* RLS mode: the call in flight and its timer (`timeout`), and what
     * an allowing answer adds to the upstream's response. */
    rl_rls_call *rls_call;
    uint64_t rls_timer;
    rl_rls_header *rls_response_headers;
    size_t rls_response_header_count;
};

/* ------------------------------------------------------------------------
 * Config hooks [main]
 * --------------------------------------------------------------------- */

static const char *const outcome_names[RL_OUTCOME_COUNT] = {
    "allowed", "near_limit", "over_limit", "shadow_mode", "error"};

/* Resolve each limit's decision series once, so that a decision counts
 * with an index and an add (no label hashing on the request path). A
 * host without series handles leaves them 0: metric_add then. */
static void
resolve_series(rl_config *cfg, rl_node *node)
{
    const gwf_host *host = cfg->instance->host;

    if (node->has_limit) {
        for (int o = 0; o < RL_OUTCOME_COUNT; o++) {
            gwf_view labels[2] = {gwf_cstr(node->limit.metric_label),
                                  gwf_cstr(outcome_names[o])};
            if (host->metric_series(cfg->instance, cfg->metrics.decisions,
                                    labels, 2,
                                    &node->limit.series[o]) != GWF_OK)
                node->limit.series[o] = 0;
        }
    }
    for (size_t i = 0; i < node->child_count; i++)
        resolve_series(cfg, &node->children[i]);
}

static void
define_metrics(rl_config *cfg)
{
    static const char *const decision_labels[] = {"descriptor", "outcome"};
    static const char *const local_outcomes[] = {"allowed", "not_enforced",
                                                 "over_limit"};
    static const char *const rls_outcomes[] = {"ok", "over_limit", "error"};
    static const double buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01,
                                     0.025,  0.05,  0.1,    0.25,  1};
    const gwf_host *host = cfg->instance->host;
    gwf_status st;

    /* Counted by index: each outcome's series is resolved once where the
     * host has handles (no label hashing on the request path). */
    if (cfg->is_local) {
        gwf_outcome_counter_define(&cfg->metrics.local, cfg->instance,
                                   "rate_limit_local_total",
                                   "Local token bucket decisions, by outcome "
                                   "(allowed, over_limit, not_enforced: over "
                                   "the limit but let through by "
                                   "percentEnforced).",
                                   "outcome", local_outcomes, 3);
        return;
    }
    if (cfg->mode == RL_MODE_RLS) {
        gwf_outcome_counter_define(&cfg->metrics.rls, cfg->instance,
                                   "rate_limit_service_total",
                                   "Rate limit service answers, by outcome "
                                   "(ok, over_limit, error).",
                                   "outcome", rls_outcomes, 3);
        return;
    }
    st = host->metric_define(
        cfg->instance, GWF_METRIC_COUNTER, "rate_limit_decisions_total",
        "Descriptor decisions, by descriptor and "
        "outcome (allowed, near_limit, over_limit, "
        "shadow_mode, error).",
        decision_labels, 2, NULL, 0, &cfg->metrics.decisions);
    if (st == GWF_OK)
        st = host->metric_define(
            cfg->instance, GWF_METRIC_HISTOGRAM,
            "rate_limit_redis_latency_seconds",
            "Time from sending INCRBY to its reply.", NULL, 0, buckets,
            sizeof(buckets) / sizeof(buckets[0]), &cfg->metrics.redis_latency);
    cfg->metrics.ok = st == GWF_OK;
    if (cfg->metrics.ok && GWF_HAS_FIELD(host, gwf_host, metric_series_add) &&
        host->metric_series && host->metric_series_add)
        resolve_series(cfg, &cfg->root);
    /* Every reply from Redis is observed: its series by handle too. */
    if (cfg->metrics.ok &&
        GWF_HAS_FIELD(host, gwf_host, metric_series_observe) &&
        host->metric_series && host->metric_series_observe &&
        host->metric_series(cfg->instance, cfg->metrics.redis_latency, NULL, 0,
                            &cfg->metrics.redis_latency_series) != GWF_OK)
        cfg->metrics.redis_latency_series = 0;
}

/* The names of the 429's headers, in the order of their values: the
 * prepared replies' and send_local_reply's. */
static const char *const over_names[] = {"retry-after", "x-ratelimit-limit",
                                         "x-ratelimit-remaining",
                                         "x-ratelimit-reset"};

/* A 429 with `count` header values (over_names'), body and details: the
 * prepared reply `reply` with those values, or through send_local_reply
 * when there is none. */
static void
send_429(gwf_stream *s, uint64_t reply, const gwf_view *values, size_t count,
         const char *body, const char *details)
{
    gwf_header headers[4];

    if (reply) {
        s->host->send_prepared_reply_values(s, reply, values, count);
        return;
    }
    for (size_t i = 0; i < count; i++)
        headers[i] = (gwf_header){gwf_cstr(over_names[i]), values[i]};
    s->host->send_local_reply(s, 429, headers, count, body,
                              body ? strlen(body) : 0, details);
}

/* Prepare the 429s the instance sends (rl_config's over_reply...), when
 * the host can send them with each request's values; a refusal leaves
 * send_local_reply doing the job. */
static void
prepare_replies(rl_config *cfg)
{
    const gwf_host *host = cfg->instance->host;
    gwf_header headers[4];
    uint64_t *reply;

    if (!GWF_HAS_FIELD(host, gwf_host, send_prepared_reply_values) ||
        !host->reply_prepare || !host->send_prepared_reply_values)
        return;
    for (size_t i = 0; i < 4; i++)
        headers[i] = (gwf_header){gwf_cstr(over_names[i]), gwf_cstr("0")};
    if (cfg->is_local) {
        reply = &cfg->local_reply;
        if (host->reply_prepare(cfg->instance, 429, headers, 1,
                                "local_rate_limited",
                                strlen("local_rate_limited"),
                                "local_rate_limited", reply) != GWF_OK)
            *reply = 0;
        return;
    }
    reply = &cfg->over_reply;
    if (host->reply_prepare(cfg->instance, 429, headers, 1, NULL, 0,
                            "rate_limited", reply) != GWF_OK)
        *reply = 0;
    reply = &cfg->over_reply_headers;
    if (host->reply_prepare(cfg->instance, 429, headers, 4, NULL, 0,
                            "rate_limited", reply) != GWF_OK)
        *reply = 0;
}

static gwf_status
rl_config_create(const gwf_config_init *init, void **out)
{
    rl_config *cfg = calloc(1, sizeof(*cfg));
    json_t *spec;
    gwf_cfg c;

    if (!cfg)
        return GWF_ERR_NO_MEMORY;
    gwf_cfg_init(&c, init->instance);
    cfg->instance = init->instance;
    spec = json_loadb(init->config_json.ptr, init->config_json.len, 0, NULL);
    if (gwf_cfg_check_object(&c, "", spec, "an object", GWF_CFG_REQUIRED) ==
        GWF_OK)
        rl_config_parse(cfg, &c, spec);
    json_decref(spec);
    if (gwf_cfg_status(&c) == GWF_OK && !cfg->is_local &&
        cfg->algorithm == RL_ALGO_ROLLING)
        rl_rolling_sha(cfg->rolling_sha);
    if (gwf_cfg_status(&c) == GWF_OK && cfg->is_local &&
        cfg->local.max_tokens) {
        cfg->local.bucket = rl_bucket_create(
            cfg->local.max_tokens,
            init->instance->host->now(init->instance, GWF_CLOCK_MONOTONIC));
        if (!cfg->local.bucket)
            gwf_cfg_fail(&c, "local",
                         "cannot map shared memory for the bucket");
    }
    if (gwf_cfg_status(&c) != GWF_OK) {
        rl_config_free(cfg);
        free(cfg);
        return gwf_cfg_status(&c);
    }
    define_metrics(cfg);
    prepare_replies(cfg);
    *out = cfg;
    return GWF_OK;
}

static void
rl_config_destroy(void *config)
{
    rl_config *cfg = config;

    rl_bucket_destroy(cfg->local.bucket);
    rl_config_free(cfg);
    free(cfg);
}

static gwf_status
rl_route_config_create(void *config, gwf_instance *inst, gwf_view json,
                       void **out)
{
    rl_config *cfg = config;
    rl_route *route;
    json_t *spec;
    gwf_cfg c;

    gwf_cfg_init(&c, inst);
    if (cfg->is_local)
        return gwf_cfg_fail(&c, "",
                            "a local rate limit has no per-route config");
    route = calloc(1, sizeof(*route));
    if (!route)
        return gwf_cfg_no_memory(&c, "");
    spec = json_loadb(json.ptr, json.len, 0, NULL);
    rl_route_parse(&c, spec, route);
    json_decref(spec);
    rl_route_prepare(route, &cfg->root);
    if (gwf_cfg_status(&c) != GWF_OK) {
        rl_route_free(route);
        free(route);
        return gwf_cfg_status(&c);
    }
    *out = route;
    return GWF_OK;
}

static void
rl_route_config_destroy(void *config, void *route_config)
{
    (void)config;
    rl_route_free(route_config);
    free(route_config);
}

/* ------------------------------------------------------------------------
 * Worker hooks
 * --------------------------------------------------------------------- */

static void
worker_free_clients(rl_worker *w)
{
    for (unsigned i = 0; i < w->redis_count; i++)
        rl_redis_free(w->redis[i]);
    for (unsigned i = 0; i < w->per_second_count; i++)
        rl_redis_free(w->redis_per_second[i]);
}

static gwf_status
rl_worker_start(void *config, const gwf_worker_init *init, void **out)
{
    rl_config *cfg = config;
    rl_worker *w;
    int ok;

    (void)init;
    if (cfg->is_local) {
        *out = NULL;
        return GWF_OK;
    }
    w = calloc(1, sizeof(*w));
    if (!w)
        return GWF_ERR_NO_MEMORY;
    if (cfg->mode == RL_MODE_RLS) {
        w->rls = rl_rls_new(cfg);
        if (!w->rls) {
            free(w);
            return GWF_ERR_NO_MEMORY;
        }
        *out = w;
        return GWF_OK;
    }
    w->cache = rl_cache_new();
    ok = w->cache != NULL;
    for (unsigned i = 0; ok && i < cfg->redis.pool_size; i++)
        ok = (w->redis[w->redis_count++] = rl_redis_new(cfg, &cfg->redis)) !=
             NULL;
    for (unsigned i = 0;
         ok && cfg->redis_per_second && i < cfg->redis_per_second->pool_size;
         i++)
        ok = (w->redis_per_second[w->per_second_count++] =
                  rl_redis_new(cfg, cfg->redis_per_second)) != NULL;
    if (!ok) {
        worker_free_clients(w);
        rl_cache_free(w->cache);
        free(w);
        return GWF_ERR_NO_MEMORY;
    }
    *out = w;
    return GWF_OK;
}

static void
rl_worker_stop(void *config, void *worker)
{
    rl_worker *w = worker;

    (void)config;
    if (!w)
        return;
    w->stopping = 1;
    rl_rls_free(w->rls);
    worker_free_clients(w);
    rl_cache_free(w->cache);
    gwf_strbuf_free(&w->keys);
    spares_free(w->spare_decisions);
    spares_free(w->spare_streams);
    free(w);
}

/* ------------------------------------------------------------------------
 * Stream hooks
 * --------------------------------------------------------------------- */

static gwf_status
rl_stream_create(gwf_stream *s, const gwf_stream_init *init, void **out)
{
    rl_worker *w = init->worker;
    size_t got;
    rl_stream *st;

    if (w && w->spare_streams) {
        st = spare_take(&w->spare_streams, &w->spare_stream_count, sizeof(*st),
                        &got);
        if (!st)
            return GWF_ERR_NO_MEMORY;
        memset(st, 0, sizeof(*st));
    } else if (!(st = calloc(1, sizeof(*st)))) {
        return GWF_ERR_NO_MEMORY;
    }
    st->s = s;
    st->cfg = init->config;
    st->route = init->route_config;
    st->w = init->worker;
    *out = st;
    return GWF_OK;
}

static void
decision_free(rl_decision *d)
{
    rl_worker *w = d->w;

    /* its slots and keys with it */
    spare_give(w, &w->spare_decisions, &w->spare_decision_count, d, d->size);
}

static void rls_forget(rl_stream *st);

static void
rl_stream_destroy(gwf_stream *s, void *ctx)
{
    rl_stream *st = ctx;

    (void)s;
    rls_forget(st);
    if (st->d) {
        st->d->st = NULL;
        if (st->d->pending == 0)
            decision_free(st->d);
    }
    if (st->w)
        spare_give(st->w, &st->w->spare_streams, &st->w->spare_stream_count, st,
                   sizeof(*st));
    else
        free(st);
}

static void
count_outcome(const rl_config *cfg, const rl_limit *limit, int outcome)
{
    gwf_view labels[2];

    if (!cfg->metrics.ok)
        return;
    if (limit->series[outcome]) {
        cfg->instance->host->metric_series_add(cfg->instance,
                                               limit->series[outcome], 1);
        return;
    }
    labels[0] = gwf_cstr(limit->metric_label);
    labels[1] = gwf_cstr(outcome_names[outcome]);
    cfg->instance->host->metric_add(cfg->instance, cfg->metrics.decisions,
                                    labels, 2, 1);
}

/* The worker's memo of an all-Generic descriptor's verdict: one entry
 * per descriptor in a small direct-mapped table (a collision only
 * costs the key and the cache lookup again). */
static size_t
over_memo_index(const rl_descriptor_spec *ds)
{
    return ((uintptr_t)ds / sizeof(rl_descriptor_spec)) % RL_OVER_MEMO;
}

static int64_t
over_memo_get(const rl_worker *w, const rl_descriptor_spec *ds, int64_t now_s)
{
    size_t i = over_memo_index(ds);
    return w->over_memo[i].ds == ds && w->over_memo[i].until > now_s
               ? w->over_memo[i].until
               : 0;
}

static void
over_memo_put(rl_worker *w, const rl_descriptor_spec *ds, int64_t until)
{
    size_t i = over_memo_index(ds);
    w->over_memo[i].ds = ds;
    w->over_memo[i].until = until;
}

/* What one settled slot says. */
typedef struct slot_verdict {
    int over, near;
    uint64_t remaining;
    int64_t reset_s, retry_s; /* to the window's end / until allowed */
    int64_t cache_until;      /* seconds; refuse locally until then */
} slot_verdict;

static int64_t
ms_to_s_up(long long ms)
{
    return ms <= 0 ? 0 : (int64_t)((ms + 999) / 1000);
}

static void
slot_judge(const rl_decision *d, const rl_slot *slot, slot_verdict *v)
{
    const rl_limit *limit = slot->limit;
    uint64_t n = limit->requests_per_unit, used;

    memset(v, 0, sizeof(*v));
    if (slot->state == SLOT_CACHED_OVER) {
        v->over = 1;
        v->reset_s = v->retry_s = slot->window_end - d->now_s;
        return;
    }
    if (d->cfg->algorithm == RL_ALGO_ROLLING) {
        const rl_rolling_reply *r = &slot->rolling;
        v->over = r->allowed == 0;
        v->remaining = r->remaining < 0 ? 0 : (uint64_t)r->remaining;
        v->retry_s = ms_to_s_up(r->retry_after_ms);
        v->reset_s = ms_to_s_up(r->reset_ms);
        /* Cache only whole seconds of the wait: never refuse longer than
         * Redis would. */
        v->cache_until = d->now_s + r->retry_after_ms / 1000;
        used = v->remaining >= n ? 0 : n - v->remaining;
        v->near =
            !v->over && (double)used > (double)n * d->cfg->near_limit_ratio;
        return;
    }
    used = slot->count < 0 ? 0 : (uint64_t)slot->count;
    v->over = used > n;
    v->near = !v->over && (double)used > (double)n * d->cfg->near_limit_ratio;
    v->remaining = used >= n ? 0 : n - used;
    v->reset_s = v->retry_s = slot->window_end - d->now_s;
    v->cache_until = slot->window_end;
}

/* What every settled slot together says: how many failed and how many
 * are over (shadow mode left out), the longest wait, and the limit with
 * the fewest requests left, for the x-ratelimit-* headers. */
typedef struct decision_summary {
    int errors, over;
    int64_t retry_after;
    int have_min;
    uint64_t min_remaining, min_limit, min_window;
    int64_t min_reset;
} decision_summary;

/* Count one settled slot's outcome in the decisions metric, remember a
 * key over its limit in the worker's cache, and fold the slot into the
 * summary. */
static void
decision_judge_slot(rl_decision *d, rl_slot *slot, decision_summary *sum)
{
    const rl_config *cfg = d->cfg;
    const rl_limit *limit = slot->limit;
    slot_verdict v;

    if (slot->state == SLOT_PENDING || slot->state == SLOT_ERROR) {
        sum->errors++;
        count_outcome(cfg, limit, RL_OUTCOME_ERROR);
        return;
    }
    slot_judge(d, slot, &v);
    if (v.over) {
        if (limit->shadow_mode) {
            count_outcome(cfg, limit, RL_OUTCOME_SHADOW_MODE);
            return;
        }
        sum->over++;
        if (v.retry_s > sum->retry_after)
            sum->retry_after = v.retry_s;
        count_outcome(cfg, limit, RL_OUTCOME_OVER_LIMIT);
        if (slot->state == SLOT_OK && cfg->over_limit_cache &&
            v.cache_until > d->now_s && d->w && !d->w->stopping) {
            rl_cache_put(d->w->cache, slot->key, slot->key_len, v.cache_until,
                         d->now_s);
            if (slot->ds->all_generic)
                over_memo_put(d->w, slot->ds, v.cache_until);
        }
    } else if (v.near) {
        count_outcome(cfg, limit, RL_OUTCOME_NEAR_LIMIT);
    } else {
        count_outcome(cfg, limit, RL_OUTCOME_ALLOWED);
    }
    if (limit->shadow_mode)
        return;
    if (!sum->have_min || v.remaining < sum->min_remaining) {
        sum->have_min = 1;
        sum->min_remaining = v.remaining;
        sum->min_limit = limit->requests_per_unit;
        sum->min_window = limit->unit_seconds;
        sum->min_reset = v.reset_s;
    }
}

/* The x-ratelimit-* values (draft 03) of the limit with the fewest
 * requests left, kept on the stream for the upstream's response and for
 * a 429. */
/* `v` in decimal at `p`, NUL-ended: the NUL's address. `p` has room
 * for 21 bytes (22 for a negative value). */
static char *
put_u64_z(char *p, uint64_t v)
{
    p += gwf_u64_text(p, v);
    *p = '\0';
    return p;
}

static char *
put_i64_z(char *p, int64_t v)
{
    if (v < 0) {
        *p++ = '-';
        return put_u64_z(p, (uint64_t)0 - (uint64_t)v);
    }
    return put_u64_z(p, (uint64_t)v);
}

static void
decision_set_headers(rl_stream *st, const decision_summary *sum)
{
    char *p;

    if (!sum->have_min || st->cfg->headers != RL_HEADERS_DRAFT03)
        return;
    /* "<limit>, <limit>;w=<window>" (at most 20 + 2 + 20 + 3 + 20). */
    p = put_u64_z(st->limit_hdr, sum->min_limit);
    memcpy(p, ", ", 2);
    p = put_u64_z(p + 2, sum->min_limit);
    memcpy(p, ";w=", 3);
    put_u64_z(p + 3, sum->min_window);
    put_u64_z(st->remaining_hdr, sum->min_remaining);
    put_i64_z(st->reset_hdr, sum->min_reset);
    st->add_headers = 1;
}

/* The 429 for a request over a limit: retry-after (at least one second)
 * and, when configured, the x-ratelimit-* headers. */
static void
decision_reply_over(rl_stream *st, const decision_summary *sum)
{
    gwf_view values[4];
    size_t count = 1;
    char retry[24];

    uint64_t retry_s = sum->retry_after > 0 ? (uint64_t)sum->retry_after : 1;

    values[0] = (gwf_view){retry, gwf_u64_text(retry, retry_s)};
    if (st->add_headers) {
        values[1] = gwf_cstr(st->limit_hdr);
        values[2] = gwf_cstr(st->remaining_hdr);
        values[3] = gwf_cstr(st->reset_hdr);
        count = 4;
    }
    st->add_headers = 0;
    send_429(st->s,
             count == 4 ? st->cfg->over_reply_headers : st->cfg->over_reply,
             values, count, NULL, "rate_limited");
}

/* The verdict, once every slot is settled (or the timer fired): judge
 * every slot, set the headers, then refuse (429, or the failure mode
 * when Redis failed) or let the request go on. Returns the action for a
 * hook; from a callback the return value is ignored. */
static gwf_action
decision_finish(rl_decision *d, int from_callback)
{
    const rl_config *cfg = d->cfg;
    rl_stream *st = d->st;
    gwf_stream *s = st->s;
    const gwf_host *host = s->host;
    decision_summary sum = {0};

    d->done = 1;
    if (d->timer_id) {
        host->timer_cancel(host->stream_instance(s), d->timer_id);
        d->timer_id = 0;
    }
    for (size_t i = 0; i < d->n; i++)
        decision_judge_slot(d, &d->slots[i], &sum);
    decision_set_headers(st, &sum);
    if (sum.over) {
        decision_reply_over(st, &sum);
        return GWF_PAUSE;
    }
    if (sum.errors && !cfg->fail_open) {
        st->add_headers = 0;
        host->send_local_reply(s, cfg->failure_status, NULL, 0, NULL, 0,
                               "rate_limit_error");
        return GWF_PAUSE;
    }
    if (from_callback)
        host->resume(s);
    return GWF_CONTINUE;
}

static void
slot_settled(rl_decision *d)
{
    if (d->done || !d->st || d->w->stopping)
        return;
    for (size_t i = 0; i < d->n; i++)
        if (d->slots[i].state == SLOT_PENDING)
            return;
    decision_finish(d, 1);
}

static void
on_redis_reply(void *arg, int ok, const long long *values, size_t count,
               const char *err)
{
    rl_slot *slot = arg;
    rl_decision *d = slot->d;

    if (ok && d->cfg->algorithm == RL_ALGO_ROLLING &&
        count != RL_ROLLING_REPLY_LEN) {
        ok = 0;
        err = "unexpected reply from the rolling script";
    } else if (ok && d->cfg->algorithm == RL_ALGO_FIXED_WINDOW && count != 1) {
        ok = 0;
        err = "unexpected reply to INCRBY";
    }
    if (ok) {
        slot->state = SLOT_OK;
        if (count == 1)
            slot->count = values[0];
        else
            slot->rolling = (rl_rolling_reply){
                .allowed = values[RL_ROLLING_ALLOWED],
                .remaining = values[RL_ROLLING_REMAINING],
                .retry_after_ms = values[RL_ROLLING_RETRY_AFTER_MS],
                .reset_ms = values[RL_ROLLING_RESET_MS],
            };
    } else {
        slot->state = SLOT_ERROR;
        if (d->st && !d->done && !d->w->stopping)
            gwf_stream_logf(d->st->s, GWF_LOG_WARN, "rate_limit: Redis: %.200s",
                            err);
    }
    d->pending--;
    if (d->pending == 0 && !d->st) {
        decision_free(d);
        return;
    }
    slot_settled(d);
}

/* The client a slot's command goes to: envoyproxy/ratelimit sends the
 * limits whose unit is SECOND to the per-second Redis when there is one,
 * every other limit to the main one. */
static int
slot_per_second(const rl_worker *w, const rl_slot *slot)
{
    return w->per_second_count > 0 && slot->limit->unit_seconds == 1;
}

static rl_redis *
slot_redis(const rl_decision *d, const rl_slot *slot)
{
    const rl_worker *w = d->w;

    if (slot_per_second(w, slot))
        return w->redis_per_second[d->pool % w->per_second_count];
    return w->redis[d->pool % w->redis_count];
}

static void
on_timeout(void *arg)
{
    rl_decision *d = arg;
    rl_worker *w = d->w;
    unsigned pool = d->pool;
    int silent = 0, silent_per_second = 0;

    d->timer_id = 0;
    if (d->done || !d->st)
        return;
    /* Only a Redis that still owes a reply timed out: the other one, if
     * it answered, is not counted against. */
    for (size_t i = 0; i < d->n; i++) {
        if (d->slots[i].state != SLOT_PENDING)
            continue;
        if (slot_per_second(w, &d->slots[i]))
            silent_per_second = 1;
        else
            silent = 1;
    }
    gwf_stream_logf(d->st->s, GWF_LOG_WARN,
                    "rate_limit: Redis%s did not answer within the timeout",
                    silent_per_second ? (silent ? " (both)" : " (perSecond)")
                                      : "");
    /* `d` may be gone after this (or after a note): only locals below. */
    decision_finish(d, 1);
    if (silent)
        rl_redis_note_timeout(w->redis[pool % w->redis_count]);
    if (silent_per_second)
        rl_redis_note_timeout(w->redis_per_second[pool % w->per_second_count]);
}

/* The value of one entry for this request: gwf_presence()'s 1 (there),
 * 0 (absent: the descriptor is skipped, as in Envoy) or -1 (the host
 * could not answer: a host under pressure must not stop limiting, so the
 * fail mode decides). */
static int
entry_value(gwf_stream *s, const rl_entry_spec *spec, gwf_view *value,
            char *scratch, size_t scratch_size)
{
    const gwf_host *host = s->host;
    gwf_value_type type;
    int r;

    switch (spec->type) {
    case RL_ENTRY_GENERIC:
        *value = (gwf_view){spec->value, spec->value_len};
        return 1;
    case RL_ENTRY_HEADER:
        return gwf_presence(host->header_get(s, GWF_REQUEST, spec->value,
                                             spec->value_len, 0, value));
    case RL_ENTRY_REMOTE_ADDRESS:
        r = gwf_presence(host->attribute(s, GWF_ATTR_REMOTE_ADDRESS, value));
        return r > 0 && value->len == 0 ? 0 : r;
    case RL_ENTRY_PATH:
        return gwf_presence(gwf_header_get(s, GWF_REQUEST, ":path", value));
    case RL_ENTRY_JWT_CLAIM:
        r = gwf_presence(
            host->value_get(s, spec->value, spec->value_len, &type, value));
        if (r <= 0)
            return r;
        if (type == GWF_VALUE_INT && value->len == sizeof(int64_t)) {
            int64_t n;
            memcpy(&n, value->ptr, sizeof(n));
            value->len = (size_t)snprintf(scratch, scratch_size, "%" PRId64, n);
            value->ptr = scratch;
        } else if (type == GWF_VALUE_BOOL && value->len == 1) {
            *value = gwf_cstr(value->ptr[0] ? "true" : "false");
        }
        return 1;
    default:
        return 0;
    }
}

/* What build_slot made of one route descriptor. */
enum { DESCRIPTOR_SKIPPED = 0, DESCRIPTOR_LIMITED = 1, DESCRIPTOR_UNREAD = 2 };

/* Build `slot` for route descriptor `ds`, its key appended to the
 * worker's buffer (at slot->key_off): DESCRIPTOR_LIMITED if it has a
 * limit (the slot is then pending, or already SLOT_ERROR when its key
 * could not be made: that is our failure, so the fail mode decides it,
 * never a silent "not limited"), DESCRIPTOR_UNREAD when the host could
 * not give an entry's value (the caller lets the fail mode decide), else
 * DESCRIPTOR_SKIPPED (a source is absent, as Envoy skips such a
 * descriptor, or the tree has no limit for it). */
static int
build_slot(rl_stream *st, rl_decision *d, const rl_descriptor_spec *ds,
           rl_slot *slot)
{
    rl_entry entries[RL_MAX_ENTRIES];
    char scratch[RL_MAX_ENTRIES][24];
    const rl_limit *limit;
    gwf_strbuf *key = &d->w->keys;
    size_t off = key->len;

    if (ds->all_generic) {
        /* The same descriptor on every request: its limit is known, and
         * a verdict "over" the worker remembers needs no key. */
        int64_t until;
        limit = ds->generic_limit;
        if (!limit || limit->unlimited)
            return DESCRIPTOR_SKIPPED;
        if (d->cfg->over_limit_cache &&
            (until = over_memo_get(d->w, ds, d->now_s))) {
            slot->d = d;
            slot->ds = ds;
            slot->limit = limit;
            slot->key = NULL;
            slot->key_len = 0;
            slot->state = SLOT_CACHED_OVER;
            slot->window_end = until;
            return DESCRIPTOR_LIMITED;
        }
    }
    for (size_t i = 0; i < ds->entry_count; i++) {
        gwf_view v;
        int r = entry_value(st->s, &ds->entries[i], &v, scratch[i],
                            sizeof(scratch[i]));
        if (r <= 0)
            return r < 0 ? DESCRIPTOR_UNREAD : DESCRIPTOR_SKIPPED;
        entries[i].key = ds->entries[i].key;
        entries[i].key_len = ds->entries[i].key_len;
        entries[i].value = v.ptr ? v.ptr : "";
        entries[i].value_len = v.len;
    }
    limit = rl_descriptors_match(&d->cfg->root, entries, ds->entry_count);
    if (!limit || limit->unlimited)
        return DESCRIPTOR_SKIPPED;
    slot->d = d;
    slot->ds = ds;
    slot->limit = limit;
    slot->window_end =
        (int64_t)(rl_window_start(d->now_s, limit->unit_seconds) +
                  limit->unit_seconds);
    slot->key = NULL;
    slot->key_len = 0;
    slot->key_off = off;
    if (d->cfg->algorithm == RL_ALGO_ROLLING)
        rl_rolling_key(key, d->cfg->key_head, d->cfg->key_head_len, entries,
                       ds->entry_count, limit->unit_seconds);
    else
        rl_fixed_window_key(key, d->cfg->key_head, d->cfg->key_head_len,
                            entries, ds->entry_count, limit->unit_seconds,
                            d->now_s, &d->w->windows);
    if (key->failed || !key->data) {
        gwf_stream_logf(st->s, GWF_LOG_ERROR,
                        "rate_limit: out of memory making a Redis key");
        slot->state = SLOT_ERROR;
        return DESCRIPTOR_LIMITED;
    }
    slot->key_len = key->len - off;
    slot->state = SLOT_PENDING;
    return DESCRIPTOR_LIMITED;
}

/* A failure of ours before there is any slot to carry it (no memory for
 * the decision, no worker state): the fail mode decides, exactly as for
 * Redis failing. Letting the request through here would make every
 * internal error a way around the limit. */
static gwf_action
fail_internal(rl_stream *st, const char *why)
{
    gwf_stream *s = st->s;

    gwf_stream_logf(s, GWF_LOG_ERROR, "rate_limit: %s", why);
    if (st->cfg->fail_open)
        return GWF_CONTINUE;
    s->host->send_local_reply(s, st->cfg->failure_status, NULL, 0, NULL, 0,
                              "rate_limit_error");
    return GWF_PAUSE;
}

/* The decision `local` (on the caller's stack, slots and keys in the
 * worker's buffer) moved to the heap, to wait for Redis: one allocation
 * holding the header, the slots and the keys of the slots still
 * pending. NULL when out of memory. */
static rl_decision *
decision_to_heap(const rl_decision *local)
{
    size_t keys = 0;
    rl_decision *d;
    char *kp;

    for (size_t i = 0; i < local->n; i++)
        if (local->slots[i].state == SLOT_PENDING)
            keys += local->slots[i].key_len;
    rl_worker *w = local->w;
    size_t got;

    d = spare_take(&w->spare_decisions, &w->spare_decision_count,
                   sizeof(*d) + local->n * sizeof(rl_slot) + keys, &got);
    if (!d)
        return NULL;
    *d = *local;
    d->size = got;
    d->slots = (rl_slot *)(d + 1);
    memcpy(d->slots, local->slots, local->n * sizeof(rl_slot));
    kp = (char *)(d->slots + d->n);
    for (size_t i = 0; i < d->n; i++) {
        rl_slot *slot = &d->slots[i];
        slot->d = d;
        if (slot->state != SLOT_PENDING)
            continue;
        memcpy(kp, slot->key, slot->key_len);
        slot->key = kp;
        kp += slot->key_len;
    }
    return d;
}

/* What decision_build made of a request. */
enum { DECIDE_NOTHING, DECIDE_UNREAD, DECIDE_MADE };

/* The decision on `st`'s request in `local` (on the caller's stack, its
 * slots `slots`, their keys in the worker's buffer): DECIDE_MADE with a
 * slot per limited descriptor, the keys over their limit in this window
 * found in the worker's cache and the others (`*need` of them) still to
 * ask Redis; DECIDE_NOTHING when no descriptor is limited;
 * DECIDE_UNREAD when the host could not give an entry's value. Nothing
 * is counted or sent. */
static int
decision_build(rl_stream *st, rl_decision *local, rl_slot *slots, size_t *need)
{
    const gwf_host *host = st->s->host;
    rl_worker *w = st->w;

    memset(local, 0, sizeof(*local));
    local->st = st;
    local->w = w;
    local->cfg = st->cfg;
    local->slots = slots;
    local->now_ms = host->now(st->cfg->instance, GWF_CLOCK_REALTIME) / 1000000;
    local->now_s = local->now_ms / 1000;
    w->keys.len = 0;
    w->keys.failed = 0;
    for (size_t i = 0;
         i < st->route->descriptor_count && local->n < RL_MAX_DESCRIPTORS;
         i++) {
        int made =
            build_slot(st, local, &st->route->descriptors[i], &slots[local->n]);
        if (made == DESCRIPTOR_UNREAD)
            return DECIDE_UNREAD;
        if (made == DESCRIPTOR_LIMITED)
            local->n++;
    }
    if (local->n == 0)
        return DECIDE_NOTHING;
    /* Keys over the limit in this window are answered here, without
     * Redis; only the others make the decision wait. */
    *need = 0;
    for (size_t i = 0; i < local->n; i++) {
        rl_slot *slot = &slots[i];
        int64_t cached_until = 0;

        if (slot->state != SLOT_PENDING)
            continue; /* its key could not be made */
        slot->key = w->keys.data + slot->key_off;
        if (st->cfg->over_limit_cache)
            cached_until =
                rl_cache_has(w->cache, slot->key, slot->key_len, local->now_s);
        if (cached_until) {
            slot->state = SLOT_CACHED_OVER;
            slot->window_end = cached_until;
            continue;
        }
        (*need)++;
    }
    return DECIDE_MADE;
}

static gwf_action
global_request_headers(rl_stream *st)
{
    const gwf_host *host = st->s->host;
    gwf_instance *inst = host->stream_instance(st->s);
    rl_slot local_slots[RL_MAX_DESCRIPTORS];
    rl_decision local, *d = &local;
    size_t need = 0, sent = 0;

    if (!st->route)
        return GWF_CONTINUE; /* no descriptors: nothing is limited */
    if (!st->w)
        return fail_internal(st, "no worker state (worker_start failed)");
    switch (decision_build(st, &local, local_slots, &need)) {
    case DECIDE_NOTHING:
        return GWF_CONTINUE;
    case DECIDE_UNREAD:
        return fail_internal(st, "the host could not give a "
                                 "descriptor entry's value");
    default:
        break;
    }
    if (need == 0)
        return decision_finish(&local, 0);
    local.pool = st->w->pool_next++;
    d = decision_to_heap(&local);
    if (!d)
        return fail_internal(st, "out of memory for a decision");
    st->d = d;
    for (size_t i = 0; i < d->n; i++) {
        rl_slot *slot = &d->slots[i];
        gwf_status sent_st;

        if (slot->state != SLOT_PENDING)
            continue;
        if (st->cfg->algorithm == RL_ALGO_ROLLING)
            sent_st = rl_redis_rolling(
                slot_redis(d, slot), slot->key, slot->key_len, d->now_ms,
                slot->limit->unit_seconds * 1000,
                slot->limit->requests_per_unit, 1, on_redis_reply, slot);
        else
            sent_st = rl_redis_incr_expire(
                slot_redis(d, slot), slot->key, slot->key_len, 1,
                slot->limit->unit_seconds, on_redis_reply, slot);
        if (sent_st != GWF_OK) {
            slot->state = SLOT_ERROR;
            continue;
        }
        d->pending++;
        sent++;
    }
    if (sent == 0)
        return decision_finish(d, 0);
    if (host->timer_start(inst, st->s, st->cfg->timeout_ns, on_timeout, d,
                          &d->timer_id) != GWF_OK) {
        d->timer_id = 0;
        /* Without a timer we cannot bound the wait: decide as a failure. */
        for (size_t i = 0; i < d->n; i++)
            if (d->slots[i].state == SLOT_PENDING)
                d->slots[i].state = SLOT_ERROR;
        return decision_finish(d, 0);
    }
    return GWF_PAUSE;
}

/* ------------------------------------------------------------------------
 * RLS mode: one ShouldRateLimit call per request
 *
 * The route's descriptors become ONE request descriptor holding all
 * their entries in order, as kgateway builds them: it turns every entry
 * of every descriptor into an action of a single Envoy rate limit. So
 * when any entry has no value (an absent header), Envoy produces no
 * descriptor and does not call the service: neither does gwf.
 * --------------------------------------------------------------------- */

static void
rls_free_headers(rl_rls_header *list, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free(list[i].name);
        free(list[i].value);
    }
    free(list);
}

/* Drop the call and its timer, and what was kept for the response. */
static void
rls_forget(rl_stream *st)
{
    if (st->rls_call) {
        rl_rls_call_cancel(st->rls_call);
        st->rls_call = NULL;
    }
    if (st->rls_timer) {
        st->s->host->timer_cancel(st->s->host->stream_instance(st->s),
                                  st->rls_timer);
        st->rls_timer = 0;
    }
    rls_free_headers(st->rls_response_headers, st->rls_response_header_count);
    st->rls_response_headers = NULL;
    st->rls_response_header_count = 0;
}

/* The service failed (or we did): failOpen lets the request go on,
 * else Envoy's failure_mode_deny answer, 500. */
static void
rls_failed(rl_stream *st, const char *why)
{
    gwf_stream *s = st->s;

    gwf_outcome_counter_add(&st->cfg->metrics.rls, RL_RLS_COUNT_ERROR);
    gwf_stream_logf(s, GWF_LOG_WARN, "rate_limit: rate limit service: %.200s",
                    why);
    if (st->cfg->fail_open) {
        s->host->resume(s);
        return;
    }
    s->host->send_local_reply(s, st->cfg->failure_status, NULL, 0, NULL, 0,
                              "rate_limiter_error");
}

/* The headers of the answer's list `from`, then the x-ratelimit-* ones
 * when asked for, into `out` (copies): what Envoy adds to the response,
 * the 429 or the upstream's. 0, or -1 (no memory). */
static int
rls_response_headers(const rl_stream *st, const rl_rls_answer *a,
                     rl_rls_header **out, size_t *count)
{
    rl_rls_header *list = calloc(a->response_header_count + 4, sizeof(*list));
    gwf_strbuf limit = {0};
    char remaining[24], reset[24];
    size_t n = 0;

    if (!list)
        return -1;
    for (size_t i = 0; i < a->response_header_count; i++, n++) {
        list[n].name = strdup(a->response_headers[i].name);
        list[n].value = strdup(a->response_headers[i].value);
        if (!list[n].name || !list[n].value)
            goto fail;
    }
    if (st->cfg->headers == RL_HEADERS_DRAFT03 &&
        rl_rls_draft03(a, &limit, remaining, reset)) {
        const char *values[3] = {limit.data, remaining, reset};
        static const char *const names[3] = {
            "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"};
        if (limit.failed)
            goto fail;
        for (size_t i = 0; i < 3; i++, n++) {
            list[n].name = strdup(names[i]);
            list[n].value = strdup(values[i]);
            if (!list[n].name || !list[n].value)
                goto fail;
        }
    }
    gwf_strbuf_free(&limit);
    *out = list;
    *count = n;
    return 0;
fail:
    gwf_strbuf_free(&limit);
    rls_free_headers(list, n + 1);
    return -1;
}

static void
rls_over_limit(rl_stream *st, const rl_rls_answer *a, rl_rls_header *extra,
               size_t extra_count)
{
    gwf_stream *s = st->s;
    gwf_header *headers = calloc(extra_count + 1, sizeof(*headers));
    size_t n = 0;

    gwf_outcome_counter_add(&st->cfg->metrics.rls, RL_RLS_COUNT_OVER_LIMIT);
    if (!headers) {
        rls_failed(st, "out of memory for the 429's headers");
        return;
    }
    /* Envoy marks its 429: x-envoy-ratelimited (kgateway keeps it on). */
    headers[n++] =
        (gwf_header){gwf_cstr("x-envoy-ratelimited"), gwf_cstr("true")};
    for (size_t i = 0; i < extra_count; i++)
        headers[n++] =
            (gwf_header){gwf_cstr(extra[i].name), gwf_cstr(extra[i].value)};
    /* A header the host refuses (a hop-by-hop one, say) would leave the
     * request hanging: then the 429 goes without the service's. */
    if (s->host->send_local_reply(s, 429, headers, n, a->raw_body,
                                  a->raw_body_len,
                                  "request_rate_limited") != GWF_OK) {
        gwf_stream_logf(s, GWF_LOG_WARN,
                        "rate_limit: the service's headers for the 429 "
                        "were refused; sent without them");
        s->host->send_local_reply(s, 429, headers, 1, a->raw_body,
                                  a->raw_body_len, "request_rate_limited");
    }
    free(headers);
}

static void
on_rls_answer(void *arg, int ok, rl_rls_answer *a, const char *err)
{
    rl_stream *st = arg;
    gwf_stream *s = st->s;
    rl_rls_header *extra = NULL;
    size_t extra_count = 0;

    rl_rls_call_cancel(st->rls_call); /* frees it; nothing of it runs */
    st->rls_call = NULL;
    if (st->rls_timer) {
        s->host->timer_cancel(s->host->stream_instance(s), st->rls_timer);
        st->rls_timer = 0;
    }
    if (!ok) {
        rls_failed(st, err ? err : "failed");
        return;
    }
    if (rls_response_headers(st, a, &extra, &extra_count) != 0) {
        rls_failed(st, "out of memory for the answer's headers");
        return;
    }
    if (a->overall_code == RL_RLS_OVER_LIMIT) {
        rls_over_limit(st, a, extra, extra_count);
        rls_free_headers(extra, extra_count);
        return;
    }
    for (size_t i = 0; i < a->request_header_count; i++)
        gwf_header_set(s, GWF_REQUEST, a->request_headers[i].name,
                       a->request_headers[i].value);
    st->rls_response_headers = extra;
    st->rls_response_header_count = extra_count;
    gwf_outcome_counter_add(&st->cfg->metrics.rls, RL_RLS_COUNT_OK);
    s->host->resume(s);
}

static void
on_rls_timeout(void *arg)
{
    rl_stream *st = arg;

    st->rls_timer = 0;
    rl_rls_call_cancel(st->rls_call);
    st->rls_call = NULL;
    rls_failed(st, "no answer within the timeout");
}

static gwf_action
rls_request_headers(rl_stream *st)
{
    rl_entry entries[RL_RLS_MAX_ENTRIES];
    char scratch[RL_RLS_MAX_ENTRIES][24];
    const gwf_host *host = st->s->host;
    gwf_instance *inst = host->stream_instance(st->s);
    gwf_strbuf body = {0};
    size_t n = 0;

    if (!st->route)
        return GWF_CONTINUE; /* no descriptors: nothing is limited */
    if (!st->w || !st->w->rls)
        return fail_internal(st, "no worker state (worker_start failed)");
    for (size_t i = 0; i < st->route->descriptor_count; i++) {
        const rl_descriptor_spec *ds = &st->route->descriptors[i];
        for (size_t j = 0; j < ds->entry_count && n < RL_RLS_MAX_ENTRIES;
             j++, n++) {
            gwf_view v;
            int r = entry_value(st->s, &ds->entries[j], &v, scratch[n],
                                sizeof(scratch[n]));
            if (r < 0)
                return fail_internal(st, "the host could not give a "
                                         "descriptor entry's value");
            if (r == 0)
                return GWF_CONTINUE; /* no descriptor: no call (Envoy) */
            entries[n].key = ds->entries[j].key;
            entries[n].key_len = ds->entries[j].key_len;
            entries[n].value = v.ptr ? v.ptr : "";
            entries[n].value_len = v.len;
        }
    }
    rl_rls_encode(&body, st->cfg->domain, entries, n, 1);
    if (body.failed || !body.data) {
        gwf_strbuf_free(&body);
        return fail_internal(st, "out of memory for a RateLimitRequest");
    }
    st->rls_call = rl_rls_call_start(st->w->rls, body.data, body.len,
                                     st->cfg->timeout_ns, on_rls_answer, st);
    if (!st->rls_call)
        return fail_internal(st, "out of memory for a rate limit call");
    if (host->timer_start(inst, st->s, st->cfg->timeout_ns, on_rls_timeout, st,
                          &st->rls_timer) != GWF_OK) {
        st->rls_timer = 0;
        rls_forget(st);
        /* Without a timer the wait has no bound: decide as a failure. */
        return fail_internal(st, "cannot start the timeout's timer");
    }
    return GWF_PAUSE;
}

/* Envoy's runtime fraction: true for `percent` of 100 requests.
 * arc4random is glibc's own lock-free generator, safe in any thread. */
static int
fraction_hit(uint32_t percent)
{
    if (percent >= 100)
        return 1;
    if (percent == 0)
        return 0;
    return arc4random_uniform(100) < percent;
}

static gwf_action
local_request_headers(rl_stream *st)
{
    const rl_config *cfg = st->cfg;
    gwf_instance *inst = cfg->instance;
    uint64_t wait_ns = 0, wait_s;
    char retry[24];
    gwf_view retry_v;
    int64_t now = inst->host->now(inst, GWF_CLOCK_MONOTONIC);

    /* `local: {}` (no bucket) switches a higher level's limit off, as in
     * kgateway; percentEnabled leaves the rest uncounted. */
    if (!cfg->local.bucket || !fraction_hit(cfg->local.percent_enabled))
        return GWF_CONTINUE;
    if (rl_bucket_take(cfg->local.bucket, &cfg->local, now, &wait_ns)) {
        gwf_outcome_counter_add(&cfg->metrics.local, RL_LOCAL_ALLOWED);
        return GWF_CONTINUE;
    }
    if (!fraction_hit(cfg->local.percent_enforced)) {
        /* Counted, over the limit, but not enforced: Envoy lets it
         * through and says so in its stats only. */
        gwf_outcome_counter_add(&cfg->metrics.local, RL_LOCAL_NOT_ENFORCED);
        gwf_stream_logf(st->s, GWF_LOG_DEBUG,
                        "rate_limit: over the local limit, let through "
                        "(percentEnforced %u)",
                        (unsigned)cfg->local.percent_enforced);
        return GWF_CONTINUE;
    }
    gwf_outcome_counter_add(&cfg->metrics.local, RL_LOCAL_OVER_LIMIT);
    wait_s = (wait_ns + UINT64_C(999999999)) / UINT64_C(1000000000);
    retry_v = (gwf_view){retry, gwf_u64_text(retry, wait_s)};
    send_429(st->s, cfg->local_reply, &retry_v, 1, "local_rate_limited",
             "local_rate_limited");
    return GWF_PAUSE;
}

static gwf_action
rl_request_headers(gwf_stream *s, void *ctx, int32_t end_of_stream)
{
    rl_stream *st = ctx;

    (void)s;
    (void)end_of_stream;
    if (st->cfg->is_local)
        return local_request_headers(st);
    if (st->cfg->mode == RL_MODE_RLS)
        return rls_request_headers(st);
    return global_request_headers(st);
}

/* rl_request_early's short way, for the commonest flood: a route whose
 * every descriptor is all-Generic (the same on every request) and over
 * its limit in the worker's memo, with no x-ratelimit-* headers to
 * write. Answers exactly as decision_finish would for those slots (each
 * counted over the limit, retry-after the longest wait) and returns
 * GWF_PAUSE; returns GWF_CONTINUE, touching nothing, for anything else
 * (a descriptor read from the request, not in the memo, in shadow mode,
 * unlimited), which the general way then decides. */
static gwf_action
early_memo_over(gwf_stream *s, const rl_config *cfg, const rl_route *route,
                const rl_worker *w)
{
    const rl_limit *limits[RL_MAX_DESCRIPTORS];
    size_t n = 0;
    int64_t now_s, retry = 0, until;
    gwf_view value;
    char text[24];

    if (cfg->headers != RL_HEADERS_OFF || route->descriptor_count == 0 ||
        route->descriptor_count > RL_MAX_DESCRIPTORS)
        return GWF_CONTINUE;
    now_s = s->host->now(cfg->instance, GWF_CLOCK_REALTIME) / 1000000000;
    for (size_t i = 0; i < route->descriptor_count; i++) {
        const rl_descriptor_spec *ds = &route->descriptors[i];
        const rl_limit *limit = ds->generic_limit;
        if (!ds->all_generic || !limit || limit->unlimited ||
            limit->shadow_mode || !(until = over_memo_get(w, ds, now_s)))
            return GWF_CONTINUE;
        limits[n++] = limit;
        if (until - now_s > retry)
            retry = until - now_s;
    }
    for (size_t i = 0; i < n; i++)
        count_outcome(cfg, limits[i], RL_OUTCOME_OVER_LIMIT);
    value = (gwf_view){text, gwf_u64_text(text, (uint64_t)retry)};
    send_429(s, cfg->over_reply, &value, 1, NULL, "rate_limited");
    return GWF_PAUSE;
}

/* Before the stream (abi.h request_early): a request whose every
 * limited key the worker's cache holds as over its limit gets its 429
 * here, exactly as request_headers would answer it, without a stream.
 * Any other request goes on to the stream untouched (nothing counted,
 * nothing sent): the cache empty, a key to ask Redis about, a limit in
 * shadow mode, a value the host could not give. */
static gwf_action
rl_request_early(gwf_stream *s, void *config, void *route_config, void *worker)
{
    const rl_config *cfg = config;
    rl_worker *w = worker;
    rl_slot slots[RL_MAX_DESCRIPTORS];
    rl_decision local;
    size_t need;

    if (cfg->is_local || cfg->mode == RL_MODE_RLS || !cfg->over_limit_cache ||
        !route_config || !w || w->stopping || rl_cache_empty(w->cache))
        return GWF_CONTINUE;
    if (early_memo_over(s, cfg, route_config, w) == GWF_PAUSE)
        return GWF_PAUSE;
    /* The stream's state as the decision reads it: no more (the x-
     * ratelimit texts are written before they are read). */
    rl_stream st;
    st.s = s;
    st.cfg = cfg;
    st.route = route_config;
    st.w = w;
    st.d = NULL;
    st.add_headers = 0;
    if (decision_build(&st, &local, slots, &need) != DECIDE_MADE || need)
        return GWF_CONTINUE;
    for (size_t i = 0; i < local.n; i++)
        if (slots[i].state != SLOT_CACHED_OVER || slots[i].limit->shadow_mode)
            return GWF_CONTINUE;
    return decision_finish(&local, 0);
}

static gwf_action
rl_response_headers(gwf_stream *s, void *ctx, int32_t end_of_stream)
{
    rl_stream *st = ctx;

    (void)end_of_stream;
    /* RLS: what the service asked to add (Envoy appends), then the
     * x-ratelimit-* values. */
    for (size_t i = 0; i < st->rls_response_header_count; i++) {
        const rl_rls_header *h = &st->rls_response_headers[i];
        if (strncmp(h->name, "x-ratelimit-", 12) == 0)
            gwf_header_set(s, GWF_RESPONSE, h->name, h->value);
        else
            gwf_header_add(s, GWF_RESPONSE, h->name, h->value);
    }
    if (!st->add_headers)
        return GWF_CONTINUE;
    gwf_header_set(s, GWF_RESPONSE, "x-ratelimit-limit", st->limit_hdr);
    gwf_header_set(s, GWF_RESPONSE, "x-ratelimit-remaining", st->remaining_hdr);
    gwf_header_set(s, GWF_RESPONSE, "x-ratelimit-reset", st->reset_hdr);
    return GWF_CONTINUE;
}

GWF_PLUGIN_ENTRY = {
    .size = sizeof(gwf_plugin),
    .abi_major = GWF_ABI_VERSION_MAJOR,
    .abi_minor = GWF_ABI_VERSION_MINOR,
    .name = "rate_limit",
    .version = "0.1.0",
    .description = "Global rate limits through a rate limit service (Envoy's "
                   "RLS v3) or in Redis (envoyproxy/ratelimit's fixed window "
                   "and keys), and a shared local token bucket",
    .config_create = rl_config_create,
    .config_destroy = rl_config_destroy,
    .route_config_create = rl_route_config_create,
    .route_config_destroy = rl_route_config_destroy,
    .worker_start = rl_worker_start,
    .worker_stop = rl_worker_stop,
    .stream_create = rl_stream_create,
    .request_headers = rl_request_headers,
    .response_headers = rl_response_headers,
    .stream_destroy = rl_stream_destroy,
    .request_early = rl_request_early,
};
