/*
 * stream.c - running one request and its response through a chain.
 *
 * Each direction (request, response) is a pipeline of positions: the
 * request visits plugins 0..n-1, the response n-1..0 (or, for a local
 * reply sent by plugin k, k-1..0). Headers move through the positions
 * first; body chunks follow them in arrival order and never overtake
 * them or each other. What a hook returns decides the next step:
 *
 *   CONTINUE  the item moves to the next position;
 *   PAUSE     the whole stream stops until that plugin resumes it (from a
 *             callback) or replies, or the pause deadline answers 504;
 *   BUFFER    from a headers hook: the headers stay at that plugin while
 *             the body accumulates there; from a body hook: the body
 *             accumulates. Either way the plugin's body hook is called
 *             once more with the whole body (end_of_stream = 1).
 *
 * Only one position accumulates at a time: a later plugin that also
 * wants the whole body receives it whole already.
 *
 * Re-entrancy is what proxies get wrong, so the rules are strict: plugin
 * code never runs inside a host call the plugin made. A resume or a local
 * reply from a callback only marks the stream; the worker runs the chain
 * once the outermost callback has returned (rt_worker_leave), and then
 * tells the data plane through gwf_stream_ops.wake. Freeing a stream
 * while plugin code of the worker is on the stack is deferred likewise.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream.h"

/* -- Positions ------------------------------------------------------------ */

static uint32_t
filter_at(const gwf_rt_stream *st, gwf_message_kind which, uint32_t pos)
{
    return which == GWF_REQUEST ? pos : st->dir[GWF_RESPONSE].len - 1 - pos;
}

/* -- The runtime's own metrics ------------------------------------------- */

void
rt_stream_count(gwf_rt_stream *st, uint32_t metric, const gwf_view *labels,
                size_t count, double v)
{
    gwf_runtime *rt = st->w->rt;
    const char *route = st->chain->route_name[0] ? st->chain->route_name : "-";
    rt_metrics_record(rt->metrics, RT_METRIC_ADD, metric, route, labels, count,
                      v);
}

static gwf_view
view_of(const char *s)
{
    gwf_view v = {s, strlen(s)};
    return v;
}

/* -- Runtime-made replies ----------------------------------------------- */

/* The type of the replies gwf makes itself (an error, a deadline). */
#define HOST_REPLY_TYPE "text/plain; charset=utf-8"

/* Set up a reply that no plugin sent (an error, a deadline). It skips the
 * response hooks: the chain is what failed. */
static void
host_reply(gwf_rt_stream *st, uint32_t status, const char *body,
           const char *details)
{
    /* A host reply replaces a plugin reply still running through the
     * response hooks (the deadline hit it), never a finished one. */
    if (st->reply_state == REPLY_PENDING || st->reply_state == REPLY_DONE)
        return;
    gwf_memmsg_clear(&st->reply_msg);
    gwf_buf_free(&st->reply_body);
    st->reply_prepared = NULL;
    st->reply_msg.status = status;
    gwf_memmsg_ops.set(&st->reply_msg, "content-type", 12, HOST_REPLY_TYPE,
                       sizeof HOST_REPLY_TYPE - 1);
    gwf_buf_append(&st->reply_body, body, strlen(body));
    gwf_buf_append(&st->reply_body, "\n", 1);
    snprintf(st->reply_details, sizeof st->reply_details, "%s", details);
    st->reply_from = 0;
    st->reply_state = REPLY_PENDING;
    st->paused = false;
    gwf_view kind = view_of(details);
    rt_stream_count(st, st->w->rt->m_errors, &kind, 1, 1);
}

static void
invalid_action(gwf_rt_stream *st, uint32_t idx, const char *hook,
               gwf_action action)
{
    rt_instance *inst = st->chain->filters[idx].inst;
    rt_log(st->w->rt, GWF_LOG_ERROR, inst->name,
           "plugin %s returned the invalid action %" PRId32
           " from %s; answering 500",
           inst->plugin->entry.name, action, hook);
    host_reply(st, 500, "internal error in a gateway filter",
               "gwf_invalid_action");
}

static void mark(gwf_rt_stream *st);

/* -- Pausing -----------------------------------------------------------------
 */

static void
pause_deadline_fired(void *arg)
{
    gwf_rt_stream *st = arg;
    st->pause_timer = 0;
    if (!st->paused)
        return;
    rt_instance *inst = st->chain->filters[st->paused_idx].inst;
    rt_log(st->w->rt, GWF_LOG_WARN, inst->name,
           "plugin %s did not resume the stream within %" PRIu64
           " ms; answering 504",
           inst->plugin->entry.name, st->w->rt->opts.max_pause_ns / 1000000);
    rt_worker_enter(st->w);
    host_reply(st, 504, "a gateway filter did not answer in time",
               "gwf_pause_timeout");
    mark(st);
    rt_worker_leave(st->w);
}

static void
pause_at(gwf_rt_stream *st, gwf_message_kind which, uint32_t idx)
{
    st->paused = true;
    st->paused_dir = which;
    st->paused_idx = idx;
    st->pause_started = st->w->ev.now(st->w->ev.ctx);
    rt_series_add(st->chain->pauses, 1);
    if (!st->pause_timer)
        st->pause_timer =
            st->w->ev.timer_start(st->w->ev.ctx, st->w->rt->opts.max_pause_ns,
                                  GWF_EV_STREAM, pause_deadline_fired, st);
}

static void
pause_clear(gwf_rt_stream *st)
{
    if (st->pause_started) {
        uint64_t now = st->w->ev.now(st->w->ev.ctx);
        double seconds = (double)(now - st->pause_started) / 1e9;
        rt_series_observe(st->w->rt->metrics, st->chain->pause_seconds,
                          seconds);
        st->pause_started = 0;
    }
    st->paused = false;
    if (st->pause_timer) {
        st->w->ev.timer_cancel(st->w->ev.ctx, st->pause_timer);
        st->pause_timer = 0;
    }
}

/* -- Calling hooks --------------------------------------------------------- */

static gwf_action
call_headers_hook(gwf_rt_stream *st, gwf_message_kind which, uint32_t idx,
                  int eos)
{
    rt_fstream *fs = &st->fs[idx];
    const gwf_plugin *p = &st->chain->filters[idx].inst->plugin->entry;
    gwf_action (*hook)(gwf_stream *, void *, int32_t) =
        which == GWF_REQUEST ? p->request_headers : p->response_headers;
    if (!hook)
        return GWF_CONTINUE;
    st->w->invocation++;
    return hook(&fs->pub, fs->ctx, eos);
}

static gwf_action
call_body_hook(gwf_rt_stream *st, gwf_message_kind which, uint32_t idx,
               rt_chunk *c)
{
    rt_fstream *fs = &st->fs[idx];
    const gwf_plugin *p = &st->chain->filters[idx].inst->plugin->entry;
    gwf_action (*hook)(gwf_stream *, void *, int32_t) =
        which == GWF_REQUEST ? p->request_body : p->response_body;
    if (!hook)
        return GWF_CONTINUE;
    st->dir[which].cur = c;
    st->w->invocation++;
    gwf_action a = hook(&fs->pub, fs->ctx, c->eos);
    st->dir[which].cur = NULL;
    return a;
}

/* What a direction holds, freed for good (the stream is going): most
 * streams hold nothing, and the stream's memory is zeroed when reused. */
static void
dir_free(rt_dir *d)
{
    for (size_t i = 0; i < d->qn; i++)
        gwf_buf_free(&d->q[i].data);
    if (d->q)
        free(d->q);
    if (d->acc.data)
        gwf_buf_free(&d->acc);
    if (d->taken.data)
        gwf_buf_free(&d->taken);
}

