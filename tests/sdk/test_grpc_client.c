/*
 * test_grpc_client.c - gwf/sdk_grpc.h: unary gRPC calls over h2c on a
 * host loop, against real peers on loopback: grpcio (grpc_echo_server.py)
 * for what a real gRPC server does, and a frame-by-frame peer
 * (grpc_h2_peer.py) for connection counts and every way an answer can
 * break. The peer counts accepted connections, streams and RST_STREAMs
 * in a file the tests read.
 *
 * The host is poll_host.c: poll()-based, it keeps the ABI's promises
 * (ids never reused, level-triggered watches, a cancelled timer never
 * fires) and counts every call; at the end of each test every watch and
 * timer the client made is gone and nothing was cancelled twice.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gwf/sdk_grpc.h>
#include <gwf/sdk_proto.h>

#include "poll_host.h"

/* ---- peers -----------------------------------------------------------------
 */

typedef struct {
    pid_t pid;
    int in_fd;
    int port;
    char stats[128];
} peer_t;

static void
peer_start(peer_t *p, const char *script, const char *mode)
{
    int in[2], out[2];
    char line[64] = {0};
    size_t got = 0;

    snprintf(p->stats, sizeof(p->stats), "/tmp/gwf-grpc-peer-%d-%s",
             (int)getpid(), mode ? mode : "echo");
    unlink(p->stats);
    assert_int_equal(pipe(in), 0);
    assert_int_equal(pipe(out), 0);
    p->pid = fork();
    assert_true(p->pid >= 0);
    if (p->pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[1]);
        close(out[0]);
        if (mode)
            execl("/usr/bin/python3", "python3", script, mode, p->stats,
                  (char *)NULL);
        else
            execl("/usr/bin/python3", "python3", script, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    p->in_fd = in[1];
    while (got < sizeof(line) - 1) {
        ssize_t n = read(out[0], line + got, 1);
        if (n <= 0 || line[got] == '\n')
            break;
        got++;
    }
    close(out[0]);
    assert_int_equal(sscanf(line, "PORT %d", &p->port), 1);
}

static void
peer_stop(peer_t *p)
{
    close(p->in_fd);
    for (int i = 0; i < 200; i++) {
        if (waitpid(p->pid, NULL, WNOHANG) == p->pid) {
            unlink(p->stats);
            return;
        }
        usleep(10000);
    }
    kill(p->pid, SIGKILL);
    waitpid(p->pid, NULL, 0);
    unlink(p->stats);
}

/* The peer's counter `key`, -1 when its file is not there. */
static int
peer_stat(peer_t *p, const char *key)
{
    char text[256] = {0}, pat[40];
    FILE *f = fopen(p->stats, "r");
    const char *at;
    int v = -1;

    if (!f)
        return -1;
    if (!fgets(text, sizeof(text), f))
        text[0] = 0;
    fclose(f);
    snprintf(pat, sizeof(pat), "%s=", key);
    if ((at = strstr(text, pat)))
        v = atoi(at + strlen(pat));
    return v;
}

/* ---- calls ------------------------------------------------------------------
 */

typedef struct {
    int done;
    gwf_grpc_outcome outcome;
    int status, http_status, retryable;
    char message[256];
    size_t message_len;
    int has_message;
    char error[160];
    char grpc_message[64];
    char request[64]; /* the framed request: borrowed by the call */
    int distrust;     /* the callback calls gwf_grpc_call_distrust */
} outcome_t;

static void
on_result(void *arg, gwf_grpc_call *call, const gwf_grpc_result *r)
{
    outcome_t *o = arg;

    if (o->distrust)
        gwf_grpc_call_distrust(call);
    o->done++;
    o->outcome = r->outcome;
    o->status = r->status;
    o->http_status = r->http_status;
    o->retryable = r->retryable;
    o->has_message = r->message != NULL;
    if (r->message && r->message_len < sizeof(o->message)) {
        memcpy(o->message, r->message, r->message_len);
        o->message_len = r->message_len;
    }
    if (r->grpc_message && r->grpc_message_len < sizeof(o->grpc_message))
        memcpy(o->grpc_message, r->grpc_message, r->grpc_message_len);
    if (r->error)
        snprintf(o->error, sizeof(o->error), "%s", r->error);
}

static void
never_cb(void *arg, gwf_grpc_call *call, const gwf_grpc_result *r)
{
    (void)arg;
    (void)call;
    (void)r;
    fail_msg("never_cb should never be called");
}

typedef struct {
    poll_host h;
    peer_t peer;
    gwf_grpc_peer *gp;
    gwf_grpc_client *client;
} world;

static world *
world_new(const char *mode, uint64_t connect_timeout_ns)
{
    world *w = calloc(1, sizeof(*w));
    gwf_grpc_peer_options opts = {.connect_timeout_ns = connect_timeout_ns,
                                  .max_message = 1024};
    char err[128];

    assert_non_null(w);
    poll_host_init(&w->h, "grpc-client-test");
    peer_start(&w->peer,
               mode ? SCRIPT_DIR "/grpc_h2_peer.py"
                    : SCRIPT_DIR "/grpc_echo_server.py",
               mode);
    assert_int_equal(gwf_grpc_peer_new("127.0.0.1", (unsigned)w->peer.port,
                                       &opts, &w->gp, err, sizeof(err)),
                     GWF_OK);
    w->client = gwf_grpc_client_new(&w->h.inst, w->gp);
    assert_non_null(w->client);
    return w;
}

/* Free the client: nothing of it may stay on the host. */
static void
world_free(world *w)
{
    gwf_grpc_client_free(w->client);
    assert_int_equal(poll_host_live_watches(&w->h), 0);
    assert_int_equal(poll_host_armed_timers(&w->h), 0);
    assert_int_equal(w->h.not_found, 0);
    gwf_grpc_peer_free(w->gp);
    peer_stop(&w->peer);
    free(w);
}

static gwf_grpc_call *
start(world *w, const char *path, const char *text, uint64_t timeout_ms,
      outcome_t *o)
{
    gwf_strbuf msg = {0}, framed = {0};
    gwf_grpc_call *call;

    gwf_strbuf_append(&msg, text, strlen(text));
    assert_int_equal(gwf_grpc_frame(&framed, &msg), 0);
    assert_true(framed.len <= sizeof(o->request));
    memcpy(o->request, framed.data, framed.len);
    call = gwf_grpc_call_start(w->client, path, o->request, framed.len,
                               timeout_ms * (uint64_t)NS_PER_MS, on_result, o);
    gwf_strbuf_free(&msg);
    gwf_strbuf_free(&framed);
    assert_non_null(call);
    return call;
}

/* Turn the loop until `*done` reaches `want` (or 5 s pass). */
static void
run_until(world *w, const int *done, int want)
{
    int64_t end = poll_host_now_ns() + 5000 * NS_PER_MS;
    while (*done < want && poll_host_now_ns() < end)
        poll_host_turn(&w->h, 20);
    assert_int_equal(*done, want);
}

static void
run_for(world *w, int ms)
{
    int64_t end = poll_host_now_ns() + ms * NS_PER_MS;
    while (poll_host_now_ns() < end)
        poll_host_turn(&w->h, 10);
}

static void
wait_stat(world *w, const char *key, int want)
{
    int64_t end = poll_host_now_ns() + 3000 * NS_PER_MS;
    while (peer_stat(&w->peer, key) < want && poll_host_now_ns() < end)
        poll_host_turn(&w->h, 10);
    if (peer_stat(&w->peer, key) != want)
        print_message("peer %s: %s=%d\n", w->peer.stats, key,
                      peer_stat(&w->peer, key));
    assert_int_equal(peer_stat(&w->peer, key), want);
}

/* ---- against grpcio
 * ------------------------------------------------------------ */

static void
test_unary_call_is_answered_by_grpcio(void **state)
{
    world *w = world_new(NULL, 0);
    outcome_t o = {0};

    (void)state;
    start(w, "/test.Echo/Echo", "hello", 2000, &o);
    run_until(w, &o.done, 1);
    assert_int_equal(o.outcome, GWF_GRPC_ANSWERED);
    assert_int_equal(o.status, 0);
    assert_int_equal(o.http_status, 200);
    assert_int_equal(o.message_len, 5);
    assert_memory_equal(o.message, "hello", 5);
    world_free(w);
}

static void
test_grpc_timeout_carries_the_deadline(void **state)
{
    world *w = world_new(NULL, 0);
    outcome_t o = {0};
    int ms;

    (void)state;
    start(w, "/test.Echo/Deadline", "", 1500, &o);
    run_until(w, &o.done, 1);
    assert_int_equal(o.status, 0);
    ms = atoi(o.message);
    assert_true(ms > 1000 && ms <= 1500);
    world_free(w);
}

static void
test_error_status_and_message_come_from_the_server(void **state)
{
    world *w = world_new(NULL, 0);
    outcome_t o = {0};

    (void)state;
    start(w, "/test.Echo/Fail", "x", 2000, &o);
    run_until(w, &o.done, 1);
    assert_int_equal(o.outcome, GWF_GRPC_ANSWERED);
    assert_int_equal(o.status, 5);
    assert_string_equal(o.grpc_message, "nope");
    assert_false(o.has_message);
    world_free(w);
}

/* ---- connections
 * ---------------------------------------------------------------- */

static void
test_many_calls_share_one_connection(void **state)
{
    world *w = world_new("ok", 0);
    outcome_t o[50] = {0};

    (void)state;
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < 10; i++)
            start(w, "/t.S/M", "abc", 2000, &o[round * 10 + i]);
        for (int i = 0; i < 10; i++)
            run_until(w, &o[round * 10 + i].done, 1);
    }
    for (int i = 0; i < 50; i++) {
        assert_int_equal(o[i].outcome, GWF_GRPC_ANSWERED);
        assert_int_equal(o[i].status, 0);
        assert_memory_equal(o[i].message, "abc", 3);
    }
    assert_int_equal(peer_stat(&w->peer, "accepts"), 1);
    assert_int_equal(peer_stat(&w->peer, "streams"), 50);
    assert_int_equal(gwf_grpc_client_connections(w->client), 1);
    world_free(w);
}

