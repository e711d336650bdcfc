/*
 * test_grpc_timeout.c - the grpc-timeout header of a Check call.
 *
 * The gRPC spec allows at most 8 digits in grpc-timeout; a server may
 * refuse a longer value or read it differently. grpcio is lenient, so
 * this is checked on the header text itself (grpc_check.c is compiled
 * into this test, as the fuzz replay does).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ext_authz.h"

#define MS (UINT64_C(1000000))
#define S (UINT64_C(1000) * MS)

static void
expect_header(uint64_t timeout_ns, const char *expected)
{
    gwf_strbuf line = {0};

    ea_grpc_timeout_header(&line, timeout_ns);
    assert_false(line.failed);
    assert_string_equal(line.data, expected);
    gwf_strbuf_free(&line);
}

static void
test_default_timeout_is_written_in_microseconds(void **state)
{
    (void)state;
    expect_header(200 * MS, "grpc-timeout: 200000u");
}

static void
test_99_seconds_is_the_last_microsecond_value(void **state)
{
    (void)state;
    expect_header(99 * S, "grpc-timeout: 99000000u");
}

static void
test_100_seconds_or_more_switch_to_milliseconds(void **state)
{
    (void)state;
    expect_header(100 * S, "grpc-timeout: 100000m");
    expect_header(150 * S + 1, "grpc-timeout: 150001m");
}

static void
test_very_long_timeouts_use_seconds_minutes_and_hours(void **state)
{
    (void)state;
    expect_header(200000 * S, "grpc-timeout: 200000S");
    expect_header(UINT64_C(200000000) * S, "grpc-timeout: 3333334M");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_timeout_is_written_in_microseconds),
        cmocka_unit_test(test_99_seconds_is_the_last_microsecond_value),
        cmocka_unit_test(test_100_seconds_or_more_switch_to_milliseconds),
        cmocka_unit_test(test_very_long_timeouts_use_seconds_minutes_and_hours),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
