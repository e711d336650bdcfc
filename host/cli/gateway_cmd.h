/*
 * gateway_cmd.h - `gwf gateway render|status|run`, shared by the files
 * that implement them.
 *
 * gateway_cmd.c parses the options and does render and status (one
 * pass: load the manifests, build the model, write it out);
 * gateway_run.c is the controller loop of `run`, which repeats that pass
 * whenever an input changes and keeps a running nginx in step.
 */
#ifndef GWF_CLI_GATEWAY_CMD_H
#define GWF_CLI_GATEWAY_CMD_H

#include <stdbool.h>
#include <stddef.h>

#define GATEWAY_MAX_INPUTS 64
#define GATEWAY_MAX_CLASSES 16

typedef struct gateway_args {
    const char *inputs[GATEWAY_MAX_INPUTS]; /* -f, in order */
    size_t input_count;
    const char *classes[GATEWAY_MAX_CLASSES]; /* --gateway-class */
    size_t class_count;
    const char *output;      /* -o: DIR (render, run) or yaml|json */
    const char *address;     /* --address */
    const char *plugin_path; /* --plugin-path: where the plugins are */
    const char *module;      /* --module: the gwf nginx module */
    const char *nginx;       /* --nginx (run) */
    bool http_include;       /* --http-include */
} gateway_args;

/* Adds the Accepted condition of every kgateway Backend,
 * GatewayExtension, TrafficPolicy and DirectResponse of m to the model's
 * statuses, as the data plane's runtime judges them, and fails closed
 * (500) every entry whose plugin chain the runtime would refuse
 * (gateway_kgateway.c). Returns 0, -1 on OOM. */
struct gw_model;
struct gwf_manifests;
int gateway_kgateway_judge(const gateway_args *a, const struct gwf_manifests *m,
                           struct gw_model *model);

/* `gwf gateway ...`: argv[0] is "gateway". Returns the exit status: 0
 * done, 1 bad input or nginx refused, 2 usage. */
int gateway_main(int argc, char **argv);

/* One render pass into `conf_path` (written atomically) with TLS files
 * under `tls_dir` (NULL: prefix/tls), pid/logs/temp paths under the
 * absolute `prefix`. Prints errors to stderr. Returns 0 when the file
 * was written, and then, if `summary` is not NULL, sets it to the
 * one-line-per-Gateway summary (malloc'd, the caller frees it); returns
 * 1 otherwise. */
int gateway_render_once(const gateway_args *a, const char *prefix,
                        const char *tls_dir, const char *conf_path,
                        char **summary);

/* Writes `len` bytes of `text` to `path` through a temporary file in the
 * same directory and rename(2), so a reader sees the old or the new
 * content, never a mix. Returns 0 or -1 (errno set). */
int gateway_write_atomic(const char *path, const char *text, size_t len);

/* Creates `path` and its missing parents with `mode`; 0 or -1. */
int gateway_mkdirs(const char *path, unsigned mode);

/* `gwf gateway run` (gateway_run.c). */
int gateway_run(const gateway_args *a);

#endif
