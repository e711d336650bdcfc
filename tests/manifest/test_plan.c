/*
 * test_plan.c - turning one route's request into the ordered plugin
 * chain: order, plugin names, config and route JSON, plugin paths, and
 * request references that do not resolve.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gwf/manifest.h>

#define GW "apiVersion: gateway.kgateway.dev/v1alpha1\n"

static const char all_manifests[] =
    GW "kind: GatewayExtension\n"
       "metadata: {name: jwt}\n"
       "spec:\n"
       "  jwt: {providers: [{issuer: https://issuer}]}\n"
       "---\n" GW "kind: GatewayExtension\n"
       "metadata: {name: authz}\n"
       "spec:\n"
       "  type: ExtAuth\n"
       "  extAuth: {grpcService: {backendRef: {name: authz, port: 9000}}}\n"
       "---\n" GW "kind: GatewayExtension\n"
       "metadata: {name: rl}\n"
       "spec:\n"
       "  rateLimit: {domain: api}\n"
       "---\n" GW "kind: GatewayExtension\n"
       "metadata: {name: geo}\n"
       "spec:\n"
       "  plugin:\n"
       "    name: geo_ip\n"
       "    config: {db: /var/geo.mmdb, strict: true}\n"
       "---\n" GW "kind: GatewayExtension\n"
       "metadata: {name: custom}\n"
       "spec:\n"
       "  plugin: {path: ./plugins/../lib/./custom.so}\n"
       "---\n" GW "kind: GatewayExtension\n"
       "metadata: {name: absolute}\n"
       "spec:\n"
       "  plugin: {path: /opt/gwf/abs.so, config: {}}\n"
       "---\n" GW "kind: GatewayExtension\n"
       "metadata: {name: team-authz, namespace: team}\n"
       "spec:\n"
       "  extAuth: {grpcService: {backendRef: {name: team}}}\n"
       "---\n" GW "kind: TrafficPolicy\n"
       "metadata: {name: pol}\n"
       "spec:\n"
       "  rateLimit:\n"
       "    global:\n"
       "      descriptors: [{entries: [{type: RemoteAddress}]}]\n"
       "      extensionRef: {name: rl}\n"
       "    local:\n"
       "      tokenBucket: {maxTokens: 10, fillInterval: 1s}\n"
       "  extAuth:\n"
       "    extensionRef: {name: authz}\n"
       "    contextExtensions: {team: a}\n"
       "  jwtAuth:\n"
       "    extensionRef: {name: jwt}\n"
       "---\n" GW "kind: TrafficPolicy\n"
       "metadata: {name: all}\n"
       "spec:\n"
       "  rateLimit:\n"
       "    local: {tokenBucket: {maxTokens: 10, fillInterval: 1s}}\n"
       "  extAuth: {extensionRef: {name: authz}}\n"
       "  apiKeyAuth:\n"
       "    keySources: [{header: x-api-key}]\n"
       "    secretSelector: {matchLabels: {team: api}}\n"
       "  basicAuth: {users: [\"u:{SHA}x\"]}\n"
       "  jwtAuth: {extensionRef: {name: jwt}}\n"
       "  csrf: {percentageEnabled: 100}\n"
       "  cors: {allowOrigins: [\"https://a.example\"], maxAge: 60}\n"
       "---\n" GW "kind: TrafficPolicy\n"
       "metadata: {name: keys-by-ref}\n"
       "spec:\n"
       "  apiKeyAuth: {secretRef: {name: keys-a}}\n"
       "---\n" GW "kind: TrafficPolicy\n"
       "metadata: {name: keys-none}\n"
       "spec:\n"
       "  apiKeyAuth: {secretSelector: {matchLabels: {team: nobody}}}\n"
       "---\n" GW "kind: TrafficPolicy\n"
       "metadata: {name: all-off}\n"
       "spec:\n"
       "  cors: {disable: {}, allowOrigins: [\"*\"]}\n"
       "  basicAuth: {disable: {}}\n"
       "  apiKeyAuth: {disable: true}\n"
       "---\n" GW "kind: TrafficPolicy\n"
       "metadata: {name: keys, namespace: team}\n"
       "spec:\n"
       "  apiKeyAuth: {secretSelector: {matchLabels: {team: api}}}\n"
       "---\nkind: Secret\napiVersion: v1\n"
       "metadata: {name: keys-b, labels: {team: api, tier: x}}\n"
       "stringData: {client2: k-2}\n"
       "---\nkind: Secret\napiVersion: v1\n"
       "metadata: {name: keys-a, labels: {team: api}}\n"
       "stringData: {client1: k-1}\n"
       "---\nkind: Secret\napiVersion: v1\n"
       "metadata: {name: web-keys, labels: {team: web}}\n"
       "stringData: {client3: k-3}\n"
       "---\nkind: Secret\napiVersion: v1\n"
       "metadata: {name: unlabelled}\n"
       "stringData: {client4: k-4}\n"
       "---\nkind: Secret\napiVersion: v1\n"
       "metadata: {name: team-keys, namespace: team, labels: {team: api}}\n"
       "stringData: {client5: k-5}\n"
       "---\n" GW "kind: TrafficPolicy\n"
       "metadata: {name: no-auth}\n"
       "spec:\n"
       "  extAuth: {disable: true}\n"
       "---\n" GW "kind: TrafficPolicy\n"
       "metadata: {name: pol, namespace: team}\n"
       "spec:\n"
       "  extAuth: {extensionRef: {name: team-authz}}\n"
       "---\n" GW "kind: DirectResponse\n"
       "metadata: {name: hello}\n"
       "spec: {status: 200, body: hi}\n"
       "---\n" GW "kind: Backend\n"
       "metadata: {name: fn}\n"
       "spec:\n"
       "  type: AWS\n"
       "  aws: {lambda: {functionName: f}}\n"
       "---\n" GW "kind: Backend\n"
       "metadata: {name: web}\n"
       "spec:\n"
       "  static: {hosts: [{host: 127.0.0.1, port: 8080}]}\n";

typedef struct fixture {
    gwf_manifests *m;
    gwf_diag diag;
    gwf_plan plan;
} fixture;

static int
setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    *state = f;
    gwf_diag_init(&f->diag);
    f->m = gwf_manifests_new();
    if (!f->m)
        return -1;
    if (gwf_manifests_load_buffer(f->m, "/etc/gwf/manifests/all.yaml",
                                  all_manifests, strlen(all_manifests),
                                  &f->diag) != 0)
        return -1;
    return gwf_manifests_validate(f->m, &f->diag) == 0 ? 0 : -1;
}

static int
teardown(void **state)
{
    fixture *f = *state;
    gwf_plan_free(&f->plan);
    gwf_manifests_free(f->m);
    gwf_diag_free(&f->diag);
    free(f);
    return 0;
}

static bool
diag_has(const gwf_diag *d, const char *const *parts)
{
    for (size_t i = 0; i < d->count; i++) {
        const char *line = gwf_diag_line(d, i);
        bool all = true;
        for (const char *const *s = parts; *s && all; s++)
            all = strstr(line, *s) != NULL;
        if (all)
            return true;
    }
    for (size_t i = 0; i < d->count; i++)
        print_message("diag[%zu]: %s\n", i, gwf_diag_line(d, i));
    return false;
}

#define assert_diag(d, ...)                                                    \
    assert_true(diag_has((d), (const char *const[]){__VA_ARGS__, NULL}))

static int
plan(fixture *f, const gwf_plan_request *req)
{
    return gwf_manifests_plan(f->m, req, &f->plan, &f->diag);
}

static const gwf_plan_entry *
entry(const fixture *f, size_t i)
{
    assert_true(i < f->plan.count);
    return &f->plan.entries[i];
}

static void
assert_entry(const gwf_plan_entry *e, const char *plugin,
             const char *config_name, const char *config_field)
{
    assert_non_null(e->plugin_name);
    assert_string_equal(e->plugin_name, plugin);
    assert_string_equal(e->config_doc->name, config_name);
    assert_string_equal(e->config_field, config_field);
}

/* ------------------------------------------------------------------ */
/* Order and plugins                                                   */

