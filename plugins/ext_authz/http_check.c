/*
 * http_check.c - Envoy's raw HTTP ext_authz protocol.
 *
 * The check request is the original request's method and path (after
 * pathPrefix) with only a few of its headers: Host, Authorization and the
 * ones named in headersToForward, then headersToAdd (which overwrite), and
 * the body when withRequestBody asks for it. The authz server answers
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

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Append "name: value" (curl wants "name;" for an empty value). */
static int
add_line(struct curl_slist **list, const char *name, size_t name_len,
         const char *value, size_t value_len)
{
    gwf_strbuf b = {0};
    struct curl_slist *grown;

    if (value_len == 0)
        gwf_strbuf_appendf(&b, "%.*s;", (int)name_len, name);
    else
        gwf_strbuf_appendf(&b, "%.*s: %.*s", (int)name_len, name,
                           (int)value_len, value);
    if (b.failed) {
        gwf_strbuf_free(&b);
        return -1;
    }
    grown = curl_slist_append(*list, b.data);
    gwf_strbuf_free(&b);
    if (!grown)
        return -1;
    *list = grown;
    return 0;
}

/* Every value of request header `name` onto the check request, unless
 * headersToAdd will set it. */
static int
forward_header(const ea_config *cfg, gwf_stream *s, struct curl_slist **list,
               const char *name)
{
    gwf_view value;

    if (ea_pairs_find(&cfg->headers_to_add, name, 0))
        return 0;
    for (size_t i = 0; s->host->header_get(s, GWF_REQUEST, name, strlen(name),
                                           i, &value) == GWF_OK;
         i++) {
        if (add_line(list, name, strlen(name), value.ptr, value.len) != 0)
            return -1;
    }
    return 0;
}

gwf_status
ea_http_prepare(const ea_config *cfg, gwf_stream *s, ea_call *call,
                const char *body, size_t body_len, int partial)
{
    gwf_view method = {0}, path = {0}, authority = {0};
    struct curl_slist *list = NULL;
    gwf_strbuf url = {0};
    int has_body;

    if (s->host->header_get(s, GWF_REQUEST, ":method", 7, 0, &method) !=
            GWF_OK ||
        s->host->header_get(s, GWF_REQUEST, ":path", 5, 0, &path) != GWF_OK)
        return GWF_ERR_BAD_ARGUMENT;
    if (!gwf_is_header_name(method.ptr, method.len) || path.len == 0)
        return GWF_ERR_BAD_ARGUMENT;
    s->host->header_get(s, GWF_REQUEST, ":authority", 10, 0, &authority);

    if (!ea_call_easy(cfg, call))
        return GWF_ERR_NO_MEMORY;
    gwf_strbuf_appendf(&url, "%s%s", cfg->base_url, cfg->path_prefix);
    /* A path that is not origin-form ("*") still goes after the prefix. */
    if (path.ptr[0] != '/' && cfg->path_prefix[0] == '\0')
        gwf_strbuf_append(&url, "/", 1);
    gwf_strbuf_append(&url, path.ptr, path.len);
    if (url.failed) {
        gwf_strbuf_free(&url);
        return GWF_ERR_NO_MEMORY;
    }
    curl_easy_setopt(call->easy, CURLOPT_URL, url.data);
    gwf_strbuf_free(&url);
    curl_easy_setopt(call->easy, CURLOPT_PATH_AS_IS, 1L);

    has_body = body != NULL;
    if (gwf_view_eq(method, "HEAD")) {
        curl_easy_setopt(call->easy, CURLOPT_NOBODY, 1L);
    } else if (gwf_view_eq(method, "GET") && !has_body) {
        curl_easy_setopt(call->easy, CURLOPT_HTTPGET, 1L);
    } else {
        char m[64];

        if (method.len >= sizeof(m))
            return GWF_ERR_BAD_ARGUMENT;
        memcpy(m, method.ptr, method.len);
        m[method.len] = '\0';
        call->request_body = malloc(body_len ? body_len : 1);
        if (!call->request_body)
            return GWF_ERR_NO_MEMORY;
        if (body_len)
            memcpy(call->request_body, body, body_len);
        call->request_body_len = body_len;
        curl_easy_setopt(call->easy, CURLOPT_POSTFIELDS, call->request_body);
        curl_easy_setopt(call->easy, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)body_len);
        curl_easy_setopt(call->easy, CURLOPT_CUSTOMREQUEST, m);
    }

    /* Only what Envoy sends: Host, Authorization, headersToForward. */
    if (authority.len && !ea_pairs_find(&cfg->headers_to_add, "host", 0) &&
        add_line(&list, "Host", 4, authority.ptr, authority.len) != 0)
        goto fail;
    if (forward_header(cfg, s, &list, "authorization") != 0)
        goto fail;
    for (size_t i = 0; i < cfg->headers_to_forward.count; i++) {
        const char *name = cfg->headers_to_forward.items[i];
        if (strcmp(name, "authorization") == 0 || strcmp(name, "host") == 0 ||
            strcmp(name, "content-length") == 0 ||
            strcmp(name, "transfer-encoding") == 0)
            continue;
        if (forward_header(cfg, s, &list, name) != 0)
            goto fail;
    }
    for (size_t i = 0; i < cfg->headers_to_add.count; i++) {
        const ea_pair *p = &cfg->headers_to_add.items[i];
        if (add_line(&list, p->name, strlen(p->name), p->value,
                     strlen(p->value)) != 0)
            goto fail;
    }
    if (partial &&
        add_line(&list, "x-envoy-auth-partial-body", 25, "true", 4) != 0)
        goto fail;
    /* Drop what libcurl would add by itself. */
    if (!ea_names_has(&cfg->headers_to_forward, "accept", 6) &&
        !ea_pairs_find(&cfg->headers_to_add, "accept", 0))
        list = curl_slist_append(list, "Accept:");
    if (!ea_names_has(&cfg->headers_to_forward, "content-type", 12) &&
        !ea_pairs_find(&cfg->headers_to_add, "content-type", 0))
        list = curl_slist_append(list, "Content-Type:");
    list = curl_slist_append(list, "Expect:");
    if (!list)
        goto fail;
    call->headers = list;
    curl_easy_setopt(call->easy, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(call->easy, CURLOPT_HTTP_VERSION,
                     (long)CURL_HTTP_VERSION_1_1);
    return GWF_OK;
fail:
    curl_slist_free_all(list);
    return GWF_ERR_NO_MEMORY;
}