/* Every send() of the client (linked with -Wl,--wrap=send). */
static int sends;
ssize_t __real_send(int fd, const void *buf, size_t len, int flags);
ssize_t __wrap_send(int fd, const void *buf, size_t len, int flags);
ssize_t
__wrap_send(int fd, const void *buf, size_t len, int flags)
{
    sends++;
    return __real_send(fd, buf, len, flags);
}

static void
test_calls_started_in_one_turn_leave_in_one_write(void **state)
{
    world *w = world_new("ok", 0);
    outcome_t first = {0}, o[10] = {0};

    (void)state;
    start(w, "/t.S/M", "abc", 2000, &first);
    run_until(w, &first.done, 1); /* connected, SETTINGS exchanged */
    sends = 0;
    for (int i = 0; i < 10; i++)
        start(w, "/t.S/M", "abc", 2000, &o[i]);
    assert_int_equal(sends, 0); /* nothing leaves before the turn ends */
    for (int i = 0; i < 10; i++)
        run_until(w, &o[i].done, 1);
    for (int i = 0; i < 10; i++)
        assert_int_equal(o[i].status, 0);
    assert_int_equal(sends, 1); /* ten HEADERS and DATA pairs, one send */
    assert_int_equal(peer_stat(&w->peer, "streams"), 11);
    assert_int_equal(peer_stat(&w->peer, "accepts"), 1);
    world_free(w);
}

