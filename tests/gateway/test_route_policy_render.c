/*
 * test_route_policy_render.c - what `gwf gateway render` writes for the
 * TrafficPolicy fields nginx does itself.
 *
 * Documents in (YAML), model built (host/gateway's readers, attachment
 * and read_route_policy.c), nginx configuration out (emit_nginx.c): the
 * directives each field becomes, the precedence between a policy and the
 * HTTPRoute's own timeouts, retry, header filters and URLRewrite, header
 * values read from Secrets (quoted as text), that a gwf_policy line never
 * names these fields, and each field nginx cannot
 * honour failing its entries closed (500) with the route's status naming
 * it. Their effect through a running nginx is test_route_policies.py's.
 * White-box: includes host/gateway's private build.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build.h"
#include "emit_nginx.h"

typedef struct fixture {
    gwf_manifests *m;
    gwf_diag load, errors, notes, emit_errors;
    gw_model model;
    gw_emit_out out;
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
    gwf_diag_init(&f->emit_errors);
    *state = f;
    return f->m ? 0 : -1;
}

static int
teardown(void **state)
{
    fixture *f = *state;
    gw_emit_out_free(&f->out);
    gw_model_free(&f->model);
    gwf_manifests_free(f->m);
    gwf_diag_free(&f->load);
    gwf_diag_free(&f->errors);
    gwf_diag_free(&f->notes);
    gwf_diag_free(&f->emit_errors);
    free(f);
    return 0;
}

static void
dump(const gwf_diag *d)
{
    for (size_t i = 0; i < d->count; i++)
        fprintf(stderr, "  %s\n", gwf_diag_line(d, i));
}

/* Loads `yaml`, builds the model and renders it (http include only). */
static const char *
render(fixture *f, const char *yaml)
{
    if (gwf_manifests_load_buffer(f->m, "m.yaml", yaml, strlen(yaml),
                                  &f->load)) {
        dump(&f->load);
        fail_msg("YAML did not load");
    }
    if (gw_model_build(f->m, NULL, &f->model, &f->errors, &f->notes) != 0) {
        dump(&f->errors);
        fail_msg("unexpected build errors");
    }
    gw_emit_options o = {.output_dir = "/tmp", .http_include = true};
    if (gw_emit_nginx(&f->model, &o, &f->out, &f->emit_errors) != 0) {
        dump(&f->emit_errors);
        fail_msg("unexpected emit errors");
    }
    return f->out.config;
}

static void
assert_contains(const char *text, const char *needle)
{
    if (!text || !strstr(text, needle)) {
        fprintf(stderr, "expected to find\n%s\nin\n%s\n", needle,
                text ? text : "(null)");
        fail_msg("text not found");
    }
}

static void
assert_lacks(const char *text, const char *needle)
{
    if (text && strstr(text, needle)) {
        fprintf(stderr, "did not expect\n%s\nin\n%s\n", needle, text);
        fail_msg("unexpected text");
    }
}

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

/* HTTPRoute r with one rule (its extra keys `rule`) to svc. */
#define ROUTE(rule)                                                            \
    "apiVersion: gateway.networking.k8s.io/v1\n"                               \
    "kind: HTTPRoute\n"                                                        \
    "metadata: {name: r, namespace: default}\n"                                \
    "spec:\n"                                                                  \
    "  parentRefs: [{name: gw}]\n"                                             \
    "  rules:\n"                                                               \
    "  - matches: [{path: {type: PathPrefix, value: /api}}]\n"                 \
    "    backendRefs: [{name: svc, port: 8080}]\n" rule "---\n"

#define TP(name, target, spec)                                                 \
    "apiVersion: gateway.kgateway.dev/v1alpha1\n"                              \
    "kind: TrafficPolicy\n"                                                    \
    "metadata: {name: " name ", namespace: default}\n"                         \
    "spec:\n"                                                                  \
    "  targetRefs: [{group: gateway.networking.k8s.io, " target "}]\n" spec    \
    "---\n"

#define ON_ROUTE "kind: HTTPRoute, name: r"
#define ON_GATEWAY "kind: Gateway, name: gw"

/* -- Timeouts and retry: precedence ------------------------------------ */

