/*
 * authz_peer.c - the authorization server of bench/ext_authz/run.sh's
 * mode comparison: one program, single-threaded on epoll, that answers
 * every check "allowed, x-user: bench" in either of ext_authz's modes,
 * told apart by a connection's first bytes:
 *
 *   "PRI * HTTP/2.0..." (h2c with prior knowledge): a gRPC server
 *       (libnghttp2) whose every stream gets
 *       envoy.service.auth.v3.Authorization/Check's OK answer, a
 *       CheckResponse with ok_response.headers [x-user: bench], then the
 *       grpc-status 0 trailer;
 *   anything else: HTTP/1.1 keep-alive, every request answered
 *       "200 OK, x-user: bench, content-length 0".
 *
 * Both sides of the comparison thus pay the same server costs (one
 * process, one core, the same loop), so the ratio says what the modes
 * cost the gateway. It reads the request only as far as framing needs
 * (Content-Length, END_STREAM); the answer is the same for every check.
 *
 *   authz_peer [PORT]   listen on 127.0.0.1:PORT (0 or none: any free
 *                       port), print "PORT <n>", run until stdin closes
 *                       (or SIGTERM); then print "accepts <n> h2 <n> h1
 *                       <n>" on stderr: how many connections the
 *                       gateway opened, for the connections-per-check
 *                       figure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_EVENTS 64
#define IN_MAX (64 * 1024)

/* CheckResponse {status {} ok_response {headers [{header {key "x-user"
 * value "bench"}}]}} in a gRPC frame. */
static const uint8_t check_ok[] = {
    0x00, 0x00, 0x00, 0x00, 0x17,                /* frame */
    0x0a, 0x00,                                  /* status {} */
    0x1a, 0x13,                                  /* ok_response */
    0x12, 0x11,                                  /* headers */
    0x0a, 0x0f,                                  /* header */
    0x0a, 0x06, 'x',  '-',  'u',  's', 'e', 'r', /* key */
    0x12, 0x05, 'b',  'e',  'n',  'c', 'h'};     /* value */

static const char http_ok[] = "HTTP/1.1 200 OK\r\n"
                              "x-user: bench\r\n"
                              "content-length: 0\r\n\r\n";

enum { KIND_UNKNOWN, KIND_H1, KIND_H2 };

typedef struct conn {
    int fd;
    int kind;
    uint8_t in[IN_MAX];
    size_t in_len;
    /* HTTP/1.1: body bytes of the current request still to skip */
    size_t skip;
    /* output not yet written */
    uint8_t *out;
    size_t out_len, out_off, out_cap;
    nghttp2_session *h2;
    int want_write; /* EPOLLOUT registered */
} conn;

static int epfd;
static unsigned long accepts, accepts_h2, accepts_h1;

static int
out_add(conn *c, const void *data, size_t len)
{
    if (c->out_len + len > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap * 2 : 16384;
        while (cap < c->out_len + len)
            cap *= 2;
        uint8_t *grown = realloc(c->out, cap);
        if (!grown)
            return -1;
        c->out = grown;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
    return 0;
}

static void
conn_close(conn *c)
{
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    if (c->h2)
        nghttp2_session_del(c->h2);
    free(c->out);
    free(c);
}

/* Write what is pending; -1 when the connection broke. */
static int
flush(conn *c)
{
    if (c->h2) {
        for (;;) {
            const uint8_t *data;
            ssize_t n = nghttp2_session_mem_send(c->h2, &data);
            if (n < 0)
                return -1;
            if (n == 0)
                break;
            if (out_add(c, data, (size_t)n) != 0)
                return -1;
        }
    }
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
                         MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                break;
            return -1;
        }
        c->out_off += (size_t)n;
    }
    if (c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    int want = c->out_len > 0;
    if (want != c->want_write) {
        struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0),
                                 .data.ptr = c};
        epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
        c->want_write = want;
    }
    if (c->h2 && !nghttp2_session_want_read(c->h2) &&
        !nghttp2_session_want_write(c->h2) && c->out_len == 0)
        return -1;
    return 0;
}

/* ---- HTTP/1.1 --------------------------------------------------------------
 */

/* Answer every whole request in c->in; keep the rest. -1: malformed. */
static int
h1_input(conn *c)
{
    size_t at = 0;

    for (;;) {
        if (c->skip) {
            size_t n = c->in_len - at < c->skip ? c->in_len - at : c->skip;
            at += n;
            c->skip -= n;
            if (c->skip)
                break;
        }
        uint8_t *end = memmem(c->in + at, c->in_len - at, "\r\n\r\n", 4);
        if (!end)
            break;
        size_t head_len = (size_t)(end - (c->in + at)) + 4;
        /* Content-Length, if any (chunked requests are not expected) */
        const char *p = (const char *)c->in + at;
        for (size_t i = 0; i + 16 <= head_len; i++) {
            if ((p[i] == '\n') &&
                strncasecmp(p + i + 1, "content-length:", 15) == 0) {
                c->skip = strtoul(p + i + 16, NULL, 10);
                break;
            }
        }
        at += head_len;
        if (out_add(c, http_ok, sizeof(http_ok) - 1) != 0)
            return -1;
    }
    memmove(c->in, c->in + at, c->in_len - at);
    c->in_len -= at;
    if (c->in_len == sizeof(c->in))
        return -1; /* a head larger than the buffer */
    return 0;
}

