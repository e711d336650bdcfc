/*
 * test_format.c - gwf/sdk_format.h: Envoy format strings compile once,
 * render each command as Envoy does, and refuse a malformed string with
 * the field and the byte.
 *
 * The engine reaches the stream only through the host table (header_get,
 * header_count/header_at, attribute, value_get, stream_instance, now), so
 * the tests hand it a fake stream whose headers, attributes, values and
 * clock each test sets: every operator's input is exact. The same engine
 * runs on the real hosts in the direct_response tests (test host and
 * nginx).
 */
#include <gwf/sdk_format.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define MAX_ITEMS 16

typedef struct {
    const char *name, *value;
} pair;

typedef struct {
    const char *key;
    gwf_value_type type;
    const void *data;
    size_t len;
} value;

typedef struct fake {
    gwf_instance inst;
    gwf_stream stream;
    gwf_host host;
    char errors[8][600]; /* "<field>: <message>" */
    size_t error_count;
    pair request[MAX_ITEMS]; /* pseudo-headers too; NULL name ends */
    pair response[MAX_ITEMS];
    int has_response;
    const char *attrs[16]; /* by gwf_attribute; NULL: not known */
    value values[MAX_ITEMS];
    int64_t now_ns;
    gwf_cfg c;
    gwf_format *f;
    gwf_strbuf out;
} fake;

/* A header value, attribute or value whose read the fake host fails with
 * GWF_ERR_NO_MEMORY (compared by address), as a host out of memory. */
static const char UNREAD[] = "(the host cannot read this)";

static fake *
of_stream(gwf_stream *s)
{
    return (fake *)((char *)s - offsetof(fake, stream));
}

static void
fake_config_error(gwf_instance *inst, const char *field, const char *msg,
                  size_t len)
{
    fake *f = (fake *)inst;
    if (f->error_count < 8)
        snprintf(f->errors[f->error_count], sizeof f->errors[0], "%s: %.*s",
                 field ? field : "-", (int)len, msg);
    f->error_count++;
}

static const pair *
headers_of(fake *f, gwf_message_kind which)
{
    return which == GWF_REQUEST ? f->request : f->response;
}

static gwf_status
fake_header_get(gwf_stream *s, gwf_message_kind which, const char *name,
                size_t name_len, size_t index, gwf_view *v)
{
    fake *f = of_stream(s);
    size_t seen = 0;
    if (which == GWF_RESPONSE && !f->has_response)
        return GWF_ERR_WRONG_PHASE;
    for (const pair *p = headers_of(f, which); p->name; p++)
        if (strlen(p->name) == name_len &&
            strncasecmp(p->name, name, name_len) == 0 && seen++ == index) {
            *v = gwf_cstr(p->value);
            return p->value == UNREAD ? GWF_ERR_NO_MEMORY : GWF_OK;
        }
    return GWF_ERR_NOT_FOUND;
}

static size_t
fake_header_count(gwf_stream *s, gwf_message_kind which)
{
    size_t n = 0;
    for (const pair *p = headers_of(of_stream(s), which); p->name; p++)
        n += p->name[0] != ':';
    return n;
}

static gwf_status
fake_header_at(gwf_stream *s, gwf_message_kind which, size_t index,
               gwf_view *name, gwf_view *value_out)
{
    size_t n = 0;
    for (const pair *p = headers_of(of_stream(s), which); p->name; p++)
        if (p->name[0] != ':' && n++ == index) {
            *name = gwf_cstr(p->name);
            *value_out = gwf_cstr(p->value);
            return p->value == UNREAD ? GWF_ERR_NO_MEMORY : GWF_OK;
        }
    return GWF_ERR_NOT_FOUND;
}

static gwf_status
fake_attribute(gwf_stream *s, gwf_attribute a, gwf_view *v)
{
    fake *f = of_stream(s);
    if (a < 0 || a >= 16 || !f->attrs[a])
        return GWF_ERR_NOT_FOUND;
    *v = gwf_cstr(f->attrs[a]);
    return f->attrs[a] == UNREAD ? GWF_ERR_NO_MEMORY : GWF_OK;
}

static gwf_status
fake_value_get(gwf_stream *s, const char *key, size_t key_len,
               gwf_value_type *type, gwf_view *data)
{
    fake *f = of_stream(s);
    for (size_t i = 0; i < MAX_ITEMS && f->values[i].key; i++)
        if (strlen(f->values[i].key) == key_len &&
            memcmp(f->values[i].key, key, key_len) == 0) {
            *type = f->values[i].type;
            data->ptr = f->values[i].data;
            data->len = f->values[i].len;
            return data->ptr == UNREAD ? GWF_ERR_NO_MEMORY : GWF_OK;
        }
    return GWF_ERR_NOT_FOUND;
}

static gwf_instance *
fake_stream_instance(gwf_stream *s)
{
    return &of_stream(s)->inst;
}

