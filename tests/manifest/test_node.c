/*
 * test_node.c - the document tree: YAML and JSON parsing, scalar
 * resolution, positions, limits, path lookup and JSON output.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gwf/diag.h>
#include <gwf/node.h>

/* ------------------------------------------------------------------ */
/* Helpers                                                             */

typedef struct parsed {
    gwf_tree *tree;
    gwf_diag diag;
    int rc;
} parsed;

static parsed *
parse_as(const char *name, const char *text, size_t len, gwf_format format)
{
    parsed *p = calloc(1, sizeof(*p));
    assert_non_null(p);
    gwf_diag_init(&p->diag);
    p->rc = gwf_tree_parse(name, text, len, format, &p->tree, &p->diag);
    return p;
}

static parsed *
yaml(const char *text)
{
    return parse_as("t.yaml", text, strlen(text), GWF_FORMAT_AUTO);
}

/* Forces YAML: a text starting with '[' or '{' would be taken for JSON. */
static parsed *
yaml_flow(const char *text)
{
    return parse_as("t.yaml", text, strlen(text), GWF_FORMAT_YAML);
}

static parsed *
json(const char *text)
{
    return parse_as("t.json", text, strlen(text), GWF_FORMAT_AUTO);
}

static void
done(parsed *p)
{
    gwf_tree_free(p->tree);
    gwf_diag_free(&p->diag);
    free(p);
}

static const gwf_node *
root(const parsed *p)
{
    assert_int_equal(p->rc, 0);
    return gwf_tree_doc(p->tree, 0);
}

static const gwf_node *
at(const parsed *p, const char *path)
{
    return gwf_node_find(root(p), path, NULL);
}

/* True when one diag line contains every string of the NULL-terminated
 * list; prints the lines otherwise, to make failures readable. */
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
assert_type(const gwf_node *n, gwf_node_type type)
{
    assert_non_null(n);
    assert_int_equal(gwf_node_type_of(n), type);
}

static void
assert_int_node(const gwf_node *n, int64_t want)
{
    int64_t got = 0;
    assert_type(n, GWF_NODE_INT);
    assert_int_equal(gwf_node_int(n, &got), 0);
    assert_true(got == want);
}

static void
assert_string_node(const gwf_node *n, const char *want)
{
    size_t len = 0;
    assert_type(n, GWF_NODE_STRING);
    const char *s = gwf_node_str(n, &len);
    assert_non_null(s);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(s, want, len);
}

static char *
repeat(const char *head, const char *unit, size_t times, const char *tail)
{
    size_t unit_len = strlen(unit);
    size_t size = strlen(head) + unit_len * times + strlen(tail) + 1;
    char *s = malloc(size);
    assert_non_null(s);
    char *o = s;
    o += sprintf(o, "%s", head);
    for (size_t i = 0; i < times; i++, o += unit_len)
        memcpy(o, unit, unit_len);
    strcpy(o, tail);
    return s;
}

/* ------------------------------------------------------------------ */
/* Diagnostics                                                         */

static void
test_diag_collects_lines_in_order(void **state)
{
    (void)state;
    gwf_diag d;
    gwf_diag_init(&d);
    for (int i = 0; i < 40; i++)
        gwf_diag_addf(&d, "line %d", i);
    assert_int_equal(d.count, 40);
    assert_string_equal(gwf_diag_line(&d, 0), "line 0");
    assert_string_equal(gwf_diag_line(&d, 39), "line 39");
    assert_null(gwf_diag_line(&d, 40));
    gwf_diag_free(&d);
    assert_int_equal(d.count, 0);
}

static void
test_diag_replaces_control_characters_to_stay_one_line(void **state)
{
    (void)state;
    gwf_diag d;
    gwf_diag_init(&d);
    gwf_diag_addf(&d, "a%sb", "\n\r\t");
    assert_string_equal(gwf_diag_line(&d, 0), "a???b");
    gwf_diag_free(&d);
}

/* ------------------------------------------------------------------ */
/* YAML scalars                                                        */

static void
test_yaml_null_forms_resolve_to_null(void **state)
{
    (void)state;
    parsed *p = yaml("a: ~\nb: null\nc: Null\nd: NULL\ne:\n");
    const char *keys[] = {"a", "b", "c", "d", "e"};
    for (size_t i = 0; i < 5; i++)
        assert_type(at(p, keys[i]), GWF_NODE_NULL);
    done(p);
}

static void
test_yaml_true_false_in_three_casings_resolve_to_bool(void **state)
{
    (void)state;
    parsed *p = yaml_flow("[true, True, TRUE, false, False, FALSE]");
    for (size_t i = 0; i < 6; i++) {
        int value = -1;
        assert_int_equal(gwf_node_bool(gwf_node_at(root(p), i), &value), 0);
        assert_int_equal(value, i < 3);
    }
    done(p);
}

