/*
 * test_cel.c - the rbac plugin's CEL compiler and evaluator on their own:
 * values and operators (CEL's semantics: overflow and division errors,
 * commutative error absorption in && and ||, cross-type numeric
 * comparison), the attributes read through an activation made of a
 * table, the config errors with their columns, what is refused, the
 * limits, and the rbac config reader.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "cel.h"
#include "rbac.h"

/* -- a request as a table ------------------------------------------------- */

typedef struct fake {
    const char *headers[8][2]; /* lower-case name, value; repeats allowed */
    const char *path, *method, *host, *scheme, *remote, *remote_port;
    const char *claims[8][3]; /* name, "s" or "j", value */
    int jwt;
} fake;

static int
f_header(void *ctx, const char *name, size_t len, gwf_view *out, char *sc,
         size_t size, size_t *used)
{
    fake *f = ctx;
    size_t o = 0;
    int n = 0;
    *used = 0;
    for (int i = 0; i < 8 && f->headers[i][0]; i++) {
        if (strlen(f->headers[i][0]) != len ||
            memcmp(f->headers[i][0], name, len) != 0)
            continue;
        size_t vl = strlen(f->headers[i][1]);
        if (o + vl + 1 > size)
            return -1;
        if (n++)
            sc[o++] = ',';
        memcpy(sc + o, f->headers[i][1], vl);
        o += vl;
    }
    if (!n)
        return 0;
    out->ptr = sc;
    out->len = o;
    *used = o;
    return 1;
}

static int
set(const char *s, gwf_view *out)
{
    if (!s)
        return 0;
    out->ptr = s;
    out->len = strlen(s);
    return 1;
}

static int
f_attr(void *ctx, cel_attr a, gwf_view *out)
{
    fake *f = ctx;
    switch (a) {
    case CEL_ATTR_PATH:
        return set(f->path, out);
    case CEL_ATTR_URL_PATH: {
        if (!set(f->path, out))
            return 0;
        const char *q = strchr(f->path, '?');
        if (q)
            out->len = (size_t)(q - f->path);
        return 1;
    }
    case CEL_ATTR_METHOD:
        return set(f->method, out);
    case CEL_ATTR_HOST:
        return set(f->host, out);
    case CEL_ATTR_SCHEME:
        return set(f->scheme, out);
    case CEL_ATTR_SOURCE_ADDRESS:
        return set(f->remote, out);
    case CEL_ATTR_SOURCE_PORT:
        return set(f->remote_port, out);
    default:
        return 0;
    }
}

static int
f_claim(void *ctx, const char *name, size_t len, gwf_value_type *type,
        gwf_view *out)
{
    fake *f = ctx;
    if (!f->jwt)
        return 0;
    if (!name)
        return set("provider", out);
    for (int i = 0; i < 8 && f->claims[i][0]; i++)
        if (strlen(f->claims[i][0]) == len &&
            memcmp(f->claims[i][0], name, len) == 0) {
            *type =
                f->claims[i][1][0] == 's' ? GWF_VALUE_STRING : GWF_VALUE_JSON;
            return set(f->claims[i][2], out);
        }
    return 0;
}

static fake req = {
    .headers = {{"x-role", "admin"},
                {"x-multi", "a"},
                {"x-multi", "b"},
                {"user-agent", "curl/8"}},
    .path = "/api/v1/items?limit=5",
    .method = "GET",
    .host = "example.com",
    .scheme = "https",
    .remote = "192.0.2.7",
    .remote_port = "40000",
    .claims = {{"email", "s", "dev2@kgateway.io"},
               {"exp", "j", "1700000000"},
               {"admin", "j", "true"},
               {"groups", "j", "[\"a\",\"b\"]"}},
    .jwt = 1,
};

static char scratch_buf[CEL_SCRATCH_SIZE];

static cel_result
eval_on(const char *src, fake *f, cel_value *value, size_t scratch_size)
{
    cel_program p;
    cel_error err;
    cel_activation act = {f_header, f_attr, f_claim, f};
    cel_scratch sc;
    cel_result r;

    if (cel_compile(src, strlen(src), &p, &err) != 0)
        fail_msg("compile %s: %s at %u:%u", src, err.msg, err.line, err.column);
    assert_int_equal(cel_scratch_init(&sc, scratch_size), 0);
    if (value) {
        *value = cel_eval_value(&p, &act, &sc);
        /* copy strings out of the scratch before it goes */
        if ((value->kind == CEL_STRING || value->kind == CEL_BYTES) &&
            value->v.s.len < sizeof(scratch_buf)) {
            memcpy(scratch_buf, value->v.s.ptr, value->v.s.len);
            value->v.s.ptr = scratch_buf;
        }
    }
    r = cel_eval(&p, &act, &sc, NULL);
    cel_scratch_free(&sc);
    cel_program_free(&p);
    return r;
}

