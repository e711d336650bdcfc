/*
 * config_ctx.c - a plugin without stream_create, for the rule that its
 * stream hooks then receive the config pointer as their context.
 *
 * abi.h: "if stream_create is NULL the hooks receive init->route_config
 * if set, else init->config". request_headers and response_headers log
 * whether the context they got is the pointer config_create returned,
 * as "config_ctx <tag> <hook> ctx=config" (or ctx=other). Config:
 * {"tag": "N"}.
 */
#include <gwf/sdk.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

struct config_ctx {
    gwf_instance *inst;
    char tag[32];
};

static gwf_status
config_ctx_create(const gwf_config_init *init, void **config)
{
    struct config_ctx *cfg = calloc(1, sizeof(*cfg));
    if (!cfg)
        return GWF_ERR_NO_MEMORY;
    cfg->inst = init->instance;
    json_t *root =
        json_loadb(init->config_json.ptr, init->config_json.len, 0, NULL);
    const char *tag = json_string_value(json_object_get(root, "tag"));
    snprintf(cfg->tag, sizeof(cfg->tag), "%s", tag ? tag : "X");
    json_decref(root);
    *config = cfg;
    return GWF_OK;
}

static void
config_ctx_destroy(void *config)
{
    free(config);
}

static void
config_ctx_log(gwf_stream *s, void *ctx, const char *hook)
{
    struct config_ctx *cfg = ctx;
    /* Compare through the instance, which the host knows whatever ctx
     * it passed. */
    gwf_instance *inst = s->host->stream_instance(s);
    gwf_stream_logf(s, GWF_LOG_INFO, "config_ctx %s %s ctx=%s",
                    cfg ? cfg->tag : "?", hook,
                    cfg && cfg->inst == inst ? "config" : "other");
}

static gwf_action
config_ctx_request_headers(gwf_stream *s, void *ctx, int32_t eos)
{
    (void)eos;
    config_ctx_log(s, ctx, "request_headers");
    return GWF_CONTINUE;
}

static gwf_action
config_ctx_response_headers(gwf_stream *s, void *ctx, int32_t eos)
{
    (void)eos;
    config_ctx_log(s, ctx, "response_headers");
    return GWF_CONTINUE;
}

GWF_PLUGIN_ENTRY = {
    .size = sizeof(gwf_plugin),
    .abi_major = GWF_ABI_VERSION_MAJOR,
    .abi_minor = GWF_ABI_VERSION_MINOR,
    .name = "config_ctx",
    .version = "0.1.0",
    .description = "Test plugin whose hooks get the config as context",
    .config_create = config_ctx_create,
    .config_destroy = config_ctx_destroy,
    .request_headers = config_ctx_request_headers,
    .response_headers = config_ctx_response_headers,
};