/* -- Chunk queue --------------------------------------------------------- */

static rt_chunk *
chunk_push(rt_dir *d, const char *data, size_t len, uint32_t pos, bool eos)
{
    if (d->qn == d->qcap) {
        size_t cap = d->qcap ? d->qcap * 2 : 4;
        rt_chunk *q = realloc(d->q, cap * sizeof *q);
        if (!q)
            return NULL;
        d->q = q;
        d->qcap = cap;
    }
    rt_chunk *c = &d->q[d->qn];
    memset(c, 0, sizeof *c);
    if (gwf_buf_append(&c->data, data, len) < 0)
        return NULL;
    c->pos = pos;
    c->eos = eos;
    d->qn++;
    return c;
}

static void
chunk_remove(rt_dir *d, size_t i)
{
    gwf_buf_free(&d->q[i].data);
    memmove(&d->q[i], &d->q[i + 1], (d->qn - i - 1) * sizeof *d->q);
    d->qn--;
}

static void
dir_reset(rt_dir *d)
{
    dir_free(d);
    memset(d, 0, sizeof *d);
    d->acc_pos = -1;
}

/* -- Framing ----------------------------------------------------------------
 */

/* Has the last of the body passed every plugin? */
static bool
eos_out(const rt_dir *d)
{
    if (d->qn == 0)
        return d->hdr_eos && d->acc_pos < 0;
    for (size_t i = 0; i < d->qn; i++)
        if (d->q[i].eos && d->q[i].pos >= d->len)
            return true;
    return false;
}

/* The headers wait at the exit for a body a plugin changed whole. */
static bool
length_held(const rt_dir *d)
{
    return d->len_hold && !d->streamed && !eos_out(d);
}

bool
rt_dir_released(const gwf_rt_stream *st, gwf_message_kind which)
{
    const rt_dir *d = &st->dir[which];
    return d->started && d->hdr_pos >= d->len && !length_held(d);
}

gwf_rt_framing
gwf_stream_framing(const gwf_rt_stream *st, gwf_message_kind which)
{
    if (which != GWF_REQUEST && which != GWF_RESPONSE)
        return GWF_RT_FRAMING_KEEP;
    const rt_dir *d = &st->dir[which];
    if (d->streamed)
        return GWF_RT_FRAMING_STREAMED;
    return d->changed ? GWF_RT_FRAMING_EXACT : GWF_RT_FRAMING_KEEP;
}

/* Plugins built for ABI 0.1 change bodies without saying so first: a
 * chain with one that has a body hook for `which` streams that body. */
static bool
chain_has_legacy_body_hook(const gwf_chain *chain, gwf_message_kind which)
{
    for (size_t i = 0; i < chain->count; i++) {
        const gwf_plugin *p = &chain->filters[i].inst->plugin->entry;
        if (p->abi_minor < 2 &&
            (which == GWF_REQUEST ? p->request_body : p->response_body))
            return true;
    }
    return false;
}

/* -- The pipeline ---------------------------------------------------------- */

/* The item at `pos` has passed its plugin. */
static void
headers_passed(rt_dir *d)
{
    d->hdr_pos++;
    d->hdr_held = false;
}

static void
body_too_large(gwf_rt_stream *st, gwf_message_kind which)
{
    if (which == GWF_REQUEST)
        host_reply(st, 413, "request body too large for a gateway filter",
                   "gwf_body_too_large");
    else
        host_reply(st, 500, "response body too large for a gateway filter",
                   "gwf_body_too_large");
}

static int
accumulate(gwf_rt_stream *st, gwf_message_kind which, rt_chunk *c)
{
    rt_dir *d = &st->dir[which];
    if (d->acc.len + c->data.len > st->w->rt->opts.max_body_bytes ||
        gwf_buf_append(&d->acc, c->data.data, c->data.len) < 0) {
        body_too_large(st, which);
        return -1;
    }
    return 0;
}

/* A chunk reached the exit while the headers wait there for the whole
 * changed body: the same bound as for a buffered body. */
static bool
hold_exceeded(gwf_rt_stream *st, gwf_message_kind which, size_t len)
{
    rt_dir *d = &st->dir[which];
    d->held_bytes += len;
    if (d->held_bytes <= st->w->rt->opts.max_body_bytes)
        return false;
    body_too_large(st, which);
    return true;
}

/* Run one step of direction `which`. Returns 1 if it made progress, 0 if
 * it cannot move (waiting for input or paused), -1 on a reply. */
static int
dir_step(gwf_rt_stream *st, gwf_message_kind which)
{
    rt_dir *d = &st->dir[which];
    static const char *const hdr_hooks[] = {"request_headers",
                                            "response_headers"};
    static const char *const body_hooks[] = {"request_body", "response_body"};

    if (d->started && d->hdr_pos < d->len && !d->hdr_held) {
        uint32_t idx = filter_at(st, which, d->hdr_pos);
        gwf_action a = call_headers_hook(st, which, idx, d->hdr_eos);
        if (st->reply_state == REPLY_PENDING)
            return -1;
        switch (a) {
        case GWF_CONTINUE:
            headers_passed(d);
            return 1;
        case GWF_PAUSE:
            pause_at(st, which, idx);
            return 0;
        case GWF_BUFFER:
            d->hdr_held = true;
            if (d->acc_pos < 0)
                d->acc_pos = (int32_t)d->hdr_pos;
            if (d->hdr_eos && !chunk_push(d, NULL, 0, d->hdr_pos, true)) {
                host_reply(st, 500, "out of memory", "gwf_no_memory");
                return -1;
            }
            return 1;
        default:
            invalid_action(st, idx, hdr_hooks[which], a);
            return -1;
        }
    }

    /* The first chunk that has not left the pipeline. */
    size_t i = 0;
    while (i < d->qn && d->q[i].pos >= d->len)
        i++;
    if (i == d->qn)
        return 0;
    rt_chunk *c = &d->q[i];
    uint32_t pos = c->pos;
    if (pos > d->hdr_pos || (pos == d->hdr_pos && !d->hdr_held))
        return 0; /* the headers have not got this far */

    if ((int32_t)pos == d->acc_pos) {
        if (accumulate(st, which, c) < 0)
            return -1;
        if (!c->eos) {
            chunk_remove(d, i);
            return 1;
        }
        gwf_buf whole = d->acc;
        d->acc = c->data;
        c->data = whole;
        gwf_buf_free(&d->acc);
        d->acc_pos = -1;
    }

    uint32_t idx = filter_at(st, which, pos);
    gwf_action a = call_body_hook(st, which, idx, c);
    if (st->reply_state == REPLY_PENDING)
        return -1;
    switch (a) {
    case GWF_BUFFER:
        if (!c->eos) {
            d->acc_pos = (int32_t)pos;
            if (accumulate(st, which, c) < 0)
                return -1;
            chunk_remove(d, i);
            return 1;
        }
        /* The whole body is here already: same as CONTINUE. */
        /* fall through */
    case GWF_CONTINUE:
        if (pos == d->hdr_pos && d->hdr_held) {
            headers_passed(d);
            /* The empty body made up for a headers-only message does not
             * travel further: the next plugins saw end_of_stream on the
             * headers. */
            if (d->hdr_eos && c->data.len == 0) {
                chunk_remove(d, i);
                return 1;
            }
        }
        c->pos++;
        if (c->pos == d->len && d->len_hold && !d->streamed &&
            hold_exceeded(st, which, c->data.len))
            return -1;
        return 1;
    case GWF_PAUSE:
        pause_at(st, which, idx);
        return 0;
    default:
        invalid_action(st, idx, body_hooks[which], a);
        return -1;
    }
}

