/*
 * test_manifest.c - loading documents, validating kinds and shapes,
 * resolving references, and loading directories and globs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gwf/manifest.h>

/* ------------------------------------------------------------------ */
/* Helpers                                                             */

#define GW "apiVersion: gateway.kgateway.dev/v1alpha1\n"

typedef struct fixture {
    gwf_manifests *m;
    gwf_diag diag;
} fixture;

static int
setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    f->m = gwf_manifests_new();
    gwf_diag_init(&f->diag);
    *state = f;
    return f->m ? 0 : -1;
}

static int
teardown(void **state)
{
    fixture *f = *state;
    gwf_manifests_free(f->m);
    gwf_diag_free(&f->diag);
    free(f);
    return 0;
}

static int
load(fixture *f, const char *name, const char *text)
{
    return gwf_manifests_load_buffer(f->m, name, text, strlen(text), &f->diag);
}

/* Loads `text` as "m.yaml", expects it to load, and validates. */
static int
load_and_validate(fixture *f, const char *text)
{
    assert_int_equal(load(f, "m.yaml", text), 0);
    return gwf_manifests_validate(f->m, &f->diag);
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

static void
assert_no_errors(const gwf_diag *d)
{
    for (size_t i = 0; i < d->count; i++)
        print_message("unexpected: %s\n", gwf_diag_line(d, i));
    assert_int_equal(d->count, 0);
}

static const char ext_authz[] = GW "kind: GatewayExtension\n"
                                   "metadata:\n"
                                   "  name: authz\n"
                                   "spec:\n"
                                   "  type: ExtAuth\n"
                                   "  extAuth:\n"
                                   "    grpcService: {backendRef: {name: a}}\n";

static const char ext_ratelimit[] = GW "kind: GatewayExtension\n"
                                       "metadata:\n"
                                       "  name: rl\n"
                                       "spec:\n"
                                       "  rateLimit: {domain: d}\n";

static const char ext_jwt[] = GW "kind: GatewayExtension\n"
                                 "metadata:\n"
                                 "  name: jwt\n"
                                 "spec:\n"
                                 "  jwt: {providers: []}\n";

/* A policy whose spec is `spec_body` (indented by two spaces). */
static char *
policy(const char *spec_body)
{
    const char *head = GW "kind: TrafficPolicy\n"
                          "metadata:\n"
                          "  name: pol\n"
                          "spec:\n";
    char *text = malloc(strlen(head) + strlen(spec_body) + 1);
    assert_non_null(text);
    strcpy(text, head);
    strcat(text, spec_body);
    return text;
}

/* Loads the three extensions, then a policy with `spec_body`. */
static int
validate_policy(fixture *f, const char *spec_body)
{
    char *text = policy(spec_body);
    assert_int_equal(load(f, "ext.yaml", ext_authz), 0);
    assert_int_equal(load(f, "rl.yaml", ext_ratelimit), 0);
    assert_int_equal(load(f, "jwt.yaml", ext_jwt), 0);
    assert_int_equal(load(f, "pol.yaml", text), 0);
    free(text);
    return gwf_manifests_validate(f->m, &f->diag);
}

static void
write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static char *
make_temp_dir(void)
{
    char *dir = strdup("/tmp/gwf-manifest-XXXXXX");
    assert_non_null(dir);
    assert_non_null(mkdtemp(dir));
    return dir;
}

static void
remove_tree(const char *dir, const char *const *names)
{
    char path[512];
    for (; *names; names++) {
        snprintf(path, sizeof(path), "%s/%s", dir, *names);
        if (remove(path) != 0)
            rmdir(path);
    }
    rmdir(dir);
}

static char *
secret_with(const char *fields)
{
    const char *head = "apiVersion: v1\nkind: Secret\nmetadata:\n"
                       "  name: creds\n";
    char *text = malloc(strlen(head) + strlen(fields) + 1);
    assert_non_null(text);
    strcpy(text, head);
    strcat(text, fields);
    return text;
}

/* ------------------------------------------------------------------ */
/* Loading documents                                                   */

static void
test_yaml_multi_document_file_loads_each_document(void **state)
{
    fixture *f = *state;
    assert_int_equal(load(f, "m.yaml",
                          GW "kind: DirectResponse\n"
                             "metadata: {name: a, namespace: team}\n"
                             "spec: {status: 200}\n"
                             "---\n" GW "kind: DirectResponse\n"
                             "metadata: {name: b}\n"
                             "spec: {status: 404}\n"),
                     0);
    assert_int_equal(gwf_manifests_count(f->m), 2);
    const gwf_doc *a = gwf_manifests_at(f->m, 0);
    const gwf_doc *b = gwf_manifests_at(f->m, 1);
    assert_string_equal(a->kind, "DirectResponse");
    assert_string_equal(a->api_version, "gateway.kgateway.dev/v1alpha1");
    assert_string_equal(a->name, "a");
    assert_string_equal(a->namespace_, "team");
    assert_string_equal(a->file, "m.yaml");
    assert_int_equal(a->line, 1);
    assert_int_equal(a->index, 1);
    assert_non_null(a->spec);
    assert_string_equal(b->namespace_, "default");
    assert_int_equal(b->line, 6);
    assert_int_equal(b->index, 2);
}

static void
test_json_single_document_loads(void **state)
{
    fixture *f = *state;
    assert_int_equal(load(f, "m.json",
                          "{\"apiVersion\": \"v1\", \"kind\": \"Secret\",\n"
                          " \"metadata\": {\"name\": \"s\"},\n"
                          " \"stringData\": {\"k\": \"v\"}}"),
                     0);
    assert_int_equal(gwf_manifests_count(f->m), 1);
    assert_string_equal(gwf_manifests_at(f->m, 0)->kind, "Secret");
    assert_int_equal(gwf_manifests_validate(f->m, &f->diag), 0);
}

static void
test_json_array_of_documents_loads_each(void **state)
{
    fixture *f = *state;
    assert_int_equal(
        load(f, "m.json",
             "[\n {\"apiVersion\": \"v1\", \"kind\": \"Secret\","
             " \"metadata\": {\"name\": \"a\"}, \"stringData\": {}},\n"
             " {\"apiVersion\": \"v1\", \"kind\": \"Secret\","
             " \"metadata\": {\"name\": \"b\"}, \"stringData\": {}}\n]"),
        0);
    assert_int_equal(gwf_manifests_count(f->m), 2);
    assert_string_equal(gwf_manifests_at(f->m, 1)->name, "b");
    assert_int_equal(gwf_manifests_at(f->m, 1)->line, 3);
    assert_int_equal(gwf_manifests_at(f->m, 1)->index, 2);
}

static void
test_json_list_kind_loads_its_items(void **state)
{
    fixture *f = *state;
    assert_int_equal(
        load(f, "list.json",
             "{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [\n"
             " {\"apiVersion\": \"v1\", \"kind\": \"Secret\","
             " \"metadata\": {\"name\": \"a\"}, \"stringData\": {}}]}"),
        0);
    assert_int_equal(gwf_manifests_count(f->m), 1);
    assert_string_equal(gwf_manifests_at(f->m, 0)->name, "a");
    assert_int_equal(gwf_manifests_at(f->m, 0)->line, 2);
}

static void
test_yaml_list_kind_loads_its_items(void **state)
{
    fixture *f = *state;
    assert_int_equal(load(f, "list.yaml",
                          "apiVersion: v1\nkind: List\nitems:\n"
                          "- " GW "  kind: DirectResponse\n"
                          "  metadata: {name: a}\n  spec: {}\n"
                          "- " GW "  kind: DirectResponse\n"
                          "  metadata: {name: b}\n  spec: {}\n"),
                     0);
    assert_int_equal(gwf_manifests_count(f->m), 2);
    assert_string_equal(gwf_manifests_at(f->m, 1)->name, "b");
    assert_int_equal(gwf_manifests_at(f->m, 1)->line, 8);
    assert_int_equal(gwf_manifests_validate(f->m, &f->diag), 0);
}

static void
test_empty_documents_are_skipped(void **state)
{
    fixture *f = *state;
    assert_int_equal(load(f, "m.yaml",
                          "---\n# nothing\n---\n" GW
                          "kind: DirectResponse\nmetadata: {name: a}\n"
                          "spec: {}\n---\n"),
                     0);
    assert_int_equal(gwf_manifests_count(f->m), 1);
    assert_int_equal(gwf_manifests_at(f->m, 0)->index, 1);
}

static void
test_non_mapping_document_is_an_error(void **state)
{
    fixture *f = *state;
    assert_int_equal(load(f, "m.yaml", "a: 1\n---\njust text\n"), 1);
    assert_diag(&f->diag, "m.yaml:3: document 2: expected a mapping, "
                          "got string \"just text\"");
    assert_int_equal(gwf_manifests_count(f->m), 1);
}

static void
test_list_items_that_are_not_a_list_is_an_error(void **state)
{
    fixture *f = *state;
    assert_int_equal(load(f, "m.yaml", "kind: List\nitems: {a: 1}\n"), 1);
    assert_diag(&f->diag, "m.yaml:2: List: items: expected a list, got "
                          "a mapping");
}

static void
test_too_many_non_mapping_documents_are_capped(void **state)
{
    fixture *f = *state;
    char text[1024];
    size_t o = (size_t)snprintf(text, sizeof(text), "[0");
    for (int i = 0; i < 100; i++)
        o += (size_t)snprintf(text + o, sizeof(text) - o, ",%d", i);
    snprintf(text + o, sizeof(text) - o, "]");
    assert_int_equal(load(f, "m.json", text), 20);
    assert_diag(&f->diag, "m.json:1: document 20: expected a mapping, got "
                          "integer 18 (too many errors in this file");
}

static void
test_syntax_error_adds_no_documents(void **state)
{
    fixture *f = *state;
    int errors = load(f, "bad.yaml",
                      GW "kind: DirectResponse\nmetadata: {name: a}\n"
                         "spec: {}\n---\nkey: [unclosed\n");
    assert_int_equal(errors, 1);
    assert_int_equal(gwf_manifests_count(f->m), 0);
    assert_diag(&f->diag, "bad.yaml:");
}

/* ------------------------------------------------------------------ */
/* Common fields                                                       */

static void
test_missing_api_version_is_reported(void **state)
{
    fixture *f = *state;
    assert_int_equal(load_and_validate(f, "kind: DirectResponse\n"
                                          "metadata: {name: a}\nspec: {}\n"),
                     1);
    assert_diag(&f->diag, "m.yaml:1: DirectResponse default/a: apiVersion: "
                          "missing required field");
}

static void
test_document_without_kind_is_labelled_by_position(void **state)
{
    fixture *f = *state;
    assert_int_equal(load_and_validate(f, GW "metadata: {name: a}\n"), 1);
    assert_diag(&f->diag, "m.yaml:1: document 1: kind: missing required "
                          "field");
}

static void
test_document_without_name_is_labelled_by_kind_and_position(void **state)
{
    fixture *f = *state;
    assert_int_equal(load_and_validate(f,
                                       "a: 1\n---\n" GW "kind: DirectResponse\n"
                                       "metadata: {namespace: x}\n"
                                       "spec: {}\n"),
                     3 /* document 1 lacks everything */ + 1);
    assert_diag(&f->diag, "m.yaml:5: DirectResponse (document 2): "
                          "metadata.name: missing required field");
}

static void
test_missing_metadata_is_reported(void **state)
{
    fixture *f = *state;
    assert_int_equal(load_and_validate(f, GW "kind: DirectResponse\n"
                                             "spec: {}\n"),
                     1);
    assert_diag(&f->diag, "m.yaml:1: DirectResponse (document 1): "
                          "metadata: missing required field");
}

static void
test_kind_of_wrong_type_is_reported(void **state)
{
    fixture *f = *state;
    assert_int_equal(load_and_validate(f, GW "kind: [a]\n"
                                             "metadata: {name: a}\n"),
                     1);
    assert_diag(&f->diag, "m.yaml:2: document 1: kind: expected a string, "
                          "got a list");
}

static void
test_unread_kind_is_skipped_with_a_note(void **state)
{
    fixture *f = *state;
    assert_int_equal(load_and_validate(f, "apiVersion: apps/v1\n"
                                          "kind: Deployment\n"
                                          "metadata: {name: web}\n"
                                          "spec: {replicas: 2}\n"),
                     0);
    assert_int_equal(gwf_manifests_count(f->m), 0);
    const gwf_diag *notes = gwf_manifests_notes(f->m);
    assert_int_equal(notes->count, 1);
    assert_string_equal(gwf_diag_line(notes, 0),
                        "m.yaml:1: document 1: skipped kind \"Deployment\" "
                        "web (gwf does not read this kind)");
}

static void
test_deprecated_type_is_accepted_with_a_note(void **state)
{
    fixture *f = *state;
    assert_int_equal(
        load_and_validate(f, "apiVersion: gateway.kgateway.dev/v1alpha1\n"
                             "kind: Backend\n"
                             "metadata: {name: b}\n"
                             "spec:\n"
                             "  type: Static\n"
                             "  static: {hosts: [{host: a.example, port: "
                             "80}]}\n"),
        0);
    const gwf_diag *notes = gwf_manifests_notes(f->m);
    assert_int_equal(notes->count, 1);
    assert_string_equal(gwf_diag_line(notes, 0),
                        "m.yaml:5: Backend b: spec.type is deprecated in "
                        "kgateway and has no effect (the block that is set "
                        "decides)");
}

static void
test_gateway_api_kinds_are_read(void **state)
{
    fixture *f = *state;
    assert_int_equal(
        load_and_validate(f, "apiVersion: gateway.networking.k8s.io/v1\n"
                             "kind: HTTPRoute\n"
                             "metadata: {name: r}\n"
                             "spec: {}\n"
                             "---\n"
                             "apiVersion: discovery.k8s.io/v1\n"
                             "kind: EndpointSlice\n"
                             "metadata: {name: s}\n"),
        0);
    assert_int_equal(gwf_manifests_count(f->m), 2);
    assert_non_null(gwf_manifests_find(f->m, "HTTPRoute", "r"));
    assert_int_equal(gwf_manifests_notes(f->m)->count, 0);
}

static void
test_gateway_api_kind_with_wrong_api_version_is_an_error(void **state)
{
    fixture *f = *state;
    assert_int_equal(
        load_and_validate(f, "apiVersion: gateway.networking.k8s.io/v9\n"
                             "kind: Gateway\n"
                             "metadata: {name: g}\n"
                             "spec: {}\n"),
        1);
    assert_diag(&f->diag, "m.yaml:1: Gateway default/g: apiVersion: "
                          "unsupported apiVersion "
                          "\"gateway.networking.k8s.io/v9\" for kind Gateway "
                          "(expected \"gateway.networking.k8s.io/v1\")");
}

static void
test_unknown_api_version_is_an_error(void **state)
{
    fixture *f = *state;
    assert_int_equal(
        load_and_validate(f, "apiVersion: gateway.kgateway.dev/v2\n"
                             "kind: DirectResponse\nmetadata: {name: a}\n"
                             "spec: {}\n"),
        1);
    assert_diag(&f->diag,
                "m.yaml:1: DirectResponse default/a: apiVersion: "
                "unsupported apiVersion \"gateway.kgateway.dev/v2\" for "
                "kind DirectResponse (expected "
                "\"gateway.kgateway.dev/v1alpha1\")");
}

static void
test_secret_needs_api_version_v1(void **state)
{
    fixture *f = *state;
    assert_int_equal(load_and_validate(f, GW "kind: Secret\n"
                                             "metadata: {name: s}\n"
                                             "stringData: {a: b}\n"),
                     1);
    assert_diag(&f->diag,
                "Secret default/s: apiVersion: ", "(expected \"v1\")");
}

static void
test_invalid_name_is_not_a_dns_subdomain(void **state)
{
    fixture *f = *state;
    const char *bad[] = {"Upper", "under_score", "-start", "end-",
                         "a..b",  "a.-b",        ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[256];
        gwf_diag_free(&f->diag);
        gwf_manifests_free(f->m);
        f->m = gwf_manifests_new();
        snprintf(text, sizeof(text),
                 GW "kind: DirectResponse\nmetadata:\n  name: \"%s\"\n"
                    "spec: {}\n",
                 bad[i]);
        assert_int_equal(load_and_validate(f, text), 1);
        assert_diag(&f->diag, "m.yaml:4: ", "metadata.name: invalid name",
                    "DNS-1123 subdomain");
    }
}

static void
test_dotted_name_of_253_characters_is_valid_and_254_is_not(void **state)
{
    fixture *f = *state;
    char name[300], text[512];
    memset(name, 'a', 253);
    name[253] = '\0';
    name[100] = '.';
    snprintf(text, sizeof(text),
             GW "kind: DirectResponse\nmetadata: {name: %s}\nspec: {}\n", name);
    assert_int_equal(load_and_validate(f, text), 0);
    gwf_manifests_free(f->m);
    f->m = gwf_manifests_new();
    strcat(name, "a");
    snprintf(text, sizeof(text),
             GW "kind: DirectResponse\nmetadata: {name: %s}\nspec: {}\n", name);
    assert_int_equal(load_and_validate(f, text), 1);
    assert_diag(&f->diag, "metadata.name: invalid name");
}

static void
test_invalid_namespace_is_not_a_dns_label(void **state)
{
    fixture *f = *state;
    assert_int_equal(load_and_validate(f, GW "kind: DirectResponse\n"
                                             "metadata:\n  name: a\n"
                                             "  namespace: a.b\nspec: {}\n"),
                     1);
    assert_diag(&f->diag,
                "m.yaml:5: DirectResponse a.b/a: "
                "metadata.namespace: invalid namespace \"a.b\"",
                "DNS-1123 label");
}

static void
test_duplicate_document_names_both_locations(void **state)
{
    fixture *f = *state;
    const char *doc = GW "kind: DirectResponse\nmetadata:\n  name: dup\n"
                         "spec: {}\n";
    assert_int_equal(load(f, "one.yaml", doc), 0);
    assert_int_equal(load(f, "two.yaml", "# other\n---\n"), 0);
    char text[512];
    snprintf(text, sizeof(text), "# padding\n%s", doc);
    assert_int_equal(load(f, "two.yaml", text), 0);
    assert_int_equal(gwf_manifests_validate(f->m, &f->diag), 1);
    assert_diag(&f->diag,
                "two.yaml:5: DirectResponse default/dup: metadata.name: "
                "duplicate DirectResponse default/dup (first defined at "
                "one.yaml:1)");
}

static void
test_same_name_in_other_namespace_or_kind_is_not_a_duplicate(void **state)
{
    fixture *f = *state;
    assert_int_equal(
        load_and_validate(f, GW "kind: DirectResponse\nmetadata: {name: a}\n"
                                "spec: {}\n---\n" GW "kind: DirectResponse\n"
                                "metadata: {name: a, namespace: b}\n"
                                "spec: {}\n---\n" GW "kind: Backend\n"
                                "metadata: {name: a}\nspec: {aws: {}}\n"),
        0);
}

static void
test_spec_is_required(void **state)
{
    fixture *f = *state;
    assert_int_equal(load_and_validate(f, GW "kind: Backend\n"
                                             "metadata: {name: b}\n"),
                     1);
    assert_diag(&f->diag, "m.yaml:1: Backend default/b: spec: missing "
                          "required field");
}

static void
test_direct_response_spec_must_be_a_mapping(void **state)
{
    fixture *f = *state;
    assert_int_equal(load_and_validate(f, GW "kind: DirectResponse\n"
                                             "metadata: {name: d}\n"
                                             "spec: [200]\n"),
                     1);
    assert_diag(&f->diag, "m.yaml:4: DirectResponse default/d: spec: "
                          "expected a mapping, got a list");
}

static void
test_too_many_errors_in_one_document_are_capped(void **state)
{
    fixture *f = *state;
    char text[4096];
    size_t o = (size_t)snprintf(text, sizeof(text),
                                GW "kind: TrafficPolicy\n"
                                   "metadata: {name: p}\nspec:\n");
    for (int i = 0; i < 50; i++)
        o += (size_t)snprintf(text + o, sizeof(text) - o, "  f%d: 1\n", i);
    assert_int_equal(load_and_validate(f, text), 20);
    assert_diag(&f->diag, "spec.f19: unknown field", "too many errors");
}

static void
test_validate_twice_reports_the_same_errors(void **state)
{
    fixture *f = *state;
    assert_int_equal(load_and_validate(f, GW "kind: DirectResponse\n"
                                             "metadata: {name: a}\n"),
                     1);
    assert_int_equal(gwf_manifests_validate(f->m, &f->diag), 1);
    assert_int_equal(f->diag.count, 2);
}

static void
test_doc_errorf_without_field_uses_the_document_line(void **state)
{
    fixture *f = *state;
    assert_int_equal(load(f, "m.yaml",
                          "# c\n" GW "kind: DirectResponse\n"
                          "metadata: {name: a}\nspec: {}\n"),
                     0);
    const gwf_doc *doc = gwf_manifests_at(f->m, 0);
    gwf_doc_errorf(&f->diag, doc, NULL, "plugin said %d", 7);
    gwf_doc_errorf(&f->diag, doc, "spec.status", "missing");
    assert_string_equal(gwf_diag_line(&f->diag, 0),
                        "m.yaml:2: DirectResponse default/a: plugin said 7");
    assert_string_equal(gwf_diag_line(&f->diag, 1),
                        "m.yaml:5: DirectResponse default/a: spec.status: "
                        "missing");
}

/* ------------------------------------------------------------------ */
/* GatewayExtension                                                    */

static void
test_extension_without_a_type_block_is_an_error(void **state)
{
    fixture *f = *state;
    assert_int_equal(load_and_validate(f, GW "kind: GatewayExtension\n"
                                             "metadata: {name: e}\n"
                                             "spec: {type: ExtAuth}\n"),
                     1);
    assert_diag(&f->diag, "m.yaml:4: GatewayExtension default/e: spec: "
                          "expected exactly one of extAuth, rateLimit, jwt, "
                          "plugin");
}

static void
test_extension_with_two_type_blocks_is_an_error(void **state)
{
    fixture *f = *state;
    assert_int_equal(load_and_validate(f, GW "kind: GatewayExtension\n"
                                             "metadata: {name: e}\nspec:\n"
                                             "  extAuth: {}\n"
                                             "  jwt: {}\n"),
                     1);
    assert_diag(&f->diag, "m.yaml:6: GatewayExtension default/e: spec.jwt: "
                          "only one of extAuth, rateLimit, jwt, plugin may "
                          "be set, found extAuth and jwt");
}

static void
test_extension_type_must_agree_with_the_block(void **state)
{
    fixture *f = *state;
    assert_int_equal(load_and_validate(f, GW "kind: GatewayExtension\n"
                                             "metadata: {name: e}\nspec:\n"
                                             "  type: JWT\n"
                                             "  rateLimit: {}\n"),
                     1);
    assert_diag(&f->diag, "m.yaml:5: GatewayExtension default/e: spec.type: "
                          "type \"JWT\" does not match spec.rateLimit "
                          "(expected RateLimit)");
}

static void
test_extension_unknown_type_value_is_an_error(void **state)
{
    fixture *f = *state;
    assert_int_equal(load_and_validate(f, GW "kind: GatewayExtension\n"
                                             "metadata: {name: e}\nspec:\n"
                                             "  type: ExtProc\n"
                                             "  extAuth: {}\n"),
                     1);
    assert_diag(&f->diag, "spec.type: unknown type \"ExtProc\" (expected one "
                          "of ExtAuth, RateLimit, JWT, Plugin)");
}

static void
test_extension_block_must_be_a_mapping(void **state)
{
    fixture *f = *state;
    assert_int_equal(load_and_validate(f, GW "kind: GatewayExtension\n"
                                             "metadata: {name: e}\nspec:\n"
                                             "  jwt: on\n"),
                     1);
    assert_diag(&f->diag, "m.yaml:5: GatewayExtension default/e: spec.jwt: "
                          "expected a mapping, got string \"on\"");
}

static void
test_extension_unknown_spec_field_is_named(void **state)
{
    fixture *f = *state;
    assert_int_equal(load_and_validate(f, GW "kind: GatewayExtension\n"
                                             "metadata: {name: e}\nspec:\n"
                                             "  extAuth: {}\n"
                                             "  extProc: {}\n"),
                     1);
    assert_diag(&f->diag, "m.yaml:6: ",
                "spec.extProc: unknown field "
                "\"extProc\" (expected one of: "
                "type, extAuth, rateLimit, jwt, "
                "plugin)");
}

static void
test_extension_plugin_needs_name_or_path(void **state)
{
    fixture *f = *state;
    assert_int_equal(load_and_validate(f, GW "kind: GatewayExtension\n"
                                             "metadata: {name: e}\nspec:\n"
                                             "  plugin:\n"
                                             "    config: {a: 1}\n"),
                     1);
    assert_diag(&f->diag, "m.yaml:5: GatewayExtension default/e: "
                          "spec.plugin: expected one of name, path");
}

static void
test_extension_plugin_name_and_path_together_is_an_error(void **state)
{
    fixture *f = *state;
    assert_int_equal(load_and_validate(f, GW "kind: GatewayExtension\n"
                                             "metadata: {name: e}\nspec:\n"
                                             "  plugin:\n"
                                             "    name: geo\n"
                                             "    path: ./geo.so\n"),
                     1);
    assert_diag(&f->diag, "m.yaml:7: ",
                "spec.plugin.path: set either name "
                "or path, not both");
}

static void
test_extension_plugin_name_must_match_pattern(void **state)
{
    fixture *f = *state;
    assert_int_equal(load_and_validate(f, GW "kind: GatewayExtension\n"
                                             "metadata: {name: e}\nspec:\n"
                                             "  plugin:\n"
                                             "    name: Geo.IP\n"),
                     1);
    assert_diag(&f->diag, "m.yaml:6: ",
                "spec.plugin.name: invalid plugin "
                "name \"Geo.IP\" (expected 1 to 64 "
                "of a-z, 0-9, '_' and '-')");
}

static void
test_extension_plugin_path_must_not_be_empty(void **state)
{
    fixture *f = *state;
    assert_int_equal(load_and_validate(f, GW "kind: GatewayExtension\n"
                                             "metadata: {name: e}\nspec:\n"
                                             "  plugin: {path: \"\"}\n"),
                     1);
    assert_diag(&f->diag, "spec.plugin.path: must not be empty");
}

static void
test_extension_plugin_config_must_be_a_mapping(void **state)
{
    fixture *f = *state;
    assert_int_equal(load_and_validate(f, GW "kind: GatewayExtension\n"
                                             "metadata: {name: e}\nspec:\n"
                                             "  plugin:\n"
                                             "    name: geo\n"
                                             "    config: [1]\n"),
                     1);
    assert_diag(&f->diag, "m.yaml:7: ",
                "spec.plugin.config: expected a "
                "mapping, got a list");
}

static void
test_extension_plugin_with_name_and_config_is_valid(void **state)
{
    fixture *f = *state;
    assert_int_equal(load_and_validate(f, GW "kind: GatewayExtension\n"
                                             "metadata: {name: e}\nspec:\n"
                                             "  type: Plugin\n"
                                             "  plugin:\n"
                                             "    name: geo_ip-2\n"
                                             "    config: {db: x}\n"),
                     0);
}

/* ------------------------------------------------------------------ */
/* TrafficPolicy                                                       */

static void
test_valid_policy_with_every_field_passes(void **state)
{
    fixture *f = *state;
    int errors = validate_policy(
        f, "  targetRefs:\n"
           "    - {group: gateway.networking.k8s.io, kind: HTTPRoute, "
           "name: r}\n"
           "  jwtAuth:\n    extensionRef: {name: jwt}\n"
           "  extAuth:\n"
           "    extensionRef: {name: authz, namespace: default}\n"
           "    contextExtensions: {team: a}\n"
           "  rateLimit:\n"
           "    local:\n"
           "      tokenBucket: {maxTokens: 10, tokensPerFill: 2, "
           "fillInterval: 1m30s}\n"
           "    global:\n"
           "      descriptors: [{entries: [{type: RemoteAddress}]}]\n"
           "      extensionRef: {name: rl}\n");
    assert_no_errors(&f->diag);
    assert_int_equal(errors, 0);
}

static void
test_unresolved_extension_ref_names_file_line_and_field(void **state)
{
    fixture *f = *state;
    assert_int_equal(validate_policy(f, "  extAuth:\n"
                                        "    extensionRef:\n"
                                        "      name: missing\n"),
                     1);
    assert_diag(&f->diag, "pol.yaml:8: TrafficPolicy default/pol: "
                          "spec.extAuth.extensionRef.name: GatewayExtension "
                          "default/missing not found");
}

static void
test_extension_ref_namespace_defaults_to_the_policy_namespace(void **state)
{
    fixture *f = *state;
    assert_int_equal(load(f, "ext.yaml", ext_authz), 0);
    assert_int_equal(load(f, "pol.yaml",
                          GW "kind: TrafficPolicy\n"
                             "metadata: {name: p, namespace: team}\n"
                             "spec:\n"
                             "  extAuth:\n"
                             "    extensionRef: {name: authz}\n"),
                     0);
    assert_int_equal(gwf_manifests_validate(f->m, &f->diag), 1);
    assert_diag(&f->diag, "pol.yaml:6: TrafficPolicy team/p: ",
                "GatewayExtension team/authz not found");
}

static void
test_extension_ref_with_explicit_namespace_resolves(void **state)
{
    fixture *f = *state;
    assert_int_equal(load(f, "ext.yaml", ext_authz), 0);
    assert_int_equal(load(f, "pol.yaml",
                          GW "kind: TrafficPolicy\n"
                             "metadata: {name: p, namespace: team}\n"
                             "spec:\n"
                             "  extAuth:\n"
                             "    extensionRef: {name: authz, "
                             "namespace: default}\n"),
                     0);
    assert_int_equal(gwf_manifests_validate(f->m, &f->diag), 0);
}

static void
test_extension_ref_to_the_wrong_type_is_an_error(void **state)
{
    fixture *f = *state;
    assert_int_equal(validate_policy(f, "  extAuth:\n"
                                        "    extensionRef: {name: rl}\n"),
                     1);
    assert_diag(&f->diag, "pol.yaml:7: ",
                "spec.extAuth.extensionRef.name: "
                "GatewayExtension default/rl is a RateLimit extension (it "
                "sets spec.rateLimit), expected ExtAuth (spec.extAuth)");
}

static void
test_jwt_auth_ref_must_be_a_jwt_extension(void **state)
{
    fixture *f = *state;
    assert_int_equal(validate_policy(f, "  jwtAuth:\n"
                                        "    extensionRef: {name: authz}\n"),
                     1);
    assert_diag(&f->diag,
                "spec.jwtAuth.extensionRef.name: GatewayExtension "
                "default/authz is a ExtAuth extension",
                "expected JWT (spec.jwt)");
}

static void
test_global_rate_limit_ref_must_be_a_rate_limit_extension(void **state)
{
    fixture *f = *state;
    assert_int_equal(validate_policy(f, "  rateLimit:\n"
                                        "    global:\n"
                                        "      descriptors: [{}]\n"
                                        "      extensionRef: {name: jwt}\n"),
                     1);
    assert_diag(&f->diag, "pol.yaml:9: ",
                "spec.rateLimit.global.extensionRef.name: GatewayExtension "
                "default/jwt is a JWT extension",
                "expected RateLimit (spec.rateLimit)");
}

static void
test_policy_kgateway_field_gwf_lacks_is_named(void **state)
{
    fixture *f = *state;
    assert_int_equal(validate_policy(f, "  transformation: {}\n"), 1);
    assert_diag(&f->diag, "pol.yaml:6: TrafficPolicy default/pol: "
                          "spec.transformation: gwf does not implement "
                          "TrafficPolicy's transformation: a route this "
                          "policy targets answers 500 rather than run "
                          "without it");
}

/* timeouts, retry, headerModifiers, buffer, compression,
 * autoHostRewrite, urlRewrite: nginx does them (gwf gateway); here their
 * shapes by kgateway's validation markers. */

static void
test_nginx_fields_with_every_key_are_valid(void **state)
{
    fixture *f = *state;
    assert_int_equal(
        validate_policy(
            f, "  timeouts: {request: 1m30s, streamIdle: 0s}\n"
               "  retry: {attempts: 2, retryOn: [5xx, reset], statusCodes: "
               "[503], perTryTimeout: 250ms, backoffBaseInterval: 25ms}\n"
               "  headerModifiers:\n"
               "    request: {set: [{name: X-A, value: a}], add: [{name: "
               "X-K, secretRef: {name: s, key: k}}], remove: [X-R]}\n"
               "    response: {remove: [Server]}\n"
               "  buffer: {maxRequestSize: 512Ki}\n"
               "  compression: {responseCompression: {libraries: [Gzip, "
               "Brotli]}, requestDecompression: {disable: {}}}\n"
               "  autoHostRewrite: true\n"
               "  urlRewrite: {pathRegex: {pattern: '^/a/(.*)$', "
               "substitution: '/\\1'}}\n"),
        0);
    assert_no_errors(&f->diag);
}

static void
test_retry_needs_retry_on_or_status_codes(void **state)
{
    fixture *f = *state;
    assert_int_equal(validate_policy(f, "  retry: {attempts: 2}\n"), 1);
    assert_diag(&f->diag, "TrafficPolicy default/pol: spec.retry: retryOn "
                          "or statusCodes must be set");
}

static void
test_retry_condition_kgateway_lacks_is_named(void **state)
{
    fixture *f = *state;
    assert_int_equal(
        validate_policy(f, "  retry: {retryOn: [5xx, sometimes]}\n"), 1);
    assert_diag(&f->diag, "spec.retry.retryOn[1]: not one of kgateway's "
                          "retry conditions");
}

static void
test_timeout_outside_kgateways_duration_pattern_is_named(void **state)
{
    fixture *f = *state;
    assert_int_equal(validate_policy(f, "  timeouts: {request: 1.5s}\n"), 1);
    assert_diag(&f->diag, "spec.timeouts.request: invalid duration value "
                          "1.5s");
}

static void
test_per_try_timeout_below_one_millisecond_is_refused(void **state)
{
    fixture *f = *state;
    assert_int_equal(
        validate_policy(f, "  retry: {retryOn: [5xx], perTryTimeout: 0ms}\n"),
        1);
    assert_diag(&f->diag, "spec.retry.perTryTimeout: must be at least 1ms");
}

static void
test_buffer_size_of_4gi_is_refused(void **state)
{
    fixture *f = *state;
    assert_int_equal(validate_policy(f, "  buffer: {maxRequestSize: 4Gi}\n"),
                     1);
    assert_diag(&f->diag, "spec.buffer.maxRequestSize: maxRequestSize must "
                          "be greater than 0 and less than 4Gi");
}

static void
test_buffer_with_size_and_disable_is_refused(void **state)
{
    fixture *f = *state;
    assert_int_equal(
        validate_policy(f, "  buffer: {maxRequestSize: 10, disable: {}}\n"), 1);
    assert_diag(&f->diag, "spec.buffer: expected exactly one of "
                          "maxRequestSize, disable");
}

static void
test_compression_library_listed_twice_is_named(void **state)
{
    fixture *f = *state;
    assert_int_equal(validate_policy(f, "  compression: {responseCompression: "
                                        "{libraries: [Gzip, Gzip]}}\n"),
                     1);
    assert_diag(&f->diag, "spec.compression.responseCompression.libraries[1]: "
                          "libraries must not contain duplicates");
}

static void
test_header_with_value_and_secret_ref_is_refused(void **state)
{
    fixture *f = *state;
    assert_int_equal(
        validate_policy(f, "  headerModifiers: {request: {set: [{name: X, "
                           "value: v, secretRef: {name: s}}]}}\n"),
        1);
    assert_diag(&f->diag, "spec.headerModifiers.request.set[0]: expected "
                          "exactly one of value and secretRef");
}

static void
test_header_from_a_secret_needs_no_name(void **state)
{
    fixture *f = *state;
    assert_int_equal(
        validate_policy(f, "  headerModifiers: {request: {set: [{secretRef: "
                           "{name: s, key: X-K}}, {secretRef: {name: s}}]}}\n"),
        0);
    assert_no_errors(&f->diag);
}

static void
test_header_with_an_inline_value_needs_a_name(void **state)
{
    fixture *f = *state;
    assert_int_equal(
        validate_policy(f, "  headerModifiers: {request: {add: [{value: "
                           "v}]}}\n"),
        1);
    assert_diag(&f->diag, "spec.headerModifiers.request.add[0].name");
}

static void
test_secret_key_that_is_no_data_key_is_named(void **state)
{
    fixture *f = *state;
    assert_int_equal(
        validate_policy(f, "  headerModifiers: {response: {set: [{name: X, "
                           "secretRef: {name: s, key: 'a b'}}]}}\n"),
        1);
    assert_diag(&f->diag, "spec.headerModifiers.response.set[0].secretRef.key: "
                          "expected 1 to 253 of [-._a-zA-Z0-9]");
}

static void
test_url_rewrite_without_path_regex_is_named(void **state)
{
    fixture *f = *state;
    assert_int_equal(validate_policy(f, "  urlRewrite: {}\n"), 1);
    assert_diag(&f->diag, "spec.urlRewrite.pathRegex");
}

static void
test_auto_host_rewrite_must_be_a_boolean(void **state)
{
    fixture *f = *state;
    assert_int_equal(validate_policy(f, "  autoHostRewrite: \"yes\"\n"), 1);
    assert_diag(&f->diag, "spec.autoHostRewrite");
}

/* cors, csrf, basicAuth, apiKeyAuth: shapes (their plugins check the
 * values). */

static void
test_cors_with_every_field_and_disable_is_valid(void **state)
{
    fixture *f = *state;
    assert_int_equal(
        validate_policy(f, "  cors:\n"
                           "    allowOrigins: [\"https://*.example.com\"]\n"
                           "    allowMethods: [GET, POST]\n"
                           "    allowHeaders: [x-a]\n"
                           "    exposeHeaders: [x-b]\n"
                           "    allowCredentials: true\n"
                           "    maxAge: 600\n"
                           "    disable: {}\n"),
        0);
    assert_no_errors(&f->diag);
}

static void
test_cors_unknown_field_is_named(void **state)
{
    fixture *f = *state;
    assert_int_equal(validate_policy(f, "  cors: {allowOrigin: [\"*\"]}\n"), 1);
    assert_diag(&f->diag, "pol.yaml:6: TrafficPolicy default/pol: "
                          "spec.cors.allowOrigin: unknown field "
                          "\"allowOrigin\" (expected one of: allowOrigins,");
}

static void
test_cors_allow_origins_must_be_a_list(void **state)
{
    fixture *f = *state;
    assert_int_equal(validate_policy(f, "  cors: {allowOrigins: \"*\"}\n"), 1);
    assert_diag(&f->diag, "spec.cors.allowOrigins: expected a list");
}

static void
test_csrf_percentage_enabled_and_shadowed_together_are_refused(void **state)
{
    fixture *f = *state;
    assert_int_equal(validate_policy(f, "  csrf:\n"
                                        "    percentageEnabled: 100\n"
                                        "    percentageShadowed: 10\n"),
                     1);
    assert_diag(&f->diag, "spec.csrf: expected at most one of "
                          "percentageEnabled and percentageShadowed "
                          "(kgateway's rule), found both");
}

static void
test_csrf_percentage_above_100_is_refused(void **state)
{
    fixture *f = *state;
    assert_int_equal(validate_policy(f, "  csrf: {percentageEnabled: 101}\n"),
                     1);
    assert_diag(&f->diag,
                "spec.csrf.percentageEnabled: must be at most 100, got 101");
}

static void
test_csrf_more_than_16_additional_origins_are_refused(void **state)
{
    fixture *f = *state;
    assert_int_equal(validate_policy(f, "  csrf:\n"
                                        "    additionalOrigins: [{exact: a}, "
                                        "{exact: a}, {exact: a}, {exact: a}, "
                                        "{exact: a}, {exact: a}, {exact: a}, "
                                        "{exact: a}, {exact: a}, {exact: a}, "
                                        "{exact: a}, {exact: a}, {exact: a}, "
                                        "{exact: a}, {exact: a}, {exact: a}, "
                                        "{exact: a}]\n"),
                     1);
    assert_diag(&f->diag, "spec.csrf.additionalOrigins: must list at most 16 "
                          "items, got 17");
}

static void
test_csrf_has_no_disable(void **state)
{
    fixture *f = *state;
    assert_int_equal(validate_policy(f, "  csrf: {disable: {}}\n"), 1);
    assert_diag(&f->diag, "spec.csrf.disable: unknown field \"disable\"");
}

static void
test_basic_auth_users_and_secret_ref_together_are_refused(void **state)
{
    fixture *f = *state;
    assert_int_equal(validate_policy(f, "  basicAuth:\n"
                                        "    users: [\"u:{SHA}x\"]\n"
                                        "    secretRef: {name: htpasswd}\n"),
                     1);
    assert_diag(&f->diag, "spec.basicAuth: expected exactly one of users, "
                          "secretRef, disable (kgateway's rule), found 2");
}

static void
test_basic_auth_without_users_secret_ref_or_disable_is_refused(void **state)
{
    fixture *f = *state;
    assert_int_equal(validate_policy(f, "  basicAuth: {}\n"), 1);
    assert_diag(&f->diag, "spec.basicAuth: expected exactly one of users, "
                          "secretRef, disable (kgateway's rule), found 0");
}

static void
test_basic_auth_secret_ref_unknown_field_is_named(void **state)
{
    fixture *f = *state;
    assert_int_equal(
        validate_policy(f, "  basicAuth: {secretRef: {name: s, file: x}}\n"),
        1);
    assert_diag(&f->diag, "spec.basicAuth.secretRef.file: unknown field "
                          "\"file\" (expected one of: name, namespace, key)");
}

static void
test_basic_auth_empty_users_are_refused(void **state)
{
    fixture *f = *state;
    assert_int_equal(validate_policy(f, "  basicAuth: {users: []}\n"), 1);
    assert_diag(&f->diag, "spec.basicAuth.users: must list at least one user");
}

static void
test_api_key_auth_secret_ref_and_selector_together_are_refused(void **state)
{
    fixture *f = *state;
    assert_int_equal(
        validate_policy(f, "  apiKeyAuth:\n"
                           "    secretRef: {name: keys}\n"
                           "    secretSelector: {matchLabels: {a: b}}\n"),
        1);
    assert_diag(&f->diag, "spec.apiKeyAuth: expected exactly one of "
                          "secretRef, secretSelector, disable (kgateway's "
                          "rule), found 2");
}

static void
test_api_key_auth_key_source_needs_header_query_or_cookie(void **state)
{
    fixture *f = *state;
    assert_int_equal(validate_policy(f, "  apiKeyAuth:\n"
                                        "    secretRef: {name: keys}\n"
                                        "    keySources: [{header: x}, {}]\n"),
                     1);
    assert_diag(&f->diag, "spec.apiKeyAuth.keySources[1]: expected at least "
                          "one of header, query, cookie");
}

static void
test_api_key_auth_empty_selector_is_refused(void **state)
{
    fixture *f = *state;
    assert_int_equal(validate_policy(f,
                                     "  apiKeyAuth:\n"
                                     "    secretSelector: {matchLabels: {}}\n"),
                     1);
    assert_diag(&f->diag, "spec.apiKeyAuth.secretSelector.matchLabels: must "
                          "name at least one label");
}

static void
test_api_key_auth_selector_label_must_be_a_string(void **state)
{
    fixture *f = *state;
    assert_int_equal(
        validate_policy(f, "  apiKeyAuth:\n"
                           "    secretSelector: {matchLabels: {a: [b]}}\n"),
        1);
    assert_diag(&f->diag, "spec.apiKeyAuth.secretSelector.matchLabels.a: "
                          "expected a string");
}

static void
test_api_key_auth_disable_alone_is_valid(void **state)
{
    fixture *f = *state;
    assert_int_equal(validate_policy(f, "  apiKeyAuth: {disable: {}}\n"
                                        "  basicAuth: {disable: true}\n"),
                     0);
    assert_no_errors(&f->diag);
}

static void
test_policy_unknown_field_is_named(void **state)
{
    fixture *f = *state;
    assert_int_equal(validate_policy(f, "  corz: {}\n"), 1);
    assert_diag(&f->diag,
                "pol.yaml:6: TrafficPolicy default/pol: "
                "spec.corz: unknown field \"corz\" (expected one "
                "of: targetRefs, targetSelectors, extAuth, jwtAuth, ");
}

static void
test_policy_unknown_nested_field_is_named(void **state)
{
    fixture *f = *state;
    assert_int_equal(validate_policy(f, "  extAuth:\n"
                                        "    extensionRef: {name: authz}\n"
                                        "    withRequestBody:\n"
                                        "      maxRequestBytes: 10\n"
                                        "      packAsByte: true\n"),
                     1);
    assert_diag(&f->diag, "pol.yaml:10: ",
                "spec.extAuth.withRequestBody.packAsByte: unknown field");
}

static void
test_policy_with_request_body_is_checked(void **state)
{
    fixture *f = *state;
    assert_int_equal(validate_policy(f, "  extAuth:\n"
                                        "    extensionRef: {name: authz}\n"
                                        "    withRequestBody:\n"
                                        "      maxRequestBytes: 0\n"),
                     1);
    assert_diag(&f->diag, "spec.extAuth.withRequestBody.maxRequestBytes: "
                          "must be at least 1, got 0");
}

static void
test_jwt_auth_disabled_needs_no_extension_ref(void **state)
{
    fixture *f = *state;
    assert_int_equal(validate_policy(f, "  jwtAuth: {disable: {}}\n"), 0);
}

static void
test_disable_with_an_extension_ref_is_refused(void **state)
{
    fixture *f = *state;
    assert_int_equal(validate_policy(f, "  jwtAuth: {disable: {}, "
                                        "extensionRef: {name: jwt}}\n"),
                     1);
    assert_diag(&f->diag, "spec.jwtAuth: expected exactly one of "
                          "extensionRef and disable (kgateway's rule), found "
                          "both");
}

static void
test_local_rate_limit_without_bucket_is_accepted(void **state)
{
    fixture *f = *state;
    assert_int_equal(validate_policy(f, "  rateLimit: {local: {}}\n"), 0);
}

static void
test_local_fill_interval_under_50ms_is_refused(void **state)
{
    fixture *f = *state;
    assert_int_equal(
        validate_policy(f, "  rateLimit:\n"
                           "    local:\n"
                           "      tokenBucket: {maxTokens: 1, fillInterval: "
                           "49ms}\n"),
        1);
    assert_diag(&f->diag, "spec.rateLimit.local.tokenBucket.fillInterval: "
                          "must be at least 50ms, got 49ms");
}

static void
test_local_percent_enabled_above_100_is_refused(void **state)
{
    fixture *f = *state;
    assert_int_equal(validate_policy(f, "  rateLimit:\n"
                                        "    local:\n"
                                        "      percentEnabled: 101\n"),
                     1);
    assert_diag(&f->diag, "spec.rateLimit.local.percentEnabled: must be at "
                          "most 100, got 101");
}

static void
test_policy_target_refs_must_be_a_list(void **state)
{
    fixture *f = *state;
    assert_int_equal(validate_policy(f, "  targetRefs: {name: r}\n"), 1);
    assert_diag(&f->diag, "spec.targetRefs: expected a list, got a mapping");
}

static void
test_ext_auth_requires_an_extension_ref(void **state)
{
    fixture *f = *state;
    assert_int_equal(validate_policy(f, "  extAuth:\n"
                                        "    contextExtensions: {a: b}\n"),
                     1);
    assert_diag(&f->diag, "pol.yaml:6: ",
                "spec.extAuth.extensionRef: "
                "missing required field");
}

static void
test_ext_auth_disabled_needs_no_extension_ref(void **state)
{
    fixture *f = *state;
    assert_int_equal(validate_policy(f, "  extAuth:\n    disable: {}\n"), 0);
}

static void
test_extension_ref_needs_a_name(void **state)
{
    fixture *f = *state;
    assert_int_equal(validate_policy(f, "  jwtAuth:\n"
                                        "    extensionRef: {namespace: x}\n"),
                     1);
    assert_diag(&f->diag, "pol.yaml:7: ",
                "spec.jwtAuth.extensionRef.name: "
                "missing required field");
}

static void
test_context_extensions_values_must_be_strings(void **state)
{
    fixture *f = *state;
    assert_int_equal(validate_policy(f, "  extAuth:\n"
                                        "    extensionRef: {name: authz}\n"
                                        "    contextExtensions:\n"
                                        "      ok: yes\n"
                                        "      n: 3\n"),
                     1);
    assert_diag(&f->diag, "pol.yaml:10: ",
                "spec.extAuth.contextExtensions.n:"
                " expected a string, got "
                "integer 3");
}

static void
test_local_rate_limit_max_tokens_must_be_an_integer(void **state)
{
    fixture *f = *state;
    assert_int_equal(validate_policy(f, "  rateLimit:\n"
                                        "    local:\n"
                                        "      tokenBucket:\n"
                                        "        maxTokens: abc\n"
                                        "        fillInterval: 1s\n"),
                     1);
    assert_diag(&f->diag, "pol.yaml:9: TrafficPolicy default/pol: "
                          "spec.rateLimit.local.tokenBucket.maxTokens: "
                          "expected an integer, got string \"abc\"");
}

static void
test_local_rate_limit_max_tokens_must_be_at_least_one(void **state)
{
    fixture *f = *state;
    assert_int_equal(validate_policy(f, "  rateLimit:\n    local:\n"
                                        "      tokenBucket: {maxTokens: 0, "
                                        "fillInterval: 1s}\n"),
                     1);
    assert_diag(&f->diag, "tokenBucket.maxTokens: must be at least 1, got 0");
}

static void
test_local_rate_limit_tokens_per_fill_must_be_at_least_one(void **state)
{
    fixture *f = *state;
    assert_int_equal(validate_policy(f, "  rateLimit:\n    local:\n"
                                        "      tokenBucket: {maxTokens: 5, "
                                        "tokensPerFill: -1, "
                                        "fillInterval: 1s}\n"),
                     1);
    assert_diag(&f->diag, "tokenBucket.tokensPerFill: must be at least 1, "
                          "got -1");
}

static void
test_fill_interval_accepts_durations(void **state)
{
    fixture *f = *state;
    const char *good[] = {"1s", "500ms", "1m", "2h", "1m30s", "1h0m1ms"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        char body[256];
        gwf_manifests_free(f->m);
        f->m = gwf_manifests_new();
        snprintf(body, sizeof(body),
                 "  rateLimit:\n    local:\n      tokenBucket: "
                 "{maxTokens: 5, fillInterval: \"%s\"}\n",
                 good[i]);
        assert_int_equal(validate_policy(f, body), 0);
    }
}

static void
test_fill_interval_rejects_bad_durations(void **state)
{
    fixture *f = *state;
    const char *bad[] = {"0s", "1x", "", "s", "1.5s", "-1s", "10"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char body[256];
        gwf_manifests_free(f->m);
        f->m = gwf_manifests_new();
        gwf_diag_free(&f->diag);
        snprintf(body, sizeof(body),
                 "  rateLimit:\n    local:\n      tokenBucket: "
                 "{maxTokens: 5, fillInterval: \"%s\"}\n",
                 bad[i]);
        assert_int_equal(validate_policy(f, body), 1);
        assert_diag(&f->diag, "pol.yaml:8: ",
                    "spec.rateLimit.local.tokenBucket.fillInterval: invalid "
                    "duration",
                    "(expected a positive duration such as \"1s\"");
    }
}

static void
test_fill_interval_is_required(void **state)
{
    fixture *f = *state;
    assert_int_equal(validate_policy(f, "  rateLimit:\n    local:\n"
                                        "      tokenBucket: {maxTokens: 5}\n"),
                     1);
    assert_diag(&f->diag, "pol.yaml:8: ",
                "spec.rateLimit.local.tokenBucket.fillInterval: missing "
                "required field");
}

static void
test_rate_limit_needs_local_or_global(void **state)
{
    fixture *f = *state;
    assert_int_equal(validate_policy(f, "  rateLimit: {}\n"), 1);
    assert_diag(&f->diag, "spec.rateLimit: expected at least one of local, "
                          "global");
}

static void
test_global_rate_limit_needs_descriptors_and_extension_ref(void **state)
{
    fixture *f = *state;
    assert_int_equal(validate_policy(f, "  rateLimit:\n    global: {}\n"), 2);
    assert_diag(&f->diag, "pol.yaml:7: ",
                "spec.rateLimit.global.descriptors:"
                " missing required field");
    assert_diag(&f->diag, "spec.rateLimit.global.extensionRef: missing "
                          "required field");
}

static void
test_global_rate_limit_descriptors_must_not_be_empty(void **state)
{
    fixture *f = *state;
    assert_int_equal(validate_policy(f, "  rateLimit:\n    global:\n"
                                        "      descriptors: []\n"
                                        "      extensionRef: {name: rl}\n"),
                     1);
    assert_diag(&f->diag, "pol.yaml:8: ",
                "spec.rateLimit.global.descriptors:"
                " must list at least one "
                "descriptor");
}

/* ------------------------------------------------------------------ */
/* Backend and Secret                                                  */

static void
test_backend_needs_static_or_aws(void **state)
{
    fixture *f = *state;
    assert_int_equal(load_and_validate(f, GW "kind: Backend\n"
                                             "metadata: {name: b}\n"
                                             "spec: {type: Static}\n"),
                     1);
    assert_diag(&f->diag, "m.yaml:4: Backend default/b: spec: expected "
                          "exactly one of static, aws");
}

static void
test_backend_with_both_static_and_aws_is_an_error(void **state)
{
    fixture *f = *state;
    assert_int_equal(
        load_and_validate(f, GW "kind: Backend\nmetadata: {name: b}\nspec:\n"
                                "  static: {hosts: [{host: a, port: 80}]}\n"
                                "  aws: {}\n"),
        1);
    assert_diag(&f->diag, "m.yaml:6: Backend default/b: spec.aws: only one "
                          "of static, aws may be set");
}

static void
test_backend_static_hosts_must_not_be_empty(void **state)
{
    fixture *f = *state;
    assert_int_equal(load_and_validate(f, GW "kind: Backend\n"
                                             "metadata: {name: b}\nspec:\n"
                                             "  static:\n    hosts: []\n"),
                     1);
    assert_diag(&f->diag, "m.yaml:6: ",
                "spec.static.hosts: must list at "
                "least one host");
}

static void
test_backend_port_must_be_within_1_to_65535(void **state)
{
    fixture *f = *state;
    assert_int_equal(load_and_validate(f, GW "kind: Backend\n"
                                             "metadata: {name: b}\nspec:\n"
                                             "  static:\n    hosts:\n"
                                             "      - host: a\n"
                                             "        port: 80\n"
                                             "      - host: b\n"
                                             "        port: 70000\n"
                                             "      - {host: c, port: 0}\n"),
                     2);
    assert_diag(&f->diag, "m.yaml:10: Backend default/b: "
                          "spec.static.hosts[1].port: must be at most 65535, "
                          "got 70000");
    assert_diag(&f->diag, "m.yaml:11: ",
                "spec.static.hosts[2].port: must be "
                "at least 1, got 0");
}

static void
test_backend_host_must_be_a_string(void **state)
{
    fixture *f = *state;
    assert_int_equal(load_and_validate(f, GW "kind: Backend\n"
                                             "metadata: {name: b}\nspec:\n"
                                             "  static:\n    hosts:\n"
                                             "      - port: 80\n"
                                             "        host: [x]\n"),
                     1);
    assert_diag(&f->diag, "m.yaml:8: ",
                "spec.static.hosts[0].host: expected "
                "a string, got a list");
}

static void
test_backend_type_must_agree(void **state)
{
    fixture *f = *state;
    assert_int_equal(load_and_validate(f, GW "kind: Backend\n"
                                             "metadata: {name: b}\nspec:\n"
                                             "  type: Static\n"
                                             "  aws: {lambda: {}}\n"),
                     1);
    assert_diag(&f->diag, "m.yaml:5: ",
                "spec.type: type \"Static\" does not "
                "match spec.aws (expected AWS)");
}

static void
test_backend_static_with_tls_is_valid(void **state)
{
    fixture *f = *state;
    assert_int_equal(load_and_validate(f, GW "kind: Backend\n"
                                             "metadata: {name: b}\nspec:\n"
                                             "  static: {hosts: [{host: a, "
                                             "port: 443}]}\n"
                                             "  tls:\n"
                                             "    caFile: certs/ca.pem\n"
                                             "    serverName: authz.test\n"),
                     0);
    assert_no_errors(&f->diag);
}

static void
test_backend_tls_ca_file_must_be_a_string(void **state)
{
    fixture *f = *state;
    assert_int_equal(load_and_validate(f, GW "kind: Backend\n"
                                             "metadata: {name: b}\nspec:\n"
                                             "  static: {hosts: [{host: a, "
                                             "port: 443}]}\n"
                                             "  tls:\n"
                                             "    caFile: [ca.pem]\n"),
                     1);
    assert_diag(&f->diag, "m.yaml:7: Backend default/b: spec.tls.caFile: "
                          "expected a string, got a list");
}

static void
test_backend_tls_ca_file_is_required_and_not_empty(void **state)
{
    fixture *f = *state;
    assert_int_equal(load_and_validate(f, GW "kind: Backend\n"
                                             "metadata: {name: b}\nspec:\n"
                                             "  static: {hosts: [{host: a, "
                                             "port: 443}]}\n"
                                             "  tls: {serverName: x}\n"
                                             "---\n" GW "kind: Backend\n"
                                             "metadata: {name: c}\nspec:\n"
                                             "  static: {hosts: [{host: a, "
                                             "port: 443}]}\n"
                                             "  tls: {caFile: \"\"}\n"),
                     2);
    assert_diag(&f->diag, "m.yaml:6: Backend default/b: spec.tls.caFile: "
                          "missing required field");
    assert_diag(&f->diag, "m.yaml:13: Backend default/c: spec.tls.caFile: "
                          "must not be empty");
}

static void
test_backend_tls_unknown_field_is_named(void **state)
{
    fixture *f = *state;
    assert_int_equal(load_and_validate(f, GW "kind: Backend\n"
                                             "metadata: {name: b}\nspec:\n"
                                             "  static: {hosts: [{host: a, "
                                             "port: 443}]}\n"
                                             "  tls:\n"
                                             "    caFile: ca.pem\n"
                                             "    insecureSkipVerify: true\n"),
                     1);
    assert_diag(&f->diag, "m.yaml:8: Backend default/b: "
                          "spec.tls.insecureSkipVerify: unknown field "
                          "\"insecureSkipVerify\" (expected one of: caFile, "
                          "serverName)");
}

static void
test_backend_tls_needs_a_static_backend(void **state)
{
    fixture *f = *state;
    assert_int_equal(load_and_validate(f, GW "kind: Backend\n"
                                             "metadata: {name: b}\nspec:\n"
                                             "  aws: {lambda: {}}\n"
                                             "  tls: {caFile: ca.pem}\n"),
                     1);
    assert_diag(&f->diag, "m.yaml:6: Backend default/b: spec.tls: only a "
                          "static Backend may set tls");
}

static void
test_backend_tls_must_be_a_mapping(void **state)
{
    fixture *f = *state;
    assert_int_equal(load_and_validate(f, GW "kind: Backend\n"
                                             "metadata: {name: b}\nspec:\n"
                                             "  static: {hosts: [{host: a, "
                                             "port: 443}]}\n"
                                             "  tls: ca.pem\n"),
                     1);
    assert_diag(&f->diag, "m.yaml:6: Backend default/b: spec.tls: expected "
                          "a mapping, got");
}

static void
test_secret_data_must_be_base64(void **state)
{
    fixture *f = *state;
    char *text = secret_with("data:\n  good: Zm9vYg==\n  bad: \"not b64!\"\n");
    int errors = load_and_validate(f, text);
    free(text);
    assert_int_equal(errors, 1);
    assert_diag(&f->diag, "m.yaml:7: Secret default/creds: data.bad: "
                          "invalid base64");
}

static void
test_secret_needs_data_or_string_data(void **state)
{
    fixture *f = *state;
    char *text = secret_with("type: Opaque\n");
    int errors = load_and_validate(f, text);
    free(text);
    assert_int_equal(errors, 1);
    assert_diag(&f->diag, "m.yaml:1: Secret default/creds: expected at "
                          "least one of data, stringData");
}

static void
test_secret_string_data_values_must_be_strings(void **state)
{
    fixture *f = *state;
    char *text = secret_with("stringData:\n  a: ok\n  b: {x: 1}\n");
    int errors = load_and_validate(f, text);
    free(text);
    assert_int_equal(errors, 1);
    assert_diag(&f->diag, "m.yaml:7: ",
                "stringData.b: expected a string, "
                "got a mapping");
}

/* ------------------------------------------------------------------ */
/* Lookup                                                              */

static void
test_find_resolves_name_and_namespace_slash_name(void **state)
{
    fixture *f = *state;
    assert_int_equal(load(f, "m.yaml",
                          GW "kind: DirectResponse\nmetadata: {name: a}\n"
                             "spec: {}\n---\n" GW "kind: DirectResponse\n"
                             "metadata: {name: a, namespace: ns}\n"
                             "spec: {}\n"),
                     0);
    /* Before validation (linear scan) and after (index). */
    for (int pass = 0; pass < 2; pass++) {
        const gwf_doc *d1 = gwf_manifests_find(f->m, "DirectResponse", "a");
        const gwf_doc *d2 =
            gwf_manifests_find(f->m, "DirectResponse", "default/a");
        const gwf_doc *d3 = gwf_manifests_find(f->m, "DirectResponse", "ns/a");
        assert_non_null(d1);
        assert_ptr_equal(d1, d2);
        assert_non_null(d3);
        assert_string_equal(d3->namespace_, "ns");
        assert_null(gwf_manifests_find(f->m, "Backend", "a"));
        assert_null(gwf_manifests_find(f->m, "DirectResponse", "other/a"));
        assert_int_equal(gwf_manifests_validate(f->m, &f->diag), 0);
    }
}

static void
test_find_rejects_malformed_refs(void **state)
{
    fixture *f = *state;
    assert_int_equal(load(f, "m.yaml",
                          GW "kind: DirectResponse\nmetadata: {name: a}\n"
                             "spec: {}\n"),
                     0);
    const char *bad[] = {"", "/a", "default/", "a/b/c", "default/a/"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_null(gwf_manifests_find(f->m, "DirectResponse", bad[i]));
    assert_null(gwf_manifests_find(f->m, "DirectResponse", NULL));
}

/* ------------------------------------------------------------------ */
/* Files, directories and globs                                        */

static const char file_a[] = GW "kind: DirectResponse\nmetadata: {name: a}\n"
                                "spec: {}\n";
static const char file_b[] = "{\"apiVersion\": \"v1\", \"kind\": \"Secret\","
                             " \"metadata\": {\"name\": \"b\"},"
                             " \"stringData\": {}}";
static const char file_c[] = GW "kind: DirectResponse\nmetadata: {name: c}\n"
                                "spec: {}\n";

static void
test_directory_loads_manifest_files_sorted_and_skips_others(void **state)
{
    fixture *f = *state;
    char *dir = make_temp_dir();
    char sub[512];
    write_file(dir, "c.yml", file_c);
    write_file(dir, "a.yaml", file_a);
    write_file(dir, "b.json", file_b);
    write_file(dir, "README.md", "# not a manifest: {[\n");
    write_file(dir, ".hidden.yaml", "broken: [\n");
    /* A directory without a manifest name is not looked at; one named
     * like a manifest is refused (test_files.c). */
    snprintf(sub, sizeof(sub), "%s/sub", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    assert_int_equal(gwf_manifests_load_path(f->m, dir, &f->diag), 0);
    assert_int_equal(gwf_manifests_count(f->m), 3);
    assert_string_equal(gwf_manifests_at(f->m, 0)->name, "a");
    assert_string_equal(gwf_manifests_at(f->m, 1)->name, "b");
    assert_string_equal(gwf_manifests_at(f->m, 2)->name, "c");
    char want[512];
    snprintf(want, sizeof(want), "%s/a.yaml", dir);
    assert_string_equal(gwf_manifests_at(f->m, 0)->file, want);
    const char *names[] = {"a.yaml",       "b.json", "c.yml", "README.md",
                           ".hidden.yaml", "sub",    NULL};
    remove_tree(dir, names);
    free(dir);
}

static void
test_empty_directory_is_an_error(void **state)
{
    fixture *f = *state;
    char *dir = make_temp_dir();
    write_file(dir, "notes.txt", "x");
    assert_int_equal(gwf_manifests_load_path(f->m, dir, &f->diag), 1);
    assert_diag(&f->diag, dir,
                ": no *.yaml, *.yml or *.json files in "
                "directory");
    const char *names[] = {"notes.txt", NULL};
    remove_tree(dir, names);
    free(dir);
}

static void
test_glob_loads_matching_files_sorted(void **state)
{
    fixture *f = *state;
    char *dir = make_temp_dir();
    char pattern[512];
    write_file(dir, "z-c.yaml", file_c);
    write_file(dir, "z-a.yaml", file_a);
    write_file(dir, "other.yaml", "broken: [\n");
    snprintf(pattern, sizeof(pattern), "%s/z-*.yaml", dir);
    assert_int_equal(gwf_manifests_load_path(f->m, pattern, &f->diag), 0);
    assert_int_equal(gwf_manifests_count(f->m), 2);
    assert_string_equal(gwf_manifests_at(f->m, 0)->name, "a");
    assert_string_equal(gwf_manifests_at(f->m, 1)->name, "c");
    const char *names[] = {"z-c.yaml", "z-a.yaml", "other.yaml", NULL};
    remove_tree(dir, names);
    free(dir);
}

static void
test_glob_without_match_is_an_error(void **state)
{
    fixture *f = *state;
    char *dir = make_temp_dir();
    char pattern[512];
    snprintf(pattern, sizeof(pattern), "%s/*.yaml", dir);
    assert_int_equal(gwf_manifests_load_path(f->m, pattern, &f->diag), 1);
    assert_diag(&f->diag, pattern,
                ": no such file, directory or matching "
                "files");
    const char *names[] = {NULL};
    remove_tree(dir, names);
    free(dir);
}

static void
test_missing_file_is_an_error(void **state)
{
    fixture *f = *state;
    assert_int_equal(
        gwf_manifests_load_path(f->m, "/nonexistent/gwf.yaml", &f->diag), 1);
    assert_diag(&f->diag, "/nonexistent/gwf.yaml: cannot open: No such file "
                          "or directory");
}

static void
test_file_errors_carry_the_path_as_given(void **state)
{
    fixture *f = *state;
    char *dir = make_temp_dir();
    char path[512];
    write_file(dir, "bad.yaml",
               "a: 1\n---\n" GW "kind: DirectResponse\n"
               "metadata: {name: x}\n");
    snprintf(path, sizeof(path), "%s/bad.yaml", dir);
    assert_int_equal(gwf_manifests_load_path(f->m, path, &f->diag), 0);
    assert_int_equal(gwf_manifests_validate(f->m, &f->diag), 4);
    char want[600];
    snprintf(want, sizeof(want),
             "%s:3: DirectResponse default/x: spec: missing required field",
             path);
    assert_diag(&f->diag, want);
    const char *names[] = {"bad.yaml", NULL};
    remove_tree(dir, names);
    free(dir);
}

static void
test_file_larger_than_16_mib_is_refused(void **state)
{
    fixture *f = *state;
    char *dir = make_temp_dir();
    char path[512];
    snprintf(path, sizeof(path), "%s/big.yaml", dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, 16L * 1024 * 1024, SEEK_SET), 0);
    fputs("# one byte too many\n", fp);
    fclose(fp);
    assert_int_equal(gwf_manifests_load_path(f->m, path, &f->diag), 1);
    assert_diag(&f->diag, "big.yaml: file is larger than the limit of "
                          "16777216 bytes (16 MiB)");
    const char *names[] = {"big.yaml", NULL};
    remove_tree(dir, names);
    free(dir);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_yaml_multi_document_file_loads_each_document),
        T(test_json_single_document_loads),
        T(test_json_array_of_documents_loads_each),
        T(test_json_list_kind_loads_its_items),
        T(test_yaml_list_kind_loads_its_items),
        T(test_empty_documents_are_skipped),
        T(test_non_mapping_document_is_an_error),
        T(test_list_items_that_are_not_a_list_is_an_error),
        T(test_too_many_non_mapping_documents_are_capped),
        T(test_syntax_error_adds_no_documents),
        T(test_missing_api_version_is_reported),
        T(test_document_without_kind_is_labelled_by_position),
        T(test_document_without_name_is_labelled_by_kind_and_position),
        T(test_missing_metadata_is_reported),
        T(test_kind_of_wrong_type_is_reported),
        T(test_unread_kind_is_skipped_with_a_note),
        T(test_deprecated_type_is_accepted_with_a_note),
        T(test_gateway_api_kinds_are_read),
        T(test_gateway_api_kind_with_wrong_api_version_is_an_error),
        T(test_unknown_api_version_is_an_error),
        T(test_secret_needs_api_version_v1),
        T(test_invalid_name_is_not_a_dns_subdomain),
        T(test_dotted_name_of_253_characters_is_valid_and_254_is_not),
        T(test_invalid_namespace_is_not_a_dns_label),
        T(test_duplicate_document_names_both_locations),
        T(test_same_name_in_other_namespace_or_kind_is_not_a_duplicate),
        T(test_spec_is_required),
        T(test_direct_response_spec_must_be_a_mapping),
        T(test_too_many_errors_in_one_document_are_capped),
        T(test_validate_twice_reports_the_same_errors),
        T(test_doc_errorf_without_field_uses_the_document_line),
        T(test_extension_without_a_type_block_is_an_error),
        T(test_extension_with_two_type_blocks_is_an_error),
        T(test_extension_type_must_agree_with_the_block),
        T(test_extension_unknown_type_value_is_an_error),
        T(test_extension_block_must_be_a_mapping),
        T(test_extension_unknown_spec_field_is_named),
        T(test_extension_plugin_needs_name_or_path),
        T(test_extension_plugin_name_and_path_together_is_an_error),
        T(test_extension_plugin_name_must_match_pattern),
        T(test_extension_plugin_path_must_not_be_empty),
        T(test_extension_plugin_config_must_be_a_mapping),
        T(test_extension_plugin_with_name_and_config_is_valid),
        T(test_valid_policy_with_every_field_passes),
        T(test_unresolved_extension_ref_names_file_line_and_field),
        T(test_extension_ref_namespace_defaults_to_the_policy_namespace),
        T(test_extension_ref_with_explicit_namespace_resolves),
        T(test_extension_ref_to_the_wrong_type_is_an_error),
        T(test_jwt_auth_ref_must_be_a_jwt_extension),
        T(test_global_rate_limit_ref_must_be_a_rate_limit_extension),
        T(test_policy_kgateway_field_gwf_lacks_is_named),
        T(test_nginx_fields_with_every_key_are_valid),
        T(test_retry_needs_retry_on_or_status_codes),
        T(test_retry_condition_kgateway_lacks_is_named),
        T(test_timeout_outside_kgateways_duration_pattern_is_named),
        T(test_per_try_timeout_below_one_millisecond_is_refused),
        T(test_buffer_size_of_4gi_is_refused),
        T(test_buffer_with_size_and_disable_is_refused),
        T(test_compression_library_listed_twice_is_named),
        T(test_header_with_value_and_secret_ref_is_refused),
        T(test_header_from_a_secret_needs_no_name),
        T(test_header_with_an_inline_value_needs_a_name),
        T(test_secret_key_that_is_no_data_key_is_named),
        T(test_url_rewrite_without_path_regex_is_named),
        T(test_auto_host_rewrite_must_be_a_boolean),
        T(test_policy_unknown_field_is_named),
        T(test_cors_with_every_field_and_disable_is_valid),
        T(test_cors_unknown_field_is_named),
        T(test_cors_allow_origins_must_be_a_list),
        T(test_csrf_percentage_enabled_and_shadowed_together_are_refused),
        T(test_csrf_percentage_above_100_is_refused),
        T(test_csrf_more_than_16_additional_origins_are_refused),
        T(test_csrf_has_no_disable),
        T(test_basic_auth_users_and_secret_ref_together_are_refused),
        T(test_basic_auth_without_users_secret_ref_or_disable_is_refused),
        T(test_basic_auth_secret_ref_unknown_field_is_named),
        T(test_basic_auth_empty_users_are_refused),
        T(test_api_key_auth_secret_ref_and_selector_together_are_refused),
        T(test_api_key_auth_key_source_needs_header_query_or_cookie),
        T(test_api_key_auth_empty_selector_is_refused),
        T(test_api_key_auth_selector_label_must_be_a_string),
        T(test_api_key_auth_disable_alone_is_valid),
        T(test_policy_with_request_body_is_checked),
        T(test_jwt_auth_disabled_needs_no_extension_ref),
        T(test_disable_with_an_extension_ref_is_refused),
        T(test_local_rate_limit_without_bucket_is_accepted),
        T(test_local_fill_interval_under_50ms_is_refused),
        T(test_local_percent_enabled_above_100_is_refused),
        T(test_policy_unknown_nested_field_is_named),
        T(test_policy_target_refs_must_be_a_list),
        T(test_ext_auth_requires_an_extension_ref),
        T(test_ext_auth_disabled_needs_no_extension_ref),
        T(test_extension_ref_needs_a_name),
        T(test_context_extensions_values_must_be_strings),
        T(test_local_rate_limit_max_tokens_must_be_an_integer),
        T(test_local_rate_limit_max_tokens_must_be_at_least_one),
        T(test_local_rate_limit_tokens_per_fill_must_be_at_least_one),
        T(test_fill_interval_accepts_durations),
        T(test_fill_interval_rejects_bad_durations),
        T(test_fill_interval_is_required),
        T(test_rate_limit_needs_local_or_global),
        T(test_global_rate_limit_needs_descriptors_and_extension_ref),
        T(test_global_rate_limit_descriptors_must_not_be_empty),
        T(test_backend_needs_static_or_aws),
        T(test_backend_with_both_static_and_aws_is_an_error),
        T(test_backend_static_hosts_must_not_be_empty),
        T(test_backend_port_must_be_within_1_to_65535),
        T(test_backend_host_must_be_a_string),
        T(test_backend_type_must_agree),
        T(test_backend_static_with_tls_is_valid),
        T(test_backend_tls_ca_file_must_be_a_string),
        T(test_backend_tls_ca_file_is_required_and_not_empty),
        T(test_backend_tls_unknown_field_is_named),
        T(test_backend_tls_needs_a_static_backend),
        T(test_backend_tls_must_be_a_mapping),
        T(test_secret_data_must_be_base64),
        T(test_secret_needs_data_or_string_data),
        T(test_secret_string_data_values_must_be_strings),
        T(test_find_resolves_name_and_namespace_slash_name),
        T(test_find_rejects_malformed_refs),
        T(test_directory_loads_manifest_files_sorted_and_skips_others),
        T(test_empty_directory_is_an_error),
        T(test_glob_loads_matching_files_sorted),
        T(test_glob_without_match_is_an_error),
        T(test_missing_file_is_an_error),
        T(test_file_errors_carry_the_path_as_given),
        T(test_file_larger_than_16_mib_is_refused),
    };
    return cmocka_run_group_tests_name("manifest", tests, NULL, NULL);
}
