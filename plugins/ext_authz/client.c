/*
 * client.c - libcurl on the host's event loop.
 *
 * Each worker owns one curl multi handle per configured instance, driven
 * on the host's loop by the SDK's gwf_curl_loop (gwf/sdk_curl.h):
 * worker-scope fd watches and one timer, events fed back with
 * curl_multi_socket_action. Nothing here blocks.
 *
 * Why one multi per worker: the multi handle owns the connection cache, so
 * checks on one worker reuse kept-alive connections (and, for gRPC, one
 * multiplexed HTTP/2 connection) without locks. Each check is one easy
 * handle that lives exactly as long as the stream's check: the stream's
 * destroy removes it, which cancels a check whose client went away.
 *
 * libcurl forbids re-entering the multi handle from its own callbacks, so
 * completed transfers are collected after curl_multi_socket_action
 * returns, and their owners are told then (ea_call.done). A transfer
 * libcurl calls a success is one only when its answer arrived whole
 * (gwf_curl_answer_result): an answer cut short is CURLE_PARTIAL_FILE,
 * an error for either mode, like a reset.
 *
 * A worker hands libcurl at most EA_MAX_ACTIVE_CALLS checks at once; the
 * others wait in its own queue (a doubly linked list: a check that times
 * out while waiting leaves it in O(1)). That bounds the connections, so
 * the descriptors, a worker spends on a server that stopped answering.
 *
 * Work that comes by the thousand in one turn of the loop (checks whose
 * requestTimeout passed together) runs EA_LATER_BATCH items a turn
 * (ea_later): the first ones at once, the rest queued for the next
 * turns, so that the worker's other requests go on meanwhile. A "turn"
 * is the time between two firings of a 1 ms worker timer.
 *
 * Request timeouts are not libcurl's: the filter runs them on host timers,
 * so they follow the host's clock (which tests step by hand).
 */
#include "ext_authz.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

struct ea_worker {
    const ea_config *cfg;
    gwf_instance *inst;
    CURLM *multi;
    gwf_curl_loop *loop; /* drives `multi` on the host loop */
    /* HTTP mode to a plain-http server: the SDK's HTTP/1.1 client's
     * kept-alive connections (NULL otherwise) */
    gwf_http_pool *http_pool;
    /* gRPC mode to a plain-http server: the SDK's h2c gRPC client (one
     * multiplexed connection), NULL otherwise */
    gwf_grpc_client *grpc;
    /* Easy handles of finished checks, reset and kept for the next ones:
     * saves their setup, and keeps alive the handle a cached HTTP/2
     * connection was opened with. */
    CURL *pool[EA_EASY_POOL];
    size_t pooled;
    /* Calls in the multi handle, at most EA_MAX_ACTIVE_CALLS; the others
     * wait in this queue, oldest first. Ours, not libcurl's: libcurl
     * 7.88 walks its own pending list for every removal, and ten
     * thousand checks timing out would make that quadratic. */
    size_t active;
    ea_call *queue_head, *queue_tail;
    /* ea_later items, oldest first, and the timer that runs them */
    ea_later *later_head, *later_tail;
    uint64_t later_timer;
    int later_armed;
    unsigned later_ran;    /* run since the timer last fired: this turn */
    uint64_t random_state; /* ea_worker_random: xorshift64*, never 0 */
};

/* ---- pairs and names ------------------------------------------------- */

/* Room for one more in `*items` (of `count`, with room for `*cap`),
 * doubling: 0, or -1 when out of memory. */
static int
grow(void **items, size_t count, size_t *cap, size_t size)
{
    size_t want;
    void *grown;

    if (count < *cap)
        return 0;
    want = count ? count * 2 : 4;
    if (want > SIZE_MAX / size)
        return -1;
    grown = realloc(*items, want * size);
    if (!grown)
        return -1;
    *items = grown;
    *cap = want;
    return 0;
}

