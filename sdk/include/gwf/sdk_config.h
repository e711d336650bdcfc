/*
 * gwf/sdk_config.h - reading a plugin's config, one way for every plugin.
 *
 * A plugin's config arrives as JSON text (config_create's config_json,
 * route_config_create's route_json). Parse it with jansson, then read it
 * through a gwf_cfg: every mistake is reported through the host's
 * config_error with the path of the field it is about
 * ("providers[1].jwks.remote.url") and in the same words in every
 * plugin, and reading goes on after a mistake, so that one
 * `gwf validate` or `nginx -t` lists them all. At the end,
 * gwf_cfg_status says how it went:
 *
 *     gwf_cfg c;
 *     gwf_cfg_init(&c, init->instance);
 *     static const char *const known[] = {"url", "timeout", NULL};
 *     gwf_cfg_known(&c, "", root, known);
 *     gwf_cfg_string(&c, "", root, "url", GWF_CFG_REQUIRED, &cfg->url);
 *     cfg->timeout_ns = 200 * 1000000ull;          (the default)
 *     gwf_cfg_duration(&c, "", root, "timeout", 0, 1000000,
 *                      60 * 1000000000ull, &cfg->timeout_ns);
 *     if (gwf_cfg_status(&c) != GWF_OK) { free what was made; return it; }
 *
 * Conventions, for every function below [main]:
 *  - `path` is the path of `obj` in the config ("" for the top); a member
 *    `name` of it is reported as "<path>.<name>" (or "<name>").
 *  - An absent member is not a mistake unless the flags say
 *    GWF_CFG_REQUIRED: the function returns GWF_OK and leaves `*out`
 *    alone, so the caller sets the default first. JSON null counts as
 *    absent, as Kubernetes omits it.
 *  - A mistake is reported once, with the member's path, and the
 *    function returns GWF_ERR_BAD_ARGUMENT, `*out` untouched. Running
 *    out of memory is reported too ("out of memory") and returns
 *    GWF_ERR_NO_MEMORY. gwf_cfg_status returns the first non-OK status.
 *  - Strings returned as `const char *` point into the jansson document:
 *    valid while the caller keeps it.
 *
 * The messages (the same in every plugin; the docs quote them):
 *   expected <what>, found <kind>        a value of the wrong JSON type
 *   is required: expected <what>         a required member is absent
 *   unknown field; expected one of: a, b, c
 *   expected <what> from <min> to <max>, found <value>
 *   expected one of: A, B, found "<value>"
 *
 * This header includes <jansson.h>: a plugin that uses it links jansson,
 * as the first-party plugins do (the SDK library needs only jansson's
 * headers, so plugins that do not use it never pull jansson in).
 */
#ifndef GWF_SDK_CONFIG_H
#define GWF_SDK_CONFIG_H

#include <gwf/sdk.h>
#include <gwf/sdk_json.h>
#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The longest field path reported; longer ones are cut. */
#define GWF_CFG_PATH_MAX 256

enum {
    GWF_CFG_OPTIONAL = 0,
    GWF_CFG_REQUIRED = 1u, /* absent is a mistake */
    GWF_CFG_NONEMPTY = 2u  /* strings and lists: empty is a mistake */
};

typedef struct gwf_cfg {
    gwf_instance *inst;
    gwf_status status; /* the first failure, or GWF_OK */
    unsigned errors;   /* mistakes reported */
} gwf_cfg;

void gwf_cfg_init(gwf_cfg *c, gwf_instance *inst);
/* GWF_OK, or the first failure: GWF_ERR_BAD_ARGUMENT or
 * GWF_ERR_NO_MEMORY. */
gwf_status gwf_cfg_status(const gwf_cfg *c);

/* -- Paths ------------------------------------------------------------------
 */

/* "<path>.<name>", or "<name>" when path is empty, in `out`; returns out.
 * Cut to GWF_CFG_PATH_MAX - 1 bytes. */
const char *gwf_cfg_member(char out[GWF_CFG_PATH_MAX], const char *path,
                           const char *name);
/* "<path>[<index>]" in `out`; returns out. */
const char *gwf_cfg_item(char out[GWF_CFG_PATH_MAX], const char *path,
                         size_t index);

/* -- Reporting ------------------------------------------------------------ */

/* Report a mistake at `path` (printf-style message, without the path:
 * the host adds file, line and path). Returns GWF_ERR_BAD_ARGUMENT. */
gwf_status gwf_cfg_fail(gwf_cfg *c, const char *path, const char *fmt, ...)
    GWF_PRINTF(3, 4);
/* Report running out of memory while reading `path`. Returns
 * GWF_ERR_NO_MEMORY. */
gwf_status gwf_cfg_no_memory(gwf_cfg *c, const char *path);

/* -- Objects -----------------------------------------------------------------
 */

/* `v` (at `path`) must be an object: "expected an object, found ...".
 * `what` describes it ("an object", "{name, namespace}"). An absent `v`
 * with GWF_CFG_REQUIRED is "is required: expected <what>". */
gwf_status gwf_cfg_check_object(gwf_cfg *c, const char *path, const json_t *v,
                                const char *what, unsigned flags);
/* Every member of object `obj` not in `known` (NULL-terminated) is
 * reported: "unknown field; expected one of: a, b, c". A typo in a
 * security setting must not pass silently. */
gwf_status gwf_cfg_known(gwf_cfg *c, const char *path, const json_t *obj,
                         const char *const *known);

/* -- Typed members --------------------------------------------------------
 *
 * Each reads member `name` of object `obj` (at `path`). */

/* An object member; *out is borrowed from obj. */
gwf_status gwf_cfg_object(gwf_cfg *c, const char *path, const json_t *obj,
                          const char *name, unsigned flags, const json_t **out);