static void
test_yaml_1_1_booleans_like_yes_and_on_stay_strings(void **state)
{
    (void)state;
    parsed *p = yaml_flow("[yes, no, on, off, y, tRUE]");
    for (size_t i = 0; i < 6; i++)
        assert_type(gwf_node_at(root(p), i), GWF_NODE_STRING);
    done(p);
}

static void
test_yaml_decimal_hex_and_octal_resolve_to_int(void **state)
{
    (void)state;
    parsed *p = yaml_flow("[42, -17, +5, 0x1F, 0o17, 012, "
                          "9223372036854775807, -9223372036854775808]");
    const gwf_node *r = root(p);
    assert_int_node(gwf_node_at(r, 0), 42);
    assert_int_node(gwf_node_at(r, 1), -17);
    assert_int_node(gwf_node_at(r, 2), 5);
    assert_int_node(gwf_node_at(r, 3), 31);
    assert_int_node(gwf_node_at(r, 4), 15);
    assert_int_node(gwf_node_at(r, 5), 12); /* 1.2: no implicit octal */
    assert_int_node(gwf_node_at(r, 6), INT64_MAX);
    assert_int_node(gwf_node_at(r, 7), INT64_MIN);
    done(p);
}

static void
test_yaml_int_too_big_for_int64_becomes_float(void **state)
{
    (void)state;
    parsed *p = yaml("n: 99999999999999999999\n");
    int64_t out;
    assert_type(at(p, "n"), GWF_NODE_FLOAT);
    assert_int_equal(gwf_node_int(at(p, "n"), &out), -1);
    done(p);
}

static void
test_yaml_floats_including_inf_and_nan_resolve_to_float(void **state)
{
    (void)state;
    parsed *p = yaml_flow("[1.5, -.5, 2., 1e3, 6.02E+23, .inf, -.Inf, .NaN]");
    const gwf_node *r = root(p);
    double f = 0;
    for (size_t i = 0; i < 8; i++)
        assert_type(gwf_node_at(r, i), GWF_NODE_FLOAT);
    assert_int_equal(gwf_node_number(gwf_node_at(r, 0), &f), 0);
    assert_true(f == 1.5);
    gwf_node_number(gwf_node_at(r, 1), &f);
    assert_true(f == -0.5);
    gwf_node_number(gwf_node_at(r, 3), &f);
    assert_true(f == 1000.0);
    gwf_node_number(gwf_node_at(r, 5), &f);
    assert_true(isinf(f) && f > 0);
    gwf_node_number(gwf_node_at(r, 6), &f);
    assert_true(isinf(f) && f < 0);
    gwf_node_number(gwf_node_at(r, 7), &f);
    assert_true(isnan(f));
    done(p);
}

static void
test_yaml_quoted_scalars_are_always_strings(void **state)
{
    (void)state;
    parsed *p = yaml("a: \"42\"\nb: 'true'\nc: \"\"\nd: 'null'\n");
    assert_string_node(at(p, "a"), "42");
    assert_string_node(at(p, "b"), "true");
    assert_string_node(at(p, "c"), "");
    assert_string_node(at(p, "d"), "null");
    done(p);
}

static void
test_yaml_block_scalars_are_strings(void **state)
{
    (void)state;
    parsed *p = yaml("a: |\n  12\nb: >-\n  true\n");
    assert_string_node(at(p, "a"), "12\n");
    assert_string_node(at(p, "b"), "true");
    done(p);
}

static void
test_yaml_core_tags_override_resolution(void **state)
{
    (void)state;
    parsed *p = yaml("a: !!str 12\nb: !!int \"7\"\nc: !!float 3\n"
                     "d: !custom 5\n");
    assert_string_node(at(p, "a"), "12");
    assert_int_node(at(p, "b"), 7);
    assert_type(at(p, "c"), GWF_NODE_FLOAT);
    assert_int_node(at(p, "d"), 5); /* unknown tags are ignored */
    done(p);
}

static void
test_yaml_bad_core_tag_value_is_an_error_with_position(void **state)
{
    (void)state;
    parsed *p = yaml("a: 1\nb: !!int abc\n");
    assert_int_equal(p->rc, -1);
    assert_null(p->tree);
    assert_diag(&p->diag, "t.yaml:2:4: ", "\"abc\" is not a valid !!int");
    done(p);
}