static int
pairs_add(ea_pairs *p, const char *name, size_t name_len, const char *value,
          size_t value_len, int lowercase)
{
    void *items = p->items;
    char *n, *v;

    if (grow(&items, p->count, &p->cap, sizeof(*p->items)) != 0)
        return -1;
    p->items = items;
    n = malloc(name_len + 1);
    v = malloc(value_len + 1);
    if (!n || !v) {
        free(n);
        free(v);
        return -1;
    }
    for (size_t i = 0; i < name_len; i++)
        n[i] = lowercase ? (char)tolower((unsigned char)name[i]) : name[i];
    n[name_len] = '\0';
    if (value_len)
        memcpy(v, value, value_len);
    v[value_len] = '\0';
    p->items[p->count].name = n;
    p->items[p->count].value = v;
    p->count++;
    return 0;
}

int
ea_pairs_add(ea_pairs *p, const char *name, size_t name_len, const char *value,
             size_t value_len)
{
    return pairs_add(p, name, name_len, value, value_len, 1);
}

int
ea_pairs_add_exact(ea_pairs *p, const char *name, size_t name_len,
                   const char *value, size_t value_len)
{
    return pairs_add(p, name, name_len, value, value_len, 0);
}

void
ea_pairs_free(ea_pairs *p)
{
    for (size_t i = 0; i < p->count; i++) {
        free(p->items[i].name);
        free(p->items[i].value);
    }
    free(p->items);
    p->items = NULL;
    p->count = 0;
    p->cap = 0;
}

const ea_pair *
ea_pairs_find(const ea_pairs *p, const char *name, size_t index)
{
    for (size_t i = 0; i < p->count; i++) {
        if (strcasecmp(p->items[i].name, name) == 0 && index-- == 0)
            return &p->items[i];
    }
    return NULL;
}

/* ASCII lower case, whatever the locale: header names are tokens. */
static unsigned
fold(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? c + 32u : c;
}

/* FNV-1a of `name` lower-cased: the index's hash, the same for any case
 * of a name. */
static uint32_t
name_hash(const char *name, size_t len)
{
    uint32_t h = 2166136261u;

    for (size_t i = 0; i < len; i++)
        h = (h ^ fold((unsigned char)name[i])) * 16777619u;
    return h;
}

/* `name` (any case, `len` bytes) is `item` (lowercase, NUL-ended). */
static int
name_is(const char *name, size_t len, const char *item)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!item[i] || fold(c) != (unsigned char)item[i])
            return 0;
    }
    return item[len] == '\0';
}

/* The index slot holding `name`, or the empty slot where it would go. */
static size_t
index_slot(const ea_names *n, const char *name, size_t len)
{
    size_t i = name_hash(name, len) & n->index_mask;

    while (n->index[i] && !name_is(name, len, n->items[n->index[i] - 1]))
        i = (i + 1) & n->index_mask;
    return i;
}

/* Makes room in the index for one more name (at most half full), or
 * -1 when out of memory (the list is left as it was). */
static int
index_reserve(ea_names *n)
{
    size_t size = n->index ? n->index_mask + 1 : 0, want;
    uint32_t *old = n->index;
    size_t old_mask = n->index_mask;

    if ((n->count + 1) * 2 <= size)
        return 0;
    if (n->count >= UINT32_MAX / 4)
        return -1;
    want = size ? size * 2 : 16;
    if (!(n->index = calloc(want, sizeof(*n->index)))) {
        n->index = old;
        return -1;
    }
    n->index_mask = want - 1;
    for (size_t i = 0; old && i <= old_mask; i++) {
        if (!old[i])
            continue;
        const char *item = n->items[old[i] - 1];
        n->index[index_slot(n, item, strlen(item))] = old[i];
    }
    free(old);
    return 0;
}

static char *
lower_copy(const char *name, size_t len)
{
    char *copy = malloc(len + 1);

    if (!copy)
        return NULL;
    for (size_t i = 0; i < len; i++)
        copy[i] = (char)fold((unsigned char)name[i]);
    copy[len] = '\0';
    return copy;
}

