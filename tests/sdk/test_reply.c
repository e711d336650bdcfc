/*
 * test_reply.c - gwf_reply (gwf/sdk.h): a local reply.
 *
 * Status, body and details reach the host's send_local_reply slot, with
 * no headers; a NULL body is an empty body. The fake host (support.c)
 * records the call.
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

int
main(void)
{
#define HOST_TEST(fn)                                                          \
    cmocka_unit_test_setup_teardown(fn, setup_host, teardown_host)
    const struct CMUnitTest tests[] = {
        HOST_TEST(test_reply_sends_status_body_and_details_without_headers),
        HOST_TEST(test_reply_with_null_body_sends_an_empty_body),
    };
#undef HOST_TEST

    return cmocka_run_group_tests(tests, NULL, NULL);
}