static void
expect_true(const char *src)
{
    if (eval_on(src, &req, NULL, CEL_SCRATCH_SIZE) != CEL_RESULT_TRUE)
        fail_msg("expected true: %s", src);
}

static void
expect_false(const char *src)
{
    cel_value v;
    if (eval_on(src, &req, &v, CEL_SCRATCH_SIZE) != CEL_RESULT_FALSE ||
        v.kind != CEL_BOOL)
        fail_msg("expected false (not an error): %s", src);
}

static void
expect_error(const char *src, const char *msg)
{
    cel_value v;
    assert_int_equal(eval_on(src, &req, &v, CEL_SCRATCH_SIZE),
                     CEL_RESULT_FALSE);
    if (v.kind != CEL_ERROR || !strstr(v.v.s.ptr, msg))
        fail_msg("expected error \"%s\" from %s, got kind %d", msg, src,
                 (int)v.kind);
}

static void
expect_compile_error(const char *src, const char *msg, uint32_t column)
{
    cel_program p;
    cel_error err;
    if (cel_compile(src, strlen(src), &p, &err) == 0) {
        cel_program_free(&p);
        fail_msg("compiled, expected \"%s\": %s", msg, src);
    }
    if (!strstr(err.msg, msg) || err.column != column)
        fail_msg("%s: got \"%s\" at column %u, expected \"%s\" at %u", src,
                 err.msg, err.column, msg, column);
}

/* -- tests ---------------------------------------------------------------- */

static void
test_literals_of_every_kind_evaluate(void **state)
{
    (void)state;
    expect_true("1 == 1 && 0x10 == 16 && 7u == 7u && 1.5e1 == 15.0");
    expect_true("-9223372036854775808 < 0 && 18446744073709551615u > 0u");
    expect_true("'a\\x41\\u00e9\\101' == \"aA\\u00e9A\"");
    expect_true("r'a\\n' == 'a\\\\n' && size(r'\\d') == 2");
    expect_true("'''x'y''' == \"x'y\" && \"\"\"a\nb\"\"\" == 'a\\nb'");
    expect_true("b'\\xff\\x00' == b'\\377\\000' && size(b'\\xff') == 1");
    expect_true("null == null && true != false");
    expect_true("[1, 'a', [2]] == [1, 'a', [2]] && {'a': 1}['a'] == 1");
    expect_true("{'a': {'b': 2}}.a.b == 2 && has({'a': 1}.a) && "
                "!has({'a': 1}.b)");
}

static void
test_int_arithmetic_overflow_is_an_error(void **state)
{
    (void)state;
    expect_true("9223372036854775806 + 1 == 9223372036854775807");
    expect_error("9223372036854775807 + 1 == 0", "overflow");
    expect_error("-9223372036854775808 - 1 == 0", "overflow");
    expect_error("-9223372036854775808 / -1 == 0", "overflow");
    expect_error("-(-9223372036854775808) == 0", "overflow");
    expect_error("4611686018427387904 * 2 == 0", "overflow");
    expect_error("0u - 1u == 0u", "overflow");
    expect_error("1 / 0 == 0", "division by zero");
    expect_error("1 % 0 == 0", "modulus by zero");
    expect_true("7 / 2 == 3 && -7 / 2 == -3 && -7 % 3 == -1 && 7u % 4u == 3u");
    expect_true("1.0 / 0.0 > 1e308");
}

static void
test_logic_absorbs_errors_commutatively(void **state)
{
    (void)state;
    expect_false("false && 1 / 0 == 1");
    expect_false("1 / 0 == 1 && false");
    expect_true("true || 1 / 0 == 1");
    expect_true("1 / 0 == 1 || true");
    expect_error("1 / 0 == 1 && true", "division by zero");
    expect_error("false || 1 / 0 == 1", "division by zero");
    expect_true("(1 / 0 == 1 ? false : false) || true");
    expect_error("1 / 0 == 1 ? true : true", "division by zero");
}

static void
test_numbers_compare_across_types_and_kinds_are_unequal(void **state)
{
    (void)state;
    expect_true("1 == 1.0 && 1u == 1 && 2 > 1.5 && 1u < 2 && -1 < 0u");
    expect_true("9223372036854775807 < 9223372036854775808.0");
    expect_false("1 == 'a'");
    expect_false("[1] == ['1']");
    expect_true("'abc' < 'abd' && b'a' < b'b' && false < true");
    expect_true("1 in [3, 2, 1] && !(4 in [1]) && 'k' in {'k': 1}");
}

