/*
 * test_translate.c - the translator's reader: documents in, model and
 * status conditions out.
 *
 * Every test loads YAML with gwf_manifests_load_buffer, builds the model
 * with gw_model_build and asserts on exact outcomes: which listeners
 * serve, which hosts get which entries in which order, what each backend
 * resolves to, which condition and reason each object gets, and which
 * error line a malformed document produces. Hostname intersection and
 * precedence are also tested on their own functions with the spec's
 * examples.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build.h"

/* -- Fixture ------------------------------------------------------------ */

typedef struct fixture {
    gwf_manifests *m;
    gwf_diag load, errors, notes;
    gw_model model;
    int built;
} fixture;

static int
setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    f->m = gwf_manifests_new();
    gwf_diag_init(&f->load);
    gwf_diag_init(&f->errors);
    gwf_diag_init(&f->notes);
    *state = f;
    return f->m ? 0 : -1;
}

static int
teardown(void **state)
{
    fixture *f = *state;
    gw_model_free(&f->model);
    gwf_manifests_free(f->m);
    gwf_diag_free(&f->load);
    gwf_diag_free(&f->errors);
    gwf_diag_free(&f->notes);
    free(f);
    return 0;
}

static void
dump(const gwf_diag *d)
{
    for (size_t i = 0; i < d->count; i++)
        fprintf(stderr, "  %s\n", gwf_diag_line(d, i));
}

/* Loads `yaml` as m.yaml and builds the model; returns the error count. */
static int
build(fixture *f, const char *yaml)
{
    int loaded =
        gwf_manifests_load_buffer(f->m, "m.yaml", yaml, strlen(yaml), &f->load);
    if (loaded) {
        dump(&f->load);
        fail_msg("YAML did not load");
    }
    f->built = gw_model_build(f->m, NULL, &f->model, &f->errors, &f->notes);
    return f->built;
}

/* Builds and expects no error. */
static void
build_ok(fixture *f, const char *yaml)
{
    if (build(f, yaml) != 0) {
        dump(&f->errors);
        fail_msg("unexpected errors");
    }
}

static const gw_condition *
cond(const gw_conditions *c, const char *type)
{
    for (size_t i = 0; i < c->count; i++)
        if (strcmp(c->items[i].type, type) == 0)
            return &c->items[i];
    fail_msg("no %s condition", type);
    return NULL;
}

static void
assert_cond(const gw_conditions *c, const char *type, bool status,
            const char *reason)
{
    const gw_condition *k = cond(c, type);
    if (k->status != status || strcmp(k->reason, reason) != 0)
        fail_msg("%s: expected %s/%s, got %s/%s (%s)", type,
                 status ? "True" : "False", reason,
                 k->status ? "True" : "False", k->reason, k->message);
}

static const gw_route_parent *
parent(const gw_model *m, const char *route, size_t i)
{
    for (size_t k = 0; k < m->route_count; k++)
        if (strcmp(m->routes[k].route->name, route) == 0) {
            assert_true(i < m->routes[k].parent_count);
            return &m->routes[k].parents[i];
        }
    fail_msg("no status for route %s", route);
    return NULL;
}

static const gw_listener *
listener(const gw_model *m, const char *gw, const char *name)
{
    for (size_t i = 0; i < m->gateway_count; i++) {
        const gw_gateway *g = &m->gateways[i];
        if (strcmp(g->doc->name, gw) != 0)
            continue;
        for (size_t k = 0; k < g->listener_count; k++)
            if (strcmp(g->listeners[k].name, name) == 0)
                return &g->listeners[k];
    }
    fail_msg("no listener %s/%s", gw, name);
    return NULL;
}

static const gw_port *
port(const gw_model *m, int number)
{
    for (size_t i = 0; i < m->port_count; i++)
        if (m->ports[i].port == number)
            return &m->ports[i];
    fail_msg("no port %d", number);
    return NULL;
}

/* The vhost of `host` (NULL: every host) on port 80, or NULL. */
static const gw_vhost *
find_vhost(const gw_model *m, int number, const char *host)
{
    const gw_port *p = port(m, number);
    for (size_t i = 0; i < p->vhost_count; i++) {
        const char *h = p->vhosts[i].hostname;
        if ((!h && !host) || (h && host && strcmp(h, host) == 0))
            return &p->vhosts[i];
    }
    return NULL;
}

static const gw_vhost *
vhost(const gw_model *m, const char *host)
{
    const gw_vhost *v = find_vhost(m, 80, host);
    if (!v)
        fail_msg("no vhost %s", host ? host : "(any)");
    return v;
}

static const gw_rule *
rule_of(const gw_model *m, const char *route, size_t index)
{
    for (size_t i = 0; i < m->rule_count; i++)
        if (strcmp(m->rules[i]->route->name, route) == 0 &&
            m->rules[i]->index == index)
            return m->rules[i];
    fail_msg("no rule %s[%zu]", route, index);
    return NULL;
}

static bool
error_contains(const fixture *f, const char *text)
{
    for (size_t i = 0; i < f->errors.count; i++)
        if (strstr(gwf_diag_line(&f->errors, i), text))
            return true;
    return false;
}

/* -- Documents ---------------------------------------------------------- */

#define GATEWAY                                                                \
    "apiVersion: gateway.networking.k8s.io/v1\n"                               \
    "kind: Gateway\n"                                                          \
    "metadata: {name: gw, namespace: default}\n"                               \
    "spec:\n"                                                                  \
    "  gatewayClassName: gwf\n"                                                \
    "  listeners:\n"                                                           \
    "  - {name: http, port: 80, protocol: HTTP}\n"                             \
    "---\n"

#define SERVICE                                                                \
    "apiVersion: v1\n"                                                         \
    "kind: Service\n"                                                          \
    "metadata: {name: svc, namespace: default}\n"                              \
    "spec:\n"                                                                  \
    "  ports: [{name: http, port: 8080, targetPort: 9090}]\n"                  \
    "---\n"                                                                    \
    "apiVersion: discovery.k8s.io/v1\n"                                        \
    "kind: EndpointSlice\n"                                                    \
    "metadata:\n"                                                              \
    "  name: svc-abc\n"                                                        \
    "  namespace: default\n"                                                   \
    "  labels: {kubernetes.io/service-name: svc}\n"                            \
    "addressType: IPv4\n"                                                      \
    "endpoints: [{addresses: [10.0.0.1]}]\n"                                   \
    "ports: [{name: http, port: 9090}]\n"                                      \
    "---\n"

#define ROUTE_HEAD(name)                                                       \
    "apiVersion: gateway.networking.k8s.io/v1\n"                               \
    "kind: HTTPRoute\n"                                                        \
    "metadata: {name: " name ", namespace: default}\n"                         \
    "spec:\n"                                                                  \
    "  parentRefs: [{name: gw}]\n"

#define TO_SVC "    backendRefs: [{name: svc, port: 8080}]\n"

/* -- Gateways and listeners --------------------------------------------- */

static void
test_gateway_of_another_class_is_skipped_with_a_note(void **state)
{
    fixture *f = *state;
    build_ok(f, "apiVersion: gateway.networking.k8s.io/v1\n"
                "kind: Gateway\n"
                "metadata: {name: other}\n"
                "spec:\n"
                "  gatewayClassName: istio\n"
                "  listeners: [{name: http, port: 80, protocol: HTTP}]\n");
    assert_int_equal(f->model.gateway_count, 0);
    assert_int_equal(f->model.port_count, 0);
    assert_int_equal(f->notes.count, 1);
    assert_non_null(strstr(gwf_diag_line(&f->notes, 0),
                           "Gateway default/other: class \"istio\" is not "
                           "served"));
}

static void
test_served_gateway_is_accepted_and_programmed(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY SERVICE ROUTE_HEAD("r") "  rules:\n  -\n" TO_SVC);
    assert_int_equal(f->model.gateway_count, 1);
    const gw_gateway *g = &f->model.gateways[0];
    assert_cond(&g->conditions, "Accepted", true, "Accepted");
    assert_cond(&g->conditions, "Programmed", true, "Programmed");
    const gw_listener *l = listener(&f->model, "gw", "http");
    assert_cond(&l->conditions, "Accepted", true, "Accepted");
    assert_cond(&l->conditions, "Programmed", true, "Programmed");
    assert_cond(&l->conditions, "ResolvedRefs", true, "ResolvedRefs");
    assert_cond(&l->conditions, "Conflicted", false, "NoConflicts");
    assert_int_equal(l->attached_routes, 1);
    assert_int_equal(l->supported_kind_count, 2);
    assert_string_equal(l->supported_kinds[0], "HTTPRoute");
    assert_string_equal(l->supported_kinds[1], "GRPCRoute");
    assert_string_equal(g->controller_name, GW_CONTROLLER_NAME);
}

static void
test_listener_with_unsupported_protocol_is_not_accepted(void **state)
{
    fixture *f = *state;
    build_ok(f, "apiVersion: gateway.networking.k8s.io/v1\n"
                "kind: Gateway\n"
                "metadata: {name: gw}\n"
                "spec:\n"
                "  gatewayClassName: gwf\n"
                "  listeners:\n"
                "  - {name: tcp, port: 9000, protocol: TCP}\n"
                "  - {name: http, port: 80, protocol: HTTP}\n");
    const gw_gateway *g = &f->model.gateways[0];
    assert_cond(&g->listeners[0].conditions, "Accepted", false,
                "UnsupportedProtocol");
    assert_cond(&g->listeners[0].conditions, "Programmed", false, "Invalid");
    assert_cond(&g->conditions, "Accepted", true, "ListenersNotValid");
    assert_int_equal(f->model.port_count, 1);
    assert_int_equal(f->model.ports[0].port, 80);
}

#define TLS_SECRET(ns)                                                         \
    "apiVersion: v1\n"                                                         \
    "kind: Secret\n"                                                           \
    "metadata: {name: cert, namespace: " ns "}\n"                              \
    "type: kubernetes.io/tls\n"                                                \
    "stringData:\n"                                                            \
    "  tls.crt: \"-----BEGIN CERTIFICATE-----\\nMIIB\\n\"\n"                   \
    "  tls.key: \"-----BEGIN PRIVATE KEY-----\\nMIIE\\n\"\n"                   \
    "---\n"

#define HTTPS_GATEWAY(ref)                                                     \
    "apiVersion: gateway.networking.k8s.io/v1\n"                               \
    "kind: Gateway\n"                                                          \
    "metadata: {name: gw}\n"                                                   \
    "spec:\n"                                                                  \
    "  gatewayClassName: gwf\n"                                                \
    "  listeners:\n"                                                           \
    "  - name: https\n"                                                        \
    "    port: 443\n"                                                          \
    "    protocol: HTTPS\n"                                                    \
    "    hostname: secure.example.com\n"                                       \
    "    tls: {certificateRefs: [" ref "]}\n"                                  \
    "---\n"

static void
test_https_listener_takes_its_certificate_from_a_tls_secret(void **state)
{
    fixture *f = *state;
    build_ok(f, TLS_SECRET("default") HTTPS_GATEWAY("{name: cert}"));
    const gw_port *p = port(&f->model, 443);
    assert_int_equal(p->protocol, GW_LISTENER_HTTPS);
    assert_int_equal(p->tls_count, 1);
    assert_string_equal(p->tls_hostnames[0], "secure.example.com");
    assert_string_equal(p->tls_certs[0]->cert_pem,
                        "-----BEGIN CERTIFICATE-----\nMIIB\n");
    assert_string_equal(p->tls_certs[0]->key_pem,
                        "-----BEGIN PRIVATE KEY-----\nMIIE\n");
    assert_cond(&listener(&f->model, "gw", "https")->conditions, "Programmed",
                true, "Programmed");
}

static void
test_base64_secret_data_is_decoded(void **state)
{
    fixture *f = *state;
    /* "-----BEGIN X-----" and "-----BEGIN Y-----" in base64. */
    build_ok(f, "apiVersion: v1\n"
                "kind: Secret\n"
                "metadata: {name: cert}\n"
                "type: kubernetes.io/tls\n"
                "data:\n"
                "  tls.crt: LS0tLS1CRUdJTiBYLS0tLS0=\n"
                "  tls.key: LS0tLS1CRUdJTiBZLS0tLS0=\n"
                "---\n" HTTPS_GATEWAY("{name: cert}"));
    const gw_port *p = port(&f->model, 443);
    assert_string_equal(p->tls_certs[0]->cert_pem, "-----BEGIN X-----");
    assert_string_equal(p->tls_certs[0]->key_pem, "-----BEGIN Y-----");
}

/* Both data and stringData name tls.crt: stringData's wins, as
 * Kubernetes writes it over data's when the Secret is stored. */
static void
test_string_data_wins_over_data_for_the_same_key(void **state)
{
    fixture *f = *state;
    build_ok(f, "apiVersion: v1\n"
                "kind: Secret\n"
                "metadata: {name: cert}\n"
                "type: kubernetes.io/tls\n"
                "data:\n"
                "  tls.crt: LS0tLS1CRUdJTiBYLS0tLS0=\n"
                "  tls.key: LS0tLS1CRUdJTiBZLS0tLS0=\n"
                "stringData:\n"
                "  tls.crt: \"-----BEGIN Z-----\"\n"
                "---\n" HTTPS_GATEWAY("{name: cert}"));
    const gw_port *p = port(&f->model, 443);
    assert_string_equal(p->tls_certs[0]->cert_pem, "-----BEGIN Z-----");
    assert_string_equal(p->tls_certs[0]->key_pem, "-----BEGIN Y-----");
}

static void
test_cross_namespace_certificate_without_grant_is_ref_not_permitted(
    void **state)
{
    fixture *f = *state;
    build_ok(f, TLS_SECRET("certs")
                    HTTPS_GATEWAY("{name: cert, namespace: certs}"));
    const gw_listener *l = listener(&f->model, "gw", "https");
    assert_cond(&l->conditions, "ResolvedRefs", false, "RefNotPermitted");
    assert_cond(&l->conditions, "Programmed", false, "Invalid");
    assert_int_equal(f->model.port_count, 0);
}

static void
test_route_on_a_listener_without_certificate_is_attached_not_served(
    void **state)
{
    fixture *f = *state;
    build_ok(f, HTTPS_GATEWAY("{name: missing}") ROUTE_HEAD("r"));
    const gw_listener *l = listener(&f->model, "gw", "https");
    assert_cond(&l->conditions, "ResolvedRefs", false, "InvalidCertificateRef");
    assert_int_equal(l->attached_routes, 1);
    assert_cond(&parent(&f->model, "r", 0)->conditions, "Accepted", true,
                "Accepted");
    assert_int_equal(f->model.port_count, 0);
    assert_int_equal(f->model.rule_count, 0);
}

static void
test_cross_namespace_certificate_with_grant_is_served(void **state)
{
    fixture *f = *state;
    build_ok(f, TLS_SECRET("certs") HTTPS_GATEWAY(
                    "{name: cert, namespace: certs}") "apiVersion: "
                                                      "gateway.networking.k8s."
                                                      "io/v1beta1\n"
                                                      "kind: ReferenceGrant\n"
                                                      "metadata: {name: g, "
                                                      "namespace: certs}\n"
                                                      "spec:\n"
                                                      "  from: [{group: "
                                                      "gateway.networking.k8s."
                                                      "io, kind: Gateway, "
                                                      "namespace: default}]\n"
                                                      "  to: [{group: \"\", "
                                                      "kind: Secret}]\n");
    const gw_listener *l = listener(&f->model, "gw", "https");
    assert_cond(&l->conditions, "ResolvedRefs", true, "ResolvedRefs");
    assert_int_equal(port(&f->model, 443)->tls_count, 1);
}

static void
test_secret_of_another_type_is_an_invalid_certificate_ref(void **state)
{
    fixture *f = *state;
    build_ok(f, "apiVersion: v1\nkind: Secret\nmetadata: {name: cert}\n"
                "type: Opaque\nstringData: {a: b}\n---\n" HTTPS_GATEWAY(
                    "{name: cert}"));
    assert_cond(&listener(&f->model, "gw", "https")->conditions, "ResolvedRefs",
                false, "InvalidCertificateRef");
}

static void
test_listeners_on_one_port_with_two_protocols_conflict(void **state)
{
    fixture *f = *state;
    build_ok(
        f, TLS_SECRET("default") "apiVersion: "
                                 "gateway.networking.k8s.io/v1\n"
                                 "kind: Gateway\n"
                                 "metadata: {name: gw}\n"
                                 "spec:\n"
                                 "  gatewayClassName: gwf\n"
                                 "  listeners:\n"
                                 "  - {name: a, port: 8443, protocol: HTTP}\n"
                                 "  - name: b\n"
                                 "    port: 8443\n"
                                 "    protocol: HTTPS\n"
                                 "    tls: {certificateRefs: [{name: cert}]}\n"
                                 "  - {name: c, port: 80, protocol: HTTP, "
                                 "hostname: a.com}\n"
                                 "  - {name: d, port: 80, protocol: HTTP, "
                                 "hostname: a.com}\n");
    assert_cond(&listener(&f->model, "gw", "a")->conditions, "Conflicted",
                false, "NoConflicts");
    assert_cond(&listener(&f->model, "gw", "b")->conditions, "Conflicted", true,
                "ProtocolConflict");
    assert_cond(&listener(&f->model, "gw", "d")->conditions, "Conflicted", true,
                "HostnameConflict");
    assert_cond(&listener(&f->model, "gw", "d")->conditions, "Programmed",
                false, "Invalid");
}

static void
test_route_from_another_namespace_is_not_allowed_by_same(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY "apiVersion: gateway.networking.k8s.io/v1\n"
                        "kind: HTTPRoute\n"
                        "metadata: {name: r, namespace: other}\n"
                        "spec:\n"
                        "  parentRefs: [{name: gw, namespace: default}]\n");
    assert_cond(&parent(&f->model, "r", 0)->conditions, "Accepted", false,
                "NotAllowedByListeners");
    assert_int_equal(listener(&f->model, "gw", "http")->attached_routes, 0);
    assert_int_equal(f->model.rule_count, 0);
}

#define SELECTOR_GATEWAY(selector)                                             \
    "apiVersion: gateway.networking.k8s.io/v1\n"                               \
    "kind: Gateway\n"                                                          \
    "metadata: {name: gw}\n"                                                   \
    "spec:\n"                                                                  \
    "  gatewayClassName: gwf\n"                                                \
    "  listeners:\n"                                                           \
    "  - name: http\n"                                                         \
    "    port: 80\n"                                                           \
    "    protocol: HTTP\n"                                                     \
    "    allowedRoutes:\n"                                                     \
    "      namespaces:\n"                                                      \
    "        from: Selector\n"                                                 \
    "        selector: " selector "\n"                                         \
    "---\n"                                                                    \
    "apiVersion: v1\n"                                                         \
    "kind: Namespace\n"                                                        \
    "metadata: {name: team-a, labels: {team: a, env: prod}}\n"                 \
    "---\n"                                                                    \
    "apiVersion: v1\n"                                                         \
    "kind: Namespace\n"                                                        \
    "metadata: {name: team-b, labels: {team: b}}\n"                            \
    "---\n"                                                                    \
    "apiVersion: gateway.networking.k8s.io/v1\n"                               \
    "kind: HTTPRoute\n"                                                        \
    "metadata: {name: ra, namespace: team-a}\n"                                \
    "spec: {parentRefs: [{name: gw, namespace: default}]}\n"                   \
    "---\n"                                                                    \
    "apiVersion: gateway.networking.k8s.io/v1\n"                               \
    "kind: HTTPRoute\n"                                                        \
    "metadata: {name: rb, namespace: team-b}\n"                                \
    "spec: {parentRefs: [{name: gw, namespace: default}]}\n"

