/*
 * abi_major_99.c - a plugin built for an ABI major this host cannot
 * speak. The loader must refuse it, naming the file and both versions.
 * Every other field is valid so that the version is the only fault.
 */
#include <gwf/abi.h>

GWF_PLUGIN_ENTRY = {
    .size = sizeof(gwf_plugin),
    .abi_major = 99,
    .abi_minor = 7,
    .name = "abi_major_99",
    .version = "0.1.0",
    .description = "Test plugin with an unknown ABI major",
};
