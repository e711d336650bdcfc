/*
 * poll_host.c - a poll()-based gwf_host for the SDK's tests: the five
 * loop slots of the ABI on fixed tables, counted (see poll_host.h).
 *
 * Tables, not lists: a test never has more than a few dozen watches or
 * timers, and a full table is a test failure ("more than N at once"),
 * which is what a leak looks like when it happens in a loop.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <poll.h>
#include <string.h>
#include <time.h>

#include "poll_host.h"

int64_t
poll_host_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static gwf_status
host_fd_watch(gwf_instance *inst, gwf_stream *s, int fd, uint32_t events,
              gwf_fd_cb cb, void *arg, uint64_t *watch_id)
{
    poll_host *h = (poll_host *)inst;

    assert_null(s);
    if (fd < 0 || (events & ~(uint32_t)(GWF_FD_READ | GWF_FD_WRITE)))
        return GWF_ERR_BAD_ARGUMENT;
    for (size_t i = 0; i < POLL_HOST_WATCHES; i++) {
        poll_watch *w = &h->watches[i];
        if (w->live)
            continue;
        *w = (poll_watch){1, ++h->next_id, fd, events, cb, arg};
        *watch_id = w->id;
        h->watches_started++;
        h->watched_fd = fd;
        if (h->on_watch)
            h->on_watch(h->on_watch_arg, fd);
        return GWF_OK;
    }
    fail_msg("more than %d watches at once", POLL_HOST_WATCHES);
    return GWF_ERR_LIMIT;
}

static poll_watch *
live_watch(poll_host *h, uint64_t id)
{
    for (size_t i = 0; i < POLL_HOST_WATCHES; i++)
        if (h->watches[i].live && h->watches[i].id == id)
            return &h->watches[i];
    return NULL;
}

static gwf_status
host_fd_update(gwf_instance *inst, uint64_t watch_id, uint32_t events)
{
    poll_host *h = (poll_host *)inst;
    poll_watch *w = live_watch(h, watch_id);

    if (!w) {
        h->not_found++;
        return GWF_ERR_NOT_FOUND;
    }
    if (events & ~(uint32_t)(GWF_FD_READ | GWF_FD_WRITE))
        return GWF_ERR_BAD_ARGUMENT;
    w->events = events;
    h->watch_updates++;
    return GWF_OK;
}

static gwf_status
host_fd_cancel(gwf_instance *inst, uint64_t watch_id)
{
    poll_host *h = (poll_host *)inst;
    poll_watch *w = live_watch(h, watch_id);

    if (!w) {
        h->not_found++;
        return GWF_ERR_NOT_FOUND;
    }
    w->live = 0;
    h->watches_cancelled++;
    return GWF_OK;
}

static gwf_status
host_timer_start(gwf_instance *inst, gwf_stream *s, uint64_t delay_ns,
                 gwf_timer_cb cb, void *arg, uint64_t *timer_id)
{
    poll_host *h = (poll_host *)inst;
    int64_t delay =
        delay_ns > INT64_MAX / 2 ? INT64_MAX / 2 : (int64_t)delay_ns;

    assert_null(s);
    for (size_t i = 0; i < POLL_HOST_TIMERS; i++) {
        poll_timer *t = &h->timers[i];
        if (t->armed)
            continue;
        *t = (poll_timer){1, ++h->next_id, poll_host_now_ns() + delay, cb, arg};
        *timer_id = t->id;
        h->timers_started++;
        return GWF_OK;
    }
    fail_msg("more than %d timers at once", POLL_HOST_TIMERS);
    return GWF_ERR_LIMIT;
}

static gwf_status
host_timer_cancel(gwf_instance *inst, uint64_t timer_id)
{
    poll_host *h = (poll_host *)inst;

    for (size_t i = 0; i < POLL_HOST_TIMERS; i++) {
        poll_timer *t = &h->timers[i];
        if (t->armed && t->id == timer_id) {
            t->armed = 0;
            h->timers_cancelled++;
            return GWF_OK;
        }
    }
    h->not_found++;
    return GWF_ERR_NOT_FOUND;
}

int
poll_host_live_watches(const poll_host *h)
{
    int n = 0;

    for (size_t i = 0; i < POLL_HOST_WATCHES; i++)
        n += h->watches[i].live;
    return n;
}

int
poll_host_armed_timers(const poll_host *h)
{
    int n = 0;

    for (size_t i = 0; i < POLL_HOST_TIMERS; i++)
        n += h->timers[i].armed;
    return n;
}

/* The due timers, each disarmed before its callback runs (which may
 * cancel or start others). Returns the wait in ms until the next one,
 * at most `max_wait_ms`: 0 when one is due already. */
