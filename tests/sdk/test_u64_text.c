/*
 * test_u64_text.c - gwf_u64_text (gwf/sdk.h): decimal digits without
 * printf, checked against snprintf at every width and at both ends.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <gwf/sdk.h>

static void
expect_text(uint64_t v)
{
    char got[21], want[21];
    size_t n;

    memset(got, 'x', sizeof(got));
    n = gwf_u64_text(got, v);
    snprintf(want, sizeof(want), "%" PRIu64, v);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(got, want, n);
    assert_int_equal(got[n], 'x'); /* nothing written past the digits */
}

static void
test_zero_and_one_digit_numbers(void **state)
{
    (void)state;
    for (uint64_t v = 0; v < 10; v++)
        expect_text(v);
}

static void
test_every_width_at_its_edges(void **state)
{
    uint64_t p = 10;

    (void)state;
    for (int width = 2; width <= 19; width++, p *= 10) {
        expect_text(p);     /* 1 then zeros */
        expect_text(p - 1); /* all nines, one digit shorter */
        expect_text(p + 1);
        expect_text(p * 9 / 10 + p / 2 + 7);
    }
}

static void
test_uint64_max_takes_twenty_digits(void **state)
{
    (void)state;
    expect_text(UINT64_MAX);
    expect_text(UINT64_MAX - 1);
    expect_text((uint64_t)INT64_MAX);
    expect_text((uint64_t)INT64_MAX + 1);
    expect_text(UINT64_C(10000000000000000000));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zero_and_one_digit_numbers),
        cmocka_unit_test(test_every_width_at_its_edges),
        cmocka_unit_test(test_uint64_max_takes_twenty_digits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
