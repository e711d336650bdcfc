/*
 * test_config.c - gwf/sdk_config.h: every reader reports each mistake
 * once, with the field's path and the shared words, keeps the caller's
 * default on a mistake or an absent member, and reads what is right.
 *
 * The readers talk to the host only through config_error and
 * lookup_document, so the tests hand them a fake host that records the
 * errors and serves documents from a table.
 */
#include <gwf/sdk_config.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

typedef struct {
    gwf_instance base;
    gwf_host host;
    char errors[16][600]; /* "<field>: <message>" */
    size_t error_count;
    const char *const *docs; /* kind, ref, json, ... NULL */
} fake;

static void
fake_config_error(gwf_instance *inst, const char *field, const char *msg,
                  size_t len)
{
    fake *f = (fake *)inst;
    if (f->error_count < 16)
        snprintf(f->errors[f->error_count], sizeof f->errors[0], "%s: %.*s",
                 field ? field : "-", (int)len, msg);
    f->error_count++;
}

static gwf_status
fake_lookup(gwf_instance *inst, const char *kind, const char *ref,
            gwf_view *json)
{
    fake *f = (fake *)inst;
    for (size_t i = 0; f->docs && f->docs[i]; i += 3)
        if (strcmp(f->docs[i], kind) == 0 && strcmp(f->docs[i + 1], ref) == 0) {
            json->ptr = f->docs[i + 2];
            json->len = strlen(f->docs[i + 2]);
            return GWF_OK;
        }
    return GWF_ERR_NOT_FOUND;
}

typedef struct {
    fake f;
    gwf_cfg c;
    json_t *root;
} fixture;

static int
setup(void **state)
{
    fixture *x = calloc(1, sizeof *x);
    x->f.host.size = sizeof x->f.host;
    x->f.host.config_error = fake_config_error;
    x->f.host.lookup_document = fake_lookup;
    x->f.base.host = &x->f.host;
    gwf_cfg_init(&x->c, &x->f.base);
    *state = x;
    return 0;
}

static int
teardown(void **state)
{
    fixture *x = *state;
    json_decref(x->root);
    free(x);
    return 0;
}

static const json_t *
load(fixture *x, const char *text)
{
    json_error_t error;
    json_decref(x->root);
    x->root = json_loads(text, JSON_ALLOW_NUL, &error);
    assert_non_null(x->root);
    return x->root;
}

/* The only error reported is `want`. */
static void
assert_one_error(fixture *x, const char *want)
{
    if (x->f.error_count != 1 || strcmp(x->f.errors[0], want) != 0)
        fail_msg("want exactly the error\n  %s\ngot %zu:\n  %s", want,
                 x->f.error_count,
                 x->f.error_count ? x->f.errors[0] : "(none)");
}

static void
assert_no_error(fixture *x)
{
    if (x->f.error_count)
        fail_msg("unexpected error: %s", x->f.errors[0]);
    assert_int_equal(gwf_cfg_status(&x->c), GWF_OK);
}

/* -- Paths ------------------------------------------------------------------
 */

static void
test_member_and_item_paths_join_with_dots_and_brackets(void **state)
{
    (void)state;
    char a[GWF_CFG_PATH_MAX], b[GWF_CFG_PATH_MAX], c[GWF_CFG_PATH_MAX];
    assert_string_equal(gwf_cfg_member(a, "", "providers"), "providers");
    assert_string_equal(gwf_cfg_item(b, a, 1), "providers[1]");
    assert_string_equal(gwf_cfg_member(c, b, "jwks"), "providers[1].jwks");
}

static void
test_a_path_too_long_is_cut_not_overflowed(void **state)
{
    (void)state;
    char longname[600], out[GWF_CFG_PATH_MAX];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    gwf_cfg_member(out, "top", longname);
    assert_int_equal(strlen(out), GWF_CFG_PATH_MAX - 1);
    assert_memory_equal(out, "top.xxx", 7);
}

/* -- Known fields ------------------------------------------------------------
 */

