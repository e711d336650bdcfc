/*
 * abi_minor_newer.c - a plugin built for a newer minor of ABI 0 than this
 * host implements. While the major is 0 a minor may add what a plugin
 * relies on, so the loader must refuse it, naming the file and both
 * versions. Every other field is valid so that the version is the only
 * fault.
 */
#include <gwf/abi.h>

GWF_PLUGIN_ENTRY = {
    .size = sizeof(gwf_plugin),
    .abi_major = GWF_ABI_VERSION_MAJOR,
    .abi_minor = GWF_ABI_VERSION_MINOR + 1,
    .name = "abi_minor_newer",
    .version = "0.1.0",
    .description = "Test plugin built for a newer ABI minor",
};
