/*
 * test_header_syntax.c - gwf_is_header_name, gwf_is_header_value,
 * gwf_is_hop_by_hop_header and gwf_header_list_contains (gwf/sdk.h).
 *
 * What RFC 9110 allows in a field name (a token) and value (visible
 * bytes, obs-text, space and tab; never CR, LF, NUL or another control),
 * byte by byte, reading only `len` bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gwf/sdk.h>

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

int
main(void)
{
    const struct CMUnitTest tests[] = {
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
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
