/*
 * model.h - what a data plane must do, as the translator sees it.
 *
 * The translator reads Gateway API and kgateway documents (read_*.c) and
 * builds this model; emitters (emit_nginx.c) write it out for one data
 * plane; status.c reports each object's Gateway API status from it. The
 * model knows nothing of nginx: a later host reuses it unchanged.
 *
 *   gw_model
 *     gw_gateway[]            one per served Gateway (its class is ours)
 *       gw_listener[]         name, port, protocol, hostname, TLS
 *     gw_port[]               what one port serves, listeners merged
 *       gw_vhost[]            one per distinct hostname on that port
 *         gw_entry[]          (rule, match) pairs in precedence order
 *     gw_rule[]               an HTTPRoute or GRPCRoute rule, resolved
 *       gw_match[]            path / method / headers / query (or, for
 *                             gRPC, service / method / headers)
 *       gw_filters            header modifiers, redirect, rewrite,
 *                             mirrors, extension refs
 *       gw_backend_ref[]      weighted; each names a gw_backend and may
 *                             carry its own filters
 *     gw_backend[]            a resolved destination: endpoints (from a
 *                             Service's EndpointSlices, a Backend's
 *                             static hosts, an ExternalName's DNS name)
 *                             or an AWS Lambda Backend
 *
 * Ownership: a gw_model owns everything it points to, except `doc`
 * pointers, which point into the gwf_manifests the model was built from
 * (which must outlive it). Strings are NUL-terminated and never NULL
 * unless a comment says so. Arrays are {pointer, count}.
 */
#ifndef GWF_GATEWAY_MODEL_H
#define GWF_GATEWAY_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <gwf/manifest.h>

typedef struct gw_backend gw_backend;

/* -- Matches ------------------------------------------------------------ */

typedef enum gw_path_kind {
    GW_PATH_PREFIX, /* segment-wise prefix; "/" matches everything */
    GW_PATH_EXACT,
    GW_PATH_REGEX /* PCRE2, whole path must match */
} gw_path_kind;

/* A header or query parameter match. Header names compare without case;
 * query names and all values with case. */
typedef struct gw_kv_match {
    bool regex; /* false: Exact */
    char *name;
    char *value; /* the exact value or the regular expression */
} gw_kv_match;

typedef struct gw_match {
    gw_path_kind path_kind;
    /* "/" when the match has no path. A PathPrefix has lost its trailing
     * '/' (except "/" itself), which the spec ignores. */
    char *path;
    char *method; /* NULL: any method. gRPC: NULL */
    gw_kv_match *headers;
    size_t header_count;
    gw_kv_match *queries; /* HTTPRoute only */
    size_t query_count;
    /* GRPCRoute: service and method (NULL: any), matched on the path
     * "/<service>/<method>"; `regex` says they are RegularExpression.
     * The reader also fills path/path_kind with the equivalent path
     * match so that an emitter may ignore these. */
    char *grpc_service, *grpc_method;
    bool grpc_regex;
} gw_match;

/* -- Filters ------------------------------------------------------------ */

typedef enum gw_header_op_kind {
    GW_HEADER_SET,
    GW_HEADER_ADD,
    GW_HEADER_REMOVE
} gw_header_op_kind;

typedef struct gw_header_op {
    gw_header_op_kind op;
    char *name;
    char *value; /* NULL for GW_HEADER_REMOVE */
} gw_header_op;

typedef enum gw_path_modifier {
    GW_PATH_KEEP,
    GW_PATH_REPLACE_FULL,  /* ReplaceFullPath */
    GW_PATH_REPLACE_PREFIX /* ReplacePrefixMatch: the rule's match must
                              be a PathPrefix; `prefix` is its path */
} gw_path_modifier;

typedef struct gw_redirect {
    char *scheme;   /* NULL: the request's */
    char *hostname; /* NULL: the request's */
    int port;       /* 0: see the spec's rules (emitter applies them) */
    gw_path_modifier path_mod;
    char *path; /* replacement, NULL with GW_PATH_KEEP */
    int status; /* 301, 302 (default), 303, 307, 308 */
} gw_redirect;

typedef struct gw_rewrite {
    char *hostname; /* NULL: keep */
    gw_path_modifier path_mod;
    char *path; /* replacement, NULL with GW_PATH_KEEP */
} gw_rewrite;