static void
test_idle_connection_is_not_watched(void **state)
{
    world *w = world_new("ok", 0);
    outcome_t o = {0};

    (void)state;
    start(w, "/t.S/M", "abc", 2000, &o);
    run_until(w, &o.done, 1);
    run_for(w, 50);
    /* kept open, but no watch or timer: the host counts those as work */
    assert_int_equal(gwf_grpc_client_connections(w->client), 1);
    assert_int_equal(poll_host_live_watches(&w->h), 0);
    assert_int_equal(poll_host_armed_timers(&w->h), 0);
    world_free(w);
}

static void
test_connection_closed_while_idle_is_replaced_not_failed(void **state)
{
    world *w = world_new("closeidle", 0);
    outcome_t first = {0}, second = {0};

    (void)state;
    start(w, "/t.S/M", "abc", 2000, &first);
    run_until(w, &first.done, 1);
    usleep(300 * 1000); /* the peer closes the idle connection */
    start(w, "/t.S/M", "def", 2000, &second);
    run_until(w, &second.done, 1);
    assert_int_equal(second.outcome, GWF_GRPC_ANSWERED);
    assert_int_equal(second.status, 0);
    assert_memory_equal(second.message, "def", 3);
    assert_int_equal(peer_stat(&w->peer, "accepts"), 2);
    world_free(w);
}