static int64_t
fake_now(gwf_instance *inst, gwf_clock clock)
{
    (void)clock;
    return ((fake *)inst)->now_ns;
}

static int
setup(void **state)
{
    fake *f = calloc(1, sizeof *f);
    f->host.size = sizeof f->host;
    f->host.config_error = fake_config_error;
    f->host.header_get = fake_header_get;
    f->host.header_count = fake_header_count;
    f->host.header_at = fake_header_at;
    f->host.attribute = fake_attribute;
    f->host.value_get = fake_value_get;
    f->host.stream_instance = fake_stream_instance;
    f->host.now = fake_now;
    f->inst.host = &f->host;
    f->stream.host = &f->host;
    gwf_cfg_init(&f->c, &f->inst);
    f->request[0] = (pair){":method", "GET"};
    f->request[1] = (pair){":path", "/data.json?x=1"};
    f->request[2] = (pair){":scheme", "http"};
    f->request[3] = (pair){":authority", "www.example.com"};
    f->request[4] = (pair){"host", "www.example.com"};
    f->request[5] = (pair){"user-agent", "curl/8"};
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fake *f = *state;
    gwf_format_free(f->f);
    gwf_strbuf_free(&f->out);
    free(f);
    return 0;
}

/* Compile `text` (it must compile) and render it for the fake stream. */
static const char *
render(fake *f, const char *text)
{
    gwf_format_free(f->f);
    f->f = NULL;
    if (gwf_format_compile(&f->c, "", "bodyFormat.text", text, &f->f) != GWF_OK)
        fail_msg("%s does not compile: %s", text, f->errors[0]);
    gwf_strbuf_free(&f->out);
    assert_int_equal(gwf_format_render(f->f, &f->stream, &f->out), GWF_OK);
    return f->out.data;
}

/* Compile the JSON form `json` and render it. */
static const char *
render_json(fake *f, const char *json)
{
    json_error_t err;
    json_t *obj = json_loads(json, JSON_ALLOW_NUL, &err);
    assert_non_null(obj);
    gwf_format_free(f->f);
    f->f = NULL;
    if (gwf_format_compile_json(&f->c, "", "bodyFormat.json", obj, &f->f) !=
        GWF_OK)
        fail_msg("%s does not compile: %s", json, f->errors[0]);
    json_decref(obj);
    gwf_strbuf_free(&f->out);
    assert_int_equal(gwf_format_render(f->f, &f->stream, &f->out), GWF_OK);
    return f->out.data;
}

/* `text` is refused with exactly the error `want`. */
static void
assert_refused(fake *f, const char *text, const char *want)
{
    gwf_format *out = NULL;
    assert_int_equal(
        gwf_format_compile(&f->c, "", "bodyFormat.text", text, &out),
        GWF_ERR_BAD_ARGUMENT);
    assert_null(out);
    if (f->error_count != 1 || strcmp(f->errors[0], want) != 0)
        fail_msg("want exactly the error\n  %s\ngot %zu:\n  %s", want,
                 f->error_count, f->error_count ? f->errors[0] : "(none)");
}

/* -- Literals ------------------------------------------------------------- */

static void
test_text_without_commands_renders_as_is_and_is_constant(void **state)
{
    fake *f = *state;
    assert_string_equal(render(f, "User-agent: *\nDisallow: /\n"),
                        "User-agent: *\nDisallow: /\n");
    assert_true(gwf_format_is_constant(f->f));
}

static void
test_double_percent_is_one_literal_percent(void **state)
{
    fake *f = *state;
    assert_string_equal(render(f, "100%% sure, %%REQ%%"), "100% sure, %REQ%");
    assert_true(gwf_format_is_constant(f->f));
}

static void
test_a_constant_format_renders_without_a_stream(void **state)
{
    fake *f = *state;
    render(f, "fixed");
    gwf_strbuf_free(&f->out);
    assert_int_equal(gwf_format_render(f->f, NULL, &f->out), GWF_OK);
    assert_string_equal(f->out.data, "fixed");
}

static void
test_an_empty_format_renders_an_empty_string_not_null(void **state)
{
    fake *f = *state;
    assert_string_equal(render(f, ""), "");
}

/* -- REQ / RESP ----------------------------------------------------------- */

static void
test_req_renders_the_request_header(void **state)
{
    fake *f = *state;
    assert_string_equal(render(f, "ua=%REQ(User-Agent)%."), "ua=curl/8.");
    assert_false(gwf_format_is_constant(f->f));
}

static void
test_req_renders_the_first_value_of_a_repeated_header(void **state)
{
    fake *f = *state;
    f->request[6] = (pair){"x-id", "one"};
    f->request[7] = (pair){"x-id", "two"};
    assert_string_equal(render(f, "%REQ(x-id)%"), "one");
}

