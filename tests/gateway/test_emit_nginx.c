/*
 * test_emit_nginx.c - the nginx emitter on hand-built models.
 *
 * Two kinds of tests. Most check one property of the text the emitter
 * writes that no behavioural test could see as directly: hostile
 * manifest values end up as one quoted argument or are refused, unusable
 * references become 500 shares, retries nginx cannot do are errors.
 * The last renders a model using every feature and asks the real nginx
 * (with the gwf module loaded, with the ASan runtime preloaded in a
 * sanitizer build) whether it accepts it: `nginx -t`.
 *
 * Environment: GWF_NGINX_MODULE (the built module; the test skips
 * without it), GWF_NGINX (default /usr/sbin/nginx), GWF_EMIT_DUMP=1
 * (print the config the nginx -t test renders).
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "emit_nginx.h"

/* -- A small model: one Gateway, port 8080, one route to one Service ---- */

typedef struct fixture {
    gwf_doc gateway_doc, route_doc, service_doc, mirror_doc, secret_doc;
    gw_gateway gateway;
    gw_listener listener;
    gw_port port;
    gw_vhost vhost;
    gw_entry entries[4];
    gw_rule rule;
    gw_rule *rules[3];
    gw_match matches[2];
    gw_kv_match headers[2];
    gw_kv_match queries[1];
    gw_backend backend, mirror_backend;
    gw_backend *backends[2];
    gw_endpoint endpoints[2];
    gw_endpoint mirror_endpoint;
    gw_backend_ref refs[2];
    gw_header_op request_ops[3];
    gw_route_status route_status;
    gw_route_parent parent;
    gw_condition parent_conditions[1];
    gw_model model;
    char dir[64];
    gw_emit_options opts;
    gw_emit_out out;
    gwf_diag errors;
} fixture;

static void
init_doc(gwf_doc *d, const char *kind, const char *name, unsigned line)
{
    memset(d, 0, sizeof(*d)); /* no root or spec unless the test gives one */
    d->kind = kind;
    d->api_version = "gateway.networking.k8s.io/v1";
    d->name = name;
    d->namespace_ = "default";
    d->file = "routes.yaml";
    d->line = line;
    d->index = 1;
}

static int
setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    init_doc(&f->gateway_doc, "Gateway", "gw", 1);
    init_doc(&f->route_doc, "HTTPRoute", "web", 20);
    init_doc(&f->service_doc, "Service", "echo", 40);
    init_doc(&f->mirror_doc, "Service", "mirror", 50);
    init_doc(&f->secret_doc, "Secret", "site-cert", 60);

    f->endpoints[0] = (gw_endpoint){"127.0.0.1", 9};
    f->backend = (gw_backend){.kind = GW_BACKEND_ENDPOINTS,
                              .id = "svc_default_echo_8080",
                              .doc = &f->service_doc,
                              .endpoints = f->endpoints,
                              .endpoint_count = 1};
    f->mirror_endpoint = (gw_endpoint){"127.0.0.1", 10};
    f->mirror_backend = (gw_backend){.kind = GW_BACKEND_ENDPOINTS,
                                     .id = "svc_default_mirror_80",
                                     .doc = &f->mirror_doc,
                                     .endpoints = &f->mirror_endpoint,
                                     .endpoint_count = 1};
    f->backends[0] = &f->backend;
    f->backends[1] = &f->mirror_backend;

    f->matches[0] = (gw_match){.path_kind = GW_PATH_PREFIX, .path = "/"};
    f->refs[0] = (gw_backend_ref){.backend = &f->backend, .weight = 1};
    f->rule = (gw_rule){.route = &f->route_doc,
                        .id = "default_web_r0",
                        .matches = f->matches,
                        .match_count = 1,
                        .backends = f->refs,
                        .backend_count = 1,
                        .created = INT64_MAX};
    f->rules[0] = &f->rule;
    f->entries[0] = (gw_entry){.rule = &f->rule, .match = 0};
    f->vhost =
        (gw_vhost){.hostname = NULL, .entries = f->entries, .entry_count = 1};
    f->port = (gw_port){.port = 8080,
                        .protocol = GW_LISTENER_HTTP,
                        .vhosts = &f->vhost,
                        .vhost_count = 1};

    f->listener = (gw_listener){.name = "http", .port = 8080};
    f->gateway = (gw_gateway){
        .doc = &f->gateway_doc, .listeners = &f->listener, .listener_count = 1};
    f->parent_conditions[0] =
        (gw_condition){"Accepted", true, "Accepted", NULL};
    f->parent = (gw_route_parent){
        .gateway = &f->gateway_doc,
        .conditions = {f->parent_conditions, 1},
    };
    f->route_status = (gw_route_status){&f->route_doc, &f->parent, 1};

    f->model = (gw_model){.gateways = &f->gateway,
                          .gateway_count = 1,
                          .ports = &f->port,
                          .port_count = 1,
                          .rules = f->rules,
                          .rule_count = 1,
                          .backends = f->backends,
                          .backend_count = 2,
                          .routes = &f->route_status,
                          .route_count = 1};

    snprintf(f->dir, sizeof f->dir, "/tmp/gwf-emit-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->opts = (gw_emit_options){.output_dir = f->dir};
    gwf_diag_init(&f->errors);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fixture *f = *state;
    gw_emit_out_free(&f->out);
    gwf_diag_free(&f->errors);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", f->dir);
    free(f);
    return 0;
}

static int
emit(fixture *f)
{
    gw_emit_out_free(&f->out);
    return gw_emit_nginx(&f->model, &f->opts, &f->out, &f->errors);
}

static void
assert_contains(const char *text, const char *needle)
{
    if (!text || !strstr(text, needle))
        fail_msg("expected to find\n  %s\nin\n%s", needle,
                 text ? text : "(null)");
}

static void
assert_not_contains(const char *text, const char *needle)
{
    if (text && strstr(text, needle))
        fail_msg("did not expect\n  %s\nin\n%s", needle, text);
}

/* The only error line contains `needle`, and nothing was returned. */
static void
assert_refused_with(fixture *f, int n, const char *needle)
{
    assert_int_equal(n, 1);
    assert_int_equal(f->errors.count, 1);
    assert_contains(gwf_diag_line(&f->errors, 0), needle);
    assert_null(f->out.config);
    assert_null(f->out.summary);
}

/* -- Quoting ------------------------------------------------------------ */

static void
test_quote_escapes_double_quote_and_backslash(void **state)
{
    (void)state;
    char *q = gw_nginx_quote("a\"b\\c;d{e}$f");
    assert_string_equal(q, "\"a\\\"b\\\\c;d{e}$f\"");
    free(q);
}

static void
test_quote_refuses_control_bytes(void **state)
{
    (void)state;
    assert_null(gw_nginx_quote("a\nb"));
    assert_null(gw_nginx_quote("a\rb"));
    assert_null(gw_nginx_quote("a\tb"));
    assert_null(gw_nginx_quote("a\x7f"));
}

static void
test_header_value_that_closes_the_directive_stays_one_argument(void **state)
{
    fixture *f = *state;
    f->request_ops[0] =
        (gw_header_op){GW_HEADER_SET, "X-A", "v\"; return 200 \"pwned"};
    f->rule.filters.request_headers = f->request_ops;
    f->rule.filters.request_header_count = 1;
    assert_int_equal(emit(f), 0);
    assert_contains(f->out.config, "gwf_request_header set \"X-A\" "
                                   "\"v\\\"; return 200 \\\"pwned\";\n");
}

static void
test_header_value_with_newline_is_refused_naming_the_route(void **state)
{
    fixture *f = *state;
    f->request_ops[0] = (gw_header_op){GW_HEADER_ADD, "X-A", "a\nreturn 200"};
    f->rule.filters.request_headers = f->request_ops;
    f->rule.filters.request_header_count = 1;
    assert_refused_with(f, emit(f),
                        "HTTPRoute default/web: spec.rules[0].filters: "
                        "\"a\\x0areturn 200\": control bytes are not allowed");
}

