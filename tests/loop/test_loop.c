/*
 * test_loop.c — the host runtime's event loop, one behaviour per test.
 *
 * Fd tests use pipes and socketpairs, whose readiness is immediate, so a
 * zero or bounded wait is enough. Timer tests use the manual clock
 * wherever order matters; the few that run on the real clock only use
 * zero or millisecond delays and assert what ran, never how long it took.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <gwf/loop.h>

#define MS 1000000ull
#define WAIT_NS ((int64_t)(1000 * MS)) /* bound for waits that should end */

/* ---- fixtures and recorders -------------------------------------------- */

struct fds {
    int read_end;
    int write_end;
};

static struct fds
make_pipe(void)
{
    int p[2];
    assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    return (struct fds){p[0], p[1]};
}

static void
close_pair(struct fds f)
{
    if (f.read_end >= 0)
        close(f.read_end);
    if (f.write_end >= 0)
        close(f.write_end);
}

static void
write_byte(int fd)
{
    assert_int_equal(write(fd, "x", 1), 1);
}

/* Records every fd callback: which tag ran, with which events. */
#define MAX_CALLS 64
struct recorder {
    int calls;
    int tags[MAX_CALLS];
    uint32_t events[MAX_CALLS];
    uint64_t times[MAX_CALLS];
    gwf_loop *loop;
};

struct probe {
    struct recorder *rec;
    int tag;
};

static void
record(struct recorder *rec, int tag, uint32_t events)
{
    assert_true(rec->calls < MAX_CALLS);
    rec->tags[rec->calls] = tag;
    rec->events[rec->calls] = events;
    rec->times[rec->calls] = rec->loop ? gwf_loop_now(rec->loop) : 0;
    rec->calls++;
}

static void
on_fd(void *arg, int fd, uint32_t events)
{
    (void)fd;
    struct probe *probe = arg;
    record(probe->rec, probe->tag, events);
}

static void
on_timer(void *arg)
{
    struct probe *probe = arg;
    record(probe->rec, probe->tag, 0);
}

static void
count_call(void *arg)
{
    (*(int *)arg)++;
}

static int
setup_loop(void **state)
{
    gwf_loop *loop = gwf_loop_new();
    if (!loop)
        return -1;
    *state = loop;
    return 0;
}

static int
teardown_loop(void **state)
{
    gwf_loop_free(*state);
    return 0;
}

/* ---- fd watches -------------------------------------------------------- */

static void
test_new_loop_has_nothing_active(void **state)
{
    gwf_loop *loop = *state;
    assert_int_equal(gwf_loop_active(loop), 0);
    assert_int_equal(gwf_loop_run_once(loop, 0), 0);
}

static void
test_read_watch_fires_when_pipe_has_data(void **state)
{
    gwf_loop *loop = *state;
    struct fds p = make_pipe();
    struct recorder rec = {0};
    struct probe probe = {&rec, 1};
    uint64_t id =
        gwf_loop_fd_watch(loop, p.read_end, GWF_LOOP_READ, on_fd, &probe);
    assert_true(id > 0);

    write_byte(p.write_end);
    assert_int_equal(gwf_loop_run_once(loop, WAIT_NS), 1);
    assert_int_equal(rec.calls, 1);
    assert_int_equal(rec.events[0], GWF_LOOP_READ);

    gwf_loop_fd_cancel(loop, id);
    close_pair(p);
}

static void
test_read_watch_stays_quiet_without_data(void **state)
{
    gwf_loop *loop = *state;
    struct fds p = make_pipe();
    struct recorder rec = {0};
    struct probe probe = {&rec, 1};
    uint64_t id =
        gwf_loop_fd_watch(loop, p.read_end, GWF_LOOP_READ, on_fd, &probe);

    assert_int_equal(gwf_loop_run_once(loop, 0), 0);
    assert_int_equal(rec.calls, 0);

    gwf_loop_fd_cancel(loop, id);
    close_pair(p);
}

static void
store_fd(void *arg, int fd, uint32_t events)
{
    (void)events;
    *(int *)arg = fd;
}

static void
test_fd_callback_receives_the_watched_fd_and_its_arg(void **state)
{
    gwf_loop *loop = *state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    int seen_fd = -1;
    uint64_t id =
        gwf_loop_fd_watch(loop, sv[1], GWF_LOOP_WRITE, store_fd, &seen_fd);

    assert_int_equal(gwf_loop_run_once(loop, WAIT_NS), 1);
    assert_int_equal(seen_fd, sv[1]);

    gwf_loop_fd_cancel(loop, id);
    close(sv[0]);
    close(sv[1]);
}

static void
test_write_watch_fires_on_writable_socket(void **state)
{
    gwf_loop *loop = *state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    struct recorder rec = {0};
    struct probe probe = {&rec, 7};
    uint64_t id = gwf_loop_fd_watch(loop, sv[0], GWF_LOOP_WRITE, on_fd, &probe);
    assert_true(id > 0);

    assert_int_equal(gwf_loop_run_once(loop, WAIT_NS), 1);
    assert_int_equal(rec.tags[0], 7);
    assert_int_equal(rec.events[0], GWF_LOOP_WRITE);

    gwf_loop_fd_cancel(loop, id);
    close(sv[0]);
    close(sv[1]);
}

static void
test_read_and_write_watch_gets_both_events_in_one_call(void **state)
{
    gwf_loop *loop = *state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    struct recorder rec = {0};
    struct probe probe = {&rec, 1};
    uint64_t id = gwf_loop_fd_watch(loop, sv[0], GWF_LOOP_READ | GWF_LOOP_WRITE,
                                    on_fd, &probe);
    write_byte(sv[1]);

    assert_int_equal(gwf_loop_run_once(loop, WAIT_NS), 1);
    assert_int_equal(rec.events[0], GWF_LOOP_READ | GWF_LOOP_WRITE);

    gwf_loop_fd_cancel(loop, id);
    close(sv[0]);
    close(sv[1]);
}

