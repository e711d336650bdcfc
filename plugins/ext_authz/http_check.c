/*
 * http_check.c - Envoy's raw HTTP ext_authz protocol.
 *
 * The check request is the original request's method and raw path (after
 * pathPrefix, byte for byte what the upstream gets: fragment and
 * percent-encoding untouched) with only a few of its headers: Host (the
 * client's, or none), Authorization and the ones named in
 * headersToForward, then headersToAdd (which overwrite), and the body when
 * withRequestBody asks for it. The authz server answers
 * with an ordinary HTTP response:
 *
 *   200          allow; headersToBackend are copied onto the upstream
 *                request, x-envoy-auth-headers-to-remove names headers to
 *                drop from it, headersToClientOnSuccess go to the client;
 *   other < 500  deny with that status, its body and the client headers
 *                (all but hop-by-hop ones, or only headersToClient);
 *   5xx, none    an error: statusOnError, or allow when failOpen.
 */
#include "ext_authz.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Where the check request's header lines go: the exchange of the SDK's
 * HTTP/1.1 client, or libcurl's list. */
typedef struct line_sink {
    gwf_http_exchange *exchange;
    struct curl_slist *list;
} line_sink;

/* Append "name: value" (curl wants "name;" for an empty value). */
static int
add_line(line_sink *sink, const char *name, size_t name_len, const char *value,
         size_t value_len)
{
    gwf_strbuf b = {0};
    struct curl_slist *grown;

    if (sink->exchange)
        return gwf_http_exchange_header(sink->exchange, name, name_len, value,
                                        value_len) == GWF_OK
                   ? 0
                   : -1;
    if (value_len == 0)
        gwf_strbuf_appendf(&b, "%.*s;", (int)name_len, name);
    else
        gwf_strbuf_appendf(&b, "%.*s: %.*s", (int)name_len, name,
                           (int)value_len, value);
    if (b.failed) {
        gwf_strbuf_free(&b);
        return -1;
    }
    grown = curl_slist_append(sink->list, b.data);
    gwf_strbuf_free(&b);
    if (!grown)
        return -1;
    sink->list = grown;
    return 0;
}

/* libcurl only: a line that drops a header libcurl adds by itself. */
static void
drop_curl_header(line_sink *sink, const char *line)
{
    if (!sink->exchange)
        sink->list = curl_slist_append(sink->list, line);
}

/* Every value of request header `name` onto the check request, unless
 * headersToAdd will set it. A value that cannot go on a header line is
 * the client's doing: GWF_ERR_BAD_ARGUMENT. A value the host could not
 * read (out of memory) is not an absent one: the server would judge
 * another request than the upstream gets, so it is an error
 * (GWF_ERR_INTERNAL), decided as the server failing. */
static gwf_status
forward_header(const ea_config *cfg, gwf_stream *s, line_sink *list,
               const char *name, const char **why)
{
    gwf_view value;

    if (ea_pairs_find(&cfg->headers_to_add, name, 0))
        return GWF_OK;
    for (size_t i = 0;; i++) {
        gwf_status st =
            s->host->header_get(s, GWF_REQUEST, name, strlen(name), i, &value);
        if (st == GWF_ERR_NOT_FOUND)
            break;
        if (st != GWF_OK)
            return GWF_ERR_INTERNAL;
        if (!gwf_is_header_value(value.ptr, value.len)) {
            *why = "a forwarded request header has a control byte";
            return GWF_ERR_BAD_ARGUMENT;
        }
        if (add_line(list, name, strlen(name), value.ptr, value.len) != 0)
            return GWF_ERR_NO_MEMORY;
    }
    return GWF_OK;
}

/* The request line: the client's method, and pathPrefix + its raw path
 * as the request target, byte for byte (CURLOPT_REQUEST_TARGET: libcurl
 * would otherwise parse the path as a URL, drop a fragment and re-encode
 * bytes, so the authz server would judge another path than the
 * upstream's). The URL only says where to connect. */
