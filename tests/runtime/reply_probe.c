/*
 * reply_probe.c - a test plugin for prepared local replies (abi.h 0.4:
 * reply_prepare, send_prepared_reply), driven by test_prepared_replies.c
 * through the in-process test host.
 *
 * Config: {"mode": M, "status": N, "headers": [[name, value], ...],
 * "body": TEXT, "details": TEXT, "forge": F, "count": N, "reject": B};
 * every field is optional (mode "prepared", status 200, no headers, no
 * body, details "reply_probe"). config_create prepares that reply once
 * (modes "refusals" and "limit" play their own preparations; "reject":
 * true then refuses the config) and logs what the host said, so the
 * test asserts exact outcomes in the log:
 *
 *   prepared  request_headers sends the prepared reply
 *   local     request_headers sends the same reply with send_local_reply
 *   in_stream request_headers calls reply_prepare itself and forwards the
 *             request with "x-probe: prepare=S"
 *   refusals  config_create tries what the host must refuse (status 199
 *             and 600, CR, LF and NUL in a value, a pseudo-header name,
 *             an empty name, a space in a name, NULL headers with a
 *             count, a NULL `reply`, a NULL instance), then one good
 *             reply, and logs "refusals=S,S,... good=S index=I" (I: the
 *             handle's index, 1 when nothing refused was kept)
 *   limit     prepares the reply `count` times and logs
 *             "limit ok=K fail=S"; request_headers sends the last kept
 *   forge     request_headers sends a handle it did not get - F is
 *             "zero", "random", "range" (one past its last index), "low"
 *             (its own index without the instance's tag), "other" (the
 *             last other instance's handle) or "stale" (the handle of a
 *             config that prepared it, then refused) - and forwards the
 *             request with "x-probe: forged=S" unless the host sent it
 *   twice     request_headers sends the reply twice and logs
 *             "twice first=S second=S"
 *   resume    request_headers pauses; a timer resumes the stream, sends
 *             the reply with the same handle and logs "resume=S then=S"
 *   editor    no reply; response_headers logs "editor saw STATUS
 *             name=value|..." and, when the request has "x-edit", sets
 *             x-edited, replaces x-a and sets :status 418
 *   reader    no reply; stream_complete logs "reader saw STATUS
 *             name=value|..." for the response the client got
 *
 * Built a second time as "jwt_auth" (REPLY_PROBE_AS_ROUTE, in
 * prepared_route/), so a TrafficPolicy's jwtAuth gives it a per-route
 * config: route_config_create then prepares the reply (logging
 * "route prepare=S") and request_headers sends the route's handle.
 */
#include <gwf/abi.h>

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEADERS 16

typedef struct probe_config {
    gwf_instance *inst;
    char mode[16];
    char forge[16];
    uint32_t status;
    size_t header_count;
    gwf_header headers[MAX_HEADERS];
    char *body;
    size_t body_len;
    char *details;
    long count;
    uint64_t handle;
    json_t *doc; /* owns the texts the views point into */
} probe_config;

/* The last kept instance's handle, for "forge": "other". Test plugin
 * state on the main thread: the test host runs one worker. */
static struct {
    gwf_instance *inst;
    uint64_t handle;
} other;

/* The handle a rejected config prepared before it said no ("reject"). */
static uint64_t stale;

static void __attribute__((format(printf, 2, 3)))
logf_inst(gwf_instance *inst, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof text)
        n = (int)sizeof text - 1;
    inst->host->log(inst, GWF_LOG_INFO, text, (size_t)n);
}

static gwf_status
prepare(probe_config *cfg, uint64_t *handle)
{
    return cfg->inst->host->reply_prepare(cfg->inst, cfg->status, cfg->headers,
                                          cfg->header_count, cfg->body,
                                          cfg->body_len, cfg->details, handle);
}

