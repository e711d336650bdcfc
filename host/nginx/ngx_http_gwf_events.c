/*
 * ngx_http_gwf_events.c - the runtime's event operations on nginx's loop.
 *
 * The runtime asks its data plane for timers, fd watches, cross-thread
 * posts and a monotonic clock (gwf_event_ops). Here they become nginx
 * timers, connections on nginx's event loop (so a plugin's Redis or
 * authz socket is watched like an upstream's) and one eventfd per worker
 * that other threads write to after queueing a post; the worker runs the
 * queued posts from its loop. Posts still queued when the worker exits
 * are released, never run.
 */
#include "ngx_http_gwf_module.h"

/* ------------------------------------------------------------------------
 * Events: the runtime's gwf_event_ops on nginx
 * --------------------------------------------------------------------- */

/* Timers. A request's filters start a few timers of the same delay each
 * (a rate limit decision's timeout, the runtime's pause deadline), and
 * nearly all of them are cancelled long before they would fire. So:
 *
 *  - Timers of one delay (in ms) and one kind (stream-scope or not) end
 *    in the order they start: they wait in a FIFO queue behind ONE nginx
 *    timer, armed for the head's deadline. Starting one appends it,
 *    cancelling one unlinks it: no red-black tree insert or delete per
 *    timer. When the head is cancelled the nginx timer stays where it is
 *    and, when it fires, ends what is due and is armed again for the new
 *    head. Up to GWF_NGX_TIMER_QUEUES delays have a queue; a timer of
 *    another delay has an nginx timer of its own.
 *  - A timer of no delay is a posted event: it runs after the events of
 *    this loop turn, with no tree at all.
 *  - The timer structures are kept on a free list once used (not under
 *    AddressSanitizer).
 *
 * A queue's nginx timer is cancelable for worker-scope timers only: a
 * graceful shutdown (reload, QUIT) waits for the timers of requests in
 * flight, so a paused request finishes, while worker-scope timers must
 * not hold it up. A queue left empty disarms its nginx timer, so a
 * shutdown never waits for a deadline nobody has. Workers run timers on
 * their one event thread: nothing here is shared between threads. */

#define GWF_NGX_TIMER_QUEUES 16
/* None kept under AddressSanitizer, so that a use after free is caught. */
#if defined(__SANITIZE_ADDRESS__)
#define GWF_NGX_SPARE_TIMERS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GWF_NGX_SPARE_TIMERS 0
#endif
#endif
#ifndef GWF_NGX_SPARE_TIMERS
#define GWF_NGX_SPARE_TIMERS 1024
#endif

typedef struct gwf_ngx_timer_queue gwf_ngx_timer_queue;

typedef struct gwf_ngx_timer {
    ngx_event_t ev;         /* own timer or posted event: no queue */
    ngx_queue_t link;       /* in its queue, or on the free list */
    gwf_ngx_timer_queue *q; /* NULL: ev is the timer */
    ngx_msec_t at;          /* in a queue: its deadline */
    void (*cb)(void *arg);
    void *arg;
} gwf_ngx_timer;

struct gwf_ngx_timer_queue {
    ngx_event_t ev; /* armed for the head's deadline while not empty */
    ngx_queue_t timers;
    ngx_msec_t delay;
    ngx_uint_t stream;
};

static gwf_ngx_timer_queue gwf_timer_queues[GWF_NGX_TIMER_QUEUES];
static ngx_uint_t gwf_timer_queue_count;
static ngx_queue_t gwf_spare_timers;
static ngx_uint_t gwf_spare_timer_count;

static gwf_ngx_timer *
gwf_ngx_timer_alloc(void)
{
    gwf_ngx_timer *t;

    if (gwf_spare_timer_count) {
        ngx_queue_t *link = ngx_queue_head(&gwf_spare_timers);
        ngx_queue_remove(link);
        gwf_spare_timer_count--;
        t = ngx_queue_data(link, gwf_ngx_timer, link);
        ngx_memzero(t, sizeof(*t));
        return t;
    }
    return ngx_calloc(sizeof(gwf_ngx_timer), ngx_cycle->log);
}

