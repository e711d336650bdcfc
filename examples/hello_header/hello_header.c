/*
 * hello_header.c - a third-party gwf plugin, built out of tree against the
 * installed SDK (pkg-config gwf-sdk).
 *
 * It does two small things on every request that passes through it:
 *   - adds a configured header to the response ("x-hello: world");
 *   - optionally tells the upstream how many header lines the client
 *     sent, in a request header of the configured name.
 *
 * Config (the `spec.plugin.config` of a GatewayExtension):
 *   {"header": "x-hello", "value": "world", "countHeader": "x-header-count"}
 *
 * The shape is the one every plugin has: config_create parses and
 * validates once on the main thread and builds a read-only struct that
 * all workers share; the stream hooks only read it. No per-stream state
 * is needed, so stream_create is NULL and the hooks receive the config as
 * their stream_ctx. See docs/plugin-guide.md in the gwf sources.
 */
#include <gwf/sdk.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct hello_config {
    char *header;       /* response header name, NUL-terminated copy */
    char *value;        /* its value */
    char *count_header; /* request header for the count, or NULL */
} hello_config;

static void
hello_config_destroy(void *config)
{
    hello_config *cfg = config;

    if (!cfg)
        return;
    free(cfg->header);
    free(cfg->value);
    free(cfg->count_header);
    free(cfg);
}

/* Copy the string member `field` of `obj` into *out after checking it.
 * Returns GWF_OK, or reports the error and returns GWF_ERR_BAD_ARGUMENT.
 * `is_name` selects header-name or header-value syntax. */
static gwf_status
copy_field(gwf_instance *inst, json_t *obj, const char *field, int required,
           int is_name, char **out)
{
    json_t *v = json_object_get(obj, field);
    const char *s;
    size_t len;

    if (!v) {
        if (required)
            return gwf_config_errorf(inst, field, "is required: expected %s",
                                     is_name ? "a header name" : "a string");
        return GWF_OK;
    }
    if (!json_is_string(v))
        return gwf_config_errorf(inst, field, "expected a string");
    s = json_string_value(v);
    len = json_string_length(v);
    if (is_name ? !gwf_is_header_name(s, len) : !gwf_is_header_value(s, len))
        return gwf_config_errorf(inst, field, "expected a valid header %s",
                                 is_name ? "name" : "value");
    *out = strdup(s);
    return *out ? GWF_OK : GWF_ERR_NO_MEMORY;
}

/* [main] Parse {"header", "value", "countHeader"}. The JSON text is only
 * lent for this call, so we keep copies. */
static gwf_status
hello_config_create(const gwf_config_init *init, void **config)
{
    gwf_instance *inst = init->instance;
    hello_config *cfg;
    json_error_t err;
    const char *key;
    json_t *doc, *v;
    gwf_status st = GWF_OK;

    doc = json_loadb(init->config_json.ptr, init->config_json.len, 0, &err);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return gwf_config_errorf(inst, NULL, "expected a JSON object");
    }
    cfg = calloc(1, sizeof(*cfg));
    if (!cfg) {
        json_decref(doc);
        return GWF_ERR_NO_MEMORY;
    }
    json_object_foreach(doc, key, v) {
        if (strcmp(key, "header") && strcmp(key, "value") &&
            strcmp(key, "countHeader"))
            st = gwf_config_errorf(inst, key,
                                   "unknown field; expected "
                                   "header, value or countHeader");
    }
    if (copy_field(inst, doc, "header", 1, 1, &cfg->header) != GWF_OK)
        st = GWF_ERR_BAD_ARGUMENT;
    if (copy_field(inst, doc, "value", 1, 0, &cfg->value) != GWF_OK)
        st = GWF_ERR_BAD_ARGUMENT;
    if (copy_field(inst, doc, "countHeader", 0, 1, &cfg->count_header) !=
        GWF_OK)
        st = GWF_ERR_BAD_ARGUMENT;
    json_decref(doc);
    if (st != GWF_OK) {
        hello_config_destroy(cfg);
        return st;
    }
    *config = cfg;
    return GWF_OK;
}

/* [worker] Request headers are writable here, before the request is
 * forwarded. header_count does not count pseudo-headers (:method, ...). */
static gwf_action
hello_request_headers(gwf_stream *s, void *stream_ctx, int32_t end_of_stream)
{
    const hello_config *cfg = stream_ctx;
    char count[24];

    (void)end_of_stream;
    if (cfg->count_header) {
        snprintf(count, sizeof(count), "%zu",
                 s->host->header_count(s, GWF_REQUEST));
        if (gwf_header_set(s, GWF_REQUEST, cfg->count_header, count) != GWF_OK)
            gwf_stream_logf(s, GWF_LOG_WARN, "could not set %s",
                            cfg->count_header);
    }
    return GWF_CONTINUE;
}

/* [worker] Runs on the upstream's response, and on a local reply sent by
 * a plugin later in the chain. */
static gwf_action
hello_response_headers(gwf_stream *s, void *stream_ctx, int32_t end_of_stream)
{
    const hello_config *cfg = stream_ctx;

    (void)end_of_stream;
    if (gwf_header_set(s, GWF_RESPONSE, cfg->header, cfg->value) != GWF_OK)
        gwf_stream_logf(s, GWF_LOG_WARN, "could not set %s", cfg->header);
    return GWF_CONTINUE;
}

GWF_PLUGIN_ENTRY = {
    .size = sizeof(gwf_plugin),
    .abi_major = GWF_ABI_VERSION_MAJOR,
    .abi_minor = GWF_ABI_VERSION_MINOR,
    .name = "hello_header",
    .version = "0.1.0",
    .description = "Adds a configured response header and counts the "
                   "request's headers",
    .config_create = hello_config_create,
    .config_destroy = hello_config_destroy,
    .request_headers = hello_request_headers,
    .response_headers = hello_response_headers,
};