static void
test_selector_match_labels_picks_namespaces_by_label(void **state)
{
    fixture *f = *state;
    build_ok(f, SELECTOR_GATEWAY("{matchLabels: {team: a}}"));
    assert_cond(&parent(&f->model, "ra", 0)->conditions, "Accepted", true,
                "Accepted");
    assert_cond(&parent(&f->model, "rb", 0)->conditions, "Accepted", false,
                "NotAllowedByListeners");
}

static void
test_selector_match_expressions_in_notin_exists(void **state)
{
    fixture *f = *state;
    build_ok(f, SELECTOR_GATEWAY(
                    "{matchExpressions: [{key: team, operator: In, values: "
                    "[a, b]}, {key: env, operator: Exists}, {key: team, "
                    "operator: NotIn, values: [c]}]}"));
    assert_cond(&parent(&f->model, "ra", 0)->conditions, "Accepted", true,
                "Accepted");
    assert_cond(&parent(&f->model, "rb", 0)->conditions, "Accepted", false,
                "NotAllowedByListeners");
}

static void
test_selector_on_metadata_name_label(void **state)
{
    fixture *f = *state;
    build_ok(f, SELECTOR_GATEWAY(
                    "{matchLabels: {kubernetes.io/metadata.name: team-b}}"));
    assert_cond(&parent(&f->model, "ra", 0)->conditions, "Accepted", false,
                "NotAllowedByListeners");
    assert_cond(&parent(&f->model, "rb", 0)->conditions, "Accepted", true,
                "Accepted");
}

static void
test_listener_of_an_unsupported_protocol_refuses_routes(void **state)
{
    fixture *f = *state;
    build_ok(f, "apiVersion: gateway.networking.k8s.io/v1\n"
                "kind: Gateway\n"
                "metadata: {name: gw}\n"
                "spec:\n"
                "  gatewayClassName: gwf\n"
                "  listeners:\n"
                "  - name: tls\n"
                "    port: 443\n"
                "    protocol: TLS\n"
                "    tls: {mode: Passthrough}\n"
                "    allowedRoutes: {kinds: [{kind: TLSRoute}]}\n"
                "---\n" ROUTE_HEAD("r"));
    assert_cond(&parent(&f->model, "r", 0)->conditions, "Accepted", false,
                "NotAllowedByListeners");
    assert_int_equal(listener(&f->model, "gw", "tls")->attached_routes, 0);
}

static void
test_listener_kinds_grpc_only_refuse_httproutes(void **state)
{
    fixture *f = *state;
    build_ok(
        f, "apiVersion: gateway.networking.k8s.io/v1\n"
           "kind: Gateway\n"
           "metadata: {name: gw}\n"
           "spec:\n"
           "  gatewayClassName: gwf\n"
           "  listeners:\n"
           "  - name: http\n"
           "    port: 80\n"
           "    protocol: HTTP\n"
           "    allowedRoutes: {kinds: [{kind: GRPCRoute}, {kind: TCPRoute}]}\n"
           "---\n" ROUTE_HEAD("r"));
    const gw_listener *l = listener(&f->model, "gw", "http");
    assert_int_equal(l->supported_kind_count, 1);
    assert_string_equal(l->supported_kinds[0], "GRPCRoute");
    assert_cond(&l->conditions, "ResolvedRefs", false, "InvalidRouteKinds");
    assert_cond(&parent(&f->model, "r", 0)->conditions, "Accepted", false,
                "NotAllowedByListeners");
}

/* -- Parent refs and hostnames ------------------------------------------ */

static void
test_parent_ref_to_a_missing_gateway_is_no_matching_parent(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY "apiVersion: gateway.networking.k8s.io/v1\n"
                        "kind: HTTPRoute\n"
                        "metadata: {name: r}\n"
                        "spec: {parentRefs: [{name: nope}]}\n");
    const gw_route_parent *p = parent(&f->model, "r", 0);
    assert_null(p->gateway);
    assert_cond(&p->conditions, "Accepted", false, "NoMatchingParent");
    assert_string_equal(cond(&p->conditions, "Accepted")->message,
                        "Gateway default/nope not found");
}

#define TWO_LISTENERS                                                          \
    "apiVersion: gateway.networking.k8s.io/v1\n"                               \
    "kind: Gateway\n"                                                          \
    "metadata: {name: gw}\n"                                                   \
    "spec:\n"                                                                  \
    "  gatewayClassName: gwf\n"                                                \
    "  listeners:\n"                                                           \
    "  - {name: a, port: 80, protocol: HTTP, hostname: a.example.com}\n"       \
    "  - {name: b, port: 8080, protocol: HTTP, hostname: b.example.com}\n"     \
    "---\n"

static void
test_section_name_attaches_to_that_listener_only(void **state)
{
    fixture *f = *state;
    build_ok(f, TWO_LISTENERS "apiVersion: gateway.networking.k8s.io/v1\n"
                              "kind: HTTPRoute\n"
                              "metadata: {name: r}\n"
                              "spec: {parentRefs: [{name: gw, sectionName: "
                              "b}]}\n");
    assert_int_equal(listener(&f->model, "gw", "a")->attached_routes, 0);
    assert_int_equal(listener(&f->model, "gw", "b")->attached_routes, 1);
    assert_null(find_vhost(&f->model, 80, "a.example.com"));
    assert_non_null(find_vhost(&f->model, 8080, "b.example.com"));
}

static void
test_parent_port_matching_no_listener_is_no_matching_parent(void **state)
{
    fixture *f = *state;
    build_ok(f, TWO_LISTENERS "apiVersion: gateway.networking.k8s.io/v1\n"
                              "kind: HTTPRoute\n"
                              "metadata: {name: r}\n"
                              "spec: {parentRefs: [{name: gw, sectionName: "
                              "a, port: 8080}]}\n");
    assert_cond(&parent(&f->model, "r", 0)->conditions, "Accepted", false,
                "NoMatchingParent");
    assert_int_equal(parent(&f->model, "r", 0)->port, 8080);
}

static void
test_hostname_intersection_follows_the_spec_examples(void **state)
{
    (void)state;
    /* Listener without hostname: the route's. */
    assert_string_equal(gw_hostname_intersect(NULL, "foo.com"), "foo.com");
    assert_null(gw_hostname_intersect(NULL, NULL));
    /* Route without hostname: the listener's. */
    assert_string_equal(gw_hostname_intersect("foo.com", NULL), "foo.com");
    /* Exact names must be equal. */
    assert_string_equal(gw_hostname_intersect("foo.com", "foo.com"), "foo.com");
    assert_null(gw_hostname_intersect("foo.com", "bar.com"));
    /* A wildcard listener takes names with one or more extra labels. */
    assert_string_equal(
        gw_hostname_intersect("*.example.com", "test.example.com"),
        "test.example.com");
    assert_string_equal(
        gw_hostname_intersect("*.example.com", "foo.test.example.com"),
        "foo.test.example.com");
    assert_null(gw_hostname_intersect("*.example.com", "example.com"));
    assert_null(gw_hostname_intersect("*.example.com", "badexample.com"));
    /* A wildcard route narrows to an exact listener. */
    assert_string_equal(
        gw_hostname_intersect("test.example.com", "*.example.com"),
        "test.example.com");
    assert_null(gw_hostname_intersect("example.com", "*.example.com"));
    /* Two wildcards: the more specific one. */
    assert_string_equal(
        gw_hostname_intersect("*.example.com", "*.foo.example.com"),
        "*.foo.example.com");
    assert_string_equal(
        gw_hostname_intersect("*.foo.example.com", "*.example.com"),
        "*.foo.example.com");
    assert_null(gw_hostname_intersect("*.foo.com", "*.bar.com"));
}

static void
test_route_hostnames_are_intersected_with_the_listener(void **state)
{
    fixture *f = *state;
    build_ok(f, "apiVersion: gateway.networking.k8s.io/v1\n"
                "kind: Gateway\n"
                "metadata: {name: gw}\n"
                "spec:\n"
                "  gatewayClassName: gwf\n"
                "  listeners:\n"
                "  - {name: w, port: 80, protocol: HTTP, hostname: "
                "\"*.example.com\"}\n"
                "---\n" ROUTE_HEAD("r") "  hostnames: [a.example.com, "
                                        "other.org, \"*.b.example.com\"]\n");
    const gw_port *p = port(&f->model, 80);
    assert_int_equal(p->vhost_count, 2);
    assert_string_equal(p->vhosts[0].hostname, "a.example.com");
    assert_string_equal(p->vhosts[1].hostname, "*.b.example.com");
}

static void
test_route_hostnames_without_intersection_are_not_attached(void **state)
{
    fixture *f = *state;
    build_ok(f, TWO_LISTENERS ROUTE_HEAD("r") "  hostnames: [c.example.com]\n");
    assert_cond(&parent(&f->model, "r", 0)->conditions, "Accepted", false,
                "NoMatchingListenerHostname");
    assert_int_equal(f->model.rule_count, 0);
}

/* -- Matches, filters, rules -------------------------------------------- */

static void
test_rule_without_matches_is_one_prefix_match_on_slash(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY SERVICE ROUTE_HEAD("r") "  rules:\n  -\n" TO_SVC);
    const gw_rule *r = rule_of(&f->model, "r", 0);
    assert_int_equal(r->match_count, 1);
    assert_int_equal(r->matches[0].path_kind, GW_PATH_PREFIX);
    assert_string_equal(r->matches[0].path, "/");
    assert_null(r->matches[0].method);
    assert_string_equal(r->id, "default_r_r0");
    assert_int_equal(r->fixed_status, 0);
    const gw_vhost *v = vhost(&f->model, NULL);
    assert_int_equal(v->entry_count, 1);
    assert_ptr_equal(v->entries[0].rule, r);
}

static void
test_matches_are_read_with_the_api_defaults(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY SERVICE ROUTE_HEAD(
                    "r") "  rules:\n"
                         "  - name: first\n"
                         "    matches:\n"
                         "    - path: {value: /api/}\n"
                         "      method: POST\n"
                         "      headers:\n"
                         "      - {name: X-A, value: \"1\"}\n"
                         "      - {name: x-a, value: \"2\"}\n"
                         "      - {type: RegularExpression, name: X-B, value: "
                         "\"b.*\"}\n"
                         "      queryParams:\n"
                         "      - {name: q, value: v}\n"
                         "      - {name: Q, value: w}\n"
                         "    - path: {type: Exact, value: /exact}\n"
                         "    - path: {type: RegularExpression, value: "
                         "\"/r/[0-9]+\"}\n" TO_SVC);
    const gw_rule *r = rule_of(&f->model, "r", 0);
    assert_string_equal(r->name, "first");
    assert_int_equal(r->match_count, 3);
    const gw_match *m = &r->matches[0];
    assert_int_equal(m->path_kind, GW_PATH_PREFIX);
    assert_string_equal(m->path, "/api"); /* trailing '/' ignored */
    assert_string_equal(m->method, "POST");
    assert_int_equal(m->header_count, 2); /* X-A twice: the first only */
    assert_string_equal(m->headers[0].name, "X-A");
    assert_string_equal(m->headers[0].value, "1");
    assert_false(m->headers[0].regex);
    assert_true(m->headers[1].regex);
    assert_int_equal(m->query_count, 2); /* query names keep their case */
    assert_int_equal(r->matches[1].path_kind, GW_PATH_EXACT);
    assert_int_equal(r->matches[2].path_kind, GW_PATH_REGEX);
    assert_string_equal(r->matches[2].path, "/r/[0-9]+");
}

static void
test_invalid_regular_expression_is_an_error_naming_the_field(void **state)
{
    fixture *f = *state;
    assert_int_equal(build(f, GATEWAY SERVICE ROUTE_HEAD(
                                  "r") "  rules:\n"
                                       "  - matches:\n"
                                       "    - headers: [{type: "
                                       "RegularExpression, name: a, value: "
                                       "\"(\"}]\n" TO_SVC),
                     1);
    assert_string_equal(gwf_diag_line(&f->errors, 0),
                        "m.yaml:32: HTTPRoute default/r: "
                        "spec.rules[0].matches[0].headers[0].value: invalid "
                        "regular expression at offset 1: missing closing "
                        "parenthesis");
}

static void
test_control_characters_in_header_values_are_errors(void **state)
{
    fixture *f = *state;
    assert_int_equal(
        build(f, GATEWAY ROUTE_HEAD(
                     "r") "  rules:\n"
                          "  - matches: [{headers: [{name: a, value: "
                          "\"x\\r\\ny\"}]}]\n"
                          "    filters:\n"
                          "    - type: ResponseHeaderModifier\n"
                          "      responseHeaderModifier:\n"
                          "        add: [{name: b, value: \"1\\n2\"}]\n"),
        2);
    assert_true(error_contains(f, "headers[0].value: must not contain "
                                  "control characters"));
    assert_true(error_contains(f, "add[0].value: must not contain control "
                                  "characters"));
}

static void
test_filters_are_read_into_the_rule(void **state)
{
    fixture *f = *state;
    build_ok(
        f,
        GATEWAY SERVICE ROUTE_HEAD(
            "r") "  rules:\n"
                 "  - matches: [{path: {value: /p}}]\n"
                 "    filters:\n"
                 "    - type: RequestHeaderModifier\n"
                 "      requestHeaderModifier:\n"
                 "        set: [{name: X-S, value: s}]\n"
                 "        add: [{name: X-A, value: a}]\n"
                 "        remove: [X-R]\n"
                 "    - type: ResponseHeaderModifier\n"
                 "      responseHeaderModifier: {set: [{name: X-O, value: "
                 "o}]}\n"
                 "    - type: URLRewrite\n"
                 "      urlRewrite:\n"
                 "        hostname: new.example.com\n"
                 "        path: {type: ReplacePrefixMatch, replacePrefixMatch: "
                 "/q}\n"
                 "    - type: RequestMirror\n"
                 "      requestMirror:\n"
                 "        backendRef: {name: svc, port: 8080}\n"
                 "        fraction: {numerator: 1, denominator: 4}\n"
                 "    - type: RequestMirror\n"
                 "      requestMirror:\n"
                 "        backendRef: {name: svc, port: 8080}\n" TO_SVC);
    const gw_filters *fl = &rule_of(&f->model, "r", 0)->filters;
    assert_int_equal(fl->request_header_count, 3);
    assert_int_equal(fl->request_headers[0].op, GW_HEADER_SET);
    assert_int_equal(fl->request_headers[1].op, GW_HEADER_ADD);
    assert_int_equal(fl->request_headers[2].op, GW_HEADER_REMOVE);
    assert_string_equal(fl->request_headers[2].name, "X-R");
    assert_null(fl->request_headers[2].value);
    assert_int_equal(fl->response_header_count, 1);
    assert_non_null(fl->rewrite);
    assert_string_equal(fl->rewrite->hostname, "new.example.com");
    assert_int_equal(fl->rewrite->path_mod, GW_PATH_REPLACE_PREFIX);
    assert_string_equal(fl->rewrite->path, "/q");
    assert_int_equal(fl->mirror_count, 2);
    assert_true(fl->mirrors[0].percent == 25.0);
    assert_true(fl->mirrors[1].percent == 100.0);
    assert_ptr_equal(fl->mirrors[0].backend, f->model.backends[0]);
}

static void
test_redirect_defaults_to_302_and_needs_no_backend(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY ROUTE_HEAD("r") "  rules:\n"
                                        "  - filters:\n"
                                        "    - type: RequestRedirect\n"
                                        "      requestRedirect:\n"
                                        "        scheme: https\n"
                                        "        port: 8443\n"
                                        "        path: {type: ReplaceFullPath, "
                                        "replaceFullPath: /new}\n");
    const gw_rule *r = rule_of(&f->model, "r", 0);
    assert_non_null(r->filters.redirect);
    assert_int_equal(r->filters.redirect->status, 302);
    assert_string_equal(r->filters.redirect->scheme, "https");
    assert_int_equal(r->filters.redirect->port, 8443);
    assert_int_equal(r->filters.redirect->path_mod, GW_PATH_REPLACE_FULL);
    assert_int_equal(r->fixed_status, 0);
}

static void
test_redirect_and_rewrite_together_are_an_error(void **state)
{
    fixture *f = *state;
    assert_int_equal(
        build(f, GATEWAY ROUTE_HEAD("r") "  rules:\n"
                                         "  - filters:\n"
                                         "    - {type: RequestRedirect, "
                                         "requestRedirect: {port: 1}}\n"
                                         "    - {type: URLRewrite, urlRewrite: "
                                         "{hostname: a.com}}\n"),
        1);
    assert_true(error_contains(
        f, "m.yaml:15: HTTPRoute default/r: spec.rules[0].filters: "
           "RequestRedirect and URLRewrite may not both be set"));
    assert_int_equal(f->model.route_count, 0);
}

static void
test_filter_field_of_another_type_is_an_error(void **state)
{
    fixture *f = *state;
    assert_int_equal(build(f, GATEWAY ROUTE_HEAD(
                                  "r") "  rules:\n"
                                       "  - filters:\n"
                                       "    - type: RequestHeaderModifier\n"
                                       "      requestHeaderModifier: {set: "
                                       "[{name: a, value: b}]}\n"
                                       "      urlRewrite: {hostname: a.com}\n"),
                     1);
    assert_true(error_contains(f, "spec.rules[0].filters[0].urlRewrite: must "
                                  "not be set in a filter of type "
                                  "RequestHeaderModifier"));
}

static void
test_replace_prefix_match_needs_one_path_prefix_match(void **state)
{
    fixture *f = *state;
    assert_int_equal(
        build(f, GATEWAY ROUTE_HEAD(
                     "r") "  rules:\n"
                          "  - matches: [{path: {type: Exact, value: /a}}]\n"
                          "    filters:\n"
                          "    - type: URLRewrite\n"
                          "      urlRewrite: {path: {type: ReplacePrefixMatch, "
                          "replacePrefixMatch: /b}}\n"),
        1);
    assert_true(error_contains(f, "ReplacePrefixMatch needs exactly one "
                                  "match with a PathPrefix path"));
}

static void
test_unsupported_filter_makes_the_rule_answer_500(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY SERVICE ROUTE_HEAD(
                    "r") "  rules:\n"
                         "  - filters: [{type: ExternalAuth, externalAuth: "
                         "{protocol: HTTP, backendRef: {name: a}}}]\n" TO_SVC);
    assert_int_equal(rule_of(&f->model, "r", 0)->fixed_status, 500);
    assert_cond(&parent(&f->model, "r", 0)->conditions, "PartiallyInvalid",
                true, "UnsupportedValue");
    assert_cond(&parent(&f->model, "r", 0)->conditions, "Accepted", true,
                "Accepted");
}

/* A CORS filter is kept as the path of its node, for the cors plugin;
 * the rule serves. */
static void
test_cors_filter_is_kept_as_its_field_path(void **state)
{
    fixture *f = *state;
    build_ok(
        f,
        GATEWAY SERVICE ROUTE_HEAD(
            "r") "  rules:\n"
                 "  - filters:\n"
                 "    - {type: RequestHeaderModifier, "
                 "requestHeaderModifier: {set: [{name: a, value: b}]}}\n"
                 "    - {type: CORS, cors: {allowOrigins: [\"*\"]}}\n" TO_SVC);
    const gw_rule *r = rule_of(&f->model, "r", 0);
    assert_int_equal(r->fixed_status, 0);
    assert_non_null(r->filters.cors_route);
    assert_string_equal(r->filters.cors_route->name, "r");
    assert_string_equal(r->filters.cors_field, "spec.rules[0].filters[1].cors");
}

/* Two CORS filters in one list are an error, as the API server's CEL
 * rule makes them (one cors plugin per rule). */
