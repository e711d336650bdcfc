/*
 * fetch.c — gwf_http_fetch: one blocking upstream exchange over libcurl.
 *
 * The fetch leaves connection management to curl and collects the
 * response through curl's header and write callbacks instead of parsing
 * raw bytes, so TLS, chunked decoding and 1xx responses are curl's job.
 * What it hands back is the same gwf_http_message the parser in http1.c
 * builds, with the same limits and hop-by-hop headers removed, so the
 * rest of the runtime cannot tell a fetched response from a file. It is
 * its own file so that the parser (and its fuzzer) need no libcurl.
 */
#include "http1.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- fetch ------------------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

/* curl_global_init is not thread-safe in every libcurl we may meet, so
 * it runs exactly once, whichever thread fetches first. */
static void
curl_init_once(void)
{
    curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct fetch {
    const char *url; /* as the caller gave it, for messages */
    char *err;
    size_t errcap;
    gwf_http_message *resp;
    size_t header_capacity;
    struct http1_builder body;
    char failure[128]; /* set by a callback that aborted the transfer */
};

__attribute__((format(printf, 2, 3))) static int
fetch_fail(struct fetch *f, const char *fmt, ...)
{
    if (f->err && f->errcap > 0) {
        char detail[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(detail, sizeof(detail), fmt, ap);
        va_end(ap);
        snprintf(f->err, f->errcap, "upstream %s: %s", f->url, detail);
    }
    return -1;
}

static bool
starts_with_ignoring_case(const char *text, const char *prefix)
{
    size_t n = strlen(prefix);
    return strlen(text) >= n && http1_equals_ignoring_case(text, n, prefix);
}

/* scheme://authority + path prefix without trailing '/' + target. */
static char *
build_fetch_url(struct fetch *f, const char *target)
{
    const char *url = f->url;
    size_t scheme_len;
    if (starts_with_ignoring_case(url, "http://"))
        scheme_len = 7;
    else if (starts_with_ignoring_case(url, "https://"))
        scheme_len = 8;
    else {
        fetch_fail(f, "URL must start with http:// or https://");
        return NULL;
    }
    size_t url_len = strlen(url);
    if (strpbrk(url, "?#")) {
        fetch_fail(f, "URL must not have a query or fragment");
        return NULL;
    }
    const char *path = strchr(url + scheme_len, '/');
    size_t authority_end = path ? (size_t)(path - url) : url_len;
    if (authority_end == scheme_len) {
        fetch_fail(f, "URL has no host");
        return NULL;
    }
    size_t base_len = url_len;
    while (base_len > authority_end && url[base_len - 1] == '/')
        base_len--;
    if (!target || target[0] != '/') {
        fetch_fail(f, "request target must start with '/'");
        return NULL;
    }

    size_t target_len = strlen(target);
    char *full = malloc(base_len + target_len + 1);
    if (!full) {
        fetch_fail(f, "out of memory");
        return NULL;
    }
    memcpy(full, url, base_len);
    memcpy(full + base_len, target, target_len + 1);
    return full;
}

static bool
header_is_curls_job(const gwf_http_header *h)
{
    static const char *const managed[] = {"content-length", "transfer-encoding",
                                          "connection"};
    for (size_t i = 0; i < sizeof(managed) / sizeof(managed[0]); i++) {
        if (http1_equals_ignoring_case(h->name, h->name_len, managed[i]))
            return true;
    }
    return false;
}

static int
slist_add(struct curl_slist **list, const char *line)
{
    struct curl_slist *grown = curl_slist_append(*list, line);
    if (!grown)
        return -1;
    *list = grown;
    return 0;
}

/* The request headers as curl wants them, plus blanks that stop curl from
 * adding Accept, Content-Type or Expect of its own. */
static int
build_request_headers(struct fetch *f, const gwf_http_message *req,
                      struct curl_slist **list)
{
    char shown[HTTP1_SNIPPET_MAX + 8];
    struct http1_builder line = {0};
    for (size_t i = 0; i < req->header_count; i++) {
        const gwf_http_header *h = &req->headers[i];
        if (!h->name || !http1_is_token(h->name, h->name_len))
            return fetch_fail(f, "request header name '%s' is not a token",
                              h->name ? http1_snippet(shown, sizeof(shown),
                                                      h->name, h->name_len)
                                      : "");
        if (h->value_len > 0 &&
            (!h->value || memchr(h->value, '\0', h->value_len) ||
             memchr(h->value, '\r', h->value_len) ||
             memchr(h->value, '\n', h->value_len)))
            return fetch_fail(
                f,
                "request header '%s' has CR, LF or NUL in "
                "its value",
                http1_snippet(shown, sizeof(shown), h->name, h->name_len));
        if (header_is_curls_job(h))
            continue;
        /* "Name;" is curl's way to send a header with an empty value. */
        line.len = 0;
        http1_builder_add(&line, h->name, h->name_len);
        if (h->value_len == 0) {
            http1_builder_add(&line, ";", 1);
        } else {
            http1_builder_add(&line, ": ", 2);
            http1_builder_add(&line, h->value, h->value_len);
        }
        if (line.failed)
            goto oom;
        line.data[line.len] = '\0';
        if (slist_add(list, line.data) != 0)
            goto oom;
    }
    free(line.data);

    static const char *const unwanted[] = {"Accept", "Content-Type", "Expect"};
    for (size_t i = 0; i < sizeof(unwanted) / sizeof(unwanted[0]); i++) {
        if (gwf_http_header_find(req, unwanted[i], 0) >= 0)
            continue;
        char blank[32];
        snprintf(blank, sizeof(blank), "%s:", unwanted[i]);
        if (slist_add(list, blank) != 0)
            return fetch_fail(f, "out of memory");
    }
    return 0;

oom:
    free(line.data);
    return fetch_fail(f, "out of memory");
}

static void
fetch_reset_headers(struct fetch *f)
{
    gwf_http_message *m = f->resp;
    for (size_t i = 0; i < m->header_count; i++) {
        free(m->headers[i].name);
        free(m->headers[i].value);
    }
    m->header_count = 0;
}

/* "HTTP/1.1 200 OK": starts a new header block (a 1xx response may come
 * first; only the last block is kept). */
static int
fetch_status_line(struct fetch *f, const char *text, size_t len)
{
    gwf_http_message *m = f->resp;
    fetch_reset_headers(f);
    free(m->reason);
    m->reason = NULL;

    const char *space = memchr(text, ' ', len);
    size_t version_len = space ? (size_t)(space - text) : len;
    if (http1_parse_version(text, version_len, &m->minor_version) != 0)
        m->minor_version = 1;
    const char *status = space ? space + 1 : text + len;
    size_t left = (size_t)(text + len - status);
    int code = 0;
    size_t i = 0;
    for (; i < left && i < 3 && status[i] >= '0' && status[i] <= '9'; i++)
        code = code * 10 + (status[i] - '0');
    m->status = code;
    const char *reason = status + i;
    size_t reason_len = left - i;
    http1_trim_ows(&reason, &reason_len);
    m->reason = http1_dup_bytes(reason, reason_len);
    return m->reason ? 0 : -1;
}

static size_t
fetch_on_header(char *buffer, size_t size, size_t count, void *userdata)
{
    struct fetch *f = userdata;
    size_t total = size * count;
    const char *text = buffer;
    size_t len = total;
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        len--;
    gwf_http_message *m = f->resp;

    if (len >= 5 && memcmp(text, "HTTP/", 5) == 0) {
        if (fetch_status_line(f, text, len) != 0)
            goto oom;
        return total;
    }
    if (len == 0)
        return total;
    if (http1_is_ows(text[0])) {
        /* An obsolete folded line continues the previous value. */
        if (m->header_count == 0)
            return total;
        gwf_http_header *last = &m->headers[m->header_count - 1];
        http1_trim_ows(&text, &len);
        char *joined = malloc(last->value_len + 1 + len + 1);
        if (!joined)
            goto oom;
        memcpy(joined, last->value, last->value_len);
        joined[last->value_len] = ' ';
        memcpy(joined + last->value_len + 1, text, len);
        joined[last->value_len + 1 + len] = '\0';
        free(last->value);
        last->value = joined;
        last->value_len += 1 + len;
        return total;
    }
    const char *colon = memchr(text, ':', len);
    if (!colon)
        return total;
    if (m->header_count == GWF_HTTP1_MAX_HEADERS) {
        snprintf(f->failure, sizeof(f->failure),
                 "response has more than %d headers", GWF_HTTP1_MAX_HEADERS);
        return 0;
    }
    size_t name_len = (size_t)(colon - text);
    const char *value = colon + 1;
    size_t value_len = len - name_len - 1;
    http1_trim_ows(&value, &value_len);
    if (http1_message_add_header(m, &f->header_capacity, text, name_len, value,
                                 value_len) != 0)
        goto oom;
    return total;

oom:
    snprintf(f->failure, sizeof(f->failure), "out of memory");
    return 0;
}

static size_t
fetch_on_body(char *buffer, size_t size, size_t count, void *userdata)
{
    struct fetch *f = userdata;
    size_t total = size * count;
    if (total > GWF_HTTP1_MAX_BODY - f->body.len) {
        snprintf(f->failure, sizeof(f->failure),
                 "response body exceeds %u bytes", GWF_HTTP1_MAX_BODY);
        return 0;
    }
    http1_builder_add(&f->body, buffer, total);
    if (f->body.failed) {
        snprintf(f->failure, sizeof(f->failure), "out of memory");
        return 0;
    }
    return total;
}

static bool
named_in_connection(const gwf_http_message *m, const gwf_http_header *h)
{
    for (long i = gwf_http_header_find(m, "connection", 0); i >= 0;
         i = gwf_http_header_find(m, "connection", (size_t)i + 1)) {
        struct http1_list_cursor list = {m->headers[i].value,
                                         m->headers[i].value_len};
        const char *option;
        size_t option_len;
        while (http1_list_next(&list, &option, &option_len)) {
            if (http1_same_ignoring_case(h->name, h->name_len, option,
                                         option_len))
                return true;
        }
    }
    return false;
}

static bool
is_hop_by_hop(const gwf_http_message *m, const gwf_http_header *h)
{
    static const char *const hop_by_hop[] = {
        "connection", "keep-alive",        "proxy-connection", "te",
        "trailer",    "transfer-encoding", "upgrade"};
    for (size_t i = 0; i < sizeof(hop_by_hop) / sizeof(hop_by_hop[0]); i++) {
        if (http1_equals_ignoring_case(h->name, h->name_len, hop_by_hop[i]))
            return true;
    }
    return named_in_connection(m, h);
}

/* Drops hop-by-hop headers; a body curl de-chunked gets a Content-Length,
 * as the parser does for a chunked file. */
static int
fetch_finish_headers(struct fetch *f, bool head_request)
{
    gwf_http_message *m = f->resp;
    bool was_chunked = false;
    for (long i = gwf_http_header_find(m, "transfer-encoding", 0); i >= 0;
         i = gwf_http_header_find(m, "transfer-encoding", (size_t)i + 1)) {
        struct http1_list_cursor list = {m->headers[i].value,
                                         m->headers[i].value_len};
        const char *coding;
        size_t coding_len;
        while (http1_list_next(&list, &coding, &coding_len)) {
            if (http1_equals_ignoring_case(coding, coding_len, "chunked"))
                was_chunked = true;
        }
    }

    /* Decide first, remove after: removing Connection early would make
     * the headers it names look end-to-end. */
    bool *drop = calloc(m->header_count + 1, sizeof(*drop));
    if (!drop)
        return -1;
    for (size_t i = 0; i < m->header_count; i++)
        drop[i] = is_hop_by_hop(m, &m->headers[i]);
    size_t kept = 0;
    for (size_t i = 0; i < m->header_count; i++) {
        if (drop[i]) {
            free(m->headers[i].name);
            free(m->headers[i].value);
        } else {
            m->headers[kept++] = m->headers[i];
        }
    }
    m->header_count = kept;
    free(drop);

    if (!was_chunked || head_request || http1_status_has_no_body(m->status))
        return 0;
    long length;
    while ((length = gwf_http_header_find(m, "content-length", 0)) >= 0)
        http1_message_remove_header_at(m, (size_t)length);
    char text[24];
    int n = snprintf(text, sizeof(text), "%zu", f->body.len);
    return http1_message_add_header(m, &f->header_capacity, "Content-Length",
                                    14, text, (size_t)n);
}

/* Method and body. curl only sends a body with POSTFIELDS, which also
 * makes the request a POST, so any other method is set explicitly. */
static CURLcode
set_method_and_body(CURL *curl, const gwf_http_message *req, bool *head)
{
    const char *method = req->method;
    *head = strcmp(method, "HEAD") == 0;
    if (*head)
        return curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);

    bool with_body = req->body_len > 0 || strcmp(method, "POST") == 0 ||
                     strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0;
    CURLcode rc = CURLE_OK;
    if (with_body) {
        rc = curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                              (curl_off_t)req->body_len);
        if (rc == CURLE_OK)
            rc = curl_easy_setopt(curl, CURLOPT_POSTFIELDS,
                                  req->body_len > 0 ? req->body : "");
    }
    bool curl_default =
        with_body ? strcmp(method, "POST") == 0 : strcmp(method, "GET") == 0;
    if (rc == CURLE_OK && !curl_default)
        rc = curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    return rc;
}

