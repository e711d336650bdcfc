/*
 * direct_response.c - answer a route with a fixed response (kgateway's
 * DirectResponse): the upstream never sees the request.
 *
 * This is also the reference plugin: the smallest complete use of the ABI,
 * meant to be copied. It shows the three things nearly every plugin does:
 *
 *   1. config_create [main]: parse and validate the operator's JSON once,
 *      reporting every mistake with its field path, and build an immutable
 *      struct that all workers share without locks;
 *   2. a stream hook [worker]: act on one request using only that struct
 *      and the host table (here: send a local reply and return GWF_PAUSE);
 *   3. config_destroy [main]: free what config_create built.
 *
 * Every other hook is left NULL, which the ABI defines as "nothing to do".
 * In particular there is no stream_create/stream_destroy: the plugin keeps
 * no per-request state, so the host hands the config itself to the stream
 * hooks as their `stream_ctx`.
 *
 * Memory: the host lends us the config JSON only during config_create, so
 * we parse it into a jansson document that we own, and point our views
 * (body, header names and values) into that document's strings. The
 * document is released in config_destroy, after every worker has stopped,
 * so the views stay valid for the whole life of the config. Whatever we
 * pass to the host (the reply, log lines, metric labels) the host copies
 * before the call returns.
 */
#include <gwf/sdk.h>
#include <gwf/sdk_json.h>

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#define DR_STATUS_MIN 200
#define DR_STATUS_MAX 599
#define DR_BODY_MAX 4096
#define DR_DEFAULT_CONTENT_TYPE "text/plain; charset=utf-8"

/* Built once by config_create, then read-only: workers share it. */
typedef struct dr_config {
    gwf_instance *instance; /* for metrics: valid until config_destroy */
    json_t *doc;            /* owns every string the views point into */

    uint32_t status;
    char status_label[4]; /* "404": the metric's label value */
    gwf_view body;        /* ptr NULL when there is no body */
    gwf_view content_type;

    gwf_header *headers; /* the reply's headers, content-type last */
    size_t header_count;

    int has_metric;
    uint32_t replies_metric;
} dr_config;

/* ------------------------------------------------------------------------
 * Config parsing
 *
 * Each parse_* function checks one field and returns GWF_OK, or reports
 * what is wrong through host->config_error (gwf_config_errorf returns
 * GWF_ERR_BAD_ARGUMENT) and returns that. parse_spec runs all of them
 * even after a failure, so an operator sees every mistake in one
 * `gwf validate` run rather than one per attempt.
 * --------------------------------------------------------------------- */


/* A view of a jansson string: valid as long as the string is. Lengths,
 * not strlen: the JSON may carry "\u0000". */
static gwf_view
json_view(const json_t *str)
{
    gwf_view v = {json_string_value(str), json_string_length(str)};
    return v;
}

static gwf_status
parse_status(dr_config *cfg, const json_t *status)
{
    json_int_t n;

    if (!status)
        return gwf_config_errorf(cfg->instance, "status",
                                 "is required: expected an integer %d-%d",
                                 DR_STATUS_MIN, DR_STATUS_MAX);
    if (!json_is_integer(status))
        return gwf_config_errorf(
            cfg->instance, "status", "expected an integer %d-%d, found %s",
            DR_STATUS_MIN, DR_STATUS_MAX, gwf_json_kind(status));
    n = json_integer_value(status);
    if (n < DR_STATUS_MIN || n > DR_STATUS_MAX)
        return gwf_config_errorf(cfg->instance, "status",
                                 "expected an integer %d-%d, found %" PRIdMAX,
                                 DR_STATUS_MIN, DR_STATUS_MAX, (intmax_t)n);
    cfg->status = (uint32_t)n;
    snprintf(cfg->status_label, sizeof(cfg->status_label), "%" PRIu32,
             cfg->status);
    return GWF_OK;
}

static gwf_status
parse_body(dr_config *cfg, const json_t *body)
{
    if (!body)
        return GWF_OK;
    if (!json_is_string(body))
        return gwf_config_errorf(cfg->instance, "body",
                                 "expected a string, found %s",
                                 gwf_json_kind(body));
    if (json_string_length(body) > DR_BODY_MAX)
        return gwf_config_errorf(cfg->instance, "body",
                                 "expected at most %d bytes, found %zu",
                                 DR_BODY_MAX, json_string_length(body));
    cfg->body = json_view(body);
    return GWF_OK;
}

/* Describe the first byte of `text` that `valid` rejects, as in
 * "found ' ' at offset 1". Control bytes are shown in hex, so nothing odd
 * reaches a log or a terminal. */