static void
test_concurrent_calls_are_in_flight_together(void **state)
{
    world *w = world_new("delay", 0);
    outcome_t o[20] = {0};
    int64_t began = poll_host_now_ns();

    (void)state;
    for (int i = 0; i < 20; i++)
        start(w, "/t.S/M", "abc", 3000, &o[i]);
    for (int i = 0; i < 20; i++)
        run_until(w, &o[i].done, 1);
    /* each is answered 300 ms after it arrived: together, not in turn */
    assert_true(poll_host_now_ns() - began < 1500 * NS_PER_MS);
    for (int i = 0; i < 20; i++)
        assert_int_equal(o[i].status, 0);
    assert_int_equal(peer_stat(&w->peer, "accepts"), 1);
    world_free(w);
}

static void
test_full_connection_opens_another_up_to_the_bound(void **state)
{
    world *w = world_new("max1", 0);
    outcome_t first = {0}, o[10] = {0};

    (void)state;
    start(w, "/t.S/M", "a", 5000, &first);
    run_until(w, &first.done, 1); /* connected, SETTINGS (1 stream) seen */
    start(w, "/t.S/M", "a", 5000, &first);
    for (int i = 0; i < 10; i++)
        start(w, "/t.S/M", "b", 5000, &o[i]);
    for (int i = 0; i < 10; i++)
        run_until(w, &o[i].done, 1);
    run_until(w, &first.done, 2);
    for (int i = 0; i < 10; i++)
        assert_int_equal(o[i].status, 0);
    assert_int_equal(peer_stat(&w->peer, "accepts"), GWF_GRPC_MAX_CONNECTIONS);
    world_free(w);
}

/* ---- deadline and cancel
 * -------------------------------------------------------- */

static void
test_deadline_ends_the_call_and_resets_the_stream(void **state)
{
    world *w = world_new("never", 0);
    outcome_t o = {0};
    int64_t began = poll_host_now_ns();

    (void)state;
    start(w, "/t.S/M", "a", 150, &o);
    run_until(w, &o.done, 1);
    assert_int_equal(o.outcome, GWF_GRPC_DEADLINE);
    assert_true(poll_host_now_ns() - began >= 150 * NS_PER_MS);
    wait_stat(w, "rst_cancel", 1);
    world_free(w);
}

static void
test_cancel_mid_call_resets_retires_the_connection_and_never_calls_back(
    void **state)
{
    world *w = world_new("never", 0);
    gwf_grpc_call *call;
    outcome_t later = {0};

    (void)state;
    call = gwf_grpc_call_start(w->client, "/t.S/M", "\0\0\0\0\0", 5,
                               2000 * (uint64_t)NS_PER_MS, never_cb, NULL);
    assert_non_null(call);
    wait_stat(w, "streams", 1);
    gwf_grpc_call_cancel(call);
    wait_stat(w, "rst_cancel", 1);
    run_for(w, 100);
    /* given up on before any answer: the connection is retired (closed,
     * idle) and the next call takes a new one */
    assert_int_equal(gwf_grpc_client_connections(w->client), 0);
    start(w, "/t.S/M", "a", 100, &later);
    run_until(w, &later.done, 1);
    assert_int_equal(later.outcome, GWF_GRPC_DEADLINE);
    assert_int_equal(peer_stat(&w->peer, "accepts"), 2);
    world_free(w);
}