static CURLcode
set_options(CURL *curl, struct fetch *f, const gwf_http_message *req,
            const char *full_url, struct curl_slist *headers, long timeout_ms,
            char *curl_error, bool *head)
{
    CURLcode rc = CURLE_OK;
#define SET(option, value)                                                     \
    do {                                                                       \
        if (rc == CURLE_OK)                                                    \
            rc = curl_easy_setopt(curl, option, value);                        \
    } while (0)
    SET(CURLOPT_URL, full_url);
    SET(CURLOPT_ERRORBUFFER, curl_error);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_PROXY, ""); /* the upstream is explicit: ignore http_proxy */
    SET(CURLOPT_PATH_AS_IS, 1L);
    SET(CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
#else
    SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    SET(CURLOPT_HTTP_VERSION, req->minor_version == 0
                                  ? (long)CURL_HTTP_VERSION_1_0
                                  : (long)CURL_HTTP_VERSION_1_1);
    if (timeout_ms > 0)
        SET(CURLOPT_TIMEOUT_MS, timeout_ms);
    SET(CURLOPT_HTTPHEADER, headers);
    SET(CURLOPT_HEADERFUNCTION, fetch_on_header);
    SET(CURLOPT_HEADERDATA, f);
    SET(CURLOPT_WRITEFUNCTION, fetch_on_body);
    SET(CURLOPT_WRITEDATA, f);
#undef SET
    if (rc == CURLE_OK)
        rc = set_method_and_body(curl, req, head);
    return rc;
}

