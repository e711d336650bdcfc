/*
 * curl_loop.c - libcurl's multi interface on the host's event loop (see
 * gwf/sdk_curl.h for the contract and why sockets are watched through a
 * duplicate).
 */
#include <gwf/sdk_curl.h>

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct loop_socket {
    struct loop_socket *next;
    gwf_curl_loop *loop;
    curl_socket_t fd; /* libcurl's */
    int watch_fd;     /* our duplicate: what the host watches */
    uint64_t watch_id;
} loop_socket;

struct gwf_curl_loop {
    gwf_instance *inst;
    CURLM *multi;
    void (*progress)(void *arg);
    void *arg;
    uint64_t timer_id;
    int timer_armed;
    loop_socket *sockets; /* every watched socket, to cancel at the end */
};

static void
on_socket_event(void *arg, int fd, uint32_t events)
{
    loop_socket *sock = arg;
    gwf_curl_loop *loop = sock->loop;
    int mask = 0, running = 0;

    (void)fd; /* our duplicate: libcurl knows the socket by its own fd */
    if (events & GWF_FD_READ)
        mask |= CURL_CSELECT_IN;
    if (events & GWF_FD_WRITE)
        mask |= CURL_CSELECT_OUT;
    if (events & GWF_FD_ERROR)
        mask |= CURL_CSELECT_ERR;
    /* `sock` may be freed inside (CURL_POLL_REMOVE): not used after. */
    curl_multi_socket_action(loop->multi, sock->fd, mask, &running);
    loop->progress(loop->arg);
}

static void
on_timer(void *arg)
{
    gwf_curl_loop *loop = arg;
    int running = 0;

    loop->timer_armed = 0;
    curl_multi_socket_action(loop->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    loop->progress(loop->arg);
}

/* libcurl asks for one timer; it may not call socket_action from inside
 * this callback, so even "now" (0 ms) goes through a host timer. */
static int
timer_cb(CURLM *multi, long timeout_ms, void *arg)
{
    gwf_curl_loop *loop = arg;
    const gwf_host *host = loop->inst->host;

    (void)multi;
    if (loop->timer_armed) {
        host->timer_cancel(loop->inst, loop->timer_id);
        loop->timer_armed = 0;
    }
    if (timeout_ms < 0)
        return 0;
    if (host->timer_start(loop->inst, NULL, (uint64_t)timeout_ms * 1000000u,
                          on_timer, loop, &loop->timer_id) != GWF_OK)
        return -1;
    loop->timer_armed = 1;
    return 0;
}

static int
sock_watch(loop_socket *sock, uint32_t events)
{
    gwf_curl_loop *loop = sock->loop;
    sock->watch_fd = fcntl(sock->fd, F_DUPFD_CLOEXEC, 0);
    if (sock->watch_fd < 0)
        return -1;
    if (loop->inst->host->fd_watch(loop->inst, NULL, sock->watch_fd, events,
                                   on_socket_event, sock,
                                   &sock->watch_id) != GWF_OK) {
        close(sock->watch_fd);
        sock->watch_fd = -1;
        return -1;
    }
    return 0;
}

static void
sock_unwatch(loop_socket *sock)
{
    if (sock->watch_fd < 0)
        return;
    sock->loop->inst->host->fd_cancel(sock->loop->inst, sock->watch_id);
    close(sock->watch_fd);
    sock->watch_fd = -1;
}

static void
sock_forget(loop_socket *sock)
{
    for (loop_socket **p = &sock->loop->sockets; *p; p = &(*p)->next) {
        if (*p == sock) {
            *p = sock->next;
            break;
        }
    }
    sock_unwatch(sock);
    free(sock);
}

/* Is our duplicate still the same socket as libcurl's fd? Not when
 * libcurl closed its fd without telling and the number was reused. */
static int
sock_is_current(const loop_socket *sock)
{
    struct stat a, b;

    return sock->watch_fd >= 0 && fstat(sock->fd, &a) == 0 &&
           fstat(sock->watch_fd, &b) == 0 && a.st_ino == b.st_ino &&
           a.st_dev == b.st_dev;
}

static int
socket_cb(CURL *easy, curl_socket_t fd, int what, void *arg, void *sock_arg)
{
    gwf_curl_loop *loop = arg;
    loop_socket *sock = sock_arg;
    uint32_t events = 0;

    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (sock) {
            sock_forget(sock);
            curl_multi_assign(loop->multi, fd, NULL);
        }
        return 0;
    }
    if (what & CURL_POLL_IN)
        events |= GWF_FD_READ;
    if (what & CURL_POLL_OUT)
        events |= GWF_FD_WRITE;
    if (sock && sock_is_current(sock))
        return loop->inst->host->fd_update(loop->inst, sock->watch_id,
                                           events) == GWF_OK
                   ? 0
                   : -1;
    if (sock) { /* a new socket behind a reused fd number */
        sock_unwatch(sock);
        return sock_watch(sock, events);
    }
    sock = calloc(1, sizeof(*sock));
    if (!sock)
        return -1;
    sock->loop = loop;
    sock->fd = fd;
    sock->watch_fd = -1;
    if (sock_watch(sock, events) != 0) {
        free(sock);
        return -1;
    }
    sock->next = loop->sockets;
    loop->sockets = sock;
    curl_multi_assign(loop->multi, fd, sock);
    return 0;
}

gwf_curl_loop *
gwf_curl_loop_new(gwf_instance *inst, CURLM *multi,
                  void (*progress)(void *arg), void *arg)
{
    gwf_curl_loop *loop = calloc(1, sizeof(*loop));
    if (!loop)
        return NULL;
    loop->inst = inst;
    loop->multi = multi;
    loop->progress = progress;
    loop->arg = arg;
    curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, loop);
    curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(multi, CURLMOPT_TIMERDATA, loop);
    return loop;
}

void
gwf_curl_loop_free(gwf_curl_loop *loop)
{
    if (!loop)
        return;
    while (loop->sockets)
        sock_forget(loop->sockets);
    if (loop->timer_armed)
        loop->inst->host->timer_cancel(loop->inst, loop->timer_id);
    free(loop);
}
