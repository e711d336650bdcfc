/*
 * build.h - what the translator's files share while building a model.
 *
 * Private to host/gateway (and its white-box tests). gw_model_build
 * (build.c) collects the documents by kind into a gw_build, then calls the
 * readers in dependency order: classes and gateways (read_gateway.c),
 * reference grants (read_refgrant.c), routes (read_httproute.c,
 * read_grpcroute.c, which resolve their backends through read_backend.c),
 * attachment of routes to listeners (attach.c), precedence (precedence.c).
 *
 * Document fields are read through gw_rd (util.c): each accessor checks
 * the field's type and the API's limits and, when they are violated, adds
 * one error line naming the file, line, document and field, and counts
 * it; a reader that ends with rd.errors > 0 drops its document.
 */
#ifndef GWF_GATEWAY_BUILD_H
#define GWF_GATEWAY_BUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "translate.h"

#define GW_GROUP "gateway.networking.k8s.io"
#define GW_KGATEWAY_GROUP "gateway.kgateway.dev"
#define GW_PATH_MAX 256 /* field paths in messages */

/* -- Documents by kind -------------------------------------------------- */

typedef struct gw_docs {
    const gwf_doc **items;
    size_t count;
} gw_docs;

/* allowedRoutes.namespaces.from */
typedef enum gw_from { GW_FROM_SAME, GW_FROM_ALL, GW_FROM_SELECTOR } gw_from;

/* What attachment needs to know of a listener beyond gw_listener. */
typedef struct gw_listener_ctx {
    size_t gateway; /* into model->gateways */
    size_t index;   /* into its listeners */
    bool accepting; /* Accepted and not Conflicted: routes attach */
    bool usable;    /* accepting and able to serve (Programmed) */
    gw_from from;
    const gwf_node *selector; /* GW_FROM_SELECTOR: the LabelSelector */
    bool allow_http, allow_grpc;
    gw_tls_cert *cert; /* HTTPS: resolved certificate, or NULL */
    /* Routes attached so far (attach.c), to keep HTTPRoutes and
     * GRPCRoutes from sharing a hostname. Not owned. */
    const struct gw_route **attached;
    size_t attached_count;
} gw_listener_ctx;

/* A parsed ReferenceGrant: from[] and to[] entries. */
typedef struct gw_grant_peer {
    const char *group, *kind, *namespace_, *name; /* name NULL: any */
} gw_grant_peer;

typedef struct gw_grant {
    const gwf_doc *doc;
    gw_grant_peer *from, *to;
    size_t from_count, to_count;
} gw_grant;

/* A route read but not yet attached. */
struct gw_route;
typedef struct gw_route {
    const gwf_doc *doc;
    bool grpc;
    char **hostnames;
    size_t hostname_count;
    gw_rule **rules;
    size_t rule_count;
    /* ResolvedRefs: the first backend problem (reason NULL: none). */
    const char *refs_reason;
    char *refs_message;
    /* PartiallyInvalid: a rule answers 500 for an unsupported value. */
    const char *invalid_reason;
    char *invalid_message;
    bool attached;   /* served on at least one (Programmed) listener */
    int64_t created; /* creationTimestamp, INT64_MAX when absent */
    /* Status for each parent HTTPRoute that delegates to this route
     * (delegation.c); attach.c moves them into the route's status. */
    gw_route_parent *delegated_parents;
    size_t delegated_parent_count;
} gw_route;

typedef struct gw_build {
    const gwf_manifests *m;
    const char *const *classes;
    bool plain_port_one_protocol; /* gw_build_options */
    size_t class_count;
    gwf_diag *errors, *notes;
    int error_count;
    bool oom;
    gw_model *model;

    gw_docs gateway_classes, gateways, httproutes, grpcroutes, grants,
        namespaces, services, slices, secrets, backends;

    gw_listener_ctx *listeners; /* of every served gateway */
    size_t listener_count;
    gw_grant *grant_list;
    size_t grant_count;
    gw_route *routes;
    size_t route_count;
    /* (port, hostname) -> vhost, so that attaching is linear in the
     * hostnames (attach.c) */
    struct gw_vhost_slot *vhost_slots;
    size_t vhost_slot_cap, vhost_slot_count;
} gw_build;

/* -- Memory (util.c) ---------------------------------------------------- */

/* Appends one zeroed element of `size` bytes to *arr (which holds *count
 * elements; capacity is implied: powers of two). Returns the new
 * element, or NULL on OOM (b->oom set, *arr unchanged). */