static void
test_plan_orders_ext_auth_jwt_then_rate_limits_then_extensions_then_actions(
    void **state)
{
    fixture *f = *state;
    const char *extensions[] = {"geo"};
    gwf_plan_request req = {.policy = "pol",
                            .extensions = extensions,
                            .extension_count = 1,
                            .direct_response = "hello",
                            .backend = "fn"};
    assert_int_equal(plan(f, &req), 0);
    assert_int_equal(f->plan.count, 7);
    assert_entry(entry(f, 0), "ext_authz", "authz", "spec.extAuth");
    assert_entry(entry(f, 1), "jwt_auth", "jwt", "spec.jwt");
    assert_entry(entry(f, 2), "rate_limit", "pol", "spec.rateLimit.local");
    assert_entry(entry(f, 3), "rate_limit", "rl", "spec.rateLimit");
    assert_entry(entry(f, 4), "geo_ip", "geo", "spec.plugin.config");
    assert_entry(entry(f, 5), "direct_response", "hello", "spec");
    assert_entry(entry(f, 6), "lambda_signer", "fn", "spec.aws");
}

static void
test_plan_jwt_entry_carries_extension_config_and_route(void **state)
{
    fixture *f = *state;
    gwf_plan_request req = {.policy = "pol"};
    assert_int_equal(plan(f, &req), 0);
    const gwf_plan_entry *e = entry(f, 1);
    assert_string_equal(e->config_json,
                        "{\"providers\":[{\"issuer\":\"https://issuer\"}]}");
    assert_string_equal(e->route_doc->name, "pol");
    assert_string_equal(e->route_field, "spec.jwtAuth");
    assert_string_equal(e->route_json, "{\"extensionRef\":{\"name\":\"jwt\"}}");
    assert_null(e->plugin_path);
}

