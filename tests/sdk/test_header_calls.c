/*
 * test_header_calls.c - gwf_header_get, gwf_header_set, gwf_header_add
 * and gwf_header_remove (gwf/sdk.h).
 *
 * Each wrapper passes its name (and value) to the host slot of the same
 * name with the exact lengths, and hands back the host's status. The
 * fake host (support.c) records the call.
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

#include "support.h"

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

int
main(void)
{
#define HOST_TEST(fn)                                                          \
    cmocka_unit_test_setup_teardown(fn, setup_host, teardown_host)
    const struct CMUnitTest tests[] = {
        HOST_TEST(test_header_get_passes_name_and_first_index),
        HOST_TEST(test_header_set_passes_name_and_value),
        HOST_TEST(test_header_add_passes_name_value_and_the_host_status),
        HOST_TEST(test_header_remove_passes_name),
    };
#undef HOST_TEST

    return cmocka_run_group_tests(tests, NULL, NULL);
}