static void
test_header_name_with_space_is_refused(void **state)
{
    fixture *f = *state;
    f->request_ops[0] = (gw_header_op){GW_HEADER_REMOVE, "X-A return", NULL};
    f->rule.filters.request_headers = f->request_ops;
    f->rule.filters.request_header_count = 1;
    assert_refused_with(f, emit(f),
                        "header name X-A return is not an HTTP "
                        "token");
}

static void
test_header_name_that_would_start_a_comment_is_quoted(void **state)
{
    fixture *f = *state;
    f->request_ops[0] = (gw_header_op){GW_HEADER_SET, "#x", "v"};
    f->rule.filters.request_headers = f->request_ops;
    f->rule.filters.request_header_count = 1;
    assert_int_equal(emit(f), 0);
    assert_contains(f->out.config, "gwf_request_header set \"#x\" \"v\";\n");
}

static void
test_regex_server_name_is_refused(void **state)
{
    fixture *f = *state;
    f->vhost.hostname = "~^(?<x>.*)$";
    assert_refused_with(f, emit(f), "is not a hostname");
}

static void
test_wildcard_hostname_becomes_quoted_server_name(void **state)
{
    fixture *f = *state;
    f->vhost.hostname = "*.example.com";
    assert_int_equal(emit(f), 0);
    assert_contains(f->out.config, "server_name \"*.example.com\";\n");
}

static void
test_match_values_are_quoted_with_their_condition(void **state)
{
    fixture *f = *state;
    f->matches[0] = (gw_match){.path_kind = GW_PATH_REGEX,
                               .path = "^/a\\d+\"$",
                               .method = "GET",
                               .headers = f->headers,
                               .header_count = 2,
                               .queries = f->queries,
                               .query_count = 1};
    f->headers[0] = (gw_kv_match){false, "x-env", "canary; x"};
    f->headers[1] = (gw_kv_match){true, "x-id", "^[0-9]+$"};
    f->queries[0] = (gw_kv_match){false, "q", "a b"};
    assert_int_equal(emit(f), 0);
    assert_contains(f->out.config,
                    "gwf_route \"regex=^/a\\\\d+\\\"$\" \"method=GET\" "
                    "\"header=x-env:canary; x\" \"header~x-id:^[0-9]+$\" "
                    "\"query=q:a b\" pass=@default_web_r0_b0:1;\n");
}

static void
test_query_name_with_colon_is_refused(void **state)
{
    fixture *f = *state;
    f->matches[0].queries = f->queries;
    f->matches[0].query_count = 1;
    f->queries[0] = (gw_kv_match){false, "a:b", "c"};
    assert_refused_with(f, emit(f),
                        "spec.rules[0].matches[0]: query "
                        "parameter name a:b");
}

static void
test_endpoint_address_that_is_not_a_host_is_refused(void **state)
{
    fixture *f = *state;
    f->endpoints[0].address = "127.0.0.1:80; }";
    assert_refused_with(f, emit(f),
                        "Service default/echo: spec: endpoint "
                        "address");
}

static void
test_rule_id_outside_its_alphabet_is_refused(void **state)
{
    fixture *f = *state;
    f->rule.id = "a { }";
    assert_refused_with(f, emit(f), "rule id is not [a-z0-9_]");
}

/* -- Backends and actions ------------------------------------------------- */

static void
test_backend_without_endpoints_keeps_its_share_as_500(void **state)
{
    fixture *f = *state;
    f->endpoints[1] = (gw_endpoint){"127.0.0.1", 11};
    f->refs[0].weight = 3;
    f->refs[1] = (gw_backend_ref){.backend = &f->mirror_backend, .weight = 1};
    f->mirror_backend.endpoint_count = 0;
    f->rule.backend_count = 2;
    assert_int_equal(emit(f), 0);
    assert_contains(f->out.config,
                    "gwf_route \"prefix=/\" pass=@default_web_r0_b0:3 "
                    "pass=500:1;\n");
    assert_not_contains(f->out.config, "upstream svc_default_mirror_80");
    assert_not_contains(f->out.config, "location @default_web_r0_b1");
}

static void
test_unresolved_backend_ref_keeps_its_share_as_500(void **state)
{
    fixture *f = *state;
    f->refs[1] = (gw_backend_ref){.backend = NULL, .weight = 2};
    f->rule.backend_count = 2;
    assert_int_equal(emit(f), 0);
    assert_contains(f->out.config, "pass=@default_web_r0_b0:1 pass=500:2;\n");
}

static void
test_fixed_status_rule_answers_it_without_location(void **state)
{
    fixture *f = *state;
    f->rule.fixed_status = 500;
    assert_int_equal(emit(f), 0);
    assert_contains(f->out.config, "gwf_route \"prefix=/\" status=500;\n");
    assert_not_contains(f->out.config, "location @");
}

static void
test_redirect_rule_needs_no_upstream(void **state)
{
    fixture *f = *state;
    gw_redirect rd = {.scheme = "https", .port = 8443, .status = 301};
    f->rule.filters.redirect = &rd;
    f->rule.backend_count = 0;
    assert_int_equal(emit(f), 0);
    assert_contains(f->out.config,
                    "gwf_route \"prefix=/\" pass=@default_web_r0_redirect;\n");
    assert_contains(f->out.config, "location @default_web_r0_redirect {\n"
                                   "            gwf_redirect status=301 "
                                   "scheme=https port=8443;\n        }\n");
}

static void
test_prefix_rewrite_gets_one_location_per_match(void **state)
{
    fixture *f = *state;
    gw_rewrite rw = {.path_mod = GW_PATH_REPLACE_PREFIX, .path = "/new"};
    f->rule.filters.rewrite = &rw;
    f->matches[0] = (gw_match){.path_kind = GW_PATH_PREFIX, .path = "/a"};
    f->matches[1] = (gw_match){.path_kind = GW_PATH_PREFIX, .path = "/b"};
    f->rule.match_count = 2;
    f->entries[1] = (gw_entry){.rule = &f->rule, .match = 1};
    f->vhost.entry_count = 2;
    assert_int_equal(emit(f), 0);
    assert_contains(f->out.config, "\"prefix=/a\" "
                                   "pass=@default_web_r0_m0_b0:1;\n");
    assert_contains(f->out.config, "\"prefix=/b\" "
                                   "pass=@default_web_r0_m1_b0:1;\n");
    assert_contains(f->out.config, "location @default_web_r0_m0_b0 {\n"
                                   "            gwf_rewrite "
                                   "\"path=prefix:/a:/new\";\n");
    assert_contains(f->out.config, "location @default_web_r0_m1_b0 {\n"
                                   "            gwf_rewrite "
                                   "\"path=prefix:/b:/new\";\n");
}

static void
test_retry_on_code_nginx_cannot_retry_names_route_and_field(void **state)
{
    fixture *f = *state;
    int codes[] = {500, 501};
    f->rule.retry = (gw_retry){.attempts = 2, .codes = codes, .code_count = 2};
    assert_refused_with(f, emit(f),
                        "routes.yaml:0: HTTPRoute default/web: "
                        "spec.rules[0].retry.codes[1]: nginx cannot retry on "
                        "status 501");
}

static void
test_retry_lists_each_endpoint_once_per_try(void **state)
{
    fixture *f = *state;
    int codes[] = {503};
    f->rule.retry = (gw_retry){.attempts = 2, .codes = codes, .code_count = 1};
    assert_int_equal(emit(f), 0);
    assert_contains(f->out.config, "upstream svc_default_echo_8080 {\n"
                                   "        server 127.0.0.1:9 max_fails=0;\n"
                                   "        server 127.0.0.1:9 max_fails=0;\n"
                                   "        server 127.0.0.1:9 max_fails=0;\n"
                                   "        keepalive 32;\n");
    assert_contains(f->out.config,
                    "proxy_next_upstream error timeout "
                    "non_idempotent http_503;\n"
                    "            proxy_next_upstream_tries 3;\n");
}

/* nginx's own 502 (no response from any try) becomes 503, what the
 * conformance suite accepts after exhausted retries; a backend's own 502
 * is not intercepted (no proxy_intercept_errors). */
