/*
 * testing.c - the in-process test host (gwf/testing.h).
 *
 * It is the runtime with a gwf_loop as its event loop and a manual clock:
 * time moves only when the test says so (gwf_test_advance), so deadlines,
 * token expiry and rate-limit windows are exact, while sockets to real
 * peers still work in real time. Requests run as gwf_exchange, the same
 * in-memory data plane the `gwf` CLI uses.
 */
#include <gwf/testing.h>

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gwf/exchange.h>
#include <gwf/loop.h>

/* 2026-01-01T00:00:00Z */
#define DEFAULT_NOW_NS (1767225600ll * 1000000000ll)
/* The manual monotonic clock starts far from 0, like a real one. */
#define MONO_START_NS 1000000000000ull

struct gwf_test_host {
    gwf_runtime *rt;
    char *plugin_path;
    gwf_loop *loop;
    gwf_worker *worker;
    uint32_t worker_index;
    uint32_t worker_count;
    int64_t realtime_base; /* realtime at MONO_START_NS */
    uint64_t max_pause_ns;
    size_t max_body;
    int fail_prepare; /* gwf_test_host_reply_prepare_fails, for the runtime */
    gwf_buf errors;
    pthread_mutex_t log_lock; /* plugins may log from their own threads */
    gwf_buf logs;
    char *metrics_text;
    int upstream_status;
    char *upstream_headers;
    gwf_buf upstream_body;
    char failing_response_header[64]; /* gwf_test_response_header_fails */
};

struct gwf_test_request {
    gwf_memmsg msg;
    gwf_buf body;
    char remote[64];
    char failing_header[64];       /* gwf_test_request_header_fails; "" none */
    size_t failing_from;           /* its first value index that fails */
    int failing_attribute;         /* gwf_test_request_attribute_fails + 1 */
    char failing_write_header[64]; /* gwf_test_request_header_write_fails */
};

struct gwf_test_result {
    gwf_test_host *host;
    gwf_exchange x;
    bool done;
    char status_text[8];
    char *scratch[8]; /* NUL-terminated copies handed to the test */
    size_t scratch_next;
};

/* -- Strings ------------------------------------------------------------- */

/* A NUL-terminated copy of `len` bytes, which may hold NULs themselves
 * (a body); NULL when out of memory. */
static char *
copy_bytes(const char *s, size_t len)
{
    char *copy = malloc(len + 1);
    if (!copy)
        return NULL;
    if (len)
        memcpy(copy, s, len);
    copy[len] = '\0';
    return copy;
}

/* NULL for NULL, as for out of memory: the caller fails either way. */
static char *
copy_string(const char *s)
{
    return s ? copy_bytes(s, strlen(s)) : NULL;
}

/* -- Errors and logs ------------------------------------------------------- */

static void
errors_reset(gwf_test_host *h)
{
    gwf_buf_set(&h->errors, "", 1);
    h->errors.len = 0;
}