int
gwf_http_fetch(const char *url, const gwf_http_message *req,
               gwf_http_message *resp, long timeout_ms, char *err,
               size_t errcap)
{
    memset(resp, 0, sizeof(*resp));
    if (err && errcap > 0)
        err[0] = '\0';
    struct fetch f = {
        .url = url ? url : "(null)",
        .err = err,
        .errcap = errcap,
        .resp = resp,
    };
    if (!url || !req || !req->method ||
        !http1_is_token(req->method, strlen(req->method)))
        return fetch_fail(&f, "no URL, request or valid method");

    pthread_once(&curl_once, curl_init_once);
    if (curl_init_result != CURLE_OK)
        return fetch_fail(&f, "libcurl init failed: %s",
                          curl_easy_strerror(curl_init_result));

    int result = -1;
    CURL *curl = NULL;
    struct curl_slist *headers = NULL;
    char curl_error[CURL_ERROR_SIZE] = "";
    bool head = false;
    CURLcode rc;
    char *full_url = build_fetch_url(&f, req->target);
    if (!full_url)
        goto done;
    if (build_request_headers(&f, req, &headers) != 0)
        goto done;
    curl = curl_easy_init();
    if (!curl) {
        fetch_fail(&f, "curl_easy_init failed");
        goto done;
    }

    rc = set_options(curl, &f, req, full_url, headers, timeout_ms, curl_error,
                     &head);
    if (rc != CURLE_OK) {
        fetch_fail(&f, "%s", curl_easy_strerror(rc));
        goto done;
    }
    rc = curl_easy_perform(curl);
    if (rc != CURLE_OK) {
        /* curl's own summary first, so messages start the same way;
         * its detail only when it adds something (a TLS reason, how long
         * the timeout was), not when it merely repeats the summary. */
        const char *summary = curl_easy_strerror(rc);
        if (f.failure[0])
            fetch_fail(&f, "%s", f.failure);
        else if (curl_error[0] && !strstr(curl_error, summary))
            fetch_fail(&f, "%s (%s)", summary, curl_error);
        else
            fetch_fail(&f, "%s", summary);
        goto done;
    }
    if (fetch_finish_headers(&f, head) != 0) {
        fetch_fail(&f, "out of memory");
        goto done;
    }
    if (!resp->reason && !(resp->reason = http1_dup_bytes("", 0))) {
        fetch_fail(&f, "out of memory");
        goto done;
    }
    resp->body = f.body.data ? f.body.data : http1_dup_bytes("", 0);
    if (!resp->body) {
        fetch_fail(&f, "out of memory");
        goto done;
    }
    if (f.body.data)
        resp->body[f.body.len] = '\0';
    resp->body_len = f.body.len;
    f.body.data = NULL;
    result = 0;

done:
    if (result != 0)
        gwf_http_message_free(resp);
    free(f.body.data);
    curl_easy_cleanup(curl);
    curl_slist_free_all(headers);
    free(full_url);
    return result;
}