static void
test_unreachable_backend_answers_503_not_nginx_502(void **state)
{
    fixture *f = *state;
    assert_int_equal(emit(f), 0);
    assert_contains(f->out.config,
                    "            error_page 502 =503 @gwf_unavailable;\n"
                    "            proxy_pass http://svc_default_echo_8080;\n");
    assert_contains(f->out.config, "        location @gwf_unavailable {\n"
                                   "            return 503;\n        }\n");
    assert_not_contains(f->out.config, "intercept_errors");
}

/* A server that proxies nothing gets no @gwf_unavailable. */
static void
test_server_that_proxies_nothing_has_no_unavailable_location(void **state)
{
    fixture *f = *state;
    f->rule.fixed_status = 500;
    assert_int_equal(emit(f), 0);
    assert_not_contains(f->out.config, "gwf_unavailable");
}

static void
test_ipv6_endpoint_is_bracketed(void **state)
{
    fixture *f = *state;
    f->endpoints[0].address = "::1";
    assert_int_equal(emit(f), 0);
    assert_contains(f->out.config, "server [::1]:9 max_fails=0;\n");
}

static void
test_mirror_gets_an_internal_sampled_location(void **state)
{
    fixture *f = *state;
    gw_mirror mi = {.backend = &f->mirror_backend, .percent = 25.5};
    f->rule.filters.mirrors = &mi;
    f->rule.filters.mirror_count = 1;
    assert_int_equal(emit(f), 0);
    assert_contains(f->out.config, "mirror /_gwf/mirror/default_web_r0_r0;\n");
    assert_contains(f->out.config, "location = /_gwf/mirror/default_web_r0_r0 "
                                   "{\n            internal;\n"
                                   "            gwf_sample 25.5;\n");
    assert_contains(f->out.config, "proxy_pass http://svc_default_mirror_80"
                                   "$request_uri;\n");
}

/* A Lambda Backend document whose spec.aws.lambda.endpointURL is `url`
 * (the tree is returned for gwf_tree_free). */
static gwf_tree *
use_lambda(fixture *f, const char *url)
{
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "kind: Backend\nspec:\n  aws:\n    region: eu-west-3\n"
             "    lambda:\n      functionName: orders\n"
             "      endpointURL: \"%s\"\n",
             url);
    gwf_tree *tree = NULL;
    gwf_diag d;
    gwf_diag_init(&d);
    assert_int_equal(gwf_tree_parse("backend.yaml", yaml, strlen(yaml),
                                    GWF_FORMAT_YAML, &tree, &d),
                     0);
    gwf_diag_free(&d);
    f->service_doc.kind = "Backend";
    f->service_doc.name = "orders-fn";
    f->service_doc.root = gwf_tree_doc(tree, 0);
    f->backend.kind = GW_BACKEND_LAMBDA;
    f->backend.id = "backend_default_orders_fn";
    f->backend.endpoint_count = 0;
    return tree;
}

static void
test_lambda_backend_is_called_through_the_plugin(void **state)
{
    fixture *f = *state;
    gwf_tree *tree = use_lambda(f, "http://127.0.0.1:9001");
    const char *paths[] = {"/etc/gwf/manifests"};
    f->opts.manifest_paths = paths;
    f->opts.manifest_path_count = 1;
    assert_int_equal(emit(f), 0);
    gwf_tree_free(tree);
    assert_contains(f->out.config, "    gwf_manifests /etc/gwf/manifests;\n");
    assert_contains(f->out.config, "location @default_web_r0_b0 {\n"
                                   "            gwf_backend "
                                   "\"default/orders-fn\";\n");
    assert_contains(f->out.config, "proxy_pass http://127.0.0.1:9001;\n");
    assert_not_contains(f->out.config, "upstream backend_default_orders_fn");
}

static void
test_lambda_endpoint_that_is_not_scheme_host_port_is_refused(void **state)
{
    fixture *f = *state;
    gwf_tree *tree = use_lambda(f, "http://h/x; return 200");
    const char *paths[] = {"/etc/gwf/manifests"};
    f->opts.manifest_paths = paths;
    f->opts.manifest_path_count = 1;
    int n = emit(f);
    gwf_tree_free(tree);
    assert_refused_with(f, n,
                        "Backend default/orders-fn: "
                        "spec.aws.lambda.endpointURL: expected "
                        "http(s)://host[:port]");
}

static void
test_lambda_without_manifest_paths_is_refused(void **state)
{
    fixture *f = *state;
    gwf_tree *tree = use_lambda(f, "https://lambda.example.com");
    int n = emit(f);
    gwf_tree_free(tree);
    assert_refused_with(f, n,
                        "a plugin runs (a TrafficPolicy, DirectResponse or "
                        "Lambda Backend) but no manifest paths were given");
}

/* -- kgateway policies ----------------------------------------------------- */

static const char *const policy_paths[] = {"/etc/gwf/manifests"};

/* A TrafficPolicy document named `name` with `spec` (YAML flow). */
static gwf_tree *
policy_doc(gwf_doc *d, const char *name, const char *spec)
{
    char yaml[512];
    snprintf(yaml, sizeof yaml, "kind: TrafficPolicy\nspec: %s\n", spec);
    gwf_tree *tree = NULL;
    gwf_diag diag;
    gwf_diag_init(&diag);
    assert_int_equal(gwf_tree_parse("tp.yaml", yaml, strlen(yaml),
                                    GWF_FORMAT_YAML, &tree, &diag),
                     0);
    gwf_diag_free(&diag);
    init_doc(d, "TrafficPolicy", name, 70);
    d->root = gwf_tree_doc(tree, 0);
    d->spec = gwf_node_get(d->root, "spec");
    return tree;
}

/* Two TrafficPolicies merged: auth from one, both rate limits from the
 * other; one gwf_policy line each, naming its fields. */
static void
test_policy_set_becomes_one_gwf_policy_line_per_policy(void **state)
{
    fixture *f = *state;
    gwf_doc gw_wide, route_tp;
    gwf_tree *t1 =
        policy_doc(&gw_wide, "gw-wide", "{jwtAuth: {extensionRef: {name: j}}}");
    gwf_tree *t2 = policy_doc(
        &route_tp, "route",
        "{rateLimit: {local: {tokenBucket: {maxTokens: 1, fillInterval: "
        "1s}}, global: {descriptors: [], extensionRef: {name: rl}}}}");
    const gwf_doc *members[] = {&route_tp, &gw_wide};
    gw_policy_set set = {.fields = {[GWF_PF_JWT_AUTH] = &gw_wide,
                                    [GWF_PF_RATE_LIMIT_LOCAL] = &route_tp,
                                    [GWF_PF_RATE_LIMIT_GLOBAL] = &route_tp},
                         .members = members,
                         .member_count = 2,
                         .index = 0};
    gw_policy_set *sets[] = {&set};
    f->model.policy_sets = sets;
    f->model.policy_set_count = 1;
    f->entries[0].policy = &set;
    f->opts.manifest_paths = policy_paths;
    f->opts.manifest_path_count = 1;
    assert_int_equal(emit(f), 0);
    assert_contains(f->out.config, "    gwf_manifests_check referenced;\n"
                                   "    gwf_manifests /etc/gwf/manifests;\n");
    assert_contains(f->out.config,
                    "gwf_route \"prefix=/\" pass=@default_web_r0_p0_b0:1;");
    assert_contains(f->out.config,
                    "        location @default_web_r0_p0_b0 {\n"
                    "            gwf_policy \"default/gw-wide\" jwtAuth;\n"
                    "            gwf_policy \"default/route\" rateLimit.local "
                    "rateLimit.global;\n");
    gwf_tree_free(t1);
    gwf_tree_free(t2);
}

/* A field its policy switches off adds no plugin: it is not written, and
 * a set of nothing else writes no gwf_policy line (no chain runs). */
