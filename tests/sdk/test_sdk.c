/*
 * test_sdk.c - the helpers of gwf/sdk.h, one behaviour per test.
 *
 * The logging, config-error and header helpers reach the host only
 * through the gwf_host table, so the tests hand them a fake table whose
 * slots record what they were called with. Each fake instance and stream
 * carries a pointer to its test's recorder: there is no shared state
 * between tests except the realloc switch below, which is off unless a
 * test turns it on.
 *
 * Allocation failure in gwf_strbuf is provoked for real: the test binary
 * is linked with -Wl,--wrap=realloc, so the SDK's realloc calls land in
 * __wrap_realloc, which fails on request and otherwise forwards to libc.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include <gwf/sdk.h>

#define NS_PER_S UINT64_C(1000000000)

/* ---- realloc that fails on request -------------------------------------- */

void *__real_realloc(void *ptr, size_t size);
void *__wrap_realloc(void *ptr, size_t size);

/* When set, the next realloc from the SDK returns NULL. */
static int realloc_should_fail;

void *
__wrap_realloc(void *ptr, size_t size)
{
    if (realloc_should_fail)
        return NULL;
    return __real_realloc(ptr, size);
}

/* ---- fake host ---------------------------------------------------------- */

/* Which host slot was called last. */
enum host_call {
    CALL_NONE,
    CALL_LOG,
    CALL_STREAM_LOG,
    CALL_CONFIG_ERROR,
    CALL_HEADER_GET,
    CALL_HEADER_SET,
    CALL_HEADER_ADD,
    CALL_HEADER_REMOVE,
    CALL_SEND_LOCAL_REPLY
};

/* Room for a whole log line and then some, so a cut is visible. */
#define RECORD_MAX 4096

struct record {
    enum host_call last_call;
    int calls;
    /* The lowest level log_enabled reports as on. */
    gwf_log_level min_level;
    /* What the last call was given. */
    gwf_instance *inst;
    gwf_stream *stream;
    gwf_log_level level;
    int field_was_null;
    char field[RECORD_MAX];
    char msg[RECORD_MAX];
    size_t msg_len;
    gwf_message_kind which;
    char name[RECORD_MAX];
    size_t name_len;
    char value[RECORD_MAX];
    size_t value_len;
    size_t index;
    uint32_t status;
    const gwf_header *headers;
    size_t header_count;
    int body_was_null;
    char body[RECORD_MAX];
    size_t body_len;
    const char *details;
    /* What header_get hands back. */
    gwf_view header_value;
};

struct fake_instance {
    gwf_instance base; /* first: the host slots cast back to this */
    struct record *rec;
};

struct fake_stream {
    gwf_stream base; /* first: the host slots cast back to this */
    struct record *rec;
    /* What stream_instance returns; NULL plays a dead handle. */
    gwf_instance *inst;
};

static struct record *
inst_record(gwf_instance *inst)
{
    return ((struct fake_instance *)inst)->rec;
}

static struct record *
stream_record(gwf_stream *s)
{
    return ((struct fake_stream *)s)->rec;
}

static void
copy_bytes(char *dst, size_t *dst_len, const char *src, size_t len)
{
    assert_true(len < RECORD_MAX);
    if (len > 0)
        memcpy(dst, src, len);
    dst[len] = '\0';
    if (dst_len)
        *dst_len = len;
}

static void
note_call(struct record *rec, enum host_call call)
{
    rec->last_call = call;
    rec->calls++;
}

static void
fake_log(gwf_instance *inst, gwf_log_level level, const char *msg, size_t len)
{
    struct record *rec = inst_record(inst);

    note_call(rec, CALL_LOG);
    rec->inst = inst;
    rec->level = level;
    copy_bytes(rec->msg, &rec->msg_len, msg, len);
}

static void
fake_stream_log(gwf_stream *s, gwf_log_level level, const char *msg, size_t len)
{
    struct record *rec = stream_record(s);

    note_call(rec, CALL_STREAM_LOG);
    rec->stream = s;
    rec->level = level;
    copy_bytes(rec->msg, &rec->msg_len, msg, len);
}

static int32_t
fake_log_enabled(gwf_instance *inst, gwf_log_level level)
{
    return level >= inst_record(inst)->min_level;
}

static void
fake_config_error(gwf_instance *inst, const char *field, const char *msg,
                  size_t len)
{
    struct record *rec = inst_record(inst);

    note_call(rec, CALL_CONFIG_ERROR);
    rec->inst = inst;
    rec->field_was_null = field == NULL;
    if (field)
        copy_bytes(rec->field, NULL, field, strlen(field));
    copy_bytes(rec->msg, &rec->msg_len, msg, len);
}

static gwf_instance *
fake_stream_instance(gwf_stream *s)
{
    return ((struct fake_stream *)s)->inst;
}

static gwf_status
fake_header_get(gwf_stream *s, gwf_message_kind which, const char *name,
                size_t name_len, size_t index, gwf_view *value)
{
    struct record *rec = stream_record(s);

    note_call(rec, CALL_HEADER_GET);
    rec->stream = s;
    rec->which = which;
    rec->index = index;
    copy_bytes(rec->name, &rec->name_len, name, name_len);
    *value = rec->header_value;
    return GWF_OK;
}

static gwf_status
fake_header_set(gwf_stream *s, gwf_message_kind which, const char *name,
                size_t name_len, const char *value, size_t value_len)
{
    struct record *rec = stream_record(s);

    note_call(rec, CALL_HEADER_SET);
    rec->stream = s;
    rec->which = which;
    copy_bytes(rec->name, &rec->name_len, name, name_len);
    copy_bytes(rec->value, &rec->value_len, value, value_len);
    return GWF_OK;
}

static gwf_status
fake_header_add(gwf_stream *s, gwf_message_kind which, const char *name,
                size_t name_len, const char *value, size_t value_len)
{
    struct record *rec = stream_record(s);

    note_call(rec, CALL_HEADER_ADD);
    rec->stream = s;
    rec->which = which;
    copy_bytes(rec->name, &rec->name_len, name, name_len);
    copy_bytes(rec->value, &rec->value_len, value, value_len);
    /* Distinct from the other slots, to see the status passed back. */
    return GWF_ERR_LIMIT;
}

static gwf_status
fake_header_remove(gwf_stream *s, gwf_message_kind which, const char *name,
                   size_t name_len)
{
    struct record *rec = stream_record(s);

    note_call(rec, CALL_HEADER_REMOVE);
    rec->stream = s;
    rec->which = which;
    copy_bytes(rec->name, &rec->name_len, name, name_len);
    return GWF_OK;
}

static gwf_status
fake_send_local_reply(gwf_stream *s, uint32_t status, const gwf_header *headers,
                      size_t header_count, const char *body, size_t body_len,
                      const char *details)
{
    struct record *rec = stream_record(s);

    note_call(rec, CALL_SEND_LOCAL_REPLY);
    rec->stream = s;
    rec->status = status;
    rec->headers = headers;
    rec->header_count = header_count;
    rec->body_was_null = body == NULL;
    if (body)
        copy_bytes(rec->body, &rec->body_len, body, body_len);
    else
        rec->body_len = body_len;
    rec->details = details;
    return GWF_OK;
}