int
ea_names_append(ea_names *n, const char *name, size_t len)
{
    void *items = n->items;
    char *copy;

    if (n->index || grow(&items, n->count, &n->cap, sizeof(*n->items)) != 0)
        return -1;
    n->items = items;
    if (!(copy = lower_copy(name, len)))
        return -1;
    n->items[n->count++] = copy;
    return 0;
}

int
ea_names_add(ea_names *n, const char *name, size_t len)
{
    void *items = n->items;
    char *copy;
    size_t slot;

    if ((n->count && !n->index) || index_reserve(n) != 0 ||
        grow(&items, n->count, &n->cap, sizeof(*n->items)) != 0)
        return -1; /* built with ea_names_append: not searchable */
    n->items = items;
    if (!(copy = lower_copy(name, len)))
        return -1;
    slot = index_slot(n, copy, len);
    n->items[n->count++] = copy;
    if (!n->index[slot])
        n->index[slot] = (uint32_t)n->count;
    return 0;
}

long
ea_names_find(const ea_names *n, const char *name, size_t len)
{
    if (!n->index)
        return -1;
    uint32_t at = n->index[index_slot(n, name, len)];
    return at ? (long)at - 1 : -1;
}

int
ea_names_has(const ea_names *n, const char *name, size_t len)
{
    return ea_names_find(n, name, len) >= 0;
}

void
ea_names_free(ea_names *n)
{
    for (size_t i = 0; i < n->count; i++)
        free(n->items[i]);
    free(n->items);
    free(n->index);
    n->items = NULL;
    n->index = NULL;
    n->index_mask = 0;
    n->count = 0;
    n->cap = 0;
}

int
ea_transport_retryable(CURLcode result)
{
    switch (result) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_PARTIAL_FILE:
        return 1;
    default:
        return 0;
    }
}

void
ea_verdict_free(ea_verdict *v)
{
    ea_pairs_free(&v->to_upstream_set);
    ea_pairs_free(&v->to_upstream_add);
    ea_names_free(&v->to_upstream_remove);
    ea_pairs_free(&v->to_client);
    ea_pairs_free(&v->to_client_set);
    ea_pairs_free(&v->query_set);
    ea_pairs_free(&v->query_remove);
    free(v->body);
    free(v->dynamic_metadata);
    memset(v, 0, sizeof(*v));
}

/* ---- reading the answer -------------------------------------------- */

static size_t
on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    ea_call *call = arg;
    size_t len = size * nmemb;

    call->received += len;
    if (call->received > EA_MAX_RESPONSE_BYTES) {
        call->too_big = 1;
        return 0; /* libcurl fails the transfer: CURLE_WRITE_ERROR */
    }
    gwf_strbuf_append(&call->body, data, len);
    return call->body.failed ? 0 : len;
}

/* The most header lines (and, apart, trailer lines) an answer may have:
 * HTTP mode, maxAnswerHeaders (the answer's headers are its operations);
 * gRPC mode, EA_MAX_GRPC_METADATA (the operations are in the message,
 * bounded while it is decoded). */
static size_t
header_limit(const ea_call *call)
{
    const ea_config *cfg = call->worker ? call->worker->cfg : NULL;

    if (!cfg || cfg->mode == EA_MODE_GRPC)
        return EA_MAX_GRPC_METADATA;
    return cfg->answer_limit.max;
}

static size_t
on_header(char *line, size_t size, size_t nmemb, void *arg)
{
    ea_call *call = arg;
    size_t len = size * nmemb;
    const char *colon;
    size_t name_len, value_start, value_end;
    ea_pairs *into;

    call->received += len;
    if (call->received > EA_MAX_RESPONSE_BYTES) {
        call->too_big = 1;
        return 0;
    }
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        len--;
    if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
        /* A new response (after 1xx): forget the previous one's lines. */
        ea_pairs_free(&call->response_headers);
        ea_pairs_free(&call->trailers);
        call->in_body = 0;
        return size * nmemb;
    }
    if (len == 0) {
        long code = 0;
        curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &code);
        if (code >= 200)
            call->in_body = 1;
        return size * nmemb;
    }
    colon = memchr(line, ':', len);
    if (!colon || colon == line)
        return size * nmemb; /* not a header line: ignore it */
    name_len = (size_t)(colon - line);
    value_start = name_len + 1;
    while (value_start < len &&
           (line[value_start] == ' ' || line[value_start] == '\t'))
        value_start++;
    value_end = len;
    while (value_end > value_start &&
           (line[value_end - 1] == ' ' || line[value_end - 1] == '\t'))
        value_end--;
    into = call->in_body ? &call->trailers : &call->response_headers;
    if (into->count >= header_limit(call)) {
        call->too_many_headers = 1;
        return 0; /* libcurl fails the transfer: CURLE_WRITE_ERROR */
    }
    if (ea_pairs_add(into, line, name_len, line + value_start,
                     value_end - value_start) != 0)
        return 0;
    return size * nmemb;
}

