/*
 * fuzz_format.c - libFuzzer harness for the SDK's Envoy format-string
 * engine (sdk/src/format.c): the compiler, and the renderer over hostile
 * stream values.
 *
 * Each input is used two ways:
 *   1. as a text format (up to the first NUL): compiled; when it
 *      compiles, rendered against a fake stream;
 *   2. as JSON: when it is an object, compiled as the JSON form and
 *      rendered the same way; the output must then be valid JSON (one
 *      document and a newline), whatever the stream held - the fuzzer
 *      aborts otherwise.
 * The fake stream answers every header, attribute and shared value with
 * bytes of the input (control bytes, broken UTF-8, quotes), so escaping
 * and cutting are exercised with what a client could send. Everything is
 * freed: LeakSanitizer reports what is not.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gwf/sdk_format.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The current input, for the fake stream's answers. */
static const uint8_t *input;
static size_t input_size;

static gwf_view
input_slice(size_t seed)
{
    gwf_view v = {(const char *)input, 0};
    if (input_size == 0)
        return v;
    size_t start = seed % input_size;
    v.ptr = (const char *)input + start;
    v.len = input_size - start;
    return v;
}

static void
fake_config_error(gwf_instance *inst, const char *field, const char *msg,
                  size_t len)
{
    (void)inst;
    (void)field;
    (void)msg;
    (void)len;
}

static gwf_status
fake_header_get(gwf_stream *s, gwf_message_kind which, const char *name,
                size_t name_len, size_t index, gwf_view *v)
{
    (void)s;
    if (index > 0 || (name_len & 3) == 3)
        return GWF_ERR_NOT_FOUND;
    *v = input_slice(name_len + (size_t)which * 7 + (unsigned char)name[0]);
    return GWF_OK;
}

static size_t
fake_header_count(gwf_stream *s, gwf_message_kind which)
{
    (void)s;
    (void)which;
    return 3;
}

static gwf_status
fake_header_at(gwf_stream *s, gwf_message_kind which, size_t index,
               gwf_view *name, gwf_view *value)
{
    (void)s;
    (void)which;
    if (index >= 3)
        return GWF_ERR_NOT_FOUND;
    *name = gwf_cstr(index == 0 ? "host" : "x-a");
    *value = input_slice(index * 13);
    return GWF_OK;
}

static gwf_status
fake_attribute(gwf_stream *s, gwf_attribute a, gwf_view *v)
{
    (void)s;
    *v = input_slice((size_t)a * 5);
    return GWF_OK;
}

static gwf_status
fake_value_get(gwf_stream *s, const char *key, size_t key_len,
               gwf_value_type *type, gwf_view *data)
{
    static const int64_t number = -7;
    (void)s;
    (void)key;
    *type = (gwf_value_type)(key_len % 5);
    if (*type == GWF_VALUE_INT) {
        data->ptr = (const char *)&number;
        data->len = sizeof number;
    } else if (*type == GWF_VALUE_BOOL) {
        *data = gwf_cstr("\1");
    } else {
        *data = input_slice(key_len);
    }
    return GWF_OK;
}

static gwf_instance fake_instance;

static gwf_instance *
fake_stream_instance(gwf_stream *s)
{
    (void)s;
    return &fake_instance;
}

static int64_t
fake_now(gwf_instance *inst, gwf_clock clock)
{
    (void)inst;
    (void)clock;
    return 1767225600123456789;
}

static gwf_host fake_host = {
    .size = sizeof(gwf_host),
    .abi_major = GWF_ABI_VERSION_MAJOR,
    .abi_minor = GWF_ABI_VERSION_MINOR,
    .name = "fuzz",
    .config_error = fake_config_error,
    .header_get = fake_header_get,
    .header_count = fake_header_count,
    .header_at = fake_header_at,
    .attribute = fake_attribute,
    .value_get = fake_value_get,
    .stream_instance = fake_stream_instance,
    .now = fake_now,
};
static gwf_instance fake_instance = {&fake_host};
static gwf_stream fake_stream = {&fake_host};

static void
render_and_free(gwf_format *f, int must_be_json)
{
    gwf_strbuf out = {0};
    if (gwf_format_render(f, &fake_stream, &out) == GWF_OK && must_be_json) {
        json_error_t err;
        json_t *doc = json_loadb(out.data, out.len, JSON_ALLOW_NUL, &err);
        if (!doc || out.len == 0 || out.data[out.len - 1] != '\n') {
            fprintf(stderr, "not JSON (%s): %s\n",
                    doc ? "no newline" : err.text, out.data);
            abort();
        }
        json_decref(doc);
    }
    gwf_strbuf_free(&out);
    gwf_format_free(f);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gwf_cfg c;
    gwf_format *f = NULL;
    char *text = malloc(size + 1);

    if (!text)
        return 0;
    input = data;
    input_size = size;
    memcpy(text, data, size);
    text[size] = '\0';

    gwf_cfg_init(&c, &fake_instance);
    if (gwf_format_compile(&c, "", "text", text, &f) == GWF_OK)
        render_and_free(f, 0);
    free(text);

    json_t *obj = json_loadb((const char *)data, size, 0, NULL);
    f = NULL;
    gwf_cfg_init(&c, &fake_instance);
    if (json_is_object(obj) &&
        gwf_format_compile_json(&c, "", "json", obj, &f) == GWF_OK)
        render_and_free(f, 1);
    json_decref(obj);
    return 0;
}