/* Headers that belong to the authz server's connection or that the data
 * plane computes: never passed on. */
static int
is_connection_header(const char *name)
{
    static const char *const names[] = {
        "connection", "keep-alive", "proxy-connection", "transfer-encoding",
        "te",         "upgrade",    "content-length",   "host",
        "trailer",    NULL};

    for (size_t i = 0; names[i]; i++) {
        if (strcmp(name, names[i]) == 0)
            return 1;
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

static int
copy_named(const ea_pairs *from, const ea_names *names, ea_pairs *to)
{
    for (size_t i = 0; i < from->count; i++) {
        const ea_pair *p = &from->items[i];
        if (!ea_names_has(names, p->name, strlen(p->name)) ||
            is_connection_header(p->name) ||
            !gwf_is_header_value(p->value, strlen(p->value)))
            continue;
        if (ea_pairs_add(to, p->name, strlen(p->name), p->value,
                         strlen(p->value)) != 0)
            return -1;
    }
    return 0;
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
                ea_names_add(out, v + start, len - start) != 0)
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
    if (status == 200) {
        v->kind = EA_VERDICT_ALLOW;
        if (copy_named(headers, &cfg->headers_to_backend,
                       &v->to_upstream_set) != 0 ||
            collect_removals(headers, &v->to_upstream_remove) != 0 ||
            copy_named(headers, &cfg->headers_on_success, &v->to_client) != 0)
            goto oom;
        return;
    }
    v->kind = EA_VERDICT_DENY;
    v->status = (uint32_t)status;
    for (size_t i = 0; i < headers->count; i++) {
        const ea_pair *p = &headers->items[i];
        if (is_connection_header(p->name) ||
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
    return;
oom:
    ea_verdict_free(v);
    v->kind = EA_VERDICT_ERROR;
    v->error = "out of memory";
}

void
ea_http_verdict(const ea_config *cfg, const ea_call *call, CURLcode result,
                ea_verdict *v)
{
    memset(v, 0, sizeof(*v));
    if (result != CURLE_OK || call->too_big || call->body.failed) {
        v->kind = EA_VERDICT_ERROR;
        v->error = call->too_big ? "the authz server's answer is too large"
                                 : curl_easy_strerror(result);
        v->retryable = ea_transport_retryable(result);
        return;
    }
    ea_http_verdict_from(cfg, call->status, &call->response_headers,
                         call->body.data, call->body.len, v);
}
