/*
 * noop.c - a plugin whose hooks do nothing but continue: what the chain
 * benchmark measures the runtime's own cost with.
 */
#include <gwf/abi.h>

static gwf_action
pass(gwf_stream *s, void *ctx, int32_t end_of_stream)
{
    (void)s;
    (void)ctx;
    (void)end_of_stream;
    return GWF_CONTINUE;
}

GWF_PLUGIN_ENTRY = {
    .size = sizeof(gwf_plugin),
    .abi_major = GWF_ABI_VERSION_MAJOR,
    .abi_minor = GWF_ABI_VERSION_MINOR,
    .name = "noop",
    .version = "1.0.0",
    .description = "continues every hook (benchmarks)",
    .request_headers = pass,
    .response_headers = pass,
};