static void
test_two_cors_filters_are_an_error(void **state)
{
    fixture *f = *state;
    assert_int_equal(
        build(f, GATEWAY SERVICE ROUTE_HEAD(
                     "r") "  rules:\n"
                          "  - filters:\n"
                          "    - {type: CORS, cors: {allowOrigins: [\"*\"]}}\n"
                          "    - {type: CORS, cors: {allowOrigins: "
                          "[\"*\"]}}\n" TO_SVC),
        1);
    assert_true(error_contains(f, "spec.rules[0].filters[1].type: CORS may "
                                  "appear only once"));
}

/* A CORS filter on a backendRef cannot run (CORS answers before a
 * backend is chosen): the rule answers 500 and the route says why. */
static void
test_cors_filter_on_a_backend_ref_makes_the_rule_answer_500(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY SERVICE ROUTE_HEAD(
                    "r") "  rules:\n"
                         "  - backendRefs: [{name: svc, port: 8080, filters: "
                         "[{type: CORS, cors: {allowOrigins: [\"*\"]}}]}]\n");
    assert_int_equal(rule_of(&f->model, "r", 0)->fixed_status, 500);
    assert_cond(&parent(&f->model, "r", 0)->conditions, "PartiallyInvalid",
                true, "UnsupportedValue");
}

/* An ExtensionRef to a DirectResponse makes the rule answer it; one to a
 * document that does not exist, or to a kind gwf does not apply, fails
 * the rule closed and the route says why. */
static void
test_extension_ref_to_a_direct_response_answers_it(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY SERVICE
             "apiVersion: gateway.kgateway.dev/v1alpha1\n"
             "kind: DirectResponse\n"
             "metadata: {name: dr}\n"
             "spec: {status: 418}\n"
             "---\n" ROUTE_HEAD(
                 "r") "  rules:\n"
                      "  - filters:\n"
                      "    - type: ExtensionRef\n"
                      "      extensionRef: {group: gateway.kgateway.dev, kind: "
                      "DirectResponse, name: dr}\n");
    const gw_rule *r = rule_of(&f->model, "r", 0);
    assert_int_equal(r->fixed_status, 0);
    const gwf_doc *dr = gw_filters_direct_response(&r->filters);
    assert_non_null(dr);
    assert_string_equal(dr->name, "dr");
}

static void
test_extension_ref_that_does_not_resolve_fails_closed(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY SERVICE ROUTE_HEAD(
                    "r") "  rules:\n"
                         "  - filters:\n"
                         "    - type: ExtensionRef\n"
                         "      extensionRef: {group: gateway.kgateway.dev, "
                         "kind: DirectResponse, name: missing}\n" TO_SVC
                         "  - filters:\n"
                         "    - type: ExtensionRef\n"
                         "      extensionRef: {group: example.com, kind: "
                         "Widget, name: w}\n" TO_SVC);
    assert_int_equal(rule_of(&f->model, "r", 0)->fixed_status, 500);
    assert_int_equal(rule_of(&f->model, "r", 1)->fixed_status, 500);
    const gw_condition *c =
        cond(&parent(&f->model, "r", 0)->conditions, "PartiallyInvalid");
    assert_non_null(c);
    assert_non_null(strstr(c->message, "DirectResponse default/missing not "
                                       "found"));
}

/* -- kgateway policies that target what gwf serves ---------------------- */

#define POLICY(kind, targets)                                                  \
    "apiVersion: gateway.kgateway.dev/v1alpha1\n"                              \
    "kind: " kind "\n"                                                         \
    "metadata: {name: p, namespace: default}\n"                                \
    "spec:\n" targets "---\n"

/* A TrafficPolicy `name` created at `when` (an RFC 3339 time). */
#define TP(name, when, spec)                                                   \
    "apiVersion: gateway.kgateway.dev/v1alpha1\n"                              \
    "kind: TrafficPolicy\n"                                                    \
    "metadata: {name: " name ", namespace: default, creationTimestamp: "       \
    "\"" when "\"}\n"                                                          \
    "spec:\n" spec "---\n"

#define TARGET(kind, name) "  targetRefs: [{kind: " kind ", name: " name "}]\n"
#define TARGET_SECTION(kind, name, section)                                    \
    "  targetRefs: [{kind: " kind ", name: " name ", sectionName: " section    \
    "}]\n"
#define EXT_AUTH(ext) "  extAuth: {extensionRef: {name: " ext "}}\n"
#define LOCAL_LIMIT                                                            \
    "  rateLimit: {local: {tokenBucket: {maxTokens: 1, fillInterval: 1s}}}\n"

#define TWO_RULES                                                              \
    "  rules:\n"                                                               \
    "  - name: a\n"                                                            \
    "    matches: [{path: {type: PathPrefix, value: /a}}]\n" TO_SVC            \
    "  - name: b\n"                                                            \
    "    matches: [{path: {type: PathPrefix, value: /b}}]\n" TO_SVC

/* The policy set of the first entry of rule route[index]. */
static const gw_policy_set *
set_of(const gw_model *m, const char *route, size_t index)
{
    const gw_rule *r = rule_of(m, route, index);
    for (size_t i = 0; i < m->port_count; i++)
        for (size_t k = 0; k < m->ports[i].vhost_count; k++)
            for (size_t j = 0; j < m->ports[i].vhosts[k].entry_count; j++)
                if (m->ports[i].vhosts[k].entries[j].rule == r)
                    return m->ports[i].vhosts[k].entries[j].policy;
    fail_msg("rule %s[%zu] is served nowhere", route, index);
    return NULL;
}

static const char *
field_from(const gw_model *m, const char *route, size_t index,
           gwf_policy_field f)
{
    const gw_policy_set *s = set_of(m, route, index);
    return s && s->fields[f] ? s->fields[f]->name : NULL;
}

static void
test_traffic_policy_targeting_a_route_reaches_each_rule(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY SERVICE TP("p", "2024-01-01T00:00:00Z",
                                   TARGET("HTTPRoute", "r") EXT_AUTH("authz"))
                    ROUTE_HEAD("r") TWO_RULES "---\n" ROUTE_HEAD("other")
                        TWO_RULES);
    assert_string_equal(field_from(&f->model, "r", 0, GWF_PF_EXT_AUTH), "p");
    assert_string_equal(field_from(&f->model, "r", 1, GWF_PF_EXT_AUTH), "p");
    assert_null(set_of(&f->model, "other", 0));
    assert_int_equal(rule_of(&f->model, "r", 0)->fixed_status, 0);
}

static void
test_policy_with_section_name_reaches_only_that_rule(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY SERVICE TP("p", "2024-01-01T00:00:00Z",
                                   TARGET_SECTION("HTTPRoute", "r", "b")
                                       EXT_AUTH("authz")) ROUTE_HEAD("r")
                    TWO_RULES);
    assert_null(set_of(&f->model, "r", 0));
    assert_string_equal(field_from(&f->model, "r", 1, GWF_PF_EXT_AUTH), "p");
}

/* kgateway's LocalPolicyTargetSelectorWithSectionName: a selector with
 * a sectionName reaches that rule of each selected route only. */
static void
test_policy_selector_with_section_name_reaches_only_that_rule(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY SERVICE POLICY(
                    "TrafficPolicy",
                    "  targetSelectors: [{group: gateway.networking.k8s.io, "
                    "kind: HTTPRoute, matchLabels: {app: web}, sectionName: "
                    "a}]\n" EXT_AUTH(
                        "authz")) "apiVersion: gateway.networking.k8s.io/v1\n"
                                  "kind: HTTPRoute\n"
                                  "metadata: {name: r, namespace: default, "
                                  "labels: {app: web}}\n"
                                  "spec:\n"
                                  "  parentRefs: [{name: gw}]\n" TWO_RULES);
    assert_string_equal(field_from(&f->model, "r", 0, GWF_PF_EXT_AUTH), "p");
    assert_null(set_of(&f->model, "r", 1));
}

/* Shallow merge: each field from the most specific policy that sets it;
 * the Gateway's extAuth stays, the route's local limit wins. */
static void
test_route_policy_and_gateway_policy_merge_field_by_field(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY SERVICE TP("gw-wide", "2024-01-01T00:00:00Z",
                                   TARGET("Gateway", "gw") EXT_AUTH("authz")
                                       LOCAL_LIMIT)
                    TP("route", "2025-01-01T00:00:00Z",
                       TARGET("HTTPRoute", "r") LOCAL_LIMIT) ROUTE_HEAD("r")
                        TWO_RULES);
    assert_string_equal(field_from(&f->model, "r", 0, GWF_PF_EXT_AUTH),
                        "gw-wide");
    assert_string_equal(field_from(&f->model, "r", 0, GWF_PF_RATE_LIMIT_LOCAL),
                        "route");
    assert_null(field_from(&f->model, "r", 0, GWF_PF_JWT_AUTH));
    const gw_policy_set *s = set_of(&f->model, "r", 0);
    assert_int_equal(s->member_count, 2);
    assert_string_equal(s->members[0]->name, "route");
}

/* ExtensionRef > rule (sectionName) > route > listener > Gateway. */
static void
test_more_specific_attachment_wins_each_field(void **state)
{
    fixture *f = *state;
    build_ok(
        f,
        GATEWAY SERVICE TP("g", "2020-01-01T00:00:00Z",
                           TARGET("Gateway", "gw") EXT_AUTH("g"))
            TP("l", "2020-01-01T00:00:00Z",
               TARGET_SECTION("Gateway", "gw", "http")
                   EXT_AUTH("l")) TP("rt", "2020-01-01T00:00:00Z",
                                     TARGET("HTTPRoute", "r") EXT_AUTH("rt"))
                TP("ru", "2020-01-01T00:00:00Z",
                   TARGET_SECTION("HTTPRoute", "r", "a") EXT_AUTH("ru"))
                    TP("x", "2030-01-01T00:00:00Z", EXT_AUTH("x"))
                        ROUTE_HEAD("r") "  rules:\n"
                                        "  - name: a\n"
                                        "    filters:\n"
                                        "    - type: ExtensionRef\n"
                                        "      extensionRef: {group: "
                                        "gateway.kgateway.dev, kind: "
                                        "TrafficPolicy, name: x}\n" TO_SVC
                                        "  - name: b\n" TO_SVC "  - name: c\n"
                                        "    matches: [{path: {value: "
                                        "/c}}]\n" TO_SVC);
    assert_string_equal(field_from(&f->model, "r", 0, GWF_PF_EXT_AUTH), "x");
    assert_string_equal(field_from(&f->model, "r", 1, GWF_PF_EXT_AUTH), "rt");
    assert_int_equal(set_of(&f->model, "r", 0)->member_count, 5);
}

static void
test_among_equals_the_older_policy_wins(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY SERVICE TP("young", "2025-01-01T00:00:00Z",
                                   TARGET("HTTPRoute", "r") EXT_AUTH("a"))
                    TP("old", "2021-01-01T00:00:00Z",
                       TARGET("HTTPRoute", "r") EXT_AUTH("b")) ROUTE_HEAD("r")
                        TWO_RULES);
    assert_string_equal(field_from(&f->model, "r", 0, GWF_PF_EXT_AUTH), "old");
}

static void
test_gateway_preferring_parent_overrides_routes(void **state)
{
    fixture *f = *state;
    build_ok(f, "apiVersion: gateway.networking.k8s.io/v1\n"
                "kind: Gateway\n"
                "metadata:\n"
                "  name: gw\n"
                "  namespace: default\n"
                "  annotations: {kgateway.dev/inherited-policy-priority: "
                "ShallowMergePreferParent}\n"
                "spec:\n"
                "  gatewayClassName: gwf\n"
                "  listeners:\n"
                "  - {name: http, port: 80, protocol: HTTP}\n"
                "---\n" SERVICE TP("g", "2025-01-01T00:00:00Z",
                                   TARGET("Gateway", "gw") EXT_AUTH("g"))
                    TP("rt", "2020-01-01T00:00:00Z",
                       TARGET("HTTPRoute", "r") EXT_AUTH("rt") LOCAL_LIMIT)
                        ROUTE_HEAD("r") TWO_RULES);
    assert_string_equal(field_from(&f->model, "r", 0, GWF_PF_EXT_AUTH), "g");
    assert_string_equal(field_from(&f->model, "r", 0, GWF_PF_RATE_LIMIT_LOCAL),
                        "rt");
}

/* `disable` is a value of its field: the route's switches the Gateway's
 * off (the plan then adds no entry for it). */
static void
test_disable_wins_its_field_over_a_broader_policy(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY SERVICE TP("g", "2020-01-01T00:00:00Z",
                                   TARGET("Gateway", "gw") EXT_AUTH("g"))
                    TP("off", "2025-01-01T00:00:00Z",
                       TARGET_SECTION("HTTPRoute", "r",
                                      "b") "  extAuth: {disable: {}}\n")
                        ROUTE_HEAD("r") TWO_RULES);
    assert_string_equal(field_from(&f->model, "r", 0, GWF_PF_EXT_AUTH), "g");
    assert_string_equal(field_from(&f->model, "r", 1, GWF_PF_EXT_AUTH), "off");
}

/* cors, csrf, basicAuth and apiKeyAuth merge like the other fields:
 * each whole from the most specific policy that sets it; the route's
 * `cors: {disable: {}}` wins cors over the Gateway's. */
static void
test_new_fields_merge_field_by_field_and_disable_wins(void **state)
{
    fixture *f = *state;
    build_ok(
        f, GATEWAY SERVICE TP(
               "gw-wide", "2024-01-01T00:00:00Z",
               TARGET("Gateway", "gw") "  cors: {allowOrigins: [\"*\"]}\n"
                                       "  csrf: {percentageEnabled: 100}\n"
                                       "  basicAuth: {users: [\"u:{SHA}x\"]}\n")
               TP("route", "2025-01-01T00:00:00Z",
                  TARGET("HTTPRoute",
                         "r") "  cors: {disable: {}}\n"
                              "  apiKeyAuth: {secretRef: {name: keys}}\n")
                   ROUTE_HEAD("r") TWO_RULES);
    assert_string_equal(field_from(&f->model, "r", 0, GWF_PF_CORS), "route");
    assert_string_equal(field_from(&f->model, "r", 0, GWF_PF_CSRF), "gw-wide");
    assert_string_equal(field_from(&f->model, "r", 0, GWF_PF_BASIC_AUTH),
                        "gw-wide");
    assert_string_equal(field_from(&f->model, "r", 0, GWF_PF_API_KEY_AUTH),
                        "route");
    assert_null(field_from(&f->model, "r", 0, GWF_PF_JWT_AUTH));
}

/* Among policies of one level the older wins basicAuth too. */
static void
test_new_field_among_equals_the_older_policy_wins(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY SERVICE TP(
                    "young", "2025-01-01T00:00:00Z",
                    TARGET("HTTPRoute",
                           "r") "  basicAuth: {users: [\"a:{SHA}x\"]}\n")
                    TP("old", "2021-01-01T00:00:00Z",
                       TARGET("HTTPRoute",
                              "r") "  basicAuth: {users: [\"b:{SHA}x\"]}\n")
                        ROUTE_HEAD("r") TWO_RULES);
    assert_string_equal(field_from(&f->model, "r", 0, GWF_PF_BASIC_AUTH),
                        "old");
}

/* A policy that gives no field gwf runs (all it sets is unsupported)
 * still reaches the entry, as a member, to be judged. */
static void
test_policy_without_a_runnable_field_is_still_a_member(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY SERVICE TP("tf", "2020-01-01T00:00:00Z",
                                   TARGET("HTTPRoute", "r") "  transformation: "
                                                            "{request: {}}\n")
                    ROUTE_HEAD("r") TWO_RULES);
    const gw_policy_set *s = set_of(&f->model, "r", 0);
    assert_non_null(s);
    assert_int_equal(s->member_count, 1);
    for (size_t i = 0; i < GWF_PF_COUNT; i++)
        assert_null(s->fields[i]);
}

static void
test_equal_merges_share_one_policy_set(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY SERVICE TP("g", "2020-01-01T00:00:00Z",
                                   TARGET("Gateway", "gw") EXT_AUTH("g"))
                    ROUTE_HEAD("r") TWO_RULES "---\n" ROUTE_HEAD("other")
                        TWO_RULES);
    assert_ptr_equal(set_of(&f->model, "r", 0), set_of(&f->model, "other", 1));
    assert_int_equal(f->model.policy_set_count, 1);
}

static void
test_policy_status_names_each_gateway_it_reaches_once(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY SERVICE TP("used", "2020-01-01T00:00:00Z",
                                   TARGET("HTTPRoute", "r") EXT_AUTH("a"))
                    ROUTE_HEAD("r") TWO_RULES);
    for (size_t i = 0; i < f->model.object_count; i++) {
        const gw_object_status *o = &f->model.objects[i];
        if (strcmp(o->doc->kind, "TrafficPolicy") != 0)
            continue;
        assert_int_equal(o->ancestor_count, 1);
        assert_string_equal(o->ancestors[0]->name, "gw");
        return;
    }
    fail_msg("no status for the TrafficPolicy");
}

static void
test_policy_status_says_whether_it_attached(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY SERVICE TP("used", "2020-01-01T00:00:00Z",
                                   TARGET("HTTPRoute", "r") EXT_AUTH("a"))
                    TP("unused", "2020-01-01T00:00:00Z",
                       TARGET("HTTPRoute", "nope") EXT_AUTH("a"))
                        ROUTE_HEAD("r") TWO_RULES);
    for (size_t i = 0; i < f->model.object_count; i++) {
        const gw_object_status *o = &f->model.objects[i];
        if (strcmp(o->doc->kind, "TrafficPolicy") != 0)
            continue;
        bool used = strcmp(o->doc->name, "used") == 0;
        assert_cond(&o->conditions, "Attached", used,
                    used ? "Attached" : "NoTargetFound");
    }
}

static void
test_policy_targeting_a_gateway_fails_its_routes_closed(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY SERVICE POLICY(
                    "HTTPListenerPolicy",
                    "  targetRefs: [{group: gateway.networking.k8s.io, kind: "
                    "Gateway, name: gw}]\n"
                    "  tracing: {provider: {openTelemetry: {}}}\n")
                    ROUTE_HEAD("r") TWO_RULES);
    assert_int_equal(rule_of(&f->model, "r", 0)->fixed_status, 500);
    assert_int_equal(rule_of(&f->model, "r", 1)->fixed_status, 500);
}

static void
test_backend_policy_fails_the_rules_using_its_service_closed(void **state)
{
    fixture *f = *state;
    build_ok(
        f,
        GATEWAY SERVICE POLICY(
            "BackendConfigPolicy",
            "  targetSelectors: [{group: \"\", kind: Service, "
            "matchLabels: {tier: db}}]\n") "apiVersion: v1\n"
                                           "kind: Service\n"
                                           "metadata: {name: db, namespace: "
                                           "default, labels: {tier: "
                                           "db}}\n"
                                           "spec: {ports: [{port: 80}]}\n"
                                           "---\n" ROUTE_HEAD(
                                               "r") "  rules:\n"
                                                    "  - matches: [{path: "
                                                    "{type: PathPrefix, value: "
                                                    "/db}}]\n"
                                                    "    backendRefs: [{name: "
                                                    "db, port: 80}]\n"
                                                    "  - matches: [{path: "
                                                    "{type: PathPrefix, value: "
                                                    "/a}}]\n" TO_SVC);
    assert_int_equal(rule_of(&f->model, "r", 0)->fixed_status, 500);
    assert_int_equal(rule_of(&f->model, "r", 1)->fixed_status, 0);
}

/* -- Access logs: HTTPListenerPolicy, ListenerPolicy -------------------- */

