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
 * their stream_ctx. The config is read with the SDK's readers
 * (gwf/sdk_config.h, which uses jansson: link it too), so mistakes read
 * as they do in every gwf plugin. See docs/plugin-guide.md in the gwf
 * sources.
 */
#include <gwf/sdk_config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Copy the string member `name` of `obj` into *out after checking it:
 * the SDK's reader (gwf/sdk_config.h) checks the type and reports
 * mistakes with the field's path in the words every gwf plugin uses; the
 * header syntax is ours to check, reported through the same gwf_cfg.
 * `is_name` selects header-name or header-value syntax. */
static void
copy_field(gwf_cfg *c, const json_t *obj, const char *name, unsigned flags,
           int is_name, char **out)
{
    const char *s = NULL;

    if (gwf_cfg_string(c, "", obj, name, flags, &s) != GWF_OK || !s)
        return;
    if (is_name && !gwf_is_header_name(s, strlen(s))) {
        gwf_cfg_fail(c, name,
                     "expected a header name (letters, digits and "
                     "!#$%%&'*+-.^_`|~), found \"%s\"",
                     s);
        return;
    }
    if (!is_name && !gwf_is_header_value(s, strlen(s))) {
        gwf_cfg_fail(c, name,
                     "expected a header value without control characters "
                     "(HTAB is allowed)");
        return;
    }
    *out = strdup(s);
    if (!*out)
        gwf_cfg_no_memory(c, name);
}

/* [main] Parse {"header", "value", "countHeader"}. The JSON text is only
 * lent for this call, so we keep copies. One gwf_cfg collects every
 * mistake; its status (GWF_ERR_BAD_ARGUMENT, or GWF_ERR_NO_MEMORY) is
 * what we return. */
static gwf_status
hello_config_create(const gwf_config_init *init, void **config)
{
    static const char *const known[] = {"header", "value", "countHeader", NULL};
    hello_config *cfg;
    json_error_t err;
    json_t *doc;
    gwf_cfg c;
    gwf_status st;

    gwf_cfg_init(&c, init->instance);
    doc = json_loadb(init->config_json.ptr, init->config_json.len, 0, &err);
    if (gwf_cfg_check_object(&c, "", doc, "a JSON object", GWF_CFG_REQUIRED) !=
        GWF_OK) {
        json_decref(doc);
        return gwf_cfg_status(&c);
    }
    cfg = calloc(1, sizeof(*cfg));
    if (!cfg) {
        json_decref(doc);
        return GWF_ERR_NO_MEMORY;
    }
    gwf_cfg_known(&c, "", doc, known);
    copy_field(&c, doc, "header", GWF_CFG_REQUIRED, 1, &cfg->header);
    copy_field(&c, doc, "value", GWF_CFG_REQUIRED, 0, &cfg->value);
    copy_field(&c, doc, "countHeader", 0, 1, &cfg->count_header);
    json_decref(doc);
    st = gwf_cfg_status(&c);
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