typedef struct gw_mirror {
    /* Never NULL from the reader: a mirror whose backendRef does not
     * resolve is left out (and reported in the route's ResolvedRefs);
     * emitters may still treat NULL as "no mirror". */
    gw_backend *backend;
    double percent; /* 0..100; 100 when not given */
} gw_mirror;

/* An ExtensionRef filter: the kgateway document it names (a
 * TrafficPolicy, merged into the rule's policies with the highest
 * priority, or a DirectResponse, which answers in place of the
 * backends). */
typedef struct gw_extension_ref {
    const gwf_doc *doc;
} gw_extension_ref;

typedef struct gw_filters {
    gw_header_op *request_headers;
    size_t request_header_count;
    gw_header_op *response_headers;
    size_t response_header_count;
    gw_redirect *redirect; /* NULL or one */
    gw_rewrite *rewrite;   /* NULL or one */
    gw_mirror *mirrors;
    size_t mirror_count;
    gw_extension_ref *extensions;
    size_t extension_count;
    /* A filter of type CORS (HTTPCORSFilter): the HTTPRoute that holds
     * it and the path of its cors node ("spec.rules[0].filters[1].cors"),
     * which the cors plugin reads as its config (gwf_route_filter);
     * NULL when none. */
    const gwf_doc *cors_route;
    char *cors_field;
} gw_filters;

/* The DirectResponse an ExtensionRef of f names (the first), or NULL. */
const gwf_doc *gw_filters_direct_response(const gw_filters *f);

/* -- Backends ----------------------------------------------------------- */

typedef enum gw_backend_kind {
    GW_BACKEND_ENDPOINTS, /* Service, static Backend, ExternalName */
    GW_BACKEND_LAMBDA     /* kgateway Backend type aws (lambda_signer) */
} gw_backend_kind;

typedef enum gw_app_protocol {
    GW_PROTO_HTTP1,
    GW_PROTO_H2C,  /* appProtocol kubernetes.io/h2c */
    GW_PROTO_GRPC, /* GRPCRoute backends */
    GW_PROTO_WS    /* appProtocol kubernetes.io/ws: upgrades passed */
} gw_app_protocol;

typedef struct gw_endpoint {
    char *address; /* IPv4 / IPv6 literal, or a DNS name (ExternalName,
                      static Backend host) */
    int port;
} gw_endpoint;

/* One destination. Backends are shared: every backendRef to the same
 * Service port (or Backend) points at the same gw_backend. */
struct gw_backend {
    gw_backend_kind kind;
    /* Unique (among backends and rules), stable, made of [a-z0-9_]:
     * "svc_<ns>_<name>_<port>" (GRPCRoute backends: "grpc_..."),
     * "backend_<ns>_<name>"; a later id that would repeat an earlier one
     * gets "_2", "_3", ... An emitter may use it as an upstream name. */
    char *id;
    const gwf_doc *doc; /* the Service or Backend */
    gw_app_protocol protocol;
    /* ENDPOINTS: ready endpoints (serving-and-terminating ones when none
     * is ready), each address:port once; may be 0. */
    gw_endpoint *endpoints;
    size_t endpoint_count;
    bool tls; /* static Backend with TLS to the upstream */
};

typedef struct gw_backend_ref {
    gw_backend *backend; /* NULL: did not resolve (the rule answers 500
                            for the share of traffic it would get) */
    uint32_t weight;     /* 0 never gets traffic */
    gw_filters filters;  /* filters on this backendRef only */
    /* kgateway delegation: the backendRef names HTTPRoutes (kind
     * HTTPRoute of gateway.networking.k8s.io, or kind label of
     * delegation.kgateway.dev); backend is then NULL and delegation.c
     * replaces the rule by the children's rules. NULL otherwise. */
    const gwf_node *delegate;
} gw_backend_ref;

/* -- Rules, virtual hosts, ports --------------------------------------- */

typedef struct gw_retry {
    int attempts; /* retries after the first try; 0: no retry */
    int *codes;   /* HTTP status codes retried */
    size_t code_count;
    uint64_t backoff_ms; /* 0: none given */
} gw_retry;

