/*
 * fuzz_gateway.c - libFuzzer harness for the Gateway API translator.
 *
 * Each input is read as an operator's manifest file (YAML, several
 * documents) and goes the whole way `gwf gateway render` and `status`
 * take it: the loader, the reader (gw_model_build, with and without the
 * plain-port rule), the status JSON, and the nginx emitter (full
 * nginx.conf and the --http-include form; TLS files go to a directory
 * made once per process). Nothing may crash, read out of bounds or leak,
 * whatever the documents say: hostnames, regexes, weights, ports,
 * timeouts, references and their cycles are all the input's.
 *
 * Built with clang -fsanitize=fuzzer for libFuzzer. With any other
 * compiler, link standalone_main.c for a main() that runs the inputs
 * named on the command line once each (regression replay).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gwf/diag.h>
#include <gwf/manifest.h>

#include "emit_nginx.h"
#include "translate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char out_dir[64];

static void
emit(const gw_model *model, bool http_include)
{
    gw_emit_options o = {.output_dir = out_dir,
                         .http_include = http_include,
                         .module_path = "/nonexistent/gwf.so"};
    gw_emit_out out = {0};
    gwf_diag errors;
    gwf_diag_init(&errors);
    gw_emit_nginx(model, &o, &out, &errors);
    gw_emit_out_free(&out);
    gwf_diag_free(&errors);
}

static void
translate(const gwf_manifests *m, bool one_protocol)
{
    gw_build_options o = {.plain_port_one_protocol = one_protocol};
    gw_model model;
    gwf_diag errors, notes;
    gwf_diag_init(&errors);
    gwf_diag_init(&notes);
    if (gw_model_build(m, &o, &model, &errors, &notes) >= 0) {
        free(gw_status_json(&model, 0, 1));
        emit(&model, false);
        emit(&model, true);
        gw_model_free(&model);
    }
    for (size_t i = 0; i < errors.count; i++)
        if (!gwf_diag_line(&errors, i))
            abort();
    gwf_diag_free(&errors);
    gwf_diag_free(&notes);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!out_dir[0]) {
        snprintf(out_dir, sizeof out_dir, "/tmp/gwf-fuzz-gateway-XXXXXX");
        if (!mkdtemp(out_dir))
            abort();
    }
    gwf_diag d;
    gwf_diag_init(&d);
    gwf_manifests *m = gwf_manifests_new();
    if (!m)
        return 0;
    gwf_manifests_load_buffer(m, "/fuzz/input.yaml", (const char *)data, size,
                              &d);
    gwf_manifests_validate(m, &d);
    translate(m, true);
    translate(m, false);
    gwf_manifests_free(m);
    gwf_diag_free(&d);
    return 0;
}
