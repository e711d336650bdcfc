/*
 * test_cel.c - the rbac plugin's CEL compiler and evaluator on their own:
 * values and operators (CEL's semantics: overflow and division errors,
 * commutative error absorption in && and ||, cross-type numeric
 * comparison), macros and their error absorption, list concatenation,
 * type() and dyn(), timestamps and durations to their range ends,
 * request.time, JSON array and object claims, the attributes read
 * through an activation made of a table, the config errors with their
 * columns, what is refused, the limits (big claims, big results, nested
 * comprehensions past the step bound), and the rbac config reader.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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
    int64_t now_ns; /* request.time; 0: unknown */
    /* The host fails (no memory) to read source.port, the header x-role
     * and the claim email: the activation answers -1 for them. */
    int host_fails;
} fake;

static int
f_header(void *ctx, const char *name, size_t len, gwf_view *out, char *sc,
         size_t size, size_t *used)
{
    fake *f = ctx;
    size_t o = 0;
    int n = 0;
    *used = 0;
    if (f->host_fails && len == 6 && strncasecmp(name, "x-role", 6) == 0)
        return -1;
    for (int i = 0; i < 8 && f->headers[i][0]; i++) {
        /* case-insensitive, as the host's header_get */
        if (strlen(f->headers[i][0]) != len ||
            strncasecmp(f->headers[i][0], name, len) != 0)
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
        return f->host_fails ? -1 : set(f->remote_port, out);
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
    if (f->host_fails && len == 5 && memcmp(name, "email", 5) == 0)
        return -1;
    for (int i = 0; i < 8 && f->claims[i][0]; i++)
        if (strlen(f->claims[i][0]) == len &&
            memcmp(f->claims[i][0], name, len) == 0) {
            *type =
                f->claims[i][1][0] == 's' ? GWF_VALUE_STRING : GWF_VALUE_JSON;
            return set(f->claims[i][2], out);
        }
    return 0;
}

static int
f_time(void *ctx, int64_t *ns)
{
    fake *f = ctx;
    if (!f->now_ns)
        return 0;
    *ns = f->now_ns;
    return 1;
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
               {"groups", "j", "[\"a\",\"b\"]"},
               {"org", "j", "{\"name\":\"k\\u00e9\",\"teams\":[\"x\",1.5]}"},
               {"bad", "j", "[\"a\","}},
    .jwt = 1,
    .now_ns = 1234567890123456789,
};

static char scratch_buf[CEL_SCRATCH_SIZE];

