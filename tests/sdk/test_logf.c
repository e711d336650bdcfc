/*
 * test_logf.c - gwf_logf (gwf/sdk.h): logging through the host.
 *
 * The message is formatted into 1023 bytes at most and handed to the
 * host's log slot with its instance and level; a level the host reports
 * as disabled is never formatted. The fake host (support.c) records the
 * call.
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
test_logf_formats_and_passes_instance_and_level(void **state)
{
    struct fixture *f = *state;

    gwf_logf(&f->inst.base, GWF_LOG_WARN, "jwks %s: %d keys", "refreshed", 3);
    assert_int_equal(f->rec.calls, 1);
    assert_int_equal(f->rec.last_call, CALL_LOG);
    assert_ptr_equal(f->rec.inst, &f->inst.base);
    assert_int_equal(f->rec.level, GWF_LOG_WARN);
    assert_string_equal(f->rec.msg, "jwks refreshed: 3 keys");
    assert_int_equal(f->rec.msg_len, 22);
}

static void
test_logf_skips_a_disabled_level(void **state)
{
    struct fixture *f = *state;

    f->rec.min_level = GWF_LOG_INFO;
    gwf_logf(&f->inst.base, GWF_LOG_DEBUG, "noise %d", 1);
    assert_int_equal(f->rec.calls, 0);
    gwf_logf(&f->inst.base, GWF_LOG_INFO, "kept");
    assert_int_equal(f->rec.calls, 1);
    assert_string_equal(f->rec.msg, "kept");
}

static void
test_logf_logs_every_level_without_log_enabled(void **state)
{
    struct fixture *f = *state;

    f->host.log_enabled = NULL;
    f->rec.min_level = GWF_LOG_ERROR;
    gwf_logf(&f->inst.base, GWF_LOG_DEBUG, "debug");
    assert_int_equal(f->rec.calls, 1);
    assert_string_equal(f->rec.msg, "debug");
}

static void
test_logf_keeps_a_1023_byte_message_whole(void **state)
{
    struct fixture *f = *state;
    char *text = make_text(1023);

    gwf_logf(&f->inst.base, GWF_LOG_INFO, "%s", text);
    assert_int_equal(f->rec.msg_len, 1023);
    assert_string_equal(f->rec.msg, text);
    free(text);
}

/* sdk.h says "longer than 1 KiB are cut"; the buffer is 1 KiB including
 * the NUL, so the cut keeps 1023 bytes, and a message of exactly 1024
 * bytes loses its last one. */
static void
test_logf_cuts_a_longer_message_to_1023_bytes(void **state)
{
    struct fixture *f = *state;
    char *text = make_text(3000);

    gwf_logf(&f->inst.base, GWF_LOG_INFO, "%s", text);
    assert_int_equal(f->rec.calls, 1);
    assert_int_equal(f->rec.msg_len, 1023);
    assert_memory_equal(f->rec.msg, text, 1023);
    free(text);
}

static void
test_logf_ignores_null_instance_and_missing_log_slot(void **state)
{
    struct fixture *f = *state;

    gwf_logf(NULL, GWF_LOG_ERROR, "nowhere");
    f->host.log = NULL;
    gwf_logf(&f->inst.base, GWF_LOG_ERROR, "nowhere");
    assert_int_equal(f->rec.calls, 0);
}

int
main(void)
{
#define HOST_TEST(fn)                                                          \
    cmocka_unit_test_setup_teardown(fn, setup_host, teardown_host)
    const struct CMUnitTest tests[] = {
        HOST_TEST(test_logf_formats_and_passes_instance_and_level),
        HOST_TEST(test_logf_skips_a_disabled_level),
        HOST_TEST(test_logf_logs_every_level_without_log_enabled),
        HOST_TEST(test_logf_keeps_a_1023_byte_message_whole),
        HOST_TEST(test_logf_cuts_a_longer_message_to_1023_bytes),
        HOST_TEST(test_logf_ignores_null_instance_and_missing_log_slot),
    };
#undef HOST_TEST

    return cmocka_run_group_tests(tests, NULL, NULL);
}
