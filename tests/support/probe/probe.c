/*
 * probe.c - a plugin whose behaviour is scripted by its config, for the
 * ABI conformance suite.
 *
 * The conformance tests must build every situation the ABI describes -
 * a pause woken by a timer, an fd or another thread, a local reply from
 * each phase, a bad return value, a failing stream_create - from
 * manifests alone, against whatever host runs them. Rather than one test
 * plugin per situation, this one plugin reads per-hook actions from its
 * config and writes what it saw to the host log, one line per hook:
 *
 *     probe A request_headers eos=0
 *     probe A request_body eos=1 len=5
 *     probe A note: reply=0 handle_after=4
 *
 * Lines of the form "probe <TAG> <event>" are the trace the tests compare
 * (events: the stream hooks, stream_create/complete/destroy and the
 * callbacks timer_fired, fd_ready, post_run, wake_done); lines with
 * "note:" carry the status codes of host calls, header and value reads,
 * so a test can assert on what the host answered.
 *
 * Config (every field optional):
 *
 *   tag            name used in log lines (default "P")
 *   actions        per hook: request_headers, request_body,
 *                  response_headers, response_body, each one of
 *                    continue | buffer | bad_status | pause
 *                    pause_timer:<dur> | pause_fd | pause_fd_timer:<dur>
 *                    pause_fd_idle | pause_post
 *                    reply:<status> | reply_then_continue:<status>
 *                  and stream_create: "ok" | "fail"
 *   wake           what a wake-up callback does: "resume" (default) or
 *                  "reply:<status>"
 *   reply          {status?, body, headers{}, details} for local replies
 *   remove_request_header / remove_response_header [name, ...]
 *   set_request_header / set_response_header   {name: value}
 *   add_request_header / add_response_header   {name: value}
 *   set_many_request_headers / set_many_response_headers
 *                  {prefix, count}: after the edits above, sets count
 *                  headers "<prefix><i>: v<i>", i = 0..count-1 (for tests
 *                  and benchmarks of hosts under many headers)
 *   list_request_headers / list_response_headers   log every line
 *   late_request_header / late_response_header {name: value} written
 *                  when it is too late (response_headers, response_body)
 *   log_request_header / log_response_header   [name, ...]
 *   set_request_body / set_response_body       text replacing the body
 *   append_request_body / append_response_body text appended to it
 *   log_body       log each body chunk as a note
 *   body_will_change ["request" | "response", ...]: call body_will_change
 *                  for that message in its headers hook, and for the
 *                  request once more, too late, in response_headers
 *                  (noting each status)
 *   value_set      {key: string|integer|boolean|object} set on the stream
 *                  in request_headers
 *   value_get      [key, ...] read in request_headers
 *   log_attributes, log_now, check_complete, metric   booleans
 *                  (log_attributes: in response_headers too, whether the
 *                  response came from the upstream)
 *
 * <dur> is a count of nanoseconds or a duration such as "10ms".
 *
 * The pauses differ in what wakes them: pause_timer a stream-scope timer;
 * pause_fd a watched eventfd that a helper thread writes ~1 ms later;
 * pause_fd_timer the same eventfd written by a stream-scope timer (so the
 * test's manual clock decides); pause_post a thread that posts through a
 * stream_ref ~1 ms later; pause_fd_idle and pause nothing at all, so only
 * the host's pause deadline or a client abort ends them.
 *
 * With "metric": true the instance defines and records
 * probe_hooks_total{hook} (counter), probe_streams_active (gauge, +1 at
 * stream_create, -1 at stream_destroy) and probe_body_bytes (histogram of
 * body chunk sizes, buckets 16, 256, 4096).
 *
 * Header effects normally happen in the headers hook; when that hook's
 * action is "buffer" they move to the body hook that sees the whole body,
 * which is what a real plugin that needs the body to decide does.
 */
#include <gwf/sdk.h>

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/* The value a "bad_status" hook returns: not a gwf_action. */
#define PROBE_BAD_ACTION 77

enum probe_hook {
    HOOK_REQUEST_HEADERS,
    HOOK_REQUEST_BODY,
    HOOK_RESPONSE_HEADERS,
    HOOK_RESPONSE_BODY,
    HOOK_COUNT
};

static const char *const probe_hook_names[HOOK_COUNT] = {
    "request_headers", "request_body", "response_headers", "response_body"};

enum probe_verb {
    VERB_CONTINUE,
    VERB_BUFFER,
    VERB_BAD_STATUS,
    VERB_PAUSE,
    VERB_PAUSE_TIMER,
    VERB_PAUSE_FD,
    VERB_PAUSE_FD_TIMER,
    VERB_PAUSE_FD_IDLE,
    VERB_PAUSE_POST,
    VERB_REPLY,
    VERB_REPLY_THEN_CONTINUE
};

enum probe_arg { ARG_NONE, ARG_DURATION, ARG_STATUS };

static const struct probe_verb_spec {
    const char *name;
    enum probe_verb verb;
    enum probe_arg arg;
} probe_verbs[] = {
    {"continue", VERB_CONTINUE, ARG_NONE},
    {"buffer", VERB_BUFFER, ARG_NONE},
    {"bad_status", VERB_BAD_STATUS, ARG_NONE},
    {"pause", VERB_PAUSE, ARG_NONE},
    {"pause_timer", VERB_PAUSE_TIMER, ARG_DURATION},
    {"pause_fd", VERB_PAUSE_FD, ARG_NONE},
    {"pause_fd_timer", VERB_PAUSE_FD_TIMER, ARG_DURATION},
    {"pause_fd_idle", VERB_PAUSE_FD_IDLE, ARG_NONE},
    {"pause_post", VERB_PAUSE_POST, ARG_NONE},
    {"reply", VERB_REPLY, ARG_STATUS},
    {"reply_then_continue", VERB_REPLY_THEN_CONTINUE, ARG_STATUS},
};

struct probe_action {
    enum probe_verb verb;
    uint64_t arg; /* nanoseconds or an HTTP status */
};

struct probe_pair {
    char *name;
    char *value;
};

struct probe_pairs {
    struct probe_pair *items;
    size_t count;
};

struct probe_names {
    char **items;
    size_t count;
};

struct probe_value {
    char *key;
    gwf_value_type type;
    char *text; /* STRING and JSON */
    int64_t number;
    uint8_t flag;
};

struct probe_config {
    gwf_instance *inst;
    char *tag;
    struct probe_action actions[HOOK_COUNT];
    int fail_stream_create;
    struct probe_action wake; /* VERB_CONTINUE = resume, or VERB_REPLY */

    uint32_t reply_status; /* 0: the action's */
    char *reply_body;
    char *reply_details;
    struct probe_pairs reply_headers;