/* One test's world: a host table (tests may clear slots), an instance
 * and a live stream of that instance, and the recorder they share. */
struct fixture {
    gwf_host host;
    struct fake_instance inst;
    struct fake_stream stream;
    struct record rec;
};

static int
setup_host(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (!f)
        return -1;
    f->host.size = sizeof(f->host);
    f->host.abi_major = GWF_ABI_VERSION_MAJOR;
    f->host.abi_minor = GWF_ABI_VERSION_MINOR;
    f->host.name = "sdk-test";
    f->host.log = fake_log;
    f->host.stream_log = fake_stream_log;
    f->host.log_enabled = fake_log_enabled;
    f->host.config_error = fake_config_error;
    f->host.stream_instance = fake_stream_instance;
    f->host.header_get = fake_header_get;
    f->host.header_set = fake_header_set;
    f->host.header_add = fake_header_add;
    f->host.header_remove = fake_header_remove;
    f->host.send_local_reply = fake_send_local_reply;
    f->inst.base.host = &f->host;
    f->inst.rec = &f->rec;
    f->stream.base.host = &f->host;
    f->stream.rec = &f->rec;
    f->stream.inst = &f->inst.base;
    f->rec.min_level = GWF_LOG_DEBUG;
    *state = f;
    return 0;
}

static int
teardown_host(void **state)
{
    free(*state);
    return 0;
}

/* A string of `len` bytes cycling through the alphabet, so that a cut in
 * the wrong place shows up as a mismatch, not just a wrong length. */
static char *
make_text(size_t len)
{
    char *text = malloc(len + 1);

    assert_non_null(text);
    for (size_t i = 0; i < len; i++)
        text[i] = (char)('a' + i % 26);
    text[len] = '\0';
    return text;
}

/* ---- gwf_cstr, gwf_view_eq, gwf_view_ieq -------------------------------- */

static void
test_cstr_views_the_whole_string(void **state)
{
    const char *s = "x-hello";
    gwf_view v = gwf_cstr(s);

    (void)state;
    assert_ptr_equal(v.ptr, s);
    assert_int_equal(v.len, 7);
}

static void
test_cstr_of_null_is_the_empty_view(void **state)
{
    gwf_view v = gwf_cstr(NULL);

    (void)state;
    assert_null(v.ptr);
    assert_int_equal(v.len, 0);
}

static void
test_view_eq_matches_the_same_bytes(void **state)
{
    (void)state;
    assert_true(gwf_view_eq(gwf_cstr("content-type"), "content-type"));
}

static void
test_view_eq_is_case_sensitive(void **state)
{
    (void)state;
    assert_false(gwf_view_eq(gwf_cstr("Content-Type"), "content-type"));
}

static void
test_view_eq_rejects_a_prefix_either_way(void **state)
{
    (void)state;
    assert_false(gwf_view_eq(gwf_cstr("content"), "content-type"));
    assert_false(gwf_view_eq(gwf_cstr("content-type"), "content"));
}

static void
test_view_eq_reads_only_len_bytes(void **state)
{
    gwf_view v = {"abcdef", 3};

    (void)state;
    assert_true(gwf_view_eq(v, "abc"));
    assert_false(gwf_view_eq(v, "abcdef"));
}

static void
test_view_eq_empty_view_equals_empty_and_null_string(void **state)
{
    gwf_view null_view = {NULL, 0};

    (void)state;
    assert_true(gwf_view_eq(null_view, ""));
    assert_true(gwf_view_eq(null_view, NULL));
    assert_true(gwf_view_eq(gwf_cstr(""), NULL));
    assert_false(gwf_view_eq(null_view, "a"));
}

static void
test_view_ieq_ignores_ascii_case(void **state)
{
    (void)state;
    assert_true(gwf_view_ieq(gwf_cstr("Content-TYPE"), "cONTENT-type"));
}

static void
test_view_ieq_rejects_different_letters(void **state)
{
    (void)state;
    assert_false(gwf_view_ieq(gwf_cstr("content-typf"), "Content-Type"));
}

static void
test_view_ieq_rejects_a_different_length(void **state)
{
    (void)state;
    assert_false(gwf_view_ieq(gwf_cstr("Content"), "content-type"));
}

static void
test_view_ieq_does_not_fold_non_ascii(void **state)
{
    (void)state;
    /* "É" and "é" in UTF-8 differ in their second byte only. */
    assert_false(gwf_view_ieq(gwf_cstr("\xc3\x89"), "\xc3\xa9"));
    /* Bytes that are letters plus 0x80 are not letters. */
    assert_false(gwf_view_ieq(gwf_cstr("\xc1"), "\xe1"));
}

static void
test_view_ieq_reads_only_len_bytes(void **state)
{
    gwf_view v = {"ABCdef", 3};

    (void)state;
    assert_true(gwf_view_ieq(v, "abc"));
}

static void
test_view_ieq_empty_view_equals_empty_and_null_string(void **state)
{
    gwf_view null_view = {NULL, 0};

    (void)state;
    assert_true(gwf_view_ieq(null_view, ""));
    assert_true(gwf_view_ieq(null_view, NULL));
}

/* ---- gwf_parse_duration ------------------------------------------------- */

/* Parse a C string; the result is `*ns`, which starts at a marker value so
 * a failed parse can be seen to leave it alone. */
static int
parse(const char *text, uint64_t *ns)
{
    *ns = UINT64_C(0xdeadbeef);
    return gwf_parse_duration(text, strlen(text), ns);
}

static void
assert_duration(const char *text, uint64_t expected)
{
    uint64_t ns;

    if (parse(text, &ns) != 0)
        fail_msg("\"%s\" was rejected", text);
    if (ns != expected)
        fail_msg("\"%s\" parsed as %llu ns, expected %llu", text,
                 (unsigned long long)ns, (unsigned long long)expected);
}

static void
assert_duration_rejected(const char *text)
{
    uint64_t ns;

    if (parse(text, &ns) != -1)
        fail_msg("\"%s\" was accepted as %llu ns", text,
                 (unsigned long long)ns);
    assert_int_equal(ns, UINT64_C(0xdeadbeef));
}

static void
test_duration_each_unit_scales_to_nanoseconds(void **state)
{
    (void)state;
    assert_duration("7ns", 7);
    assert_duration("7us", UINT64_C(7000));
    assert_duration("7ms", UINT64_C(7000000));
    assert_duration("7s", 7 * NS_PER_S);
    assert_duration("7m", 7 * 60 * NS_PER_S);
    assert_duration("7h", 7 * 3600 * NS_PER_S);
}

static void
test_duration_micro_sign_and_greek_mu_mean_microseconds(void **state)
{
    (void)state;
    assert_duration("100\xc2\xb5s", UINT64_C(100000)); /* U+00B5 */
    assert_duration("100\xce\xbcs", UINT64_C(100000)); /* U+03BC */
}

static void
test_duration_multi_digit_numbers(void **state)
{
    (void)state;
    assert_duration("250ms", UINT64_C(250000000));
    assert_duration("0100s", 100 * NS_PER_S);
}

static void
test_duration_fraction_of_a_unit(void **state)
{
    (void)state;
    assert_duration("1.5s", UINT64_C(1500000000));
    assert_duration("0.25h", 15 * 60 * NS_PER_S);
    assert_duration("2.5us", UINT64_C(2500));
}