static void
test_switched_off_fields_are_not_written(void **state)
{
    fixture *f = *state;
    gwf_doc off;
    gwf_tree *t = policy_doc(&off, "off",
                             "{extAuth: {disable: {}}, jwtAuth: {disable: "
                             "{}}, rateLimit: {local: {}}}");
    const gwf_doc *members[] = {&off};
    gw_policy_set set = {.fields = {[GWF_PF_JWT_AUTH] = &off,
                                    [GWF_PF_EXT_AUTH] = &off,
                                    [GWF_PF_RATE_LIMIT_LOCAL] = &off},
                         .members = members,
                         .member_count = 1};
    gw_policy_set *sets[] = {&set};
    f->model.policy_sets = sets;
    f->model.policy_set_count = 1;
    f->entries[0].policy = &set;
    f->opts.manifest_paths = policy_paths;
    f->opts.manifest_path_count = 1;
    assert_int_equal(emit(f), 0);
    assert_null(strstr(f->out.config, "gwf_policy"));
    gwf_tree_free(t);
}

/* cors, csrf, basicAuth and apiKeyAuth are written like the others, in
 * chain order: a policy's line names its fields cors, apiKeyAuth,
 * basicAuth, extAuth, ..., csrf, and the lines follow the first field
 * each policy gives. */
static void
test_new_fields_are_written_in_chain_order(void **state)
{
    fixture *f = *state;
    gwf_doc a, b;
    gwf_tree *t1 = policy_doc(&a, "a",
                              "{apiKeyAuth: {secretRef: {name: k}}, csrf: {}, "
                              "cors: {allowOrigins: [\"*\"]}}");
    gwf_tree *t2 = policy_doc(&b, "b",
                              "{extAuth: {extensionRef: {name: x}}, "
                              "basicAuth: {users: [\"u:{SHA}x\"]}}");
    const gwf_doc *members[] = {&a, &b};
    gw_policy_set set = {.fields = {[GWF_PF_CORS] = &a,
                                    [GWF_PF_CSRF] = &a,
                                    [GWF_PF_BASIC_AUTH] = &b,
                                    [GWF_PF_API_KEY_AUTH] = &a,
                                    [GWF_PF_EXT_AUTH] = &b},
                         .members = members,
                         .member_count = 2};
    gw_policy_set *sets[] = {&set};
    f->model.policy_sets = sets;
    f->model.policy_set_count = 1;
    f->entries[0].policy = &set;
    f->opts.manifest_paths = policy_paths;
    f->opts.manifest_path_count = 1;
    assert_int_equal(emit(f), 0);
    assert_contains(f->out.config,
                    "        location @default_web_r0_p0_b0 {\n"
                    "            gwf_policy \"default/a\" cors apiKeyAuth "
                    "csrf;\n"
                    "            gwf_policy \"default/b\" basicAuth "
                    "extAuth;\n");
    gwf_tree_free(t1);
    gwf_tree_free(t2);
}

/* A rule's CORS filter (HTTPCORSFilter) becomes one gwf_route_filter
 * line in the rule's location, naming the HTTPRoute and the filter's
 * path: the cors plugin reads the node from the manifests, so they are
 * loaded. */
static void
test_route_cors_filter_becomes_a_gwf_route_filter_line(void **state)
{
    fixture *f = *state;
    char field[] = "spec.rules[0].filters[1].cors";
    f->rule.filters.cors_route = &f->route_doc;
    f->rule.filters.cors_field = field;
    f->opts.manifest_paths = policy_paths;
    f->opts.manifest_path_count = 1;
    assert_int_equal(emit(f), 0);
    assert_contains(f->out.config, "    gwf_manifests_check referenced;\n"
                                   "    gwf_manifests /etc/gwf/manifests;\n");
    assert_contains(f->out.config,
                    "gwf_route \"prefix=/\" pass=@default_web_r0_b0:1;");
    assert_contains(f->out.config,
                    "        location @default_web_r0_b0 {\n"
                    "            gwf_route_filter \"default/web\" "
                    "\"spec.rules[0].filters[1].cors\";\n");
    f->rule.filters.cors_field = NULL;
}

/* A rule with a CORS filter that a TrafficPolicy's cors also reaches:
 * both are written (the runtime's plan lets the filter win the cors
 * place; tests/gateway/test_route_cors.py proves it through nginx). */
static void
test_route_cors_filter_is_written_beside_a_policy_cors(void **state)
{
    fixture *f = *state;
    gwf_doc a;
    gwf_tree *t =
        policy_doc(&a, "a", "{cors: {allowOrigins: [\"*\"]}, csrf: {}}");
    const gwf_doc *members[] = {&a};
    gw_policy_set set = {.fields = {[GWF_PF_CORS] = &a, [GWF_PF_CSRF] = &a},
                         .members = members,
                         .member_count = 1};
    gw_policy_set *sets[] = {&set};
    f->model.policy_sets = sets;
    f->model.policy_set_count = 1;
    f->entries[0].policy = &set;
    char field[] = "spec.rules[0].filters[0].cors";
    f->rule.filters.cors_route = &f->route_doc;
    f->rule.filters.cors_field = field;
    f->opts.manifest_paths = policy_paths;
    f->opts.manifest_path_count = 1;
    assert_int_equal(emit(f), 0);
    assert_contains(f->out.config,
                    "        location @default_web_r0_p0_b0 {\n"
                    "            gwf_policy \"default/a\" cors csrf;\n"
                    "            gwf_route_filter \"default/web\" "
                    "\"spec.rules[0].filters[0].cors\";\n");
    f->rule.filters.cors_field = NULL;
    gwf_tree_free(t);
}

/* An HTTPRoute whose name nginx could not take in a quoted argument
 * safely is refused, as a TrafficPolicy's is. */
static void
test_route_cors_filter_of_a_route_with_a_bad_name_is_refused(void **state)
{
    fixture *f = *state;
    char field[] = "spec.rules[0].filters[0].cors";
    f->route_doc.name = "web\"; return 200";
    f->rule.filters.cors_route = &f->route_doc;
    f->rule.filters.cors_field = field;
    f->opts.manifest_paths = policy_paths;
    f->opts.manifest_path_count = 1;
    assert_refused_with(f, emit(f),
                        "an HTTPRoute with a CORS filter needs a namespace "
                        "and name made of [a-z0-9.-]");
    f->rule.filters.cors_field = NULL;
}

/* cors, basicAuth and apiKeyAuth with `disable` won their field and add
 * no plugin: only csrf (which has no disable) is written. */
static void
test_disabled_new_fields_are_not_written(void **state)
{
    fixture *f = *state;
    gwf_doc off;
    gwf_tree *t = policy_doc(&off, "off",
                             "{cors: {disable: {}}, basicAuth: {disable: "
                             "{}}, apiKeyAuth: {disable: true}, csrf: "
                             "{percentageShadowed: 5}}");
    const gwf_doc *members[] = {&off};
    gw_policy_set set = {.fields = {[GWF_PF_CORS] = &off,
                                    [GWF_PF_CSRF] = &off,
                                    [GWF_PF_BASIC_AUTH] = &off,
                                    [GWF_PF_API_KEY_AUTH] = &off},
                         .members = members,
                         .member_count = 1};
    gw_policy_set *sets[] = {&set};
    f->model.policy_sets = sets;
    f->model.policy_set_count = 1;
    f->entries[0].policy = &set;
    f->opts.manifest_paths = policy_paths;
    f->opts.manifest_path_count = 1;
    assert_int_equal(emit(f), 0);
    const char *line = strstr(f->out.config, "gwf_policy");
    assert_non_null(line);
    assert_true(strncmp(line, "gwf_policy \"default/off\" csrf;\n",
                        strlen("gwf_policy \"default/off\" csrf;\n")) == 0);
    assert_null(strstr(line + 1, "gwf_policy"));
    gwf_tree_free(t);
}

/* An entry a policy gwf cannot honour reaches answers 500 and gets no
 * location. */
static void
test_entry_failed_closed_answers_its_status(void **state)
{
    fixture *f = *state;
    f->entries[0].fixed_status = 500;
    assert_int_equal(emit(f), 0);
    assert_contains(f->out.config, "gwf_route \"prefix=/\" status=500;");
    assert_null(strstr(f->out.config, "location @default_web_r0"));
}