static void
test_unknown_field_is_reported_with_its_path_and_the_known_ones(void **state)
{
    fixture *x = *state;
    static const char *const known[] = {"url", "timeout", NULL};
    load(x, "{\"url\": \"u\", \"timout\": \"1s\"}");

    assert_int_equal(gwf_cfg_known(&x->c, "remote", x->root, known),
                     GWF_ERR_BAD_ARGUMENT);

    assert_one_error(x, "remote.timout: unknown field; expected one of: "
                        "url, timeout");
    assert_int_equal(gwf_cfg_status(&x->c), GWF_ERR_BAD_ARGUMENT);
}

static void
test_every_unknown_field_is_reported(void **state)
{
    fixture *x = *state;
    static const char *const known[] = {"a", NULL};
    load(x, "{\"b\": 1, \"a\": 2, \"c\": 3}");

    gwf_cfg_known(&x->c, "", x->root, known);

    assert_int_equal(x->f.error_count, 2);
    assert_int_equal(x->c.errors, 2);
}

/* -- Strings -------------------------------------------------------------- */

static void
test_string_is_read(void **state)
{
    fixture *x = *state;
    load(x, "{\"url\": \"https://x\"}");
    const char *url = NULL;

    assert_int_equal(
        gwf_cfg_string(&x->c, "", x->root, "url", GWF_CFG_REQUIRED, &url),
        GWF_OK);

    assert_string_equal(url, "https://x");
    assert_no_error(x);
}

static void
test_absent_optional_string_keeps_the_default(void **state)
{
    fixture *x = *state;
    load(x, "{\"other\": 1, \"nulled\": null}");
    const char *v = "default";

    assert_int_equal(gwf_cfg_string(&x->c, "", x->root, "v", 0, &v), GWF_OK);
    assert_int_equal(gwf_cfg_string(&x->c, "", x->root, "nulled", 0, &v),
                     GWF_OK);

    assert_string_equal(v, "default");
    assert_no_error(x);
}

static void
test_absent_required_string_is_reported(void **state)
{
    fixture *x = *state;
    load(x, "{}");
    const char *v = "default";

    assert_int_equal(gwf_cfg_string(&x->c, "remote", x->root, "url",
                                    GWF_CFG_REQUIRED | GWF_CFG_NONEMPTY, &v),
                     GWF_ERR_BAD_ARGUMENT);

    assert_one_error(x, "remote.url: is required: expected a non-empty "
                        "string");
    assert_string_equal(v, "default");
}

static void
test_string_of_the_wrong_type_names_what_was_found(void **state)
{
    fixture *x = *state;
    load(x, "{\"url\": 42}");
    const char *v = "default";

    gwf_cfg_string(&x->c, "", x->root, "url", 0, &v);

    assert_one_error(x, "url: expected a string, found an integer");
    assert_string_equal(v, "default");
}

static void
test_empty_string_is_refused_when_nonempty(void **state)
{
    fixture *x = *state;
    load(x, "{\"url\": \"\"}");
    const char *v = NULL;

    gwf_cfg_string(&x->c, "", x->root, "url", GWF_CFG_NONEMPTY, &v);

    assert_one_error(x, "url: expected a non-empty string, found \"\"");
    assert_null(v);
}

static void
test_string_with_a_nul_byte_is_refused(void **state)
{
    fixture *x = *state;
    load(x, "{\"url\": \"a\\u0000b\"}");
    const char *v = NULL;

    gwf_cfg_string(&x->c, "", x->root, "url", 0, &v);

    assert_one_error(x, "url: expected a string, found a string with a NUL "
                        "byte");
    assert_null(v);
}

/* -- Booleans, integers, durations, enums -------------------------------- */

static void
test_bool_is_read_and_a_string_true_is_refused(void **state)
{
    fixture *x = *state;
    load(x, "{\"a\": true, \"b\": \"true\"}");
    int a = 0, b = 0;

    assert_int_equal(gwf_cfg_bool(&x->c, "", x->root, "a", 0, &a), GWF_OK);
    assert_int_equal(gwf_cfg_bool(&x->c, "", x->root, "b", 0, &b),
                     GWF_ERR_BAD_ARGUMENT);

    assert_int_equal(a, 1);
    assert_int_equal(b, 0);
    assert_one_error(x, "b: expected true or false, found a string");
}