static void
test_plan_ext_auth_entry_carries_extension_config_and_route(void **state)
{
    fixture *f = *state;
    gwf_plan_request req = {.policy = "pol"};
    assert_int_equal(plan(f, &req), 0);
    const gwf_plan_entry *e = entry(f, 0);
    assert_string_equal(e->config_json,
                        "{\"grpcService\":{\"backendRef\":{\"name\":\"authz\","
                        "\"port\":9000}}}");
    assert_string_equal(e->route_field, "spec.extAuth");
    assert_string_equal(e->route_json,
                        "{\"extensionRef\":{\"name\":\"authz\"},"
                        "\"contextExtensions\":{\"team\":\"a\"}}");
}

static void
test_plan_local_bucket_config_is_wrapped_in_local(void **state)
{
    fixture *f = *state;
    gwf_plan_request req = {.policy = "pol"};
    assert_int_equal(plan(f, &req), 0);
    const gwf_plan_entry *e = entry(f, 2);
    assert_string_equal(e->config_doc->kind, "TrafficPolicy");
    assert_string_equal(e->config_json,
                        "{\"local\":{\"tokenBucket\":{\"maxTokens\":10,"
                        "\"fillInterval\":\"1s\"}}}");
    assert_null(e->route_doc);
    assert_null(e->route_field);
    assert_null(e->route_json);
}

static void
test_plan_global_rate_limit_uses_extension_config_and_route_global(void **state)
{
    fixture *f = *state;
    gwf_plan_request req = {.policy = "pol"};
    assert_int_equal(plan(f, &req), 0);
    const gwf_plan_entry *e = entry(f, 3);
    assert_string_equal(e->config_json, "{\"domain\":\"api\"}");
    assert_string_equal(e->route_field, "spec.rateLimit.global");
    assert_string_equal(e->route_json,
                        "{\"descriptors\":[{\"entries\":[{\"type\":"
                        "\"RemoteAddress\"}]}],\"extensionRef\":{\"name\":"
                        "\"rl\"}}");
}

static void
test_plan_requested_extensions_keep_the_given_order(void **state)
{
    fixture *f = *state;
    const char *extensions[] = {"rl", "default/geo", "authz", "jwt"};
    gwf_plan_request req = {.extensions = extensions, .extension_count = 4};
    assert_int_equal(plan(f, &req), 0);
    assert_int_equal(f->plan.count, 4);
    assert_entry(entry(f, 0), "rate_limit", "rl", "spec.rateLimit");
    assert_entry(entry(f, 1), "geo_ip", "geo", "spec.plugin.config");
    assert_entry(entry(f, 2), "ext_authz", "authz", "spec.extAuth");
    assert_entry(entry(f, 3), "jwt_auth", "jwt", "spec.jwt");
    for (size_t i = 0; i < 4; i++) {
        assert_null(entry(f, i)->route_doc);
        assert_null(entry(f, i)->route_json);
    }
}

static void
test_plan_plugin_by_name_gives_its_config(void **state)
{
    fixture *f = *state;
    const char *extensions[] = {"geo"};
    gwf_plan_request req = {.extensions = extensions, .extension_count = 1};
    assert_int_equal(plan(f, &req), 0);
    const gwf_plan_entry *e = entry(f, 0);
    assert_string_equal(e->plugin_name, "geo_ip");
    assert_null(e->plugin_path);
    assert_string_equal(e->config_json,
                        "{\"db\":\"/var/geo.mmdb\",\"strict\":true}");
}