static void
test_req_reads_pseudo_headers_in_any_case(void **state)
{
    fake *f = *state;
    assert_string_equal(render(f, "%REQ(:PATH)% %REQ(:method)%"),
                        "/data.json?x=1 GET");
}

static void
test_req_falls_back_to_the_alternative_header(void **state)
{
    fake *f = *state;
    assert_string_equal(render(f, "%REQ(x-missing?user-agent)%"), "curl/8");
}

static void
test_req_prefers_the_main_header_to_the_alternative(void **state)
{
    fake *f = *state;
    assert_string_equal(render(f, "%REQ(user-agent?:path)%"), "curl/8");
}

static void
test_req_of_a_missing_header_renders_a_dash(void **state)
{
    fake *f = *state;
    assert_string_equal(render(f, "[%REQ(x-missing?x-other)%]"), "[-]");
}

/* `text` renders to a failure, GWF_ERR_NO_MEMORY with out.failed, as
 * text and inside JSON, whether a missing value is "-" or nothing. */
static void
assert_render_fails(fake *f, const char *text)
{
    char json[256];
    json_t *obj;

    snprintf(json, sizeof json, "{\"v\": \"%s\", \"s\": \"[%s]\"}", text, text);
    for (int form = 0; form < 2; form++) {
        gwf_format_free(f->f);
        f->f = NULL;
        if (form == 0)
            assert_int_equal(
                gwf_format_compile(&f->c, "", "bodyFormat.text", text, &f->f),
                GWF_OK);
        else {
            assert_non_null(obj = json_loads(json, 0, NULL));
            assert_int_equal(
                gwf_format_compile_json(&f->c, "", "json", obj, &f->f), GWF_OK);
            json_decref(obj);
        }
        for (int empty = 0; empty < 2; empty++) {
            gwf_format_vars vars = {.missing_empty = empty};
            gwf_strbuf_free(&f->out);
            if (gwf_format_render_vars(f->f, &f->stream, &vars, &f->out) !=
                    GWF_ERR_NO_MEMORY ||
                !f->out.failed)
                fail_msg("%s rendered as \"%s\"", form ? json : text,
                         f->out.data ? f->out.data : "(null)");
        }
    }
}

/* A value the host could not read (out of memory) is not a missing one:
 * "-", null or nothing would tell another request than the client sent
 * (a header rendered from it would be left out). The whole rendering
 * fails instead, for every command that reads the stream. */
static void
test_a_value_the_host_cannot_read_fails_the_rendering(void **state)
{
    fake *f = *state;

    f->request[6] = (pair){"x-user", UNREAD};
    assert_render_fails(f, "%REQ(x-user)%");
    assert_render_fails(f, "%REQ(x-user?user-agent)%");
    assert_render_fails(f, "%REQ(x-missing?x-user)%");
    assert_render_fails(f, "%REQ_WITHOUT_QUERY(x-user)%");
    assert_render_fails(f, "%REQUEST_HEADERS_BYTES%");
    f->request[6] = (pair){NULL, NULL};
    f->request[1].value = UNREAD; /* :path */
    assert_render_fails(f, "%REQUEST_HEADERS_BYTES%");
    f->has_response = 1;
    f->response[0] = (pair){":status", UNREAD};
    f->response[1] = (pair){"x-cache", UNREAD};
    assert_render_fails(f, "%RESP(x-cache)%");
    assert_render_fails(f, "%RESPONSE_CODE%");
    f->attrs[GWF_ATTR_REMOTE_ADDRESS] = "192.0.2.7";
    f->attrs[GWF_ATTR_REMOTE_PORT] = UNREAD;
    assert_render_fails(f, "%DOWNSTREAM_REMOTE_ADDRESS%");
    assert_render_fails(f, "%DOWNSTREAM_REMOTE_PORT%");
    f->attrs[GWF_ATTR_LOCAL_ADDRESS] = UNREAD;
    assert_render_fails(f, "%DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT%");
    f->attrs[GWF_ATTR_START_TIME] = UNREAD;
    assert_render_fails(f, "%START_TIME%");
    f->attrs[GWF_ATTR_PROTOCOL] = UNREAD;
    assert_render_fails(f, "%PROTOCOL%");
    f->attrs[GWF_ATTR_ROUTE_NAME] = UNREAD;
    assert_render_fails(f, "%ROUTE_NAME%");
    f->values[0] = (value){"k", GWF_VALUE_STRING, UNREAD, 0};
    assert_render_fails(f, "%FILTER_STATE(k)%");
    /* Missing values render as they always did. */
    assert_string_equal(render(f, "[%REQ(x-missing)%][%FILTER_STATE(none)%]"),
                        "[-][-]");
}

static void
test_req_of_an_empty_header_renders_nothing_not_a_dash(void **state)
{
    fake *f = *state;
    f->request[6] = (pair){"x-empty", ""};
    assert_string_equal(render(f, "[%REQ(x-empty)%]"), "[]");
}