static gwf_status
set_request_line(const ea_config *cfg, const ea_request *req, ea_call *call,
                 const char *body, size_t body_len)
{
    gwf_strbuf url = {0}, target = {0};
    char method[EA_MAX_METHOD_BYTES + 1];
    gwf_status st = GWF_ERR_NO_MEMORY;

    gwf_strbuf_appendf(&url, "%s/", cfg->base_url);
    gwf_strbuf_appendf(&target, "%s", cfg->path_prefix);
    gwf_strbuf_append(&target, req->path.ptr, req->path.len);
    if (url.failed || target.failed)
        goto done;
    curl_easy_setopt(call->easy, CURLOPT_URL, url.data);
    curl_easy_setopt(call->easy, CURLOPT_REQUEST_TARGET, target.data);

    if (gwf_view_eq(req->method, "HEAD")) {
        curl_easy_setopt(call->easy, CURLOPT_NOBODY, 1L);
    } else if (gwf_view_eq(req->method, "GET") && !body) {
        curl_easy_setopt(call->easy, CURLOPT_HTTPGET, 1L);
    } else {
        /* ea_request_parts bounded the method's length. */
        memcpy(method, req->method.ptr, req->method.len);
        method[req->method.len] = '\0';
        call->request_body = malloc(body_len ? body_len : 1);
        if (!call->request_body)
            goto done;
        if (body_len)
            memcpy(call->request_body, body, body_len);
        call->request_body_len = body_len;
        curl_easy_setopt(call->easy, CURLOPT_POSTFIELDS, call->request_body);
        curl_easy_setopt(call->easy, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)body_len);
        curl_easy_setopt(call->easy, CURLOPT_CUSTOMREQUEST, method);
    }
    st = GWF_OK;
done:
    gwf_strbuf_free(&url);
    gwf_strbuf_free(&target);
    return st;
}

/* headersToAdd item `i`: its constant value, or its format rendered for
 * this request. As Envoy's header parser does, a value that renders
 * empty adds no header. A rendering that cannot go on a header line (a
 * control byte the request carried) is the client's doing:
 * GWF_ERR_BAD_ARGUMENT. */
static gwf_status
add_header(const ea_config *cfg, gwf_stream *s, size_t i, line_sink *list,
           const char **why)
{
    const ea_pair *p = &cfg->headers_to_add.items[i];
    const gwf_format *format =
        cfg->headers_to_add_formats ? cfg->headers_to_add_formats[i] : NULL;
    gwf_strbuf value = {0};
    gwf_status st = GWF_OK;

    if (!format) {
        if (p->value[0] && add_line(list, p->name, strlen(p->name), p->value,
                                    strlen(p->value)) != 0)
            return GWF_ERR_NO_MEMORY;
        return GWF_OK;
    }
    /* Envoy's header formatter: a missing value is empty, and an empty
     * header is not added. */
    static const gwf_format_vars header_vars = {.missing_empty = 1};
    if (gwf_format_render_vars(format, s, &header_vars, &value) != GWF_OK ||
        value.failed)
        st = GWF_ERR_NO_MEMORY;
    else if (!gwf_is_header_value(value.data ? value.data : "", value.len)) {
        *why = "a headersToAdd value rendered from the request has a "
               "control byte";
        st = GWF_ERR_BAD_ARGUMENT;
    } else if (value.len && add_line(list, p->name, strlen(p->name), value.data,
                                     value.len) != 0)
        st = GWF_ERR_NO_MEMORY;
    gwf_strbuf_free(&value);
    return st;
}

/* Host: the client's own (what the upstream gets), or none when the
 * request had none (an HTTP/1.0 request): "Host:" keeps libcurl from
 * sending the authz server's name instead. headersToAdd may set it. */
