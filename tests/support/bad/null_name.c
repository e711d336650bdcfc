/*
 * null_name.c - an entry of the right size and version whose name is
 * NULL. The loader must refuse it, naming the file, instead of crashing
 * when it prints or compares the plugin name.
 */
#include <gwf/abi.h>

GWF_PLUGIN_ENTRY = {
    .size = sizeof(gwf_plugin),
    .abi_major = GWF_ABI_VERSION_MAJOR,
    .abi_minor = GWF_ABI_VERSION_MINOR,
    .name = NULL,
    .version = "0.1.0",
};
