/*
 * grpc_call.c - unary gRPC calls of a client (gwf/sdk_grpc.h): which
 * connection carries a call, the HEADERS and DATA that send it, the
 * answer read back and judged, the deadline, cancel, and the one place
 * where results reach their callbacks.
 *
 * Strictness: a call is ANSWERED only when the stream ended cleanly with
 * :status 200 and a grpc-status, either in trailers after at most one
 * whole uncompressed message, or in a trailers-only response. The
 * message is checked as it arrives: a compressed flag, a length above
 * the peer's max_message or bytes after the first message reset the
 * stream at once instead of being buffered.
 *
 * Results never reach a callback from inside libnghttp2 or from inside
 * gwf_grpc_call_start / gwf_grpc_call_cancel: a call that ends is put on
 * the client's done list, delivered when the host callback that ended
 * it is about to return (or by a zero-delay timer when it ended outside
 * one). A callback may then do anything but free the client.
 *
 * Deadlines: one host timer per client, not per call. The calls are
 * kept by deadline (a new call goes at the tail, usually its place:
 * the same timeout, a later start), the timer is armed for the head and
 * left alone when calls end before it; when it fires it ends what is
 * due and is armed for the next. Under load a check thus starts and
 * cancels no timer; with nothing in flight there is none.
 */
#include "grpc_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t
mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- lists -----------------------------------------------------------------
 */

void
grpc_list_push(call_list *l, gwf_grpc_call *call)
{
    call->next = NULL;
    call->prev = l->tail;
    if (l->tail)
        l->tail->next = call;
    else
        l->head = call;
    l->tail = call;
    l->count++;
}

void
grpc_list_unlink(call_list *l, gwf_grpc_call *call)
{
    if (call->prev)
        call->prev->next = call->next;
    else
        l->head = call->next;
    if (call->next)
        call->next->prev = call->prev;
    else
        l->tail = call->prev;
    call->prev = call->next = NULL;
    l->count--;
}

/* ---- ending a call ------------------------------------------------------- */

static void on_deadlines(void *arg);

/* Arm the client's deadline timer for `at` (CLOCK_MONOTONIC ns). */
static int
deadline_arm(gwf_grpc_client *client, uint64_t at)
{
    gwf_instance *inst = client->inst;
    uint64_t now = mono_ns();

    if (client->deadline_armed) {
        inst->host->timer_cancel(inst, client->deadline_timer);
        client->deadline_armed = 0;
    }
    if (inst->host->timer_start(inst, NULL, at > now ? at - now : 0,
                                on_deadlines, client,
                                &client->deadline_timer) != GWF_OK)
        return -1;
    client->deadline_armed = 1;
    client->deadline_at = at;
    return 0;
}

/* Put `call` on client->deadlines in deadline order (from the tail: the
 * newest call usually has the latest deadline). 0, or -1 when the
 * timer its earlier deadline needs cannot be armed (then it is on no
 * list). */
static int
deadline_add(gwf_grpc_call *call)
{
    gwf_grpc_client *client = call->client;
    gwf_grpc_call *after = client->dl_tail;

    while (after && after->deadline_ns > call->deadline_ns)
        after = after->dl_prev;
    if (!after &&
        (!client->deadline_armed || call->deadline_ns < client->deadline_at) &&
        deadline_arm(client, call->deadline_ns) != 0)
        return -1;
    call->dl_prev = after;
    call->dl_next = after ? after->dl_next : client->dl_head;
    if (call->dl_next)
        call->dl_next->dl_prev = call;
    else
        client->dl_tail = call;
    if (after)
        after->dl_next = call;
    else
        client->dl_head = call;
    call->on_deadlines = 1;
    return 0;
}

/* Take `call` off client->deadlines. The timer stays as it is unless no
 * call is left (a worker with nothing in flight has no timer). */
static void
timer_stop(gwf_grpc_call *call)
{
    gwf_grpc_client *client = call->client;

    if (!call->on_deadlines)
        return;
    if (call->dl_prev)
        call->dl_prev->dl_next = call->dl_next;
    else
        client->dl_head = call->dl_next;
    if (call->dl_next)
        call->dl_next->dl_prev = call->dl_prev;
    else
        client->dl_tail = call->dl_prev;
    call->dl_prev = call->dl_next = NULL;
    call->on_deadlines = 0;
    if (!client->dl_head && client->deadline_armed) {
        client->inst->host->timer_cancel(client->inst, client->deadline_timer);
        client->deadline_armed = 0;
    }
}