static void
test_plan_plugin_path_is_relative_to_the_manifest_directory(void **state)
{
    fixture *f = *state;
    const char *extensions[] = {"custom"};
    gwf_plan_request req = {.extensions = extensions, .extension_count = 1};
    assert_int_equal(plan(f, &req), 0);
    const gwf_plan_entry *e = entry(f, 0);
    assert_null(e->plugin_name);
    assert_string_equal(e->plugin_path,
                        "/etc/gwf/manifests/plugins/../lib/custom.so");
}

static void
test_plan_plugin_config_absent_gives_an_empty_object(void **state)
{
    fixture *f = *state;
    const char *extensions[] = {"custom"};
    gwf_plan_request req = {.extensions = extensions, .extension_count = 1};
    assert_int_equal(plan(f, &req), 0);
    assert_string_equal(entry(f, 0)->config_json, "{}");
    assert_string_equal(entry(f, 0)->config_field, "spec.plugin.config");
}

static void
test_plan_absolute_plugin_path_is_kept(void **state)
{
    fixture *f = *state;
    const char *extensions[] = {"absolute"};
    gwf_plan_request req = {.extensions = extensions, .extension_count = 1};
    assert_int_equal(plan(f, &req), 0);
    assert_string_equal(entry(f, 0)->plugin_path, "/opt/gwf/abs.so");
}

static void
test_plan_plugin_path_of_a_relative_file_uses_the_load_time_cwd(void **state)
{
    fixture *f = *state;
    const char text[] = GW "kind: GatewayExtension\n"
                           "metadata: {name: rel, namespace: r}\n"
                           "spec: {plugin: {path: x.so}}\n";
    assert_int_equal(gwf_manifests_load_buffer(f->m, "conf/m.yaml", text,
                                               strlen(text), &f->diag),
                     0);
    const char *extensions[] = {"r/rel"};
    gwf_plan_request req = {.extensions = extensions, .extension_count = 1};
    assert_int_equal(plan(f, &req), 0);
    char cwd[PATH_MAX], want[PATH_MAX + 32];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    snprintf(want, sizeof(want), "%s/conf/x.so",
             strcmp(cwd, "/") == 0 ? "" : cwd);
    assert_string_equal(entry(f, 0)->plugin_path, want);
}

static void
test_plan_direct_response_config_is_its_spec(void **state)
{
    fixture *f = *state;
    gwf_plan_request req = {.direct_response = "default/hello"};
    assert_int_equal(plan(f, &req), 0);
    assert_int_equal(f->plan.count, 1);
    assert_string_equal(entry(f, 0)->config_json,
                        "{\"status\":200,\"body\":\"hi\"}");
}

static void
test_plan_aws_backend_adds_lambda_signer(void **state)
{
    fixture *f = *state;
    gwf_plan_request req = {.backend = "fn"};
    assert_int_equal(plan(f, &req), 0);
    assert_int_equal(f->plan.count, 1);
    assert_entry(entry(f, 0), "lambda_signer", "fn", "spec.aws");
    assert_string_equal(entry(f, 0)->config_json,
                        "{\"lambda\":{\"functionName\":\"f\"}}");
}

static void
test_plan_static_backend_adds_no_entry(void **state)
{
    fixture *f = *state;
    gwf_plan_request req = {.backend = "web"};
    assert_int_equal(plan(f, &req), 0);
    assert_int_equal(f->plan.count, 0);
}

static void
test_plan_disabled_ext_auth_adds_no_entry(void **state)
{
    fixture *f = *state;
    gwf_plan_request req = {.policy = "no-auth"};
    assert_int_equal(plan(f, &req), 0);
    assert_int_equal(f->plan.count, 0);
}

static void
test_plan_policy_in_a_namespace_resolves_its_refs_there(void **state)
{
    fixture *f = *state;
    gwf_plan_request req = {.policy = "team/pol"};
    assert_int_equal(plan(f, &req), 0);
    assert_int_equal(f->plan.count, 1);
    assert_string_equal(entry(f, 0)->config_doc->name, "team-authz");
    assert_string_equal(entry(f, 0)->route_doc->namespace_, "team");
}

static void
test_plan_empty_request_is_an_empty_chain(void **state)
{
    fixture *f = *state;
    gwf_plan_request req = {0};
    assert_int_equal(plan(f, &req), 0);
    assert_int_equal(f->plan.count, 0);
    assert_null(f->plan.entries);
}