/* What the data plane should do about direction `which` now. */
static gwf_rt_state
dir_state(const gwf_rt_stream *st, gwf_message_kind which)
{
    const rt_dir *d = &st->dir[which];
    if (st->paused)
        return GWF_RT_WAIT;
    if (d->hdr_pos < d->len)
        return d->hdr_held ? GWF_RT_NEED_BODY : GWF_RT_WAIT;
    if (length_held(d))
        return GWF_RT_NEED_BODY;
    return GWF_RT_CONTINUE;
}

static gwf_rt_state reply_run(gwf_rt_stream *st);

/* Move direction `which` as far as it goes. */
static gwf_rt_state
dir_run(gwf_rt_stream *st, gwf_message_kind which)
{
    if (st->reply_state == REPLY_PENDING)
        return reply_run(st);
    while (!st->paused && dir_step(st, which) > 0)
        ;
    if (st->reply_state == REPLY_PENDING)
        return reply_run(st);
    gwf_rt_state state = dir_state(st, which);
    if (state == GWF_RT_CONTINUE && which == GWF_RESPONSE)
        st->response_released = true;
    return state;
}

/* Gather a finished reply's body from the response pipeline's output. */
static void
reply_collect(gwf_rt_stream *st)
{
    rt_dir *d = &st->dir[GWF_RESPONSE];
    gwf_buf_free(&st->reply_body);
    for (size_t i = 0; i < d->qn; i++)
        gwf_buf_append(&st->reply_body, d->q[i].data.data, d->q[i].data.len);
    dir_reset(d);
    st->reply_state = REPLY_DONE;
}

/* gwf_local_replies_total{status, details} of `chain`: through the
 * worker's small cache of recent series, so the common case takes no
 * lock. `prepared`: the prepared reply sent as it was (NULL: another). */
static void
count_reply_in(gwf_worker *w, const gwf_chain *chain,
               const rt_prepared *prepared, uint32_t status,
               const char *details)
{
    status %= 1000;
    size_t slot = ((uintptr_t)chain / sizeof(void *) + status) % 16;
    /* A prepared reply's status and details never change: its pointer
     * stands for them. */
    if (w->reply_cache[slot].chain == chain &&
        (prepared ? w->reply_cache[slot].prepared == prepared
                  : w->reply_cache[slot].status == status &&
                        strcmp(w->reply_cache[slot].details, details) == 0)) {
        rt_series_add(w->reply_cache[slot].series, 1);
        return;
    }
    char text[4] = {(char)('0' + status / 100), (char)('0' + status / 10 % 10),
                    (char)('0' + status % 10), '\0'};
    gwf_view labels[2] = {view_of(text), view_of(details)};
    const char *route = chain->route_name[0] ? chain->route_name : "-";
    rt_series *s =
        rt_metrics_series(w->rt->metrics, w->rt->m_replies, route, labels, 2);
    rt_series_add(s, 1);
    w->reply_cache[slot].chain = chain;
    w->reply_cache[slot].prepared = prepared;
    w->reply_cache[slot].status = status;
    snprintf(w->reply_cache[slot].details, sizeof w->reply_cache[slot].details,
             "%s", details);
    w->reply_cache[slot].series = s;
}

static void
count_reply(gwf_rt_stream *st)
{
    count_reply_in(st->w, st->chain, st->reply_prepared, st->reply_msg.status,
                   st->reply_details);
}

/* Run a pending local reply through the response hooks of the plugins
 * before the one that sent it, or continue doing so after a pause. */
static gwf_rt_state
reply_run(gwf_rt_stream *st)
{
    rt_dir *d = &st->dir[GWF_RESPONSE];
    if (st->reply_state == REPLY_PENDING) {
        st->reply_state = REPLY_RUNNING;
        pause_clear(st);
        dir_reset(&st->dir[GWF_REQUEST]);
        dir_reset(d);
        st->in_reply = true;
        if (st->reply_from == 0) {
            /* No plugin before the one that replied: no response hook to
             * run, the reply stands as it was made. */
            st->reply_state = REPLY_DONE;
            count_reply(st);
            return GWF_RT_REPLY;
        }
        d->len = st->reply_from;
        d->started = true;
        d->hdr_eos = st->reply_body.len == 0;
        if (!d->hdr_eos) {
            if (!chunk_push(d, st->reply_body.data, st->reply_body.len, 0,
                            true)) {
                /* Out of memory: send the body as it is, skip the hooks. */
                dir_reset(d);
                st->reply_state = REPLY_DONE;
                count_reply(st);
                return GWF_RT_REPLY;
            }
            gwf_buf_free(&st->reply_body);
        }
    }
    if (st->reply_state == REPLY_RUNNING) {
        while (!st->paused && dir_step(st, GWF_RESPONSE) > 0)
            ;
        if (st->reply_state == REPLY_PENDING)
            return reply_run(st); /* a host reply superseded it */
        if (st->paused)
            return GWF_RT_WAIT;
        if (d->hdr_pos < d->len)
            return GWF_RT_WAIT;
        /* Every chunk must have left the pipeline. */
        for (size_t i = 0; i < d->qn; i++)
            if (d->q[i].pos < d->len)
                return GWF_RT_WAIT;
        reply_collect(st);
        count_reply(st);
    }
    return GWF_RT_REPLY;
}

static gwf_rt_state
reply_or_run(gwf_rt_stream *st, gwf_message_kind which)
{
    if (st->reply_state != REPLY_NONE)
        return reply_run(st);
    return dir_run(st, which);
}

/* Run direction `which` (or the pending reply) with plugin code allowed
 * on this worker; streams other callbacks moved are served on the way
 * out (rt_worker_leave). */
static gwf_rt_state
run_on_worker(gwf_rt_stream *st, gwf_message_kind which)
{
    rt_worker_enter(st->w);
    st->running = true;
    gwf_rt_state state = reply_or_run(st, which);
    st->running = false;
    rt_worker_leave(st->w);
    return state;
}

/* Feeding calls on a stream that is answering with a local reply. */
static bool
replying(gwf_rt_stream *st, gwf_rt_state *state)
{
    switch (st->reply_state) {
    case REPLY_NONE:
        return false;
    case REPLY_PENDING:
        *state = run_on_worker(st, GWF_RESPONSE);
        return true;
    case REPLY_RUNNING:
        *state = GWF_RT_WAIT;
        return true;
    default:
        *state = GWF_RT_REPLY;
        return true;
    }
}

/* -- Driving API -------------------------------------------------------------
 */

gwf_rt_state
gwf_stream_headers(gwf_rt_stream *st, gwf_message_kind which, int end_of_stream)
{
    gwf_rt_state state;
    if (which != GWF_REQUEST && which != GWF_RESPONSE)
        return GWF_RT_WAIT;
    if (replying(st, &state))
        return state;
    rt_dir *d = &st->dir[which];
    if (d->started)
        return dir_state(st, which);
    d->started = true;
    d->hdr_eos = end_of_stream != 0;
    d->len = (uint32_t)st->chain->count;
    d->streamed = chain_has_legacy_body_hook(st->chain, which);
    /* No plugin has this direction's headers hook: every position passes
     * them as dir_step would, and no plugin code runs, so the worker is
     * not entered (a chain of request plugins, for its responses). */
    if (!st->chain->has_headers_hook[which] && !st->paused) {
        d->hdr_pos = d->len;
        gwf_rt_state state = dir_state(st, which);
        if (state == GWF_RT_CONTINUE && which == GWF_RESPONSE)
            st->response_released = true;
        return state;
    }
    return run_on_worker(st, which);
}