static void
test_yaml_string_with_nul_escape_keeps_its_length(void **state)
{
    (void)state;
    parsed *p = yaml("a: \"x\\0y\"\n");
    size_t len = 0;
    const char *s = gwf_node_str(at(p, "a"), &len);
    assert_int_equal(len, 3);
    assert_memory_equal(s, "x\0y", 3);
    done(p);
}

/* ------------------------------------------------------------------ */
/* YAML structure                                                      */

static void
test_yaml_nodes_carry_line_and_column(void **state)
{
    (void)state;
    parsed *p = yaml("# comment\nspec:\n  items:\n    - one\n    - two\n");
    assert_int_equal(gwf_node_line(root(p)), 2);
    const gwf_node *two = at(p, "spec.items[1]");
    assert_int_equal(gwf_node_line(two), 5);
    assert_int_equal(gwf_node_column(two), 7);
    assert_int_equal(gwf_node_key_line_at(root(p), 0), 2);
    done(p);
}

static void
test_yaml_multi_document_stream_gives_each_document(void **state)
{
    (void)state;
    parsed *p = yaml("a: 1\n---\nb: 2\n---\nc: 3\n");
    assert_int_equal(p->rc, 0);
    assert_int_equal(gwf_tree_doc_count(p->tree), 3);
    assert_non_null(gwf_node_get(gwf_tree_doc(p->tree, 2), "c"));
    assert_int_equal(gwf_node_line(gwf_tree_doc(p->tree, 1)), 3);
    done(p);
}

static void
test_yaml_empty_document_is_a_null_root(void **state)
{
    (void)state;
    parsed *p = yaml("---\n---\na: 1\n");
    assert_int_equal(p->rc, 0);
    assert_int_equal(gwf_tree_doc_count(p->tree), 2);
    assert_type(gwf_tree_doc(p->tree, 0), GWF_NODE_NULL);
    assert_type(gwf_tree_doc(p->tree, 1), GWF_NODE_MAP);
    done(p);
}

static void
test_yaml_empty_input_has_no_documents(void **state)
{
    (void)state;
    parsed *p = yaml("");
    assert_int_equal(p->rc, 0);
    assert_int_equal(gwf_tree_doc_count(p->tree), 0);
    done(p);
}

static void
test_yaml_anchor_and_alias_share_the_node(void **state)
{
    (void)state;
    parsed *p = yaml("base: &b {x: 1}\ncopy: *b\nlist: [*b, *b]\n");
    assert_ptr_equal(at(p, "base"), at(p, "copy"));
    assert_int_node(at(p, "list[1].x"), 1);
    char *text = gwf_node_to_json(root(p));
    assert_string_equal(text, "{\"base\":{\"x\":1},\"copy\":{\"x\":1},"
                              "\"list\":[{\"x\":1},{\"x\":1}]}");
    free(text);
    done(p);
}

static void
test_yaml_anchor_redefined_later_wins(void **state)
{
    (void)state;
    parsed *p = yaml("a: &x 1\nb: &x 2\nc: *x\n");
    assert_int_node(at(p, "c"), 2);
    done(p);
}

static void
test_yaml_alias_as_key_uses_the_scalar_text(void **state)
{
    (void)state;
    parsed *p = yaml("&k name: a\nother:\n  *k : b\n");
    assert_string_node(at(p, "other.name"), "b");
    done(p);
}

static void
test_yaml_undefined_alias_is_an_error(void **state)
{
    (void)state;
    parsed *p = yaml("a: 1\nb: *nowhere\n");
    assert_int_equal(p->rc, -1);
    assert_diag(&p->diag, "t.yaml:2:4: ", "undefined alias \"nowhere\"");
    done(p);
}

static void
test_yaml_alias_inside_its_own_anchor_is_an_error(void **state)
{
    (void)state;
    parsed *p = yaml("a: &loop [1, *loop]\n");
    assert_int_equal(p->rc, -1);
    assert_diag(&p->diag, "t.yaml:1:", "undefined alias \"loop\"");
    done(p);
}

static void
test_yaml_anchor_does_not_cross_documents(void **state)
{
    (void)state;
    parsed *p = yaml("a: &x 1\n---\nb: *x\n");
    assert_int_equal(p->rc, -1);
    assert_diag(&p->diag, "t.yaml:3:4: ", "undefined alias");
    done(p);
}

static void
test_yaml_duplicate_key_is_an_error_naming_both_lines(void **state)
{
    (void)state;
    parsed *p = yaml("spec:\n  name: a\n  other: 1\n  name: b\n");
    assert_int_equal(p->rc, -1);
    assert_null(p->tree);
    assert_diag(&p->diag, "t.yaml:4:3: ",
                "duplicate key \"name\" (first defined at line 2)");
    done(p);
}