static cel_result
eval_on(const char *src, fake *f, cel_value *value, size_t scratch_size)
{
    cel_program p;
    cel_error err;
    cel_activation act = {f_header, f_attr, f_claim, f, f_time};
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
    /* an integer meets a double as a double (CEL's conformance cases
     * not_lt_dyn_int_big_lossy_double and lt_dyn_int_big_lossy_double) */
    expect_false("9223372036854775807 < 9223372036854775808.0");
    expect_true("9223372036854775807 < 9223372036854777857.0");
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

/* Envoy looks a header name up lower-cased: a name written in any case,
 * constant or computed, reads the header (a Deny policy on
 * request.headers['X-Role'] must not be bypassed by its spelling). */
static void
test_header_names_match_in_any_case(void **state)
{
    (void)state;
    expect_true("request.headers['X-Role'] == 'admin' && "
                "'X-ROLE' in request.headers && has(request.headers.x_none) "
                "== false");
    expect_true("request.headers['X-' + 'Role'] == 'admin'");
    expect_true("request.headers['USER-agent'].startsWith('curl/')");
}

/* A value the host could not read (out of memory) is not an absent one:
 * no answer can be told from it, so the evaluation is a limit (rbac
 * refuses the request for either action), negated or compared for
 * inequality too; only an operand that decides without it (true ||
 * ...) gives an answer. */
static void
test_values_the_host_cannot_read_fail_closed(void **state)
{
    static const char *const limited[] = {
        "source.port == 40000",
        "source.port != 1234",
        "!(int(source.port) == 1)",
        "false || source.port == 1",
        "request.headers['x-role'] == 'admin'",
        "!('x-role' in request.headers)",
        "metadata.filter_metadata['envoy.filters.http.jwt_authn']"
        "['payload']['email'] == 'x'",
    };
    fake f = req;

    (void)state;
    f.host_fails = 1;
    for (size_t i = 0; i < sizeof(limited) / sizeof(limited[0]); i++)
        if (eval_on(limited[i], &f, NULL, CEL_SCRATCH_SIZE) != CEL_RESULT_LIMIT)
            fail_msg("expected a limit: %s", limited[i]);
    assert_int_equal(
        eval_on("true || source.port == 1", &f, NULL, CEL_SCRATCH_SIZE),
        CEL_RESULT_TRUE);
    /* The values the host did read still answer. */
    assert_int_equal(
        eval_on("request.method == 'GET'", &f, NULL, CEL_SCRATCH_SIZE),
        CEL_RESULT_TRUE);
    f.host_fails = 0;
    assert_int_equal(
        eval_on("source.port == 40000", &f, NULL, CEL_SCRATCH_SIZE),
        CEL_RESULT_TRUE);
}

/* -- the activation on a host (activation.c) ------------------------------
 *
 * A host whose answers for the header x-role, the attribute source port
 * and the claim email are `failing_status`; the method is GET and every
 * other name is absent. */

static gwf_status failing_status;

static gwf_status
fh_header_get(gwf_stream *s, gwf_message_kind which, const char *name,
              size_t len, size_t index, gwf_view *value)
{
    (void)s;
    (void)which;
    if (len == 7 && memcmp(name, ":method", 7) == 0 && index == 0) {
        *value = (gwf_view){"GET", 3};
        return GWF_OK;
    }
    if (len == 6 && strncasecmp(name, "x-role", 6) == 0)
        return failing_status;
    return GWF_ERR_NOT_FOUND;
}

static gwf_status
fh_attribute(gwf_stream *s, gwf_attribute attr, gwf_view *value)
{
    (void)s;
    (void)value;
    return attr == GWF_ATTR_REMOTE_PORT ? failing_status : GWF_ERR_NOT_FOUND;
}

static gwf_status
fh_value_get(gwf_stream *s, const char *key, size_t len, gwf_value_type *type,
             gwf_view *data)
{
    (void)s;
    if (len == 17 && memcmp(key, "jwt_auth.provider", 17) == 0) {
        *type = GWF_VALUE_STRING;
        *data = (gwf_view){"idp", 3};
        return GWF_OK;
    }
    if (len == 20 && memcmp(key, "jwt_auth.claim.email", 20) == 0)
        return failing_status;
    return GWF_ERR_NOT_FOUND;
}

static cel_result
eval_on_host(const char *src)
{
    static const gwf_host host = {.size = sizeof(gwf_host),
                                  .header_get = fh_header_get,
                                  .attribute = fh_attribute,
                                  .value_get = fh_value_get};
    gwf_stream s = {&host};
    rbac_request rq = {&s, NULL};
    cel_activation act;
    cel_program p;
    cel_error err;
    cel_scratch sc;
    cel_result r;

    rbac_activation(&act, &rq);
    if (cel_compile(src, strlen(src), &p, &err) != 0)
        fail_msg("compile %s: %s", src, err.msg);
    assert_int_equal(cel_scratch_init(&sc, CEL_SCRATCH_SIZE), 0);
    r = cel_eval(&p, &act, &sc, NULL);
    cel_scratch_free(&sc);
    cel_program_free(&p);
    return r;
}

/* What the host answers decides: absent (not found, or a name no header
 * can have) makes the expression false, as in Envoy; the host out of
 * memory is no answer at all, and rbac fails closed on it. */
static void
test_host_failures_are_not_absent_values(void **state)
{
    static const char *const reads[] = {
        "request.headers['x-role'] == 'admin'",
        "source.port == 40000",
        "metadata.filter_metadata['envoy.filters.http.jwt_authn']"
        "['payload']['email'] == 'a@b'",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++) {
        failing_status = GWF_ERR_NOT_FOUND;
        assert_int_equal(eval_on_host(reads[i]), CEL_RESULT_FALSE);
        failing_status = GWF_ERR_NO_MEMORY;
        assert_int_equal(eval_on_host(reads[i]), CEL_RESULT_LIMIT);
        failing_status = GWF_ERR_INTERNAL;
        assert_int_equal(eval_on_host(reads[i]), CEL_RESULT_LIMIT);
    }
    failing_status = GWF_ERR_BAD_ARGUMENT;
    assert_int_equal(eval_on_host(reads[0]), CEL_RESULT_FALSE);
    failing_status = GWF_ERR_NO_MEMORY;
    assert_int_equal(eval_on_host("request.method == 'GET'"), CEL_RESULT_TRUE);
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
    expect_true(src);
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
    expect_compile_error("[1].all(x > 0)", "all() takes a variable name", 5);
    expect_compile_error("[1].all(x.y, true)", "all() takes a variable name",
                         5);
    expect_compile_error("[1].exists(x, x) && x > 0",
                         "undeclared reference to 'x'", 21);
    expect_compile_error("request.headers.exists(h, true)", "not iterated", 1);
    expect_compile_error("request.path.matches(request.host)",
                         "string literal pattern", 22);
    expect_compile_error("'a'.matches('(')", "invalid pattern", 13);
    expect_compile_error("metadata.filter_metadata['envoy.ext_authz'].a",
                         "only ['envoy.filters.http.jwt_authn']", 26);
    expect_compile_error("request.headers == {}", "read by key", 1);
    expect_compile_error("size(request.headers) > 0", "read by key", 6);
    expect_compile_error("request.headers in [{}]", "read by key", 1);
    expect_compile_error("!request.headers", "no matching overload", 2);
    expect_compile_error("[1] + 1 == [1, 2]", "no matching overload", 5);
    expect_compile_error("timestamp(1.5) < request.time",
                         "no matching overload for timestamp()", 1);
    expect_compile_error("duration('1s') + 1 == 1", "no matching overload", 16);
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
test_macros_over_lists_and_map_keys(void **state)
{
    (void)state;
    expect_true("[1, 2, 3].all(x, x > 0)");
    expect_false("[1, 2, 3].all(x, x > 1)");
    expect_true("[1, 2, 3].exists(x, x == 2)");
    expect_false("[].exists(x, x == 2)");
    expect_true("[].all(x, false)");
    expect_true("[1, 2, 3].exists_one(x, x > 2)");
    expect_false("[1, 2, 3].exists_one(x, x > 1)");
    expect_true("[1, 2, 3].map(x, x * 2) == [2, 4, 6]");
    expect_true("[1, 2, 3].map(x, x > 1, x * 10) == [20, 30]");
    expect_true("[1, 2, 3, 4].filter(x, x % 2 == 0) == [2, 4]");
    expect_true("{'a': 1, 'b': 2}.all(k, k in ['a', 'b'])");
    expect_true("{'a': 1, 'b': 2}.map(k, k + '!') == ['a!', 'b!']");
    expect_true("{'a': 1, 'b': 2}.filter(k, k == 'b') == ['b']");
    /* nesting, shadowing, the variable's scope */
    expect_true("[[1, 2], [3]].all(l, l.all(x, x > 0))");
    expect_true("[1, 2].exists(x, [3].exists(x, x == 3))");
    expect_true("[1, 2].map(x, [x, x * 10]) == [[1, 10], [2, 20]]");
    expect_true("request.headers['x-multi'].startsWith('a') && "
                "['GET', 'POST'].exists(m, m == request.method)");
}

static void
test_macros_absorb_errors_as_and_and_or_do(void **state)
{
    (void)state;
    /* exists is ||: a true item wins over an error, before or after */
    expect_true("[0, 1].exists(x, 1 / x > 0)");
    expect_true("[1, 0].exists(x, 1 / x > 0)");
    expect_error("[0, 2].exists(x, 1 / x > 1)", "division by zero");
    /* all is &&: a false item wins over an error */
    expect_false("[0, 2].all(x, 1 / x > 1)");
    expect_error("[0, 1].all(x, 1 / x == 1)", "division by zero");
    /* exists_one, map, filter: an error is the result */
    expect_error("[0, 1].exists_one(x, 1 / x == 1)", "division by zero");
    expect_error("[1, 0].map(x, 1 / x)", "division by zero");
    expect_error("[1, 0].filter(x, 1 / x == 1)", "division by zero");
    expect_error("[1, 'a'].all(x, x)", "not a bool");
}

static void
test_lists_concatenate_and_size(void **state)
{
    (void)state;
    expect_true("[1, 2] + [3] == [1, 2, 3]");
    expect_true("[] + [] == []");
    expect_true("size([1, 2] + [request.method]) == 3");
    expect_true("request.method in ['PUT'] + ['GET']");
    expect_true("size({'a': 1, 'b': 2}) == 2 && {'a': 1}.size() == 1");
    expect_true("'b' in {'a': 1, 'b': 2} && !('c' in {'a': 1})");
    expect_true("'ab' + 'c' == 'abc'");
    expect_true("[request.method, request.host][1] == 'example.com'");
    expect_true("{request.method: 1}['GET'] == 1");
    expect_error("{request.method: 1, 'GET': 2}", "repeated key");
}

static void
test_type_and_dyn(void **state)
{
    (void)state;
    expect_true("type(1) == int && type('a') == string && type(1u) == uint");
    expect_true("type(1.5) == double && type(true) == bool");
    expect_true("type(b'a') == bytes && type(null) == null_type");
    expect_true("type([]) == list && type({}) == map && type(int) == type");
    expect_true("type(request.path) == string");
    expect_true("type(timestamp(0)) == google.protobuf.Timestamp");
    expect_true("type(duration('1s')) == google.protobuf.Duration");
    expect_false("type(1) == string");
    expect_true("dyn(1) == 1 && dyn('a') + 'b' == 'ab'");
    expect_true("type(metadata.filter_metadata['envoy.filters.http.jwt_authn']"
                "['payload']['groups']) == list");
    expect_compile_error("google.protobuf.Any == int",
                         "type 'google.protobuf.Any' is not supported", 17);
}

static void
test_timestamps_and_durations_parse_compare_and_add(void **state)
{
    (void)state;
    expect_true("timestamp('2009-02-13T23:31:30Z') == timestamp(1234567890)");
    expect_true("timestamp('2009-02-14T00:31:30+01:00') == "
                "timestamp('2009-02-13T23:31:30Z')");
    expect_true("timestamp('2009-02-13T18:01:30-05:30') == "
                "timestamp('2009-02-13T23:31:30Z')");
    expect_true("duration('1h2m3.5s') == duration('3723s') + "
                "duration('500ms')");
    expect_true("duration('-1.5h') == duration('-5400s')");
    expect_true("duration('1us') == duration('1000ns')");
    expect_true("string(duration('1h2m3.5s')) == '3723.5s'");
    expect_true("string(timestamp('2009-02-13T23:31:30.120Z')) == "
                "'2009-02-13T23:31:30.12Z'");
    expect_true("timestamp('2009-02-13T23:31:30Z') - duration('30s') < "
                "timestamp('2009-02-13T23:31:30Z')");
    expect_true("timestamp('2009-02-13T23:31:30Z') - "
                "timestamp('2009-02-13T23:30:00Z') == duration('90s')");
    expect_true("duration('1s') - duration('1.5s') == duration('-500ms')");
    expect_true("int(timestamp('1970-01-01T00:00:01Z')) == 1");
    expect_error("timestamp('2009-02-30T00:00:00Z')", "RFC 3339");
    expect_error("timestamp('2009-02-13 23:31:30Z')", "RFC 3339");
    expect_error("duration('1d')", "duration");
    expect_error("duration('')", "duration");
    expect_error("duration('1.s.')", "duration");
}

static void
test_time_range_ends_are_errors_not_wraps(void **state)
{
    (void)state;
    expect_true("timestamp('0001-01-01T00:00:00Z') == "
                "timestamp(-62135596800)");
    expect_true("timestamp('9999-12-31T23:59:59.999999999Z').getFullYear() "
                "== 9999");
    expect_true("timestamp('0001-01-01T00:00:00Z').getFullYear() == 1");
    expect_true("timestamp('0001-01-01T00:00:00Z').getDayOfWeek() == 1");
    expect_error("timestamp('0001-01-01T00:00:00Z') - duration('1ns')",
                 "out of range");
    expect_error("timestamp('9999-12-31T23:59:59.999999999Z') + "
                 "duration('1ns')",
                 "out of range");
    expect_error("timestamp('0001-01-01T00:00:00+00:01')", "RFC 3339");
    expect_error("timestamp(-62135596801)", "out of range");
    expect_error("timestamp(253402300800)", "out of range");
    /* a duration is one int64 of nanoseconds (about 292 years): the
     * whole timestamp range is not one, nor is 10,000 years */
    expect_error("timestamp('9999-12-31T23:59:59Z') - "
                 "timestamp('0001-01-01T00:00:00Z')",
                 "out of range");
    expect_error("duration('87660000h')", "duration");
    expect_error("duration('-315576000000s')", "duration");
    expect_true("duration('2562047h') == duration('9223369200s')");
    expect_true("duration('9223372036854775807ns') == "
                "duration('9223372036.854775807s')");
    expect_true("duration('-9223372036854775808ns') < duration('0')");
    expect_error("duration('9223372036854775808ns')", "duration");
    expect_error("duration('2562047h') + duration('1h')", "out of range");
    expect_error("duration('-2562047h') - duration('1h')", "out of range");
    expect_error("timestamp('2009-02-13T23:31:30Z') - "
                 "timestamp('1700-01-01T00:00:00Z')",
                 "out of range");
    expect_error("duration('99999999999999999999s')", "duration");
    expect_error("duration('9223372036854775807h')", "duration");
}

static void
test_timestamp_accessors_take_fixed_offsets(void **state)
{
    (void)state;
    const char *t = "timestamp('2009-02-13T23:31:30.123Z')";
    char src[256];
    static const char *const cases[][2] = {
        {"getFullYear()", "2009"},
        {"getMonth()", "1"},
        {"getDate()", "13"},
        {"getDayOfMonth()", "12"},
        {"getDayOfWeek()", "5"},
        {"getDayOfYear()", "43"},
        {"getHours()", "23"},
        {"getMinutes()", "31"},
        {"getSeconds()", "30"},
        {"getMilliseconds()", "123"},
        {"getDate('+05:30')", "14"},
        {"getHours('+05:30')", "5"},
        {"getMinutes('+05:30')", "1"},
        {"getHours('-08:00')", "15"},
        {"getDayOfWeek('+01:00')", "6"},
        {"getHours('UTC')", "23"},
        {"getHours('02:00')", "1"},
        {"getFullYear('-09:30')", "2009"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(src, sizeof(src), "%s.%s == %s", t, cases[i][0], cases[i][1]);
        expect_true(src);
    }
    expect_true("duration('3730s').getMinutes() == 62 && "
                "duration('1.25s').getMilliseconds() == 250");
    expect_true("timestamp('2009-02-13T23:31:30Z').getHours("
                "request.method == 'POST' ? 'UTC' : '+01:00') == 0");
    expect_compile_error("request.time.getHours('Europe/Paris') == 1",
                         "time zone 'Europe/Paris' is not supported", 23);
    expect_compile_error("request.time.getHours(1) == 1",
                         "a time zone is a string", 23);
}

static void
test_request_time_is_the_activation_time(void **state)
{
    (void)state;
    expect_true("request.time == timestamp('2009-02-13T23:31:30.123456789Z')");
    expect_true("request.time > timestamp('2000-01-01T00:00:00Z') && "
                "request.time.getFullYear() == 2009");
    fake nt = req;
    nt.now_ns = 0;
    cel_value v;
    assert_int_equal(
        eval_on("request.time > timestamp(0)", &nt, &v, CEL_SCRATCH_SIZE),
        CEL_RESULT_FALSE);
    assert_int_equal(v.kind, CEL_ERROR);
}

static void
test_jwt_array_and_object_claims_are_lists_and_maps(void **state)
{
    (void)state;
    const char *p = "metadata.filter_metadata['envoy.filters.http.jwt_authn']"
                    "['payload']";
    char src[512];
    snprintf(src, sizeof(src), "'b' in %s['groups']", p);
    expect_true(src);
    snprintf(src, sizeof(src), "%s['groups'].exists(g, g == 'a')", p);
    expect_true(src);
    snprintf(src, sizeof(src), "%s['groups'].exists(g, g == 'admins')", p);
    expect_false(src);
    snprintf(src, sizeof(src), "size(%s.groups) == 2 && %s.groups[1] == 'b'", p,
             p);
    expect_true(src);
    snprintf(src, sizeof(src),
             "%s.org.name == 'k\u00e9' && 1.5 in %s.org.teams && "
             "%s.org.teams[0] == 'x' && 'name' in %s.org",
             p, p, p, p);
    expect_true(src);
    snprintf(src, sizeof(src), "'a' in %s.bad", p);
    expect_error(src, "not valid JSON");
}

/* A JSON claim or a map() result too big for the worker's scratch, or
 * comprehensions that multiply past the step bound, are limits: the
 * request is refused, nothing is read or written out of bounds. */
static void
test_big_comprehensions_hit_a_limit(void **state)
{
    (void)state;
    static char big[40000];
    size_t o = 0;
    big[o++] = '[';
    for (int i = 0; i < 5000; i++)
        o += (size_t)snprintf(big + o, sizeof(big) - o, "%s\"g%d\"",
                              i ? "," : "", i);
    big[o++] = ']';
    big[o] = '\0';
    fake f = req;
    f.claims[1][0] = "many";
    f.claims[1][1] = "j";
    f.claims[1][2] = big;
    const char *p = "metadata.filter_metadata['envoy.filters.http.jwt_authn']"
                    "['payload']";
    char src[512];
    snprintf(src, sizeof(src), "%s.many.exists(g, g == 'g4999')", p);
    assert_int_equal(eval_on(src, &f, NULL, CEL_SCRATCH_SIZE * 4),
                     CEL_RESULT_TRUE);
    assert_int_equal(eval_on(src, &f, NULL, CEL_SCRATCH_SIZE),
                     CEL_RESULT_LIMIT);
    /* map() results take the scratch */
    assert_int_equal(eval_on("[1, 2, 3, 4, 5, 6, 7, 8].map(x, x).size() == 8",
                             &req, NULL, 64),
                     CEL_RESULT_LIMIT);
    /* 100 x 100 x 100 predicate evaluations pass the step bound */
    char cube[2048];
    o = (size_t)snprintf(cube, sizeof(cube), "[");
    for (int i = 0; i < 100; i++)
        o += (size_t)snprintf(cube + o, sizeof(cube) - o, "%s%d", i ? "," : "",
                              i);
    snprintf(cube + o, sizeof(cube) - o, "]");
    char *expr = malloc(strlen(cube) * 3 + 64);
    assert_non_null(expr);
    sprintf(expr, "%s.all(a, %s.all(b, %s.all(c, c >= 0)))", cube, cube, cube);
    assert_int_equal(eval_on(expr, &req, NULL, CEL_SCRATCH_SIZE),
                     CEL_RESULT_LIMIT);
    free(expr);
    /* a list literal as long as an expression may be: a constant one is
     * built once at config time, one of request values in the scratch */
    char *lit = malloc(CEL_MAX_EXPR_LEN + 1);
    assert_non_null(lit);
    o = (size_t)snprintf(lit, CEL_MAX_EXPR_LEN, "'GET' in [");
    while (o + 32 < CEL_MAX_EXPR_LEN)
        o += (size_t)snprintf(lit + o, CEL_MAX_EXPR_LEN - o, "'a',");
    snprintf(lit + o, CEL_MAX_EXPR_LEN + 1 - o, "'GET']");
    assert_int_equal(eval_on(lit, &req, NULL, 64), CEL_RESULT_TRUE);
    o = (size_t)snprintf(lit, CEL_MAX_EXPR_LEN, "[");
    while (o + 32 < CEL_MAX_EXPR_LEN)
        o += (size_t)snprintf(lit + o, CEL_MAX_EXPR_LEN - o, "request.host,");
    snprintf(lit + o, CEL_MAX_EXPR_LEN + 1 - o, "1].size() > 0");
    assert_int_equal(eval_on(lit, &req, NULL, CEL_SCRATCH_SIZE),
                     CEL_RESULT_TRUE);
    assert_int_equal(eval_on(lit, &req, NULL, 4096), CEL_RESULT_LIMIT);
    free(lit);
    /* comprehensions nest 16 deep at most */
    char deep[1024] = "true";
    for (int i = 0; i < 17; i++) {
        char t[1024];
        snprintf(t, sizeof(t), "[1].all(v%d, %s)", i, deep);
        memcpy(deep, t, sizeof(deep));
    }
    expect_compile_error(deep, "nest deeper than 16", 204);
}

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
    cel_activation act = {f_header, f_attr, f_claim, &req, f_time};
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

/* "[0, 1, ..., n-1]" into buf. */
static void
int_list(char *buf, size_t size, int n)
{
    size_t o = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < n; i++)
        o += (size_t)snprintf(buf + o, size - o, "%s%d", i ? "," : "", i);
    snprintf(buf + o, size - o, "]");
}

/* PCRE2 may spend its whole match limit (about a millisecond) on a short
 * subject: each matches() call costs CEL_MATCH_STEPS of the step bound,
 * so 100 x 100 calls of a backtracking pattern are a limit, not 10,000
 * such calls (seconds of one worker) ending in false. */
static void
test_matches_calls_are_charged_to_the_step_bound(void **state)
{
    (void)state;
    char list[512], src[2048];
    int_list(list, sizeof(list), 100);
    snprintf(src, sizeof(src),
             "%s.exists(a, %s.exists(b, 'aaaaaaaaaaaaab'.matches("
             "'^(a|a)*$')))",
             list, list);
    assert_int_equal(eval_on(src, &req, NULL, CEL_SCRATCH_SIZE),
                     CEL_RESULT_LIMIT);
    /* 99 calls fit in one evaluation, 101 do not */
    int_list(list, sizeof(list), 99);
    snprintf(src, sizeof(src), "%s.exists(i, request.method.matches('^P'))",
             list);
    expect_false(src);
    int_list(list, sizeof(list), 101);
    snprintf(src, sizeof(src), "%s.exists(i, request.method.matches('^P'))",
             list);
    assert_int_equal(eval_on(src, &req, NULL, CEL_SCRATCH_SIZE),
                     CEL_RESULT_LIMIT);
}

/* contains(), size() and string(bytes) scan their string: a step per
 * CEL_SCAN_BYTES bytes, so a comprehension over a long string is
 * bounded by bytes scanned, not by calls. */
static void
test_string_scans_are_charged_to_the_step_bound(void **state)
{
    (void)state;
    char list[512];
    static char src[10000];
    int_list(list, sizeof(list), 100);
    static const char *const scans[] = {"s.contains('b')", "size(s) == 0",
                                        "string(bytes(s)) == ''"};
    for (size_t k = 0; k < sizeof(scans) / sizeof(scans[0]); k++) {
        size_t o = (size_t)snprintf(src, sizeof(src), "['");
        memset(src + o, 'a', 8000);
        o += 8000;
        snprintf(src + o, sizeof(src) - o,
                 "'].exists(s, %s.exists(a, %s.exists(b, %s)))", list, list,
                 scans[k]);
        if (eval_on(src, &req, NULL, CEL_SCRATCH_SIZE) != CEL_RESULT_LIMIT)
            fail_msg("expected a limit from 10,000 scans of 8000 bytes: %s",
                     scans[k]);
    }
}

/* `in` and [] on a map literal visit its entries as `in` on a list
 * visits items: each a step. 10,000 lookups in a 1,600-entry map are a
 * limit, not half a second of one worker ending in false. */
static void
test_map_lookups_are_charged_to_the_step_bound(void **state)
{
    (void)state;
    char list[512];
    static char src[CEL_MAX_EXPR_LEN];
    int_list(list, sizeof(list), 100);
    size_t o = (size_t)snprintf(src, sizeof(src),
                                "%s.exists(a, %s.exists(b, request.method in {",
                                list, list);
    for (int i = 0; i < 1600; i++)
        o += (size_t)snprintf(src + o, sizeof(src) - o, "%s'k%d':1",
                              i ? "," : "", i);
    snprintf(src + o, sizeof(src) - o, "}))");
    assert_int_equal(eval_on(src, &req, NULL, CEL_SCRATCH_SIZE),
                     CEL_RESULT_LIMIT);
    snprintf(src, sizeof(src),
             "%s.exists(a, request.method in {'POST': 1, 'GET': 2})", list);
    expect_true(src);
}

/* A JSON claim nested deeper than gwf reads (32) is valid JSON that
 * Envoy reads: a limit, so that a Deny policy fails closed, never an
 * error that reads as "no match". */
static void
test_json_claim_deeper_than_gwf_reads_is_a_limit(void **state)
{
    (void)state;
    static char deep[256];
    size_t o = (size_t)snprintf(deep, sizeof(deep), "[\"banned\",");
    for (int i = 0; i < 40; i++)
        deep[o++] = '[';
    for (int i = 0; i < 40; i++)
        deep[o++] = ']';
    snprintf(deep + o, sizeof(deep) - o, "]");
    fake f = req;
    f.claims[1][0] = "groups";
    f.claims[1][1] = "j";
    f.claims[1][2] = deep;
    const char *p = "metadata.filter_metadata['envoy.filters.http.jwt_authn']"
                    "['payload']";
    char src[512];
    snprintf(src, sizeof(src), "'banned' in %s.groups", p);
    assert_int_equal(eval_on(src, &f, NULL, CEL_SCRATCH_SIZE),
                     CEL_RESULT_LIMIT);
    snprintf(src, sizeof(src), "%s.groups.exists(g, g == 'banned')", p);
    assert_int_equal(eval_on(src, &f, NULL, CEL_SCRATCH_SIZE),
                     CEL_RESULT_LIMIT);
    snprintf(src, sizeof(src), "has(%s.groups)", p);
    assert_int_equal(eval_on(src, &f, NULL, CEL_SCRATCH_SIZE),
                     CEL_RESULT_LIMIT);
    /* 32 deep is read */
    o = (size_t)snprintf(deep, sizeof(deep), "[\"banned\",");
    for (int i = 0; i < 31; i++)
        deep[o++] = '[';
    for (int i = 0; i < 31; i++)
        deep[o++] = ']';
    snprintf(deep + o, sizeof(deep) - o, "]");
    snprintf(src, sizeof(src), "'banned' in %s.groups", p);
    assert_int_equal(eval_on(src, &f, NULL, CEL_SCRATCH_SIZE), CEL_RESULT_TRUE);
}

/* A time zone computed from the request that is not a fixed offset may
 * be an IANA name Envoy reads: a limit (fails closed), not "no match". */
static void
test_request_time_zone_gwf_cannot_read_is_a_limit(void **state)
{
    (void)state;
    fake f = req;
    f.headers[0][1] = "Europe/Paris"; /* x-role */
    assert_int_equal(eval_on("request.time.getHours("
                             "request.headers['x-role']) < 24",
                             &f, NULL, CEL_SCRATCH_SIZE),
                     CEL_RESULT_LIMIT);
    f.headers[0][1] = "+01:00";
    assert_int_equal(eval_on("request.time.getHours("
                             "request.headers['x-role']) == 0",
                             &f, NULL, CEL_SCRATCH_SIZE),
                     CEL_RESULT_TRUE);
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
    cel_activation act = {f_header, f_attr, f_claim, &req, f_time};
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
        cmocka_unit_test(test_header_names_match_in_any_case),
        cmocka_unit_test(test_values_the_host_cannot_read_fail_closed),
        cmocka_unit_test(test_host_failures_are_not_absent_values),
        cmocka_unit_test(test_jwt_payload_reads_the_jwt_auth_claims),
        cmocka_unit_test(test_syntax_errors_name_their_column),
        cmocka_unit_test(
            test_unsupported_constructs_are_refused_at_compile_time),
        cmocka_unit_test(test_nesting_and_length_are_bounded),
        cmocka_unit_test(test_scratch_exhaustion_is_a_limit_not_a_false),
        cmocka_unit_test(test_macros_over_lists_and_map_keys),
        cmocka_unit_test(test_macros_absorb_errors_as_and_and_or_do),
        cmocka_unit_test(test_lists_concatenate_and_size),
        cmocka_unit_test(test_type_and_dyn),
        cmocka_unit_test(test_timestamps_and_durations_parse_compare_and_add),
        cmocka_unit_test(test_time_range_ends_are_errors_not_wraps),
        cmocka_unit_test(test_timestamp_accessors_take_fixed_offsets),
        cmocka_unit_test(test_request_time_is_the_activation_time),
        cmocka_unit_test(test_jwt_array_and_object_claims_are_lists_and_maps),
        cmocka_unit_test(test_big_comprehensions_hit_a_limit),
        cmocka_unit_test(test_matches_calls_are_charged_to_the_step_bound),
        cmocka_unit_test(test_string_scans_are_charged_to_the_step_bound),
        cmocka_unit_test(test_map_lookups_are_charged_to_the_step_bound),
        cmocka_unit_test(test_json_claim_deeper_than_gwf_reads_is_a_limit),
        cmocka_unit_test(test_request_time_zone_gwf_cannot_read_is_a_limit),
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