static void
test_direct_response_rule_gets_its_location(void **state)
{
    fixture *f = *state;
    gwf_doc dr;
    init_doc(&dr, "DirectResponse", "teapot", 90);
    gw_extension_ref ext = {&dr};
    f->rule.filters.extensions = &ext;
    f->rule.filters.extension_count = 1;
    f->rule.backend_count = 0;
    f->opts.manifest_paths = policy_paths;
    f->opts.manifest_path_count = 1;
    assert_int_equal(emit(f), 0);
    assert_contains(f->out.config,
                    "gwf_route \"prefix=/\" pass=@default_web_r0_dr;");
    assert_contains(f->out.config,
                    "        location @default_web_r0_dr {\n"
                    "            gwf_direct_response \"default/teapot\";\n"
                    "        }\n");
}

static void
test_policy_with_a_name_nginx_cannot_take_is_refused(void **state)
{
    fixture *f = *state;
    gwf_doc bad;
    init_doc(&bad, "TrafficPolicy", "x\"; return 200", 70);
    const gwf_doc *members[] = {&bad};
    gw_policy_set set = {.fields = {[GWF_PF_EXT_AUTH] = &bad},
                         .members = members,
                         .member_count = 1};
    gw_policy_set *sets[] = {&set};
    f->model.policy_sets = sets;
    f->model.policy_set_count = 1;
    f->entries[0].policy = &set;
    f->opts.manifest_paths = policy_paths;
    f->opts.manifest_path_count = 1;
    assert_refused_with(f, emit(f),
                        "a TrafficPolicy needs a namespace and "
                        "name made of [a-z0-9.-]");
}

/* -- Servers ----------------------------------------------------------- */

static void
test_port_without_catch_all_gets_a_default_404_server(void **state)
{
    fixture *f = *state;
    f->vhost.hostname = "foo.example.com";
    assert_int_equal(emit(f), 0);
    assert_contains(f->out.config, "    server {\n"
                                   "        listen 8080 default_server;\n"
                                   "        server_name \"\";\n"
                                   "        location / {\n"
                                   "            return 404;\n");
}

static void
test_plain_port_serving_only_grpc_routes_speaks_http2(void **state)
{
    fixture *f = *state;
    f->rule.grpc = true;
    assert_int_equal(emit(f), 0);
    assert_contains(f->out.config, "listen 8080 http2 default_server;\n");
    assert_contains(f->out.config, "grpc_pass grpc://svc_default_echo_8080;\n");
}

static void
test_plain_port_shared_with_http_routes_stays_http1(void **state)
{
    fixture *f = *state;
    gw_rule grpc_rule = f->rule;
    grpc_rule.id = "default_grpc_r0";
    grpc_rule.grpc = true;
    f->rules[1] = &grpc_rule;
    f->model.rule_count = 2;
    f->entries[1] = (gw_entry){.rule = &grpc_rule, .match = 0};
    f->vhost.entry_count = 2;
    assert_int_equal(emit(f), 0);
    assert_contains(f->out.config, "listen 8080 default_server;\n");
    assert_not_contains(f->out.config, "http2");
}

static void
test_listen_address_is_used_and_ipv6_bracketed(void **state)
{
    fixture *f = *state;
    f->opts.listen_address = "::1";
    assert_int_equal(emit(f), 0);
    assert_contains(f->out.config, "listen [::1]:8080 default_server;\n");
}

static void
test_listen_address_that_is_not_an_ip_is_refused(void **state)
{
    fixture *f = *state;
    f->opts.listen_address = "0.0.0.0:80 ssl";
    assert_refused_with(f, emit(f),
                        "address: 0.0.0.0:80 ssl is not an IPv4 "
                        "or IPv6 address");
}

static void
test_full_config_keeps_every_path_in_the_prefix(void **state)
{
    fixture *f = *state;
    f->opts.module_path = "/usr/lib/gwf.so";
    assert_int_equal(emit(f), 0);
    char line[200];
    snprintf(line, sizeof line, "pid %s/nginx.pid;\n", f->dir);
    assert_contains(f->out.config, line);
    snprintf(line, sizeof line, "proxy_temp_path %s/tmp/proxy;\n", f->dir);
    assert_contains(f->out.config, line);
    assert_contains(f->out.config, "load_module /usr/lib/gwf.so;\n");
    assert_contains(f->out.config, "worker_processes 1;\n");
}

static void
test_module_path_with_a_space_is_quoted(void **state)
{
    fixture *f = *state;
    f->opts.module_path = "/opt/my mods/gwf.so";
    assert_int_equal(emit(f), 0);
    assert_contains(f->out.config, "load_module \"/opt/my mods/gwf.so\";\n");
}

static void
test_http_include_has_no_main_context(void **state)
{
    fixture *f = *state;
    f->opts.http_include = true;
    f->opts.module_path = "/usr/lib/gwf.so";
    assert_int_equal(emit(f), 0);
    assert_not_contains(f->out.config, "load_module");
    assert_not_contains(f->out.config, "events");
    assert_not_contains(f->out.config, "http {");
    assert_contains(f->out.config, "upstream svc_default_echo_8080 {\n");
}

static void
test_summary_counts_listeners_and_routes(void **state)
{
    fixture *f = *state;
    assert_int_equal(emit(f), 0);
    assert_string_equal(f->out.summary, "gateway default/gw: 1 listeners, "
                                        "1 routes attached, 0 refused\n");
    f->parent_conditions[0].status = false;
    assert_int_equal(emit(f), 0);
    assert_string_equal(f->out.summary, "gateway default/gw: 1 listeners, "
                                        "0 routes attached, 1 refused\n");
}

/* -- Shared named locations ----------------------------------------------- */