static void
test_yaml_duplicate_key_in_a_large_mapping_is_found(void **state)
{
    (void)state;
    char text[2048];
    size_t o = 0;
    for (int i = 0; i < 100; i++)
        o += (size_t)sprintf(text + o, "k%d: %d\n", i, i);
    sprintf(text + o, "k7: again\n");
    parsed *p = yaml(text);
    assert_int_equal(p->rc, -1);
    assert_diag(&p->diag, "t.yaml:101:1: ",
                "duplicate key \"k7\" (first defined at line 8)");
    done(p);
}

static void
test_yaml_every_duplicate_key_in_a_file_is_reported(void **state)
{
    (void)state;
    parsed *p = yaml("a: 1\na: 2\n---\nb: 1\nb: 2\n");
    assert_int_equal(p->rc, -1);
    assert_int_equal(p->diag.count, 2);
    assert_diag(&p->diag, "t.yaml:2:1: ", "\"a\"");
    assert_diag(&p->diag, "t.yaml:5:1: ", "\"b\"");
    done(p);
}

static void
test_yaml_complex_key_is_an_error(void **state)
{
    (void)state;
    parsed *p = yaml("? [a, b]\n: c\n");
    assert_int_equal(p->rc, -1);
    assert_diag(&p->diag,
                "t.yaml:1:3: ", "mapping keys must be scalars, not a list");
    done(p);
}

static void
test_yaml_syntax_error_reports_file_line_column_and_problem(void **state)
{
    (void)state;
    parsed *p = yaml("a: 1\nb: [1, 2\nc: 3\n");
    assert_int_equal(p->rc, -1);
    assert_null(p->tree);
    assert_int_equal(p->diag.count, 1);
    assert_diag(&p->diag, "t.yaml:", "did not find expected ',' or ']'",
                "while parsing a flow sequence at line 2");
    done(p);
}

static void
test_yaml_bad_indentation_reports_its_line(void **state)
{
    (void)state;
    parsed *p = yaml("a:\n  b: 1\n c: 2\n");
    assert_int_equal(p->rc, -1);
    assert_diag(&p->diag, "t.yaml:3:", "did not find expected key");
    done(p);
}

static void
test_yaml_invalid_utf8_reports_its_position(void **state)
{
    (void)state;
    parsed *p = yaml("a: 1\nb: \xff\xfe\n");
    assert_int_equal(p->rc, -1);
    assert_diag(&p->diag, "t.yaml:2:4: ", "invalid leading UTF-8 octet");
    done(p);
}

/* ------------------------------------------------------------------ */
/* Limits                                                              */

static void
test_yaml_nesting_of_64_levels_is_accepted(void **state)
{
    (void)state;
    char *text = repeat("", "[", 64, "");
    char *full = repeat(text, "]", 64, "\n");
    parsed *p = yaml_flow(full);
    assert_int_equal(p->rc, 0);
    done(p);
    free(text);
    free(full);
}

static void
test_yaml_nesting_beyond_64_levels_fails(void **state)
{
    (void)state;
    char *text = repeat("", "[", 65, "");
    char *full = repeat(text, "]", 65, "\n");
    parsed *p = yaml_flow(full);
    assert_int_equal(p->rc, -1);
    assert_diag(&p->diag, "t.yaml:1:65: ",
                "nesting is deeper than the limit of 64 levels");
    done(p);
    free(text);
    free(full);
}

static void
test_yaml_alias_that_would_nest_too_deep_fails(void **state)
{
    (void)state;
    /* 40 levels under an anchor, used 40 levels down: 80 in total. */
    char *open = repeat("deep: &d ", "[", 40, "");
    char *anchored = repeat(open, "]", 40, "\nuse: ");
    char *use_open = repeat(anchored, "[", 39, "*d");
    char *full = repeat(use_open, "]", 39, "\n");
    parsed *p = yaml_flow(full);
    assert_int_equal(p->rc, -1);
    assert_diag(&p->diag,
                "t.yaml:2:", "nesting is deeper than the limit of 64 levels");
    done(p);
    free(open);
    free(anchored);
    free(use_open);
    free(full);
}

static void
test_yaml_billion_laughs_fails_on_the_node_limit(void **state)
{
    (void)state;
    const char *text = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
                       "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                       "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                       "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                       "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                       "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                       "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
                       "h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
                       "i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]\n";
    parsed *p = yaml(text);
    assert_int_equal(p->rc, -1);
    assert_int_equal(p->diag.count, 1);
    assert_diag(&p->diag, "t.yaml:7:", "more than 1000000 nodes in one file",
                "aliases count");
    done(p);
}