static void
test_gateway_policy_timeout_gives_way_to_the_rules_own(void **state)
{
    const char *c =
        render(*state, GATEWAY SERVICE TP("p", ON_GATEWAY,
                                          "  timeouts: {request: 1s}\n")
                           ROUTE("    timeouts: {request: 5s}\n"));
    assert_contains(c, "gwf_request_timeout 5000ms;");
    assert_lacks(c, "gwf_request_timeout 1000ms;");
}

static void
test_route_policy_timeout_wins_over_the_rules_own(void **state)
{
    const char *c =
        render(*state, GATEWAY SERVICE TP("p", ON_ROUTE,
                                          "  timeouts: {request: 300ms}\n")
                           ROUTE("    timeouts: {request: 5s}\n"));
    assert_contains(c, "gwf_request_timeout 300ms;");
    assert_lacks(c, "gwf_request_timeout 5000ms;");
}

static void
test_gateway_policy_timeout_applies_to_a_rule_without_one(void **state)
{
    const char *c = render(
        *state, GATEWAY SERVICE TP("p", ON_GATEWAY,
                                   "  timeouts: {request: 1s}\n") ROUTE(""));
    assert_contains(c, "gwf_request_timeout 1000ms;");
}

static void
test_stream_idle_bounds_client_and_upstream_waits(void **state)
{
    const char *c =
        render(*state, GATEWAY SERVICE TP("p", ON_ROUTE,
                                          "  timeouts: {streamIdle: 2s}\n")
                           ROUTE("    timeouts: {backendRequest: "
                                 "5s}\n"));
    assert_contains(c, "client_body_timeout 2000ms;");
    assert_contains(c, "send_timeout 2000ms;");
    assert_contains(c, "proxy_connect_timeout 5000ms;");
    assert_contains(c, "proxy_send_timeout 2000ms;");
    assert_contains(c, "proxy_read_timeout 2000ms;");
}

static void
test_retry_conditions_codes_and_per_try_timeout(void **state)
{
    const char *c = render(
        *state, GATEWAY SERVICE TP(
                    "p", ON_ROUTE,
                    "  retry: {attempts: 2, retryOn: [5xx, gateway-error, "
                    "connect-failure], statusCodes: [429], perTryTimeout: "
                    "250ms, backoffBaseInterval: 25ms}\n") ROUTE(""));
    assert_contains(c, "proxy_next_upstream error timeout non_idempotent "
                       "http_500 http_502 http_503 http_504 http_429;\n");
    assert_contains(c, "proxy_next_upstream_tries 3;\n");
    assert_contains(c, "proxy_connect_timeout 250ms;");
    assert_contains(c, "proxy_read_timeout 250ms;");
    /* each endpoint once per try, so one endpoint can be retried */
    const char *up = strstr(c, "upstream svc_default_svc_8080 {");
    assert_non_null(up);
    size_t n = 0;
    for (const char *p = up;
         (p = strstr(p, "server 10.0.0.1:9090")) && p < strstr(up, "keepalive");
         p++)
        n++;
    assert_int_equal(n, 3);
}

static void
test_gateway_policy_retry_gives_way_to_the_rules_own(void **state)
{
    const char *c = render(
        *state, GATEWAY SERVICE TP("p", ON_GATEWAY,
                                   "  retry: {attempts: 5, retryOn: [5xx]}\n")
                    ROUTE("    retry: {attempts: 1, codes: [503]}\n"));
    assert_contains(c, "proxy_next_upstream error timeout non_idempotent "
                       "http_503;\n");
    assert_contains(c, "proxy_next_upstream_tries 2;\n");
}

static void
test_route_policy_with_zero_attempts_switches_retry_off(void **state)
{
    const char *c = render(
        *state, GATEWAY SERVICE TP("p", ON_ROUTE,
                                   "  retry: {attempts: 0, retryOn: [5xx]}\n")
                    ROUTE("    retry: {attempts: 3, codes: [503]}\n"));
    assert_lacks(c, "proxy_next_upstream");
}

/* -- Headers, rewrites, body, compression ------------------------------ */

