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

typedef struct {
    ngx_event_t ev;
    void (*cb)(void *arg);
    void *arg;
} gwf_ngx_timer;

static void
gwf_ngx_timer_fired(ngx_event_t *ev)
{
    gwf_ngx_timer *t = ev->data;
    void (*cb)(void *) = t->cb;
    void *arg = t->arg;
    ngx_free(t);
    gwf_ngx_new_epoch();
    cb(arg);
}

static uint64_t
gwf_ngx_timer_start(void *ctx, uint64_t delay_ns, uint32_t flags,
                    void (*cb)(void *), void *arg)
{
    (void)ctx;
    gwf_ngx_timer *t = ngx_calloc(sizeof *t, ngx_cycle->log);
    if (!t)
        return 0;
    t->cb = cb;
    t->arg = arg;
    t->ev.handler = gwf_ngx_timer_fired;
    t->ev.data = t;
    t->ev.log = ngx_cycle->log;
    /* A graceful shutdown (reload, QUIT) waits for the timers of requests
     * in flight, so a paused request finishes; worker-scope timers must
     * not hold it up. */
    t->ev.cancelable = !(flags & GWF_EV_STREAM);
    ngx_msec_t ms = (ngx_msec_t)((delay_ns + 999999) / 1000000);
    ngx_add_timer(&t->ev, ms);
    return (uint64_t)(uintptr_t)t;
}

static int
gwf_ngx_timer_cancel(void *ctx, uint64_t id)
{
    (void)ctx;
    gwf_ngx_timer *t = (gwf_ngx_timer *)(uintptr_t)id;
    if (t->ev.timer_set) {
        ngx_del_timer(&t->ev);
    }
    ngx_free(t);
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
