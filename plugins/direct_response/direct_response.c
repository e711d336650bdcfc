/*
 * direct_response.c - answer a route with a fixed response (kgateway's
 * DirectResponse): the upstream never sees the request. The body is
 * fixed (`body`) or an Envoy format string rendered for each request
 * (`bodyFormat`, with the SDK's engine, gwf/sdk_format.h).
 *
 * This is also the reference plugin: the smallest complete use of the ABI,
 * meant to be copied. It shows the three things nearly every plugin does:
 *
 *   1. config_create [main]: parse and validate the operator's JSON once
 *      with the SDK's config readers (gwf/sdk_config.h), which report
 *      every mistake with its field path in the words all plugins share,
 *      and build an immutable struct that all workers share without locks;
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
 * so the views stay valid for the whole life of the config. A bodyFormat
 * is compiled into a gwf_format we own (freed there too); its rendering
 * is a per-request buffer, freed once the host copied the reply. Whatever
 * we pass to the host (the reply, log lines, metric labels) the host
 * copies before the call returns.
 */
#include <gwf/sdk_format.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DR_STATUS_MIN 200
#define DR_STATUS_MAX 599
#define DR_BODY_MAX 4096
#define DR_DEFAULT_CONTENT_TYPE "text/plain; charset=utf-8"
/* What kgateway's Envoy sends with a bodyFormat reply, for both forms
 * (kgateway's e2e tests assert it; see bodyFormat.contentType below). */
#define DR_FORMAT_CONTENT_TYPE "text/plain"

/* Built once by config_create, then read-only: workers share it. */
typedef struct dr_config {
    gwf_instance *instance; /* for metrics: valid until config_destroy */
    json_t *doc;            /* owns every string the views point into */

    uint32_t status;
    char status_label[4]; /* "404": the metric's label value */
    gwf_view body;        /* ptr NULL when there is no body */
    gwf_view content_type;
    gwf_format *body_format; /* bodyFormat, rendered per request; or NULL */

    gwf_header *headers; /* the reply's headers, content-type last */
    size_t header_count;

    int has_metric;
    uint32_t replies_metric;
    /* The series of this instance's status, resolved once where the
     * host can (ABI 0.3 metric_series); 0: count by label values. */
    uint64_t replies_series;
    /* The reply prepared once by the host (ABI 0.4 reply_prepare), when
     * it is the same for every request (no bodyFormat); 0: sent with
     * send_local_reply. */
    uint64_t prepared;
} dr_config;

/* ------------------------------------------------------------------------
 * Config parsing
 *
 * gwf/sdk_config.h reads every field: it checks the JSON type and the
 * range, reports a mistake with the field's path in the words every
 * plugin uses, and leaves our default alone. What only this plugin knows
 * (header syntax, which headers a reply may carry, the body's size) is
 * checked here and reported through the same gwf_cfg with gwf_cfg_fail.
 * Each parse_* function reads one field and goes on after a mistake, so
 * an operator sees every mistake in one `gwf validate` run rather than
 * one per attempt; gwf_cfg_status says at the end how it went.
 * --------------------------------------------------------------------- */

static void
parse_status(dr_config *cfg, gwf_cfg *c)
{
    int64_t status;

    if (gwf_cfg_int(c, "", cfg->doc, "status", GWF_CFG_REQUIRED, DR_STATUS_MIN,
                    DR_STATUS_MAX, &status) != GWF_OK)
        return;
    cfg->status = (uint32_t)status;
    snprintf(cfg->status_label, sizeof(cfg->status_label), "%" PRIu32,
             cfg->status);
}

