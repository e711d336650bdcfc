/*
 * test_posts.c - posts from other threads to streams that end.
 *
 * abi.h (gwf_host.post): a post to a stream that has ended never runs its
 * callback; its release runs instead, on the worker or in the post call.
 * The runtime promises more, which is what makes that safe for a plugin
 * that is about to be unloaded: every post to a stream is settled (run or
 * released) by the time the stream has ended, never later from the loop.
 *
 * The `poster` test plugin (poster.c, beside this file) makes the posts
 * and counts them; a /report request logs its totals without letting the
 * loop run first, so a post the host left queued shows up as a ticket
 * that was neither run nor released. The stress test runs under
 * ThreadSanitizer too (the `threads` suite of scripts/test.sh).
 */
#include "conformance.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *const poster_chain[] = {"ext-p", NULL};
static const gwf_test_route poster_route = {NULL, poster_chain, NULL, NULL};

typedef struct totals {
    long tickets, ran, released, late, failed;
} totals;

static gwf_test_result *
poster_start(conf *c, const gwf_test_request *req)
{
    gwf_test_result *res = gwf_test_start(c->h, &poster_route, req, 0);
    if (!res)
        fail_msg("route did not build: %s", gwf_test_error(c->h));
    return res;
}

/* Asks the plugin for its totals: a /report request, run to its end. */
static totals
poster_report(conf *c)
{
    gwf_test_request *req = conf_request(c, "GET", "/report", NULL);
    gwf_test_result *res = poster_start(c, req);
    conf_assert(c, conf_finish(c, res));
    assert_int_equal(gwf_test_status(res), 204);
    gwf_test_result_free(res);
    const char *line = conf_line(c, "poster totals:");
    conf_assert(c, line != NULL);
    totals t;
    int n = sscanf(strstr(line, "poster totals:"),
                   "poster totals: tickets=%ld ran=%ld released=%ld "
                   "late=%ld failed=%ld",
                   &t.tickets, &t.ran, &t.released, &t.late, &t.failed);
    assert_int_equal(n, 5);
    return t;
}

static double
seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
test_post_queued_before_the_stream_ended_is_released_when_it_ends(void **state)
{
    conf *c = *state;
    conf_extension(c, "ext-p", "poster", "{threads: 0}");
    gwf_test_request *req = conf_request(c, "GET", "/one", NULL);

    /* The hook posts one ticket and pauses; the loop never runs. */
    gwf_test_result *res = poster_start(c, req);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_RUNNING);
    gwf_test_abort(c->h, res);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_ABORTED);

    totals t = poster_report(c);
    assert_int_equal(t.tickets, 1);
    assert_int_equal(t.ran, 0);
    assert_int_equal(t.released, 1);
    assert_int_equal(t.late, 0);
    assert_int_equal(t.failed, 0);
    gwf_test_result_free(res);
}

static void
test_post_queued_to_a_live_stream_runs_once(void **state)
{
    conf *c = *state;
    conf_extension(c, "ext-p", "poster", "{threads: 0}");
    gwf_test_request *req = conf_request(c, "GET", "/live", NULL);

    /* The ticket the hook posted resumes the stream when it runs. */
    gwf_test_result *res = poster_start(c, req);
    conf_assert(c, conf_finish(c, res));
    assert_int_equal(gwf_test_status(res), 200);
    assert_string_equal(gwf_test_upstream_path(res), "/live");

    totals t = poster_report(c);
    assert_int_equal(t.tickets, 1);
    assert_int_equal(t.ran, 1);
    assert_int_equal(t.released, 0);
    assert_int_equal(t.late, 0);
    assert_int_equal(gwf_test_pending(c->h), 0);
    gwf_test_result_free(res);
}

enum {
    STRESS_ROUNDS = 12,
    STRESS_STREAMS = 6, /* per round */
};
#define STRESS_SECONDS 3.0

/* Some streams end before their threads start posting, some while the
 * first posts run, some after a post resumed them, the last ones with no
 * loop round after: whatever the interleaving, each ticket is settled
 * exactly once, by the time its stream ended, and never runs for a
 * stream that completed. Bounded by rounds and by real time. */
static void
test_posts_from_many_threads_while_streams_end_settle_exactly_once(void **state)
{
    conf *c = *state;
    conf_extension(c, "ext-p", "poster", "{threads: 4, posts: 64}");
    conf_extension(c, "ext-q", "poster", "{threads: 0}");
    gwf_test_request *req = conf_request(c, "GET", "/stress", NULL);
    double deadline = seconds_now() + STRESS_SECONDS;
    int rounds = 0, completed = 0, aborted = 0;

    while (rounds < STRESS_ROUNDS && (rounds < 2 || seconds_now() < deadline)) {
        gwf_test_result *res[STRESS_STREAMS];
        for (int i = 0; i < STRESS_STREAMS; i++)
            res[i] = poster_start(c, req);
        for (int i = 0; i < STRESS_STREAMS; i += 3)
            gwf_test_abort(c->h, res[i]);
        gwf_test_wait(c->h, res[1], 1);
        for (int i = 1; i < STRESS_STREAMS; i += 3)
            gwf_test_abort(c->h, res[i]);
        for (int i = 0; i < STRESS_STREAMS; i++) {
            if (gwf_test_outcome(res[i]) == GWF_TEST_RUNNING)
                conf_finish(c, res[i]);
            if (gwf_test_outcome(res[i]) == GWF_TEST_ABORTED)
                aborted++;
            else if (gwf_test_status(res[i]) == 200)
                completed++;
            gwf_test_result_free(res[i]);
        }
        rounds++;
    }
    /* Last, streams that end while their threads post and before the
     * loop runs again: whatever they posted must be settled by now. */
    gwf_test_result *last[STRESS_STREAMS];
    for (int i = 0; i < STRESS_STREAMS; i++)
        last[i] = poster_start(c, req);
    for (int i = 0; i < STRESS_STREAMS; i++) {
        gwf_test_abort(c->h, last[i]);
        gwf_test_result_free(last[i]);
    }

    totals t = poster_report(c);
    print_message("%d rounds: %d aborted, %d completed; tickets=%ld "
                  "ran=%ld released=%ld\n",
                  rounds, aborted, completed, t.tickets, t.ran, t.released);
    assert_int_equal(aborted + completed, rounds * STRESS_STREAMS);
    conf_assert(c, completed >= rounds); /* a third at least resumed */
    conf_assert(c, t.tickets >= rounds * STRESS_STREAMS);
    assert_int_equal(t.tickets, t.ran + t.released);
    assert_int_equal(t.late, 0);
    assert_int_equal(t.failed, 0);
    conf_assert(c, t.ran >= completed);
    conf_assert(c, t.released >= 1);
    /* Settled posts may still sit in the loop's queue, but only until
     * its next round: a request without threads runs it (its own post
     * resumes it), then nothing is left. */
    static const char *const quiet_chain[] = {"ext-q", NULL};
    const gwf_test_route quiet = {NULL, quiet_chain, NULL, NULL};
    gwf_test_result *res = gwf_test_start(c->h, &quiet, req, 0);
    conf_assert(c, res && conf_finish(c, res));
    assert_int_equal(gwf_test_status(res), 200);
    gwf_test_result_free(res);
    assert_int_equal(gwf_test_pending(c->h), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_post_queued_before_the_stream_ended_is_released_when_it_ends,
            conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_post_queued_to_a_live_stream_runs_once, conf_setup,
            conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_posts_from_many_threads_while_streams_end_settle_exactly_once,
            conf_setup, conf_teardown),
    };
    return cmocka_run_group_tests_name("posts", tests, NULL, NULL);
}