static void
test_int_in_range_is_read_and_out_of_range_reported(void **state)
{
    fixture *x = *state;
    load(x, "{\"ok\": 7, \"big\": 70000, \"frac\": 1.5}");
    int64_t ok = 0, big = 1, frac = 1;

    assert_int_equal(gwf_cfg_int(&x->c, "p", x->root, "ok", 0, 1, 65535, &ok),
                     GWF_OK);
    gwf_cfg_int(&x->c, "p", x->root, "big", 0, 1, 65535, &big);
    gwf_cfg_int(&x->c, "p", x->root, "frac", 0, 1, 65535, &frac);

    assert_int_equal(ok, 7);
    assert_int_equal(big, 1);
    assert_int_equal(frac, 1);
    assert_int_equal(x->f.error_count, 2);
    assert_string_equal(x->f.errors[0],
                        "p.big: expected an integer from 1 to 65535, found "
                        "70000");
    assert_string_equal(x->f.errors[1], "p.frac: expected an integer, found "
                                        "a number with a fraction");
}

static void
test_duration_is_read_in_nanoseconds(void **state)
{
    fixture *x = *state;
    load(x, "{\"t\": \"1m30s\"}");
    uint64_t ns = 0;

    assert_int_equal(
        gwf_cfg_duration(&x->c, "", x->root, "t", 0, 0, UINT64_MAX, &ns),
        GWF_OK);

    assert_true(ns == 90ull * 1000000000ull);
    assert_no_error(x);
}

static void
test_malformed_duration_is_reported_with_the_text(void **state)
{
    fixture *x = *state;
    load(x, "{\"t\": \"10 seconds\"}");
    uint64_t ns = 5;

    gwf_cfg_duration(&x->c, "", x->root, "t", 0, 0, UINT64_MAX, &ns);

    assert_one_error(x, "t: expected a duration such as \"10s\" or "
                        "\"1m30s\", found \"10 seconds\"");
    assert_true(ns == 5);
}

static void
test_duration_out_of_range_names_the_range(void **state)
{
    fixture *x = *state;
    load(x, "{\"t\": \"2m\"}");
    uint64_t ns = 5;

    gwf_cfg_duration(&x->c, "", x->root, "t", 0, 1000000ull,
                     60ull * 1000000000ull, &ns);

    assert_one_error(x, "t: expected a duration from 1ms to 1m, found "
                        "\"2m\"");
    assert_true(ns == 5);
}

static void
test_enum_gives_the_index_and_refuses_another_case(void **state)
{
    fixture *x = *state;
    static const char *const modes[] = {"Sign", "Invoke", NULL};
    load(x, "{\"a\": \"Invoke\", \"b\": \"invoke\"}");
    int a = -1, b = -1;

    assert_int_equal(gwf_cfg_enum(&x->c, "", x->root, "a", 0, modes, &a),
                     GWF_OK);
    gwf_cfg_enum(&x->c, "", x->root, "b", 0, modes, &b);

    assert_int_equal(a, 1);
    assert_int_equal(b, -1);
    assert_one_error(x, "b: expected one of: Sign, Invoke, found \"invoke\"");
}

static void
test_list_bounds_are_checked(void **state)
{
    fixture *x = *state;
    load(x, "{\"empty\": [], \"three\": [1, 2, 3], \"obj\": {}}");
    const json_t *l = NULL;

    gwf_cfg_list(&x->c, "", x->root, "empty", GWF_CFG_NONEMPTY, 0, &l);
    gwf_cfg_list(&x->c, "", x->root, "three", 0, 2, &l);
    gwf_cfg_list(&x->c, "", x->root, "obj", 0, 0, &l);

    assert_null(l);
    assert_int_equal(x->f.error_count, 3);
    assert_string_equal(x->f.errors[0], "empty: expected a list of at least "
                                        "1 item, found an empty list");
    assert_string_equal(x->f.errors[1], "three: expected a list of at most 2 "
                                        "items, found 3");
    assert_string_equal(x->f.errors[2], "obj: expected a list, found an "
                                        "object");
}

/* -- Backends ------------------------------------------------------------- */