void
grpc_call_free(gwf_grpc_call *call)
{
    timer_stop(call);
    free(call->message);
    free(call);
}

void
grpc_call_detach(gwf_grpc_call *call, int reset)
{
    h2_conn *conn = call->conn;

    if (call->where == CALL_ON_CONN) {
        grpc_list_unlink(&conn->calls, call);
        if (call->stream_id > 0 && conn->state != CONN_DEAD) {
            /* Nothing of the stream may reach the call any more; a
             * request not sent yet is dropped by the reset. */
            nghttp2_session_set_stream_user_data(conn->session, call->stream_id,
                                                 NULL);
            if (reset)
                nghttp2_submit_rst_stream(conn->session, NGHTTP2_FLAG_NONE,
                                          call->stream_id, NGHTTP2_CANCEL);
        }
    } else if (call->where == CALL_PENDING) {
        grpc_list_unlink(&call->client->pending, call);
    }
    call->conn = NULL;
    call->stream_id = 0;
    call->where = CALL_UNPLACED;
}

static void kick(gwf_grpc_client *client);
static void retire(h2_conn *conn);

static void
finish(gwf_grpc_call *call, int reset)
{
    gwf_grpc_client *client = call->client;

    if (call->conn)
        call->conn_serial = call->conn->serial;
    grpc_call_detach(call, reset);
    timer_stop(call);
    call->where = CALL_DONE;
    grpc_list_push(&client->done, call);
    kick(client);
}

/* A connection on which a call failed takes no new call: whatever the
 * peer did there (a reset, a broken or endless answer, silence until the
 * deadline: perhaps a connection that no longer reaches anyone) must not
 * be what the next call meets. Its other calls go on; it closes once
 * they are done (h2_conn_close_if_idle, after the event). */
static void
retire(h2_conn *conn)
{
    if (conn && (conn->state == CONN_OPEN || conn->state == CONN_CONNECTING))
        conn->state = CONN_DRAINING;
}

void
grpc_call_fail(gwf_grpc_call *call, gwf_grpc_outcome outcome, const char *why,
               int retryable)
{
    retire(call->conn);
    call->result = (gwf_grpc_result){.outcome = outcome,
                                     .status = -1,
                                     .http_status = call->http_status,
                                     .retryable = retryable,
                                     .error = why};
    finish(call, 1);
}

/* ---- delivering results ---------------------------------------------------
 */

static void
on_kick(void *arg)
{
    gwf_grpc_client *client = arg;

    client->kick_armed = 0;
    grpc_client_after_event(client);
}

/* Results found outside a host callback of the client (a connect that
 * failed at once inside gwf_grpc_call_start) wait for a timer. */
static void
kick(gwf_grpc_client *client)
{
    if (client->in_handler || client->kick_armed)
        return;
    if (client->inst->host->timer_start(client->inst, NULL, 0, on_kick, client,
                                        &client->kick_timer) == GWF_OK)
        client->kick_armed = 1;
}

void
grpc_client_deliver(gwf_grpc_client *client)
{
    client->in_handler++; /* results found meanwhile: this loop takes them */
    while (client->done.head) {
        gwf_grpc_call *call = client->done.head;

        grpc_list_unlink(&client->done, call);
        call->where = CALL_DELIVERING;
        call->cb(call->arg, call, &call->result);
        grpc_call_free(call);
    }
    client->in_handler--;
}

/* Write the connections calls were put on since their last write: the
 * calls a loop turn starts leave together, in one send per connection
 * (HTTP/2 carries them side by side), instead of a send each. 1 if any
 * was due. */
static int
flush_due(gwf_grpc_client *client)
{
    int any = 0;

    for (h2_conn *c = client->conns, *next; c; c = next) {
        next = c->next; /* a failed flush frees `c`, never another */
        if (!c->flush_due || c->busy)
            continue; /* a busy one flushes as its handler ends */
        any = 1;
        h2_conn_flush(c);
    }
    return any;
}