/* A list member with at most `max` items (0: no bound); *out borrowed. */
gwf_status gwf_cfg_list(gwf_cfg *c, const char *path, const json_t *obj,
                        const char *name, unsigned flags, size_t max,
                        const json_t **out);
/* A string without NUL bytes (GWF_CFG_NONEMPTY: and not ""). */
gwf_status gwf_cfg_string(gwf_cfg *c, const char *path, const json_t *obj,
                          const char *name, unsigned flags, const char **out);
/* true or false: *out is 1 or 0. */
gwf_status gwf_cfg_bool(gwf_cfg *c, const char *path, const json_t *obj,
                        const char *name, unsigned flags, int *out);
/* An integer from min to max (a number with a fraction is refused). */
gwf_status gwf_cfg_int(gwf_cfg *c, const char *path, const json_t *obj,
                       const char *name, unsigned flags, int64_t min,
                       int64_t max, int64_t *out);
/* A duration string as Kubernetes writes one ("10s", "1.5s", "250ms",
 * "1m30s"; gwf_parse_duration), from min_ns to max_ns, in nanoseconds. */
gwf_status gwf_cfg_duration(gwf_cfg *c, const char *path, const json_t *obj,
                            const char *name, unsigned flags, uint64_t min_ns,
                            uint64_t max_ns, uint64_t *out_ns);
/* One of `values` (NULL-terminated, compared exactly, as Kubernetes
 * enums are): *out is its index. */
gwf_status gwf_cfg_enum(gwf_cfg *c, const char *path, const json_t *obj,
                        const char *name, unsigned flags,
                        const char *const *values, int *out);

/* -- Documents the manifests define ---------------------------------------- */

/* The address a backendRef names: a Service's endpoint or a static
 * Backend's host. */
typedef struct gwf_cfg_backend {
    char ref[GWF_CFG_PATH_MAX]; /* "namespace/name" or "name", as written */
    char host[256];             /* a DNS name or an IPv4 / IPv6 literal */
    uint16_t port;
    json_t *spec; /* the Backend's spec (the caller decrefs it), or NULL */
} gwf_cfg_backend;

/* Member `name` of `obj` is a Gateway API BackendRef {name, namespace?,
 * port?, kind?, group?, weight?}:
 *   - kind "Service" (group "" or left out), or no kind: the Service's
 *     `port` (required) and its first endpoint as kube-proxy maps it
 *     from the EndpointSlices (host lookup_document "Service"); a Service
 *     port without a ready endpoint is a config error. With no kind and
 *     no Service of that name, a static Backend of the name is used
 *     (gwf's manifests before Services were read);
 *   - kind "Backend" (group gateway.kgateway.dev): a static Backend, its
 *     first host and port (the reference's port, when given, wins:
 *     kgateway's backendRef.port).
 * The port is 1-65535 either way. With `want_spec` a Backend's spec stays
 * in out->spec (for its tls, say); a Service has none (NULL). */
gwf_status gwf_cfg_backend_ref(gwf_cfg *c, const char *path, const json_t *obj,
                               const char *name, unsigned flags, int want_spec,
                               gwf_cfg_backend *out);

/* Member `name` of `obj` is a reference {name, namespace?} to a Secret;
 * its key `key` is read from stringData (as is) or else data (standard
 * base64), as Kubernetes merges them. The value must be non-empty and
 * hold no NUL byte. *out is malloc'd and NUL-terminated, *len its length;
 * free it with gwf_secret_free. Messages never include the value. */
gwf_status gwf_cfg_secret_ref(gwf_cfg *c, const char *path, const json_t *obj,
                              const char *name, unsigned flags, const char *key,
                              char **out, size_t *len);

/* Overwrite `len` bytes of `s` with zeros in a way the compiler keeps,
 * then free it. NULL is ignored. [any] */
void gwf_secret_free(char *s, size_t len);

/* -- Lists of strings ------------------------------------------------------
 */

/* A list member whose items are strings, at most `max` items (0: no
 * bound; `flags` as for gwf_cfg_list). Each item is checked as
 * gwf_cfg_string checks a member with `item_flags` (GWF_CFG_NONEMPTY: no
 * ""), and every bad item is reported at its own path ("audiences[2]").
 * On success *out is a malloc'd array of *count pointers into the
 * document, NULL-terminated (the caller frees the array, not the
 * strings); on a mistake *out and *count are untouched. */
gwf_status gwf_cfg_string_list(gwf_cfg *c, const char *path, const json_t *obj,
                               const char *name, unsigned flags,
                               unsigned item_flags, size_t max,
                               const char ***out, size_t *count);

/* -- Optional Secret keys --------------------------------------------------
 */

/* As gwf_cfg_secret_ref, for a key the Secret may leave out (an AWS
 * sessionToken, say): when the Secret is found and has no `key` in
 * stringData or data, that is not a mistake: GWF_OK, *out and *len
 * untouched (the reference's unknown fields are still reported). Any
 * other case, the key present included, is gwf_cfg_secret_ref's. */
gwf_status gwf_cfg_secret_optional_key(gwf_cfg *c, const char *path,
                                       const json_t *obj, const char *name,
                                       unsigned flags, const char *key,
                                       char **out, size_t *len);

/* -- Secret key selectors --------------------------------------------------
 */

/* As gwf_cfg_secret_ref, for a reference that may name the key itself,
 * as Kubernetes' SecretKeySelector does: {name, namespace?, key?}, the
 * key `default_key` when it names none. */
gwf_status gwf_cfg_secret_key_ref(gwf_cfg *c, const char *path,
                                  const json_t *obj, const char *name,
                                  unsigned flags, const char *default_key,
                                  char **out, size_t *len);

#ifdef __cplusplus
}
#endif

#endif /* GWF_SDK_CONFIG_H */