static const char *const backends[] = {
    "Backend",
    "authz",
    "{\"type\": \"Static\", \"static\": {\"hosts\": [{\"host\": \"::1\", "
    "\"port\": 9000}]}}",
    "Backend",
    "other/redis",
    "{\"static\": {\"hosts\": [{\"host\": \"redis.local\", \"port\": 6379}]},"
    " \"tls\": {\"sni\": \"x\"}}",
    "Backend",
    "lambda",
    "{\"aws\": {\"lambda\": {}}}",
    NULL};

static void
test_backend_ref_gives_the_first_host_and_port_ipv6_included(void **state)
{
    fixture *x = *state;
    x->f.docs = backends;
    load(x, "{\"backendRef\": {\"name\": \"authz\"}}");
    gwf_cfg_backend b;

    assert_int_equal(gwf_cfg_backend_ref(&x->c, "http", x->root, "backendRef",
                                         GWF_CFG_REQUIRED, 0, &b),
                     GWF_OK);

    assert_string_equal(b.host, "::1");
    assert_int_equal(b.port, 9000);
    assert_string_equal(b.ref, "authz");
    assert_null(b.spec);
    assert_no_error(x);
}

static void
test_backend_ref_port_and_namespace_are_applied_and_spec_kept(void **state)
{
    fixture *x = *state;
    x->f.docs = backends;
    load(x, "{\"ref\": {\"name\": \"redis\", \"namespace\": \"other\", "
            "\"port\": 6380, \"kind\": \"Backend\"}}");
    gwf_cfg_backend b;

    assert_int_equal(gwf_cfg_backend_ref(&x->c, "", x->root, "ref", 0, 1, &b),
                     GWF_OK);

    assert_string_equal(b.host, "redis.local");
    assert_int_equal(b.port, 6380);
    assert_non_null(b.spec);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(b.spec, "tls"), "sni")),
                        "x");
    json_decref(b.spec);
    assert_no_error(x);
}

static void
test_backend_ref_to_a_missing_or_non_static_backend_is_reported(void **state)
{
    fixture *x = *state;
    x->f.docs = backends;
    load(x, "{\"a\": {\"name\": \"nope\"}, \"b\": {\"name\": \"lambda\"}, "
            "\"c\": {\"name\": \"authz\", \"port\": 0}}");
    gwf_cfg_backend b;

    gwf_cfg_backend_ref(&x->c, "", x->root, "a", 0, 0, &b);
    gwf_cfg_backend_ref(&x->c, "", x->root, "b", 0, 0, &b);
    gwf_cfg_backend_ref(&x->c, "", x->root, "c", 0, 0, &b);

    assert_int_equal(x->f.error_count, 3);
    assert_string_equal(x->f.errors[0], "a.name: Backend nope not found");
    assert_string_equal(x->f.errors[1],
                        "b.name: Backend lambda: expected a static Backend "
                        "with hosts[0].host and hosts[0].port (1-65535)");
    assert_string_equal(x->f.errors[2], "c.port: expected an integer from 1 "
                                        "to 65535, found 0");
}

/* Services as the host hands them over: the document plus "endpoints". */
static const char *const services[] = {
    "Service",
    "authz",
    "{\"spec\": {\"ports\": [{\"port\": 80}, {\"port\": 81}]}, "
    "\"endpoints\": [{\"port\": 80, \"addresses\": [{\"address\": "
    "\"10.0.0.7\", \"port\": 8080}, {\"address\": \"10.0.0.8\", "
    "\"port\": 8080}]}, {\"port\": 81, \"addresses\": []}]}",
    "Backend",
    "legacy",
    "{\"static\": {\"hosts\": [{\"host\": \"127.0.0.1\", \"port\": 9}]}}",
    NULL};

static void
test_backend_ref_without_kind_is_a_service_endpoint(void **state)
{
    fixture *x = *state;
    x->f.docs = services;
    load(x, "{\"ref\": {\"name\": \"authz\", \"port\": 80}}");
    gwf_cfg_backend b;

    assert_int_equal(gwf_cfg_backend_ref(&x->c, "", x->root, "ref", 0, 1, &b),
                     GWF_OK);

    assert_string_equal(b.host, "10.0.0.7");
    assert_int_equal(b.port, 8080);
    assert_null(b.spec);
    assert_no_error(x);
}