static void
describe_bad_byte(char *out, size_t size, gwf_view text,
                  int (*valid)(const char *, size_t))
{
    for (size_t i = 0; i < text.len; i++) {
        unsigned char c = (unsigned char)text.ptr[i];
        if (valid(text.ptr + i, 1))
            continue;
        if (c > 0x20 && c < 0x7f)
            snprintf(out, size, "'%c' at offset %zu", c, i);
        else
            snprintf(out, size, "byte 0x%02x at offset %zu", c, i);
        return;
    }
    snprintf(out, size, "an empty string");
}

/* Why a header may not be configured, or NULL. The hop-by-hop headers
 * are the SDK's list (gwf_is_hop_by_hop_header, the one every plugin and
 * the host agree on: Trailer included, a local reply has no trailers to
 * announce); content-length follows from the body and content-type has a
 * field of its own. */
static const char *
refused_header_reason(gwf_view name)
{
    if (gwf_is_hop_by_hop_header(name.ptr, name.len))
        return "a hop-by-hop header belongs to the connection, "
               "not the reply";
    if (gwf_view_ieq(name, "content-length"))
        return "the data plane computes it from body";
    if (gwf_view_ieq(name, "content-type"))
        return "set contentType instead";
    return NULL;
}

/* Check one header and append it to cfg->headers. `name_field` and
 * `value_field` are the paths errors name: "headers[2].name" and
 * "headers[2].value" in the list form, "headers.x-foo" for both in the
 * map form. */
static gwf_status
parse_header(dr_config *cfg, const char *name_field, const char *value_field,
             gwf_view name, const json_t *value)
{
    const char *reason;
    char bad[48];

    if (!gwf_is_header_name(name.ptr, name.len)) {
        describe_bad_byte(bad, sizeof(bad), name, gwf_is_header_name);
        return gwf_config_errorf(cfg->instance, name_field,
                                 "expected a header name (letters, digits "
                                 "and !#$%%&'*+-.^_`|~), found %s",
                                 bad);
    }
    reason = refused_header_reason(name);
    if (reason)
        return gwf_config_errorf(cfg->instance, name_field,
                                 "expected a header a reply may carry, "
                                 "found \"%.*s\": %s",
                                 (int)name.len, name.ptr, reason);
    if (!json_is_string(value))
        return gwf_config_errorf(cfg->instance, value_field,
                                 "expected a string (quote numbers in YAML), "
                                 "found %s",
                                 gwf_json_kind(value));
    if (!gwf_is_header_value(json_string_value(value),
                             json_string_length(value))) {
        describe_bad_byte(bad, sizeof(bad), json_view(value),
                          gwf_is_header_value);
        return gwf_config_errorf(cfg->instance, value_field,
                                 "expected a header value without control "
                                 "characters (HTAB is allowed), found %s",
                                 bad);
    }
    cfg->headers[cfg->header_count].name = name;
    cfg->headers[cfg->header_count].value = json_view(value);
    cfg->header_count++;
    return GWF_OK;
}

/* One entry of the list form: {name: ..., value: ...}, nothing else. */
static gwf_status
parse_header_item(dr_config *cfg, size_t index, json_t *item)
{
    char field[32], name_field[48], value_field[48], unknown_field[96];
    const json_t *name, *value, *member;
    const char *key;

    snprintf(field, sizeof(field), "headers[%zu]", index);
    snprintf(name_field, sizeof(name_field), "%s.name", field);
    snprintf(value_field, sizeof(value_field), "%s.value", field);
    if (!json_is_object(item))
        return gwf_config_errorf(cfg->instance, field,
                                 "expected an object {name, value}, "
                                 "found %s",
                                 gwf_json_kind(item));
    json_object_foreach(item, key, member) {
        if (strcmp(key, "name") == 0 || strcmp(key, "value") == 0)
            continue;
        snprintf(unknown_field, sizeof(unknown_field), "%s.%s", field, key);
        return gwf_config_errorf(cfg->instance, unknown_field,
                                 "unknown field; expected name and value");
    }
    name = json_object_get(item, "name");
    value = json_object_get(item, "value");
    if (!name)
        return gwf_config_errorf(cfg->instance, name_field,
                                 "is required: expected a header name");
    if (!json_is_string(name))
        return gwf_config_errorf(cfg->instance, name_field,
                                 "expected a header name (a string), "
                                 "found %s",
                                 gwf_json_kind(name));
    if (!value)
        return gwf_config_errorf(cfg->instance, value_field,
                                 "is required: expected a string");
    return parse_header(cfg, name_field, value_field, json_view(name), value);
}