    /* Header edits by gwf_message_kind, applied in this order: remove,
     * set, add; then the reads (log, list). */
    struct probe_names remove_header[2];
    struct probe_pairs set_header[2];
    struct probe_pairs add_header[2];
    struct probe_many {
        char *prefix;
        size_t count;
    } set_many[2];
    int list_headers[2];
    /* Written too late on purpose: the request's in response_headers,
     * the response's in response_body. */
    struct probe_pairs late_header[2];
    struct probe_names log_header[2];
    char *set_body[2];
    char *append_body[2];
    struct probe_names will_change;
    int log_body;

    struct probe_value *values;
    size_t value_count;
    struct probe_names value_get;

    int log_attributes;
    int log_now;
    int check_complete;

    int metric;
    uint32_t hooks_metric;   /* counter{hook} */
    uint32_t streams_metric; /* gauge */
    uint32_t bytes_metric;   /* histogram of body chunk sizes */
};

struct probe_stream {
    struct probe_config *cfg;
    gwf_stream *s;
    /* Header effects held back until the whole body is seen. */
    int held[2];
    int event_fd; /* -1 until a pause_fd* needs it */
    uint64_t watch_id;
    uint64_t timer_id; /* of the pause_timer */
    pthread_t helper;  /* fd writer or poster thread */
    int helper_running;
};

/* What the poster thread hands to gwf_host.post. Owned by whichever of
 * the post callback or the release callback runs. */
struct probe_post {
    struct probe_stream *ps;
    const gwf_host *host;
    gwf_stream_ref *ref;
};

/* ------------------------------------------------------------------------
 * Logging
 * --------------------------------------------------------------------- */

static void probe_note(const struct probe_config *cfg, const char *fmt, ...)
    GWF_PRINTF(2, 3);

/* A note goes through the instance, not the stream, so that it can be
 * written after the stream handle died (resume, local reply). */
static void
probe_note(const struct probe_config *cfg, const char *fmt, ...)
{
    char text[768];
    int prefix = snprintf(text, sizeof(text), "probe %s note: ", cfg->tag);
    if (prefix < 0 || (size_t)prefix >= sizeof(text))
        return;
    va_list ap;
    va_start(ap, fmt);
    int rest = vsnprintf(text + prefix, sizeof(text) - (size_t)prefix, fmt, ap);
    va_end(ap);
    if (rest < 0)
        return;
    size_t len = (size_t)prefix + (size_t)rest;
    if (len >= sizeof(text))
        len = sizeof(text) - 1;
    cfg->inst->host->log(cfg->inst, GWF_LOG_INFO, text, len);
}

static void
probe_event(const struct probe_config *cfg, const char *event)
{
    gwf_logf(cfg->inst, GWF_LOG_INFO, "probe %s %s", cfg->tag, event);
}

/* ------------------------------------------------------------------------
 * Config parsing
 * --------------------------------------------------------------------- */

static char *
probe_strdup(const char *s)
{
    size_t len = strlen(s);
    char *copy = malloc(len + 1);
    if (copy)
        memcpy(copy, s, len + 1);
    return copy;
}

static int
probe_parse_u64(const char *text, uint64_t *out)
{
    if (*text == '\0')
        return -1;
    uint64_t value = 0;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        unsigned digit = (unsigned)(*p - '0');
        if (value > (UINT64_MAX - digit) / 10)
            return -1;
        value = value * 10 + digit;
    }
    *out = value;
    return 0;
}

static int
probe_parse_action(const char *text, struct probe_action *out)
{
    const char *colon = strchr(text, ':');
    size_t verb_len = colon ? (size_t)(colon - text) : strlen(text);

    for (size_t i = 0; i < sizeof(probe_verbs) / sizeof(probe_verbs[0]); i++) {
        const struct probe_verb_spec *spec = &probe_verbs[i];
        if (strlen(spec->name) != verb_len ||
            memcmp(spec->name, text, verb_len) != 0)
            continue;
        out->verb = spec->verb;
        out->arg = 0;
        if (spec->arg == ARG_NONE)
            return colon ? -1 : 0;
        if (!colon)
            return -1;
        const char *arg = colon + 1;
        if (spec->arg == ARG_STATUS)
            return probe_parse_u64(arg, &out->arg) == 0 && out->arg <= 999 ? 0
                                                                           : -1;
        if (probe_parse_u64(arg, &out->arg) == 0)
            return 0;
        return gwf_parse_duration(arg, strlen(arg), &out->arg);
    }
    return -1;
}

static gwf_status
probe_parse_pairs(gwf_instance *inst, json_t *obj, const char *field,
                  struct probe_pairs *out)
{
    if (!json_is_object(obj))
        return gwf_config_errorf(inst, field, "must be an object");
    out->items = calloc(json_object_size(obj) + 1, sizeof(*out->items));
    if (!out->items)
        return GWF_ERR_NO_MEMORY;
    const char *name;
    json_t *value;
    json_object_foreach(obj, name, value)
    {
        if (!json_is_string(value))
            return gwf_config_errorf(inst, field, "%s: must be a string", name);
        struct probe_pair *pair = &out->items[out->count++];
        pair->name = probe_strdup(name);
        pair->value = probe_strdup(json_string_value(value));
        if (!pair->name || !pair->value)
            return GWF_ERR_NO_MEMORY;
    }
    return GWF_OK;
}

static gwf_status
probe_parse_names(gwf_instance *inst, json_t *arr, const char *field,
                  struct probe_names *out)
{
    if (!json_is_array(arr))
        return gwf_config_errorf(inst, field, "must be a list of strings");
    out->items = calloc(json_array_size(arr) + 1, sizeof(*out->items));
    if (!out->items)
        return GWF_ERR_NO_MEMORY;
    size_t i;
    json_t *item;
    json_array_foreach(arr, i, item)
    {
        if (!json_is_string(item)) {
            char where[128];
            snprintf(where, sizeof(where), "%s[%zu]", field, i);
            return gwf_config_errorf(inst, where, "must be a string");
        }
        out->items[out->count] = probe_strdup(json_string_value(item));
        if (!out->items[out->count++])
            return GWF_ERR_NO_MEMORY;
    }
    return GWF_OK;
}

static gwf_status
probe_parse_text(gwf_instance *inst, json_t *value, const char *field,
                 char **out)
{
    if (!json_is_string(value))
        return gwf_config_errorf(inst, field, "must be a string");
    *out = probe_strdup(json_string_value(value));
    return *out ? GWF_OK : GWF_ERR_NO_MEMORY;
}

static gwf_status
probe_parse_bool(gwf_instance *inst, json_t *value, const char *field, int *out)
{
    if (!json_is_boolean(value))
        return gwf_config_errorf(inst, field, "must be true or false");
    *out = json_is_true(value);
    return GWF_OK;
}

