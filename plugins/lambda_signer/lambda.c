/*
 * lambda.c - the Lambda side: Envoy's JSON payload both ways.
 *
 * With payloadTransformMode Envoy (the default), the function receives
 * the HTTP request as one JSON object, in the shape Envoy's aws_lambda
 * filter uses:
 *
 *   {"raw_path": "/p?q=1", "method": "GET",
 *    "headers": {"name": "value", ...},        (repeated: joined by ',')
 *    "query_string_parameters": {"q": "1"},    (percent-decoded; last wins)
 *    "body": "...", "is_base64_encoded": false}
 *
 * The body travels as text when the content type is text-like (text/anything,
 * JSON, XML, JavaScript, form data) and is valid UTF-8; otherwise in
 * base64 with is_base64_encoded true. The function answers
 *
 *   {"status_code": 200, "headers": {...}, "cookies": ["a=b", ...],
 *    "body": "...", "is_base64_encoded": false}
 *
 * every field optional (status 200, no headers, empty body), and that
 * becomes the response, without the answer's hop-by-hop and framing
 * headers (the host frames the body it sends). Anything else - a value
 * with a control byte, too many or too large headers, bad base64 - is an
 * invalid reply: the caller answers 502 rather than pass a garbled
 * response through. The reverse holds on the way in: what the client
 * sent that cannot become a payload is the client's fault (400), not
 * the function's.
 */
#include "lambda_signer.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int
prefix_ieq(gwf_view v, size_t at, const char *s)
{
    size_t n = strlen(s);
    if (v.len < at + n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (tolower((unsigned char)v.ptr[at + i]) != s[i])
            return 0;
    return 1;
}

int
ls_content_type_is_text(gwf_view ct)
{
    /* The media type alone, without parameters. */
    size_t end = 0;
    while (end < ct.len && ct.ptr[end] != ';' && ct.ptr[end] != ' ')
        end++;
    gwf_view mt = {ct.ptr, end};
    if (prefix_ieq(mt, 0, "text/"))
        return 1;
    static const char *const exact[] = {
        "application/json", "application/xml", "application/javascript",
        "application/x-www-form-urlencoded", "application/graphql"};
    for (size_t i = 0; i < sizeof exact / sizeof *exact; i++)
        if (mt.len == strlen(exact[i]) && prefix_ieq(mt, 0, exact[i]))
            return 1;
    /* application/problem+json, application/atom+xml, ... */
    if (mt.len > 5 && (prefix_ieq(mt, mt.len - 5, "+json")))
        return 1;
    if (mt.len > 4 && prefix_ieq(mt, mt.len - 4, "+xml"))
        return 1;
    return 0;
}

/* A JSON string from bytes: as is when valid UTF-8, else each byte as
 * a Latin-1 character (what an HTTP/1.1 obs-text byte means). */
static json_t *
json_text(const char *p, size_t len)
{
    json_t *s = json_stringn(p, len);
    if (s)
        return s;
    char *u = malloc(len * 2 + 1);
    if (!u)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c < 0x80) {
            u[o++] = (char)c;
        } else {
            u[o++] = (char)(0xc0 | c >> 6);
            u[o++] = (char)(0x80 | (c & 0x3f));
        }
    }
    s = json_stringn(u, o);
    free(u);
    return s;
}

static int
hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Percent-decode into a malloc'd buffer. */
static char *
pct_decode(const char *s, size_t len, size_t *out_len)
{
    char *d = malloc(len + 1);
    if (!d)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < len && (hi = hex_digit(s[i + 1])) >= 0 &&
            (lo = hex_digit(s[i + 2])) >= 0) {
            d[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            d[o++] = s[i];
        }
    }
    d[o] = '\0';
    *out_len = o;
    return d;
}

static int
add_query(json_t *params, const char *q, size_t len)
{
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && q[j] != '&')
            j++;
        if (j > i) {
            const char *eq = memchr(q + i, '=', j - i);
            size_t klen = eq ? (size_t)(eq - (q + i)) : j - i;
            size_t kd_len, vd_len = 0;
            char *k = pct_decode(q + i, klen, &kd_len);
            char *v =
                eq ? pct_decode(eq + 1, j - i - klen - 1, &vd_len) : strdup("");
            json_t *jv = v ? json_text(v, vd_len) : NULL;
            json_t *jk = k ? json_text(k, kd_len) : NULL;
            int rc = jk && jv
                         ? json_object_set(params, json_string_value(jk), jv)
                         : -1;
            json_decref(jv);
            json_decref(jk);
            free(k);
            free(v);
            if (rc != 0)
                return -1;
        }
        i = j + 1;
    }
    return 0;
}

