/*
 * test_base64.c - gwf_base64_decode (gwf/sdk.h).
 *
 * Standard alphabet, padded or in full groups; NUL bytes survive and are
 * counted; a bad length, padding before the end or a byte outside the
 * alphabet is refused.
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
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base64_decodes_padded_input),
        cmocka_unit_test(
            test_base64_decodes_unpadded_full_groups_and_empty_input),
        cmocka_unit_test(test_base64_keeps_nul_bytes_and_reports_their_length),
        cmocka_unit_test(test_base64_rejects_a_length_not_a_multiple_of_four),
        cmocka_unit_test(test_base64_rejects_padding_before_the_end),
        cmocka_unit_test(
            test_base64_rejects_characters_outside_the_standard_alphabet),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
