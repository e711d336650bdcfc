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
 * returns, and their owners are told then (ea_call.done).
 *
 * Request timeouts are not libcurl's: the filter runs them on host timers,
 * so they follow the host's clock (which tests step by hand).
 */
#include "ext_authz.h"

#include <ctype.h>
#include <gwf/sdk_curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct ea_worker {
    const ea_config *cfg;
    gwf_instance *inst;
    CURLM *multi;
    gwf_curl_loop *loop; /* drives `multi` on the host loop */
    /* Easy handles of finished checks, reset and kept for the next ones:
     * saves their setup, and keeps alive the handle a cached HTTP/2
     * connection was opened with. */
    CURL *pool[EA_EASY_POOL];
    size_t pooled;
};


/* ---- pairs and names ------------------------------------------------- */

int
ea_pairs_add(ea_pairs *p, const char *name, size_t name_len, const char *value,
             size_t value_len)
{
    ea_pair *grown = realloc(p->items, (p->count + 1) * sizeof(*grown));
    char *n, *v;

    if (!grown)
        return -1;
    p->items = grown;
    n = malloc(name_len + 1);
    v = malloc(value_len + 1);
    if (!n || !v) {
        free(n);
        free(v);
        return -1;
    }
    for (size_t i = 0; i < name_len; i++)
        n[i] = (char)tolower((unsigned char)name[i]);
    n[name_len] = '\0';
    if (value_len)
        memcpy(v, value, value_len);
    v[value_len] = '\0';
    p->items[p->count].name = n;
    p->items[p->count].value = v;
    p->count++;
    return 0;
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

int
ea_names_add(ea_names *n, const char *name, size_t len)
{
    char **grown = realloc(n->items, (n->count + 1) * sizeof(*grown));
    char *copy;

    if (!grown)
        return -1;
    n->items = grown;
    copy = malloc(len + 1);
    if (!copy)
        return -1;
    for (size_t i = 0; i < len; i++)
        copy[i] = (char)tolower((unsigned char)name[i]);
    copy[len] = '\0';
    n->items[n->count++] = copy;
    return 0;
}

int
ea_names_has(const ea_names *n, const char *name, size_t len)
{
    for (size_t i = 0; i < n->count; i++) {
        if (strlen(n->items[i]) == len &&
            strncasecmp(n->items[i], name, len) == 0)
            return 1;
    }
    return 0;
}

void
ea_names_free(ea_names *n)
{
    for (size_t i = 0; i < n->count; i++)
        free(n->items[i]);
    free(n->items);
    n->items = NULL;
    n->count = 0;
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
    free(v->body);
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
    if (into->count >= EA_MAX_RESPONSE_HEADERS) {
        call->too_big = 1;
        return 0;
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
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, call);
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
        call->in_multi = 0;
        curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &call->status);
        if (call->done)
            call->done(call, result, call->done_arg);
    }
}

/* gwf_curl_loop's progress callback. */
static void
collect_done_cb(void *arg)
{
    collect_done(arg);
}

int
ea_h2c_shared_ok(const ea_config *cfg)
{
    return cfg->mode != EA_MODE_GRPC || cfg->tls ||
           curl_version_info(CURLVERSION_NOW)->version_num >= 0x080000;
}

ea_worker *
ea_worker_new(const ea_config *cfg)
{
    ea_worker *w = calloc(1, sizeof(*w));

    if (!w)
        return NULL;
    w->cfg = cfg;
    w->inst = cfg->instance;
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
    while (w->pooled)
        curl_easy_cleanup(w->pool[--w->pooled]);
    gwf_curl_loop_free(w->loop);
    free(w);
}

gwf_status
ea_call_start(ea_worker *w, ea_call *call)
{
    if (call->worker != w)
        return GWF_ERR_BAD_ARGUMENT;
    if (curl_multi_add_handle(w->multi, call->easy) != CURLM_OK)
        return GWF_ERR_INTERNAL;
    call->in_multi = 1;
    return GWF_OK;
}

void
ea_call_cleanup(ea_call *call)
{
    if (call->easy) {
        ea_worker *w = call->worker;
        if (call->in_multi)
            curl_multi_remove_handle(w->multi, call->easy);
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