/* ------------------------------------------------------------------ */
/* cors, csrf, basicAuth, apiKeyAuth                                   */

static void
test_plan_orders_cors_authn_by_name_then_rate_limits_then_csrf(void **state)
{
    fixture *f = *state;
    gwf_plan_request req = {.policy = "all"};
    assert_int_equal(plan(f, &req), 0);
    assert_int_equal(f->plan.count, 7);
    assert_entry(entry(f, 0), "cors", "all", "spec.cors");
    assert_entry(entry(f, 1), "api_key_auth", "all", "spec.apiKeyAuth");
    assert_entry(entry(f, 2), "basic_auth", "all", "spec.basicAuth");
    assert_entry(entry(f, 3), "ext_authz", "authz", "spec.extAuth");
    assert_entry(entry(f, 4), "jwt_auth", "jwt", "spec.jwt");
    assert_entry(entry(f, 5), "rate_limit", "all", "spec.rateLimit.local");
    assert_entry(entry(f, 6), "csrf", "all", "spec.csrf");
}

static void
test_plan_cors_config_is_the_field_as_written_without_route_part(void **state)
{
    fixture *f = *state;
    gwf_plan_request req = {.policy = "all"};
    assert_int_equal(plan(f, &req), 0);
    const gwf_plan_entry *e = entry(f, 0);
    assert_string_equal(e->config_json,
                        "{\"allowOrigins\":[\"https://a.example\"],"
                        "\"maxAge\":60}");
    assert_null(e->route_doc);
    assert_null(e->route_field);
    assert_null(e->route_json);
    assert_null(e->plugin_path);
}

static void
test_plan_csrf_and_basic_auth_configs_are_the_fields_as_written(void **state)
{
    fixture *f = *state;
    gwf_plan_request req = {.policy = "all"};
    assert_int_equal(plan(f, &req), 0);
    assert_string_equal(entry(f, 6)->config_json,
                        "{\"percentageEnabled\":100}");
    assert_string_equal(entry(f, 2)->config_json, "{\"users\":[\"u:{SHA}x\"]}");
}

static void
test_plan_api_key_selector_adds_sorted_matching_secret_names(void **state)
{
    fixture *f = *state;
    gwf_plan_request req = {.policy = "all"};
    assert_int_equal(plan(f, &req), 0);
    assert_string_equal(entry(f, 1)->config_json,
                        "{\"keySources\":[{\"header\":\"x-api-key\"}],"
                        "\"secretSelector\":{\"matchLabels\":{\"team\":"
                        "\"api\"}},\"gwfSelectedSecrets\":[\"keys-a\","
                        "\"keys-b\"]}");
}

static void
test_plan_api_key_selector_takes_secrets_of_the_policy_namespace(void **state)
{
    fixture *f = *state;
    gwf_plan_request req = {.policy = "team/keys"};
    assert_int_equal(plan(f, &req), 0);
    assert_int_equal(f->plan.count, 1);
    assert_string_equal(entry(f, 0)->config_json,
                        "{\"secretSelector\":{\"matchLabels\":{\"team\":"
                        "\"api\"}},\"gwfSelectedSecrets\":[\"team-keys\"]}");
}

static void
test_plan_api_key_selector_matching_nothing_gives_an_empty_list(void **state)
{
    fixture *f = *state;
    gwf_plan_request req = {.policy = "keys-none"};
    assert_int_equal(plan(f, &req), 0);
    assert_int_equal(f->plan.count, 1);
    assert_string_equal(entry(f, 0)->config_json,
                        "{\"secretSelector\":{\"matchLabels\":{\"team\":"
                        "\"nobody\"}},\"gwfSelectedSecrets\":[]}");
}

static void
test_plan_api_key_secret_ref_config_has_no_selected_secrets(void **state)
{
    fixture *f = *state;
    gwf_plan_request req = {.policy = "keys-by-ref"};
    assert_int_equal(plan(f, &req), 0);
    assert_int_equal(f->plan.count, 1);
    assert_entry(entry(f, 0), "api_key_auth", "keys-by-ref", "spec.apiKeyAuth");
    assert_string_equal(entry(f, 0)->config_json,
                        "{\"secretRef\":{\"name\":\"keys-a\"}}");
}