void
grpc_client_after_event(gwf_grpc_client *client)
{
    if (client->in_handler)
        return;
    /* A flush that fails hands its calls back (retried or failed), and a
     * callback may start new calls: round again until all is out. */
    do {
        grpc_client_place_pending(client);
        grpc_client_deliver(client);
    } while (flush_due(client) && (client->done.head || client->pending.head));
    if (client->kick_armed && !client->done.head) {
        client->inst->host->timer_cancel(client->inst, client->kick_timer);
        client->kick_armed = 0;
    }
}

/* ---- sending ----------------------------------------------------------------
 */

static ssize_t
read_body(nghttp2_session *session, int32_t stream_id, uint8_t *buf,
          size_t length, uint32_t *flags, nghttp2_data_source *source,
          void *arg)
{
    gwf_grpc_call *call =
        nghttp2_session_get_stream_user_data(session, stream_id);
    size_t n;

    (void)source;
    (void)arg;
    if (!call)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    n = call->body_len - call->body_sent;
    if (n > length)
        n = length;
    memcpy(buf, (const uint8_t *)call->body + call->body_sent, n);
    call->body_sent += n;
    if (call->body_sent == call->body_len)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

/* gwf/sdk_grpc.h: the count of the finest unit that fits in 8 digits,
 * rounded up without overflow (ns / unit + 1 for a remainder). Hours
 * always fit: UINT64_MAX ns is 5124096H; the clamp is only a guard. */
size_t
gwf_grpc_timeout_text(char *out, size_t size, uint64_t ns)
{
    static const struct {
        uint64_t ns;
        char unit;
    } units[] = {{UINT64_C(1000), 'u'},
                 {UINT64_C(1000000), 'm'},
                 {UINT64_C(1000000000), 'S'},
                 {UINT64_C(60000000000), 'M'},
                 {UINT64_C(3600000000000), 'H'}};
    size_t last = sizeof(units) / sizeof(units[0]) - 1, i = 0, len;
    char digits[20];
    uint64_t n;

    for (;; i++) {
        n = ns / units[i].ns + (ns % units[i].ns != 0);
        if (n <= 99999999 || i == last)
            break;
    }
    if (n > 99999999)
        n = 99999999;
    len = gwf_u64_text(digits, n); /* at most 8 digits; then the unit */
    if (len + 1 >= size) {
        if (size)
            out[0] = '\0';
        return 0;
    }
    memcpy(out, digits, len);
    out[len] = units[i].unit;
    out[len + 1] = '\0';
    return len + 1;
}

#define NV(n, v, vlen)                                                         \
    {                                                                          \
        (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, (vlen),                 \
            NGHTTP2_NV_FLAG_NONE                                               \
    }

int
grpc_call_submit(h2_conn *conn, gwf_grpc_call *call)
{
    const gwf_grpc_peer *peer = conn->client->peer;
    char timeout[GWF_GRPC_TIMEOUT_TEXT_SIZE];
    uint64_t now = mono_ns();
    nghttp2_data_provider body = {.read_callback = read_body};
    uint64_t left = call->deadline_ns > now ? call->deadline_ns - now : 1;
    int32_t id;

    /* Rounded up to the millisecond: the server's deadline is at most
     * 1 ms after ours (which ends the call first anyway), and a call sent
     * as it starts carries its whole timeout, the same text call after
     * call, which HPACK sends as one byte (an indexed field) instead of
     * a new literal that churns the dynamic table. */
    if (left <= UINT64_MAX - 999999)
        left = (left + 999999) / 1000000 * 1000000;
    gwf_grpc_timeout_text(timeout, sizeof(timeout), left);
    {
        const nghttp2_nv nva[] = {
            NV(":method", "POST", 4),
            NV(":scheme", "http", 4),
            NV(":path", call->path, call->path_len),
            NV(":authority", peer->authority, strlen(peer->authority)),
            NV("content-type", "application/grpc", 16),
            NV("te", "trailers", 8),
            NV("grpc-timeout", timeout, strlen(timeout)),
        };
        call->body_sent = 0;
        id = nghttp2_submit_request(conn->session, NULL, nva,
                                    sizeof(nva) / sizeof(nva[0]), &body, call);
    }
    if (id < 0)
        return -1;
    call->conn = conn;
    call->stream_id = id;
    call->where = CALL_ON_CONN;
    call->phase = 0;
    call->http_status = 0;
    call->status_in_headers = call->status_in_trailers = 0;
    call->header_fields = call->header_bytes = 0;
    call->grpc_message_len = 0;
    call->expected = 0;
    call->prefix_len = 0;
    call->message_len = 0;
    free(call->message);
    call->message = NULL;
    grpc_list_push(&conn->calls, call);
    return 0;
}

/* A connection with room, or a new one; the least loaded one when every
 * connection is full and there are as many as allowed. NULL when none
 * can be had. `*fresh` says a new one must be started after the submit. */
static h2_conn *
choose(gwf_grpc_client *client, int *fresh)
{
    h2_conn *least = NULL;

    *fresh = 0;
    for (h2_conn *c = client->conns, *next; c; c = next) {
        next = c->next;
        if (c->state != CONN_OPEN && c->state != CONN_CONNECTING)
            continue;
        if (h2_conn_revive(c) != 0)
            continue; /* closed while idle: freed */
        if (c->state != CONN_OPEN && c->state != CONN_CONNECTING)
            continue; /* a GOAWAY read just now: no new calls on it */
        if (h2_conn_has_room(c))
            return c;
        if (!least || c->calls.count < least->calls.count)
            least = c;
    }
    if (client->nconns < GWF_GRPC_MAX_CONNECTIONS || !least) {
        h2_conn *c = h2_conn_new(client);
        if (c) {
            *fresh = 1;
            return c;
        }
    }
    return least;
}

/* Put `call` (unplaced, on no list) on a connection and send it. */
static void
place(gwf_grpc_client *client, gwf_grpc_call *call)
{
    int fresh;
    h2_conn *conn = choose(client, &fresh);

    if (!conn || grpc_call_submit(conn, call) != 0) {
        if (conn && fresh)
            h2_conn_fail(conn, "cannot start the call");
        grpc_call_fail(call, GWF_GRPC_FAILED,
                       "no connection to the gRPC peer can take the call", 1);
        return;
    }
    if (fresh) {
        h2_conn_start(conn); /* may fail it, and the call with it */
    } else if (!conn->busy) {
        /* Written after this loop turn's events (the kick, or the end of
         * the handler running now), with the turn's other calls. */
        conn->flush_due = 1;
        kick(client);
        if (!client->in_handler && !client->kick_armed)
            h2_conn_flush(conn); /* no timer: write it now */
    }
}

void
grpc_client_place_pending(gwf_grpc_client *client)
{
    while (client->pending.head) {
        gwf_grpc_call *call = client->pending.head;

        grpc_list_unlink(&client->pending, call);
        call->where = CALL_UNPLACED;
        place(client, call);
    }
}

/* ---- reading the answer
 * ------------------------------------------------------- */

static gwf_grpc_call *
call_of(nghttp2_session *session, int32_t stream_id)
{
    return nghttp2_session_get_stream_user_data(session, stream_id);
}

/* The answer broke the rules: the call fails now and its stream is
 * reset. From inside a session callback: only marks and resets. */
static void
break_call(gwf_grpc_call *call, const char *why)
{
    grpc_call_fail(call, GWF_GRPC_FAILED, why, 0);
}

static int
parse_status(const uint8_t *v, size_t len, int *out)
{
    int n = 0;

    if (len == 0 || len > 9)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        n = n * 10 + (v[i] - '0');
    }
    *out = n;
    return 0;
}

static int
on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame,
                 void *arg)
{
    gwf_grpc_call *call = call_of(session, frame->hd.stream_id);

    (void)arg;
    if (call) {
        call->header_fields = 0;
        call->header_bytes = 0;
    }
    return 0;
}