static gwf_status
probe_parse_many(gwf_instance *inst, json_t *value, const char *field,
                 struct probe_many *out)
{
    json_t *prefix = json_object_get(value, "prefix");
    json_t *count = json_object_get(value, "count");
    if (!json_is_object(value) || !json_is_string(prefix) ||
        !json_is_integer(count) || json_integer_value(count) < 0)
        return gwf_config_errorf(inst, field,
                                 "must be {prefix: string, count: n >= 0}");
    out->count = (size_t)json_integer_value(count);
    out->prefix = probe_strdup(json_string_value(prefix));
    return out->prefix ? GWF_OK : GWF_ERR_NO_MEMORY;
}

static gwf_status
probe_parse_actions(struct probe_config *cfg, json_t *obj)
{
    if (!json_is_object(obj))
        return gwf_config_errorf(cfg->inst, "actions", "must be an object");
    const char *key;
    json_t *value;
    json_object_foreach(obj, key, value)
    {
        char field[64];
        snprintf(field, sizeof(field), "actions.%s", key);
        if (!json_is_string(value))
            return gwf_config_errorf(cfg->inst, field, "must be a string");
        const char *text = json_string_value(value);

        if (strcmp(key, "stream_create") == 0) {
            if (strcmp(text, "fail") == 0)
                cfg->fail_stream_create = 1;
            else if (strcmp(text, "ok") != 0)
                return gwf_config_errorf(cfg->inst, field,
                                         "must be \"ok\" or \"fail\"");
            continue;
        }
        int hook = -1;
        for (int i = 0; i < HOOK_COUNT; i++)
            if (strcmp(key, probe_hook_names[i]) == 0)
                hook = i;
        if (hook < 0)
            return gwf_config_errorf(cfg->inst, field, "unknown hook");
        if (probe_parse_action(text, &cfg->actions[hook]) != 0)
            return gwf_config_errorf(cfg->inst, field, "unknown action \"%s\"",
                                     text);
    }
    return GWF_OK;
}

static gwf_status
probe_parse_wake(struct probe_config *cfg, json_t *value)
{
    const char *text = json_string_value(value);
    if (text && strcmp(text, "resume") == 0) {
        cfg->wake.verb = VERB_CONTINUE;
        return GWF_OK;
    }
    if (text && probe_parse_action(text, &cfg->wake) == 0 &&
        cfg->wake.verb == VERB_REPLY)
        return GWF_OK;
    return gwf_config_errorf(cfg->inst, "wake",
                             "must be \"resume\" or \"reply:<status>\"");
}

static gwf_status
probe_parse_reply(struct probe_config *cfg, json_t *obj)
{
    if (!json_is_object(obj))
        return gwf_config_errorf(cfg->inst, "reply", "must be an object");
    const char *key;
    json_t *value;
    gwf_status st = GWF_OK;
    json_object_foreach(obj, key, value)
    {
        if (strcmp(key, "status") == 0) {
            if (!json_is_integer(value) || json_integer_value(value) < 0 ||
                json_integer_value(value) > 999)
                return gwf_config_errorf(cfg->inst, "reply.status",
                                         "must be an integer 0-999");
            cfg->reply_status = (uint32_t)json_integer_value(value);
        } else if (strcmp(key, "body") == 0) {
            free(cfg->reply_body);
            st = probe_parse_text(cfg->inst, value, "reply.body",
                                  &cfg->reply_body);
        } else if (strcmp(key, "details") == 0) {
            free(cfg->reply_details);
            st = probe_parse_text(cfg->inst, value, "reply.details",
                                  &cfg->reply_details);
        } else if (strcmp(key, "headers") == 0) {
            st = probe_parse_pairs(cfg->inst, value, "reply.headers",
                                   &cfg->reply_headers);
        } else {
            char field[64];
            snprintf(field, sizeof(field), "reply.%s", key);
            return gwf_config_errorf(cfg->inst, field, "unknown field");
        }
        if (st != GWF_OK)
            return st;
    }
    return GWF_OK;
}

static gwf_status
probe_parse_values(struct probe_config *cfg, json_t *obj)
{
    if (!json_is_object(obj))
        return gwf_config_errorf(cfg->inst, "value_set", "must be an object");
    cfg->values = calloc(json_object_size(obj) + 1, sizeof(*cfg->values));
    if (!cfg->values)
        return GWF_ERR_NO_MEMORY;
    const char *key;
    json_t *value;
    json_object_foreach(obj, key, value)
    {
        struct probe_value *v = &cfg->values[cfg->value_count++];
        v->key = probe_strdup(key);
        if (!v->key)
            return GWF_ERR_NO_MEMORY;
        if (json_is_string(value)) {
            v->type = GWF_VALUE_STRING;
            v->text = probe_strdup(json_string_value(value));
        } else if (json_is_integer(value)) {
            v->type = GWF_VALUE_INT;
            v->number = (int64_t)json_integer_value(value);
        } else if (json_is_boolean(value)) {
            v->type = GWF_VALUE_BOOL;
            v->flag = json_is_true(value) ? 1 : 0;
        } else if (json_is_object(value) || json_is_array(value)) {
            v->type = GWF_VALUE_JSON;
            v->text = json_dumps(value, JSON_COMPACT | JSON_SORT_KEYS);
        } else {
            char field[128];
            snprintf(field, sizeof(field), "value_set.%s", key);
            return gwf_config_errorf(cfg->inst, field,
                                     "must be a string, integer, boolean, "
                                     "object or list");
        }
        if ((v->type == GWF_VALUE_STRING || v->type == GWF_VALUE_JSON) &&
            !v->text)
            return GWF_ERR_NO_MEMORY;
    }
    return GWF_OK;
}

/* 1 when `key` is `pattern` with "%s" replaced by `side`. */
static int
probe_key_is(const char *key, const char *pattern, const char *side)
{
    char expected[64];
    snprintf(expected, sizeof(expected), pattern, side);
    return strcmp(key, expected) == 0;
}

/* The fields that exist once for the request and once for the response
 * ("set_request_header", "set_response_header", ...). 1 if `key` was
 * one of them, with the parse status in *st. */
static int
probe_parse_side_field(struct probe_config *cfg, const char *key, json_t *value,
                       gwf_status *st)
{
    static const char *const sides[2] = {"request", "response"};
    gwf_instance *inst = cfg->inst;

    for (int k = GWF_REQUEST; k <= GWF_RESPONSE; k++) {
        const char *side = sides[k];
        if (probe_key_is(key, "set_%s_header", side))
            *st = probe_parse_pairs(inst, value, key, &cfg->set_header[k]);
        else if (probe_key_is(key, "add_%s_header", side))
            *st = probe_parse_pairs(inst, value, key, &cfg->add_header[k]);
        else if (probe_key_is(key, "set_many_%s_headers", side))
            *st = probe_parse_many(inst, value, key, &cfg->set_many[k]);
        else if (probe_key_is(key, "remove_%s_header", side))
            *st = probe_parse_names(inst, value, key, &cfg->remove_header[k]);
        else if (probe_key_is(key, "late_%s_header", side))
            *st = probe_parse_pairs(inst, value, key, &cfg->late_header[k]);
        else if (probe_key_is(key, "log_%s_header", side))
            *st = probe_parse_names(inst, value, key, &cfg->log_header[k]);
        else if (probe_key_is(key, "list_%s_headers", side))
            *st = probe_parse_bool(inst, value, key, &cfg->list_headers[k]);
        else if (probe_key_is(key, "set_%s_body", side))
            *st = probe_parse_text(inst, value, key, &cfg->set_body[k]);
        else if (probe_key_is(key, "append_%s_body", side))
            *st = probe_parse_text(inst, value, key, &cfg->append_body[k]);
        else
            continue;
        return 1;
    }
    return 0;
}