static void
test_backend_ref_kind_service_with_core_group(void **state)
{
    fixture *x = *state;
    x->f.docs = services;
    load(x, "{\"ref\": {\"name\": \"authz\", \"port\": 80, \"kind\": "
            "\"Service\", \"group\": \"\"}}");
    gwf_cfg_backend b;

    assert_int_equal(gwf_cfg_backend_ref(&x->c, "", x->root, "ref", 0, 0, &b),
                     GWF_OK);
    assert_string_equal(b.host, "10.0.0.7");
    assert_no_error(x);
}

static void
test_backend_ref_to_a_service_needs_a_port_with_endpoints(void **state)
{
    fixture *x = *state;
    x->f.docs = services;
    load(x, "{\"a\": {\"name\": \"authz\"}, \"b\": {\"name\": \"authz\", "
            "\"port\": 81}, \"c\": {\"name\": \"authz\", \"port\": 82}, "
            "\"d\": {\"name\": \"authz\", \"port\": 80, \"kind\": "
            "\"Pod\"}}");
    gwf_cfg_backend b;

    gwf_cfg_backend_ref(&x->c, "", x->root, "a", 0, 0, &b);
    gwf_cfg_backend_ref(&x->c, "", x->root, "b", 0, 0, &b);
    gwf_cfg_backend_ref(&x->c, "", x->root, "c", 0, 0, &b);
    gwf_cfg_backend_ref(&x->c, "", x->root, "d", 0, 0, &b);

    assert_int_equal(x->f.error_count, 4);
    assert_string_equal(x->f.errors[0], "a.port: a backendRef to a Service "
                                        "needs the Service's port");
    assert_string_equal(x->f.errors[1], "b.name: Service authz port 81 has no "
                                        "ready endpoint (no EndpointSlice "
                                        "address)");
    assert_string_equal(x->f.errors[2], "c.name: Service authz has no port 82");
    assert_string_equal(x->f.errors[3], "d.kind: expected \"Service\" or "
                                        "\"Backend\", found \"Pod\"");
}

static void
test_backend_ref_without_kind_falls_back_to_a_backend(void **state)
{
    fixture *x = *state;
    x->f.docs = services;
    load(x, "{\"ref\": {\"name\": \"legacy\"}}");
    gwf_cfg_backend b;

    assert_int_equal(gwf_cfg_backend_ref(&x->c, "", x->root, "ref", 0, 0, &b),
                     GWF_OK);
    assert_string_equal(b.host, "127.0.0.1");
    assert_int_equal(b.port, 9);
    assert_no_error(x);
}

/* -- Secrets ------------------------------------------------------------- */

static const char *const secrets[] = {
    "Secret",
    "aws",
    "{\"stringData\": {\"accessKey\": \"AKID\"}, "
    "\"data\": {\"accessKey\": \"b3RoZXI=\", \"secretKey\": \"c2VjcmV0\"}}",
    "Secret",
    "bad",
    "{\"data\": {\"k\": \"not base64!\", \"nul\": \"YQBi\", \"empty\": \"\"}}",
    NULL};

static void
test_secret_key_from_string_data_first_then_base64_data(void **state)
{
    fixture *x = *state;
    x->f.docs = secrets;
    load(x, "{\"secretRef\": {\"name\": \"aws\"}}");
    char *access = NULL, *secret = NULL;
    size_t alen = 0, slen = 0;

    assert_int_equal(gwf_cfg_secret_ref(&x->c, "auth", x->root, "secretRef",
                                        GWF_CFG_REQUIRED, "accessKey", &access,
                                        &alen),
                     GWF_OK);
    assert_int_equal(gwf_cfg_secret_ref(&x->c, "auth", x->root, "secretRef",
                                        GWF_CFG_REQUIRED, "secretKey", &secret,
                                        &slen),
                     GWF_OK);

    assert_string_equal(access, "AKID");
    assert_int_equal(alen, 4);
    assert_string_equal(secret, "secret");
    assert_int_equal(slen, 6);
    gwf_secret_free(access, alen);
    gwf_secret_free(secret, slen);
    assert_no_error(x);
}