typedef struct gw_rule {
    const gwf_doc *route; /* the HTTPRoute or GRPCRoute */
    bool grpc;
    size_t index; /* position in spec.rules */
    char *name;   /* spec.rules[].name, or NULL */
    /* Unique (among rules and backends), [a-z0-9_]:
     * "<ns>_<route>_r<index>" (GRPCRoute: "_g<index>"), with "_2", ...
     * when it would repeat an earlier one. */
    char *id;
    gw_match *matches; /* at least one (an absent list is one match
                          of PathPrefix "/") */
    size_t match_count;
    gw_filters filters;
    gw_backend_ref *backends;
    size_t backend_count;
    /* Nonzero: answer this status instead of proxying. 500 when no
     * resolved backendRef has a weight above 0 (none resolves, all
     * weights are 0, or there are no backendRefs) and the rule has
     * neither a redirect nor an ExtensionRef; and 500 whatever else it
     * has when a filter is unsupported (ExternalAuth, a CORS filter on a
     * backendRef, a CORS filter the cors plugin refuses) or an
     * ExtensionRef names no document, as the spec says such a rule must
     * not be served without it. */
    int fixed_status;
    uint64_t request_timeout_ms; /* timeouts.request, 0: none */
    uint64_t backend_timeout_ms; /* timeouts.backendRequest, 0: none */
    gw_retry retry;
    /* For precedence across routes. */
    int64_t created; /* metadata.creationTimestamp as Unix seconds,
                        INT64_MAX when absent */
    /* A child's rule brought in by delegation (delegation.c): the parent
     * rule that delegated to it (owned by gw_model.delegating_rules), whose
     * route's policies and ExtensionRefs the child inherits
     * (attach_policies.c). NULL for a rule served directly. */
    const struct gw_rule *delegated_from;
} gw_rule;

/* -- kgateway policies --------------------------------------------------- */

/* What kgateway's TrafficPolicies make of one (rule, listener): for each
 * field of the chain (gwf_policy_field: cors, apiKeyAuth, basicAuth,
 * extAuth, jwtAuth, rbac, rateLimit.local, rateLimit.global, csrf) the
 * TrafficPolicy it comes from after merging the policies attached at
 * every level (attach_policies.c), or NULL. Sets are shared: every entry
 * with the same merged result points at one set. */
/* The TrafficPolicy fields nginx does itself (read_route_policy.c), as
 * one policy gives them. Values are what the emitter writes; a field the
 * policy leaves out has its has_ flag false. */
typedef enum gw_route_field {
    GW_RF_TIMEOUTS,
    GW_RF_RETRY,
    GW_RF_HEADER_MODIFIERS,
    GW_RF_BUFFER,
    GW_RF_COMPRESSION,
    GW_RF_AUTO_HOST_REWRITE,
    GW_RF_URL_REWRITE,
    GW_RF_COUNT
} gw_route_field;

typedef struct gw_route_policy {
    const gwf_doc *doc; /* the TrafficPolicy */
    bool has_request_timeout, has_stream_idle;
    uint64_t request_timeout_ms, stream_idle_ms; /* 0: no limit */
    bool has_retry;
    gw_retry retry;              /* codes: nginx-retriable statuses */
    uint64_t per_try_timeout_ms; /* 0: none */
    gw_header_op *request_headers, *response_headers;
    size_t request_header_count, response_header_count;
    uint64_t max_request_size; /* buffer.maxRequestSize, 0: none */
    int gzip;                  /* compression: 1 on, 0 off (disable) */
    bool auto_host_rewrite;
    char *path_pattern;     /* urlRewrite.pathRegex, PCRE, anchored */
    char *path_replacement; /* with nginx's $1.. for \1.. */
    /* NULL, or why nginx cannot honour the policy ("spec.retry.retryOn[1]:
     * ..."): every entry it reaches answers 500. */
    char *unsupported;
} gw_route_policy;

typedef struct gw_policy_set {
    const gwf_doc *fields[GWF_PF_COUNT];
    /* For each field nginx does itself, the parsed policy it comes from
     * after merging, or NULL; `route_above` says that policy attaches
     * above the route (Gateway, listener), where the HTTPRoute's own
     * timeouts and retry win over it. */
    const gw_route_policy *route_fields[GW_RF_COUNT];
    bool route_above[GW_RF_COUNT];
    /* Every TrafficPolicy that reaches the entries, in priority order,
     * the ones whose fields were all overridden included: each must be
     * one the data plane can honour, or the entries fail closed. */
    const gwf_doc **members;
    size_t member_count;
    size_t index; /* into gw_model.policy_sets */
} gw_policy_set;

