/*
 * emit_nginx.h - write a gw_model out as nginx configuration.
 *
 * The second half of translation (model.h is the first): each gw_port
 * becomes one nginx `server` per virtual host, the (rule, match) entries
 * become `gwf_route` lines of the gwf module, each (rule, backendRef)
 * a named location carrying its filters as gwf_* directives and a
 * proxy_pass / grpc_pass to one `upstream` per gw_backend. The contract
 * with the module is its "Routes" section (host/nginx/README.md).
 *
 * Every value that came from a manifest is hostile: it is written as a
 * double-quoted nginx argument with '"' and '\\' escaped, and refused
 * when it holds a control byte (or, for names that nginx interprets,
 * such as server names and upstream hosts, any byte outside their
 * grammar). A refusal is an error naming the document and field; the
 * emitter then writes nothing, so a bad manifest can never inject a
 * directive into a running nginx.
 */
#ifndef GWF_GATEWAY_EMIT_NGINX_H
#define GWF_GATEWAY_EMIT_NGINX_H

#include <stdbool.h>
#include <stddef.h>

#include <gwf/diag.h>

#include "model.h"

typedef struct gw_emit_options {
    /* Address every listener binds (IPv4 or IPv6 literal); NULL: all. */
    const char *listen_address;
    /* Absolute directory of the nginx prefix: pid, logs and temp paths
     * of a full nginx.conf live there (logs/, tmp/ are created). */
    const char *output_dir;
    /* Absolute directory the TLS files are written to, as
     * <secret ns>_<name>.crt / .key, mode 0600 (created, 0700).
     * NULL: output_dir/tls. */
    const char *tls_dir;
    /* The gwf nginx module for load_module; NULL: no load_module (the
     * operator's nginx loads it). Full nginx.conf only. */
    const char *module_path;
    /* Absolute paths of the manifests (files, directories, globs) the
     * model was built from: the module loads them (gwf_manifests) when
     * a plugin needs a document itself, as lambda_signer does for a
     * Lambda Backend. */
    const char *const *manifest_paths;
    size_t manifest_path_count;
    /* Directories the module searches for plugins (gwf_plugin_path);
     * NULL: its default. */
    const char *plugin_path;
    /* true: only what goes inside an operator's own http {} block. */
    bool http_include;
    /* worker_processes of a full nginx.conf; 0: 1. */
    int worker_processes;
} gw_emit_options;

typedef struct gw_emit_out {
    char *config; /* the configuration text, NUL-terminated */
    size_t config_len;
    /* One line per Gateway, each ending in '\n':
     * "gateway ns/name: N listeners, N routes attached, N refused". */
    char *summary;
} gw_emit_out;

/* Writes the configuration of `m` into *out (which the caller frees
 * with gw_emit_out_free) and the TLS files of its HTTPS ports into the
 * TLS directory. On any error nothing is returned in *out, and each
 * error is a line in `errors` naming the document and field ("FILE:LINE:
 * HTTPRoute ns/name: spec.rules[0].retry.codes[1]: ..."). Returns the
 * number of errors added (0: success). */
int gw_emit_nginx(const gw_model *m, const gw_emit_options *o, gw_emit_out *out,
                  gwf_diag *errors);

/* Frees what gw_emit_nginx returned and empties *out. */
void gw_emit_out_free(gw_emit_out *out);

/* Writes s as one double-quoted nginx argument into a malloc'd string
 * the caller frees: '"' and '\\' are escaped. Returns NULL when s holds
 * a control byte (0x00-0x1f, 0x7f) or on OOM. Exposed for tests. */
char *gw_nginx_quote(const char *s);

#endif