static void
test_update_switches_watch_from_read_to_write(void **state)
{
    gwf_loop *loop = *state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    struct recorder rec = {0};
    struct probe probe = {&rec, 1};
    uint64_t id = gwf_loop_fd_watch(loop, sv[0], GWF_LOOP_READ, on_fd, &probe);
    assert_int_equal(gwf_loop_run_once(loop, 0), 0); /* nothing to read */

    assert_int_equal(gwf_loop_fd_update(loop, id, GWF_LOOP_WRITE), 0);
    assert_int_equal(gwf_loop_run_once(loop, WAIT_NS), 1);
    assert_int_equal(rec.events[0], GWF_LOOP_WRITE);

    gwf_loop_fd_cancel(loop, id);
    close(sv[0]);
    close(sv[1]);
}

static void
test_update_to_no_events_pauses_watch(void **state)
{
    gwf_loop *loop = *state;
    struct fds p = make_pipe();
    struct recorder rec = {0};
    struct probe probe = {&rec, 1};
    uint64_t id =
        gwf_loop_fd_watch(loop, p.read_end, GWF_LOOP_READ, on_fd, &probe);
    write_byte(p.write_end);
    close(p.write_end); /* a hangup is not delivered to a paused watch */
    p.write_end = -1;

    assert_int_equal(gwf_loop_fd_update(loop, id, 0), 0);
    assert_int_equal(gwf_loop_run_once(loop, 0), 0);
    assert_int_equal(rec.calls, 0);
    assert_int_equal(gwf_loop_active(loop), 1);

    assert_int_equal(gwf_loop_fd_update(loop, id, GWF_LOOP_READ), 0);
    assert_int_equal(gwf_loop_run_once(loop, WAIT_NS), 1);

    gwf_loop_fd_cancel(loop, id);
    close_pair(p);
}

static void
test_update_of_unknown_id_fails(void **state)
{
    gwf_loop *loop = *state;
    assert_int_equal(gwf_loop_fd_update(loop, 12345, GWF_LOOP_READ), -1);
    assert_int_equal(gwf_loop_fd_update(loop, 0, GWF_LOOP_READ), -1);
}

static void
test_update_with_unknown_event_bits_fails(void **state)
{
    gwf_loop *loop = *state;
    struct fds p = make_pipe();
    struct recorder rec = {0};
    struct probe probe = {&rec, 1};
    uint64_t id =
        gwf_loop_fd_watch(loop, p.read_end, GWF_LOOP_READ, on_fd, &probe);
    assert_int_equal(gwf_loop_fd_update(loop, id, 0x80), -1);
    assert_int_equal(gwf_loop_fd_update(loop, id, GWF_LOOP_ERROR), 0);
    gwf_loop_fd_cancel(loop, id);
    close_pair(p);
}

static void
test_watch_refuses_bad_fd_and_bad_arguments(void **state)
{
    gwf_loop *loop = *state;
    struct recorder rec = {0};
    struct probe probe = {&rec, 1};
    struct fds p = make_pipe();
    int closed_fd = dup(p.read_end);
    close(closed_fd);

    assert_int_equal(gwf_loop_fd_watch(loop, -1, GWF_LOOP_READ, on_fd, &probe),
                     0);
    assert_int_equal(
        gwf_loop_fd_watch(loop, closed_fd, GWF_LOOP_READ, on_fd, &probe), 0);
    assert_int_equal(gwf_loop_fd_watch(loop, p.read_end, 0x80, on_fd, &probe),
                     0);
    assert_int_equal(
        gwf_loop_fd_watch(loop, p.read_end, GWF_LOOP_READ, NULL, NULL), 0);
    assert_int_equal(gwf_loop_active(loop), 0);
    close_pair(p);
}

static void
test_cancelled_watch_never_fires(void **state)
{
    gwf_loop *loop = *state;
    struct fds p = make_pipe();
    struct recorder rec = {0};
    struct probe probe = {&rec, 1};
    uint64_t id =
        gwf_loop_fd_watch(loop, p.read_end, GWF_LOOP_READ, on_fd, &probe);
    write_byte(p.write_end);

    assert_int_equal(gwf_loop_fd_cancel(loop, id), 0);
    assert_int_equal(gwf_loop_run_once(loop, 0), 0);
    assert_int_equal(rec.calls, 0);
    assert_int_equal(gwf_loop_active(loop), 0);
    close_pair(p);
}

static void
test_cancel_of_stale_id_is_a_harmless_failure(void **state)
{
    gwf_loop *loop = *state;
    struct fds p = make_pipe();
    struct recorder rec = {0};
    struct probe probe = {&rec, 1};
    uint64_t id =
        gwf_loop_fd_watch(loop, p.read_end, GWF_LOOP_READ, on_fd, &probe);

    assert_int_equal(gwf_loop_fd_cancel(loop, id), 0);
    assert_int_equal(gwf_loop_fd_cancel(loop, id), -1);
    assert_int_equal(gwf_loop_fd_cancel(loop, 999999), -1);
    close_pair(p);
}

static void
test_ids_are_never_reused(void **state)
{
    gwf_loop *loop = *state;
    struct fds p = make_pipe();
    struct recorder rec = {0};
    struct probe probe = {&rec, 1};
    uint64_t last = 0;
    for (int i = 0; i < 50; i++) {
        uint64_t watch =
            gwf_loop_fd_watch(loop, p.read_end, GWF_LOOP_READ, on_fd, &probe);
        uint64_t timer = gwf_loop_timer_start(loop, MS, on_timer, &probe);
        assert_true(watch > last);
        assert_true(timer > watch);
        last = timer;
        gwf_loop_fd_cancel(loop, watch);
        gwf_loop_timer_cancel(loop, timer);
    }
    /* A timer id is not a watch id and the other way round. */
    uint64_t timer = gwf_loop_timer_start(loop, MS, on_timer, &probe);
    assert_int_equal(gwf_loop_fd_cancel(loop, timer), -1);
    assert_int_equal(gwf_loop_timer_cancel(loop, timer), 0);
    close_pair(p);
}

