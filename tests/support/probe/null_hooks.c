/*
 * null_hooks.c - a plugin that leaves every optional slot NULL.
 *
 * abi.h says a NULL stream hook means GWF_CONTINUE and that even
 * config_create may be absent. Put between two probes, this plugin lets
 * the conformance suite check that a host walks past such a plugin in
 * every phase without calling through a NULL pointer or stalling the
 * chain.
 */
#include <gwf/abi.h>

GWF_PLUGIN_ENTRY = {
    .size = sizeof(gwf_plugin),
    .abi_major = GWF_ABI_VERSION_MAJOR,
    .abi_minor = GWF_ABI_VERSION_MINOR,
    .name = "null_hooks",
    .version = "0.1.0",
    .description = "Test plugin with no hooks at all",
};