static void
test_policy_request_headers_go_before_the_routes_and_response_after(
    void **state)
{
    const char *c = render(
        *state,
        GATEWAY SERVICE TP("p", ON_ROUTE,
                           "  headerModifiers:\n"
                           "    request: {set: [{name: X-A, value: p}], "
                           "remove: [X-Gone]}\n"
                           "    response: {add: [{name: X-B, value: p}]}\n")
            ROUTE("    filters:\n"
                  "    - {type: RequestHeaderModifier, requestHeaderModifier: "
                  "{set: [{name: X-A, value: r}]}}\n"
                  "    - {type: ResponseHeaderModifier, "
                  "responseHeaderModifier: {set: [{name: X-B, value: r}]}}\n"));
    assert_contains(c, "            gwf_request_header set \"X-A\" \"p\";\n"
                       "            gwf_request_header remove \"X-Gone\";\n"
                       "            gwf_request_header set \"X-A\" \"r\";\n"
                       "            gwf_response_header set \"X-B\" \"r\";\n"
                       "            gwf_response_header add \"X-B\" \"p\";\n");
}

static void
test_url_rewrite_becomes_an_anchored_rewrite(void **state)
{
    const char *c = render(
        *state, GATEWAY SERVICE TP("p", ON_ROUTE,
                                   "  urlRewrite: {pathRegex: {pattern: "
                                   "'^/api/(.*)/x\\.json$', substitution: "
                                   "'/v2/\\1'}}\n") ROUTE(""));
    assert_contains(c, "rewrite \"^/api/(.*)/x\\\\.json$\" \"/v2/$1\" break;");
}

static void
test_httproute_url_rewrite_path_wins_over_the_policys(void **state)
{
    const char *c =
        render(*state, GATEWAY SERVICE TP("p", ON_ROUTE,
                                          "  urlRewrite: {pathRegex: "
                                          "{pattern: '^/(.*)$', "
                                          "substitution: '/x/\\1'}}\n")
                           ROUTE("    filters: [{type: URLRewrite, "
                                 "urlRewrite: {path: {type: ReplaceFullPath, "
                                 "replaceFullPath: /full}}}]\n"));
    assert_contains(c, "gwf_rewrite \"path=full:/full\";");
    assert_lacks(c, "            rewrite ");
}

/* The regular expression written for maxRequestSize: the Content-Length
 * values it matches are exactly those above the limit. */
static void
check_above_regex(fixture *f, uint64_t limit, const char *yaml)
{
    const char *c = render(f, yaml);
    char want[64];
    snprintf(want, sizeof want, "client_max_body_size %llu;",
             (unsigned long long)limit);
    assert_contains(c, want);
    const char *at = strstr(c, "if ($http_content_length ~ \"");
    assert_non_null(at);
    at += strlen("if ($http_content_length ~ \"");
    const char *end = strstr(at, "\") {\n                return 413;");
    assert_non_null(end);
    int err;
    PCRE2_SIZE off;
    pcre2_code *re =
        pcre2_compile((PCRE2_SPTR)at, (size_t)(end - at), 0, &err, &off, NULL);
    assert_non_null(re);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    uint64_t probes[] = {0,     1,         9,         10,        limit - 1,
                         limit, limit + 1, limit + 9, limit * 2, limit * 10};
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
        char num[40];
        int len = snprintf(num, sizeof num, "%s%llu", i % 2 ? "00" : "",
                           (unsigned long long)probes[i]);
        bool matched =
            pcre2_match(re, (PCRE2_SPTR)num, (size_t)len, 0, 0, md, NULL) >= 0;
        if (matched != (probes[i] > limit))
            fail_msg("limit %llu: Content-Length %s %s",
                     (unsigned long long)limit, num,
                     matched ? "refused" : "let through");
    }
    for (uint64_t n = 0; n < 3000; n++) {
        char num[24];
        int len = snprintf(num, sizeof num, "%llu", (unsigned long long)n);
        bool matched =
            pcre2_match(re, (PCRE2_SPTR)num, (size_t)len, 0, 0, md, NULL) >= 0;
        if (matched != (n > limit))
            fail_msg("limit %llu: Content-Length %llu %s",
                     (unsigned long long)limit, (unsigned long long)n,
                     matched ? "refused" : "let through");
    }
    pcre2_match_data_free(md);
    pcre2_code_free(re);
}

