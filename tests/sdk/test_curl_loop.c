/*
 * test_curl_loop.c - gwf/sdk_curl.h: libcurl's multi interface on a host
 * loop, and the completeness check of an HTTP answer.
 *
 * Every transfer is real: a small HTTP server runs on a thread of the
 * test, on 127.0.0.1 only, and answers each connection with the bytes
 * its test gave it (or reads the request and never answers). The loop
 * under test reaches the host only through fd_watch, fd_update,
 * fd_cancel, timer_start and timer_cancel, so the tests hand it
 * poll_host.c, a poll()-based host that keeps those as the ABI promises
 * (ids never reused, level-triggered watches, a cancelled watch or timer
 * never fires) and counts every call: at the end of each test every watch and
 * timer the loop made is gone, and nothing was cancelled twice.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gwf/sdk_curl.h>

#include "poll_host.h"

/* No test needs more than this; a stuck loop fails instead of hanging. */
#define RUN_LIMIT_MS 5000

/* ---- an HTTP server on a thread, 127.0.0.1 only ------------------------- */

enum peer_mode {
    PEER_ANSWER,      /* read the request, write `answer`, close */
    PEER_NEVER_ANSWER /* read the request, then wait until stopped */
};

typedef struct peer {
    int listen_fd;
    int stop_pipe[2];
    uint16_t port;
    enum peer_mode mode;
    const char *answer;
    pthread_t thread;
    pthread_mutex_t lock;
    int requests; /* whole request heads read */
    char first_request[1024];
} peer;

/* Read one request head (up to its empty line); 0, or -1 when the
 * connection ended first or the stop pipe was written. */
static int
peer_read_head(peer *p, int fd, char *buf, size_t size)
{
    size_t len = 0;

    while (len + 1 < size) {
        struct pollfd pfds[2] = {{fd, POLLIN, 0}, {p->stop_pipe[0], POLLIN, 0}};
        if (poll(pfds, 2, -1) < 0 || pfds[1].revents)
            return -1;
        ssize_t n = read(fd, buf + len, size - 1 - len);
        if (n <= 0)
            return -1;
        len += (size_t)n;
        buf[len] = '\0';
        if (strstr(buf, "\r\n\r\n"))
            return 0;
    }
    return -1;
}

static void *
peer_run(void *arg)
{
    peer *p = arg;
    char head[1024];

    for (;;) {
        struct pollfd pfds[2] = {{p->listen_fd, POLLIN, 0},
                                 {p->stop_pipe[0], POLLIN, 0}};
        if (poll(pfds, 2, -1) < 0 || pfds[1].revents)
            return NULL;
        int fd = accept(p->listen_fd, NULL, NULL);
        if (fd < 0)
            continue;
        if (peer_read_head(p, fd, head, sizeof(head)) == 0) {
            pthread_mutex_lock(&p->lock);
            if (p->requests++ == 0)
                snprintf(p->first_request, sizeof(p->first_request), "%s",
                         head);
            pthread_mutex_unlock(&p->lock);
            if (p->mode == PEER_ANSWER) {
                size_t len = strlen(p->answer), at = 0;
                while (at < len) {
                    ssize_t n = write(fd, p->answer + at, len - at);
                    if (n <= 0)
                        break;
                    at += (size_t)n;
                }
            } else {
                struct pollfd stop = {p->stop_pipe[0], POLLIN, 0};
                poll(&stop, 1, -1);
            }
        }
        close(fd);
    }
}

static void
peer_start(peer *p, enum peer_mode mode, const char *answer)
{
    struct sockaddr_in addr = {.sin_family = AF_INET};
    socklen_t addr_len = sizeof(addr);

    memset(p, 0, sizeof(*p));
    p->mode = mode;
    p->answer = answer;
    pthread_mutex_init(&p->lock, NULL);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    p->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(p->listen_fd >= 0);
    assert_int_equal(bind(p->listen_fd, (struct sockaddr *)&addr, sizeof(addr)),
                     0);
    assert_int_equal(listen(p->listen_fd, 8), 0);
    assert_int_equal(
        getsockname(p->listen_fd, (struct sockaddr *)&addr, &addr_len), 0);
    p->port = ntohs(addr.sin_port);
    assert_int_equal(pipe2(p->stop_pipe, O_CLOEXEC), 0);
    assert_int_equal(pthread_create(&p->thread, NULL, peer_run, p), 0);
}