static void errors_add(gwf_test_host *h, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
errors_add(gwf_test_host *h, const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (h->errors.len)
        gwf_buf_append(&h->errors, "\n", 1);
    gwf_buf_append(&h->errors, line, strlen(line));
}

static void
errors_take(gwf_test_host *h, gwf_errors *e)
{
    for (size_t i = 0; i < e->count; i++)
        errors_add(h, "%s", e->lines[i]);
    gwf_errors_free(e);
}

const char *
gwf_test_error(const gwf_test_host *h)
{
    if (!h->errors.len)
        return "";
    /* Keep it NUL-terminated without counting the NUL. */
    gwf_test_host *mh = (gwf_test_host *)h;
    gwf_buf_append(&mh->errors, "", 1);
    mh->errors.len--;
    return h->errors.data;
}

static void
on_log(void *ctx, gwf_log_level level, const char *instance, const char *msg,
       size_t len)
{
    static const char *const names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    gwf_test_host *h = ctx;
    const char *name = level >= 0 && level <= 3 ? names[level] : "ERROR";
    pthread_mutex_lock(&h->log_lock);
    gwf_buf_append(&h->logs, name, strlen(name));
    gwf_buf_append(&h->logs, " ", 1);
    gwf_buf_append(&h->logs, instance, strlen(instance));
    gwf_buf_append(&h->logs, ": ", 2);
    gwf_buf_append(&h->logs, msg, len);
    gwf_buf_append(&h->logs, "\n", 1);
    pthread_mutex_unlock(&h->log_lock);
    if (getenv("GWF_TEST_VERBOSE"))
        fprintf(stderr, "%s %s: %.*s\n", name, instance, (int)len, msg);
}

const char *
gwf_test_logs(const gwf_test_host *h)
{
    gwf_test_host *mh = (gwf_test_host *)h;
    pthread_mutex_lock(&mh->log_lock);
    gwf_buf_append(&mh->logs, "", 1);
    mh->logs.len--;
    pthread_mutex_unlock(&mh->log_lock);
    return h->logs.data;
}

int
gwf_test_log_contains(const gwf_test_host *h, const char *needle)
{
    return strstr(gwf_test_logs(h), needle) != NULL;
}

/* -- Clock ---------------------------------------------------------------- */

static int64_t
clock_realtime(void *ctx)
{
    gwf_test_host *h = ctx;
    return h->realtime_base + (int64_t)(gwf_loop_now(h->loop) - MONO_START_NS);
}

static int64_t
clock_monotonic(void *ctx)
{
    gwf_test_host *h = ctx;
    return (int64_t)gwf_loop_now(h->loop);
}

void
gwf_test_set_now(gwf_test_host *h, int64_t unix_ns)
{
    h->realtime_base =
        unix_ns - (int64_t)(gwf_loop_now(h->loop) - MONO_START_NS);
}

int64_t
gwf_test_now(const gwf_test_host *h)
{
    return clock_realtime((void *)h);
}

void
gwf_test_advance(gwf_test_host *h, uint64_t ns)
{
    gwf_loop_advance(h->loop, ns);
    /* Posts and fds that became ready meanwhile are served too. */
    gwf_loop_run_once(h->loop, 0);
}

void
gwf_test_set_max_pause(gwf_test_host *h, uint64_t ns)
{
    h->max_pause_ns = ns;
}

void
gwf_test_set_max_body(gwf_test_host *h, size_t bytes)
{
    h->max_body = bytes;
}

void
gwf_test_set_worker(gwf_test_host *h, uint32_t index, uint32_t count)
{
    h->worker_index = index;
    h->worker_count = count;
}

/* -- Host ------------------------------------------------------------------ */

gwf_test_host *
gwf_test_host_new(void)
{
    gwf_test_host *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->loop = gwf_loop_new();
    if (!h->loop) {
        free(h);
        return NULL;
    }
    pthread_mutex_init(&h->log_lock, NULL);
    gwf_loop_set_manual_clock(h->loop, MONO_START_NS);
    h->realtime_base = DEFAULT_NOW_NS;
    h->worker_count = 1;
    h->upstream_status = 200;
    return h;
}

static gwf_runtime *
runtime(gwf_test_host *h)
{
    if (h->rt)
        return h->rt;
    gwf_runtime_options opts = {
        .plugin_path = h->plugin_path,
        .log = on_log,
        .log_ctx = h,
        .log_level = GWF_LOG_DEBUG,
        .realtime = clock_realtime,
        .monotonic = clock_monotonic,
        .clock_ctx = h,
        .max_pause_ns = h->max_pause_ns,
        .max_body_bytes = h->max_body,
        .host_name = "gwf-test",
    };
    h->rt = gwf_runtime_new(&opts);
    if (!h->rt)
        errors_add(h, "out of memory creating the runtime");
    else
        gwf_runtime_fail_reply_prepare(h->rt, h->fail_prepare);
    return h->rt;
}

static gwf_worker *
worker(gwf_test_host *h)
{
    if (h->worker)
        return h->worker;
    gwf_event_ops ev;
    gwf_loop_event_ops(h->loop, &ev);
    gwf_errors e = {0};
    h->worker =
        gwf_worker_start(runtime(h), h->worker_index, h->worker_count, &ev, &e);
    errors_take(h, &e);
    return h->worker;
}

void
gwf_test_host_free(gwf_test_host *h)
{
    if (!h)
        return;
    gwf_worker_stop(h->worker);
    gwf_runtime_free(h->rt);
    gwf_loop_free(h->loop);
    free(h->plugin_path);
    free(h->metrics_text);
    free(h->upstream_headers);
    gwf_buf_free(&h->upstream_body);
    gwf_buf_free(&h->errors);
    gwf_buf_free(&h->logs);
    pthread_mutex_destroy(&h->log_lock);
    free(h);
}

int
gwf_test_plugin_path(gwf_test_host *h, const char *dir)
{
    if (h->rt) {
        errors_add(h, "gwf_test_plugin_path: call before loading manifests");
        return -1;
    }
    size_t old = h->plugin_path ? strlen(h->plugin_path) : 0;
    char *path = malloc(strlen(dir) + 1 + old + 1);
    if (!path)
        return -1;
    sprintf(path, "%s%s%s", dir, old ? ":" : "", old ? h->plugin_path : "");
    free(h->plugin_path);
    h->plugin_path = path;
    return 0;
}

int
gwf_test_load_text(gwf_test_host *h, const char *text)
{
    errors_reset(h);
    if (!runtime(h))
        return -1;
    gwf_errors e = {0};
    int r = gwf_runtime_load_text(h->rt, "<test>", text, strlen(text), &e);
    errors_take(h, &e);
    return r;
}

int
gwf_test_load_path(gwf_test_host *h, const char *path)
{
    errors_reset(h);
    if (!runtime(h))
        return -1;
    gwf_errors e = {0};
    int r = gwf_runtime_load(h->rt, path, &e);
    errors_take(h, &e);
    return r;
}

int
gwf_test_validate(gwf_test_host *h)
{
    errors_reset(h);
    if (!runtime(h))
        return -1;
    gwf_errors e = {0};
    int r = gwf_runtime_validate(h->rt, &e);
    errors_take(h, &e);
    return r;
}

void
gwf_test_response_header_fails(gwf_test_host *h, const char *name)
{
    snprintf(h->failing_response_header, sizeof h->failing_response_header,
             "%s", name ? name : "");
}

void
gwf_test_host_reply_memory_fails(gwf_test_host *h, int on)
{
    gwf_runtime_fail_reply_memory(h->rt, on);
}

void
gwf_test_host_reply_prepare_fails(gwf_test_host *h, int on)
{
    h->fail_prepare = on;
    if (h->rt)
        gwf_runtime_fail_reply_prepare(h->rt, on);
}

void
gwf_test_set_upstream(gwf_test_host *h, int status, const char *headers,
                      const char *body, size_t body_len)
{
    h->upstream_status = status;
    free(h->upstream_headers);
    h->upstream_headers = headers ? copy_string(headers) : NULL;
    gwf_buf_set(&h->upstream_body, body, body ? body_len : 0);
}

/* -- Requests -------------------------------------------------------------- */

gwf_test_request *
gwf_test_request_new(const char *method, const char *path)
{
    gwf_test_request *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->msg.method = copy_string(method);
    r->msg.path = copy_string(path);
    r->msg.scheme = copy_string("http");
    if (!r->msg.method || !r->msg.path || !r->msg.scheme) {
        gwf_test_request_free(r);
        return NULL;
    }
    gwf_memmsg_ops.add(&r->msg, "host", 4, "example.com", 11);
    return r;
}

gwf_test_request *
gwf_test_request_parse(gwf_test_host *h, const char *raw, size_t len)
{
    char err[256];
    errors_reset(h);
    gwf_test_request *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    if (gwf_memmsg_parse_request(&r->msg, &r->body, raw, len, err,
                                 sizeof err) != 0) {
        errors_add(h, "request: %s", err);
        gwf_test_request_free(r);
        return NULL;
    }
    return r;
}

void
gwf_test_request_header(gwf_test_request *r, const char *name,
                        const char *value)
{
    gwf_memmsg_ops.add(&r->msg, name, strlen(name), value, strlen(value));
}

void
gwf_test_request_body(gwf_test_request *r, const char *data, size_t len)
{
    gwf_buf_set(&r->body, data, len);
}

void
gwf_test_request_remote(gwf_test_request *r, const char *ip)
{
    snprintf(r->remote, sizeof r->remote, "%s", ip);
}

void
gwf_test_request_header_fails(gwf_test_request *r, const char *name)
{
    gwf_test_request_header_fails_from(r, name, 0);
}

void
gwf_test_request_header_fails_from(gwf_test_request *r, const char *name,
                                   size_t first_index)
{
    snprintf(r->failing_header, sizeof r->failing_header, "%s",
             name ? name : "");
    r->failing_from = first_index;
}

void
gwf_test_request_header_write_fails(gwf_test_request *r, const char *name)
{
    snprintf(r->failing_write_header, sizeof r->failing_write_header, "%s",
             name ? name : "");
}

void
gwf_test_request_attribute_fails(gwf_test_request *r, int32_t attr)
{
    r->failing_attribute = (int)attr + 1;
}

void
gwf_test_request_free(gwf_test_request *r)
{
    if (!r)
        return;
    gwf_memmsg_clear(&r->msg);
    gwf_buf_free(&r->body);
    free(r);
}

/* -- Running ----------------------------------------------------------------
 */

static int
stub_upstream(void *ctx, gwf_exchange *x)
{
    gwf_test_result *res = ctx;
    gwf_test_host *h = res->host;
    if (h->upstream_status == 0)
        return -1; /* the exchange answers 502 for a failed upstream */
    x->response.status = (uint32_t)h->upstream_status;
    const char *p = h->upstream_headers;
    while (p && *p) {
        const char *eol = strstr(p, "\r\n");
        size_t line = eol ? (size_t)(eol - p) : strlen(p);
        const char *colon = memchr(p, ':', line);
        if (colon) {
            const char *v = colon + 1;
            while (v < p + line && (*v == ' ' || *v == '\t'))
                v++;
            gwf_memmsg_ops.add(&x->response, p, (size_t)(colon - p), v,
                               (size_t)(p + line - v));
        }
        p += line + (eol ? 2 : 0);
    }
    gwf_buf_set(&x->response_body, h->upstream_body.data, h->upstream_body.len);
    return 0;
}

static void
on_done(void *ctx, gwf_exchange *x)
{
    (void)x;
    ((gwf_test_result *)ctx)->done = true;
}

static int
copy_request(gwf_exchange *x, const gwf_test_request *req)
{
    if (gwf_memmsg_copy(&x->request, &req->msg) != 0)
        return -1;
    snprintf(x->remote_address, sizeof x->remote_address, "%s", req->remote);
    snprintf(x->failing_header, sizeof x->failing_header, "%s",
             req->failing_header);
    x->failing_from = req->failing_from;
    x->failing_attribute = req->failing_attribute;
    snprintf(x->failing_write_header, sizeof x->failing_write_header, "%s",
             req->failing_write_header);
    return gwf_buf_set(&x->request_body, req->body.data, req->body.len);
}

/* The chain of `route` (NULL, with the errors kept, if it does not
 * build). */
static gwf_chain *
route_chain(gwf_test_host *h, const gwf_test_route *route)
{
    size_t ext_count = 0;
    while (route && route->extensions && route->extensions[ext_count])
        ext_count++;
    gwf_route_refs refs = {
        .policy = route ? route->policy : NULL,
        .extensions = route ? route->extensions : NULL,
        .extension_count = ext_count,
        .direct_response = route ? route->direct_response : NULL,
        .backend = route ? route->backend : NULL,
        .route_name = "test",
    };
    gwf_errors e = {0};
    gwf_chain *chain = gwf_runtime_chain(h->rt, &refs, &e);
    errors_take(h, &e);
    return chain;
}

int
gwf_test_constant_reply(gwf_test_host *h, const gwf_test_route *route)
{
    errors_reset(h);
    if (!runtime(h))
        return -1;
    gwf_chain *chain = route_chain(h, route);
    return chain ? gwf_chain_constant_reply(chain) != NULL : -1;
}

gwf_test_result *
gwf_test_start(gwf_test_host *h, const gwf_test_route *route,
               const gwf_test_request *req, long real_timeout_ms)
{
    errors_reset(h);
    if (!runtime(h) || !req)
        return NULL;
    gwf_chain *chain = route_chain(h, route);
    if (!chain || !worker(h))
        return NULL;
    gwf_test_result *res = calloc(1, sizeof *res);
    if (!res)
        return NULL;
    res->host = h;
    res->x.upstream = stub_upstream;
    res->x.on_done = on_done;
    res->x.ctx = res;
    snprintf(res->x.failing_response_header,
             sizeof res->x.failing_response_header, "%s",
             h->failing_response_header);
    if (copy_request(&res->x, req) != 0 ||
        gwf_exchange_start(&res->x, h->worker, chain) != 0) {
        errors_add(h, "out of memory starting the request");
        gwf_test_result_free(res);
        return NULL;
    }
    gwf_test_wait(h, res, real_timeout_ms);
    return res;
}

/* Run the loop until the request is done, or the real-time bound passes,
 * or nothing has happened for IDLE_MS while no socket is being watched:
 * then only the test's clock can move the request. */
#define IDLE_MS 50

static long
ms_since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - t0->tv_sec) * 1000 +
           (now.tv_nsec - t0->tv_nsec) / 1000000;
}