static int
on_header(nghttp2_session *session, const nghttp2_frame *frame,
          const uint8_t *name, size_t namelen, const uint8_t *value,
          size_t valuelen, uint8_t flags, void *arg)
{
    gwf_grpc_call *call = call_of(session, frame->hd.stream_id);
    int trailers;

    (void)flags;
    (void)arg;
    if (!call || frame->hd.type != NGHTTP2_HEADERS)
        return 0;
    if (++call->header_fields > GRPC_MAX_HEADER_FIELDS ||
        (call->header_bytes += namelen + valuelen) > GRPC_MAX_HEADER_BYTES) {
        /* nghttp2 resets the stream (break_call already queued the
         * RST_STREAM with its code, as nghttp2's documentation of this
         * callback advises) and calls nothing more for this block. */
        break_call(call, "the gRPC answer has too many header fields");
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    trailers = call->phase >= 1;
    if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
        if (parse_status(value, valuelen, &call->http_status) != 0)
            break_call(call, "the gRPC answer's :status is malformed");
    } else if (namelen == 11 && memcmp(name, "grpc-status", 11) == 0) {
        if (parse_status(value, valuelen, &call->grpc_status) != 0) {
            break_call(call, "the gRPC answer's grpc-status is malformed");
            return 0;
        }
        if (trailers)
            call->status_in_trailers = 1;
        else
            call->status_in_headers = 1;
    } else if (namelen == 12 && memcmp(name, "grpc-message", 12) == 0) {
        size_t n = valuelen < sizeof(call->grpc_message)
                       ? valuelen
                       : sizeof(call->grpc_message);
        memcpy(call->grpc_message, value, n);
        call->grpc_message_len = n;
    }
    /* grpc-encoding is not an error by itself: a compressed message is
     * (its flag byte, on_data). */
    return 0;
}

