/*
 * test_wait.c - gwf/sdk_wait.h, one behaviour per test.
 *
 * The wait reaches the host only through timer_start and timer_cancel, so
 * the tests hand it a fake host with a clock they move by hand and a small
 * timer table that behaves as the ABI promises (ids never reused, a
 * cancelled timer never fires, a stream's timers die with the stream).
 * A callback that must not run says so, libuv style: never_cb fails the
 * test. Under ASan, a timer left armed on freed memory would also be
 * reported as a use after free when the clock passes it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <gwf/sdk_wait.h>

#define NS_PER_S UINT64_C(1000000000)
#define MAX_TIMERS 8

/* ---- fake host ---------------------------------------------------------- */

typedef struct fake_timer {
    int armed;
    uint64_t id;
    uint64_t due;
    gwf_stream *stream;
    gwf_timer_cb cb;
    void *arg;
} fake_timer;

typedef struct fake_host {
    gwf_instance inst; /* first: the wait hands us &inst */
    uint64_t now;
    uint64_t next_id;
    fake_timer timers[MAX_TIMERS];
    int starts, cancels, cancels_not_found;
    gwf_status refuse; /* != GWF_OK: timer_start fails with it */
} fake_host;

static gwf_status
fake_timer_start(gwf_instance *inst, gwf_stream *s, uint64_t delay_ns,
                 gwf_timer_cb cb, void *arg, uint64_t *timer_id)
{
    fake_host *h = (fake_host *)inst;

    if (h->refuse != GWF_OK)
        return h->refuse;
    for (size_t i = 0; i < MAX_TIMERS; i++) {
        fake_timer *t = &h->timers[i];
        if (t->armed)
            continue;
        t->armed = 1;
        t->id = ++h->next_id;
        t->due = h->now + delay_ns;
        t->stream = s;
        t->cb = cb;
        t->arg = arg;
        *timer_id = t->id;
        h->starts++;
        return GWF_OK;
    }
    return GWF_ERR_LIMIT;
}

static gwf_status
fake_timer_cancel(gwf_instance *inst, uint64_t timer_id)
{
    fake_host *h = (fake_host *)inst;

    h->cancels++;
    for (size_t i = 0; i < MAX_TIMERS; i++) {
        if (h->timers[i].armed && h->timers[i].id == timer_id) {
            h->timers[i].armed = 0;
            return GWF_OK;
        }
    }
    h->cancels_not_found++;
    return GWF_ERR_NOT_FOUND;
}

static const gwf_host fake_table = {
    .size = sizeof(gwf_host),
    .abi_major = GWF_ABI_VERSION_MAJOR,
    .abi_minor = GWF_ABI_VERSION_MINOR,
    .name = "fake",
    .timer_start = fake_timer_start,
    .timer_cancel = fake_timer_cancel,
};

static fake_host *
fake_host_new(void)
{
    fake_host *h = calloc(1, sizeof(*h));

    assert_non_null(h);
    h->inst.host = &fake_table;
    return h;
}

/* Move the clock, firing what falls due, one at a time, in order. */
static void
advance(fake_host *h, uint64_t ns)
{
    uint64_t until = h->now + ns;

    for (;;) {
        fake_timer *next = NULL;
        for (size_t i = 0; i < MAX_TIMERS; i++) {
            fake_timer *t = &h->timers[i];
            if (t->armed && t->due <= until && (!next || t->due < next->due))
                next = t;
        }
        if (!next)
            break;
        h->now = next->due;
        next->armed = 0; /* spent once its callback starts */
        next->cb(next->arg);
    }
    h->now = until;
}

/* The stream ended: the host cancels its timers, as the ABI says. */
static void
end_stream(fake_host *h, gwf_stream *s)
{
    for (size_t i = 0; i < MAX_TIMERS; i++) {
        if (h->timers[i].armed && h->timers[i].stream == s)
            h->timers[i].armed = 0;
    }
}

static size_t
armed_timers(const fake_host *h)
{
    size_t n = 0;

    for (size_t i = 0; i < MAX_TIMERS; i++)
        n += h->timers[i].armed != 0;
    return n;
}

/* ---- callbacks ---------------------------------------------------------- */

static void
never_cb(void *arg)
{
    (void)arg;
    fail_msg("never_cb should never be called");
}

static void
count_cb(void *arg)
{
    (*(int *)arg)++;
}

/* ---- tests -------------------------------------------------------------- */