gwf_rt_state
gwf_stream_data(gwf_rt_stream *st, gwf_message_kind which, const char *data,
                size_t len, int end_of_stream)
{
    gwf_rt_state state;
    if (which != GWF_REQUEST && which != GWF_RESPONSE)
        return GWF_RT_WAIT;
    if (replying(st, &state))
        return state;
    rt_dir *d = &st->dir[which];
    if (!d->started || d->hdr_eos || d->body_ended)
        return dir_state(st, which);
    d->body_ended = end_of_stream != 0;
    if (!chunk_push(d, data, len, 0, end_of_stream != 0)) {
        host_reply(st, 500, "out of memory", "gwf_no_memory");
        return GWF_RT_REPLY;
    }
    if (st->paused)
        return GWF_RT_WAIT;
    return run_on_worker(st, which);
}

gwf_rt_state
gwf_stream_abort(gwf_rt_stream *st, uint32_t status, const char *body,
                 const char *details)
{
    if (st->completed)
        return GWF_RT_REPLY;
    host_reply(st, status, body, details);
    return run_on_worker(st, GWF_RESPONSE);
}

gwf_rt_state
gwf_stream_state(const gwf_rt_stream *st, gwf_message_kind which)
{
    switch (st->reply_state) {
    case REPLY_NONE:
        break;
    case REPLY_DONE:
        return GWF_RT_REPLY;
    default:
        return GWF_RT_WAIT;
    }
    if (which != GWF_REQUEST && which != GWF_RESPONSE)
        return GWF_RT_WAIT;
    return dir_state(st, which);
}

int
gwf_stream_take(gwf_rt_stream *st, gwf_message_kind which, gwf_view *chunk,
                int *end_of_stream)
{
    if ((which != GWF_REQUEST && which != GWF_RESPONSE) ||
        st->reply_state != REPLY_NONE)
        return 0;
    rt_dir *d = &st->dir[which];
    if (d->qn == 0 || d->q[0].pos < d->len || !rt_dir_released(st, which))
        return 0;
    gwf_buf_free(&d->taken);
    d->taken = d->q[0].data;
    memset(&d->q[0].data, 0, sizeof d->q[0].data);
    *end_of_stream = d->q[0].eos;
    chunk_remove(d, 0);
    chunk->ptr = d->taken.data;
    chunk->len = d->taken.len;
    return 1;
}

/* After a callback moved the stream (resume, reply, deadline): run it and
 * tell the data plane. */
static void
wake(gwf_rt_stream *st)
{
    gwf_rt_state state = run_on_worker(st, st->paused_dir);
    if (state != GWF_RT_WAIT && st->ops && st->ops->wake)
        st->ops->wake(st->dp, state);
}

/* The worker calls this for a marked stream once no plugin code of the
 * worker is on the stack (depth 0): the free that had to wait, or the
 * wake. The data plane may free the stream in its wake. */
static void
run_marked(gwf_rt_stream *st)
{
    if (st->free_deferred)
        gwf_stream_free(st);
    else
        wake(st);
}

/* Something moved the stream while plugin code may be on the stack:
 * leave the rest to the worker (worker.c sits below this file and
 * reaches back only through run_marked). */
static void
mark(gwf_rt_stream *st)
{
    rt_stream_mark(st, run_marked);
}

/* Resume: the paused item passes the plugin that held it. */
gwf_status
rt_stream_resume(rt_fstream *fs)
{
    gwf_rt_stream *st = fs->st;
    if (!st->paused || st->paused_idx != fs->index || st->running ||
        st->completed || st->reply_state == REPLY_PENDING ||
        st->reply_state == REPLY_DONE)
        return GWF_ERR_WRONG_PHASE;
    gwf_message_kind which = st->paused_dir;
    rt_dir *d = &st->dir[which];
    pause_clear(st);
    if (d->hdr_pos < d->len && !d->hdr_held &&
        filter_at(st, which, d->hdr_pos) == fs->index) {
        headers_passed(d);
    } else {
        for (size_t i = 0; i < d->qn; i++) {
            if (d->q[i].pos < d->len) {
                rt_chunk *c = &d->q[i];
                if (c->pos == d->hdr_pos && d->hdr_held)
                    headers_passed(d);
                c->pos++;
                break;
            }
        }
    }
    mark(st);
    return GWF_OK;
}

/* A plugin's reply could not be made (out of memory). The request must
 * not go on as if the plugin had let it through (a denial lost is a
 * bypass): the host answers 500 instead, whatever the hook returns. */
void
rt_stream_reply_lost(gwf_rt_stream *st)
{
    if (st->early) {
        st->early_failed = true; /* gwf_chain_early answers 500 */
        return;
    }
    if (st->completed || st->response_released || st->reply_state != REPLY_NONE)
        return;
    rt_log(st->w->rt, GWF_LOG_ERROR, "gwf",
           "a plugin's local reply could not be made (out of memory); "
           "answering 500");
    host_reply(st, 500, "out of memory in a gateway filter", "gwf_no_memory");
    if (!st->running)
        mark(st);
}

/* An answer before the stream (gwf_chain_early) goes to the data plane
 * inside the plugin's call, checked as any reply; the handle keeps its
 * status and details for counting it. */
static gwf_status
early_reply(gwf_rt_stream *st, uint32_t status, const gwf_header *headers,
            size_t count, const char *body, size_t body_len,
            const char *details, rt_prepared *p, const gwf_view *values,
            size_t value_count)
{
    if (st->early_answer || st->early_failed)
        return GWF_ERR_WRONG_PHASE; /* one answer, or the host's 500 */
    _Static_assert(sizeof p->details == sizeof st->reply_details,
                   "a prepared reply's details fit a stream's");
    if (p) { /* cut and ended when it was prepared */
        memcpy(st->reply_details, p->details, sizeof st->reply_details);
    } else {
        size_t n = details ? strnlen(details, sizeof st->reply_details - 1) : 0;
        memcpy(st->reply_details, details ? details : "", n);
        st->reply_details[n] = '\0';
    }
    gwf_early_reply reply = {
        .status = status,
        .headers = headers,
        .header_count = count,
        .body = {body, body_len},
        .details = st->reply_details,
        .prepared = (const gwf_chain_reply *)p,
        .values = values,
        .value_count = value_count,
    };
    /* The test host's failing memory fails what a stream would copy: a
     * reply made now, or the values of a prepared one. */
    if ((st->w->rt->fail_reply_memory && (!p || value_count)) ||
        st->ops->early_reply(st->dp, &reply) != GWF_OK) {
        st->early_failed = true;
        return GWF_ERR_NO_MEMORY;
    }
    st->early_answer = true;
    st->reply_msg.status = status;
    st->reply_prepared = p;
    return GWF_OK;
}

gwf_status
rt_stream_reply(rt_fstream *fs, uint32_t status, const gwf_header *headers,
                size_t count, const char *body, size_t body_len,
                const char *details)
{
    gwf_rt_stream *st = fs->st;
    if (status < 200 || status > 599 || (count && !headers) ||
        (body_len && !body))
        return GWF_ERR_BAD_ARGUMENT;
    if (st->completed || st->response_released || st->reply_state != REPLY_NONE)
        return GWF_ERR_WRONG_PHASE;
    if (st->early)
        return early_reply(st, status, headers, count, body, body_len, details,
                           NULL, NULL, 0);
    rt_memmsg_reset(&st->reply_msg);
    st->reply_body.len = 0;
    st->reply_prepared = NULL;
    st->reply_msg.status = status;
    if (st->w->rt->fail_reply_memory ||
        rt_memmsg_load(&st->reply_msg, headers, count) != GWF_OK ||
        gwf_buf_append(&st->reply_body, body, body_len) < 0) {
        rt_stream_reply_lost(st);
        return GWF_ERR_NO_MEMORY;
    }
    size_t n = details ? strnlen(details, sizeof st->reply_details - 1) : 0;
    memcpy(st->reply_details, details ? details : "", n);
    st->reply_details[n] = '\0';
    st->reply_from = fs->index;
    st->reply_state = REPLY_PENDING;
    st->paused = false;
    if (!st->running)
        mark(st);
    return GWF_OK;
}