static void
test_max_request_size_refuses_exactly_the_larger_bodies(void **state)
{
    check_above_regex(
        *state, 1024,
        GATEWAY SERVICE TP("p", ON_ROUTE, "  buffer: {maxRequestSize: 1Ki}\n")
            ROUTE(""));
}

static void
test_max_request_size_of_nines(void **state)
{
    check_above_regex(
        *state, 1999,
        GATEWAY SERVICE TP("p", ON_ROUTE, "  buffer: {maxRequestSize: 1999}\n")
            ROUTE(""));
}

static void
test_max_request_size_above_one_megabyte_raises_the_routing_limit(void **state)
{
    const char *c =
        render(*state, GATEWAY SERVICE TP("p", ON_ROUTE,
                                          "  buffer: {maxRequestSize: 2M}\n")
                           ROUTE(""));
    assert_contains(c, "        location / {\n"
                       "            client_max_body_size 2000000;\n");
}

static void
test_buffer_disable_writes_no_limit(void **state)
{
    const char *c = render(
        *state,
        GATEWAY SERVICE TP("g", ON_GATEWAY, "  buffer: {maxRequestSize: 1Ki}\n")
            TP("p", ON_ROUTE, "  buffer: {disable: {}}\n") ROUTE(""));
    assert_lacks(c, "client_max_body_size");
}

static void
test_response_compression_is_gzip_and_disable_is_off(void **state)
{
    fixture *f = *state;
    const char *c =
        render(f, GATEWAY SERVICE TP("p", ON_ROUTE,
                                     "  compression: {responseCompression: "
                                     "{libraries: [Gzip]}}\n") ROUTE(""));
    assert_contains(c, "gzip on;\n");
    assert_contains(c, "gzip_types application/javascript application/json "
                       "application/xhtml+xml image/svg+xml text/css "
                       "text/plain text/xml;\n");
    assert_contains(c, "gzip_vary on;\n");
}

static void
test_compression_disable_on_the_route_writes_gzip_off(void **state)
{
    const char *c = render(
        *state, GATEWAY SERVICE TP("g", ON_GATEWAY,
                                   "  compression: {responseCompression: {}}\n")
                    TP("p", ON_ROUTE,
                       "  compression: {responseCompression: {disable: {}}}\n")
                        ROUTE(""));
    assert_contains(c, "gzip off;\n");
    assert_lacks(c, "gzip on;");
}

static void
test_auto_host_rewrite_keeps_the_host_for_a_service_of_addresses(void **state)
{
    const char *c = render(
        *state, GATEWAY SERVICE TP("p", ON_ROUTE, "  autoHostRewrite: true\n")
                    ROUTE(""));
    assert_contains(c, "proxy_set_header Host $http_host;");
}

static void
test_nginx_fields_never_reach_a_gwf_policy_line(void **state)
{
    const char *c = render(
        *state,
        GATEWAY SERVICE TP("p", ON_ROUTE,
                           "  headerModifiers: {request: {set: [{name: X-A, "
                           "value: v}]}}\n"
                           "  timeouts: {request: 1s}\n"
                           "  retry: {retryOn: [5xx]}\n"
                           "  buffer: {maxRequestSize: 10}\n"
                           "  compression: {responseCompression: {}}\n"
                           "  autoHostRewrite: true\n") ROUTE(""));
    assert_lacks(c, "gwf_policy");
    assert_contains(c, "gwf_request_header set \"X-A\" \"v\";");
}

/* -- Fail closed ----------------------------------------------------------- */

/* The policy p with `spec` on route r, with more documents `extra`
 * (Secrets, grants: each ending in "---\n"): its rule answers 500 and
 * the route's status names `field`; a `hidden` text (a Secret's value)
 * appears in no message. */
