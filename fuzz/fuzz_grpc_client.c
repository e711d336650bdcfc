/*
 * fuzz_grpc_client.c - the SDK's h2c gRPC client (gwf/sdk_grpc.h) reading
 * what a hostile server sends.
 *
 * Each input is the byte stream a server writes after its (empty)
 * SETTINGS frame, on a real loopback connection: the client starts one
 * call (stream 1) and a second one, the harness accepts, writes the
 * server's SETTINGS, its ACK and the input, and closes its side. The
 * loop then runs until both calls ended; every timer left is fired, so
 * a call the input never answers ends by its deadline. What must hold:
 * each callback runs exactly once, an ANSWERED status 0 carries a
 * message within the limit, a FAILED call has a reason, and after
 * gwf_grpc_client_free no watch or timer is left (checked, else abort).
 * Everything is freed, so LeakSanitizer reports leaks as crashes.
 */
#define _GNU_SOURCE
#include <gwf/sdk_grpc.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SLOTS 16

typedef struct {
    gwf_instance inst; /* first */
    gwf_host host;
    uint64_t next_id;
    struct {
        int live;
        uint64_t id;
        int fd;
        uint32_t events;
        gwf_fd_cb cb;
        void *arg;
    } w[SLOTS];
    struct {
        int armed;
        uint64_t id;
        gwf_timer_cb cb;
        void *arg;
    } t[SLOTS];
} fake_host;

static gwf_status
f_watch(gwf_instance *inst, gwf_stream *s, int fd, uint32_t events,
        gwf_fd_cb cb, void *arg, uint64_t *id)
{
    fake_host *h = (fake_host *)inst;
    (void)s;
    for (int i = 0; i < SLOTS; i++) {
        if (!h->w[i].live) {
            h->w[i].live = 1;
            h->w[i].id = *id = ++h->next_id;
            h->w[i].fd = fd;
            h->w[i].events = events;
            h->w[i].cb = cb;
            h->w[i].arg = arg;
            return GWF_OK;
        }
    }
    return GWF_ERR_LIMIT;
}

static gwf_status
f_update(gwf_instance *inst, uint64_t id, uint32_t events)
{
    fake_host *h = (fake_host *)inst;
    for (int i = 0; i < SLOTS; i++)
        if (h->w[i].live && h->w[i].id == id) {
            h->w[i].events = events;
            return GWF_OK;
        }
    abort(); /* an update of a watch that is not live */
}

static gwf_status
f_cancel(gwf_instance *inst, uint64_t id)
{
    fake_host *h = (fake_host *)inst;
    for (int i = 0; i < SLOTS; i++)
        if (h->w[i].live && h->w[i].id == id) {
            h->w[i].live = 0;
            return GWF_OK;
        }
    abort(); /* a cancel of a watch that is not live */
}

static gwf_status
f_timer(gwf_instance *inst, gwf_stream *s, uint64_t ns, gwf_timer_cb cb,
        void *arg, uint64_t *id)
{
    fake_host *h = (fake_host *)inst;
    (void)s;
    (void)ns;
    for (int i = 0; i < SLOTS; i++) {
        if (!h->t[i].armed) {
            h->t[i].armed = 1;
            h->t[i].id = *id = ++h->next_id;
            h->t[i].cb = cb;
            h->t[i].arg = arg;
            return GWF_OK;
        }
    }
    return GWF_ERR_LIMIT;
}

static gwf_status
f_timer_cancel(gwf_instance *inst, uint64_t id)
{
    fake_host *h = (fake_host *)inst;
    for (int i = 0; i < SLOTS; i++)
        if (h->t[i].armed && h->t[i].id == id) {
            h->t[i].armed = 0;
            return GWF_OK;
        }
    return GWF_ERR_NOT_FOUND;
}

typedef struct {
    int calls;
} seen;

static void
on_result(void *arg, gwf_grpc_call *call, const gwf_grpc_result *r)
{
    seen *s = arg;
    (void)call;
    s->calls++;
    if (r->outcome == GWF_GRPC_ANSWERED) {
        if (r->status == 0 && (!r->message || r->message_len > 4096))
            abort();
        if (r->status != 0 && r->message)
            abort();
    } else if (!r->error) {
        abort();
    }
}

static int listener = -1;
static unsigned port;