static size_t
count_of(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* Two rules that only proxy to the same Service behave alike: one named
 * location serves both, so 20,000 such rules cost nginx one location. */
static void
test_rules_with_the_same_directives_share_one_location(void **state)
{
    fixture *f = *state;
    gw_rule second = f->rule;
    gw_match m = {.path_kind = GW_PATH_EXACT, .path = "/other"};
    second.id = "default_web_r1";
    second.index = 1;
    second.matches = &m;
    f->rules[1] = &second;
    f->model.rule_count = 2;
    f->vhost.entries = (gw_entry[]){{.rule = &second}, {.rule = &f->rule}};
    f->vhost.entry_count = 2;
    assert_int_equal(emit(f), 0);
    assert_int_equal(count_of(f->out.config, "location @default_web"), 1);
    assert_contains(f->out.config, "gwf_route \"exact=/other\" "
                                   "pass=@default_web_r0_b0:1;");
    assert_contains(f->out.config, "gwf_route \"prefix=/\" "
                                   "pass=@default_web_r0_b0:1;");
}

/* A rule whose location differs (here: a request header filter) keeps
 * its own. */
static void
test_rule_with_other_directives_keeps_its_own_location(void **state)
{
    fixture *f = *state;
    gw_rule second = f->rule;
    gw_match m = {.path_kind = GW_PATH_EXACT, .path = "/other"};
    gw_header_op op = {GW_HEADER_SET, "x-a", "1"};
    second.id = "default_web_r1";
    second.index = 1;
    second.matches = &m;
    second.filters.request_headers = &op;
    second.filters.request_header_count = 1;
    f->rules[1] = &second;
    f->model.rule_count = 2;
    f->vhost.entries = (gw_entry[]){{.rule = &second}, {.rule = &f->rule}};
    f->vhost.entry_count = 2;
    assert_int_equal(emit(f), 0);
    assert_int_equal(count_of(f->out.config, "location @default_web"), 2);
    assert_contains(f->out.config, "pass=@default_web_r1_b0:1;");
    assert_contains(f->out.config, "pass=@default_web_r0_b0:1;");
}

/* -- TLS ------------------------------------------------------------------ */

static void
use_tls(fixture *f, gw_tls_cert *cert, char **hostnames, gw_tls_cert **certs,
        const char *cert_pem, const char *key_pem)
{
    *cert = (gw_tls_cert){&f->secret_doc, (char *)cert_pem, (char *)key_pem};
    hostnames[0] = NULL;
    certs[0] = cert;
    f->port.protocol = GW_LISTENER_HTTPS;
    f->port.port = 8443;
    f->port.tls_hostnames = hostnames;
    f->port.tls_certs = certs;
    f->port.tls_count = 1;
}

static void
test_tls_files_are_written_with_mode_0600(void **state)
{
    fixture *f = *state;
    gw_tls_cert cert;
    char *hostnames[1];
    gw_tls_cert *certs[1];
    use_tls(f, &cert, hostnames, certs, "CERT\n", "KEY\n");
    assert_int_equal(emit(f), 0);
    char path[200], line[300];
    snprintf(path, sizeof path, "%s/tls/default_site-cert.key", f->dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 4);
    snprintf(line, sizeof line, "ssl_certificate_key %s;\n", path);
    assert_contains(f->out.config, line);
    assert_contains(f->out.config, "listen 8443 ssl http2 default_server;\n");
}

static void
test_secret_name_that_walks_out_of_the_directory_is_refused(void **state)
{
    fixture *f = *state;
    gw_tls_cert cert;
    char *hostnames[1];
    gw_tls_cert *certs[1];
    use_tls(f, &cert, hostnames, certs, "CERT\n", "KEY\n");
    f->secret_doc.name = "../../etc/x";
    assert_refused_with(f, emit(f),
                        "Secret default/../../etc/x: metadata: "
                        "namespace and name must be made of");
}

static void
test_secret_names_that_would_share_a_file_are_refused(void **state)
{
    fixture *f = *state;
    gw_tls_cert cert;
    char *hostnames[1];
    gw_tls_cert *certs[1];
    use_tls(f, &cert, hostnames, certs, "CERT\n", "KEY\n");
    f->secret_doc.namespace_ = "a_b"; /* "a_b" + "c" vs "a" + "b_c" */
    f->secret_doc.name = "c";
    assert_refused_with(f, emit(f),
                        "Secret a_b/c: metadata: namespace and "
                        "name must be made of");
}

static void
test_host_of_another_listener_than_the_sni_name_gets_421(void **state)
{
    fixture *f = *state;
    gw_tls_cert cert = {&f->secret_doc, "CERT\n", "KEY\n"};
    char *hostnames[3] = {NULL, "second.example.org", "*.wildcard.org"};
    gw_tls_cert *certs[3] = {&cert, &cert, &cert};
    f->port.protocol = GW_LISTENER_HTTPS;
    f->port.tls_hostnames = hostnames;
    f->port.tls_certs = certs;
    f->port.tls_count = 3;
    f->vhost.hostname = "a.wildcard.org"; /* a route's hostname */
    assert_int_equal(emit(f), 0);
    assert_contains(f->out.config, "    map $ssl_server_name $gwf_sni_0 {\n"
                                   "        hostnames;\n"
                                   "        default 0;\n"
                                   "        \"\" any;\n"
                                   "        \"second.example.org\" 1;\n"
                                   "        \"*.wildcard.org\" 2;\n"
                                   "    }\n");
    /* The route's vhost belongs to the wildcard listener... */
    assert_contains(f->out.config, "        server_name \"a.wildcard.org\";\n"
                                   "        ssl_certificate");
    assert_contains(f->out.config, "        if ($gwf_sni_0 !~ \"^(any|2)$\") "
                                   "{\n            return 421;\n");
    /* ...and each listener hostname has a server for its certificate. */
    assert_contains(f->out.config, "server_name \"*.wildcard.org\";\n");
    assert_contains(f->out.config, "server_name \"second.example.org\";\n");
    assert_contains(f->out.config, "        if ($gwf_sni_0 !~ \"^(any|1)$\") "
                                   "{\n            return 421;\n");
    assert_contains(f->out.config, "        if ($gwf_sni_0 !~ \"^(any|0)$\") "
                                   "{\n            return 421;\n");
}

/* -- nginx accepts what is rendered ---------------------------------------- */

static int
run_capture(const char *cmd, char *out, size_t size)
{
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    size_t n = fread(out, 1, size - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* -- Access logs ------------------------------------------------------- */

/* Every operator, as a jsonFormat: a fallback, a cut, a numeric member,
 * a missing one, a hostile member name. */
static gw_log_piece every_op[] = {
    {GW_LOG_REQ, "x-envoy-original-method", ":method", 0},
    {GW_LOG_REQ, "user-agent", NULL, 5},
    {GW_LOG_RESPONSE_CODE, NULL, NULL, 0},
    {GW_LOG_MISSING, NULL, NULL, 0},
    {GW_LOG_TEXT, "a$b\"c", NULL, 0},
    {GW_LOG_START_TIME, NULL, NULL, 0},
    {GW_LOG_RESP, "x-envoy-upstream-service-time", NULL, 0},
    {GW_LOG_PROTOCOL, NULL, NULL, 0},
    {GW_LOG_DURATION, NULL, NULL, 0},
    {GW_LOG_BYTES_SENT, NULL, NULL, 0},
    {GW_LOG_REMOTE, NULL, NULL, 0},
    {GW_LOG_REMOTE_IP, NULL, NULL, 0},
    {GW_LOG_UPSTREAM_HOST, NULL, NULL, 0},
    {GW_LOG_REQ, ":path", NULL, 0},
    {GW_LOG_START_TIME_S, NULL, NULL, 0},
    {GW_LOG_LOCAL, NULL, NULL, 0},
    {GW_LOG_SERVER_NAME, NULL, NULL, 0},
    {GW_LOG_HOSTNAME, NULL, NULL, 0},
};

static gw_log_value every_value[] = {
    {"method", false, &every_op[0], 1}, {"ua", false, &every_op[1], 1},
    {"code", false, &every_op[2], 1},   {"flags", false, &every_op[3], 1},
    {"k\"$\n", false, &every_op[4], 1}, {"rest", false, &every_op[5], 13},
};

static gw_access_log json_log = {.path = "/dev/stdout",
                                 .json = true,
                                 .values = every_value,
                                 .value_count = 6};

static void
test_access_log_json_format_is_one_escape_json_object_in_member_order(
    void **state)
{
    fixture *f = *state;
    f->model.access_logs = &json_log;
    f->model.access_log_count = 1;
    assert_int_equal(emit(f), 0);
    assert_contains(
        f->out.config,
        "    map $http_x_envoy_original_method $gwf_log_0_0 {\n"
        "        \"\" $request_method;\n"
        "        default $http_x_envoy_original_method;\n    }\n"
        "    map $http_user_agent $gwf_log_0_1 {\n"
        "        \"~(?s)^(?<gwf_log_0_1_c>.{0,5})\" $gwf_log_0_1_c;\n    }\n"
        "    log_format gwf_log_0 escape=json "
        "\"{\\\"method\\\":\\\"${gwf_log_0_0}\\\","
        "\\\"ua\\\":\\\"${gwf_log_0_1}\\\","
        "\\\"code\\\":${status},"
        "\\\"flags\\\":null,"
        "\\\"k\\\\\\\"${gwf_log_dollar}\\\\u000a\\\":"
        "\\\"a${gwf_log_dollar}b\\\\\\\"c\\\","
        "\\\"rest\\\":\\\"${time_iso8601}"
        "${sent_http_x_envoy_upstream_service_time}${server_protocol}"
        "${gwf_log_duration_ms}${body_bytes_sent}${gwf_log_remote}"
        "${remote_addr}${upstream_addr}${request_uri}${gwf_log_start_s}"
        "${gwf_log_local}${ssl_server_name}${hostname}\\\"}\";\n");
    assert_contains(f->out.config, "        access_log \"/dev/stdout\" "
                                   "gwf_log_0;\n");
}

/* A jsonFormat member name may carry any byte, DEL included (nginx
 * cannot write DEL in a quoted string): JSON's \u escape, and the file is
 * written. */
static void
test_access_log_json_member_name_with_del_is_a_json_escape(void **state)
{
    fixture *f = *state;
    gw_log_piece piece = {GW_LOG_PROTOCOL, NULL, NULL, 0};
    gw_log_value value = {"a\x7f"
                          "b",
                          false, &piece, 1};
    gw_access_log log = {.path = "/dev/stdout",
                         .json = true,
                         .values = &value,
                         .value_count = 1};
    f->model.access_logs = &log;
    f->model.access_log_count = 1;
    assert_int_equal(emit(f), 0);
    assert_contains(f->out.config,
                    "    log_format gwf_log_0 escape=json "
                    "\"{\\\"a\\\\u007fb\\\":\\\"${server_protocol}\\\"}\";\n");
    f->model.access_logs = NULL;
    f->model.access_log_count = 0;
}

static void
test_access_log_text_format_writes_tabs_as_nginx_escapes(void **state)
{
    fixture *f = *state;
    gw_log_piece pieces[] = {{GW_LOG_TEXT, "a\tb 100% ", NULL, 0},
                             {GW_LOG_RESPONSE_CODE, NULL, NULL, 0}};
    gw_log_value v = {NULL, false, pieces, 2};
    gw_access_log l = {.path = "/tmp/a.log", .values = &v, .value_count = 1};
    f->model.access_logs = &l;
    f->model.access_log_count = 1;
    assert_int_equal(emit(f), 0);
    assert_contains(f->out.config,
                    "    log_format gwf_log_0 \"a\\tb 100% ${status}\";\n");
}

static void
test_access_log_path_that_closes_the_directive_stays_one_argument(void **state)
{
    fixture *f = *state;
    gw_access_log l = json_log;
    l.path = "/tmp/a\"; include /etc/passwd; #";
    f->model.access_logs = &l;
    f->model.access_log_count = 1;
    assert_int_equal(emit(f), 0);
    assert_contains(f->out.config,
                    "        access_log \"/tmp/a\\\"; include /etc/passwd; "
                    "#\" gwf_log_0;\n");
}

static void
test_access_log_of_a_listener_on_another_port_is_not_written_here(void **state)
{
    fixture *f = *state;
    gw_listener listeners[2] = {f->listener, {.name = "other", .port = 9090}};
    f->gateway.listeners = listeners;
    f->gateway.listener_count = 2;
    gw_access_log l = json_log;
    l.listener = 1;
    f->model.access_logs = &l;
    f->model.access_log_count = 1;
    assert_int_equal(emit(f), 0);
    assert_contains(f->out.config, "log_format gwf_log_0 ");
    assert_not_contains(f->out.config, "access_log \"/dev/stdout\"");
}

static void
test_access_log_of_a_listener_with_another_hostname_is_not_written_here(
    void **state)
{
    fixture *f = *state;
    f->listener.hostname = "*.example.com";
    f->vhost.hostname = "a.example.org";
    f->model.access_logs = &json_log;
    f->model.access_log_count = 1;
    assert_int_equal(emit(f), 0);
    assert_contains(f->out.config, "server_name \"a.example.org\";\n"
                                   "        location");
    f->vhost.hostname = "a.example.com";
    assert_int_equal(emit(f), 0);
    assert_contains(f->out.config, "server_name \"a.example.com\";\n"
                                   "        access_log \"/dev/stdout\"");
}

/* A request is the listener's of the most precise hostname: the
 * catch-all listener's log is not written for a host another listener
 * of the Gateway names. */
static void
test_access_log_follows_the_listener_the_gateway_api_picks(void **state)
{
    fixture *f = *state;
    gw_listener listeners[3] = {
        {.name = "any", .port = 8080},
        {.name = "wild", .port = 8080, .hostname = "*.example.com"},
        {.name = "exact", .port = 8080, .hostname = "a.example.com"}};
    f->gateway.listeners = listeners;
    f->gateway.listener_count = 3;
    gw_access_log logs[3] = {json_log, json_log, json_log};
    logs[0].path = "/any.log";
    logs[1].path = "/wild.log";
    logs[1].listener = 1;
    logs[2].path = "/exact.log";
    logs[2].listener = 2;
    f->model.access_logs = logs;
    f->model.access_log_count = 3;
    const char *hosts[] = {"a.example.com", "b.example.com", "c.example.org"};
    const char *want[] = {"/exact.log", "/wild.log", "/any.log"};
    for (size_t i = 0; i < 3; i++) {
        f->vhost.hostname = (char *)hosts[i];
        assert_int_equal(emit(f), 0);
        char line[200];
        snprintf(line, sizeof line,
                 "server_name \"%s\";\n        access_log \"%s\" "
                 "gwf_log_%zu;\n        location",
                 hosts[i], want[i], 2 - i);
        assert_contains(f->out.config, line);
    }
}

static void
test_nginx_accepts_a_config_using_every_feature(void **state)
{
    fixture *f = *state;
    const char *module = getenv("GWF_NGINX_MODULE");
    const char *nginx =
        getenv("GWF_NGINX") ? getenv("GWF_NGINX") : "/usr/sbin/nginx";
    if (!module || access(nginx, X_OK) != 0) {
        fprintf(stderr, "SKIP: GWF_NGINX_MODULE unset or no %s\n", nginx);
        skip();
    }
    /* A real certificate for the HTTPS port. */
    char cmd[1024], output[8192];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "
             "/CN=example.com -keyout %s/k.pem -out %s/c.pem 2>&1",
             f->dir, f->dir);
    assert_int_equal(run_capture(cmd, output, sizeof output), 0);
    char *pem[2] = {NULL, NULL};
    const char *names[2] = {"c.pem", "k.pem"};
    for (int i = 0; i < 2; i++) {
        char path[200];
        snprintf(path, sizeof path, "%s/%s", f->dir, names[i]);
        FILE *in = fopen(path, "r");
        assert_non_null(in);
        pem[i] = calloc(1, 16384);
        assert_non_null(pem[i]);
        assert_true(fread(pem[i], 1, 16383, in) > 0);
        fclose(in);
    }

    /* Every filter, a mirror, a retry, both timeouts, a redirect rule on
     * a second port that is HTTPS. */
    f->request_ops[0] = (gw_header_op){GW_HEADER_SET, "X-A", "one"};
    f->request_ops[1] = (gw_header_op){GW_HEADER_ADD, "X-B", "two"};
    f->request_ops[2] = (gw_header_op){GW_HEADER_REMOVE, "X-C", NULL};
    f->rule.filters.request_headers = f->request_ops;
    f->rule.filters.request_header_count = 3;
    f->rule.filters.response_headers = f->request_ops;
    f->rule.filters.response_header_count = 3;
    gw_rewrite rw = {.hostname = "new.example.com",
                     .path_mod = GW_PATH_REPLACE_PREFIX,
                     .path = "/v3"};
    f->rule.filters.rewrite = &rw;
    gw_mirror mi = {.backend = &f->mirror_backend, .percent = 50};
    f->rule.filters.mirrors = &mi;
    f->rule.filters.mirror_count = 1;
    f->matches[0] = (gw_match){.path_kind = GW_PATH_PREFIX,
                               .path = "/v2",
                               .method = "GET",
                               .headers = f->headers,
                               .header_count = 2,
                               .queries = f->queries,
                               .query_count = 1};
    f->headers[0] = (gw_kv_match){false, "x-env", "canary"};
    f->headers[1] = (gw_kv_match){true, "x-id", "^[0-9]+$"};
    f->queries[0] = (gw_kv_match){true, "q", "^a.*$"};
    int codes[] = {500, 503};
    f->rule.retry = (gw_retry){.attempts = 1, .codes = codes, .code_count = 2};
    f->rule.request_timeout_ms = 1500;
    f->rule.backend_timeout_ms = 500;
    f->refs[1] = (gw_backend_ref){.backend = NULL, .weight = 1};
    f->rule.backend_count = 2;

    gw_rule redirect_rule = {.route = &f->route_doc,
                             .id = "default_web_r1",
                             .index = 1,
                             .matches = &f->matches[1],
                             .match_count = 1};
    f->matches[1] = (gw_match){.path_kind = GW_PATH_EXACT, .path = "/old"};
    gw_redirect rd = {.scheme = "https",
                      .hostname = "example.com",
                      .path_mod = GW_PATH_REPLACE_FULL,
                      .path = "/new"};
    redirect_rule.filters.redirect = &rd;
    f->rules[1] = &redirect_rule;
    f->model.rule_count = 2;
    f->entries[1] = (gw_entry){.rule = &redirect_rule, .match = 0};
    f->entries[2] = (gw_entry){.rule = &f->rule, .match = 0};
    gw_vhost https_vhost = {
        .hostname = "example.com", .entries = &f->entries[1], .entry_count = 2};
    gw_tls_cert cert = {&f->secret_doc, pem[0], pem[1]};
    char *hostnames[2] = {"example.com",
                          "*.a-long-listener-hostname-that-takes-more-than-"
                          "sixty-four-bytes-of-a-hash-bucket.example.net"};
    gw_tls_cert *certs[2] = {&cert, &cert};
    /* A gRPC-only port with a retry, to a backend that takes
     * WebSocket upgrades on the HTTP side. */
    gw_rule grpc_rule = f->rule;
    grpc_rule.id = "default_grpc_r0";
    grpc_rule.grpc = true;
    grpc_rule.filters = (gw_filters){0};
    grpc_rule.match_count = 1;
    f->rules[2] = &grpc_rule;
    f->model.rule_count = 3;
    f->entries[3] = (gw_entry){.rule = &grpc_rule, .match = 0};
    gw_vhost grpc_vhost = {.entries = &f->entries[3], .entry_count = 1};
    f->backend.protocol = GW_PROTO_WS;
    gw_port ports[3] = {f->port,
                        {.port = 8443,
                         .protocol = GW_LISTENER_HTTPS,
                         .tls_hostnames = hostnames,
                         .tls_certs = certs,
                         .tls_count = 2,
                         .vhosts = &https_vhost,
                         .vhost_count = 1},
                        {.port = 8090,
                         .protocol = GW_LISTENER_HTTP,
                         .vhosts = &grpc_vhost,
                         .vhost_count = 1}};
    f->model.ports = ports;
    f->model.port_count = 3;
    f->opts.module_path = module;
    f->opts.listen_address = "127.0.0.1";
    f->opts.plugin_path = "/nonexistent/plugins:/also/not";
    /* Access logs with every operator, to a file and to stderr. */
    gw_access_log logs[2] = {json_log, json_log};
    char log_path[200];
    snprintf(log_path, sizeof log_path, "%s/access.json", f->dir);
    logs[0].path = log_path;
    logs[1].path = "/dev/stderr";
    logs[1].json = false;
    logs[1].value_count = 1;
    logs[1].values = &every_value[5];
    f->model.access_logs = logs;
    f->model.access_log_count = 2;

    int n = emit(f);
    for (size_t i = 0; i < f->errors.count; i++)
        fprintf(stderr, "%s\n", gwf_diag_line(&f->errors, i));
    assert_int_equal(n, 0);
    if (getenv("GWF_EMIT_DUMP"))
        fprintf(stderr, "%s", f->out.config);
    char conf[200];
    snprintf(conf, sizeof conf, "%s/nginx.conf", f->dir);
    FILE *out = fopen(conf, "w");
    assert_non_null(out);
    fputs(f->out.config, out);
    fclose(out);

    /* In a sanitizer build the module is ASan-instrumented and the
     * system nginx is not: nginx runs with the ASan runtime preloaded
     * (GWF_NGINX_ASAN_LIB, as tests/nginx/harness.py does). */
    const char *asan = getenv("GWF_NGINX_ASAN");
    const char *asan_lib = getenv("GWF_NGINX_ASAN_LIB");
    char preload[300] = "";
    if (asan && strcmp(asan, "1") == 0) {
        assert_true(asan_lib && asan_lib[0]);
        snprintf(preload, sizeof preload,
                 "LD_PRELOAD=%s ASAN_OPTIONS=detect_leaks=0 ", asan_lib);
    }
    snprintf(cmd, sizeof cmd,
             "%s%s -t -q -p %s -c %s -e %s/logs/error.log 2>&1", preload, nginx,
             f->dir, conf, f->dir);
    int status = run_capture(cmd, output, sizeof output);
    free(pem[0]);
    free(pem[1]);
    if (status != 0)
        fail_msg("nginx -t refused the rendered config:\n%s\n--- config:\n%s",
                 output, f->out.config);
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quote_escapes_double_quote_and_backslash),
        cmocka_unit_test(test_quote_refuses_control_bytes),
        T(test_header_value_that_closes_the_directive_stays_one_argument),
        T(test_header_value_with_newline_is_refused_naming_the_route),
        T(test_header_name_with_space_is_refused),
        T(test_header_name_that_would_start_a_comment_is_quoted),
        T(test_regex_server_name_is_refused),
        T(test_wildcard_hostname_becomes_quoted_server_name),
        T(test_match_values_are_quoted_with_their_condition),
        T(test_query_name_with_colon_is_refused),
        T(test_endpoint_address_that_is_not_a_host_is_refused),
        T(test_rule_id_outside_its_alphabet_is_refused),
        T(test_backend_without_endpoints_keeps_its_share_as_500),
        T(test_unresolved_backend_ref_keeps_its_share_as_500),
        T(test_fixed_status_rule_answers_it_without_location),
        T(test_redirect_rule_needs_no_upstream),
        T(test_prefix_rewrite_gets_one_location_per_match),
        T(test_retry_on_code_nginx_cannot_retry_names_route_and_field),
        T(test_retry_lists_each_endpoint_once_per_try),
        T(test_unreachable_backend_answers_503_not_nginx_502),
        T(test_server_that_proxies_nothing_has_no_unavailable_location),
        T(test_ipv6_endpoint_is_bracketed),
        T(test_mirror_gets_an_internal_sampled_location),
        T(test_lambda_backend_is_called_through_the_plugin),
        T(test_lambda_endpoint_that_is_not_scheme_host_port_is_refused),
        T(test_lambda_without_manifest_paths_is_refused),
        T(test_policy_set_becomes_one_gwf_policy_line_per_policy),
        T(test_switched_off_fields_are_not_written),
        T(test_new_fields_are_written_in_chain_order),
        T(test_disabled_new_fields_are_not_written),
        T(test_route_cors_filter_becomes_a_gwf_route_filter_line),
        T(test_route_cors_filter_is_written_beside_a_policy_cors),
        T(test_route_cors_filter_of_a_route_with_a_bad_name_is_refused),
        T(test_entry_failed_closed_answers_its_status),
        T(test_direct_response_rule_gets_its_location),
        T(test_policy_with_a_name_nginx_cannot_take_is_refused),
        T(test_port_without_catch_all_gets_a_default_404_server),
        T(test_plain_port_serving_only_grpc_routes_speaks_http2),
        T(test_plain_port_shared_with_http_routes_stays_http1),
        T(test_listen_address_is_used_and_ipv6_bracketed),
        T(test_listen_address_that_is_not_an_ip_is_refused),
        T(test_full_config_keeps_every_path_in_the_prefix),
        T(test_module_path_with_a_space_is_quoted),
        T(test_http_include_has_no_main_context),
        T(test_summary_counts_listeners_and_routes),
        T(test_rules_with_the_same_directives_share_one_location),
        T(test_rule_with_other_directives_keeps_its_own_location),
        T(test_tls_files_are_written_with_mode_0600),
        T(test_secret_name_that_walks_out_of_the_directory_is_refused),
        T(test_secret_names_that_would_share_a_file_are_refused),
        T(test_host_of_another_listener_than_the_sni_name_gets_421),
        T(test_access_log_json_format_is_one_escape_json_object_in_member_order),
        T(test_access_log_json_member_name_with_del_is_a_json_escape),
        T(test_access_log_text_format_writes_tabs_as_nginx_escapes),
        T(test_access_log_path_that_closes_the_directive_stays_one_argument),
        T(test_access_log_of_a_listener_on_another_port_is_not_written_here),
        T(test_access_log_of_a_listener_with_another_hostname_is_not_written_here),
        T(test_access_log_follows_the_listener_the_gateway_api_picks),
        T(test_nginx_accepts_a_config_using_every_feature),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
