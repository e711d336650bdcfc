/*
 * test_stream_logf.c - gwf_stream_logf (gwf/sdk.h): logging for one
 * stream.
 *
 * Like gwf_logf, but to the host's stream_log slot; the level check asks
 * the stream's instance, and a dead handle (no instance) leaves the
 * decision to the host. The fake host (support.c) records the call.
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
test_stream_logf_formats_and_passes_stream_and_level(void **state)
{
    struct fixture *f = *state;

    gwf_stream_logf(&f->stream.base, GWF_LOG_ERROR, "upstream %s: %u", "reset",
                    502u);
    assert_int_equal(f->rec.calls, 1);
    assert_int_equal(f->rec.last_call, CALL_STREAM_LOG);
    assert_ptr_equal(f->rec.stream, &f->stream.base);
    assert_int_equal(f->rec.level, GWF_LOG_ERROR);
    assert_string_equal(f->rec.msg, "upstream reset: 502");
    assert_int_equal(f->rec.msg_len, 19);
}

static void
test_stream_logf_skips_a_level_disabled_for_its_instance(void **state)
{
    struct fixture *f = *state;

    f->rec.min_level = GWF_LOG_WARN;
    gwf_stream_logf(&f->stream.base, GWF_LOG_INFO, "noise");
    assert_int_equal(f->rec.calls, 0);
    gwf_stream_logf(&f->stream.base, GWF_LOG_WARN, "kept");
    assert_int_equal(f->rec.calls, 1);
    assert_string_equal(f->rec.msg, "kept");
}

static void
test_stream_logf_on_a_dead_handle_leaves_the_level_to_the_host(void **state)
{
    struct fixture *f = *state;

    f->stream.inst = NULL;
    f->rec.min_level = GWF_LOG_ERROR;
    gwf_stream_logf(&f->stream.base, GWF_LOG_DEBUG, "after reply");
    assert_int_equal(f->rec.calls, 1);
    assert_string_equal(f->rec.msg, "after reply");
}

static void
test_stream_logf_logs_without_stream_instance_slot(void **state)
{
    struct fixture *f = *state;

    f->host.stream_instance = NULL;
    f->rec.min_level = GWF_LOG_ERROR;
    gwf_stream_logf(&f->stream.base, GWF_LOG_DEBUG, "debug");
    assert_int_equal(f->rec.calls, 1);
}

static void
test_stream_logf_cuts_a_longer_message_to_1023_bytes(void **state)
{
    struct fixture *f = *state;
    char *text = make_text(2048);

    gwf_stream_logf(&f->stream.base, GWF_LOG_INFO, "%s", text);
    assert_int_equal(f->rec.msg_len, 1023);
    assert_memory_equal(f->rec.msg, text, 1023);
    free(text);
}

static void
test_stream_logf_ignores_null_stream_and_missing_slot(void **state)
{
    struct fixture *f = *state;

    gwf_stream_logf(NULL, GWF_LOG_ERROR, "nowhere");
    f->host.stream_log = NULL;
    gwf_stream_logf(&f->stream.base, GWF_LOG_ERROR, "nowhere");
    assert_int_equal(f->rec.calls, 0);
}

int
main(void)
{
#define HOST_TEST(fn)                                                          \
    cmocka_unit_test_setup_teardown(fn, setup_host, teardown_host)
    const struct CMUnitTest tests[] = {
        HOST_TEST(test_stream_logf_formats_and_passes_stream_and_level),
        HOST_TEST(test_stream_logf_skips_a_level_disabled_for_its_instance),
        HOST_TEST(
            test_stream_logf_on_a_dead_handle_leaves_the_level_to_the_host),
        HOST_TEST(test_stream_logf_logs_without_stream_instance_slot),
        HOST_TEST(test_stream_logf_cuts_a_longer_message_to_1023_bytes),
        HOST_TEST(test_stream_logf_ignores_null_stream_and_missing_slot),
    };
#undef HOST_TEST

    return cmocka_run_group_tests(tests, NULL, NULL);
}