static void
test_deadline_retires_the_connection(void **state)
{
    world *w = world_new("never", 0);
    outcome_t first = {0}, second = {0};

    (void)state;
    start(w, "/t.S/M", "a", 100, &first);
    run_until(w, &first.done, 1);
    assert_int_equal(first.outcome, GWF_GRPC_DEADLINE);
    /* a connection that may lead nowhere takes no further call */
    assert_int_equal(gwf_grpc_client_connections(w->client), 0);
    start(w, "/t.S/M", "a", 100, &second);
    run_until(w, &second.done, 1);
    assert_int_equal(peer_stat(&w->peer, "accepts"), 2);
    world_free(w);
}

static void
test_distrusted_answer_retires_its_connection(void **state)
{
    world *w = world_new("ok", 0);
    outcome_t first = {.distrust = 1}, second = {0}, third = {0};

    (void)state;
    start(w, "/t.S/M", "abc", 2000, &first);
    run_until(w, &first.done, 1);
    assert_int_equal(first.outcome, GWF_GRPC_ANSWERED);
    assert_int_equal(gwf_grpc_client_connections(w->client), 0);
    start(w, "/t.S/M", "abc", 2000, &second);
    run_until(w, &second.done, 1);
    assert_int_equal(second.outcome, GWF_GRPC_ANSWERED);
    start(w, "/t.S/M", "abc", 2000, &third);
    run_until(w, &third.done, 1);
    assert_int_equal(third.outcome, GWF_GRPC_ANSWERED);
    /* one new connection, kept for the calls that trusted it */
    assert_int_equal(peer_stat(&w->peer, "accepts"), 2);
    assert_int_equal(gwf_grpc_client_connections(w->client), 1);
    world_free(w);
}

static void
test_cancel_before_connecting_never_calls_back(void **state)
{
    world *w = world_new("ok", 0);
    gwf_grpc_call *call;

    (void)state;
    call = gwf_grpc_call_start(w->client, "/t.S/M", "\0\0\0\0\0", 5,
                               2000 * (uint64_t)NS_PER_MS, never_cb, NULL);
    gwf_grpc_call_cancel(call);
    run_for(w, 200);
    world_free(w);
}

static void
test_client_free_with_calls_in_flight_calls_nothing(void **state)
{
    world *w = world_new("never", 0);

    (void)state;
    for (int i = 0; i < 5; i++)
        assert_non_null(gwf_grpc_call_start(w->client, "/t.S/M", "\0\0\0\0\0",
                                            5, 2000 * (uint64_t)NS_PER_MS,
                                            never_cb, NULL));
    wait_stat(w, "streams", 5);
    world_free(w);
}

/* ---- peers that break the rules
 * --------------------------------------------------- */

static void
expect_failure(const char *mode, const char *error, int retryable)
{
    world *w = world_new(mode, 300 * (uint64_t)NS_PER_MS);
    outcome_t o = {0};

    start(w, "/t.S/M", "abc", 2000, &o);
    run_until(w, &o.done, 1);
    assert_int_equal(o.outcome, GWF_GRPC_FAILED);
    assert_int_equal(o.status, -1);
    assert_false(o.has_message);
    assert_string_equal(o.error, error);
    assert_int_equal(o.retryable, retryable);
    world_free(w);
}

static void
test_truncated_message_is_an_error(void **state)
{
    (void)state;
    expect_failure("truncated",
                   "the gRPC answer's message is shorter than its length "
                   "prefix",
                   0);
}

static void
test_length_prefix_above_the_limit_is_an_error(void **state)
{
    (void)state;
    expect_failure("badlength",
                   "the gRPC answer's message is longer than allowed", 0);
}

static void
test_second_message_is_an_error(void **state)
{
    (void)state;
    expect_failure("twomsgs", "the gRPC answer has more than one message", 0);
}

static void
test_answer_without_grpc_status_is_an_error(void **state)
{
    (void)state;
    expect_failure("nostatus", "the gRPC answer has no grpc-status", 0);
}

static void
test_rst_stream_is_an_error(void **state)
{
    (void)state;
    expect_failure("rst", "the gRPC peer reset the stream", 1);
}