#define GATEWAY_TWO_LISTENERS                                                  \
    "apiVersion: gateway.networking.k8s.io/v1\n"                               \
    "kind: Gateway\n"                                                          \
    "metadata: {name: gw, namespace: default}\n"                               \
    "spec:\n"                                                                  \
    "  gatewayClassName: gwf\n"                                                \
    "  listeners:\n"                                                           \
    "  - {name: http, port: 80, protocol: HTTP}\n"                             \
    "  - {name: alt, port: 81, protocol: HTTP}\n"                              \
    "---\n"

#define GW_TARGET                                                              \
    "  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, "        \
    "name: gw}]\n"

static const gw_object_status *
object_of(const gw_model *m, const char *kind)
{
    for (size_t i = 0; i < m->object_count; i++)
        if (strcmp(m->objects[i].doc->kind, kind) == 0)
            return &m->objects[i];
    fail_msg("no status for a %s", kind);
    return NULL;
}

/* The Accepted condition of the only `kind` says False and names `what`. */
static void
assert_refused(const gw_model *m, const char *kind, const char *what)
{
    const gw_conditions *c = &object_of(m, kind)->conditions;
    assert_cond(c, "Accepted", false, "Invalid");
    if (!strstr(cond(c, "Accepted")->message, what))
        fail_msg("Accepted message \"%s\" does not name %s",
                 cond(c, "Accepted")->message, what);
}

static void
test_http_listener_policy_logs_on_every_listener_of_its_gateway(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY_TWO_LISTENERS SERVICE POLICY(
                    "HTTPListenerPolicy",
                    GW_TARGET "  accessLog:\n"
                              "  - fileSink:\n"
                              "      path: /dev/stdout\n"
                              "      stringFormat: \"%REQ(:METHOD)% %%\\n\"\n")
                    ROUTE_HEAD("r") TWO_RULES);
    assert_int_equal(f->model.access_log_count, 2);
    for (size_t i = 0; i < 2; i++) {
        const gw_access_log *l = &f->model.access_logs[i];
        assert_int_equal(l->listener, i);
        assert_string_equal(l->path, "/dev/stdout");
        assert_false(l->json);
        assert_int_equal(l->value_count, 1);
        assert_int_equal(l->values[0].piece_count, 2);
        assert_int_equal(l->values[0].pieces[0].op, GW_LOG_REQ);
        assert_string_equal(l->values[0].pieces[0].text, ":method");
        assert_int_equal(l->values[0].pieces[1].op, GW_LOG_TEXT);
        assert_string_equal(l->values[0].pieces[1].text, " %");
    }
    assert_int_equal(rule_of(&f->model, "r", 0)->fixed_status, 0);
    const gw_conditions *c =
        &object_of(&f->model, "HTTPListenerPolicy")->conditions;
    assert_cond(c, "Accepted", true, "Accepted");
    assert_cond(c, "Attached", true, "Attached");
}

/* A policy that reaches a rule twice (its route and the rule by
 * sectionName) is one member of the rule's set, at the better level, and
 * its status counts the rule once. */
static void
test_policy_reaching_a_rule_twice_counts_it_once(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY SERVICE TP("p", "2020-01-01T00:00:00Z",
                                   "  targetRefs:\n"
                                   "  - {kind: HTTPRoute, name: r}\n"
                                   "  - {kind: HTTPRoute, name: r, "
                                   "sectionName: a}\n" EXT_AUTH("a"))
                    ROUTE_HEAD("r") TWO_RULES);
    const gw_policy_set *s = set_of(&f->model, "r", 0);
    assert_non_null(s);
    assert_int_equal(s->member_count, 1);
    assert_string_equal(field_from(&f->model, "r", 0, GWF_PF_EXT_AUTH), "p");
    const gw_conditions *c = &object_of(&f->model, "TrafficPolicy")->conditions;
    assert_cond(c, "Attached", true, "Attached");
    assert_string_equal(cond(c, "Attached")->message,
                        "applies to 2 routing entries (a rule served under one "
                        "hostname of one listener)");
}

static void
test_access_log_json_format_keeps_member_order_and_parses_operators(
    void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY SERVICE POLICY(
                    "HTTPListenerPolicy", GW_TARGET
                    "  accessLog:\n"
                    "  - fileSink:\n"
                    "      path: /tmp/a.log\n"
                    "      jsonFormat:\n"
                    "        z: \"%REQ(X-ENVOY-ORIGINAL-METHOD?:METHOD)%\"\n"
                    "        a: \"%REQ(User-Agent):5%\"\n"
                    "        n: 3\n"
                    "        m: \"%DYNAMIC_METADATA(io.solo.x)%\"\n"
                    "        t: \"%START_TIME(%s)%\"\n") ROUTE_HEAD("r")
                    TWO_RULES);
    assert_int_equal(f->model.access_log_count, 1);
    const gw_access_log *l = &f->model.access_logs[0];
    assert_true(l->json);
    assert_int_equal(l->value_count, 5);
    assert_string_equal(l->values[0].key, "z");
    assert_string_equal(l->values[0].pieces[0].text, "x-envoy-original-method");
    assert_string_equal(l->values[0].pieces[0].fallback, ":method");
    assert_string_equal(l->values[1].key, "a");
    assert_int_equal(l->values[1].pieces[0].max_len, 5);
    assert_true(l->values[2].raw);
    assert_string_equal(l->values[2].pieces[0].text, "3");
    assert_int_equal(l->values[3].pieces[0].op, GW_LOG_MISSING);
    assert_int_equal(l->values[4].pieces[0].op, GW_LOG_START_TIME_S);
}

static void
test_listener_policy_per_port_replaces_its_default(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY_TWO_LISTENERS SERVICE POLICY(
                    "ListenerPolicy",
                    GW_TARGET "  default:\n"
                              "    httpSettings:\n"
                              "      accessLog: [{fileSink: {path: /d.log, "
                              "stringFormat: \"%PROTOCOL%\"}}]\n"
                              "  perPort:\n"
                              "  - port: 81\n"
                              "    listener:\n"
                              "      httpSettings:\n"
                              "        accessLog: [{fileSink: {path: /p.log, "
                              "stringFormat: \"%DURATION%\"}}]\n")
                    ROUTE_HEAD("r") TWO_RULES);
    assert_int_equal(f->model.access_log_count, 2);
    assert_string_equal(f->model.access_logs[0].path, "/d.log");
    assert_int_equal(f->model.access_logs[0].listener, 0);
    assert_string_equal(f->model.access_logs[1].path, "/p.log");
    assert_int_equal(f->model.access_logs[1].listener, 1);
    assert_int_equal(f->model.access_logs[1].values[0].pieces[0].op,
                     GW_LOG_DURATION);
}

static void
test_listener_policy_section_name_logs_on_that_listener_only(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY_TWO_LISTENERS SERVICE POLICY(
                    "ListenerPolicy",
                    "  targetRefs: [{kind: Gateway, name: gw, sectionName: "
                    "alt}]\n"
                    "  default: {httpSettings: {accessLog: [{fileSink: "
                    "{path: /d.log, stringFormat: x}}]}}\n") ROUTE_HEAD("r")
                    TWO_RULES);
    assert_int_equal(f->model.access_log_count, 1);
    assert_int_equal(f->model.access_logs[0].listener, 1);
}

static void
test_access_log_operator_gwf_cannot_map_fails_routes_closed_naming_it(
    void **state)
{
    fixture *f = *state;
    build_ok(f,
             GATEWAY SERVICE POLICY("HTTPListenerPolicy", GW_TARGET
                                    "  accessLog: [{fileSink: {path: /a.log, "
                                    "stringFormat: \"%UPSTREAM_CLUSTER%\"}}]\n")
                 ROUTE_HEAD("r") TWO_RULES);
    assert_int_equal(f->model.access_log_count, 0);
    assert_int_equal(rule_of(&f->model, "r", 0)->fixed_status, 500);
    assert_int_equal(rule_of(&f->model, "r", 1)->fixed_status, 500);
    assert_refused(&f->model, "HTTPListenerPolicy",
                   "spec.accessLog[0].fileSink.stringFormat: "
                   "%UPSTREAM_CLUSTER%");
}

static void
test_access_log_sinks_and_filters_other_than_file_are_refused_by_name(
    void **state)
{
    static const char *const cases[][2] = {
        {"grpcService: {logName: x}", "spec.accessLog[0].grpcService"},
        {"openTelemetry: {}", "spec.accessLog[0].openTelemetry"},
        {"fileSink: {path: /a, stringFormat: x}, filter: {}",
         "spec.accessLog[0].filter"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fixture *f = *state;
        gw_model_free(&f->model);
        memset(&f->model, 0, sizeof f->model);
        gwf_manifests_free(f->m);
        f->m = gwf_manifests_new();
        char yaml[4096];
        snprintf(yaml, sizeof yaml,
                 GATEWAY SERVICE POLICY("HTTPListenerPolicy",
                                        GW_TARGET "  accessLog: [{%s}]\n")
                     ROUTE_HEAD("r") TWO_RULES,
                 cases[i][0]);
        build_ok(f, yaml);
        assert_int_equal(rule_of(&f->model, "r", 0)->fixed_status, 500);
        assert_refused(&f->model, "HTTPListenerPolicy", cases[i][1]);
    }
}

static void
test_access_log_path_must_be_absolute_plain_and_in_a_directory(void **state)
{
    static const char *const paths[] = {"logs/a.log", "/var/$host.log",
                                        "syslog:server=1.2.3.4",
                                        "/nonexistent-gwf-dir/a.log"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        fixture *f = *state;
        gw_model_free(&f->model);
        memset(&f->model, 0, sizeof f->model);
        gwf_manifests_free(f->m);
        f->m = gwf_manifests_new();
        char yaml[4096];
        snprintf(yaml, sizeof yaml,
                 GATEWAY SERVICE POLICY("HTTPListenerPolicy", GW_TARGET
                                        "  accessLog: [{fileSink: {path: "
                                        "\"%s\", stringFormat: x}}]\n")
                     ROUTE_HEAD("r") TWO_RULES,
                 paths[i]);
        build_ok(f, yaml);
        assert_int_equal(f->model.access_log_count, 0);
        assert_int_equal(rule_of(&f->model, "r", 0)->fixed_status, 500);
        assert_refused(&f->model, "HTTPListenerPolicy",
                       "spec.accessLog[0].fileSink.path");
    }
}

static void
test_listener_policy_other_fields_are_refused_by_name(void **state)
{
    fixture *f = *state;
    build_ok(f,
             GATEWAY SERVICE POLICY("ListenerPolicy", GW_TARGET
                                    "  default:\n"
                                    "    perConnectionBufferLimitBytes: 1024\n")
                 ROUTE_HEAD("r") TWO_RULES);
    assert_int_equal(rule_of(&f->model, "r", 0)->fixed_status, 500);
    assert_refused(&f->model, "ListenerPolicy",
                   "spec.default.perConnectionBufferLimitBytes");
}

static void
test_refused_listener_policy_leaves_another_gateways_routes_alone(void **state)
{
    fixture *f = *state;
    build_ok(
        f, GATEWAY SERVICE
        "apiVersion: gateway.networking.k8s.io/v1\n"
        "kind: Gateway\n"
        "metadata: {name: other, namespace: default}\n"
        "spec:\n"
        "  gatewayClassName: gwf\n"
        "  listeners:\n"
        "  - {name: http, port: 90, protocol: HTTP}\n"
        "---\n" POLICY(
            "HTTPListenerPolicy", GW_TARGET
            "  tracing: {}\n") "apiVersion: gateway.networking.k8s.io/v1\n"
                               "kind: HTTPRoute\n"
                               "metadata: {name: o, namespace: default}\n"
                               "spec:\n"
                               "  parentRefs: [{name: other}]\n" TWO_RULES);
    assert_int_equal(rule_of(&f->model, "o", 0)->fixed_status, 0);
    assert_int_equal(rule_of(&f->model, "o", 1)->fixed_status, 0);
    assert_refused(&f->model, "HTTPListenerPolicy", "spec.tracing");
}

static void
test_backend_config_policy_reports_accepted_false(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY SERVICE POLICY(
                    "BackendConfigPolicy",
                    "  targetRefs: [{group: \"\", kind: Service, name: "
                    "svc}]\n") ROUTE_HEAD("r") TWO_RULES);
    assert_refused(&f->model, "BackendConfigPolicy", "BackendConfigPolicy");
    assert_cond(&object_of(&f->model, "BackendConfigPolicy")->conditions,
                "Attached", true, "Attached");
}

static void
test_hostile_access_log_formats_never_crash(void **state)
{
    static const char *const formats[] = {
        "%",
        "%%%",
        "%REQ(%",
        "%REQ()%",
        "%REQ(a?)%",
        "%REQ(a):%",
        "%REQ(a):0%",
        "%REQ(a):99999999999%",
        "%req(a)%",
        "%REQ(a.b)%",
        "%RESP(a?b)%",
        "%START_TIME(%Y)%",
        "%BYTES_RECEIVED%",
    };
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        fixture *f = *state;
        gw_model_free(&f->model);
        memset(&f->model, 0, sizeof f->model);
        gwf_manifests_free(f->m);
        f->m = gwf_manifests_new();
        char yaml[4096];
        snprintf(yaml, sizeof yaml,
                 GATEWAY SERVICE POLICY("HTTPListenerPolicy", GW_TARGET
                                        "  accessLog: [{fileSink: {path: /a, "
                                        "stringFormat: \"%s\"}}]\n")
                     ROUTE_HEAD("r") TWO_RULES,
                 formats[i]);
        build_ok(f, yaml);
        if (f->model.access_log_count != 0)
            fail_msg("format %s was accepted", formats[i]);
        assert_int_equal(rule_of(&f->model, "r", 0)->fixed_status, 500);
    }
}

static void
test_policy_in_another_namespace_changes_nothing(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY SERVICE
             "apiVersion: gateway.kgateway.dev/v1alpha1\n"
             "kind: TrafficPolicy\n"
             "metadata: {name: p, namespace: elsewhere}\n"
             "spec:\n"
             "  targetRefs: [{group: gateway.networking.k8s.io, kind: "
             "HTTPRoute, name: r}]\n"
             "---\n" ROUTE_HEAD("r") TWO_RULES);
    assert_int_equal(rule_of(&f->model, "r", 0)->fixed_status, 0);
    assert_int_equal(rule_of(&f->model, "r", 1)->fixed_status, 0);
}

static void
test_timeouts_and_retry_are_read(void **state)
{
    fixture *f = *state;
    build_ok(f,
             GATEWAY SERVICE ROUTE_HEAD(
                 "r") "  rules:\n"
                      "  - timeouts: {request: 1m30s, backendRequest: 500ms}\n"
                      "    retry: {attempts: 3, codes: [502, 503], backoff: "
                      "1s}\n" TO_SVC);
    const gw_rule *r = rule_of(&f->model, "r", 0);
    assert_int_equal(r->request_timeout_ms, 90000);
    assert_int_equal(r->backend_timeout_ms, 500);
    assert_int_equal(r->retry.attempts, 3);
    assert_int_equal(r->retry.code_count, 2);
    assert_int_equal(r->retry.codes[1], 503);
    assert_int_equal(r->retry.backoff_ms, 1000);
}

static void
test_durations_follow_the_gateway_api_format(void **state)
{
    (void)state;
    uint64_t ms;
    assert_int_equal(gw_parse_duration("1h", &ms), 0);
    assert_int_equal(ms, 3600000);
    assert_int_equal(gw_parse_duration("1h2m3s4ms", &ms), 0);
    assert_int_equal(ms, 3723004);
    assert_int_equal(gw_parse_duration("0s", &ms), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(gw_parse_duration("99999ms", &ms), 0);
    assert_int_equal(ms, 99999);
    assert_int_equal(gw_parse_duration("100000s", &ms), -1); /* 6 digits */
    assert_int_equal(gw_parse_duration("1.5s", &ms), -1);
    assert_int_equal(gw_parse_duration("1s1s1s1s1s", &ms), -1);
    assert_int_equal(gw_parse_duration("10", &ms), -1);
    assert_int_equal(gw_parse_duration("", &ms), -1);
    assert_int_equal(gw_parse_duration("1d", &ms), -1);
}

static void
test_invalid_duration_is_an_error_naming_file_line_and_field(void **state)
{
    fixture *f = *state;
    assert_int_equal(build(f, GATEWAY SERVICE ROUTE_HEAD(
                                  "r") "  rules:\n"
                                       "  - timeouts: {request: 10}\n" TO_SVC),
                     1);
    assert_string_equal(gwf_diag_line(&f->errors, 0),
                        "m.yaml:31: HTTPRoute default/r: "
                        "spec.rules[0].timeouts.request: expected a string, "
                        "got integer 10");
}

static void
test_ids_that_fold_to_the_same_text_are_made_unique(void **state)
{
    fixture *f = *state;
    build_ok(f, "apiVersion: gateway.networking.k8s.io/v1\n"
                "kind: Gateway\n"
                "metadata: {name: gw}\n"
                "spec:\n"
                "  gatewayClassName: gwf\n"
                "  listeners:\n"
                "  - name: http\n"
                "    port: 80\n"
                "    protocol: HTTP\n"
                "    allowedRoutes: {namespaces: {from: All}}\n"
                "---\n"
                "apiVersion: gateway.networking.k8s.io/v1\n"
                "kind: HTTPRoute\n"
                "metadata: {name: web, namespace: team-a}\n"
                "spec: {parentRefs: [{name: gw, namespace: default}]}\n"
                "---\n"
                "apiVersion: gateway.networking.k8s.io/v1\n"
                "kind: HTTPRoute\n"
                "metadata: {name: a-web, namespace: team}\n"
                "spec: {parentRefs: [{name: gw, namespace: default}]}\n");
    /* Both fold to "team_a_web_r0"; "team-a/web" sorts before
     * "team/a-web" ('-' < '/'), so the latter gets the suffix. */
    assert_string_equal(rule_of(&f->model, "web", 0)->id, "team_a_web_r0");
    assert_string_equal(rule_of(&f->model, "a-web", 0)->id, "team_a_web_r0_2");
}

/* Kubernetes names go up to 253 bytes; the emitter takes ids of up to
 * 200 (a longer one failed the whole render). Two names that differ only
 * past the kept head still get different ids. */
static void
test_ids_of_long_names_are_bounded_and_distinct(void **state)
{
    fixture *f = *state;
    char a[254], b[254];
    memset(a, 'a', 253);
    a[253] = '\0';
    memcpy(b, a, sizeof b);
    a[252] = 'x';
    b[252] = 'y';
    char *yaml = NULL;
    assert_true(asprintf(&yaml,
                         GATEWAY SERVICE ROUTE_HEAD(
                             "%s") "  rules:\n"
                                   "  -" TO_SVC
                                   "---\n" ROUTE_HEAD("%s") "  rules:\n"
                                                            "  -" TO_SVC,
                         a, b) > 0);
    build_ok(f, yaml);
    free(yaml);
    const char *ia = rule_of(&f->model, a, 0)->id;
    const char *ib = rule_of(&f->model, b, 0)->id;
    assert_int_equal(strlen(ia), GW_ID_MAX);
    assert_int_equal(strlen(ib), GW_ID_MAX);
    assert_int_equal(strncmp(ia, "default_aaaa", 12), 0);
    assert_string_not_equal(ia, ib);
}

/* Routes x hostnames become vhosts: 90,000 distinct hostnames must not
 * cost 90,000 x 90,000 comparisons (over a minute under ASan; the test's
 * timeout fails it), and a hostname two routes share is one vhost. */
static void
test_many_hostnames_attach_in_linear_time(void **state)
{
    fixture *f = *state;
    enum { ROUTES = 6000, HOSTS = 16 };
    char *yaml = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&yaml, &len);
    assert_non_null(out);
    fputs(GATEWAY SERVICE, out);
    for (int i = 0; i < ROUTES; i++) {
        fprintf(out, ROUTE_HEAD("r%d") "  hostnames: [shared.example", i);
        for (int k = 1; k < HOSTS; k++)
            fprintf(out, ", h%d-%d.example", i, k);
        fputs("]\n  rules:\n  -" TO_SVC "---\n", out);
    }
    assert_int_equal(fclose(out), 0);
    build_ok(f, yaml);
    free(yaml);
    assert_int_equal(port(&f->model, 80)->vhost_count,
                     ROUTES * (HOSTS - 1) + 1);
    assert_int_equal(vhost(&f->model, "shared.example")->entry_count, ROUTES);
    assert_int_equal(vhost(&f->model, "h5999-15.example")->entry_count, 1);
}