static void
test_plan_api_key_selector_refuses_an_invalid_selected_secret(void **state)
{
    fixture *f = *state;
    const char text[] = "kind: Secret\napiVersion: v1\n"
                        "metadata: {name: keys-c, labels: {team: api}}\n"
                        "data: {k: \"not base64!\"}\n";
    assert_int_equal(gwf_manifests_load_buffer(f->m, "late.yaml", text,
                                               strlen(text), &f->diag),
                     0);
    gwf_plan_request req = {.policy = "all"};
    assert_int_not_equal(plan(f, &req), 0);
    assert_diag(&f->diag, "late.yaml:", "Secret default/keys-c", "data.k");
    assert_int_equal(f->plan.count, 0);
}

static void
test_plan_disabled_cors_basic_and_api_key_add_no_entry(void **state)
{
    fixture *f = *state;
    gwf_plan_request req = {.policy = "all-off"};
    assert_int_equal(plan(f, &req), 0);
    assert_int_equal(f->plan.count, 0);
}

static void
test_plan_field_policies_give_each_new_field_from_its_policy(void **state)
{
    fixture *f = *state;
    gwf_plan_request req = {0};
    req.field_policies[GWF_PF_CORS] = "all-off"; /* disabled: nothing */
    req.field_policies[GWF_PF_CSRF] = "all";
    req.field_policies[GWF_PF_API_KEY_AUTH] = "keys-by-ref";
    req.field_policies[GWF_PF_EXT_AUTH] = "pol";
    assert_int_equal(plan(f, &req), 0);
    assert_int_equal(f->plan.count, 3);
    assert_entry(entry(f, 0), "api_key_auth", "keys-by-ref", "spec.apiKeyAuth");
    assert_entry(entry(f, 1), "ext_authz", "authz", "spec.extAuth");
    assert_entry(entry(f, 2), "csrf", "all", "spec.csrf");
}

static void
test_policy_field_names_are_in_chain_order_and_parse_back(void **state)
{
    (void)state;
    static const char *const want[GWF_PF_COUNT] = {
        "cors", "apiKeyAuth",      "basicAuth",        "extAuth", "jwtAuth",
        "rbac", "rateLimit.local", "rateLimit.global", "csrf"};
    for (size_t i = 0; i < GWF_PF_COUNT; i++) {
        assert_string_equal(gwf_policy_field_name((gwf_policy_field)i),
                            want[i]);
        assert_int_equal(gwf_policy_field_parse(want[i], strlen(want[i])), i);
    }
    assert_null(gwf_policy_field_name(GWF_PF_COUNT));
    assert_int_equal(gwf_policy_field_parse("corsx", 4), GWF_PF_CORS);
    assert_int_equal(gwf_policy_field_parse("acl", 3), GWF_PF_COUNT);
}

/* ------------------------------------------------------------------ */
/* Errors                                                              */

static void
test_plan_missing_policy_is_named(void **state)
{
    fixture *f = *state;
    gwf_plan_request req = {.policy = "foo"};
    assert_int_equal(plan(f, &req), 1);
    assert_string_equal(gwf_diag_line(&f->diag, 0),
                        "TrafficPolicy default/foo not found");
    assert_int_equal(f->plan.count, 0);
    assert_null(f->plan.entries);
}

static void
test_plan_missing_extension_direct_response_and_backend_are_named(void **state)
{
    fixture *f = *state;
    const char *extensions[] = {"geo", "team/geo"};
    gwf_plan_request req = {.extensions = extensions,
                            .extension_count = 2,
                            .direct_response = "bye",
                            .backend = "ns/none"};
    assert_int_equal(plan(f, &req), 3);
    assert_diag(&f->diag, "GatewayExtension team/geo not found");
    assert_diag(&f->diag, "DirectResponse default/bye not found");
    assert_diag(&f->diag, "Backend ns/none not found");
    assert_int_equal(f->plan.count, 0);
}

static void
test_plan_request_ref_of_the_wrong_kind_is_not_found(void **state)
{
    fixture *f = *state;
    gwf_plan_request req = {.direct_response = "fn"};
    assert_int_equal(plan(f, &req), 1);
    assert_diag(&f->diag, "DirectResponse default/fn not found");
}

static void
test_plan_malformed_ref_is_an_error(void **state)
{
    fixture *f = *state;
    gwf_plan_request req = {.policy = "a/b/c"};
    assert_int_equal(plan(f, &req), 1);
    assert_diag(&f->diag, "invalid TrafficPolicy reference \"a/b/c\" "
                          "(expected NAME or NAMESPACE/NAME)");
}

/* ------------------------------------------------------------------ */
/* An HTTPRoute rule's CORS filter                                     */