static void
gwf_ngx_timer_release(gwf_ngx_timer *t)
{
    if (gwf_spare_timer_count + 1 > GWF_NGX_SPARE_TIMERS) {
        ngx_free(t);
        return;
    }
    if (gwf_spare_timer_count == 0) {
        ngx_queue_init(&gwf_spare_timers);
    }
    ngx_queue_insert_tail(&gwf_spare_timers, &t->link);
    gwf_spare_timer_count++;
}

/* Call a timer's callback, its structure given back first (the callback
 * may start timers, which may reuse it). */
static void
gwf_ngx_timer_run(gwf_ngx_timer *t)
{
    void (*cb)(void *) = t->cb;
    void *arg = t->arg;

    gwf_ngx_timer_release(t);
    gwf_ngx_new_epoch();
    cb(arg);
}

static void
gwf_ngx_timer_fired(ngx_event_t *ev)
{
    gwf_ngx_timer_run(ev->data);
}

/* Arm the queue's nginx timer for its head, or disarm it when empty. */
static void
gwf_ngx_timer_queue_arm(gwf_ngx_timer_queue *q)
{
    gwf_ngx_timer *head;
    ngx_msec_int_t left;

    if (ngx_queue_empty(&q->timers)) {
        if (q->ev.timer_set) {
            ngx_del_timer(&q->ev);
        }
        return;
    }
    if (q->ev.timer_set)
        return; /* at or before the head's deadline already */
    head = ngx_queue_data(ngx_queue_head(&q->timers), gwf_ngx_timer, link);
    left = (ngx_msec_int_t)(head->at - ngx_current_msec);
    ngx_add_timer(&q->ev, left > 0 ? (ngx_msec_t)left : 0);
}

/* The queue's nginx timer: end every timer due, then arm it again. */
static void
gwf_ngx_timer_queue_fired(ngx_event_t *ev)
{
    gwf_ngx_timer_queue *q = ev->data;

    while (!ngx_queue_empty(&q->timers)) {
        ngx_queue_t *link = ngx_queue_head(&q->timers);
        gwf_ngx_timer *t = ngx_queue_data(link, gwf_ngx_timer, link);

        if ((ngx_msec_int_t)(t->at - ngx_current_msec) > 0)
            break;
        ngx_queue_remove(link);
        gwf_ngx_timer_run(t); /* may start and cancel timers of `q` */
    }
    gwf_ngx_timer_queue_arm(q);
}

/* The queue of timers of `ms` and that kind: found, or made while there
 * is room; NULL when there is none. */
static gwf_ngx_timer_queue *
gwf_ngx_timer_queue_for(ngx_msec_t ms, ngx_uint_t stream)
{
    gwf_ngx_timer_queue *q;

    for (ngx_uint_t i = 0; i < gwf_timer_queue_count; i++) {
        q = &gwf_timer_queues[i];
        if (q->delay == ms && q->stream == stream)
            return q;
    }
    if (gwf_timer_queue_count == GWF_NGX_TIMER_QUEUES)
        return NULL;
    q = &gwf_timer_queues[gwf_timer_queue_count++];
    q->delay = ms;
    q->stream = stream;
    ngx_queue_init(&q->timers);
    q->ev.handler = gwf_ngx_timer_queue_fired;
    q->ev.data = q;
    q->ev.log = ngx_cycle->log;
    q->ev.cancelable = !stream;
    return q;
}

static uint64_t
gwf_ngx_timer_start(void *ctx, uint64_t delay_ns, uint32_t flags,
                    void (*cb)(void *), void *arg)
{
    (void)ctx;
    gwf_ngx_timer *t = gwf_ngx_timer_alloc();
    ngx_uint_t stream = (flags & GWF_EV_STREAM) != 0;
    ngx_msec_t ms;

    if (!t)
        return 0;
    t->cb = cb;
    t->arg = arg;
    t->ev.handler = gwf_ngx_timer_fired;
    t->ev.data = t;
    t->ev.log = ngx_cycle->log;
    t->ev.cancelable = !stream;
    if (delay_ns == 0) {
        ngx_post_event(&t->ev, &ngx_posted_events);
        return (uint64_t)(uintptr_t)t;
    }
    ms = delay_ns >= (uint64_t)NGX_MAX_INT32_VALUE * 1000000
             ? NGX_MAX_INT32_VALUE
             : (ngx_msec_t)((delay_ns + 999999) / 1000000);
    t->q = gwf_ngx_timer_queue_for(ms, stream);
    if (!t->q) {
        ngx_add_timer(&t->ev, ms);
        return (uint64_t)(uintptr_t)t;
    }
    t->at = ngx_current_msec + ms;
    ngx_queue_insert_tail(&t->q->timers, &t->link);
    gwf_ngx_timer_queue_arm(t->q);
    return (uint64_t)(uintptr_t)t;
}