static int
on_data(nghttp2_session *session, uint8_t flags, int32_t stream_id,
        const uint8_t *data, size_t len, void *arg)
{
    gwf_grpc_call *call = call_of(session, stream_id);
    uint32_t max;
    size_t have;

    (void)flags;
    (void)arg;
    if (!call)
        return 0;
    if (call->phase != 1 || call->status_in_headers) {
        break_call(call, "the gRPC answer has data outside its message");
        return 0;
    }
    max = call->client->peer->max_message;
    /* The prefix first, into its own 5 bytes: its length bounds what is
     * kept, and the message's buffer is sized once. */
    while (len > 0 && call->prefix_len < 5) {
        call->prefix[call->prefix_len++] = *data++;
        len--;
        if (call->prefix_len < 5)
            continue;
        if (call->prefix[0] != 0) {
            break_call(call, "the gRPC answer's message is compressed");
            return 0;
        }
        call->expected = (uint32_t)call->prefix[1] << 24 |
                         (uint32_t)call->prefix[2] << 16 |
                         (uint32_t)call->prefix[3] << 8 | call->prefix[4];
        if (call->expected > max) {
            break_call(call, "the gRPC answer's message is longer than "
                             "allowed");
            return 0;
        }
        if (call->expected > 0 && !(call->message = malloc(call->expected))) {
            break_call(call, "out of memory for the gRPC answer");
            return 0;
        }
    }
    have = call->message_len;
    if (len == 0)
        return 0;
    if (len > (size_t)call->expected - have) {
        break_call(call, "the gRPC answer has more than one message");
        return 0;
    }
    memcpy(call->message + have, data, len);
    call->message_len += len;
    return 0;
}

int
grpc_on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame,
                   void *arg)
{
    gwf_grpc_call *call;

    (void)arg;
    if (frame->hd.type != NGHTTP2_HEADERS)
        return 0;
    call = call_of(session, frame->hd.stream_id);
    if (!call)
        return 0;
    if (call->phase == 0) {
        if (call->http_status >= 100 && call->http_status < 200) {
            /* informational: the response is still to come, and nothing
             * of this block is part of it */
            call->status_in_headers = 0;
            call->grpc_message_len = 0;
            return 0;
        }
        call->phase = 1;
    } else {
        call->phase = 2;
    }
    return 0;
}