static void
parse_body(dr_config *cfg, gwf_cfg *c)
{
    const char *body = NULL;
    size_t len;

    if (gwf_cfg_string(c, "", cfg->doc, "body", 0, &body) != GWF_OK || !body)
        return;
    len = strlen(body); /* the reader refuses NUL bytes */
    if (len == 0) {
        gwf_cfg_fail(c, "body",
                     "expected 1 to %d bytes, found an empty string "
                     "(leave body out for no body)",
                     DR_BODY_MAX);
        return;
    }
    if (len > DR_BODY_MAX) {
        gwf_cfg_fail(c, "body", "expected at most %d bytes, found %zu",
                     DR_BODY_MAX, len);
        return;
    }
    cfg->body.ptr = body;
    cfg->body.len = len;
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
 * map form. `value` is NULL when the reader already refused it: the name
 * is still checked, so both mistakes are reported. */
static void
parse_header(dr_config *cfg, gwf_cfg *c, const char *name_field,
             const char *value_field, gwf_view name, const char *value)
{
    const char *reason;
    char bad[48];
    int ok = value != NULL;

    if (!gwf_is_header_name(name.ptr, name.len)) {
        describe_bad_byte(bad, sizeof(bad), name, gwf_is_header_name);
        gwf_cfg_fail(c, name_field,
                     "expected a header name (letters, digits and "
                     "!#$%%&'*+-.^_`|~), found %s",
                     bad);
        ok = 0;
    } else if ((reason = refused_header_reason(name)) != NULL) {
        gwf_cfg_fail(c, name_field,
                     "expected a header a reply may carry, found "
                     "\"%.*s\": %s",
                     (int)name.len, name.ptr, reason);
        ok = 0;
    }
    if (value && !gwf_is_header_value(value, strlen(value))) {
        describe_bad_byte(bad, sizeof(bad), gwf_cstr(value),
                          gwf_is_header_value);
        gwf_cfg_fail(c, value_field,
                     "expected a header value without control "
                     "characters (HTAB is allowed), found %s",
                     bad);
        ok = 0;
    }
    if (!ok)
        return;
    cfg->headers[cfg->header_count].name = name;
    cfg->headers[cfg->header_count].value = gwf_cstr(value);
    cfg->header_count++;
}

/* One entry of the list form: {name: ..., value: ...}, nothing else. */
static void
parse_header_item(dr_config *cfg, gwf_cfg *c, size_t index, const json_t *item)
{
    static const char *const known[] = {"name", "value", NULL};
    char field[GWF_CFG_PATH_MAX], name_field[GWF_CFG_PATH_MAX],
        value_field[GWF_CFG_PATH_MAX];
    const char *name = NULL, *value = NULL;

    gwf_cfg_item(field, "headers", index);
    if (gwf_cfg_check_object(c, field, item, "an object {name, value}",
                             GWF_CFG_REQUIRED) != GWF_OK)
        return;
    gwf_cfg_known(c, field, item, known);
    gwf_cfg_string(c, field, item, "name", GWF_CFG_REQUIRED, &name);
    gwf_cfg_string(c, field, item, "value", GWF_CFG_REQUIRED, &value);
    if (name)
        parse_header(cfg, c, gwf_cfg_member(name_field, field, "name"),
                     gwf_cfg_member(value_field, field, "value"),
                     gwf_cstr(name), value);
}

/* `headers` is a list of {name, value} (order and repeats kept) or a map
 * of name to value: no SDK reader takes either, so the shape is checked
 * here; each entry is read with the SDK's readers. */
static void
parse_headers(dr_config *cfg, gwf_cfg *c)
{
    const json_t *headers = json_object_get(cfg->doc, "headers");
    size_t count = 0;

    if (json_is_array(headers)) {
        count = json_array_size(headers);
    } else if (json_is_object(headers)) {
        count = json_object_size(headers);
    } else if (headers && !json_is_null(headers)) {
        gwf_cfg_fail(c, "headers",
                     "expected a list of {name, value} or a map of name "
                     "to value, found %s",
                     gwf_json_kind(headers));
        headers = NULL;
    }

    /* One slot more, for the content-type the reply may need. */
    cfg->headers = calloc(count + 1, sizeof(*cfg->headers));
    if (!cfg->headers) {
        gwf_cfg_no_memory(c, "headers");
        return;
    }

    if (json_is_array(headers)) {
        for (size_t i = 0; i < count; i++)
            parse_header_item(cfg, c, i, json_array_get(headers, i));
    } else if (json_is_object(headers)) {
        /* The map form. jansson keeps each key alive as long as the
         * object, which our document holds until config_destroy, and
         * refuses NUL in keys, so a key is a plain C string. */
        char field[GWF_CFG_PATH_MAX];
        const char *key;
        json_t *value;
        json_object_foreach((json_t *)headers, key, value)
        {
            const char *text = NULL;
            gwf_cfg_string(c, "headers", headers, key, GWF_CFG_REQUIRED, &text);
            gwf_cfg_member(field, "headers", key);
            parse_header(cfg, c, field, field, gwf_cstr(key), text);
        }
    }
}

/* kgateway's shared.BodyFormat: exactly one of `text` (1-4096 bytes)
 * and `json` (an object), each made of Envoy format strings (the SDK's
 * engine compiles them and reports their mistakes by byte), and
 * `contentType`.
 *
 * contentType: kgateway documents text/plain and application/json as
 * the defaults and lets this field override them, but says the setting
 * does not take effect yet (an Envoy bug), and its e2e tests assert
 * "text/plain" for the JSON form and for a contentType of text/html. gwf
 * does what kgateway does: the field is checked, a warning says it is
 * not applied, and the reply says text/plain. gwf's own `contentType`
 * (beside status) sets the header for operators who need it today. */
static void
parse_body_format(dr_config *cfg, gwf_cfg *c)
{
    static const char *const known[] = {"contentType", "text", "json", NULL};
    const json_t *spec = NULL, *json = NULL;
    const char *text = NULL, *type = NULL;

    if (gwf_cfg_object(c, "", cfg->doc, "bodyFormat", 0, &spec) != GWF_OK ||
        !spec)
        return;
    if (json_object_get(cfg->doc, "body") &&
        !json_is_null(json_object_get(cfg->doc, "body")))
        gwf_cfg_fail(c, "bodyFormat",
                     "expected at most one of body and bodyFormat, found "
                     "both");
    gwf_cfg_known(c, "bodyFormat", spec, known);
    json = json_object_get(spec, "json");
    if (json_is_null(json))
        json = NULL; /* as Kubernetes omits it */
    if (gwf_cfg_string(c, "bodyFormat", spec, "text", 0, &text) != GWF_OK)
        return;
    if ((text != NULL) == (json != NULL)) {
        gwf_cfg_fail(c, "bodyFormat",
                     "expected exactly one of text and json, found %s",
                     text ? "both" : "neither");
        return;
    }
    if (text) {
        size_t len = strlen(text);
        if (len == 0 || len > DR_BODY_MAX)
            gwf_cfg_fail(c, "bodyFormat.text",
                         "expected 1 to %d bytes, found %zu", DR_BODY_MAX, len);
        else
            gwf_format_compile(c, "bodyFormat", "text", text,
                               &cfg->body_format);
    } else {
        gwf_format_compile_json(c, "bodyFormat", "json", json,
                                &cfg->body_format);
    }
    if (gwf_cfg_string(c, "bodyFormat", spec, "contentType", 0, &type) ==
            GWF_OK &&
        type) {
        if (!type[0] || !gwf_is_header_value(type, strlen(type)))
            gwf_cfg_fail(c, "bodyFormat.contentType",
                         "expected a media type such as \"text/html\"");
        else
            gwf_logf(c->inst, GWF_LOG_WARN,
                     "bodyFormat.contentType \"%s\" is not applied, as in "
                     "kgateway (whose Envoy does not apply it yet): the "
                     "reply says %s; set spec.contentType to choose the "
                     "header",
                     type, DR_FORMAT_CONTENT_TYPE);
    }
}

static void
parse_content_type(dr_config *cfg, gwf_cfg *c)
{
    const char *type = NULL;
    char bad[48];

    if (gwf_cfg_string(c, "", cfg->doc, "contentType", 0, &type) != GWF_OK)
        return;
    if (!type) {
        /* Only a body needs a type; the default is plain text. */
        if (cfg->body_format)
            cfg->content_type = gwf_cstr(DR_FORMAT_CONTENT_TYPE);
        else if (cfg->body.len > 0)
            cfg->content_type = gwf_cstr(DR_DEFAULT_CONTENT_TYPE);
        return;
    }
    if (!type[0] || !gwf_is_header_value(type, strlen(type))) {
        describe_bad_byte(bad, sizeof(bad), gwf_cstr(type),
                          gwf_is_header_value);
        gwf_cfg_fail(c, "contentType",
                     "expected a media type such as \"application/json\", "
                     "found %s",
                     bad);
        return;
    }
    cfg->content_type = gwf_cstr(type);
}

/* Parse the DirectResponse `spec` (JSON text, lent to us only for the
 * duration of config_create) into cfg, which keeps the document. Every
 * mistake goes to `c`; returns gwf_cfg_status. */
static gwf_status
parse_spec(dr_config *cfg, gwf_cfg *c, gwf_view json)
{
    /* A misspelt "stauts" must not silently fall back to a default. */
    static const char *const known[] = {"status",  "body",        "bodyFormat",
                                        "headers", "contentType", NULL};
    json_error_t err;

    /* JSON_ALLOW_NUL: let a "\u0000" reach the readers, which say which
     * field holds it, instead of failing the whole parse. */
    cfg->doc = json_loadb(json.ptr, json.len,
                          JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
    if (!cfg->doc)
        return gwf_cfg_fail(c, "",
                            "expected a JSON object, found invalid JSON: %s "
                            "(line %d, column %d)",
                            err.text, err.line, err.column);
    if (gwf_cfg_check_object(c, "", cfg->doc, "an object", GWF_CFG_REQUIRED) !=
        GWF_OK)
        return gwf_cfg_status(c);

    gwf_cfg_known(c, "", cfg->doc, known);
    parse_status(cfg, c);
    parse_body(cfg, c);
    parse_body_format(cfg, c);
    parse_headers(cfg, c);
    parse_content_type(cfg, c); /* after the bodies: the default depends on
                                   them */
    if (gwf_cfg_status(c) != GWF_OK)
        return gwf_cfg_status(c);
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
    gwf_cfg c;
    gwf_status st;

    cfg = calloc(1, sizeof(*cfg));
    if (!cfg)
        return GWF_ERR_NO_MEMORY;
    /* The instance handle lives until config_destroy: keep it. */
    cfg->instance = init->instance;

    /* One gwf_cfg for the whole spec: it reports each mistake and
     * remembers the first failure (GWF_ERR_NO_MEMORY when memory ran
     * out, else GWF_ERR_BAD_ARGUMENT), which is what we return. */
    gwf_cfg_init(&c, init->instance);
    st = parse_spec(cfg, &c, init->config_json);
    if (st != GWF_OK) {
        dr_config_destroy(cfg);
        return st;
    }

    /* A fixed reply is checked and stored by the host once, and sent by
     * handle. A host without prepared replies (or one that cannot keep
     * it) gets send_local_reply on every request, as before. */
    const gwf_host *h = init->instance->host;
    if (!cfg->body_format && GWF_HAS_FIELD(h, gwf_host, send_prepared_reply) &&
        h->reply_prepare && h->send_prepared_reply &&
        h->reply_prepare(init->instance, cfg->status, cfg->headers,
                         cfg->header_count, cfg->body.ptr, cfg->body.len,
                         "direct_response", &cfg->prepared) != GWF_OK)
        cfg->prepared = 0;

    /* Metrics are defined now, on the main thread, and only recorded on
     * workers. A host that cannot define it still serves the replies:
     * observability must never take traffic down. */
    st = init->instance->host->metric_define(
        init->instance, GWF_METRIC_COUNTER, "direct_response_replies_total",
        "Local replies sent by direct_response, by status.", labels, 1, NULL, 0,
        &cfg->replies_metric);
    if (st == GWF_OK) {
        const gwf_host *host = init->instance->host;
        gwf_view status_label = gwf_cstr(cfg->status_label);
        cfg->has_metric = 1;
        if (GWF_HAS_FIELD(host, gwf_host, metric_series_set) &&
            host->metric_series && host->metric_series_add &&
            host->metric_series(init->instance, cfg->replies_metric,
                                &status_label, 1,
                                &cfg->replies_series) != GWF_OK)
            cfg->replies_series = 0;
    } else
        gwf_logf(init->instance, GWF_LOG_WARN,
                 "metric direct_response_replies_total not defined "
                 "(status %d); replies are not counted",
                 (int)st);
    /* Every request gets the prepared reply, counted (if at all) by one
     * series: the host may answer without calling us (ABI 0.5). */
    if (cfg->prepared && (cfg->replies_series || !cfg->has_metric) &&
        GWF_HAS_FIELD(h, gwf_host, reply_always) && h->reply_always)
        h->reply_always(init->instance, cfg->prepared, cfg->replies_series);

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
    gwf_format_free(cfg->body_format);
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
    gwf_view body = cfg->body;
    gwf_strbuf rendered = {0};
    gwf_status st;

    (void)end_of_stream; /* a request body, if any, is not needed */

    if (cfg->prepared) {
        st = host->send_prepared_reply(s, cfg->prepared);
        goto sent;
    }
    if (cfg->body_format) {
        /* %RESPONSE_CODE% is the status this reply is about to carry. */
        gwf_format_vars vars = {.response_code = cfg->status};
        st = gwf_format_render_vars(cfg->body_format, s, &vars, &rendered);
        if (st != GWF_OK) {
            /* Out of memory: the route still must not reach the
             * upstream. */
            gwf_strbuf_free(&rendered);
            gwf_stream_logf(s, GWF_LOG_ERROR,
                            "bodyFormat not rendered (status %d)", (int)st);
            host->send_local_reply(s, 500, NULL, 0, NULL, 0,
                                   "direct_response_format_failed");
            return GWF_PAUSE;
        }
        body.ptr = rendered.data;
        body.len = rendered.len;
    }
    st = host->send_local_reply(s, cfg->status, cfg->headers, cfg->header_count,
                                body.ptr, body.len, "direct_response");
    gwf_strbuf_free(&rendered); /* the host copied it */
sent:
    if (st != GWF_OK) {
        /* The stream is still ours: say why, and let the chain go on. */
        gwf_stream_logf(s, GWF_LOG_ERROR,
                        "local reply %" PRIu32 " failed (status %d)",
                        cfg->status, (int)st);
        return GWF_CONTINUE;
    }
    if (cfg->replies_series)
        host->metric_series_add(cfg->instance, cfg->replies_series, 1);
    else if (cfg->has_metric)
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