static gwf_status
probe_parse_field(struct probe_config *cfg, const char *key, json_t *value)
{
    gwf_instance *inst = cfg->inst;
    gwf_status st;

    if (probe_parse_side_field(cfg, key, value, &st))
        return st;
    if (strcmp(key, "tag") == 0) {
        free(cfg->tag);
        cfg->tag = NULL;
        return probe_parse_text(inst, value, key, &cfg->tag);
    }
    if (strcmp(key, "actions") == 0)
        return probe_parse_actions(cfg, value);
    if (strcmp(key, "wake") == 0)
        return probe_parse_wake(cfg, value);
    if (strcmp(key, "reply") == 0)
        return probe_parse_reply(cfg, value);
    if (strcmp(key, "log_body") == 0)
        return probe_parse_bool(inst, value, key, &cfg->log_body);
    if (strcmp(key, "body_will_change") == 0)
        return probe_parse_names(inst, value, key, &cfg->will_change);
    if (strcmp(key, "value_set") == 0)
        return probe_parse_values(cfg, value);
    if (strcmp(key, "value_get") == 0)
        return probe_parse_names(inst, value, key, &cfg->value_get);
    if (strcmp(key, "log_attributes") == 0)
        return probe_parse_bool(inst, value, key, &cfg->log_attributes);
    if (strcmp(key, "log_now") == 0)
        return probe_parse_bool(inst, value, key, &cfg->log_now);
    if (strcmp(key, "check_complete") == 0)
        return probe_parse_bool(inst, value, key, &cfg->check_complete);
    if (strcmp(key, "metric") == 0)
        return probe_parse_bool(inst, value, key, &cfg->metric);
    return gwf_config_errorf(inst, key, "unknown field");
}

static gwf_status
probe_define_metrics(struct probe_config *cfg)
{
    static const char *const hook_label[] = {"hook"};
    static const double byte_buckets[] = {16, 256, 4096};
    gwf_instance *inst = cfg->inst;
    const gwf_host *host = inst->host;
    gwf_status st;

    st = host->metric_define(inst, GWF_METRIC_COUNTER, "probe_hooks_total",
                             "Stream hooks run by the probe plugin.",
                             hook_label, 1, NULL, 0, &cfg->hooks_metric);
    if (st != GWF_OK)
        return gwf_config_errorf(
            inst, "metric", "defining probe_hooks_total failed: %d", (int)st);
    st = host->metric_define(inst, GWF_METRIC_GAUGE, "probe_streams_active",
                             "Streams the probe plugin holds.", NULL, 0, NULL,
                             0, &cfg->streams_metric);
    if (st != GWF_OK)
        return gwf_config_errorf(inst, "metric",
                                 "defining probe_streams_active failed: %d",
                                 (int)st);
    st = host->metric_define(inst, GWF_METRIC_HISTOGRAM, "probe_body_bytes",
                             "Sizes of the body chunks the probe saw.", NULL, 0,
                             byte_buckets, 3, &cfg->bytes_metric);
    if (st != GWF_OK)
        return gwf_config_errorf(
            inst, "metric", "defining probe_body_bytes failed: %d", (int)st);
    return GWF_OK;
}

static void
probe_free_pairs(struct probe_pairs *pairs)
{
    for (size_t i = 0; i < pairs->count; i++) {
        free(pairs->items[i].name);
        free(pairs->items[i].value);
    }
    free(pairs->items);
}

static void
probe_free_names(struct probe_names *names)
{
    for (size_t i = 0; i < names->count; i++)
        free(names->items[i]);
    free(names->items);
}

static void
probe_config_free(struct probe_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->tag);
    free(cfg->reply_body);
    free(cfg->reply_details);
    probe_free_pairs(&cfg->reply_headers);
    probe_free_names(&cfg->will_change);
    for (int k = 0; k < 2; k++) {
        probe_free_names(&cfg->remove_header[k]);
        probe_free_pairs(&cfg->set_header[k]);
        probe_free_pairs(&cfg->add_header[k]);
        free(cfg->set_many[k].prefix);
        probe_free_pairs(&cfg->late_header[k]);
        probe_free_names(&cfg->log_header[k]);
        free(cfg->set_body[k]);
        free(cfg->append_body[k]);
    }
    for (size_t i = 0; i < cfg->value_count; i++) {
        free(cfg->values[i].key);
        free(cfg->values[i].text);
    }
    free(cfg->values);
    probe_free_names(&cfg->value_get);
    free(cfg);
}

static gwf_status
probe_config_create(const gwf_config_init *init, void **config)
{
    struct probe_config *cfg = calloc(1, sizeof(*cfg));
    if (!cfg)
        return GWF_ERR_NO_MEMORY;
    cfg->inst = init->instance;
    cfg->tag = probe_strdup("P");
    if (!cfg->tag) {
        free(cfg);
        return GWF_ERR_NO_MEMORY;
    }

    json_error_t error;
    json_t *root = json_loadb(init->config_json.ptr, init->config_json.len,
                              JSON_REJECT_DUPLICATES, &error);
    gwf_status st = GWF_OK;
    if (!root) {
        st = gwf_config_errorf(cfg->inst, NULL, "invalid JSON: %s", error.text);
        goto fail;
    }
    if (!json_is_object(root)) {
        st = gwf_config_errorf(cfg->inst, NULL, "must be an object");
        goto fail;
    }
    const char *key;
    json_t *value;
    json_object_foreach(root, key, value)
    {
        st = probe_parse_field(cfg, key, value);
        if (st != GWF_OK)
            goto fail;
    }
    if (cfg->metric) {
        st = probe_define_metrics(cfg);
        if (st != GWF_OK)
            goto fail;
    }
    json_decref(root);
    probe_event(cfg, "config_create");
    *config = cfg;
    return GWF_OK;

fail:
    json_decref(root);
    probe_config_free(cfg);
    return st == GWF_ERR_NO_MEMORY ? st : GWF_ERR_BAD_ARGUMENT;
}

static void
probe_config_destroy(void *config)
{
    probe_config_free(config);
}

/* ------------------------------------------------------------------------
 * Workers
 * --------------------------------------------------------------------- */