static void
test_string_functions_and_conversions(void **state)
{
    (void)state;
    expect_true("'hello'.startsWith('he') && 'hello'.endsWith('lo') && "
                "'hello'.contains('ll') && !'hello'.contains('x')");
    expect_true("'abc123'.matches('[0-9]+$') && !'abc'.matches('^b') && "
                "matches('xyz', 'y')");
    expect_true("size('h\\u00e9') == 2 && size(b'h\\xc3\\xa9') == 3 && "
                "size([1, 2]) == 2 && size({'a': 1}) == 1 && 'ab'.size() == 2");
    expect_true("int('-42') == -42 && uint('42') == 42u && double('1.5') == "
                "1.5 && int(2.9) == 2 && int(-2.9) == -2 && uint(3) == 3u");
    expect_true("string(42) == '42' && string(1.5) == '1.5' && string(1e21) "
                "== '1e+21' && string(0.0001) == '0.0001' && string(true) == "
                "'true' && string(b'ab') == 'ab' && bytes('ab') == b'ab'");
    expect_true("bool('true') && !bool('f') && double(1u) == 1.0");
    expect_error("int('1x') == 1", "cannot convert");
    expect_error("int(1e19) == 1", "range");
    expect_error("uint(-1) == 1u", "range");
    expect_error("string(b'\\xff') == ''", "UTF-8");
    expect_true("'ab' + 'cd' == 'abcd' && b'a' + b'b' == b'ab'");
}

static void
test_request_attributes_read_through_the_activation(void **state)
{
    (void)state;
    expect_true("request.path == '/api/v1/items?limit=5' && "
                "request.url_path == '/api/v1/items'");
    expect_true("request.method == 'GET' && request.host == 'example.com' && "
                "request.scheme == 'https'");
    expect_true("request.headers['x-role'] == 'admin' && "
                "'x-role' in request.headers && "
                "!('x-none' in request.headers)");
    expect_true("request.headers['x-multi'] == 'a,b'");
    expect_true("request.headers['user-agent'].startsWith('curl/')");
    expect_true("source.address == '192.0.2.7' && source.port == 40000");
    expect_error("request.headers['x-none'] == 'a'", "no such key");
}

static void
test_jwt_payload_reads_the_jwt_auth_claims(void **state)
{
    (void)state;
    const char *p = "metadata.filter_metadata['envoy.filters.http.jwt_authn']"
                    "['payload']";
    char src[512];
    snprintf(src, sizeof(src), "%s['email'] == 'dev2@kgateway.io'", p);
    expect_true(src);
    snprintf(src, sizeof(src), "%s.exp > 1600000000 && %s.admin", p, p);
    expect_true(src);
    snprintf(src, sizeof(src), "has(%s.email) && !has(%s.nope)", p, p);
    expect_true(src);
    snprintf(src, sizeof(src), "'a' in %s.groups", p);
    expect_error(src, "JSON array");
    snprintf(src, sizeof(src), "%s['email'] == 'dev1@kgateway.io'", p);
    expect_false(src);

    fake anon = req;
    anon.jwt = 0;
    cel_value v;
    snprintf(src, sizeof(src), "%s['email'] == 'dev2@kgateway.io'", p);
    assert_int_equal(eval_on(src, &anon, &v, CEL_SCRATCH_SIZE),
                     CEL_RESULT_FALSE);
    assert_int_equal(v.kind, CEL_ERROR);
}

static void
test_syntax_errors_name_their_column(void **state)
{
    (void)state;
    expect_compile_error("request.path ==", "unexpected end", 16);
    expect_compile_error("1 = 1", "did you mean '=='", 3);
    expect_compile_error("'abc", "unterminated string", 1);
    expect_compile_error("'\\q'", "invalid escape", 2);
    expect_compile_error("(1 + 2", "expected ')'", 7);
    expect_compile_error("1 + 2 3", "unexpected token after", 7);
    expect_compile_error("a.b{c: 1}", "message construction", 4);
    expect_compile_error("if", "reserved", 1);
    expect_compile_error("99999999999999999999 > 0", "out of range", 1);
    expect_compile_error("9223372036854775808 > 0", "out of range", 1);
}