static void
test_bad_secret_values_are_reported_without_the_value(void **state)
{
    fixture *x = *state;
    x->f.docs = secrets;
    load(x, "{\"s\": {\"name\": \"bad\"}}");
    char *v = NULL;
    size_t len = 0;

    gwf_cfg_secret_ref(&x->c, "", x->root, "s", 0, "k", &v, &len);
    gwf_cfg_secret_ref(&x->c, "", x->root, "s", 0, "nul", &v, &len);
    gwf_cfg_secret_ref(&x->c, "", x->root, "s", 0, "empty", &v, &len);
    gwf_cfg_secret_ref(&x->c, "", x->root, "s", 0, "absent", &v, &len);

    assert_null(v);
    assert_int_equal(x->f.error_count, 4);
    assert_string_equal(x->f.errors[0],
                        "s: Secret bad: data.k is not standard base64");
    assert_string_equal(x->f.errors[1],
                        "s: Secret bad: expected a non-empty value without "
                        "NUL bytes in stringData.nul or data.nul");
    for (size_t i = 0; i < 4; i++)
        assert_null(strstr(x->f.errors[i], "not base64!"));
}

static void
test_secret_ref_to_a_missing_secret_is_reported(void **state)
{
    fixture *x = *state;
    x->f.docs = secrets;
    load(x, "{\"s\": {\"name\": \"gone\", \"namespace\": \"ns\"}}");
    char *v = NULL;
    size_t len = 0;

    gwf_cfg_secret_ref(&x->c, "", x->root, "s", 0, "k", &v, &len);

    assert_one_error(x, "s: Secret ns/gone not found");
    assert_null(v);
}

/* -- Lists of strings ------------------------------------------------------
 */

static void
test_string_list_is_read_into_a_null_terminated_array(void **state)
{
    fixture *x = *state;
    load(x, "{\"aud\": [\"a\", \"b\"], \"none\": []}");
    const char **list = NULL, **empty = NULL;
    size_t n = 9, m = 9;

    assert_int_equal(gwf_cfg_string_list(&x->c, "p", x->root, "aud", 0,
                                         GWF_CFG_NONEMPTY, 0, &list, &n),
                     GWF_OK);
    assert_int_equal(
        gwf_cfg_string_list(&x->c, "p", x->root, "none", 0, 0, 0, &empty, &m),
        GWF_OK);

    assert_int_equal(n, 2);
    assert_string_equal(list[0], "a");
    assert_string_equal(list[1], "b");
    assert_null(list[2]);
    assert_int_equal(m, 0);
    assert_null(empty[0]);
    free(list);
    free(empty);
    assert_no_error(x);
}

static void
test_string_list_reports_every_bad_item_and_keeps_the_default(void **state)
{
    fixture *x = *state;
    load(x, "{\"aud\": [\"a\", 5, \"\", \"x\\u0000y\", null]}");
    const char **list = NULL;
    size_t n = 7;

    assert_int_equal(gwf_cfg_string_list(&x->c, "p", x->root, "aud", 0,
                                         GWF_CFG_NONEMPTY, 0, &list, &n),
                     GWF_ERR_BAD_ARGUMENT);

    assert_null(list);
    assert_int_equal(n, 7);
    assert_int_equal(x->f.error_count, 4);
    assert_string_equal(x->f.errors[0], "p.aud[1]: expected a non-empty "
                                        "string, found an integer");
    assert_string_equal(x->f.errors[1],
                        "p.aud[2]: expected a non-empty string, found \"\"");
    assert_string_equal(x->f.errors[2], "p.aud[3]: expected a non-empty "
                                        "string, found a string with a NUL "
                                        "byte");
    assert_string_equal(x->f.errors[3],
                        "p.aud[4]: expected a non-empty string, found null");
    assert_int_equal(gwf_cfg_status(&x->c), GWF_ERR_BAD_ARGUMENT);
}