static void
test_duration_fraction_without_whole_or_fraction_digits(void **state)
{
    (void)state;
    assert_duration(".5s", NS_PER_S / 2);
    assert_duration("1.s", NS_PER_S);
}

static void
test_duration_fraction_below_a_nanosecond_is_truncated(void **state)
{
    (void)state;
    assert_duration("1.9ns", 1);
    assert_duration("0.9ns", 0);
    assert_duration("1.0000009us", 1000);
}

static void
test_duration_long_fraction_is_exact_not_rounded_through_double(void **state)
{
    (void)state;
    /* floor(0.3333333333333333333333 * 3600e9) = 1199999999999, where a
     * double would give 1200000000000. */
    assert_duration("0.3333333333333333333333h", UINT64_C(1199999999999));
    /* 30 digits of 9 below 1 s: one nanosecond short of a second. */
    assert_duration("0.999999999999999999999999999999s", NS_PER_S - 1);
}

static void
test_duration_terms_are_summed(void **state)
{
    (void)state;
    assert_duration("1m30s", 90 * NS_PER_S);
    assert_duration("1h2m3s4ms5us6ns", 3723 * NS_PER_S + UINT64_C(4005006));
}

static void
test_duration_terms_may_repeat_and_come_in_any_order(void **state)
{
    (void)state;
    assert_duration("1s1s", 2 * NS_PER_S);
    assert_duration("30s1m", 90 * NS_PER_S);
    assert_duration("1.5m0.5m", 2 * 60 * NS_PER_S);
}

static void
test_duration_lone_zero_is_zero(void **state)
{
    (void)state;
    assert_duration("0", 0);
}

static void
test_duration_zero_with_a_unit_is_zero(void **state)
{
    (void)state;
    assert_duration("0s", 0);
    assert_duration("0.0ms", 0);
}

static void
test_duration_number_without_unit_is_rejected(void **state)
{
    (void)state;
    assert_duration_rejected("10");
    assert_duration_rejected("00");
    assert_duration_rejected("1.5");
    assert_duration_rejected("1m30");
}

static void
test_duration_unit_without_number_is_rejected(void **state)
{
    (void)state;
    assert_duration_rejected("s");
    assert_duration_rejected("ms");
    assert_duration_rejected("1ss");
    assert_duration_rejected(".s");
    assert_duration_rejected("1s.");
}

static void
test_duration_unknown_unit_is_rejected(void **state)
{
    (void)state;
    assert_duration_rejected("1d");
    assert_duration_rejected("1S");
    assert_duration_rejected("1sec");
    assert_duration_rejected("1\xc2\xb5");
}

static void
test_duration_sign_is_rejected(void **state)
{
    (void)state;
    assert_duration_rejected("-1s");
    assert_duration_rejected("+1s");
    assert_duration_rejected("-0");
}

static void
test_duration_whitespace_is_rejected(void **state)
{
    (void)state;
    assert_duration_rejected(" 1s");
    assert_duration_rejected("1s ");
    assert_duration_rejected("1 s");
    assert_duration_rejected("1m 30s");
}

static void
test_duration_garbage_is_rejected(void **state)
{
    (void)state;
    assert_duration_rejected("abc");
    assert_duration_rejected("1..5s");
    assert_duration_rejected("1.5.5s");
    assert_duration_rejected("1,5s");
    assert_duration_rejected("0x10s");
}

static void
test_duration_empty_text_is_rejected(void **state)
{
    uint64_t ns = 42;

    (void)state;
    assert_int_equal(gwf_parse_duration("", 0, &ns), -1);
    assert_int_equal(gwf_parse_duration("1s", 0, &ns), -1);
    assert_int_equal(ns, 42);
}

static void
test_duration_null_arguments_are_rejected(void **state)
{
    uint64_t ns = 42;

    (void)state;
    assert_int_equal(gwf_parse_duration(NULL, 2, &ns), -1);
    assert_int_equal(ns, 42);
    assert_int_equal(gwf_parse_duration("1s", 2, NULL), -1);
}

static void
test_duration_reads_only_len_bytes(void **state)
{
    uint64_t ns = 0;

    (void)state;
    assert_int_equal(gwf_parse_duration("1s500ms", 2, &ns), 0);
    assert_int_equal(ns, NS_PER_S);
    /* Cut inside a unit: "1m" of "1ms" is a minute. */
    assert_int_equal(gwf_parse_duration("1ms", 2, &ns), 0);
    assert_int_equal(ns, 60 * NS_PER_S);
}

static void
test_duration_int64_max_is_accepted(void **state)
{
    (void)state;
    assert_duration("9223372036854775807ns", INT64_MAX);
    assert_duration("9223372036.854775807s", INT64_MAX);
    assert_duration("2562047h", UINT64_C(2562047) * 3600 * NS_PER_S);
}

static void
test_duration_number_above_int64_max_is_rejected(void **state)
{
    (void)state;
    assert_duration_rejected("9223372036854775808ns");
    assert_duration_rejected("99999999999999999999999999ns");
}

static void
test_duration_product_above_int64_max_is_rejected(void **state)
{
    (void)state;
    assert_duration_rejected("2562048h");
    assert_duration_rejected("9223372037s");
}

static void
test_duration_fraction_pushing_above_int64_max_is_rejected(void **state)
{
    (void)state;
    /* The whole part fits after scaling; its fraction does not. */
    assert_duration_rejected("9223372036.854775808s");
}

static void
test_duration_sum_above_int64_max_is_rejected(void **state)
{
    (void)state;
    assert_duration_rejected("9223372036854775807ns1ns");
    assert_duration_rejected("2562047h2562047h");
}

/* ---- gwf_is_header_name, gwf_is_header_value ---------------------------- */

static void
test_header_name_accepts_a_token(void **state)
{
    (void)state;
    assert_true(gwf_is_header_name("Content-Type", 12));
    assert_true(gwf_is_header_name("x", 1));
}

static void
test_header_name_accepts_every_tchar_symbol(void **state)
{
    const char *symbols = "!#$%&'*+-.^_`|~";

    (void)state;
    assert_true(gwf_is_header_name(symbols, strlen(symbols)));
    assert_true(gwf_is_header_name("azAZ09", 6));
}

static void
test_header_name_rejects_separators_and_spaces(void **state)
{
    const char *bad = "()<>@,;:\\\"/[]?={} \t";

    (void)state;
    for (const char *c = bad; *c; c++) {
        char name[3] = {'a', *c, 'b'};
        if (gwf_is_header_name(name, sizeof(name)))
            fail_msg("accepted a name with 0x%02x", (unsigned char)*c);
    }
}

static void
test_header_name_rejects_controls_nul_and_non_ascii(void **state)
{
    (void)state;
    assert_false(gwf_is_header_name("a\0b", 3));
    assert_false(gwf_is_header_name("a\rb", 3));
    assert_false(gwf_is_header_name("a\nb", 3));
    assert_false(gwf_is_header_name("a\x7f", 2));
    assert_false(gwf_is_header_name("caf\xc3\xa9", 5));
}