CURL *
ea_call_easy(const ea_config *cfg, ea_call *call)
{
    ea_worker *w = call->worker;
    CURL *easy = w && w->pooled ? w->pool[--w->pooled] : curl_easy_init();

    if (!easy)
        return NULL;
    call->easy = easy;
    curl_easy_setopt(easy, CURLOPT_PRIVATE, call);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, call);
    /* The SDK notes whether the header block ended: libcurl calls an
     * answer cut inside it a success. */
    gwf_curl_answer_track(&call->answer, easy, on_header, call);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
    if (cfg->tls) {
        curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
        if (cfg->ca_file)
            curl_easy_setopt(easy, CURLOPT_CAINFO, cfg->ca_file);
    }
    if (cfg->connect_to)
        curl_easy_setopt(easy, CURLOPT_CONNECT_TO, cfg->connect_to);

    return easy;
}

/* ---- the multi handle on the host loop ------------------------------- */

static void
queue_push(ea_worker *w, ea_call *call)
{
    call->queued = 1;
    call->queue_next = NULL;
    call->queue_prev = w->queue_tail;
    if (w->queue_tail)
        w->queue_tail->queue_next = call;
    else
        w->queue_head = call;
    w->queue_tail = call;
}

static void
queue_unlink(ea_worker *w, ea_call *call)
{
    if (call->queue_prev)
        call->queue_prev->queue_next = call->queue_next;
    else
        w->queue_head = call->queue_next;
    if (call->queue_next)
        call->queue_next->queue_prev = call->queue_prev;
    else
        w->queue_tail = call->queue_prev;
    call->queue_prev = call->queue_next = NULL;
    call->queued = 0;
}

static void on_exchange_done(gwf_http_exchange *x, gwf_http_result result,
                             int status, const gwf_http_response *response,
                             void *arg);

/* A call joins the active ones: into the multi handle, or its exchange
 * sent. No timer of the exchange's own: the filter's requestTimeout
 * bounds the check and cancels the call (ea_call_cleanup). */
static int
enter_multi(ea_worker *w, ea_call *call)
{
    if (call->grpc_lean) {
        if (ea_grpc_send(w, call) != 0)
            return -1;
    } else if (call->lean) {
        if (gwf_http_exchange_start(call->exchange, call->send_body,
                                    call->request_body_len, 0, on_exchange_done,
                                    call) != GWF_OK) {
            call->exchange = NULL; /* freed by the failed start */
            return -1;
        }
    } else if (curl_multi_add_handle(w->multi, call->easy) != CURLM_OK)
        return -1;
    call->in_multi = 1;
    w->active++;
    return 0;
}

/* A call left the multi handle: its place goes to the oldest waiting
 * call. One that cannot be added (out of memory) stays out of the multi
 * handle and ends with its requestTimeout, as an error. Never called from
 * inside libcurl. */
static void
left_multi(ea_worker *w, ea_call *call)
{
    call->in_multi = 0;
    w->active--;
    while (w->queue_head && w->active < EA_MAX_ACTIVE_CALLS) {
        ea_call *next = w->queue_head;

        queue_unlink(w, next);
        enter_multi(w, next);
    }
}

