/*
 * config_rejects.c - a plugin whose config_create always refuses, with a
 * field path and a message, so that the loader tests can check the host
 * turns them into file:line and the document's field path.
 */
#include <gwf/abi.h>

#include <string.h>

#define REJECT_FIELD "limits.max"
#define REJECT_MESSAGE "must be at most 10"

static gwf_status
config_rejects_create(const gwf_config_init *init, void **config)
{
    gwf_instance *inst = init->instance;
    inst->host->config_error(inst, REJECT_FIELD, REJECT_MESSAGE,
                             strlen(REJECT_MESSAGE));
    *config = NULL;
    return GWF_ERR_BAD_ARGUMENT;
}

/* Must never run: config_create never succeeds. */
static void
config_rejects_destroy(void *config)
{
    (void)config;
    __builtin_trap();
}

GWF_PLUGIN_ENTRY = {
    .size = sizeof(gwf_plugin),
    .abi_major = GWF_ABI_VERSION_MAJOR,
    .abi_minor = GWF_ABI_VERSION_MINOR,
    .name = "config_rejects",
    .version = "0.1.0",
    .description = "Test plugin that rejects every config",
    .config_create = config_rejects_create,
    .config_destroy = config_rejects_destroy,
};
