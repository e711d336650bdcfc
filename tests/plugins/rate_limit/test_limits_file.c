/*
 * test_limits_file.c - descriptorsFile, envoyproxy/ratelimit's limits
 * file, is read with the limits the runtime's manifest reader puts on
 * hostile input (host/runtime/node.c, tests/manifest/test_node.c): size,
 * depth, node count, scalar length, duplicate keys, NUL bytes in keys,
 * and no YAML aliases at all. Each file is written to a fresh directory
 * and named by an absolute path; no Redis is needed (validation never
 * connects).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "support.h"

#define ROUTE "[{entries: [{type: Generic, generic: {key: k, value: v}}]}]"
#define FIELD "spec.rateLimit.descriptorsFile"

static char file_dir[64], file_path[96];

static int
make_dir(void **state)
{
    (void)state;
    snprintf(file_dir, sizeof(file_dir), "/tmp/gwf-rl-limits-XXXXXX");
    assert_non_null(mkdtemp(file_dir));
    return 0;
}

static int
remove_dir(void **state)
{
    (void)state;
    unlink(file_path);
    rmdir(file_dir);
    return 0;
}

/* `len` bytes of `text` as the limits file `name`. */
static void
write_limits(const char *name, const char *text, size_t len)
{
    FILE *f;

    snprintf(file_path, sizeof(file_path), "%s/%s", file_dir, name);
    f = fopen(file_path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static const char *
manifests(void)
{
    static char spec[256];

    snprintf(spec, sizeof(spec),
             "{redis: {address: \"127.0.0.1:6379\"}, descriptorsFile: %s}",
             file_path);
    return global_manifests(spec, ROUTE);
}

static void
assert_accepted(void)
{
    gwf_test_host *h = host_with(manifests());

    if (gwf_test_validate(h) != 0)
        fail_msg("%s", gwf_test_error(h));
    gwf_test_host_free(h);
}

/* "<open>" * depth, then "<close>" * depth, after `head`. */
static char *
nested(const char *head, const char *open, const char *close, int depth,
       const char *tail)
{
    size_t len = strlen(head) + (size_t)depth * 2 + strlen(tail) + 1;
    char *text = malloc(len), *p = text;

    assert_non_null(text);
    p += sprintf(p, "%s", head);
    for (int i = 0; i < depth; i++)
        *p++ = *open;
    for (int i = 0; i < depth; i++)
        *p++ = *close;
    strcpy(p, tail);
    return text;
}

static void
test_yaml_file_errors_name_the_field_inside_it(void **state)
{
    static const char text[] = "domain: d\n"
                               "descriptors:\n"
                               "  - key: k\n"
                               "    rate_limit: {unit: fortnight, "
                               "requests_per_unit: 1}\n";
    (void)state;
    write_limits("limits.yaml", text, sizeof(text) - 1);
    assert_config_error(manifests(), FIELD ".descriptors[0].rate_limit.unit",
                        "expected one of: second, minute, hour, day, week, "
                        "month, year, found \"fortnight\"");
}

static void
test_yaml_duplicate_key_is_refused_naming_both_lines(void **state)
{
    /* Silently keeping the second rate_limit would turn 1/s into 1000/day
     * for whoever reads the file top-down. */
    static const char text[] =
        "domain: d\n"
        "descriptors:\n"
        "  - key: k\n"
        "    rate_limit: {unit: second, requests_per_unit: 1}\n"
        "    rate_limit: {unit: day, requests_per_unit: 1000}\n";
    (void)state;
    write_limits("limits.yaml", text, sizeof(text) - 1);
    assert_config_error(manifests(), FIELD,
                        "line 5: duplicate key \"rate_limit\" (first "
                        "defined at line 4)");
}

static void
test_json_duplicate_key_is_refused(void **state)
{
    static const char text[] =
        "{\"domain\": \"d\", \"descriptors\": [], \"domain\": \"e\"}";
    (void)state;
    write_limits("limits.json", text, sizeof(text) - 1);
    assert_config_error(manifests(), FIELD, "duplicate object key");
}

static void
test_yaml_key_with_a_nul_byte_is_refused(void **state)
{
    static const char text[] = "domain: d\ndescriptors: []\n\"a\\0b\": 1\n";
    (void)state;
    write_limits("limits.yaml", text, sizeof(text) - 1);
    assert_config_error(manifests(), FIELD,
                        "line 3: mapping key contains a NUL byte");
}

static void
test_yaml_billion_laughs_stops_at_the_first_alias(void **state)
{
    static const char text[] = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                               "b: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n"
                               "c: &c [*b, *b, *b, *b, *b, *b, *b, *b]\n"
                               "d: [*c, *c, *c, *c, *c, *c, *c, *c]\n";
    (void)state;
    write_limits("limits.yaml", text, sizeof(text) - 1);
    assert_config_error(manifests(), FIELD,
                        "line 2: aliases are not supported");
}

static void
test_yaml_nesting_of_64_levels_is_accepted(void **state)
{
    /* The top mapping is level 1, x's lists 2 to 64. */
    char *text = nested("domain: d\ndescriptors: []\nx: ", "[", "]", 63, "\n");
    (void)state;
    write_limits("limits.yaml", text, strlen(text));
    free(text);
    assert_accepted();
}

static void
test_yaml_nesting_beyond_64_levels_is_refused(void **state)
{
    char *text = nested("domain: d\ndescriptors: []\nx: ", "[", "]", 64, "\n");
    (void)state;
    write_limits("limits.yaml", text, strlen(text));
    free(text);
    assert_config_error(manifests(), FIELD,
                        "line 3: nesting is deeper than the limit of 64 "
                        "levels");
}

static void
test_json_nesting_beyond_64_levels_is_refused(void **state)
{
    /* jansson alone allows 2048 levels: the tree walk would then recurse
     * a thousand descriptors deep on the master's stack. */
    char *text = nested("{\"domain\": \"d\", \"descriptors\": [], \"x\": ", "[",
                        "]", 64, "}");
    (void)state;
    write_limits("limits.json", text, strlen(text));
    free(text);
    assert_config_error(manifests(), FIELD,
                        "nesting is deeper than the limit of 64 levels");
}

/* A list of `items` zeros, 2 bytes each: within the 4 MiB file size. */
static char *
many_nodes(const char *head, size_t items, const char *tail)
{
    size_t len = strlen(head) + items * 2 + strlen(tail) + 1;
    char *text = malloc(len), *p = text;

    assert_non_null(text);
    p += sprintf(p, "%s", head);
    for (size_t i = 0; i < items; i++) {
        *p++ = '0';
        *p++ = ',';
    }
    p[-1] = ']';
    strcpy(p, tail);
    return text;
}

static void
test_yaml_file_of_more_than_a_million_nodes_is_refused(void **state)
{
    char *text = many_nodes("domain: d\ndescriptors: []\nx: [", 1000000, "\n");
    (void)state;
    write_limits("limits.yaml", text, strlen(text));
    free(text);
    assert_config_error(manifests(), FIELD,
                        "line 3: more than 1000000 nodes in one file");
}

static void
test_json_file_of_more_than_a_million_nodes_is_refused(void **state)
{
    char *text = many_nodes("{\"domain\": \"d\", \"descriptors\": [], \"x\": [",
                            1000000, "}");
    (void)state;
    write_limits("limits.json", text, strlen(text));
    free(text);
    assert_config_error(manifests(), FIELD,
                        "more than 1000000 nodes in one file");
}

static void
test_yaml_scalar_longer_than_1_mib_is_refused(void **state)
{
    size_t n = 1024 * 1024 + 1;
    char *text = malloc(n + 64);
    int head;

    (void)state;
    assert_non_null(text);
    head = sprintf(text, "descriptors: []\ndomain: ");
    memset(text + head, 'a', n);
    strcpy(text + head + n, "\n");
    write_limits("limits.yaml", text, strlen(text));
    free(text);
    assert_config_error(manifests(), FIELD,
                        "line 2: scalar of 1048577 bytes is longer than the "
                        "limit of 1048576 bytes");
}

static void
test_yaml_str_tag_keeps_a_number_a_string(void **state)
{
    static const char text[] = "domain: d\n"
                               "descriptors:\n"
                               "  - key: k\n"
                               "    value: !!str 5\n"
                               "    rate_limit: {unit: second, "
                               "requests_per_unit: 1}\n";
    (void)state;
    write_limits("limits.yaml", text, sizeof(text) - 1);
    assert_accepted();
}

#define T(name)                                                                \
    cmocka_unit_test_setup_teardown(test_##name, make_dir, remove_dir)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(yaml_file_errors_name_the_field_inside_it),
        T(yaml_duplicate_key_is_refused_naming_both_lines),
        T(json_duplicate_key_is_refused),
        T(yaml_key_with_a_nul_byte_is_refused),
        T(yaml_billion_laughs_stops_at_the_first_alias),
        T(yaml_nesting_of_64_levels_is_accepted),
        T(yaml_nesting_beyond_64_levels_is_refused),
        T(json_nesting_beyond_64_levels_is_refused),
        T(yaml_file_of_more_than_a_million_nodes_is_refused),
        T(json_file_of_more_than_a_million_nodes_is_refused),
        T(yaml_scalar_longer_than_1_mib_is_refused),
        T(yaml_str_tag_keeps_a_number_a_string),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
