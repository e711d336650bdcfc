/*
 * gwf/loop.h — the host runtime's small event loop.
 *
 * The CLI and the in-process test host need somewhere to run what plugins
 * ask for through the ABI: "watch this fd", "call me in 30 ms", "run this
 * on the worker when the other thread is done". This is that place: a
 * poll(2) loop with one-shot timers and a thread-safe post queue, small
 * enough to reason about in a test and with a manual clock so tests can
 * move time by hand instead of sleeping.
 *
 * Threads: a loop belongs to the thread that runs it. Every function here
 * must be called on that thread, except gwf_loop_post, which any thread
 * may call while the loop is alive.
 *
 * Callbacks: any callback may start, update or cancel any watch or timer,
 * its own included. Whatever is cancelled during a dispatch round is not
 * called later in that round; whatever is created during a round is first
 * considered in the next one. A callback must not free the loop or call
 * gwf_loop_run_once on it.
 *
 * Ids: watches and timers share one 64-bit counter that never wraps in
 * practice, so an id is never reused and cancelling a stale id is always
 * a harmless -1.
 */
#ifndef GWF_LOOP_H
#define GWF_LOOP_H

#include <gwf/runtime.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Event bits for fd watches. READ and WRITE may be requested; ERROR is
 * only ever delivered (on POLLERR, POLLHUP or POLLNVAL), to every watch
 * on the fd that requests at least one event, and is ignored if passed
 * in a request. */
#define GWF_LOOP_READ 1u
#define GWF_LOOP_WRITE 2u
#define GWF_LOOP_ERROR 4u

typedef struct gwf_loop gwf_loop;

/* Called with the watch's arg, its fd and the ready events (a subset of
 * what the watch requests, plus GWF_LOOP_ERROR). */
typedef void (*gwf_loop_fd_cb)(void *arg, int fd, uint32_t events);
typedef void (*gwf_loop_cb)(void *arg);

/* A new loop on the real monotonic clock. NULL when memory or the wake-up
 * eventfd cannot be had. */
gwf_loop *gwf_loop_new(void);

/* Frees the loop. Watches and timers are dropped without calling them; for
 * each post still queued its release callback (if any) is called, on the
 * calling thread. No other thread may be posting at the same time.
 * NULL is a no-op. */
void gwf_loop_free(gwf_loop *loop);

/* Watches fd for events (GWF_LOOP_READ | GWF_LOOP_WRITE; 0 keeps the watch
 * but pauses it: nothing, not even ERROR, is delivered until an update).
 * Several watches on one fd are allowed and each is called. The loop never
 * closes fd. Returns the watch id (> 0), or 0 if fd is not an open
 * descriptor, events has unknown bits, cb is NULL or memory ran out. */
uint64_t gwf_loop_fd_watch(gwf_loop *loop, int fd, uint32_t events,
                           gwf_loop_fd_cb cb, void *arg);

/* Replaces the events a watch asks for (same rules as gwf_loop_fd_watch).
 * Takes effect at once: events no longer requested are not delivered even
 * later in the current round. 0 ok, -1 unknown id or unknown bits. */
int gwf_loop_fd_update(gwf_loop *loop, uint64_t id, uint32_t events);

/* Removes a watch; it is never called again. 0 ok, -1 unknown id
 * (including one already cancelled). */
int gwf_loop_fd_cancel(gwf_loop *loop, uint64_t id);

/* Starts a one-shot timer due delay_ns from gwf_loop_now(). Timers with
 * equal deadlines fire in the order they were started. Returns the timer
 * id (> 0), or 0 if cb is NULL or memory ran out. */
uint64_t gwf_loop_timer_start(gwf_loop *loop, uint64_t delay_ns, gwf_loop_cb cb,
                              void *arg);

/* Cancels a pending timer. 0 ok, -1 unknown id or a timer that already
 * fired (a timer counts as fired as soon as its callback starts). */
int gwf_loop_timer_cancel(gwf_loop *loop, uint64_t id);

/* [any thread] Queues cb(arg) to run on the loop's thread in its next
 * dispatch round and wakes a blocked gwf_loop_run_once. Posts from one
 * thread run in the order they were made; a post made from inside a
 * callback runs in a later round, never from within the current one.
 * If the loop is freed before the post runs, release(arg) is called
 * instead (release may be NULL). 0 ok, -1 if cb is NULL or memory ran out
 * (release is not called then: arg stays the caller's). */
int gwf_loop_post(gwf_loop *loop, gwf_loop_cb cb, gwf_loop_cb release,
                  void *arg);

/* Waits up to max_wait_ns (negative: until something happens; 0: do not
 * block) for fd events, due timers and posts, then runs one dispatch round:
 * fd callbacks, then due timers in deadline order, then the posts queued
 * before the round. On the real clock it never waits past the next timer's
 * deadline. Returns the number of callbacks run (0 on a timeout or an
 * interrupted wait), -1 if poll fails or if called from inside one of this
 * loop's callbacks. */
int gwf_loop_run_once(gwf_loop *loop, int64_t max_wait_ns);

/* The loop's time in nanoseconds: CLOCK_MONOTONIC, or the manual clock. */
uint64_t gwf_loop_now(const gwf_loop *loop);

/* Switches the loop to a manual clock reading start_ns. From now on time
 * moves only with gwf_loop_advance; fds and posts still work in real time.
 * Pending timers keep the time they had left (one already due stays due).
 * May be called again to reset the clock the same way. */
void gwf_loop_set_manual_clock(gwf_loop *loop, uint64_t start_ns);

/* Moves the manual clock forward by ns and runs every timer that became
 * due, in deadline order; while a timer runs the clock reads its deadline.
 * A timer started by one of those callbacks that falls due within the
 * advanced span also runs (so a callback that keeps restarting itself with
 * a zero delay never lets this return). No effect on the real clock. */
void gwf_loop_advance(gwf_loop *loop, uint64_t ns);

/* Live watches + pending timers + queued posts. Tests use it to prove that
 * nothing leaked. */
size_t gwf_loop_active(const gwf_loop *loop);

/* Fills `ops` so that a gwf_worker (gwf_worker_start) runs its timers,
 * fd watches and posts on `loop`. The loop must outlive the worker.
 * Timer flags are ignored: a loop of one request has no graceful
 * shutdown to wait for. */
void gwf_loop_event_ops(gwf_loop *loop, gwf_event_ops *ops);

#ifdef __cplusplus
}
#endif

#endif /* GWF_LOOP_H */