static gwf_status
play_refusals(probe_config *cfg)
{
    const gwf_host *host = cfg->inst->host;
    static const struct {
        const char *name, *value;
        size_t value_len;
        uint32_t status;
    } bad[] = {
        {"x-a", "1", 1, 199},    {"x-a", "1", 1, 600},
        {"x-a", "a\rb", 3, 200}, {"x-a", "a\nb", 3, 200},
        {"x-a", "a\0b", 3, 200}, {":status", "200", 3, 200},
        {":path", "/", 1, 200},  {"", "1", 1, 200},
        {"x a", "1", 1, 200},
    };
    char text[256];
    int n = snprintf(text, sizeof text, "refusals=");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gwf_header h = {{bad[i].name, strlen(bad[i].name)},
                        {bad[i].value, bad[i].value_len}};
        uint64_t handle = 0;
        gwf_status st = host->reply_prepare(cfg->inst, bad[i].status, &h, 1,
                                            "b", 1, "bad", &handle);
        n += snprintf(text + n, sizeof text - (size_t)n, "%d,", (int)st);
    }
    uint64_t handle = 0;
    gwf_status null_headers =
        host->reply_prepare(cfg->inst, 200, NULL, 1, "b", 1, "bad", &handle);
    gwf_status null_reply =
        host->reply_prepare(cfg->inst, 200, NULL, 0, "b", 1, "bad", NULL);
    gwf_status null_inst =
        host->reply_prepare(NULL, 200, NULL, 0, "b", 1, "bad", &handle);
    gwf_status good = prepare(cfg, &cfg->handle);
    logf_inst(cfg->inst, "%s%d,%d,%d good=%d index=%u", text, (int)null_headers,
              (int)null_reply, (int)null_inst, (int)good,
              (unsigned)(uint32_t)cfg->handle);
    return GWF_OK;
}

static gwf_status
play_limit(probe_config *cfg)
{
    long ok = 0;
    gwf_status st = GWF_OK;
    for (long i = 0; i < cfg->count; i++) {
        uint64_t handle = 0;
        st = prepare(cfg, &handle);
        if (st != GWF_OK)
            break;
        cfg->handle = handle;
        ok++;
    }
    logf_inst(cfg->inst, "limit ok=%ld fail=%d", ok,
              ok == cfg->count ? -1 : (int)st);
    return GWF_OK;
}

static int
read_config(probe_config *cfg, json_t *root)
{
    const char *mode = json_string_value(json_object_get(root, "mode"));
    const char *forge = json_string_value(json_object_get(root, "forge"));
    snprintf(cfg->mode, sizeof cfg->mode, "%s", mode ? mode : "prepared");
    snprintf(cfg->forge, sizeof cfg->forge, "%s", forge ? forge : "zero");
    json_t *status = json_object_get(root, "status");
    cfg->status = status ? (uint32_t)json_integer_value(status) : 200;
    json_t *count = json_object_get(root, "count");
    cfg->count = count ? (long)json_integer_value(count) : 1;
    json_t *body = json_object_get(root, "body");
    if (body) {
        cfg->body = (char *)json_string_value(body);
        cfg->body_len = json_string_length(body);
    }
    json_t *details = json_object_get(root, "details");
    cfg->details =
        details ? (char *)json_string_value(details) : (char *)"reply_probe";
    json_t *headers = json_object_get(root, "headers");
    size_t i;
    json_t *pair;
    json_array_foreach(headers, i, pair)
    {
        json_t *name = json_array_get(pair, 0),
               *value = json_array_get(pair, 1);
        if (i >= MAX_HEADERS || !json_is_string(name) || !json_is_string(value))
            return -1;
        cfg->headers[i].name =
            (gwf_view){json_string_value(name), json_string_length(name)};
        cfg->headers[i].value =
            (gwf_view){json_string_value(value), json_string_length(value)};
        cfg->header_count = i + 1;
    }
    return 0;
}

static int
mode_is(const probe_config *cfg, const char *mode)
{
    return strcmp(cfg->mode, mode) == 0;
}

static gwf_status
probe_config_create(const gwf_config_init *init, void **config)
{
    const gwf_host *host = init->instance->host;
    if (!GWF_HAS_FIELD(host, gwf_host, send_prepared_reply) ||
        !host->reply_prepare || !host->send_prepared_reply)
        return GWF_ERR_UNIMPLEMENTED;
    probe_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg)
        return GWF_ERR_NO_MEMORY;
    cfg->inst = init->instance;
    cfg->doc =
        json_loadb(init->config_json.ptr, init->config_json.len, 0, NULL);
    if (!cfg->doc || read_config(cfg, cfg->doc) != 0) {
        json_decref(cfg->doc);
        free(cfg);
        return GWF_ERR_BAD_ARGUMENT;
    }
    gwf_status st = GWF_OK;
    if (mode_is(cfg, "refusals"))
        st = play_refusals(cfg);
    else if (mode_is(cfg, "limit"))
        st = play_limit(cfg);
    else if (mode_is(cfg, "prepared") || mode_is(cfg, "forge") ||
             mode_is(cfg, "twice") || mode_is(cfg, "resume")) {
        st = prepare(cfg, &cfg->handle);
        logf_inst(cfg->inst, "prepared=%d index=%u", (int)st,
                  (unsigned)(uint32_t)cfg->handle);
    }
    if (st == GWF_OK && json_is_true(json_object_get(cfg->doc, "reject"))) {
        stale = cfg->handle;
        st = GWF_ERR_BAD_ARGUMENT;
    }
    if (st != GWF_OK) {
        json_decref(cfg->doc);
        free(cfg);
        return st;
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
    json_decref(cfg->doc);
    free(cfg);
}

