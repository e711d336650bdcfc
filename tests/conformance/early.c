/*
 * early.c - a test plugin that answers before the stream (abi.h
 * request_early), for the conformance suite (test_early.c).
 *
 * Config: {"tag": "A", "early": MODE} (tag default "E", mode default
 * "continue"). request_early logs "early <TAG> request_early", then:
 *
 *   reply     send_local_reply 429, retry-after: 7 and x-early: <TAG>,
 *             body "slow down\n", details "early_reply"; return PAUSE
 *   prepared  send_prepared_reply of a reply prepared in config_create
 *             (418, x-prepared: yes, "prepared\n", "early_prepared")
 *   continue  log "note: id=<request id>" through stream_log; CONTINUE
 *   pause     return PAUSE without answering (a plugin bug)
 *   bad       send_local_reply with a header name holding a space,
 *             note its status; CONTINUE
 *   calls     try every stream call on the handle, note each status in
 *             one line, answer 403, note a read after the answer
 *   done      finish the request (0.9): note the GWF_ATTR_EARLY_DONE
 *             attribute and the status of each write, set x-early-done:
 *             <TAG>, remove x-drop, set :path to /done; return DONE
 *   changed   set x-early-done: <TAG>, then return CONTINUE (a plugin
 *             bug after a change)
 *   badwrite  set a header named "bad name" (refused: nothing changed),
 *             note its status; CONTINUE
 *   values    (0.10) send_prepared_reply_values of a reply prepared in
 *             config_create (429; retry-after: 0, content-type:
 *             text/plain, x-fixed: kept, location: /placeholder;
 *             "values\n"; "early_values")
 *             with the request's x-value for retry-after and, when the
 *             request has one, x-type for content-type ("pad": the
 *             value "\t 7 \t"); x-count: N sends N values (taken from
 *             x-value, x-type, "v2", "/moved"), x-count: null a NULL array
 *             with a count of 1. With x-many, the reply is another of
 *             17 headers (x-m0 .. x-m16: "0"; no body; "early_many"),
 *             each value x-value, 17 of them unless x-count says. With
 *             x-forge, the handle is 0; with x-twice, a sent reply is
 *             sent again and "again=S" noted. The values are copied to
 *             the plugin's stack and overwritten after the call. Notes
 *             "values=S"; PAUSE when sent, else CONTINUE
 *
 * request_headers logs "early <TAG> request_headers" and, for reply,
 * prepared and values, answers as request_early would (abi.h: a host may not
 * call request_early); for continue it logs the request id again, and notes
 * what GWF_ATTR_EARLY_DONE gives there (GWF_ERR_NOT_FOUND).
 * The plugin has no stream_complete: a chain that starts with it and
 * has no other plugin with one lets the host call request_early.
 */
#include <gwf/sdk.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    MODE_CONTINUE,
    MODE_REPLY,
    MODE_PREPARED,
    MODE_PAUSE,
    MODE_BAD,
    MODE_CALLS,
    MODE_DONE,
    MODE_CHANGED,
    MODE_BADWRITE,
    MODE_VALUES
};

static const char *const mode_names[] = {
    "continue", "reply", "prepared", "pause",    "bad",
    "calls",    "done",  "changed",  "badwrite", "values"};

#define MANY 17 /* headers of the "many" reply: past every inline room */

typedef struct early_config {
    gwf_instance *inst;
    char tag[8];
    int mode;
    uint64_t prepared;
    uint64_t valued;
    uint64_t many;
} early_config;