static gwf_status
parse_headers(dr_config *cfg, json_t *headers)
{
    gwf_status st = GWF_OK;
    size_t count = 0;

    if (json_is_array(headers))
        count = json_array_size(headers);
    else if (json_is_object(headers))
        count = json_object_size(headers);
    else if (headers)
        return gwf_config_errorf(cfg->instance, "headers",
                                 "expected a list of {name, value} or a map "
                                 "of name to value, found %s",
                                 gwf_json_kind(headers));

    /* One slot more, for the content-type the reply may need. */
    cfg->headers = calloc(count + 1, sizeof(*cfg->headers));
    if (!cfg->headers)
        return gwf_config_errorf(cfg->instance, "headers", "out of memory");

    if (json_is_array(headers)) {
        json_t *item;
        size_t i;
        json_array_foreach(headers, i, item) {
            if (parse_header_item(cfg, i, item) != GWF_OK)
                st = GWF_ERR_BAD_ARGUMENT;
        }
    } else if (headers) {
        /* The map form. jansson keeps each key alive as long as the
         * object, which our document holds until config_destroy, and
         * refuses NUL in keys, so a key is a plain C string. */
        char field[96];
        const char *key;
        json_t *value;
        json_object_foreach(headers, key, value) {
            snprintf(field, sizeof(field), "headers.%s", key);
            if (parse_header(cfg, field, field, gwf_cstr(key), value) != GWF_OK)
                st = GWF_ERR_BAD_ARGUMENT;
        }
    }
    return st;
}

static gwf_status
parse_content_type(dr_config *cfg, const json_t *content_type)
{
    gwf_view type;
    char bad[48];

    if (!content_type) {
        /* Only a body needs a type; the default is plain text. */
        if (cfg->body.len > 0)
            cfg->content_type = gwf_cstr(DR_DEFAULT_CONTENT_TYPE);
        return GWF_OK;
    }
    if (!json_is_string(content_type))
        return gwf_config_errorf(cfg->instance, "contentType",
                                 "expected a media type string, found %s",
                                 gwf_json_kind(content_type));
    type = json_view(content_type);
    if (type.len == 0 || !gwf_is_header_value(type.ptr, type.len)) {
        describe_bad_byte(bad, sizeof(bad), type, gwf_is_header_value);
        return gwf_config_errorf(cfg->instance, "contentType",
                                 "expected a media type such as "
                                 "\"application/json\", found %s",
                                 bad);
    }
    cfg->content_type = type;
    return GWF_OK;
}

/* Refuse what we do not know: a misspelt "stauts" must not silently
 * fall back to a default. */
static gwf_status
parse_unknown_fields(dr_config *cfg, json_t *spec)
{
    static const char *const known[] = {"status", "body", "headers",
                                        "contentType"};
    const size_t known_count = sizeof(known) / sizeof(known[0]);
    gwf_status st = GWF_OK;
    const char *key;
    json_t *value;

    json_object_foreach(spec, key, value) {
        size_t i = 0;
        while (i < known_count && strcmp(key, known[i]) != 0)
            i++;
        if (i == known_count)
            st = gwf_config_errorf(cfg->instance, key,
                                   "unknown field; expected status, body, "
                                   "headers or contentType");
    }
    return st;
}

/* Parse the DirectResponse `spec` (JSON text, lent to us only for the
 * duration of config_create) into cfg, which keeps the document. */