/* A prepared reply with the values of its first `count` headers
 * replaced, copied in as send_local_reply would copy it. */
static gwf_status
reply_prepared_copied(rt_fstream *fs, const rt_prepared *p,
                      const gwf_view *values, size_t count)
{
    gwf_header room[16];
    gwf_header *headers = p->headers;
    if (count) {
        headers = p->header_count <= 16
                      ? room
                      : malloc(p->header_count * sizeof *headers);
        if (!headers) {
            rt_stream_reply_lost(fs->st);
            return GWF_ERR_NO_MEMORY;
        }
        memcpy(headers, p->headers, p->header_count * sizeof *headers);
        for (size_t i = 0; i < count; i++)
            headers[i].value = values[i];
    }
    gwf_status st = rt_stream_reply(fs, p->status, headers, p->header_count,
                                    p->body.ptr, p->body.len, p->details);
    if (headers != room && headers != p->headers)
        free(headers);
    return st;
}

/* A prepared reply is sent by reference when no plugin before the
 * sender has a response hook to run on it; otherwise it is copied in,
 * as send_local_reply would, so that those hooks can change it. Its
 * replaced values (`count` of them, checked) go with it before the
 * stream, where the data plane copies the answer at once; a stream's
 * reply lives on after the call, so it is copied in. */
gwf_status
rt_stream_reply_prepared(rt_fstream *fs, rt_prepared *p, const gwf_view *values,
                         size_t count)
{
    gwf_rt_stream *st = fs->st;
    if (st->early)
        return early_reply(st, p->status, p->headers, p->header_count,
                           p->body.ptr, p->body.len, p->details, p, values,
                           count);
    if (fs->index != 0 || count)
        return reply_prepared_copied(fs, p, values, count);
    if (st->completed || st->response_released || st->reply_state != REPLY_NONE)
        return GWF_ERR_WRONG_PHASE;
    rt_memmsg_reset(&st->reply_msg);
    st->reply_body.len = 0;
    st->reply_prepared = p;
    st->reply_msg.status = p->status;
    memcpy(st->reply_details, p->details, sizeof st->reply_details);
    st->reply_from = 0;
    st->reply_state = REPLY_PENDING;
    st->paused = false;
    if (!st->running)
        mark(st);
    return GWF_OK;
}

gwf_status
rt_stream_reply_open(gwf_rt_stream *st)
{
    const rt_prepared *p = st->reply_prepared;
    if (!p)
        return GWF_OK;
    if (rt_memmsg_load(&st->reply_msg, p->headers, p->header_count) != GWF_OK)
        goto oom;
    if (gwf_buf_append(&st->reply_body, p->body.ptr, p->body.len) < 0)
        goto oom;
    st->reply_prepared = NULL;
    return GWF_OK;
oom:
    rt_memmsg_reset(&st->reply_msg);
    st->reply_msg.status = p->status;
    st->reply_body.len = 0;
    return GWF_ERR_NO_MEMORY;
}

uint32_t
gwf_stream_reply_status(const gwf_rt_stream *st)
{
    return st->reply_msg.status;
}

gwf_status
gwf_stream_reply_header(const gwf_rt_stream *st, size_t index, gwf_view *name,
                        gwf_view *value)
{
    const rt_prepared *p = st->reply_prepared;
    if (!p)
        return gwf_memmsg_ops.at((void *)&st->reply_msg, index, name, value);
    if (index >= p->header_count)
        return GWF_ERR_NOT_FOUND;
    *name = p->headers[index].name;
    *value = p->headers[index].value;
    return GWF_OK;
}

gwf_view
gwf_stream_reply_body(const gwf_rt_stream *st)
{
    if (st->reply_prepared)
        return st->reply_prepared->body;
    gwf_view v = {st->reply_body.data, st->reply_body.len};
    return v;
}

void **
gwf_stream_reply_prepared_slot(const gwf_rt_stream *st)
{
    return st->reply_prepared ? &st->reply_prepared->dp_slot : NULL;
}

const char *
gwf_stream_reply_details(const gwf_rt_stream *st)
{
    return st->reply_details[0] ? st->reply_details : NULL;
}

/* -- Shared values --------------------------------------------------------- */

/* The host table checks what a plugin passes (host.c); the stream owns
 * the values and frees them with itself.
 *
 * A request through jwt_auth sets about ten values, and a malloc for
 * each record and each data (then a free for each) cost more than the
 * rest of the plugin's cache hit. So the records, keys and data come
 * from the stream's value blocks: a bump of an offset, the block
 * growing by doubling when full, everything dropped at once when the
 * stream ends. Overwriting a key reuses its room when the new data fits
 * and takes new room otherwise (at least twice the old, so a key grown
 * again and again wastes at most as much as it holds). */

/* The first block; a spare stream keeps a block up to VALUE_KEEP. */
#define VALUE_BLOCK_MIN 1024
#define VALUE_BLOCK_MAX (64 * 1024) /* doubling stops here */
#define VALUE_KEEP (16 * 1024)

/* `size` bytes, aligned for any record, or NULL (no memory, or a size
 * no block could hold). */
static void *
value_alloc(gwf_rt_stream *st, size_t size)
{
    const size_t align = sizeof(max_align_t);
    if (size > SIZE_MAX / 2)
        return NULL;
    size = (size + align - 1) & ~(align - 1);
    rt_value_block *b = st->value_blocks;
    if (b && b->cap - b->used >= size) {
        void *p = (char *)b->mem + b->used;
        b->used += size;
        return p;
    }
    size_t cap = b ? b->cap * 2 : VALUE_BLOCK_MIN;
    if (cap > VALUE_BLOCK_MAX)
        cap = VALUE_BLOCK_MAX;
    if (cap < size)
        cap = size;
    rt_value_block *nb = malloc(sizeof *nb + cap);
    if (!nb)
        return NULL;
    nb->next = b;
    nb->cap = cap;
    nb->used = size;
    st->value_blocks = nb;
    return nb->mem;
}

/* Whether provider record `v` answers `key`. */
static bool
provides(const rt_value *v, const char *key, size_t len)
{
    return v->key_len <= len && memcmp(v->key, key, v->key_len) == 0;
}

/* The record value_set rewrites for `key`: its newest value, unless a
 * provider of the key came after it (the key then needs a record of its
 * own, newer than the provider).
 *
 * Keys of one plugin share a prefix ("jwt_auth.claim.") and often a
 * length: the last byte tells most of them apart before a memcmp. */
static rt_value *
value_find(rt_value *v, const char *key, size_t len)
{
    if (len == 0)
        return NULL; /* host.c refuses empty keys: none is stored */
    for (; v; v = v->next) {
        if (v->get) {
            if (provides(v, key, len))
                return NULL;
        } else if (v->key_len == len && v->key[len - 1] == key[len - 1] &&
                   memcmp(v->key, key, len) == 0) {
            return v;
        }
    }
    return NULL;
}

bool
rt_value_shape_ok(gwf_value_type type, const void *data, size_t len)
{
    return (data || !len) && type >= GWF_VALUE_STRING &&
           type <= GWF_VALUE_JSON && (type != GWF_VALUE_INT || len == 8) &&
           (type != GWF_VALUE_BOOL || len == 1);
}