static char *
base64_encode(const char *p, size_t len)
{
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    if (!out)
        return NULL;
    EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)p, (int)len);
    return out;
}

/* The request's headers as the payload's "headers" object: names in
 * lower case, a repeated header joined with ','. A name that is not a
 * token cannot have come from a valid request: LS_PAYLOAD_BAD_REQUEST. */
static int
add_headers(gwf_stream *s, json_t *headers, const char **why)
{
    const gwf_host *h = s->host;
    size_t n = h->header_count(s, GWF_REQUEST);
    gwf_strbuf lower = {0};
    int rc = LS_PAYLOAD_NO_MEMORY;
    for (size_t i = 0; i < n; i++) {
        gwf_view name, value;
        gwf_status st = h->header_at(s, GWF_REQUEST, i, &name, &value);
        if (st == GWF_ERR_NOT_FOUND)
            break;
        /* A header the host could not read is not left out: the
         * function would judge another request than the client sent. */
        if (st != GWF_OK) {
            *why = "a request header could not be read";
            goto fail;
        }
        if (!gwf_is_header_name(name.ptr, name.len)) {
            *why = "a request header name is not an HTTP token";
            rc = LS_PAYLOAD_BAD_REQUEST;
            goto fail;
        }
        lower.len = 0;
        for (size_t k = 0; k < name.len; k++) {
            char c = (char)tolower((unsigned char)name.ptr[k]);
            gwf_strbuf_append(&lower, &c, 1);
        }
        if (lower.failed)
            goto fail;
        json_t *old = json_object_get(headers, lower.data);
        json_t *v;
        if (old) {
            gwf_strbuf joined = {0};
            gwf_strbuf_append(&joined, json_string_value(old),
                              json_string_length(old));
            gwf_strbuf_append(&joined, ",", 1);
            json_t *add = json_text(value.ptr, value.len);
            if (add)
                gwf_strbuf_append(&joined, json_string_value(add),
                                  json_string_length(add));
            v = add && !joined.failed ? json_stringn(joined.data, joined.len)
                                      : NULL;
            json_decref(add);
            gwf_strbuf_free(&joined);
        } else {
            v = json_text(value.ptr, value.len);
        }
        if (!v || json_object_set_new(headers, lower.data, v) != 0)
            goto fail;
    }
    rc = 0;
fail:
    gwf_strbuf_free(&lower);
    return rc;
}

int
ls_envoy_request(gwf_stream *s, gwf_view body, char **payload, size_t *len,
                 const char **why)
{
    const gwf_host *h = s->host;
    gwf_view method = {0}, path = {0}, ct = {0};
    const gwf_status read[] = {
        h->header_get(s, GWF_REQUEST, ":method", 7, 0, &method),
        h->header_get(s, GWF_REQUEST, ":path", 5, 0, &path),
        h->header_get(s, GWF_REQUEST, "content-type", 12, 0, &ct)};

    *payload = NULL;
    *why = "out of memory";
    /* One the host could not read (out of memory) is not absent: the
     * function would judge another request than the client sent. */
    for (size_t i = 0; i < sizeof read / sizeof read[0]; i++)
        if (read[i] != GWF_OK && read[i] != GWF_ERR_NOT_FOUND)
            return LS_PAYLOAD_NO_MEMORY;
    int rc = LS_PAYLOAD_NO_MEMORY;
    json_t *root = json_object();
    json_t *headers = json_object();
    json_t *params = json_object();
    if (!root || !headers || !params)
        goto done;
    if ((rc = add_headers(s, headers, why)) != 0)
        goto done;
    rc = LS_PAYLOAD_NO_MEMORY;
    const char *q = path.len ? memchr(path.ptr, '?', path.len) : NULL;
    if (q && add_query(params, q + 1, path.len - (size_t)(q + 1 - path.ptr)))
        goto done;

    json_t *body_json = NULL;
    int b64 = 1;
    if (ls_content_type_is_text(ct)) {
        body_json = json_stringn(body.ptr ? body.ptr : "", body.len);
        b64 = body_json == NULL; /* not UTF-8: fall back to base64 */
    }
    if (b64) {
        char *enc = base64_encode(body.ptr ? body.ptr : "", body.len);
        body_json = enc ? json_string(enc) : NULL;
        free(enc);
    }
    if (!body_json)
        goto done;
    json_t *raw_path = json_text(path.ptr ? path.ptr : "", path.len);
    json_t *m = json_text(method.ptr ? method.ptr : "", method.len);
    json_object_set_new(root, "raw_path", raw_path);
    json_object_set_new(root, "method", m);
    json_object_set(root, "headers", headers);
    json_object_set(root, "query_string_parameters", params);
    json_object_set_new(root, "body", body_json);
    json_object_set_new(root, "is_base64_encoded", json_boolean(b64));
    if (!raw_path || !m)
        goto done;
    *payload = json_dumps(root, JSON_COMPACT);
    if (*payload) {
        *len = strlen(*payload);
        rc = 0;
    }
done:
    json_decref(headers);
    json_decref(params);
    json_decref(root);
    return rc;
}