static gwf_status
probe_worker_start(void *config, const gwf_worker_init *init, void **worker)
{
    const struct probe_config *cfg = config;
    gwf_logf(cfg->inst, GWF_LOG_INFO,
             "probe %s worker_start index=%" PRIu32 " count=%" PRIu32, cfg->tag,
             init->worker_index, init->worker_count);
    *worker = NULL;
    return GWF_OK;
}

static void
probe_worker_stop(void *config, void *worker)
{
    (void)worker;
    probe_event(config, "worker_stop");
}

/* ------------------------------------------------------------------------
 * Effects of a hook: headers, bodies, values, attributes
 * --------------------------------------------------------------------- */

static void
probe_metric_hook(const struct probe_config *cfg, enum probe_hook hook)
{
    if (!cfg->metric)
        return;
    gwf_view label = gwf_cstr(probe_hook_names[hook]);
    gwf_status st =
        cfg->inst->host->metric_add(cfg->inst, cfg->hooks_metric, &label, 1, 1);
    if (st != GWF_OK)
        probe_note(cfg, "metric_add=%d", (int)st);
}

static void
probe_list_headers(const struct probe_config *cfg, gwf_stream *s,
                   gwf_message_kind which, const char *side)
{
    gwf_strbuf lines = {0};
    size_t count = s->host->header_count(s, which);
    for (size_t i = 0; i < count; i++) {
        gwf_view name, value;
        gwf_status st = s->host->header_at(s, which, i, &name, &value);
        if (st != GWF_OK) {
            gwf_strbuf_appendf(&lines, "%s[%zu] status=%d", i ? "|" : "", i,
                               (int)st);
            continue;
        }
        gwf_strbuf_appendf(&lines, "%s%.*s: %.*s", i ? "|" : "", (int)name.len,
                           name.ptr ? name.ptr : "", (int)value.len,
                           value.ptr ? value.ptr : "");
    }
    /* One past the end must be refused. */
    gwf_view name, value;
    gwf_status past = s->host->header_at(s, which, count, &name, &value);
    probe_note(cfg, "%s lines=%zu past_end=%d [%.*s]", side, count, (int)past,
               (int)lines.len, lines.data ? lines.data : "");
    gwf_strbuf_free(&lines);
}

static void
probe_header_effects(struct probe_stream *ps, gwf_stream *s,
                     gwf_message_kind which)
{
    const struct probe_config *cfg = ps->cfg;
    const char *side = which == GWF_REQUEST ? "request" : "response";
    const struct probe_names *remove = &cfg->remove_header[which];
    for (size_t i = 0; i < remove->count; i++) {
        gwf_status st = gwf_header_remove(s, which, remove->items[i]);
        if (st != GWF_OK)
            probe_note(cfg, "remove %s %s status=%d", side, remove->items[i],
                       (int)st);
    }
    const struct probe_pairs *set = &cfg->set_header[which];
    for (size_t i = 0; i < set->count; i++) {
        gwf_status st =
            gwf_header_set(s, which, set->items[i].name, set->items[i].value);
        if (st != GWF_OK)
            probe_note(cfg, "set %s %s status=%d", side, set->items[i].name,
                       (int)st);
    }
    const struct probe_pairs *add = &cfg->add_header[which];
    for (size_t i = 0; i < add->count; i++) {
        gwf_status st =
            gwf_header_add(s, which, add->items[i].name, add->items[i].value);
        if (st != GWF_OK)
            probe_note(cfg, "add %s %s status=%d", side, add->items[i].name,
                       (int)st);
    }
    const struct probe_many *many = &cfg->set_many[which];
    for (size_t i = 0; i < many->count; i++) {
        char name[128], value[32];
        snprintf(name, sizeof name, "%s%zu", many->prefix, i);
        snprintf(value, sizeof value, "v%zu", i);
        gwf_status st = gwf_header_set(s, which, name, value);
        if (st != GWF_OK) {
            probe_note(cfg, "set_many %s %s status=%d", side, name, (int)st);
            break;
        }
    }
    const struct probe_names *names = &cfg->log_header[which];
    for (size_t i = 0; i < names->count; i++) {
        gwf_view value;
        gwf_status st = gwf_header_get(s, which, names->items[i], &value);
        if (st == GWF_OK)
            probe_note(cfg, "%s %s=%.*s", side, names->items[i], (int)value.len,
                       value.ptr ? value.ptr : "");
        else
            probe_note(cfg, "%s %s status=%d", side, names->items[i], (int)st);
    }
    if (cfg->list_headers[which])
        probe_list_headers(cfg, s, which, side);
}

/* Header writes the host must refuse with GWF_ERR_WRONG_PHASE. */
static void
probe_late_writes(const struct probe_config *cfg, gwf_stream *s,
                  gwf_message_kind which)
{
    const char *side = which == GWF_REQUEST ? "request" : "response";
    const struct probe_pairs *late = &cfg->late_header[which];
    for (size_t i = 0; i < late->count; i++) {
        gwf_status st =
            gwf_header_set(s, which, late->items[i].name, late->items[i].value);
        probe_note(cfg, "late set %s %s status=%d", side, late->items[i].name,
                   (int)st);
    }
}

static void
probe_body_effects(struct probe_stream *ps, gwf_stream *s,
                   gwf_message_kind which, int32_t eos, gwf_view body)
{
    const struct probe_config *cfg = ps->cfg;
    const gwf_host *host = s->host;
    const char *side = which == GWF_REQUEST ? "request" : "response";

    if (cfg->log_body)
        probe_note(cfg, "%s_body=[%.*s]", side, (int)body.len,
                   body.ptr ? body.ptr : "");
    if (cfg->metric) {
        gwf_status st = host->metric_observe(cfg->inst, cfg->bytes_metric, NULL,
                                             0, (double)body.len);
        if (st != GWF_OK)
            probe_note(cfg, "metric_observe=%d", (int)st);
    }

    gwf_status st = GWF_OK;
    if (cfg->set_body[which]) {
        /* The replacement goes in the last chunk; earlier ones vanish. */
        const char *text = eos ? cfg->set_body[which] : "";
        st = host->body_set(s, which, text, strlen(text));
    } else if (cfg->append_body[which] && eos) {
        size_t extra = strlen(cfg->append_body[which]);
        char *joined = malloc(body.len + extra + 1);
        if (!joined) {
            probe_note(cfg, "append %s body: out of memory", side);
            return;
        }
        if (body.len)
            memcpy(joined, body.ptr, body.len);
        memcpy(joined + body.len, cfg->append_body[which], extra);
        st = host->body_set(s, which, joined, body.len + extra);
        free(joined);
    }
    if (st != GWF_OK)
        probe_note(cfg, "body_set %s status=%d", side, (int)st);
}