static void
test_header_name_rejects_empty_and_null(void **state)
{
    (void)state;
    assert_false(gwf_is_header_name("", 0));
    assert_false(gwf_is_header_name("x", 0));
    assert_false(gwf_is_header_name(NULL, 3));
}

static void
test_header_name_reads_only_len_bytes(void **state)
{
    (void)state;
    assert_true(gwf_is_header_name("x-id: 1", 4));
}

static void
test_header_value_accepts_text_with_spaces_and_tabs(void **state)
{
    const char *value = "text/html; charset=utf-8\t q=0.9";

    (void)state;
    assert_true(gwf_is_header_value(value, strlen(value)));
}

static void
test_header_value_accepts_obs_text(void **state)
{
    (void)state;
    assert_true(gwf_is_header_value("caf\xc3\xa9", 5));
    assert_true(gwf_is_header_value("\x80\xff", 2));
}

static void
test_header_value_accepts_every_visible_byte_space_and_tab(void **state)
{
    (void)state;
    for (unsigned c = 0x20; c <= 0xff; c++) {
        char value[3] = {'a', (char)c, 'b'};
        if (c != 0x7f && !gwf_is_header_value(value, sizeof(value)))
            fail_msg("refused a value with 0x%02x", c);
    }
    assert_true(gwf_is_header_value("a\tb", 3));
}

/* One assertion per byte, so a failure names the byte. */
static void
assert_value_refused_with(unsigned char c)
{
    char inside[3] = {'a', (char)c, 'b'};
    char at_end[2] = {'a', (char)c};
    if (gwf_is_header_value(inside, sizeof(inside)))
        fail_msg("accepted a value with 0x%02x inside", c);
    if (gwf_is_header_value(at_end, sizeof(at_end)))
        fail_msg("accepted a value ending with 0x%02x", c);
}

static void
test_header_value_rejects_soh_0x01(void **state)
{
    (void)state;
    assert_value_refused_with(0x01);
}

static void
test_header_value_rejects_unit_separator_0x1f(void **state)
{
    (void)state;
    assert_value_refused_with(0x1f);
}

static void
test_header_value_rejects_del_0x7f(void **state)
{
    (void)state;
    assert_value_refused_with(0x7f);
}

static void
test_header_value_rejects_every_control_byte_but_tab(void **state)
{
    (void)state;
    for (unsigned c = 0; c < 0x20; c++)
        if (c != '\t')
            assert_value_refused_with((unsigned char)c);
}

static void
test_header_value_rejects_cr_lf_and_nul(void **state)
{
    (void)state;
    assert_value_refused_with('\r');
    assert_value_refused_with('\n');
    assert_value_refused_with('\0');
    assert_false(gwf_is_header_value("ok\r\nx-injected: 1", 17));
}

static void
test_header_value_accepts_leading_and_trailing_whitespace(void **state)
{
    /* Not part of the value (RFC 9110 5.5): the host strips it. */
    (void)state;
    assert_true(gwf_is_header_value(" \tv\t ", 5));
    assert_true(gwf_is_header_value("  ", 2));
}

static void
test_hop_by_hop_headers_are_the_seven_of_rfc_9110_in_any_case(void **state)
{
    static const char *const hop[] = {
        "connection", "Keep-Alive",        "PROXY-CONNECTION", "te",
        "Trailer",    "transfer-encoding", "upgrade"};

    (void)state;
    for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
        if (!gwf_is_hop_by_hop_header(hop[i], strlen(hop[i])))
            fail_msg("%s is hop-by-hop", hop[i]);
    assert_false(gwf_is_hop_by_hop_header("content-length", 14));
    assert_false(gwf_is_hop_by_hop_header("trailers", 8));
    assert_false(gwf_is_hop_by_hop_header("tee", 3));
    assert_false(gwf_is_hop_by_hop_header("connection", 4));
    assert_false(gwf_is_hop_by_hop_header(NULL, 0));
}

static void
test_header_list_contains_finds_elements_around_white_space(void **state)
{
    const char *list = "close ,X-Hop,\t x-other\t,,";

    (void)state;
    assert_true(gwf_header_list_contains(list, strlen(list), "close", 5));
    assert_true(gwf_header_list_contains(list, strlen(list), "x-hop", 5));
    assert_true(gwf_header_list_contains(list, strlen(list), "X-OTHER", 7));
    assert_false(gwf_header_list_contains(list, strlen(list), "x-ho", 4));
    assert_false(gwf_header_list_contains(list, strlen(list), "hop", 3));
    assert_false(gwf_header_list_contains(list, strlen(list), "", 0));
    /* Only `list_len` bytes are read. */
    assert_false(gwf_header_list_contains("close, x-hop", 5, "x-hop", 5));
    assert_false(gwf_header_list_contains(NULL, 0, "close", 5));
}

static void
test_header_value_empty_is_valid_even_when_null(void **state)
{
    (void)state;
    assert_true(gwf_is_header_value("", 0));
    assert_true(gwf_is_header_value(NULL, 0));
}

static void
test_header_value_null_with_a_length_is_rejected(void **state)
{
    (void)state;
    assert_false(gwf_is_header_value(NULL, 1));
}

static void
test_header_value_reads_only_len_bytes(void **state)
{
    (void)state;
    assert_true(gwf_is_header_value("ok\r\n", 2));
}

/* ---- gwf_strbuf --------------------------------------------------------- */

static void
test_strbuf_starts_empty_with_null_data(void **state)
{
    gwf_strbuf b = {0};

    (void)state;
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    gwf_strbuf_free(&b);
}

static void
test_strbuf_append_copies_and_terminates(void **state)
{
    gwf_strbuf b = {0};

    (void)state;
    gwf_strbuf_append(&b, "hello, world", 5);
    assert_non_null(b.data);
    assert_int_equal(b.len, 5);
    assert_string_equal(b.data, "hello");
    assert_false(b.failed);
    gwf_strbuf_free(&b);
}

static void
test_strbuf_appends_concatenate(void **state)
{
    gwf_strbuf b = {0};

    (void)state;
    gwf_strbuf_append(&b, "Bearer", 6);
    gwf_strbuf_append(&b, " ", 1);
    gwf_strbuf_append(&b, "abc", 3);
    assert_int_equal(b.len, 10);
    assert_string_equal(b.data, "Bearer abc");
    gwf_strbuf_free(&b);
}

static void
test_strbuf_empty_append_gives_an_empty_string(void **state)
{
    gwf_strbuf b = {0};

    (void)state;
    gwf_strbuf_append(&b, NULL, 0);
    assert_non_null(b.data);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    assert_false(b.failed);
    gwf_strbuf_free(&b);
}

static void
test_strbuf_keeps_embedded_nul_bytes(void **state)
{
    gwf_strbuf b = {0};

    (void)state;
    gwf_strbuf_append(&b, "a\0b", 3);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "a\0b", 4);
    gwf_strbuf_free(&b);
}

static void
test_strbuf_grows_and_keeps_earlier_bytes(void **state)
{
    char *expected = make_text(10000);
    gwf_strbuf b = {0};

    (void)state;
    /* Byte by byte crosses every capacity step; then one large append
     * needs several doublings at once. */
    for (size_t i = 0; i < 1000; i++) {
        gwf_strbuf_append(&b, expected + i, 1);
        assert_true(b.cap > b.len);
    }
    gwf_strbuf_append(&b, expected + 1000, 9000);
    assert_false(b.failed);
    assert_int_equal(b.len, 10000);
    assert_true(b.cap > b.len);
    assert_string_equal(b.data, expected);
    gwf_strbuf_free(&b);
    free(expected);
}