static void
expect_failed_closed_with(fixture *f, const char *extra, const char *spec,
                          const char *field, const char *hidden)
{
    char yaml[8192];
    snprintf(yaml, sizeof yaml, "%s%s%s%s", GATEWAY SERVICE, extra,
             "apiVersion: gateway.kgateway.dev/v1alpha1\n"
             "kind: TrafficPolicy\n"
             "metadata: {name: p, namespace: default}\n"
             "spec:\n"
             "  targetRefs: [{group: gateway.networking.k8s.io, " ON_ROUTE
             "}]\n",
             spec);
    strncat(yaml, "---\n" ROUTE(""), sizeof yaml - strlen(yaml) - 1);
    const char *c = render(f, yaml);
    assert_contains(c, "gwf_route \"prefix=/api\" status=500;");
    const gw_model *m = &f->model;
    bool named = false;
    for (size_t i = 0; i < m->route_count; i++)
        for (size_t k = 0; k < m->routes[i].parent_count; k++) {
            const gw_conditions *cs = &m->routes[i].parents[k].conditions;
            for (size_t j = 0; j < cs->count; j++) {
                if (hidden && strstr(cs->items[j].message, hidden))
                    fail_msg("a message shows the Secret's value: %s",
                             cs->items[j].message);
                if (strcmp(cs->items[j].type, "PartiallyInvalid") == 0 &&
                    cs->items[j].status &&
                    strstr(cs->items[j].message, field) &&
                    strstr(cs->items[j].message, "TrafficPolicy default/p"))
                    named = true;
            }
        }
    if (!named)
        fail_msg("no PartiallyInvalid condition names %s", field);
    if (hidden)
        assert_lacks(c, hidden);
}

static void
expect_failed_closed(fixture *f, const char *spec, const char *field)
{
    expect_failed_closed_with(f, "", spec, field, NULL);
}

static void
test_retry_condition_nginx_lacks_fails_closed(void **state)
{
    expect_failed_closed(*state,
                         "  retry: {retryOn: [5xx, envoy-ratelimited]}\n",
                         "spec.retry.retryOn[1]");
}

static void
test_grpc_retry_condition_fails_closed(void **state)
{
    expect_failed_closed(*state, "  retry: {retryOn: [unavailable]}\n",
                         "spec.retry.retryOn[0]");
}

static void
test_retry_status_nginx_lacks_fails_closed(void **state)
{
    expect_failed_closed(*state, "  retry: {statusCodes: [503, 409]}\n",
                         "spec.retry.statusCodes[1]");
}

static void
test_request_decompression_fails_closed(void **state)
{
    expect_failed_closed(*state, "  compression: {requestDecompression: {}}\n",
                         "spec.compression.requestDecompression");
}

static void
test_zstd_compression_fails_closed(void **state)
{
    expect_failed_closed(*state,
                         "  compression: {responseCompression: {libraries: "
                         "[Gzip, Zstd]}}\n",
                         "spec.compression.responseCompression.libraries[1]");
}

static void
test_header_nginx_manages_fails_closed(void **state)
{
    expect_failed_closed(*state,
                         "  headerModifiers: {response: {remove: "
                         "[Content-Length]}}\n",
                         "spec.headerModifiers.response.remove[0]");
}

/* -- Header values from Secrets ------------------------------------------ */

#define SECRET(ns, name, body)                                                 \
    "apiVersion: v1\n"                                                         \
    "kind: Secret\n"                                                           \
    "metadata: {name: " name ", namespace: " ns "}\n" body "---\n"

/* A ReferenceGrant in namespace vault from `group`/`kind` in default to
 * its Secrets. */
#define GRANT(group, kind)                                                     \
    "apiVersion: gateway.networking.k8s.io/v1beta1\n"                          \
    "kind: ReferenceGrant\n"                                                   \
    "metadata: {name: g, namespace: vault}\n"                                  \
    "spec:\n"                                                                  \
    "  from: [{group: " group ", kind: " kind ", namespace: default}]\n"       \
    "  to: [{group: '', kind: Secret}]\n"                                      \
    "---\n"

#define TP_HEADERS(hm) TP("p", ON_ROUTE, "  headerModifiers: " hm "\n")

static void
test_secret_value_is_written_literally_quoted(void **state)
{
    /* $host stays text: gwf_request_header takes no variables; '"' and
     * '\' are escaped as nginx's quoted strings unescape them. */
    const char *c = render(
        *state,
        GATEWAY SERVICE SECRET("default", "s",
                               "stringData: {k: 'a\"b\\c $host'}\n")
            TP_HEADERS("{request: {set: [{name: X-K, secretRef: {name: s, "
                       "key: k}}]}}") ROUTE(""));
    assert_contains(c, "gwf_request_header set \"X-K\" \"a\\\"b\\\\c $host\";");
}