static int
add_host(const ea_config *cfg, const ea_request *req, line_sink *list)
{
    if (ea_pairs_find(&cfg->headers_to_add, "host", 0))
        return 0;
    if (req->has_authority && req->authority.len)
        return add_line(list, "Host", 4, req->authority.ptr,
                        req->authority.len);
    drop_curl_header(list, "Host:");
    return 0;
}

/* The check request of the SDK's HTTP/1.1 client: the client's method
 * and pathPrefix + its raw path, byte for byte; a body (with its
 * Content-Length) when libcurl would send one: with a method other than
 * GET and HEAD, or a GET with withRequestBody. */
static gwf_status
lean_request(const ea_config *cfg, const ea_request *req, ea_call *call,
             const char *body, size_t body_len)
{
    gwf_strbuf target = {0};

    gwf_strbuf_appendf(&target, "%s", cfg->path_prefix);
    gwf_strbuf_append(&target, req->path.ptr, req->path.len);
    if (target.failed) {
        gwf_strbuf_free(&target);
        return GWF_ERR_NO_MEMORY;
    }
    call->lean = 1;
    call->exchange = gwf_http_exchange_new(ea_worker_http_pool(call->worker),
                                           req->method.ptr, req->method.len,
                                           target.data, target.len);
    gwf_strbuf_free(&target);
    if (!call->exchange)
        return GWF_ERR_NO_MEMORY;
    if (gwf_view_eq(req->method, "HEAD") ||
        (gwf_view_eq(req->method, "GET") && !body))
        return GWF_OK;
    call->request_body = malloc(body_len ? body_len : 1);
    if (!call->request_body)
        return GWF_ERR_NO_MEMORY;
    if (body_len)
        memcpy(call->request_body, body, body_len);
    call->request_body_len = body_len;
    call->send_body = call->request_body;
    return GWF_OK;
}

gwf_status
ea_http_prepare(const ea_config *cfg, gwf_stream *s, ea_call *call,
                const char *body, size_t body_len, int partial,
                const char **why)
{
    ea_request req;
    line_sink list = {0};
    gwf_status st;

    st = ea_request_parts(s, &req, why);
    if (st != GWF_OK)
        return st;
    if (strlen(cfg->path_prefix) > EA_MAX_TARGET_BYTES ||
        req.path.len > EA_MAX_TARGET_BYTES - strlen(cfg->path_prefix)) {
        *why = "the request's path is too long to check";
        return GWF_ERR_BAD_ARGUMENT;
    }
    if (cfg->http_peer && call->worker && ea_worker_http_pool(call->worker)) {
        st = lean_request(cfg, &req, call, body, body_len);
        if (st != GWF_OK)
            return st;
        list.exchange = call->exchange;
    } else {
        if (!ea_call_easy(cfg, call))
            return GWF_ERR_NO_MEMORY;
        st = set_request_line(cfg, &req, call, body, body_len);
        if (st != GWF_OK)
            return st;
        curl_easy_setopt(call->easy, CURLOPT_PATH_AS_IS, 1L);
    }

    /* Only what Envoy sends: Host, Authorization, headersToForward. */
    st = GWF_ERR_NO_MEMORY;
    if (add_host(cfg, &req, &list) != 0)
        goto fail;
    if ((st = forward_header(cfg, s, &list, "authorization", why)) != GWF_OK)
        goto fail;
    for (size_t i = 0; i < cfg->headers_to_forward.count; i++) {
        const char *name = cfg->headers_to_forward.items[i];
        /* x-envoy-auth-partial-body is the gateway's to say (below):
         * a client's own would tell the server a cut body is whole. */
        if (strcmp(name, "authorization") == 0 || strcmp(name, "host") == 0 ||
            strcmp(name, "content-length") == 0 ||
            strcmp(name, "transfer-encoding") == 0 ||
            strcmp(name, "x-envoy-auth-partial-body") == 0)
            continue;
        if ((st = forward_header(cfg, s, &list, name, why)) != GWF_OK)
            goto fail;
    }
    for (size_t i = 0; i < cfg->headers_to_add.count; i++)
        if ((st = add_header(cfg, s, i, &list, why)) != GWF_OK)
            goto fail;
    st = GWF_ERR_NO_MEMORY;
    if (partial &&
        add_line(&list, "x-envoy-auth-partial-body", 25, "true", 4) != 0)
        goto fail;
    if (list.exchange)
        return GWF_OK;
    /* Drop what libcurl would add by itself. */
    if (!ea_names_has(&cfg->headers_to_forward, "accept", 6) &&
        !ea_pairs_find(&cfg->headers_to_add, "accept", 0))
        drop_curl_header(&list, "Accept:");
    if (!ea_names_has(&cfg->headers_to_forward, "content-type", 12) &&
        !ea_pairs_find(&cfg->headers_to_add, "content-type", 0))
        drop_curl_header(&list, "Content-Type:");
    drop_curl_header(&list, "Expect:");
    if (!list.list)
        goto fail;
    call->headers = list.list;
    curl_easy_setopt(call->easy, CURLOPT_HTTPHEADER, list.list);
    curl_easy_setopt(call->easy, CURLOPT_HTTP_VERSION,
                     (long)CURL_HTTP_VERSION_1_1);
    return GWF_OK;
fail:
    curl_slist_free_all(list.list);
    return st;
}

