/*
 * fuzz_cel.c - libFuzzer harness for the rbac plugin's CEL: compile any
 * bytes as an expression and, when it compiles, evaluate it against a
 * fixed request (headers with repeated names, path, method, a JWT with
 * string, number, bool, array and object claims, request.time) with a
 * small scratch buffer,
 * so that the limits are reached too. Also feeds the input as the
 * plugin's config JSON. Nothing may crash, leak, read out of bounds or
 * recurse without bound. The rbac sources are compiled in, so coverage
 * reaches into them.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rbac.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const headers[][2] = {
    {"x-role", "admin"}, {"x-multi", "a"}, {"x-multi", "b"}, {"host", "h"}};

static int
f_header(void *ctx, const char *name, size_t len, gwf_view *out, char *sc,
         size_t sc_size, size_t *used)
{
    size_t o = 0;
    int n = 0;
    (void)ctx;
    *used = 0;
    for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
        size_t vl = strlen(headers[i][1]);
        if (strlen(headers[i][0]) != len || memcmp(headers[i][0], name, len))
            continue;
        if (o + vl + 1 > sc_size)
            return -1;
        if (n++)
            sc[o++] = ',';
        memcpy(sc + o, headers[i][1], vl);
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
f_attr(void *ctx, cel_attr a, gwf_view *out)
{
    (void)ctx;
    const char *v = a == CEL_ATTR_SOURCE_PORT || a == CEL_ATTR_DEST_PORT
                        ? "8080"
                    : a == CEL_ATTR_METHOD ? "GET"
                                           : "/p?q=1";
    out->ptr = v;
    out->len = strlen(v);
    return 1;
}

static int
f_claim(void *ctx, const char *name, size_t len, gwf_value_type *t,
        gwf_view *out)
{
    static const char *const claims[][3] = {{"email", "s", "a@b"},
                                            {"exp", "j", "1e3"},
                                            {"ok", "j", "true"},
                                            {"g", "j", "[1]"},
                                            {"groups", "j",
                                             "[\"admins\",\"d\\u00e9v\","
                                             "{\"a\":[[]],\"b\":null}]"},
                                            {"o", "j", "{\"k\":{\"l\":[1,2]}}"},
                                            {"bad", "j", "1x"},
                                            {"bad2", "j", "[\"a\",{\"b\""}};
    (void)ctx;
    if (!name) {
        out->ptr = "p";
        out->len = 1;
        return 1;
    }
    for (size_t i = 0; i < sizeof(claims) / sizeof(claims[0]); i++)
        if (strlen(claims[i][0]) == len && !memcmp(claims[i][0], name, len)) {
            *t = claims[i][1][0] == 's' ? GWF_VALUE_STRING : GWF_VALUE_JSON;
            out->ptr = claims[i][2];
            out->len = strlen(claims[i][2]);
            return 1;
        }
    return 0;
}

static int
f_time(void *ctx, int64_t *ns)
{
    (void)ctx;
    *ns = 1234567890123456789;
    return 1;
}

static void
fake_config_error(gwf_instance *inst, const char *field, const char *msg,
                  size_t len)
{
    (void)inst, (void)field, (void)msg, (void)len;
}

static gwf_host fake_host = {
    .size = sizeof(gwf_host),
    .abi_major = GWF_ABI_VERSION_MAJOR,
    .abi_minor = GWF_ABI_VERSION_MINOR,
    .name = "fuzz",
    .config_error = fake_config_error,
};

static gwf_instance fake_instance = {&fake_host};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cel_program p;
    cel_error err;
    cel_activation act = {f_header, f_attr, f_claim, NULL, f_time};
    rbac_config *cfg;

    if (cel_compile((const char *)data, size, &p, &err) == 0) {
        cel_scratch sc;
        if (cel_scratch_init(&sc, 64) == 0) {
            (void)cel_eval(&p, &act, &sc, NULL);
            cel_scratch_free(&sc);
        }
        if (cel_scratch_init(&sc, CEL_SCRATCH_SIZE) == 0) {
            (void)cel_eval(&p, &act, &sc, NULL);
            cel_scratch_free(&sc);
        }
        cel_program_free(&p);
    }
    if (rbac_config_parse(&fake_instance, (gwf_view){(const char *)data, size},
                          &cfg) == GWF_OK)
        rbac_config_free(cfg);
    return 0;
}
