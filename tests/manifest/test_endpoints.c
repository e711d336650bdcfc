/*
 * test_endpoints.c - a Service port's endpoints as kube-proxy maps them
 * (gwf_manifests_service_endpoints), and ReferenceGrants across
 * namespaces (gwf_manifests_ref_granted): what the translator and the
 * plugins' backendRefs both rely on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <gwf/manifest.h>

typedef struct fixture {
    gwf_manifests *m;
    gwf_diag d;
    char got[1024];
} fixture;

static int
setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->m = gwf_manifests_new();
    gwf_diag_init(&f->d);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fixture *f = *state;
    gwf_manifests_free(f->m);
    gwf_diag_free(&f->d);
    free(f);
    return 0;
}

static void
load(fixture *f, const char *yaml)
{
    assert_int_equal(
        gwf_manifests_load_buffer(f->m, "m.yaml", yaml, strlen(yaml), &f->d),
        0);
    assert_int_equal(gwf_manifests_index(f->m, &f->d), 0);
}

static int
collect(void *ctx, const char *address, int port)
{
    fixture *f = ctx;
    size_t at = strlen(f->got);
    snprintf(f->got + at, sizeof f->got - at, "%s%s:%d", at ? " " : "", address,
             port);
    return 0;
}

static int
endpoints(fixture *f, const char *svc, int port)
{
    const gwf_doc *d = gwf_manifests_find(f->m, "Service", svc);
    assert_non_null(d);
    f->got[0] = '\0';
    return gwf_manifests_service_endpoints(f->m, d, port, collect, f);
}

#define SVC                                                                    \
    "apiVersion: v1\n"                                                         \
    "kind: Service\n"                                                          \
    "metadata: {name: s}\n"                                                    \
    "spec:\n"                                                                  \
    "  ports: [{name: http, port: 80}, {port: 81, targetPort: 9001}]\n"        \
    "---\n"

#define SLICE(name, body)                                                      \
    "apiVersion: discovery.k8s.io/v1\n"                                        \
    "kind: EndpointSlice\n"                                                    \
    "metadata: {name: " name ", labels: {kubernetes.io/service-name: s}}\n"    \
    "addressType: IPv4\n" body "---\n"

static void
test_named_port_maps_to_the_slice_port_of_that_name(void **state)
{
    fixture *f = *state;
    load(f, SVC SLICE("a", "ports: [{name: http, port: 8080}, {port: 9001}]\n"
                           "endpoints: [{addresses: [10.0.0.1]}, "
                           "{addresses: [10.0.0.2]}]\n"));
    assert_int_equal(endpoints(f, "s", 80), 0);
    assert_string_equal(f->got, "10.0.0.1:8080 10.0.0.2:8080");
}

static void
test_unnamed_port_maps_by_its_numeric_target_port(void **state)
{
    fixture *f = *state;
    load(f, SVC SLICE("a", "ports: [{name: http, port: 8080}, {port: 9001}]\n"
                           "endpoints: [{addresses: [10.0.0.1]}]\n"));
    assert_int_equal(endpoints(f, "s", 81), 0);
    assert_string_equal(f->got, "10.0.0.1:9001");
}

static void
test_ready_endpoints_only_then_serving_terminating(void **state)
{
    fixture *f = *state;
    load(f, SVC SLICE("a", "ports: [{name: http, port: 8080}]\n"
                           "endpoints:\n"
                           "- {addresses: [10.0.0.1], conditions: {ready: "
                           "false}}\n"
                           "- {addresses: [10.0.0.2]}\n")
                SLICE("b", "ports: [{name: http, port: 8080}]\n"
                           "endpoints:\n"
                           "- {addresses: [10.0.0.3], conditions: {ready: "
                           "false, serving: true, terminating: true}}\n"));
    assert_int_equal(endpoints(f, "s", 80), 0);
    assert_string_equal(f->got, "10.0.0.2:8080");
}

static void
test_no_ready_endpoint_falls_back_to_terminating_ones(void **state)
{
    fixture *f = *state;
    load(f, SVC SLICE("b", "ports: [{name: http, port: 8080}]\n"
                           "endpoints:\n"
                           "- {addresses: [10.0.0.3], conditions: {ready: "
                           "false, serving: true, terminating: true}}\n"));
    assert_int_equal(endpoints(f, "s", 80), 0);
    assert_string_equal(f->got, "10.0.0.3:8080");
}

static void
test_address_that_is_neither_ip_nor_dns_name_is_no_endpoint(void **state)
{
    fixture *f = *state;
    load(f, SVC SLICE("a", "ports: [{name: http, port: 8080}]\n"
                           "endpoints: [{addresses: [\"10.0.0.1; include "
                           "x\"]}, {addresses: [\"a..b\"]}, {addresses: "
                           "[fd00::1]}]\n"));
    assert_int_equal(endpoints(f, "s", 80), 0);
    assert_string_equal(f->got, "fd00::1:8080");
}

static void
test_missing_port_is_reported(void **state)
{
    fixture *f = *state;
    load(f, SVC);
    assert_int_equal(endpoints(f, "s", 82), GWF_NO_SUCH_PORT);
}

static void
test_slices_of_another_service_or_namespace_do_not_count(void **state)
{
    fixture *f = *state;
    load(f, SVC "apiVersion: discovery.k8s.io/v1\n"
                "kind: EndpointSlice\n"
                "metadata: {name: x, namespace: other, labels: "
                "{kubernetes.io/service-name: s}}\n"
                "addressType: IPv4\n"
                "ports: [{name: http, port: 8080}]\n"
                "endpoints: [{addresses: [10.9.9.9]}]\n");
    assert_int_equal(endpoints(f, "s", 80), 0);
    assert_string_equal(f->got, "");
}

#define GRANT(to_name)                                                         \
    "apiVersion: gateway.networking.k8s.io/v1beta1\n"                          \
    "kind: ReferenceGrant\n"                                                   \
    "metadata: {name: g, namespace: peers}\n"                                  \
    "spec:\n"                                                                  \
    "  from: [{group: gateway.kgateway.dev, kind: GatewayExtension, "          \
    "namespace: default}]\n"                                                   \
    "  to: [{group: \"\", kind: Service" to_name "}]\n"

static void
test_same_namespace_needs_no_grant(void **state)
{
    fixture *f = *state;
    load(f, SVC);
    assert_true(gwf_manifests_ref_granted(f->m, "gateway.kgateway.dev",
                                          "GatewayExtension", "a", "",
                                          "Service", "a", "s"));
}

static void
test_grant_in_the_target_namespace_allows_the_reference(void **state)
{
    fixture *f = *state;
    load(f, GRANT(""));
    assert_true(gwf_manifests_ref_granted(f->m, "gateway.kgateway.dev",
                                          "GatewayExtension", "default", "",
                                          "Service", "peers", "authz"));
    assert_false(gwf_manifests_ref_granted(f->m, "gateway.kgateway.dev",
                                           "GatewayExtension", "other", "",
                                           "Service", "peers", "authz"));
    assert_false(gwf_manifests_ref_granted(
        f->m, "gateway.kgateway.dev", "GatewayExtension", "default",
        "gateway.kgateway.dev", "Backend", "peers", "authz"));
}

static void
test_grant_naming_one_object_allows_only_it(void **state)
{
    fixture *f = *state;
    load(f, GRANT(", name: authz"));
    assert_true(gwf_manifests_ref_granted(f->m, "gateway.kgateway.dev",
                                          "GatewayExtension", "default", "",
                                          "Service", "peers", "authz"));
    assert_false(gwf_manifests_ref_granted(f->m, "gateway.kgateway.dev",
                                           "GatewayExtension", "default", "",
                                           "Service", "peers", "other"));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_named_port_maps_to_the_slice_port_of_that_name),
        T(test_unnamed_port_maps_by_its_numeric_target_port),
        T(test_ready_endpoints_only_then_serving_terminating),
        T(test_no_ready_endpoint_falls_back_to_terminating_ones),
        T(test_address_that_is_neither_ip_nor_dns_name_is_no_endpoint),
        T(test_missing_port_is_reported),
        T(test_slices_of_another_service_or_namespace_do_not_count),
        T(test_same_namespace_needs_no_grant),
        T(test_grant_in_the_target_namespace_allows_the_reference),
        T(test_grant_naming_one_object_allows_only_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