static void
test_string_list_absent_wrong_type_or_too_long_is_reported(void **state)
{
    fixture *x = *state;
    load(x, "{\"s\": \"a\", \"big\": [\"a\", \"b\", \"c\"]}");
    const char **list = NULL;
    size_t n = 0;

    assert_int_equal(
        gwf_cfg_string_list(&x->c, "", x->root, "absent", 0, 0, 0, &list, &n),
        GWF_OK);
    assert_int_equal(x->f.error_count, 0);
    gwf_cfg_string_list(&x->c, "", x->root, "absent", GWF_CFG_REQUIRED, 0, 0,
                        &list, &n);
    gwf_cfg_string_list(&x->c, "", x->root, "s", 0, 0, 0, &list, &n);
    gwf_cfg_string_list(&x->c, "", x->root, "big", 0, 0, 2, &list, &n);

    assert_null(list);
    assert_int_equal(x->f.error_count, 3);
    assert_string_equal(x->f.errors[0], "absent: is required: expected a list");
    assert_string_equal(x->f.errors[1], "s: expected a list, found a string");
    assert_string_equal(x->f.errors[2],
                        "big: expected a list of at most 2 items, found 3");
}

/* -- Optional Secret keys --------------------------------------------------
 */

static void
test_optional_secret_key_may_be_absent_but_is_checked_when_present(void **state)
{
    fixture *x = *state;
    x->f.docs = secrets;
    load(x, "{\"ok\": {\"name\": \"aws\"}, \"typo\": {\"name\": \"aws\", "
            "\"nmespace\": \"x\"}, \"bad\": {\"name\": \"bad\"}, "
            "\"gone\": {\"name\": \"gone\"}}");
    char *token = NULL, *secret = NULL, *v = NULL;
    size_t tlen = 7, slen = 0, len = 0;

    assert_int_equal(gwf_cfg_secret_optional_key(&x->c, "", x->root, "ok", 0,
                                                 "sessionToken", &token, &tlen),
                     GWF_OK);
    assert_int_equal(gwf_cfg_secret_optional_key(&x->c, "", x->root, "ok", 0,
                                                 "secretKey", &secret, &slen),
                     GWF_OK);
    assert_null(token);
    assert_int_equal(tlen, 7);
    assert_string_equal(secret, "secret");
    gwf_secret_free(secret, slen);
    assert_no_error(x);

    gwf_cfg_secret_optional_key(&x->c, "", x->root, "typo", 0, "sessionToken",
                                &v, &len);
    gwf_cfg_secret_optional_key(&x->c, "", x->root, "bad", 0, "k", &v, &len);
    gwf_cfg_secret_optional_key(&x->c, "", x->root, "gone", 0, "k", &v, &len);

    assert_null(v);
    assert_int_equal(x->f.error_count, 3);
    assert_string_equal(x->f.errors[0],
                        "typo.nmespace: unknown field; expected one of: name, "
                        "namespace");
    assert_string_equal(x->f.errors[1],
                        "bad: Secret bad: data.k is not standard base64");
    assert_string_equal(x->f.errors[2], "gone: Secret gone not found");
}

/* -- Secret key selectors ------------------------------------------------
 */

static void
test_secret_key_ref_reads_the_key_it_names_or_the_default(void **state)
{
    fixture *x = *state;
    x->f.docs = secrets;
    load(x, "{\"named\": {\"name\": \"aws\", \"key\": \"secretKey\"}, "
            "\"plain\": {\"name\": \"aws\"}}");
    char *named = NULL, *plain = NULL;
    size_t nlen = 0, plen = 0;

    assert_int_equal(gwf_cfg_secret_key_ref(&x->c, "", x->root, "named", 0,
                                            "accessKey", &named, &nlen),
                     GWF_OK);
    assert_int_equal(gwf_cfg_secret_key_ref(&x->c, "", x->root, "plain", 0,
                                            "accessKey", &plain, &plen),
                     GWF_OK);

    assert_string_equal(named, "secret");
    assert_int_equal(nlen, 6);
    assert_string_equal(plain, "AKID");
    assert_int_equal(plen, 4);
    gwf_secret_free(named, nlen);
    gwf_secret_free(plain, plen);
    assert_no_error(x);
}