static void
load_route(fixture *f)
{
    const char text[] = "apiVersion: gateway.networking.k8s.io/v1\n"
                        "kind: HTTPRoute\n"
                        "metadata: {name: web}\n"
                        "spec:\n"
                        "  rules:\n"
                        "  - filters:\n"
                        "    - type: RequestHeaderModifier\n"
                        "      requestHeaderModifier: {set: []}\n"
                        "    - type: CORS\n"
                        "      cors: {allowOrigins: [\"https://r.example\"]}\n"
                        "    - type: CORS\n"
                        "      cors: {disable: {}}\n";
    assert_int_equal(gwf_manifests_load_buffer(f->m, "route.yaml", text,
                                               strlen(text), &f->diag),
                     0);
}

/* The filter's node configures a cors plugin of its own, in the cors
 * place; a TrafficPolicy's cors then adds nothing (the rule's filter is
 * the most specific) while its other fields still do. */
static void
test_plan_route_cors_filter_takes_the_cors_place_over_the_policys(void **state)
{
    fixture *f = *state;
    load_route(f);
    gwf_plan_request req = {.policy = "all",
                            .route_filter_route = "web",
                            .route_filter_field =
                                "spec.rules[0].filters[1].cors"};
    assert_int_equal(plan(f, &req), 0);
    assert_int_equal(f->plan.count, 7);
    assert_entry(entry(f, 0), "cors", "web", "spec.rules[0].filters[1].cors");
    assert_string_equal(entry(f, 0)->config_doc->kind, "HTTPRoute");
    assert_string_equal(entry(f, 0)->config_json,
                        "{\"allowOrigins\":[\"https://r.example\"]}");
    assert_null(entry(f, 0)->route_doc);
    assert_entry(entry(f, 1), "api_key_auth", "all", "spec.apiKeyAuth");
}

static void
test_plan_route_filter_path_not_of_the_cors_form_is_refused(void **state)
{
    fixture *f = *state;
    load_route(f);
    const char *bad[] = {
        "spec.rules[0].filters[1]", "spec.rules[0].filters[01].cors",
        "spec.rules[-1].filters[1].cors",
        "spec.rules[0].filters[1].cors.allowOrigins", "spec.cors"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gwf_plan_request req = {.route_filter_route = "web",
                                .route_filter_field = bad[i]};
        assert_int_equal(plan(f, &req), 1);
        assert_int_equal(f->plan.count, 0);
    }
    assert_diag(&f->diag, "HTTPRoute default/web: a route filter must be "
                          "named spec.rules[N].filters[M].cors");
}

static void
test_plan_route_filter_of_another_type_or_missing_is_refused(void **state)
{
    fixture *f = *state;
    load_route(f);
    gwf_plan_request req = {.route_filter_route = "web",
                            .route_filter_field =
                                "spec.rules[0].filters[0].cors"};
    assert_int_equal(plan(f, &req), 1);
    assert_diag(&f->diag, "route.yaml:7: HTTPRoute default/web: "
                          "spec.rules[0].filters[0].type: expected a filter "
                          "of type CORS");
    req.route_filter_field = "spec.rules[3].filters[0].cors";
    assert_int_equal(plan(f, &req), 1);
    assert_diag(&f->diag, "spec.rules[3].filters[0].type: expected a filter "
                          "of type CORS");
    req.route_filter_route = "nope";
    assert_int_equal(plan(f, &req), 1);
    assert_diag(&f->diag, "HTTPRoute default/nope not found");
    assert_int_equal(f->plan.count, 0);
}

/* An HTTPCORSFilter has no `disable`: one there is refused by name
 * rather than read as switching CORS off. */
static void
test_plan_route_filter_with_disable_is_refused(void **state)
{
    fixture *f = *state;
    load_route(f);
    gwf_plan_request req = {.route_filter_route = "web",
                            .route_filter_field =
                                "spec.rules[0].filters[2].cors"};
    assert_int_equal(plan(f, &req), 1);
    assert_diag(&f->diag, "spec.rules[0].filters[2].cors: unknown field "
                          "\"disable\"");
    req.route_filter_field = NULL;
    assert_int_equal(plan(f, &req), 1);
    assert_diag(&f->diag, "a route filter needs both its HTTPRoute and its "
                          "field path");
}