static int
run_due_timers(poll_host *h, int max_wait_ms)
{
    int64_t now = poll_host_now_ns(), wait_ms = max_wait_ms;

    for (size_t i = 0; i < POLL_HOST_TIMERS; i++) {
        poll_timer *t = &h->timers[i];
        if (t->armed && t->due_ns <= now) {
            t->armed = 0;
            h->timers_fired++;
            t->cb(t->arg);
        }
    }
    now = poll_host_now_ns();
    for (size_t i = 0; i < POLL_HOST_TIMERS; i++) {
        const poll_timer *t = &h->timers[i];
        if (!t->armed)
            continue;
        if (t->due_ns <= now)
            return 0;
        if ((t->due_ns - now) / NS_PER_MS + 1 < wait_ms)
            wait_ms = (t->due_ns - now) / NS_PER_MS + 1;
    }
    return (int)wait_ms;
}

void
poll_host_turn(poll_host *h, int max_wait_ms)
{
    struct pollfd pfds[POLL_HOST_WATCHES];
    uint64_t ids[POLL_HOST_WATCHES];
    nfds_t n = 0;
    int wait_ms = run_due_timers(h, max_wait_ms);

    for (size_t i = 0; i < POLL_HOST_WATCHES; i++) {
        const poll_watch *w = &h->watches[i];
        if (!w->live || !w->events)
            continue;
        pfds[n].fd = w->fd;
        pfds[n].events = (short)((w->events & GWF_FD_READ ? POLLIN : 0) |
                                 (w->events & GWF_FD_WRITE ? POLLOUT : 0));
        pfds[n].revents = 0;
        ids[n++] = w->id;
    }
    if (poll(pfds, n, wait_ms) <= 0)
        return;
    for (nfds_t i = 0; i < n; i++) {
        poll_watch *w = live_watch(h, ids[i]);
        uint32_t events = 0;
        if (!w || !pfds[i].revents)
            continue;
        if (pfds[i].revents & POLLIN)
            events |= GWF_FD_READ;
        if (pfds[i].revents & POLLOUT)
            events |= GWF_FD_WRITE;
        /* A hang-up is an error, and readable for a reader: what the
         * peer sent before it closed is still to be read. */
        if (pfds[i].revents & (POLLERR | POLLHUP | POLLNVAL))
            events |= GWF_FD_ERROR | (w->events & GWF_FD_READ);
        w->cb(w->arg, w->fd, events);
    }
}

void
poll_host_init(poll_host *h, const char *name)
{
    memset(h, 0, sizeof(*h));
    h->host.size = sizeof(h->host);
    h->host.abi_major = GWF_ABI_VERSION_MAJOR;
    h->host.abi_minor = GWF_ABI_VERSION_MINOR;
    h->host.name = name;
    h->host.fd_watch = host_fd_watch;
    h->host.fd_update = host_fd_update;
    h->host.fd_cancel = host_fd_cancel;
    h->host.timer_start = host_timer_start;
    h->host.timer_cancel = host_timer_cancel;
    h->inst.host = &h->host;
    h->watched_fd = -1;
}
