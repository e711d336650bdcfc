/*
 * wait.c - a bounded wait that owns its timer (see gwf/sdk_wait.h for the
 * contract).
 *
 * The state is one flag. The host's timer carries the gwf_wait itself
 * as its argument, so the flag is cleared before the plugin's callback
 * runs, and nothing here touches the wait after that callback (which may
 * free it). Ending cancels the timer; the host guarantees that a
 * cancelled timer never fires and that cancelling a spent id (a stream
 * that ended took its timers with it) is a harmless GWF_ERR_NOT_FOUND,
 * since ids are never reused.
 */
#include <gwf/sdk_wait.h>

#include <stddef.h>

static void
on_wait_timer(void *arg)
{
    gwf_wait *w = arg;
    gwf_wait_timeout_cb on_timeout = w->on_timeout;
    void *cb_arg = w->arg;

    /* A cancelled timer never fires; a flag already down would mean a
     * host that broke that rule, and calling back then is how a wait
     * fires after it ended. */
    if (!w->running)
        return;
    w->running = 0;
    on_timeout(cb_arg); /* may free w: nothing below may touch it */
}

gwf_status
gwf_wait_start(gwf_wait *w, gwf_instance *inst, gwf_stream *s,
               uint64_t timeout_ns, gwf_wait_timeout_cb on_timeout, void *arg)
{
    gwf_status st;

    if (!w || !inst || !on_timeout)
        return GWF_ERR_BAD_ARGUMENT;
    if (w->running)
        return GWF_ERR_WRONG_PHASE;
    w->inst = inst;
    w->on_timeout = on_timeout;
    w->arg = arg;
    st = inst->host->timer_start(inst, s, timeout_ns, on_wait_timer, w,
                                 &w->timer_id);
    w->running = st == GWF_OK;
    return st;
}

int
gwf_wait_end(gwf_wait *w)
{
    if (!w || !w->running)
        return 0;
    w->running = 0;
    w->inst->host->timer_cancel(w->inst, w->timer_id);
    return 1;
}

int
gwf_wait_running(const gwf_wait *w)
{
    return w && w->running;
}