static void
test_two_watches_on_same_fd_both_fire(void **state)
{
    gwf_loop *loop = *state;
    struct fds p = make_pipe();
    struct recorder rec = {0};
    struct probe first = {&rec, 1}, second = {&rec, 2};
    uint64_t a =
        gwf_loop_fd_watch(loop, p.read_end, GWF_LOOP_READ, on_fd, &first);
    uint64_t b =
        gwf_loop_fd_watch(loop, p.read_end, GWF_LOOP_READ, on_fd, &second);
    assert_true(a != b);
    write_byte(p.write_end);

    assert_int_equal(gwf_loop_run_once(loop, WAIT_NS), 2);
    assert_int_equal(rec.calls, 2);
    assert_int_equal(rec.tags[0] + rec.tags[1], 3);

    gwf_loop_fd_cancel(loop, a);
    gwf_loop_fd_cancel(loop, b);
    close_pair(p);
}

static void
test_hangup_is_delivered_as_error(void **state)
{
    gwf_loop *loop = *state;
    struct fds p = make_pipe();
    struct recorder rec = {0};
    struct probe probe = {&rec, 1};
    uint64_t id =
        gwf_loop_fd_watch(loop, p.read_end, GWF_LOOP_READ, on_fd, &probe);
    close(p.write_end);
    p.write_end = -1;

    assert_int_equal(gwf_loop_run_once(loop, WAIT_NS), 1);
    assert_true(rec.events[0] & GWF_LOOP_ERROR);

    gwf_loop_fd_cancel(loop, id);
    close_pair(p);
}

/* Two ready watches; whichever runs first cancels the other. */
struct cancel_other {
    gwf_loop *loop;
    uint64_t other_id;
    int calls;
};

static void
cancel_other_on_fd(void *arg, int fd, uint32_t events)
{
    (void)fd;
    (void)events;
    struct cancel_other *self = arg;
    self->calls++;
    assert_int_equal(gwf_loop_fd_cancel(self->loop, self->other_id), 0);
}

static void
test_watch_cancelled_inside_other_callback_never_fires(void **state)
{
    gwf_loop *loop = *state;
    struct fds p = make_pipe(), q = make_pipe();
    struct cancel_other a = {.loop = loop}, b = {.loop = loop};
    uint64_t id_a = gwf_loop_fd_watch(loop, p.read_end, GWF_LOOP_READ,
                                      cancel_other_on_fd, &a);
    uint64_t id_b = gwf_loop_fd_watch(loop, q.read_end, GWF_LOOP_READ,
                                      cancel_other_on_fd, &b);
    a.other_id = id_b;
    b.other_id = id_a;
    write_byte(p.write_end);
    write_byte(q.write_end);

    assert_int_equal(gwf_loop_run_once(loop, WAIT_NS), 1);
    assert_int_equal(a.calls + b.calls, 1);
    assert_int_equal(gwf_loop_active(loop), 1);

    gwf_loop_fd_cancel(loop, a.calls ? id_a : id_b);
    assert_int_equal(gwf_loop_active(loop), 0);
    close_pair(p);
    close_pair(q);
}

struct pause_other {
    gwf_loop *loop;
    uint64_t other_id;
    int calls;
};

static void
pause_other_on_fd(void *arg, int fd, uint32_t events)
{
    (void)fd;
    (void)events;
    struct pause_other *self = arg;
    self->calls++;
    assert_int_equal(gwf_loop_fd_update(self->loop, self->other_id, 0), 0);
}

static void
test_watch_paused_inside_other_callback_is_not_called(void **state)
{
    gwf_loop *loop = *state;
    struct fds p = make_pipe(), q = make_pipe();
    struct pause_other a = {.loop = loop}, b = {.loop = loop};
    uint64_t id_a = gwf_loop_fd_watch(loop, p.read_end, GWF_LOOP_READ,
                                      pause_other_on_fd, &a);
    uint64_t id_b = gwf_loop_fd_watch(loop, q.read_end, GWF_LOOP_READ,
                                      pause_other_on_fd, &b);
    a.other_id = id_b;
    b.other_id = id_a;
    /* Hangups: ERROR would reach even a watch that asks for nothing. */
    close(p.write_end);
    close(q.write_end);
    p.write_end = q.write_end = -1;

    assert_int_equal(gwf_loop_run_once(loop, WAIT_NS), 1);
    assert_int_equal(a.calls + b.calls, 1);

    gwf_loop_fd_cancel(loop, id_a);
    gwf_loop_fd_cancel(loop, id_b);
    close_pair(p);
    close_pair(q);
}

struct self_cancel {
    gwf_loop *loop;
    uint64_t id;
    int calls;
};

static void
cancel_self_on_fd(void *arg, int fd, uint32_t events)
{
    (void)fd;
    (void)events;
    struct self_cancel *self = arg;
    self->calls++;
    assert_int_equal(gwf_loop_fd_cancel(self->loop, self->id), 0);
}

static void
test_watch_cancelling_itself_is_not_called_again(void **state)
{
    gwf_loop *loop = *state;
    struct fds p = make_pipe();
    struct self_cancel self = {.loop = loop};
    self.id = gwf_loop_fd_watch(loop, p.read_end, GWF_LOOP_READ,
                                cancel_self_on_fd, &self);
    write_byte(p.write_end);

    assert_int_equal(gwf_loop_run_once(loop, WAIT_NS), 1);
    assert_int_equal(gwf_loop_run_once(loop, 0), 0);
    assert_int_equal(self.calls, 1);
    assert_int_equal(gwf_loop_active(loop), 0);
    close_pair(p);
}

/* A callback that adds many watches (the arrays grow mid-round) must not
 * disturb the rest of the round; the new watches wait for the next. */
struct adder {
    gwf_loop *loop;
    int fd;
    struct probe *probe;
    uint64_t added[100];
    int added_count;
};