static void
test_strbuf_appendf_formats(void **state)
{
    gwf_strbuf b = {0};

    (void)state;
    gwf_strbuf_appendf(&b, "%s=%d", "status", 404);
    assert_int_equal(b.len, 10);
    assert_string_equal(b.data, "status=404");
    assert_false(b.failed);
    gwf_strbuf_free(&b);
}

static void
test_strbuf_appendf_appends_after_existing_text(void **state)
{
    gwf_strbuf b = {0};

    (void)state;
    gwf_strbuf_append(&b, "a", 1);
    gwf_strbuf_appendf(&b, "-%u", 7u);
    gwf_strbuf_appendf(&b, "-%s", "z");
    assert_string_equal(b.data, "a-7-z");
    assert_int_equal(b.len, 5);
    gwf_strbuf_free(&b);
}

static void
test_strbuf_appendf_grows_when_the_output_does_not_fit(void **state)
{
    char *long_text = make_text(5000);
    gwf_strbuf b = {0};

    (void)state;
    gwf_strbuf_append(&b, "<", 1);
    gwf_strbuf_appendf(&b, "%s>", long_text);
    assert_false(b.failed);
    assert_int_equal(b.len, 5002);
    assert_int_equal(b.data[0], '<');
    assert_memory_equal(b.data + 1, long_text, 5000);
    assert_string_equal(b.data + 5001, ">");
    gwf_strbuf_free(&b);
    free(long_text);
}

static void
test_strbuf_appendf_empty_output_gives_an_empty_string(void **state)
{
    gwf_strbuf b = {0};

    (void)state;
    gwf_strbuf_appendf(&b, "%s", "");
    assert_non_null(b.data);
    assert_string_equal(b.data, "");
    assert_int_equal(b.len, 0);
    gwf_strbuf_free(&b);
}

static void
test_strbuf_oversized_append_sets_failed_and_keeps_text(void **state)
{
    gwf_strbuf b = {0};

    (void)state;
    gwf_strbuf_append(&b, "kept", 4);
    /* len + SIZE_MAX overflows: refused before any allocation, and the
     * source is never read. */
    gwf_strbuf_append(&b, "x", SIZE_MAX);
    assert_true(b.failed);
    assert_int_equal(b.len, 4);
    assert_string_equal(b.data, "kept");
    gwf_strbuf_free(&b);
}

static void
test_strbuf_allocation_failure_sets_failed_and_keeps_text(void **state)
{
    char *big = make_text(1000);
    gwf_strbuf b = {0};

    (void)state;
    gwf_strbuf_append(&b, "kept", 4);
    realloc_should_fail = 1;
    gwf_strbuf_append(&b, big, 1000);
    realloc_should_fail = 0;
    assert_true(b.failed);
    assert_int_equal(b.len, 4);
    assert_string_equal(b.data, "kept");
    gwf_strbuf_free(&b);
    free(big);
}

static void
test_strbuf_first_allocation_failure_leaves_data_null(void **state)
{
    gwf_strbuf b = {0};

    (void)state;
    realloc_should_fail = 1;
    gwf_strbuf_append(&b, "x", 1);
    realloc_should_fail = 0;
    assert_true(b.failed);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    gwf_strbuf_free(&b);
}

static void
test_strbuf_appendf_allocation_failure_sets_failed_and_keeps_text(void **state)
{
    char *big = make_text(1000);
    gwf_strbuf b = {0};

    (void)state;
    gwf_strbuf_append(&b, "kept", 4);
    realloc_should_fail = 1;
    gwf_strbuf_appendf(&b, "%s", big);
    realloc_should_fail = 0;
    assert_true(b.failed);
    assert_int_equal(b.len, 4);
    assert_string_equal(b.data, "kept");
    gwf_strbuf_free(&b);
    free(big);
}

static void
test_strbuf_ignores_appends_once_failed(void **state)
{
    gwf_strbuf b = {0};

    (void)state;
    gwf_strbuf_append(&b, "kept", 4);
    gwf_strbuf_append(&b, "x", SIZE_MAX);
    assert_true(b.failed);
    /* Small appends would fit, but a failed buffer stays as it was. */
    gwf_strbuf_append(&b, "y", 1);
    gwf_strbuf_appendf(&b, "%d", 1);
    assert_true(b.failed);
    assert_int_equal(b.len, 4);
    assert_string_equal(b.data, "kept");
    gwf_strbuf_free(&b);
}

static void
test_strbuf_appendf_format_error_sets_failed_and_keeps_text(void **state)
{
    /* Outside a UTF-8 locale glibc cannot convert U+0100 for %ls and
     * vsnprintf returns -1. A libc that can (musl's C locale is UTF-8)
     * gives no way to make the format fail: skip there. */
    static const wchar_t unconvertible[] = {0x100, 0};
    char probe[8];
    gwf_strbuf b = {0};

    (void)state;
    if (snprintf(probe, sizeof(probe), "%ls", unconvertible) >= 0)
        skip();
    gwf_strbuf_append(&b, "kept", 4);
    gwf_strbuf_appendf(&b, "abc%ls", unconvertible);
    assert_true(b.failed);
    assert_int_equal(b.len, 4);
    assert_string_equal(b.data, "kept");
    gwf_strbuf_free(&b);
}

static void
test_strbuf_free_resets_to_the_initial_state(void **state)
{
    gwf_strbuf b = {0};

    (void)state;
    gwf_strbuf_append(&b, "kept", 4);
    gwf_strbuf_append(&b, "x", SIZE_MAX);
    gwf_strbuf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    assert_false(b.failed);
}

static void
test_strbuf_is_reusable_after_free(void **state)
{
    gwf_strbuf b = {0};

    (void)state;
    gwf_strbuf_append(&b, "first", 5);
    gwf_strbuf_free(&b);
    gwf_strbuf_append(&b, "second", 6);
    assert_string_equal(b.data, "second");
    assert_int_equal(b.len, 6);
    gwf_strbuf_free(&b);
}

static void
test_strbuf_free_accepts_null_and_a_never_used_buffer(void **state)
{
    gwf_strbuf b = {0};

    (void)state;
    gwf_strbuf_free(NULL);
    gwf_strbuf_free(&b);
    gwf_strbuf_free(&b);
    assert_null(b.data);
}

/* ---- gwf_logf ----------------------------------------------------------- */

static void
test_logf_formats_and_passes_instance_and_level(void **state)
{
    struct fixture *f = *state;

    gwf_logf(&f->inst.base, GWF_LOG_WARN, "jwks %s: %d keys", "refreshed", 3);
    assert_int_equal(f->rec.calls, 1);
    assert_int_equal(f->rec.last_call, CALL_LOG);
    assert_ptr_equal(f->rec.inst, &f->inst.base);
    assert_int_equal(f->rec.level, GWF_LOG_WARN);
    assert_string_equal(f->rec.msg, "jwks refreshed: 3 keys");
    assert_int_equal(f->rec.msg_len, 22);
}