int
gwf_test_wait(gwf_test_host *h, gwf_test_result *res, long real_timeout_ms)
{
    struct timespec start, last_event;
    clock_gettime(CLOCK_MONOTONIC, &start);
    last_event = start;
    while (!res->done && ms_since(&start) < real_timeout_ms) {
        int ran = gwf_loop_run_once(h->loop, 1000000);
        if (ran < 0)
            break;
        if (ran > 0) {
            clock_gettime(CLOCK_MONOTONIC, &last_event);
            continue;
        }
        if (gwf_worker_fd_watches(h->worker) == 0 &&
            ms_since(&last_event) >= IDLE_MS)
            break;
    }
    return res->done;
}

gwf_test_result *
gwf_test_run(gwf_test_host *h, const gwf_test_route *route,
             const gwf_test_request *req)
{
    return gwf_test_start(h, route, req, 5000);
}

void
gwf_test_abort(gwf_test_host *h, gwf_test_result *res)
{
    (void)h;
    if (res->done)
        return;
    gwf_exchange_abort(&res->x);
    res->x.outcome = GWF_EXCHANGE_ABORTED;
    res->done = true;
}

void
gwf_test_result_free(gwf_test_result *res)
{
    if (!res)
        return;
    gwf_exchange_clear(&res->x);
    for (size_t i = 0; i < 8; i++)
        free(res->scratch[i]);
    free(res);
}