static void
probe_set_values(const struct probe_config *cfg, gwf_stream *s)
{
    for (size_t i = 0; i < cfg->value_count; i++) {
        const struct probe_value *v = &cfg->values[i];
        const void *data;
        size_t len;
        switch (v->type) {
        case GWF_VALUE_INT:
            data = &v->number;
            len = sizeof(v->number);
            break;
        case GWF_VALUE_BOOL:
            data = &v->flag;
            len = 1;
            break;
        default:
            data = v->text;
            len = strlen(v->text);
            break;
        }
        gwf_status st =
            s->host->value_set(s, v->key, strlen(v->key), v->type, data, len);
        if (st != GWF_OK)
            probe_note(cfg, "value_set %s status=%d", v->key, (int)st);
    }
}

static void
probe_get_values(const struct probe_config *cfg, gwf_stream *s)
{
    for (size_t i = 0; i < cfg->value_get.count; i++) {
        const char *key = cfg->value_get.items[i];
        gwf_value_type type = -1;
        gwf_view data = {NULL, 0};
        gwf_status st = s->host->value_get(s, key, strlen(key), &type, &data);
        if (st != GWF_OK) {
            probe_note(cfg, "value %s status=%d", key, (int)st);
            continue;
        }
        if (type == GWF_VALUE_INT && data.len == sizeof(int64_t)) {
            int64_t number;
            memcpy(&number, data.ptr, sizeof(number));
            probe_note(cfg, "value %s type=%d =%" PRId64, key, (int)type,
                       number);
        } else if (type == GWF_VALUE_BOOL && data.len == 1) {
            probe_note(cfg, "value %s type=%d =%s", key, (int)type,
                       data.ptr[0] ? "true" : "false");
        } else {
            probe_note(cfg, "value %s type=%d =%.*s", key, (int)type,
                       (int)data.len, data.ptr ? data.ptr : "");
        }
    }
}

static void
probe_log_attributes(const struct probe_config *cfg, gwf_stream *s)
{
    static const struct {
        gwf_attribute attr;
        const char *name;
    } attrs[] = {
        {GWF_ATTR_REMOTE_ADDRESS, "remote_address"},
        {GWF_ATTR_REMOTE_PORT, "remote_port"},
        {GWF_ATTR_LOCAL_ADDRESS, "local_address"},
        {GWF_ATTR_LOCAL_PORT, "local_port"},
        {GWF_ATTR_PROTOCOL, "protocol"},
        {GWF_ATTR_REQUEST_ID, "request_id"},
        {GWF_ATTR_ROUTE_NAME, "route_name"},
        {GWF_ATTR_TLS, "tls"},
    };
    for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++) {
        gwf_view value = {NULL, 0};
        gwf_status st = s->host->attribute(s, attrs[i].attr, &value);
        if (st == GWF_OK)
            probe_note(cfg, "attr %s=%.*s", attrs[i].name, (int)value.len,
                       value.ptr ? value.ptr : "");
        else
            probe_note(cfg, "attr %s status=%d", attrs[i].name, (int)st);
    }
    gwf_instance *inst = s->host->stream_instance(s);
    probe_note(cfg, "stream_instance %s",
               inst == cfg->inst ? "matches" : "differs");
}

/* Whether the response is the upstream's (GWF_ATTR_RESPONSE_FROM_UPSTREAM),
 * logged with the attributes in response_headers. */
static void
probe_log_response_origin(const struct probe_config *cfg, gwf_stream *s)
{
    gwf_view value = {NULL, 0};
    gwf_status st =
        s->host->attribute(s, GWF_ATTR_RESPONSE_FROM_UPSTREAM, &value);
    if (st == GWF_OK)
        probe_note(cfg, "attr response_from_upstream=%.*s", (int)value.len,
                   value.ptr ? value.ptr : "");
    else
        probe_note(cfg, "attr response_from_upstream status=%d", (int)st);
}

static void
probe_log_now(const struct probe_config *cfg)
{
    const gwf_host *host = cfg->inst->host;
    probe_note(cfg, "now realtime=%" PRId64 " monotonic=%" PRId64,
               host->now(cfg->inst, GWF_CLOCK_REALTIME),
               host->now(cfg->inst, GWF_CLOCK_MONOTONIC));
}

/* ------------------------------------------------------------------------
 * Flow control: replies, pauses and the callbacks that end them
 * --------------------------------------------------------------------- */

static gwf_status
probe_send_reply(const struct probe_config *cfg, gwf_stream *s, uint32_t status)
{
    gwf_header headers[16];
    size_t count = 0;
    for (size_t i = 0; i < cfg->reply_headers.count && count < 16; i++) {
        headers[count].name = gwf_cstr(cfg->reply_headers.items[i].name);
        headers[count].value = gwf_cstr(cfg->reply_headers.items[i].value);
        count++;
    }
    char fallback[64];
    const char *body = cfg->reply_body;
    if (!body) {
        snprintf(fallback, sizeof(fallback), "probe %s reply", cfg->tag);
        body = fallback;
    }
    if (cfg->reply_status)
        status = cfg->reply_status;
    return s->host->send_local_reply(
        s, status, count ? headers : NULL, count, body, strlen(body),
        cfg->reply_details ? cfg->reply_details : "probe_reply");
}

/* After resume or a local reply the handle must be dead: record what the
 * host answers to a harmless read, so tests can check it says so. */
static gwf_status
probe_handle_status(gwf_stream *s)
{
    gwf_view value;
    return s->host->header_get(s, GWF_REQUEST, ":method", 7, 0, &value);
}

/* A timer, fd or post callback: the pause is over. */
static void
probe_wake(struct probe_stream *ps, const char *event)
{
    const struct probe_config *cfg = ps->cfg;
    gwf_stream *s = ps->s;

    gwf_stream_logf(s, GWF_LOG_INFO, "probe %s %s", cfg->tag, event);
    if (cfg->wake.verb == VERB_REPLY) {
        gwf_status st = probe_send_reply(cfg, s, (uint32_t)cfg->wake.arg);
        probe_note(cfg, "wake reply=%d handle_after=%d", (int)st,
                   (int)probe_handle_status(s));
    } else {
        gwf_status st = s->host->resume(s);
        probe_note(cfg, "wake resume=%d handle_after=%d", (int)st,
                   (int)probe_handle_status(s));
    }
    probe_event(cfg, "wake_done");
}

static void
probe_on_timer(void *arg)
{
    struct probe_stream *ps = arg;
    gwf_instance *inst = ps->cfg->inst;
    /* A one-shot timer's id is spent once its callback starts. */
    gwf_status st = inst->host->timer_cancel(inst, ps->timer_id);
    probe_note(ps->cfg, "timer_cancel_in_callback=%d", (int)st);
    probe_wake(ps, "timer_fired");
}