/* The stream ended: judge what came. */
static void
judge(gwf_grpc_call *call, uint32_t error_code)
{
    const uint8_t *msg = NULL;
    size_t msg_len = 0;
    int status;

    if (error_code != NGHTTP2_NO_ERROR) {
        grpc_call_fail(call, GWF_GRPC_FAILED,
                       error_code == NGHTTP2_REFUSED_STREAM
                           ? "the gRPC peer refused the stream"
                           : "the gRPC peer reset the stream",
                       error_code == NGHTTP2_REFUSED_STREAM ||
                           call->http_status == 0);
        return;
    }
    if (call->http_status != 200) {
        grpc_call_fail(call, GWF_GRPC_FAILED,
                       call->http_status
                           ? "the gRPC peer did not answer 200"
                           : "the gRPC peer ended the stream unanswered",
                       call->http_status >= 500 || call->http_status == 0);
        return;
    }
    if (call->status_in_trailers)
        status = call->grpc_status;
    else if (call->status_in_headers && call->phase == 1 &&
             call->prefix_len == 0)
        status = call->grpc_status; /* trailers-only */
    else {
        grpc_call_fail(call, GWF_GRPC_FAILED,
                       "the gRPC answer has no grpc-status", 0);
        return;
    }
    if (status == 0) {
        if (call->prefix_len < 5 || call->message_len != call->expected) {
            grpc_call_fail(call, GWF_GRPC_FAILED,
                           call->prefix_len == 0
                               ? "the gRPC answer has no message"
                               : "the gRPC answer's message is shorter "
                                 "than its length prefix",
                           0);
            return;
        }
        msg = call->message ? call->message : (const uint8_t *)"";
        msg_len = call->expected;
    }
    call->result = (gwf_grpc_result){.outcome = GWF_GRPC_ANSWERED,
                                     .status = status,
                                     .grpc_message = call->grpc_message,
                                     .grpc_message_len = call->grpc_message_len,
                                     .message = msg,
                                     .message_len = msg_len,
                                     .http_status = call->http_status};
    finish(call, 0);
}

static int
on_stream_close(nghttp2_session *session, int32_t stream_id,
                uint32_t error_code, void *arg)
{
    gwf_grpc_call *call = call_of(session, stream_id);
    h2_conn *conn = arg;

    if (!call)
        return 0;
    /* The stream is gone: no reset, and no user data to clear. */
    call->conn_serial = conn->serial;
    grpc_list_unlink(&conn->calls, call);
    call->where = CALL_UNPLACED;
    call->stream_id = 0;
    call->conn = NULL;
    nghttp2_session_set_stream_user_data(session, stream_id, NULL);
    judge(call, error_code);
    if (call->result.outcome != GWF_GRPC_ANSWERED)
        retire(conn);
    return 0;
}

static int
on_frame_not_send(nghttp2_session *session, const nghttp2_frame *frame,
                  int lib_error_code, void *arg)
{
    h2_conn *conn = arg;

    (void)session;
    (void)lib_error_code;
    if (frame->hd.type != NGHTTP2_HEADERS)
        return 0;
    /* A request that could not be sent (the session is going away): its
     * call is found by stream id, rare enough for a walk. */
    for (gwf_grpc_call *c = conn->calls.head; c; c = c->next) {
        if (c->stream_id == frame->hd.stream_id) {
            grpc_call_fail(c, GWF_GRPC_FAILED,
                           "the call could not be sent to the gRPC peer", 1);
            break;
        }
    }
    return 0;
}

void
grpc_on_goaway(h2_conn *conn, int32_t last_stream_id)
{
    gwf_grpc_call *call = conn->calls.head;

    while (call) {
        gwf_grpc_call *next = call->next;

        if (call->stream_id > last_stream_id) {
            /* Not processed by the peer: once more elsewhere. */
            if (call->retried) {
                grpc_call_fail(call, GWF_GRPC_FAILED,
                               "the gRPC peer went away (GOAWAY) before "
                               "processing the call",
                               1);
            } else {
                call->retried = 1;
                grpc_call_detach(call, 0);
                grpc_list_push(&call->client->pending, call);
                call->where = CALL_PENDING;
            }
        }
        call = next;
    }
}

void
grpc_call_set_callbacks(nghttp2_session_callbacks *cbs)
{
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs,
                                                            on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs,
                                                           on_stream_close);
    nghttp2_session_callbacks_set_on_frame_not_send_callback(cbs,
                                                             on_frame_not_send);
}

/* ---- the public functions ---------------------------------------------------
 */

/* The client's deadline timer: every call whose deadline passed ends
 * with GWF_GRPC_DEADLINE (its stream reset), then the timer is armed
 * for the next deadline. */
static void
on_deadlines(void *arg)
{
    gwf_grpc_client *client = arg;
    uint64_t now = mono_ns();

    client->deadline_armed = 0;
    client->in_handler++;
    while (client->dl_head && client->dl_head->deadline_ns <= now) {
        gwf_grpc_call *call = client->dl_head;
        h2_conn *conn = call->conn;

        grpc_call_fail(call, GWF_GRPC_DEADLINE,
                       "the gRPC peer did not answer before the deadline", 0);
        /* The RST_STREAM out; a flush that fails frees the connection
         * (and ends its other calls, which leave this list). */
        if (conn && !conn->busy && h2_conn_flush(conn) == 0)
            h2_conn_close_if_idle(conn);
    }
    if (client->dl_head && deadline_arm(client, client->dl_head->deadline_ns)) {
        /* No timer: the calls cannot wait for their deadlines. */
        while (client->dl_head)
            grpc_call_fail(client->dl_head, GWF_GRPC_FAILED,
                           "cannot start a timer", 0);
    }
    client->in_handler--;
    grpc_client_after_event(client);
}