/* Lambda API headers that say nothing about the function's answer. */
static const char *const api_headers[] = {
    "content-type",     "x-amz-executed-version",
    "x-amzn-requestid", "x-amzn-trace-id",
    "x-amz-log-result", "x-amzn-remapped-content-length",
};

/* Headers of the function's answer that are never passed on. The
 * hop-by-hop ones (RFC 9110 7.6.1, and those its Connection names)
 * describe a connection the function never had, and would sit next to
 * the data plane's own (two Connection headers, an Upgrade nobody
 * does); Content-Length is the host's, set from the body it sends (a
 * function's "content-length: 999" over a body of another size would
 * desynchronise the client's connection). `connection` is the answer's
 * Connection value, or NULL. */
static int
is_dropped(const char *name, const char *connection)
{
    size_t len = strlen(name);
    return gwf_is_hop_by_hop_header(name, len) ||
           strcasecmp(name, "content-length") == 0 ||
           (connection && gwf_header_list_contains(
                              connection, strlen(connection), name, len));
}

/* status_code: absent or null is 200; otherwise an integer 200-599 (no
 * 1xx: the host sends the one final response the function gives). */
static int
reply_status(json_t *root, int *code, const char **why)
{
    json_t *status = json_object_get(root, "status_code");
    *code = 200;
    if (!status || json_is_null(status))
        return 0;
    if (!json_is_integer(status) || json_integer_value(status) < 200 ||
        json_integer_value(status) > 599) {
        *why = "the function's status_code is not an integer 200-599";
        return -1;
    }
    *code = (int)json_integer_value(status);
    return 0;
}

/* headers (an object of strings) and cookies (a list of strings): valid
 * names and values, and within LS_MAX_REPLY_HEADERS lines and
 * LS_MAX_REPLY_HEADER_BYTES bytes, a bound nginx's own proxy buffers
 * would put on an upstream's headers. */
static int
reply_headers_valid(json_t *headers, json_t *cookies, const char **why)
{
    if (headers && !json_is_null(headers) && !json_is_object(headers)) {
        *why = "the function's headers is not an object";
        return -1;
    }
    if (cookies && !json_is_null(cookies) && !json_is_array(cookies)) {
        *why = "the function's cookies is not a list";
        return -1;
    }
    size_t lines = 0, bytes = 0;
    const char *name;
    json_t *v;
    json_object_foreach(headers, name, v)
    {
        if (!json_is_string(v) || !gwf_is_header_name(name, strlen(name)) ||
            !gwf_is_header_value(json_string_value(v), json_string_length(v))) {
            *why = "the function's headers hold an invalid header";
            return -1;
        }
        lines++;
        bytes += strlen(name) + json_string_length(v);
    }
    size_t i;
    json_array_foreach(cookies, i, v)
    {
        if (!json_is_string(v) ||
            !gwf_is_header_value(json_string_value(v), json_string_length(v))) {
            *why = "the function's cookies hold an invalid value";
            return -1;
        }
        lines++;
        bytes += 10 + json_string_length(v);
    }
    if (lines > LS_MAX_REPLY_HEADERS || bytes > LS_MAX_REPLY_HEADER_BYTES) {
        *why = "the function's headers are too large";
        return -1;
    }
    return 0;
}