/* -- Backends ----------------------------------------------------------- */

static void
test_weights_are_kept_and_zero_gets_nothing(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY SERVICE ROUTE_HEAD(
                    "r") "  rules:\n"
                         "  - backendRefs:\n"
                         "    - {name: svc, port: 8080, weight: 3}\n"
                         "    - {name: svc, port: 8080, weight: 0}\n");
    const gw_rule *r = rule_of(&f->model, "r", 0);
    assert_int_equal(r->backend_count, 2);
    assert_int_equal(r->backends[0].weight, 3);
    assert_int_equal(r->backends[1].weight, 0);
    /* Both refs share one backend. */
    assert_ptr_equal(r->backends[0].backend, r->backends[1].backend);
    assert_int_equal(f->model.backend_count, 1);
    assert_string_equal(f->model.backends[0]->id, "svc_default_svc_8080");
    assert_int_equal(r->fixed_status, 0);
}

static void
test_all_weights_zero_answers_500(void **state)
{
    fixture *f = *state;
    build_ok(
        f, GATEWAY SERVICE ROUTE_HEAD(
               "r") "  rules:\n"
                    "  - backendRefs: [{name: svc, port: 8080, weight: 0}]\n");
    assert_int_equal(rule_of(&f->model, "r", 0)->fixed_status, 500);
}

static void
test_rule_without_backends_answers_500(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY ROUTE_HEAD("r") "  rules: [{matches: [{path: {value: "
                                        "/a}}]}]\n");
    assert_int_equal(rule_of(&f->model, "r", 0)->fixed_status, 500);
}

static void
test_missing_service_keeps_its_share_as_backend_not_found(void **state)
{
    fixture *f = *state;
    build_ok(
        f, GATEWAY SERVICE ROUTE_HEAD("r") "  rules:\n"
                                           "  - backendRefs:\n"
                                           "    - {name: svc, port: 8080}\n"
                                           "    - {name: gone, port: 8080}\n");
    const gw_rule *r = rule_of(&f->model, "r", 0);
    assert_non_null(r->backends[0].backend);
    assert_null(r->backends[1].backend);
    assert_int_equal(r->backends[1].weight, 1);
    assert_int_equal(r->fixed_status, 0);
    const gw_route_parent *p = parent(&f->model, "r", 0);
    assert_cond(&p->conditions, "Accepted", true, "Accepted");
    assert_cond(&p->conditions, "ResolvedRefs", false, "BackendNotFound");
    assert_string_equal(cond(&p->conditions, "ResolvedRefs")->message,
                        "spec.rules[0].backendRefs[1]: Service default/gone "
                        "not found");
}

static void
test_only_unresolved_backends_answer_500(void **state)
{
    fixture *f = *state;
    build_ok(f,
             GATEWAY ROUTE_HEAD(
                 "r") "  rules: [{backendRefs: [{name: gone, port: 80}]}]\n");
    assert_int_equal(rule_of(&f->model, "r", 0)->fixed_status, 500);
}

static void
test_missing_service_port_is_backend_not_found(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY SERVICE ROUTE_HEAD(
                    "r") "  rules: [{backendRefs: [{name: svc, port: 81}]}]\n");
    assert_cond(&parent(&f->model, "r", 0)->conditions, "ResolvedRefs", false,
                "BackendNotFound");
    assert_string_equal(
        cond(&parent(&f->model, "r", 0)->conditions, "ResolvedRefs")->message,
        "Service default/svc has no port 81");
}

static void
test_service_ref_without_port_is_an_error(void **state)
{
    fixture *f = *state;
    assert_int_equal(
        build(f, GATEWAY SERVICE ROUTE_HEAD(
                     "r") "  rules: [{backendRefs: [{name: svc}]}]\n"),
        1);
    assert_true(error_contains(f, "spec.rules[0].backendRefs[0].port: is "
                                  "required when referring to a Service"));
}

static void
test_unknown_backend_kind_is_invalid_kind(void **state)
{
    fixture *f = *state;
    build_ok(
        f,
        GATEWAY ROUTE_HEAD(
            "r") "  rules: [{backendRefs: [{group: example.com, kind: Thing, "
                 "name: t}]}]\n");
    assert_cond(&parent(&f->model, "r", 0)->conditions, "ResolvedRefs", false,
                "InvalidKind");
    assert_int_equal(rule_of(&f->model, "r", 0)->fixed_status, 500);
}

#define OTHER_NS_SERVICE                                                       \
    "apiVersion: v1\n"                                                         \
    "kind: Service\n"                                                          \
    "metadata: {name: svc, namespace: other}\n"                                \
    "spec: {ports: [{port: 80}]}\n"                                            \
    "---\n"                                                                    \
    "apiVersion: v1\n"                                                         \
    "kind: Service\n"                                                          \
    "metadata: {name: svc2, namespace: other}\n"                               \
    "spec: {ports: [{port: 80}]}\n"                                            \
    "---\n"

#define CROSS_NS_ROUTE                                                         \
    ROUTE_HEAD("r")                                                            \
    "  rules: [{backendRefs: [{name: svc, namespace: other, port: 80}]}]\n"    \
    "---\n" ROUTE_HEAD("r2") "  rules: [{backendRefs: [{name: svc2, "          \
                             "namespace: other, port: 80}]}]\n"                \
                             "---\n"

static void
test_cross_namespace_backend_without_grant_is_ref_not_permitted(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY OTHER_NS_SERVICE CROSS_NS_ROUTE);
    assert_cond(&parent(&f->model, "r", 0)->conditions, "ResolvedRefs", false,
                "RefNotPermitted");
    assert_int_equal(rule_of(&f->model, "r", 0)->fixed_status, 500);
}

static void
test_reference_grant_permits_only_the_named_service(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY OTHER_NS_SERVICE CROSS_NS_ROUTE
             "apiVersion: gateway.networking.k8s.io/v1beta1\n"
             "kind: ReferenceGrant\n"
             "metadata: {name: g, namespace: other}\n"
             "spec:\n"
             "  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, "
             "namespace: default}]\n"
             "  to: [{group: \"\", kind: Service, name: svc}]\n");
    assert_cond(&parent(&f->model, "r", 0)->conditions, "ResolvedRefs", true,
                "ResolvedRefs");
    assert_int_equal(rule_of(&f->model, "r", 0)->fixed_status, 0);
    assert_cond(&parent(&f->model, "r2", 0)->conditions, "ResolvedRefs", false,
                "RefNotPermitted");
}

static void
test_reference_grant_from_another_namespace_does_not_permit(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY OTHER_NS_SERVICE CROSS_NS_ROUTE
             "apiVersion: gateway.networking.k8s.io/v1beta1\n"
             "kind: ReferenceGrant\n"
             "metadata: {name: g, namespace: other}\n"
             "spec:\n"
             "  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, "
             "namespace: elsewhere}]\n"
             "  to: [{group: \"\", kind: Service}]\n");
    assert_cond(&parent(&f->model, "r", 0)->conditions, "ResolvedRefs", false,
                "RefNotPermitted");
}

#define SLICE_SERVICE(ports)                                                   \
    "apiVersion: v1\n"                                                         \
    "kind: Service\n"                                                          \
    "metadata: {name: s}\n"                                                    \
    "spec: {ports: " ports "}\n"                                               \
    "---\n"

#define SLICE(name, body)                                                      \
    "apiVersion: discovery.k8s.io/v1\n"                                        \
    "kind: EndpointSlice\n"                                                    \
    "metadata: {name: " name ", labels: {kubernetes.io/service-name: s}}\n"    \
    "addressType: IPv4\n" body "---\n"

#define ROUTE_TO_S(port)                                                       \
    ROUTE_HEAD("r") "  rules: [{backendRefs: [{name: s, port: " port "}]}]\n"

static const gw_backend *
only_backend(fixture *f)
{
    assert_int_equal(f->model.backend_count, 1);
    return f->model.backends[0];
}

static void
test_endpoint_slices_give_ready_endpoints_only(void **state)
{
    fixture *f = *state;
    build_ok(f,
             GATEWAY SLICE_SERVICE("[{port: 80, targetPort: 8080}]")
                 SLICE("s-1",
                       "endpoints:\n"
                       "- addresses: [10.0.0.1, 10.0.0.9]\n"
                       "- {addresses: [10.0.0.2], conditions: {ready: true}}\n"
                       "- {addresses: [10.0.0.3], conditions: {ready: false}}\n"
                       "ports: [{port: 8080}]\n")
                     SLICE("s-2", "endpoints: [{addresses: [10.0.0.1]}, "
                                  "{addresses: [10.0.0.4]}]\n"
                                  "ports: [{port: 8080, name: \"\"}]\n")
                         ROUTE_TO_S("80"));
    const gw_backend *be = only_backend(f);
    assert_int_equal(be->endpoint_count, 3); /* 10.0.0.1 once */
    assert_string_equal(be->endpoints[0].address, "10.0.0.1");
    assert_int_equal(be->endpoints[0].port, 8080);
    assert_string_equal(be->endpoints[1].address, "10.0.0.2");
    assert_string_equal(be->endpoints[2].address, "10.0.0.4");
}

static void
test_endpoint_slice_port_is_chosen_by_the_service_port_name(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY SLICE_SERVICE(
                    "[{name: http, port: 80, targetPort: web}, {name: admin, "
                    "port: 81, targetPort: 9000}]")
                    SLICE("s-1", "endpoints: [{addresses: [10.0.0.1]}]\n"
                                 "ports: [{name: admin, port: 9000}, {name: "
                                 "http, port: 8080}]\n") ROUTE_TO_S("80"));
    const gw_backend *be = only_backend(f);
    assert_int_equal(be->endpoint_count, 1);
    assert_int_equal(be->endpoints[0].port, 8080);
}

static void
test_unnamed_service_port_maps_by_target_port_number(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY SLICE_SERVICE("[{port: 80, targetPort: 9000}]") SLICE(
                    "s-1", "endpoints: [{addresses: [10.0.0.1]}]\n"
                           "ports: [{name: metrics, port: 9100}, {name: web, "
                           "port: 9000}]\n") ROUTE_TO_S("80"));
    const gw_backend *be = only_backend(f);
    assert_int_equal(be->endpoint_count, 1);
    assert_int_equal(be->endpoints[0].port, 9000);
}

static void
test_slices_of_other_services_are_not_used(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY SLICE_SERVICE(
                    "[{port: 80}]") "apiVersion: discovery.k8s.io/v1\n"
                                    "kind: EndpointSlice\n"
                                    "metadata: {name: x, labels: "
                                    "{kubernetes.io/service-name: t}}\n"
                                    "addressType: IPv4\n"
                                    "endpoints: [{addresses: [10.0.0.1]}]\n"
                                    "ports: [{port: 80}]\n"
                                    "---\n" ROUTE_TO_S("80"));
    assert_int_equal(only_backend(f)->endpoint_count, 0);
    /* No endpoints is not an invalid reference. */
    assert_cond(&parent(&f->model, "r", 0)->conditions, "ResolvedRefs", true,
                "ResolvedRefs");
}

static void
test_serving_terminating_endpoints_are_used_when_none_is_ready(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY SLICE_SERVICE("[{port: 80}]") SLICE(
                    "s-1", "endpoints:\n"
                           "- {addresses: [10.0.0.1], conditions: {ready: "
                           "false, serving: true, terminating: true}}\n"
                           "- {addresses: [10.0.0.2], conditions: {ready: "
                           "false, serving: false, terminating: true}}\n"
                           "ports: [{port: 80}]\n") ROUTE_TO_S("80"));
    const gw_backend *be = only_backend(f);
    assert_int_equal(be->endpoint_count, 1);
    assert_string_equal(be->endpoints[0].address, "10.0.0.1");
}

static void
test_slice_with_a_malformed_address_is_an_error_and_left_out(void **state)
{
    fixture *f = *state;
    assert_int_equal(
        build(f,
              GATEWAY SLICE_SERVICE("[{port: 80}]") SLICE(
                  "s-1", "endpoints: [{addresses: [\"10.0.0.1; include x\"]}]\n"
                         "ports: [{port: 80}]\n")
                  SLICE("s-2", "endpoints: [{addresses: [\"fd00::1\"]}]\n"
                               "ports: [{port: 80}]\n") ROUTE_TO_S("80")),
        1);
    assert_true(error_contains(f, "EndpointSlice default/s-1: "
                                  "endpoints[0].addresses[0]: expected an IP "
                                  "address or a DNS name"));
    const gw_backend *be = only_backend(f);
    assert_int_equal(be->endpoint_count, 1);
    assert_string_equal(be->endpoints[0].address, "fd00::1");
}

static void
test_udp_service_port_is_not_a_backend(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY SLICE_SERVICE("[{port: 53, protocol: UDP}]")
                    ROUTE_TO_S("53"));
    assert_cond(&parent(&f->model, "r", 0)->conditions, "ResolvedRefs", false,
                "BackendNotFound");
}

static void
test_external_name_service_is_its_dns_name(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY "apiVersion: v1\n"
                        "kind: Service\n"
                        "metadata: {name: s}\n"
                        "spec: {type: ExternalName, externalName: "
                        "api.example.org}\n"
                        "---\n" ROUTE_TO_S("443"));
    const gw_backend *be = only_backend(f);
    assert_int_equal(be->endpoint_count, 1);
    assert_string_equal(be->endpoints[0].address, "api.example.org");
    assert_int_equal(be->endpoints[0].port, 443);
}

static void
test_app_protocol_h2c_is_kept(void **state)
{
    fixture *f = *state;
    build_ok(
        f, GATEWAY SLICE_SERVICE("[{port: 80, appProtocol: kubernetes.io/h2c}]")
               ROUTE_TO_S("80"));
    assert_int_equal(only_backend(f)->protocol, GW_PROTO_H2C);
}

static void
test_kgateway_static_backend_gives_its_hosts(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY
             "apiVersion: gateway.kgateway.dev/v1alpha1\n"
             "kind: Backend\n"
             "metadata: {name: b}\n"
             "spec:\n"
             "  type: Static\n"
             "  static: {hosts: [{host: h1.local, port: 81}, "
             "{host: 10.1.1.1, port: 82}]}\n"
             "---\n" ROUTE_HEAD(
                 "r") "  rules: [{backendRefs: [{group: gateway.kgateway.dev, "
                      "kind: Backend, name: b}]}]\n");
    const gw_backend *be = only_backend(f);
    assert_int_equal(be->kind, GW_BACKEND_ENDPOINTS);
    assert_string_equal(be->id, "backend_default_b");
    assert_int_equal(be->endpoint_count, 2);
    assert_string_equal(be->endpoints[0].address, "h1.local");
    assert_int_equal(be->endpoints[1].port, 82);
}

static void
test_kgateway_aws_backend_is_a_lambda(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY
             "apiVersion: gateway.kgateway.dev/v1alpha1\n"
             "kind: Backend\n"
             "metadata: {name: fn}\n"
             "spec:\n"
             "  aws: {region: us-east-1, lambda: {functionName: "
             "f}}\n"
             "---\n" ROUTE_HEAD(
                 "r") "  rules: [{backendRefs: [{group: gateway.kgateway.dev, "
                      "kind: Backend, name: fn}]}]\n");
    const gw_backend *be = only_backend(f);
    assert_int_equal(be->kind, GW_BACKEND_LAMBDA);
    assert_string_equal(be->doc->name, "fn");
    assert_int_equal(rule_of(&f->model, "r", 0)->fixed_status, 0);
}

/* -- Precedence --------------------------------------------------------- */

/* The path of each entry of the catch-all vhost, comma-separated. */
static void
entry_paths(const fixture *f, char *out, size_t size)
{
    const gw_vhost *v = vhost(&f->model, NULL);
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < v->entry_count && used < size; i++) {
        const gw_entry *e = &v->entries[i];
        const gw_match *m = &e->rule->matches[e->match];
        used +=
            (size_t)snprintf(out + used, size - used, "%s%s%s%s", i ? "," : "",
                             e->rule->route->name, ":", m->path);
    }
}

static void
test_precedence_exact_then_regex_then_longest_prefix(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY SERVICE ROUTE_HEAD(
                    "r") "  rules:\n"
                         "  - matches:\n"
                         "    - path: {value: /}\n"
                         "    - path: {value: /a}\n"
                         "    - path: {type: RegularExpression, value: /a.*}\n"
                         "    - path: {value: /a/b}\n"
                         "    - path: {type: Exact, value: /a}\n" TO_SVC);
    char paths[256];
    entry_paths(f, paths, sizeof(paths));
    assert_string_equal(paths, "r:/a,r:/a.*,r:/a/b,r:/a,r:/");
    const gw_vhost *v = vhost(&f->model, NULL);
    assert_int_equal(v->entries[0].match, 4);
    assert_int_equal(v->entries[3].match, 1);
}

static void
test_precedence_ignores_the_length_of_regular_expressions(void **state)
{
    fixture *f = *state;
    build_ok(
        f, GATEWAY SERVICE ROUTE_HEAD(
               "r") "  rules:\n"
                    "  - matches:\n"
                    "    - path: {type: RegularExpression, value: /a}\n"
                    "    - path: {type: RegularExpression, value: /a/b.*/.*}\n"
                    "      headers: [{name: h, value: v}]\n"
                    "    - path: {type: RegularExpression, value: "
                    "/a/b.*/.*}\n" TO_SVC);
    const gw_vhost *v = vhost(&f->model, NULL);
    /* The header match decides; equal ones keep their order. */
    assert_int_equal(v->entries[0].match, 1);
    assert_int_equal(v->entries[1].match, 0);
    assert_int_equal(v->entries[2].match, 2);
}

static void
test_precedence_method_then_headers_then_query_params(void **state)
{
    fixture *f = *state;
    build_ok(
        f,
        GATEWAY SERVICE ROUTE_HEAD(
            "r") "  rules:\n"
                 "  - matches:\n"
                 "    - queryParams: [{name: a, value: b}]\n"
                 "    - headers: [{name: a, value: b}]\n"
                 "    - headers: [{name: a, value: b}, {name: c, value: d}]\n"
                 "    - method: GET\n"
                 "    - {}\n" TO_SVC);
    const gw_vhost *v = vhost(&f->model, NULL);
    assert_int_equal(v->entry_count, 5);
    assert_int_equal(v->entries[0].match, 3); /* method */
    assert_int_equal(v->entries[1].match, 2); /* two headers */
    assert_int_equal(v->entries[2].match, 1); /* one header */
    assert_int_equal(v->entries[3].match, 0); /* one query param */
    assert_int_equal(v->entries[4].match, 4);
}

