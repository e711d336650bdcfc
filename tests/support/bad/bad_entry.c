/*
 * bad_entry.c - an entry whose `size` is smaller than the fields every
 * version of the ABI has (size, versions, name). The loader must refuse
 * it rather than read past what the plugin says it holds.
 */
#include <gwf/abi.h>

GWF_PLUGIN_ENTRY = {
    .size = 4,
    .abi_major = GWF_ABI_VERSION_MAJOR,
    .abi_minor = GWF_ABI_VERSION_MINOR,
    .name = "bad_entry",
    .version = "0.1.0",
};