static void
test_secret_key_ref_mistakes_are_reported_in_secret_ref_words(void **state)
{
    fixture *x = *state;
    x->f.docs = secrets;
    load(x, "{\"typo\": {\"name\": \"aws\", \"keys\": \"k\"}, "
            "\"empty\": {\"name\": \"aws\", \"key\": \"\"}, "
            "\"gone\": {\"name\": \"gone\", \"key\": \"k\"}, "
            "\"nokey\": {\"name\": \"aws\", \"key\": \"k\"}, "
            "\"text\": \"aws\"}");
    char *v = NULL;
    size_t len = 0;

    gwf_cfg_secret_key_ref(&x->c, "r", x->root, "typo", 0, "k", &v, &len);
    gwf_cfg_secret_key_ref(&x->c, "r", x->root, "empty", 0, "k", &v, &len);
    gwf_cfg_secret_key_ref(&x->c, "r", x->root, "gone", 0, "k", &v, &len);
    gwf_cfg_secret_key_ref(&x->c, "r", x->root, "nokey", 0, "k", &v, &len);
    gwf_cfg_secret_key_ref(&x->c, "r", x->root, "text", 0, "k", &v, &len);
    gwf_cfg_secret_key_ref(&x->c, "r", x->root, "absent", GWF_CFG_REQUIRED, "k",
                           &v, &len);

    assert_null(v);
    assert_int_equal(x->f.error_count, 6);
    assert_string_equal(x->f.errors[0],
                        "r.typo.keys: unknown field; expected one of: name, "
                        "namespace, key");
    assert_string_equal(x->f.errors[1],
                        "r.empty.key: expected a non-empty string, found "
                        "\"\"");
    assert_string_equal(x->f.errors[2], "r.gone: Secret gone not found");
    assert_string_equal(x->f.errors[3],
                        "r.nokey: Secret aws: expected a non-empty value "
                        "without NUL bytes in stringData.k or data.k");
    assert_string_equal(x->f.errors[4],
                        "r.text: expected a reference {name, namespace?, "
                        "key?} to a Secret, found a string");
    assert_string_equal(x->f.errors[5],
                        "r.absent: is required: expected a reference {name, "
                        "namespace?, key?} to a Secret");
    assert_int_equal(gwf_cfg_status(&x->c), GWF_ERR_BAD_ARGUMENT);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_member_and_item_paths_join_with_dots_and_brackets),
        T(test_a_path_too_long_is_cut_not_overflowed),
        T(test_unknown_field_is_reported_with_its_path_and_the_known_ones),
        T(test_every_unknown_field_is_reported),
        T(test_string_is_read),
        T(test_absent_optional_string_keeps_the_default),
        T(test_absent_required_string_is_reported),
        T(test_string_of_the_wrong_type_names_what_was_found),
        T(test_empty_string_is_refused_when_nonempty),
        T(test_string_with_a_nul_byte_is_refused),
        T(test_bool_is_read_and_a_string_true_is_refused),
        T(test_int_in_range_is_read_and_out_of_range_reported),
        T(test_duration_is_read_in_nanoseconds),
        T(test_malformed_duration_is_reported_with_the_text),
        T(test_duration_out_of_range_names_the_range),
        T(test_enum_gives_the_index_and_refuses_another_case),
        T(test_list_bounds_are_checked),
        T(test_backend_ref_gives_the_first_host_and_port_ipv6_included),
        T(test_backend_ref_port_and_namespace_are_applied_and_spec_kept),
        T(test_backend_ref_without_kind_is_a_service_endpoint),
        T(test_backend_ref_kind_service_with_core_group),
        T(test_backend_ref_to_a_service_needs_a_port_with_endpoints),
        T(test_backend_ref_without_kind_falls_back_to_a_backend),
        T(test_backend_ref_to_a_missing_or_non_static_backend_is_reported),
        T(test_secret_key_from_string_data_first_then_base64_data),
        T(test_bad_secret_values_are_reported_without_the_value),
        T(test_secret_ref_to_a_missing_secret_is_reported),
        T(test_string_list_is_read_into_a_null_terminated_array),
        T(test_string_list_reports_every_bad_item_and_keeps_the_default),
        T(test_string_list_absent_wrong_type_or_too_long_is_reported),
        T(test_optional_secret_key_may_be_absent_but_is_checked_when_present),
        T(test_secret_key_ref_reads_the_key_it_names_or_the_default),
        T(test_secret_key_ref_mistakes_are_reported_in_secret_ref_words),
    };
    return cmocka_run_group_tests_name("sdk_config", tests, NULL, NULL);
}