/* ---- h2c gRPC -------------------------------------------------------------
 */

typedef struct stream_body {
    size_t sent;
} stream_body;

static ssize_t
read_answer(nghttp2_session *session, int32_t stream_id, uint8_t *buf,
            size_t length, uint32_t *flags, nghttp2_data_source *source,
            void *arg)
{
    static const nghttp2_nv trailers[] = {{(uint8_t *)"grpc-status",
                                           (uint8_t *)"0", 11, 1,
                                           NGHTTP2_NV_FLAG_NONE}};
    size_t n = sizeof(check_ok);

    (void)source;
    (void)arg;
    if (n > length)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    memcpy(buf, check_ok, n);
    *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
    if (nghttp2_submit_trailer(session, stream_id, trailers, 1) != 0)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    return (ssize_t)n;
}

static int
on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *arg)
{
    static const nghttp2_nv headers[] = {
        {(uint8_t *)":status", (uint8_t *)"200", 7, 3, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"content-type", (uint8_t *)"application/grpc", 12, 16,
         NGHTTP2_NV_FLAG_NONE}};
    nghttp2_data_provider body = {.read_callback = read_answer};

    (void)arg;
    if ((frame->hd.type == NGHTTP2_DATA || frame->hd.type == NGHTTP2_HEADERS) &&
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
        nghttp2_submit_response(session, frame->hd.stream_id, headers, 2,
                                &body);
    return 0;
}

static int
h2_start(conn *c)
{
    static const nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 1000},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20}};
    nghttp2_session_callbacks *cbs;

    if (nghttp2_session_callbacks_new(&cbs) != 0)
        return -1;
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    int rc = nghttp2_session_server_new(&c->h2, cbs, c);
    nghttp2_session_callbacks_del(cbs);
    if (rc != 0)
        return -1;
    return nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, settings, 2);
}

/* ---- the loop
 * ----------------------------------------------------------------- */

static int
conn_input(conn *c)
{
    for (;;) {
        ssize_t n =
            recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return 0;
            return -1;
        }
        if (n == 0)
            return -1;
        c->in_len += (size_t)n;
        if (c->kind == KIND_UNKNOWN) {
            if (c->in_len < 3)
                continue;
            c->kind = memcmp(c->in, "PRI", 3) == 0 ? KIND_H2 : KIND_H1;
            if (c->kind == KIND_H2)
                accepts_h2++;
            else
                accepts_h1++;
            if (c->kind == KIND_H2 && h2_start(c) != 0)
                return -1;
        }
        if (c->kind == KIND_H2) {
            ssize_t used = nghttp2_session_mem_recv(c->h2, c->in, c->in_len);
            if (used < 0)
                return -1;
            c->in_len = 0;
        } else if (h1_input(c) != 0) {
            return -1;
        }
        if (flush(c) != 0)
            return -1;
    }
}

int
main(int argc, char **argv)
{
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(addr);
    int one = 1, lfd;
    struct epoll_event ev, events[MAX_EVENTS];

    signal(SIGPIPE, SIG_IGN);
    addr.sin_port = htons(argc > 1 ? (uint16_t)atoi(argv[1]) : 0);
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
        listen(lfd, 1024) != 0 ||
        getsockname(lfd, (struct sockaddr *)&addr, &len) != 0) {
        perror("authz_peer: listen");
        return 1;
    }
    epfd = epoll_create1(EPOLL_CLOEXEC);
    ev = (struct epoll_event){.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev);
    fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
    ev = (struct epoll_event){.events = EPOLLIN, .data.ptr = &epfd};
    epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &ev); /* stdin: EOF ends us */
    printf("PORT %u\n", ntohs(addr.sin_port));
    fflush(stdout);
    for (;;) {
        int n = epoll_wait(epfd, events, MAX_EVENTS, -1);
        for (int i = 0; i < n; i++) {
            void *p = events[i].data.ptr;
            if (p == &epfd) {
                char buf[64];
                ssize_t r = read(0, buf, sizeof(buf));
                if (r == 0 || (r < 0 && errno != EAGAIN)) {
                    fprintf(stderr, "accepts %lu h2 %lu h1 %lu\n", accepts,
                            accepts_h2, accepts_h1);
                    return 0;
                }
            } else if (!p) {
                int fd;
                while ((fd = accept4(lfd, NULL, NULL,
                                     SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    conn *c = calloc(1, sizeof(*c));
                    accepts++;
                    if (!c) {
                        close(fd);
                        continue;
                    }
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    c->fd = fd;
                    ev = (struct epoll_event){.events = EPOLLIN, .data.ptr = c};
                    epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
                }
            } else {
                conn *c = p;
                if (((events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) &&
                     conn_input(c) != 0) ||
                    ((events[i].events & EPOLLOUT) && flush(c) != 0))
                    conn_close(c);
            }
        }
    }
}
