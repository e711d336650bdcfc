/*
 * test_duration.c - gwf_parse_duration (gwf/sdk.h).
 *
 * Go's duration syntax as kgateway writes it ("1m30s", "0.25h", "1.5ms"),
 * parsed to nanoseconds exactly (a fraction is never rounded through a
 * double) and refused whole on any doubt: no sign, no white space, no
 * number without a unit, nothing past INT64_MAX. A refused text leaves
 * the output alone.
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

#define NS_PER_S UINT64_C(1000000000)

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

int
main(void)
{
    const struct CMUnitTest tests[] = {
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
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