static void
test_unsupported_constructs_are_refused_at_compile_time(void **state)
{
    (void)state;
    expect_compile_error("request.cookies == 'a'", "not one gwf provides", 1);
    expect_compile_error("x == 1", "undeclared reference to 'x'", 1);
    expect_compile_error("connection.mtls", "not one gwf provides", 1);
    expect_compile_error("'a'.lowerAscii() == 'a'", "'lowerAscii' is not", 5);
    expect_compile_error("[1].all(x, x > 0)", "'all' is not supported", 5);
    expect_compile_error("request.path.matches(request.host)",
                         "string literal pattern", 22);
    expect_compile_error("'a'.matches('(')", "invalid pattern", 13);
    expect_compile_error("request.headers['X-Role'] == 'a'", "lower-case", 17);
    expect_compile_error("metadata.filter_metadata['envoy.ext_authz'].a",
                         "only ['envoy.filters.http.jwt_authn']", 26);
    expect_compile_error("request.headers == {}", "read by key", 1);
    expect_compile_error("size(request.headers) > 0", "read by key", 6);
    expect_compile_error("request.headers in [{}]", "read by key", 1);
    expect_compile_error("!request.headers", "no matching overload", 2);
    expect_compile_error("[1] + [2] == [1, 2]", "list concatenation", 5);
    expect_compile_error("1 + 'a' == 1", "no matching overload", 3);
    expect_compile_error("request.path < 1", "no matching overload", 14);
    expect_compile_error("!1", "no matching overload", 2);
    expect_compile_error("'a'.startsWith(1)", "no matching overload", 5);
}

static void
test_nesting_and_length_are_bounded(void **state)
{
    (void)state;
    char deep[1024];
    size_t o = 0;
    for (int i = 0; i < 200; i++)
        deep[o++] = '(';
    deep[o++] = '1';
    for (int i = 0; i < 200; i++)
        deep[o++] = ')';
    deep[o] = '\0';
    expect_compile_error(deep, "nests too deeply", 101);

    char chain[4096] = "1";
    for (int i = 0; i < 150; i++)
        strcat(chain, " + 1");
    cel_program p;
    cel_error err;
    assert_int_not_equal(cel_compile(chain, strlen(chain), &p, &err), 0);
    assert_non_null(strstr(err.msg, "deeper than"));

    char *big = malloc(CEL_MAX_EXPR_LEN + 2);
    memset(big, ' ', CEL_MAX_EXPR_LEN + 1);
    big[CEL_MAX_EXPR_LEN + 1] = '\0';
    big[0] = '1';
    assert_int_not_equal(cel_compile(big, strlen(big), &p, &err), 0);
    assert_non_null(strstr(err.msg, "longer than"));
    free(big);
}

static void
test_scratch_exhaustion_is_a_limit_not_a_false(void **state)
{
    (void)state;
    assert_int_equal(eval_on("request.headers['x-role'] + 'xxxxxxxxxxxx' == "
                             "'a' || false",
                             &req, NULL, 8),
                     CEL_RESULT_LIMIT);
    assert_int_equal(
        eval_on("request.headers['x-multi'] == 'a,b'", &req, NULL, 2),
        CEL_RESULT_LIMIT);
}

/* Evaluating the e2e case's expression many times gives the same answer
 * and leaves the scratch as it found it (nothing accumulates); the time
 * per evaluation is printed for the record. */
static void
test_repeated_evaluation_is_stable_and_its_cost_is_printed(void **state)
{
    (void)state;
    const char *src = "metadata.filter_metadata['envoy.filters.http.jwt_authn']"
                      "['payload']['email'] == 'dev2@kgateway.io' && "
                      "request.headers['x-role'] == 'admin' && "
                      "request.url_path.startsWith('/api/')";
    cel_program p;
    cel_error err;
    cel_activation act = {f_header, f_attr, f_claim, &req};
    cel_scratch sc;
    struct timespec a, b;
    const int n = 200000;

    assert_int_equal(cel_compile(src, strlen(src), &p, &err), 0);
    assert_int_equal(cel_scratch_init(&sc, CEL_SCRATCH_SIZE), 0);
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < n; i++)
        if (cel_eval(&p, &act, &sc, NULL) != CEL_RESULT_TRUE)
            fail_msg("evaluation %d was not true", i);
    clock_gettime(CLOCK_MONOTONIC, &b);
    assert_true(sc.used <= 16); /* only x-role, copied by the table */
    print_message("e2e-style expression: %.0f ns per evaluation\n",
                  ((double)(b.tv_sec - a.tv_sec) * 1e9 +
                   (double)(b.tv_nsec - a.tv_nsec)) /
                      n);
    cel_scratch_free(&sc);
    cel_program_free(&p);
}