gwf_status
rt_stream_value_get(const gwf_rt_stream *st, const char *key, size_t len,
                    gwf_value_type *type, gwf_view *data)
{
    for (const rt_value *v = st->values; v; v = v->next) {
        if (!v->get) {
            if (v->key_len == len && v->key[len - 1] == key[len - 1] &&
                memcmp(v->key, key, len) == 0) {
                *type = v->type;
                data->ptr = v->data;
                data->len = v->len;
                return GWF_OK;
            }
            continue;
        }
        if (!provides(v, key, len))
            continue;
        gwf_value_type t = -1;
        gwf_view d = {NULL, 0};
        gwf_status rc = v->get(v->ctx, key, len, &t, &d);
        if (rc == GWF_ERR_NOT_FOUND)
            continue;
        if (rc != GWF_OK)
            return rc;
        /* What a reader trusts (an INT is 8 bytes) holds for a provided
         * value as for a set one. */
        if (!rt_value_shape_ok(t, d.ptr, d.len))
            return GWF_ERR_INTERNAL;
        *type = t;
        *data = d;
        return GWF_OK;
    }
    return GWF_ERR_NOT_FOUND;
}

/* A new record for `key` with room for `room` bytes of data: the record,
 * its key and its data in one piece, the rest of the record zero (no
 * provider). key_len is bounded by the host table: at most 256. */
static rt_value *
value_record(gwf_rt_stream *st, const char *key, size_t key_len, size_t room)
{
    if (room > SIZE_MAX / 2)
        return NULL;
    size_t head = (sizeof(rt_value) + key_len + sizeof(max_align_t) - 1) &
                  ~(sizeof(max_align_t) - 1);
    rt_value *v = value_alloc(st, head + room);
    if (!v)
        return NULL;
    char *k = (char *)(v + 1);
    memcpy(k, key, key_len);
    *v = (rt_value){
        .key = k, .key_len = key_len, .data = (char *)v + head, .cap = room};
    return v;
}

gwf_status
rt_stream_value_set(gwf_rt_stream *st, const char *key, size_t key_len,
                    gwf_value_type type, const void *data, size_t len)
{
    rt_value *v = value_find(st->values, key, key_len);
    if (v && len <= v->cap) {
        /* `data` may be this very value (a view from value_get). */
        if (len)
            memmove(v->data, data, len);
        v->len = len;
        v->type = type;
        return GWF_OK;
    }
    if (v) {
        size_t cap = len > SIZE_MAX / 2 || len > v->cap * 2 ? len : v->cap * 2;
        char *room = value_alloc(st, cap);
        if (!room)
            return GWF_ERR_NO_MEMORY;
        /* The old bytes stay where they were until the stream ends. */
        memcpy(room, data, len);
        v->data = room;
        v->len = len;
        v->cap = cap;
        v->type = type;
        return GWF_OK;
    }
    v = value_record(st, key, key_len, len);
    if (!v)
        return GWF_ERR_NO_MEMORY;
    v->type = type;
    if (len)
        memcpy(v->data, data, len);
    v->len = len;
    v->next = st->values;
    st->values = v;
    return GWF_OK;
}

gwf_status
rt_stream_value_provide(gwf_rt_stream *st, const char *prefix,
                        size_t prefix_len,
                        gwf_status (*get)(void *ctx, const char *key,
                                          size_t key_len, gwf_value_type *type,
                                          gwf_view *data),
                        void (*release)(void *ctx), void *ctx)
{
    /* The same prefix again: its record takes the new provider (the one
     * before is told) and moves up, newest; a plugin providing in a loop
     * takes no more room. */
    rt_value *v = NULL;
    for (rt_value **p = &st->values; *p; p = &(*p)->next) {
        rt_value *old = *p;
        if (old->get && old->key_len == prefix_len &&
            memcmp(old->key, prefix, prefix_len) == 0) {
            *p = old->next;
            if (old->release)
                old->release(old->ctx);
            v = old;
            break;
        }
    }
    if (!v && !(v = value_record(st, prefix, prefix_len, 0)))
        return GWF_ERR_NO_MEMORY;
    v->get = get;
    v->release = release;
    v->ctx = ctx;
    v->next = st->values;
    st->values = v;
    return GWF_OK;
}

/* Forget every value; keep the newest block for the stream's next use
 * when it is small, free the rest. */
static void
values_free(gwf_rt_stream *st)
{
    for (rt_value *v = st->values; v; v = v->next)
        if (v->release)
            v->release(v->ctx);
    rt_value_block *keep = st->value_blocks, *b;
    if (keep && keep->cap > VALUE_KEEP)
        keep = NULL;
    b = keep ? keep->next : st->value_blocks;
    while (b) {
        rt_value_block *next = b->next;
        free(b);
        b = next;
    }
    if (keep) {
        keep->next = NULL;
        keep->used = 0;
    }
    st->value_blocks = keep;
    st->values = NULL;
}

/* Everything the values hold, the kept block too (a stream that is not
 * kept as a spare). */
static void
values_drop(gwf_rt_stream *st)
{
    values_free(st);
    free(st->value_blocks);
    st->value_blocks = NULL;
}

/* -- Life cycle ----------------------------------------------------------- */

const char *
rt_stream_request_id(gwf_rt_stream *st)
{
    /* "<worker>-<stream>", in decimal: at most 10 + 1 + 20 characters
     * and the NUL (no snprintf: an authz check asks for it each time). */
    char digits[20], *p = st->request_id;
    uint64_t parts[2] = {st->w->index, st->id};

    if (st->request_id[0])
        return st->request_id;
    for (int k = 0; k < 2; k++) {
        size_t n = 0;
        uint64_t v = parts[k];

        do {
            digits[n++] = (char)('0' + v % 10);
            v /= 10;
        } while (v);
        if (k)
            *p++ = '-';
        while (n)
            *p++ = digits[--n];
    }
    *p = '\0';
    return st->request_id;
}

/* Streams come from the worker's spares when one is large enough (the
 * most recently freed: a worker serves the same few chains), else from
 * malloc. Under AddressSanitizer every stream is a fresh allocation, so
 * that a use after free is still caught. */
#if defined(__SANITIZE_ADDRESS__)
#define SPARE_STREAMS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SPARE_STREAMS 0
#endif
#endif
#ifndef SPARE_STREAMS
#define SPARE_STREAMS 16
#endif

/* A spare keeps the room its local reply had (the array of header
 * fields, the body buffer), emptied: a route that answers locally
 * answers so on every request. */
static gwf_rt_stream *
stream_alloc(gwf_worker *w, size_t n)
{
    size_t size = sizeof(gwf_rt_stream) + n * sizeof(rt_fstream);
    gwf_rt_stream *st = w->spare_streams;
    if (st && st->fs_cap >= n) {
        w->spare_streams = st->live_next;
        w->spare_count--;
        n = st->fs_cap;
        gwf_memmsg_field *fields = st->reply_msg.fields;
        size_t fields_cap = st->reply_msg.cap;
        char *block = st->reply_msg.block;
        size_t block_cap = st->reply_msg.block_cap;
        char *body = st->reply_body.data;
        size_t body_cap = st->reply_body.cap;
        rt_value_block *value_block = st->value_blocks;
        memset(st, 0, size);
        st->value_blocks = value_block;
        st->reply_msg.fields = fields;
        st->reply_msg.cap = fields_cap;
        st->reply_msg.block = block;
        st->reply_msg.block_cap = block_cap;
        st->reply_body.data = body;
        st->reply_body.cap = body_cap;
    } else if ((st = malloc(size))) {
        memset(st, 0, size);
    } else {
        return NULL;
    }
    st->fs_cap = (uint32_t)n;
    return st;
}

/* `st`'s reply is empty (rt_memmsg_reset) but may keep its room, up to
 * a small reply's: a spare never holds on to a large body, nor on to
 * the texts of many or long headers. */