static int
gwf_ngx_timer_cancel(void *ctx, uint64_t id)
{
    (void)ctx;
    gwf_ngx_timer *t = (gwf_ngx_timer *)(uintptr_t)id;

    if (t->q) {
        ngx_queue_remove(&t->link);
        if (ngx_queue_empty(&t->q->timers)) {
            gwf_ngx_timer_queue_arm(t->q);
        }
    } else if (t->ev.timer_set) {
        ngx_del_timer(&t->ev);
    } else if (t->ev.posted) {
        ngx_delete_posted_event(&t->ev);
    }
    gwf_ngx_timer_release(t);
    return 0;
}

typedef struct {
    ngx_connection_t *c;
    void (*cb)(void *arg, int fd, uint32_t events);
    void *arg;
    uint32_t events;
} gwf_ngx_watch;

static void
gwf_ngx_fd_ready(ngx_event_t *ev)
{
    ngx_connection_t *c = ev->data;
    gwf_ngx_watch *w = c->data;
    uint32_t events = ev->write ? GWF_FD_WRITE : GWF_FD_READ;
    if (ev->error || (!ev->write && ev->eof))
        events |= GWF_FD_ERROR;
    if (!(w->events & events & (GWF_FD_READ | GWF_FD_WRITE)))
        return;
    gwf_ngx_new_epoch();
    w->cb(w->arg, (int)c->fd, events); /* may cancel (free) w */
}

static int
gwf_ngx_fd_apply(gwf_ngx_watch *w, uint32_t events)
{
    ngx_connection_t *c = w->c;
    if ((events & GWF_FD_READ) && !c->read->active) {
        if (ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT) != NGX_OK)
            return -1;
    } else if (!(events & GWF_FD_READ) && c->read->active) {
        if (ngx_del_event(c->read, NGX_READ_EVENT, 0) != NGX_OK)
            return -1;
    }
    if ((events & GWF_FD_WRITE) && !c->write->active) {
        if (ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT) != NGX_OK)
            return -1;
    } else if (!(events & GWF_FD_WRITE) && c->write->active) {
        if (ngx_del_event(c->write, NGX_WRITE_EVENT, 0) != NGX_OK)
            return -1;
    }
    w->events = events;
    return 0;
}

static uint64_t
gwf_ngx_fd_watch(void *ctx, int fd, uint32_t events,
                 void (*cb)(void *, int, uint32_t), void *arg)
{
    (void)ctx;
    gwf_ngx_watch *w = ngx_calloc(sizeof *w, ngx_cycle->log);
    if (!w)
        return 0;
    ngx_connection_t *c = ngx_get_connection(fd, ngx_cycle->log);
    if (!c) {
        ngx_free(w);
        return 0;
    }
    c->data = w;
    c->read->handler = gwf_ngx_fd_ready;
    c->write->handler = gwf_ngx_fd_ready;
    c->read->log = c->write->log = ngx_cycle->log;
    w->c = c;
    w->cb = cb;
    w->arg = arg;
    if (gwf_ngx_fd_apply(w, events) != 0) {
        ngx_free_connection(c);
        c->fd = (ngx_socket_t)-1;
        ngx_free(w);
        return 0;
    }
    return (uint64_t)(uintptr_t)w;
}

static int
gwf_ngx_fd_update(void *ctx, uint64_t id, uint32_t events)
{
    (void)ctx;
    return gwf_ngx_fd_apply((gwf_ngx_watch *)(uintptr_t)id, events);
}

static int
gwf_ngx_fd_cancel(void *ctx, uint64_t id)
{
    (void)ctx;
    gwf_ngx_watch *w = (gwf_ngx_watch *)(uintptr_t)id;
    ngx_connection_t *c = w->c;
    gwf_ngx_fd_apply(w, 0);
    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }
    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }
    /* The plugin owns the fd: give back the connection, never close. */
    ngx_free_connection(c);
    c->fd = (ngx_socket_t)-1;
    ngx_free(w);
    return 0;
}