static gwf_status
parse_spec(dr_config *cfg, gwf_view json)
{
    json_error_t err;
    int failed = 0;

    /* JSON_ALLOW_NUL: let a "\u0000" reach our own checks, which say
     * which field holds it, instead of failing the whole parse. */
    cfg->doc = json_loadb(json.ptr, json.len,
                          JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
    if (!cfg->doc)
        return gwf_config_errorf(cfg->instance, NULL,
                                 "expected a JSON object, found invalid "
                                 "JSON: %s (line %d, column %d)",
                                 err.text, err.line, err.column);
    if (!json_is_object(cfg->doc))
        return gwf_config_errorf(cfg->instance, NULL,
                                 "expected an object, found %s",
                                 gwf_json_kind(cfg->doc));

    failed |= parse_unknown_fields(cfg, cfg->doc) != GWF_OK;
    failed |= parse_status(cfg, json_object_get(cfg->doc, "status")) != GWF_OK;
    failed |= parse_body(cfg, json_object_get(cfg->doc, "body")) != GWF_OK;
    failed |=
        parse_headers(cfg, json_object_get(cfg->doc, "headers")) != GWF_OK;
    /* After body: the default type depends on it. */
    failed |= parse_content_type(
                  cfg, json_object_get(cfg->doc, "contentType")) != GWF_OK;
    if (failed)
        return GWF_ERR_BAD_ARGUMENT;
    if (cfg->content_type.len > 0) {
        gwf_header *h = &cfg->headers[cfg->header_count++];
        h->name = gwf_cstr("content-type");
        h->value = cfg->content_type;
    }
    return GWF_OK;
}

/* ------------------------------------------------------------------------
 * Hooks
 * --------------------------------------------------------------------- */

static void dr_config_destroy(void *config);

/* [main] Called once per DirectResponse document, before any worker
 * exists. Everything that can be checked is checked here, so a typo
 * fails `gwf validate` / `nginx -t` instead of the first request. */
static gwf_status
dr_config_create(const gwf_config_init *init, void **config)
{
    static const char *const labels[] = {"status"};
    dr_config *cfg;
    gwf_status st;

    cfg = calloc(1, sizeof(*cfg));
    if (!cfg)
        return GWF_ERR_NO_MEMORY;
    /* The instance handle lives until config_destroy: keep it. */
    cfg->instance = init->instance;

    if (parse_spec(cfg, init->config_json) != GWF_OK) {
        dr_config_destroy(cfg);
        return GWF_ERR_BAD_ARGUMENT;
    }

    /* Metrics are defined now, on the main thread, and only recorded on
     * workers. A host that cannot define it still serves the replies:
     * observability must never take traffic down. */
    st = init->instance->host->metric_define(
        init->instance, GWF_METRIC_COUNTER, "direct_response_replies_total",
        "Local replies sent by direct_response, by status.", labels, 1, NULL, 0,
        &cfg->replies_metric);
    if (st == GWF_OK)
        cfg->has_metric = 1;
    else
        gwf_logf(init->instance, GWF_LOG_WARN,
                 "metric direct_response_replies_total not defined "
                 "(status %d); replies are not counted",
                 (int)st);

    *config = cfg;
    return GWF_OK;
}

/* [main] After every worker stopped: nothing can point into cfg now. */
static void
dr_config_destroy(void *config)
{
    dr_config *cfg = config;

    if (!cfg)
        return;
    free(cfg->headers);
    json_decref(cfg->doc);
    free(cfg);
}

/* [worker] The only stream hook. Without stream_create, `stream_ctx` is
 * our config (read-only here: other workers use it at the same time).
 *
 * send_local_reply copies the headers and body, answers the client, and
 * makes `s` dead: every later call with it returns GWF_ERR_STREAM_GONE.
 * So the metric is recorded through the instance, not the stream, and
 * the hook returns GWF_PAUSE, which tells the host "this stream is taken
 * care of" (after a reply the value is ignored anyway). */
static gwf_action
dr_request_headers(gwf_stream *s, void *stream_ctx, int32_t end_of_stream)
{
    const dr_config *cfg = stream_ctx;
    const gwf_host *host = s->host;
    gwf_view status_label = gwf_cstr(cfg->status_label);
    gwf_status st;

    (void)end_of_stream; /* a request body, if any, is not needed */

    st =
        host->send_local_reply(s, cfg->status, cfg->headers, cfg->header_count,
                               cfg->body.ptr, cfg->body.len, "direct_response");
    if (st != GWF_OK) {
        /* The stream is still ours: say why, and let the chain go on. */
        gwf_stream_logf(s, GWF_LOG_ERROR,
                        "local reply %" PRIu32 " failed (status %d)",
                        cfg->status, (int)st);
        return GWF_CONTINUE;
    }
    if (cfg->has_metric)
        host->metric_add(cfg->instance, cfg->replies_metric, &status_label, 1,
                         1);
    return GWF_PAUSE;
}

/* The one exported symbol. Only the hooks this plugin needs are set; the
 * host treats the others as "continue". */
GWF_PLUGIN_ENTRY = {
    .size = sizeof(gwf_plugin),
    .abi_major = GWF_ABI_VERSION_MAJOR,
    .abi_minor = GWF_ABI_VERSION_MINOR,
    .name = "direct_response",
    .version = "0.1.0",
    .description = "Answer the request with a fixed status, headers and "
                   "body (kgateway DirectResponse)",
    .config_create = dr_config_create,
    .config_destroy = dr_config_destroy,
    .request_headers = dr_request_headers,
};