#define SPARE_REPLY_FIELDS 64
#define SPARE_REPLY_BODY 4096

static void
stream_release(gwf_worker *w, gwf_rt_stream *st)
{
#if SPARE_STREAMS > 0
    if (w->spare_count < SPARE_STREAMS) {
        if (st->reply_msg.cap > SPARE_REPLY_FIELDS ||
            st->reply_msg.block_cap > SPARE_REPLY_BODY)
            gwf_memmsg_clear(&st->reply_msg);
        if (st->reply_body.cap > SPARE_REPLY_BODY)
            gwf_buf_free(&st->reply_body);
        st->reply_body.len = 0;
        st->live_next = w->spare_streams;
        w->spare_streams = st;
        w->spare_count++;
        return;
    }
#else
    (void)w;
#endif
    gwf_memmsg_clear(&st->reply_msg);
    gwf_buf_free(&st->reply_body);
    values_drop(st);
    free(st);
}

/* The runtime's own per-route series of `chain`, resolved by its first
 * stream (or constant reply). */
static void
chain_series(gwf_worker *w, gwf_chain *chain)
{
    if (__atomic_load_n(&chain->streams_active, __ATOMIC_ACQUIRE))
        return;
    /* Racing workers resolve the same series: either store is fine. */
    const char *route = chain->route_name[0] ? chain->route_name : "-";
    gwf_runtime *rt = w->rt;
    __atomic_store_n(
        &chain->streams_total,
        rt_metrics_series(rt->metrics, rt->m_streams, route, NULL, 0),
        __ATOMIC_RELEASE);
    __atomic_store_n(
        &chain->pauses,
        rt_metrics_series(rt->metrics, rt->m_pauses, route, NULL, 0),
        __ATOMIC_RELEASE);
    __atomic_store_n(
        &chain->pause_seconds,
        rt_metrics_series(rt->metrics, rt->m_pause_seconds, route, NULL, 0),
        __ATOMIC_RELEASE);
    __atomic_store_n(
        &chain->streams_active,
        rt_metrics_series(rt->metrics, rt->m_active, route, NULL, 0),
        __ATOMIC_RELEASE);
}

/* -- Constant replies (abi.h reply_always) ----------------------------- */

const gwf_chain_reply *
gwf_chain_constant_reply(const gwf_chain *chain)
{
    return (const gwf_chain_reply *)chain->constant;
}

uint32_t
gwf_chain_reply_status(const gwf_chain_reply *reply)
{
    return ((const rt_prepared *)reply)->status;
}

gwf_status
gwf_chain_reply_header(const gwf_chain_reply *reply, size_t index,
                       gwf_view *name, gwf_view *value)
{
    const rt_prepared *p = (const rt_prepared *)reply;
    if (index >= p->header_count)
        return GWF_ERR_NOT_FOUND;
    *name = p->headers[index].name;
    *value = p->headers[index].value;
    return GWF_OK;
}

gwf_view
gwf_chain_reply_body(const gwf_chain_reply *reply)
{
    return ((const rt_prepared *)reply)->body;
}

void **
gwf_chain_reply_slot(const gwf_chain_reply *reply)
{
    return &((rt_prepared *)reply)->dp_slot;
}

void
gwf_chain_reply_count(gwf_worker *w, gwf_chain *chain)
{
    const rt_prepared *p = chain->constant;
    if (!p)
        return;
    chain_series(w, chain);
    rt_series_add(chain->streams_total, 1);
    count_reply_in(w, chain, p, p->status, p->details);
    const rt_instance *inst = chain->filters[0].inst;
    if (inst->always_series)
        rt_metrics_handle_record(w->rt->metrics, RT_METRIC_ADD, inst,
                                 inst->always_series, 1);
}

/* -- Answers before the stream (abi.h request_early) ------------------ */

/* What a stream, or the early handle, is about. */
static void
stream_bind(gwf_rt_stream *st, gwf_worker *w, gwf_chain *chain,
            const gwf_stream_ops *ops, void *dp_stream,
            const gwf_message_ops *msg_ops, void *request)
{
    st->w = w;
    st->chain = chain;
    st->ops = ops;
    st->dp = dp_stream;
    st->msg_ops = msg_ops;
    st->msg[GWF_REQUEST] = request;
}

/* The host's own 500 for a hook that failed, as host_reply makes it for
 * a stream, handed to the data plane; GWF_RT_EARLY_FAILED if even that
 * cannot be made. */
static gwf_rt_early
early_host_reply(gwf_rt_stream *st, const char *text, const char *details)
{
    char body[64];
    size_t len = (size_t)snprintf(body, sizeof body, "%s\n", text);
    gwf_header type = {view_of("content-type"), view_of(HOST_REPLY_TYPE)};
    snprintf(st->reply_details, sizeof st->reply_details, "%s", details);
    gwf_early_reply reply = {
        .status = 500,
        .headers = &type,
        .header_count = 1,
        .body = {body, len},
        .details = st->reply_details,
    };
    gwf_view kind = view_of(details);
    rt_stream_count(st, st->w->rt->m_errors, &kind, 1, 1);
    st->reply_msg.status = 500;
    st->reply_prepared = NULL;
    return st->ops->early_reply(st->dp, &reply) == GWF_OK ? GWF_RT_EARLY_REPLY
                                                          : GWF_RT_EARLY_FAILED;
}

/* A handle a plugin kept past its request_early call (abi.h: valid for
 * the call only) reads and answers nothing: its request and data plane
 * are gone. */
static gwf_status
early_spent_attribute(void *dp, gwf_attribute attr, gwf_view *value)
{
    (void)dp;
    (void)attr;
    (void)value;
    return GWF_ERR_STREAM_GONE;
}

static gwf_status
early_spent_reply(void *dp, const gwf_early_reply *reply)
{
    (void)dp;
    (void)reply;
    return GWF_ERR_STREAM_GONE;
}

static const gwf_stream_ops early_spent_ops = {
    .attribute = early_spent_attribute,
    .early_reply = early_spent_reply,
};

/* The worker's early handle, emptied: one stream with one plugin entry,
 * made on first use. Under AddressSanitizer a fresh one each time (and
 * freed after it), so that a plugin keeping it is caught. */
static gwf_rt_stream *
early_handle(gwf_worker *w)
{
#if SPARE_STREAMS > 0
    if (w->early)
        return w->early;
#endif
    return w->early = calloc(1, sizeof(gwf_rt_stream) + sizeof(rt_fstream));
}

int
gwf_chain_answers_early(const gwf_chain *chain)
{
    return chain->early;
}