#ifdef REPLY_PROBE_AS_ROUTE
/* The route's config is the handle prepared for it. */
static gwf_status
probe_route_config_create(void *config, gwf_instance *inst, gwf_view json,
                          void **route_config)
{
    (void)json;
    probe_config *cfg = config;
    uint64_t *handle = calloc(1, sizeof *handle);
    if (!handle)
        return GWF_ERR_NO_MEMORY;
    gwf_status st = inst->host->reply_prepare(inst, 203, NULL, 0, "from route",
                                              10, "route_probe", handle);
    logf_inst(cfg->inst, "route prepare=%d", (int)st);
    if (st != GWF_OK) {
        free(handle);
        return st;
    }
    *route_config = handle;
    return GWF_OK;
}

static void
probe_route_config_destroy(void *config, void *route_config)
{
    (void)config;
    free(route_config);
}

static gwf_status
probe_stream_create(gwf_stream *s, const gwf_stream_init *init, void **ctx)
{
    (void)s;
    *ctx = init->route_config;
    return GWF_OK;
}

static gwf_action
probe_request_headers(gwf_stream *s, void *ctx, int32_t end_of_stream)
{
    (void)end_of_stream;
    if (!ctx)
        return GWF_CONTINUE;
    gwf_status st = s->host->send_prepared_reply(s, *(uint64_t *)ctx);
    return st == GWF_OK ? GWF_PAUSE : GWF_CONTINUE;
}
#else

/* Tell the upstream (and the test) what the host said. */
static gwf_action
forward_with(gwf_stream *s, const char *what, gwf_status st)
{
    char text[64];
    int n = snprintf(text, sizeof text, "%s=%d", what, (int)st);
    s->host->header_set(s, GWF_REQUEST, "x-probe", 7, text, (size_t)n);
    return GWF_CONTINUE;
}

static uint64_t
forged_handle(const probe_config *cfg)
{
    if (strcmp(cfg->forge, "random") == 0)
        return 0x9e3779b97f4a7c15u;
    if (strcmp(cfg->forge, "range") == 0)
        return cfg->handle + 1;
    if (strcmp(cfg->forge, "low") == 0)
        return cfg->handle & 0xffffffffu;
    if (strcmp(cfg->forge, "stale") == 0)
        return stale;
    if (strcmp(cfg->forge, "other") == 0)
        return other.inst && other.inst != cfg->inst ? other.handle : 0;
    return 0;
}

typedef struct resume_wait {
    gwf_stream *s;
    probe_config *cfg;
} resume_wait;

static void
resume_then_send(void *arg)
{
    resume_wait *w = arg;
    const gwf_host *host = w->cfg->inst->host;
    gwf_status resumed = host->resume(w->s);
    gwf_status then = host->send_prepared_reply(w->s, w->cfg->handle);
    logf_inst(w->cfg->inst, "resume=%d then=%d", (int)resumed, (int)then);
    free(w);
}