static void
probe_on_fd(void *arg, int fd, uint32_t events)
{
    struct probe_stream *ps = arg;
    uint64_t count;
    if (read(fd, &count, sizeof(count)) != (ssize_t)sizeof(count))
        probe_note(ps->cfg, "fd read failed events=%" PRIu32, events);
    gwf_instance *inst = ps->cfg->inst;
    gwf_status st = inst->host->fd_cancel(inst, ps->watch_id);
    if (st != GWF_OK)
        probe_note(ps->cfg, "fd_cancel=%d", (int)st);
    /* Ids are never reused: a second cancel finds nothing. */
    st = inst->host->fd_cancel(inst, ps->watch_id);
    probe_note(ps->cfg, "fd_cancel_again=%d", (int)st);
    ps->watch_id = 0;
    probe_wake(ps, "fd_ready");
}

static void
probe_fd_signal(int fd)
{
    uint64_t one = 1;
    ssize_t n;
    do
        n = write(fd, &one, sizeof(one));
    while (n < 0 && errno == EINTR);
}

/* pause_fd_timer: the timer only makes the fd readable; the fd callback
 * is what resumes, one loop round later. */
static void
probe_on_fd_timer(void *arg)
{
    struct probe_stream *ps = arg;
    probe_note(ps->cfg, "fd_timer_fired");
    probe_fd_signal(ps->event_fd);
}

static void
probe_sleep_a_moment(void)
{
    struct timespec pause = {0, 1000000};
    while (nanosleep(&pause, &pause) != 0 && errno == EINTR)
        ;
}

static void *
probe_fd_writer(void *arg)
{
    probe_sleep_a_moment();
    probe_fd_signal((int)(intptr_t)arg);
    return NULL;
}

static void
probe_on_post(void *arg)
{
    struct probe_post *post = arg;
    struct probe_stream *ps = post->ps;
    free(post);
    probe_wake(ps, "post_run");
}

/* The stream ended before the post could run. The stream state may be
 * gone by now: touch nothing but the post itself. */
static void
probe_on_post_release(void *arg)
{
    free(arg);
}

static void *
probe_poster(void *arg)
{
    struct probe_post *post = arg;
    /* Read what we need first: once posted, `post` belongs to the
     * worker, which may free it at any moment. */
    const gwf_host *host = post->host;
    gwf_stream_ref *ref = post->ref;
    probe_sleep_a_moment();
    host->post(ref, probe_on_post, probe_on_post_release, post);
    host->stream_ref_release(ref);
    return NULL;
}

static void
probe_join_helper(struct probe_stream *ps)
{
    if (!ps->helper_running)
        return;
    pthread_join(ps->helper, NULL);
    ps->helper_running = 0;
}

static int
probe_open_event_fd(struct probe_stream *ps)
{
    if (ps->event_fd < 0)
        ps->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    return ps->event_fd;
}

static gwf_status
probe_start_fd_pause(struct probe_stream *ps, gwf_stream *s,
                     const struct probe_action *act)
{
    gwf_instance *inst = ps->cfg->inst;
    const gwf_host *host = inst->host;
    if (probe_open_event_fd(ps) < 0)
        return GWF_ERR_INTERNAL;
    gwf_status st = host->fd_watch(inst, s, ps->event_fd, GWF_FD_READ,
                                   probe_on_fd, ps, &ps->watch_id);
    if (st != GWF_OK)
        return st;
    if (act->verb == VERB_PAUSE_FD_TIMER) {
        uint64_t timer_id;
        return host->timer_start(inst, s, act->arg, probe_on_fd_timer, ps,
                                 &timer_id);
    }
    if (act->verb == VERB_PAUSE_FD) {
        probe_join_helper(ps);
        if (pthread_create(&ps->helper, NULL, probe_fd_writer,
                           (void *)(intptr_t)ps->event_fd) != 0)
            return GWF_ERR_INTERNAL;
        ps->helper_running = 1;
    }
    return GWF_OK;
}

static gwf_status
probe_start_post_pause(struct probe_stream *ps, gwf_stream *s)
{
    struct probe_post *post = malloc(sizeof(*post));
    if (!post)
        return GWF_ERR_NO_MEMORY;
    post->ps = ps;
    post->host = s->host;
    post->ref = s->host->stream_ref(s);
    if (!post->ref) {
        free(post);
        return GWF_ERR_INTERNAL;
    }
    probe_join_helper(ps);
    if (pthread_create(&ps->helper, NULL, probe_poster, post) != 0) {
        s->host->stream_ref_release(post->ref);
        free(post);
        return GWF_ERR_INTERNAL;
    }
    ps->helper_running = 1;
    return GWF_OK;
}

static gwf_action
probe_pause(struct probe_stream *ps, gwf_stream *s,
            const struct probe_action *act)
{
    gwf_instance *inst = ps->cfg->inst;
    gwf_status st = GWF_OK;

    switch (act->verb) {
    case VERB_PAUSE_TIMER:
        st = inst->host->timer_start(inst, s, act->arg, probe_on_timer, ps,
                                     &ps->timer_id);
        break;
    case VERB_PAUSE_FD:
    case VERB_PAUSE_FD_TIMER:
    case VERB_PAUSE_FD_IDLE:
        st = probe_start_fd_pause(ps, s, act);
        break;
    case VERB_PAUSE_POST:
        st = probe_start_post_pause(ps, s);
        break;
    default:
        break;
    }
    if (st != GWF_OK) {
        probe_note(ps->cfg, "pause setup failed status=%d", (int)st);
        return GWF_CONTINUE;
    }
    return GWF_PAUSE;
}

static gwf_action
probe_act(struct probe_stream *ps, gwf_stream *s,
          const struct probe_action *act, int is_body, int32_t eos)
{
    const struct probe_config *cfg = ps->cfg;
    gwf_status st;

    switch (act->verb) {
    case VERB_CONTINUE:
        return GWF_CONTINUE;
    case VERB_BUFFER:
        /* A body hook that already has the last chunk has all of it. */
        return is_body && eos ? GWF_CONTINUE : GWF_BUFFER;
    case VERB_BAD_STATUS:
        return PROBE_BAD_ACTION;
    case VERB_REPLY:
    case VERB_REPLY_THEN_CONTINUE:
        st = probe_send_reply(cfg, s, (uint32_t)act->arg);
        if (st != GWF_OK) {
            probe_note(cfg, "reply=%d", (int)st);
            return GWF_CONTINUE;
        }
        probe_note(cfg, "reply=%d handle_after=%d", (int)st,
                   (int)probe_handle_status(s));
        /* abi.h: after a reply the returned value is ignored; the
         * _then_continue variant proves it. */
        return act->verb == VERB_REPLY ? GWF_PAUSE : GWF_CONTINUE;
    default:
        return probe_pause(ps, s, act);
    }
}

/* ------------------------------------------------------------------------
 * Stream hooks
 * --------------------------------------------------------------------- */