static gwf_status
early_config_create(const gwf_config_init *init, void **out)
{
    early_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg)
        return GWF_ERR_NO_MEMORY;
    cfg->inst = init->instance;
    snprintf(cfg->tag, sizeof cfg->tag, "E");
    json_t *root =
        json_loadb(init->config_json.ptr, init->config_json.len, 0, NULL);
    const char *tag = json_string_value(json_object_get(root, "tag"));
    const char *mode = json_string_value(json_object_get(root, "early"));
    int bad = !json_is_object(root);
    if (tag)
        snprintf(cfg->tag, sizeof cfg->tag, "%s", tag);
    if (mode) {
        bad = 1;
        for (size_t i = 0; i < sizeof mode_names / sizeof mode_names[0]; i++)
            if (strcmp(mode, mode_names[i]) == 0) {
                cfg->mode = (int)i;
                bad = 0;
            }
    }
    json_decref(root);
    const gwf_host *host = init->instance->host;
    gwf_header h = {gwf_cstr("x-prepared"), gwf_cstr("yes")};
    gwf_header valued[4] = {
        {gwf_cstr("retry-after"), gwf_cstr("0")},
        {gwf_cstr("content-type"), gwf_cstr("text/plain")},
        {gwf_cstr("x-fixed"), gwf_cstr("kept")},
        {gwf_cstr("location"), gwf_cstr("/placeholder")},
    };
    static const char *const many_names[MANY] = {
        "x-m0",  "x-m1",  "x-m2",  "x-m3",  "x-m4",  "x-m5",
        "x-m6",  "x-m7",  "x-m8",  "x-m9",  "x-m10", "x-m11",
        "x-m12", "x-m13", "x-m14", "x-m15", "x-m16"};
    gwf_header many[MANY];
    for (size_t i = 0; i < MANY; i++)
        many[i] = (gwf_header){gwf_cstr(many_names[i]), gwf_cstr("0")};
    if (bad ||
        host->reply_prepare(init->instance, 418, &h, 1, "prepared\n", 9,
                            "early_prepared", &cfg->prepared) != GWF_OK ||
        host->reply_prepare(init->instance, 429, valued, 4, "values\n", 7,
                            "early_values", &cfg->valued) != GWF_OK ||
        host->reply_prepare(init->instance, 429, many, MANY, NULL, 0,
                            "early_many", &cfg->many) != GWF_OK) {
        static const char why[] = "expected {tag?, early?} with early one "
                                  "of continue, reply, prepared, pause, "
                                  "bad, calls, done, changed, badwrite, "
                                  "values";
        host->config_error(init->instance, "", why, sizeof why - 1);
        free(cfg);
        return GWF_ERR_BAD_ARGUMENT;
    }
    *out = cfg;
    return GWF_OK;
}

static void
early_config_destroy(void *config)
{
    free(config);
}

static gwf_action
answer(gwf_stream *s, const early_config *cfg)
{
    const gwf_host *host = s->host;
    if (cfg->mode == MODE_PREPARED) {
        host->send_prepared_reply(s, cfg->prepared);
        return GWF_PAUSE;
    }
    gwf_header headers[2] = {
        {gwf_cstr("retry-after"), gwf_cstr("7")},
        {gwf_cstr("x-early"), gwf_cstr(cfg->tag)},
    };
    host->send_local_reply(s, 429, headers, 2, "slow down\n", 10,
                           "early_reply");
    return GWF_PAUSE;
}

/* One request header's first value into `buf` (NUL-ended; "" when
 * absent); 1 when it was there. */
static int
request_value(gwf_stream *s, const char *name, char *buf, size_t size)
{
    gwf_view v = {0};
    buf[0] = '\0';
    if (s->host->header_get(s, GWF_REQUEST, name, strlen(name), 0, &v) !=
        GWF_OK)
        return 0;
    size_t n = v.len < size - 1 ? v.len : size - 1;
    memcpy(buf, v.ptr, n);
    buf[n] = '\0';
    return 1;
}