static void
test_timeout_fires_once_when_the_delay_passes(void **state)
{
    fake_host *h = fake_host_new();
    gwf_wait w = {0};
    int fired = 0;

    (void)state;
    assert_int_equal(
        gwf_wait_start(&w, &h->inst, NULL, 3 * NS_PER_S, count_cb, &fired),
        GWF_OK);
    assert_true(gwf_wait_running(&w));
    advance(h, 3 * NS_PER_S - 1);
    assert_int_equal(fired, 0);
    advance(h, 1);
    assert_int_equal(fired, 1);
    assert_false(gwf_wait_running(&w));
    advance(h, 60 * NS_PER_S);
    assert_int_equal(fired, 1);
    /* The timeout ended it: there is nothing left to end or cancel. */
    assert_int_equal(gwf_wait_end(&w), 0);
    assert_int_equal(h->cancels, 0);
    free(h);
}

static void
test_ended_wait_never_times_out(void **state)
{
    fake_host *h = fake_host_new();
    gwf_wait w = {0};

    (void)state;
    assert_int_equal(
        gwf_wait_start(&w, &h->inst, NULL, 3 * NS_PER_S, never_cb, NULL),
        GWF_OK);
    advance(h, 2 * NS_PER_S);
    assert_int_equal(gwf_wait_end(&w), 1);
    assert_false(gwf_wait_running(&w));
    assert_int_equal(armed_timers(h), 0);
    advance(h, 60 * NS_PER_S);
    free(h);
}

static void
test_ending_twice_ends_once(void **state)
{
    fake_host *h = fake_host_new();
    gwf_wait w = {0};

    (void)state;
    assert_int_equal(
        gwf_wait_start(&w, &h->inst, NULL, NS_PER_S, never_cb, NULL), GWF_OK);
    assert_int_equal(gwf_wait_end(&w), 1);
    assert_int_equal(gwf_wait_end(&w), 0);
    assert_int_equal(h->cancels, 1);
    advance(h, 10 * NS_PER_S);
    free(h);
}

static void
test_zeroed_and_null_waits_are_idle(void **state)
{
    gwf_wait w = {0};

    (void)state;
    assert_false(gwf_wait_running(&w));
    assert_false(gwf_wait_running(NULL));
    assert_int_equal(gwf_wait_end(&w), 0);
    assert_int_equal(gwf_wait_end(NULL), 0);
}

/* The jwt_auth shape of issue 10: a request waits for a JWKS fetch; the
 * fetch ends first and the waiter is ended and freed while its stream
 * lives on (a slow upstream); the fetch timeout then passes. */
typedef struct waiter {
    gwf_wait wait;
    int woken;
} waiter;

static void
test_waiter_woken_and_freed_before_its_timeout_is_never_called(void **state)
{
    fake_host *h = fake_host_new();
    gwf_stream *stream = (gwf_stream *)h; /* any non-NULL handle */
    waiter *wt = calloc(1, sizeof(*wt));

    (void)state;
    assert_non_null(wt);
    assert_int_equal(
        gwf_wait_start(&wt->wait, &h->inst, stream, 3 * NS_PER_S, never_cb, wt),
        GWF_OK);
    advance(h, 2 * NS_PER_S); /* the fetch answers after 2 s */
    assert_int_equal(gwf_wait_end(&wt->wait), 1);
    free(wt);
    advance(h, 4 * NS_PER_S); /* the stream still lives at 3 s */
    assert_int_equal(armed_timers(h), 0);
    end_stream(h, stream);
    free(h);
}

static void
free_waiter_cb(void *arg)
{
    waiter *wt = arg;

    assert_false(gwf_wait_running(&wt->wait));
    free(wt); /* allowed: nothing of the wait runs after this */
}

static void
test_timeout_callback_may_free_the_memory_holding_the_wait(void **state)
{
    fake_host *h = fake_host_new();
    waiter *wt = calloc(1, sizeof(*wt));

    (void)state;
    assert_non_null(wt);
    assert_int_equal(
        gwf_wait_start(&wt->wait, &h->inst, NULL, NS_PER_S, free_waiter_cb, wt),
        GWF_OK);
    advance(h, NS_PER_S);
    assert_int_equal(armed_timers(h), 0);
    free(h);
}

static void
test_end_after_the_stream_took_the_timer_is_harmless(void **state)
{
    fake_host *h = fake_host_new();
    gwf_stream *stream = (gwf_stream *)h;
    gwf_wait w = {0};

    (void)state;
    assert_int_equal(
        gwf_wait_start(&w, &h->inst, stream, NS_PER_S, never_cb, NULL), GWF_OK);
    end_stream(h, stream);
    assert_int_equal(gwf_wait_end(&w), 1);
    assert_int_equal(h->cancels_not_found, 1);
    advance(h, 10 * NS_PER_S);
    free(h);
}