static void
add_many_on_fd(void *arg, int fd, uint32_t events)
{
    (void)fd;
    (void)events;
    struct adder *adder = arg;
    if (adder->added_count > 0)
        return;
    for (int i = 0; i < 100; i++) {
        adder->added[i] = gwf_loop_fd_watch(adder->loop, adder->fd,
                                            GWF_LOOP_READ, on_fd, adder->probe);
        assert_true(adder->added[i] > 0);
    }
    adder->added_count = 100;
}

static void
test_watches_added_inside_callback_wait_for_next_round(void **state)
{
    gwf_loop *loop = *state;
    struct fds p = make_pipe();
    struct recorder rec = {0};
    struct probe later = {&rec, 2}, existing = {&rec, 1};
    struct adder adder = {.loop = loop, .fd = p.read_end, .probe = &later};
    uint64_t adding = gwf_loop_fd_watch(loop, p.read_end, GWF_LOOP_READ,
                                        add_many_on_fd, &adder);
    uint64_t other =
        gwf_loop_fd_watch(loop, p.read_end, GWF_LOOP_READ, on_fd, &existing);
    write_byte(p.write_end);

    assert_int_equal(gwf_loop_run_once(loop, WAIT_NS), 2);
    assert_int_equal(rec.calls, 1);
    assert_int_equal(rec.tags[0], 1);

    gwf_loop_fd_cancel(loop, adding);
    gwf_loop_fd_cancel(loop, other);
    rec.calls = 0;
    /* Only the first MAX_CALLS are recorded; cancel enough to fit. */
    for (int i = 0; i < 50; i++)
        gwf_loop_fd_cancel(loop, adder.added[i]);
    assert_int_equal(gwf_loop_run_once(loop, WAIT_NS), 50);
    for (int i = 0; i < rec.calls; i++)
        assert_int_equal(rec.tags[i], 2);
    for (int i = 50; i < 100; i++)
        gwf_loop_fd_cancel(loop, adder.added[i]);
    assert_int_equal(gwf_loop_active(loop), 0);
    close_pair(p);
}

static void
test_many_watches_added_and_cancelled_stay_consistent(void **state)
{
    gwf_loop *loop = *state;
    struct fds p = make_pipe();
    struct recorder rec = {0};
    struct probe probe = {&rec, 1};
    enum { N = 2000 };
    uint64_t *ids = calloc(N, sizeof(*ids));
    assert_non_null(ids);
    for (int i = 0; i < N; i++)
        ids[i] = gwf_loop_fd_watch(loop, p.read_end, 0, on_fd, &probe);
    /* Cancel in a scattered order to exercise swap-remove and the map. */
    for (int i = 0; i < N; i += 3)
        assert_int_equal(gwf_loop_fd_cancel(loop, ids[i]), 0);
    for (int i = 0; i < N; i++) {
        int expected = (i % 3 == 0) ? -1 : 0;
        assert_int_equal(gwf_loop_fd_update(loop, ids[i], 0), expected);
    }
    for (int i = N - 1; i >= 0; i--) {
        if (i % 3 != 0)
            assert_int_equal(gwf_loop_fd_cancel(loop, ids[i]), 0);
    }
    assert_int_equal(gwf_loop_active(loop), 0);
    free(ids);
    close_pair(p);
}

/* ---- timers ------------------------------------------------------------ */

static void
test_timers_fire_in_deadline_order(void **state)
{
    gwf_loop *loop = *state;
    gwf_loop_set_manual_clock(loop, 1000);
    struct recorder rec = {.loop = loop};
    struct probe p1 = {&rec, 1}, p2 = {&rec, 2}, p3 = {&rec, 3};
    gwf_loop_timer_start(loop, 30, on_timer, &p3);
    gwf_loop_timer_start(loop, 10, on_timer, &p1);
    gwf_loop_timer_start(loop, 20, on_timer, &p2);

    gwf_loop_advance(loop, 100);
    assert_int_equal(rec.calls, 3);
    assert_int_equal(rec.tags[0], 1);
    assert_int_equal(rec.tags[1], 2);
    assert_int_equal(rec.tags[2], 3);
}

static void
test_equal_deadlines_fire_in_start_order(void **state)
{
    gwf_loop *loop = *state;
    gwf_loop_set_manual_clock(loop, 0);
    struct recorder rec = {0};
    struct probe probes[10];
    for (int i = 0; i < 10; i++) {
        probes[i] = (struct probe){&rec, i};
        gwf_loop_timer_start(loop, 5, on_timer, &probes[i]);
    }

    gwf_loop_advance(loop, 5);
    assert_int_equal(rec.calls, 10);
    for (int i = 0; i < 10; i++)
        assert_int_equal(rec.tags[i], i);
}

static void
test_advance_runs_only_timers_that_became_due(void **state)
{
    gwf_loop *loop = *state;
    gwf_loop_set_manual_clock(loop, 0);
    struct recorder rec = {0};
    struct probe early = {&rec, 1}, late = {&rec, 2};
    gwf_loop_timer_start(loop, 10 * MS, on_timer, &early);
    gwf_loop_timer_start(loop, 20 * MS, on_timer, &late);

    gwf_loop_advance(loop, 10 * MS - 1);
    assert_int_equal(rec.calls, 0);
    gwf_loop_advance(loop, 1);
    assert_int_equal(rec.calls, 1);
    assert_int_equal(gwf_loop_now(loop), 10 * MS);
    assert_int_equal(gwf_loop_active(loop), 1);
    gwf_loop_advance(loop, 10 * MS);
    assert_int_equal(rec.calls, 2);
    assert_int_equal(gwf_loop_active(loop), 0);
}

static void
test_clock_reads_the_deadline_inside_a_timer_during_advance(void **state)
{
    gwf_loop *loop = *state;
    gwf_loop_set_manual_clock(loop, 500);
    struct recorder rec = {.loop = loop};
    struct probe a = {&rec, 1}, b = {&rec, 2};
    gwf_loop_timer_start(loop, 10, on_timer, &a);
    gwf_loop_timer_start(loop, 40, on_timer, &b);

    gwf_loop_advance(loop, 1000);
    assert_int_equal(rec.times[0], 510);
    assert_int_equal(rec.times[1], 540);
    assert_int_equal(gwf_loop_now(loop), 1500);
}