/* Cross-thread posts: a mutex-protected queue and an eventfd the worker
 * watches. (ngx_notify is not used: the thread pools own its single
 * handler slot.) */
typedef struct gwf_ngx_post {
    void (*cb)(void *);
    void (*release)(void *);
    void *arg;
    struct gwf_ngx_post *next;
} gwf_ngx_post;

static pthread_mutex_t gwf_post_lock = PTHREAD_MUTEX_INITIALIZER;
static gwf_ngx_post *gwf_post_head, *gwf_post_tail;
static int gwf_post_fd = -1;
static ngx_connection_t *gwf_post_conn;

static int
gwf_ngx_post_cb(void *ctx, void (*cb)(void *), void (*release)(void *),
                void *arg)
{
    (void)ctx;
    gwf_ngx_post *p = malloc(sizeof *p);
    if (!p)
        return -1;
    p->cb = cb;
    p->release = release;
    p->arg = arg;
    p->next = NULL;
    pthread_mutex_lock(&gwf_post_lock);
    if (gwf_post_fd < 0) {
        pthread_mutex_unlock(&gwf_post_lock);
        free(p);
        return -1;
    }
    if (gwf_post_tail)
        gwf_post_tail->next = p;
    else
        gwf_post_head = p;
    gwf_post_tail = p;
    uint64_t one = 1;
    ssize_t n = write(gwf_post_fd, &one, sizeof one);
    (void)n; /* a full counter still wakes the reader */
    pthread_mutex_unlock(&gwf_post_lock);
    return 0;
}

static void
gwf_ngx_posts_ready(ngx_event_t *ev)
{
    (void)ev;
    uint64_t count;
    ssize_t n = read(gwf_post_fd, &count, sizeof count);
    (void)n;
    pthread_mutex_lock(&gwf_post_lock);
    gwf_ngx_post *p = gwf_post_head;
    gwf_post_head = gwf_post_tail = NULL;
    pthread_mutex_unlock(&gwf_post_lock);
    while (p) {
        gwf_ngx_post *next = p->next;
        gwf_ngx_new_epoch();
        p->cb(p->arg);
        free(p);
        p = next;
    }
}

static uint64_t
gwf_ngx_now(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

const gwf_event_ops gwf_ngx_events = {
    .timer_start = gwf_ngx_timer_start,
    .timer_cancel = gwf_ngx_timer_cancel,
    .fd_watch = gwf_ngx_fd_watch,
    .fd_update = gwf_ngx_fd_update,
    .fd_cancel = gwf_ngx_fd_cancel,
    .post = gwf_ngx_post_cb,
    .now = gwf_ngx_now,
};

ngx_int_t
gwf_ngx_posts_start(ngx_cycle_t *cycle)
{
    gwf_post_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (gwf_post_fd < 0) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                      "gwf: eventfd() failed");
        return NGX_ERROR;
    }
    gwf_post_conn = ngx_get_connection(gwf_post_fd, cycle->log);
    if (!gwf_post_conn)
        return NGX_ERROR;
    gwf_post_conn->read->handler = gwf_ngx_posts_ready;
    gwf_post_conn->read->log = cycle->log;
    if (ngx_add_event(gwf_post_conn->read, NGX_READ_EVENT, NGX_LEVEL_EVENT) !=
        NGX_OK)
        return NGX_ERROR;
    return NGX_OK;
}

void
gwf_ngx_posts_stop(void)
{
    if (gwf_post_conn) {
        ngx_del_event(gwf_post_conn->read, NGX_READ_EVENT, 0);
        ngx_free_connection(gwf_post_conn);
        gwf_post_conn->fd = (ngx_socket_t)-1;
        gwf_post_conn = NULL;
    }
    pthread_mutex_lock(&gwf_post_lock);
    gwf_ngx_post *p = gwf_post_head;
    gwf_post_head = gwf_post_tail = NULL;
    if (gwf_post_fd >= 0)
        close(gwf_post_fd);
    gwf_post_fd = -1;
    pthread_mutex_unlock(&gwf_post_lock);
    while (p) {
        gwf_ngx_post *next = p->next;
        if (p->release)
            p->release(p->arg);
        free(p);
        p = next;
    }
}