/* One (rule, match) pair served on one virtual host. */
typedef struct gw_entry {
    gw_rule *rule;
    size_t match; /* index into rule->matches */
    /* The listener it was attached through (gateway, listener indexes
     * into gw_model.gateways). */
    size_t gateway, listener;
    const gw_policy_set *policy; /* NULL: no TrafficPolicy applies */
    /* Nonzero: answer this status whatever the rule says (a policy that
     * applies here cannot be honoured: 500). */
    int fixed_status;
} gw_entry;

typedef struct gw_vhost {
    char *hostname;    /* "foo.example.com", "*.example.com", or NULL for
                          every host */
    gw_entry *entries; /* in precedence order: the first that matches a
                          request serves it */
    size_t entry_count;
} gw_vhost;

typedef struct gw_tls_cert {
    const gwf_doc *secret; /* kubernetes.io/tls Secret */
    char *cert_pem, *key_pem;
} gw_tls_cert;

typedef enum gw_protocol { GW_LISTENER_HTTP, GW_LISTENER_HTTPS } gw_protocol;

/* Everything served on one port of one address. Listeners of the same
 * protocol on the same port are merged here; their hostnames become
 * virtual hosts. */
typedef struct gw_port {
    int port;
    gw_protocol protocol;
    /* HTTPS: the certificate of each hostname (SNI). hostnames[i] NULL
     * is the listener without hostname (the default certificate). */
    char **tls_hostnames;
    gw_tls_cert **tls_certs;
    size_t tls_count;
    gw_vhost *vhosts;
    size_t vhost_count;
} gw_port;

/* -- Gateways and status ------------------------------------------------ */

typedef struct gw_condition {
    const char *type;   /* "Accepted", "Programmed", "ResolvedRefs", ... */
    bool status;        /* True / False */
    const char *reason; /* the Gateway API's reason name */
    char *message;
} gw_condition;

typedef struct gw_conditions {
    gw_condition *items;
    size_t count;
} gw_conditions;

typedef struct gw_listener {
    char *name;
    int port;
    gw_protocol protocol;
    char *hostname; /* NULL: any */
    uint32_t attached_routes;
    gw_conditions conditions;
    /* "HTTPRoute", "GRPCRoute": static storage, not owned */
    const char **supported_kinds;
    size_t supported_kind_count;
} gw_listener;

typedef struct gw_gateway {
    const gwf_doc *doc;
    /* The class's spec.controllerName, or GW_CONTROLLER_NAME when the
     * class has no document: what routes report as their controller.
     * Points into the manifests or static storage. */
    const char *controller_name;
    gw_listener *listeners;
    size_t listener_count;
    gw_conditions conditions;
} gw_gateway;

/* Status of a route for one of its parentRefs. */
typedef struct gw_route_parent {
    const gwf_doc *gateway; /* NULL when it names no known Gateway */
    /* NULL: a Gateway; "HTTPRoute" (static storage): the parent route
     * of a delegated child (delegation.c). */
    const char *parent_kind;
    char *parent_namespace, *parent_name, *section_name; /* as written */
    int port;                                            /* 0: none */
    gw_conditions conditions;
} gw_route_parent;

typedef struct gw_route_status {
    const gwf_doc *route; /* HTTPRoute / GRPCRoute */
    gw_route_parent *parents;
    size_t parent_count;
} gw_route_status;

/* -- Access logs (HTTPListenerPolicy, ListenerPolicy) ------------------ */

/* One piece of an Envoy access-log format string, as read_listener_
 * policies.c parsed it: literal text or a command operator gwf can give
 * the same meaning on the data plane. Operators it cannot are refused
 * when read, so an emitter meets only these. */