struct chain {
    gwf_loop *loop;
    struct recorder *rec;
    int remaining;
    uint64_t delay;
};

static void
restart_on_timer(void *arg)
{
    struct chain *chain = arg;
    record(chain->rec, chain->remaining, 0);
    if (--chain->remaining > 0)
        gwf_loop_timer_start(chain->loop, chain->delay, restart_on_timer,
                             chain);
}

static void
test_timer_started_during_advance_runs_if_due_within_span(void **state)
{
    gwf_loop *loop = *state;
    gwf_loop_set_manual_clock(loop, 0);
    struct recorder rec = {.loop = loop};
    struct chain chain = {loop, &rec, 5, 10};
    gwf_loop_timer_start(loop, 10, restart_on_timer, &chain);

    gwf_loop_advance(loop, 35);
    assert_int_equal(rec.calls, 3); /* at 10, 20 and 30 */
    assert_int_equal(rec.times[2], 30);
    assert_int_equal(gwf_loop_active(loop), 1);

    gwf_loop_advance(loop, 100);
    assert_int_equal(rec.calls, 5);
    assert_int_equal(gwf_loop_active(loop), 0);
}

static void
test_advance_does_nothing_on_the_real_clock(void **state)
{
    gwf_loop *loop = *state;
    struct recorder rec = {0};
    struct probe probe = {&rec, 1};
    uint64_t id =
        gwf_loop_timer_start(loop, 3600ull * 1000 * MS, on_timer, &probe);
    gwf_loop_advance(loop, 7200ull * 1000 * MS);
    assert_int_equal(rec.calls, 0);
    assert_int_equal(gwf_loop_timer_cancel(loop, id), 0);
}

static void
test_manual_clock_keeps_the_time_left_on_pending_timers(void **state)
{
    gwf_loop *loop = *state;
    struct recorder rec = {.loop = loop};
    struct probe probe = {&rec, 1};
    gwf_loop_timer_start(loop, 3600ull * 1000 * MS, on_timer, &probe);

    gwf_loop_set_manual_clock(loop, 0);
    gwf_loop_advance(loop, 3599ull * 1000 * MS);
    assert_int_equal(rec.calls, 0);
    gwf_loop_advance(loop, 1000 * MS);
    assert_int_equal(rec.calls, 1);
}

static void
test_cancelled_timer_never_fires(void **state)
{
    gwf_loop *loop = *state;
    gwf_loop_set_manual_clock(loop, 0);
    struct recorder rec = {0};
    struct probe a = {&rec, 1}, b = {&rec, 2};
    uint64_t id_a = gwf_loop_timer_start(loop, 10, on_timer, &a);
    gwf_loop_timer_start(loop, 10, on_timer, &b);

    assert_int_equal(gwf_loop_timer_cancel(loop, id_a), 0);
    gwf_loop_advance(loop, 10);
    assert_int_equal(rec.calls, 1);
    assert_int_equal(rec.tags[0], 2);
}

static void
test_cancel_of_fired_timer_fails(void **state)
{
    gwf_loop *loop = *state;
    gwf_loop_set_manual_clock(loop, 0);
    int calls = 0;
    uint64_t id = gwf_loop_timer_start(loop, 1, count_call, &calls);
    gwf_loop_advance(loop, 1);
    assert_int_equal(calls, 1);
    assert_int_equal(gwf_loop_timer_cancel(loop, id), -1);
    assert_int_equal(gwf_loop_timer_cancel(loop, 424242), -1);
}

static void
test_timer_start_refuses_null_callback(void **state)
{
    gwf_loop *loop = *state;
    assert_int_equal(gwf_loop_timer_start(loop, 1, NULL, NULL), 0);
    assert_int_equal(gwf_loop_active(loop), 0);
}

struct timer_cancel_other {
    gwf_loop *loop;
    uint64_t other_id;
    int calls;
};

static void
cancel_other_on_timer(void *arg)
{
    struct timer_cancel_other *self = arg;
    self->calls++;
    gwf_loop_timer_cancel(self->loop, self->other_id);
}

static void
test_timer_cancelled_inside_other_callback_never_fires(void **state)
{
    gwf_loop *loop = *state;
    struct timer_cancel_other a = {.loop = loop}, b = {.loop = loop};
    uint64_t id_a = gwf_loop_timer_start(loop, 0, cancel_other_on_timer, &a);
    uint64_t id_b = gwf_loop_timer_start(loop, 0, cancel_other_on_timer, &b);
    a.other_id = id_b;
    b.other_id = id_a;

    assert_int_equal(gwf_loop_run_once(loop, WAIT_NS), 1);
    assert_int_equal(a.calls, 1);
    assert_int_equal(b.calls, 0);
    assert_int_equal(gwf_loop_active(loop), 0);
}

struct timer_self_cancel {
    gwf_loop *loop;
    uint64_t id;
    int cancel_result;
};

static void
cancel_self_on_timer(void *arg)
{
    struct timer_self_cancel *self = arg;
    self->cancel_result = gwf_loop_timer_cancel(self->loop, self->id);
}

static void
test_timer_cancelling_itself_in_its_callback_gets_minus_one(void **state)
{
    gwf_loop *loop = *state;
    struct timer_self_cancel self = {.loop = loop, .cancel_result = 99};
    self.id = gwf_loop_timer_start(loop, 0, cancel_self_on_timer, &self);

    assert_int_equal(gwf_loop_run_once(loop, WAIT_NS), 1);
    assert_int_equal(self.cancel_result, -1);
}

