/*
 * gwf/manifest.h - kgateway-style manifests: load, validate, plan.
 *
 * Operators describe plugin instances and their per-route use with
 * Kubernetes-style documents (see docs/manifests.md for every field):
 *
 *   GatewayExtension  one configured plugin instance (extAuth, rateLimit,
 *                     jwt, or a third-party plugin by name or path)
 *   TrafficPolicy     per-route plugins (cors, apiKeyAuth, basicAuth,
 *                     extAuth, jwtAuth, rbac, rateLimit.local /
 *                     rateLimit.global, csrf: gwf_policy_field)
 *   DirectResponse    a fixed reply
 *   Backend           static hosts, or an AWS Lambda target
 *   Secret            (v1) data referenced by plugins
 *
 * The life of a set of manifests:
 *
 *   gwf_manifests *m = gwf_manifests_new();
 *   gwf_manifests_load_path(m, "/etc/gwf/manifests", &diag);  (any number)
 *   gwf_manifests_validate(m, &diag);      shapes and references
 *   gwf_manifests_plan(m, &request, &plan, &diag);   one per route
 *   ...
 *   gwf_plan_free(&plan);
 *   gwf_manifests_free(m);
 *
 * Every error is one line in a gwf_diag, in the form
 *
 *   FILE:LINE: Kind namespace/name: field.path: message
 *
 * (parse errors: FILE:LINE:COL: message). Functions return the number of
 * errors they added; 0 means success. Nothing here prints, aborts or
 * keeps global state; a gwf_manifests is not thread-safe, but once
 * loaded and validated it may be read from several threads.
 */
#ifndef GWF_MANIFEST_H
#define GWF_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>

#include <gwf/diag.h>
#include <gwf/node.h>

#define GWF_API_VERSION_GATEWAY "gateway.kgateway.dev/v1alpha1"
#define GWF_API_VERSION_CORE "v1"

/* One document. Every pointer is owned by the gwf_manifests it came from
 * and lives until gwf_manifests_free. String fields are NULL when the
 * document does not carry them as strings (validation reports that). */
typedef struct gwf_doc {
    const char *kind; /* "GatewayExtension", "TrafficPolicy",
                         "DirectResponse", "Backend", "Secret" */
    const char *api_version;
    const char *name;       /* metadata.name */
    const char *namespace_; /* metadata.namespace, default "default" */
    const char *file;       /* as given to the loader */
    unsigned line;          /* line where the document starts */
    unsigned index;         /* 1-based position of the document in its
                               file; each item of a List counts as one */
    const gwf_node *root, *spec;
} gwf_doc;

typedef struct gwf_manifests gwf_manifests;

/* A new, empty set; NULL on OOM. Free with gwf_manifests_free. */
gwf_manifests *gwf_manifests_new(void);

/* Frees the set, its documents and every node. NULL is ignored. Plans
 * built from it must be freed first (they point into it). */
void gwf_manifests_free(gwf_manifests *m);

/* Loads `path`: a file, a directory (every *.yaml, *.yml and *.json file
 * directly inside, in byte order of their names; not recursive; names
 * starting with '.' are skipped), or a glob(3) pattern (each matching
 * file, sorted; directories that match are skipped). A file that fails
 * to parse contributes no document. Returns the number of errors added
 * to d (0 = ok). */
int gwf_manifests_load_path(gwf_manifests *m, const char *path, gwf_diag *d);

/* Loads `len` bytes of `data` (copied as needed, not retained) as if
 * read from a file called `name` (used in messages, to pick the format,
 * and as the base of relative plugin paths). Returns the number of
 * errors added to d. */
int gwf_manifests_load_buffer(gwf_manifests *m, const char *name,
                              const char *data, size_t len, gwf_diag *d);

/* Validates every document's shape and resolves every reference; may be
 * called again after more documents are loaded. Returns the number of
 * errors added to d. */
int gwf_manifests_validate(gwf_manifests *m, gwf_diag *d);

/* Makes the documents findable by reference (gwf_manifests_find, plans)
 * without checking them: for a data plane that is given a whole
 * directory of which it uses a part, and checks only that part (each
 * plan checks the documents it uses). gwf_manifests_validate does this
 * too. Returns the number of errors added (out of memory only). */
int gwf_manifests_index(gwf_manifests *m, gwf_diag *d);

/* The document of `kind` named by `ref`: "name" or "namespace/name"
 * (namespace defaults to "default"). NULL when there is none or `ref` is
 * malformed. If validation found duplicates, the first loaded wins. */
const gwf_doc *gwf_manifests_find(const gwf_manifests *m, const char *kind,
                                  const char *ref);