/* MODE_VALUES: the prepared reply with the request's values. */
static gwf_action
answer_values(gwf_stream *s, const early_config *cfg)
{
    char value[128], type[128] = "", count_text[16], flag[8];
    size_t count = 1;
    int null_values = 0;
    uint64_t reply = cfg->valued;
    gwf_view values[MANY];
    request_value(s, "x-value", value, sizeof value);
    if (strcmp(value, "pad") == 0)
        memcpy(value, "\t 7 \t", 6);
    values[0] = (gwf_view){value, strlen(value)};
    if (request_value(s, "x-many", flag, sizeof flag)) {
        reply = cfg->many;
        count = MANY;
        for (size_t i = 1; i < MANY; i++)
            values[i] = values[0];
    } else {
        if (request_value(s, "x-type", type, sizeof type))
            count = 2;
        values[1] = (gwf_view){type, strlen(type)};
        values[2] = gwf_cstr("v2");
        values[3] = gwf_cstr("/moved");
    }
    if (request_value(s, "x-count", count_text, sizeof count_text)) {
        null_values = strcmp(count_text, "null") == 0;
        count = null_values ? 1 : strtoul(count_text, NULL, 10);
    }
    if (request_value(s, "x-forge", flag, sizeof flag))
        reply = 0;
    int twice = request_value(s, "x-twice", flag, sizeof flag);
    gwf_status st = s->host->send_prepared_reply_values(
        s, reply, null_values ? NULL : values, count);
    if (st == GWF_OK && twice)
        gwf_logf(cfg->inst, GWF_LOG_INFO, "early %s note: again=%d", cfg->tag,
                 s->host->send_prepared_reply_values(s, reply, values, 1));
    /* The host copied what it keeps: nothing may point here now. */
    memset(value, 'X', sizeof value);
    memset(type, 'X', sizeof type);
    gwf_logf(cfg->inst, GWF_LOG_INFO, "early %s note: values=%d", cfg->tag, st);
    return st == GWF_OK ? GWF_PAUSE : GWF_CONTINUE;
}

static void
note_id(gwf_stream *s, const early_config *cfg)
{
    gwf_view id = {0};
    s->host->attribute(s, GWF_ATTR_REQUEST_ID, &id);
    gwf_stream_logf(s, GWF_LOG_INFO, "early %s note: id=%.*s", cfg->tag,
                    (int)id.len, id.ptr);
}

static void
try_calls(gwf_stream *s, const early_config *cfg)
{
    const gwf_host *host = s->host;
    gwf_instance *inst = host->stream_instance(s);
    gwf_view path = {0}, none, addr = {0}, body;
    gwf_value_type type;
    uint64_t timer = 0;
    int64_t one = 1;

    gwf_status get = host->header_get(s, GWF_REQUEST, ":path", 5, 0, &path);
    gwf_status resp = host->header_get(s, GWF_RESPONSE, ":status", 7, 0, &none);
    gwf_status set = host->header_set(s, GWF_REQUEST, "x-a", 3, "1", 1);
    gwf_status add = host->header_add(s, GWF_REQUEST, "x-a", 3, "1", 1);
    gwf_status rm = host->header_remove(s, GWF_REQUEST, "x-a", 3);
    gwf_status bget = host->body_get(s, GWF_REQUEST, &body);
    gwf_status vset =
        host->value_set(s, "k", 1, GWF_VALUE_INT, &one, sizeof one);
    gwf_status vget = host->value_get(s, "k", 1, &type, &none);
    gwf_status resume = host->resume(s);
    gwf_status tstart = host->timer_start(inst, s, 1000, NULL, NULL, &timer);
    gwf_stream_ref *ref = host->stream_ref(s);
    gwf_status attr = host->attribute(s, GWF_ATTR_REMOTE_ADDRESS, &addr);
    gwf_view done = {"?", 1};
    host->attribute(s, GWF_ATTR_EARLY_DONE, &done);
    size_t count = host->header_count(s, GWF_REQUEST);
    gwf_status reply =
        host->send_local_reply(s, 403, NULL, 0, NULL, 0, "early_calls");
    gwf_status after = host->header_get(s, GWF_REQUEST, ":path", 5, 0, &none);
    gwf_status again = host->send_local_reply(s, 500, NULL, 0, NULL, 0, "x");
    gwf_logf(inst, GWF_LOG_INFO,
             "early %s note: get=%d path=%.*s response=%d set=%d add=%d "
             "remove=%d body=%d value_set=%d value_get=%d resume=%d "
             "timer=%d ref=%s attr=%d addr=%.*s done=%.*s count=%d "
             "reply=%d after=%d again=%d",
             cfg->tag, get, (int)path.len, path.ptr, resp, set, add, rm, bget,
             vset, vget, resume, tstart, ref ? "yes" : "null", attr,
             (int)addr.len, addr.ptr, (int)done.len, done.ptr, count > 0, reply,
             after, again);
    if (ref)
        host->stream_ref_release(ref);
}

