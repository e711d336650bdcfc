/*
 * test_loader.c - plugins and configs the loader must refuse, and what
 * it must say when it does.
 *
 * DESIGN.md: a plugin that does not load, an ABI mismatch or a config the
 * plugin rejects is an error at load time that names the file, the
 * document and the field. Each test writes one GatewayExtension to a
 * manifest file (so the error can carry file:line), points
 * spec.plugin.path at one of the broken shared objects of
 * tests/support/bad (GWF_TEST_BAD_PLUGINS) and runs gwf_test_validate.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <gwf/abi.h>
#include <gwf/testing.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct loader {
    gwf_test_host *h;
    char dir[256];      /* a temporary directory for manifests */
    char manifest[512]; /* the manifest written last */
    char plugin[512];   /* the .so it points at */
} loader;

static int
loader_setup(void **state)
{
    loader *l = calloc(1, sizeof(*l));
    if (!l)
        return -1;
    const char *tmp = getenv("TMPDIR");
    snprintf(l->dir, sizeof(l->dir), "%s/gwf-loader-XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    l->h = gwf_test_host_new();
    if (!l->h || !mkdtemp(l->dir)) {
        gwf_test_host_free(l->h);
        free(l);
        return -1;
    }
    *state = l;
    return 0;
}

static int
loader_teardown(void **state)
{
    loader *l = *state;
    if (l->manifest[0])
        unlink(l->manifest);
    rmdir(l->dir);
    gwf_test_host_free(l->h);
    free(l);
    return 0;
}

/* The absolute path of tests/support/bad/<name>.so. */
static const char *
bad_plugin(loader *l, const char *name)
{
    const char *dir = getenv("GWF_TEST_BAD_PLUGINS");
    if (!dir)
        fail_msg("%s", "GWF_TEST_BAD_PLUGINS is not set");
    snprintf(l->plugin, sizeof(l->plugin), "%s/%s.so", dir, name);
    return l->plugin;
}

/* Writes a GatewayExtension named `name` to <dir>/<name>.yaml. `plugin`
 * is the whole line under "plugin:" that says which plugin ("path: ..."
 * or "name: ..."); `config` the lines of spec.plugin.config, indented by
 * six spaces, or NULL. Line numbers matter to the tests:
 *   1 apiVersion, 2 kind, 3 metadata, 4 name, 5 namespace, 6 spec,
 *   7 plugin, 8 the plugin line, 9 config, 10.. the config lines. */
static void
write_extension(loader *l, const char *name, const char *plugin,
                const char *config)
{
    snprintf(l->manifest, sizeof(l->manifest), "%s/%s.yaml", l->dir, name);
    FILE *f = fopen(l->manifest, "w");
    assert_non_null(f);
    fprintf(f,
            "apiVersion: gateway.kgateway.dev/v1alpha1\n"
            "kind: GatewayExtension\n"
            "metadata:\n"
            "  name: %s\n"
            "  namespace: default\n"
            "spec:\n"
            "  plugin:\n"
            "    %s\n",
            name, plugin);
    if (config)
        fprintf(f, "    config:\n%s", config);
    assert_int_equal(fclose(f), 0);
}

/* Loads the manifest and validates it, expecting failure; returns the
 * host's error text. */
static const char *
validate_fails(loader *l)
{
    if (gwf_test_load_path(l->h, l->manifest) != 0)
        return gwf_test_error(l->h);
    if (gwf_test_validate(l->h) == 0)
        fail_msg("%s validated, but should have been refused", l->manifest);
    const char *error = gwf_test_error(l->h);
    assert_non_null(error);
    return error;
}

static void
assert_mentions(const char *error, const char *needle)
{
    if (!strstr(error, needle))
        fail_msg("error does not mention \"%s\":\n%s", needle, error);
}

/* 1 when `number` appears in `text` as a whole run of digits once the
 * two file names (which may hold digits of their own) are blanked out. */
static int
mentions_number(const char *text, const char *skip1, const char *skip2,
                const char *number)
{
    char *copy = strdup(text);
    assert_non_null(copy);
    const char *skips[] = {skip1, skip2};
    for (size_t i = 0; i < 2; i++) {
        size_t skip_len = strlen(skips[i]);
        for (char *hit = copy; skip_len && (hit = strstr(hit, skips[i]));)
            memset(hit, ' ', skip_len);
    }
    size_t len = strlen(number);
    int found = 0;
    for (const char *p = copy; *p && !found;) {
        if (!isdigit((unsigned char)*p)) {
            p++;
            continue;
        }
        const char *run = p;
        while (isdigit((unsigned char)*p))
            p++;
        found = (size_t)(p - run) == len && strncmp(run, number, len) == 0;
    }
    free(copy);
    return found;
}

static void
test_missing_plugin_file_is_named(void **state)
{
    loader *l = *state;
    char missing[600];
    snprintf(missing, sizeof(missing), "%s/no-such-plugin.so", l->dir);
    char line[700];
    snprintf(line, sizeof(line), "path: %s", missing);
    write_extension(l, "missing", line, "      {}\n");

    const char *error = validate_fails(l);

    assert_mentions(error, missing);
}

static void
test_unknown_plugin_name_is_named(void **state)
{
    loader *l = *state;
    write_extension(l, "unknown", "name: no_such_plugin_anywhere",
                    "      {}\n");

    const char *error = validate_fails(l);

    assert_mentions(error, "no_such_plugin_anywhere");
}

static void
test_shared_object_without_entry_is_refused(void **state)
{
    loader *l = *state;
    char line[700];
    snprintf(line, sizeof(line), "path: %s", bad_plugin(l, "not_a_plugin"));
    write_extension(l, "not-a-plugin", line, NULL);

    const char *error = validate_fails(l);

    assert_mentions(error, l->plugin);
    assert_mentions(error, GWF_PLUGIN_ENTRY_SYMBOL);
}

static void
test_abi_major_mismatch_names_the_file_and_both_versions(void **state)
{
    loader *l = *state;
    char line[700];
    snprintf(line, sizeof(line), "path: %s", bad_plugin(l, "abi_major_99"));
    write_extension(l, "abi-mismatch", line, NULL);

    const char *error = validate_fails(l);

    assert_mentions(error, l->plugin);
    char host_major[16];
    snprintf(host_major, sizeof(host_major), "%d", GWF_ABI_VERSION_MAJOR);
    if (!mentions_number(error, l->plugin, l->manifest, "99"))
        fail_msg("error does not name the plugin's ABI major 99:\n%s", error);
    if (!mentions_number(error, l->plugin, l->manifest, host_major))
        fail_msg("error does not name the host's ABI major %s:\n%s", host_major,
                 error);
}

static void
test_abi_minor_newer_than_the_host_is_refused_while_major_is_0(void **state)
{
    loader *l = *state;
    char line[700];
    snprintf(line, sizeof(line), "path: %s", bad_plugin(l, "abi_minor_newer"));
    write_extension(l, "abi-minor", line, NULL);

    const char *error = validate_fails(l);

    assert_mentions(error, l->plugin);
    char plugin_version[32], host_version[32];
    snprintf(plugin_version, sizeof(plugin_version), "ABI %d.%d",
             GWF_ABI_VERSION_MAJOR, GWF_ABI_VERSION_MINOR + 1);
    snprintf(host_version, sizeof(host_version), "ABI %d.%d",
             GWF_ABI_VERSION_MAJOR, GWF_ABI_VERSION_MINOR);
    assert_mentions(error, plugin_version);
    assert_mentions(error, host_version);
}

static void
test_entry_smaller_than_its_first_fields_is_refused(void **state)
{
    loader *l = *state;
    char line[700];
    snprintf(line, sizeof(line), "path: %s", bad_plugin(l, "bad_entry"));
    write_extension(l, "bad-entry", line, NULL);

    const char *error = validate_fails(l);

    assert_mentions(error, l->plugin);
    assert_mentions(error, "size");
}

static void
test_entry_without_a_name_is_refused(void **state)
{
    loader *l = *state;
    char line[700];
    snprintf(line, sizeof(line), "path: %s", bad_plugin(l, "null_name"));
    write_extension(l, "null-name", line, NULL);

    const char *error = validate_fails(l);

    assert_mentions(error, l->plugin);
    assert_mentions(error, "name");
}

static void
test_rejected_config_names_file_line_field_and_message(void **state)
{
    loader *l = *state;
    char line[700];
    snprintf(line, sizeof(line), "path: %s", bad_plugin(l, "config_rejects"));
    /* limits.max is on line 11. */
    write_extension(l, "reject-me", line,
                    "      limits:\n"
                    "        max: 99\n");

    const char *error = validate_fails(l);

    assert_mentions(error, "must be at most 10");
    char where[600];
    snprintf(where, sizeof(where), "%s:11", l->manifest);
    assert_mentions(error, where);
    assert_mentions(error, "spec.plugin.config.limits.max");
    assert_mentions(error, "reject-me");
}

static void
test_probe_rejects_an_unknown_action_naming_its_field(void **state)
{
    loader *l = *state;
    /* actions.request_headers is on line 11. */
    write_extension(l, "bad-action", "name: probe",
                    "      actions:\n"
                    "        request_headers: explode\n");

    const char *error = validate_fails(l);

    assert_mentions(error, "unknown action");
    char where[600];
    snprintf(where, sizeof(where), "%s:11", l->manifest);
    assert_mentions(error, where);
    assert_mentions(error, "spec.plugin.config.actions.request_headers");
}

static void
test_route_through_a_rejected_config_does_not_build(void **state)
{
    loader *l = *state;
    char line[700];
    snprintf(line, sizeof(line), "path: %s", bad_plugin(l, "config_rejects"));
    write_extension(l, "reject-route", line, "      {limits: {max: 99}}\n");
    assert_int_equal(gwf_test_load_path(l->h, l->manifest), 0);

    const char *const chain[] = {"reject-route", NULL};
    gwf_test_route route = {NULL, chain, NULL, NULL};
    gwf_test_request *req = gwf_test_request_new("GET", "/");
    gwf_test_result *res = gwf_test_start(l->h, &route, req, 1000);
    gwf_test_request_free(req);

    if (res) {
        gwf_test_result_free(res);
        fail_msg("%s", "the route built around a rejected config");
    }
    assert_mentions(gwf_test_error(l->h), "must be at most 10");
}

static void
test_valid_probe_manifest_validates(void **state)
{
    loader *l = *state;
    write_extension(l, "fine", "name: probe",
                    "      tag: A\n"
                    "      actions: {request_headers: continue}\n");

    assert_int_equal(gwf_test_load_path(l->h, l->manifest), 0);
    if (gwf_test_validate(l->h) != 0)
        fail_msg("valid probe refused: %s", gwf_test_error(l->h));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_missing_plugin_file_is_named,
                                        loader_setup, loader_teardown),
        cmocka_unit_test_setup_teardown(test_unknown_plugin_name_is_named,
                                        loader_setup, loader_teardown),
        cmocka_unit_test_setup_teardown(
            test_shared_object_without_entry_is_refused, loader_setup,
            loader_teardown),
        cmocka_unit_test_setup_teardown(
            test_abi_major_mismatch_names_the_file_and_both_versions,
            loader_setup, loader_teardown),
        cmocka_unit_test_setup_teardown(
            test_abi_minor_newer_than_the_host_is_refused_while_major_is_0,
            loader_setup, loader_teardown),
        cmocka_unit_test_setup_teardown(
            test_entry_smaller_than_its_first_fields_is_refused, loader_setup,
            loader_teardown),
        cmocka_unit_test_setup_teardown(test_entry_without_a_name_is_refused,
                                        loader_setup, loader_teardown),
        cmocka_unit_test_setup_teardown(
            test_rejected_config_names_file_line_field_and_message,
            loader_setup, loader_teardown),
        cmocka_unit_test_setup_teardown(
            test_probe_rejects_an_unknown_action_naming_its_field, loader_setup,
            loader_teardown),
        cmocka_unit_test_setup_teardown(
            test_route_through_a_rejected_config_does_not_build, loader_setup,
            loader_teardown),
        cmocka_unit_test_setup_teardown(test_valid_probe_manifest_validates,
                                        loader_setup, loader_teardown),
    };
    return cmocka_run_group_tests_name("loader", tests, NULL, NULL);
}