typedef enum gw_log_op {
    GW_LOG_TEXT,          /* `text` as written (%% already one '%') */
    GW_LOG_START_TIME,    /* %START_TIME% (no format argument) */
    GW_LOG_REQ,           /* %REQ(name?fallback)%: `text` the header
                             name, lowercase; a pseudo header is ":method",
                             ":path", ":authority" or ":scheme" */
    GW_LOG_RESP,          /* %RESP(name)% (":status" allowed) */
    GW_LOG_PROTOCOL,      /* %PROTOCOL% */
    GW_LOG_RESPONSE_CODE, /* %RESPONSE_CODE% */
    GW_LOG_DURATION,      /* %DURATION%: integer milliseconds */
    GW_LOG_BYTES_SENT,    /* %BYTES_SENT%: response body bytes */
    GW_LOG_REMOTE,        /* %DOWNSTREAM_REMOTE_ADDRESS%: ip:port,
                             an IPv6 address bracketed */
    GW_LOG_REMOTE_IP,     /* %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT% */
    GW_LOG_UPSTREAM_HOST, /* %UPSTREAM_HOST% */
    GW_LOG_MISSING,       /* an operator the data plane has no value for
                             (%RESPONSE_FLAGS%, %REQUEST_DURATION%,
                             %DYNAMIC_METADATA(...)%): "-" as Envoy
                             prints a missing value (null as a whole JSON
                             value) */
    GW_LOG_START_TIME_S,  /* %START_TIME(%s)%: Unix seconds */
    GW_LOG_LOCAL,         /* %DOWNSTREAM_LOCAL_ADDRESS%: ip:port */
    GW_LOG_SERVER_NAME,   /* %REQUESTED_SERVER_NAME%: the TLS SNI name */
    GW_LOG_HOSTNAME       /* %HOSTNAME%: the data plane host's name */
} gw_log_op;

typedef struct gw_log_piece {
    gw_log_op op;
    char *text;       /* GW_LOG_TEXT, GW_LOG_REQ, GW_LOG_RESP; else NULL */
    char *fallback;   /* GW_LOG_REQ "a?b": b (lowercase), else NULL */
    uint32_t max_len; /* ":N" after the operator; 0: none */
} gw_log_piece;

/* A stringFormat (key NULL, one value), or one member of a jsonFormat. */
typedef struct gw_log_value {
    char *key; /* jsonFormat member name, NULL for stringFormat */
    bool raw;  /* a jsonFormat number or boolean: its one GW_LOG_TEXT
                  piece is JSON text, written as it is */
    gw_log_piece *pieces;
    size_t piece_count;
} gw_log_value;

/* One fileSink of an accessLog, on one listener. */
typedef struct gw_access_log {
    const gwf_doc *policy;    /* the HTTPListenerPolicy / ListenerPolicy */
    size_t gateway, listener; /* into gw_model.gateways / its listeners */
    char *path;               /* absolute, no control byte, no '$' */
    bool json;                /* jsonFormat: values are members, in the
                                 manifest's order */
    gw_log_value *values;
    size_t value_count;
} gw_access_log;

/* Status of any other object gwf reports on (GatewayClass; kgateway's
 * TrafficPolicy and DirectResponse: Accepted, Attached). */
typedef struct gw_object_status {
    const gwf_doc *doc;
    gw_conditions conditions;
    /* A kgateway policy (TrafficPolicy, DirectResponse): the Gateways it
     * reaches a rule through, each once, for the `ancestors` of its
     * PolicyStatus. Owned (the array, not the documents). */
    const gwf_doc **ancestors;
    size_t ancestor_count;
} gw_object_status;

typedef struct gw_model {
    gw_gateway *gateways;
    size_t gateway_count;
    gw_port *ports;
    size_t port_count;
    gw_rule **rules; /* every rule served somewhere, owned here */
    size_t rule_count;
    gw_backend **backends; /* owned here */
    size_t backend_count;
    gw_route_status *routes;
    size_t route_count;
    gw_object_status *objects;
    size_t object_count;
    gw_tls_cert **certs; /* owned here; gw_port.tls_certs point here */
    size_t cert_count;
    gw_policy_set **policy_sets; /* owned here */
    size_t policy_set_count;
    /* Each TrafficPolicy's nginx fields (read_route_policy.c), owned
     * here; gw_policy_set.route_fields point into it. */
    gw_route_policy *route_policies;
    size_t route_policy_count;
    /* What HTTPListenerPolicies and ListenerPolicies log, one per
     * (fileSink, listener) (read_listener_policies.c). */
    gw_access_log *access_logs;
    size_t access_log_count;
    /* Rules that delegate to child routes (delegation.c): not served
     * themselves, kept for gw_rule.delegated_from. Owned here. */
    struct gw_rule **delegating_rules;
    size_t delegating_rule_count;
} gw_model;

#endif