static void
test_yaml_aliases_of_a_long_scalar_fail_on_the_byte_limit(void **state)
{
    (void)state;
    /* 1 MiB of text, aliased 100 times: 100 MiB when expanded. */
    char *text = repeat("s: &s ", "x", 1024 * 1024, "\nl: [");
    char *full = repeat(text, "*s, ", 100, "*s]\n");
    parsed *p = yaml_flow(full);
    assert_int_equal(p->rc, -1);
    assert_diag(&p->diag, "t.yaml:2:", "bytes of scalars in one file");
    done(p);
    free(text);
    free(full);
}

static void
test_yaml_scalar_longer_than_1_mib_fails(void **state)
{
    (void)state;
    char *text = repeat("a: ok\nb: ", "x", 1024 * 1024 + 1, "\n");
    parsed *p = yaml(text);
    assert_int_equal(p->rc, -1);
    assert_diag(&p->diag,
                "t.yaml:2:4: ", "longer than the limit of 1048576 bytes");
    done(p);
    free(text);
}

static void
test_yaml_scalar_of_exactly_1_mib_is_accepted(void **state)
{
    (void)state;
    char *text = repeat("b: ", "x", 1024 * 1024, "\n");
    parsed *p = yaml(text);
    size_t len = 0;
    assert_int_equal(p->rc, 0);
    gwf_node_str(at(p, "b"), &len);
    assert_int_equal(len, 1024 * 1024);
    done(p);
    free(text);
}

static void
test_input_larger_than_16_mib_is_refused(void **state)
{
    (void)state;
    size_t len = 16u * 1024 * 1024 + 1;
    char *text = malloc(len);
    assert_non_null(text);
    memset(text, '#', len);
    parsed *p = parse_as("big.yaml", text, len, GWF_FORMAT_AUTO);
    assert_int_equal(p->rc, -1);
    assert_diag(&p->diag, "big.yaml: ", "larger than the limit of 16777216");
    done(p);
    free(text);
}

/* ------------------------------------------------------------------ */
/* JSON                                                                */

static void
test_json_values_map_to_node_types(void **state)
{
    (void)state;
    parsed *p = json("{\"s\": \"x\", \"i\": -3, \"f\": 2.5, \"t\": true,"
                     " \"n\": null, \"a\": [1], \"o\": {}}");
    assert_string_node(at(p, "s"), "x");
    assert_int_node(at(p, "i"), -3);
    assert_type(at(p, "f"), GWF_NODE_FLOAT);
    assert_type(at(p, "t"), GWF_NODE_BOOL);
    assert_type(at(p, "n"), GWF_NODE_NULL);
    assert_type(at(p, "a"), GWF_NODE_SEQ);
    assert_type(at(p, "o"), GWF_NODE_MAP);
    assert_int_equal(gwf_node_size(at(p, "o")), 0);
    done(p);
}

static void
test_json_keeps_key_order_and_number_text(void **state)
{
    (void)state;
    parsed *p = json("{\"z\": 1, \"a\": 1.50, \"m\": 3}");
    const gwf_node *r = root(p);
    size_t len;
    assert_string_equal(gwf_node_key_at(r, 0), "z");
    assert_string_equal(gwf_node_key_at(r, 1), "a");
    assert_string_equal(gwf_node_key_at(r, 2), "m");
    assert_string_equal(gwf_node_text(at(p, "a"), &len), "1.50");
    done(p);
}

static void
test_json_nodes_carry_line_and_column(void **state)
{
    (void)state;
    parsed *p = json("{\n  \"spec\": {\n    \"list\": [1,\n      \"two\"]\n"
                     "  }\n}\n");
    const gwf_node *two = at(p, "spec.list[1]");
    assert_int_equal(gwf_node_line(root(p)), 1);
    assert_int_equal(gwf_node_line(two), 4);
    assert_int_equal(gwf_node_column(two), 7);
    unsigned line = 0;
    gwf_node_find(root(p), "spec.list", &line);
    assert_int_equal(line, 3);
    done(p);
}

static void
test_json_string_escapes_do_not_shift_positions(void **state)
{
    (void)state;
    parsed *p = json("[\"a\\\"b\\\\\", \"\\u00e9\",\n \"\xc3\xa9\", 4]");
    assert_string_node(gwf_node_at(root(p), 0), "a\"b\\");
    assert_string_node(gwf_node_at(root(p), 1), "\xc3\xa9");
    assert_int_equal(gwf_node_line(gwf_node_at(root(p), 3)), 2);
    assert_int_equal(gwf_node_column(gwf_node_at(root(p), 3)), 7);
    done(p);
}