static void
test_secret_data_is_base64_decoded(void **state)
{
    const char *c =
        render(*state, GATEWAY SERVICE SECRET("default", "s",
                                              "data: {X-Token: dG9rZW4tMQ==}\n")
                           TP_HEADERS("{response: {add: [{secretRef: {name: s, "
                                      "key: X-Token}}]}}") ROUTE(""));
    assert_contains(c, "gwf_response_header add \"X-Token\" \"token-1\";");
}

static void
test_name_alone_is_also_the_secret_key(void **state)
{
    const char *c =
        render(*state, GATEWAY SERVICE SECRET("default", "s",
                                              "stringData: {X-N: by-name}\n")
                           TP_HEADERS("{request: {set: [{name: X-N, "
                                      "secretRef: {name: s}}]}}") ROUTE(""));
    assert_contains(c, "gwf_request_header set \"X-N\" \"by-name\";");
}

static void
test_whole_secret_becomes_headers_in_key_order(void **state)
{
    const char *c = render(
        *state,
        GATEWAY SERVICE SECRET("default", "s",
                               "data: {x-b: Yg==, x-a: YQ==}\n"
                               "stringData: {x-c: c, x-b: b2}\n")
            TP_HEADERS("{request: {add: [{secretRef: {name: s}}]}}") ROUTE(""));
    /* stringData wins over data for one key, as Kubernetes merges them */
    assert_contains(c, "gwf_request_header add \"x-a\" \"a\";\n"
                       "            gwf_request_header add \"x-b\" \"b2\";\n"
                       "            gwf_request_header add \"x-c\" \"c\";\n");
}

static void
test_secret_in_another_namespace_with_a_grant_is_read(void **state)
{
    const char *c = render(
        *state,
        GATEWAY SERVICE SECRET("vault", "s", "stringData: {k: granted}\n")
            GRANT("gateway.kgateway.dev", "TrafficPolicy")
                TP_HEADERS("{request: {set: [{name: X-K, secretRef: {name: "
                           "s, namespace: vault, key: k}}]}}") ROUTE(""));
    assert_contains(c, "gwf_request_header set \"X-K\" \"granted\";");
}

static void
test_missing_secret_fails_closed(void **state)
{
    expect_failed_closed(*state,
                         "  headerModifiers: {request: {add: [{name: X-K, "
                         "secretRef: {name: s}}]}}\n",
                         "spec.headerModifiers.request.add[0].secretRef: "
                         "Secret default/s not found");
}

static void
test_missing_secret_key_fails_closed(void **state)
{
    expect_failed_closed_with(
        *state, SECRET("default", "s", "stringData: {other: v}\n"),
        "  headerModifiers: {request: {set: [{name: X-K, secretRef: "
        "{name: s, key: k}}]}}\n",
        "Secret default/s has no key k", NULL);
}

/* TrafficPolicy is kgateway's kind: a grant naming it in the Gateway
 * API's group grants nothing. */
static void
test_grant_for_another_group_does_not_allow_a_secret(void **state)
{
    expect_failed_closed_with(
        *state,
        SECRET("vault", "s", "stringData: {k: v}\n")
            GRANT("gateway.networking.k8s.io", "TrafficPolicy"),
        "  headerModifiers: {request: {set: [{name: X-K, secretRef: "
        "{name: s, namespace: vault, key: k}}]}}\n",
        "no ReferenceGrant there allows TrafficPolicies from default", NULL);
}

/* A grant must be in the Secret's namespace: one in the policy's own
 * namespace grants nothing. */
static void
test_grant_outside_the_secret_namespace_does_not_allow_it(void **state)
{
    expect_failed_closed_with(
        *state,
        SECRET(
            "vault", "s",
            "stringData: {k: v}\n") "apiVersion: "
                                    "gateway.networking.k8s.io/v1beta1\n"
                                    "kind: ReferenceGrant\n"
                                    "metadata: {name: g, namespace: default}\n"
                                    "spec:\n"
                                    "  from: [{group: gateway.kgateway.dev, "
                                    "kind: TrafficPolicy, "
                                    "namespace: default}]\n"
                                    "  to: [{group: '', kind: Secret}]\n"
                                    "---\n",
        "  headerModifiers: {request: {set: [{name: X-K, secretRef: "
        "{name: s, namespace: vault, key: k}}]}}\n",
        "no ReferenceGrant there allows TrafficPolicies from default", NULL);
}

