/*
 * jwt_standin.c - a test-only stand-in for the jwt_auth plugin, built as
 * "jwt_auth.so" in this test directory (searched first), so a
 * TrafficPolicy's jwtAuth runs it where the real one would run: before
 * the rate limiter. It verifies nothing: it leaves the shared values the
 * real plugin leaves for verified claims, "jwt_auth.claim.<name>", taken
 * from request headers "x-claim-<name>: <value>" (strings), plus the
 * typed ones named by its config: {"int_claims": {"name": 42},
 * "bool_claims": {"name": true}}.
 */
#include <gwf/sdk.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static gwf_status
standin_config_create(const gwf_config_init *init, void **config)
{
    json_t *doc =
        json_loadb(init->config_json.ptr, init->config_json.len, 0, NULL);
    if (!doc)
        return GWF_ERR_BAD_ARGUMENT;
    *config = doc;
    return GWF_OK;
}

static void
standin_config_destroy(void *config)
{
    json_decref(config);
}

static gwf_status
standin_route_config_create(void *config, gwf_instance *inst, gwf_view json,
                            void **route)
{
    (void)config;
    (void)inst;
    (void)json;
    *route = NULL;
    return GWF_OK;
}

static void
set_claim(gwf_stream *s, const char *name, size_t name_len, gwf_value_type type,
          const void *data, size_t len)
{
    char key[128];
    int n =
        snprintf(key, sizeof(key), "jwt_auth.claim.%.*s", (int)name_len, name);
    s->host->value_set(s, key, (size_t)n, type, data, len);
}

static gwf_action
standin_request_headers(gwf_stream *s, void *ctx, int32_t eos)
{
    json_t *cfg = ctx;
    const char *name;
    json_t *v;
    size_t count = s->host->header_count(s, GWF_REQUEST);

    (void)eos;
    for (size_t i = 0; i < count; i++) {
        gwf_view hn, hv;
        if (s->host->header_at(s, GWF_REQUEST, i, &hn, &hv) != GWF_OK ||
            hn.len <= 8 || strncasecmp(hn.ptr, "x-claim-", 8) != 0)
            continue;
        set_claim(s, hn.ptr + 8, hn.len - 8, GWF_VALUE_STRING, hv.ptr, hv.len);
    }
    json_object_foreach(json_object_get(cfg, "int_claims"), name, v)
    {
        int64_t n = json_integer_value(v);
        set_claim(s, name, strlen(name), GWF_VALUE_INT, &n, sizeof(n));
    }
    json_object_foreach(json_object_get(cfg, "bool_claims"), name, v)
    {
        char b = json_is_true(v) ? 1 : 0;
        set_claim(s, name, strlen(name), GWF_VALUE_BOOL, &b, 1);
    }
    return GWF_CONTINUE;
}

GWF_PLUGIN_ENTRY = {
    .size = sizeof(gwf_plugin),
    .abi_major = GWF_ABI_VERSION_MAJOR,
    .abi_minor = GWF_ABI_VERSION_MINOR,
    .name = "jwt_auth",
    .version = "0.0.0-test",
    .description = "Test stand-in for jwt_auth: claims from headers",
    .config_create = standin_config_create,
    .config_destroy = standin_config_destroy,
    .route_config_create = standin_route_config_create,
    .request_headers = standin_request_headers,
};
