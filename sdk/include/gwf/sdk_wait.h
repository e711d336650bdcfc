/*
 * gwf/sdk_wait.h - "wait for X, or give up after a timeout", as one
 * object with one way to end.
 *
 * A plugin that pauses a stream for something (a JWKS fetch, a Redis
 * reply, an authz answer) needs a timer that bounds the wait. The classic
 * bug is a wait that ends one way (the answer came) while its timer stays
 * armed: the timer later fires on state that was freed (jwt_auth, issue
 * 10: a stream woken by a finished fetch and still alive when
 * fetchTimeout passed). A gwf_wait owns that timer. It ends exactly once,
 * either by gwf_wait_end (the answer came, the stream went away, the
 * worker stops) or by its timeout; after it ended, nothing of it can fire.
 *
 * Ownership: the gwf_wait is the caller's memory, usually a member of the
 * caller's per-request state, zero-initialised (a zeroed gwf_wait is an
 * idle one). It must not move while it runs. The rule that makes the
 * bug impossible: free the memory that holds a gwf_wait only after
 * gwf_wait_end (or from its own timeout callback). Route every free of
 * that state through one function that calls gwf_wait_end first.
 *
 * "The answer came" and "the timeout fired" race; gwf_wait_end returns
 * 1 only to the side that ended a running wait, so the I/O path can ask
 * "did I win?" and leave the stream alone when the timeout already
 * answered it.
 *
 * [worker] for everything: a wait lives and ends on the worker that
 * started it.
 */
#ifndef GWF_SDK_WAIT_H
#define GWF_SDK_WAIT_H

#include <gwf/abi.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Called once when the timeout passes, after the wait has ended: the
 * callback may free the memory holding the wait, and may start it again.
 * It runs as a timer callback of the host (stream-scope when the wait was
 * started with a stream), so it may resume or answer the stream. */
typedef void (*gwf_wait_timeout_cb)(void *arg);

/* One wait. The members are private: use the functions below. */
typedef struct gwf_wait {
    gwf_instance *inst;
    gwf_wait_timeout_cb on_timeout;
    void *arg;
    uint64_t timer_id;
    int running; /* started, neither ended nor timed out */
} gwf_wait;

/* Start waiting: arm a timer of `timeout_ns` that will call
 * on_timeout(arg) unless the wait ends first. With `s` != NULL the timer
 * is the stream's (the host cancels it if the stream ends first, and
 * gwf_wait_end stays harmless afterwards); with NULL it is the worker's.
 * Returns GWF_OK, GWF_ERR_WRONG_PHASE if `w` is already running (end it
 * first), GWF_ERR_BAD_ARGUMENT for a NULL `w`, `inst` or `on_timeout`,
 * or the host's error from timer_start; on error the wait stays idle and
 * nothing will fire. */
gwf_status gwf_wait_start(gwf_wait *w, gwf_instance *inst, gwf_stream *s,
                          uint64_t timeout_ns, gwf_wait_timeout_cb on_timeout,
                          void *arg);

/* End the wait before its timeout: cancel the timer. After this returns,
 * on_timeout never runs for this start, and the memory holding `w` may be
 * freed. Returns 1 when it ended a running wait, 0 when there was nothing
 * to end (idle, already ended, or the timeout already fired). NULL is
 * allowed (returns 0). */
int gwf_wait_end(gwf_wait *w);

/* 1 while the wait runs (started, not ended, not timed out). */
int gwf_wait_running(const gwf_wait *w);

#ifdef __cplusplus
}
#endif

#endif /* GWF_SDK_WAIT_H */