/* The endpoints of port `port` (spec.ports[].port, TCP) of the Service
 * document `svc`, as kube-proxy maps them from the EndpointSlices among
 * the manifests (labelled kubernetes.io/service-name; the slice port of
 * the Service port's name, or of its numeric targetPort when unnamed;
 * the ready endpoints, else the serving-and-terminating ones; each
 * endpoint's first address); an ExternalName Service: its DNS name on
 * `port`. fn(ctx, address, port) is called for each, in document order
 * (an address may repeat across slices); a nonzero return stops the walk
 * and is returned. Returns 0, or GWF_NO_SUCH_PORT when the Service has
 * no such port. No endpoint at all is 0 with no call. */
#define GWF_NO_SUCH_PORT (-1000)
typedef int (*gwf_endpoint_fn)(void *ctx, const char *address, int port);
int gwf_manifests_service_endpoints(const gwf_manifests *m, const gwf_doc *svc,
                                    int port, gwf_endpoint_fn fn, void *ctx);

/* Whether a reference from an object (from_group, from_kind, in
 * from_ns) to to_ns/to_name (to_group, to_kind) is allowed: always
 * within one namespace; across namespaces only when a ReferenceGrant of
 * to_ns allows it (Gateway API's rule; the core group is ""). */
bool gwf_manifests_ref_granted(const gwf_manifests *m, const char *from_group,
                               const char *from_kind, const char *from_ns,
                               const char *to_group, const char *to_kind,
                               const char *to_ns, const char *to_name);

/* Notes: one line per document skipped at load time, because gwf does
 * not read its kind ("FILE:LINE: document N: skipped kind "Deployment"
 * NAME (gwf does not read this kind)"). Not errors: a data plane logs
 * them at info level. Owned by m. */
const gwf_diag *gwf_manifests_notes(const gwf_manifests *m);

/* Documents in load order. */
size_t gwf_manifests_count(const gwf_manifests *m);
const gwf_doc *gwf_manifests_at(const gwf_manifests *m, size_t i);

/* Adds "FILE:LINE: Kind namespace/name: FIELD: message" to d. LINE is
 * the line of the deepest node that exists along FIELD (a path as for
 * gwf_node_find, from the document root); with FIELD NULL, the document
 * start line and no "FIELD: " part. A document without a name is
 * labelled "Kind (document N)"; without a kind, "document N". */