static int
peer_requests(peer *p)
{
    pthread_mutex_lock(&p->lock);
    int n = p->requests;
    pthread_mutex_unlock(&p->lock);
    return n;
}

static void
peer_stop(peer *p)
{
    assert_int_equal(write(p->stop_pipe[1], "x", 1), 1);
    pthread_join(p->thread, NULL);
    close(p->listen_fd);
    close(p->stop_pipe[0]);
    close(p->stop_pipe[1]);
    pthread_mutex_destroy(&p->lock);
}

/* ---- transfers ---------------------------------------------------------- */

typedef struct transfer {
    CURL *easy;
    gwf_curl_answer answer;
    int done;
    CURLcode result; /* libcurl's */
    char body[256];
    size_t body_len;
    int header_lines; /* seen by the caller's own header callback */
} transfer;

/* The plugin side: the multi handle, its loop and what progress saw. */
typedef struct client {
    poll_host *h;
    CURLM *multi;
    gwf_curl_loop *loop;
    int progress_calls;
    int finished;
    /* libcurl's own socket (CURLOPT_OPENSOCKETFUNCTION), and whether
     * every fd the loop watched was another fd of that same socket. */
    int curl_fd;
    int watched_curl_fd, watched_other_socket;
} client;

/* gwf_curl_loop's progress callback: read the finished transfers. */
static void
on_progress(void *arg)
{
    client *c = arg;
    CURLMsg *msg;
    int left;

    c->progress_calls++;
    while ((msg = curl_multi_info_read(c->multi, &left))) {
        transfer *t = NULL;
        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        assert_non_null(t);
        assert_false(t->done);
        t->done = 1;
        t->result = msg->data.result;
        c->finished++;
    }
}

static size_t
on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    transfer *t = arg;
    size_t len = size * nmemb;

    if (len > sizeof(t->body) - 1 - t->body_len)
        return 0;
    memcpy(t->body + t->body_len, data, len);
    t->body_len += len;
    t->body[t->body_len] = '\0';
    return len;
}

static size_t
count_header_line(char *line, size_t size, size_t nmemb, void *arg)
{
    transfer *t = arg;

    (void)line;
    t->header_lines++;
    return size * nmemb;
}

/* libcurl's own socket, remembered so the host can compare it with the
 * fd it is asked to watch. */
static curl_socket_t
open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *addr)
{
    client *c = arg;

    (void)purpose;
    c->curl_fd =
        socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
    return c->curl_fd;
}

static int
same_socket(int a, int b)
{
    struct stat sa, sb;

    return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_ino == sb.st_ino &&
           sa.st_dev == sb.st_dev;
}

/* The host's on_watch: is the fd watched libcurl's own, or another
 * socket than libcurl's? */
static void
note_watched_fd(void *arg, int fd)
{
    client *c = arg;

    if (fd == c->curl_fd)
        c->watched_curl_fd++;
    else if (!same_socket(fd, c->curl_fd))
        c->watched_other_socket++;
}

static void
client_start(client *c, poll_host *h)
{
    memset(c, 0, sizeof(*c));
    c->h = h;
    c->curl_fd = -1;
    h->on_watch = note_watched_fd;
    h->on_watch_arg = c;
    c->multi = curl_multi_init();
    assert_non_null(c->multi);
    c->loop = gwf_curl_loop_new(&h->inst, c->multi, on_progress, c);
    assert_non_null(c->loop);
}