/* The names the answer's Connection headers list, found once per
 * answer and sorted (ASCII case folded), so that each "is it
 * hop-by-hop?" is a binary search: an answer of n headers naming m
 * tokens costs O((n + m) log m), not n x m, whatever maxAnswerHeaders
 * let through. */
typedef struct connection_token {
    const char *ptr;
    size_t len;
} connection_token;

typedef struct connection_values {
    connection_token *items; /* NULL when there is none */
    size_t count;
} connection_values;

static int
is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* `a` (`alen` bytes, any case) against `b` (`blen` bytes, any case). */
static int
token_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    for (size_t i = 0; i < alen && i < blen; i++) {
        int ca = tolower((unsigned char)a[i]),
            cb = tolower((unsigned char)b[i]);
        if (ca != cb)
            return ca - cb;
    }
    return alen < blen ? -1 : alen > blen;
}

static int
token_order(const void *pa, const void *pb)
{
    const connection_token *a = pa, *b = pb;

    return token_cmp(a->ptr, a->len, b->ptr, b->len);
}

/* Each non-empty element of the list `v`, OWS trimmed, to `out` (NULL:
 * only counted). The number of elements. */
static size_t
split_tokens(const char *v, connection_token *out)
{
    size_t n = 0;

    for (;;) {
        const char *end = strchr(v, ',');
        size_t len = end ? (size_t)(end - v) : strlen(v);
        size_t first = 0;

        while (first < len && is_ows(v[first]))
            first++;
        while (len > first && is_ows(v[len - 1]))
            len--;
        if (len > first) {
            if (out)
                out[n] = (connection_token){v + first, len - first};
            n++;
        }
        if (!end)
            return n;
        v = end + 1;
    }
}

/* 0, or -1 when out of memory. */
static int
find_connection_values(const ea_pairs *answer, connection_values *out)
{
    size_t n = 0;

    out->items = NULL;
    out->count = 0;
    for (size_t i = 0; i < answer->count; i++) {
        if (strcmp(answer->items[i].name, "connection") == 0)
            n += split_tokens(answer->items[i].value, NULL);
    }
    if (n == 0)
        return 0;
    out->items = calloc(n, sizeof(*out->items));
    if (!out->items)
        return -1;
    for (size_t i = 0; i < answer->count; i++) {
        if (strcmp(answer->items[i].name, "connection") == 0)
            out->count +=
                split_tokens(answer->items[i].value, out->items + out->count);
    }
    qsort(out->items, out->count, sizeof(*out->items), token_order);
    return 0;
}