static void
test_req_max_length_cuts_to_that_many_bytes(void **state)
{
    fake *f = *state;
    assert_string_equal(render(f, "%REQ(user-agent):4%|"), "curl|");
}

static void
test_req_max_length_longer_than_the_value_keeps_it_whole(void **state)
{
    fake *f = *state;
    assert_string_equal(render(f, "%REQ(user-agent):100%"), "curl/8");
}

static void
test_req_max_length_cuts_bytes_as_envoy_does_even_inside_utf8(void **state)
{
    fake *f = *state;
    f->request[6] = (pair){"x-name", "caf\xc3\xa9"};
    assert_string_equal(render(f, "%REQ(x-name):4%"), "caf\xc3");
    assert_int_equal(f->out.len, 4);
}

static void
test_req_without_query_drops_the_query(void **state)
{
    fake *f = *state;
    assert_string_equal(render(f, "%REQ_WITHOUT_QUERY(:path)%"), "/data.json");
}

static void
test_resp_before_there_is_a_response_renders_a_dash(void **state)
{
    fake *f = *state;
    assert_string_equal(render(f, "%RESP(content-type)%"), "-");
}

static void
test_resp_renders_the_response_header(void **state)
{
    fake *f = *state;
    f->has_response = 1;
    f->response[0] = (pair){":status", "404"};
    f->response[1] = (pair){"content-type", "text/html"};
    assert_string_equal(render(f, "%RESP(Content-Type):4%"), "text");
}

static void
test_text_header_values_are_rendered_byte_for_byte(void **state)
{
    fake *f = *state;
    f->request[6] = (pair){"x-raw", "a\"b\\c\x01"};
    assert_string_equal(render(f, "%REQ(x-raw)%"), "a\"b\\c\x01");
}

/* -- Addresses ------------------------------------------------------------ */

static void
test_remote_address_is_ip_colon_port(void **state)
{
    fake *f = *state;
    f->attrs[GWF_ATTR_REMOTE_ADDRESS] = "192.0.2.7";
    f->attrs[GWF_ATTR_REMOTE_PORT] = "51234";
    assert_string_equal(render(f, "%DOWNSTREAM_REMOTE_ADDRESS%"),
                        "192.0.2.7:51234");
}

static void
test_remote_ipv6_address_is_bracketed_before_the_port(void **state)
{
    fake *f = *state;
    f->attrs[GWF_ATTR_REMOTE_ADDRESS] = "2001:db8::1";
    f->attrs[GWF_ATTR_REMOTE_PORT] = "443";
    assert_string_equal(render(f, "%DOWNSTREAM_REMOTE_ADDRESS%"),
                        "[2001:db8::1]:443");
}

static void
test_remote_address_without_port_is_the_bare_ip(void **state)
{
    fake *f = *state;
    f->attrs[GWF_ATTR_REMOTE_ADDRESS] = "2001:db8::1";
    f->attrs[GWF_ATTR_REMOTE_PORT] = "443";
    assert_string_equal(render(f, "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT% "
                                  "%DOWNSTREAM_REMOTE_PORT%"),
                        "2001:db8::1 443");
}

static void
test_remote_address_of_a_host_without_ports_is_the_ip_alone(void **state)
{
    fake *f = *state;
    f->attrs[GWF_ATTR_REMOTE_ADDRESS] = "127.0.0.1";
    assert_string_equal(render(f, "%DOWNSTREAM_REMOTE_ADDRESS%"), "127.0.0.1");
}

static void
test_local_address_with_and_without_port(void **state)
{
    fake *f = *state;
    f->attrs[GWF_ATTR_LOCAL_ADDRESS] = "10.0.0.2";
    f->attrs[GWF_ATTR_LOCAL_PORT] = "8080";
    assert_string_equal(render(f, "%DOWNSTREAM_LOCAL_ADDRESS% "
                                  "%DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT%"),
                        "10.0.0.2:8080 10.0.0.2");
}

static void
test_an_unknown_address_renders_a_dash(void **state)
{
    fake *f = *state;
    assert_string_equal(render(f, "%DOWNSTREAM_LOCAL_ADDRESS%"), "-");
}

/* -- Time ------------------------------------------------------------------ */

static void
test_start_time_default_is_iso8601_utc_with_milliseconds(void **state)
{
    fake *f = *state;
    f->attrs[GWF_ATTR_START_TIME] = "1767225600123456789";
    assert_string_equal(render(f, "%START_TIME%"), "2026-01-01T00:00:00.123Z");
}

static void
test_start_time_without_the_attribute_is_the_host_clock(void **state)
{
    fake *f = *state;
    f->now_ns = 1767225600000000000 + 61 * 1000000000ll;
    assert_string_equal(render(f, "%START_TIME%"), "2026-01-01T00:01:01.000Z");
}