static void
test_logf_skips_a_disabled_level(void **state)
{
    struct fixture *f = *state;

    f->rec.min_level = GWF_LOG_INFO;
    gwf_logf(&f->inst.base, GWF_LOG_DEBUG, "noise %d", 1);
    assert_int_equal(f->rec.calls, 0);
    gwf_logf(&f->inst.base, GWF_LOG_INFO, "kept");
    assert_int_equal(f->rec.calls, 1);
    assert_string_equal(f->rec.msg, "kept");
}

static void
test_logf_logs_every_level_without_log_enabled(void **state)
{
    struct fixture *f = *state;

    f->host.log_enabled = NULL;
    f->rec.min_level = GWF_LOG_ERROR;
    gwf_logf(&f->inst.base, GWF_LOG_DEBUG, "debug");
    assert_int_equal(f->rec.calls, 1);
    assert_string_equal(f->rec.msg, "debug");
}

static void
test_logf_keeps_a_1023_byte_message_whole(void **state)
{
    struct fixture *f = *state;
    char *text = make_text(1023);

    gwf_logf(&f->inst.base, GWF_LOG_INFO, "%s", text);
    assert_int_equal(f->rec.msg_len, 1023);
    assert_string_equal(f->rec.msg, text);
    free(text);
}

/* sdk.h says "longer than 1 KiB are cut"; the buffer is 1 KiB including
 * the NUL, so the cut keeps 1023 bytes, and a message of exactly 1024
 * bytes loses its last one. */
static void
test_logf_cuts_a_longer_message_to_1023_bytes(void **state)
{
    struct fixture *f = *state;
    char *text = make_text(3000);

    gwf_logf(&f->inst.base, GWF_LOG_INFO, "%s", text);
    assert_int_equal(f->rec.calls, 1);
    assert_int_equal(f->rec.msg_len, 1023);
    assert_memory_equal(f->rec.msg, text, 1023);
    free(text);
}

static void
test_logf_ignores_null_instance_and_missing_log_slot(void **state)
{
    struct fixture *f = *state;

    gwf_logf(NULL, GWF_LOG_ERROR, "nowhere");
    f->host.log = NULL;
    gwf_logf(&f->inst.base, GWF_LOG_ERROR, "nowhere");
    assert_int_equal(f->rec.calls, 0);
}

/* ---- gwf_stream_logf ---------------------------------------------------- */

static void
test_stream_logf_formats_and_passes_stream_and_level(void **state)
{
    struct fixture *f = *state;

    gwf_stream_logf(&f->stream.base, GWF_LOG_ERROR, "upstream %s: %u", "reset",
                    502u);
    assert_int_equal(f->rec.calls, 1);
    assert_int_equal(f->rec.last_call, CALL_STREAM_LOG);
    assert_ptr_equal(f->rec.stream, &f->stream.base);
    assert_int_equal(f->rec.level, GWF_LOG_ERROR);
    assert_string_equal(f->rec.msg, "upstream reset: 502");
    assert_int_equal(f->rec.msg_len, 19);
}

static void
test_stream_logf_skips_a_level_disabled_for_its_instance(void **state)
{
    struct fixture *f = *state;

    f->rec.min_level = GWF_LOG_WARN;
    gwf_stream_logf(&f->stream.base, GWF_LOG_INFO, "noise");
    assert_int_equal(f->rec.calls, 0);
    gwf_stream_logf(&f->stream.base, GWF_LOG_WARN, "kept");
    assert_int_equal(f->rec.calls, 1);
    assert_string_equal(f->rec.msg, "kept");
}

static void
test_stream_logf_on_a_dead_handle_leaves_the_level_to_the_host(void **state)
{
    struct fixture *f = *state;

    f->stream.inst = NULL;
    f->rec.min_level = GWF_LOG_ERROR;
    gwf_stream_logf(&f->stream.base, GWF_LOG_DEBUG, "after reply");
    assert_int_equal(f->rec.calls, 1);
    assert_string_equal(f->rec.msg, "after reply");
}

static void
test_stream_logf_logs_without_stream_instance_slot(void **state)
{
    struct fixture *f = *state;

    f->host.stream_instance = NULL;
    f->rec.min_level = GWF_LOG_ERROR;
    gwf_stream_logf(&f->stream.base, GWF_LOG_DEBUG, "debug");
    assert_int_equal(f->rec.calls, 1);
}

static void
test_stream_logf_cuts_a_longer_message_to_1023_bytes(void **state)
{
    struct fixture *f = *state;
    char *text = make_text(2048);

    gwf_stream_logf(&f->stream.base, GWF_LOG_INFO, "%s", text);
    assert_int_equal(f->rec.msg_len, 1023);
    assert_memory_equal(f->rec.msg, text, 1023);
    free(text);
}

static void
test_stream_logf_ignores_null_stream_and_missing_slot(void **state)
{
    struct fixture *f = *state;

    gwf_stream_logf(NULL, GWF_LOG_ERROR, "nowhere");
    f->host.stream_log = NULL;
    gwf_stream_logf(&f->stream.base, GWF_LOG_ERROR, "nowhere");
    assert_int_equal(f->rec.calls, 0);
}

/* ---- gwf_config_errorf -------------------------------------------------- */

static void
test_config_errorf_returns_bad_argument(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(gwf_config_errorf(&f->inst.base, "status", "bad"),
                     GWF_ERR_BAD_ARGUMENT);
}

static void
test_config_errorf_passes_field_and_formatted_message(void **state)
{
    struct fixture *f = *state;

    gwf_config_errorf(&f->inst.base, "providers[0].issuer",
                      "must be an https URL, got \"%s\"", "ftp://x");
    assert_int_equal(f->rec.calls, 1);
    assert_int_equal(f->rec.last_call, CALL_CONFIG_ERROR);
    assert_ptr_equal(f->rec.inst, &f->inst.base);
    assert_false(f->rec.field_was_null);
    assert_string_equal(f->rec.field, "providers[0].issuer");
    assert_string_equal(f->rec.msg, "must be an https URL, got \"ftp://x\"");
    assert_int_equal(f->rec.msg_len, strlen(f->rec.msg));
}

static void
test_config_errorf_passes_a_null_field_through(void **state)
{
    struct fixture *f = *state;

    gwf_config_errorf(&f->inst.base, NULL, "config must be an object");
    assert_int_equal(f->rec.calls, 1);
    assert_true(f->rec.field_was_null);
}

static void
test_config_errorf_cuts_a_longer_message_to_1023_bytes(void **state)
{
    struct fixture *f = *state;
    char *text = make_text(1500);

    assert_int_equal(gwf_config_errorf(&f->inst.base, "value", "%s", text),
                     GWF_ERR_BAD_ARGUMENT);
    assert_int_equal(f->rec.msg_len, 1023);
    assert_memory_equal(f->rec.msg, text, 1023);
    free(text);
}

static void
test_config_errorf_returns_bad_argument_without_a_host(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(gwf_config_errorf(NULL, "x", "y"), GWF_ERR_BAD_ARGUMENT);
    f->host.config_error = NULL;
    assert_int_equal(gwf_config_errorf(&f->inst.base, "x", "y"),
                     GWF_ERR_BAD_ARGUMENT);
    assert_int_equal(f->rec.calls, 0);
}