/* Headers that belong to the authz server's connection or that the data
 * plane computes: never passed on. The hop-by-hop ones are the SDK's list
 * (gwf_is_hop_by_hop_header), plus what the answer's own Connection
 * header names (RFC 9110 7.6.1: "Connection: x-hop" makes x-hop
 * hop-by-hop too, so it is no more the client's or the upstream's than
 * Keep-Alive is). */
static int
is_connection_header(const connection_values *connection, const char *name)
{
    size_t len = strlen(name), lo = 0, hi = connection->count;

    if (gwf_is_hop_by_hop_header(name, len) ||
        strcmp(name, "content-length") == 0 || strcmp(name, "host") == 0)
        return 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const connection_token *t = &connection->items[mid];
        int c = token_cmp(t->ptr, t->len, name, len);
        if (c == 0)
            return 1;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* On a denial with headersToClient set, Envoy adds these to the list. */
static int
is_always_client_header(const char *name)
{
    return strcmp(name, "www-authenticate") == 0 ||
           strcmp(name, "location") == 0;
}

/* The answer's headers named in `names`, into `to`. With `again` set, a
 * second value of one name goes there instead (headersToBackend: the
 * first value replaces the request's, the others are added beside it).
 * Linear in the answer: a hash lookup in `names` per header, and the
 * names already seen marked by their number in `names`. */
static int
copy_named(const ea_pairs *from, const connection_values *connection,
           const ea_names *names, ea_pairs *to, ea_pairs *again)
{
    unsigned char *seen = NULL;
    int rc = -1;

    if (again && names->count && !(seen = calloc(names->count, 1)))
        return -1;
    for (size_t i = 0; i < from->count; i++) {
        const ea_pair *p = &from->items[i];
        ea_pairs *into = to;
        size_t name_len = strlen(p->name), value_len;
        long at = ea_names_find(names, p->name, name_len);

        if (at < 0 || is_connection_header(connection, p->name) ||
            !gwf_is_header_value(p->value, value_len = strlen(p->value)))
            continue;
        if (seen) {
            if (seen[at])
                into = again;
            seen[at] = 1;
        }
        if (ea_pairs_add(into, p->name, name_len, p->value, value_len) != 0)
            goto done;
    }
    rc = 0;
done:
    free(seen);
    return rc;
}

/* x-envoy-auth-headers-to-remove: a comma-separated list of names. */
static int
collect_removals(const ea_pairs *from, ea_names *out)
{
    for (size_t i = 0; i < from->count; i++) {
        const char *v = from->items[i].value;

        if (strcmp(from->items[i].name, "x-envoy-auth-headers-to-remove") != 0)
            continue;
        while (*v) {
            const char *end = strchr(v, ',');
            size_t len = end ? (size_t)(end - v) : strlen(v);
            size_t start = 0;

            while (start < len && (v[start] == ' ' || v[start] == '\t'))
                start++;
            while (len > start && (v[len - 1] == ' ' || v[len - 1] == '\t'))
                len--;
            /* The Host header is the route's: never removed. */
            if (len > start && gwf_is_header_name(v + start, len - start) &&
                !(len - start == 4 && strncasecmp(v + start, "host", 4) == 0) &&
                ea_names_append(out, v + start, len - start) != 0)
                return -1;
            if (!end)
                break;
            v = end + 1;
        }
    }
    return 0;
}

void
ea_http_verdict_from(const ea_config *cfg, long status, const ea_pairs *headers,
                     const char *body, size_t body_len, ea_verdict *v)
{
    connection_values connection = {0};

    memset(v, 0, sizeof(*v));
    if (status < 200 || status > 599) {
        v->kind = EA_VERDICT_ERROR;
        v->error = "no valid HTTP status from the authz server";
        return;
    }
    if (status >= 500) {
        v->kind = EA_VERDICT_ERROR;
        v->error = "the authz server answered 5xx";
        v->retryable = 1;
        return;
    }
    if (find_connection_values(headers, &connection) != 0)
        goto oom;
    if (status == 200) {
        v->kind = EA_VERDICT_ALLOW;
        if (copy_named(headers, &connection, &cfg->headers_to_backend,
                       &v->to_upstream_set, &v->to_upstream_add) != 0 ||
            collect_removals(headers, &v->to_upstream_remove) != 0 ||
            copy_named(headers, &connection, &cfg->headers_on_success,
                       &v->to_client, NULL) != 0)
            goto oom;
        free(connection.items);
        return;
    }
    v->kind = EA_VERDICT_DENY;
    v->status = (uint32_t)status;
    for (size_t i = 0; i < headers->count; i++) {
        const ea_pair *p = &headers->items[i];
        if (is_connection_header(&connection, p->name) ||
            !gwf_is_header_name(p->name, strlen(p->name)) ||
            !gwf_is_header_value(p->value, strlen(p->value)))
            continue;
        if (cfg->headers_to_client.count &&
            !ea_names_has(&cfg->headers_to_client, p->name, strlen(p->name)) &&
            !is_always_client_header(p->name))
            continue;
        if (ea_pairs_add(&v->to_client, p->name, strlen(p->name), p->value,
                         strlen(p->value)) != 0)
            goto oom;
    }
    if (body_len) {
        v->body = malloc(body_len);
        if (!v->body)
            goto oom;
        memcpy(v->body, body, body_len);
        v->body_len = body_len;
    }
    free(connection.items);
    return;
oom:
    free(connection.items);
    ea_verdict_free(v);
    v->kind = EA_VERDICT_ERROR;
    v->error = "out of memory";
}

/* Why an exchange of the SDK's client failed, for the log. */
static const char *
lean_error(gwf_http_result result)
{
    switch (result) {
    case GWF_HTTP_ERR_TRUNCATED:
        return "the authz server's answer was cut short";
    case GWF_HTTP_ERR_FRAMING:
        return "the authz server's answer has an ambiguous length";
    case GWF_HTTP_ERR_MALFORMED:
        return "the authz server's answer is not valid HTTP/1.1";
    case GWF_HTTP_ERR_CONNECT:
        return "cannot connect to the authz server";
    default:
        return gwf_http_result_str(result);
    }
}

void
ea_http_verdict(const ea_config *cfg, const ea_call *call, CURLcode result,
                ea_verdict *v)
{
    memset(v, 0, sizeof(*v));
    if (call->too_many_headers) {
        /* The service's failure, whatever the status line said; but one
         * that said "denied" is never allowed by failOpen. */
        v->kind = EA_VERDICT_ERROR;
        v->error = cfg->answer_limit.http_note;
        v->began_as_denial =
            call->status >= 200 && call->status < 500 && call->status != 200;
        return;
    }
    if (result != CURLE_OK || call->too_big || call->body.failed) {
        v->kind = EA_VERDICT_ERROR;
        v->error = call->too_big ? "the authz server's answer is too large"
                   : call->lean  ? lean_error(call->http_result)
                   : result == CURLE_PARTIAL_FILE
                       ? "the authz server's answer was cut short"
                   : result == CURLE_WEIRD_SERVER_REPLY
                       ? "the authz server's answer has an ambiguous length"
                       : curl_easy_strerror(result);
        v->retryable = ea_transport_retryable(result);
        /* A denial whose header lines or body then broke (a CR LF the
         * server echoed into a header splits it into a line libcurl
         * refuses) is still an error, not a denial we could pass on,
         * but never one that failOpen allows. */
        v->began_as_denial =
            call->status >= 200 && call->status < 500 && call->status != 200;
        return;
    }
    ea_http_verdict_from(cfg, call->status, &call->response_headers,
                         call->body.data, call->body.len, v);
}