/* 19 digits can exceed INT64_MAX: such an attribute is no time (no
 * signed overflow), and the host's clock is used instead. */
static void
test_start_time_attribute_past_int64_max_falls_back_to_the_clock(void **state)
{
    fake *f = *state;
    f->attrs[GWF_ATTR_START_TIME] = "9999999999999999999";
    f->now_ns = 1767225600000000000 + 61 * 1000000000ll;
    assert_string_equal(render(f, "%START_TIME%"), "2026-01-01T00:01:01.000Z");
}

static void
test_start_time_takes_strftime_and_envoy_specifiers(void **state)
{
    fake *f = *state;
    f->attrs[GWF_ATTR_START_TIME] = "1767225600123456789";
    assert_string_equal(
        render(f, "%START_TIME(%Y/%m/%d %H:%M:%S|%s|%3f|%6f|%9f|%f|%%)%"),
        "2026/01/01 00:00:00|1767225600|123|123456|123456789|123456789|%");
}

static void
test_start_time_seconds_with_fraction_digits(void **state)
{
    fake *f = *state;
    f->attrs[GWF_ATTR_START_TIME] = "1767225605120000000";
    assert_string_equal(render(f, "%START_TIME(%E6S|%E*S|%E0S)%"),
                        "05.120000|05.12|05");
}

static void
test_start_time_is_cut_to_its_max_length(void **state)
{
    fake *f = *state;
    f->attrs[GWF_ATTR_START_TIME] = "1767225600123456789";
    assert_string_equal(render(f, "%START_TIME:10%"), "2026-01-01");
}

/* -- Other commands ------------------------------------------------------- */

static void
test_protocol_uses_envoy_names(void **state)
{
    fake *f = *state;
    f->attrs[GWF_ATTR_PROTOCOL] = "HTTP/2.0";
    assert_string_equal(render(f, "%PROTOCOL%"), "HTTP/2");
    f->attrs[GWF_ATTR_PROTOCOL] = "HTTP/1.1";
    assert_string_equal(render(f, "%PROTOCOL%"), "HTTP/1.1");
}

static void
test_request_headers_bytes_counts_names_values_and_pseudo_headers(void **state)
{
    fake *f = *state;
    /* :method GET (10) + :path /data.json?x=1 (19) + :scheme http (11)
     * + :authority www.example.com (25) + user-agent curl/8 (16); host
     * is :authority, counted once. */
    assert_string_equal(render(f, "%REQUEST_HEADERS_BYTES%"), "81");
}

static void
test_response_code_is_zero_before_a_response(void **state)
{
    fake *f = *state;
    assert_string_equal(render(f, "%RESPONSE_CODE%"), "0");
}

static void
test_response_code_is_the_response_status(void **state)
{
    fake *f = *state;
    f->has_response = 1;
    f->response[0] = (pair){":status", "503"};
    assert_string_equal(render(f, "%RESPONSE_CODE%"), "503");
}

static void
test_response_code_is_the_one_the_caller_is_about_to_send(void **state)
{
    fake *f = *state;
    gwf_format_vars vars = {.response_code = 418};
    render(f, "code %RESPONSE_CODE%");
    gwf_strbuf_free(&f->out);
    assert_int_equal(gwf_format_render_vars(f->f, &f->stream, &vars, &f->out),
                     GWF_OK);
    assert_string_equal(f->out.data, "code 418");
}

static void
test_route_name_is_the_route_attribute(void **state)
{
    fake *f = *state;
    f->attrs[GWF_ATTR_ROUTE_NAME] = "httpbin/rule-0";
    assert_string_equal(render(f, "%ROUTE_NAME%"), "httpbin/rule-0");
}

static void
test_hostname_is_this_machine_and_constant(void **state)
{
    fake *f = *state;
    char name[256] = "";
    gethostname(name, sizeof name);
    name[255] = '\0';
    assert_string_equal(render(f, "%HOSTNAME%"), name);
    assert_true(gwf_format_is_constant(f->f));
}

/* -- FILTER_STATE -----------------------------------------------------------
 */

static void
test_filter_state_plain_renders_the_string_as_is(void **state)
{
    fake *f = *state;
    f->values[0] = (value){"jwt_auth.claim.sub", GWF_VALUE_STRING, "alice", 5};
    assert_string_equal(render(f, "%FILTER_STATE(jwt_auth.claim.sub:PLAIN)%"),
                        "alice");
}

static void
test_filter_state_default_serializes_a_string_as_json(void **state)
{
    fake *f = *state;
    f->values[0] = (value){"k", GWF_VALUE_STRING, "al\"ice", 6};
    assert_string_equal(render(f, "%FILTER_STATE(k)% %FILTER_STATE(k:TYPED)%"),
                        "\"al\\\"ice\" \"al\\\"ice\"");
}

