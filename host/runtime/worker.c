/*
 * worker.c - what the runtime keeps per worker: the plugins' timers and fd
 * watches on the data plane's loop, posts from other threads, and the
 * queue of streams that moved inside a callback.
 *
 * Plugins get ids, never pointers, for their timers and watches: a map
 * from id to record lets a stale or foreign id fail harmlessly
 * (GWF_ERR_NOT_FOUND) instead of touching freed memory. A record tied to
 * a stream is also on that stream's list, so ending the stream cancels
 * it and no callback can reach a stream that is gone.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream.h"

enum { ASYNC_TIMER, ASYNC_FD };

struct rt_async {
    uint64_t id;
    uint64_t ev_id;
    int kind;
    gwf_worker *w;
    rt_instance *inst;
    gwf_rt_stream *owner; /* NULL: worker scope */
    rt_async *prev;       /* on owner's list */
    rt_async *next;
    gwf_timer_cb timer_cb;
    gwf_fd_cb fd_cb;
    void *arg;
};

/* -- id map: open addressing, linear probing, backward-shift delete ------ */

static size_t
slot_of(const rt_idmap *m, uint64_t key)
{
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdull;
    key ^= key >> 33;
    return (size_t)key & (m->cap - 1);
}

static int
idmap_put(rt_idmap *m, uint64_t key, rt_async *val)
{
    if ((m->count + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        rt_idmap bigger = {calloc(cap, sizeof(uint64_t)),
                           calloc(cap, sizeof(rt_async *)), cap, 0};
        if (!bigger.keys || !bigger.vals) {
            free(bigger.keys);
            free(bigger.vals);
            return -1;
        }
        for (size_t i = 0; i < m->cap; i++)
            if (m->keys[i])
                idmap_put(&bigger, m->keys[i], m->vals[i]);
        free(m->keys);
        free(m->vals);
        *m = bigger;
    }
    size_t i = slot_of(m, key);
    while (m->keys[i])
        i = (i + 1) & (m->cap - 1);
    m->keys[i] = key;
    m->vals[i] = val;
    m->count++;
    return 0;
}

static rt_async *
idmap_get(const rt_idmap *m, uint64_t key)
{
    if (!m->cap || !key)
        return NULL;
    for (size_t i = slot_of(m, key); m->keys[i]; i = (i + 1) & (m->cap - 1))
        if (m->keys[i] == key)
            return m->vals[i];
    return NULL;
}

static void
idmap_del(rt_idmap *m, uint64_t key)
{
    if (!m->cap)
        return;
    size_t i = slot_of(m, key);
    while (m->keys[i] && m->keys[i] != key)
        i = (i + 1) & (m->cap - 1);
    if (!m->keys[i])
        return;
    m->keys[i] = 0;
    m->count--;
    /* Shift back the entries that probed past the hole. */
    for (size_t j = (i + 1) & (m->cap - 1); m->keys[j];
         j = (j + 1) & (m->cap - 1)) {
        size_t home = slot_of(m, m->keys[j]);
        bool between =
            i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (between)
            continue;
        m->keys[i] = m->keys[j];
        m->vals[i] = m->vals[j];
        m->keys[j] = 0;
        i = j;
    }
}

/* -- Records ------------------------------------------------------------- */

/* The gauge gwf_async_active, labelled by the plugin instance: its series
 * is looked up once per instance (racing workers find the same one, so
 * either store is fine). */
static void
async_count(rt_async *a, double delta)
{
    gwf_runtime *rt = a->w->rt;
    rt_series *s = __atomic_load_n(&a->inst->async_active, __ATOMIC_ACQUIRE);
    if (!s) {
        s = rt_metrics_series(rt->metrics, rt->m_async, a->inst->name, NULL, 0);
        __atomic_store_n(&a->inst->async_active, s, __ATOMIC_RELEASE);
    }
    rt_series_add(s, delta);
}

static void
async_unlink(rt_async *a)
{
    async_count(a, -1);
    idmap_del(&a->w->asyncs, a->id);
    if (a->kind == ASYNC_FD)
        a->w->fd_watches--;
    if (!a->owner)
        return;
    if (a->prev)
        a->prev->next = a->next;
    else
        a->owner->asyncs = a->next;
    if (a->next)
        a->next->prev = a->prev;
}

/* Done with `a` (unlinked): kept for the worker's next async op, so a
 * wait per request costs no allocation. */
static void
async_release(rt_async *a)
{
    gwf_worker *w = a->w;
    if (w->spare_async_count >= RT_SPARE_ASYNCS) {
        free(a);
        return;
    }
    a->next = w->spare_asyncs;
    w->spare_asyncs = a;
    w->spare_async_count++;
}

static void
async_cancel(rt_async *a)
{
    gwf_worker *w = a->w;
    if (a->kind == ASYNC_TIMER)
        w->ev.timer_cancel(w->ev.ctx, a->ev_id);
    else
        w->ev.fd_cancel(w->ev.ctx, a->ev_id);
    async_unlink(a);
    async_release(a);
}

static rt_async *
async_new(gwf_worker *w, rt_instance *inst, gwf_rt_stream *owner, int kind)
{
    rt_async *a = w->spare_asyncs;
    if (a) {
        w->spare_asyncs = a->next;
        w->spare_async_count--;
        memset(a, 0, sizeof *a);
    } else if (!(a = calloc(1, sizeof *a))) {
        return NULL;
    }
    a->id = ++w->next_id;
    a->kind = kind;
    a->w = w;
    a->inst = inst;
    a->owner = owner;
    if (idmap_put(&w->asyncs, a->id, a) < 0) {
        async_release(a);
        return NULL;
    }
    if (kind == ASYNC_FD)
        w->fd_watches++;
    async_count(a, 1);
    if (owner) {
        a->next = owner->asyncs;
        if (a->next)
            a->next->prev = a;
        owner->asyncs = a;
    }
    return a;
}

static void
timer_fired(void *arg)
{
    rt_async *a = arg;
    gwf_worker *w = a->w;
    gwf_timer_cb cb = a->timer_cb;
    void *cb_arg = a->arg;
    async_unlink(a);
    async_release(a);
    rt_worker_enter(w);
    w->invocation++;
    cb(cb_arg);
    rt_worker_leave(w);
}

static void
fd_ready(void *arg, int fd, uint32_t events)
{
    rt_async *a = arg;
    gwf_worker *w = a->w;
    rt_worker_enter(w);
    w->invocation++;
    a->fd_cb(a->arg, fd, events); /* may cancel (and free) a */
    rt_worker_leave(w);
}

/* The worker whose code is running on this thread. Stream handles know
 * their worker; instance-scope calls (a Redis connection's timer) use
 * this one, which rt_worker_enter sets before any plugin code runs. */
static _Thread_local gwf_worker *current_worker;

gwf_status
rt_timer_start(gwf_instance *inst, gwf_stream *s, uint64_t delay_ns,
               gwf_timer_cb cb, void *arg, uint64_t *timer_id)
{
    rt_fstream *fs = (rt_fstream *)s;
    gwf_worker *w = fs ? fs->st->w : current_worker;
    if (!inst || !cb || !timer_id)
        return GWF_ERR_BAD_ARGUMENT;
    if (!w)
        return GWF_ERR_WRONG_PHASE;
    if (fs && (fs->st->completed || fs->dead_at == w->invocation))
        return GWF_ERR_STREAM_GONE;
    rt_async *a =
        async_new(w, (rt_instance *)inst, fs ? fs->st : NULL, ASYNC_TIMER);
    if (!a)
        return GWF_ERR_NO_MEMORY;
    a->timer_cb = cb;
    a->arg = arg;
    a->ev_id = w->ev.timer_start(w->ev.ctx, delay_ns, fs ? GWF_EV_STREAM : 0,
                                 timer_fired, a);
    if (!a->ev_id) {
        async_unlink(a);
        async_release(a);
        return GWF_ERR_INTERNAL;
    }
    *timer_id = a->id;
    return GWF_OK;
}

static gwf_status
cancel_kind(uint64_t id, int kind)
{
    gwf_worker *w = current_worker;
    if (!w)
        return GWF_ERR_WRONG_PHASE;
    rt_async *a = idmap_get(&w->asyncs, id);
    if (!a || a->kind != kind)
        return GWF_ERR_NOT_FOUND;
    async_cancel(a);
    return GWF_OK;
}

gwf_status
rt_timer_cancel(gwf_instance *inst, uint64_t timer_id)
{
    (void)inst;
    return cancel_kind(timer_id, ASYNC_TIMER);
}

gwf_status
rt_fd_watch(gwf_instance *inst, gwf_stream *s, int fd, uint32_t events,
            gwf_fd_cb cb, void *arg, uint64_t *watch_id)
{
    rt_fstream *fs = (rt_fstream *)s;
    gwf_worker *w = fs ? fs->st->w : current_worker;
    if (!inst || !cb || !watch_id || fd < 0 ||
        (events & ~(uint32_t)(GWF_FD_READ | GWF_FD_WRITE)))
        return GWF_ERR_BAD_ARGUMENT;
    if (!w)
        return GWF_ERR_WRONG_PHASE;
    if (fs && (fs->st->completed || fs->dead_at == w->invocation))
        return GWF_ERR_STREAM_GONE;
    rt_async *a =
        async_new(w, (rt_instance *)inst, fs ? fs->st : NULL, ASYNC_FD);
    if (!a)
        return GWF_ERR_NO_MEMORY;
    a->fd_cb = cb;
    a->arg = arg;
    a->ev_id = w->ev.fd_watch(w->ev.ctx, fd, events, fd_ready, a);
    if (!a->ev_id) {
        async_unlink(a);
        async_release(a);
        return GWF_ERR_BAD_ARGUMENT;
    }
    *watch_id = a->id;
    return GWF_OK;
}

gwf_status
rt_fd_update(gwf_instance *inst, uint64_t watch_id, uint32_t events)
{
    (void)inst;
    gwf_worker *w = current_worker;
    if (events & ~(uint32_t)(GWF_FD_READ | GWF_FD_WRITE))
        return GWF_ERR_BAD_ARGUMENT;
    if (!w)
        return GWF_ERR_WRONG_PHASE;
    rt_async *a = idmap_get(&w->asyncs, watch_id);
    if (!a || a->kind != ASYNC_FD)
        return GWF_ERR_NOT_FOUND;
    return w->ev.fd_update(w->ev.ctx, a->ev_id, events) == 0 ? GWF_OK
                                                             : GWF_ERR_INTERNAL;
}

gwf_status
rt_fd_cancel(gwf_instance *inst, uint64_t watch_id)
{
    (void)inst;
    return cancel_kind(watch_id, ASYNC_FD);
}

void
rt_stream_cancel_async(gwf_rt_stream *st)
{
    while (st->asyncs)
        async_cancel(st->asyncs);
}

/* -- Posts from other threads ---------------------------------------------- */

/* A post is settled exactly once: its callback runs (the stream was
 * alive when the loop got to it) or its release does (the stream ended
 * first). Until then it sits on its ref's `posts` list, so that ending
 * the stream can settle it at once instead of leaving it queued in the
 * loop: a queued post may otherwise be released only when the loop is
 * freed, after the worker and the plugin's .so are gone. The loop's
 * entry (post_run or post_drop) then finds the post settled and only
 * frees it, touching neither the worker nor plugin code. Settled and
 * unsettled are told apart under the ref's lock; only the worker thread
 * (which also runs the loop) ever frees a post. */
typedef struct rt_posted {
    struct rt_posted *next; /* on ref->posts while unsettled */
    struct rt_posted *prev;
    bool unsettled;
    gwf_stream_ref *ref;
    gwf_post_cb cb;
    gwf_post_cb release;
    void *arg;
} rt_posted;

static void
ref_release(gwf_stream_ref *ref)
{
    if (atomic_fetch_sub(&ref->refs, 1) == 1) {
        pthread_mutex_destroy(&ref->lock);
        free(ref);
    }
}

static gwf_stream_ref *
ref_new(gwf_rt_stream *st)
{
    gwf_stream_ref *ref = calloc(1, sizeof *ref);
    if (!ref)
        return NULL;
    if (pthread_mutex_init(&ref->lock, NULL) != 0) {
        free(ref);
        return NULL;
    }
    atomic_init(&ref->refs, 1); /* the stream's own */
    ref->alive = true;
    ref->w = st->w;
    ref->st = st;
    return ref;
}

gwf_stream_ref *
rt_stream_ref(gwf_stream *s)
{
    rt_fstream *fs = (rt_fstream *)s;
    gwf_rt_stream *st = fs->st;
    if (st->completed || fs->dead_at == st->w->invocation)
        return NULL;
    if (!st->ref) {
        st->ref = ref_new(st);
        if (!st->ref)
            return NULL;
    }
    atomic_fetch_add(&st->ref->refs, 1);
    return st->ref;
}

void
rt_stream_ref_release(gwf_stream_ref *ref)
{
    if (ref)
        ref_release(ref);
}

/* Both under ref->lock. */
static void
posted_link(gwf_stream_ref *ref, rt_posted *p)
{
    p->unsettled = true;
    p->prev = NULL;
    p->next = ref->posts;
    if (ref->posts)
        ref->posts->prev = p;
    ref->posts = p;
}

static void
posted_unlink(gwf_stream_ref *ref, rt_posted *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        ref->posts = p->next;
    if (p->next)
        p->next->prev = p->prev;
    p->next = p->prev = NULL;
    p->unsettled = false;
}

/* Takes `p` off its ref's list if nobody settled it yet. Returns whether
 * the caller now has to settle it. */
static bool
posted_claim(rt_posted *p)
{
    gwf_stream_ref *ref = p->ref;
    pthread_mutex_lock(&ref->lock);
    bool claimed = p->unsettled;
    if (claimed)
        posted_unlink(ref, p);
    pthread_mutex_unlock(&ref->lock);
    return claimed;
}

/* The loop got to the post. An unsettled post means the stream has not
 * ended (ending settles every post), so its worker is there to run it. */
static void
post_run(void *arg)
{
    rt_posted *p = arg;
    gwf_stream_ref *ref = p->ref;
    if (posted_claim(p)) {
        gwf_worker *w = ref->w;
        atomic_fetch_sub(&w->posts_in_flight, 1);
        rt_worker_enter(w);
        w->invocation++;
        p->cb(p->arg);
        rt_worker_leave(w);
    }
    ref_release(ref);
    free(p);
}

/* The loop is going away with the post still queued. If the stream has
 * not ended (a loop freed before its worker stopped), release it now. */
static void
post_drop(void *arg)
{
    rt_posted *p = arg;
    gwf_stream_ref *ref = p->ref;
    if (posted_claim(p)) {
        atomic_fetch_sub(&ref->w->posts_in_flight, 1);
        if (p->release)
            p->release(p->arg);
    }
    ref_release(ref);
    free(p);
}

/* Queues `p` unless the stream has ended. Holding ref->lock across the
 * loop's post keeps the worker from ending the stream (and stopping,
 * which frees ref->w) while this thread still uses ref->w. Lock order:
 * ref->lock, then the loop's own. */
static gwf_status
post_queue(gwf_stream_ref *ref, rt_posted *p)
{
    pthread_mutex_lock(&ref->lock);
    if (!ref->alive) {
        pthread_mutex_unlock(&ref->lock);
        return GWF_ERR_STREAM_GONE;
    }
    gwf_worker *w = ref->w;
    atomic_fetch_add(&ref->refs, 1); /* the queued post's */
    atomic_fetch_add(&w->posts_in_flight, 1);
    posted_link(ref, p);
    if (w->ev.post(w->ev.ctx, post_run, post_drop, p) != 0) {
        posted_unlink(ref, p);
        atomic_fetch_sub(&w->posts_in_flight, 1);
        atomic_fetch_sub(&ref->refs, 1); /* the stream still holds one */
        pthread_mutex_unlock(&ref->lock);
        return GWF_ERR_INTERNAL;
    }
    pthread_mutex_unlock(&ref->lock);
    return GWF_OK;
}

gwf_status
rt_post(gwf_stream_ref *ref, gwf_post_cb cb, gwf_post_cb release, void *arg)
{
    if (!ref || !cb)
        return GWF_ERR_BAD_ARGUMENT;
    rt_posted *p = malloc(sizeof *p);
    if (!p)
        return GWF_ERR_NO_MEMORY;
    *p = (rt_posted){.ref = ref, .cb = cb, .release = release, .arg = arg};
    gwf_status status = post_queue(ref, p);
    if (status == GWF_OK)
        return GWF_OK;
    free(p);
    if (status == GWF_ERR_STREAM_GONE && release)
        release(arg);
    return status;
}

/* The stream ends (or its worker stops): no post to it may run from now
 * on. Every post still queued is settled here, on the worker, by its
 * release, before stream_destroy or worker_stop reaches the plugin; the
 * loop's entries are then only freed. Releases run without the lock: a
 * release may post again (and find the stream ended). */
void
rt_stream_ref_end(gwf_stream_ref *ref)
{
    pthread_mutex_lock(&ref->lock);
    ref->alive = false;
    rt_posted *settle = ref->posts;
    ref->posts = NULL;
    for (rt_posted *p = settle; p; p = p->next)
        p->unsettled = false;
    pthread_mutex_unlock(&ref->lock);
    /* Only this thread frees posts, so the detached list stays valid. */
    while (settle) {
        rt_posted *next = settle->next;
        settle->next = settle->prev = NULL;
        atomic_fetch_sub(&ref->w->posts_in_flight, 1);
        if (settle->release)
            settle->release(settle->arg);
        settle = next;
    }
}

void
rt_stream_drop_ref(gwf_rt_stream *st)
{
    if (!st->ref)
        return;
    rt_stream_ref_end(st->ref);
    ref_release(st->ref);
    st->ref = NULL;
}

/* -- Pending streams and nesting ------------------------------------------ */

void
rt_stream_mark(gwf_rt_stream *st, void (*run)(gwf_rt_stream *st))
{
    if (st->queued)
        return;
    st->queued = true;
    st->run_marked = run;
    st->next_pending = NULL;
    gwf_worker *w = st->w;
    if (w->pending_tail)
        w->pending_tail->next_pending = st;
    else
        w->pending_head = st;
    w->pending_tail = st;
}

void
rt_stream_unmark(gwf_rt_stream *st)
{
    if (!st->queued)
        return;
    gwf_worker *w = st->w;
    gwf_rt_stream *prev = NULL;
    for (gwf_rt_stream *it = w->pending_head; it; it = it->next_pending) {
        if (it != st) {
            prev = it;
            continue;
        }
        if (prev)
            prev->next_pending = it->next_pending;
        else
            w->pending_head = it->next_pending;
        if (w->pending_tail == st)
            w->pending_tail = prev;
        break;
    }
    st->queued = false;
}

static void
worker_drain(gwf_worker *w)
{
    if (w->draining)
        return;
    w->draining = true;
    gwf_rt_stream *st;
    while ((st = w->pending_head)) {
        w->pending_head = st->next_pending;
        if (!w->pending_head)
            w->pending_tail = NULL;
        st->queued = false;
        st->run_marked(st); /* may free st */
    }
    w->draining = false;
}

void
rt_worker_enter(gwf_worker *w)
{
    /* runtime.h: a worker runs on the thread that started it. */
    assert(w->current_slot == &current_worker);
    if (w->depth++ == 0 && !w->draining) {
        w->prev_current = *w->current_slot;
        *w->current_slot = w;
    }
}

void
rt_worker_leave(gwf_worker *w)
{
    if (--w->depth > 0 || w->draining)
        return;
    worker_drain(w);
    *w->current_slot = w->prev_current;
}

/* -- Workers ------------------------------------------------------------- */

static int
start_instance(gwf_worker *w, rt_instance *inst, gwf_diag *d)
{
    if (inst->worker_slots <= w->index) {
        uint32_t slots = w->count > w->index ? w->count : w->index + 1;
        rt_worker_slot *grown = realloc(inst->workers, slots * sizeof *grown);
        if (!grown)
            goto oom;
        memset(grown + inst->worker_slots, 0,
               (slots - inst->worker_slots) * sizeof *grown);
        inst->workers = grown;
        inst->worker_slots = slots;
    }
    rt_worker_slot *slot = &inst->workers[w->index];
    if (slot->started)
        return 0;
    slot->started = true;
    const gwf_plugin *p = &inst->plugin->entry;
    if (!p->worker_start)
        return 0;
    gwf_worker_init init = {
        .size = sizeof init,
        .instance = &inst->pub,
        .worker_index = w->index,
        .worker_count = w->count,
    };
    w->invocation++;
    gwf_status st = p->worker_start(inst->config, &init, &slot->ctx);
    if (st == GWF_OK)
        return 0;
    slot->ctx = NULL;
    gwf_diag_addf(d,
                  "plugin %s (%s): worker_start failed on worker %u "
                  "(status %d)",
                  p->name, inst->name, w->index, (int)st);
    rt_log(w->rt, GWF_LOG_ERROR, inst->name,
           "worker_start failed on worker %u (status %d)", w->index, (int)st);
    return -1;
oom:
    gwf_diag_addf(d, "%s: out of memory starting worker %u", inst->name,
                  w->index);
    return -1;
}

void
rt_worker_ensure_instance(gwf_worker *w, rt_instance *inst)
{
    if (inst->worker_slots > w->index && inst->workers[w->index].started)
        return;
    gwf_diag d;
    gwf_diag_init(&d);
    start_instance(w, inst, &d);
    gwf_diag_free(&d);
}

gwf_worker *
gwf_worker_start(gwf_runtime *rt, uint32_t index, uint32_t count,
                 const gwf_event_ops *ev, gwf_errors *err)
{
    if (!ev || index >= (count ? count : 1)) {
        gwf_diag d;
        gwf_diag_init(&d);
        gwf_diag_addf(&d,
                      "worker %u of %u: bad worker index or no event "
                      "loop",
                      index, count);
        rt_diag_to_errors(&d, err);
        return NULL;
    }
    gwf_worker *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->rt = rt;
    w->index = index;
    w->count = count ? count : 1;
    w->ev = *ev;
    w->current_slot = &current_worker;
    atomic_init(&w->posts_in_flight, 0);
    gwf_diag d;
    gwf_diag_init(&d);
    int failed = 0;
    rt_worker_enter(w);
    for (rt_instance *inst = rt->instances; inst; inst = inst->next)
        if (inst->configured && start_instance(w, inst, &d) < 0)
            failed++;
    rt_worker_leave(w);
    rt_diag_to_errors(&d, err);
    if (failed) {
        gwf_worker_stop(w);
        return NULL;
    }
    return w;
}

void
gwf_worker_stop(gwf_worker *w)
{
    if (!w)
        return;
    gwf_runtime *rt = w->rt;
    /* Stopped from another thread than the one that ran it (a data plane
     * that joins its worker threads first): the slot of this thread, not
     * that of a thread which may be gone. */
    w->current_slot = &current_worker;
    if (w->live_streams)
        rt_log(rt, GWF_LOG_WARN, "gwf",
               "worker %u stopped with %zu streams still open", w->index,
               w->live_streams);
    /* Threads holding a stream_ref must find it ended, not a freed
     * worker behind it. */
    for (gwf_rt_stream *st = w->live_head; st; st = st->live_next)
        if (st->ref)
            rt_stream_ref_end(st->ref);
    rt_worker_enter(w);
    for (rt_instance *inst = rt->instances; inst; inst = inst->next) {
        if (inst->worker_slots <= w->index || !inst->workers[w->index].started)
            continue;
        rt_worker_slot *slot = &inst->workers[w->index];
        const gwf_plugin *p = &inst->plugin->entry;
        if (p->worker_stop) {
            w->invocation++;
            p->worker_stop(inst->config, slot->ctx);
        }
        slot->started = false;
        slot->ctx = NULL;
    }
    rt_worker_leave(w);
    /* Whatever a plugin left behind is cancelled, and said. */
    for (size_t i = 0; i < w->asyncs.cap; i++) {
        if (!w->asyncs.keys[i])
            continue;
        rt_async *a = w->asyncs.vals[i];
        rt_log(rt, GWF_LOG_WARN, a->inst->name,
               "plugin %s left a %s active after worker_stop",
               a->inst->plugin->entry.name,
               a->kind == ASYNC_TIMER ? "timer" : "fd watch");
        async_cancel(a);
        i = (size_t)-1; /* the map was reshuffled: start over */
    }
    free(w->asyncs.keys);
    free(w->asyncs.vals);
    for (rt_async *a = w->spare_asyncs, *next; a; a = next) {
        next = a->next;
        free(a);
    }
    free(w->early); /* stream.c's handle for answers before the stream */
    for (gwf_rt_stream *st = w->spare_streams, *next; st; st = next) {
        next = st->live_next;
        gwf_memmsg_clear(&st->reply_msg); /* the room a spare keeps */
        gwf_buf_free(&st->reply_body);
        free(st->value_blocks); /* a spare keeps at most one, emptied */
        free(st);
    }
    free(w);
}

size_t
gwf_worker_fd_watches(const gwf_worker *w)
{
    return w ? w->fd_watches : 0;
}

size_t
gwf_worker_pending(const gwf_worker *w)
{
    return w->asyncs.count + atomic_load(&w->posts_in_flight);
}