/* A grant to another kind, or to another Secret by name, or from
 * another namespace, grants nothing. */
static void
test_grant_to_another_kind_or_name_does_not_allow_a_secret(void **state)
{
    static const char *const grants[] = {
        "  from: [{group: gateway.kgateway.dev, kind: TrafficPolicy, "
        "namespace: default}]\n"
        "  to: [{group: '', kind: ConfigMap}]\n",
        "  from: [{group: gateway.kgateway.dev, kind: TrafficPolicy, "
        "namespace: default}]\n"
        "  to: [{group: '', kind: Secret, name: other}]\n",
        "  from: [{group: gateway.kgateway.dev, kind: TrafficPolicy, "
        "namespace: Default}]\n"
        "  to: [{group: '', kind: Secret}]\n",
        "  from: [{group: gateway.kgateway.dev, kind: HTTPRoute, "
        "namespace: default}]\n"
        "  to: [{group: '', kind: Secret}]\n",
    };
    for (size_t i = 0; i < sizeof(grants) / sizeof(grants[0]); i++) {
        char extra[2048];
        snprintf(extra, sizeof extra,
                 "%s"
                 "apiVersion: gateway.networking.k8s.io/v1beta1\n"
                 "kind: ReferenceGrant\n"
                 "metadata: {name: g, namespace: vault}\n"
                 "spec:\n%s---\n",
                 SECRET("vault", "s", "stringData: {k: v}\n"), grants[i]);
        expect_failed_closed_with(
            *state, extra,
            "  headerModifiers: {request: {set: [{name: X-K, secretRef: "
            "{name: s, namespace: vault, key: k}}]}}\n",
            "no ReferenceGrant there allows TrafficPolicies from default",
            NULL);
        teardown(state); /* a fresh model for the next grant */
        assert_int_equal(setup(state), 0);
    }
}

static void
test_secret_value_with_a_newline_fails_closed_unshown(void **state)
{
    expect_failed_closed_with(
        *state,
        SECRET("default", "s",
               "data: {k: c2VjcmV0LXRva2VuCg==}\n") /* "secret-token\n" */,
        "  headerModifiers: {request: {set: [{name: X-K, secretRef: "
        "{name: s, key: k}}]}}\n",
        "the value of key k in Secret default/s is not a header value",
        "secret-token");
}

static void
test_secret_value_with_a_nul_fails_closed(void **state)
{
    expect_failed_closed_with(
        *state, SECRET("default", "s", "data: {k: YQBi}\n") /* "a\0b" */,
        "  headerModifiers: {response: {set: [{name: X-K, secretRef: "
        "{name: s, key: k}}]}}\n",
        "spec.headerModifiers.response.set[0].secretRef: the value", NULL);
}

static void
test_secret_value_over_4096_bytes_fails_closed(void **state)
{
    char extra[6000];
    char *big = malloc(4098);
    assert_non_null(big);
    memset(big, 'v', 4097);
    big[4097] = '\0';
    snprintf(extra, sizeof extra,
             SECRET("default", "s", "stringData: {k: %s}\n"), big);
    free(big);
    expect_failed_closed_with(*state, extra,
                              "  headerModifiers: {request: {set: [{name: "
                              "X-K, secretRef: {name: s, key: k}}]}}\n",
                              "is not a header value", NULL);
}

static void
test_secret_key_that_is_not_a_header_name_fails_closed(void **state)
{
    expect_failed_closed_with(
        *state, SECRET("default", "s", "stringData: {'a b': v}\n"),
        "  headerModifiers: {request: {add: [{secretRef: {name: s}}]}}\n",
        "Secret default/s has a key that is not a header name", NULL);
}

static void
test_secret_key_naming_a_header_nginx_manages_fails_closed(void **state)
{
    expect_failed_closed_with(
        *state, SECRET("default", "s", "stringData: {Host: evil.example}\n"),
        "  headerModifiers: {request: {add: [{secretRef: {name: s}}]}}\n",
        "nginx manages the Host header itself", "evil.example");
}