/* -- Outcome ----------------------------------------------------------------
 */

int
gwf_test_outcome(const gwf_test_result *res)
{
    switch (res->x.outcome) {
    case GWF_EXCHANGE_FORWARDED:
        return GWF_TEST_FORWARDED;
    case GWF_EXCHANGE_LOCAL_REPLY:
        return GWF_TEST_LOCAL_REPLY;
    case GWF_EXCHANGE_ABORTED:
        return GWF_TEST_ABORTED;
    default:
        return GWF_TEST_RUNNING;
    }
}

int
gwf_test_status(const gwf_test_result *res)
{
    return res->done ? (int)res->x.response.status : 0;
}

/* A NUL-terminated copy of a view, owned by the result (a ring of 8, so
 * a test can hold a few at once). */
static const char *
keep(const gwf_test_result *cres, gwf_view v)
{
    gwf_test_result *res = (gwf_test_result *)cres;
    char *copy = copy_bytes(v.ptr ? v.ptr : "", v.len);
    size_t slot = res->scratch_next++ % 8;
    free(res->scratch[slot]);
    res->scratch[slot] = copy;
    return copy;
}

/* What the peer got: the reads a test made fail fail only for the chain
 * (`v` points into `m`, or into `seen`'s status text, copied by keep). */
static const char *
header_of(const gwf_test_result *res, const gwf_memmsg *m, const char *name,
          size_t index)
{
    gwf_memmsg seen = *m;
    gwf_view v;

    seen.fail_reads_of = NULL;
    if (gwf_memmsg_ops.get(&seen, name, strlen(name), index, &v) != GWF_OK)
        return NULL;
    return keep(res, v);
}