static void
test_timer_started_in_callback_runs_in_a_later_round(void **state)
{
    gwf_loop *loop = *state;
    /* On the manual clock a zero-delay restart is due at once, so only the
     * round rule keeps it out of the current round. */
    gwf_loop_set_manual_clock(loop, 0);
    struct recorder rec = {.loop = loop};
    struct chain chain = {loop, &rec, 3, 0};
    gwf_loop_timer_start(loop, 0, restart_on_timer, &chain);

    assert_int_equal(gwf_loop_run_once(loop, WAIT_NS), 1);
    assert_int_equal(gwf_loop_run_once(loop, WAIT_NS), 1);
    assert_int_equal(gwf_loop_run_once(loop, WAIT_NS), 1);
    assert_int_equal(rec.calls, 3);
    assert_int_equal(gwf_loop_active(loop), 0);
}

static void
test_run_once_waits_for_a_real_timer_and_fires_it(void **state)
{
    gwf_loop *loop = *state;
    int calls = 0;
    gwf_loop_timer_start(loop, 2 * MS, count_call, &calls);

    /* Unbounded wait: returns only because the deadline bounds poll. */
    while (calls == 0)
        assert_true(gwf_loop_run_once(loop, -1) >= 0);
    assert_int_equal(calls, 1);
    assert_int_equal(gwf_loop_active(loop), 0);
}

static void
test_run_once_with_zero_wait_does_not_block(void **state)
{
    gwf_loop *loop = *state;
    int calls = 0;
    uint64_t id =
        gwf_loop_timer_start(loop, 3600ull * 1000 * MS, count_call, &calls);
    assert_int_equal(gwf_loop_run_once(loop, 0), 0);
    assert_int_equal(calls, 0);
    gwf_loop_timer_cancel(loop, id);
}

static void
test_run_once_fires_due_timer_on_manual_clock(void **state)
{
    gwf_loop *loop = *state;
    gwf_loop_set_manual_clock(loop, 0);
    int calls = 0;
    gwf_loop_timer_start(loop, 0, count_call, &calls);
    uint64_t later = gwf_loop_timer_start(loop, 1, count_call, &calls);

    assert_int_equal(gwf_loop_run_once(loop, -1), 1);
    assert_int_equal(gwf_loop_run_once(loop, 0), 0); /* time stands still */
    assert_int_equal(calls, 1);
    gwf_loop_timer_cancel(loop, later);
}

struct nested {
    gwf_loop *loop;
    int result;
};

static void
run_once_inside(void *arg)
{
    struct nested *nested = arg;
    nested->result = gwf_loop_run_once(nested->loop, 0);
}

static void
test_run_once_inside_a_callback_fails(void **state)
{
    gwf_loop *loop = *state;
    struct nested nested = {loop, 0};
    gwf_loop_timer_start(loop, 0, run_once_inside, &nested);
    assert_int_equal(gwf_loop_run_once(loop, WAIT_NS), 1);
    assert_int_equal(nested.result, -1);
}

/* Deterministic xorshift so the stress test is reproducible. */
static uint64_t
next_random(uint64_t *seed)
{
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    return *seed;
}

struct ordered {
    uint64_t *fired_at;
    size_t fired;
    gwf_loop *loop;
};

static void
record_fire_time(void *arg)
{
    struct ordered *ordered = arg;
    ordered->fired_at[ordered->fired++] = gwf_loop_now(ordered->loop);
}

static void
test_heap_keeps_order_under_random_starts_and_cancels(void **state)
{
    gwf_loop *loop = *state;
    gwf_loop_set_manual_clock(loop, 0);
    enum { N = 3000 };
    uint64_t *ids = calloc(N, sizeof(*ids));
    uint64_t *fired_at = calloc(N, sizeof(*fired_at));
    assert_non_null(ids);
    assert_non_null(fired_at);
    struct ordered ordered = {fired_at, 0, loop};
    uint64_t seed = 0x9e3779b97f4a7c15ull;

    for (int i = 0; i < N; i++)
        ids[i] = gwf_loop_timer_start(loop, next_random(&seed) % 1000,
                                      record_fire_time, &ordered);
    size_t cancelled = 0;
    for (int i = 0; i < N; i++) {
        if (next_random(&seed) % 2 == 0) {
            assert_int_equal(gwf_loop_timer_cancel(loop, ids[i]), 0);
            cancelled++;
        }
    }
    assert_int_equal(gwf_loop_active(loop), N - cancelled);

    gwf_loop_advance(loop, 1000);
    assert_int_equal(ordered.fired, N - cancelled);
    for (size_t i = 1; i < ordered.fired; i++)
        assert_true(fired_at[i - 1] <= fired_at[i]);
    assert_int_equal(gwf_loop_active(loop), 0);
    free(ids);
    free(fired_at);
}

/* ---- posts ------------------------------------------------------------- */

static void
test_post_runs_in_the_next_round(void **state)
{
    gwf_loop *loop = *state;
    int calls = 0;
    assert_int_equal(gwf_loop_post(loop, count_call, NULL, &calls), 0);
    assert_int_equal(gwf_loop_active(loop), 1);
    assert_int_equal(calls, 0);

    assert_int_equal(gwf_loop_run_once(loop, WAIT_NS), 1);
    assert_int_equal(calls, 1);
    assert_int_equal(gwf_loop_active(loop), 0);
}