static void
test_precedence_across_routes_oldest_then_namespace_name(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY SERVICE
             "apiVersion: gateway.networking.k8s.io/v1\n"
             "kind: HTTPRoute\n"
             "metadata: {name: b-new, creationTimestamp: "
             "\"2024-01-02T00:00:00Z\"}\n"
             "spec: {parentRefs: [{name: gw}], rules: [{backendRefs: "
             "[{name: svc, port: 8080}]}]}\n"
             "---\n"
             "apiVersion: gateway.networking.k8s.io/v1\n"
             "kind: HTTPRoute\n"
             "metadata: {name: c-old, creationTimestamp: "
             "\"2024-01-01T00:00:00Z\"}\n"
             "spec: {parentRefs: [{name: gw}], rules: [{backendRefs: "
             "[{name: svc, port: 8080}]}]}\n"
             "---\n"
             "apiVersion: gateway.networking.k8s.io/v1\n"
             "kind: HTTPRoute\n"
             "metadata: {name: a-none}\n"
             "spec: {parentRefs: [{name: gw}], rules: [{backendRefs: "
             "[{name: svc, port: 8080}]}]}\n"
             "---\n"
             "apiVersion: gateway.networking.k8s.io/v1\n"
             "kind: HTTPRoute\n"
             "metadata: {name: a-new, creationTimestamp: "
             "\"2024-01-02T00:00:00Z\"}\n"
             "spec: {parentRefs: [{name: gw}], rules: [{backendRefs: "
             "[{name: svc, port: 8080}]}]}\n");
    char paths[256];
    entry_paths(f, paths, sizeof(paths));
    assert_string_equal(paths, "c-old:/,a-new:/,b-new:/,a-none:/");
}

static void
test_precedence_namespace_name_compares_as_one_string(void **state)
{
    (void)state;
    gwf_doc a = {.kind = "HTTPRoute", .namespace_ = "a", .name = "z"};
    gwf_doc b = {.kind = "HTTPRoute", .namespace_ = "a-b", .name = "a"};
    gw_match m = {.path_kind = GW_PATH_PREFIX, .path = "/"};
    gw_rule ra = {.route = &a, .matches = &m, .match_count = 1};
    gw_rule rb = {.route = &b, .matches = &m, .match_count = 1};
    gw_entry ea = {.rule = &ra}, eb = {.rule = &rb};
    /* "a-b/a" < "a/z" because '-' < '/'. */
    assert_true(gw_entry_compare(&eb, &ea) < 0);
    assert_true(gw_entry_compare(&ea, &eb) > 0);
    assert_int_equal(gw_entry_compare(&ea, &ea), 0);
}

static void
test_precedence_ties_keep_rule_then_match_order(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY SERVICE ROUTE_HEAD(
                    "r") "  rules:\n"
                         "  - matches: [{path: {value: /x}}, {path: {value: "
                         "/y}}]\n" TO_SVC
                         "  - matches: [{path: {value: /z}}]\n" TO_SVC);
    char paths[256];
    entry_paths(f, paths, sizeof(paths));
    assert_string_equal(paths, "r:/x,r:/y,r:/z");
}

static void
test_route_served_twice_on_one_host_is_listed_once(void **state)
{
    fixture *f = *state;
    /* Both listeners give the route the host a.x.com on port 80. */
    build_ok(f, SERVICE
             "apiVersion: gateway.networking.k8s.io/v1\n"
             "kind: Gateway\n"
             "metadata: {name: gw}\n"
             "spec:\n"
             "  gatewayClassName: gwf\n"
             "  listeners:\n"
             "  - {name: any, port: 80, protocol: HTTP}\n"
             "  - {name: x, port: 80, protocol: HTTP, hostname: \"*.x.com\"}\n"
             "---\n" ROUTE_HEAD("r") "  hostnames: [a.x.com]\n"
                                     "  rules:\n  -\n" TO_SVC);
    assert_int_equal(listener(&f->model, "gw", "any")->attached_routes, 1);
    assert_int_equal(listener(&f->model, "gw", "x")->attached_routes, 1);
    const gw_vhost *v = find_vhost(&f->model, 80, "a.x.com");
    assert_non_null(v);
    assert_int_equal(v->entry_count, 1);
    assert_int_equal(port(&f->model, 80)->vhost_count, 1);
}

static void
test_invalid_header_names_are_errors(void **state)
{
    fixture *f = *state;
    assert_int_equal(
        build(f,
              GATEWAY ROUTE_HEAD(
                  "r") "  rules:\n"
                       "  - matches: [{headers: [{name: \"a:b\", value: v}]}]\n"
                       "    filters:\n"
                       "    - type: RequestHeaderModifier\n"
                       "      requestHeaderModifier:\n"
                       "        set: [{name: \"x y\", value: v}]\n"
                       "        remove: [\"\\n\"]\n"),
        3);
    assert_true(error_contains(f, "spec.rules[0].matches[0].headers[0].name: "
                                  "invalid name"));
    assert_true(error_contains(f, "requestHeaderModifier.set[0].name: "
                                  "invalid header name"));
    assert_true(error_contains(f, "requestHeaderModifier.remove[0]: "
                                  "expected a header name"));
}

/* -- GRPCRoute ---------------------------------------------------------- */

static void
test_grpc_route_matches_become_paths(void **state)
{
    fixture *f = *state;
    build_ok(
        f, GATEWAY SERVICE
        "apiVersion: gateway.networking.k8s.io/v1\n"
        "kind: GRPCRoute\n"
        "metadata: {name: g}\n"
        "spec:\n"
        "  parentRefs: [{name: gw}]\n"
        "  rules:\n"
        "  - matches:\n"
        "    - method: {service: pkg.Svc, method: Get}\n"
        "    - method: {service: pkg.Svc}\n"
        "    - method: {method: Get}\n"
        "    - method: {type: RegularExpression, service: \"pkg\\\\..*\"}\n"
        "      headers: [{name: x-v, value: \"1\"}]\n"
        "    backendRefs: [{name: svc, port: 8080}]\n");
    const gw_rule *r = rule_of(&f->model, "g", 0);
    assert_true(r->grpc);
    assert_int_equal(r->matches[0].path_kind, GW_PATH_EXACT);
    assert_string_equal(r->matches[0].path, "/pkg.Svc/Get");
    assert_int_equal(r->matches[1].path_kind, GW_PATH_PREFIX);
    assert_string_equal(r->matches[1].path, "/pkg.Svc");
    assert_int_equal(r->matches[2].path_kind, GW_PATH_REGEX);
    assert_string_equal(r->matches[2].path, "/[^/]+/Get");
    assert_string_equal(r->matches[3].path, "/(pkg\\..*)/([^/]+)");
    assert_int_equal(r->matches[3].header_count, 1);
    assert_int_equal(r->backends[0].backend->protocol, GW_PROTO_GRPC);
    assert_string_equal(r->backends[0].backend->id, "grpc_default_svc_8080");
}

#define GRPC_AND_HTTP(grpc_hosts, http_hosts)                                  \
    GATEWAY SERVICE                                                            \
        "apiVersion: gateway.networking.k8s.io/v1\n"                           \
        "kind: HTTPRoute\n"                                                    \
        "metadata: {name: h, creationTimestamp: \"2024-01-02T00:00:00Z\"}\n"   \
        "spec: {parentRefs: [{name: gw}], hostnames: " http_hosts "}\n"        \
        "---\n"                                                                \
        "apiVersion: gateway.networking.k8s.io/v1\n"                           \
        "kind: GRPCRoute\n"                                                    \
        "metadata: {name: g, creationTimestamp: \"2024-01-01T00:00:00Z\"}\n"   \
        "spec: {parentRefs: [{name: gw}], hostnames: " grpc_hosts "}\n"

static void
test_grpc_and_http_routes_sharing_a_hostname_keep_the_older(void **state)
{
    fixture *f = *state;
    build_ok(f, GRPC_AND_HTTP("[\"*.example.com\"]", "[a.example.com]"));
    assert_cond(&parent(&f->model, "g", 0)->conditions, "Accepted", true,
                "Accepted");
    const gw_route_parent *p = parent(&f->model, "h", 0);
    assert_cond(&p->conditions, "Accepted", false, "NotAllowedByListeners");
    assert_string_equal(cond(&p->conditions, "Accepted")->message,
                        "GRPCRoute default/g, older or first by "
                        "namespace/name, already serves a hostname of this "
                        "route on Gateway default/gw (an HTTPRoute and a "
                        "GRPCRoute may not share one)");
    assert_int_equal(listener(&f->model, "gw", "http")->attached_routes, 1);
}

static void
test_grpc_and_http_routes_on_distinct_hostnames_both_attach(void **state)
{
    fixture *f = *state;
    build_ok(f, GRPC_AND_HTTP("[grpc.example.com]", "[a.example.com]"));
    assert_cond(&parent(&f->model, "g", 0)->conditions, "Accepted", true,
                "Accepted");
    assert_cond(&parent(&f->model, "h", 0)->conditions, "Accepted", true,
                "Accepted");
    assert_int_equal(listener(&f->model, "gw", "http")->attached_routes, 2);
}

static void
test_grpc_route_refuses_http_only_filters(void **state)
{
    fixture *f = *state;
    assert_int_equal(build(f, GATEWAY
                           "apiVersion: gateway.networking.k8s.io/v1\n"
                           "kind: GRPCRoute\n"
                           "metadata: {name: g}\n"
                           "spec:\n"
                           "  parentRefs: [{name: gw}]\n"
                           "  rules:\n"
                           "  - filters: [{type: URLRewrite, urlRewrite: "
                           "{}}]\n"),
                     1);
    assert_true(error_contains(f, "spec.rules[0].filters[0].type: "
                                  "unsupported value \"URLRewrite\""));
}

/* -- Status ------------------------------------------------------------- */

static void
test_status_json_reports_every_object_in_gateway_api_shape(void **state)
{
    fixture *f = *state;
    build_ok(f, "apiVersion: gateway.networking.k8s.io/v1\n"
                "kind: GatewayClass\n"
                "metadata: {name: kgateway}\n"
                "spec: {controllerName: kgateway.dev/kgateway}\n"
                "---\n"
                "apiVersion: gateway.networking.k8s.io/v1\n"
                "kind: Gateway\n"
                "metadata: {name: gw, generation: 2}\n"
                "spec:\n"
                "  gatewayClassName: kgateway\n"
                "  listeners: [{name: http, port: 80, protocol: HTTP}]\n"
                "---\n" ROUTE_HEAD("r"));
    char *json = gw_status_json(&f->model, 0, 0);
    assert_non_null(json);
    const char *want =
        "{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":["
        "{\"apiVersion\":\"gateway.networking.k8s.io/v1\","
        "\"kind\":\"GatewayClass\",\"metadata\":{\"name\":\"kgateway\"},"
        "\"status\":{\"conditions\":["
        "{\"type\":\"Accepted\",\"status\":\"True\",\"reason\":\"Accepted\","
        "\"message\":\"GatewayClass kgateway is served by gwf\","
        "\"lastTransitionTime\":\"1970-01-01T00:00:00Z\"},"
        "{\"type\":\"SupportedVersion\",\"status\":\"True\","
        "\"reason\":\"SupportedVersion\","
        "\"message\":\"Gateway API v1 is supported\","
        "\"lastTransitionTime\":\"1970-01-01T00:00:00Z\"}]}},"
        "{\"apiVersion\":\"gateway.networking.k8s.io/v1\","
        "\"kind\":\"Gateway\","
        "\"metadata\":{\"name\":\"gw\",\"namespace\":\"default\"},"
        "\"status\":{\"conditions\":["
        "{\"type\":\"Accepted\",\"status\":\"True\",\"reason\":\"Accepted\","
        "\"message\":\"Gateway is accepted\","
        "\"lastTransitionTime\":\"1970-01-01T00:00:00Z\","
        "\"observedGeneration\":2},"
        "{\"type\":\"Programmed\",\"status\":\"True\","
        "\"reason\":\"Programmed\","
        "\"message\":\"1 of 1 listeners are served\","
        "\"lastTransitionTime\":\"1970-01-01T00:00:00Z\","
        "\"observedGeneration\":2}],"
        "\"listeners\":[{\"name\":\"http\",\"supportedKinds\":["
        "{\"group\":\"gateway.networking.k8s.io\",\"kind\":\"HTTPRoute\"},"
        "{\"group\":\"gateway.networking.k8s.io\",\"kind\":\"GRPCRoute\"}],"
        "\"attachedRoutes\":1,\"conditions\":[";
    if (strncmp(json, want, strlen(want)) != 0)
        fail_msg("got %s", json);
    const char *route =
        "{\"apiVersion\":\"gateway.networking.k8s.io/v1\","
        "\"kind\":\"HTTPRoute\","
        "\"metadata\":{\"name\":\"r\",\"namespace\":\"default\"},"
        "\"status\":{\"parents\":[{\"parentRef\":{"
        "\"group\":\"gateway.networking.k8s.io\",\"kind\":\"Gateway\","
        "\"namespace\":\"default\",\"name\":\"gw\"},"
        "\"controllerName\":\"kgateway.dev/kgateway\","
        "\"conditions\":[{\"type\":\"Accepted\",\"status\":\"True\","
        "\"reason\":\"Accepted\",\"message\":\"attached to 1 listener\","
        "\"lastTransitionTime\":\"1970-01-01T00:00:00Z\"},"
        "{\"type\":\"ResolvedRefs\",\"status\":\"True\","
        "\"reason\":\"ResolvedRefs\","
        "\"message\":\"all references resolved\","
        "\"lastTransitionTime\":\"1970-01-01T00:00:00Z\"}]}]}}]}";
    if (!strstr(json, route))
        fail_msg("got %s", json);
    free(json);
}

static void
test_gateway_without_class_document_reports_gwf_controller(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY ROUTE_HEAD("r"));
    char *json = gw_status_json(&f->model, 1700000000, 1);
    assert_non_null(json);
    assert_non_null(strstr(json, "\"controllerName\": "
                                 "\"gwf.dev/gateway-controller\""));
    assert_non_null(strstr(json, "\"lastTransitionTime\": "
                                 "\"2023-11-14T22:13:20Z\""));
    free(json);
}

static void
test_build_options_choose_the_classes(void **state)
{
    fixture *f = *state;
    const char *yaml = GATEWAY;
    assert_int_equal(
        gwf_manifests_load_buffer(f->m, "m.yaml", yaml, strlen(yaml), &f->load),
        0);
    const char *classes[] = {"other"};
    gw_build_options o = {.classes = classes, .class_count = 1};
    assert_int_equal(gw_model_build(f->m, &o, &f->model, &f->errors, &f->notes),
                     0);
    assert_int_equal(f->model.gateway_count, 0);
}

/* -- Hostile documents -------------------------------------------------- */

static void
test_wrong_type_drops_only_that_object(void **state)
{
    fixture *f = *state;
    assert_int_equal(build(f, GATEWAY SERVICE ROUTE_HEAD(
                                  "bad") "  rules:\n"
                                         "  - matches: {path: /}\n"
                                         "---\n" ROUTE_HEAD(
                                             "good") "  rules:\n  -\n" TO_SVC),
                     1);
    assert_string_equal(gwf_diag_line(&f->errors, 0),
                        "m.yaml:31: HTTPRoute default/bad: "
                        "spec.rules[0].matches: expected a list, got a "
                        "mapping");
    assert_int_equal(f->model.route_count, 1);
    assert_string_equal(f->model.routes[0].route->name, "good");
    assert_int_equal(vhost(&f->model, NULL)->entry_count, 1);
}

static void
test_lists_longer_than_the_api_allows_are_refused(void **state)
{
    fixture *f = *state;
    char *yaml = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&yaml, &len);
    assert_non_null(out);
    fputs(GATEWAY ROUTE_HEAD("r") "  rules:\n  - matches:\n", out);
    for (int i = 0; i < 100000; i++)
        fprintf(out, "    - path: {value: /p%d}\n", i);
    fclose(out);
    assert_int_equal(build(f, yaml), 1);
    free(yaml);
    assert_true(error_contains(f, "spec.rules[0].matches: has 100000 items, "
                                  "at most 64 are allowed"));
    assert_int_equal(f->model.rule_count, 0);
}

static void
test_malformed_gateway_is_an_error_and_serves_nothing(void **state)
{
    fixture *f = *state;
    assert_int_equal(build(f, "apiVersion: gateway.networking.k8s.io/v1\n"
                              "kind: Gateway\n"
                              "metadata: {name: gw}\n"
                              "spec:\n"
                              "  gatewayClassName: gwf\n"
                              "  listeners:\n"
                              "  - {name: a, port: \"80\", protocol: HTTP}\n"
                              "  - {name: a, port: 70000, protocol: HTTP}\n"),
                     3);
    assert_string_equal(gwf_diag_line(&f->errors, 0),
                        "m.yaml:7: Gateway default/gw: spec.listeners[0].port: "
                        "expected an integer, got string \"80\"");
    assert_true(error_contains(f, "spec.listeners[1].port: must be between 1 "
                                  "and 65535, got 70000"));
    assert_true(error_contains(f, "spec.listeners[1].name: listener name "
                                  "\"a\" is used twice"));
    assert_int_equal(f->model.gateway_count, 0);
}

static void
test_duplicate_documents_keep_the_first(void **state)
{
    fixture *f = *state;
    assert_int_equal(
        build(f, GATEWAY SERVICE ROUTE_HEAD(
                     "r") "  rules: [{matches: [{path: {value: /one}}]}]\n"
                          "---\n" ROUTE_HEAD("r") "  rules: [{matches: [{path: "
                                                  "{value: /two}}]}]\n"),
        1);
    assert_string_equal(gwf_diag_line(&f->errors, 0),
                        "m.yaml:32: HTTPRoute default/r: duplicate HTTPRoute "
                        "default/r (first defined at m.yaml:25); this one is "
                        "ignored");
    assert_string_equal(rule_of(&f->model, "r", 0)->matches[0].path, "/one");
    assert_int_equal(f->model.rule_count, 1);
}

static void
test_document_without_a_name_is_an_error(void **state)
{
    fixture *f = *state;
    assert_int_equal(build(f, "apiVersion: gateway.networking.k8s.io/v1\n"
                              "kind: HTTPRoute\n"
                              "metadata: {name: 3}\n"
                              "spec: {}\n"),
                     1);
    assert_string_equal(gwf_diag_line(&f->errors, 0),
                        "m.yaml:3: HTTPRoute (document 1): metadata.name: is "
                        "required (a string)");
}

/* Every document here is wrong in some way; none may crash the build,
 * and each is an error or, for unresolvable references, a condition. */
