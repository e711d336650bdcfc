/*
 * test_views.c - gwf_cstr, gwf_view_eq and gwf_view_ieq (gwf/sdk.h).
 *
 * Views are borrowed {pointer, length} pairs, never NUL-terminated: every
 * comparison is proved to read only `len` bytes, to treat an empty view
 * and an empty or NULL string alike, and (ieq) to fold ASCII letters only.
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

int
main(void)
{
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
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