static void
test_posts_run_in_the_order_they_were_made(void **state)
{
    gwf_loop *loop = *state;
    struct recorder rec = {0};
    struct probe probes[5];
    for (int i = 0; i < 5; i++) {
        probes[i] = (struct probe){&rec, i};
        assert_int_equal(gwf_loop_post(loop, on_timer, NULL, &probes[i]), 0);
    }
    assert_int_equal(gwf_loop_run_once(loop, WAIT_NS), 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(rec.tags[i], i);
}

static void
test_post_refuses_null_callback(void **state)
{
    gwf_loop *loop = *state;
    assert_int_equal(gwf_loop_post(loop, NULL, NULL, NULL), -1);
    assert_int_equal(gwf_loop_active(loop), 0);
}

static void
test_loop_sleeps_again_after_a_post_has_run(void **state)
{
    gwf_loop *loop = *state;
    int posted = 0, timed = 0;
    gwf_loop_post(loop, count_call, NULL, &posted);
    assert_int_equal(gwf_loop_run_once(loop, WAIT_NS), 1);

    /* If the wake-up had not been consumed this unbounded wait would
     * return at once with nothing run; the timer must be what ends it. */
    gwf_loop_timer_start(loop, MS, count_call, &timed);
    assert_int_equal(gwf_loop_run_once(loop, -1), 1);
    assert_int_equal(timed, 1);
    assert_int_equal(posted, 1);
}

struct repost {
    gwf_loop *loop;
    int calls;
};

static void
post_again(void *arg)
{
    struct repost *self = arg;
    if (self->calls++ == 0)
        assert_int_equal(gwf_loop_post(self->loop, post_again, NULL, self), 0);
}

static void
test_post_made_inside_a_callback_runs_in_a_later_round(void **state)
{
    gwf_loop *loop = *state;
    struct repost self = {loop, 0};
    gwf_loop_post(loop, post_again, NULL, &self);

    assert_int_equal(gwf_loop_run_once(loop, WAIT_NS), 1);
    assert_int_equal(self.calls, 1);
    assert_int_equal(gwf_loop_active(loop), 1);
    assert_int_equal(gwf_loop_run_once(loop, WAIT_NS), 1);
    assert_int_equal(self.calls, 2);
}

struct poster {
    gwf_loop *loop;
    int *calls;
    int count;
};

static void *
post_from_thread(void *arg)
{
    struct poster *poster = arg;
    /* Give the main thread a moment to block in poll first. */
    struct timespec pause = {0, 2 * 1000 * 1000};
    nanosleep(&pause, NULL);
    for (int i = 0; i < poster->count; i++) {
        if (gwf_loop_post(poster->loop, count_call, NULL, poster->calls) != 0)
            return NULL;
    }
    return poster;
}

static void
test_post_from_another_thread_wakes_a_blocked_run_once(void **state)
{
    gwf_loop *loop = *state;
    int calls = 0;
    struct poster poster = {loop, &calls, 1};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, post_from_thread, &poster),
                     0);

    /* Nothing else can end this wait: no fds, no timers, no bound. */
    assert_int_equal(gwf_loop_run_once(loop, -1), 1);
    assert_int_equal(calls, 1);

    void *result;
    pthread_join(thread, &result);
    assert_ptr_equal(result, &poster);
}

/* Each thread posts a numbered sequence; per-thread order must hold. */
struct sequence_poster {
    gwf_loop *loop;
    int thread_no;
    int next_seen; /* touched only on the loop thread */
    int out_of_order;
};

struct sequence_item {
    struct sequence_poster *from;
    int seq;
};

static void
check_sequence(void *arg)
{
    struct sequence_item *item = arg;
    if (item->seq != item->from->next_seen)
        item->from->out_of_order++;
    item->from->next_seen = item->seq + 1;
    free(item);
}

enum { POSTS_PER_THREAD = 500, POSTING_THREADS = 4 };

static void *
post_sequence(void *arg)
{
    struct sequence_poster *poster = arg;
    for (int i = 0; i < POSTS_PER_THREAD; i++) {
        struct sequence_item *item = malloc(sizeof(*item));
        if (!item)
            return NULL;
        *item = (struct sequence_item){poster, i};
        if (gwf_loop_post(poster->loop, check_sequence, free, item) != 0) {
            free(item);
            return NULL;
        }
    }
    return poster;
}

static void
test_posts_from_many_threads_all_run_in_order_per_thread(void **state)
{
    gwf_loop *loop = *state;
    struct sequence_poster posters[POSTING_THREADS];
    pthread_t threads[POSTING_THREADS];
    for (int t = 0; t < POSTING_THREADS; t++) {
        posters[t] = (struct sequence_poster){loop, t, 0, 0};
        assert_int_equal(
            pthread_create(&threads[t], NULL, post_sequence, &posters[t]), 0);
    }

    int total = 0;
    while (total < POSTS_PER_THREAD * POSTING_THREADS) {
        int ran = gwf_loop_run_once(loop, WAIT_NS);
        assert_true(ran >= 0);
        total += ran;
    }
    for (int t = 0; t < POSTING_THREADS; t++) {
        void *result;
        pthread_join(threads[t], &result);
        assert_ptr_equal(result, &posters[t]);
        assert_int_equal(posters[t].out_of_order, 0);
        assert_int_equal(posters[t].next_seen, POSTS_PER_THREAD);
    }
    assert_int_equal(gwf_loop_active(loop), 0);
}

struct release_probe {
    int ran;
    int released;
};

static void
mark_ran(void *arg)
{
    ((struct release_probe *)arg)->ran++;
}

static void
mark_released(void *arg)
{
    ((struct release_probe *)arg)->released++;
}

static void
test_post_pending_at_free_calls_release_instead(void **state)
{
    (void)state;
    gwf_loop *loop = gwf_loop_new();
    assert_non_null(loop);
    struct release_probe a = {0}, b = {0};
    int dropped = 0;
    assert_int_equal(gwf_loop_post(loop, mark_ran, mark_released, &a), 0);
    assert_int_equal(gwf_loop_post(loop, count_call, NULL, &dropped), 0);
    assert_int_equal(gwf_loop_post(loop, mark_ran, mark_released, &b), 0);

    gwf_loop_free(loop);
    assert_int_equal(a.ran, 0);
    assert_int_equal(a.released, 1);
    assert_int_equal(b.ran, 0);
    assert_int_equal(b.released, 1);
    assert_int_equal(dropped, 0);
}

static void
test_post_that_ran_is_never_released(void **state)
{
    (void)state;
    gwf_loop *loop = gwf_loop_new();
    assert_non_null(loop);
    struct release_probe probe = {0};
    gwf_loop_post(loop, mark_ran, mark_released, &probe);
    assert_int_equal(gwf_loop_run_once(loop, WAIT_NS), 1);
    gwf_loop_free(loop);
    assert_int_equal(probe.ran, 1);
    assert_int_equal(probe.released, 0);
}