/* Finish the request before the stream (MODE_DONE). */
static gwf_action
finish(gwf_stream *s, const early_config *cfg)
{
    const gwf_host *host = s->host;
    gwf_view done = {"?", 1};
    gwf_status attr = host->attribute(s, GWF_ATTR_EARLY_DONE, &done);
    gwf_status set = host->header_set(s, GWF_REQUEST, "x-early-done", 12,
                                      cfg->tag, strlen(cfg->tag));
    gwf_status rm = host->header_remove(s, GWF_REQUEST, "x-drop", 6);
    gwf_status path = host->header_set(s, GWF_REQUEST, ":path", 5, "/done", 5);
    gwf_status resp = host->header_set(s, GWF_RESPONSE, "x-r", 3, "1", 1);
    gwf_logf(cfg->inst, GWF_LOG_INFO,
             "early %s note: attr=%d done=%.*s set=%d remove=%d path=%d "
             "response=%d",
             cfg->tag, attr, (int)done.len, done.ptr, set, rm, path, resp);
    return GWF_DONE;
}

static gwf_action
early_request_early(gwf_stream *s, void *config, void *route_config,
                    void *worker)
{
    const early_config *cfg = config;
    gwf_header bad = {gwf_cstr("bad name"), gwf_cstr("v")};
    (void)route_config;
    (void)worker;
    gwf_logf(cfg->inst, GWF_LOG_INFO, "early %s request_early", cfg->tag);
    switch (cfg->mode) {
    case MODE_REPLY:
    case MODE_PREPARED:
        return answer(s, cfg);
    case MODE_PAUSE:
        return GWF_PAUSE;
    case MODE_BAD:
        gwf_logf(cfg->inst, GWF_LOG_INFO, "early %s note: bad_reply=%d",
                 cfg->tag,
                 s->host->send_local_reply(s, 429, &bad, 1, NULL, 0, "x"));
        return GWF_CONTINUE;
    case MODE_CALLS:
        try_calls(s, cfg);
        return GWF_PAUSE;
    case MODE_DONE:
        return finish(s, cfg);
    case MODE_CHANGED:
        s->host->header_set(s, GWF_REQUEST, "x-early-done", 12, cfg->tag,
                            strlen(cfg->tag));
        return GWF_CONTINUE;
    case MODE_BADWRITE:
        gwf_logf(cfg->inst, GWF_LOG_INFO, "early %s note: bad_write=%d",
                 cfg->tag,
                 s->host->header_set(s, GWF_REQUEST, "bad name", 8, "v", 1));
        return GWF_CONTINUE;
    case MODE_VALUES:
        return answer_values(s, cfg);
    default:
        note_id(s, cfg);
        return GWF_CONTINUE;
    }
}

static gwf_action
early_request_headers(gwf_stream *s, void *ctx, int32_t end_of_stream)
{
    const early_config *cfg = ctx;
    (void)end_of_stream;
    gwf_logf(cfg->inst, GWF_LOG_INFO, "early %s request_headers", cfg->tag);
    if (cfg->mode == MODE_REPLY || cfg->mode == MODE_PREPARED)
        return answer(s, cfg);
    if (cfg->mode == MODE_VALUES)
        return answer_values(s, cfg);
    if (cfg->mode == MODE_CONTINUE) {
        gwf_view done;
        note_id(s, cfg);
        gwf_logf(cfg->inst, GWF_LOG_INFO, "early %s note: headers_done=%d",
                 cfg->tag, s->host->attribute(s, GWF_ATTR_EARLY_DONE, &done));
    }
    return GWF_CONTINUE;
}

GWF_PLUGIN_ENTRY = {
    .size = sizeof(gwf_plugin),
    .abi_major = GWF_ABI_VERSION_MAJOR,
    .abi_minor = GWF_ABI_VERSION_MINOR,
    .name = "early",
    .version = "0.1.0",
    .description = "Test plugin that answers before the stream",
    .config_create = early_config_create,
    .config_destroy = early_config_destroy,
    .request_headers = early_request_headers,
    .request_early = early_request_early,
};