static void
test_unanchored_path_regex_fails_closed(void **state)
{
    expect_failed_closed(*state,
                         "  urlRewrite: {pathRegex: {pattern: /api, "
                         "substitution: /v2}}\n",
                         "spec.urlRewrite.pathRegex.pattern");
}

static void
test_substitution_with_a_dollar_fails_closed(void **state)
{
    expect_failed_closed(*state,
                         "  urlRewrite: {pathRegex: {pattern: '^/(.*)$', "
                         "substitution: '/$host/\\1'}}\n",
                         "spec.urlRewrite.pathRegex.substitution");
}

static void
test_substitution_naming_a_missing_group_fails_closed(void **state)
{
    expect_failed_closed(*state,
                         "  urlRewrite: {pathRegex: {pattern: '^/(.*)$', "
                         "substitution: '/\\2'}}\n",
                         "spec.urlRewrite.pathRegex.substitution");
}

static void
test_invalid_path_regex_fails_closed(void **state)
{
    expect_failed_closed(*state,
                         "  urlRewrite: {pathRegex: {pattern: '^/((a$', "
                         "substitution: /b}}\n",
                         "spec.urlRewrite.pathRegex.pattern");
}

static void
test_max_request_size_of_4gi_fails_closed(void **state)
{
    expect_failed_closed(*state, "  buffer: {maxRequestSize: 4Gi}\n",
                         "spec.buffer.maxRequestSize");
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_gateway_policy_timeout_gives_way_to_the_rules_own),
        T(test_route_policy_timeout_wins_over_the_rules_own),
        T(test_gateway_policy_timeout_applies_to_a_rule_without_one),
        T(test_stream_idle_bounds_client_and_upstream_waits),
        T(test_retry_conditions_codes_and_per_try_timeout),
        T(test_gateway_policy_retry_gives_way_to_the_rules_own),
        T(test_route_policy_with_zero_attempts_switches_retry_off),
        T(test_policy_request_headers_go_before_the_routes_and_response_after),
        T(test_url_rewrite_becomes_an_anchored_rewrite),
        T(test_httproute_url_rewrite_path_wins_over_the_policys),
        T(test_max_request_size_refuses_exactly_the_larger_bodies),
        T(test_max_request_size_of_nines),
        T(test_max_request_size_above_one_megabyte_raises_the_routing_limit),
        T(test_buffer_disable_writes_no_limit),
        T(test_response_compression_is_gzip_and_disable_is_off),
        T(test_compression_disable_on_the_route_writes_gzip_off),
        T(test_auto_host_rewrite_keeps_the_host_for_a_service_of_addresses),
        T(test_nginx_fields_never_reach_a_gwf_policy_line),
        T(test_retry_condition_nginx_lacks_fails_closed),
        T(test_grpc_retry_condition_fails_closed),
        T(test_retry_status_nginx_lacks_fails_closed),
        T(test_request_decompression_fails_closed),
        T(test_zstd_compression_fails_closed),
        T(test_header_nginx_manages_fails_closed),
        T(test_secret_value_is_written_literally_quoted),
        T(test_secret_data_is_base64_decoded),
        T(test_name_alone_is_also_the_secret_key),
        T(test_whole_secret_becomes_headers_in_key_order),
        T(test_secret_in_another_namespace_with_a_grant_is_read),
        T(test_missing_secret_fails_closed),
        T(test_missing_secret_key_fails_closed),
        T(test_grant_for_another_group_does_not_allow_a_secret),
        T(test_grant_outside_the_secret_namespace_does_not_allow_it),
        T(test_grant_to_another_kind_or_name_does_not_allow_a_secret),
        T(test_secret_value_with_a_newline_fails_closed_unshown),
        T(test_secret_value_with_a_nul_fails_closed),
        T(test_secret_value_over_4096_bytes_fails_closed),
        T(test_secret_key_that_is_not_a_header_name_fails_closed),
        T(test_secret_key_naming_a_header_nginx_manages_fails_closed),
        T(test_unanchored_path_regex_fails_closed),
        T(test_substitution_with_a_dollar_fails_closed),
        T(test_substitution_naming_a_missing_group_fails_closed),
        T(test_invalid_path_regex_fails_closed),
        T(test_max_request_size_of_4gi_fails_closed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
