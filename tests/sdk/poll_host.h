/*
 * poll_host.h - a poll()-based gwf_host for the SDK's tests.
 *
 * The SDK's clients (gwf_curl_loop, the HTTP/1.1 client, the gRPC
 * client) reach the host only through fd_watch, fd_update, fd_cancel,
 * timer_start and timer_cancel. This host keeps those as the ABI
 * promises and as the runtime's loop does (ids never reused,
 * level-triggered watches, a watch waiting for no events is not polled,
 * a hang-up or error is GWF_FD_ERROR, a cancelled watch or timer never
 * fires) and counts every call, so that a test can assert at its end
 * that every watch and timer the code made is gone and that nothing was
 * updated or cancelled that was not live.
 *
 * The test owns the loop: poll_host_turn() is one round of it, and the
 * test turns it until what it waits for happened (always with a limit
 * of its own, so that a stuck client fails instead of hanging).
 */
#ifndef GWF_TESTS_SDK_POLL_HOST_H
#define GWF_TESTS_SDK_POLL_HOST_H

#include <stdint.h>

#include <gwf/abi.h>

#define POLL_HOST_WATCHES 32
#define POLL_HOST_TIMERS 128
#define NS_PER_MS INT64_C(1000000)

typedef struct poll_watch {
    int live;
    uint64_t id;
    int fd;
    uint32_t events;
    gwf_fd_cb cb;
    void *arg;
} poll_watch;

typedef struct poll_timer {
    int armed;
    uint64_t id;
    int64_t due_ns; /* CLOCK_MONOTONIC */
    gwf_timer_cb cb;
    void *arg;
} poll_timer;

typedef struct poll_host {
    gwf_instance inst; /* first: the host slots cast back to this */
    gwf_host host;
    uint64_t next_id;
    poll_watch watches[POLL_HOST_WATCHES];
    poll_timer timers[POLL_HOST_TIMERS];
    /* Every call the code under test made, and what it caused. */
    int watches_started, watches_cancelled, watch_updates;
    int timers_started, timers_cancelled, timers_fired;
    int not_found;  /* update or cancel of an id that was not live */
    int watched_fd; /* the fd of the last fd_watch; -1 before any */
    /* Optional: called with each fd fd_watch accepts, so that a test can
     * check which fds the code watches. */
    void (*on_watch)(void *arg, int fd);
    void *on_watch_arg;
} poll_host;

/* A host with no watch and no timer, every counter zero; `name` is the
 * host's name in gwf_host. */
void poll_host_init(poll_host *h, const char *name);

/* One round: run the timers that are due, then wait in poll() for the
 * watched fds at most `max_wait_ms` (less when a timer falls due sooner)
 * and deliver their events. A callback may cancel any watch or timer:
 * each is looked up again by id before it runs. */
void poll_host_turn(poll_host *h, int max_wait_ms);

/* How many watches are live and timers armed now. */
int poll_host_live_watches(const poll_host *h);
int poll_host_armed_timers(const poll_host *h);

/* CLOCK_MONOTONIC in nanoseconds, the clock of the host's timers. */
int64_t poll_host_now_ns(void);

#endif