static void
test_http_500_is_a_retryable_error(void **state)
{
    (void)state;
    expect_failure("http500", "the gRPC peer did not answer 200", 1);
}

static void
test_goaway_after_the_stream_began_fails_it(void **state)
{
    (void)state;
    expect_failure("goaway_mid", "the gRPC peer closed the connection", 0);
}

static void
test_garbage_instead_of_a_preface_is_an_error(void **state)
{
    (void)state;
    expect_failure("garbage", "the gRPC peer broke the HTTP/2 protocol", 1);
}

static void
test_peer_that_never_sends_settings_fails_at_connect_timeout(void **state)
{
    int64_t began = poll_host_now_ns();

    (void)state;
    expect_failure("nosettings",
                   "the gRPC peer sent no HTTP/2 SETTINGS in time", 1);
    assert_true(poll_host_now_ns() - began < 1800 * NS_PER_MS);
}

static void
test_trailers_only_answer_carries_the_status(void **state)
{
    world *w = world_new("status7", 0);
    outcome_t o = {0};

    (void)state;
    start(w, "/t.S/M", "abc", 2000, &o);
    run_until(w, &o.done, 1);
    assert_int_equal(o.outcome, GWF_GRPC_ANSWERED);
    assert_int_equal(o.status, 7);
    assert_string_equal(o.grpc_message, "no");
    world_free(w);
}

static void
test_goaway_before_processing_retries_once_on_a_new_connection(void **state)
{
    world *w = world_new("goaway_once", 0);
    outcome_t o = {0};

    (void)state;
    start(w, "/t.S/M", "abc", 2000, &o);
    run_until(w, &o.done, 1);
    assert_int_equal(o.outcome, GWF_GRPC_ANSWERED);
    assert_int_equal(o.status, 0);
    assert_memory_equal(o.message, "abc", 3);
    assert_int_equal(peer_stat(&w->peer, "accepts"), 2);
    world_free(w);
}

/* The peer drains each connection gracefully while it is idle and
 * unwatched (GOAWAY, NO_ERROR, the socket left open, as grpc-go's
 * MaxConnectionAge does). The next call reads that GOAWAY, closes the
 * connection and opens a new one: a drained connection is never kept,
 * counted or given a call. */
static void
test_goaway_read_while_idle_closes_the_connection(void **state)
{
    world *w = world_new("goawayidle", 0);
    outcome_t o[4];

    (void)state;
    memset(o, 0, sizeof(o));
    for (int i = 0; i < 4; i++) {
        start(w, "/t.S/M", "abc", 2000, &o[i]);
        run_until(w, &o[i].done, 1);
        assert_int_equal(o[i].outcome, GWF_GRPC_ANSWERED);
        assert_int_equal(o[i].status, 0);
        assert_int_equal(gwf_grpc_client_connections(w->client), 1);
        wait_stat(w, "accepts", i + 1);
        usleep(250 * 1000); /* the GOAWAY comes while idle */
    }
    world_free(w);
}

/* HEADERS without END_HEADERS, then CONTINUATION frames full of header
 * fields for 2 s (the CVE-2024-28182 class). The call fails as soon as
 * the fields pass the bound, long before its deadline. */
static void
test_header_flood_fails_the_call_quickly(void **state)
{
    world *w = world_new("contflood", 0);
    outcome_t o;
    int64_t t0 = poll_host_now_ns();

    (void)state;
    memset(&o, 0, sizeof(o));
    start(w, "/t.S/M", "abc", 3000, &o);
    run_until(w, &o.done, 1);
    assert_true(poll_host_now_ns() - t0 < 1000 * NS_PER_MS);
    assert_int_equal(o.outcome, GWF_GRPC_FAILED);
    assert_string_equal(o.error, "the gRPC answer has too many header fields");
    /* The loop keeps running while the peer floods: nothing more is
     * delivered and nothing breaks. */
    run_for(w, 2500);
    assert_int_equal(o.done, 1);
    world_free(w);
}

/* A 100 carrying grpc-status 7, then a 200 that ends the stream with no
 * grpc-status: the interim block's status is not the answer's, so the
 * answer has none and is an error. */