static void
collect_done(ea_worker *w)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(w->multi, &left))) {
        ea_call *call = NULL;

        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&call);
        CURLcode result = msg->data.result;
        curl_multi_remove_handle(w->multi, msg->easy_handle);
        if (!call)
            continue;
        left_multi(w, call);
        result = gwf_curl_answer_result(&call->answer, result);
        curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &call->status);
        if (call->done)
            call->done(call, result, call->done_arg);
    }
}

/* The CURLcode of an exchange's end, so that both transports share
 * ea_http_verdict's notion of retryable; the precise cause stays in
 * call->http_result. */
static CURLcode
exchange_code(ea_call *call, gwf_http_result result)
{
    switch (result) {
    case GWF_HTTP_OK:
        return CURLE_OK;
    case GWF_HTTP_ERR_CONNECT:
        return CURLE_COULDNT_CONNECT;
    case GWF_HTTP_ERR_SEND:
        return CURLE_SEND_ERROR;
    case GWF_HTTP_ERR_RECV:
        return CURLE_RECV_ERROR;
    case GWF_HTTP_ERR_TRUNCATED:
        return call->status ? CURLE_PARTIAL_FILE : CURLE_GOT_NOTHING;
    case GWF_HTTP_ERR_TIMEOUT:
        return CURLE_OPERATION_TIMEDOUT;
    case GWF_HTTP_ERR_TOO_LARGE:
        call->too_big = 1;
        return CURLE_WRITE_ERROR;
    case GWF_HTTP_ERR_TOO_MANY_HEADERS:
        call->too_many_headers = 1;
        return CURLE_WRITE_ERROR;
    case GWF_HTTP_ERR_NO_MEMORY:
        return CURLE_OUT_OF_MEMORY;
    default: /* malformed, ambiguous framing */
        return CURLE_WEIRD_SERVER_REPLY;
    }
}

/* Does an allow (200) read header `name`? Only the lists that copy from
 * it, Connection (which makes names hop-by-hop) and the removals; an
 * allow's other headers (Date, Server, ...) need no copy. */
static int
allow_reads(const ea_config *cfg, const gwf_header *h)
{
    const char *name = h->name.ptr;
    size_t len = h->name.len;

    return (len == 10 && strncasecmp(name, "connection", 10) == 0) ||
           (len == 30 &&
            strncasecmp(name, "x-envoy-auth-headers-to-remove", 30) == 0) ||
           ea_names_has(&cfg->headers_to_backend, name, len) ||
           ea_names_has(&cfg->headers_on_success, name, len);
}

/* The SDK's client finished our exchange (a worker callback; the
 * exchange is freed when this returns). The answer's headers and body
 * are copied into the call, as libcurl's callbacks do (an allow's only
 * where ea_http_verdict reads them). */
static void
on_exchange_done(gwf_http_exchange *x, gwf_http_result result, int status,
                 const gwf_http_response *response, void *arg)
{
    ea_call *call = arg;

    (void)x;
    call->exchange = NULL;
    left_multi(call->worker, call);
    call->status = status;
    if (response) {
        for (size_t i = 0; i < response->header_count; i++) {
            const gwf_header *h = &response->headers[i];
            if (status == 200 && !allow_reads(call->worker->cfg, h))
                continue;
            if (ea_pairs_add(&call->response_headers, h->name.ptr, h->name.len,
                             h->value.ptr, h->value.len) != 0) {
                result = GWF_HTTP_ERR_NO_MEMORY;
                break;
            }
        }
        gwf_strbuf_append(&call->body, response->body, response->body_len);
        if (call->body.failed)
            result = GWF_HTTP_ERR_NO_MEMORY;
    }
    call->http_result = result;
    if (call->done)
        call->done(call, exchange_code(call, result), call->done_arg);
}

/* gwf_curl_loop's progress callback. */
static void
collect_done_cb(void *arg)
{
    collect_done(arg);
}

/* ---- work for a later turn of the loop ------------------------------- */

static void
later_unlink(ea_worker *w, ea_later *later)
{
    if (later->prev)
        later->prev->next = later->next;
    else
        w->later_head = later->next;
    if (later->next)
        later->next->prev = later->prev;
    else
        w->later_tail = later->prev;
    later->prev = later->next = NULL;
    later->queued = 0;
}