gwf_grpc_client *
gwf_grpc_client_new(gwf_instance *inst, const gwf_grpc_peer *peer)
{
    gwf_grpc_client *client;

    if (!inst || !peer)
        return NULL;
    client = calloc(1, sizeof(*client));
    if (!client)
        return NULL;
    client->inst = inst;
    client->peer = peer;
    client->known_max_streams = 100;
    return client;
}

void
gwf_grpc_client_free(gwf_grpc_client *client)
{
    if (!client)
        return;
    while (client->conns)
        h2_conn_destroy(client->conns);
    while (client->pending.head) {
        gwf_grpc_call *call = client->pending.head;
        grpc_list_unlink(&client->pending, call);
        grpc_call_free(call);
    }
    while (client->done.head) {
        gwf_grpc_call *call = client->done.head;
        grpc_list_unlink(&client->done, call);
        grpc_call_free(call);
    }
    if (client->kick_armed)
        client->inst->host->timer_cancel(client->inst, client->kick_timer);
    if (client->deadline_armed)
        client->inst->host->timer_cancel(client->inst, client->deadline_timer);
    free(client);
}

size_t
gwf_grpc_client_connections(const gwf_grpc_client *client)
{
    return client ? client->nconns : 0;
}

size_t
gwf_grpc_client_buffered(const gwf_grpc_client *client)
{
    size_t n = 0;

    for (const h2_conn *c = client ? client->conns : NULL; c; c = c->next)
        n += c->out_len - c->out_off;
    return n;
}

gwf_grpc_call *
gwf_grpc_call_start(gwf_grpc_client *client, const char *path, const void *body,
                    size_t body_len, uint64_t timeout_ns, gwf_grpc_cb cb,
                    void *arg)
{
    gwf_grpc_call *call;

    if (!client || !path || path[0] != '/' || (!body && body_len) ||
        timeout_ns == 0 || !cb)
        return NULL;
    call = calloc(1, sizeof(*call));
    if (!call)
        return NULL;
    call->client = client;
    call->cb = cb;
    call->arg = arg;
    call->path = path;
    call->path_len = strlen(path);
    call->body = body;
    call->body_len = body_len;
    call->deadline_ns = mono_ns() + timeout_ns;
    if (call->deadline_ns < timeout_ns)
        call->deadline_ns = UINT64_MAX; /* never, in practice */
    if (deadline_add(call) != 0) {
        grpc_call_free(call);
        return NULL;
    }
    call->where = CALL_UNPLACED;
    place(client, call);
    return call;
}

void
gwf_grpc_call_distrust(gwf_grpc_call *call)
{
    if (!call || call->where != CALL_DELIVERING || !call->conn_serial)
        return;
    for (h2_conn *c = call->client->conns; c; c = c->next) {
        if (c->serial != call->conn_serial)
            continue;
        retire(c);
        if (!c->busy)
            h2_conn_close_if_idle(c); /* may free it: nothing after */
        return;
    }
}

void
gwf_grpc_call_cancel(gwf_grpc_call *call)
{
    h2_conn *conn;

    if (!call || call->where == CALL_DELIVERING)
        return;
    if (call->where == CALL_DONE) {
        grpc_list_unlink(&call->client->done, call);
        grpc_call_free(call);
        return;
    }
    conn = call->conn;
    /* Given up on before any answer (the caller's own deadline, or its
     * client went away): the peer may be stuck, or the connection lead
     * nowhere; the next call takes a new one. */
    if (call->where == CALL_ON_CONN && call->http_status == 0)
        retire(conn);
    grpc_call_detach(call, 1);
    grpc_call_free(call);
    /* The RST_STREAM out; a flush that fails frees the connection. */
    if (conn && !conn->busy && h2_conn_flush(conn) == 0)
        h2_conn_close_if_idle(conn);
}