static void
test_json_string_with_nul_keeps_its_length(void **state)
{
    (void)state;
    parsed *p = json("{\"a\": \"x\\u0000y\"}");
    size_t len = 0;
    gwf_node_str(at(p, "a"), &len);
    assert_int_equal(len, 3);
    done(p);
}

static void
test_json_duplicate_key_is_an_error(void **state)
{
    (void)state;
    parsed *p = json("{\"a\": 1,\n \"a\": 2}");
    assert_int_equal(p->rc, -1);
    assert_null(p->tree);
    assert_diag(&p->diag, "t.json:2:", "duplicate object key");
    done(p);
}

static void
test_json_syntax_error_reports_file_line_column(void **state)
{
    (void)state;
    parsed *p = json("{\"a\": [1, 2,\n  x]}");
    assert_int_equal(p->rc, -1);
    assert_diag(&p->diag, "t.json:2:3: ", "invalid token near 'x'");
    done(p);
}

static void
test_json_trailing_garbage_is_an_error(void **state)
{
    (void)state;
    parsed *p = json("{} {}");
    assert_int_equal(p->rc, -1);
    assert_diag(&p->diag, "t.json:1:");
    done(p);
}

static void
test_json_nesting_beyond_64_levels_fails(void **state)
{
    (void)state;
    char *text = repeat("", "[", 65, "");
    char *full = repeat(text, "]", 65, "");
    parsed *p = json(full);
    assert_int_equal(p->rc, -1);
    assert_diag(&p->diag, "t.json:1:65: ",
                "nesting is deeper than the limit of 64 levels");
    done(p);
    free(text);
    free(full);
}

static void
test_json_nesting_of_64_levels_is_accepted(void **state)
{
    (void)state;
    char *text = repeat("", "{\"a\":", 63, "[1]");
    char *full = repeat(text, "}", 63, "");
    parsed *p = json(full);
    assert_int_equal(p->rc, 0);
    done(p);
    free(text);
    free(full);
}

static void
test_json_more_than_a_million_nodes_fails(void **state)
{
    (void)state;
    char *text = repeat("[0", ",0", 1000000, "]");
    parsed *p = json(text);
    assert_int_equal(p->rc, -1);
    assert_diag(&p->diag, "t.json:1:", "more than 1000000 nodes");
    done(p);
    free(text);
}

static void
test_json_string_longer_than_1_mib_fails(void **state)
{
    (void)state;
    char *text = repeat("{\"a\": \"", "x", 1024 * 1024 + 1, "\"}");
    parsed *p = json(text);
    assert_int_equal(p->rc, -1);
    assert_diag(&p->diag, "t.json:1:7: ", "longer than the limit");
    done(p);
    free(text);
}

static void
test_format_detect_by_extension_and_first_byte(void **state)
{
    (void)state;
    assert_int_equal(gwf_format_detect("x.json", "a: 1", 4), GWF_FORMAT_JSON);
    assert_int_equal(gwf_format_detect("x", " \n {}", 5), GWF_FORMAT_JSON);
    assert_int_equal(gwf_format_detect("x", "\t[1]", 4), GWF_FORMAT_JSON);
    assert_int_equal(gwf_format_detect("x.yaml", "a: 1", 4), GWF_FORMAT_YAML);
    assert_int_equal(gwf_format_detect("x.yaml", "# c\n{}", 6),
                     GWF_FORMAT_YAML);
}

/* ------------------------------------------------------------------ */
/* JSON output                                                         */

static void
test_to_json_renders_compact_json_in_key_order(void **state)
{
    (void)state;
    parsed *p = yaml("b: 1\na: [true, ~, -2, x]\nc: {}\nd: []\n");
    char *text = gwf_node_to_json(root(p));
    assert_string_equal(text, "{\"b\":1,\"a\":[true,null,-2,\"x\"],\"c\":{},"
                              "\"d\":[]}");
    free(text);
    done(p);
}

static void
test_to_json_escapes_quotes_backslashes_and_controls(void **state)
{
    (void)state;
    parsed *p = yaml("\"k\\\"\": \"a\\\\b\\n\\t\\x01\\0\xc3\xa9\"\n");
    char *text = gwf_node_to_json(root(p));
    assert_string_equal(text, "{\"k\\\"\":\"a\\\\b\\n\\t\\u0001\\u0000"
                              "\xc3\xa9\"}");
    free(text);
    done(p);
}

static void
test_to_json_floats_keep_a_decimal_point(void **state)
{
    (void)state;
    parsed *p = yaml_flow("[3.0, 0.1, 1e300, -2.5]");
    char *text = gwf_node_to_json(root(p));
    assert_string_equal(text, "[3.0,0.1,1e+300,-2.5]");
    free(text);
    done(p);
}