/* ---- header and reply wrappers ------------------------------------------ */

static void
test_header_get_passes_name_and_first_index(void **state)
{
    struct fixture *f = *state;
    gwf_view value = {NULL, 0};

    f->rec.header_value = gwf_cstr("text/plain");
    assert_int_equal(
        gwf_header_get(&f->stream.base, GWF_RESPONSE, "content-type", &value),
        GWF_OK);
    assert_int_equal(f->rec.last_call, CALL_HEADER_GET);
    assert_ptr_equal(f->rec.stream, &f->stream.base);
    assert_int_equal(f->rec.which, GWF_RESPONSE);
    assert_string_equal(f->rec.name, "content-type");
    assert_int_equal(f->rec.name_len, 12);
    assert_int_equal(f->rec.index, 0);
    assert_true(gwf_view_eq(value, "text/plain"));
}

static void
test_header_set_passes_name_and_value(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(
        gwf_header_set(&f->stream.base, GWF_REQUEST, "x-user", "alice"),
        GWF_OK);
    assert_int_equal(f->rec.last_call, CALL_HEADER_SET);
    assert_int_equal(f->rec.which, GWF_REQUEST);
    assert_string_equal(f->rec.name, "x-user");
    assert_int_equal(f->rec.name_len, 6);
    assert_string_equal(f->rec.value, "alice");
    assert_int_equal(f->rec.value_len, 5);
}

static void
test_header_add_passes_name_value_and_the_host_status(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(
        gwf_header_add(&f->stream.base, GWF_RESPONSE, "set-cookie", "a=1"),
        GWF_ERR_LIMIT);
    assert_int_equal(f->rec.last_call, CALL_HEADER_ADD);
    assert_int_equal(f->rec.which, GWF_RESPONSE);
    assert_string_equal(f->rec.name, "set-cookie");
    assert_string_equal(f->rec.value, "a=1");
    assert_int_equal(f->rec.value_len, 3);
}

static void
test_header_remove_passes_name(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(
        gwf_header_remove(&f->stream.base, GWF_REQUEST, "authorization"),
        GWF_OK);
    assert_int_equal(f->rec.last_call, CALL_HEADER_REMOVE);
    assert_int_equal(f->rec.which, GWF_REQUEST);
    assert_string_equal(f->rec.name, "authorization");
    assert_int_equal(f->rec.name_len, 13);
}

static void
test_reply_sends_status_body_and_details_without_headers(void **state)
{
    struct fixture *f = *state;
    static const char details[] = "jwt_invalid";

    assert_int_equal(gwf_reply(&f->stream.base, 401, "unauthorized\n", details),
                     GWF_OK);
    assert_int_equal(f->rec.last_call, CALL_SEND_LOCAL_REPLY);
    assert_int_equal(f->rec.status, 401);
    assert_null(f->rec.headers);
    assert_int_equal(f->rec.header_count, 0);
    assert_string_equal(f->rec.body, "unauthorized\n");
    assert_int_equal(f->rec.body_len, 13);
    assert_ptr_equal(f->rec.details, details);
}

static void
test_reply_with_null_body_sends_an_empty_body(void **state)
{
    struct fixture *f = *state;

    gwf_reply(&f->stream.base, 204, NULL, NULL);
    assert_int_equal(f->rec.status, 204);
    assert_true(f->rec.body_was_null);
    assert_int_equal(f->rec.body_len, 0);
    assert_null(f->rec.details);
}

/* -- gwf_base64_decode ----------------------------------------------------- */

static void
test_base64_decodes_padded_input(void **state)
{
    (void)state;
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(gwf_base64_decode("aGk=", 4, &out, &len), 0);
    assert_int_equal(len, 2);
    assert_string_equal(out, "hi");
    free(out);
    assert_int_equal(gwf_base64_decode("aA==", 4, &out, &len), 0);
    assert_int_equal(len, 1);
    assert_string_equal(out, "h");
    free(out);
}

static void
test_base64_decodes_unpadded_full_groups_and_empty_input(void **state)
{
    (void)state;
    char *out = NULL;
    size_t len = 9;
    assert_int_equal(gwf_base64_decode("c2VjcmV0", 8, &out, &len), 0);
    assert_int_equal(len, 6);
    assert_string_equal(out, "secret");
    free(out);
    assert_int_equal(gwf_base64_decode("", 0, &out, &len), 0);
    assert_int_equal(len, 0);
    assert_string_equal(out, "");
    free(out);
}

static void
test_base64_keeps_nul_bytes_and_reports_their_length(void **state)
{
    (void)state;
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(gwf_base64_decode("YQBi", 4, &out, &len), 0);
    assert_int_equal(len, 3);
    assert_memory_equal(out, "a\0b", 3);
    free(out);
}

static void
test_base64_rejects_a_length_not_a_multiple_of_four(void **state)
{
    (void)state;
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(gwf_base64_decode("aGk", 3, &out, &len), -1);
    assert_null(out);
}

static void
test_base64_rejects_padding_before_the_end(void **state)
{
    (void)state;
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(gwf_base64_decode("aA==aGk=", 8, &out, &len), -1);
    assert_int_equal(gwf_base64_decode("a===", 4, &out, &len), -1);
    assert_null(out);
}

static void
test_base64_rejects_characters_outside_the_standard_alphabet(void **state)
{
    (void)state;
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(gwf_base64_decode("aG-_", 4, &out, &len), -1);
    assert_int_equal(gwf_base64_decode("aG k", 4, &out, &len), -1);
    assert_null(out);
}