static gwf_status
probe_stream_create(gwf_stream *s, const gwf_stream_init *init,
                    void **stream_ctx)
{
    struct probe_config *cfg = init->config;
    gwf_stream_logf(s, GWF_LOG_INFO, "probe %s stream_create", cfg->tag);
    if (cfg->fail_stream_create)
        return GWF_ERR_INTERNAL;

    struct probe_stream *ps = calloc(1, sizeof(*ps));
    if (!ps)
        return GWF_ERR_NO_MEMORY;
    ps->cfg = cfg;
    ps->s = s;
    ps->event_fd = -1;
    if (cfg->metric) {
        gwf_status st =
            s->host->metric_add(cfg->inst, cfg->streams_metric, NULL, 0, 1);
        if (st != GWF_OK)
            probe_note(cfg, "metric_add=%d", (int)st);
    }
    *stream_ctx = ps;
    return GWF_OK;
}

/* body_will_change for `which`, when the config names it. */
static void
probe_announce(const struct probe_config *cfg, gwf_stream *s,
               gwf_message_kind which)
{
    const char *side = which == GWF_REQUEST ? "request" : "response";
    for (size_t i = 0; i < cfg->will_change.count; i++) {
        if (strcmp(cfg->will_change.items[i], side) != 0)
            continue;
        gwf_status st = s->host->body_will_change(s, which);
        probe_note(cfg, "body_will_change %s status=%d", side, (int)st);
    }
}

static gwf_action
probe_hook(gwf_stream *s, void *stream_ctx, enum probe_hook hook, int32_t eos)
{
    struct probe_stream *ps = stream_ctx;
    const struct probe_config *cfg = ps->cfg;
    const struct probe_action *act = &cfg->actions[hook];
    int is_body = hook == HOOK_REQUEST_BODY || hook == HOOK_RESPONSE_BODY;
    gwf_message_kind which =
        hook <= HOOK_REQUEST_BODY ? GWF_REQUEST : GWF_RESPONSE;

    probe_metric_hook(cfg, hook);
    if (!is_body) {
        gwf_stream_logf(s, GWF_LOG_INFO, "probe %s %s eos=%d", cfg->tag,
                        probe_hook_names[hook], (int)eos);
        probe_announce(cfg, s, which);
        if (hook == HOOK_RESPONSE_HEADERS)
            probe_announce(cfg, s, GWF_REQUEST);
        if (act->verb == VERB_BUFFER && !eos)
            ps->held[which] = 1;
        else
            probe_header_effects(ps, s, which);
        if (hook == HOOK_RESPONSE_HEADERS)
            probe_late_writes(cfg, s, GWF_REQUEST);
        if (hook == HOOK_RESPONSE_HEADERS && cfg->log_attributes)
            probe_log_response_origin(cfg, s);
        if (hook == HOOK_REQUEST_HEADERS) {
            probe_set_values(cfg, s);
            probe_get_values(cfg, s);
            if (cfg->log_attributes)
                probe_log_attributes(cfg, s);
            if (cfg->log_now)
                probe_log_now(cfg);
        }
    } else {
        gwf_view body = {NULL, 0};
        gwf_status st = s->host->body_get(s, which, &body);
        gwf_stream_logf(s, GWF_LOG_INFO, "probe %s %s eos=%d len=%zu", cfg->tag,
                        probe_hook_names[hook], (int)eos, body.len);
        if (st != GWF_OK)
            probe_note(cfg, "body_get=%d", (int)st);
        if (eos && ps->held[which]) {
            ps->held[which] = 0;
            probe_header_effects(ps, s, which);
        }
        probe_body_effects(ps, s, which, eos, body);
        if (hook == HOOK_RESPONSE_BODY)
            probe_late_writes(cfg, s, GWF_RESPONSE);
    }
    return probe_act(ps, s, act, is_body, eos);
}

static gwf_action
probe_request_headers(gwf_stream *s, void *ctx, int32_t eos)
{
    return probe_hook(s, ctx, HOOK_REQUEST_HEADERS, eos);
}

static gwf_action
probe_request_body(gwf_stream *s, void *ctx, int32_t eos)
{
    return probe_hook(s, ctx, HOOK_REQUEST_BODY, eos);
}

static gwf_action
probe_response_headers(gwf_stream *s, void *ctx, int32_t eos)
{
    return probe_hook(s, ctx, HOOK_RESPONSE_HEADERS, eos);
}

static gwf_action
probe_response_body(gwf_stream *s, void *ctx, int32_t eos)
{
    return probe_hook(s, ctx, HOOK_RESPONSE_BODY, eos);
}

static void
probe_stream_complete(gwf_stream *s, void *stream_ctx)
{
    struct probe_stream *ps = stream_ctx;
    const struct probe_config *cfg = ps->cfg;
    gwf_stream_logf(s, GWF_LOG_INFO, "probe %s stream_complete", cfg->tag);
    if (!cfg->check_complete)
        return;
    /* Read-only phase: reads work, flow control is refused. */
    gwf_view path = {NULL, 0};
    gwf_status path_st = gwf_header_get(s, GWF_REQUEST, ":path", &path);
    gwf_status resume_st = s->host->resume(s);
    gwf_status reply_st = gwf_reply(s, 418, "late", "probe_late");
    probe_note(cfg, "complete path_status=%d path=%.*s resume=%d reply=%d",
               (int)path_st, (int)path.len, path.ptr ? path.ptr : "",
               (int)resume_st, (int)reply_st);
}

static void
probe_stream_destroy(gwf_stream *s, void *stream_ctx)
{
    struct probe_stream *ps = stream_ctx;
    const struct probe_config *cfg = ps->cfg;
    gwf_stream_logf(s, GWF_LOG_INFO, "probe %s stream_destroy", cfg->tag);
    if (cfg->metric) {
        gwf_status st =
            s->host->metric_add(cfg->inst, cfg->streams_metric, NULL, 0, -1);
        if (st != GWF_OK)
            probe_note(cfg, "metric_add=%d", (int)st);
    }
    /* Timers and watches of an ended stream are the host's to cancel;
     * not cancelling them here is deliberate, so that a host which
     * forgets is caught by the tests rather than covered up. */
    probe_join_helper(ps);
    if (ps->event_fd >= 0)
        close(ps->event_fd);
    free(ps);
}

GWF_PLUGIN_ENTRY = {
    .size = sizeof(gwf_plugin),
    .abi_major = GWF_ABI_VERSION_MAJOR,
    .abi_minor = GWF_ABI_VERSION_MINOR,
    .name = "probe",
    .version = "0.1.0",
    .description = "Scriptable test plugin for the ABI conformance suite",
    .config_create = probe_config_create,
    .config_destroy = probe_config_destroy,
    .worker_start = probe_worker_start,
    .worker_stop = probe_worker_stop,
    .stream_create = probe_stream_create,
    .request_headers = probe_request_headers,
    .request_body = probe_request_body,
    .response_headers = probe_response_headers,
    .response_body = probe_response_body,
    .stream_complete = probe_stream_complete,
    .stream_destroy = probe_stream_destroy,
};