static void
test_to_json_non_finite_floats_become_null(void **state)
{
    (void)state;
    parsed *p = yaml_flow("[.inf, -.inf, .nan]");
    char *text = gwf_node_to_json(root(p));
    assert_string_equal(text, "[null,null,null]");
    free(text);
    done(p);
}

/* ------------------------------------------------------------------ */
/* Paths and accessors                                                 */

static void
test_find_follows_keys_and_indexes(void **state)
{
    (void)state;
    parsed *p = yaml("spec:\n  jwt:\n    providers:\n      - issuer: a\n"
                     "      - issuer: b\n");
    unsigned line = 0;
    const gwf_node *n =
        gwf_node_find(root(p), "spec.jwt.providers[1].issuer", &line);
    assert_string_node(n, "b");
    assert_int_equal(line, 5);
    done(p);
}

static void
test_find_accepts_quoted_keys(void **state)
{
    (void)state;
    parsed *p = yaml("data:\n  a.b: 1\n  'q\"x': 2\n");
    assert_int_node(at(p, "data[\"a.b\"]"), 1);
    assert_int_node(at(p, "[\"data\"][\"q\\\"x\"]"), 2);
    assert_null(at(p, "data.a.b"));
    done(p);
}

static void
test_find_missing_step_reports_deepest_existing_line(void **state)
{
    (void)state;
    parsed *p = yaml("spec:\n  extAuth:\n    other: 1\n");
    unsigned line = 0;
    assert_null(
        gwf_node_find(root(p), "spec.extAuth.extensionRef.name", &line));
    assert_int_equal(line, 2);
    assert_null(gwf_node_find(root(p), "nothing.here", &line));
    assert_int_equal(line, 1);
    assert_null(gwf_node_find(root(p), "spec.extAuth.other[0]", &line));
    assert_int_equal(line, 3);
    done(p);
}

static void
test_find_malformed_path_returns_null(void **state)
{
    (void)state;
    parsed *p = yaml("a: [1]\n");
    assert_null(at(p, "a[x]"));
    assert_null(at(p, "a["));
    assert_null(at(p, "a..b"));
    assert_null(at(p, "[\"a"));
    assert_null(at(p, "a[0]b"));
    assert_non_null(at(p, ""));
    done(p);
}

static void
test_node_int_accepts_integral_floats_only(void **state)
{
    (void)state;
    parsed *p = json("[3.0, 3.5, 1e30, \"3\", true]");
    int64_t out = 0;
    assert_int_equal(gwf_node_int(gwf_node_at(root(p), 0), &out), 0);
    assert_true(out == 3);
    for (size_t i = 1; i < 5; i++)
        assert_int_equal(gwf_node_int(gwf_node_at(root(p), i), &out), -1);
    done(p);
}

static void
test_accessors_accept_null(void **state)
{
    (void)state;
    int64_t i;
    assert_int_equal(gwf_node_type_of(NULL), GWF_NODE_NULL);
    assert_int_equal(gwf_node_line(NULL), 0);
    assert_null(gwf_node_str(NULL, NULL));
    assert_int_equal(gwf_node_int(NULL, &i), -1);
    assert_int_equal(gwf_node_size(NULL), 0);
    assert_null(gwf_node_at(NULL, 0));
    assert_null(gwf_node_key_at(NULL, 0));
    assert_null(gwf_node_value_at(NULL, 0));
    assert_null(gwf_node_get(NULL, "a"));
    assert_null(gwf_node_to_json(NULL));
    assert_null(gwf_node_find(NULL, "a", NULL));
}