static void
test_hostile_documents_never_crash(void **state)
{
    static const char *const docs[] = {
        "kind: HTTPRoute\napiVersion: gateway.networking.k8s.io/v1\n"
        "metadata: {name: r}\nspec: 7\n",
        "kind: HTTPRoute\napiVersion: gateway.networking.k8s.io/v1\n"
        "metadata: {name: r}\nspec: {parentRefs: [7, [], {name: [1]}], "
        "hostnames: [\"*\", \"1.2.3.4\", \"A.COM\", \"a..b\"]}\n",
        "kind: HTTPRoute\napiVersion: gateway.networking.k8s.io/v1\n"
        "metadata: {name: r, creationTimestamp: yesterday}\n"
        "spec: {rules: [null, 3, {matches: [null, {path: 3}, {path: "
        "{type: Foo}}, {headers: [{name: 1}]}]}]}\n",
        "kind: HTTPRoute\napiVersion: gateway.networking.k8s.io/v1\n"
        "metadata: {name: r}\nspec: {rules: [{filters: [{}, {type: 1}, "
        "{type: RequestMirror}, {type: RequestMirror, requestMirror: "
        "{backendRef: {name: x}, percent: 101, fraction: {numerator: 5, "
        "denominator: 0}}}, {type: RequestRedirect, requestRedirect: "
        "{statusCode: 304, path: {type: ReplaceFullPath}}}]}]}\n",
        "kind: HTTPRoute\napiVersion: gateway.networking.k8s.io/v1\n"
        "metadata: {name: r}\nspec: {rules: [{backendRefs: [{name: x, port: "
        "0, weight: -1}, {name: \"\", port: 99999999999999999999}], "
        "timeouts: {request: 1s, backendRequest: 2s}, retry: {codes: "
        "[200, x], attempts: -1, backoff: forever}}]}\n",
        "kind: Gateway\napiVersion: gateway.networking.k8s.io/v1\n"
        "metadata: {name: g}\nspec: {gatewayClassName: gwf, listeners: "
        "[{name: a, port: 1, protocol: HTTPS, tls: {certificateRefs: [3, "
        "{name: s, kind: ConfigMap}, {name: s, namespace: x}]}, "
        "allowedRoutes: {namespaces: {from: Selector, selector: "
        "{matchExpressions: [{key: a, operator: Near}]}}, kinds: [1]}}]}\n",
        "kind: Gateway\napiVersion: gateway.networking.k8s.io/v1\n"
        "metadata: {name: g}\nspec: {gatewayClassName: gwf, listeners: []}\n",
        "kind: ReferenceGrant\napiVersion: gateway.networking.k8s.io/v1beta1\n"
        "metadata: {name: g}\nspec: {from: [], to: [{}]}\n",
        "kind: Service\napiVersion: v1\nmetadata: {name: s}\n"
        "spec: {ports: [{port: x, targetPort: [1]}], type: ExternalName}\n",
        "kind: EndpointSlice\napiVersion: discovery.k8s.io/v1\n"
        "metadata: {name: e, labels: 1}\nendpoints: [{addresses: []}, "
        "{addresses: [1], conditions: {ready: maybe}}]\n",
        "kind: Backend\napiVersion: gateway.kgateway.dev/v1alpha1\n"
        "metadata: {name: b}\nspec: {static: {hosts: [{host: \"\", port: "
        "0}]}, aws: {}}\n",
        "kind: GRPCRoute\napiVersion: gateway.networking.k8s.io/v1\n"
        "metadata: {name: g}\nspec: {rules: [{matches: [{method: {}}, "
        "{method: {service: \"a b\"}}]}]}\n",
        "kind: Secret\napiVersion: v1\nmetadata: {name: s, namespace: x}\n"
        "type: kubernetes.io/tls\ndata: {tls.crt: \"!!!\", tls.key: 3}\n",
    };
    fixture *f = *state;
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        int loaded = gwf_manifests_load_buffer(f->m, "h.yaml", docs[i],
                                               strlen(docs[i]), &f->load);
        assert_int_equal(loaded, 0);
    }
    int n = gw_model_build(f->m, NULL, &f->model, &f->errors, &f->notes);
    assert_true(n >= 11);
    assert_int_equal((size_t)n, f->errors.count);
    /* Every error names the file, a line and a document. */
    for (size_t i = 0; i < f->errors.count; i++)
        assert_int_equal(strncmp(gwf_diag_line(&f->errors, i), "h.yaml:", 7),
                         0);
    assert_int_equal(f->model.route_count, 0);
    assert_int_equal(f->model.gateway_count, 0);
}

/* -- Delegation (delegation.c) ------------------------------------------ */

/* A parent route in default delegating `prefix` to `ref` (a backendRef
 * body), and a child HTTPRoute `name` in namespace team. */
#define PARENT(prefix, ref)                                                    \
    "apiVersion: gateway.networking.k8s.io/v1\n"                               \
    "kind: HTTPRoute\n"                                                        \
    "metadata: {name: parent, namespace: default}\n"                           \
    "spec:\n"                                                                  \
    "  parentRefs: [{name: gw}]\n"                                             \
    "  hostnames: [example.com]\n"                                             \
    "  rules:\n"                                                               \
    "  - name: d\n"                                                            \
    "    matches: [{path: {type: PathPrefix, value: " prefix "}}]\n"           \
    "    backendRefs: [{group: gateway.networking.k8s.io, kind: "              \
    "HTTPRoute, " ref "}]\n"                                                   \
    "---\n"
#define CHILD(name, parents, rules)                                            \
    "apiVersion: gateway.networking.k8s.io/v1\n"                               \
    "kind: HTTPRoute\n"                                                        \
    "metadata: {name: " name ", namespace: team}\n"                            \
    "spec:\n" parents "  rules:\n" rules "---\n"
#define NAMES_PARENT                                                           \
    "  parentRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, "      \
    "name: parent, namespace: default}]\n"
#define TEAM_SERVICE                                                           \
    "apiVersion: v1\n"                                                         \
    "kind: Service\n"                                                          \
    "metadata: {name: svc, namespace: team}\n"                                 \
    "spec:\n"                                                                  \
    "  ports: [{name: http, port: 8080}]\n"                                    \
    "---\n"
#define PATH_RULE(path)                                                        \
    "  - matches: [{path: {type: PathPrefix, value: " path "}}]\n"             \
    "    backendRefs: [{name: svc, port: 8080}]\n"

/* The served entries of example.com whose rule comes from route `name`. */
static size_t
entries_of(const gw_model *m, const char *name)
{
    const gw_vhost *v = vhost(m, "example.com");
    size_t n = 0;
    for (size_t i = 0; i < v->entry_count; i++)
        if (strcmp(v->entries[i].rule->route->name, name) == 0)
            n++;
    return n;
}

static void
test_delegated_child_within_the_parent_prefix_is_served(void **state)
{
    fixture *f = *state;
    build_ok(f,
             GATEWAY TEAM_SERVICE PARENT("/a", "name: child, namespace: team")
                 CHILD("child", NAMES_PARENT, PATH_RULE("/a/b")));
    const gw_vhost *v = vhost(&f->model, "example.com");
    assert_int_equal(v->entry_count, 1);
    const gw_rule *r = v->entries[0].rule;
    assert_string_equal(r->route->name, "child");
    assert_string_equal(r->matches[0].path, "/a/b");
    assert_int_equal(r->fixed_status, 0);
    assert_non_null(r->backends[0].backend);
    assert_non_null(r->delegated_from);
    assert_string_equal(r->delegated_from->route->name, "parent");
    assert_int_equal(f->model.delegating_rule_count, 1);
    const gw_route_parent *p = parent(&f->model, "child", 0);
    assert_string_equal(p->parent_kind, "HTTPRoute");
    assert_string_equal(p->parent_name, "parent");
    assert_cond(&p->conditions, "Accepted", true, "Accepted");
    assert_cond(&p->conditions, "ResolvedRefs", true, "ResolvedRefs");
    assert_cond(&parent(&f->model, "parent", 0)->conditions, "ResolvedRefs",
                true, "ResolvedRefs");
}

static void
test_delegated_child_rule_outside_the_parent_prefix_is_dropped(void **state)
{
    fixture *f = *state;
    build_ok(
        f, GATEWAY TEAM_SERVICE PARENT("/a", "name: child, namespace: team")
               CHILD("child", NAMES_PARENT, PATH_RULE("/a/b") PATH_RULE("/c")));
    const gw_vhost *v = vhost(&f->model, "example.com");
    assert_int_equal(v->entry_count, 1);
    assert_string_equal(v->entries[0].rule->matches[0].path, "/a/b");
}

static void
test_delegation_with_no_child_rule_within_answers_500(void **state)
{
    fixture *f = *state;
    build_ok(f,
             GATEWAY TEAM_SERVICE PARENT("/a", "name: child, namespace: team")
                 CHILD("child", NAMES_PARENT, PATH_RULE("/c")));
    const gw_vhost *v = vhost(&f->model, "example.com");
    assert_int_equal(v->entry_count, 1);
    assert_string_equal(v->entries[0].rule->route->name, "parent");
    assert_int_equal(v->entries[0].rule->fixed_status, 500);
    assert_cond(&parent(&f->model, "parent", 0)->conditions, "ResolvedRefs",
                false, "BackendNotFound");
}

static void
test_delegation_to_a_missing_child_answers_500(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY PARENT("/a", "name: nobody, namespace: team"));
    assert_int_equal(rule_of(&f->model, "parent", 0)->fixed_status, 500);
    assert_cond(&parent(&f->model, "parent", 0)->conditions, "ResolvedRefs",
                false, "BackendNotFound");
}

/* name "*": every HTTPRoute of the namespace that accepts the parent (no
 * parentRefs, or parentRefs naming it), none that names another. */
static void
test_delegation_wildcard_selects_every_child_naming_the_parent(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY TEAM_SERVICE PARENT("/", "name: \"*\", namespace: team")
                    CHILD("c1", NAMES_PARENT, PATH_RULE("/one"))
                        CHILD("c2", "", PATH_RULE("/two"))
                            CHILD("c3",
                                  "  parentRefs: [{group: "
                                  "gateway.networking.k8s.io, kind: HTTPRoute, "
                                  "name: other, namespace: default}]\n",
                                  PATH_RULE("/three")));
    assert_int_equal(entries_of(&f->model, "c1"), 1);
    assert_int_equal(entries_of(&f->model, "c2"), 1);
    assert_int_equal(entries_of(&f->model, "c3"), 0);
    assert_int_equal(vhost(&f->model, "example.com")->entry_count, 2);
}

static void
test_delegation_by_label_selects_labelled_children(void **state)
{
    fixture *f = *state;
    build_ok(
        f, GATEWAY TEAM_SERVICE
        "apiVersion: gateway.networking.k8s.io/v1\n"
        "kind: HTTPRoute\n"
        "metadata: {name: parent, namespace: default}\n"
        "spec:\n"
        "  parentRefs: [{name: gw}]\n"
        "  hostnames: [example.com]\n"
        "  rules:\n"
        "  - backendRefs: [{group: delegation.kgateway.dev, kind: label, "
        "name: web, namespace: all}]\n"
        "---\n"
        "apiVersion: gateway.networking.k8s.io/v1\n"
        "kind: HTTPRoute\n"
        "metadata: {name: yes, namespace: team, labels: "
        "{delegation.kgateway.dev/label: web}}\n"
        "spec:\n"
        "  rules:\n" PATH_RULE("/y") "---\n" CHILD("no", "", PATH_RULE("/n")));
    assert_int_equal(entries_of(&f->model, "yes"), 1);
    assert_int_equal(entries_of(&f->model, "no"), 0);
}

/* A -> B -> A (each accepting the other as parent): B's rule that would
 * go back to A is cut, answers 500, and B reports the cycle; the build
 * ends. */
static void
test_delegation_cycle_terminates_with_an_error_status(void **state)
{
    fixture *f = *state;
    build_ok(
        f, GATEWAY
        "apiVersion: gateway.networking.k8s.io/v1\n"
        "kind: HTTPRoute\n"
        "metadata: {name: parent, namespace: default}\n"
        "spec:\n"
        "  parentRefs: [{name: gw}, {group: gateway.networking.k8s.io, "
        "kind: HTTPRoute, name: b, namespace: team}]\n"
        "  hostnames: [example.com]\n"
        "  rules:\n"
        "  - matches: [{path: {type: PathPrefix, value: /a}}]\n"
        "    backendRefs: [{group: gateway.networking.k8s.io, kind: "
        "HTTPRoute, name: b, namespace: team}]\n"
        "---\n" CHILD("b", NAMES_PARENT,
                      "  - matches: [{path: {type: PathPrefix, value: /a}}]\n"
                      "    backendRefs: [{group: gateway.networking.k8s.io, "
                      "kind: HTTPRoute, name: parent, namespace: default}]\n"));
    const gw_vhost *v = vhost(&f->model, "example.com");
    assert_int_equal(v->entry_count, 1);
    assert_string_equal(v->entries[0].rule->route->name, "b");
    assert_int_equal(v->entries[0].rule->fixed_status, 500);
    const gw_route_parent *p = parent(&f->model, "b", 0);
    assert_cond(&p->conditions, "ResolvedRefs", false, "RefNotPermitted");
}

/* A route naming itself (and accepting itself as parent) is refused. */
static void
test_self_delegation_is_refused(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY
             "apiVersion: gateway.networking.k8s.io/v1\n"
             "kind: HTTPRoute\n"
             "metadata: {name: self, namespace: default}\n"
             "spec:\n"
             "  parentRefs: [{name: gw}, {group: gateway.networking.k8s.io, "
             "kind: HTTPRoute, name: self}]\n"
             "  hostnames: [example.com]\n"
             "  rules:\n"
             "  - backendRefs: [{group: gateway.networking.k8s.io, kind: "
             "HTTPRoute, name: self}]\n");
    assert_int_equal(rule_of(&f->model, "self", 0)->fixed_status, 500);
    assert_cond(&parent(&f->model, "self", 0)->conditions, "ResolvedRefs",
                false, "RefNotPermitted");
}

static void
test_delegated_child_with_hostnames_is_not_accepted(void **state)
{
    fixture *f = *state;
    build_ok(
        f, GATEWAY TEAM_SERVICE PARENT("/a", "name: child, namespace: team")
               CHILD("child", NAMES_PARENT "  hostnames: [other.example.com]\n",
                     PATH_RULE("/a/b")));
    assert_int_equal(rule_of(&f->model, "parent", 0)->fixed_status, 500);
    assert_cond(&parent(&f->model, "child", 0)->conditions, "Accepted", false,
                "UnsupportedValue");
}

/* The child's parent matcher: the parent's headers must be among the
 * child's, the parent's method the child's. */
static void
test_delegated_child_must_repeat_the_parents_headers_and_method(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY TEAM_SERVICE
             "apiVersion: gateway.networking.k8s.io/v1\n"
             "kind: HTTPRoute\n"
             "metadata: {name: parent, namespace: default}\n"
             "spec:\n"
             "  parentRefs: [{name: gw}]\n"
             "  hostnames: [example.com]\n"
             "  rules:\n"
             "  - matches: [{path: {value: /a}, method: GET, headers: "
             "[{name: x-team, value: t}]}]\n"
             "    backendRefs: [{group: gateway.networking.k8s.io, kind: "
             "HTTPRoute, name: child, namespace: team}]\n"
             "---\n" CHILD(
                 "child", "",
                 "  - matches: [{path: {value: /a/ok}, method: GET, headers: "
                 "[{name: x-team, value: t}, {name: x-more, value: m}]}]\n"
                 "    backendRefs: [{name: svc, port: 8080}]\n"
                 "  - matches: [{path: {value: /a/no-header}, method: GET}]\n"
                 "    backendRefs: [{name: svc, port: 8080}]\n"
                 "  - matches: [{path: {value: /a/no-method}, headers: "
                 "[{name: x-team, value: t}]}]\n"
                 "    backendRefs: [{name: svc, port: 8080}]\n"));
    const gw_vhost *v = vhost(&f->model, "example.com");
    assert_int_equal(v->entry_count, 1);
    assert_string_equal(v->entries[0].rule->matches[0].path, "/a/ok");
}

/* inherit-parent-matcher: the parent's path is joined before the
 * child's and its headers added. */
static void
test_inherit_parent_matcher_joins_paths_and_adds_headers(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY TEAM_SERVICE
             "apiVersion: gateway.networking.k8s.io/v1\n"
             "kind: HTTPRoute\n"
             "metadata: {name: parent, namespace: default}\n"
             "spec:\n"
             "  parentRefs: [{name: gw}]\n"
             "  hostnames: [example.com]\n"
             "  rules:\n"
             "  - matches: [{path: {value: /api}, headers: [{name: x-team, "
             "value: t}]}]\n"
             "    backendRefs: [{group: gateway.networking.k8s.io, kind: "
             "HTTPRoute, name: child, namespace: team}]\n"
             "---\n"
             "apiVersion: gateway.networking.k8s.io/v1\n"
             "kind: HTTPRoute\n"
             "metadata:\n"
             "  name: child\n"
             "  namespace: team\n"
             "  annotations: {delegation.kgateway.dev/inherit-parent-matcher: "
             "\"true\"}\n"
             "spec:\n"
             "  rules:\n"
             "  - matches: [{path: {type: Exact, value: /users}}]\n"
             "    backendRefs: [{name: svc, port: 8080}]\n");
    const gw_vhost *v = vhost(&f->model, "example.com");
    assert_int_equal(v->entry_count, 1);
    const gw_match *m = &v->entries[0].rule->matches[0];
    assert_int_equal(m->path_kind, GW_PATH_EXACT);
    assert_string_equal(m->path, "/api/users");
    assert_int_equal(m->header_count, 1);
    assert_string_equal(m->headers[0].name, "x-team");
}

/* The parent rule's filters a child rule does not set are inherited. */
static void
test_delegated_child_inherits_the_parents_filters(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY TEAM_SERVICE
             "apiVersion: gateway.networking.k8s.io/v1\n"
             "kind: HTTPRoute\n"
             "metadata: {name: parent, namespace: default}\n"
             "spec:\n"
             "  parentRefs: [{name: gw}]\n"
             "  hostnames: [example.com]\n"
             "  rules:\n"
             "  - filters:\n"
             "    - type: RequestHeaderModifier\n"
             "      requestHeaderModifier: {set: [{name: x-from, value: "
             "parent}]}\n"
             "    backendRefs: [{group: gateway.networking.k8s.io, kind: "
             "HTTPRoute, name: child, namespace: team}]\n"
             "---\n" CHILD("child", "", PATH_RULE("/x")));
    const gw_rule *r = rule_of(&f->model, "child", 0);
    assert_int_equal(r->filters.request_header_count, 1);
    assert_string_equal(r->filters.request_headers[0].value, "parent");
}

/* The parent rule's CORS filter reaches a child rule without one: the
 * child runs the parent's node (it stays in the parent's document). */
static void
test_delegated_child_inherits_the_parents_cors_filter(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY TEAM_SERVICE
             "apiVersion: gateway.networking.k8s.io/v1\n"
             "kind: HTTPRoute\n"
             "metadata: {name: parent, namespace: default}\n"
             "spec:\n"
             "  parentRefs: [{name: gw}]\n"
             "  hostnames: [example.com]\n"
             "  rules:\n"
             "  - filters: [{type: CORS, cors: {allowOrigins: [\"*\"]}}]\n"
             "    backendRefs: [{group: gateway.networking.k8s.io, kind: "
             "HTTPRoute, name: child, namespace: team}]\n"
             "---\n" CHILD("child", "", PATH_RULE("/x")));
    const gw_rule *r = rule_of(&f->model, "child", 0);
    assert_int_equal(r->fixed_status, 0);
    assert_non_null(r->filters.cors_route);
    assert_string_equal(r->filters.cors_route->name, "parent");
    assert_string_equal(r->filters.cors_field, "spec.rules[0].filters[0].cors");
}

/* A TrafficPolicy on the parent route reaches its delegated children; a
 * child's own policy overrides the field, unless the parent route
 * prefers the parent. */
#define TEAM_TP(name, target, spec)                                            \
    "apiVersion: gateway.kgateway.dev/v1alpha1\n"                              \
    "kind: TrafficPolicy\n"                                                    \
    "metadata: {name: " name ", namespace: team, creationTimestamp: "          \
    "\"2020-01-01T00:00:00Z\"}\n"                                              \
    "spec:\n"                                                                  \
    "  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, "      \
    "name: " target "}]\n" spec "---\n"

static void
test_parent_route_policy_is_inherited_and_child_overrides(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY TEAM_SERVICE TP("pp", "2020-01-01T00:00:00Z",
                                        TARGET("HTTPRoute", "parent")
                                            EXT_AUTH("authz") LOCAL_LIMIT)
                    TEAM_TP("cp", "child", LOCAL_LIMIT)
                        PARENT("/", "name: \"*\", namespace: team")
                            CHILD("child", "", PATH_RULE("/c"))
                                CHILD("plain", "", PATH_RULE("/p")));
    assert_string_equal(field_from(&f->model, "child", 0, GWF_PF_EXT_AUTH),
                        "pp");
    assert_string_equal(
        field_from(&f->model, "child", 0, GWF_PF_RATE_LIMIT_LOCAL), "cp");
    assert_string_equal(
        field_from(&f->model, "plain", 0, GWF_PF_RATE_LIMIT_LOCAL), "pp");
}