gwf_rt_early
gwf_chain_early(gwf_worker *w, gwf_chain *chain, const gwf_stream_ops *ops,
                void *dp_stream, const gwf_message_ops *msg_ops, void *request)
{
    if (!chain->early || !ops->early_reply || w->depth > 0)
        return GWF_RT_EARLY_NONE;
    const rt_filter *f = &chain->filters[0];
    const rt_instance *inst = f->inst;
    /* A worker whose instance has not started makes the stream, which
     * starts it. */
    if (!rt_worker_instance_started(w, inst))
        return GWF_RT_EARLY_NONE;
    gwf_rt_stream *st = early_handle(w);
    if (!st)
        return GWF_RT_EARLY_NONE;
    /* Only what the calls an early handle allows (host.c) read or write
     * is set; the rest stays as calloc left it. */
    stream_bind(st, w, chain, ops, dp_stream, msg_ops, request);
    st->early = true;
    st->early_answer = st->early_failed = false;
    /* Alone in its chain, the plugin may finish the request here: no
     * other plugin's hook would run on it. */
    st->early_done_ok = chain->count == 1;
    st->early_changed = false;
    st->reply_prepared = NULL;
    /* The id the stream would get: log lines of the hook and of the
     * stream made after it name the same request. */
    st->id = w->stream_counter + 1;
    st->request_id[0] = '\0';
    st->fs_cap = 1;
    rt_fstream *fs = &st->fs[0];
    fs->pub.host = &w->rt->host;
    fs->st = st;
    fs->created = true;
    fs->dead_at = 0;

    rt_worker_enter(w);
    w->invocation++;
    gwf_action a = inst->plugin->entry.request_early(
        &fs->pub, inst->config, f->has_route_config ? f->route_config : NULL,
        inst->workers[w->index].ctx);

    /* Everything of the handle is used before the worker is left:
     * leaving may run other streams' wakes, and a data plane may start
     * a request from one (and use this handle again). */
    gwf_rt_early result = GWF_RT_EARLY_REPLY;
    if (st->early_failed) {
        rt_log(w->rt, GWF_LOG_ERROR, inst->name,
               "out of memory for a reply before the stream; answering 500");
        result = early_host_reply(st, "out of memory in a gateway filter",
                                  "gwf_no_memory");
    } else if (st->early_answer) {
        result = GWF_RT_EARLY_REPLY;
    } else if (a == GWF_DONE && st->early_done_ok) {
        result = GWF_RT_EARLY_DONE;
    } else if (a == GWF_CONTINUE && !st->early_changed) {
        result = GWF_RT_EARLY_NONE;
    } else {
        /* The stream's hooks must not see a request this hook changed. */
        rt_log(w->rt, GWF_LOG_ERROR, inst->name,
               "plugin %s returned %" PRId32 " from request_early %s; "
               "answering 500",
               inst->plugin->entry.name, a,
               a == GWF_CONTINUE ? "after changing the request"
                                 : "without answering");
        result = early_host_reply(st, "internal error in a gateway filter",
                                  "gwf_invalid_action");
    }
    if (result != GWF_RT_EARLY_NONE) {
        /* Counted as the stream answered, or let through, so would have
         * been. */
        w->stream_counter++;
        chain_series(w, chain);
        rt_series_add(chain->streams_total, 1);
        if (result != GWF_RT_EARLY_DONE)
            count_reply_in(w, chain, st->reply_prepared, st->reply_msg.status,
                           st->reply_details);
    }
    st->msg[GWF_REQUEST] = NULL;
    st->dp = NULL;
    st->ops = &early_spent_ops;
#if SPARE_STREAMS == 0
    free(w->early);
    w->early = NULL;
#endif
    rt_worker_leave(w);
    return result;
}

gwf_rt_stream *
gwf_stream_new(gwf_worker *w, gwf_chain *chain, const gwf_stream_ops *ops,
               void *dp_stream, const gwf_message_ops *msg_ops, void *request,
               void *response)
{
    size_t n = chain->count;
    gwf_rt_stream *st = stream_alloc(w, n);
    if (!st)
        return NULL;
    stream_bind(st, w, chain, ops, dp_stream, msg_ops, request);
    st->msg[GWF_RESPONSE] = response;
    st->dir[0].acc_pos = st->dir[1].acc_pos = -1;
    st->id = ++w->stream_counter;
    st->live_next = w->live_head;
    if (w->live_head)
        w->live_head->live_prev = st;
    w->live_head = st;
    chain_series(w, chain);
    rt_series_add(chain->streams_total, 1);
    rt_series_add(chain->streams_active, 1);
    w->live_streams++;

    /* Plugin code runs here only for stream_create, or an instance's
     * first worker_start on this worker. */
    bool entered = chain->has_stream_create;
    if (entered)
        rt_worker_enter(w);
    for (size_t i = 0; i < n; i++) {
        rt_filter *f = &chain->filters[i];
        rt_fstream *fs = &st->fs[i];
        fs->pub.host = &w->rt->host;
        fs->st = st;
        fs->index = (uint32_t)i;
        if (!rt_worker_instance_started(w, f->inst)) {
            if (!entered)
                rt_worker_enter(w);
            entered = true;
            rt_worker_ensure_instance(w, f->inst);
        }
        const gwf_plugin *p = &f->inst->plugin->entry;
        gwf_stream_init init = {
            .size = sizeof init,
            .config = f->inst->config,
            .route_config = f->has_route_config ? f->route_config : NULL,
            .worker = f->inst->workers && w->index < f->inst->worker_slots
                          ? f->inst->workers[w->index].ctx
                          : NULL,
        };
        if (!p->stream_create) {
            fs->ctx = init.route_config ? init.route_config : init.config;
            fs->created = true;
            continue;
        }
        w->invocation++;
        gwf_status s = p->stream_create(&fs->pub, &init, &fs->ctx);
        if (s != GWF_OK) {
            rt_log(w->rt, GWF_LOG_ERROR, f->inst->name,
                   "plugin %s failed to create its stream state (status %d);"
                   " answering 500",
                   p->name, (int)s);
            host_reply(st, 500, "internal error in a gateway filter",
                       "gwf_stream_create_failed");
            break;
        }
        fs->created = true;
    }
    if (entered)
        rt_worker_leave(w);
    return st;
}

void
gwf_stream_set_response(gwf_rt_stream *st, void *response)
{
    st->msg[GWF_RESPONSE] = response;
}

void
gwf_stream_complete(gwf_rt_stream *st)
{
    if (st->completed)
        return;
    st->completed = true;
    pause_clear(st);
    /* Ended means ended for other threads too: posts still queued are
     * released now, later ones in the call, and none runs. */
    if (st->ref)
        rt_stream_ref_end(st->ref);
    if (!st->chain->has_complete_hook)
        return;
    rt_worker_enter(st->w);
    for (size_t i = 0; i < st->chain->count; i++) {
        rt_fstream *fs = &st->fs[i];
        const gwf_plugin *p = &st->chain->filters[i].inst->plugin->entry;
        if (fs->created && p->stream_complete) {
            st->w->invocation++;
            p->stream_complete(&fs->pub, fs->ctx);
        }
    }
    rt_worker_leave(st->w);
}

void
gwf_stream_free(gwf_rt_stream *st)
{
    gwf_worker *w = st->w;
    if (w->depth > 0) {
        st->free_deferred = true;
        mark(st);
        return;
    }
    gwf_stream_complete(st);
    rt_stream_unmark(st);
    rt_stream_cancel_async(st);
    rt_stream_drop_ref(st);
    /* Without destroy hooks no plugin code runs from here on: nothing
     * can be marked, so there is nothing to serve on the way out. */
    bool hooks = st->chain->has_end_hooks;
    if (hooks) {
        rt_worker_enter(w);
        for (size_t i = 0; i < st->chain->count; i++) {
            rt_fstream *fs = &st->fs[i];
            const gwf_plugin *p = &st->chain->filters[i].inst->plugin->entry;
            if (fs->created && p->stream_destroy) {
                w->invocation++;
                p->stream_destroy(&fs->pub, fs->ctx);
            }
        }
        /* Timers a plugin started from its destroy hook die with the
         * stream. */
        rt_stream_cancel_async(st);
        rt_stream_unmark(st);
    }
    dir_free(&st->dir[0]);
    dir_free(&st->dir[1]);
    rt_memmsg_reset(&st->reply_msg);
    values_free(st);
    rt_series_add(st->chain->streams_active, -1);
    if (st->live_prev)
        st->live_prev->live_next = st->live_next;
    else
        w->live_head = st->live_next;
    if (st->live_next)
        st->live_next->live_prev = st->live_prev;
    w->live_streams--;
    stream_release(w, st);
    if (hooks)
        rt_worker_leave(w);
}
