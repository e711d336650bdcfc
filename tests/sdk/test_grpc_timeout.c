/*
 * test_grpc_timeout.c - gwf_grpc_timeout_text (gwf/sdk_grpc.h): the
 * value of the grpc-timeout header, which the SDK's gRPC client and the
 * plugins' libcurl paths (ext_authz, rate_limit) all send.
 *
 * The gRPC spec allows at most 8 digits; a server may refuse a longer
 * value. The text is the finest unit whose count fits, rounded up (a
 * server must never give up before the caller): each test pins one
 * side of a unit boundary or of the rounding.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include <gwf/sdk_grpc.h>

#define US UINT64_C(1000)
#define MS UINT64_C(1000000)
#define S UINT64_C(1000000000)
#define MIN (60 * S)
#define HOUR (60 * MIN)

static void
expect_text(uint64_t ns, const char *want)
{
    char out[GWF_GRPC_TIMEOUT_TEXT_SIZE];

    memset(out, 'x', sizeof(out));
    assert_int_equal(gwf_grpc_timeout_text(out, sizeof(out), ns), strlen(want));
    assert_string_equal(out, want);
}

static void
test_zero_is_zero_microseconds(void **state)
{
    (void)state;
    expect_text(0, "0u");
}

static void
test_a_part_of_a_unit_rounds_up(void **state)
{
    (void)state;
    expect_text(1, "1u");
    expect_text(999, "1u");
    expect_text(US, "1u");
    expect_text(US + 1, "2u");
    expect_text(200 * MS, "200000u");
}

static void
test_microseconds_end_at_eight_digits(void **state)
{
    (void)state;
    expect_text(99999999 * US, "99999999u");
    expect_text(99999999 * US + 1, "100000m"); /* 9 digits of u: ms, up */
    expect_text(100 * S, "100000m");
    expect_text(150 * S + 1, "150001m");
}

static void
test_each_unit_gives_way_to_the_next_past_eight_digits(void **state)
{
    (void)state;
    expect_text(99999999 * MS, "99999999m");
    expect_text(99999999 * MS + 1, "100000S");
    expect_text(99999999 * S, "99999999S");
    expect_text(99999999 * S + 1, "1666667M");
    expect_text(99999999 * MIN, "99999999M");
    expect_text(99999999 * MIN + 1, "1666667H");
    expect_text(UINT64_C(200000000) * S, "3333334M");
}

static void
test_uint64_max_fits_in_hours(void **state)
{
    (void)state;
    /* 18446744073709551615 ns = 5124095.57... hours, rounded up. */
    expect_text(UINT64_MAX, "5124096H");
}

static void
test_too_small_a_buffer_writes_nothing(void **state)
{
    char out[4] = "abc";

    (void)state;
    assert_int_equal(gwf_grpc_timeout_text(out, sizeof(out), 200 * MS), 0);
    assert_string_equal(out, "");
    assert_int_equal(gwf_grpc_timeout_text(out, 3, 10 * US), 0);
    assert_int_equal(gwf_grpc_timeout_text(out, sizeof(out), 10 * US), 3);
    assert_string_equal(out, "10u");
    assert_int_equal(gwf_grpc_timeout_text(NULL, 0, 1), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zero_is_zero_microseconds),
        cmocka_unit_test(test_a_part_of_a_unit_rounds_up),
        cmocka_unit_test(test_microseconds_end_at_eight_digits),
        cmocka_unit_test(
            test_each_unit_gives_way_to_the_next_past_eight_digits),
        cmocka_unit_test(test_uint64_max_fits_in_hours),
        cmocka_unit_test(test_too_small_a_buffer_writes_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