static void
test_free_drops_watches_and_timers_without_calling_them(void **state)
{
    (void)state;
    gwf_loop *loop = gwf_loop_new();
    assert_non_null(loop);
    struct fds p = make_pipe();
    struct recorder rec = {0};
    struct probe probe = {&rec, 1};
    gwf_loop_fd_watch(loop, p.read_end, GWF_LOOP_READ, on_fd, &probe);
    gwf_loop_timer_start(loop, 0, on_timer, &probe);
    write_byte(p.write_end);

    gwf_loop_free(loop);
    assert_int_equal(rec.calls, 0);
    close_pair(p);
}

/* ---- everything together ----------------------------------------------- */

static void
test_active_is_zero_after_everything_fired_or_cancelled(void **state)
{
    gwf_loop *loop = *state;
    struct fds p = make_pipe();
    struct recorder rec = {0};
    struct probe probe = {&rec, 1};
    int calls = 0;

    uint64_t watch =
        gwf_loop_fd_watch(loop, p.read_end, GWF_LOOP_READ, on_fd, &probe);
    uint64_t fires = gwf_loop_timer_start(loop, 0, count_call, &calls);
    uint64_t cancelled = gwf_loop_timer_start(loop, 0, count_call, &calls);
    gwf_loop_post(loop, count_call, NULL, &calls);
    assert_true(fires > 0);
    assert_int_equal(gwf_loop_active(loop), 4);

    assert_int_equal(gwf_loop_timer_cancel(loop, cancelled), 0);
    write_byte(p.write_end);
    assert_int_equal(gwf_loop_run_once(loop, WAIT_NS), 3);
    assert_int_equal(gwf_loop_active(loop), 1); /* the watch */
    assert_int_equal(gwf_loop_fd_cancel(loop, watch), 0);
    assert_int_equal(gwf_loop_active(loop), 0);
    assert_int_equal(calls, 2);
    assert_int_equal(rec.calls, 1);
    close_pair(p);
}

#define LOOP_TEST(name)                                                        \
    cmocka_unit_test_setup_teardown(name, setup_loop, teardown_loop)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        LOOP_TEST(test_new_loop_has_nothing_active),
        LOOP_TEST(test_read_watch_fires_when_pipe_has_data),
        LOOP_TEST(test_read_watch_stays_quiet_without_data),
        LOOP_TEST(test_fd_callback_receives_the_watched_fd_and_its_arg),
        LOOP_TEST(test_write_watch_fires_on_writable_socket),
        LOOP_TEST(test_read_and_write_watch_gets_both_events_in_one_call),
        LOOP_TEST(test_update_switches_watch_from_read_to_write),
        LOOP_TEST(test_update_to_no_events_pauses_watch),
        LOOP_TEST(test_update_of_unknown_id_fails),
        LOOP_TEST(test_update_with_unknown_event_bits_fails),
        LOOP_TEST(test_watch_refuses_bad_fd_and_bad_arguments),
        LOOP_TEST(test_cancelled_watch_never_fires),
        LOOP_TEST(test_cancel_of_stale_id_is_a_harmless_failure),
        LOOP_TEST(test_ids_are_never_reused),
        LOOP_TEST(test_two_watches_on_same_fd_both_fire),
        LOOP_TEST(test_hangup_is_delivered_as_error),
        LOOP_TEST(test_watch_cancelled_inside_other_callback_never_fires),
        LOOP_TEST(test_watch_paused_inside_other_callback_is_not_called),
        LOOP_TEST(test_watch_cancelling_itself_is_not_called_again),
        LOOP_TEST(test_watches_added_inside_callback_wait_for_next_round),
        LOOP_TEST(test_many_watches_added_and_cancelled_stay_consistent),
        LOOP_TEST(test_timers_fire_in_deadline_order),
        LOOP_TEST(test_equal_deadlines_fire_in_start_order),
        LOOP_TEST(test_advance_runs_only_timers_that_became_due),
        LOOP_TEST(test_clock_reads_the_deadline_inside_a_timer_during_advance),
        LOOP_TEST(test_timer_started_during_advance_runs_if_due_within_span),
        LOOP_TEST(test_advance_does_nothing_on_the_real_clock),
        LOOP_TEST(test_manual_clock_keeps_the_time_left_on_pending_timers),
        LOOP_TEST(test_cancelled_timer_never_fires),
        LOOP_TEST(test_cancel_of_fired_timer_fails),
        LOOP_TEST(test_timer_start_refuses_null_callback),
        LOOP_TEST(test_timer_cancelled_inside_other_callback_never_fires),
        LOOP_TEST(test_timer_cancelling_itself_in_its_callback_gets_minus_one),
        LOOP_TEST(test_timer_started_in_callback_runs_in_a_later_round),
        LOOP_TEST(test_run_once_waits_for_a_real_timer_and_fires_it),
        LOOP_TEST(test_run_once_with_zero_wait_does_not_block),
        LOOP_TEST(test_run_once_fires_due_timer_on_manual_clock),
        LOOP_TEST(test_run_once_inside_a_callback_fails),
        LOOP_TEST(test_heap_keeps_order_under_random_starts_and_cancels),
        LOOP_TEST(test_post_runs_in_the_next_round),
        LOOP_TEST(test_posts_run_in_the_order_they_were_made),
        LOOP_TEST(test_post_refuses_null_callback),
        LOOP_TEST(test_loop_sleeps_again_after_a_post_has_run),
        LOOP_TEST(test_post_made_inside_a_callback_runs_in_a_later_round),
        LOOP_TEST(test_post_from_another_thread_wakes_a_blocked_run_once),
        LOOP_TEST(test_posts_from_many_threads_all_run_in_order_per_thread),
        cmocka_unit_test(test_post_pending_at_free_calls_release_instead),
        cmocka_unit_test(test_post_that_ran_is_never_released),
        cmocka_unit_test(
            test_free_drops_watches_and_timers_without_calling_them),
        LOOP_TEST(test_active_is_zero_after_everything_fired_or_cancelled),
    };
    return cmocka_run_group_tests_name("loop", tests, NULL, NULL);
}