static void
listen_once(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);

    if (listener >= 0)
        return;
    signal(SIGPIPE, SIG_IGN); /* the client may close before we write */
    listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listener < 0 || bind(listener, (struct sockaddr *)&a, sizeof(a)) ||
        listen(listener, 16) ||
        getsockname(listener, (struct sockaddr *)&a, &len))
        abort();
    port = ntohs(a.sin_port);
}

/* One turn: poll the watches (0 ms), run what is ready. 0 when nothing
 * was ready. */
static int
turn(fake_host *h)
{
    struct pollfd p[SLOTS];
    int idx[SLOTS], n = 0, ran = 0;

    for (int i = 0; i < SLOTS; i++) {
        if (!h->w[i].live)
            continue;
        p[n].fd = h->w[i].fd;
        p[n].events = (short)(((h->w[i].events & GWF_FD_READ) ? POLLIN : 0) |
                              ((h->w[i].events & GWF_FD_WRITE) ? POLLOUT : 0));
        idx[n++] = i;
    }
    if (n == 0 || poll(p, (nfds_t)n, 20) <= 0)
        return 0;
    for (int j = 0; j < n; j++) {
        int i = idx[j];
        uint32_t ev = 0;
        if (!p[j].revents || !h->w[i].live || h->w[i].fd != p[j].fd)
            continue;
        ev |= (p[j].revents & POLLIN) ? GWF_FD_READ : 0;
        ev |= (p[j].revents & POLLOUT) ? GWF_FD_WRITE : 0;
        ev |= (p[j].revents & (POLLERR | POLLHUP)) ? GWF_FD_ERROR : 0;
        h->w[i].cb(h->w[i].arg, h->w[i].fd, ev);
        ran = 1;
    }
    return ran;
}

/* Fire the oldest armed timer. 0 when none is armed. */
static int
fire_one(fake_host *h)
{
    int best = -1;
    for (int i = 0; i < SLOTS; i++)
        if (h->t[i].armed && (best < 0 || h->t[i].id < h->t[best].id))
            best = i;
    if (best < 0)
        return 0;
    h->t[best].armed = 0;
    h->t[best].cb(h->t[best].arg);
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t settings[] = {0, 0, 0, 4, 0, 0, 0, 0, 0,
                                       0, 0, 0, 4, 1, 0, 0, 0, 0};
    static const uint8_t request[] = {0, 0, 0, 0, 1, 'x'};
    gwf_grpc_peer_options opts = {.max_message = 4096,
                                  .connect_timeout_ns = 1000000000};
    fake_host h = {0};
    gwf_grpc_peer *peer = NULL;
    gwf_grpc_client *client;
    seen s = {0};
    int server;

    listen_once();
    h.host.fd_watch = f_watch;
    h.host.fd_update = f_update;
    h.host.fd_cancel = f_cancel;
    h.host.timer_start = f_timer;
    h.host.timer_cancel = f_timer_cancel;
    h.inst.host = &h.host;
    if (gwf_grpc_peer_new("127.0.0.1", port, &opts, &peer, NULL, 0) != GWF_OK)
        abort();
    client = gwf_grpc_client_new(&h.inst, peer);
    if (!client ||
        !gwf_grpc_call_start(client, "/f.S/M", request, sizeof(request),
                             1000000000, on_result, &s) ||
        !gwf_grpc_call_start(client, "/f.S/M", request, sizeof(request),
                             1000000000, on_result, &s))
        abort();
    server = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
    if (server < 0)
        abort();
    /* The client's preface, SETTINGS and requests are left unread: the
     * server's bytes are the input, then its close. */
    (void)!write(server, settings, sizeof(settings));
    if (size)
        (void)!write(server, data, size < 65536 ? size : 65536);
    shutdown(server, SHUT_WR);
    for (int i = 0; i < 200 && s.calls < 2; i++) {
        if (!turn(&h) && !fire_one(&h))
            break;
    }
    while (s.calls < 2 && fire_one(&h))
        ;
    if (s.calls != 2)
        abort(); /* a call that never ended */
    gwf_grpc_client_free(client);
    for (int i = 0; i < SLOTS; i++)
        if (h.w[i].live || h.t[i].armed)
            abort(); /* left behind */
    gwf_grpc_peer_free(peer);
    close(server);
    return 0;
}
