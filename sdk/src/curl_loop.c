/*
 * curl_loop.c - libcurl's multi interface on the host's event loop (see
 * gwf/sdk_curl.h for the contract and why sockets are watched through a
 * duplicate), and the completeness check of an HTTP answer.
 *
 * Every socket libcurl reports gets one record, attached to the socket
 * with curl_multi_assign so that libcurl hands it back on each event, and
 * kept on a doubly linked list only so that gwf_curl_loop_free can cancel
 * what is left. Adding and removing a record is O(1): a worker with ten
 * thousand checks timing out at once must not walk a list per socket.
 */
#include <gwf/sdk_curl.h>

#include <ctype.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct loop_socket {
    struct loop_socket *prev, *next;
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
sock_remember(loop_socket *sock)
{
    gwf_curl_loop *loop = sock->loop;

    sock->prev = NULL;
    sock->next = loop->sockets;
    if (loop->sockets)
        loop->sockets->prev = sock;
    loop->sockets = sock;
}

static void
sock_forget(loop_socket *sock)
{
    if (sock->prev)
        sock->prev->next = sock->next;
    else
        sock->loop->sockets = sock->next;
    if (sock->next)
        sock->next->prev = sock->prev;
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
    sock_remember(sock);
    curl_multi_assign(loop->multi, fd, sock);
    return 0;
}

gwf_curl_loop *
gwf_curl_loop_new(gwf_instance *inst, CURLM *multi, void (*progress)(void *arg),
                  void *arg)
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

/* ---- is the answer complete? ------------------------------------------ */

/* The status code of a status line ("HTTP/1.1 200 OK", "HTTP/2 200"),
 * or 0 when `line` is not one. */
static int
status_line_code(const char *line, size_t len)
{
    const char *sp;
    size_t at;

    if (len < 5 || memcmp(line, "HTTP/", 5) != 0)
        return 0;
    sp = memchr(line, ' ', len);
    if (!sp)
        return 0;
    at = (size_t)(sp - line) + 1;
    if (len - at < 3 || !isdigit((unsigned char)line[at]) ||
        !isdigit((unsigned char)line[at + 1]) ||
        !isdigit((unsigned char)line[at + 2]))
        return 0;
    return (line[at] - '0') * 100 + (line[at + 1] - '0') * 10 +
           (line[at + 2] - '0');
}

/* Is `line` the header `name` (lowercase, with its colon)? Sets
 * `*value` to its trimmed value. */
static int
header_is(const char *line, size_t len, const char *name, const char **value,
          size_t *value_len)
{
    size_t n = strlen(name);

    if (len < n || strncasecmp(line, name, n) != 0)
        return 0;
    while (n < len && (line[n] == ' ' || line[n] == '\t'))
        n++;
    while (len > n && (line[len - 1] == ' ' || line[len - 1] == '\t'))
        len--;
    *value = line + n;
    *value_len = len - n;
    return 1;
}

/* A framing header of the final response: a second, different
 * Content-Length, or Content-Length beside Transfer-Encoding, leaves the
 * body's end to interpretation (RFC 9112 6.3: an error; the bytes after
 * the one the recipient picks may be a smuggled answer). */
static void
note_framing(gwf_curl_answer *answer, const char *line, size_t len)
{
    const char *value;
    size_t value_len;

    if (header_is(line, len, "content-length:", &value, &value_len)) {
        if (answer->content_length_len == SIZE_MAX ||
            (answer->content_length_len &&
             (answer->content_length_len != value_len ||
              memcmp(answer->content_length, value, value_len) != 0)))
            answer->framing_ambiguous = 1;
        else if (!answer->content_length_len)
            answer->content_length_len =
                value_len < sizeof(answer->content_length) ? value_len
                                                           : SIZE_MAX;
        if (answer->content_length_len != SIZE_MAX)
            memcpy(answer->content_length, value, answer->content_length_len);
        answer->framing_ambiguous |= answer->chunked;
    } else if (header_is(line, len, "transfer-encoding:", &value, &value_len)) {
        answer->chunked = 1;
        answer->framing_ambiguous |= answer->content_length_len != 0;
    }
}

/* CURLOPT_HEADERFUNCTION of a tracked transfer: libcurl hands over one
 * whole line at a time, the empty line that ends a header block included
 * (HTTP/1 and HTTP/2 alike). An ambiguous framing fails the transfer at
 * once (returning 0): libcurl then closes the connection, so that what
 * follows is never read as the next transfer's answer. */
static size_t
on_tracked_header(char *line, size_t size, size_t nmemb, void *arg)
{
    gwf_curl_answer *answer = arg;
    size_t len = size * nmemb, text = len;
    int code;

    while (text > 0 && (line[text - 1] == '\n' || line[text - 1] == '\r'))
        text--;
    if ((code = status_line_code(line, text)) != 0) {
        /* A new header block: after a 1xx, or after a redirect. */
        answer->status = code;
        answer->headers_ended = 0;
        answer->chunked = 0;
        answer->content_length_len = 0;
    } else if (text == 0 && answer->status >= 200) {
        answer->headers_ended = 1;
    } else if (!answer->headers_ended) {
        note_framing(answer, line, text);
        if (answer->framing_ambiguous)
            return 0;
    }
    return answer->header_fn
               ? answer->header_fn(line, size, nmemb, answer->header_arg)
               : len;
}

void
gwf_curl_answer_track(gwf_curl_answer *answer, CURL *easy,
                      curl_write_callback header_fn, void *header_arg)
{
    answer->header_fn = header_fn;
    answer->header_arg = header_arg;
    answer->status = 0;
    answer->headers_ended = 0;
    answer->chunked = 0;
    answer->content_length_len = 0;
    answer->framing_ambiguous = 0;
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_tracked_header);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, answer);
}

CURLcode
gwf_curl_answer_result(const gwf_curl_answer *answer, CURLcode result)
{
    if (answer->framing_ambiguous)
        return CURLE_WEIRD_SERVER_REPLY;
    if (result != CURLE_OK)
        return result;
    return answer->headers_ended ? CURLE_OK : CURLE_PARTIAL_FILE;
}
