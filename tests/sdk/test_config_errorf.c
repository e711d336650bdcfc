/*
 * test_config_errorf.c - gwf_config_errorf (gwf/sdk.h): a config error
 * naming its field.
 *
 * The formatted message (1023 bytes at most) and the field path reach the
 * host's config_error slot, and the call always returns
 * GWF_ERR_BAD_ARGUMENT, with or without a host. The fake host
 * (support.c) records the call.
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

int
main(void)
{
#define HOST_TEST(fn)                                                          \
    cmocka_unit_test_setup_teardown(fn, setup_host, teardown_host)
    const struct CMUnitTest tests[] = {
        HOST_TEST(test_config_errorf_returns_bad_argument),
        HOST_TEST(test_config_errorf_passes_field_and_formatted_message),
        HOST_TEST(test_config_errorf_passes_a_null_field_through),
        HOST_TEST(test_config_errorf_cuts_a_longer_message_to_1023_bytes),
        HOST_TEST(test_config_errorf_returns_bad_argument_without_a_host),
    };
#undef HOST_TEST

    return cmocka_run_group_tests(tests, NULL, NULL);
}