static void on_later(void *arg);

/* 1 ms, not 0: a timer due now would run in the turn that is expiring
 * timers already, and the point is to let the loop turn in between. */
static gwf_status
later_arm(ea_worker *w)
{
    if (w->later_armed)
        return GWF_OK;
    if (w->inst->host->timer_start(w->inst, NULL, UINT64_C(1000000), on_later,
                                   w, &w->later_timer) != GWF_OK)
        return GWF_ERR_INTERNAL;
    w->later_armed = 1;
    return GWF_OK;
}

static void
on_later(void *arg)
{
    ea_worker *w = arg;

    w->later_armed = 0;
    w->later_ran = 0; /* a new turn */
    while (w->later_ran < EA_LATER_BATCH && w->later_head) {
        ea_later *later = w->later_head;

        /* Off the list before it runs: it may end its stream. */
        later_unlink(w, later);
        w->later_ran++;
        later->run(later->arg);
    }
    /* Again in the next turn: for what is left, or to reset the count. */
    if (w->later_ran)
        later_arm(w);
}

gwf_status
ea_later_post(ea_worker *w, ea_later *later, void (*run)(void *arg), void *arg)
{
    if (later->queued)
        return GWF_OK;
    if (later_arm(w) != GWF_OK)
        return GWF_ERR_INTERNAL;
    if (!w->later_head && w->later_ran < EA_LATER_BATCH) {
        w->later_ran++; /* within this turn's share: at once */
        run(arg);
        return GWF_OK;
    }
    later->run = run;
    later->arg = arg;
    later->queued = 1;
    later->next = NULL;
    later->prev = w->later_tail;
    if (w->later_tail)
        w->later_tail->next = later;
    else
        w->later_head = later;
    w->later_tail = later;
    return GWF_OK;
}

void
ea_later_cancel(ea_worker *w, ea_later *later)
{
    if (w && later->queued)
        later_unlink(w, later);
}

int
ea_h2c_shared_ok(const ea_config *cfg)
{
    return cfg->mode != EA_MODE_GRPC || cfg->tls ||
           curl_version_info(CURLVERSION_NOW)->version_num >= 0x080000;
}

/* Seeded from the kernel (getrandom); should that fail, from the clock
 * and the worker's address, which still differ between workers. */
static void
random_seed(ea_worker *w)
{
    uint64_t seed = 0;
    struct timespec now;

    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) !=
        (ssize_t)sizeof(seed)) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        seed = (uint64_t)now.tv_nsec ^ ((uint64_t)now.tv_sec << 32) ^
               (uint64_t)(uintptr_t)w;
    }
    w->random_state = seed ? seed : UINT64_C(0x9e3779b97f4a7c15);
}

uint32_t
ea_worker_random(ea_worker *w)
{
    uint64_t x = w->random_state;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    w->random_state = x;
    return (uint32_t)((x * UINT64_C(0x2545F4914F6CDD1D)) >> 32);
}

ea_worker *
ea_worker_new(const ea_config *cfg)
{
    ea_worker *w = calloc(1, sizeof(*w));

    if (!w)
        return NULL;
    w->cfg = cfg;
    w->inst = cfg->instance;
    random_seed(w);
    w->multi = curl_multi_init();
    if (w->multi)
        w->loop = gwf_curl_loop_new(w->inst, w->multi, collect_done_cb, w);
    if (!w->loop) {
        curl_multi_cleanup(w->multi);
        free(w);
        return NULL;
    }
    /* libcurl's default cache follows the number of transfers in flight
     * and prunes idle connections when that number drops: keep a fixed
     * number instead, so that bursts reuse what the last one opened. */
    curl_multi_setopt(w->multi, CURLMOPT_MAXCONNECTS,
                      (long)EA_MAX_IDLE_CONNECTIONS);
    curl_multi_setopt(w->multi, CURLMOPT_PIPELINING,
                      ea_h2c_shared_ok(cfg) ? CURLPIPE_MULTIPLEX
                                            : CURLPIPE_NOTHING);
    if ((cfg->http_peer &&
         !(w->http_pool = gwf_http_pool_new(w->inst, cfg->http_peer))) ||
        (cfg->grpc_peer &&
         !(w->grpc = gwf_grpc_client_new(w->inst, cfg->grpc_peer)))) {
        ea_worker_free(w);
        return NULL;
    }
    return w;
}