int
main(void)
{
#define HOST_TEST(fn)                                                          \
    cmocka_unit_test_setup_teardown(fn, setup_host, teardown_host)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cstr_views_the_whole_string),
        cmocka_unit_test(test_cstr_of_null_is_the_empty_view),
        cmocka_unit_test(test_view_eq_matches_the_same_bytes),
        cmocka_unit_test(test_view_eq_is_case_sensitive),
        cmocka_unit_test(test_view_eq_rejects_a_prefix_either_way),
        cmocka_unit_test(test_view_eq_reads_only_len_bytes),
        cmocka_unit_test(test_view_eq_empty_view_equals_empty_and_null_string),
        cmocka_unit_test(test_view_ieq_ignores_ascii_case),
        cmocka_unit_test(test_view_ieq_rejects_different_letters),
        cmocka_unit_test(test_view_ieq_rejects_a_different_length),
        cmocka_unit_test(test_view_ieq_does_not_fold_non_ascii),
        cmocka_unit_test(test_view_ieq_reads_only_len_bytes),
        cmocka_unit_test(test_view_ieq_empty_view_equals_empty_and_null_string),

        cmocka_unit_test(test_duration_each_unit_scales_to_nanoseconds),
        cmocka_unit_test(
            test_duration_micro_sign_and_greek_mu_mean_microseconds),
        cmocka_unit_test(test_duration_multi_digit_numbers),
        cmocka_unit_test(test_duration_fraction_of_a_unit),
        cmocka_unit_test(
            test_duration_fraction_without_whole_or_fraction_digits),
        cmocka_unit_test(
            test_duration_fraction_below_a_nanosecond_is_truncated),
        cmocka_unit_test(
            test_duration_long_fraction_is_exact_not_rounded_through_double),
        cmocka_unit_test(test_duration_terms_are_summed),
        cmocka_unit_test(test_duration_terms_may_repeat_and_come_in_any_order),
        cmocka_unit_test(test_duration_lone_zero_is_zero),
        cmocka_unit_test(test_duration_zero_with_a_unit_is_zero),
        cmocka_unit_test(test_duration_number_without_unit_is_rejected),
        cmocka_unit_test(test_duration_unit_without_number_is_rejected),
        cmocka_unit_test(test_duration_unknown_unit_is_rejected),
        cmocka_unit_test(test_duration_sign_is_rejected),
        cmocka_unit_test(test_duration_whitespace_is_rejected),
        cmocka_unit_test(test_duration_garbage_is_rejected),
        cmocka_unit_test(test_duration_empty_text_is_rejected),
        cmocka_unit_test(test_duration_null_arguments_are_rejected),
        cmocka_unit_test(test_duration_reads_only_len_bytes),
        cmocka_unit_test(test_duration_int64_max_is_accepted),
        cmocka_unit_test(test_duration_number_above_int64_max_is_rejected),
        cmocka_unit_test(test_duration_product_above_int64_max_is_rejected),
        cmocka_unit_test(
            test_duration_fraction_pushing_above_int64_max_is_rejected),
        cmocka_unit_test(test_duration_sum_above_int64_max_is_rejected),

        cmocka_unit_test(test_header_name_accepts_a_token),
        cmocka_unit_test(test_header_name_accepts_every_tchar_symbol),
        cmocka_unit_test(test_header_name_rejects_separators_and_spaces),
        cmocka_unit_test(test_header_name_rejects_controls_nul_and_non_ascii),
        cmocka_unit_test(test_header_name_rejects_empty_and_null),
        cmocka_unit_test(test_header_name_reads_only_len_bytes),
        cmocka_unit_test(test_header_value_accepts_text_with_spaces_and_tabs),
        cmocka_unit_test(test_header_value_accepts_obs_text),
        cmocka_unit_test(
            test_header_value_accepts_every_visible_byte_space_and_tab),
        cmocka_unit_test(test_header_value_rejects_soh_0x01),
        cmocka_unit_test(test_header_value_rejects_unit_separator_0x1f),
        cmocka_unit_test(test_header_value_rejects_del_0x7f),
        cmocka_unit_test(test_header_value_rejects_every_control_byte_but_tab),
        cmocka_unit_test(test_header_value_rejects_cr_lf_and_nul),
        cmocka_unit_test(
            test_header_value_accepts_leading_and_trailing_whitespace),
        cmocka_unit_test(
            test_hop_by_hop_headers_are_the_seven_of_rfc_9110_in_any_case),
        cmocka_unit_test(
            test_header_list_contains_finds_elements_around_white_space),
        cmocka_unit_test(test_header_value_empty_is_valid_even_when_null),
        cmocka_unit_test(test_header_value_null_with_a_length_is_rejected),
        cmocka_unit_test(test_header_value_reads_only_len_bytes),

        cmocka_unit_test(test_strbuf_starts_empty_with_null_data),
        cmocka_unit_test(test_strbuf_append_copies_and_terminates),
        cmocka_unit_test(test_strbuf_appends_concatenate),
        cmocka_unit_test(test_strbuf_empty_append_gives_an_empty_string),
        cmocka_unit_test(test_strbuf_keeps_embedded_nul_bytes),
        cmocka_unit_test(test_strbuf_grows_and_keeps_earlier_bytes),
        cmocka_unit_test(test_strbuf_appendf_formats),
        cmocka_unit_test(test_strbuf_appendf_appends_after_existing_text),
        cmocka_unit_test(
            test_strbuf_appendf_grows_when_the_output_does_not_fit),
        cmocka_unit_test(
            test_strbuf_appendf_empty_output_gives_an_empty_string),
        cmocka_unit_test(
            test_strbuf_oversized_append_sets_failed_and_keeps_text),
        cmocka_unit_test(
            test_strbuf_allocation_failure_sets_failed_and_keeps_text),
        cmocka_unit_test(test_strbuf_first_allocation_failure_leaves_data_null),
        cmocka_unit_test(
            test_strbuf_appendf_allocation_failure_sets_failed_and_keeps_text),
        cmocka_unit_test(test_strbuf_ignores_appends_once_failed),
        cmocka_unit_test(
            test_strbuf_appendf_format_error_sets_failed_and_keeps_text),
        cmocka_unit_test(test_strbuf_free_resets_to_the_initial_state),
        cmocka_unit_test(test_strbuf_is_reusable_after_free),
        cmocka_unit_test(test_strbuf_free_accepts_null_and_a_never_used_buffer),
        cmocka_unit_test(test_base64_decodes_padded_input),
        cmocka_unit_test(
            test_base64_decodes_unpadded_full_groups_and_empty_input),
        cmocka_unit_test(test_base64_keeps_nul_bytes_and_reports_their_length),
        cmocka_unit_test(test_base64_rejects_a_length_not_a_multiple_of_four),
        cmocka_unit_test(test_base64_rejects_padding_before_the_end),
        cmocka_unit_test(
            test_base64_rejects_characters_outside_the_standard_alphabet),

        HOST_TEST(test_logf_formats_and_passes_instance_and_level),
        HOST_TEST(test_logf_skips_a_disabled_level),
        HOST_TEST(test_logf_logs_every_level_without_log_enabled),
        HOST_TEST(test_logf_keeps_a_1023_byte_message_whole),
        HOST_TEST(test_logf_cuts_a_longer_message_to_1023_bytes),
        HOST_TEST(test_logf_ignores_null_instance_and_missing_log_slot),
        HOST_TEST(test_stream_logf_formats_and_passes_stream_and_level),
        HOST_TEST(test_stream_logf_skips_a_level_disabled_for_its_instance),
        HOST_TEST(
            test_stream_logf_on_a_dead_handle_leaves_the_level_to_the_host),
        HOST_TEST(test_stream_logf_logs_without_stream_instance_slot),
        HOST_TEST(test_stream_logf_cuts_a_longer_message_to_1023_bytes),
        HOST_TEST(test_stream_logf_ignores_null_stream_and_missing_slot),
        HOST_TEST(test_config_errorf_returns_bad_argument),
        HOST_TEST(test_config_errorf_passes_field_and_formatted_message),
        HOST_TEST(test_config_errorf_passes_a_null_field_through),
        HOST_TEST(test_config_errorf_cuts_a_longer_message_to_1023_bytes),
        HOST_TEST(test_config_errorf_returns_bad_argument_without_a_host),
        HOST_TEST(test_header_get_passes_name_and_first_index),
        HOST_TEST(test_header_set_passes_name_and_value),
        HOST_TEST(test_header_add_passes_name_value_and_the_host_status),
        HOST_TEST(test_header_remove_passes_name),
        HOST_TEST(test_reply_sends_status_body_and_details_without_headers),
        HOST_TEST(test_reply_with_null_body_sends_an_empty_body),
    };
#undef HOST_TEST

    return cmocka_run_group_tests(tests, NULL, NULL);
}