static void
test_filter_state_int_and_bool_render_as_json_scalars(void **state)
{
    fake *f = *state;
    int64_t n = -42;
    f->values[0] = (value){"n", GWF_VALUE_INT, &n, sizeof n};
    f->values[1] = (value){"b", GWF_VALUE_BOOL, "\1", 1};
    assert_string_equal(render(f, "%FILTER_STATE(n)% %FILTER_STATE(b:PLAIN)%"),
                        "-42 true");
}

static void
test_filter_state_of_a_missing_key_renders_a_dash(void **state)
{
    fake *f = *state;
    assert_string_equal(render(f, "%FILTER_STATE(nope)%"), "-");
}

/* -- JSON form ------------------------------------------------------------- */

static void
test_json_single_command_string_stays_a_string(void **state)
{
    fake *f = *state;
    assert_string_equal(render_json(f, "{\"path\": \"%REQ(:path)%\"}"),
                        "{\"path\":\"/data.json?x=1\"}\n");
}

static void
test_json_single_numeric_command_stays_a_number(void **state)
{
    fake *f = *state;
    assert_string_equal(render_json(f,
                                    "{\"code\": \"%RESPONSE_CODE%\", "
                                    "\"bytes\": \"%REQUEST_HEADERS_BYTES%\"}"),
                        "{\"bytes\":81,\"code\":0}\n");
}

static void
test_json_single_missing_command_is_null(void **state)
{
    fake *f = *state;
    assert_string_equal(render_json(f, "{\"x\": \"%REQ(x-missing)%\"}"),
                        "{\"x\":null}\n");
}

static void
test_json_mixed_string_renders_missing_as_dash_inside_it(void **state)
{
    fake *f = *state;
    assert_string_equal(
        render_json(f,
                    "{\"msg\": \"ua=%REQ(user-agent)% x=%REQ(x-missing)%\"}"),
        "{\"msg\":\"ua=curl/8 x=-\"}\n");
}

static void
test_json_keeps_other_values_and_sorts_keys(void **state)
{
    fake *f = *state;
    assert_string_equal(
        render_json(f, "{\"z\": 1, \"a\": {\"ok\": true, \"n\": null, "
                       "\"list\": [1.5, \"%REQ(:method)%\", \"%%\"]}}"),
        "{\"a\":{\"list\":[1.5,\"GET\",\"%\"],\"n\":null,\"ok\":true},"
        "\"z\":1}\n");
}

static void
test_json_escapes_control_bytes_quotes_and_backslashes(void **state)
{
    fake *f = *state;
    f->request[6] = (pair){"x-evil", "a\"}\\\x01\x1f\x7f\tb"};
    assert_string_equal(render_json(f, "{\"v\": \"%REQ(x-evil)%\", "
                                       "\"m\": \"<%REQ(x-evil)%>\"}"),
                        "{\"m\":\"<a\\\"}\\\\\\u0001\\u001f\\u007f\\tb>\","
                        "\"v\":\"a\\\"}\\\\\\u0001\\u001f\\u007f\\tb\"}\n");
    json_error_t err;
    json_t *back = json_loads(f->out.data, 0, &err);
    assert_non_null(back);
    json_decref(back);
}

static void
test_json_replaces_bytes_that_are_not_utf8(void **state)
{
    fake *f = *state;
    f->request[6] = (pair){"x-bin", "a\xff\xc3(\xe2\x82\xac"};
    assert_string_equal(render_json(f, "{\"v\": \"%REQ(x-bin)%\"}"),
                        "{\"v\":\"a\xef\xbf\xbd\xef\xbf\xbd(\xe2\x82\xac\"}\n");
}

static void
test_json_escapes_literal_text_and_keys(void **state)
{
    fake *f = *state;
    assert_string_equal(
        render_json(f, "{\"k\\\"\\n\": \"line\\nnext \\\"q\\\"\"}"),
        "{\"k\\\"\\n\":\"line\\nnext \\\"q\\\"\"}\n");
    assert_true(gwf_format_is_constant(f->f));
}

static void
test_json_filter_state_of_type_json_is_embedded_typed(void **state)
{
    fake *f = *state;
    const char *claims = "{\"sub\": \"alice\", \"n\": [1, 2]}";
    f->values[0] = (value){"c", GWF_VALUE_JSON, claims, strlen(claims)};
    f->values[1] = (value){"bad", GWF_VALUE_JSON, "{oops", 5};
    assert_string_equal(
        render_json(f, "{\"c\": \"%FILTER_STATE(c)%\", "
                       "\"bad\": \"%FILTER_STATE(bad)%\"}"),
        "{\"bad\":null,\"c\":{\"n\":[1,2],\"sub\":\"alice\"}}\n");
}