void *gw_push(gw_build *b, void *arr, size_t *count, size_t size);
char *gw_strdup(gw_build *b, const char *s); /* NULL stays NULL */
char *gw_printf(gw_build *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* -- Reading fields (util.c) -------------------------------------------- */

typedef struct gw_rd {
    gw_build *b;
    const gwf_doc *doc;
    int errors;
} gw_rd;

void gw_rd_init(gw_rd *r, gw_build *b, const gwf_doc *doc);
void gw_rd_error(gw_rd *r, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Writes "parent.key" / "parent[i]" into buf (GW_PATH_MAX bytes). */
const char *gw_path(char *buf, const char *parent, const char *key);
const char *gw_path_i(char *buf, const char *parent, size_t i);

/* map[key] when it is a mapping; NULL when absent or null; an error and
 * NULL when it is something else, or absent and `required`. */
const gwf_node *gw_rd_map(gw_rd *r, const gwf_node *map, const char *key,
                          const char *path, bool required);
/* map[key] when it is a list of at most `max` items (same rules). */
const gwf_node *gw_rd_seq(gw_rd *r, const gwf_node *map, const char *key,
                          const char *path, bool required, size_t max);
/* map[key] when it is a string without NUL bytes, of at most `max_len`
 * bytes (0: no limit beyond the parser's). */
const char *gw_rd_str(gw_rd *r, const gwf_node *map, const char *key,
                      const char *path, bool required, size_t max_len);
/* One of `allowed` (NULL-terminated); an error names them. Absent:
 * `dflt`. */
const char *gw_rd_enum(gw_rd *r, const gwf_node *map, const char *key,
                       const char *path, const char *const *allowed,
                       const char *dflt);
/* An integer in [min, max]. Returns true when present and valid. */
bool gw_rd_int(gw_rd *r, const gwf_node *map, const char *key, const char *path,
               bool required, int64_t min, int64_t max, int64_t *out);
/* A Gateway API Duration ("1h30m", "500ms"): milliseconds. */
bool gw_rd_duration(gw_rd *r, const gwf_node *map, const char *key,
                    const char *path, uint64_t *out_ms);

/* An error when `re` is not a valid PCRE2 expression (the data plane
 * compiles the same text with PCRE2). */
void gw_rd_regex(gw_rd *r, const char *re, const char *path);

/* -- Small pure helpers (util.c) ---------------------------------------- */

/* Gateway API Duration: ^([0-9]{1,5}(h|m|s|ms)){1,4}$. 0 ok, -1 not. */
int gw_parse_duration(const char *s, uint64_t *out_ms);
/* RFC 3339 "2024-01-02T03:04:05Z" (fraction and offset allowed): Unix
 * seconds. 0 ok, -1 malformed. */
int gw_parse_timestamp(const char *s, int64_t *out);
/* Standard base64 (padding optional, whitespace skipped): a malloc'd,
 * NUL-terminated buffer, or NULL when malformed / OOM. */
char *gw_base64_decode(const char *s, size_t len, size_t *out_len);
/* "<prefix>_<part>_<part>..." with every byte outside [a-z0-9] as '_'
 * (uppercase folded); longer than GW_ID_MAX, its first GW_ID_MAX - 17
 * bytes and "_<16 hex digits of a hash of the whole>". The emitter takes
 * ids of up to 200 bytes (after unique_ids' "_<n>"). */
#define GW_ID_MAX 160
char *gw_ident(gw_build *b, const char *prefix, const char *a, const char *c,
               const char *d);
bool gw_streq(const char *a, const char *b); /* NULL-safe */
/* An IPv4 or IPv6 literal, or a DNS name (any case, no wildcard). */
bool gw_valid_address(const char *s);
/* Whether s holds a control byte other than tab (never valid in a header
 * value or a path). */
bool gw_has_control(const char *s);
/* An HTTP header name (RFC 7230 token), as the API's HTTPHeaderName. */
bool gw_valid_header_name(const char *name);
/* A Gateway API Hostname: DNS labels, optionally after "*.". */
bool gw_valid_hostname(const char *h);
/* A string member of a map, or NULL (no error reporting). */
const char *gw_node_string(const gwf_node *map, const char *key);
/* Every label of `want` (a policy's matchLabels) is on d with that
 * value; an empty selector selects nothing. */
bool gw_labels_match(const gwf_doc *d, const gwf_node *want);

/* -- Documents ---------------------------------------------------------- */

/* The document of `kind` named ns/name among `docs`, or NULL. */
const gwf_doc *gw_find(const gw_docs *docs, const char *ns, const char *name);
/* Labels of namespace `ns` (its Namespace document's, plus
 * kubernetes.io/metadata.name as Kubernetes adds it) match the
 * LabelSelector `sel` (matchLabels, matchExpressions). */
bool gw_namespace_selected(gw_build *b, const char *ns, const gwf_node *sel);

/* -- Conditions (status.c) ---------------------------------------------- */

/* Appends a condition (message printf-formatted and owned). */
void gw_cond_add(gw_build *b, gw_conditions *c, const char *type, bool status,
                 const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
void gw_conditions_free(gw_conditions *c);

/* -- Readers ------------------------------------------------------------ */

void gw_read_gateways(gw_build *b); /* read_gateway.c */
void gw_read_grants(gw_build *b);   /* read_refgrant.c */
/* HTTPListenerPolicy and ListenerPolicy: their access logs into the
 * model (read_listener_policies.c); the rules such a policy with a field
 * gwf cannot honour reaches, and those a BackendConfigPolicy reaches,
 * answer 500; each gets its Accepted / Attached status
 * (read_policies.c). After the routes are read, before they attach. */
void gw_fail_closed_policies(gw_build *b);
/* read_listener_policies.c: reads one HTTPListenerPolicy or
 * ListenerPolicy: its accessLog fileSinks on the listeners it targets
 * go into b->model->access_logs. Returns NULL when gwf honours all of it,
 * else why not, naming the field (malloc'd, the caller frees); then
 * nothing is added. *reached gets the number of listeners it targets. */
char *gw_read_listener_policy(gw_build *b, const gwf_doc *d, size_t *reached);
void gw_access_logs_free(gw_model *m);
/* TrafficPolicies: attachment (targetRefs, targetSelectors, ExtensionRef)
 * and kgateway's merging into each entry's gw_policy_set, and their
 * status (attach_policies.c); after the routes attach. */
void gw_attach_policies(gw_build *b);
/* read_route_policy.c: every TrafficPolicy's nginx fields into
 * model->route_policies (before gw_attach_policies); the parsed policy of
 * document d (NULL: none); whether d's spec sets field f. */
void gw_read_route_policies(gw_build *b);
const gw_route_policy *gw_route_policy_of(const gw_model *m, const gwf_doc *d);
bool gw_route_policy_sets(const gwf_doc *d, gw_route_field f);
void gw_route_policies_free(gw_model *m);
void gw_policy_sets_free(gw_model *m);
void gw_read_backends(gw_build *b);   /* read_backend.c: checks docs */
void gw_backends_free(gw_model *m);   /* read_backend.c */
void gw_read_httproutes(gw_build *b); /* read_httproute.c */
void gw_read_grpcroutes(gw_build *b); /* read_grpcroute.c */
void gw_attach_routes(gw_build *b);   /* attach.c */
/* delegation.c: replaces every HTTPRoute rule whose backendRefs name
 * HTTPRoutes by its children's rules (after the routes are read, before
 * they attach); frees gw_model.delegating_rules; moves a route's
 * delegated_parents into its status (attach.c); frees them. */
void gw_resolve_delegation(gw_build *b);
void gw_delegation_free(gw_model *m);
void gw_take_delegated_parents(gw_build *b, gw_route *rt, gw_route_status *st);
void gw_route_parents_free(gw_route_parent *p, size_t n);
/* read_httproute.c: one HTTPRoute rule (spec.rules[index] at rn) of
 * route rt; used again by delegation.c to copy a child's rule. */
gw_rule *gw_read_http_rule(gw_rd *r, const gwf_node *rn, size_t index,
                           gw_route *rt, int64_t created);
void gw_sort_vhosts(gw_model *m); /* precedence.c */
/* precedence.c: compares "namespace/name" of two documents as one
 * string, as the spec's alphabetical tie-break does. */
int gw_compare_ns_name(const gwf_doc *a, const gwf_doc *b);
/* precedence.c: <0 when a goes before b in a virtual host. */
int gw_entry_compare(const gw_entry *a, const gw_entry *b);
void gw_sort_vhost(gw_vhost *v);

/* read_refgrant.c: whether a reference from a `from_kind` in from_ns to
 * to_group/to_kind to_ns/to_name is allowed (same namespace always is). */
bool gw_ref_permitted(const gw_build *b, const char *from_kind,
                      const char *from_ns, const char *to_group,
                      const char *to_kind, const char *to_ns,
                      const char *to_name);
/* The same for a referrer of another API group (a kgateway TrafficPolicy:
 * GW_KGATEWAY_GROUP). */
bool gw_ref_permitted_from(const gw_build *b, const char *from_group,
                           const char *from_kind, const char *from_ns,
                           const char *to_group, const char *to_kind,
                           const char *to_ns, const char *to_name);

/* read_backend.c: resolves the backendRef `ref` (a BackendObjectReference
 * at `path`) of `route`. Returns the shared backend, or NULL with
 * *reason set to the ResolvedRefs reason ("BackendNotFound",
 * "RefNotPermitted", "InvalidKind") and *message (owned by caller) when
 * it does not resolve. A malformed ref is an error in r (returns NULL,
 * *reason NULL). */
gw_backend *gw_resolve_backend(gw_rd *r, const gwf_node *ref, const char *path,
                               bool grpc, const char **reason, char **message);

/* read_httproute.c, shared with read_grpcroute.c. */
void gw_route_free(gw_route *rt);
void gw_rule_free(gw_rule *rule);
void gw_filters_free(gw_filters *f);
/* Reads spec.parentRefs and spec.hostnames checks (types only) and the
 * metadata (creationTimestamp). */
bool gw_read_route_common(gw_rd *r, gw_route *rt, int64_t *created);
/* Reads a header modifier (RequestHeaderModifier, ...) into ops. */
void gw_read_header_filter(gw_rd *r, const gwf_node *hf, const char *path,
                           gw_header_op **ops, size_t *count);
/* Reads an ExtensionRef into f; false when it names no document (the
 * route is then PartiallyInvalid and the rule must answer 500). */
bool gw_read_extension_ref(gw_rd *r, const gwf_node *ext, const char *path,
                           gw_filters *f, gw_route *rt);
/* parent.filters into f (grpc: GRPCRoute's filter types); sets
 * *unsupported when the rule must answer 500. */
void gw_read_filters(gw_rd *r, const gwf_node *parent, const char *path,
                     bool grpc, gw_filters *f, gw_route *rt, bool *unsupported);
/* rule.backendRefs at path (with their weights and filters). */
void gw_read_backend_refs(gw_rd *r, const gwf_node *rn, const char *path,
                          gw_rule *rule, gw_route *rt, bool *unsupported);
/* rule.timeouts and rule.retry (HTTPRoute only). */
void gw_read_timeouts_retry(gw_rd *r, const gwf_node *rn, const char *path,
                            gw_rule *rule);
/* Reads one route document into b->routes (or reports why not). */
void gw_read_route(gw_build *b, const gwf_doc *d, bool grpc);
/* A new rule for spec.rules[index] with its id and name; writes its
 * field path into path (GW_PATH_MAX bytes). */
gw_rule *gw_rule_new(gw_rd *r, const gwf_node *rn, size_t index,
                     int64_t created, bool grpc, char *path);
/* read_grpcroute.c: one GRPCRoute rule. */
gw_rule *gw_read_grpc_rule(gw_rd *r, const gwf_node *rn, size_t index,
                           gw_route *rt, int64_t created);
/* Sets rule->fixed_status from its backends, redirect and extensions. */
void gw_rule_settle(gw_rule *rule, bool unsupported);
/* Reads the rule's `matches` (at `path`) into rule->matches, read_one
 * for each; no matches is one PathPrefix "/" match. *list (if not NULL)
 * gets the list node (NULL when absent). false on OOM. */
bool gw_read_matches(gw_rd *r, const gwf_node *rn, const char *path,
                     gw_rule *rule,
                     void (*read_one)(gw_rd *r, const gwf_node *mn,
                                      const char *path, gw_match *m),
                     const gwf_node **list);
/* Records a ResolvedRefs problem on the route (the first one wins). */
void gw_route_ref_problem(gw_build *b, gw_route *rt, const char *reason,
                          char *message);
void gw_route_unsupported(gw_build *b, gw_route *rt, char *message);

/* attach.c: the hostname both accept ("*.example.com" vs
 * "foo.example.com" gives "foo.example.com"), as a pointer to one of
 * the two; NULL when they do not intersect. NULL listener: the route's
 * hostname. */
const char *gw_hostname_intersect(const char *listener, const char *route);

#endif