static void
test_plan_rechecks_documents_loaded_after_validate(void **state)
{
    fixture *f = *state;
    const char text[] = GW "kind: TrafficPolicy\n"
                           "metadata: {name: late}\n"
                           "spec:\n"
                           "  jwtAuth: {extensionRef: {name: nope}}\n";
    assert_int_equal(gwf_manifests_load_buffer(f->m, "late.yaml", text,
                                               strlen(text), &f->diag),
                     0);
    gwf_plan_request req = {.policy = "late"};
    assert_int_equal(plan(f, &req), 1);
    assert_diag(&f->diag, "late.yaml:5: TrafficPolicy default/late: "
                          "spec.jwtAuth.extensionRef.name: GatewayExtension "
                          "default/nope not found");
    assert_int_equal(f->plan.count, 0);
}

static void
test_plan_invalid_backend_is_refused(void **state)
{
    fixture *f = *state;
    const char text[] = GW "kind: Backend\nmetadata: {name: empty}\n"
                           "spec: {}\n";
    assert_int_equal(
        gwf_manifests_load_buffer(f->m, "b.yaml", text, strlen(text), &f->diag),
        0);
    gwf_plan_request req = {.direct_response = "hello", .backend = "empty"};
    assert_int_equal(plan(f, &req), 1);
    assert_diag(&f->diag, "b.yaml:4: Backend default/empty: spec: expected "
                          "exactly one of static, aws");
    assert_int_equal(f->plan.count, 0);
}

static void
test_plan_free_leaves_the_plan_empty(void **state)
{
    fixture *f = *state;
    gwf_plan_request req = {.policy = "pol"};
    assert_int_equal(plan(f, &req), 0);
    gwf_plan_free(&f->plan);
    assert_null(f->plan.entries);
    assert_int_equal(f->plan.count, 0);
    gwf_plan_free(&f->plan);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_plan_orders_ext_auth_jwt_then_rate_limits_then_extensions_then_actions),
        T(test_plan_jwt_entry_carries_extension_config_and_route),
        T(test_plan_ext_auth_entry_carries_extension_config_and_route),
        T(test_plan_local_bucket_config_is_wrapped_in_local),
        T(test_plan_global_rate_limit_uses_extension_config_and_route_global),
        T(test_plan_requested_extensions_keep_the_given_order),
        T(test_plan_plugin_by_name_gives_its_config),
        T(test_plan_plugin_path_is_relative_to_the_manifest_directory),
        T(test_plan_plugin_config_absent_gives_an_empty_object),
        T(test_plan_absolute_plugin_path_is_kept),
        T(test_plan_plugin_path_of_a_relative_file_uses_the_load_time_cwd),
        T(test_plan_direct_response_config_is_its_spec),
        T(test_plan_aws_backend_adds_lambda_signer),
        T(test_plan_static_backend_adds_no_entry),
        T(test_plan_disabled_ext_auth_adds_no_entry),
        T(test_plan_policy_in_a_namespace_resolves_its_refs_there),
        T(test_plan_empty_request_is_an_empty_chain),
        T(test_plan_orders_cors_authn_by_name_then_rate_limits_then_csrf),
        T(test_plan_cors_config_is_the_field_as_written_without_route_part),
        T(test_plan_csrf_and_basic_auth_configs_are_the_fields_as_written),
        T(test_plan_api_key_selector_adds_sorted_matching_secret_names),
        T(test_plan_api_key_selector_takes_secrets_of_the_policy_namespace),
        T(test_plan_api_key_selector_matching_nothing_gives_an_empty_list),
        T(test_plan_api_key_secret_ref_config_has_no_selected_secrets),
        T(test_plan_api_key_selector_refuses_an_invalid_selected_secret),
        T(test_plan_disabled_cors_basic_and_api_key_add_no_entry),
        T(test_plan_field_policies_give_each_new_field_from_its_policy),
        T(test_policy_field_names_are_in_chain_order_and_parse_back),
        T(test_plan_missing_policy_is_named),
        T(test_plan_missing_extension_direct_response_and_backend_are_named),
        T(test_plan_request_ref_of_the_wrong_kind_is_not_found),
        T(test_plan_malformed_ref_is_an_error),
        T(test_plan_route_cors_filter_takes_the_cors_place_over_the_policys),
        T(test_plan_route_filter_path_not_of_the_cors_form_is_refused),
        T(test_plan_route_filter_of_another_type_or_missing_is_refused),
        T(test_plan_route_filter_with_disable_is_refused),
        T(test_plan_rechecks_documents_loaded_after_validate),
        T(test_plan_invalid_backend_is_refused),
        T(test_plan_free_leaves_the_plan_empty),
    };
    return cmocka_run_group_tests_name("manifest-plan", tests, NULL, NULL);
}