static void
test_interim_grpc_status_is_not_the_answer(void **state)
{
    world *w = world_new("interim", 0);
    outcome_t o;

    (void)state;
    memset(&o, 0, sizeof(o));
    start(w, "/t.S/M", "abc", 2000, &o);
    run_until(w, &o.done, 1);
    assert_int_equal(o.outcome, GWF_GRPC_FAILED);
    assert_int_equal(o.http_status, 200);
    assert_int_equal(o.status, -1);
    assert_string_equal(o.error, "the gRPC answer has no grpc-status");
    assert_int_equal(o.retryable, 0);
    world_free(w);
}

static void
test_refused_connection_is_a_retryable_error(void **state)
{
    poll_host h;
    gwf_grpc_peer *gp;
    gwf_grpc_client *client;
    outcome_t o = {0};
    char err[128];
    int port;
    peer_t p;

    (void)state;
    /* a port that was just free */
    peer_start(&p, SCRIPT_DIR "/grpc_h2_peer.py", "ok");
    port = p.port;
    peer_stop(&p);
    poll_host_init(&h, "grpc-client-test");
    assert_int_equal(gwf_grpc_peer_new("127.0.0.1", (unsigned)port, NULL, &gp,
                                       err, sizeof(err)),
                     GWF_OK);
    client = gwf_grpc_client_new(&h.inst, gp);
    assert_non_null(gwf_grpc_call_start(client, "/t.S/M", "\0\0\0\0\0", 5,
                                        1000 * (uint64_t)NS_PER_MS, on_result,
                                        &o));
    assert_int_equal(o.done, 0); /* never from inside call_start */
    for (int i = 0; i < 100 && !o.done; i++)
        poll_host_turn(&h, 20);
    assert_int_equal(o.done, 1);
    assert_int_equal(o.outcome, GWF_GRPC_FAILED);
    assert_int_equal(o.retryable, 1);
    assert_string_equal(o.error, "cannot connect to the gRPC peer");
    gwf_grpc_client_free(client);
    assert_int_equal(poll_host_live_watches(&h), 0);
    assert_int_equal(poll_host_armed_timers(&h), 0);
    gwf_grpc_peer_free(gp);
}

/* A peer that takes the connection and its calls' first bytes, then
 * never reads again: the calls' bodies (2 MiB each, 10 of them: more
 * than loopback's socket buffers hold) stay the caller's, the client
 * holds at most its write buffer and one frame, every call ends at its
 * deadline with GWF_GRPC_DEADLINE, and the connection, retired by
 * them, is closed with its unsent bytes once the last one ended. */
static void
test_peer_that_stops_reading_keeps_the_buffer_bounded(void **state)
{
    enum { CALLS = 10, BODY = 2 * 1024 * 1024 };
    const size_t bound = GWF_GRPC_WRITE_BUFFER + 16384 + 9 + 512;
    world *w = world_new("noread", 0);
    outcome_t o[CALLS] = {0};
    uint8_t *body = calloc(1, BODY);
    size_t most = 0;
    int done = 0;
    int64_t began = poll_host_now_ns();

    (void)state;
    assert_non_null(body);
    body[1] = (uint8_t)((BODY - 5) >> 24); /* one message: the prefix */
    body[2] = (uint8_t)((BODY - 5) >> 16);
    for (int i = 0; i < CALLS; i++)
        assert_non_null(gwf_grpc_call_start(w->client, "/t.S/M", body, BODY,
                                            400 * (uint64_t)NS_PER_MS,
                                            on_result, &o[i]));
    while (done < CALLS && poll_host_now_ns() - began < 3000 * NS_PER_MS) {
        size_t now;

        poll_host_turn(&w->h, 5);
        now = gwf_grpc_client_buffered(w->client);
        if (now > most)
            most = now;
        done = 0;
        for (int i = 0; i < CALLS; i++)
            done += o[i].done;
    }
    for (int i = 0; i < CALLS; i++) {
        assert_int_equal(o[i].done, 1);
        assert_int_equal(o[i].outcome, GWF_GRPC_DEADLINE);
        assert_int_equal(o[i].retryable, 0);
        assert_string_equal(o[i].error,
                            "the gRPC peer did not answer before the "
                            "deadline");
    }
    /* by its deadline, not later (the loop turns every 5 ms) */
    assert_true(poll_host_now_ns() - began < 700 * NS_PER_MS);
    /* the writes did block (something was held), within the bound */
    assert_true(most > 0);
    assert_true(most <= bound);
    /* retired by the failed calls, closed with them: nothing left */
    assert_int_equal(gwf_grpc_client_connections(w->client), 0);
    assert_int_equal(gwf_grpc_client_buffered(w->client), 0);
    assert_int_equal(poll_host_live_watches(&w->h), 0);
    assert_int_equal(poll_host_armed_timers(&w->h), 0);
    assert_int_equal(peer_stat(&w->peer, "accepts"), 1);
    world_free(w);
    free(body);
}