static void
test_json_max_length_cuts_before_escaping(void **state)
{
    fake *f = *state;
    assert_string_equal(render_json(f, "{\"p\": \"%REQ(:path):5%\"}"),
                        "{\"p\":\"/data\"}\n");
}

static void
test_json_hostname_alone_is_a_string(void **state)
{
    fake *f = *state;
    char name[256] = "", want[300];
    gethostname(name, sizeof name);
    name[255] = '\0';
    snprintf(want, sizeof want, "{\"h\":\"%s\"}\n", name);
    assert_string_equal(render_json(f, "{\"h\": \"%HOSTNAME%\"}"), want);
}

/* -- Errors --------------------------------------------------------------- */

static void
test_unknown_command_is_refused_with_its_byte(void **state)
{
    assert_refused(*state, "ok %UPSTREAM_HOST%",
                   "bodyFormat.text: expected an Envoy format string, found "
                   "a command gwf does not know or support: %UPSTREAM_HOST% "
                   "at byte 3");
}

static void
test_lone_percent_is_refused(void **state)
{
    assert_refused(*state, "50% off",
                   "bodyFormat.text: expected an Envoy format string, found "
                   "a '%' that starts no command (write %% for a literal "
                   "'%') at byte 2");
}

static void
test_unclosed_command_is_refused(void **state)
{
    assert_refused(*state, "x %PROTOCOL",
                   "bodyFormat.text: expected an Envoy format string, found "
                   "a command with no closing '%' at byte 2");
}

static void
test_argument_without_closing_parenthesis_is_refused(void **state)
{
    assert_refused(*state, "%REQ(host%",
                   "bodyFormat.text: expected an Envoy format string, found "
                   "a '(' with no ')' at byte 4");
}

static void
test_colon_without_max_length_is_refused(void **state)
{
    assert_refused(*state, "%REQ(host):x%",
                   "bodyFormat.text: expected an Envoy format string, found "
                   "a ':' with no max length after it at byte 10");
}

static void
test_huge_max_length_is_refused(void **state)
{
    assert_refused(*state, "%REQ(host):99999999999999999999999%",
                   "bodyFormat.text: expected an Envoy format string, found "
                   "a max length above 1073741824 at byte 10");
}

static void
test_req_without_a_header_name_is_refused(void **state)
{
    assert_refused(*state, "%REQ%",
                   "bodyFormat.text: expected an Envoy format string, found "
                   "%REQ% with no header name: %REQ(name)% at byte 0");
}

static void
test_req_with_two_alternatives_is_refused(void **state)
{
    assert_refused(*state, "%RESP(a?b?c)%",
                   "bodyFormat.text: expected an Envoy format string, found "
                   "%RESP% with more than one alternative header at byte 0");
}

static void
test_req_with_a_header_name_that_is_not_a_token_is_refused(void **state)
{
    assert_refused(*state, "%REQ(a b)%",
                   "bodyFormat.text: expected an Envoy format string, found "
                   "%REQ% with a header name that is not a token at byte 5");
}

static void
test_argument_to_a_command_that_takes_none_is_refused(void **state)
{
    assert_refused(*state, "%PROTOCOL(x)%",
                   "bodyFormat.text: expected an Envoy format string, found "
                   "%PROTOCOL% with an argument; it takes none at byte 0");
}

static void
test_unsupported_start_time_conversion_is_refused(void **state)
{
    assert_refused(*state, "%START_TIME(%Y %Q)%",
                   "bodyFormat.text: expected an Envoy format string, found "
                   "a START_TIME conversion gwf does not support at byte 15");
}

static void
test_filter_state_serialization_other_than_plain_or_typed_is_refused(
    void **state)
{
    assert_refused(*state, "%FILTER_STATE(k:RAW)%",
                   "bodyFormat.text: expected an Envoy format string, found "
                   "a FILTER_STATE serialization other than PLAIN or TYPED "
                   "at byte 16");
}

static void
test_filter_state_field_is_refused(void **state)
{
    assert_refused(*state, "%FILTER_STATE(k:PLAIN:f)%",
                   "bodyFormat.text: expected an Envoy format string, found "
                   "a FILTER_STATE field (gwf's values have no fields) at "
                   "byte 15");
}

static void
test_json_form_that_is_not_an_object_is_refused(void **state)
{
    fake *f = *state;
    gwf_format *out = NULL;
    json_t *list = json_array();
    assert_int_equal(
        gwf_format_compile_json(&f->c, "spec", "bodyFormat.json", list, &out),
        GWF_ERR_BAD_ARGUMENT);
    json_decref(list);
    assert_null(out);
    assert_int_equal(f->error_count, 1);
    assert_string_equal(f->errors[0],
                        "spec.bodyFormat.json: expected an object of format "
                        "strings, found a list");
}