static void
transfer_add(client *c, transfer *t, uint16_t port, const char *path,
             long timeout_ms)
{
    char url[128];

    memset(t, 0, sizeof(*t));
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", (unsigned)port, path);
    t->easy = curl_easy_init();
    assert_non_null(t->easy);
    curl_easy_setopt(t->easy, CURLOPT_URL, url);
    curl_easy_setopt(t->easy, CURLOPT_PROXY, "");
    curl_easy_setopt(t->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(t->easy, CURLOPT_PRIVATE, t);
    curl_easy_setopt(t->easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(t->easy, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(t->easy, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(t->easy, CURLOPT_OPENSOCKETDATA, c);
    if (timeout_ms > 0)
        curl_easy_setopt(t->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
    gwf_curl_answer_track(&t->answer, t->easy, count_header_line, t);
    assert_int_equal(curl_multi_add_handle(c->multi, t->easy), CURLM_OK);
}

/* Turn the host's loop until `want` transfers finished. */
static void
client_run(client *c, int want)
{
    int64_t limit = poll_host_now_ns() + RUN_LIMIT_MS * NS_PER_MS;

    while (c->finished < want) {
        if (poll_host_now_ns() > limit)
            fail_msg("%d of %d transfers finished in %d ms", c->finished, want,
                     RUN_LIMIT_MS);
        poll_host_turn(c->h, 100);
    }
}

/* The documented order: the easy handles out, the multi handle cleaned
 * up (it still reports sockets to the loop), then the loop freed. After
 * that the host holds nothing of the loop. */
static void
client_end(client *c, transfer *const *ts, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        curl_multi_remove_handle(c->multi, ts[i]->easy);
        curl_easy_cleanup(ts[i]->easy);
    }
    curl_multi_cleanup(c->multi);
    gwf_curl_loop_free(c->loop);
    assert_int_equal(poll_host_live_watches(c->h), 0);
    assert_int_equal(poll_host_armed_timers(c->h), 0);
    assert_int_equal(c->h->watches_cancelled, c->h->watches_started);
    assert_int_equal(c->h->not_found, 0);
}

static const char hello_answer[] = "HTTP/1.1 200 OK\r\n"
                                   "Content-Length: 5\r\n"
                                   "Connection: close\r\n"
                                   "\r\n"
                                   "hello";

/* ---- the loop ----------------------------------------------------------- */

static void
test_get_is_answered_whole_on_the_host_loop(void **state)
{
    poll_host h;
    peer p;
    client c;
    transfer t;
    transfer *ts[] = {&t};
    long code = 0;

    (void)state;
    poll_host_init(&h, "curl-loop-test");
    peer_start(&p, PEER_ANSWER, hello_answer);
    client_start(&c, &h);
    transfer_add(&c, &t, p.port, "/hello", 0);
    client_run(&c, 1);

    assert_int_equal(t.result, CURLE_OK);
    assert_int_equal(gwf_curl_answer_result(&t.answer, t.result), CURLE_OK);
    curl_easy_getinfo(t.easy, CURLINFO_RESPONSE_CODE, &code);
    assert_int_equal(code, 200);
    assert_int_equal(t.body_len, 5);
    assert_string_equal(t.body, "hello");
    assert_int_equal(t.answer.status, 200);
    assert_int_equal(t.answer.headers_ended, 1);
    assert_int_equal(t.answer.framing_ambiguous, 0);
    /* status line, two headers, the empty line: all passed on */
    assert_int_equal(t.header_lines, 4);
    assert_int_equal(c.finished, 1);
    assert_true(c.progress_calls >= 1);
    assert_true(h.watches_started >= 1);
    assert_int_equal(peer_requests(&p), 1);
    assert_true(strncmp(p.first_request, "GET /hello HTTP/1.1\r\n", 21) == 0);
    client_end(&c, ts, 1);
    peer_stop(&p);
}

static void
test_host_watches_a_duplicate_of_curls_socket(void **state)
{
    poll_host h;
    peer p;
    client c;
    transfer t;
    transfer *ts[] = {&t};

    (void)state;
    poll_host_init(&h, "curl-loop-test");
    peer_start(&p, PEER_ANSWER, hello_answer);
    client_start(&c, &h);
    transfer_add(&c, &t, p.port, "/", 0);
    client_run(&c, 1);

    assert_true(h.watches_started >= 1);
    assert_int_equal(c.watched_curl_fd, 0);
    assert_int_equal(c.watched_other_socket, 0);
    client_end(&c, ts, 1);
    /* The duplicate is closed with its watch. */
    assert_int_equal(fcntl(h.watched_fd, F_GETFD), -1);
    assert_int_equal(errno, EBADF);
    peer_stop(&p);
}

static void
test_two_transfers_finish_on_one_loop(void **state)
{
    poll_host h;
    peer p;
    client c;
    transfer a, b;
    transfer *ts[] = {&a, &b};

    (void)state;
    poll_host_init(&h, "curl-loop-test");
    peer_start(&p, PEER_ANSWER, hello_answer);
    client_start(&c, &h);
    transfer_add(&c, &a, p.port, "/a", 0);
    transfer_add(&c, &b, p.port, "/b", 0);
    client_run(&c, 2);

    assert_int_equal(a.result, CURLE_OK);
    assert_int_equal(b.result, CURLE_OK);
    assert_string_equal(a.body, "hello");
    assert_string_equal(b.body, "hello");
    assert_int_equal(c.finished, 2);
    assert_int_equal(peer_requests(&p), 2);
    client_end(&c, ts, 2);
    peer_stop(&p);
}

static void
test_timeout_fires_through_a_host_timer(void **state)
{
    poll_host h;
    peer p;
    client c;
    transfer t;
    transfer *ts[] = {&t};
    int64_t started = poll_host_now_ns();

    (void)state;
    poll_host_init(&h, "curl-loop-test");
    peer_start(&p, PEER_NEVER_ANSWER, NULL);
    client_start(&c, &h);
    transfer_add(&c, &t, p.port, "/slow", 300);
    client_run(&c, 1);

    assert_int_equal(t.result, CURLE_OPERATION_TIMEDOUT);
    assert_int_equal(gwf_curl_answer_result(&t.answer, t.result),
                     CURLE_OPERATION_TIMEDOUT);
    assert_true(poll_host_now_ns() - started >= 300 * NS_PER_MS);
    assert_true(h.timers_fired >= 1);
    assert_int_equal(t.body_len, 0);
    assert_int_equal(t.answer.status, 0);
    assert_int_equal(peer_requests(&p), 1);
    client_end(&c, ts, 1);
    peer_stop(&p);
}

static void
test_free_cancels_the_watches_of_a_transfer_in_flight(void **state)
{
    poll_host h;
    peer p;
    client c;
    transfer t;
    int64_t limit = poll_host_now_ns() + RUN_LIMIT_MS * NS_PER_MS;

    (void)state;
    poll_host_init(&h, "curl-loop-test");
    peer_start(&p, PEER_NEVER_ANSWER, NULL);
    client_start(&c, &h);
    transfer_add(&c, &t, p.port, "/never", 0);
    while (peer_requests(&p) == 0) {
        assert_true(poll_host_now_ns() < limit);
        poll_host_turn(&h, 100);
    }
    assert_true(poll_host_live_watches(&h) >= 1);

    /* Freed while libcurl still waits for the answer: the multi handle
     * goes first (with the easy handle still in it), then the loop. */
    curl_multi_cleanup(c.multi);
    gwf_curl_loop_free(c.loop);
    assert_int_equal(poll_host_live_watches(&h), 0);
    assert_int_equal(poll_host_armed_timers(&h), 0);
    assert_int_equal(h.watches_cancelled, h.watches_started);
    assert_int_equal(h.not_found, 0);
    assert_int_equal(c.finished, 0);
    curl_easy_cleanup(t.easy);
    peer_stop(&p);
}

static void
test_refused_connection_is_couldnt_connect(void **state)
{
    struct sockaddr_in addr = {.sin_family = AF_INET};
    socklen_t addr_len = sizeof(addr);
    poll_host h;
    client c;
    transfer t;
    transfer *ts[] = {&t};
    /* A port bound but not listening: connecting is refused. */
    int closed = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    (void)state;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(closed, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(getsockname(closed, (struct sockaddr *)&addr, &addr_len),
                     0);
    poll_host_init(&h, "curl-loop-test");
    client_start(&c, &h);
    transfer_add(&c, &t, ntohs(addr.sin_port), "/", 0);
    client_run(&c, 1);

    assert_int_equal(t.result, CURLE_COULDNT_CONNECT);
    assert_int_equal(gwf_curl_answer_result(&t.answer, t.result),
                     CURLE_COULDNT_CONNECT);
    assert_int_equal(t.header_lines, 0);
    client_end(&c, ts, 1);
    close(closed);
}

/* ---- is the answer complete? -------------------------------------------- */

/* One transfer against a server that writes `answer` and closes. */
static void
fetch(const char *answer, transfer *t, client *c, poll_host *h)
{
    peer p;

    poll_host_init(h, "curl-loop-test");
    peer_start(&p, PEER_ANSWER, answer);
    client_start(c, h);
    transfer_add(c, t, p.port, "/", 0);
    client_run(c, 1);
    peer_stop(&p);
}

static void
test_answer_cut_inside_its_headers_is_partial(void **state)
{
    poll_host h;
    client c;
    transfer t;
    transfer *ts[] = {&t};

    (void)state;
    fetch("HTTP/1.1 200 OK\r\n", &t, &c, &h);
    assert_int_equal(t.answer.status, 200);
    assert_int_equal(t.answer.headers_ended, 0);
    /* libcurl 7.88 calls it a success; a later one may fail it itself,
     * and its error is then passed on. Either way it is no answer. */
    assert_int_equal(gwf_curl_answer_result(&t.answer, t.result),
                     t.result == CURLE_OK ? CURLE_PARTIAL_FILE : t.result);
    client_end(&c, ts, 1);
}

static void
test_content_length_beside_chunked_fails_as_weird_reply(void **state)
{
    poll_host h;
    client c;
    transfer t;
    transfer *ts[] = {&t};

    (void)state;
    fetch("HTTP/1.1 200 OK\r\n"
          "Transfer-Encoding: chunked\r\n"
          "Content-Length: 5\r\n"
          "\r\n"
          "5\r\nhello\r\n0\r\n\r\n",
          &t, &c, &h);
    assert_int_equal(t.answer.framing_ambiguous, 1);
    /* The tracker refused the Content-Length line: libcurl stopped the
     * transfer there, and the caller's callback never saw that line. */
    assert_int_equal(t.result, CURLE_WRITE_ERROR);
    assert_int_equal(gwf_curl_answer_result(&t.answer, t.result),
                     CURLE_WEIRD_SERVER_REPLY);
    assert_int_equal(t.header_lines, 2);
    assert_int_equal(t.body_len, 0);
    client_end(&c, ts, 1);
}

static void
test_interim_100_then_final_answer_is_complete(void **state)
{
    poll_host h;
    client c;
    transfer t;
    transfer *ts[] = {&t};

    (void)state;
    fetch("HTTP/1.1 100 Continue\r\n"
          "\r\n"
          "HTTP/1.1 200 OK\r\n"
          "Content-Length: 2\r\n"
          "\r\n"
          "ok",
          &t, &c, &h);
    assert_int_equal(t.result, CURLE_OK);
    assert_int_equal(gwf_curl_answer_result(&t.answer, t.result), CURLE_OK);
    assert_int_equal(t.answer.status, 200);
    assert_int_equal(t.answer.headers_ended, 1);
    assert_int_equal(t.header_lines, 5);
    assert_string_equal(t.body, "ok");
    client_end(&c, ts, 1);
}

static void
test_answer_result_ranks_ambiguity_then_error_then_ending(void **state)
{
    gwf_curl_answer a;

    (void)state;
    memset(&a, 0, sizeof(a));
    assert_int_equal(gwf_curl_answer_result(&a, CURLE_OK), CURLE_PARTIAL_FILE);
    assert_int_equal(gwf_curl_answer_result(&a, CURLE_RECV_ERROR),
                     CURLE_RECV_ERROR);
    a.headers_ended = 1;
    assert_int_equal(gwf_curl_answer_result(&a, CURLE_OK), CURLE_OK);
    assert_int_equal(gwf_curl_answer_result(&a, CURLE_PARTIAL_FILE),
                     CURLE_PARTIAL_FILE);
    a.framing_ambiguous = 1;
    assert_int_equal(gwf_curl_answer_result(&a, CURLE_OK),
                     CURLE_WEIRD_SERVER_REPLY);
    assert_int_equal(gwf_curl_answer_result(&a, CURLE_WRITE_ERROR),
                     CURLE_WEIRD_SERVER_REPLY);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_is_answered_whole_on_the_host_loop),
        cmocka_unit_test(test_host_watches_a_duplicate_of_curls_socket),
        cmocka_unit_test(test_two_transfers_finish_on_one_loop),
        cmocka_unit_test(test_timeout_fires_through_a_host_timer),
        cmocka_unit_test(test_free_cancels_the_watches_of_a_transfer_in_flight),
        cmocka_unit_test(test_refused_connection_is_couldnt_connect),
        cmocka_unit_test(test_answer_cut_inside_its_headers_is_partial),
        cmocka_unit_test(
            test_content_length_beside_chunked_fails_as_weird_reply),
        cmocka_unit_test(test_interim_100_then_final_answer_is_complete),
        cmocka_unit_test(
            test_answer_result_ranks_ambiguity_then_error_then_ending),
    };
    int failed;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    failed = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