void gwf_doc_errorf(gwf_diag *d, const gwf_doc *doc, const char *field,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/*
 * Plans: the ordered plugin chain of one route.
 */

/* Every pointer that is not char * points into the gwf_manifests and
 * lives as long as it does; the char * fields are owned by the plan. */
typedef struct gwf_plan_entry {
    /* Plugin to load by name ("cors", "csrf", "jwt_auth", "basic_auth",
     * "api_key_auth", "ext_authz", "rate_limit", "direct_response",
     * "lambda_signer" or spec.plugin.name), or NULL when plugin_path is
     * set. */
    const char *plugin_name;
    /* spec.plugin.path made absolute against the directory of the
     * manifest file, or NULL. */
    char *plugin_path;
    /* The document whose node configures the plugin instance, the path
     * of that node in it ("spec.extAuth", "spec.rateLimit", "spec.jwt",
     * "spec.plugin.config", "spec" for a DirectResponse, "spec.aws" for a
     * Backend, "spec.rateLimit.local" for a TrafficPolicy's local bucket,
     * "spec.cors", "spec.csrf", "spec.basicAuth", "spec.apiKeyAuth" for
     * those TrafficPolicy fields) and its JSON text ("{}" when
     * spec.plugin.config is absent; {"local": <node>} for the local
     * bucket; for apiKeyAuth with secretSelector, the node plus
     * "gwfSelectedSecrets": the sorted names of the Secrets of the
     * policy's namespace whose labels match). */
    const gwf_doc *config_doc;
    const char *config_field;
    char *config_json;
    /* Per-route config: the TrafficPolicy, the path of its node
     * ("spec.jwtAuth", "spec.extAuth", "spec.rateLimit.global") and its
     * JSON text. All three are NULL together when the entry has no
     * per-route part (requested extensions, the local bucket, cors,
     * csrf, basicAuth, apiKeyAuth, which config_json configures wholly,
     * DirectResponse, Backend). */
    const gwf_doc *route_doc;
    const char *route_field;
    char *route_json;
} gwf_plan_entry;

typedef struct gwf_plan {
    gwf_plan_entry *entries;
    size_t count;
} gwf_plan;

/* The fields of a TrafficPolicy that become chain entries, in chain
 * order: Envoy's filter order as kgateway builds it. kgateway sorts its
 * filters by stage (CORS, AuthN, AuthZ, RateLimit, ..., Route) and,
 * within a stage, by filter name: so the AuthN stage runs api_key_auth,
 * basic_auth, ext_auth/..., jwt/... in that order, RBAC is the AuthZ
 * stage, and CSRF is in the Route stage, after the rate limits
 * (docs/manifests.md, "Chain order"). */
typedef enum gwf_policy_field {
    GWF_PF_CORS,              /* spec.cors */
    GWF_PF_API_KEY_AUTH,      /* spec.apiKeyAuth */
    GWF_PF_BASIC_AUTH,        /* spec.basicAuth */
    GWF_PF_EXT_AUTH,          /* spec.extAuth */
    GWF_PF_JWT_AUTH,          /* spec.jwtAuth */
    GWF_PF_RBAC,              /* spec.rbac */
    GWF_PF_RATE_LIMIT_LOCAL,  /* spec.rateLimit.local */
    GWF_PF_RATE_LIMIT_GLOBAL, /* spec.rateLimit.global */
    GWF_PF_CSRF,              /* spec.csrf */
    GWF_PF_COUNT
} gwf_policy_field;

/* "cors", "apiKeyAuth", "basicAuth", "extAuth", "jwtAuth", "rbac",
 * "rateLimit.local", "rateLimit.global", "csrf" (the path under spec);
 * NULL out of range. */
const char *gwf_policy_field_name(gwf_policy_field f);
/* The field named `name` (len bytes), or GWF_PF_COUNT when none. */
gwf_policy_field gwf_policy_field_parse(const char *name, size_t len);
/* The node of field f in a TrafficPolicy's spec, or NULL when the spec
 * does not set it. */
const gwf_node *gwf_policy_field_node(const gwf_node *spec, gwf_policy_field f);
/* Whether field f of `spec` is set only to switch it off: `disable`
 * (cors, basicAuth, apiKeyAuth, jwtAuth, extAuth) or a rateLimit.local
 * without tokenBucket. Such a field wins its field when merging and adds
 * no plugin. */
bool gwf_policy_field_off(const gwf_node *spec, gwf_policy_field f);

typedef struct gwf_plan_request {
    const char *policy; /* TrafficPolicy ref or NULL */
    /* Field by field (as kgateway merges the policies attached at
     * several levels): field f of the chain comes from the TrafficPolicy
     * field_policies[f] (a ref, or NULL: from `policy`, if given). A
     * field the named policy does not set adds nothing; a field it sets
     * with `disable` (cors, jwtAuth, basicAuth, apiKeyAuth, extAuth) or
     * without a tokenBucket (rateLimit.local) adds nothing either: that
     * is how a more specific policy switches off what a broader one set.
     * csrf has no `disable` in kgateway: a policy setting it always adds
     * a plugin. */
    const char *field_policies[GWF_PF_COUNT];
    const char *const *extensions; /* GatewayExtension refs of any type,
                                      spec.plugin included */
    size_t extension_count;
    const char *direct_response; /* DirectResponse ref or NULL */
    const char *backend;         /* Backend ref or NULL */
    /* A Gateway API HTTPRoute rule's CORS filter (HTTPCORSFilter): the
     * HTTPRoute ref and the path of the filter's cors node in it, of the
     * form "spec.rules[N].filters[M].cors" (the filter must be of type
     * CORS). Both or neither. It adds a cors plugin configured with that
     * node (one instance per route filter; its config_field points at
     * this string) in the cors place of the chain, and then no
     * TrafficPolicy's cors adds one: the rule's own filter is the most
     * specific, as Envoy's per-route CORS config is. */
    const char *route_filter_route;
    const char *route_filter_field;
} gwf_plan_request;

/* Builds the chain for one route, in Envoy's filter-stage order: cors
 * (the route filter's, else the policy's), apiKeyAuth, basicAuth,
 * extAuth, jwtAuth, rbac, rateLimit.local, rateLimit.global, csrf (from the
 * policy, or field by field from field_policies), the requested extensions in
 * the given order, the DirectResponse, the Backend (only an aws Backend adds an
 * entry, lambda_signer). A ref that does not resolve is an error such as
 * "TrafficPolicy default/foo not found". The documents involved are
 * checked again, so a plan is well-formed even without a prior
 * gwf_manifests_validate. On success returns 0 and fills *out (free it
 * with gwf_plan_free); on failure returns the number of errors added to
 * d and leaves *out empty. */
int gwf_manifests_plan(const gwf_manifests *m, const gwf_plan_request *req,
                       gwf_plan *out, gwf_diag *d);

/* Frees the entries and their strings and leaves *p empty. */
void gwf_plan_free(gwf_plan *p);

#endif