static void
test_parent_preferring_parent_overrides_the_childs_policy(void **state)
{
    fixture *f = *state;
    build_ok(
        f,
        GATEWAY TEAM_SERVICE TP("pp", "2020-01-01T00:00:00Z",
                                TARGET("HTTPRoute", "parent") LOCAL_LIMIT)
            TEAM_TP("cp", "child",
                    LOCAL_LIMIT EXT_AUTH(
                        "authz")) "apiVersion: gateway.networking.k8s.io/v1\n"
                                  "kind: HTTPRoute\n"
                                  "metadata:\n"
                                  "  name: parent\n"
                                  "  namespace: default\n"
                                  "  annotations: "
                                  "{kgateway.dev/inherited-policy-priority: "
                                  "ShallowMergePreferParent}\n"
                                  "spec:\n"
                                  "  parentRefs: [{name: gw}]\n"
                                  "  hostnames: [example.com]\n"
                                  "  rules:\n"
                                  "  - backendRefs: [{group: "
                                  "gateway.networking.k8s.io, kind: "
                                  "HTTPRoute, name: child, namespace: team}]\n"
                                  "---\n" CHILD("child", "", PATH_RULE("/c")));
    assert_string_equal(
        field_from(&f->model, "child", 0, GWF_PF_RATE_LIMIT_LOCAL), "pp");
    assert_string_equal(field_from(&f->model, "child", 0, GWF_PF_EXT_AUTH),
                        "cp");
}

/* A tree of routes each delegating "*" to the next namespace level ends
 * within the depth bound: the deepest delegating rule answers 500. */
static void
test_delegation_deeper_than_the_bound_is_cut(void **state)
{
    fixture *f = *state;
    char yaml[16384];
    int n = snprintf(yaml, sizeof(yaml), "%s%s", GATEWAY,
                     PARENT("/", "name: l1, namespace: default"));
    for (int i = 1; i <= 12; i++)
        n += snprintf(yaml + n, sizeof(yaml) - (size_t)n,
                      "apiVersion: gateway.networking.k8s.io/v1\n"
                      "kind: HTTPRoute\n"
                      "metadata: {name: l%d, namespace: default}\n"
                      "spec:\n"
                      "  rules:\n"
                      "  - backendRefs: [{group: gateway.networking.k8s.io, "
                      "kind: HTTPRoute, name: l%d}]\n"
                      "---\n",
                      i, i + 1);
    build_ok(f, yaml);
    const gw_vhost *v = vhost(&f->model, "example.com");
    assert_int_equal(v->entry_count, 1);
    assert_int_equal(v->entries[0].rule->fixed_status, 500);
}

/* inherit-parent-matcher under a RegularExpression parent: one
 * expression, the child's path quoted, the parent's "$" kept last. */
static void
test_inherit_under_a_regex_parent_makes_one_expression(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY TEAM_SERVICE
             "apiVersion: gateway.networking.k8s.io/v1\n"
             "kind: HTTPRoute\n"
             "metadata: {name: parent, namespace: default}\n"
             "spec:\n"
             "  parentRefs: [{name: gw}]\n"
             "  hostnames: [example.com]\n"
             "  rules:\n"
             "  - matches: [{path: {type: RegularExpression, value: "
             "\"/v[0-9]+$\"}}]\n"
             "    backendRefs: [{group: gateway.networking.k8s.io, kind: "
             "HTTPRoute, name: child, namespace: team}]\n"
             "---\n"
             "apiVersion: gateway.networking.k8s.io/v1\n"
             "kind: HTTPRoute\n"
             "metadata:\n"
             "  name: child\n"
             "  namespace: team\n"
             "  annotations: {delegation.kgateway.dev/inherit-parent-matcher: "
             "yes}\n"
             "spec:\n"
             "  rules:\n"
             "  - matches: [{path: {type: PathPrefix, value: /a.b}}]\n"
             "    backendRefs: [{name: svc, port: 8080}]\n");
    const gw_match *m =
        &vhost(&f->model, "example.com")->entries[0].rule->matches[0];
    assert_int_equal(m->path_kind, GW_PATH_REGEX);
    assert_string_equal(m->path, "/v[0-9]+/a\\.b(?:/.*)?$");
}

/* A rule that delegates and also names a Service answers 500. */
static void
test_rule_mixing_delegation_and_backends_answers_500(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY SERVICE TEAM_SERVICE
             "apiVersion: gateway.networking.k8s.io/v1\n"
             "kind: HTTPRoute\n"
             "metadata: {name: parent, namespace: default}\n"
             "spec:\n"
             "  parentRefs: [{name: gw}]\n"
             "  hostnames: [example.com]\n"
             "  rules:\n"
             "  - backendRefs:\n"
             "    - {group: gateway.networking.k8s.io, kind: HTTPRoute, name: "
             "child, namespace: team}\n"
             "    - {name: svc, port: 8080}\n"
             "---\n" CHILD("child", "", PATH_RULE("/x")));
    assert_int_equal(rule_of(&f->model, "parent", 0)->fixed_status, 500);
    assert_int_equal(vhost(&f->model, "example.com")->entry_count, 1);
    assert_cond(&parent(&f->model, "parent", 0)->conditions, "PartiallyInvalid",
                true, "UnsupportedValue");
}

/* Hostile: twenty routes that each delegate "/" to every route of their
 * namespace (each path a new permutation) end within the bounds, in
 * well under a second, with the parent's tree cut and reported. */
static void
test_dense_delegation_graph_ends_within_the_bounds(void **state)
{
    fixture *f = *state;
    char yaml[32768];
    int n = snprintf(yaml, sizeof(yaml), "%s%s", GATEWAY,
                     PARENT("/", "name: \"*\", namespace: team"));
    for (int i = 0; i < 20; i++)
        n += snprintf(yaml + n, sizeof(yaml) - (size_t)n,
                      "apiVersion: gateway.networking.k8s.io/v1\n"
                      "kind: HTTPRoute\n"
                      "metadata: {name: r%d, namespace: team}\n"
                      "spec:\n"
                      "  rules:\n"
                      "  - backendRefs: [{group: gateway.networking.k8s.io, "
                      "kind: HTTPRoute, name: \"*\"}]\n"
                      "---\n",
                      i);
    assert_true(n < (int)sizeof(yaml));
    build_ok(f, yaml);
    const gw_vhost *v = vhost(&f->model, "example.com");
    assert_true(v->entry_count >= 1);
    for (size_t i = 0; i < v->entry_count; i++)
        assert_int_equal(v->entries[i].rule->fixed_status, 500);
    /* 4096 rules made from the tree, and the parent's own. */
    assert_int_equal(f->model.rule_count + f->model.delegating_rule_count,
                     4097);
}

/* Many parents delegating to one namespace each copy it: the rules
 * delegation makes from all routes together are bounded too (16384), and
 * a parent past the bound fails closed saying why. */
static void
test_delegation_from_many_parents_is_bounded_in_all(void **state)
{
    fixture *f = *state;
    static char yaml[262144];
    int n = snprintf(yaml, sizeof(yaml), "%s", GATEWAY);
    /* Each parent: 4 rules of 64 matches "/" ("/p/<k>" distinct), each
     * match bringing in the child's 16 rules: 4096 per parent. */
    for (int p = 0; p < 6; p++) {
        n += snprintf(yaml + n, sizeof(yaml) - (size_t)n,
                      "apiVersion: gateway.networking.k8s.io/v1\n"
                      "kind: HTTPRoute\n"
                      "metadata: {name: parent%d, namespace: default}\n"
                      "spec:\n"
                      "  parentRefs: [{name: gw}]\n"
                      "  hostnames: [p%d.example.com]\n"
                      "  rules:\n",
                      p, p);
        for (int r = 0; r < 4; r++) {
            n += snprintf(yaml + n, sizeof(yaml) - (size_t)n,
                          "  - backendRefs: [{group: "
                          "gateway.networking.k8s.io, kind: HTTPRoute, "
                          "name: kid, namespace: team}]\n"
                          "    matches:\n");
            for (int m = 0; m < 64; m++)
                n += snprintf(yaml + n, sizeof(yaml) - (size_t)n,
                              "    - path: {type: PathPrefix, value: "
                              "/k%d}\n",
                              r * 64 + m);
        }
        n += snprintf(yaml + n, sizeof(yaml) - (size_t)n, "---\n");
    }
    n += snprintf(yaml + n, sizeof(yaml) - (size_t)n,
                  "apiVersion: gateway.networking.k8s.io/v1\n"
                  "kind: HTTPRoute\n"
                  "metadata: {name: kid, namespace: team, annotations: "
                  "{delegation.kgateway.dev/inherit-parent-matcher: "
                  "\"true\"}}\n"
                  "spec:\n"
                  "  rules:\n");
    for (int r = 0; r < 16; r++)
        n += snprintf(yaml + n, sizeof(yaml) - (size_t)n,
                      "  - matches: [{path: {type: PathPrefix, value: /c%d}}]\n"
                      "    filters: [{type: ExtensionRef, extensionRef: "
                      "{group: gateway.kgateway.dev, kind: DirectResponse, "
                      "name: dr}}]\n",
                      r);
    n += snprintf(yaml + n, sizeof(yaml) - (size_t)n,
                  "---\n"
                  "apiVersion: gateway.kgateway.dev/v1alpha1\n"
                  "kind: DirectResponse\n"
                  "metadata: {name: dr, namespace: team}\n"
                  "spec: {status: 200}\n");
    assert_true(n < (int)sizeof(yaml));
    build_ok(f, yaml);
    /* 4 parents' 4096 rules each, then nothing: the 5th and 6th
     * parents keep their 4 delegating rules, which answer 500. */
    assert_int_equal(f->model.rule_count, 16384 + 2 * 4);
    assert_int_equal(
        vhost(&f->model, "p5.example.com")->entries[0].rule->fixed_status, 500);
}

/* Filters on a backendRef to HTTPRoutes are not applied: 500. */
static void
test_filters_on_a_delegating_backend_ref_answer_500(void **state)
{
    fixture *f = *state;
    build_ok(f, GATEWAY TEAM_SERVICE
             "apiVersion: gateway.networking.k8s.io/v1\n"
             "kind: HTTPRoute\n"
             "metadata: {name: parent, namespace: default}\n"
             "spec:\n"
             "  parentRefs: [{name: gw}]\n"
             "  hostnames: [example.com]\n"
             "  rules:\n"
             "  - backendRefs:\n"
             "    - group: gateway.networking.k8s.io\n"
             "      kind: HTTPRoute\n"
             "      name: child\n"
             "      namespace: team\n"
             "      filters:\n"
             "      - type: RequestHeaderModifier\n"
             "        requestHeaderModifier: {set: [{name: x, value: y}]}\n"
             "---\n" CHILD("child", "", PATH_RULE("/x")));
    assert_int_equal(rule_of(&f->model, "parent", 0)->fixed_status, 500);
    assert_cond(&parent(&f->model, "parent", 0)->conditions, "PartiallyInvalid",
                true, "UnsupportedValue");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_gateway_of_another_class_is_skipped_with_a_note),
        T(test_served_gateway_is_accepted_and_programmed),
        T(test_listener_with_unsupported_protocol_is_not_accepted),
        T(test_https_listener_takes_its_certificate_from_a_tls_secret),
        T(test_base64_secret_data_is_decoded),
        T(test_string_data_wins_over_data_for_the_same_key),
        T(test_cross_namespace_certificate_without_grant_is_ref_not_permitted),
        T(test_route_on_a_listener_without_certificate_is_attached_not_served),
        T(test_cross_namespace_certificate_with_grant_is_served),
        T(test_secret_of_another_type_is_an_invalid_certificate_ref),
        T(test_listeners_on_one_port_with_two_protocols_conflict),
        T(test_route_from_another_namespace_is_not_allowed_by_same),
        T(test_selector_match_labels_picks_namespaces_by_label),
        T(test_selector_match_expressions_in_notin_exists),
        T(test_selector_on_metadata_name_label),
        T(test_listener_of_an_unsupported_protocol_refuses_routes),
        T(test_listener_kinds_grpc_only_refuse_httproutes),
        T(test_parent_ref_to_a_missing_gateway_is_no_matching_parent),
        T(test_section_name_attaches_to_that_listener_only),
        T(test_parent_port_matching_no_listener_is_no_matching_parent),
        T(test_hostname_intersection_follows_the_spec_examples),
        T(test_route_hostnames_are_intersected_with_the_listener),
        T(test_route_hostnames_without_intersection_are_not_attached),
        T(test_rule_without_matches_is_one_prefix_match_on_slash),
        T(test_matches_are_read_with_the_api_defaults),
        T(test_invalid_regular_expression_is_an_error_naming_the_field),
        T(test_control_characters_in_header_values_are_errors),
        T(test_filters_are_read_into_the_rule),
        T(test_redirect_defaults_to_302_and_needs_no_backend),
        T(test_redirect_and_rewrite_together_are_an_error),
        T(test_filter_field_of_another_type_is_an_error),
        T(test_replace_prefix_match_needs_one_path_prefix_match),
        T(test_unsupported_filter_makes_the_rule_answer_500),
        T(test_cors_filter_is_kept_as_its_field_path),
        T(test_two_cors_filters_are_an_error),
        T(test_cors_filter_on_a_backend_ref_makes_the_rule_answer_500),
        T(test_extension_ref_to_a_direct_response_answers_it),
        T(test_extension_ref_that_does_not_resolve_fails_closed),
        T(test_traffic_policy_targeting_a_route_reaches_each_rule),
        T(test_policy_with_section_name_reaches_only_that_rule),
        T(test_policy_selector_with_section_name_reaches_only_that_rule),
        T(test_route_policy_and_gateway_policy_merge_field_by_field),
        T(test_more_specific_attachment_wins_each_field),
        T(test_among_equals_the_older_policy_wins),
        T(test_gateway_preferring_parent_overrides_routes),
        T(test_disable_wins_its_field_over_a_broader_policy),
        T(test_policy_without_a_runnable_field_is_still_a_member),
        T(test_equal_merges_share_one_policy_set),
        T(test_new_fields_merge_field_by_field_and_disable_wins),
        T(test_new_field_among_equals_the_older_policy_wins),
        T(test_policy_status_says_whether_it_attached),
        T(test_policy_reaching_a_rule_twice_counts_it_once),
        T(test_policy_status_names_each_gateway_it_reaches_once),
        T(test_policy_targeting_a_gateway_fails_its_routes_closed),
        T(test_backend_policy_fails_the_rules_using_its_service_closed),
        T(test_http_listener_policy_logs_on_every_listener_of_its_gateway),
        T(test_access_log_json_format_keeps_member_order_and_parses_operators),
        T(test_listener_policy_per_port_replaces_its_default),
        T(test_listener_policy_section_name_logs_on_that_listener_only),
        T(test_access_log_operator_gwf_cannot_map_fails_routes_closed_naming_it),
        T(test_access_log_sinks_and_filters_other_than_file_are_refused_by_name),
        T(test_access_log_path_must_be_absolute_plain_and_in_a_directory),
        T(test_listener_policy_other_fields_are_refused_by_name),
        T(test_refused_listener_policy_leaves_another_gateways_routes_alone),
        T(test_backend_config_policy_reports_accepted_false),
        T(test_hostile_access_log_formats_never_crash),
        T(test_policy_in_another_namespace_changes_nothing),
        T(test_timeouts_and_retry_are_read),
        T(test_durations_follow_the_gateway_api_format),
        T(test_invalid_duration_is_an_error_naming_file_line_and_field),
        T(test_ids_that_fold_to_the_same_text_are_made_unique),
        T(test_ids_of_long_names_are_bounded_and_distinct),
        T(test_many_hostnames_attach_in_linear_time),
        T(test_weights_are_kept_and_zero_gets_nothing),
        T(test_all_weights_zero_answers_500),
        T(test_rule_without_backends_answers_500),
        T(test_missing_service_keeps_its_share_as_backend_not_found),
        T(test_only_unresolved_backends_answer_500),
        T(test_missing_service_port_is_backend_not_found),
        T(test_service_ref_without_port_is_an_error),
        T(test_unknown_backend_kind_is_invalid_kind),
        T(test_cross_namespace_backend_without_grant_is_ref_not_permitted),
        T(test_reference_grant_permits_only_the_named_service),
        T(test_reference_grant_from_another_namespace_does_not_permit),
        T(test_endpoint_slices_give_ready_endpoints_only),
        T(test_endpoint_slice_port_is_chosen_by_the_service_port_name),
        T(test_unnamed_service_port_maps_by_target_port_number),
        T(test_slices_of_other_services_are_not_used),
        T(test_serving_terminating_endpoints_are_used_when_none_is_ready),
        T(test_slice_with_a_malformed_address_is_an_error_and_left_out),
        T(test_udp_service_port_is_not_a_backend),
        T(test_external_name_service_is_its_dns_name),
        T(test_app_protocol_h2c_is_kept),
        T(test_kgateway_static_backend_gives_its_hosts),
        T(test_kgateway_aws_backend_is_a_lambda),
        T(test_precedence_exact_then_regex_then_longest_prefix),
        T(test_precedence_ignores_the_length_of_regular_expressions),
        T(test_precedence_method_then_headers_then_query_params),
        T(test_precedence_across_routes_oldest_then_namespace_name),
        T(test_precedence_namespace_name_compares_as_one_string),
        T(test_precedence_ties_keep_rule_then_match_order),
        T(test_route_served_twice_on_one_host_is_listed_once),
        T(test_invalid_header_names_are_errors),
        T(test_grpc_route_matches_become_paths),
        T(test_grpc_and_http_routes_sharing_a_hostname_keep_the_older),
        T(test_grpc_and_http_routes_on_distinct_hostnames_both_attach),
        T(test_grpc_route_refuses_http_only_filters),
        T(test_status_json_reports_every_object_in_gateway_api_shape),
        T(test_gateway_without_class_document_reports_gwf_controller),
        T(test_build_options_choose_the_classes),
        T(test_wrong_type_drops_only_that_object),
        T(test_lists_longer_than_the_api_allows_are_refused),
        T(test_malformed_gateway_is_an_error_and_serves_nothing),
        T(test_duplicate_documents_keep_the_first),
        T(test_document_without_a_name_is_an_error),
        T(test_hostile_documents_never_crash),
        T(test_delegated_child_within_the_parent_prefix_is_served),
        T(test_delegated_child_rule_outside_the_parent_prefix_is_dropped),
        T(test_delegation_with_no_child_rule_within_answers_500),
        T(test_delegation_to_a_missing_child_answers_500),
        T(test_delegation_wildcard_selects_every_child_naming_the_parent),
        T(test_delegation_by_label_selects_labelled_children),
        T(test_delegation_cycle_terminates_with_an_error_status),
        T(test_self_delegation_is_refused),
        T(test_delegated_child_with_hostnames_is_not_accepted),
        T(test_delegated_child_must_repeat_the_parents_headers_and_method),
        T(test_inherit_parent_matcher_joins_paths_and_adds_headers),
        T(test_delegated_child_inherits_the_parents_filters),
        T(test_delegated_child_inherits_the_parents_cors_filter),
        T(test_parent_route_policy_is_inherited_and_child_overrides),
        T(test_parent_preferring_parent_overrides_the_childs_policy),
        T(test_delegation_deeper_than_the_bound_is_cut),
        T(test_inherit_under_a_regex_parent_makes_one_expression),
        T(test_rule_mixing_delegation_and_backends_answers_500),
        T(test_dense_delegation_graph_ends_within_the_bounds),
        T(test_filters_on_a_delegating_backend_ref_answer_500),
        T(test_delegation_from_many_parents_is_bounded_in_all),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