const char *
gwf_test_header(const gwf_test_result *res, const char *name, size_t index)
{
    if (!res->done || res->x.outcome == GWF_EXCHANGE_ABORTED)
        return NULL;
    return header_of(res, &res->x.response, name, index);
}

const char *
gwf_test_body(const gwf_test_result *res, size_t *len)
{
    if (len)
        *len = res->x.response_body.len;
    gwf_view v = {res->x.response_body.data, res->x.response_body.len};
    return keep(res, v);
}

static bool
forwarded(const gwf_test_result *res)
{
    return res->x.outcome == GWF_EXCHANGE_FORWARDED;
}

const char *
gwf_test_upstream_method(const gwf_test_result *res)
{
    return forwarded(res) ? res->x.request.method : NULL;
}

const char *
gwf_test_upstream_path(const gwf_test_result *res)
{
    return forwarded(res) ? res->x.request.path : NULL;
}

const char *
gwf_test_upstream_header(const gwf_test_result *res, const char *name,
                         size_t index)
{
    return forwarded(res) ? header_of(res, &res->x.request, name, index) : NULL;
}

const char *
gwf_test_upstream_body(const gwf_test_result *res, size_t *len)
{
    if (!forwarded(res))
        return NULL;
    if (len)
        *len = res->x.upstream_body.len;
    gwf_view v = {res->x.upstream_body.data, res->x.upstream_body.len};
    return keep(res, v);
}

const char *
gwf_test_reply_details(const gwf_test_result *res)
{
    if (res->x.outcome != GWF_EXCHANGE_LOCAL_REPLY || !res->x.details[0])
        return NULL;
    return res->x.details;
}

int
gwf_test_had_stream(const gwf_test_result *res)
{
    return res->x.had_stream;
}

/* -- Observability ------------------------------------------------------- */

const char *
gwf_test_metrics(gwf_test_host *h)
{
    free(h->metrics_text);
    h->metrics_text = runtime(h) ? gwf_runtime_metrics_text(h->rt) : NULL;
    return h->metrics_text ? h->metrics_text : "";
}

double
gwf_test_metric(gwf_test_host *h, const char *series)
{
    const char *text = gwf_test_metrics(h);
    size_t n = strlen(series);
    for (const char *line = text; *line;) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        if (len > n && strncmp(line, series, n) == 0 && line[n] == ' ')
            return strtod(line + n + 1, NULL);
        line += len + (eol ? 1 : 0);
    }
    return NAN;
}

size_t
gwf_test_pending(const gwf_test_host *h)
{
    return (h->worker ? gwf_worker_pending(h->worker) : 0) +
           gwf_loop_active(h->loop);
}