static void
test_describe_names_type_and_value(void **state)
{
    (void)state;
    parsed *p = yaml_flow("[abc, 12, true, ~, [], {}]");
    const char *want[] = {"string \"abc\"", "integer 12", "boolean true",
                          "null",           "a list",     "a mapping"};
    char out[128];
    for (size_t i = 0; i < 6; i++) {
        gwf_node_describe(gwf_node_at(root(p), i), out, sizeof(out));
        assert_string_equal(out, want[i]);
    }
    done(p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_diag_collects_lines_in_order),
        cmocka_unit_test(
            test_diag_replaces_control_characters_to_stay_one_line),
        cmocka_unit_test(test_yaml_null_forms_resolve_to_null),
        cmocka_unit_test(test_yaml_true_false_in_three_casings_resolve_to_bool),
        cmocka_unit_test(test_yaml_1_1_booleans_like_yes_and_on_stay_strings),
        cmocka_unit_test(test_yaml_decimal_hex_and_octal_resolve_to_int),
        cmocka_unit_test(test_yaml_int_too_big_for_int64_becomes_float),
        cmocka_unit_test(
            test_yaml_floats_including_inf_and_nan_resolve_to_float),
        cmocka_unit_test(test_yaml_quoted_scalars_are_always_strings),
        cmocka_unit_test(test_yaml_block_scalars_are_strings),
        cmocka_unit_test(test_yaml_core_tags_override_resolution),
        cmocka_unit_test(
            test_yaml_bad_core_tag_value_is_an_error_with_position),
        cmocka_unit_test(test_yaml_string_with_nul_escape_keeps_its_length),
        cmocka_unit_test(test_yaml_nodes_carry_line_and_column),
        cmocka_unit_test(test_yaml_multi_document_stream_gives_each_document),
        cmocka_unit_test(test_yaml_empty_document_is_a_null_root),
        cmocka_unit_test(test_yaml_empty_input_has_no_documents),
        cmocka_unit_test(test_yaml_anchor_and_alias_share_the_node),
        cmocka_unit_test(test_yaml_anchor_redefined_later_wins),
        cmocka_unit_test(test_yaml_alias_as_key_uses_the_scalar_text),
        cmocka_unit_test(test_yaml_undefined_alias_is_an_error),
        cmocka_unit_test(test_yaml_alias_inside_its_own_anchor_is_an_error),
        cmocka_unit_test(test_yaml_anchor_does_not_cross_documents),
        cmocka_unit_test(test_yaml_duplicate_key_is_an_error_naming_both_lines),
        cmocka_unit_test(test_yaml_duplicate_key_in_a_large_mapping_is_found),
        cmocka_unit_test(test_yaml_every_duplicate_key_in_a_file_is_reported),
        cmocka_unit_test(test_yaml_complex_key_is_an_error),
        cmocka_unit_test(
            test_yaml_syntax_error_reports_file_line_column_and_problem),
        cmocka_unit_test(test_yaml_bad_indentation_reports_its_line),
        cmocka_unit_test(test_yaml_invalid_utf8_reports_its_position),
        cmocka_unit_test(test_yaml_nesting_of_64_levels_is_accepted),
        cmocka_unit_test(test_yaml_nesting_beyond_64_levels_fails),
        cmocka_unit_test(test_yaml_alias_that_would_nest_too_deep_fails),
        cmocka_unit_test(test_yaml_billion_laughs_fails_on_the_node_limit),
        cmocka_unit_test(
            test_yaml_aliases_of_a_long_scalar_fail_on_the_byte_limit),
        cmocka_unit_test(test_yaml_scalar_longer_than_1_mib_fails),
        cmocka_unit_test(test_yaml_scalar_of_exactly_1_mib_is_accepted),
        cmocka_unit_test(test_input_larger_than_16_mib_is_refused),
        cmocka_unit_test(test_json_values_map_to_node_types),
        cmocka_unit_test(test_json_keeps_key_order_and_number_text),
        cmocka_unit_test(test_json_nodes_carry_line_and_column),
        cmocka_unit_test(test_json_string_escapes_do_not_shift_positions),
        cmocka_unit_test(test_json_string_with_nul_keeps_its_length),
        cmocka_unit_test(test_json_duplicate_key_is_an_error),
        cmocka_unit_test(test_json_syntax_error_reports_file_line_column),
        cmocka_unit_test(test_json_trailing_garbage_is_an_error),
        cmocka_unit_test(test_json_nesting_beyond_64_levels_fails),
        cmocka_unit_test(test_json_nesting_of_64_levels_is_accepted),
        cmocka_unit_test(test_json_more_than_a_million_nodes_fails),
        cmocka_unit_test(test_json_string_longer_than_1_mib_fails),
        cmocka_unit_test(test_format_detect_by_extension_and_first_byte),
        cmocka_unit_test(test_to_json_renders_compact_json_in_key_order),
        cmocka_unit_test(test_to_json_escapes_quotes_backslashes_and_controls),
        cmocka_unit_test(test_to_json_floats_keep_a_decimal_point),
        cmocka_unit_test(test_to_json_non_finite_floats_become_null),
        cmocka_unit_test(test_find_follows_keys_and_indexes),
        cmocka_unit_test(test_find_accepts_quoted_keys),
        cmocka_unit_test(test_find_missing_step_reports_deepest_existing_line),
        cmocka_unit_test(test_find_malformed_path_returns_null),
        cmocka_unit_test(test_node_int_accepts_integral_floats_only),
        cmocka_unit_test(test_accessors_accept_null),
        cmocka_unit_test(test_describe_names_type_and_value),
    };
    return cmocka_run_group_tests_name("manifest-node", tests, NULL, NULL);
}