/* -- the config reader --------------------------------------------------- */

typedef struct captured {
    char field[256];
    char msg[1024];
    int calls;
} captured;

static captured cap;

static void
cap_error(gwf_instance *inst, const char *field, const char *msg, size_t len)
{
    (void)inst;
    if (cap.calls++ == 0) {
        snprintf(cap.field, sizeof(cap.field), "%s", field ? field : "");
        snprintf(cap.msg, sizeof(cap.msg), "%.*s", (int)len, msg);
    }
}

static gwf_host fake_host;
static gwf_instance fake_inst = {&fake_host};

static gwf_status
parse_config(const char *json, rbac_config **cfg)
{
    memset(&cap, 0, sizeof(cap));
    fake_host.size = sizeof(fake_host);
    fake_host.config_error = cap_error;
    return rbac_config_parse(&fake_inst, (gwf_view){json, strlen(json)}, cfg);
}

static void
test_config_error_names_the_expression_field_and_column(void **state)
{
    rbac_config *cfg;
    (void)state;
    assert_int_equal(
        parse_config("{\"policy\":{\"matchExpressions\":[\"true\",\"true\","
                     "\"request.path = '/'\"]}}",
                     &cfg),
        GWF_ERR_BAD_ARGUMENT);
    assert_string_equal(cap.field, "policy.matchExpressions[2]");
    assert_non_null(strstr(cap.msg, "at column 14 of \"request.path = '/'\""));
}

static void
test_config_refuses_non_bool_expressions_and_bad_actions(void **state)
{
    rbac_config *cfg;
    (void)state;
    assert_int_equal(
        parse_config("{\"policy\":{\"matchExpressions\":[\"request.path\"]}}",
                     &cfg),
        GWF_ERR_BAD_ARGUMENT);
    assert_string_equal(cap.field, "policy.matchExpressions[0]");
    assert_non_null(strstr(cap.msg, "type bool"));
    assert_int_equal(parse_config("{\"action\":\"deny\",\"policy\":{"
                                  "\"matchExpressions\":[\"true\"]}}",
                                  &cfg),
                     GWF_ERR_BAD_ARGUMENT);
    assert_int_equal(
        parse_config("{\"policy\":{\"matchExpressions\":[]}}", &cfg),
        GWF_ERR_BAD_ARGUMENT);
    assert_int_equal(parse_config("{\"policy\":{}}", &cfg),
                     GWF_ERR_BAD_ARGUMENT);
}

static void
test_config_policy_matches_when_any_expression_is_true(void **state)
{
    rbac_config *cfg;
    cel_activation act = {f_header, f_attr, f_claim, &req};
    cel_scratch sc;
    (void)state;
    assert_int_equal(
        parse_config("{\"action\":\"Deny\",\"policy\":{\"matchExpressions\":["
                     "\"request.method == 'POST'\","
                     "\"request.headers['x-none'] == 'a'\","
                     "\"request.headers['x-role'] == 'admin'\"]}}",
                     &cfg),
        GWF_OK);
    assert_true(cfg->deny);
    assert_int_equal(cel_scratch_init(&sc, CEL_SCRATCH_SIZE), 0);
    assert_int_equal(rbac_match(cfg, &act, &sc), CEL_RESULT_TRUE);
    cel_scratch_free(&sc);
    rbac_config_free(cfg);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_literals_of_every_kind_evaluate),
        cmocka_unit_test(test_int_arithmetic_overflow_is_an_error),
        cmocka_unit_test(test_logic_absorbs_errors_commutatively),
        cmocka_unit_test(
            test_numbers_compare_across_types_and_kinds_are_unequal),
        cmocka_unit_test(test_string_functions_and_conversions),
        cmocka_unit_test(test_request_attributes_read_through_the_activation),
        cmocka_unit_test(test_jwt_payload_reads_the_jwt_auth_claims),
        cmocka_unit_test(test_syntax_errors_name_their_column),
        cmocka_unit_test(
            test_unsupported_constructs_are_refused_at_compile_time),
        cmocka_unit_test(test_nesting_and_length_are_bounded),
        cmocka_unit_test(test_scratch_exhaustion_is_a_limit_not_a_false),
        cmocka_unit_test(
            test_repeated_evaluation_is_stable_and_its_cost_is_printed),
        cmocka_unit_test(
            test_config_error_names_the_expression_field_and_column),
        cmocka_unit_test(
            test_config_refuses_non_bool_expressions_and_bad_actions),
        cmocka_unit_test(
            test_config_policy_matches_when_any_expression_is_true),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