/* body and is_base64_encoded: `*out` the bytes to send, `*decoded` the
 * buffer to free after (NULL when the body is used as it is). */
static int
reply_body(json_t *root, gwf_view *out, char **decoded, const char **why)
{
    json_t *jbody = json_object_get(root, "body");
    if (jbody && !json_is_null(jbody) && !json_is_string(jbody)) {
        *why = "the function's body is not a string";
        return -1;
    }
    json_t *b64 = json_object_get(root, "is_base64_encoded");
    if (b64 && !json_is_null(b64) && !json_is_boolean(b64)) {
        *why = "the function's is_base64_encoded is not a boolean";
        return -1;
    }
    out->ptr = json_is_string(jbody) ? json_string_value(jbody) : "";
    out->len = json_is_string(jbody) ? json_string_length(jbody) : 0;
    if (json_is_true(b64)) {
        size_t len;
        if (gwf_base64_decode(out->ptr, out->len, decoded, &len) != 0) {
            *why = "the function's body is not valid base64";
            return -1;
        }
        out->ptr = *decoded;
        out->len = len;
    }
    return 0;
}

/* Everything was checked: now change the response. A call the host
 * refuses still fails the reply (502), never leaves it half made. */
static int
apply_reply(gwf_stream *s, int code, json_t *headers, json_t *cookies,
            gwf_view body, const char **why)
{
    const gwf_host *h = s->host;
    char status_text[8];
    snprintf(status_text, sizeof status_text, "%d", code);
    for (size_t k = 0; k < sizeof api_headers / sizeof *api_headers; k++)
        h->header_remove(s, GWF_RESPONSE, api_headers[k],
                         strlen(api_headers[k]));
    if (h->header_set(s, GWF_RESPONSE, ":status", 7, status_text,
                      strlen(status_text)) != GWF_OK) {
        *why = "the host refused the function's status";
        return -1;
    }
    /* JSON keys are case-sensitive: "Connection" is found by a scan. */
    const char *connection = NULL;
    const char *name;
    json_t *v;
    json_object_foreach(headers, name, v)
    {
        if (strcasecmp(name, "connection") == 0)
            connection = json_string_value(v);
    }
    json_object_foreach(headers, name, v)
    {
        if (is_dropped(name, connection))
            continue;
        if (h->header_set(s, GWF_RESPONSE, name, strlen(name),
                          json_string_value(v),
                          json_string_length(v)) != GWF_OK) {
            *why = "the host refused one of the function's headers";
            return -1;
        }
    }
    size_t i;
    json_array_foreach(cookies, i, v)
    {
        if (h->header_add(s, GWF_RESPONSE, "set-cookie", 10,
                          json_string_value(v),
                          json_string_length(v)) != GWF_OK) {
            *why = "the host refused one of the function's cookies";
            return -1;
        }
    }
    if (h->body_set(s, GWF_RESPONSE, body.ptr, body.len) != GWF_OK) {
        *why = "the host refused the function's body";
        return -1;
    }
    return 0;
}

int
ls_envoy_response(gwf_stream *s, gwf_view body, const char **why)
{
    json_error_t jerr;
    json_t *root = json_loadb(body.ptr ? body.ptr : "", body.len, 0, &jerr);
    int rc = -1, code;
    char *decoded = NULL;
    gwf_view out_body;
    if (!json_is_object(root)) {
        *why = "the function's reply is not a JSON object";
        goto done;
    }
    json_t *headers = json_object_get(root, "headers");
    json_t *cookies = json_object_get(root, "cookies");
    if (reply_status(root, &code, why) != 0 ||
        reply_headers_valid(headers, cookies, why) != 0 ||
        reply_body(root, &out_body, &decoded, why) != 0)
        goto done;
    if ((code == 204 || code == 304) && out_body.len) {
        *why = "the function's 204 or 304 reply has a body";
        goto done;
    }
    rc = apply_reply(s, code, headers, cookies, out_body, why);
done:
    free(decoded);
    json_decref(root);
    return rc;
}