void
ea_worker_free(ea_worker *w)
{
    if (!w)
        return;
    /* Streams are gone before worker_stop, so no easy handle is left;
     * cleanup closes the cached connections (telling the curl loop, which
     * cancels their watches). */
    curl_multi_cleanup(w->multi);
    gwf_http_pool_free(w->http_pool);
    gwf_grpc_client_free(w->grpc);
    while (w->pooled)
        curl_easy_cleanup(w->pool[--w->pooled]);
    gwf_curl_loop_free(w->loop);
    if (w->later_armed) /* nothing is queued: the streams are gone */
        w->inst->host->timer_cancel(w->inst, w->later_timer);
    free(w);
}

gwf_grpc_client *
ea_worker_grpc(const ea_worker *w)
{
    return w ? w->grpc : NULL;
}

void
ea_call_left(ea_call *call)
{
    left_multi(call->worker, call);
}

gwf_http_pool *
ea_worker_http_pool(const ea_worker *w)
{
    return w ? w->http_pool : NULL;
}

gwf_status
ea_client_config(ea_config *cfg, gwf_cfg *c)
{
    gwf_http_peer_options options = {
        .limits = {.max_header_bytes = EA_MAX_RESPONSE_BYTES,
                   .max_headers = cfg->answer_limit.max,
                   .max_body_bytes = EA_MAX_RESPONSE_BYTES},
        .max_idle = EA_MAX_IDLE_CONNECTIONS,
        .max_total = EA_MAX_ACTIVE_CALLS,
    };

    (void)c;
    if (cfg->mode != EA_MODE_HTTP || cfg->tls || !cfg->connect_host ||
        cfg->connect_to)
        return GWF_OK;
    /* A name that does not resolve now is left to libcurl, which tries
     * again per check (and fails the check while it does not). */
    gwf_http_peer_new(cfg->connect_host, cfg->connect_port, &options,
                      &cfg->http_peer, NULL, 0);
    return GWF_OK;
}

gwf_status
ea_call_start(ea_worker *w, ea_call *call)
{
    if (call->worker != w)
        return GWF_ERR_BAD_ARGUMENT;
    if (w->active >= EA_MAX_ACTIVE_CALLS) {
        queue_push(w, call);
        return GWF_OK;
    }
    return enter_multi(w, call) == 0 ? GWF_OK : GWF_ERR_INTERNAL;
}

void
ea_call_cleanup(ea_call *call)
{
    if (call->grpc_lean) {
        ea_worker *w = call->worker;
        if (call->queued)
            queue_unlink(w, call);
        gwf_grpc_call_cancel(call->grpc); /* its stream reset (CANCEL) */
        if (call->in_multi)
            left_multi(w, call);
    } else if (call->lean) {
        ea_worker *w = call->worker;
        if (call->queued)
            queue_unlink(w, call);
        /* Closes its connection when the answer was not read whole. */
        gwf_http_exchange_cancel(call->exchange);
        if (call->in_multi)
            left_multi(w, call);
    } else if (call->easy) {
        ea_worker *w = call->worker;
        if (call->queued)
            queue_unlink(w, call);
        if (call->in_multi) {
            curl_multi_remove_handle(w->multi, call->easy);
            left_multi(w, call);
        }
        if (w && w->pooled < EA_EASY_POOL) {
            curl_easy_reset(call->easy);
            w->pool[w->pooled++] = call->easy;
        } else {
            curl_easy_cleanup(call->easy);
        }
    }
    curl_slist_free_all(call->headers);
    free(call->request_body);
    ea_pairs_free(&call->response_headers);
    ea_pairs_free(&call->trailers);
    gwf_strbuf_free(&call->body);
    memset(call, 0, sizeof(*call));
}