static void
test_json_form_error_names_the_key_of_the_bad_string(void **state)
{
    fake *f = *state;
    gwf_format *out = NULL;
    json_t *obj = json_loads("{\"a\": {\"b\": [\"ok\", \"%NOPE%\"]}}", 0, NULL);
    assert_int_equal(
        gwf_format_compile_json(&f->c, "", "bodyFormat.json", obj, &out),
        GWF_ERR_BAD_ARGUMENT);
    json_decref(obj);
    assert_null(out);
    assert_int_equal(f->error_count, 1);
    assert_string_equal(f->errors[0],
                        "bodyFormat.json.a.b[1]: expected an Envoy format "
                        "string, found a command gwf does not know or "
                        "support: %NOPE% at byte 0");
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_text_without_commands_renders_as_is_and_is_constant),
        T(test_double_percent_is_one_literal_percent),
        T(test_a_constant_format_renders_without_a_stream),
        T(test_an_empty_format_renders_an_empty_string_not_null),
        T(test_req_renders_the_request_header),
        T(test_req_renders_the_first_value_of_a_repeated_header),
        T(test_req_reads_pseudo_headers_in_any_case),
        T(test_req_falls_back_to_the_alternative_header),
        T(test_req_prefers_the_main_header_to_the_alternative),
        T(test_req_of_a_missing_header_renders_a_dash),
        T(test_req_of_an_empty_header_renders_nothing_not_a_dash),
        T(test_a_value_the_host_cannot_read_fails_the_rendering),
        T(test_req_max_length_cuts_to_that_many_bytes),
        T(test_req_max_length_longer_than_the_value_keeps_it_whole),
        T(test_req_max_length_cuts_bytes_as_envoy_does_even_inside_utf8),
        T(test_req_without_query_drops_the_query),
        T(test_resp_before_there_is_a_response_renders_a_dash),
        T(test_resp_renders_the_response_header),
        T(test_text_header_values_are_rendered_byte_for_byte),
        T(test_remote_address_is_ip_colon_port),
        T(test_remote_ipv6_address_is_bracketed_before_the_port),
        T(test_remote_address_without_port_is_the_bare_ip),
        T(test_remote_address_of_a_host_without_ports_is_the_ip_alone),
        T(test_local_address_with_and_without_port),
        T(test_an_unknown_address_renders_a_dash),
        T(test_start_time_default_is_iso8601_utc_with_milliseconds),
        T(test_start_time_without_the_attribute_is_the_host_clock),
        T(test_start_time_attribute_past_int64_max_falls_back_to_the_clock),
        T(test_start_time_takes_strftime_and_envoy_specifiers),
        T(test_start_time_seconds_with_fraction_digits),
        T(test_start_time_is_cut_to_its_max_length),
        T(test_protocol_uses_envoy_names),
        T(test_request_headers_bytes_counts_names_values_and_pseudo_headers),
        T(test_response_code_is_zero_before_a_response),
        T(test_response_code_is_the_response_status),
        T(test_response_code_is_the_one_the_caller_is_about_to_send),
        T(test_route_name_is_the_route_attribute),
        T(test_hostname_is_this_machine_and_constant),
        T(test_filter_state_plain_renders_the_string_as_is),
        T(test_filter_state_default_serializes_a_string_as_json),
        T(test_filter_state_int_and_bool_render_as_json_scalars),
        T(test_filter_state_of_a_missing_key_renders_a_dash),
        T(test_json_single_command_string_stays_a_string),
        T(test_json_single_numeric_command_stays_a_number),
        T(test_json_single_missing_command_is_null),
        T(test_json_mixed_string_renders_missing_as_dash_inside_it),
        T(test_json_keeps_other_values_and_sorts_keys),
        T(test_json_escapes_control_bytes_quotes_and_backslashes),
        T(test_json_replaces_bytes_that_are_not_utf8),
        T(test_json_escapes_literal_text_and_keys),
        T(test_json_filter_state_of_type_json_is_embedded_typed),
        T(test_json_max_length_cuts_before_escaping),
        T(test_json_hostname_alone_is_a_string),
        T(test_unknown_command_is_refused_with_its_byte),
        T(test_lone_percent_is_refused),
        T(test_unclosed_command_is_refused),
        T(test_argument_without_closing_parenthesis_is_refused),
        T(test_colon_without_max_length_is_refused),
        T(test_huge_max_length_is_refused),
        T(test_req_without_a_header_name_is_refused),
        T(test_req_with_two_alternatives_is_refused),
        T(test_req_with_a_header_name_that_is_not_a_token_is_refused),
        T(test_argument_to_a_command_that_takes_none_is_refused),
        T(test_unsupported_start_time_conversion_is_refused),
        T(test_filter_state_serialization_other_than_plain_or_typed_is_refused),
        T(test_filter_state_field_is_refused),
        T(test_json_form_that_is_not_an_object_is_refused),
        T(test_json_form_error_names_the_key_of_the_bad_string),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