static gwf_action
probe_request_headers(gwf_stream *s, void *ctx, int32_t end_of_stream)
{
    (void)end_of_stream;
    probe_config *cfg = ctx;
    const gwf_host *host = s->host;
    if (mode_is(cfg, "prepared") || mode_is(cfg, "limit") ||
        mode_is(cfg, "refusals")) {
        gwf_status st = host->send_prepared_reply(s, cfg->handle);
        if (st != GWF_OK)
            return forward_with(s, "sent", st);
        return GWF_PAUSE;
    }
    if (mode_is(cfg, "local")) {
        gwf_status st = host->send_local_reply(s, cfg->status, cfg->headers,
                                               cfg->header_count, cfg->body,
                                               cfg->body_len, cfg->details);
        return st == GWF_OK ? GWF_PAUSE : forward_with(s, "sent", st);
    }
    if (mode_is(cfg, "in_stream")) {
        uint64_t handle = 0;
        return forward_with(s, "prepare", prepare(cfg, &handle));
    }
    if (mode_is(cfg, "forge")) {
        gwf_status st = host->send_prepared_reply(s, forged_handle(cfg));
        /* Kept for the next instance only after it tried: "other" is
         * never this instance's own. */
        other.inst = cfg->inst;
        other.handle = cfg->handle;
        return st == GWF_OK ? GWF_PAUSE : forward_with(s, "forged", st);
    }
    if (mode_is(cfg, "twice")) {
        gwf_status first = host->send_prepared_reply(s, cfg->handle);
        gwf_status second = host->send_prepared_reply(s, cfg->handle);
        logf_inst(cfg->inst, "twice first=%d second=%d", (int)first,
                  (int)second);
        return GWF_PAUSE;
    }
    if (mode_is(cfg, "resume")) {
        resume_wait *w = malloc(sizeof *w);
        uint64_t timer;
        if (!w)
            return GWF_CONTINUE;
        w->s = s;
        w->cfg = cfg;
        if (host->timer_start(cfg->inst, s, 0, resume_then_send, w, &timer) !=
            GWF_OK) {
            free(w);
            return GWF_CONTINUE;
        }
        return GWF_PAUSE;
    }
    return GWF_CONTINUE;
}

/* "STATUS name=value|name=value" of the response as this plugin sees it. */
static void
log_response(gwf_stream *s, probe_config *cfg, const char *who)
{
    const gwf_host *host = s->host;
    char text[512];
    gwf_view status = {"", 0}, name, value;
    host->header_get(s, GWF_RESPONSE, ":status", 7, 0, &status);
    int n = snprintf(text, sizeof text, "%s saw %.*s ", who, (int)status.len,
                     status.ptr);
    size_t count = host->header_count(s, GWF_RESPONSE);
    for (size_t i = 0; i < count && n > 0 && (size_t)n < sizeof text; i++) {
        if (host->header_at(s, GWF_RESPONSE, i, &name, &value) != GWF_OK)
            break;
        n += snprintf(text + n, sizeof text - (size_t)n, "%s%.*s=%.*s",
                      i ? "|" : "", (int)name.len, name.ptr, (int)value.len,
                      value.ptr);
    }
    logf_inst(cfg->inst, "%s", text);
}

static gwf_action
probe_response_headers(gwf_stream *s, void *ctx, int32_t end_of_stream)
{
    (void)end_of_stream;
    probe_config *cfg = ctx;
    const gwf_host *host = s->host;
    if (!mode_is(cfg, "editor"))
        return GWF_CONTINUE;
    log_response(s, cfg, "editor");
    gwf_view edit;
    if (host->header_get(s, GWF_REQUEST, "x-edit", 6, 0, &edit) == GWF_OK) {
        gwf_status a =
            host->header_set(s, GWF_RESPONSE, "x-edited", 8, "yes", 3);
        gwf_status b =
            host->header_set(s, GWF_RESPONSE, "x-a", 3, "changed", 7);
        gwf_status c =
            host->header_set(s, GWF_RESPONSE, ":status", 7, "418", 3);
        logf_inst(cfg->inst, "editor set=%d,%d,%d", (int)a, (int)b, (int)c);
    }
    return GWF_CONTINUE;
}

static void
probe_stream_complete(gwf_stream *s, void *ctx)
{
    probe_config *cfg = ctx;
    if (mode_is(cfg, "reader"))
        log_response(s, cfg, "reader");
}
#endif

GWF_PLUGIN_ENTRY = {
    .size = sizeof(gwf_plugin),
    .abi_major = GWF_ABI_VERSION_MAJOR,
    .abi_minor = GWF_ABI_VERSION_MINOR,
#ifdef REPLY_PROBE_AS_ROUTE
    .name = "jwt_auth",
    .route_config_create = probe_route_config_create,
    .route_config_destroy = probe_route_config_destroy,
    .stream_create = probe_stream_create,
#else
    .name = "reply_probe",
    .response_headers = probe_response_headers,
    .stream_complete = probe_stream_complete,
#endif
    .version = "0.1.0",
    .description = "Test plugin: prepared local replies",
    .config_create = probe_config_create,
    .config_destroy = probe_config_destroy,
    .request_headers = probe_request_headers,
};