static void
test_starting_a_running_wait_is_refused(void **state)
{
    fake_host *h = fake_host_new();
    gwf_wait w = {0};
    int fired = 0;

    (void)state;
    assert_int_equal(
        gwf_wait_start(&w, &h->inst, NULL, NS_PER_S, count_cb, &fired), GWF_OK);
    assert_int_equal(
        gwf_wait_start(&w, &h->inst, NULL, 5 * NS_PER_S, never_cb, NULL),
        GWF_ERR_WRONG_PHASE);
    assert_int_equal(h->starts, 1);
    advance(h, 10 * NS_PER_S);
    assert_int_equal(fired, 1);
    free(h);
}

static void
test_a_refused_timer_leaves_the_wait_idle(void **state)
{
    fake_host *h = fake_host_new();
    gwf_wait w = {0};

    (void)state;
    h->refuse = GWF_ERR_NO_MEMORY;
    assert_int_equal(
        gwf_wait_start(&w, &h->inst, NULL, NS_PER_S, never_cb, NULL),
        GWF_ERR_NO_MEMORY);
    assert_false(gwf_wait_running(&w));
    assert_int_equal(gwf_wait_end(&w), 0);
    assert_int_equal(h->cancels, 0);
    free(h);
}

static void
test_bad_arguments_are_refused(void **state)
{
    fake_host *h = fake_host_new();
    gwf_wait w = {0};

    (void)state;
    assert_int_equal(gwf_wait_start(NULL, &h->inst, NULL, 1, never_cb, NULL),
                     GWF_ERR_BAD_ARGUMENT);
    assert_int_equal(gwf_wait_start(&w, NULL, NULL, 1, never_cb, NULL),
                     GWF_ERR_BAD_ARGUMENT);
    assert_int_equal(gwf_wait_start(&w, &h->inst, NULL, 1, NULL, NULL),
                     GWF_ERR_BAD_ARGUMENT);
    assert_int_equal(h->starts, 0);
    free(h);
}

static void
test_an_ended_wait_can_be_started_again(void **state)
{
    fake_host *h = fake_host_new();
    gwf_wait w = {0};
    int fired = 0;

    (void)state;
    assert_int_equal(
        gwf_wait_start(&w, &h->inst, NULL, NS_PER_S, never_cb, NULL), GWF_OK);
    assert_int_equal(gwf_wait_end(&w), 1);
    assert_int_equal(
        gwf_wait_start(&w, &h->inst, NULL, 2 * NS_PER_S, count_cb, &fired),
        GWF_OK);
    advance(h, NS_PER_S);
    assert_int_equal(fired, 0);
    advance(h, NS_PER_S);
    assert_int_equal(fired, 1);
    free(h);
}

/* The answer and the timeout race: only the side that ended the wait
 * acts. Here the timeout won, so the late answer must leave it be. */
static void
test_answer_after_the_timeout_learns_it_lost(void **state)
{
    fake_host *h = fake_host_new();
    gwf_wait w = {0};
    int fired = 0;

    (void)state;
    assert_int_equal(
        gwf_wait_start(&w, &h->inst, NULL, NS_PER_S, count_cb, &fired), GWF_OK);
    advance(h, NS_PER_S);
    assert_int_equal(fired, 1);
    assert_int_equal(gwf_wait_end(&w), 0);
    free(h);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timeout_fires_once_when_the_delay_passes),
        cmocka_unit_test(test_ended_wait_never_times_out),
        cmocka_unit_test(test_ending_twice_ends_once),
        cmocka_unit_test(test_zeroed_and_null_waits_are_idle),
        cmocka_unit_test(
            test_waiter_woken_and_freed_before_its_timeout_is_never_called),
        cmocka_unit_test(
            test_timeout_callback_may_free_the_memory_holding_the_wait),
        cmocka_unit_test(test_end_after_the_stream_took_the_timer_is_harmless),
        cmocka_unit_test(test_starting_a_running_wait_is_refused),
        cmocka_unit_test(test_a_refused_timer_leaves_the_wait_idle),
        cmocka_unit_test(test_bad_arguments_are_refused),
        cmocka_unit_test(test_an_ended_wait_can_be_started_again),
        cmocka_unit_test(test_answer_after_the_timeout_learns_it_lost),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
