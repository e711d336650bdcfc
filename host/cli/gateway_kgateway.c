/*
 * gateway_kgateway.c - the status of kgateway's own objects in
 * `gwf gateway status`.
 *
 * kgateway reports a Backend or a GatewayExtension Accepted when it
 * translates, Invalid when it does not. In gwf the question is whether
 * the data plane's runtime takes it: its shape, its references and, for a
 * GatewayExtension, the plugin that implements it found (--plugin-path),
 * loaded and configured. So the status asks the runtime exactly what
 * `gwf validate` and nginx's `gwf_manifests` would, and each document's
 * errors become its Accepted condition (False, reason Invalid, the errors
 * as the message). TrafficPolicy and DirectResponse report per route they
 * attach to (ancestors), which is the attachment's business (issue 13).
 */
#include "gateway_cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gwf/runtime.h>

#include "translate.h"

static void
quiet(void *ctx, gwf_log_level level, const char *instance, const char *msg,
      size_t len)
{
    (void)ctx, (void)level, (void)instance, (void)msg, (void)len;
}

static bool
reported(const char *kind)
{
    return strcmp(kind, "Backend") == 0 ||
           strcmp(kind, "GatewayExtension") == 0;
}

/* The errors of `e` about doc ("FILE:LINE: Kind ns/name: rest"), their
 * `rest` parts joined with "; ", or NULL when there are none. */
static char *
errors_of(const gwf_errors *e, const gwf_doc *doc)
{
    char label[600];
    snprintf(label, sizeof label, ": %s %s/%s: ", doc->kind, doc->namespace_,
             doc->name);
    char *out = NULL;
    size_t len = 0;
    for (size_t i = 0; i < e->count; i++) {
        const char *at = e->lines[i] ? strstr(e->lines[i], label) : NULL;
        if (!at)
            continue;
        at += strlen(label);
        size_t add = strlen(at) + (len ? 2 : 0);
        char *grown = realloc(out, len + add + 1);
        if (!grown)
            break;
        out = grown;
        snprintf(out + len, add + 1, "%s%s", len ? "; " : "", at);
        len += add;
    }
    return out;
}

int
gateway_kgateway_status(const gateway_args *a, const gwf_manifests *m,
                        gw_model *model)
{
    gwf_runtime_options o = {.plugin_path = a->plugin_path, .log = quiet};
    gwf_runtime *rt = gwf_runtime_new(&o);
    if (!rt)
        return -1;
    gwf_errors e = {0};
    bool loaded = true;
    for (size_t i = 0; i < a->input_count; i++)
        loaded = gwf_runtime_load(rt, a->inputs[i], &e) == 0 && loaded;
    if (loaded)
        gwf_runtime_validate(rt, &e);
    int status = 0;
    for (size_t i = 0; i < gwf_manifests_count(m) && status == 0; i++) {
        const gwf_doc *doc = gwf_manifests_at(m, i);
        if (!doc->kind || !doc->name || !reported(doc->kind))
            continue;
        char *problems = errors_of(&e, doc);
        status = gw_model_object_condition(
            model, doc, "Accepted", problems == NULL,
            problems ? "Invalid" : "Accepted",
            problems ? problems : "accepted by the data plane");
        free(problems);
    }
    gwf_errors_free(&e);
    gwf_runtime_free(rt);
    return status;
}