static void
test_unresolvable_name_is_refused_at_config_time(void **state)
{
    gwf_grpc_peer *gp = (gwf_grpc_peer *)1;
    char err[128] = "";

    (void)state;
    assert_int_equal(gwf_grpc_peer_new("no-such-host.invalid", 80, NULL, &gp,
                                       err, sizeof(err)),
                     GWF_ERR_BAD_ARGUMENT);
    assert_null(gp);
    assert_non_null(strstr(err, "no-such-host.invalid"));
    assert_int_equal(
        gwf_grpc_peer_new("127.0.0.1", 0, NULL, &gp, err, sizeof(err)),
        GWF_ERR_BAD_ARGUMENT);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unary_call_is_answered_by_grpcio),
        cmocka_unit_test(test_grpc_timeout_carries_the_deadline),
        cmocka_unit_test(test_error_status_and_message_come_from_the_server),
        cmocka_unit_test(test_many_calls_share_one_connection),
        cmocka_unit_test(test_calls_started_in_one_turn_leave_in_one_write),
        cmocka_unit_test(test_deadline_retires_the_connection),
        cmocka_unit_test(test_distrusted_answer_retires_its_connection),
        cmocka_unit_test(test_idle_connection_is_not_watched),
        cmocka_unit_test(
            test_connection_closed_while_idle_is_replaced_not_failed),
        cmocka_unit_test(test_concurrent_calls_are_in_flight_together),
        cmocka_unit_test(test_full_connection_opens_another_up_to_the_bound),
        cmocka_unit_test(test_deadline_ends_the_call_and_resets_the_stream),
        cmocka_unit_test(
            test_cancel_mid_call_resets_retires_the_connection_and_never_calls_back),
        cmocka_unit_test(test_cancel_before_connecting_never_calls_back),
        cmocka_unit_test(test_client_free_with_calls_in_flight_calls_nothing),
        cmocka_unit_test(test_truncated_message_is_an_error),
        cmocka_unit_test(test_length_prefix_above_the_limit_is_an_error),
        cmocka_unit_test(test_second_message_is_an_error),
        cmocka_unit_test(test_answer_without_grpc_status_is_an_error),
        cmocka_unit_test(test_rst_stream_is_an_error),
        cmocka_unit_test(test_http_500_is_a_retryable_error),
        cmocka_unit_test(test_goaway_after_the_stream_began_fails_it),
        cmocka_unit_test(test_garbage_instead_of_a_preface_is_an_error),
        cmocka_unit_test(
            test_peer_that_never_sends_settings_fails_at_connect_timeout),
        cmocka_unit_test(test_trailers_only_answer_carries_the_status),
        cmocka_unit_test(
            test_goaway_before_processing_retries_once_on_a_new_connection),
        cmocka_unit_test(test_goaway_read_while_idle_closes_the_connection),
        cmocka_unit_test(test_header_flood_fails_the_call_quickly),
        cmocka_unit_test(test_interim_grpc_status_is_not_the_answer),
        cmocka_unit_test(test_refused_connection_is_a_retryable_error),
        cmocka_unit_test(test_peer_that_stops_reading_keeps_the_buffer_bounded),
        cmocka_unit_test(test_unresolvable_name_is_refused_at_config_time),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
